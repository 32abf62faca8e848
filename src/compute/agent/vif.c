/*
 * vif.c - an instance's network interfaces: what Nova's neutron API module
 * and os-vif (linuxbridge) do for the compute agent.
 *
 * Everything goes through the Network API with the service token, as Nova
 * talks to Neutron: ports are created with POST /v2.0/ports in the
 * instance's project (device_id = instance, device_owner
 * "compute:<az>", binding:host_id = this host), or requested ports are
 * bound with PUT.  Each port is recorded in cmp_instance_port as soon as it
 * exists, so a failure or a crash later on can always find and remove it;
 * as a last resort cmp_vif_deallocate() also asks the Network API for ports
 * carrying the instance as device_id.
 *
 * Bridges belong to the network agent: "l2_agent.<host>" ensure_network
 * answers the bridge name once it exists.  libvirt makes the tap
 * ("tap" + 11 chars of the port id) inside it; port_plugged tells the L2
 * agent to look (it then marks the port ACTIVE and applies the security
 * groups).  The rows double as the network info cache: cmp_vif_refresh()
 * rereads fixed and floating IPs for the server view's "addresses".
 */
#include <stdio.h>
#include <string.h>

#include "core/bus.h"
#include "core/client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "agent.h"

#define LOGC "compute-agent"
#define BUS_TIMEOUT_MS 30000

/* ---- small helpers ---- */

static void tap_name(char out[16], const char *port_id)
{
	snprintf(out, 16, "tap%.11s", port_id);
}

/* Fixed IPs of a port ({"fixed_ips": [{"subnet_id", "ip_address"}]}) in the
 * cache's form. New reference. */
static json_t *fixed_ips_view(const json_t *port)
{
	json_t *out = json_array();
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(port, "fixed_ips"), i, f) {
		const char *ip = kjson_str(f, "ip_address");
		if (!ip)
			continue;
		json_t *e = json_pack("{s:s,s:i,s:s}", "addr", ip, "version", strchr(ip, ':') ? 6 : 4,
		                      "type", "fixed");
		kjson_set_str_or_null(e, "subnet_id", kjson_str(f, "subnet_id"));
		json_array_append_new(out, e);
	}
	return out;
}

/* The network as the Network API shows it, or NULL (err set). New reference. */
static json_t *get_network(const char *network_id, char *err, size_t errlen)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2.0/networks/%s", network_id) < 0)
		return NULL;
	_cleanup_json_ json_t *out = NULL;
	long st = kclient_json("network", "GET", path, NULL, NULL, NULL, &out);
	json_t *net = json_object_get(out, "network");
	if (st != 200 || !json_is_object(net)) {
		snprintf(err, errlen, "Network %s could not be found (status %ld).", network_id, st);
		return NULL;
	}
	return json_incref(net);
}

/* Bridge of a network from this host's L2 agent; 0 or -1 (err set). */
static int ensure_bridge(const char *network_id, char *bridge, size_t len, char *err,
                         size_t errlen)
{
	if (!kumo_bus) {
		snprintf(err, errlen, "no message bus");
		return -1;
	}
	_cleanup_free_ char *target = NULL;
	if (asprintf(&target, "l2_agent.%s", cmp_host()) < 0)
		return -1;
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_json_ json_t *args = json_pack("{s:s}", "network_id", network_id);
	int rc = kbus_call(kumo_bus, target, "ensure_network", args, &reply, BUS_TIMEOUT_MS);
	const char *br = kjson_str(reply, "bridge");
	if (rc != 0 || !br) {
		const char *why = kjson_str(reply, "error");
		snprintf(err, errlen, "Binding failed for network %s: %s", network_id,
		         why ? why : rc == -2 ? "the network agent did not answer"
		                              : "no network agent on this host");
		return -1;
	}
	snprintf(bridge, len, "%s", br);
	return 0;
}

