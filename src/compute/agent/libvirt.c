/*
 * agent/libvirt.c - the libvirt/QEMU virt driver (cmp_libvirt_driver), the
 * counterpart of Nova's nova/virt/libvirt/driver.py, through libvirt's C API.
 *
 * One connection ([compute] libvirt_uri, default qemu:///system) serves every
 * thread: libvirt's connections are thread-safe.  Callers take a reference
 * (conn_get) so a reconnect in another thread (the daemon restarted: the
 * connection is no longer alive) never frees a connection in use.
 *
 * Domains are persistent (virDomainDefineXML, then virDomainCreate), named
 * "instance-<uuid>" with the instance id as libvirt UUID, so they survive
 * restarts of kumo and `virsh list --all` shows them.  Each carries
 * <metadata><kumo:instance> with this cloud's tag (8 hex chars of SHA-256 of
 * the absolute instances_path): several clouds (test runs, developers) can
 * share one libvirtd and list_instances() only reports our own.
 *
 * Domain XML is written by a tiny builder over open_memstream() where every
 * value that comes from a user or the database goes through xml_text() /
 * xml_attr(), which escape it; nothing unescaped is concatenated.
 *
 * virt_type: "kvm" only when the CPU has vmx/svm, /dev/kvm opens read-write
 * and libvirt's domain capabilities for kvm answer; otherwise "qemu" (TCG),
 * with no <cpu> element (qemu64), as Nova does for cpu_mode none.
 *
 * Disks come from imagecache.c: a raw _base file per image and a qcow2
 * overlay per instance.  cache='none' when the instances filesystem takes
 * O_DIRECT (checked once at init), else 'writeback'.  The serial console is a
 * file (<uuid>/console.log) opened with append='on', because libvirt
 * truncates it at every domain start otherwise.
 *
 * Resize (same host): power off, copy the overlay to disk.backup, grow the
 * overlay, redefine with the new flavor, start.  Confirm drops the backup;
 * revert destroys the domain, puts the backup back and redefines the domain
 * with the old flavor (s->inst then holds the old flavor's columns).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <openssl/sha.h>

#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"
#include "../compute.h"
#include "virt.h"

#define LOG "compute-libvirt"
#define KUMO_NS "https://kumo.openstack/instance/1"
#define GIB (1024LL * 1024 * 1024)

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static virConnectPtr conn;
static char uri[512];
static char virt_type[8] = "qemu";
static char cloud_tag[9];
#define DIR_MAX (PATH_MAX - 128)   /* room for /<uuid>/<leaf> */
static char instances_dir[DIR_MAX];
static bool direct_io = true;

/* ---- small helpers ---- */

static void connp(virConnectPtr *c)
{
	if (*c)
		virConnectClose(*c);
}
static void domp(virDomainPtr *d)
{
	if (*d)
		virDomainFree(*d);
}
#define _cleanup_conn_ _cleanup_(connp)
#define _cleanup_dom_ _cleanup_(domp)

static void quiet_errors(void *opaque, virErrorPtr e)
{
	(void)opaque;
	(void)e;   /* errors are read with virGetLastErrorMessage() where they matter */
}

static const char *lverr(void)
{
	return virGetLastErrorMessage();
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long jint(const json_t *o, const char *key, long def)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return (long)json_integer_value(v);
	if (json_is_string(v))
		return strtol(json_string_value(v), NULL, 10);
	return def;
}

static bool valid_uuid(const char *uuid)
{
	return uuid && strlen(uuid) == 36 && kutil_is_uuid(uuid);
}

static void inst_path(char *buf, size_t len, const char *uuid, const char *leaf)
{
	if (leaf)
		snprintf(buf, len, "%s/%s/%s", instances_dir, uuid, leaf);
	else
		snprintf(buf, len, "%s/%s", instances_dir, uuid);
}

/* ---- the connection ---- */

/* A referenced, live connection (release with virConnectClose), or NULL. */
static virConnectPtr conn_get(void)
{
	pthread_mutex_lock(&conn_lock);
	if (conn && virConnectIsAlive(conn) != 1) {
		klog_warn(LOG, "connection to %s lost; reconnecting", uri);
		virConnectClose(conn);
		conn = NULL;
	}
	if (!conn) {
		conn = virConnectOpen(uri);
		if (!conn)
			klog_error(LOG, "cannot connect to %s: %s", uri, lverr());
	}
	virConnectPtr c = conn;
	if (c)
		virConnectRef(c);
	pthread_mutex_unlock(&conn_lock);
	return c;
}

