/*
 * limits.c - unified limits: /v3/registered_limits, /v3/limits and
 * /v3/limits/model (Keystone's "flat" enforcement model).
 *
 * A registered limit is a service's default for a resource ("compute",
 * "cores", 20), optionally per region; a limit overrides it for one project
 * or domain.  Services (oslo.limit) read them and enforce them; Identity only
 * stores them, with Keystone's rules:
 *   - creates take a list and are all-or-nothing; the service, region,
 *     project or domain named must exist (400);
 *   - one registered limit per (service, region, resource), one limit per
 *     (project or domain, service, region, resource) (409);
 *   - a limit needs a registered limit for its service, region and resource
 *     (403), and a registered limit that limits refer to can't be changed
 *     or deleted (403);
 *   - a limit's update may change only resource_limit and description;
 *   - listing limits shows a project-scoped caller its project's limits, a
 *     domain-scoped caller its domain's and its projects', a system-scoped
 *     caller (or the admin token) all of them.
 * "No region" is stored as '' (and "no project" / "no domain" likewise) so
 * that the UNIQUE constraints hold on both SQL engines.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

#define LIMIT_MAX 0x7FFFFFFF
#define REG_COLS "id, service_id, region_id, resource_name, default_limit, description"
#define LIMIT_COLS \
	"id, project_id, domain_id, service_id, region_id, resource_name, resource_limit, " \
	"description"

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* cols: REG_COLS */
static json_t *reg_from_row(kstmt *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(kstmt_text(st, 0)));
	json_object_set_new(o, "service_id", json_string(kstmt_text(st, 1)));
	json_object_set_new(o, "region_id", str_or_null(kstmt_text(st, 2)));
	json_object_set_new(o, "resource_name", json_string(kstmt_text(st, 3)));
	json_object_set_new(o, "default_limit", json_integer(kstmt_int(st, 4)));
	json_object_set_new(o, "description", kstmt_text(st, 5) ? json_string(kstmt_text(st, 5))
								: json_null());
	return o;
}

/* cols: LIMIT_COLS */
static json_t *limit_from_row(kstmt *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(kstmt_text(st, 0)));
	json_object_set_new(o, "project_id", str_or_null(kstmt_text(st, 1)));
	json_object_set_new(o, "domain_id", str_or_null(kstmt_text(st, 2)));
	json_object_set_new(o, "service_id", json_string(kstmt_text(st, 3)));
	json_object_set_new(o, "region_id", str_or_null(kstmt_text(st, 4)));
	json_object_set_new(o, "resource_name", json_string(kstmt_text(st, 5)));
	json_object_set_new(o, "resource_limit", json_integer(kstmt_int(st, 6)));
	json_object_set_new(o, "description", kstmt_text(st, 7) ? json_string(kstmt_text(st, 7))
								: json_null());
	return o;
}

static json_t *get_by_id(const char *sql, const char *id, json_t *(*fn)(kstmt *))
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, sql);
	if (!st || !id)
		return NULL;
	kstmt_bind_text(st, 1, id);
	return kstmt_step(st) == KDB_ROW ? fn(st) : NULL;
}

static json_t *reg_get(const char *id)
{
	return get_by_id("SELECT " REG_COLS " FROM id_registered_limit WHERE id = ?", id,
			 reg_from_row);
}

static json_t *limit_get(const char *id)
{
	return get_by_id("SELECT " LIMIT_COLS " FROM id_limit WHERE id = ?", id, limit_from_row);
}

static bool exists(const char *sql, const char *id)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, sql);
	if (!st)
		return false;
	kstmt_bind_text(st, 1, id);
	return kstmt_step(st) == KDB_ROW;
}

/* Any limit for (service, region, resource)? */
static bool limits_use(const char *service, const char *region, const char *resource)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT 1 FROM id_limit WHERE service_id = ? AND region_id = ? AND"
		" resource_name = ?");
	if (!st)
		return true;
	kstmt_bind_text(st, 1, service);
	kstmt_bind_text(st, 2, region ? region : "");
	kstmt_bind_text(st, 3, resource);
	return kstmt_step(st) == KDB_ROW;
}

