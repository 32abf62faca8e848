/*
 * test_compute_agent.c - the compute agent's manager (src/compute/agent/
 * manager.c) on a real SQLite compute database and the in-process bus, with
 * a test double for the virt driver (domains in a table; failures and a
 * slow spawn on demand).  Casts go through the bus exactly as the conductor
 * and the API send them; the tests wait for the rows to change.
 *
 * Instances here have no networks (requested_networks []), and the Network
 * and Image APIs point at a closed port, so vif.c's cleanup calls fail fast
 * and the snapshot upload fails (its error path is what is checked).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compute/agent/agent.h"
#include "compute/compute.h"
#include "core/bus.h"
#include "core/conf.h"
#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "ktest.h"

#define HOST "agent-test"

/* ---- the test double ---- */

static pthread_mutex_t td_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t td_cv = PTHREAD_COND_INITIALIZER;
static json_t *td_doms;              /* uuid -> power state */
static bool td_fail_spawn, td_hold_spawn, td_in_spawn;
static int td_last_vcpus;

static void td_set(const char *uuid, int state)
{
	pthread_mutex_lock(&td_mu);
	if (state < 0)
		json_object_del(td_doms, uuid);
	else
		json_object_set_new(td_doms, uuid, json_integer(state));
	pthread_mutex_unlock(&td_mu);
}

static int td_get(const char *uuid)
{
	pthread_mutex_lock(&td_mu);
	json_t *v = json_object_get(td_doms, uuid);
	int s = v ? (int)json_integer_value(v) : -1;
	pthread_mutex_unlock(&td_mu);
	return s;
}

/* Change an existing domain's state: 0, or -1 when absent. */
static int td_change(const char *uuid, int state)
{
	if (td_get(uuid) < 0)
		return -1;
	td_set(uuid, state);
	return 0;
}

static int td_init(void) { return 0; }
static void td_fini(void) {}

static json_t *td_host_info(void)
{
	return json_pack("{s:i,s:i,s:i,s:s,s:i,s:s,s:{}}", "vcpus", 8, "memory_mb", 16384,
	                 "local_gb", 100, "hypervisor_type", "QEMU", "hypervisor_version",
	                 8002000, "hypervisor_hostname", "agent-test.example", "cpu_info");
}

static json_t *td_list(void)
{
	pthread_mutex_lock(&td_mu);
	json_t *c = json_deep_copy(td_doms);
	pthread_mutex_unlock(&td_mu);
	return c;
}

static int td_spawn(const cmp_spawn *s, char *err, size_t errlen)
{
	const char *id = kjson_str(s->inst, "id");
	pthread_mutex_lock(&td_mu);
	td_in_spawn = true;
	pthread_cond_broadcast(&td_cv);
	while (td_hold_spawn)
		pthread_cond_wait(&td_cv, &td_mu);
	td_in_spawn = false;
	bool fail = td_fail_spawn;
	pthread_mutex_unlock(&td_mu);
	if (fail) {
		snprintf(err, errlen, "boom");
		return -1;
	}
	td_set(id, CMP_POWER_RUNNING);
	return 0;
}

static int td_destroy(const char *uuid, bool keep) { (void)keep; td_set(uuid, -1); return 0; }
static int td_power_off(const char *u, int t) { (void)t; return td_change(u, CMP_POWER_SHUTDOWN); }
static int td_power_on(const char *u) { return td_change(u, CMP_POWER_RUNNING); }
static int td_reboot(const char *u, bool hard) { (void)hard; return td_change(u, CMP_POWER_RUNNING); }
static int td_pause(const char *u) { return td_change(u, CMP_POWER_PAUSED); }
static int td_suspend(const char *u) { return td_change(u, CMP_POWER_SUSPENDED); }
static int td_power_state(const char *u) { return td_get(u); }
static char *td_console(const char *u, size_t max)
{
	(void)u;
	(void)max;
	return strdup("line1\nline2\n\xff\xfe bad\nline3\n");
}
static int td_snapshot(const char *u, const char *out, char *err, size_t errlen)
{
	(void)u;
	if (kutil_write_file(out, "QFI\xfb", 4, 0600) != 0) {
		snprintf(err, errlen, "cannot write");
		return -1;
	}
	return 0;
}
static int td_migrate(const cmp_spawn *s, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return td_change(kjson_str(s->inst, "id"), CMP_POWER_SHUTDOWN);
}
static int td_finish(const cmp_spawn *s, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	td_last_vcpus = (int)json_integer_value(json_object_get(s->inst, "vcpus"));
	return td_change(kjson_str(s->inst, "id"), CMP_POWER_RUNNING);
}
static int td_confirm(const char *u) { (void)u; return 0; }
static int td_vnc(const char *u, char *host, size_t len, int *port)
{
	if (td_get(u) < 0)
		return -1;
	snprintf(host, len, "127.0.0.1");
	*port = 5901;
	return 0;
}

