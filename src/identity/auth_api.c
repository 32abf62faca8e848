/*
 * auth_api.c - the /v3/auth/ routes: issuing, validating and revoking tokens, and the
 * "what can this token see" lists (catalog, projects, domains, system).
 *
 * POST /v3/auth/tokens follows Keystone's order of work, because the order
 * decides which error a client sees:
 *   1. the body's shape (Keystone's JSON schema): 400;
 *   2. every method listed has its data, and is supported (password, token,
 *      application_credential): 400 / 401;
 *   3. the requested scope is looked up (unknown or disabled -> 401);
 *   4. each method authenticates (bad credentials, disabled user -> 401; a
 *      token that does not validate -> 404, as Keystone's token plugin);
 *   5. with no scope requested, the user's default project is used when it
 *      is usable, else the token is unscoped;
 *   6. token.c issues the token, checking roles on the scope (none -> 401).
 * Every 401 carries the same message, whatever the reason, as Keystone does.
 * A token from the token method keeps the parent's expiry and audit chain
 * and adds "token" to the parent's methods; a token of an application
 * credential (a delegation) can't be exchanged that way (403).  An
 * application credential authenticates by id, or by name and user, with
 * its secret; it can't ask for a scope: its token is scoped to the
 * credential's project, expires no later than the credential, and carries
 * only the credential's roles.
 *
 * GET/HEAD/DELETE /v3/auth/tokens act on X-Subject-Token: it is validated
 * first (404 when invalid, expired or revoked), then the policy runs with
 * target.token.user_id, so a user may always look at or revoke their own
 * token.  DELETE revokes the token's audit id.
 */
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "identity/identity.h"
#include "identity/resource.h"

#define UNAUTHORIZED "The request you have made requires authentication."

static void unauthorized(kreq *r)
{
	kresp_error(r, 401, "%s", UNAUTHORIZED);
}

/* Keystone's ValidationError. */
static void missing(kreq *r, const char *attribute, const char *target)
{
	kresp_error(r, 400, "Expecting to find %s in %s. The server could not comply with the "
	            "request since it is either malformed or otherwise incorrect. The client "
	            "is assumed to be in error.", attribute, target);
}

/* oslo's bool_from_string */
static bool query_true(kreq *r, const char *name)
{
	const char *v = kreq_query(r, name);
	if (!v)
		return false;
	static const char *yes[] = { "1", "t", "true", "on", "y", "yes" };
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (strcasecmp(v, yes[i]) == 0)
			return true;
	return false;
}

static bool disabled(const json_t *o)
{
	return json_is_false(json_object_get(o, "enabled"));
}

/* ---- the body's shape (keystone/auth/schema.py) ---- */

typedef struct shape {
	kreq *r;
	bool ok;
} shape;

static void bad_type(shape *s, const char *path, const char *type)
{
	if (s->ok)
		kresp_error(s->r, 400, "Invalid input for field '%s': is not of type '%s'", path,
		            type);
	s->ok = false;
}

/* member must be absent or of the type */
static json_t *want(shape *s, const json_t *obj, const char *key, const char *path,
                    const char *type)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (!v)
		return NULL;
	bool ok = !strcmp(type, "object") ? json_is_object(v) :
	          !strcmp(type, "string") ? json_is_string(v) :
	          !strcmp(type, "array") ? json_is_array(v) :
	          !strcmp(type, "boolean") ? json_is_boolean(v) : false;
	if (!ok) {
		bad_type(s, path, type);
		return NULL;
	}
	return v;
}

static void id_or_name(shape *s, const json_t *obj, const char *field)
{
	if (obj && s->ok && !json_object_get(obj, "id") && !json_object_get(obj, "name")) {
		kresp_error(s->r, 400, "Invalid input for field %s: id or name must be present.",
		            field);
		s->ok = false;
	}
}

static void check_id_name(shape *s, const json_t *obj, const char *path)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/id", path);
	want(s, obj, "id", p, "string");
	snprintf(p, sizeof(p), "%s/name", path);
	want(s, obj, "name", p, "string");
}