static int record_port(const char *instance_id, const json_t *port, const json_t *net,
                       bool preexisting, int ord)
{
	const char *pid = kjson_str(port, "id");
	char tap[16];
	tap_name(tap, pid);
	_cleanup_json_ json_t *ips = fixed_ips_view(port);
	_cleanup_free_ char *ips_text = kjson_dump(ips);
	json_int_t mtu = json_integer_value(json_object_get(net, "mtu"));
	kdb_run(cmp_db, NULL, "DELETE FROM cmp_instance_port WHERE instance_id = ? AND port_id = ?",
	        "ss", instance_id, pid);
	int rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance_port (instance_id, port_id, "
	                 "network_id, network_name, mac, ips, preexisting, ord, tap, bridge, mtu) "
	                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?)", "ssssssbisi", instance_id, pid,
	                 kjson_str(port, "network_id"), kjson_str(net, "name") ?: "",
	                 kjson_str(port, "mac_address") ?: "", ips_text, preexisting,
	                 (int64_t)ord, tap, (int64_t)(mtu > 0 ? mtu : 1500));
	return rc == KDB_DONE ? 0 : -1;
}

static void explain(char *err, size_t errlen, const char *what, long st, const json_t *out)
{
	const char *msg = kjson_str(json_object_get(out, "NeutronError"), "message");
	snprintf(err, errlen, "%s: %s", what,
	         msg ? msg : st == 0 ? "the Network API did not answer" : "unexpected answer");
}

/* ---- allocate ---- */

static json_t *vif_of(const json_t *port, const json_t *net, const char *bridge)
{
	char tap[16];
	tap_name(tap, kjson_str(port, "id"));
	json_int_t mtu = json_integer_value(json_object_get(net, "mtu"));
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "port_id", kjson_str(port, "id"),
	                 "mac", kjson_str(port, "mac_address") ?: "", "tap", tap, "bridge", bridge,
	                 "mtu", (json_int_t)(mtu > 0 ? mtu : 1500), "network_id",
	                 kjson_str(port, "network_id") ?: "");
}

/* One requested network: the port (created or bound), new reference. */
static json_t *make_port(const json_t *inst, const json_t *req, const char *owner,
                         char *err, size_t errlen)
{
	const char *id = kjson_str(inst, "id");
	const char *port_id = kjson_str(req, "port_id");
	_cleanup_json_ json_t *out = NULL;
	long st;
	if (port_id && *port_id) {
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "/v2.0/ports/%s", port_id) < 0)
			return NULL;
		_cleanup_json_ json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "port", "device_id", id,
		                                        "device_owner", owner, "binding:host_id",
		                                        cmp_host());
		st = kclient_json("network", "PUT", path, NULL, body, NULL, &out);
		if (st != 200) {
			explain(err, errlen, "Failed to bind port", st, out);
			return NULL;
		}
	} else {
		const char *network_id = kjson_str(req, "network_id");
		if (!network_id) {
			snprintf(err, errlen, "requested network without network_id or port_id");
			return NULL;
		}
		_cleanup_json_ json_t *net = get_network(network_id, err, errlen);
		if (!net)
			return NULL;
		json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "network_id", network_id,
		                      "project_id", kjson_str(inst, "project_id") ?: "",
		                      "device_id", id, "device_owner", owner,
		                      "binding:host_id", cmp_host(), "name", "");
		json_t *sgs = json_object_get(inst, "security_group_ids");
		if (!json_is_false(json_object_get(net, "port_security_enabled")) &&
		    json_is_array(sgs) && json_array_size(sgs) > 0)
			json_object_set(p, "security_groups", sgs);
		const char *fixed = kjson_str(req, "fixed_ip");
		if (fixed && *fixed)
			json_object_set_new(p, "fixed_ips",
			                    json_pack("[{s:s}]", "ip_address", fixed));
		_cleanup_json_ json_t *body = json_pack("{s:o}", "port", p);
		st = kclient_json("network", "POST", "/v2.0/ports", NULL, body, NULL, &out);
		if (st != 201) {
			explain(err, errlen, "Failed to create a port", st, out);
			return NULL;
		}
	}
	json_t *port = json_object_get(out, "port");
	if (!kjson_str(port, "id")) {
		snprintf(err, errlen, "the Network API answered a port without id");
		return NULL;
	}
	return json_incref(port);
}

