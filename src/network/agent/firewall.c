/*
 * firewall.c - security groups and anti-spoofing with nftables, for the
 * ports plugged into this host's bridges (the seed's
 * IptablesFirewallDriver + prevent_arp_spoofing, done with nft).
 *
 * Bridged frames meet two tables of ours, both rebuilt whole:
 *
 *   table bridge kumo-sg-<cloud tag>   (sees frames with their bridge ports)
 *     prerouting: a frame from a filtered tap jumps to that port's
 *       anti-spoofing chain "as-<port>": source MAC in the port's MACs,
 *       (MAC, source IP) and ARP (sender MAC, sender IP) in the port's
 *       fixed IPs + allowed address pairs (sets as4-/as6-), IPv6 link-local
 *       from its MAC, DHCP discover from 0.0.0.0 allowed, DHCP/DHCPv6 server
 *       and router advertisement replies from a guest dropped, other
 *       ethertypes dropped.  It also writes the port's index in the high
 *       16 bits of the packet mark;
 *     forward: a frame going out of a filtered tap ORs that port's index
 *       into the low 16 bits of the mark.
 *   table inet kumo-sg-<cloud tag>     (the same frames' IP packets through
 *       br_netfilter, with conntrack: the bridge family can't track
 *       connections without nf_conntrack_bridge, which kernels may lack)
 *     raw prerouting: a conntrack zone per network (stable hash of its
 *       id), so overlapping tenant subnets don't share connections;
 *     forward (only packets that came through one of this cloud's bridges,
 *       since other clouds on the machine mark their own ports' packets):
 *       established/related accepted, then the source port's egress chain
 *       "eg-<port>" (returns when a rule allows, drops otherwise) and the
 *       destination port's ingress chain "in-<port>" (accepts when a rule
 *       allows, drops otherwise), picked by the two halves of the mark.
 *       Rules: ethertype, protocol, port range or ICMP type/code, remote IP
 *       prefix, remote group (a set rg4-/rg6-<group> of the IPs of the
 *       group's ports).  DHCP and the ICMPv6 a host needs always pass.
 *
 * Ports with port_security_enabled = false and the service's own ports
 * (device_owner network:*, as Neutron trusts them) have no chains, so the
 * zero mark half lets their side through.  The whole text is generated from
 * the database and the plugged taps, and loaded with one `nft -f` whose
 * first lines delete the previous tables: the replacement is atomic, and
 * nothing is loaded when the text did not change.  Conntrack entries
 * outlive the reload, so established traffic keeps flowing.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "network/agent/agent.h"
#include "network/network.h"

static char *last_ruleset;      /* under the L2 agent's lock */

/* "kumo-sg-<cloud tag>": clouds sharing the machine keep their own tables */
static const char *table_name(void)
{
	static __thread char name[32];
	snprintf(name, sizeof(name), "kumo-sg-%s", nag_cloud_tag());
	return name;
}

/* ---- validated text for the ruleset ---- */

static bool safe_id(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
	return true;
}

static bool safe_mac(const char *s, char out[18])
{
	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[17] = '\0';
	return true;
}

typedef struct cidr {
	int ver;                   /* 4 or 6 */
	unsigned char a[16];
	int len;
} cidr;

static bool cidr_parse(const char *s, cidr *c)
{
	char buf[64];
	if (!s || strlen(s) >= sizeof(buf))
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, buf, c->a) == 1)
		c->ver = 4;
	else if (inet_pton(AF_INET6, buf, c->a) == 1)
		c->ver = 6;
	else
		return false;
	int max = c->ver == 4 ? 32 : 128;
	c->len = max;
	if (slash) {
		char *end;
		long l = strtol(slash + 1, &end, 10);
		if (*end || l < 0 || l > max || end == slash + 1)
			return false;
		c->len = (int)l;
	}
	/* clear host bits */
	for (int bit = c->len; bit < max; bit++)
		c->a[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
	return true;
}

static void cidr_text(const cidr *c, char out[64])
{
	char a[INET6_ADDRSTRLEN];
	inet_ntop(c->ver == 4 ? AF_INET : AF_INET6, c->a, a, sizeof(a));
	if (c->len == (c->ver == 4 ? 32 : 128))
		snprintf(out, 64, "%s", a);
	else
		snprintf(out, 64, "%s/%d", a, c->len);
}