static bool check_shape(kreq *r, const json_t *auth)
{
	shape s = { r, true };
	json_t *identity = want(&s, auth, "identity", "identity", "object");
	if (s.ok && !identity) {
		kresp_error(r, 400, "'identity' is a required property");
		return false;
	}
	json_t *methods = want(&s, identity, "methods", "identity/methods", "array");
	if (s.ok && !methods) {
		kresp_error(r, 400, "Invalid input for field 'identity': "
		            "'methods' is a required property");
		return false;
	}
	size_t i;
	json_t *m;
	json_array_foreach(methods, i, m)
		if (s.ok && !json_is_string(m))
			bad_type(&s, "identity/methods", "string");

	json_t *pw = want(&s, identity, "password", "identity/password", "object");
	json_t *user = want(&s, pw, "user", "identity/password/user", "object");
	check_id_name(&s, user, "identity/password/user");
	want(&s, user, "password", "identity/password/user/password", "string");
	json_t *udom = want(&s, user, "domain", "identity/password/user/domain", "object");
	check_id_name(&s, udom, "identity/password/user/domain");
	id_or_name(&s, user, "identity/password/user");
	id_or_name(&s, udom, "identity/password/user/domain");

	json_t *tok = want(&s, identity, "token", "identity/token", "object");
	if (s.ok && tok && !want(&s, tok, "id", "identity/token/id", "string") && s.ok) {
		kresp_error(r, 400, "Invalid input for field 'identity/token': "
		            "'id' is a required property");
		return false;
	}

	json_t *scope = json_object_get(auth, "scope");
	if (s.ok && scope && !json_is_object(scope) && !json_is_string(scope))
		bad_type(&s, "scope", "object, string");
	if (json_is_object(scope)) {
		json_t *proj = want(&s, scope, "project", "scope/project", "object");
		check_id_name(&s, proj, "scope/project");
		json_t *pdom = want(&s, proj, "domain", "scope/project/domain", "object");
		check_id_name(&s, pdom, "scope/project/domain");
		json_t *dom = want(&s, scope, "domain", "scope/domain", "object");
		check_id_name(&s, dom, "scope/domain");
		json_t *trust = want(&s, scope, "OS-TRUST:trust", "scope/OS-TRUST:trust", "object");
		want(&s, trust, "id", "scope/OS-TRUST:trust/id", "string");
		json_t *sys = want(&s, scope, "system", "scope/system", "object");
		want(&s, sys, "all", "scope/system/all", "boolean");
		id_or_name(&s, proj, "scope/project");
		id_or_name(&s, pdom, "scope/project/domain");
		id_or_name(&s, dom, "scope/domain");
	}
	return s.ok;
}

/* ---- lookups; every miss is a 401 ---- */

/* An enabled domain from {"id"} or {"name"} (the name wins, as in Keystone). */
static json_t *lookup_domain(kreq *r, const json_t *info)
{
	const char *name = kjson_str(info, "name"), *id = kjson_str(info, "id");
	json_t *d = name ? idstore_domain_by_name(name) : id ? idstore_domain_get(id) : NULL;
	kpool_json(r->pool, d);
	return d && !disabled(d) ? d : NULL;
}

static json_t *domain_by_id(kreq *r, const char *id)
{
	json_t *d = id ? kpool_json(r->pool, idstore_domain_get(id)) : NULL;
	return d && !disabled(d) ? d : NULL;
}

typedef struct authreq {
	kreq *r;
	const json_t *auth;
	id_issue in;
	bool scope_given;          /* any scope in the request, "unscoped" included */
	bool wants_proj_or_dom;
	bool appcred;              /* the application_credential method is used */
} authreq;

