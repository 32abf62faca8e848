/*
 * test_net_l3.c - the L3 agent (src/network/agent/l3.c) against the real
 * kernel: rows written straight into a SQLite network database, one
 * reconcile pass, then what `ip` and `nft` show inside the router's
 * namespace.  Needs root (skipped otherwise, exit 77); everything it makes
 * carries fresh UUIDs and is removed at the end.
 */
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

static char dir[] = "/tmp/kumo-l3-XXXXXX";
static char rid[37], ext_net[37], ten_net[37], ext_sub[37], ten_sub[37];
static char if_port[37], gw_port[37], fip_port[37], vm_port[37], fip_id[37];
static char ns[64];

/* Output of a shell command (for checks only; names are ours). */
static char *sh(const char *fmt, ...) _printf_(1, 2);
static char *sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	FILE *f = popen(cmd, "r");
	free(cmd);
	char *buf = calloc(1, 65536);
	size_t n = f ? fread(buf, 1, 65535, f) : 0;
	buf[n] = '\0';
	if (f)
		pclose(f);
	return buf;
}

static bool out_has(char *out, const char *needle)
{
	bool r = strstr(out, needle) != NULL;
	free(out);
	return r;
}

static void insert_port(const char *id, const char *net, const char *sub, const char *mac,
                        const char *ip, const char *owner, const char *device)
{
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_port (id, project_id, network_id, "
	                  "mac_address, device_id, device_owner) VALUES (?, 'p', ?, ?, ?, ?)",
	                  "sssss", id, net, mac, device, owner), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_ip_allocation (port_id, subnet_id, "
	                  "network_id, ip_address) VALUES (?, ?, ?, ?)", "ssss", id, sub, net, ip),
	          KDB_DONE);
}

static void setup(void)
{
	CHECK(mkdtemp(dir) != NULL);
	char text[512], err[256];
	snprintf(text, sizeof(text), "[DEFAULT]\nstate_dir = %s\n[network]\n"
	         "connection = sqlite:///%s/network.db\n", dir, dir);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	CHECK(kumo_conf != NULL);
	char url[300];
	snprintf(url, sizeof(url), "sqlite:///%s/network.db", dir);
	net_db = kdb_open(url, err, sizeof(err));
	CHECK(net_db != NULL);
	CHECK_INT(net_db_sync(), 0);

	char *ids[] = { rid, ext_net, ten_net, ext_sub, ten_sub, if_port, gw_port, fip_port,
	                vm_port, fip_id };
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		kutil_uuid(ids[i]);
	snprintf(ns, sizeof(ns), "qrouter-%s", rid);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_network (id, project_id, router_external, "
	                  "network_type, mtu) VALUES (?, 'p', 1, 'local', 1500), "
	                  "(?, 'p', 0, 'local', 1450)", "ss", ext_net, ten_net), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_subnet (id, project_id, network_id, "
	                  "ip_version, cidr, gateway_ip) VALUES (?, 'p', ?, 4, '203.0.113.0/24', "
	                  "'203.0.113.1'), (?, 'p', ?, 4, '10.66.0.0/24', '10.66.0.1')", "ssss",
	                  ext_sub, ext_net, ten_sub, ten_net), KDB_DONE);
	insert_port(if_port, ten_net, ten_sub, "fa:16:3e:66:00:01", "10.66.0.1",
	            "network:router_interface", rid);
	insert_port(gw_port, ext_net, ext_sub, "fa:16:3e:66:00:02", "203.0.113.5",
	            "network:router_gateway", rid);
	insert_port(fip_port, ext_net, ext_sub, "fa:16:3e:66:00:03", "203.0.113.7",
	            "network:floatingip", fip_id);
	insert_port(vm_port, ten_net, ten_sub, "fa:16:3e:66:00:04", "10.66.0.10", "compute:nova",
	            "vm");
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_router (id, project_id, gw_network_id, "
	                  "gw_port_id, enable_snat) VALUES (?, 'p', ?, ?, 1)", "sss", rid, ext_net,
	                  gw_port), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_floatingip (id, project_id, "
	                  "floating_network_id, floating_port_id, floating_ip_address, port_id, "
	                  "fixed_ip_address, router_id) VALUES (?, 'p', ?, ?, '203.0.113.7', ?, "
	                  "'10.66.0.10', ?)", "sssss", fip_id, ext_net, fip_port, vm_port, rid),
	          KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_router_route (router_id, destination, "
	                  "nexthop) VALUES (?, '10.99.0.0/24', '10.66.0.20')", "s", rid), KDB_DONE);
}

