/*
 * floatingips.c - Neutron's floating IPs (the "router" extension's second
 * resource, plus "fip-port-details" and "floatingip-pools"): CRUD and the
 * association of a floating IP with a port's fixed IP.
 *
 * A floating IP is a row of net_floatingip plus a port on the external
 * network (device_owner network:floatingip, device_id the floating IP's id,
 * project '' and status N/A, as Neutron hides it from users) that holds
 * the address, so external addresses are allocated by the same IPAM as
 * everything else: the requested floating_ip_address / subnet_id become
 * the port's fixed_ips, otherwise the first free address of an IPv4 subnet
 * of the network is taken.
 *
 * Association follows neutron/db/l3_db.py: the internal port must be
 * visible to the caller and belong to the floating IP's project (unless
 * admin), the fixed IP must be one IPv4 address of the port (given, or the
 * only one), and a router must connect the two: one with an interface on
 * the fixed IP's subnet and its gateway on the floating network (the one
 * whose interface is the subnet's gateway wins) - else 404
 * ExternalGatewayForFloatingIPNotFound.  One floating IP per fixed IP and
 * external network (409 FloatingIPPortAlreadyAssociated).  "port_id": null
 * disassociates; an update without port_id keeps the association.  The
 * status is ACTIVE while associated and DOWN otherwise (the L3 agent makes
 * the addresses real from these rows).
 *
 * Every change is one transaction with its port, so nothing is left half
 * made, and ends with net_notify("floatingip", id).
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "common.h"
#include "ipam.h"
#include "l3.h"
#include "ports.h"

#define FIP_COLS "id, project_id, floating_network_id, floating_port_id, floating_ip_address, " \
	"port_id, fixed_ip_address, router_id, status, description, created_at, updated_at, " \
	"revision_number"
#define PORT_DETAIL_COLS "id, name, network_id, mac_address, admin_state_up, status, " \
	"device_id, device_owner"

/* Neutron's messages (neutron/db/l3_db.py, neutron-lib exceptions) */
#define MSG_NO_V4 "Cannot add floating IP to port %s that has no fixed IPv4 addresses"
#define MSG_MULTI_V4 "Port %s has multiple fixed IPv4 addresses.  Must provide a specific " \
	"IPv4 address when assigning a floating IP"
#define MSG_ALREADY "Cannot associate floating IP %s (%s) with port %s using fixed IP %s, as " \
	"that fixed IP already has a floating IP on external network %s."

static void internal_error(kreq *r)
{
	kresp_error(r, 500, "Request Failed: internal server error while processing your "
	            "request.");
}

static bool run(kreq *r, int rc)
{
	if (rc == KDB_DONE)
		return true;
	internal_error(r);
	return false;
}

static int ip_version(const char *ip)
{
	net_ip p;
	return ip && net_ip_parse(ip, &p) ? p.version : 0;
}

/* ------------------------------------------------------------------------ */
/* Views */

static json_t *port_details(json_t *port_row)
{
	if (!port_row)
		return json_null();
	json_t *d = json_deep_copy(port_row);
	json_object_del(d, "id");
	net_bools(d, "admin_state_up", NULL);
	return d;
}

/* Finish a row into the API view (in place); port_row may be NULL. */
static void fip_finish(json_t *row, json_t *port_row)
{
	json_object_del(row, "floating_port_id");
	json_object_set_new(row, "port_details", kjson_str(row, "port_id") ?
	                    port_details(port_row) : json_null());
}

/* The API view of one floating IP (no visibility check; new reference). */
static json_t *fip_get(const char *id)
{
	json_t *row = kdb_query_row(net_db, NULL, "SELECT " FIP_COLS " FROM net_floatingip "
	                            "WHERE id = ?", "s", id);
	if (!row)
		return NULL;
	_cleanup_json_ json_t *port = NULL;
	const char *pid = kjson_str(row, "port_id");
	if (pid)
		port = kdb_query_row(net_db, NULL, "SELECT " PORT_DETAIL_COLS " FROM net_port "
		                     "WHERE id = ?", "s", pid);
	fip_finish(row, port);
	net_std_view(row, "floatingips");
	return row;
}

