/*
 * policy.c - Neutron's default policy rules, net_enforce() and the
 * attribute-level checks (net_enforce_attrs, net_strip_attrs).
 *
 * The defaults are Neutron's classic policy.json (admin_only,
 * admin_or_owner, admin_or_network_owner, shared and external visibility,
 * provider attributes and binding details admin-only, shared / external
 * networks created by admins only).  Two of Neutron's checks have no oslo
 * syntax in Kumo's evaluator and are expressed on target keys instead:
 *   field:networks:shared=True         -> True:%(shared)s or True:%(network:shared)s
 *   field:networks:router:external=True -> True:%(router:external)s
 *   field:port:device_owner=~^network: -> True:%(_network_device)s
 * net_enforce() therefore completes the target before checking: for a
 * resource with a network_id it adds "network:tenant_id",
 * "network:project_id" and "network:shared" from that network (as Neutron's
 * policy engine fetches the parent), and "_network_device" for a
 * device_owner starting with "network:".  The credentials get "tenant_id"
 * next to "project_id", since Neutron's rules say tenant_id.
 *
 * Denials are answered as Neutron's API layer does: 403 PolicyNotAuthorized
 * "<rule> is disallowed by policy", except for reads and for updates or
 * deletes of resources the caller may not even read, which are answered
 * 404 so that nothing is revealed about other projects' resources.
 *
 * Attribute rules ("create_network:shared", "create_port:fixed_ips:
 * ip_address", "update_router:external_gateway_info:enable_snat") apply when
 * the attribute is explicitly set: on update when present in the body, on
 * create when present and not equal to its default (so a non-admin may say
 * "shared": false).  A [network] policy_file overrides single rules.
 */
#include <string.h>

#include "core/auth.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "common.h"

kpolicy *net_policy;

#define ADMIN_ONLY "rule:admin_only"
#define ADMIN_OR_OWNER "rule:admin_or_owner"
#define ADMIN_OR_NET_OWNER "rule:admin_or_network_owner"
#define ADVSVC_OR_NET_OWNER "rule:context_is_advsvc or rule:admin_or_network_owner"

