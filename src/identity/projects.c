/*
 * projects.c - /v3/projects and /v3/projects/{id}/tags.
 *
 * Projects form a tree inside their domain: a top-level project's parent_id
 * is its domain's id (Keystone's "projects acting as domains" model, see
 * resource.h), so GET shows "parent_id": "<domain id>" for it.  Rules kept
 * from Keystone's resource manager:
 *   - without domain_id the domain is the token's (domain scope) or the
 *     default one, as in Keystone, also for a child project;
 *   - the parent must exist, be in the same domain, and the whole branch
 *     above the new project, its domain included, must be enabled (400);
 *     the tree is at most 5 deep;
 *   - a project can't be enabled under a disabled parent, nor disabled
 *     while some project below it is enabled (403);
 *   - only leaves can be deleted, unless ?cascade=true and the whole
 *     subtree is disabled (403 otherwise);
 *   - domain_id and is_domain can't be changed (400), nor parent_id (403);
 *   - a project with the "immutable" option can't be changed (except to
 *     clear the option), deleted, or have its tags changed (403).
 * A project created with "is_domain": true is a domain; such rows are
 * handled by the shared functions of domains.c through this API too.
 * Deleting or disabling a project revokes the tokens scoped to it.
 */
#include <ctype.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

#define MAX_TREE_DEPTH 5
#define MAX_TAGS 80

static const char *const project_known[] = {
	"id", "name", "description", "domain_id", "enabled", "is_domain", "parent_id", "tags",
	"options", "links", NULL
};

static const id_field project_create_fields[] = {
	{ "name", ID_F_STRING, 1, 64, true, true },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "domain_id", ID_F_ID_NULL, 0, 0, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
	{ "is_domain", ID_F_BOOL, 0, 0, false, false },
	{ "parent_id", ID_F_ID_NULL, 0, 0, false, false },
	{ "tags", ID_F_TAGS, 0, 0, false, false },
	{ "options", ID_F_OPTIONS, 0, 0, false, false },
};

static const id_field project_update_fields[] = {
	{ "name", ID_F_STRING, 1, 64, true, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
	{ "tags", ID_F_TAGS, 0, 0, false, false },
	{ "options", ID_F_OPTIONS, 0, 0, false, false },
	{ "domain_id", ID_F_ID_NULL, 0, 0, false, false },
	{ "parent_id", ID_F_ID_NULL, 0, 0, false, false },
	{ "is_domain", ID_F_BOOL, 0, 0, false, false },
};

static char *strip(kpool *pool, const char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return kpool_strndup(pool, s, n);
}

static void reply(kreq *r, int status, const char *id)
{
	json_t *p = idstore_project_any(id);
	if (!p) {
		id_internal(r);
		return;
	}
	kresp_json(r, status, json_pack("{s:o}", "project", id_links(r, p, "projects", id)));
}

/* The project (or domain row) of the path after policy; NULL when answered. */
static json_t *path_project(kreq *r, const char *action)
{
	const char *id = kreq_param(r, "project_id");
	json_t *p = idstore_project_any(id);
	_cleanup_json_ json_t *target = json_pack("{s:s,s:{s:O}}", "project_id", id, "target",
						  "project", p ? p : json_null());
	if (!id_enforce(r, action, target)) {
		json_decref(p);
		return NULL;
	}
	if (!p)
		id_not_found(r, "project", id);
	return p;
}

static bool project_enabled(const char *id)
{
	_cleanup_json_ json_t *p = idstore_project_any(id);
	return p && json_is_true(json_object_get(p, "enabled"));
}

/* ------------------------------------------------------------------ */
/* collection */

static bool has_tag(const json_t *tags, const char *t)
{
	size_t i;
	json_t *v;
	json_array_foreach(tags, i, v)
		if (strcmp(json_string_value(v), t) == 0)
			return true;
	return false;
}

/* tags=a,b (all), tags-any (any), not-tags (not all), not-tags-any (none) */
static bool tags_match(kpool *pool, const json_t *tags, const char *spec, bool all, bool negate)
{
	if (!spec)
		return true;
	char *copy = kpool_strdup(pool, spec), *save = NULL;
	int n = 0, hits = 0;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		n++;
		if (has_tag(tags, t))
			hits++;
	}
	bool m = all ? hits == n : hits > 0;
	return negate ? !m : m;
}

