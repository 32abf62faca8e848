/*
 * test_net_ports.c - the port and security group functions the rest of the
 * Network service calls without an HTTP request (src/network/ports.h), on a
 * real SQLite network database: ports made for the agents (DHCP) and for the
 * L3 code, their errors as Neutron words them, status and binding changes,
 * deletion by device, and the per-project default security group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/db.h"
#include "core/json.h"
#include "core/util.h"
#include "ktest.h"
#include "network/network.h"
#include "network/ports.h"

static char dir[] = "/tmp/kumo-ports-XXXXXX";
static char net[37], sub[37], net_nosec[37];

static void setup(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	CHECK(mkdtemp(dir) != NULL);
	char text[512], err[256], url[300];
	snprintf(text, sizeof(text), "[DEFAULT]\nstate_dir = %s\n", dir);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	CHECK(kumo_conf != NULL);
	snprintf(url, sizeof(url), "sqlite:///%s/network.db", dir);
	net_db = kdb_open(url, err, sizeof(err));
	CHECK(net_db != NULL);
	CHECK_INT(net_db_sync(), 0);
	CHECK_INT(net_policy_init(), 0);
	kutil_uuid(net);
	kutil_uuid(sub);
	kutil_uuid(net_nosec);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_network (id, project_id, name) VALUES "
	                  "(?, 'proj', 'n')", "s", net), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_network (id, project_id, name, "
	                  "port_security_enabled) VALUES (?, 'proj', 'open', 0)", "s", net_nosec),
	          KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_subnet (id, project_id, network_id, "
	                  "ip_version, cidr, gateway_ip) VALUES (?, 'proj', ?, 4, '10.7.0.0/29', "
	                  "'10.7.0.1')", "ss", sub, net), KDB_DONE);
	CHECK_INT(kdb_run(net_db, NULL, "INSERT INTO net_allocation_pool (subnet_id, first_ip, "
	                  "last_ip) VALUES (?, '10.7.0.2', '10.7.0.4')", "s", sub), KDB_DONE);
}

static int64_t count(const char *sql, const char *arg)
{
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, sql, "s", arg);
	return row ? json_integer_value(json_object_get(row, "n")) : -1;
}

KTEST(agent_port_create_and_change)
{
	setup();
	char err[256] = "";
	int status = 0;
	json_t *p = net_port_create_agent("proj", net, "dhcp-1", "network:dhcp", "host-a", NULL,
	                                  &status, err, sizeof(err));
	CHECK(p != NULL);
	if (!p)
		return;
	const char *id = kjson_str(p, "id");
	CHECK_STR(kjson_str(p, "device_owner"), "network:dhcp");
	CHECK_STR(kjson_str(p, "status"), "DOWN");
	CHECK_STR(kjson_str(p, "binding:host_id"), "host-a");
	CHECK_STR(kjson_str(p, "binding:vif_type"), "bridge");
	CHECK(json_is_true(json_object_get(json_object_get(p, "binding:vif_details"),
	                                   "port_filter")));
	CHECK_INT(strncmp(kjson_str(p, "mac_address"), "fa:16:3e:", 9), 0);
	json_t *ips = json_object_get(p, "fixed_ips");
	CHECK_INT(json_array_size(ips), 1);
	CHECK_STR(kjson_str(json_array_get(ips, 0), "ip_address"), "10.7.0.2");
	/* trusted owner: no security group, even with port security */
	CHECK_INT(json_array_size(json_object_get(p, "security_groups")), 0);
	CHECK(json_is_true(json_object_get(p, "port_security_enabled")));
	int64_t rev = json_integer_value(json_object_get(p, "revision_number"));

	CHECK_INT(net_port_set_status(id, "ACTIVE"), 0);
	CHECK_INT(net_port_set_status(id, "ACTIVE"), 0);
	CHECK_INT(net_port_set_host(id, ""), 0);
	kpool *pool = kpool_new();
	json_t *q = net_port_get(pool, id);
	CHECK(q != NULL);
	CHECK_STR(kjson_str(q, "status"), "ACTIVE");
	CHECK_STR(kjson_str(q, "binding:vif_type"), "unbound");
	CHECK_INT(json_object_size(json_object_get(q, "binding:vif_details")), 0);
	CHECK_INT(json_integer_value(json_object_get(q, "revision_number")), rev + 2);
	CHECK(net_port_get(pool, "no-such-port") == NULL);
	CHECK_INT(net_port_set_status("no-such-port", "ACTIVE"), -1);
	CHECK_INT(net_port_set_host("no-such-port", "x"), -1);
	CHECK_INT(net_port_set_device("no-such-port", "x", "y"), -1);
	kpool_free(pool);

	json_t *all = net_port_list_internal(net, "network:dhcp");
	CHECK_INT(json_array_size(all), 1);
	json_decref(all);
	CHECK_INT(net_port_delete_internal(id), 0);
	CHECK_INT(count("SELECT COUNT(*) AS n FROM net_ip_allocation WHERE port_id = ?", id), 0);
	CHECK_INT(net_port_delete_internal(id), 0);   /* gone already: fine */
	json_decref(p);
}

