/*
 * test_net_agent.c - the L2/DHCP agents' mechanisms (src/network/agent/
 * ipcmd.c, netns.c, l2.c, firewall.c, dhcp.c) against the real system: how
 * children are run, then - as root - one reconcile pass of the L2 and DHCP
 * agents over rows written straight into a SQLite network database, checked
 * with /sys, `ip` and `nft`.  Everything made carries fresh ids and is
 * removed at the end; without root those tests are skipped.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/db.h"
#include "core/json.h"
#include "core/util.h"
#include "ktest.h"
#include "network/agent/agent.h"
#include "network/network.h"

static char dir[] = "/tmp/kumo-agent-XXXXXX";
static bool have_root;

static void setup(void)
{
	if (kumo_conf)
		return;
	CHECK(mkdtemp(dir) != NULL);
	char text[512], err[256], url[300];
	snprintf(text, sizeof(text), "[DEFAULT]\nstate_dir = %s\n[network]\n"
	         "connection = sqlite:///%s/network.db\n", dir, dir);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	CHECK(kumo_conf != NULL);
	snprintf(url, sizeof(url), "sqlite:///%s/network.db", dir);
	net_db = kdb_open(url, err, sizeof(err));
	CHECK(net_db != NULL);
	CHECK_INT(net_db_sync(), 0);
	have_root = geteuid() == 0 && nag_tool("ip") && nag_tool("nft");
}

/* ---- running programs ---- */

KTEST(runv_feeds_stdin_and_captures_stdout)
{
	setup();
	char *out = NULL;
	const char *cat[] = { "cat", NULL };
	CHECK_INT(nag_runv(0, "hello\nworld\n", &out, cat), 0);
	CHECK_STR(out, "hello\nworld\n");
	free(out);
	/* bigger than a pipe buffer both ways: no deadlock */
	size_t n = 1 << 20;
	char *big = malloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	CHECK_INT(nag_runv(0, big, &out, cat), 0);
	CHECK(out && strlen(out) == n);
	free(out);
	free(big);
}

KTEST(runv_exit_status_and_missing_tool)
{
	setup();
	const char *f[] = { "false", NULL };
	CHECK_INT(nag_runv(NAG_QUIET, NULL, NULL, f), 1);
	CHECK_INT(nag_run(NAG_QUIET, NULL, "sh -c exit"), 0);
	const char *three[] = { "sh", "-c", "exit 3", NULL };
	CHECK_INT(nag_runv(NAG_QUIET, NULL, NULL, three), 3);
	const char *none[] = { "no-such-tool-kumo", NULL };
	CHECK_INT(nag_runv(NAG_QUIET, NULL, NULL, none), -1);
	char *out = NULL;
	CHECK_INT(nag_run(0, &out, "echo a  b   c"), 0);
	CHECK_STR(out, "a b c\n");
	free(out);
}

KTEST(children_get_clean_signals_and_no_descriptors)
{
	setup();
	/* the parent blocks SIGHUP (as `kumo all` does); the child must not */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	char *out = NULL;
	const char *st[] = { "grep", "SigBlk", "/proc/self/status", NULL };
	CHECK_INT(nag_runv(0, NULL, &out, st), 0);
	CHECK(out && strstr(out, "0000000000000000"));
	free(out);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* a descriptor of ours (not close-on-exec) does not leak into the child */
	int fd = dup(2);
	CHECK(fd > 2);
	const char *ls[] = { "ls", "/proc/self/fd", NULL };
	CHECK_INT(nag_runv(0, NULL, &out, ls), 0);
	char name[16];
	snprintf(name, sizeof(name), "\n%d\n", fd);
	CHECK(out && !strstr(out, name));
	free(out);
	close(fd);
}

KTEST(device_names)
{
	setup();
	char d[16];
	nag_devname(d, "tap", "34ea740c-a6b2-4c55-9a0e-123456789abc");
	CHECK_STR(d, "tap34ea740c-a6");
	nag_bridge_name(d, "7a3c7391-cea7-47eb-a0ef-f7b18010c984");
	CHECK_STR(d, "brq7a3c7391-ce");      /* the seed's bridge */
	nag_devname(d, "ns-", "34ea740c-a6b2");
	CHECK_STR(d, "ns-34ea740c-a6");
	CHECK_INT(strlen(nag_cloud_tag()), 8);
	CHECK(nag_host()[0] != '\0');
}

/* ---- L2 + firewall + DHCP over the kernel (root) ---- */

static char net[37], sub[37], port[37], sg[37], tap[16], br[16], guest[32];

