/*
 * subnetpools.c - /v2.0/subnetpools (the subnet_allocation extension):
 * pools of prefixes from which subnets take their cidr, plus the
 * add_prefixes / remove_prefixes actions.
 *
 * A pool's prefixes are kept compacted, as netaddr's IPSet.compact() leaves
 * them in Neutron: overlapping and adjacent prefixes merge, and the union is
 * written as the fewest CIDRs.  Prefix lengths follow Neutron's
 * SubnetPoolReader: min defaults to 8 (IPv4) or 64 (IPv6), max to the
 * address width, default to min; min <= default <= max.
 *
 * Allocation (net_subnetpool_allocate, called by subnets.c inside its
 * transaction): a request for a prefix length takes the lowest aligned block
 * of that size inside the pool's prefixes that overlaps no subnet already
 * allocated from the pool (the candidate jumps past each overlapping
 * allocation, so a large pool with small subnets costs one step per
 * allocation, not per block); a request for a specific cidr must lie inside
 * one prefix and overlap nothing allocated.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "common.h"
#include "ipam.h"
#include "l2.h"

static const net_attr pool_attrs[] = {
	{ "name", NET_A_STRING, NET_A_POST | NET_A_PUT | NET_A_REQUIRED, 255, 0, 0, NULL },
	{ "description", NET_A_STRING, NET_A_POST | NET_A_PUT, 255, 0, 0, NULL },
	{ "prefixes", NET_A_LIST, NET_A_POST | NET_A_PUT | NET_A_REQUIRED, 0, 0, 0, NULL },
	{ "default_quota", NET_A_INT, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 2147483647,
	  NULL },
	{ "default_prefixlen", NET_A_INT, NET_A_POST | NET_A_PUT, 0, 0, 2147483647, NULL },
	{ "min_prefixlen", NET_A_INT, NET_A_POST | NET_A_PUT, 0, 0, 2147483647, NULL },
	{ "max_prefixlen", NET_A_INT, NET_A_POST | NET_A_PUT, 0, 0, 2147483647, NULL },
	{ "is_default", NET_A_BOOL, NET_A_POST | NET_A_PUT, 0, 0, 0, NULL },
	{ "shared", NET_A_BOOL, NET_A_POST, 0, 0, 0, NULL },
	{ "address_scope_id", NET_A_UUID, NET_A_POST | NET_A_PUT | NET_A_NULL, 0, 0, 0, NULL },
	{ "id", NET_A_UUID, 0, 0, 0, 0, NULL },
	{ "ip_version", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "created_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "updated_at", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "revision_number", NET_A_ANY, 0, 0, 0, 0, NULL },
	{ "tags", NET_A_ANY, 0, 0, 0, 0, NULL },
};

static const char *const pool_sort_keys[] = {
	"id", "name", "tenant_id", "project_id", "default_quota", "ip_version",
	"default_prefixlen", "min_prefixlen", "max_prefixlen", "is_default", "shared",
	"address_scope_id", "description", "created_at", "updated_at", "revision_number", NULL,
};

#define POOL_COLS "id, project_id, name, description, ip_version, default_prefixlen, " \
	"min_prefixlen, max_prefixlen, shared, is_default, default_quota, address_scope_id, " \
	"created_at, updated_at, revision_number"

static void internal_error(kreq *r)
{
	net_error(r, 500, NULL, "Request Failed: internal server error while processing your "
	          "request.");
}

/* ------------------------------------------------------------------------ */
/* Prefix sets */

typedef struct irange {
	net_u128 a, b;
} irange;

static int cmp_irange(const void *x, const void *y)
{
	const irange *p = x, *q = y;
	return (p->a > q->a) - (p->a < q->a);
}

/* Merge ranges in place (sorted, overlapping and adjacent joined). */
static size_t merge_ranges(irange *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_irange);
	size_t k = 0;
	for (size_t i = 1; i < n; i++) {
		if (v[i].a <= v[k].b || (v[k].b != ~(net_u128)0 && v[i].a == v[k].b + 1)) {
			if (v[i].b > v[k].b)
				v[k].b = v[i].b;
		} else {
			v[++k] = v[i];
		}
	}
	return k + 1;
}

