/*
 * roles.c - /v3/roles, implied roles and /v3/role_inferences.
 *
 * Role names are unique case-insensitively within their scope (global, or
 * one domain for domain-specific roles): the name_key column holds the
 * lower-cased name under a UNIQUE constraint, so the check is race-free on
 * both SQL engines.  GET /v3/roles lists global roles unless ?domain_id=
 * asks for one domain's roles, as Keystone does.
 *
 * Implied roles ("admin implies member"): a global role can't imply a
 * domain-specific one, and "admin" can't be implied (Keystone's default
 * [assignment] prohibited_implied_role); both are 403.  Deleting a role
 * removes its assignments and inference rules, revokes the tokens of
 * everyone who held it, and deletes the application credentials of those
 * who held it on a project (as Keystone does).  A role with the "immutable"
 * option (bootstrap's roles) can't be changed, except to clear the option,
 * nor deleted (403).  Role descriptions are strings, never null (Keystone's
 * schema).
 */
#include <ctype.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

static const char *const role_known[] = {
	"id", "name", "domain_id", "description", "options", "links", NULL
};

static const id_field role_create_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, true },
	{ "description", ID_F_STRING, 0, 255, false, false },
	{ "domain_id", ID_F_ID_NULL, 0, 0, false, false },
	{ "options", ID_F_OPTIONS, 0, 0, false, false },
};

static const id_field role_update_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, false },
	{ "description", ID_F_STRING, 0, 255, false, false },
	{ "domain_id", ID_F_ANY, 0, 0, false, false },
	{ "options", ID_F_OPTIONS, 0, 0, false, false },
};

static const char *const prohibited_implied[] = { "admin", NULL };

static char *name_key(kpool *pool, const char *name)
{
	char *k = kpool_strdup(pool, name);
	for (char *p = k; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return k;
}

static void reply(kreq *r, int status, const char *id)
{
	json_t *o = idstore_role_get(id);
	if (!o) {
		id_internal(r);
		return;
	}
	kresp_json(r, status, json_pack("{s:o}", "role", id_links(r, o, "roles", id)));
}

static bool domain_specific(const json_t *role)
{
	return role && json_is_string(json_object_get(role, "domain_id"));
}

/* The role of the path after policy (the domain_ variant of the action for
 * domain-specific roles); NULL when answered. */
static json_t *path_role(kreq *r, const char *action, const char *domain_action)
{
	const char *id = kreq_param(r, "role_id");
	json_t *o = idstore_role_get(id);
	_cleanup_json_ json_t *target = json_pack("{s:s,s:{s:O}}", "role_id", id, "target",
						  "role", o ? o : json_null());
	if (!id_enforce(r, domain_specific(o) ? domain_action : action, target)) {
		json_decref(o);
		return NULL;
	}
	if (!o)
		id_not_found(r, "role", id);
	return o;
}

static void conflict(kreq *r, const char *name, const char *domain_id)
{
	if (domain_id)
		id_conflict(r, "role", "Duplicate entry found with name %s at domain ID %s", name,
			     domain_id);
	else
		id_conflict(r, "role", "Duplicate entry found with name %s", name);
}

/* ------------------------------------------------------------------ */

void id_roles_list(kreq *r)
{
	const char *dom = kreq_query(r, "domain_id");
	_cleanup_json_ json_t *target = json_pack("{s:s?}", "domain_id", dom);
	if (!id_enforce(r, dom ? "identity:list_domain_roles" : "identity:list_roles", target))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " IDSTORE_ROLE_COLS " FROM id_role");
	id_sql_and(&q, "domain_id = ?", dom ? dom : ID_NULL_DOMAIN);
	if (kreq_query(r, "name"))
		id_sql_and(&q, "name_key = ?", name_key(r->pool, kreq_query(r, "name")));
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
		json_t *o = idstore_role_from_row(st);
		if (!id_inexact_ok(&nf, kjson_str(o, "name"))) {
			json_decref(o);
			continue;
		}
		json_array_append_new(arr, id_links(r, o, "roles", kjson_str(o, "id")));
	}
	kresp_json(r, 200, id_list(r, "roles", arr));
}

