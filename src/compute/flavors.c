/*
 * flavors.c - Nova's flavor API at 2.1/2.2: /flavors (list, detail, show),
 * flavor management (create, delete: admins), extra specs
 * (/flavors/{id}/os-extra_specs) and flavor access (os-flavor-access and the
 * addTenantAccess / removeTenantAccess actions).
 *
 * Visibility is Nova's: an admin sees every flavor; anyone else sees the
 * public ones and the private ones their project was given access to (a
 * private flavor is a 404 to the others).  Listing follows Nova's filters:
 * for admins is_public=<bool>|none (default: public + accessible), for the
 * others public + accessible and enabled only; minRam, minDisk; sort_key /
 * sort_dir; limit / marker with a "next" link in flavors_links when a page
 * is full.  The flavor table is small, so a page is cut from the sorted
 * result in memory, which keeps marker handling exact for every sort key.
 *
 * Input validation mirrors Nova's JSON schemas (flavor_manage.py,
 * flavors_extraspecs.py, flavor_access.py) with messages in the style of
 * its validator; numeric fields accept integers or digit strings, as Nova.
 * Writes are checked for conflicts before inserting and again through the
 * database's unique constraints, so a race still ends in a 409.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

#define FLV_MAX_INT 2147483647LL
#define FLV_MAX_LIMIT 1000

#define FLV_COLS "id, name, memory_mb, vcpus, root_gb, ephemeral_gb, swap, rxtx_factor, " \
	"is_public, disabled"

/* Nova's policy check for the caller's own project (403 answered). */
static bool allowed(kreq *r, const char *action)
{
	return cmp_enforce(r, action, NULL);
}

static void internal_error(kreq *r)
{
	kresp_error(r, 500, "Unexpected API Error. Please report this at "
	            "http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.");
}

static const char *project_of(kreq *r)
{
	return r && r->ctx && r->ctx->project_id ? r->ctx->project_id : "";
}

/* ---- the view ---- */

static json_t *flavor_links(kreq *r, const char *id)
{
	const char *base = r ? kreq_base_url(r) : "";
	char self[1024], bookmark[1024];
	snprintf(self, sizeof(self), "%s/v2.1/flavors/%s", base, id);
	snprintf(bookmark, sizeof(bookmark), "%s/flavors/%s", base, id);
	return json_pack("[{s:s,s:s},{s:s,s:s}]", "rel", "self", "href", self, "rel", "bookmark",
	                 "href", bookmark);
}

static double real_of(const json_t *v)
{
	return json_is_number(v) ? json_number_value(v) : 0.0;
}

static json_t *flavor_json(kreq *r, const json_t *row, bool detail)
{
	const char *id = kjson_str(row, "id");
	json_t *f = json_pack("{s:s,s:s}", "id", id, "name", kjson_str(row, "name"));
	if (detail) {
		json_int_t swap = json_integer_value(json_object_get(row, "swap"));
		json_object_set_new(f, "ram", json_integer(json_integer_value(
		                    json_object_get(row, "memory_mb"))));
		json_object_set_new(f, "vcpus", json_integer(json_integer_value(
		                    json_object_get(row, "vcpus"))));
		json_object_set_new(f, "disk", json_integer(json_integer_value(
		                    json_object_get(row, "root_gb"))));
		json_object_set_new(f, "OS-FLV-EXT-DATA:ephemeral", json_integer(
		                    json_integer_value(json_object_get(row, "ephemeral_gb"))));
		json_object_set_new(f, "swap", swap ? json_integer(swap) : json_string(""));
		json_object_set_new(f, "rxtx_factor",
		                    json_real(real_of(json_object_get(row, "rxtx_factor"))));
		json_object_set_new(f, "os-flavor-access:is_public", json_boolean(
		                    json_integer_value(json_object_get(row, "is_public"))));
		json_object_set_new(f, "OS-FLV-DISABLED:disabled", json_boolean(
		                    json_integer_value(json_object_get(row, "disabled"))));
	}
	json_object_set_new(f, "links", flavor_links(r, id));
	return f;
}

static json_t *load_row(const char *id)
{
	return kdb_query_row(cmp_db, NULL, "SELECT " FLV_COLS " FROM cmp_flavor WHERE id = ?", "s",
	                     id);
}

