/*
 * auth.h - who is calling: token validation and the request context.
 *
 * Every service's protected route goes through kauth_authenticate(), which
 * turns X-Auth-Token into a kctx.  Where Identity runs in the same process it
 * registers a local validator (no HTTP, no copy); elsewhere the token is
 * validated against Identity over HTTP (GET /v3/auth/tokens with the
 * service's own token, [keystone_authtoken] in the config) and the answer is
 * cached for a short time ([keystone_authtoken] token_cache_time, 60 s).
 */
#ifndef KUMO_AUTH_H
#define KUMO_AUTH_H

#include <jansson.h>
#include "common.h"
#include "pool.h"

struct kctx {
	const char *token;               /* as received */
	const char *user_id, *user_name, *user_domain_id, *user_domain_name;
	const char *project_id, *project_name, *project_domain_id, *project_domain_name;
	const char *domain_id, *domain_name;  /* domain-scoped tokens */
	bool system_scope;               /* scope {"system": {"all": true}} */
	bool is_admin_token;             /* the bootstrap [DEFAULT] admin_token */
	const char **roles;              /* effective role names, lowercase as stored */
	const char **role_ids;
	size_t nroles;
	int64_t expires_at_us;
	int64_t issued_at_us;
	const char *audit_id;
	const char **methods;            /* "password", "token" */
	size_t nmethods;
};
typedef struct kctx kctx;

bool kctx_has_role(const kctx *c, const char *role);   /* case-insensitive */
/* The context as oslo.policy "credentials" (user_id, project_id, domain_id,
 * roles, system_scope ...), a new reference. */
json_t *kctx_to_creds(const kctx *c);

/* A validator: 0 and *out (pool memory) when valid; else an HTTP status
 * (401 invalid/expired/revoked, 404 for subject-token lookups). */
typedef int (*kauth_validate_fn)(kpool *pool, const char *token, kctx **out);

/* Identity calls this at init when it runs in-process. */
void kauth_set_local_validator(kauth_validate_fn fn);
/* Validate a token: local validator if set, else remote with cache. */
int kauth_validate(kpool *pool, const char *token, kctx **out);
/* Configure the remote validator from [keystone_authtoken] of the config. */
int kauth_remote_init(void);

/* Build a kctx (pool memory) from a Keystone token body ({"token": {...}} or
 * the inner object): 0, or 401 when it has no user or unparsable times.
 * Expiry is not checked here. */
int kauth_ctx_from_token_json(kpool *pool, const char *token, const json_t *body, kctx **out);

/* A token for this service's own user ([keystone_authtoken] username,
 * password, project_name...), cached until close to expiry; a new one when
 * `rejected` equals the cached one (the caller just got a 401 with it).
 * malloc'd; NULL when no service user is configured or Identity refused. */
char *kauth_service_token(const char *rejected);
/* Identity's base URL without /v3 ([keystone_authtoken] auth_url); malloc'd. */
char *kauth_identity_url(void);

#endif
