/*
 * networks.c - /v2.0/networks: CRUD with the provider, external-net,
 * net-mtu(-writable), port-security and availability-zone attributes, as
 * Neutron's ML2 plugin answers them.
 *
 * Segments.  A network has one segment (network_type, physical_network,
 * segmentation_id) in its row.  Provider attributes (admins only) are
 * validated as ML2's type drivers do: flat needs a physical network listed in
 * [network] flat_networks ("*" = any) and no segmentation id, one flat
 * network per physical network (409 FlatNetworkInUse); vlan needs a physical
 * network of [network] network_vlan_ranges and takes a tag 1..4094 or
 * allocates one from the ranges (409 VlanIdInUse); vxlan takes no physical
 * network and a VNI or one from [network] vni_ranges (409 TunnelIdInUse);
 * local takes neither.  A network created without provider attributes gets
 * the first of [network] tenant_network_types (default vxlan) that has room
 * (503 NoNetworkAvailable otherwise).  Allocation picks the lowest free id
 * inside the creating transaction (SQLite's BEGIN IMMEDIATE serialises
 * writers), so two networks never share a segment.
 *
 * MTU.  [network] global_physnet_mtu (1500) minus the encapsulation overhead
 * (50 for vxlan), unless the creator asks for a smaller one; a bigger one is
 * 400 as Neutron's net-mtu-writable says.
 *
 * Delete.  Refused (409 NetworkInUse) while ports other than DHCP ports
 * exist (after the floating IPs of an external network that are not
 * associated with a port have been deleted, as Neutron's BEFORE_DELETE
 * callback does); DHCP ports, subnets and tags go with the network, in one
 * transaction.  Every change notifies the agents.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "common.h"
#include "ipam.h"
#include "l2.h"
#include "l3.h"

#define VXLAN_OVERHEAD 50

static const char *const net_types[] = { "flat", "vlan", "vxlan", "local", NULL };

static const net_attr network_attrs[] = {
	{ "name", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "description", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "admin_state_up", NET_A_BOOL, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "shared", NET_A_BOOL, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "router:external", NET_A_BOOL, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "mtu", NET_A_INT, NET_A_POST | NET_A_PUT, 0, 68, 65535, NULL },
	{ "port_security_enabled", NET_A_BOOL, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "provider:network_type", NET_A_STRING, NET_A_POST | NET_A_PUT | NET_A_NULL, 255, 0, 0,
	  NULL },
	{ "provider:physical_network", NET_A_STRING, NET_A_POST | NET_A_PUT | NET_A_NULL, 64, 0, 0,
	  NULL },
	{ "provider:segmentation_id", NET_A_INT, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 0,
	  NULL },
	{ "availability_zone_hints", NET_A_LIST, NET_A_POST, 0, 0, 0, NULL },
	{ "dns_domain", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "id", NET_A_UUID, 0, 0, 0, 0, NULL },
	{ "status", NET_A_STRING, 0, 0, 0, 0, NULL },
	{ "subnets", NET_A_LIST, 0, 0, 0, 0, NULL },
	{ "availability_zones", NET_A_LIST, 0, 0, 0, 0, NULL },
	{ "mtu_writable", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "ipv4_address_scope", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "ipv6_address_scope", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "l2_adjacency", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "created_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "updated_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "revision_number", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "tags", NET_A_ANY, 0, 0, 0, 0, NULL },
};

static const char *const network_sort_keys[] = {
	"id", "name", "admin_state_up", "status", "tenant_id", "project_id", "shared", "mtu",
	"router:external", "port_security_enabled", "description", "created_at", "updated_at",
	"revision_number", "provider:network_type", "provider:physical_network",
	"provider:segmentation_id", "availability_zone_hints", NULL,
};

#define NET_COLS "id, project_id, name, description, admin_state_up, status, shared, " \
	"router_external, mtu, port_security_enabled, network_type, physical_network, " \
	"segmentation_id, availability_zone_hints, created_at, updated_at, revision_number"

/* ------------------------------------------------------------------------ */
/* Configuration */

