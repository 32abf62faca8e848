/*
 * auth.c - token validation and the request context (keystonemiddleware's job).
 *
 * kauth_validate() answers "who sent this token?" in three steps:
 *
 *   1. The bootstrap admin token ([DEFAULT] admin_token, the seed's
 *      OS_TOKEN mode): compared in constant time (SHA-256 of both sides,
 *      then a constant-time compare of the digests, so not even the length
 *      leaks).  It grants admin/member/reader with system scope.
 *   2. The local validator, registered by Identity when it runs in the same
 *      process: no HTTP, no copy.
 *   3. Otherwise Identity over HTTP (libcurl): GET {auth_url}/v3/auth/tokens
 *      with X-Subject-Token = the token and X-Auth-Token = the service's own
 *      token, obtained with POST /v3/auth/tokens from [keystone_authtoken]
 *      credentials and renewed shortly before it expires or when Identity
 *      answers 401.  Without service credentials the token validates itself
 *      (Keystone lets a token read its own validation).  401/404 mean an
 *      invalid token (401); an unreachable or failing Identity is 503.
 *
 * Valid remote answers are cached for token_cache_time seconds (never past
 * the token's own expiry) in a fixed-size set-associative table: 256 sets of
 * 4 entries, indexed by SHA-256 of the token, so raw tokens are neither map
 * keys nor ever logged (klog_token_ref gives a short digest for logs).  Each
 * entry owns a small pool holding its kctx; a hit copies it into the
 * caller's pool under the table's mutex.
 *
 * kauth_ctx_from_token_json() turns a Keystone token body into a kctx; the
 * remote path and Identity's own token code share it.
 */
#include "auth.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "conf.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define MAX_TOKEN_LEN 8192
#define MAX_RESPONSE (8u << 20)            /* bytes of an Identity answer */
#define SERVICE_TOKEN_MARGIN_US (30 * 1000000LL)
#define CACHE_SETS 256
#define CACHE_WAYS 4

/* ------------------------------------------------------------- contexts */

bool kctx_has_role(const kctx *c, const char *role)
{
	if (!c || !role)
		return false;
	for (size_t i = 0; i < c->nroles; i++)
		if (c->roles[i] && strcasecmp(c->roles[i], role) == 0)
			return true;
	return false;
}

static void set_str(json_t *o, const char *key, const char *v)
{
	if (v)
		json_object_set_new(o, key, json_string(v));
}

json_t *kctx_to_creds(const kctx *c)
{
	json_t *o = json_object();
	json_t *roles = json_array();
	json_object_set_new(o, "roles", roles);
	if (!c)
		return o;
	set_str(o, "user_id", c->user_id);
	set_str(o, "user_domain_id", c->user_domain_id);
	set_str(o, "project_id", c->project_id);
	set_str(o, "project_domain_id", c->project_domain_id);
	set_str(o, "domain_id", c->domain_id);
	if (c->system_scope)
		json_object_set_new(o, "system_scope", json_string("all"));
	for (size_t i = 0; i < c->nroles; i++)
		if (c->roles[i])
			json_array_append_new(roles, json_string(c->roles[i]));
	json_object_set_new(o, "is_admin", json_boolean(c->is_admin_token));
	/* oslo.context's default; Kumo has no [resource] admin_project_name */
	json_object_set_new(o, "is_admin_project", json_true());
	return o;
}

static const char **copy_strv(kpool *pool, const char *const *v, size_t n)
{
	if (!v)
		return NULL;
	const char **out = kpool_alloc(pool, (n + 1) * sizeof(*out));
	for (size_t i = 0; i < n; i++)
		out[i] = kpool_strdup(pool, v[i]);
	return out;
}

static kctx *ctx_copy(kpool *pool, const kctx *s)
{
	kctx *d = kpool_alloc(pool, sizeof(*d));
	*d = *s;
	d->token = kpool_strdup(pool, s->token);
	d->user_id = kpool_strdup(pool, s->user_id);
	d->user_name = kpool_strdup(pool, s->user_name);
	d->user_domain_id = kpool_strdup(pool, s->user_domain_id);
	d->user_domain_name = kpool_strdup(pool, s->user_domain_name);
	d->project_id = kpool_strdup(pool, s->project_id);
	d->project_name = kpool_strdup(pool, s->project_name);
	d->project_domain_id = kpool_strdup(pool, s->project_domain_id);
	d->project_domain_name = kpool_strdup(pool, s->project_domain_name);
	d->domain_id = kpool_strdup(pool, s->domain_id);
	d->domain_name = kpool_strdup(pool, s->domain_name);
	d->audit_id = kpool_strdup(pool, s->audit_id);
	d->roles = copy_strv(pool, s->roles, s->nroles);
	d->role_ids = copy_strv(pool, s->role_ids, s->nroles);
	d->methods = copy_strv(pool, s->methods, s->nmethods);
	return d;
}

