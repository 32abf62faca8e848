/*
 * servers.c - Nova's /servers API at 2.1/2.2: create (with Nova's request
 * validation), list and detail (Nova's filters, sorting and pagination),
 * show, update, delete, /ips and the server metadata API.
 *
 * Create follows nova/api/openstack/compute/servers.py and compute/api.py
 * in their order: the body against the 2.1 JSON schema (unknown members
 * rejected), then policy, then the referenced resources, looked up with the
 * caller's token as Nova does - the flavor (ours), the image (Image API),
 * the key pair, the security groups and networks or ports (Network API) -
 * then the quota, and only then the rows: one per instance (max_count),
 * vm_state building / task_state scheduling, action "create", and one cast
 * to the conductor.  The answer (202) never waits for the build.
 *
 * Lists are two light queries, not one per server: the ids of the matching
 * rows in order (filters that SQL can do in SQL; the name/ip regular
 * expressions, which Nova applies with re.search, in C with POSIX regcomp),
 * then the page's full rows, then cmp_instance_attach() loads the page's
 * metadata, ports and faults with one query each.  A marker is looked up
 * among all instances, as in Nova, so paging with a marker that a filter
 * would exclude still works.
 *
 * Delete: an instance that never reached a host, or whose host's agent is
 * gone (no heartbeat within [compute] service_down_time), is deleted here
 * (ports through the Network API with the service token, then the row is
 * soft-deleted and its claim dropped); otherwise task_state deleting and a
 * cast to the agent, which does the same after destroying the domain.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/bus.h"
#include "core/client.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

#define MAX_USER_DATA 65535

/* ------------------------------------------------------------------------ */
/* Small helpers */

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static const char *project_of(kreq *r)
{
	return r->ctx && r->ctx->project_id ? r->ctx->project_id : "";
}

static const char *user_of(kreq *r)
{
	return r->ctx && r->ctx->user_id ? r->ctx->user_id : "";
}

static void unexpected(kreq *r)
{
	kresp_error(r, 500, "Unexpected API Error. Please report this at "
	            "http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.");
}

/* Percent-encoding of a query component. */
static const char *urlenc(kpool *pool, const char *s)
{
	size_t n = strlen(s);
	char *out = kpool_alloc(pool, n * 3 + 1), *p = out;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~')
			*p++ = (char)*c;
		else
			p += sprintf(p, "%%%02X", *c);
	}
	*p = 0;
	return out;
}

/* Number of code points of UTF-8 text. */
static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Nova's "name" format: printable, no leading or trailing white space. */
static bool valid_name_text(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || utf8_len(s) > 255)
		return false;
	if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))
		return false;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			return false;
		/* C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F) */
		if (*c == 0xC2 && c[1] >= 0x80 && c[1] <= 0x9F)
			return false;
	}
	return true;
}

static bool is_ipv4(const char *s)
{
	struct in_addr a;
	return inet_pton(AF_INET, s, &a) == 1;
}

static bool is_ipv6(const char *s)
{
	struct in6_addr a;
	return inet_pton(AF_INET6, s, &a) == 1;
}

/* Base64 as Python's b64decode accepts it (white space ignored). */
static bool valid_base64(const char *s)
{
	size_t n = 0, pad = 0;
	for (const char *c = s; *c; c++) {
		if (isspace((unsigned char)*c))
			continue;
		if (*c == '=') {
			pad++;
			n++;
			continue;
		}
		if (pad || !(isalnum((unsigned char)*c) || *c == '+' || *c == '/'))
			return false;
		n++;
	}
	return pad <= 2 && n % 4 == 0;
}

/* oslo's bool_from_string enum of parameter_types.boolean: 1 / 0 / -1 (invalid). */
static int api_bool(const json_t *v)
{
	if (json_is_true(v))
		return 1;
	if (json_is_false(v))
		return 0;
	if (!json_is_string(v))
		return -1;
	static const char *const t[] = { "True", "TRUE", "true", "1", "ON", "On", "on",
	                                 "YES", "Yes", "yes" };
	static const char *const f[] = { "False", "FALSE", "false", "0", "OFF", "Off", "off",
	                                 "NO", "No", "no" };
	const char *s = json_string_value(v);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (strcmp(s, t[i]) == 0)
			return 1;
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (strcmp(s, f[i]) == 0)
			return 0;
	return -1;
}

/* strutils.bool_from_string(s, default=False) for query strings. */
static bool query_bool(const char *s)
{
	if (!s)
		return false;
	static const char *const t[] = { "1", "t", "true", "on", "y", "yes" };
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (strcasecmp(s, t[i]) == 0)
			return true;
	return false;
}

/* parameter_types.positive_integer: integer >= 1 or a string of digits. */
static long positive_int(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) >= 1 ? (long)json_integer_value(v) : -1;
	if (!json_is_string(v))
		return -1;
	const char *s = json_string_value(v);
	if (!*s || strlen(s) > 9)
		return -1;
	for (const char *c = s; *c; c++)
		if (!isdigit((unsigned char)*c))
			return -1;
	long n = strtol(s, NULL, 10);
	return n >= 1 ? n : -1;
}

/* The id at the end of a reference: "http://.../flavors/1" -> "1". */
static const char *id_from_href(kpool *pool, const char *ref)
{
	const char *slash = strrchr(ref, '/');
	if (!slash)
		return ref;
	const char *id = slash + 1;
	const char *q = strchr(id, '?');
	return q ? kpool_strndup(pool, id, (size_t)(q - id)) : id;
}

/* JSON Schema-style answer, as Nova's validator words it. */
static void invalid_input(kreq *r, const char *field, const json_t *value, const char *why)
{
	_cleanup_free_ char *v = value ? json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	kresp_error(r, 400, "Invalid input for field/attribute %s. Value: %s. %s", field,
	            v ? v : "None", why);
}

/* Only these members in obj, else 400 as Nova's additionalProperties. */
static bool only_members(kreq *r, const char *field, const json_t *obj,
                         const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			if (strcmp(allowed[i], key) == 0)
				ok = true;
		if (!ok) {
			invalid_input(r, field, obj,
			              kpool_printf(r->pool,
			                           "Additional properties are "
			                           "not allowed ('%s' was unexpected)",
			                           key));
			return false;
		}
	}
	return true;
}

static bool check_name(kreq *r, const char *field, const json_t *v)
{
	if (!json_is_string(v)) {
		invalid_input(r, field, v, kpool_printf(r->pool, "%s is not of type 'string'",
		                                        "value"));
		return false;
	}
	if (!valid_name_text(json_string_value(v))) {
		if (json_string_length(v) == 0 || utf8_len(json_string_value(v)) > 255)
			invalid_input(r, field, v, json_string_length(v) == 0
			              ? "'' is too short" : "Value is too long");
		else
			invalid_input(r, field, v, "An invalid 'name' value was provided. The name "
			              "must be: printable characters. Can not start or end with "
			              "whitespace.");
		return false;
	}
	return true;
}

/* parameter_types.metadata: keys ^[a-zA-Z0-9-_:. ]{1,255}$, string values <= 255. */
static bool check_metadata(kreq *r, const char *field, const json_t *meta)
{
	if (!json_is_object(meta)) {
		invalid_input(r, field, meta, "Value is not of type 'object'");
		return false;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)meta, key, v) {
		size_t n = strlen(key);
		bool ok = n >= 1 && n <= 255;
		for (const char *c = key; ok && *c; c++)
			ok = isalnum((unsigned char)*c) || strchr("-_:. ", *c);
		if (!ok) {
			invalid_input(r, field, meta, kpool_printf(r->pool, "Additional properties "
			              "are not allowed ('%s' was unexpected)", key));
			return false;
		}
		if (!json_is_string(v)) {
			invalid_input(r, kpool_printf(r->pool, "%s/%s", field, key), v,
			              "Value is not of type 'string'");
			return false;
		}
		if (utf8_len(json_string_value(v)) > 255) {
			invalid_input(r, kpool_printf(r->pool, "%s/%s", field, key), v,
			              "Value is too long");
			return false;
		}
	}
	return true;
}

/* JSON value of a Network API answer with the caller's token. */
static long net_get(kreq *r, const char *path, json_t **out)
{
	json_t *j = NULL;
	long st = kclient_json("network", "GET", path, r->ctx ? r->ctx->token : NULL, NULL, NULL,
	                       &j);
	*out = j ? kpool_json(r->pool, j) : NULL;
	return st;
}

static void random_text(char *out, size_t n, const char *alphabet)
{
	size_t al = strlen(alphabet);
	unsigned char buf[64];
	kutil_random(buf, n);
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[buf[i] % al];
	out[n] = 0;
}

/* Nova's utils.sanitize_hostname (ASCII subset). */
static char *sanitize_hostname(kpool *pool, const char *name)
{
	char *h = kpool_alloc(pool, 64);
	size_t n = 0;
	size_t cps = 0;
	for (const unsigned char *c = (const unsigned char *)name; *c && cps < 63; c++) {
		if ((*c & 0xC0) != 0x80)
			cps++;
		if (*c == ' ' || *c == '_' || *c == '.')
			h[n++] = '-';
		else if (isalnum(*c) || *c == '-')
			h[n++] = (char)tolower(*c);
	}
	h[n] = 0;
	size_t s = 0;
	while (h[s] == '-' || h[s] == '.')
		s++;
	while (n > s && (h[n - 1] == '-' || h[n - 1] == '.'))
		h[--n] = 0;
	return h + s;
}

/* ------------------------------------------------------------------------ */
/* Create */

typedef struct boot {
	const char *name;
	const char *image_id;
	json_t *image;          /* the image's metadata as stored in the row */
	const char *flavor_id;
	json_t *flavor;         /* cmp_flavor_view with extra_specs */
	json_t *metadata;
	json_t *networks;       /* the request's */
	json_t *requested;      /* resolved [{"network_id","port_id","fixed_ip","preexisting"}] */
	json_t *sg_names;       /* ["default"] */
	json_t *sg_ids;
	const char *key_name, *key_data;
	const char *user_data;
	const char *config_drive;
	const char *access_v4, *access_v6;
	const char *admin_pass;
	const char *az;
	const char *group_id;
	long min_count, max_count;
	bool want_resv;
} boot;

