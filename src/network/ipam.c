/*
 * ipam.c - IP address management: IPv4/IPv6 address math, allocation pools
 * and the allocation of fixed IPs to ports (contract: ipam.h).
 *
 * Addresses are 128-bit integers (IPv4 in the low 32 bits) with their
 * version, so one set of functions serves both families; text goes through
 * inet_pton/inet_ntop, which gives IPv6 its canonical compressed form as
 * netaddr does for Neutron.
 *
 * Allocation of "any address" walks the subnet's allocation pools in order
 * and takes the lowest address that no allocation row holds (the taken ones
 * are loaded once, sorted, and binary-searched).  The row insert is the
 * arbiter: net_ip_allocation's primary key (subnet_id, ip_address) makes a
 * concurrent winner visible as KDB_CONSTRAINT, and the loser moves on to the
 * next candidate.  A requested address is inserted directly and a
 * constraint hit is the client's 409 IpAddressAlreadyAllocated.
 *
 * Which subnets a port gets addresses from, and the error for each kind of
 * bad request, follow Neutron's ipam_pluggable_backend and
 * ipam_backend_mixin: a fixed_ips entry names a subnet (404 when it does not
 * exist, 400 when it is on another network), an address (400 when no subnet
 * of the network holds it), or both; SLAAC subnets give EUI-64 addresses.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "common.h"
#include "ipam.h"

/* ------------------------------------------------------------------------ */
/* Address math */

bool net_ip_parse(const char *s, net_ip *out)
{
	unsigned char b[16];
	if (!s)
		return false;
	if (inet_pton(AF_INET, s, b) == 1) {
		out->version = 4;
		out->v = ((net_u128)b[0] << 24) | ((net_u128)b[1] << 16) | ((net_u128)b[2] << 8) |
		         b[3];
		return true;
	}
	if (strchr(s, '%') == NULL && inet_pton(AF_INET6, s, b) == 1) {
		out->version = 6;
		out->v = 0;
		for (int i = 0; i < 16; i++)
			out->v = (out->v << 8) | b[i];
		return true;
	}
	return false;
}

char *net_ip_format(const net_ip *ip, char *buf)
{
	unsigned char b[16];
	if (ip->version == 4) {
		uint32_t v = (uint32_t)ip->v;
		b[0] = (unsigned char)(v >> 24);
		b[1] = (unsigned char)(v >> 16);
		b[2] = (unsigned char)(v >> 8);
		b[3] = (unsigned char)v;
		if (!inet_ntop(AF_INET, b, buf, 46))
			buf[0] = 0;
	} else {
		net_u128 v = ip->v;
		for (int i = 15; i >= 0; i--) {
			b[i] = (unsigned char)(v & 0xff);
			v >>= 8;
		}
		if (!inet_ntop(AF_INET6, b, buf, 46))
			buf[0] = 0;
	}
	return buf;
}

const char *net_ip_canon(kpool *pool, const char *s)
{
	net_ip ip;
	char buf[46];
	if (!net_ip_parse(s, &ip))
		return NULL;
	return kpool_strdup(pool, net_ip_format(&ip, buf));
}

static int bits_of(int version)
{
	return version == 4 ? 32 : 128;
}

static net_u128 host_mask(int version, int prefixlen)
{
	int hb = bits_of(version) - prefixlen;
	if (hb <= 0)
		return 0;
	if (hb >= 128)
		return ~(net_u128)0;
	return ((net_u128)1 << hb) - 1;
}

bool net_cidr_parse(const char *s, net_cidr *out, bool *had_host_bits)
{
	if (had_host_bits)
		*had_host_bits = false;
	if (!s)
		return false;
	const char *slash = strchr(s, '/');
	char addr[64];
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(addr))
		return false;
	memcpy(addr, s, n);
	addr[n] = 0;
	if (!net_ip_parse(addr, &out->net))
		return false;
	int maxp = bits_of(out->net.version);
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3)
			return false;
		int pl = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return false;
			pl = pl * 10 + (*p - '0');
		}
		if (pl > maxp)
			return false;
		out->prefixlen = pl;
	} else {
		out->prefixlen = maxp;
	}
	net_u128 hm = host_mask(out->net.version, out->prefixlen);
	if (out->net.v & hm) {
		if (had_host_bits)
			*had_host_bits = true;
		out->net.v &= ~hm;
	}
	return true;
}