void id_projects_list(kreq *r)
{
	const char *scope = id_scope_domain(r);
	_cleanup_json_ json_t *target = scope ? json_pack("{s:s}", "domain_id", scope) : NULL;
	if (!id_enforce(r, "identity:list_projects", target))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " IDSTORE_PROJECT_COLS " FROM id_project");
	const char *isdom = kreq_query(r, "is_domain");
	id_sql_and(&q, isdom && id_query_true(isdom) ? "is_domain = 1" : "is_domain = 0", NULL);
	if (kreq_query(r, "name"))
		id_sql_and(&q, "name = ?", kreq_query(r, "name"));
	if (kreq_query(r, "domain_id"))
		id_sql_and(&q, "domain_id = ?", kreq_query(r, "domain_id"));
	if (kreq_query(r, "parent_id"))
		id_sql_and(&q, "parent_id = ?", kreq_query(r, "parent_id"));
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
	const char *t_all = kreq_query(r, "tags"), *t_any = kreq_query(r, "tags-any");
	const char *nt_all = kreq_query(r, "not-tags"), *nt_any = kreq_query(r, "not-tags-any");
	id_inexact nf;
	id_inexact_init(r, "name", &nf);
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW) {
		json_t *p = idstore_project_from_row(st);
		json_t *tags = idstore_project_tags(kjson_str(p, "id"));
		json_object_set_new(p, "tags", tags);
		if (!tags_match(r->pool, tags, t_all, true, false) ||
		    !tags_match(r->pool, tags, t_any, false, false) ||
		    !tags_match(r->pool, tags, nt_all, true, true) ||
		    !tags_match(r->pool, tags, nt_any, false, true)) {
			json_decref(p);
			continue;
		}
		if (!id_inexact_ok(&nf, kjson_str(p, "name"))) {
			json_decref(p);
			continue;
		}
		json_array_append_new(arr, id_links(r, p, "projects", kjson_str(p, "id")));
	}
	kresp_json(r, 200, id_list(r, "projects", arr));
}

