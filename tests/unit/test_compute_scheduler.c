/*
 * test_compute_scheduler.c - the scheduler (src/compute/scheduler.c) on a
 * real SQLite compute database (MariaDB when KUMO_TEST_MYSQL_URL is set): each filter (RAM, disk, cores, availability
 * zone, image properties, affinity and anti-affinity, ignored hosts,
 * disabled / forced-down / silent services), the RAM weigher and the soft
 * group weighers, re-claims and releases, no oversubscription with 4
 * threads x 500 claims, select_destinations over the in-process bus with
 * the nova-scheduler service row, and the conductor: builds cast to the
 * chosen host's agent, a host without an agent retried elsewhere, recovery
 * at start, NoValidHost and too many attempts as instance faults.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/conf.h"
#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute/compute.h"
#include "ktest.h"

static char dir[] = "/tmp/kumo-sched-XXXXXX";

static void setup(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	klog_init(NULL, KLOG_WARN);     /* each NoValidHost logs its filter counts */
	CHECK(mkdtemp(dir) != NULL);
	char text[512], err[256], url[300];
	snprintf(text, sizeof(text), "[DEFAULT]\nstate_dir = %s\nhost = sched-test\n"
	         "[compute]\nservice_down_time = 60\nreport_interval = 1\n", dir);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	CHECK(kumo_conf != NULL);
	snprintf(url, sizeof(url), "sqlite:///%s/compute.db", dir);
	/* tools/check.sh mysql: the same tests on MariaDB (SELECT ... FOR UPDATE claims) */
	const char *murl = getenv("KUMO_TEST_MYSQL_URL");
	cmp_db = kdb_open(murl && *murl ? murl : url, err, sizeof(err));
	CHECK(cmp_db != NULL);
	CHECK_INT(cmp_db_sync(), 0);
}

/* Empty world: no nodes, services, claims or groups. */
static void reset(void)
{
	setup();
	const char *tables[] = { "cmp_compute_node", "cmp_service", "cmp_allocation",
	                         "cmp_server_group", "cmp_server_group_member", "cmp_instance",
	                         "cmp_instance_action", "cmp_instance_action_event",
	                         "cmp_instance_fault" };
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "DELETE FROM %s", tables[i]);
		CHECK_INT(kdb_run(cmp_db, NULL, sql, ""), KDB_DONE);
	}
	cmp_scheduler_invalidate();
}

enum svc { UP, DISABLED, FORCED_DOWN, SILENT, NO_SERVICE };

/* A compute node with its nova-compute service; RAM ratio 1.0, reserved
 * 512 MB, cores ratio 1.0, disk ratio 1.0 unless changed afterwards. */
static void add_host(const char *host, int64_t vcpus, int64_t mem, int64_t disk, const char *az,
                     enum svc s)
{
	int64_t now = kutil_now_us();
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_compute_node (host, hypervisor_hostname, "
	                  "vcpus, memory_mb, local_gb, cpu_allocation_ratio, ram_allocation_ratio, "
	                  "disk_allocation_ratio, reserved_host_memory_mb, availability_zone, "
	                  "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 1.0, 1.0, 1.0, 512, ?, "
	                  "?, ?)", "ssiiisii", host, host, vcpus, mem, disk, az ? az : "nova", now,
	                  now),
	          KDB_DONE);
	if (s == NO_SERVICE)
		return;
	char uuid[37];
	kutil_uuid(uuid);
	int64_t seen = s == SILENT ? now - 120 * 1000000LL : now;
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_service (binary_name, host, topic, "
	                  "disabled, forced_down, last_seen_at, created_at, updated_at, uuid) "
	                  "VALUES ('nova-compute', ?, 'compute', ?, ?, ?, ?, ?, ?)", "siiiiis",
	                  host, (int64_t)(s == DISABLED), (int64_t)(s == FORCED_DOWN), seen, seen,
	                  seen, uuid), KDB_DONE);
}

static json_t *inst(const char *id, int64_t vcpus, int64_t mem, int64_t root, int64_t eph,
                    int64_t swap)
{
	return json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "id", id, "vcpus", (json_int_t)vcpus,
	                 "memory_mb", (json_int_t)mem, "root_gb", (json_int_t)root, "ephemeral_gb",
	                 (json_int_t)eph, "swap", (json_int_t)swap);
}

