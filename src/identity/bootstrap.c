/*
 * bootstrap.c - `kumo manage bootstrap`, Keystone's `keystone-manage
 * bootstrap`: make a fresh identity database usable.
 *
 * Ensures, creating only what is missing (so running it twice changes
 * nothing, except resetting the admin password when a different one is
 * given):
 *   - the domain "Default" (id "default");
 *   - the roles reader, member, manager, admin, service and ResellerAdmin,
 *     with the implications admin => member => reader (and manager =>
 *     member), so an admin is a member and a reader everywhere; the roles
 *     it creates are immutable (the "immutable" resource option, as with
 *     keystone-manage's default --immutable-roles), except ResellerAdmin;
 *   - the project "admin" and the user "admin" (enabled, with the password)
 *     in Default;
 *   - the admin role for that user on that project and on the system;
 *   - the region, the "keystone" identity service and its public/internal/
 *     admin endpoints when URLs are given (existing ones get the new URL).
 * Everything happens in one transaction.  Passwords are never logged.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"
#include "resource.h"

#define BS_DESC_DOMAIN "The default domain"
#define BS_DESC_PROJECT "Bootstrap project for initializing the cloud."

/* First column of the first row of a one-parameter query (malloc'd). */
static char *lookup(const char *sql, const char *a, const char *b)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, sql);
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, a);
	if (b)
		kstmt_bind_text(st, 2, b);
	if (kstmt_step(st) != KDB_ROW || !kstmt_text(st, 0))
		return NULL;
	return strdup(kstmt_text(st, 0));
}

static int ensure_domain(void)
{
	_cleanup_free_ char *id = lookup("SELECT id FROM id_project WHERE id = ?",
					 ID_DEFAULT_DOMAIN, NULL);
	if (id)
		return 0;
	if (kdb_run(id_db, NULL,
		    "INSERT INTO id_project (id, name, domain_id, parent_id, is_domain, enabled,"
		    " description, extra, created_at)"
		    " VALUES (?, 'Default', ?, NULL, 1, 1, ?, '{}', ?)",
		    "sssi", ID_DEFAULT_DOMAIN, ID_DOMAIN_ROOT, BS_DESC_DOMAIN, kutil_now_us())
	    != KDB_DONE)
		return -1;
	klog_info("identity", "bootstrap: created domain %s", ID_DEFAULT_DOMAIN);
	return 0;
}

/* Id of the global role `name` (case-insensitive), created if missing;
 * immutable (Keystone's --immutable-roles, its default) when asked. */
static char *ensure_role(const char *name, bool immutable)
{
	char key[256];
	snprintf(key, sizeof(key), "%s", name);
	for (char *p = key; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	char *id = lookup("SELECT id FROM id_role WHERE name_key = ? AND domain_id = ?", key,
			  ID_NULL_DOMAIN);
	if (id)
		return id;
	char nid[33];
	kutil_uuid_hex(nid);
	if (kdb_run(id_db, NULL,
		    "INSERT INTO id_role (id, name, name_key, domain_id, description, extra,"
		    " options) VALUES (?, ?, ?, ?, NULL, '{}', ?)", "sssss", nid, name, key,
		    ID_NULL_DOMAIN, immutable ? "{\"immutable\":true}" : "{}") != KDB_DONE)
		return NULL;
	klog_info("identity", "bootstrap: created role %s", name);
	return strdup(nid);
}

static int ensure_implied(const char *prior, const char *implied)
{
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_implied_role (prior_role_id, implied_role_id)"
			 " VALUES (?, ?)", "ss", prior, implied);
	return rc == KDB_DONE || rc == KDB_CONSTRAINT ? 0 : -1;
}

static char *ensure_project(const char *name)
{
	char *id = lookup("SELECT id FROM id_project WHERE name = ? AND domain_id = ?"
			  " AND is_domain = 0", name, ID_DEFAULT_DOMAIN);
	if (id)
		return id;
	char nid[33];
	kutil_uuid_hex(nid);
	if (kdb_run(id_db, NULL,
		    "INSERT INTO id_project (id, name, domain_id, parent_id, is_domain, enabled,"
		    " description, extra, created_at) VALUES (?, ?, ?, ?, 0, 1, ?, '{}', ?)",
		    "sssssi", nid, name, ID_DEFAULT_DOMAIN, ID_DEFAULT_DOMAIN, BS_DESC_PROJECT,
		    kutil_now_us()) != KDB_DONE)
		return NULL;
	klog_info("identity", "bootstrap: created project %s", name);
	return strdup(nid);
}