static const kpolicy_rule net_defaults[] = {
	{ "context_is_admin", "role:admin" },
	{ "owner", "tenant_id:%(tenant_id)s" },
	{ "admin_or_owner", "rule:context_is_admin or rule:owner" },
	{ "context_is_advsvc", "role:advsvc" },
	{ "admin_or_network_owner",
	  "rule:context_is_admin or tenant_id:%(network:tenant_id)s" },
	{ "admin_owner_or_network_owner", "rule:owner or rule:admin_or_network_owner" },
	{ "network_owner", "tenant_id:%(network:tenant_id)s" },
	{ "admin_only", "rule:context_is_admin" },
	{ "regular_user", "" },
	{ "shared", "True:%(shared)s or True:%(network:shared)s" },
	{ "shared_subnetpools", "True:%(shared)s" },
	{ "external", "True:%(router:external)s" },
	{ "network_device", "True:%(_network_device)s" },
	{ "default", ADMIN_OR_OWNER },

	/* subnets */
	{ "create_subnet", ADMIN_OR_NET_OWNER },
	{ "create_subnet:segment_id", ADMIN_ONLY },
	{ "create_subnet:service_types", ADMIN_ONLY },
	{ "get_subnet", ADMIN_OR_OWNER " or rule:shared" },
	{ "get_subnet:segment_id", ADMIN_ONLY },
	{ "update_subnet", ADMIN_OR_NET_OWNER },
	{ "update_subnet:service_types", ADMIN_ONLY },
	{ "delete_subnet", ADMIN_OR_NET_OWNER },

	/* subnet pools */
	{ "create_subnetpool", "" },
	{ "create_subnetpool:shared", ADMIN_ONLY },
	{ "create_subnetpool:is_default", ADMIN_ONLY },
	{ "get_subnetpool", ADMIN_OR_OWNER " or rule:shared_subnetpools" },
	{ "update_subnetpool", ADMIN_OR_OWNER },
	{ "update_subnetpool:is_default", ADMIN_ONLY },
	{ "delete_subnetpool", ADMIN_OR_OWNER },

	/* networks */
	{ "create_network", "" },
	{ "get_network", ADMIN_OR_OWNER " or rule:shared or rule:external or "
	  "rule:context_is_advsvc" },
	{ "get_network:router:external", "rule:regular_user" },
	{ "get_network:segments", ADMIN_ONLY },
	{ "get_network:provider:network_type", ADMIN_ONLY },
	{ "get_network:provider:physical_network", ADMIN_ONLY },
	{ "get_network:provider:segmentation_id", ADMIN_ONLY },
	{ "get_network_ip_availabilities", ADMIN_ONLY },
	{ "get_network_ip_availability", ADMIN_ONLY },
	{ "create_network:shared", ADMIN_ONLY },
	{ "create_network:router:external", ADMIN_ONLY },
	{ "create_network:is_default", ADMIN_ONLY },
	{ "create_network:segments", ADMIN_ONLY },
	{ "create_network:provider:network_type", ADMIN_ONLY },
	{ "create_network:provider:physical_network", ADMIN_ONLY },
	{ "create_network:provider:segmentation_id", ADMIN_ONLY },
	{ "update_network", ADMIN_OR_OWNER },
	{ "update_network:segments", ADMIN_ONLY },
	{ "update_network:shared", ADMIN_ONLY },
	{ "update_network:provider:network_type", ADMIN_ONLY },
	{ "update_network:provider:physical_network", ADMIN_ONLY },
	{ "update_network:provider:segmentation_id", ADMIN_ONLY },
	{ "update_network:router:external", ADMIN_ONLY },
	{ "delete_network", ADMIN_OR_OWNER },

	/* ports */
	{ "create_port", "" },
	{ "create_port:device_owner", "not rule:network_device or rule:context_is_advsvc or "
	  "rule:admin_or_network_owner" },
	{ "create_port:mac_address", ADVSVC_OR_NET_OWNER },
	{ "create_port:fixed_ips:ip_address", ADVSVC_OR_NET_OWNER },
	{ "create_port:fixed_ips:subnet_id", ADVSVC_OR_NET_OWNER " or rule:shared" },
	{ "create_port:port_security_enabled", ADVSVC_OR_NET_OWNER },
	{ "create_port:binding:host_id", ADMIN_ONLY },
	{ "create_port:binding:profile", ADMIN_ONLY },
	{ "create_port:allowed_address_pairs", ADMIN_OR_NET_OWNER },
	{ "get_port", "rule:context_is_advsvc or rule:admin_owner_or_network_owner" },
	{ "get_port:binding:vif_type", ADMIN_ONLY },
	{ "get_port:binding:vif_details", ADMIN_ONLY },
	{ "get_port:binding:host_id", ADMIN_ONLY },
	{ "get_port:binding:profile", ADMIN_ONLY },
	{ "update_port", ADMIN_OR_OWNER " or rule:context_is_advsvc" },
	{ "update_port:device_owner", "not rule:network_device or rule:context_is_advsvc or "
	  "rule:admin_or_network_owner" },
	{ "update_port:mac_address", ADMIN_ONLY " or rule:context_is_advsvc" },
	{ "update_port:fixed_ips:ip_address", ADVSVC_OR_NET_OWNER },
	{ "update_port:fixed_ips:subnet_id", ADVSVC_OR_NET_OWNER " or rule:shared" },
	{ "update_port:port_security_enabled", ADVSVC_OR_NET_OWNER },
	{ "update_port:binding:host_id", ADMIN_ONLY },
	{ "update_port:binding:profile", ADMIN_ONLY },
	{ "update_port:allowed_address_pairs", ADMIN_OR_NET_OWNER },
	{ "delete_port", "rule:context_is_advsvc or rule:admin_owner_or_network_owner" },

	/* routers */
	{ "create_router", "rule:regular_user" },
	{ "create_router:external_gateway_info", ADMIN_OR_OWNER },
	{ "create_router:external_gateway_info:network_id", ADMIN_OR_OWNER },
	{ "create_router:external_gateway_info:enable_snat", ADMIN_ONLY },
	{ "create_router:external_gateway_info:external_fixed_ips", ADMIN_ONLY },
	{ "create_router:distributed", ADMIN_ONLY },
	{ "create_router:ha", ADMIN_ONLY },
	{ "get_router", ADMIN_OR_OWNER },
	{ "get_router:distributed", ADMIN_ONLY },
	{ "get_router:ha", ADMIN_ONLY },
	{ "update_router", ADMIN_OR_OWNER },
	{ "update_router:external_gateway_info", ADMIN_OR_OWNER },
	{ "update_router:external_gateway_info:network_id", ADMIN_OR_OWNER },
	{ "update_router:external_gateway_info:enable_snat", ADMIN_ONLY },
	{ "update_router:external_gateway_info:external_fixed_ips", ADMIN_ONLY },
	{ "update_router:distributed", ADMIN_ONLY },
	{ "update_router:ha", ADMIN_ONLY },
	{ "delete_router", ADMIN_OR_OWNER },
	{ "add_router_interface", ADMIN_OR_OWNER },
	{ "remove_router_interface", ADMIN_OR_OWNER },

	/* floating IPs */
	{ "create_floatingip", "rule:regular_user" },
	{ "create_floatingip:floating_ip_address", ADMIN_ONLY },
	{ "update_floatingip", ADMIN_OR_OWNER },
	{ "delete_floatingip", ADMIN_OR_OWNER },
	{ "get_floatingip", ADMIN_OR_OWNER },

	/* security groups */
	{ "create_security_group", ADMIN_OR_OWNER },
	{ "get_security_group", ADMIN_OR_OWNER },
	{ "get_security_groups", ADMIN_OR_OWNER },
	{ "update_security_group", ADMIN_OR_OWNER },
	{ "delete_security_group", ADMIN_OR_OWNER },
	{ "create_security_group_rule", ADMIN_OR_OWNER },
	{ "admin_or_sg_owner", "rule:context_is_admin or "
	  "tenant_id:%(security_group:tenant_id)s" },
	{ "admin_owner_or_sg_owner", "rule:owner or rule:admin_or_sg_owner" },
	{ "get_security_group_rule", "rule:admin_owner_or_sg_owner" },
	{ "get_security_group_rules", ADMIN_OR_OWNER },
	{ "delete_security_group_rule", ADMIN_OR_OWNER },

	/* agents and schedulers */
	{ "get_agent", ADMIN_ONLY },
	{ "update_agent", ADMIN_ONLY },
	{ "delete_agent", ADMIN_ONLY },
	{ "create_dhcp-network", ADMIN_ONLY },
	{ "delete_dhcp-network", ADMIN_ONLY },
	{ "get_dhcp-networks", ADMIN_ONLY },
	{ "create_l3-router", ADMIN_ONLY },
	{ "delete_l3-router", ADMIN_ONLY },
	{ "get_l3-routers", ADMIN_ONLY },
	{ "get_dhcp-agents", ADMIN_ONLY },
	{ "get_l3-agents", ADMIN_ONLY },

	/* quotas */
	{ "get_quota", ADMIN_OR_OWNER },
	{ "get_quotas", ADMIN_ONLY },
	{ "update_quota", ADMIN_ONLY },
	{ "delete_quota", ADMIN_ONLY },

	/* tags */
	{ "create_tag", ADMIN_OR_OWNER },
	{ "update_tags", ADMIN_OR_OWNER },
	{ "delete_tag", ADMIN_OR_OWNER },
	{ "delete_tags", ADMIN_OR_OWNER },
};

