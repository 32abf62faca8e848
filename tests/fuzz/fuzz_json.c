/*
 * fuzz_json.c - libFuzzer target for the request-body path: bytes -> kreq_json()
 * -> the kjson_* getters the handlers use.
 *
 * Every input is treated as the body of a request to the Identity service.  A
 * kreq is built by hand, the way http.c builds one (a pool, the service, a
 * NUL-terminated body copy, no MHD connection), and kreq_json() parses it.
 * The oracle, besides ASan/UBSan:
 *   - kreq_json() either returns a JSON object and leaves the request
 *     unanswered, or returns NULL having answered with a 4xx whose body is a
 *     Keystone error document {"error": {"code", "title", "message"}} with
 *     the same code;
 *   - a parsed body survives kjson_dump() -> json_loads() unchanged.
 * Then the parsed object is walked the way the handlers walk real bodies: the
 * password-auth document (auth.identity.password.user..., auth.scope...), the
 * resource-create documents ({"user": {...}}, {"project": {...}}...), and
 * kjson_path() with dotted paths made of the input's own keys (which may
 * themselves contain dots, or be empty).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/http.h"
#include "core/json.h"
#include "core/pool.h"
#include "identity/identity.h"

#define MAX_INPUT (256 * 1024)

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_json: invariant violated: %s\n", what);
		abort();
	}
}

/* Every typed getter on one key; results must agree with each other. */
static void probe_key(const json_t *obj, const char *key)
{
	const char *s = NULL;
	bool b;
	int64_t i;
	json_t *o = NULL, *a = NULL;
	int rs = kjson_get_str(obj, key, &s);
	int rb = kjson_get_bool(obj, key, &b);
	int ri = kjson_get_int(obj, key, &i);
	int ro = kjson_get_obj(obj, key, &o);
	int ra = kjson_get_arr(obj, key, &a);

	/* at most one getter can succeed, and all agree on "missing" */
	check((rs == KJ_OK) + (rb == KJ_OK) + (ri == KJ_OK) + (ro == KJ_OK) + (ra == KJ_OK) <= 1,
	      "two typed getters accepted the same member");
	check((rs == KJ_MISSING) == (rb == KJ_MISSING) && (rs == KJ_MISSING) == (ri == KJ_MISSING) &&
	      (rs == KJ_MISSING) == (ro == KJ_MISSING) && (rs == KJ_MISSING) == (ra == KJ_MISSING),
	      "typed getters disagree on a missing member");
	const char *plain = kjson_str(obj, key);
	if (rs == KJ_OK)
		check(plain && strcmp(plain, s) == 0, "kjson_str differs from kjson_get_str");
	else
		check(plain == NULL, "kjson_str returned a non-string member");
	if (ro == KJ_OK)
		check(json_is_object(o), "kjson_get_obj returned a non-object");
	if (ra == KJ_OK)
		check(json_is_array(a), "kjson_get_arr returned a non-array");
}

/* The password / token auth document, as auth_api.c reads it. */
static void walk_auth(const json_t *body)
{
	static const char *paths[] = {
		"auth", "auth.identity", "auth.identity.methods", "auth.identity.password",
		"auth.identity.password.user", "auth.identity.password.user.domain",
		"auth.identity.token", "auth.identity.application_credential",
		"auth.scope", "auth.scope.project", "auth.scope.project.domain",
		"auth.scope.domain", "auth.scope.system", "auth.scope.OS-TRUST:trust",
	};
	for (size_t k = 0; k < ARRAY_SIZE(paths); k++) {
		json_t *v = kjson_path(body, paths[k]);
		if (!json_is_object(v))
			continue;
		static const char *keys[] = { "id", "name", "password", "domain", "methods",
		                              "all", "secret", "user", "project" };
		for (size_t j = 0; j < ARRAY_SIZE(keys); j++)
			probe_key(v, keys[j]);
	}
	json_t *methods = kjson_path(body, "auth.identity.methods");
	size_t idx;
	json_t *m;
	if (json_is_array(methods))
		json_array_foreach(methods, idx, m)
			(void)json_string_value(m);
}

