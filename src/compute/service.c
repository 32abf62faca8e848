/*
 * service.c - the Compute service as a kservice: Nova's error dialect, the
 * version documents, microversion negotiation, the route table and the
 * lifecycle (database, policy, then the scheduler, the conductor and this
 * host's compute agent, each listening on the bus).
 *
 * Microversions: a request may name one with "OpenStack-API-Version:
 * compute 2.x" or the older "X-OpenStack-Nova-API-Version: 2.x"; none means
 * 2.1, "latest" the maximum.  prepare() stores it in r->version (or answers
 * 400/406 as Nova does); decorate() echoes it on every answer with Vary, so
 * clients (and Tempest) can check what they got.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "compute.h"

kdb *cmp_db;

#define CMP_MAX_ROUTES 256
static kroute cmp_routes[CMP_MAX_ROUTES];

/* ---- configuration ---- */

static char host_name[256];

static void fill_host(void)
{
	const char *h = kconf_get(kumo_conf, "DEFAULT", "host", NULL);
	if (h && *h)
		snprintf(host_name, sizeof(host_name), "%s", h);
	else if (gethostname(host_name, sizeof(host_name) - 1) != 0 || !*host_name)
		snprintf(host_name, sizeof(host_name), "localhost");
}

const char *cmp_host(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fill_host);
	return host_name;
}

long cmp_conf_int(const char *key, long def)
{
	return kconf_get_int(kumo_conf, "compute", key, def);
}

const char *cmp_conf_str(const char *key, const char *def)
{
	return kconf_get(kumo_conf, "compute", key, def);
}

/* ---- error dialect ---- */

static const char *fault_name(int status)
{
	switch (status) {
	case 400: return "badRequest";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "itemNotFound";
	case 405: return "badMethod";
	case 409: return "conflictingRequest";
	case 413: return "overLimit";
	case 415: return "badMediaType";
	case 429: return "overLimit";
	case 501: return "notImplemented";
	case 503: return "serviceUnavailable";
	default: return "computeFault";
	}
}

void cmp_error_body(kreq *r, int status, const char *message)
{
	if (status == 401) {
		/* keystonemiddleware answers for Nova here, in Keystone's shape */
		kresp_header(r, "WWW-Authenticate", kpool_printf(r->pool, "Keystone uri=\"%s\"",
		             kconf_get(kumo_conf, "keystone_authtoken", "www_authenticate_uri",
		                       "http://127.0.0.1:5000")));
		kresp_json(r, 401, json_pack("{s:{s:i,s:s,s:s}}", "error", "code", 401, "title",
		                             "Unauthorized", "message", message));
		return;
	}
	kresp_json(r, status, json_pack("{s:{s:i,s:s}}", fault_name(status), "code", status,
	                                "message", message));
}

/* ---- microversions ---- */

static const char *version_text(kpool *pool, int v)
{
	return kpool_printf(pool, "%d.%d", v / 1000, v % 1000);
}

/* "2.12" -> 2012; -1 when malformed. */
static int parse_version(const char *s)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return -1;
	long major = strtol(s, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return -1;
	long minor = strtol(end + 1, &end, 10);
	while (*end == ' ')
		end++;
	if (*end || major > 99 || minor > 999)
		return -1;
	return (int)(major * 1000 + minor);
}

static const char *requested_version(kreq *r)
{
	const char *h = kreq_header(r, "OpenStack-API-Version");
	if (h) {
		/* "compute 2.2" (several services may be listed, comma separated) */
		const char *p = h;
		while (p && *p) {
			while (*p == ' ' || *p == ',')
				p++;
			if (strncasecmp(p, "compute ", 8) == 0) {
				p += 8;
				while (*p == ' ')
					p++;
				const char *e = strchr(p, ',');
				return e ? kpool_strndup(r->pool, p, (size_t)(e - p)) : p;
			}
			p = strchr(p, ',');
		}
	}
	return kreq_header(r, "X-OpenStack-Nova-API-Version");
}

static bool cmp_prepare(kreq *r)
{
	const char *h = requested_version(r);
	if (!h || !*h) {
		r->version = CMP_MIN_VERSION;
		return true;
	}
	while (*h == ' ')
		h++;
	if (strcasecmp(h, "latest") == 0) {
		r->version = CMP_MAX_VERSION;
		return true;
	}
	int v = parse_version(h);
	if (v < 0) {
		r->version = CMP_MIN_VERSION;
		kresp_error(r, 400, "API Version String %s is of invalid format. Must be of "
		            "format MajorNum.MinorNum.", h);
		return false;
	}
	if (v < CMP_MIN_VERSION || v > CMP_MAX_VERSION) {
		r->version = 0;
		kresp_error(r, 406, "Version %s is not supported by the API. Minimum is %s and "
		            "maximum is %s.", version_text(r->pool, v),
		            version_text(r->pool, CMP_MIN_VERSION),
		            version_text(r->pool, CMP_MAX_VERSION));
		return false;
	}
	r->version = v;
	return true;
}

