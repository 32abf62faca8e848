/*
 * service.h - what a Kumo service (identity, image, compute, ...) is.
 *
 * A service is a static description: its name, catalog type, route table,
 * error dialect, and lifecycle hooks.  The `kumo` binary knows every service
 * through kservice_all[]; `kumo all` starts them all in one process,
 * `kumo <service>` starts one.  Adding a service = one folder + one entry in
 * service.c.
 */
#ifndef KUMO_SERVICE_H
#define KUMO_SERVICE_H

#include "common.h"
#include "http.h"

struct kservice {
	const char *name;             /* "identity": also the config section */
	const char *catalog_type;     /* "identity" */
	const char *catalog_name;     /* the OpenStack name in the catalog: "keystone", "glance" */
	const char *catalog_description;  /* "OpenStack Identity" */
	/* Endpoint URL path after host:port, registered in the catalog by
	 * bootstrap: "/v3/" for identity, "" for image, "/v2.1" for compute,
	 * "/v1/AUTH_%(project_id)s" for object storage... */
	const char *endpoint_path;
	const kroute *routes;
	size_t nroutes;
	/* Answer an error in this service's JSON dialect (must call kresp_*). */
	void (*error_body)(kreq *r, int status, const char *message);
	size_t max_body;              /* bytes; 0 = 1 MiB default */
	int default_port;             /* 5000 */
	int extra_port;               /* 35357 for identity, 0 = none */
	/* Extra response headers added to every answer (e.g. Vary), or NULL. */
	void (*decorate)(kreq *r);
	/* Called after authentication, before the handler (e.g. microversion
	 * negotiation into r->version); returns false when it answered (406). */
	bool (*prepare)(kreq *r);

	/* Lifecycle: open databases, load keys...  0 = ok. */
	int (*init)(void);
	/* Database schema upgrade (kumo manage db-sync); 0 = ok. */
	int (*db_sync)(void);
	/* Periodic tasks / background threads start & stop (optional). */
	int (*start)(void);
	void (*stop)(void);
	void (*fini)(void);
};

extern const kservice *const kservice_all[];
const kservice *kservice_find(const char *name);

/* [DEFAULT] state_dir (default /var/lib/kumo). */
const char *kumo_state_dir(void);
/* [<name>] connection, default "sqlite:///<state_dir>/<name>.db" (malloc'd). */
char *kservice_db_url(const char *name);
/* Open a service's database from kservice_db_url(); NULL (logged) on error. */
struct kdb *kservice_db_open(const char *name);

#endif
