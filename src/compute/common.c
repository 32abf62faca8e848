/*
 * common.c - what every compute handler (and the agent side) shares:
 * Nova's policy defaults and cmp_enforce(), instance lookup and the server
 * view, the status table, compare-and-set state updates, faults, instance
 * actions and events, and quotas.
 *
 * Policy: the defaults are Nova's classic policy file (admin_or_owner =
 * "is_admin:True or project_id:%(project_id)s", admin_api = "is_admin:True",
 * keypairs owned by user_id, "default" = admin_or_owner for anything not
 * listed).  Nova's context.is_admin comes from its own "context_is_admin"
 * rule (role:admin), so the credentials get "is_admin" from that rule before
 * the action is checked.  [compute] policy_file overrides single rules.
 *
 * The server view (cmp_server_view) needs, beyond the instance row, its
 * metadata, its ports (the network info cache, cmp_instance_port) and its
 * latest fault.  A row may carry them already under "_metadata", "_ports"
 * and "_fault" (cmp_instance_attach() loads them for a whole list with one
 * query per table, which is how the server list stays fast); otherwise the
 * view loads them for that one instance.
 *
 * State changes are compare-and-set (UPDATE ... WHERE task_state IN (...)),
 * so the API, the conductor and the agent never overwrite each other's
 * transitions: the loser of a race sees 0 rows and reacts (409 in the API).
 */
#include <arpa/inet.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/evp.h>

#include "core/auth.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

kpolicy *cmp_policy;

/* ------------------------------------------------------------------------ */
/* Policy */

#define AOO "rule:admin_or_owner"
#define ADMIN "rule:admin_api"
#define P(x) "os_compute_api:" x

static const kpolicy_rule cmp_defaults[] = {
	{ "context_is_admin", "role:admin" },
	{ "admin_or_owner", "is_admin:True or project_id:%(project_id)s" },
	{ "admin_api", "is_admin:True" },
	{ "admin_or_user", "is_admin:True or user_id:%(user_id)s" },
	{ "default", AOO },

	{ P("servers:index"), AOO },
	{ P("servers:detail"), AOO },
	{ P("servers:index:get_all_tenants"), ADMIN },
	{ P("servers:detail:get_all_tenants"), ADMIN },
	{ P("servers:allow_all_filters"), ADMIN },
	{ P("servers:show"), AOO },
	{ P("servers:show:host_status"), ADMIN },
	{ P("servers:create"), AOO },
	{ P("servers:create:forced_host"), ADMIN },
	{ P("servers:create:attach_volume"), AOO },
	{ P("servers:create:attach_network"), AOO },
	{ P("servers:update"), AOO },
	{ P("servers:delete"), AOO },
	{ P("servers:reboot"), AOO },
	{ P("servers:start"), AOO },
	{ P("servers:stop"), AOO },
	{ P("servers:pause"), AOO },
	{ P("servers:unpause"), AOO },
	{ P("servers:suspend"), AOO },
	{ P("servers:resume"), AOO },
	{ P("servers:lock"), AOO },
	{ P("servers:unlock"), AOO },
	{ P("servers:unlock:unlock_override"), ADMIN },
	{ P("servers:rebuild"), AOO },
	{ P("servers:resize"), AOO },
	{ P("servers:confirm_resize"), AOO },
	{ P("servers:revert_resize"), AOO },
	{ P("servers:create_image"), AOO },
	{ P("servers:create_image:allow_volume_backed"), AOO },
	{ P("servers:get_console_output"), AOO },
	{ P("servers:trigger_crash_dump"), AOO },
	/* Nova's own names for the server actions */
	{ P("os-pause-server:pause"), AOO },
	{ P("os-pause-server:unpause"), AOO },
	{ P("os-suspend-server:suspend"), AOO },
	{ P("os-suspend-server:resume"), AOO },
	{ P("os-lock-server:lock"), AOO },
	{ P("os-lock-server:unlock"), AOO },
	{ P("os-lock-server:unlock:unlock_override"), ADMIN },
	{ P("os-console-output"), AOO },
	{ P("os-remote-consoles"), AOO },
	{ P("os-admin-actions:reset_state"), ADMIN },
	{ P("os-admin-actions:inject_network_info"), ADMIN },
	{ P("os-migrate-server:migrate"), ADMIN },
	{ P("os-migrate-server:migrate_live"), ADMIN },
	{ P("os-extended-server-attributes"), ADMIN },

	{ P("os-server-metadata:index"), AOO },
	{ P("os-server-metadata:show"), AOO },
	{ P("os-server-metadata:create"), AOO },
	{ P("os-server-metadata:update"), AOO },
	{ P("os-server-metadata:update_all"), AOO },
	{ P("os-server-metadata:delete"), AOO },
	{ P("server-metadata:index"), AOO },
	{ P("server-metadata:show"), AOO },
	{ P("server-metadata:create"), AOO },
	{ P("server-metadata:update"), AOO },
	{ P("server-metadata:update_all"), AOO },
	{ P("server-metadata:delete"), AOO },
	{ P("ips:index"), AOO },
	{ P("ips:show"), AOO },

	{ P("os-flavor-manage:create"), ADMIN },
	{ P("os-flavor-manage:delete"), ADMIN },
	{ P("os-flavor-manage:update"), ADMIN },
	{ P("os-flavor-extra-specs:index"), AOO },
	{ P("os-flavor-extra-specs:show"), AOO },
	{ P("os-flavor-extra-specs:create"), ADMIN },
	{ P("os-flavor-extra-specs:update"), ADMIN },
	{ P("os-flavor-extra-specs:delete"), ADMIN },
	{ P("os-flavor-access"), AOO },
	{ P("os-flavor-access:add_tenant_access"), ADMIN },
	{ P("os-flavor-access:remove_tenant_access"), ADMIN },
	{ P("flavors"), "@" },

	{ P("os-keypairs:index"), "rule:admin_api or user_id:%(user_id)s" },
	{ P("os-keypairs:create"), "rule:admin_api or user_id:%(user_id)s" },
	{ P("os-keypairs:delete"), "rule:admin_api or user_id:%(user_id)s" },
	{ P("os-keypairs:show"), "rule:admin_api or user_id:%(user_id)s" },

	{ P("os-hypervisors"), ADMIN },
	{ P("os-hypervisors:list"), ADMIN },
	{ P("os-hypervisors:list-detail"), ADMIN },
	{ P("os-hypervisors:statistics"), ADMIN },
	{ P("os-hypervisors:show"), ADMIN },
	{ P("os-hypervisors:uptime"), ADMIN },
	{ P("os-hypervisors:search"), ADMIN },
	{ P("os-hypervisors:servers"), ADMIN },
	{ P("os-services"), ADMIN },
	{ P("os-services:list"), ADMIN },
	{ P("os-services:update"), ADMIN },
	{ P("os-services:delete"), ADMIN },

	{ P("os-quota-sets:show"), AOO },
	{ P("os-quota-sets:detail"), AOO },
	{ P("os-quota-sets:defaults"), "@" },
	{ P("os-quota-sets:update"), ADMIN },
	{ P("os-quota-sets:delete"), ADMIN },

	{ P("os-server-groups:create"), AOO },
	{ P("os-server-groups:delete"), AOO },
	{ P("os-server-groups:index"), AOO },
	{ P("os-server-groups:index:all_projects"), ADMIN },
	{ P("os-server-groups:show"), AOO },

	{ P("os-instance-actions"), AOO },
	{ P("os-instance-actions:list"), AOO },
	{ P("os-instance-actions:show"), AOO },
	{ P("os-instance-actions:events"), ADMIN },
	{ P("os-instance-actions:events:details"), ADMIN },

	{ P("os-availability-zone:list"), AOO },
	{ P("os-availability-zone:detail"), ADMIN },
	{ P("limits"), "@" },
	{ P("limits:other_project"), ADMIN },
	{ P("os-simple-tenant-usage:show"), AOO },
	{ P("os-simple-tenant-usage:list"), ADMIN },
	{ P("os-aggregates:index"), ADMIN },
	{ P("extensions"), "@" },
};

