/*
 * misc.c - the smaller Nova APIs at 2.1/2.2: os-availability-zone,
 * os-quota-sets, limits, os-hypervisors, os-services, os-server-groups,
 * os-simple-tenant-usage and extensions.
 *
 * Services and hosts come from cmp_service (each component registers its
 * row and heartbeats last_seen_at) and cmp_compute_node (the agent's resource
 * report).  A service is "up" unless forced down and while its last
 * heartbeat (or its creation, before the first one) is within [compute]
 * service_down_time seconds, as Nova's database servicegroup driver says.
 * Zones are Nova's: a nova-compute service is in its node's availability
 * zone ([compute] default_availability_zone when it has none), every other
 * binary in "internal", which the plain zone list hides.  A zone is
 * available when an enabled service is in it.
 *
 * Hypervisors are the compute nodes joined with their nova-compute service;
 * at 2.1 a hypervisor id is an integer, and the service's id serves (stable,
 * unique per host, the same in SQLite and MySQL).  Usage is the scheduler's
 * claims (cmp_allocation) plus the host's reservations, as Nova's resource
 * tracker reports it.
 *
 * os-simple-tenant-usage sums, per project, the hours each instance ran
 * inside the asked period (from launched_at to terminated_at) times its
 * flavor's sizes, as Nova's simple_tenant_usage does.
 *
 * Quotas show the 2.1 resource set (with the nova-network ones that Nova
 * still shows below 2.36); limits and usage come from common.c's
 * cmp_quota_limit / cmp_quota_usage, so what the API reports is what the
 * boot path enforces.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/auth.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

#define MAX_INT32 2147483647LL
#define INTERNAL_ZONE "internal"

static void internal_error(kreq *r)
{
	kresp_error(r, 500, "Unexpected API Error. Please report this at "
	            "http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.");
}

static const char *project_of(kreq *r)
{
	return r->ctx && r->ctx->project_id ? r->ctx->project_id : "";
}

static const char *user_of(kreq *r)
{
	return r->ctx && r->ctx->user_id ? r->ctx->user_id : "";
}

static json_t *target_project(const char *project)
{
	return json_pack("{s:s}", "project_id", project ? project : "");
}

static bool parse_int_text(const char *s, long long *out)
{
	char *end;
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	if (*end || errno)
		return false;
	*out = v;
	return true;
}

static void bad_field(kreq *r, const char *field, const json_t *v, const char *why)
{
	_cleanup_free_ char *dump = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
	kresp_error(r, 400, "Invalid input for field/attribute %s. Value: %s. %s", field,
	            dump ? dump : "None", why);
}

static void unexpected(kreq *r, const char *field, const char *key)
{
	kresp_error(r, 400, "Invalid input for field/attribute %s. Value: {...}. Additional "
	            "properties are not allowed ('%s' was unexpected)", field, key);
}

static json_t *iso_or_null(int64_t us)
{
	if (us <= 0)
		return json_null();
	char buf[32];
	kutil_iso8601_s(us, buf);
	return json_string(buf);
}

/* ---- services ---- */

static int64_t jint(const json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	return json_is_integer(v) ? json_integer_value(v) : json_is_real(v) ?
	       (int64_t)json_real_value(v) : 0;
}

static bool service_up(const json_t *svc)
{
	if (jint(svc, "forced_down"))
		return false;
	int64_t hb = jint(svc, "last_seen_at");
	if (hb <= 0)
		hb = jint(svc, "created_at");
	int64_t age = kutil_now_us() - hb;
	if (age < 0)
		age = -age;
	return age <= cmp_conf_int("service_down_time", 60) * 1000000LL;
}

static const char *default_zone(void)
{
	return cmp_conf_str("default_availability_zone", "nova");
}

/* All services with "zone" added (a new array; NULL on error). */
static json_t *load_services(const char *host, const char *binary)
{
	json_t *rows = kdb_query_json(cmp_db, "SELECT s.id, s.binary_name, s.host, s.disabled, "
	                              "s.disabled_reason, s.forced_down, s.last_seen_at, "
	                              "s.created_at, s.updated_at, n.availability_zone AS node_az "
	                              "FROM cmp_service s LEFT JOIN cmp_compute_node n ON "
	                              "n.host = s.host WHERE (? IS NULL OR s.host = ?) AND "
	                              "(? IS NULL OR s.binary_name = ?) ORDER BY s.id",
	                              "ssss", host, host, binary, binary);
	if (!rows)
		return NULL;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *zone = INTERNAL_ZONE;
		if (strcmp(kjson_str(row, "binary_name"), "nova-compute") == 0) {
			zone = kjson_str(row, "node_az");
			if (!zone || !*zone)
				zone = default_zone();
		}
		json_object_set_new(row, "zone", json_string(zone));
	}
	return rows;
}

static json_t *service_updated_at(const json_t *svc)
{
	int64_t u = jint(svc, "updated_at"), seen = jint(svc, "last_seen_at");
	return iso_or_null(seen > u ? seen : u);
}

static void h_services_list(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-services:list", NULL))
		return;
	_cleanup_json_ json_t *rows = load_services(kreq_query(r, "host"),
	                                            kreq_query(r, "binary"));
	if (!rows) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(rows, i, s) {
		json_t *v = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:o}",
		                      "id", (json_int_t)jint(s, "id"),
		                      "binary", kjson_str(s, "binary_name"),
		                      "host", kjson_str(s, "host"), "zone", kjson_str(s, "zone"),
		                      "status", jint(s, "disabled") ? "disabled" : "enabled",
		                      "state", service_up(s) ? "up" : "down",
		                      "updated_at", service_updated_at(s));
		kjson_set_str_or_null(v, "disabled_reason", kjson_str(s, "disabled_reason"));
		if (!json_object_get(v, "disabled_reason"))
			json_object_set_new(v, "disabled_reason", json_null());
		json_array_append_new(out, v);
	}
	kresp_json(r, 200, json_pack("{s:o}", "services", out));
}