static const char *jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static const char *pstr(kpool *pool, const json_t *obj, const char *key)
{
	return kpool_strdup(pool, jstr(obj, key));
}

int kauth_ctx_from_token_json(kpool *pool, const char *token, const json_t *body, kctx **out)
{
	*out = NULL;
	const json_t *t = json_object_get(body, "token");
	if (!t)
		t = body;
	const json_t *user = json_object_get(t, "user");
	if (!json_is_object(user) || !jstr(user, "id"))
		return 401;
	kctx *c = kpool_alloc(pool, sizeof(*c));
	c->token = kpool_strdup(pool, token);
	c->user_id = pstr(pool, user, "id");
	c->user_name = pstr(pool, user, "name");
	const json_t *ud = json_object_get(user, "domain");
	c->user_domain_id = pstr(pool, ud, "id");
	c->user_domain_name = pstr(pool, ud, "name");

	const json_t *project = json_object_get(t, "project");
	if (json_is_object(project)) {
		c->project_id = pstr(pool, project, "id");
		c->project_name = pstr(pool, project, "name");
		const json_t *pd = json_object_get(project, "domain");
		c->project_domain_id = pstr(pool, pd, "id");
		c->project_domain_name = pstr(pool, pd, "name");
	}
	const json_t *domain = json_object_get(t, "domain");
	if (json_is_object(domain)) {
		c->domain_id = pstr(pool, domain, "id");
		c->domain_name = pstr(pool, domain, "name");
	}
	const json_t *system = json_object_get(t, "system");
	c->system_scope = json_is_true(json_object_get(system, "all"));

	const json_t *roles = json_object_get(t, "roles");
	size_t n = json_is_array(roles) ? json_array_size(roles) : 0;
	c->roles = kpool_alloc(pool, (n + 1) * sizeof(*c->roles));
	c->role_ids = kpool_alloc(pool, (n + 1) * sizeof(*c->role_ids));
	for (size_t i = 0; i < n; i++) {
		const json_t *r = json_array_get(roles, i);
		const char *name = jstr(r, "name");
		if (!name)
			continue;
		c->roles[c->nroles] = kpool_strdup(pool, name);
		c->role_ids[c->nroles] = pstr(pool, r, "id");
		c->nroles++;
	}

	const json_t *methods = json_object_get(t, "methods");
	n = json_is_array(methods) ? json_array_size(methods) : 0;
	c->methods = kpool_alloc(pool, (n + 1) * sizeof(*c->methods));
	for (size_t i = 0; i < n; i++) {
		const char *m = json_string_value(json_array_get(methods, i));
		if (m)
			c->methods[c->nmethods++] = kpool_strdup(pool, m);
	}

	const char *exp = jstr(t, "expires_at");
	if (exp && (c->expires_at_us = kutil_parse_iso8601(exp)) < 0)
		return 401;
	const char *iss = jstr(t, "issued_at");
	if (iss && (c->issued_at_us = kutil_parse_iso8601(iss)) < 0)
		return 401;
	const json_t *audit = json_object_get(t, "audit_ids");
	c->audit_id = kpool_strdup(pool, json_string_value(json_array_get(audit, 0)));
	*out = c;
	return 0;
}

/* --------------------------------------------------------- admin token */

static void sha256(const char *s, unsigned char out[32])
{
	unsigned int n = 32;
	if (!EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL))
		abort();
}

static int admin_token_ctx(kpool *pool, const char *token, kctx **out)
{
	const char *admin = kumo_conf ? kconf_get(kumo_conf, "DEFAULT", "admin_token", NULL) : NULL;
	if (!admin || !*admin)
		return -1;
	unsigned char a[32], b[32];
	sha256(admin, a);
	sha256(token, b);
	if (!kutil_ct_equal(a, b, sizeof(a)))
		return -1;
	static const char *const roles[] = { "admin", "member", "reader" };
	kctx *c = kpool_alloc(pool, sizeof(*c));
	c->token = kpool_strdup(pool, token);
	c->is_admin_token = true;
	c->system_scope = true;
	c->roles = copy_strv(pool, roles, ARRAY_SIZE(roles));
	c->nroles = ARRAY_SIZE(roles);
	*out = c;
	return 0;
}

