/*
 * http.c - the HTTP server every service runs on (see http.h).
 *
 * libmicrohttpd does the protocol work: it runs a pool of worker threads,
 * each with its own epoll loop (poll where epoll is missing), parses
 * requests, and calls our access handler several times per request:
 *
 *   1. first call, no body yet: we create the request's memory pool and a
 *      kconn (the kreq handlers see, plus the server's bookkeeping) inside
 *      it, count the request as in flight, and refuse a Content-Length above
 *      the service's max_body with 413 before a byte of the body is read;
 *   2. one call per body chunk: chunks are appended to a pool buffer; when a
 *      chunked body grows beyond max_body, the rest is dropped as it arrives
 *      (MHD cannot answer in the middle of a body) and 413 is the answer; a
 *      body more than 16 MiB beyond the limit gets the connection closed;
 *   3. last call: route, authenticate, run the handler, queue the response.
 *
 * Streamed routes (KROUTE_STREAM) take another path: the route is matched
 * on the first call, and the caller authenticated and the handler run right
 * there, before any body byte (with "Expect: 100-continue" the client has not
 * even sent one yet).  If the handler answers, the answer is queued at once
 * and MHD drops the body; if it accepts the body (r->stream), each chunk goes
 * to stream->data() instead of the buffer, and the last call runs
 * stream->end(r, true), which answers.  MHD only lets us queue an answer
 * before the body or after all of it, so when data() refuses a chunk the rest
 * is read and dropped, as for max_body above.  A client that goes away
 * mid-body shows in the "request completed" callback with a termination code
 * other than COMPLETED_OK: stream->end(r, false) runs there, so the handler
 * can clean up whatever it had written.
 *
 * The response body lives in the pool (MHD_RESPMEM_PERSISTENT, no copy), or
 * in a file (kresp_file: MHD_create_response_from_fd_at_offset64, which MHD
 * sends with sendfile() and closes when done).
 * When MHD has sent it, the "request completed" callback writes the access
 * log line, frees the pool and decrements the in-flight counter, which is
 * what khttp_stop() waits on after it has stopped accepting connections.
 *
 * Upgrades (KROUTE_UPGRADE routes, kresp_upgrade()): the listener of a
 * service with such a route is started with MHD_ALLOW_UPGRADE; the answer is
 * MHD_create_response_for_upgrade(), and once MHD has sent the 101 it calls
 * on_upgraded() with the raw socket, which we record in the server's list of
 * upgraded connections (a kupgrade in the request's pool) and pass on.  MHD
 * reports the request completed only after MHD_upgrade_action(CLOSE), so the
 * pool and the in-flight count live as long as the upgraded connection;
 * khttp_stop() shuts those sockets down so their owners let go, because
 * MHD_stop_daemon() must not run while one is still open.
 *
 * Routing is a linear scan of the service's table: patterns are split into
 * '/'-separated segments, "{name}" captures one non-empty segment.  When
 * several routes match, the one with more literal segments wins (then the one
 * whose first literal comes earlier), so "/v3/users/me" beats
 * "/v3/users/{user_id}" whatever the table order.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"
#include "service.h"
#include "util.h"

#define KHTTP_DEFAULT_MAX_BODY (1024 * 1024)
#define KHTTP_MAX_SEGS 32
#define KHTTP_MAX_JSON_DEPTH 64
#define KHTTP_CONN_TIMEOUT 60        /* seconds of inactivity */
#define KHTTP_STOP_WAIT_S 10         /* grace period for in-flight requests */
#define KHTTP_CONN_MEMORY (64 * 1024) /* per-connection header buffer */
#define KHTTP_DISCARD_MAX (16 * 1024 * 1024) /* then the connection is closed */

struct khttp_server {
	struct MHD_Daemon *daemon;
	const kservice *svc;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int active;                  /* requests between first call and completion */
	kupgrade *upgraded;          /* open upgraded connections (under mu) */
};

struct kupgrade {
	khttp_server *srv;
	struct MHD_UpgradeResponseHandle *urh;
	int fd;
	kupgrade *prev, *next;
};

/* Per-request state, allocated in the request's own pool. */
typedef struct kconn {
	kreq r;                      /* first: handlers only see this */
	khttp_server *srv;
	char *buf;                   /* body being read */
	size_t len, cap;
	size_t discarded;            /* bytes dropped beyond max_body */
	bool too_big;                /* the body exceeds max_body */
	bool queued;                 /* response handed to MHD */
	bool routed;                 /* r.route / known filled on the first call */
	bool known;                  /* no route, but the path exists (405) */
	bool stream_ended;           /* r.stream->end() has run */
} kconn;