static void h_services_update(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-services:update", NULL))
		return;
	const char *action = kreq_param(r, "id");
	bool enable = strcmp(action, "enable") == 0, disable = strcmp(action, "disable") == 0,
	     log_reason = strcmp(action, "disable-log-reason") == 0;
	if (!enable && !disable && !log_reason) {
		/* force-down needs 2.11; uuids need 2.53 */
		kresp_error(r, 404, "Unknown action");
		return;
	}
	json_t *body = kreq_json(r);
	if (!body)
		return;
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "host") != 0 && strcmp(key, "binary") != 0 &&
		    strcmp(key, "disabled_reason") != 0) {
			unexpected(r, "body", key);
			return;
		}
	}
	const char *fields[] = { "host", "binary" };
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		v = json_object_get(body, fields[i]);
		if (!v) {
			kresp_error(r, 400, "Invalid input for field/attribute body. Value: {...}. "
			            "'%s' is a required property", fields[i]);
			return;
		}
		if (!json_is_string(v) || json_string_length(v) < 1 ||
		    json_string_length(v) > 255) {
			bad_field(r, fields[i], v, json_is_string(v) ? "is not a valid value" :
			          "is not of type 'string'");
			return;
		}
	}
	const char *host = kjson_str(body, "host"), *binary = kjson_str(body, "binary");
	const char *reason = NULL;
	v = json_object_get(body, "disabled_reason");
	if (v && (!json_is_string(v) || json_string_length(v) < 1 ||
	          json_string_length(v) > 255)) {
		bad_field(r, "disabled_reason", v, json_is_string(v) ?
		          "must be between 1 and 255 characters" : "is not of type 'string'");
		return;
	}
	if (log_reason) {
		reason = kjson_str(body, "disabled_reason");
		if (!reason) {
			kresp_error(r, 400, "Missing disabled reason field");
			return;
		}
	}
	int64_t n = 0;
	if (kdb_run(cmp_db, &n, "UPDATE cmp_service SET disabled = ?, disabled_reason = ?, "
	            "updated_at = ? WHERE host = ? AND binary_name = ?", "bsiss", !enable,
	            reason, kutil_now_us(), host, binary) != KDB_DONE) {
		internal_error(r);
		return;
	}
	if (!n) {
		kresp_error(r, 404, "Could not find binary %s on host %s.", binary, host);
		return;
	}
	json_t *out = json_pack("{s:s,s:s,s:s}", "host", host, "binary", binary, "status",
	                        enable ? "enabled" : "disabled");
	if (log_reason)
		json_object_set_new(out, "disabled_reason", json_string(reason));
	kresp_json(r, 200, json_pack("{s:o}", "service", out));
}

static void h_services_delete(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-services:delete", NULL))
		return;
	const char *id = kreq_param(r, "id");
	long long sid;
	if (!parse_int_text(id, &sid)) {
		kresp_error(r, 400, "Invalid input for id. Reason: id must be an integer.");
		return;
	}
	_cleanup_json_ json_t *svc = kdb_query_row(cmp_db, NULL, "SELECT id, binary_name, host "
	                                           "FROM cmp_service WHERE id = ?", "i",
	                                           (int64_t)sid);
	if (!svc) {
		kresp_error(r, 404, "Service %s could not be found.", id);
		return;
	}
	bool compute = strcmp(kjson_str(svc, "binary_name"), "nova-compute") == 0;
	const char *host = kjson_str(svc, "host");
	if (compute) {
		_cleanup_json_ json_t *c = kdb_query_row(cmp_db, NULL, "SELECT COUNT(*) AS n FROM "
		                                         "cmp_instance WHERE host = ? AND "
		                                         "deleted = 0", "s", host);
		if (c && jint(c, "n") > 0) {
			kresp_error(r, 409, "Unable to delete compute service that is hosting "
			            "instances. Migrate or delete the instances first.");
			return;
		}
	}
	if (kdb_run(cmp_db, NULL, "DELETE FROM cmp_service WHERE id = ?", "i", (int64_t)sid) !=
	    KDB_DONE || (compute && kdb_run(cmp_db, NULL, "DELETE FROM cmp_compute_node WHERE "
	                                    "host = ?", "s", host) != KDB_DONE)) {
		internal_error(r);
		return;
	}
	kresp_status(r, 204);
}

/* ---- availability zones ---- */

static bool in_array(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	              json_string_value(*(json_t *const *)b));
}

static void sort_strings(json_t *arr)
{
	size_t n = json_array_size(arr);
	if (n < 2)
		return;
	json_t **items = calloc(n, sizeof(*items));
	if (!items)
		return;
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(arr, i));
	qsort(items, n, sizeof(*items), cmp_json_str);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
}

static void list_zones(kreq *r, bool detail)
{
	_cleanup_json_ json_t *svcs = load_services(NULL, NULL);
	if (!svcs) {
		internal_error(r);
		return;
	}
	_cleanup_json_ json_t *avail = json_array();
	_cleanup_json_ json_t *unavail = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(svcs, i, s)
		if (!jint(s, "disabled") && !in_array(avail, kjson_str(s, "zone")))
			json_array_append_new(avail, json_string(kjson_str(s, "zone")));
	json_array_foreach(svcs, i, s)
		if (jint(s, "disabled") && !in_array(avail, kjson_str(s, "zone")) &&
		    !in_array(unavail, kjson_str(s, "zone")))
			json_array_append_new(unavail, json_string(kjson_str(s, "zone")));
	sort_strings(avail);
	sort_strings(unavail);
	json_t *out = json_array();
	json_t *z;
	json_array_foreach(avail, i, z) {
		const char *zone = json_string_value(z);
		if (!detail && strcmp(zone, INTERNAL_ZONE) == 0)
			continue;
		json_t *hosts = json_null();
		if (detail) {
			hosts = json_object();
			size_t j;
			json_array_foreach(svcs, j, s) {
				if (jint(s, "disabled") || strcmp(kjson_str(s, "zone"), zone) != 0)
					continue;
				const char *h = kjson_str(s, "host");
				json_t *hv = json_object_get(hosts, h);
				if (!hv) {
					hv = json_object();
					json_object_set_new(hosts, h, hv);
				}
				json_object_set_new(hv, kjson_str(s, "binary_name"),
				                    json_pack("{s:b,s:b,s:o}", "available",
				                              service_up(s), "active",
				                              !jint(s, "disabled"), "updated_at",
				                              service_updated_at(s)));
			}
		}
		json_array_append_new(out, json_pack("{s:s,s:{s:b},s:o}", "zoneName", zone,
		                                     "zoneState", "available", true, "hosts",
		                                     hosts));
	}
	json_array_foreach(unavail, i, z) {
		if (!detail && strcmp(json_string_value(z), INTERNAL_ZONE) == 0)
			continue;
		json_array_append_new(out, json_pack("{s:O,s:{s:b},s:n}", "zoneName", z,
		                                     "zoneState", "available", false, "hosts"));
	}
	kresp_json(r, 200, json_pack("{s:o}", "availabilityZoneInfo", out));
}

