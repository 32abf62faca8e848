/*
 * test_auth.c - token validation: the bootstrap admin token, the in-process
 * validator, and the remote validator against a tiny fake Identity served by
 * libmicrohttpd on loopback (this tests the HTTP client and its cache; the
 * real Identity is exercised by the integration tests).
 */
#include "ktest.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/conf.h"
#include "core/pool.h"
#include "core/util.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void set_conf(const char *text)
{
	char err[256] = "";
	kconf_free(kumo_conf);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	if (!kumo_conf)
		fprintf(stderr, "kconf_parse: %s\n", err);
}

/* ------------------------------------------------------------ contexts */

KTEST(has_role_and_creds)
{
	const char *roles[] = { "member", "Reader" };
	kctx c = { .user_id = "u1", .user_domain_id = "default", .project_id = "p1",
		   .project_domain_id = "default", .roles = roles, .nroles = 2 };
	CHECK(kctx_has_role(&c, "member"));
	CHECK(kctx_has_role(&c, "READER"));
	CHECK(!kctx_has_role(&c, "admin"));
	CHECK(!kctx_has_role(NULL, "admin"));
	CHECK(!kctx_has_role(&c, NULL));

	json_t *cr = kctx_to_creds(&c);
	CHECK_STR(json_string_value(json_object_get(cr, "user_id")), "u1");
	CHECK_STR(json_string_value(json_object_get(cr, "project_id")), "p1");
	CHECK_STR(json_string_value(json_object_get(cr, "project_domain_id")), "default");
	CHECK_STR(json_string_value(json_object_get(cr, "user_domain_id")), "default");
	CHECK(json_object_get(cr, "domain_id") == NULL);       /* missing, not null */
	CHECK(json_object_get(cr, "system_scope") == NULL);
	CHECK_INT(json_array_size(json_object_get(cr, "roles")), 2);
	CHECK_STR(json_string_value(json_array_get(json_object_get(cr, "roles"), 1)), "Reader");
	CHECK(json_is_false(json_object_get(cr, "is_admin")));
	json_decref(cr);

	kctx s = { .user_id = "u2", .system_scope = true, .is_admin_token = true };
	cr = kctx_to_creds(&s);
	CHECK_STR(json_string_value(json_object_get(cr, "system_scope")), "all");
	CHECK(json_is_true(json_object_get(cr, "is_admin")));
	CHECK_INT(json_array_size(json_object_get(cr, "roles")), 0);
	json_decref(cr);

	cr = kctx_to_creds(NULL);
	CHECK(json_is_array(json_object_get(cr, "roles")));
	json_decref(cr);
}

