/*
 * resource.h - private helpers shared by the identity REST resources
 * (domains.c projects.c users.c groups.c roles.c assignments.c catalog.c),
 * store.c and bootstrap.c.  Not part of the public identity API
 * (identity.h): the token code only needs what identity.h declares.
 *
 * Storage notes (see schema.c):
 *   - domains are rows of id_project with is_domain = 1, as in Keystone, so
 *     that "projects acting as domains" work through both APIs; their
 *     domain_id column holds ID_DOMAIN_ROOT and parent_id is NULL;
 *   - a top-level project has parent_id = its domain_id (Keystone's model);
 *   - global roles have domain_id = ID_NULL_DOMAIN so (name_key, domain_id)
 *     can be UNIQUE on both SQL engines;
 *   - attributes a client sends that have no column ("email" on a user...)
 *     are kept in the "extra" column as a JSON object and merged back.
 */
#ifndef KUMO_IDENTITY_RESOURCE_H
#define KUMO_IDENTITY_RESOURCE_H

#include <jansson.h>
#include "core/db.h"
#include "core/http.h"
#include "identity.h"

#define ID_DOMAIN_ROOT "<<keystone.domain.root>>"
#define ID_NULL_DOMAIN "<<null>>"
#define ID_DEFAULT_DOMAIN "default"

/* ---- store.c: more of the model layer ---- */

/* Column lists and row converters (the statement's columns must be exactly
 * the list, in order). */
#define IDSTORE_PROJECT_COLS \
	"id, name, domain_id, parent_id, is_domain, enabled, description, extra, options"
#define IDSTORE_USER_COLS \
	"id, name, domain_id, enabled, default_project_id, description, extra, " \
	"options, password_expires_at"
#define IDSTORE_GROUP_COLS "id, name, domain_id, description, extra"
#define IDSTORE_ROLE_COLS "id, name, domain_id, description, extra, options"
#define IDSTORE_SERVICE_COLS "id, type, name, description, enabled, extra"
#define IDSTORE_ENDPOINT_COLS "id, service_id, interface, region_id, url, enabled, extra"
#define IDSTORE_REGION_COLS "id, description, parent_region_id, extra"

json_t *idstore_project_from_row(kstmt *st);   /* project shape (domains too) */
json_t *idstore_domain_from_row(kstmt *st);    /* domain shape */
json_t *idstore_user_from_row(kstmt *st);
json_t *idstore_group_from_row(kstmt *st);
json_t *idstore_role_from_row(kstmt *st);
json_t *idstore_service_from_row(kstmt *st);
json_t *idstore_endpoint_from_row(kstmt *st);
json_t *idstore_region_from_row(kstmt *st);

/* Any row of id_project (project or domain) in project shape. */
json_t *idstore_project_any(const char *id);
json_t *idstore_group_get(const char *id);
json_t *idstore_service_get(const char *id);
json_t *idstore_endpoint_get(const char *id);
json_t *idstore_region_get(const char *id);
/* Tags of a project/domain, sorted: array of strings. */
json_t *idstore_project_tags(const char *project_id);

/* Hierarchy: ids (array of strings). Parents go upwards and stop below the
 * domain; the subtree excludes the project itself. */
json_t *idstore_project_parents(const char *project_id);
json_t *idstore_project_subtree(const char *project_id);
/* Non-domain projects whose domain_id is domain_id. */
json_t *idstore_domain_projects(const char *domain_id);

/* Role assignments in Keystone's internal shape:
 *   {"user_id"|"group_id", "project_id"|"domain_id"|"system": "all",
 *    "role_id", ["inherited_to_projects": true],
 *    ["indirect": {"group_id", "project_id"|"domain_id", "role_id"}]}
 * Direct mode filters the assignment table; effective mode expands groups,
 * inheritance and implied roles, and strips domain-specific roles. */
typedef struct idstore_asg_query {
	const char *user_id, *group_id, *role_id;
	const char *project_id, *domain_id;
	bool system;            /* only system assignments */
	int inherited;          /* -1 both, 0 direct only, 1 inherited only */
	bool effective;
	bool include_subtree;   /* with project_id */
	bool keep_domain_roles; /* effective: don't strip domain-specific roles */
} idstore_asg_query;
json_t *idstore_assignments(const idstore_asg_query *q);

/* Assignment rows. type is one of "UserProject", "GroupProject",
 * "UserDomain", "GroupDomain", "UserSystem", "GroupSystem"; target_id is
 * "system" for system grants.  add returns KDB_DONE (also when it already
 * existed) or KDB_ERROR; del returns the number of rows removed or -1. */