int net_policy_init(void)
{
	char err[512] = "";
	kpolicy *p = kpolicy_new(net_defaults, ARRAY_SIZE(net_defaults), err, sizeof(err));
	if (!p) {
		klog_error("network", "default policy: %s", err);
		return -1;
	}
	const char *file = kumo_conf ? kconf_get(kumo_conf, "network", "policy_file", NULL) : NULL;
	if (file && *file && kpolicy_load_file(p, file, err, sizeof(err)) != 0) {
		klog_error("network", "policy file %s: %s", file, err);
		kpolicy_free(p);
		return -1;
	}
	kpolicy_free(net_policy);
	net_policy = p;
	return 0;
}

/* The target with what Neutron's policy engine would fetch (see top). */
static json_t *full_target(const json_t *target)
{
	json_t *t = json_is_object(target) ? json_copy((json_t *)target) : json_object();
	const char *tid = kjson_str(t, "tenant_id"), *pid = kjson_str(t, "project_id");
	if (pid && !tid)
		json_object_set_new(t, "tenant_id", json_string(pid));
	else if (tid && !pid)
		json_object_set_new(t, "project_id", json_string(tid));
	const char *net = kjson_str(t, "network_id");
	if (net && !json_object_get(t, "network:tenant_id")) {
		_cleanup_json_ json_t *row = kdb_query_row(net_db, NULL,
		                                           "SELECT project_id, shared "
		                                           "FROM net_network WHERE id = ?",
		                                           "s", net);
		if (row) {
			json_t *owner = json_object_get(row, "project_id");
			json_object_set(t, "network:tenant_id", owner);
			json_object_set(t, "network:project_id", owner);
			json_object_set_new(t, "network:shared", json_boolean(
				json_integer_value(json_object_get(row, "shared")) != 0));
		}
	}
	const char *owner = kjson_str(t, "device_owner");
	json_object_set_new(t, "_network_device",
	                    json_boolean(owner && strncmp(owner, "network:", 8) == 0));
	return t;
}

