/*
 * appcreds.c - application credentials and their access rules:
 * /v3/users/{user_id}/application_credentials and
 * /v3/users/{user_id}/access_rules, and the lookups the token code needs.
 *
 * An application credential lets a program act as its user on one project
 * with a subset of the user's roles there, by id (or name and user) and a
 * secret, without the user's password.  Rules kept from Keystone:
 *   - only the user may create one, with a project-scoped token; it gets
 *     the token's project, and the roles asked for (by id or name), each of
 *     which must be in the token and still held by the user on the project,
 *     or by default all the token's roles (400 otherwise);
 *   - the secret is generated (64 random bytes, base64url) unless given; it
 *     is shown once, in the answer to the create, and stored as a bcrypt
 *     hash like a password;
 *   - "expires_at" must lie in the future; tokens of the credential never
 *     outlive it;
 *   - a token issued with a restricted credential (the default) may not
 *     create or delete credentials (403);
 *   - access rules ({service, path, method}) belong to the user; identical
 *     rules are shared between credentials, and a rule in use can't be
 *     deleted (403).  Kumo stores and shows them; enforcing them is the
 *     business of the service that receives the token, as with Keystone.
 * Credentials are deleted with their user, when the user is disabled, when
 * the user loses a role on the project, and with the project.  The token
 * code resolves the credential at each (cached) validation, so a deleted
 * credential's tokens stop working; every change drops that cache.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

#define APPCRED_COLS "id, name, user_id, project_id, description, expires_at, unrestricted"

static const id_field appcred_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, true },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "secret", ID_F_STRING_NULL, 0, 4096, false, false },
	{ "expires_at", ID_F_STRING_NULL, 0, 64, false, false },
	{ "roles", ID_F_ARRAY, 0, 0, false, false },
	{ "unrestricted", ID_F_BOOL, 0, 0, false, false },
	{ "access_rules", ID_F_ARRAY, 0, 0, false, false },
};

/* ------------------------------------------------------------------ */
/* the model */

/* "2030-01-01T10:00:00.000000", Keystone's form for expires_at here. */
static json_t *time_json(int64_t us)
{
	char buf[32];
	kutil_iso8601_us(us, buf);
	size_t n = strlen(buf);
	if (n && buf[n - 1] == 'Z')
		buf[n - 1] = '\0';
	return json_string(buf);
}

static void add_roles(json_t *ac)
{
	json_t *roles = json_array();
	json_object_set_new(ac, "roles", roles);
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT role_id FROM id_app_cred_role WHERE app_cred_id = ? ORDER BY ord, role_id");
	if (!st)
		return;
	kstmt_bind_text(st, 1, kjson_str(ac, "id"));
	_cleanup_json_ json_t *ids = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(ids, json_string(kstmt_text(st, 0)));
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		json_t *role = idstore_role_get(json_string_value(v));
		if (role)
			json_array_append_new(roles, role);
	}
}

static json_t *rule_from_row(kstmt *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(kstmt_text(st, 0)));
	json_object_set_new(o, "service", kstmt_text(st, 1) ? json_string(kstmt_text(st, 1))
							     : json_null());
	json_object_set_new(o, "path", kstmt_text(st, 2) ? json_string(kstmt_text(st, 2))
							  : json_null());
	json_object_set_new(o, "method", kstmt_text(st, 3) ? json_string(kstmt_text(st, 3))
							    : json_null());
	return o;
}

static void add_rules(json_t *ac)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT r.id, r.service, r.path, r.method FROM id_access_rule r,"
		" id_app_cred_access_rule l WHERE l.access_rule_id = r.id AND l.app_cred_id = ?"
		" ORDER BY r.service, r.path, r.method, r.id");
	if (!st)
		return;
	kstmt_bind_text(st, 1, kjson_str(ac, "id"));
	json_t *rules = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(rules, rule_from_row(st));
	if (json_array_size(rules) > 0)
		json_object_set_new(ac, "access_rules", rules);
	else
		json_decref(rules);
}

