/*
 * jsonhome.c - the JSON-Home document (RFC draft "Home Documents for HTTP
 * APIs") that Keystone serves on GET / and GET /v3 when the client asks for
 * "Accept: application/json-home".
 *
 * One entry per resource Kumo serves, named with Keystone's relation URLs
 * (https://docs.openstack.org/api/openstack-identity/3/rel/<name>, or
 * .../ext/<EXT>/1.0/rel/<name> for extensions), so a client that looks a
 * relation up finds what Keystone would have given it.  A path without
 * parameters is an "href"; one with {params} is an "href-template" with
 * "href-vars" naming each parameter's relation, as Keystone does.  On "/"
 * the paths carry the /v3 prefix.  Resources Kumo lacks (federation, trusts,
 * OAuth1 tokens, endpoint policy, PKI, EC2/S3 token checks) are left out.
 */
#include <string.h>

#include "core/json.h"
#include "identity.h"

#define REL "https://docs.openstack.org/api/openstack-identity/3/"

typedef struct home_res {
	const char *rel;      /* after REL: "rel/users", "ext/OS-EP-FILTER/1.0/rel/..." */
	const char *path;     /* under /v3 */
	const char *status;   /* hints.status, or NULL */
} home_res;

static const home_res resources[] = {
	{ "rel/auth_tokens", "/auth/tokens", NULL },
	{ "rel/auth_catalog", "/auth/catalog", NULL },
	{ "rel/auth_projects", "/auth/projects", NULL },
	{ "rel/auth_domains", "/auth/domains", NULL },
	{ "rel/auth_system", "/auth/system", NULL },
	{ "rel/credentials", "/credentials", NULL },
	{ "rel/credential", "/credentials/{credential_id}", NULL },
	{ "rel/domains", "/domains", NULL },
	{ "rel/domain", "/domains/{domain_id}", NULL },
	{ "rel/domain_config", "/domains/{domain_id}/config", NULL },
	{ "rel/domain_config_group", "/domains/{domain_id}/config/{group}", NULL },
	{ "rel/domain_config_option", "/domains/{domain_id}/config/{group}/{option}", NULL },
	{ "rel/domain_config_default", "/domains/config/default", NULL },
	{ "rel/domain_config_default_group", "/domains/config/{group}/default", NULL },
	{ "rel/domain_config_default_option", "/domains/config/{group}/{option}/default", NULL },
	{ "rel/domain_user_roles", "/domains/{domain_id}/users/{user_id}/roles", NULL },
	{ "rel/domain_user_role", "/domains/{domain_id}/users/{user_id}/roles/{role_id}", NULL },
	{ "rel/domain_group_roles", "/domains/{domain_id}/groups/{group_id}/roles", NULL },
	{ "rel/domain_group_role", "/domains/{domain_id}/groups/{group_id}/roles/{role_id}",
	  NULL },
	{ "rel/endpoints", "/endpoints", NULL },
	{ "rel/endpoint", "/endpoints/{endpoint_id}", NULL },
	{ "rel/groups", "/groups", NULL },
	{ "rel/group", "/groups/{group_id}", NULL },
	{ "rel/group_users", "/groups/{group_id}/users", NULL },
	{ "rel/group_user", "/groups/{group_id}/users/{user_id}", NULL },
	{ "rel/limits", "/limits", "experimental" },
	{ "rel/limit", "/limits/{limit_id}", "experimental" },
	{ "rel/limit_model", "/limits/model", "experimental" },
	{ "ext/OS-EP-FILTER/1.0/rel/endpoint_groups", "/OS-EP-FILTER/endpoint_groups", NULL },
	{ "ext/OS-EP-FILTER/1.0/rel/endpoint_group",
	  "/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}", NULL },
	{ "ext/OS-EP-FILTER/1.0/rel/endpoint_projects",
	  "/OS-EP-FILTER/endpoints/{endpoint_id}/projects", NULL },
	{ "ext/OS-EP-FILTER/1.0/rel/project_endpoint",
	  "/OS-EP-FILTER/projects/{project_id}/endpoints/{endpoint_id}", NULL },
	{ "ext/OS-EP-FILTER/1.0/rel/project_endpoints",
	  "/OS-EP-FILTER/projects/{project_id}/endpoints", NULL },
	{ "ext/OS-EP-FILTER/1.0/rel/project_endpoint_groups",
	  "/OS-EP-FILTER/projects/{project_id}/endpoint_groups", NULL },
	{ "ext/OS-EP-FILTER/1.0/rel/endpoints_in_endpoint_group",
	  "/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}/endpoints", NULL },
	{ "ext/OS-EP-FILTER/1.0/rel/projects_associated_with_endpoint_group",
	  "/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}/projects", NULL },
	{ "ext/OS-EP-FILTER/1.0/rel/endpoint_group_to_project_association",
	  "/OS-EP-FILTER/endpoint_groups/{endpoint_group_id}/projects/{project_id}", NULL },
	{ "ext/OS-INHERIT/1.0/rel/domain_group_role_inherited_to_projects",
	  "/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles/{role_id}"
	  "/inherited_to_projects", NULL },
	{ "ext/OS-INHERIT/1.0/rel/domain_group_roles_inherited_to_projects",
	  "/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles/inherited_to_projects", NULL },
	{ "ext/OS-INHERIT/1.0/rel/domain_user_role_inherited_to_projects",
	  "/OS-INHERIT/domains/{domain_id}/users/{user_id}/roles/{role_id}"
	  "/inherited_to_projects", NULL },
	{ "ext/OS-INHERIT/1.0/rel/domain_user_roles_inherited_to_projects",
	  "/OS-INHERIT/domains/{domain_id}/users/{user_id}/roles/inherited_to_projects", NULL },
	{ "ext/OS-INHERIT/1.0/rel/project_user_role_inherited_to_projects",
	  "/OS-INHERIT/projects/{project_id}/users/{user_id}/roles/{role_id}"
	  "/inherited_to_projects", NULL },
	{ "ext/OS-INHERIT/1.0/rel/project_group_role_inherited_to_projects",
	  "/OS-INHERIT/projects/{project_id}/groups/{group_id}/roles/{role_id}"
	  "/inherited_to_projects", NULL },
	{ "ext/OS-OAUTH1/1.0/rel/consumers", "/OS-OAUTH1/consumers", NULL },
	{ "ext/OS-OAUTH1/1.0/rel/consumer", "/OS-OAUTH1/consumers/{consumer_id}", NULL },
	{ "ext/OS-REVOKE/1.0/rel/events", "/OS-REVOKE/events", NULL },
	{ "rel/policies", "/policies", NULL },
	{ "rel/policy", "/policies/{policy_id}", NULL },
	{ "rel/projects", "/projects", NULL },
	{ "rel/project", "/projects/{project_id}", NULL },
	{ "rel/project_tags", "/projects/{project_id}/tags/{value}", NULL },
	{ "rel/project_user_role", "/projects/{project_id}/users/{user_id}/roles/{role_id}",
	  NULL },
	{ "rel/project_user_roles", "/projects/{project_id}/users/{user_id}/roles", NULL },
	{ "rel/project_group_role", "/projects/{project_id}/groups/{group_id}/roles/{role_id}",
	  NULL },
	{ "rel/project_group_roles", "/projects/{project_id}/groups/{group_id}/roles", NULL },
	{ "rel/regions", "/regions", NULL },
	{ "rel/region", "/regions/{region_id}", NULL },
	{ "rel/registered_limits", "/registered_limits", "experimental" },
	{ "rel/registered_limit", "/registered_limits/{registered_limit_id}", "experimental" },
	{ "rel/role_assignments", "/role_assignments", NULL },
	{ "rel/role_inferences", "/role_inferences", NULL },
	{ "rel/roles", "/roles", NULL },
	{ "rel/role", "/roles/{role_id}", NULL },
	{ "rel/implied_roles", "/roles/{prior_role_id}/implies", NULL },
	{ "rel/implied_role", "/roles/{prior_role_id}/implies/{implied_role_id}", NULL },
	{ "rel/services", "/services", NULL },
	{ "rel/service", "/services/{service_id}", NULL },
	{ "rel/system_user_roles", "/system/users/{user_id}/roles", NULL },
	{ "rel/system_user_role", "/system/users/{user_id}/roles/{role_id}", NULL },
	{ "rel/system_group_roles", "/system/groups/{group_id}/roles", NULL },
	{ "rel/system_group_role", "/system/groups/{group_id}/roles/{role_id}", NULL },
	{ "rel/users", "/users", NULL },
	{ "rel/user", "/users/{user_id}", NULL },
	{ "rel/user_change_password", "/users/{user_id}/password", NULL },
	{ "rel/user_groups", "/users/{user_id}/groups", NULL },
	{ "rel/user_projects", "/users/{user_id}/projects", NULL },
	{ "ext/OS-EC2/1.0/rel/user_credentials", "/users/{user_id}/credentials/OS-EC2", NULL },
	{ "ext/OS-EC2/1.0/rel/user_credential",
	  "/users/{user_id}/credentials/OS-EC2/{credential_id}", NULL },
	{ "rel/application_credentials", "/users/{user_id}/application_credentials", NULL },
	{ "rel/application_credential",
	  "/users/{user_id}/application_credentials/{application_credential_id}", NULL },
	{ "rel/access_rules", "/users/{user_id}/access_rules", NULL },
	{ "rel/access_rule", "/users/{user_id}/access_rules/{access_rule_id}", NULL },
};