/* Schedule; the host (static buffer) or NULL when none. */
static const char *sched(json_t *i, json_t *ignore)
{
	static char out[512];
	int rc = cmp_schedule(i, ignore, out, sizeof(out));
	json_decref(i);
	json_decref(ignore);
	if (rc != 0) {
		CHECK_STR(out, "No valid host was found. There are not enough hosts available.");
		return NULL;
	}
	return out;
}

static int64_t count_allocs(const char *host)
{
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT COUNT(*) AS n FROM "
	                                           "cmp_allocation WHERE host = ?", "s", host);
	return row ? json_integer_value(json_object_get(row, "n")) : -1;
}

KTEST(ram_filter)
{
	reset();
	add_host("a", 16, 4096, 100, NULL, UP);     /* 3584 MB usable */
	CHECK(sched(inst("i1", 1, 4000, 1, 0, 0), NULL) == NULL);
	CHECK_STR(sched(inst("i2", 1, 2048, 1, 0, 0), NULL), "a");
	CHECK_STR(sched(inst("i3", 1, 1536, 1, 0, 0), NULL), "a");
	CHECK(sched(inst("i4", 1, 1, 1, 0, 0), NULL) == NULL);
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT host, vcpus, memory_mb, "
	                                           "disk_gb FROM cmp_allocation WHERE "
	                                           "instance_id = 'i2'", "");
	CHECK_STR(kjson_str(row, "host"), "a");
	CHECK_INT(json_integer_value(json_object_get(row, "memory_mb")), 2048);
	/* the allocation ratio: 1.5 x 3584 = 5376 */
	CHECK_INT(kdb_run(cmp_db, NULL, "UPDATE cmp_compute_node SET ram_allocation_ratio = 1.5",
	                  ""), KDB_DONE);
	cmp_scheduler_invalidate();
	CHECK_STR(sched(inst("i5", 1, 1792, 1, 0, 0), NULL), "a");
	CHECK(sched(inst("i6", 1, 1, 1, 0, 0), NULL) == NULL);
}

KTEST(disk_filter)
{
	reset();
	add_host("a", 16, 65536, 10, NULL, UP);
	/* root + ephemeral + swap (MB, rounded up to GB) */
	CHECK(sched(inst("d1", 1, 64, 8, 2, 1), NULL) == NULL);
	CHECK_STR(sched(inst("d2", 1, 64, 6, 2, 2048), NULL), "a");
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT disk_gb FROM "
	                                           "cmp_allocation WHERE instance_id = 'd2'", "");
	CHECK_INT(json_integer_value(json_object_get(row, "disk_gb")), 10);
	CHECK(sched(inst("d3", 1, 64, 1, 0, 0), NULL) == NULL);
	CHECK_STR(sched(inst("d4", 1, 64, 0, 0, 0), NULL), "a");
}

KTEST(core_filter)
{
	reset();
	add_host("a", 2, 65536, 100, NULL, UP);
	CHECK(sched(inst("c1", 3, 64, 1, 0, 0), NULL) == NULL);
	CHECK_STR(sched(inst("c2", 1, 64, 1, 0, 0), NULL), "a");
	CHECK_STR(sched(inst("c3", 1, 64, 1, 0, 0), NULL), "a");
	CHECK(sched(inst("c4", 1, 64, 1, 0, 0), NULL) == NULL);
	CHECK_INT(count_allocs("a"), 2);
}

KTEST(availability_zone_filter)
{
	reset();
	add_host("a", 8, 8192, 100, "az1", UP);
	add_host("b", 8, 4096, 100, "az2", UP);
	json_t *i = inst("z1", 1, 64, 1, 0, 0);
	json_object_set_new(i, "availability_zone", json_string("az2"));
	CHECK_STR(sched(i, NULL), "b");
	i = inst("z2", 1, 64, 1, 0, 0);
	json_object_set_new(i, "availability_zone", json_string("nowhere"));
	CHECK(sched(i, NULL) == NULL);
	/* an admin's zone:host */
	i = inst("z3", 1, 64, 1, 0, 0);
	json_object_set_new(i, "availability_zone", json_string("az2:a"));
	CHECK(sched(i, NULL) == NULL);
	i = inst("z4", 1, 64, 1, 0, 0);
	json_object_set_new(i, "availability_zone", json_string("az1:a"));
	CHECK_STR(sched(i, NULL), "a");
	/* none asked: any zone (the most free RAM) */
	i = inst("z5", 1, 64, 1, 0, 0);
	json_object_set_new(i, "availability_zone", json_null());
	CHECK_STR(sched(i, NULL), "a");
}

