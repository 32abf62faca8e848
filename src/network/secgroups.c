/*
 * secgroups.c - security groups and their rules (Neutron's security-group
 * extension with stateful-security-group, standard attributes and
 * belongs_to_default_sg / normalized_cidr on rules).
 *
 * Neutron's behaviour, kept here:
 * - Every project owns one group named "default", made on first use (listing
 *   groups or rules, creating a group, a port or a network) with the
 *   template rules: ingress from the group itself and egress anywhere, for
 *   IPv4 and IPv6.  Other new groups get the two egress rules.  The mapping
 *   row net_default_security_group(project_id PRIMARY KEY) is written first,
 *   so two requests racing to make the default group cannot both succeed:
 *   the loser finds the winner's group.  A non-admin never makes another
 *   project's default group.
 * - No group may be named "default" by a client (409
 *   SecurityGroupDefaultAlreadyExists), the default group cannot be renamed,
 *   and only an admin can delete it.  A group used by a port cannot be
 *   deleted (409 SecurityGroupInUse); deleting a group also deletes the rules
 *   of other groups that name it as remote group (Neutron's cascading foreign
 *   key).
 * - Rules go through Neutron's conversions and checks, in Neutron's order:
 *   protocol names/numbers (0-255, "any" = none), ports (0-65535), ethertype
 *   (case-insensitive), remote_ip_prefix (a bare address gets /32 or /128;
 *   host bits are kept, normalized_cidr shows the network), then legacy IPv6
 *   ICMP names become ipv6-icmp, 1-65535 becomes "no range", ranges only for
 *   TCP/UDP/SCTP/DCCP/UDP-Lite (min <= max, not 0), ICMP type/code 0-255 in
 *   port_range_min/max, the ethertype must match the prefix and IPv6-only
 *   protocols, one remote at most; then the remote group and the group
 *   itself must exist for the caller (404), and a rule equal to an existing
 *   one (same direction, ethertype, ports, protocol by number, remotes, with
 *   0.0.0.0/0 and ::/0 meaning "any") is 409 SecurityGroupRuleExists.
 * - Visibility: a project sees its own groups; rules it created or that
 *   belong to its groups; admins see everything.
 * Every change calls net_notify("security_group", id) for the agents'
 * firewall.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "common.h"
#include "ipam.h"
#include "network.h"
#include "ports.h"

#define SG_COLS \
	"id, project_id, name, description, stateful, created_at, updated_at, revision_number"
#define RULE_COLS \
	"r.id, r.project_id, r.security_group_id, r.direction, r.ethertype, r.protocol," \
	" r.port_range_min, r.port_range_max, r.remote_ip_prefix, r.remote_group_id," \
	" r.remote_address_group_id, r.description, r.created_at, r.updated_at," \
	" r.revision_number, CASE WHEN d.security_group_id IS NULL THEN 0 ELSE 1 END" \
	" AS belongs_to_default_sg"
#define RULE_FROM \
	" FROM net_security_group_rule r LEFT JOIN net_default_security_group d" \
	" ON d.security_group_id = r.security_group_id"

static void internal_error(kreq *r)
{
	net_error(r, 500, "HTTPInternalServerError", "Request Failed: internal server error while "
	          "processing your request.");
}

/* ------------------------------------------------------------------------ */
/* Protocols (neutron_lib.constants.IP_PROTOCOL_MAP, in its order). */

static const struct proto {
	const char *name;
	int num;
} protos[] = {
	{ "ah", 51 }, { "dccp", 33 }, { "egp", 8 }, { "esp", 50 }, { "gre", 47 },
	{ "hopopt", 0 }, { "icmp", 1 }, { "igmp", 2 }, { "ip", 0 }, { "ipip", 4 },
	{ "ipv6-encap", 41 }, { "ipv6-frag", 44 }, { "ipv6-icmp", 58 }, { "icmpv6", 58 },
	{ "ipv6-nonxt", 59 }, { "ipv6-opts", 60 }, { "ipv6-route", 43 }, { "ospf", 89 },
	{ "pgm", 113 }, { "rsvp", 46 }, { "sctp", 132 }, { "tcp", 6 }, { "udp", 17 },
	{ "udplite", 136 }, { "vrrp", 112 },
};

/* Python's repr of neutron's sg_supported_protocols tuple. */
static const char supported_protocols[] =
	"(None, 'any', 'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', "
	"'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', "
	"'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp')";

/* Protocols allowed only with IPv6 (names and numbers). */
static const char *const ipv6_only_protos[] = {
	"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts",
	"ipv6-route", "41", "44", "58", "59", "60", "43", NULL,
};

/* Parse a whole decimal integer the way Python's int() reads a string
 * (surrounding blanks and a sign allowed). */
static bool parse_int(const char *s, long long *out)
{
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return false;
	*out = v;
	return true;
}

/* Protocol number of a stored protocol ("tcp", "6", "ipv6-icmp"); -1 none. */
static int proto_number(const char *p)
{
	if (!p)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++)
		if (strcmp(protos[i].name, p) == 0)
			return protos[i].num;
	long long v;
	if (parse_int(p, &v))
		return (int)v;
	return -1;
}

/* Python str() of a JSON scalar, for messages. */
static const char *pystr(kreq *r, const json_t *v)
{
	if (!v || json_is_null(v))
		return "None";
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_true(v))
		return "True";
	if (json_is_false(v))
		return "False";
	if (json_is_integer(v))
		return kpool_printf(r->pool, "%lld", (long long)json_integer_value(v));
	if (json_is_real(v))
		return kpool_printf(r->pool, "%g", json_real_value(v));
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	const char *out = kpool_strdup(r->pool, s ? s : "?");
	free(s);
	return out;
}

/* Neutron's convert_protocol: NULL (no protocol) / canonical string; false
 * after answering 400. */