/* The raw row as r may see it (pool), or NULL after 404 FloatingIPNotFound. */
static json_t *fip_lookup(kreq *r, const char *id)
{
	json_t *row = id ? kdb_query_row(net_db, NULL, "SELECT " FIP_COLS " FROM net_floatingip "
	                                 "WHERE id = ?", "s", id) : NULL;
	if (row)
		kpool_json(r->pool, row);
	if (!row || !net_visible(r, kjson_str(row, "project_id"), false)) {
		net_error(r, 404, "FloatingIPNotFound", "Floating IP %s could not be found",
		          id ? id : "");
		return NULL;
	}
	return row;
}

/* The policy target: the view plus the body's changes. */
static json_t *target_of(kreq *r, const json_t *base, const json_t *body)
{
	json_t *t = json_deep_copy(base ? base : body);
	if (base) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)body, k, v)
			json_object_set(t, k, v);
		json_object_set(t, "project_id", json_object_get(base, "project_id"));
	}
	json_object_set(t, "tenant_id", json_object_get(t, "project_id"));
	return kpool_json(r->pool, t);
}

/* ------------------------------------------------------------------------ */
/* Association */

typedef struct fip_assoc {
	const char *port_id, *fixed_ip, *router_id;   /* all NULL: not associated */
} fip_assoc;

/*
 * Neutron's get_router_for_floatingip: routers with an interface on
 * `subnet` (of the port's network) and their gateway on the external
 * network; the one whose interface address is the subnet's gateway wins.
 */
static const char *router_for(kreq *r, const char *port_id, const char *network_id,
                              const char *subnet_id, const char *ext_net)
{
	_cleanup_json_ json_t *rows = kdb_query_json(net_db,
		"SELECT DISTINCT rp.device_id AS router_id, a.ip_address FROM net_port rp "
		"JOIN net_ip_allocation a ON a.port_id = rp.id "
		"JOIN net_port gw ON gw.device_id = rp.device_id "
		"WHERE rp.network_id = ? AND rp.device_owner = ? AND a.subnet_id = ? "
		"AND gw.network_id = ? AND gw.device_owner = ? "
		"ORDER BY router_id", "sssss", network_id, NET_OWNER_ROUTER_INTF, subnet_id,
		ext_net, NET_OWNER_ROUTER_GW);
	_cleanup_json_ json_t *sub = net_l3_subnet_row(subnet_id);
	const char *gw = kjson_str(sub, "gateway_ip");
	const char *first = NULL;
	size_t i;
	json_t *e;
	json_array_foreach(rows, i, e) {
		const char *rid = kjson_str(e, "router_id");
		if (gw && strcmp(kjson_str(e, "ip_address"), gw) == 0)
			return kpool_strdup(r->pool, rid);
		if (!first)
			first = rid;
	}
	if (first)
		return kpool_strdup(r->pool, first);
	net_error(r, 404, "ExternalGatewayForFloatingIPNotFound", "External network %s is not "
	          "reachable from subnet %s.  Therefore, cannot associate Port %s with a "
	          "Floating IP.", ext_net, subnet_id, port_id);
	return NULL;
}

