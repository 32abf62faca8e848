/*
 * routers.c - Neutron's routers (the "router", "ext-gw-mode", "extraroute"
 * and "extraroute-atomic" extensions): CRUD, the external gateway,
 * add/remove_router_interface and static routes.  The L3 route table
 * (net_l3_routes[]) lives here and joins the floating IP handlers of
 * floatingips.c.
 *
 * A router is a row of net_router plus ports, as in Neutron: its gateway is
 * a port on the external network (device_owner network:router_gateway,
 * project '' so that only admins see it, gw_port_id/gw_network_id on the
 * router) and each interface is a port on a tenant subnet (device_owner
 * network:router_interface, the router's project) holding the subnet's
 * gateway address.  The ports are made and removed through ports.h, so
 * addresses, MACs and the agents' notifications are the port code's.
 *
 * Every change runs in one database transaction (net_txn: rolled back when
 * a handler returns early), so a failed request leaves nothing behind: a
 * router whose gateway cannot be allocated is not created, an interface
 * whose port clashes is not attached.  The checks and their order follow
 * neutron/db/l3_db.py, l3_gwmode_db.py and extraroute_db.py, with their
 * exception types and messages:
 *   - the gateway network must be visible (404 NetworkNotFound) and
 *     router:external (400); an external fixed IP may not be a subnet's
 *     gateway; enable_snat and external_fixed_ips are admin-only (policy);
 *     removing or moving a gateway that floating IPs use is a 409;
 *   - an interface subnet needs a gateway_ip, must be the caller's (unless
 *     admin), must not be on the router already nor overlap its other
 *     subnets (400); a port given by id must be free (409 PortInUse);
 *   - an interface that floating IPs or routes depend on cannot be removed
 *     (409); a router with interfaces cannot be deleted (409 RouterInUse);
 *   - a route's nexthop must lie in one of the router's subnets and not be
 *     one of its own addresses (400 InvalidRoutes).
 * After each change net_notify("router", id) wakes the L3 agent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "common.h"
#include "ipam.h"
#include "l3.h"
#include "ports.h"

#define SUBNET_COLS "id, network_id, project_id, cidr, gateway_ip, ip_version, " \
	"ipv6_ra_mode, ipv6_address_mode"
#define ROUTER_COLS "id, project_id, name, description, admin_state_up, status, " \
	"gw_network_id, gw_port_id, enable_snat, created_at, updated_at, revision_number"

/* Neutron's messages (neutron/db/l3_db.py, extraroute_db.py, neutron-lib) */
#define MSG_DUP_SUBNET "Router already has a port on subnet %s"
#define MSG_OVERLAP "Cidr %s of subnet %s overlaps with cidr %s of subnet %s"
#define MSG_V6_RA "IPv6 subnet %s configured to receive RAs from an external router " \
	"cannot be added to Neutron Router."
#define MSG_DICT_KEYS "Validation of dictionary's keys failed. Expected keys: {%s} " \
	"Provided keys: {%s}"
#define MSG_EXT_GW_IP "External IP %s is the same as the gateway IP"
#define MSG_ONE_V6_PORT "Router already contains IPv6 port %s belonging to network id %s. " \
	"Only one IPv6 port from the same network subnet can be connected to a router."
#define MSG_OUT_OF_POOL "Cannot add interface to router because specified port %s has an " \
	"IP address out of the allocation pool of subnet %s, which is not owned by the " \
	"project making the request"
#define MSG_INTF_IN_USE "Router interface for subnet %s on router %s cannot be deleted, as " \
	"it is required by one or more %s."

/* ------------------------------------------------------------------------ */
/* Shared L3 helpers (l3.h) */

bool net_l3_bad_request(kreq *r, const char *resource, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = kpool_vprintf(r->pool, fmt, ap);
	va_end(ap);
	net_error(r, 400, "BadRequest", "Bad %s request: %s.", resource, msg);
	return false;
}

static void repr_into(kpool *pool, char **out, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		*out = kpool_printf(pool, "%s'%s'", *out, json_string_value(v));
		break;
	case JSON_TRUE:
		*out = kpool_printf(pool, "%sTrue", *out);
		break;
	case JSON_FALSE:
		*out = kpool_printf(pool, "%sFalse", *out);
		break;
	case JSON_NULL:
		*out = kpool_printf(pool, "%sNone", *out);
		break;
	case JSON_INTEGER:
		*out = kpool_printf(pool, "%s%lld", *out, (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		*out = kpool_printf(pool, "%s%g", *out, json_real_value(v));
		break;
	case JSON_ARRAY: {
		size_t i;
		json_t *e;
		*out = kpool_printf(pool, "%s[", *out);
		json_array_foreach(v, i, e) {
			if (i)
				*out = kpool_printf(pool, "%s, ", *out);
			repr_into(pool, out, e);
		}
		*out = kpool_printf(pool, "%s]", *out);
		break;
	}
	case JSON_OBJECT: {
		const char *k;
		json_t *e;
		bool first = true;
		*out = kpool_printf(pool, "%s{", *out);
		json_object_foreach((json_t *)v, k, e) {
			*out = kpool_printf(pool, "%s%s'%s': ", *out, first ? "" : ", ", k);
			repr_into(pool, out, e);
			first = false;
		}
		*out = kpool_printf(pool, "%s}", *out);
		break;
	}
	}
}

const char *net_l3_pyrepr(kpool *pool, const json_t *v)
{
	if (json_is_string(v))
		return kpool_strdup(pool, json_string_value(v));
	char *s = kpool_strdup(pool, "");
	repr_into(pool, &s, v);
	return s;
}

const char *net_l3_check_fixed_ips(kpool *pool, const json_t *v)
{
	if (!json_is_array(v))
		return kpool_printf(pool, "Invalid data format for fixed IP: '%s'",
		                    net_l3_pyrepr(pool, v));
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		if (!json_is_object(e))
			return kpool_printf(pool, "Invalid data format for fixed IP: '%s'",
			                    net_l3_pyrepr(pool, e));
		json_t *ip = json_object_get(e, "ip_address");
		if (ip) {
			for (size_t j = 0; j < i; j++) {
				json_t *prev = json_object_get(json_array_get(v, j), "ip_address");
				if (prev && json_equal(prev, ip))
					return kpool_printf(pool, "Duplicate IP address '%s'",
					                    net_l3_pyrepr(pool, ip));
			}
			net_ip parsed;
			if (!json_is_string(ip) || !net_ip_parse(json_string_value(ip), &parsed))
				return kpool_printf(pool, "'%s' is not a valid IP address",
				                    net_l3_pyrepr(pool, ip));
		}
		json_t *sub = json_object_get(e, "subnet_id");
		if (sub && (!json_is_string(sub) || net_check_uuid(json_string_value(sub))))
			return kpool_printf(pool, "'%s' is not a valid UUID",
			                    net_l3_pyrepr(pool, sub));
	}
	return NULL;
}

json_t *net_l3_subnet_row(const char *id)
{
	if (!id)
		return NULL;
	return kdb_query_row(net_db, NULL, "SELECT " SUBNET_COLS " FROM net_subnet WHERE id = ?",
	                     "s", id);
}

/* ------------------------------------------------------------------------ */
/* Small helpers */

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

static bool str_in(const json_t *arr, const char *s)
{
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
			return true;
	return false;
}

static void add_unique(json_t *arr, const char *s)
{
	if (s && !str_in(arr, s))
		json_array_append_new(arr, json_string(s));
}