int idstore_grant_add(const char *type, const char *actor_id, const char *target_id,
                      const char *role_id, bool inherited);
int idstore_grant_del(const char *type, const char *actor_id, const char *target_id,
                      const char *role_id, bool inherited);
bool idstore_grant_exists(const char *type, const char *actor_id, const char *target_id,
                          const char *role_id, bool inherited);

/* Group membership. */
bool idstore_user_in_group(const char *user_id, const char *group_id);
/* Members (user ids) of a group; groups (ids) of a user. */
json_t *idstore_group_member_ids(const char *group_id);
json_t *idstore_user_group_ids(const char *user_id);

/* Merge a JSON text "extra" object into obj without overriding keys. */
void idstore_merge_extra(json_t *obj, const char *extra_text);
/* Serialize the members of obj not listed in `known` (NULL-terminated) as
 * an "extra" JSON text (malloc'd; "{}" when none). */
char *idstore_extra_text(const json_t *obj, const char *const *known);
/* Like extra_text, but starting from an existing extra text and applying
 * the update's unknown members (null removes). */
char *idstore_extra_update(const char *old_extra, const json_t *upd, const char *const *known);

/* Resource options: the stored options text updated with upd (a null
 * value removes an option); malloc'd, "{}" when none. */
char *idstore_options_text(const char *old_text, const json_t *upd);
/* Is the resource (API shape, with "options") immutable? */
bool idstore_immutable(const json_t *obj);

/* 0 when secret hashes to stored (a bcrypt hash from
 * idstore_hash_password), -1 otherwise; a NULL stored hash still costs one
 * hash, so timing reveals nothing. */
int idstore_check_secret(const char *secret, const char *stored);

/* ---- appcreds.c: application credentials ---- */
/* The user's credential of that name (API shape), or NULL. */
json_t *idstore_appcred_by_name(const char *user_id, const char *name);
/* 0 when secret is the credential's (constant time, and a missing
 * credential costs the same), -1 otherwise. */
int idstore_appcred_check_secret(const char *appcred_id, const char *secret);
/* Delete the application credentials of a user (and, when project_id is
 * not NULL, only those on that project), or of a project (user_id NULL),
 * as Keystone does when a user is deleted or disabled or loses a role on
 * the project.  Inside or outside the caller's transaction. */
int idstore_appcreds_delete(const char *user_id, const char *project_id);

/* ---- epfilter.c ---- */
/* The endpoints (API shape) associated with a project, directly or by
 * endpoint groups: {endpoint id: endpoint}. */
json_t *idstore_project_endpoints(const char *project_id);
/* Forget the associations of a deleted endpoint and/or project. */
int idstore_epfilter_forget(const char *endpoint_id, const char *project_id);

/* ---- routes.c: request helpers for the resources ---- */

/* The request body as a JSON object (pool-owned), or NULL when answered
 * (400 for malformed JSON, without quoting the body: it may hold secrets). */
json_t *id_json_body(kreq *r);
/* The body's top-level member object ({"user": {...}} -> the inner object);
 * answers 400 and returns NULL when missing or not an object. */
json_t *id_body_member(kreq *r, const char *key);

enum id_ftype {
	ID_F_STRING,        /* string, min/max length, nonblank = pattern [\S]+ */
	ID_F_STRING_NULL,   /* string or null */
	ID_F_BOOL,          /* JSON boolean only (Keystone's parameter_types.boolean) */
	ID_F_INT,           /* JSON integer >= 0 */
	ID_F_OBJECT,        /* JSON object */
	ID_F_ARRAY,         /* JSON array (items checked by the caller) */
	ID_F_OPTIONS,       /* resource options of projects, domains, roles: {"immutable"} */
	ID_F_OPTIONS_USER,  /* user options (Keystone's USER_OPTIONS_REGISTRY) */
	ID_F_TAGS,          /* array of unique tag strings (1..255, no ',' or '/'), max 80 */
	ID_F_ID,            /* [a-zA-Z0-9-]{1,64} */
	ID_F_ID_NULL,       /* ID_F_ID or null */
	ID_F_INTERFACE,     /* "public" | "internal" | "admin" */
	ID_F_URL,           /* ^[a-zA-Z0-9+.-]+:.+ , max 225 */
	ID_F_ANY,           /* anything (accepted, not checked) */
};
typedef struct id_field {
	const char *name;
	enum id_ftype type;
	int minlen, maxlen;     /* strings; 0 = no limit */
	bool nonblank;
	bool required;
} id_field;
/* Validate obj (the member named `member`) against fields.  Unknown
 * members are refused unless allow_extra.  min_props: 1 for updates.
 * Answers 400 "Invalid input for field/attribute ..." and returns false.
 * The values of secret fields (password, secret, blob...) are never quoted. */
