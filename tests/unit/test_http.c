/*
 * test_http.c - the HTTP server, exercised over real loopback HTTP with
 * libcurl: routing (404/405, captures, HEAD, trailing slash), body limits
 * (413 with Content-Length, without Expect, chunked), JSON parsing errors,
 * authentication through a local validator, error shapes, request ids, and
 * a graceful stop that lets an in-flight request finish.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "core/auth.h"
#include "core/http.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/service.h"
#include "ktest.h"

#define MIB (1024 * 1024)

/* ------------------------------------------------------------------------ */
/* The test service. */

static void h_root(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:s}", "version", "v3"));
}

static void h_thing(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:s, s:s}", "id", kreq_param(r, "thing_id"),
	                             "pattern", r->route->pattern));
}

static void h_me(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:b}", "me", 1));
}

static void h_part(kreq *r)
{
	const char *nope = kreq_param(r, "nope");
	kresp_json(r, 200, json_pack("{s:s, s:s, s:b}", "thing", kreq_param(r, "thing_id"),
	                             "part", kreq_param(r, "part_id"), "nope_null", nope == NULL));
}

static void h_echo(kreq *r)
{
	json_t *j = kreq_json(r);
	if (!j)
		return;
	kresp_json(r, 201, json_pack("{s:O}", "echo", j));
}

static void h_blob(kreq *r)
{
	bool nul = r->body ? r->body[r->body_len] == '\0' : true;
	kresp_json(r, 200, json_pack("{s:I, s:b}", "len", (json_int_t)r->body_len, "nul", nul));
}

static int query_cb(void *ud, const char *key, const char *value)
{
	json_array_append_new(ud, json_pack("[s, s]", key, value));
	return 0;
}

static int query_stop_cb(void *ud, const char *key, const char *value)
{
	(*(int *)ud)++;
	return 1;
}

static void h_query(kreq *r)
{
	json_t *args = json_array();
	int seen = 0;
	kreq_query_each(r, query_cb, args);
	kreq_query_each(r, query_stop_cb, &seen);
	json_t *o = json_pack("{s:o, s:i}", "args", args, "stopped_after", seen);
	json_object_set_new(o, "a", kreq_query(r, "a") ? json_string(kreq_query(r, "a"))
	                                               : json_null());
	json_object_set_new(o, "flag", kreq_query(r, "flag") ? json_string(kreq_query(r, "flag"))
	                                                     : json_null());
	json_object_set_new(o, "missing", kreq_query(r, "missing") ? json_true() : json_null());
	kresp_json(r, 200, o);
}

static void h_slow(kreq *r)
{
	usleep(1500 * 1000);
	kresp_json(r, 200, json_pack("{s:b}", "slow", 1));
}

static void h_silent(kreq *r)
{
	(void)r;
}

static void h_twice(kreq *r)
{
	kresp_json(r, 202, json_pack("{s:i}", "first", 1));
	kresp_json(r, 200, json_pack("{s:i}", "second", 2));
}

static void h_whoami(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:s}", "user_id", r->ctx->user_id));
}

static void h_optional(kreq *r)
{
	json_t *o = json_object();
	json_object_set_new(o, "user_id", r->ctx ? json_string(r->ctx->user_id) : json_null());
	kresp_json(r, 200, o);
}

static void h_base(kreq *r)
{
	kresp_json(r, 200, json_pack("{s:s}", "url", kreq_base_url(r)));
}

static void h_delete(kreq *r)
{
	kresp_header(r, "X-Test", "yes");
	kresp_status(r, 204);
}

static void h_text(kreq *r)
{
	const char *t = "hello\n";
	kresp_raw(r, 200, "text/plain; charset=UTF-8", t, strlen(t));
}

static const kroute test_routes[] = {
	{ "GET", "/", h_root, KROUTE_PUBLIC },
	{ "GET", "/v3/things/{thing_id}", h_thing, KROUTE_PUBLIC },
	{ "GET", "/v3/things/me", h_me, KROUTE_PUBLIC },
	{ "GET", "/v3/things/{thing_id}/parts/{part_id}", h_part, KROUTE_PUBLIC },
	{ "PATCH", "/v3/things/{thing_id}", h_echo, KROUTE_PUBLIC },
	{ "POST", "/v3/echo", h_echo, KROUTE_PUBLIC },
	{ "PUT", "/v3/blob", h_blob, KROUTE_PUBLIC },
	{ "GET", "/v3/query", h_query, KROUTE_PUBLIC },
	{ "GET", "/v3/slow", h_slow, KROUTE_PUBLIC },
	{ "GET", "/v3/silent", h_silent, KROUTE_PUBLIC },
	{ "GET", "/v3/twice", h_twice, KROUTE_PUBLIC },
	{ "GET", "/v3/whoami", h_whoami, 0 },
	{ "GET", "/v3/optional", h_optional, KROUTE_OPTIONAL_AUTH },
	{ "GET", "/v3/base", h_base, KROUTE_PUBLIC },
	{ "DELETE", "/v3/items/{id}", h_delete, KROUTE_PUBLIC },
	{ "GET", "/v3/text", h_text, KROUTE_PUBLIC },
};

