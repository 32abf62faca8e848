/*
 * ports.c - ports: /v2.0/ports with the binding, allowed-address-pairs,
 * port-security and security-group extensions, and the functions other parts
 * of the service use to make and change ports without a request (ports.h).
 *
 * A port is a row of net_port plus its fixed IPs (net_ip_allocation, owned
 * by ipam.c), its security groups (net_port_security_group), its allowed
 * address pairs and its tags.  Every write happens in one transaction, so a
 * failure at any step (an address already taken, an exhausted pool, a MAC
 * in use, an unknown security group) leaves nothing behind.
 *
 * Neutron's behaviour, kept here (db_base_plugin_v2, ml2 plugin, the
 * security group, port security and allowed address pairs mixins):
 * - MACs are fa:16:3e + three random bytes, unique per network (retried on
 *   the unique constraint); a requested MAC in use is 409 MacAddressInUse.
 * - Without fixed_ips a port gets Neutron's default addresses (ipam.c); an
 *   explicit [] makes an unaddressed port.
 * - status is DOWN until the L2 agent sees the device; binding:host_id makes
 *   the port bound: vif_type "bridge" with vif_details {"port_filter": true,
 *   "connectivity": "l2"} (the linuxbridge mechanism driver), or
 *   "binding_failed" for a vnic_type other than "normal"; unbound ports show
 *   "unbound" and {}.
 * - port_security_enabled comes from the network unless given.  With port
 *   security a port without security_groups gets the project's default
 *   group; without it, security groups (400
 *   PortSecurityAndIPRequiredForSecurityGroups) and address pairs (409
 *   AddressPairAndPortSecurityRequired) are refused, and disabling it on a
 *   port that still has groups is 409 PortSecurityPortHasSecurityGroup.
 *   Ports owned by "network:*" devices are trusted: they get no security
 *   groups.
 * - Visibility: admins see every port; a project sees its own ports and the
 *   ports on its networks.  A port on a network the caller cannot see is
 *   404 NetworkNotFound; non-admins never see binding:* details.
 * - Router and floating IP ports cannot be deleted through this API while
 *   their router or floating IP exists (409 ServicePortInUse); deleting a
 *   port disassociates the floating IPs on it.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"
#include "common.h"
#include "ipam.h"
#include "network.h"
#include "ports.h"

#define PORT_COLS \
	"p.id, p.project_id, p.network_id, p.name, p.description, p.mac_address," \
	" p.admin_state_up, p.status, p.device_id, p.device_owner, p.port_security_enabled," \
	" p.binding_host_id, p.binding_vif_type, p.binding_vnic_type, p.binding_profile," \
	" p.binding_vif_details, p.created_at, p.updated_at, p.revision_number"

enum {
	C_ID, C_PROJECT, C_NETWORK, C_NAME, C_DESC, C_MAC, C_ADMIN, C_STATUS, C_DEVICE_ID,
	C_DEVICE_OWNER, C_PORTSEC, C_HOST, C_VIF_TYPE, C_VNIC, C_PROFILE, C_VIF_DETAILS,
	C_CREATED, C_UPDATED, C_REVISION,
};

#define VIF_DETAILS_BRIDGE "{\"port_filter\": true, \"connectivity\": \"l2\"}"
#define MAX_ADDRESS_PAIRS 10
#define MAC_RETRIES 16

static const char *const vnic_types[] = {
	"normal", "direct", "macvtap", "baremetal", "direct-physical", "virtio-forwarder",
	"smart-nic", "vdpa", "accelerator-direct", "accelerator-direct-physical",
	"remote-managed", NULL,
};

static void internal_error(kreq *r)
{
	net_error(r, 500, "HTTPInternalServerError", "Request Failed: internal server error while "
	          "processing your request.");
}

static void port_not_found(kreq *r, const char *id)
{
	net_error(r, 404, "PortNotFound", "Port %s could not be found.", id);
}

static bool pairs_need_port_security(kreq *r)
{
	net_error(r, 409, "AddressPairAndPortSecurityRequired", "Port Security must be enabled in "
	          "order to have allowed address pairs on a port.");
	return false;
}

static bool groups_need_port_security(kreq *r)
{
	net_error(r, 400, "PortSecurityAndIPRequiredForSecurityGroups", "Port security must be "
	          "enabled and port must have an IP address in order to use security groups.");
	return false;
}

static bool duplicate_pair(kreq *r, const char *mac, const char *ip)
{
	net_error(r, 400, "DuplicateAddressPairInRequest", "Request contains duplicate address "
	          "pair: mac_address %s ip_address %s.", mac, ip);
	return false;
}

static bool is_trusted(const char *device_owner)
{
	return device_owner && strncmp(device_owner, "network:", 8) == 0;
}

static bool str_in(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Python's str() of a JSON value, for messages. */
static const char *pystr(kpool *pool, const json_t *v)
{
	if (!v || json_is_null(v))
		return "None";
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_true(v))
		return "True";
	if (json_is_false(v))
		return "False";
	if (json_is_integer(v))
		return kpool_printf(pool, "%lld", (long long)json_integer_value(v));
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	const char *out = kpool_strdup(pool, s ? s : "?");
	free(s);
	return out;
}

static const char *lower_dup(kpool *pool, const char *s)
{
	char *d = kpool_strdup(pool, s);
	for (char *c = d; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return d;
}

/* ------------------------------------------------------------------------ */
/* Views */

static json_t *col_str(kstmt *st, int col)
{
	const char *s = kstmt_text(st, col);
	return s ? json_string(s) : json_null();
}

/* A JSON text column as an object ({} when empty or unparsable). */
static json_t *col_obj(kstmt *st, int col)
{
	const char *s = kstmt_text(st, col);
	json_t *o = s && *s ? json_loads(s, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	return o;
}

/* The row of the statement as a port view without fixed_ips, groups,
 * pairs and standard attributes. */
static json_t *port_from_row(kstmt *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", col_str(st, C_ID));
	json_object_set_new(o, "project_id", col_str(st, C_PROJECT));
	json_object_set_new(o, "network_id", col_str(st, C_NETWORK));
	json_object_set_new(o, "name", col_str(st, C_NAME));
	json_object_set_new(o, "description", col_str(st, C_DESC));
	json_object_set_new(o, "mac_address", col_str(st, C_MAC));
	json_object_set_new(o, "admin_state_up", json_boolean(kstmt_int(st, C_ADMIN)));
	json_object_set_new(o, "status", col_str(st, C_STATUS));
	json_object_set_new(o, "device_id", col_str(st, C_DEVICE_ID));
	json_object_set_new(o, "device_owner", col_str(st, C_DEVICE_OWNER));
	json_object_set_new(o, "port_security_enabled", json_boolean(kstmt_int(st, C_PORTSEC)));
	json_object_set_new(o, "binding:host_id", col_str(st, C_HOST));
	json_object_set_new(o, "binding:vif_type", col_str(st, C_VIF_TYPE));
	json_object_set_new(o, "binding:vnic_type", col_str(st, C_VNIC));
	json_object_set_new(o, "binding:profile", col_obj(st, C_PROFILE));
	json_object_set_new(o, "binding:vif_details", col_obj(st, C_VIF_DETAILS));
	json_object_set_new(o, "created_at", json_integer(kstmt_int(st, C_CREATED)));
	json_object_set_new(o, "updated_at", json_integer(kstmt_int(st, C_UPDATED)));
	json_object_set_new(o, "revision_number", json_integer(kstmt_int(st, C_REVISION)));
	return o;
}

/* Run a port SELECT (PORT_COLS first) with string arguments; new array. */
static json_t *ports_select(const char *sql, const char *const *args, int nargs)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(net_db, sql);
	if (!st)
		return NULL;
	for (int i = 0; i < nargs; i++)
		kstmt_bind_text(st, i + 1, args[i]);
	json_t *out = json_array();
	int rc;
	while ((rc = kstmt_step(st)) == KDB_ROW)
		json_array_append_new(out, port_from_row(st));
	if (rc != KDB_DONE) {
		json_decref(out);
		return NULL;
	}
	return out;
}

/* port_id -> array of `col` values of a two-column link table. */
static json_t *links_by_port(const char *sql, const char *arg, bool pairs)
{
	json_t *by = json_object();
	_cleanup_json_ json_t *rows = arg ? kdb_query_json(net_db, sql, "s", arg)
	                                  : kdb_query_json(net_db, sql, "");
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *pid = kjson_str(row, "port_id");
		if (!pid)
			continue;
		json_t *arr = json_object_get(by, pid);
		if (!arr) {
			arr = json_array();
			json_object_set_new(by, pid, arr);
		}
		if (pairs)
			json_array_append_new(arr, json_pack("{s:O,s:O}", "ip_address",
			                      json_object_get(row, "ip_address"), "mac_address",
			                      json_object_get(row, "mac_address")));
		else
			json_array_append(arr, json_object_get(row, "security_group_id"));
	}
	return by;
}

