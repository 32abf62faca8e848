/*
 * http.h - the HTTP server every service runs on (libmicrohttpd).
 *
 * A service is a route table (method + pattern -> handler).  For each request
 * the server:
 *   1. creates a memory pool (kreq.pool) and a request id "req-<uuid>";
 *   2. reads the body into memory up to the service's max_body (413 beyond);
 *   3. matches the route ("/v3/users/{user_id}" captures one path segment
 *      into kreq.params); unknown path -> 404, known path, wrong method -> 405;
 *   4. unless the route is KROUTE_PUBLIC, authenticates X-Auth-Token through
 *      auth.h and fills kreq.ctx (401 when missing/invalid);
 *   5. calls the handler, which answers with kresp_json()/kresp_status()/
 *      kresp_error() exactly once;
 *   6. adds x-openstack-request-id (and the service's extra headers), sends,
 *      writes one access-log line, and frees the pool.
 * Errors are shaped by the service's error_body callback, so each service
 * answers in its own OpenStack dialect.
 *
 * Large bodies (image uploads) are streamed instead of read into memory: a
 * KROUTE_STREAM route is matched and authenticated as soon as the headers
 * have arrived, and its handler runs *before* the body.  It either answers
 * (an error: the body is then discarded unread) or accepts the body by
 * setting r->stream; the body then goes chunk by chunk to r->stream->data()
 * as it arrives, with no max_body limit (the handler enforces its own), and
 * r->stream->end() says whether all of it came.  Large answers are sent from
 * a file descriptor with kresp_file() (sendfile, constant memory).
 *
 * Protocol switches (WebSocket): the handler of a KROUTE_UPGRADE route may
 * answer with kresp_upgrade() (status 101, plus the headers it adds itself:
 * Upgrade, Sec-WebSocket-Accept...).  Once the 101 has gone out, the
 * connection leaves HTTP: its upgrade callback gets the socket (and any bytes
 * the client sent early), must not block (it runs on a server thread; hand
 * the socket to a thread of your own), and the socket then belongs to the
 * caller until it calls khttp_upgrade_close() exactly once.  The request's
 * pool lives until then.  khttp_stop() shuts the sockets of upgraded
 * connections down (reads return 0, writes fail) and waits for their close.
 *
 * Threads: MHD's internal thread pool with epoll; a handler runs on one of
 * those threads and may block on the database.  khttp_stop() stops accepting,
 * lets in-flight requests finish, then returns.
 */
#ifndef KUMO_HTTP_H
#define KUMO_HTTP_H

#include <jansson.h>
#include "common.h"
#include "pool.h"

typedef struct kreq kreq;
typedef struct kservice kservice;
typedef struct kctx kctx;
typedef void (*khandler)(kreq *r);

enum kroute_flags {
	KROUTE_PUBLIC = 1 << 0,   /* no X-Auth-Token required (version docs, POST /v3/auth/tokens) */
	KROUTE_OPTIONAL_AUTH = 1 << 1, /* authenticate if a token is present, else ctx = NULL */
	KROUTE_STREAM = 1 << 2,   /* handler runs before the body, which it streams (kstream_ops) */
	KROUTE_UPGRADE = 1 << 3,  /* handler may switch protocols with kresp_upgrade() */
};

/* An upgraded connection (see kresp_upgrade). */
typedef struct kupgrade kupgrade;
/* Called once the 101 is sent: fd is the client socket (never close() it:
 * khttp_upgrade_close(up) does), extra/extra_len bytes the client already
 * sent after its request (valid during the call only), arg kresp_upgrade's. */
typedef void (*kupgrade_fn)(kupgrade *up, int fd, const char *extra, size_t extra_len,
                            void *arg);

/*
 * A streamed body (KROUTE_STREAM routes).  The route handler is the "begin"
 * step: it runs after routing and authentication, before the first body
 * byte, and either answers (then the body is discarded, never buffered) or
 * accepts the body by setting r->stream (and r->stream_state, its own
 * per-request state, usually pool memory).
 */
typedef struct kstream_ops {
	/* One chunk, as libmicrohttpd delivers it (up to a few tens of KiB).
	 * Non-zero aborts: the callback must have answered (an error); the rest
	 * of the body is then read and dropped (the connection is closed if
	 * that is more than 16 MiB), and the answer goes out at its end. */
	int (*data)(kreq *r, const char *buf, size_t n);
	/* Exactly once per accepted body.  complete = true: the whole body has
	 * arrived; if nothing answered yet, this callback must answer.
	 * complete = false: the client went away mid-body (or timed out, or the
	 * server is stopping); no answer can be sent any more: clean up. */
	void (*end)(kreq *r, bool complete);
} kstream_ops;