static void test_error_body(kreq *r, int status, const char *message)
{
	kresp_json(r, status, json_pack("{s:{s:i, s:s, s:s, s:s}}", "error", "code", status,
	                                "title", khttp_reason(status), "message", message,
	                                "dialect", "test"));
}

static void test_decorate(kreq *r)
{
	kresp_header(r, "Vary", "X-Auth-Token");
}

static const kservice test_svc = {
	.name = "httptest",
	.routes = test_routes,
	.nroutes = ARRAY_SIZE(test_routes),
	.error_body = test_error_body,
	.max_body = MIB,
	.decorate = test_decorate,
};

/* Same routes, default max_body and the generic error body. */
static const kservice plain_svc = {
	.name = "plain",
	.routes = test_routes,
	.nroutes = ARRAY_SIZE(test_routes),
};

static int test_validator(kpool *pool, const char *token, kctx **out)
{
	if (strcmp(token, "good-token") != 0)
		return 401;
	kctx *c = kpool_alloc(pool, sizeof(*c));
	c->token = kpool_strdup(pool, token);
	c->user_id = "u-123";
	*out = c;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* A small libcurl client. */

typedef struct hres {
	CURLcode rc;
	long status;
	char *body;
	size_t len;
	char hdrs[8192];
	size_t hlen;
	char val[512];
	json_t *json;
} hres;

static size_t write_cb(char *p, size_t sz, size_t n, void *ud)
{
	hres *h = ud;
	char *nb = realloc(h->body, h->len + sz * n + 1);
	if (!nb)
		return 0;
	h->body = nb;
	memcpy(h->body + h->len, p, sz * n);
	h->len += sz * n;
	h->body[h->len] = '\0';
	return sz * n;
}

static size_t header_cb(char *p, size_t sz, size_t n, void *ud)
{
	hres *h = ud;
	size_t len = sz * n;
	if (len >= 12 && strncmp(p, "HTTP/", 5) == 0)
		h->hlen = 0;            /* a new response (after 100 Continue) */
	if (h->hlen + len < sizeof(h->hdrs)) {
		memcpy(h->hdrs + h->hlen, p, len);
		h->hlen += len;
		h->hdrs[h->hlen] = '\0';
	}
	return len;
}

/* Value of a response header (case-insensitive), or NULL. */
static const char *hres_header(hres *h, const char *name)
{
	size_t n = strlen(name);
	for (const char *line = h->hdrs; line && *line;) {
		const char *eol = strstr(line, "\r\n");
		if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ')
				v++;
			size_t vl = eol ? (size_t)(eol - v) : strlen(v);
			if (vl >= sizeof(h->val))
				vl = sizeof(h->val) - 1;
			memcpy(h->val, v, vl);
			h->val[vl] = '\0';
			return h->val;
		}
		line = eol ? eol + 2 : NULL;
	}
	return NULL;
}

static void hres_free(hres *h)
{
	free(h->body);
	if (h->json)
		json_decref(h->json);
	memset(h, 0, sizeof(*h));
}

struct upload {
	size_t left;
};

static size_t read_cb(char *buf, size_t sz, size_t n, void *ud)
{
	struct upload *u = ud;
	size_t k = sz * n < u->left ? sz * n : u->left;
	memset(buf, 'x', k);
	u->left -= k;
	return k;
}

enum { SEND_NORMAL, SEND_NO_EXPECT, SEND_CHUNKED };

/* One request; headers is a NULL-terminated list ("Name: value"). */
static void http_ex(hres *h, int port, const char *method, const char *path, const char *body,
                    size_t len, const char *const *headers, int mode)
{
	char url[512];
	memset(h, 0, sizeof(*h));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct upload up = { len };
	for (const char *const *p = headers; p && *p; p++)
		hl = curl_slist_append(hl, *p);
	if (mode == SEND_NO_EXPECT || mode == SEND_CHUNKED)
		hl = curl_slist_append(hl, "Expect:");
	if (mode == SEND_CHUNKED)
		hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (mode == SEND_CHUNKED) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else {
		if (body) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		}
		if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		else if (strcmp(method, "POST") == 0 && !body)
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	}
	if (hl)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	h->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	if (h->body)
		h->json = json_loads(h->body, 0, NULL);
}

static void http(hres *h, int port, const char *method, const char *path, const char *body,
                 const char *const *headers)
{
	http_ex(h, port, method, path, body, body ? strlen(body) : 0, headers, SEND_NORMAL);
}