/* Neutron's _internal_fip_assoc_data + the router: 400/404 answered. */
static bool assoc_data(kreq *r, const json_t *fip, const char *port_id, const char *fixed,
                       fip_assoc *out)
{
	json_t *port = net_port_get(r->pool, port_id);
	if (!port || !net_visible(r, kjson_str(port, "project_id"), false)) {
		net_error(r, 404, "PortNotFound", "Port %s could not be found.", port_id);
		return false;
	}
	const char *pproj = kjson_str(port, "project_id"), *fproj = kjson_str(fip, "project_id");
	if ((!pproj || !fproj || strcmp(pproj, fproj) != 0) && !net_is_admin(r))
		return net_l3_bad_request(r, "floatingip", "Cannot process floating IP association "
		                          "with Port %s, since that port is owned by a different "
		                          "project", port_id);
	const char *owner = kjson_str(port, "device_owner");
	if (owner && strcmp(owner, "network:dhcp") == 0)
		return net_l3_bad_request(r, "floatingip", "Port %s is unable to be assigned a "
		                          "floating IP", port_id);
	json_t *ips = json_object_get(port, "fixed_ips");
	const char *subnet = NULL, *addr = NULL;
	size_t i;
	json_t *ip;
	if (fixed) {
		if (ip_version(fixed) != 4)
			return net_l3_bad_request(r, "floatingip", "Cannot process floating IP "
			                          "association with %s, since that is not an IPv4 "
			                          "address", fixed);
		json_array_foreach(ips, i, ip)
			if (strcmp(kjson_str(ip, "ip_address"), fixed) == 0) {
				subnet = kjson_str(ip, "subnet_id");
				addr = kjson_str(ip, "ip_address");
			}
		if (!subnet)
			return net_l3_bad_request(r, "floatingip", "Port %s does not have fixed "
			                          "ip %s", port_id, fixed);
	} else {
		int n = 0;
		json_array_foreach(ips, i, ip)
			if (ip_version(kjson_str(ip, "ip_address")) == 4) {
				if (!n++) {
					subnet = kjson_str(ip, "subnet_id");
					addr = kjson_str(ip, "ip_address");
				}
			}
		if (n == 0)
			return net_l3_bad_request(r, "floatingip", MSG_NO_V4, port_id);
		if (n > 1)
			return net_l3_bad_request(r, "floatingip", MSG_MULTI_V4, port_id);
	}
	const char *router = router_for(r, port_id, kjson_str(port, "network_id"), subnet,
	                                kjson_str(fip, "floating_network_id"));
	if (!router)
		return false;
	out->port_id = kpool_strdup(r->pool, port_id);
	out->fixed_ip = kpool_strdup(r->pool, addr);
	out->router_id = router;
	return true;
}

/*
 * Neutron's _check_and_get_fip_assoc: what the floating IP `fip` (its row:
 * id, project_id, floating_network_id, port_id, fixed_ip_address,
 * router_id) becomes with the request `req`.
 */