static void validation_error(kreq *r, const char *attribute, const char *target)
{
	kresp_error(r, 400, "Expecting to find %s in %s. The server could not comply with the "
		    "request since it is either malformed or otherwise incorrect. The client is "
		    "assumed to be in error.", attribute, target);
}

/* Keystone's _assert_resource_exist; false when answered. */
static bool references_exist(kreq *r, const json_t *o, const char *target)
{
	const char *service = kjson_str(o, "service_id"), *region = kjson_str(o, "region_id");
	const char *project = kjson_str(o, "project_id"), *domain = kjson_str(o, "domain_id");
	const char *bad = service && !exists("SELECT 1 FROM id_service WHERE id = ?", service)
		? "service_id"
		: region && !exists("SELECT 1 FROM id_region WHERE id = ?", region) ? "region_id"
		: project && !exists("SELECT 1 FROM id_project WHERE id = ?", project)
		? "project_id"
		: domain && !exists("SELECT 1 FROM id_project WHERE id = ? AND is_domain = 1",
				    domain) ? "domain_id" : NULL;
	if (bad)
		validation_error(r, bad, target);
	return !bad;
}

/* integer in [-1, 2^31-1] */
static bool limit_value(kreq *r, const char *field, const json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) >= -1 &&
	    json_integer_value(v) <= LIMIT_MAX)
		return true;
	id_field_error(r, field, v, json_is_integer(v) ? "is out of range [-1, 2147483647]"
			: "is not of type 'integer'");
	return false;
}

/* Check one object's members: name -> kind ('i' id_string, 's' string
 * 1..255, 'r' region: string (or null when nullable), 'n' limit integer,
 * 'd' nullable description); required ones marked by upper case. */
static bool check_members(kreq *r, const char *member, const json_t *o, const char *const *names,
			  const char *kinds, bool region_nullable)
{
	if (!json_is_object(o)) {
		id_field_error(r, member, o, "is not of type 'object'");
		return false;
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)o, k, v) {
		bool known = false;
		for (size_t i = 0; names[i] && !known; i++)
			known = strcmp(names[i], k) == 0;
		if (!known) {
			id_field_error(r, member, o, kpool_printf(r->pool,
				       "Additional properties are not allowed ('%s' was "
				       "unexpected)", k));
			return false;
		}
	}
	for (size_t i = 0; names[i]; i++) {
		char kind = kinds[i];
		bool required = kind >= 'A' && kind <= 'Z';
		if (required)
			kind = (char)(kind - 'A' + 'a');
		v = json_object_get(o, names[i]);
		if (!v) {
			if (required) {
				id_field_error(r, member, o, kpool_printf(r->pool,
					       "'%s' is a required property", names[i]));
				return false;
			}
			continue;
		}
		const char *s = json_string_value(v);
		bool ok = kind == 'i' ? s && id_match_id(s)
			: kind == 's' ? s && *s && id_utf8_len(s) <= 255
			: kind == 'r' ? s || (region_nullable && json_is_null(v))
			: kind == 'd' ? s || json_is_null(v)
			: true;
		if (kind == 'n' && !limit_value(r, names[i], v))
			return false;
		if (!ok) {
			id_field_error(r, names[i], v, "is not valid here");
			return false;
		}
	}
	return true;
}

static json_t *reg_links(kreq *r, json_t *o)
{
	return id_links(r, o, "registered_limits", kjson_str(o, "id"));
}

static json_t *limit_links(kreq *r, json_t *o)
{
	return id_links(r, o, "limits", kjson_str(o, "id"));
}

/* ------------------------------------------------------------------ */
/* registered limits */

static const char *const reg_names[] = {
	"service_id", "region_id", "resource_name", "default_limit", "description", NULL
};