/* An existing admin user: enabled, and given the password if it differs. */
static int refresh_user(const char *id, const char *name, const char *password, bool *revoke)
{
	if (kdb_run(id_db, NULL, "UPDATE id_user SET enabled = 1 WHERE id = ?", "s", id)
	    != KDB_DONE)
		return -1;
	if (idstore_user_check_password(id, password) == 0)
		return 0;
	_cleanup_free_ char *hash = idstore_hash_password(password);
	if (!hash || kdb_run(id_db, NULL, "UPDATE id_user SET password_hash = ? WHERE id = ?",
			     "ss", hash, id) != KDB_DONE)
		return -1;
	*revoke = true;
	klog_info("identity", "bootstrap: reset password of user %s", name);
	return 0;
}

/* The admin user's id, created if missing.  *revoke is set when an
 * existing user's password changed. */
static char *ensure_user(const char *name, const char *password, bool *revoke)
{
	*revoke = false;
	_cleanup_free_ char *id = lookup("SELECT id FROM id_user WHERE name = ? AND domain_id = ?",
					 name, ID_DEFAULT_DOMAIN);
	if (id)
		return refresh_user(id, name, password, revoke) == 0 ? TAKE_PTR(id) : NULL;
	_cleanup_free_ char *hash = idstore_hash_password(password);
	if (!hash)
		return NULL;
	char nid[33];
	kutil_uuid_hex(nid);
	if (kdb_run(id_db, NULL,
		    "INSERT INTO id_user (id, name, domain_id, password_hash, enabled, extra,"
		    " options, created_at) VALUES (?, ?, ?, ?, 1, '{}', '{}', ?)", "ssssi",
		    nid, name, ID_DEFAULT_DOMAIN, hash, kutil_now_us()) != KDB_DONE)
		return NULL;
	klog_info("identity", "bootstrap: created user %s", name);
	return strdup(nid);
}

static int ensure_region(const char *region_id)
{
	_cleanup_free_ char *id = lookup("SELECT id FROM id_region WHERE id = ?", region_id, NULL);
	if (id)
		return 0;
	if (kdb_run(id_db, NULL, "INSERT INTO id_region (id, description, parent_region_id, extra)"
		    " VALUES (?, '', NULL, '{}')", "s", region_id) != KDB_DONE)
		return -1;
	klog_info("identity", "bootstrap: created region %s", region_id);
	return 0;
}

/* One service of the catalog (found by type) with its endpoints; existing
 * endpoints of the same interface and region get the new URL. */
static int ensure_endpoints(const char *type, const char *name, const char *description,
			    const char *region_id, const char *urls[3])
{
	_cleanup_free_ char *sid = lookup("SELECT id FROM id_service WHERE type = ? ORDER BY id",
					  type, NULL);
	if (!sid) {
		char nid[33];
		kutil_uuid_hex(nid);
		if (kdb_run(id_db, NULL, "INSERT INTO id_service (id, type, name, description,"
			    " enabled, extra) VALUES (?, ?, ?, ?, 1, '{}')", "ssss", nid, type,
			    name, description) != KDB_DONE)
			return -1;
		sid = strdup(nid);
		klog_info("identity", "bootstrap: created %s service %s", type, nid);
	}
	static const char *const ifaces[3] = { "public", "internal", "admin" };
	for (size_t i = 0; i < 3; i++) {
		if (!urls[i] || !*urls[i])
			continue;
		_cleanup_free_ char *eid = NULL;
		{
			_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
				"SELECT id FROM id_endpoint WHERE service_id = ? AND interface = ?"
				" AND (region_id = ? OR (region_id IS NULL AND ? IS NULL))");
			if (!st)
				return -1;
			kstmt_bind_text(st, 1, sid);
			kstmt_bind_text(st, 2, ifaces[i]);
			kstmt_bind_text(st, 3, region_id);
			kstmt_bind_text(st, 4, region_id);
			if (kstmt_step(st) == KDB_ROW)
				eid = strdup(kstmt_text(st, 0));
		}
		if (eid) {
			if (kdb_run(id_db, NULL, "UPDATE id_endpoint SET url = ?, enabled = 1"
				    " WHERE id = ?", "ss", urls[i], eid) != KDB_DONE)
				return -1;
			continue;
		}
		char nid[33];
		kutil_uuid_hex(nid);
		if (kdb_run(id_db, NULL, "INSERT INTO id_endpoint (id, service_id, interface,"
			    " region_id, url, enabled, extra) VALUES (?, ?, ?, ?, ?, 1, '{}')",
			    "sssss", nid, sid, ifaces[i], region_id, urls[i]) != KDB_DONE)
			return -1;
		klog_info("identity", "bootstrap: created %s %s endpoint %s", type, ifaces[i],
			  urls[i]);
	}
	return 0;
}

