/*
 * l3.c - the L3 agent: every router becomes a network namespace that
 * forwards between its subnets and the external network (the seed's
 * neutron-l3-agent, legacy mode, with the linuxbridge interface driver).
 *
 * What a router looks like on the host (names as Neutron's):
 *
 *   namespace qrouter-<router id>, ip_forward on
 *     qr-<11 of port id>  one per router interface port: the port's MAC and
 *                         fixed IPs (the subnet's gateway address); a veth
 *                         whose host end tap<11 of port id> is enslaved to
 *                         the network's bridge brq<11 of network id>
 *     qg-<11 of gw port>  the gateway port on the external network, same
 *                         plumbing; holds the gateway IP and, as /32s, the
 *                         floating IPs (so the namespace answers ARP for them
 *                         on the external side)
 *     a default route via the external subnet's gateway; the router's extra
 *     routes, marked "proto static" (so they are told from the kernel's)
 *     nftables table "ip kumo_l3", Neutron's iptables NAT rules translated:
 *       prerouting, output  ip daddr <fip> dnat to <fixed>
 *       postrouting         traffic between internal interfaces that was not
 *                           DNATed is left alone;
 *                           ip saddr <fixed> snat to <fip>;
 *                           oifname qg-... snat to <gateway ip> (enable_snat);
 *                           DNATed traffic not coming from qg- snat to the
 *                           gateway ip (hairpin: a guest reaching another's
 *                           floating IP gets its replies through the router)
 *
 * The agent is a nag_agent (agent.h): agents.c calls l3_reconcile() on a
 * thread of its own at start, every resync_interval and after change
 * notifications.  Its memory is only a cache; the database (net_db, read
 * directly) is the truth.  A pass computes every router's desired state as a
 * JSON object.  A router whose desired state differs from the one last
 * applied, or every router on a full pass, is compared with what the kernel
 * has and only the differences are applied: devices, addresses, routes, and
 * the NAT table (replaced in one nft transaction: conntrack keeps existing
 * flows).  Nothing is torn down first, so traffic keeps flowing across
 * agent restarts.
 *
 * Namespaces of routers that are gone or admin-down are removed, but only
 * those this cloud made: a marker file per namespace in <state_dir>/l3-agent/
 * (written before the namespace is created) or the router's row says so, as
 * several clouds (tests) may share one machine.  Floating IP status follows
 * the data plane: ACTIVE once its NAT and address are in place, ERROR when
 * applying failed, DOWN otherwise (unassociated, router without gateway).
 *
 * Safety: devices are created, addressed and routed only inside qrouter
 * namespaces; on the host the agent only creates tap ends and hands them to
 * the L2 agent's nag_l2_plug(); no other host interface or route is touched.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "network/agent/agent.h"
#include "network/network.h"

#define L3_LOG "l3-agent"
#define L3_TABLE "kumo_l3"
#define L3_NS_PREFIX "qrouter-"

static json_t *applied;        /* router id -> state last applied (agent thread only) */
static char *marker_dir;       /* <state_dir>/l3-agent */

/* Counts for net_agent.configurations (read by the heartbeat thread). */
static pthread_mutex_t counts_mu = PTHREAD_MUTEX_INITIALIZER;
static struct { json_int_t routers, interfaces, floating_ips, ex_gw_ports; } counts;

/* ------------------------------------------------------------------------ */
/* Names and small helpers. */

/* An id as it may appear in a namespace or device name. */
static bool safe_id(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F') || *s == '-'))
			return false;
	return true;
}

static char *ns_name(const char *router_id)
{
	char *s = NULL;
	if (asprintf(&s, L3_NS_PREFIX "%s", router_id) < 0)
		abort();
	return s;
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Values from the database go into `ip` command lines and nft scripts: the
 * API validated them, and they are checked again here, so that no value can
 * ever carry a second word. */
static bool is_ip(const char *s)
{
	unsigned char buf[16];
	return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

static bool is_ipv4(const char *s)
{
	unsigned char buf[4];
	return s && inet_pton(AF_INET, s, buf) == 1;
}

/* "a.b.c.d/n" or "x::y/n" */
static bool is_cidr(const char *s)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || slash == s || strlen(slash + 1) == 0 || strlen(slash + 1) > 3 ||
	    strspn(slash + 1, "0123456789") != strlen(slash + 1))
		return false;
	char ip[64];
	snprintf(ip, sizeof(ip), "%.*s", (int)(slash - s), s);
	return is_ip(ip);
}

