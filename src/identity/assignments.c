/*
 * assignments.c - role grants and /v3/role_assignments.
 *
 * Every grant route (a user or a group; on a project, a domain or the
 * system; plain or OS-INHERIT "inherited_to_projects") goes to the same four
 * handlers.  The matched route says which: its captures name the actor and
 * the target, its pattern tells system and inherited grants apart.  A grant
 * is one row of id_assignment (store.c).
 *
 * /v3/role_assignments lists grants with Keystone's filters and, with
 * ?effective, the assignments that actually reach users (groups expanded
 * into members, inheritance into projects, implied roles added); each
 * entry links to the grant it comes from, and to the group membership or
 * prior role that made it effective (Keystone's _format_entity).
 *
 * Removing a grant revokes the affected tokens (idtoken_revoke_assignment
 * for plain user grants; all tokens of each affected user when a group or
 * an inherited grant is removed, since its reach is wider); removing a
 * user's role on a project also deletes the user's application credentials
 * there, as Keystone does.  Adding a grant drops the token code's cache, so
 * tokens show the new role at once.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "resource.h"

typedef struct grant_path {
	const char *user_id, *group_id;
	const char *project_id, *domain_id;
	bool system, inherited;
	const char *role_id;
	const char *type;
	const char *target_id;
} grant_path;

static void parse(kreq *r, grant_path *g)
{
	memset(g, 0, sizeof(*g));
	const char *pattern = r->route && r->route->pattern ? r->route->pattern : r->path;
	g->user_id = kreq_param(r, "user_id");
	g->group_id = kreq_param(r, "group_id");
	g->project_id = kreq_param(r, "project_id");
	g->domain_id = kreq_param(r, "domain_id");
	g->role_id = kreq_param(r, "role_id");
	g->system = strncmp(pattern, "/v3/system/", 11) == 0;
	g->inherited = strstr(pattern, "/inherited_to_projects") != NULL;
	const char *target = g->project_id ? "Project" : g->domain_id ? "Domain" : "System";
	g->type = kpool_printf(r->pool, "%s%s", g->user_id ? "User" : "Group", target);
	g->target_id = g->project_id ? g->project_id : g->domain_id ? g->domain_id : "system";
}

static const char *action(kreq *r, const grant_path *g, const char *verb)
{
	if (!g->system)
		return kpool_printf(r->pool, "identity:%s_grant%s", verb,
				    strcmp(verb, "list") == 0 ? "s" : "");
	const char *actor = g->user_id ? "user" : "group";
	if (strcmp(verb, "list") == 0)
		return kpool_printf(r->pool, "identity:list_system_grants_for_%s", actor);
	return kpool_printf(r->pool, "identity:%s_system_grant_for_%s", verb, actor);
}

typedef struct grant_objs {
	json_t *actor, *target, *role;
} grant_objs;

static void grant_objs_free(grant_objs *o)
{
	json_decref(o->actor);
	json_decref(o->target);
	json_decref(o->role);
}

/* Load the entities, enforce, then 404 for whatever is missing. */
static bool load_and_enforce(kreq *r, const grant_path *g, const char *verb, grant_objs *o)
{
	o->actor = g->user_id ? idstore_user_get(g->user_id) : idstore_group_get(g->group_id);
	if (g->project_id)
		o->target = idstore_project_get(g->project_id);
	else if (g->domain_id)
		o->target = idstore_domain_get(g->domain_id);
	if (g->role_id)
		o->role = idstore_role_get(g->role_id);

	_cleanup_json_ json_t *target = json_object();
	json_t *t = json_object();
	json_object_set_new(target, "target", t);
	if (g->user_id) {
		json_object_set_new(target, "user_id", json_string(g->user_id));
		json_object_set(t, "user", o->actor ? o->actor : json_null());
	} else {
		json_object_set_new(target, "group_id", json_string(g->group_id));
		json_object_set(t, "group", o->actor ? o->actor : json_null());
	}
	if (g->project_id) {
		json_object_set_new(target, "project_id", json_string(g->project_id));
		json_object_set(t, "project", o->target ? o->target : json_null());
	} else if (g->domain_id) {
		json_object_set_new(target, "domain_id", json_string(g->domain_id));
		json_object_set(t, "domain", o->target ? o->target : json_null());
	}
	if (g->role_id) {
		json_object_set_new(target, "role_id", json_string(g->role_id));
		json_object_set(t, "role", o->role ? o->role : json_null());
	}
	if (!id_enforce(r, action(r, g, verb), target))
		return false;

	if (g->role_id && !o->role) {
		id_not_found(r, "role", g->role_id);
		return false;
	}
	if (!o->actor) {
		id_not_found(r, g->user_id ? "user" : "group",
			      g->user_id ? g->user_id : g->group_id);
		return false;
	}
	if ((g->project_id || g->domain_id) && !o->target) {
		id_not_found(r, g->project_id ? "project" : "domain",
			      g->project_id ? g->project_id : g->domain_id);
		return false;
	}
	return true;
}