int cmp_policy_init(void)
{
	char err[512] = "";
	kpolicy *p = kpolicy_new(cmp_defaults, ARRAY_SIZE(cmp_defaults), err, sizeof(err));
	if (!p) {
		klog_error("compute", "default policy: %s", err);
		return -1;
	}
	const char *file = kumo_conf ? kconf_get(kumo_conf, "compute", "policy_file", NULL) : NULL;
	if (file && *file && kpolicy_load_file(p, file, err, sizeof(err)) != 0) {
		klog_error("compute", "policy file %s: %s", file, err);
		kpolicy_free(p);
		return -1;
	}
	kpolicy_free(cmp_policy);
	cmp_policy = p;
	return 0;
}

/* Nova's context.is_admin: the "context_is_admin" rule, once per request. */
static __thread const kreq *admin_req;
static __thread char admin_req_id[48];
static __thread bool admin_val;

bool cmp_is_admin(kreq *r)
{
	if (!r || !r->ctx)
		return false;
	if (r->ctx->is_admin_token)
		return true;
	if (admin_req == r && strcmp(admin_req_id, r->request_id) == 0)
		return admin_val;
	bool v = false;
	if (cmp_policy) {
		_cleanup_json_ json_t *creds = kctx_to_creds(r->ctx);
		_cleanup_json_ json_t *t = json_object();
		v = kpolicy_check(cmp_policy, "context_is_admin", creds, t);
	}
	admin_val = v;
	admin_req = r;
	memcpy(admin_req_id, r->request_id, sizeof(admin_req_id));
	return v;
}

/* The check without answering. */
static bool policy_allows(kreq *r, const char *action, const json_t *target)
{
	if (!r->ctx)
		return false;
	if (r->ctx->is_admin_token)
		return true;
	if (!cmp_policy)
		return false;
	_cleanup_json_ json_t *creds = kctx_to_creds(r->ctx);
	json_object_set_new(creds, "is_admin", json_boolean(cmp_is_admin(r)));
	_cleanup_json_ json_t *t = json_is_object(target) ? json_copy((json_t *)target)
	                                                  : json_object();
	if (!json_object_get(t, "project_id") && r->ctx->project_id)
		json_object_set_new(t, "project_id", json_string(r->ctx->project_id));
	if (!json_object_get(t, "user_id") && r->ctx->user_id)
		json_object_set_new(t, "user_id", json_string(r->ctx->user_id));
	return kpolicy_check(cmp_policy, action, creds, t);
}

bool cmp_enforce(kreq *r, const char *action, json_t *target)
{
	if (!r->ctx) {
		kresp_error(r, 401, "The request you have made requires authentication.");
		return false;
	}
	if (policy_allows(r, action, target))
		return true;
	kresp_error(r, 403, "Policy doesn't allow %s to be performed.", action);
	return false;
}

/* ------------------------------------------------------------------------ */
/* Instances */

static const char *const json_columns[] = {
	"image", "flavor", "old_flavor", "new_flavor", "requested_networks",
	"security_groups", "security_group_ids",
};

static void parse_json_columns(json_t *row)
{
	for (size_t i = 0; i < ARRAY_SIZE(json_columns); i++) {
		const char *s = kjson_str(row, json_columns[i]);
		if (!s) {
			json_object_set_new(row, json_columns[i], json_null());
			continue;
		}
		json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
		json_object_set_new(row, json_columns[i], v ? v : json_null());
	}
}

json_t *cmp_instance_load(const char *id, bool include_deleted)
{
	if (!id || !cmp_db)
		return NULL;
	json_t *row = kdb_query_row(cmp_db, NULL,
	                            include_deleted
	                            ? "SELECT * FROM cmp_instance WHERE id = ?"
	                            : "SELECT * FROM cmp_instance WHERE id = ? AND deleted = 0",
	                            "s", id);
	if (row)
		parse_json_columns(row);
	return row;
}

