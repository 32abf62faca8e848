/*
 * scheduler.c - the seed's nova-scheduler: filters, weighers, then an
 * atomic claim (topic "scheduler", method "select_destinations").
 *
 * Host states (Nova's HostManager): every compute node with its nova-compute
 * service row and its usage (SUM of cmp_allocation per host) is kept in one
 * array in memory, reloaded from the database when it is older than
 * CACHE_TTL_US (1 s), when cmp_scheduler_invalidate() was called, or when
 * a request found no host with a view older than RECHECK_AGE_US (0.1 s), so
 * a stale cache does not turn into a false "No valid host" (changes made
 * behind the scheduler's back - a node added, a claim dropped without
 * cmp_allocation_release() - are seen within 0.1 s).  A placement:
 *
 *   1. filters every host, in Nova's order, counting how many each filter
 *      removed (logged as Nova does: "Filter RamFilter returned 0 hosts"):
 *      RetryFilter (ignore_hosts), AvailabilityZoneFilter, ComputeFilter
 *      (service enabled, not forced down, seen within service_down_time),
 *      RamFilter / DiskFilter / CoreFilter (placement's capacity:
 *      (total - reserved) * allocation_ratio >= used + requested),
 *      ImagePropertiesFilter (hw_architecture, img_hv_type, hw_vm_mode) and
 *      ServerGroup(Anti)AffinityFilter for the hard group policies;
 *   2. weighs the survivors: the soft group policies first (members on the
 *      host: more for soft-affinity, fewer for soft-anti-affinity), then
 *      free RAM (RAMWeigher, multiplier 1.0: most free first), ties broken
 *      at random so parallel boots spread instead of colliding;
 *   3. consumes the request from the chosen host state at once (under the
 *      cache lock, as Nova's consume_from_request), so concurrent requests
 *      see it, and claims it in the database: one transaction re-reads the
 *      node, its service and its usage (SQLite: BEGIN IMMEDIATE, and one
 *      claim at a time per process; MariaDB: SELECT ... FOR UPDATE on the
 *      node row and on the server group row), re-checks the group policy,
 *      replaces the instance's previous allocation (retry, resize) and adds
 *      the instance to its server group.  When the host filled up meanwhile
 *      the cached state takes the database's figures and the next best host
 *      is tried; after MAX_TRIES misses the cache is reloaded.
 *
 * The database is the truth; the cache only decides where to try first.
 * Service rows: cmp_service_beat_start() keeps a (binary, host) row alive
 * with a heartbeat thread (the scheduler's and the conductor's rows).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/bus.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

#define LOG "scheduler"
#define CACHE_TTL_US 1000000      /* host states older than this are reloaded */
#define RECHECK_AGE_US 100000     /* a failing request reloads a view older than this */
#define MAX_TRIES 8               /* failed claims before the cache is reloaded */
#define MAX_ROUNDS 3              /* ... at most this many times per request */

/* ---- host states ---- */

typedef struct hstate {
	char host[256];
	char node[256];
	char az[256];
	char hv_type[32];
	int64_t vcpus, memory_mb, local_gb, reserved_mem, reserved_disk_mb;
	double cpu_ratio, ram_ratio, disk_ratio;
	int64_t used_vcpus, used_mem, used_disk;
	int64_t last_seen;
	bool has_service, disabled, forced_down;
} hstate;

static struct {
	pthread_mutex_t mu;
	hstate *hosts;            /* sorted by host name */
	size_t n;
	int64_t loaded_at;        /* 0 = never / invalidated */
} cache = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* SQLite: claims of this process one at a time (the write lock is the
 * database's anyway; waiting here is cheaper than SQLite's busy sleeps). */
static pthread_mutex_t claim_mu = PTHREAD_MUTEX_INITIALIZER;

static int64_t cap_of(int64_t total, int64_t reserved, double ratio)
{
	double c = (double)(total - reserved) * ratio;
	return c > 0 ? (int64_t)(c + 1e-9) : 0;   /* truncated, as placement does */
}

static int64_t ram_cap(const hstate *h)
{
	return cap_of(h->memory_mb, h->reserved_mem, h->ram_ratio);
}

static int64_t cpu_cap(const hstate *h)
{
	return cap_of(h->vcpus, 0, h->cpu_ratio);
}

static int64_t disk_cap(const hstate *h)
{
	/* reserved disk is in MiB, rounded up to whole GiB as placement does */
	return cap_of(h->local_gb, (h->reserved_disk_mb + 1023) / 1024, h->disk_ratio);
}

static bool service_up(int64_t last_seen, int64_t now)
{
	int64_t down = cmp_conf_int("service_down_time", 60) * 1000000;
	return last_seen > 0 && llabs(now - last_seen) <= down;
}

static int host_cmp(const void *a, const void *b)
{
	return strcmp(((const hstate *)a)->host, ((const hstate *)b)->host);
}