bool id_validate(kreq *r, const char *member, const json_t *obj, const id_field *fields,
                  size_t nfields, bool allow_extra, int min_props);
/* 400 "Invalid input for field/attribute <field>. Value: <v>. <reason>". */
void id_field_error(kreq *r, const char *field, const json_t *value, const char *reason);
/* Truth of a validated ID_F_BOOL value; def for null/absent. */
bool id_bool_value(const json_t *v, bool def);
/* Keystone's id_string: [a-zA-Z0-9-]{1,64}. */
bool id_match_id(const char *s);
/* Characters (not bytes) of a UTF-8 string. */
size_t id_utf8_len(const char *s);
/* Truth of a query string value: "0", "false", "no", "off", "n", "f" are
 * false; anything else (including "") is true. */
bool id_query_true(const char *v);
/* A query flag like ?effective or ?include_names=true: present and true. */
bool id_query_flag(kreq *r, const char *name);

/* Keystone's immutable resource option: an immutable resource may only
 * be updated to clear "immutable" (a body of exactly {"options":
 * {"immutable": false|null}}), and not deleted.  Answer 403 and return
 * true when the change is refused. */
bool id_immutable_update_refused(kreq *r, const json_t *cur, const json_t *body,
                                 const char *type);
bool id_immutable_delete_refused(kreq *r, const json_t *cur, const char *type);

/* 404 "Could not find <what>: <id>." */
void id_not_found(kreq *r, const char *what, const char *id);
/* 409 "Conflict occurred attempting to store <type> - <details>." */
void id_conflict(kreq *r, const char *type, const char *fmt, ...) _printf_(3, 4);
/* 400 with a free-form message. */
void id_bad_request(kreq *r, const char *fmt, ...) _printf_(2, 3);
/* 500 "An unexpected error prevented the server from fulfilling your request." */
void id_internal(kreq *r);
/* Domain for a new user/group/project without domain_id: the token's domain
 * (domain-scoped token), else "default". */
const char *id_default_domain(kreq *r);
/* The domain a domain-scoped token limits listings to, or NULL. */
const char *id_scope_domain(kreq *r);
/* 204 or 200 answers for HEAD/GET. */
bool id_is_head(kreq *r);

/* Keystone's inexact list filters on one attribute: ?<attr>__contains=,
 * __icontains, __startswith, __istartswith, __endswith, __iendswith (the
 * "i" forms ignore ASCII case).  Values are matched literally. */
typedef struct id_inexact {
	const char *val[6];
	bool any;
} id_inexact;
void id_inexact_init(kreq *r, const char *attr, id_inexact *f);
/* Does value pass every inexact filter of f?  (NULL never does, unless f
 * has none.) */
bool id_inexact_ok(const id_inexact *f, const char *value);

/* Dynamic WHERE clauses with bound values. */
typedef struct id_sql {
	kpool *pool;
	char *sql;
	const char *vals[16];
	int n;
	bool where;
} id_sql;
void id_sql_init(id_sql *q, kpool *pool, const char *select_from);
/* Append " WHERE cond" or " AND cond"; cond holds at most one '?' bound to
 * val (NULL val: cond has no placeholder). */
void id_sql_and(id_sql *q, const char *cond, const char *val);
void id_sql_append(id_sql *q, const char *text);
kstmt *id_sql_prepare(id_sql *q);

/* ---- shared between domains.c and projects.c ---- */
/* Replace the tags of a project/domain (inside the caller's transaction). */
int id_tags_write(const char *project_id, const json_t *tags);
/* Create a domain from a validated body; answers 201 in domain shape
 * ({"domain": ...}) or, with project_shape, as {"project": ...}. */
void id_domain_create_from(kreq *r, const json_t *body, bool project_shape);
/* Update / delete an existing domain row (cur in project shape). */
void id_domain_update_from(kreq *r, const json_t *cur, const json_t *body, bool project_shape);
void id_domain_delete_row(kreq *r, const json_t *cur);

/* ---- route handlers (each resource file) ---- */
void id_domains_list(kreq *r);
void id_domains_create(kreq *r);
void id_domain_get(kreq *r);
void id_domain_update(kreq *r);
void id_domain_delete(kreq *r);

void id_projects_list(kreq *r);
void id_projects_create(kreq *r);
void id_project_get(kreq *r);
void id_project_update(kreq *r);
void id_project_delete(kreq *r);
void id_project_tags_get(kreq *r);
void id_project_tags_put(kreq *r);
void id_project_tags_delete(kreq *r);
void id_project_tag_check(kreq *r);
void id_project_tag_put(kreq *r);
void id_project_tag_delete(kreq *r);