static const char *jstr(hres *h, const char *dotted)
{
	char key[128];
	snprintf(key, sizeof(key), "%s", dotted);
	json_t *j = h->json;
	for (char *save = NULL, *k = strtok_r(key, ".", &save); k && j;
	     k = strtok_r(NULL, ".", &save))
		j = json_object_get(j, k);
	return json_string_value(j);
}

static khttp_server *start(const kservice *svc, int threads)
{
	khttp_server *s = khttp_start(svc, "127.0.0.1", 0, threads);
	CHECK(s != NULL);
	CHECK(s && khttp_port(s) > 0);
	return s;
}

/* ------------------------------------------------------------------------ */
/* Route matching, without a server. */

static void r_dummy(kreq *r)
{
	(void)r;
}

static const kroute match_routes[] = {
	{ "GET", "/v3/users/{user_id}", r_dummy, 0 },
	{ "GET", "/v3/users/me", r_dummy, 0 },
	{ "GET", "/v3/users", r_dummy, 0 },
	{ "POST", "/v3/users", r_dummy, 0 },
	{ "PATCH", "/v3/users/{user_id}", r_dummy, 0 },
	{ "GET", "/v3/{a}/x/c", r_dummy, 0 },
	{ "GET", "/v3/b/x/{c}", r_dummy, 0 },
	{ "HEAD", "/v3/projects", r_dummy, 0 },
	{ "GET", "/v3/projects", r_dummy, 0 },
	{ "GET", "/v3/projects/{p}/users/{u}/roles/{r}", r_dummy, 0 },
	{ "GET", "/", r_dummy, KROUTE_PUBLIC },
	{ "GET", "/v3/", r_dummy, KROUTE_PUBLIC },
};

static const kroute *m(kpool *p, const char *method, const char *path, const char **params,
                       int *n, bool *known)
{
	return khttp_match(match_routes, ARRAY_SIZE(match_routes), method, path, p, params, n,
	                   known);
}

KTEST(match_literal_param_and_methods)
{
	_cleanup_pool_ kpool *p = kpool_new();
	const char *params[KREQ_MAX_PARAMS];
	int n = -1;
	bool known = true;

	const kroute *rt = m(p, "GET", "/v3/users/abc", params, &n, &known);
	CHECK(rt == &match_routes[0]);
	CHECK_INT(n, 1);
	CHECK_STR(params[0], "abc");

	/* the literal route wins although the parameter route comes first */
	rt = m(p, "GET", "/v3/users/me", params, &n, &known);
	CHECK(rt == &match_routes[1]);
	CHECK_INT(n, 0);

	/* trailing slash ignored, on both sides */
	CHECK(m(p, "GET", "/v3/users/", params, &n, &known) == &match_routes[2]);
	CHECK(m(p, "POST", "/v3/users", params, &n, &known) == &match_routes[3]);
	CHECK(m(p, "GET", "/v3", params, &n, &known) == &match_routes[11]);
	CHECK(m(p, "GET", "/v3/", params, &n, &known) == &match_routes[11]);
	CHECK(m(p, "GET", "/", params, &n, &known) == &match_routes[10]);

	/* an empty segment captures nothing */
	CHECK(m(p, "GET", "/v3/users//", params, &n, &known) == NULL);
	CHECK(m(p, "GET", "/v3/users//x", params, &n, &known) == NULL);
	CHECK(!known);

	/* earlier literal wins a tie in literal count */
	CHECK(m(p, "GET", "/v3/b/x/c", params, &n, &known) == &match_routes[6]);
	CHECK_INT(n, 1);
	CHECK_STR(params[0], "c");

	/* several captures in order */
	rt = m(p, "GET", "/v3/projects/P1/users/U1/roles/R1", params, &n, &known);
	CHECK(rt == &match_routes[9]);
	CHECK_INT(n, 3);
	CHECK_STR(params[0], "P1");
	CHECK_STR(params[1], "U1");
	CHECK_STR(params[2], "R1");
}

KTEST(match_head_405_404)
{
	_cleanup_pool_ kpool *p = kpool_new();
	const char *params[KREQ_MAX_PARAMS];
	int n;
	bool known;

	/* HEAD falls back to GET, unless a HEAD route exists */
	CHECK(m(p, "HEAD", "/v3/users/x", params, &n, &known) == &match_routes[0]);
	CHECK_STR(params[0], "x");
	CHECK(m(p, "HEAD", "/v3/projects", params, &n, &known) == &match_routes[7]);

	/* known path, other method */
	known = false;
	CHECK(m(p, "DELETE", "/v3/users/x", params, &n, &known) == NULL);
	CHECK(known);
	CHECK(m(p, "PUT", "/v3/users", params, &n, &known) == NULL);
	CHECK(known);
	/* methods are case-sensitive */
	CHECK(m(p, "get", "/v3/users", params, &n, &known) == NULL);
	CHECK(known);

	/* unknown path */
	known = true;
	CHECK(m(p, "GET", "/v3/nothing", params, &n, &known) == NULL);
	CHECK(!known);
	CHECK(m(p, "GET", "/v3/users/a/b", params, &n, &known) == NULL);
	CHECK(!known);
	CHECK(m(p, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z/0/1/2/3/4/5/6/7",
	        params, &n, &known) == NULL);

	/* kreq_param resolves names against the matched route's pattern */
	kreq r = { .pool = p };
	r.route = m(p, "GET", "/v3/projects/P/users/U/roles/R", r.params, &r.nparams, &known);
	CHECK_STR(kreq_param(&r, "p"), "P");
	CHECK_STR(kreq_param(&r, "u"), "U");
	CHECK_STR(kreq_param(&r, "r"), "R");
	CHECK(kreq_param(&r, "x") == NULL);
}