/* cols: APPCRED_COLS */
static json_t *appcred_from_row(kstmt *st)
{
	json_t *ac = json_object();
	json_object_set_new(ac, "id", json_string(kstmt_text(st, 0)));
	json_object_set_new(ac, "name", json_string(kstmt_text(st, 1)));
	json_object_set_new(ac, "description", kstmt_text(st, 4) ? json_string(kstmt_text(st, 4))
								 : json_null());
	json_object_set_new(ac, "user_id", json_string(kstmt_text(st, 2)));
	json_object_set_new(ac, "project_id", json_string(kstmt_text(st, 3)));
	json_object_set_new(ac, "system", json_null());
	json_object_set_new(ac, "expires_at", kstmt_isnull(st, 5) ? json_null()
				: time_json(kstmt_int(st, 5)));
	json_object_set_new(ac, "unrestricted", kstmt_isnull(st, 6) ? json_null()
				: json_boolean(kstmt_int(st, 6) != 0));
	return ac;
}

static json_t *complete(json_t *ac)
{
	if (ac) {
		add_roles(ac);
		add_rules(ac);
	}
	return ac;
}

json_t *idstore_appcred_get(const char *id)
{
	if (!id)
		return NULL;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT " APPCRED_COLS " FROM id_app_cred WHERE id = ?");
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, id);
	if (kstmt_step(st) != KDB_ROW)
		return NULL;
	json_t *ac = appcred_from_row(st);
	kstmt_done(st);
	st = NULL;
	return complete(ac);
}

json_t *idstore_appcred_by_name(const char *user_id, const char *name)
{
	if (!user_id || !name)
		return NULL;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT " APPCRED_COLS " FROM id_app_cred WHERE user_id = ? AND name = ?");
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, user_id);
	kstmt_bind_text(st, 2, name);
	if (kstmt_step(st) != KDB_ROW)
		return NULL;
	json_t *ac = appcred_from_row(st);
	kstmt_done(st);
	st = NULL;
	return complete(ac);
}

int idstore_appcred_check_secret(const char *appcred_id, const char *secret)
{
	_cleanup_free_ char *stored = NULL;
	if (appcred_id) {
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT secret_hash FROM id_app_cred WHERE id = ?");
		if (st) {
			kstmt_bind_text(st, 1, appcred_id);
			if (kstmt_step(st) == KDB_ROW && kstmt_text(st, 0))
				stored = strdup(kstmt_text(st, 0));
		}
	}
	return idstore_check_secret(secret, stored);
}

int idstore_appcreds_delete(const char *user_id, const char *project_id)
{
	if (!user_id && !project_id)
		return -1;
	const char *where = user_id && project_id ? "user_id = ? AND project_id = ?"
			  : user_id ? "user_id = ?" : "project_id = ?";
	char sub[160], sql[320];
	snprintf(sub, sizeof(sub), "SELECT id FROM id_app_cred WHERE %s", where);
	const char *types = user_id && project_id ? "ss" : "s";
	const char *a = user_id ? user_id : project_id, *b = user_id ? project_id : NULL;
	snprintf(sql, sizeof(sql), "DELETE FROM id_app_cred_role WHERE app_cred_id IN (%s)", sub);
	if (kdb_run(id_db, NULL, sql, types, a, b) != KDB_DONE)
		return -1;
	snprintf(sql, sizeof(sql),
		 "DELETE FROM id_app_cred_access_rule WHERE app_cred_id IN (%s)", sub);
	if (kdb_run(id_db, NULL, sql, types, a, b) != KDB_DONE)
		return -1;
	snprintf(sql, sizeof(sql), "DELETE FROM id_app_cred WHERE %s", where);
	int64_t n = 0;
	if (kdb_run(id_db, &n, sql, types, a, b) != KDB_DONE)
		return -1;
	if (user_id && !project_id &&
	    kdb_run(id_db, NULL, "DELETE FROM id_access_rule WHERE user_id = ?", "s", user_id)
	    != KDB_DONE)
		return -1;
	if (n > 0)
		idtoken_invalidate_cache();
	return 0;
}

/* ------------------------------------------------------------------ */
/* request helpers */

static json_t *appcred_links(kreq *r, json_t *ac)
{
	/* Keystone's self link has no /users/{id} part */
	return id_links(r, ac, "application_credentials", kjson_str(ac, "id"));
}

/* 400 "Invalid application credential: <detail>". */
static void invalid(kreq *r, const char *detail)
{
	kresp_error(r, 400, "Invalid application credential: %s", detail);
}