static const char *svc_name(const kservice *svc)
{
	return svc && svc->name ? svc->name : "http";
}

static size_t svc_max_body(const kservice *svc)
{
	return svc && svc->max_body ? svc->max_body : KHTTP_DEFAULT_MAX_BODY;
}

/* ------------------------------------------------------------------------ */
/* Reason phrases (WebOb's, which is what OpenStack services answer with). */

const char *khttp_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 207: return "Multi-Status";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 305: return "Use Proxy";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Request Entity Too Large";
	case 414: return "Request-URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Requested Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 418: return "I'm a teapot";
	case 422: return "Unprocessable Entity";
	case 423: return "Locked";
	case 424: return "Failed Dependency";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 451: return "Unavailable For Legal Reasons";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	case 511: return "Network Authentication Required";
	default: return "Unknown";
	}
}

/* ------------------------------------------------------------------------ */
/* Route matching. */

/* Split a request path into pool-copied segments; a trailing slash is
 * ignored.  -1 when there are too many segments to match anything. */
static int split_path(kpool *pool, const char *path, const char **segs)
{
	size_t n = strlen(path);
	if (n > 0 && path[n - 1] == '/')
		n--;
	const char *p = path, *end = path + n;
	if (p < end && *p == '/')
		p++;
	if (p >= end)
		return 0;
	int nsegs = 0;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *e = slash ? slash : end;
		if (nsegs == KHTTP_MAX_SEGS)
			return -1;
		segs[nsegs++] = kpool_strndup(pool, p, (size_t)(e - p));
		if (!slash)
			return nsegs;
		p = slash + 1;
	}
}

/* Match one pattern against split segments.  Returns false on mismatch;
 * otherwise fills caps and a score (literal count, then literal positions,
 * earlier ones weighing more). */
static bool match_pattern(const char *pattern, const char **segs, int nsegs,
                          const char **caps, int *ncaps, uint64_t *score)
{
	size_t n = strlen(pattern);
	if (n > 0 && pattern[n - 1] == '/')
		n--;
	const char *p = pattern, *end = pattern + n;
	if (p < end && *p == '/')
		p++;
	int i = 0, literals = 0;
	uint32_t mask = 0;
	*ncaps = 0;
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *e = slash ? slash : end;
		size_t len = (size_t)(e - p);
		if (i >= nsegs)
			return false;
		if (len >= 2 && p[0] == '{' && e[-1] == '}') {
			if (segs[i][0] == '\0' || *ncaps == KREQ_MAX_PARAMS)
				return false;
			caps[(*ncaps)++] = segs[i];
		} else {
			if (strlen(segs[i]) != len || memcmp(segs[i], p, len) != 0)
				return false;
			literals++;
			if (i < 32)
				mask |= 1u << (31 - i);
		}
		i++;
		if (!slash)
			break;
		p = slash + 1;
	}
	if (i != nsegs)
		return false;
	*score = ((uint64_t)literals << 32) | mask;
	return true;
}

const kroute *khttp_match(const kroute *routes, size_t n, const char *method,
                          const char *path, kpool *pool, const char **params,
                          int *nparams, bool *path_known)
{
	const char *segs[KHTTP_MAX_SEGS];
	const char *caps[KREQ_MAX_PARAMS];
	const char *best_caps[KREQ_MAX_PARAMS], *get_caps[KREQ_MAX_PARAMS];
	const kroute *best = NULL, *get = NULL;
	uint64_t best_score = 0, get_score = 0;
	int best_n = 0, get_n = 0, ncaps;
	bool known = false, head = method && strcmp(method, "HEAD") == 0;

	if (nparams)
		*nparams = 0;
	if (path_known)
		*path_known = false;
	if (!routes || !method || !path)
		return NULL;
	int nsegs = split_path(pool, path, segs);
	if (nsegs < 0)
		return NULL;

	for (size_t i = 0; i < n; i++) {
		const kroute *rt = &routes[i];
		uint64_t score;
		if (!rt->pattern || !rt->method)
			continue;
		if (!match_pattern(rt->pattern, segs, nsegs, caps, &ncaps, &score))
			continue;
		if (strcmp(rt->method, method) == 0) {
			if (!best || score > best_score) {
				best = rt;
				best_score = score;
				best_n = ncaps;
				memcpy(best_caps, caps, sizeof(caps[0]) * (size_t)ncaps);
			}
		} else if (head && strcmp(rt->method, "GET") == 0) {
			if (!get || score > get_score) {
				get = rt;
				get_score = score;
				get_n = ncaps;
				memcpy(get_caps, caps, sizeof(caps[0]) * (size_t)ncaps);
			}
		} else {
			known = true;
		}
	}
	if (!best && get) {
		best = get;
		best_n = get_n;
		memcpy(best_caps, get_caps, sizeof(caps[0]) * (size_t)get_n);
	}
	if (!best) {
		if (path_known)
			*path_known = known;
		return NULL;
	}
	if (params)
		memcpy(params, best_caps, sizeof(caps[0]) * (size_t)best_n);
	if (nparams)
		*nparams = best_n;
	return best;
}

