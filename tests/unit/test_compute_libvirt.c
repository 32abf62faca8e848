/*
 * test_compute_libvirt.c - the libvirt virt driver against the real libvirtd
 * (qemu:///system) and QEMU, with the kumo-cirros guest image: image cache
 * conversion, overlays, a domain's whole life (boot to kernel messages,
 * pause, power off/on, suspend/resume, reboot, snapshot, resize with revert
 * and confirm, destroy).
 *
 * Skipped (with a message, exit 0) when libvirtd does not answer or the
 * image (build/guest-image/kumo-cirros.qcow2, tools/build-guest-image.sh) is
 * absent.  Domains get a unique test-only instances_path (hence their own
 * cloud tag) and user id "kumo-libvirt-unittest": the test removes them at
 * exit, and at start sweeps away domains a crashed earlier run left behind.
 */
#include <errno.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <microhttpd.h>
#include <libvirt/virterror.h>

#include "compute/agent/virt.h"
#include "compute/compute.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/util.h"
#include "ktest.h"

#ifndef KUMO_SOURCE_ROOT
#define KUMO_SOURCE_ROOT "."
#endif
#define MARKER "kumo-libvirt-unittest"
#define URI "qemu:///system"

static const cmp_virt_driver *drv = &cmp_libvirt_driver;
static char tmpdir[256];
static char image_path[1024];
static bool ready;          /* libvirt + image present, driver initialised */
static char uuid[37];
static json_t *inst;        /* the instance row given to spawn */

static void quiet(void *opaque, virErrorPtr e)
{
	(void)opaque;
	(void)e;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Remove every domain an earlier run of this test left (user id MARKER). */
static void sweep(void)
{
	virConnectPtr c = virConnectOpen(URI);
	if (!c)
		return;
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(c, &doms, 0);
	for (int i = 0; i < n; i++) {
		char *md = virDomainGetMetadata(doms[i], VIR_DOMAIN_METADATA_ELEMENT,
		                                "https://kumo.openstack/instance/1", 0);
		if (md && strstr(md, MARKER)) {
			fprintf(stderr, "removing leftover test domain %s\n",
			        virDomainGetName(doms[i]));
			if (virDomainIsActive(doms[i]) == 1)
				virDomainDestroy(doms[i]);
			virDomainUndefineFlags(doms[i], VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
			                                VIR_DOMAIN_UNDEFINE_NVRAM);
		}
		free(md);
		virDomainFree(doms[i]);
	}
	free(doms);
	virConnectClose(c);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void cleanup(void)
{
	if (ready) {
		if (uuid[0])
			drv->destroy(uuid, false);
		drv->fini();
	}
	sweep();
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	json_decref(inst);
	inst = NULL;
	kconf_free(kumo_conf);
	kumo_conf = NULL;
}

/* Poll the console until it holds `count` occurrences of needle. */
static bool console_wait(const char *needle, int count, int timeout_s)
{
	for (int waited = 0; waited <= timeout_s * 4; waited++) {
		_cleanup_free_ char *log = drv->console_log(uuid, 1 << 20);
		int n = 0;
		for (const char *p = log; p && (p = strstr(p, needle)) != NULL; p++)
			n++;
		if (n >= count)
			return true;
		sleep_ms(250);
	}
	return false;
}

/* Wait until the latest boot (after the last "Linux version") said login ready. */
static bool boot_done(int timeout_s)
{
	for (int waited = 0; waited <= timeout_s * 4; waited++) {
		_cleanup_free_ char *log = drv->console_log(uuid, 1 << 20);
		const char *last = NULL;
		for (const char *p = log; p && (p = strstr(p, "Linux version")) != NULL; p++)
			last = p;
		if (last && strstr(last, "login ready"))
			return true;
		sleep_ms(250);
	}
	return false;
}

static bool state_wait(int want, int timeout_s)
{
	for (int waited = 0; waited <= timeout_s * 4; waited++) {
		if (drv->power_state(uuid) == want)
			return true;
		sleep_ms(250);
	}
	return false;
}

static long long vsize(const char *path)
{
	char err[256];
	_cleanup_json_ json_t *info = cmp_qemu_img_info(path, NULL, err, sizeof(err));
	return info ? json_integer_value(json_object_get(info, "virtual-size")) : -1;
}

static bool domain_xml_has(const char *needle)
{
	virConnectPtr c = virConnectOpen(URI);
	virDomainPtr d = c ? virDomainLookupByUUIDString(c, uuid) : NULL;
	char *xml = d ? virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE) : NULL;
	bool has = xml && strstr(xml, needle);
	if (!has)
		fprintf(stderr, "domain XML lacks %s\n", needle);
	free(xml);
	if (d)
		virDomainFree(d);
	if (c)
		virConnectClose(c);
	return has;
}

KTEST(setup)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	virSetErrorFunc(NULL, quiet);
	snprintf(image_path, sizeof(image_path), "%s/build/guest-image/kumo-cirros.qcow2",
	         getenv("KUMO_SOURCE_ROOT") ? getenv("KUMO_SOURCE_ROOT") : KUMO_SOURCE_ROOT);
	/* make check sets KUMO_REQUIRE_COMPUTE=1: there a missing image or
	 * libvirtd is a failure, not a skip */
	bool required = getenv("KUMO_REQUIRE_COMPUTE") &&
	                strcmp(getenv("KUMO_REQUIRE_COMPUTE"), "1") == 0;
	if (access(image_path, R_OK) != 0) {
		printf("SKIP: no guest image at %s (tools/build-guest-image.sh)\n", image_path);
		CHECK(!required);
		return;
	}
	virConnectPtr c = virConnectOpen(URI);
	if (!c) {
		printf("SKIP: libvirtd not reachable at %s (tools/libvirt-setup.sh): %s\n", URI,
		       virGetLastErrorMessage());
		CHECK(!required);
		return;
	}
	virConnectClose(c);
	sweep();
	atexit(cleanup);

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kumo-lvtest-XXXXXX");
	CHECK(mkdtemp(tmpdir) != NULL);
	char conf[1024], err[256];
	snprintf(conf, sizeof(conf),
	         "[DEFAULT]\nstate_dir = %s\n[compute]\ninstances_path = %s/instances\n"
	         "shutdown_timeout = 10\nvirt_type = auto\n", tmpdir, tmpdir);
	kumo_conf = kconf_parse(conf, err, sizeof(err));
	CHECK(kumo_conf != NULL);
	CHECK_INT(drv->init(), 0);
	ready = true;
	/* the parents were made traversable for the libvirt-qemu user */
	struct stat st;
	CHECK(stat(tmpdir, &st) == 0 && (st.st_mode & S_IXOTH));
}