void id_projects_create(kreq *r)
{
	json_t *body = id_body_member(r, "project");
	if (!body)
		return;
	if (!id_validate(r, "project", body, project_create_fields,
			  ARRAY_SIZE(project_create_fields), true, 0))
		return;
	_cleanup_json_ json_t *target = json_pack("{s:{s:O}}", "target", "project", body);
	if (!id_enforce(r, "identity:create_project", target))
		return;
	if (id_bool_value(json_object_get(body, "is_domain"), false)) {
		if (kjson_str(body, "parent_id")) {
			id_bad_request(r, "only root projects are allowed to act as domains.");
			return;
		}
		id_domain_create_from(r, body, true);
		return;
	}

	/* Keystone's _normalize_domain_id: without domain_id, the domain is the
	 * token's (domain scope) or the default one, even with a parent_id; a
	 * parent in another domain is then an error. */
	const char *parent_id = kjson_str(body, "parent_id");
	const char *domain_id = kjson_str(body, "domain_id");
	if (!domain_id)
		domain_id = id_default_domain(r);
	_cleanup_json_ json_t *parent = NULL;
	if (parent_id) {
		parent = idstore_project_any(parent_id);
		if (!parent) {
			id_bad_request(r, "Could not find project: %s.", parent_id);
			return;
		}
		bool pdom = json_is_true(json_object_get(parent, "is_domain"));
		const char *parent_domain = pdom ? parent_id : kjson_str(parent, "domain_id");
		if (strcmp(domain_id, parent_domain) != 0) {
			id_bad_request(r, "Cannot create project, since it specifies its "
					"domain_id %s, but specifies a parent in a different "
					"domain (%s).", domain_id, parent_domain);
			return;
		}
	}
	_cleanup_json_ json_t *domain = idstore_domain_get(domain_id);
	if (!domain) {
		id_bad_request(r, "Could not find domain: %s.", domain_id);
		return;
	}
	if (!parent || json_is_true(json_object_get(parent, "is_domain")))
		parent_id = domain_id;
	/* The whole branch above must be enabled, the domain included, and not
	 * too deep. */
	_cleanup_json_ json_t *up = strcmp(parent_id, domain_id) != 0
		? idstore_project_parents(parent_id) : json_array();
	if (strcmp(parent_id, domain_id) != 0)
		json_array_insert_new(up, 0, json_string(parent_id));
	if (json_array_size(up) + 1 > MAX_TREE_DEPTH) {
		kresp_error(r, 403, "Max hierarchy depth reached for %s branch.", parent_id);
		return;
	}
	json_array_append_new(up, json_string(domain_id));
	size_t i;
	json_t *v;
	json_array_foreach(up, i, v) {
		if (!project_enabled(json_string_value(v))) {
			id_bad_request(r, "cannot create a project in a branch containing a "
					"disabled project: %s", json_string_value(v));
			return;
		}
	}

	char id[33];
	kutil_uuid_hex(id);
	const char *name = strip(r->pool, kjson_str(body, "name"));
	const char *desc = json_is_null(json_object_get(body, "description"))
		? NULL : (kjson_str(body, "description") ? kjson_str(body, "description") : "");
	bool enabled = id_bool_value(json_object_get(body, "enabled"), true);
	_cleanup_free_ char *extra = idstore_extra_text(body, project_known);
	json_t *opts = json_object_get(body, "options");
	_cleanup_free_ char *options = opts ? idstore_options_text(NULL, opts) : NULL;
	json_t *tags = json_object_get(body, "tags");

	kdb_begin(id_db);
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_project (id, name, domain_id, parent_id, is_domain,"
			 " enabled, description, extra, options, created_at)"
			 " VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
			 "ssssbsssi", id, name, domain_id, parent_id, enabled, desc, extra,
			 options, kutil_now_us());
	if (rc == KDB_DONE && tags && id_tags_write(id, tags) != 0)
		rc = KDB_ERROR;
	if (rc != KDB_DONE) {
		kdb_rollback(id_db);
		if (rc == KDB_CONSTRAINT)
			id_conflict(r, "project", "it is not permitted to have two projects "
				     "with either the same name or same id in the same domain: "
				     "name is %s, project id %s", name, id);
		else
			id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created project %s in domain %s", id, domain_id);
	reply(r, 201, id);
}

/* ------------------------------------------------------------------ */
/* member */

/* {"project": {...}} entries for ids the caller has a role on. */
static json_t *as_list(kreq *r, const json_t *ids_arr)
{
	json_t *out = json_array();
	_cleanup_json_ json_t *mine = r->ctx && r->ctx->user_id
		? idstore_user_projects(r->ctx->user_id) : json_array();
	size_t i, j;
	json_t *v, *m;
	json_array_foreach(ids_arr, i, v) {
		bool ok = false;
		json_array_foreach(mine, j, m)
			ok = ok || strcmp(kjson_str(m, "id"), json_string_value(v)) == 0;
		if (!ok)
			continue;
		json_t *p = idstore_project_any(json_string_value(v));
		if (p)
			json_array_append_new(out, json_pack("{s:o}", "project",
				id_links(r, p, "projects", json_string_value(v))));
	}
	return out;
}

/* Nested {"child": {"grandchild": null}} under id. */
static json_t *subtree_ids(const char *id, int depth)
{
	json_t *out = json_object();
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT id FROM id_project WHERE parent_id = ? AND is_domain = 0 ORDER BY id");
	if (!st)
		return out;
	kstmt_bind_text(st, 1, id);
	_cleanup_json_ json_t *kids = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(kids, json_string(kstmt_text(st, 0)));
	kstmt_done(st);
	st = NULL;
	size_t i;
	json_t *k;
	json_array_foreach(kids, i, k) {
		json_t *sub = depth < 64 ? subtree_ids(json_string_value(k), depth + 1)
					 : json_object();
		json_object_set_new(out, json_string_value(k),
				    json_object_size(sub) ? sub : (json_decref(sub), json_null()));
	}
	return out;
}

void id_project_get(kreq *r)
{
	json_t *p = path_project(r, "identity:get_project");
	if (!p)
		return;
	const char *id = kjson_str(p, "id");
	bool pl = id_query_flag(r, "parents_as_list"), pi = id_query_flag(r, "parents_as_ids");
	bool sl = id_query_flag(r, "subtree_as_list"), si = id_query_flag(r, "subtree_as_ids");
	if (pl && pi) {
		json_decref(p);
		id_bad_request(r, "Cannot use parents_as_list and parents_as_ids query params at "
				"the same time.");
		return;
	}
	if (sl && si) {
		json_decref(p);
		id_bad_request(r, "Cannot use subtree_as_list and subtree_as_ids query params at "
				"the same time.");
		return;
	}
	if (pl || pi) {
		_cleanup_json_ json_t *up = idstore_project_parents(id);
		if (kjson_str(p, "domain_id"))
			json_array_append_new(up, json_string(kjson_str(p, "domain_id")));
		if (pl) {
			json_object_set_new(p, "parents", as_list(r, up));
		} else {
			json_t *nested = json_null();
			for (size_t i = json_array_size(up); i-- > 0;) {
				json_t *o = json_object();
				const char *pid = json_string_value(json_array_get(up, i));
				json_object_set_new(o, pid, nested);
				nested = o;
			}
			json_object_set_new(p, "parents", nested);
		}
	}
	if (sl) {
		_cleanup_json_ json_t *down = idstore_project_subtree(id);
		json_object_set_new(p, "subtree", as_list(r, down));
	} else if (si) {
		json_t *sub = subtree_ids(id, 0);
		json_object_set_new(p, "subtree", json_object_size(sub) ? sub
				    : (json_decref(sub), json_null()));
	}
	kresp_json(r, 200, json_pack("{s:o}", "project", id_links(r, p, "projects", id)));
}

/* The extra and options texts of the row (malloc'd, or NULL). */
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

/* A changed attribute that can't change, in Keystone's order and with its
 * statuses: domain_id 400, (immutable 403), parent_id 403, is_domain 400.
 * Answers and returns true. */
static bool fixed_changed(kreq *r, const json_t *cur, const json_t *body)
{
	json_t *v = json_object_get(body, "domain_id");
	if (v && !json_equal(v, json_object_get(cur, "domain_id"))) {
		id_bad_request(r, "Cannot change Domain ID");
		return true;
	}
	bool dom = json_is_true(json_object_get(cur, "is_domain"));
	if (id_immutable_update_refused(r, cur, body, dom ? "domain" : "project"))
		return true;
	v = json_object_get(body, "parent_id");
	if (v && !json_equal(v, json_object_get(cur, "parent_id"))) {
		kresp_error(r, 403, "Update of `parent_id` is not allowed.");
		return true;
	}
	v = json_object_get(body, "is_domain");
	if (v && !json_equal(v, json_object_get(cur, "is_domain"))) {
		id_bad_request(r, "Update of `is_domain` is not allowed.");
		return true;
	}
	return false;
}

void id_project_update(kreq *r)
{
	json_t *body = id_body_member(r, "project");
	if (!body)
		return;
	if (!id_validate(r, "project", body, project_update_fields,
			  ARRAY_SIZE(project_update_fields), true, 1))
		return;
	_cleanup_json_ json_t *p = path_project(r, "identity:update_project");
	if (!p)
		return;
	const char *id = kjson_str(p, "id");
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	if (fixed_changed(r, p, body))
		return;
	if (json_is_true(json_object_get(p, "is_domain"))) {
		id_domain_update_from(r, p, body, true);
		return;
	}

	bool was_enabled = json_is_true(json_object_get(p, "enabled"));
	json_t *ev = json_object_get(body, "enabled");
	bool enabled = ev && !json_is_null(ev) ? id_bool_value(ev, true) : was_enabled;
	if (enabled && !was_enabled) {
		_cleanup_json_ json_t *up = idstore_project_parents(id);
		size_t i;
		json_t *v;
		json_array_foreach(up, i, v) {
			if (!project_enabled(json_string_value(v))) {
				kresp_error(r, 403, "Cannot enable project %s since it has "
					    "disabled parents", id);
				return;
			}
		}
	}
	if (!enabled && was_enabled) {
		_cleanup_json_ json_t *down = idstore_project_subtree(id);
		size_t i;
		json_t *v;
		json_array_foreach(down, i, v) {
			if (project_enabled(json_string_value(v))) {
				kresp_error(r, 403, "Cannot disable project %s since its subtree "
					    "contains enabled projects.", id);
				return;
			}
		}
	}
	const char *name = kjson_str(p, "name");
	if (json_object_get(body, "name"))
		name = strip(r->pool, kjson_str(body, "name"));
	const char *desc = kjson_str(p, "description");
	if (json_object_get(body, "description"))
		desc = kjson_str(body, "description");
	_cleanup_free_ char *old_extra = NULL, *old_options = NULL;
	row_texts(id, &old_extra, &old_options);
	_cleanup_free_ char *extra = idstore_extra_update(old_extra, body, project_known);
	_cleanup_json_ json_t *none = json_object();
	json_t *opts = json_object_get(body, "options");
	_cleanup_free_ char *options = idstore_options_text(old_options, opts ? opts : none);
	json_t *tags = json_object_get(body, "tags");

	kdb_begin(id_db);
	int rc = kdb_run(id_db, NULL,
			 "UPDATE id_project SET name = ?, description = ?, enabled = ?, extra = ?,"
			 " options = ? WHERE id = ?", "ssbsss", name, desc, enabled, extra,
			 options, id);
	if (rc == KDB_DONE && tags && id_tags_write(id, tags) != 0)
		rc = KDB_ERROR;
	if (rc != KDB_DONE) {
		kdb_rollback(id_db);
		if (rc == KDB_CONSTRAINT)
			id_conflict(r, "project", "it is not permitted to have two projects "
				     "with either the same name or same id in the same domain: "
				     "name is %s, project id %s", name, id);
		else
			id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	if (was_enabled && !enabled)
		idtoken_revoke_project(id);
	reply(r, 200, id);
}

void id_project_delete(kreq *r)
{
	_cleanup_json_ json_t *p = path_project(r, "identity:delete_project");
	if (!p)
		return;
	if (json_is_true(json_object_get(p, "is_domain"))) {
		id_domain_delete_row(r, p);
		return;
	}
	if (id_immutable_delete_refused(r, p, "project"))
		return;
	const char *id = kjson_str(p, "id");
	bool cascade = id_query_flag(r, "cascade");
	_cleanup_json_ json_t *victims = idstore_project_subtree(id);
	if (json_array_size(victims) && !cascade) {
		kresp_error(r, 403, "Cannot delete the project %s since it is not a leaf in the "
			    "hierarchy. Use the cascade option if you want to delete a whole "
			    "subtree.", id);
		return;
	}
	size_t i;
	json_t *v;
	json_array_foreach(victims, i, v) {
		if (project_enabled(json_string_value(v))) {
			kresp_error(r, 403, "Cannot delete project %s since its subtree contains "
				    "enabled projects.", id);
			return;
		}
	}
	json_array_append_new(victims, json_string(id));
	kdb_begin(id_db);
	json_array_foreach(victims, i, v) {
		const char *pid = json_string_value(v);
		if (kdb_run(id_db, NULL, "DELETE FROM id_assignment WHERE target_id = ?", "s",
			    pid) != KDB_DONE ||
		    kdb_run(id_db, NULL, "DELETE FROM id_project_tag WHERE project_id = ?", "s",
			    pid) != KDB_DONE ||
		    idstore_appcreds_delete(NULL, pid) != 0 ||
		    idstore_epfilter_forget(NULL, pid) != 0 ||
		    kdb_run(id_db, NULL, "DELETE FROM id_limit WHERE project_id = ?", "s", pid)
		    != KDB_DONE ||
		    kdb_run(id_db, NULL, "DELETE FROM id_credential WHERE project_id = ?", "s",
			    pid) != KDB_DONE ||
		    kdb_run(id_db, NULL, "DELETE FROM id_project WHERE id = ? AND is_domain = 0",
			    "s", pid) != KDB_DONE) {
			kdb_rollback(id_db);
			id_internal(r);
			return;
		}
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "deleted project %s", id);
	json_array_foreach(victims, i, v)
		idtoken_revoke_project(json_string_value(v));
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* tags */

/* Tags of an immutable project can't change: 403 and true. */
static bool tags_refused(kreq *r, const json_t *p, const char *verb)
{
	if (!idstore_immutable(p))
		return false;
	kresp_error(r, 403, "Cannot %s project tags for %s, project is immutable. Set "
		    "\"immutable\" option to false before creating project tags.", verb,
		    kjson_str(p, "id"));
	return true;
}

static void reply_tags(kreq *r, const char *id)
{
	json_t *tags = idstore_project_tags(id);
	const char *self = kpool_printf(r->pool, "%s%s", kreq_base_url(r), r->path);
	kresp_json(r, 200, json_pack("{s:o,s:{s:s}}", "tags", tags, "links", "self", self));
}

void id_project_tags_get(kreq *r)
{
	_cleanup_json_ json_t *p = path_project(r, "identity:list_project_tags");
	if (p)
		reply_tags(r, kjson_str(p, "id"));
}

void id_project_tags_put(kreq *r)
{
	json_t *body = id_json_body(r);
	if (!body)
		return;
	static const id_field fields[] = { { "tags", ID_F_TAGS, 0, 0, false, true } };
	if (!id_validate(r, "tags", body, fields, ARRAY_SIZE(fields), false, 0))
		return;
	_cleanup_json_ json_t *p = path_project(r, "identity:update_project_tags");
	if (!p || tags_refused(r, p, "update"))
		return;
	const char *id = kjson_str(p, "id");
	kdb_begin(id_db);
	if (id_tags_write(id, json_object_get(body, "tags")) != 0) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	reply_tags(r, id);
}

void id_project_tags_delete(kreq *r)
{
	_cleanup_json_ json_t *p = path_project(r, "identity:delete_project_tags");
	if (!p || tags_refused(r, p, "update"))
		return;
	if (kdb_run(id_db, NULL, "DELETE FROM id_project_tag WHERE project_id = ?", "s",
		    kjson_str(p, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}

void id_project_tag_check(kreq *r)
{
	_cleanup_json_ json_t *p = path_project(r, "identity:get_project_tag");
	if (!p)
		return;
	const char *tag = kreq_param(r, "value");
	_cleanup_json_ json_t *tags = idstore_project_tags(kjson_str(p, "id"));
	if (!has_tag(tags, tag)) {
		id_not_found(r, "project tag", tag);
		return;
	}
	kresp_status(r, 204);
}

void id_project_tag_put(kreq *r)
{
	_cleanup_json_ json_t *p = path_project(r, "identity:create_project_tag");
	if (!p || tags_refused(r, p, "create"))
		return;
	const char *id = kjson_str(p, "id");
	const char *tag = kreq_param(r, "value");
	_cleanup_json_ json_t *one = json_pack("{s:[s]}", "tags", tag);
	static const id_field fields[] = { { "tags", ID_F_TAGS, 0, 0, false, true } };
	if (!id_validate(r, "tags", one, fields, ARRAY_SIZE(fields), false, 0))
		return;
	_cleanup_json_ json_t *tags = idstore_project_tags(id);
	if (!has_tag(tags, tag)) {
		if (json_array_size(tags) + 1 > MAX_TAGS) {
			id_bad_request(r, "Invalid input for field/attribute tags. Value: %s. "
					"The number of tags is limited to %d", tag, MAX_TAGS);
			return;
		}
		int rc = kdb_run(id_db, NULL,
				 "INSERT INTO id_project_tag (project_id, name) VALUES (?, ?)",
				 "ss", id, tag);
		if (rc != KDB_DONE && rc != KDB_CONSTRAINT) {
			id_internal(r);
			return;
		}
	}
	kresp_header(r, "Location", id_url(r, "projects/%s/tags/%s", id, tag));
	kresp_status(r, 201);
}

void id_project_tag_delete(kreq *r)
{
	_cleanup_json_ json_t *p = path_project(r, "identity:delete_project_tag");
	if (!p || tags_refused(r, p, "delete"))
		return;
	const char *tag = kreq_param(r, "value");
	int64_t n = 0;
	if (kdb_run(id_db, &n, "DELETE FROM id_project_tag WHERE project_id = ? AND name = ?",
		    "ss", kjson_str(p, "id"), tag) != KDB_DONE) {
		id_internal(r);
		return;
	}
	if (n == 0) {
		id_not_found(r, "project tag", tag);
		return;
	}
	kresp_status(r, 204);
}