/* "GET, HEAD, POST": the methods some route accepts for this path. */
static const char *allowed_methods(kreq *r)
{
	const kservice *svc = r->svc;
	const char *segs[KHTTP_MAX_SEGS], *caps[KREQ_MAX_PARAMS];
	const char *seen[32];
	int nseen = 0, ncaps;
	uint64_t score;
	bool get = false, head = false;

	int nsegs = split_path(r->pool, r->path, segs);
	if (nsegs < 0)
		return "";
	for (size_t i = 0; i < svc->nroutes && nseen < (int)ARRAY_SIZE(seen) - 1; i++) {
		const kroute *rt = &svc->routes[i];
		if (!rt->pattern || !rt->method ||
		    !match_pattern(rt->pattern, segs, nsegs, caps, &ncaps, &score))
			continue;
		bool dup = false;
		for (int j = 0; j < nseen; j++)
			dup |= strcmp(seen[j], rt->method) == 0;
		if (dup)
			continue;
		seen[nseen++] = rt->method;
		get |= strcmp(rt->method, "GET") == 0;
		head |= strcmp(rt->method, "HEAD") == 0;
	}
	if (get && !head)
		seen[nseen++] = "HEAD";
	char *out = kpool_strdup(r->pool, "");
	for (int j = 0; j < nseen; j++)
		out = kpool_printf(r->pool, "%s%s%s", out, j ? ", " : "", seen[j]);
	return out;
}

const char *kreq_param(kreq *r, const char *name)
{
	if (!r || !r->route || !r->route->pattern || !name)
		return NULL;
	size_t nlen = strlen(name);
	int idx = 0;
	for (const char *p = r->route->pattern; (p = strchr(p, '{')) != NULL; idx++) {
		const char *close = strchr(p, '}');
		if (!close)
			break;
		if ((size_t)(close - p - 1) == nlen && memcmp(p + 1, name, nlen) == 0)
			return idx < r->nparams ? r->params[idx] : NULL;
		p = close + 1;
	}
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Request accessors. */

const char *kreq_header(kreq *r, const char *name)
{
	if (!r || !r->conn || !name)
		return NULL;
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct query_find {
	const char *name, *value;
	bool found;
};

static enum MHD_Result query_find_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	struct query_find *q = cls;
	if (!key || strcmp(key, q->name) != 0)
		return MHD_YES;
	q->value = value ? value : "";      /* "?flag" is present with an empty value */
	q->found = true;
	return MHD_NO;
}

const char *kreq_query(kreq *r, const char *name)
{
	if (!r || !r->conn || !name)
		return NULL;
	struct query_find q = { .name = name };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_find_cb, &q);
	return q.found ? q.value : NULL;
}

struct query_each {
	int (*cb)(void *ud, const char *key, const char *value);
	void *ud;
};

static enum MHD_Result query_each_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	struct query_each *q = cls;
	if (!key)
		return MHD_YES;
	return q->cb(q->ud, key, value ? value : "") ? MHD_NO : MHD_YES;
}

void kreq_query_each(kreq *r, int (*cb)(void *ud, const char *key, const char *value), void *ud)
{
	if (!r || !r->conn || !cb)
		return;
	struct query_each q = { cb, ud };
	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_each_cb, &q);
}

/* A Host header we are willing to echo back inside URLs. */
static bool host_ok(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 255)
		return false;
	for (const char *p = h; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']'))
			return false;
	}
	return true;
}

static const char *sockaddr_str(kpool *pool, const struct sockaddr *sa, bool with_port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (!sa)
		return "-";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		port = ntohs(in6->sin6_port);
		if (with_port)
			return kpool_printf(pool, "[%s]:%d", ip, port);
	}
	return with_port ? kpool_printf(pool, "%s:%d", ip, port) : kpool_strdup(pool, ip);
}