static json_t *extra_specs_of(const char *id)
{
	json_t *specs = json_object();
	_cleanup_stmt_ kstmt *st = kdb_prepare(cmp_db, "SELECT spec_key, spec_value FROM "
	                                       "cmp_flavor_extra_spec WHERE flavor_id = ? "
	                                       "ORDER BY spec_key");
	if (!st)
		return specs;
	kstmt_bind_text(st, 1, id);
	while (kstmt_step(st) == KDB_ROW)
		json_object_set_new(specs, kstmt_text(st, 0), json_string(kstmt_text(st, 1)));
	return specs;
}

json_t *cmp_flavor_view(kreq *r, const char *flavor_id, bool extra_specs)
{
	if (!flavor_id)
		return NULL;
	_cleanup_json_ json_t *row = load_row(flavor_id);
	if (!row)
		return NULL;
	json_t *f = flavor_json(r, row, true);
	if (extra_specs)
		json_object_set_new(f, "extra_specs", extra_specs_of(flavor_id));
	return f;
}

static bool has_access(const char *flavor_id, const char *project)
{
	bool found = false;
	_cleanup_json_ _unused_ json_t *row = kdb_query_row(cmp_db, &found, "SELECT flavor_id FROM "
	                                           "cmp_flavor_access WHERE flavor_id = ? AND "
	                                           "project_id = ?", "ss", flavor_id, project);
	return found;
}

static bool row_visible(kreq *r, const json_t *row)
{
	if (json_integer_value(json_object_get(row, "is_public")) || cmp_is_admin(r))
		return true;
	return has_access(kjson_str(row, "id"), project_of(r));
}

bool cmp_flavor_usable(kreq *r, const char *flavor_id)
{
	if (!flavor_id)
		return false;
	_cleanup_json_ json_t *row = load_row(flavor_id);
	return row && row_visible(r, row);
}

/* The flavor row visible to the caller, pool-owned; else 404 answered. */
static json_t *visible_flavor(kreq *r, const char *id)
{
	json_t *row = load_row(id);
	if (row && row_visible(r, row))
		return kpool_json(r->pool, row);
	json_decref(row);
	kresp_error(r, 404, "Flavor %s could not be found.", id);
	return NULL;
}

/* ---- listing ---- */

/* oslo's strict bool_from_string: 1 true, 0 false, -1 neither. */
static int parse_bool_text(const char *s)
{
	static const char *const yes[] = { "1", "t", "true", "on", "y", "yes" };
	static const char *const no[] = { "0", "f", "false", "off", "n", "no" };
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (strlen(yes[i]) == n && strncasecmp(s, yes[i], n) == 0)
			return 1;
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (strlen(no[i]) == n && strncasecmp(s, no[i], n) == 0)
			return 0;
	return -1;
}

static bool parse_int_text(const char *s, long long *out)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (*end || errno)
		return false;
	*out = v;
	return true;
}