static bool cidr_contains(const cidr *outer, const cidr *inner)
{
	if (outer->ver != inner->ver || outer->len > inner->len)
		return false;
	for (int bit = 0; bit < outer->len; bit++) {
		unsigned char m = (unsigned char)(0x80 >> (bit % 8));
		if ((outer->a[bit / 8] & m) != (inner->a[bit / 8] & m))
			return false;
	}
	return true;
}

/* An address set: (mac or "", cidr) pairs, nested entries of one MAC dropped
 * (nftables refuses overlapping intervals). */
typedef struct aset {
	struct { char mac[18]; cidr c; } *e;
	size_t n, cap;
} aset;

static void aset_add(aset *s, const char *mac, const cidr *c)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->e[i].mac, mac) != 0)
			continue;
		if (cidr_contains(&s->e[i].c, c))
			return;
		if (cidr_contains(c, &s->e[i].c)) {
			s->e[i] = s->e[--s->n];
			i--;
		}
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 8;
		s->e = realloc(s->e, s->cap * sizeof(*s->e));
		if (!s->e)
			abort();
	}
	snprintf(s->e[s->n].mac, sizeof(s->e[s->n].mac), "%s", mac);
	s->e[s->n].c = *c;
	s->n++;
}

static void aset_print(FILE *f, const aset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		char t[64];
		cidr_text(&s->e[i].c, t);
		if (s->e[i].mac[0])
			fprintf(f, "%s%s . %s", i ? ", " : "", s->e[i].mac, t);
		else
			fprintf(f, "%s%s", i ? ", " : "", t);
	}
}

static void aset_free(aset *s)
{
	free(s->e);
	s->e = NULL;
	s->n = s->cap = 0;
}

/* fe80::/64 + EUI-64 of a MAC. */
static void mac_lla(const char *mac, cidr *c)
{
	unsigned int b[6];
	sscanf(mac, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]);
	memset(c, 0, sizeof(*c));
	c->ver = 6;
	c->len = 128;
	c->a[0] = 0xfe;
	c->a[1] = 0x80;
	c->a[8] = (unsigned char)(b[0] ^ 0x02);
	c->a[9] = (unsigned char)b[1];
	c->a[10] = (unsigned char)b[2];
	c->a[11] = 0xff;
	c->a[12] = 0xfe;
	c->a[13] = (unsigned char)b[3];
	c->a[14] = (unsigned char)b[4];
	c->a[15] = (unsigned char)b[5];
}

/* ---- security group rules ---- */

/* IANA number of a Neutron protocol value; -1 = any; -2 = unknown. */
static int proto_number(const char *p)
{
	static const struct { const char *name; int num; } names[] = {
		{ "ah", 51 }, { "dccp", 33 }, { "egp", 8 }, { "esp", 50 }, { "gre", 47 },
		{ "hopopt", 0 }, { "icmp", 1 }, { "igmp", 2 }, { "ipip", 4 }, { "ipv6-encap", 41 },
		{ "ipv6-frag", 44 }, { "ipv6-icmp", 58 }, { "icmpv6", 58 }, { "ipv6-nonxt", 59 },
		{ "ipv6-opts", 60 }, { "ipv6-route", 43 }, { "ospf", 89 }, { "pgm", 113 },
		{ "rsvp", 46 }, { "sctp", 132 }, { "tcp", 6 }, { "udp", 17 }, { "udplite", 136 },
		{ "vrrp", 112 },
	};
	if (!p || !*p || !strcmp(p, "any"))
		return -1;
	if (isdigit((unsigned char)p[0])) {
		char *end;
		long n = strtol(p, &end, 10);
		return *end || n < 0 || n > 255 ? -2 : (int)n;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcasecmp(p, names[i].name))
			return names[i].num;
	return -2;
}

static bool has_ports(int proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136 || proto == 33;
}