KTEST(reason_phrases)
{
	CHECK_STR(khttp_reason(200), "OK");
	CHECK_STR(khttp_reason(201), "Created");
	CHECK_STR(khttp_reason(204), "No Content");
	CHECK_STR(khttp_reason(300), "Multiple Choices");
	CHECK_STR(khttp_reason(400), "Bad Request");
	CHECK_STR(khttp_reason(401), "Unauthorized");
	CHECK_STR(khttp_reason(403), "Forbidden");
	CHECK_STR(khttp_reason(404), "Not Found");
	CHECK_STR(khttp_reason(405), "Method Not Allowed");
	CHECK_STR(khttp_reason(409), "Conflict");
	CHECK_STR(khttp_reason(413), "Request Entity Too Large");
	CHECK_STR(khttp_reason(415), "Unsupported Media Type");
	CHECK_STR(khttp_reason(500), "Internal Server Error");
	CHECK_STR(khttp_reason(501), "Not Implemented");
	CHECK_STR(khttp_reason(503), "Service Unavailable");
	CHECK_STR(khttp_reason(999), "Unknown");
}

/* ------------------------------------------------------------------------ */
/* Over HTTP. */

KTEST(http_routes_params_and_request_id)
{
	khttp_server *s = start(&test_svc, 2);
	if (!s)
		return;
	int port = khttp_port(s);
	hres h;

	http(&h, port, "GET", "/", NULL, NULL);
	CHECK_INT(h.rc, CURLE_OK);
	CHECK_INT(h.status, 200);
	CHECK_STR(jstr(&h, "version"), "v3");
	CHECK_STR(hres_header(&h, "Content-Type"), "application/json");
	const char *rid = hres_header(&h, "X-OpenStack-Request-Id");
	CHECK(rid && strncmp(rid, "req-", 4) == 0 && strlen(rid) == 40);
	char first[64];
	snprintf(first, sizeof(first), "%s", rid ? rid : "");
	CHECK_STR(hres_header(&h, "Vary"), "X-Auth-Token");
	char cl[32];
	snprintf(cl, sizeof(cl), "%zu", h.len);
	CHECK_STR(hres_header(&h, "Content-Length"), cl);
	hres_free(&h);

	http(&h, port, "GET", "/v3/things/abc", NULL, NULL);
	CHECK_INT(h.status, 200);
	CHECK_STR(jstr(&h, "id"), "abc");
	rid = hres_header(&h, "x-openstack-request-id");
	CHECK(rid && strcmp(rid, first) != 0);      /* one id per request */
	hres_free(&h);

	http(&h, port, "GET", "/v3/things/me", NULL, NULL);
	CHECK_INT(h.status, 200);
	CHECK(json_is_true(json_object_get(h.json, "me")));
	hres_free(&h);

	http(&h, port, "GET", "/v3/things/a%20b/parts/p-1/", NULL, NULL);
	CHECK_INT(h.status, 200);
	CHECK_STR(jstr(&h, "thing"), "a b");
	CHECK_STR(jstr(&h, "part"), "p-1");
	CHECK(json_is_true(json_object_get(h.json, "nope_null")));
	hres_free(&h);

	/* trailing slash */
	http(&h, port, "GET", "/v3/things/abc/", NULL, NULL);
	CHECK_INT(h.status, 200);
	CHECK_STR(jstr(&h, "id"), "abc");
	hres_free(&h);

	/* raw responses keep their content type */
	http(&h, port, "GET", "/v3/text", NULL, NULL);
	CHECK_INT(h.status, 200);
	CHECK_STR(h.body, "hello\n");
	CHECK_STR(hres_header(&h, "Content-Type"), "text/plain; charset=UTF-8");
	hres_free(&h);

	/* 204 with an extra header, and the request id */
	http(&h, port, "DELETE", "/v3/items/42", NULL, NULL);
	CHECK_INT(h.status, 204);
	CHECK_INT(h.len, 0);
	CHECK_STR(hres_header(&h, "X-Test"), "yes");
	CHECK(hres_header(&h, "x-openstack-request-id") != NULL);
	hres_free(&h);

	khttp_stop(s);
}