KTEST(image_properties_filter)
{
	reset();
	add_host("a", 8, 8192, 100, NULL, UP);
	json_t *i = inst("p1", 1, 64, 1, 0, 0);
	json_object_set_new(i, "image", json_pack("{s:{s:s}}", "properties", "hw_architecture",
	                                          "armv7l"));
	CHECK(sched(i, NULL) == NULL);
	i = inst("p2", 1, 64, 1, 0, 0);
	json_object_set_new(i, "image", json_pack("{s:{s:s}}", "properties", "img_hv_type",
	                                          "xen"));
	CHECK(sched(i, NULL) == NULL);
	i = inst("p3", 1, 64, 1, 0, 0);
	json_object_set_new(i, "image", json_pack("{s:{s:s,s:s,s:s}}", "properties",
	                                          "hw_architecture", "x86_64", "img_hv_type",
	                                          "qemu", "hw_vm_mode", "hvm"));
	CHECK_STR(sched(i, NULL), "a");
}

KTEST(service_states)
{
	reset();
	add_host("dis", 8, 65536, 100, NULL, DISABLED);
	add_host("forced", 8, 65536, 100, NULL, FORCED_DOWN);
	add_host("silent", 8, 65536, 100, NULL, SILENT);
	add_host("nosvc", 8, 65536, 100, NULL, NO_SERVICE);
	CHECK(sched(inst("s1", 1, 64, 1, 0, 0), NULL) == NULL);
	add_host("ok", 8, 1024, 100, NULL, UP);
	/* a new host: a failing request reloads a view older than 0.1 s */
	usleep(120 * 1000);
	CHECK_STR(sched(inst("s2", 1, 64, 1, 0, 0), NULL), "ok");
	/* disabled after the cache was loaded: the claim re-checks the service */
	CHECK_INT(kdb_run(cmp_db, NULL, "UPDATE cmp_service SET disabled = 1 WHERE host = 'ok'",
	                  ""), KDB_DONE);
	CHECK(sched(inst("s3", 1, 64, 1, 0, 0), NULL) == NULL);
	CHECK_INT(count_allocs("ok"), 1);
}

KTEST(ignore_hosts)
{
	reset();
	add_host("a", 8, 16384, 100, NULL, UP);
	add_host("b", 8, 8192, 100, NULL, UP);
	CHECK_STR(sched(inst("r1", 1, 64, 1, 0, 0), json_pack("[s]", "a")), "b");
	CHECK(sched(inst("r2", 1, 64, 1, 0, 0), json_pack("[s,s]", "a", "b")) == NULL);
	/* a retry moves the claim: one allocation, on the new host */
	CHECK_STR(sched(inst("r1", 1, 64, 1, 0, 0), json_pack("[s]", "b")), "a");
	CHECK_INT(count_allocs("a"), 1);
	CHECK_INT(count_allocs("b"), 0);
}

KTEST(ram_weigher_order)
{
	reset();
	add_host("small", 8, 4096 + 512, 100, NULL, UP);
	add_host("big", 8, 16384 + 512, 100, NULL, UP);
	add_host("mid", 8, 8192 + 512, 100, NULL, UP);
	CHECK_STR(sched(inst("w1", 1, 9216, 1, 0, 0), NULL), "big");   /* big: 7168 left */
	CHECK_STR(sched(inst("w2", 1, 2048, 1, 0, 0), NULL), "mid");   /* 8192 > 7168 */
	CHECK_STR(sched(inst("w3", 1, 1024, 1, 0, 0), NULL), "big");   /* 7168 > 6144 */
	/* 6144 = 6144: either, then the other one */
	char w4[32];
	snprintf(w4, sizeof(w4), "%s", sched(inst("w4", 1, 3072, 1, 0, 0), NULL));
	CHECK(strcmp(w4, "big") == 0 || strcmp(w4, "mid") == 0);
	CHECK_STR(sched(inst("w5", 1, 3072, 1, 0, 0), NULL), strcmp(w4, "big") ? "big" : "mid");
	CHECK_STR(sched(inst("w6", 1, 3072, 1, 0, 0), NULL), "small");   /* 4096 > 3072 */
}