static void h_az_list(kreq *r)
{
	if (cmp_enforce(r, "os_compute_api:os-availability-zone:list", NULL))
		list_zones(r, false);
}

static void h_az_detail(kreq *r)
{
	if (cmp_enforce(r, "os_compute_api:os-availability-zone:detail", NULL))
		list_zones(r, true);
}

/* ---- quotas and limits ---- */

/* The quota resources Nova shows at 2.1 - 2.35. */
static const char *const quota_resources[] = {
	"instances", "cores", "ram", "floating_ips", "fixed_ips", "metadata_items", "key_pairs",
	"security_groups", "security_group_rules", "injected_files",
	"injected_file_content_bytes", "injected_file_path_bytes", "server_groups",
	"server_group_members",
};

static bool known_resource(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(quota_resources); i++)
		if (strcmp(name, quota_resources[i]) == 0)
			return true;
	return false;
}

static long usage_of(kreq *r, const char *project, const char *res)
{
	return cmp_quota_usage(project, user_of(r), res);
}

/* project NULL: the defaults. */
static json_t *quota_set(kreq *r, const char *project, const char *id, bool detail)
{
	json_t *q = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(quota_resources); i++) {
		const char *res = quota_resources[i];
		long limit = cmp_quota_limit(project, res);
		if (detail)
			json_object_set_new(q, res, json_pack("{s:I,s:I,s:i}", "limit",
			                    (json_int_t)limit, "in_use",
			                    (json_int_t)usage_of(r, project, res), "reserved", 0));
		else
			json_object_set_new(q, res, json_integer(limit));
	}
	if (id)
		json_object_set_new(q, "id", json_string(id));
	return q;
}

static void h_quota_show(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	_cleanup_json_ json_t *t = target_project(id);
	if (!cmp_enforce(r, "os_compute_api:os-quota-sets:show", t))
		return;
	kresp_json(r, 200, json_pack("{s:o}", "quota_set", quota_set(r, id, id, false)));
}

static void h_quota_detail(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	_cleanup_json_ json_t *t = target_project(id);
	if (!cmp_enforce(r, "os_compute_api:os-quota-sets:detail", t))
		return;
	kresp_json(r, 200, json_pack("{s:o}", "quota_set", quota_set(r, id, id, true)));
}

static void h_quota_defaults(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	_cleanup_json_ json_t *t = target_project(id);
	if (!cmp_enforce(r, "os_compute_api:os-quota-sets:defaults", t))
		return;
	kresp_json(r, 200, json_pack("{s:o}", "quota_set", quota_set(r, NULL, id, false)));
}

