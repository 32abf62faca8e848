/*
 * l2.c - the Linux bridge agent: one bridge per network, the provider
 * uplink in it, the taps of the ports plugged into it, port status.
 *
 * Desired state, computed from the database and the host's links at every
 * pass (all of it, it is cheap: one query per table, /sys reads):
 *   - every host link named tap<11 chars of a port id> belongs in the
 *     bridge brq<11 chars of the port's network id>, up when the port is
 *     admin up; the port is then ACTIVE and bound to this host;
 *   - a network has a bridge while one of its ports has a tap here; the
 *     bridge holds the uplink of the network's segment: for flat the
 *     interface [network] physical_interface_mappings gives its physnet,
 *     for vlan a sub-interface <iface>.<vid> of it, for vxlan a device
 *     vxlan-<vni> (local_ip = [network] local_ip, 127.0.0.1 by default);
 *   - ports bound here that were ACTIVE and lost their tap go DOWN; taps
 *     whose port is gone are taken out of the bridges; bridges nobody needs
 *     are deleted with the uplinks Kumo made for them.
 * Several clouds may share the machine: bridges are this cloud's when a
 * marker file <state_dir>/l2-agent/<bridge> says so (written before the
 * bridge is made) or its network is in this cloud's database; only those
 * are removed, and only their taps are unplugged.
 * Then the firewall (firewall.c) gets the plugged ports ([network]
 * enable_security_group = false, Neutron's noop driver, gives it none).  One mutex
 * serialises a pass with nag_l2_plug(), which the DHCP and L3 agents call
 * to plug their own taps immediately.
 *
 * Safety: only links named brq*, tap*, vxlan-* and <mapped iface>.<vid> are
 * created or deleted; a mapped interface is enslaved and set up, nothing
 * else, and refused when it has an IPv4 address or carries the default
 * route (it would be the machine's real uplink).  IPv6 is disabled on the
 * bridges and taps so the host gets no address or route on tenant networks.
 */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "network/agent/agent.h"
#include "network/network.h"

static pthread_mutex_t l2_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *warned;          /* messages already logged once (under l2_mu) */
static bool vlan_unsupported;
static json_t *last_bridges;    /* bridge -> network id of the last pass */
static int last_devices;        /* taps plugged at the last pass */

static void warn_once(const char *key, const char *fmt, ...) _printf_(2, 3);
static void warn_once(const char *key, const char *fmt, ...)
{
	if (!warned)
		warned = json_object();
	if (json_object_get(warned, key))
		return;
	json_object_set_new(warned, key, json_true());
	va_list ap;
	va_start(ap, fmt);
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	klog_warn("l2-agent", "%s", msg);
}

/* physnet -> interface from "physnet1:kumo-phys1,public:kumo-pub0". */
static json_t *mappings(void)
{
	json_t *m = json_object();
	_cleanup_free_ char *s = strdup(nag_conf("physical_interface_mappings", ""));
	for (char *save = NULL, *tok = strtok_r(s, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		char *colon = strchr(tok, ':');
		if (!colon || colon == tok || !colon[1] || strlen(colon + 1) > 15)
			continue;
		*colon = '\0';
		json_object_set_new(m, tok, json_string(colon + 1));
	}
	return m;
}

/* An interface we may enslave: not the machine's uplink. */
static bool uplink_safe(const char *iface)
{
	if (!strcmp(iface, "lo"))
		return false;
	struct ifaddrs *ifa = NULL;
	bool safe = true;
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && i->ifa_name &&
			    !strcmp(i->ifa_name, iface))
				safe = false;
		freeifaddrs(ifa);
	}
	_cleanup_free_ char *routes = kutil_read_file("/proc/net/route", NULL);
	for (char *save = NULL, *line = routes ? strtok_r(routes, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char dev[64], dst[16];
		if (sscanf(line, "%63s %15s", dev, dst) == 2 && !strcmp(dev, iface) &&
		    !strcmp(dst, "00000000"))
			safe = false;
	}
	return safe;
}

/* The link that connects a network's bridge to the outside, in out (or ""
 * when the network has none: local networks, unmapped physnets). */