static bool compute_assoc(kreq *r, const json_t *fip, const json_t *req, fip_assoc *out)
{
	memset(out, 0, sizeof(*out));
	json_t *pv = json_object_get(req, "port_id");
	const char *port = json_string_value(pv);
	const char *fixed = json_string_value(json_object_get(req, "fixed_ip_address"));
	const char *cur_port = kjson_str(fip, "port_id");
	if (fixed && !port)
		return net_l3_bad_request(r, "floatingip", "fixed_ip_address cannot be specified "
		                          "without a port_id");
	if (port) {
		if (!assoc_data(r, fip, port, fixed, out))
			return false;
		if (cur_port && strcmp(cur_port, port) == 0)
			return true;      /* the same port: no conflict check */
		const char *ext = kjson_str(fip, "floating_network_id");
		_cleanup_json_ json_t *dup =
			kdb_query_row(net_db, NULL, "SELECT id FROM net_floatingip WHERE "
			              "port_id = ? AND floating_network_id = ? AND "
			              "fixed_ip_address = ? AND id <> ?", "ssss", port, ext,
			              out->fixed_ip, kjson_str(fip, "id"));
		if (dup) {
			net_error(r, 409, "FloatingIPPortAlreadyAssociated", MSG_ALREADY,
			          kjson_str(fip, "floating_ip_address"), kjson_str(fip, "id"), port,
			          out->fixed_ip, ext);
			return false;
		}
		return true;
	}
	if (!pv && cur_port) {
		/* no port_id in the request: the association stays */
		out->port_id = kpool_strdup(r->pool, cur_port);
		out->fixed_ip = kpool_strdup(r->pool, kjson_str(fip, "fixed_ip_address"));
		out->router_id = kpool_strdup(r->pool, kjson_str(fip, "router_id"));
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Handlers */

static const net_attr fip_attrs[] = {
	{ "id", NET_A_UUID, 0, 0, 0, 0, NULL },
	{ "floating_ip_address", NET_A_IP, NET_A_POST | NET_A_NULL, 0, 0, 0, NULL },
	{ "subnet_id", NET_A_UUID, NET_A_POST | NET_A_NULL, 0, 0, 0, NULL },
	{ "floating_network_id", NET_A_UUID, NET_A_POST | NET_A_REQUIRED, 0, 0, 0, NULL },
	{ "router_id", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "port_id", NET_A_UUID, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 0, NULL },
	{ "fixed_ip_address", NET_A_IP, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 0, NULL },
	{ "status", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "port_details", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "description", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "created_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "updated_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "revision_number", NET_A_ANY, 0, 0, 0, 0, NULL },
};

static const char *const fip_sort_keys[] = {
	"id", "floating_ip_address", "floating_network_id", "router_id", "fixed_ip_address",
	"project_id", "tenant_id", "status", "description", "created_at", "updated_at",
	"revision_number", NULL
};

void net_fip_list(kreq *r)
{
	net_listq *q = net_listq_parse(r, fip_sort_keys);
	if (!q)
		return;
	bool admin = net_is_admin(r);
	_cleanup_json_ json_t *rows = admin
		? kdb_query_json(net_db, "SELECT " FIP_COLS " FROM net_floatingip", "")
		: kdb_query_json(net_db, "SELECT " FIP_COLS " FROM net_floatingip WHERE "
		                 "project_id = ?", "s", net_project(r));
	_cleanup_json_ json_t *ports = kdb_query_json(net_db, "SELECT " PORT_DETAIL_COLS " FROM "
	                                              "net_port WHERE id IN (SELECT port_id FROM "
	                                              "net_floatingip WHERE port_id IS NOT NULL)",
	                                              "");
	if (!rows || !ports) {
		internal_error(r);
		return;
	}
	_cleanup_json_ json_t *by_id = json_object();
	size_t i;
	json_t *e;
	json_array_foreach(ports, i, e)
		json_object_set(by_id, kjson_str(e, "id"), e);
	json_array_foreach(rows, i, e) {
		const char *pid = kjson_str(e, "port_id");
		fip_finish(e, pid ? json_object_get(by_id, pid) : NULL);
	}
	net_std_view_list(rows, "floatingips");
	net_respond_list(r, "floatingips", TAKE_PTR(rows), q);
}

void net_fip_show(kreq *r)
{
	json_t *row = fip_lookup(r, kreq_param(r, "floatingip_id"));
	if (!row)
		return;
	json_t *v = fip_get(kjson_str(row, "id"));
	if (!v) {
		internal_error(r);
		return;
	}
	kpool_json(r->pool, v);
	if (!net_enforce(r, "get_floatingip", v))
		return;
	net_respond_one(r, 200, "floatingip", json_incref(v));
}

/* The body's explicitly set attributes, for the policy (a null is Neutron's
 * default, not "set"). */
static json_t *policy_body(kreq *r, const json_t *obj)
{
	json_t *b = kpool_json(r->pool, json_object());
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v)
		if (!json_is_null(v))
			json_object_set(b, k, v);
	return b;
}

void net_fip_create(kreq *r)
{
	bool bulk;
	json_t *objs = net_body(r, "floatingip", "floatingips", &bulk);
	if (!objs)
		return;
	if (bulk) {
		net_error(r, 400, NULL, "Bulk operation not supported");
		return;
	}
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, fip_attrs, ARRAY_SIZE(fip_attrs), true))
		return;
	const char *project = net_body_project(r, obj);
	if (!project)
		return;
	json_t *pbody = policy_body(r, obj);
	if (!net_enforce_attrs(r, "create_floatingip", pbody, target_of(r, NULL, obj)))
		return;
	if (!net_quota_check(r, project, "floatingip", 1))
		return;

	const char *net_id = kjson_str(obj, "floating_network_id");
	_cleanup_json_ json_t *net = net_network_lookup(r, net_id);
	if (!net)
		return;
	if (!json_is_true(json_object_get(net, "router:external"))) {
		net_l3_bad_request(r, "floatingip", "Network %s is not a valid external network",
		                   net_id);
		return;
	}
	_cleanup_json_ json_t *v4 = kdb_query_row(net_db, NULL, "SELECT id FROM net_subnet WHERE "
	                                          "network_id = ? AND ip_version = 4", "s",
	                                          net_id);
	if (!v4) {
		net_l3_bad_request(r, "floatingip", "Network %s does not contain any IPv4 subnet",
		                   net_id);
		return;
	}

	char id[37];
	net_new_id(id);
	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	_cleanup_json_ json_t *fixed = NULL;
	const char *want_sub = kjson_str(obj, "subnet_id");
	const char *want_ip = kjson_str(obj, "floating_ip_address");
	if (want_sub || want_ip) {
		json_t *f = json_object();
		if (want_sub)
			json_object_set_new(f, "subnet_id", json_string(want_sub));
		if (want_ip)
			json_object_set_new(f, "ip_address", json_string(want_ip));
		fixed = json_pack("[o]", f);
	}
	json_t *port = net_port_create_internal(r, "", net_id, id, NET_OWNER_FLOATINGIP, fixed);
	if (!port)
		return;
	const char *port_id = kjson_str(port, "id");
	const char *addr = NULL;
	size_t i;
	json_t *ip;
	json_array_foreach(json_object_get(port, "fixed_ips"), i, ip)
		if (!addr && ip_version(kjson_str(ip, "ip_address")) == 4)
			addr = kjson_str(ip, "ip_address");
	if (!addr) {
		net_error(r, 400, "ExternalIpAddressExhausted", "Unable to find any IP address on "
		          "external network %s.", net_id);
		return;
	}
	if (net_port_set_status(port_id, "N/A") != 0) {
		internal_error(r);
		return;
	}
	_cleanup_json_ json_t *fip = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "project_id",
	                                       project, "floating_network_id", net_id,
	                                       "floating_ip_address", addr);
	fip_assoc a;
	if (!compute_assoc(r, fip, obj, &a))
		return;
	const char *desc = kjson_str(obj, "description");
	int64_t now = kutil_now_us();
	if (!run(r, kdb_run(net_db, NULL, "INSERT INTO net_floatingip (id, project_id, "
	                    "floating_network_id, floating_port_id, floating_ip_address, port_id, "
	                    "fixed_ip_address, router_id, status, description, created_at, "
	                    "updated_at, revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	                    "?, 0)", "ssssssssssii", id, project, net_id, port_id, addr, a.port_id,
	                    a.fixed_ip, a.router_id, a.port_id ? "ACTIVE" : "DOWN",
	                    desc ? desc : "", now, now)))
		return;
	if (!net_txn_commit(r, &t))
		return;
	net_notify("floatingip", id);
	klog_info("network", "floating IP %s (%s) created%s%s", id, addr,
	          a.port_id ? ", associated with port " : "", a.port_id ? a.port_id : "");
	json_t *v = fip_get(id);
	if (!v) {
		internal_error(r);
		return;
	}
	net_respond_one(r, 201, "floatingip", v);
}

