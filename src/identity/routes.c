/*
 * routes.c - the route table of the identity REST resources, and the small
 * request helpers they share (body validation, errors, query building).
 *
 * service.c concatenates id_resource_routes with the /v3/auth routes.  The
 * grant routes (role assignments on projects, domains, the system, and the
 * OS-INHERIT variants) all share three handlers: the handler reads which
 * actor and target the matched pattern names (kreq_param) instead of having
 * one function per combination.
 *
 * Validation mirrors Keystone's JSON schemas (keystone/<module>/schema.py): each
 * resource lists its fields with a type; unknown members are refused where
 * Keystone's schema says additionalProperties: false and kept as "extra"
 * attributes where it allows them.  Types are strict: a boolean is a JSON
 * boolean ("enabled": "yes" is a 400, as Keystone's "type": "boolean"), ids
 * match [a-zA-Z0-9-]{1,64}, resource options come from Keystone's option
 * registries.  Error texts follow Keystone's validator: "Invalid input for
 * field/attribute <field>. Value: <value>. <reason>", except that the value
 * of a secret field (password, secret, blob) is never quoted, and malformed
 * JSON is reported without quoting the body.
 *
 * Lists take Keystone's inexact filters on names (name__contains,
 * __icontains, __startswith, __istartswith, __endswith, __iendswith),
 * applied to the rows the SQL selected (id_inexact_*).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "resource.h"

/* ------------------------------------------------------------------ */
/* errors */

void id_not_found(kreq *r, const char *what, const char *id)
{
	kresp_error(r, 404, "Could not find %s: %s.", what, id ? id : "");
}

void id_conflict(kreq *r, const char *type, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *details = kpool_vprintf(r->pool, fmt, ap);
	va_end(ap);
	kresp_error(r, 409, "Conflict occurred attempting to store %s - %s.", type, details);
}

void id_bad_request(kreq *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = kpool_vprintf(r->pool, fmt, ap);
	va_end(ap);
	kresp_error(r, 400, "%s", msg);
}

void id_internal(kreq *r)
{
	kresp_error(r, 500, "An unexpected error prevented the server from fulfilling your "
		    "request.");
}

const char *id_default_domain(kreq *r)
{
	return r->ctx && r->ctx->domain_id ? r->ctx->domain_id : ID_DEFAULT_DOMAIN;
}

const char *id_scope_domain(kreq *r)
{
	return r->ctx && !r->ctx->is_admin_token ? r->ctx->domain_id : NULL;
}

bool id_immutable_update_refused(kreq *r, const json_t *cur, const json_t *body,
				 const char *type)
{
	if (!idstore_immutable(cur))
		return false;
	json_t *opts = json_object_get(body, "options");
	json_t *imm = json_object_get(opts, "immutable");
	if (json_object_size(body) == 1 && imm && (json_is_false(imm) || json_is_null(imm)))
		return false;
	kresp_error(r, 403, "Unable to update immutable %s resource: `%s. Set resource option "
		    "\"immutable\" to false first.", type, kjson_str(cur, "id"));
	return true;
}

bool id_immutable_delete_refused(kreq *r, const json_t *cur, const char *type)
{
	if (!idstore_immutable(cur))
		return false;
	kresp_error(r, 403, "Unable to delete immutable %s resource: `%s. Set resource option "
		    "\"immutable\" to false first.", type, kjson_str(cur, "id"));
	return true;
}

bool id_is_head(kreq *r)
{
	return r->method && strcmp(r->method, "HEAD") == 0;
}

static bool secret_field(const char *field);

/* A copy of v with the values of secret members, at any depth, replaced. */
static json_t *masked(const json_t *v)
{
	json_t *c = json_deep_copy(v);
	const char *k;
	json_t *x;
	size_t i;
	if (json_is_object(c)) {
		json_object_foreach(c, k, x) {
			if (secret_field(k))
				json_object_set_new(c, k, json_string("***"));
			else if (json_is_object(x) || json_is_array(x))
				json_object_set_new(c, k, masked(x));
		}
	} else if (json_is_array(c)) {
		json_array_foreach(c, i, x) {
			if (json_is_object(x) || json_is_array(x))
				json_array_set_new(c, i, masked(x));
		}
	}
	return c;
}