/* The fewest CIDRs covering [a, b]; appended to out as strings. */
static void range_to_cidrs(int version, net_u128 a, net_u128 b, json_t *out)
{
	int bits = version == 4 ? 32 : 128;
	for (;;) {
		int hb = 0;
		while (hb < bits) {
			net_u128 size = (net_u128)1 << (hb + 1);
			if (hb + 1 >= 128)
				break;
			if ((a & (size - 1)) != 0 || a + size - 1 > b || a + size - 1 < a)
				break;
			hb++;
		}
		net_cidr c = { .net = { .version = version, .v = a }, .prefixlen = bits - hb };
		char buf[50];
		json_array_append_new(out, json_string(net_cidr_format(&c, buf)));
		net_u128 last = a + (((net_u128)1 << hb) - 1);
		if (last >= b)
			break;
		a = last + 1;
	}
}

/* Parse a prefixes list ("type:subnet_list"); ranges (pool memory) or NULL
 * after answering.  *version gets the family. */
static irange *parse_prefixes(kreq *r, const json_t *list, size_t *n, int *version)
{
	size_t cnt = json_array_size(list);
	irange *v = kpool_alloc(r->pool, (cnt + 1) * sizeof(*v));
	*version = 0;
	for (size_t i = 0; i < cnt; i++) {
		json_t *e = json_array_get(list, i);
		net_cidr c;
		if (!json_is_string(e) || !strchr(json_string_value(e), '/') ||
		    !net_cidr_parse(json_string_value(e), &c, NULL)) {
			net_bad_input(r, "prefixes", "'%s' is not a valid IP subnet",
			              json_is_string(e) ? json_string_value(e) : "None");
			return NULL;
		}
		for (size_t j = 0; j < i; j++)
			if (json_equal(json_array_get(list, j), e)) {
				net_bad_input(r, "prefixes", "Duplicate items in the list: '%s'",
				              json_string_value(e));
				return NULL;
			}
		if (*version && *version != c.net.version) {
			net_error(r, 400, "PrefixVersionMismatch",
			          "Cannot mix IPv4 and IPv6 prefixes in "
			          "a subnet pool.");
			return NULL;
		}
		*version = c.net.version;
		v[i].a = c.net.v;
		v[i].b = net_cidr_last(&c).v;
	}
	*n = cnt;
	return v;
}

static json_t *compact(int version, irange *v, size_t n)
{
	json_t *out = json_array();
	n = merge_ranges(v, n);
	for (size_t i = 0; i < n; i++)
		range_to_cidrs(version, v[i].a, v[i].b, out);
	return out;
}

static json_t *pool_prefixes(const char *id)
{
	json_t *out = json_array();
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT cidr FROM "
	                                             "net_subnetpool_prefix WHERE subnetpool_id = "
	                                             "?", "s", id);
	size_t n = json_array_size(rows);
	_cleanup_free_ irange *v = calloc(n + 1, sizeof(*v));
	int version = 4;
	size_t k = 0;
	for (size_t i = 0; v && i < n; i++) {
		net_cidr c;
		if (net_cidr_parse(kjson_str(json_array_get(rows, i), "cidr"), &c, NULL)) {
			version = c.net.version;
			v[k].a = c.net.v;
			v[k].b = net_cidr_last(&c).v;
			k++;
		}
	}
	if (!v)
		return out;
	json_decref(out);
	return compact(version, v, k);
}

/* ------------------------------------------------------------------------ */
/* Views and lookups */

static json_t *pool_view(json_t *row)
{
	net_bools(row, "shared", "is_default", NULL);
	json_object_set_new(row, "prefixes", pool_prefixes(kjson_str(row, "id")));
	return row;
}

static bool pool_visible(kreq *r, const json_t *row)
{
	return !r || net_visible(r, kjson_str(row, "project_id"),
	                         json_integer_value(json_object_get(row, "shared")) != 0);
}

static json_t *pool_get(kreq *r, const char *id)
{
	json_t *row = kdb_query_row(net_db, NULL, "SELECT " POOL_COLS " FROM net_subnetpool "
	                            "WHERE id = ?", "s", id);
	if (!row)
		return NULL;
	if (!pool_visible(r, row)) {
		json_decref(row);
		return NULL;
	}
	pool_view(row);
	net_std_view(row, "subnetpools");
	return row;
}

static json_t *pool_lookup(kreq *r, const char *id)
{
	json_t *p = pool_get(r, id);
	if (!p)
		net_error(r, 404, "SubnetPoolNotFound", "Subnet pool %s could not be found.", id);
	return p;
}