/* parameter_types.boolean */
static int bool_param(const json_t *v)
{
	if (json_is_boolean(v))
		return json_is_true(v);
	if (!json_is_string(v))
		return -1;
	const char *s = json_string_value(v);
	static const char *const yes[] = { "True", "TRUE", "true", "1", "ON", "On", "on", "YES",
	                                   "Yes", "yes" };
	static const char *const no[] = { "False", "FALSE", "false", "0", "OFF", "Off", "off",
	                                  "NO", "No", "no" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (strcmp(s, yes[i]) == 0)
			return 1;
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (strcmp(s, no[i]) == 0)
			return 0;
	return -1;
}

static void h_quota_update(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	_cleanup_json_ json_t *t = target_project(id);
	if (!cmp_enforce(r, "os_compute_api:os-quota-sets:update", t))
		return;
	json_t *body = kreq_json(r);
	if (!body)
		return;
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "quota_set") != 0) {
			unexpected(r, "body", key);
			return;
		}
	}
	json_t *qs = json_object_get(body, "quota_set");
	if (!json_is_object(qs)) {
		bad_field(r, "quota_set", qs, qs ? "is not of type 'object'" :
		          "'quota_set' is a required property");
		return;
	}
	bool force = false;
	_cleanup_json_ json_t *limits = json_object();
	json_object_foreach(qs, key, v) {
		if (strcmp(key, "force") == 0) {
			int b = bool_param(v);
			if (b < 0) {
				bad_field(r, "force", v, "is not a valid boolean");
				return;
			}
			force = b;
			continue;
		}
		if (!known_resource(key)) {
			unexpected(r, "quota_set", key);
			return;
		}
		long long n;
		if (json_is_integer(v)) {
			n = json_integer_value(v);
		} else if (json_is_string(v) && parse_int_text(json_string_value(v), &n)) {
			/* "^-?[0-9]+$" */
		} else {
			bad_field(r, key, v, json_is_string(v) ? "does not match '^-?[0-9]+$'" :
			          "is not of type 'integer', 'string'");
			return;
		}
		if (n < -1 || n > MAX_INT32) {
			bad_field(r, key, v, n < -1 ? "is less than the minimum of -1" :
			          "is greater than the maximum of 2147483647");
			return;
		}
		json_object_set_new(limits, key, json_integer(n));
	}
	if (!force) {
		json_object_foreach(limits, key, v) {
			long long n = json_integer_value(v);
			long used = usage_of(r, id, key);
			if (n != -1 && used > n) {
				kresp_error(r, 400, "Quota limit %lld for %s must be greater "
				            "than or equal to already used and reserved %ld.", n,
				            key, used);
				return;
			}
		}
	}
	if (kdb_begin(cmp_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	json_object_foreach(limits, key, v) {
		int rc = kdb_run(cmp_db, NULL, "DELETE FROM cmp_quota WHERE project_id = ? AND "
		                 "resource = ?", "ss", id, key);
		if (rc == KDB_DONE)
			rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_quota (project_id, resource, "
			             "hard_limit) VALUES (?, ?, ?)", "ssi", id, key,
			             (int64_t)json_integer_value(v));
		if (rc != KDB_DONE) {
			kdb_rollback(cmp_db);
			internal_error(r);
			return;
		}
	}
	if (kdb_commit(cmp_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "quota_set", quota_set(r, id, NULL, false)));
}

static void h_quota_delete(kreq *r)
{
	const char *id = kreq_param(r, "project_id");
	_cleanup_json_ json_t *t = target_project(id);
	if (!cmp_enforce(r, "os_compute_api:os-quota-sets:delete", t))
		return;
	if (kdb_run(cmp_db, NULL, "DELETE FROM cmp_quota WHERE project_id = ?", "s", id) !=
	    KDB_DONE) {
		internal_error(r);
		return;
	}
	kresp_status(r, 202);
}

static void h_limits(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:limits", NULL))
		return;
	const char *project = project_of(r);
	const char *other = kreq_query(r, "tenant_id");
	if (other && strcmp(other, project) != 0) {
		_cleanup_json_ json_t *t = target_project(other);
		if (!cmp_enforce(r, "os_compute_api:limits:other_project", t))
			return;
		project = other;
	}
	static const struct { const char *res, *name; } max[] = {
		{ "ram", "maxTotalRAMSize" }, { "instances", "maxTotalInstances" },
		{ "cores", "maxTotalCores" }, { "key_pairs", "maxTotalKeypairs" },
		{ "floating_ips", "maxTotalFloatingIps" }, { "metadata_items", "maxServerMeta" },
		{ "metadata_items", "maxImageMeta" }, { "injected_files", "maxPersonality" },
		{ "injected_file_content_bytes", "maxPersonalitySize" },
		{ "security_groups", "maxSecurityGroups" },
		{ "security_group_rules", "maxSecurityGroupRules" },
		{ "server_groups", "maxServerGroups" },
		{ "server_group_members", "maxServerGroupMembers" },
	};
	static const struct { const char *res, *name; } used[] = {
		{ "ram", "totalRAMUsed" }, { "cores", "totalCoresUsed" },
		{ "instances", "totalInstancesUsed" }, { "floating_ips", "totalFloatingIpsUsed" },
		{ "security_groups", "totalSecurityGroupsUsed" },
		{ "server_groups", "totalServerGroupsUsed" },
	};
	json_t *abs = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(max); i++)
		json_object_set_new(abs, max[i].name,
		                    json_integer(cmp_quota_limit(project, max[i].res)));
	for (size_t i = 0; i < ARRAY_SIZE(used); i++)
		json_object_set_new(abs, used[i].name, json_integer(
		                    cmp_quota_usage(project, user_of(r), used[i].res)));
	kresp_json(r, 200, json_pack("{s:{s:[],s:o}}", "limits", "rate", "absolute", abs));
}

/* ---- hypervisors ---- */

#define HYP_SQL \
	"SELECT s.id AS id, n.host, n.hypervisor_hostname, n.hypervisor_type, " \
	"n.hypervisor_version, n.vcpus, n.memory_mb, n.local_gb, n.cpu_info, n.host_ip, " \
	"n.reserved_host_memory_mb, n.reserved_host_disk_mb, s.disabled, s.disabled_reason, " \
	"s.forced_down, s.last_seen_at, s.created_at FROM cmp_compute_node n JOIN cmp_service " \
	"s ON s.host = n.host AND s.binary_name = 'nova-compute' "

/* Hypervisor rows matching (all when both NULL). New array or NULL. */
static json_t *load_hypervisors(const int64_t *id, const char *pattern)
{
	if (id)
		return kdb_query_json(cmp_db, HYP_SQL "WHERE s.id = ?", "i", *id);
	if (pattern) {
		_cleanup_free_ char *like = NULL;
		if (asprintf(&like, "%%%s%%", pattern) < 0)
			return NULL;
		return kdb_query_json(cmp_db, HYP_SQL "WHERE n.hypervisor_hostname LIKE ? "
		                      "ORDER BY s.id", "s", like);
	}
	return kdb_query_json(cmp_db, HYP_SQL "ORDER BY s.id", "");
}

static int64_t host_count(const char *sql, const char *host)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(cmp_db, sql);
	if (!st)
		return 0;
	kstmt_bind_text(st, 1, host);
	return kstmt_step(st) == KDB_ROW ? kstmt_int(st, 0) : 0;
}