KTEST(host_info)
{
	if (!ready)
		return;
	_cleanup_json_ json_t *hi = drv->host_info();
	CHECK(hi != NULL);
	CHECK(json_integer_value(json_object_get(hi, "vcpus")) > 0);
	CHECK(json_integer_value(json_object_get(hi, "memory_mb")) > 0);
	CHECK(json_integer_value(json_object_get(hi, "local_gb")) > 0);
	CHECK(json_integer_value(json_object_get(hi, "hypervisor_version")) > 1000000);
	CHECK_STR(kjson_str(hi, "hypervisor_type"), "QEMU");
	CHECK_STR(kjson_str(hi, "hypervisor_hostname"), cmp_host());
	_cleanup_json_ json_t *ci = json_loads(kjson_str(hi, "cpu_info"), 0, NULL);
	CHECK(json_is_object(ci) && json_object_get(ci, "topology"));
}

KTEST(imagecache)
{
	if (!ready)
		return;
	char base[4096], err[512];
	CHECK_INT(cmp_imagecache_import(image_path, "11111111-2222-3333-4444-555555555555",
	                                "qcow2", base, sizeof(base), err, sizeof(err)), 0);
	CHECK(strstr(base, "/_base/") != NULL);
	_cleanup_json_ json_t *info = cmp_qemu_img_info(base, NULL, err, sizeof(err));
	CHECK_STR(kjson_str(info, "format"), "raw");
	struct stat st;
	CHECK(stat(base, &st) == 0 && (st.st_mode & 0777) == 0644);
	CHECK_INT(vsize(base), vsize(image_path));
	/* cached: a second import is a no-op, the same path */
	char again[4096];
	CHECK_INT(cmp_imagecache_import("/nonexistent", "11111111-2222-3333-4444-555555555555",
	                                "qcow2", again, sizeof(again), err, sizeof(err)), 0);
	CHECK_STR(again, base);
	/* a qcow2 naming a backing file is refused, and leaves nothing behind */
	char evil[512];
	snprintf(evil, sizeof(evil), "%s/evil.qcow2", tmpdir);
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
	                       base, evil, NULL };
	CHECK_INT(cmp_virt_run(argv, NULL, err, sizeof(err)), 0);
	char bad[4096];
	CHECK_INT(cmp_imagecache_import(evil, "evil-image", "qcow2", bad, sizeof(bad), err,
	                                sizeof(err)), -1);
	CHECK(strstr(err, "backing") != NULL);
	CHECK(access(bad, F_OK) != 0);
	CHECK_INT(cmp_imagecache_import(evil, "../etc", "raw", bad, sizeof(bad), err,
	                                sizeof(err)), -1);
	/* overlays: grown to root_gb, or the image's size */
	char disk[512];
	snprintf(disk, sizeof(disk), "%s/overlay.qcow2", tmpdir);
	CHECK_INT(cmp_imagecache_create_disk(base, disk, 1, err, sizeof(err)), 0);
	CHECK_INT(vsize(disk), 1LL << 30);
	CHECK_INT(cmp_imagecache_create_disk(base, disk, 0, err, sizeof(err)), 0);
	CHECK_INT(vsize(disk), vsize(base));
	_cleanup_json_ json_t *oi = cmp_qemu_img_info(disk, "qcow2", err, sizeof(err));
	CHECK_STR(kjson_str(oi, "backing-filename"), base);
	/* a tool that fails reports its stderr */
	const char *bad_argv[] = { "qemu-img", "info", "/nonexistent/x", NULL };
	CHECK(cmp_virt_run(bad_argv, NULL, err, sizeof(err)) > 0);
	CHECK(strstr(err, "nonexistent") != NULL);
}

