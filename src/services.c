/*
 * services.c - the table of every service the kumo binary can run, and the
 * few helpers they share for finding their state.
 *
 * To add a service: write src/<service>/, give it a kservice, list it here.
 */
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "core/db.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"
#include "identity/identity.h"
#include "compute/compute.h"
#include "image/image.h"
#include "network/network.h"

const kservice *const kservice_all[] = {
	&identity_service,
	&image_service,
	&network_service,
	&compute_service,
	&cmp_console_service,
	&cmp_metadata_service,
	NULL,
};

const kservice *kservice_find(const char *name)
{
	for (int i = 0; kservice_all[i]; i++)
		if (strcmp(kservice_all[i]->name, name) == 0)
			return kservice_all[i];
	return NULL;
}

const char *kumo_state_dir(void)
{
	return kconf_get(kumo_conf, "DEFAULT", "state_dir", "/var/lib/kumo");
}

char *kservice_db_url(const char *name)
{
	const char *url = kconf_get(kumo_conf, name, "connection", NULL);
	char *r = NULL;
	if (url && *url)
		r = strdup(url);
	else if (asprintf(&r, "sqlite:///%s/%s.db", kumo_state_dir(), name) < 0)
		r = NULL;
	return r;
}

kdb *kservice_db_open(const char *name)
{
	_cleanup_free_ char *url = kservice_db_url(name);
	char err[256] = "";
	if (!url)
		return NULL;
	if (strncmp(url, "sqlite:///", 10) == 0)
		kutil_mkdir_p(kumo_state_dir(), 0700);
	kdb *db = kdb_open(url, err, sizeof(err));
	if (!db)
		klog_error(name, "cannot open database: %s", err);
	return db;
}