/* One rule as an nft statement; false when it can match nothing here. */
static bool rule_text(FILE *f, json_t *r, bool ingress, json_t *rg_needed)
{
	const char *eth = kjson_str(r, "ethertype");
	int ver = eth && !strcmp(eth, "IPv6") ? 6 : 4;
	const char *fam = ver == 4 ? "ip" : "ip6";
	const char *dir = ingress ? "saddr" : "daddr";
	if (kjson_str(r, "remote_address_group_id"))
		return false;   /* address groups are not part of this service */
	char buf[512] = "";
	size_t off = 0;
#define ADD(...) off += (size_t)snprintf(buf + off, sizeof(buf) - off, __VA_ARGS__)
	ADD("meta nfproto %s", ver == 4 ? "ipv4" : "ipv6");
	const char *prefix = kjson_str(r, "remote_ip_prefix");
	if (prefix) {
		cidr c;
		if (!cidr_parse(prefix, &c) || c.ver != ver)
			return false;
		if (c.len > 0) {
			char t[64];
			cidr_text(&c, t);
			ADD(" %s %s %s", fam, dir, t);
		}
	}
	const char *rg = kjson_str(r, "remote_group_id");
	if (rg) {
		if (!safe_id(rg))
			return false;
		ADD(" %s %s @rg%d-%s", fam, dir, ver, rg);
		json_object_set_new(rg_needed, rg, json_true());
	}
	int proto = proto_number(kjson_str(r, "protocol"));
	if (proto == -2)
		return false;
	if (proto == 1 && ver == 6)
		proto = 58;     /* Neutron: "icmp" in an IPv6 rule is ICMPv6 */
	if ((proto == 58 && ver == 4) || (proto == 1 && ver == 6))
		return false;
	json_t *jmin = json_object_get(r, "port_range_min");
	json_t *jmax = json_object_get(r, "port_range_max");
	long min = json_is_integer(jmin) ? (long)json_integer_value(jmin) : -1;
	long max = json_is_integer(jmax) ? (long)json_integer_value(jmax) : -1;
	if (proto > 0) {
		ADD(" meta l4proto %d", proto);
		if (has_ports(proto) && min >= 0) {
			if (max >= 0 && max != min)
				ADD(" th dport %ld-%ld", min, max > min ? max : min);
			else
				ADD(" th dport %ld", min);
		} else if ((proto == 1 || proto == 58) && min >= 0 && min <= 255) {
			const char *it = proto == 1 ? "icmp" : "icmpv6";
			ADD(" %s type %ld", it, min);
			if (max >= 0 && max <= 255)
				ADD(" %s code %ld", it, max);
		}
	}
#undef ADD
	if (off >= sizeof(buf))
		return false;
	fprintf(f, "\t\t%s %s\n", buf, ingress ? "accept" : "return");
	return true;
}

/* ---- the ruleset ---- */

static unsigned zone_of(const char *network_id)
{
	uint32_t h = 2166136261u;
	for (const char *p = network_id; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % 65000u + 1u;
}

/* Group rows of a query by one column into object: key -> array of rows. */
static json_t *group_by(json_t *rows, const char *col)
{
	json_t *o = json_object();
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r) {
		const char *k = kjson_str(r, col);
		if (!k)
			continue;
		json_t *a = json_object_get(o, k);
		if (!a) {
			a = json_array();
			json_object_set_new(o, k, a);
		}
		json_array_append(a, r);
	}
	return o;
}

typedef struct fwport {
	const char *tap;
	const char *id;
	json_t *row;
	unsigned idx;
} fwport;

static int cmp_fwport(const void *a, const void *b)
{
	return strcmp(((const fwport *)a)->tap, ((const fwport *)b)->tap);
}