static int ip_version(const char *ip)
{
	net_ip p;
	return ip && net_ip_parse(ip, &p) ? p.version : 0;
}

/* The request body as an object (PUT actions carry it bare); NULL body or
 * anything but an object gives an empty object.  false after 400. */
static bool action_body(kreq *r, json_t **out)
{
	*out = kpool_json(r->pool, json_object());
	if (!r->body || r->body_len == 0)
		return true;
	json_error_t err;
	json_t *b = json_loadb(r->body, r->body_len, 0, &err);
	if (!b) {
		net_error(r, 400, NULL, "Malformed request body");
		return false;
	}
	kpool_json(r->pool, b);
	if (json_is_object(b))
		*out = b;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Views */

/* Finish a router row into its API view (in place). */
static void router_finish(json_t *row, json_t *gw_ips, json_t *routes)
{
	json_t *info = json_null();
	if (kjson_str(row, "gw_port_id")) {
		json_t *snat = json_object_get(row, "enable_snat");
		bool on = json_is_integer(snat) && json_integer_value(snat) != 0;
		info = json_pack("{s:O,s:b,s:o}",
		                 "network_id", json_object_get(row, "gw_network_id"),
		                 "enable_snat", on,
		                 "external_fixed_ips", gw_ips ? json_incref(gw_ips) : json_array());
	}
	json_object_set_new(row, "external_gateway_info", info);
	json_object_set_new(row, "routes", routes ? json_incref(routes) : json_array());
	json_object_del(row, "gw_network_id");
	json_object_del(row, "gw_port_id");
	json_object_del(row, "enable_snat");
	net_bools(row, "admin_state_up", NULL);
}

/* {subnet_id, ip_address} only, as external_fixed_ips shows them. */
static json_t *ext_ips_of(json_t *fixed_ips)
{
	json_t *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(fixed_ips, i, e)
		json_array_append_new(out, json_pack("{s:O,s:O}", "subnet_id",
		                      json_object_get(e, "subnet_id"), "ip_address",
		                      json_object_get(e, "ip_address")));
	return out;
}

static json_t *routes_of(const char *router_id)
{
	json_t *rows = kdb_query_json(net_db, "SELECT destination, nexthop FROM net_router_route "
	                              "WHERE router_id = ? ORDER BY destination, nexthop", "s",
	                              router_id);
	return rows ? rows : json_array();
}

/* The API view of one router (no visibility check; new reference) or NULL. */
static json_t *router_get(const char *id)
{
	json_t *row = kdb_query_row(net_db, NULL, "SELECT " ROUTER_COLS " FROM net_router "
	                            "WHERE id = ?", "s", id);
	if (!row)
		return NULL;
	_cleanup_json_ json_t *gw_ips = NULL;
	const char *gw_port = kjson_str(row, "gw_port_id");
	if (gw_port) {
		_cleanup_json_ json_t *ips = net_ipam_port_ips(gw_port);
		gw_ips = ext_ips_of(ips);
	}
	_cleanup_json_ json_t *routes = routes_of(id);
	router_finish(row, gw_ips, routes);
	net_std_view(row, "routers");
	return row;
}

/* The router as r may see it (pool), or NULL after 404 RouterNotFound. */
static json_t *router_lookup(kreq *r, const char *id)
{
	json_t *v = id ? router_get(id) : NULL;
	if (v)
		kpool_json(r->pool, v);
	if (!v || !net_visible(r, kjson_str(v, "project_id"), false)) {
		net_error(r, 404, "RouterNotFound", "Router %s could not be found", id ? id : "");
		return NULL;
	}
	return v;
}

/* ------------------------------------------------------------------------ */
/* Router ports and subnets */

/* The router's ports (interfaces and gateway) as [{id, network_id,
 * project_id, device_owner, mac_address, fixed_ips}] (new reference). */
static json_t *router_ports(const char *router_id, const char *only_owner)
{
	json_t *rows = kdb_query_json(net_db, "SELECT id, network_id, project_id, device_owner, "
	                              "mac_address FROM net_port WHERE device_id = ? AND "
	                              "device_owner IN (?, ?) ORDER BY created_at, id", "sss",
	                              router_id, only_owner ? only_owner : NET_OWNER_ROUTER_INTF,
	                              only_owner ? only_owner : NET_OWNER_ROUTER_GW);
	if (!rows)
		return json_array();
	size_t i;
	json_t *p;
	json_array_foreach(rows, i, p) {
		json_t *ips = net_ipam_port_ips(kjson_str(p, "id"));
		json_object_set_new(p, "fixed_ips", ips ? ips : json_array());
	}
	return rows;
}

static bool is_gw(const json_t *port)
{
	const char *o = kjson_str(port, "device_owner");
	return o && strcmp(o, NET_OWNER_ROUTER_GW) == 0;
}

static json_t *network_subnets(const char *network_id)
{
	json_t *rows = kdb_query_json(net_db, "SELECT " SUBNET_COLS " FROM net_subnet WHERE "
	                              "network_id = ? ORDER BY created_at, id", "s", network_id);
	return rows ? rows : json_array();
}

/*
 * Neutron's _check_for_dup_router_subnets: none of new_subnets (subnet
 * rows) may already be on one of the router's ports, nor overlap the
 * subnets the router is attached to (every subnet of the gateway's
 * network counts).  400 answered.
 */
static bool check_dup_subnets(kreq *r, const json_t *ports, const json_t *new_subnets,
                              const char *skip_port)
{
	_cleanup_json_ json_t *new_ids = json_array();
	size_t i, j;
	json_t *p, *s;
	json_array_foreach(new_subnets, i, s)
		add_unique(new_ids, kjson_str(s, "id"));
	_cleanup_json_ json_t *router_subnets = json_array();
	json_array_foreach(ports, i, p) {
		if (skip_port && strcmp(kjson_str(p, "id"), skip_port) == 0)
			continue;
		json_t *ip;
		json_array_foreach(json_object_get(p, "fixed_ips"), j, ip) {
			const char *sid = kjson_str(ip, "subnet_id");
			if (sid && str_in(new_ids, sid))
				return net_l3_bad_request(r, "router", MSG_DUP_SUBNET, sid);
			if (is_gw(p)) {
				const char *net = kjson_str(p, "network_id");
				_cleanup_json_ json_t *ext = network_subnets(net);
				size_t k;
				json_t *es;
				json_array_foreach(ext, k, es)
					add_unique(router_subnets, kjson_str(es, "id"));
			} else {
				add_unique(router_subnets, sid);
			}
		}
	}
	json_t *rid;
	json_array_foreach(router_subnets, i, rid) {
		_cleanup_json_ json_t *sub = net_l3_subnet_row(json_string_value(rid));
		if (!sub)
			continue;
		json_array_foreach(new_subnets, j, s) {
			const char *a = kjson_str(sub, "cidr"), *b = kjson_str(s, "cidr");
			if (a && b && net_cidrs_overlap_str(a, b))
				return net_l3_bad_request(r, "router", MSG_OVERLAP, b,
				                          kjson_str(s, "id"), a,
				                          kjson_str(sub, "id"));
		}
	}
	return true;
}

/* IPv6 subnets in SLAAC/DHCPv6 mode without RA from Neutron cannot be routed. */
static bool check_subnet_mode(kreq *r, const json_t *subnet)
{
	json_t *ra = json_object_get(subnet, "ipv6_ra_mode");
	json_t *am = json_object_get(subnet, "ipv6_address_mode");
	if (json_integer_value(json_object_get(subnet, "ip_version")) == 6 &&
	    (!ra || json_is_null(ra)) && am && !json_is_null(am))
		return net_l3_bad_request(r, "router", MSG_V6_RA, kjson_str(subnet, "id"));
	return true;
}

/* ------------------------------------------------------------------------ */
/* Routes (extraroute) */

static long max_routes(void)
{
	return kumo_conf ? kconf_get_int(kumo_conf, "network", "max_routes", 30) : 30;
}

/* neutron-lib's validate_hostroutes: a list of {destination, nexthop}
 * without duplicates.  A new canonical array, or NULL after 400. */
static json_t *parse_routes(kreq *r, json_t *v)
{
	if (!v || json_is_null(v))
		return json_array();
	if (!json_is_array(v)) {
		net_bad_input(r, "routes", "Invalid data format for hostroute: '%s'",
		              net_l3_pyrepr(r->pool, v));
		return NULL;
	}
	_cleanup_json_ json_t *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e) {
		if (!json_is_object(e)) {
			net_bad_input(r, "routes", "Invalid data format for hostroute: '%s'",
			              net_l3_pyrepr(r->pool, e));
			return NULL;
		}
		json_t *d = json_object_get(e, "destination"), *n = json_object_get(e, "nexthop");
		if (!d || !n || json_object_size(e) != 2) {
			char *keys = kpool_strdup(r->pool, "");
			const char *k;
			json_t *x;
			bool first = true;
			json_object_foreach(e, k, x) {
				keys = kpool_printf(r->pool, "%s%s'%s'", keys, first ? "" : ", ",
				                    k);
				first = false;
			}
			net_bad_input(r, "routes", MSG_DICT_KEYS, "'destination', 'nexthop'", keys);
			return NULL;
		}
		net_cidr c;
		bool hostbits;
		if (!json_is_string(d) || !strchr(json_string_value(d), '/') ||
		    !net_cidr_parse(json_string_value(d), &c, &hostbits)) {
			net_bad_input(r, "routes", "'%s' is not a valid IP subnet",
			              net_l3_pyrepr(r->pool, d));
			return NULL;
		}
		net_ip ip;
		if (!json_is_string(n) || !net_ip_parse(json_string_value(n), &ip)) {
			net_bad_input(r, "routes", "'%s' is not a valid IP address",
			              net_l3_pyrepr(r->pool, n));
			return NULL;
		}
		char dbuf[64], nbuf[64];
		net_cidr_format(&c, dbuf);
		if (hostbits)       /* kept as given, as netaddr's str() does */
			snprintf(dbuf, sizeof(dbuf), "%s", json_string_value(d));
		net_ip_format(&ip, nbuf);
		size_t j;
		json_t *prev;
		json_array_foreach(out, j, prev)
			if (strcmp(kjson_str(prev, "destination"), dbuf) == 0 &&
			    strcmp(kjson_str(prev, "nexthop"), nbuf) == 0) {
				net_bad_input(r, "routes", "Duplicate hostroute '%s'",
				              net_l3_pyrepr(r->pool, e));
				return NULL;
			}
		json_array_append_new(out, json_pack("{s:s,s:s}", "destination", dbuf,
		                                     "nexthop", nbuf));
	}
	return TAKE_PTR(out);
}

