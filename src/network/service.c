/*
 * service.c - the Network service as a kservice: Neutron's error dialect,
 * the version documents, the route table and the lifecycle (database,
 * policy, and the agents that make networks real on this host).
 *
 * Route tables come from three groups of resources (L2, security groups,
 * L3), joined here once at start-up with the version documents.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "network.h"

kdb *net_db;

#define NET_MAX_ROUTES 256
static kroute net_routes[NET_MAX_ROUTES];

/* ---- error dialect ---- */

static __thread const char *error_type;

static const char *type_for_status(int status)
{
	switch (status) {
	case 400: return "HTTPBadRequest";
	case 401: return "HTTPUnauthorized";
	case 403: return "HTTPForbidden";
	case 404: return "HTTPNotFound";
	case 405: return "HTTPMethodNotAllowed";
	case 409: return "HTTPConflict";
	case 413: return "HTTPRequestEntityTooLarge";
	case 415: return "HTTPUnsupportedMediaType";
	case 503: return "HTTPServiceUnavailable";
	default: return status >= 500 ? "HTTPInternalServerError" : "HTTPClientError";
	}
}

void net_error_body(kreq *r, int status, const char *message)
{
	if (status == 401) {
		/* keystonemiddleware answers for Neutron here, in Keystone's shape */
		kresp_header(r, "WWW-Authenticate", kpool_printf(r->pool, "Keystone uri=\"%s\"",
		             kconf_get(kumo_conf, "keystone_authtoken", "www_authenticate_uri",
		                       "http://127.0.0.1:5000")));
		kresp_json(r, 401, json_pack("{s:{s:i,s:s,s:s}}", "error", "code", 401, "title",
		                             "Unauthorized", "message", message));
		return;
	}
	const char *type = error_type ? error_type : type_for_status(status);
	kresp_json(r, status, json_pack("{s:{s:s,s:s,s:s}}", "NeutronError", "type", type,
	                                "message", message, "detail", ""));
}

void net_error(kreq *r, int status, const char *type, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = kpool_vprintf(r->pool, fmt, ap);
	va_end(ap);
	error_type = type;
	kresp_error(r, status, "%s", msg);
	error_type = NULL;
}

/* ---- version documents ---- */

static void get_versions(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:[{s:s,s:s,s:[{s:s,s:s}]}]}", "versions", "status",
	                             "CURRENT", "id", "v2.0", "links", "href",
	                             kpool_printf(r->pool, "%s/v2.0/", kreq_base_url(r)),
	                             "rel", "self"));
}

static void get_v2(kreq *r)
{
	static const char *const res[][2] = {
		{ "subnet", "subnets" }, { "subnetpool", "subnetpools" },
		{ "network", "networks" }, { "port", "ports" },
	};
	json_t *arr = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(res); i++)
		json_array_append_new(arr, json_pack("{s:[{s:s,s:s}],s:s,s:s}", "links", "href",
		                      kpool_printf(r->pool, "%s/v2.0/%s", kreq_base_url(r), res[i][1]),
		                      "rel", "self", "name", res[i][0], "collection", res[i][1]));
	kresp_json(r, 200, json_pack("{s:o}", "resources", arr));
}

static const kroute version_routes[] = {
	{ "GET", "/", get_versions, KROUTE_PUBLIC },
	{ "GET", "/v2.0", get_v2, 0 },
};

/* ---- lifecycle ---- */

static int open_db(void)
{
	if (!net_db)
		net_db = kservice_db_open("network");
	return net_db ? 0 : -1;
}

static int network_init(void)
{
	if (open_db() != 0)
		return -1;
	if (kdb_schema_version(net_db, "network") == 0) {
		klog_error("network", "the database has no schema: run `kumo manage db-sync` first");
		return -1;
	}
	return net_policy_init();
}

static int network_db_sync(void)
{
	return open_db() == 0 ? net_db_sync() : -1;
}

static int network_start(void)
{
	if (!kconf_get_bool(kumo_conf, "network", "agents", true))
		return 0;
	return net_agents_start();
}

static void network_stop(void)
{
	net_agents_stop();
}

static void network_fini(void)
{
	kpolicy_free(net_policy);
	net_policy = NULL;
	kdb_close(net_db);
	net_db = NULL;
}

kservice network_service = {
	.name = "network",
	.catalog_type = "network",
	.catalog_name = "neutron",
	.catalog_description = "OpenStack Networking",
	.endpoint_path = "",
	.routes = net_routes,
	.error_body = net_error_body,
	.max_body = 1 << 20,
	.default_port = 9696,
	.init = network_init,
	.db_sync = network_db_sync,
	.start = network_start,
	.stop = network_stop,
	.fini = network_fini,
};

__attribute__((constructor)) static void join_routes(void)
{
	size_t n = 0;
	const struct { const kroute *r; size_t n; } tables[] = {
		{ version_routes, ARRAY_SIZE(version_routes) },
		{ net_l2_routes, net_l2_nroutes },
		{ net_sg_routes, net_sg_nroutes },
		{ net_l3_routes, net_l3_nroutes },
		{ net_port_routes, net_port_nroutes },
		{ net_agent_routes, net_agent_nroutes },
	};
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (size_t i = 0; i < tables[t].n && n < NET_MAX_ROUTES; i++)
			net_routes[n++] = tables[t].r[i];
	network_service.nroutes = n;
}