json_t *cmp_instance_get(kreq *r, const char *id)
{
	json_t *row = NULL;
	if (id && strlen(id) <= 255 && kutil_is_uuid(id))
		row = cmp_instance_load(id, false);
	if (row && !cmp_is_admin(r)) {
		const char *p = kjson_str(row, "project_id");
		if (!r->ctx || !r->ctx->project_id || !p || strcmp(p, r->ctx->project_id) != 0) {
			json_decref(row);
			row = NULL;
		}
	}
	if (!row) {
		kresp_error(r, 404, "Instance %s could not be found.", id ? id : "");
		return NULL;
	}
	return kpool_json(r->pool, row);
}

/* ---- bulk loading of metadata, ports and faults (see the top) ---- */

#define ATTACH_CHUNK 400

static json_t *query_in(const char *sql_head, const char *sql_tail, json_t *ids,
                        size_t from, size_t n)
{
	size_t len = strlen(sql_head) + strlen(sql_tail) + n * 2 + 8;
	_cleanup_free_ char *sql = malloc(len);
	if (!sql)
		return NULL;
	char *p = sql + sprintf(sql, "%s(", sql_head);
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		*p++ = '?';
	}
	sprintf(p, ")%s", sql_tail);
	_cleanup_stmt_ kstmt *st = kdb_prepare(cmp_db, sql);
	if (!st)
		return NULL;
	for (size_t i = 0; i < n; i++)
		kstmt_bind_text(st, (int)i + 1, json_string_value(json_array_get(ids, from + i)));
	json_t *out = json_array();
	int rc;
	while ((rc = kstmt_step(st)) == KDB_ROW) {
		json_t *row = json_object();
		for (int c = 0; c < kstmt_ncols(st); c++) {
			const char *name = kstmt_colname(st, c);
			if (kstmt_isnull(st, c))
				json_object_set_new(row, name, json_null());
			else if (strcmp(name, "code") == 0 || strcmp(name, "created_at") == 0 ||
			         strcmp(name, "ord") == 0 || strcmp(name, "mtu") == 0 ||
			         strcmp(name, "preexisting") == 0)
				json_object_set_new(row, name, json_integer(kstmt_int(st, c)));
			else
				json_object_set_new(row, name, json_string(kstmt_text(st, c)));
		}
		json_array_append_new(out, row);
	}
	if (rc != KDB_DONE) {
		json_decref(out);
		return NULL;
	}
	return out;
}

void cmp_instance_attach(json_t *insts)
{
	if (!json_is_array(insts) || json_array_size(insts) == 0)
		return;
	_cleanup_json_ json_t *byid = json_object();
	_cleanup_json_ json_t *ids = json_array();
	size_t i;
	json_t *inst;
	json_array_foreach(insts, i, inst) {
		const char *id = kjson_str(inst, "id");
		if (!id)
			continue;
		json_object_set(byid, id, inst);
		json_array_append_new(ids, json_string(id));
		json_object_set_new(inst, "_metadata", json_object());
		json_object_set_new(inst, "_ports", json_array());
		json_object_set_new(inst, "_fault", json_null());
	}
	size_t n = json_array_size(ids);
	for (size_t from = 0; from < n; from += ATTACH_CHUNK) {
		size_t k = n - from < ATTACH_CHUNK ? n - from : ATTACH_CHUNK;
		_cleanup_json_ json_t *meta = query_in(
			"SELECT instance_id, meta_key, meta_value FROM cmp_instance_metadata "
			"WHERE instance_id IN ", "", ids, from, k);
		json_t *row;
		size_t j;
		json_array_foreach(meta, j, row) {
			json_t *o = json_object_get(byid, kjson_str(row, "instance_id"));
			json_object_set(json_object_get(o, "_metadata"), kjson_str(row, "meta_key"),
			                json_object_get(row, "meta_value"));
		}
		_cleanup_json_ json_t *ports = query_in(
			"SELECT instance_id, port_id, network_id, network_name, mac, ips, ord "
			"FROM cmp_instance_port WHERE instance_id IN ", " ORDER BY ord, port_id",
			ids, from, k);
		json_array_foreach(ports, j, row) {
			json_t *o = json_object_get(byid, kjson_str(row, "instance_id"));
			const char *ips = kjson_str(row, "ips");
			json_t *v = ips ? json_loads(ips, 0, NULL) : NULL;
			json_object_set_new(row, "ips", v ? v : json_array());
			json_array_append(json_object_get(o, "_ports"), row);
		}
		/* newest fault per instance: the rows come newest first */
		_cleanup_json_ json_t *faults = query_in(
			"SELECT instance_id, code, message, details, created_at "
			"FROM cmp_instance_fault WHERE instance_id IN ",
			" ORDER BY created_at DESC, id DESC", ids, from, k);
		json_array_foreach(faults, j, row) {
			json_t *o = json_object_get(byid, kjson_str(row, "instance_id"));
			if (o && json_is_null(json_object_get(o, "_fault")))
				json_object_set(o, "_fault", row);
		}
	}
}

/* ---- status ---- */

