/*
 * catalog.c - /v3/services, /v3/endpoints and /v3/regions.
 *
 * The catalog tokens carry (idstore_catalog) is built from these tables:
 * enabled services with their enabled endpoints.  Behaviour kept from
 * Keystone's catalog manager:
 *   - an endpoint's service and region must exist (400 otherwise); the
 *     legacy "region" attribute creates its region on the fly;
 *   - listing endpoints by region_id matches that region exactly (its
 *     child regions' endpoints are not included, as in Keystone 22);
 *   - regions form a tree: a parent must exist (404) and may not create a
 *     cycle (400); a region whose subtree has endpoints can't be deleted
 *     (403), otherwise its child regions go with it;
 *   - deleting a service deletes its endpoints.
 * Enabled flags are strict JSON booleans here ("enabled": "True" is a 400),
 * as in Keystone's catalog schemas.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

static const char *const service_known[] = {
	"id", "type", "name", "description", "enabled", "links", NULL
};
static const char *const endpoint_known[] = {
	"id", "service_id", "interface", "region_id", "region", "url", "enabled", "links", NULL
};
static const char *const region_known[] = {
	"id", "description", "parent_region_id", "links", NULL
};

static const id_field service_create_fields[] = {
	{ "type", ID_F_STRING, 1, 255, false, true },
	{ "name", ID_F_STRING, 1, 255, true, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
};
static const id_field service_update_fields[] = {
	{ "type", ID_F_STRING, 1, 255, false, false },
	{ "name", ID_F_STRING, 1, 255, true, false },
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
};
static const id_field endpoint_create_fields[] = {
	{ "service_id", ID_F_STRING, 1, 64, false, true },
	{ "interface", ID_F_INTERFACE, 0, 0, false, true },
	{ "url", ID_F_URL, 0, 225, false, true },
	{ "region_id", ID_F_STRING, 0, 255, false, false },
	{ "region", ID_F_STRING, 0, 255, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
};
static const id_field endpoint_update_fields[] = {
	{ "service_id", ID_F_STRING, 1, 64, false, false },
	{ "interface", ID_F_INTERFACE, 0, 0, false, false },
	{ "url", ID_F_URL, 0, 225, false, false },
	{ "region_id", ID_F_STRING, 0, 255, false, false },
	{ "region", ID_F_STRING, 0, 255, false, false },
	{ "enabled", ID_F_BOOL, 0, 0, false, false },
};
static const id_field region_create_fields[] = {
	{ "id", ID_F_STRING, 0, 255, false, false },
	{ "description", ID_F_STRING_NULL, 0, 255, false, false },
	{ "parent_region_id", ID_F_STRING_NULL, 1, 255, false, false },
};
static const id_field region_update_fields[] = {
	{ "id", ID_F_STRING, 0, 255, false, false },
	{ "description", ID_F_STRING_NULL, 0, 255, false, false },
	{ "parent_region_id", ID_F_STRING_NULL, 1, 255, false, false },
};

static char *old_extra(const char *table, const char *id)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "SELECT extra FROM %s WHERE id = ?", table);
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, sql);
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, id);
	if (kstmt_step(st) != KDB_ROW || !kstmt_text(st, 0))
		return NULL;
	return strdup(kstmt_text(st, 0));
}

/* The member of the path after policy; NULL when answered. */
static json_t *path_member(kreq *r, const char *param, const char *what, const char *action,
			   json_t *(*get)(const char *))
{
	const char *id = kreq_param(r, param);
	json_t *obj = get(id);
	_cleanup_json_ json_t *target = json_pack("{s:s,s:{s:O}}", param, id, "target", what,
						  obj ? obj : json_null());
	if (!id_enforce(r, action, target)) {
		json_decref(obj);
		return NULL;
	}
	if (!obj)
		id_not_found(r, what, id);
	return obj;
}

static void reply(kreq *r, int status, const char *key, const char *coll, json_t *obj)
{
	if (!obj) {
		id_internal(r);
		return;
	}
	const char *id = kjson_str(obj, "id");
	kresp_json(r, status, json_pack("{s:o}", key, id_links(r, obj, coll, id)));
}

/* ------------------------------------------------------------------ */
/* services */

