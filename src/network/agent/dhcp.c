/*
 * dhcp.c - the DHCP agent: a qdhcp-<network id> namespace per network with
 * DHCP-enabled subnets, plugged into the network's bridge, running
 * Debian's dnsmasq with static entries only (as Neutron's Dnsmasq driver).
 *
 * For each such network (admin up, with an IPv4 or DHCPv6-stateful subnet
 * that has enable_dhcp):
 *   - a DHCP port in the database (device_owner network:dhcp, device_id
 *     "dhcp<uuid5(DNS, host)>-<network id>" as Neutron names it, one fixed
 *     IP per DHCP subnet: the lowest free address of its pools), created or
 *     completed by the agent itself;
 *   - a veth "tap<11>" (host side, in brq<11 of the network>) / "ns-<11>"
 *     (namespace side, the port's MAC, its IPs and 169.254.169.254/16 for
 *     the metadata proxy);
 *   - files under <state_dir>/dhcp/<network id>/: host (MAC, hostname, IP
 *     per fixed IP of every port), addn_hosts (DNS names), opts (router,
 *     DNS servers, MTU, and option 121/249 classless routes: the metadata
 *     address via the DHCP port, host routes, and the default route, which
 *     a client that takes 121 no longer learns from option 3);
 *   - one dnsmasq (its command line names the pid file; the pid file and
 *     /proc/<pid>/cmdline tell whether it runs, so a restarted agent adopts
 *     it instead of starting a second one).  A change of the host/opts files
 *     is a SIGHUP (dnsmasq re-reads them; never a restart); a change of its
 *     command line (a subnet added or removed) a restart.  The worker's
 *     batching makes a burst of port changes one reload.
 * Whatever is not desired goes: dnsmasq processes of ours for other
 * networks, qdhcp namespaces, DHCP ports of this host on networks without
 * DHCP, state directories.  Clouds may share the machine: a namespace is
 * ours when its state directory exists (made before the namespace) or its
 * network is in our database; dnsmasq processes are ours when their pid
 * file is under our state directory.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "network/agent/agent.h"
#include "network/network.h"

#define DHCP_OWNER "network:dhcp"
#define METADATA_CIDR "169.254.169.254/16"

static char host_uuid[37];
static int last_networks, last_ports, last_subnets;
static int pass_ports;     /* counted during a pass */
static json_t *plugged;    /* network id -> what its namespace was set up with */

/* uuid5(NAMESPACE_DNS, host), as Neutron's DHCP port device_id. */
static void make_host_uuid(void)
{
	static const unsigned char ns_dns[16] = { 0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
	                                          0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8 };
	const char *host = nag_host();
	size_t hl = strlen(host);
	unsigned char buf[16 + 256], md[SHA_DIGEST_LENGTH];
	if (hl > 256)
		hl = 256;
	memcpy(buf, ns_dns, 16);
	memcpy(buf + 16, host, hl);
	SHA1(buf, 16 + hl, md);
	md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
	md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
	snprintf(host_uuid, sizeof(host_uuid),
	         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         md[0], md[1], md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10],
	         md[11], md[12], md[13], md[14], md[15]);
}

static char *device_id(const char *net_id)
{
	char *s = NULL;
	if (asprintf(&s, "dhcp%s-%s", host_uuid, net_id) < 0)
		abort();
	return s;
}

/* ---- addresses ---- */

typedef struct addr {
	int ver;
	unsigned char a[16];
} addr;

static bool addr_parse(const char *s, addr *o)
{
	memset(o, 0, sizeof(*o));
	if (s && inet_pton(AF_INET, s, o->a) == 1)
		o->ver = 4;
	else if (s && inet_pton(AF_INET6, s, o->a) == 1)
		o->ver = 6;
	return o->ver != 0;
}

static void addr_text(const addr *a, char out[INET6_ADDRSTRLEN])
{
	inet_ntop(a->ver == 4 ? AF_INET : AF_INET6, a->a, out, INET6_ADDRSTRLEN);
}

static int addr_cmp(const addr *x, const addr *y)
{
	return memcmp(x->a, y->a, x->ver == 4 ? 4 : 16);
}

static void addr_inc(addr *x)
{
	for (int i = (x->ver == 4 ? 4 : 16) - 1; i >= 0; i--)
		if (++x->a[i] != 0)
			break;
}

/* "10.0.0.0/24" -> network address text, prefix length; false if invalid */
static bool cidr_split(const char *cidr, addr *net, int *plen)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", cidr ? cidr : "");
	char *slash = strchr(buf, '/');
	if (!slash)
		return false;
	*slash = '\0';
	*plen = atoi(slash + 1);
	return addr_parse(buf, net);
}

/* ---- the DHCP port ---- */