static const char *sort_column(const char *key)
{
	static const char *const map[][2] = {
		{ "flavorid", "id" }, { "id", "created_at" }, { "name", "name" },
		{ "memory_mb", "memory_mb" }, { "vcpus", "vcpus" }, { "root_gb", "root_gb" },
		{ "ephemeral_gb", "ephemeral_gb" }, { "swap", "swap" },
		{ "rxtx_factor", "rxtx_factor" }, { "is_public", "is_public" },
		{ "disabled", "disabled" }, { "created_at", "created_at" },
		{ "updated_at", "updated_at" }, { "description", "description" },
		{ "vcpu_weight", "id" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(key, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

static void url_escape(kpool *pool, char **acc, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = kpool_alloc(pool, n * 3 + 1), *p = out;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || strchr("-._~", c)) {
			*p++ = (char)c;
		} else if (c == ' ') {
			*p++ = '+';
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	*acc = kpool_printf(pool, "%s%s", *acc, out);
}

struct next_q {
	kreq *r;
	char *acc;
};

static int add_param(void *ud, const char *key, const char *value)
{
	struct next_q *q = ud;
	if (strcmp(key, "marker") == 0)
		return 0;
	if (*q->acc)
		q->acc = kpool_printf(q->r->pool, "%s&", q->acc);
	url_escape(q->r->pool, &q->acc, key);
	q->acc = kpool_printf(q->r->pool, "%s=", q->acc);
	url_escape(q->r->pool, &q->acc, value ? value : "");
	return 0;
}

static json_t *next_link(kreq *r, const char *coll, const char *last_id)
{
	struct next_q q = { r, "" };
	kreq_query_each(r, add_param, &q);
	if (*q.acc)
		q.acc = kpool_printf(r->pool, "%s&", q.acc);
	q.acc = kpool_printf(r->pool, "%smarker=", q.acc);
	url_escape(r->pool, &q.acc, last_id);
	return json_pack("[{s:s,s:s}]", "rel", "next", "href",
	                 kpool_printf(r->pool, "%s/v2.1/%s?%s", kreq_base_url(r), coll, q.acc));
}

/* Nova's common.get_limit_and_marker(): 0 when ok (limit -1 = none). */
static int limit_marker(kreq *r, long long *limit, const char **marker)
{
	const char *l = kreq_query(r, "limit");
	*limit = -1;
	*marker = kreq_query(r, "marker");
	if (l) {
		if (!parse_int_text(l, limit)) {
			kresp_error(r, 400, "limit param must be an integer");
			return -1;
		}
		if (*limit < 0) {
			kresp_error(r, 400, "limit param must be positive");
			return -1;
		}
		if (*limit > FLV_MAX_LIMIT)
			*limit = FLV_MAX_LIMIT;
	}
	return 0;
}

static void list_flavors(kreq *r, bool detail)
{
	bool admin = cmp_is_admin(r);
	long long pub_mode = 1, only_enabled = admin ? 0 : 1, min_ram = 0, min_disk = 0;
	const char *v;

	if (admin && (v = kreq_query(r, "is_public"))) {
		if (strcasecmp(v, "none") == 0) {
			pub_mode = 0;
		} else {
			int b = parse_bool_text(v);
			if (b < 0) {
				kresp_error(r, 400, "Invalid is_public filter [%s]", v);
				return;
			}
			pub_mode = b ? 1 : 2;
		}
	}
	if ((v = kreq_query(r, "minRam")) && !parse_int_text(v, &min_ram)) {
		kresp_error(r, 400, "Invalid minRam filter [%s]", v);
		return;
	}
	if ((v = kreq_query(r, "minDisk")) && !parse_int_text(v, &min_disk)) {
		kresp_error(r, 400, "Invalid minDisk filter [%s]", v);
		return;
	}
	const char *key = kreq_query(r, "sort_key");
	const char *dir = kreq_query(r, "sort_dir");
	if (!key || !*key)
		key = "flavorid";
	if (!dir || !*dir)
		dir = "asc";
	const char *col = sort_column(key);
	if (!col) {
		kresp_error(r, 400, "Invalid input for query parameters sort_key. Value: %s. "
		            "'%s' is not one of the allowed sort keys", key, key);
		return;
	}
	if (strcmp(dir, "asc") != 0 && strcmp(dir, "desc") != 0) {
		kresp_error(r, 400, "Invalid input for query parameters sort_dir. Value: %s. "
		            "'%s' is not one of ['asc', 'desc']", dir, dir);
		return;
	}
	long long limit;
	const char *marker;
	if (limit_marker(r, &limit, &marker) != 0)
		return;

	/* column names come from the whitelist above; values are bound */
	char sql[1024];
	snprintf(sql, sizeof(sql), "SELECT " FLV_COLS " FROM cmp_flavor WHERE "
	         "(? = 0 OR (? = 1 AND (is_public = 1 OR id IN (SELECT flavor_id FROM "
	         "cmp_flavor_access WHERE project_id = ?))) OR (? = 2 AND is_public = 0)) "
	         "AND (? = 0 OR disabled = 0) AND memory_mb >= ? AND root_gb >= ? "
	         "ORDER BY %s %s, id %s", col, dir, dir);
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, sql, "iisiiii", (int64_t)pub_mode,
	                                             (int64_t)pub_mode, project_of(r),
	                                             (int64_t)pub_mode, (int64_t)only_enabled,
	                                             (int64_t)min_ram, (int64_t)min_disk);
	if (!rows) {
		internal_error(r);
		return;
	}
	size_t start = 0, n = json_array_size(rows);
	if (marker) {
		size_t i;
		for (i = 0; i < n; i++)
			if (strcmp(kjson_str(json_array_get(rows, i), "id"), marker) == 0)
				break;
		if (i == n) {
			kresp_error(r, 400, "marker [%s] not found", marker);
			return;
		}
		start = i + 1;
	}
	long long max = limit < 0 ? FLV_MAX_LIMIT : limit;
	json_t *out = json_array();
	for (size_t i = start; i < n && (long long)json_array_size(out) < max; i++)
		json_array_append_new(out, flavor_json(r, json_array_get(rows, i), detail));
	json_t *body = json_pack("{s:o}", "flavors", out);
	size_t got = json_array_size(out);
	if (got && (long long)got == max) {
		json_t *last = json_array_get(out, got - 1);
		json_object_set_new(body, "flavors_links",
		                    next_link(r, detail ? "flavors/detail" : "flavors",
		                              kjson_str(last, "id")));
	}
	kresp_json(r, 200, body);
}

static void h_index(kreq *r)
{
	list_flavors(r, false);
}

static void h_detail(kreq *r)
{
	list_flavors(r, true);
}

static void h_show(kreq *r)
{
	json_t *row = visible_flavor(r, kreq_param(r, "flavor_id"));
	if (row)
		kresp_json(r, 200, json_pack("{s:o}", "flavor", flavor_json(r, row, true)));
}

/* ---- create / delete ---- */

static void invalid(kreq *r, const char *field, const json_t *v, const char *why)
{
	_cleanup_free_ char *dump = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
	kresp_error(r, 400, "Invalid input for field/attribute %s. Value: %s. %s", field,
	            dump ? dump : "None", why);
}

/* parameter_types.flavor_param_positive / _non_negative: an integer or a
 * digit string in [min, 2^31-1]; absent -> def.  false after answering. */
static bool int_param(kreq *r, const json_t *obj, const char *key, long long min,
                      long long def, bool required, long long *out)
{
	json_t *v = json_object_get(obj, key);
	*out = def;
	if (!v) {
		if (required) {
			kresp_error(r, 400, "Invalid input for field/attribute flavor. Value: %s. "
			            "'%s' is a required property", "{...}", key);
			return false;
		}
		return true;
	}
	long long n;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);
		if (strspn(s, "0123456789") != strlen(s)) {
			invalid(r, key, v, "does not match '^[0-9]*$'");
			return false;
		}
		if (!*s || !parse_int_text(s, &n) || n > FLV_MAX_INT) {
			kresp_error(r, 400, "Invalid input for %s. Reason: %s must be an integer "
			            "and less than or equal to %lld.", key, key, FLV_MAX_INT);
			return false;
		}
	} else {
		invalid(r, key, v, "is not of type 'integer', 'string'");
		return false;
	}
	if (n < min) {
		invalid(r, key, v, kpool_printf(r->pool, "%lld is less than the minimum of %lld",
		                                n, min));
		return false;
	}
	if (n > FLV_MAX_INT) {
		invalid(r, key, v, "is greater than the maximum of 2147483647");
		return false;
	}
	*out = n;
	return true;
}

/* parameter_types.boolean: true/false or their usual spellings. */
static int bool_param(const json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (!json_is_string(v))
		return -1;
	static const char *const yes[] = { "True", "TRUE", "true", "1", "ON", "On", "on", "YES",
	                                   "Yes", "yes" };
	static const char *const no[] = { "False", "FALSE", "false", "0", "OFF", "Off", "off",
	                                  "NO", "No", "no" };
	const char *s = json_string_value(v);
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (strcmp(s, yes[i]) == 0)
			return 1;
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (strcmp(s, no[i]) == 0)
			return 0;
	return -1;
}

static bool printable_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static bool valid_flavor_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 255 || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(". _-", *s))
			return false;
	return true;
}