void id_registered_limits_list(kreq *r)
{
	if (!id_enforce(r, "identity:list_registered_limits", NULL))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " REG_COLS " FROM id_registered_limit");
	static const char *const filters[] = { "service_id", "region_id", "resource_name" };
	for (size_t i = 0; i < ARRAY_SIZE(filters); i++)
		if (kreq_query(r, filters[i]))
			id_sql_and(&q, kpool_printf(r->pool, "%s = ?", filters[i]),
				   kreq_query(r, filters[i]));
	id_sql_append(&q, "ORDER BY service_id, region_id, resource_name, id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(arr, reg_links(r, reg_from_row(st)));
	kresp_json(r, 200, id_list(r, "registered_limits", arr));
}

void id_registered_limits_create(kreq *r)
{
	if (!id_enforce(r, "identity:create_registered_limits", NULL))
		return;
	json_t *body = id_json_body(r);
	if (!body)
		return;
	json_t *list = json_object_get(body, "registered_limits");
	if (!json_is_array(list) || json_array_size(list) == 0) {
		id_field_error(r, "registered_limits", list ? list : json_null(),
			       "A non-empty array of registered limits is required");
		return;
	}
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		if (!check_members(r, "registered_limit", o, reg_names, "IrSNd", true) ||
		    !references_exist(r, o, "registered_limit"))
			return;
	}
	json_t *out = kpool_json(r->pool, json_array());
	kdb_begin(id_db);
	json_array_foreach(list, i, o) {
		char id[33];
		kutil_uuid_hex(id);
		const char *region = kjson_str(o, "region_id");
		int rc = kdb_run(id_db, NULL, "INSERT INTO id_registered_limit (id, service_id,"
				 " region_id, resource_name, default_limit, description)"
				 " VALUES (?, ?, ?, ?, ?, ?)", "ssssis", id,
				 kjson_str(o, "service_id"), region ? region : "",
				 kjson_str(o, "resource_name"),
				 json_integer_value(json_object_get(o, "default_limit")),
				 kjson_str(o, "description"));
		if (rc != KDB_DONE) {
			kdb_rollback(id_db);
			if (rc == KDB_CONSTRAINT)
				id_conflict(r, "registered_limit", "Duplicate entry");
			else
				id_internal(r);
			return;
		}
		json_array_append_new(out, json_string(id));
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	json_t *arr = json_array();
	json_t *v;
	json_array_foreach(out, i, v) {
		json_t *reg = reg_get(json_string_value(v));
		if (reg)
			json_array_append_new(arr, reg_links(r, reg));
	}
	kresp_json(r, 201, json_pack("{s:o}", "registered_limits", arr));
}

static json_t *path_reg(kreq *r, const char *action)
{
	if (!id_enforce(r, action, NULL))
		return NULL;
	const char *id = kreq_param(r, "registered_limit_id");
	json_t *o = reg_get(id);
	if (!o)
		kresp_error(r, 404, "Could not find registered limit for %s.", id);
	return o;
}

static bool reg_in_use(kreq *r, const json_t *reg)
{
	if (!limits_use(kjson_str(reg, "service_id"), kjson_str(reg, "region_id"),
			kjson_str(reg, "resource_name")))
		return false;
	kresp_error(r, 403, "Unable to update or delete registered limit %s because there are "
		    "project limits associated with it.", kjson_str(reg, "id"));
	return true;
}

void id_registered_limit_get(kreq *r)
{
	json_t *o = path_reg(r, "identity:get_registered_limit");
	if (o)
		kresp_json(r, 200, json_pack("{s:o}", "registered_limit", reg_links(r, o)));
}

void id_registered_limit_update(kreq *r)
{
	_cleanup_json_ json_t *cur = path_reg(r, "identity:update_registered_limit");
	if (!cur)
		return;
	json_t *body = id_json_body(r);
	if (!body)
		return;
	json_t *o = json_object_get(body, "registered_limit");
	if (!check_members(r, "registered_limit", o ? o : json_null(), reg_names, "irsnd", true) ||
	    !references_exist(r, o, "registered_limit") || reg_in_use(r, cur))
		return;
	json_t *next = kpool_json(r->pool, json_deep_copy(cur));
	json_object_update(next, o);
	const char *region = kjson_str(next, "region_id");
	int rc = kdb_run(id_db, NULL, "UPDATE id_registered_limit SET service_id = ?,"
			 " region_id = ?, resource_name = ?, default_limit = ?, description = ?"
			 " WHERE id = ?", "sssiss", kjson_str(next, "service_id"),
			 region ? region : "", kjson_str(next, "resource_name"),
			 json_integer_value(json_object_get(next, "default_limit")),
			 kjson_str(next, "description"), kjson_str(cur, "id"));
	if (rc == KDB_CONSTRAINT) {
		id_conflict(r, "registered_limit", "Duplicate entry");
		return;
	}
	json_t *n = rc == KDB_DONE ? reg_get(kjson_str(cur, "id")) : NULL;
	if (!n) {
		id_internal(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "registered_limit", reg_links(r, n)));
}

void id_registered_limit_delete(kreq *r)
{
	_cleanup_json_ json_t *cur = path_reg(r, "identity:delete_registered_limit");
	if (!cur || reg_in_use(r, cur))
		return;
	if (kdb_run(id_db, NULL, "DELETE FROM id_registered_limit WHERE id = ?", "s",
		    kjson_str(cur, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* limits */

static const char *const project_limit_names[] = {
	"project_id", "service_id", "region_id", "resource_name", "resource_limit", "description",
	NULL
};
static const char *const domain_limit_names[] = {
	"domain_id", "service_id", "region_id", "resource_name", "resource_limit", "description",
	NULL
};
static const char *const limit_update_names[] = { "resource_limit", "description", NULL };

void id_limit_model(kreq *r)
{
	if (!id_enforce(r, "identity:get_limit_model", NULL))
		return;
	kresp_json(r, 200, json_pack("{s:{s:s,s:s}}", "model", "name", "flat", "description",
				     "Limit enforcement and validation does not take project "
				     "hierarchy into consideration."));
}

void id_limits_list(kreq *r)
{
	if (!id_enforce(r, "identity:list_limits", NULL))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " LIMIT_COLS " FROM id_limit");
	static const char *const filters[] = { "service_id", "region_id", "resource_name",
					       "project_id", "domain_id" };
	for (size_t i = 0; i < ARRAY_SIZE(filters); i++)
		if (kreq_query(r, filters[i]))
			id_sql_and(&q, kpool_printf(r->pool, "%s = ?", filters[i]),
				   kreq_query(r, filters[i]));
	const kctx *c = r->ctx;
	if (!c->is_admin_token && !c->system_scope) {
		if (c->domain_id) {
			id_sql_and(&q, "(domain_id = ? OR project_id IN (SELECT id FROM id_project"
				   " WHERE domain_id = ? AND is_domain = 0))", c->domain_id);
			q.vals[q.n++] = c->domain_id;
		} else {
			id_sql_and(&q, "project_id = ?", c->project_id ? c->project_id : "");
		}
	}
	id_sql_append(&q, "ORDER BY service_id, region_id, resource_name, id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(arr, limit_links(r, limit_from_row(st)));
	kresp_json(r, 200, id_list(r, "limits", arr));
}

void id_limits_create(kreq *r)
{
	if (!id_enforce(r, "identity:create_limits", NULL))
		return;
	json_t *body = id_json_body(r);
	if (!body)
		return;
	json_t *list = json_object_get(body, "limits");
	if (!json_is_array(list) || json_array_size(list) == 0) {
		id_field_error(r, "limits", list ? list : json_null(),
			       "A non-empty array of limits is required");
		return;
	}
	size_t i;
	json_t *o;
	json_array_foreach(list, i, o) {
		bool domain = json_is_object(o) && json_object_get(o, "domain_id") &&
			      !json_object_get(o, "project_id");
		if (!check_members(r, "limit", o, domain ? domain_limit_names
				   : project_limit_names, "IIrSNd", false) ||
		    !references_exist(r, o, "limit"))
			return;
	}
	json_t *out = kpool_json(r->pool, json_array());
	kdb_begin(id_db);
	json_array_foreach(list, i, o) {
		const char *project = kjson_str(o, "project_id");
		const char *domain = kjson_str(o, "domain_id");
		/* a "project" that acts as a domain is a domain */
		if (project && exists("SELECT 1 FROM id_project WHERE id = ? AND is_domain = 1",
				      project)) {
			domain = project;
			project = NULL;
		}
		const char *region = kjson_str(o, "region_id");
		const char *service = kjson_str(o, "service_id");
		const char *resource = kjson_str(o, "resource_name");
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT 1 FROM id_registered_limit WHERE service_id = ? AND region_id = ?"
			" AND resource_name = ?");
		bool registered = false;
		if (st) {
			kstmt_bind_text(st, 1, service);
			kstmt_bind_text(st, 2, region ? region : "");
			kstmt_bind_text(st, 3, resource);
			registered = kstmt_step(st) == KDB_ROW;
		}
		if (!registered) {
			kdb_rollback(id_db);
			kresp_error(r, 403, "Unable to create a limit that has no corresponding "
				    "registered limit.");
			return;
		}
		char id[33];
		kutil_uuid_hex(id);
		int rc = kdb_run(id_db, NULL, "INSERT INTO id_limit (id, project_id, domain_id,"
				 " service_id, region_id, resource_name, resource_limit,"
				 " description) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", "ssssssis", id,
				 project ? project : "", domain ? domain : "", service,
				 region ? region : "", resource,
				 json_integer_value(json_object_get(o, "resource_limit")),
				 kjson_str(o, "description"));
		if (rc != KDB_DONE) {
			kdb_rollback(id_db);
			if (rc == KDB_CONSTRAINT)
				id_conflict(r, "limit", "Duplicate entry");
			else
				id_internal(r);
			return;
		}
		json_array_append_new(out, json_string(id));
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	json_t *arr = json_array();
	json_t *v;
	json_array_foreach(out, i, v) {
		json_t *l = limit_get(json_string_value(v));
		if (l)
			json_array_append_new(arr, limit_links(r, l));
	}
	kresp_json(r, 201, json_pack("{s:o}", "limits", arr));
}

/* The limit of the path, after policy (on the limit, its project and
 * domain); NULL when answered. */
static json_t *path_limit(kreq *r, const char *action)
{
	const char *id = kreq_param(r, "limit_id");
	json_t *l = limit_get(id);
	_cleanup_json_ json_t *target = l ? json_pack("{s:{s:o}}", "target", "limit",
						      json_deep_copy(l))
					  : json_pack("{s:{s:{}}}", "target", "limit");
	json_t *tl = json_object_get(json_object_get(target, "target"), "limit");
	const char *pid = kjson_str(l, "project_id"), *did = kjson_str(l, "domain_id");
	if (pid) {
		json_t *p = idstore_project_get(pid);
		json_object_set_new(tl, "project", p ? p : json_object());
	}
	if (did)
		json_object_set_new(tl, "domain", json_pack("{s:s}", "id", did));
	if (!id_enforce(r, action, target)) {
		json_decref(l);
		return NULL;
	}
	if (!l)
		kresp_error(r, 404, "Could not find limit for %s.", id);
	return l;
}

void id_limit_get(kreq *r)
{
	json_t *l = path_limit(r, "identity:get_limit");
	if (l)
		kresp_json(r, 200, json_pack("{s:o}", "limit", limit_links(r, l)));
}

void id_limit_update(kreq *r)
{
	_cleanup_json_ json_t *cur = path_limit(r, "identity:update_limit");
	if (!cur)
		return;
	json_t *body = id_json_body(r);
	if (!body)
		return;
	json_t *o = json_object_get(body, "limit");
	if (!check_members(r, "limit", o ? o : json_null(), limit_update_names, "nd", false))
		return;
	json_t *lim = json_object_get(o, "resource_limit");
	json_t *desc = json_object_get(o, "description");
	if (kdb_run(id_db, NULL, "UPDATE id_limit SET resource_limit = ?, description = ?"
		    " WHERE id = ?", "iss", lim ? json_integer_value(lim)
		    : json_integer_value(json_object_get(cur, "resource_limit")),
		    desc ? json_string_value(desc) : kjson_str(cur, "description"),
		    kjson_str(cur, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	json_t *n = limit_get(kjson_str(cur, "id"));
	if (!n) {
		id_internal(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "limit", limit_links(r, n)));
}

void id_limit_delete(kreq *r)
{
	_cleanup_json_ json_t *cur = path_limit(r, "identity:delete_limit");
	if (!cur)
		return;
	if (kdb_run(id_db, NULL, "DELETE FROM id_limit WHERE id = ?", "s", kjson_str(cur, "id"))
	    != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}
