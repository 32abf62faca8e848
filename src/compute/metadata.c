/*
 * metadata.c - the metadata API (Nova's nova-api-metadata, port 8775): what a
 * guest learns about itself from http://169.254.169.254, and the same tree as
 * files for a config drive (cmp_metadata_files, used by configdrive.c).
 *
 * Guests never reach this service directly: the network service's metadata
 * proxy (src/network/agent/metadata.c) runs in each qdhcp namespace, finds
 * the port owning the guest's address and forwards the request with
 *     X-Instance-ID            the port's device_id
 *     X-Tenant-ID              the port's project
 *     X-Forwarded-For          the guest's address
 *     X-Instance-ID-Signature  hex HMAC-SHA256(shared secret, instance id)
 * as Neutron does for Nova.  The secret is [compute]
 * metadata_proxy_shared_secret, else [network] metadata_proxy_shared_secret
 * (one config file usually holds both services).  Checks, in Nova's order and
 * with Nova's plain-text answers: a missing X-Instance-ID / X-Tenant-ID is
 * 400, a missing or forged signature 403 (constant-time comparison), an
 * unknown or deleted instance, another project's instance, or a source
 * address that is none of the instance's fixed IPs 404 - the same 404 in
 * every case, so a caller learns nothing.  Only GET / (the version list) is
 * answered without the headers, as Nova does.
 *
 * The trees follow nova/api/metadata/base.py:
 *   /<ec2 version>/meta-data/...   (1.0 .. 2009-04-04, latest) and user-data:
 *     a JSON tree built per request and printed like Nova's ec2_md_print
 *     (objects list their sorted keys, sub-objects with a "/" or their
 *     "_name", arrays one item a line);
 *   /openstack/<version>/          (2012-08-10 .. 2020-10-14, latest):
 *     meta_data.json, user_data, password (always empty here),
 *     vendor_data.json, network_data.json, vendor_data2.json.
 * "hostname" is the instance's hostname (Nova's sanitized display name) with
 * "." + [compute] dhcp_domain appended when that is set; the default is
 * empty (Nova's is "novalocal"), so the guest's `hostname` prints exactly the
 * server's name.  ami-id and instance-id are Nova's EC2 forms ("ami-%08x",
 * "i-%08x") from the first 32 bits of the image/instance uuid.
 *
 * Per request: one primary-key lookup of the instance (only the columns the
 * trees use) and one of its ports (the network info cache,
 * cmp_instance_port); meta_data.json adds its metadata and keypair.
 * network_data.json needs the subnets of the instance's networks, asked from
 * the Network API with the service token and kept 30 s per network, so a
 * booting guest's burst of requests costs one call.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/client.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"
#include "compute.h"

#define MD_MAX_TOKENS 8
#define SUBNET_TTL_US (30 * 1000000LL)

static const char *const ec2_versions[] = {
	"1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
	"2008-02-01", "2008-09-01", "2009-04-04",
};
#define EC2_N ((int)ARRAY_SIZE(ec2_versions))

static const char *const os_versions[] = {
	"2012-08-10",  /* FOLSOM */
	"2013-04-04",  /* GRIZZLY: random_seed, password */
	"2013-10-17",  /* HAVANA: vendor_data.json */
	"2015-10-15",  /* LIBERTY: network_data.json, project_id */
	"2016-06-30",  /* NEWTON_ONE: devices */
	"2016-10-06",  /* NEWTON_TWO: vendor_data2.json */
	"2017-02-22",  /* OCATA */
	"2018-08-27",  /* ROCKY */
	"2020-10-14",  /* VICTORIA: dedicated_cpus */
};
#define OS_N ((int)ARRAY_SIZE(os_versions))
enum { OS_FOLSOM, OS_GRIZZLY, OS_HAVANA, OS_LIBERTY, OS_NEWTON_ONE, OS_NEWTON_TWO, OS_OCATA,
       OS_ROCKY, OS_VICTORIA };

static bool db_owned;          /* run alone (`kumo metadata`): we opened cmp_db */
static char *proxy_secret;

/* ---- small helpers ---- */

/* Index of v in list ("latest" = the last), -1 when unknown. */
static int version_index(const char *const *list, int n, const char *v)
{
	if (!strcmp(v, "latest"))
		return n - 1;
	for (int i = 0; i < n; i++)
		if (!strcmp(list[i], v))
			return i;
	return -1;
}

/* Standard base64 (newlines tolerated) -> malloc'd bytes; NULL when malformed. */
static unsigned char *b64_decode(const char *s, size_t *outlen)
{
	size_t n = strlen(s);
	unsigned char *out = malloc(n / 4 * 3 + 4);
	if (!out)
		return NULL;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int l1 = 0, l2 = 0;
	bool ok = ctx != NULL;
	if (ok) {
		EVP_DecodeInit(ctx);
		ok = EVP_DecodeUpdate(ctx, out, &l1, (const unsigned char *)s, (int)n) >= 0 &&
		     EVP_DecodeFinal(ctx, out + l1, &l2) == 1;
	}
	EVP_ENCODE_CTX_free(ctx);
	if (!ok) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)(l1 + l2);
	out[*outlen] = '\0';
	return out;
}