static void not_found(kreq *r, const grant_path *g)
{
	kresp_error(r, 404, "Could not find role assignment with role: %s, user or group: %s, "
		    "project, domain, or system: %s.", g->role_id,
		    g->user_id ? g->user_id : g->group_id, g->target_id);
}

void id_grant_put(kreq *r)
{
	grant_path g;
	parse(r, &g);
	_cleanup_(grant_objs_free) grant_objs o = { 0 };
	if (!load_and_enforce(r, &g, "create", &o))
		return;
	const char *rdom = kjson_str(o.role, "domain_id");
	if (rdom && g.project_id && strcmp(rdom, kjson_str(o.target, "domain_id")) != 0) {
		kresp_error(r, 403, "Project %s must be in the same domain as the role %s being "
			    "assigned.", g.project_id, g.role_id);
		return;
	}
	if (idstore_grant_add(g.type, g.user_id ? g.user_id : g.group_id, g.target_id, g.role_id,
			      g.inherited) != KDB_DONE) {
		id_internal(r);
		return;
	}
	/* tokens show the new role at once (roles are resolved at validation) */
	idtoken_invalidate_cache();
	kresp_status(r, 204);
}

void id_grant_check(kreq *r)
{
	grant_path g;
	parse(r, &g);
	_cleanup_(grant_objs_free) grant_objs o = { 0 };
	if (!load_and_enforce(r, &g, "check", &o))
		return;
	if (!idstore_grant_exists(g.type, g.user_id ? g.user_id : g.group_id, g.target_id,
				  g.role_id, g.inherited)) {
		not_found(r, &g);
		return;
	}
	kresp_status(r, 204);
}

void id_grant_delete(kreq *r)
{
	grant_path g;
	parse(r, &g);
	_cleanup_(grant_objs_free) grant_objs o = { 0 };
	if (!load_and_enforce(r, &g, "revoke", &o))
		return;
	int n = idstore_grant_del(g.type, g.user_id ? g.user_id : g.group_id, g.target_id,
				  g.role_id, g.inherited);
	if (n < 0) {
		id_internal(r);
		return;
	}
	if (n == 0) {
		not_found(r, &g);
		return;
	}
	/* as Keystone: a user who loses a role on a project loses the
	 * application credentials there */
	if (g.user_id && g.project_id && !g.inherited)
		idstore_appcreds_delete(g.user_id, g.project_id);
	_cleanup_json_ json_t *users = json_array();
	if (g.user_id)
		json_array_append_new(users, json_string(g.user_id));
	else {
		_cleanup_json_ json_t *m = idstore_group_member_ids(g.group_id);
		json_array_extend(users, m);
	}
	size_t i;
	json_t *u;
	json_array_foreach(users, i, u) {
		if (g.system || g.inherited)
			idtoken_revoke_user(json_string_value(u));
		else
			idtoken_revoke_assignment(json_string_value(u), g.project_id, g.domain_id);
	}
	kresp_status(r, 204);
}

void id_grant_list(kreq *r)
{
	grant_path g;
	parse(r, &g);
	_cleanup_(grant_objs_free) grant_objs o = { 0 };
	if (!load_and_enforce(r, &g, "list", &o))
		return;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT role_id FROM id_assignment WHERE type = ? AND actor_id = ?"
		" AND target_id = ? AND inherited = ? ORDER BY role_id");
	if (!st) {
		id_internal(r);
		return;
	}
	kstmt_bind_text(st, 1, g.type);
	kstmt_bind_text(st, 2, g.user_id ? g.user_id : g.group_id);
	kstmt_bind_text(st, 3, g.target_id);
	kstmt_bind_int(st, 4, g.inherited ? 1 : 0);
	_cleanup_json_ json_t *ids = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(ids, json_string(kstmt_text(st, 0)));
	json_t *arr = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		const char *rid = json_string_value(v);
		json_t *role = idstore_role_get(rid);
		if (role)
			json_array_append_new(arr, id_links(r, role, "roles", rid));
	}
	kresp_json(r, 200, id_list(r, "roles", arr));
}

