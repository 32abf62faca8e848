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
 * attributes where it allows them.  Error texts follow Keystone's validator:
 * "Invalid input for field/attribute <field>. Value: <value>. <reason>".
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

bool id_is_head(kreq *r)
{
	return r->method && strcmp(r->method, "HEAD") == 0;
}

/* Python-ish repr of a value for messages, bounded in size. */
static const char *repr(kreq *r, const json_t *v)
{
	char *s;
	if (json_is_string(v))
		s = kpool_printf(r->pool, "'%s'", json_string_value(v));
	else {
		_cleanup_free_ char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
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

static void field_error(kreq *r, const char *field, const json_t *value, const char *reason)
{
	kresp_error(r, 400, "Invalid input for field/attribute %s. Value: %s. %s", field,
		    repr(r, value), reason);
}

/* ------------------------------------------------------------------ */
/* body validation */

json_t *id_body_member(kreq *r, const char *key)
{
	json_t *body = kreq_json(r);
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

static const char *const lax_true[] = { "True", "TRUE", "true", "1", "y", "Y", "on", "ON",
					"yes", NULL };
static const char *const lax_false[] = { "False", "FALSE", "false", "", "0", "n", "N", "off",
					 "OFF", "no", NULL };

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

bool id_bool_value(const json_t *v, bool def)
{
	if (!v || json_is_null(v))
		return def;
	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_string(v))
		return in_list(json_string_value(v), lax_true);
	return def;
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

static bool match_id(const char *s)
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

static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static bool check_string(kreq *r, const id_field *f, const json_t *v)
{
	if (!json_is_string(v)) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is not of type 'string'",
							repr(r, v)));
		return false;
	}
	const char *s = json_string_value(v);
	size_t n = utf8_len(s);
	if (f->minlen && n < (size_t)f->minlen) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is too short", repr(r, v)));
		return false;
	}
	if (f->maxlen && n > (size_t)f->maxlen) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is too long", repr(r, v)));
		return false;
	}
	if (f->nonblank && !has_nonspace(s)) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s does not match '[\\S]+'",
							repr(r, v)));
		return false;
	}
	return true;
}

static bool check_tags(kreq *r, const id_field *f, const json_t *v)
{
	if (!json_is_array(v)) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is not of type 'array'",
							repr(r, v)));
		return false;
	}
	if (json_array_size(v) > 80) {
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is too long", repr(r, v)));
		return false;
	}
	size_t i, j;
	json_t *t, *u;
	json_array_foreach(v, i, t) {
		const char *s = json_string_value(t);
		if (!s) {
			field_error(r, f->name, t, kpool_printf(r->pool,
				    "%s is not of type 'string'", repr(r, t)));
			return false;
		}
		size_t n = utf8_len(s);
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
		if (json_is_boolean(v))
			return true;
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is not of type 'boolean'",
							repr(r, v)));
		return false;
	case ID_F_BOOL_LAX:
		if (json_is_boolean(v) || json_is_null(v))
			return true;
		if (json_is_string(v) && (in_list(json_string_value(v), lax_true) ||
					  in_list(json_string_value(v), lax_false)))
			return true;
		field_error(r, f->name, v, kpool_printf(r->pool,
			    "%s is not one of [True, 'True', 'TRUE', 'true', False, 'False', "
			    "'FALSE', 'false', '', '1', '0', 'y', 'Y', 'n', 'N', 'on', 'ON', "
			    "'off', 'OFF', 'yes', 'no']", repr(r, v)));
		return false;
	case ID_F_OBJECT:
		if (json_is_object(v))
			return true;
		field_error(r, f->name, v, kpool_printf(r->pool, "%s is not of type 'object'",
							repr(r, v)));
		return false;
	case ID_F_TAGS:
		return check_tags(r, f, v);
	case ID_F_ID_NULL:
		if (json_is_null(v))
			return true;
		/* fall through */
	case ID_F_ID:
		if (!json_is_string(v)) {
			field_error(r, f->name, v, kpool_printf(r->pool,
				    "%s is not of type 'string'", repr(r, v)));
			return false;
		}
		if (!match_id(json_string_value(v))) {
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
	{ "GET", "/v3/regions", id_regions_list, 0 },
	{ "POST", "/v3/regions", id_regions_create, 0 },
	{ "GET", "/v3/regions/{region_id}", id_region_get, 0 },
	{ "PUT", "/v3/regions/{region_id}", id_region_put, 0 },
	{ "PATCH", "/v3/regions/{region_id}", id_region_update, 0 },
	{ "DELETE", "/v3/regions/{region_id}", id_region_delete, 0 },
};

const size_t id_resource_nroutes = ARRAY_SIZE(id_resource_routes);