static char *b64_encode(const unsigned char *data, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (out)
		EVP_EncodeBlock((unsigned char *)out, data, (int)n);
	return out;
}

/* A JSON column that may still be text (a row straight from the database). */
static json_t *column_json(const json_t *inst, const char *key, json_t **owned)
{
	json_t *v = json_object_get(inst, key);
	*owned = NULL;
	if (json_is_string(v)) {
		*owned = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
		return *owned;
	}
	return v;
}

static const char *str_or(const json_t *obj, const char *key, const char *def)
{
	const char *s = kjson_str(obj, key);
	return s ? s : def;
}

/* "ami-%08x" / "i-%08x": the first 8 hex digits of a uuid. */
static json_t *ec2_id(const char *prefix, const char *uuid)
{
	char hex[9] = "00000000";
	size_t k = 0;
	for (const char *p = uuid ? uuid : ""; *p && k < 8; p++)
		if (isxdigit((unsigned char)*p))
			hex[k++] = (char)tolower((unsigned char)*p);
	if (k < 8)
		snprintf(hex, sizeof(hex), "00000000");
	return json_sprintf("%s-%s", prefix, hex);
}

static char *hostname_of(const json_t *inst)
{
	const char *h = kjson_str(inst, "hostname");
	if (!h || !*h)
		h = str_or(inst, "name", "");
	const char *dom = kconf_get(kumo_conf, "compute", "dhcp_domain", "");
	char *out = NULL;
	if (asprintf(&out, "%s%s%s", h, *dom ? "." : "", dom) < 0)
		return NULL;
	return out;
}

static const char *az_of(const json_t *inst)
{
	const char *az = kjson_str(inst, "availability_zone");
	return az && *az ? az : cmp_conf_str("default_availability_zone", "nova");
}

/* ---- loading ---- */

/* The instance's ports (cmp_instance_port rows, "ips" parsed), ordered:
 * "_ports" when the row carries them, else from the database. New ref. */
static json_t *load_ports(const json_t *inst)
{
	json_t *have = json_object_get(inst, "_ports");
	if (json_is_array(have))
		return json_incref(have);
	json_t *rows = kdb_query_json(cmp_db,
	        "SELECT port_id, network_id, network_name, mac, ips, ord, tap, mtu "
	        "FROM cmp_instance_port WHERE instance_id = ? ORDER BY ord, port_id",
	        "s", kjson_str(inst, "id"));
	size_t i;
	json_t *p;
	json_array_foreach(rows, i, p) {
		const char *ips = kjson_str(p, "ips");
		json_t *v = ips ? json_loads(ips, 0, NULL) : NULL;
		json_object_set_new(p, "ips", json_is_array(v) ? v : json_array());
		if (v && !json_is_array(v))
			json_decref(v);
	}
	return rows;
}

/* First address of a type ("fixed" / "floating") and IP version (0 = any). */
static const char *first_ip(const json_t *ports, const char *type, int version)
{
	size_t i, j;
	json_t *p, *ip;
	json_array_foreach(ports, i, p)
		json_array_foreach(json_object_get(p, "ips"), j, ip) {
			const char *t = str_or(ip, "type", "fixed");
			json_int_t v = json_integer_value(json_object_get(ip, "version"));
			if (!strcmp(t, type) && (!version || v == version || !v))
				return kjson_str(ip, "addr");
		}
	return NULL;
}

static bool has_fixed_ip(const json_t *ports, const char *addr)
{
	size_t i, j;
	json_t *p, *ip;
	json_array_foreach(ports, i, p)
		json_array_foreach(json_object_get(p, "ips"), j, ip) {
			const char *a = kjson_str(ip, "addr");
			if (a && !strcmp(str_or(ip, "type", "fixed"), "fixed") && !strcmp(a, addr))
				return true;
		}
	return false;
}

/* ---- the EC2 tree ---- */

static json_t *security_group_names(const json_t *inst)
{
	json_t *owned;
	json_t *sgs = column_json(inst, "security_groups", &owned);
	json_t *out = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(sgs, i, v) {
		const char *n = json_is_string(v) ? json_string_value(v) : kjson_str(v, "name");
		if (n)
			json_array_append_new(out, json_string(n));
	}
	json_decref(owned);
	return out;
}

static json_t *flavor_name(const json_t *inst)
{
	json_t *owned;
	json_t *f = column_json(inst, "flavor", &owned);
	const char *n = kjson_str(f, "name");
	json_t *out = json_string(n ? n : str_or(inst, "flavor_id", ""));
	json_decref(owned);
	return out;
}

/* Nova's get_ec2_metadata() for one version (an index in ec2_versions):
 * {"meta-data": {...}} plus "user-data": true when there is user data (the
 * bytes are served separately: they need not be text).  address: the
 * requester's, used when the instance has no fixed IP. */