void id_users_list(kreq *r);
void id_users_create(kreq *r);
void id_user_get(kreq *r);
void id_user_update(kreq *r);
void id_user_delete(kreq *r);
void id_user_password(kreq *r);
void id_user_projects(kreq *r);
void id_user_groups(kreq *r);

void id_groups_list(kreq *r);
void id_groups_create(kreq *r);
void id_group_get(kreq *r);
void id_group_update(kreq *r);
void id_group_delete(kreq *r);
void id_group_users(kreq *r);
void id_group_member_put(kreq *r);
void id_group_member_check(kreq *r);
void id_group_member_delete(kreq *r);

void id_roles_list(kreq *r);
void id_roles_create(kreq *r);
void id_role_get(kreq *r);
void id_role_update(kreq *r);
void id_role_delete(kreq *r);
void id_role_implies_list(kreq *r);
void id_role_implies_put(kreq *r);
void id_role_implies_get(kreq *r);
void id_role_implies_check(kreq *r);
void id_role_implies_delete(kreq *r);
void id_role_inferences(kreq *r);

/* Grants: one handler per verb; the path tells the actor/target kind. */
void id_grant_put(kreq *r);
void id_grant_check(kreq *r);
void id_grant_delete(kreq *r);
void id_grant_list(kreq *r);
void id_role_assignments(kreq *r);

void id_services_list(kreq *r);
void id_services_create(kreq *r);
void id_service_get(kreq *r);
void id_service_update(kreq *r);
void id_service_delete(kreq *r);
void id_endpoints_list(kreq *r);
void id_endpoints_create(kreq *r);
void id_endpoint_get(kreq *r);
void id_endpoint_update(kreq *r);
void id_endpoint_delete(kreq *r);
void id_appcreds_list(kreq *r);
void id_appcreds_create(kreq *r);
void id_appcred_get(kreq *r);
void id_appcred_delete(kreq *r);
void id_access_rules_list(kreq *r);
void id_access_rule_get(kreq *r);
void id_access_rule_delete(kreq *r);

void id_credentials_list(kreq *r);
void id_credentials_create(kreq *r);
void id_credential_get(kreq *r);
void id_credential_update(kreq *r);
void id_credential_delete(kreq *r);
void id_ec2_list(kreq *r);
void id_ec2_create(kreq *r);
void id_ec2_get(kreq *r);
void id_ec2_delete(kreq *r);

void id_epgroups_list(kreq *r);
void id_epgroups_create(kreq *r);
void id_epgroup_get(kreq *r);
void id_epgroup_update(kreq *r);
void id_epgroup_delete(kreq *r);
void id_epgroup_projects(kreq *r);
void id_epgroup_endpoints(kreq *r);
void id_epgroup_project_get(kreq *r);
void id_epgroup_project_put(kreq *r);
void id_epgroup_project_delete(kreq *r);
void id_project_epgroups(kreq *r);
void id_project_endpoints(kreq *r);
void id_project_endpoint_check(kreq *r);
void id_project_endpoint_put(kreq *r);
void id_project_endpoint_delete(kreq *r);
void id_endpoint_projects(kreq *r);

void id_policies_list(kreq *r);
void id_policies_create(kreq *r);
void id_policy_get(kreq *r);
void id_policy_update(kreq *r);
void id_policy_delete(kreq *r);
void id_consumers_list(kreq *r);
void id_consumers_create(kreq *r);
void id_consumer_get(kreq *r);
void id_consumer_update(kreq *r);
void id_consumer_delete(kreq *r);

void id_domain_config_get(kreq *r);
void id_domain_config_put(kreq *r);
void id_domain_config_update(kreq *r);
void id_domain_config_delete(kreq *r);
void id_domain_config_default(kreq *r);

void id_registered_limits_list(kreq *r);
void id_registered_limits_create(kreq *r);
void id_registered_limit_get(kreq *r);
void id_registered_limit_update(kreq *r);
void id_registered_limit_delete(kreq *r);
void id_limit_model(kreq *r);
void id_limits_list(kreq *r);
void id_limits_create(kreq *r);
void id_limit_get(kreq *r);
void id_limit_update(kreq *r);
void id_limit_delete(kreq *r);

void id_regions_list(kreq *r);
void id_regions_create(kreq *r);
void id_region_get(kreq *r);
void id_region_put(kreq *r);
void id_region_update(kreq *r);
void id_region_delete(kreq *r);

#endif