char *net_cidr_format(const net_cidr *c, char *buf)
{
	char a[46];
	snprintf(buf, 50, "%s/%d", net_ip_format(&c->net, a), c->prefixlen);
	return buf;
}

net_u128 net_cidr_size(const net_cidr *c)
{
	int hb = bits_of(c->net.version) - c->prefixlen;
	if (hb >= 128)
		return ~(net_u128)0;
	return (net_u128)1 << hb;
}

net_ip net_cidr_last(const net_cidr *c)
{
	net_ip ip = c->net;
	ip.v |= host_mask(c->net.version, c->prefixlen);
	return ip;
}

bool net_cidr_contains(const net_cidr *c, const net_ip *ip)
{
	if (ip->version != c->net.version)
		return false;
	return (ip->v & ~host_mask(c->net.version, c->prefixlen)) == c->net.v;
}

bool net_cidr_overlap(const net_cidr *a, const net_cidr *b)
{
	if (a->net.version != b->net.version)
		return false;
	return net_cidr_contains(a, &b->net) || net_cidr_contains(b, &a->net);
}

bool net_ip_in_cidr_str(const char *ip, const char *cidr)
{
	net_ip i;
	net_cidr c;
	return net_ip_parse(ip, &i) && net_cidr_parse(cidr, &c, NULL) && net_cidr_contains(&c, &i);
}

bool net_cidrs_overlap_str(const char *a, const char *b)
{
	net_cidr x, y;
	return net_cidr_parse(a, &x, NULL) && net_cidr_parse(b, &y, NULL) &&
	       net_cidr_overlap(&x, &y);
}

/* ------------------------------------------------------------------------ */
/* Allocation pools */

static void add_range(json_t *pools, const net_ip *a, const net_ip *b)
{
	char x[46], y[46];
	json_array_append_new(pools, json_pack("{s:s,s:s}", "start", net_ip_format(a, x),
	                                       "end", net_ip_format(b, y)));
}

/* The usable range of a cidr for pools: [first, last]. */
static void usable_range(const net_cidr *c, net_ip *first, net_ip *last)
{
	*first = c->net;
	*last = net_cidr_last(c);
	if (c->net.version == 4 && c->prefixlen > 30)
		return;
	first->v += 1;
	if (c->net.version == 4)
		last->v -= 1;
}

json_t *net_ipam_default_pools(const net_cidr *c, const char *gateway_ip)
{
	json_t *pools = json_array();
	net_ip first, last;
	if (net_cidr_size(c) == 1) {
		add_range(pools, &c->net, &c->net);
		return pools;
	}
	usable_range(c, &first, &last);
	net_ip gw;
	if (gateway_ip && net_ip_parse(gateway_ip, &gw) && gw.version == c->net.version &&
	    gw.v >= first.v && gw.v <= last.v) {
		if (gw.v > first.v) {
			net_ip e = gw;
			e.v -= 1;
			add_range(pools, &first, &e);
		}
		if (gw.v < last.v) {
			net_ip s = gw;
			s.v += 1;
			add_range(pools, &s, &last);
		}
		return pools;
	}
	add_range(pools, &first, &last);
	return pools;
}

static const char *pool_repr(kpool *pool, const json_t *p)
{
	return kpool_printf(pool, "{'start': '%s', 'end': '%s'}",
	                    kjson_str(p, "start") ? kjson_str(p, "start") : "None",
	                    kjson_str(p, "end") ? kjson_str(p, "end") : "None");
}