/* port_id -> [{opt_name, opt_value, ip_version}] */
static json_t *opts_by_port(const char *sql, const char *arg)
{
	json_t *by = json_object();
	_cleanup_json_ json_t *rows = arg ? kdb_query_json(net_db, sql, "s", arg)
	                                  : kdb_query_json(net_db, sql, "");
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *pid = kjson_str(row, "port_id");
		if (!pid)
			continue;
		json_t *arr = json_object_get(by, pid);
		if (!arr) {
			arr = json_array();
			json_object_set_new(by, pid, arr);
		}
		json_object_del(row, "port_id");
		json_array_append(arr, row);
	}
	return by;
}

static void attach(json_t *o, const char *key, json_t *by)
{
	json_t *arr = json_object_get(by, kjson_str(o, "id"));
	if (arr)
		json_object_set(o, key, arr);
	else
		json_object_set_new(o, key, json_array());
}

/* Complete views of port rows (in place): fixed IPs, groups, address
 * pairs, standard attributes and tags.  network_id narrows the side
 * queries when every port is on that network. */
static void ports_finish(json_t *ports, const char *network_id)
{
	size_t n = json_array_size(ports);
	if (n == 0)
		return;
	json_t *ips, *sgs, *pairs, *opts;
	if (n == 1) {
		const char *id = kjson_str(json_array_get(ports, 0), "id");
		ips = json_object();
		json_object_set_new(ips, id, net_ipam_port_ips(id));
		sgs = links_by_port("SELECT port_id, security_group_id FROM net_port_security_group"
		                    " WHERE port_id = ?", id, false);
		pairs = links_by_port("SELECT port_id, ip_address, mac_address FROM"
		                      " net_allowed_address_pair WHERE port_id = ?", id, true);
		opts = opts_by_port("SELECT port_id, opt_name, opt_value, ip_version FROM"
		                    " net_extra_dhcp_opt WHERE port_id = ?", id);
	} else {
		ips = net_ipam_ips_by_port(network_id);
		if (network_id) {
			const char *nid = network_id;
			sgs = links_by_port("SELECT b.port_id, b.security_group_id FROM"
			                    " net_port_security_group b JOIN net_port p ON"
			                    " p.id = b.port_id WHERE p.network_id = ?", nid, false);
			pairs = links_by_port("SELECT a.port_id, a.ip_address, a.mac_address"
			                      " FROM net_allowed_address_pair a JOIN net_port p"
			                      " ON p.id = a.port_id WHERE p.network_id = ?", nid,
			                      true);
			opts = opts_by_port("SELECT o.port_id, o.opt_name, o.opt_value,"
			                    " o.ip_version FROM net_extra_dhcp_opt o JOIN"
			                    " net_port p ON p.id = o.port_id"
			                    " WHERE p.network_id = ?", nid);
		} else {
			sgs = links_by_port("SELECT port_id, security_group_id FROM"
			                    " net_port_security_group", NULL, false);
			pairs = links_by_port("SELECT port_id, ip_address, mac_address FROM"
			                      " net_allowed_address_pair", NULL, true);
			opts = opts_by_port("SELECT port_id, opt_name, opt_value, ip_version FROM"
			                    " net_extra_dhcp_opt", NULL);
		}
	}
	if (!ips)
		ips = json_object();
	size_t i;
	json_t *o;
	json_array_foreach(ports, i, o) {
		attach(o, "fixed_ips", ips);
		attach(o, "security_groups", sgs);
		attach(o, "allowed_address_pairs", pairs);
		attach(o, "extra_dhcp_opts", opts);
	}
	json_decref(ips);
	json_decref(sgs);
	json_decref(pairs);
	json_decref(opts);
	net_std_view_list(ports, "ports");
}

/* The full view of one port (new reference), or NULL when it is missing. */
static json_t *port_view(const char *id)
{
	const char *args[] = { id };
	json_t *rows = ports_select("SELECT " PORT_COLS " FROM net_port p WHERE p.id = ?", args, 1);
	if (!rows || json_array_size(rows) == 0) {
		json_decref(rows);
		return NULL;
	}
	ports_finish(rows, NULL);
	json_t *p = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return p;
}

/* Whether r may see the port (own port, port on its network, admin). */
static bool port_visible(kreq *r, const json_t *port, bool admin)
{
	if (admin)
		return true;
	const char *me = net_project(r);
	const char *owner = kjson_str(port, "project_id");
	if (*me && owner && strcmp(owner, me) == 0)
		return true;
	bool found;
	_cleanup_json_ json_t *net = kdb_query_row(net_db, &found, "SELECT project_id FROM"
	                                           " net_network WHERE id = ?", "s",
	                                           kjson_str(port, "network_id"));
	const char *nowner = net ? kjson_str(net, "project_id") : NULL;
	return *me && nowner && strcmp(nowner, me) == 0;
}

/* The view of a port r may see (new reference), or NULL after answering
 * 404 PortNotFound. */
static json_t *port_lookup(kreq *r, const char *id)
{
	json_t *p = port_view(id);
	if (!p || !port_visible(r, p, net_is_admin(r))) {
		json_decref(p);
		port_not_found(r, id);
		return NULL;
	}
	return p;
}

/* ------------------------------------------------------------------------ */
/* Creating ports */

typedef struct port_spec {
	const char *project_id;
	const char *network_id;
	const char *name;
	const char *description;
	const char *mac;                /* NULL = generate */
	const json_t *fixed_ips;        /* NULL = Neutron's default */
	const char *device_id;
	const char *device_owner;
	bool admin_state_up;
	bool port_security;
	const json_t *security_groups;  /* checked ids (may be empty) */
	const json_t *address_pairs;    /* checked pairs or NULL */
	const json_t *dhcp_opts;        /* checked extra_dhcp_opts or NULL */
	const char *host;               /* "" = unbound */
	const char *vnic_type;
	const json_t *profile;          /* NULL = {} */
} port_spec;

static const char *vif_type_for(const char *host, const char *vnic)
{
	if (!host || !*host)
		return "unbound";
	return vnic && strcmp(vnic, "normal") != 0 ? "binding_failed" : "bridge";
}

static const char *vif_details_for(const char *vif_type)
{
	return strcmp(vif_type, "bridge") == 0 ? VIF_DETAILS_BRIDGE : "{}";
}

static void random_mac(char out[18])
{
	unsigned char b[3];
	kutil_random(b, sizeof(b));
	snprintf(out, 18, "fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2]);
}

static bool mac_in_use(const char *network_id, const char *mac)
{
	bool found = false;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT id FROM net_port WHERE"
	                                           " network_id = ? AND mac_address = ?", "ss",
	                                           network_id, mac);
	return row != NULL || found;
}

static void mac_in_use_error(kreq *r, const char *network_id, const char *mac)
{
	net_error(r, 409, "MacAddressInUse", "Unable to complete operation for network %s. The mac "
	          "address %s is in use.", network_id, mac);
}

/* Insert the address pairs of a port; false after answering. */
static bool pairs_insert(kreq *r, const char *port_id, const char *port_mac,
                         const json_t *pairs)
{
	size_t i;
	json_t *p;
	json_array_foreach(pairs, i, p) {
		const char *ip = kjson_str(p, "ip_address");
		const char *mac = kjson_str(p, "mac_address");
		if (!mac)
			mac = port_mac;
		int rc = kdb_run(net_db, NULL, "INSERT INTO net_allowed_address_pair (port_id,"
		                 " ip_address, mac_address) VALUES (?, ?, ?)", "sss", port_id, ip,
		                 mac);
		if (rc == KDB_CONSTRAINT)
			return duplicate_pair(r, mac, ip);
		if (rc != KDB_DONE) {
			internal_error(r);
			return false;
		}
	}
	return true;
}

/* Neutron's _is_valid_opt_value: options with a value (router and
 * classless-static-route may be blank). */
static bool opt_value_stored(const char *name, const json_t *v)
{
	if (!json_is_string(v))
		return false;
	if (strcmp(name, "router") == 0 || strcmp(name, "classless-static-route") == 0)
		return true;
	return json_string_length(v) > 0;
}