void id_services_list(kreq *r)
{
	if (!id_enforce(r, "identity:list_services", NULL))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " IDSTORE_SERVICE_COLS " FROM id_service");
	if (kreq_query(r, "type"))
		id_sql_and(&q, "type = ?", kreq_query(r, "type"));
	if (kreq_query(r, "name"))
		id_sql_and(&q, "name = ?", kreq_query(r, "name"));
	id_sql_append(&q, "ORDER BY type, id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	id_inexact nf;
	id_inexact_init(r, "name", &nf);
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW) {
		json_t *s = idstore_service_from_row(st);
		if (!id_inexact_ok(&nf, kjson_str(s, "name"))) {
			json_decref(s);
			continue;
		}
		json_array_append_new(arr, id_links(r, s, "services", kjson_str(s, "id")));
	}
	kresp_json(r, 200, id_list(r, "services", arr));
}

void id_services_create(kreq *r)
{
	json_t *body = id_body_member(r, "service");
	if (!body)
		return;
	if (!id_validate(r, "service", body, service_create_fields,
			  ARRAY_SIZE(service_create_fields), true, 0))
		return;
	_cleanup_json_ json_t *target = json_pack("{s:{s:O}}", "target", "service", body);
	if (!id_enforce(r, "identity:create_service", target))
		return;
	char id[33];
	kutil_uuid_hex(id);
	_cleanup_free_ char *extra = idstore_extra_text(body, service_known);
	json_t *en = json_object_get(body, "enabled");
	if (kdb_run(id_db, NULL,
		    "INSERT INTO id_service (id, type, name, description, enabled, extra)"
		    " VALUES (?, ?, ?, ?, ?, ?)", "ssssbs", id, kjson_str(body, "type"),
		    kjson_str(body, "name") ? kjson_str(body, "name") : "",
		    kjson_str(body, "description"),
		    en ? json_is_true(en) : true, extra) != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created service %s", id);
	reply(r, 201, "service", "services", idstore_service_get(id));
}

void id_service_get(kreq *r)
{
	json_t *s = path_member(r, "service_id", "service", "identity:get_service",
				idstore_service_get);
	if (s)
		reply(r, 200, "service", "services", s);
}

void id_service_update(kreq *r)
{
	json_t *body = id_body_member(r, "service");
	if (!body)
		return;
	if (!id_validate(r, "service", body, service_update_fields,
			  ARRAY_SIZE(service_update_fields), true, 1))
		return;
	_cleanup_json_ json_t *s = path_member(r, "service_id", "service",
					       "identity:update_service", idstore_service_get);
	if (!s)
		return;
	const char *id = kjson_str(s, "id");
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	_cleanup_free_ char *old = old_extra("id_service", id);
	_cleanup_free_ char *extra = idstore_extra_update(old, body, service_known);
	json_t *en = json_object_get(body, "enabled");
#define PICK(k) (json_object_get(body, k) ? kjson_str(body, k) : kjson_str(s, k))
	if (kdb_run(id_db, NULL,
		    "UPDATE id_service SET type = ?, name = ?, description = ?, enabled = ?,"
		    " extra = ? WHERE id = ?", "sssbss", PICK("type"), PICK("name"),
		    PICK("description"),
		    en ? json_is_true(en) : json_is_true(json_object_get(s, "enabled")),
		    extra, id) != KDB_DONE) {
		id_internal(r);
		return;
	}
#undef PICK
	reply(r, 200, "service", "services", idstore_service_get(id));
}

void id_service_delete(kreq *r)
{
	_cleanup_json_ json_t *s = path_member(r, "service_id", "service",
					       "identity:delete_service", idstore_service_get);
	if (!s)
		return;
	const char *id = kjson_str(s, "id");
	kdb_begin(id_db);
	if (kdb_run(id_db, NULL, "DELETE FROM id_project_endpoint WHERE endpoint_id IN"
		    " (SELECT id FROM id_endpoint WHERE service_id = ?)", "s", id) != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_endpoint WHERE service_id = ?", "s", id)
	    != KDB_DONE ||
	    kdb_run(id_db, NULL, "DELETE FROM id_service WHERE id = ?", "s", id) != KDB_DONE) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	klog_info("identity", "deleted service %s", id);
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* regions */

static bool region_exists(const char *id)
{
	_cleanup_json_ json_t *g = idstore_region_get(id);
	return g != NULL;
}

/* Ids of a region and all regions below it. */
static json_t *region_tree(const char *id)
{
	json_t *out = json_array();
	json_array_append_new(out, json_string(id));
	for (size_t i = 0; i < json_array_size(out) && i < 10000; i++) {
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT id FROM id_region WHERE parent_region_id = ? ORDER BY id");
		if (!st)
			break;
		kstmt_bind_text(st, 1, json_string_value(json_array_get(out, i)));
		while (kstmt_step(st) == KDB_ROW) {
			const char *c = kstmt_text(st, 0);
			bool seen = false;
			size_t j;
			json_t *v;
			json_array_foreach(out, j, v)
				seen = seen || strcmp(json_string_value(v), c) == 0;
			if (!seen)
				json_array_append_new(out, json_string(c));
		}
	}
	return out;
}

static void region_insert(kreq *r, const char *id, const json_t *body)
{
	if (region_exists(id)) {
		id_conflict(r, "region", "Duplicate ID, %s.", id);
		return;
	}
	const char *parent = kjson_str(body, "parent_region_id");
	if (parent && !region_exists(parent)) {
		id_not_found(r, "region", parent);
		return;
	}
	const char *desc = kjson_str(body, "description");
	_cleanup_free_ char *extra = idstore_extra_text(body, region_known);
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_region (id, description, parent_region_id, extra)"
			 " VALUES (?, ?, ?, ?)", "ssss", id, desc ? desc : "", parent, extra);
	if (rc == KDB_CONSTRAINT) {
		id_conflict(r, "region", "Duplicate ID, %s.", id);
		return;
	}
	if (rc != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created region %s", id);
	reply(r, 201, "region", "regions", idstore_region_get(id));
}

void id_regions_list(kreq *r)
{
	if (!id_enforce(r, "identity:list_regions", NULL))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " IDSTORE_REGION_COLS " FROM id_region");
	if (kreq_query(r, "parent_region_id"))
		id_sql_and(&q, "parent_region_id = ?", kreq_query(r, "parent_region_id"));
	id_sql_append(&q, "ORDER BY id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW) {
		json_t *g = idstore_region_from_row(st);
		json_array_append_new(arr, id_links(r, g, "regions", kjson_str(g, "id")));
	}
	kresp_json(r, 200, id_list(r, "regions", arr));
}

void id_regions_create(kreq *r)
{
	json_t *body = id_body_member(r, "region");
	if (!body)
		return;
	if (!id_validate(r, "region", body, region_create_fields,
			  ARRAY_SIZE(region_create_fields), true, 0))
		return;
	_cleanup_json_ json_t *target = json_pack("{s:{s:O}}", "target", "region", body);
	if (!id_enforce(r, "identity:create_region", target))
		return;
	char idbuf[33];
	const char *id = kjson_str(body, "id");
	if (!id || !*id) {
		kutil_uuid_hex(idbuf);
		id = idbuf;
	}
	region_insert(r, id, body);
}

void id_region_put(kreq *r)
{
	json_t *body = id_body_member(r, "region");
	if (!body)
		return;
	if (!id_validate(r, "region", body, region_create_fields,
			  ARRAY_SIZE(region_create_fields), true, 0))
		return;
	const char *id = kreq_param(r, "region_id");
	_cleanup_json_ json_t *target = json_pack("{s:s,s:{s:O}}", "region_id", id, "target",
						  "region", body);
	if (!id_enforce(r, "identity:create_region", target))
		return;
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Conflicting region IDs specified: \"%s\" and \"%s\"", bid, id);
		return;
	}
	region_insert(r, id, body);
}