/* The domain of an instance, or NULL (absent, or no connection). */
static virDomainPtr dom_get(virConnectPtr c, const char *uuid)
{
	if (!c || !valid_uuid(uuid))
		return NULL;
	return virDomainLookupByUUIDString(c, uuid);
}

static bool dom_missing(void)
{
	virErrorPtr e = virGetLastError();
	return e && e->code == VIR_ERR_NO_DOMAIN;
}

static int state_of(virDomainPtr d)
{
	int state = VIR_DOMAIN_NOSTATE, reason = 0;
	if (virDomainGetState(d, &state, &reason, 0) != 0)
		return -1;
	return state;
}

static int map_power(virDomainPtr d)
{
	int state = state_of(d);
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
		return CMP_POWER_RUNNING;
	case VIR_DOMAIN_PAUSED:
		return CMP_POWER_PAUSED;
	case VIR_DOMAIN_SHUTDOWN:
		return CMP_POWER_SHUTDOWN;
	case VIR_DOMAIN_SHUTOFF:
		return virDomainHasManagedSaveImage(d, 0) == 1 ? CMP_POWER_SUSPENDED
		                                                : CMP_POWER_SHUTDOWN;
	case VIR_DOMAIN_CRASHED:
		return CMP_POWER_CRASHED;
	case VIR_DOMAIN_PMSUSPENDED:
		return CMP_POWER_SUSPENDED;
	case -1:
		return -1;
	default:
		return CMP_POWER_NOSTATE;
	}
}

/* Wait until the domain is no longer active; true when it stopped. */
static bool wait_inactive(virDomainPtr d, long timeout_ms, bool resend_shutdown)
{
	long waited = 0;
	while (virDomainIsActive(d) == 1) {
		if (waited >= timeout_ms)
			return false;
		sleep_ms(250);
		waited += 250;
		if (resend_shutdown && waited % 10000 == 0)
			virDomainShutdown(d);   /* the guest may have missed the first ACPI event */
	}
	return true;
}

/* ---- domain XML ---- */

static void xml_text(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '\'': fputs("&apos;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if (*p >= 0x20 || *p == '\t' || *p == '\n' || *p == '\r')
				fputc(*p, f);   /* other control characters are not XML */
		}
	}
}

static void xml_attr(FILE *f, const char *name, const char *value)
{
	fprintf(f, " %s='", name);
	xml_text(f, value);
	fputc('\'', f);
}

/* <tag>text</tag> on its own line. */
static void xml_elem(FILE *f, const char *indent, const char *tag, const char *text)
{
	fprintf(f, "%s<%s>", indent, tag);
	xml_text(f, text);
	fprintf(f, "</%s>\n", tag);
}

static struct utsname uts;

static void fill_uts(void)
{
	if (uname(&uts) != 0 || !uts.machine[0])
		snprintf(uts.machine, sizeof(uts.machine), "x86_64");
}

static const char *machine_arch(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fill_uts);
	return uts.machine;
}