const char *cmp_status(const char *vm, const char *task)
{
	if (!vm)
		return "UNKNOWN";
	const char *t = task ? task : "";
#define T(s) (strcmp(t, s) == 0)
	bool rebuild = T("rebuilding") || T("rebuild_block_device_mapping") ||
	               T("rebuild_spawning");
	bool resize = T("resize_prep") || T("resize_migrating") || T("resize_migrated") ||
	              T("resize_finish");
	if (strcmp(vm, "active") == 0) {
		if (T("rebooting") || T("reboot_pending") || T("reboot_started"))
			return "REBOOT";
		if (T("rebooting_hard") || T("reboot_pending_hard") || T("reboot_started_hard"))
			return "HARD_REBOOT";
		if (T("updating_password"))
			return "PASSWORD";
		if (rebuild)
			return "REBUILD";
		if (T("migrating"))
			return "MIGRATING";
		if (resize)
			return "RESIZE";
		return "ACTIVE";
	}
	if (strcmp(vm, "building") == 0)
		return "BUILD";
	if (strcmp(vm, "stopped") == 0)
		return resize ? "RESIZE" : rebuild ? "REBUILD" : "SHUTOFF";
	if (strcmp(vm, "resized") == 0)
		return T("resize_reverting") ? "REVERT_RESIZE" : "VERIFY_RESIZE";
	if (strcmp(vm, "paused") == 0)
		return T("migrating") ? "MIGRATING" : "PAUSED";
	if (strcmp(vm, "suspended") == 0)
		return "SUSPENDED";
	if (strcmp(vm, "rescued") == 0)
		return "RESCUE";
	if (strcmp(vm, "error") == 0)
		return rebuild ? "REBUILD" : "ERROR";
	if (strcmp(vm, "deleted") == 0)
		return "DELETED";
	if (strcmp(vm, "soft-delete") == 0)
		return "SOFT_DELETED";
	if (strcmp(vm, "shelved") == 0)
		return "SHELVED";
	if (strcmp(vm, "shelved_offloaded") == 0)
		return "SHELVED_OFFLOADED";
#undef T
	return "UNKNOWN";
}

/* ---- the view ---- */

static json_t *link_list(kreq *r, const char *collection, const char *id, bool self)
{
	const char *base = kreq_base_url(r);
	json_t *l = json_array();
	if (self)
		json_array_append_new(l, json_pack("{s:s,s:s}", "rel", "self", "href",
		                                   kpool_printf(r->pool, "%s/v2.1/%s/%s", base,
		                                                collection, id)));
	json_array_append_new(l, json_pack("{s:s,s:s}", "rel", "bookmark", "href",
	                                   kpool_printf(r->pool, "%s/%s/%s", base, collection,
	                                                id)));
	return l;
}

static json_t *time_s(int64_t us)
{
	char buf[32];
	kutil_iso8601_s(us, buf);
	return json_string(buf);
}

/* "2026-11-26T07:10:00.000000" (str() of a naive datetime, as Nova's JSON
 * serializer writes it) or null. */
static json_t *time_naive(const json_t *v)
{
	if (!json_is_integer(v))
		return json_null();
	char buf[32];
	kutil_iso8601_us(json_integer_value(v), buf);
	size_t n = strlen(buf);
	if (n && buf[n - 1] == 'Z')
		buf[n - 1] = 0;
	return json_string(buf);
}

static json_t *host_id(const char *project, const char *host)
{
	if (!host || !*host)
		return json_string("");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c)
		return json_string("");
	EVP_DigestInit_ex(c, EVP_sha224(), NULL);
	EVP_DigestUpdate(c, project ? project : "", project ? strlen(project) : 0);
	EVP_DigestUpdate(c, host, strlen(host));
	EVP_DigestFinal_ex(c, md, &mdlen);
	EVP_MD_CTX_free(c);
	_cleanup_free_ char *hex = kutil_hex(md, mdlen);
	return json_string(hex ? hex : "");
}

json_t *cmp_server_addresses(const json_t *ports, bool extended)
{
	json_t *addrs = json_object();
	size_t i, j;
	json_t *p, *ip;
	json_array_foreach(ports, i, p) {
		const char *net = kjson_str(p, "network_name");
		if (!net)
			net = "";
		json_t *list = json_object_get(addrs, net);
		if (!list) {
			list = json_array();
			json_object_set_new(addrs, net, list);
		}
		json_array_foreach(json_object_get(p, "ips"), j, ip) {
			json_t *a = json_object();
			json_t *ver = json_object_get(ip, "version");
			json_object_set_new(
			    a, "version",
			    json_integer(
			        json_is_integer(ver)
			            ? json_integer_value(ver)
			            : (kjson_str(ip, "addr") && strchr(kjson_str(ip, "addr"), ':')
			                   ? 6
			                   : 4)));
			json_object_set_new(a, "addr", json_string(kjson_str(ip, "addr")
			                                           ? kjson_str(ip, "addr") : ""));
			if (extended) {
				const char *type = kjson_str(ip, "type");
				json_object_set_new(a, "OS-EXT-IPS:type",
				                    json_string(type ? type : "fixed"));
				const char *mac = kjson_str(p, "mac");
				json_object_set_new(a, "OS-EXT-IPS-MAC:mac_addr",
				                    json_string(mac ? mac : ""));
			}
			json_array_append_new(list, a);
		}
	}
	return addrs;
}

static const char *str_or(const json_t *o, const char *key, const char *def)
{
	const char *s = kjson_str(o, key);
	return s ? s : def;
}

/* The extended-attributes policy for this request and project (lists ask
 * once per row: the answer is kept for the request's last project). */
static __thread const kreq *ext_req;
static __thread char ext_req_id[48];
static __thread char ext_project[65];
static __thread bool ext_val;

static bool ext_attrs_allowed(kreq *r, const char *project)
{
	if (ext_req == r && strcmp(ext_req_id, r->request_id) == 0 &&
	    strcmp(ext_project, project) == 0)
		return ext_val;
	_cleanup_json_ json_t *target = json_pack("{s:s}", "project_id", project);
	ext_val = policy_allows(r, "os_compute_api:os-extended-server-attributes", target);
	ext_req = r;
	memcpy(ext_req_id, r->request_id, sizeof(ext_req_id));
	snprintf(ext_project, sizeof(ext_project), "%s", project);
	return ext_val;
}