void id_region_get(kreq *r)
{
	json_t *g = path_member(r, "region_id", "region", "identity:get_region",
				idstore_region_get);
	if (g)
		reply(r, 200, "region", "regions", g);
}

void id_region_update(kreq *r)
{
	json_t *body = id_body_member(r, "region");
	if (!body)
		return;
	if (!id_validate(r, "region", body, region_update_fields,
			  ARRAY_SIZE(region_update_fields), true, 1))
		return;
	_cleanup_json_ json_t *g = path_member(r, "region_id", "region", "identity:update_region",
					       idstore_region_get);
	if (!g)
		return;
	const char *id = kjson_str(g, "id");
	json_t *bid = json_object_get(body, "id");
	if (bid && !(json_is_string(bid) && strcmp(json_string_value(bid), id) == 0)) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	const char *parent = kjson_str(g, "parent_region_id");
	if (json_object_get(body, "parent_region_id")) {
		parent = kjson_str(body, "parent_region_id");
		if (parent && !region_exists(parent)) {
			id_not_found(r, "region", parent);
			return;
		}
		if (parent) {
			_cleanup_json_ json_t *below = region_tree(id);
			size_t i;
			json_t *v;
			json_array_foreach(below, i, v) {
				if (strcmp(json_string_value(v), parent) == 0) {
					id_bad_request(r, "The specified parent region %s would "
							"create a circular region hierarchy.",
							parent);
					return;
				}
			}
		}
	}
	const char *desc = kjson_str(g, "description");
	if (json_object_get(body, "description"))
		desc = kjson_str(body, "description");
	_cleanup_free_ char *old = old_extra("id_region", id);
	_cleanup_free_ char *extra = idstore_extra_update(old, body, region_known);
	if (kdb_run(id_db, NULL,
		    "UPDATE id_region SET description = ?, parent_region_id = ?, extra = ?"
		    " WHERE id = ?", "ssss", desc ? desc : "", parent, extra, id) != KDB_DONE) {
		id_internal(r);
		return;
	}
	reply(r, 200, "region", "regions", idstore_region_get(id));
}