/* {"user": {...}}, {"project": {...}} ... as the resource handlers read them. */
static void walk_resources(const json_t *body)
{
	static const char *wrappers[] = { "user", "project", "domain", "role", "group",
	                                  "service", "endpoint", "region", "credential" };
	static const char *fields[] = { "name", "id", "domain_id", "description", "enabled",
	                                "password", "default_project_id", "parent_id",
	                                "is_domain", "tags", "options", "type", "url",
	                                "interface", "region_id", "service_id", "extra" };
	for (size_t w = 0; w < ARRAY_SIZE(wrappers); w++) {
		json_t *obj = NULL;
		if (kjson_get_obj(body, wrappers[w], &obj) != KJ_OK)
			continue;
		for (size_t f = 0; f < ARRAY_SIZE(fields); f++)
			probe_key(obj, fields[f]);
	}
}

/* kjson_path() with paths built from the document's own keys. */
static void walk_paths(kpool *pool, const json_t *obj, const char *prefix, int depth)
{
	const char *key;
	json_t *v;
	if (depth > 6 || !json_is_object(obj))
		return;
	json_object_foreach((json_t *)obj, key, v) {
		const char *path = prefix ? kpool_printf(pool, "%s.%s", prefix, key) : key;
		(void)kjson_path(obj, key);
		(void)kjson_path(obj, path);
		probe_key(obj, key);
		walk_paths(pool, v, path, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > MAX_INPUT)
		return 0;
	_cleanup_pool_ kpool *pool = kpool_new();
	kreq r = { 0 };
	r.pool = pool;
	r.svc = &identity_service;
	r.method = "POST";
	r.path = "/v3/auth/tokens";
	snprintf(r.request_id, sizeof(r.request_id), "req-fuzz");
	char *body = kpool_alloc(pool, size + 1);
	memcpy(body, data, size);
	r.body = size ? body : NULL;
	r.body_len = size;

	json_t *j = kreq_json(&r);
	if (!j) {
		check(r.status >= 400 && r.status < 500, "rejected body without a 4xx");
		check(r.resp_body != NULL, "rejected body without an error document");
		json_error_t err;
		json_t *e = kpool_json(pool, json_loadb(r.resp_body, r.resp_len, 0, &err));
		check(e != NULL, "error document is not JSON");
		json_t *code = kjson_path(e, "error.code");
		check(json_is_integer(code) && json_integer_value(code) == r.status,
		      "error.code differs from the status");
		check(kjson_str(kjson_path(e, "error"), "title") != NULL, "error.title missing");
		check(kjson_str(kjson_path(e, "error"), "message") != NULL, "error.message missing");
		return 0;
	}
	check(r.status == 0, "kreq_json answered but returned a body");
	check(json_is_object(j), "kreq_json returned a non-object");

	_cleanup_free_ char *dump = kjson_dump(j);
	check(dump != NULL, "kjson_dump failed on a parsed document");
	json_error_t err;
	json_t *again = kpool_json(pool, json_loads(dump, 0, &err));
	check(again && json_equal(j, again), "dump/parse round trip changed the document");

	walk_auth(j);
	walk_resources(j);
	walk_paths(pool, j, NULL, 0);

	/* kjson_set_str_or_null on a copy, with keys and values from the input */
	json_t *copy = kpool_json(pool, json_deep_copy(j));
	const char *key;
	json_t *v;
	json_object_foreach(j, key, v) {
		const char *s = json_is_string(v) ? json_string_value(v) : NULL;
		kjson_set_str_or_null(copy, key, s);
		if (s)
			check(kjson_str(copy, key) && strcmp(kjson_str(copy, key), s) == 0,
			      "kjson_set_str_or_null lost the value");
	}
	return 0;
}