static bool check_rule(kreq *r, const char *action, const json_t *target)
{
	if (!r->ctx)
		return false;
	if (r->ctx->is_admin_token)
		return true;
	if (!net_policy)
		return false;
	_cleanup_json_ json_t *creds = kctx_to_creds(r->ctx);
	if (!creds)
		return false;
	if (r->ctx->project_id)
		json_object_set_new(creds, "tenant_id", json_string(r->ctx->project_id));
	return kpolicy_check(net_policy, action, creds, target);
}

/* The answer for the request this thread handles now: lists ask once per
 * object (net_strip_attrs), and a policy check costs a credentials object. */
static __thread const kreq *admin_req;
static __thread char admin_req_id[48];
static __thread bool admin_val;

bool net_is_admin(kreq *r)
{
	if (!r || !r->ctx)
		return false;
	if (r->ctx->is_admin_token)
		return true;
	if (admin_req == r && strcmp(admin_req_id, r->request_id) == 0)
		return admin_val;
	_cleanup_json_ json_t *t = json_object();
	admin_val = check_rule(r, "context_is_admin", t);
	admin_req = r;
	memcpy(admin_req_id, r->request_id, sizeof(admin_req_id));
	return admin_val;
}

/* "update_network" -> "get_network"; NULL when action is no update/delete. */
static const char *show_action(kreq *r, const char *action)
{
	if (strncmp(action, "update_", 7) == 0)
		return kpool_printf(r->pool, "get_%s", action + 7);
	if (strncmp(action, "delete_", 7) == 0)
		return kpool_printf(r->pool, "get_%s", action + 7);
	return NULL;
}

static void deny(kreq *r, const char *action, const char *rules, const json_t *target)
{
	if (strncmp(action, "get_", 4) == 0) {
		net_error(r, 404, NULL, "The resource could not be found.");
		return;
	}
	const char *show = show_action(r, action);
	if (show && !check_rule(r, show, target)) {
		net_error(r, 404, NULL, "The resource could not be found.");
		return;
	}
	net_error(r, 403, "PolicyNotAuthorized", "%s is disallowed by policy", rules);
}