/* Python-ish repr of a value for messages, bounded in size; secret members
 * of objects are masked. */
static const char *repr(kreq *r, const json_t *v)
{
	char *s;
	if (json_is_string(v))
		s = kpool_printf(r->pool, "'%s'", json_string_value(v));
	else {
		_cleanup_json_ json_t *m = masked(v);
		_cleanup_free_ char *d = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
		if (json_is_true(v))
			s = kpool_strdup(r->pool, "True");
		else if (json_is_false(v))
			s = kpool_strdup(r->pool, "False");
		else if (json_is_null(v))
			s = kpool_strdup(r->pool, "None");
		else
			s = kpool_strdup(r->pool, d ? d : "?");
	}
	if (strlen(s) > 80) {
		s[76] = '\0';
		s = kpool_printf(r->pool, "%s...", s);
	}
	return s;
}

/* Fields whose values are secrets: never shown back in an error. */
static bool secret_field(const char *field)
{
	static const char *const secret[] = { "password", "original_password", "secret", "blob",
					      NULL };
	for (size_t i = 0; secret[i]; i++)
		if (strcmp(field, secret[i]) == 0)
			return true;
	return false;
}

/* The repr of a field's value, or "***" for a secret field. */
static const char *shown(kreq *r, const char *field, const json_t *v)
{
	return secret_field(field) ? "***" : repr(r, v);
}

static void field_error(kreq *r, const char *field, const json_t *value, const char *reason)
{
	kresp_error(r, 400, "Invalid input for field/attribute %s. Value: %s. %s", field,
		    shown(r, field, value), reason);
}

void id_field_error(kreq *r, const char *field, const json_t *value, const char *reason)
{
	field_error(r, field, value, reason);
}

/* ------------------------------------------------------------------ */
/* body validation */

/* Is the Content-Type's media type application/json (or some
 * application/...+json), parameters allowed? */
static bool json_ctype(const char *ct)
{
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, "; \t");
	return n == 0 || (n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	       (n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
		strncasecmp(ct + n - 5, "+json", 5) == 0);
}

json_t *id_json_body(kreq *r)
{
	/* kreq_json's message for malformed JSON quotes the text near the error,
	 * which may be a password or a token: parse first and answer without
	 * quoting (Keystone's message); the rest (empty body, depth) is
	 * kreq_json's.  Another Content-Type than JSON is a 400, as in
	 * Keystone. */
	const char *ct = kreq_header(r, "Content-Type");
	if (r->body && r->body_len > 0 && ct && *ct && !json_ctype(ct)) {
		id_bad_request(r, "Expecting to find application/json in Content-Type header "
			       "- the server could not comply with the request since it is "
			       "either malformed or otherwise incorrect. The client is assumed "
			       "to be in error.");
		return NULL;
	}
	if (r->body && r->body_len > 0) {
		json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
		if (!j) {
			id_bad_request(r, "Expecting to find valid JSON in request body. The "
				       "server could not comply with the request since it is "
				       "either malformed or otherwise incorrect. The client is "
				       "assumed to be in error.");
			return NULL;
		}
		json_decref(j);
	}
	return kreq_json(r);
}

json_t *id_body_member(kreq *r, const char *key)
{
	json_t *body = id_json_body(r);
	if (!body)
		return NULL;
	json_t *m = json_object_get(body, key);
	if (!m) {
		id_bad_request(r, "'%s' is a required property", key);
		return NULL;
	}
	if (!json_is_object(m)) {
		field_error(r, key, m, kpool_printf(r->pool, "%s is not of type 'object'",
						    repr(r, m)));
		return NULL;
	}
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v) {
		if (strcmp(k, key) != 0) {
			id_bad_request(r, "Additional properties are not allowed ('%s' was "
					"unexpected)", k);
			return NULL;
		}
	}
	return m;
}

bool id_bool_value(const json_t *v, bool def)
{
	return json_is_boolean(v) ? json_is_true(v) : def;
}

bool id_query_true(const char *v)
{
	if (!v)
		return false;
	static const char *const no[] = { "0", "false", "no", "off", "n", "f" };
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (strcasecmp(v, no[i]) == 0)
			return false;
	return true;
}

bool id_query_flag(kreq *r, const char *name)
{
	const char *v = kreq_query(r, name);
	return v && id_query_true(v);
}