/* ------------------------------------------------------------------ */
/* /v3/role_assignments */

/* Names for include_names, cached per request. */
typedef struct names {
	json_t *cache;    /* "<kind>:<id>" -> object */
} names;

static json_t *domain_ref(names *n, const char *id)
{
	const char *key = id;
	json_t *d = json_object_get(n->cache, key);
	if (!d) {
		_cleanup_json_ json_t *dom = idstore_domain_get(id);
		d = json_pack("{s:s,s:s}", "id", id, "name", dom ? kjson_str(dom, "name") : "");
		json_object_set_new(n->cache, key, d);
	}
	return json_deep_copy(d);
}

static json_t *named(names *n, const char *kind, const char *id)
{
	char key[160];
	snprintf(key, sizeof(key), "%s:%s", kind, id);
	json_t *c = json_object_get(n->cache, key);
	if (c)
		return json_deep_copy(c);
	_cleanup_json_ json_t *obj = strcmp(kind, "user") == 0 ? idstore_user_get(id)
		: strcmp(kind, "group") == 0 ? idstore_group_get(id)
		: strcmp(kind, "project") == 0 ? idstore_project_any(id)
		: idstore_role_get(id);
	json_t *out = json_pack("{s:s,s:s}", "id", id, "name",
				obj && kjson_str(obj, "name") ? kjson_str(obj, "name") : "");
	const char *dom = obj ? kjson_str(obj, "domain_id") : NULL;
	if (strcmp(kind, "role") != 0 || dom)
		json_object_set_new(out, "domain", dom ? domain_ref(n, dom)
				    : json_pack("{s:s,s:s}", "id", "", "name", ""));
	json_object_set_new(n->cache, key, out);
	return json_deep_copy(out);
}

static json_t *format_entity(kreq *r, const json_t *ref, names *n)
{
	json_t *e = json_object();
	json_t *links = json_object();
	json_object_set_new(e, "links", links);
	json_t *ind = json_object_get(ref, "indirect");
	bool inherited = json_is_true(json_object_get(ref, "inherited_to_projects"));
	const char *path = "";
	const char *pid = kjson_str(ref, "project_id"), *did = kjson_str(ref, "domain_id");
	const char *uid = kjson_str(ref, "user_id"), *gid = kjson_str(ref, "group_id");
	const char *rid = kjson_str(ref, "role_id");

	json_t *scope = json_object();
	json_object_set_new(e, "scope", scope);
	if (pid) {
		json_object_set_new(scope, "project", n ? named(n, "project", pid)
						       : json_pack("{s:s}", "id", pid));
		if (kjson_str(ind, "domain_id")) {
			inherited = true;
			path = kpool_printf(r->pool, "domains/%s", kjson_str(ind, "domain_id"));
		} else if (kjson_str(ind, "project_id")) {
			inherited = true;
			path = kpool_printf(r->pool, "projects/%s", kjson_str(ind, "project_id"));
		} else {
			path = kpool_printf(r->pool, "projects/%s", pid);
		}
	} else if (did) {
		json_object_set_new(scope, "domain", n ? domain_ref(n, did)
						      : json_pack("{s:s}", "id", did));
		path = kpool_printf(r->pool, "domains/%s", did);
	} else {
		json_object_set_new(scope, "system", json_pack("{s:b}", "all", 1));
		path = "system";
	}

	if (uid) {
		json_object_set_new(e, "user", n ? named(n, "user", uid)
						 : json_pack("{s:s}", "id", uid));
		if (kjson_str(ind, "group_id")) {
			json_object_set_new(links, "membership", json_string(id_url(r,
				"groups/%s/users/%s", kjson_str(ind, "group_id"), uid)));
			path = kpool_printf(r->pool, "%s/groups/%s", path,
					    kjson_str(ind, "group_id"));
		} else {
			path = kpool_printf(r->pool, "%s/users/%s", path, uid);
		}
	} else if (gid) {
		json_object_set_new(e, "group", n ? named(n, "group", gid)
						  : json_pack("{s:s}", "id", gid));
		path = kpool_printf(r->pool, "%s/groups/%s", path, gid);
	}

	json_object_set_new(e, "role", n ? named(n, "role", rid) : json_pack("{s:s}", "id", rid));
	const char *prior = kjson_str(ind, "role_id");
	path = kpool_printf(r->pool, "%s/roles/%s", path, prior ? prior : rid);
	if (inherited) {
		json_object_set_new(scope, "OS-INHERIT:inherited_to", json_string("projects"));
		path = kpool_printf(r->pool, "OS-INHERIT/%s/inherited_to_projects", path);
	}
	json_object_set_new(links, "assignment", json_string(id_url(r, "%s", path)));
	if (prior)
		json_object_set_new(links, "prior_role", json_string(id_url(r,
			"prior_role/%s/implies/%s", rid, prior)));
	return e;
}