static hstate *cache_find(const char *host)
{
	if (!host || !cache.n)
		return NULL;
	hstate key;
	snprintf(key.host, sizeof(key.host), "%s", host);
	return bsearch(&key, cache.hosts, cache.n, sizeof(hstate), host_cmp);
}

static void copy_text(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

/* Reload all host states; called with cache.mu held.  0 / -1. */
static int cache_load(void)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(cmp_db,
		"SELECT n.host, n.hypervisor_hostname, n.availability_zone, n.hypervisor_type, "
		"n.vcpus, n.memory_mb, n.local_gb, n.reserved_host_memory_mb, "
		"n.reserved_host_disk_mb, n.cpu_allocation_ratio, n.ram_allocation_ratio, "
		"n.disk_allocation_ratio, s.id, s.disabled, s.forced_down, "
		"COALESCE(s.last_seen_at, s.updated_at, s.created_at) "
		"FROM cmp_compute_node n LEFT JOIN cmp_service s "
		"ON s.host = n.host AND s.binary_name = 'nova-compute' ORDER BY n.host");
	if (!st)
		return -1;
	size_t cap = cache.n > 16 ? cache.n : 16, n = 0;
	hstate *hs = calloc(cap, sizeof(hstate));
	if (!hs)
		return -1;
	int rc;
	while ((rc = kstmt_step(st)) == KDB_ROW) {
		if (n == cap) {
			hstate *nh = realloc(hs, 2 * cap * sizeof(hstate));
			if (!nh) {
				free(hs);
				return -1;
			}
			hs = nh;
			cap *= 2;
		}
		hstate *h = &hs[n++];
		memset(h, 0, sizeof(*h));
		copy_text(h->host, sizeof(h->host), kstmt_text(st, 0));
		copy_text(h->node, sizeof(h->node), kstmt_text(st, 1));
		if (!*h->node)
			copy_text(h->node, sizeof(h->node), h->host);
		copy_text(h->az, sizeof(h->az), kstmt_text(st, 2));
		copy_text(h->hv_type, sizeof(h->hv_type), kstmt_text(st, 3));
		h->vcpus = kstmt_int(st, 4);
		h->memory_mb = kstmt_int(st, 5);
		h->local_gb = kstmt_int(st, 6);
		h->reserved_mem = kstmt_int(st, 7);
		h->reserved_disk_mb = kstmt_int(st, 8);
		h->cpu_ratio = kstmt_double(st, 9);
		h->ram_ratio = kstmt_double(st, 10);
		h->disk_ratio = kstmt_double(st, 11);
		h->has_service = !kstmt_isnull(st, 12);
		h->disabled = kstmt_int(st, 13) != 0;
		h->forced_down = kstmt_int(st, 14) != 0;
		h->last_seen = kstmt_int(st, 15);
	}
	if (rc != KDB_DONE) {
		free(hs);
		return -1;
	}
	kstmt_done(TAKE_PTR(st));
	free(cache.hosts);
	cache.hosts = hs;
	cache.n = n;

	_cleanup_stmt_ kstmt *u = kdb_prepare(cmp_db,
		"SELECT host, SUM(vcpus), SUM(memory_mb), SUM(disk_gb) FROM cmp_allocation "
		"GROUP BY host");
	if (!u)
		return -1;
	while ((rc = kstmt_step(u)) == KDB_ROW) {
		hstate *h = cache_find(kstmt_text(u, 0));
		if (h) {
			h->used_vcpus = kstmt_int(u, 1);
			h->used_mem = kstmt_int(u, 2);
			h->used_disk = kstmt_int(u, 3);
		}
	}
	if (rc != KDB_DONE)
		return -1;
	cache.loaded_at = kutil_now_us();
	return 0;
}

void cmp_scheduler_invalidate(void)
{
	pthread_mutex_lock(&cache.mu);
	cache.loaded_at = 0;
	pthread_mutex_unlock(&cache.mu);
}

/* ---- the request ---- */

typedef struct sreq {
	const char *id;
	int64_t vcpus, mem, disk;
	char az[256];             /* "" = any */
	char force_host[256];     /* "zone:host[:node]" requests; "" = any */
	const char *arch, *hv_type, *vm_mode;   /* image properties, NULL = any */
	const json_t *ignore;
	/* server group */
	const char *group_id;
	char policy[32];          /* "" = none */
	int64_t max_per_host;
	json_t *member_hosts;     /* hosts of the other members (with repeats) */
} sreq;