static json_t *ec2_tree(const json_t *inst, const json_t *ports, int ver, const char *address)
{
	_cleanup_free_ char *host = hostname_of(inst);
	const char *fixed = first_ip(ports, "fixed", 4);
	if (!fixed)
		fixed = first_ip(ports, "fixed", 0);
	const char *floating = first_ip(ports, "floating", 0);
	json_t *md = json_object();
	json_object_set_new(md, "ami-id", ec2_id("ami", kjson_str(inst, "image_ref")));
	json_int_t launch_index = json_integer_value(json_object_get(inst, "launch_index"));
	json_object_set_new(md, "ami-launch-index", json_integer(launch_index));
	json_object_set_new(md, "ami-manifest-path", json_string("FIXME"));
	json_object_set_new(md, "instance-id", ec2_id("i", kjson_str(inst, "id")));
	json_object_set_new(md, "hostname", json_string(host ? host : ""));
	json_object_set_new(md, "local-ipv4", json_string(fixed ? fixed : address ? address : ""));
	json_object_set_new(md, "reservation-id", json_string(str_or(inst, "reservation_id", "")));
	json_object_set_new(md, "security-groups", security_group_names(inst));
	const char *key_name = kjson_str(inst, "key_name");
	if (key_name && *key_name)
		json_object_set_new(md, "public-keys", json_pack("{s:{s:s+,s:s}}", "0",
		                    "_name", "0=", key_name,
		                    "openssh-key", str_or(inst, "key_data", "")));
	if (ver >= 1) {    /* 2007-01-19 */
		json_object_set_new(md, "local-hostname", json_string(host ? host : ""));
		json_object_set_new(md, "public-hostname", json_string(host ? host : ""));
		json_object_set_new(md, "public-ipv4", json_string(floating ? floating : ""));
	}
	if (ver >= 3)      /* 2007-08-29 */
		json_object_set_new(md, "instance-type", flavor_name(inst));
	if (ver >= 5)      /* 2007-12-15: the libvirt driver's one disk */
		json_object_set_new(md, "block-device-mapping",
		                    json_pack("{s:s,s:s}", "ami", "vda", "root", "/dev/vda"));
	if (ver >= 6)      /* 2008-02-01 */
		json_object_set_new(md, "placement",
		                    json_pack("{s:s}", "availability-zone", az_of(inst)));
	if (ver >= 7)      /* 2008-09-01 */
		json_object_set_new(md, "instance-action", json_string("none"));
	json_t *tree = json_pack("{s:o}", "meta-data", md);
	const char *ud = kjson_str(inst, "user_data");
	if (ud && *ud)
		json_object_set_new(tree, "user-data", json_true());
	return tree;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Nova's ec2_md_print: a listing or a leaf as text (malloc'd). */
static char *md_print(const json_t *data)
{
	if (json_is_string(data))
		return strdup(json_string_value(data));
	if (json_is_integer(data)) {
		char *s = NULL;
		return asprintf(&s, "%lld", (long long)json_integer_value(data)) < 0 ? NULL : s;
	}
	size_t n = json_is_object(data) ? json_object_size(data) : json_array_size(data);
	const char **keys = calloc(n + 1, sizeof(*keys));
	char *buf = NULL;
	size_t len = 0;
	FILE *f = keys ? open_memstream(&buf, &len) : NULL;
	if (!f) {
		free(keys);
		return NULL;
	}
	size_t k = 0;
	bool first = true;
	if (json_is_object(data)) {
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)data, key, v)
			keys[k++] = key;
		qsort(keys, k, sizeof(*keys), cmp_keys);
		for (size_t i = 0; i < k; i++) {
			if (!strcmp(keys[i], "_name"))
				continue;
			json_t *v2 = json_object_get(data, keys[i]);
			fputs(first ? "" : "\n", f);
			first = false;
			if (json_is_object(v2) && json_object_get(v2, "_name"))
				fputs(kjson_str(v2, "_name"), f);
			else
				fprintf(f, "%s%s", keys[i], json_is_object(v2) ? "/" : "");
		}
	} else if (json_is_array(data)) {
		size_t i;
		json_t *v;
		json_array_foreach(data, i, v) {
			fputs(first ? "" : "\n", f);
			first = false;
			if (json_is_string(v))
				fputs(json_string_value(v), f);
		}
	}
	fclose(f);
	free(keys);
	return buf;
}

/* ---- the OpenStack tree ---- */

/* Subnets of a network from the Network API, cached SUBNET_TTL_US.  New ref
 * (an array, maybe empty when the API did not answer). */
static pthread_mutex_t subnet_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *subnet_cache;   /* network id -> {"t": us, "subnets": [...]} */