bool net_ipam_check_pools(kreq *r, const net_cidr *c, json_t *pools, const char *gateway_ip)
{
	size_t n = json_array_size(pools);
	net_ip *s = kpool_alloc(r->pool, (n + 1) * sizeof(*s));
	net_ip *e = kpool_alloc(r->pool, (n + 1) * sizeof(*e));
	char cbuf[50];
	net_cidr_format(c, cbuf);
	/* parse: IPRange(start, end) (AddrFormatError -> InvalidAllocationPool) */
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(pools, i);
		if (!net_ip_parse(kjson_str(p, "start"), &s[i]) ||
		    !net_ip_parse(kjson_str(p, "end"), &e[i]) || s[i].version != e[i].version ||
		    s[i].v > e[i].v) {
			net_error(r, 400, "InvalidAllocationPool",
			          "The allocation pool %s is not valid.", pool_repr(r->pool, p));
			return false;
		}
	}
	net_ip first, last;
	usable_range(c, &first, &last);
	for (size_t i = 0; i < n; i++) {
		char a[46], b[46];
		const char *range = kpool_printf(r->pool, "%s-%s", net_ip_format(&s[i], a),
		                                 net_ip_format(&e[i], b));
		if (s[i].version != c->net.version) {
			net_error(r, 400, "InvalidAllocationPool",
			          "The allocation pool %s is not valid.", range);
			return false;
		}
		if (s[i].v < first.v || e[i].v > last.v) {
			net_error(r, 400, "OutOfBoundsAllocationPool",
			          "The allocation pool %s spans "
			          "beyond the subnet cidr %s.",
			          range, cbuf);
			return false;
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (s[i].v <= e[j].v && s[j].v <= e[i].v) {
				char a[46], b[46], x[46], y[46];
				net_error(r, 409, "OverlappingAllocationPools", "Found overlapping "
				          "allocation pools: %s-%s %s-%s for subnet %s.",
				          net_ip_format(&s[i], a), net_ip_format(&e[i], b),
				          net_ip_format(&s[j], x), net_ip_format(&e[j], y), cbuf);
				return false;
			}
	net_ip gw;
	if (gateway_ip && net_ip_parse(gateway_ip, &gw)) {
		for (size_t i = 0; i < n; i++)
			if (gw.version == s[i].version && gw.v >= s[i].v && gw.v <= e[i].v) {
				char a[46], b[46];
				net_error(r, 409, "GatewayConflictWithAllocationPools",
				          "Gateway ip %s "
				          "conflicts with allocation pool %s-%s.",
				          gateway_ip, net_ip_format(&s[i], a),
				          net_ip_format(&e[i], b));
				return false;
			}
	}
	/* canonical text */
	for (size_t i = 0; i < n; i++) {
		char a[46], b[46];
		json_array_set_new(pools, i,
		                   json_pack("{s:s,s:s}", "start", net_ip_format(&s[i], a), "end",
		                             net_ip_format(&e[i], b)));
	}
	return true;
}

/* ------------------------------------------------------------------------ */
/* Port allocations */

typedef struct subnet_info {
	const char *id;
	net_cidr cidr;
	const char *gateway;
	const char *address_mode;   /* ipv6_address_mode or NULL */
	const char *ra_mode;
} subnet_info;

static bool is_router_owner(const char *owner)
{
	return owner && (strcmp(owner, "network:router_interface") == 0 ||
	                 strcmp(owner, "network:router_gateway") == 0 ||
	                 strcmp(owner, "network:router_interface_distributed") == 0 ||
	                 strcmp(owner, "network:ha_router_replicated_interface") == 0 ||
	                 strcmp(owner, "network:router_centralized_snat") == 0);
}

static bool is_auto_address(const subnet_info *s)
{
	if (s->cidr.net.version != 6)
		return false;
	const char *m = s->address_mode;
	return m && (strcmp(m, "slaac") == 0 || strcmp(m, "dhcpv6-stateless") == 0);
}

/* The network's subnets, in creation order (pool memory). */
static subnet_info *load_subnets(kreq *r, const char *network_id, size_t *n)
{
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT id, cidr, gateway_ip, "
	                                             "ipv6_address_mode, ipv6_ra_mode FROM "
	                                             "net_subnet WHERE network_id = ? ORDER BY "
	                                             "created_at, id", "s", network_id);
	size_t cnt = json_array_size(rows);
	subnet_info *v = kpool_alloc(r->pool, (cnt + 1) * sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; i < cnt; i++) {
		json_t *row = json_array_get(rows, i);
		if (!net_cidr_parse(kjson_str(row, "cidr"), &v[k].cidr, NULL))
			continue;
		v[k].id = kpool_strdup(r->pool, kjson_str(row, "id"));
		v[k].gateway = kpool_strdup(r->pool, kjson_str(row, "gateway_ip"));
		v[k].address_mode = kpool_strdup(r->pool, kjson_str(row, "ipv6_address_mode"));
		v[k].ra_mode = kpool_strdup(r->pool, kjson_str(row, "ipv6_ra_mode"));
		k++;
	}
	*n = k;
	return v;
}