const char *kreq_base_url(kreq *r)
{
	const char *host = kreq_header(r, "Host");
	if (host && host_ok(host))
		return kpool_printf(r->pool, "http://%s", host);
	if (r && r->conn) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (ci && getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) == 0)
			return kpool_printf(r->pool, "http://%s",
			                    sockaddr_str(r->pool, (struct sockaddr *)&ss, true));
	}
	return "http://127.0.0.1";
}

/* application/json or application/<anything>+json, parameters allowed. */
static bool ctype_is_json(const char *ct)
{
	while (*ct == ' ' || *ct == '\t')
		ct++;
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	if (n == 0)
		return true;                     /* "Content-Type:" with nothing: as absent */
	if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
		return true;
	return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
	       strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* Bound nesting before handing the text to jansson (which recurses). */
static bool json_too_deep(const char *s, size_t n, int max)
{
	int depth = 0;
	bool in_str = false, esc = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return true;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return false;
}

json_t *kreq_json(kreq *r)
{
	if (!r->body || r->body_len == 0) {
		kresp_error(r, 400, "The request body is empty; a JSON object is expected.");
		return NULL;
	}
	const char *ct = kreq_header(r, "Content-Type");
	if (ct && !ctype_is_json(ct)) {
		kresp_error(r, 415, "The request Content-Type must be application/json.");
		return NULL;
	}
	if (json_too_deep(r->body, r->body_len, KHTTP_MAX_JSON_DEPTH)) {
		kresp_error(r, 400, "The request body is nested more than %d levels deep.",
		            KHTTP_MAX_JSON_DEPTH);
		return NULL;
	}
	json_error_t err;
	json_t *j = json_loadb(r->body, r->body_len, 0, &err);
	if (!j) {
		/* jansson quotes the text "near" the error, which may be a password:
		 * keep only what went wrong and where */
		char *near = strstr(err.text, " near ");
		if (near)
			*near = '\0';
		kresp_error(r, 400, "Malformed JSON in request body: %s (line %d, column %d).",
		            err.text, err.line, err.column);
		return NULL;
	}
	kpool_json(r->pool, j);
	if (!json_is_object(j)) {
		kresp_error(r, 400, "The request body must be a JSON object.");
		return NULL;
	}
	return j;
}

/* ------------------------------------------------------------------------ */
/* Responses. */

static bool already_answered(kreq *r, int status)
{
	if (r->status == 0)
		return false;
	klog_warn(svc_name(r->svc), "%s: second answer (%d) ignored, %d already given",
	          r->request_id, status, r->status);
	return true;
}

void kresp_raw(kreq *r, int status, const char *ctype, const char *body, size_t len)
{
	if (already_answered(r, status))
		return;
	r->status = status;
	r->resp_ctype = ctype ? kpool_strdup(r->pool, ctype) : NULL;
	/* bodies may be binary: copy len bytes (plus a NUL for text users) */
	r->resp_body = NULL;
	if (body) {
		r->resp_body = kpool_alloc(r->pool, len + 1);
		memcpy(r->resp_body, body, len);
		r->resp_body[len] = '\0';
	}
	r->resp_len = body ? len : 0;
}

void kresp_status(kreq *r, int status)
{
	kresp_raw(r, status, NULL, NULL, 0);
}

static void free_str(void *p)
{
	free(p);
}

/* Pool destructor: the file of a kresp_file() answer that never reached MHD. */
static void close_resp_fd(void *arg)
{
	kreq *r = arg;
	if (r->resp_has_fd) {
		close(r->resp_fd);
		r->resp_has_fd = false;
	}
}

void kresp_file(kreq *r, int status, int fd, uint64_t offset, uint64_t len, const char *ctype)
{
	if (already_answered(r, status)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	if (fd < 0 || len > SIZE_MAX || offset > (uint64_t)INT64_MAX - len) {
		if (fd >= 0)
			close(fd);
		klog_error(svc_name(r->svc), "%s: kresp_file: bad file or range", r->request_id);
		kresp_error(r, 500, "An unexpected error prevented the server from "
		            "fulfilling your request.");
		return;
	}
	r->status = status;
	r->resp_ctype = ctype ? kpool_strdup(r->pool, ctype) : NULL;
	r->resp_body = NULL;
	r->resp_len = (size_t)len;
	r->resp_fd = fd;
	r->resp_fd_offset = offset;
	r->resp_has_fd = true;
	kpool_defer(r->pool, close_resp_fd, r);
}

void kresp_json(kreq *r, int status, json_t *body)
{
	if (!body) {
		kresp_status(r, status);
		return;
	}
	if (already_answered(r, status)) {
		json_decref(body);
		return;
	}
	char *s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(body);
	if (!s) {
		klog_error(svc_name(r->svc), "%s: cannot serialize the response", r->request_id);
		kresp_error(r, 500, "The server failed to serialize its response.");
		return;
	}
	kpool_defer(r->pool, free_str, s);
	r->status = status;
	r->resp_ctype = "application/json";
	r->resp_body = s;
	r->resp_len = strlen(s);
}

void kresp_upgrade(kreq *r, kupgrade_fn fn, void *arg)
{
	if (already_answered(r, 101))
		return;
	if (!fn || !r->route || !(r->route->flags & KROUTE_UPGRADE)) {
		klog_error(svc_name(r->svc), "%s: kresp_upgrade on a route without KROUTE_UPGRADE",
		           r->request_id);
		kresp_error(r, 500, "An unexpected error prevented the server from "
		            "fulfilling your request.");
		return;
	}
	r->status = 101;
	r->resp_ctype = NULL;
	r->resp_body = NULL;
	r->resp_len = 0;
	r->upgrade_fn = fn;
	r->upgrade_arg = arg;
}

/* MHD has sent the 101: the socket is the route's now. */
static void on_upgraded(void *cls, struct MHD_Connection *mc, void *con_cls,
                        const char *extra_in, size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
	kconn *c = cls;
	(void)mc;
	(void)con_cls;
	kupgrade *up = kpool_alloc(c->r.pool, sizeof(*up));
	up->srv = c->srv;
	up->urh = urh;
	up->fd = sock;
	pthread_mutex_lock(&up->srv->mu);
	up->next = up->srv->upgraded;
	if (up->next)
		up->next->prev = up;
	up->srv->upgraded = up;
	pthread_mutex_unlock(&up->srv->mu);
	c->r.upgrade_fn(up, sock, extra_in, extra_in_size, c->r.upgrade_arg);
}

void khttp_upgrade_close(kupgrade *up)
{
	if (!up)
		return;
	khttp_server *s = up->srv;
	pthread_mutex_lock(&s->mu);
	if (up->prev)
		up->prev->next = up->next;
	else
		s->upgraded = up->next;
	if (up->next)
		up->next->prev = up->prev;
	pthread_mutex_unlock(&s->mu);
	/* after this the request completes and its pool (holding up) is freed */
	MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
}

void kresp_header(kreq *r, const char *name, const char *value)
{
	if (!name || !value)
		return;
	if (strcasecmp(name, "Content-Type") == 0) {
		r->resp_ctype = kpool_strdup(r->pool, value);
		return;
	}
	khdr *h = kpool_alloc(r->pool, sizeof(*h));
	h->name = kpool_strdup(r->pool, name);
	h->value = kpool_strdup(r->pool, value);
	khdr **tail = &r->resp_headers;
	while (*tail)
		tail = &(*tail)->next;
	*tail = h;
}

static void generic_error(kreq *r, int status, const char *message)
{
	json_t *e = json_pack("{s:{s:i, s:s, s:s}}", "error", "code", status,
	                      "title", khttp_reason(status), "message", message ? message : "");
	kresp_json(r, status, e);
}

/* Replace every byte that is not part of valid UTF-8 with '?', in place:
 * messages may quote client input (jansson's parse errors do), and a JSON
 * error body must stay valid UTF-8 or the encoder refuses it. */
static void utf8_scrub(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
		      : (*p & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0 && !(n == 2 && *p < 0xc2) && !(n == 4 && *p > 0xf4);
		for (int i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (ok && n == 3) {   /* no overlongs, no surrogates */
			unsigned cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
			ok = cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff);
		}
		if (ok && n == 4) {
			unsigned cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3fu) << 12);
			ok = cp >= 0x10000 && cp <= 0x10ffff;
		}
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

void kresp_error(kreq *r, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = kpool_vprintf(r->pool, fmt, ap);
	va_end(ap);
	utf8_scrub(msg);
	if (r->status != 0) {
		already_answered(r, status);
		return;
	}
	/* an error_body that itself calls kresp_error() gets the generic shape */
	static __thread bool in_error_body;
	if (r->svc && r->svc->error_body && !in_error_body) {
		in_error_body = true;
		r->svc->error_body(r, status, msg);
		in_error_body = false;
	}
	if (r->status == 0)
		generic_error(r, status, msg);
}

/* ------------------------------------------------------------------------ */
/* The request lifecycle. */

static kconn *conn_new(khttp_server *s, struct MHD_Connection *mc, const char *url,
                       const char *method)
{
	kpool *pool = kpool_new();
	kconn *c = kpool_alloc(pool, sizeof(*c));
	char uuid[37];

	c->srv = s;
	c->r.pool = pool;
	c->r.svc = s->svc;
	c->r.conn = mc;
	c->r.method = kpool_strdup(pool, method ? method : "");
	c->r.path = kpool_strdup(pool, url && *url ? url : "/");
	c->r.start_us = kutil_now_us();
	kutil_uuid(uuid);
	snprintf(c->r.request_id, sizeof(c->r.request_id), "req-%s", uuid);
	return c;
}

/* Fill r->ctx from X-Auth-Token as the route requires; false when it
 * answered 401. */
static bool authenticate(kreq *r)
{
	const char *token = kreq_header(r, "X-Auth-Token");
	bool has_token = token && *token;
	unsigned flags = r->route->flags;

	if (!(flags & KROUTE_PUBLIC)) {
		if (!has_token && !(flags & KROUTE_OPTIONAL_AUTH)) {
			kresp_error(r, 401, "The request you have made requires authentication.");
			return false;
		}
		if (has_token) {
			kctx *ctx = NULL;
			if (kauth_validate(r->pool, token, &ctx) != 0 || !ctx) {
				kresp_error(r, 401,
				            "The request you have made requires authentication.");
				return false;
			}
			r->ctx = ctx;
		}
	}
	return true;
}

static void unanswered(kreq *r, const char *what)
{
	klog_error(svc_name(r->svc), "%s %s %s: %s", r->request_id, r->method,
	           r->route ? r->route->pattern : r->path, what);
	kresp_error(r, 500, "An unexpected error prevented the server from "
	            "fulfilling your request.");
}

static void authenticate_and_call(kreq *r)
{
	if (!authenticate(r))
		return;
	if (r->svc && r->svc->prepare && !r->svc->prepare(r))
		return;
	r->route->fn(r);
	if (r->status == 0)
		unanswered(r, "handler returned without answering");
}

static void route(kconn *c)
{
	kreq *r = &c->r;
	const kservice *svc = r->svc;
	r->route = khttp_match(svc->routes, svc->nroutes, r->method, r->path, r->pool,
	                       r->params, &r->nparams, &c->known);
	c->routed = true;
}

static void dispatch(kconn *c)
{
	kreq *r = &c->r;

	if (c->len > 0) {
		c->buf[c->len] = '\0';
		r->body = c->buf;
		r->body_len = c->len;
	}
	if (!c->routed)
		route(c);
	if (!r->route) {
		if (c->known) {
			kresp_header(r, "Allow", allowed_methods(r));
			kresp_error(r, 405, "The method %s is not allowed for the requested URL.",
			            r->method);
		} else {
			kresp_error(r, 404, "The resource could not be found.");
		}
		return;
	}
	authenticate_and_call(r);
}

static enum MHD_Result queue(kconn *c)
{
	kreq *r = &c->r;
	if (r->status == 0)
		kresp_error(r, 500, "The request could not be answered.");
	if (r->svc && r->svc->decorate)
		r->svc->decorate(r);
	struct MHD_Response *resp;
	if (r->upgrade_fn && r->status == 101) {
		resp = MHD_create_response_for_upgrade(on_upgraded, c);
	} else if (r->resp_has_fd) {
		resp = MHD_create_response_from_fd_at_offset64(r->resp_len, r->resp_fd,
		                                               r->resp_fd_offset);
		if (resp)
			r->resp_has_fd = false;     /* MHD closes it now */
	} else {
		resp = MHD_create_response_from_buffer(r->resp_len,
		                                       r->resp_body ? r->resp_body : (char *)"",
		                                       MHD_RESPMEM_PERSISTENT);
	}
	if (!resp) {
		klog_error(svc_name(r->svc), "%s: cannot create a response", r->request_id);
		return MHD_NO;
	}
	if (r->resp_ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_ctype);
	MHD_add_response_header(resp, "x-openstack-request-id", r->request_id);
	for (khdr *h = r->resp_headers; h; h = h->next)
		if (MHD_add_response_header(resp, h->name, h->value) != MHD_YES)
			klog_warn(svc_name(r->svc), "%s: response header %s rejected",
			          r->request_id, h->name);
	enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	c->queued = ret == MHD_YES;
	return ret;
}

static enum MHD_Result answer_too_big(kconn *c)
{
	c->too_big = true;
	kresp_error(&c->r, 413, "Request is too large: the body exceeds %zu bytes.",
	            svc_max_body(c->r.svc));
	return queue(c);
}

/* Append a body chunk to the pool buffer, doubling it as needed. */
static void body_append(kconn *c, const char *data, size_t n)
{
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n + 1)
			cap *= 2;
		char *nb = kpool_alloc(c->r.pool, cap);
		if (c->len)
			memcpy(nb, c->buf, c->len);
		c->buf = nb;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, n);
	c->len += n;
}