static const char *fip_status(void)
{
	static char st[16];
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL,
		"SELECT status FROM net_floatingip WHERE id = ?", "s", fip_id);
	snprintf(st, sizeof(st), "%s", row ? kjson_str(row, "status") : "?");
	return st;
}

static char qr[16], qg[16], qr_tap[16], qg_tap[16];

KTEST(router_namespace_made_from_the_database)
{
	setup();
	nag_devname(qr, "qr-", if_port);
	nag_devname(qg, "qg-", gw_port);
	nag_devname(qr_tap, "tap", if_port);
	nag_devname(qg_tap, "tap", gw_port);
	CHECK_INT(nag_l3_agent.init(), 0);
	nag_l3_agent.reconcile(NAG_CH_FULL);

	CHECK(nag_ns_exists(ns));
	char marker[300];
	snprintf(marker, sizeof(marker), "%s/l3-agent/%s", dir, ns);
	CHECK(access(marker, F_OK) == 0);
	char *out = sh("ip -n %s -o addr show dev %s", ns, qr);
	CHECK(strstr(out, "10.66.0.1/24") != NULL);
	free(out);
	CHECK(out_has(sh("ip -n %s -o link show dev %s", ns, qr), "fa:16:3e:66:00:01"));
	CHECK(out_has(sh("ip -n %s -o link show dev %s", ns, qr), "mtu 1450"));
	CHECK(out_has(sh("ip -n %s -o addr show dev %s", ns, qg), "203.0.113.5/24"));
	CHECK(out_has(sh("ip -n %s -o addr show dev %s", ns, qg), "203.0.113.7/32"));
	char br[16];
	nag_bridge_name(br, ten_net);
	char *m = nag_link_master(qr_tap);
	CHECK_STR(m, br);
	free(m);
	nag_bridge_name(br, ext_net);
	m = nag_link_master(qg_tap);
	CHECK_STR(m, br);
	free(m);
	CHECK(out_has(sh("ip netns exec %s cat /proc/sys/net/ipv4/ip_forward", ns), "1"));
	CHECK(out_has(sh("ip -n %s route show default", ns), "via 203.0.113.1 dev qg-"));
	CHECK(out_has(sh("ip -n %s route show proto static", ns), "10.99.0.0/24 via 10.66.0.20"));
	out = sh("ip netns exec %s nft list table ip kumo_l3", ns);
	CHECK(strstr(out, "ip daddr 203.0.113.7 dnat to 10.66.0.10") != NULL);
	CHECK(strstr(out, "ip saddr 10.66.0.10 snat to 203.0.113.7") != NULL);
	char want[128];
	snprintf(want, sizeof(want), "oifname \"%s\" snat to 203.0.113.5", qg);
	CHECK(strstr(out, want) != NULL);
	free(out);
	CHECK_STR(fip_status(), "ACTIVE");
}

KTEST(second_pass_changes_nothing)
{
	char *before = sh("ip -n %s -o link show; ip -n %s -o addr", ns, ns);
	nag_l3_agent.reconcile(NAG_CH_FULL);
	nag_l3_agent.reconcile(NAG_CH_ROUTER);
	char *after = sh("ip -n %s -o link show; ip -n %s -o addr", ns, ns);
	CHECK_STR(after, before);     /* same ifindexes: nothing was re-created */
	free(before);
	free(after);
}