static char *domain_xml(const cmp_spawn *s)
{
	const json_t *inst = s->inst;
	const char *uuid = kjson_str(inst, "id");
	char dir[PATH_MAX], path[PATH_MAX + 32];
	inst_path(dir, sizeof(dir), uuid, NULL);
	const json_t *flavor = json_object_get(inst, "flavor");
	const json_t *image = json_object_get(inst, "image");
	const char *image_id = kjson_str(image, "id");
	if (!image_id)
		image_id = kjson_str(inst, "image_ref");

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fprintf(f, "<domain type='%s'>\n", virt_type);
	fputs("  <name>instance-", f);
	xml_text(f, uuid);
	fputs("</name>\n", f);
	xml_elem(f, "  ", "uuid", uuid);
	fputs("  <metadata>\n    <kumo:instance xmlns:kumo='" KUMO_NS "'>\n", f);
	xml_elem(f, "      ", "kumo:cloud", cloud_tag);
	xml_elem(f, "      ", "kumo:name", kjson_str(inst, "name"));
	fputs("      <kumo:flavor", f);
	xml_attr(f, "name", kjson_str(flavor, "name") ? kjson_str(flavor, "name")
	                                              : kjson_str(flavor, "original_name"));
	fprintf(f, ">\n        <kumo:memory>%ld</kumo:memory>\n"
	           "        <kumo:disk>%ld</kumo:disk>\n        <kumo:vcpus>%ld</kumo:vcpus>\n"
	           "      </kumo:flavor>\n",
	        jint(inst, "memory_mb", 512), jint(inst, "root_gb", 0), jint(inst, "vcpus", 1));
	fputs("      <kumo:owner>\n        <kumo:user", f);
	xml_attr(f, "uuid", kjson_str(inst, "user_id"));
	fputs("/>\n        <kumo:project", f);
	xml_attr(f, "uuid", kjson_str(inst, "project_id"));
	fputs("/>\n      </kumo:owner>\n", f);
	if (image_id) {
		fputs("      <kumo:root type='image'", f);
		xml_attr(f, "uuid", image_id);
		fputs("/>\n", f);
	}
	fputs("    </kumo:instance>\n  </metadata>\n", f);
	fprintf(f, "  <memory unit='MiB'>%ld</memory>\n  <vcpu>%ld</vcpu>\n",
	        jint(inst, "memory_mb", 512), jint(inst, "vcpus", 1));
	fputs("  <sysinfo type='smbios'>\n    <system>\n"
	      "      <entry name='manufacturer'>OpenStack Foundation</entry>\n"
	      "      <entry name='product'>OpenStack Nova</entry>\n"
	      "      <entry name='version'>" "kumo" "</entry>\n", f);
	fputs("      <entry name='serial'>", f);
	xml_text(f, uuid);
	fputs("</entry>\n      <entry name='uuid'>", f);
	xml_text(f, uuid);
	fputs("</entry>\n      <entry name='family'>Virtual Machine</entry>\n"
	      "    </system>\n  </sysinfo>\n", f);
	fputs("  <os>\n    <type", f);
	xml_attr(f, "arch", machine_arch());
	fputs(" machine='pc'>hvm</type>\n    <boot dev='hd'/>\n    <smbios mode='sysinfo'/>\n"
	      "  </os>\n  <features>\n    <acpi/>\n    <apic/>\n  </features>\n", f);
	if (strcmp(virt_type, "kvm") == 0)
		fputs("  <cpu mode='host-model' check='partial'/>\n", f);
	fputs("  <clock offset='utc'>\n    <timer name='pit' tickpolicy='delay'/>\n"
	      "    <timer name='rtc' tickpolicy='catchup'/>\n"
	      "    <timer name='hpet' present='no'/>\n  </clock>\n"
	      "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n"
	      "  <on_crash>destroy</on_crash>\n  <devices>\n", f);

	const char *cache = direct_io ? "none" : "writeback";
	fprintf(f, "    <disk type='file' device='disk'>\n"
	           "      <driver name='qemu' type='qcow2' cache='%s'/>\n      <source", cache);
	snprintf(path, sizeof(path), "%s/disk", dir);
	xml_attr(f, "file", path);
	fputs("/>\n      <target dev='vda' bus='virtio'/>\n    </disk>\n", f);
	if (s->config_drive_path && *s->config_drive_path) {
		fprintf(f, "    <disk type='file' device='cdrom'>\n"
		           "      <driver name='qemu' type='raw' cache='%s'/>\n"
		           "      <source", cache);
		xml_attr(f, "file", s->config_drive_path);
		fputs("/>\n      <target dev='hda' bus='ide'/>\n      <readonly/>\n"
		      "    </disk>\n", f);
	}

	size_t i;
	json_t *vif;
	json_array_foreach(s->vifs, i, vif) {
		fputs("    <interface type='bridge'>\n      <mac", f);
		xml_attr(f, "address", kjson_str(vif, "mac"));
		fputs("/>\n      <source", f);
		xml_attr(f, "bridge", kjson_str(vif, "bridge"));
		fputs("/>\n", f);
		if (kjson_str(vif, "tap")) {
			fputs("      <target", f);
			xml_attr(f, "dev", kjson_str(vif, "tap"));
			fputs("/>\n", f);
		}
		fputs("      <model type='virtio'/>\n", f);
		long mtu = jint(vif, "mtu", 0);
		if (mtu > 0)
			fprintf(f, "      <mtu size='%ld'/>\n", mtu);
		fputs("    </interface>\n", f);
	}

	fputs("    <serial type='file'>\n      <source", f);
	snprintf(path, sizeof(path), "%s/console.log", dir);
	xml_attr(f, "path", path);
	fputs(" append='on'/>\n      <target port='0'/>\n    </serial>\n", f);
	fputs("    <input type='tablet' bus='usb'/>\n"
	      "    <graphics type='vnc' autoport='yes' listen='127.0.0.1'>\n"
	      "      <listen type='address' address='127.0.0.1'/>\n    </graphics>\n"
	      "    <video>\n      <model type='vga'/>\n    </video>\n"
	      "    <memballoon model='virtio'>\n      <stats period='10'/>\n    </memballoon>\n"
	      "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n"
	      "    </rng>\n  </devices>\n</domain>\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Define (or redefine) the instance's domain from s and start it. */
static int define_and_start(virConnectPtr c, const cmp_spawn *s, char *err, size_t errlen)
{
	_cleanup_free_ char *xml = domain_xml(s);
	if (!xml) {
		snprintf(err, errlen, "cannot build the domain XML");
		return -1;
	}
	_cleanup_dom_ virDomainPtr d = virDomainDefineXML(c, xml);
	if (!d) {
		snprintf(err, errlen, "libvirt: %s", lverr());
		klog_error(LOG, "define instance-%s: %s", kjson_str(s->inst, "id"), err);
		return -1;
	}
	if (virDomainIsActive(d) == 1)
		return 0;
	if (virDomainCreate(d) != 0) {
		snprintf(err, errlen, "libvirt: %s", lverr());
		klog_error(LOG, "start instance-%s: %s", kjson_str(s->inst, "id"), err);
		return -1;
	}
	return 0;
}

/* ---- init / host info ---- */

static bool cpu_has_virt(void)
{
	_cleanup_free_ char *info = kutil_read_file("/proc/cpuinfo", NULL);
	if (!info)
		return false;
	for (char *p = info; (p = strstr(p, "flags")) != NULL; p++) {
		char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		_cleanup_free_ char *line = strndup(p, n);
		for (char *save = NULL, *t = strtok_r(line, " \t:", &save); t;
		     t = strtok_r(NULL, " \t:", &save))
			if (strcmp(t, "vmx") == 0 || strcmp(t, "svm") == 0)
				return true;
	}
	return false;
}

static void detect_virt_type(virConnectPtr c)
{
	const char *want = cmp_conf_str("virt_type", "auto");
	if (strcmp(want, "kvm") == 0 || strcmp(want, "qemu") == 0) {
		snprintf(virt_type, sizeof(virt_type), "%s", want);
		klog_info(LOG, "virt_type = %s (configured)", virt_type);
		return;
	}
	const char *why = NULL;
	if (!cpu_has_virt()) {
		why = "the CPU has no vmx/svm flag";
	} else {
		int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			why = "/dev/kvm does not open read-write";
		} else {
			close(fd);
			char *caps = virConnectGetDomainCapabilities(c, NULL, NULL, NULL, "kvm", 0);
			if (!caps)
				why = "libvirt has no kvm domain capabilities";
			free(caps);
		}
	}
	snprintf(virt_type, sizeof(virt_type), "%s", why ? "qemu" : "kvm");
	if (why)
		klog_info(LOG, "virt_type = qemu (TCG, no hardware acceleration: %s)", why);
	else
		klog_info(LOG, "virt_type = kvm (hardware acceleration)");
}

/* Does the instances filesystem take O_DIRECT (cache='none')? */
static bool check_direct_io(const char *dir)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/.directio.test", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
	if (fd < 0)
		return false;
	void *blk = NULL;
	bool ok = posix_memalign(&blk, 4096, 4096) == 0;
	if (ok) {
		memset(blk, 0, 4096);
		ok = write(fd, blk, 4096) == 4096;
	}
	free(blk);
	close(fd);
	unlink(path);
	return ok;
}