void id_roles_create(kreq *r)
{
	json_t *body = id_body_member(r, "role");
	if (!body)
		return;
	if (!id_validate(r, "role", body, role_create_fields, ARRAY_SIZE(role_create_fields),
			  true, 0))
		return;
	const char *domain_id = kjson_str(body, "domain_id");
	_cleanup_json_ json_t *target = json_pack("{s:{s:O}}", "target", "role", body);
	if (!id_enforce(r, domain_id ? "identity:create_domain_role" : "identity:create_role",
			target))
		return;
	if (domain_id) {
		_cleanup_json_ json_t *d = idstore_domain_get(domain_id);
		if (!d) {
			id_not_found(r, "domain", domain_id);
			return;
		}
	}
	char id[33];
	kutil_uuid_hex(id);
	const char *name = kjson_str(body, "name");
	_cleanup_free_ char *extra = idstore_extra_text(body, role_known);
	json_t *opts = json_object_get(body, "options");
	_cleanup_free_ char *options = opts ? idstore_options_text(NULL, opts) : NULL;
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_role (id, name, name_key, domain_id, description, extra,"
			 " options) VALUES (?, ?, ?, ?, ?, ?, ?)", "sssssss",
			 id, name, name_key(r->pool, name), domain_id ? domain_id : ID_NULL_DOMAIN,
			 kjson_str(body, "description"), extra, options);
	if (rc == KDB_CONSTRAINT) {
		conflict(r, name, domain_id);
		return;
	}
	if (rc != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created role %s", id);
	reply(r, 201, id);
}

void id_role_get(kreq *r)
{
	json_t *o = path_role(r, "identity:get_role", "identity:get_domain_role");
	if (!o)
		return;
	const char *id = kjson_str(o, "id");
	kresp_json(r, 200, json_pack("{s:o}", "role", id_links(r, o, "roles", id)));
}

void id_role_update(kreq *r)
{
	json_t *body = id_body_member(r, "role");
	if (!body)
		return;
	if (!id_validate(r, "role", body, role_update_fields, ARRAY_SIZE(role_update_fields),
			  true, 1))
		return;
	_cleanup_json_ json_t *o = path_role(r, "identity:update_role",
					     "identity:update_domain_role");
	if (!o)
		return;
	const char *id = kjson_str(o, "id");
	if (id_immutable_update_refused(r, o, body, "role"))
		return;
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	json_t *dv = json_object_get(body, "domain_id");
	if (dv && !json_equal(dv, json_object_get(o, "domain_id"))) {
		id_bad_request(r, "Update of `domain_id` is not allowed.");
		return;
	}
	_cleanup_free_ char *old_extra = NULL, *old_options = NULL;
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT extra, options FROM id_role WHERE id = ?");
		if (st) {
			kstmt_bind_text(st, 1, id);
			if (kstmt_step(st) == KDB_ROW) {
				old_extra = kstmt_text(st, 0) ? strdup(kstmt_text(st, 0)) : NULL;
				old_options = kstmt_text(st, 1) ? strdup(kstmt_text(st, 1)) : NULL;
			}
		}
	}
	const char *name = json_object_get(body, "name") ? kjson_str(body, "name")
							 : kjson_str(o, "name");
	const char *desc = json_object_get(body, "description") ? kjson_str(body, "description")
								 : kjson_str(o, "description");
	_cleanup_free_ char *extra = idstore_extra_update(old_extra, body, role_known);
	_cleanup_json_ json_t *none = json_object();
	json_t *opts = json_object_get(body, "options");
	_cleanup_free_ char *options = idstore_options_text(old_options, opts ? opts : none);
	int rc = kdb_run(id_db, NULL,
			 "UPDATE id_role SET name = ?, name_key = ?, description = ?, extra = ?,"
			 " options = ? WHERE id = ?", "ssssss",
			 name, name_key(r->pool, name), desc, extra, options, id);
	if (rc == KDB_CONSTRAINT) {
		conflict(r, name, kjson_str(o, "domain_id"));
		return;
	}
	if (rc != KDB_DONE) {
		id_internal(r);
		return;
	}
	reply(r, 200, id);
}

/* Revoke the tokens of everyone a list of grants (internal refs) names,
 * directly or as a member of a group. */