static const char *conf(const char *key, const char *def)
{
	return kumo_conf ? kconf_get(kumo_conf, "network", key, def) : def;
}

/* Whether item is in the comma-separated list. */
static bool in_csv(const char *csv, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = csv; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ",");
		size_t l = len;
		while (l && p[l - 1] == ' ')
			l--;
		if (l == n && strncmp(p, item, n) == 0)
			return true;
		p += len;
	}
	return false;
}

typedef struct seg_range {
	char physnet[64];
	long min, max;          /* 0/0 = physnet listed without a range */
} seg_range;

/* "physnet1:100:199,physnet2" or "1:1000,2000:3000" (physnet = false). */
static size_t parse_ranges(const char *csv, bool physnet, seg_range *out, size_t cap)
{
	size_t n = 0;
	for (const char *p = csv; p && *p && n < cap;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ",");
		char item[160];
		if (len && len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = 0;
			seg_range *r = &out[n];
			memset(r, 0, sizeof(*r));
			char *save = NULL, *tok = strtok_r(item, ":", &save);
			if (physnet && tok) {
				snprintf(r->physnet, sizeof(r->physnet), "%s", tok);
				tok = strtok_r(NULL, ":", &save);
			}
			if (tok) {
				r->min = strtol(tok, NULL, 10);
				tok = strtok_r(NULL, ":", &save);
				r->max = tok ? strtol(tok, NULL, 10) : 0;
			}
			if (r->min > r->max) {
				long t = r->min;
				r->min = r->max;
				r->max = t;
			}
			if (physnet ? r->physnet[0] != 0 : r->max > 0)
				n++;
		}
		p += len;
	}
	return n;
}

static size_t vlan_ranges(seg_range *out, size_t cap)
{
	return parse_ranges(conf("network_vlan_ranges", "physnet1:100:199"), true, out, cap);
}

static size_t vni_ranges(seg_range *out, size_t cap)
{
	return parse_ranges(conf("vni_ranges", "1:1000"), false, out, cap);
}

static long physnet_mtu(void)
{
	return kumo_conf ? kconf_get_int(kumo_conf, "network", "global_physnet_mtu", 1500) : 1500;
}

static long max_mtu(const char *type)
{
	long m = physnet_mtu();
	if (type && strcmp(type, "vxlan") == 0)
		m -= VXLAN_OVERHEAD;
	return m;
}

/* ------------------------------------------------------------------------ */
/* Views */

static json_t *network_view(json_t *row, json_t *subnets)
{
	json_t *n = row;
	net_bools(n, "admin_state_up", "shared", "router_external", "port_security_enabled", NULL);
	net_rename(n, "router_external", "router:external");
	net_rename(n, "network_type", "provider:network_type");
	net_rename(n, "physical_network", "provider:physical_network");
	net_rename(n, "segmentation_id", "provider:segmentation_id");
	const char *hints = kjson_str(n, "availability_zone_hints");
	json_t *h = hints ? json_loads(hints, 0, NULL) : NULL;
	json_object_set_new(n, "availability_zone_hints", json_is_array(h) ? h : json_array());
	if (h && !json_is_array(h))
		json_decref(h);
	json_object_set_new(n, "availability_zones", json_pack("[s]", "nova"));
	json_object_set_new(n, "subnets", subnets ? json_incref(subnets) : json_array());
	json_object_set_new(n, "ipv4_address_scope", json_null());
	json_object_set_new(n, "ipv6_address_scope", json_null());
	json_object_set_new(n, "l2_adjacency", json_true());
	return n;
}

static json_t *subnet_ids(const char *network_id)
{
	json_t *ids = json_array();
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT id FROM net_subnet WHERE "
	                                             "network_id = ? ORDER BY created_at, id",
	                                             "s", network_id);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_array_append(ids, json_object_get(row, "id"));
	return ids;
}

static bool row_visible(kreq *r, json_t *row)
{
	if (!r)
		return true;
	bool pub = json_integer_value(json_object_get(row, "shared")) ||
	           json_integer_value(json_object_get(row, "router_external"));
	return net_visible(r, kjson_str(row, "project_id"), pub);
}