/* Insert or replace extra DHCP options; a null value deletes one (update). */
static bool opts_write(kreq *r, const char *port_id, const json_t *opts)
{
	size_t i;
	json_t *o;
	json_array_foreach(opts, i, o) {
		const char *name = kjson_str(o, "opt_name");
		json_t *v = json_object_get(o, "opt_value");
		int64_t ver = json_integer_value(json_object_get(o, "ip_version"));
		if (json_is_null(v)) {
			if (kdb_run(net_db, NULL, "DELETE FROM net_extra_dhcp_opt WHERE"
			            " port_id = ? AND opt_name = ? AND ip_version = ?", "ssi",
			            port_id, name, ver) != KDB_DONE) {
				internal_error(r);
				return false;
			}
			continue;
		}
		if (!opt_value_stored(name, v))
			continue;
		int64_t changes = 0;
		if (kdb_run(net_db, &changes, "UPDATE net_extra_dhcp_opt SET opt_value = ? WHERE"
		            " port_id = ? AND opt_name = ? AND ip_version = ?", "sssi",
		            json_string_value(v), port_id, name, ver) != KDB_DONE ||
		    (changes == 0 &&
		     kdb_run(net_db, NULL, "INSERT INTO net_extra_dhcp_opt (port_id, opt_name,"
		             " opt_value, ip_version) VALUES (?, ?, ?, ?)", "sssi", port_id, name,
		             json_string_value(v), ver) != KDB_DONE)) {
			internal_error(r);
			return false;
		}
	}
	return true;
}

static bool groups_insert(kreq *r, const char *port_id, const json_t *groups)
{
	size_t i;
	json_t *g;
	json_array_foreach(groups, i, g) {
		int rc = kdb_run(net_db, NULL, "INSERT INTO net_port_security_group (port_id,"
		                 " security_group_id) VALUES (?, ?)", "ss", port_id,
		                 json_string_value(g));
		if (rc != KDB_DONE && rc != KDB_CONSTRAINT) {
			internal_error(r);
			return false;
		}
	}
	return true;
}

/* Insert a port and everything it owns, inside the caller's transaction;
 * false after answering (the caller rolls back). */
static bool port_insert(kreq *r, const port_spec *s, char id[37])
{
	net_new_id(id);
	const char *host = s->host ? s->host : "";
	const char *vnic = s->vnic_type ? s->vnic_type : "normal";
	const char *vif = vif_type_for(host, vnic);
	char *profile = s->profile && json_object_size(s->profile)
	                ? json_dumps(s->profile, JSON_COMPACT) : NULL;
	int64_t now = kutil_now_us();
	char mac[18];
	int rc = KDB_CONSTRAINT;
	for (int attempt = 0; attempt < (s->mac ? 1 : MAC_RETRIES) && rc == KDB_CONSTRAINT;
	     attempt++) {
		if (s->mac)
			snprintf(mac, sizeof(mac), "%s", s->mac);
		else
			random_mac(mac);
		if (s->mac && mac_in_use(s->network_id, mac)) {
			free(profile);
			mac_in_use_error(r, s->network_id, mac);
			return false;
		}
		rc = kdb_run(net_db, NULL, "INSERT INTO net_port (id, project_id, network_id,"
		             " name, description, mac_address, admin_state_up, status, device_id,"
		             " device_owner, port_security_enabled, binding_host_id,"
		             " binding_vif_type, binding_vnic_type, binding_profile,"
		             " binding_vif_details, created_at, updated_at, revision_number)"
		             " VALUES (?, ?, ?, ?, ?, ?, ?, 'DOWN', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		             " 1)",
		             "ssssssbssbsssssii", id, s->project_id,
		             s->network_id, s->name ? s->name : "",
		             s->description ? s->description : "", mac, s->admin_state_up,
		             s->device_id ? s->device_id : "",
		             s->device_owner ? s->device_owner : "", s->port_security, host, vif,
		             vnic, profile, vif_details_for(vif), now, now);
	}
	free(profile);
	if (rc == KDB_CONSTRAINT) {
		if (s->mac)
			mac_in_use_error(r, s->network_id, mac);
		else
			net_error(r, 503, "NetworkMacAddressGenerationFailure",
			          "Unable to generate unique mac on network %s.", s->network_id);
		return false;
	}
	if (rc != KDB_DONE) {
		internal_error(r);
		return false;
	}
	json_t *ips = net_ipam_allocate(r, s->network_id, id, mac, s->fixed_ips, s->device_owner);
	if (!ips)
		return false;
	json_decref(ips);
	if (s->address_pairs && !pairs_insert(r, id, mac, s->address_pairs))
		return false;
	if (s->security_groups && !groups_insert(r, id, s->security_groups))
		return false;
	if (s->dhcp_opts && !opts_write(r, id, s->dhcp_opts))
		return false;
	return true;
}

/* ---- request validation ---- */

static const net_attr port_attrs[] = {
	{ .name = "name", .type = NET_A_STRING, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "description", .type = NET_A_STRING, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "network_id", .type = NET_A_UUID, .flags = NET_A_POST | NET_A_REQUIRED },
	{ .name = "admin_state_up", .type = NET_A_BOOL, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "mac_address", .type = NET_A_MAC, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "fixed_ips", .type = NET_A_ANY, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "device_id", .type = NET_A_STRING, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "device_owner", .type = NET_A_STRING, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "security_groups", .type = NET_A_ANY,
	  .flags = NET_A_POST | NET_A_PUT | NET_A_NULL },
	{ .name = "allowed_address_pairs", .type = NET_A_ANY,
	  .flags = NET_A_POST | NET_A_PUT | NET_A_NULL },
	{ .name = "port_security_enabled", .type = NET_A_BOOL, .flags = NET_A_POST | NET_A_PUT },
	{ .name = "binding:host_id", .type = NET_A_STRING,
	  .flags = NET_A_POST | NET_A_PUT | NET_A_NULL },
	{ .name = "binding:profile", .type = NET_A_DICT,
	  .flags = NET_A_POST | NET_A_PUT | NET_A_NULL },
	{ .name = "binding:vnic_type", .type = NET_A_ENUM, .flags = NET_A_POST | NET_A_PUT,
	  .choices = vnic_types },
	{ .name = "extra_dhcp_opts", .type = NET_A_ANY,
	  .flags = NET_A_POST | NET_A_PUT | NET_A_NULL },
	{ .name = "binding:vif_type", .type = NET_A_ANY, .flags = 0 },
	{ .name = "binding:vif_details", .type = NET_A_ANY, .flags = 0 },
	{ .name = "status", .type = NET_A_ANY, .flags = 0 },
	{ .name = "id", .type = NET_A_ANY, .flags = 0 },
	{ .name = "created_at", .type = NET_A_ANY, .flags = 0 },
	{ .name = "updated_at", .type = NET_A_ANY, .flags = 0 },
	{ .name = "revision_number", .type = NET_A_ANY, .flags = 0 },
};

/* MACs in the other forms netaddr accepts ("fa-16-3e-12-34-56",
 * "fa16.3e12.3456", "fa163e123456") become "fa:16:3e:12:34:56" before
 * validation, as Neutron's convert_to_sanitized_mac_address does. */
static void sanitize_mac(kreq *r, json_t *obj)
{
	const char *s = kjson_str(obj, "mac_address");
	if (!s)
		return;
	char hex[13];
	size_t n = 0, len = strlen(s);
	if (len == 17 && (s[2] == '-' || s[2] == ':')) {
		for (size_t i = 0; i < len; i++) {
			if (i % 3 == 2) {
				if (s[i] != s[2])
					return;
			} else if (isxdigit((unsigned char)s[i])) {
				hex[n++] = s[i];
			} else {
				return;
			}
		}
	} else if (len == 14 && s[4] == '.' && s[9] == '.') {
		for (size_t i = 0; i < len; i++) {
			if (i == 4 || i == 9)
				continue;
			if (!isxdigit((unsigned char)s[i]))
				return;
			hex[n++] = s[i];
		}
	} else if (len == 12) {
		for (size_t i = 0; i < len; i++) {
			if (!isxdigit((unsigned char)s[i]))
				return;
			hex[n++] = s[i];
		}
	} else {
		return;
	}
	if (n != 12)
		return;
	char out[18];
	for (int i = 0; i < 6; i++) {
		out[i * 3] = (char)tolower((unsigned char)hex[i * 2]);
		out[i * 3 + 1] = (char)tolower((unsigned char)hex[i * 2 + 1]);
		out[i * 3 + 2] = i < 5 ? ':' : 0;
	}
	json_object_set_new(obj, "mac_address", json_string(kpool_strdup(r->pool, out)));
}

/* validate_fixed_ips of neutron-lib (the attribute level); false after
 * answering. */