static bool is_restricted_appcred_token(kreq *r)
{
	const char *acid = idtoken_appcred_id(r->pool, r->ctx);
	if (!acid)
		return false;
	_cleanup_json_ json_t *ac = idstore_appcred_get(acid);
	if (ac && json_is_true(json_object_get(ac, "unrestricted")))
		return false;
	kresp_error(r, 403, "You are not authorized to perform the requested action: Using "
		    "method 'application_credential' is not allowed for managing additional "
		    "application credentials.");
	return true;
}

static bool token_has_role(kreq *r, const char *role_id)
{
	for (size_t i = 0; r->ctx && i < r->ctx->nroles; i++)
		if (r->ctx->role_ids[i] && strcmp(r->ctx->role_ids[i], role_id) == 0)
			return true;
	return false;
}

/* The role ids the credential gets, in order; NULL when answered. */
static json_t *wanted_roles(kreq *r, const json_t *body)
{
	json_t *out = kpool_json(r->pool, json_array());
	json_t *roles = json_object_get(body, "roles");
	if (!roles || json_array_size(roles) == 0) {
		for (size_t i = 0; r->ctx && i < r->ctx->nroles; i++)
			if (r->ctx->role_ids[i])
				json_array_append_new(out, json_string(r->ctx->role_ids[i]));
		return out;
	}
	size_t i;
	json_t *ref;
	json_array_foreach(roles, i, ref) {
		json_t *id = json_object_get(ref, "id"), *name = json_object_get(ref, "name");
		if (!json_is_object(ref) || json_object_size(ref) != 1 || (!id && !name)) {
			id_field_error(r, "roles", ref,
				       "A role is {\"id\": ...} or {\"name\": ...}");
			return NULL;
		}
		if ((id && (!json_is_string(id) || !id_match_id(json_string_value(id)))) ||
		    (name && (!json_is_string(name) || !*json_string_value(name)))) {
			id_field_error(r, "roles", ref, "A role id or name is a non-empty string");
			return NULL;
		}
		const char *rid = id ? json_string_value(id) : NULL;
		_cleanup_free_ char *found = NULL;
		if (!rid) {
			_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
				"SELECT id FROM id_role WHERE name = ? AND domain_id = '"
				ID_NULL_DOMAIN "'");
			if (st) {
				kstmt_bind_text(st, 1, json_string_value(name));
				if (kstmt_step(st) == KDB_ROW)
					found = strdup(kstmt_text(st, 0));
			}
			if (!found) {
				id_not_found(r, "role", json_string_value(name));
				return NULL;
			}
			rid = found;
		}
		if (!token_has_role(r, rid)) {
			invalid(r, "Cannot create an application credential with unassigned role");
			return NULL;
		}
		bool dup = false;
		size_t j;
		json_t *v;
		json_array_foreach(out, j, v)
			dup = dup || strcmp(json_string_value(v), rid) == 0;
		if (!dup)
			json_array_append_new(out, json_string(rid));
	}
	return out;
}

static bool check_rules(kreq *r, const json_t *rules)
{
	static const char *const methods[] = { "POST", "GET", "HEAD", "PATCH", "PUT", "DELETE",
					       NULL };
	size_t i;
	json_t *rule;
	json_array_foreach(rules, i, rule) {
		const char *why = NULL;
		if (!json_is_object(rule)) {
			why = "An access rule is an object";
		} else {
			const char *k;
			json_t *v;
			json_object_foreach(rule, k, v) {
				const char *s = json_string_value(v);
				if (strcmp(k, "path") == 0) {
					if (!s || s[0] != '/' || id_utf8_len(s) > 225)
						why = "path is a string starting with '/', at most "
						      "225 characters";
				} else if (strcmp(k, "method") == 0) {
					bool ok = false;
					for (size_t m = 0; s && methods[m]; m++)
						ok = ok || strcmp(s, methods[m]) == 0;
					if (!ok)
						why = "method is one of POST, GET, HEAD, "
						      "PATCH, PUT, DELETE";
				} else if (strcmp(k, "service") == 0 || strcmp(k, "id") == 0) {
					if (!s || !id_match_id(s))
						why = "service and id match '^[a-zA-Z0-9-]+$'";
				} else {
					why = "Additional properties are not allowed";
				}
			}
		}
		if (why) {
			id_field_error(r, "access_rules", rule, why);
			return false;
		}
	}
	return true;
}