KTEST(release)
{
	reset();
	add_host("a", 8, 2048 + 512, 100, NULL, UP);
	CHECK_STR(sched(inst("l1", 1, 2048, 1, 0, 0), NULL), "a");
	CHECK(sched(inst("l2", 1, 2048, 1, 0, 0), NULL) == NULL);
	cmp_allocation_release("l1");
	CHECK_INT(count_allocs("a"), 0);
	CHECK_STR(sched(inst("l2", 1, 2048, 1, 0, 0), NULL), "a");
	cmp_allocation_release("nonexistent");
	/* released behind the scheduler's back (as a delete does): a full-looking host
	 * is looked at again before saying no */
	CHECK_INT(kdb_run(cmp_db, NULL, "DELETE FROM cmp_allocation", ""), KDB_DONE);
	usleep(120 * 1000);
	CHECK_STR(sched(inst("l3", 1, 2048, 1, 0, 0), NULL), "a");
	/* or at once after cmp_scheduler_invalidate() */
	CHECK_INT(kdb_run(cmp_db, NULL, "DELETE FROM cmp_allocation", ""), KDB_DONE);
	cmp_scheduler_invalidate();
	CHECK_STR(sched(inst("l4", 1, 2048, 1, 0, 0), NULL), "a");
}

static void add_group(const char *id, const char *policy)
{
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_server_group (id, project_id, user_id, "
	                  "name, policy) VALUES (?, 'p', 'u', ?, ?)", "sss", id, id, policy),
	          KDB_DONE);
}

static json_t *ginst(const char *id, const char *group)
{
	json_t *i = inst(id, 1, 1024, 1, 0, 0);
	json_object_set_new(i, "server_group_id", json_string(group));
	return i;
}

KTEST(affinity)
{
	reset();
	add_host("a", 8, 8192, 100, NULL, UP);
	add_host("b", 8, 16384, 100, NULL, UP);
	add_group("g-aff", "affinity");
	CHECK_STR(sched(ginst("f1", "g-aff"), NULL), "b");
	/* fill b so that a has more free RAM: the group still goes to b */
	CHECK_STR(sched(inst("x", 1, 9000, 1, 0, 0), NULL), "b");
	CHECK_STR(sched(ginst("f2", "g-aff"), NULL), "b");
	_cleanup_json_ json_t *m = kdb_query_json(cmp_db, "SELECT instance_id FROM "
	                                          "cmp_server_group_member WHERE group_id = "
	                                          "'g-aff' ORDER BY instance_id", "");
	CHECK_INT(json_array_size(m), 2);
	/* b cannot take it: affinity fails rather than going to a */
	json_t *big = ginst("f3", "g-aff");
	json_object_set_new(big, "memory_mb", json_integer(5000));
	CHECK(sched(big, NULL) == NULL);
	CHECK(sched(ginst("f4", "g-aff"), json_pack("[s]", "b")) == NULL);
}

KTEST(anti_affinity)
{
	reset();
	add_host("a", 8, 8192, 100, NULL, UP);
	add_host("b", 8, 16384, 100, NULL, UP);
	add_group("g-anti", "anti-affinity");
	CHECK_STR(sched(ginst("n1", "g-anti"), NULL), "b");
	CHECK_STR(sched(ginst("n2", "g-anti"), NULL), "a");
	CHECK(sched(ginst("n3", "g-anti"), NULL) == NULL);
	/* a member that goes away frees its host for the group */
	cmp_allocation_release("n1");
	CHECK_INT(kdb_run(cmp_db, NULL, "DELETE FROM cmp_server_group_member WHERE "
	                  "instance_id = 'n1'", ""), KDB_DONE);
	CHECK_STR(sched(ginst("n3", "g-anti"), NULL), "b");
}

KTEST(soft_policies_weigh_before_ram)
{
	reset();
	add_host("a", 8, 8192, 100, NULL, UP);
	add_host("b", 8, 16384, 100, NULL, UP);
	add_group("g-soft-anti", "soft-anti-affinity");
	add_group("g-soft-aff", "soft-affinity");
	CHECK_STR(sched(ginst("s1", "g-soft-anti"), NULL), "b");
	CHECK_STR(sched(ginst("s2", "g-soft-anti"), NULL), "a");   /* b has more RAM */
	CHECK_STR(sched(ginst("s3", "g-soft-anti"), NULL), "b");   /* 1 each: RAM decides */
	CHECK_STR(sched(ginst("t1", "g-soft-aff"), NULL), "b");
	CHECK_STR(sched(inst("fill", 1, 9000, 1, 0, 0), NULL), "b");
	CHECK_STR(sched(ginst("t2", "g-soft-aff"), NULL), "b");    /* a has more RAM now */
	/* soft: when b is full the group member goes elsewhere */
	json_t *big = ginst("t3", "g-soft-aff");
	json_object_set_new(big, "memory_mb", json_integer(4000));
	CHECK_STR(sched(big, NULL), "a");
}