static void antispoof(FILE *f, fwport *p, json_t *ips, json_t *aaps)
{
	char mac[18];
	safe_mac(kjson_str(p->row, "mac_address"), mac);
	aset v4 = { 0 }, v6 = { 0 };
	_cleanup_json_ json_t *macs = json_object();
	json_object_set_new(macs, mac, json_true());
	size_t i;
	json_t *r;
	json_array_foreach(ips, i, r) {
		cidr c;
		if (cidr_parse(kjson_str(r, "ip_address"), &c))
			aset_add(c.ver == 4 ? &v4 : &v6, mac, &c);
	}
	json_array_foreach(aaps, i, r) {
		cidr c;
		char m[18];
		if (!safe_mac(kjson_str(r, "mac_address"), m))
			snprintf(m, sizeof(m), "%s", mac);
		if (!cidr_parse(kjson_str(r, "ip_address"), &c))
			continue;
		aset_add(c.ver == 4 ? &v4 : &v6, m, &c);
		json_object_set_new(macs, m, json_true());
	}
	const char *m;
	json_t *unused;
	json_object_foreach(macs, m, unused) {
		cidr lla;
		mac_lla(m, &lla);
		aset_add(&v6, m, &lla);
	}
	if (v4.n) {
		fprintf(f, "\tset as4-%s {\n\t\ttype ether_addr . ipv4_addr\n\t\tflags interval\n"
		        "\t\telements = { ", p->id);
		aset_print(f, &v4);
		fprintf(f, " }\n\t}\n");
	}
	fprintf(f, "\tset as6-%s {\n\t\ttype ether_addr . ipv6_addr\n\t\tflags interval\n"
	        "\t\telements = { ", p->id);
	aset_print(f, &v6);
	fprintf(f, " }\n\t}\n");

	fprintf(f, "\tchain as-%s {\n", p->id);
	fprintf(f, "\t\tmeta mark set 0x%08x\n", p->idx << 16);
	fprintf(f, "\t\tether saddr != { ");
	bool first = true;
	json_object_foreach(macs, m, unused) {
		fprintf(f, "%s%s", first ? "" : ", ", m);
		first = false;
	}
	fprintf(f, " } drop\n");
	if (v4.n)
		fprintf(f, "\t\tether type arp arp saddr ether . arp saddr ip != @as4-%s drop\n",
		        p->id);
	else
		fprintf(f, "\t\tether type arp drop\n");
	fprintf(f, "\t\tether type ip ip saddr 0.0.0.0 ip daddr 255.255.255.255 "
	        "udp sport 68 udp dport 67 return\n");
	if (v4.n)
		fprintf(f, "\t\tether type ip ether saddr . ip saddr != @as4-%s drop\n", p->id);
	else
		fprintf(f, "\t\tether type ip drop\n");
	fprintf(f, "\t\tether type ip udp sport 67 udp dport 68 drop\n");
	fprintf(f, "\t\tether type ip6 ip6 saddr :: icmpv6 type { nd-neighbor-solicit, "
	        "nd-router-solicit, mld2-listener-report } return\n");
	fprintf(f, "\t\tether type ip6 ether saddr . ip6 saddr != @as6-%s drop\n", p->id);
	fprintf(f, "\t\tether type ip6 icmpv6 type { nd-router-advert, nd-redirect } drop\n");
	fprintf(f, "\t\tether type ip6 udp sport 547 udp dport 546 drop\n");
	fprintf(f, "\t\tether type != { ip, ip6, arp } drop\n");
	fprintf(f, "\t}\n");
	aset_free(&v4);
	aset_free(&v6);
}

static void sg_chains(FILE *f, fwport *p, json_t *sgs, json_t *rules_by_sg, json_t *rg_needed)
{
	for (int ingress = 0; ingress <= 1; ingress++) {
		fprintf(f, "\tchain %s-%s {\n", ingress ? "in" : "eg", p->id);
		fprintf(f, "\t\tct state invalid drop\n");
		if (ingress) {
			fprintf(f, "\t\tmeta nfproto ipv4 udp sport 67 udp dport 68 accept\n");
			fprintf(f, "\t\tmeta nfproto ipv6 udp sport 547 udp dport 546 accept\n");
			fprintf(f, "\t\ticmpv6 type { nd-router-advert, nd-neighbor-solicit, "
			        "nd-neighbor-advert, mld-listener-query } accept\n");
		} else {
			fprintf(f, "\t\tmeta nfproto ipv4 udp sport 68 udp dport 67 return\n");
			fprintf(f, "\t\tmeta nfproto ipv6 udp sport 546 udp dport 547 return\n");
			fprintf(f, "\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, "
			        "nd-neighbor-advert, mld-listener-report, mld2-listener-report } "
			        "return\n");
		}
		size_t i, k;
		json_t *sg, *r;
		json_array_foreach(sgs, i, sg) {
			const char *sgid = kjson_str(sg, "security_group_id");
			json_t *rules = sgid ? json_object_get(rules_by_sg, sgid) : NULL;
			json_array_foreach(rules, k, r) {
				const char *d = kjson_str(r, "direction");
				if (d && !strcmp(d, ingress ? "ingress" : "egress"))
					rule_text(f, r, ingress, rg_needed);
			}
		}
		fprintf(f, "\t\tdrop\n\t}\n");
	}
}