/* One address for the DHCP port: KDB_DONE, KDB_CONSTRAINT (taken) or an error. */
static int take_ip(const char *port_id, json_t *subnet, const char *ip)
{
	const char *sid = kjson_str(subnet, "id");
	int rc = kdb_run(net_db, NULL, "INSERT INTO net_ip_allocation (port_id, subnet_id, "
	                 "network_id, ip_address) VALUES (?, ?, ?, ?)", "ssss", port_id, sid,
	                 kjson_str(subnet, "network_id"), ip);
	if (rc == KDB_DONE)
		klog_info("dhcp-agent", "DHCP port %s: %s in subnet %s", port_id, ip, sid);
	return rc;
}

static int alloc_ip(const char *port_id, json_t *subnet)
{
	const char *sid = kjson_str(subnet, "id");
	_cleanup_json_ json_t *pools = kdb_query_json(net_db, "SELECT first_ip, last_ip FROM "
	        "net_allocation_pool WHERE subnet_id = ?", "s", sid);
	_cleanup_json_ json_t *used_rows = kdb_query_json(net_db, "SELECT ip_address FROM "
	        "net_ip_allocation WHERE subnet_id = ?", "s", sid);
	if (!pools || !used_rows)
		return -1;
	_cleanup_json_ json_t *used = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(used_rows, i, v) {
		addr a;
		char t[INET6_ADDRSTRLEN];
		if (addr_parse(kjson_str(v, "ip_address"), &a)) {
			addr_text(&a, t);
			json_object_set_new(used, t, json_true());
		}
	}
	/* pools in address order, lowest free address first */
	size_t np = json_array_size(pools);
	for (size_t round = 0; round < np; round++) {
		addr best_first = { 0 }, last;
		ssize_t best = -1;
		json_array_foreach(pools, i, v) {
			addr f;
			if (json_object_get(v, "done") || !addr_parse(kjson_str(v, "first_ip"), &f))
				continue;
			if (best < 0 || addr_cmp(&f, &best_first) < 0) {
				best = (ssize_t)i;
				best_first = f;
			}
		}
		if (best < 0)
			break;
		json_t *pool = json_array_get(pools, (size_t)best);
		json_object_set_new(pool, "done", json_true());
		if (!addr_parse(kjson_str(pool, "last_ip"), &last) || last.ver != best_first.ver)
			continue;
		addr a = best_first;
		size_t budget = json_object_size(used) + 64;
		while (addr_cmp(&a, &last) <= 0 && budget-- > 0) {
			char t[INET6_ADDRSTRLEN];
			addr_text(&a, t);
			int rc = json_object_get(used, t) ? KDB_CONSTRAINT
			                                  : take_ip(port_id, subnet, t);
			if (rc == KDB_DONE)
				return 0;
			if (rc != KDB_CONSTRAINT)
				return -1;
			json_object_set_new(used, t, json_true());
			addr prev = a;
			addr_inc(&a);
			if (addr_cmp(&a, &prev) <= 0)
				break;
		}
	}
	klog_warn("dhcp-agent", "no free address for the DHCP port in subnet %s", sid);
	return -1;
}

static void delete_port(const char *port_id)
{
	kdb_begin(net_db);
	kdb_run(net_db, NULL, "DELETE FROM net_ip_allocation WHERE port_id = ?", "s", port_id);
	kdb_run(net_db, NULL, "DELETE FROM net_port_security_group WHERE port_id = ?", "s",
	        port_id);
	kdb_run(net_db, NULL, "DELETE FROM net_allowed_address_pair WHERE port_id = ?", "s",
	        port_id);
	kdb_run(net_db, NULL, "DELETE FROM net_tag WHERE resource_type = 'ports' AND "
	        "resource_id = ?", "s", port_id);
	kdb_run(net_db, NULL, "DELETE FROM net_port WHERE id = ?", "s", port_id);
	kdb_commit(net_db);
	klog_info("dhcp-agent", "DHCP port %s deleted", port_id);
}

/* A new DHCP port row (a random fa:16:3e MAC unique on the network): {"id",
 * "mac_address"} or NULL. */
static json_t *insert_port(json_t *net, const char *devid)
{
	const char *nid = kjson_str(net, "id");
	char id[37], mac[18];
	kutil_uuid(id);
	int64_t now = kutil_now_us();
	int64_t psec = json_integer_value(json_object_get(net, "port_security_enabled"));
	const char *details = "{\"connectivity\": \"l2\", \"port_filter\": true}";
	int rc = KDB_CONSTRAINT;
	for (int tries = 0; tries < 8 && rc == KDB_CONSTRAINT; tries++) {
		unsigned char r[3];
		kutil_random(r, sizeof(r));
		snprintf(mac, sizeof(mac), "fa:16:3e:%02x:%02x:%02x", r[0], r[1], r[2]);
		rc = kdb_run(net_db, NULL, "INSERT INTO net_port (id, project_id, network_id, "
		             "name, description, mac_address, admin_state_up, status, device_id, "
		             "device_owner, port_security_enabled, binding_host_id, "
		             "binding_vif_type, binding_vnic_type, binding_profile, "
		             "binding_vif_details, created_at, updated_at, revision_number) "
		             "VALUES (?, ?, ?, '', '', ?, 1, 'DOWN', ?, ?, ?, ?, 'bridge', "
		             "'normal', '{}', ?, ?, ?, 1)", "ssssssissii", id,
		             kjson_str(net, "project_id"), nid, mac, devid, DHCP_OWNER, psec,
		             nag_host(), details, now, now);
	}
	if (rc != KDB_DONE) {
		klog_warn("dhcp-agent", "cannot create the DHCP port of network %s", nid);
		return NULL;
	}
	klog_info("dhcp-agent", "DHCP port %s (%s) for network %s", id, mac, nid);
	return json_pack("{s:s,s:s}", "id", id, "mac_address", mac);
}