static bool convert_protocol(kreq *r, const json_t *v, const char **out)
{
	*out = NULL;
	if (!v || json_is_null(v))
		return true;
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		if (n >= 0 && n <= 255) {
			*out = kpool_printf(r->pool, "%lld", (long long)n);
			return true;
		}
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		long long n;
		if (strcmp(s, "any") == 0)
			return true;
		if (parse_int(s, &n)) {
			if (n >= 0 && n <= 255) {
				*out = s;
				return true;
			}
		} else {
			char *low = kpool_strdup(r->pool, s);
			for (char *c = low; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (strcmp(low, "any") == 0)
				return true;
			for (size_t i = 0; i < ARRAY_SIZE(protos); i++)
				if (strcmp(protos[i].name, low) == 0) {
					*out = low;
					return true;
				}
		}
	}
	net_error(r, 400, "SecurityGroupRuleInvalidProtocol",
	          "Security group rule protocol %s not supported. Only protocol values %s and "
	          "integer representations [0 to 255] are supported.", pystr(r, v),
	          supported_protocols);
	return false;
}

/* convert_validate_port_value: -1 for none; false after answering. */
static bool convert_port(kreq *r, const json_t *v, long long *out)
{
	*out = -1;
	if (!v || json_is_null(v))
		return true;
	long long n = -1;
	bool ok = false;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
		ok = true;
	} else if (json_is_string(v)) {
		ok = parse_int(json_string_value(v), &n);
	}
	if (ok && n >= 0 && n <= 65535) {
		*out = n;
		return true;
	}
	net_error(r, 400, "SecurityGroupInvalidPortValue", "Invalid value for port %s",
	          pystr(r, v));
	return false;
}

/* remote_ip_prefix as netaddr prints it: canonical address (host bits kept)
 * with its prefix length; NULL after answering 400 InvalidCIDR. */
static const char *convert_prefix(kreq *r, const char *s, int *version)
{
	const char *slash = strchr(s, '/');
	const char *addr = slash ? kpool_strndup(r->pool, s, (size_t)(slash - s)) : s;
	net_ip ip;
	long long plen = -1;
	bool ok = net_ip_parse(addr, &ip);
	if (ok && slash) {
		const char *p = slash + 1;
		ok = *p && strspn(p, "0123456789") == strlen(p) && strlen(p) <= 3 &&
		     parse_int(p, &plen) && plen <= (ip.version == 4 ? 32 : 128);
	}
	if (!ok) {
		net_error(r, 400, "InvalidCIDR", "Invalid CIDR %s given as IP prefix.", s);
		return NULL;
	}
	if (plen < 0)
		plen = ip.version == 4 ? 32 : 128;
	char buf[64];
	*version = ip.version;
	return kpool_printf(r->pool, "%s/%lld", net_ip_format(&ip, buf), plen);
}

/* The network of a prefix ("10.0.0.1/24" -> "10.0.0.0/24"), pool string. */
static const char *normalized_cidr(kpool *pool, const char *prefix)
{
	net_cidr c;
	if (!prefix || !net_cidr_parse(prefix, &c, NULL))
		return NULL;
	char buf[64];
	return kpool_strdup(pool, net_cidr_format(&c, buf));
}

/* ------------------------------------------------------------------------ */
/* Views. */

/* In place: a rule row -> its API view (without standard attributes). */
static void rule_row_view(kpool *pool, json_t *o)
{
	net_bools(o, "belongs_to_default_sg", NULL);
	const char *cidr = normalized_cidr(pool, kjson_str(o, "remote_ip_prefix"));
	json_object_set_new(o, "normalized_cidr", cidr ? json_string(cidr) : json_null());
}

/* Rules as views (new array), with standard attributes; `where` and up to
 * two string arguments select them. */
static json_t *rules_query2(kreq *r, const char *where, const char *a1, const char *a2)
{
	const char *sql = kpool_printf(r->pool, "SELECT " RULE_COLS RULE_FROM " %s", where);
	json_t *rows = a2 ? kdb_query_json(net_db, sql, "ss", a1, a2)
	             : a1 ? kdb_query_json(net_db, sql, "s", a1)
	             : kdb_query_json(net_db, sql, "");
	if (!rows)
		return NULL;
	size_t i;
	json_t *o;
	json_array_foreach(rows, i, o)
		rule_row_view(r->pool, o);
	net_std_view_list(rows, "security_group_rules");
	return rows;
}

static json_t *rules_query(kreq *r, const char *where, const char *arg)
{
	return rules_query2(r, where, arg, NULL);
}

/* Attach the rules of each group (array of SG rows, in place) and finish
 * the views.  rules: all rules that may belong to them (stolen). */
static void groups_finish(json_t *groups, json_t *rules)
{
	json_t *by_sg = json_object();
	size_t i;
	json_t *o;
	json_array_foreach(rules, i, o) {
		const char *sg = kjson_str(o, "security_group_id");
		if (!sg)
			continue;
		json_t *arr = json_object_get(by_sg, sg);
		if (!arr) {
			arr = json_array();
			json_object_set_new(by_sg, sg, arr);
		}
		json_array_append(arr, o);
	}
	json_decref(rules);
	json_array_foreach(groups, i, o) {
		net_bools(o, "stateful", NULL);
		json_object_set_new(o, "shared", json_false());
		json_t *arr = json_object_get(by_sg, kjson_str(o, "id"));
		if (arr)
			json_object_set(o, "security_group_rules", arr);
		else
			json_object_set_new(o, "security_group_rules", json_array());
	}
	json_decref(by_sg);
	net_std_view_list(groups, "security_groups");
}

/* The view of one group (new reference) or NULL when it does not exist. */
static json_t *group_view(kreq *r, const char *id)
{
	json_t *rows = kdb_query_json(net_db, "SELECT " SG_COLS " FROM net_security_group"
	                              " WHERE id = ?", "s", id);
	if (!rows || json_array_size(rows) == 0) {
		json_decref(rows);
		return NULL;
	}
	json_t *rules = rules_query(r, "WHERE r.security_group_id = ?", id);
	groups_finish(rows, rules ? rules : json_array());
	json_t *g = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return g;
}

/* The row of a group as r may see it (own project, or admin); NULL when
 * missing or invisible (not answered). New reference. */
static json_t *group_row(kreq *r, const char *id)
{
	bool found;
	json_t *row = kdb_query_row(net_db, &found, "SELECT " SG_COLS " FROM net_security_group"
	                            " WHERE id = ?", "s", id);
	if (!row)
		return NULL;
	if (r && !net_visible(r, kjson_str(row, "project_id"), false)) {
		json_decref(row);
		return NULL;
	}
	return row;
}