static bool is_mac(const char *s)
{
	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

/* `ip -j [-n ns] args...` parsed (argv NULL-terminated); NULL on failure. */
static json_t *ip_json(const char *ns, const char *const *args)
{
	const char *argv[32];
	size_t n = 0;
	argv[n++] = "ip";
	argv[n++] = "-j";
	if (ns) {
		argv[n++] = "-n";
		argv[n++] = ns;
	}
	for (size_t i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	_cleanup_free_ char *out = NULL;
	if (nag_runv(0, NULL, &out, argv) != 0)
		return NULL;
	if (!out || !*out || strspn(out, " \n") == strlen(out))
		return json_array();
	json_t *j = json_loads(out, 0, NULL);
	if (j && !json_is_array(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ------------------------------------------------------------------------ */
/* Namespace markers: <state_dir>/l3-agent/<namespace>. */

static char *marker_path(const char *ns)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", marker_dir, ns) < 0)
		abort();
	return p;
}

static void marker_set(const char *ns)
{
	_cleanup_free_ char *p = marker_path(ns);
	if (access(p, F_OK) != 0 && kutil_write_file(p, "", 0, 0600) != 0)
		klog_warn(L3_LOG, "cannot write %s: %s", p, strerror(errno));
}

static bool marker_has(const char *ns)
{
	_cleanup_free_ char *p = marker_path(ns);
	return access(p, F_OK) == 0;
}

static void marker_clear(const char *ns)
{
	_cleanup_free_ char *p = marker_path(ns);
	unlink(p);
}

/* ------------------------------------------------------------------------ */
/* Desired state, from the database. */

/*
 * One interface: {"port", "network", "mac", "mtu", "dev", "tap", "bridge",
 * "addrs": ["ip/len", ...], "v4": its first IPv4, "gateway": the gateway_ip of
 * that IPv4's subnet}; "v4"/"gateway" absent when none.  NULL when the port
 * or its network is gone.
 */
static json_t *iface_state(const char *port_id, const char *prefix)
{
	if (!safe_id(port_id))
		return NULL;
	_cleanup_json_ json_t *p = kdb_query_row(net_db, NULL,
		"SELECT p.network_id, p.mac_address, n.mtu FROM net_port p"
		" JOIN net_network n ON n.id = p.network_id WHERE p.id = ?", "s", port_id);
	const char *net = p ? kjson_str(p, "network_id") : NULL;
	if (!safe_id(net))
		return NULL;
	_cleanup_json_ json_t *ips = kdb_query_json(net_db,
		"SELECT a.ip_address, s.cidr, s.ip_version, s.gateway_ip FROM net_ip_allocation a"
		" JOIN net_subnet s ON s.id = a.subnet_id WHERE a.port_id = ?"
		" ORDER BY s.ip_version, a.ip_address", "s", port_id);
	if (!ips)
		return NULL;
	char dev[16], tap[16], br[16];
	nag_devname(dev, prefix, port_id);
	nag_devname(tap, "tap", port_id);
	nag_bridge_name(br, net);
	const char *mac = kjson_str(p, "mac_address");
	if (!is_mac(mac))
		mac = NULL;
	json_int_t mtu = json_integer_value(json_object_get(p, "mtu"));
	if (mtu < 68 || mtu > 65535)
		mtu = 1500;
	json_t *addrs = json_array();
	json_t *st = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:o}", "port", port_id,
	                       "network", net, "mac", mac ? mac : "", "mtu", mtu,
	                       "dev", dev, "tap", tap, "bridge", br, "addrs", addrs);
	size_t i;
	json_t *a;
	json_array_foreach(ips, i, a) {
		const char *ipa = kjson_str(a, "ip_address");
		const char *cidr = kjson_str(a, "cidr");
		const char *len = cidr ? strchr(cidr, '/') : NULL;
		if (!is_ip(ipa) || !is_cidr(cidr))
			continue;
		json_array_append_new(addrs, json_sprintf("%s/%s", ipa, len + 1));
		if (json_integer_value(json_object_get(a, "ip_version")) == 4 &&
		    !json_object_get(st, "v4")) {
			json_object_set_new(st, "v4", json_string(ipa));
			if (is_ipv4(kjson_str(a, "gateway_ip")))
				json_object_set_new(st, "gateway", json_string(kjson_str(a, "gateway_ip")));
		}
	}
	return st;
}

/* The state of one router ({"id", "snat", "gw"?, "ifaces", "fips", "routes"}),
 * or NULL when it needs no namespace (no gateway, no interface). */
static json_t *router_state(const json_t *row)
{
	const char *id = kjson_str(row, "id");
	if (!safe_id(id))
		return NULL;
	json_t *gw = kjson_str(row, "gw_port_id") ? iface_state(kjson_str(row, "gw_port_id"), "qg-")
	                                         : NULL;
	json_t *ifaces = json_array();
	_cleanup_json_ json_t *ports = kdb_query_json(net_db,
		"SELECT id FROM net_port WHERE device_id = ? AND device_owner = ? ORDER BY id",
		"ss", id, "network:router_interface");
	size_t i;
	json_t *p;
	json_array_foreach(ports, i, p) {
		json_t *f = iface_state(kjson_str(p, "id"), "qr-");
		if (f)
			json_array_append_new(ifaces, f);
	}
	if (!gw && json_array_size(ifaces) == 0) {
		json_decref(ifaces);
		return NULL;
	}
	json_t *st = json_pack("{s:s,s:b,s:o}", "id", id, "snat",
	                       json_integer_value(json_object_get(row, "enable_snat")) != 0,
	                       "ifaces", ifaces);
	json_t *fips = json_array();
	if (gw) {
		json_object_set_new(st, "gw", gw);
		_cleanup_json_ json_t *rows = kjson_str(gw, "v4") ? kdb_query_json(net_db,
			"SELECT id, floating_ip_address, fixed_ip_address FROM net_floatingip"
			" WHERE router_id = ? AND port_id IS NOT NULL AND fixed_ip_address IS NOT NULL"
			" ORDER BY floating_ip_address, id", "s", id) : NULL;
		json_t *f;
		json_array_foreach(rows, i, f) {
			const char *fip = kjson_str(f, "floating_ip_address");
			const char *fixed = kjson_str(f, "fixed_ip_address");
			/* IPv4 only, as Neutron's legacy routers */
			if (is_ipv4(fip) && is_ipv4(fixed))
				json_array_append_new(fips, json_pack("{s:s,s:s,s:s}", "id",
				                      kjson_str(f, "id"), "fip", fip, "fixed", fixed));
		}
	}
	json_object_set_new(st, "fips", fips);
	_cleanup_json_ json_t *rrows = kdb_query_json(net_db,
		"SELECT destination, nexthop FROM net_router_route WHERE router_id = ?"
		" ORDER BY destination, nexthop", "s", id);
	json_t *routes = json_array(), *rr;
	json_array_foreach(rrows, i, rr)
		if (is_cidr(kjson_str(rr, "destination")) && is_ip(kjson_str(rr, "nexthop")))
			json_array_append(routes, rr);
	json_object_set_new(st, "routes", routes);
	return st;
}

/* router id -> state, for every router this agent hosts; NULL on db error. */
static json_t *desired_all(void)
{
	_cleanup_json_ json_t *rows = kdb_query_json(net_db,
		"SELECT id, gw_port_id, enable_snat FROM net_router WHERE admin_state_up = 1"
		" ORDER BY id", "");
	if (!rows)
		return NULL;
	json_t *all = json_object();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		json_t *st = router_state(row);
		if (st)
			json_object_set_new(all, kjson_str(row, "id"), st);
	}
	return all;
}

/* ------------------------------------------------------------------------ */
/* NAT: an nft script that replaces table ip kumo_l3 in one transaction. */

static char *nat_script(const json_t *st)
{
	const json_t *gw = json_object_get(st, "gw");
	const char *gwip = gw ? kjson_str(gw, "v4") : NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort();
	/* declaring the table first makes the delete succeed when it is absent */
	fprintf(f, "table ip " L3_TABLE "\ndelete table ip " L3_TABLE "\n");
	if (gwip) {
		const char *qg = kjson_str(gw, "dev");
		const json_t *fips = json_object_get(st, "fips");
		size_t i;
		json_t *fip;
		fprintf(f, "table ip " L3_TABLE " {\n"
		           "\tchain prerouting {\n"
		           "\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
		json_array_foreach(fips, i, fip)
			fprintf(f, "\t\tip daddr %s dnat to %s\n", kjson_str(fip, "fip"),
			        kjson_str(fip, "fixed"));
		fprintf(f, "\t}\n"
		           "\tchain output {\n"
		           "\t\ttype nat hook output priority -100; policy accept;\n");
		json_array_foreach(fips, i, fip)
			fprintf(f, "\t\tip daddr %s dnat to %s\n", kjson_str(fip, "fip"),
			        kjson_str(fip, "fixed"));
		fprintf(f, "\t}\n"
		           "\tchain postrouting {\n"
		           "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		           "\t\tiifname != \"%s\" oifname != \"%s\" ct status & dnat == 0 accept\n",
		        qg, qg);
		json_array_foreach(fips, i, fip)
			fprintf(f, "\t\tip saddr %s snat to %s\n", kjson_str(fip, "fixed"),
			        kjson_str(fip, "fip"));
		if (json_is_true(json_object_get(st, "snat")))
			fprintf(f, "\t\toifname \"%s\" snat to %s\n", qg, gwip);
		fprintf(f, "\t\tiifname != \"%s\" ct status dnat snat to %s\n"
		           "\t}\n"
		           "}\n", qg, gwip);
	}
	fclose(f);
	return buf;
}

/* ------------------------------------------------------------------------ */
/* Applying one router. */

static int ns_forwarding(void *ud)
{
	(void)ud;
	int rc = nag_sysctl("net/ipv4/ip_forward", "1");
	nag_sysctl("net/ipv6/conf/all/forwarding", "1");
	return rc;
}

static int ensure_ns(const char *ns)
{
	marker_set(ns);   /* before creating: a crash in between leaves it ours */
	bool existed = nag_ns_exists(ns);
	if (nag_ns_ensure(ns) != 0) {
		klog_error(L3_LOG, "cannot create namespace %s", ns);
		return -1;
	}
	if (!existed)
		klog_info(L3_LOG, "created namespace %s", ns);
	if (nag_in_netns(ns, ns_forwarding, NULL) != 0) {
		klog_error(L3_LOG, "%s: cannot turn forwarding on", ns);
		return -1;
	}
	return 0;
}

/* Device `dev` among links (`ip -j link` of the namespace) or NULL. */
static json_t *find_link(json_t *links, const char *dev)
{
	size_t i;
	json_t *l;
	json_array_foreach(links, i, l)
		if (str_eq(kjson_str(l, "ifname"), dev))
			return l;
	return NULL;
}

static bool in_sets(const json_t *v, const json_t *a, const json_t *b)
{
	size_t i;
	json_t *x;
	json_array_foreach(a, i, x)
		if (json_equal(x, v))
			return true;
	json_array_foreach(b, i, x)
		if (json_equal(x, v))
			return true;
	return false;
}

/* Make the addresses of dev (in ns) exactly want + also (link-local IPv6
 * aside).  New ones are added before old ones go, so a gateway address
 * never disappears while it changes; the IPv4 ones added are appended to
 * `added` (when not NULL). */
static int sync_addrs(const char *ns, const char *dev, const json_t *want, const json_t *also,
                      json_t *added)
{
	_cleanup_json_ json_t *have = nag_addrs(ns, dev);
	if (!have)
		return -1;
	int rc = 0;
	const json_t *sets[] = { want, also };
	size_t i;
	json_t *a;
	for (size_t k = 0; k < ARRAY_SIZE(sets); k++)
		json_array_foreach(sets[k], i, a) {
			if (in_sets(a, have, NULL))
				continue;
			if (nag_ip(0, ns, "addr replace %s dev %s", json_string_value(a), dev) != 0)
				rc = -1;
			else if (added && !strchr(json_string_value(a), ':'))
				json_array_append(added, a);
		}
	json_array_foreach(have, i, a)
		if (!in_sets(a, want, also))
			nag_ip(NAG_QUIET, ns, "addr del %s dev %s", json_string_value(a), dev);
	return rc;
}

/* One qr-/qg- device: the veth pair with the port's MAC and the network's
 * MTU, the host end in the network's bridge, both ends up. */
static int ensure_port_dev(const char *ns, json_t *links, const json_t *f)
{
	const char *dev = kjson_str(f, "dev"), *tap = kjson_str(f, "tap");
	const char *mac = kjson_str(f, "mac");
	long long mtu = (long long)json_integer_value(json_object_get(f, "mtu"));
	json_t *l = find_link(links, dev);
	const char *lmac = l ? kjson_str(l, "address") : NULL;
	bool ok = l && nag_link_exists(tap) && (!*mac || !lmac || strcasecmp(lmac, mac) == 0);
	if (!ok) {
		/* missing, half made or wrong: make it again (one end takes the other along) */
		if (l)
			nag_ip(NAG_QUIET, ns, "link del %s", dev);
		if (nag_link_exists(tap))
			nag_ip(NAG_QUIET, NULL, "link del %s", tap);
		int rc = *mac ? nag_ip(0, NULL, "link add %s mtu %lld type veth peer name %s "
		                       "address %s mtu %lld netns %s", tap, mtu, dev, mac, mtu, ns)
		              : nag_ip(0, NULL, "link add %s mtu %lld type veth peer name %s "
		                       "mtu %lld netns %s", tap, mtu, dev, mtu, ns);
		if (rc != 0) {
			klog_error(L3_LOG, "%s: cannot create %s (host end %s)", ns, dev, tap);
			return -1;
		}
		/* the host end is a switch port: no IPv6 address of its own */
		char key[96];
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", tap);
		nag_sysctl(key, "1");
		klog_info(L3_LOG, "%s: plugged %s (host end %s)", ns, dev, tap);
	} else if (json_integer_value(json_object_get(l, "mtu")) != mtu) {
		nag_ip(0, NULL, "link set %s mtu %lld", tap, mtu);
		nag_ip(0, ns, "link set %s mtu %lld", dev, mtu);
	}
	_cleanup_free_ char *master = nag_link_master(tap);
	if (!str_eq(master, kjson_str(f, "bridge")) &&
	    nag_l2_plug(kjson_str(f, "network"), tap) != 0) {
		klog_warn(L3_LOG, "%s: cannot plug %s into %s", ns, tap, kjson_str(f, "bridge"));
		return -1;
	}
	if (!l || !str_eq(kjson_str(l, "operstate"), "UP"))
		if (nag_ip(0, ns, "link set %s up", dev) != 0)
			return -1;
	return 0;
}

/* Gratuitous ARP for addresses just added to the gateway port, so the
 * upstream's ARP caches follow a floating IP that moved (Neutron's
 * send_ip_addr_adv_notif, with a packet socket instead of arping). */
struct garp {
	const char *dev;
	unsigned char mac[6];
	const json_t *addrs;
};

static int garp_send(void *ud)
{
	struct garp *g = ud;
	unsigned idx = if_nametoindex(g->dev);
	int fd = idx ? socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)) : -1;
	if (fd < 0)
		return -1;
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
	                          .sll_ifindex = (int)idx, .sll_halen = ETH_ALEN };
	memset(sa.sll_addr, 0xff, ETH_ALEN);
	size_t i;
	json_t *a;
	json_array_foreach(g->addrs, i, a) {
		char ip[64];
		snprintf(ip, sizeof(ip), "%s", json_string_value(a));
		char *slash = strchr(ip, '/');
		if (slash)
			*slash = '\0';
		struct in_addr in;
		if (inet_pton(AF_INET, ip, &in) != 1)
			continue;
		struct ether_arp arp = { 0 };
		arp.arp_hrd = htons(ARPHRD_ETHER);
		arp.arp_pro = htons(ETH_P_IP);
		arp.arp_hln = ETH_ALEN;
		arp.arp_pln = 4;
		arp.arp_op = htons(ARPOP_REQUEST);
		memcpy(arp.arp_sha, g->mac, ETH_ALEN);
		memcpy(arp.arp_spa, &in, 4);
		memcpy(arp.arp_tpa, &in, 4);
		if (sendto(fd, &arp, sizeof(arp), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			klog_debug(L3_LOG, "gratuitous ARP for %s on %s: %s", ip, g->dev, strerror(errno));
	}
	close(fd);
	return 0;
}

static void announce(const char *ns, const json_t *port, const json_t *addrs)
{
	struct garp g = { .dev = kjson_str(port, "dev"), .addrs = addrs };
	const char *mac = kjson_str(port, "mac");
	if (json_array_size(addrs) == 0 || !mac ||
	    sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &g.mac[0], &g.mac[1], &g.mac[2],
	           &g.mac[3], &g.mac[4], &g.mac[5]) != 6)
		return;
	nag_in_netns(ns, garp_send, &g);
}

