/*
 * metadata.c - the metadata agent: an HTTP proxy on 169.254.169.254:80 in
 * every qdhcp namespace (Neutron's isolated metadata), forwarding a guest's
 * requests to the compute metadata API ([network] nova_metadata_url, or
 * Neutron's nova_metadata_host/_port/_protocol: http://127.0.0.1:8775 by
 * default) with the headers Nova trusts:
 *     X-Forwarded-For          the guest's address
 *     X-Instance-ID            the device_id of the port owning that address
 *     X-Tenant-ID              the port's project
 *     X-Instance-ID-Signature  hex HMAC-SHA256(metadata_proxy_shared_secret,
 *                              instance id)
 * A source address that is no port's fixed IP on that network (or a port
 * without a device) gets 404, as Neutron answers.
 *
 * No process per namespace: the listening socket is created on a
 * short-lived thread that entered the namespace (nag_in_netns), so it lives
 * there, and is handed to a libmicrohttpd daemon whose threads stay in the
 * host namespace, where the upstream connections (libcurl) are made.  The
 * DHCP agent adds 169.254.169.254/16 to the namespace's interface; this
 * agent follows the namespaces: a proxy per qdhcp namespace whose network
 * exists, restarted if the namespace was re-created (its inode changed),
 * stopped when it is gone.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "network/agent/agent.h"
#include "network/network.h"

#define MD_ADDR "169.254.169.254"
#define MAX_BODY (64 * 1024)
#define MAX_PROXIES 4096

typedef struct proxy {
	char network_id[64];
	ino_t ns_ino;
	struct MHD_Daemon *d;
} proxy;

static pthread_mutex_t md_mu = PTHREAD_MUTEX_INITIALIZER;
static proxy *proxies[MAX_PROXIES];
static size_t nproxies;

/* ---- forwarding ---- */

typedef struct req {
	char *body;
	size_t len;
	bool too_big;
} req;

typedef struct resp {
	char *data;
	size_t len;
	char ctype[128];
} resp;

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	resp *r = ud;
	size_t add = sz * n;
	if (r->len + add > 16 * 1024 * 1024)
		return 0;
	char *nd = realloc(r->data, r->len + add + 1);
	if (!nd)
		return 0;
	memcpy(nd + r->len, p, add);
	r->data = nd;
	r->len += add;
	r->data[r->len] = '\0';
	return add;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
	resp *r = ud;
	size_t len = sz * n;
	if (len > 13 && !strncasecmp(p, "Content-Type:", 13)) {
		const char *v = p + 13;
		while (*v == ' ')
			v++;
		size_t vl = len - (size_t)(v - p);
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
			vl--;
		snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)vl, v);
	}
	return len;
}

/* [network] nova_metadata_url, else Neutron's nova_metadata_protocol/host/port
 * (http, 127.0.0.1, 8775); into buf without a trailing slash. */
static const char *upstream_url(char *buf, size_t n)
{
	const char *url = nag_conf("nova_metadata_url", "");
	if (*url)
		snprintf(buf, n, "%s", url);
	else
		snprintf(buf, n, "%s://%s:%ld", nag_conf("nova_metadata_protocol", "http"),
		         nag_conf("nova_metadata_host", "127.0.0.1"),
		         nag_conf_int("nova_metadata_port", 8775));
	size_t l = strlen(buf);
	while (l > 0 && buf[l - 1] == '/')
		buf[--l] = '\0';
	return buf;
}

static char *sign(const char *instance_id)
{
	const char *secret = nag_conf("metadata_proxy_shared_secret", "");
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)instance_id,
	     strlen(instance_id), md, &mdlen);
	return kutil_hex(md, mdlen);
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *ctype,
                              const char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
	                                                         MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", ctype);
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result plain(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return answer(c, status, "text/plain; charset=UTF-8", msg, strlen(msg));
}