static json_t *network_subnets(const char *network_id)
{
	int64_t now = kutil_now_us();
	pthread_mutex_lock(&subnet_mu);
	json_t *e = subnet_cache ? json_object_get(subnet_cache, network_id) : NULL;
	if (e && now - json_integer_value(json_object_get(e, "t")) < SUBNET_TTL_US) {
		json_t *copy = json_deep_copy(json_object_get(e, "subnets"));
		pthread_mutex_unlock(&subnet_mu);
		return copy;
	}
	pthread_mutex_unlock(&subnet_mu);

	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2.0/subnets?network_id=%s", network_id) < 0)
		return json_array();
	json_t *out = NULL;
	long st = kclient_json("network", "GET", path, NULL, NULL, NULL, &out);
	json_t *subnets = json_object_get(out, "subnets");
	if (st != 200 || !json_is_array(subnets)) {
		klog_warn("metadata", "subnets of network %s: the Network API answered %ld",
		          network_id, st);
		json_decref(out);
		return json_array();
	}
	json_incref(subnets);
	json_decref(out);
	pthread_mutex_lock(&subnet_mu);
	if (!subnet_cache)
		subnet_cache = json_object();
	if (json_object_size(subnet_cache) > 4096)
		json_object_clear(subnet_cache);
	json_object_set_new(subnet_cache, network_id,
	                    json_pack("{s:I,s:O}", "t", (json_int_t)now, "subnets", subnets));
	pthread_mutex_unlock(&subnet_mu);
	return subnets;
}

static json_t *find_subnet(const json_t *subnets, const char *id)
{
	size_t i;
	json_t *s;
	json_array_foreach(subnets, i, s)
		if (id && !strcmp(str_or(s, "id", ""), id))
			return s;
	return NULL;
}

/* "10.0.0.0/8" -> "255.0.0.0" (v4); v6 keeps Nova's expanded mask form. */
static json_t *netmask_of(const char *cidr, int version)
{
	const char *slash = cidr ? strchr(cidr, '/') : NULL;
	int bits = slash ? atoi(slash + 1) : (version == 6 ? 128 : 32);
	if (version == 6) {
		char buf[64];
		size_t k = 0;
		for (int g = 0; g < 8; g++) {
			int b = bits - g * 16;
			unsigned v = b >= 16 ? 0xffff : b <= 0 ? 0 : (0xffffu << (16 - b)) & 0xffff;
			k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%x", g ? ":" : "", v);
		}
		return json_string(buf);
	}
	uint32_t m = bits <= 0 ? 0 : bits >= 32 ? 0xffffffffu : ~((1u << (32 - bits)) - 1);
	return json_sprintf("%u.%u.%u.%u", m >> 24, (m >> 16) & 255, (m >> 8) & 255, m & 255);
}

static void add_dns(json_t *list, const json_t *subnet)
{
	size_t i, j;
	json_t *d, *have;
	json_array_foreach(json_object_get(subnet, "dns_nameservers"), i, d) {
		bool dup = false;
		json_array_foreach(list, j, have)
			if (!strcmp(str_or(have, "address", ""), json_string_value(d) ?: ""))
				dup = true;
		if (!dup && json_is_string(d))
			json_array_append_new(list, json_pack("{s:s,s:O}", "type", "dns",
			                                      "address", d));
	}
}

/* Nova's netutils.get_network_metadata(): links, networks, services. */
static json_t *network_data(const json_t *ports)
{
	json_t *links = json_array(), *nets = json_array(), *services = json_array();
	size_t i, j;
	json_t *p, *ip;
	int net_num = 0;
	json_array_foreach(ports, i, p) {
		const char *port_id = str_or(p, "port_id", "");
		const char *tap = kjson_str(p, "tap");
		char link_id[32];
		if (tap && *tap)
			snprintf(link_id, sizeof(link_id), "%s", tap);
		else
			snprintf(link_id, sizeof(link_id), "tap%.11s", port_id);
		json_int_t mtu = json_integer_value(json_object_get(p, "mtu"));
		json_array_append_new(links, json_pack("{s:s,s:s,s:s,s:s,s:I}",
		        "id", link_id, "vif_id", port_id, "type", "bridge",
		        "ethernet_mac_address", str_or(p, "mac", ""), "mtu", mtu ? mtu : 1500));
		const char *nid = str_or(p, "network_id", "");
		_cleanup_json_ json_t *subnets = *nid ? network_subnets(nid) : json_array();
		json_array_foreach(json_object_get(p, "ips"), j, ip) {
			if (strcmp(str_or(ip, "type", "fixed"), "fixed") != 0)
				continue;
			const char *addr = str_or(ip, "addr", "");
			int ver = (int)json_integer_value(json_object_get(ip, "version"));
			if (!ver)
				ver = strchr(addr, ':') ? 6 : 4;
			const json_t *sn = find_subnet(subnets, kjson_str(ip, "subnet_id"));
			json_t *n = json_object();
			json_object_set_new(n, "id", json_sprintf("network%d", net_num++));
			json_object_set_new(n, "link", json_string(link_id));
			json_object_set_new(n, "network_id", json_string(nid));
			bool dhcp = sn ? json_is_true(json_object_get(sn, "enable_dhcp")) : true;
			const char *v6mode = sn ? kjson_str(sn, "ipv6_address_mode") : NULL;
			if (ver == 6 && v6mode && *v6mode) {
				json_object_set_new(n, "type", json_sprintf("ipv6_%s", v6mode));
			} else if (dhcp) {
				json_object_set_new(n, "type", json_sprintf("ipv%d_dhcp", ver));
			} else {
				json_object_set_new(n, "type", json_sprintf("ipv%d", ver));
				json_object_set_new(n, "ip_address", json_string(addr));
				json_object_set_new(n, "netmask",
				                    netmask_of(kjson_str(sn, "cidr"), ver));
				json_t *routes = json_array();
				const char *gw = kjson_str(sn, "gateway_ip");
				if (gw && *gw)
					json_array_append_new(routes, json_pack("{s:s,s:s,s:s}",
					        "network", ver == 6 ? "::" : "0.0.0.0", "netmask",
					        ver == 6 ? "::" : "0.0.0.0", "gateway", gw));
				size_t k;
				json_t *hr;
				json_array_foreach(json_object_get(sn, "host_routes"), k, hr) {
					const char *dest = str_or(hr, "destination", "");
					_cleanup_free_ char *net = strdup(dest);
					if (!net)
						continue;
					char *sl = strchr(net, '/');
					if (sl)
						*sl = '\0';
					json_array_append_new(routes, json_pack("{s:s,s:o,s:s}",
					        "network", net, "netmask", netmask_of(dest, ver),
					        "gateway", str_or(hr, "nexthop", "")));
				}
				json_object_set_new(n, "routes", routes);
				json_t *svc = json_array();
				add_dns(svc, sn);
				json_object_set_new(n, "services", svc);
			}
			if (sn)
				add_dns(services, sn);
			json_array_append_new(nets, n);
		}
	}
	return json_pack("{s:o,s:o,s:o}", "links", links, "networks", nets, "services", services);
}