static const subnet_info *find_subnet(const subnet_info *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].id, id) == 0)
			return &v[i];
	return NULL;
}

/* Neutron's ipam_utils.check_subnet_ip */
static bool check_subnet_ip(const subnet_info *s, const net_ip *ip, const char *owner)
{
	if (!net_cidr_contains(&s->cidr, ip))
		return false;
	if (s->cidr.net.version == 4) {
		net_ip last = net_cidr_last(&s->cidr);
		return ip->v != s->cidr.net.v && ip->v != last.v;
	}
	return ip->v != s->cidr.net.v || !owner || !*owner || is_router_owner(owner);
}

static int insert_alloc(const char *port_id, const char *subnet_id, const char *network_id,
                        const char *ip)
{
	return kdb_run(net_db, NULL, "INSERT INTO net_ip_allocation (port_id, subnet_id, "
	               "network_id, ip_address) VALUES (?, ?, ?, ?)", "ssss", port_id, subnet_id,
	               network_id, ip);
}

static int cmp_u128(const void *a, const void *b)
{
	net_u128 x = *(const net_u128 *)a, y = *(const net_u128 *)b;
	return (x > y) - (x < y);
}

static bool taken(const net_u128 *v, size_t n, net_u128 x)
{
	return bsearch(&x, v, n, sizeof(*v), cmp_u128) != NULL;
}

typedef struct pool_range {
	net_u128 a, b;
} pool_range;

static int cmp_range(const void *x, const void *y)
{
	const pool_range *p = x, *q = y;
	return (p->a > q->a) - (p->a < q->a);
}

/* Next free address of a subnet's pools, inserted; 1 done (ip in out), 0 none
 * left, -1 database error. */
static int alloc_any(const subnet_info *s, const char *port_id, const char *network_id,
                     char out[46])
{
	for (int attempt = 0; attempt < 16; attempt++) {
		_cleanup_json_ json_t *prow =
		        kdb_query_json(net_db,
		                       "SELECT first_ip, last_ip FROM "
		                       "net_allocation_pool WHERE subnet_id = ?",
		                       "s", s->id);
		_cleanup_json_ json_t *arow =
		        kdb_query_json(net_db,
		                       "SELECT ip_address FROM "
		                       "net_ip_allocation WHERE subnet_id = ?",
		                       "s", s->id);
		if (!prow || !arow)
			return -1;
		size_t np = json_array_size(prow), na = json_array_size(arow);
		_cleanup_free_ pool_range *pools = calloc(np + 1, sizeof(*pools));
		_cleanup_free_ net_u128 *used = calloc(na + 1, sizeof(*used));
		if (!pools || !used)
			return -1;
		size_t k = 0;
		for (size_t i = 0; i < np; i++) {
			net_ip a, b;
			json_t *p = json_array_get(prow, i);
			if (net_ip_parse(kjson_str(p, "first_ip"), &a) &&
			    net_ip_parse(kjson_str(p, "last_ip"), &b) && a.v <= b.v) {
				pools[k].a = a.v;
				pools[k].b = b.v;
				k++;
			}
		}
		np = k;
		qsort(pools, np, sizeof(*pools), cmp_range);
		k = 0;
		for (size_t i = 0; i < na; i++) {
			net_ip a;
			if (net_ip_parse(kjson_str(json_array_get(arow, i), "ip_address"), &a))
				used[k++] = a.v;
		}
		na = k;
		qsort(used, na, sizeof(*used), cmp_u128);
		bool found = false;
		net_ip cand = { .version = s->cidr.net.version };
		for (size_t i = 0; i < np && !found; i++)
			for (net_u128 x = pools[i].a;; x++) {
				if (!taken(used, na, x)) {
					cand.v = x;
					found = true;
					break;
				}
				if (x == pools[i].b)
					break;
			}
		if (!found)
			return 0;
		net_ip_format(&cand, out);
		int rc = insert_alloc(port_id, s->id, network_id, out);
		if (rc == KDB_DONE)
			return 1;
		if (rc != KDB_CONSTRAINT)
			return -1;
		/* lost a race for this address: look again */
	}
	return 0;
}