static enum MHD_Result forward(proxy *p, struct MHD_Connection *c, const char *url,
                               const char *method, req *rq)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char ip[INET6_ADDRSTRLEN] = "";
	if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, ip,
		          sizeof(ip));
	else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, ip,
		          sizeof(ip));
	_cleanup_json_ json_t *port = ip[0] ? kdb_query_row(net_db, NULL,
	        "SELECT p.id, p.device_id, p.project_id FROM net_ip_allocation a "
	        "JOIN net_port p ON p.id = a.port_id WHERE a.network_id = ? AND a.ip_address = ?",
	        "ss", p->network_id, ip) : NULL;
	const char *instance = port ? kjson_str(port, "device_id") : NULL;
	if (!instance || !*instance) {
		klog_info("metadata-agent", "%s %s from %s on network %s: no instance, 404", method,
		          url, ip, p->network_id);
		return plain(c, 404, "404 Not Found\n\nThe resource could not be found.\n");
	}
	if (rq->too_big)
		return plain(c, 413, "Request Entity Too Large\n");
	char upstream[512];
	upstream_url(upstream, sizeof(upstream));
	char *full = NULL;
	if (asprintf(&full, "%s%s", upstream, url[0] == '/' ? url : "/") < 0)
		return MHD_NO;
	_cleanup_free_ _unused_ char *fullp = full;
	_cleanup_free_ char *sig = sign(instance);
	CURL *h = curl_easy_init();
	if (!h)
		return plain(c, 500, "An unknown error has occurred.\n");
	struct curl_slist *hdrs = NULL;
	char line[512];
	snprintf(line, sizeof(line), "X-Forwarded-For: %s", ip);
	hdrs = curl_slist_append(hdrs, line);
	snprintf(line, sizeof(line), "X-Instance-ID: %s", instance);
	hdrs = curl_slist_append(hdrs, line);
	snprintf(line, sizeof(line), "X-Tenant-ID: %s", kjson_str(port, "project_id"));
	hdrs = curl_slist_append(hdrs, line);
	snprintf(line, sizeof(line), "X-Instance-ID-Signature: %s", sig);
	hdrs = curl_slist_append(hdrs, line);
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	if (ct && strlen(ct) < 200) {
		snprintf(line, sizeof(line), "Content-Type: %s", ct);
		hdrs = curl_slist_append(hdrs, line);
	}
	hdrs = curl_slist_append(hdrs, "Expect:");
	resp out = { 0 };
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &out);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)rq->len);
	} else if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	enum MHD_Result rc;
	if (cc != CURLE_OK || status < 100) {
		klog_warn("metadata-agent", "upstream %s: %s", upstream, curl_easy_strerror(cc));
		rc = plain(c, 500, "An unknown error has occurred. "
		           "Please try your request again.\n");
	} else {
		if (status == 403)
			klog_warn("metadata-agent", "the metadata API refused the signature of "
			          "instance %s: is metadata_proxy_shared_secret the same on both "
			          "sides?", instance);
		rc = answer(c, (unsigned)status, out.ctype[0] ? out.ctype : "text/plain",
		            out.data ? out.data : "", out.len);
	}
	free(out.data);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	req *rq = *con_cls;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (rq->len + *upload_data_size > MAX_BODY) {
			rq->too_big = true;
		} else {
			char *nb = realloc(rq->body, rq->len + *upload_data_size + 1);
			if (!nb)
				return MHD_NO;
			memcpy(nb + rq->len, upload_data, *upload_data_size);
			rq->body = nb;
			rq->len += *upload_data_size;
			rq->body[rq->len] = '\0';
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return forward(cls, c, url, method, rq);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
	req *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

/* ---- proxies ---- */

static int listen_here(void *ud)
{
	int *fd = ud;
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -1;
	int one = 1;
	setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(80) };
	inet_pton(AF_INET, MD_ADDR, &sa.sin_addr);
	if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(*fd, 128) != 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		return -e;
	}
	return 0;
}

