/*
 * client.c - HTTP calls to other services with libcurl (see client.h).
 *
 * Every call is a fresh easy handle (requests between services are few and
 * short; connection reuse would need a handle per thread for little gain).
 * The service token comes from auth.c; on a 401 with it, the call is retried
 * once with a renewed token.  Endpoints found in the catalog are cached for
 * the life of the process.
 */
#include "client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "conf.h"
#include "json.h"
#include "log.h"

#define MAX_JSON_RESPONSE (64u << 20)

static pthread_mutex_t ep_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *ep_cache;          /* type -> URL */

static void curl_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void ensure_curl(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, curl_once);
}

struct buf {
	char *data;
	size_t len;
	bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	size_t n = size * nmemb;
	if (b->len + n > MAX_JSON_RESPONSE) {
		b->too_big = true;
		return 0;
	}
	char *nb = realloc(b->data, b->len + n + 1);
	if (!nb)
		return 0;
	memcpy(nb + b->len, data, n);
	b->data = nb;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static size_t on_fd(char *data, size_t size, size_t nmemb, void *ud)
{
	int fd = *(int *)ud;
	size_t n = size * nmemb, off = 0;
	while (off < n) {
		ssize_t w = write(fd, data + off, n - off);
		if (w <= 0)
			return 0;
		off += (size_t)w;
	}
	return n;
}

static size_t from_fd(char *data, size_t size, size_t nmemb, void *ud)
{
	int fd = *(int *)ud;
	ssize_t r = read(fd, data, size * nmemb);
	return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
}

enum { BODY_JSON, BODY_TO_FD, BODY_FROM_FD };

/* One request; the status or 0.  Only one of the body modes is used. */
static long perform(const char *method, const char *url, const char *token,
                    const char *json_body, const char *const *headers, int mode, int fd,
                    uint64_t len, struct buf *out, uint64_t *bytes)
{
	ensure_curl();
	CURL *h = curl_easy_init();
	if (!h)
		return 0;
	struct curl_slist *hdrs = NULL;
	_cleanup_free_ char *auth = NULL;
	hdrs = curl_slist_append(hdrs, "User-Agent: kumo-client");
	if (mode == BODY_TO_FD)
		hdrs = curl_slist_append(hdrs, "Accept: application/octet-stream");
	else
		hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (json_body)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (mode == BODY_FROM_FD)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
	if (token && asprintf(&auth, "X-Auth-Token: %s", token) > 0)
		hdrs = curl_slist_append(hdrs, auth);
	for (size_t i = 0; headers && headers[i]; i++)
		hdrs = curl_slist_append(hdrs, headers[i]);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (mode == BODY_JSON) {
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
		if (json_body) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(json_body));
		}
	} else if (mode == BODY_TO_FD) {
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_fd);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &fd);
		curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
		/* no overall timeout for data; give up when it stalls for 60 s */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	} else {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, from_fd);
		curl_easy_setopt(h, CURLOPT_READDATA, &fd);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	}
	long status = 0;
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK || rc == CURLE_HTTP_RETURNED_ERROR)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		klog_warn("client", "%s %s: %s", method, url, curl_easy_strerror(rc));
	if (bytes) {
		curl_off_t n = 0;
		curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &n);
		*bytes = (uint64_t)n;
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return status;
}

static char *catalog_lookup(const char *type)
{
	_cleanup_free_ char *base = kauth_identity_url();
	_cleanup_free_ char *tok = kauth_service_token(NULL);
	_cleanup_free_ char *url = NULL;
	if (!base || !tok || asprintf(&url, "%s/v3/auth/catalog", base) < 0)
		return NULL;
	struct buf b = { 0 };
	long st = perform("GET", url, tok, NULL, NULL, BODY_JSON, -1, 0, &b, NULL);
	_cleanup_json_ json_t *j = st == 200 && b.data ? json_loads(b.data, 0, NULL) : NULL;
	free(b.data);
	size_t i, k;
	json_t *svc, *ep;
	json_array_foreach(json_object_get(j, "catalog"), i, svc) {
		const char *t = kjson_str(svc, "type");
		if (!t || strcmp(t, type) != 0)
			continue;
		json_array_foreach(json_object_get(svc, "endpoints"), k, ep) {
			const char *iface = kjson_str(ep, "interface");
			const char *u = kjson_str(ep, "url");
			if (iface && u && strcmp(iface, "public") == 0)
				return strdup(u);
		}
	}
	return NULL;
}

char *kclient_endpoint(const char *type)
{
	const char *conf = kumo_conf ? kconf_get(kumo_conf, "endpoints", type, NULL) : NULL;
	char *url = NULL;
	if (conf && *conf) {
		url = strdup(conf);
	} else {
		pthread_mutex_lock(&ep_mu);
		const char *c = ep_cache ? kjson_str(ep_cache, type) : NULL;
		url = c ? strdup(c) : NULL;
		pthread_mutex_unlock(&ep_mu);
		if (!url) {
			url = catalog_lookup(type);
			if (!url) {
				klog_warn("client", "no public %s endpoint in the catalog", type);
				return NULL;
			}
			pthread_mutex_lock(&ep_mu);
			if (!ep_cache)
				ep_cache = json_object();
			json_object_set_new(ep_cache, type, json_string(url));
			pthread_mutex_unlock(&ep_mu);
		}
	}
	size_t n = strlen(url);
	while (n && url[n - 1] == '/')
		url[--n] = '\0';
	return url;
}

static char *full_url(const char *type, const char *path)
{
	_cleanup_free_ char *ep = kclient_endpoint(type);
	char *u = NULL;
	if (!ep || asprintf(&u, "%s%s", ep, path) < 0)
		return NULL;
	return u;
}

long kclient_json(const char *type, const char *method, const char *path, const char *token,
                  const json_t *body, const char *const *headers, json_t **out)
{
	if (out)
		*out = NULL;
	_cleanup_free_ char *url = full_url(type, path);
	if (!url)
		return 0;
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	_cleanup_free_ char *svc = token ? NULL : kauth_service_token(NULL);
	struct buf b = { 0 };
	long st = perform(method, url, token ? token : svc, text, headers, BODY_JSON, -1, 0, &b,
	                  NULL);
	if (st == 401 && !token && svc) {
		_cleanup_free_ char *fresh = kauth_service_token(svc);
		free(b.data);
		memset(&b, 0, sizeof(b));
		st = perform(method, url, fresh, text, headers, BODY_JSON, -1, 0, &b, NULL);
	}
	if (out && b.data && b.len)
		*out = json_loads(b.data, 0, NULL);
	free(b.data);
	return st;
}

long kclient_download(const char *type, const char *path, const char *token, int fd,
                      uint64_t *bytes)
{
	_cleanup_free_ char *url = full_url(type, path);
	if (!url)
		return 0;
	_cleanup_free_ char *svc = token ? NULL : kauth_service_token(NULL);
	return perform("GET", url, token ? token : svc, NULL, NULL, BODY_TO_FD, fd, 0, NULL, bytes);
}

long kclient_upload(const char *type, const char *path, const char *token, int fd, uint64_t len)
{
	_cleanup_free_ char *url = full_url(type, path);
	if (!url)
		return 0;
	_cleanup_free_ char *svc = token ? NULL : kauth_service_token(NULL);
	struct buf b = { 0 };
	long st = perform("PUT", url, token ? token : svc, NULL, NULL, BODY_FROM_FD, fd, len, &b,
	                  NULL);
	free(b.data);
	return st;
}