/* EUI-64 address of mac in a /64 (SLAAC). */
static bool eui64(const subnet_info *s, const char *mac, net_ip *out)
{
	unsigned m[6];
	if (!mac || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &m[0], &m[1], &m[2], &m[3], &m[4],
	                   &m[5]) != 6)
		return false;
	net_u128 iid = 0;
	unsigned b[8] = { m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5] };
	for (int i = 0; i < 8; i++)
		iid = (iid << 8) | (b[i] & 0xff);
	out->version = 6;
	out->v = (s->cidr.net.v & ~host_mask(6, 64)) | iid;
	return true;
}

static bool db_fail(kreq *r)
{
	net_error(r, 500, NULL, "Request Failed: internal server error while processing your "
	          "request.");
	return false;
}

/* Insert one requested address; false after answering. */
static bool alloc_specific(kreq *r, const subnet_info *s, const char *port_id,
                           const char *network_id, const net_ip *ip, json_t *out)
{
	char buf[46];
	net_ip_format(ip, buf);
	int rc = insert_alloc(port_id, s->id, network_id, buf);
	if (rc == KDB_CONSTRAINT) {
		net_error(r, 409, "IpAddressAlreadyAllocated", "IP address %s already allocated in "
		          "subnet %s", buf, s->id);
		return false;
	}
	if (rc != KDB_DONE)
		return db_fail(r);
	json_array_append_new(out, json_pack("{s:s,s:s}", "subnet_id", s->id, "ip_address", buf));
	return true;
}

/* One address from subnet s (EUI-64 when it is SLAAC); false after answering. */
static bool alloc_from_subnet(kreq *r, const subnet_info *s, const char *port_id,
                              const char *network_id, const char *mac, const char *owner,
                              json_t *out)
{
	if (is_auto_address(s) && !is_router_owner(owner)) {
		net_ip ip;
		if (!eui64(s, mac, &ip)) {
			net_error(r, 400, "InvalidInput", "Invalid input for operation: Unable to "
			          "calculate eui64 address for subnet %s.", s->id);
			return false;
		}
		return alloc_specific(r, s, port_id, network_id, &ip, out);
	}
	char ip[46];
	int rc = alloc_any(s, port_id, network_id, ip);
	if (rc < 0)
		return db_fail(r);
	if (rc == 0) {
		net_error(r, 409, "IpAddressGenerationFailure",
		          "No more IP addresses available for "
		          "subnet %s.",
		          s->id);
		return false;
	}
	json_array_append_new(out, json_pack("{s:s,s:s}", "subnet_id", s->id, "ip_address", ip));
	return true;
}

/* Neutron's default: first IPv4 subnet with room, first stateful IPv6 subnet
 * with room, every SLAAC subnet. */
static bool alloc_default(kreq *r, const subnet_info *v, size_t n, const char *port_id,
                          const char *network_id, const char *mac, const char *owner,
                          json_t *out)
{
	bool want4 = false, got4 = false, want6 = false, got6 = false;
	for (size_t i = 0; i < n; i++) {
		const subnet_info *s = &v[i];
		if (is_auto_address(s)) {
			if (is_router_owner(owner))
				continue;
			if (!alloc_from_subnet(r, s, port_id, network_id, mac, owner, out))
				return false;
			continue;
		}
		bool v4 = s->cidr.net.version == 4;
		if (v4 ? got4 : got6)
			continue;
		if (v4)
			want4 = true;
		else
			want6 = true;
		char ip[46];
		int rc = alloc_any(s, port_id, network_id, ip);
		if (rc < 0)
			return db_fail(r);
		if (rc == 0)
			continue;
		json_array_append_new(out, json_pack("{s:s,s:s}", "subnet_id", s->id, "ip_address",
		                                     ip));
		if (v4)
			got4 = true;
		else
			got6 = true;
	}
	if ((want4 && !got4) || (want6 && !got6)) {
		net_error(r, 409, "IpAddressGenerationFailure", "No more IP addresses available on "
		          "network %s.", network_id);
		return false;
	}
	return true;
}

