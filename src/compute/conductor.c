/*
 * conductor.c - the seed's nova-conductor: build orchestration and retries
 * (topic "conductor").
 *
 * The bus handler only queues: "build_instances" and "reschedule" (same
 * arguments: {"instance_ids": [...], "attempt": n, "ignore_hosts": [...],
 * optional "request_id" (else the "create" action's), "admin_pass" (passed
 * on to the agent, never logged), "reason": the last attempt's error}) go
 * onto a work queue of two
 * threads, so a bus worker is never held while the scheduler runs.  A job
 * takes each instance that is still building (not deleted, not being
 * deleted) through:
 *
 *   attempt > [compute] max_attempts   -> ERROR, fault "Exceeded maximum
 *                                         number of retries. ..." (Nova's
 *                                         MaxRetriesExceeded)
 *   scheduler select_destinations      -> {"error"}: ERROR with the
 *                                         NoValidHost fault
 *   set host/node (and an empty availability_zone to the node's) while the
 *   task is still "scheduling", then cast "compute.<host>"
 *   build_and_run_instance; when nobody listens on that host the claim is
 *   dropped and the next attempt runs at once with the host ignored.
 *
 * Each attempt is recorded as the event "conductor_schedule_and_build_instances"
 * of the instance's "create" action (Success or Error).  At start, instances
 * left building without a host by a previous process (kumo was killed while
 * they were queued here) are sent through a build again; those with a host
 * are their agent's business.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/bus.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "core/workq.h"
#include "compute.h"

#define LOG "conductor"
#define EVENT "conductor_schedule_and_build_instances"
#define SCHEDULER_TIMEOUT_MS 30000

static pthread_mutex_t cond_mu = PTHREAD_MUTEX_INITIALIZER;   /* guards cond_q */
static kworkq *cond_q;
static bool cond_served;

static const char *const expect_scheduling[] = { "scheduling", NULL };

/* The request id of the instance's "create" action ("" when none). */
static void create_request_id(const char *id, char *out, size_t outlen)
{
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT request_id FROM "
	                                           "cmp_instance_action WHERE instance_id = ? AND "
	                                           "action = 'create' ORDER BY id DESC LIMIT 1",
	                                           "s", id);
	const char *r = kjson_str(row, "request_id");
	snprintf(out, outlen, "%s", r ? r : "");
}

static bool still_building(const char *id)
{
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT vm_state, task_state "
	                                           "FROM cmp_instance WHERE id = ? AND "
	                                           "deleted = 0", "s", id);
	const char *vm = kjson_str(row, "vm_state"), *task = kjson_str(row, "task_state");
	return vm && strcmp(vm, CMP_VM_BUILDING) == 0 &&
	       !(task && (strcmp(task, "deleting") == 0));
}

static void fail_build(const char *id, const char *request_id, const char *message,
                       const char *details)
{
	klog_warn(LOG, "instance %s: %s", id, message);
	cmp_allocation_release(id);
	if (!still_building(id))
		return;             /* deleted meanwhile: nothing to report */
	_cleanup_json_ json_t *extra = json_pack("{s:n,s:n}", "host", "node");
	cmp_instance_update(id, NULL, NULL, -1, NULL, extra);
	cmp_instance_set_error(id, 500, message, details);
	if (*request_id)
		cmp_event_finish(id, request_id, EVENT, false, details ? details : message);
}

/* The scheduler's answer: 0 and host/node, or -1 and the error text. */
static int select_destination(const char *id, json_t *ignore, char *host, char *node,
                              size_t len, char *err, size_t errlen)
{
	_cleanup_json_ json_t *args = json_pack("{s:s,s:O}", "instance_id", id, "ignore_hosts",
	                                        ignore);
	json_t *reply = NULL;
	int rc = kumo_bus ? kbus_call(kumo_bus, "scheduler", "select_destinations", args, &reply,
	                              SCHEDULER_TIMEOUT_MS) : -1;
	if (rc == -1 && !reply) {
		/* nobody serves "scheduler" (tools, tests): schedule here */
		json_decref(reply);
		_cleanup_json_ json_t *inst = cmp_instance_load(id, false);
		if (!inst) {
			snprintf(err, errlen, "No valid host was found. Instance %s could not be "
			         "found.", id);
			return -1;
		}
		if (cmp_schedule(inst, ignore, host, len) != 0) {
			snprintf(err, errlen, "%s", host);
			return -1;
		}
		_cleanup_json_ json_t *n = kdb_query_row(cmp_db, NULL,
			"SELECT hypervisor_hostname FROM cmp_compute_node WHERE host = ?", "s",
			host);
		const char *nn = kjson_str(n, "hypervisor_hostname");
		snprintf(node, len, "%s", nn && *nn ? nn : host);
		return 0;
	}
	_cleanup_json_ json_t *r = reply;
	if (rc != 0) {
		snprintf(err, errlen, "No valid host was found. The scheduler did not answer.");
		return -1;
	}
	const char *e = kjson_str(r, "error"), *h = kjson_str(r, "host");
	if (e || !h) {
		snprintf(err, errlen, "%s", e ? e : "No valid host was found. ");
		return -1;
	}
	const char *n = kjson_str(r, "node");
	snprintf(host, len, "%s", h);
	snprintf(node, len, "%s", n && *n ? n : h);
	return 0;
}