static const cmp_virt_driver td_driver = {
	.name = "double", .init = td_init, .fini = td_fini, .host_info = td_host_info,
	.list_instances = td_list, .spawn = td_spawn, .destroy = td_destroy,
	.power_off = td_power_off, .power_on = td_power_on, .reboot = td_reboot,
	.pause = td_pause, .unpause = td_power_on, .suspend = td_suspend, .resume = td_power_on,
	.power_state = td_power_state, .console_log = td_console, .snapshot = td_snapshot,
	.migrate_disk_and_power_off = td_migrate, .finish_migration = td_finish,
	.confirm_migration = td_confirm, .finish_revert_migration = td_finish,
	.vnc_address = td_vnc,
};

/* ---- a conductor that only records what it gets ---- */

static pthread_mutex_t cond_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *cond_got;

static json_t *fake_conductor(void *ud, const char *method, json_t *args)
{
	(void)ud;
	pthread_mutex_lock(&cond_mu);
	json_t *m = json_deep_copy(args);
	json_object_set_new(m, "_method", json_string(method));
	json_array_append_new(cond_got, m);
	pthread_mutex_unlock(&cond_mu);
	return NULL;
}

/* ---- setup and helpers ---- */

static char dir[] = "/tmp/kumo-agent-XXXXXX";

static void setup(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	klog_init(NULL, KLOG_ERROR);
	CHECK(mkdtemp(dir) != NULL);
	char text[1024], err[256], url[300];
	snprintf(text, sizeof(text), "[DEFAULT]\nstate_dir = %s\nhost = " HOST "\n"
	         "[compute]\nreport_interval = 3600\nsync_power_state_interval = 0\n"
	         "heal_instance_info_cache_interval = 0\nmax_attempts = 1\n"
	         "cpu_allocation_ratio = 4.0\nreserved_host_memory_mb = 256\n"
	         "instances_path = %s/instances\n"
	         "[endpoints]\nnetwork = http://127.0.0.1:1\nimage = http://127.0.0.1:1\n",
	         dir, dir);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	CHECK(kumo_conf != NULL);
	snprintf(url, sizeof(url), "sqlite:///%s/compute.db", dir);
	cmp_db = kdb_open(url, err, sizeof(err));
	CHECK(cmp_db != NULL);
	CHECK_INT(cmp_db_sync(), 0);
	kumo_bus = kbus_open("local://", err, sizeof(err));
	CHECK(kumo_bus != NULL);
	td_doms = json_object();
	cond_got = json_array();
	CHECK_INT(kbus_serve(kumo_bus, "conductor", NULL, fake_conductor, NULL), 0);
	cmp_agent_driver_override = &td_driver;
	CHECK_INT(cmp_agent_start(), 0);
}

/* An instance row of this host plus its action (request id "req-<id>"). */
static void add_instance(char id[37], const char *vm, const char *task, const char *action)
{
	kutil_uuid(id);
	int64_t now = kutil_now_us();
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance (id, project_id, user_id, name, "
	                  "flavor_id, flavor, vcpus, memory_mb, root_gb, vm_state, task_state, "
	                  "power_state, host, node, requested_networks, security_group_ids, "
	                  "created_at, updated_at) VALUES (?, 'p1', 'u1', 'vm', '1', ?, 1, 512, 1, "
	                  "?, ?, 0, ?, ?, '[]', '[]', ?, ?)", "ssssssii", id,
	                  "{\"id\": \"1\", \"name\": \"m1.tiny\", \"vcpus\": 1, \"ram\": 512, "
	                  "\"disk\": 1, \"OS-FLV-EXT-DATA:ephemeral\": 0, \"swap\": \"\"}",
	                  vm, task, HOST, HOST, now, now), KDB_DONE);
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_allocation (instance_id, host, vcpus, "
	                  "memory_mb, disk_gb, created_at) VALUES (?, ?, 1, 512, 1, ?)", "ssi", id,
	                  HOST, now), KDB_DONE);
	char rid[64];
	snprintf(rid, sizeof(rid), "req-%s", id);
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance_action (instance_id, action, "
	                  "request_id, user_id, project_id, start_time, updated_at) VALUES "
	                  "(?, ?, ?, 'u1', 'p1', ?, ?)", "sssii", id, action, rid, now, now),
	          KDB_DONE);
}