void net_fip_update(kreq *r)
{
	json_t *objs = net_body(r, "floatingip", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, fip_attrs, ARRAY_SIZE(fip_attrs), false))
		return;
	json_t *row = fip_lookup(r, kreq_param(r, "floatingip_id"));
	if (!row)
		return;
	if (!net_enforce_attrs(r, "update_floatingip", obj, target_of(r, row, obj)))
		return;
	const char *id = kjson_str(row, "id");
	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	/* read again inside the transaction: another request may have changed it */
	_cleanup_json_ json_t *cur = kdb_query_row(net_db, NULL, "SELECT " FIP_COLS " FROM "
	                                           "net_floatingip WHERE id = ?", "s", id);
	if (!cur) {
		net_error(r, 404, "FloatingIPNotFound", "Floating IP %s could not be found", id);
		return;
	}
	fip_assoc a;
	if (!compute_assoc(r, cur, obj, &a))
		return;
	if (!run(r, kdb_run(net_db, NULL, "UPDATE net_floatingip SET port_id = ?, "
	                    "fixed_ip_address = ?, router_id = ?, status = ? WHERE id = ?",
	                    "sssss", a.port_id, a.fixed_ip, a.router_id,
	                    a.port_id ? "ACTIVE" : "DOWN", id)))
		return;
	json_t *d = json_object_get(obj, "description");
	if (d && !run(r, kdb_run(net_db, NULL, "UPDATE net_floatingip SET description = ? "
	                         "WHERE id = ?", "ss", json_string_value(d), id)))
		return;
	if (net_touch("net_floatingip", id) != 0) {
		internal_error(r);
		return;
	}
	if (!net_txn_commit(r, &t))
		return;
	net_notify("floatingip", id);
	const char *before = kjson_str(cur, "port_id");
	if ((before == NULL) != (a.port_id == NULL) ||
	    (before && a.port_id && strcmp(before, a.port_id) != 0))
		klog_info("network", "floating IP %s %s port %s", id,
		          a.port_id ? "associated with" : "disassociated from",
		          a.port_id ? a.port_id : before);
	json_t *v = fip_get(id);
	if (!v) {
		internal_error(r);
		return;
	}
	net_respond_one(r, 200, "floatingip", v);
}