static int64_t jint(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static const char *image_prop(const json_t *props, const char *a, const char *b)
{
	const char *v = kjson_str(props, a);
	if (!v || !*v)
		v = kjson_str(props, b);
	return v && *v ? v : NULL;
}

static json_t *load_member_hosts(const char *group_id, const char *instance_id)
{
	return kdb_query_json(cmp_db,
		"SELECT COALESCE(a.host, i.host) AS host FROM cmp_server_group_member m "
		"LEFT JOIN cmp_allocation a ON a.instance_id = m.instance_id "
		"LEFT JOIN cmp_instance i ON i.id = m.instance_id AND i.deleted = 0 "
		"WHERE m.group_id = ? AND m.instance_id <> ?", "ss", group_id, instance_id);
}

static size_t members_on(const json_t *members, const char *host)
{
	size_t i, n = 0;
	json_t *m;
	json_array_foreach(members, i, m) {
		const char *h = kjson_str(m, "host");
		if (h && strcmp(h, host) == 0)
			n++;
	}
	return n;
}

static bool any_member_host(const json_t *members)
{
	size_t i;
	json_t *m;
	json_array_foreach(members, i, m)
		if (kjson_str(m, "host"))
			return true;
	return false;
}

/* Fill r from the instance; -1 with a message on a database error. */
static int sreq_init(sreq *r, const json_t *inst, const json_t *ignore, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->id = kjson_str(inst, "id");
	if (!r->id)
		r->id = "";
	r->vcpus = jint(inst, "vcpus");
	r->mem = jint(inst, "memory_mb");
	/* swap is in MB */
	r->disk = jint(inst, "root_gb") + jint(inst, "ephemeral_gb") +
	          (jint(inst, "swap") + 1023) / 1024;
	r->ignore = ignore;
	const char *az = kjson_str(inst, "availability_zone");
	if (az && *az) {
		/* an admin's "zone:host[:node]" forces the host */
		const char *c = strchr(az, ':');
		snprintf(r->az, sizeof(r->az), "%.*s", c ? (int)(c - az) : (int)strlen(az), az);
		if (c) {
			const char *c2 = strchr(c + 1, ':');
			snprintf(r->force_host, sizeof(r->force_host), "%.*s",
			         c2 ? (int)(c2 - c - 1) : (int)strlen(c + 1), c + 1);
		}
	}
	const json_t *image = json_object_get(inst, "image");
	const json_t *props = json_object_get(image, "properties");
	if (json_is_object(props)) {
		r->arch = image_prop(props, "hw_architecture", "architecture");
		r->hv_type = image_prop(props, "img_hv_type", "hypervisor_type");
		r->vm_mode = image_prop(props, "hw_vm_mode", "vm_mode");
	}
	r->group_id = kjson_str(inst, "server_group_id");
	if (r->group_id && *r->group_id) {
		bool found;
		_cleanup_json_ json_t *g = kdb_query_row(cmp_db, &found, "SELECT policy, rules "
		                                         "FROM cmp_server_group WHERE id = ?", "s",
		                                         r->group_id);
		if (!g && found) {
			snprintf(err, errlen, "database error");
			return -1;
		}
		if (g) {
			copy_text(r->policy, sizeof(r->policy), kjson_str(g, "policy"));
			r->max_per_host = 1;
			const char *rules = kjson_str(g, "rules");
			if (rules && *rules) {
				_cleanup_json_ json_t *rj = json_loads(rules, 0, NULL);
				int64_t m = jint(rj, "max_server_per_host");
				if (m > 0)
					r->max_per_host = m;
			}
			r->member_hosts = load_member_hosts(r->group_id, r->id);
			if (!r->member_hosts) {
				snprintf(err, errlen, "database error");
				return -1;
			}
		}
	} else {
		r->group_id = NULL;
	}
	return 0;
}

static void sreq_fini(sreq *r)
{
	json_decref(r->member_hosts);
	r->member_hosts = NULL;
}

/* ---- filters ---- */

enum {
	F_RETRY, F_AZ, F_COMPUTE, F_RAM, F_DISK, F_CORE, F_IMAGE, F_AFFINITY, F_ANTI, NFILTERS
};
static const char *const filter_names[NFILTERS] = {
	"RetryFilter", "AvailabilityZoneFilter", "ComputeFilter", "RamFilter", "DiskFilter",
	"CoreFilter", "ImagePropertiesFilter", "ServerGroupAffinityFilter",
	"ServerGroupAntiAffinityFilter",
};

static bool in_list(const json_t *list, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static bool arch_ok(const char *a)
{
	return !a || strcasecmp(a, "x86_64") == 0 || strcasecmp(a, "amd64") == 0 ||
	       strcasecmp(a, "x86-64") == 0 || strcasecmp(a, "x64") == 0;
}

static bool hv_ok(const hstate *h, const char *want)
{
	if (!want)
		return true;
	/* libvirt/QEMU hosts run both "qemu" (TCG) and "kvm" guests */
	bool qemu_host = !*h->hv_type || strcasecmp(h->hv_type, "qemu") == 0 ||
	                 strcasecmp(h->hv_type, "kvm") == 0;
	if (qemu_host)
		return strcasecmp(want, "qemu") == 0 || strcasecmp(want, "kvm") == 0;
	return strcasecmp(want, h->hv_type) == 0;
}

/* Index of the filter that rejects h, or -1 when h passes them all. */
static int filter_host(const hstate *h, const sreq *r, int64_t now)
{
	if (in_list(r->ignore, h->host))
		return F_RETRY;
	if ((*r->az && strcmp(r->az, h->az) != 0) ||
	    (*r->force_host && strcmp(r->force_host, h->host) != 0))
		return F_AZ;
	if (!h->has_service || h->disabled || h->forced_down || !service_up(h->last_seen, now))
		return F_COMPUTE;
	if (h->used_mem + r->mem > ram_cap(h))
		return F_RAM;
	if (h->used_disk + r->disk > disk_cap(h))
		return F_DISK;
	if (h->used_vcpus + r->vcpus > cpu_cap(h))
		return F_CORE;
	if (!arch_ok(r->arch) || !hv_ok(h, r->hv_type) ||
	    (r->vm_mode && strcasecmp(r->vm_mode, "hvm") != 0))
		return F_IMAGE;
	if (strcmp(r->policy, "affinity") == 0 && any_member_host(r->member_hosts) &&
	    members_on(r->member_hosts, h->host) == 0)
		return F_AFFINITY;
	if (strcmp(r->policy, "anti-affinity") == 0 &&
	    (int64_t)members_on(r->member_hosts, h->host) >= r->max_per_host)
		return F_ANTI;
	return -1;
}

/* ---- weighing ---- */

static uint64_t rnd_next(void)
{
	static __thread uint64_t s;
	if (!s) {
		kutil_random(&s, sizeof(s));
		s |= 1;
	}
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

/* Larger is better: the soft group policy first, then free RAM. */
static void weigh(const hstate *h, const sreq *r, int64_t *w1, int64_t *w2)
{
	*w1 = 0;
	if (strcmp(r->policy, "soft-affinity") == 0)
		*w1 = (int64_t)members_on(r->member_hosts, h->host);
	else if (strcmp(r->policy, "soft-anti-affinity") == 0)
		*w1 = -(int64_t)members_on(r->member_hosts, h->host);
	*w2 = h->memory_mb - h->reserved_mem - h->used_mem;
}

typedef struct tried {
	const char **hosts;
	size_t n;
} tried;

static bool was_tried(const tried *t, const char *host)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->hosts[i], host) == 0)
			return true;
	return false;
}