/* rg4-/rg6- sets: the addresses of the ports in each remote group. */
static void remote_sets(FILE *f, json_t *rg_needed, json_t *ports_by_sg, json_t *ips_by_port,
                        json_t *aaps_by_port)
{
	const char *sg;
	json_t *unused;
	json_object_foreach(rg_needed, sg, unused) {
		aset v[2] = { { 0 }, { 0 } };
		size_t i, k;
		json_t *m, *r;
		json_array_foreach(json_object_get(ports_by_sg, sg), i, m) {
			const char *pid = kjson_str(m, "port_id");
			json_array_foreach(json_object_get(ips_by_port, pid), k, r) {
				cidr c;
				if (cidr_parse(kjson_str(r, "ip_address"), &c))
					aset_add(&v[c.ver == 6], "", &c);
			}
			json_array_foreach(json_object_get(aaps_by_port, pid), k, r) {
				cidr c;
				if (cidr_parse(kjson_str(r, "ip_address"), &c))
					aset_add(&v[c.ver == 6], "", &c);
			}
		}
		for (int ver6 = 0; ver6 <= 1; ver6++) {
			fprintf(f, "\tset rg%d-%s {\n\t\ttype %s\n\t\tflags interval\n",
			        ver6 ? 6 : 4, sg, ver6 ? "ipv6_addr" : "ipv4_addr");
			if (v[ver6].n) {
				fprintf(f, "\t\telements = { ");
				aset_print(f, &v[ver6]);
				fprintf(f, " }\n");
			}
			fprintf(f, "\t}\n");
			aset_free(&v[ver6]);
		}
	}
}

static char *build(json_t *plugged, json_t *bridges)
{
	_cleanup_json_ json_t *ports = kdb_query_json(net_db, "SELECT id, network_id, mac_address, "
	        "port_security_enabled, device_owner FROM net_port", "");
	_cleanup_json_ json_t *ips = kdb_query_json(net_db, "SELECT port_id, ip_address "
	        "FROM net_ip_allocation ORDER BY port_id, ip_address", "");
	_cleanup_json_ json_t *aaps = kdb_query_json(net_db, "SELECT port_id, ip_address, "
	        "mac_address FROM net_allowed_address_pair ORDER BY port_id, ip_address", "");
	_cleanup_json_ json_t *psg = kdb_query_json(net_db, "SELECT port_id, security_group_id "
	        "FROM net_port_security_group ORDER BY port_id, security_group_id", "");
	_cleanup_json_ json_t *rules = kdb_query_json(net_db, "SELECT id, security_group_id, "
	        "direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, "
	        "remote_group_id, remote_address_group_id FROM net_security_group_rule "
	        "ORDER BY security_group_id, id", "");
	if (!ports || !ips || !aaps || !psg || !rules)
		return NULL;
	_cleanup_json_ json_t *port_by_id = group_by(ports, "id");
	_cleanup_json_ json_t *ips_by_port = group_by(ips, "port_id");
	_cleanup_json_ json_t *aaps_by_port = group_by(aaps, "port_id");
	_cleanup_json_ json_t *sgs_by_port = group_by(psg, "port_id");
	_cleanup_json_ json_t *ports_by_sg = group_by(psg, "security_group_id");
	_cleanup_json_ json_t *rules_by_sg = group_by(rules, "security_group_id");
	_cleanup_json_ json_t *rg_needed = json_object();

	/* the filtered ports, in a stable order */
	size_t n = 0, cap = json_object_size(plugged) + 1;
	_cleanup_free_ fwport *fp = calloc(cap, sizeof(*fp));
	const char *tap;
	json_t *pidj;
	json_object_foreach(plugged, tap, pidj) {
		const char *pid = json_string_value(pidj);
		json_t *row = json_array_get(json_object_get(port_by_id, pid), 0);
		const char *owner = row ? kjson_str(row, "device_owner") : NULL;
		char mac[18];
		if (!row || !json_integer_value(json_object_get(row, "port_security_enabled")) ||
		    (owner && !strncmp(owner, "network:", 8)) || !safe_id(pid) ||
		    !safe_mac(kjson_str(row, "mac_address"), mac) || strlen(tap) > 15)
			continue;
		fp[n++] = (fwport){ .tap = tap, .id = pid, .row = row };
	}
	qsort(fp, n, sizeof(*fp), cmp_fwport);
	for (size_t i = 0; i < n; i++)
		fp[i].idx = (unsigned)i + 1;
	if (n == 0)
		return strdup("");

	/* this cloud's bridges, and a conntrack zone for each */
	_cleanup_free_ char *brset = NULL, *zones = NULL;
	size_t bl = 0, zl = 0;
	FILE *bf = open_memstream(&brset, &bl);
	FILE *zf = open_memstream(&zones, &zl);
	const char *br;
	json_t *nid;
	bool first = true;
	json_object_foreach(bridges, br, nid) {
		if (!safe_id(br) || !json_string_value(nid))
			continue;
		fprintf(bf, "%s\"%s\"", first ? "" : ", ", br);
		fprintf(zf, "%s\"%s\" : %u", first ? "" : ", ", br,
		        zone_of(json_string_value(nid)));
		first = false;
	}
	fclose(bf);
	fclose(zf);
	if (first)
		return strdup("");

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	const char *t = table_name();
	fprintf(f, "table bridge %s\ndelete table bridge %s\n", t, t);
	fprintf(f, "table bridge %s {\n", t);
	for (size_t i = 0; i < n; i++)
		antispoof(f, &fp[i], json_object_get(ips_by_port, fp[i].id),
		          json_object_get(aaps_by_port, fp[i].id));
	for (size_t i = 0; i < n; i++)
		fprintf(f, "\tchain dst-%s {\n\t\tmeta mark set meta mark or 0x%08x\n\t}\n",
		        fp[i].id, fp[i].idx);
	fprintf(f, "\tchain prerouting {\n\t\ttype filter hook prerouting priority -200; "
	        "policy accept;\n\t\tiifname vmap { ");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\"%s\" : jump as-%s", i ? ", " : "", fp[i].tap, fp[i].id);
	fprintf(f, " }\n\t}\n");
	fprintf(f, "\tchain forward {\n\t\ttype filter hook forward priority -200; "
	        "policy accept;\n\t\toifname vmap { ");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\"%s\" : jump dst-%s", i ? ", " : "", fp[i].tap, fp[i].id);
	fprintf(f, " }\n\t}\n}\n");

	fprintf(f, "table inet %s\ndelete table inet %s\n", t, t);
	fprintf(f, "table inet %s {\n", t);
	for (size_t i = 0; i < n; i++)
		sg_chains(f, &fp[i], json_object_get(sgs_by_port, fp[i].id), rules_by_sg,
		          rg_needed);
	remote_sets(f, rg_needed, ports_by_sg, ips_by_port, aaps_by_port);
	fprintf(f, "\tchain raw {\n\t\ttype filter hook prerouting priority -300; "
	        "policy accept;\n");
	fprintf(f, "\t\tiifname \"brq*\" ct zone set iifname map { %s }\n", zones);
	fprintf(f, "\t}\n");
	/* only packets through this cloud's bridges: other clouds' marks mean other ports */
	fprintf(f, "\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n"
	        "\t\tiifname != { %s } accept\n"
	        "\t\tmeta mark == 0 accept\n"
	        "\t\tct state established,related accept\n", brset);
	fprintf(f, "\t\tmeta mark & 0xffff0000 vmap { ");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s0x%08x : jump eg-%s", i ? ", " : "", fp[i].idx << 16, fp[i].id);
	fprintf(f, " }\n\t\tmeta mark & 0x0000ffff vmap { ");
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s0x%08x : jump in-%s", i ? ", " : "", fp[i].idx, fp[i].id);
	fprintf(f, " }\n\t}\n}\n");
	fclose(f);
	return text;
}