/* The id of the user's rule equal to rule (reusing an identical one, or
 * the one with the given id), creating it when new; NULL on error. */
static char *ensure_rule(const char *user_id, const json_t *rule)
{
	const char *service = kjson_str(rule, "service"), *path = kjson_str(rule, "path");
	const char *method = kjson_str(rule, "method"), *id = kjson_str(rule, "id");
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT id FROM id_access_rule WHERE user_id = ? AND"
			" ((id = ?) OR (COALESCE(service, '') = ? AND COALESCE(path, '') = ? AND"
			" COALESCE(method, '') = ?)) ORDER BY id");
		if (!st)
			return NULL;
		kstmt_bind_text(st, 1, user_id);
		kstmt_bind_text(st, 2, id ? id : "");
		kstmt_bind_text(st, 3, service ? service : "");
		kstmt_bind_text(st, 4, path ? path : "");
		kstmt_bind_text(st, 5, method ? method : "");
		if (kstmt_step(st) == KDB_ROW)
			return strdup(kstmt_text(st, 0));
	}
	char nid[33];
	if (!id) {
		kutil_uuid_hex(nid);
		id = nid;
	}
	if (kdb_run(id_db, NULL, "INSERT INTO id_access_rule (id, user_id, service, path, method)"
		    " VALUES (?, ?, ?, ?, ?)", "sssss", id, user_id, service, path, method)
	    != KDB_DONE)
		return NULL;
	return strdup(id);
}

/* ------------------------------------------------------------------ */
/* application credentials */

void id_appcreds_list(kreq *r)
{
	const char *uid = kreq_param(r, "user_id");
	_cleanup_json_ json_t *target = json_pack("{s:s}", "user_id", uid);
	if (!id_enforce(r, "identity:list_application_credentials", target))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " APPCRED_COLS " FROM id_app_cred");
	id_sql_and(&q, "user_id = ?", uid);
	if (kreq_query(r, "name"))
		id_sql_and(&q, "name = ?", kreq_query(r, "name"));
	id_sql_append(&q, "ORDER BY name, id");
	_cleanup_json_ json_t *rows = json_array();
	{
		_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
		if (!st) {
			id_internal(r);
			return;
		}
		while (kstmt_step(st) == KDB_ROW)
			json_array_append_new(rows, appcred_from_row(st));
	}
	json_t *arr = json_array();
	size_t i;
	json_t *ac;
	json_array_foreach(rows, i, ac)
		json_array_append_new(arr, appcred_links(r, complete(json_incref(ac))));
	kresp_json(r, 200, id_list(r, "application_credentials", arr));
}