KTEST(ctx_from_token_json)
{
	kpool *pool = kpool_new();
	json_t *body = json_loads(
		"{\"token\": {\"methods\": [\"password\", \"token\"],"
		" \"user\": {\"id\": \"u1\", \"name\": \"alice\","
		"            \"domain\": {\"id\": \"default\", \"name\": \"Default\"}},"
		" \"project\": {\"id\": \"p1\", \"name\": \"demo\","
		"               \"domain\": {\"id\": \"d9\", \"name\": \"Other\"}},"
		" \"roles\": [{\"id\": \"r1\", \"name\": \"member\"},"
		"             {\"id\": \"r2\", \"name\": \"reader\"},"
		"             {\"id\": \"r3\"}],"
		" \"expires_at\": \"2030-01-01T00:00:00.000000Z\","
		" \"issued_at\": \"2029-12-31T23:00:00.000000Z\","
		" \"audit_ids\": [\"aud1\"]}}", 0, NULL);
	kctx *c = NULL;
	CHECK_INT(kauth_ctx_from_token_json(pool, "tok", body, &c), 0);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->token, "tok");
		CHECK_STR(c->user_id, "u1");
		CHECK_STR(c->user_name, "alice");
		CHECK_STR(c->user_domain_id, "default");
		CHECK_STR(c->user_domain_name, "Default");
		CHECK_STR(c->project_id, "p1");
		CHECK_STR(c->project_name, "demo");
		CHECK_STR(c->project_domain_id, "d9");
		CHECK_STR(c->project_domain_name, "Other");
		CHECK(c->domain_id == NULL);
		CHECK(!c->system_scope);
		CHECK_INT(c->nroles, 2);
		CHECK_STR(c->roles[0], "member");
		CHECK_STR(c->role_ids[1], "r2");
		CHECK_INT(c->nmethods, 2);
		CHECK_STR(c->methods[1], "token");
		CHECK_STR(c->audit_id, "aud1");
		CHECK_INT(c->expires_at_us, 1893456000LL * 1000000);
		CHECK_INT(c->issued_at_us, (1893456000LL - 3600) * 1000000);
	}
	json_decref(body);

	/* domain and system scopes, inner object without the wrapper */
	body = json_loads("{\"user\": {\"id\": \"u2\"},"
			  " \"domain\": {\"id\": \"d1\", \"name\": \"D\"},"
			  " \"roles\": [{\"id\": \"a\", \"name\": \"admin\"}]}", 0, NULL);
	CHECK_INT(kauth_ctx_from_token_json(pool, "t2", body, &c), 0);
	CHECK_STR(c->domain_id, "d1");
	CHECK(kctx_has_role(c, "admin"));
	CHECK_INT(c->expires_at_us, 0);
	json_decref(body);
	body = json_loads("{\"token\": {\"user\": {\"id\": \"u3\"}, \"system\": {\"all\": true}}}",
			  0, NULL);
	CHECK_INT(kauth_ctx_from_token_json(pool, "t3", body, &c), 0);
	CHECK(c->system_scope);
	CHECK_INT(c->nroles, 0);
	json_decref(body);

	/* malformed */
	const char *bad[] = {
		"{\"token\": {}}",
		"{\"token\": {\"user\": {\"name\": \"x\"}}}",
		"{\"token\": {\"user\": {\"id\": 5}}}",
		"{\"token\": {\"user\": {\"id\": \"u\"}, \"expires_at\": \"yesterday\"}}",
		"[]",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		body = json_loads(bad[i], 0, NULL);
		c = (kctx *)1;
		CHECK_INT(kauth_ctx_from_token_json(pool, "t", body, &c), 401);
		CHECK(c == NULL);
		json_decref(body);
	}
	kpool_free(pool);
}

/* ------------------------------------------------- admin token, local */

static atomic_int local_calls;

static int fake_local(kpool *pool, const char *token, kctx **out)
{
	atomic_fetch_add(&local_calls, 1);
	if (strcmp(token, "local-good") != 0)
		return 401;
	static const char *roles[] = { "member" };
	kctx *c = kpool_alloc(pool, sizeof(*c));
	c->token = kpool_strdup(pool, token);
	c->user_id = "local-user";
	c->roles = roles;
	c->nroles = 1;
	*out = c;
	return 0;
}

KTEST(admin_token_and_local_validator)
{
	kpool *pool = kpool_new();
	kctx *c = NULL;
	kauth_set_local_validator(fake_local);

	set_conf("[DEFAULT]\nadmin_token = s3cret-admin\n");
	CHECK_INT(kauth_validate(pool, "s3cret-admin", &c), 0);
	CHECK(c && c->is_admin_token && c->system_scope);
	CHECK(c && kctx_has_role(c, "admin") && kctx_has_role(c, "member") &&
	      kctx_has_role(c, "reader"));
	CHECK(c && c->nroles == 3);
	CHECK(c && c->user_id == NULL);
	CHECK_STR(c ? c->token : NULL, "s3cret-admin");
	CHECK_INT(atomic_load(&local_calls), 0);

	/* near misses go to the local validator, which says no */
	CHECK_INT(kauth_validate(pool, "s3cret-admin2", &c), 401);
	CHECK(c == NULL);
	CHECK_INT(kauth_validate(pool, "s3cret-admi", &c), 401);
	CHECK_INT(kauth_validate(pool, "S3CRET-ADMIN", &c), 401);
	CHECK_INT(atomic_load(&local_calls), 3);

	/* the local validator answers everything else */
	CHECK_INT(kauth_validate(pool, "local-good", &c), 0);
	CHECK_STR(c ? c->user_id : NULL, "local-user");
	CHECK(c && !c->is_admin_token);

	/* an empty admin_token disables the bootstrap mode */
	set_conf("[DEFAULT]\nadmin_token =\n");
	CHECK_INT(kauth_validate(pool, "s3cret-admin", &c), 401);
	CHECK_INT(kauth_validate(pool, "", &c), 401);

	/* no config at all */
	kconf_free(kumo_conf);
	kumo_conf = NULL;
	CHECK_INT(kauth_validate(pool, "s3cret-admin", &c), 401);
	CHECK_INT(kauth_validate(pool, "local-good", &c), 0);

	/* tokens that cannot be valid never reach a validator */
	int before = atomic_load(&local_calls);
	CHECK_INT(kauth_validate(pool, NULL, &c), 401);
	CHECK_INT(kauth_validate(pool, "", &c), 401);
	CHECK_INT(kauth_validate(pool, "two words", &c), 401);
	CHECK_INT(kauth_validate(pool, "evil\r\nX-Injected: 1", &c), 401);
	char *huge = malloc(20000);
	memset(huge, 'a', 19999);
	huge[19999] = '\0';
	CHECK_INT(kauth_validate(pool, huge, &c), 401);
	free(huge);
	CHECK_INT(atomic_load(&local_calls), before);

	kauth_set_local_validator(NULL);
	kpool_free(pool);
}