static void h_create(kreq *r)
{
	if (!allowed(r, "os_compute_api:os-flavor-manage:create"))
		return;
	json_t *body = kreq_json(r);
	if (!body)
		return;
	json_t *f = json_object_get(body, "flavor");
	if (!json_is_object(f)) {
		invalid(r, "flavor", f, f ? "is not of type 'object'" :
		        "'flavor' is a required property");
		return;
	}
	const char *key;
	json_t *v;
	static const char *const known[] = { "name", "id", "ram", "vcpus", "disk",
	                                     "OS-FLV-EXT-DATA:ephemeral", "swap", "rxtx_factor",
	                                     "os-flavor-access:is_public" };
	json_object_foreach(f, key, v) {
		bool ok = false;
		for (size_t i = 0; i < ARRAY_SIZE(known); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok) {
			kresp_error(r, 400, "Invalid input for field/attribute flavor. Value: "
			            "{...}. Additional properties are not allowed ('%s' was "
			            "unexpected)", key);
			return;
		}
	}
	json_t *jn = json_object_get(f, "name");
	if (!jn) {
		kresp_error(r, 400, "Invalid input for field/attribute flavor. Value: {...}. "
		            "'name' is a required property");
		return;
	}
	if (!json_is_string(jn)) {
		invalid(r, "name", jn, "is not of type 'string'");
		return;
	}
	const char *name = json_string_value(jn);
	if (strlen(name) > 255) {
		invalid(r, "name", jn, "is too long");
		return;
	}
	if (!printable_name(name)) {
		invalid(r, "name", jn, "An invalid 'name' value was provided. The name must be: "
		        "printable characters. Can not start or end with whitespace.");
		return;
	}
	char idbuf[37];
	const char *id = NULL;
	json_t *jid = json_object_get(f, "id");
	if (jid && !json_is_null(jid)) {
		if (!json_is_string(jid)) {
			invalid(r, "id", jid, "is not of type 'string', 'null'");
			return;
		}
		id = json_string_value(jid);
		if (!valid_flavor_id(id)) {
			invalid(r, "id", jid, "does not match '^(?! )[a-zA-Z0-9. _-]+(?<! )$'");
			return;
		}
	} else {
		kutil_uuid(idbuf);
		id = idbuf;
	}
	long long ram, vcpus, disk, eph, swap;
	if (!int_param(r, f, "ram", 1, 0, true, &ram) ||
	    !int_param(r, f, "vcpus", 1, 0, true, &vcpus) ||
	    !int_param(r, f, "disk", 0, 0, true, &disk) ||
	    !int_param(r, f, "OS-FLV-EXT-DATA:ephemeral", 0, 0, false, &eph) ||
	    !int_param(r, f, "swap", 0, 0, false, &swap))
		return;
	double rxtx = 1.0;
	json_t *jr = json_object_get(f, "rxtx_factor");
	if (jr) {
		if (json_is_number(jr)) {
			rxtx = json_number_value(jr);
		} else if (json_is_string(jr)) {
			const char *s = json_string_value(jr);
			char *end;
			size_t d = strspn(s, "0123456789");
			if (!d || (s[d] && (s[d] != '.' || !isdigit((unsigned char)s[d + 1]) ||
			                    s[d + 1 + strspn(s + d + 1, "0123456789")]))) {
				invalid(r, "rxtx_factor", jr,
				        "does not match '^[0-9]+(\\.[0-9]+)?$'");
				return;
			}
			rxtx = strtod(s, &end);
		} else {
			invalid(r, "rxtx_factor", jr, "is not of type 'number', 'string'");
			return;
		}
		if (!(rxtx > 0) || rxtx > 3.40282e38 || isnan(rxtx)) {
			invalid(r, "rxtx_factor", jr, rxtx > 0 ?
			        "is greater than the maximum of 3.40282e+38" :
			        "is less than or equal to the minimum of 0");
			return;
		}
	}
	int is_public = 1;
	json_t *jp = json_object_get(f, "os-flavor-access:is_public");
	if (jp && (is_public = bool_param(jp)) < 0) {
		invalid(r, "os-flavor-access:is_public", jp, "is not one of [True, 'True', 'TRUE', "
		        "'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', False, 'False', "
		        "'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no']");
		return;
	}
	bool found = false;
	_cleanup_json_ _unused_ json_t *dup =
		kdb_query_row(cmp_db, &found, "SELECT id FROM cmp_flavor WHERE name = ?", "s",
		              name);
	if (found) {
		kresp_error(r, 409, "Flavor with name %s already exists.", name);
		return;
	}
	_cleanup_json_ _unused_ json_t *dup2 =
		kdb_query_row(cmp_db, &found, "SELECT id FROM cmp_flavor WHERE id = ?", "s", id);
	if (found) {
		kresp_error(r, 409, "Flavor with ID %s already exists.", id);
		return;
	}
	int64_t now = kutil_now_us();
	int rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_flavor (id, name, memory_mb, vcpus, "
	                 "root_gb, ephemeral_gb, swap, rxtx_factor, is_public, disabled, "
	                 "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
	                 "ssiiiiidbii", id, name, (int64_t)ram, (int64_t)vcpus, (int64_t)disk,
	                 (int64_t)eph, (int64_t)swap, rxtx, is_public != 0, now, now);
	if (rc == KDB_CONSTRAINT) {
		_cleanup_json_ _unused_ json_t *again = kdb_query_row(
			cmp_db, &found, "SELECT id FROM cmp_flavor WHERE name = ?", "s", name);
		if (found)
			kresp_error(r, 409, "Flavor with name %s already exists.", name);
		else
			kresp_error(r, 409, "Flavor with ID %s already exists.", id);
		return;
	}
	if (rc != KDB_DONE) {
		internal_error(r);
		return;
	}
	json_t *view = cmp_flavor_view(r, id, false);
	if (!view) {
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "flavor", view));
}

