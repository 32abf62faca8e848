/*
 * groups.c - /v3/groups and group membership.
 *
 * A group carries role assignments for all its members.  Removing a member
 * or deleting a group changes what roles users have, so the affected users'
 * tokens are revoked (Keystone does the same through its "invalidate user
 * token persistence" notification); deleting a group also removes its
 * memberships and its role assignments in one transaction.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

static const char *const group_known[] = {
	"id", "name", "domain_id", "description", "links", NULL
};

static const id_field group_create_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, true },
	{ "domain_id", ID_F_ID, 0, 0, false, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
};

static const id_field group_update_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, false },
	{ "domain_id", ID_F_ID, 0, 0, false, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
};

static void reply(kreq *r, int status, const char *id)
{
	json_t *g = idstore_group_get(id);
	if (!g) {
		id_internal(r);
		return;
	}
	kresp_json(r, status, json_pack("{s:o}", "group", id_links(r, g, "groups", id)));
}

/* The group (and, for member routes, the user) of the path after policy.
 * Returns the group, or NULL when answered; *user gets the user. */
static json_t *path_group(kreq *r, const char *action, json_t **user)
{
	const char *gid = kreq_param(r, "group_id");
	const char *uid = user ? kreq_param(r, "user_id") : NULL;
	json_t *g = idstore_group_get(gid);
	json_t *u = uid ? idstore_user_get(uid) : NULL;
	_cleanup_json_ json_t *target = json_pack("{s:s,s:{s:O}}", "group_id", gid, "target",
						  "group", g ? g : json_null());
	if (uid) {
		json_object_set_new(target, "user_id", json_string(uid));
		json_object_set(json_object_get(target, "target"), "user", u ? u : json_null());
	}
	if (!id_enforce(r, action, target)) {
		json_decref(g);
		json_decref(u);
		return NULL;
	}
	if (!g) {
		json_decref(u);
		id_not_found(r, "group", gid);
		return NULL;
	}
	if (uid && !u) {
		json_decref(g);
		id_not_found(r, "user", uid);
		return NULL;
	}
	if (user)
		*user = u;
	return g;
}

void id_groups_list(kreq *r)
{
	const char *scope = id_scope_domain(r);
	_cleanup_json_ json_t *target = scope
		? json_pack("{s:s,s:{s:{s:s}}}", "domain_id", scope, "target", "group",
			    "domain_id", scope) : NULL;
	if (!id_enforce(r, "identity:list_groups", target))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " IDSTORE_GROUP_COLS " FROM id_group");
	if (kreq_query(r, "name"))
		id_sql_and(&q, "name = ?", kreq_query(r, "name"));
	if (kreq_query(r, "domain_id"))
		id_sql_and(&q, "domain_id = ?", kreq_query(r, "domain_id"));
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
		json_t *g = idstore_group_from_row(st);
		if (!id_inexact_ok(&nf, kjson_str(g, "name"))) {
			json_decref(g);
			continue;
		}
		json_array_append_new(arr, id_links(r, g, "groups", kjson_str(g, "id")));
	}
	kresp_json(r, 200, id_list(r, "groups", arr));
}

void id_groups_create(kreq *r)
{
	json_t *body = id_body_member(r, "group");
	if (!body)
		return;
	if (!id_validate(r, "group", body, group_create_fields, ARRAY_SIZE(group_create_fields),
			  true, 0))
		return;
	_cleanup_json_ json_t *target = json_pack("{s:{s:O}}", "target", "group", body);
	if (!id_enforce(r, "identity:create_group", target))
		return;
	const char *domain_id = kjson_str(body, "domain_id");
	if (!domain_id)
		domain_id = id_default_domain(r);
	_cleanup_json_ json_t *domain = idstore_domain_get(domain_id);
	if (!domain) {
		id_not_found(r, "domain", domain_id);
		return;
	}
	char id[33];
	kutil_uuid_hex(id);
	const char *name = kjson_str(body, "name");
	_cleanup_free_ char *extra = idstore_extra_text(body, group_known);
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_group (id, name, domain_id, description, extra)"
			 " VALUES (?, ?, ?, ?, ?)", "sssss", id, name, domain_id,
			 json_object_get(body, "description") ? kjson_str(body, "description") : "",
			 extra);
	if (rc == KDB_CONSTRAINT) {
		id_conflict(r, "group", "Duplicate entry found with name %s at domain ID %s", name,
			     domain_id);
		return;
	}
	if (rc != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created group %s in domain %s", id, domain_id);
	reply(r, 201, id);
}

void id_group_get(kreq *r)
{
	json_t *g = path_group(r, "identity:get_group", NULL);
	if (!g)
		return;
	const char *id = kjson_str(g, "id");
	kresp_json(r, 200, json_pack("{s:o}", "group", id_links(r, g, "groups", id)));
}