static bool parse_networks(kreq *r, boot *b)
{
	b->requested = kpool_json(r->pool, json_array());
	if (!b->networks)
		return true;
	if (!json_is_array(b->networks)) {
		invalid_input(r, "networks", b->networks, "Value is not of type 'array'");
		return false;
	}
	static const char *const net_keys[] = { "fixed_ip", "port", "uuid", NULL };
	_cleanup_json_ json_t *ports = json_object();
	size_t i;
	json_t *n;
	json_array_foreach(b->networks, i, n) {
		if (!json_is_object(n)) {
			invalid_input(r, "networks", n, "Value is not of type 'object'");
			return false;
		}
		if (!only_members(r, "networks", n, net_keys))
			return false;
		json_t *fixed = json_object_get(n, "fixed_ip"), *port = json_object_get(n, "port"),
		       *uuid = json_object_get(n, "uuid");
		if (fixed && (!json_is_string(fixed) || (!is_ipv4(json_string_value(fixed)) &&
		                                         !is_ipv6(json_string_value(fixed))))) {
			invalid_input(r, "networks/fixed_ip", fixed,
			              "Value is not valid under any of "
			              "the given schemas");
			return false;
		}
		if (port && !json_is_null(port) && (!json_is_string(port) ||
		                                    !kutil_is_uuid(json_string_value(port)))) {
			invalid_input(r, "networks/port", port, "Value is not a 'uuid'");
			return false;
		}
		if (uuid && !json_is_string(uuid)) {
			invalid_input(r, "networks/uuid", uuid, "Value is not of type 'string'");
			return false;
		}
		const char *port_id = json_is_string(port) ? json_string_value(port) : NULL;
		if (port_id && *port_id) {
			if (json_object_get(ports, port_id)) {
				kresp_error(r, 400,
				            "Port ID '%s' was specified twice: you cannot attach "
				            "a port multiple times.",
				            port_id);
				return false;
			}
			if (fixed) {
				kresp_error(r, 400,
				            "Specified Fixed IP '%s' cannot be used with port "
				            "'%s': the two cannot be specified together.",
				            json_string_value(fixed), port_id);
				return false;
			}
			json_object_set_new(ports, port_id, json_true());
			json_array_append_new(b->requested, json_pack("{s:n,s:s,s:n,s:b}",
			                      "network_id", "port_id", port_id, "fixed_ip",
			                      "preexisting", 1));
			continue;
		}
		if (!uuid) {
			kresp_error(r, 400, "Bad network format: missing 'uuid'");
			return false;
		}
		if (!kutil_is_uuid(json_string_value(uuid))) {
			kresp_error(r, 400, "Bad networks format: network uuid is not in proper "
			            "format (%s)", json_string_value(uuid));
			return false;
		}
		json_t *req = json_pack("{s:s,s:n,s:n,s:b}", "network_id", json_string_value(uuid),
		                        "port_id", "fixed_ip", "preexisting", 0);
		if (fixed)
			json_object_set(req, "fixed_ip", fixed);
		json_array_append_new(b->requested, req);
	}
	return true;
}

/* The body against Nova's 2.1 create schema. */
static bool parse_create(kreq *r, json_t *body, boot *b)
{
	static const char *const top_keys[] = { "server", "os:scheduler_hints",
	                                        "OS-SCH-HNT:scheduler_hints", NULL };
	if (!only_members(r, "", body, top_keys))
		return false;
	json_t *s = json_object_get(body, "server");
	if (!json_is_object(s)) {
		if (s)
			invalid_input(r, "server", s, "Value is not of type 'object'");
		else
			kresp_error(r, 400,
			            "Invalid input for field/attribute server. Value: None. "
			            "'server' is a required property");
		return false;
	}
	static const char *const keys[] = {
		"name", "imageRef", "flavorRef", "adminPass", "metadata", "networks",
		"OS-DCF:diskConfig", "accessIPv4", "accessIPv6", "personality",
		"availability_zone", "block_device_mapping", "block_device_mapping_v2",
		"config_drive", "key_name", "min_count", "max_count", "return_reservation_id",
		"security_groups", "user_data", NULL,
	};
	if (!only_members(r, "server", s, keys))
		return false;
	json_t *v;
	if (!(v = json_object_get(s, "name"))) {
		kresp_error(r, 400, "Invalid input for field/attribute server. Value: %s. "
		            "'name' is a required property", "{...}");
		return false;
	}
	if (!check_name(r, "name", v))
		return false;
	b->name = json_string_value(v);
	if (!(v = json_object_get(s, "flavorRef"))) {
		kresp_error(r, 400, "Invalid input for field/attribute server. Value: %s. "
		            "'flavorRef' is a required property", "{...}");
		return false;
	}
	if (json_is_integer(v))
		b->flavor_id =
		    kpool_printf(r->pool, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_string(v) && json_string_length(v) > 0)
		b->flavor_id = id_from_href(r->pool, json_string_value(v));
	else {
		invalid_input(r, "flavorRef", v, "Value is not valid");
		return false;
	}
	if ((v = json_object_get(s, "imageRef"))) {
		const char *id = json_is_string(v) ? id_from_href(r->pool, json_string_value(v))
		                                   : NULL;
		if (!id || (*id && !kutil_is_uuid(id))) {
			invalid_input(r, "imageRef", v, "Value is not valid under any of the given "
			              "schemas");
			return false;
		}
		b->image_id = id;
	}
	if ((v = json_object_get(s, "adminPass"))) {
		if (!json_is_string(v)) {
			invalid_input(r, "adminPass", v, "Value is not of type 'string'");
			return false;
		}
		b->admin_pass = json_string_value(v);
	}
	if ((v = json_object_get(s, "metadata"))) {
		if (!check_metadata(r, "metadata", v))
			return false;
		b->metadata = v;
	}
	b->networks = json_object_get(s, "networks");
	if ((v = json_object_get(s, "OS-DCF:diskConfig")) &&
	    (!json_is_string(v) || (strcmp(json_string_value(v), "AUTO") != 0 &&
	                            strcmp(json_string_value(v), "MANUAL") != 0))) {
		invalid_input(r, "OS-DCF:diskConfig", v, "Value is not one of ['AUTO', 'MANUAL']");
		return false;
	}
	if ((v = json_object_get(s, "accessIPv4"))) {
		if (!json_is_string(v) || !is_ipv4(json_string_value(v))) {
			invalid_input(r, "accessIPv4", v, "Value is not a 'ipv4'");
			return false;
		}
		b->access_v4 = json_string_value(v);
	}
	if ((v = json_object_get(s, "accessIPv6"))) {
		if (!json_is_string(v) || !is_ipv6(json_string_value(v))) {
			invalid_input(r, "accessIPv6", v, "Value is not a 'ipv6'");
			return false;
		}
		b->access_v6 = json_string_value(v);
	}
	if ((v = json_object_get(s, "personality")) && !json_is_array(v)) {
		invalid_input(r, "personality", v, "Value is not of type 'array'");
		return false;
	}
	if ((v = json_object_get(s, "availability_zone"))) {
		if (!check_name(r, "availability_zone", v))
			return false;
		b->az = json_string_value(v);
	}
	json_t *bdm = json_object_get(s, "block_device_mapping");
	json_t *bdm2 = json_object_get(s, "block_device_mapping_v2");
	if ((bdm && !json_is_array(bdm)) || (bdm2 && !json_is_array(bdm2))) {
		invalid_input(r, bdm && !json_is_array(bdm) ? "block_device_mapping"
		              : "block_device_mapping_v2", bdm && !json_is_array(bdm) ? bdm : bdm2,
		              "Value is not of type 'array'");
		return false;
	}
	if (json_array_size(bdm) || json_array_size(bdm2)) {
		kresp_error(r, 400, "Block device mapping is not supported: this cloud has no "
		            "volume service.");
		return false;
	}
	if ((v = json_object_get(s, "config_drive"))) {
		int cd = api_bool(v);
		if (cd < 0) {
			invalid_input(r, "config_drive", v,
			              "Value is not one of the allowed values");
			return false;
		}
		b->config_drive = cd ? "True" : "";
	}
	if ((v = json_object_get(s, "key_name"))) {
		if (!check_name(r, "key_name", v))
			return false;
		b->key_name = json_string_value(v);
	}
	b->min_count = b->max_count = 1;
	if ((v = json_object_get(s, "min_count")) && (b->min_count = positive_int(v)) < 1) {
		invalid_input(r, "min_count", v, "Value is less than the minimum of 1");
		return false;
	}
	b->max_count = b->min_count;
	if ((v = json_object_get(s, "max_count")) && (b->max_count = positive_int(v)) < 1) {
		invalid_input(r, "max_count", v, "Value is less than the minimum of 1");
		return false;
	}
	if ((v = json_object_get(s, "return_reservation_id"))) {
		int rv = api_bool(v);
		if (rv < 0) {
			invalid_input(r, "return_reservation_id", v,
			              "Value is not one of the allowed values");
			return false;
		}
		b->want_resv = rv == 1;
	}
	b->sg_names = kpool_json(r->pool, json_array());
	if ((v = json_object_get(s, "security_groups"))) {
		if (!json_is_array(v)) {
			invalid_input(r, "security_groups", v, "Value is not of type 'array'");
			return false;
		}
		static const char *const sg_keys[] = { "name", NULL };
		size_t i;
		json_t *g;
		json_array_foreach(v, i, g) {
			if (!json_is_object(g)) {
				invalid_input(r, "security_groups", g,
				              "Value is not of type 'object'");
				return false;
			}
			if (!only_members(r, "security_groups", g, sg_keys))
				return false;
			json_t *nm = json_object_get(g, "name");
			if (!nm)
				continue;
			if (!check_name(r, "security_groups/name", nm))
				return false;
			bool dup = false;
			size_t j;
			json_t *e;
			json_array_foreach(b->sg_names, j, e)
				if (json_equal(e, nm))
					dup = true;
			if (!dup)
				json_array_append(b->sg_names, nm);
		}
	}
	if (json_array_size(b->sg_names) == 0)
		json_array_append_new(b->sg_names, json_string("default"));
	if ((v = json_object_get(s, "user_data"))) {
		if (!json_is_string(v)) {
			invalid_input(r, "user_data", v, "Value is not of type 'string'");
			return false;
		}
		if (json_string_length(v) > MAX_USER_DATA) {
			invalid_input(r, "user_data", NULL, "Value is too long");
			return false;
		}
		if (!valid_base64(json_string_value(v))) {
			kresp_error(r, 400, "User data needs to be valid base 64.");
			return false;
		}
		b->user_data = json_string_value(v);
	}
	/* scheduler hints: only "group" matters here */
	json_t *hints = json_object_get(body, "os:scheduler_hints");
	if (!hints)
		hints = json_object_get(body, "OS-SCH-HNT:scheduler_hints");
	if (hints && !json_is_object(hints)) {
		invalid_input(r, "os:scheduler_hints", hints, "Value is not of type 'object'");
		return false;
	}
	json_t *group = json_object_get(hints, "group");
	if (json_is_array(group))
		group = json_array_get(group, 0);
	if (group) {
		if (!json_is_string(group) || !kutil_is_uuid(json_string_value(group))) {
			invalid_input(r, "os:scheduler_hints/group", group,
			              "Value is not valid under "
			              "any of the given schemas");
			return false;
		}
		b->group_id = json_string_value(group);
	}
	return parse_networks(r, b);
}