static void rows(void)
{
	kutil_uuid(net);
	kutil_uuid(sub);
	kutil_uuid(port);
	kutil_uuid(sg);
	nag_devname(tap, "tap", port);
	nag_bridge_name(br, net);
	snprintf(guest, sizeof(guest), "kut%.8s", port);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_network (id, project_id, network_type) "
	                  "VALUES (?, 'p', 'local')", "s", net), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_subnet (id, project_id, network_id, "
	                  "ip_version, cidr, gateway_ip, enable_dhcp) VALUES (?, 'p', ?, 4, "
	                  "'10.233.7.0/24', '10.233.7.1', 1)", "ss", sub, net), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_allocation_pool (subnet_id, first_ip, "
	                  "last_ip) VALUES (?, '10.233.7.2', '10.233.7.254')", "s", sub), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_port (id, project_id, network_id, "
	                  "mac_address, device_id, device_owner) VALUES (?, 'p', ?, "
	                  "'fa:16:3e:00:11:22', 'vm1', 'compute:nova')", "ss", port, net),
	          KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_ip_allocation (port_id, subnet_id, "
	                  "network_id, ip_address) VALUES (?, ?, ?, '10.233.7.9')", "sss", port,
	                  sub, net), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_security_group (id, project_id) "
	                  "VALUES (?, 'p')", "s", sg), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_port_security_group (port_id, "
	                  "security_group_id) VALUES (?, ?)", "ss", port, sg), KDB_DONE);
	const char *rules[][4] = {
		{ "ingress", "tcp", "22", "10.0.0.0/8" },
		{ "ingress", "icmp", NULL, NULL },
		{ "egress", NULL, NULL, NULL },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		char rid[37];
		kutil_uuid(rid);
		int rc = kdb_run(net_db, NULL, "INSERT INTO net_security_group_rule (id, "
		                 "project_id, security_group_id, direction, ethertype, protocol, "
		                 "port_range_min, port_range_max, remote_ip_prefix) "
		                 "VALUES (?, 'p', ?, ?, 'IPv4', ?, ?, ?, ?)", "sssssss", rid, sg, rules[i][0],
		                 rules[i][1], rules[i][2], rules[i][2], rules[i][3]);
		CHECK_INT(rc, KDB_DONE);
	}
	/* remote group rule: members of sg */
	char rid[37];
	kutil_uuid(rid);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_security_group_rule (id, project_id, "
	                  "security_group_id, direction, ethertype, protocol, port_range_min, "
	                  "port_range_max, remote_group_id) VALUES (?, 'p', ?, 'ingress', 'IPv4', "
	                  "'udp', 5000, 5010, ?)", "sss", rid, sg, sg), KDB_DONE);
}

static char *sh(const char *fmt, ...) _printf_(1, 2);
static char *sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *out = NULL;
	const char *argv[] = { "sh", "-c", cmd, NULL };
	nag_runv(NAG_QUIET, NULL, &out, argv);
	free(cmd);
	return out ? out : strdup("");
}

static bool has(char *out, const char *needle)
{
	bool r = strstr(out, needle) != NULL;
	if (!r)
		fprintf(stderr, "missing \"%s\" in:\n%s\n", needle, out);
	free(out);
	return r;
}

static bool lacks(char *out, const char *needle)
{
	bool r = strstr(out, needle) == NULL;
	free(out);
	return r;
}

static const char *port_status(void)
{
	static char st[16];
	json_t *row = kdb_query_row(net_db, NULL, "SELECT status FROM net_port WHERE id = ?", "s",
	                            port);
	snprintf(st, sizeof(st), "%s", row ? kjson_str(row, "status") : "");
	json_decref(row);
	return st;
}