static void sg_not_found(kreq *r, const char *id)
{
	net_error(r, 404, "SecurityGroupNotFound", "Security group %s does not exist", id);
}

/* ------------------------------------------------------------------------ */
/* Creating groups and rules (inside the caller's transaction). */

typedef struct rule_spec {
	const char *id;
	const char *project_id;
	const char *sg_id;
	const char *direction;
	const char *ethertype;
	const char *protocol;          /* NULL = any */
	long long pmin, pmax;          /* -1 = none */
	const char *prefix;            /* NULL = any */
	const char *remote_group_id;
	const char *description;
} rule_spec;

static int rule_insert(const rule_spec *s, int64_t now)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(net_db,
		"INSERT INTO net_security_group_rule (id, project_id, security_group_id, direction,"
		" ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix,"
		" remote_group_id, remote_address_group_id, description, created_at, updated_at,"
		" revision_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, 0)");
	if (!st)
		return -1;
	kstmt_bind_text(st, 1, s->id);
	kstmt_bind_text(st, 2, s->project_id);
	kstmt_bind_text(st, 3, s->sg_id);
	kstmt_bind_text(st, 4, s->direction);
	kstmt_bind_text(st, 5, s->ethertype);
	kstmt_bind_text(st, 6, s->protocol);
	if (s->pmin >= 0)
		kstmt_bind_int(st, 7, s->pmin);
	else
		kstmt_bind_null(st, 7);
	if (s->pmax >= 0)
		kstmt_bind_int(st, 8, s->pmax);
	else
		kstmt_bind_null(st, 8);
	kstmt_bind_text(st, 9, s->prefix);
	kstmt_bind_text(st, 10, s->remote_group_id);
	kstmt_bind_text(st, 11, s->description ? s->description : "");
	kstmt_bind_int(st, 12, now);
	kstmt_bind_int(st, 13, now);
	return kstmt_step(st) == KDB_DONE ? 0 : -1;
}

/* Insert a group and its template rules. */
static int group_insert(const char *id, const char *project, const char *name,
                        const char *description, bool stateful, bool is_default)
{
	int64_t now = kutil_now_us();
	if (kdb_run(net_db, NULL, "INSERT INTO net_security_group (id, project_id, name,"
	            " description, stateful, created_at, updated_at, revision_number)"
	            " VALUES (?, ?, ?, ?, ?, ?, ?, 1)", "ssssbii", id, project, name,
	            description, stateful, now, now) != KDB_DONE)
		return -1;
	static const char *const ethertypes[] = { "IPv4", "IPv6" };
	for (int dir = 0; dir < (is_default ? 2 : 1); dir++) {
		for (int e = 0; e < 2; e++) {
			char rid[37];
			net_new_id(rid);
			rule_spec s = {
				.id = rid, .project_id = project, .sg_id = id,
				.direction = dir == 0 ? "egress" : "ingress",
				.ethertype = ethertypes[e], .pmin = -1, .pmax = -1,
				.remote_group_id = dir == 0 ? NULL : id,
			};
			if (rule_insert(&s, now) != 0)
				return -1;
		}
	}
	return 0;
}

static const char *default_sg_id(kpool *pool, const char *project)
{
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found,
		"SELECT security_group_id FROM net_default_security_group WHERE project_id = ?",
		"s", project);
	const char *id = row ? kjson_str(row, "security_group_id") : NULL;
	return id ? kpool_strdup(pool, id) : NULL;
}

bool net_sg_ensure_default(kreq *r, const char *project_id, const char **id_out)
{
	if (id_out)
		*id_out = NULL;
	if (!project_id || !*project_id)
		return true;
	/* Do not let a project make the default group of another (bug 1987410). */
	if (r && r->ctx && !net_is_admin(r) && strcmp(project_id, net_project(r)) != 0)
		return true;
	_cleanup_pool_ kpool *tmp = r ? NULL : kpool_new();
	kpool *pool = r ? r->pool : tmp;
	const char *id = default_sg_id(pool, project_id);
	if (id) {
		if (id_out && r)
			*id_out = id;
		return true;
	}
	char nid[37];
	net_new_id(nid);
	if (kdb_begin(net_db) != KDB_OK)
		goto fail;
	int rc = kdb_run(net_db, NULL, "INSERT INTO net_default_security_group (project_id,"
	                 " security_group_id) VALUES (?, ?)", "ss", project_id, nid);
	if (rc == KDB_CONSTRAINT) {
		/* somebody else made it meanwhile */
		kdb_commit(net_db);
		id = default_sg_id(pool, project_id);
		if (id_out && r)
			*id_out = id;
		return true;
	}
	if (rc != KDB_DONE || group_insert(nid, project_id, "default", "Default security group",
	                                   true, true) != 0) {
		kdb_rollback(net_db);
		goto fail;
	}
	if (kdb_commit(net_db) != KDB_OK)
		goto fail;
	net_notify("security_group", nid);
	if (id_out && r)
		*id_out = kpool_strdup(r->pool, nid);
	return true;
fail:
	klog_error("network", "cannot create the default security group of project %s",
	           project_id);
	if (r)
		internal_error(r);
	return false;
}