/* A new action on the instance (as the API records it) with the task set. */
static char cur_rid[100];

static void begin(const char *id, const char *action, const char *task)
{
	static int n;
	char *rid = cur_rid;
	snprintf(cur_rid, sizeof(cur_rid), "req-%s-%d-%s", action, ++n, id);
	int64_t now = kutil_now_us();
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance_action (instance_id, action, "
	                  "request_id, user_id, project_id, start_time, updated_at) VALUES "
	                  "(?, ?, ?, 'u1', 'p1', ?, ?)", "sssii", id, action, rid, now, now),
	          KDB_DONE);
	CHECK_INT(kdb_run(cmp_db, NULL, "UPDATE cmp_instance SET task_state = ? WHERE id = ?", "ss",
	                  task, id), KDB_DONE);
}

static void cast(const char *method, const char *id, const char *action, json_t *extra)
{
	json_t *args = extra ? extra : json_object();
	char rid[100];
	if (action)
		snprintf(rid, sizeof(rid), "%s", cur_rid);
	else
		snprintf(rid, sizeof(rid), "req-%s", id);
	json_object_set_new(args, "instance_id", json_string(id));
	json_object_set_new(args, "request_id", json_string(rid));
	CHECK_INT(kbus_cast(kumo_bus, "compute." HOST, method, args), 0);
	json_decref(args);
}

static json_t *row(const char *id)
{
	return kdb_query_row(cmp_db, NULL, "SELECT vm_state, task_state, power_state, deleted, "
	                     "launched_at, host, vcpus, old_flavor FROM cmp_instance WHERE id = ?",
	                     "s", id);
}

/* Wait (5 s at most) until the instance has that vm_state and no task. */
static bool wait_vm(const char *id, const char *vm)
{
	for (int i = 0; i < 500; i++) {
		json_t *r = row(id);
		bool ok = r && !strcmp(kjson_str(r, "vm_state"), vm) && !kjson_str(r, "task_state");
		json_decref(r);
		if (ok && cmp_agent_pending() == 0)
			return true;
		usleep(10000);
	}
	return false;
}

static long power(const char *id)
{
	json_t *r = row(id);
	long p = r ? (long)json_integer_value(json_object_get(r, "power_state")) : -1;
	json_decref(r);
	return p;
}

static const char *event_result(const char *id, const char *event, char *buf, size_t len)
{
	json_t *r = kdb_query_row(cmp_db, NULL, "SELECT e.result FROM cmp_instance_action_event e "
	                          "JOIN cmp_instance_action a ON a.id = e.action_id WHERE "
	                          "a.instance_id = ? AND e.event = ? ORDER BY e.id DESC LIMIT 1",
	                          "ss", id, event);
	snprintf(buf, len, "%s", kjson_str(r, "result") ? kjson_str(r, "result") : "(none)");
	json_decref(r);
	return buf;
}

static char *fault_of(const char *id)
{
	json_t *r = kdb_query_row(cmp_db, NULL, "SELECT message FROM cmp_instance_fault WHERE "
	                          "instance_id = ? ORDER BY id DESC LIMIT 1", "s", id);
	char *m = kjson_str(r, "message") ? strdup(kjson_str(r, "message")) : NULL;
	json_decref(r);
	return m;
}

static char *build_active(char id[37])
{
	add_instance(id, "building", "scheduling", "create");
	cast("build_and_run_instance", id, NULL, json_pack("{s:i,s:[]}", "attempt", 1,
	                                                  "ignore_hosts"));
	CHECK(wait_vm(id, "active"));
	return id;
}