static json_t *hypervisor_view(const json_t *h, bool detail)
{
	json_t *v = json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)jint(h, "id"),
	                      "hypervisor_hostname", kjson_str(h, "hypervisor_hostname"),
	                      "state", service_up(h) ? "up" : "down",
	                      "status", jint(h, "disabled") ? "disabled" : "enabled");
	if (!detail)
		return v;
	const char *host = kjson_str(h, "host");
	int64_t vcpus_used = 0, mem_used = 0, disk_used = 0;
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(cmp_db, "SELECT COALESCE(SUM(vcpus), 0), "
		                                       "COALESCE(SUM(memory_mb), 0), "
		                                       "COALESCE(SUM(disk_gb), 0) FROM "
		                                       "cmp_allocation WHERE host = ?");
		if (st) {
			kstmt_bind_text(st, 1, host);
			if (kstmt_step(st) == KDB_ROW) {
				vcpus_used = kstmt_int(st, 0);
				mem_used = kstmt_int(st, 1);
				disk_used = kstmt_int(st, 2);
			}
		}
	}
	int64_t running = host_count("SELECT COUNT(*) FROM cmp_instance WHERE host = ? AND "
	                             "deleted = 0", host);
	int64_t workload = host_count("SELECT COUNT(*) FROM cmp_instance WHERE host = ? AND "
	                              "deleted = 0 AND task_state IS NOT NULL", host);
	int64_t mem = jint(h, "memory_mb"), disk = jint(h, "local_gb");
	mem_used += jint(h, "reserved_host_memory_mb");
	disk_used += (jint(h, "reserved_host_disk_mb") + 1023) / 1024;
	const char *cpu_info = kjson_str(h, "cpu_info");
	const char *ip = kjson_str(h, "host_ip");
	json_object_set_new(v, "vcpus", json_integer(jint(h, "vcpus")));
	json_object_set_new(v, "memory_mb", json_integer(mem));
	json_object_set_new(v, "local_gb", json_integer(disk));
	json_object_set_new(v, "vcpus_used", json_integer(vcpus_used));
	json_object_set_new(v, "memory_mb_used", json_integer(mem_used));
	json_object_set_new(v, "local_gb_used", json_integer(disk_used));
	json_object_set_new(v, "free_ram_mb", json_integer(mem - mem_used));
	json_object_set_new(v, "free_disk_gb", json_integer(disk - disk_used));
	json_object_set_new(v, "disk_available_least", json_integer(disk - disk_used));
	json_object_set_new(v, "hypervisor_type", json_string(kjson_str(h, "hypervisor_type") ?
	                                                      kjson_str(h, "hypervisor_type") :
	                                                      "QEMU"));
	json_object_set_new(v, "hypervisor_version", json_integer(jint(h, "hypervisor_version")));
	json_object_set_new(v, "current_workload", json_integer(workload));
	json_object_set_new(v, "running_vms", json_integer(running));
	json_object_set_new(v, "host_ip", json_string(ip && *ip ? ip : "127.0.0.1"));
	json_object_set_new(v, "cpu_info", json_string(cpu_info ? cpu_info : "{}"));
	json_t *svc = json_pack("{s:I,s:s}", "id", (json_int_t)jint(h, "id"), "host", host);
	const char *reason = kjson_str(h, "disabled_reason");
	json_object_set_new(svc, "disabled_reason", reason ? json_string(reason) : json_null());
	json_object_set_new(v, "service", svc);
	return v;
}

static void list_hypervisors(kreq *r, const char *action, bool detail)
{
	if (!cmp_enforce(r, action, NULL))
		return;
	_cleanup_json_ json_t *rows = load_hypervisors(NULL, NULL);
	if (!rows) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	size_t i;
	json_t *h;
	json_array_foreach(rows, i, h)
		json_array_append_new(out, hypervisor_view(h, detail));
	kresp_json(r, 200, json_pack("{s:o}", "hypervisors", out));
}

static void h_hyp_list(kreq *r)
{
	list_hypervisors(r, "os_compute_api:os-hypervisors:list", false);
}

static void h_hyp_detail(kreq *r)
{
	list_hypervisors(r, "os_compute_api:os-hypervisors:list-detail", true);
}

/* The hypervisor of {id} (a new reference), or NULL after a 404. */
static json_t *one_hypervisor(kreq *r)
{
	const char *id = kreq_param(r, "id");
	long long n;
	json_t *row = NULL;
	if (parse_int_text(id, &n)) {
		int64_t v = n;
		_cleanup_json_ json_t *rows = load_hypervisors(&v, NULL);
		if (rows && json_array_size(rows))
			row = json_incref(json_array_get(rows, 0));
	}
	if (!row)
		kresp_error(r, 404, "Hypervisor with ID '%s' could not be found.", id);
	return row;
}

static void h_hyp_show(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-hypervisors:show", NULL))
		return;
	_cleanup_json_ json_t *h = one_hypervisor(r);
	if (h)
		kresp_json(r, 200, json_pack("{s:o}", "hypervisor", hypervisor_view(h, true)));
}

/* `uptime`'s line for this host, from /proc (NULL elsewhere). */
static char *local_uptime(void)
{
	_cleanup_free_ char *up = kutil_read_file("/proc/uptime", NULL);
	_cleanup_free_ char *load = kutil_read_file("/proc/loadavg", NULL);
	if (!up || !load)
		return NULL;
	double secs = strtod(up, NULL), l1 = 0, l5 = 0, l15 = 0;
	if (sscanf(load, "%lf %lf %lf", &l1, &l5, &l15) != 3)
		return NULL;
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	long s = (long)secs, days = s / 86400, hours = s % 86400 / 3600, mins = s % 3600 / 60;
	char *out = NULL;
	if (asprintf(&out, " %02d:%02d:%02d up %ld day%s, %2ld:%02ld,  0 users,  load average: "
	             "%.2f, %.2f, %.2f", tm.tm_hour, tm.tm_min, tm.tm_sec, days,
	             days == 1 ? "" : "s", hours, mins, l1, l5, l15) < 0)
		return NULL;
	return out;
}

static void h_hyp_uptime(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-hypervisors:uptime", NULL))
		return;
	_cleanup_json_ json_t *h = one_hypervisor(r);
	if (!h)
		return;
	if (strcmp(kjson_str(h, "host"), cmp_host()) != 0) {
		kresp_error(r, 501, "Virt driver does not implement uptime function.");
		return;
	}
	_cleanup_free_ char *up = local_uptime();
	if (!up) {
		kresp_error(r, 501, "Virt driver does not implement uptime function.");
		return;
	}
	json_t *v = hypervisor_view(h, false);
	json_object_set_new(v, "uptime", json_string(up));
	kresp_json(r, 200, json_pack("{s:o}", "hypervisor", v));
}