bool net_sg_check_port_groups(kreq *r, const char *project_id, json_t *ids)
{
	/* de-duplicate, keeping the first occurrence */
	for (size_t i = 0; i < json_array_size(ids); i++)
		for (size_t j = i + 1; j < json_array_size(ids);) {
			if (json_equal(json_array_get(ids, i), json_array_get(ids, j)))
				json_array_remove(ids, j);
			else
				j++;
		}
	const char *missing = NULL;
	int stateful = 0, stateless = 0;
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		const char *id = json_string_value(v);
		_cleanup_json_ json_t *row = NULL;
		if (id) {
			bool found;
			row = kdb_query_row(net_db, &found, "SELECT project_id, stateful FROM"
			                    " net_security_group WHERE id = ?", "s", id);
		}
		const char *proj = row ? kjson_str(row, "project_id") : NULL;
		if (!proj || (!net_is_admin(r) && project_id && strcmp(proj, project_id) != 0)) {
			const char *s = id ? id : pystr(r, v);
			missing = missing ? kpool_printf(r->pool, "%s, %s", missing, s) : s;
			continue;
		}
		json_t *sf = json_object_get(row, "stateful");
		if (json_integer_value(sf))
			stateful++;
		else
			stateless++;
	}
	if (missing) {
		sg_not_found(r, missing);
		return false;
	}
	if (stateful && stateless) {
		net_error(r, 409, "SecurityGroupConflict", "Error Cannot apply both stateful and "
		          "stateless security groups on the same port at the same time while "
		          "attempting the operation.");
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Security groups: API. */

static const char *const sg_sort_keys[] = { "id", "name", "tenant_id", "project_id", NULL };

static const net_attr sg_attrs[] = {
	{ .name = "name", .type = NET_A_STRING, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "description", .type = NET_A_STRING, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "stateful", .type = NET_A_BOOL, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "id", .type = NET_A_ANY, .flags = 0 },
	{ .name = "security_group_rules", .type = NET_A_ANY, .flags = 0 },
	{ .name = "shared", .type = NET_A_ANY, .flags = 0 },
	{ .name = "created_at", .type = NET_A_ANY, .flags = 0 },
	{ .name = "updated_at", .type = NET_A_ANY, .flags = 0 },
	{ .name = "revision_number", .type = NET_A_ANY, .flags = 0 },
};

/* The name validator of Neutron (name_not_default). */
static bool check_name(kreq *r, const json_t *obj)
{
	const char *name = kjson_str(obj, "name");
	if (name && strcasecmp(name, "default") == 0) {
		net_error(r, 409, "SecurityGroupDefaultAlreadyExists",
		          "Default security group already exists.");
		return false;
	}
	return true;
}

static void list_groups(kreq *r)
{
	net_listq *q = net_listq_parse(r, sg_sort_keys);
	if (!q)
		return;
	/* the default group of the project asked for (or the caller's) exists */
	const net_filter *f = net_listq_get(q, "project_id");
	if (!f)
		f = net_listq_get(q, "tenant_id");
	const char *project = f && f->nvalues ? f->values[0] : net_project(r);
	if (!net_sg_ensure_default(r, project, NULL))
		return;
	bool admin = net_is_admin(r);
	json_t *groups = admin
		? kdb_query_json(net_db, "SELECT " SG_COLS " FROM net_security_group", "")
		: kdb_query_json(net_db, "SELECT " SG_COLS " FROM net_security_group"
		                 " WHERE project_id = ?", "s", net_project(r));
	json_t *rules = admin
		? rules_query(r, "", NULL)
		: rules_query(r, "JOIN net_security_group g ON g.id = r.security_group_id"
		              " WHERE g.project_id = ?", net_project(r));
	if (!groups || !rules) {
		json_decref(groups);
		json_decref(rules);
		internal_error(r);
		return;
	}
	groups_finish(groups, rules);
	net_respond_list(r, "security_groups", groups, q);
}

static void show_group(kreq *r)
{
	const char *id = kreq_param(r, "security_group_id");
	_cleanup_json_ json_t *row = group_row(r, id);
	if (!row) {
		sg_not_found(r, id);
		return;
	}
	json_t *g = group_view(r, id);
	if (!g) {
		sg_not_found(r, id);
		return;
	}
	if (!net_enforce(r, "get_security_group", g)) {
		json_decref(g);
		return;
	}
	net_respond_one(r, 200, "security_group", g);
}

static void create_groups(kreq *r)
{
	bool bulk = false;
	json_t *objs = net_body(r, "security_group", "security_groups", &bulk);
	if (!objs)
		return;
	size_t n = json_array_size(objs);
	const char **projects = kpool_alloc(r->pool, (n ? n : 1) * sizeof(*projects));
	size_t i;
	json_t *obj;
	json_array_foreach(objs, i, obj) {
		if (!net_validate(r, obj, sg_attrs, ARRAY_SIZE(sg_attrs), true))
			return;
		if (!check_name(r, obj))
			return;
		if (!(projects[i] = net_body_project(r, obj)))
			return;
		if (!net_enforce_attrs(r, "create_security_group", obj, obj))
			return;
	}
	json_array_foreach(objs, i, obj) {
		if (!net_sg_ensure_default(r, projects[i], NULL))
			return;
		/* per project: groups and their two rules */
		size_t count = 0;
		for (size_t j = 0; j < n; j++)
			count += strcmp(projects[j], projects[i]) == 0;
		if (!net_quota_check(r, projects[i], "security_group", (int)count) ||
		    !net_quota_check(r, projects[i], "security_group_rule", (int)(2 * count)))
			return;
	}
	char (*ids)[37] = kpool_alloc(r->pool, (n ? n : 1) * sizeof(*ids));
	if (kdb_begin(net_db) != KDB_OK)
		goto fail;
	json_array_foreach(objs, i, obj) {
		net_new_id(ids[i]);
		bool stateful = true;
		json_t *sf = json_object_get(obj, "stateful");
		if (sf && json_is_boolean(sf))
			stateful = json_is_true(sf);
		const char *name = kjson_str(obj, "name");
		const char *desc = kjson_str(obj, "description");
		if (group_insert(ids[i], projects[i], name ? name : "", desc ? desc : "",
		                 stateful, false) != 0) {
			kdb_rollback(net_db);
			goto fail;
		}
	}
	if (kdb_commit(net_db) != KDB_OK)
		goto fail;
	json_t *out = json_array();
	for (i = 0; i < n; i++) {
		net_notify("security_group", ids[i]);
		json_t *g = group_view(r, ids[i]);
		if (g)
			json_array_append_new(out, g);
	}
	if (bulk) {
		kresp_json(r, 201, json_pack("{s:o}", "security_groups", out));
		return;
	}
	json_t *one = json_incref(json_array_get(out, 0));
	json_decref(out);
	net_respond_one(r, 201, "security_group", one);
	return;
fail:
	internal_error(r);
}

/* Whether a port uses the group. */
static bool group_in_use(const char *id)
{
	bool found = false;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT port_id FROM"
	                                           " net_port_security_group WHERE"
	                                           " security_group_id = ?", "s", id);
	return row != NULL || found;
}