static int lv_init(void)
{
	char err[512];
	virSetErrorFunc(NULL, quiet_errors);
	snprintf(uri, sizeof(uri), "%s", cmp_conf_str("libvirt_uri", "qemu:///system"));

	char def[PATH_MAX];
	snprintf(def, sizeof(def), "%s/instances", kumo_state_dir());
	const char *ipath = cmp_conf_str("instances_path", def);
	if (!*ipath)
		ipath = def;
	if (cmp_imagecache_init(ipath, err, sizeof(err)) != 0) {
		klog_error(LOG, "%s", err);
		return -1;
	}
	char real[PATH_MAX];
	if (!realpath(ipath, real) || strlen(real) >= sizeof(instances_dir)) {
		klog_error(LOG, "%s: %s", ipath, strerror(errno));
		return -1;
	}
	memcpy(instances_dir, real, strlen(real) + 1);
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)instances_dir, strlen(instances_dir), md);
	_cleanup_free_ char *hex = kutil_hex(md, sizeof(md));
	snprintf(cloud_tag, sizeof(cloud_tag), "%.8s", hex ? hex : "00000000");
	direct_io = check_direct_io(instances_dir);

	_cleanup_conn_ virConnectPtr c = conn_get();
	if (!c)
		return -1;
	detect_virt_type(c);
	unsigned long ver = 0;
	virConnectGetVersion(c, &ver);
	klog_info(LOG, "connected to %s (QEMU %lu.%lu.%lu), instances in %s (cloud tag %s, "
	          "disk cache %s)", uri, ver / 1000000, ver / 1000 % 1000, ver % 1000,
	          instances_dir, cloud_tag, direct_io ? "none" : "writeback");
	return 0;
}

