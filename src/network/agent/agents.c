/*
 * agents.c - the Network agents as threads of the kumo process: the seed's
 * neutron-linuxbridge-agent (l2.c + firewall.c), neutron-dhcp-agent
 * (dhcp.c), neutron-metadata-agent (metadata.c) and neutron-l3-agent (l3.c).
 *
 * Each agent is a nag_agent (agent.h) run by one worker thread that loops:
 *
 *     wait for: a kick | the resync deadline | stop
 *     on a kick, wait [network] agent_batch_ms more so a burst of changes
 *     (1000 port creates) becomes one pass
 *     reconcile(the changes gathered)       -- outside the lock
 *
 * Kicks come from three places: the bus (net_notify() fans out
 * {"type","id"} on topic "network-agent"; the handler only sets bits and
 * signals, so it never blocks a bus worker), a netlink listener that wakes
 * the L2 agent when a tap device appears or vanishes, and the agents
 * themselves (nag_kick).  A heartbeat thread keeps each agent's net_agent
 * row fresh every [network] report_interval seconds, as the agents' RPC
 * report_state does for Neutron, so `neutron agent-list` shows them alive.
 *
 * Stopping joins the threads but leaves the data plane (bridges,
 * namespaces, dnsmasq, nftables) in place: the next start adopts it, and
 * traffic keeps flowing meanwhile.
 */
#include <errno.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/conf.h"
#include "core/db.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"
#include "network/agent/agent.h"
#include "network/network.h"

/* l3.c is written separately: run it when it is part of the build. */
#if __has_include("l3.c")
#define NAG_HAVE_L3 1
#endif

#define MAX_WORKERS 4
#define LOG "network-agent"

typedef struct worker {
	const nag_agent *a;
	pthread_t th;
	pthread_cond_t cv;
	unsigned pending;
	bool running;
} worker;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv;
static worker workers[MAX_WORKERS];
static size_t nworkers;
static bool stopping = true;
static bool served;
static pthread_t hb_th, link_th;
static bool hb_started, link_started;

/* ---- configuration and names ---- */

long nag_conf_int(const char *key, long def)
{
	return kconf_get_int(kumo_conf, "network", key, def);
}

const char *nag_conf(const char *key, const char *def)
{
	const char *v = kconf_get(kumo_conf, "network", key, def);
	return v ? v : def;
}

void nag_devname(char out[16], const char *prefix, const char *id)
{
	snprintf(out, 16, "%.4s%.11s", prefix, id);
}

void nag_bridge_name(char out[16], const char *network_id)
{
	nag_devname(out, "brq", network_id);
}

static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static char host_name[256];

static void host_init(void)
{
	const char *h = kconf_get(kumo_conf, "DEFAULT", "host", NULL);
	if (h && *h)
		snprintf(host_name, sizeof(host_name), "%s", h);
	else if (gethostname(host_name, sizeof(host_name) - 1) != 0)
		snprintf(host_name, sizeof(host_name), "localhost");
}

const char *nag_host(void)
{
	pthread_once(&host_once, host_init);
	return host_name;
}

char *nag_state_path(const char *sub)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", kumo_state_dir(), sub) < 0)
		return NULL;
	kutil_mkdir_p(p, 0755);
	return p;
}

static pthread_once_t tag_once = PTHREAD_ONCE_INIT;
static char cloud_tag[9];

