/*
 * epfilter.c - OS-EP-FILTER: endpoint groups and project-endpoint
 * associations, and the catalog filtering they imply.
 *
 * An endpoint group is a named filter over endpoints ({"service_id",
 * "region_id", "interface"}, every given key must match).  Endpoints and
 * endpoint groups can be associated with projects; once a project has any
 * association, the catalog of its tokens holds only the associated
 * endpoints (those listed directly, plus those matched by its groups), and
 * services left without endpoints drop out, as with Keystone's sql catalog
 * (return_all_endpoints_if_no_filter = true: no association, full catalog).
 *
 * Filtering must not slow down token validation in the common case of no
 * association at all: idstore_epfilter_any() is one indexed query, and the
 * token code only calls it when it rebuilds its cached catalog.  Every
 * change to associations drops the token caches.  Deleting an endpoint, an
 * endpoint group or a project deletes its associations.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

static const char *const filter_keys[] = { "service_id", "region_id", "interface", NULL };

static const id_field group_create_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, true },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "filters", ID_F_OBJECT, 0, 0, false, true },
};
static const id_field group_update_fields[] = {
	{ "name", ID_F_STRING, 1, 255, true, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "filters", ID_F_OBJECT, 0, 0, false, false },
};

/* ------------------------------------------------------------------ */
/* the model */

/* cols: id, name, description, filters */
static json_t *group_from_row(kstmt *st)
{
	json_t *g = json_object();
	json_object_set_new(g, "id", json_string(kstmt_text(st, 0)));
	json_object_set_new(g, "name", json_string(kstmt_text(st, 1)));
	json_object_set_new(g, "description", kstmt_text(st, 2) ? json_string(kstmt_text(st, 2))
								: json_null());
	json_t *f = kstmt_text(st, 3) ? json_loads(kstmt_text(st, 3), 0, NULL) : NULL;
	json_object_set_new(g, "filters", json_is_object(f) ? f : (json_decref(f), json_object()));
	return g;
}

static json_t *group_get(const char *id)
{
	if (!id)
		return NULL;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT id, name, description, filters FROM id_endpoint_group WHERE id = ?");
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, id);
	return kstmt_step(st) == KDB_ROW ? group_from_row(st) : NULL;
}

static bool endpoint_matches(const json_t *ep, const json_t *filters)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)filters, k, v) {
		if (!json_equal(json_object_get(ep, k), v))
			return false;
	}
	return true;
}

/* All endpoints (API shape) matched by a group's filters. */
static json_t *group_endpoints(const json_t *group)
{
	json_t *out = json_array();
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT " IDSTORE_ENDPOINT_COLS " FROM id_endpoint"
		" ORDER BY service_id, interface, id");
	if (!st)
		return out;
	json_t *filters = json_object_get(group, "filters");
	while (kstmt_step(st) == KDB_ROW) {
		json_t *e = idstore_endpoint_from_row(st);
		if (endpoint_matches(e, filters))
			json_array_append_new(out, e);
		else
			json_decref(e);
	}
	return out;
}

static json_t *ids_of(const char *sql, const char *arg)
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

json_t *idstore_project_endpoints(const char *project_id)
{
	json_t *out = json_object();
	_cleanup_json_ json_t *direct = ids_of(
		"SELECT endpoint_id FROM id_project_endpoint WHERE project_id = ?"
		" ORDER BY endpoint_id", project_id);
	size_t i, j;
	json_t *v, *e;
	json_array_foreach(direct, i, v) {
		json_t *ep = idstore_endpoint_get(json_string_value(v));
		if (ep)
			json_object_set_new(out, json_string_value(v), ep);
	}
	_cleanup_json_ json_t *groups = ids_of(
		"SELECT endpoint_group_id FROM id_project_endpoint_group WHERE project_id = ?"
		" ORDER BY endpoint_group_id", project_id);
	json_array_foreach(groups, i, v) {
		_cleanup_json_ json_t *g = group_get(json_string_value(v));
		_cleanup_json_ json_t *eps = g ? group_endpoints(g) : NULL;
		json_array_foreach(eps, j, e) {
			if (!json_object_get(out, kjson_str(e, "id")))
				json_object_set(out, kjson_str(e, "id"), e);
		}
	}
	return out;
}