/* Canonical route destination: "a.b.c.d/n" ("default" -> 0.0.0.0/0). */
static void canon_dst(const char *d, char *out, size_t n)
{
	if (!d || strcmp(d, "default") == 0)
		snprintf(out, n, "0.0.0.0/0");
	else if (strchr(d, '/'))
		snprintf(out, n, "%s", d);
	else
		snprintf(out, n, "%s/%s", d, strchr(d, ':') ? "128" : "32");
}

static bool route_wanted(const json_t *want, const json_t *have)
{
	char hd[128], wd[128];
	canon_dst(kjson_str(have, "dst"), hd, sizeof(hd));
	size_t i;
	json_t *w;
	json_array_foreach(want, i, w) {
		canon_dst(kjson_str(w, "destination"), wd, sizeof(wd));
		if (strcmp(hd, wd) == 0 && str_eq(kjson_str(have, "gateway"), kjson_str(w, "nexthop")))
			return true;
	}
	return false;
}

static int sync_routes(const char *ns, const json_t *st)
{
	int rc = 0;
	const json_t *gw = json_object_get(st, "gw");
	const char *nh = gw ? kjson_str(gw, "gateway") : NULL;
	static const char *const show_default[] = { "-4", "route", "show", "default", NULL };
	_cleanup_json_ json_t *def = ip_json(ns, show_default);
	json_t *cur = def ? json_array_get(def, 0) : NULL;
	if (nh) {
		const char *qg = kjson_str(gw, "dev");
		if ((!str_eq(kjson_str(cur, "gateway"), nh) || !str_eq(kjson_str(cur, "dev"), qg)) &&
		    nag_ip(0, ns, "-4 route replace default via %s dev %s", nh, qg) != 0)
			rc = -1;
	} else if (cur) {
		nag_ip(NAG_QUIET, ns, "-4 route del default");
	}
	/* extra routes: ours are exactly those with proto static */
	const json_t *want = json_object_get(st, "routes");
	static const char *const fams[] = { "-4", "-6" };
	for (size_t k = 0; k < ARRAY_SIZE(fams); k++) {
		const char *const show[] = { fams[k], "route", "show", "proto", "static", NULL };
		_cleanup_json_ json_t *have = ip_json(ns, show);
		size_t i;
		json_t *h;
		json_array_foreach(have, i, h) {
			char hd[128];
			canon_dst(kjson_str(h, "dst"), hd, sizeof(hd));
			if (!route_wanted(want, h))
				nag_ip(NAG_QUIET, ns, "%s route del %s proto static", fams[k], hd);
		}
	}
	size_t i;
	json_t *w;
	json_array_foreach(want, i, w) {
		const char *d = kjson_str(w, "destination"), *h = kjson_str(w, "nexthop");
		/* a nexthop on no attached subnet fails: Neutron logs it and goes on */
		nag_ip(0, ns, "route replace %s via %s proto static", d, h);
	}
	return rc;
}