static json_t *instance_meta(const json_t *inst)
{
	json_t *have = json_object_get(inst, "_metadata");
	if (json_is_object(have))
		return json_deep_copy(have);
	json_t *out = json_object();
	if (!cmp_db)
		return out;
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db,
	        "SELECT meta_key, meta_value FROM cmp_instance_metadata WHERE instance_id = ?",
	        "s", str_or(inst, "id", ""));
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
		json_object_set_new(out, str_or(r, "meta_key", ""),
		                    json_string(str_or(r, "meta_value", "")));
	return out;
}

/* meta_data.json for version index ver (New reference). */
static json_t *meta_data_json(const json_t *inst, int ver)
{
	json_t *md = json_pack("{s:s}", "uuid", str_or(inst, "id", ""));
	json_t *meta = instance_meta(inst);
	if (json_object_size(meta))
		json_object_set(md, "meta", meta);
	json_decref(meta);
	const char *key_name = kjson_str(inst, "key_name");
	if (key_name && *key_name) {
		const char *key_data = str_or(inst, "key_data", "");
		json_object_set_new(md, "public_keys", json_pack("{s:s}", key_name, key_data));
		const char *user = str_or(inst, "user_id", "");
		_cleanup_json_ json_t *kp = cmp_db ? cmp_keypair_get(user, key_name) : NULL;
		json_object_set_new(md, "keys", json_pack("[{s:s,s:s,s:s}]", "name", key_name,
		                    "type", kp ? str_or(kp, "type", "ssh") : "ssh",
		                    "data", kp ? str_or(kp, "public_key", key_data) : key_data));
	}
	_cleanup_free_ char *host = hostname_of(inst);
	json_object_set_new(md, "hostname", json_string(host ? host : ""));
	json_object_set_new(md, "name", json_string(str_or(inst, "name", "")));
	json_int_t launch_index = json_integer_value(json_object_get(inst, "launch_index"));
	json_object_set_new(md, "launch_index", json_integer(launch_index));
	json_object_set_new(md, "availability_zone", json_string(az_of(inst)));
	if (ver >= OS_GRIZZLY) {
		unsigned char seed[512];
		kutil_random(seed, sizeof(seed));
		_cleanup_free_ char *b64 = b64_encode(seed, sizeof(seed));
		json_object_set_new(md, "random_seed", json_string(b64 ? b64 : ""));
	}
	if (ver >= OS_LIBERTY)
		json_object_set_new(md, "project_id", json_string(str_or(inst, "project_id", "")));
	if (ver >= OS_NEWTON_ONE)
		json_object_set_new(md, "devices", json_array());
	if (ver >= OS_VICTORIA)
		json_object_set_new(md, "dedicated_cpus", json_array());
	return md;
}

/* The listing of /openstack/<version>/. */
static char *os_listing(const json_t *inst, int ver)
{
	const char *ud = kjson_str(inst, "user_data");
	char *s = NULL;
	if (asprintf(&s, "meta_data.json%s%s%s%s%s", ud && *ud ? "\nuser_data" : "",
	             ver >= OS_GRIZZLY ? "\npassword" : "",
	             ver >= OS_HAVANA ? "\nvendor_data.json" : "",
	             ver >= OS_LIBERTY ? "\nnetwork_data.json" : "",
	             ver >= OS_NEWTON_TWO ? "\nvendor_data2.json" : "") < 0)
		return NULL;
	return s;
}

/* One file of /openstack/<version>/ (malloc'd, *len bytes; *json set for
 * JSON documents); NULL when there is no such file. */