bool idstore_epfilter_any(void)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT 1 FROM id_project_endpoint UNION ALL"
		" SELECT 1 FROM id_project_endpoint_group");
	return st && kstmt_step(st) == KDB_ROW;
}

json_t *idstore_catalog_filtered(const json_t *catalog, const char *project_id)
{
	if (!project_id)
		return NULL;
	_cleanup_json_ json_t *allowed = idstore_project_endpoints(project_id);
	if (json_object_size(allowed) == 0)
		return NULL;
	json_t *out = json_array();
	size_t i, j;
	json_t *svc, *ep;
	json_array_foreach((json_t *)catalog, i, svc) {
		json_t *eps = json_array();
		json_array_foreach(json_object_get(svc, "endpoints"), j, ep) {
			json_t *a = json_object_get(allowed, kjson_str(ep, "id"));
			if (a && json_is_true(json_object_get(a, "enabled")))
				json_array_append(eps, ep);
		}
		if (json_array_size(eps) == 0) {
			json_decref(eps);
			continue;
		}
		json_t *copy = json_copy(svc);
		json_object_set_new(copy, "endpoints", eps);
		json_array_append_new(out, copy);
	}
	return out;
}

int idstore_epfilter_forget(const char *endpoint_id, const char *project_id)
{
	if (endpoint_id && kdb_run(id_db, NULL,
				   "DELETE FROM id_project_endpoint WHERE endpoint_id = ?", "s",
				   endpoint_id) != KDB_DONE)
		return -1;
	if (project_id &&
	    (kdb_run(id_db, NULL, "DELETE FROM id_project_endpoint WHERE project_id = ?", "s",
		     project_id) != KDB_DONE ||
	     kdb_run(id_db, NULL, "DELETE FROM id_project_endpoint_group WHERE project_id = ?",
		     "s", project_id) != KDB_DONE))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* request helpers */

static json_t *group_links(kreq *r, json_t *g)
{
	json_object_set_new(g, "links", json_pack("{s:s}", "self",
		id_url(r, "OS-EP-FILTER/endpoint_groups/%s", kjson_str(g, "id"))));
	return g;
}

static bool valid_filters(kreq *r, const json_t *filters)
{
	if (json_object_size(filters) == 0) {
		id_bad_request(r, "filters field is required and cannot be empty");
		return false;
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)filters, k, v) {
		bool known = false;
		for (size_t i = 0; filter_keys[i] && !known; i++)
			known = strcmp(k, filter_keys[i]) == 0;
		if (!known || !json_is_string(v)) {
			id_bad_request(r, "Expecting to find service_id or region_id or "
				       "interface in endpoint_group. The server could not comply "
				       "with the request since it is either malformed or otherwise "
				       "incorrect. The client is assumed to be in error.");
			return false;
		}
	}
	return true;
}

/* Policy, then the group of the path; NULL when answered. */
static json_t *path_group(kreq *r, const char *action)
{
	if (!id_enforce(r, action, NULL))
		return NULL;
	const char *id = kreq_param(r, "endpoint_group_id");
	json_t *g = group_get(id);
	if (!g)
		kresp_error(r, 404, "Could not find Endpoint Group: %s.", id);
	return g;
}

static json_t *path_project(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	json_t *p = idstore_project_get(id);
	if (!p)
		id_not_found(r, "project", id);
	return p;
}

static json_t *path_endpoint(kreq *r)
{
	const char *id = kreq_param(r, "endpoint_id");
	json_t *e = idstore_endpoint_get(id);
	if (!e)
		id_not_found(r, "endpoint", id);
	return e;
}