static int apply_router(const json_t *st)
{
	_cleanup_free_ char *ns = ns_name(kjson_str(st, "id"));
	if (ensure_ns(ns) != 0)
		return -1;
	_cleanup_json_ json_t *links = nag_ns_links(ns);
	if (!links)
		return -1;
	int rc = 0;
	const json_t *gw = json_object_get(st, "gw");
	const json_t *ifaces = json_object_get(st, "ifaces");
	size_t i, k;
	json_t *l, *f;
	/* devices no longer wanted */
	json_array_foreach(links, i, l) {
		const char *name = kjson_str(l, "ifname");
		if (!name || (strncmp(name, "qr-", 3) != 0 && strncmp(name, "qg-", 3) != 0))
			continue;
		bool wanted = gw && str_eq(kjson_str(gw, "dev"), name);
		json_array_foreach(ifaces, k, f)
			wanted |= str_eq(kjson_str(f, "dev"), name);
		if (!wanted) {
			klog_info(L3_LOG, "%s: unplugging %s", ns, name);
			nag_ip(0, ns, "link del %s", name);
		}
	}
	json_array_foreach(ifaces, k, f)
		if (ensure_port_dev(ns, links, f) != 0 ||
		    sync_addrs(ns, kjson_str(f, "dev"), json_object_get(f, "addrs"), NULL, NULL) != 0)
			rc = -1;
	/* NAT in place before the floating addresses and the default route */
	_cleanup_free_ char *script = nat_script(st);
	if (nag_nft(ns, script) != 0)
		rc = -1;
	if (gw) {
		_cleanup_json_ json_t *fips = json_array();
		json_array_foreach(json_object_get(st, "fips"), k, f)
			json_array_append_new(fips, json_sprintf("%s/32", kjson_str(f, "fip")));
		_cleanup_json_ json_t *added = json_array();
		if (ensure_port_dev(ns, links, gw) != 0 ||
		    sync_addrs(ns, kjson_str(gw, "dev"), json_object_get(gw, "addrs"), fips,
		               added) != 0)
			rc = -1;
		announce(ns, gw, added);
	}
	if (sync_routes(ns, st) != 0)
		rc = -1;
	return rc;
}