bool net_enforce(kreq *r, const char *action, json_t *target)
{
	if (!r->ctx) {
		kresp_error(r, 401, "The request you have made requires authentication.");
		return false;
	}
	_cleanup_json_ json_t *t = full_target(target);
	if (check_rule(r, action, t))
		return true;
	deny(r, action, kpool_printf(r->pool, "rule:%s", action), t);
	return false;
}

/* Create-time defaults: an attribute set to its default is not "explicitly
 * set" for policy (Neutron's _is_attribute_explicitly_set). */
static bool is_default_value(const char *attr, const json_t *v)
{
	static const char *const false_default[] = {
		"shared", "router:external", "is_default", "distributed", "ha",
	};
	for (size_t i = 0; i < ARRAY_SIZE(false_default); i++)
		if (strcmp(attr, false_default[i]) == 0)
			return json_is_false(v);
	if (strcmp(attr, "binding:host_id") == 0)
		return json_is_string(v) && json_string_length(v) == 0;
	if (strcmp(attr, "binding:profile") == 0)
		return json_is_object(v) && json_object_size(v) == 0;
	return false;
}

/* Whether `path` ("shared", "binding:host_id", "fixed_ips:ip_address",
 * "external_gateway_info:enable_snat") is set in obj. */
static bool attr_set(const json_t *obj, const char *path, bool create)
{
	if (!json_is_object(obj))
		return false;
	json_t *v = json_object_get(obj, path);
	if (v)
		return !(create && is_default_value(path, v));
	for (const char *c = strchr(path, ':'); c; c = strchr(c + 1, ':')) {
		char head[128];
		size_t n = (size_t)(c - path);
		if (n >= sizeof(head))
			break;
		memcpy(head, path, n);
		head[n] = 0;
		json_t *sub = json_object_get(obj, head);
		if (!sub)
			continue;
		if (json_is_object(sub) && attr_set(sub, c + 1, create))
			return true;
		if (json_is_array(sub)) {
			size_t i;
			json_t *e;
			json_array_foreach(sub, i, e)
				if (attr_set(e, c + 1, create))
					return true;
		}
	}
	return false;
}

bool net_enforce_attrs(kreq *r, const char *action, const json_t *body, json_t *target)
{
	if (!r->ctx) {
		kresp_error(r, 401, "The request you have made requires authentication.");
		return false;
	}
	_cleanup_json_ json_t *t = full_target(target);
	bool create = strncmp(action, "create_", 7) == 0;
	size_t alen = strlen(action);
	bool ok = check_rule(r, action, t);
	char *rules = kpool_printf(r->pool, "rule:%s", action);
	size_t nrules = 1;
	for (size_t i = 0; i < ARRAY_SIZE(net_defaults); i++) {
		const char *name = net_defaults[i].name;
		if (strncmp(name, action, alen) != 0 || name[alen] != ':')
			continue;
		if (!attr_set(body, name + alen + 1, create))
			continue;
		rules = kpool_printf(r->pool, "%s and rule:%s", rules, name);
		nrules++;
		if (!check_rule(r, name, t))
			ok = false;
	}
	if (ok)
		return true;
	deny(r, action, nrules > 1 ? kpool_printf(r->pool, "(%s)", rules) : rules, t);
	return false;
}

void net_strip_attrs(kreq *r, const char *action, json_t *obj)
{
	/* every get_*:<attr> default is admin-only or open: admins see all */
	if (!json_is_object(obj) || net_is_admin(r))
		return;
	size_t alen = strlen(action);
	json_t *t = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(net_defaults); i++) {
		const char *name = net_defaults[i].name;
		if (strncmp(name, action, alen) != 0 || name[alen] != ':')
			continue;
		const char *attr = name + alen + 1;
		if (!json_object_get(obj, attr))
			continue;
		if (!t)
			t = full_target(obj);
		if (!check_rule(r, name, t))
			json_object_del(obj, attr);
	}
	json_decref(t);
}