KTEST(http_404_405)
{
	khttp_server *s = start(&test_svc, 1);
	if (!s)
		return;
	int port = khttp_port(s);
	hres h;

	http(&h, port, "GET", "/v3/nowhere", NULL, NULL);
	CHECK_INT(h.status, 404);
	CHECK_STR(jstr(&h, "error.dialect"), "test");
	CHECK_STR(jstr(&h, "error.title"), "Not Found");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(h.json, "error"), "code")),
	          404);
	CHECK(hres_header(&h, "x-openstack-request-id") != NULL);
	CHECK_STR(hres_header(&h, "Content-Type"), "application/json");
	hres_free(&h);

	http(&h, port, "DELETE", "/v3/things/abc", NULL, NULL);
	CHECK_INT(h.status, 405);
	CHECK_STR(hres_header(&h, "Allow"), "GET, PATCH, HEAD");
	CHECK_STR(jstr(&h, "error.title"), "Method Not Allowed");
	CHECK(hres_header(&h, "x-openstack-request-id") != NULL);
	hres_free(&h);

	http(&h, port, "POST", "/v3/text", "{}", NULL);
	CHECK_INT(h.status, 405);
	CHECK_STR(hres_header(&h, "Allow"), "GET, HEAD");
	hres_free(&h);

	khttp_stop(s);
}

KTEST(http_head)
{
	khttp_server *s = start(&test_svc, 1);
	if (!s)
		return;
	int port = khttp_port(s);
	hres g, h;

	http(&g, port, "GET", "/v3/things/xyz", NULL, NULL);
	http(&h, port, "HEAD", "/v3/things/xyz", NULL, NULL);
	CHECK_INT(h.rc, CURLE_OK);
	CHECK_INT(h.status, 200);
	CHECK_INT(h.len, 0);
	char cl[32];
	snprintf(cl, sizeof(cl), "%zu", g.len);
	CHECK_STR(hres_header(&h, "Content-Length"), cl);
	CHECK(hres_header(&h, "x-openstack-request-id") != NULL);
	hres_free(&g);
	hres_free(&h);

	http(&h, port, "HEAD", "/v3/nowhere", NULL, NULL);
	CHECK_INT(h.status, 404);
	CHECK_INT(h.len, 0);
	hres_free(&h);

	khttp_stop(s);
}

KTEST(http_query)
{
	khttp_server *s = start(&test_svc, 1);
	if (!s)
		return;
	hres h;

	http(&h, khttp_port(s), "GET", "/v3/query?a=1&b=two%20words&a=2&flag&c=x%26y", NULL, NULL);
	CHECK_INT(h.status, 200);
	CHECK_STR(jstr(&h, "a"), "1");
	CHECK_STR(jstr(&h, "flag"), "");
	CHECK(json_is_null(json_object_get(h.json, "missing")));
	CHECK_INT(json_integer_value(json_object_get(h.json, "stopped_after")), 1);
	json_t *args = json_object_get(h.json, "args");
	CHECK_INT(json_array_size(args), 5);
	const char *want[][2] = { { "a", "1" }, { "b", "two words" }, { "a", "2" },
	                          { "flag", "" }, { "c", "x&y" } };
	for (size_t i = 0; i < 5 && i < json_array_size(args); i++) {
		json_t *kv = json_array_get(args, i);
		CHECK_STR(json_string_value(json_array_get(kv, 0)), want[i][0]);
		CHECK_STR(json_string_value(json_array_get(kv, 1)), want[i][1]);
	}
	hres_free(&h);

	/* the query string is not part of the path */
	http(&h, khttp_port(s), "GET", "/v3/things/abc?x=/y", NULL, NULL);
	CHECK_INT(h.status, 200);
	CHECK_STR(jstr(&h, "id"), "abc");
	hres_free(&h);

	khttp_stop(s);
}