static void uplink_name(json_t *net, json_t *maps, char out[16], const char **phys)
{
	const char *type = kjson_str(net, "network_type");
	const char *physnet = kjson_str(net, "physical_network");
	int64_t seg = json_integer_value(json_object_get(net, "segmentation_id"));
	out[0] = '\0';
	*phys = NULL;
	if (!type)
		return;
	if (!strcmp(type, "vxlan")) {
		snprintf(out, 16, "vxlan-%lld", (long long)seg);
		return;
	}
	if (strcmp(type, "flat") != 0 && strcmp(type, "vlan") != 0)
		return;
	const char *iface = physnet ? kjson_str(maps, physnet) : NULL;
	if (!iface) {
		warn_once(physnet ? physnet : "-", "physical network %s has no interface in "
		          "[network] physical_interface_mappings: its networks stay local to this "
		          "host", physnet ? physnet : "(none)");
		return;
	}
	*phys = iface;
	if (!strcmp(type, "flat")) {
		snprintf(out, 16, "%s", iface);
		return;
	}
	char vid[8];
	snprintf(vid, sizeof(vid), ".%lld", (long long)seg);
	int keep = 15 - (int)strlen(vid);
	snprintf(out, 16, "%.*s%s", keep, iface, vid);
}

/* Create the uplink device when Kumo makes it (vlan, vxlan). */
static bool uplink_create(json_t *net, const char *dev, const char *phys)
{
	const char *type = kjson_str(net, "network_type");
	int64_t seg = json_integer_value(json_object_get(net, "segmentation_id"));
	if (nag_link_exists(dev))
		return true;
	if (!strcmp(type, "vxlan")) {
		const char *local = nag_conf("local_ip", "127.0.0.1");
		if (nag_ip(0, NULL, "link add %s type vxlan id %lld dstport 4789 local %s "
		           "nolearning", dev, (long long)seg, local) != 0)
			return false;
	} else if (!strcmp(type, "vlan")) {
		if (vlan_unsupported)
			return false;
		if (!nag_link_exists(phys)) {
			warn_once(phys, "interface %s (physical_interface_mappings) does not exist",
			          phys);
			return false;
		}
		if (nag_ip(NAG_QUIET, NULL, "link add link %s name %s type vlan id %lld", phys, dev,
		           (long long)seg) != 0) {
			vlan_unsupported = true;
			klog_warn("l2-agent", "cannot create the VLAN sub-interface %s (no "
			          "802.1Q in this kernel?): VLAN networks are bridged on this "
			          "host only", dev);
			return false;
		}
		nag_ip(0, NULL, "link set %s up", phys);
	}
	char key[64];
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", dev);
	nag_sysctl(key, "1");
	return true;
}

static bool our_uplink(const char *dev, json_t *maps)
{
	if (!strncmp(dev, "vxlan-", 6))
		return true;
	const char *k;
	json_t *v;
	json_object_foreach(maps, k, v) {
		const char *iface = json_string_value(v);
		size_t n = strlen(iface);
		if (!strcmp(dev, iface))
			return true;
		/* <iface>.<vid>, maybe with iface truncated */
		const char *dot = strrchr(dev, '.');
		if (dot && dot > dev && !strncmp(dev, iface, (size_t)(dot - dev)) &&
		    (size_t)(dot - dev) <= n)
			return true;
	}
	return false;
}

static bool made_by_us(const char *dev)
{
	return !strncmp(dev, "vxlan-", 6) || strchr(dev, '.') != NULL;
}

/* <state_dir>/l2-agent/<bridge>: this cloud made that bridge (clouds share
 * the machine, and a bridge outlives its network's row). */
static char *marker(const char *br)
{
	_cleanup_free_ char *dir = nag_state_path("l2-agent");
	char *p = NULL;
	if (!dir || asprintf(&p, "%s/%s", dir, br) < 0)
		return NULL;
	return p;
}

static void mark_bridge(const char *br, bool on)
{
	_cleanup_free_ char *p = marker(br);
	if (!p)
		return;
	if (on)
		kutil_write_file(p, "", 0, 0644);
	else
		unlink(p);
}

/* A bridge of this cloud: marked, or named after one of its networks. */
static bool owned(const char *br, json_t *net_by_prefix)
{
	_cleanup_free_ char *p = marker(br);
	if (p && access(p, F_OK) == 0)
		return true;
	return strlen(br) == 3 + NAG_ID_CHARS && net_by_prefix &&
	       json_object_get(net_by_prefix, br + 3);
}

/* Put dev in bridge br and up (unless down); 0 or -1. */
static int enslave(const char *dev, const char *br, bool up)
{
	_cleanup_free_ char *master = nag_link_master(dev);
	if (!master || strcmp(master, br) != 0)
		if (nag_ip(0, NULL, "link set %s master %s", dev, br) != 0)
			return -1;
	if (nag_link_up(dev) == up)
		return 0;
	return nag_ip(0, NULL, "link set %s %s", dev, up ? "up" : "down");
}