/* Remove a router's namespace; its devices go first, so the host ends go
 * with them even if something still holds the namespace. */
static void remove_router_ns(const char *ns)
{
	_cleanup_json_ json_t *links = nag_ns_exists(ns) ? nag_ns_links(ns) : NULL;
	size_t i;
	json_t *l;
	json_array_foreach(links, i, l) {
		const char *name = kjson_str(l, "ifname");
		if (name && (strncmp(name, "qr-", 3) == 0 || strncmp(name, "qg-", 3) == 0))
			nag_ip(NAG_QUIET, ns, "link del %s", name);
	}
	if (nag_ns_delete(ns) != 0) {
		klog_error(L3_LOG, "cannot delete namespace %s", ns);
		return;
	}
	marker_clear(ns);
	klog_info(L3_LOG, "removed namespace %s", ns);
}

/* Namespaces of routers this cloud no longer hosts; ours only: a marker,
 * or the router is in our database. */
static void remove_stale(const json_t *desired)
{
	_cleanup_json_ json_t *names = nag_ns_list(L3_NS_PREFIX);
	_cleanup_json_ json_t *marked = json_array();
	DIR *d = opendir(marker_dir);
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, L3_NS_PREFIX, strlen(L3_NS_PREFIX)) == 0)
			json_array_append_new(marked, json_string(e->d_name));
	if (d)
		closedir(d);
	json_array_extend(names, marked);
	size_t i;
	json_t *n;
	json_array_foreach(names, i, n) {
		const char *ns = json_string_value(n);
		const char *rid = ns + strlen(L3_NS_PREFIX);
		if (!safe_id(rid) || json_object_get(desired, rid))
			continue;
		bool ours = marker_has(ns);
		if (!ours) {
			json_t *row = kdb_query_row(net_db, NULL,
				"SELECT id FROM net_router WHERE id = ?", "s", rid);
			ours = row != NULL;
			json_decref(row);
		}
		if (ours && (nag_ns_exists(ns) || marker_has(ns)))
			remove_router_ns(ns);
	}
}

