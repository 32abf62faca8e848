/*
 * users.c - /v3/users, a user's password, projects and groups.
 *
 * Passwords are write-only: stored as a bcrypt hash (store.c) and never
 * returned.  Attributes Keystone has no column for ("email"...) are kept in
 * "extra" and shown back, as Keystone does.  User options are an object
 * merged on update (a null value removes an option).
 *
 * POST /v3/users/{id}/password is Keystone's self-service password change:
 * no token is needed, the original password is the credential (401 when it
 * does not match, the same for unknown users, so nothing is revealed).
 * Disabling a user, deleting it, or changing its password revokes its
 * tokens; disabling or deleting it also deletes its application
 * credentials.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

static const char *const user_known[] = {
	"id", "name", "domain_id", "default_project_id", "description", "enabled", "password",
	"options", "federated", "links", "password_expires_at", NULL
};

static const id_field user_create_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, true },
	{ "domain_id", ID_F_ID, 0, 0, false, false },
	{ "default_project_id", ID_F_ID_NULL, 0, 0, false, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
	{ "password", ID_F_STRING_NULL, 0, 4096, false, false },
	{ "options", ID_F_OPTIONS_USER, 0, 0, false, false },
	{ "federated", ID_F_ARRAY, 0, 0, false, false },
};

static const id_field user_update_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, false },
	{ "domain_id", ID_F_ID, 0, 0, false, false },
	{ "default_project_id", ID_F_ID_NULL, 0, 0, false, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
	{ "password", ID_F_STRING_NULL, 0, 4096, false, false },
	{ "options", ID_F_OPTIONS_USER, 0, 0, false, false },
	{ "federated", ID_F_ARRAY, 0, 0, false, false },
};

static void reply(kreq *r, int status, const char *id)
{
	json_t *u = idstore_user_get(id);
	if (!u) {
		id_internal(r);
		return;
	}
	kresp_json(r, status, json_pack("{s:o}", "user", id_links(r, u, "users", id)));
}

/* The user of the path after policy; NULL when answered. */
static json_t *path_user(kreq *r, const char *action)
{
	const char *id = kreq_param(r, "user_id");
	json_t *u = idstore_user_get(id);
	_cleanup_json_ json_t *target = json_pack("{s:s,s:{s:O}}", "user_id", id, "target",
						  "user", u ? u : json_null());
	if (!id_enforce(r, action, target)) {
		json_decref(u);
		return NULL;
	}
	if (!u)
		id_not_found(r, "user", id);
	return u;
}

/* "federated": [{"idp_id": s, "protocols": [{"protocol_id": s, "unique_id": s}, ...]}]
 * (Keystone's schema; the value itself is not stored). */
static bool federated_ok(kreq *r, const json_t *body)
{
	json_t *fed = json_object_get(body, "federated");
	size_t i, j;
	json_t *idp, *proto;
	json_array_foreach(fed, i, idp) {
		json_t *protos = json_object_get(idp, "protocols");
		const char *why = !json_is_object(idp) ? "is not of type 'object'"
			: !json_is_string(json_object_get(idp, "idp_id"))
			? "needs 'idp_id' (a string)"
			: !json_is_array(protos) || json_array_size(protos) < 1
			? "needs 'protocols' (a non-empty array)" : NULL;
		json_array_foreach(protos, j, proto) {
			if (why)
				break;
			if (!json_is_object(proto) ||
			    !json_is_string(json_object_get(proto, "protocol_id")) ||
			    !json_is_string(json_object_get(proto, "unique_id")))
				why = "has a protocol without 'protocol_id' and "
				      "'unique_id' strings";
		}
		if (why) {
			id_field_error(r, "federated", idp, kpool_printf(r->pool,
				       "The identity provider entry %s", why));
			return false;
		}
	}
	return true;
}