json_t *cmp_server_view(kreq *r, const json_t *inst_in, bool detail)
{
	const char *id = str_or(inst_in, "id", "");
	json_t *v = json_object();
	json_object_set_new(v, "id", json_string(id));
	json_object_set_new(v, "name", json_string(str_or(inst_in, "name", "")));
	json_object_set_new(v, "links", link_list(r, "servers", id, true));
	if (!detail)
		return v;

	/* make sure metadata, ports and the fault are there */
	_cleanup_json_ json_t *copy = NULL;
	const json_t *inst = inst_in;
	if (!json_object_get(inst_in, "_metadata")) {
		copy = json_deep_copy(inst_in);
		_cleanup_json_ json_t *one = json_pack("[O]", copy);
		cmp_instance_attach(one);
		inst = copy;
	}

	const char *project = str_or(inst, "project_id", "");
	const char *vm = kjson_str(inst, "vm_state"), *task = kjson_str(inst, "task_state");
	bool deleted = json_integer_value(json_object_get(inst, "deleted")) != 0;
	const char *status = deleted ? "DELETED" : cmp_status(vm, task);
	const char *host = kjson_str(inst, "host");

	json_object_set_new(v, "status", json_string(status));
	json_object_set_new(v, "tenant_id", json_string(project));
	json_object_set_new(v, "user_id", json_string(str_or(inst, "user_id", "")));
	json_t *meta = json_object_get(inst, "_metadata");
	json_object_set_new(v, "metadata", json_is_object(meta) ? json_copy(meta) : json_object());
	json_object_set_new(v, "hostId", host_id(project, host));

	const char *image_ref = kjson_str(inst, "image_ref");
	if (image_ref && *image_ref)
		json_object_set_new(v, "image",
		                    json_pack("{s:s,s:o}", "id", image_ref, "links",
		                              link_list(r, "images", image_ref, false)));
	else
		json_object_set_new(v, "image", json_string(""));
	const char *flavor_id = str_or(inst, "flavor_id", "");
	const json_t *flavor = json_object_get(inst, "flavor");
	if (json_is_object(flavor) && kjson_str(flavor, "id"))
		flavor_id = kjson_str(flavor, "id");
	json_object_set_new(v, "flavor", json_pack("{s:s,s:o}", "id", flavor_id, "links",
	                                           link_list(r, "flavors", flavor_id, false)));

	json_object_set_new(v, "created", time_s(json_integer_value(
		json_object_get(inst, "created_at"))));
	json_object_set_new(v, "updated", time_s(json_integer_value(
		json_object_get(inst, "updated_at"))));

	bool building = vm && strcmp(vm, CMP_VM_BUILDING) == 0;
	json_object_set_new(v, "addresses",
	                    building ? json_object()
	                             : cmp_server_addresses(json_object_get(inst, "_ports"), true));
	json_object_set_new(v, "accessIPv4", json_string(str_or(inst, "access_ip_v4", "")));
	/* Nova keeps it as an IP address object: shown canonical (RFC 5952) */
	const char *v6 = str_or(inst, "access_ip_v6", "");
	struct in6_addr a6;
	char v6buf[INET6_ADDRSTRLEN];
	if (*v6 && inet_pton(AF_INET6, v6, &a6) == 1 &&
	    inet_ntop(AF_INET6, &a6, v6buf, sizeof(v6buf)))
		v6 = v6buf;
	json_object_set_new(v, "accessIPv6", json_string(v6));
	json_object_set_new(v, "OS-DCF:diskConfig", json_string("MANUAL"));

	if (strcmp(status, "ERROR") == 0 || strcmp(status, "DELETED") == 0) {
		const json_t *f = json_object_get(inst, "_fault");
		if (json_is_object(f)) {
			json_t *fv = json_object();
			int code = (int)json_integer_value(json_object_get(f, "code"));
			json_object_set_new(fv, "code", json_integer(code));
			json_object_set_new(fv, "created", time_s(json_integer_value(
				json_object_get(f, "created_at"))));
			json_object_set_new(fv, "message", json_string(str_or(f, "message", "")));
			const char *details = kjson_str(f, "details");
			if (details && *details && (cmp_is_admin(r) || code != 500))
				json_object_set_new(fv, "details", json_string(details));
			json_object_set_new(v, "fault", fv);
		}
	}
	static const char *const progress_statuses[] = {
		"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING",
	};
	for (size_t i = 0; i < ARRAY_SIZE(progress_statuses); i++)
		if (strcmp(status, progress_statuses[i]) == 0)
			json_object_set_new(v, "progress", json_integer(json_integer_value(
				json_object_get(inst, "progress"))));

	const char *az = kjson_str(inst, "availability_zone");
	if ((!az || !*az) && host && *host)
		az = cmp_conf_str("default_availability_zone", "nova");
	json_object_set_new(v, "OS-EXT-AZ:availability_zone", json_string(az ? az : ""));
	json_object_set_new(v, "config_drive", json_string(str_or(inst, "config_drive", "")));
	kjson_set_str_or_null(v, "key_name", kjson_str(inst, "key_name"));
	json_object_set_new(v, "OS-SRV-USG:launched_at",
	                    time_naive(json_object_get(inst, "launched_at")));
	json_object_set_new(v, "OS-SRV-USG:terminated_at",
	                    time_naive(json_object_get(inst, "terminated_at")));

	/* Nova shows the groups of the instance's ports; we show the requested
	 * ones once the instance has ports */
	const json_t *ports = json_object_get(inst, "_ports");
	if (json_array_size(ports) > 0) {
		json_t *sgs = json_array();
		size_t i;
		json_t *n;
		json_array_foreach(json_object_get(inst, "security_groups"), i, n)
			if (json_is_string(n))
				json_array_append_new(sgs, json_pack("{s:O}", "name", n));
		if (json_array_size(sgs))
			json_object_set_new(v, "security_groups", sgs);
		else
			json_decref(sgs);
	}

	if (ext_attrs_allowed(r, project)) {
		kjson_set_str_or_null(v, "OS-EXT-SRV-ATTR:host", host);
		json_object_set_new(v, "OS-EXT-SRV-ATTR:instance_name",
		                    json_string(kpool_printf(r->pool, "instance-%s", id)));
		kjson_set_str_or_null(v, "OS-EXT-SRV-ATTR:hypervisor_hostname",
		                      kjson_str(inst, "node"));
	}
	kjson_set_str_or_null(v, "OS-EXT-STS:task_state", task);
	json_object_set_new(v, "OS-EXT-STS:vm_state", json_string(vm ? vm : ""));
	json_object_set_new(v, "OS-EXT-STS:power_state", json_integer(json_integer_value(
		json_object_get(inst, "power_state"))));
	json_object_set_new(v, "os-extended-volumes:volumes_attached", json_array());
	if (r->version >= CMP_V(2, 9))
		json_object_set_new(v, "locked", json_boolean(json_integer_value(
			json_object_get(inst, "locked")) != 0));
	return v;
}