/* First call of a KROUTE_STREAM route: authenticate and run the handler
 * before the body. */
static enum MHD_Result stream_begin(kconn *c)
{
	kreq *r = &c->r;
	if (!authenticate(r))
		return queue(c);
	r->route->fn(r);
	if (r->status != 0)
		return queue(c);       /* refused: MHD drops the body */
	if (!r->stream || !r->stream->data || !r->stream->end) {
		unanswered(r, "stream handler neither answered nor accepted the body");
		return queue(c);
	}
	return MHD_YES;
}

static void stream_end(kconn *c, bool complete)
{
	if (c->r.stream && !c->stream_ended) {
		c->stream_ended = true;
		c->r.stream->end(&c->r, complete);
	}
}

/* Later calls of an accepted stream: chunks, then the end. */
static enum MHD_Result stream_next(kconn *c, const char *data, size_t *upload_size)
{
	kreq *r = &c->r;
	if (*upload_size > 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (r->status != 0) {
			/* refused mid-body: MHD only answers after the body */
			c->discarded += n;
			if (c->discarded <= KHTTP_DISCARD_MAX)
				return MHD_YES;
			klog_warn(svc_name(r->svc), "%s: body refused, %zu bytes dropped, closing",
			          r->request_id, c->discarded);
			return MHD_NO;
		}
		if (r->stream->data(r, data, n) != 0 && r->status == 0)
			unanswered(r, "stream data callback aborted without answering");
		return MHD_YES;
	}
	stream_end(c, true);
	if (r->status == 0)
		unanswered(r, "stream end callback returned without answering");
	return queue(c);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
	khttp_server *s = cls;
	kconn *c = *con_cls;
	size_t max = svc_max_body(s->svc);