KTEST(floating_ip_and_route_follow_the_database)
{
	CHECK_INT(kdb_run(net_db, NULL, "UPDATE net_floatingip SET port_id = NULL, "
	                  "fixed_ip_address = NULL, router_id = NULL WHERE id = ?", "s", fip_id),
	          KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "DELETE FROM net_router_route WHERE router_id = ?", "s",
	                  rid), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_router_route (router_id, destination, "
	                  "nexthop) VALUES (?, '10.98.0.0/16', '10.66.0.21')", "s", rid), KDB_DONE);
	nag_l3_agent.reconcile(NAG_CH_FLOATINGIP | NAG_CH_ROUTER);
	CHECK(!out_has(sh("ip -n %s -o addr show dev %s", ns, qg), "203.0.113.7"));
	CHECK(out_has(sh("ip -n %s -o addr show dev %s", ns, qg), "203.0.113.5/24"));
	CHECK(!out_has(sh("ip netns exec %s nft list table ip kumo_l3", ns), "dnat to"));
	CHECK(!out_has(sh("ip -n %s route show proto static", ns), "10.99.0.0"));
	CHECK(out_has(sh("ip -n %s route show proto static", ns), "10.98.0.0/16 via 10.66.0.21"));
	CHECK_STR(fip_status(), "DOWN");
	/* snat off: only the floating/hairpin rules stay */
	CHECK_INT(kdb_run(net_db, NULL, "UPDATE net_router SET enable_snat = 0 WHERE id = ?", "s",
	                  rid), KDB_DONE);
	nag_l3_agent.reconcile(NAG_CH_ROUTER);
	char want[128];
	snprintf(want, sizeof(want), "oifname \"%s\" snat", qg);
	CHECK(!out_has(sh("ip netns exec %s nft list table ip kumo_l3", ns), want));
}

KTEST(repairs_what_was_broken_by_hand)
{
	/* a device deleted and an address removed behind the agent's back */
	char *o = sh("ip -n %s link del %s; ip -n %s addr flush dev %s", ns, qr, ns, qg);
	free(o);
	nag_l3_agent.reconcile(NAG_CH_FULL);
	CHECK(out_has(sh("ip -n %s -o addr show dev %s", ns, qr), "10.66.0.1/24"));
	CHECK(out_has(sh("ip -n %s -o addr show dev %s", ns, qg), "203.0.113.5/24"));
	CHECK(out_has(sh("ip -n %s route show default", ns), "via 203.0.113.1"));
}

KTEST(gateway_cleared_then_router_deleted)
{
	CHECK_INT(kdb_run(net_db, NULL, "UPDATE net_router SET gw_port_id = NULL, gw_network_id = "
	                  "NULL WHERE id = ?", "s", rid), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "DELETE FROM net_port WHERE id = ?", "s", gw_port),
	          KDB_DONE);
	nag_l3_agent.reconcile(NAG_CH_ROUTER);
	CHECK(nag_ns_exists(ns));
	CHECK(!nag_link_exists(qg_tap));
	CHECK(out_has(sh("ip -n %s -o link", ns), qr));
	CHECK(!out_has(sh("ip -n %s route show default", ns), "default"));

	CHECK_INT(kdb_run(net_db, NULL, "DELETE FROM net_router WHERE id = ?", "s", rid), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "DELETE FROM net_port WHERE id = ?", "s", if_port),
	          KDB_DONE);
	nag_l3_agent.reconcile(NAG_CH_ROUTER);
	CHECK(!nag_ns_exists(ns));
	CHECK(!nag_link_exists(qr_tap));
	char marker[300];
	snprintf(marker, sizeof(marker), "%s/l3-agent/%s", dir, ns);
	CHECK(access(marker, F_OK) != 0);
}

KTEST(foreign_namespaces_are_left_alone)
{
	/* a qrouter namespace of another cloud: no marker, not in our db */
	char other[64], id[37];
	kutil_uuid(id);
	snprintf(other, sizeof(other), "qrouter-%s", id);
	CHECK_INT(nag_ns_ensure(other), 0);
	nag_l3_agent.reconcile(NAG_CH_FULL);
	CHECK(nag_ns_exists(other));
	nag_ns_delete(other);
}

static void teardown(void)
{
	nag_l3_agent.fini();
	if (nag_ns_exists(ns))
		nag_ns_delete(ns);
	char br[16];
	nag_bridge_name(br, ten_net);
	if (nag_link_exists(br))
		nag_ip(0, NULL, "link del %s", br);
	nag_bridge_name(br, ext_net);
	if (nag_link_exists(br))
		nag_ip(0, NULL, "link del %s", br);
	kdb_close(net_db);
	net_db = NULL;
	kconf_free(kumo_conf);
	kumo_conf = NULL;
	char *o = sh("rm -rf %s", dir);
	free(o);
}

int main(void)
{
	if (geteuid() != 0 || !nag_tool("ip") || !nag_tool("nft")) {
		fprintf(stderr, "skipped: needs root, ip and nft\n");
		return 77;
	}
	int rc = ktest_run();
	teardown();
	return rc;
}
