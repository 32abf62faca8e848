/*
 * domain_config.c - domain-specific configuration,
 * /v3/domains/{domain_id}/config[/{group}[/{option}]] and the defaults,
 * /v3/domains/config[/{group}[/{option}]]/default.
 *
 * Keystone lets a domain carry its own [identity] and [ldap] options (its
 * users would then come from that LDAP).  Kumo keeps only SQL users, so it
 * stores and serves these options without acting on them, with Keystone's
 * rules:
 *   - only the groups and options Keystone allows (its whitelist, plus the
 *     sensitive [ldap] password) may be set; anything else, or an empty
 *     config or group, is 403 "Invalid domain specific configuration";
 *   - PUT replaces the whole config (201 when there was none, else 200);
 *     PATCH merges, and with a group or option in the path may only touch
 *     that group or option, which must already be set;
 *   - sensitive options are stored but never shown;
 *   - the defaults are Keystone 22's built-in values for those options.
 * Values are any JSON value, stored as JSON text, one row per option.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "resource.h"

static const char *const identity_opts[] = { "driver", "list_limit", NULL };
static const char *const ldap_opts[] = {
	"url", "user", "suffix", "query_scope", "page_size", "alias_dereferencing",
	"debug_level", "chase_referrals", "user_tree_dn", "user_filter", "user_objectclass",
	"user_id_attribute", "user_name_attribute", "user_mail_attribute",
	"user_description_attribute", "user_pass_attribute", "user_enabled_attribute",
	"user_enabled_invert", "user_enabled_mask", "user_enabled_default",
	"user_attribute_ignore", "user_default_project_id_attribute", "user_enabled_emulation",
	"user_enabled_emulation_dn", "user_enabled_emulation_use_group_config",
	"user_additional_attribute_mapping", "group_tree_dn", "group_filter",
	"group_objectclass", "group_id_attribute", "group_name_attribute",
	"group_members_are_ids", "group_member_attribute", "group_desc_attribute",
	"group_attribute_ignore", "group_additional_attribute_mapping", "tls_cacertfile",
	"tls_cacertdir", "use_tls", "tls_req_cert", "use_pool", "pool_size", "pool_retry_max",
	"pool_retry_delay", "pool_connection_timeout", "pool_connection_lifetime",
	"use_auth_pool", "auth_pool_size", "auth_pool_connection_lifetime", NULL
};

/* Keystone 22's defaults for the whitelisted options (GET .../default). */
static const char default_config[] =
	"{\"identity\": {\"driver\": \"sql\", \"list_limit\": null},"
	" \"ldap\": {\"url\": \"ldap://localhost\", \"user\": null,"
	" \"suffix\": \"cn=example,cn=com\", \"query_scope\": \"one\", \"page_size\": 0,"
	" \"alias_dereferencing\": \"default\", \"debug_level\": null, \"chase_referrals\": null,"
	" \"user_tree_dn\": null, \"user_filter\": null, \"user_objectclass\": \"inetOrgPerson\","
	" \"user_id_attribute\": \"cn\", \"user_name_attribute\": \"sn\","
	" \"user_mail_attribute\": \"mail\", \"user_description_attribute\": \"description\","
	" \"user_pass_attribute\": \"userPassword\", \"user_enabled_attribute\": \"enabled\","
	" \"user_enabled_invert\": false, \"user_enabled_mask\": 0,"
	" \"user_enabled_default\": \"True\", \"user_attribute_ignore\": [\"default_project_id\"],"
	" \"user_default_project_id_attribute\": null, \"user_enabled_emulation\": false,"
	" \"user_enabled_emulation_dn\": null, \"user_enabled_emulation_use_group_config\": false,"
	" \"user_additional_attribute_mapping\": [], \"group_tree_dn\": null,"
	" \"group_filter\": null, \"group_objectclass\": \"groupOfNames\","
	" \"group_id_attribute\": \"cn\", \"group_name_attribute\": \"ou\","
	" \"group_members_are_ids\": false, \"group_member_attribute\": \"member\","
	" \"group_desc_attribute\": \"description\", \"group_attribute_ignore\": [],"
	" \"group_additional_attribute_mapping\": [], \"tls_cacertfile\": null,"
	" \"tls_cacertdir\": null, \"use_tls\": false, \"tls_req_cert\": \"demand\","
	" \"use_pool\": true, \"pool_size\": 10, \"pool_retry_max\": 3, \"pool_retry_delay\": 0.1,"
	" \"pool_connection_timeout\": -1, \"pool_connection_lifetime\": 600,"
	" \"use_auth_pool\": true, \"auth_pool_size\": 100,"
	" \"auth_pool_connection_lifetime\": 60}}";