/*
 * Under cache.mu: filter and weigh, then consume the request from the best
 * host's state.  Copies the host's name and node into host/node; false
 * when no host passes (counts[] then tells which filter removed how many).
 */
static bool select_host(const sreq *r, const tried *t, size_t counts[NFILTERS], char *host,
                        char *node, size_t len)
{
	int64_t now = kutil_now_us();
	hstate *best = NULL;
	int64_t bw1 = 0, bw2 = 0;
	uint64_t ties = 0;
	memset(counts, 0, NFILTERS * sizeof(size_t));
	for (size_t i = 0; i < cache.n; i++) {
		hstate *h = &cache.hosts[i];
		int f = filter_host(h, r, now);
		if (f >= 0) {
			counts[f]++;
			continue;
		}
		if (was_tried(t, h->host))
			continue;
		int64_t w1, w2;
		weigh(h, r, &w1, &w2);
		if (!best || w1 > bw1 || (w1 == bw1 && w2 > bw2)) {
			best = h;
			bw1 = w1;
			bw2 = w2;
			ties = 1;
		} else if (w1 == bw1 && w2 == bw2) {
			/* reservoir sampling: each equally good host with 1/k chance */
			if (rnd_next() % ++ties == 0)
				best = h;
		}
	}
	if (!best)
		return false;
	best->used_vcpus += r->vcpus;
	best->used_mem += r->mem;
	best->used_disk += r->disk;
	copy_text(host, len, best->host);
	copy_text(node, len, best->node);
	return true;
}

static void log_filters(const sreq *r, size_t start, const size_t counts[NFILTERS], bool failed)
{
	char text[1024];
	size_t off = 0, left = start;
	for (int f = 0; f < NFILTERS; f++) {
		if ((f == F_AFFINITY && strcmp(r->policy, "affinity") != 0) ||
		    (f == F_ANTI && strcmp(r->policy, "anti-affinity") != 0))
			continue;
		size_t end = left - counts[f];
		klog_debug(LOG, "Filter %s returned %zu host(s)", filter_names[f], end);
		if (failed && off < sizeof(text))
			off += (size_t)snprintf(text + off, sizeof(text) - off,
			                        "%s'%s: (start: %zu, end: %zu)'", off ? ", " : "",
			                        filter_names[f], left, end);
		left = end;
	}
	if (failed)
		klog_info(LOG, "Filtering removed all hosts for the request with instance ID '%s'. "
		          "Filter results: [%s]", r->id, text);
}