static void h_delete(kreq *r)
{
	if (!allowed(r, "os_compute_api:os-flavor-manage:delete"))
		return;
	const char *id = kreq_param(r, "flavor_id");
	if (kdb_begin(cmp_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	int64_t n = 0;
	int rc = kdb_run(cmp_db, &n, "DELETE FROM cmp_flavor WHERE id = ?", "s", id);
	if (rc == KDB_DONE && n)
		rc = kdb_run(cmp_db, NULL, "DELETE FROM cmp_flavor_extra_spec WHERE flavor_id = ?",
		             "s", id);
	if (rc == KDB_DONE && n)
		rc = kdb_run(cmp_db, NULL, "DELETE FROM cmp_flavor_access WHERE flavor_id = ?", "s",
		             id);
	if (rc != KDB_DONE) {
		kdb_rollback(cmp_db);
		internal_error(r);
		return;
	}
	if (kdb_commit(cmp_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	if (!n) {
		kresp_error(r, 404, "Flavor %s could not be found.", id);
		return;
	}
	kresp_status(r, 202);
}

/* ---- extra specs ---- */

static bool valid_spec_key(const char *k)
{
	size_t n = strlen(k);
	if (n < 1 || n > 255)
		return false;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && !strchr("-_:. ", *k))
			return false;
	return true;
}

/* Python's str() of a spec value; NULL (answered 400) when not allowed. */
static const char *spec_value(kreq *r, const char *key, const json_t *v)
{
	const char *s;
	if (json_is_string(v))
		s = json_string_value(v);
	else if (json_is_integer(v))
		s = kpool_printf(r->pool, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		s = kpool_printf(r->pool, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		s = json_is_true(v) ? "True" : "False";
	else {
		invalid(r, key, v, "is not of type 'string', 'number', 'boolean'");
		return NULL;
	}
	if (json_is_real(v)) {
		/* shortest repr that reads back the same, as Python prints floats */
		for (int prec = 1; prec <= 17; prec++) {
			char buf[64];
			snprintf(buf, sizeof(buf), "%.*g", prec, json_real_value(v));
			if (strtod(buf, NULL) == json_real_value(v)) {
				s = strchr(buf, '.') || strchr(buf, 'e') || strchr(buf, 'n') ||
				    strchr(buf, 'i') ? kpool_strdup(r->pool, buf) :
				    kpool_printf(r->pool, "%s.0", buf);
				break;
			}
		}
	}
	if (strlen(s) > 255) {
		invalid(r, key, v, "is too long");
		return NULL;
	}
	return s;
}

/* Validate an {key: value} map; answers 400 and returns false when bad. */
static bool check_specs(kreq *r, const json_t *specs)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)specs, k, v) {
		if (!valid_spec_key(k)) {
			kresp_error(r, 400, "Invalid input for field/attribute extra_specs. Value: "
			            "{...}. Additional properties are not allowed ('%s' was "
			            "unexpected)", k);
			return false;
		}
		if (!spec_value(r, k, v))
			return false;
	}
	return true;
}

static int put_spec(const char *id, const char *k, const char *v)
{
	int rc = kdb_run(cmp_db, NULL, "DELETE FROM cmp_flavor_extra_spec WHERE flavor_id = ? "
	                 "AND spec_key = ?", "ss", id, k);
	if (rc == KDB_DONE)
		rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_flavor_extra_spec (flavor_id, "
		             "spec_key, spec_value) VALUES (?, ?, ?)", "sss", id, k, v);
	return rc;
}

static void h_specs_index(kreq *r)
{
	const char *id = kreq_param(r, "flavor_id");
	if (!visible_flavor(r, id))
		return;
	kresp_json(r, 200, json_pack("{s:o}", "extra_specs", extra_specs_of(id)));
}

static void h_specs_create(kreq *r)
{
	if (!allowed(r, "os_compute_api:os-flavor-extra-specs:create"))
		return;
	const char *id = kreq_param(r, "flavor_id");
	json_t *body = kreq_json(r);
	if (!body)
		return;
	json_t *specs = json_object_get(body, "extra_specs");
	if (!json_is_object(specs) || json_object_size(body) != 1) {
		invalid(r, "extra_specs", specs, specs ? "is not of type 'object'" :
		        "'extra_specs' is a required property");
		return;
	}
	if (!check_specs(r, specs) || !visible_flavor(r, id))
		return;
	if (kdb_begin(cmp_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	json_t *out = json_object();
	const char *k;
	json_t *v;
	json_object_foreach(specs, k, v) {
		const char *s = spec_value(r, k, v);
		json_object_set_new(out, k, json_string(s));
		if (put_spec(id, k, s) != KDB_DONE) {
			kdb_rollback(cmp_db);
			json_decref(out);
			internal_error(r);
			return;
		}
	}
	if (kdb_commit(cmp_db) != KDB_OK) {
		json_decref(out);
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "extra_specs", out));
}

static void h_spec_update(kreq *r)
{
	if (!allowed(r, "os_compute_api:os-flavor-extra-specs:update"))
		return;
	const char *id = kreq_param(r, "flavor_id"), *key = kreq_param(r, "key");
	json_t *body = kreq_json(r);
	if (!body)
		return;
	if (json_object_size(body) != 1) {
		kresp_error(r, 400, json_object_size(body) ?
		            "Request body contains too many items" :
		            "Invalid input for field/attribute body. Value: {}. {} does not have "
		            "enough properties");
		return;
	}
	if (!check_specs(r, body))
		return;
	json_t *v = json_object_get(body, key);
	if (!v) {
		kresp_error(r, 400, "Request body and URI mismatch");
		return;
	}
	if (!visible_flavor(r, id))
		return;
	const char *s = spec_value(r, key, v);
	if (put_spec(id, key, s) != KDB_DONE) {
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:s}", key, s));
}

static void h_spec_show(kreq *r)
{
	const char *id = kreq_param(r, "flavor_id"), *key = kreq_param(r, "key");
	if (!visible_flavor(r, id))
		return;
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT spec_value FROM "
	                                           "cmp_flavor_extra_spec WHERE flavor_id = ? "
	                                           "AND spec_key = ?", "ss", id, key);
	if (!row) {
		kresp_error(r, 404, "Flavor %s has no extra specs with key %s.", id, key);
		return;
	}
	kresp_json(r, 200, json_pack("{s:s}", key, kjson_str(row, "spec_value")));
}

static void h_spec_delete(kreq *r)
{
	if (!allowed(r, "os_compute_api:os-flavor-extra-specs:delete"))
		return;
	const char *id = kreq_param(r, "flavor_id"), *key = kreq_param(r, "key");
	if (!visible_flavor(r, id))
		return;
	int64_t n = 0;
	if (kdb_run(cmp_db, &n, "DELETE FROM cmp_flavor_extra_spec WHERE flavor_id = ? AND "
	            "spec_key = ?", "ss", id, key) != KDB_DONE) {
		internal_error(r);
		return;
	}
	if (!n) {
		kresp_error(r, 404, "Flavor %s has no extra specs with key %s.", id, key);
		return;
	}
	kresp_status(r, 200);
}

/* ---- flavor access ---- */

static json_t *access_list(const char *id)
{
	json_t *out = json_array();
	_cleanup_stmt_ kstmt *st = kdb_prepare(cmp_db, "SELECT project_id FROM cmp_flavor_access "
	                                       "WHERE flavor_id = ? ORDER BY project_id");
	if (!st)
		return out;
	kstmt_bind_text(st, 1, id);
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(out, json_pack("{s:s,s:s}", "flavor_id", id, "tenant_id",
		                                     kstmt_text(st, 0)));
	return out;
}

static void h_access_index(kreq *r)
{
	if (!allowed(r, "os_compute_api:os-flavor-access"))
		return;
	const char *id = kreq_param(r, "flavor_id");
	json_t *row = visible_flavor(r, id);
	if (!row)
		return;
	if (json_integer_value(json_object_get(row, "is_public"))) {
		kresp_error(r, 404, "Access list not available for public flavors.");
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "flavor_access", access_list(id)));
}

static const char *tenant_arg(kreq *r, const char *action, const json_t *args)
{
	if (!json_is_object(args)) {
		invalid(r, action, args, "is not of type 'object'");
		return NULL;
	}
	json_t *t = json_object_get(args, "tenant");
	if (!t) {
		kresp_error(r, 400, "Invalid input for field/attribute %s. Value: {...}. 'tenant' "
		            "is a required property", action);
		return NULL;
	}
	if (!json_is_string(t) || json_string_length(t) < 1 || json_string_length(t) > 255) {
		invalid(r, "tenant", t, json_is_string(t) ? "is not a valid project id" :
		        "is not of type 'string'");
		return NULL;
	}
	return json_string_value(t);
}

static void add_access(kreq *r, const char *id, const json_t *args)
{
	if (!allowed(r, "os_compute_api:os-flavor-access:add_tenant_access"))
		return;
	const char *tenant = tenant_arg(r, "addTenantAccess", args);
	if (!tenant)
		return;
	json_t *row = visible_flavor(r, id);
	if (!row)
		return;
	if (json_integer_value(json_object_get(row, "is_public"))) {
		kresp_error(r, 409, "Can not add access to a public flavor.");
		return;
	}
	int rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_flavor_access (flavor_id, project_id) "
	                 "VALUES (?, ?)", "ss", id, tenant);
	if (rc == KDB_CONSTRAINT) {
		kresp_error(r, 409, "Flavor access already exists for flavor %s and project %s "
		            "combination.", id, tenant);
		return;
	}
	if (rc != KDB_DONE) {
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "flavor_access", access_list(id)));
}