static bool listed(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static bool known_group(const char *g)
{
	return strcmp(g, "identity") == 0 || strcmp(g, "ldap") == 0;
}

static bool sensitive(const char *group, const char *opt)
{
	return strcmp(group, "ldap") == 0 && strcmp(opt, "password") == 0;
}

static bool known_option(const char *group, const char *opt)
{
	if (strcmp(group, "identity") == 0)
		return listed(identity_opts, opt);
	return listed(ldap_opts, opt) || sensitive(group, opt);
}

/* 403 "Invalid domain specific configuration: <reason>." */
static void invalid(kreq *r, const char *fmt, const char *a, const char *b)
{
	kresp_error(r, 403, "Invalid domain specific configuration: %s.",
		    kpool_printf(r->pool, fmt, a ? a : "", b ? b : ""));
}

/* Keystone's _assert_valid_group_and_option; false when answered. */
static bool valid_path(kreq *r, const char *group, const char *opt)
{
	if (group && !known_group(group)) {
		invalid(r, "Group %s is not supported for domain specific configurations%s", group,
			NULL);
		return false;
	}
	if (opt && !known_option(group, opt)) {
		invalid(r, "Option %s in group %s is not supported for domain specific "
			"configurations", opt, group);
		return false;
	}
	return true;
}

/* Keystone's _assert_valid_config; false when answered. */
static bool valid_config(kreq *r, const json_t *config)
{
	if (!json_is_object(config) || json_object_size(config) == 0) {
		invalid(r, "No options specified%s%s", NULL, NULL);
		return false;
	}
	const char *g, *o;
	json_t *opts, *v;
	json_object_foreach((json_t *)config, g, opts) {
		if (!json_is_object(opts) || json_object_size(opts) == 0) {
			invalid(r, "The value of group %s specified in the config should be a "
				"dictionary of options%s", g, NULL);
			return false;
		}
		if (!valid_path(r, g, NULL))
			return false;
		json_object_foreach(opts, o, v) {
			if (!valid_path(r, g, o))
				return false;
		}
	}
	return true;
}

/* The stored config of a domain, {group: {option: value}}, optionally
 * limited to a group / option, with or without the sensitive options. */
static json_t *load(const char *domain_id, const char *group, const char *opt,
		    bool with_sensitive)
{
	json_t *out = json_object();
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT grp, opt, value, is_sensitive FROM id_domain_config WHERE domain_id = ?"
		" ORDER BY grp, opt");
	if (!st)
		return out;
	kstmt_bind_text(st, 1, domain_id);
	while (kstmt_step(st) == KDB_ROW) {
		const char *g = kstmt_text(st, 0), *o = kstmt_text(st, 1);
		if ((group && strcmp(g, group) != 0) || (opt && strcmp(o, opt) != 0) ||
		    (!with_sensitive && kstmt_int(st, 3)))
			continue;
		json_t *v = json_loads(kstmt_text(st, 2), JSON_DECODE_ANY, NULL);
		json_t *gobj = json_object_get(out, g);
		if (!gobj) {
			gobj = json_object();
			json_object_set_new(out, g, gobj);
		}
		json_object_set_new(gobj, o, v ? v : json_null());
	}
	return out;
}