void id_region_delete(kreq *r)
{
	_cleanup_json_ json_t *g = path_member(r, "region_id", "region", "identity:delete_region",
					       idstore_region_get);
	if (!g)
		return;
	const char *id = kjson_str(g, "id");
	_cleanup_json_ json_t *tree = region_tree(id);
	size_t i;
	json_t *v;
	json_array_foreach(tree, i, v) {
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT 1 FROM id_endpoint WHERE region_id = ?");
		if (!st) {
			id_internal(r);
			return;
		}
		kstmt_bind_text(st, 1, json_string_value(v));
		if (kstmt_step(st) == KDB_ROW) {
			kresp_error(r, 403, "Unable to delete region %s because it or its child "
				    "regions have associated endpoints.", id);
			return;
		}
	}
	kdb_begin(id_db);
	json_array_foreach(tree, i, v) {
		if (kdb_run(id_db, NULL, "DELETE FROM id_region WHERE id = ?", "s",
			    json_string_value(v)) != KDB_DONE) {
			kdb_rollback(id_db);
			id_internal(r);
			return;
		}
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* endpoints */

static const char *const validation_msg =
	"Expecting to find endpoint %s in %s table. The server could not comply with the "
	"request since it is either malformed or otherwise incorrect. The client is assumed to "
	"be in error.";

/* Resolve region/region_id; legacy "region" creates the region.  Returns
 * false when answered.  *region_id may be NULL (no region). */
static bool endpoint_region(kreq *r, const json_t *body, const char **region_id, bool *set)
{
	*set = false;
	json_t *rid = json_object_get(body, "region_id");
	json_t *leg = json_object_get(body, "region");
	if (rid) {
		*set = true;
		*region_id = json_string_value(rid);
	} else if (leg) {
		*set = true;
		*region_id = json_string_value(leg);
		if (*region_id && !region_exists(*region_id)) {
			int rc = kdb_run(id_db, NULL, "INSERT INTO id_region (id, description,"
					 " parent_region_id, extra)"
					 " VALUES (?, '', NULL, '{}')", "s", *region_id);
			if (rc != KDB_DONE && rc != KDB_CONSTRAINT) {
				id_internal(r);
				return false;
			}
		}
	}
	if (*set && *region_id && !region_exists(*region_id)) {
		kresp_error(r, 400, validation_msg, "region_id", "region");
		return false;
	}
	return true;
}

static bool service_ok(kreq *r, const char *service_id)
{
	_cleanup_json_ json_t *s = service_id ? idstore_service_get(service_id) : NULL;
	if (!s) {
		kresp_error(r, 400, validation_msg, "service_id", "service");
		return false;
	}
	return true;
}

void id_endpoints_list(kreq *r)
{
	if (!id_enforce(r, "identity:list_endpoints", NULL))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT " IDSTORE_ENDPOINT_COLS " FROM id_endpoint");
	if (kreq_query(r, "interface"))
		id_sql_and(&q, "interface = ?", kreq_query(r, "interface"));
	if (kreq_query(r, "service_id"))
		id_sql_and(&q, "service_id = ?", kreq_query(r, "service_id"));
	if (kreq_query(r, "region_id"))
		id_sql_and(&q, "region_id = ?", kreq_query(r, "region_id"));
	id_sql_append(&q, "ORDER BY service_id, interface, id");
	_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
	if (!st) {
		id_internal(r);
		return;
	}
	json_t *arr = json_array();
	while (kstmt_step(st) == KDB_ROW) {
		json_t *e = idstore_endpoint_from_row(st);
		json_array_append_new(arr, id_links(r, e, "endpoints", kjson_str(e, "id")));
	}
	kresp_json(r, 200, id_list(r, "endpoints", arr));
}

void id_endpoints_create(kreq *r)
{
	json_t *body = id_body_member(r, "endpoint");
	if (!body)
		return;
	if (!id_validate(r, "endpoint", body, endpoint_create_fields,
			  ARRAY_SIZE(endpoint_create_fields), true, 0))
		return;
	_cleanup_json_ json_t *target = json_pack("{s:{s:O}}", "target", "endpoint", body);
	if (!id_enforce(r, "identity:create_endpoint", target))
		return;
	const char *region_id = NULL;
	bool set;
	if (!endpoint_region(r, body, &region_id, &set) || !service_ok(r, kjson_str(body,
								  "service_id")))
		return;
	char id[33];
	kutil_uuid_hex(id);
	_cleanup_free_ char *extra = idstore_extra_text(body, endpoint_known);
	json_t *en = json_object_get(body, "enabled");
	if (kdb_run(id_db, NULL,
		    "INSERT INTO id_endpoint (id, service_id, interface, region_id, url, enabled,"
		    " extra) VALUES (?, ?, ?, ?, ?, ?, ?)", "sssssbs", id,
		    kjson_str(body, "service_id"), kjson_str(body, "interface"), region_id,
		    kjson_str(body, "url"), en ? json_is_true(en) : true, extra) != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created endpoint %s", id);
	reply(r, 201, "endpoint", "endpoints", idstore_endpoint_get(id));
}

void id_endpoint_get(kreq *r)
{
	json_t *e = path_member(r, "endpoint_id", "endpoint", "identity:get_endpoint",
				idstore_endpoint_get);
	if (e)
		reply(r, 200, "endpoint", "endpoints", e);
}

void id_endpoint_update(kreq *r)
{
	json_t *body = id_body_member(r, "endpoint");
	if (!body)
		return;
	if (!id_validate(r, "endpoint", body, endpoint_update_fields,
			  ARRAY_SIZE(endpoint_update_fields), true, 1))
		return;
	_cleanup_json_ json_t *e = path_member(r, "endpoint_id", "endpoint",
					       "identity:update_endpoint", idstore_endpoint_get);
	if (!e)
		return;
	const char *id = kjson_str(e, "id");
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	const char *region_id = NULL;
	bool set;
	if (!endpoint_region(r, body, &region_id, &set))
		return;
	if (!set)
		region_id = kjson_str(e, "region_id");
	const char *service_id = kjson_str(e, "service_id");
	if (json_object_get(body, "service_id")) {
		service_id = kjson_str(body, "service_id");
		if (!service_ok(r, service_id))
			return;
	}
	_cleanup_free_ char *old = old_extra("id_endpoint", id);
	_cleanup_free_ char *extra = idstore_extra_update(old, body, endpoint_known);
	json_t *en = json_object_get(body, "enabled");
	const char *iface = json_object_get(body, "interface") ? kjson_str(body, "interface")
							       : kjson_str(e, "interface");
	const char *url = json_object_get(body, "url") ? kjson_str(body, "url")
						       : kjson_str(e, "url");
	if (kdb_run(id_db, NULL,
		    "UPDATE id_endpoint SET service_id = ?, interface = ?, region_id = ?, url = ?,"
		    " enabled = ?, extra = ? WHERE id = ?", "ssssbss", service_id, iface,
		    region_id, url,
		    en ? json_is_true(en) : json_is_true(json_object_get(e, "enabled")), extra,
		    id) != KDB_DONE) {
		id_internal(r);
		return;
	}
	reply(r, 200, "endpoint", "endpoints", idstore_endpoint_get(id));
}

void id_endpoint_delete(kreq *r)
{
	_cleanup_json_ json_t *e = path_member(r, "endpoint_id", "endpoint",
					       "identity:delete_endpoint", idstore_endpoint_get);
	if (!e)
		return;
	if (idstore_epfilter_forget(kjson_str(e, "id"), NULL) != 0 ||
	    kdb_run(id_db, NULL, "DELETE FROM id_endpoint WHERE id = ?", "s",
		    kjson_str(e, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}