/* ------------------------------------------------------------------------ */
/* State updates */

/* Columns extra may set (they go into SQL text, so only these). */
static const char *const update_columns[] = {
	"host", "node", "launched_at", "terminated_at", "progress", "availability_zone",
	"image_ref", "image", "flavor_id", "flavor", "old_flavor", "new_flavor", "vcpus",
	"memory_mb", "root_gb", "ephemeral_gb", "swap", "locked", "locked_by", "name",
	"hostname", "description", "access_ip_v4", "access_ip_v6", "key_name", "key_data",
	"user_data", "config_drive", "requested_networks", "security_groups",
	"security_group_ids", "server_group_id", "deleted", "deleted_at",
	"vm_state", "task_state", "power_state",
};

static bool update_column_ok(const char *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(update_columns); i++)
		if (strcmp(update_columns[i], c) == 0)
			return true;
	return false;
}

static void bind_json(kstmt *st, int idx, json_t *v)
{
	if (!v || json_is_null(v))
		kstmt_bind_null(st, idx);
	else if (json_is_string(v))
		kstmt_bind_text(st, idx, json_string_value(v));
	else if (json_is_integer(v))
		kstmt_bind_int(st, idx, json_integer_value(v));
	else if (json_is_real(v))
		kstmt_bind_double(st, idx, json_real_value(v));
	else if (json_is_boolean(v))
		kstmt_bind_int(st, idx, json_is_true(v));
	else {
		_cleanup_free_ char *s = kjson_dump(v);
		kstmt_bind_text(st, idx, s);
	}
}

typedef struct sbuf {
	char *s;
	size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s)
{
	size_t l = strlen(s);
	if (b->n + l + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->n + l + 1)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns)
			abort();
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->n, s, l + 1);
	b->n += l;
}