json_t *cmp_vif_allocate(const json_t *inst, char *err, size_t errlen)
{
	const char *id = kjson_str(inst, "id");
	const char *az = kjson_str(inst, "availability_zone");
	if (!az || !*az)
		az = cmp_conf_str("default_availability_zone", "nova");
	_cleanup_free_ char *owner = NULL;
	if (asprintf(&owner, "compute:%s", az) < 0)
		return NULL;
	_cleanup_json_ json_t *vifs = json_array();
	size_t i;
	json_t *req;
	json_array_foreach(json_object_get(inst, "requested_networks"), i, req) {
		_cleanup_json_ json_t *port = make_port(inst, req, owner, err, errlen);
		if (!port)
			return NULL;
		const char *pid = kjson_str(port, "id");
		const char *network_id = kjson_str(port, "network_id");
		_cleanup_json_ json_t *net = network_id ? get_network(network_id, err, errlen) : NULL;
		bool pre = kjson_str(req, "port_id") && *kjson_str(req, "port_id");
		if (!net) {
			/* remember it all the same so the cleanup finds it */
			_cleanup_json_ json_t *none = json_object();
			record_port(id, port, none, pre, (int)i);
			return NULL;
		}
		if (record_port(id, port, net, pre, (int)i) != 0) {
			snprintf(err, errlen, "cannot record port %s", pid);
			return NULL;
		}
		char bridge[32];
		if (ensure_bridge(network_id, bridge, sizeof(bridge), err, errlen) != 0)
			return NULL;
		kdb_run(cmp_db, NULL, "UPDATE cmp_instance_port SET bridge = ? WHERE instance_id = ? "
		        "AND port_id = ?", "sss", bridge, id, pid);
		klog_info(LOGC, "instance %s: port %s on network %s (%s)", id, pid, network_id, bridge);
		json_array_append_new(vifs, vif_of(port, net, bridge));
	}
	return TAKE_PTR(vifs);
}

json_t *cmp_vif_list(const char *instance_id, char *err, size_t errlen)
{
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT port_id, network_id, mac, tap, "
	                                             "bridge, mtu FROM cmp_instance_port WHERE "
	                                             "instance_id = ? ORDER BY ord", "s",
	                                             instance_id);
	if (!rows) {
		snprintf(err, errlen, "cannot read the instance's ports");
		return NULL;
	}
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		char bridge[32];
		const char *network_id = kjson_str(row, "network_id");
		if (ensure_bridge(network_id, bridge, sizeof(bridge), err, errlen) != 0)
			return NULL;
		const char *cur = kjson_str(row, "bridge");
		if (!cur || strcmp(cur, bridge) != 0)
			kdb_run(cmp_db, NULL, "UPDATE cmp_instance_port SET bridge = ? WHERE "
			        "instance_id = ? AND port_id = ?", "sss", bridge, instance_id,
			        kjson_str(row, "port_id"));
		json_object_set_new(row, "bridge", json_string(bridge));
	}
	return TAKE_PTR(rows);
}

/* ---- deallocate ---- */

static bool in_array(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

void cmp_vif_deallocate(const json_t *inst)
{
	const char *id = kjson_str(inst, "id");
	if (!id)
		return;
	/* pre-existing ports: the rows say so, and so does the request */
	_cleanup_json_ json_t *pre = json_array();
	_cleanup_json_ json_t *todo = json_array();
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT port_id, preexisting FROM "
	                                             "cmp_instance_port WHERE instance_id = ?", "s",
	                                             id);
	size_t i;
	json_t *v;
	json_array_foreach(rows, i, v) {
		const char *pid = kjson_str(v, "port_id");
		if (json_integer_value(json_object_get(v, "preexisting")))
			json_array_append_new(pre, json_string(pid));
		if (!in_array(todo, pid))
			json_array_append_new(todo, json_string(pid));
	}
	json_array_foreach(json_object_get(inst, "requested_networks"), i, v) {
		const char *pid = kjson_str(v, "port_id");
		if (pid && *pid && !in_array(pre, pid))
			json_array_append_new(pre, json_string(pid));
	}
	_cleanup_free_ char *q = NULL;
	_cleanup_json_ json_t *found = NULL;
	if (asprintf(&q, "/v2.0/ports?device_id=%s", id) >= 0 &&
	    kclient_json("network", "GET", q, NULL, NULL, NULL, &found) == 200)
		json_array_foreach(json_object_get(found, "ports"), i, v) {
			const char *pid = kjson_str(v, "id");
			if (pid && !in_array(todo, pid))
				json_array_append_new(todo, json_string(pid));
		}
	json_array_foreach(todo, i, v) {
		const char *pid = json_string_value(v);
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "/v2.0/ports/%s", pid) < 0)
			continue;
		long st;
		if (in_array(pre, pid)) {
			_cleanup_json_ json_t *body = json_pack("{s:{s:s,s:s,s:s}}", "port", "device_id",
			                                        "", "device_owner", "",
			                                        "binding:host_id", "");
			st = kclient_json("network", "PUT", path, NULL, body, NULL, NULL);
			if (st != 200 && st != 404)
				klog_warn(LOGC, "instance %s: cannot unbind port %s (status %ld)", id, pid,
				          st);
		} else {
			st = kclient_json("network", "DELETE", path, NULL, NULL, NULL, NULL);
			if (st != 204 && st != 404)
				klog_warn(LOGC, "instance %s: cannot delete port %s (status %ld)", id, pid,
				          st);
		}
	}
	kdb_run(cmp_db, NULL, "DELETE FROM cmp_instance_port WHERE instance_id = ?", "s", id);
}