/* ---- tests ---- */

KTEST(start_records_node_and_service)
{
	setup();
	json_t *n = kdb_query_row(cmp_db, NULL, "SELECT * FROM cmp_compute_node WHERE host = ?",
	                          "s", HOST);
	CHECK(n != NULL);
	CHECK_INT(json_integer_value(json_object_get(n, "vcpus")), 8);
	CHECK_INT(json_integer_value(json_object_get(n, "memory_mb")), 16384);
	CHECK_STR(kjson_str(n, "hypervisor_hostname"), "agent-test.example");
	CHECK(json_real_value(json_object_get(n, "cpu_allocation_ratio")) == 4.0);
	CHECK_INT(json_integer_value(json_object_get(n, "reserved_host_memory_mb")), 256);
	CHECK_STR(kjson_str(n, "availability_zone"), "nova");
	json_decref(n);
	json_t *s = kdb_query_row(cmp_db, NULL, "SELECT * FROM cmp_service WHERE binary_name = "
	                          "'nova-compute' AND host = ?", "s", HOST);
	CHECK(s != NULL);
	CHECK_STR(kjson_str(s, "topic"), "compute");
	CHECK(kutil_is_uuid(kjson_str(s, "uuid")));
	int64_t count = json_integer_value(json_object_get(s, "report_count"));
	json_decref(s);
	cmp_agent_run_periodic();
	s = kdb_query_row(cmp_db, NULL, "SELECT report_count FROM cmp_service WHERE binary_name = "
	                  "'nova-compute' AND host = ?", "s", HOST);
	CHECK_INT(json_integer_value(json_object_get(s, "report_count")), count + 1);
	json_decref(s);
}

KTEST(build_goes_active)
{
	setup();
	char id[37], buf[32];
	build_active(id);
	CHECK_INT(power(id), CMP_POWER_RUNNING);
	CHECK_INT(td_get(id), CMP_POWER_RUNNING);
	json_t *r = row(id);
	CHECK(json_integer_value(json_object_get(r, "launched_at")) > 0);
	json_decref(r);
	CHECK_STR(event_result(id, "compute__do_build_and_run_instance", buf, sizeof(buf)),
	          "Success");
}

KTEST(build_failure_is_error_with_fault)
{
	setup();
	char id[37], buf[32];
	td_fail_spawn = true;
	add_instance(id, "building", "scheduling", "create");
	cast("build_and_run_instance", id, NULL, NULL);
	CHECK(wait_vm(id, "error"));
	td_fail_spawn = false;
	char *f = fault_of(id);
	char want[200];
	snprintf(want, sizeof(want), "Build of instance %s was re-scheduled: boom", id);
	CHECK_STR(f, want);
	free(f);
	CHECK_INT(td_get(id), -1);
	json_t *a = kdb_query_row(cmp_db, NULL, "SELECT instance_id FROM cmp_allocation WHERE "
	                          "instance_id = ?", "s", id);
	CHECK(a == NULL);
	CHECK_STR(event_result(id, "compute__do_build_and_run_instance", buf, sizeof(buf)),
	          "Error");
}

KTEST(build_failure_goes_back_to_the_conductor)
{
	setup();
	char id[37];
	kconf_set(kumo_conf, "compute", "max_attempts", "3");
	td_fail_spawn = true;
	add_instance(id, "building", "scheduling", "create");
	cast("build_and_run_instance", id, NULL, json_pack("{s:i,s:[s]}", "attempt", 1,
	                                                  "ignore_hosts", "other"));
	json_t *got = NULL;
	for (int i = 0; i < 500 && !got; i++) {
		pthread_mutex_lock(&cond_mu);
		if (json_array_size(cond_got) > 0)
			got = json_incref(json_array_get(cond_got, 0));
		pthread_mutex_unlock(&cond_mu);
		usleep(10000);
	}
	td_fail_spawn = false;
	kconf_set(kumo_conf, "compute", "max_attempts", "1");
	CHECK(got != NULL);
	CHECK_STR(kjson_str(got, "_method"), "build_instances");
	CHECK_INT(json_integer_value(json_object_get(got, "attempt")), 2);
	CHECK_STR(json_string_value(json_array_get(json_object_get(got, "instance_ids"), 0)), id);
	json_t *ign = json_object_get(got, "ignore_hosts");
	CHECK_INT(json_array_size(ign), 2);
	CHECK_STR(json_string_value(json_array_get(ign, 1)), HOST);
	CHECK_STR(kjson_str(got, "reason"), "boom");
	json_decref(got);
	json_t *r = row(id);
	CHECK_STR(kjson_str(r, "vm_state"), "building");
	CHECK_STR(kjson_str(r, "task_state"), "scheduling");
	CHECK(kjson_str(r, "host") == NULL);
	json_decref(r);
}