/* Neutron's _validate_routes_nexthop for every route: 400 InvalidRoutes. */
static bool check_nexthops(kreq *r, const json_t *routes, const json_t *cidrs,
                           const json_t *ips)
{
	size_t i, j;
	json_t *rt, *c;
	json_array_foreach(routes, i, rt) {
		const char *nh = kjson_str(rt, "nexthop");
		bool connected = false;
		json_array_foreach(cidrs, j, c)
			connected = connected || net_ip_in_cidr_str(nh, json_string_value(c));
		const char *reason = NULL;
		if (!connected)
			reason = "the nexthop is not connected with router";
		else if (str_in(ips, nh))
			reason = "the nexthop is used by router";
		if (reason) {
			net_error(r, 400, "InvalidRoutes", "Invalid format for routes: %s, %s",
			          net_l3_pyrepr(r->pool, routes), reason);
			return false;
		}
	}
	return true;
}

/* The cidrs and addresses of the router's ports, except skip_port, plus
 * every subnet of extra_network (the gateway network being set). */
static void connected(const json_t *ports, const char *skip_port, const char *extra_network,
                      json_t *cidrs, json_t *ips)
{
	size_t i, j;
	json_t *p, *ip;
	json_array_foreach(ports, i, p) {
		if (skip_port && strcmp(kjson_str(p, "id"), skip_port) == 0)
			continue;
		json_array_foreach(json_object_get(p, "fixed_ips"), j, ip) {
			_cleanup_json_ json_t *sub = net_l3_subnet_row(kjson_str(ip, "subnet_id"));
			if (sub)
				add_unique(cidrs, kjson_str(sub, "cidr"));
			add_unique(ips, kjson_str(ip, "ip_address"));
		}
	}
	if (extra_network) {
		_cleanup_json_ json_t *subs = network_subnets(extra_network);
		json_array_foreach(subs, i, p)
			add_unique(cidrs, kjson_str(p, "cidr"));
	}
}

/* Replace the router's routes (inside the caller's transaction). */
static bool set_routes(kreq *r, const char *router_id, const json_t *routes)
{
	if ((long)json_array_size(routes) > max_routes()) {
		net_error(r, 400, "RoutesExhausted", "Unable to complete operation for %s. The "
		          "number of routes exceeds the maximum %ld.", router_id, max_routes());
		return false;
	}
	_cleanup_json_ json_t *ports = router_ports(router_id, NULL);
	_cleanup_json_ json_t *cidrs = json_array(), *ips = json_array();
	connected(ports, NULL, NULL, cidrs, ips);
	if (!check_nexthops(r, routes, cidrs, ips))
		return false;
	if (!run(r, kdb_run(net_db, NULL, "DELETE FROM net_router_route WHERE router_id = ?", "s",
	                    router_id)))
		return false;
	size_t i;
	json_t *rt;
	json_array_foreach(routes, i, rt)
		if (!run(r, kdb_run(net_db, NULL, "INSERT INTO net_router_route (router_id, "
		                    "destination, nexthop) VALUES (?, ?, ?)", "sss", router_id,
		                    kjson_str(rt, "destination"), kjson_str(rt, "nexthop"))))
			return false;
	return true;
}

/* ------------------------------------------------------------------------ */
/* The external gateway (l3_db + l3_gwmode_db) */

typedef struct gwreq {
	bool given;              /* external_gateway_info was in the body */
	const char *network_id;  /* NULL: no gateway wanted */
	bool snat_given, snat;
	json_t *ext_ips;         /* borrowed array or NULL */
} gwreq;