/* The image's metadata as an instance keeps it. */
static json_t *image_meta(const json_t *img)
{
	static const char *const std_keys[] = {
		"id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
		"os_hash_algo", "os_hash_value", "owner", "size", "virtual_size",
		"container_format", "disk_format", "created_at", "updated_at", "tags",
		"direct_url", "min_ram", "min_disk", "self", "file", "schema", "locations",
		"stores",
	};
	json_t *m = json_object();
	json_t *props = json_object();
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)img, key, v) {
		bool std = false;
		for (size_t i = 0; i < ARRAY_SIZE(std_keys); i++)
			if (strcmp(std_keys[i], key) == 0)
				std = true;
		if (!std)
			json_object_set(props, key, v);
	}
	static const char *const keep[] = { "id", "name", "status", "disk_format",
	                                    "container_format", "min_disk", "min_ram", "size",
	                                    "owner", "checksum", "visibility" };
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		json_t *x = json_object_get(img, keep[i]);
		json_object_set(m, keep[i], x ? x : json_null());
	}
	json_object_set_new(m, "properties", props);
	return m;
}

static bool check_image(kreq *r, boot *b)
{
	if (!b->image_id || !*b->image_id) {
		kresp_error(r, 400, "Missing imageRef attribute");
		return false;
	}
	json_t *img = NULL;
	long st = kclient_json("image", "GET", kpool_printf(r->pool, "/v2/images/%s", b->image_id),
	                       r->ctx->token, NULL, NULL, &img);
	kpool_json(r->pool, img);
	if (st == 404 || st == 403 || st == 400) {
		kresp_error(r, 400, "Can not find requested image");
		return false;
	}
	if (st != 200 || !json_is_object(img)) {
		kresp_error(r, 503, "The image service is not available (HTTP %ld)", st);
		return false;
	}
	const char *status = kjson_str(img, "status");
	if (!status || strcmp(status, "active") != 0) {
		kresp_error(r, 400, "Image %s is not active.", b->image_id);
		return false;
	}
	int64_t ram = json_integer_value(json_object_get(b->flavor, "ram"));
	int64_t disk = json_integer_value(json_object_get(b->flavor, "disk"));
	if (ram < json_integer_value(json_object_get(img, "min_ram"))) {
		kresp_error(r, 400, "Flavor's memory is too small for requested image.");
		return false;
	}
	if (disk > 0) {
		int64_t gib = 1024LL * 1024 * 1024;
		int64_t size = json_integer_value(json_object_get(img, "size"));
		int64_t min_disk = json_integer_value(json_object_get(img, "min_disk"));
		if (size > disk * gib) {
			kresp_error(r, 400,
			            "Flavor's disk is too small for requested image. Flavor "
			            "disk is %" PRId64 " bytes, image is %" PRId64 " bytes.",
			            disk * gib, size);
			return false;
		}
		if (min_disk > disk) {
			kresp_error(r, 400,
			            "Flavor's disk is smaller than the minimum size specified "
			            "in image metadata. Flavor disk is %" PRId64
			            " bytes, minimum size "
			            "is %" PRId64 " bytes.",
			            disk * gib, min_disk * gib);
			return false;
		}
	}
	const char *cd = kjson_str(img, "img_config_drive");
	if (cd && strcmp(cd, "mandatory") == 0)
		b->config_drive = "True";
	b->image = kpool_json(r->pool, image_meta(img));
	return true;
}

static bool check_flavor(kreq *r, boot *b)
{
	json_t *f = cmp_flavor_view(r, b->flavor_id, true);
	if (f)
		kpool_json(r->pool, f);
	if (!f || !cmp_flavor_usable(r, b->flavor_id) ||
	    json_is_true(json_object_get(f, "OS-FLV-DISABLED:disabled"))) {
		kresp_error(r, 400, "Flavor %s could not be found.", b->flavor_id);
		return false;
	}
	b->flavor = f;
	return true;
}

static bool check_keypair(kreq *r, boot *b)
{
	if (!b->key_name)
		return true;
	_cleanup_json_ json_t *kp = cmp_keypair_get(user_of(r), b->key_name);
	if (!kp) {
		kresp_error(r, 400, "Invalid key_name provided.");
		return false;
	}
	b->key_data = kpool_strdup(r->pool, kjson_str(kp, "public_key"));
	return true;
}

static bool check_secgroups(kreq *r, boot *b)
{
	b->sg_ids = kpool_json(r->pool, json_array());
	size_t i;
	json_t *n;
	json_array_foreach(b->sg_names, i, n) {
		const char *name = json_string_value(n);
		json_t *ans = NULL;
		long st;
		const char *id = NULL;
		if (kutil_is_uuid(name)) {
			st = net_get(r, kpool_printf(r->pool, "/v2.0/security-groups/%s", name),
			             &ans);
			if (st == 200)
				id = kjson_str(json_object_get(ans, "security_group"), "id");
		}
		if (!id) {
			st = net_get(
			    r,
			    kpool_printf(r->pool, "/v2.0/security-groups?name=%s&project_id=%s",
			                 urlenc(r->pool, name), urlenc(r->pool, project_of(r))),
			    &ans);
			if (st == 0 || st >= 500) {
				kresp_error(r, 503, "The network service is not available");
				return false;
			}
			json_t *groups = json_object_get(ans, "security_groups");
			if (json_array_size(groups) > 1) {
				kresp_error(r, 409,
				            "Multiple security groups found matching '%s'. Use an "
				            "ID to be more specific.",
				            name);
				return false;
			}
			id = kjson_str(json_array_get(groups, 0), "id");
		}
		if (!id) {
			kresp_error(r, 400, "Security group %s not found for project %s.", name,
			            project_of(r));
			return false;
		}
		json_array_append_new(b->sg_ids, json_string(id));
	}
	return true;
}

static bool check_networks(kreq *r, boot *b)
{
	size_t n = json_array_size(b->requested);
	if (n == 0) {
		/* the project's networks and the shared ones, not external */
		json_t *own = NULL, *shared = NULL;
		long st1 =
		    net_get(r,
		            kpool_printf(r->pool, "/v2.0/networks?project_id=%s&shared=false",
		                         urlenc(r->pool, project_of(r))),
		            &own);
		long st2 = net_get(r, "/v2.0/networks?shared=true", &shared);
		if (st1 != 200 || st2 != 200) {
			kresp_error(r, 503, "The network service is not available");
			return false;
		}
		_cleanup_json_ json_t *cands = json_array();
		_cleanup_json_ json_t *seen = json_object();
		json_t *lists[] = { json_object_get(own, "networks"),
		                    json_object_get(shared, "networks") };
		for (size_t l = 0; l < 2; l++) {
			size_t i;
			json_t *net;
			json_array_foreach(lists[l], i, net) {
				const char *id = kjson_str(net, "id");
				if (!id || json_is_true(json_object_get(net, "router:external")) ||
				    json_object_get(seen, id))
					continue;
				json_object_set_new(seen, id, json_true());
				json_array_append(cands, net);
			}
		}
		if (json_array_size(cands) > 1) {
			kresp_error(r, 409,
			            "Multiple possible networks found, use a Network ID to be "
			            "more specific.");
			return false;
		}
		if (json_array_size(cands) == 1)
			json_array_append_new(b->requested, json_pack(
				"{s:s,s:n,s:n,s:b}", "network_id",
				kjson_str(json_array_get(cands, 0), "id"), "port_id", "fixed_ip",
				"preexisting", 0));
		return true;
	}
	size_t i;
	json_t *req;
	json_array_foreach(b->requested, i, req) {
		const char *port_id = kjson_str(req, "port_id");
		json_t *ans = NULL;
		if (port_id) {
			if (b->max_count > 1) {
				kresp_error(
				    r, 400,
				    "Unable to launch multiple instances with a single "
				    "configured port ID. Please launch your instance one by one "
				    "with different ports.");
				return false;
			}
			long st =
			    net_get(r, kpool_printf(r->pool, "/v2.0/ports/%s", port_id), &ans);
			if (st == 404 || st == 403) {
				kresp_error(r, 400, "Port id %s could not be found.", port_id);
				return false;
			}
			json_t *port = json_object_get(ans, "port");
			if (st != 200 || !port) {
				kresp_error(r, 503, "The network service is not available");
				return false;
			}
			const char *dev = kjson_str(port, "device_id");
			if (dev && *dev) {
				kresp_error(r, 409, "Port %s is still in use.", port_id);
				return false;
			}
			json_object_set_new(
			    req, "network_id",
			    json_string(str_or_empty(kjson_str(port, "network_id"))));
			continue;
		}
		const char *net_id = kjson_str(req, "network_id");
		if (kjson_str(req, "fixed_ip") && b->max_count > 1) {
			kresp_error(r, 400,
			            "Failed to launch instances: max_count cannot be greater "
			            "than 1 if an fixed_ip is specified.");
			return false;
		}
		long st = net_get(r, kpool_printf(r->pool, "/v2.0/networks/%s", net_id), &ans);
		if (st == 404 || st == 403) {
			kresp_error(r, 400, "Network %s could not be found.", net_id);
			return false;
		}
		json_t *net = json_object_get(ans, "network");
		if (st != 200 || !net) {
			kresp_error(r, 503, "The network service is not available");
			return false;
		}
		if (json_is_true(json_object_get(net, "router:external")) && !cmp_is_admin(r) &&
		    !json_is_true(json_object_get(net, "shared"))) {
			kresp_error(r, 403, "It is not allowed to create an interface on external "
			            "network %s", net_id);
			return false;
		}
		if (json_array_size(json_object_get(net, "subnets")) == 0) {
			kresp_error(r, 400,
			            "Network %s requires a subnet in order to boot instances "
			            "on.",
			            net_id);
			return false;
		}
	}
	return true;
}

static bool check_group(kreq *r, boot *b)
{
	if (!b->group_id)
		return true;
	_cleanup_json_ json_t *g = kdb_query_row(cmp_db, NULL, "SELECT id, project_id FROM "
	                                         "cmp_server_group WHERE id = ?", "s", b->group_id);
	const char *owner = kjson_str(g, "project_id");
	if (!g || (!cmp_is_admin(r) && (!owner || strcmp(owner, project_of(r)) != 0))) {
		kresp_error(r, 400, "Instance group %s could not be found.", b->group_id);
		return false;
	}
	long limit = cmp_quota_limit(project_of(r), "server_group_members");
	if (limit >= 0) {
		_cleanup_json_ json_t *c =
		    kdb_query_row(cmp_db, NULL,
		                  "SELECT COUNT(*) AS n FROM "
		                  "cmp_server_group_member m JOIN cmp_instance "
		                  "i ON i.id = m.instance_id WHERE "
		                  "m.group_id = ? AND i.deleted = 0",
		                  "s", b->group_id);
		long used = c ? (long)json_integer_value(json_object_get(c, "n")) : 0;
		if (used + b->max_count > limit) {
			kresp_error(r, 403, "Quota exceeded, too many servers in group");
			return false;
		}
	}
	return true;
}