/* ---- the claim ---- */

/*
 * In one transaction: re-read the host, its service and its usage, re-check
 * the group policy, replace the instance's allocation and add it to its
 * group.  1 claimed, 0 no room (used_* get the database's usage of the
 * host, old_* the replaced allocation), -1 database error.
 */
typedef struct claim_out {
	int64_t used_vcpus, used_mem, used_disk;
	char old_host[256];
	int64_t old_vcpus, old_mem, old_disk;
} claim_out;

static int claim_txn(const sreq *r, const char *host, claim_out *o)
{
	bool mysql = strcmp(kdb_driver(cmp_db), "mysql") == 0;
	memset(o, 0, sizeof(*o));
	_cleanup_stmt_ kstmt *n = kdb_prepare(cmp_db, mysql
		? "SELECT vcpus, memory_mb, local_gb, reserved_host_memory_mb, "
		  "reserved_host_disk_mb, cpu_allocation_ratio, ram_allocation_ratio, "
		  "disk_allocation_ratio FROM cmp_compute_node WHERE host = ? FOR UPDATE"
		: "SELECT vcpus, memory_mb, local_gb, reserved_host_memory_mb, "
		  "reserved_host_disk_mb, cpu_allocation_ratio, ram_allocation_ratio, "
		  "disk_allocation_ratio FROM cmp_compute_node WHERE host = ?");
	if (!n || kstmt_bind_text(n, 1, host) != KDB_OK)
		return -1;
	int rc = kstmt_step(n);
	if (rc == KDB_DONE)
		return 0;               /* the node is gone */
	if (rc != KDB_ROW)
		return -1;
	hstate h = {
		.vcpus = kstmt_int(n, 0), .memory_mb = kstmt_int(n, 1), .local_gb = kstmt_int(n, 2),
		.reserved_mem = kstmt_int(n, 3), .reserved_disk_mb = kstmt_int(n, 4),
		.cpu_ratio = kstmt_double(n, 5), .ram_ratio = kstmt_double(n, 6),
		.disk_ratio = kstmt_double(n, 7),
	};
	kstmt_done(TAKE_PTR(n));

	_cleanup_stmt_ kstmt *s = kdb_prepare(cmp_db, "SELECT disabled, forced_down, "
		"COALESCE(last_seen_at, updated_at, created_at) FROM cmp_service "
		"WHERE binary_name = 'nova-compute' AND host = ?");
	if (!s || kstmt_bind_text(s, 1, host) != KDB_OK)
		return -1;
	rc = kstmt_step(s);
	if (rc != KDB_ROW)
		return rc == KDB_DONE ? 0 : -1;
	if (kstmt_int(s, 0) || kstmt_int(s, 1) || !service_up(kstmt_int(s, 2), kutil_now_us()))
		return 0;
	kstmt_done(TAKE_PTR(s));

	_cleanup_stmt_ kstmt *u = kdb_prepare(cmp_db, "SELECT COALESCE(SUM(vcpus), 0), "
		"COALESCE(SUM(memory_mb), 0), COALESCE(SUM(disk_gb), 0) FROM cmp_allocation "
		"WHERE host = ? AND instance_id <> ?");
	if (!u || kstmt_bind_text(u, 1, host) != KDB_OK || kstmt_bind_text(u, 2, r->id) != KDB_OK ||
	    kstmt_step(u) != KDB_ROW)
		return -1;
	o->used_vcpus = kstmt_int(u, 0);
	o->used_mem = kstmt_int(u, 1);
	o->used_disk = kstmt_int(u, 2);
	kstmt_done(TAKE_PTR(u));
	if (o->used_mem + r->mem > ram_cap(&h) || o->used_disk + r->disk > disk_cap(&h) ||
	    o->used_vcpus + r->vcpus > cpu_cap(&h))
		return 0;

	bool hard = strcmp(r->policy, "affinity") == 0 || strcmp(r->policy, "anti-affinity") == 0;
	if (hard) {
		if (mysql) {
			_cleanup_json_ _unused_ json_t *g = kdb_query_row(cmp_db, NULL,
				"SELECT id FROM cmp_server_group WHERE id = ? FOR UPDATE", "s",
				r->group_id);
		}
		_cleanup_json_ json_t *members = load_member_hosts(r->group_id, r->id);
		if (!members)
			return -1;
		if (strcmp(r->policy, "affinity") == 0 ? any_member_host(members) &&
		    members_on(members, host) == 0
		    : (int64_t)members_on(members, host) >= r->max_per_host)
			return 0;
	}

	_cleanup_json_ json_t *old = kdb_query_row(cmp_db, NULL, "SELECT host, vcpus, memory_mb, "
	                                           "disk_gb FROM cmp_allocation WHERE "
	                                           "instance_id = ?", "s", r->id);
	if (old) {
		copy_text(o->old_host, sizeof(o->old_host), kjson_str(old, "host"));
		o->old_vcpus = jint(old, "vcpus");
		o->old_mem = jint(old, "memory_mb");
		o->old_disk = jint(old, "disk_gb");
		if (kdb_run(cmp_db, NULL, "DELETE FROM cmp_allocation WHERE instance_id = ?", "s",
		            r->id) != KDB_DONE)
			return -1;
	}
	if (kdb_run(cmp_db, NULL, "INSERT INTO cmp_allocation (instance_id, host, vcpus, "
	            "memory_mb, disk_gb, created_at) VALUES (?, ?, ?, ?, ?, ?)", "ssiiii", r->id,
	            host, r->vcpus, r->mem, r->disk, kutil_now_us()) != KDB_DONE)
		return -1;
	if (r->group_id && *r->policy) {
		bool found;
		_cleanup_json_ json_t *m = kdb_query_row(cmp_db, &found,
			"SELECT group_id FROM cmp_server_group_member WHERE group_id = ? AND "
			"instance_id = ?", "ss", r->group_id, r->id);
		if (!m && found)
			return -1;
		if (!m && kdb_run(cmp_db, NULL, "INSERT INTO cmp_server_group_member (group_id, "
		                  "instance_id) VALUES (?, ?)", "ss", r->group_id,
		                  r->id) != KDB_DONE)
			return -1;
	}
	return 1;
}