/* Validate external_gateway_info (type:dict_or_nodata of the API). */
static bool parse_gw(kreq *r, json_t *body, gwreq *g)
{
	memset(g, 0, sizeof(*g));
	json_t *v = json_object_get(body, "external_gateway_info");
	if (!v)
		return true;
	g->given = true;
	if (json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0))
		return true;
	const char *attr = "external_gateway_info";
	if (!json_is_object(v))
		return net_bad_input(r, attr, "'%s' is not a dictionary",
		                     net_l3_pyrepr(r->pool, v));
	json_t *net = json_object_get(v, "network_id");
	if (!net) {
		char *keys = kpool_strdup(r->pool, "");
		const char *k;
		json_t *x;
		bool first = true;
		json_object_foreach(v, k, x) {
			keys = kpool_printf(r->pool, "%s%s'%s'", keys, first ? "" : ", ", k);
			first = false;
		}
		return net_bad_input(r, attr, MSG_DICT_KEYS, "'network_id'", keys);
	}
	char *extra = NULL;
	const char *k;
	json_t *x;
	json_object_foreach(v, k, x)
		if (strcmp(k, "network_id") && strcmp(k, "enable_snat") &&
		    strcmp(k, "external_fixed_ips"))
			extra = extra ? kpool_printf(r->pool, "%s, %s", extra, k)
			              : kpool_strdup(r->pool, k);
	if (extra)
		return net_bad_input(r, attr, "Unexpected keys supplied: %s", extra);
	if (!json_is_string(net) || net_check_uuid(json_string_value(net)))
		return net_bad_input(r, attr, "'%s' is not a valid UUID",
		                     net_l3_pyrepr(r->pool, net));
	g->network_id = json_string_value(net);
	json_t *snat = json_object_get(v, "enable_snat");
	if (snat) {
		if (!net_to_bool(snat, &g->snat)) {
			net_error(r, 400, "InvalidInput", "Invalid input for operation: '%s' "
			          "cannot be converted to boolean.", net_l3_pyrepr(r->pool, snat));
			return false;
		}
		g->snat_given = true;
		json_object_set_new(v, "enable_snat", json_boolean(g->snat));
	}
	json_t *ips = json_object_get(v, "external_fixed_ips");
	if (ips) {
		const char *why = net_l3_check_fixed_ips(r->pool, ips);
		if (why)
			return net_bad_input(r, attr, "%s", why);
		if (json_array_size(ips))
			g->ext_ips = ips;
	}
	return true;
}

/* Neutron's _check_for_external_ip_change. */
static bool ext_ip_change(const json_t *cur, const json_t *want)
{
	if (!want || json_array_size(want) == 0)
		return false;
	if (!cur)
		return true;
	_cleanup_json_ json_t *cs = json_array(), *ws = json_array(), *ci = json_array(),
	                      *wi = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(cur, i, e) {
		add_unique(cs, kjson_str(e, "subnet_id"));
		add_unique(ci, kjson_str(e, "ip_address"));
	}
	json_array_foreach(want, i, e) {
		add_unique(ws, kjson_str(e, "subnet_id"));
		add_unique(wi, kjson_str(e, "ip_address"));
	}
	if (json_array_size(cs) != json_array_size(ws) ||
	    json_array_size(ci) != json_array_size(wi))
		return true;
	json_array_foreach(ws, i, e)
		if (!str_in(cs, json_string_value(e)))
			return true;
	json_array_foreach(wi, i, e)
		if (!str_in(ci, json_string_value(e)))
			return true;
	return false;
}

static int64_t router_fip_count(const char *router_id)
{
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, "SELECT COUNT(*) AS n FROM "
	                                           "net_floatingip WHERE router_id = ?", "s",
	                                           router_id);
	return row ? json_integer_value(json_object_get(row, "n")) : 0;
}

/* Neutron's _delete_current_gw_port: not while floating IPs use it (409). */
static bool drop_gateway(kreq *r, const char *router_id, const char *gw_port,
                         const char *gw_net)
{
	if (router_fip_count(router_id) > 0) {
		net_error(r, 409, "RouterExternalGatewayInUseByFloatingIp", "Gateway cannot be "
		          "updated for router %s, since a gateway to external network %s is "
		          "required by one or more floating IPs.", router_id, gw_net ? gw_net : "");
		return false;
	}
	if (net_port_delete_internal(gw_port) != 0 ||
	    !run(r, kdb_run(net_db, NULL, "UPDATE net_router SET gw_port_id = NULL, "
	                    "gw_network_id = NULL WHERE id = ?", "s", router_id))) {
		if (!r->status)
			internal_error(r);
		return false;
	}
	return true;
}

/* Set, change or clear the gateway (inside the caller's transaction),
 * in Neutron's order: enable_snat, validation, then the port. */
static bool update_gateway(kreq *r, const char *router_id, const gwreq *g)
{
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, "SELECT gw_port_id, gw_network_id "
	                                           "FROM net_router WHERE id = ?", "s", router_id);
	if (!row) {
		net_error(r, 404, "RouterNotFound", "Router %s could not be found", router_id);
		return false;
	}
	const char *gw_port = kjson_str(row, "gw_port_id");
	const char *gw_net = kjson_str(row, "gw_network_id");
	bool snat = g->snat_given ? g->snat : true;
	if (!run(r, kdb_run(net_db, NULL, "UPDATE net_router SET enable_snat = ? WHERE id = ?",
	                    "bs", snat, router_id)))
		return false;

	_cleanup_json_ json_t *cur_ips = gw_port ? net_ipam_port_ips(gw_port) : NULL;
	bool ip_change = ext_ip_change(cur_ips, g->ext_ips);

	/* _validate_gw_info */
	if (g->network_id) {
		_cleanup_json_ json_t *net = net_network_lookup(r, g->network_id);
		if (!net)
			return false;
		if (!json_is_true(json_object_get(net, "router:external")))
			return net_l3_bad_request(r, "router", "Network %s is not an external "
			                          "network", g->network_id);
		_cleanup_json_ json_t *subs = network_subnets(g->network_id);
		size_t i, j;
		json_t *ip, *s;
		json_array_foreach(g->ext_ips, i, ip) {
			const char *addr = kjson_str(ip, "ip_address");
			json_array_foreach(subs, j, s) {
				const char *gwip = kjson_str(s, "gateway_ip");
				if (addr && gwip && strcmp(addr, gwip) == 0)
					return net_l3_bad_request(r, "router", MSG_EXT_GW_IP,
					                          addr);
			}
		}
	}
	_cleanup_json_ json_t *routes = routes_of(router_id);
	_cleanup_json_ json_t *ports = router_ports(router_id, NULL);
	if (json_array_size(routes)) {
		_cleanup_json_ json_t *cidrs = json_array(), *ips = json_array();
		connected(ports, gw_port, g->network_id, cidrs, ips);
		if (!check_nexthops(r, routes, cidrs, ips))
			return false;
	}

	bool same_net = gw_port && g->network_id && gw_net && strcmp(gw_net, g->network_id) == 0;
	/* the same network with other addresses: update the port in place */
	if (same_net && ip_change) {
		json_t *port = net_port_get(r->pool, gw_port);
		if (!port) {
			internal_error(r);
			return false;
		}
		const char *mac = kjson_str(port, "mac_address");
		_cleanup_json_ json_t *ips =
			net_ipam_update(r, gw_net, gw_port, mac, g->ext_ips, NET_OWNER_ROUTER_GW);
		if (!ips)
			return false;
		net_touch("net_port", gw_port);
		net_notify("port", gw_port);
		return true;
	}
	/* a gateway on another network (or none): remove the old one */
	if (gw_port && !same_net) {
		if (!drop_gateway(r, router_id, gw_port, gw_net))
			return false;
		gw_port = NULL;
	}
	if (!g->network_id || gw_port)
		return true;
	/* _create_gw_port */
	_cleanup_json_ json_t *ext_subnets = network_subnets(g->network_id);
	if (!check_dup_subnets(r, ports, ext_subnets, NULL))
		return false;
	json_t *port = net_port_create_internal(r, "", g->network_id, router_id,
	                                        NET_OWNER_ROUTER_GW, g->ext_ips);
	if (!port)
		return false;
	return run(r, kdb_run(net_db, NULL, "UPDATE net_router SET gw_port_id = ?, "
	                      "gw_network_id = ? WHERE id = ?", "sss", kjson_str(port, "id"),
	                      g->network_id, router_id));
}