static int store(const char *domain_id, const json_t *config)
{
	const char *g, *o;
	json_t *opts, *v;
	json_object_foreach((json_t *)config, g, opts) {
		json_object_foreach(opts, o, v) {
			_cleanup_free_ char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			if (!text)
				return -1;
			if (kdb_run(id_db, NULL, "DELETE FROM id_domain_config WHERE"
				    " domain_id = ? AND grp = ? AND opt = ?", "sss", domain_id, g,
				    o) != KDB_DONE ||
			    kdb_run(id_db, NULL, "INSERT INTO id_domain_config (domain_id, grp,"
				    " opt, value, is_sensitive) VALUES (?, ?, ?, ?, ?)", "ssssb",
				    domain_id, g, o, text, sensitive(g, o)) != KDB_DONE)
				return -1;
		}
	}
	return 0;
}

static void not_found(kreq *r, const char *domain_id, const char *group, const char *opt)
{
	const char *what = opt ? kpool_printf(r->pool, "option %s in group %s", opt, group)
		: group ? kpool_printf(r->pool, "group %s", group) : "any options";
	kresp_error(r, 404, "Could not find %s in domain configuration for domain %s.", what,
		    domain_id);
}

/* The {"config": ...} answer for a group/option view of cfg. */
static json_t *view(const json_t *cfg, const char *group, const char *opt)
{
	json_t *c;
	if (opt)
		c = json_pack("{s:O}", opt, json_object_get(json_object_get(cfg, group), opt));
	else
		c = json_deep_copy(cfg);
	return json_pack("{s:o}", "config", c);
}