KTEST(http_json_bodies)
{
	khttp_server *s = start(&test_svc, 2);
	if (!s)
		return;
	int port = khttp_port(s);
	const char *json_ct[] = { "Content-Type: application/json", NULL };
	hres h;

	http(&h, port, "POST", "/v3/echo", "{\"x\": [1, 2, {\"y\": \"z\"}]}", json_ct);
	CHECK_INT(h.status, 201);
	json_t *x = json_object_get(json_object_get(h.json, "echo"), "x");
	CHECK_STR(json_string_value(json_object_get(json_array_get(x, 2), "y")), "z");
	hres_free(&h);

	/* no Content-Type at all is accepted, and so is a +json type with parameters
	 * ("Content-Type:" stops curl from sending its form type) */
	const char *none[] = { "Content-Type:", NULL };
	http(&h, port, "PATCH", "/v3/things/t1", "{\"a\": 1}", none);
	CHECK_INT(h.status, 201);
	hres_free(&h);
	const char *vnd[] = { "Content-Type: application/openstack-images-v2.1+json; charset=utf-8",
	                      NULL };
	http(&h, port, "POST", "/v3/echo", "{\"a\": 1}", vnd);
	CHECK_INT(h.status, 201);
	hres_free(&h);
	const char *utf[] = { "Content-Type: Application/JSON ; charset=UTF-8", NULL };
	http(&h, port, "POST", "/v3/echo", "{\"a\": 1}", utf);
	CHECK_INT(h.status, 201);
	hres_free(&h);

	/* 415 */
	const char *text[] = { "Content-Type: text/plain", NULL };
	http(&h, port, "POST", "/v3/echo", "{\"a\": 1}", text);
	CHECK_INT(h.status, 415);
	CHECK_STR(jstr(&h, "error.title"), "Unsupported Media Type");
	hres_free(&h);
	const char *form[] = { "Content-Type: application/x-www-form-urlencoded", NULL };
	http(&h, port, "POST", "/v3/echo", "{\"a\": 1}", form);
	CHECK_INT(h.status, 415);
	hres_free(&h);

	/* malformed: jansson's explanation is in the message */
	http(&h, port, "POST", "/v3/echo", "{\"a\": 1,,}", json_ct);
	CHECK_INT(h.status, 400);
	CHECK_STR(jstr(&h, "error.dialect"), "test");
	const char *msg = jstr(&h, "error.message");
	CHECK(msg && strstr(msg, "Malformed JSON") && strstr(msg, "line 1"));
	hres_free(&h);

	/* empty body */
	http(&h, port, "POST", "/v3/echo", NULL, json_ct);
	CHECK_INT(h.status, 400);
	hres_free(&h);

	/* top level must be an object */
	http(&h, port, "POST", "/v3/echo", "[1, 2]", json_ct);
	CHECK_INT(h.status, 400);
	CHECK(strstr(jstr(&h, "error.message") ?: "", "object") != NULL);
	hres_free(&h);
	http(&h, port, "POST", "/v3/echo", "\"str\"", json_ct);
	CHECK_INT(h.status, 400);
	hres_free(&h);

	/* nesting: 64 levels pass, 65 do not */
	char deep[512];
	for (int levels = 64; levels <= 65; levels++) {
		size_t k = 0;
		k += (size_t)sprintf(deep + k, "{\"a\":");
		for (int i = 1; i < levels; i++)
			deep[k++] = '[';
		deep[k++] = '1';
		for (int i = 1; i < levels; i++)
			deep[k++] = ']';
		deep[k++] = '}';
		deep[k] = '\0';
		http(&h, port, "POST", "/v3/echo", deep, json_ct);
		CHECK_INT(h.status, levels == 64 ? 201 : 400);
		hres_free(&h);
	}
	/* brackets inside strings do not count */
	char str[600];
	snprintf(str, sizeof(str), "{\"a\": \"%0200d\"}", 0);
	memset(str + 7, '[', 200);
	http(&h, port, "POST", "/v3/echo", str, json_ct);
	CHECK_INT(h.status, 201);
	hres_free(&h);
	/* a lot of nesting is refused without trouble */
	size_t big = 200000;
	char *bomb = malloc(big + 1);
	memset(bomb, '[', big);
	bomb[0] = '{';
	bomb[big] = '\0';
	http(&h, port, "POST", "/v3/echo", bomb, json_ct);
	CHECK_INT(h.status, 400);
	hres_free(&h);
	free(bomb);

	/* bodies are NUL-terminated copies */
	http(&h, port, "PUT", "/v3/blob", "abc", NULL);
	CHECK_INT(h.status, 200);
	CHECK_INT(json_integer_value(json_object_get(h.json, "len")), 3);
	CHECK(json_is_true(json_object_get(h.json, "nul")));
	hres_free(&h);

	khttp_stop(s);
}