/* Does the assignment fall in domain d (domain-scoped callers see only
 * their domain)? */
static bool in_domain(const json_t *ref, const char *d)
{
	const char *did = kjson_str(ref, "domain_id");
	if (did)
		return strcmp(did, d) == 0;
	const char *pid = kjson_str(ref, "project_id");
	if (!pid)
		return false;
	_cleanup_json_ json_t *p = idstore_project_get(pid);
	return p && kjson_str(p, "domain_id") && strcmp(kjson_str(p, "domain_id"), d) == 0;
}

void id_role_assignments(kreq *r)
{
	idstore_asg_query q = { .inherited = -1 };
	q.user_id = kreq_query(r, "user.id");
	q.group_id = kreq_query(r, "group.id");
	q.role_id = kreq_query(r, "role.id");
	q.project_id = kreq_query(r, "scope.project.id");
	q.domain_id = kreq_query(r, "scope.domain.id");
	/* Keystone ignores scope.system unless it is "all", but still refuses
	 * to combine it with a domain or project. */
	const char *sys = kreq_query(r, "scope.system");
	q.system = sys && strcmp(sys, "all") == 0;
	const char *inh = kreq_query(r, "scope.OS-INHERIT:inherited_to");
	if (inh)
		q.inherited = strcmp(inh, "projects") == 0 ? 1 : 0;
	q.effective = id_query_flag(r, "effective") ||
		      (kreq_query(r, "effective") && !*kreq_query(r, "effective"));
	q.include_subtree = id_query_flag(r, "include_subtree");
	bool include_names = id_query_flag(r, "include_names");
	const char *scope = id_scope_domain(r);

	/* Policy first, as Keystone's enforcer does. */
	if (q.include_subtree) {
		_cleanup_json_ json_t *p = q.project_id ? idstore_project_get(q.project_id) : NULL;
		_cleanup_json_ json_t *target = json_object();
		if (p) {
			json_object_set_new(target, "target", json_pack("{s:O}", "project", p));
			json_object_set(target, "domain_id", json_object_get(p, "domain_id"));
		}
		if (!id_enforce(r, "identity:list_role_assignments_for_tree", target))
			return;
		if (!q.project_id) {
			id_bad_request(r, "scope.project.id must be specified if "
					"include_subtree is also specified");
			return;
		}
	} else {
		_cleanup_json_ json_t *target = scope ? json_pack("{s:s}", "domain_id", scope)
						      : NULL;
		if (!id_enforce(r, "identity:list_role_assignments", target))
			return;
	}
	if (q.domain_id && q.project_id) {
		id_bad_request(r, "Specify a domain or project, not both");
		return;
	}
	if (sys && q.domain_id) {
		id_bad_request(r, "Specify system or domain, not both");
		return;
	}
	if (sys && q.project_id) {
		id_bad_request(r, "Specify system or project, not both");
		return;
	}
	if (q.user_id && q.group_id) {
		id_bad_request(r, "Specify a user or group, not both");
		return;
	}
	if (q.effective && q.group_id) {
		id_bad_request(r, "Combining effective and group filter will always result in an "
				"empty list.");
		return;
	}
	if (q.effective && q.inherited == 1 && q.domain_id) {
		id_bad_request(r, "Combining effective, domain and inherited filters will always "
				"result in an empty list.");
		return;
	}

	_cleanup_json_ json_t *refs = idstore_assignments(&q);
	if (!refs) {
		id_internal(r);
		return;
	}
	names n = { .cache = json_object() };
	json_t *arr = json_array();
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref) {
		if (scope && !in_domain(ref, scope))
			continue;
		json_array_append_new(arr, format_entity(r, ref, include_names ? &n : NULL));
	}
	json_decref(n.cache);
	kresp_json(r, 200, id_list(r, "role_assignments", arr));
}