static void lv_fini(void)
{
	pthread_mutex_lock(&conn_lock);
	if (conn)
		virConnectClose(conn);
	conn = NULL;
	pthread_mutex_unlock(&conn_lock);
}

/* Text of the first <tag>...</tag> in xml after from (malloc'd) or NULL. */
static char *xml_find(const char *xml, const char *tag)
{
	if (!xml)
		return NULL;
	char open[64], close[64];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	const char *a = strstr(xml, open);
	if (!a)
		return NULL;
	a += strlen(open);
	const char *b = strstr(a, close);
	return b ? strndup(a, (size_t)(b - a)) : NULL;
}

static json_t *lv_host_info(void)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	if (!c)
		return NULL;
	virNodeInfo ni;
	if (virNodeGetInfo(c, &ni) != 0) {
		klog_error(LOG, "virNodeGetInfo: %s", lverr());
		return NULL;
	}
	unsigned long ver = 0;
	virConnectGetVersion(c, &ver);
	struct statvfs sv;
	long long local_gb = 0;
	if (statvfs(instances_dir, &sv) == 0)
		local_gb = (long long)((unsigned long long)sv.f_blocks * sv.f_frsize / GIB);

	_cleanup_free_ char *caps = virConnectGetCapabilities(c);
	const char *host = caps ? strstr(caps, "<host>") : NULL;
	const char *cpu = host ? strstr(host, "<cpu>") : NULL;
	_cleanup_free_ char *arch = xml_find(cpu, "arch");
	_cleanup_free_ char *model = xml_find(cpu, "model");
	_cleanup_free_ char *vendor = xml_find(cpu, "vendor");
	_cleanup_json_ json_t *ci = json_pack(
		"{s:s, s:s, s:s, s:{s:i, s:i, s:i}, s:[]}", "arch", arch ? arch : machine_arch(),
		"model", model ? model : "", "vendor", vendor ? vendor : "", "topology",
		"sockets", (int)ni.sockets, "cores", (int)ni.cores, "threads", (int)ni.threads,
		"features");
	_cleanup_free_ char *ci_text = ci ? json_dumps(ci, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	return json_pack("{s:i, s:I, s:I, s:s, s:I, s:s, s:s}", "vcpus", (int)ni.cpus,
	                 "memory_mb", (json_int_t)(ni.memory / 1024), "local_gb",
	                 (json_int_t)local_gb, "hypervisor_type", "QEMU", "hypervisor_version",
	                 (json_int_t)ver, "hypervisor_hostname", cmp_host(), "cpu_info",
	                 ci_text ? ci_text : "{}");
}

/* ---- instances ---- */

static bool is_ours(virDomainPtr d)
{
	const char *name = virDomainGetName(d);
	if (!name || strncmp(name, "instance-", 9) != 0)
		return false;
	_cleanup_free_ char *md = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT, KUMO_NS, 0);
	if (!md)
		return false;
	char want[32];
	snprintf(want, sizeof(want), "cloud>%s</", cloud_tag);
	return strstr(md, want) != NULL;
}