static int claim(const sreq *r, const char *host, claim_out *o)
{
	bool sqlite = strcmp(kdb_driver(cmp_db), "sqlite") == 0;
	if (sqlite)
		pthread_mutex_lock(&claim_mu);
	int rc = kdb_begin(cmp_db);
	if (rc == KDB_OK) {
		rc = claim_txn(r, host, o);
		if (rc == 1)
			rc = kdb_commit(cmp_db) == KDB_OK ? 1 : -1;
		else
			kdb_rollback(cmp_db);
	} else {
		rc = -1;
	}
	if (sqlite)
		pthread_mutex_unlock(&claim_mu);
	return rc;
}

static void cache_sub(hstate *h, int64_t vcpus, int64_t mem, int64_t disk)
{
	if (!h)
		return;
	h->used_vcpus -= vcpus;
	h->used_mem -= mem;
	h->used_disk -= disk;
}

int cmp_schedule(const json_t *inst, const json_t *ignore_hosts, char *out, size_t outlen)
{
	static const char no_host[] = "No valid host was found. ";
	if (!cmp_db || !inst) {
		snprintf(out, outlen, "%sThe scheduler has no database.", no_host);
		return -1;
	}
	sreq r;
	char err[128];
	if (sreq_init(&r, inst, ignore_hosts, err, sizeof(err)) != 0) {
		snprintf(out, outlen, "%s%s", no_host, err);
		return -1;
	}
	const char *tried_hosts[MAX_TRIES * MAX_ROUNDS];
	char tried_buf[MAX_TRIES * MAX_ROUNDS][256];
	tried t = { tried_hosts, 0 };
	bool forced = false;      /* this request made the cache reload */
	const char *reason = "There are not enough hosts available.";
	for (;;) {
		char host[256], node[256];
		size_t counts[NFILTERS];
		pthread_mutex_lock(&cache.mu);
		bool load = !cache.loaded_at || kutil_now_us() - cache.loaded_at >= CACHE_TTL_US;
		if (load && cache_load() != 0) {
			cache.loaded_at = 0;
			pthread_mutex_unlock(&cache.mu);
			reason = "The scheduler could not read the compute nodes.";
			break;
		}
		size_t start = cache.n;
		bool ok = select_host(&r, &t, counts, host, node, sizeof(host));
		bool old = kutil_now_us() - cache.loaded_at >= RECHECK_AGE_US;
		pthread_mutex_unlock(&cache.mu);
		if (!ok) {
			/* a stale view must not fail a request: look again, fresh (when
			 * the view is older than RECHECK_AGE_US, so that a full cloud
			 * does not reload for every request it turns down) */
			if (!load && !forced && old) {
				cmp_scheduler_invalidate();
				forced = true;
				continue;
			}
			log_filters(&r, start, counts, true);
			break;
		}
		log_filters(&r, start, counts, false);
		claim_out o;
		int rc = claim(&r, host, &o);
		pthread_mutex_lock(&cache.mu);
		if (rc == 1) {
			if (*o.old_host)
				cache_sub(cache_find(o.old_host), o.old_vcpus, o.old_mem,
				          o.old_disk);
		} else {
			/* undo the consumption; take the database's usage of the host */
			hstate *h = cache_find(host);
			cache_sub(h, r.vcpus, r.mem, r.disk);
			if (h && rc == 0) {
				if (o.used_vcpus > h->used_vcpus)
					h->used_vcpus = o.used_vcpus;
				if (o.used_mem > h->used_mem)
					h->used_mem = o.used_mem;
				if (o.used_disk > h->used_disk)
					h->used_disk = o.used_disk;
			}
		}
		pthread_mutex_unlock(&cache.mu);
		if (rc == 1) {
			klog_debug(LOG, "instance %s claimed on %s (%lld vcpus, %lld MB, %lld GB)",
			           r.id, host, (long long)r.vcpus, (long long)r.mem,
			           (long long)r.disk);
			sreq_fini(&r);
			snprintf(out, outlen, "%s", host);
			return 0;
		}
		if (rc < 0) {
			reason = "The claim failed (database error).";
			break;
		}
		klog_debug(LOG, "host %s cannot take instance %s any more: trying the next one",
		           host, r.id);
		if (t.n == ARRAY_SIZE(tried_buf))
			break;
		copy_text(tried_buf[t.n], sizeof(tried_buf[t.n]), host);
		tried_hosts[t.n] = tried_buf[t.n];
		if (++t.n % MAX_TRIES == 0)
			cmp_scheduler_invalidate();   /* many misses: the view is too old */
	}
	if (strcmp(reason, "There are not enough hosts available.") != 0)
		klog_warn(LOG, "instance %s: %s%s", r.id, no_host, reason);
	sreq_fini(&r);
	snprintf(out, outlen, "%s%s", no_host, reason);
	return -1;
}