/* The bridge of a network with the right uplink; 0 or -1. */
static int ensure_bridge(json_t *net, json_t *maps)
{
	const char *id = kjson_str(net, "id");
	char br[16], key[64];
	nag_bridge_name(br, id);
	if (!nag_link_is_bridge(br)) {
		mark_bridge(br, true);
		if (nag_ip(0, NULL, "link add %s type bridge forward_delay 0 stp_state 0", br) != 0)
			return -1;
		klog_info("l2-agent", "bridge %s for network %s", br, id);
	}
	snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", br);
	nag_sysctl(key, "1");
	char up[16];
	const char *phys;
	uplink_name(net, maps, up, &phys);
	if (up[0]) {
		const char *type = kjson_str(net, "network_type");
		const char *base = !strcmp(type, "vxlan") ? NULL : phys;
		if (base && !uplink_safe(base)) {
			warn_once(base, "refusing to bridge %s: it has an IPv4 address or the "
			          "default route (map physnets to interfaces made for Kumo)", base);
			up[0] = '\0';
		} else if (!strcmp(type, "flat") && !nag_link_exists(up)) {
			warn_once(up, "interface %s (physical_interface_mappings) does not exist",
			          up);
			up[0] = '\0';
		} else if (!uplink_create(net, up, phys)) {
			up[0] = '\0';
		} else {
			_cleanup_free_ char *m = nag_link_master(up);
			if (m && strcmp(m, br) != 0 && nag_link_is_bridge(m)) {
				/* held by another bridge: only take it from a stale one of ours */
				warn_once(up, "%s is already in bridge %s", up, m);
			} else {
				enslave(up, br, true);
			}
		}
	}
	/* uplinks that don't belong here any more */
	_cleanup_json_ json_t *members = nag_bridge_ports(br);
	size_t i;
	json_t *v;
	json_array_foreach(members, i, v) {
		const char *dev = json_string_value(v);
		if (!strcmp(dev, up) || !our_uplink(dev, maps))
			continue;
		if (made_by_us(dev))
			nag_ip(0, NULL, "link del %s", dev);
		else
			nag_ip(0, NULL, "link set %s nomaster", dev);
	}
	return nag_link_up(br) ? 0 : nag_ip(0, NULL, "link set %s up", br);
}

static void delete_bridge(const char *br, json_t *maps)
{
	_cleanup_json_ json_t *members = nag_bridge_ports(br);
	size_t i;
	json_t *v;
	json_array_foreach(members, i, v) {
		const char *dev = json_string_value(v);
		if (our_uplink(dev, maps) && made_by_us(dev))
			nag_ip(0, NULL, "link del %s", dev);
	}
	klog_info("l2-agent", "removing bridge %s (no port of its network here)", br);
	if (nag_ip(0, NULL, "link del %s", br) == 0)
		mark_bridge(br, false);
}

static json_t *network_row(const char *id)
{
	return kdb_query_row(net_db, NULL, "SELECT id, network_type, physical_network, "
	                     "segmentation_id, mtu FROM net_network WHERE id = ?", "s", id);
}

int nag_l2_plug(const char *network_id, const char *dev)
{
	_cleanup_json_ json_t *net = network_row(network_id);
	if (!net)
		return -1;
	_cleanup_json_ json_t *maps = mappings();
	char br[16], key[64];
	nag_bridge_name(br, network_id);
	pthread_mutex_lock(&l2_mu);
	int rc = ensure_bridge(net, maps);
	if (rc == 0) {
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", dev);
		nag_sysctl(key, "1");
		rc = enslave(dev, br, true);
	}
	pthread_mutex_unlock(&l2_mu);
	nag_kick("l2", NAG_CH_LINK);
	return rc;
}

/* The L2 agent's bus methods (topic "l2_agent.<host>"), for the compute
 * agent of this host, which plugs instances the way os-vif does:
 *   call ensure_network {"network_id"} -> {"bridge": "brq..."} once the
 *        network's bridge (and provider uplink) exists, or {"error": ...};
 *   cast port_plugged {} -> a reconcile soon (a tap appeared). */
json_t *nag_l2_rpc(void *ud, const char *method, json_t *args)
{
	(void)ud;
	if (strcmp(method, "port_plugged") == 0) {
		nag_kick("l2", NAG_CH_LINK | NAG_CH_PORT);
		return NULL;
	}
	if (strcmp(method, "ensure_network") != 0)
		return json_pack("{s:s}", "error", "unknown method");
	const char *network_id = kjson_str(args, "network_id");
	_cleanup_json_ json_t *net = network_id ? network_row(network_id) : NULL;
	if (!net)
		return json_pack("{s:s}", "error", "no such network");
	_cleanup_json_ json_t *maps = mappings();
	char br[16];
	nag_bridge_name(br, network_id);
	pthread_mutex_lock(&l2_mu);
	int rc = ensure_bridge(net, maps);
	pthread_mutex_unlock(&l2_mu);
	if (rc != 0)
		return json_pack("{s:s}", "error", "cannot create the network's bridge");
	return json_pack("{s:s}", "bridge", br);
}