/* ---- downloads from a tiny Image API (GET /v2/images/<id>/file) ---- */

static char *image_data;
static size_t image_len;
static int image_gets;

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *upload,
                             size_t *upload_len, void **state)
{
	(void)cls; (void)method; (void)version; (void)upload; (void)upload_len; (void)state;
	struct MHD_Response *resp;
	int status = 200;
	if (strcmp(url, "/v2/images/22222222-2222-3333-4444-555555555555/file") == 0 ||
	    strcmp(url, "/v2/images/33333333-2222-3333-4444-555555555555/file") == 0) {
		__atomic_add_fetch(&image_gets, 1, __ATOMIC_SEQ_CST);
		sleep_ms(300);   /* parallel callers overlap */
		resp = MHD_create_response_from_buffer(image_len, image_data,
		                                       MHD_RESPMEM_PERSISTENT);
	} else {
		status = 404;
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static void *fetch_thread(void *arg)
{
	char *path = arg, err[256];
	_cleanup_json_ json_t *image = json_pack("{s:s, s:s, s:I}", "id",
	                                         "22222222-2222-3333-4444-555555555555",
	                                         "disk_format", "qcow2", "size",
	                                         (json_int_t)image_len);
	if (cmp_imagecache_fetch(image, path, 4096, err, sizeof(err)) != 0)
		snprintf(path, 4096, "error: %s", err);
	return NULL;
}

KTEST(imagecache_download)
{
	if (!ready)
		return;
	image_data = kutil_read_file(image_path, &image_len);
	CHECK(image_data != NULL);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	                                        MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
	                                        serve, NULL, MHD_OPTION_SOCK_ADDR, &sa,
	                                        MHD_OPTION_END);
	CHECK(d != NULL);
	if (!d) {
		free(image_data);
		return;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", di ? di->port : 0);
	kconf_set(kumo_conf, "endpoints", "image", url);

	/* three boots of one image at once: one download, one base file */
	static char paths[3][4096];
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, fetch_thread, paths[i]);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	CHECK_INT(image_gets, 1);
	CHECK(strstr(paths[0], "/_base/") != NULL);
	CHECK_STR(paths[1], paths[0]);
	CHECK_STR(paths[2], paths[0]);
	CHECK_INT(vsize(paths[0]), vsize(image_path));

	/* a short download (size mismatch) and a 404 leave nothing in _base */
	char path[4096], err[256];
	_cleanup_json_ json_t *wrong = json_pack("{s:s, s:s, s:I}", "id",
	                                         "33333333-2222-3333-4444-555555555555",
	                                         "disk_format", "qcow2", "size",
	                                         (json_int_t)image_len + 1);
	CHECK_INT(cmp_imagecache_fetch(wrong, path, sizeof(path), err, sizeof(err)), -1);
	CHECK(strstr(err, "expected") != NULL);
	CHECK(access(path, F_OK) != 0);
	_cleanup_json_ json_t *missing = json_pack("{s:s, s:s}", "id",
	                                           "44444444-2222-3333-4444-555555555555",
	                                           "disk_format", "raw");
	CHECK_INT(cmp_imagecache_fetch(missing, path, sizeof(path), err, sizeof(err)), -1);
	CHECK(strstr(err, "404") != NULL);
	CHECK(access(path, F_OK) != 0);
	/* only base files in _base: no temporary leftovers */
	int files = 0;
	_cleanup_free_ char *ls = NULL;
	const char *argv[] = { "ls", "-A", cmp_imagecache_base_dir(), NULL };
	CHECK_INT(cmp_virt_run(argv, &ls, err, sizeof(err)), 0);
	for (const char *p = ls; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
		files++;
	CHECK_INT(files, 2);   /* the imported image and the downloaded one */
	MHD_stop_daemon(d);
	free(image_data);
}

KTEST(spawn_boots)
{
	if (!ready)
		return;
	kutil_uuid(uuid);
	inst = json_pack("{s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:s,"
	                 " s:{s:s, s:s, s:I}, s:{s:s}}",
	                 "id", uuid, "name", "vm <&'\"> test", "vcpus", 1, "memory_mb", 256,
	                 "root_gb", 1, "project_id", "p-1", "user_id", MARKER, "image_ref",
	                 "11111111-2222-3333-4444-555555555555", "image", "id",
	                 "11111111-2222-3333-4444-555555555555", "disk_format", "qcow2", "size",
	                 (json_int_t)0, "flavor", "name", "m1.test");
	_cleanup_json_ json_t *vifs = json_array();
	cmp_spawn s = { .inst = inst, .vifs = vifs };
	char err[512] = "";
	int64_t t0 = kutil_now_us();
	int rc = drv->spawn(&s, err, sizeof(err));
	CHECK_INT(rc, 0);
	if (rc != 0) {
		fprintf(stderr, "spawn: %s\n", err);
		return;
	}
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
	CHECK(console_wait("Linux version", 1, 60));
	printf("kernel messages %.1f s after spawn\n", (double)(kutil_now_us() - t0) / 1e6);
	CHECK(domain_xml_has("<name>instance-"));
	CHECK(domain_xml_has("vm &lt;&amp;'\"&gt; test"));
	CHECK(domain_xml_has("OpenStack Nova"));
	CHECK(domain_xml_has("append='on'"));
	_cleanup_json_ json_t *list = drv->list_instances();
	CHECK(list && json_integer_value(json_object_get(list, uuid)) == CMP_POWER_RUNNING);
	char host[64] = "";
	int port = 0;
	CHECK_INT(drv->vnc_address(uuid, host, sizeof(host), &port), 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK(port >= 5900);
	/* spawning again with the same id fails cleanly (domain running) */
	CHECK_INT(drv->spawn(&s, err, sizeof(err)), -1);
	CHECK(strstr(err, "already running") != NULL);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
}

KTEST(pause_unpause)
{
	if (!ready || !uuid[0])
		return;
	CHECK_INT(drv->pause(uuid), 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_PAUSED);
	CHECK_INT(drv->unpause(uuid), 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
}

KTEST(snapshot)
{
	if (!ready || !uuid[0])
		return;
	char out[512], err[512] = "";
	snprintf(out, sizeof(out), "%s/snap.qcow2", tmpdir);
	CHECK_INT(drv->snapshot(uuid, out, err, sizeof(err)), 0);
	_cleanup_json_ json_t *info = cmp_qemu_img_info(out, NULL, err, sizeof(err));
	CHECK_STR(kjson_str(info, "format"), "qcow2");
	CHECK(json_object_get(info, "backing-filename") == NULL);
	CHECK_INT(json_integer_value(json_object_get(info, "virtual-size")), 1LL << 30);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);   /* resumed */
}

KTEST(power_off_on)
{
	if (!ready || !uuid[0])
		return;
	/* a graceful shutdown needs the guest's acpid: wait for the boot to end */
	if (!boot_done(90))
		fprintf(stderr, "guest never said login ready; power_off will force\n");
	int64_t t0 = kutil_now_us();
	CHECK_INT(drv->power_off(uuid, 30), 0);
	printf("power_off took %.1f s\n", (double)(kutil_now_us() - t0) / 1e6);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_SHUTDOWN);
	_cleanup_json_ json_t *list = drv->list_instances();
	CHECK(list && json_integer_value(json_object_get(list, uuid)) == CMP_POWER_SHUTDOWN);
	CHECK_INT(drv->power_off(uuid, 30), 0);   /* already off */
	CHECK_INT(drv->power_on(uuid), 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
	/* append='on': the first boot's messages are still there */
	CHECK(console_wait("Linux version", 2, 60));
}

KTEST(suspend_resume_reboot)
{
	if (!ready || !uuid[0])
		return;
	CHECK_INT(drv->suspend(uuid), 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_SUSPENDED);
	CHECK_INT(drv->resume(uuid), 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
	CHECK_INT(drv->reboot(uuid, true), 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
	CHECK(console_wait("Linux version", 3, 60));
	/* soft reboot: ACPI shutdown (acpid is up once login is ready), start again */
	if (!boot_done(90))
		fprintf(stderr, "guest never said login ready; soft reboot will go hard\n");
	int64_t t0 = kutil_now_us();
	CHECK_INT(drv->reboot(uuid, false), 0);
	printf("soft reboot took %.1f s\n", (double)(kutil_now_us() - t0) / 1e6);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
	CHECK(console_wait("Linux version", 4, 60));
}

KTEST(resize_revert_confirm)
{
	if (!ready || !uuid[0])
		return;
	char disk[4096], backup[4096], err[512] = "";
	snprintf(disk, sizeof(disk), "%s/instances/%s/disk", tmpdir, uuid);
	snprintf(backup, sizeof(backup), "%s/instances/%s/disk.backup", tmpdir, uuid);
	_cleanup_json_ json_t *vifs = json_array();
	_cleanup_json_ json_t *bigger = json_deep_copy(inst);
	json_object_set_new(bigger, "memory_mb", json_integer(384));
	json_object_set_new(bigger, "root_gb", json_integer(2));
	cmp_spawn old = { .inst = inst, .vifs = vifs }, neu = { .inst = bigger, .vifs = vifs };

	CHECK_INT(drv->migrate_disk_and_power_off(&neu, err, sizeof(err)), 0);
	CHECK(access(backup, F_OK) == 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_SHUTDOWN);
	CHECK_INT(drv->finish_migration(&neu, err, sizeof(err)), 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
	CHECK_INT(vsize(disk), 2LL << 30);
	CHECK(domain_xml_has("<memory unit='KiB'>393216</memory>"));
	/* revert: the old disk and flavor come back */
	CHECK_INT(drv->finish_revert_migration(&old, err, sizeof(err)), 0);
	CHECK_INT(drv->power_state(uuid), CMP_POWER_RUNNING);
	CHECK_INT(vsize(disk), 1LL << 30);
	CHECK(access(backup, F_OK) != 0);
	CHECK(domain_xml_has("<memory unit='KiB'>262144</memory>"));
	/* resize again and confirm: the backup goes away */
	CHECK_INT(drv->migrate_disk_and_power_off(&neu, err, sizeof(err)), 0);
	CHECK_INT(drv->finish_migration(&neu, err, sizeof(err)), 0);
	CHECK_INT(drv->confirm_migration(uuid), 0);
	CHECK(access(backup, F_OK) != 0);
	CHECK_INT(vsize(disk), 2LL << 30);
	CHECK(state_wait(CMP_POWER_RUNNING, 5));
	if (err[0])
		fprintf(stderr, "last error: %s\n", err);
}

KTEST(destroy)
{
	if (!ready || !uuid[0])
		return;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/instances/%s", tmpdir, uuid);
	_cleanup_free_ char *log = drv->console_log(uuid, 100);
	CHECK(log && strlen(log) == 100);
	CHECK_INT(drv->destroy(uuid, false), 0);
	CHECK_INT(drv->power_state(uuid), -1);
	CHECK(access(dir, F_OK) != 0);
	_cleanup_json_ json_t *list = drv->list_instances();
	CHECK(list && json_object_get(list, uuid) == NULL);
	CHECK_INT(drv->destroy(uuid, false), 0);   /* absent = success */
	_cleanup_free_ char *none = drv->console_log(uuid, 100);
	CHECK_STR(none, "");
	uuid[0] = '\0';
}

int main(void)
{
	return ktest_run();
}