static bool check_az(kreq *r, boot *b)
{
	if (!b->az)
		return true;
	const char *az = b->az;
	const char *colon = strchr(az, ':');
	if (colon) {
		int c = 0;
		for (const char *p = az; *p; p++)
			c += *p == ':';
		if (c > 2) {
			kresp_error(r, 400, "Unable to parse availability_zone");
			return false;
		}
		_cleanup_json_ json_t *t = json_pack("{s:s,s:s}", "project_id", project_of(r),
		                                     "user_id", user_of(r));
		if (!cmp_enforce(r, "os_compute_api:servers:create:forced_host", t))
			return false;
		az = kpool_strndup(r->pool, az, (size_t)(colon - az));
	}
	if (!*az) {
		b->az = NULL;
		return true;
	}
	const char *def = cmp_conf_str("default_availability_zone", "nova");
	bool found = strcmp(az, def) == 0;
	if (!found) {
		_cleanup_json_ _unused_ json_t *row =
		    kdb_query_row(cmp_db, &found,
		                  "SELECT host FROM "
		                  "cmp_compute_node WHERE availability_zone "
		                  "= ?",
		                  "s", az);
	}
	if (!found) {
		kresp_error(r, 400, "The requested availability zone is not available");
		return false;
	}
	b->az = az;
	return true;
}

/* Quota: as many as fit between min_count and max_count (Nova's headroom). */
static bool check_quota(kreq *r, boot *b)
{
	const char *p = project_of(r);
	long vcpus = (long)json_integer_value(json_object_get(b->flavor, "vcpus"));
	long ram = (long)json_integer_value(json_object_get(b->flavor, "ram"));
	long allowed = b->max_count;
	const char *res[] = { "instances", "cores", "ram" };
	long per[] = { 1, vcpus, ram };
	for (size_t i = 0; i < ARRAY_SIZE(res); i++) {
		long limit = cmp_quota_limit(p, res[i]);
		if (limit < 0 || per[i] <= 0)
			continue;
		long head = limit - cmp_quota_usage(p, NULL, res[i]);
		long fit = head <= 0 ? 0 : head / per[i];
		if (fit < allowed)
			allowed = fit;
	}
	if (allowed >= b->max_count)
		return true;
	if (allowed >= b->min_count && allowed > 0) {
		b->max_count = allowed;
		return true;
	}
	if (!cmp_quota_check_instances(r, p, b->max_count, vcpus * b->max_count,
	                               ram * b->max_count))
		return false;
	kresp_error(r, 403, "Quota exceeded for instances: Requested %ld, but already used %ld "
	            "of %ld instances", b->max_count, cmp_quota_usage(p, NULL, "instances"),
	            cmp_quota_limit(p, "instances"));
	return false;
}

static int insert_instance(kreq *r, const boot *b, const char *id, long index,
                           const char *resv, int64_t now)
{
	const char *name = b->name;
	const char *host = sanitize_hostname(r->pool, b->name);
	if (b->max_count > 1) {
		name = kpool_printf(r->pool, "%s-%ld", b->name, index + 1);
		if (*host)
			host = kpool_printf(r->pool, "%s-%ld", host, index + 1);
	}
	if (!*host)
		host = kpool_printf(r->pool, "Server-%s", id);
	_cleanup_free_ char *image = kjson_dump(b->image);
	_cleanup_free_ char *flavor = kjson_dump(b->flavor);
	_cleanup_free_ char *reqnets = kjson_dump(b->requested);
	_cleanup_free_ char *sgs = kjson_dump(b->sg_names);
	_cleanup_free_ char *sgids = kjson_dump(b->sg_ids);
	const json_t *f = b->flavor;
	json_t *swap = json_object_get(f, "swap");
	int rc = kdb_run(
	    cmp_db, NULL,
	    "INSERT INTO cmp_instance (id, project_id, user_id, name, hostname, description, "
	    "image_ref, image, flavor_id, flavor, vcpus, memory_mb, root_gb, ephemeral_gb, swap, "
	    "vm_state, task_state, power_state, availability_zone, key_name, key_data, "
	    "user_data, config_drive, access_ip_v4, access_ip_v6, reservation_id, launch_index, "
	    "requested_networks, security_groups, security_group_ids, server_group_id, "
	    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	    "'building', 'scheduling', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    "ssssssssssiiiiissssssssissssii", id, project_of(r), user_of(r), name, host, name,
	    b->image_id, image, b->flavor_id, flavor,
	    (int64_t)json_integer_value(json_object_get(f, "vcpus")),
	    (int64_t)json_integer_value(json_object_get(f, "ram")),
	    (int64_t)json_integer_value(json_object_get(f, "disk")),
	    (int64_t)json_integer_value(json_object_get(f, "OS-FLV-EXT-DATA:ephemeral")),
	    (int64_t)(json_is_integer(swap) ? json_integer_value(swap) : 0), b->az, b->key_name,
	    b->key_data, b->user_data, b->config_drive ? b->config_drive : "", b->access_v4,
	    b->access_v6, resv, (int64_t)index, reqnets, sgs, sgids, b->group_id, now, now);
	if (rc != KDB_DONE)
		return -1;
	const char *key;
	json_t *v;
	json_object_foreach(b->metadata, key, v) {
		if (kdb_run(cmp_db, NULL,
		            "INSERT INTO cmp_instance_metadata (instance_id, meta_key, "
		            "meta_value) VALUES (?, ?, ?)",
		            "sss", id, key, json_string_value(v)) != KDB_DONE)
			return -1;
	}
	if (b->group_id && kdb_run(cmp_db, NULL, "INSERT INTO cmp_server_group_member (group_id, "
	                           "instance_id) VALUES (?, ?)", "ss", b->group_id,
	                           id) != KDB_DONE)
		return -1;
	return 0;
}

static void h_create(kreq *r)
{
	json_t *body = kreq_json(r);
	if (!body)
		return;
	boot b = { 0 };
	if (!parse_create(r, body, &b))
		return;
	if (b.min_count > b.max_count) {
		kresp_error(r, 400, "min_count must be <= max_count");
		return;
	}
	_cleanup_json_ json_t *target = json_pack("{s:s,s:s}", "project_id", project_of(r),
	                                          "user_id", user_of(r));
	if (!cmp_enforce(r, "os_compute_api:servers:create", target))
		return;
	if (!check_az(r, &b))
		return;
	if (!b.image_id || !*b.image_id) {
		kresp_error(r, 400, "Missing imageRef attribute");
		return;
	}
	if (!check_flavor(r, &b) || !check_image(r, &b) || !check_keypair(r, &b))
		return;
	if (b.metadata) {
		long limit = cmp_quota_limit(project_of(r), "metadata_items");
		if (limit >= 0 && (long)json_object_size(b.metadata) > limit) {
			kresp_error(r, 403, "Maximum number of metadata items exceeds %ld", limit);
			return;
		}
	}
	if (!check_secgroups(r, &b) || !check_networks(r, &b) || !check_group(r, &b) ||
	    !check_quota(r, &b))
		return;
	if (!b.config_drive || !*b.config_drive)
		b.config_drive = kconf_get_bool(kumo_conf, "compute", "force_config_drive", false)
		                 ? "True" : "";
	if (!b.admin_pass) {
		char pw[13];
		random_text(pw, 12, "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz");
		b.admin_pass = kpool_strdup(r->pool, pw);
	}
	char resv[11] = "r-";
	random_text(resv + 2, 8, "abcdefghijklmnopqrstuvwxyz0123456789");

	_cleanup_json_ json_t *ids = json_array();
	int64_t now = kutil_now_us();
	if (kdb_begin(cmp_db) != 0) {
		unexpected(r);
		return;
	}
	for (long i = 0; i < b.max_count; i++) {
		char id[37];
		kutil_uuid(id);
		if (insert_instance(r, &b, id, i, resv, now) != 0) {
			kdb_rollback(cmp_db);
			unexpected(r);
			return;
		}
		json_array_append_new(ids, json_string(id));
	}
	if (kdb_commit(cmp_db) != 0) {
		kdb_rollback(cmp_db);
		unexpected(r);
		return;
	}
	size_t i;
	json_t *idv;
	json_array_foreach(ids, i, idv)
		cmp_action_start(r, json_string_value(idv), "create");

	_cleanup_json_ json_t *args = json_pack("{s:O,s:i,s:[],s:s,s:s}", "instance_ids", ids,
	                                        "attempt", 1, "ignore_hosts", "admin_pass",
	                                        b.admin_pass, "request_id", r->request_id);
	if (kbus_cast(kumo_bus, "conductor", "build_instances", args) != 0) {
		klog_error("compute", "could not reach the conductor for %zu instance(s)",
		           json_array_size(ids));
		json_array_foreach(ids, i, idv)
			cmp_instance_set_error(json_string_value(idv), 500,
			                       "Failed to schedule: the conductor is not reachable",
			                       NULL);
	}
	if (b.want_resv) {
		kresp_json(r, 202, json_pack("{s:s}", "reservation_id", resv));
		return;
	}
	const char *first = json_string_value(json_array_get(ids, 0));
	json_t *sgs = json_array();
	json_t *req_sgs = json_object_get(json_object_get(body, "server"), "security_groups");
	if (json_is_array(req_sgs))
		json_array_extend(sgs, req_sgs);
	else
		json_array_append_new(sgs, json_pack("{s:s}", "name", "default"));
	const char *base = kreq_base_url(r);
	const char *self = kpool_printf(r->pool, "%s/v2.1/servers/%s", base, first);
	json_t *server = json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}],s:s,s:o,s:s}", "id", first,
	                           "links", "rel", "self", "href", self, "rel", "bookmark", "href",
	                           kpool_printf(r->pool, "%s/servers/%s", base, first),
	                           "OS-DCF:diskConfig", "MANUAL", "security_groups", sgs,
	                           "adminPass", b.admin_pass);
	kresp_header(r, "Location", self);
	kresp_json(r, 202, json_pack("{s:o}", "server", server));
}

/* ------------------------------------------------------------------------ */
/* List */