json_t *net_network_get(kreq *r, const char *id)
{
	if (!id)
		return NULL;
	json_t *row = kdb_query_row(net_db, NULL, "SELECT " NET_COLS " FROM net_network WHERE "
	                            "id = ?", "s", id);
	if (!row)
		return NULL;
	if (!row_visible(r, row)) {
		json_decref(row);
		return NULL;
	}
	_cleanup_json_ json_t *subs = subnet_ids(id);
	network_view(row, subs);
	net_std_view(row, "networks");
	return row;
}

json_t *net_network_lookup(kreq *r, const char *id)
{
	json_t *n = net_network_get(r, id);
	if (!n)
		net_error(r, 404, "NetworkNotFound", "Network %s could not be found.", id);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Segments */

typedef struct segment {
	const char *type;       /* flat vlan vxlan local */
	const char *physnet;    /* NULL when none */
	long segid;             /* -1 when none */
} segment;

static bool bad_segment(kreq *r, const char *fmt, const char *arg)
{
	char *m = kpool_printf(r->pool, fmt, arg);
	net_error(r, 400, "InvalidInput", "Invalid input for operation: %s.", m);
	return false;
}

static bool segment_taken(const segment *s)
{
	bool found = false;
	_cleanup_json_ json_t *row = NULL;
	if (strcmp(s->type, "flat") == 0)
		row = kdb_query_row(net_db, &found,
		                    "SELECT id FROM net_network WHERE network_type = "
		                    "'flat' AND physical_network = ?",
		                    "s", s->physnet);
	else if (strcmp(s->type, "vlan") == 0)
		row = kdb_query_row(net_db, &found,
		                    "SELECT id FROM net_network WHERE network_type = "
		                    "'vlan' AND physical_network = ? AND segmentation_id = ?",
		                    "si", s->physnet, (int64_t)s->segid);
	else if (strcmp(s->type, "vxlan") == 0)
		row = kdb_query_row(net_db, &found,
		                    "SELECT id FROM net_network WHERE network_type = "
		                    "'vxlan' AND segmentation_id = ?",
		                    "i", (int64_t)s->segid);
	return found;
}

/* Lowest free id of type (and physnet) in ranges; -1 when none. */
static long allocate_id(const char *type, const char *physnet, const seg_range *rg, size_t n)
{
	_cleanup_json_ json_t *rows = physnet
		? kdb_query_json(net_db, "SELECT segmentation_id FROM net_network WHERE "
		                 "network_type = ? AND physical_network = ? AND segmentation_id IS "
		                 "NOT NULL", "ss", type, physnet)
		: kdb_query_json(net_db, "SELECT segmentation_id FROM net_network WHERE "
		                 "network_type = ? AND segmentation_id IS NOT NULL", "s", type);
	if (!rows)
		return -1;
	_cleanup_json_ json_t *used = json_object();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		char k[24];
		snprintf(k, sizeof(k), "%lld",
		         (long long)json_integer_value(json_object_get(row, "segmentation_id")));
		json_object_set_new(used, k, json_true());
	}
	for (size_t j = 0; j < n; j++) {
		if (physnet && strcmp(rg[j].physnet, physnet) != 0)
			continue;
		if (rg[j].max <= 0)
			continue;
		for (long v = rg[j].min; v <= rg[j].max; v++) {
			char k[24];
			snprintf(k, sizeof(k), "%ld", v);
			if (!json_object_get(used, k))
				return v;
		}
	}
	return -1;
}

