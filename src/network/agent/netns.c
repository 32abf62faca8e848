/*
 * netns.c - namespaces, links and sysctls as the agents see them.
 *
 * Reading is done from the kernel's own views where they are cheap and
 * race-free to read (/run/netns, /sys/class/net, /proc/sys) and through
 * `ip -j` (JSON, parsed with jansson) for what lives inside a namespace.
 * Changing things is always `ip` (ipcmd.c), so what the agents do can be
 * replayed by hand from the logs.  nag_in_netns() runs a function on a
 * short-lived thread that has entered a namespace with setns(2): network
 * namespaces are per thread, so the rest of kumo is unaffected, and a
 * socket created there keeps living in that namespace (the metadata proxy
 * listens inside qdhcp namespaces this way).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "network/agent/agent.h"

#define NETNS_DIR "/run/netns"
#define SYSNET "/sys/class/net"

/* Names must be plain: no path tricks through the sysfs/run paths. */
static bool plain_name(const char *s)
{
	if (!s || !*s || strlen(s) > 255 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	return strchr(s, '/') == NULL;
}

bool nag_ns_exists(const char *ns)
{
	char p[PATH_MAX];
	if (!plain_name(ns))
		return false;
	snprintf(p, sizeof(p), NETNS_DIR "/%s", ns);
	return access(p, F_OK) == 0;
}

ino_t nag_ns_inode(const char *ns)
{
	char p[PATH_MAX];
	struct stat st;
	if (!plain_name(ns))
		return 0;
	snprintf(p, sizeof(p), NETNS_DIR "/%s", ns);
	return stat(p, &st) == 0 ? st.st_ino : 0;
}

int nag_ns_ensure(const char *ns)
{
	if (!plain_name(ns))
		return -1;
	if (!nag_ns_exists(ns) && nag_run(0, NULL, "ip netns add %s", ns) != 0)
		return -1;
	return nag_ip(0, ns, "link set lo up");
}

int nag_ns_delete(const char *ns)
{
	if (!nag_ns_exists(ns))
		return 0;
	return nag_run(0, NULL, "ip netns delete %s", ns);
}

static json_t *list_dir(const char *dir, const char *prefix)
{
	json_t *arr = json_array();
	DIR *d = opendir(dir);
	if (!d)
		return arr;
	size_t pl = strlen(prefix);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, pl) != 0)
			continue;
		json_array_append_new(arr, json_string(e->d_name));
	}
	closedir(d);
	return arr;
}

json_t *nag_ns_list(const char *prefix)
{
	return list_dir(NETNS_DIR, prefix);
}

bool nag_link_exists(const char *dev)
{
	char p[PATH_MAX];
	if (!plain_name(dev))
		return false;
	snprintf(p, sizeof(p), SYSNET "/%s", dev);
	return access(p, F_OK) == 0;
}

json_t *nag_link_list(const char *prefix)
{
	return list_dir(SYSNET, prefix);
}

char *nag_link_master(const char *dev)
{
	char p[PATH_MAX], target[PATH_MAX];
	if (!plain_name(dev))
		return NULL;
	snprintf(p, sizeof(p), SYSNET "/%s/master", dev);
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	if (n <= 0)
		return NULL;
	target[n] = '\0';
	const char *base = strrchr(target, '/');
	return strdup(base ? base + 1 : target);
}

bool nag_link_is_bridge(const char *dev)
{
	char p[PATH_MAX];
	if (!plain_name(dev))
		return false;
	snprintf(p, sizeof(p), SYSNET "/%s/bridge", dev);
	return access(p, F_OK) == 0;
}

bool nag_link_up(const char *dev)
{
	char p[PATH_MAX];
	if (!plain_name(dev))
		return false;
	snprintf(p, sizeof(p), SYSNET "/%s/flags", dev);
	_cleanup_free_ char *s = kutil_read_file(p, NULL);
	return s && (strtoul(s, NULL, 16) & 0x1) != 0;     /* IFF_UP */
}