/* ------------------------------------------------------------------------ */
/* CRUD */

static const net_attr router_attrs[] = {
	{ "id", NET_A_UUID, 0, 0, 0, 0, NULL },
	{ "name", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "description", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "admin_state_up", NET_A_BOOL, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "status", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "external_gateway_info", NET_A_ANY, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 0, NULL },
	{ "routes", NET_A_ANY, NET_A_PUT | NET_A_NULL, 0, 0, 0, NULL },
	{ "created_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "updated_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "revision_number", NET_A_ANY, 0, 0, 0, 0, NULL },
};

static const char *const router_sort_keys[] = {
	"id", "name", "admin_state_up", "status", "project_id", "tenant_id", "description",
	"created_at", "updated_at", "revision_number", NULL
};

static void list_routers(kreq *r)
{
	net_listq *q = net_listq_parse(r, router_sort_keys);
	if (!q)
		return;
	_cleanup_json_ json_t *rows = NULL;
	if (net_is_admin(r))
		rows = kdb_query_json(net_db, "SELECT " ROUTER_COLS " FROM net_router", "");
	else
		rows = kdb_query_json(net_db, "SELECT " ROUTER_COLS " FROM net_router WHERE "
		                      "project_id = ?", "s", net_project(r));
	_cleanup_json_ json_t *gw = kdb_query_json(net_db, "SELECT r.id AS router_id, a.subnet_id, "
	                                           "a.ip_address FROM net_router r JOIN "
	                                           "net_ip_allocation a ON a.port_id = "
	                                           "r.gw_port_id ORDER BY a.subnet_id, "
	                                           "a.ip_address", "");
	_cleanup_json_ json_t *rts = kdb_query_json(net_db, "SELECT router_id, destination, "
	                                            "nexthop FROM net_router_route ORDER BY "
	                                            "destination, nexthop", "");
	if (!rows || !gw || !rts) {
		internal_error(r);
		return;
	}
	_cleanup_json_ json_t *gw_by = json_object(), *rt_by = json_object();
	size_t i;
	json_t *e;
	json_array_foreach(gw, i, e) {
		const char *rid = kjson_str(e, "router_id");
		json_t *arr = json_object_get(gw_by, rid);
		if (!arr)
			json_object_set_new(gw_by, rid, arr = json_array());
		json_array_append_new(arr, json_pack("{s:O,s:O}", "subnet_id",
		                      json_object_get(e, "subnet_id"), "ip_address",
		                      json_object_get(e, "ip_address")));
	}
	json_array_foreach(rts, i, e) {
		const char *rid = kjson_str(e, "router_id");
		json_t *arr = json_object_get(rt_by, rid);
		if (!arr)
			json_object_set_new(rt_by, rid, arr = json_array());
		json_array_append_new(arr, json_pack("{s:O,s:O}", "destination",
		                      json_object_get(e, "destination"), "nexthop",
		                      json_object_get(e, "nexthop")));
	}
	json_array_foreach(rows, i, e) {
		const char *id = kjson_str(e, "id");
		router_finish(e, json_object_get(gw_by, id), json_object_get(rt_by, id));
	}
	net_std_view_list(rows, "routers");
	net_respond_list(r, "routers", TAKE_PTR(rows), q);
}

static void show_router(kreq *r)
{
	json_t *v = router_lookup(r, kreq_param(r, "router_id"));
	if (!v || !net_enforce(r, "get_router", v))
		return;
	net_respond_one(r, 200, "router", json_incref(v));
}

/* The policy target of a create or update: the object (with its project). */
static json_t *target_of(kreq *r, const json_t *base, const json_t *body)
{
	json_t *t = json_deep_copy(base ? base : body);
	if (base) {
		const char *k;
		json_t *v;
		json_object_foreach((json_t *)body, k, v)
			json_object_set(t, k, v);
		json_object_set(t, "project_id", json_object_get(base, "project_id"));
		json_object_set(t, "tenant_id", json_object_get(base, "project_id"));
	}
	return kpool_json(r->pool, t);
}

static void create_router(kreq *r)
{
	bool bulk;
	json_t *objs = net_body(r, "router", "routers", &bulk);
	if (!objs)
		return;
	if (bulk) {
		net_error(r, 400, NULL, "Bulk operation not supported");
		return;
	}
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, router_attrs, ARRAY_SIZE(router_attrs), true))
		return;
	const char *project = net_body_project(r, obj);
	if (!project)
		return;
	gwreq g;
	if (!parse_gw(r, obj, &g))
		return;
	if (!net_enforce_attrs(r, "create_router", obj, target_of(r, NULL, obj)))
		return;
	if (!net_quota_check(r, project, "router", 1))
		return;

	char id[37];
	net_new_id(id);
	bool admin_up = true;
	json_t *a = json_object_get(obj, "admin_state_up");
	if (a)
		admin_up = json_is_true(a);
	int64_t now = kutil_now_us();
	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	const char *name = kjson_str(obj, "name"), *desc = kjson_str(obj, "description");
	if (!run(r, kdb_run(net_db, NULL, "INSERT INTO net_router (id, project_id, name, "
	                    "description, admin_state_up, status, enable_snat, created_at, "
	                    "updated_at, revision_number) VALUES (?, ?, ?, ?, ?, 'ACTIVE', 1, "
	                    "?, ?, 0)", "ssssbii", id, project, name ? name : "", desc ? desc : "",
	                    admin_up, now, now)))
		return;
	if (g.network_id && !update_gateway(r, id, &g))
		return;
	if (!net_txn_commit(r, &t))
		return;
	net_notify("router", id);
	klog_info("network", "router %s created", id);
	json_t *v = router_get(id);
	if (!v) {
		internal_error(r);
		return;
	}
	net_respond_one(r, 201, "router", v);
}

static void update_router(kreq *r)
{
	json_t *objs = net_body(r, "router", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, router_attrs, ARRAY_SIZE(router_attrs), false))
		return;
	const char *id = kreq_param(r, "router_id");
	json_t *cur = router_lookup(r, id);
	if (!cur)
		return;
	gwreq g;
	if (!parse_gw(r, obj, &g))
		return;
	json_t *rv = json_object_get(obj, "routes");
	_cleanup_json_ json_t *routes = NULL;
	if (rv && !(routes = parse_routes(r, rv)))
		return;
	if (!net_enforce_attrs(r, "update_router", obj, target_of(r, cur, obj)))
		return;
	id = kjson_str(cur, "id");

	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	if (routes && !set_routes(r, id, routes))
		return;
	if (g.given && !update_gateway(r, id, &g))
		return;
	json_t *v;
	if ((v = json_object_get(obj, "name")) &&
	    !run(r, kdb_run(net_db, NULL, "UPDATE net_router SET name = ? WHERE id = ?", "ss",
	                    json_string_value(v), id)))
		return;
	if ((v = json_object_get(obj, "description")) &&
	    !run(r, kdb_run(net_db, NULL, "UPDATE net_router SET description = ? WHERE id = ?",
	                    "ss", json_string_value(v), id)))
		return;
	if ((v = json_object_get(obj, "admin_state_up")) &&
	    !run(r, kdb_run(net_db, NULL, "UPDATE net_router SET admin_state_up = ? WHERE id = ?",
	                    "bs", json_is_true(v), id)))
		return;
	if (net_touch("net_router", id) != 0) {
		internal_error(r);
		return;
	}
	if (!net_txn_commit(r, &t))
		return;
	net_notify("router", id);
	json_t *out = router_get(id);
	if (!out) {
		internal_error(r);
		return;
	}
	net_respond_one(r, 200, "router", out);
}