static void tag_init(void)
{
	uint32_t h = 2166136261u;
	for (const char *p = kumo_state_dir(); *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(cloud_tag, sizeof(cloud_tag), "%08x", h);
}

const char *nag_cloud_tag(void)
{
	pthread_once(&tag_once, tag_init);
	return cloud_tag;
}

/* ---- time ---- */

static struct timespec deadline_ms(long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static bool passed(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &ca);
	pthread_condattr_destroy(&ca);
}

/* ---- workers ---- */

void nag_kick(const char *name, unsigned changes)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nworkers; i++) {
		if (name && strcmp(name, workers[i].a->name) != 0)
			continue;
		workers[i].pending |= changes;
		pthread_cond_signal(&workers[i].cv);
	}
	pthread_mutex_unlock(&mu);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	long resync = nag_conf_int("resync_interval", 10);
	long batch = nag_conf_int("agent_batch_ms", 100);
	if (resync < 1)
		resync = 1;
	klog_info("network-agent", "%s agent started", w->a->name);
	pthread_mutex_lock(&mu);
	struct timespec next = deadline_ms(resync * 1000);
	while (!stopping) {
		if (!w->pending) {
			int rc = pthread_cond_timedwait(&w->cv, &mu, &next);
			if (rc == ETIMEDOUT || passed(&next))
				w->pending |= NAG_CH_FULL;
			continue;
		}
		if (!(w->pending & NAG_CH_FULL)) {
			/* batch: let the burst finish */
			struct timespec b = deadline_ms(batch);
			while (!stopping && !passed(&b))
				pthread_cond_timedwait(&stop_cv, &mu, &b);
			if (stopping)
				break;
		}
		unsigned changes = w->pending;
		w->pending = 0;
		pthread_mutex_unlock(&mu);
		w->a->reconcile(changes);
		pthread_mutex_lock(&mu);
		if (changes & NAG_CH_FULL)
			next = deadline_ms(resync * 1000);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* ---- the bus ---- */

static unsigned change_bits(const char *type)
{
	static const struct { const char *type; unsigned bit; } map[] = {
		{ "network", NAG_CH_NETWORK },
		{ "subnet", NAG_CH_SUBNET },
		{ "port", NAG_CH_PORT },
		{ "security_group", NAG_CH_SECGROUP },
		{ "security_group_rule", NAG_CH_SECGROUP },
		{ "router", NAG_CH_ROUTER },
		{ "floatingip", NAG_CH_FLOATINGIP },
	};
	for (size_t i = 0; type && i < ARRAY_SIZE(map); i++)
		if (!strcmp(type, map[i].type))
			return map[i].bit;
	return NAG_CH_NETWORK | NAG_CH_SUBNET | NAG_CH_PORT | NAG_CH_SECGROUP | NAG_CH_ROUTER |
	       NAG_CH_FLOATINGIP;
}

static json_t *on_notify(void *ud, const char *method, json_t *args)
{
	const char *type = json_string_value(json_object_get(args, "type"));
	pthread_mutex_lock(&mu);
	bool live = !stopping;
	pthread_mutex_unlock(&mu);
	if (live)
		nag_kick(NULL, change_bits(type));
	return NULL;
}

/* ---- tap devices coming and going (netlink) ---- */

static void *link_main(void *arg)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0) {
		klog_warn("network-agent", "netlink: %s (taps are found by the periodic resync)",
		          strerror(errno));
		return NULL;
	}
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		klog_warn("network-agent", "netlink bind: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	json_t *known = json_object();
	json_t *now = nag_link_list("tap");
	size_t i;
	json_t *v;
	json_array_foreach(now, i, v)
		json_object_set(known, json_string_value(v), json_true());
	json_decref(now);
	char buf[16384] __attribute__((aligned(4)));
	for (;;) {
		pthread_mutex_lock(&mu);
		bool stop = stopping;
		pthread_mutex_unlock(&mu);
		if (stop)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 300) <= 0)
			continue;
		ssize_t n;
		bool kick = false;
		while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
			for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
			     h = NLMSG_NEXT(h, n)) {
				if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
					continue;
				struct ifinfomsg *ifi = NLMSG_DATA(h);
				int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
				for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len);
				     a = RTA_NEXT(a, len)) {
					if (a->rta_type != IFLA_IFNAME)
						continue;
					char name[IFNAMSIZ + 1] = "";
					snprintf(name, sizeof(name), "%.*s", (int)RTA_PAYLOAD(a),
					         (const char *)RTA_DATA(a));
					if (strncmp(name, "tap", 3) != 0)
						continue;
					bool had = json_object_get(known, name) != NULL;
					if (h->nlmsg_type == RTM_NEWLINK && !had) {
						json_object_set(known, name, json_true());
						kick = true;
					} else if (h->nlmsg_type == RTM_DELLINK && had) {
						json_object_del(known, name);
						kick = true;
					}
				}
			}
		}
		if (kick)
			nag_kick("l2", NAG_CH_LINK);
	}
	json_decref(known);
	close(fd);
	return NULL;
}

/* ---- heartbeats (net_agent rows) ---- */