/* Policy, then the domain of the path; false when answered. */
static bool path_domain(kreq *r, const char *action)
{
	if (!id_enforce(r, action, NULL))
		return false;
	const char *id = kreq_param(r, "domain_id");
	_cleanup_json_ json_t *d = idstore_domain_get(id);
	if (!d) {
		id_not_found(r, "domain", id);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */

void id_domain_config_get(kreq *r)
{
	const char *id = kreq_param(r, "domain_id");
	const char *group = kreq_param(r, "group"), *opt = kreq_param(r, "option");
	if (group && strcmp(group, "security_compliance") == 0) {
		/* what a client may read of the password rules: Kumo has none */
		if (!id_enforce(r, "identity:get_security_compliance_domain_config", NULL))
			return;
		if (strcmp(id, ID_DEFAULT_DOMAIN) != 0) {
			invalid(r, "Reading security compliance information for any domain other "
				"than the default domain is not allowed or supported%s%s", NULL,
				NULL);
			return;
		}
		if (opt && strcmp(opt, "password_regex") != 0 &&
		    strcmp(opt, "password_regex_description") != 0) {
			invalid(r, "Reading security compliance values other than password_regex "
				"and password_regex_description is not allowed%s%s", NULL, NULL);
			return;
		}
		kresp_json(r, 200, opt ? json_pack("{s:{s:n}}", "config", opt)
			   : json_pack("{s:{s:n,s:n}}", "config", "password_regex",
				       "password_regex_description"));
		return;
	}
	if (!path_domain(r, "identity:get_domain_config") || !valid_path(r, group, opt))
		return;
	_cleanup_json_ json_t *cfg = load(id, group, opt, false);
	if (json_object_size(cfg) == 0) {
		not_found(r, id, group, opt);
		return;
	}
	kresp_json(r, 200, view(cfg, group, opt));
}

void id_domain_config_put(kreq *r)
{
	if (!path_domain(r, "identity:create_domain_config"))
		return;
	json_t *body = id_json_body(r);
	if (!body || !valid_config(r, json_object_get(body, "config")))
		return;
	const char *id = kreq_param(r, "domain_id");
	_cleanup_json_ json_t *before = load(id, NULL, NULL, true);
	kdb_begin(id_db);
	if (kdb_run(id_db, NULL, "DELETE FROM id_domain_config WHERE domain_id = ?", "s", id)
	    != KDB_DONE || store(id, json_object_get(body, "config")) != 0) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	_cleanup_json_ json_t *cfg = load(id, NULL, NULL, false);
	kresp_json(r, json_object_size(before) ? 200 : 201, view(cfg, NULL, NULL));
}

void id_domain_config_update(kreq *r)
{
	if (!path_domain(r, "identity:update_domain_config"))
		return;
	const char *id = kreq_param(r, "domain_id");
	const char *group = kreq_param(r, "group"), *opt = kreq_param(r, "option");
	json_t *body = id_json_body(r);
	if (!body)
		return;
	json_t *config = json_object_get(body, "config");
	_cleanup_json_ json_t *upd = group && opt && json_is_object(config)
		? json_pack("{s:O}", group, config) : json_incref(config);
	if (!valid_config(r, upd) || !valid_path(r, group, opt))
		return;
	if (group) {
		json_t *gopts = json_object_get(upd, group);
		if (json_object_size(upd) != 1 || !gopts ||
		    (opt && (json_object_size(gopts) != 1 || !json_object_get(gopts, opt)))) {
			kresp_error(r, 403, "Invalid domain specific configuration: %s.", opt
				    ? kpool_printf(r->pool, "Trying to update option %s in group "
						   "%s, so that, and only that, option must be "
						   "specified  in the config", opt, group)
				    : kpool_printf(r->pool, "Trying to update group %s, so that, "
						   "and only that, group must be specified in the "
						   "config", group));
			return;
		}
		_cleanup_json_ json_t *cur = load(id, group, opt, true);
		if (json_object_size(cur) == 0) {
			not_found(r, id, group, opt);
			return;
		}
	}
	kdb_begin(id_db);
	if (store(id, upd) != 0) {
		kdb_rollback(id_db);
		id_internal(r);
		return;
	}
	if (kdb_commit(id_db) != 0) {
		id_internal(r);
		return;
	}
	_cleanup_json_ json_t *cfg = load(id, NULL, NULL, false);
	kresp_json(r, 200, view(cfg, NULL, NULL));
}

void id_domain_config_delete(kreq *r)
{
	if (!path_domain(r, "identity:delete_domain_config"))
		return;
	const char *id = kreq_param(r, "domain_id");
	const char *group = kreq_param(r, "group"), *opt = kreq_param(r, "option");
	if (!valid_path(r, group, opt))
		return;
	if (group) {
		_cleanup_json_ json_t *cur = load(id, group, opt, true);
		if (json_object_size(cur) == 0) {
			not_found(r, id, group, opt);
			return;
		}
	}
	int rc = opt ? kdb_run(id_db, NULL, "DELETE FROM id_domain_config WHERE domain_id = ? AND"
			       " grp = ? AND opt = ?", "sss", id, group, opt)
		: group ? kdb_run(id_db, NULL, "DELETE FROM id_domain_config WHERE domain_id = ?"
				  " AND grp = ?", "ss", id, group)
		: kdb_run(id_db, NULL, "DELETE FROM id_domain_config WHERE domain_id = ?", "s", id);
	if (rc != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}

void id_domain_config_default(kreq *r)
{
	if (!id_enforce(r, "identity:get_domain_config_default", NULL))
		return;
	const char *group = kreq_param(r, "group"), *opt = kreq_param(r, "option");
	if (!valid_path(r, group, opt))
		return;
	_cleanup_json_ json_t *all = json_loads(default_config, 0, NULL);
	if (!all) {
		id_internal(r);
		return;
	}
	if (opt && !json_object_get(json_object_get(all, group), opt)) {
		/* the sensitive password has no default to show */
		invalid(r, "Reading the default for option %s in group %s is not supported", opt,
			group);
		return;
	}
	json_t *cfg = group ? json_pack("{s:O}", group, json_object_get(all, group))
			    : json_incref(all);
	json_t *out = view(cfg, group, opt);
	json_decref(cfg);
	kresp_json(r, 200, out);
}