/* Tenant network: the first of tenant_network_types with room. */
static bool tenant_segment(kreq *r, segment *s)
{
	const char *types = conf("tenant_network_types", "vxlan");
	for (const char *p = types; p && *p;) {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ",");
		char t[32];
		size_t l = len;
		while (l && p[l - 1] == ' ')
			l--;
		if (l && l < sizeof(t)) {
			memcpy(t, p, l);
			t[l] = 0;
			if (strcmp(t, "local") == 0) {
				s->type = "local";
				s->physnet = NULL;
				s->segid = -1;
				return true;
			}
			if (strcmp(t, "vxlan") == 0) {
				seg_range rg[64];
				long id = allocate_id("vxlan", NULL, rg, vni_ranges(rg, 64));
				if (id > 0) {
					s->type = "vxlan";
					s->physnet = NULL;
					s->segid = id;
					return true;
				}
			}
			if (strcmp(t, "vlan") == 0) {
				seg_range rg[64];
				size_t n = vlan_ranges(rg, 64);
				for (size_t j = 0; j < n; j++) {
					long id = allocate_id("vlan", rg[j].physnet, &rg[j], 1);
					if (id > 0) {
						s->type = "vlan";
						s->physnet = kpool_strdup(r->pool, rg[j].physnet);
						s->segid = id;
						return true;
					}
				}
			}
		}
		p += len;
	}
	net_error(r, 503, "NoNetworkAvailable", "Unable to create the network. No project network "
	          "is available for allocation.");
	return false;
}