/* A default project must not be a domain (400, as in Keystone). */
static bool default_project_ok(kreq *r, const json_t *body)
{
	const char *pid = kjson_str(body, "default_project_id");
	if (!pid)
		return true;
	_cleanup_json_ json_t *p = idstore_project_any(pid);
	if (p && json_is_true(json_object_get(p, "is_domain"))) {
		id_bad_request(r, "User's default project ID cannot be a domain ID: %s", pid);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */

void id_users_list(kreq *r)
{
	const char *scope = id_scope_domain(r);
	_cleanup_json_ json_t *target = scope ? json_pack("{s:s}", "domain_id", scope) : NULL;
	if (!id_enforce(r, "identity:list_users", target))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " IDSTORE_USER_COLS " FROM id_user");
	if (kreq_query(r, "name"))
		id_sql_and(&q, "name = ?", kreq_query(r, "name"));
	if (kreq_query(r, "domain_id"))
		id_sql_and(&q, "domain_id = ?", kreq_query(r, "domain_id"));
	if (kreq_query(r, "enabled"))
		id_sql_and(&q, id_query_true(kreq_query(r, "enabled")) ? "enabled = 1"
								     : "enabled = 0", NULL);
	if (scope)
		id_sql_and(&q, "domain_id = ?", scope);
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
		json_t *u = idstore_user_from_row(st);
		if (!id_inexact_ok(&nf, kjson_str(u, "name"))) {
			json_decref(u);
			continue;
		}
		json_array_append_new(arr, id_links(r, u, "users", kjson_str(u, "id")));
	}
	kresp_json(r, 200, id_list(r, "users", arr));
}

void id_users_create(kreq *r)
{
	json_t *body = id_body_member(r, "user");
	if (!body)
		return;
	if (!id_validate(r, "user", body, user_create_fields, ARRAY_SIZE(user_create_fields),
			  true, 0) || !federated_ok(r, body))
		return;
	_cleanup_json_ json_t *target = json_pack("{s:{s:O}}", "target", "user", body);
	if (!id_enforce(r, "identity:create_user", target))
		return;
	const char *domain_id = kjson_str(body, "domain_id");
	if (!domain_id)
		domain_id = id_default_domain(r);
	_cleanup_json_ json_t *domain = idstore_domain_get(domain_id);
	if (!domain) {
		id_not_found(r, "domain", domain_id);
		return;
	}
	if (!default_project_ok(r, body))
		return;
	_cleanup_free_ char *hash = NULL;
	const char *pw = kjson_str(body, "password");
	if (pw && !(hash = idstore_hash_password(pw))) {
		id_internal(r);
		return;
	}
	char id[33];
	kutil_uuid_hex(id);
	const char *name = kjson_str(body, "name");
	_cleanup_free_ char *extra = idstore_extra_text(body, user_known);
	json_t *opts = json_object_get(body, "options");
	_cleanup_free_ char *options = opts ? idstore_options_text(NULL, opts) : NULL;
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_user (id, name, domain_id, password_hash, enabled,"
			 " default_project_id, description, extra, options, created_at,"
			 " password_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
			 "ssssbssssi", id, name, domain_id, hash,
			 id_bool_value(json_object_get(body, "enabled"), true),
			 kjson_str(body, "default_project_id"), kjson_str(body, "description"),
			 extra, options, kutil_now_us());
	if (rc == KDB_CONSTRAINT) {
		id_conflict(r, "user", "Duplicate entry found with name %s at domain ID %s", name,
			     domain_id);
		return;
	}
	if (rc != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created user %s in domain %s", id, domain_id);
	reply(r, 201, id);
}

void id_user_get(kreq *r)
{
	json_t *u = path_user(r, "identity:get_user");
	if (!u)
		return;
	const char *id = kjson_str(u, "id");
	kresp_json(r, 200, json_pack("{s:o}", "user", id_links(r, u, "users", id)));
}

static int row_texts(const char *id, char **extra, char **options)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT extra, options FROM id_user WHERE id = ?");
	if (!st)
		return -1;
	kstmt_bind_text(st, 1, id);
	if (kstmt_step(st) != KDB_ROW)
		return -1;
	*extra = kstmt_text(st, 0) ? strdup(kstmt_text(st, 0)) : NULL;
	*options = kstmt_text(st, 1) ? strdup(kstmt_text(st, 1)) : NULL;
	return 0;
}

void id_user_update(kreq *r)
{
	json_t *body = id_body_member(r, "user");
	if (!body)
		return;
	if (!id_validate(r, "user", body, user_update_fields, ARRAY_SIZE(user_update_fields),
			  true, 1) || !federated_ok(r, body))
		return;
	_cleanup_json_ json_t *u = path_user(r, "identity:update_user");
	if (!u)
		return;
	const char *id = kjson_str(u, "id");
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	json_t *dv = json_object_get(body, "domain_id");
	if (dv && !json_equal(dv, json_object_get(u, "domain_id"))) {
		id_bad_request(r, "Cannot change Domain ID");
		return;
	}
	if (!default_project_ok(r, body))
		return;

	_cleanup_free_ char *old_extra = NULL, *old_options = NULL;
	if (row_texts(id, &old_extra, &old_options) != 0) {
		id_not_found(r, "user", id);
		return;
	}
	const char *name = json_object_get(body, "name") ? kjson_str(body, "name")
							 : kjson_str(u, "name");
	bool was_enabled = json_is_true(json_object_get(u, "enabled"));
	json_t *ev = json_object_get(body, "enabled");
	bool enabled = ev && !json_is_null(ev) ? id_bool_value(ev, true) : was_enabled;
	const char *dpid = json_object_get(body, "default_project_id")
		? kjson_str(body, "default_project_id") : kjson_str(u, "default_project_id");
	const char *desc = json_object_get(body, "description")
		? kjson_str(body, "description") : kjson_str(u, "description");
	_cleanup_free_ char *extra = idstore_extra_update(old_extra, body, user_known);
	json_t *opts = json_object_get(body, "options");
	_cleanup_free_ char *options = opts ? idstore_options_text(old_options, opts) : NULL;

	kdb_begin(id_db);
	int rc = kdb_run(id_db, NULL,
			 "UPDATE id_user SET name = ?, enabled = ?, default_project_id = ?,"
			 " description = ?, extra = ? WHERE id = ?", "sbssss",
			 name, enabled, dpid, desc, extra, id);
	if (rc == KDB_DONE && options)
		rc = kdb_run(id_db, NULL, "UPDATE id_user SET options = ? WHERE id = ?", "ss",
			     options, id);
	bool pw_changed = json_object_get(body, "password") != NULL;
	if (rc == KDB_DONE && pw_changed) {
		const char *pw = kjson_str(body, "password");
		_cleanup_free_ char *hash = pw ? idstore_hash_password(pw) : NULL;
		if (pw && !hash)
			rc = KDB_ERROR;
		else
			rc = kdb_run(id_db, NULL,
				     "UPDATE id_user SET password_hash = ? WHERE id = ?", "ss",
				     hash, id);
	}
	if (rc != KDB_DONE) {
		kdb_rollback(id_db);
		if (rc == KDB_CONSTRAINT)
			id_conflict(r, "user", "Duplicate entry found with name %s at domain "
				     "ID %s", name, kjson_str(u, "domain_id"));
		else
			id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	if (was_enabled && !enabled)
		idstore_appcreds_delete(id, NULL);    /* as Keystone does */
	if ((was_enabled && !enabled) || pw_changed)
		idtoken_revoke_user(id);
	reply(r, 200, id);
}

void id_user_delete(kreq *r)
{
	_cleanup_json_ json_t *u = path_user(r, "identity:delete_user");
	if (!u)
		return;
	const char *id = kjson_str(u, "id");
	kdb_begin(id_db);
	if (kdb_run(id_db, NULL, "DELETE FROM id_user_group WHERE user_id = ?", "s", id)
	    != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_assignment WHERE actor_id = ? AND type IN"
		    " ('UserProject', 'UserDomain', 'UserSystem')", "s", id) != KDB_DONE ||
	    idstore_appcreds_delete(id, NULL) != 0 ||
	    kdb_run(id_db, NULL, "DELETE FROM id_credential WHERE user_id = ?", "s", id)
	    != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_user WHERE id = ?", "s", id) != KDB_DONE) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "deleted user %s", id);
	idtoken_revoke_user(id);
	kresp_status(r, 204);
}

void id_user_password(kreq *r)
{
	json_t *body = id_body_member(r, "user");
	if (!body)
		return;
	static const id_field fields[] = {
		{ "original_password", ID_F_STRING, 0, 4096, false, true },
		{ "password", ID_F_STRING, 0, 4096, false, true },
	};
	if (!id_validate(r, "user", body, fields, ARRAY_SIZE(fields), false, 0))
		return;
	const char *id = kreq_param(r, "user_id");
	if (idstore_user_check_password(id, kjson_str(body, "original_password")) != 0) {
		kresp_error(r, 401, "Error when changing user password: Invalid user / password");
		return;
	}
	_cleanup_free_ char *hash = idstore_hash_password(kjson_str(body, "password"));
	if (!hash || kdb_run(id_db, NULL, "UPDATE id_user SET password_hash = ? WHERE id = ?",
			     "ss", hash, id) != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "user %s changed its password", id);
	idtoken_revoke_user(id);
	kresp_status(r, 204);
}

void id_user_projects(kreq *r)
{
	_cleanup_json_ json_t *u = path_user(r, "identity:list_user_projects");
	if (!u)
		return;
	_cleanup_json_ json_t *all = idstore_user_projects(kjson_str(u, "id"));
	const char *name = kreq_query(r, "name"), *dom = kreq_query(r, "domain_id");
	const char *en = kreq_query(r, "enabled");
	json_t *arr = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(all, i, p) {
		if (name && strcmp(name, kjson_str(p, "name")) != 0)
			continue;
		if (dom && strcmp(dom, kjson_str(p, "domain_id")) != 0)
			continue;
		if (en && id_query_true(en) != json_is_true(json_object_get(p, "enabled")))
			continue;
		json_array_append_new(arr, id_links(r, json_incref(p), "projects",
						    kjson_str(p, "id")));
	}
	kresp_json(r, 200, id_list(r, "projects", arr));
}

void id_user_groups(kreq *r)
{
	_cleanup_json_ json_t *u = path_user(r, "identity:list_groups_for_user");
	if (!u)
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT g.id, g.name, g.domain_id, g.description, g.extra"
		 " FROM id_group g, id_user_group m");
	id_sql_and(&q, "m.group_id = g.id", NULL);
	id_sql_and(&q, "m.user_id = ?", kjson_str(u, "id"));
	if (kreq_query(r, "name"))
		id_sql_and(&q, "g.name = ?", kreq_query(r, "name"));
	if (id_scope_domain(r))
		id_sql_and(&q, "g.domain_id = ?", id_scope_domain(r));
	id_sql_append(&q, "ORDER BY g.name, g.id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	id_inexact nf;
	id_inexact_init(r, "name", &nf);
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW) {
		json_t *g = idstore_group_from_row(st);
		if (!id_inexact_ok(&nf, kjson_str(g, "name"))) {
			json_decref(g);
			continue;
		}
		/* memberships never expire here (no federated group mappings) */
		json_object_set_new(g, "membership_expires_at", json_null());
		json_array_append_new(arr, id_links(r, g, "groups", kjson_str(g, "id")));
	}
	kresp_json(r, 200, id_list(r, "groups", arr));
}