/* ----------------------------------------------------- fake Identity */

static struct {
	atomic_int posts, gets;
	atomic_int svc_serial;
	int valid_from;              /* service tokens svc-N with N >= this are valid */
	pthread_mutex_t mu;
	int svc_ttl_s;               /* lifetime of issued service tokens */
	char last_auth[128];         /* X-Auth-Token of the last GET */
} fake = { .mu = PTHREAD_MUTEX_INITIALIZER, .svc_ttl_s = 3600 };

struct upload {
	char *data;
	size_t len;
};

static enum MHD_Result reply_json(struct MHD_Connection *conn, int status, json_t *body,
				  const char *subject)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : strdup("");
	json_decref(body);
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text,
								 MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (subject)
		MHD_add_response_header(r, "X-Subject-Token", subject);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static json_t *token_body(const char *user_id, int64_t expires_us, bool system)
{
	char exp[32], iss[32];
	kutil_iso8601_us(expires_us, exp);
	kutil_iso8601_us(kutil_now_us(), iss);
	json_t *t = json_pack("{s:[s], s:{s:s, s:s, s:{s:s, s:s}}, s:[{s:s, s:s}, {s:s, s:s}],"
			      " s:s, s:s, s:[s]}",
			      "methods", "password",
			      "user", "id", user_id, "name", user_id, "domain", "id", "default",
			      "name", "Default",
			      "roles", "id", "r1", "name", "member", "id", "r2", "name", "reader",
			      "expires_at", exp, "issued_at", iss, "audit_ids", "aud");
	if (system)
		json_object_set_new(t, "system", json_pack("{s:b}", "all", 1));
	else
		json_object_set_new(t, "project", json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", "p1",
							     "name", "demo", "domain", "id",
							     "default", "name", "Default"));
	return json_pack("{s:o}", "token", t);
}

/* Which subject tokens are valid: good-* (1 h), short-* (1 s), system-*;
 * expired-* are expired; boom-* crash the server (500). */
static int subject_status(const char *subject, json_t **body)
{
	int64_t now = kutil_now_us();
	*body = NULL;
	if (strncmp(subject, "good-", 5) == 0)
		*body = token_body("u1", now + 3600 * 1000000LL, false);
	else if (strncmp(subject, "short-", 6) == 0)
		*body = token_body("u-short", now + 1000000LL, false);
	else if (strncmp(subject, "system-", 7) == 0)
		*body = token_body("admin", now + 3600 * 1000000LL, true);
	else if (strncmp(subject, "expired-", 8) == 0)
		*body = token_body("u1", now - 1000000LL, false);
	else if (strncmp(subject, "boom-", 5) == 0)
		return 500;
	else
		return 404;
	return 200;
}