/* The network's DHCP port with an address in every DHCP subnet: row with
 * "id", "mac_address" (new reference), or NULL. */
static json_t *ensure_port(json_t *net, json_t *dsubnets)
{
	const char *nid = kjson_str(net, "id");
	_cleanup_free_ char *devid = device_id(nid);
	json_t *port = kdb_query_row(net_db, NULL, "SELECT id, mac_address FROM net_port WHERE "
	                             "network_id = ? AND device_owner = ? AND device_id = ?",
	                             "sss", nid, DHCP_OWNER, devid);
	if (!port)
		port = insert_port(net, devid);
	if (!port)
		return NULL;
	const char *pid = kjson_str(port, "id");
	_cleanup_json_ json_t *have = kdb_query_json(net_db, "SELECT subnet_id, ip_address "
	        "FROM net_ip_allocation WHERE port_id = ?", "s", pid);
	_cleanup_json_ json_t *has = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(have, i, v) {
		const char *sid = kjson_str(v, "subnet_id");
		bool wanted = false;
		size_t k;
		json_t *s;
		json_array_foreach(dsubnets, k, s)
			if (!strcmp(kjson_str(s, "id"), sid))
				wanted = true;
		if (wanted)
			json_object_set_new(has, sid, json_true());
		else
			kdb_run(net_db, NULL, "DELETE FROM net_ip_allocation WHERE port_id = ? AND "
			        "subnet_id = ?", "ss", pid, sid);
	}
	json_array_foreach(dsubnets, i, v)
		if (!json_object_get(has, kjson_str(v, "id")))
			alloc_ip(pid, v);
	return port;
}

/* ---- the namespace ---- */

static int plug(json_t *net, json_t *port, json_t *dsubnets, json_t *port_ips)
{
	const char *nid = kjson_str(net, "id");
	const char *pid = kjson_str(port, "id");
	const char *mac = kjson_str(port, "mac_address");
	char tap[16], nsdev[16], ns[128];
	nag_devname(tap, "tap", pid);
	nag_devname(nsdev, "ns-", pid);
	snprintf(ns, sizeof(ns), "qdhcp-%s", nid);
	bool fresh = !nag_ns_exists(ns);
	if (nag_ns_ensure(ns) != 0)
		return -1;
	/* the veth: host end in the host, the other end in the namespace */
	_cleanup_json_ json_t *links = nag_ns_links(ns);
	json_t *nslink = NULL;
	size_t i;
	json_t *v;
	json_array_foreach(links, i, v)
		if (!strcmp(kjson_str(v, "ifname") ? kjson_str(v, "ifname") : "", nsdev))
			nslink = v;
	if (nag_link_exists(tap) && !nslink) {
		nag_ip(0, NULL, "link del %s", tap);
	}
	if (!nag_link_exists(tap)) {
		if (nslink)
			nag_ip(0, ns, "link del %s", nsdev);
		/* other ns-* devices (a replaced DHCP port) go */
		json_array_foreach(links, i, v) {
			const char *n = kjson_str(v, "ifname");
			if (n && !strncmp(n, "ns-", 3) && strcmp(n, nsdev) != 0)
				nag_ip(0, ns, "link del %s", n);
		}
		if (nag_ip(0, NULL, "link add %s type veth peer name %s netns %s", tap, nsdev,
		           ns) != 0)
			return -1;
		nslink = NULL;
		klog_info("dhcp-agent", "%s%s with %s <-> %s", fresh ? "created " : "", ns, tap,
		          nsdev);
	}
	const char *curmac = nslink ? kjson_str(nslink, "address") : NULL;
	if (!curmac || strcasecmp(curmac, mac) != 0)
		nag_ip(0, ns, "link set %s address %s", nsdev, mac);
	const char *state = nslink ? kjson_str(nslink, "operstate") : NULL;
	if (!state || strcmp(state, "UP") != 0)
		nag_ip(0, ns, "link set %s up", nsdev);
	if (nag_l2_plug(nid, tap) != 0)
		return -1;

	/* addresses: the port's IPs and the metadata address */
	_cleanup_json_ json_t *want = json_object();
	if (kconf_get_bool(kumo_conf, "network", "enable_metadata_proxy", true))
		json_object_set_new(want, METADATA_CIDR, json_true());
	json_array_foreach(port_ips, i, v) {
		size_t k;
		json_t *s;
		json_array_foreach(dsubnets, k, s) {
			if (strcmp(kjson_str(s, "id"), kjson_str(v, "subnet_id")) != 0)
				continue;
			addr a, n;
			int plen;
			char t[INET6_ADDRSTRLEN], full[80];
			if (!addr_parse(kjson_str(v, "ip_address"), &a) ||
			    !cidr_split(kjson_str(s, "cidr"), &n, &plen))
				continue;
			addr_text(&a, t);
			snprintf(full, sizeof(full), "%s/%d", t, plen);
			json_object_set_new(want, full, json_true());
		}
	}
	_cleanup_json_ json_t *have = nag_addrs(ns, nsdev);
	_cleanup_json_ json_t *hset = json_object();
	json_array_foreach(have, i, v) {
		const char *a = json_string_value(v);
		json_object_set_new(hset, a, json_true());
		if (!json_object_get(want, a))
			nag_ip(0, ns, "addr del %s dev %s", a, nsdev);
	}
	const char *a;
	json_t *unused;
	json_object_foreach(want, a, unused)
		if (!json_object_get(hset, a))
			nag_ip(0, ns, strchr(a, ':') ? "addr add %s dev %s nodad"
			                             : "addr add %s dev %s", a, nsdev);
	return 0;
}