/* ---- parallel claims ---- */

#define NHOSTS 20
#define PER_HOST 80         /* 128 MB instances on 10240 + 512 MB */
#define THREADS 4
#define CLAIMS 500

static int placed[THREADS];

static void *claimer(void *arg)
{
	int t = (int)(intptr_t)arg;
	for (int k = 0; k < CLAIMS; k++) {
		char id[64], out[256];
		snprintf(id, sizeof(id), "par-%d-%d", t, k);
		_cleanup_json_ json_t *i = inst(id, 1, 128, 1, 0, 0);
		if (cmp_schedule(i, NULL, out, sizeof(out)) == 0)
			placed[t]++;
	}
	return NULL;
}

KTEST(parallel_claims_never_oversubscribe)
{
	reset();
	for (int h = 0; h < NHOSTS; h++) {
		char name[32];
		snprintf(name, sizeof(name), "par-host-%02d", h);
		add_host(name, 1000, PER_HOST * 128 + 512, 10000, NULL, UP);
	}
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++)
		CHECK_INT(pthread_create(&th[t], NULL, claimer, (void *)(intptr_t)t), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	int total = 0;
	for (int t = 0; t < THREADS; t++)
		total += placed[t];
	/* 2000 asked, 1600 fit: every one that fits is placed, none more */
	CHECK_INT(total, NHOSTS * PER_HOST);
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT a.host, SUM(a.memory_mb) AS "
	                                             "mem, n.memory_mb - "
	                                             "n.reserved_host_memory_mb AS cap FROM "
	                                             "cmp_allocation a JOIN cmp_compute_node n ON "
	                                             "n.host = a.host GROUP BY a.host, "
	                                             "n.memory_mb, n.reserved_host_memory_mb", "");
	CHECK_INT(json_array_size(rows), NHOSTS);
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
		CHECK(json_integer_value(json_object_get(r, "mem")) <=
		      json_integer_value(json_object_get(r, "cap")));
	_cleanup_json_ json_t *n = kdb_query_row(cmp_db, NULL, "SELECT COUNT(*) AS n FROM "
	                                         "cmp_allocation", "");
	CHECK_INT(json_integer_value(json_object_get(n, "n")), total);
}

/* ---- over the bus: the scheduler and the conductor ---- */

static void bus_up(void)
{
	if (kumo_bus)
		return;
	char err[128];
	kumo_bus = kbus_open("local://", err, sizeof(err));
	CHECK(kumo_bus != NULL);
}

KTEST(select_destinations_over_the_bus)
{
	reset();
	add_host("a", 8, 8192, 100, NULL, UP);
	bus_up();
	if (!kumo_bus)
		return;
	CHECK_INT(cmp_scheduler_start(), 0);
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance (id, project_id, user_id, "
	                  "flavor_id, vcpus, memory_mb, root_gb, image) VALUES ('bus-1', 'p', 'u', "
	                  "'1', 1, 512, 1, '{\"properties\": {}}')", ""), KDB_DONE);
	json_t *reply = NULL;
	_cleanup_json_ json_t *args = json_pack("{s:s,s:[]}", "instance_id", "bus-1",
	                                        "ignore_hosts");
	CHECK_INT(kbus_call(kumo_bus, "scheduler", "select_destinations", args, &reply, 5000), 0);
	CHECK_STR(kjson_str(reply, "host"), "a");
	CHECK_STR(kjson_str(reply, "node"), "a");
	json_decref(reply);
	reply = NULL;
	_cleanup_json_ json_t *args2 = json_pack("{s:s,s:[s]}", "instance_id", "bus-1",
	                                         "ignore_hosts", "a");
	CHECK_INT(kbus_call(kumo_bus, "scheduler", "select_destinations", args2, &reply, 5000), 0);
	CHECK_STR(kjson_str(reply, "error"),
	          "No valid host was found. There are not enough hosts available.");
	json_decref(reply);
	_cleanup_json_ json_t *svc = kdb_query_row(cmp_db, NULL, "SELECT topic, report_count, "
	                                           "last_seen_at FROM cmp_service WHERE "
	                                           "binary_name = 'nova-scheduler' AND host = "
	                                           "'sched-test'", "");
	CHECK_STR(kjson_str(svc, "topic"), "scheduler");
	int64_t first = json_integer_value(json_object_get(svc, "report_count"));
	CHECK(first >= 1);
	usleep(1300 * 1000);      /* report_interval = 1 */
	_cleanup_json_ json_t *svc2 = kdb_query_row(cmp_db, NULL, "SELECT report_count FROM "
	                                            "cmp_service WHERE binary_name = "
	                                            "'nova-scheduler'", "");
	CHECK(json_integer_value(json_object_get(svc2, "report_count")) > first);
}