/* ------------------------------------------------------ local validator */

static kauth_validate_fn local_validator;

void kauth_set_local_validator(kauth_validate_fn fn)
{
	__atomic_store_n(&local_validator, fn, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------- remote + cache */

struct centry {
	unsigned char key[32];       /* SHA-256 of the token */
	int64_t until_us;            /* 0 = empty */
	int64_t stamp_us;            /* last use, for eviction */
	kpool *pool;
	kctx *ctx;
};

static struct {
	pthread_mutex_t mu;
	bool inited;
	char *base;                  /* auth_url without a trailing "/" or "/v3" */
	char *username, *password, *project_name, *user_domain_name, *project_domain_name;
	long cache_time;             /* seconds; <= 0 disables the cache */
	char *svc_token;             /* the service's own token, or NULL */
	int64_t svc_expires_us;
	struct centry cache[CACHE_SETS][CACHE_WAYS];
} R = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void centry_clear(struct centry *e)
{
	if (e->pool)
		kpool_free(e->pool);
	memset(e, 0, sizeof(*e));
}

static void replace(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

int kauth_remote_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, curl_init_once);
	const kconf *c = kumo_conf;
	const char *sec = "keystone_authtoken";
	const char *url = c ? kconf_get(c, sec, "auth_url", NULL) : NULL;
	if (!url || !*url)
		url = c ? kconf_get(c, sec, "www_authenticate_uri", NULL) : NULL;
	if (!url || !*url)
		url = "http://127.0.0.1:5000";

	pthread_mutex_lock(&R.mu);
	replace(&R.base, url);
	size_t n = strlen(R.base);
	while (n && R.base[n - 1] == '/')
		R.base[--n] = '\0';
	if (n >= 3 && strcmp(R.base + n - 3, "/v3") == 0)
		R.base[n - 3] = '\0';
	replace(&R.username, c ? kconf_get(c, sec, "username", NULL) : NULL);
	replace(&R.password, c ? kconf_get(c, sec, "password", NULL) : NULL);
	replace(&R.project_name, c ? kconf_get(c, sec, "project_name", NULL) : NULL);
	replace(&R.user_domain_name, c ? kconf_get(c, sec, "user_domain_name", "Default")
					: "Default");
	replace(&R.project_domain_name, c ? kconf_get(c, sec, "project_domain_name", "Default")
					   : "Default");
	R.cache_time = c ? kconf_get_int(c, sec, "token_cache_time", 60) : 60;
	replace(&R.svc_token, NULL);
	R.svc_expires_us = 0;
	for (int s = 0; s < CACHE_SETS; s++)
		for (int w = 0; w < CACHE_WAYS; w++)
			centry_clear(&R.cache[s][w]);
	R.inited = true;
	pthread_mutex_unlock(&R.mu);
	return 0;
}

struct http_resp {
	char *body;
	size_t len;
	bool too_big;
	char *subject_token;         /* X-Subject-Token of the answer */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
	size_t n = size * nmemb;
	if (r->len + n > MAX_RESPONSE) {
		r->too_big = true;
		return 0;
	}
	char *nb = realloc(r->body, r->len + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + r->len, data, n);
	r->body = nb;
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct http_resp *r = ud;
	size_t n = size * nmemb;
	static const char name[] = "x-subject-token:";
	if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		const char *v = data + sizeof(name) - 1;
		const char *end = data + n;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && isspace((unsigned char)end[-1]))
			end--;
		free(r->subject_token);
		r->subject_token = strndup(v, (size_t)(end - v));
	}
	return n;
}

static void http_resp_fini(struct http_resp *r)
{
	free(r->body);
	free(r->subject_token);
	memset(r, 0, sizeof(*r));
}

/* One request to Identity; the HTTP status, or 0 when there is no answer. */
static long http_do(const char *method, const char *url, const char *auth_token,
		    const char *subject_token, const char *body, struct http_resp *r)
{
	CURL *h = curl_easy_init();
	if (!h)
		return 0;
	struct curl_slist *hdrs = NULL;
	_cleanup_free_ char *a = NULL, *s = NULL;
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "User-Agent: kumo-auth");
	if (body)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (auth_token && asprintf(&a, "X-Auth-Token: %s", auth_token) > 0)
		hdrs = curl_slist_append(hdrs, a);
	if (subject_token && asprintf(&s, "X-Subject-Token: %s", subject_token) > 0)
		hdrs = curl_slist_append(hdrs, s);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	long status = 0;
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		klog_warn("auth", "%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return status;
}