/* One request entry resolved: subnet and optional address. */
typedef struct fixed_req {
	const subnet_info *subnet;
	bool has_ip;
	net_ip ip;
} fixed_req;

/* Validate the request's fixed_ips against the network's subnets (Neutron's
 * _test_fixed_ips_for_port); false after answering. */
static bool resolve_fixed(kreq *r, const char *network_id, const subnet_info *v, size_t n,
                          const json_t *fixed_ips, const char *mac, const char *owner,
                          fixed_req **out, size_t *nout)
{
	if (!json_is_array(fixed_ips)) {
		net_bad_input(r, "fixed_ips", "Invalid data format for fixed IP: '%s'", "");
		return false;
	}
	size_t cnt = json_array_size(fixed_ips);
	fixed_req *reqs = kpool_alloc(r->pool, (cnt + 1) * sizeof(*reqs));
	size_t k = 0;
	for (size_t i = 0; i < cnt; i++) {
		json_t *f = json_array_get(fixed_ips, i);
		if (!json_is_object(f)) {
			_cleanup_free_ char *d = kjson_dump(f);
			net_bad_input(r, "fixed_ips", "Invalid data format for fixed IP: '%s'",
			              d ? d : "");
			return false;
		}
		const char *key;
		json_t *val;
		json_object_foreach(f, key, val)
			if (strcmp(key, "subnet_id") && strcmp(key, "ip_address")) {
			net_bad_input(r, "fixed_ips", "Unrecognized attribute(s) '%s'", key);
			return false;
			}
		        json_t *sid = json_object_get(f, "subnet_id"),
		               *ipj = json_object_get(f, "ip_address");
		        if (sid &&
		            (!json_is_string(sid) || !kutil_is_uuid(json_string_value(sid)))) {
			        net_bad_input(r, "fixed_ips", "'%s' is not a valid UUID",
			                      json_is_string(sid) ? json_string_value(sid)
			                                          : "None");
			        return false;
		}
		if (ipj &&
		    (!json_is_string(ipj) || !net_ip_parse(json_string_value(ipj), &reqs[k].ip))) {
			net_bad_input(r, "fixed_ips", "'%s' is not a valid IP address",
			              json_is_string(ipj) ? json_string_value(ipj) : "None");
			return false;
		}
		reqs[k].has_ip = ipj != NULL;
		if (n == 0) {
			net_error(r, 400, "InvalidInput",
			          "Invalid input for operation: IP allocation "
			          "requires subnets for network.");
			return false;
		}
		if (sid) {
			const char *id = json_string_value(sid);
			const subnet_info *s = find_subnet(v, n, id);
			if (!s) {
				bool found = false;
				_cleanup_json_ json_t *row =
				        kdb_query_row(net_db, &found,
				                      "SELECT id FROM "
				                      "net_subnet WHERE id = ?",
				                      "s", id);
				(void)row;   /* only whether it exists matters */
				if (!found) {
					net_error(r, 404, "SubnetNotFound",
					          "Subnet %s could not be found.", id);
					return false;
				}
				net_error(r, 400, "InvalidInput",
				          "Invalid input for operation: Failed to "
				          "create port on network %s, because fixed_ips included "
				          "invalid "
				          "subnet %s.",
				          network_id, id);
				return false;
			}
			if (reqs[k].has_ip && !check_subnet_ip(s, &reqs[k].ip, owner)) {
				net_error(r, 400, "InvalidIpForSubnet",
				          "IP address %s is not a valid IP for "
				          "the specified subnet.",
				          json_string_value(ipj));
				return false;
			}
			reqs[k].subnet = s;
		} else if (!reqs[k].has_ip) {
			net_error(r, 400, "InvalidInput",
			          "Invalid input for operation: IP allocation "
			          "requires subnet_id or ip_address.");
			return false;
		} else {
			for (size_t j = 0; j < n && !reqs[k].subnet; j++)
				if (check_subnet_ip(&v[j], &reqs[k].ip, owner))
					reqs[k].subnet = &v[j];
			if (!reqs[k].subnet) {
				net_error(r, 400, "InvalidIpForNetwork",
				          "IP address %s is not a valid IP for "
				          "any of the subnets on the specified network.",
				          json_string_value(ipj));
				return false;
			}
		}
		if (reqs[k].has_ip && is_auto_address(reqs[k].subnet) && !is_router_owner(owner)) {
			net_ip e;
			if (!eui64(reqs[k].subnet, mac, &e) || e.v != reqs[k].ip.v) {
				net_error(r, 400, "AllocationOnAutoAddressSubnet",
				          "Invalid input for "
				          "operation: IPv6 address %s cannot be directly assigned "
				          "to a port "
				          "on subnet %s as the subnet is configured for automatic "
				          "addresses.",
				          json_string_value(ipj), reqs[k].subnet->id);
				return false;
			}
		}
		k++;
	}
	*out = reqs;
	*nout = k;
	return true;
}