static void remove_access(kreq *r, const char *id, const json_t *args)
{
	if (!allowed(r, "os_compute_api:os-flavor-access:remove_tenant_access"))
		return;
	const char *tenant = tenant_arg(r, "removeTenantAccess", args);
	if (!tenant || !visible_flavor(r, id))
		return;
	int64_t n = 0;
	if (kdb_run(cmp_db, &n, "DELETE FROM cmp_flavor_access WHERE flavor_id = ? AND "
	            "project_id = ?", "ss", id, tenant) != KDB_DONE) {
		internal_error(r);
		return;
	}
	if (!n) {
		kresp_error(r, 404, "Flavor access not found for %s / %s combination.", id, tenant);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "flavor_access", access_list(id)));
}

static void h_action(kreq *r)
{
	const char *id = kreq_param(r, "flavor_id");
	json_t *body = kreq_json(r);
	if (!body)
		return;
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "addTenantAccess") == 0) {
			add_access(r, id, v);
			return;
		}
		if (strcmp(key, "removeTenantAccess") == 0) {
			remove_access(r, id, v);
			return;
		}
		kresp_error(r, 400, "There is no such action: %s", key);
		return;
	}
	kresp_error(r, 400, "Malformed request body");
}

const kroute cmp_flavor_routes[] = {
	{ "GET", "/v2.1/flavors", h_index, 0 },
	{ "GET", "/v2.1/flavors/detail", h_detail, 0 },
	{ "POST", "/v2.1/flavors", h_create, 0 },
	{ "GET", "/v2.1/flavors/{flavor_id}", h_show, 0 },
	{ "DELETE", "/v2.1/flavors/{flavor_id}", h_delete, 0 },
	{ "POST", "/v2.1/flavors/{flavor_id}/action", h_action, 0 },
	{ "GET", "/v2.1/flavors/{flavor_id}/os-extra_specs", h_specs_index, 0 },
	{ "POST", "/v2.1/flavors/{flavor_id}/os-extra_specs", h_specs_create, 0 },
	{ "GET", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", h_spec_show, 0 },
	{ "PUT", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", h_spec_update, 0 },
	{ "DELETE", "/v2.1/flavors/{flavor_id}/os-extra_specs/{key}", h_spec_delete, 0 },
	{ "GET", "/v2.1/flavors/{flavor_id}/os-flavor-access", h_access_index, 0 },
};
const size_t cmp_flavor_nroutes = ARRAY_SIZE(cmp_flavor_routes);