	if (!c) {
		c = conn_new(s, mc, url, method);
		*con_cls = c;
		pthread_mutex_lock(&s->mu);
		s->active++;
		pthread_mutex_unlock(&s->mu);

		route(c);
		if (c->r.route && (c->r.route->flags & KROUTE_STREAM))
			return stream_begin(c);

		const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(cl, &end, 10);
			if (end != cl && (errno == ERANGE || n > max))
				return answer_too_big(c);
			if (errno == 0 && end != cl && n > 0) {
				c->cap = (size_t)n + 1;
				c->buf = kpool_alloc(c->r.pool, c->cap);
			}
		}
		return MHD_YES;
	}
	if (c->queued) {
		*upload_size = 0;        /* answered before the body: swallow it */
		return MHD_YES;
	}
	if (c->r.stream)
		return stream_next(c, upload_data, upload_size);
	if (*upload_size > 0) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (c->too_big || c->len + n > max) {
			/* MHD cannot answer in the middle of a body: drop the rest
			 * unread into memory, answer 413 at the end */
			c->too_big = true;
			c->discarded += n;
			if (c->discarded <= KHTTP_DISCARD_MAX)
				return MHD_YES;
			klog_warn(svc_name(s->svc), "%s: body far above the limit, closing",
			          c->r.request_id);
			return MHD_NO;
		}
		body_append(c, upload_data, n);
		return MHD_YES;
	}
	if (c->too_big)
		return answer_too_big(c);
	dispatch(c);
	return queue(c);
}