KTEST(l2_plugs_the_tap_and_filters_it)
{
	setup();
	if (!have_root) {
		fprintf(stderr, "skipped: needs root, ip and nft\n");
		return;
	}
	rows();
	CHECK_INT(nag_run(0, NULL, "ip netns add %s", guest), 0);
	CHECK_INT(nag_run(0, NULL, "ip link add %s type veth peer name eth0 netns %s", tap, guest),
	          0);
	nag_l2_agent.init();
	nag_l2_agent.reconcile(NAG_CH_FULL);
	char *m = nag_link_master(tap);
	CHECK_STR(m, br);
	free(m);
	CHECK(nag_link_up(tap));
	CHECK_STR(port_status(), "ACTIVE");
	char t[64];
	snprintf(t, sizeof(t), "kumo-sg-%s", nag_cloud_tag());
	CHECK(has(sh("nft list table inet %s", t), "tcp dport 22 accept"));
	CHECK(has(sh("nft list table inet %s", t), "ip saddr 10.0.0.0/8"));
	CHECK(has(sh("nft list table inet %s", t), "meta l4proto icmp accept"));
	CHECK(has(sh("nft list table inet %s", t), "udp dport 5000-5010 accept"));
	CHECK(has(sh("nft list table inet %s", t), "10.233.7.9"));          /* the group's set */
	CHECK(has(sh("nft list table bridge %s", t), "fa:16:3e:00:11:22 . 10.233.7.9"));
	char key[64];
	snprintf(key, sizeof(key), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", br);
	_cleanup_free_ char *v6 = kutil_read_file(key, NULL);
	CHECK(v6 && v6[0] == '1');

	/* a second pass changes nothing */
	nag_l2_agent.reconcile(NAG_CH_PORT);
	CHECK_STR(port_status(), "ACTIVE");

	/* the tap goes: the port goes DOWN; while the port is still bound to
	 * this host (a stopped VM, or one whose tap libvirt is about to make)
	 * its bridge stays; unbound, the bridge and the rules go */
	CHECK_INT(nag_run(0, NULL, "ip link del %s", tap), 0);
	nag_l2_agent.reconcile(NAG_CH_LINK);
	CHECK_STR(port_status(), "DOWN");
	CHECK(nag_link_exists(br));
	CHECK_INT(kdb_run(net_db, NULL, "UPDATE net_port SET binding_host_id = '' WHERE id = ?",
	                  "s", port), KDB_DONE);
	nag_l2_agent.reconcile(NAG_CH_PORT);
	CHECK(!nag_link_exists(br));
	CHECK(lacks(sh("nft list tables"), t));
	nag_run(NAG_QUIET, NULL, "ip netns delete %s", guest);
}

KTEST(dhcp_namespace_dnsmasq_and_cleanup)
{
	setup();
	if (!have_root || !nag_tool("dnsmasq")) {
		fprintf(stderr, "skipped: needs root, ip, nft and dnsmasq\n");
		return;
	}
	char ns[64];
	snprintf(ns, sizeof(ns), "qdhcp-%s", net);
	nag_dhcp_agent.init();
	nag_dhcp_agent.reconcile(NAG_CH_FULL);
	CHECK(nag_ns_exists(ns));
	json_t *dp = kdb_query_row(net_db, NULL, "SELECT p.id, a.ip_address FROM net_port p "
	                           "JOIN net_ip_allocation a ON a.port_id = p.id WHERE "
	                           "p.network_id = ? AND p.device_owner = 'network:dhcp'", "s",
	                           net);
	CHECK(dp != NULL);
	CHECK_STR(dp ? kjson_str(dp, "ip_address") : NULL, "10.233.7.2");   /* lowest free */
	CHECK(has(sh("ip -n %s -o addr", ns), "10.233.7.2/24"));
	CHECK(has(sh("ip -n %s -o addr", ns), "169.254.169.254/16"));
	char path[512];
	snprintf(path, sizeof(path), "%s/dhcp/%s/host", dir, net);
	_cleanup_free_ char *hosts = kutil_read_file(path, NULL);
	CHECK(hosts && strstr(hosts, "fa:16:3e:00:11:22,host-10-233-7-9.openstacklocal,"
	                             "10.233.7.9\n"));
	snprintf(path, sizeof(path), "%s/dhcp/%s/opts", dir, net);
	_cleanup_free_ char *opts = kutil_read_file(path, NULL);
	char want[256];
	snprintf(want, sizeof(want), "tag:subnet-%s,option:classless-static-route,"
	         "169.254.169.254/32,10.233.7.2,0.0.0.0/0,10.233.7.1", sub);
	CHECK(opts && strstr(opts, want));
	snprintf(path, sizeof(path), "%s/dhcp/%s/pid", dir, net);
	_cleanup_free_ char *pid1 = kutil_read_file(path, NULL);
	CHECK(pid1 != NULL);
	/* again: same dnsmasq */
	nag_dhcp_agent.reconcile(NAG_CH_FULL);
	_cleanup_free_ char *pid2 = kutil_read_file(path, NULL);
	CHECK(pid1 && pid2 && !strcmp(pid1, pid2));

	/* the network goes: namespace, dnsmasq, DHCP port and state go */
	kdb_run(net_db, NULL, "DELETE FROM net_ip_allocation WHERE network_id = ?", "s", net);
	kdb_run(net_db, NULL, "DELETE FROM net_port WHERE network_id = ? AND device_owner <> "
	        "'network:dhcp'", "s", net);
	kdb_run(net_db, NULL, "DELETE FROM net_subnet WHERE network_id = ?", "s", net);
	kdb_run(net_db, NULL, "DELETE FROM net_network WHERE id = ?", "s", net);
	nag_dhcp_agent.reconcile(NAG_CH_FULL);
	CHECK(!nag_ns_exists(ns));
	CHECK(access(path, F_OK) != 0);
	if (pid1) {
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/%ld/cmdline", strtol(pid1, NULL, 10));
		_cleanup_free_ char *c = kutil_read_file(proc, NULL);
		CHECK(!c || !strstr(c, "dnsmasq"));
	}
	json_t *left = kdb_query_row(net_db, NULL, "SELECT id FROM net_port WHERE network_id = ?",
	                             "s", net);
	CHECK(left == NULL);
	json_decref(left);
	if (dp)
		nag_run(NAG_QUIET, NULL, "ip link del tap%.11s", kjson_str(dp, "id"));
	json_decref(dp);
	nag_l2_agent.reconcile(NAG_CH_FULL);
	CHECK(!nag_link_exists(br));
	nag_dhcp_agent.fini();
	nag_l2_agent.fini();
}

int main(void)
{
	int rc = ktest_run();
	if (net_db) {
		kdb_close(net_db);
		net_db = NULL;
	}
	if (kumo_conf) {
		kconf_free(kumo_conf);
		kumo_conf = NULL;
	}
	char *out = NULL;
	const char *rm[] = { "rm", "-rf", dir, NULL };
	nag_runv(NAG_QUIET, NULL, &out, rm);
	free(out);
	return rc;
}