const char *net_subnetpool_default(kreq *r, int ip_version)
{
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, "SELECT id FROM net_subnetpool "
	                                           "WHERE is_default <> 0 AND ip_version = ?",
	                                           "i", (int64_t)ip_version);
	return row ? kpool_strdup(r->pool, kjson_str(row, "id")) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Prefix length rules (SubnetPoolReader) */

typedef struct plens {
	int64_t min, max, def;
} plens;

static bool check_plens(kreq *r, int version, plens *p)
{
	int64_t width = version == 4 ? 32 : 128;
	if (p->min > p->max) {
		net_error(r, 400, "IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: "
		          "min_prefixlen=%lld, max_prefixlen=%lld.", (long long)p->min,
		          (long long)p->max);
		return false;
	}
	if (p->max > width) {
		net_error(r, 400, "IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: "
		          "max_prefixlen=%lld, ip_version_max=%lld.", (long long)p->max,
		          (long long)width);
		return false;
	}
	if (p->def < p->min) {
		net_error(r, 400, "IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: "
		          "default_prefixlen=%lld, min_prefixlen=%lld.", (long long)p->def,
		          (long long)p->min);
		return false;
	}
	if (p->def > p->max) {
		net_error(r, 400, "IllegalSubnetPoolPrefixBounds", "Illegal prefix bounds: "
		          "default_prefixlen=%lld, max_prefixlen=%lld.", (long long)p->def,
		          (long long)p->max);
		return false;
	}
	return true;
}

static bool blank_name(kreq *r, const json_t *obj)
{
	json_t *n = json_object_get(obj, "name");
	if (json_is_string(n) && json_string_length(n) == 0) {
		net_bad_input(r, "name", "'' Blank strings are not permitted");
		return true;
	}
	return false;
}

static bool default_taken(kreq *r, int version, const char *except)
{
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, "SELECT id FROM net_subnetpool "
	                                           "WHERE is_default <> 0 AND ip_version = ? AND "
	                                           "id <> ?", "is", (int64_t)version,
	                                           except ? except : "");
	if (row) {
		net_error(r, 400, "InvalidInput",
		          "Invalid input for operation: A default subnetpool "
		          "for this IP family has already been set. Only one default may exist per "
		          "IP "
		          "family.");
		return true;
	}
	return false;
}

static bool write_prefixes(const char *id, const json_t *prefixes)
{
	if (kdb_run(net_db, NULL, "DELETE FROM net_subnetpool_prefix WHERE subnetpool_id = ?", "s",
	            id) != KDB_DONE)
		return false;
	size_t i;
	json_t *p;
	json_array_foreach(prefixes, i, p)
		if (kdb_run(net_db, NULL, "INSERT INTO net_subnetpool_prefix (subnetpool_id, cidr) "
		            "VALUES (?, ?)", "ss", id, json_string_value(p)) != KDB_DONE)
			return false;
	return true;
}

/* ------------------------------------------------------------------------ */
/* Handlers */

void net_h_subnetpool_list(kreq *r)
{
	net_listq *q = net_listq_parse(r, pool_sort_keys);
	if (!q)
		return;
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT " POOL_COLS " FROM "
	                                             "net_subnetpool ORDER BY created_at, id", "");
	if (!rows) {
		internal_error(r);
		return;
	}
	json_t *items = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		if (pool_visible(r, row))
			json_array_append(items, pool_view(row));
	net_std_view_list(items, "subnetpools");
	net_respond_list(r, "subnetpools", items, q);
}

void net_h_subnetpool_show(kreq *r)
{
	json_t *p = pool_lookup(r, kreq_param(r, "subnetpool_id"));
	if (p)
		net_respond_one(r, 200, "subnetpool", p);
}