/* What plug() depends on, as a string. */
static char *plug_signature(json_t *port, json_t *dsubnets, json_t *ips)
{
	_cleanup_free_ char *a = json_dumps(dsubnets, JSON_COMPACT | JSON_SORT_KEYS);
	_cleanup_free_ char *b = json_dumps(ips, JSON_COMPACT | JSON_SORT_KEYS);
	char *s = NULL;
	if (asprintf(&s, "%s %s %s %s", kjson_str(port, "id"), kjson_str(port, "mac_address"),
	             a ? a : "", b ? b : "") < 0)
		abort();
	return s;
}

/* ---- dnsmasq ---- */

static char *dhcp_dir(const char *nid)
{
	char sub[128];
	snprintf(sub, sizeof(sub), "dhcp/%s", nid);
	return nag_state_path(sub);
}

static void host_name_of(const char *ip, char out[80])
{
	snprintf(out, 80, "host-%s", ip);
	for (char *p = out; *p; p++)
		if (*p == '.' || *p == ':')
			*p = '-';
}

/* Write when different; true when the file changed. */
static bool write_if_changed(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	_cleanup_free_ char *cur = kutil_read_file(path, NULL);
	if (cur && !strcmp(cur, text))
		return false;
	if (kutil_write_file(path, text, strlen(text), 0644) != 0)
		klog_warn("dhcp-agent", "cannot write %s: %s", path, strerror(errno));
	return true;
}