static void delete_router(kreq *r)
{
	json_t *cur = router_lookup(r, kreq_param(r, "router_id"));
	if (!cur || !net_enforce(r, "delete_router", cur))
		return;
	const char *id = kjson_str(cur, "id");
	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	_cleanup_json_ json_t *intf = kdb_query_json(net_db, "SELECT id FROM net_port WHERE "
	                                             "device_id = ? AND device_owner = ? ORDER BY "
	                                             "created_at, id", "ss", id,
	                                             NET_OWNER_ROUTER_INTF);
	if (!intf) {
		internal_error(r);
		return;
	}
	if (json_array_size(intf)) {
		char *ids = kpool_strdup(r->pool, "");
		size_t i;
		json_t *e;
		json_array_foreach(intf, i, e)
			ids = kpool_printf(r->pool, "%s%s%s", ids, i ? ", " : "",
			                   kjson_str(e, "id"));
		net_error(r, 409, "RouterInUse", "Router %s has ports still attached: %s", id, ids);
		return;
	}
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, "SELECT gw_port_id, gw_network_id "
	                                           "FROM net_router WHERE id = ?", "s", id);
	const char *gw_port = kjson_str(row, "gw_port_id");
	if (gw_port && !drop_gateway(r, id, gw_port, kjson_str(row, "gw_network_id")))
		return;
	if (net_port_delete_by_device(id, NET_OWNER_ROUTER_GW) < 0 ||
	    !run(r, kdb_run(net_db, NULL, "DELETE FROM net_router_route WHERE router_id = ?", "s",
	                    id)) ||
	    net_tags_delete("routers", id) != 0 ||
	    !run(r, kdb_run(net_db, NULL, "DELETE FROM net_router WHERE id = ?", "s", id))) {
		if (!r->status)
			internal_error(r);
		return;
	}
	if (!net_txn_commit(r, &t))
		return;
	net_notify("router", id);
	klog_info("network", "router %s deleted", id);
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------------ */
/* Interfaces */

typedef struct intf_result {
	const char *port_id, *network_id, *project_id;
	json_t *subnet_ids;      /* pool array */
	bool first_subnet;       /* "subnet_id" is the first (remove) or last (add) */
} intf_result;

static json_t *intf_info(const char *router_id, const intf_result *res)
{
	size_t n = json_array_size(res->subnet_ids);
	json_t *sid = n ? json_array_get(res->subnet_ids, res->first_subnet ? 0 : n - 1) : NULL;
	return json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:O,s:O}", "id", router_id,
	                 "tenant_id", res->project_id, "project_id", res->project_id,
	                 "port_id", res->port_id, "network_id", res->network_id,
	                 "subnet_id", sid ? sid : json_null(), "subnet_ids", res->subnet_ids);
}

/* Neutron's _validate_interface_info: 400 answered. */
static bool interface_info(kreq *r, json_t *info, bool removal, const char **port_id,
                           const char **subnet_id)
{
	json_t *p = json_object_get(info, "port_id"), *s = json_object_get(info, "subnet_id");
	*port_id = *subnet_id = NULL;
	if (!p && !s)
		return net_l3_bad_request(r, "router", "Either subnet_id or port_id must be "
		                          "specified");
	json_t *vals[2] = { p, s };
	for (int i = 0; i < 2; i++)
		if (vals[i] && (!json_is_string(vals[i]) ||
		                net_check_uuid(json_string_value(vals[i]))))
			return net_l3_bad_request(r, "router", "'%s' is not a valid UUID",
			                          net_l3_pyrepr(r->pool, vals[i]));
	if (!removal && p && s)
		return net_l3_bad_request(r, "router", "Cannot specify both subnet-id and port-id");
	*port_id = json_string_value(p);
	*subnet_id = json_string_value(s);
	return true;
}

static bool has_v6(const json_t *port)
{
	size_t i;
	json_t *ip;
	json_array_foreach(json_object_get(port, "fixed_ips"), i, ip)
		if (ip_version(kjson_str(ip, "ip_address")) == 6)
			return true;
	return false;
}

static bool add_by_subnet(kreq *r, const json_t *router, const char *subnet_id,
                          intf_result *res)
{
	_cleanup_json_ json_t *subnet = net_subnet_lookup(r, subnet_id);
	if (!subnet)
		return false;
	const char *gw = kjson_str(subnet, "gateway_ip");
	if (!gw)
		return net_l3_bad_request(r, "router", "Subnet for router interface must have a "
		                          "gateway IP");
	const char *owner = kjson_str(subnet, "project_id");
	if (!net_is_admin(r) && (!owner || strcmp(owner, net_project(r)) != 0))
		return net_l3_bad_request(r, "router", "Cannot add interface to router because "
		                          "subnet %s is not owned by project making the request",
		                          subnet_id);
	if (!check_subnet_mode(r, subnet))
		return false;
	const char *router_id = kjson_str(router, "id");
	_cleanup_json_ json_t *ports = router_ports(router_id, NULL);
	_cleanup_json_ json_t *news = json_pack("[O]", subnet);
	if (!check_dup_subnets(r, ports, news, NULL))
		return false;
	const char *net = kjson_str(subnet, "network_id");
	res->subnet_ids = kpool_json(r->pool, json_pack("[s]", subnet_id));
	res->network_id = kpool_strdup(r->pool, net);

	/* IPv6: another prefix on the router's existing IPv6 port of that network */
	if (json_integer_value(json_object_get(subnet, "ip_version")) == 6) {
		size_t i;
		json_t *p;
		json_array_foreach(ports, i, p) {
			if (is_gw(p) || strcmp(kjson_str(p, "network_id"), net) != 0 || !has_v6(p))
				continue;
			const char *pid = kjson_str(p, "id");
			json_t *want = json_deep_copy(json_object_get(p, "fixed_ips"));
			kpool_json(r->pool, want);
			json_array_append_new(want, json_pack("{s:s,s:s}", "subnet_id", subnet_id,
			                                      "ip_address", gw));
			const char *mac = kjson_str(p, "mac_address");
			_cleanup_json_ json_t *ips =
				net_ipam_update(r, net, pid, mac, want, NET_OWNER_ROUTER_INTF);
			if (!ips)
				return false;
			net_touch("net_port", pid);
			net_notify("port", pid);
			res->port_id = kpool_strdup(r->pool, pid);
			res->project_id = kpool_strdup(r->pool, kjson_str(p, "project_id"));
			return true;
		}
	}
	_cleanup_json_ json_t *fixed = json_pack("[{s:s,s:s}]", "subnet_id", subnet_id,
	                                         "ip_address", gw);
	const char *project = kjson_str(router, "project_id");
	json_t *port = net_port_create_internal(r, project, net, router_id, NET_OWNER_ROUTER_INTF,
	                                        fixed);
	if (!port)
		return false;
	res->port_id = kpool_strdup(r->pool, kjson_str(port, "id"));
	res->project_id = kpool_strdup(r->pool, project);
	return true;
}