/* Nova's _STATE_MAP, for status -> (vm_state, task_state) filters. */
static const struct { const char *vm, *task, *status; } state_map[] = {
	{ "active", NULL, "ACTIVE" },
	{ "active", "rebooting", "REBOOT" },
	{ "active", "reboot_pending", "REBOOT" },
	{ "active", "reboot_started", "REBOOT" },
	{ "active", "rebooting_hard", "HARD_REBOOT" },
	{ "active", "reboot_pending_hard", "HARD_REBOOT" },
	{ "active", "reboot_started_hard", "HARD_REBOOT" },
	{ "active", "updating_password", "PASSWORD" },
	{ "active", "rebuilding", "REBUILD" },
	{ "active", "rebuild_block_device_mapping", "REBUILD" },
	{ "active", "rebuild_spawning", "REBUILD" },
	{ "active", "migrating", "MIGRATING" },
	{ "active", "resize_prep", "RESIZE" },
	{ "active", "resize_migrating", "RESIZE" },
	{ "active", "resize_migrated", "RESIZE" },
	{ "active", "resize_finish", "RESIZE" },
	{ "building", NULL, "BUILD" },
	{ "stopped", NULL, "SHUTOFF" },
	{ "stopped", "resize_prep", "RESIZE" },
	{ "stopped", "resize_migrating", "RESIZE" },
	{ "stopped", "resize_migrated", "RESIZE" },
	{ "stopped", "resize_finish", "RESIZE" },
	{ "stopped", "rebuilding", "REBUILD" },
	{ "stopped", "rebuild_block_device_mapping", "REBUILD" },
	{ "stopped", "rebuild_spawning", "REBUILD" },
	{ "resized", NULL, "VERIFY_RESIZE" },
	{ "resized", "resize_reverting", "REVERT_RESIZE" },
	{ "paused", NULL, "PAUSED" },
	{ "paused", "migrating", "MIGRATING" },
	{ "suspended", NULL, "SUSPENDED" },
	{ "rescued", NULL, "RESCUE" },
	{ "error", NULL, "ERROR" },
	{ "error", "rebuilding", "REBUILD" },
	{ "error", "rebuild_block_device_mapping", "REBUILD" },
	{ "error", "rebuild_spawning", "REBUILD" },
	{ "deleted", NULL, "DELETED" },
	{ "soft-delete", NULL, "SOFT_DELETED" },
	{ "shelved", NULL, "SHELVED" },
	{ "shelved_offloaded", NULL, "SHELVED_OFFLOADED" },
};

/* API sort keys -> columns (NULL: accepted and ignored, as Nova's
 * SERVER_LIST_IGNORE_SORT_KEY and the keys we have no column for). */
static const struct { const char *key, *col; bool admin; } sort_keys[] = {
	{ "access_ip_v4", "access_ip_v4", false }, { "access_ip_v6", "access_ip_v6", false },
	{ "auto_disk_config", NULL, false }, { "availability_zone", "availability_zone", false },
	{ "config_drive", "config_drive", false }, { "created_at", "created_at", false },
	{ "display_description", "description", false }, { "display_name", "name", false },
	{ "host", "host", true }, { "hostname", "hostname", false },
	{ "image_ref", "image_ref", false }, { "instance_type_id", "flavor_id", false },
	{ "kernel_id", NULL, false }, { "key_name", "key_name", false },
	{ "launch_index", "launch_index", false }, { "launched_at", "launched_at", false },
	{ "locked_by", "locked_by", false }, { "node", "node", true },
	{ "power_state", "power_state", false }, { "progress", "progress", false },
	{ "project_id", "project_id", false }, { "ramdisk_id", NULL, false },
	{ "root_device_name", NULL, false }, { "task_state", "task_state", false },
	{ "terminated_at", "terminated_at", false }, { "updated_at", "updated_at", false },
	{ "user_id", "user_id", false }, { "uuid", "id", false }, { "vm_state", "vm_state", false },
	{ "architecture", NULL, false }, { "cell_name", NULL, false }, { "cleaned", NULL, false },
	{ "default_ephemeral_device", NULL, false }, { "default_swap_device", NULL, false },
	{ "deleted", NULL, false }, { "deleted_at", NULL, false },
	{ "disable_terminate", NULL, false }, { "ephemeral_gb", NULL, false },
	{ "ephemeral_key_uuid", NULL, false }, { "id", NULL, false }, { "key_data", NULL, false },
	{ "launched_on", NULL, false }, { "locked", NULL, false }, { "memory_mb", NULL, false },
	{ "os_type", NULL, false }, { "reservation_id", NULL, false }, { "root_gb", NULL, false },
	{ "shutdown_terminate", NULL, false }, { "user_data", NULL, false },
	{ "vcpus", NULL, false }, { "vm_mode", NULL, false },
};

typedef struct query {
	kreq *r;
	bool admin;
	json_t *statuses, *sort_key, *sort_dir, *vm_states, *task_states;
	json_t *raw;            /* [[key, value]...] for the next link */
	const char *name, *ip, *image, *flavor, *changes_since, *limit, *marker, *all_tenants,
	           *tenant, *deleted, *reservation_id, *host, *node, *user_id, *key_name,
	           *az, *hostname;
	bool has_all_tenants;
} query;

static int collect_arg(void *ud, const char *key, const char *value)
{
	query *q = ud;
	const char *v = value ? value : "";
	json_array_append_new(q->raw, json_pack("[s,s]", key, v));
#define ARG(k, field) if (strcmp(key, k) == 0) { q->field = v; return 0; }
	if (strcmp(key, "status") == 0) {
		json_array_append_new(q->statuses, json_string(v));
		return 0;
	}
	if (strcmp(key, "sort_key") == 0) {
		json_array_append_new(q->sort_key, json_string(v));
		return 0;
	}
	if (strcmp(key, "sort_dir") == 0) {
		json_array_append_new(q->sort_dir, json_string(v));
		return 0;
	}
	if (strcmp(key, "all_tenants") == 0) {
		q->has_all_tenants = true;
		q->all_tenants = v;
		return 0;
	}
	ARG("name", name) ARG("ip", ip) ARG("image", image) ARG("flavor", flavor)
	ARG("changes-since", changes_since) ARG("limit", limit) ARG("marker", marker)
	ARG("reservation_id", reservation_id)
	/* admin-only filters (allow_all_filters) */
	ARG("tenant_id", tenant) ARG("project_id", tenant) ARG("deleted", deleted)
	ARG("host", host) ARG("node", node) ARG("user_id", user_id) ARG("key_name", key_name)
	ARG("availability_zone", az) ARG("hostname", hostname)
	if (strcmp(key, "vm_state") == 0) {
		json_array_append_new(q->vm_states, json_string(v));
		return 0;
	}
	if (strcmp(key, "task_state") == 0) {
		json_array_append_new(q->task_states, json_string(v));
		return 0;
	}
#undef ARG
	return 0;
}

typedef struct sqlb {
	kpool *pool;
	char *where;
	json_t *binds;
} sqlb;

static void cond(sqlb *s, const char *c)
{
	s->where = s->where ? kpool_printf(s->pool, "%s AND %s", s->where, c)
	                    : kpool_strdup(s->pool, c);
}

static void bind_str(sqlb *s, const char *v)
{
	json_array_append_new(s->binds, json_string(v));
}

/* "col IN (?, ?)" over a JSON array of strings. */
static void cond_in(sqlb *s, const char *col, const json_t *vals)
{
	char *c = kpool_printf(s->pool, "%s IN (", col);
	size_t i;
	json_t *v;
	json_array_foreach(vals, i, v) {
		c = kpool_printf(s->pool, "%s%s?", c, i ? ", " : "");
		json_array_append(s->binds, v);
	}
	cond(s, kpool_printf(s->pool, "%s)", c));
}

static kstmt *prepare_with(const char *sql, const json_t *binds)
{
	kstmt *st = kdb_prepare(cmp_db, sql);
	if (!st)
		return NULL;
	size_t i;
	json_t *v;
	json_array_foreach(binds, i, v) {
		if (json_is_integer(v))
			kstmt_bind_int(st, (int)i + 1, json_integer_value(v));
		else
			kstmt_bind_text(st, (int)i + 1, json_string_value(v));
	}
	return st;
}

static bool compile_regex(kreq *r, regex_t *re, const char *param, const char *value)
{
	if (regcomp(re, value, REG_EXTENDED | REG_NOSUB) != 0) {
		kresp_error(r, 400, "Invalid input for query parameters %s. Value: %s. '%s' is not "
		            "a 'regex'", param, value, value);
		return false;
	}
	return true;
}

static void regfreep(regex_t **re)
{
	if (*re)
		regfree(*re);
}