/* Allocate resolved requests (plus every SLAAC subnet not named, as Neutron
 * does for non-router ports); false after answering. */
static bool alloc_requests(kreq *r, const char *network_id, const char *port_id,
                           const char *mac, const char *owner, const subnet_info *v, size_t n,
                           const fixed_req *reqs, size_t nreq, const bool *skip, json_t *out)
{
	/* specific addresses first, so "any" picks do not take them */
	for (size_t i = 0; i < nreq; i++)
		if (!(skip && skip[i]) && reqs[i].has_ip &&
		    !alloc_specific(r, reqs[i].subnet, port_id, network_id, &reqs[i].ip, out))
			return false;
	for (size_t i = 0; i < nreq; i++)
		if (!(skip && skip[i]) && !reqs[i].has_ip &&
		    !alloc_from_subnet(r, reqs[i].subnet, port_id, network_id, mac, owner, out))
			return false;
	if (is_router_owner(owner))
		return true;
	for (size_t j = 0; j < n; j++) {
		if (!is_auto_address(&v[j]))
			continue;
		bool named = false;
		size_t i;
		json_t *e;
		json_array_foreach(out, i, e)
			named = named || strcmp(kjson_str(e, "subnet_id"), v[j].id) == 0;
		for (i = 0; i < nreq; i++)
			named = named || reqs[i].subnet == &v[j];
		if (!named && !alloc_from_subnet(r, &v[j], port_id, network_id, mac, owner, out))
			return false;
	}
	return true;
}

static int cmp_fixed(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int c = strcmp(kjson_str(x, "ip_address"), kjson_str(y, "ip_address"));
	return c ? c : strcmp(kjson_str(x, "subnet_id"), kjson_str(y, "subnet_id"));
}

static void sort_fixed(json_t *arr)
{
	size_t n = json_array_size(arr);
	if (n < 2)
		return;
	json_t **v = calloc(n, sizeof(*v));
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(arr, i));
	qsort(v, n, sizeof(*v), cmp_fixed);
	json_array_clear(arr);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, v[i]);
	free(v);
}

json_t *net_ipam_allocate(kreq *r, const char *network_id, const char *port_id,
                          const char *mac_address, const json_t *fixed_ips,
                          const char *device_owner)
{
	size_t n;
	subnet_info *v = load_subnets(r, network_id, &n);
	_cleanup_json_ json_t *out = json_array();
	if (!fixed_ips) {
		if (!alloc_default(r, v, n, port_id, network_id, mac_address, device_owner, out))
			return NULL;
	} else {
		fixed_req *reqs;
		size_t nreq;
		if (!resolve_fixed(r, network_id, v, n, fixed_ips, mac_address, device_owner, &reqs,
		                   &nreq))
			return NULL;
		if (!alloc_requests(r, network_id, port_id, mac_address, device_owner, v, n, reqs,
		                    nreq, NULL, out))
			return NULL;
	}
	sort_fixed(out);
	return TAKE_PTR(out);
}