void cmp_allocation_release(const char *instance_id)
{
	if (!cmp_db || !instance_id)
		return;
	_cleanup_json_ json_t *old = kdb_query_row(cmp_db, NULL, "SELECT host, vcpus, memory_mb, "
	                                           "disk_gb FROM cmp_allocation WHERE "
	                                           "instance_id = ?", "s", instance_id);
	if (!old)
		return;
	int64_t changes = 0;
	if (kdb_run(cmp_db, &changes, "DELETE FROM cmp_allocation WHERE instance_id = ?", "s",
	            instance_id) != KDB_DONE) {
		klog_warn(LOG, "cannot release the claim of instance %s", instance_id);
		return;
	}
	if (changes > 0) {
		pthread_mutex_lock(&cache.mu);
		cache_sub(cache_find(kjson_str(old, "host")), jint(old, "vcpus"),
		          jint(old, "memory_mb"), jint(old, "disk_gb"));
		pthread_mutex_unlock(&cache.mu);
	}
}

/* ---- service rows and heartbeats ---- */

#define MAX_BEATS 4

typedef struct beat {
	char binary[32], topic[64];
	pthread_t th;
	bool used, stop;
} beat;

static pthread_mutex_t beat_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t beat_cv;
static pthread_once_t beat_once = PTHREAD_ONCE_INIT;
static beat beats[MAX_BEATS];

static void beat_init(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&beat_cv, &a);
	pthread_condattr_destroy(&a);
}

/* Create or refresh the (binary, host) row: last_seen_at now, one more report. */
static void beat_once_now(const char *binary, const char *topic)
{
	int64_t now = kutil_now_us(), changes = 0;
	if (kdb_run(cmp_db, &changes, "UPDATE cmp_service SET last_seen_at = ?, updated_at = ?, "
	            "report_count = report_count + 1, topic = ? WHERE binary_name = ? AND host = ?",
	            "iisss", now, now, topic, binary, cmp_host()) != KDB_DONE)
		changes = -1;
	if (changes != 0)
		return;
	char uuid[37];
	kutil_uuid(uuid);
	int rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_service (binary_name, host, topic, "
	                 "disabled, forced_down, report_count, last_seen_at, created_at, "
	                 "updated_at, uuid) VALUES (?, ?, ?, 0, 0, 1, ?, ?, ?, ?)", "sssiiis",
	                 binary, cmp_host(), topic, now, now, now, uuid);
	if (rc != KDB_DONE && rc != KDB_CONSTRAINT)
		klog_warn(LOG, "cannot record the %s service row", binary);
}

static void *beat_main(void *arg)
{
	beat *b = arg;
	long every = cmp_conf_int("report_interval", 10);
	if (every < 1)
		every = 1;
	pthread_mutex_lock(&beat_mu);
	while (!b->stop) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_sec += every;
		while (!b->stop && pthread_cond_timedwait(&beat_cv, &beat_mu, &t) == 0)
			;
		if (b->stop)
			break;
		pthread_mutex_unlock(&beat_mu);
		beat_once_now(b->binary, b->topic);
		pthread_mutex_lock(&beat_mu);
	}
	pthread_mutex_unlock(&beat_mu);
	return NULL;
}

