/*
 * domains.c - /v3/domains.
 *
 * A domain is a row of id_project with is_domain = 1 (Keystone's model), so
 * the functions that create, update and delete one are shared with the
 * projects API, where a project with "is_domain": true is a domain too.
 *
 * Deleting a domain requires it to be disabled first (403 otherwise, as in
 * Keystone) and removes everything it owns in one transaction: its
 * projects, users, groups, domain-specific roles, their tags, memberships,
 * role assignments, application credentials, credentials, limits, endpoint
 * associations and its configuration.  Tokens of the domain are revoked
 * afterwards.
 */
#include <ctype.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

static const char *const domain_known[] = {
	"id", "name", "description", "enabled", "options", "tags", "explicit_domain_id",
	"is_domain", "domain_id", "parent_id", "links", NULL
};

static const id_field domain_create_fields[] = {
	{ "name", ID_F_STRING, 1, 64, true, true },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
	{ "options", ID_F_OPTIONS, 0, 0, false, false },
	{ "tags", ID_F_TAGS, 0, 0, false, false },
	{ "explicit_domain_id", ID_F_ID, 0, 0, false, false },
};

static const id_field domain_update_fields[] = {
	{ "name", ID_F_STRING, 1, 64, true, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
	{ "options", ID_F_OPTIONS, 0, 0, false, false },
	{ "tags", ID_F_TAGS, 0, 0, false, false },
};

/* Names are stored without surrounding white space, as Keystone does. */
static char *strip(kpool *pool, const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return kpool_strndup(pool, s, n);
}

int id_tags_write(const char *project_id, const json_t *tags)
{
	if (kdb_run(id_db, NULL, "DELETE FROM id_project_tag WHERE project_id = ?", "s",
		    project_id) != KDB_DONE)
		return -1;
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t) {
		if (kdb_run(id_db, NULL,
			    "INSERT INTO id_project_tag (project_id, name) VALUES (?, ?)", "ss",
			    project_id, json_string_value(t)) != KDB_DONE)
			return -1;
	}
	return 0;
}

static void reply(kreq *r, int status, const char *id, bool project_shape)
{
	json_t *obj = project_shape ? idstore_project_any(id) : idstore_domain_get(id);
	if (!obj) {
		id_internal(r);
		return;
	}
	const char *key = project_shape ? "project" : "domain";
	const char *coll = project_shape ? "projects" : "domains";
	kresp_json(r, status, json_pack("{s:o}", key, id_links(r, obj, coll, id)));
}

static bool id_taken(const char *id)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, "SELECT 1 FROM id_project WHERE id = ?");
	if (!st)
		return false;
	kstmt_bind_text(st, 1, id);
	return kstmt_step(st) == KDB_ROW;
}

