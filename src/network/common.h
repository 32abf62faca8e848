/*
 * common.h - what every Network API resource shares (implemented in
 * common.c, plus the few cross-resource lookups implemented in policy.c,
 * networks.c and subnets.c, declared here so that ports, security groups and
 * routers need one include).  IP address management is in ipam.h.
 *
 * How a handler is written with it (a sketch of networks.c):
 *
 *   static void list_networks(kreq *r)
 *   {
 *           net_listq *q = net_listq_parse(r, NULL);          // 400 answered on error
 *           if (!q) return;
 *           json_t *rows = kdb_query_json(net_db, "SELECT * FROM net_network", "");
 *           json_t *items = json_array();                      // only what r may see
 *           ... for each row: if (net_visible(r, project, shared)) append(view(row)) ...
 *           net_std_view_list(items, "networks");               // standard attrs + tags
 *           net_respond_list(r, "networks", items, q);          // filters/sort/page/fields
 *   }
 *
 *   static void create_network(kreq *r)
 *   {
 *           json_t *objs = net_body(r, "network", "networks", NULL);  // array of 1..n
 *           if (!objs) return;
 *           for each obj: net_validate(r, obj, network_attrs, n, true) ...
 *           net_enforce_attrs(r, "create_network", obj, obj) ...
 *           net_quota_check(r, project, "network", count) ...
 *           kdb_begin ... insert ... kdb_commit; net_notify("network", id);
 *           net_respond_one(r, 201, "network", view);   // or "networks": [...] for bulk
 *   }
 *
 * Conventions:
 * - API objects are jansson objects in Neutron's shape; row columns become
 *   attributes (booleans are stored as INTEGER: turn them with net_bools()).
 * - Every function that can fail for a client reason answers the request
 *   itself (Neutron's error body via net_error()) and returns false/NULL/-1;
 *   the caller just returns.
 * - Returned json_t * are new references unless said otherwise ("pool":
 *   owned by the request pool, do not decref).
 */
#ifndef KUMO_NETWORK_COMMON_H
#define KUMO_NETWORK_COMMON_H

#include <jansson.h>
#include "core/http.h"
#include "network.h"

/* ------------------------------------------------------------------------ */
/* List queries: ?<attr>=v (repeatable: OR), fields=, sort_key/sort_dir
 * (repeatable, paired), limit, marker, page_reverse. */

typedef struct net_filter {
	const char *key;          /* attribute name, e.g. "name", "tenant_id", "router:external" */
	const char **values;      /* nvalues strings, as sent */
	size_t nvalues;
	bool used;                /* set by net_listq_take(): net_respond_list skips it */
} net_filter;

typedef struct net_listq {
	net_filter *filters;
	size_t nfilters;
	const char **fields;      /* requested fields; nfields == 0 = all */
	size_t nfields;
	const char **sort_keys;
	bool *sort_desc;          /* parallel to sort_keys */
	size_t nsorts;
	int64_t limit;            /* 0 = no limit */
	const char *marker;       /* id or NULL */
	bool page_reverse;
} net_listq;

/* Parse the query string of r (pool memory).  `sortable` is a NULL-ended
 * list of attributes valid as sort_key (NULL = any): an unknown one -> 400
 * "<key> is invalid attribute for sort_key".  Bad sort_dir / limit -> 400.
 * Returns NULL after answering. */
net_listq *net_listq_parse(kreq *r, const char *const *sortable);
/* The filter for `key` or NULL.  Handlers may use it to narrow their SQL (the
 * generic filter still runs afterwards, so narrowing is only an optimization). */
const net_filter *net_listq_get(const net_listq *q, const char *key);
/* Like net_listq_get, but marks the filter as handled by the caller, so
 * net_respond_list ignores it (for filters with special meaning, e.g. ports'
 * fixed_ips=ip_address=...). */
const net_filter *net_listq_take(net_listq *q, const char *key);
/* Whether item matches every (not taken) filter of q.  Neutron semantics:
 * strings exactly, booleans from "true"/"false"/"1"/"0" (any case), integers
 * numerically, null matches "" / "None" / "null", arrays match when they
 * contain a value; tags / tags-any / not-tags / not-tags-any take
 * comma-separated tag lists; filters on attributes the item lacks are ignored. */
bool net_listq_match(const net_listq *q, const json_t *item);
/* Copy of obj restricted to q->fields (all when none asked). New reference. */
json_t *net_fields(const net_listq *q, const json_t *obj);