/* Resolve the requested scope into a->in.scope; false when answered. */
static bool lookup_scope(authreq *a)
{
	kreq *r = a->r;
	json_t *scope = json_object_get(a->auth, "scope");
	if (!scope)
		return true;
	a->scope_given = true;
	if (a->appcred) {
		/* "Application credentials cannot request a scope." */
		unauthorized(r);
		return false;
	}
	if (json_is_string(scope)) {
		if (strcmp(json_string_value(scope), "unscoped") != 0) {
			missing(r, "system, project, domain, OS-TRUST:trust or unscoped", "scope");
			return false;
		}
		a->in.scope.unscoped = true;
		return true;
	}
	static const char *kinds[] = { "project", "domain", "unscoped", "system",
	                               "OS-TRUST:trust" };
	int count = 0;
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		count += json_object_get(scope, kinds[i]) != NULL;
	if (count != 1) {
		missing(r, "system, project, domain, OS-TRUST:trust or unscoped", "scope");
		return false;
	}
	if (json_object_get(scope, "system")) {
		a->in.scope.system = true;
	} else if (json_object_get(scope, "unscoped")) {
		a->in.scope.unscoped = true;
	} else if (json_object_get(scope, "OS-TRUST:trust")) {
		unauthorized(r);          /* trusts are not supported: no such trust */
		return false;
	} else if (json_object_get(scope, "project")) {
		json_t *info = json_object_get(scope, "project");
		const char *name = kjson_str(info, "name"), *id = kjson_str(info, "id");
		json_t *p;
		a->wants_proj_or_dom = true;
		if (name) {
			json_t *dinfo = json_object_get(info, "domain");
			if (!dinfo) {
				missing(r, "domain", "project");
				return false;
			}
			json_t *d = lookup_domain(r, dinfo);
			p = d ? idstore_project_by_name(name, kjson_str(d, "id")) : NULL;
		} else {
			p = idstore_project_get(id);
			if (p && !domain_by_id(r, kjson_str(p, "domain_id")) &&
			    !json_is_true(json_object_get(p, "is_domain"))) {
				json_decref(p);
				p = NULL;
			}
		}
		kpool_json(r->pool, p);
		if (!p || disabled(p)) {
			unauthorized(r);
			return false;
		}
		a->in.scope.project_id = kjson_str(p, "id");
	} else {
		json_t *d = lookup_domain(r, json_object_get(scope, "domain"));
		a->wants_proj_or_dom = true;
		if (!d) {
			unauthorized(r);
			return false;
		}
		a->in.scope.domain_id = kjson_str(d, "id");
	}
	return true;
}

/* The authenticated user: every method must agree on one. */
static bool set_user(authreq *a, const char *user_id)
{
	if (a->in.user_id && strcmp(a->in.user_id, user_id) != 0) {
		unauthorized(a->r);
		return false;
	}
	a->in.user_id = kpool_strdup(a->r->pool, user_id);
	return true;
}

static bool auth_password(authreq *a, const json_t *data)
{
	kreq *r = a->r;
	json_t *user = json_object_get(data, "user");
	if (!json_is_object(user)) {
		missing(r, "user", "password");
		return false;
	}
	const char *name = kjson_str(user, "name"), *id = kjson_str(user, "id");
	json_t *u;
	if (name) {
		json_t *dinfo = json_object_get(user, "domain");
		if (!dinfo) {
			missing(r, "domain", "user");
			return false;
		}
		json_t *d = lookup_domain(r, dinfo);
		u = d ? kpool_json(r->pool, idstore_user_by_name(name, kjson_str(d, "id"))) : NULL;
	} else {
		u = id ? kpool_json(r->pool, idstore_user_get(id)) : NULL;
		if (u && !domain_by_id(r, kjson_str(u, "domain_id")))
			u = NULL;
	}
	const char *password = kjson_str(user, "password");
	const char *uid = kjson_str(u, "id");
	if (!uid || !password || idstore_user_check_password(uid, password) != 0 || disabled(u)) {
		klog_info("identity", "%s: password authentication failed for %s", r->request_id,
		          uid ? uid : "an unknown user");
		unauthorized(r);
		return false;
	}
	const char *pexp = kjson_str(u, "password_expires_at");
	if (pexp && kutil_parse_iso8601(pexp) >= 0 && kutil_parse_iso8601(pexp) <= kutil_now_us()) {
		klog_info("identity", "%s: the password of user %s has expired", r->request_id,
		          uid);
		unauthorized(r);
		return false;
	}
	a->in.methods |= idtoken_method_bit("password");
	return set_user(a, uid);
}

static bool auth_token(authreq *a, const json_t *data)
{
	kreq *r = a->r;
	const char *id = kjson_str(data, "id");
	if (!id) {
		missing(r, "id", "token");
		return false;
	}
	kctx *parent = NULL;
	json_t *body = NULL;
	if (idtoken_validate_full(r->pool, id, false, false, &parent, &body) != 0) {
		kresp_error(r, 404, "Could not find token.");
		return false;
	}
	kpool_json(r->pool, body);
	if (kjson_path(body, "token.application_credential")) {
		kresp_error(r, 403, "You are not authorized to perform the requested action: "
		            "Using a delegated token to create another token is not allowed.");
		return false;
	}
	if (parent->system_scope && a->wants_proj_or_dom) {
		kresp_error(r, 403, "You are not authorized to perform the requested action: "
		            "Using a system-scoped token to create a project-scoped or "
		            "domain-scoped token is not allowed..");
		return false;
	}
	/* the chain id: the parent's parent audit id, or its own */
	json_t *audit = kjson_path(body, "token.audit_ids");
	json_t *chain = json_array_get(audit, json_array_size(audit) - 1);
	a->in.parent_audit_id = json_string_value(chain);
	/* never outlive the parent */
	int64_t exp = parent->expires_at_us / 1000000;
	if (!a->in.expires_at_s || exp < a->in.expires_at_s)
		a->in.expires_at_s = exp;
	a->in.methods |= idtoken_method_bit("token");
	for (size_t i = 0; i < parent->nmethods; i++)
		a->in.methods |= idtoken_method_bit(parent->methods[i]);
	return set_user(a, parent->user_id);
}

