/*
 * tags.c - /v2.0/<resources>/<id>/tags (Neutron's standard-attr-tag
 * extension) for every resource with standard attributes here: networks,
 * subnets, ports, subnetpools, routers, floatingips, security-groups.
 *
 * Tags live in net_tag(resource_type, resource_id, tag) with the collection
 * name as resource type (security groups as "security_groups"); each
 * resource's view loads them (common.c) and its delete removes them.  Reading
 * needs the resource to be visible to the caller (404 otherwise); changing
 * needs its ownership (admin or owner).  Tags are strings of at most 60
 * characters, at most 50 per resource, as Neutron's tagging extension says.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/util.h"
#include "common.h"
#include "l2.h"

#define MAX_TAG_LEN 60
#define MAX_TAGS 50

typedef struct tagged {
	const char *collection;   /* URL segment */
	const char *restype;      /* net_tag.resource_type */
	const char *table;
	const char *member;       /* for "... could not be found" */
	const char *type;         /* NotFound exception name */
} tagged;

static const tagged kinds[] = {
	{ "networks", "networks", "net_network", "Network", "NetworkNotFound" },
	{ "subnets", "subnets", "net_subnet", "Subnet", "SubnetNotFound" },
	{ "ports", "ports", "net_port", "Port", "PortNotFound" },
	{ "subnetpools", "subnetpools", "net_subnetpool", "Subnet pool", "SubnetPoolNotFound" },
	{ "routers", "routers", "net_router", "Router", "RouterNotFound" },
	{ "floatingips", "floatingips", "net_floatingip", "Floating IP", "FloatingIPNotFound" },
	{ "security-groups", "security_groups", "net_security_group", "Security group",
	  "SecurityGroupNotFound" },
};

static void internal_error(kreq *r)
{
	net_error(r, 500, NULL, "Request Failed: internal server error while processing your "
	          "request.");
}

/* The tagged resource (kind + its owner), or NULL after answering 404. */
static const tagged *find_resource(kreq *r, const char **project_out)
{
	const char *coll = kreq_param(r, "resources"), *id = kreq_param(r, "resource_id");
	const tagged *k = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		if (strcmp(kinds[i].collection, coll) == 0)
			k = &kinds[i];
	if (!k) {
		net_error(r, 404, NULL, "The resource could not be found.");
		return NULL;
	}
	char sql[160];
	bool is_net = strcmp(k->table, "net_network") == 0;
	snprintf(sql, sizeof(sql), "SELECT project_id%s FROM %s WHERE id = ?",
	         is_net ? ", shared, router_external" : "", k->table);
	_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL, sql, "s", id);
	bool pub = row && is_net && (json_integer_value(json_object_get(row, "shared")) ||
	                             json_integer_value(json_object_get(row, "router_external")));
	if (!row || !net_visible(r, kjson_str(row, "project_id"), pub)) {
		net_error(r, 404, k->type, "%s %s could not be found.", k->member, id);
		return NULL;
	}
	*project_out = kpool_strdup(r->pool, kjson_str(row, "project_id"));
	return k;
}

static bool may_change(kreq *r, const char *action, const char *project)
{
	_cleanup_json_ json_t *t = json_pack("{s:s}", "project_id", project);
	return net_enforce(r, action, t);
}

static bool tag_ok(kreq *r, const json_t *tag)
{
	if (!json_is_string(tag)) {
		_cleanup_free_ char *d = kjson_dump(tag);
		net_error(r, 400, "InvalidInput",
		          "Invalid input for operation: '%s' is not a valid "
		          "string.",
		          d ? d : "");
		return false;
	}
	size_t chars = 0;
	for (const unsigned char *c = (const unsigned char *)json_string_value(tag); *c; c++)
		if ((*c & 0xc0) != 0x80)
			chars++;
	if (chars > MAX_TAG_LEN || chars == 0) {
		net_error(r, 400, "InvalidInput", "Invalid input for operation: '%s' %s.",
		          json_string_value(tag), chars ? "exceeds maximum length of 60"
		                                        : "Blank strings are not permitted");
		return false;
	}
	return true;
}

void net_h_tags_list(kreq *r)
{
	const char *project;
	const tagged *k = find_resource(r, &project);
	if (!k)
		return;
	kresp_json(r, 200, json_pack("{s:o}", "tags", net_tags_get(k->restype,
	                                                           kreq_param(r, "resource_id"))));
}

