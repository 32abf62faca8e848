/*
 * interfaces.c - two small per-server APIs Tempest and the clients use
 * around a server's network and first login:
 *
 *   GET /v2.1/servers/{id}/os-interface[/{port_id}]   the server's ports
 *       (Nova's interface attachments), read from the network info cache
 *       (cmp_instance_port) with the port's status from the network API;
 *   GET/DELETE /v2.1/servers/{id}/os-server-password  the password the
 *       guest posted to the metadata API (encrypted with the key pair's
 *       public key by the guest; Kumo only stores it).
 *
 * Attaching and detaching interfaces to a running server is not done yet.
 */
#include <stdio.h>
#include <string.h>

#include "core/auth.h"
#include "core/client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

static json_t *attachment(kreq *r, const json_t *row)
{
	const char *port_id = kjson_str(row, "port_id");
	json_t *port = NULL;
	const char *state = "ACTIVE";
	if (r->ctx && r->ctx->token) {
		long st = kclient_json("network", "GET",
		                       kpool_printf(r->pool, "/v2.0/ports/%s", port_id),
		                       r->ctx->token, NULL, NULL, &port);
		const char *s = st == 200 ? kjson_str(json_object_get(port, "port"), "status") : NULL;
		if (s)
			state = kpool_strdup(r->pool, s);
	}
	json_decref(port);
	json_t *fixed = json_array();
	_cleanup_json_ json_t *ips = NULL;
	const char *text = kjson_str(row, "ips");
	ips = text ? json_loads(text, 0, NULL) : NULL;
	size_t i;
	json_t *ip;
	json_array_foreach(ips, i, ip) {
		const char *type = kjson_str(ip, "type");
		if (type && strcmp(type, "fixed") != 0)
			continue;
		json_array_append_new(fixed, json_pack("{s:s?,s:s?}", "subnet_id",
		                                       kjson_str(ip, "subnet_id"), "ip_address",
		                                       kjson_str(ip, "addr")));
	}
	return json_pack("{s:s,s:o,s:s,s:s,s:s}", "port_state", state, "fixed_ips", fixed,
	                 "port_id", port_id, "net_id", kjson_str(row, "network_id"), "mac_addr",
	                 kjson_str(row, "mac"));
}

static json_t *server_for(kreq *r, const char *action)
{
	json_t *inst = cmp_instance_get(r, kreq_param(r, "server_id"));
	if (!inst || !cmp_enforce(r, action, inst))
		return NULL;
	return inst;
}

static void list_interfaces(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:os-attach-interfaces:list");
	if (!inst)
		return;
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT port_id, network_id, mac, ips "
	                                             "FROM cmp_instance_port WHERE instance_id = ? "
	                                             "ORDER BY ord", "s", kjson_str(inst, "id"));
	json_t *out = json_array(), *row;
	size_t i;
	json_array_foreach(rows, i, row)
		json_array_append_new(out, attachment(r, row));
	kresp_json(r, 200, json_pack("{s:o}", "interfaceAttachments", out));
}

static void show_interface(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:os-attach-interfaces:show");
	if (!inst)
		return;
	const char *port_id = kreq_param(r, "port_id");
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT port_id, network_id, mac, "
	                                           "ips FROM cmp_instance_port WHERE instance_id = ? "
	                                           "AND port_id = ?", "ss", kjson_str(inst, "id"),
	                                           port_id);
	if (!row) {
		kresp_error(r, 404, "Instance %s is not attached.", kjson_str(inst, "id"));
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "interfaceAttachment", attachment(r, row)));
}

static void get_password(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:os-server-password:show");
	if (!inst)
		return;
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT metadata_password FROM "
	                                           "cmp_instance WHERE id = ?", "s",
	                                           kjson_str(inst, "id"));
	const char *pw = kjson_str(row, "metadata_password");
	kresp_json(r, 200, json_pack("{s:s}", "password", pw ? pw : ""));
}

static void clear_password(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:os-server-password:clear");
	if (!inst)
		return;
	if (kdb_run(cmp_db, NULL, "UPDATE cmp_instance SET metadata_password = NULL WHERE id = ?",
	            "s", kjson_str(inst, "id")) != KDB_DONE) {
		kresp_error(r, 500, "The password could not be cleared.");
		return;
	}
	kresp_status(r, 204);
}

const kroute cmp_interface_routes[] = {
	{ "GET", "/v2.1/servers/{server_id}/os-interface", list_interfaces, 0 },
	{ "GET", "/v2.1/servers/{server_id}/os-interface/{port_id}", show_interface, 0 },
	{ "GET", "/v2.1/servers/{server_id}/os-server-password", get_password, 0 },
	{ "DELETE", "/v2.1/servers/{server_id}/os-server-password", clear_password, 0 },
};
const size_t cmp_interface_nroutes = ARRAY_SIZE(cmp_interface_routes);