KTEST(http_body_limits)
{
	khttp_server *s = start(&test_svc, 2);
	if (!s)
		return;
	int port = khttp_port(s);
	size_t n = 2 * MIB;
	char *big = malloc(n);
	memset(big, 'a', n);
	hres h;

	/* Content-Length above the limit, with curl's Expect: 100-continue */
	http_ex(&h, port, "PUT", "/v3/blob", big, n, NULL, SEND_NORMAL);
	CHECK_INT(h.status, 413);
	CHECK_STR(jstr(&h, "error.dialect"), "test");
	CHECK_STR(jstr(&h, "error.title"), "Request Entity Too Large");
	CHECK(hres_header(&h, "x-openstack-request-id") != NULL);
	hres_free(&h);

	/* without Expect: the server answers without reading the body */
	http_ex(&h, port, "PUT", "/v3/blob", big, n, NULL, SEND_NO_EXPECT);
	CHECK_INT(h.status, 413);
	hres_free(&h);

	/* chunked: the size is only known while reading */
	http_ex(&h, port, "PUT", "/v3/blob", NULL, n, NULL, SEND_CHUNKED);
	CHECK_INT(h.status, 413);
	hres_free(&h);

	/* a body that never ends gets the connection closed */
	http_ex(&h, port, "PUT", "/v3/blob", NULL, 40 * MIB, NULL, SEND_CHUNKED);
	CHECK(h.rc != CURLE_OK || h.status == 413);
	hres_free(&h);

	/* exactly at the limit is fine, both ways */
	http_ex(&h, port, "PUT", "/v3/blob", big, MIB, NULL, SEND_NORMAL);
	CHECK_INT(h.status, 200);
	CHECK_INT(json_integer_value(json_object_get(h.json, "len")), MIB);
	CHECK(json_is_true(json_object_get(h.json, "nul")));
	hres_free(&h);
	http_ex(&h, port, "PUT", "/v3/blob", NULL, MIB, NULL, SEND_CHUNKED);
	CHECK_INT(h.status, 200);
	CHECK_INT(json_integer_value(json_object_get(h.json, "len")), MIB);
	hres_free(&h);

	/* and the server is still fine */
	http(&h, port, "GET", "/v3/things/ok", NULL, NULL);
	CHECK_INT(h.status, 200);
	hres_free(&h);
	khttp_stop(s);

	/* the default limit (max_body = 0) is 1 MiB, with the generic error body */
	s = start(&plain_svc, 1);
	if (s) {
		http_ex(&h, khttp_port(s), "PUT", "/v3/blob", big, MIB + 1, NULL, SEND_NORMAL);
		CHECK_INT(h.status, 413);
		CHECK_INT(json_integer_value(json_object_get(json_object_get(h.json, "error"),
		                                             "code")), 413);
		hres_free(&h);
		http_ex(&h, khttp_port(s), "PUT", "/v3/blob", big, MIB, NULL, SEND_NORMAL);
		CHECK_INT(h.status, 200);
		hres_free(&h);
		khttp_stop(s);
	}
	free(big);
}

KTEST(http_auth)
{
	kauth_set_local_validator(test_validator);
	khttp_server *s = start(&test_svc, 2);
	if (!s)
		return;
	int port = khttp_port(s);
	const char *good[] = { "X-Auth-Token: good-token", NULL };
	const char *bad[] = { "X-Auth-Token: bad-token", NULL };
	hres h;

	http(&h, port, "GET", "/v3/whoami", NULL, NULL);
	CHECK_INT(h.status, 401);
	CHECK_STR(jstr(&h, "error.message"), "The request you have made requires authentication.");
	CHECK_STR(jstr(&h, "error.dialect"), "test");
	hres_free(&h);

	http(&h, port, "GET", "/v3/whoami", NULL, bad);
	CHECK_INT(h.status, 401);
	hres_free(&h);

	http(&h, port, "GET", "/v3/whoami", NULL, good);
	CHECK_INT(h.status, 200);
	CHECK_STR(jstr(&h, "user_id"), "u-123");
	hres_free(&h);

	/* optional: no token -> no ctx; good token -> ctx; bad token -> 401 */
	http(&h, port, "GET", "/v3/optional", NULL, NULL);
	CHECK_INT(h.status, 200);
	CHECK(json_is_null(json_object_get(h.json, "user_id")));
	hres_free(&h);
	http(&h, port, "GET", "/v3/optional", NULL, good);
	CHECK_INT(h.status, 200);
	CHECK_STR(jstr(&h, "user_id"), "u-123");
	hres_free(&h);
	http(&h, port, "GET", "/v3/optional", NULL, bad);
	CHECK_INT(h.status, 401);
	hres_free(&h);

	/* public routes ignore tokens */
	http(&h, port, "GET", "/", NULL, bad);
	CHECK_INT(h.status, 200);
	hres_free(&h);

	/* 404 comes before authentication */
	http(&h, port, "GET", "/v3/nowhere", NULL, NULL);
	CHECK_INT(h.status, 404);
	hres_free(&h);

	khttp_stop(s);
	kauth_set_local_validator(NULL);
}

KTEST(http_handler_mistakes)
{
	khttp_server *s = start(&test_svc, 1);
	if (!s)
		return;
	int port = khttp_port(s);
	hres h;

	/* no answer -> 500, service-shaped */
	http(&h, port, "GET", "/v3/silent", NULL, NULL);
	CHECK_INT(h.status, 500);
	CHECK_STR(jstr(&h, "error.dialect"), "test");
	CHECK(hres_header(&h, "x-openstack-request-id") != NULL);
	hres_free(&h);

	/* two answers -> the first one stands */
	http(&h, port, "GET", "/v3/twice", NULL, NULL);
	CHECK_INT(h.status, 202);
	CHECK_INT(json_integer_value(json_object_get(h.json, "first")), 1);
	hres_free(&h);

	khttp_stop(s);
}