static const char *opt_str(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

/* The segment of a new network from its provider attributes (validated as
 * ML2's type drivers), allocated when partial.  Runs inside the transaction.
 * False after answering. */
static bool provider_segment(kreq *r, const json_t *obj, segment *s)
{
	const char *type = opt_str(obj, "provider:network_type");
	const char *phys = opt_str(obj, "provider:physical_network");
	json_t *sidj = json_object_get(obj, "provider:segmentation_id");
	bool has_sid = json_is_integer(sidj);
	long sid = has_sid ? (long)json_integer_value(sidj) : -1;

	if (!type && !phys && !has_sid)
		return tenant_segment(r, s);
	if (!type)
		return bad_segment(r, "network_type required%s", "");
	bool known = false;
	for (const char *const *t = net_types; *t; t++)
		known = known || strcmp(*t, type) == 0;
	if (!known || !in_csv(conf("type_drivers", "flat,vlan,vxlan,local"), type))
		return bad_segment(r, "network_type value '%s' not supported", type);
	s->type = type;
	s->physnet = phys;
	s->segid = sid;
	if (strcmp(type, "flat") == 0) {
		if (!phys)
			return bad_segment(
			        r, "physical_network required for flat provider network%s", "");
		const char *flat = conf("flat_networks", "*");
		if (!*flat)
			return bad_segment(r, "Flat provider networks are disabled%s", "");
		if (strcmp(flat, "*") != 0 && !in_csv(flat, phys))
			return bad_segment(
			        r, "physical_network '%s' unknown for flat provider network", phys);
		if (has_sid)
			return bad_segment(r, "%s prohibited for flat provider network",
			                   "segmentation_id");
		if (segment_taken(s)) {
			net_error(r, 409, "FlatNetworkInUse", "Unable to create the flat network. "
			          "Physical network %s is in use.", phys);
			return false;
		}
		s->segid = -1;
		return true;
	}
	if (strcmp(type, "vlan") == 0) {
		seg_range rg[64];
		size_t n = vlan_ranges(rg, 64);
		if (phys) {
			bool found = false;
			for (size_t j = 0; j < n; j++)
				found = found || strcmp(rg[j].physnet, phys) == 0;
			if (!found)
				return bad_segment(
				        r,
				        "physical_network '%s' unknown for VLAN provider "
				        "network",
				        phys);
			if (has_sid && (sid < 1 || sid > 4094))
				return bad_segment(
				        r, "segmentation_id out of range (1 through 4094)%s", "");
		} else if (has_sid) {
			return bad_segment(r, "segmentation_id requires physical_network for VLAN "
			                   "provider network%s", "");
		}
		if (!has_sid) {
			for (size_t j = 0; j < n && s->segid < 0; j++) {
				if (phys && strcmp(rg[j].physnet, phys) != 0)
					continue;
				long id = allocate_id("vlan", rg[j].physnet, &rg[j], 1);
				if (id > 0) {
					s->segid = id;
					s->physnet = kpool_strdup(r->pool, rg[j].physnet);
				}
			}
			if (s->segid < 0) {
				net_error(r, 503, "NoNetworkAvailable",
				          "Unable to create the network. No "
				          "project network is available for allocation.");
				return false;
			}
			return true;
		}
		if (segment_taken(s)) {
			net_error(r, 409, "VlanIdInUse",
			          "Unable to create the network. The VLAN %ld on "
			          "physical network %s is in use.",
			          sid, phys);
			return false;
		}
		return true;
	}
	if (strcmp(type, "vxlan") == 0) {
		if (phys)
			return bad_segment(r, "provider:physical_network specified for %s network",
			                   "vxlan");
		if (!has_sid) {
			seg_range rg[64];
			s->segid = allocate_id("vxlan", NULL, rg, vni_ranges(rg, 64));
			if (s->segid < 0) {
				net_error(r, 503, "NoNetworkAvailable",
				          "Unable to create the network. No "
				          "project network is available for allocation.");
				return false;
			}
			return true;
		}
		if (sid < 1 || sid > 16777215)
			return bad_segment(r, "segmentation_id out of range (1 through 16777215)%s",
			                   "");
		if (segment_taken(s)) {
			net_error(r, 409, "TunnelIdInUse",
			          "Unable to create the network. The tunnel ID "
			          "%ld is in use.",
			          sid);
			return false;
		}
		return true;
	}
	/* local */
	if (phys)
		return bad_segment(r, "%s prohibited for local provider network",
		                   "provider:physical_network");
	if (has_sid)
		return bad_segment(r, "%s prohibited for local provider network",
		                   "provider:segmentation_id");
	return true;
}

/* ------------------------------------------------------------------------ */
/* Handlers */

void net_h_network_list(kreq *r)
{
	net_listq *q = net_listq_parse(r, network_sort_keys);
	if (!q)
		return;
	json_t *rows;
	const net_filter *idf = net_listq_get(q, "id");
	if (idf && idf->nvalues == 1)
		rows = kdb_query_json(net_db, "SELECT " NET_COLS " FROM net_network WHERE id = ?",
		                      "s", idf->values[0]);
	else
		rows = kdb_query_json(net_db, "SELECT " NET_COLS " FROM net_network ORDER BY "
		                      "created_at, id", "");
	_cleanup_json_ json_t *subs = kdb_query_json(net_db, "SELECT id, network_id FROM "
	                                             "net_subnet ORDER BY created_at, id", "");
	if (!rows || !subs) {
		json_decref(rows);
		net_error(r, 500, NULL,
		          "Request Failed: internal server error while processing your "
		          "request.");
		return;
	}
	_cleanup_json_ json_t *by_net = json_object();
	size_t i;
	json_t *row;
	json_array_foreach(subs, i, row) {
		const char *nid = kjson_str(row, "network_id");
		json_t *arr = json_object_get(by_net, nid);
		if (!arr) {
			arr = json_array();
			json_object_set_new(by_net, nid, arr);
		}
		json_array_append(arr, json_object_get(row, "id"));
	}
	json_t *items = json_array();
	json_array_foreach(rows, i, row) {
		if (!row_visible(r, row))
			continue;
		network_view(row, json_object_get(by_net, kjson_str(row, "id")));
		net_strip_attrs(r, "get_network", row);
		json_array_append(items, row);
	}
	json_decref(rows);
	net_std_view_list(items, "networks");
	net_respond_list(r, "networks", items, q);
}

void net_h_network_show(kreq *r)
{
	json_t *n = net_network_lookup(r, kreq_param(r, "network_id"));
	if (!n)
		return;
	net_strip_attrs(r, "get_network", n);
	net_respond_one(r, 200, "network", n);
}

/* Validate and insert one network (inside the transaction); its view, or
 * NULL after answering. */
static json_t *create_one(kreq *r, json_t *obj)
{
	if (!net_validate(r, obj, network_attrs, ARRAY_SIZE(network_attrs), true))
		return NULL;
	const char *project = net_body_project(r, obj);
	if (!project)
		return NULL;
	if (!net_enforce_attrs(r, "create_network", obj, obj))
		return NULL;
	json_t *hints = json_object_get(obj, "availability_zone_hints");
	size_t i;
	json_t *e;
	json_array_foreach(hints, i, e)
		if (!json_is_string(e) || json_string_length(e) > 255) {
		net_bad_input(r, "availability_zone_hints",
		              "An availability zone hint must be "
		              "a string");
		return NULL;
		}
	segment seg = { 0 };
	if (!provider_segment(r, obj, &seg))
		return NULL;
	long maxm = max_mtu(seg.type);
	json_t *mtuj = json_object_get(obj, "mtu");
	long mtu = json_is_integer(mtuj) ? (long)json_integer_value(mtuj) : maxm;
	if (mtu > maxm) {
		net_error(r, 400, "InvalidInput",
		          "Invalid input for operation: Requested MTU is too "
		          "big, maximum is %ld.",
		          maxm);
		return NULL;
	}
	bool admin_up = !json_is_false(json_object_get(obj, "admin_state_up"));
	bool shared = json_is_true(json_object_get(obj, "shared"));
	bool external = json_is_true(json_object_get(obj, "router:external"));
	bool psec = !json_is_false(json_object_get(obj, "port_security_enabled"));
	_cleanup_free_ char *hints_s = hints ? kjson_dump(hints) : NULL;
	const char *name = kjson_str(obj, "name"), *desc = kjson_str(obj, "description");
	char id[37];
	net_new_id(id);
	int64_t now = kutil_now_us();
	int rc;
	if (seg.segid >= 0)
		rc = kdb_run(net_db, NULL,
		             "INSERT INTO net_network (" NET_COLS ") VALUES (?, ?, ?, "
		             "?, ?, 'ACTIVE', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
		             "ssssbbbibssisii", id, project, name ? name : "", desc ? desc : "",
		             admin_up, shared, external, (int64_t)mtu, psec, seg.type, seg.physnet,
		             (int64_t)seg.segid, hints_s ? hints_s : "[]", now, now);
	else
		rc = kdb_run(net_db, NULL,
		             "INSERT INTO net_network (" NET_COLS ") VALUES (?, ?, ?, "
		             "?, ?, 'ACTIVE', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
		             "ssssbbbibssnsii", id, project, name ? name : "", desc ? desc : "",
		             admin_up, shared, external, (int64_t)mtu, psec, seg.type, seg.physnet,
		             hints_s ? hints_s : "[]", now, now);
	if (rc == KDB_CONSTRAINT) {
		net_error(r, 409, "Conflict", "The segment of this network is in use.");
		return NULL;
	}
	if (rc != KDB_DONE) {
		net_error(r, 500, NULL, "Request Failed: internal server error while processing "
		          "your request.");
		return NULL;
	}
	return net_network_get(NULL, id);
}

void net_h_network_create(kreq *r)
{
	bool bulk;
	json_t *objs = net_body(r, "network", "networks", &bulk);
	if (!objs)
		return;
	/* the whole batch belongs to the projects named; quota per project */
	size_t i;
	json_t *obj;
	json_array_foreach(objs, i, obj) {
		const char *p = kjson_str(obj, "project_id");
		if (!p)
			p = kjson_str(obj, "tenant_id");
		if (!p)
			p = net_project(r);
		size_t same = 0, j;
		json_t *o2;
		json_array_foreach(objs, j, o2) {
			const char *p2 = kjson_str(o2, "project_id");
			if (!p2)
				p2 = kjson_str(o2, "tenant_id");
			if (!p2)
				p2 = net_project(r);
			same += strcmp(p, p2) == 0;
		}
		if (!net_quota_check(r, p, "network", (int)same))
			return;
	}
	if (kdb_begin(net_db) != KDB_OK) {
		net_error(r, 500, NULL,
		          "Request Failed: internal server error while processing your "
		          "request.");
		return;
	}
	json_t *out = json_array();
	json_array_foreach(objs, i, obj) {
		json_t *n = create_one(r, obj);
		if (!n) {
			kdb_rollback(net_db);
			json_decref(out);
			return;
		}
		json_array_append_new(out, n);
	}
	if (kdb_commit(net_db) != 0) {
		json_decref(out);
		net_error(r, 500, NULL,
		          "Request Failed: internal server error while processing your "
		          "request.");
		return;
	}
	json_array_foreach(out, i, obj) {
		net_notify("network", kjson_str(obj, "id"));
		net_strip_attrs(r, "get_network", obj);
	}
	if (bulk) {
		kresp_json(r, 201, json_pack("{s:o}", "networks", out));
		return;
	}
	json_t *one = json_incref(json_array_get(out, 0));
	json_decref(out);
	net_respond_one(r, 201, "network", one);
}

static bool internal_error(kreq *r)
{
	net_error(r, 500, NULL, "Request Failed: internal server error while processing your "
	          "request.");
	return false;
}

/* Neutron's _validate_shared_update: no other project may use the network. */
static bool shared_update_ok(kreq *r, const json_t *net)
{
	const char *id = kjson_str(net, "id"), *owner = kjson_str(net, "project_id");
	bool found = false;
	_cleanup_json_ _unused_ json_t *p = kdb_query_row(net_db, &found, "SELECT id FROM net_port WHERE "
	                                         "network_id = ? AND project_id <> ? AND "
	                                         "device_owner <> 'network:dhcp' AND project_id "
	                                         "<> ''", "ss", id, owner);
	if (!found) {
		_cleanup_json_ _unused_ json_t *s = kdb_query_row(net_db, &found,
		                                         "SELECT id FROM net_subnet "
		                                         "WHERE network_id = ? AND project_id <> ?",
		                                         "ss", id, owner);
	}
	if (found) {
		net_error(r, 409, "InvalidSharedSetting",
		          "Unable to reconfigure sharing settings for "
		          "network %s. Multiple tenants are using it.",
		          id);
		return false;
	}
	return true;
}

static bool same_provider(const json_t *obj, const json_t *net)
{
	static const char *const keys[] = {
		"provider:network_type", "provider:physical_network", "provider:segmentation_id",
	};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		json_t *v = json_object_get(obj, keys[i]);
		if (v && !json_equal(v, json_object_get(net, keys[i])))
			return false;
	}
	return true;
}