static void h_hyp_statistics(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-hypervisors:statistics", NULL))
		return;
	_cleanup_json_ json_t *rows = load_hypervisors(NULL, NULL);
	if (!rows) {
		internal_error(r);
		return;
	}
	static const char *const keys[] = {
		"vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used", "local_gb_used",
		"free_ram_mb", "free_disk_gb", "current_workload", "running_vms",
		"disk_available_least",
	};
	int64_t sums[ARRAY_SIZE(keys)] = { 0 };
	size_t i;
	json_t *h;
	json_array_foreach(rows, i, h) {
		_cleanup_json_ json_t *v = hypervisor_view(h, true);
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			sums[k] += jint(v, keys[k]);
	}
	json_t *st = json_pack("{s:I}", "count", (json_int_t)json_array_size(rows));
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
		json_object_set_new(st, keys[k], json_integer(sums[k]));
	kresp_json(r, 200, json_pack("{s:o}", "hypervisor_statistics", st));
}

static void hyp_by_pattern(kreq *r, const char *action, bool servers)
{
	if (!cmp_enforce(r, action, NULL))
		return;
	const char *pattern = kreq_param(r, "pattern");
	_cleanup_json_ json_t *rows = load_hypervisors(NULL, pattern);
	if (!rows) {
		internal_error(r);
		return;
	}
	if (!json_array_size(rows)) {
		kresp_error(r, 404, "No hypervisor matching '%s' could be found.", pattern);
		return;
	}
	json_t *out = json_array();
	size_t i;
	json_t *h;
	json_array_foreach(rows, i, h) {
		json_t *v = hypervisor_view(h, false);
		if (servers) {
			_cleanup_json_ json_t *insts = kdb_query_json(
				cmp_db, "SELECT id AS uuid, name FROM cmp_instance WHERE host = ? "
				"AND deleted = 0 ORDER BY created_at", "s", kjson_str(h, "host"));
			if (insts && json_array_size(insts))
				json_object_set(v, "servers", insts);
		}
		json_array_append_new(out, v);
	}
	kresp_json(r, 200, json_pack("{s:o}", "hypervisors", out));
}

static void h_hyp_search(kreq *r)
{
	hyp_by_pattern(r, "os_compute_api:os-hypervisors:search", false);
}

static void h_hyp_servers(kreq *r)
{
	hyp_by_pattern(r, "os_compute_api:os-hypervisors:servers", true);
}

/* ---- server groups ---- */

static json_t *group_view(const json_t *g)
{
	json_t *members = json_array();
	_cleanup_stmt_ kstmt *st = kdb_prepare(cmp_db, "SELECT instance_id FROM "
	                                       "cmp_server_group_member WHERE group_id = ? "
	                                       "ORDER BY instance_id");
	if (st) {
		kstmt_bind_text(st, 1, kjson_str(g, "id"));
		while (kstmt_step(st) == KDB_ROW)
			json_array_append_new(members, json_string(kstmt_text(st, 0)));
	}
	return json_pack("{s:s,s:s,s:[s],s:o,s:{}}", "id", kjson_str(g, "id"), "name",
	                 kjson_str(g, "name"), "policies", kjson_str(g, "policy"), "members",
	                 members, "metadata");
}

/* Nova's common.limited(): offset/limit of a list (0, or -1 answered). */
static int offset_limit(kreq *r, long long *offset, long long *limit)
{
	const char *o = kreq_query(r, "offset"), *l = kreq_query(r, "limit");
	*offset = 0;
	*limit = 1000;
	if (o) {
		if (!parse_int_text(o, offset)) {
			kresp_error(r, 400, "offset param must be an integer");
			return -1;
		}
		if (*offset < 0) {
			kresp_error(r, 400, "offset param must be positive");
			return -1;
		}
	}
	if (l) {
		if (!parse_int_text(l, limit)) {
			kresp_error(r, 400, "limit param must be an integer");
			return -1;
		}
		if (*limit < 0) {
			kresp_error(r, 400, "limit param must be positive");
			return -1;
		}
		if (*limit == 0 || *limit > 1000)
			*limit = 1000;
	}
	return 0;
}

static void h_sg_list(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-server-groups:index", NULL))
		return;
	long long offset, limit;
	if (offset_limit(r, &offset, &limit) != 0)
		return;
	bool all = false;
	if (kreq_query(r, "all_projects")) {
		/* non-fatal, as Nova: a non-admin just gets their own */
		all = cmp_is_admin(r);
	}
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT id, name, policy, project_id "
	                                             "FROM cmp_server_group WHERE (? = 1 OR "
	                                             "project_id = ?) ORDER BY created_at, id",
	                                             "is", (int64_t)all, project_of(r));
	if (!rows) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	for (size_t i = (size_t)offset; i < json_array_size(rows) &&
	     (long long)json_array_size(out) < limit; i++)
		json_array_append_new(out, group_view(json_array_get(rows, i)));
	kresp_json(r, 200, json_pack("{s:o}", "server_groups", out));
}