static proxy *start_proxy(const char *nid, const char *ns, ino_t ino)
{
	int fd = -1;
	int rc = nag_in_netns(ns, listen_here, &fd);
	if (rc != 0 || fd < 0) {
		klog_debug("metadata-agent", "%s: cannot listen on %s:80 yet (%s)", ns, MD_ADDR,
		           rc < -1 ? strerror(-rc) : "no namespace");
		return NULL;
	}
	proxy *p = calloc(1, sizeof(*p));
	if (!p) {
		close(fd);
		return NULL;
	}
	snprintf(p->network_id, sizeof(p->network_id), "%s", nid);
	p->ns_ino = ino;
	/* one idle thread per namespace; a thread per request while it lasts (a
	 * slow upstream must not hold the other guests of the network up) */
	p->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                        MHD_USE_POLL, 0, NULL, NULL, on_request, p,
	                        MHD_OPTION_LISTEN_SOCKET, fd,
	                        MHD_OPTION_CONNECTION_TIMEOUT, 30u,
	                        MHD_OPTION_CONNECTION_LIMIT, 256u,
	                        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	if (!p->d) {
		klog_warn("metadata-agent", "%s: cannot start the metadata proxy", ns);
		close(fd);
		free(p);
		return NULL;
	}
	klog_info("metadata-agent", "metadata proxy on %s:80 in %s", MD_ADDR, ns);
	return p;
}

static void stop_proxy(proxy *p)
{
	MHD_stop_daemon(p->d);    /* closes the listening socket */
	free(p);
}

static void md_reconcile(unsigned changes)
{
	if (!net_db || !(changes & (NAG_CH_FULL | NAG_CH_NETNS | NAG_CH_NETWORK)))
		return;
	_cleanup_json_ json_t *nss = nag_ns_list("qdhcp-");
	_cleanup_json_ json_t *nets = kdb_query_json(net_db, "SELECT id FROM net_network", "");
	if (!nets)
		return;
	_cleanup_json_ json_t *exists = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(nets, i, v)
		json_object_set_new(exists, kjson_str(v, "id"), json_true());
	_cleanup_json_ json_t *want = json_object();   /* network id -> inode */
	json_array_foreach(nss, i, v) {
		const char *ns = json_string_value(v);
		ino_t ino = nag_ns_inode(ns);
		if (ino && json_object_get(exists, ns + 6))
			json_object_set_new(want, ns + 6, json_integer((json_int_t)ino));
	}
	pthread_mutex_lock(&md_mu);
	for (size_t k = 0; k < nproxies;) {
		json_t *ino = json_object_get(want, proxies[k]->network_id);
		if (ino && (ino_t)json_integer_value(ino) == proxies[k]->ns_ino) {
			json_object_del(want, proxies[k]->network_id);
			k++;
			continue;
		}
		klog_info("metadata-agent", "metadata proxy of network %s stopped",
		          proxies[k]->network_id);
		stop_proxy(proxies[k]);
		proxies[k] = proxies[--nproxies];
	}
	const char *nid;
	json_object_foreach(want, nid, v) {
		if (nproxies >= MAX_PROXIES)
			break;
		char ns[128];
		snprintf(ns, sizeof(ns), "qdhcp-%s", nid);
		proxy *p = start_proxy(nid, ns, (ino_t)json_integer_value(v));
		if (p)
			proxies[nproxies++] = p;
	}
	pthread_mutex_unlock(&md_mu);
}

static int md_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!*nag_conf("metadata_proxy_shared_secret", ""))
		klog_warn("metadata-agent", "[network] metadata_proxy_shared_secret is empty: "
		          "requests are signed with an empty key");
	return 0;
}

static void md_fini(void)
{
	pthread_mutex_lock(&md_mu);
	while (nproxies > 0)
		stop_proxy(proxies[--nproxies]);
	pthread_mutex_unlock(&md_mu);
}

static json_t *md_configurations(void)
{
	char url[512];
	upstream_url(url, sizeof(url));
	pthread_mutex_lock(&md_mu);
	int n = (int)nproxies;
	pthread_mutex_unlock(&md_mu);
	return json_pack("{s:b,s:s,s:s,s:i}", "log_agent_heartbeats", 0, "nova_metadata_url", url,
	                 "metadata_proxy_socket", "in-process", "proxies", n);
}

const nag_agent nag_metadata_agent = {
	.name = "metadata",
	.agent_type = "Metadata agent",
	.binary = "neutron-metadata-agent",
	.topic = "N/A",
	.init = md_init,
	.reconcile = md_reconcile,
	.configurations = md_configurations,
	.fini = md_fini,
};