/* host, addn_hosts and opts; true when one of them changed. */
static bool write_files(const char *dir, json_t *net, json_t *dsubnets, json_t *dport_ips)
{
	const char *nid = kjson_str(net, "id");
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT p.mac_address, a.subnet_id, "
	        "a.ip_address FROM net_ip_allocation a JOIN net_port p ON p.id = a.port_id "
	        "WHERE a.network_id = ? ORDER BY a.ip_address", "s", nid);
	_cleanup_free_ char *hosts = NULL, *addn = NULL, *opts = NULL;
	size_t hl = 0, al = 0, ol = 0;
	FILE *hf = open_memstream(&hosts, &hl);
	FILE *af = open_memstream(&addn, &al);
	FILE *of = open_memstream(&opts, &ol);
	_cleanup_json_ json_t *dsids = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(dsubnets, i, v)
		json_object_set(dsids, kjson_str(v, "id"), v);
	json_array_foreach(rows, i, v) {
		if (!json_object_get(dsids, kjson_str(v, "subnet_id")))
			continue;
		addr a;
		char t[INET6_ADDRSTRLEN], name[80];
		const char *mac = kjson_str(v, "mac_address");
		if (!addr_parse(kjson_str(v, "ip_address"), &a) || !mac || strlen(mac) != 17)
			continue;
		addr_text(&a, t);
		host_name_of(t, name);
		fprintf(hf, a.ver == 4 ? "%s,%s.openstacklocal,%s\n"
		                       : "%s,%s.openstacklocal,[%s]\n", mac, name, t);
		fprintf(af, "%s\t%s.openstacklocal %s\n", t, name, name);
		pass_ports++;
	}
	json_array_foreach(dsubnets, i, v) {
		const char *sid = kjson_str(v, "id");
		int ver = (int)json_integer_value(json_object_get(v, "ip_version"));
		_cleanup_json_ json_t *dns = kdb_query_json(net_db, "SELECT address FROM "
		        "net_dns_nameserver WHERE subnet_id = ? ORDER BY ord", "s", sid);
		if (json_array_size(dns)) {
			fprintf(of, "tag:subnet-%s,%s", sid, ver == 4 ? "option:dns-server"
			                                             : "option6:dns-server");
			size_t k;
			json_t *d;
			json_array_foreach(dns, k, d) {
				addr x;
				char t[INET6_ADDRSTRLEN];
				if (!addr_parse(kjson_str(d, "address"), &x))
					continue;
				addr_text(&x, t);
				fprintf(of, ver == 4 ? ",%s" : ",[%s]", t);
			}
			fprintf(of, "\n");
		}
		if (ver != 4)
			continue;
		const char *gw = kjson_str(v, "gateway_ip");
		addr g;
		char gt[INET6_ADDRSTRLEN] = "";
		if (gw && addr_parse(gw, &g) && g.ver == 4)
			addr_text(&g, gt);
		/* the DHCP port's address in this subnet: next hop to the metadata proxy */
		char mine[INET6_ADDRSTRLEN] = "";
		size_t k;
		json_t *ip;
		json_array_foreach(dport_ips, k, ip)
			if (!strcmp(kjson_str(ip, "subnet_id"), sid))
				snprintf(mine, sizeof(mine), "%s", kjson_str(ip, "ip_address"));
		_cleanup_json_ json_t *routes = kdb_query_json(net_db, "SELECT destination, "
		        "nexthop FROM net_host_route WHERE subnet_id = ? ORDER BY destination", "s",
		        sid);
		char *cr = NULL;
		size_t crl = 0;
		FILE *cf = open_memstream(&cr, &crl);
		bool any = false;
		if (mine[0] && kconf_get_bool(kumo_conf, "network", "enable_metadata_proxy", true)) {
			fprintf(cf, "169.254.169.254/32,%s", mine);
			any = true;
		}
		json_array_foreach(routes, k, ip) {
			const char *dst = kjson_str(ip, "destination");
			const char *nh = kjson_str(ip, "nexthop");
			if (!dst || !nh || strchr(dst, ':') || strchr(nh, ':') ||
			    strchr(dst, ',') || strchr(nh, ','))
				continue;
			fprintf(cf, "%s%s,%s", any ? "," : "", dst, nh);
			any = true;
		}
		if (gt[0]) {
			fprintf(cf, "%s0.0.0.0/0,%s", any ? "," : "", gt);
			any = true;
		}
		fclose(cf);
		if (any) {
			fprintf(of, "tag:subnet-%s,option:classless-static-route,%s\n", sid, cr);
			fprintf(of, "tag:subnet-%s,249,%s\n", sid, cr);
		}
		free(cr);
		if (gt[0])
			fprintf(of, "tag:subnet-%s,option:router,%s\n", sid, gt);
		else
			fprintf(of, "tag:subnet-%s,option:router\n", sid);
		long mtu = (long)json_integer_value(json_object_get(net, "mtu"));
		if (mtu >= 68)
			fprintf(of, "tag:subnet-%s,option:mtu,%ld\n", sid, mtu);
	}
	fclose(hf);
	fclose(af);
	fclose(of);
	bool changed = false;
	changed |= write_if_changed(dir, "host", hosts ? hosts : "");
	changed |= write_if_changed(dir, "addn_hosts", addn ? addn : "");
	changed |= write_if_changed(dir, "opts", opts ? opts : "");
	return changed;
}

/* Leases of addresses whose port is gone (or got another MAC): released
 * with dnsmasq-utils' dhcp_release, as Neutron does, so that an address
 * given back is at once available to its next port - dnsmasq would
 * otherwise refuse it to the new MAC until the old lease expired.  IPv4
 * only (dhcp_release6 exists for v6 leases but v6 here is SLAAC/stateless
 * in practice). */
static void release_stale_leases(const char *nid, const char *dir, json_t *port)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/leases", dir);
	_cleanup_free_ char *leases = kutil_read_file(path, NULL);
	if (!leases || !*leases)
		return;
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT p.mac_address, "
	        "a.ip_address FROM net_ip_allocation a JOIN net_port p ON p.id = a.port_id "
	        "WHERE a.network_id = ?", "s", nid);
	if (!rows)
		return;
	_cleanup_json_ json_t *live = json_object();     /* "ip mac" -> true */
	size_t i;
	json_t *v;
	json_array_foreach(rows, i, v) {
		char key[128];
		snprintf(key, sizeof(key), "%s %s", kjson_str(v, "ip_address"),
		         kjson_str(v, "mac_address"));
		json_object_set_new(live, key, json_true());
	}
	const char *tool = nag_tool("dhcp_release");
	char dev[16], ns[128];
	nag_devname(dev, "ns-", kjson_str(port, "id"));
	snprintf(ns, sizeof(ns), "qdhcp-%s", nid);
	char *save = NULL;
	for (char *line = strtok_r(leases, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char exp[32], mac[32], ip[64];
		if (sscanf(line, "%31s %31s %63s", exp, mac, ip) != 3 || strchr(ip, ':'))
			continue;
		char key[128];
		snprintf(key, sizeof(key), "%s %s", ip, mac);
		if (json_object_get(live, key))
			continue;
		if (!tool) {
			klog_warn("dhcp-agent", "dhcp_release missing (dnsmasq-utils): the stale lease "
			          "of %s stays until it expires", ip);
			return;
		}
		const char *av[] = { tool, dev, ip, mac, NULL };
		if (nag_ns_runv(ns, NAG_QUIET, NULL, NULL, av) == 0)
			klog_info("dhcp-agent", "released the lease of %s (%s) on network %s", ip, mac,
			          nid);
	}
}