int cmp_instance_update(const char *id, const char *vm_state, const char *task_state,
                        int power_state, const char *const *expect_task, json_t *extra)
{
	if (!id || !cmp_db)
		return -1;
	_cleanup_free_ char *sqlbuf = NULL;
	sbuf b = { 0 };
	sb_add(&b, "UPDATE cmp_instance SET updated_at = ?");
	if (vm_state)
		sb_add(&b, ", vm_state = ?");
	if (task_state)
		sb_add(&b, strcmp(task_state, CMP_TASK_NONE) == 0 ? ", task_state = NULL"
		                                                   : ", task_state = ?");
	if (power_state >= 0)
		sb_add(&b, ", power_state = ?");
	const char *key;
	json_t *val;
	if (json_is_object(extra)) {
		json_object_foreach(extra, key, val) {
			if (!update_column_ok(key)) {
				klog_error("compute", "cmp_instance_update: unknown column %s",
				           key);
				free(b.s);
				return -1;
			}
			sb_add(&b, ", ");
			sb_add(&b, key);
			sb_add(&b, " = ?");
		}
	}
	sb_add(&b, " WHERE id = ? AND deleted = 0");
	bool any = expect_task == NULL;
	size_t nexp = 0;
	bool want_null = false;
	if (expect_task) {
		for (size_t i = 0; expect_task[i]; i++) {
			if (strcmp(expect_task[i], CMP_TASK_ANY) == 0)
				any = true;
			else if (strcmp(expect_task[i], CMP_TASK_NONE) == 0)
				want_null = true;
			else
				nexp++;
		}
	}
	if (!any) {
		sb_add(&b, " AND (");
		sb_add(&b, want_null ? "task_state IS NULL" : "1 = 0");
		if (nexp) {
			sb_add(&b, " OR task_state IN (");
			for (size_t i = 0; i < nexp; i++)
				sb_add(&b, i ? ", ?" : "?");
			sb_add(&b, ")");
		}
		sb_add(&b, ")");
	}
	sqlbuf = b.s;
	_cleanup_stmt_ kstmt *st = kdb_prepare(cmp_db, sqlbuf);
	if (!st)
		return -1;
	int idx = 1;
	kstmt_bind_int(st, idx++, kutil_now_us());
	if (vm_state)
		kstmt_bind_text(st, idx++, vm_state);
	if (task_state && strcmp(task_state, CMP_TASK_NONE) != 0)
		kstmt_bind_text(st, idx++, task_state);
	if (power_state >= 0)
		kstmt_bind_int(st, idx++, power_state);
	if (json_is_object(extra))
		json_object_foreach(extra, key, val)
			bind_json(st, idx++, val);
	kstmt_bind_text(st, idx++, id);
	if (!any)
		for (size_t i = 0; expect_task[i]; i++)
			if (expect_task[i][0] != '\x01')
				kstmt_bind_text(st, idx++, expect_task[i]);
	int rc = kstmt_step(st);
	if (rc != KDB_DONE)
		return -1;
	return kstmt_changes(st) > 0 ? 1 : 0;
}

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list[i]; i++)
		if (s && strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static void invalid_state(kreq *r, const char *action, const char *id, const char *attr,
                          const char *state)
{
	kresp_error(r, 409, "Cannot '%s' instance %s while it is in %s %s", action, id, attr,
	            state ? state : "None");
}

bool cmp_instance_begin_task(kreq *r, const json_t *inst, const char *action,
                             const char *const *allowed_vm, const char *new_task)
{
	const char *id = str_or(inst, "id", "");
	if (json_integer_value(json_object_get(inst, "locked")) && !cmp_is_admin(r)) {
		kresp_error(r, 409, "Instance %s is locked", id);
		return false;
	}
	const char *vm = kjson_str(inst, "vm_state");
	if (allowed_vm && !in_list(vm, allowed_vm)) {
		invalid_state(r, action, id, "vm_state", vm);
		return false;
	}
	const char *task = kjson_str(inst, "task_state");
	if (task) {
		invalid_state(r, action, id, "task_state", task);
		return false;
	}
	if (!new_task)
		return true;
	int64_t changes = 0;
	int rc = kdb_run(cmp_db, &changes,
	                 "UPDATE cmp_instance SET task_state = ?, updated_at = ? "
	                 "WHERE id = ? AND task_state IS NULL AND vm_state = ? AND deleted = 0",
	                 "siss", new_task, kutil_now_us(), id, vm ? vm : "");
	if (rc != KDB_DONE) {
		kresp_error(r, 500, "Unexpected API Error. Please report this at "
		            "http://bugs.launchpad.net/nova/ and attach the Nova API log if "
		            "possible.");
		return false;
	}
	if (changes > 0)
		return true;
	/* someone else moved first: say what it is now */
	_cleanup_json_ json_t *now = cmp_instance_load(id, false);
	if (!now) {
		kresp_error(r, 404, "Instance %s could not be found.", id);
		return false;
	}
	const char *t = kjson_str(now, "task_state");
	if (t)
		invalid_state(r, action, id, "task_state", t);
	else
		invalid_state(r, action, id, "vm_state", kjson_str(now, "vm_state"));
	return false;
}

int cmp_instance_mark_deleted(const char *id)
{
	if (!id || !cmp_db)
		return -1;
	int64_t now = kutil_now_us();
	if (kdb_begin(cmp_db) != 0)
		return -1;
	int rc = kdb_run(cmp_db, NULL,
	                 "UPDATE cmp_instance SET vm_state = 'deleted', task_state = NULL, "
	                 "power_state = 0, deleted = 1, deleted_at = ?, terminated_at = ?, "
	                 "updated_at = ? WHERE id = ? AND deleted = 0",
	                 "iiis", now, now, now, id);
	if (rc == KDB_DONE)
		rc = kdb_run(cmp_db, NULL, "DELETE FROM cmp_allocation WHERE instance_id = ?",
		             "s", id);
	if (rc == KDB_DONE)
		rc = kdb_run(cmp_db, NULL, "DELETE FROM cmp_instance_port WHERE instance_id = ?",
		             "s", id);
	if (rc == KDB_DONE)
		rc = kdb_run(cmp_db, NULL,
		             "DELETE FROM cmp_server_group_member WHERE instance_id = ?", "s", id);
	if (rc != KDB_DONE) {
		kdb_rollback(cmp_db);
		return -1;
	}
	return kdb_commit(cmp_db) == 0 ? 0 : -1;
}

void cmp_instance_set_error(const char *id, int code, const char *message, const char *details)
{
	if (!id || !cmp_db)
		return;
	int64_t now = kutil_now_us();
	if (kdb_begin(cmp_db) != 0)
		return;
	int rc = kdb_run(cmp_db, NULL,
	                 "UPDATE cmp_instance SET vm_state = 'error', task_state = NULL, "
	                 "updated_at = ? WHERE id = ? AND deleted = 0", "is", now, id);
	if (rc == KDB_DONE)
		rc = kdb_run(cmp_db, NULL,
		             "INSERT INTO cmp_instance_fault (instance_id, code, message, details, "
		             "host, created_at) SELECT id, ?, ?, ?, host, ? FROM cmp_instance "
		             "WHERE id = ?",
		             "issis", (int64_t)(code ? code : 500), message ? message : "",
		             details, now, id);
	if (rc != KDB_DONE) {
		kdb_rollback(cmp_db);
		klog_error("compute", "instance %s: could not record the error", id);
		return;
	}
	kdb_commit(cmp_db);
}

/* ------------------------------------------------------------------------ */
/* Instance actions and events */

void cmp_action_start(kreq *r, const char *instance_id, const char *action)
{
	if (!instance_id || !cmp_db)
		return;
	int64_t now = kutil_now_us();
	int rc =
	    kdb_run(cmp_db, NULL,
	            "INSERT INTO cmp_instance_action (instance_id, action, request_id, "
	            "user_id, project_id, start_time, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
	            "sssssii", instance_id, action, r->request_id, r->ctx ? r->ctx->user_id : NULL,
	            r->ctx ? r->ctx->project_id : NULL, now, now);
	if (rc != KDB_DONE && rc != KDB_CONSTRAINT)
		klog_error("compute", "instance %s: could not record action %s", instance_id,
		           action);
}

static int64_t action_id(const char *instance_id, const char *request_id)
{
	_cleanup_json_ json_t *row = kdb_query_row(
		cmp_db, NULL, "SELECT id FROM cmp_instance_action "
		"WHERE instance_id = ? AND request_id = ?", "ss", instance_id,
		request_id ? request_id : "");
	return row ? json_integer_value(json_object_get(row, "id")) : 0;
}

void cmp_event_start(const char *instance_id, const char *request_id, const char *event)
{
	if (!instance_id || !event || !cmp_db)
		return;
	int64_t aid = action_id(instance_id, request_id);
	if (!aid)
		return;
	int64_t now = kutil_now_us();
	kdb_run(cmp_db, NULL,
	        "INSERT INTO cmp_instance_action_event (action_id, event, start_time, host) "
	        "VALUES (?, ?, ?, ?)", "isis", aid, event, now, cmp_host());
	kdb_run(cmp_db, NULL, "UPDATE cmp_instance_action SET updated_at = ? WHERE id = ?",
	        "ii", now, aid);
}

void cmp_event_finish(const char *instance_id, const char *request_id, const char *event,
                      bool ok, const char *traceback)
{
	if (!instance_id || !event || !cmp_db)
		return;
	int64_t aid = action_id(instance_id, request_id);
	if (!aid)
		return;
	int64_t now = kutil_now_us();
	const char *result = ok ? "Success" : "Error";
	int64_t changes = 0;
	kdb_run(cmp_db, &changes,
	        "UPDATE cmp_instance_action_event SET finish_time = ?, result = ?, traceback = ? "
	        "WHERE action_id = ? AND event = ? AND finish_time IS NULL",
	        "issis", now, result, traceback, aid, event);
	if (changes == 0)
		kdb_run(cmp_db, NULL,
		        "INSERT INTO cmp_instance_action_event (action_id, event, start_time, "
		        "finish_time, result, traceback, host) VALUES (?, ?, ?, ?, ?, ?, ?)",
		        "isiisss", aid, event, now, now, result, traceback, cmp_host());
	if (ok)
		kdb_run(cmp_db, NULL, "UPDATE cmp_instance_action SET updated_at = ? WHERE id = ?",
		        "ii", now, aid);
	else
		kdb_run(cmp_db, NULL, "UPDATE cmp_instance_action SET updated_at = ?, "
		        "message = 'Error' WHERE id = ?", "ii", now, aid);
}

/* ------------------------------------------------------------------------ */
/* Quotas */

static const struct { const char *name; long def; } quota_defaults[] = {
	{ "instances", 10 },
	{ "cores", 20 },
	{ "ram", 51200 },
	{ "metadata_items", 128 },
	{ "key_pairs", 100 },
	{ "server_groups", 10 },
	{ "server_group_members", 10 },
	{ "injected_files", 5 },
	{ "injected_file_content_bytes", 10240 },
	{ "injected_file_path_bytes", 255 },
	{ "fixed_ips", -1 },
	{ "floating_ips", -1 },
	{ "security_groups", -1 },
	{ "security_group_rules", -1 },
};

long cmp_quota_limit(const char *project_id, const char *resource)
{
	if (!resource)
		return -1;
	if (project_id && cmp_db) {
		_cleanup_json_ json_t *row = kdb_query_row(
			cmp_db, NULL, "SELECT hard_limit FROM cmp_quota "
			"WHERE project_id = ? AND resource = ?", "ss", project_id, resource);
		if (row)
			return (long)json_integer_value(json_object_get(row, "hard_limit"));
	}
	long def = -1;
	for (size_t i = 0; i < ARRAY_SIZE(quota_defaults); i++)
		if (strcmp(quota_defaults[i].name, resource) == 0)
			def = quota_defaults[i].def;
	/* Nova's [quota] option for injected_file_path_bytes is
	 * injected_file_path_length */
	if (strcmp(resource, "injected_file_path_bytes") == 0 && kumo_conf)
		def = kconf_get_int(kumo_conf, "quota", "injected_file_path_length", def);
	return kumo_conf ? kconf_get_int(kumo_conf, "quota", resource, def) : def;
}

static long count_query(const char *sql, const char *arg)
{
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, sql, "s", arg ? arg : "");
	if (!row)
		return 0;
	json_t *v = json_object_get(row, "n");
	return json_is_integer(v) ? (long)json_integer_value(v)
	       : json_is_real(v) ? (long)json_real_value(v) : 0;
}

