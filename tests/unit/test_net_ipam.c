/*
 * test_net_ipam.c - the address math of src/network/ipam.c: parsing and
 * canonical text of IPv4/IPv6 addresses and prefixes, containment and
 * overlap, and the default allocation pools (Neutron's generate_pools).
 * Allocation itself is covered through the API (tests/integration).
 */
#include <string.h>

#include "core/json.h"
#include "ktest.h"
#include "network/ipam.h"

static const char *canon(const char *s)
{
	static char buf[64];
	net_ip ip;
	if (!net_ip_parse(s, &ip))
		return "(invalid)";
	return net_ip_format(&ip, buf);
}

static const char *cidr(const char *s, bool *host_bits)
{
	static char buf[64];
	net_cidr c;
	if (!net_cidr_parse(s, &c, host_bits))
		return "(invalid)";
	return net_cidr_format(&c, buf);
}

KTEST(ip_parse_and_format)
{
	CHECK_STR(canon("10.0.0.1"), "10.0.0.1");
	CHECK_STR(canon("2001:DB8:0:0::1"), "2001:db8::1");
	CHECK_STR(canon("2001:db8:1:0:ffff:ffff:ffff:ffff"), "2001:db8:1:0:ffff:ffff:ffff:ffff");
	CHECK_STR(canon("::"), "::");
	CHECK_STR(canon("10.0.0"), "(invalid)");
	CHECK_STR(canon("10.0.0.256"), "(invalid)");
	CHECK_STR(canon("fe80::1%eth0"), "(invalid)");
	CHECK_STR(canon(""), "(invalid)");
	net_ip a;
	CHECK(net_ip_parse("0.0.0.255", &a) && a.version == 4 && a.v == 255);
	CHECK(net_ip_parse("::ff", &a) && a.version == 6 && a.v == 255);
}

KTEST(cidr_parse)
{
	bool hb = false;
	CHECK_STR(cidr("10.0.0.5/24", &hb), "10.0.0.0/24");
	CHECK(hb);
	CHECK_STR(cidr("10.0.0.0/24", &hb), "10.0.0.0/24");
	CHECK(!hb);
	CHECK_STR(cidr("2001:DB8::/32", NULL), "2001:db8::/32");
	CHECK_STR(cidr("10.0.0.1", NULL), "10.0.0.1/32");
	CHECK_STR(cidr("10.0.0.0/33", NULL), "(invalid)");
	CHECK_STR(cidr("fd00::/129", NULL), "(invalid)");
	CHECK_STR(cidr("10.0.0.0/", NULL), "(invalid)");
	CHECK_STR(cidr("10.0.0.0/2x", NULL), "(invalid)");
	CHECK_STR(cidr("/24", NULL), "(invalid)");
	CHECK_STR(cidr("0.0.0.0/0", NULL), "0.0.0.0/0");
	CHECK_STR(cidr("::/0", NULL), "::/0");
}

KTEST(cidr_math)
{
	net_cidr c, d;
	net_ip ip;
	CHECK(net_cidr_parse("10.1.0.0/16", &c, NULL));
	CHECK(net_cidr_size(&c) == 65536);
	net_ip last = net_cidr_last(&c);
	char buf[64];
	CHECK_STR(net_ip_format(&last, buf), "10.1.255.255");
	CHECK(net_ip_parse("10.1.7.7", &ip) && net_cidr_contains(&c, &ip));
	CHECK(net_ip_parse("10.2.0.0", &ip) && !net_cidr_contains(&c, &ip));
	CHECK(net_ip_parse("::a01:707", &ip) && !net_cidr_contains(&c, &ip));   /* other family */
	CHECK(net_cidr_parse("10.1.200.0/24", &d, NULL) && net_cidr_overlap(&c, &d));
	CHECK(net_cidr_overlap(&d, &c));
	CHECK(net_cidr_parse("10.2.0.0/24", &d, NULL) && !net_cidr_overlap(&c, &d));
	CHECK(net_cidr_parse("::/0", &c, NULL));
	CHECK(net_cidr_size(&c) == ~(net_u128)0);
	CHECK(net_ip_in_cidr_str("fd00::5", "fd00::/64"));
	CHECK(!net_ip_in_cidr_str("fd01::5", "fd00::/64"));
	CHECK(!net_ip_in_cidr_str("bogus", "fd00::/64"));
	CHECK(net_cidrs_overlap_str("10.0.0.0/8", "10.20.30.0/24"));
	CHECK(!net_cidrs_overlap_str("10.0.0.0/8", "fd00::/8"));
}

static char *pools(const char *c, const char *gw)
{
	net_cidr n;
	if (!net_cidr_parse(c, &n, NULL))
		return strdup("(invalid)");
	json_t *p = net_ipam_default_pools(&n, gw);
	char *s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	return s;
}

#define CHECK_POOLS(c, gw, want) do { char *_s = pools(c, gw); CHECK_STR(_s, want); \
	free(_s); } while (0)

KTEST(default_pools)
{
	CHECK_POOLS("10.0.0.0/24", "10.0.0.1", "[{\"start\":\"10.0.0.2\",\"end\":\"10.0.0.254\"}]");
	CHECK_POOLS("10.0.0.0/24", NULL, "[{\"start\":\"10.0.0.1\",\"end\":\"10.0.0.254\"}]");
	CHECK_POOLS("10.0.0.0/24", "10.0.0.100",
	            "[{\"start\":\"10.0.0.1\",\"end\":\"10.0.0.99\"},"
	            "{\"start\":\"10.0.0.101\",\"end\":\"10.0.0.254\"}]");
	CHECK_POOLS("10.0.0.0/24", "10.0.0.254", "[{\"start\":\"10.0.0.1\",\"end\":\"10.0.0.253\"}]");
	/* a gateway outside the cidr takes nothing */
	CHECK_POOLS("10.0.0.0/24", "192.168.0.1",
	            "[{\"start\":\"10.0.0.1\",\"end\":\"10.0.0.254\"}]");
	/* /31 and /32 have no network/broadcast address (Neutron >= 2023) */
	CHECK_POOLS("10.0.0.0/31", NULL, "[{\"start\":\"10.0.0.0\",\"end\":\"10.0.0.1\"}]");
	CHECK_POOLS("10.0.0.7/32", NULL, "[{\"start\":\"10.0.0.7\",\"end\":\"10.0.0.7\"}]");
	CHECK_POOLS("10.0.0.0/30", "10.0.0.1", "[{\"start\":\"10.0.0.2\",\"end\":\"10.0.0.2\"}]");
	/* IPv6: no broadcast; the network address is excluded */
	CHECK_POOLS("fd00::/64", "fd00::1",
	            "[{\"start\":\"fd00::2\",\"end\":\"fd00::ffff:ffff:ffff:ffff\"}]");
	CHECK_POOLS("fd00::/126", NULL, "[{\"start\":\"fd00::1\",\"end\":\"fd00::3\"}]");
}

int main(void)
{
	return ktest_run();
}
