/*
 * service.c - the Identity service as a kservice: its route table, its error
 * dialect, version discovery, and its lifecycle.
 *
 * Routes come from two tables (auth_api.c: /v3/auth/..., routes.c: every
 * resource) joined here once at start-up with the version documents.  The
 * service listens on 5000 and, like the seed's Keystone, on 35357 too; both
 * serve the same API.  GET / and GET /v3 answer with the JSON-Home document
 * (jsonhome.c) to clients that accept application/json-home.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "identity/identity.h"

kdb *id_db;

#define ID_MAX_ROUTES 512
static kroute id_routes[ID_MAX_ROUTES];

const char *id_key_repository(void)
{
	static char buf[4096];
	const char *r = kconf_get(kumo_conf, "identity", "key_repository", NULL);
	if (r && *r)
		return r;
	snprintf(buf, sizeof(buf), "%s/fernet-keys", kumo_state_dir());
	return buf;
}

/* ---- error dialect: {"error": {"code", "title", "message"}} ---- */

void id_error_body(kreq *r, int status, const char *message)
{
	json_t *body = json_pack("{s:{s:i,s:s,s:s}}", "error", "code", status,
	                         "title", khttp_reason(status), "message", message);
	if (status == 401)
		kresp_header(r, "WWW-Authenticate",
		             kpool_printf(r->pool, "Keystone uri=\"%s/v3\"", kreq_base_url(r)));
	kresp_json(r, status, body);
}

const char *id_url(kreq *r, const char *suffix_fmt, ...)
{
	va_list ap;
	va_start(ap, suffix_fmt);
	char *suffix = kpool_vprintf(r->pool, suffix_fmt, ap);
	va_end(ap);
	return kpool_printf(r->pool, "%s/v3/%s", kreq_base_url(r), suffix);
}

json_t *id_links(kreq *r, json_t *obj, const char *collection, const char *id)
{
	json_object_set_new(obj, "links",
	                    json_pack("{s:s}", "self", id_url(r, "%s/%s", collection, id)));
	return obj;
}

json_t *id_list(kreq *r, const char *key, json_t *arr)
{
	const char *self = kpool_printf(r->pool, "%s%s", kreq_base_url(r), r->path);
	return json_pack("{s:o,s:{s:s,s:n,s:n}}", key, arr, "links", "self", self,
	                 "previous", "next");
}

/* ---- version discovery ---- */

static json_t *version_doc(kreq *r)
{
	return json_pack("{s:s,s:s,s:s,s:[{s:s,s:s}],s:[{s:s,s:s}]}",
	                 "id", "v3.14", "status", "stable", "updated", "2020-04-07T00:00:00Z",
	                 "links", "rel", "self", "href",
	                 kpool_printf(r->pool, "%s/v3/", kreq_base_url(r)),
	                 "media-types", "base", "application/json",
	                 "type", "application/vnd.openstack.identity-v3+json");
}

static void get_versions(kreq *r)
{
	if (id_wants_json_home(r)) {
		id_json_home(r, true);
		return;
	}
	kresp_json(r, 300, json_pack("{s:{s:[o]}}", "versions", "values", version_doc(r)));
}

static void get_v3(kreq *r)
{
	if (id_wants_json_home(r)) {
		id_json_home(r, false);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "version", version_doc(r)));
}

static const kroute version_routes[] = {
	{ "GET", "/", get_versions, KROUTE_PUBLIC },
	{ "GET", "/v3", get_v3, KROUTE_PUBLIC },
};

static void decorate(kreq *r)
{
	kresp_header(r, "Vary", "X-Auth-Token");
}

/* ---- lifecycle ---- */

static int open_db(void)
{
	if (!id_db)
		id_db = kservice_db_open("identity");
	return id_db ? 0 : -1;
}

static int identity_init(void)
{
	if (open_db() != 0)
		return -1;
	if (kdb_schema_version(id_db, "identity") == 0) {
		klog_error("identity",
		           "the database has no schema: run `kumo manage db-sync` first");
		return -1;
	}
	if (id_policy_init() != 0)
		return -1;
	if (idfernet_load(id_key_repository()) != 0)
		klog_warn("identity", "no Fernet keys in %s (run `kumo manage fernet-setup`): "
		          "tokens cannot be issued", id_key_repository());
	kauth_set_local_validator(idtoken_validate);
	return 0;
}

static int identity_db_sync(void)
{
	return open_db() == 0 ? id_db_sync() : -1;
}

static void identity_fini(void)
{
	kauth_set_local_validator(NULL);
	idfernet_cred_unload();
	kpolicy_free(id_policy);
	id_policy = NULL;
	kdb_close(id_db);
	id_db = NULL;
}

kservice identity_service = {
	.name = "identity",
	.catalog_type = "identity",
	.catalog_name = "keystone",
	.catalog_description = "OpenStack Identity",
	.endpoint_path = "/v3/",
	.routes = id_routes,
	.error_body = id_error_body,
	.max_body = 1 << 20,
	.default_port = 5000,
	.extra_port = 35357,
	.decorate = decorate,
	.init = identity_init,
	.db_sync = identity_db_sync,
	.fini = identity_fini,
};

__attribute__((constructor)) static void join_routes(void)
{
	size_t n = 0;
	const struct { const kroute *r; size_t n; } tables[] = {
		{ version_routes, ARRAY_SIZE(version_routes) },
		{ id_auth_routes, id_auth_nroutes },
		{ id_resource_routes, id_resource_nroutes },
	};
	for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
		for (size_t i = 0; i < tables[t].n && n < ID_MAX_ROUTES; i++)
			id_routes[n++] = tables[t].r[i];
	identity_service.nroutes = n;
}