/* Whether ip lies in one of the subnet's allocation pools. */
static bool in_pools(const char *subnet_id, const char *ip)
{
	_cleanup_json_ json_t *pools = kdb_query_json(net_db, "SELECT first_ip, last_ip FROM "
	                                              "net_allocation_pool WHERE subnet_id = ?",
	                                              "s", subnet_id);
	net_ip a, lo, hi;
	if (!pools || !net_ip_parse(ip, &a))
		return false;
	size_t i;
	json_t *p;
	json_array_foreach(pools, i, p)
		if (net_ip_parse(kjson_str(p, "first_ip"), &lo) &&
		    net_ip_parse(kjson_str(p, "last_ip"), &hi) && lo.version == a.version &&
		    lo.v <= a.v && a.v <= hi.v)
			return true;
	return false;
}

static bool add_by_port(kreq *r, const json_t *router, const char *port_id, intf_result *res)
{
	const char *router_id = kjson_str(router, "id");
	json_t *port = net_port_get(r->pool, port_id);
	if (!port || !net_visible(r, kjson_str(port, "project_id"), false)) {
		net_error(r, 404, "PortNotFound", "Port %s could not be found.", port_id);
		return false;
	}
	const char *dev = kjson_str(port, "device_id");
	if (dev && *dev) {
		net_error(r, 409, "PortInUse", "Unable to complete operation on port %s for "
		          "network %s. Port already has an attached device %s.", port_id,
		          kjson_str(port, "network_id"), dev);
		return false;
	}
	json_t *fixed = json_object_get(port, "fixed_ips");
	if (json_array_size(fixed) == 0)
		return net_l3_bad_request(r, "router", "Router port must have at least one "
		                          "fixed IP");
	json_t *subnets = kpool_json(r->pool, json_array());
	size_t i;
	json_t *ip;
	int v4 = 0;
	json_array_foreach(fixed, i, ip) {
		json_t *s = net_l3_subnet_row(kjson_str(ip, "subnet_id"));
		if (!s) {
			internal_error(r);
			return false;
		}
		json_array_append_new(subnets, s);
		if (!check_subnet_mode(r, s))
			return false;
	}
	_cleanup_json_ json_t *ports = router_ports(router_id, NULL);
	if (has_v6(port)) {
		json_t *p;
		const char *net = kjson_str(port, "network_id");
		json_array_foreach(ports, i, p)
			if (strcmp(kjson_str(p, "network_id"), net) == 0 && has_v6(p))
				return net_l3_bad_request(r, "router", MSG_ONE_V6_PORT,
				                          kjson_str(p, "id"), net);
	}
	if (!check_dup_subnets(r, ports, subnets, port_id))
		return false;
	json_t *s;
	json_array_foreach(subnets, i, s)
		if (json_integer_value(json_object_get(s, "ip_version")) == 4)
			v4++;
	if (v4 > 1)
		return net_l3_bad_request(r, "router", "Cannot have multiple IPv4 subnets on "
		                          "router port");
	if (!net_is_admin(r)) {
		json_array_foreach(fixed, i, ip) {
			const char *sid = kjson_str(ip, "subnet_id");
			_cleanup_json_ json_t *sub = net_l3_subnet_row(sid);
			const char *owner = kjson_str(sub, "project_id");
			if (!in_pools(sid, kjson_str(ip, "ip_address")) &&
			    (!owner || strcmp(owner, net_project(r)) != 0))
				return net_l3_bad_request(r, "router", MSG_OUT_OF_POOL, port_id,
				                          sid);
		}
	}
	if (net_port_set_device(port_id, router_id, NET_OWNER_ROUTER_INTF) != 0) {
		internal_error(r);
		return false;
	}
	res->port_id = kpool_strdup(r->pool, port_id);
	res->network_id = kpool_strdup(r->pool, kjson_str(port, "network_id"));
	res->project_id = kpool_strdup(r->pool, kjson_str(port, "project_id"));
	res->subnet_ids = kpool_json(r->pool, json_array());
	json_array_foreach(fixed, i, ip)
		add_unique(res->subnet_ids, kjson_str(ip, "subnet_id"));
	return true;
}

static void add_router_interface(kreq *r)
{
	json_t *info;
	if (!action_body(r, &info))
		return;
	json_t *router = router_lookup(r, kreq_param(r, "router_id"));
	if (!router || !net_enforce(r, "add_router_interface", router))
		return;
	const char *port_id, *subnet_id;
	if (!interface_info(r, info, false, &port_id, &subnet_id))
		return;
	const char *id = kjson_str(router, "id");
	intf_result res = { 0 };
	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	if (port_id ? !add_by_port(r, router, port_id, &res)
	            : !add_by_subnet(r, router, subnet_id, &res))
		return;
	if (net_touch("net_router", id) != 0) {
		internal_error(r);
		return;
	}
	if (!net_txn_commit(r, &t))
		return;
	net_notify("router", id);
	kresp_json(r, 200, intf_info(id, &res));
}

/*
 * Neutron's _confirm_router_interface_not_in_use: floating IPs routed
 * through this subnet of the router, and routes whose nexthop lies in it,
 * keep the interface (409).
 */
static bool interface_not_in_use(kreq *r, const char *router_id, const json_t *subnet)
{
	const char *sid = kjson_str(subnet, "id"), *cidr = kjson_str(subnet, "cidr");
	_cleanup_json_ json_t *fips = kdb_query_json(net_db, "SELECT fixed_ip_address FROM "
	                                             "net_floatingip WHERE router_id = ? AND "
	                                             "port_id IN (SELECT port_id FROM "
	                                             "net_ip_allocation WHERE subnet_id = ?)",
	                                             "ss", router_id, sid);
	size_t i;
	json_t *e;
	json_array_foreach(fips, i, e) {
		const char *ip = kjson_str(e, "fixed_ip_address");
		if (ip && cidr && net_ip_in_cidr_str(ip, cidr)) {
			net_error(r, 409, "RouterInterfaceInUseByFloatingIP", MSG_INTF_IN_USE,
			          sid, router_id, "floating IPs");
			return false;
		}
	}
	_cleanup_json_ json_t *routes = routes_of(router_id);
	json_array_foreach(routes, i, e) {
		if (cidr && net_ip_in_cidr_str(kjson_str(e, "nexthop"), cidr)) {
			net_error(r, 409, "RouterInterfaceInUseByRoute", MSG_INTF_IN_USE, sid,
			          router_id, "routes");
			return false;
		}
	}
	return true;
}

static bool remove_by_port(kreq *r, const char *router_id, const char *port_id,
                           const char *subnet_id, intf_result *res)
{
	_cleanup_json_ json_t *port = kdb_query_row(net_db, NULL, "SELECT id, network_id, "
	                                            "project_id FROM net_port WHERE id = ? AND "
	                                            "device_id = ? AND device_owner = ?", "sss",
	                                            port_id, router_id, NET_OWNER_ROUTER_INTF);
	if (!port) {
		net_error(r, 404, "RouterInterfaceNotFound", "Router %s does not have an interface "
		          "with id %s", router_id, port_id);
		return false;
	}
	_cleanup_json_ json_t *ips = net_ipam_port_ips(port_id);
	json_t *sids = kpool_json(r->pool, json_array());
	size_t i;
	json_t *ip;
	json_array_foreach(ips, i, ip)
		add_unique(sids, kjson_str(ip, "subnet_id"));
	if (subnet_id && !str_in(sids, subnet_id)) {
		net_error(r, 400, "SubnetMismatchForPort", "Subnet on port %s does not match the "
		          "requested subnet %s.", port_id, subnet_id);
		return false;
	}
	json_t *sid;
	json_array_foreach(sids, i, sid) {
		_cleanup_json_ json_t *sub = net_l3_subnet_row(json_string_value(sid));
		if (sub && !interface_not_in_use(r, router_id, sub))
			return false;
	}
	if (net_port_delete_internal(port_id) != 0) {
		internal_error(r);
		return false;
	}
	res->port_id = kpool_strdup(r->pool, port_id);
	res->network_id = kpool_strdup(r->pool, kjson_str(port, "network_id"));
	res->project_id = kpool_strdup(r->pool, kjson_str(port, "project_id"));
	res->subnet_ids = sids;
	res->first_subnet = true;
	return true;
}

