/*
 * sched_bench.c - the scheduler benchmark (issue 5, part b): N compute nodes
 * (cmp_compute_node rows with up nova-compute services) on SQLite, then
 * placements through cmp_schedule() - filters, weighers and the claim
 * transaction - with no agents and no bus.
 *
 *   sched_bench [nodes=1000] [placements=10000] [threads=4]
 *
 * Phases, each on an empty cmp_allocation table:
 *   serial    1 thread, every placement fits (mixed m1.tiny..m1.large)
 *   parallel  `threads` threads sharing the placements, every one fits
 *   full      `threads` threads, nodes shrunk so about a quarter fits: the
 *             claims race for the last room
 * After each phase: no host holds more than (total - reserved) x ratio of
 * RAM, disk or vCPUs, the allocation count equals the successes, and in the
 * first two phases every placement succeeded.  Prints one RESULT line per
 * phase and exits 1 when a check failed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute/compute.h"

static const struct { const char *name; int vcpus, mem, disk; } flavors[] = {
	{ "m1.tiny", 1, 512, 1 }, { "m1.small", 1, 2048, 20 },
	{ "m1.medium", 2, 4096, 40 }, { "m1.large", 4, 8192, 80 },
};

static int nplacements, nthreads;
static int64_t *lat;              /* per placement, microseconds */
static int failures;

typedef struct job { int first, count, ok; } job;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	job *j = arg;
	for (int k = j->first; k < j->first + j->count; k++) {
		char id[37], out[256];
		kutil_uuid(id);
		int f = k % (int)ARRAY_SIZE(flavors);
		json_t *inst = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:s,s:{s:{}}}", "id", id,
		                         "vcpus", flavors[f].vcpus, "memory_mb", flavors[f].mem,
		                         "root_gb", flavors[f].disk, "ephemeral_gb", 0, "swap", 0,
		                         "availability_zone", "nova", "image", "properties");
		double t0 = now_s();
		if (cmp_schedule(inst, NULL, out, sizeof(out)) == 0)
			j->ok++;
		lat[k] = (int64_t)((now_s() - t0) * 1e6);
		json_decref(inst);
	}
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "CHECK FAILED: %s\n", what);
		failures++;
	}
}

/* No host above its capacity in any resource; returns the allocation count. */
static int64_t verify(void)
{
	_cleanup_json_ json_t *over = kdb_query_json(cmp_db,
		"SELECT n.host FROM cmp_compute_node n JOIN (SELECT host, SUM(vcpus) AS v, "
		"SUM(memory_mb) AS m, SUM(disk_gb) AS d FROM cmp_allocation GROUP BY host) a "
		"ON a.host = n.host WHERE a.m > (n.memory_mb - n.reserved_host_memory_mb) * "
		"n.ram_allocation_ratio OR a.v > n.vcpus * n.cpu_allocation_ratio OR "
		"a.d > n.local_gb * n.disk_allocation_ratio", "");
	check(over && json_array_size(over) == 0, "no host oversubscribed");
	_cleanup_json_ json_t *orphans = kdb_query_row(cmp_db, NULL, "SELECT COUNT(*) AS n FROM "
	                                               "cmp_allocation WHERE host NOT IN (SELECT "
	                                               "host FROM cmp_compute_node)", "");
	check(json_integer_value(json_object_get(orphans, "n")) == 0, "allocations on real hosts");
	_cleanup_json_ json_t *n = kdb_query_row(cmp_db, NULL, "SELECT COUNT(*) AS n FROM "
	                                         "cmp_allocation", "");
	return json_integer_value(json_object_get(n, "n"));
}

