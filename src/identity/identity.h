/*
 * identity.h - the Identity service (OpenStack Keystone v3 API), internal API.
 *
 * Layout of this folder:
 *   service.c      the kservice: routes, error dialect, init, version documents
 *   schema.c       the versioned schema (migrations) of the identity database
 *   store.c        model layer: SQL for users, projects, roles... returned as
 *                  JSON in Keystone's API shape (no "links"); used by both the
 *                  REST handlers and the token code
 *   policy.c       identity's default policy rules and id_enforce()
 *   fernet.c       Fernet tokens and the key repository (setup, rotate)
 *   token.c        token payloads, issue/validate, revocation events
 *   auth_api.c     /v3/auth/... (tokens, catalog, projects, domains, system)
 *   domains.c projects.c users.c groups.c roles.c assignments.c catalog.c
 *   appcreds.c credentials.c epfilter.c policies.c domain_config.c limits.c
 *                  the REST resources
 *   jsonhome.c     the JSON-Home document of / and /v3
 *   bootstrap.c    `kumo manage bootstrap` (keystone-manage bootstrap)
 *
 * Keystone's ids are uuid4 hex (32 chars); domain "default" is the exception.
 * Booleans are stored as INTEGER 0/1.  Times are stored as int64 microseconds
 * since the epoch.
 */
#ifndef KUMO_IDENTITY_H
#define KUMO_IDENTITY_H

#include <jansson.h>
#include "core/auth.h"
#include "core/db.h"
#include "core/http.h"
#include "core/policy.h"

extern kservice identity_service;
extern kdb *id_db;              /* opened by identity init */
extern kpolicy *id_policy;

/* ---- service.c ---- */
/* Keystone error body {"error": {"code", "title", "message"}}. */
void id_error_body(kreq *r, int status, const char *message);
/* "<base>/v3/<suffix>" for links blocks (pool string). */
const char *id_url(kreq *r, const char *suffix_fmt, ...) _printf_(2, 3);
/* Add "links": {"self": ...} to obj and return it. */
json_t *id_links(kreq *r, json_t *obj, const char *collection, const char *id);
/* List wrapper: {"<key>": arr, "links": {"self","previous":null,"next":null}} */
json_t *id_list(kreq *r, const char *key, json_t *arr);

/* JSON-Home (jsonhome.c): does the client ask for it (Accept:
 * application/json-home), and the answer, for "/" (root) or "/v3". */
bool id_wants_json_home(kreq *r);
void id_json_home(kreq *r, bool root);

/* Route tables, concatenated by service.c into the service's table:
 * auth_api.c exports the /v3/auth/... routes, routes.c all the resources. */
extern const kroute id_auth_routes[];
extern const size_t id_auth_nroutes;
extern const kroute id_resource_routes[];
extern const size_t id_resource_nroutes;

/* [identity] key_repository, default <state_dir>/fernet-keys. */
const char *id_key_repository(void);

/* ---- schema.c ---- */
int id_db_sync(void);

/* ---- policy.c ---- */
/* Check `action` ("identity:get_user") for r->ctx against target; on denial
 * answers 403 (or 401 without a context) and returns false. */
bool id_enforce(kreq *r, const char *action, json_t *target);
int id_policy_init(void);   /* defaults + [identity] policy_file */

/* ---- store.c: model layer (all return new references or NULL) ---- */
json_t *idstore_domain_get(const char *id);
json_t *idstore_domain_by_name(const char *name);
json_t *idstore_project_get(const char *id);
json_t *idstore_project_by_name(const char *name, const char *domain_id);
json_t *idstore_user_get(const char *id);      /* never includes the hash */
json_t *idstore_user_by_name(const char *name, const char *domain_id);
/* 0 when the password matches the stored hash (constant time), -1 otherwise. */
int idstore_user_check_password(const char *user_id, const char *password);
json_t *idstore_role_get(const char *id);
/* Effective roles of a user on exactly one scope (project_id, or domain_id,
 * or system): direct and group assignments, inherited ones from parent
 * projects/domain, expanded with implied roles.  Array of {"id","name"}
 * (plus "domain_id" when domain-specific), de-duplicated. */
json_t *idstore_effective_roles(const char *user_id, const char *project_id,
                                const char *domain_id, bool system);
/* Projects / domains where the user has at least one effective role. */
json_t *idstore_user_projects(const char *user_id);
json_t *idstore_user_domains(const char *user_id);
/* The service catalog in token format: [{"id","type","name","endpoints":
 * [{"id","interface","region","region_id","url"}]}] of enabled services and
 * endpoints. */
json_t *idstore_catalog(void);
/* OS-EP-FILTER (epfilter.c): is any endpoint or endpoint group associated
 * with a project?  If so, the catalog of a project-scoped token is
 * filtered: idstore_catalog_filtered() returns a new catalog with only the
 * project's endpoints, or NULL when the project has no association. */
bool idstore_epfilter_any(void);
json_t *idstore_catalog_filtered(const json_t *catalog, const char *project_id);
/* Password hashing with libxcrypt (bcrypt, [identity] password_hash_rounds,
 * default 12); malloc'd. */
char *idstore_hash_password(const char *password);
/* An application credential in API shape ({"id", "name", "user_id",
 * "project_id", "expires_at", "unrestricted", "roles": [role objects],
 * ["access_rules"]...}, no secret), or NULL (appcreds.c). */
json_t *idstore_appcred_get(const char *id);

/* ---- token.c ---- */
/* Issue: builds the full token body {"token": {...}} for the given user and
 * scope; returns the token id (malloc'd) or NULL with *status and *msg set. */