KTEST(power_actions)
{
	setup();
	char id[37], buf[32];
	build_active(id);
	begin(id, "stop", "powering-off");
	cast("stop_instance", id, "stop", NULL);
	CHECK(wait_vm(id, "stopped"));
	CHECK_INT(power(id), CMP_POWER_SHUTDOWN);
	CHECK_STR(event_result(id, "compute_stop_instance", buf, sizeof(buf)), "Success");
	begin(id, "start", "powering-on");
	cast("start_instance", id, "start", NULL);
	CHECK(wait_vm(id, "active"));
	CHECK_INT(power(id), CMP_POWER_RUNNING);
	begin(id, "pause", "pausing");
	cast("pause_instance", id, "pause", NULL);
	CHECK(wait_vm(id, "paused"));
	CHECK_INT(power(id), CMP_POWER_PAUSED);
	begin(id, "unpause", "unpausing");
	cast("unpause_instance", id, "unpause", NULL);
	CHECK(wait_vm(id, "active"));
	begin(id, "suspend", "suspending");
	cast("suspend_instance", id, "suspend", NULL);
	CHECK(wait_vm(id, "suspended"));
	CHECK_INT(power(id), CMP_POWER_SUSPENDED);
	begin(id, "resume", "resuming");
	cast("resume_instance", id, "resume", NULL);
	CHECK(wait_vm(id, "active"));
	begin(id, "reboot", "rebooting_hard");
	cast("reboot_instance", id, "reboot", json_pack("{s:s}", "reboot_type", "HARD"));
	CHECK(wait_vm(id, "active"));
	CHECK_STR(event_result(id, "compute_reboot_instance", buf, sizeof(buf)), "Success");
	/* a failing start: the domain is gone; stays stopped, with a fault */
	begin(id, "stop", "powering-off");
	cast("stop_instance", id, "stop", NULL);
	CHECK(wait_vm(id, "stopped"));
	td_set(id, -1);
	begin(id, "start", "powering-on");
	cast("start_instance", id, "start", NULL);
	CHECK(wait_vm(id, "stopped"));
	char *f = fault_of(id);
	CHECK(f != NULL);
	free(f);
	CHECK_STR(event_result(id, "compute_start_instance", buf, sizeof(buf)), "Error");
}

KTEST(power_state_sync)
{
	setup();
	char a[37], b[37], c[37];
	build_active(a);
	build_active(b);
	build_active(c);
	td_set(a, CMP_POWER_SHUTDOWN);       /* virsh destroy */
	td_set(b, -1);                       /* virsh undefine */
	td_set(c, CMP_POWER_PAUSED);         /* virsh suspend */
	cmp_agent_run_periodic();
	CHECK(wait_vm(a, "stopped"));
	CHECK_INT(power(a), CMP_POWER_SHUTDOWN);
	CHECK(wait_vm(b, "stopped"));
	CHECK_INT(power(b), CMP_POWER_SHUTDOWN);
	CHECK(wait_vm(c, "paused"));
	CHECK_INT(power(c), CMP_POWER_PAUSED);
	/* stopped but running behind our back: powered off again */
	td_set(a, CMP_POWER_RUNNING);
	cmp_agent_run_periodic();
	CHECK_INT(td_get(a), CMP_POWER_SHUTDOWN);
	CHECK(wait_vm(a, "stopped"));
	/* an instance with a task is left alone */
	begin(c, "unpause", "unpausing");
	td_set(c, -1);
	cmp_agent_run_periodic();
	json_t *r = row(c);
	CHECK_STR(kjson_str(r, "vm_state"), "paused");
	json_decref(r);
}

