/*
 * console.c - remote consoles: the os-getVNCConsole action and the noVNC
 * console proxy (Nova's nova-novncproxy and its consoleauth role), in one
 * file.
 *
 * Tokens.  cmp_console_get_vnc() asks the instance's compute agent where
 * its VNC server listens (bus call "get_vnc_console" -> {"host", "port"}),
 * mints 32 random bytes as a 64-character hex token, and stores only the
 * token's SHA-256 (hex) in cmp_console_token with the instance, host, port
 * and an expiry ([compute] console_token_ttl, 600 s).  The answer is
 * [compute] novncproxy_base_url + "?token=" + token, the seed's
 * http://<host>:6080/vnc_auto.html?token=...  Expired rows are deleted
 * lazily, whenever a token is minted or presented.
 *
 * The proxy is a kservice of its own ("console", port 6080, no catalog
 * entry, every route public: the token is the credential).  It serves
 * noVNC's files from [compute] novnc_path (Debian's novnc package) with
 * their content types, refusing any path that is not plain segments of
 * [A-Za-z0-9._-] (no "..", no dot files, no NUL, nothing absolute).
 * Debian's noVNC 1.3 has vnc.html (the full UI, which waits for a click)
 * and vnc_lite.html (connects at once); its vnc_auto.html is a link to
 * vnc.html.  So that the seed's URL works unchanged, vnc_auto.html is
 * served as vnc_lite.html, the auto-connecting page it was before noVNC 1.0.
 * That page opens ws://<same host:port>/websockify without the token, so
 * a page fetched with ?token=T also sets the cookie token=T (HttpOnly,
 * SameSite=Strict, Path=/websockify): the WebSocket handshake then carries
 * it, as Nova's proxy also accepts.  ?token= on /websockify itself (noVNC's
 * path=websockify%3Ftoken%3D...) works too and wins over the cookie.
 *
 * GET /websockify checks the RFC 6455 handshake (400 when malformed), the
 * Origin (when sent, it must name the Host the request was sent to: 403),
 * then the token: unknown, forged or expired -> 401; instance deleted or
 * not active, or VNC address not this host's (loopback or the compute
 * node's host_ip) -> 403; and, like Nova's validate_console_port, the
 * instance's agent must still report the same host and port (403 when it
 * does not: the port went to another instance; [compute]
 * console_verify_port = false skips this, for tests without an agent).
 * Only then does it connect to the VNC server (502 when it cannot) and
 * answer 101 through core/http.c's upgrade support (KROUTE_UPGRADE).
 *
 * The bridge: one thread per console connection, both sockets non-blocking,
 * one poll() loop.  Client frames (masked, binary; fragmented messages are
 * streamed through as they come) are unmasked and their payloads queued to
 * VNC; VNC bytes go back as unmasked binary frames of up to 64 KiB.  Pings
 * get pongs, a close gets its echo.  Anything else - text frames (noVNC's
 * old base64 protocol is not offered), unmasked frames, RSV bits, unknown
 * opcodes, oversized frames (> 1 MiB) - gets a close frame with RFC 6455's
 * code and the end of the connection.  Each direction reads only while its
 * outgoing queue is below 1 MiB, so a slow side slows the other instead of
 * growing memory.  The thread ends by closing the VNC socket and handing
 * the client socket back (khttp_upgrade_close).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compute/compute.h"
#include "core/bus.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"

#define TOKEN_BYTES 32
#define TOKEN_HEX (TOKEN_BYTES * 2)
#define AGENT_TIMEOUT_MS 30000
#define VERIFY_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 5000
#define WS_MAX_PAYLOAD (1024 * 1024)      /* largest client frame */
#define WS_HIGH_WATER (1024 * 1024)       /* queued bytes before reading pauses */
#define WS_CHUNK 65535                    /* VNC bytes per server frame */
#define WS_CLOSE_WAIT_MS 5000             /* flushing the close frame */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static kdb *own_db;                        /* `kumo console` alone: its own handle */
static atomic_int nbridges;