/* A compute agent on host "a" that only records what it is sent. */
static pthread_mutex_t got_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *got;

static json_t *fake_agent(void *ud, const char *method, json_t *args)
{
	(void)ud;
	pthread_mutex_lock(&got_mu);
	json_array_append_new(got, json_pack("{s:s,s:O}", "method", method, "args", args));
	pthread_mutex_unlock(&got_mu);
	return NULL;
}

static size_t wait_got(size_t n)
{
	for (int k = 0; k < 500; k++) {
		pthread_mutex_lock(&got_mu);
		size_t have = json_array_size(got);
		pthread_mutex_unlock(&got_mu);
		if (have >= n)
			return have;
		usleep(10 * 1000);
	}
	return 0;
}

static void add_instance(const char *id, int64_t mem, int64_t updated_at)
{
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance (id, project_id, user_id, "
	                  "flavor_id, vcpus, memory_mb, root_gb, vm_state, task_state, image, "
	                  "created_at, updated_at) VALUES (?, 'p', 'u', '1', 1, ?, 1, 'building', "
	                  "'scheduling', '{}', ?, ?)", "siii", id, mem, updated_at, updated_at),
	          KDB_DONE);
	char rid[64];
	snprintf(rid, sizeof(rid), "req-%s", id);
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance_action (instance_id, action, "
	                  "request_id, start_time) VALUES (?, 'create', ?, ?)", "ssi", id, rid,
	                  updated_at), KDB_DONE);
}

static json_t *instance_row(const char *id)
{
	return kdb_query_row(cmp_db, NULL, "SELECT vm_state, task_state, host, node, "
	                     "availability_zone FROM cmp_instance WHERE id = ?", "s", id);
}

/* The latest fault message of the instance, once it is in ERROR (waits 5 s). */
static char *wait_error(const char *id)
{
	for (int k = 0; k < 500; k++) {
		_cleanup_json_ json_t *row = instance_row(id);
		if (row && strcmp(kjson_str(row, "vm_state"), "error") == 0) {
			_cleanup_json_ json_t *f = kdb_query_row(cmp_db, NULL,
				"SELECT message FROM cmp_instance_fault WHERE instance_id = ? "
				"ORDER BY id DESC LIMIT 1", "s", id);
			return f ? strdup(kjson_str(f, "message")) : NULL;
		}
		usleep(10 * 1000);
	}
	return NULL;
}