KTEST(terminate_deletes)
{
	setup();
	char id[37], buf[32];
	build_active(id);
	begin(id, "delete", "deleting");
	cast("terminate_instance", id, "delete", NULL);
	for (int i = 0; i < 500; i++) {
		json_t *r = row(id);
		bool gone = json_integer_value(json_object_get(r, "deleted")) == 1;
		json_decref(r);
		if (gone)
			break;
		usleep(10000);
	}
	json_t *r = row(id);
	CHECK_INT(json_integer_value(json_object_get(r, "deleted")), 1);
	CHECK_STR(kjson_str(r, "vm_state"), "deleted");
	json_decref(r);
	CHECK_INT(td_get(id), -1);
	CHECK_STR(event_result(id, "compute_terminate_instance", buf, sizeof(buf)), "Success");
}

KTEST(delete_during_build_wins)
{
	setup();
	char id[37];
	add_instance(id, "building", "scheduling", "create");
	pthread_mutex_lock(&td_mu);
	td_hold_spawn = true;
	pthread_mutex_unlock(&td_mu);
	cast("build_and_run_instance", id, NULL, NULL);
	pthread_mutex_lock(&td_mu);
	for (int i = 0; i < 500 && !td_in_spawn; i++) {
		pthread_mutex_unlock(&td_mu);
		usleep(10000);
		pthread_mutex_lock(&td_mu);
	}
	CHECK(td_in_spawn);
	pthread_mutex_unlock(&td_mu);
	/* the API: task deleting, then the cast; the terminate waits for the build */
	begin(id, "delete", "deleting");
	cast("terminate_instance", id, "delete", NULL);
	usleep(100000);
	json_t *r = row(id);
	CHECK_INT(json_integer_value(json_object_get(r, "deleted")), 0);
	json_decref(r);
	pthread_mutex_lock(&td_mu);
	td_hold_spawn = false;
	pthread_cond_broadcast(&td_cv);
	pthread_mutex_unlock(&td_mu);
	bool gone = false;
	for (int i = 0; i < 500 && !gone; i++) {
		r = row(id);
		gone = json_integer_value(json_object_get(r, "deleted")) == 1;
		json_decref(r);
		usleep(10000);
	}
	CHECK(gone);
	CHECK_INT(td_get(id), -1);
	r = row(id);
	CHECK_STR(kjson_str(r, "vm_state"), "deleted");
	json_decref(r);
}

KTEST(resize_confirm_and_revert)
{
	setup();
	char id[37], buf[32];
	build_active(id);
	json_t *big = json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:s}", "id", "2", "name", "m1.small",
	                        "vcpus", 2, "ram", 2048, "disk", 20,
	                        "OS-FLV-EXT-DATA:ephemeral", 0, "swap", "");
	begin(id, "resize", "resize_prep");
	cast("resize_instance", id, "resize", json_pack("{s:O}", "flavor", big));
	CHECK(wait_vm(id, "resized"));
	CHECK_INT(td_last_vcpus, 2);
	json_t *r = row(id);
	CHECK_INT(json_integer_value(json_object_get(r, "vcpus")), 2);
	CHECK(kjson_str(r, "old_flavor") != NULL);
	json_decref(r);
	CHECK_STR(event_result(id, "compute_finish_resize", buf, sizeof(buf)), "Success");
	begin(id, "revertResize", "resize_reverting");
	cast("revert_resize", id, "revertResize", NULL);
	CHECK(wait_vm(id, "active"));
	CHECK_INT(td_last_vcpus, 1);
	r = row(id);
	CHECK_INT(json_integer_value(json_object_get(r, "vcpus")), 1);
	CHECK(kjson_str(r, "old_flavor") == NULL);
	json_decref(r);
	/* again, and confirm: the claim takes the new size */
	begin(id, "resize", "resize_prep");
	cast("resize_instance", id, "resize", json_pack("{s:O}", "flavor", big));
	CHECK(wait_vm(id, "resized"));
	begin(id, "confirmResize", "resize_confirming");
	cast("confirm_resize", id, "confirmResize", NULL);
	CHECK(wait_vm(id, "active"));
	json_t *a = kdb_query_row(cmp_db, NULL, "SELECT vcpus, memory_mb, disk_gb FROM "
	                          "cmp_allocation WHERE instance_id = ?", "s", id);
	CHECK_INT(json_integer_value(json_object_get(a, "memory_mb")), 2048);
	CHECK_INT(json_integer_value(json_object_get(a, "disk_gb")), 20);
	json_decref(a);
	CHECK_STR(event_result(id, "compute_confirm_resize", buf, sizeof(buf)), "Success");
	json_decref(big);
}