void net_h_subnetpool_create(kreq *r)
{
	json_t *objs = net_body(r, "subnetpool", "subnetpools", NULL);
	if (!objs)
		return;
	if (json_array_size(objs) != 1) {
		net_error(r, 400, NULL, "Bulk operation not supported");
		return;
	}
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, pool_attrs, ARRAY_SIZE(pool_attrs), true) || blank_name(r, obj))
		return;
	const char *project = net_body_project(r, obj);
	if (!project)
		return;
	if (!net_enforce_attrs(r, "create_subnetpool", obj, obj))
		return;
	if (!net_quota_check(r, project, "subnetpool", 1))
		return;
	size_t n;
	int version;
	irange *v = parse_prefixes(r, json_object_get(obj, "prefixes"), &n, &version);
	if (!v)
		return;
	if (n == 0) {
		net_error(r, 400, "EmptySubnetPoolPrefixList", "Empty subnet pool prefix list.");
		return;
	}
	json_t *mn = json_object_get(obj, "min_prefixlen"),
	       *mx = json_object_get(obj, "max_prefixlen");
	json_t *df = json_object_get(obj, "default_prefixlen");
	plens pl;
	pl.min = mn ? json_integer_value(mn) : (version == 4 ? 8 : 64);
	pl.max = mx ? json_integer_value(mx) : (version == 4 ? 32 : 128);
	pl.def = df ? json_integer_value(df) : pl.min;
	if (!check_plens(r, version, &pl))
		return;
	bool is_default = json_is_true(json_object_get(obj, "is_default"));
	bool shared = json_is_true(json_object_get(obj, "shared"));
	json_t *quota = json_object_get(obj, "default_quota");
	_cleanup_json_ json_t *prefixes = compact(version, v, n);
	char id[37];
	net_new_id(id);
	int64_t now = kutil_now_us();
	const char *name = kjson_str(obj, "name"), *desc = kjson_str(obj, "description");
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	if (is_default && default_taken(r, version, NULL)) {
		kdb_rollback(net_db);
		return;
	}
	int rc;
	if (json_is_integer(quota))
		rc = kdb_run(net_db, NULL,
		             "INSERT INTO net_subnetpool (" POOL_COLS ") VALUES (?, ?, "
		             "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
		             "ssssiiiibbisii", id, project, name, desc ? desc : "",
		             (int64_t)version, pl.def, pl.min, pl.max, shared, is_default,
		             (int64_t)json_integer_value(quota), kjson_str(obj, "address_scope_id"),
		             now, now);
	else
		rc = kdb_run(net_db, NULL,
		             "INSERT INTO net_subnetpool (" POOL_COLS ") VALUES (?, ?, "
		             "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
		             "ssssiiiibbnsii", id, project, name, desc ? desc : "",
		             (int64_t)version, pl.def, pl.min, pl.max, shared, is_default,
		             kjson_str(obj, "address_scope_id"), now, now);
	if (rc != KDB_DONE || !write_prefixes(id, prefixes) || kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	json_t *p = pool_get(NULL, id);
	if (!p) {
		internal_error(r);
		return;
	}
	net_respond_one(r, 201, "subnetpool", p);
}