KTEST(conductor_builds_retries_and_recovers)
{
	reset();
	bus_up();
	if (!kumo_bus)
		return;
	got = json_array();
	add_host("a", 8, 8192, 100, "az-a", UP);
	add_host("b", 8, 16384, 100, "az-b", UP);   /* preferred, but nobody listens there */
	CHECK_INT(kbus_serve(kumo_bus, "compute", "a", fake_agent, NULL), 0);
	/* left scheduling by a killed process: the conductor's start builds it again */
	add_instance("c-old", 512, 1);
	CHECK_INT(cmp_scheduler_start(), 0);
	CHECK_INT(cmp_conductor_start(), 0);
	CHECK_INT(wait_got(1), 1);
	add_instance("c-1", 512, kutil_now_us());
	_cleanup_json_ json_t *cast = json_pack("{s:[s],s:i,s:[],s:s}", "instance_ids", "c-1",
	                                        "attempt", 1, "ignore_hosts", "admin_pass", "pw");
	CHECK_INT(kbus_cast(kumo_bus, "conductor", "build_instances", cast), 0);
	CHECK_INT(wait_got(2), 2);
	pthread_mutex_lock(&got_mu);
	for (size_t i = 0; i < 2; i++) {
		json_t *m = json_array_get(got, i), *a = json_object_get(m, "args");
		const char *id = kjson_str(a, "instance_id");
		CHECK_STR(kjson_str(m, "method"), "build_and_run_instance");
		CHECK(id && (strcmp(id, "c-old") == 0 || strcmp(id, "c-1") == 0));
		/* b failed (no agent): the second attempt, with b ignored */
		CHECK_INT(json_integer_value(json_object_get(a, "attempt")), 2);
		CHECK_STR(json_string_value(json_array_get(json_object_get(a, "ignore_hosts"), 0)),
		          "b");
		char rid[64];
		snprintf(rid, sizeof(rid), "req-%s", id ? id : "");
		CHECK_STR(kjson_str(a, "request_id"), rid);
		if (id && strcmp(id, "c-1") == 0)
			CHECK_STR(kjson_str(a, "admin_pass"), "pw");
	}
	pthread_mutex_unlock(&got_mu);
	_cleanup_json_ json_t *row = instance_row("c-1");
	CHECK_STR(kjson_str(row, "vm_state"), "building");
	CHECK_STR(kjson_str(row, "task_state"), "scheduling");
	CHECK_STR(kjson_str(row, "host"), "a");
	CHECK_STR(kjson_str(row, "node"), "a");
	CHECK_STR(kjson_str(row, "availability_zone"), "az-a");
	CHECK_INT(count_allocs("a"), 2);
	CHECK_INT(count_allocs("b"), 0);
	_cleanup_json_ json_t *ev = kdb_query_json(cmp_db, "SELECT e.event, e.result FROM "
	                                           "cmp_instance_action_event e JOIN "
	                                           "cmp_instance_action a ON a.id = e.action_id "
	                                           "WHERE a.instance_id = 'c-1' ORDER BY e.id", "");
	CHECK_INT(json_array_size(ev), 2);
	CHECK_STR(kjson_str(json_array_get(ev, 0), "event"),
	          "conductor_schedule_and_build_instances");
	CHECK_STR(kjson_str(json_array_get(ev, 0), "result"), "Error");
	CHECK_STR(kjson_str(json_array_get(ev, 1), "result"), "Success");

	/* no host fits: ERROR with Nova's NoValidHost fault */
	add_instance("c-big", 100000, kutil_now_us());
	_cleanup_json_ json_t *cast2 = json_pack("{s:[s],s:i,s:[]}", "instance_ids", "c-big",
	                                         "attempt", 1, "ignore_hosts");
	CHECK_INT(kbus_cast(kumo_bus, "conductor", "build_instances", cast2), 0);
	_cleanup_free_ char *msg = wait_error("c-big");
	CHECK_STR(msg, "No valid host was found. There are not enough hosts available.");
	_cleanup_json_ json_t *big = instance_row("c-big");
	CHECK(json_object_get(big, "host") == NULL || json_is_null(json_object_get(big, "host")));

	/* the agent's retry beyond max_attempts (3) */
	add_instance("c-3", 512, kutil_now_us());
	_cleanup_json_ json_t *cast3 = json_pack("{s:[s],s:i,s:[s],s:s}", "instance_ids", "c-3",
	                                         "attempt", 4, "ignore_hosts", "a", "reason",
	                                         "boom");
	CHECK_INT(kbus_cast(kumo_bus, "conductor", "reschedule", cast3), 0);
	_cleanup_free_ char *msg3 = wait_error("c-3");
	CHECK_STR(msg3, "Exceeded maximum number of retries. Exceeded max scheduling attempts 3 "
	          "for instance c-3. Last exception: boom");
	pthread_mutex_lock(&got_mu);
	CHECK_INT(json_array_size(got), 2);
	pthread_mutex_unlock(&got_mu);
}

KTEST(teardown)
{
	cmp_conductor_stop();
	cmp_scheduler_stop();
	if (kumo_bus)
		kbus_close(kumo_bus);
	kumo_bus = NULL;
	json_decref(got);
	kdb_close(cmp_db);
	cmp_db = NULL;
	kconf_free(kumo_conf);
	kumo_conf = NULL;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

int main(void)
{
	return ktest_run();
}