static bool printable_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void h_sg_create(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-server-groups:create", NULL))
		return;
	json_t *body = kreq_json(r);
	if (!body)
		return;
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "server_group") != 0) {
			unexpected(r, "body", key);
			return;
		}
	}
	json_t *sg = json_object_get(body, "server_group");
	if (!json_is_object(sg)) {
		bad_field(r, "server_group", sg, sg ? "is not of type 'object'" :
		          "'server_group' is a required property");
		return;
	}
	json_object_foreach(sg, key, v) {
		if (strcmp(key, "name") != 0 && strcmp(key, "policies") != 0) {
			unexpected(r, "server_group", key);
			return;
		}
	}
	json_t *jn = json_object_get(sg, "name"), *jp = json_object_get(sg, "policies");
	if (!jn || !jp) {
		kresp_error(r, 400, "Invalid input for field/attribute server_group. Value: {...}. "
		            "'%s' is a required property", jn ? "policies" : "name");
		return;
	}
	if (!json_is_string(jn) || json_string_length(jn) > 255 ||
	    !printable_name(json_string_value(jn))) {
		bad_field(r, "name", jn, !json_is_string(jn) ? "is not of type 'string'" :
		          "An invalid 'name' value was provided. The name must be: printable "
		          "characters. Can not start or end with whitespace.");
		return;
	}
	if (!json_is_array(jp) || json_array_size(jp) != 1) {
		bad_field(r, "policies", jp, !json_is_array(jp) ? "is not of type 'array'" :
		          json_array_size(jp) ? "is too long" : "[] is too short");
		return;
	}
	const char *policy = json_string_value(json_array_get(jp, 0));
	if (!policy || (strcmp(policy, "affinity") != 0 && strcmp(policy, "anti-affinity") != 0)) {
		bad_field(r, "policies", jp, "is not one of ['anti-affinity', 'affinity']");
		return;
	}
	const char *project = project_of(r);
	long limit = cmp_quota_limit(project, "server_groups");
	if (limit >= 0 && cmp_quota_usage(project, user_of(r), "server_groups") + 1 > limit) {
		kresp_error(r, 403, "Quota exceeded, too many server groups.");
		return;
	}
	char id[37];
	kutil_uuid(id);
	if (kdb_run(cmp_db, NULL, "INSERT INTO cmp_server_group (id, project_id, user_id, name, "
	            "policy, rules, created_at) VALUES (?, ?, ?, ?, ?, '{}', ?)", "sssssi", id,
	            project, user_of(r), json_string_value(jn), policy, kutil_now_us()) !=
	    KDB_DONE) {
		internal_error(r);
		return;
	}
	json_t *g = json_pack("{s:s,s:s,s:s}", "id", id, "name", json_string_value(jn), "policy",
	                      policy);
	kresp_json(r, 200, json_pack("{s:o}", "server_group", group_view(g)));
	json_decref(g);
}

/* The group {id} after the policy check on its project; NULL when answered. */
static json_t *sg_get(kreq *r, const char *action)
{
	const char *id = kreq_param(r, "id");
	json_t *g = kdb_query_row(cmp_db, NULL, "SELECT id, name, policy, project_id FROM "
	                          "cmp_server_group WHERE id = ?", "s", id);
	if (!g) {
		kresp_error(r, 404, "Instance group %s could not be found.", id);
		return NULL;
	}
	_cleanup_json_ json_t *t = target_project(kjson_str(g, "project_id"));
	if (!cmp_enforce(r, action, t)) {
		json_decref(g);
		return NULL;
	}
	return g;
}

static void h_sg_show(kreq *r)
{
	_cleanup_json_ json_t *g = sg_get(r, "os_compute_api:os-server-groups:show");
	if (g)
		kresp_json(r, 200, json_pack("{s:o}", "server_group", group_view(g)));
}

static void h_sg_delete(kreq *r)
{
	_cleanup_json_ json_t *g = sg_get(r, "os_compute_api:os-server-groups:delete");
	if (!g)
		return;
	const char *id = kjson_str(g, "id");
	if (kdb_run(cmp_db, NULL, "DELETE FROM cmp_server_group_member WHERE group_id = ?", "s",
	            id) != KDB_DONE ||
	    kdb_run(cmp_db, NULL, "DELETE FROM cmp_server_group WHERE id = ?", "s", id) !=
	    KDB_DONE) {
		internal_error(r);
		return;
	}
	kresp_status(r, 204);
}

/* ---- simple tenant usage ---- */

/* start/end of the period: absent = now; Nova's three formats. -1 = bad. */
static int64_t usage_time(const char *s)
{
	if (!s)
		return kutil_now_us();
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	if (strlen(buf) > 10 && buf[10] == ' ')
		buf[10] = 'T';
	return kutil_parse_iso8601(buf);
}

static json_t *usage_iso(int64_t us)
{
	char buf[32];
	kutil_iso8601_us(us, buf);
	return json_string(buf);
}

/* Nova's simple_tenant_usage: {project: summary} of the instances that ran
 * in [start, stop] (project NULL: all); a new object, NULL on error. */
static json_t *tenant_usages(const char *project, int64_t start, int64_t stop, bool detailed)
{
	_cleanup_json_ json_t *rows = kdb_query_json(
		cmp_db, "SELECT id, name, project_id, flavor, vcpus, memory_mb, root_gb, "
		"ephemeral_gb, vm_state, launched_at, terminated_at FROM cmp_instance WHERE "
		"(? IS NULL OR project_id = ?) AND launched_at IS NOT NULL AND launched_at < ? "
		"AND (terminated_at IS NULL OR terminated_at > ?) ORDER BY created_at, id",
		"ssii", project, project, stop, start);
	if (!rows)
		return NULL;
	json_t *out = json_object();
	int64_t now = kutil_now_us();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		int64_t launched = jint(row, "launched_at"), term = jint(row, "terminated_at");
		int64_t from = launched > start ? launched : start;
		int64_t to = term > 0 && term < stop ? term : stop;
		double hours = to > from ? (double)(to - from) / 3600e6 : 0.0;
		const char *tenant = kjson_str(row, "project_id");
		const char *flavor = NULL;
		_cleanup_json_ json_t *fj = kjson_str(row, "flavor") ?
			json_loads(kjson_str(row, "flavor"), 0, NULL) : NULL;
		flavor = kjson_str(fj, "name");
		int64_t local_gb = jint(row, "root_gb") + jint(row, "ephemeral_gb");
		int64_t mem = jint(row, "memory_mb"), vcpus = jint(row, "vcpus");
		json_t *sum = json_object_get(out, tenant);
		if (!sum) {
			sum = json_pack("{s:s,s:o,s:o,s:f,s:f,s:f,s:f}", "tenant_id", tenant,
			                "start", usage_iso(start), "stop", usage_iso(stop),
			                "total_hours", 0.0, "total_local_gb_usage", 0.0,
			                "total_memory_mb_usage", 0.0, "total_vcpus_usage", 0.0);
			if (detailed)
				json_object_set_new(sum, "server_usages", json_array());
			json_object_set_new(out, tenant, sum);
		}
		const char *keys[] = { "total_hours", "total_local_gb_usage",
		                       "total_memory_mb_usage", "total_vcpus_usage" };
		double add[] = { hours, (double)local_gb * hours, (double)mem * hours,
		                 (double)vcpus * hours };
		for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
			json_object_set_new(sum, keys[k], json_real(json_real_value(
			                    json_object_get(sum, keys[k])) + add[k]));
		if (!detailed)
			continue;
		json_t *info = json_pack("{s:s,s:s,s:s,s:f,s:I,s:I,s:I,s:s,s:o}",
		                         "instance_id", kjson_str(row, "id"),
		                         "name", kjson_str(row, "name"), "tenant_id", tenant,
		                         "hours", hours, "memory_mb", (json_int_t)mem,
		                         "local_gb", (json_int_t)local_gb,
		                         "vcpus", (json_int_t)vcpus, "flavor", flavor ? flavor : "",
		                         "started_at", usage_iso(launched));
		json_object_set_new(info, "ended_at", term > 0 ? usage_iso(term) : json_null());
		json_object_set_new(info, "state", json_string(term > 0 ? "terminated" :
		                                               kjson_str(row, "vm_state")));
		json_object_set_new(info, "uptime", json_integer(((term > 0 ? term : now) -
		                                                   launched) / 1000000));
		json_array_append_new(json_object_get(sum, "server_usages"), info);
	}
	return out;
}