bool id_match_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-')
			return false;
	return true;
}

static bool has_nonspace(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char)*s))
			return true;
	return false;
}

static bool match_url(const char *s)
{
	const char *c = strchr(s, ':');
	if (!c || c == s || !c[1])
		return false;
	for (const char *p = s; p < c; p++)
		if (!isalnum((unsigned char)*p) && !strchr("+.-", *p))
			return false;
	return true;
}

size_t id_utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* "<value> is not of type '<type>'" for field f. */
static bool wrong_type(kreq *r, const char *field, const json_t *v, const char *type)
{
	field_error(r, field, v, kpool_printf(r->pool, "%s is not of type '%s'",
					      shown(r, field, v), type));
	return false;
}

static bool check_string(kreq *r, const id_field *f, const json_t *v)
{
	if (!json_is_string(v))
		return wrong_type(r, f->name, v, "string");
	const char *s = json_string_value(v);
	size_t n = id_utf8_len(s);
	const char *sv = shown(r, f->name, v);
	if (f->minlen && n < (size_t)f->minlen) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is too short", sv));
		return false;
	}
	if (f->maxlen && n > (size_t)f->maxlen) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is too long", sv));
		return false;
	}
	if (f->nonblank && !has_nonspace(s)) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s does not match '[\\S]+'",
							sv));
		return false;
	}
	return true;
}

static bool check_tags(kreq *r, const id_field *f, const json_t *v)
{
	if (!json_is_array(v))
		return wrong_type(r, f->name, v, "array");
	if (json_array_size(v) > 80) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is too long", repr(r, v)));
		return false;
	}
	size_t i, j;
	json_t *t, *u;
	json_array_foreach(v, i, t) {
		const char *s = json_string_value(t);
		if (!s)
			return wrong_type(r, f->name, t, "string");
		size_t n = id_utf8_len(s);
		if (n < 1 || n > 255 || strpbrk(s, ",/")) {
			field_error(r, f->name, t, kpool_printf(r->pool,
				    "%s does not match '^[^,/]*$' or has a bad length",
				    repr(r, t)));
			return false;
		}
		for (j = 0; j < i; j++) {
			u = json_array_get(v, j);
			if (strcmp(json_string_value(u), s) == 0) {
				field_error(r, f->name, v, kpool_printf(r->pool,
					    "%s has non-unique elements", repr(r, v)));
				return false;
			}
		}
	}
	return true;
}

/* Resource options (Keystone's resource_options.py registries): every option is
 * nullable (null removes it); unknown options are refused. */
static bool bool_or_null(kreq *r, const char *name, const json_t *v)
{
	return json_is_boolean(v) || json_is_null(v) ? true
		: wrong_type(r, name, v, "boolean");
}

/* multi_factor_auth_rules: a list of unique, non-empty lists of unique strings. */
static bool mfa_rules(kreq *r, const char *name, const json_t *v)
{
	if (json_is_null(v))
		return true;
	if (!json_is_array(v))
		return wrong_type(r, name, v, "array");
	size_t i, j, k;
	json_t *rule, *m;
	json_array_foreach(v, i, rule) {
		if (!json_is_array(rule))
			return wrong_type(r, name, rule, "array");
		if (json_array_size(rule) == 0) {
			field_error(r, name, rule, "[] is too short");
			return false;
		}
		for (k = 0; k < i; k++) {
			if (json_equal(rule, json_array_get(v, k))) {
				field_error(r, name, v, kpool_printf(r->pool,
					    "%s has non-unique elements", repr(r, v)));
				return false;
			}
		}
		json_array_foreach(rule, j, m) {
			if (!json_is_string(m))
				return wrong_type(r, name, m, "string");
			for (k = 0; k < j; k++) {
				if (json_equal(m, json_array_get(rule, k))) {
					field_error(r, name, rule, kpool_printf(r->pool,
						    "%s has non-unique elements", repr(r, rule)));
					return false;
				}
			}
		}
	}
	return true;
}