/* One instance, attempts attempt.. max_attempts. */
static void build_one(const char *id, long attempt, const json_t *job, bool reschedule)
{
	const json_t *ignore_in = json_object_get(job, "ignore_hosts");
	const char *last_reason = kjson_str(job, "reason");
	if (!last_reason)
		last_reason = kjson_str(job, "error");
	const char *admin_pass = kjson_str(job, "admin_pass");
	if (!still_building(id)) {
		klog_info(LOG, "instance %s is no longer building: not scheduled", id);
		return;
	}
	long max_attempts = cmp_conf_int("max_attempts", 3);
	if (max_attempts < 1)
		max_attempts = 1;
	char request_id[128];
	const char *rid = kjson_str(job, "request_id");
	if (rid && *rid)
		snprintf(request_id, sizeof(request_id), "%s", rid);
	else
		create_request_id(id, request_id, sizeof(request_id));
	_cleanup_json_ json_t *ignore = json_is_array(ignore_in) ? json_deep_copy(ignore_in)
	                                                          : json_array();
	char last[512];
	snprintf(last, sizeof(last), "%s", last_reason && *last_reason ? last_reason
	         : "the build failed on the compute host");
	if (reschedule) {
		/* the agent gave the instance back: scheduling again, no host */
		static const char *const from[] = { "scheduling", "networking",
			"block_device_mapping", "spawning", CMP_TASK_NONE, NULL };
		cmp_allocation_release(id);
		_cleanup_json_ json_t *extra = json_pack("{s:n,s:n}", "host", "node");
		if (cmp_instance_update(id, NULL, "scheduling", -1, from, extra) != 1) {
			klog_info(LOG, "instance %s changed meanwhile: not rescheduled", id);
			return;
		}
	}
	for (;; attempt++) {
		if (attempt > max_attempts) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "Exceeded maximum number of retries. Exceeded "
			         "max scheduling attempts %ld for instance %s. Last exception: %s",
			         max_attempts, id, last);
			if (*request_id)
				cmp_event_start(id, request_id, EVENT);
			fail_build(id, request_id, msg, msg);
			return;
		}
		if (*request_id)
			cmp_event_start(id, request_id, EVENT);
		char host[256], node[256], err[512];
		if (select_destination(id, ignore, host, node, sizeof(host), err,
		                       sizeof(err)) != 0) {
			fail_build(id, request_id, err, err);
			return;
		}
		_cleanup_json_ json_t *extra = json_pack("{s:s,s:s}", "host", host, "node", node);
		_cleanup_json_ json_t *inst = cmp_instance_load(id, false);
		const char *az = kjson_str(inst, "availability_zone");
		if (!az || !*az) {
			_cleanup_json_ json_t *n = kdb_query_row(cmp_db, NULL, "SELECT "
			                                         "availability_zone FROM "
			                                         "cmp_compute_node WHERE host = ?",
			                                         "s", host);
			const char *naz = kjson_str(n, "availability_zone");
			if (naz && *naz)
				json_object_set_new(extra, "availability_zone", json_string(naz));
		}
		if (cmp_instance_update(id, NULL, NULL, -1, expect_scheduling, extra) != 1) {
			klog_info(LOG, "instance %s is no longer scheduling (deleted?): claim "
			          "dropped", id);
			cmp_allocation_release(id);
			if (*request_id)
				cmp_event_finish(id, request_id, EVENT, false,
				                 "the instance changed");
			return;
		}
		_cleanup_json_ json_t *args = json_pack("{s:s,s:s,s:I,s:O}", "instance_id", id,
		                                        "request_id", request_id, "attempt",
		                                        (json_int_t)attempt, "ignore_hosts",
		                                        ignore);
		if (admin_pass)
			json_object_set_new(args, "admin_pass", json_string(admin_pass));
		char target[300];
		snprintf(target, sizeof(target), "compute.%s", host);
		if (kumo_bus && kbus_cast(kumo_bus, target, "build_and_run_instance", args) == 0) {
			klog_info(LOG, "instance %s: attempt %ld on host %s", id, attempt, host);
			if (*request_id)
				cmp_event_finish(id, request_id, EVENT, true, NULL);
			return;
		}
		/* no agent on that host: the attempt failed, try another */
		snprintf(last, sizeof(last), "No compute agent is listening on host %s", host);
		klog_warn(LOG, "instance %s: %s", id, last);
		if (*request_id)
			cmp_event_finish(id, request_id, EVENT, false, last);
		cmp_allocation_release(id);
		_cleanup_json_ json_t *clear = json_pack("{s:n,s:n}", "host", "node");
		if (json_object_get(extra, "availability_zone"))
			json_object_set_new(clear, "availability_zone",
			                    az ? json_string(az) : json_null());
		cmp_instance_update(id, NULL, NULL, -1, expect_scheduling, clear);
		json_array_append_new(ignore, json_string(host));
	}
}