/* An enabled user of an enabled domain, from {"id"} or {"name", "domain"};
 * NULL (answered, 400) when the data is incomplete, *missing_user set when
 * it names nobody usable. */
static json_t *lookup_user(kreq *r, const json_t *user, bool *unusable)
{
	*unusable = false;
	const char *name = kjson_str(user, "name"), *id = kjson_str(user, "id");
	json_t *u = NULL;
	if (!id && name) {
		json_t *dinfo = json_object_get(user, "domain");
		if (!dinfo) {
			missing(r, "domain", "user");
			return NULL;
		}
		json_t *d = lookup_domain(r, dinfo);
		u = d ? kpool_json(r->pool, idstore_user_by_name(name, kjson_str(d, "id"))) : NULL;
	} else if (id) {
		u = kpool_json(r->pool, idstore_user_get(id));
		if (u && !domain_by_id(r, kjson_str(u, "domain_id")))
			u = NULL;
	}
	if (!u || disabled(u)) {
		*unusable = true;
		return NULL;
	}
	return u;
}

static bool auth_appcred(authreq *a, const json_t *data)
{
	kreq *r = a->r;
	const char *id = kjson_str(data, "id"), *name = kjson_str(data, "name");
	json_t *ac = NULL;
	if (id) {
		ac = kpool_json(r->pool, idstore_appcred_get(id));
	} else if (name) {
		json_t *user = json_object_get(data, "user");
		if (!json_is_object(user)) {
			missing(r, "user", "application credential");
			return false;
		}
		bool unusable;
		json_t *u = lookup_user(r, user, &unusable);
		if (!u && !unusable)
			return false;
		ac = u ? kpool_json(r->pool, idstore_appcred_by_name(kjson_str(u, "id"), name))
		       : NULL;
	} else {
		missing(r, "id or name", "application credential");
		return false;
	}
	const char *acid = kjson_str(ac, "id");
	const char *uid = kjson_str(ac, "user_id");
	const char *exp = kjson_str(ac, "expires_at");
	int64_t exp_us = exp ? kutil_parse_iso8601(exp) : 0;
	_cleanup_json_ json_t *u = uid ? idstore_user_get(uid) : NULL;
	bool ok = idstore_appcred_check_secret(acid, kjson_str(data, "secret")) == 0 &&
	          u && !disabled(u) && domain_by_id(r, kjson_str(u, "domain_id")) &&
	          (!exp || exp_us > kutil_now_us());
	if (!ok) {
		klog_info("identity", "%s: application credential authentication failed for %s",
		          r->request_id, acid ? acid : "an unknown credential");
		unauthorized(r);
		return false;
	}
	a->in.methods |= idtoken_method_bit("application_credential");
	a->in.appcred_id = acid;
	a->in.scope.project_id = kjson_str(ac, "project_id");
	a->scope_given = true;
	if (exp)
		a->in.not_after_s = exp_us / 1000000;
	return set_user(a, uid);
}

/* No scope asked for: the default project, if the user can use it. */
static void default_scope(authreq *a)
{
	_cleanup_json_ json_t *u = idstore_user_get(a->in.user_id);
	const char *dp = kjson_str(u, "default_project_id");
	if (!dp)
		return;
	_cleanup_json_ json_t *p = idstore_project_get(dp);
	if (!p || disabled(p) || !domain_by_id(a->r, kjson_str(p, "domain_id")))
		return;
	_cleanup_json_ json_t *roles = idstore_effective_roles(a->in.user_id, dp, NULL, false);
	if (json_array_size(roles) == 0)
		return;
	a->in.scope.project_id = kpool_strdup(a->r->pool, dp);
}