static bool check_options(kreq *r, const id_field *f, const json_t *v)
{
	static const char *const user_bools[] = {
		"ignore_change_password_upon_first_use", "ignore_password_expiry",
		"ignore_lockout_failure_attempts", "lock_password", "ignore_user_inactivity",
		"multi_factor_auth_enabled", NULL
	};
	if (!json_is_object(v))
		return wrong_type(r, f->name, v, "object");
	const char *k;
	json_t *o;
	json_object_foreach((json_t *)v, k, o) {
		bool known = false;
		if (f->type == ID_F_OPTIONS_USER) {
			if (strcmp(k, "multi_factor_auth_rules") == 0) {
				if (!mfa_rules(r, k, o))
					return false;
				continue;
			}
			for (size_t i = 0; user_bools[i] && !known; i++)
				known = strcmp(k, user_bools[i]) == 0;
		} else {
			known = strcmp(k, "immutable") == 0;
		}
		if (!known) {
			field_error(r, f->name, v, kpool_printf(r->pool,
				    "Additional properties are not allowed ('%s' was unexpected)",
				    k));
			return false;
		}
		if (!bool_or_null(r, k, o))
			return false;
	}
	return true;
}

static bool check_field(kreq *r, const id_field *f, const json_t *v)
{
	switch (f->type) {
	case ID_F_ANY:
		return true;
	case ID_F_STRING_NULL:
		if (json_is_null(v))
			return true;
		/* fall through */
	case ID_F_STRING:
		return check_string(r, f, v);
	case ID_F_BOOL:
		return json_is_boolean(v) ? true : wrong_type(r, f->name, v, "boolean");
	case ID_F_INT:
		return json_is_integer(v) && json_integer_value(v) >= 0 ? true
			: wrong_type(r, f->name, v, "integer");
	case ID_F_OBJECT:
		return json_is_object(v) ? true : wrong_type(r, f->name, v, "object");
	case ID_F_ARRAY:
		return json_is_array(v) ? true : wrong_type(r, f->name, v, "array");
	case ID_F_OPTIONS:
	case ID_F_OPTIONS_USER:
		return check_options(r, f, v);
	case ID_F_TAGS:
		return check_tags(r, f, v);
	case ID_F_ID_NULL:
		if (json_is_null(v))
			return true;
		/* fall through */
	case ID_F_ID:
		if (!json_is_string(v))
			return wrong_type(r, f->name, v, "string");
		if (!id_match_id(json_string_value(v))) {
			field_error(r, f->name, v, kpool_printf(r->pool,
				    "%s does not match '^[a-zA-Z0-9-]+$'", repr(r, v)));
			return false;
		}
		return true;
	case ID_F_INTERFACE:
		if (json_is_string(v) && (strcmp(json_string_value(v), "public") == 0 ||
					  strcmp(json_string_value(v), "internal") == 0 ||
					  strcmp(json_string_value(v), "admin") == 0))
			return true;
		field_error(r, f->name, v, kpool_printf(r->pool,
			    "%s is not one of ['admin', 'internal', 'public']", repr(r, v)));
		return false;
	case ID_F_URL:
		if (!check_string(r, f, v))
			return false;
		if (!match_url(json_string_value(v))) {
			field_error(r, f->name, v, kpool_printf(r->pool,
				    "%s does not match '^[a-zA-Z0-9+.-]+:.+'", repr(r, v)));
			return false;
		}
		return true;
	}
	return false;
}