void net_fip_delete(kreq *r)
{
	json_t *row = fip_lookup(r, kreq_param(r, "floatingip_id"));
	if (!row || !net_enforce(r, "delete_floatingip", target_of(r, row, row)))
		return;
	const char *id = kjson_str(row, "id");
	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	const char *port = kjson_str(row, "floating_port_id");
	if ((port && net_port_delete_internal(port) != 0) ||
	    net_tags_delete("floatingips", id) != 0 ||
	    !run(r, kdb_run(net_db, NULL, "DELETE FROM net_floatingip WHERE id = ?", "s", id))) {
		if (!r->status)
			internal_error(r);
		return;
	}
	if (!net_txn_commit(r, &t))
		return;
	net_notify("floatingip", id);
	klog_info("network", "floating IP %s deleted", id);
	kresp_status(r, 204);
}

int net_fip_delete_disassociated(const char *network_id)
{
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT id, floating_port_id FROM "
	                                             "net_floatingip WHERE floating_network_id = ? "
	                                             "AND port_id IS NULL", "s", network_id);
	if (!rows)
		return -1;
	size_t i;
	json_t *e;
	json_array_foreach(rows, i, e) {
		const char *id = kjson_str(e, "id"), *port = kjson_str(e, "floating_port_id");
		if ((port && net_port_delete_internal(port) != 0) ||
		    net_tags_delete("floatingips", id) != 0 ||
		    kdb_run(net_db, NULL, "DELETE FROM net_floatingip WHERE id = ?", "s", id) !=
		    KDB_DONE)
			return -1;
		net_notify("floatingip", id);
		klog_info("network", "floating IP %s deleted with its network %s", id, network_id);
	}
	return (int)json_array_size(rows);
}

/* GET /v2.0/floatingip_pools: the IPv4 subnets of external networks. */
void net_fip_pools_list(kreq *r)
{
	net_listq *q = net_listq_parse(r, NULL);
	if (!q)
		return;
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT s.id AS subnet_id, s.name AS "
	                                             "subnet_name, s.network_id, s.project_id, "
	                                             "s.cidr FROM net_subnet s JOIN net_network n "
	                                             "ON n.id = s.network_id WHERE "
	                                             "n.router_external = 1 AND s.ip_version = 4 "
	                                             "ORDER BY s.created_at, s.id", "");
	if (!rows) {
		internal_error(r);
		return;
	}
	size_t i;
	json_t *e;
	json_array_foreach(rows, i, e)
		json_object_set(e, "tenant_id", json_object_get(e, "project_id"));
	net_respond_list(r, "floatingip_pools", TAKE_PTR(rows), q);
}