static bool remove_by_subnet(kreq *r, const char *router_id, const char *subnet_id,
                             intf_result *res)
{
	_cleanup_json_ json_t *subnet = net_subnet_lookup(r, subnet_id);
	if (!subnet)
		return false;
	const char *net = kjson_str(subnet, "network_id");
	_cleanup_json_ json_t *all = router_ports(router_id, NET_OWNER_ROUTER_INTF);
	_cleanup_json_ json_t *ports = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(all, i, p)
		if (strcmp(kjson_str(p, "network_id"), net) == 0)
			json_array_append(ports, p);
	if (json_array_size(ports) && !interface_not_in_use(r, router_id, subnet))
		return false;
	json_array_foreach(ports, i, p) {
		json_t *fixed = json_object_get(p, "fixed_ips");
		size_t j;
		json_t *ip;
		bool on = false;
		json_array_foreach(fixed, j, ip)
			on = on || strcmp(kjson_str(ip, "subnet_id"), subnet_id) == 0;
		if (!on)
			continue;
		const char *pid = kjson_str(p, "id");
		if (json_array_size(fixed) > 1) {
			/* a multi-prefix port: only this subnet's address goes */
			json_t *keep = kpool_json(r->pool, json_array());
			json_array_foreach(fixed, j, ip)
				if (strcmp(kjson_str(ip, "subnet_id"), subnet_id) != 0)
					json_array_append_new(keep, json_pack("{s:O,s:O}",
					        "subnet_id", json_object_get(ip, "subnet_id"),
					        "ip_address", json_object_get(ip, "ip_address")));
			const char *mac = kjson_str(p, "mac_address");
			_cleanup_json_ json_t *ips =
				net_ipam_update(r, net, pid, mac, keep, NET_OWNER_ROUTER_INTF);
			if (!ips)
				return false;
			net_touch("net_port", pid);
			net_notify("port", pid);
		} else if (net_port_delete_internal(pid) != 0) {
			internal_error(r);
			return false;
		}
		res->port_id = kpool_strdup(r->pool, pid);
		res->network_id = kpool_strdup(r->pool, net);
		res->project_id = kpool_strdup(r->pool, kjson_str(p, "project_id"));
		res->subnet_ids = kpool_json(r->pool, json_pack("[s]", subnet_id));
		res->first_subnet = true;
		return true;
	}
	net_error(r, 404, "RouterInterfaceNotFoundForSubnet", "Router %s has no interface on "
	          "subnet %s", router_id, subnet_id);
	return false;
}

static void remove_router_interface(kreq *r)
{
	json_t *info;
	if (!action_body(r, &info))
		return;
	json_t *router = router_lookup(r, kreq_param(r, "router_id"));
	if (!router || !net_enforce(r, "remove_router_interface", router))
		return;
	const char *port_id, *subnet_id;
	if (!interface_info(r, info, true, &port_id, &subnet_id))
		return;
	const char *id = kjson_str(router, "id");
	intf_result res = { 0 };
	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	if (port_id ? !remove_by_port(r, id, port_id, subnet_id, &res)
	            : !remove_by_subnet(r, id, subnet_id, &res))
		return;
	if (net_touch("net_router", id) != 0) {
		internal_error(r);
		return;
	}
	if (!net_txn_commit(r, &t))
		return;
	net_notify("router", id);
	kresp_json(r, 200, intf_info(id, &res));
}

/* ------------------------------------------------------------------------ */
/* extraroute-atomic: PUT /v2.0/routers/{id}/add_extraroutes, remove_extraroutes */

static void change_extraroutes(kreq *r, bool add)
{
	const char *action = add ? "add_extraroutes" : "remove_extraroutes";
	json_t *objs = net_body(r, "router", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
		if (strcmp(k, "routes") != 0) {
			net_error(r, 400, NULL, "Unrecognized attribute(s) '%s'", k);
			return;
		}
	json_t *router = router_lookup(r, kreq_param(r, "router_id"));
	if (!router || !net_enforce(r, action, router))
		return;
	json_t *rv = json_object_get(obj, "routes");
	if (!rv) {
		net_error(r, 400, NULL, "Failed to parse request. Required attribute 'routes' not "
		          "specified");
		return;
	}
	_cleanup_json_ json_t *delta = parse_routes(r, rv);
	if (!delta)
		return;
	const char *id = kjson_str(router, "id");
	_cleanup_txn_ net_txn t = { 0 };
	if (!net_txn_begin(r, &t))
		return;
	_cleanup_json_ json_t *old = routes_of(id);
	_cleanup_json_ json_t *want = json_array();
	size_t i, j;
	json_t *e, *d;
	json_array_foreach(old, i, e) {
		bool drop = false;
		if (!add)
			json_array_foreach(delta, j, d)
				drop = drop || json_equal(e, d);
		if (!drop)
			json_array_append(want, e);
	}
	if (add)
		json_array_foreach(delta, i, d) {
			bool dup = false;
			json_array_foreach(want, j, e)
				dup = dup || json_equal(e, d);
			if (!dup)
				json_array_append(want, d);
		}
	if (!set_routes(r, id, want))
		return;
	if (net_touch("net_router", id) != 0) {
		internal_error(r);
		return;
	}
	if (!net_txn_commit(r, &t))
		return;
	net_notify("router", id);
	json_t *out = router_get(id);
	if (!out) {
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "router", out));
}

static void add_extraroutes(kreq *r)
{
	change_extraroutes(r, true);
}

static void remove_extraroutes(kreq *r)
{
	change_extraroutes(r, false);
}

/* ------------------------------------------------------------------------ */

const kroute net_l3_routes[] = {
	{ "GET", "/v2.0/routers", list_routers, 0 },
	{ "POST", "/v2.0/routers", create_router, 0 },
	{ "GET", "/v2.0/routers/{router_id}", show_router, 0 },
	{ "PUT", "/v2.0/routers/{router_id}", update_router, 0 },
	{ "DELETE", "/v2.0/routers/{router_id}", delete_router, 0 },
	{ "PUT", "/v2.0/routers/{router_id}/add_router_interface", add_router_interface, 0 },
	{ "PUT", "/v2.0/routers/{router_id}/remove_router_interface", remove_router_interface, 0 },
	{ "PUT", "/v2.0/routers/{router_id}/add_extraroutes", add_extraroutes, 0 },
	{ "PUT", "/v2.0/routers/{router_id}/remove_extraroutes", remove_extraroutes, 0 },
	{ "GET", "/v2.0/floatingips", net_fip_list, 0 },
	{ "POST", "/v2.0/floatingips", net_fip_create, 0 },
	{ "GET", "/v2.0/floatingips/{floatingip_id}", net_fip_show, 0 },
	{ "PUT", "/v2.0/floatingips/{floatingip_id}", net_fip_update, 0 },
	{ "DELETE", "/v2.0/floatingips/{floatingip_id}", net_fip_delete, 0 },
	{ "GET", "/v2.0/floatingip_pools", net_fip_pools_list, 0 },
};
const size_t net_l3_nroutes = ARRAY_SIZE(net_l3_routes);