void id_group_update(kreq *r)
{
	json_t *body = id_body_member(r, "group");
	if (!body)
		return;
	if (!id_validate(r, "group", body, group_update_fields, ARRAY_SIZE(group_update_fields),
			  true, 1))
		return;
	_cleanup_json_ json_t *g = path_group(r, "identity:update_group", NULL);
	if (!g)
		return;
	const char *id = kjson_str(g, "id");
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	json_t *dv = json_object_get(body, "domain_id");
	if (dv && !json_equal(dv, json_object_get(g, "domain_id"))) {
		id_bad_request(r, "Cannot change Domain ID");
		return;
	}
	_cleanup_free_ char *old_extra = NULL;
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT extra FROM id_group WHERE id = ?");
		if (st) {
			kstmt_bind_text(st, 1, id);
			if (kstmt_step(st) == KDB_ROW && kstmt_text(st, 0))
				old_extra = strdup(kstmt_text(st, 0));
		}
	}
	_cleanup_free_ char *extra = idstore_extra_update(old_extra, body, group_known);
	const char *name = json_object_get(body, "name") ? kjson_str(body, "name")
							 : kjson_str(g, "name");
	const char *desc = json_object_get(body, "description") ? kjson_str(body, "description")
								 : kjson_str(g, "description");
	int rc = kdb_run(id_db, NULL,
			 "UPDATE id_group SET name = ?, description = ?, extra = ? WHERE id = ?",
			 "ssss", name, desc, extra, id);
	if (rc == KDB_CONSTRAINT) {
		id_conflict(r, "group", "Duplicate entry found with name %s at domain ID %s", name,
			     kjson_str(g, "domain_id"));
		return;
	}
	if (rc != KDB_DONE) {
		id_internal(r);
		return;
	}
	reply(r, 200, id);
}

static bool has_assignments(const char *group_id)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT 1 FROM id_assignment WHERE actor_id = ? AND type IN"
		" ('GroupProject', 'GroupDomain', 'GroupSystem')");
	if (!st)
		return true;
	kstmt_bind_text(st, 1, group_id);
	return kstmt_step(st) == KDB_ROW;
}

void id_group_delete(kreq *r)
{
	_cleanup_json_ json_t *g = path_group(r, "identity:delete_group", NULL);
	if (!g)
		return;
	const char *id = kjson_str(g, "id");
	_cleanup_json_ json_t *members = idstore_group_member_ids(id);
	bool had_roles = has_assignments(id);
	kdb_begin(id_db);
	if (kdb_run(id_db, NULL, "DELETE FROM id_user_group WHERE group_id = ?", "s", id)
	    != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_assignment WHERE actor_id = ? AND type IN"
		    " ('GroupProject', 'GroupDomain', 'GroupSystem')", "s", id) != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_group WHERE id = ?", "s", id) != KDB_DONE) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "deleted group %s", id);
	if (had_roles) {
		size_t i;
		json_t *v;
		json_array_foreach(members, i, v)
			idtoken_revoke_user(json_string_value(v));
	}
	kresp_status(r, 204);
}

void id_group_users(kreq *r)
{
	_cleanup_json_ json_t *g = path_group(r, "identity:list_users_in_group", NULL);
	if (!g)
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT u.id, u.name, u.domain_id, u.enabled,"
		    " u.default_project_id, u.description, u.extra, u.options,"
		    " u.password_expires_at FROM id_user u, id_user_group m");
	id_sql_and(&q, "m.user_id = u.id", NULL);
	id_sql_and(&q, "m.group_id = ?", kjson_str(g, "id"));
	if (kreq_query(r, "name"))
		id_sql_and(&q, "u.name = ?", kreq_query(r, "name"));
	if (kreq_query(r, "domain_id"))
		id_sql_and(&q, "u.domain_id = ?", kreq_query(r, "domain_id"));
	if (kreq_query(r, "enabled"))
		id_sql_and(&q, id_query_true(kreq_query(r, "enabled")) ? "u.enabled = 1"
								     : "u.enabled = 0", NULL);
	id_sql_append(&q, "ORDER BY u.name, u.id");
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

void id_group_member_put(kreq *r)
{
	json_t *u = NULL;
	_cleanup_json_ json_t *g = path_group(r, "identity:add_user_to_group", &u);
	_cleanup_json_ json_t *user = u;
	if (!g)
		return;
	int rc = kdb_run(id_db, NULL, "INSERT INTO id_user_group (user_id, group_id) VALUES (?, ?)",
			 "ss", kjson_str(user, "id"), kjson_str(g, "id"));
	if (rc != KDB_DONE && rc != KDB_CONSTRAINT) {
		id_internal(r);
		return;
	}
	idtoken_invalidate_cache();     /* the group's roles show in tokens at once */
	kresp_status(r, 204);
}

void id_group_member_check(kreq *r)
{
	json_t *u = NULL;
	_cleanup_json_ json_t *g = path_group(r, "identity:check_user_in_group", &u);
	_cleanup_json_ json_t *user = u;
	if (!g)
		return;
	if (!idstore_user_in_group(kjson_str(user, "id"), kjson_str(g, "id"))) {
		kresp_error(r, 404, "'%s' not found in group '%s'", kjson_str(user, "id"),
			    kjson_str(g, "id"));
		return;
	}
	kresp_status(r, 204);
}

void id_group_member_delete(kreq *r)
{
	json_t *u = NULL;
	_cleanup_json_ json_t *g = path_group(r, "identity:remove_user_from_group", &u);
	_cleanup_json_ json_t *user = u;
	if (!g)
		return;
	int64_t n = 0;
	if (kdb_run(id_db, &n, "DELETE FROM id_user_group WHERE user_id = ? AND group_id = ?",
		    "ss", kjson_str(user, "id"), kjson_str(g, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	if (n == 0) {
		kresp_error(r, 404, "'%s' not found in group '%s'", kjson_str(user, "id"),
			    kjson_str(g, "id"));
		return;
	}
	idtoken_revoke_user(kjson_str(user, "id"));
	kresp_status(r, 204);
}
