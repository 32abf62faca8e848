/*
 * policy.c - Glance's default policy rules and img_enforce().
 *
 * The defaults are Glance's current ones (glance/policies/base.py and
 * image.py, tasks.py, discovery.py, cache.py) with oslo.policy's current
 * behaviour: new defaults enforced and scope enforced, so every image rule
 * needs a project-scoped token (a system- or domain-scoped token is refused,
 * as Glance's scope_types=['project'] does).  The bootstrap admin_token passes
 * every check.  An [image] policy_file overrides single rules, oslo style.
 *
 * The target is Glance's ImageTarget: every attribute and custom property of
 * the image, plus "project_id" (the owner) and "member_id" (the caller's
 * project when the image is shared and the caller is not its owner: the only
 * way such a caller can see it is by being a member, which the visibility
 * rule in model.c has already checked).  Before the image exists (create),
 * the target is {project_id, owner, visibility} of the proposed image.
 *
 * Like Glance's ImageAPIPolicy, a denial on an image the caller cannot even
 * "get_image" is answered 404, so nothing is revealed about other projects'
 * images; otherwise 403 with oslo's "You are not authorized to complete
 * <action> action.".
 */
#include <string.h>

#include "core/auth.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "image.h"

kpolicy *img_policy;

#define PROJECT_MEMBER "role:member and project_id:%(project_id)s"
#define PROJECT_READER "role:reader and project_id:%(project_id)s"
#define IMAGE_MEMBER_CHECK "project_id:%(member_id)s"
#define VISIBLE_CHECKS \
	"project_id:%(project_id)s or " IMAGE_MEMBER_CHECK " or 'community':%(visibility)s or " \
	"'public':%(visibility)s or 'shared':%(visibility)s"
#define ADMIN "rule:context_is_admin"
#define ADMIN_OR_PROJECT_MEMBER ADMIN " or (" PROJECT_MEMBER ")"
#define ADMIN_OR_PROJECT_READER ADMIN " or (" PROJECT_READER ")"
#define ADMIN_OR_SERVICE "rule:context_is_admin or rule:service_api"

static const kpolicy_rule img_defaults[] = {
	{ "default", "" },
	{ "context_is_admin", "role:admin" },
	{ "service_api", "role:service or role:admin" },
	{ "add_image", ADMIN " or (" PROJECT_MEMBER " and project_id:%(owner)s)" },
	{ "delete_image", ADMIN_OR_PROJECT_MEMBER },
	{ "get_image", ADMIN " or (role:reader and (" VISIBLE_CHECKS "))" },
	{ "get_images", ADMIN_OR_PROJECT_READER },
	{ "modify_image", ADMIN_OR_PROJECT_MEMBER },
	{ "publicize_image", ADMIN },
	{ "communitize_image", ADMIN_OR_PROJECT_MEMBER },
	{ "download_image", ADMIN " or (role:member and (" VISIBLE_CHECKS "))" },
	{ "download_from_store", ADMIN " or (role:member and (" VISIBLE_CHECKS "))" },
	{ "upload_image", ADMIN_OR_PROJECT_MEMBER },
	{ "delete_image_location", ADMIN },
	{ "get_image_location", ADMIN_OR_PROJECT_READER },
	{ "set_image_location", ADMIN_OR_PROJECT_MEMBER },
	{ "add_image_location",
	  "rule:service_api or (" PROJECT_MEMBER " and project_id:%(owner)s)" },
	{ "fetch_image_location", "rule:service_api" },
	{ "add_member", ADMIN_OR_PROJECT_MEMBER },
	{ "delete_member", ADMIN_OR_PROJECT_MEMBER },
	{ "get_member",
	  ADMIN " or role:reader and (project_id:%(project_id)s or " IMAGE_MEMBER_CHECK ")" },
	{ "get_members",
	  ADMIN " or role:reader and (project_id:%(project_id)s or " IMAGE_MEMBER_CHECK ")" },
	{ "modify_member", ADMIN " or (role:member and " IMAGE_MEMBER_CHECK ")" },
	{ "manage_image_cache", ADMIN },
	{ "deactivate", ADMIN_OR_PROJECT_MEMBER },
	{ "reactivate", ADMIN_OR_PROJECT_MEMBER },
	{ "copy_image", ADMIN },
	{ "list_cached_nodes", ADMIN },
	{ "cache_image", ADMIN },
	{ "cache_list", ADMIN },
	{ "cache_delete", ADMIN },
	{ "cache_clean", ADMIN },
	{ "cache_prune", ADMIN },
	{ "get_task", "rule:default" },
	{ "get_tasks", "rule:default" },
	{ "add_task", "rule:default" },
	{ "modify_task", "rule:default" },
	{ "tasks_api_access", ADMIN },
	{ "stores_info_detail", ADMIN_OR_SERVICE },
};