static enum MHD_Result fake_identity(void *cls, struct MHD_Connection *conn, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_size,
				     void **con_cls)
{
	if (!*con_cls) {
		*con_cls = calloc(1, sizeof(struct upload));
		return MHD_YES;
	}
	struct upload *up = *con_cls;
	if (*upload_size) {
		up->data = realloc(up->data, up->len + *upload_size + 1);
		memcpy(up->data + up->len, upload_data, *upload_size);
		up->len += *upload_size;
		up->data[up->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/v3/auth/tokens") != 0)
		return reply_json(conn, 404, NULL, NULL);

	if (strcmp(method, "POST") == 0) {
		atomic_fetch_add(&fake.posts, 1);
		json_t *req = up->data ? json_loads(up->data, 0, NULL) : NULL;
		json_t *user = json_object_get(json_object_get(json_object_get(
			json_object_get(req, "auth"), "identity"), "password"), "user");
		const char *name = json_string_value(json_object_get(user, "name"));
		const char *pw = json_string_value(json_object_get(user, "password"));
		const char *dom = json_string_value(json_object_get(json_object_get(user, "domain"),
								    "name"));
		json_t *scope = json_object_get(json_object_get(req, "auth"), "scope");
		const char *pname = json_string_value(json_object_get(
			json_object_get(scope, "project"), "name"));
		bool ok = name && pw && dom && pname && strcmp(name, "nova") == 0 &&
			  strcmp(pw, "secret") == 0 && strcmp(dom, "Default") == 0 &&
			  strcmp(pname, "service") == 0;
		json_decref(req);
		if (!ok)
			return reply_json(conn, 401, NULL, NULL);
		char tok[64];
		pthread_mutex_lock(&fake.mu);
		snprintf(tok, sizeof(tok), "svc-%d", atomic_fetch_add(&fake.svc_serial, 1) + 1);
		int ttl = fake.svc_ttl_s;
		pthread_mutex_unlock(&fake.mu);
		return reply_json(conn, 201, token_body("nova", kutil_now_us() + ttl * 1000000LL,
							false), tok);
	}
	if (strcmp(method, "GET") != 0)
		return reply_json(conn, 405, NULL, NULL);

	atomic_fetch_add(&fake.gets, 1);
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Auth-Token");
	const char *subject = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							  "X-Subject-Token");
	pthread_mutex_lock(&fake.mu);
	snprintf(fake.last_auth, sizeof(fake.last_auth), "%s", auth ? auth : "");
	bool svc_ok = auth && strncmp(auth, "svc-", 4) == 0 &&
		      atoi(auth + 4) >= fake.valid_from && atoi(auth + 4) <= fake.svc_serial;
	pthread_mutex_unlock(&fake.mu);
	json_t *body = NULL;
	if (!subject)
		return reply_json(conn, 400, NULL, NULL);
	int st = subject_status(subject, &body);
	/* self-validation: a valid token may read its own validation */
	bool self_ok = auth && strcmp(auth, subject) == 0 && st == 200;
	if (!svc_ok && !self_ok) {
		json_decref(body);
		return reply_json(conn, 401, NULL, NULL);
	}
	return reply_json(conn, st, body, NULL);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;
	if (up) {
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}

static struct MHD_Daemon *start_fake(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
		MHD_USE_ERROR_LOG, 0, NULL, NULL, fake_identity, NULL,
		MHD_OPTION_SOCK_ADDR, &sa,
		MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
		MHD_OPTION_END);
	if (!d)
		return NULL;
	*port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	return d;
}

static void remote_conf(int port, const char *extra)
{
	char text[1024];
	snprintf(text, sizeof(text),
		 "[keystone_authtoken]\n"
		 "auth_url = http://127.0.0.1:%d/v3/\n"
		 "%s\n", port, extra);
	set_conf(text);
	kauth_remote_init();
}

static const char *service_creds =
	"username = nova\npassword = secret\nproject_name = service\n"
	"user_domain_name = Default\nproject_domain_name = Default\n";

KTEST(remote_validation)
{
	int port = 0;
	struct MHD_Daemon *d = start_fake(&port);
	CHECK(d != NULL);
	if (!d)
		return;
	kauth_set_local_validator(NULL);
	char extra[512];
	snprintf(extra, sizeof(extra), "%stoken_cache_time = 60\n", service_creds);
	remote_conf(port, extra);
	kpool *pool = kpool_new();
	kctx *c = NULL;

	/* a valid token: one service-token POST, one validation GET */
	CHECK_INT(kauth_validate(pool, "good-1", &c), 0);
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(c->token, "good-1");
		CHECK_STR(c->user_id, "u1");
		CHECK_STR(c->project_id, "p1");
		CHECK_STR(c->project_domain_id, "default");
		CHECK(kctx_has_role(c, "reader"));
		CHECK(c->expires_at_us > kutil_now_us());
	}
	CHECK_INT(atomic_load(&fake.posts), 1);
	CHECK_INT(atomic_load(&fake.gets), 1);
	CHECK_STR(fake.last_auth, "svc-1");

	/* cached: no second GET, and the copy lives in the new pool */
	kpool *pool2 = kpool_new();
	CHECK_INT(kauth_validate(pool2, "good-1", &c), 0);
	CHECK_INT(atomic_load(&fake.gets), 1);
	kpool_free(pool);
	CHECK_STR(c ? c->user_id : NULL, "u1");
	CHECK_STR(c ? c->roles[1] : NULL, "reader");
	pool = pool2;

	/* the service token is reused for other tokens */
	CHECK_INT(kauth_validate(pool, "system-1", &c), 0);
	CHECK(c && c->system_scope && c->project_id == NULL);
	CHECK_INT(atomic_load(&fake.posts), 1);
	CHECK_INT(atomic_load(&fake.gets), 2);

	/* invalid and expired tokens: 401, not cached */
	CHECK_INT(kauth_validate(pool, "unknown-1", &c), 401);
	CHECK(c == NULL);
	CHECK_INT(kauth_validate(pool, "unknown-1", &c), 401);
	CHECK_INT(atomic_load(&fake.gets), 4);
	CHECK_INT(kauth_validate(pool, "expired-1", &c), 401);
	CHECK(c == NULL);
	CHECK_INT(kauth_validate(pool, "expired-1", &c), 401);
	CHECK_INT(atomic_load(&fake.gets), 6);

	/* Identity failing: 503 */
	CHECK_INT(kauth_validate(pool, "boom-1", &c), 503);

	/* the service token gets revoked: one 401, re-authenticate, retry */
	pthread_mutex_lock(&fake.mu);
	fake.valid_from = atomic_load(&fake.svc_serial) + 1;
	pthread_mutex_unlock(&fake.mu);
	int gets = atomic_load(&fake.gets);
	CHECK_INT(kauth_validate(pool, "good-2", &c), 0);
	CHECK_INT(atomic_load(&fake.posts), 2);
	CHECK_INT(atomic_load(&fake.gets), gets + 2);
	CHECK_STR(fake.last_auth, "svc-2");

	/* service tokens close to their expiry are renewed before use */
	pthread_mutex_lock(&fake.mu);
	fake.svc_ttl_s = 10;          /* inside the 30 s renewal margin */
	pthread_mutex_unlock(&fake.mu);
	remote_conf(port, extra);     /* also forgets the service token and cache */
	CHECK_INT(kauth_validate(pool, "good-1", &c), 0);      /* cache was cleared */
	CHECK_INT(atomic_load(&fake.posts), 3);
	CHECK_INT(kauth_validate(pool, "good-3", &c), 0);
	CHECK_INT(atomic_load(&fake.posts), 4);
	pthread_mutex_lock(&fake.mu);
	fake.svc_ttl_s = 3600;
	pthread_mutex_unlock(&fake.mu);

	kpool_free(pool);
	MHD_stop_daemon(d);
}