typedef struct id_scope {
	const char *project_id;
	const char *domain_id;
	bool system;
	bool unscoped;
} id_scope;
/* Revocation events (the token code consults them at validation). Each
 * records "tokens issued before now matching this are invalid". */
void idtoken_revoke_user(const char *user_id);            /* disable, delete, password change */
void idtoken_revoke_project(const char *project_id);      /* disable, delete */
void idtoken_revoke_domain(const char *domain_id);
void idtoken_revoke_assignment(const char *user_id, const char *project_id,
                               const char *domain_id);    /* a role assignment removed */
void idtoken_revoke_audit(const char *audit_id);          /* DELETE /v3/auth/tokens */
/* The recorded revocation events revoked after since_us (0: all), in
 * Keystone's OS-REVOKE shape ([{"user_id"?, "project_id"?, "domain_id"?,
 * "audit_id"?, "issued_before", "revoked_at"}]); NULL on error. */
json_t *idtoken_revoke_events(int64_t since_us);
/* The in-process validator for auth.h. */
int idtoken_validate(kpool *pool, const char *token, kctx **out);

/* Issuing (auth_api.c).  Methods are bits: idtoken_method_bit("password") = 1,
 * "token" = 2 ... (0 for an unknown name). */
unsigned idtoken_method_bit(const char *name);
typedef struct id_issue {
	const char *user_id;
	unsigned methods;             /* bits */
	id_scope scope;               /* project_id, domain_id or system; else unscoped */
	int64_t auth_at_us;           /* when authentication started = issued_at; 0 = now */
	int64_t expires_at_s;         /* 0 = now + [identity] token_expiration; the token
	                               * method passes its parent's */
	const char *parent_audit_id;  /* token method: the parent's audit chain id */
	bool nocatalog;
	const char *appcred_id;       /* application_credential method: its id */
	int64_t not_after_s;          /* 0, or the latest expires_at allowed (an
	                               * application credential's expiry) */
} id_issue;
/* Checks the user, scope and roles again (401 when the user/scope is gone or
 * disabled, or the user has no role on the scope).  *body is a new reference. */
char *idtoken_issue(kpool *pool, const id_issue *in, json_t **body, int *status,
                    const char **msg);
/* Validate a subject token (GET /v3/auth/tokens, the token method): 0 and *out
 * (and *body, a new reference, when body is not NULL), else 404. */
int idtoken_validate_full(kpool *pool, const char *token, bool allow_expired, bool catalog,
                          kctx **out, json_t **body);
/* Drop the cached user/scope/role resolutions (e.g. after a role grant). */
void idtoken_invalidate_cache(void);
/* The application credential a request's token was issued for (its
 * methods include "application_credential"), or NULL (pool string). */
const char *idtoken_appcred_id(kpool *pool, const kctx *ctx);

/* The token payload (format in token.c), exposed for tests and fuzzing. */
#define ID_MAX_ID 64
enum id_scope_kind { ID_SCOPE_UNSCOPED, ID_SCOPE_PROJECT, ID_SCOPE_DOMAIN, ID_SCOPE_SYSTEM };
typedef struct id_payload {
	unsigned methods;
	int scope;                          /* enum id_scope_kind */
	char user_id[ID_MAX_ID + 1];
	char scope_id[ID_MAX_ID + 1];       /* project or domain id, else "" */
	int64_t expires_at_s;
	int32_t issued_us;                  /* sub-second part of issued_at */
	unsigned char audit_ids[2][16];
	int naudit;                         /* 1, or 2 with the parent's chain id */
	char appcred_id[ID_MAX_ID + 1];     /* with the application_credential method */
} id_payload;
long idtoken_payload_encode(const id_payload *p, unsigned char *out, size_t cap);
int idtoken_payload_decode(const unsigned char *in, size_t n, id_payload *p);

/* ---- fernet.c ---- */
int idfernet_setup(const char *key_repo);      /* keys 0 and 1, if absent */
int idfernet_rotate(const char *key_repo, int max_active_keys);
int idfernet_load(const char *key_repo);       /* (re)load keys into memory */
/* Encrypt/decrypt a payload with the primary key / any key.  Token strings
 * are malloc'd; decrypt returns payload length or -1 (bad, wrong key). */
char *idfernet_encrypt(const unsigned char *payload, size_t n);
long idfernet_decrypt(const char *token, unsigned char *out, size_t cap, int64_t *issued_at_s);
/* idfernet_encrypt with an explicit Fernet timestamp (seconds). */
char *idfernet_encrypt_at(const unsigned char *payload, size_t n, int64_t ts);
/* Credential blobs, encrypted at rest with the credential keys (a second
 * repository, created on first use): malloc'd Fernet token / plaintext, NULL
 * on error.  unload frees the keys (service shutdown). */
char *idfernet_cred_encrypt(const char *plain);
char *idfernet_cred_decrypt(const char *token);
void idfernet_cred_unload(void);
/* One Fernet token with a given key and IV, '=' padding kept, exactly as the
 * spec writes it (known-answer tests). */
char *idfernet_encrypt_raw(const unsigned char key[32], int64_t ts, const unsigned char iv[16],
                           const unsigned char *payload, size_t n);

/* ---- bootstrap.c ---- */
typedef struct id_bootstrap_opts {
	const char *password;         /* admin password (required) */
	const char *username;         /* "admin" */
	const char *project_name;     /* "admin" */
	const char *role_name;        /* "admin" */
	const char *service_name;     /* "keystone" */
	const char *region_id;        /* "RegionOne" */
	const char *public_url, *internal_url, *admin_url;  /* may be NULL */
} id_bootstrap_opts;
int id_bootstrap(const id_bootstrap_opts *o);

#endif