static bool check_fixed_ips(kreq *r, const json_t *v)
{
	if (!json_is_array(v))
		return net_bad_input(r, "fixed_ips", "Invalid data format for fixed IP: '%s'",
		                     pystr(r->pool, v));
	json_t *seen = kpool_json(r->pool, json_array());
	size_t i;
	json_t *f;
	json_array_foreach(v, i, f) {
		if (!json_is_object(f))
			return net_bad_input(r, "fixed_ips", "Invalid data format for fixed IP: "
			                     "'%s'", pystr(r->pool, f));
		json_t *ip = json_object_get(f, "ip_address");
		if (ip) {
			const char *s = json_string_value(ip);
			net_ip parsed;
			size_t j;
			json_t *prev;
			json_array_foreach(seen, j, prev)
				if (json_equal(prev, ip))
					return net_bad_input(r, "fixed_ips",
					                     "Duplicate IP address '%s'",
					                     pystr(r->pool, ip));
			if (!s || !net_ip_parse(s, &parsed))
				return net_bad_input(r, "fixed_ips",
				                     "'%s' is not a valid IP address",
				                     pystr(r->pool, ip));
			json_array_append(seen, ip);
		}
		json_t *sn = json_object_get(f, "subnet_id");
		if (sn && (!json_is_string(sn) || net_check_uuid(json_string_value(sn))))
			return net_bad_input(r, "fixed_ips", "'%s' is not a valid UUID",
			                     pystr(r->pool, sn));
	}
	return true;
}

/* security_groups: a list of distinct UUIDs (null = []); returns the list
 * (pool) or NULL after answering. */
static json_t *check_groups(kreq *r, json_t *v)
{
	if (!v || json_is_null(v))
		return kpool_json(r->pool, json_array());
	if (!json_is_array(v)) {
		net_bad_input(r, "security_groups", "'%s' is not a list", pystr(r->pool, v));
		return NULL;
	}
	size_t i, j;
	json_t *e, *f;
	const char *dups = NULL;
	json_array_foreach(v, i, e) {
		for (j = 0; j < i; j++) {
			f = json_array_get(v, j);
			if (json_equal(e, f)) {
				const char *d = pystr(r->pool, e);
				dups = dups ? kpool_printf(r->pool, "%s, %s", dups, d) : d;
				break;
			}
		}
	}
	if (dups) {
		net_bad_input(r, "security_groups", "Duplicate items in the list: '%s'", dups);
		return NULL;
	}
	json_array_foreach(v, i, e)
		if (!json_is_string(e) || net_check_uuid(json_string_value(e))) {
			net_bad_input(r, "security_groups", "'%s' is not a valid UUID",
			              pystr(r->pool, e));
			return NULL;
		}
	return v;
}

static bool multicast_ip(const net_ip *ip, int plen)
{
	if (ip->version == 4) {
		uint32_t a = (uint32_t)ip->v;
		if (plen == 0 && a == 0)
			return false;
		int p = plen < 4 ? plen : 4;
		uint32_t mask = p ? 0xffffffffu << (32 - p) : 0;
		return (a & mask) == (0xe0000000u & mask);
	}
	int p = plen < 8 ? plen : 8;
	unsigned top = (unsigned)(ip->v >> 120);
	unsigned mask = p ? (0xffu << (8 - p)) & 0xffu : 0;
	return (top & mask) == (0xffu & mask);
}

/* The allowed-address-pairs validator of neutron-lib; returns the list (null
 * = []) or NULL after answering. */
static json_t *check_pairs(kreq *r, json_t *v)
{
	if (!v || json_is_null(v))
		return kpool_json(r->pool, json_array());
	if (!json_is_array(v)) {
		net_error(r, 400, NULL, "Allowed address pairs must be a list.");
		return NULL;
	}
	if (json_array_size(v) > MAX_ADDRESS_PAIRS) {
		net_error(r, 400, "AllowedAddressPairExhausted", "The number of allowed address "
		          "pair exceeds the maximum %d.", MAX_ADDRESS_PAIRS);
		return NULL;
	}
	size_t i, j;
	json_t *p;
	json_array_foreach(v, i, p) {
		if (!json_is_object(p)) {
			net_bad_input(r, "allowed_address_pairs", "'%s' is not a dictionary",
			              pystr(r->pool, p));
			return NULL;
		}
		json_t *mac = json_object_get(p, "mac_address");
		if (mac && (!json_is_string(mac) || net_check_mac(json_string_value(mac)))) {
			/* multicast MACs have their own message */
			const char *ms = json_string_value(mac);
			unsigned b0;
			if (ms && strlen(ms) == 17 && sscanf(ms, "%2x:", &b0) == 1 && (b0 & 1) &&
			    strcasecmp(ms, "ff:ff:ff:ff:ff:ff") != 0)
				net_error(r, 400, NULL, "MAC address %s is a multicast address, "
				          "which is not supported.", ms);
			else
				net_error(r, 400, NULL, "'%s' is not a valid MAC address",
				          pystr(r->pool, mac));
			return NULL;
		}
		json_t *ip = json_object_get(p, "ip_address");
		if (!ip) {
			net_error(r, 400, "AllowedAddressPairsMissingIP",
			          "AllowedAddressPair must contain ip_address");
			return NULL;
		}
		for (j = 0; j < i; j++) {
			json_t *q = json_array_get(v, j);
			if (json_equal(json_object_get(q, "ip_address"), ip) &&
			    json_equal(json_object_get(q, "mac_address") ? json_object_get(q,
			               "mac_address") : json_null(), mac ? mac : json_null())) {
				duplicate_pair(r, pystr(r->pool, mac), pystr(r->pool, ip));
				return NULL;
			}
		}
		const char *key;
		json_t *val;
		const char *extra = NULL;
		json_object_foreach(p, key, val)
			if (strcmp(key, "mac_address") != 0 && strcmp(key, "ip_address") != 0)
				extra = extra ? kpool_printf(r->pool, "%s, %s", extra, key) : key;
		if (extra) {
			net_error(r, 400, NULL, "Unrecognized attribute(s) '%s'", extra);
			return NULL;
		}
		const char *s = json_string_value(ip);
		if (s && strchr(s, '/')) {
			net_cidr c;
			bool host_bits;
			const char *slash = strchr(s, '/');
			net_ip a;
			if (!net_cidr_parse(s, &c, &host_bits) ||
			    !net_ip_parse(kpool_strndup(r->pool, s, (size_t)(slash - s)), &a)) {
				net_error(r, 400, NULL, "'%s' is not a valid IP subnet", s);
				return NULL;
			}
			if (multicast_ip(&c.net, c.prefixlen)) {
				char buf[64];
				net_error(r, 400, NULL, "Subnet %s overlaps with multicast range "
				          "%s, which is not supported.", net_cidr_format(&c, buf),
				          c.net.version == 4 ? "224.0.0.0/4" : "ff00::/8");
				return NULL;
			}
		} else {
			net_ip a;
			if (!s || !net_ip_parse(s, &a)) {
				net_error(r, 400, NULL, "'%s' is not a valid IP address",
				          pystr(r->pool, ip));
				return NULL;
			}
			if (multicast_ip(&a, a.version == 4 ? 32 : 128)) {
				net_error(r, 400, NULL, "IP %s is a multicast address, which is "
				          "not supported.", s);
				return NULL;
			}
		}
	}
	return v;
}

/* extra_dhcp_opts (neutron-lib's list_of_any_key_specs_or_none with
 * EXTRA_DHCP_OPT_KEY_SPECS): a list of {opt_name, opt_value[, ip_version]};
 * ip_version becomes an integer (4 by default).  Returns the list (null = [])
 * or NULL after answering 400. */
