/*
 * subnets.c - /v2.0/subnets: IPv4 and IPv6 subnets of a network, with their
 * allocation pools, DNS name servers, host routes, DHCP and IPv6 modes, and
 * prefixes taken from subnet pools.
 *
 * Checks run in Neutron's order (db_base_plugin_v2 _create_subnet_precommit
 * and _validate_subnet, then the IPAM allocate_subnet), because the first
 * failing check decides the error a client sees:
 *   attribute map (types, read-only, required)      400
 *   network visible                                   404 NetworkNotFound
 *   policy (admin or network owner)                   403
 *   cidr / prefixlen / subnetpool combination         400 BadRequest
 *   ip_version of cidr, gateway, DNS, routes; DHCP on tiny or special
 *   prefixes; IPv6 modes                              400 InvalidInput
 *   overlap with another subnet of the network        400 InvalidInput
 *     ("Requested subnet with cidr: X for network: Y overlaps with another
 *     subnet", the text Tempest looks for)
 *   allocation pools                                  400 / 409 (ipam.c)
 * The subnet, its pools, name servers and routes are written in one
 * transaction with the overlap check, so concurrent creates cannot both
 * take overlapping ranges.
 *
 * Delete refuses (409 SubnetInUse) while a port other than a DHCP port
 * holds an address from the subnet (router interfaces included, as in
 * Neutron); the DHCP ports just lose that address.  On IPv6 auto-address
 * (SLAAC / DHCPv6-stateless) subnets, ordinary ports' addresses are removed
 * too, as Neutron does.
 */
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "common.h"
#include "ipam.h"
#include "l2.h"

static const char *const ipv6_modes[] = { "dhcpv6-stateful", "dhcpv6-stateless", "slaac", NULL };

static const net_attr subnet_attrs[] = {
	{ "name", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "description", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "network_id", NET_A_UUID, NET_A_POST | NET_A_REQUIRED, 0, 0, 0, NULL },
	{ "ip_version", NET_A_INT, NET_A_POST | NET_A_REQUIRED, 0, 0, 0, NULL },
	{ "cidr", NET_A_CIDR, NET_A_POST | NET_A_NULL, 0, 0, 0, NULL },
	{ "prefixlen", NET_A_INT, NET_A_POST, 0, 0, 128, NULL },
	{ "subnetpool_id", NET_A_UUID, NET_A_POST | NET_A_NULL, 0, 0, 0, NULL },
	{ "use_default_subnetpool", NET_A_BOOL, NET_A_POST, 0, 0, 0, NULL },
	{ "gateway_ip", NET_A_IP, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 0, NULL },
	{ "allocation_pools", NET_A_LIST, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "dns_nameservers", NET_A_LIST, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 0, NULL },
	{ "host_routes", NET_A_LIST, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 0, NULL },
	{ "enable_dhcp", NET_A_BOOL, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "ipv6_ra_mode", NET_A_ENUM, NET_A_POST | NET_A_NULL, 0, 0, 0, ipv6_modes },
	{ "ipv6_address_mode", NET_A_ENUM, NET_A_POST | NET_A_NULL, 0, 0, 0, ipv6_modes },
	{ "service_types", NET_A_LIST, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "segment_id", NET_A_UUID, NET_A_POST | NET_A_NULL, 0, 0, 0, NULL },
	{ "id", NET_A_UUID, 0, 0, 0, 0, NULL },
	{ "created_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "updated_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "revision_number", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "tags", NET_A_ANY, 0, 0, 0, 0, NULL },
};

static const char *const subnet_sort_keys[] = {
	"id", "name", "ip_version", "network_id", "subnetpool_id", "cidr", "gateway_ip",
	"tenant_id", "project_id", "enable_dhcp", "ipv6_ra_mode", "ipv6_address_mode",
	"description", "created_at", "updated_at", "revision_number", "segment_id", NULL,
};

#define SUBNET_COLS "id, project_id, network_id, name, description, ip_version, cidr, " \
	"gateway_ip, enable_dhcp, ipv6_ra_mode, ipv6_address_mode, subnetpool_id, created_at, " \
	"updated_at, revision_number"

static void internal_error(kreq *r)
{
	net_error(r, 500, NULL, "Request Failed: internal server error while processing your "
	          "request.");
}

static bool bad_request(kreq *r, const char *msg)
{
	net_error(r, 400, "BadRequest", "Bad subnets request: %s.", msg);
	return false;
}

static bool invalid_input(kreq *r, const char *fmt, ...) _printf_(2, 3);
static bool invalid_input(kreq *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *m = kpool_vprintf(r->pool, fmt, ap);
	va_end(ap);
	net_error(r, 400, "InvalidInput", "Invalid input for operation: %s.", m);
	return false;
}

/* ------------------------------------------------------------------------ */
/* Views */