KTEST(remote_cache_expiry)
{
	int port = 0;
	struct MHD_Daemon *d = start_fake(&port);
	CHECK(d != NULL);
	if (!d)
		return;
	kauth_set_local_validator(NULL);
	char extra[512];
	snprintf(extra, sizeof(extra), "%stoken_cache_time = 1\n", service_creds);
	remote_conf(port, extra);
	kpool *pool = kpool_new();
	kctx *c = NULL;

	int gets = atomic_load(&fake.gets);
	CHECK_INT(kauth_validate(pool, "good-exp", &c), 0);
	CHECK_INT(kauth_validate(pool, "good-exp", &c), 0);
	CHECK_INT(atomic_load(&fake.gets), gets + 1);
	sleep_ms(1100);
	CHECK_INT(kauth_validate(pool, "good-exp", &c), 0);     /* cache entry expired */
	CHECK_INT(atomic_load(&fake.gets), gets + 2);

	/* the cache never outlives the token: short-* expires after 1 s */
	snprintf(extra, sizeof(extra), "%stoken_cache_time = 60\n", service_creds);
	remote_conf(port, extra);
	gets = atomic_load(&fake.gets);
	CHECK_INT(kauth_validate(pool, "short-1", &c), 0);
	CHECK_STR(c ? c->user_id : NULL, "u-short");
	CHECK_INT(kauth_validate(pool, "short-1", &c), 0);
	CHECK_INT(atomic_load(&fake.gets), gets + 1);
	sleep_ms(1100);
	CHECK_INT(kauth_validate(pool, "short-1", &c), 0);      /* re-validated (fresh 1 s) */
	CHECK_INT(atomic_load(&fake.gets), gets + 2);

	/* token_cache_time = 0 disables the cache */
	snprintf(extra, sizeof(extra), "%stoken_cache_time = 0\n", service_creds);
	remote_conf(port, extra);
	gets = atomic_load(&fake.gets);
	CHECK_INT(kauth_validate(pool, "good-x", &c), 0);
	CHECK_INT(kauth_validate(pool, "good-x", &c), 0);
	CHECK_INT(atomic_load(&fake.gets), gets + 2);

	kpool_free(pool);
	MHD_stop_daemon(d);
}