static json_t *check_dhcp_opts(kreq *r, json_t *v)
{
	if (!v || json_is_null(v))
		return kpool_json(r->pool, json_array());
	if (!json_is_array(v)) {
		net_bad_input(r, "extra_dhcp_opts", "'%s' is not a list", pystr(r->pool, v));
		return NULL;
	}
	size_t i;
	json_t *o;
	json_array_foreach(v, i, o) {
		const char *why = NULL;
		if (!json_is_object(o)) {
			why = kpool_printf(r->pool, "'%s' is not a dictionary", pystr(r->pool, o));
		} else {
			json_t *name = json_object_get(o, "opt_name");
			json_t *val = json_object_get(o, "opt_value");
			json_t *ver = json_object_get(o, "ip_version");
			const char *key;
			json_t *x;
			const char *extra = NULL;
			json_object_foreach(o, key, x)
				if (strcmp(key, "opt_name") && strcmp(key, "opt_value") &&
				    strcmp(key, "ip_version"))
					extra = extra ? kpool_printf(r->pool, "%s, %s", extra, key)
					              : key;
			const char *n = json_string_value(name);
			bool blank_ok = n && (strcmp(n, "router") == 0 ||
			                      strcmp(n, "classless-static-route") == 0);
			long long ipv = 4;
			if (!name || !json_object_get(o, "opt_value"))
				why = "Validation of dictionary's keys failed. Expected keys: "
				      "{'opt_name', 'opt_value'}";
			else if (extra)
				why = kpool_printf(r->pool, "Unexpected keys supplied: %s", extra);
			else if (!n || !*n || strspn(n, " \t") == strlen(n) || strlen(n) > 64 ||
			         strchr(n, '\n'))
				why = kpool_printf(r->pool, "'%s' is not a valid option name",
				                   pystr(r->pool, name));
			else if (!json_is_null(val) &&
			         (!json_is_string(val) || json_string_length(val) > 255 ||
			          strchr(json_string_value(val), '\n') ||
			          (!blank_ok && json_string_length(val) == 0)))
				why = kpool_printf(r->pool, "'%s' is not a valid option value",
				                   pystr(r->pool, val));
			else if (ver && !json_is_null(ver) &&
			         !(json_is_integer(ver) && (ipv = json_integer_value(ver), true)) &&
			         !(json_is_string(ver) &&
			           sscanf(json_string_value(ver), "%lld", &ipv) == 1))
				why = kpool_printf(r->pool, "'%s' is not an integer",
				                   pystr(r->pool, ver));
			else if (ipv != 4 && ipv != 6)
				why = kpool_printf(r->pool, "'%lld' is not in [4, 6]", ipv);
			if (!why)
				json_object_set_new(o, "ip_version", json_integer(ipv));
		}
		if (why) {
			net_error(r, 400, "InvalidInput", "Invalid input for operation: %s.", why);
			return NULL;
		}
	}
	return v;
}

/* DeviceIDNotOwnedByProject: a non-admin may not attach a router interface
 * port to another project's router. */
static bool check_router_device(kreq *r, const char *owner, const char *device_id,
                                const char *project)
{
	static const char *const router_intf[] = {
		"network:router_interface", "network:ha_router_replicated_interface",
		"network:router_interface_distributed", NULL,
	};
	if (!str_in(owner, router_intf) || !device_id || !*device_id || net_is_admin(r))
		return true;
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT project_id FROM"
	                                           " net_router WHERE id = ?", "s", device_id);
	const char *rp = row ? kjson_str(row, "project_id") : NULL;
	if (rp && strcmp(rp, project) != 0) {
		net_error(r, 409, "DeviceIDNotOwnedByTenant", "The following device_id %s is not "
		          "owned by your project or matches another project router.", device_id);
		return false;
	}
	return true;
}

/* Everything POST /v2.0/ports checks before writing, for one port; fills s
 * (pool memory).  False after answering. */
static bool port_prepare(kreq *r, json_t *obj, port_spec *s)
{
	memset(s, 0, sizeof(*s));
	sanitize_mac(r, obj);
	if (!net_validate(r, obj, port_attrs, ARRAY_SIZE(port_attrs), true))
		return false;
	json_t *fixed = json_object_get(obj, "fixed_ips");
	if (fixed && !check_fixed_ips(r, fixed))
		return false;
	json_t *groups = NULL, *pairs = NULL;
	json_t *gv = json_object_get(obj, "security_groups");
	if (gv && !(groups = check_groups(r, gv)))
		return false;
	json_t *pv = json_object_get(obj, "allowed_address_pairs");
	if (pv && !(pairs = check_pairs(r, pv)))
		return false;
	json_t *dv = json_object_get(obj, "extra_dhcp_opts");
	if (dv && !(s->dhcp_opts = check_dhcp_opts(r, dv)))
		return false;
	if (!(s->project_id = net_body_project(r, obj)))
		return false;
	s->network_id = kjson_str(obj, "network_id");
	json_t *net = net_network_lookup(r, s->network_id);
	if (!net)
		return false;
	kpool_json(r->pool, net);
	if (!net_enforce_attrs(r, "create_port", obj, obj))
		return false;
	s->name = kjson_str(obj, "name");
	s->description = kjson_str(obj, "description");
	s->device_id = kjson_str(obj, "device_id");
	s->device_owner = kjson_str(obj, "device_owner");
	if (!check_router_device(r, s->device_owner, s->device_id, s->project_id))
		return false;
	const char *mac = kjson_str(obj, "mac_address");
	s->mac = mac ? lower_dup(r->pool, mac) : NULL;
	s->fixed_ips = fixed;
	json_t *asu = json_object_get(obj, "admin_state_up");
	s->admin_state_up = asu ? json_is_true(asu) : true;
	json_t *ps = json_object_get(obj, "port_security_enabled");
	json_t *nps = json_object_get(net, "port_security_enabled");
	s->port_security = ps ? json_is_true(ps) : (nps ? !json_is_false(nps) : true);
	const char *host = kjson_str(obj, "binding:host_id");
	s->host = host ? host : "";
	s->vnic_type = kjson_str(obj, "binding:vnic_type");
	json_t *prof = json_object_get(obj, "binding:profile");
	s->profile = json_is_object(prof) ? prof : NULL;

	/* port security (ml2's _portsec_ext_port_create_processing) */
	if (pairs && json_array_size(pairs)) {
		if (!s->port_security) {
			pairs_need_port_security(r);
			return false;
		}
		s->address_pairs = pairs;
	}
	if (!s->port_security && groups && json_array_size(groups)) {
		groups_need_port_security(r);
		return false;
	}
	if (is_trusted(s->device_owner)) {
		s->security_groups = NULL;
	} else if (gv) {
		if (!net_sg_check_port_groups(r, s->project_id, groups))
			return false;
		s->security_groups = groups;
	} else if (s->port_security) {
		const char *def = NULL;
		if (!net_sg_ensure_default(r, s->project_id, &def))
			return false;
		if (def)
			s->security_groups = kpool_json(r->pool, json_pack("[s]", def));
	}
	return true;
}