static char *os_file(const json_t *inst, const json_t *ports, int ver, const char *name,
                     size_t *len, bool *is_json)
{
	json_t *doc = NULL;
	*is_json = true;
	if (!strcmp(name, "meta_data.json")) {
		doc = meta_data_json(inst, ver);
	} else if (!strcmp(name, "user_data")) {
		const char *ud = kjson_str(inst, "user_data");
		*is_json = false;
		return ud && *ud ? (char *)b64_decode(ud, len) : NULL;
	} else if (!strcmp(name, "password") && ver >= OS_GRIZZLY) {
		*is_json = false;
		_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT metadata_password "
		                                           "FROM cmp_instance WHERE id = ?", "s",
		                                           kjson_str(inst, "id"));
		const char *pw = kjson_str(row, "metadata_password");
		*len = pw ? strlen(pw) : 0;
		return strdup(pw ? pw : "");
	} else if ((!strcmp(name, "vendor_data.json") && ver >= OS_HAVANA) ||
	           (!strcmp(name, "vendor_data2.json") && ver >= OS_NEWTON_TWO)) {
		doc = json_object();
	} else if (!strcmp(name, "network_data.json") && ver >= OS_LIBERTY) {
		doc = network_data(ports);
	} else {
		return NULL;
	}
	char *s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	*len = s ? strlen(s) : 0;
	return s;
}

/* ---- the API ---- */

static void md_error_body(kreq *r, int status, const char *message)
{
	const char *body = kpool_printf(r->pool, "%d %s\n\n%s\n", status, khttp_reason(status),
	                                message);
	kresp_raw(r, status, "text/plain; charset=UTF-8", body, strlen(body));
}

static void answer_text(kreq *r, const char *ctype, char *text, size_t len)
{
	if (!text) {
		kresp_error(r, 500, "An unknown error has occurred. "
		            "Please try your request again.");
		return;
	}
	/* kresp_raw() copies up to the first NUL: user data may be binary, so
	 * the body is put in place after it */
	kresp_raw(r, 200, ctype, "", 0);
	char *body = kpool_alloc(r->pool, len + 1);
	memcpy(body, text, len);
	body[len] = '\0';
	r->resp_body = body;
	r->resp_len = len;
	free(text);
}

#define TEXT "text/plain; charset=UTF-8"

static const char *signature_secret(void)
{
	return proxy_secret ? proxy_secret : "";
}

/* Nova's _handle_instance_id_request: the instance row (new ref), or NULL
 * when it answered.  *ports gets its ports. */
static json_t *authorize(kreq *r, json_t **ports)
{
	const char *id = kreq_header(r, "X-Instance-ID");
	const char *tenant = kreq_header(r, "X-Tenant-ID");
	const char *sig = kreq_header(r, "X-Instance-ID-Signature");
	const char *fwd = kreq_header(r, "X-Forwarded-For");
	if (!id) {
		kresp_error(r, 400, "X-Instance-ID header is missing from request.");
		return NULL;
	}
	if (!tenant) {
		kresp_error(r, 400, "X-Tenant-ID header is missing from request.");
		return NULL;
	}
	const char *secret = signature_secret();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)id, strlen(id), md,
	     &mdlen);
	_cleanup_free_ char *want = kutil_hex(md, mdlen);
	if (!want || !sig || strlen(sig) != strlen(want) ||
	    !kutil_ct_equal(want, sig, strlen(want))) {
		klog_warn("metadata", "%s: X-Instance-ID-Signature does not match for instance "
		          "%.64s (request from %.64s)", r->request_id, id, fwd ? fwd : "?");
		kresp_error(r, 403, "Invalid proxy request signature.");
		return NULL;
	}
	/* the source address: the first of X-Forwarded-For */
	char addr[64] = "";
	if (fwd) {
		while (*fwd == ' ')
			fwd++;
		size_t n = strcspn(fwd, ", ");
		if (n < sizeof(addr))
			snprintf(addr, sizeof(addr), "%.*s", (int)n, fwd);
	}
	json_t *inst = NULL;
	if (strlen(id) <= 64 && kutil_is_uuid(id))
		inst = kdb_query_row(cmp_db, NULL,
		        "SELECT id, project_id, user_id, name, hostname, image_ref, flavor_id, "
		        "flavor, availability_zone, key_name, key_data, user_data, reservation_id, "
		        "launch_index, security_groups FROM cmp_instance "
		        "WHERE id = ? AND deleted = 0",
		        "s", id);
	const char *why = NULL;
	if (!inst)
		why = "no such instance";
	else if (strcmp(str_or(inst, "project_id", ""), tenant) != 0)
		why = "X-Tenant-ID is not its project";
	if (!why) {
		*ports = load_ports(inst);
		if (!*addr || !has_fixed_ip(*ports, addr))
			why = "the source address is none of its fixed IPs";
	}
	if (why) {
		klog_info("metadata", "%s: instance %.64s from %.64s: %s, 404", r->request_id, id,
		          *addr ? addr : "?", why);
		json_decref(inst);
		if (*ports) {
			json_decref(*ports);
			*ports = NULL;
		}
		kresp_error(r, 404, "The resource could not be found.");
		return NULL;
	}
	return inst;
}