static void update_group(kreq *r)
{
	const char *id = kreq_param(r, "security_group_id");
	json_t *objs = net_body(r, "security_group", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	if (!net_validate(r, obj, sg_attrs, ARRAY_SIZE(sg_attrs), false) || !check_name(r, obj))
		return;
	_cleanup_json_ json_t *row = group_row(r, id);
	if (!row) {
		sg_not_found(r, id);
		return;
	}
	if (!net_enforce_attrs(r, "update_security_group", obj, row))
		return;
	json_t *sf = json_object_get(obj, "stateful");
	if (sf && json_is_boolean(sf) &&
	    (json_is_true(sf) ? 1 : 0) != json_integer_value(json_object_get(row, "stateful")) &&
	    group_in_use(id)) {
		net_error(r, 409, "SecurityGroupInUse", "Security Group %s in use.", id);
		return;
	}
	const char *oldname = kjson_str(row, "name");
	if (oldname && strcmp(oldname, "default") == 0 && json_object_get(obj, "name")) {
		net_error(r, 409, "SecurityGroupCannotUpdateDefault",
		          "Updating default security group not allowed.");
		return;
	}
	const char *name = kjson_str(obj, "name");
	const char *desc = kjson_str(obj, "description");
	if (kdb_begin(net_db) != KDB_OK)
		goto fail;
	bool ok = true;
	if (json_object_get(obj, "name"))
		ok = ok && kdb_run(net_db, NULL, "UPDATE net_security_group SET name = ?"
		                   " WHERE id = ?", "ss", name ? name : "", id) == KDB_DONE;
	if (json_object_get(obj, "description"))
		ok = ok && kdb_run(net_db, NULL, "UPDATE net_security_group SET description = ?"
		                   " WHERE id = ?", "ss", desc ? desc : "", id) == KDB_DONE;
	if (sf && json_is_boolean(sf))
		ok = ok && kdb_run(net_db, NULL, "UPDATE net_security_group SET stateful = ?"
		                   " WHERE id = ?", "bs", json_is_true(sf), id) == KDB_DONE;
	ok = ok && net_touch("net_security_group", id) == 0;
	if (!ok) {
		kdb_rollback(net_db);
		goto fail;
	}
	if (kdb_commit(net_db) != KDB_OK)
		goto fail;
	net_notify("security_group", id);
	json_t *g = group_view(r, id);
	if (!g) {
		sg_not_found(r, id);
		return;
	}
	net_respond_one(r, 200, "security_group", g);
	return;
fail:
	internal_error(r);
}

static void delete_group(kreq *r)
{
	const char *id = kreq_param(r, "security_group_id");
	_cleanup_json_ json_t *row = group_row(r, id);
	if (!row) {
		sg_not_found(r, id);
		return;
	}
	if (!net_enforce(r, "delete_security_group", row))
		return;
	if (group_in_use(id)) {
		net_error(r, 409, "SecurityGroupInUse", "Security Group %s in use.", id);
		return;
	}
	const char *name = kjson_str(row, "name");
	if (name && strcmp(name, "default") == 0 && !net_is_admin(r)) {
		net_error(r, 409, "SecurityGroupCannotRemoveDefault",
		          "Insufficient rights for removing default security group.");
		return;
	}
	/* groups whose rules name this one as remote group change too */
	_cleanup_json_ json_t *others = kdb_query_json(net_db,
		"SELECT DISTINCT security_group_id FROM net_security_group_rule"
		" WHERE remote_group_id = ? AND security_group_id <> ?", "ss", id, id);
	if (kdb_begin(net_db) != KDB_OK)
		goto fail;
	bool ok =
		kdb_run(net_db, NULL, "DELETE FROM net_security_group_rule WHERE"
		        " security_group_id = ? OR remote_group_id = ?", "ss", id, id) ==
		KDB_DONE &&
		kdb_run(net_db, NULL, "DELETE FROM net_default_security_group WHERE"
		        " security_group_id = ?", "s", id) == KDB_DONE &&
		net_tags_delete("security_groups", id) == 0 &&
		kdb_run(net_db, NULL, "DELETE FROM net_security_group WHERE id = ?", "s", id) ==
		KDB_DONE;
	size_t i;
	json_t *o;
	json_array_foreach(others, i, o)
		ok = ok && net_touch("net_security_group", kjson_str(o, "security_group_id")) == 0;
	if (!ok) {
		kdb_rollback(net_db);
		goto fail;
	}
	if (kdb_commit(net_db) != KDB_OK)
		goto fail;
	net_notify("security_group", id);
	json_array_foreach(others, i, o)
		net_notify("security_group", kjson_str(o, "security_group_id"));
	kresp_status(r, 204);
	return;
fail:
	internal_error(r);
}

/* ------------------------------------------------------------------------ */
/* Rules: API. */

static const char *const directions[] = { "ingress", "egress", NULL };

static const net_attr rule_attrs[] = {
	{ .name = "security_group_id", .type = NET_A_STRING,
	  .flags = NET_A_POST | NET_A_REQUIRED, .max_len = 36 },
	{ .name = "remote_group_id", .type = NET_A_ANY, .flags = NET_A_POST | NET_A_NULL },
	{ .name = "direction", .type = NET_A_ENUM, .flags = NET_A_POST | NET_A_REQUIRED,
	  .choices = directions },
	{ .name = "protocol", .type = NET_A_ANY, .flags = NET_A_POST | NET_A_NULL },
	{ .name = "port_range_min", .type = NET_A_ANY, .flags = NET_A_POST | NET_A_NULL },
	{ .name = "port_range_max", .type = NET_A_ANY, .flags = NET_A_POST | NET_A_NULL },
	{ .name = "ethertype", .type = NET_A_ANY, .flags = NET_A_POST | NET_A_NULL },
	{ .name = "remote_ip_prefix", .type = NET_A_ANY, .flags = NET_A_POST | NET_A_NULL },
	{ .name = "remote_address_group_id", .type = NET_A_ANY, .flags = NET_A_POST | NET_A_NULL },
	{ .name = "description", .type = NET_A_STRING, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "id", .type = NET_A_ANY, .flags = 0 },
	{ .name = "normalized_cidr", .type = NET_A_ANY, .flags = 0 },
	{ .name = "belongs_to_default_sg", .type = NET_A_ANY, .flags = 0 },
	{ .name = "created_at", .type = NET_A_ANY, .flags = 0 },
	{ .name = "updated_at", .type = NET_A_ANY, .flags = 0 },
	{ .name = "revision_number", .type = NET_A_ANY, .flags = 0 },
};

static const char *const rule_sort_keys[] = {
	"id", "security_group_id", "remote_group_id", "direction", "protocol", "port_range_min",
	"port_range_max", "ethertype", "remote_ip_prefix", "tenant_id", "project_id", NULL
};

static bool in_list(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* Neutron's _rule_to_key: what makes two rules "the same". */
static const char *rule_key(kpool *pool, const rule_spec *s)
{
	const char *prefix = s->prefix;
	if (prefix && (strcmp(prefix, "0.0.0.0/0") == 0 || strcmp(prefix, "::/0") == 0))
		prefix = NULL;
	int pn = proto_number(s->protocol);
	return kpool_printf(pool, "%s_%s_%lld_%lld_%d_%s_%s_%s", s->direction, s->ethertype,
	                    s->pmax, s->pmin, s->protocol ? pn : -1,
	                    s->remote_group_id ? s->remote_group_id : "+",
	                    prefix ? prefix : "+", s->sg_id);
}

static long long json_port(const json_t *v)
{
	return v && json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* Convert and check one rule of the body into *s (Neutron's order); false
 * after answering. */
static bool rule_prepare(kreq *r, json_t *obj, rule_spec *s)
{
	memset(s, 0, sizeof(*s));
	if (!net_validate(r, obj, rule_attrs, ARRAY_SIZE(rule_attrs), true))
		return false;
	if (!convert_protocol(r, json_object_get(obj, "protocol"), &s->protocol))
		return false;
	if (!convert_port(r, json_object_get(obj, "port_range_min"), &s->pmin) ||
	    !convert_port(r, json_object_get(obj, "port_range_max"), &s->pmax))
		return false;
	json_t *et = json_object_get(obj, "ethertype");
	s->ethertype = "IPv4";
	if (et) {
		const char *e = json_string_value(et);
		if (e && strcasecmp(e, "IPv4") == 0)
			s->ethertype = "IPv4";
		else if (e && strcasecmp(e, "IPv6") == 0)
			s->ethertype = "IPv6";
		else {
			net_error(r, 400, "SecurityGroupRuleInvalidEtherType",
			          "Security group rule for ethertype '%s' not supported. Allowed "
			          "values are ['IPv4', 'IPv6'].", pystr(r, et));
			return false;
		}
	}
	json_t *pv = json_object_get(obj, "remote_ip_prefix");
	int pver = 0;
	if (pv && !json_is_null(pv)) {
		const char *p = json_string_value(pv);
		if (!p) {
			net_error(r, 400, "InvalidCIDR", "Invalid CIDR %s given as IP prefix.",
			          pystr(r, pv));
			return false;
		}
		if (*p && !(s->prefix = convert_prefix(r, p, &pver)))
			return false;
	}
	json_t *rg = json_object_get(obj, "remote_group_id");
	if (rg && !json_is_null(rg)) {
		if (!json_is_string(rg)) {
			sg_not_found(r, pystr(r, rg));
			return false;
		}
		s->remote_group_id = json_string_value(rg);
	}
	json_t *rag = json_object_get(obj, "remote_address_group_id");
	s->direction = kjson_str(obj, "direction");
	s->sg_id = kjson_str(obj, "security_group_id");
	s->description = kjson_str(obj, "description");
	if (!(s->project_id = net_body_project(r, obj)))
		return false;

	/* _validate_base_security_group_rule_attributes */
	if (s->ethertype && strcmp(s->ethertype, "IPv6") == 0 && s->protocol) {
		if (strcmp(s->protocol, "icmp") == 0 || strcmp(s->protocol, "icmpv6") == 0)
			s->protocol = "ipv6-icmp";
		else if (strcmp(s->protocol, "1") == 0)
			s->protocol = "58";
	}
	if (s->pmin == 1 && s->pmax == 65535)
		s->pmin = s->pmax = -1;
	if (s->pmin >= 0 || s->pmax >= 0) {
		if (!s->protocol) {
			net_error(r, 400, "SecurityGroupProtocolRequiredWithPorts",
			          "Must also specify protocol if port range is given.");
			return false;
		}
		int pn = proto_number(s->protocol);
		if (pn == 33 || pn == 132 || pn == 6 || pn == 17 || pn == 136) {
			if (s->pmin == 0 || s->pmax == 0) {
				net_error(r, 400, "SecurityGroupInvalidPortValue",
				          "Invalid value for port 0");
				return false;
			}
			if (!(s->pmin >= 0 && s->pmax >= 0 && s->pmin <= s->pmax)) {
				net_error(r, 400, "SecurityGroupInvalidPortRange",
				          "For TCP/UDP protocols, port_range_min must be <= "
				          "port_range_max");
				return false;
			}
		} else if (pn == 1 || pn == 58) {
			if (s->pmin > 255) {
				net_error(r, 400, "SecurityGroupInvalidIcmpValue",
				          "Invalid value for ICMP type (port_range_min) %lld. It "
				          "must be 0 to 255.", s->pmin);
				return false;
			}
			if (s->pmax > 255) {
				net_error(r, 400, "SecurityGroupInvalidIcmpValue",
				          "Invalid value for ICMP code (port_range_max) %lld. It "
				          "must be 0 to 255.", s->pmax);
				return false;
			}
			if (s->pmin < 0 && s->pmax >= 0) {
				net_error(r, 400, "SecurityGroupMissingIcmpType",
				          "ICMP code (port-range-max) %lld is provided but ICMP "
				          "type (port-range-min) is missing.", s->pmax);
				return false;
			}
		} else {
			net_error(r, 400, "SecurityGroupInvalidProtocolForPort",
			          "Ports cannot be specified for protocol %d. Ports are only "
			          "supported for DCCP, SCTP, TCP, UDP, UDPLITE.", pn);
			return false;
		}
	}
	if (s->prefix && strcmp(s->ethertype, pver == 6 ? "IPv6" : "IPv4") != 0) {
		net_error(r, 400, "SecurityGroupRuleParameterConflict",
		          "Conflicting value ethertype %s for CIDR %s", s->ethertype,
		          json_string_value(pv));
		return false;
	}
	if (s->protocol && strcmp(s->ethertype, "IPv4") == 0 &&
	    in_list(s->protocol, ipv6_only_protos)) {
		net_error(r, 400, "SecurityGroupEthertypeConflictWithProtocol", "Invalid ethertype "
		          "%s for protocol %s.", s->ethertype, s->protocol);
		return false;
	}
	int remotes = (s->prefix != NULL) + (s->remote_group_id != NULL) +
	              (rag && !json_is_null(rag));
	if (remotes > 1) {
		net_error(r, 400, "SecurityGroupMultipleRemoteEntites", "Only one of "
		          "remote_ip_prefix or remote_group_id or remote_address_group_id may be "
		          "provided.");
		return false;
	}
	if (rag && !json_is_null(rag)) {
		net_error(r, 404, "AddressGroupNotFound", "Address group %s could not be found.",
		          pystr(r, rag));
		return false;
	}
	return true;
}

/* Whether the group exists for `project` (any group for admins). */
static bool group_exists_for(kreq *r, const char *id, const char *project)
{
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT project_id FROM"
	                                           " net_security_group WHERE id = ?", "s", id);
	if (!row)
		return false;
	if (net_is_admin(r))
		return true;
	const char *p = kjson_str(row, "project_id");
	return p && (strcmp(p, project) == 0 || strcmp(p, net_project(r)) == 0);
}

static void rule_not_found(kreq *r, const char *id)
{
	net_error(r, 404, "SecurityGroupRuleNotFound", "Security group rule %s does not exist",
	          id);
}

static void create_rules(kreq *r)
{
	bool bulk = false;
	json_t *objs = net_body(r, "security_group_rule", "security_group_rules", &bulk);
	if (!objs)
		return;
	size_t n = json_array_size(objs);
	rule_spec *specs = kpool_alloc(r->pool, (n ? n : 1) * sizeof(*specs));
	size_t i;
	json_t *obj;
	json_array_foreach(objs, i, obj)
		if (!rule_prepare(r, obj, &specs[i]))
			return;
	/* bulk: one group and one project (_validate_single_project_and_group) */
	for (i = 1; i < n; i++) {
		if (strcmp(specs[i].sg_id, specs[0].sg_id) != 0) {
			net_error(r, 400, "SecurityGroupNotSingleGroupRules", "Only allowed to "
			          "update rules for one security profile at a time");
			return;
		}
		if (strcmp(specs[i].project_id, specs[0].project_id) != 0) {
			net_error(r, 400, "SecurityGroupRulesNotSingleProject",
			          "Multiple project_ids in bulk security group rule create not "
			          "allowed");
			return;
		}
	}
	for (i = 0; i < n; i++) {
		if (specs[i].remote_group_id &&
		    !group_exists_for(r, specs[i].remote_group_id, specs[i].project_id)) {
			sg_not_found(r, specs[i].remote_group_id);
			return;
		}
		if (!group_exists_for(r, specs[i].sg_id, specs[i].project_id)) {
			sg_not_found(r, specs[i].sg_id);
			return;
		}
	}
	bool found;
	_cleanup_json_ json_t *sg = kdb_query_row(net_db, &found, "SELECT project_id FROM"
	                                          " net_security_group WHERE id = ?", "s",
	                                          specs[0].sg_id);
	if (!sg) {
		sg_not_found(r, specs[0].sg_id);
		return;
	}
	json_array_foreach(objs, i, obj) {
		json_t *target = json_deep_copy(obj);
		json_object_set_new(target, "project_id", json_string(specs[i].project_id));
		json_object_set(target, "security_group:project_id",
		                json_object_get(sg, "project_id"));
		json_object_set(target, "security_group:tenant_id",
		                json_object_get(sg, "project_id"));
		bool ok = net_enforce_attrs(r, "create_security_group_rule", obj, target);
		json_decref(target);
		if (!ok)
			return;
	}
	/* duplicates: within the request, then against the group's rules */
	const char **keys = kpool_alloc(r->pool, (n ? n : 1) * sizeof(*keys));
	for (i = 0; i < n; i++) {
		keys[i] = rule_key(r->pool, &specs[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(keys[i], keys[j]) == 0) {
				net_error(r, 409, "DuplicateSecurityGroupRuleInPost",
				          "Duplicate Security Group Rule in POST.");
				return;
			}
	}
	_cleanup_json_ json_t *existing = kdb_query_json(net_db,
		"SELECT id, direction, ethertype, protocol, port_range_min, port_range_max,"
		" remote_ip_prefix, remote_group_id FROM net_security_group_rule"
		" WHERE security_group_id = ?", "s", specs[0].sg_id);
	json_array_foreach(existing, i, obj) {
		rule_spec e = {
			.sg_id = specs[0].sg_id, .direction = kjson_str(obj, "direction"),
			.ethertype = kjson_str(obj, "ethertype"),
			.protocol = kjson_str(obj, "protocol"),
			.pmin = json_port(json_object_get(obj, "port_range_min")),
			.pmax = json_port(json_object_get(obj, "port_range_max")),
			.prefix = kjson_str(obj, "remote_ip_prefix"),
			.remote_group_id = kjson_str(obj, "remote_group_id"),
		};
		if (!e.direction || !e.ethertype)
			continue;
		const char *k = rule_key(r->pool, &e);
		for (size_t j = 0; j < n; j++)
			if (strcmp(k, keys[j]) == 0) {
				net_error(r, 409, "SecurityGroupRuleExists",
				          "Security group rule already exists. Rule id is %s.",
				          kjson_str(obj, "id"));
				return;
			}
	}
	if (!net_quota_check(r, specs[0].project_id, "security_group_rule", (int)n))
		return;
	char (*ids)[37] = kpool_alloc(r->pool, (n ? n : 1) * sizeof(*ids));
	int64_t now = kutil_now_us();
	if (kdb_begin(net_db) != KDB_OK)
		goto fail;
	for (i = 0; i < n; i++) {
		net_new_id(ids[i]);
		specs[i].id = ids[i];
		if (rule_insert(&specs[i], now) != 0) {
			kdb_rollback(net_db);
			goto fail;
		}
	}
	if (net_touch("net_security_group", specs[0].sg_id) != 0) {
		kdb_rollback(net_db);
		goto fail;
	}
	if (kdb_commit(net_db) != KDB_OK)
		goto fail;
	net_notify("security_group", specs[0].sg_id);
	json_t *out = json_array();
	for (i = 0; i < n; i++) {
		json_t *rules = rules_query(r, "WHERE r.id = ?", ids[i]);
		if (rules && json_array_size(rules))
			json_array_append(out, json_array_get(rules, 0));
		json_decref(rules);
	}
	if (bulk) {
		kresp_json(r, 201, json_pack("{s:o}", "security_group_rules", out));
		return;
	}
	json_t *one = json_incref(json_array_get(out, 0));
	json_decref(out);
	net_respond_one(r, 201, "security_group_rule", one);
	return;
fail:
	internal_error(r);
}

/* The view of a rule as r may see it (new reference), or NULL. */
static json_t *rule_lookup(kreq *r, const char *id)
{
	json_t *rules = rules_query(r, "WHERE r.id = ?", id);
	json_t *rule = rules && json_array_size(rules) ? json_incref(json_array_get(rules, 0))
	                                               : NULL;
	json_decref(rules);
	if (!rule)
		return NULL;
	if (net_is_admin(r) || net_visible(r, kjson_str(rule, "project_id"), false))
		return rule;
	_cleanup_json_ json_t *sg = group_row(r, kjson_str(rule, "security_group_id"));
	if (sg)
		return rule;
	json_decref(rule);
	return NULL;
}

/* The policy target of a rule: the rule plus its group's owner
 * ("security_group:tenant_id", Neutron's sg_owner rule).  New reference. */
static json_t *rule_target(const json_t *rule)
{
	json_t *target = json_deep_copy(rule);
	bool found;
	_cleanup_json_ json_t *sg = kdb_query_row(net_db, &found, "SELECT project_id FROM"
	                                          " net_security_group WHERE id = ?", "s",
	                                          kjson_str(rule, "security_group_id"));
	if (sg) {
		json_object_set(target, "security_group:project_id",
		                json_object_get(sg, "project_id"));
		json_object_set(target, "security_group:tenant_id",
		                json_object_get(sg, "project_id"));
	}
	return target;
}

static void list_rules(kreq *r)
{
	net_listq *q = net_listq_parse(r, rule_sort_keys);
	if (!q)
		return;
	const net_filter *f = net_listq_get(q, "project_id");
	if (!f)
		f = net_listq_get(q, "tenant_id");
	const char *project = f && f->nvalues ? f->values[0] : net_project(r);
	if (!net_sg_ensure_default(r, project, NULL))
		return;
	/* a project sees the rules of its groups and those it made in others */
	const char *me = net_project(r);
	json_t *rules = net_is_admin(r)
		? rules_query(r, "", NULL)
		: rules_query2(r, "JOIN net_security_group g ON g.id = r.security_group_id"
		               " WHERE g.project_id = ? OR r.project_id = ?", me, me);
	if (!rules) {
		internal_error(r);
		return;
	}
	net_respond_list(r, "security_group_rules", rules, q);
}

static void show_rule(kreq *r)
{
	const char *id = kreq_param(r, "security_group_rule_id");
	json_t *rule = rule_lookup(r, id);
	if (!rule) {
		rule_not_found(r, id);
		return;
	}
	_cleanup_json_ json_t *target = rule_target(rule);
	if (!net_enforce(r, "get_security_group_rule", target)) {
		json_decref(rule);
		return;
	}
	net_respond_one(r, 200, "security_group_rule", rule);
}

static void delete_rule(kreq *r)
{
	const char *id = kreq_param(r, "security_group_rule_id");
	_cleanup_json_ json_t *rule = rule_lookup(r, id);
	if (!rule) {
		rule_not_found(r, id);
		return;
	}
	json_t *target = rule_target(rule);
	bool ok = net_enforce(r, "delete_security_group_rule", target);
	json_decref(target);
	if (!ok)
		return;
	const char *sg_id = kpool_strdup(r->pool, kjson_str(rule, "security_group_id"));
	if (kdb_begin(net_db) != KDB_OK)
		goto fail;
	if (kdb_run(net_db, NULL, "DELETE FROM net_security_group_rule WHERE id = ?", "s", id) !=
	    KDB_DONE || net_tags_delete("security_group_rules", id) != 0 ||
	    net_touch("net_security_group", sg_id) != 0) {
		kdb_rollback(net_db);
		goto fail;
	}
	if (kdb_commit(net_db) != KDB_OK)
		goto fail;
	net_notify("security_group", sg_id);
	kresp_status(r, 204);
	return;
fail:
	internal_error(r);
}

const kroute net_sg_routes[] = {
	{ "GET", "/v2.0/security-groups", list_groups, 0 },
	{ "POST", "/v2.0/security-groups", create_groups, 0 },
	{ "GET", "/v2.0/security-groups/{security_group_id}", show_group, 0 },
	{ "PUT", "/v2.0/security-groups/{security_group_id}", update_group, 0 },
	{ "DELETE", "/v2.0/security-groups/{security_group_id}", delete_group, 0 },
	{ "GET", "/v2.0/security-group-rules", list_rules, 0 },
	{ "POST", "/v2.0/security-group-rules", create_rules, 0 },
	{ "GET", "/v2.0/security-group-rules/{security_group_rule_id}", show_rule, 0 },
	{ "DELETE", "/v2.0/security-group-rules/{security_group_rule_id}", delete_rule, 0 },
};
const size_t net_sg_nroutes = ARRAY_SIZE(net_sg_routes);