void net_h_tags_replace(kreq *r)
{
	const char *project;
	const tagged *k = find_resource(r, &project);
	if (!k || !may_change(r, "update_tags", project))
		return;
	json_t *body = kreq_json(r);
	if (!body)
		return;
	json_t *tags = json_object_get(body, "tags");
	if (!json_is_array(tags)) {
		net_error(r, 400, NULL, "Invalid tags body");
		return;
	}
	if (json_array_size(tags) > MAX_TAGS) {
		net_error(r, 400, "InvalidInput", "Invalid input for operation: Number of tags "
		          "exceeds %d.", MAX_TAGS);
		return;
	}
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t)
		if (!tag_ok(r, t))
			return;
	const char *id = kreq_param(r, "resource_id");
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	bool ok = net_tags_delete(k->restype, id) == 0;
	json_array_foreach(tags, i, t) {
		int rc = kdb_run(net_db, NULL,
		                 "INSERT INTO net_tag (resource_type, resource_id, tag) "
		                 "VALUES (?, ?, ?)",
		                 "sss", k->restype, id, json_string_value(t));
		ok = ok && (rc == KDB_DONE || rc == KDB_CONSTRAINT);
	}
	ok = ok && net_touch(k->table, id) == 0;
	if (!ok || kdb_commit(net_db) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "tags", net_tags_get(k->restype, id)));
}

void net_h_tags_delete_all(kreq *r)
{
	const char *project;
	const tagged *k = find_resource(r, &project);
	if (!k || !may_change(r, "delete_tags", project))
		return;
	const char *id = kreq_param(r, "resource_id");
	if (net_tags_delete(k->restype, id) != 0) {
		internal_error(r);
		return;
	}
	net_touch(k->table, id);
	kresp_status(r, 204);
}

void net_h_tag_check(kreq *r)
{
	const char *project;
	const tagged *k = find_resource(r, &project);
	if (!k)
		return;
	const char *tag = kreq_param(r, "tag");
	bool found = false;
	_cleanup_json_ _unused_ json_t *row = kdb_query_row(net_db, &found, "SELECT tag FROM net_tag WHERE "
	                                           "resource_type = ? AND resource_id = ? AND tag "
	                                           "= ?", "sss", k->restype,
	                                           kreq_param(r, "resource_id"), tag);
	if (!found) {
		net_error(r, 404, "TagNotFound", "Tag %s could not be found.", tag);
		return;
	}
	kresp_status(r, 204);
}

void net_h_tag_add(kreq *r)
{
	const char *project;
	const tagged *k = find_resource(r, &project);
	if (!k || !may_change(r, "create_tag", project))
		return;
	const char *id = kreq_param(r, "resource_id"), *tag = kreq_param(r, "tag");
	_cleanup_json_ json_t *tj = json_string(tag);
	if (!tj) {
		net_error(r, 400, "InvalidInput",
		          "Invalid input for operation: the tag is not valid "
		          "UTF-8.");
		return;
	}
	if (!tag_ok(r, tj))
		return;
	_cleanup_json_ json_t *cur = net_tags_get(k->restype, id);
	bool has = false;
	size_t i;
	json_t *t;
	json_array_foreach(cur, i, t)
		has = has || strcmp(json_string_value(t), tag) == 0;
	if (!has && json_array_size(cur) >= MAX_TAGS) {
		net_error(r, 400, "InvalidInput", "Invalid input for operation: Number of tags "
		          "exceeds %d.", MAX_TAGS);
		return;
	}
	int rc = kdb_run(net_db, NULL, "INSERT INTO net_tag (resource_type, resource_id, tag) "
	                 "VALUES (?, ?, ?)", "sss", k->restype, id, tag);
	if (rc != KDB_DONE && rc != KDB_CONSTRAINT) {
		internal_error(r);
		return;
	}
	net_touch(k->table, id);
	kresp_status(r, 201);
}

void net_h_tag_delete(kreq *r)
{
	const char *project;
	const tagged *k = find_resource(r, &project);
	if (!k || !may_change(r, "delete_tag", project))
		return;
	const char *id = kreq_param(r, "resource_id"), *tag = kreq_param(r, "tag");
	int64_t n = 0;
	if (kdb_run(net_db, &n, "DELETE FROM net_tag WHERE resource_type = ? AND resource_id = ? "
	            "AND tag = ?", "sss", k->restype, id, tag) != KDB_DONE) {
		internal_error(r);
		return;
	}
	if (n == 0) {
		net_error(r, 404, "TagNotFound", "Tag %s could not be found.", tag);
		return;
	}
	net_touch(k->table, id);
	kresp_status(r, 204);
}