static void serve_ec2(kreq *r, const json_t *inst, const json_t *ports, const char **tok,
                      int ntok, const char *addr)
{
	int ver = version_index(ec2_versions, EC2_N, tok[0]);
	if (ver < 0) {
		kresp_error(r, 404, "The resource could not be found.");
		return;
	}
	_cleanup_json_ json_t *tree = ec2_tree(inst, ports, ver, addr);
	if (ntok >= 2 && !strcmp(tok[1], "user-data")) {
		const char *ud = kjson_str(inst, "user_data");
		size_t len = 0;
		char *data = ntok == 2 && ud && *ud ? (char *)b64_decode(ud, &len) : NULL;
		if (!data) {
			kresp_error(r, 404, "The resource could not be found.");
			return;
		}
		answer_text(r, TEXT, data, len);
		return;
	}
	const json_t *node = tree;
	for (int i = 1; i < ntok; i++) {
		bool ok = json_is_object(node) && strcmp(tok[i], "_name") != 0;
		node = ok ? json_object_get(node, tok[i]) : NULL;
		if (!node) {
			kresp_error(r, 404, "The resource could not be found.");
			return;
		}
	}
	char *text = md_print(node);
	answer_text(r, TEXT, text, text ? strlen(text) : 0);
}

static void serve_openstack(kreq *r, const json_t *inst, const json_t *ports, const char **tok,
                            int ntok)
{
	int ver = version_index(os_versions, OS_N, tok[0]);
	if (ver < 0 || ntok > 2) {
		kresp_error(r, 404, "The resource could not be found.");
		return;
	}
	if (ntok == 1) {
		char *text = os_listing(inst, ver);
		answer_text(r, TEXT, text, text ? strlen(text) : 0);
		return;
	}
	size_t len = 0;
	bool is_json = false;
	char *data = os_file(inst, ports, ver, tok[1], &len, &is_json);
	if (!data) {
		kresp_error(r, 404, "The resource could not be found.");
		return;
	}
	answer_text(r, is_json ? "application/json" : TEXT, data, len);
}

/* POST /openstack/<version>/password: the guest leaves its (encrypted)
 * password once, as Nova's password handler: at most 256 bytes, 409 when
 * one is already there; os-server-password shows and clears it. */
static void post_password(kreq *r)
{
	char *path = kpool_strdup(r->pool, r->path ? r->path : "/");
	const char *tok[4];
	int ntok = 0;
	char *save = NULL;
	for (char *t = strtok_r(path, "/", &save); t && ntok < 4; t = strtok_r(NULL, "/", &save))
		tok[ntok++] = t;
	if (ntok != 3 || strcmp(tok[0], "openstack") != 0 || strcmp(tok[2], "password") != 0 ||
	    version_index(os_versions, OS_N, tok[1]) < OS_GRIZZLY) {
		kresp_error(r, 405, "The method POST is not allowed for this resource.");
		return;
	}
	json_t *ports = NULL;
	_cleanup_json_ json_t *inst = authorize(r, &ports);
	_cleanup_json_ _unused_ json_t *ports_owned = ports;
	if (!inst)
		return;
	if (r->body_len > 256) {
		kresp_error(r, 400, "Request is too large.");
		return;
	}
	int64_t n = 0;
	int rc = kdb_run(cmp_db, &n, "UPDATE cmp_instance SET metadata_password = ? WHERE id = ? "
	                 "AND (metadata_password IS NULL OR metadata_password = '')", "ss",
	                 r->body ? r->body : "", kjson_str(inst, "id"));
	if (rc != KDB_DONE) {
		kresp_error(r, 500, "An unknown error has occurred.");
		return;
	}
	if (n == 0) {
		kresp_error(r, 409, "Password already set.");
		return;
	}
	answer_text(r, TEXT, strdup(""), 0);
}

static char *version_list(const char *const *list, int n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (int i = 0; i < n; i++)
		fprintf(f, "%s\n", list[i]);
	fputs("latest", f);
	fclose(f);
	return buf;
}

static void handle(kreq *r)
{
	/* tokens of the path ("/openstack/latest/" -> openstack, latest) */
	char *path = kpool_strdup(r->pool, r->path ? r->path : "/");
	const char *tok[MD_MAX_TOKENS];
	int ntok = 0;
	char *save = NULL;
	for (char *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (ntok == MD_MAX_TOKENS || !strcmp(t, ".") || !strcmp(t, "..")) {
			kresp_error(r, 404, "The resource could not be found.");
			return;
		}
		tok[ntok++] = t;
	}
	if (ntok == 0) {
		char *text = version_list(ec2_versions, EC2_N);
		answer_text(r, TEXT, text, text ? strlen(text) : 0);
		return;
	}
	json_t *ports = NULL;
	_cleanup_json_ json_t *inst = authorize(r, &ports);
	if (!inst)
		return;
	_cleanup_json_ _unused_ json_t *ports_owned = ports;
	if (!strcmp(tok[0], "openstack")) {
		if (ntok == 1) {
			char *text = version_list(os_versions, OS_N);
			answer_text(r, TEXT, text, text ? strlen(text) : 0);
		} else {
			serve_openstack(r, inst, ports, tok + 1, ntok - 1);
		}
		return;
	}
	int skip = !strcmp(tok[0], "ec2") ? 1 : 0;
	if (ntok - skip == 0) {
		char *text = version_list(ec2_versions, EC2_N);
		answer_text(r, TEXT, text, text ? strlen(text) : 0);
		return;
	}
	serve_ec2(r, inst, ports, tok + skip, ntok - skip, NULL);
}