int img_policy_init(void)
{
	char err[512] = "";
	kpolicy *p = kpolicy_new(img_defaults, ARRAY_SIZE(img_defaults), err, sizeof(err));
	if (!p) {
		klog_error("image", "default policy: %s", err);
		return -1;
	}
	const char *file = kumo_conf ? kconf_get(kumo_conf, "image", "policy_file", NULL) : NULL;
	if (file && *file && kpolicy_load_file(p, file, err, sizeof(err)) != 0) {
		klog_error("image", "policy file %s: %s", file, err);
		kpolicy_free(p);
		return -1;
	}
	kpolicy_free(img_policy);
	img_policy = p;
	return 0;
}

void img_policy_fini(void)
{
	kpolicy_free(img_policy);
	img_policy = NULL;
}

/* Evaluate one rule for the caller; false for a token without project scope
 * (oslo's InvalidScope for scope_types=['project']). */
static bool check_rule(kreq *r, const char *action, const json_t *target)
{
	if (!r->ctx)
		return false;
	if (r->ctx->is_admin_token)
		return true;
	if (!r->ctx->project_id || !img_policy)
		return false;
	_cleanup_json_ json_t *creds = kctx_to_creds(r->ctx);
	return creds && kpolicy_check(img_policy, action, creds, target);
}

bool img_is_admin(kreq *r)
{
	if (r->ctx && r->ctx->is_admin_token)
		return true;
	_cleanup_json_ json_t *target = json_object();
	return check_rule(r, "context_is_admin", target);
}

const char *img_project(kreq *r)
{
	return r->ctx ? r->ctx->project_id : NULL;
}

json_t *img_policy_target(kreq *r, const json_t *image)
{
	json_t *t = json_deep_copy(image);
	if (!t)
		t = json_object();
	const char *owner = kjson_str(image, "owner");
	const char *vis = kjson_str(image, "visibility");
	const char *proj = img_project(r);
	json_object_set_new(t, "project_id", owner ? json_string(owner) : json_null());
	bool member = vis && strcmp(vis, "shared") == 0 && proj && (!owner || strcmp(owner, proj));
	json_object_set_new(t, "member_id", member ? json_string(proj) : json_null());
	json_object_set_new(t, "member", member ? json_string(proj) : json_null());
	return t;
}

bool img_check(kreq *r, const char *action, const json_t *image)
{
	_cleanup_json_ json_t *t = img_policy_target(r, image);
	return check_rule(r, action, t);
}

bool img_check_target(kreq *r, const char *action, const json_t *target)
{
	return check_rule(r, action, target);
}

void img_forbidden_action(kreq *r, const char *action)
{
	kresp_error(r, 403, "You are not authorized to complete %s action.", action);
}

bool img_enforce(kreq *r, const char *action, json_t *image)
{
	if (!r->ctx) {
		kresp_error(r, 401, "The request you have made requires authentication.");
		return false;
	}
	if (img_check(r, action, image))
		return true;
	if (strcmp(action, "get_image") == 0 || !img_check(r, "get_image", image))
		kresp_error(r, 404, "%s", "");
	else
		img_forbidden_action(r, action);
	return false;
}
