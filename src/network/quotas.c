/*
 * quotas.c - /v2.0/quotas (Neutron's quotasv2 and quota_details
 * extensions): per-project limits stored in net_quota, defaults from
 * [quotas] quota_<resource> (Neutron's defaults otherwise), usage counted
 * by common.c.
 *
 * Reading another project's quotas, updating and resetting them are for
 * admins (policy get_quota / update_quota / delete_quota).  An update names
 * known resources only (400 "Unrecognized attribute(s)"), with limits from
 * -1 (unlimited) up; a limit below the current usage is refused (400), as
 * Neutron does unless "force": true is given.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "common.h"
#include "l2.h"

static const char *const resources[] = {
	"network", "subnet", "subnetpool", "port", "router", "floatingip", "security_group",
	"security_group_rule", "rbac_policy",
};

static void internal_error(kreq *r)
{
	net_error(r, 500, NULL, "Request Failed: internal server error while processing your "
	          "request.");
}

static json_t *limits_of(const char *project)
{
	json_t *q = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(resources); i++)
		json_object_set_new(q, resources[i], json_integer(net_quota_limit(project,
		                                                                   resources[i])));
	return q;
}

/* get_quota for another project than the caller's. */
static bool may_read(kreq *r, const char *project)
{
	if (strcmp(project, net_project(r)) == 0)
		return true;
	if (net_is_admin(r))
		return true;
	net_error(r, 403, "PolicyNotAuthorized", "rule:get_quota is disallowed by policy");
	return false;
}

/* "tenant" and "project" are Neutron's actions, not project ids */
static bool project_action(kreq *r, const char *id)
{
	if (strcmp(id, "tenant") != 0 && strcmp(id, "project") != 0)
		return false;
	const char *p = net_project(r);
	if (!*p) {
		net_error(r, 400, "QuotaMissingTenant",
		          "Tenant-id was missing from quota request.");
		return true;
	}
	char key[16];
	snprintf(key, sizeof(key), "%s_id", id);
	kresp_json(r, 200, json_pack("{s:{s:s}}", id, key, p));
	return true;
}

void net_h_quota_list(kreq *r)
{
	if (!may_read(r, ""))
		return;
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT DISTINCT project_id FROM "
	                                             "net_quota ORDER BY project_id", "");
	if (!rows) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *p = kjson_str(row, "project_id");
		json_t *q = limits_of(p);
		json_object_set_new(q, "project_id", json_string(p));
		json_object_set_new(q, "tenant_id", json_string(p));
		json_array_append_new(out, q);
	}
	kresp_json(r, 200, json_pack("{s:o}", "quotas", out));
}

void net_h_quota_show(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	if (project_action(r, id) || !may_read(r, id))
		return;
	kresp_json(r, 200, json_pack("{s:o}", "quota", limits_of(id)));
}

void net_h_quota_default(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	if (!may_read(r, id))
		return;
	json_t *q = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(resources); i++)
		json_object_set_new(q, resources[i],
		                    json_integer(net_quota_limit("", resources[i])));
	kresp_json(r, 200, json_pack("{s:o}", "quota", q));
}

void net_h_quota_details(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	if (!may_read(r, id))
		return;
	json_t *q = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(resources); i++)
		json_object_set_new(q, resources[i], json_pack("{s:I,s:I,s:i}", "limit",
		                    (json_int_t)net_quota_limit(id, resources[i]), "used",
		                    (json_int_t)net_quota_used(id, resources[i]), "reserved", 0));
	kresp_json(r, 200, json_pack("{s:o}", "quota", q));
}

void net_h_quota_update(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	_cleanup_json_ json_t *t = json_pack("{s:s}", "project_id", net_project(r));
	if (!net_enforce(r, "update_quota", t))
		return;
	json_t *objs = net_body(r, "quota", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	json_t *force = json_object_get(obj, "force");
	bool forced = force && json_is_true(force);
	json_object_del(obj, "force");
	json_object_del(obj, "check_limit");
	net_attr attrs[ARRAY_SIZE(resources)];
	for (size_t i = 0; i < ARRAY_SIZE(resources); i++)
		attrs[i] =
		        (net_attr){ resources[i], NET_A_INT, NET_A_PUT, 0, -1, 2147483647, NULL };
	if (!net_validate(r, obj, attrs, ARRAY_SIZE(attrs), false))
		return;
	const char *key;
	json_t *v;
	if (!forced)
		json_object_foreach(obj, key, v) {
			int64_t limit = json_integer_value(v);
			if (limit == -1)
				continue;
			int64_t used = net_quota_used(id, key);
			if (used > limit) {
				net_error(r, 400, NULL,
				          "Quota limit %lld for %s must be greater than or "
				          "equal to already used %lld",
				          (long long)limit, key, (long long)used);
				return;
			}
		}
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	json_object_foreach(obj, key, v) {
		int rc = kdb_run(net_db, NULL, "DELETE FROM net_quota WHERE project_id = ? AND "
		                 "resource = ?", "ss", id, key);
		if (rc == KDB_DONE)
			rc = kdb_run(net_db, NULL, "INSERT INTO net_quota (project_id, resource, "
			             "hard_limit) VALUES (?, ?, ?)", "ssi", id, key,
			             (int64_t)json_integer_value(v));
		if (rc != KDB_DONE) {
			kdb_rollback(net_db);
			internal_error(r);
			return;
		}
	}
	if (kdb_commit(net_db) != 0) {
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "quota", limits_of(id)));
}

void net_h_quota_delete(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	_cleanup_json_ json_t *t = json_pack("{s:s}", "project_id", net_project(r));
	if (!net_enforce(r, "delete_quota", t))
		return;
	int64_t n = 0;
	if (kdb_run(net_db, &n, "DELETE FROM net_quota WHERE project_id = ?", "s", id) !=
	    KDB_DONE) {
		internal_error(r);
		return;
	}
	if (n == 0) {
		net_error(r, 404, "ProjectQuotaNotFound",
		          "Quota for project %s could not be found.", id);
		return;
	}
	kresp_status(r, 204);
}