/*
 * Answer 200 {"<collection>": [...]} from `items` (all objects the caller
 * may see; reference stolen): applies filters, sorting (id is appended as the
 * last sort key; with limit/marker and no sort_key, sorts by id), limit /
 * marker / page_reverse with "<collection>_links" (rel next/previous, as
 * Neutron's native pagination), then fields.  A marker that names no item ->
 * 404 "<Resource> <marker> could not be found" (answered).
 */
void net_respond_list(kreq *r, const char *collection, json_t *items, net_listq *q);
/* Answer status {"<member>": obj} (reference stolen); on GET applies
 * ?fields=... . */
void net_respond_one(kreq *r, int status, const char *member, json_t *obj);

/* ------------------------------------------------------------------------ */
/* Standard attributes and views. */

/* "2026-11-26T04:05:41Z" from int64 microseconds (pool string). */
const char *net_time(kreq *r, int64_t us);
/* In place, on an object built from a database row: created_at/updated_at
 * (int64 µs) -> ISO strings, tenant_id = project_id, revision_number kept,
 * description defaulted to "", "tags" loaded from net_tag for `restype`
 * (the collection name: "networks", "subnets", "ports", "routers",
 * "security_groups", "floatingips", "subnetpools"...). */
void net_std_view(json_t *obj, const char *restype);
/* The same for every object of an array, with one tag query for all. */
void net_std_view_list(json_t *items, const char *restype);
/* In place: the named INTEGER members (NULL-terminated list) become JSON
 * booleans; missing ones are left alone.  net_bools(obj, "shared", NULL). */
void net_bools(json_t *obj, ...) __attribute__((sentinel));
/* In place: rename member `from` to `to` (e.g. "router_external" ->
 * "router:external"); a missing member is left alone. */
void net_rename(json_t *obj, const char *from, const char *to);
/* Bump revision_number and updated_at of one row: table is a constant name
 * ("net_network"...), never client input.  0 or -1. */
int net_touch(const char *table, const char *id);
/* A new resource id (UUID with dashes). */
void net_new_id(char out[37]);
/* Tags of one resource (new array, sorted). */
json_t *net_tags_get(const char *restype, const char *id);
/* Remove a resource's tags (on delete; inside the caller's transaction). */
int net_tags_delete(const char *restype, const char *id);

/* ------------------------------------------------------------------------ */
/* Visibility (the "who may see what" of Neutron's default policy, applied to
 * lists and lookups before policy rules). */

/* Admin (role admin, system scope or the admin token) sees everything;
 * others see rows of their own project, plus `public_too` ones (shared or
 * router:external networks, shared subnet pools, subnets of a shared
 * network...). */
bool net_visible(kreq *r, const char *project_id, bool public_too);
/* The caller's project id ("" for project-less admin tokens; pool string). */
const char *net_project(kreq *r);

/* ------------------------------------------------------------------------ */
/* Request bodies and attribute validation (Neutron's messages). */

/*
 * The body's resource objects: {"<member>": {...}} gives [obj]; with
 * collection != NULL, {"<collection>": [{...}, ...]} (bulk) gives them all and
 * sets *bulk.  Anything else -> 400 ("Resource body required", "Unable to
 * find '<member>' in request body", "Bulk operation not supported"...).
 * Returns a pool-owned array of objects (modifiable), or NULL (answered).
 */
json_t *net_body(kreq *r, const char *member, const char *collection, bool *bulk);

enum net_atype {
	NET_A_ANY,        /* not checked */
	NET_A_STRING,     /* string, max_len (0 = 255) */
	NET_A_BOOL,       /* boolean; "true"/"false"/"1"/"0" strings and 0/1 converted */
	NET_A_INT,        /* integer in [min, max] (when min < max); numeric strings converted */
	NET_A_UUID,       /* UUID string */
	NET_A_IP,         /* IPv4 or IPv6 address */
	NET_A_CIDR,       /* IPv4 or IPv6 prefix "a/n" */
	NET_A_MAC,        /* "aa:bb:cc:dd:ee:ff" */
	NET_A_LIST,       /* array */
	NET_A_DICT,       /* object */
	NET_A_ENUM,       /* string from choices */
};

enum net_aflags {
	NET_A_POST = 1 << 0,      /* may be given on create */
	NET_A_PUT = 1 << 1,       /* may be given on update */
	NET_A_REQUIRED = 1 << 2,  /* required on create */
	NET_A_NULL = 1 << 3,      /* JSON null accepted */
};