KTEST(agent_port_errors)
{
	setup();
	char err[256] = "";
	int status = 0;
	char nonet[37];
	kutil_uuid(nonet);
	json_t *p = net_port_create_agent("proj", nonet, "d", "network:dhcp", NULL, NULL, &status,
	                                  err, sizeof(err));
	CHECK(p == NULL);
	CHECK_INT(status, 404);
	char want[128];
	snprintf(want, sizeof(want), "Network %s could not be found.", nonet);
	CHECK_STR(err, want);

	json_t *fixed = json_pack("[{s:s,s:s}]", "subnet_id", sub, "ip_address", "10.7.0.3");
	p = net_port_create_agent("proj", net, "d1", "network:dhcp", NULL, fixed, &status, err,
	                          sizeof(err));
	CHECK(p != NULL);
	json_t *again = net_port_create_agent("proj", net, "d2", "network:dhcp", NULL, fixed,
	                                      &status, err, sizeof(err));
	CHECK(again == NULL);
	CHECK_INT(status, 409);
	CHECK(strstr(err, "IP address 10.7.0.3 already allocated in subnet") != NULL);
	/* nothing of the failed port is left */
	CHECK_INT(count("SELECT COUNT(*) AS n FROM net_port WHERE device_id = ?", "d2"), 0);
	json_decref(fixed);
	json_decref(p);
	CHECK_INT(net_port_delete_by_device("d1", "network:router_interface"), 0);
	CHECK_INT(net_port_delete_by_device("d1", NULL), 1);
	CHECK_INT(count("SELECT COUNT(*) AS n FROM net_port WHERE device_id = ?", "d1"), 0);
}

KTEST(pool_exhaustion_and_device_change)
{
	setup();
	char err[256] = "";
	int status = 0;
	json_t *ports[3];
	for (int i = 0; i < 3; i++) {
		ports[i] = net_port_create_agent("proj", net, "fip", "network:floatingip", NULL,
		                                 NULL, &status, err, sizeof(err));
		CHECK(ports[i] != NULL);
	}
	json_t *none = net_port_create_agent("proj", net, "fip", "network:floatingip", NULL, NULL,
	                                     &status, err, sizeof(err));
	CHECK(none == NULL);
	CHECK_INT(status, 409);
	char want[128];
	snprintf(want, sizeof(want), "No more IP addresses available on network %s.", net);
	CHECK_STR(err, want);
	const char *id = kjson_str(ports[0], "id");
	CHECK_INT(net_port_set_device(id, "router-1", "network:router_interface"), 0);
	kpool *pool = kpool_new();
	json_t *q = net_port_get(pool, id);
	CHECK_STR(kjson_str(q, "device_id"), "router-1");
	CHECK_STR(kjson_str(q, "device_owner"), "network:router_interface");
	kpool_free(pool);
	CHECK_INT(net_port_delete_by_device("fip", NULL), 2);
	CHECK_INT(net_port_delete_by_device("router-1", NULL), 1);
	for (int i = 0; i < 3; i++)
		json_decref(ports[i]);
}

KTEST(default_security_group)
{
	setup();
	const char *id = NULL;
	CHECK(net_sg_ensure_default(NULL, "proj-sg", &id));
	CHECK(id == NULL);   /* no pool to put it in without a request */
	CHECK(net_sg_ensure_default(NULL, "proj-sg", NULL));
	CHECK_INT(count("SELECT COUNT(*) AS n FROM net_security_group WHERE project_id = ?",
	                "proj-sg"), 1);
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, "SELECT security_group_id FROM "
	                                           "net_default_security_group WHERE project_id "
	                                           "= ?", "s", "proj-sg");
	CHECK(row != NULL);
	const char *sg = kjson_str(row, "security_group_id");
	CHECK_INT(count("SELECT COUNT(*) AS n FROM net_security_group_rule WHERE "
	                "security_group_id = ?", sg), 4);
	CHECK_INT(count("SELECT COUNT(*) AS n FROM net_security_group_rule WHERE "
	                "remote_group_id = ?", sg), 2);
	CHECK(net_sg_ensure_default(NULL, "", NULL));
}

KTEST(port_on_network_without_port_security)
{
	setup();
	char err[256] = "";
	int status = 0;
	json_t *p = net_port_create_agent("proj", net_nosec, "x", "network:dhcp", NULL, NULL,
	                                  &status, err, sizeof(err));
	CHECK(p != NULL);
	CHECK(json_is_false(json_object_get(p, "port_security_enabled")));
	CHECK_INT(json_array_size(json_object_get(p, "fixed_ips")), 0);
	if (p)
		CHECK_INT(net_port_delete_internal(kjson_str(p, "id")), 0);
	json_decref(p);
}

KTEST(teardown)
{
	kpolicy_free(net_policy);
	net_policy = NULL;
	kdb_close(net_db);
	net_db = NULL;
	kconf_free(kumo_conf);
	kumo_conf = NULL;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

int main(void)
{
	return ktest_run();
}