/* Status and binding of a port, written only when they change. */
static void set_status(json_t *port, const char *status)
{
	const char *cur = kjson_str(port, "status");
	const char *host = kjson_str(port, "binding_host_id");
	bool bind = !strcmp(status, "ACTIVE") && (!host || !*host);
	if (cur && !strcmp(cur, status) && !bind)
		return;
	int64_t now = kutil_now_us();
	int rc = kdb_run(net_db, NULL, "UPDATE net_port SET status = ?, "
	                 "binding_host_id = CASE WHEN binding_host_id = '' AND ? = 1 THEN ? "
	                 "ELSE binding_host_id END, "
	                 "binding_vif_type = CASE WHEN ? = 1 AND binding_vif_type IN "
	                 "('unbound', 'binding_failed') THEN 'bridge' ELSE binding_vif_type END, "
	                 "binding_vif_details = CASE WHEN ? = 1 AND binding_vif_type IN "
	                 "('unbound', 'binding_failed') THEN ? ELSE binding_vif_details END, "
	                 "updated_at = ?, revision_number = revision_number + 1 WHERE id = ?",
	                 "sisiisis", status, (int64_t)bind, nag_host(), (int64_t)bind,
	                 (int64_t)bind, "{\"connectivity\": \"l2\", \"port_filter\": true}", now,
	                 kjson_str(port, "id"));
	if (rc != KDB_DONE)
		klog_warn("l2-agent", "cannot set port %s %s", kjson_str(port, "id"), status);
	else
		klog_info("l2-agent", "port %s %s", kjson_str(port, "id"), status);
}