/* The relation of a path parameter, as Keystone names it. */
static const char *param_rel(kpool *pool, const char *name)
{
	static const struct { const char *name, *rel; } special[] = {
		{ "group", "param/config_group" },
		{ "option", "param/config_option" },
		{ "value", "param/tag_value" },
		{ "prior_role_id", "param/role_id" },
		{ "implied_role_id", "param/role_id" },
		{ "endpoint_group_id", "ext/OS-EP-FILTER/1.0/param/endpoint_group_id" },
		{ "consumer_id", "ext/OS-OAUTH1/1.0/param/consumer_id" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(special); i++)
		if (strcmp(special[i].name, name) == 0)
			return kpool_printf(pool, REL "%s", special[i].rel);
	return kpool_printf(pool, REL "param/%s", name);
}

static json_t *document(kreq *r, const char *prefix)
{
	json_t *res = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(resources); i++) {
		const home_res *h = &resources[i];
		const char *path = kpool_printf(r->pool, "%s%s", prefix, h->path);
		json_t *e = json_object();
		if (!strchr(path, '{')) {
			json_object_set_new(e, "href", json_string(path));
		} else {
			json_object_set_new(e, "href-template", json_string(path));
			json_t *vars = json_object();
			for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
				const char *end = strchr(p, '}');
				if (!end)
					break;
				const char *name = kpool_strndup(r->pool, p + 1,
								 (size_t)(end - p - 1));
				json_object_set_new(vars, name,
						    json_string(param_rel(r->pool, name)));
			}
			json_object_set_new(e, "href-vars", vars);
		}
		if (h->status)
			json_object_set_new(e, "hints", json_pack("{s:s}", "status", h->status));
		json_object_set_new(res, kpool_printf(r->pool, REL "%s", h->rel), e);
	}
	return json_pack("{s:o}", "resources", res);
}

bool id_wants_json_home(kreq *r)
{
	const char *accept = kreq_header(r, "Accept");
	return accept && strstr(accept, "application/json-home") != NULL;
}

void id_json_home(kreq *r, bool root)
{
	_cleanup_json_ json_t *doc = document(r, root ? "/v3" : "");
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
	if (!text) {
		kresp_error(r, 500, "An unexpected error prevented the server from fulfilling "
			    "your request.");
		return;
	}
	kresp_raw(r, 200, "application/json-home", text, strlen(text));
}