KTEST(http_generic_error_body)
{
	khttp_server *s = start(&plain_svc, 1);
	if (!s)
		return;
	hres h;
	http(&h, khttp_port(s), "GET", "/v3/nowhere", NULL, NULL);
	CHECK_INT(h.status, 404);
	json_t *e = json_object_get(h.json, "error");
	CHECK_INT(json_integer_value(json_object_get(e, "code")), 404);
	CHECK_STR(json_string_value(json_object_get(e, "title")), "Not Found");
	CHECK(json_string_value(json_object_get(e, "message")) != NULL);
	CHECK(json_object_get(e, "dialect") == NULL);
	CHECK(hres_header(&h, "Vary") == NULL);      /* no decorate */
	hres_free(&h);
	khttp_stop(s);
}

KTEST(http_base_url)
{
	khttp_server *s = start(&test_svc, 1);
	if (!s)
		return;
	int port = khttp_port(s);
	char want[64];
	snprintf(want, sizeof(want), "http://127.0.0.1:%d", port);
	hres h;

	http(&h, port, "GET", "/v3/base", NULL, NULL);
	CHECK_STR(jstr(&h, "url"), want);
	hres_free(&h);

	const char *named[] = { "Host: keystone.example.com:5000", NULL };
	http(&h, port, "GET", "/v3/base", NULL, named);
	CHECK_STR(jstr(&h, "url"), "http://keystone.example.com:5000");
	hres_free(&h);

	/* a Host we would not put in a URL falls back to the local address */
	const char *evil[] = { "Host: evil.com/<script>", NULL };
	http(&h, port, "GET", "/v3/base", NULL, evil);
	CHECK_STR(jstr(&h, "url"), want);
	hres_free(&h);

	khttp_stop(s);
}

struct slow_call {
	int port;
	hres h;
};

static void *slow_thread(void *arg)
{
	struct slow_call *sc = arg;
	http(&sc->h, sc->port, "GET", "/v3/slow", NULL, NULL);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

KTEST(http_graceful_stop)
{
	khttp_server *s = start(&test_svc, 2);
	if (!s)
		return;
	struct slow_call sc = { .port = khttp_port(s) };
	pthread_t t;
	pthread_create(&t, NULL, slow_thread, &sc);
	usleep(400 * 1000);              /* the request is in the handler now */
	double t0 = now_s();
	khttp_stop(s);
	double waited = now_s() - t0;
	pthread_join(t, NULL);
	CHECK_INT(sc.h.rc, CURLE_OK);
	CHECK_INT(sc.h.status, 200);
	CHECK(json_is_true(json_object_get(sc.h.json, "slow")));
	CHECK(waited > 0.8 && waited < 5.0);
	hres_free(&sc.h);

	/* nobody listens any more */
	hres h;
	http(&h, sc.port, "GET", "/", NULL, NULL);
	CHECK(h.rc != CURLE_OK);
	hres_free(&h);
}

struct hammer {
	int port, ok;
};

static void *hammer_thread(void *arg)
{
	struct hammer *hm = arg;
	for (int i = 0; i < 25; i++) {
		hres h;
		char path[64];
		snprintf(path, sizeof(path), "/v3/things/t%d", i);
		http(&h, hm->port, "GET", path, NULL, NULL);
		if (h.status == 200 && jstr(&h, "id") && strcmp(jstr(&h, "id"), path + 11) == 0)
			hm->ok++;
		hres_free(&h);
	}
	return NULL;
}

KTEST(http_concurrent)
{
	khttp_server *s = start(&test_svc, 4);
	if (!s)
		return;
	struct hammer hm[6];
	pthread_t t[6];
	for (int i = 0; i < 6; i++) {
		hm[i] = (struct hammer){ .port = khttp_port(s) };
		pthread_create(&t[i], NULL, hammer_thread, &hm[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT(hm[i].ok, 25);
	}
	khttp_stop(s);
}

KTEST(http_start_errors)
{
	khttp_server *s = start(&test_svc, 1);
	if (!s)
		return;
	/* the port is taken */
	CHECK(khttp_start(&test_svc, "127.0.0.1", khttp_port(s), 1) == NULL);
	khttp_stop(s);
	CHECK(khttp_start(&test_svc, "127.0.0.1", 70000, 1) == NULL);
	khttp_stop(NULL);
}

int main(void)
{
	klog_init(NULL, getenv("KTEST_VERBOSE") ? KLOG_DEBUG : KLOG_WARN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int rc = ktest_run();
	curl_global_cleanup();
	return rc;
}