long cmp_quota_usage(const char *project_id, const char *user_id, const char *resource)
{
	if (!resource || !cmp_db)
		return 0;
	if (strcmp(resource, "instances") == 0)
		return count_query("SELECT COUNT(*) AS n FROM cmp_instance "
		                   "WHERE project_id = ? AND deleted = 0", project_id);
	if (strcmp(resource, "cores") == 0)
		return count_query("SELECT COALESCE(SUM(vcpus), 0) AS n FROM cmp_instance "
		                   "WHERE project_id = ? AND deleted = 0", project_id);
	if (strcmp(resource, "ram") == 0)
		return count_query("SELECT COALESCE(SUM(memory_mb), 0) AS n FROM cmp_instance "
		                   "WHERE project_id = ? AND deleted = 0", project_id);
	if (strcmp(resource, "key_pairs") == 0)
		return count_query("SELECT COUNT(*) AS n FROM cmp_keypair WHERE user_id = ?",
		                   user_id);
	if (strcmp(resource, "server_groups") == 0)
		return count_query("SELECT COUNT(*) AS n FROM cmp_server_group "
		                   "WHERE project_id = ?", project_id);
	return 0;
}

bool cmp_quota_check_instances(kreq *r, const char *project_id, long instances, long cores,
                               long ram)
{
	/* Nova lists the resources over quota sorted: cores, instances, ram */
	const char *names[] = { "cores", "instances", "ram" };
	long req[] = { cores, instances, ram };
	char overs[64] = "", reqs[128] = "", useds[128] = "", alloweds[128] = "";
	bool over = false;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (req[i] <= 0)
			continue;
		long limit = cmp_quota_limit(project_id, names[i]);
		if (limit < 0)
			continue;
		long used = cmp_quota_usage(project_id, NULL, names[i]);
		if (used + req[i] <= limit)
			continue;
		const char *sep = over ? ", " : "";
		size_t n;
		n = strlen(overs);
		snprintf(overs + n, sizeof(overs) - n, "%s%s", sep, names[i]);
		n = strlen(reqs);
		snprintf(reqs + n, sizeof(reqs) - n, "%s%ld", sep, req[i]);
		n = strlen(useds);
		snprintf(useds + n, sizeof(useds) - n, "%s%ld", sep, used);
		n = strlen(alloweds);
		snprintf(alloweds + n, sizeof(alloweds) - n, "%s%ld", sep, limit);
		over = true;
	}
	if (!over)
		return true;
	kresp_error(r, 403, "Quota exceeded for %s: Requested %s, but already used %s of %s %s",
	            overs, reqs, useds, alloweds, overs);
	return false;
}