void net_h_subnetpool_update(kreq *r)
{
	const char *id = kreq_param(r, "subnetpool_id");
	json_t *objs = net_body(r, "subnetpool", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, pool_attrs, ARRAY_SIZE(pool_attrs), false) || blank_name(r, obj))
		return;
	_cleanup_json_ json_t *cur = pool_lookup(r, id);
	if (!cur)
		return;
	if (!net_enforce_attrs(r, "update_subnetpool", obj, cur))
		return;
	int version = (int)json_integer_value(json_object_get(cur, "ip_version"));
	_cleanup_json_ json_t *prefixes = NULL;
	json_t *newp = json_object_get(obj, "prefixes");
	if (newp) {
		size_t n;
		int nv;
		irange *v = parse_prefixes(r, newp, &n, &nv);
		if (!v)
			return;
		if (n == 0) {
			net_error(r, 400, "EmptySubnetPoolPrefixList",
			          "Empty subnet pool prefix list.");
			return;
		}
		if (nv != version) {
			net_error(r, 400, "PrefixVersionMismatch",
			          "Cannot mix IPv4 and IPv6 prefixes in "
			          "a subnet pool.");
			return;
		}
		size_t m = merge_ranges(v, n);
		/* existing prefixes must stay covered */
		json_t *old = json_object_get(cur, "prefixes");
		size_t i;
		json_t *e;
		json_array_foreach(old, i, e) {
			net_cidr c;
			net_cidr_parse(json_string_value(e), &c, NULL);
			net_u128 a = c.net.v, b = net_cidr_last(&c).v;
			bool in = false;
			for (size_t j = 0; j < m && !in; j++)
				in = v[j].a <= a && b <= v[j].b;
			if (!in) {
				net_error(r, 400, "IllegalSubnetPoolPrefixUpdate",
				          "Illegal update to "
				          "prefixes: Existing prefixes must be a subset of the new "
				          "prefixes.");
				return;
			}
		}
		prefixes = compact(version, v, m);
	}
	plens pl = {
		json_integer_value(json_object_get(cur, "min_prefixlen")),
		json_integer_value(json_object_get(cur, "max_prefixlen")),
		json_integer_value(json_object_get(cur, "default_prefixlen")),
	};
	json_t *mn = json_object_get(obj, "min_prefixlen"),
	       *mx = json_object_get(obj, "max_prefixlen");
	json_t *df = json_object_get(obj, "default_prefixlen");
	if (mn)
		pl.min = json_integer_value(mn);
	if (mx)
		pl.max = json_integer_value(mx);
	if (df)
		pl.def = json_integer_value(df);
	if (!check_plens(r, version, &pl))
		return;
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	json_t *isd = json_object_get(obj, "is_default");
	if (json_is_true(isd) && default_taken(r, version, id)) {
		kdb_rollback(net_db);
		return;
	}
	bool ok = kdb_run(net_db, NULL, "UPDATE net_subnetpool SET min_prefixlen = ?, "
	                  "max_prefixlen = ?, default_prefixlen = ? WHERE id = ?", "iiis", pl.min,
	                  pl.max, pl.def, id) == KDB_DONE;
	if (ok && json_object_get(obj, "name"))
		ok = kdb_run(net_db, NULL, "UPDATE net_subnetpool SET name = ? WHERE id = ?", "ss",
		             kjson_str(obj, "name"), id) == KDB_DONE;
	if (ok && json_object_get(obj, "description"))
		ok = kdb_run(net_db, NULL, "UPDATE net_subnetpool SET description = ? WHERE id = ?",
		             "ss",
		             kjson_str(obj, "description") ? kjson_str(obj, "description") : "",
		             id) == KDB_DONE;
	if (ok && isd)
		ok = kdb_run(net_db, NULL, "UPDATE net_subnetpool SET is_default = ? WHERE id = ?",
		             "bs", json_is_true(isd), id) == KDB_DONE;
	json_t *q = json_object_get(obj, "default_quota");
	if (ok && q)
		ok = (json_is_integer(q)
		              ? kdb_run(net_db, NULL,
		                        "UPDATE net_subnetpool SET default_quota = ? WHERE id = ?",
		                        "is", (int64_t)json_integer_value(q), id)
		              : kdb_run(net_db, NULL,
		                        "UPDATE net_subnetpool SET default_quota = NULL WHERE "
		                        "id = ?",
		                        "s", id)) == KDB_DONE;
	json_t *scope = json_object_get(obj, "address_scope_id");
	if (ok && scope)
		ok = kdb_run(net_db, NULL,
		             "UPDATE net_subnetpool SET address_scope_id = ? WHERE "
		             "id = ?",
		             "ss", json_is_string(scope) ? json_string_value(scope) : NULL,
		             id) == KDB_DONE;
	if (ok && prefixes)
		ok = write_prefixes(id, prefixes);
	ok = ok && net_touch("net_subnetpool", id) == 0;
	if (!ok || kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	json_t *p = pool_get(NULL, id);
	if (!p) {
		net_error(r, 404, "SubnetPoolNotFound", "Subnet pool %s could not be found.", id);
		return;
	}
	net_respond_one(r, 200, "subnetpool", p);
}