static int cmp_pool(const void *a, const void *b)
{
	net_ip x, y;
	net_ip_parse(kjson_str(*(json_t *const *)a, "start"), &x);
	net_ip_parse(kjson_str(*(json_t *const *)b, "start"), &y);
	return (x.v > y.v) - (x.v < y.v);
}

static void sort_pools(json_t *arr)
{
	size_t n = json_array_size(arr);
	if (n < 2)
		return;
	json_t **v = calloc(n, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp_pool);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

/* Per-subnet children, for one subnet (id) or all (NULL): object
 * subnet_id -> {"pools": [], "dns": [], "routes": []}. */
static json_t *load_children(const char *id)
{
	json_t *out = json_object();
	_cleanup_json_ json_t *pools = id
		? kdb_query_json(net_db, "SELECT subnet_id, first_ip, last_ip FROM "
		                 "net_allocation_pool WHERE subnet_id = ?", "s", id)
		: kdb_query_json(net_db, "SELECT subnet_id, first_ip, last_ip FROM "
		                 "net_allocation_pool", "");
	_cleanup_json_ json_t *dns =
	        id ? kdb_query_json(net_db,
	                            "SELECT subnet_id, address FROM net_dns_nameserver WHERE "
	                            "subnet_id = ? ORDER BY ord",
	                            "s", id)
	           : kdb_query_json(net_db,
	                            "SELECT subnet_id, address FROM net_dns_nameserver ORDER BY "
	                            "subnet_id, ord",
	                            "");
	_cleanup_json_ json_t *routes =
	        id ? kdb_query_json(net_db,
	                            "SELECT subnet_id, destination, nexthop FROM net_host_route "
	                            "WHERE subnet_id = ?",
	                            "s", id)
	           : kdb_query_json(net_db,
	                            "SELECT subnet_id, destination, nexthop FROM "
	                            "net_host_route",
	                            "");
	struct { json_t *rows; const char *key; } parts[] = {
		{ pools, "pools" }, { dns, "dns" }, { routes, "routes" },
	};
	for (size_t p = 0; p < ARRAY_SIZE(parts); p++) {
		size_t i;
		json_t *row;
		json_array_foreach(parts[p].rows, i, row) {
			const char *sid = kjson_str(row, "subnet_id");
			json_t *c = json_object_get(out, sid);
			if (!c) {
				c = json_pack("{s:[],s:[],s:[]}", "pools", "dns", "routes");
				json_object_set_new(out, sid, c);
			}
			json_t *arr = json_object_get(c, parts[p].key);
			if (p == 0)
				json_array_append_new(arr, json_pack("{s:O,s:O}", "start",
				                      json_object_get(row, "first_ip"), "end",
				                      json_object_get(row, "last_ip")));
			else if (p == 1)
				json_array_append(arr, json_object_get(row, "address"));
			else
				json_array_append_new(
				        arr, json_pack("{s:O,s:O}", "destination",
				                       json_object_get(row, "destination"),
				                       "nexthop", json_object_get(row, "nexthop")));
		}
	}
	return out;
}

static void subnet_view(json_t *s, const json_t *children)
{
	net_bools(s, "enable_dhcp", NULL);
	json_t *c = json_object_get(children, kjson_str(s, "id"));
	json_t *pools = c ? json_deep_copy(json_object_get(c, "pools")) : json_array();
	sort_pools(pools);
	json_object_set_new(s, "allocation_pools", pools);
	json_object_set_new(s, "dns_nameservers",
	                    c ? json_deep_copy(json_object_get(c, "dns")) : json_array());
	json_object_set_new(s, "host_routes",
	                    c ? json_deep_copy(json_object_get(c, "routes")) : json_array());
	json_object_set_new(s, "service_types", json_array());
	json_object_set_new(s, "segment_id", json_null());
}

/* Whether r may see a subnet: its own, or its network is shared. */
static bool subnet_visible(kreq *r, const json_t *row, bool net_shared)
{
	return !r || net_visible(r, kjson_str(row, "project_id"), net_shared);
}

static bool network_shared(const char *network_id)
{
	_cleanup_json_ json_t *n = kdb_query_row(net_db, NULL, "SELECT shared FROM net_network "
	                                         "WHERE id = ?", "s", network_id);
	return n && json_integer_value(json_object_get(n, "shared"));
}

json_t *net_subnet_get(kreq *r, const char *id)
{
	if (!id)
		return NULL;
	json_t *row = kdb_query_row(net_db, NULL, "SELECT " SUBNET_COLS " FROM net_subnet WHERE "
	                            "id = ?", "s", id);
	if (!row)
		return NULL;
	if (!subnet_visible(r, row, network_shared(kjson_str(row, "network_id")))) {
		json_decref(row);
		return NULL;
	}
	_cleanup_json_ json_t *children = load_children(id);
	subnet_view(row, children);
	net_std_view(row, "subnets");
	return row;
}

json_t *net_subnet_lookup(kreq *r, const char *id)
{
	json_t *s = net_subnet_get(r, id);
	if (!s)
		net_error(r, 404, "SubnetNotFound", "Subnet %s could not be found.", id);
	return s;
}

/* ------------------------------------------------------------------------ */
/* List / show */

void net_h_subnet_list(kreq *r)
{
	net_listq *q = net_listq_parse(r, subnet_sort_keys);
	if (!q)
		return;
	json_t *rows;
	const net_filter *nf = net_listq_get(q, "network_id");
	if (nf && nf->nvalues == 1)
		rows = kdb_query_json(net_db, "SELECT " SUBNET_COLS " FROM net_subnet WHERE "
		                      "network_id = ? ORDER BY created_at, id", "s", nf->values[0]);
	else
		rows = kdb_query_json(net_db, "SELECT " SUBNET_COLS " FROM net_subnet ORDER BY "
		                      "created_at, id", "");
	_cleanup_json_ json_t *nets = kdb_query_json(net_db, "SELECT id FROM net_network WHERE "
	                                             "shared <> 0", "");
	if (!rows || !nets) {
		json_decref(rows);
		internal_error(r);
		return;
	}
	_cleanup_json_ json_t *shared = json_object();
	size_t i;
	json_t *row;
	json_array_foreach(nets, i, row)
		json_object_set_new(shared, kjson_str(row, "id"), json_true());
	_cleanup_json_ json_t *children = load_children(NULL);
	json_t *items = json_array();
	json_array_foreach(rows, i, row) {
		bool sh = json_object_get(shared, kjson_str(row, "network_id")) != NULL;
		if (!subnet_visible(r, row, sh))
			continue;
		subnet_view(row, children);
		json_array_append(items, row);
	}
	json_decref(rows);
	net_std_view_list(items, "subnets");
	net_respond_list(r, "subnets", items, q);
}

void net_h_subnet_show(kreq *r)
{
	json_t *s = net_subnet_lookup(r, kreq_param(r, "subnet_id"));
	if (s)
		net_respond_one(r, 200, "subnet", s);
}

/* ------------------------------------------------------------------------ */
/* Validation shared by create and update */

static bool ip_version_of(kreq *r, const char *name, const char *addr, int ip_version)
{
	net_ip ip;
	net_cidr c;
	int v = 0;
	if (net_ip_parse(addr, &ip))
		v = ip.version;
	else if (net_cidr_parse(addr, &c, NULL))
		v = c.net.version;
	if (v != ip_version)
		return invalid_input(r, "%s '%s' does not match the ip_version '%d'", name, addr,
		                     ip_version);
	return true;
}

/* Python's str() of a dict with destination/nexthop, as Neutron prints a route. */
static const char *route_repr(kreq *r, const json_t *rt)
{
	if (!json_is_object(rt)) {
		_cleanup_free_ char *d = kjson_dump(rt);
		return kpool_strdup(r->pool, d ? d : "");
	}
	char *s = kpool_strdup(r->pool, "{");
	const char *k;
	json_t *v;
	bool first = true;
	json_object_foreach((json_t *)rt, k, v) {
		s = kpool_printf(r->pool, "%s%s'%s': %s%s%s", s, first ? "" : ", ", k,
		                 json_is_string(v) ? "'" : "",
		                 json_is_string(v) ? json_string_value(v) : "None",
		                 json_is_string(v) ? "'" : "");
		first = false;
	}
	return kpool_printf(r->pool, "%s}", s);
}

/* The API validators of dns_nameservers / host_routes / allocation_pools
 * (type:nameservers, type:hostroutes, type:ip_pools): canonicalise in place. */
static bool check_lists(kreq *r, json_t *obj)
{
	json_t *dns = json_object_get(obj, "dns_nameservers");
	if (json_is_null(dns))
		json_object_set_new(obj, "dns_nameservers", dns = json_array());
	size_t i, j;
	json_t *e;
	json_array_foreach(dns, i, e) {
		const char *canon = json_is_string(e) ? net_ip_canon(r->pool, json_string_value(e))
		                                      : NULL;
		if (!canon)
			return net_bad_input(r, "dns_nameservers",
			                     "'%s' is not a valid nameserver. "
			                     "'%s' is not a valid IP address",
			                     json_is_string(e) ? json_string_value(e) : "None",
			                     json_is_string(e) ? json_string_value(e) : "None");
		for (j = 0; j < i; j++)
			if (strcmp(json_string_value(json_array_get(dns, j)),
			           json_string_value(e)) == 0)
				return net_bad_input(r, "dns_nameservers",
				                     "Duplicate nameserver '%s'",
				                     json_string_value(e));
	}
	json_t *routes = json_object_get(obj, "host_routes");
	if (json_is_null(routes))
		json_object_set_new(obj, "host_routes", routes = json_array());
	json_array_foreach(routes, i, e) {
		if (!json_is_object(e) || json_object_size(e) != 2 ||
		    !json_is_string(json_object_get(e, "destination")) ||
		    !json_is_string(json_object_get(e, "nexthop")))
			return net_bad_input(
			        r, "host_routes",
			        "Validation of dictionary's keys failed. "
			        "Expected keys: {'destination', 'nexthop'} Provided keys: "
			        "%s",
			        route_repr(r, e));
		const char *dst = kjson_str(e, "destination");
		net_cidr c;
		bool hb;
		if (!strchr(dst, '/') || !net_cidr_parse(dst, &c, &hb) || hb)
			return net_bad_input(r, "host_routes", "'%s' is not a valid CIDR", dst);
		const char *nh = net_ip_canon(r->pool, kjson_str(e, "nexthop"));
		if (!nh)
			return net_bad_input(r, "host_routes", "'%s' is not a valid IP address",
			                     kjson_str(e, "nexthop"));
		char buf[50];
		json_array_set_new(routes, i, json_pack("{s:s,s:s}", "destination",
		                                        net_cidr_format(&c, buf), "nexthop", nh));
		for (j = 0; j < i; j++)
			if (json_equal(json_array_get(routes, j), json_array_get(routes, i)))
				return net_bad_input(r, "host_routes", "Duplicate hostroute '%s'",
				                     route_repr(r, json_array_get(routes, i)));
	}
	json_t *pools = json_object_get(obj, "allocation_pools");
	json_array_foreach(pools, i, e) {
		if (!json_is_object(e) || json_object_size(e) != 2 ||
		    !json_object_get(e, "start") || !json_object_get(e, "end"))
			return net_bad_input(
			        r, "allocation_pools",
			        "Validation of dictionary's keys "
			        "failed. Expected keys: {'end', 'start'} Provided keys: %s",
			        route_repr(r, e));
		const char *keys[] = { "start", "end" };
		for (size_t k = 0; k < 2; k++) {
			json_t *v = json_object_get(e, keys[k]);
			net_ip ip;
			if (!json_is_string(v) || !net_ip_parse(json_string_value(v), &ip))
				return net_bad_input(r, "allocation_pools",
				                     "'%s' is not a valid IP "
				                     "address",
				                     json_is_string(v) ? json_string_value(v)
				                                       : "None");
		}
	}
	return true;
}

/* Neutron's _validate_subnet for the fields present in s (cidr may be NULL
 * for pool requests); cur = the existing subnet on update. */
static bool validate_subnet(kreq *r, json_t *s, int ip_version, const char *cidr,
                            const json_t *cur)
{
	net_cidr net;
	bool has_cidr = cidr && net_cidr_parse(cidr, &net, NULL);
	if (cidr && !ip_version_of(r, "cidr", cidr, ip_version))
		return false;
	if (has_cidr && ip_version == 6 && net.net.v == 0 && net.prefixlen < 128)
		return invalid_input(r, "IPv6 subnet '::' is not supported");
	bool dhcp = cur ? json_is_true(json_object_get(cur, "enable_dhcp")) : false;
	json_t *dj = json_object_get(s, "enable_dhcp");
	bool want_dhcp = dj ? json_is_true(dj) : (cur ? dhcp : true);
	if (has_cidr && want_dhcp && !dhcp) {
		if ((ip_version == 4 && net.prefixlen > 30) ||
		    (ip_version == 6 && net.prefixlen > 126))
			return invalid_input(r,
			                     "Subnet has a prefix length that is incompatible with "
			                     "DHCP service enabled");
		bool mcast = ip_version == 4 ? (net.net.v >> 28) == 0xe
		                             : (net.net.v >> 120) == 0xff;
		if (mcast)
			return invalid_input(r,
			                     "Multicast IP subnet is not supported if enable_dhcp "
			                     "is True");
		bool loop = ip_version == 4 ? (net.net.v >> 24) == 127 : (net.net.v == 1);
		if (loop)
			return invalid_input(
			        r, "Loopback IP subnet is not supported if enable_dhcp is "
			           "True");
		if (ip_version == 4 && net.net.v == 0)
			return invalid_input(r, "First IP '0.0.0.0' of network is not supported if "
			                     "enable_dhcp is True.");
	}
	json_t *gw = json_object_get(s, "gateway_ip");
	if (json_is_string(gw)) {
		const char *g = json_string_value(gw);
		if (!ip_version_of(r, "gateway_ip", g, ip_version))
			return false;
		net_ip ip;
		if (has_cidr && net_ip_parse(g, &ip) && ip_version == 4 &&
		    net_cidr_contains(&net, &ip) &&
		    (ip.v == net.net.v || ip.v == net_cidr_last(&net).v))
			return invalid_input(r, "Gateway is not valid on subnet");
	}
	json_t *dns = json_object_get(s, "dns_nameservers");
	long maxdns = kumo_conf ? kconf_get_int(kumo_conf, "network", "max_dns_nameservers", 5) : 5;
	if (json_array_size(dns) > (size_t)maxdns) {
		const char *sid = cur ? kjson_str(cur, "id") : "new subnet";
		net_error(r, 400, "DNSNameServersExhausted", "Unable to complete operation for %s. "
		          "The number of DNS nameservers exceeds the limit %ld.", sid, maxdns);
		return false;
	}
	size_t i;
	json_t *e;
	json_array_foreach(dns, i, e)
		if (!ip_version_of(r, "dns_nameserver", json_string_value(e), ip_version))
			return false;
	json_t *routes = json_object_get(s, "host_routes");
	long maxr = kumo_conf ? kconf_get_int(kumo_conf, "network", "max_subnet_host_routes", 20)
	                      : 20;
	if (json_array_size(routes) > (size_t)maxr) {
		const char *sid = cur ? kjson_str(cur, "id") : "new subnet";
		net_error(r, 400, "HostRoutesExhausted", "Unable to complete operation for %s. The "
		          "number of host routes exceeds the limit %ld.", sid, maxr);
		return false;
	}
	json_array_foreach(routes, i, e)
		if (!ip_version_of(r, "nexthop", kjson_str(e, "nexthop"), ip_version) ||
		    !ip_version_of(r, "destination", kjson_str(e, "destination"), ip_version))
			return false;
	const char *ra = kjson_str(s, "ipv6_ra_mode"), *am = kjson_str(s, "ipv6_address_mode");
	if (ip_version == 4) {
		if (ra)
			return invalid_input(r, "ipv6_ra_mode is not valid when ip_version is 4");
		if (am)
			return invalid_input(r,
			                     "ipv6_address_mode is not valid when ip_version is 4");
		return true;
	}
	if (cur) {
		if (dj && !json_is_true(dj) && (kjson_str(cur, "ipv6_ra_mode") ||
		                                kjson_str(cur, "ipv6_address_mode")))
			return invalid_input(r,
			                     "Cannot disable enable_dhcp with ipv6 attributes set");
		return true;
	}
	if ((ra || am) && !want_dhcp)
		return invalid_input(r, "ipv6_ra_mode or ipv6_address_mode cannot be set when "
		                     "enable_dhcp is set to False");
	if (ra && am && strcmp(ra, am) != 0)
		return invalid_input(
		        r,
		        "ipv6_ra_mode set to '%s' with ipv6_address_mode set to '%s' "
		        "is not valid. If both attributes are set, they must be the same "
		        "value",
		        ra, am);
	const char *mode = am ? am : NULL;
	if (has_cidr && mode &&
	    (strcmp(mode, "slaac") == 0 || strcmp(mode, "dhcpv6-stateless") == 0) &&
	    net.prefixlen != 64)
		return invalid_input(r, "Invalid CIDR %s for IPv6 address mode. OpenStack uses the "
		                     "EUI-64 address format, which requires the prefix to be /64",
		                     cidr);
	return true;
}

/* Write pools / DNS / routes of a subnet (replacing what is there). */
static bool write_pools(const char *id, const json_t *pools)
{
	if (kdb_run(net_db, NULL, "DELETE FROM net_allocation_pool WHERE subnet_id = ?", "s",
	            id) != KDB_DONE)
		return false;
	size_t i;
	json_t *p;
	json_array_foreach(pools, i, p)
		if (kdb_run(net_db, NULL, "INSERT INTO net_allocation_pool (subnet_id, first_ip, "
		            "last_ip) VALUES (?, ?, ?)", "sss", id, kjson_str(p, "start"),
		            kjson_str(p, "end")) != KDB_DONE)
			return false;
	return true;
}

static bool write_dns(const char *id, const json_t *dns)
{
	if (kdb_run(net_db, NULL, "DELETE FROM net_dns_nameserver WHERE subnet_id = ?", "s",
	            id) != KDB_DONE)
		return false;
	size_t i;
	json_t *d;
	json_array_foreach(
	        dns, i, d) if (kdb_run(net_db, NULL,
	                               "INSERT INTO net_dns_nameserver (subnet_id, address, ord) "
	                               "VALUES (?, ?, ?)",
	                               "ssi", id, json_string_value(d),
	                               (int64_t)i) != KDB_DONE) return false;
	return true;
}

static bool write_routes(const char *id, const json_t *routes)
{
	if (kdb_run(net_db, NULL, "DELETE FROM net_host_route WHERE subnet_id = ?", "s",
	            id) != KDB_DONE)
		return false;
	size_t i;
	json_t *rt;
	json_array_foreach(routes, i, rt)
		if (kdb_run(net_db, NULL, "INSERT INTO net_host_route (subnet_id, destination, "
		            "nexthop) VALUES (?, ?, ?)", "sss", id, kjson_str(rt, "destination"),
		            kjson_str(rt, "nexthop")) != KDB_DONE)
			return false;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Create */

static json_t *create_one(kreq *r, json_t *obj)
{
	if (!net_validate(r, obj, subnet_attrs, ARRAY_SIZE(subnet_attrs), true))
		return NULL;
	json_t *ipv = json_object_get(obj, "ip_version");
	int ip_version = (int)json_integer_value(ipv);
	if (ip_version != 4 && ip_version != 6) {
		net_bad_input(r, "ip_version", "%d is not in [4, 6]", ip_version);
		return NULL;
	}
	if (!check_lists(r, obj))
		return NULL;
	const char *project = net_body_project(r, obj);
	if (!project)
		return NULL;
	const char *network_id = kjson_str(obj, "network_id");
	_cleanup_json_ json_t *net = net_network_lookup(r, network_id);
	if (!net)
		return NULL;
	if (!net_enforce_attrs(r, "create_subnet", obj, obj))
		return NULL;

	/* cidr, prefixlen, subnet pool */
	const char *cidr = kjson_str(obj, "cidr");
	json_t *plj = json_object_get(obj, "prefixlen");
	if (cidr && plj) {
		bad_request(r, "cidr and prefixlen must not be supplied together");
		return NULL;
	}
	if (cidr) {
		net_cidr c;
		char buf[50];
		net_cidr_parse(cidr, &c, NULL);
		cidr = kpool_strdup(r->pool, net_cidr_format(&c, buf));
	}
	const char *pool_id = kjson_str(obj, "subnetpool_id");
	bool use_default = json_is_true(json_object_get(obj, "use_default_subnetpool"));
	if (use_default && pool_id) {
		bad_request(r, "subnetpool_id and use_default_subnetpool cannot both be specified");
		return NULL;
	}
	if (use_default) {
		int v = ip_version;
		if (cidr) {
			net_cidr c;
			net_cidr_parse(cidr, &c, NULL);
			v = c.net.version;
		}
		pool_id = net_subnetpool_default(r, v);
		if (!pool_id) {
			bad_request(r, kpool_printf(r->pool,
			                            "No default subnetpool found for IPv%d", v));
			return NULL;
		}
	}
	if (!pool_id && !cidr) {
		bad_request(r, "a subnetpool must be specified in the absence of a cidr");
		return NULL;
	}
	if (pool_id && !cidr && json_object_get(obj, "allocation_pools")) {
		bad_request(r, "allocation_pools allowed only for specific subnet requests.");
		return NULL;
	}
	if (!validate_subnet(r, obj, ip_version, cidr, NULL))
		return NULL;

	/* the rest happens in the transaction (see net_h_subnet_create) */
	if (pool_id) {
		int pl = plj ? (int)json_integer_value(plj) : 0;
		const char *got;
		if (!net_subnetpool_allocate(r, pool_id, ip_version, pl, cidr, &got))
			return NULL;
		cidr = got;
	}
	net_cidr c;
	net_cidr_parse(cidr, &c, NULL);
	if (c.prefixlen == 0) {
		invalid_input(r, "0 is not allowed as CIDR prefix length");
		return NULL;
	}
	_cleanup_json_ json_t *others = kdb_query_json(net_db, "SELECT cidr FROM net_subnet WHERE "
	                                               "network_id = ?", "s", network_id);
	size_t i;
	json_t *row;
	json_array_foreach(others, i, row)
		if (net_cidrs_overlap_str(kjson_str(row, "cidr"), cidr)) {
		invalid_input(r,
		              "Requested subnet with cidr: %s for network: %s overlaps with "
		              "another subnet",
		              cidr, network_id);
		return NULL;
		}

	/* gateway */
	const char *gateway = NULL;
	json_t *gwj = json_object_get(obj, "gateway_ip");
	if (!gwj) {
		net_ip g = c.net;
		if (ip_version == 4)
			g.v += 1;
		char buf[46];
		if (net_cidr_size(&c) > 1 || ip_version == 6)
			gateway = kpool_strdup(r->pool, net_ip_format(&g, buf));
	} else if (json_is_string(gwj)) {
		gateway = net_ip_canon(r->pool, json_string_value(gwj));
	}

	/* allocation pools */
	json_t *pools = json_object_get(obj, "allocation_pools");
	_cleanup_json_ json_t *pool_list = NULL;
	if (pools) {
		pool_list = json_deep_copy(pools);
		if (!net_ipam_check_pools(r, &c, pool_list, gateway))
			return NULL;
	} else {
		pool_list = net_ipam_default_pools(&c, gateway);
	}

	char id[37];
	net_new_id(id);
	int64_t now = kutil_now_us();
	const char *name = kjson_str(obj, "name"), *desc = kjson_str(obj, "description");
	bool dhcp = !json_is_false(json_object_get(obj, "enable_dhcp"));
	int rc = kdb_run(net_db, NULL, "INSERT INTO net_subnet (" SUBNET_COLS ") VALUES (?, ?, ?, "
	                 "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)", "sssssissbsssii", id, project,
	                 network_id, name ? name : "", desc ? desc : "", (int64_t)ip_version, cidr,
	                 gateway, dhcp, kjson_str(obj, "ipv6_ra_mode"),
	                 kjson_str(obj, "ipv6_address_mode"), pool_id, now, now);
	if (rc != KDB_DONE || !write_pools(id, pool_list) ||
	    !write_dns(id, json_object_get(obj, "dns_nameservers")) ||
	    !write_routes(id, json_object_get(obj, "host_routes"))) {
		internal_error(r);
		return NULL;
	}
	/* Neutron bumps the network's revision when a subnet joins it */
	net_touch("net_network", network_id);
	return net_subnet_get(NULL, id);
}

void net_h_subnet_create(kreq *r)
{
	bool bulk;
	json_t *objs = net_body(r, "subnet", "subnets", &bulk);
	if (!objs)
		return;
	size_t i;
	json_t *obj;
	const char *p = net_project(r);
	json_array_foreach(objs, i, obj) {
		const char *op = kjson_str(obj, "project_id");
		if (!op)
			op = kjson_str(obj, "tenant_id");
		if (!net_quota_check(r, op ? op : p, "subnet", (int)json_array_size(objs)))
			return;
	}
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	json_array_foreach(objs, i, obj) {
		json_t *s = create_one(r, obj);
		if (!s) {
			kdb_rollback(net_db);
			json_decref(out);
			return;
		}
		json_array_append_new(out, s);
	}
	if (kdb_commit(net_db) != 0) {
		json_decref(out);
		internal_error(r);
		return;
	}
	json_array_foreach(out, i, obj) {
		net_notify("subnet", kjson_str(obj, "id"));
		net_notify("network", kjson_str(obj, "network_id"));
	}
	if (bulk) {
		kresp_json(r, 201, json_pack("{s:o}", "subnets", out));
		return;
	}
	json_t *one = json_incref(json_array_get(out, 0));
	json_decref(out);
	net_respond_one(r, 201, "subnet", one);
}

/* ------------------------------------------------------------------------ */
/* Update */

void net_h_subnet_update(kreq *r)
{
	const char *id = kreq_param(r, "subnet_id");
	json_t *objs = net_body(r, "subnet", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, subnet_attrs, ARRAY_SIZE(subnet_attrs), false) ||
	    !check_lists(r, obj))
		return;
	_cleanup_json_ json_t *cur = net_subnet_lookup(r, id);
	if (!cur)
		return;
	if (!net_enforce_attrs(r, "update_subnet", obj, cur))
		return;
	int ip_version = (int)json_integer_value(json_object_get(cur, "ip_version"));
	const char *cidr = kjson_str(cur, "cidr");
	if (!validate_subnet(r, obj, ip_version, cidr, cur))
		return;
	net_cidr c;
	net_cidr_parse(cidr, &c, NULL);
	json_t *gwj = json_object_get(obj, "gateway_ip");
	const char *cur_gw = kjson_str(cur, "gateway_ip");
	const char *gateway = cur_gw;
	if (gwj) {
		gateway =
		        json_is_string(gwj) ? net_ip_canon(r->pool, json_string_value(gwj)) : NULL;
		bool changed = (gateway == NULL) != (cur_gw == NULL) ||
		               (gateway && cur_gw && strcmp(gateway, cur_gw) != 0);
		if (changed && cur_gw) {
			bool found = false;
			_cleanup_json_ json_t *p =
			        kdb_query_row(net_db, &found,
			                      "SELECT a.port_id FROM "
			                      "net_ip_allocation a JOIN net_port p ON "
			                      "p.id = a.port_id WHERE a.subnet_id = ? "
			                      "AND a.ip_address = ? AND p.device_owner "
			                      "LIKE 'network:router%'",
			                      "ss", id, cur_gw);
			if (found) {
				net_error(r, 409, "GatewayIpInUse",
				          "Current gateway ip %s already in use by "
				          "port %s. Unable to update.",
				          cur_gw, kjson_str(p, "port_id"));
				return;
			}
		}
	}
	json_t *pools = json_object_get(obj, "allocation_pools");
	_cleanup_json_ json_t *pool_list = NULL;
	if (pools) {
		pool_list = json_deep_copy(pools);
		if (!net_ipam_check_pools(r, &c, pool_list, gateway))
			return;
	} else if (gwj && gateway) {
		/* the new gateway must stay out of the current pools */
		pool_list = json_deep_copy(json_object_get(cur, "allocation_pools"));
		if (!net_ipam_check_pools(r, &c, pool_list, gateway))
			return;
		json_decref(pool_list);
		pool_list = NULL;
	}
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	bool ok = true;
	const char *name = kjson_str(obj, "name"), *desc = kjson_str(obj, "description");
	if (json_object_get(obj, "name"))
		ok = ok && kdb_run(net_db, NULL, "UPDATE net_subnet SET name = ? WHERE id = ?",
		                   "ss", name ? name : "", id) == KDB_DONE;
	if (json_object_get(obj, "description"))
		ok = ok &&
		     kdb_run(net_db, NULL, "UPDATE net_subnet SET description = ? WHERE id = ?",
		             "ss", desc ? desc : "", id) == KDB_DONE;
	if (json_object_get(obj, "enable_dhcp"))
		ok = ok &&
		     kdb_run(net_db, NULL, "UPDATE net_subnet SET enable_dhcp = ? WHERE id = ?",
		             "bs", json_is_true(json_object_get(obj, "enable_dhcp")),
		             id) == KDB_DONE;
	if (gwj)
		ok = ok &&
		     kdb_run(net_db, NULL, "UPDATE net_subnet SET gateway_ip = ? WHERE id = ?",
		             "ss", gateway, id) == KDB_DONE;
	if (pool_list)
		ok = ok && write_pools(id, pool_list);
	if (json_object_get(obj, "dns_nameservers"))
		ok = ok && write_dns(id, json_object_get(obj, "dns_nameservers"));
	if (json_object_get(obj, "host_routes"))
		ok = ok && write_routes(id, json_object_get(obj, "host_routes"));
	ok = ok && net_touch("net_subnet", id) == 0;
	if (!ok || kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	net_notify("subnet", id);
	net_notify("network", kjson_str(cur, "network_id"));
	json_t *s = net_subnet_get(NULL, id);
	if (!s) {
		net_error(r, 404, "SubnetNotFound", "Subnet %s could not be found.", id);
		return;
	}
	net_respond_one(r, 200, "subnet", s);
}

/* ------------------------------------------------------------------------ */
/* Delete */

static int delete_rows(const char *id)
{
	if (kdb_run(net_db, NULL, "DELETE FROM net_allocation_pool WHERE subnet_id = ?", "s",
	            id) != KDB_DONE ||
	    kdb_run(net_db, NULL, "DELETE FROM net_dns_nameserver WHERE subnet_id = ?", "s",
	            id) != KDB_DONE ||
	    kdb_run(net_db, NULL, "DELETE FROM net_host_route WHERE subnet_id = ?", "s",
	            id) != KDB_DONE ||
	    kdb_run(net_db, NULL, "DELETE FROM net_ip_allocation WHERE subnet_id = ?", "s",
	            id) != KDB_DONE ||
	    net_tags_delete("subnets", id) != 0 ||
	    kdb_run(net_db, NULL, "DELETE FROM net_subnet WHERE id = ?", "s", id) != KDB_DONE)
		return -1;
	return 0;
}

int net_subnets_delete_for_network(const char *network_id)
{
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT id FROM net_subnet WHERE "
	                                             "network_id = ?", "s", network_id);
	if (!rows)
		return -1;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		if (delete_rows(kjson_str(row, "id")) != 0)
			return -1;
	json_array_foreach(rows, i, row)
		net_notify("subnet", kjson_str(row, "id"));
	return 0;
}

void net_h_subnet_delete(kreq *r)
{
	const char *id = kreq_param(r, "subnet_id");
	_cleanup_json_ json_t *s = net_subnet_lookup(r, id);
	if (!s)
		return;
	if (!net_enforce(r, "delete_subnet", s))
		return;
	const char *mode = kjson_str(s, "ipv6_address_mode");
	bool auto_addr = mode && (strcmp(mode, "slaac") == 0 ||
	                          strcmp(mode, "dhcpv6-stateless") == 0);
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	_cleanup_json_ json_t *users = kdb_query_json(net_db, "SELECT a.port_id, p.device_owner "
	                                              "FROM net_ip_allocation a LEFT JOIN net_port "
	                                              "p ON p.id = a.port_id WHERE a.subnet_id = ?",
	                                              "s", id);
	if (!users) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	size_t i;
	json_t *u;
	json_array_foreach(users, i, u) {
		const char *owner = kjson_str(u, "device_owner");
		if (!owner)
			continue;   /* dangling allocation */
		if (strcmp(owner, "network:dhcp") == 0)
			continue;
		if (auto_addr && strncmp(owner, "network:router", 14) != 0)
			continue;
		kdb_rollback(net_db);
		net_error(r, 409, "SubnetInUse",
		          "Unable to complete operation on subnet %s: One or "
		          "more ports have an IP allocation from this subnet.",
		          id);
		return;
	}
	if (delete_rows(id) != 0 || net_touch("net_network", kjson_str(s, "network_id")) != 0 ||
	    kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	json_array_foreach(users, i, u)
		net_notify("port", kjson_str(u, "port_id"));
	net_notify("subnet", id);
	net_notify("network", kjson_str(s, "network_id"));
	kresp_status(r, 204);
}