/* dnsmasq's command line for a network (new array of strings). */
static json_t *dnsmasq_argv(const char *dir, json_t *port, json_t *dsubnets)
{
	char nsdev[16];
	nag_devname(nsdev, "ns-", kjson_str(port, "id"));
	long lease = nag_conf_int("dhcp_lease_duration", 86400);
	json_t *a = json_array();
	json_array_append_new(a, json_string(nag_tool("dnsmasq") ? nag_tool("dnsmasq")
	                                                          : "dnsmasq"));
	const char *fixed[] = { "--no-hosts", "--no-resolv", "--conf-file=/dev/null",
	                        "--except-interface=lo", "--bind-dynamic",
	                        "--domain=openstacklocal", "--user=root", "--group=root" };
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		json_array_append_new(a, json_string(fixed[i]));
	json_array_append_new(a, json_sprintf("--interface=%s", nsdev));
	json_array_append_new(a, json_sprintf("--pid-file=%s/pid", dir));
	json_array_append_new(a, json_sprintf("--dhcp-hostsfile=%s/host", dir));
	json_array_append_new(a, json_sprintf("--addn-hosts=%s/addn_hosts", dir));
	json_array_append_new(a, json_sprintf("--dhcp-optsfile=%s/opts", dir));
	json_array_append_new(a, json_sprintf("--dhcp-leasefile=%s/leases", dir));
	json_array_append_new(a, json_sprintf("--log-facility=%s/dnsmasq.log", dir));
	double leases = 0;
	size_t i;
	json_t *s;
	json_array_foreach(dsubnets, i, s) {
		addr n;
		int plen;
		char t[INET6_ADDRSTRLEN];
		if (!cidr_split(kjson_str(s, "cidr"), &n, &plen))
			continue;
		addr_text(&n, t);
		if (n.ver == 4) {
			uint32_t m = plen ? 0xffffffffu << (32 - plen) : 0;
			json_array_append_new(a, json_sprintf("--dhcp-range=set:subnet-%s,%s,"
			                      "static,%u.%u.%u.%u,%lds", kjson_str(s, "id"), t,
			                      m >> 24, (m >> 16) & 255, (m >> 8) & 255, m & 255,
			                      lease));
			leases += (double)(1ull << (32 - plen));
		} else {
			json_array_append_new(a, json_sprintf("--dhcp-range=set:subnet-%s,%s,"
			                      "static,%d,%lds", kjson_str(s, "id"), t, plen,
			                      lease));
			leases += plen <= 104 ? 16777216.0 : (double)(1ull << (128 - plen));
		}
	}
	if (leases > 16777216.0)
		leases = 16777216.0;
	json_array_append_new(a, json_sprintf("--dhcp-lease-max=%lld", (long long)leases));
	return a;
}

/* The running dnsmasq of a state dir: pid and whether its argv is `want`. */
static pid_t running_pid(const char *dir, json_t *want, bool *same)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/pid", dir);
	_cleanup_free_ char *s = kutil_read_file(path, NULL);
	*same = false;
	long pid = s ? strtol(s, NULL, 10) : 0;
	if (pid <= 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	size_t n = 0;
	_cleanup_free_ char *cmd = kutil_read_file(path, &n);
	char needle[512];
	snprintf(needle, sizeof(needle), "--pid-file=%s/pid", dir);
	bool ours = false;
	size_t idx = 0;
	*same = true;
	for (size_t off = 0; cmd && off < n; off += strlen(cmd + off) + 1, idx++) {
		if (!strcmp(cmd + off, needle))
			ours = true;
		const char *w = want ? json_string_value(json_array_get(want, idx)) : NULL;
		if (want && idx > 0 && (!w || strcmp(w, cmd + off) != 0))
			*same = false;
	}
	if (want && idx != json_array_size(want))
		*same = false;
	if (!ours) {
		*same = false;
		return 0;
	}
	return (pid_t)pid;
}