/* ------------------------------------------------------------------------ */
/* Floating IP status. */

/* statuses: fip id -> "ACTIVE"/"ERROR" for the ones hosted; others DOWN. */
static void update_fip_statuses(const json_t *statuses)
{
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT id, status FROM net_floatingip",
	                                             "");
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r) {
		const char *id = kjson_str(r, "id");
		const char *want = kjson_str(statuses, id ? id : "");
		if (!want)
			want = "DOWN";
		if (id && !str_eq(kjson_str(r, "status"), want))
			kdb_run(net_db, NULL, "UPDATE net_floatingip SET status = ?, updated_at = ?,"
			        " revision_number = revision_number + 1 WHERE id = ? AND status <> ?",
			        "siss", want, kutil_now_us(), id, want);
	}
}

/* ------------------------------------------------------------------------ */
/* The agent. */

static void l3_reconcile(unsigned changes)
{
	/* security groups never concern routers; everything else may (a port's
	 * fixed IP, a subnet's gateway, a network's MTU...) and a pass that
	 * finds nothing changed costs a few queries */
	if (!(changes & ~(unsigned)(NAG_CH_SECGROUP | NAG_CH_LINK)))
		return;
	bool full = changes & NAG_CH_FULL;
	_cleanup_json_ json_t *desired = desired_all();
	if (!desired) {
		klog_warn(L3_LOG, "cannot read the routers; retrying at the next pass");
		return;
	}
	_cleanup_json_ json_t *statuses = json_object();
	json_int_t nifaces = 0, nfips = 0, ngw = 0;
	const char *id;
	json_t *st;
	json_object_foreach(desired, id, st) {
		_cleanup_free_ char *ns = ns_name(id);
		json_t *old = json_object_get(applied, id);
		bool ok = true;
		if (full || !old || !json_equal(old, st) || !nag_ns_exists(ns)) {
			ok = apply_router(st) == 0;
			if (ok)
				json_object_set(applied, id, st);
			else
				json_object_del(applied, id);
		}
		size_t i;
		json_t *f;
		json_array_foreach(json_object_get(st, "fips"), i, f)
			json_object_set_new(statuses, kjson_str(f, "id"),
			                    json_string(ok ? "ACTIVE" : "ERROR"));
		nifaces += (json_int_t)json_array_size(json_object_get(st, "ifaces"));
		nfips += (json_int_t)json_array_size(json_object_get(st, "fips"));
		ngw += json_object_get(st, "gw") != NULL;
	}
	void *tmp;
	json_object_foreach_safe(applied, tmp, id, st)
		if (!json_object_get(desired, id))
			json_object_del(applied, id);
	remove_stale(desired);
	update_fip_statuses(statuses);
	pthread_mutex_lock(&counts_mu);
	counts.routers = (json_int_t)json_object_size(desired);
	counts.interfaces = nifaces;
	counts.floating_ips = nfips;
	counts.ex_gw_ports = ngw;
	pthread_mutex_unlock(&counts_mu);
}