typedef struct kroute {
	const char *method;        /* "GET", "POST", ...; "HEAD" falls back to the GET route */
	const char *pattern;       /* "/v3/users/{user_id}"; a trailing slash in the request is ignored */
	khandler fn;
	unsigned flags;
} kroute;

#define KREQ_MAX_PARAMS 8

typedef struct khdr {
	const char *name, *value;
	struct khdr *next;
} khdr;

struct kreq {
	kpool *pool;
	const kservice *svc;
	const kroute *route;
	const char *method;        /* as sent */
	const char *path;          /* decoded path without the query string */
	const char *body;          /* NUL-terminated copy, or NULL when empty */
	size_t body_len;
	const char *params[KREQ_MAX_PARAMS]; /* captures of {…} in pattern order */
	int nparams;
	char request_id[48];       /* "req-<uuid>" */
	kctx *ctx;                 /* the authenticated caller, or NULL */
	int version;               /* API microversion (major * 1000 + minor) set by
	                              svc->prepare; 0 when the service has none */
	void *conn;                /* struct MHD_Connection * (opaque) */
	int64_t start_us;

	/* the response, filled by kresp_*() */
	int status;                /* 0 until answered */
	char *resp_body;           /* pool memory */
	size_t resp_len;
	const char *resp_ctype;
	khdr *resp_headers;

	/* KROUTE_STREAM: set by the handler to accept the body (see kstream_ops) */
	const kstream_ops *stream;
	void *stream_state;
	/* kresp_file(): the body is resp_len bytes of resp_fd from resp_fd_offset */
	bool resp_has_fd;
	int resp_fd;
	uint64_t resp_fd_offset;
	/* kresp_upgrade(): called with the socket after the 101 */
	kupgrade_fn upgrade_fn;
	void *upgrade_arg;
};

/* Request accessors (case-insensitive header names). */
const char *kreq_header(kreq *r, const char *name);
const char *kreq_query(kreq *r, const char *name);     /* first value or NULL */
/* All query arguments, in order; callback returns non-zero to stop. */
void kreq_query_each(kreq *r, int (*cb)(void *ud, const char *key, const char *value), void *ud);
/* Base URL the client used ("http://127.0.0.1:5000"), from Host (pool string). */
const char *kreq_base_url(kreq *r);
/* Parse the body as a JSON object.  On empty or malformed body answers 400
 * (service-shaped) and returns NULL.  The json_t is owned by the pool. */
json_t *kreq_json(kreq *r);
/* Path capture by name ("user_id"); NULL when the route has no such capture. */
const char *kreq_param(kreq *r, const char *name);

/* Responses.  kresp_json steals the reference (NULL body = status only). */
void kresp_json(kreq *r, int status, json_t *body);
void kresp_status(kreq *r, int status);
void kresp_raw(kreq *r, int status, const char *ctype, const char *body, size_t len);
void kresp_header(kreq *r, const char *name, const char *value);  /* copied */
/* Answer len bytes of the open file fd from offset, sent with sendfile()
 * without reading them into memory.  Takes ownership of fd: it is closed
 * once sent (or right away when r was already answered).  The caller sets
 * Content-Length-related headers only through len (MHD adds Content-Length). */
void kresp_file(kreq *r, int status, int fd, uint64_t offset, uint64_t len, const char *ctype);
/* Answer 101 Switching Protocols (KROUTE_UPGRADE routes only, else 500) and
 * hand the connection to fn(up, fd, ..., arg) once the 101 is sent.  arg
 * should live in r->pool (freed after khttp_upgrade_close(), or with the
 * request when the client went away before the 101: then fn never runs). */
void kresp_upgrade(kreq *r, kupgrade_fn fn, void *arg);
/* Give an upgraded connection's socket back (closes it); exactly once. */
void khttp_upgrade_close(kupgrade *up);
/* Service-shaped error: calls svc->error_body(r, status, message). */
void kresp_error(kreq *r, int status, const char *fmt, ...) _printf_(3, 4);

/* Standard reason phrase: 404 -> "Not Found". */
const char *khttp_reason(int status);

/* A running listener. */
typedef struct khttp_server khttp_server;
/* Listen on bind_addr:port for svc with `threads` worker threads. NULL on
 * failure (logged). */
khttp_server *khttp_start(const kservice *svc, const char *bind_addr, int port, int threads);
/* The port actually bound (useful with port 0 in tests). */
int khttp_port(const khttp_server *s);
/* Stop accepting, wait for in-flight requests, free. */
void khttp_stop(khttp_server *s);

/* Route matching, exposed for tests: returns the route or NULL; *path_known
 * is set when some route matches the path with another method. */
const kroute *khttp_match(const kroute *routes, size_t n, const char *method,
                          const char *path, kpool *pool, const char **params,
                          int *nparams, bool *path_known);

#endif