/* The period of the query; false after answering 400. */
static bool usage_period(kreq *r, int64_t *start, int64_t *stop)
{
	*stop = usage_time(kreq_query(r, "end"));
	*start = usage_time(kreq_query(r, "start"));
	if (*start < 0 || *stop < 0) {
		kresp_error(r, 400, "Invalid input for query parameters %s. Datetime is in "
		            "invalid format", *start < 0 ? "start" : "end");
		return false;
	}
	if (*start > *stop) {
		kresp_error(r, 400, "Invalid start time. The start time cannot occur after the "
		            "end time.");
		return false;
	}
	return true;
}

static void h_usage_list(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-simple-tenant-usage:list", NULL))
		return;
	int64_t start, stop;
	if (!usage_period(r, &start, &stop))
		return;
	const char *d = kreq_query(r, "detailed");
	_cleanup_json_ json_t *all = tenant_usages(NULL, start, stop, d && strcmp(d, "1") == 0);
	if (!all) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(all, k, v)
		json_array_append(out, v);
	kresp_json(r, 200, json_pack("{s:o}", "tenant_usages", out));
}

static void h_usage_show(kreq *r)
{
	const char *tenant = kreq_param(r, "tenant_id");
	_cleanup_json_ json_t *t = target_project(tenant);
	if (!cmp_enforce(r, "os_compute_api:os-simple-tenant-usage:show", t))
		return;
	int64_t start, stop;
	if (!usage_period(r, &start, &stop))
		return;
	_cleanup_json_ json_t *all = tenant_usages(tenant, start, stop, true);
	if (!all) {
		internal_error(r);
		return;
	}
	json_t *u = json_object_get(all, tenant);
	kresp_json(r, 200, json_pack("{s:o}", "tenant_usage", u ? json_incref(u) : json_object()));
}

/* ---- extensions ---- */

static void h_extensions(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:[]}", "extensions"));
}

static void h_extension(kreq *r)
{
	kresp_error(r, 404, "Unknown extension %s", kreq_param(r, "alias"));
}

const kroute cmp_misc_routes[] = {
	{ "GET", "/v2.1/os-availability-zone", h_az_list, 0 },
	{ "GET", "/v2.1/os-availability-zone/detail", h_az_detail, 0 },

	{ "GET", "/v2.1/os-quota-sets/{project_id}", h_quota_show, 0 },
	{ "PUT", "/v2.1/os-quota-sets/{project_id}", h_quota_update, 0 },
	{ "DELETE", "/v2.1/os-quota-sets/{project_id}", h_quota_delete, 0 },
	{ "GET", "/v2.1/os-quota-sets/{project_id}/defaults", h_quota_defaults, 0 },
	{ "GET", "/v2.1/os-quota-sets/{project_id}/detail", h_quota_detail, 0 },
	{ "GET", "/v2.1/limits", h_limits, 0 },

	{ "GET", "/v2.1/os-hypervisors", h_hyp_list, 0 },
	{ "GET", "/v2.1/os-hypervisors/detail", h_hyp_detail, 0 },
	{ "GET", "/v2.1/os-hypervisors/statistics", h_hyp_statistics, 0 },
	{ "GET", "/v2.1/os-hypervisors/{id}", h_hyp_show, 0 },
	{ "GET", "/v2.1/os-hypervisors/{id}/uptime", h_hyp_uptime, 0 },
	{ "GET", "/v2.1/os-hypervisors/{pattern}/search", h_hyp_search, 0 },
	{ "GET", "/v2.1/os-hypervisors/{pattern}/servers", h_hyp_servers, 0 },

	{ "GET", "/v2.1/os-services", h_services_list, 0 },
	{ "PUT", "/v2.1/os-services/{id}", h_services_update, 0 },
	{ "DELETE", "/v2.1/os-services/{id}", h_services_delete, 0 },

	{ "GET", "/v2.1/os-server-groups", h_sg_list, 0 },
	{ "POST", "/v2.1/os-server-groups", h_sg_create, 0 },
	{ "GET", "/v2.1/os-server-groups/{id}", h_sg_show, 0 },
	{ "DELETE", "/v2.1/os-server-groups/{id}", h_sg_delete, 0 },

	{ "GET", "/v2.1/os-simple-tenant-usage", h_usage_list, 0 },
	{ "GET", "/v2.1/os-simple-tenant-usage/{tenant_id}", h_usage_show, 0 },

	{ "GET", "/v2.1/extensions", h_extensions, 0 },
	{ "GET", "/v2.1/extensions/{alias}", h_extension, 0 },
};
const size_t cmp_misc_nroutes = ARRAY_SIZE(cmp_misc_routes);