static void heartbeat(const nag_agent *a, bool starting)
{
	if (!a->agent_type || !net_db)
		return;
	int64_t now = kutil_now_us();
	json_t *cj = a->configurations ? a->configurations() : json_object();
	_cleanup_free_ char *conf = json_dumps(cj, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(cj);
	const char *az = strcmp(a->name, "dhcp") == 0 || strcmp(a->name, "l3") == 0
	                 ? nag_conf("availability_zone", "nova") : NULL;
	int64_t changes = 0;
	if (starting)
		kdb_run(net_db, &changes, "UPDATE net_agent SET heartbeat_at = ?, started_at = ?, "
		        "configurations = ?, binary_name = ?, topic = ?, availability_zone = ? "
		        "WHERE agent_type = ? AND host = ?", "iissssss", now, now, conf, a->binary,
		        a->topic, az, a->agent_type, nag_host());
	else
		kdb_run(net_db, &changes, "UPDATE net_agent SET heartbeat_at = ?, "
		        "configurations = ? WHERE agent_type = ? AND host = ?", "isss", now, conf,
		        a->agent_type, nag_host());
	if (changes > 0)
		return;
	char id[37];
	kutil_uuid(id);
	int rc = kdb_run(net_db, NULL, "INSERT INTO net_agent (id, agent_type, binary_name, host, "
	                 "topic, admin_state_up, heartbeat_at, started_at, created_at, "
	                 "configurations, availability_zone, description) "
	                 "VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, '')", "sssssiiiss", id,
	                 a->agent_type, a->binary, nag_host(), a->topic, now, now, now, conf, az);
	if (rc != KDB_DONE && rc != KDB_CONSTRAINT)
		klog_warn("network-agent", "cannot record the %s heartbeat", a->agent_type);
}

static void *hb_main(void *arg)
{
	long every = nag_conf_int("report_interval", 30);
	if (every < 1)
		every = 1;
	pthread_mutex_lock(&mu);
	while (!stopping) {
		struct timespec t = deadline_ms(every * 1000);
		while (!stopping && !passed(&t))
			pthread_cond_timedwait(&stop_cv, &mu, &t);
		if (stopping)
			break;
		pthread_mutex_unlock(&mu);
		for (size_t i = 0; i < nworkers; i++)
			heartbeat(workers[i].a, false);
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	return NULL;
}

/* ---- start / stop ---- */

int net_agents_start(void)
{
	/* without them the API still serves; ports just never become ACTIVE */
	if (geteuid() != 0) {
		klog_error(LOG, "the agents build bridges, namespaces and firewall rules and "
		           "need root: not started (run as root, or set [network] agents = "
		           "false to silence this)");
		return 0;
	}
	if (!nag_tool("ip") || !nag_tool("nft")) {
		klog_error(LOG, "`ip` (iproute2) and `nft` (nftables) are needed: agents not "
		           "started (tools/install-deps.sh installs them)");
		return 0;
	}
	const nag_agent *list[MAX_WORKERS];
	size_t n = 0;
	list[n++] = &nag_l2_agent;
	list[n++] = &nag_dhcp_agent;
	/* [network] enable_metadata_proxy = false: guests get no 169.254.169.254
	 * (Neutron's enable_isolated_metadata = false); they use a config drive */
	if (kconf_get_bool(kumo_conf, "network", "enable_metadata_proxy", true))
		list[n++] = &nag_metadata_agent;
#ifdef NAG_HAVE_L3
	list[n++] = &nag_l3_agent;
#endif
	pthread_mutex_lock(&mu);
	if (!stopping) {
		pthread_mutex_unlock(&mu);
		return 0;
	}
	stopping = false;
	cond_init(&stop_cv);
	nworkers = 0;
	pthread_mutex_unlock(&mu);

	for (size_t i = 0; i < n; i++) {
		if (list[i]->init && list[i]->init() != 0) {
			klog_error(LOG, "%s agent: initialisation failed", list[i]->name);
			continue;
		}
		heartbeat(list[i], true);
		worker *w = &workers[nworkers];
		*w = (worker){ .a = list[i], .pending = NAG_CH_FULL };
		cond_init(&w->cv);
		pthread_mutex_lock(&mu);
		nworkers++;
		pthread_mutex_unlock(&mu);
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			klog_error(LOG, "%s agent: cannot start its thread", list[i]->name);
			pthread_mutex_lock(&mu);
			nworkers--;
			pthread_mutex_unlock(&mu);
			pthread_cond_destroy(&w->cv);
			continue;
		}
		w->running = true;
	}
	hb_started = pthread_create(&hb_th, NULL, hb_main, NULL) == 0;
	link_started = pthread_create(&link_th, NULL, link_main, NULL) == 0;
	if (kumo_bus && !served) {
		if (kbus_serve(kumo_bus, "network-agent", NULL, on_notify, NULL) == 0 &&
		    kbus_serve(kumo_bus, "l2_agent", nag_host(), nag_l2_rpc, NULL) == 0)
			served = true;
		else
			klog_warn(LOG, "cannot listen on the bus: changes are seen at the next "
			          "resync");
	}
	return 0;
}

void net_agents_stop(void)
{
	pthread_mutex_lock(&mu);
	if (stopping) {
		pthread_mutex_unlock(&mu);
		return;
	}
	stopping = true;
	for (size_t i = 0; i < nworkers; i++)
		pthread_cond_signal(&workers[i].cv);
	pthread_cond_broadcast(&stop_cv);
	pthread_mutex_unlock(&mu);
	for (size_t i = 0; i < nworkers; i++)
		if (workers[i].running)
			pthread_join(workers[i].th, NULL);
	if (hb_started)
		pthread_join(hb_th, NULL);
	if (link_started)
		pthread_join(link_th, NULL);
	hb_started = link_started = false;
	for (size_t i = 0; i < nworkers; i++) {
		if (workers[i].a->fini)
			workers[i].a->fini();
		pthread_cond_destroy(&workers[i].cv);
		workers[i].running = false;
	}
	pthread_mutex_lock(&mu);
	nworkers = 0;
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&stop_cv);
	klog_info("network-agent", "agents stopped (the data plane stays up)");
}