static void revoke_refs(const json_t *refs)
{
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref) {
		const char *uid = kjson_str(ref, "user_id");
		if (uid) {
			idtoken_revoke_user(uid);
			continue;
		}
		const char *gid = kjson_str(ref, "group_id");
		_cleanup_json_ json_t *members = idstore_group_member_ids(gid);
		size_t j;
		json_t *m;
		json_array_foreach(members, j, m)
			idtoken_revoke_user(json_string_value(m));
	}
}

void id_role_delete(kreq *r)
{
	_cleanup_json_ json_t *o = path_role(r, "identity:delete_role",
					     "identity:delete_domain_role");
	if (!o || id_immutable_delete_refused(r, o, "role"))
		return;
	const char *id = kjson_str(o, "id");
	idstore_asg_query q = { .role_id = id, .inherited = -1 };
	_cleanup_json_ json_t *held = idstore_assignments(&q);
	kdb_begin(id_db);
	/* as Keystone: who held the role on a project loses the application
	 * credentials there */
	size_t i;
	json_t *ref;
	bool failed = false;
	json_array_foreach(held, i, ref) {
		const char *uid = kjson_str(ref, "user_id"), *pid = kjson_str(ref, "project_id");
		if (uid && pid)
			failed = failed || idstore_appcreds_delete(uid, pid) != 0;
	}
	if (failed ||
	    kdb_run(id_db, NULL, "DELETE FROM id_implied_role WHERE prior_role_id = ?"
		    " OR implied_role_id = ?", "ss", id, id) != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_assignment WHERE role_id = ?", "s", id)
	    != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_app_cred_role WHERE role_id = ?", "s", id)
	    != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_role WHERE id = ?", "s", id) != KDB_DONE) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "deleted role %s", id);
	/* The grants are gone now; revoke from the list taken before. */
	revoke_refs(held);
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* implied roles */

static json_t *brief(kreq *r, const json_t *role)
{
	const char *id = kjson_str(role, "id");
	return json_pack("{s:s,s:s,s:{s:s}}", "id", id, "name", kjson_str(role, "name"),
			 "links", "self", id_url(r, "roles/%s", id));
}

static bool rule_exists(const char *prior, const char *implied)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT 1 FROM id_implied_role WHERE prior_role_id = ? AND implied_role_id = ?");
	if (!st)
		return false;
	kstmt_bind_text(st, 1, prior);
	kstmt_bind_text(st, 2, implied);
	return kstmt_step(st) == KDB_ROW;
}

/* Policy, then both roles of the path; false when answered. */
static bool path_pair(kreq *r, const char *action, json_t **prior, json_t **implied)
{
	const char *pid = kreq_param(r, "prior_role_id");
	const char *iid = kreq_param(r, "implied_role_id");
	_cleanup_json_ json_t *target = json_pack("{s:s,s:s?}", "prior_role_id", pid,
						  "implied_role_id", iid);
	if (!id_enforce(r, action, target))
		return false;
	*prior = idstore_role_get(pid);
	if (!*prior) {
		id_not_found(r, "role", pid);
		return false;
	}
	if (!iid)
		return true;
	*implied = idstore_role_get(iid);
	if (!*implied) {
		json_decref(*prior);
		*prior = NULL;
		id_not_found(r, "role", iid);
		return false;
	}
	return true;
}

static json_t *inference_body(kreq *r, const json_t *prior, const json_t *implied)
{
	return json_pack("{s:{s:o,s:o},s:{s:s}}", "role_inference", "prior_role", brief(r, prior),
			 "implies", brief(r, implied), "links", "self",
			 id_url(r, "roles/%s/implies/%s", kjson_str(prior, "id"),
				kjson_str(implied, "id")));
}

void id_role_implies_put(kreq *r)
{
	json_t *p = NULL, *i = NULL;
	if (!path_pair(r, "identity:create_implied_role", &p, &i))
		return;
	_cleanup_json_ json_t *prior = p, *implied = i;
	const char *iname = kjson_str(implied, "name");
	bool prohibited = false;
	for (size_t k = 0; prohibited_implied[k]; k++)
		prohibited = prohibited || strcasecmp(iname, prohibited_implied[k]) == 0;
	if (prohibited || (!domain_specific(prior) && domain_specific(implied))) {
		kresp_error(r, 403, "%s cannot be an implied roles.", kjson_str(implied, "id"));
		return;
	}
	int rc = kdb_run(id_db, NULL, "INSERT INTO id_implied_role (prior_role_id, implied_role_id)"
			 " VALUES (?, ?)", "ss", kjson_str(prior, "id"), kjson_str(implied, "id"));
	if (rc != KDB_DONE && rc != KDB_CONSTRAINT) {
		id_internal(r);
		return;
	}
	idtoken_invalidate_cache();
	kresp_json(r, 201, inference_body(r, prior, implied));
}

static void implies_get(kreq *r, const char *action, bool head)
{
	json_t *p = NULL, *i = NULL;
	if (!path_pair(r, action, &p, &i))
		return;
	_cleanup_json_ json_t *prior = p, *implied = i;
	if (!rule_exists(kjson_str(prior, "id"), kjson_str(implied, "id"))) {
		kresp_error(r, 404, "%s does not imply %s.", kjson_str(prior, "id"),
			    kjson_str(implied, "id"));
		return;
	}
	if (head)
		kresp_status(r, 204);
	else
		kresp_json(r, 200, inference_body(r, prior, implied));
}

void id_role_implies_get(kreq *r)
{
	if (id_is_head(r))
		implies_get(r, "identity:check_implied_role", true);
	else
		implies_get(r, "identity:get_implied_role", false);
}

void id_role_implies_check(kreq *r)
{
	implies_get(r, "identity:check_implied_role", true);
}

void id_role_implies_delete(kreq *r)
{
	json_t *p = NULL, *i = NULL;
	if (!path_pair(r, "identity:delete_implied_role", &p, &i))
		return;
	_cleanup_json_ json_t *prior = p, *implied = i;
	int64_t n = 0;
	if (kdb_run(id_db, &n, "DELETE FROM id_implied_role WHERE prior_role_id = ?"
		    " AND implied_role_id = ?", "ss", kjson_str(prior, "id"),
		    kjson_str(implied, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	if (n == 0) {
		kresp_error(r, 404, "%s does not imply %s.", kjson_str(prior, "id"),
			    kjson_str(implied, "id"));
		return;
	}
	kresp_status(r, 204);
}

/* [brief(implied)...] of one prior role. */
static json_t *implied_of(kreq *r, const char *prior_id)
{
	json_t *arr = json_array();
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT implied_role_id FROM id_implied_role WHERE prior_role_id = ?"
		" ORDER BY implied_role_id");
	if (!st)
		return arr;
	kstmt_bind_text(st, 1, prior_id);
	_cleanup_json_ json_t *ids = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(ids, json_string(kstmt_text(st, 0)));
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		_cleanup_json_ json_t *role = idstore_role_get(json_string_value(v));
		if (role)
			json_array_append_new(arr, brief(r, role));
	}
	return arr;
}

void id_role_implies_list(kreq *r)
{
	json_t *p = NULL;
	if (!path_pair(r, "identity:list_implied_roles", &p, NULL))
		return;
	_cleanup_json_ json_t *prior = p;
	const char *self = kpool_printf(r->pool, "%s%s", kreq_base_url(r), r->path);
	kresp_json(r, 200, json_pack("{s:{s:o,s:o},s:{s:s}}", "role_inference", "prior_role",
				     brief(r, prior), "implies",
				     implied_of(r, kjson_str(prior, "id")), "links", "self", self));
}

void id_role_inferences(kreq *r)
{
	if (!id_enforce(r, "identity:list_role_inference_rules", NULL))
		return;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT DISTINCT prior_role_id FROM id_implied_role ORDER BY prior_role_id");
	if (!st) {
		id_internal(r);
		return;
	}
	_cleanup_json_ json_t *priors = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(priors, json_string(kstmt_text(st, 0)));
	json_t *arr = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(priors, i, v) {
		_cleanup_json_ json_t *role = idstore_role_get(json_string_value(v));
		if (!role)
			continue;
		json_array_append_new(arr, json_pack("{s:o,s:o}", "prior_role", brief(r, role),
						     "implies",
						     implied_of(r, json_string_value(v))));
	}
	kresp_json(r, 200, id_list(r, "role_inferences", arr));
}