static void create_ports(kreq *r)
{
	bool bulk = false;
	json_t *objs = net_body(r, "port", "ports", &bulk);
	if (!objs)
		return;
	size_t n = json_array_size(objs);
	port_spec *specs = kpool_alloc(r->pool, n * sizeof(*specs));
	size_t i;
	json_t *obj;
	json_array_foreach(objs, i, obj)
		if (!port_prepare(r, obj, &specs[i]))
			return;
	for (i = 0; i < n; i++) {
		int count = 0;
		for (size_t j = 0; j < n; j++)
			count += strcmp(specs[j].project_id, specs[i].project_id) == 0;
		if (!net_quota_check(r, specs[i].project_id, "port", count))
			return;
	}
	char (*ids)[37] = kpool_alloc(r->pool, n * sizeof(*ids));
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	for (i = 0; i < n; i++)
		if (!port_insert(r, &specs[i], ids[i])) {
			kdb_rollback(net_db);
			return;
		}
	if (kdb_commit(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	for (i = 0; i < n; i++) {
		net_notify("port", ids[i]);
		json_t *p = port_view(ids[i]);
		if (p) {
			net_strip_attrs(r, "get_port", p);
			json_array_append_new(out, p);
		}
	}
	if (bulk) {
		kresp_json(r, 201, json_pack("{s:o}", "ports", out));
		return;
	}
	json_t *one = json_incref(json_array_get(out, 0));
	json_decref(out);
	if (!one) {
		internal_error(r);
		return;
	}
	net_respond_one(r, 201, "port", one);
}

/* ------------------------------------------------------------------------ */
/* Listing and showing */

static const char *const port_sort_keys[] = {
	"id", "name", "network_id", "admin_state_up", "mac_address", "device_id", "device_owner",
	"tenant_id", "project_id", "status", "created_at", "updated_at", "revision_number", NULL
};

/* The fixed_ips=key=value filter of Neutron (ip_address, subnet_id,
 * ip_address_substr); false after answering a malformed one. */
typedef struct ip_filter {
	const char **ips, **subnets, **substrs;
	size_t nips, nsubnets, nsubstrs;
} ip_filter;

static bool parse_ip_filter(kreq *r, const net_filter *f, ip_filter *out)
{
	memset(out, 0, sizeof(*out));
	if (!f)
		return true;
	out->ips = kpool_alloc(r->pool, (f->nvalues + 1) * sizeof(char *));
	out->subnets = kpool_alloc(r->pool, (f->nvalues + 1) * sizeof(char *));
	out->substrs = kpool_alloc(r->pool, (f->nvalues + 1) * sizeof(char *));
	for (size_t i = 0; i < f->nvalues; i++) {
		const char *v = f->values[i];
		const char *eq = strchr(v, '=');
		if (!eq) {
			net_error(r, 400, "InvalidInput", "Invalid input for operation: '%s' is "
			          "not of the form <key>=[value].", v);
			return false;
		}
		const char *key = kpool_strndup(r->pool, v, (size_t)(eq - v));
		if (strcmp(key, "ip_address") == 0)
			out->ips[out->nips++] = eq + 1;
		else if (strcmp(key, "subnet_id") == 0)
			out->subnets[out->nsubnets++] = eq + 1;
		else if (strcmp(key, "ip_address_substr") == 0)
			out->substrs[out->nsubstrs++] = eq + 1;
	}
	return true;
}

static bool any_ip(const json_t *fixed, const char *key, const char **vals, size_t n, bool sub)
{
	size_t i;
	json_t *f;
	json_array_foreach(fixed, i, f) {
		const char *v = kjson_str(f, key);
		for (size_t j = 0; v && j < n; j++)
			if (sub ? strstr(v, vals[j]) != NULL : strcmp(v, vals[j]) == 0)
				return true;
	}
	return false;
}

static bool ip_filter_match(const ip_filter *f, const json_t *port)
{
	json_t *fixed = json_object_get(port, "fixed_ips");
	if (f->nips && !any_ip(fixed, "ip_address", f->ips, f->nips, false))
		return false;
	if (f->nsubnets && !any_ip(fixed, "subnet_id", f->subnets, f->nsubnets, false))
		return false;
	if (f->nsubstrs && !any_ip(fixed, "ip_address", f->substrs, f->nsubstrs, true))
		return false;
	return true;
}

static void list_ports(kreq *r)
{
	net_listq *q = net_listq_parse(r, port_sort_keys);
	if (!q)
		return;
	ip_filter ipf;
	if (!parse_ip_filter(r, net_listq_take(q, "fixed_ips"), &ipf))
		return;
	const net_filter *macf = net_listq_take(q, "mac_address");
	bool admin = net_is_admin(r);

	/* narrow the SQL with single-valued filters (the generic ones run later) */
	const char *args[8];
	int nargs = 0;
	char *sql = kpool_printf(r->pool, "SELECT " PORT_COLS " FROM net_port p");
	const char *me = net_project(r);
	if (!admin) {
		sql = kpool_printf(r->pool, "%s JOIN net_network n ON n.id = p.network_id WHERE"
		                   " (p.project_id = ? OR n.project_id = ?)", sql);
		args[nargs++] = me;
		args[nargs++] = me;
	}
	static const char *const narrow[][2] = {
		{ "network_id", "p.network_id" }, { "device_id", "p.device_id" },
		{ "device_owner", "p.device_owner" },
	};
	const char *one_network = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(narrow); i++) {
		const net_filter *f = net_listq_get(q, narrow[i][0]);
		if (!f || f->nvalues != 1)
			continue;
		sql = kpool_printf(r->pool, "%s %s %s = ?", sql, nargs ? "AND" : "WHERE",
		                   narrow[i][1]);
		args[nargs++] = f->values[0];
		if (i == 0)
			one_network = f->values[0];
	}
	json_t *rows = ports_select(sql, args, nargs);
	if (!rows) {
		internal_error(r);
		return;
	}
	ports_finish(rows, one_network);
	json_t *items = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(rows, i, p) {
		if (!ip_filter_match(&ipf, p))
			continue;
		if (macf) {
			const char *mac = kjson_str(p, "mac_address");
			bool ok = false;
			for (size_t j = 0; mac && j < macf->nvalues; j++)
				ok = ok || strcasecmp(mac, macf->values[j]) == 0;
			if (!ok)
				continue;
		}
		if (!admin)
			net_strip_attrs(r, "get_port", p);
		json_array_append(items, p);
	}
	json_decref(rows);
	net_respond_list(r, "ports", items, q);
}

static void show_port(kreq *r)
{
	const char *id = kreq_param(r, "port_id");
	json_t *p = port_lookup(r, id);
	if (!p)
		return;
	if (!net_enforce(r, "get_port", p)) {
		json_decref(p);
		return;
	}
	net_strip_attrs(r, "get_port", p);
	net_respond_one(r, 200, "port", p);
}

/* ------------------------------------------------------------------------ */
/* Updating */

static bool set_col(const char *sql, const char *type, const void *v, const char *id)
{
	if (type[0] == 's')
		return kdb_run(net_db, NULL, sql, "ss", (const char *)v, id) == KDB_DONE;
	return kdb_run(net_db, NULL, sql, "bs", *(const bool *)v, id) == KDB_DONE;
}

static bool has_groups(const char *port_id)
{
	bool found = false;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT security_group_id FROM"
	                                           " net_port_security_group WHERE port_id = ?",
	                                           "s", port_id);
	return row != NULL || found;
}

static bool has_pairs(const char *port_id)
{
	bool found = false;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT ip_address FROM"
	                                           " net_allowed_address_pair WHERE port_id = ?",
	                                           "s", port_id);
	return row != NULL || found;
}

/* Whether a fixed_ips request differs from what the port has. */
static bool fixed_ips_change(const json_t *cur, const json_t *req)
{
	if (json_array_size(cur) != json_array_size(req))
		return true;
	size_t i;
	json_t *f;
	json_array_foreach(req, i, f) {
		const char *ip = kjson_str(f, "ip_address"), *sn = kjson_str(f, "subnet_id");
		bool matched = false;
		size_t j;
		json_t *c;
		json_array_foreach(cur, j, c)
			if ((!ip || (kjson_str(c, "ip_address") &&
			             strcmp(ip, kjson_str(c, "ip_address")) == 0)) &&
			    (!sn || (kjson_str(c, "subnet_id") &&
			             strcmp(sn, kjson_str(c, "subnet_id")) == 0)))
				matched = true;
		if (!matched)
			return true;
	}
	return false;
}