static void build_job(void *ud, json_t *arg)
{
	(void)ud;
	const char *method = kjson_str(arg, "_method");
	bool reschedule = method && strcmp(method, "reschedule") == 0;
	int64_t attempt = 1;
	if (kjson_get_int(arg, "attempt", &attempt) != KJ_OK || attempt < 1)
		attempt = 1;
	/* the agent's retry comes as build_instances with attempt > 1 */
	if (attempt > 1)
		reschedule = true;
	json_t *ids = json_object_get(arg, "instance_ids");
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
		if (json_is_string(v))
			build_one(json_string_value(v), (long)attempt, arg, reschedule);
	const char *one = kjson_str(arg, "instance_id");
	if (one)
		build_one(one, (long)attempt, arg, reschedule);
}

static json_t *on_conductor(void *ud, const char *method, json_t *args)
{
	(void)ud;
	if (strcmp(method, "build_instances") != 0 && strcmp(method, "reschedule") != 0) {
		klog_warn(LOG, "unknown method %s", method);
		return NULL;
	}
	json_t *job = json_is_object(args) ? json_deep_copy(args) : json_object();
	json_object_set_new(job, "_method", json_string(method));
	pthread_mutex_lock(&cond_mu);
	int rc = cond_q ? kworkq_push(cond_q, build_job, NULL, job) : (json_decref(job), -1);
	pthread_mutex_unlock(&cond_mu);
	if (rc != 0)
		klog_warn(LOG, "stopping: %s dropped", method);
	return NULL;
}

/* Instances a killed process left building without a host: build them again. */
static void recover(int64_t started)
{
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT id FROM cmp_instance WHERE "
	                                             "deleted = 0 AND vm_state = 'building' AND "
	                                             "(host IS NULL OR host = '') AND "
	                                             "updated_at < ?", "i", started);
	if (!rows || !json_array_size(rows))
		return;
	json_t *ids = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		const char *id = kjson_str(row, "id");
		klog_info(LOG, "instance %s was left scheduling: building it again", id);
		/* task_state back to scheduling (it may have been NULL) */
		static const char *const any[] = { CMP_TASK_ANY, NULL };
		cmp_instance_update(id, NULL, "scheduling", -1, any, NULL);
		json_array_append_new(ids, json_string(id));
	}
	json_t *job = json_pack("{s:o,s:i,s:[]}", "instance_ids", ids, "attempt", 1,
	                        "ignore_hosts");
	pthread_mutex_lock(&cond_mu);
	if (cond_q)
		kworkq_push(cond_q, build_job, NULL, job);    /* steals job */
	else
		json_decref(job);
	pthread_mutex_unlock(&cond_mu);
}

int cmp_conductor_start(void)
{
	int64_t started = kutil_now_us();
	if (cmp_service_beat_start("nova-conductor", "conductor") != 0)
		klog_warn(LOG, "no nova-conductor service row");
	pthread_mutex_lock(&cond_mu);
	if (!cond_q)
		cond_q = kworkq_new("conductor", 2);
	bool ok = cond_q != NULL;
	pthread_mutex_unlock(&cond_mu);
	if (!ok)
		return -1;
	if (!kumo_bus) {
		klog_warn(LOG, "no message bus: build_instances is not served");
		return 0;
	}
	if (!cond_served) {
		if (kbus_serve(kumo_bus, "conductor", NULL, on_conductor, NULL) != 0) {
			klog_error(LOG, "cannot listen on the bus topic \"conductor\"");
			return -1;
		}
		cond_served = true;
	}
	recover(started);
	return 0;
}

void cmp_conductor_stop(void)
{
	pthread_mutex_lock(&cond_mu);
	kworkq *q = TAKE_PTR(cond_q);
	pthread_mutex_unlock(&cond_mu);
	if (q)
		kworkq_free(q);    /* lets the queued builds finish */
	cmp_service_beat_stop("nova-conductor");
}