static void post_tokens(kreq *r)
{
	int64_t started = kutil_now_us();
	json_t *body = id_json_body(r);
	if (!body)
		return;
	json_t *auth = json_object_get(body, "auth");
	if (!auth) {
		missing(r, "auth", "request body");
		return;
	}
	if (!json_is_object(auth)) {
		kresp_error(r, 400, "Invalid input for field 'auth': is not of type 'object'");
		return;
	}
	if (!check_shape(r, auth))
		return;

	authreq a = { .r = r, .auth = auth };
	a.in.auth_at_us = started;
	a.in.nocatalog = kreq_query(r, "nocatalog") != NULL;

	/* methods: each listed once, each with its data, each supported */
	json_t *identity = json_object_get(auth, "identity");
	json_t *methods = json_object_get(identity, "methods");
	const char *names[16];
	size_t n = 0, i;
	json_t *m;
	json_array_foreach(methods, i, m) {
		const char *name = json_string_value(m);
		bool dup = false;
		for (size_t k = 0; k < n; k++)
			dup |= strcmp(names[k], name) == 0;
		if (dup)
			continue;
		if (n == ARRAY_SIZE(names)) {
			unauthorized(r);
			return;
		}
		names[n++] = name;
	}
	for (size_t k = 0; k < n; k++) {
		if (!json_object_get(identity, names[k])) {
			missing(r, names[k], "identity");
			return;
		}
	}
	for (size_t k = 0; k < n; k++) {
		if (strcmp(names[k], "password") != 0 && strcmp(names[k], "token") != 0 &&
		    strcmp(names[k], "application_credential") != 0) {
			kresp_error(r, 401,
			            "Attempted to authenticate with an unsupported method.");
			return;
		}
		a.appcred = a.appcred || !strcmp(names[k], "application_credential");
	}
	if (!lookup_scope(&a))
		return;
	for (size_t k = 0; k < n; k++) {
		json_t *data = json_object_get(identity, names[k]);
		if (!json_is_object(data)) {
			missing(r, names[k], "identity");
			return;
		}
		bool ok = !strcmp(names[k], "password") ? auth_password(&a, data)
		        : !strcmp(names[k], "token") ? auth_token(&a, data)
		        : auth_appcred(&a, data);
		if (!ok)
			return;
	}
	if (!a.in.user_id) {
		unauthorized(r);
		return;
	}
	if (!a.scope_given)
		default_scope(&a);

	json_t *token_body = NULL;
	int status = 0;
	const char *msg = NULL;
	_cleanup_free_ char *token = idtoken_issue(r->pool, &a.in, &token_body, &status, &msg);
	if (!token) {
		kresp_error(r, status ? status : 401, "%s", msg ? msg : UNAUTHORIZED);
		return;
	}
	kresp_header(r, "X-Subject-Token", token);
	kresp_json(r, 201, token_body);
}

/* ---- the subject token ---- */

static json_t *subject_target(kreq *r, const kctx *s)
{
	json_t *t = json_pack("{s:{s:{s:s?,s:{s:{s:s?}}}}}", "target", "token",
	                      "user_id", s ? s->user_id : NULL,
	                      "user", "domain", "id", s ? s->user_domain_id : NULL);
	return kpool_json(r->pool, t);
}

/* Validate X-Subject-Token then enforce; NULL when answered. */
static kctx *subject(kreq *r, const char *action, bool allow_expired, bool catalog,
                     json_t **body)
{
	const char *token = kreq_header(r, "X-Subject-Token");
	kctx *s = NULL;
	if (body)
		*body = NULL;
	if (token && *token) {
		if (idtoken_validate_full(r->pool, token, allow_expired, catalog, &s, body) != 0) {
			kresp_error(r, 404, "Could not find token.");
			return NULL;
		}
		if (body)
			kpool_json(r->pool, *body);
	}
	if (!id_enforce(r, action, subject_target(r, s)))
		return NULL;
	if (!s)
		kresp_error(r, 404, "No token in the request");
	return s;
}

/* A token of an application credential with access rules is only for a
 * validator that says it enforces them (OpenStack-Identity-Access-Rules:
 * 1.0 or later), as in Keystone. */
static bool rules_understood(kreq *r, const json_t *body)
{
	if (!kjson_path(body, "token.application_credential.access_rules"))
		return true;
	const char *v = kreq_header(r, "OpenStack-Identity-Access-Rules");
	return v && strtod(v, NULL) >= 1.0;
}