static void update_port(kreq *r)
{
	const char *id = kreq_param(r, "port_id");
	json_t *objs = net_body(r, "port", NULL, NULL);
	if (!objs)
		return;
	json_t *obj = json_array_get(objs, 0);
	sanitize_mac(r, obj);
	if (!net_validate(r, obj, port_attrs, ARRAY_SIZE(port_attrs), false))
		return;
	json_t *fixed = json_object_get(obj, "fixed_ips");
	if (fixed && !check_fixed_ips(r, fixed))
		return;
	json_t *gv = json_object_get(obj, "security_groups");
	json_t *groups = NULL, *pairs = NULL;
	if (gv && !(groups = check_groups(r, gv)))
		return;
	json_t *pv = json_object_get(obj, "allowed_address_pairs");
	if (pv && !(pairs = check_pairs(r, pv)))
		return;
	json_t *dv = json_object_get(obj, "extra_dhcp_opts"), *dopts = NULL;
	if (dv && !(dopts = check_dhcp_opts(r, dv)))
		return;
	json_t *port = port_lookup(r, id);
	if (!port)
		return;
	kpool_json(r->pool, port);
	/* the policy target: the port as it will be */
	json_t *target = kpool_json(r->pool, json_copy(port));
	json_object_update(target, obj);
	if (!net_enforce_attrs(r, "update_port", obj, target))
		return;

	const char *network_id = kjson_str(port, "network_id");
	const char *project = kjson_str(port, "project_id");
	const char *cur_owner = kjson_str(port, "device_owner");
	const char *owner = json_object_get(obj, "device_owner") ? kjson_str(obj, "device_owner")
	                                                         : cur_owner;
	const char *device_id = json_object_get(obj, "device_id") ? kjson_str(obj, "device_id")
	                                                          : kjson_str(port, "device_id");
	if ((json_object_get(obj, "device_owner") ||
	     (json_object_get(obj, "device_id") && owner && *owner)) &&
	    !check_router_device(r, owner, device_id, project))
		return;

	/* MAC changes (db_base_plugin's _check_mac_addr_update, ml2's
	 * _check_mac_update_allowed) */
	const char *old_mac = kjson_str(port, "mac_address");
	const char *new_mac = kjson_str(obj, "mac_address");
	if (new_mac)
		new_mac = lower_dup(r->pool, new_mac);
	if (new_mac && old_mac && strcmp(new_mac, old_mac) == 0)
		new_mac = NULL;
	const char *vif = kjson_str(port, "binding:vif_type");
	if (new_mac) {
		if (is_trusted(owner)) {
			net_error(r, 409, "UnsupportedPortDeviceOwner", "Operation mac address "
			          "update is not supported for device_owner %s on port %s.", owner,
			          id);
			return;
		}
		if (vif && strcmp(vif, "unbound") != 0 && strcmp(vif, "binding_failed") != 0) {
			net_error(r, 409, "PortBound", "Unable to complete operation on port %s, "
			          "port is already bound, port type: %s, old_mac %s, new_mac %s.",
			          id, vif, old_mac, new_mac);
			return;
		}
		if (mac_in_use(network_id, new_mac)) {
			mac_in_use_error(r, network_id, new_mac);
			return;
		}
	}

	/* vnic_type cannot change on a bound port */
	const char *vnic = kjson_str(obj, "binding:vnic_type");
	const char *old_vnic = kjson_str(port, "binding:vnic_type");
	if (vnic && old_vnic && strcmp(vnic, old_vnic) != 0 && vif &&
	    strcmp(vif, "unbound") != 0) {
		net_error(r, 409, "PortInUse", "Unable to complete operation on port %s for "
		          "network %s. Port already has an attached device %s.", id, network_id,
		          kjson_str(port, "device_id"));
		return;
	}

	/* router ports keep their addresses */
	static const char *const no_ip_update[] = {
		"network:router_interface", "network:router_gateway",
		"network:router_interface_distributed", "network:ha_router_replicated_interface",
		NULL,
	};
	if (fixed && str_in(cur_owner, no_ip_update) &&
	    fixed_ips_change(json_object_get(port, "fixed_ips"), fixed)) {
		bool found;
		_cleanup_json_ json_t *router = kdb_query_row(net_db, &found, "SELECT id FROM"
		                                              " net_router WHERE id = ?", "s",
		                                              kjson_str(port, "device_id"));
		if (router) {
			net_error(r, 400, "BadRequest", "Bad ports request: IP updates for port %s "
			          "are not allowed.", id);
			return;
		}
	}

	/* port security (ml2's _portsec_ext_port_update_processing) */
	json_t *psv = json_object_get(obj, "port_security_enabled");
	bool port_security = psv ? json_is_true(psv)
	                         : json_is_true(json_object_get(port, "port_security_enabled"));
	if (!port_security) {
		if (pairs && json_array_size(pairs)) {
			pairs_need_port_security(r);
			return;
		}
		if (!pv && has_pairs(id)) {
			pairs_need_port_security(r);
			return;
		}
		if (groups && json_array_size(groups)) {
			groups_need_port_security(r);
			return;
		}
		if (!gv && has_groups(id)) {
			net_error(r, 409, "PortSecurityPortHasSecurityGroup", "Port has security "
			          "group associated. Cannot disable port security or IP address "
			          "until security group is removed.");
			return;
		}
	}
	if (groups && json_array_size(groups) && !net_sg_check_port_groups(r, project, groups))
		return;

	/* write it all */
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	bool ok = true;
	const char *mac_now = new_mac ? new_mac : old_mac;
	static const struct { const char *attr, *sql; } strs[] = {
		{ "name", "UPDATE net_port SET name = ? WHERE id = ?" },
		{ "description", "UPDATE net_port SET description = ? WHERE id = ?" },
		{ "device_id", "UPDATE net_port SET device_id = ? WHERE id = ?" },
		{ "device_owner", "UPDATE net_port SET device_owner = ? WHERE id = ?" },
		{ "binding:vnic_type", "UPDATE net_port SET binding_vnic_type = ? WHERE id = ?" },
	};
	for (size_t i = 0; ok && i < ARRAY_SIZE(strs); i++) {
		json_t *v = json_object_get(obj, strs[i].attr);
		if (v)
			ok = set_col(strs[i].sql, "s", json_string_value(v), id);
	}
	json_t *asu = json_object_get(obj, "admin_state_up");
	if (ok && asu) {
		bool b = json_is_true(asu);
		ok = set_col("UPDATE net_port SET admin_state_up = ? WHERE id = ?", "b", &b, id);
	}
	if (ok && psv)
		ok = set_col("UPDATE net_port SET port_security_enabled = ? WHERE id = ?", "b",
		             &port_security, id);
	if (ok && new_mac) {
		int rc = kdb_run(net_db, NULL, "UPDATE net_port SET mac_address = ? WHERE id = ?",
		                 "ss", new_mac, id);
		if (rc == KDB_CONSTRAINT) {
			kdb_rollback(net_db);
			mac_in_use_error(r, network_id, new_mac);
			return;
		}
		ok = rc == KDB_DONE;
	}
	/* binding */
	json_t *hostv = json_object_get(obj, "binding:host_id");
	if (ok && (hostv || vnic)) {
		const char *host = kjson_str(port, "binding:host_id");
		if (hostv)
			host = json_string_value(hostv) ? json_string_value(hostv) : "";
		const char *vt = vif_type_for(host, vnic ? vnic : old_vnic);
		ok = kdb_run(net_db, NULL, "UPDATE net_port SET binding_host_id = ?,"
		             " binding_vif_type = ?, binding_vif_details = ? WHERE id = ?", "ssss",
		             host ? host : "", vt, vif_details_for(vt), id) == KDB_DONE;
	}
	json_t *prof = json_object_get(obj, "binding:profile");
	if (ok && prof) {
		char *s = json_is_object(prof) && json_object_size(prof)
		          ? json_dumps(prof, JSON_COMPACT) : NULL;
		ok = kdb_run(net_db, NULL, "UPDATE net_port SET binding_profile = ? WHERE id = ?",
		             "ss", s, id) == KDB_DONE;
		free(s);
	}
	if (!ok) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	if (fixed) {
		json_t *ips = net_ipam_update(r, network_id, id, mac_now, fixed, owner);
		if (!ips) {
			kdb_rollback(net_db);
			return;
		}
		json_decref(ips);
	}
	if (pv) {
		if (kdb_run(net_db, NULL, "DELETE FROM net_allowed_address_pair WHERE port_id = ?",
		            "s", id) != KDB_DONE) {
			kdb_rollback(net_db);
			internal_error(r);
			return;
		}
		if (!pairs_insert(r, id, mac_now, pairs)) {
			kdb_rollback(net_db);
			return;
		}
	}
	if (gv) {
		if (kdb_run(net_db, NULL, "DELETE FROM net_port_security_group WHERE port_id = ?",
		            "s", id) != KDB_DONE) {
			kdb_rollback(net_db);
			internal_error(r);
			return;
		}
		if (!is_trusted(owner) && !groups_insert(r, id, groups)) {
			kdb_rollback(net_db);
			return;
		}
	}
	if (dopts && !opts_write(r, id, dopts)) {
		kdb_rollback(net_db);
		return;
	}
	if (net_touch("net_port", id) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	if (kdb_commit(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	net_notify("port", id);
	json_t *p = port_view(id);
	if (!p) {
		port_not_found(r, id);
		return;
	}
	net_strip_attrs(r, "get_port", p);
	net_respond_one(r, 200, "port", p);
}

/* ------------------------------------------------------------------------ */
/* Deleting */

/* Remove a port and what it owns, inside the caller's transaction; the ids
 * of the floating IPs it had are appended to fips (may be NULL). */
static int port_remove(const char *id, json_t *fips)
{
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT id FROM net_floatingip WHERE"
	                                             " port_id = ?", "s", id);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		if (fips)
			json_array_append(fips, json_object_get(row, "id"));
	if (kdb_run(net_db, NULL, "UPDATE net_floatingip SET port_id = NULL, fixed_ip_address ="
	            " NULL, router_id = NULL, status = 'DOWN' WHERE port_id = ?", "s", id) !=
	    KDB_DONE)
		return -1;
	if (net_ipam_release(id) != 0)
		return -1;
	if (kdb_run(net_db, NULL, "DELETE FROM net_port_security_group WHERE port_id = ?", "s",
	            id) != KDB_DONE ||
	    kdb_run(net_db, NULL, "DELETE FROM net_allowed_address_pair WHERE port_id = ?", "s",
	            id) != KDB_DONE ||
	    kdb_run(net_db, NULL, "DELETE FROM net_extra_dhcp_opt WHERE port_id = ?", "s",
	            id) != KDB_DONE ||
	    net_tags_delete("ports", id) != 0 ||
	    kdb_run(net_db, NULL, "DELETE FROM net_port WHERE id = ?", "s", id) != KDB_DONE)
		return -1;
	return 0;
}

static void notify_removed(const char *id, json_t *fips)
{
	net_notify("port", id);
	size_t i;
	json_t *f;
	json_array_foreach(fips, i, f)
		net_notify("floatingip", json_string_value(f));
}

static void delete_port(kreq *r)
{
	const char *id = kreq_param(r, "port_id");
	json_t *port = port_lookup(r, id);
	if (!port)
		return;
	kpool_json(r->pool, port);
	if (!net_enforce(r, "delete_port", port))
		return;
	/* l3_db's prevent_l3_port_deletion */
	static const char *const router_owners[] = {
		"network:router_interface", "network:router_gateway",
		"network:router_interface_distributed", "network:router_centralized_snat",
		"network:router_ha_interface", "network:ha_router_replicated_interface", NULL,
	};
	const char *owner = kjson_str(port, "device_owner");
	const char *device = kjson_str(port, "device_id");
	bool protected_port = false;
	if (owner && strcmp(owner, "network:floatingip") == 0) {
		bool found;
		_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT id FROM"
		                                           " net_floatingip WHERE id = ?", "s",
		                                           device);
		protected_port = row != NULL;
	} else if (str_in(owner, router_owners)) {
		bool found;
		_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT id FROM"
		                                           " net_router WHERE id = ?", "s",
		                                           device);
		protected_port = row != NULL;
	}
	if (protected_port) {
		net_error(r, 409, "ServicePortInUse", "Port %s cannot be deleted directly via the "
		          "port API: has device owner %s.", id, owner);
		return;
	}
	json_t *fips = kpool_json(r->pool, json_array());
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	if (port_remove(id, fips) != 0) {
		kdb_rollback(net_db);
		internal_error(r);
		return;
	}
	if (kdb_commit(net_db) != KDB_OK) {
		internal_error(r);
		return;
	}
	notify_removed(id, fips);
	kresp_status(r, 204);
}