/* The service token (malloc'd copy): the cached one, or a new one when
 * missing, close to expiry, or equal to `rejected` (Identity just refused
 * it).  Fetches are serialized, so a burst of requests costs one POST.
 * *configured is false when [keystone_authtoken] has no service user (then
 * NULL is no error). */
static pthread_mutex_t svc_fetch_mu = PTHREAD_MUTEX_INITIALIZER;

static char *cached_service_token(const char *rejected)
{
	char *t = NULL;
	pthread_mutex_lock(&R.mu);
	if (R.svc_token && R.svc_expires_us - SERVICE_TOKEN_MARGIN_US > kutil_now_us() &&
	    !(rejected && strcmp(rejected, R.svc_token) == 0))
		t = strdup(R.svc_token);
	pthread_mutex_unlock(&R.mu);
	return t;
}

static char *service_token(const char *rejected, bool *configured)
{
	pthread_mutex_lock(&R.mu);
	*configured = R.username && *R.username;
	pthread_mutex_unlock(&R.mu);
	if (!*configured)
		return NULL;
	char *tok = cached_service_token(rejected);
	if (tok)
		return tok;

	pthread_mutex_lock(&svc_fetch_mu);
	tok = cached_service_token(rejected);      /* another thread may have renewed it */
	if (tok) {
		pthread_mutex_unlock(&svc_fetch_mu);
		return tok;
	}
	pthread_mutex_lock(&R.mu);
	json_t *req = json_pack("{s:{s:{s:[s], s:{s:{s:s, s:s?, s:{s:s?}}}}}}",
				"auth", "identity", "methods", "password", "password",
				"user", "name", R.username, "password", R.password,
				"domain", "name", R.user_domain_name);
	if (req && R.project_name && *R.project_name)
		json_object_set_new(json_object_get(req, "auth"), "scope",
				    json_pack("{s:{s:s, s:{s:s?}}}", "project", "name",
					      R.project_name, "domain", "name",
					      R.project_domain_name));
	_cleanup_free_ char *url = NULL;
	if (asprintf(&url, "%s/v3/auth/tokens", R.base) < 0)
		url = NULL;
	pthread_mutex_unlock(&R.mu);
	_cleanup_free_ char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);

	struct http_resp r = { 0 };
	long status = body && url ? http_do("POST", url, NULL, NULL, body, &r) : 0;
	if ((status == 201 || status == 200) && r.subject_token && *r.subject_token) {
		json_t *j = r.body ? json_loads(r.body, 0, NULL) : NULL;
		const char *exp = jstr(json_object_get(j, "token"), "expires_at");
		int64_t exp_us = exp ? kutil_parse_iso8601(exp) : -1;
		if (exp_us < 0)
			exp_us = kutil_now_us() + 3600 * 1000000LL;
		tok = strdup(r.subject_token);
		pthread_mutex_lock(&R.mu);
		replace(&R.svc_token, tok);
		R.svc_expires_us = exp_us;
		pthread_mutex_unlock(&R.mu);
		json_decref(j);
	} else {
		klog_error("auth", "cannot obtain a service token from %s (HTTP %ld)",
			   url ? url : "?", status);
	}
	http_resp_fini(&r);
	pthread_mutex_unlock(&svc_fetch_mu);
	return tok;
}

static int cache_get(kpool *pool, const unsigned char key[32], kctx **out)
{
	int64_t now = kutil_now_us();
	int rc = -1;
	pthread_mutex_lock(&R.mu);
	struct centry *set = R.cache[key[0]];
	for (int w = 0; w < CACHE_WAYS; w++) {
		struct centry *e = &set[w];
		if (!e->until_us || CRYPTO_memcmp(e->key, key, 32) != 0)
			continue;
		if (e->until_us <= now) {
			centry_clear(e);
			break;
		}
		e->stamp_us = now;
		*out = ctx_copy(pool, e->ctx);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&R.mu);
	return rc;
}