void net_h_network_update(kreq *r)
{
	const char *id = kreq_param(r, "network_id");
	json_t *objs = net_body(r, "network", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, network_attrs, ARRAY_SIZE(network_attrs), false))
		return;
	_cleanup_json_ json_t *net = net_network_lookup(r, id);
	if (!net)
		return;
	if (!net_enforce_attrs(r, "update_network", obj, net))
		return;
	if (!same_provider(obj, net)) {
		net_error(r, 400, "InvalidInput", "Invalid input for operation: Plugin does not "
		          "support updating provider attributes.");
		return;
	}
	json_t *mtuj = json_object_get(obj, "mtu");
	if (json_is_integer(mtuj)) {
		long maxm = max_mtu(kjson_str(net, "provider:network_type"));
		if (json_integer_value(mtuj) > maxm) {
			net_error(r, 400, "InvalidInput",
			          "Invalid input for operation: Requested MTU is "
			          "too big, maximum is %ld.",
			          maxm);
			return;
		}
	}
	if (json_is_false(json_object_get(obj, "shared")) &&
	    json_is_true(json_object_get(net, "shared")) && !shared_update_ok(r, net))
		return;
	if (json_is_false(json_object_get(obj, "router:external")) &&
	    json_is_true(json_object_get(net, "router:external"))) {
		bool found = false;
		_cleanup_json_ _unused_ json_t *gw = kdb_query_row(net_db, &found, "SELECT id FROM net_port "
		                                          "WHERE network_id = ? AND device_owner = "
		                                          "'network:router_gateway'", "s", id);
		if (found) {
			net_error(r, 409, "ExternalNetworkInUse",
			          "External network %s cannot be updated "
			          "to be made non-external, since it has existing gateway ports.",
			          id);
			return;
		}
	}
	static const struct { const char *attr, *col; char type; } cols[] = {
		{ "name", "name", 's' }, { "description", "description", 's' },
		{ "admin_state_up", "admin_state_up", 'b' }, { "shared", "shared", 'b' },
		{ "router:external", "router_external", 'b' }, { "mtu", "mtu", 'i' },
		{ "port_security_enabled", "port_security_enabled", 'b' },
	};
	if (kdb_begin(net_db) != 0) {
		internal_error(r);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cols); i++) {
		json_t *v = json_object_get(obj, cols[i].attr);
		if (!v)
			continue;
		char sql[128];
		snprintf(sql, sizeof(sql), "UPDATE net_network SET %s = ? WHERE id = ?",
		         cols[i].col);
		int rc;
		if (cols[i].type == 's')
			rc = kdb_run(net_db, NULL, sql, "ss",
			             json_is_string(v) ? json_string_value(v) : "", id);
		else if (cols[i].type == 'b')
			rc = kdb_run(net_db, NULL, sql, "bs", json_is_true(v), id);
		else
			rc = kdb_run(net_db, NULL, sql, "is", (int64_t)json_integer_value(v), id);
		if (rc != KDB_DONE) {
			kdb_rollback(net_db);
			internal_error(r);
			return;
		}
	}
	if (net_touch("net_network", id) != 0 || kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	net_notify("network", id);
	json_t *n = net_network_get(NULL, id);
	if (!n) {
		net_error(r, 404, "NetworkNotFound", "Network %s could not be found.", id);
		return;
	}
	net_strip_attrs(r, "get_network", n);
	net_respond_one(r, 200, "network", n);
}