void id_appcreds_create(kreq *r)
{
	const char *uid = kreq_param(r, "user_id");
	_cleanup_json_ json_t *target = json_pack("{s:s}", "user_id", uid);
	if (!id_enforce(r, "identity:create_application_credential", target))
		return;
	json_t *body = id_body_member(r, "application_credential");
	if (!body)
		return;
	if (!id_validate(r, "application_credential", body, appcred_fields,
			  ARRAY_SIZE(appcred_fields), true, 0) ||
	    !check_rules(r, json_object_get(body, "access_rules")))
		return;
	if (is_restricted_appcred_token(r))
		return;
	if (!r->ctx->user_id || strcmp(r->ctx->user_id, uid) != 0) {
		kresp_error(r, 403, "You are not authorized to perform the requested action: "
			    "Cannot create an application credential for another user.");
		return;
	}
	const char *project_id = r->ctx->project_id;
	if (!project_id) {
		invalid(r, "an application credential needs a project-scoped token");
		return;
	}
	json_t *role_ids = wanted_roles(r, body);
	if (!role_ids)
		return;
	/* the user must still hold each role on the project */
	_cleanup_json_ json_t *have = idstore_effective_roles(uid, project_id, NULL, false);
	size_t i, j;
	json_t *v, *h;
	json_array_foreach(role_ids, i, v) {
		bool held = false;
		json_array_foreach(have, j, h)
			held = held || json_equal(json_object_get(h, "id"), v);
		if (!held) {
			invalid(r, kpool_printf(r->pool, "Could not find role assignment with "
				"role: %s, user or group: %s, project, domain, or system: %s.",
				json_string_value(v), uid, project_id));
			return;
		}
	}
	int64_t expires = -1;
	const char *exp = kjson_str(body, "expires_at");
	if (exp) {
		expires = kutil_parse_iso8601(exp);
		if (expires < 0) {
			id_bad_request(r, "Timestamp not in expected format. The server could "
				       "not comply with the request since it is either malformed "
				       "or otherwise incorrect. The client is assumed to be in "
				       "error.");
			return;
		}
		if (expires <= kutil_now_us()) {
			id_bad_request(r, "The 'expires_at' must not be before now. The server "
				       "could not comply with the request since it is either "
				       "malformed or otherwise incorrect. The client is assumed "
				       "to be in error.");
			return;
		}
	}
	const char *secret = kjson_str(body, "secret");
	_cleanup_free_ char *generated = NULL;
	if (!secret || !*secret) {
		unsigned char raw[64];
		kutil_random(raw, sizeof(raw));
		generated = kutil_b64url_encode(raw, sizeof(raw), false);
		secret = generated;
	}
	_cleanup_free_ char *hash = idstore_hash_password(secret);
	if (!hash) {
		id_internal(r);
		return;
	}
	char id[33];
	kutil_uuid_hex(id);
	const char *name = kjson_str(body, "name");
	json_t *unres = json_object_get(body, "unrestricted");

	kdb_begin(id_db);
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_app_cred (id, name, user_id, project_id, secret_hash,"
			 " description, expires_at, unrestricted, created_at)"
			 " VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, ?)", "ssssssi",
			 id, name, uid, project_id, hash, kjson_str(body, "description"),
			 kutil_now_us());
	if (rc == KDB_DONE && expires >= 0)
		rc = kdb_run(id_db, NULL, "UPDATE id_app_cred SET expires_at = ? WHERE id = ?",
			     "is", expires, id);
	if (rc == KDB_DONE && unres)
		rc = kdb_run(id_db, NULL, "UPDATE id_app_cred SET unrestricted = ? WHERE id = ?",
			     "bs", json_is_true(unres), id);
	json_array_foreach(role_ids, i, v) {
		if (rc == KDB_DONE)
			rc = kdb_run(id_db, NULL, "INSERT INTO id_app_cred_role (app_cred_id,"
				     " role_id, ord) VALUES (?, ?, ?)", "ssi", id,
				     json_string_value(v), (int64_t)i);
	}
	json_t *rule;
	json_array_foreach(json_object_get(body, "access_rules"), i, rule) {
		if (rc != KDB_DONE)
			break;
		_cleanup_free_ char *rid = ensure_rule(uid, rule);
		rc = rid ? kdb_run(id_db, NULL, "INSERT INTO id_app_cred_access_rule (app_cred_id,"
				   " access_rule_id) VALUES (?, ?)", "ss", id, rid) : KDB_ERROR;
		if (rc == KDB_CONSTRAINT)
			rc = KDB_DONE;      /* the same rule twice */
	}
	if (rc != KDB_DONE) {
		kdb_rollback(id_db);
		if (rc == KDB_CONSTRAINT)
			id_conflict(r, "application_credential",
				    "Duplicate entry found with name %s", name);
		else
			id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "user %s created application credential %s", uid, id);
	json_t *ac = idstore_appcred_get(id);
	if (!ac) {
		id_internal(r);
		return;
	}
	json_object_set_new(ac, "secret", json_string(secret));
	kresp_json(r, 201, json_pack("{s:o}", "application_credential", appcred_links(r, ac)));
}

/* The credential of the path after policy (whose owner is the credential's
 * user, not the path's); NULL when answered. */
static json_t *path_appcred(kreq *r, const char *action)
{
	const char *id = kreq_param(r, "application_credential_id");
	json_t *ac = idstore_appcred_get(id);
	const char *owner = ac ? kjson_str(ac, "user_id") : kreq_param(r, "user_id");
	_cleanup_json_ json_t *target = json_pack("{s:s}", "user_id", owner);
	if (!id_enforce(r, action, target)) {
		json_decref(ac);
		return NULL;
	}
	if (!ac)
		kresp_error(r, 404, "Could not find Application Credential: %s.", id);
	return ac;
}