static void phase(const char *name, int threads, bool all_fit)
{
	kdb_run(cmp_db, NULL, "DELETE FROM cmp_allocation", "");
	cmp_scheduler_invalidate();
	pthread_t th[64];
	job jobs[64];
	int per = nplacements / threads;
	double t0 = now_s();
	for (int t = 0; t < threads; t++) {
		jobs[t] = (job){ t * per, t == threads - 1 ? nplacements - t * per : per, 0 };
		pthread_create(&th[t], NULL, worker, &jobs[t]);
	}
	int ok = 0;
	for (int t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		ok += jobs[t].ok;
	}
	double secs = now_s() - t0;
	int64_t allocs = verify();
	check(allocs == ok, "one allocation per success");
	if (all_fit)
		check(ok == nplacements, "every placement succeeded");
	qsort(lat, (size_t)nplacements, sizeof(int64_t), cmp_i64);
	printf("RESULT phase=%s threads=%d placements=%d placed=%d no_valid_host=%d seconds=%.3f "
	       "rate=%.0f p50_us=%lld p99_us=%lld max_us=%lld\n", name, threads, nplacements, ok,
	       nplacements - ok, secs, nplacements / secs, (long long)lat[nplacements / 2],
	       (long long)lat[nplacements * 99 / 100], (long long)lat[nplacements - 1]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int nodes = argc > 1 ? atoi(argv[1]) : 1000;
	nplacements = argc > 2 ? atoi(argv[2]) : 10000;
	nthreads = argc > 3 ? atoi(argv[3]) : 4;
	if (nodes < 1 || nplacements < 1 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: sched_bench [nodes] [placements] [threads<=64]\n");
		return 2;
	}
	klog_init(NULL, KLOG_WARN);
	char dir[] = "/tmp/kumo-sched-bench-XXXXXX";
	if (!mkdtemp(dir))
		return 2;
	char text[512], err[256], url[300];
	snprintf(text, sizeof(text), "[DEFAULT]\nstate_dir = %s\n[compute]\n"
	         "service_down_time = 3600\n", dir);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	snprintf(url, sizeof(url), "sqlite:///%s/compute.db", dir);
	cmp_db = kumo_conf ? kdb_open(url, err, sizeof(err)) : NULL;
	if (!cmp_db || cmp_db_sync() != 0) {
		fprintf(stderr, "cannot open %s: %s\n", url, err);
		return 2;
	}
	lat = calloc((size_t)nplacements, sizeof(int64_t));

	/* the nodes: three sizes, default allocation ratios (16 / 1.5 / 1.0) */
	int64_t now = kutil_now_us();
	kdb_begin(cmp_db);
	for (int i = 0; i < nodes; i++) {
		char host[32], uuid[37];
		snprintf(host, sizeof(host), "node-%04d", i);
		kutil_uuid(uuid);
		int size = 1 << (i % 3);     /* 1, 2, 4 */
		kdb_run(cmp_db, NULL, "INSERT INTO cmp_compute_node (host, hypervisor_hostname, "
		        "vcpus, memory_mb, local_gb, created_at, updated_at) "
		        "VALUES (?, ?, ?, ?, ?, ?, ?)", "ssiiiii", host, host, (int64_t)16 * size,
		        (int64_t)65536 * size, (int64_t)1000 * size, now, now);
		kdb_run(cmp_db, NULL, "INSERT INTO cmp_service (binary_name, host, topic, "
		        "last_seen_at, created_at, updated_at, uuid) VALUES ('nova-compute', ?, "
		        "'compute', ?, ?, ?, ?)", "siiis", host, now, now, now, uuid);
	}
	if (kdb_commit(cmp_db) != KDB_OK) {
		fprintf(stderr, "cannot create the nodes\n");
		return 2;
	}
	printf("nodes=%d placements=%d threads=%d sqlite=%s\n", nodes, nplacements, nthreads,
	       url);
	phase("serial", 1, true);
	phase("parallel", nthreads, true);
	/* a quarter of the demand fits: 8 GiB of RAM per node, ratio 1.0 */
	int64_t demand = 0;
	for (int k = 0; k < nplacements; k++)
		demand += flavors[k % (int)ARRAY_SIZE(flavors)].mem;
	int64_t per_node = demand / 4 / nodes + 512;
	kdb_run(cmp_db, NULL, "UPDATE cmp_compute_node SET memory_mb = ?, ram_allocation_ratio = "
	        "1.0", "i", per_node);
	phase("full", nthreads, false);

	free(lat);
	kdb_close(cmp_db);
	kconf_free(kumo_conf);
	snprintf(text, sizeof(text), "rm -rf %s", dir);
	if (system(text) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	if (failures)
		printf("FAILED: %d check(s)\n", failures);
	return failures ? 1 : 0;
}