KTEST(snapshot_upload_failure_clears_task)
{
	setup();
	char id[37], img[37], buf[32];
	build_active(id);
	kutil_uuid(img);
	begin(id, "createImage", "image_snapshot");
	cast("snapshot_instance", id, "createImage", json_pack("{s:s}", "image_id", img));
	CHECK(wait_vm(id, "active"));
	char *f = fault_of(id);
	CHECK(f && strstr(f, "upload"));
	free(f);
	CHECK_STR(event_result(id, "compute_snapshot_instance", buf, sizeof(buf)), "Error");
	char path[400];
	snprintf(path, sizeof(path), "%s/instances/snapshots/%s.qcow2", dir, img);
	CHECK(access(path, F_OK) != 0);
}

KTEST(console_and_vnc_calls)
{
	setup();
	char id[37];
	build_active(id);
	json_t *args = json_pack("{s:s,s:i}", "instance_id", id, "length", 2), *reply = NULL;
	CHECK_INT(kbus_call(kumo_bus, "compute." HOST, "get_console_output", args, &reply, 5000),
	          0);
	CHECK_STR(kjson_str(reply, "output"), "?? bad\nline3\n");
	json_decref(reply);
	json_object_del(args, "length");
	CHECK_INT(kbus_call(kumo_bus, "compute." HOST, "get_console_output", args, &reply, 5000),
	          0);
	CHECK_STR(kjson_str(reply, "output"), "line1\nline2\n?? bad\nline3\n");
	json_decref(reply);
	CHECK_INT(kbus_call(kumo_bus, "compute." HOST, "get_vnc_console", args, &reply, 5000), 0);
	CHECK_STR(kjson_str(reply, "host"), "127.0.0.1");
	CHECK_INT(json_integer_value(json_object_get(reply, "port")), 5901);
	json_decref(reply);
	json_decref(args);
}

KTEST(adoption_at_start)
{
	setup();
	cmp_agent_stop();
	char booted[37], halfway[37], deleting[37], rebooting[37], orphan[37];
	/* kumo was killed: one build had started its domain, one had not */
	add_instance(booted, "building", "spawning", "create");
	td_set(booted, CMP_POWER_RUNNING);
	add_instance(halfway, "building", "networking", "create");
	add_instance(deleting, "active", "deleting", "create");
	td_set(deleting, CMP_POWER_RUNNING);
	add_instance(rebooting, "active", "rebooting", "create");
	td_set(rebooting, CMP_POWER_SHUTDOWN);
	kutil_uuid(orphan);
	td_set(orphan, CMP_POWER_RUNNING);
	CHECK_INT(cmp_agent_start(), 0);
	CHECK(wait_vm(booted, "active"));
	CHECK_INT(power(booted), CMP_POWER_RUNNING);
	CHECK(wait_vm(halfway, "active"));
	CHECK_INT(td_get(halfway), CMP_POWER_RUNNING);
	CHECK(wait_vm(rebooting, "stopped"));
	CHECK_INT(td_get(orphan), -1);
	CHECK_INT(td_get(deleting), -1);
	json_t *r = row(deleting);
	CHECK_INT(json_integer_value(json_object_get(r, "deleted")), 1);
	json_decref(r);
}

KTEST(zz_stop)
{
	setup();
	cmp_agent_stop();
	CHECK_INT(cmp_agent_pending(), 0);
	/* the domains keep running */
	CHECK(json_object_size(td_doms) > 0);
	kbus_close(kumo_bus);
	kumo_bus = NULL;
	kdb_close(cmp_db);
	cmp_db = NULL;
	json_decref(td_doms);
	json_decref(cond_got);
	kconf_free(kumo_conf);
	kumo_conf = NULL;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
}

int main(void)
{
	return ktest_run();
}