static json_t *endpoint_list(kreq *r, json_t *eps)
{
	size_t i;
	json_t *e;
	json_array_foreach(eps, i, e)
		id_links(r, e, "endpoints", kjson_str(e, "id"));
	return id_list(r, "endpoints", eps);
}

static json_t *project_list(kreq *r, const json_t *project_ids)
{
	json_t *arr = json_array();
	size_t i;
	json_t *v;
	json_array_foreach((json_t *)project_ids, i, v) {
		json_t *p = idstore_project_any(json_string_value(v));
		if (p)
			json_array_append_new(arr, id_links(r, p, "projects",
							    json_string_value(v)));
	}
	return id_list(r, "projects", arr);
}

/* ------------------------------------------------------------------ */
/* endpoint groups */

void id_epgroups_list(kreq *r)
{
	if (!id_enforce(r, "identity:list_endpoint_groups", NULL))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT id, name, description, filters FROM id_endpoint_group");
	if (kreq_query(r, "name"))
		id_sql_and(&q, "name = ?", kreq_query(r, "name"));
	id_sql_append(&q, "ORDER BY name, id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(arr, group_links(r, group_from_row(st)));
	kresp_json(r, 200, id_list(r, "endpoint_groups", arr));
}

void id_epgroups_create(kreq *r)
{
	if (!id_enforce(r, "identity:create_endpoint_group", NULL))
		return;
	json_t *body = id_body_member(r, "endpoint_group");
	if (!body || !id_validate(r, "endpoint_group", body, group_create_fields,
				  ARRAY_SIZE(group_create_fields), true, 0) ||
	    !valid_filters(r, json_object_get(body, "filters")))
		return;
	char id[33];
	kutil_uuid_hex(id);
	_cleanup_free_ char *filters = json_dumps(json_object_get(body, "filters"),
						  JSON_COMPACT | JSON_SORT_KEYS);
	if (!filters || kdb_run(id_db, NULL, "INSERT INTO id_endpoint_group (id, name,"
				" description, filters) VALUES (?, ?, ?, ?)", "ssss", id,
				kjson_str(body, "name"), kjson_str(body, "description"), filters)
	    != KDB_DONE) {
		id_internal(r);
		return;
	}
	json_t *g = group_get(id);
	if (!g) {
		id_internal(r);
		return;
	}
	kresp_json(r, 201, json_pack("{s:o}", "endpoint_group", group_links(r, g)));
}

void id_epgroup_get(kreq *r)
{
	json_t *g = path_group(r, "identity:get_endpoint_group");
	if (g)
		kresp_json(r, 200, json_pack("{s:o}", "endpoint_group", group_links(r, g)));
}

void id_epgroup_update(kreq *r)
{
	_cleanup_json_ json_t *g = path_group(r, "identity:update_endpoint_group");
	if (!g)
		return;
	json_t *body = id_body_member(r, "endpoint_group");
	if (!body || !id_validate(r, "endpoint_group", body, group_update_fields,
				  ARRAY_SIZE(group_update_fields), true, 1))
		return;
	json_t *f = json_object_get(body, "filters");
	if (f && !valid_filters(r, f))
		return;
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, kjson_str(g, "id")) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	json_object_update_existing(g, body);
	_cleanup_free_ char *filters = json_dumps(json_object_get(g, "filters"),
						  JSON_COMPACT | JSON_SORT_KEYS);
	if (!filters || kdb_run(id_db, NULL, "UPDATE id_endpoint_group SET name = ?,"
				" description = ?, filters = ? WHERE id = ?", "ssss",
				kjson_str(g, "name"), kjson_str(g, "description"), filters,
				kjson_str(g, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	idtoken_invalidate_cache();
	json_t *n = group_get(kjson_str(g, "id"));
	if (!n) {
		id_internal(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "endpoint_group", group_links(r, n)));
}

void id_epgroup_delete(kreq *r)
{
	_cleanup_json_ json_t *g = path_group(r, "identity:delete_endpoint_group");
	if (!g)
		return;
	const char *id = kjson_str(g, "id");
	kdb_begin(id_db);
	if (kdb_run(id_db, NULL, "DELETE FROM id_project_endpoint_group WHERE endpoint_group_id"
		    " = ?", "s", id) != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_endpoint_group WHERE id = ?", "s", id)
	    != KDB_DONE) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	idtoken_invalidate_cache();
	kresp_status(r, 204);
}

void id_epgroup_projects(kreq *r)
{
	_cleanup_json_ json_t *g = path_group(r,
		"identity:list_projects_associated_with_endpoint_group");
	if (!g)
		return;
	_cleanup_json_ json_t *pids = ids_of("SELECT project_id FROM id_project_endpoint_group"
					     " WHERE endpoint_group_id = ? ORDER BY project_id",
					     kjson_str(g, "id"));
	kresp_json(r, 200, project_list(r, pids));
}

void id_epgroup_endpoints(kreq *r)
{
	_cleanup_json_ json_t *g = path_group(r,
		"identity:list_endpoints_associated_with_endpoint_group");
	if (g)
		kresp_json(r, 200, endpoint_list(r, group_endpoints(g)));
}

/* /v3/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}/projects/{project_id} */
static void group_project(kreq *r, const char *action, int verb)
{
	if (!id_enforce(r, action, NULL))
		return;
	_cleanup_json_ json_t *p = path_project(r);
	if (!p)
		return;
	const char *gid = kreq_param(r, "endpoint_group_id");
	_cleanup_json_ json_t *g = group_get(gid);
	if (!g) {
		kresp_error(r, 404, "Could not find Endpoint Group: %s.", gid);
		return;
	}
	const char *pid = kjson_str(p, "id");
	int64_t n = 0;
	int rc;
	switch (verb) {
	case 'P':
		rc = kdb_run(id_db, NULL, "INSERT INTO id_project_endpoint_group"
			     " (endpoint_group_id, project_id) VALUES (?, ?)", "ss", gid, pid);
		if (rc != KDB_DONE && rc != KDB_CONSTRAINT) {
			id_internal(r);
			return;
		}
		idtoken_invalidate_cache();
		kresp_status(r, 204);
		return;
	case 'D':
		if (kdb_run(id_db, &n, "DELETE FROM id_project_endpoint_group WHERE"
			    " endpoint_group_id = ? AND project_id = ?", "ss", gid, pid)
		    != KDB_DONE) {
			id_internal(r);
			return;
		}
		break;
	default: {
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT 1 FROM id_project_endpoint_group WHERE endpoint_group_id = ?"
			" AND project_id = ?");
		if (!st) {
			id_internal(r);
			return;
		}
		kstmt_bind_text(st, 1, gid);
		kstmt_bind_text(st, 2, pid);
		n = kstmt_step(st) == KDB_ROW;
	}
	}
	if (n == 0) {
		kresp_error(r, 404, "Could not find Endpoint Group Project Association: %s, %s.",
			    gid, pid);
		return;
	}
	if (verb == 'D') {
		idtoken_invalidate_cache();
		kresp_status(r, 204);
		return;
	}
	kresp_json(r, 200, json_pack("{s:{s:s,s:s,s:{s:s}}}", "project_endpoint_group",
				     "endpoint_group_id", gid, "project_id", pid, "links", "self",
				     id_url(r, "OS-EP-FILTER/endpoint_groups/%s/projects/%s", gid,
					    pid)));
}

void id_epgroup_project_get(kreq *r)
{
	group_project(r, "identity:get_endpoint_group_in_project", 'G');
}

void id_epgroup_project_put(kreq *r)
{
	group_project(r, "identity:add_endpoint_group_to_project", 'P');
}

void id_epgroup_project_delete(kreq *r)
{
	group_project(r, "identity:remove_endpoint_group_from_project", 'D');
}

void id_project_epgroups(kreq *r)
{
	if (!id_enforce(r, "identity:list_endpoint_groups_for_project", NULL))
		return;
	_cleanup_json_ json_t *gids = ids_of("SELECT endpoint_group_id FROM"
					     " id_project_endpoint_group WHERE project_id = ?"
					     " ORDER BY endpoint_group_id",
					     kreq_param(r, "project_id"));
	json_t *arr = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(gids, i, v) {
		json_t *g = group_get(json_string_value(v));
		if (g)
			json_array_append_new(arr, group_links(r, g));
	}
	kresp_json(r, 200, id_list(r, "endpoint_groups", arr));
}

/* ------------------------------------------------------------------ */
/* project - endpoint associations */

void id_project_endpoints(kreq *r)
{
	if (!id_enforce(r, "identity:list_endpoints_for_project", NULL))
		return;
	_cleanup_json_ json_t *p = path_project(r);
	if (!p)
		return;
	_cleanup_json_ json_t *map = idstore_project_endpoints(kjson_str(p, "id"));
	json_t *arr = json_array();
	const char *k;
	json_t *e;
	json_object_foreach(map, k, e)
		json_array_append(arr, e);
	kresp_json(r, 200, endpoint_list(r, arr));
}

static void project_endpoint(kreq *r, const char *action, int verb)
{
	if (!id_enforce(r, action, NULL))
		return;
	const char *pid = kreq_param(r, "project_id"), *eid = kreq_param(r, "endpoint_id");
	if (verb != 'D') {
		_cleanup_json_ json_t *e = path_endpoint(r);
		if (!e)
			return;
		_cleanup_json_ json_t *p = path_project(r);
		if (!p)
			return;
	}
	int64_t n = 0;
	if (verb == 'P') {
		int rc = kdb_run(id_db, NULL, "INSERT INTO id_project_endpoint (endpoint_id,"
				 " project_id) VALUES (?, ?)", "ss", eid, pid);
		if (rc != KDB_DONE && rc != KDB_CONSTRAINT) {
			id_internal(r);
			return;
		}
		idtoken_invalidate_cache();
		kresp_status(r, 204);
		return;
	}
	if (verb == 'D') {
		if (kdb_run(id_db, &n, "DELETE FROM id_project_endpoint WHERE endpoint_id = ? AND"
			    " project_id = ?", "ss", eid, pid) != KDB_DONE) {
			id_internal(r);
			return;
		}
	} else {
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT 1 FROM id_project_endpoint WHERE endpoint_id = ?"
			" AND project_id = ?");
		if (!st) {
			id_internal(r);
			return;
		}
		kstmt_bind_text(st, 1, eid);
		kstmt_bind_text(st, 2, pid);
		n = kstmt_step(st) == KDB_ROW;
	}
	if (n == 0) {
		kresp_error(r, 404, "Could not find Project Endpoint: %s, %s.", pid, eid);
		return;
	}
	if (verb == 'D')
		idtoken_invalidate_cache();
	kresp_status(r, 204);
}

void id_project_endpoint_check(kreq *r)
{
	project_endpoint(r, "identity:check_endpoint_in_project", 'G');
}

void id_project_endpoint_put(kreq *r)
{
	project_endpoint(r, "identity:add_endpoint_to_project", 'P');
}

void id_project_endpoint_delete(kreq *r)
{
	project_endpoint(r, "identity:remove_endpoint_from_project", 'D');
}

void id_endpoint_projects(kreq *r)
{
	if (!id_enforce(r, "identity:list_projects_for_endpoint", NULL))
		return;
	_cleanup_json_ json_t *e = path_endpoint(r);
	if (!e)
		return;
	_cleanup_json_ json_t *pids = ids_of("SELECT project_id FROM id_project_endpoint WHERE"
					     " endpoint_id = ? ORDER BY project_id",
					     kjson_str(e, "id"));
	kresp_json(r, 200, project_list(r, pids));
}