static void stop_pid(pid_t pid)
{
	if (pid <= 1 || kill(pid, SIGTERM) != 0)
		return;
	for (int i = 0; i < 100; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/%d", (int)pid);
		if (access(p, F_OK) != 0)
			return;
		/* a zombie of someone else's still has /proc; its cmdline is empty */
		snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
		size_t n = 0;
		_cleanup_free_ char *c = kutil_read_file(p, &n);
		if (!c || n == 0)
			return;
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
}

static int run_dnsmasq(const char *nid, const char *dir, json_t *port, json_t *dsubnets,
                       bool files_changed)
{
	_cleanup_json_ json_t *argv = dnsmasq_argv(dir, port, dsubnets);
	bool same;
	pid_t pid = running_pid(dir, argv, &same);
	if (pid && same) {
		if (files_changed) {
			kill(pid, SIGHUP);
			klog_debug("dhcp-agent", "dnsmasq %d of network %s reloaded", (int)pid,
			           nid);
		}
		return 0;
	}
	if (pid) {
		klog_info("dhcp-agent", "restarting dnsmasq of network %s (subnets changed)", nid);
		stop_pid(pid);
	}
	char ns[128];
	snprintf(ns, sizeof(ns), "qdhcp-%s", nid);
	size_t n = json_array_size(argv);
	const char **av = calloc(n + 1, sizeof(*av));
	for (size_t i = 0; i < n; i++)
		av[i] = json_string_value(json_array_get(argv, i));
	int rc = nag_ns_runv(ns, 0, NULL, NULL, av);
	free(av);
	if (rc == 0)
		klog_info("dhcp-agent", "dnsmasq started for network %s", nid);
	return rc == 0 ? 0 : -1;
}

/* Every dnsmasq of ours: object network id -> pid (from /proc). */
static json_t *our_dnsmasqs(const char *base)
{
	json_t *o = json_object();
	DIR *d = opendir("/proc");
	if (!d)
		return o;
	char needle[512];
	snprintf(needle, sizeof(needle), "--pid-file=%s/", base);
	size_t nl = strlen(needle);
	for (struct dirent *e; (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 1)
			continue;
		char p[64];
		snprintf(p, sizeof(p), "/proc/%ld/cmdline", pid);
		size_t n = 0;
		_cleanup_free_ char *cmd = kutil_read_file(p, &n);
		if (!cmd || n == 0 || !strstr(cmd, "dnsmasq"))
			continue;
		for (size_t off = 0; off < n; off += strlen(cmd + off) + 1) {
			if (strncmp(cmd + off, needle, nl) != 0)
				continue;
			char id[128];
			snprintf(id, sizeof(id), "%s", cmd + off + nl);
			char *slash = strchr(id, '/');
			if (slash)
				*slash = '\0';
			json_object_set_new(o, id, json_integer(pid));
		}
	}
	closedir(d);
	return o;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void teardown(const char *nid, const char *base, json_t *procs)
{
	json_t *pid = json_object_get(procs, nid);
	if (pid)
		stop_pid((pid_t)json_integer_value(pid));
	char ns[128];
	snprintf(ns, sizeof(ns), "qdhcp-%s", nid);
	if (nag_ns_exists(ns)) {
		/* the host ends of its veths go with the namespace's ends */
		_cleanup_json_ json_t *links = nag_ns_links(ns);
		size_t i;
		json_t *v;
		json_array_foreach(links, i, v) {
			const char *n = kjson_str(v, "ifname");
			if (n && !strncmp(n, "ns-", 3))
				nag_ip(NAG_QUIET, ns, "link del %s", n);
		}
		nag_ns_delete(ns);
		klog_info("dhcp-agent", "removed %s", ns);
	}
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/%s", base, nid);
	remove_dir(dir);
}

/* ---- the pass ---- */

static bool dhcp_subnet(json_t *s)
{
	if (!json_integer_value(json_object_get(s, "enable_dhcp")))
		return false;
	if (json_integer_value(json_object_get(s, "ip_version")) == 4)
		return true;
	const char *mode = kjson_str(s, "ipv6_address_mode");
	return !mode || !strcmp(mode, "dhcpv6-stateful");
}

static void dhcp_reconcile(unsigned changes)
{
	if (!net_db || !(changes & (NAG_CH_FULL | NAG_CH_NETWORK | NAG_CH_SUBNET | NAG_CH_PORT)))
		return;
	if (!nag_tool("dnsmasq")) {
		static bool said;
		if (!said)
			klog_error("dhcp-agent", "dnsmasq is not installed: no DHCP "
			           "(tools/install-deps.sh)");
		said = true;
		return;
	}
	_cleanup_json_ json_t *nets = kdb_query_json(net_db, "SELECT id, project_id, "
	        "admin_state_up, mtu, port_security_enabled FROM net_network ORDER BY id", "");
	_cleanup_json_ json_t *subnets = kdb_query_json(net_db, "SELECT id, network_id, "
	        "ip_version, cidr, gateway_ip, enable_dhcp, ipv6_address_mode FROM net_subnet "
	        "ORDER BY network_id, ip_version, id", "");
	_cleanup_json_ json_t *dports = kdb_query_json(net_db, "SELECT id, network_id, device_id "
	        "FROM net_port WHERE device_owner = ?", "s", DHCP_OWNER);
	if (!nets || !subnets || !dports)
		return;
	_cleanup_free_ char *base = nag_state_path("dhcp");
	_cleanup_json_ json_t *procs = our_dnsmasqs(base);
	_cleanup_json_ json_t *wanted = json_object();   /* network id -> true */
	int nsub = 0;
	pass_ports = 0;
	size_t i, k;
	json_t *net, *s;
	json_array_foreach(nets, i, net) {
		const char *nid = kjson_str(net, "id");
		if (!json_integer_value(json_object_get(net, "admin_state_up")))
			continue;
		_cleanup_json_ json_t *ds = json_array();
		json_array_foreach(subnets, k, s)
			if (!strcmp(kjson_str(s, "network_id"), nid) && dhcp_subnet(s))
				json_array_append(ds, s);
		if (!json_array_size(ds))
			continue;
		json_object_set_new(wanted, nid, json_true());
		nsub += (int)json_array_size(ds);
		_cleanup_json_ json_t *port = ensure_port(net, ds);
		if (!port)
			continue;
		_cleanup_json_ json_t *ips = kdb_query_json(net_db, "SELECT subnet_id, ip_address "
		        "FROM net_ip_allocation WHERE port_id = ?", "s", kjson_str(port, "id"));
		_cleanup_free_ char *dir = dhcp_dir(nid);     /* the ownership mark, first */
		/* the namespace is checked on full passes, or when its inputs changed */
		_cleanup_free_ char *sig = plug_signature(port, ds, ips);
		const char *prev = json_string_value(json_object_get(plugged, nid));
		char tap[16];
		nag_devname(tap, "tap", kjson_str(port, "id"));
		if ((changes & NAG_CH_FULL) || !prev || strcmp(prev, sig) != 0 ||
		    !nag_link_exists(tap)) {
			if (plug(net, port, ds, ips) != 0) {
				klog_warn("dhcp-agent", "network %s: namespace not ready, retrying "
				          "later", nid);
				json_object_del(plugged, nid);
				continue;
			}
			json_object_set_new(plugged, nid, json_string(sig));
		}
		bool changed = write_files(dir, net, ds, ips);
		run_dnsmasq(nid, dir, port, ds, changed);
		if (changed)
			release_stale_leases(nid, dir, port);
	}
	last_networks = (int)json_object_size(wanted);
	last_ports = pass_ports;
	last_subnets = nsub;

	/* DHCP ports of this host where DHCP is gone; ports of vanished networks */
	_cleanup_json_ json_t *net_ids = json_object();
	json_array_foreach(nets, i, net)
		json_object_set_new(net_ids, kjson_str(net, "id"), json_true());
	char mine[64];
	snprintf(mine, sizeof(mine), "dhcp%s-", host_uuid);
	json_array_foreach(dports, i, s) {
		const char *nid = kjson_str(s, "network_id");
		const char *dev = kjson_str(s, "device_id");
		bool here = dev && !strncmp(dev, mine, strlen(mine));
		if ((here && !json_object_get(wanted, nid)) || !json_object_get(net_ids, nid))
			delete_port(kjson_str(s, "id"));
	}
	/* namespaces, processes and directories nobody wants */
	_cleanup_json_ json_t *stale = json_object();
	_cleanup_json_ json_t *nss = nag_ns_list("qdhcp-");
	json_array_foreach(nss, i, s)     /* other clouds' namespaces are not in our db */
		if (json_object_get(net_ids, json_string_value(s) + 6))
			json_object_set_new(stale, json_string_value(s) + 6, json_true());
	const char *id;
	json_t *v;
	json_object_foreach(procs, id, v)
		json_object_set_new(stale, id, json_true());
	DIR *d = opendir(base);
	if (d) {
		for (struct dirent *e; (e = readdir(d));)
			if (e->d_name[0] != '.')
				json_object_set_new(stale, e->d_name, json_true());
		closedir(d);
	}
	json_object_foreach(stale, id, v) {
		if (json_object_get(wanted, id))
			continue;
		teardown(id, base, procs);
		json_object_del(plugged, id);
	}
	nag_kick("metadata", NAG_CH_NETNS);
}

static int dhcp_init(void)
{
	make_host_uuid();
	plugged = json_object();
	return 0;
}

static void dhcp_fini(void)
{
	json_decref(plugged);
	plugged = NULL;
}

static json_t *dhcp_configurations(void)
{
	return json_pack("{s:s,s:i,s:b,s:b,s:i,s:i,s:i}", "dhcp_driver",
	                 "neutron.agent.linux.dhcp.Dnsmasq", "dhcp_lease_duration",
	                 (int)nag_conf_int("dhcp_lease_duration", 86400), "log_agent_heartbeats", 0,
	                 "notifies_port_ready", 1, "networks", last_networks, "ports", last_ports,
	                 "subnets", last_subnets);
}

const nag_agent nag_dhcp_agent = {
	.name = "dhcp",
	.agent_type = "DHCP agent",
	.binary = "neutron-dhcp-agent",
	.topic = "dhcp_agent",
	.init = dhcp_init,
	.reconcile = dhcp_reconcile,
	.configurations = dhcp_configurations,
	.fini = dhcp_fini,
};