static void list_servers(kreq *r, bool detail)
{
	query q = { .r = r };
	q.statuses = kpool_json(r->pool, json_array());
	q.sort_key = kpool_json(r->pool, json_array());
	q.sort_dir = kpool_json(r->pool, json_array());
	q.vm_states = kpool_json(r->pool, json_array());
	q.task_states = kpool_json(r->pool, json_array());
	q.raw = kpool_json(r->pool, json_array());
	kreq_query_each(r, collect_arg, &q);
	q.admin = cmp_is_admin(r);
	if (!cmp_enforce(r, detail ? "os_compute_api:servers:detail"
	                           : "os_compute_api:servers:index", NULL))
		return;
	bool all_filters = cmp_is_admin(r);
	if (!all_filters) {
		/* Nova drops the filters non-admins may not use */
		q.tenant = q.deleted = q.host = q.node = q.user_id = q.key_name = q.az = NULL;
		q.hostname = NULL;
		json_array_clear(q.vm_states);
		json_array_clear(q.task_states);
	}
	sqlb s = { .pool = r->pool, .binds = kpool_json(r->pool, json_array()) };

	/* status */
	if (json_array_size(q.statuses)) {
		_cleanup_json_ json_t *vms = json_array(), *tasks = json_array();
		bool any_default = false, found = false;
		for (size_t m = 0; m < ARRAY_SIZE(state_map); m++) {
			size_t i;
			json_t *st;
			json_array_foreach(q.statuses, i, st) {
				if (strcasecmp(json_string_value(st), state_map[m].status) != 0)
					continue;
				found = true;
				json_t *vm = json_string(state_map[m].vm);
				bool dup = false;
				size_t j;
				json_t *e;
				json_array_foreach(vms, j, e)
					dup = dup || json_equal(e, vm);
				if (!dup)
					json_array_append(vms, vm);
				json_decref(vm);
				if (state_map[m].task)
					json_array_append_new(tasks,
					                      json_string(state_map[m].task));
				else
					any_default = true;
			}
		}
		if (!found) {
			kresp_json(r, 200, json_pack("{s:[]}", "servers"));
			return;
		}
		if (json_array_size(vms) == 1 &&
		    strcmp(json_string_value(json_array_get(vms, 0)), "deleted") == 0) {
			if (!q.admin) {
				kresp_error(r, 403,
				            "Only administrators may list deleted instances");
				return;
			}
			q.deleted = "true";
		}
		cond_in(&s, "vm_state", vms);
		if (!any_default)
			cond_in(&s, "task_state", tasks);
	}
	if (json_array_size(q.vm_states))
		cond_in(&s, "vm_state", q.vm_states);
	if (json_array_size(q.task_states))
		cond_in(&s, "task_state", q.task_states);

	int64_t since = -1;
	if (q.changes_since) {
		since = kutil_parse_iso8601(q.changes_since);
		if (since < 0) {
			kresp_error(r, 400,
			            "Invalid input for query parameters changes-since. Value: "
			            "%s. '%s' is not a 'date-time'",
			            q.changes_since, q.changes_since);
			return;
		}
		cond(&s, "updated_at >= ?");
		json_array_append_new(s.binds, json_integer(since));
	}
	if (q.deleted) {
		cond(&s, query_bool(q.deleted) ? "deleted != 0" : "deleted = 0");
	} else if (since < 0) {
		cond(&s, "deleted = 0");
	}

	bool all = false;
	if (q.has_all_tenants) {
		if (!*q.all_tenants) {
			all = true;
		} else {
			static const char *const tv[] = { "1", "t", "true", "on", "y", "yes" };
			static const char *const fv[] = { "0", "f", "false", "off", "n", "no" };
			bool ok = false;
			for (size_t i = 0; i < ARRAY_SIZE(tv); i++) {
				if (strcasecmp(q.all_tenants, tv[i]) == 0)
					ok = all = true;
				if (strcasecmp(q.all_tenants, fv[i]) == 0)
					ok = true;
			}
			if (!ok) {
				kresp_error(
				    r, 400,
				    "Unrecognized value '%s', acceptable values are: '0', "
				    "'1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', "
				    "'yes'",
				    q.all_tenants);
				return;
			}
		}
	}
	if (all) {
		if (!cmp_enforce(r, detail ? "os_compute_api:servers:detail:get_all_tenants"
		                           : "os_compute_api:servers:index:get_all_tenants", NULL))
			return;
		if (q.tenant) {
			cond(&s, "project_id = ?");
			bind_str(&s, q.tenant);
		}
	} else {
		cond(&s, "project_id = ?");
		bind_str(&s, project_of(r));
	}
	if (q.image) {
		cond(&s, "image_ref = ?");
		bind_str(&s, id_from_href(r->pool, q.image));
	}
	if (q.flavor) {
		cond(&s, "flavor_id = ?");
		bind_str(&s, id_from_href(r->pool, q.flavor));
	}
	const char *exact[][2] = {
		{ "reservation_id", q.reservation_id }, { "host", q.host }, { "node", q.node },
		{ "user_id", q.user_id }, { "key_name", q.key_name },
		{ "availability_zone", q.az },
	};
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++) {
		if (!exact[i][1])
			continue;
		cond(&s, kpool_printf(r->pool, "%s = ?", exact[i][0]));
		bind_str(&s, exact[i][1]);
	}

	/* regular expressions */
	regex_t name_re, ip_re, hn_re;
	_cleanup_(regfreep) regex_t *name_rp = NULL, *ip_rp = NULL, *hn_rp = NULL;
	if (q.name) {
		if (!compile_regex(r, &name_re, "name", q.name))
			return;
		name_rp = &name_re;
	}
	if (q.ip) {
		if (!compile_regex(r, &ip_re, "ip", q.ip))
			return;
		ip_rp = &ip_re;
	}
	if (q.hostname) {
		if (!compile_regex(r, &hn_re, "hostname", q.hostname))
			return;
		hn_rp = &hn_re;
	}

	/* sorting */
	const char *order = "";
	size_t nkeys = json_array_size(q.sort_key), ndirs = json_array_size(q.sort_dir);
	if (ndirs > nkeys && nkeys > 0) {
		kresp_error(r, 400, "Sort direction size exceeds sort key size");
		return;
	}
	const char *def_dir = ndirs ? json_string_value(json_array_get(q.sort_dir, 0)) : "desc";
	bool has_created = false, has_id = false;
	for (size_t i = 0; i < nkeys || (nkeys == 0 && i == 0); i++) {
		const char *key = nkeys ? json_string_value(json_array_get(q.sort_key, i))
		                        : "created_at";
		const char *dir = i < ndirs ? json_string_value(json_array_get(q.sort_dir, i))
		                            : def_dir;
		const char *col = NULL;
		bool known = false, admin_only = false;
		for (size_t k = 0; k < ARRAY_SIZE(sort_keys); k++)
			if (strcmp(sort_keys[k].key, key) == 0) {
				known = true;
				col = sort_keys[k].col;
				admin_only = sort_keys[k].admin;
			}
		if (!known) {
			kresp_error(r, 400,
			            "Invalid input for query parameters sort_key. Value: %s. "
			            "'%s' is not one of the allowed sort keys",
			            key, key);
			return;
		}
		if (admin_only && !q.admin) {
			kresp_error(r, 403, "Only administrators can sort servers by %s", key);
			return;
		}
		if (strcasecmp(dir, "asc") != 0 && strcasecmp(dir, "desc") != 0) {
			kresp_error(r, 400, "Unknown sort direction, must be one of: asc, desc");
			return;
		}
		if (!col)
			continue;
		has_created = has_created || strcmp(col, "created_at") == 0;
		has_id = has_id || strcmp(col, "id") == 0;
		order = kpool_printf(r->pool, "%s%s%s %s", order, *order ? ", " : "", col,
		                     strcasecmp(dir, "asc") == 0 ? "ASC" : "DESC");
	}
	const char *tail_dir = strcasecmp(def_dir, "asc") == 0 ? "ASC" : "DESC";
	if (!has_created)
		order = kpool_printf(r->pool, "%s%screated_at %s", order, *order ? ", " : "",
		                     tail_dir);
	if (!has_id)
		order = kpool_printf(r->pool, "%s, id %s", order, tail_dir);

	/* pagination */
	long max_limit = cmp_conf_int("max_limit", 1000);
	long limit = max_limit;
	bool limited = false;
	if (q.limit) {
		bool digits = *q.limit != 0;
		for (const char *c = q.limit; *c; c++)
			digits = digits && isdigit((unsigned char)*c);
		if (!digits || strlen(q.limit) > 12) {
			kresp_error(r, 400,
			            "Invalid input for query parameters limit. Value: %s. '%s' "
			            "does not match '^[0-9]*$'",
			            q.limit, q.limit);
			return;
		}
		long l = strtol(q.limit, NULL, 10);
		if (l > 0 && l < max_limit)
			limit = l;
		limited = true;
	}
	if (q.marker) {
		bool found = false;
		_cleanup_json_ _unused_ json_t *m = kdb_query_row(cmp_db, &found,
		                                                  "SELECT id FROM cmp_instance "
		                                         "WHERE id = ?", "s", q.marker);
		if (!found) {
			kresp_error(r, 400, "marker [%s] not found", q.marker);
			return;
		}
	}

	/* query A: ids in order (plus the marker) */
	const char *where = s.where ? s.where : "1 = 1";
	const char *sql = q.marker
		? kpool_printf(r->pool, "SELECT id, name, hostname FROM cmp_instance WHERE (%s) OR "
		               "id = ? ORDER BY %s", where, order)
		: kpool_printf(r->pool, "SELECT id, name, hostname FROM cmp_instance WHERE %s "
		               "ORDER BY %s", where, order);
	_cleanup_json_ json_t *binds = json_copy(s.binds);
	if (q.marker)
		json_array_append_new(binds, json_string(q.marker));

	/* the ip filter needs the addresses: one query over the same rows */
	_cleanup_json_ json_t *ip_ok = NULL;
	if (ip_rp) {
		ip_ok = json_object();
		const char *psql = kpool_printf(r->pool, "SELECT instance_id, ips FROM "
		                                "cmp_instance_port WHERE instance_id IN (SELECT id "
		                                "FROM cmp_instance WHERE %s)", where);
		_cleanup_stmt_ kstmt *pst = prepare_with(psql, s.binds);
		if (!pst) {
			unexpected(r);
			return;
		}
		while (kstmt_step(pst) == KDB_ROW) {
			const char *ips = kstmt_text(pst, 1);
			_cleanup_json_ json_t *arr = ips ? json_loads(ips, 0, NULL) : NULL;
			size_t i;
			json_t *ip;
			json_array_foreach(arr, i, ip) {
				const char *a = kjson_str(ip, "addr");
				if (a && regexec(ip_rp, a, 0, NULL, 0) == 0)
					json_object_set_new(ip_ok, kstmt_text(pst, 0), json_true());
			}
		}
	}

	_cleanup_json_ json_t *page = json_array();
	{
		_cleanup_stmt_ kstmt *st = prepare_with(sql, binds);
		if (!st) {
			unexpected(r);
			return;
		}
		bool started = q.marker == NULL;
		int rc;
		while ((rc = kstmt_step(st)) == KDB_ROW) {
			const char *id = kstmt_text(st, 0);
			if (!started) {
				if (strcmp(id, q.marker) == 0)
					started = true;
				continue;
			}
			if (q.marker && strcmp(id, q.marker) == 0)
				continue;
			const char *nm = kstmt_text(st, 1), *hn = kstmt_text(st, 2);
			if (name_rp && regexec(name_rp, nm ? nm : "", 0, NULL, 0) != 0)
				continue;
			if (hn_rp && regexec(hn_rp, hn ? hn : "", 0, NULL, 0) != 0)
				continue;
			if (ip_ok && !json_object_get(ip_ok, id))
				continue;
			json_array_append_new(page, json_string(id));
			if ((long)json_array_size(page) >= limit)
				break;
		}
		if (rc != KDB_ROW && rc != KDB_DONE) {
			unexpected(r);
			return;
		}
	}

	/* query B: the page's rows, then metadata/ports/faults */
	_cleanup_json_ json_t *rows = json_array();
	size_t n = json_array_size(page);
	if (n) {
		_cleanup_json_ json_t *byid = json_object();
		for (size_t from = 0; from < n; from += 400) {
			size_t k = n - from < 400 ? n - from : 400;
			_cleanup_json_ json_t *chunk = json_array();
			const char *in = "";
			for (size_t i = 0; i < k; i++) {
				json_array_append(chunk, json_array_get(page, from + i));
				in = kpool_printf(r->pool, "%s%s?", in, i ? ", " : "");
			}
			const char *rsql = kpool_printf(r->pool,
			                                "SELECT %s FROM cmp_instance WHERE id "
			                                "IN (%s)",
			                                detail ? "*" : "id, name", in);
			_cleanup_json_ json_t *got = NULL;
			{
				_cleanup_stmt_ kstmt *st = prepare_with(rsql, chunk);
				if (!st) {
					unexpected(r);
					return;
				}
				got = json_array();
				while (kstmt_step(st) == KDB_ROW) {
					json_t *row = json_object();
					for (int col = 0; col < kstmt_ncols(st); col++) {
						const char *cn = kstmt_colname(st, col);
						if (kstmt_isnull(st, col))
							json_object_set_new(row, cn, json_null());
						else if (strcmp(cn, "vcpus") == 0 ||
						         strcmp(cn, "memory_mb") == 0 ||
						         strcmp(cn, "root_gb") == 0 ||
						         strcmp(cn, "ephemeral_gb") == 0 ||
						         strcmp(cn, "swap") == 0 ||
						         strcmp(cn, "power_state") == 0 ||
						         strcmp(cn, "locked") == 0 ||
						         strcmp(cn, "progress") == 0 ||
						         strcmp(cn, "launch_index") == 0 ||
						         strcmp(cn, "launched_at") == 0 ||
						         strcmp(cn, "terminated_at") == 0 ||
						         strcmp(cn, "created_at") == 0 ||
						         strcmp(cn, "updated_at") == 0 ||
						         strcmp(cn, "deleted_at") == 0 ||
						         strcmp(cn, "deleted") == 0)
							json_object_set_new(
							    row, cn,
							    json_integer(kstmt_int(st, col)));
						else
							json_object_set_new(
							    row, cn,
							    json_string(kstmt_text(st, col)));
					}
					json_array_append_new(got, row);
				}
			}
			size_t i;
			json_t *row;
			json_array_foreach(got, i, row)
				json_object_set(byid, kjson_str(row, "id"), row);
		}
		size_t i;
		json_t *id;
		json_array_foreach(page, i, id) {
			json_t *row = json_object_get(byid, json_string_value(id));
			if (row)
				json_array_append(rows, row);
		}
		if (detail) {
			static const char *const jcols[] = {
				"image", "flavor", "old_flavor", "new_flavor", "requested_networks",
				"security_groups", "security_group_ids",
			};
			json_t *row;
			json_array_foreach(rows, i, row) {
				for (size_t c = 0; c < ARRAY_SIZE(jcols); c++) {
					const char *txt = kjson_str(row, jcols[c]);
					json_t *jv =
					    txt ? json_loads(txt, JSON_DECODE_ANY, NULL) : NULL;
					json_object_set_new(row, jcols[c], jv ? jv : json_null());
				}
			}
			cmp_instance_attach(rows);
		}
	}
	json_t *servers = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_array_append_new(servers, cmp_server_view(r, row, detail));
	json_t *out = json_pack("{s:o}", "servers", servers);
	if (n > 0 && (long)n == limit && (limited || (long)n == max_limit)) {
		const char *href = kpool_printf(r->pool, "%s/v2.1/servers%s?", kreq_base_url(r),
		                                detail ? "/detail" : "");
		bool first = true;
		json_t *kv;
		json_array_foreach(q.raw, i, kv) {
			const char *k = json_string_value(json_array_get(kv, 0));
			if (strcmp(k, "marker") == 0)
				continue;
			href = kpool_printf(
			    r->pool, "%s%s%s=%s", href, first ? "" : "&", urlenc(r->pool, k),
			    urlenc(r->pool, json_string_value(json_array_get(kv, 1))));
			first = false;
		}
		href =
		    kpool_printf(r->pool, "%s%smarker=%s", href, first ? "" : "&",
		                 urlenc(r->pool, json_string_value(json_array_get(page, n - 1))));
		json_object_set_new(out, "servers_links",
		                    json_pack("[{s:s,s:s}]", "rel", "next", "href", href));
	}
	kresp_json(r, 200, out);
}