int cmp_service_beat_start(const char *binary, const char *topic)
{
	if (!cmp_db)
		return -1;
	pthread_once(&beat_once, beat_init);
	beat_once_now(binary, topic);
	pthread_mutex_lock(&beat_mu);
	beat *b = NULL;
	for (size_t i = 0; i < MAX_BEATS; i++) {
		if (beats[i].used && strcmp(beats[i].binary, binary) == 0) {
			pthread_mutex_unlock(&beat_mu);
			return 0;           /* already beating */
		}
		if (!beats[i].used && !b)
			b = &beats[i];
	}
	if (!b) {
		pthread_mutex_unlock(&beat_mu);
		return -1;
	}
	*b = (beat){ .used = true };
	copy_text(b->binary, sizeof(b->binary), binary);
	copy_text(b->topic, sizeof(b->topic), topic);
	if (pthread_create(&b->th, NULL, beat_main, b) != 0) {
		b->used = false;
		pthread_mutex_unlock(&beat_mu);
		klog_error(LOG, "cannot start the %s heartbeat thread", binary);
		return -1;
	}
	pthread_mutex_unlock(&beat_mu);
	return 0;
}

void cmp_service_beat_stop(const char *binary)
{
	pthread_once(&beat_once, beat_init);
	pthread_mutex_lock(&beat_mu);
	beat *b = NULL;
	for (size_t i = 0; i < MAX_BEATS && !b; i++)
		if (beats[i].used && strcmp(beats[i].binary, binary) == 0)
			b = &beats[i];
	if (!b) {
		pthread_mutex_unlock(&beat_mu);
		return;
	}
	b->stop = true;
	pthread_cond_broadcast(&beat_cv);
	pthread_mutex_unlock(&beat_mu);
	pthread_join(b->th, NULL);
	pthread_mutex_lock(&beat_mu);
	b->used = false;
	pthread_mutex_unlock(&beat_mu);
}

/* ---- the bus: "scheduler" ---- */

static bool sched_running, sched_served;

/* The instance as the scheduler needs it (image parsed), or NULL. */
static json_t *load_instance(const char *id)
{
	json_t *inst = kdb_query_row(cmp_db, NULL, "SELECT id, vcpus, memory_mb, root_gb, "
	                             "ephemeral_gb, swap, availability_zone, server_group_id, "
	                             "image FROM cmp_instance WHERE id = ? AND deleted = 0", "s",
	                             id);
	const char *image = kjson_str(inst, "image");
	if (image)
		json_object_set_new(inst, "image", json_loads(image, 0, NULL));
	return inst;
}

static json_t *select_destinations(json_t *args)
{
	const char *id = kjson_str(args, "instance_id");
	if (!id)
		return json_pack("{s:s}", "error",
		                 "No valid host was found. No instance_id given.");
	_cleanup_json_ json_t *inst = load_instance(id);
	if (!inst)
		return json_pack("{s:s++}", "error", "No valid host was found. Instance ", id,
		                 " could not be found.");
	char out[512];
	if (cmp_schedule(inst, json_object_get(args, "ignore_hosts"), out, sizeof(out)) != 0)
		return json_pack("{s:s}", "error", out);
	_cleanup_json_ json_t *node = kdb_query_row(cmp_db, NULL, "SELECT hypervisor_hostname "
	                                            "FROM cmp_compute_node WHERE host = ?", "s",
	                                            out);
	const char *n = kjson_str(node, "hypervisor_hostname");
	return json_pack("{s:s,s:s}", "host", out, "node", n && *n ? n : out);
}

static json_t *on_scheduler(void *ud, const char *method, json_t *args)
{
	(void)ud;
	if (!__atomic_load_n(&sched_running, __ATOMIC_ACQUIRE))
		return json_pack("{s:s}", "error", "No valid host was found. The scheduler is "
		                 "stopping.");
	if (strcmp(method, "select_destinations") == 0)
		return select_destinations(args);
	klog_warn(LOG, "unknown method %s", method);
	return json_pack("{s:s}", "error", "unknown method");
}

int cmp_scheduler_start(void)
{
	if (cmp_service_beat_start("nova-scheduler", "scheduler") != 0)
		klog_warn(LOG, "no nova-scheduler service row");
	__atomic_store_n(&sched_running, true, __ATOMIC_RELEASE);
	if (!kumo_bus) {
		klog_warn(LOG, "no message bus: select_destinations is not served");
		return 0;
	}
	if (!sched_served) {
		if (kbus_serve(kumo_bus, "scheduler", NULL, on_scheduler, NULL) != 0) {
			klog_error(LOG, "cannot listen on the bus topic \"scheduler\"");
			return -1;
		}
		sched_served = true;
	}
	return 0;
}

void cmp_scheduler_stop(void)
{
	__atomic_store_n(&sched_running, false, __ATOMIC_RELEASE);
	cmp_service_beat_stop("nova-scheduler");
	pthread_mutex_lock(&cache.mu);
	free(cache.hosts);
	cache.hosts = NULL;
	cache.n = 0;
	cache.loaded_at = 0;
	pthread_mutex_unlock(&cache.mu);
}