bool nag_link_mac(const char *dev, char out[18])
{
	char p[PATH_MAX];
	if (!plain_name(dev))
		return false;
	snprintf(p, sizeof(p), SYSNET "/%s/address", dev);
	_cleanup_free_ char *s = kutil_read_file(p, NULL);
	if (!s || strlen(s) < 17)
		return false;
	memcpy(out, s, 17);
	out[17] = '\0';
	return true;
}

json_t *nag_bridge_ports(const char *bridge)
{
	char p[PATH_MAX];
	if (!plain_name(bridge))
		return json_array();
	snprintf(p, sizeof(p), SYSNET "/%s/brif", bridge);
	return list_dir(p, "");
}

json_t *nag_ns_links(const char *ns)
{
	_cleanup_free_ char *out = NULL;
	const char *argv[] = { "ip", "-j", "-n", ns, "link", "show", NULL };
	if (!plain_name(ns) || nag_runv(NAG_QUIET, NULL, &out, argv) != 0)
		return NULL;
	json_t *j = json_loads(out, 0, NULL);
	if (j && !json_is_array(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *nag_addrs(const char *ns, const char *dev)
{
	_cleanup_free_ char *out = NULL;
	const char *argv[10];
	int n = 0;
	argv[n++] = "ip";
	argv[n++] = "-j";
	if (ns) {
		argv[n++] = "-n";
		argv[n++] = ns;
	}
	argv[n++] = "addr";
	argv[n++] = "show";
	argv[n++] = "dev";
	argv[n++] = dev;
	argv[n] = NULL;
	if (nag_runv(NAG_QUIET, NULL, &out, argv) != 0)
		return NULL;
	json_t *j = json_loads(out, 0, NULL);
	if (!json_is_array(j)) {
		json_decref(j);
		return NULL;
	}
	json_t *res = json_array(), *link, *ai;
	size_t i, k;
	json_array_foreach(j, i, link) {
		json_array_foreach(json_object_get(link, "addr_info"), k, ai) {
			const char *fam = json_string_value(json_object_get(ai, "family"));
			const char *local = json_string_value(json_object_get(ai, "local"));
			const char *scope = json_string_value(json_object_get(ai, "scope"));
			bool ll = scope && !strcmp(scope, "link") && fam && !strcmp(fam, "inet6");
			if (!fam || !local || ll)
				continue;
			int plen = (int)json_integer_value(json_object_get(ai, "prefixlen"));
			json_array_append_new(res, json_sprintf("%s/%d", local, plen));
		}
	}
	json_decref(j);
	return res;
}

struct nsjob {
	const char *ns;
	int (*fn)(void *ud);
	void *ud;
	int rc;
};

static void *ns_thread(void *arg)
{
	struct nsjob *j = arg;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), NETNS_DIR "/%s", j->ns);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		j->rc = -1;
		return NULL;
	}
	int rc = setns(fd, CLONE_NEWNET);
	close(fd);
	if (rc != 0) {
		klog_warn("network-agent", "setns %s: %s", j->ns, strerror(errno));
		j->rc = -1;
		return NULL;
	}
	j->rc = j->fn(j->ud);
	return NULL;
}

int nag_in_netns(const char *ns, int (*fn)(void *ud), void *ud)
{
	if (!plain_name(ns))
		return -1;
	struct nsjob j = { ns, fn, ud, -1 };
	pthread_t th;
	if (pthread_create(&th, NULL, ns_thread, &j) != 0)
		return -1;
	pthread_join(th, NULL);
	return j.rc;
}

int nag_sysctl(const char *key, const char *value)
{
	char p[PATH_MAX];
	if (strstr(key, ".."))
		return -1;
	snprintf(p, sizeof(p), "/proc/sys/%s", key);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, value, strlen(value));
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}