/* ---- network info cache ---- */

int cmp_vif_refresh(const char *instance_id)
{
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT port_id, mac, ips FROM "
	                                             "cmp_instance_port WHERE instance_id = ?", "s",
	                                             instance_id);
	if (!rows || json_array_size(rows) == 0)
		return 0;
	_cleanup_free_ char *q = NULL;
	_cleanup_json_ json_t *ports = NULL;
	if (asprintf(&q, "/v2.0/ports?device_id=%s", instance_id) < 0)
		return -1;
	if (kclient_json("network", "GET", q, NULL, NULL, NULL, &ports) != 200)
		return -1;
	size_t i, j;
	json_t *row, *port;
	json_array_foreach(rows, i, row) {
		const char *pid = kjson_str(row, "port_id");
		json_t *match = NULL;
		json_array_foreach(json_object_get(ports, "ports"), j, port)
			if (kjson_str(port, "id") && strcmp(kjson_str(port, "id"), pid) == 0)
				match = port;
		if (!match)
			continue;      /* gone or unbound: the row stays until the instance goes */
		_cleanup_json_ json_t *ips = fixed_ips_view(match);
		_cleanup_free_ char *fq = NULL;
		_cleanup_json_ json_t *fips = NULL;
		if (asprintf(&fq, "/v2.0/floatingips?port_id=%s", pid) < 0)
			return -1;
		if (kclient_json("network", "GET", fq, NULL, NULL, NULL, &fips) != 200)
			return -1;
		json_t *fip;
		json_array_foreach(json_object_get(fips, "floatingips"), j, fip) {
			const char *addr = kjson_str(fip, "floating_ip_address");
			if (addr)
				json_array_append_new(ips, json_pack("{s:s,s:i,s:s}", "addr", addr,
				                                     "version", strchr(addr, ':') ? 6 : 4,
				                                     "type", "floating"));
		}
		_cleanup_free_ char *text = kjson_dump(ips);
		const char *mac = kjson_str(match, "mac_address") ?: kjson_str(row, "mac");
		const char *old = kjson_str(row, "ips");
		_cleanup_json_ json_t *oldj = old ? json_loads(old, 0, NULL) : NULL;
		if (oldj && json_equal(oldj, ips) && !strcmp(mac, kjson_str(row, "mac") ?: ""))
			continue;
		kdb_run(cmp_db, NULL, "UPDATE cmp_instance_port SET ips = ?, mac = ? WHERE "
		        "instance_id = ? AND port_id = ?", "ssss", text, mac, instance_id, pid);
	}
	return 0;
}

void cmp_vif_plugged(void)
{
	if (!kumo_bus)
		return;
	_cleanup_free_ char *target = NULL;
	_cleanup_json_ json_t *args = json_object();
	if (asprintf(&target, "l2_agent.%s", cmp_host()) >= 0)
		kbus_cast(kumo_bus, target, "port_plugged", args);
}