static void h_index(kreq *r)
{
	list_servers(r, false);
}

static void h_detail(kreq *r)
{
	list_servers(r, true);
}

/* ------------------------------------------------------------------------ */
/* Show, update, delete */

static json_t *owner_target(const json_t *inst)
{
	return json_pack("{s:s,s:s}", "project_id", str_or_empty(kjson_str(inst, "project_id")),
	                 "user_id", str_or_empty(kjson_str(inst, "user_id")));
}

/* Instance by the {server_id} of the path and the policy on it; NULL when answered. */
static json_t *server_for(kreq *r, const char *action)
{
	json_t *inst = cmp_instance_get(r, kreq_param(r, "server_id"));
	if (!inst)
		return NULL;
	_cleanup_json_ json_t *t = owner_target(inst);
	if (!cmp_enforce(r, action, t))
		return NULL;
	return inst;
}

static void h_show(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:servers:show");
	if (!inst)
		return;
	kresp_json(r, 200, json_pack("{s:o}", "server", cmp_server_view(r, inst, true)));
}

/* The update/rebuild view of Nova < 2.75: no extended attributes. */
static json_t *basic_show_view(kreq *r, const json_t *inst)
{
	json_t *v = cmp_server_view(r, inst, true);
	static const char *const drop[] = {
		"key_name", "security_groups", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
		"OS-EXT-AZ:availability_zone", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
		"OS-EXT-STS:power_state", "OS-EXT-SRV-ATTR:host", "OS-EXT-SRV-ATTR:instance_name",
		"OS-EXT-SRV-ATTR:hypervisor_hostname", "os-extended-volumes:volumes_attached",
		"config_drive",
	};
	for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
		json_object_del(v, drop[i]);
	bool building = json_is_string(json_object_get(inst, "vm_state")) &&
	                strcmp(kjson_str(inst, "vm_state"), CMP_VM_BUILDING) == 0;
	if (!building) {
		_cleanup_json_ json_t *one = json_pack("[O]", (json_t *)inst);
		json_t *copy = json_object_get(inst, "_ports") ? NULL : json_deep_copy(inst);
		if (copy) {
			json_array_set_new(one, 0, copy);
			cmp_instance_attach(one);
		}
		json_t *src = json_array_get(one, 0);
		json_object_set_new(v, "addresses",
		                    cmp_server_addresses(json_object_get(src, "_ports"), false));
	}
	return v;
}

static void h_update(kreq *r)
{
	json_t *body = kreq_json(r);
	if (!body)
		return;
	static const char *const top[] = { "server", NULL };
	static const char *const keys[] = { "name", "OS-DCF:diskConfig", "accessIPv4",
	                                    "accessIPv6", NULL };
	if (!only_members(r, "", body, top))
		return;
	json_t *s = json_object_get(body, "server");
	if (!json_is_object(s)) {
		invalid_input(r, "server", s, s ? "Value is not of type 'object'"
		                                : "'server' is a required property");
		return;
	}
	if (!only_members(r, "server", s, keys))
		return;
	json_t *v;
	if ((v = json_object_get(s, "name")) && !check_name(r, "name", v))
		return;
	if ((v = json_object_get(s, "OS-DCF:diskConfig")) &&
	    (!json_is_string(v) || (strcmp(json_string_value(v), "AUTO") != 0 &&
	                            strcmp(json_string_value(v), "MANUAL") != 0))) {
		invalid_input(r, "OS-DCF:diskConfig", v, "Value is not one of ['AUTO', 'MANUAL']");
		return;
	}
	if ((v = json_object_get(s, "accessIPv4")) &&
	    (!json_is_string(v) || !is_ipv4(json_string_value(v)))) {
		invalid_input(r, "accessIPv4", v, "Value is not a 'ipv4'");
		return;
	}
	if ((v = json_object_get(s, "accessIPv6")) &&
	    (!json_is_string(v) || !is_ipv6(json_string_value(v)))) {
		invalid_input(r, "accessIPv6", v, "Value is not a 'ipv6'");
		return;
	}
	json_t *inst = server_for(r, "os_compute_api:servers:update");
	if (!inst)
		return;
	_cleanup_json_ json_t *extra = json_object();
	if ((v = json_object_get(s, "name")))
		json_object_set(extra, "name", v);
	if ((v = json_object_get(s, "accessIPv4")))
		json_object_set(extra, "access_ip_v4", v);
	if ((v = json_object_get(s, "accessIPv6")))
		json_object_set(extra, "access_ip_v6", v);
	const char *id = kjson_str(inst, "id");
	if (cmp_instance_update(id, NULL, NULL, -1, NULL, extra) < 0) {
		unexpected(r);
		return;
	}
	json_t *now = cmp_instance_load(id, false);
	if (!now) {
		kresp_error(r, 404, "Instance %s could not be found.", id);
		return;
	}
	kpool_json(r->pool, now);
	kresp_json(r, 200, json_pack("{s:o}", "server", basic_show_view(r, now)));
}

/* Is the compute agent of host alive (a recent heartbeat)? */
static bool agent_alive(const char *host)
{
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT last_seen_at, forced_down "
	                                           "FROM cmp_service WHERE binary_name = "
	                                           "'nova-compute' AND host = ?", "s", host);
	if (!row || json_integer_value(json_object_get(row, "forced_down")))
		return false;
	json_t *seen = json_object_get(row, "last_seen_at");
	if (!json_is_integer(seen))
		return false;
	int64_t down = cmp_conf_int("service_down_time", 60) * 1000000LL;
	return kutil_now_us() - json_integer_value(seen) <= down;
}

/* Delete without an agent: ports, then the row (Nova's _local_delete). */
static int local_delete(const json_t *inst)
{
	const char *id = kjson_str(inst, "id");
	/* pre-existing ports (requested by id) are given back, the others deleted */
	_cleanup_json_ json_t *keep = json_object();
	size_t i;
	json_t *req;
	json_array_foreach(json_object_get(inst, "requested_networks"), i, req)
		if (kjson_str(req, "port_id"))
			json_object_set_new(keep, kjson_str(req, "port_id"), json_true());
	_cleanup_json_ json_t *cached = kdb_query_json(cmp_db, "SELECT port_id, preexisting FROM "
	                                               "cmp_instance_port WHERE instance_id = ?",
	                                               "s", id);
	json_array_foreach(cached, i, req)
		if (json_integer_value(json_object_get(req, "preexisting")))
			json_object_set_new(keep, kjson_str(req, "port_id"), json_true());
	json_t *ans = NULL;
	char path[128];
	snprintf(path, sizeof(path), "/v2.0/ports?device_id=%s", id);
	long st = kclient_json("network", "GET", path, NULL, NULL, NULL, &ans);
	_cleanup_json_ json_t *ports = ans;
	if (st == 200) {
		json_t *p;
		json_array_foreach(json_object_get(ports, "ports"), i, p) {
			const char *pid = kjson_str(p, "id");
			if (!pid)
				continue;
			snprintf(path, sizeof(path), "/v2.0/ports/%s", pid);
			if (json_object_get(keep, pid)) {
				_cleanup_json_ json_t *b =
				    json_pack("{s:{s:s,s:s,s:s}}", "port", "device_id", "",
				              "device_owner", "", "binding:host_id", "");
				kclient_json("network", "PUT", path, NULL, b, NULL, NULL);
			} else {
				long ds =
				    kclient_json("network", "DELETE", path, NULL, NULL, NULL, NULL);
				if (ds != 204 && ds != 404)
					klog_error("compute",
					           "instance %s: could not delete port %s (%ld)",
					           id, pid, ds);
			}
		}
	} else if (st != 0) {
		klog_error("compute", "instance %s: could not list its ports (%ld)", id, st);
	}
	if (cmp_instance_mark_deleted(id) != 0)
		return -1;
	cmp_allocation_release(id);
	return 0;
}