/* Delete DHCP ports of a network and their dependents (in the transaction). */
static int delete_dhcp_ports(const char *network_id, json_t **ids)
{
	*ids = kdb_query_json(net_db, "SELECT id FROM net_port WHERE network_id = ? AND "
	                      "device_owner = 'network:dhcp'", "s", network_id);
	if (!*ids)
		return -1;
	size_t i;
	json_t *row;
	json_array_foreach(*ids, i, row) {
		const char *pid = kjson_str(row, "id");
		if (kdb_run(net_db, NULL, "DELETE FROM net_ip_allocation WHERE port_id = ?", "s",
		            pid) != KDB_DONE ||
		    kdb_run(net_db, NULL, "DELETE FROM net_port_security_group WHERE port_id = ?",
		            "s", pid) != KDB_DONE ||
		    kdb_run(net_db, NULL, "DELETE FROM net_allowed_address_pair WHERE port_id = ?",
		            "s", pid) != KDB_DONE ||
		    net_tags_delete("ports", pid) != 0 ||
		    kdb_run(net_db, NULL, "DELETE FROM net_port WHERE id = ?", "s", pid) !=
		            KDB_DONE)
			return -1;
	}
	return 0;
}

void net_h_network_delete(kreq *r)
{
	const char *id = kreq_param(r, "network_id");
	_cleanup_json_ json_t *net = net_network_lookup(r, id);
	if (!net)
		return;
	if (!net_enforce(r, "delete_network", net))
		return;
	if (kdb_begin(net_db) != 0) {
		internal_error(r);
		return;
	}
	/* Neutron's BEFORE_DELETE: unassociated floating IPs go with the network */
	if (json_is_true(json_object_get(net, "router:external")) &&
	    net_fip_delete_disassociated(id) < 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	bool found = false;
	_cleanup_json_ _unused_ json_t *busy = kdb_query_row(net_db, &found, "SELECT id FROM net_port WHERE "
	                                            "network_id = ? AND device_owner <> "
	                                            "'network:dhcp'", "s", id);
	if (found) {
		kdb_rollback(net_db);
		net_error(r, 409, "NetworkInUse",
		          "Unable to complete operation on network %s. There "
		          "are one or more ports still in use on the network.",
		          id);
		return;
	}
	_cleanup_json_ json_t *dhcp = NULL;
	if (delete_dhcp_ports(id, &dhcp) != 0 || net_subnets_delete_for_network(id) != 0 ||
	    net_tags_delete("networks", id) != 0 ||
	    kdb_run(net_db, NULL, "DELETE FROM net_network WHERE id = ?", "s", id) != KDB_DONE ||
	    kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	size_t i;
	json_t *row;
	json_array_foreach(dhcp, i, row)
		net_notify("port", kjson_str(row, "id"));
	net_notify("network", id);
	kresp_status(r, 204);
}