void id_appcred_get(kreq *r)
{
	json_t *ac = path_appcred(r, "identity:get_application_credential");
	if (ac)
		kresp_json(r, 200, json_pack("{s:o}", "application_credential",
					     appcred_links(r, ac)));
}

void id_appcred_delete(kreq *r)
{
	_cleanup_json_ json_t *ac = path_appcred(r, "identity:delete_application_credential");
	if (!ac || is_restricted_appcred_token(r))
		return;
	const char *id = kjson_str(ac, "id");
	kdb_begin(id_db);
	if (kdb_run(id_db, NULL, "DELETE FROM id_app_cred_role WHERE app_cred_id = ?", "s", id)
	    != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_app_cred_access_rule WHERE app_cred_id = ?", "s",
		    id) != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_app_cred WHERE id = ?", "s", id) != KDB_DONE) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	idtoken_invalidate_cache();
	klog_info("identity", "deleted application credential %s", id);
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* access rules */

/* Policy on the path's user ("user_id:%(target.user.id)s"); false when
 * answered (a missing user: 404). */
static bool rules_enforce(kreq *r, const char *action)
{
	const char *uid = kreq_param(r, "user_id");
	_cleanup_json_ json_t *u = idstore_user_get(uid);
	_cleanup_json_ json_t *target = json_pack("{s:s,s:{s:O}}", "user_id", uid, "target",
						  "user", u ? u : json_null());
	if (!id_enforce(r, action, target))
		return false;
	if (!u) {
		id_not_found(r, "user", uid);
		return false;
	}
	return true;
}

static json_t *rule_links(kreq *r, json_t *rule)
{
	return id_links(r, rule, "access_rules", kjson_str(rule, "id"));
}

void id_access_rules_list(kreq *r)
{
	if (!rules_enforce(r, "identity:list_access_rules"))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT id, service, path, method FROM id_access_rule");
	id_sql_and(&q, "user_id = ?", kreq_param(r, "user_id"));
	static const char *const filters[] = { "service", "path", "method" };
	for (size_t i = 0; i < ARRAY_SIZE(filters); i++)
		if (kreq_query(r, filters[i]))
			id_sql_and(&q, kpool_printf(r->pool, "%s = ?", filters[i]),
				   kreq_query(r, filters[i]));
	id_sql_append(&q, "ORDER BY service, path, method, id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(arr, rule_links(r, rule_from_row(st)));
	kresp_json(r, 200, id_list(r, "access_rules", arr));
}

/* The user's rule of the path, or NULL (answered 404). */
static json_t *path_rule(kreq *r)
{
	const char *id = kreq_param(r, "access_rule_id");
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT id, service, path, method FROM id_access_rule"
		" WHERE id = ? AND user_id = ?");
	if (st) {
		kstmt_bind_text(st, 1, id);
		kstmt_bind_text(st, 2, kreq_param(r, "user_id"));
		if (kstmt_step(st) == KDB_ROW)
			return rule_from_row(st);
	}
	kresp_error(r, 404, "Could not find Access Rule: %s.", id);
	return NULL;
}

void id_access_rule_get(kreq *r)
{
	if (!rules_enforce(r, "identity:get_access_rule"))
		return;
	json_t *rule = path_rule(r);
	if (rule)
		kresp_json(r, 200, json_pack("{s:o}", "access_rule", rule_links(r, rule)));
}

void id_access_rule_delete(kreq *r)
{
	if (!rules_enforce(r, "identity:delete_access_rule"))
		return;
	_cleanup_json_ json_t *rule = path_rule(r);
	if (!rule)
		return;
	const char *id = kjson_str(rule, "id");
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT 1 FROM id_app_cred_access_rule WHERE access_rule_id = ?");
		if (!st) {
			id_internal(r);
			return;
		}
		kstmt_bind_text(st, 1, id);
		if (kstmt_step(st) == KDB_ROW) {
			kresp_error(r, 403, "Cannot delete access rule %s: it is in use by an "
				    "application credential.", id);
			return;
		}
	}
	if (kdb_run(id_db, NULL, "DELETE FROM id_access_rule WHERE id = ?", "s", id) != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}