static json_t *lv_list_instances(void)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	if (!c)
		return NULL;
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(c, &doms, 0);
	if (n < 0) {
		klog_error(LOG, "list domains: %s", lverr());
		return NULL;
	}
	json_t *out = json_object();
	for (int i = 0; i < n; i++) {
		char uuid[VIR_UUID_STRING_BUFLEN];
		if (is_ours(doms[i]) && virDomainGetUUIDString(doms[i], uuid) == 0) {
			int ps = map_power(doms[i]);
			if (ps >= 0)
				json_object_set_new(out, uuid, json_integer(ps));
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	return out;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
	if (rc != 0 && errno != ENOENT)
		klog_warn(LOG, "remove %s: %s", path, strerror(errno));
	return 0;
}

static void remove_instance_dir(const char *uuid)
{
	char dir[PATH_MAX];
	inst_path(dir, sizeof(dir), uuid, NULL);
	if (access(dir, F_OK) == 0)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int lv_destroy(const char *uuid, bool keep_disks)
{
	if (!valid_uuid(uuid))
		return -1;
	_cleanup_conn_ virConnectPtr c = conn_get();
	if (!c)
		return -1;
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d && !dom_missing()) {
		klog_error(LOG, "lookup instance-%s: %s", uuid, lverr());
		return -1;
	}
	if (d) {
		if (virDomainIsActive(d) == 1 && virDomainDestroy(d) != 0 &&
		    virDomainIsActive(d) == 1) {
			klog_error(LOG, "destroy instance-%s: %s", uuid, lverr());
			return -1;
		}
		unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
		                 VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
		                 VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA |
		                 VIR_DOMAIN_UNDEFINE_NVRAM;
		if (virDomainUndefineFlags(d, flags) != 0 && !dom_missing()) {
			klog_error(LOG, "undefine instance-%s: %s", uuid, lverr());
			return -1;
		}
		klog_info(LOG, "instance-%s destroyed and undefined", uuid);
	}
	if (!keep_disks)
		remove_instance_dir(uuid);
	return 0;
}

static int lv_spawn(const cmp_spawn *s, char *err, size_t errlen)
{
	const char *uuid = kjson_str(s->inst, "id");
	if (!valid_uuid(uuid)) {
		snprintf(err, errlen, "invalid instance id");
		return -1;
	}
	_cleanup_conn_ virConnectPtr c = conn_get();
	if (!c) {
		snprintf(err, errlen, "cannot connect to libvirt (%s): %s", uri, lverr());
		return -1;
	}
	{
		/* never replace the disk under a running guest */
		_cleanup_dom_ virDomainPtr old = dom_get(c, uuid);
		if (old && virDomainIsActive(old) == 1) {
			snprintf(err, errlen, "instance-%s is already running", uuid);
			return -1;
		}
		if (old && virDomainHasManagedSaveImage(old, 0) == 1)
			virDomainManagedSaveRemove(old, 0);
	}
	char dir[PATH_MAX], disk[PATH_MAX], base[PATH_MAX];
	inst_path(dir, sizeof(dir), uuid, NULL);
	inst_path(disk, sizeof(disk), uuid, "disk");
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}

	const json_t *image = json_object_get(s->inst, "image");
	_cleanup_json_ json_t *img = NULL;
	if (!kjson_str(image, "id")) {
		const char *ref = kjson_str(s->inst, "image_ref");
		if (!ref || !*ref) {
			snprintf(err, errlen, "booting without an image is not supported");
			return -1;
		}
		img = json_pack("{s:s}", "id", ref);
		image = img;
	}
	int64_t t0 = kutil_now_us();
	if (cmp_imagecache_fetch(image, base, sizeof(base), err, errlen) != 0)
		return -1;
	if (cmp_imagecache_create_disk(base, disk, jint(s->inst, "root_gb", 0), err, errlen) != 0)
		return -1;
	if (define_and_start(c, s, err, errlen) != 0) {
		_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
		if (d && virDomainIsActive(d) != 1)
			virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
			                          VIR_DOMAIN_UNDEFINE_NVRAM);
		return -1;
	}
	klog_info(LOG, "instance-%s started (%s, %ld MiB, %ld vCPU, %zu NIC) in %.1f s", uuid,
	          virt_type, jint(s->inst, "memory_mb", 0), jint(s->inst, "vcpus", 0),
	          json_array_size(s->vifs), (double)(kutil_now_us() - t0) / 1e6);
	return 0;
}

static int lv_power_off(const char *uuid, int timeout_s)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d)
		return -1;
	if (virDomainIsActive(d) != 1)
		return 0;
	if (timeout_s > 0 && state_of(d) == VIR_DOMAIN_RUNNING && virDomainShutdown(d) == 0 &&
	    wait_inactive(d, timeout_s * 1000L, true))
		return 0;
	if (virDomainDestroy(d) != 0 && virDomainIsActive(d) == 1) {
		klog_error(LOG, "destroy instance-%s: %s", uuid, lverr());
		return -1;
	}
	if (timeout_s > 0)
		klog_info(LOG, "instance-%s did not shut down within %d s; destroyed", uuid,
		          timeout_s);
	return 0;
}

static int lv_power_on(const char *uuid)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d)
		return -1;
	if (virDomainIsActive(d) == 1)
		return state_of(d) == VIR_DOMAIN_PAUSED && virDomainResume(d) != 0 ? -1 : 0;
	if (virDomainCreate(d) != 0) {
		klog_error(LOG, "start instance-%s: %s", uuid, lverr());
		return -1;
	}
	return 0;
}

static int hard_reboot(virDomainPtr d, const char *uuid)
{
	if (virDomainHasManagedSaveImage(d, 0) == 1)
		virDomainManagedSaveRemove(d, 0);
	if (virDomainIsActive(d) == 1 && virDomainDestroy(d) != 0 && virDomainIsActive(d) == 1) {
		klog_error(LOG, "destroy instance-%s: %s", uuid, lverr());
		return -1;
	}
	if (virDomainCreate(d) != 0) {
		klog_error(LOG, "start instance-%s: %s", uuid, lverr());
		return -1;
	}
	return 0;
}