static void l2_reconcile(unsigned changes)
{
	if (!net_db)
		return;
	/* read under the lock: a port the DHCP or L3 agent inserts and then plugs
	 * (nag_l2_plug waits for this lock) is seen with its tap */
	pthread_mutex_lock(&l2_mu);
	_cleanup_json_ json_t *ports = kdb_query_json(net_db, "SELECT id, network_id, status, "
	        "admin_state_up, binding_host_id, device_owner FROM net_port", "");
	_cleanup_json_ json_t *nets = kdb_query_json(net_db, "SELECT id, network_type, "
	        "physical_network, segmentation_id, mtu FROM net_network", "");
	if (!ports || !nets) {
		pthread_mutex_unlock(&l2_mu);
		return;
	}
	_cleanup_json_ json_t *maps = mappings();
	_cleanup_json_ json_t *by_prefix = json_object();   /* 11 chars -> port */
	_cleanup_json_ json_t *net_by_id = json_object();
	_cleanup_json_ json_t *net_by_prefix = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(ports, i, v) {
		char pfx[NAG_ID_CHARS + 1];
		snprintf(pfx, sizeof(pfx), "%s", kjson_str(v, "id"));
		json_object_set(by_prefix, pfx, v);
	}
	json_array_foreach(nets, i, v) {
		char pfx[NAG_ID_CHARS + 1];
		snprintf(pfx, sizeof(pfx), "%s", kjson_str(v, "id"));
		json_object_set(net_by_id, kjson_str(v, "id"), v);
		json_object_set(net_by_prefix, pfx, v);
	}

	_cleanup_json_ json_t *taps = nag_link_list("tap");
	_cleanup_json_ json_t *bridges = json_object();     /* bridge -> network id */
	_cleanup_json_ json_t *plugged = json_object();     /* tap -> port id */
	_cleanup_json_ json_t *seen = json_object();        /* port id -> true */
	json_array_foreach(taps, i, v) {
		const char *tap = json_string_value(v);
		json_t *port = strlen(tap) == 3 + NAG_ID_CHARS ? json_object_get(by_prefix, tap + 3)
		                                                 : NULL;
		const char *nid = port ? kjson_str(port, "network_id") : NULL;
		json_t *net = nid ? json_object_get(net_by_id, nid) : NULL;
		if (!net) {
			/* another cloud's tap, or one of ours whose port is gone */
			_cleanup_free_ char *m = nag_link_master(tap);
			if (m && !strncmp(m, "brq", 3) && owned(m, net_by_prefix)) {
				klog_info("l2-agent", "%s has no port any more: unplugged", tap);
				nag_ip(0, NULL, "link set %s nomaster", tap);
			}
			continue;
		}
		char br[16], key[64];
		nag_bridge_name(br, kjson_str(net, "id"));
		if (!json_object_get(bridges, br)) {
			if (ensure_bridge(net, maps) != 0)
				continue;
			json_object_set_new(bridges, br, json_string(kjson_str(net, "id")));
		}
		bool up = json_integer_value(json_object_get(port, "admin_state_up")) != 0;
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/disable_ipv6", tap);
		nag_sysctl(key, "1");
		if (enslave(tap, br, up) != 0)
			continue;
		json_object_set_new(seen, kjson_str(port, "id"), json_true());
		if (up)
			json_object_set_new(plugged, tap, json_string(kjson_str(port, "id")));
		set_status(port, up ? "ACTIVE" : "DOWN");
	}
	/* bridges no plugged port needs; a port bound to this host whose device
	 * does not exist yet (the compute agent asked for the bridge and libvirt
	 * is about to create the tap in it) keeps its network's bridge */
	_cleanup_json_ json_t *awaited = json_object();
	json_array_foreach(ports, i, v) {
		const char *host = kjson_str(v, "binding_host_id");
		const char *owner = kjson_str(v, "device_owner");
		if (host && !strcmp(host, nag_host()) && owner && !strncmp(owner, "compute:", 8)) {
			char br[16];
			nag_bridge_name(br, kjson_str(v, "network_id"));
			json_object_set_new(awaited, br, json_true());
		}
	}
	_cleanup_json_ json_t *brs = nag_link_list("brq");
	json_array_foreach(brs, i, v) {
		const char *br = json_string_value(v);
		if (nag_link_is_bridge(br) && !json_object_get(bridges, br) &&
		    !json_object_get(awaited, br) && owned(br, net_by_prefix))
			delete_bridge(br, maps);
	}
	if (kconf_get_bool(kumo_conf, "network", "enable_security_group", true)) {
		nag_fw_apply(plugged, bridges, (changes & NAG_CH_FULL) != 0);
	} else {
		_cleanup_json_ json_t *none = json_object();
		nag_fw_apply(none, bridges, (changes & NAG_CH_FULL) != 0);
	}
	json_decref(last_bridges);
	last_bridges = json_incref(bridges);
	last_devices = (int)json_object_size(plugged);
	pthread_mutex_unlock(&l2_mu);

	/* ports bound here that lost their device */
	json_array_foreach(ports, i, v) {
		const char *host = kjson_str(v, "binding_host_id");
		const char *st = kjson_str(v, "status");
		if (json_object_get(seen, kjson_str(v, "id")) || !host ||
		    strcmp(host, nag_host()) != 0 || !st || strcmp(st, "ACTIVE") != 0)
			continue;
		set_status(v, "DOWN");
	}
}

static int l2_init(void)
{
	/* bridged IPv4/IPv6 through the inet hooks: conntrack for security groups */
	if (nag_sysctl("net/bridge/bridge-nf-call-iptables", "1") != 0 ||
	    nag_sysctl("net/bridge/bridge-nf-call-ip6tables", "1") != 0)
		klog_warn("l2-agent", "cannot enable br_netfilter (net.bridge.bridge-nf-call-*): "
		          "security groups can't be stateful");
	return 0;
}

static json_t *l2_configurations(void)
{
	_cleanup_json_ json_t *maps = mappings();
	pthread_mutex_lock(&l2_mu);
	json_t *c = json_pack("{s:O,s:{},s:[],s:b,s:s,s:[s],s:i}", "interface_mappings", maps,
	                      "bridge_mappings", "extensions", "l2_population", 0,
	                      "tunneling_ip", nag_conf("local_ip", "127.0.0.1"), "tunnel_types",
	                      "vxlan", "devices", last_devices);
	pthread_mutex_unlock(&l2_mu);
	return c;
}

static void l2_fini(void)
{
	pthread_mutex_lock(&l2_mu);
	json_decref(warned);
	warned = NULL;
	json_decref(last_bridges);
	last_bridges = NULL;
	pthread_mutex_unlock(&l2_mu);
}

const nag_agent nag_l2_agent = {
	.name = "l2",
	.agent_type = "Linux bridge agent",
	.binary = "neutron-linuxbridge-agent",
	.topic = "N/A",
	.init = l2_init,
	.reconcile = l2_reconcile,
	.configurations = l2_configurations,
	.fini = l2_fini,
};