static void cmp_decorate(kreq *r)
{
	/* Nova answers with both request id headers; Tempest reads this one */
	kresp_header(r, "X-Compute-Request-Id", r->request_id);
	if (r->version <= 0)
		return;
	const char *v = version_text(r->pool, r->version);
	kresp_header(r, "OpenStack-API-Version", kpool_printf(r->pool, "compute %s", v));
	kresp_header(r, "X-OpenStack-Nova-API-Version", v);
	kresp_header(r, "Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version");
}

/* ---- version documents ---- */

static json_t *version_entry(kreq *r, bool v21)
{
	const char *base = kreq_base_url(r);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:s}]}",
	                 "id", v21 ? "v2.1" : "v2.0",
	                 "status", v21 ? "CURRENT" : "SUPPORTED",
	                 "version", v21 ? version_text(r->pool, CMP_MAX_VERSION) : "",
	                 "min_version", v21 ? version_text(r->pool, CMP_MIN_VERSION) : "",
	                 "updated", v21 ? "2013-07-23T11:33:21Z" : "2011-01-21T11:33:21Z",
	                 "links", "rel", "self", "href",
	                 kpool_printf(r->pool, "%s/%s/", base, v21 ? "v2.1" : "v2"));
}

static void get_versions(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:[o,o]}", "versions", version_entry(r, false),
	                             version_entry(r, true)));
}

static void get_v21(kreq *r)
{
	json_t *v = version_entry(r, true);
	json_array_append_new(json_object_get(v, "links"),
	                      json_pack("{s:s,s:s,s:s}", "rel", "describedby", "type", "text/html",
	                                "href", "http://docs.openstack.org/"));
	json_object_set_new(v, "media-types",
	                    json_pack("[{s:s,s:s}]", "base", "application/json", "type",
	                              "application/vnd.openstack.compute+json;version=2.1"));
	kresp_json(r, 200, json_pack("{s:o}", "version", v));
}

static const kroute version_routes[] = {
	{ "GET", "/", get_versions, KROUTE_PUBLIC },
	{ "GET", "/v2.1", get_v21, KROUTE_PUBLIC },
};

/* ---- lifecycle ---- */

static int open_db(void)
{
	if (!cmp_db)
		cmp_db = kservice_db_open("compute");
	return cmp_db ? 0 : -1;
}

static int compute_init(void)
{
	if (open_db() != 0)
		return -1;
	if (kdb_schema_version(cmp_db, "compute") == 0) {
		klog_error("compute", "the database has no schema: run `kumo manage db-sync` first");
		return -1;
	}
	return cmp_policy_init();
}

static int compute_db_sync(void)
{
	return open_db() == 0 ? cmp_db_sync() : -1;
}

static int compute_start(void)
{
	if (cmp_scheduler_start() != 0 || cmp_conductor_start() != 0)
		return -1;
	if (kconf_get_bool(kumo_conf, "compute", "agent", true))
		return cmp_agent_start();
	return 0;
}

static void compute_stop(void)
{
	cmp_agent_stop();
	cmp_conductor_stop();
	cmp_scheduler_stop();
}

static void compute_fini(void)
{
	kpolicy_free(cmp_policy);
	cmp_policy = NULL;
	kdb_close(cmp_db);
	cmp_db = NULL;
}

kservice compute_service = {
	.name = "compute",
	.catalog_type = "compute",
	.catalog_name = "nova",
	.catalog_description = "OpenStack Compute",
	.endpoint_path = "/v2.1",
	.routes = cmp_routes,
	.error_body = cmp_error_body,
	.max_body = 1 << 20,
	.default_port = 8774,
	.decorate = cmp_decorate,
	.prepare = cmp_prepare,
	.init = compute_init,
	.db_sync = compute_db_sync,
	.start = compute_start,
	.stop = compute_stop,
	.fini = compute_fini,
};

__attribute__((constructor)) static void join_routes(void)
{
	size_t n = 0;
	const struct { const kroute *r; size_t n; } tables[] = {
		{ version_routes, ARRAY_SIZE(version_routes) },
		{ cmp_flavor_routes, cmp_flavor_nroutes },
		{ cmp_keypair_routes, cmp_keypair_nroutes },
		{ cmp_server_routes, cmp_server_nroutes },
		{ cmp_action_routes, cmp_action_nroutes },
		{ cmp_misc_routes, cmp_misc_nroutes },
		{ cmp_image_routes, cmp_image_nroutes },
		{ cmp_interface_routes, cmp_interface_nroutes },
	};
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (size_t i = 0; i < tables[t].n && n < CMP_MAX_ROUTES; i++)
			cmp_routes[n++] = tables[t].r[i];
	compute_service.nroutes = n;
}