KTEST(remote_without_service_credentials)
{
	int port = 0;
	struct MHD_Daemon *d = start_fake(&port);
	CHECK(d != NULL);
	if (!d)
		return;
	kauth_set_local_validator(NULL);
	remote_conf(port, "");
	kpool *pool = kpool_new();
	kctx *c = NULL;
	int posts = atomic_load(&fake.posts);
	CHECK_INT(kauth_validate(pool, "good-self", &c), 0);    /* validates itself */
	CHECK_STR(fake.last_auth, "good-self");
	CHECK_INT(kauth_validate(pool, "nope-self", &c), 401);
	CHECK_INT(atomic_load(&fake.posts), posts);

	/* wrong service password: Identity can't be used, 503 */
	remote_conf(port, "username = nova\npassword = wrong\nproject_name = service\n");
	CHECK_INT(kauth_validate(pool, "good-y", &c), 503);
	kpool_free(pool);
	MHD_stop_daemon(d);

	/* nobody listening: 503 */
	remote_conf(port, service_creds);
	pool = kpool_new();
	CHECK_INT(kauth_validate(pool, "good-z", &c), 503);
	kpool_free(pool);
}

struct worker {
	int ok;
};

static void *validate_many(void *arg)
{
	struct worker *w = arg;
	static const char *toks[] = { "good-a", "good-b", "bad-a", "system-a", "good-c" };
	static const int want[] = { 0, 0, 401, 0, 0 };
	for (int i = 0; i < 40; i++) {
		kpool *pool = kpool_new();
		kctx *c = NULL;
		int k = i % 5;
		int rc = kauth_validate(pool, toks[k], &c);
		if (rc == want[k] && (rc != 0 || (c && c->token && strcmp(c->token, toks[k]) == 0)))
			w->ok++;
		kpool_free(pool);
	}
	return NULL;
}

KTEST(remote_concurrent)
{
	int port = 0;
	struct MHD_Daemon *d = start_fake(&port);
	CHECK(d != NULL);
	if (!d)
		return;
	kauth_set_local_validator(NULL);
	char extra[512];
	snprintf(extra, sizeof(extra), "%stoken_cache_time = 60\n", service_creds);
	remote_conf(port, extra);
	enum { NT = 8 };
	pthread_t th[NT];
	struct worker w[NT] = { 0 };
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, validate_many, &w[i]);
	for (int i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(w[i].ok, 40);
	}
	MHD_stop_daemon(d);

	/* leave no state behind */
	kconf_free(kumo_conf);
	kumo_conf = NULL;
	kauth_remote_init();
}

int main(void) { return ktest_run(); }