/* Copy s for the log with control characters escaped (no log injection). */
static const char *log_safe(kpool *pool, const char *s)
{
	size_t n = strlen(s);
	char *out = kpool_alloc(pool, n * 4 + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			o += sprintf(o, "\\x%02x", *p);
		else
			*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	khttp_server *s = cls;
	kconn *c = *con_cls;
	if (!c)
		return;
	*con_cls = NULL;

	kreq *r = &c->r;
	stream_end(c, false);        /* a body cut off: the handler cleans up */
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const char *ip = sockaddr_str(r->pool, ci ? ci->client_addr : NULL, false);
	double ms = (double)(kutil_now_us() - r->start_us) / 1000.0;
	size_t bytes = strcmp(r->method, "HEAD") == 0 ? 0 : r->resp_len;
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		klog_info(svc_name(s->svc), "%s \"%s %s\" status: %d len: %zu time: %.3f ms %s",
		          ip, log_safe(r->pool, r->method), log_safe(r->pool, r->path), r->status,
		          bytes, ms, r->request_id);
	else
		klog_info(svc_name(s->svc),
		          "%s \"%s %s\" status: %d len: %zu time: %.3f ms %s (aborted, code %d)",
		          ip, log_safe(r->pool, r->method), log_safe(r->pool, r->path), r->status,
		          bytes, ms, r->request_id, (int)toe);
	kpool_free(r->pool);

	pthread_mutex_lock(&s->mu);
	s->active--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------------------ */
/* The listener. */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	klog_warn(cls ? (const char *)cls : "http", "libmicrohttpd: %s", buf);
}

static struct MHD_Daemon *start_daemon(khttp_server *s, unsigned poll_flag,
                                       const struct sockaddr *sa, int port, bool v6,
                                       int threads)
{
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
	                 poll_flag | (v6 ? MHD_USE_IPv6 : 0);
	for (size_t i = 0; s->svc->routes && i < s->svc->nroutes; i++)
		if (s->svc->routes[i].flags & KROUTE_UPGRADE)
			flags |= MHD_ALLOW_UPGRADE;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, (void *)svc_name(s->svc) },
		{ MHD_OPTION_SOCK_ADDR, 0, (void *)sa },
		{ MHD_OPTION_CONNECTION_TIMEOUT, KHTTP_CONN_TIMEOUT, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, KHTTP_CONN_MEMORY, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END,
		  threads > 1 ? threads : 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	/* the port argument only shows in MHD's messages: SOCK_ADDR is what binds */
	return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
	                        MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

khttp_server *khttp_start(const kservice *svc, const char *bind_addr, int port, int threads)
{
	const char *name = svc_name(svc);
	if (!svc || port < 0 || port > 65535) {
		klog_error(name, "cannot listen: invalid service or port %d", port);
		return NULL;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *host = bind_addr && *bind_addr ? bind_addr : "0.0.0.0";
	int rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0 || !ai) {
		klog_error(name, "cannot listen on %s: %s", host, gai_strerror(rc));
		return NULL;
	}

	khttp_server *s = calloc(1, sizeof(*s));
	if (!s) {
		freeaddrinfo(ai);
		return NULL;
	}
	s->svc = svc;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);

	bool v6 = ai->ai_family == AF_INET6;
	unsigned poll_flag = MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL
	                     : MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES ? MHD_USE_POLL
	                     : 0;
	s->daemon = start_daemon(s, poll_flag, ai->ai_addr, port, v6, threads);
	freeaddrinfo(ai);
	if (!s->daemon) {
		klog_error(name, "cannot listen on %s:%d", host, port);
		pthread_cond_destroy(&s->cv);
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di && di->port ? di->port : port;
	klog_info(name, "listening on %s:%d (%d thread%s)", host, s->port,
	          threads > 1 ? threads : 1, threads > 1 ? "s" : "");
	return s;
}

int khttp_port(const khttp_server *s)
{
	return s ? s->port : -1;
}

void khttp_stop(khttp_server *s)
{
	if (!s)
		return;
	MHD_socket lsock = MHD_quiesce_daemon(s->daemon);

	/* upgraded connections: make their owners see the end and close them */
	pthread_mutex_lock(&s->mu);
	for (kupgrade *up = s->upgraded; up; up = up->next)
		shutdown(up->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->mu);

	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += KHTTP_STOP_WAIT_S;
	pthread_mutex_lock(&s->mu);
	while (s->active > 0)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT)
			break;
	int left = s->active;
	pthread_mutex_unlock(&s->mu);
	if (left > 0)
		klog_warn(svc_name(s->svc), "stopping with %d requests still in flight", left);
	pthread_mutex_lock(&s->mu);
	bool upgraded = s->upgraded != NULL;
	pthread_mutex_unlock(&s->mu);
	if (upgraded) {
		/* MHD_stop_daemon() would abort the process: leave the daemon be */
		klog_error(svc_name(s->svc), "upgraded connections still open: "
		           "the listener on port %d is left running", s->port);
		if (lsock != MHD_INVALID_SOCKET)
			close(lsock);
		return;
	}

	MHD_stop_daemon(s->daemon);
	if (lsock != MHD_INVALID_SOCKET)
		close(lsock);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	klog_info(svc_name(s->svc), "stopped listening on port %d", s->port);
	free(s);
}