static void h_delete(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:servers:delete");
	if (!inst)
		return;
	const char *id = kjson_str(inst, "id");
	if (json_integer_value(json_object_get(inst, "locked")) && !cmp_is_admin(r)) {
		kresp_error(r, 409, "Instance %s is locked", id);
		return;
	}
	cmp_action_start(r, id, "delete");
	const char *host = kjson_str(inst, "host");
	if (host && *host && agent_alive(host)) {
		if (cmp_instance_update(id, NULL, "deleting", -1, NULL, NULL) < 0) {
			unexpected(r);
			return;
		}
		_cleanup_json_ json_t *args =
		    json_pack("{s:s,s:s}", "instance_id", id, "request_id", r->request_id);
		if (kbus_cast(kumo_bus, kpool_printf(r->pool, "compute.%s", host),
		              "terminate_instance", args) == 0) {
			kresp_status(r, 204);
			return;
		}
		klog_error("compute", "instance %s: agent of %s unreachable, deleting locally",
		           id, host);
	}
	if (local_delete(inst) != 0) {
		unexpected(r);
		return;
	}
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------------ */
/* Addresses */

static json_t *ports_of(kreq *r, const char *id)
{
	_cleanup_json_ json_t *one = json_pack("[{s:s}]", "id", id);
	cmp_instance_attach(one);
	return kpool_json(r->pool, json_incref(json_object_get(json_array_get(one, 0), "_ports")));
}

static void h_ips(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:ips:index");
	if (!inst)
		return;
	json_t *ports = ports_of(r, kjson_str(inst, "id"));
	kresp_json(r, 200, json_pack("{s:o}", "addresses", cmp_server_addresses(ports, false)));
}

static void h_ips_show(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:ips:show");
	if (!inst)
		return;
	json_t *ports = ports_of(r, kjson_str(inst, "id"));
	json_t *all = kpool_json(r->pool, cmp_server_addresses(ports, false));
	const char *label = kreq_param(r, "network_label");
	json_t *list = json_object_get(all, label);
	if (!list) {
		kresp_error(r, 404, "Instance is not a member of specified network");
		return;
	}
	kresp_json(r, 200, json_pack("{s:O}", label, list));
}

/* ------------------------------------------------------------------------ */
/* Server metadata */

static json_t *metadata_of(kreq *r, const char *id)
{
	json_t *m = kpool_json(r->pool, json_object());
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT meta_key, meta_value FROM "
	                                             "cmp_instance_metadata WHERE instance_id = ?",
	                                             "s", id);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_object_set(m, kjson_str(row, "meta_key"), json_object_get(row, "meta_value"));
	return m;
}

/* Nova's update/delete_instance_metadata checks: lock, vm_state, launched. */
static bool metadata_writable(kreq *r, const json_t *inst, const char *action)
{
	const char *id = kjson_str(inst, "id");
	if (json_integer_value(json_object_get(inst, "locked")) && !cmp_is_admin(r)) {
		kresp_error(r, 409, "Instance %s is locked", id);
		return false;
	}
	const char *vm = kjson_str(inst, "vm_state");
	static const char *const ok[] = { "active", "paused", "suspended", "stopped" };
	bool good = false;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
		good = good || (vm && strcmp(vm, ok[i]) == 0);
	if (!good) {
		kresp_error(r, 409, "Cannot '%s' instance %s while it is in vm_state %s", action,
		            id, vm ? vm : "None");
		return false;
	}
	if (!json_is_integer(json_object_get(inst, "launched_at"))) {
		kresp_error(r, 409, "Cannot '%s' instance %s while it is in launched_at None",
		            action, id);
		return false;
	}
	return true;
}

/* Replace (all = true) or merge the metadata; answers on error. */
static bool write_metadata(kreq *r, const json_t *inst, const json_t *meta, bool all)
{
	const char *id = kjson_str(inst, "id");
	json_t *cur = metadata_of(r, id);
	_cleanup_json_ json_t *next = all ? json_object() : json_copy(cur);
	json_object_update(next, (json_t *)meta);
	long limit = cmp_quota_limit(kjson_str(inst, "project_id"), "metadata_items");
	if (limit >= 0 && (long)json_object_size(next) > limit) {
		kresp_error(r, 403, "Maximum number of metadata items exceeds %ld", limit);
		return false;
	}
	if (kdb_begin(cmp_db) != 0) {
		unexpected(r);
		return false;
	}
	int rc = KDB_DONE;
	if (all)
		rc = kdb_run(cmp_db, NULL,
		             "DELETE FROM cmp_instance_metadata WHERE instance_id = ?", "s", id);
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)meta, key, v) {
		if (rc != KDB_DONE)
			break;
		rc = kdb_run(cmp_db, NULL,
		             "DELETE FROM cmp_instance_metadata WHERE instance_id = ? "
		             "AND meta_key = ?",
		             "ss", id, key);
		if (rc == KDB_DONE)
			rc = kdb_run(cmp_db, NULL,
			             "INSERT INTO cmp_instance_metadata (instance_id, "
			             "meta_key, meta_value) VALUES (?, ?, ?)",
			             "sss", id, key, json_string_value(v));
	}
	if (rc == KDB_DONE)
		rc = kdb_run(cmp_db, NULL, "UPDATE cmp_instance SET updated_at = ? WHERE id = ?",
		             "is", kutil_now_us(), id);
	if (rc != KDB_DONE || kdb_commit(cmp_db) != 0) {
		kdb_rollback(cmp_db);
		unexpected(r);
		return false;
	}
	return true;
}

static json_t *metadata_body(kreq *r, const char *member)
{
	json_t *body = kreq_json(r);
	if (!body)
		return NULL;
	const char *const top[] = { member, NULL };
	if (!only_members(r, "", body, top))
		return NULL;
	json_t *m = json_object_get(body, member);
	if (!m) {
		kresp_error(r, 400, "Invalid input for field/attribute %s. Value: None. '%s' is a "
		            "required property", member, member);
		return NULL;
	}
	if (!check_metadata(r, member, m))
		return NULL;
	return m;
}

static void h_meta_index(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:server-metadata:index");
	if (!inst)
		return;
	kresp_json(r, 200, json_pack("{s:O}", "metadata", metadata_of(r, kjson_str(inst, "id"))));
}

static void meta_set(kreq *r, bool all)
{
	json_t *m = metadata_body(r, "metadata");
	if (!m)
		return;
	json_t *inst = server_for(r, all ? "os_compute_api:server-metadata:update_all"
	                                 : "os_compute_api:server-metadata:create");
	if (!inst || !metadata_writable(r, inst, "update metadata") ||
	    !write_metadata(r, inst, m, all))
		return;
	kresp_json(r, 200, json_pack("{s:O}", "metadata", metadata_of(r, kjson_str(inst, "id"))));
}

static void h_meta_create(kreq *r)
{
	meta_set(r, false);
}

static void h_meta_update_all(kreq *r)
{
	meta_set(r, true);
}

static void h_meta_show(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:server-metadata:show");
	if (!inst)
		return;
	const char *key = kreq_param(r, "key");
	json_t *v = json_object_get(metadata_of(r, kjson_str(inst, "id")), key);
	if (!v) {
		kresp_error(r, 404, "Metadata item was not found");
		return;
	}
	kresp_json(r, 200, json_pack("{s:{s:O}}", "meta", key, v));
}

static void h_meta_update(kreq *r)
{
	json_t *m = metadata_body(r, "meta");
	if (!m)
		return;
	const char *key = kreq_param(r, "key");
	if (json_object_size(m) != 1) {
		invalid_input(r, "meta", m, json_object_size(m) ? "Value has too many properties"
		                                                : "Value does not have enough "
		                                                  "properties");
		return;
	}
	if (!json_object_get(m, key)) {
		kresp_error(r, 400, "Request body and URI mismatch");
		return;
	}
	json_t *inst = server_for(r, "os_compute_api:server-metadata:update");
	if (!inst || !metadata_writable(r, inst, "update metadata") ||
	    !write_metadata(r, inst, m, false))
		return;
	kresp_json(r, 200, json_pack("{s:O}", "meta", m));
}

static void h_meta_delete(kreq *r)
{
	json_t *inst = server_for(r, "os_compute_api:server-metadata:delete");
	if (!inst)
		return;
	const char *id = kjson_str(inst, "id"), *key = kreq_param(r, "key");
	if (!json_object_get(metadata_of(r, id), key)) {
		kresp_error(r, 404, "Metadata item was not found");
		return;
	}
	if (!metadata_writable(r, inst, "delete metadata"))
		return;
	if (kdb_run(cmp_db, NULL, "DELETE FROM cmp_instance_metadata WHERE instance_id = ? AND "
	            "meta_key = ?", "ss", id, key) != KDB_DONE) {
		unexpected(r);
		return;
	}
	kdb_run(cmp_db, NULL, "UPDATE cmp_instance SET updated_at = ? WHERE id = ?", "is",
	        kutil_now_us(), id);
	kresp_status(r, 204);
}

const kroute cmp_server_routes[] = {
	{ "GET", "/v2.1/servers", h_index, 0 },
	{ "POST", "/v2.1/servers", h_create, 0 },
	{ "GET", "/v2.1/servers/detail", h_detail, 0 },
	{ "GET", "/v2.1/servers/{server_id}", h_show, 0 },
	{ "PUT", "/v2.1/servers/{server_id}", h_update, 0 },
	{ "DELETE", "/v2.1/servers/{server_id}", h_delete, 0 },
	{ "GET", "/v2.1/servers/{server_id}/ips", h_ips, 0 },
	{ "GET", "/v2.1/servers/{server_id}/ips/{network_label}", h_ips_show, 0 },
	{ "GET", "/v2.1/servers/{server_id}/metadata", h_meta_index, 0 },
	{ "POST", "/v2.1/servers/{server_id}/metadata", h_meta_create, 0 },
	{ "PUT", "/v2.1/servers/{server_id}/metadata", h_meta_update_all, 0 },
	{ "GET", "/v2.1/servers/{server_id}/metadata/{key}", h_meta_show, 0 },
	{ "PUT", "/v2.1/servers/{server_id}/metadata/{key}", h_meta_update, 0 },
	{ "DELETE", "/v2.1/servers/{server_id}/metadata/{key}", h_meta_delete, 0 },
};
const size_t cmp_server_nroutes = ARRAY_SIZE(cmp_server_routes);