/* Soft reboot as Nova does it: ACPI shutdown, wait, start again; a guest that
 * does not shut down in time (or is not running) gets a hard reboot. */
static int lv_reboot(const char *uuid, bool hard)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d)
		return -1;
	if (!hard && state_of(d) == VIR_DOMAIN_RUNNING) {
		long timeout = cmp_conf_int("shutdown_timeout", 60);
		if (timeout > 120)
			timeout = 120;
		if (virDomainShutdown(d) == 0 && wait_inactive(d, timeout * 1000, true)) {
			if (virDomainCreate(d) == 0)
				return 0;
			klog_warn(LOG, "start instance-%s after soft reboot: %s", uuid, lverr());
		} else {
			klog_info(LOG, "instance-%s did not shut down for a soft reboot; "
			          "rebooting hard", uuid);
		}
	}
	return hard_reboot(d, uuid);
}

static int lv_pause(const char *uuid)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d || virDomainSuspend(d) != 0) {
		klog_error(LOG, "pause instance-%s: %s", uuid, lverr());
		return -1;
	}
	return 0;
}

static int lv_unpause(const char *uuid)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d || virDomainResume(d) != 0) {
		klog_error(LOG, "unpause instance-%s: %s", uuid, lverr());
		return -1;
	}
	return 0;
}

static int lv_suspend(const char *uuid)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d || virDomainManagedSave(d, 0) != 0) {
		klog_error(LOG, "suspend instance-%s: %s", uuid, lverr());
		return -1;
	}
	return 0;
}

static int lv_resume(const char *uuid)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d)
		return -1;
	if (virDomainIsActive(d) == 1)
		return state_of(d) == VIR_DOMAIN_PAUSED && virDomainResume(d) != 0 ? -1 : 0;
	if (virDomainCreate(d) != 0) {   /* restores the managed save image */
		klog_error(LOG, "resume instance-%s: %s", uuid, lverr());
		return -1;
	}
	return 0;
}

static int lv_power_state(const char *uuid)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	return d ? map_power(d) : -1;
}

static char *lv_console_log(const char *uuid, size_t max_bytes)
{
	if (!valid_uuid(uuid))
		return strdup("");
	char path[PATH_MAX];
	inst_path(path, sizeof(path), uuid, "console.log");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return strdup("");
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return strdup("");
	}
	size_t size = (size_t)st.st_size, want = size < max_bytes ? size : max_bytes;
	char *buf = malloc(want + 1);
	ssize_t n = buf ? pread(fd, buf, want, (off_t)(size - want)) : -1;
	close(fd);
	if (n < 0) {
		free(buf);
		return strdup("");
	}
	buf[n] = '\0';
	return buf;
}

static int lv_snapshot(const char *uuid, const char *out_path, char *err, size_t errlen)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d) {
		snprintf(err, errlen, "instance-%s has no domain", uuid ? uuid : "");
		return -1;
	}
	char disk[PATH_MAX];
	inst_path(disk, sizeof(disk), uuid, "disk");
	/* A running guest is paused for the copy: crash-consistent, and quick. */
	bool paused = state_of(d) == VIR_DOMAIN_RUNNING && virDomainSuspend(d) == 0;
	const char *argv[] = { "qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2",
	                       disk, out_path, NULL };
	int rc = cmp_virt_run(argv, NULL, err, errlen);
	if (paused && virDomainResume(d) != 0)
		klog_error(LOG, "resume instance-%s after snapshot: %s", uuid, lverr());
	return rc == 0 ? 0 : -1;
}

/* ---- resize on this host ---- */