static json_t *l3_configurations(void)
{
	pthread_mutex_lock(&counts_mu);
	json_t *c = json_pack("{s:s,s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:b,s:s}",
		"agent_mode", "legacy", "gateway_external_network_id", "",
		"handle_internal_only_routers", true, "interface_driver", "linuxbridge",
		"routers", counts.routers, "interfaces", counts.interfaces,
		"floating_ips", counts.floating_ips, "ex_gw_ports", counts.ex_gw_ports,
		"log_agent_heartbeats", false, "external_network_bridge", "");
	pthread_mutex_unlock(&counts_mu);
	return c;
}

static int l3_init(void)
{
	if (!net_db)
		return -1;
	free(marker_dir);
	marker_dir = nag_state_path("l3-agent");
	if (!marker_dir)
		return -1;
	json_decref(applied);
	applied = json_object();
	return 0;
}

static void l3_fini(void)
{
	json_decref(applied);
	applied = NULL;
	free(marker_dir);
	marker_dir = NULL;
	klog_info(L3_LOG, "stopped (routers keep forwarding)");
}

const nag_agent nag_l3_agent = {
	.name = "l3",
	.agent_type = "L3 agent",
	.binary = "neutron-l3-agent",
	.topic = "l3_agent",
	.init = l3_init,
	.reconcile = l3_reconcile,
	.configurations = l3_configurations,
	.fini = l3_fini,
};