void id_domain_create_from(kreq *r, const json_t *body, bool project_shape)
{
	char idbuf[33];
	const char *id = kjson_str(body, "explicit_domain_id");
	if (!id) {
		kutil_uuid_hex(idbuf);
		id = idbuf;
	}
	const char *name = strip(r->pool, kjson_str(body, "name"));
	if (id_taken(id)) {
		id_conflict(r, "domain", "Duplicate ID, %s.", id);
		return;
	}
	const char *desc = json_is_null(json_object_get(body, "description"))
		? NULL : (kjson_str(body, "description") ? kjson_str(body, "description") : "");
	bool enabled = id_bool_value(json_object_get(body, "enabled"), true);
	_cleanup_free_ char *extra = idstore_extra_text(body, domain_known);
	json_t *opts = json_object_get(body, "options");
	_cleanup_free_ char *options = opts ? idstore_options_text(NULL, opts) : NULL;
	json_t *tags = json_object_get(body, "tags");

	kdb_begin(id_db);
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_project (id, name, domain_id, parent_id, is_domain,"
			 " enabled, description, extra, options, created_at)"
			 " VALUES (?, ?, ?, NULL, 1, ?, ?, ?, ?, ?)",
			 "sssbsssi", id, name, ID_DOMAIN_ROOT, enabled, desc, extra, options,
			 kutil_now_us());
	if (rc == KDB_DONE && tags && id_tags_write(id, tags) != 0)
		rc = KDB_ERROR;
	if (rc != KDB_DONE) {
		kdb_rollback(id_db);
		if (rc == KDB_CONSTRAINT)
			id_conflict(r, "project", "it is not permitted to have two projects "
				     "acting as domains with the same name: %s", name);
		else
			id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created domain %s", id);
	reply(r, 201, id, project_shape);
}

/* The extra and options texts of an id_project row (malloc'd, or NULL). */
static void row_texts(const char *id, char **extra, char **options)
{
	*extra = *options = NULL;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT extra, options FROM id_project WHERE id = ?");
	if (!st)
		return;
	kstmt_bind_text(st, 1, id);
	if (kstmt_step(st) != KDB_ROW)
		return;
	*extra = kstmt_text(st, 0) ? strdup(kstmt_text(st, 0)) : NULL;
	*options = kstmt_text(st, 1) ? strdup(kstmt_text(st, 1)) : NULL;
}

void id_domain_update_from(kreq *r, const json_t *cur, const json_t *body, bool project_shape)
{
	const char *id = kjson_str(cur, "id");
	if (id_immutable_update_refused(r, cur, body, "domain"))
		return;
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	const char *name = kjson_str(cur, "name");
	if (json_object_get(body, "name"))
		name = strip(r->pool, kjson_str(body, "name"));
	const char *desc = kjson_str(cur, "description");
	if (json_object_get(body, "description"))
		desc = kjson_str(body, "description");
	bool was_enabled = json_is_true(json_object_get(cur, "enabled"));
	bool enabled = id_bool_value(json_object_get(body, "enabled"), was_enabled);
	if (json_is_null(json_object_get(body, "enabled")))
		enabled = was_enabled;
	_cleanup_free_ char *old_extra = NULL, *old_options = NULL;
	row_texts(id, &old_extra, &old_options);
	_cleanup_free_ char *extra = idstore_extra_update(old_extra, body, domain_known);
	_cleanup_json_ json_t *none = json_object();
	json_t *opts = json_object_get(body, "options");
	_cleanup_free_ char *options = idstore_options_text(old_options, opts ? opts : none);
	json_t *tags = json_object_get(body, "tags");

	kdb_begin(id_db);
	int rc = kdb_run(id_db, NULL,
			 "UPDATE id_project SET name = ?, description = ?, enabled = ?, extra = ?,"
			 " options = ? WHERE id = ?", "ssbsss", name, desc, enabled, extra, options,
			 id);
	if (rc == KDB_DONE && tags && id_tags_write(id, tags) != 0)
		rc = KDB_ERROR;
	if (rc != KDB_DONE) {
		kdb_rollback(id_db);
		if (rc == KDB_CONSTRAINT)
			id_conflict(r, "project", "it is not permitted to have two projects "
				     "acting as domains with the same name: %s", name);
		else
			id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	if (was_enabled && !enabled)
		idtoken_revoke_domain(id);
	reply(r, 200, id, project_shape);
}

/* Ids of the rows `sql` selects for one parameter. */
static json_t *ids(const char *sql, const char *arg)
{
	json_t *out = json_array();
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, sql);
	if (!st)
		return out;
	kstmt_bind_text(st, 1, arg);
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(out, json_string(kstmt_text(st, 0)));
	return out;
}

void id_domain_delete_row(kreq *r, const json_t *cur)
{
	const char *id = kjson_str(cur, "id");
	if (id_immutable_delete_refused(r, cur, "domain"))
		return;
	if (json_is_true(json_object_get(cur, "enabled"))) {
		kresp_error(r, 403, "Cannot delete a domain that is enabled, please disable it "
		    "first.");
		return;
	}
	_cleanup_json_ json_t *users = ids("SELECT id FROM id_user WHERE domain_id = ?", id);
	_cleanup_json_ json_t *projects = ids(
		"SELECT id FROM id_project WHERE domain_id = ? AND is_domain = 0", id);

	static const char *const steps[] = {
		"DELETE FROM id_assignment WHERE target_id IN"
		" (SELECT id FROM id_project WHERE domain_id = ? AND is_domain = 0)",
		"DELETE FROM id_project_tag WHERE project_id IN"
		" (SELECT id FROM id_project WHERE domain_id = ? AND is_domain = 0)",
		"DELETE FROM id_assignment WHERE actor_id IN"
		" (SELECT id FROM id_user WHERE domain_id = ?)",
		"DELETE FROM id_assignment WHERE actor_id IN"
		" (SELECT id FROM id_group WHERE domain_id = ?)",
		"DELETE FROM id_user_group WHERE user_id IN"
		" (SELECT id FROM id_user WHERE domain_id = ?)",
		"DELETE FROM id_user_group WHERE group_id IN"
		" (SELECT id FROM id_group WHERE domain_id = ?)",
		"DELETE FROM id_assignment WHERE role_id IN"
		" (SELECT id FROM id_role WHERE domain_id = ?)",
		"DELETE FROM id_implied_role WHERE prior_role_id IN"
		" (SELECT id FROM id_role WHERE domain_id = ?)",
		"DELETE FROM id_implied_role WHERE implied_role_id IN"
		" (SELECT id FROM id_role WHERE domain_id = ?)",
		"DELETE FROM id_role WHERE domain_id = ?",
		"DELETE FROM id_credential WHERE user_id IN"
		" (SELECT id FROM id_user WHERE domain_id = ?)",
		"DELETE FROM id_credential WHERE project_id IN"
		" (SELECT id FROM id_project WHERE domain_id = ? AND is_domain = 0)",
		"DELETE FROM id_limit WHERE project_id IN"
		" (SELECT id FROM id_project WHERE domain_id = ? AND is_domain = 0)",
		"DELETE FROM id_project_endpoint WHERE project_id IN"
		" (SELECT id FROM id_project WHERE domain_id = ? AND is_domain = 0)",
		"DELETE FROM id_project_endpoint_group WHERE project_id IN"
		" (SELECT id FROM id_project WHERE domain_id = ? AND is_domain = 0)",
		"DELETE FROM id_user WHERE domain_id = ?",
		"DELETE FROM id_group WHERE domain_id = ?",
		"DELETE FROM id_project WHERE domain_id = ? AND is_domain = 0",
		"DELETE FROM id_assignment WHERE target_id = ?",
		"DELETE FROM id_project_tag WHERE project_id = ?",
		"DELETE FROM id_domain_config WHERE domain_id = ?",
		"DELETE FROM id_limit WHERE domain_id = ?",
		"DELETE FROM id_project_endpoint WHERE project_id = ?",
		"DELETE FROM id_project WHERE id = ?",
	};
	kdb_begin(id_db);
	size_t i;
	json_t *v;
	bool failed = false;
	json_array_foreach(users, i, v)
		failed = failed || idstore_appcreds_delete(json_string_value(v), NULL) != 0;
	json_array_foreach(projects, i, v)
		failed = failed || idstore_appcreds_delete(NULL, json_string_value(v)) != 0;
	for (i = 0; i < ARRAY_SIZE(steps) && !failed; i++)
		failed = kdb_run(id_db, NULL, steps[i], "s", id) != KDB_DONE;
	if (failed) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "deleted domain %s", id);
	idtoken_revoke_domain(id);
	json_array_foreach(users, i, v)
		idtoken_revoke_user(json_string_value(v));
	json_array_foreach(projects, i, v)
		idtoken_revoke_project(json_string_value(v));
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* handlers */

void id_domains_list(kreq *r)
{
	const char *scope = id_scope_domain(r);
	_cleanup_json_ json_t *target = scope
		? json_pack("{s:{s:{s:s}}}", "target", "domain", "id", scope) : NULL;
	if (!id_enforce(r, "identity:list_domains", target))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " IDSTORE_PROJECT_COLS " FROM id_project");
	id_sql_and(&q, "is_domain = 1", NULL);
	if (kreq_query(r, "name"))
		id_sql_and(&q, "name = ?", kreq_query(r, "name"));
	if (kreq_query(r, "enabled"))
		id_sql_and(&q, id_query_true(kreq_query(r, "enabled")) ? "enabled = 1"
								     : "enabled = 0", NULL);
	if (scope)
		id_sql_and(&q, "id = ?", scope);
	id_sql_append(&q, "ORDER BY name, id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	id_inexact nf;
	id_inexact_init(r, "name", &nf);
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW) {
		json_t *d = idstore_domain_from_row(st);
		json_object_set_new(d, "tags", idstore_project_tags(kjson_str(d, "id")));
		if (!id_inexact_ok(&nf, kjson_str(d, "name"))) {
			json_decref(d);
			continue;
		}
		json_array_append_new(arr, id_links(r, d, "domains", kjson_str(d, "id")));
	}
	kresp_json(r, 200, id_list(r, "domains", arr));
}

void id_domains_create(kreq *r)
{
	json_t *body = id_body_member(r, "domain");
	if (!body)
		return;
	if (!id_validate(r, "domain", body, domain_create_fields,
			  ARRAY_SIZE(domain_create_fields), true, 0))
		return;
	_cleanup_json_ json_t *target = json_pack("{s:{s:O}}", "target", "domain", body);
	if (!id_enforce(r, "identity:create_domain", target))
		return;
	id_domain_create_from(r, body, false);
}

/* The domain of the path, after policy; NULL when answered. */
static json_t *path_domain(kreq *r, const char *action)
{
	const char *id = kreq_param(r, "domain_id");
	json_t *dom = idstore_domain_get(id);
	_cleanup_json_ json_t *target = json_pack("{s:s,s:{s:O}}", "domain_id", id, "target",
						  "domain", dom ? dom : json_null());
	if (!id_enforce(r, action, target)) {
		json_decref(dom);
		return NULL;
	}
	if (!dom)
		id_not_found(r, "domain", id);
	return dom;
}

void id_domain_get(kreq *r)
{
	json_t *dom = path_domain(r, "identity:get_domain");
	if (!dom)
		return;
	const char *id = kjson_str(dom, "id");
	kresp_json(r, 200, json_pack("{s:o}", "domain", id_links(r, dom, "domains", id)));
}

void id_domain_update(kreq *r)
{
	json_t *body = id_body_member(r, "domain");
	if (!body)
		return;
	if (!id_validate(r, "domain", body, domain_update_fields,
			  ARRAY_SIZE(domain_update_fields), true, 1))
		return;
	_cleanup_json_ json_t *dom = path_domain(r, "identity:update_domain");
	if (!dom)
		return;
	_cleanup_json_ json_t *cur = idstore_project_any(kjson_str(dom, "id"));
	if (!cur) {
		id_not_found(r, "domain", kjson_str(dom, "id"));
		return;
	}
	id_domain_update_from(r, cur, body, false);
}

void id_domain_delete(kreq *r)
{
	_cleanup_json_ json_t *dom = path_domain(r, "identity:delete_domain");
	if (!dom)
		return;
	id_domain_delete_row(r, dom);
}