static void cache_put(const unsigned char key[32], const kctx *c)
{
	int64_t now = kutil_now_us();
	pthread_mutex_lock(&R.mu);
	if (R.cache_time <= 0) {
		pthread_mutex_unlock(&R.mu);
		return;
	}
	int64_t until = now + (int64_t)R.cache_time * 1000000LL;
	if (c->expires_at_us && c->expires_at_us < until)
		until = c->expires_at_us;
	struct centry *set = R.cache[key[0]];
	struct centry *victim = &set[0];
	for (int w = 0; w < CACHE_WAYS; w++) {
		struct centry *e = &set[w];
		if (e->until_us && memcmp(e->key, key, 32) == 0) {
			victim = e;
			break;
		}
		if (!e->until_us || e->until_us <= now) {
			victim = e;
		} else if (victim->until_us && victim->until_us > now &&
			   e->stamp_us < victim->stamp_us) {
			victim = e;
		}
	}
	centry_clear(victim);
	victim->pool = kpool_new();
	victim->ctx = ctx_copy(victim->pool, c);
	memcpy(victim->key, key, 32);
	victim->until_us = until;
	victim->stamp_us = now;
	pthread_mutex_unlock(&R.mu);
}

static int remote_validate(kpool *pool, const char *token, kctx **out)
{
	pthread_mutex_lock(&R.mu);
	bool inited = R.inited;
	pthread_mutex_unlock(&R.mu);
	if (!inited)
		kauth_remote_init();

	unsigned char key[32];
	sha256(token, key);
	char ref[9];
	klog_token_ref(token, ref);
	if (cache_get(pool, key, out) == 0)
		return 0;

	pthread_mutex_lock(&R.mu);
	_cleanup_free_ char *url = NULL;
	if (asprintf(&url, "%s/v3/auth/tokens?nocatalog", R.base) < 0)
		url = NULL;
	pthread_mutex_unlock(&R.mu);
	if (!url)
		return 503;

	bool configured;
	_cleanup_free_ char *svc = service_token(NULL, &configured);
	if (configured && !svc)
		return 503;
	struct http_resp r = { 0 };
	long status = http_do("GET", url, svc ? svc : token, token, NULL, &r);
	if (status == 401 && svc) {
		/* our own token may have been revoked or expired early: renew once */
		char *fresh = service_token(svc, &configured);
		free(svc);
		svc = fresh;
		if (!svc) {
			http_resp_fini(&r);
			return 503;
		}
		http_resp_fini(&r);
		status = http_do("GET", url, svc, token, NULL, &r);
	}
	int rc;
	if (status == 200) {
		json_t *body = r.body ? json_loads(r.body, 0, NULL) : NULL;
		rc = body ? kauth_ctx_from_token_json(pool, token, body, out) : 503;
		json_decref(body);
		if (rc == 0 && (*out)->expires_at_us && (*out)->expires_at_us <= kutil_now_us()) {
			*out = NULL;
			rc = 401;
		}
		if (rc == 0)
			cache_put(key, *out);
	} else if (status == 401 || status == 404) {
		rc = 401;
	} else {
		klog_error("auth", "token %s: identity at %s answered HTTP %ld", ref, url, status);
		rc = 503;
	}
	if (rc)
		klog_debug("auth", "token %s rejected (%d)", ref, rc);
	http_resp_fini(&r);
	return rc;
}

/* Tokens are printable ASCII without spaces (Fernet is base64url; UUID
 * tokens are hex); anything else cannot be valid and must not reach an HTTP
 * header. */
static bool token_well_formed(const char *t)
{
	size_t n = 0;
	for (; t[n]; n++)
		if (t[n] <= 0x20 || t[n] >= 0x7f)
			return false;
	return n > 0 && n <= MAX_TOKEN_LEN;
}

int kauth_validate(kpool *pool, const char *token, kctx **out)
{
	*out = NULL;
	if (!token || !token_well_formed(token))
		return 401;
	if (admin_token_ctx(pool, token, out) == 0)
		return 0;
	kauth_validate_fn local = __atomic_load_n(&local_validator, __ATOMIC_ACQUIRE);
	if (local)
		return local(pool, token, out);
	return remote_validate(pool, token, out);
}

/* ---- the service's own credentials, for calls to other services (client.c) ---- */

char *kauth_service_token(const char *rejected)
{
	pthread_mutex_lock(&R.mu);
	bool inited = R.inited;
	pthread_mutex_unlock(&R.mu);
	if (!inited)
		kauth_remote_init();
	bool configured;
	return service_token(rejected, &configured);
}

char *kauth_identity_url(void)
{
	pthread_mutex_lock(&R.mu);
	bool inited = R.inited;
	pthread_mutex_unlock(&R.mu);
	if (!inited)
		kauth_remote_init();
	pthread_mutex_lock(&R.mu);
	char *u = R.base ? strdup(R.base) : NULL;
	pthread_mutex_unlock(&R.mu);
	return u;
}