static kdb *db(void)
{
	return cmp_db ? cmp_db : own_db;
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static void sha256_hex(const char *s, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static bool is_hex_token(const char *t)
{
	if (!t || strlen(t) != TOKEN_HEX)
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static bool is_loopback(const char *h)
{
	return streq(h, "localhost") || streq(h, "::1") || strncmp(h, "127.", 4) == 0;
}

static bool is_wildcard(const char *h)
{
	return !h || !*h || streq(h, "0.0.0.0") || streq(h, "::");
}

/* The compute node's address (host_ip), or NULL.  malloc'd. */
static char *node_ip(const char *host)
{
	_cleanup_json_ json_t *row = kdb_query_row(db(), NULL,
		"SELECT host_ip FROM cmp_compute_node WHERE host = ?", "s", host);
	const char *ip = kjson_str(row, "host_ip");
	return ip && *ip ? strdup(ip) : NULL;
}

/* The address the proxy dials for a VNC server the agent of `host`
 * reported: a wildcard listen means the node's own address. */
static char *vnc_target(const char *host, const char *vnc_host)
{
	if (!is_wildcard(vnc_host))
		return strdup(vnc_host);
	char *ip = node_ip(host);
	return ip ? ip : strdup("127.0.0.1");
}

/* Ask the agent of `host` for the instance's VNC server.  0, or -1 (no
 * agent / no answer), or -2 (it answered an error). */
static int agent_vnc(const char *host, const char *instance_id, int timeout_ms,
                     char **vhost, int *vport)
{
	if (!kumo_bus || !host || !*host)
		return -1;
	char target[300];
	snprintf(target, sizeof(target), "compute.%s", host);
	_cleanup_json_ json_t *args = json_pack("{s:s}", "instance_id", instance_id);
	json_t *reply = NULL;
	int rc = kbus_call(kumo_bus, target, "get_vnc_console", args, &reply, timeout_ms);
	_cleanup_json_ _unused_ json_t *own = reply;
	if (rc != 0)
		return -1;
	const char *h = kjson_str(reply, "host");
	json_t *p = json_object_get(reply, "port");
	if (kjson_str(reply, "error") || !json_is_integer(p) || json_integer_value(p) <= 0 ||
	    json_integer_value(p) > 65535)
		return -2;
	*vhost = vnc_target(host, h);
	*vport = (int)json_integer_value(p);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* os-getVNCConsole */

static void console_bad(kreq *r, const char *fmt, const char *value)
{
	kresp_error(r, 400, fmt, value);
}

static char *default_base_url(void)
{
	char *u = NULL;
	long port = kconf_get_int(kumo_conf, "console", "port", 6080);
	if (asprintf(&u, "http://127.0.0.1:%ld/vnc_auto.html", port) < 0)
		return NULL;
	return u;
}

void cmp_console_get_vnc(kreq *r, const json_t *inst, json_t *args)
{
	/* the action's value; the whole body is tolerated too */
	json_t *inner = json_object_get(args, "os-getVNCConsole");
	if (json_is_object(inner))
		args = inner;
	if (!json_is_object(args)) {
		kresp_error(r, 400, "Invalid input for field/attribute os-getVNCConsole. "
		            "Value: %s. The value is not of type 'object'",
		            json_is_null(args) || !args ? "None" : "non-object");
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach(args, key, v) {
		if (strcmp(key, "type") != 0) {
			kresp_error(r, 400, "Invalid input for field/attribute os-getVNCConsole. "
			            "Value: {...}. Additional properties are not allowed ('%s' was "
			            "unexpected)", key);
			return;
		}
	}
	json_t *tv = json_object_get(args, "type");
	if (!tv) {
		kresp_error(r, 400, "Invalid input for field/attribute os-getVNCConsole. "
		            "Value: {}. 'type' is a required property");
		return;
	}
	const char *type = json_string_value(tv);
	if (!type || (strcmp(type, "novnc") != 0 && strcmp(type, "xvpvnc") != 0)) {
		kresp_error(r, 400, "Invalid input for field/attribute type. Value: %s. "
		            "The value is not one of ['novnc', 'xvpvnc']",
		            type ? type : "non-string");
		return;
	}

	const char *id = kjson_str(inst, "id");
	const char *project = kjson_str(inst, "project_id");
	_cleanup_json_ json_t *target = json_pack("{s:s}", "project_id", project ? project : "");
	if (!cmp_enforce(r, "os_compute_api:os-remote-consoles", target))
		return;
	if (strcmp(type, "novnc") != 0) {
		console_bad(r, "Invalid console type %s", type);
		return;
	}
	const char *host = kjson_str(inst, "host");
	const char *task = kjson_str(inst, "task_state");
	if (!host || !*host || !streq(kjson_str(inst, "vm_state"), CMP_VM_ACTIVE) ||
	    streq(task, "deleting")) {
		kresp_error(r, 409, "Instance %s is not ready", id);
		return;
	}

	_cleanup_free_ char *vhost = NULL;
	int vport = 0;
	int rc = agent_vnc(host, id, AGENT_TIMEOUT_MS, &vhost, &vport);
	if (rc == -1) {
		klog_warn("compute", "get_vnc_console of %s: the agent of %s did not answer", id,
		          host);
		kresp_error(r, 409, "Instance %s is not ready", id);
		return;
	}
	if (rc == -2) {
		kresp_error(r, 400, "Unavailable console type vnc.");
		return;
	}

	unsigned char raw[TOKEN_BYTES];
	kutil_random(raw, sizeof(raw));
	_cleanup_free_ char *token = kutil_hex(raw, sizeof(raw));
	_cleanup_free_ char *defurl = default_base_url();
	const char *base = cmp_conf_str("novncproxy_base_url", defurl);
	if (!token || !base) {
		kresp_error(r, 500, "Out of memory.");
		return;
	}
	char hash[65];
	sha256_hex(token, hash);
	int64_t now = kutil_now_us();
	int64_t ttl = cmp_conf_int("console_token_ttl", 600);
	if (ttl <= 0)
		ttl = 600;
	kdb_run(cmp_db, NULL, "DELETE FROM cmp_console_token WHERE expires_at < ?", "i", now);
	if (kdb_run(cmp_db, NULL,
	            "INSERT INTO cmp_console_token (token_hash, instance_id, console_type, host, "
	            "port, access_url, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	            "ssssisii", hash, id, "novnc", vhost, (int64_t)vport, base,
	            now + ttl * 1000000, now) != KDB_DONE) {
		kresp_error(r, 500, "The console token could not be stored.");
		return;
	}
	const char *url = kpool_printf(r->pool, "%s%stoken=%s", base,
	                               strchr(base, '?') ? "&" : "?", token);
	kresp_json(r, 200, json_pack("{s:{s:s,s:s}}", "console", "type", "novnc", "url", url));
}

/* ------------------------------------------------------------------------ */
/* WebSocket frames (RFC 6455 section 5) */

long cmp_ws_parse(const unsigned char *buf, size_t n, size_t max_payload, cmp_ws_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (n < 2)
		return 0;
	f->fin = buf[0] & 0x80;
	f->opcode = buf[0] & 0x0f;
	f->masked = buf[1] & 0x80;
	if (buf[0] & 0x70)
		return -1002;                       /* RSV bits: no extension agreed */
	bool control = f->opcode & 0x08;
	if (f->opcode > 10 || (f->opcode > 2 && f->opcode < 8))
		return -1002;
	if (!f->masked)
		return -1002;                       /* a client must mask */
	uint64_t len = buf[1] & 0x7f;
	size_t h = 2;
	if (len == 126) {
		if (n < 4)
			return 0;
		len = ((uint64_t)buf[2] << 8) | buf[3];
		h = 4;
	} else if (len == 127) {
		if (n < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = (len << 8) | buf[2 + i];
		if (len >> 63)
			return -1002;
		h = 10;
	}
	if (control && (!f->fin || len > 125))
		return -1002;
	if (len > max_payload)
		return -1009;
	if (n < h + 4)
		return 0;
	memcpy(f->mask, buf + h, 4);
	h += 4;
	if (n - h < len)
		return 0;
	f->header_len = h;
	f->payload_len = (size_t)len;
	return (long)(h + len);
}

/* A growable byte queue: data at p[off .. off+len). */
typedef struct wsbuf {
	unsigned char *p;
	size_t off, len, cap;
} wsbuf;

static bool buf_reserve(wsbuf *b, size_t more)
{
	if (b->off + b->len + more <= b->cap)
		return true;
	if (b->off > 0) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
		if (b->len + more <= b->cap)
			return true;
	}
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more)
		cap *= 2;
	unsigned char *np = realloc(b->p, cap);
	if (!np)
		return false;
	b->p = np;
	b->cap = cap;
	return true;
}

static bool buf_add(wsbuf *b, const void *data, size_t n)
{
	if (!buf_reserve(b, n))
		return false;
	memcpy(b->p + b->off + b->len, data, n);
	b->len += n;
	return true;
}

static void buf_drop(wsbuf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

/* Append a server frame (never masked). */
static bool frame_add(wsbuf *b, int opcode, const void *payload, size_t n)
{
	unsigned char h[10];
	size_t hl = 2;
	h[0] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		h[1] = (unsigned char)n;
	} else if (n <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(n >> 8);
		h[3] = (unsigned char)n;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
		hl = 10;
	}
	return buf_add(b, h, hl) && (n == 0 || buf_add(b, payload, n));
}

static bool close_add(wsbuf *b, int code)
{
	unsigned char p[2] = { (unsigned char)(code >> 8), (unsigned char)code };
	return frame_add(b, 8, p, 2);
}

static void unmask(unsigned char *p, size_t n, const unsigned char mask[4])
{
	size_t i = 0;
	uint32_t m32;
	memcpy(&m32, mask, 4);
	uint64_t m64 = ((uint64_t)m32 << 32) | m32;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		w ^= m64;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] ^= mask[i & 3];
}

static bool close_code_ok(int c)
{
	return (c >= 1000 && c <= 1014 && c != 1004 && c != 1005 && c != 1006) ||
	       (c >= 3000 && c <= 4999);
}

/* ------------------------------------------------------------------------ */
/* The bridge */

typedef struct bridge {
	int vfd;                    /* the VNC server; -1 once the thread owns it */
	int cfd;
	kupgrade *up;
	wsbuf cin, vout, cout;      /* client bytes in; to VNC; to the client */
	bool in_message;            /* a fragmented data message is open */
	bool closing;               /* a close frame is queued: flush, then end */
	char instance[40];
} bridge;

static void bridge_vfd_close(void *arg)
{
	bridge *b = arg;
	if (b->vfd >= 0)
		close(b->vfd);
	b->vfd = -1;
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void fail(bridge *b, int code)
{
	if (!b->closing)
		close_add(&b->cout, code);
	b->closing = true;
}

/* Handle every complete frame in cin. */
static void client_frames(bridge *b)
{
	while (!b->closing && b->cin.len > 0) {
		cmp_ws_frame f;
		unsigned char *p = b->cin.p + b->cin.off;
		long n = cmp_ws_parse(p, b->cin.len, WS_MAX_PAYLOAD, &f);
		if (n == 0)
			return;
		if (n < 0) {
			fail(b, (int)-n);
			return;
		}
		unsigned char *pl = p + f.header_len;
		unmask(pl, f.payload_len, f.mask);
		switch (f.opcode) {
		case 0:
		case 2:
			if ((f.opcode == 0) != b->in_message) {
				fail(b, 1002);   /* continuation of nothing / message inside one */
				return;
			}
			b->in_message = !f.fin;
			if (!buf_add(&b->vout, pl, f.payload_len)) {
				fail(b, 1011);
				return;
			}
			break;
		case 1:
			fail(b, 1003);           /* text: the base64 protocol is not offered */
			return;
		case 8: {
			int code = f.payload_len >= 2 ? (pl[0] << 8) | pl[1] : 1000;
			if (f.payload_len == 1 || !close_code_ok(code))
				code = 1002;
			fail(b, code);
			break;
		}
		case 9:
			if (!frame_add(&b->cout, 10, pl, f.payload_len))
				fail(b, 1011);
			break;
		default:                     /* 10: pong */
			break;
		}
		buf_drop(&b->cin, (size_t)n);
	}
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* Send what can go now; false when the peer is gone. */
static bool flush(int fd, wsbuf *q)
{
	while (q->len > 0) {
		ssize_t n = send(fd, q->p + q->off, q->len, MSG_NOSIGNAL);
		if (n < 0)
			return would_block();
		buf_drop(q, (size_t)n);
	}
	return true;
}

static void bridge_loop(bridge *b)
{
	int64_t close_deadline = 0;
	client_frames(b);            /* what came with the handshake */
	for (;;) {
		bool read_client = !b->closing && b->vout.len < WS_HIGH_WATER;
		bool read_vnc = !b->closing && b->cout.len < WS_HIGH_WATER;
		struct pollfd pf[2] = {
			{ b->cfd, (short)((read_client ? POLLIN : 0) | (b->cout.len ? POLLOUT : 0)), 0 },
			{ b->vfd, (short)((read_vnc ? POLLIN : 0) | (b->vout.len ? POLLOUT : 0)), 0 },
		};
		if (b->closing) {
			if (b->cout.len == 0)
				break;
			if (!close_deadline)
				close_deadline = kutil_now_us() + WS_CLOSE_WAIT_MS * 1000LL;
			if (kutil_now_us() > close_deadline)
				break;
		}
		int rc = poll(pf, 2, b->closing ? 200 : -1);
		if (rc < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!read_client && !(pf[0].revents & POLLIN))
				break;               /* hung up while we were not reading */
			if (read_client) {
				if (!buf_reserve(&b->cin, 65536))
					break;
				ssize_t n = recv(b->cfd, b->cin.p + b->cin.off + b->cin.len,
				                 b->cin.cap - b->cin.off - b->cin.len, 0);
				if (n == 0 || (n < 0 && !would_block()))
					break;       /* the browser went away */
				if (n > 0) {
					b->cin.len += (size_t)n;
					client_frames(b);
					if (b->cin.len > WS_MAX_PAYLOAD + 14)
						fail(b, 1009);
				}
			}
		}
		if (read_vnc && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (!buf_reserve(&b->cout, WS_CHUNK + 4)) {
				fail(b, 1011);
				continue;
			}
			unsigned char *dst = b->cout.p + b->cout.off + b->cout.len;
			ssize_t n = recv(b->vfd, dst + 4, WS_CHUNK, 0);
			if (n == 0 || (n < 0 && !would_block())) {
				fail(b, 1000);       /* the VNC server closed */
			} else if (n > 0) {
				size_t hl = n < 126 ? 2 : 4;
				dst[0] = 0x82;
				if (hl == 2) {
					dst[1] = (unsigned char)n;
					memmove(dst + 2, dst + 4, (size_t)n);
				} else {
					dst[1] = 126;
					dst[2] = (unsigned char)(n >> 8);
					dst[3] = (unsigned char)n;
				}
				b->cout.len += hl + (size_t)n;
			}
		}
		if (b->cout.len && !flush(b->cfd, &b->cout))
			break;
		if (b->vout.len && !flush(b->vfd, &b->vout))
			fail(b, 1011);
	}
}

static void *bridge_main(void *arg)
{
	bridge *b = arg;
	bridge_loop(b);
	klog_info("console", "console of instance %s closed", b->instance);
	free(b->cin.p);
	free(b->vout.p);
	free(b->cout.p);
	close(b->vfd);
	b->vfd = -1;
	khttp_upgrade_close(b->up);   /* last: the request's pool goes with it */
	atomic_fetch_sub(&nbridges, 1);
	return NULL;
}

static void on_upgraded(kupgrade *up, int fd, const char *extra, size_t extra_len, void *arg)
{
	bridge *b = arg;
	b->up = up;
	b->cfd = fd;
	set_nonblock(fd);
	set_nonblock(b->vfd);
	if (extra_len && !buf_add(&b->cin, extra, extra_len)) {
		khttp_upgrade_close(up);
		return;
	}
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	atomic_fetch_add(&nbridges, 1);
	int vfd = b->vfd;
	if (pthread_create(&t, &at, bridge_main, b) != 0) {
		atomic_fetch_sub(&nbridges, 1);
		klog_error("console", "cannot start a console thread");
		free(b->cin.p);
		close(vfd);
		b->vfd = -1;
		khttp_upgrade_close(up);
	}
	pthread_attr_destroy(&at);
}

/* ------------------------------------------------------------------------ */
/* The handshake */

/* Does the comma-separated header value contain the token (any case)? */
static bool header_has(const char *v, const char *token)
{
	size_t tl = strlen(token);
	while (v && *v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		size_t n = strcspn(v, ",");
		size_t m = n;
		while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
			m--;
		if (m == tl && strncasecmp(v, token, tl) == 0)
			return true;
		v += n;
	}
	return false;
}

static bool ws_key_ok(const char *k)
{
	if (!k || strlen(k) != 24 || strcmp(k + 22, "==") != 0)
		return false;
	for (int i = 0; i < 22; i++) {
		char c = k[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return true;
}

/* The token=... value of a Cookie header (pool copy) or NULL. */
static const char *cookie_token(kreq *r)
{
	const char *c = kreq_header(r, "Cookie");
	while (c && *c) {
		while (*c == ' ' || *c == ';')
			c++;
		size_t n = strcspn(c, ";");
		if (n > 6 && strncmp(c, "token=", 6) == 0)
			return kpool_strndup(r->pool, c + 6, n - 6);
		c += n;
	}
	return NULL;
}

/* Origin "scheme://host[:port]" must name the Host header's host[:port]. */
static bool origin_ok(kreq *r)
{
	const char *o = kreq_header(r, "Origin");
	if (!o)
		return true;             /* not a browser */
	const char *host = kreq_header(r, "Host");
	const char *p = strstr(o, "://");
	if (!host || !p)
		return false;
	p += 3;
	size_t n = strcspn(p, "/");
	return strlen(host) == n && strncasecmp(p, host, n) == 0;
}

static int dial(const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai)
		return -1;
	int fd = -1;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
			close(fd);
			fd = -1;
			continue;
		}
		struct pollfd pf = { fd, POLLOUT, 0 };
		int err = 0;
		socklen_t el = sizeof(err);
		if (poll(&pf, 1, CONNECT_TIMEOUT_MS) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(ai);
	return fd;
}

static void ws_open(kreq *r)
{
	const char *upg = kreq_header(r, "Upgrade");
	const char *conn = kreq_header(r, "Connection");
	const char *ver = kreq_header(r, "Sec-WebSocket-Version");
	const char *key = kreq_header(r, "Sec-WebSocket-Key");
	if (!header_has(upg, "websocket") || !header_has(conn, "upgrade") || !ws_key_ok(key)) {
		kresp_error(r, 400, "This is a WebSocket endpoint: a valid RFC 6455 handshake "
		            "is expected.");
		return;
	}
	if (!streq(ver, "13")) {
		kresp_header(r, "Sec-WebSocket-Version", "13");
		kresp_error(r, 400, "Unsupported WebSocket version.");
		return;
	}
	if (!origin_ok(r)) {
		kresp_error(r, 403, "The Origin of the request does not match its Host.");
		return;
	}
	const char *token = kreq_query(r, "token");
	if (!token || !*token)
		token = cookie_token(r);
	if (!token || !*token) {
		kresp_error(r, 401, "A console token is required.");
		return;
	}
	if (!is_hex_token(token)) {
		kresp_error(r, 401, "The token is invalid or has expired.");
		return;
	}
	char hash[65];
	sha256_hex(token, hash);
	bool found = false;
	_cleanup_json_ json_t *row = kdb_query_row(db(), &found,
		"SELECT instance_id, host, port, expires_at FROM cmp_console_token "
		"WHERE token_hash = ?", "s", hash);
	json_t *exp = json_object_get(row, "expires_at");
	int64_t now = kutil_now_us();
	if (!row || !json_is_integer(exp) || json_integer_value(exp) <= now) {
		if (row)
			kdb_run(db(), NULL, "DELETE FROM cmp_console_token WHERE token_hash = ?", "s",
			        hash);
		klog_info("console", "%s: refused an unknown or expired console token",
		          r->request_id);
		kresp_error(r, 401, "The token is invalid or has expired.");
		return;
	}
	const char *iid = kjson_str(row, "instance_id");
	const char *thost = kjson_str(row, "host");
	json_int_t tport = json_integer_value(json_object_get(row, "port"));

	_cleanup_json_ json_t *inst = kdb_query_row(db(), NULL,
		"SELECT vm_state, task_state, host, deleted FROM cmp_instance WHERE id = ?", "s",
		iid);
	const char *ihost = kjson_str(inst, "host");
	if (!inst || json_integer_value(json_object_get(inst, "deleted")) != 0 ||
	    !streq(kjson_str(inst, "vm_state"), CMP_VM_ACTIVE) || !ihost || !*ihost ||
	    streq(kjson_str(inst, "task_state"), "deleting")) {
		kresp_error(r, 403, "The console's instance is not running.");
		return;
	}
	_cleanup_free_ char *nip = node_ip(ihost);
	if (!thost || !(is_loopback(thost) || streq(thost, nip)) || tport <= 0 ||
	    tport > 65535) {
		klog_warn("console", "%s: token of %s names %s:%lld, not this instance's host",
		          r->request_id, iid, thost ? thost : "-", (long long)tport);
		kresp_error(r, 403, "The console's address is not the instance's.");
		return;
	}
	if (kconf_get_bool(kumo_conf, "compute", "console_verify_port", true)) {
		_cleanup_free_ char *vh = NULL;
		int vp = 0;
		if (agent_vnc(ihost, iid, VERIFY_TIMEOUT_MS, &vh, &vp) != 0 || !streq(vh, thost) ||
		    vp != tport) {
			kresp_error(r, 403, "The console's address is no longer the instance's.");
			return;
		}
	}

	bridge *b = kpool_alloc(r->pool, sizeof(*b));
	memset(b, 0, sizeof(*b));
	b->cfd = -1;
	snprintf(b->instance, sizeof(b->instance), "%s", iid);
	b->vfd = dial(thost, (int)tport);
	if (b->vfd < 0) {
		klog_warn("console", "%s: cannot connect to %s:%lld for %s", r->request_id, thost,
		          (long long)tport, iid);
		kresp_error(r, 502, "Cannot connect to the instance's console.");
		return;
	}
	kpool_defer(r->pool, bridge_vfd_close, b);

	/* Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) */
	char *ka = kpool_printf(r->pool, "%s%s", key, WS_GUID);
	unsigned char md[20];
	unsigned int mdn = 0;
	EVP_Digest(ka, strlen(ka), md, &mdn, EVP_sha1(), NULL);
	unsigned char acc[32];
	EVP_EncodeBlock(acc, md, 20);
	kresp_header(r, "Upgrade", "websocket");
	kresp_header(r, "Sec-WebSocket-Accept", (const char *)acc);
	if (header_has(kreq_header(r, "Sec-WebSocket-Protocol"), "binary"))
		kresp_header(r, "Sec-WebSocket-Protocol", "binary");
	klog_info("console", "%s: console of instance %s opened", r->request_id, iid);
	kresp_upgrade(r, on_upgraded, b);
}

/* ------------------------------------------------------------------------ */
/* noVNC's files */

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
		{ ".mp3", "audio/mpeg" },
		{ ".oga", "audio/ogg" },
		{ ".md", "text/plain; charset=utf-8" },
	};
	size_t n = strlen(path);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && strcasecmp(path + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* Plain segments of [A-Za-z0-9._-], none empty or starting with '.'. */
static bool safe_path(const char *p)
{
	if (!*p || strlen(p) > 512)
		return false;
	bool seg_start = true;
	for (; *p; p++) {
		char c = *p;
		if (c == '/') {
			if (seg_start)
				return false;
			seg_start = true;
			continue;
		}
		if (seg_start && c == '.')
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
		seg_start = false;
	}
	return !seg_start;
}

static void static_file(kreq *r)
{
	const char *path = r->path;
	while (*path == '/')
		path++;
	if (!*path) {
		kresp_header(r, "Location", "/vnc.html");
		kresp_raw(r, 302, "text/plain", "", 0);
		return;
	}
	if (!safe_path(path)) {
		kresp_error(r, 404, "The resource could not be found.");
		return;
	}
	const char *root = cmp_conf_str("novnc_path", "/usr/share/novnc");
	const char *file = path;
	if (strcmp(path, "vnc_auto.html") == 0) {
		/* noVNC 1.x: the auto-connecting page is vnc_lite.html */
		char *lite = kpool_printf(r->pool, "%s/vnc_lite.html", root);
		if (access(lite, R_OK) == 0)
			file = "vnc_lite.html";
	}
	char *full = kpool_printf(r->pool, "%s/%s", root, file);
	int fd = open(full, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		kresp_error(r, 404, "The resource could not be found.");
		return;
	}
	const char *ct = content_type(file);
	kresp_header(r, "X-Content-Type-Options", "nosniff");
	if (strncmp(ct, "text/html", 9) == 0) {
		kresp_header(r, "Cache-Control", "no-store");
		kresp_header(r, "Referrer-Policy", "no-referrer");
		const char *token = kreq_query(r, "token");
		if (is_hex_token(token)) {
			long ttl = cmp_conf_int("console_token_ttl", 600);
			kresp_header(r, "Set-Cookie", kpool_printf(r->pool,
				"token=%s; Path=/websockify; Max-Age=%ld; HttpOnly; SameSite=Strict",
				token, ttl > 0 ? ttl : 600));
		}
	} else {
		kresp_header(r, "Cache-Control", "max-age=3600");
	}
	kresp_file(r, 200, fd, 0, (uint64_t)st.st_size, ct);
}

static const kroute console_routes[] = {
	{ "GET", "/websockify", ws_open, KROUTE_PUBLIC | KROUTE_UPGRADE },
	{ "GET", "/", static_file, KROUTE_PUBLIC },
	{ "GET", "/{a}", static_file, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}", static_file, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}/{c}", static_file, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}/{c}/{d}", static_file, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}/{c}/{d}/{e}", static_file, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}/{c}/{d}/{e}/{f}", static_file, KROUTE_PUBLIC },
};

/* ------------------------------------------------------------------------ */
/* Lifecycle */

static int console_init(void)
{
	if (!cmp_db) {
		own_db = kservice_db_open("compute");
		if (!own_db)
			return -1;
	}
	if (kdb_schema_version(db(), "compute") < 3) {
		klog_error("console", "the compute database has no console tokens: "
		           "run `kumo manage db-sync` first");
		return -1;
	}
	const char *root = cmp_conf_str("novnc_path", "/usr/share/novnc");
	if (access(root, R_OK | X_OK) != 0)
		klog_warn("console", "[compute] novnc_path %s is not readable (apt install novnc)",
		          root);
	return 0;
}

static void console_stop(void)
{
	/* the listener is stopped already, which shut every console down */
	for (int i = 0; i < 200 && atomic_load(&nbridges) > 0; i++)
		usleep(10000);
}

static void console_fini(void)
{
	kdb_close(own_db);
	own_db = NULL;
}

kservice cmp_console_service = {
	.name = "console",
	.routes = console_routes,
	.nroutes = ARRAY_SIZE(console_routes),
	.max_body = 4096,
	.default_port = 6080,
	.init = console_init,
	.stop = console_stop,
	.fini = console_fini,
};