json_t *net_ipam_update(kreq *r, const char *network_id, const char *port_id,
                        const char *mac_address, const json_t *fixed_ips,
                        const char *device_owner)
{
	size_t n;
	subnet_info *v = load_subnets(r, network_id, &n);
	fixed_req *reqs;
	size_t nreq;
	if (!resolve_fixed(r, network_id, v, n, fixed_ips, mac_address, device_owner, &reqs, &nreq))
		return NULL;
	_cleanup_json_ json_t *cur = net_ipam_port_ips(port_id);
	size_t ncur = json_array_size(cur);
	bool *keep = kpool_alloc(r->pool, (ncur + 1) * sizeof(*keep));
	bool *done = kpool_alloc(r->pool, (nreq + 1) * sizeof(*done));
	/* exact (subnet, address) matches, then subnet-only requests */
	for (size_t i = 0; i < nreq; i++) {
		if (!reqs[i].has_ip)
			continue;
		for (size_t j = 0; j < ncur && !done[i]; j++) {
			json_t *c = json_array_get(cur, j);
			net_ip ip;
			if (!keep[j] &&
			    strcmp(kjson_str(c, "subnet_id"), reqs[i].subnet->id) == 0 &&
			    net_ip_parse(kjson_str(c, "ip_address"), &ip) && ip.v == reqs[i].ip.v)
				keep[j] = done[i] = true;
		}
	}
	for (size_t i = 0; i < nreq; i++) {
		if (reqs[i].has_ip)
			continue;
		for (size_t j = 0; j < ncur && !done[i]; j++) {
			json_t *c = json_array_get(cur, j);
			if (!keep[j] && strcmp(kjson_str(c, "subnet_id"), reqs[i].subnet->id) == 0)
				keep[j] = done[i] = true;
		}
	}
	/* SLAAC addresses stay unless the port leaves... Neutron keeps them */
	for (size_t j = 0; j < ncur; j++) {
		json_t *c = json_array_get(cur, j);
		const subnet_info *s = find_subnet(v, n, kjson_str(c, "subnet_id"));
		if (s && is_auto_address(s) && !is_router_owner(device_owner))
			keep[j] = true;
	}
	_cleanup_json_ json_t *out = json_array();
	for (size_t j = 0; j < ncur; j++) {
		json_t *c = json_array_get(cur, j);
		if (keep[j]) {
			json_array_append(out, c);
			continue;
		}
		if (kdb_run(net_db, NULL, "DELETE FROM net_ip_allocation WHERE subnet_id = ? AND "
		            "ip_address = ? AND port_id = ?", "sss", kjson_str(c, "subnet_id"),
		            kjson_str(c, "ip_address"), port_id) != KDB_DONE) {
			db_fail(r);
			return NULL;
		}
	}
	if (!alloc_requests(r, network_id, port_id, mac_address, device_owner, v, n, reqs, nreq,
	                    done, out))
		return NULL;
	sort_fixed(out);
	return TAKE_PTR(out);
}

int net_ipam_release(const char *port_id)
{
	return kdb_run(net_db, NULL, "DELETE FROM net_ip_allocation WHERE port_id = ?", "s",
	               port_id) == KDB_DONE ? 0 : -1;
}

json_t *net_ipam_port_ips(const char *port_id)
{
	json_t *out = json_array();
	_cleanup_json_ json_t *rows = kdb_query_json(net_db, "SELECT subnet_id, ip_address FROM "
	                                             "net_ip_allocation WHERE port_id = ?", "s",
	                                             port_id);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_array_append(out, row);
	sort_fixed(out);
	return out;
}

json_t *net_ipam_ips_by_port(const char *network_id)
{
	json_t *out = json_object();
	_cleanup_json_ json_t *rows = network_id
		? kdb_query_json(net_db, "SELECT port_id, subnet_id, ip_address FROM "
		                 "net_ip_allocation WHERE network_id = ?", "s", network_id)
		: kdb_query_json(net_db, "SELECT port_id, subnet_id, ip_address FROM "
		                 "net_ip_allocation", "");
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *pid = kjson_str(row, "port_id");
		json_t *arr = json_object_get(out, pid);
		if (!arr) {
			arr = json_array();
			json_object_set_new(out, pid, arr);
		}
		json_array_append_new(
		        arr, json_pack("{s:O,s:O}", "subnet_id", json_object_get(row, "subnet_id"),
		                       "ip_address", json_object_get(row, "ip_address")));
	}
	const char *k;
	json_t *arr;
	json_object_foreach(out, k, arr)
		sort_fixed(arr);
	return out;
}