/* "http://host:5000/v3/" -> "http://host" (malloc'd), NULL when unparsable. */
static char *url_origin(const char *url)
{
	const char *p = strstr(url, "://");
	if (!p)
		return NULL;
	p += 3;
	size_t n = strcspn(p, ":/");
	if (n == 0)
		return NULL;
	return strndup(url, (size_t)(p - url) + n);
}

/* The identity endpoints from the options, then, when a public URL says on
 * which host the cloud answers, every other service Kumo runs on that host
 * with its configured port, as the seed registers glance, nova... by hand. */
static int ensure_catalog(const id_bootstrap_opts *o, const char *region_id)
{
	if (!o->public_url && !o->internal_url && !o->admin_url)
		return 0;
	const char *id_urls[3] = { o->public_url, o->internal_url, o->admin_url };
	if (ensure_endpoints("identity", o->service_name ? o->service_name : "keystone",
			     "OpenStack Identity", region_id, id_urls) != 0)
		return -1;
	_cleanup_free_ char *origin = o->public_url ? url_origin(o->public_url) : NULL;
	if (!origin)
		return 0;
	for (int i = 0; kservice_all[i]; i++) {
		const kservice *s = kservice_all[i];
		/* services without a catalog entry (the metadata API, the console
		 * proxy) are reached through others, not through the catalog */
		if (!s->catalog_type || !strcmp(s->catalog_type, "identity") || !s->endpoint_path)
			continue;
		long port = kconf_get_int(kumo_conf, s->name, "port", s->default_port);
		_cleanup_free_ char *url = NULL;
		if (asprintf(&url, "%s:%ld%s", origin, port, s->endpoint_path) < 0)
			return -1;
		const char *urls[3] = { url, url, url };
		if (ensure_endpoints(s->catalog_type, s->catalog_name ? s->catalog_name : s->name,
				     s->catalog_description, region_id, urls) != 0)
			return -1;
	}
	return 0;
}

static int run(const id_bootstrap_opts *o, char **user_id, bool *revoke)
{
	const char *username = o->username ? o->username : "admin";
	const char *project_name = o->project_name ? o->project_name : "admin";
	const char *admin_name = o->role_name ? o->role_name : "admin";
	const char *region_id = o->region_id && *o->region_id ? o->region_id : NULL;

	if (ensure_domain() != 0)
		return -1;
	_cleanup_free_ char *reader = ensure_role("reader", true);
	_cleanup_free_ char *member = ensure_role("member", true);
	_cleanup_free_ char *manager = ensure_role("manager", true);
	_cleanup_free_ char *admin = ensure_role(admin_name, true);
	_cleanup_free_ char *service = ensure_role("service", true);
	_cleanup_free_ char *reseller = ensure_role("ResellerAdmin", false);
	if (!reader || !member || !manager || !admin || !service || !reseller)
		return -1;
	if (ensure_implied(member, reader) != 0 || ensure_implied(manager, member) != 0 ||
	    ensure_implied(admin, member) != 0)
		return -1;
	_cleanup_free_ char *project = ensure_project(project_name);
	if (!project)
		return -1;
	*user_id = ensure_user(username, o->password, revoke);
	if (!*user_id)
		return -1;
	if (idstore_grant_add("UserProject", *user_id, project, admin, false) != KDB_DONE ||
	    idstore_grant_add("UserSystem", *user_id, "system", admin, false) != KDB_DONE)
		return -1;
	if (region_id && ensure_region(region_id) != 0)
		return -1;
	return ensure_catalog(o, region_id);
}

int id_bootstrap(const id_bootstrap_opts *o)
{
	if (!id_db) {
		klog_error("identity", "bootstrap: database not open");
		return -1;
	}
	if (!o || !o->password || !*o->password) {
		klog_error("identity", "bootstrap: a password is required");
		return -1;
	}
	_cleanup_free_ char *user_id = NULL;
	bool revoke = false;
	if (kdb_begin(id_db) != 0) {
		klog_error("identity", "bootstrap: cannot start a transaction");
		return -1;
	}
	if (run(o, &user_id, &revoke) != 0) {
		kdb_rollback(id_db);
		klog_error("identity", "bootstrap failed (has `kumo manage db-sync` run?)");
		return -1;
	}
	if (kdb_commit(id_db) != 0) {
		klog_error("identity", "bootstrap: commit failed");
		return -1;
	}
	if (revoke)
		idtoken_revoke_user(user_id);
	klog_info("identity", "bootstrap complete");
	return 0;
}