void nag_fw_clear(void)
{
	const char *t = table_name();
	char text[256];
	snprintf(text, sizeof(text), "table bridge %s\ndelete table bridge %s\n"
	         "table inet %s\ndelete table inet %s\n", t, t, t, t);
	nag_nft(NULL, text);
	free(last_ruleset);
	last_ruleset = strdup("");
}

static bool tables_present(void)
{
	_cleanup_free_ char *out = NULL;
	const char *argv[] = { "nft", "list", "tables", NULL };
	if (nag_runv(NAG_QUIET, NULL, &out, argv) != 0)
		return false;
	char b[64], i[64];
	snprintf(b, sizeof(b), "table bridge %s\n", table_name());
	snprintf(i, sizeof(i), "table inet %s\n", table_name());
	return strstr(out, b) && strstr(out, i);
}

int nag_fw_apply(json_t *plugged, json_t *bridges, bool force)
{
	_cleanup_free_ char *text = build(plugged, bridges);
	if (!text)
		return -1;
	if (!text[0]) {
		if (!last_ruleset || last_ruleset[0] || force)
			nag_fw_clear();
		return 0;
	}
	if (last_ruleset && !strcmp(last_ruleset, text) && (!force || tables_present()))
		return 0;
	if (nag_nft(NULL, text) != 0) {
		klog_error("l2-agent", "the security group ruleset was refused by nft; previous "
		           "rules stay in force");
		free(last_ruleset);
		last_ruleset = NULL;
		return -1;
	}
	klog_debug("l2-agent", "security groups: %zu ports filtered", json_object_size(plugged));
	free(last_ruleset);
	last_ruleset = TAKE_PTR(text);
	return 0;
}