void net_h_subnetpool_delete(kreq *r)
{
	const char *id = kreq_param(r, "subnetpool_id");
	_cleanup_json_ json_t *cur = pool_lookup(r, id);
	if (!cur)
		return;
	if (!net_enforce(r, "delete_subnetpool", cur))
		return;
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	bool found = false;
	_cleanup_json_ _unused_ json_t *s = kdb_query_row(net_db, &found, "SELECT id FROM net_subnet WHERE "
	                                         "subnetpool_id = ?", "s", id);
	if (found) {
		kdb_rollback(net_db);
		net_error(r, 400, "SubnetPoolDeleteError",
		          "Unable to delete subnet pool: Subnet pool "
		          "has existing allocations.");
		return;
	}
	if (kdb_run(net_db, NULL, "DELETE FROM net_subnetpool_prefix WHERE subnetpool_id = ?", "s",
	            id) != KDB_DONE || net_tags_delete("subnetpools", id) != 0 ||
	    kdb_run(net_db, NULL, "DELETE FROM net_subnetpool WHERE id = ?", "s", id) != KDB_DONE ||
	    kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	kresp_status(r, 204);
}

/* PUT /v2.0/subnetpools/{id}/add_prefixes|remove_prefixes {"prefixes": [...]} */
static void change_prefixes(kreq *r, bool add)
{
	const char *id = kreq_param(r, "subnetpool_id");
	json_t *body = kreq_json(r);
	if (!body)
		return;
	json_t *list = json_object_get(body, "prefixes");
	if (!json_is_array(list)) {
		net_error(r, 400, NULL, "Unable to find 'prefixes' in request body");
		return;
	}
	_cleanup_json_ json_t *cur = pool_lookup(r, id);
	if (!cur)
		return;
	if (!net_enforce(r, "update_subnetpool", cur))
		return;
	int version = (int)json_integer_value(json_object_get(cur, "ip_version"));
	size_t n;
	int nv;
	irange *v = parse_prefixes(r, list, &n, &nv);
	if (!v)
		return;
	if (n && nv != version) {
		net_error(r, 400, "PrefixVersionMismatch", "Cannot mix IPv4 and IPv6 prefixes in a "
		          "subnet pool.");
		return;
	}
	json_t *old = json_object_get(cur, "prefixes");
	size_t nold = json_array_size(old);
	irange *all = kpool_alloc(r->pool, (nold + n + 1) * sizeof(*all));
	size_t k = 0;
	for (size_t i = 0; i < nold; i++) {
		net_cidr c;
		if (net_cidr_parse(json_string_value(json_array_get(old, i)), &c, NULL)) {
			all[k].a = c.net.v;
			all[k].b = net_cidr_last(&c).v;
			k++;
		}
	}
	_cleanup_json_ json_t *result = NULL;
	if (add) {
		memcpy(all + k, v, n * sizeof(*v));
		result = compact(version, all, k + n);
	} else {
		/* subtract each removed range; allocated subnets must stay covered */
		size_t m = merge_ranges(all, k);
		irange *outv = kpool_alloc(r->pool, (m + 2 * n + 2) * sizeof(*outv));
		size_t o = m;
		memcpy(outv, all, m * sizeof(*all));
		for (size_t j = 0; j < n; j++) {
			size_t o2 = 0;
			irange *next = kpool_alloc(r->pool, (o * 2 + 2) * sizeof(*next));
			for (size_t i = 0; i < o; i++) {
				if (v[j].b < outv[i].a || v[j].a > outv[i].b) {
					next[o2++] = outv[i];
					continue;
				}
				if (outv[i].a < v[j].a)
					next[o2++] = (irange){ outv[i].a, v[j].a - 1 };
				if (outv[i].b > v[j].b)
					next[o2++] = (irange){ v[j].b + 1, outv[i].b };
			}
			outv = next;
			o = o2;
		}
		_cleanup_json_ json_t *subs = kdb_query_json(net_db, "SELECT cidr FROM net_subnet "
		                                             "WHERE subnetpool_id = ?", "s", id);
		size_t i;
		json_t *e;
		json_array_foreach(subs, i, e) {
			net_cidr c;
			if (!net_cidr_parse(kjson_str(e, "cidr"), &c, NULL))
				continue;
			bool in = false;
			for (size_t x = 0; x < o && !in; x++)
				in = outv[x].a <= c.net.v && net_cidr_last(&c).v <= outv[x].b;
			if (!in) {
				net_error(r, 400, "IllegalSubnetPoolPrefixUpdate",
				          "Illegal update to "
				          "prefixes: Cannot remove prefix %s: subnets are "
				          "allocated from "
				          "it.",
				          kjson_str(e, "cidr"));
				return;
			}
		}
		result = compact(version, outv, o);
	}
	if (kdb_begin(net_db) != KDB_OK || !write_prefixes(id, result) ||
	    net_touch("net_subnetpool", id) != 0 || kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:O}", "prefixes", result));
}

void net_h_subnetpool_add_prefixes(kreq *r)
{
	change_prefixes(r, true);
}

void net_h_subnetpool_remove_prefixes(kreq *r)
{
	change_prefixes(r, false);
}

/* ------------------------------------------------------------------------ */
/* Allocation for subnets.c */

bool net_subnetpool_allocate(kreq *r, const char *pool_id, int ip_version, int prefixlen,
                             const char *cidr, const char **cidr_out)
{
	_cleanup_json_ json_t *pool = pool_lookup(r, pool_id);
	if (!pool)
		return false;
	int pv = (int)json_integer_value(json_object_get(pool, "ip_version"));
	if (ip_version && ip_version != pv) {
		net_error(r, 400, "BadRequest", "Bad subnets request: Cannot allocate IPv%d subnet "
		          "from IPv%d subnet pool.", ip_version, pv);
		return false;
	}
	int64_t mn = json_integer_value(json_object_get(pool, "min_prefixlen"));
	int64_t mx = json_integer_value(json_object_get(pool, "max_prefixlen"));
	net_cidr want;
	if (cidr) {
		net_cidr_parse(cidr, &want, NULL);
		prefixlen = want.prefixlen;
	} else if (prefixlen <= 0) {
		prefixlen = (int)json_integer_value(json_object_get(pool, "default_prefixlen"));
	}
	if (prefixlen > mx) {
		net_error(r, 400, "MaxPrefixSubnetAllocationError",
		          "Unable to allocate subnet with "
		          "prefix length %d, maximum allowed prefix is %lld.",
		          prefixlen, (long long)mx);
		return false;
	}
	if (prefixlen < mn) {
		net_error(r, 400, "MinPrefixSubnetAllocationError",
		          "Unable to allocate subnet with "
		          "prefix length %d, minimum allowed prefix is %lld.",
		          prefixlen, (long long)mn);
		return false;
	}
	_cleanup_json_ json_t *subs = kdb_query_json(net_db, "SELECT cidr FROM net_subnet WHERE "
	                                             "subnetpool_id = ?", "s", pool_id);
	size_t ns = json_array_size(subs);
	irange *used = kpool_alloc(r->pool, (ns + 1) * sizeof(*used));
	size_t nu = 0;
	for (size_t i = 0; i < ns; i++) {
		net_cidr c;
		if (net_cidr_parse(kjson_str(json_array_get(subs, i), "cidr"), &c, NULL)) {
			used[nu].a = c.net.v;
			used[nu].b = net_cidr_last(&c).v;
			nu++;
		}
	}
	nu = merge_ranges(used, nu);
	json_t *prefixes = json_object_get(pool, "prefixes");
	size_t i;
	json_t *e;
	if (cidr) {
		net_u128 a = want.net.v, b = net_cidr_last(&want).v;
		bool inside = false;
		json_array_foreach(prefixes, i, e) {
			net_cidr p;
			if (net_cidr_parse(json_string_value(e), &p, NULL) &&
			    p.prefixlen <= want.prefixlen && net_cidr_contains(&p, &want.net))
				inside = true;
		}
		for (size_t j = 0; j < nu && inside; j++)
			if (!(b < used[j].a || a > used[j].b))
				inside = false;
		if (!inside) {
			net_error(r, 500, "SubnetAllocationError",
			          "Failed to allocate subnet: Cannot "
			          "allocate requested subnet from the available set of prefixes.");
			return false;
		}
		char buf[50];
		*cidr_out = kpool_strdup(r->pool, net_cidr_format(&want, buf));
		return true;
	}
	int bits = pv == 4 ? 32 : 128;
	net_u128 size = (bits - prefixlen) >= 128 ? 0 : (net_u128)1 << (bits - prefixlen);
	json_array_foreach(prefixes, i, e) {
		net_cidr p;
		if (!net_cidr_parse(json_string_value(e), &p, NULL) || p.prefixlen > prefixlen)
			continue;
		net_u128 end = net_cidr_last(&p).v;
		net_u128 cand = p.net.v;
		for (;;) {
			if (cand < p.net.v || cand + size - 1 > end || cand + size - 1 < cand)
				break;
			net_u128 last = cand + size - 1;
			bool clash = false;
			for (size_t j = 0; j < nu; j++)
				if (!(last < used[j].a || cand > used[j].b)) {
					/* jump past this allocation, aligned up */
					net_u128 next = used[j].b + 1;
					if (next == 0)
						goto next_prefix;
					if (size && next % size)
						next += size - next % size;
					cand = next;
					clash = true;
					break;
				}
			if (!clash) {
				net_cidr c = { .net = { .version = pv, .v = cand },
					       .prefixlen = prefixlen };
				char buf[50];
				*cidr_out = kpool_strdup(r->pool, net_cidr_format(&c, buf));
				return true;
			}
		}
next_prefix:;
	}
	net_error(r, 500, "SubnetAllocationError", "Failed to allocate subnet: Insufficient prefix "
	          "space to allocate subnet size /%d.", prefixlen);
	return false;
}