static int lv_migrate_disk_and_power_off(const cmp_spawn *s, char *err, size_t errlen)
{
	const char *uuid = kjson_str(s->inst, "id");
	if (!valid_uuid(uuid)) {
		snprintf(err, errlen, "invalid instance id");
		return -1;
	}
	if (lv_power_off(uuid, (int)cmp_conf_int("shutdown_timeout", 60)) != 0) {
		snprintf(err, errlen, "cannot power off instance-%s: %s", uuid, lverr());
		return -1;
	}
	char disk[PATH_MAX], backup[PATH_MAX], tmp[PATH_MAX];
	inst_path(disk, sizeof(disk), uuid, "disk");
	inst_path(backup, sizeof(backup), uuid, "disk.backup");
	inst_path(tmp, sizeof(tmp), uuid, "disk.backup.tmp");
	const char *argv[] = { "cp", "--reflink=auto", "--sparse=always", disk, tmp, NULL };
	if (cmp_virt_run(argv, NULL, err, errlen) != 0) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, backup) != 0) {
		snprintf(err, errlen, "rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int lv_finish_migration(const cmp_spawn *s, char *err, size_t errlen)
{
	const char *uuid = kjson_str(s->inst, "id");
	_cleanup_conn_ virConnectPtr c = conn_get();
	if (!c || !valid_uuid(uuid)) {
		snprintf(err, errlen, "libvirt: %s", lverr());
		return -1;
	}
	char disk[PATH_MAX];
	inst_path(disk, sizeof(disk), uuid, "disk");
	long root_gb = jint(s->inst, "root_gb", 0);
	_cleanup_json_ json_t *info = cmp_qemu_img_info(disk, "qcow2", err, errlen);
	if (!info)
		return -1;
	json_int_t vsize = json_integer_value(json_object_get(info, "virtual-size"));
	if (root_gb > 0 && (json_int_t)root_gb * GIB > vsize) {
		char size[32];
		snprintf(size, sizeof(size), "%ldG", root_gb);
		const char *argv[] = { "qemu-img", "resize", "-q", "-f", "qcow2", disk, size,
		                       NULL };
		if (cmp_virt_run(argv, NULL, err, errlen) != 0)
			return -1;
	}
	return define_and_start(c, s, err, errlen);
}

static int lv_confirm_migration(const char *uuid)
{
	if (!valid_uuid(uuid))
		return -1;
	char backup[PATH_MAX];
	inst_path(backup, sizeof(backup), uuid, "disk.backup");
	if (unlink(backup) != 0 && errno != ENOENT) {
		klog_error(LOG, "remove %s: %s", backup, strerror(errno));
		return -1;
	}
	return 0;
}

static int lv_finish_revert_migration(const cmp_spawn *s, char *err, size_t errlen)
{
	const char *uuid = kjson_str(s->inst, "id");
	_cleanup_conn_ virConnectPtr c = conn_get();
	if (!c || !valid_uuid(uuid)) {
		snprintf(err, errlen, "libvirt: %s", lverr());
		return -1;
	}
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (d && virDomainIsActive(d) == 1 && virDomainDestroy(d) != 0 &&
	    virDomainIsActive(d) == 1) {
		snprintf(err, errlen, "libvirt: %s", lverr());
		return -1;
	}
	char disk[PATH_MAX], backup[PATH_MAX];
	inst_path(disk, sizeof(disk), uuid, "disk");
	inst_path(backup, sizeof(backup), uuid, "disk.backup");
	if (access(backup, F_OK) == 0 && rename(backup, disk) != 0) {
		snprintf(err, errlen, "rename %s: %s", backup, strerror(errno));
		return -1;
	}
	return define_and_start(c, s, err, errlen);
}

static int lv_vnc_address(const char *uuid, char *host, size_t hostlen, int *port)
{
	_cleanup_conn_ virConnectPtr c = conn_get();
	_cleanup_dom_ virDomainPtr d = dom_get(c, uuid);
	if (!d)
		return -1;
	_cleanup_free_ char *xml = virDomainGetXMLDesc(d, 0);
	const char *g = xml ? strstr(xml, "<graphics type='vnc'") : NULL;
	if (!g)
		return -1;
	const char *end = strchr(g, '>');
	const char *p = strstr(g, " port='");
	if (!end || !p || p > end)
		return -1;
	*port = atoi(p + 7);
	if (*port <= 0)
		return -1;
	const char *l = strstr(g, " listen='");
	if (l && l < end) {
		l += 9;
		const char *q = strchr(l, '\'');
		snprintf(host, hostlen, "%.*s", q ? (int)(q - l) : 0, l);
	} else {
		snprintf(host, hostlen, "127.0.0.1");
	}
	return 0;
}

const cmp_virt_driver cmp_libvirt_driver = {
	.name = "libvirt",
	.init = lv_init,
	.fini = lv_fini,
	.host_info = lv_host_info,
	.list_instances = lv_list_instances,
	.spawn = lv_spawn,
	.destroy = lv_destroy,
	.power_off = lv_power_off,
	.power_on = lv_power_on,
	.reboot = lv_reboot,
	.pause = lv_pause,
	.unpause = lv_unpause,
	.suspend = lv_suspend,
	.resume = lv_resume,
	.power_state = lv_power_state,
	.console_log = lv_console_log,
	.snapshot = lv_snapshot,
	.migrate_disk_and_power_off = lv_migrate_disk_and_power_off,
	.finish_migration = lv_finish_migration,
	.confirm_migration = lv_confirm_migration,
	.finish_revert_migration = lv_finish_revert_migration,
	.vnc_address = lv_vnc_address,
};