static const kroute md_routes[] = {
	{ "POST", "/{a}/{b}/{c}", post_password, KROUTE_PUBLIC },
	{ "GET", "/", handle, KROUTE_PUBLIC },
	{ "GET", "/{a}", handle, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}", handle, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}/{c}", handle, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}/{c}/{d}", handle, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}/{c}/{d}/{e}", handle, KROUTE_PUBLIC },
	{ "GET", "/{a}/{b}/{c}/{d}/{e}/{f}", handle, KROUTE_PUBLIC },
};

/* ---- config drive files ---- */

static void put_file(json_t *files, const char *path, char *data, size_t len)
{
	if (data)
		json_object_set_new(files, path, json_stringn_nocheck(data, len));
	free(data);
}

json_t *cmp_metadata_files(const json_t *inst)
{
	if (!inst || !kjson_str(inst, "id"))
		return NULL;
	_cleanup_json_ json_t *ports = cmp_db || json_object_get(inst, "_ports")
	                               ? load_ports(inst) : NULL;
	if (!ports)
		ports = json_array();
	json_t *files = json_object();
	const char *ud = kjson_str(inst, "user_data");
	bool has_ud = ud && *ud;
	/* ec2: Nova skips the versions before 2009-04-04 on a config drive */
	const char *ec2v[] = { "2009-04-04", "latest" };
	for (size_t i = 0; i < ARRAY_SIZE(ec2v); i++) {
		_cleanup_json_ json_t *tree = ec2_tree(inst, ports, EC2_N - 1, NULL);
		json_t *md = json_object_get(tree, "meta-data");
		json_object_del(json_object_get(json_object_get(md, "public-keys"), "0"), "_name");
		char path[128];
		snprintf(path, sizeof(path), "ec2/%s/meta-data.json", ec2v[i]);
		char *text = json_dumps(md, JSON_COMPACT);
		put_file(files, path, text, text ? strlen(text) : 0);
		if (has_ud) {
			size_t len = 0;
			snprintf(path, sizeof(path), "ec2/%s/user-data", ec2v[i]);
			unsigned char *d = b64_decode(ud, &len);
			put_file(files, path, (char *)d, len);
		}
	}
	for (int v = 0; v <= OS_N; v++) {
		int ver = v < OS_N ? v : OS_N - 1;
		const char *vname = v < OS_N ? os_versions[v] : "latest";
		static const char *const names[] = { "meta_data.json", "user_data",
			"vendor_data.json", "network_data.json", "vendor_data2.json" };
		for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
			size_t len = 0;
			bool is_json;
			char *data = os_file(inst, ports, ver, names[n], &len, &is_json);
			char path[128];
			snprintf(path, sizeof(path), "openstack/%s/%s", vname, names[n]);
			put_file(files, path, data, len);
		}
	}
	return files;
}

/* ---- lifecycle ---- */

static int md_init(void)
{
	if (!cmp_db) {
		cmp_db = kservice_db_open("compute");
		if (!cmp_db)
			return -1;
		db_owned = true;
		if (kdb_schema_version(cmp_db, "compute") == 0) {
			klog_error("metadata", "the compute database has no schema: run "
			           "`kumo manage db-sync` first");
			return -1;
		}
	}
	const char *s = kconf_get(kumo_conf, "compute", "metadata_proxy_shared_secret", "");
	if (!*s)
		s = kconf_get(kumo_conf, "network", "metadata_proxy_shared_secret", "");
	if (!*s)
		klog_warn("metadata", "metadata_proxy_shared_secret is empty: the proxy's "
		          "signatures use an empty key");
	free(proxy_secret);
	proxy_secret = strdup(s);
	return proxy_secret ? 0 : -1;
}

static void md_fini(void)
{
	if (db_owned) {
		kdb_close(cmp_db);
		cmp_db = NULL;
		db_owned = false;
	}
	free(proxy_secret);
	proxy_secret = NULL;
	pthread_mutex_lock(&subnet_mu);
	json_decref(subnet_cache);
	subnet_cache = NULL;
	pthread_mutex_unlock(&subnet_mu);
}

kservice cmp_metadata_service = {
	.name = "metadata",
	.routes = md_routes,
	.nroutes = ARRAY_SIZE(md_routes),
	.error_body = md_error_body,
	.max_body = 64 * 1024,
	.default_port = 8775,
	.init = md_init,
	.fini = md_fini,
};