static void get_tokens(kreq *r)
{
	bool head = strcmp(r->method, "HEAD") == 0;
	json_t *body = NULL;
	kctx *s = subject(r, head ? "identity:check_token" : "identity:validate_token",
	                  query_true(r, "allow_expired"), kreq_query(r, "nocatalog") == NULL,
	                  &body);
	if (!s)
		return;
	if (!rules_understood(r, body)) {
		kresp_error(r, 404, "Could not find token.");
		return;
	}
	kresp_header(r, "X-Subject-Token", s->token);
	kresp_json(r, 200, json_incref(body));
}

static void delete_tokens(kreq *r)
{
	kctx *s = subject(r, "identity:revoke_token", false, false, NULL);
	if (!s)
		return;
	idtoken_revoke_audit(s->audit_id);
	kresp_status(r, 204);
}

/* ---- what the caller's token can see ---- */

static void get_catalog(kreq *r)
{
	if (!id_enforce(r, "identity:get_auth_catalog", NULL))
		return;
	if (!r->ctx->project_id) {
		kresp_error(r, 403, "A project-scoped token is required to produce a service "
		            "catalog.");
		return;
	}
	json_t *cat = idstore_catalog();
	json_t *f = cat && idstore_epfilter_any()
		? idstore_catalog_filtered(cat, r->ctx->project_id) : NULL;
	if (f) {
		json_decref(cat);
		cat = f;
	}
	kresp_json(r, 200, json_pack("{s:o,s:{s:s}}", "catalog", cat ? cat : json_array(),
	                             "links", "self", id_url(r, "auth/catalog")));
}

static void list_scopes(kreq *r, const char *action, const char *key,
                        json_t *(*fetch)(const char *user_id))
{
	if (!id_enforce(r, action, NULL))
		return;
	json_t *arr = r->ctx->user_id ? fetch(r->ctx->user_id) : NULL;
	if (!arr)
		arr = json_array();
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
		if (kjson_str(o, "id"))
			id_links(r, o, key, kjson_str(o, "id"));
	kresp_json(r, 200, id_list(r, key, arr));
}

static void get_projects(kreq *r)
{
	list_scopes(r, "identity:get_auth_projects", "projects", idstore_user_projects);
}

static void get_domains(kreq *r)
{
	list_scopes(r, "identity:get_auth_domains", "domains", idstore_user_domains);
}

static void get_system(kreq *r)
{
	if (!id_enforce(r, "identity:get_auth_system", NULL))
		return;
	_cleanup_json_ json_t *roles = r->ctx->user_id
		? idstore_effective_roles(r->ctx->user_id, NULL, NULL, true) : NULL;
	json_t *sys = json_array();
	if (json_array_size(roles) > 0)
		json_array_append_new(sys, json_pack("{s:b}", "all", 1));
	kresp_json(r, 200, json_pack("{s:o,s:{s:s}}", "system", sys,
	                             "links", "self", id_url(r, "auth/system")));
}

/* ---- GET /v3/OS-REVOKE/events ---- */

static void get_revoke_events(kreq *r)
{
	if (!id_enforce(r, "identity:list_revoke_events", NULL))
		return;
	const char *since = kreq_query(r, "since");
	int64_t since_us = 0;
	if (since) {
		since_us = kutil_parse_iso8601(since);
		if (since_us < 0) {
			kresp_error(r, 400, "invalidate date format %s", since);
			return;
		}
	}
	json_t *events = idtoken_revoke_events(since_us);
	if (!events) {
		kresp_error(r, 500, "An unexpected error prevented the server from fulfilling "
		            "your request.");
		return;
	}
	kresp_json(r, 200, json_pack("{s:o,s:{s:n,s:s,s:n}}", "events", events, "links",
	                             "next", "self", id_url(r, "OS-REVOKE/events"), "previous"));
}

const kroute id_auth_routes[] = {
	{ "POST", "/v3/auth/tokens", post_tokens, KROUTE_PUBLIC },
	{ "GET", "/v3/auth/tokens", get_tokens, 0 },
	{ "DELETE", "/v3/auth/tokens", delete_tokens, 0 },
	{ "GET", "/v3/auth/catalog", get_catalog, 0 },
	{ "GET", "/v3/auth/projects", get_projects, 0 },
	{ "GET", "/v3/auth/domains", get_domains, 0 },
	{ "GET", "/v3/auth/system", get_system, 0 },
	{ "GET", "/v3/OS-REVOKE/events", get_revoke_events, 0 },
};
const size_t id_auth_nroutes = ARRAY_SIZE(id_auth_routes);