const kroute net_port_routes[] = {
	{ "GET", "/v2.0/ports", list_ports, 0 },
	{ "POST", "/v2.0/ports", create_ports, 0 },
	{ "GET", "/v2.0/ports/{port_id}", show_port, 0 },
	{ "PUT", "/v2.0/ports/{port_id}", update_port, 0 },
	{ "DELETE", "/v2.0/ports/{port_id}", delete_port, 0 },
};
const size_t net_port_nroutes = ARRAY_SIZE(net_port_routes);

/* ------------------------------------------------------------------------ */
/* For the rest of the service (ports.h) */

json_t *net_port_create_internal(kreq *r, const char *project_id, const char *network_id,
                                 const char *device_id, const char *device_owner,
                                 const json_t *fixed_ips)
{
	_cleanup_json_ json_t *net = net_network_get(NULL, network_id);
	if (!net) {
		net_error(r, 404, "NetworkNotFound", "Network %s could not be found.", network_id);
		return NULL;
	}
	if (fixed_ips && !check_fixed_ips(r, fixed_ips))
		return NULL;
	json_t *nps = json_object_get(net, "port_security_enabled");
	port_spec s = {
		.project_id = project_id, .network_id = network_id, .device_id = device_id,
		.device_owner = device_owner, .fixed_ips = fixed_ips, .admin_state_up = true,
		.port_security = nps ? !json_is_false(nps) : true, .host = "",
	};
	if (!is_trusted(device_owner) && s.port_security) {
		const char *def = NULL;
		if (!net_sg_ensure_default(r, project_id, &def))
			return NULL;
		if (def)
			s.security_groups = kpool_json(r->pool, json_pack("[s]", def));
	}
	char id[37];
	if (kdb_begin(net_db) != KDB_OK) {
		internal_error(r);
		return NULL;
	}
	if (!port_insert(r, &s, id)) {
		kdb_rollback(net_db);
		return NULL;
	}
	if (kdb_commit(net_db) != KDB_OK) {
		internal_error(r);
		return NULL;
	}
	net_notify("port", id);
	json_t *p = port_view(id);
	if (!p) {
		internal_error(r);
		return NULL;
	}
	return kpool_json(r->pool, p);
}

json_t *net_port_create_agent(const char *project_id, const char *network_id,
                              const char *device_id, const char *device_owner,
                              const char *host, const json_t *fixed_ips,
                              int *status, char *err, size_t errlen)
{
	/* a request of our own, so that the shared code can answer errors */
	kreq r = { .pool = kpool_new(), .svc = &network_service };
	snprintf(r.request_id, sizeof(r.request_id), "req-internal");
	json_t *p = net_port_create_internal(&r, project_id, network_id, device_id, device_owner,
	                                     fixed_ips);
	json_t *out = NULL;
	if (p) {
		out = json_incref(p);
		if (host && *host) {
			if (net_port_set_host(kjson_str(out, "id"), host) == 0) {
				json_decref(out);
				out = port_view(kjson_str(p, "id"));
			}
		}
	} else {
		if (status)
			*status = r.status;
		if (err && errlen) {
			_cleanup_json_ json_t *body = r.resp_body ? json_loads(r.resp_body, 0, NULL)
			                                          : NULL;
			json_t *ne = json_object_get(body, "NeutronError");
			const char *msg = kjson_str(ne, "message");
			snprintf(err, errlen, "%s", msg ? msg : "port creation failed");
		}
	}
	kpool_free(r.pool);
	return out;
}

int net_port_delete_internal(const char *port_id)
{
	json_t *fips = json_array();
	if (kdb_begin(net_db) != KDB_OK) {
		json_decref(fips);
		return -1;
	}
	if (port_remove(port_id, fips) != 0) {
		kdb_rollback(net_db);
		json_decref(fips);
		return -1;
	}
	if (kdb_commit(net_db) != KDB_OK) {
		json_decref(fips);
		return -1;
	}
	notify_removed(port_id, fips);
	json_decref(fips);
	return 0;
}

int net_port_delete_by_device(const char *device_id, const char *device_owner)
{
	_cleanup_json_ json_t *rows = device_owner
		? kdb_query_json(net_db, "SELECT id FROM net_port WHERE device_id = ? AND"
		                 " device_owner = ?", "ss", device_id, device_owner)
		: kdb_query_json(net_db, "SELECT id FROM net_port WHERE device_id = ?", "s",
		                 device_id);
	if (!rows)
		return -1;
	int n = 0;
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		if (net_port_delete_internal(kjson_str(row, "id")) != 0)
			return -1;
		n++;
	}
	return n;
}

int net_port_set_device(const char *port_id, const char *device_id, const char *device_owner)
{
	int64_t changes = 0;
	if (kdb_run(net_db, &changes, "UPDATE net_port SET device_id = ?, device_owner = ?,"
	            " revision_number = revision_number + 1, updated_at = ? WHERE id = ?", "ssis",
	            device_id ? device_id : "", device_owner ? device_owner : "", kutil_now_us(),
	            port_id) != KDB_DONE || changes == 0)
		return -1;
	/* trusted owners have no security groups */
	if (is_trusted(device_owner) &&
	    kdb_run(net_db, NULL, "DELETE FROM net_port_security_group WHERE port_id = ?", "s",
	            port_id) != KDB_DONE)
		return -1;
	net_notify("port", port_id);
	return 0;
}

int net_port_set_status(const char *port_id, const char *status)
{
	int64_t changes = 0;
	if (kdb_run(net_db, &changes, "UPDATE net_port SET status = ?, revision_number ="
	            " revision_number + 1, updated_at = ? WHERE id = ? AND status <> ?", "siss",
	            status, kutil_now_us(), port_id, status) != KDB_DONE)
		return -1;
	if (changes == 0) {
		bool found = false;
		_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT id FROM net_port"
		                                           " WHERE id = ?", "s", port_id);
		return row ? 0 : -1;
	}
	return 0;
}

int net_port_set_host(const char *port_id, const char *host)
{
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(net_db, &found, "SELECT binding_vnic_type,"
	                                           " binding_host_id FROM net_port WHERE id = ?",
	                                           "s", port_id);
	if (!row)
		return -1;
	const char *h = host ? host : "";
	const char *old = kjson_str(row, "binding_host_id");
	if (old && strcmp(old, h) == 0)
		return 0;
	const char *vt = vif_type_for(h, kjson_str(row, "binding_vnic_type"));
	if (kdb_run(net_db, NULL, "UPDATE net_port SET binding_host_id = ?, binding_vif_type = ?,"
	            " binding_vif_details = ?, revision_number = revision_number + 1,"
	            " updated_at = ? WHERE id = ?", "sssis", h, vt, vif_details_for(vt),
	            kutil_now_us(), port_id) != KDB_DONE)
		return -1;
	net_notify("port", port_id);
	return 0;
}

json_t *net_port_get(kpool *pool, const char *port_id)
{
	json_t *p = port_view(port_id);
	return p ? kpool_json(pool, p) : NULL;
}

json_t *net_port_list_internal(const char *network_id, const char *device_owner)
{
	const char *args[2];
	int n = 0;
	const char *sql = "SELECT " PORT_COLS " FROM net_port p";
	char buf[512];
	if (network_id) {
		args[n++] = network_id;
		snprintf(buf, sizeof(buf), "%s WHERE p.network_id = ?%s", sql,
		         device_owner ? " AND p.device_owner = ?" : "");
		sql = buf;
	} else if (device_owner) {
		snprintf(buf, sizeof(buf), "%s WHERE p.device_owner = ?", sql);
		sql = buf;
	}
	if (device_owner)
		args[n++] = device_owner;
	json_t *rows = ports_select(sql, args, n);
	if (rows)
		ports_finish(rows, network_id);
	return rows;
}