bool id_validate(kreq *r, const char *member, const json_t *obj, const id_field *fields,
		  size_t nfields, bool allow_extra, int min_props)
{
	if ((int)json_object_size(obj) < min_props) {
		field_error(r, member, obj, "{} does not have enough properties");
		return false;
	}
	for (size_t i = 0; i < nfields; i++) {
		const id_field *f = &fields[i];
		json_t *v = json_object_get(obj, f->name);
		if (!v) {
			if (f->required) {
				field_error(r, member, obj, kpool_printf(r->pool,
					    "'%s' is a required property", f->name));
				return false;
			}
			continue;
		}
		if (!check_field(r, f, v))
			return false;
	}
	if (allow_extra)
		return true;
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		bool known = false;
		for (size_t i = 0; i < nfields && !known; i++)
			known = strcmp(fields[i].name, k) == 0;
		if (!known) {
			field_error(r, member, obj, kpool_printf(r->pool,
				    "Additional properties are not allowed ('%s' was unexpected)",
				    k));
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* query building */

enum { IX_CONTAINS, IX_ICONTAINS, IX_STARTS, IX_ISTARTS, IX_ENDS, IX_IENDS };
static const char *const inexact_suffix[6] = {
	"__contains", "__icontains", "__startswith", "__istartswith", "__endswith",
	"__iendswith",
};

void id_inexact_init(kreq *r, const char *attr, id_inexact *f)
{
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 6; i++) {
		f->val[i] = kreq_query(r, kpool_printf(r->pool, "%s%s", attr, inexact_suffix[i]));
		f->any = f->any || f->val[i];
	}
}

/* Is needle at haystack + at (case-insensitively for ASCII when icase)? */
static bool same_at(const char *hay, size_t at, const char *needle, size_t n, bool icase)
{
	return icase ? strncasecmp(hay + at, needle, n) == 0 : memcmp(hay + at, needle, n) == 0;
}

static bool contains(const char *hay, const char *needle, bool icase)
{
	size_t h = strlen(hay), n = strlen(needle);
	for (size_t i = 0; i + n <= h; i++)
		if (same_at(hay, i, needle, n, icase))
			return true;
	return false;
}

bool id_inexact_ok(const id_inexact *f, const char *value)
{
	if (!f->any)
		return true;
	if (!value)
		return false;
	size_t h = strlen(value);
	for (int i = 0; i < 6; i++) {
		const char *v = f->val[i];
		if (!v)
			continue;
		bool icase = i == IX_ICONTAINS || i == IX_ISTARTS || i == IX_IENDS;
		size_t n = strlen(v);
		bool ok = i == IX_CONTAINS || i == IX_ICONTAINS ? contains(value, v, icase)
			: n > h ? false
			: i == IX_STARTS || i == IX_ISTARTS ? same_at(value, 0, v, n, icase)
			: same_at(value, h - n, v, n, icase);
		if (!ok)
			return false;
	}
	return true;
}

void id_sql_init(id_sql *q, kpool *pool, const char *select_from)
{
	memset(q, 0, sizeof(*q));
	q->pool = pool;
	q->sql = kpool_strdup(pool, select_from);
}

void id_sql_and(id_sql *q, const char *cond, const char *val)
{
	q->sql = kpool_printf(q->pool, "%s %s %s", q->sql, q->where ? "AND" : "WHERE", cond);
	q->where = true;
	if (val && q->n < (int)ARRAY_SIZE(q->vals))
		q->vals[q->n++] = val;
}

void id_sql_append(id_sql *q, const char *text)
{
	q->sql = kpool_printf(q->pool, "%s %s", q->sql, text);
}

kstmt *id_sql_prepare(id_sql *q)
{
	kstmt *st = kdb_prepare(id_db, q->sql);
	if (!st)
		return NULL;
	for (int i = 0; i < q->n; i++)
		kstmt_bind_text(st, i + 1, q->vals[i]);
	return st;
}

/* ------------------------------------------------------------------ */
/* the table */

#define GRANT_ROUTES(prefix, suffix) \
	{ "PUT", prefix "/roles/{role_id}" suffix, id_grant_put, 0 }, \
	{ "GET", prefix "/roles/{role_id}" suffix, id_grant_check, 0 }, \
	{ "HEAD", prefix "/roles/{role_id}" suffix, id_grant_check, 0 }, \
	{ "DELETE", prefix "/roles/{role_id}" suffix, id_grant_delete, 0 }, \
	{ "GET", prefix "/roles" suffix, id_grant_list, 0 }

const kroute id_resource_routes[] = {
	{ "GET", "/v3/domains", id_domains_list, 0 },
	{ "POST", "/v3/domains", id_domains_create, 0 },
	{ "GET", "/v3/domains/{domain_id}", id_domain_get, 0 },
	{ "PATCH", "/v3/domains/{domain_id}", id_domain_update, 0 },
	{ "DELETE", "/v3/domains/{domain_id}", id_domain_delete, 0 },
	{ "GET", "/v3/domains/config/default", id_domain_config_default, 0 },
	{ "GET", "/v3/domains/config/{group}/default", id_domain_config_default, 0 },
	{ "GET", "/v3/domains/config/{group}/{option}/default", id_domain_config_default, 0 },
	{ "GET", "/v3/domains/{domain_id}/config", id_domain_config_get, 0 },
	{ "PUT", "/v3/domains/{domain_id}/config", id_domain_config_put, 0 },
	{ "PATCH", "/v3/domains/{domain_id}/config", id_domain_config_update, 0 },
	{ "DELETE", "/v3/domains/{domain_id}/config", id_domain_config_delete, 0 },
	{ "GET", "/v3/domains/{domain_id}/config/{group}", id_domain_config_get, 0 },
	{ "PATCH", "/v3/domains/{domain_id}/config/{group}", id_domain_config_update, 0 },
	{ "DELETE", "/v3/domains/{domain_id}/config/{group}", id_domain_config_delete, 0 },
	{ "GET", "/v3/domains/{domain_id}/config/{group}/{option}", id_domain_config_get, 0 },
	{ "PATCH", "/v3/domains/{domain_id}/config/{group}/{option}", id_domain_config_update, 0 },
	{ "DELETE", "/v3/domains/{domain_id}/config/{group}/{option}", id_domain_config_delete,
	  0 },

	{ "GET", "/v3/projects", id_projects_list, 0 },
	{ "POST", "/v3/projects", id_projects_create, 0 },
	{ "GET", "/v3/projects/{project_id}", id_project_get, 0 },
	{ "PATCH", "/v3/projects/{project_id}", id_project_update, 0 },
	{ "DELETE", "/v3/projects/{project_id}", id_project_delete, 0 },
	{ "GET", "/v3/projects/{project_id}/tags", id_project_tags_get, 0 },
	{ "PUT", "/v3/projects/{project_id}/tags", id_project_tags_put, 0 },
	{ "DELETE", "/v3/projects/{project_id}/tags", id_project_tags_delete, 0 },
	{ "GET", "/v3/projects/{project_id}/tags/{value}", id_project_tag_check, 0 },
	{ "HEAD", "/v3/projects/{project_id}/tags/{value}", id_project_tag_check, 0 },
	{ "PUT", "/v3/projects/{project_id}/tags/{value}", id_project_tag_put, 0 },
	{ "DELETE", "/v3/projects/{project_id}/tags/{value}", id_project_tag_delete, 0 },

	{ "GET", "/v3/users", id_users_list, 0 },
	{ "POST", "/v3/users", id_users_create, 0 },
	{ "GET", "/v3/users/{user_id}", id_user_get, 0 },
	{ "PATCH", "/v3/users/{user_id}", id_user_update, 0 },
	{ "DELETE", "/v3/users/{user_id}", id_user_delete, 0 },
	{ "POST", "/v3/users/{user_id}/password", id_user_password, KROUTE_PUBLIC },
	{ "GET", "/v3/users/{user_id}/projects", id_user_projects, 0 },
	{ "GET", "/v3/users/{user_id}/groups", id_user_groups, 0 },
	{ "GET", "/v3/users/{user_id}/application_credentials", id_appcreds_list, 0 },
	{ "POST", "/v3/users/{user_id}/application_credentials", id_appcreds_create, 0 },
	{ "GET", "/v3/users/{user_id}/application_credentials/{application_credential_id}",
	  id_appcred_get, 0 },
	{ "DELETE", "/v3/users/{user_id}/application_credentials/{application_credential_id}",
	  id_appcred_delete, 0 },
	{ "GET", "/v3/users/{user_id}/credentials/OS-EC2", id_ec2_list, 0 },
	{ "POST", "/v3/users/{user_id}/credentials/OS-EC2", id_ec2_create, 0 },
	{ "GET", "/v3/users/{user_id}/credentials/OS-EC2/{credential_id}", id_ec2_get, 0 },
	{ "DELETE", "/v3/users/{user_id}/credentials/OS-EC2/{credential_id}", id_ec2_delete, 0 },
	{ "GET", "/v3/users/{user_id}/access_rules", id_access_rules_list, 0 },
	{ "GET", "/v3/users/{user_id}/access_rules/{access_rule_id}", id_access_rule_get, 0 },
	{ "DELETE", "/v3/users/{user_id}/access_rules/{access_rule_id}", id_access_rule_delete,
	  0 },

	{ "GET", "/v3/groups", id_groups_list, 0 },
	{ "POST", "/v3/groups", id_groups_create, 0 },
	{ "GET", "/v3/groups/{group_id}", id_group_get, 0 },
	{ "PATCH", "/v3/groups/{group_id}", id_group_update, 0 },
	{ "DELETE", "/v3/groups/{group_id}", id_group_delete, 0 },
	{ "GET", "/v3/groups/{group_id}/users", id_group_users, 0 },
	{ "PUT", "/v3/groups/{group_id}/users/{user_id}", id_group_member_put, 0 },
	{ "GET", "/v3/groups/{group_id}/users/{user_id}", id_group_member_check, 0 },
	{ "HEAD", "/v3/groups/{group_id}/users/{user_id}", id_group_member_check, 0 },
	{ "DELETE", "/v3/groups/{group_id}/users/{user_id}", id_group_member_delete, 0 },

	{ "GET", "/v3/roles", id_roles_list, 0 },
	{ "POST", "/v3/roles", id_roles_create, 0 },
	{ "GET", "/v3/roles/{role_id}", id_role_get, 0 },
	{ "PATCH", "/v3/roles/{role_id}", id_role_update, 0 },
	{ "DELETE", "/v3/roles/{role_id}", id_role_delete, 0 },
	{ "GET", "/v3/roles/{prior_role_id}/implies", id_role_implies_list, 0 },
	{ "PUT", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", id_role_implies_put, 0 },
	{ "GET", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", id_role_implies_get, 0 },
	{ "HEAD", "/v3/roles/{prior_role_id}/implies/{implied_role_id}",
	  id_role_implies_check, 0 },
	{ "DELETE", "/v3/roles/{prior_role_id}/implies/{implied_role_id}",
	  id_role_implies_delete, 0 },
	{ "GET", "/v3/role_inferences", id_role_inferences, 0 },

	GRANT_ROUTES("/v3/projects/{project_id}/users/{user_id}", ""),
	GRANT_ROUTES("/v3/projects/{project_id}/groups/{group_id}", ""),
	GRANT_ROUTES("/v3/domains/{domain_id}/users/{user_id}", ""),
	GRANT_ROUTES("/v3/domains/{domain_id}/groups/{group_id}", ""),
	GRANT_ROUTES("/v3/system/users/{user_id}", ""),
	GRANT_ROUTES("/v3/system/groups/{group_id}", ""),
	GRANT_ROUTES("/v3/OS-INHERIT/domains/{domain_id}/users/{user_id}",
		     "/inherited_to_projects"),
	GRANT_ROUTES("/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}",
		     "/inherited_to_projects"),
	GRANT_ROUTES("/v3/OS-INHERIT/projects/{project_id}/users/{user_id}",
		     "/inherited_to_projects"),
	GRANT_ROUTES("/v3/OS-INHERIT/projects/{project_id}/groups/{group_id}",
		     "/inherited_to_projects"),
	{ "GET", "/v3/role_assignments", id_role_assignments, 0 },

	{ "GET", "/v3/services", id_services_list, 0 },
	{ "POST", "/v3/services", id_services_create, 0 },
	{ "GET", "/v3/services/{service_id}", id_service_get, 0 },
	{ "PATCH", "/v3/services/{service_id}", id_service_update, 0 },
	{ "DELETE", "/v3/services/{service_id}", id_service_delete, 0 },
	{ "GET", "/v3/endpoints", id_endpoints_list, 0 },
	{ "POST", "/v3/endpoints", id_endpoints_create, 0 },
	{ "GET", "/v3/endpoints/{endpoint_id}", id_endpoint_get, 0 },
	{ "PATCH", "/v3/endpoints/{endpoint_id}", id_endpoint_update, 0 },
	{ "DELETE", "/v3/endpoints/{endpoint_id}", id_endpoint_delete, 0 },
#define EPF "/v3/OS-EP-FILTER"
	{ "GET", EPF "/endpoint_groups", id_epgroups_list, 0 },
	{ "POST", EPF "/endpoint_groups", id_epgroups_create, 0 },
	{ "GET", EPF "/endpoint_groups/{endpoint_group_id}", id_epgroup_get, 0 },
	{ "PATCH", EPF "/endpoint_groups/{endpoint_group_id}", id_epgroup_update, 0 },
	{ "DELETE", EPF "/endpoint_groups/{endpoint_group_id}", id_epgroup_delete, 0 },
	{ "GET", EPF "/endpoint_groups/{endpoint_group_id}/projects", id_epgroup_projects, 0 },
	{ "GET", EPF "/endpoint_groups/{endpoint_group_id}/endpoints", id_epgroup_endpoints, 0 },
	{ "GET", EPF "/endpoint_groups/{endpoint_group_id}/projects/{project_id}",
	  id_epgroup_project_get, 0 },
	{ "PUT", EPF "/endpoint_groups/{endpoint_group_id}/projects/{project_id}",
	  id_epgroup_project_put, 0 },
	{ "DELETE", EPF "/endpoint_groups/{endpoint_group_id}/projects/{project_id}",
	  id_epgroup_project_delete, 0 },
	{ "GET", EPF "/projects/{project_id}/endpoint_groups", id_project_epgroups, 0 },
	{ "GET", EPF "/projects/{project_id}/endpoints", id_project_endpoints, 0 },
	{ "GET", EPF "/projects/{project_id}/endpoints/{endpoint_id}", id_project_endpoint_check,
	  0 },
	{ "PUT", EPF "/projects/{project_id}/endpoints/{endpoint_id}", id_project_endpoint_put, 0 },
	{ "DELETE", EPF "/projects/{project_id}/endpoints/{endpoint_id}",
	  id_project_endpoint_delete, 0 },
	{ "GET", EPF "/endpoints/{endpoint_id}/projects", id_endpoint_projects, 0 },
#undef EPF
	{ "GET", "/v3/registered_limits", id_registered_limits_list, 0 },
	{ "POST", "/v3/registered_limits", id_registered_limits_create, 0 },
	{ "GET", "/v3/registered_limits/{registered_limit_id}", id_registered_limit_get, 0 },
	{ "PATCH", "/v3/registered_limits/{registered_limit_id}", id_registered_limit_update, 0 },
	{ "DELETE", "/v3/registered_limits/{registered_limit_id}", id_registered_limit_delete, 0 },
	{ "GET", "/v3/limits/model", id_limit_model, 0 },
	{ "GET", "/v3/limits", id_limits_list, 0 },
	{ "POST", "/v3/limits", id_limits_create, 0 },
	{ "GET", "/v3/limits/{limit_id}", id_limit_get, 0 },
	{ "PATCH", "/v3/limits/{limit_id}", id_limit_update, 0 },
	{ "DELETE", "/v3/limits/{limit_id}", id_limit_delete, 0 },
	{ "GET", "/v3/policies", id_policies_list, 0 },
	{ "POST", "/v3/policies", id_policies_create, 0 },
	{ "GET", "/v3/policies/{policy_id}", id_policy_get, 0 },
	{ "PATCH", "/v3/policies/{policy_id}", id_policy_update, 0 },
	{ "DELETE", "/v3/policies/{policy_id}", id_policy_delete, 0 },
	{ "GET", "/v3/OS-OAUTH1/consumers", id_consumers_list, 0 },
	{ "POST", "/v3/OS-OAUTH1/consumers", id_consumers_create, 0 },
	{ "GET", "/v3/OS-OAUTH1/consumers/{consumer_id}", id_consumer_get, 0 },
	{ "PATCH", "/v3/OS-OAUTH1/consumers/{consumer_id}", id_consumer_update, 0 },
	{ "DELETE", "/v3/OS-OAUTH1/consumers/{consumer_id}", id_consumer_delete, 0 },
	{ "GET", "/v3/credentials", id_credentials_list, 0 },
	{ "POST", "/v3/credentials", id_credentials_create, 0 },
	{ "GET", "/v3/credentials/{credential_id}", id_credential_get, 0 },
	{ "PATCH", "/v3/credentials/{credential_id}", id_credential_update, 0 },
	{ "DELETE", "/v3/credentials/{credential_id}", id_credential_delete, 0 },
	{ "GET", "/v3/regions", id_regions_list, 0 },
	{ "POST", "/v3/regions", id_regions_create, 0 },
	{ "GET", "/v3/regions/{region_id}", id_region_get, 0 },
	{ "PUT", "/v3/regions/{region_id}", id_region_put, 0 },
	{ "PATCH", "/v3/regions/{region_id}", id_region_update, 0 },
	{ "DELETE", "/v3/regions/{region_id}", id_region_delete, 0 },
};

const size_t id_resource_nroutes = ARRAY_SIZE(id_resource_routes);