typedef struct net_attr {
	const char *name;
	enum net_atype type;
	unsigned flags;
	int max_len;                  /* NET_A_STRING: 0 = 255, -1 = unbounded */
	int64_t min, max;             /* NET_A_INT when min < max */
	const char *const *choices;   /* NET_A_ENUM: NULL-terminated */
} net_attr;

/*
 * Validate (and convert in place) one resource object against attrs, as
 * Neutron's attribute map does:
 *   unknown keys        -> 400 "Unrecognized attribute(s) 'a, b'"
 *   create, !POST       -> 400 "Attribute 'x' not allowed in POST"
 *   update, !PUT        -> 400 "Cannot update read-only attribute x"
 *   create, missing REQUIRED -> 400 "Failed to parse request. Required attribute 'x' not specified"
 *   bad value           -> 400 "Invalid input for x. Reason: <reason>."
 * "project_id" and "tenant_id" are always known (POST only; they must match
 * each other).  Returns false after answering.
 */
bool net_validate(kreq *r, json_t *obj, const net_attr *attrs, size_t n, bool create);
/* 400 "Invalid input for <attr>. Reason: <reason>." (type HTTPBadRequest);
 * returns false so handlers can `return net_bad_input(...)`. */
bool net_bad_input(kreq *r, const char *attr, const char *fmt, ...) _printf_(3, 4);
/* The project a new resource belongs to: project_id / tenant_id of the body
 * (only an admin may name another project: else 403 PolicyNotAuthorized
 * "Specifying 'project_id' or 'tenant_id' other than the authenticated
 * project in request requires admin privileges"), else the caller's (400
 * when the token has no project).  Also sets both keys in obj.  NULL after
 * answering. */
const char *net_body_project(kreq *r, json_t *obj);
/* Value checks usable by resources (no answer; NULL = fine, else a reason
 * string for net_bad_input, static or pool). */
const char *net_check_uuid(const char *s);
const char *net_check_mac(const char *s);
/* Convert a JSON bool or "true"/"false"/"1"/"0" (any case) string or 0/1;
 * false when not convertible. */
bool net_to_bool(const json_t *v, bool *out);

/* ------------------------------------------------------------------------ */
/* Quotas (quotas.c owns the API; the check lives in common.c). */

/* Whether project may create `wanted` more of resource ("network",
 * "subnet", "subnetpool", "port", "router", "floatingip", "security_group",
 * "security_group_rule", "rbac_policy").  On excess answers 409 OverQuota
 * "Quota exceeded for resources: ['<resource>']." and returns false. */
bool net_quota_check(kreq *r, const char *project, const char *resource, int wanted);
/* The effective limit (-1 = unlimited) and current usage of a resource. */
int64_t net_quota_limit(const char *project, const char *resource);
int64_t net_quota_used(const char *project, const char *resource);

/* ------------------------------------------------------------------------ */
/* Policy helpers (policy.c; net_enforce/net_is_admin are in network.h). */

/* net_enforce(action) and then, for every attribute present in `body` that
 * has its own rule "<action>:<attr>" (e.g. "create_network:shared",
 * "create_port:binding:host_id", "create_port:fixed_ips:ip_address"), that
 * rule too.  403 answered on denial. */
bool net_enforce_attrs(kreq *r, const char *action, const json_t *body, json_t *target);
/* In place: remove attributes the caller may not see ("get_network:
 * provider:network_type" and the like fail for non-admins). action is
 * "get_network", "get_port"... */
void net_strip_attrs(kreq *r, const char *action, json_t *obj);

/* ------------------------------------------------------------------------ */
/* Cross-resource lookups (networks.c / subnets.c). */

/* The API view (new reference) of network id as r may see it (own, shared
 * or external; everything for admins), or NULL after answering 404
 * NetworkNotFound "Network <id> could not be found.". */
json_t *net_network_lookup(kreq *r, const char *id);
/* The same without answering (NULL when missing / invisible), r may be NULL
 * for "no visibility check". */
json_t *net_network_get(kreq *r, const char *id);
/* The API view of subnet id (visible when its network is), or NULL after
 * answering 404 SubnetNotFound "Subnet <id> could not be found.". */
json_t *net_subnet_lookup(kreq *r, const char *id);
json_t *net_subnet_get(kreq *r, const char *id);

#endif
