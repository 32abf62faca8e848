/*
 * manager.c - the compute agent of this host (nova-compute's manager, as a
 * component of the kumo process).
 *
 * Start: pick the virt driver ([compute] virt_driver), write this host's
 * cmp_compute_node and cmp_service rows, adopt what exists (below), then
 * listen on "compute.<host>".  Bus handlers return at once: calls that only
 * read (console output, VNC address) are answered on the bus thread, casts
 * become jobs on a kworkq ([compute] build_workers threads).  One periodic
 * thread sends the heartbeat and resource report ([compute]
 * report_interval), syncs power states ([compute] sync_power_state_interval)
 * and refreshes the network info cache ([compute]
 * heal_instance_info_cache_interval, 60 s).  Stop: refuse new casts, drain
 * the queue, join the thread, fini the driver.  Domains keep running: the
 * next start adopts them.
 *
 * One job at a time per instance: a job holds its instance in a busy set
 * for its whole run, so a delete cast during a build waits for the build.
 * The build in turn moves the task state with compare-and-set at each step
 * (scheduling -> networking -> block_device_mapping -> spawning -> NULL);
 * the API's delete sets task "deleting", the next step's update fails and
 * the build gives up at once, leaving the cleanup to the terminate job that
 * follows.  Every action remembers the task state the API set and only
 * moves on from that one, for the same reason.
 *
 * Failures: a build that fails after its ports exist destroys what it made,
 * drops the claim and goes back to the conductor with this host in
 * ignore_hosts while attempts remain ([compute] max_attempts), else ERROR
 * with a fault (Nova's messages).  A failed port allocation is not retried
 * elsewhere (Nova: "Failed to allocate the network(s), not rescheduling.").
 * A failed action leaves the vm_state as it was, clears the task and
 * records an instance fault; a failed delete, rebuild or resize that cannot
 * be rolled back ends in ERROR.
 *
 * Adoption at start (kumo may have been killed at any point): an instance
 * caught building becomes ACTIVE when its domain runs, else is cleaned up
 * and built again here once (then ERROR); "deleting" is finished; any other
 * task settles on what the domain really is.  Domains of this cloud that no
 * live instance of this host names are destroyed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/client.h"
#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"
#include "core/workq.h"
#include "agent.h"

#define LOGC "compute-agent"
#define CONSOLE_MAX_BYTES (100 * 1024)

const cmp_virt_driver *cmp_agent_driver_override;

static struct {
	const cmp_virt_driver *drv;
	kworkq *wq;
	char (*hosts)[64];           /* hosts served: this one, or the fake driver's */
	size_t nhosts;
	pthread_mutex_t mu;          /* guards wq pushes, stopping */
	pthread_cond_t cv;
	bool stopping;
	bool running;
	bool heal_soon;              /* a floating IP or port changed: refresh the caches */
	pthread_t thread;
	bool have_thread;
} ag = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* ---- one job per instance at a time ---- */

static pthread_mutex_t busy_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t busy_cv = PTHREAD_COND_INITIALIZER;
static json_t *busy;             /* instance id -> true */

static const char *inst_lock(const char *id)
{
	pthread_mutex_lock(&busy_mu);
	if (!busy)
		busy = json_object();
	while (json_object_get(busy, id))
		pthread_cond_wait(&busy_cv, &busy_mu);
	json_object_set_new(busy, id, json_true());
	pthread_mutex_unlock(&busy_mu);
	return id;
}

static const char *inst_trylock(const char *id)
{
	pthread_mutex_lock(&busy_mu);
	if (!busy)
		busy = json_object();
	bool taken = json_object_get(busy, id) != NULL;
	if (!taken)
		json_object_set_new(busy, id, json_true());
	pthread_mutex_unlock(&busy_mu);
	return taken ? NULL : id;
}

static void inst_unlock(const char *id)
{
	pthread_mutex_lock(&busy_mu);
	json_object_del(busy, id);
	pthread_cond_broadcast(&busy_cv);
	pthread_mutex_unlock(&busy_mu);
}

static void inst_unlockp(const char **id)
{
	if (*id)
		inst_unlock(*id);
}
#define _cleanup_inst_ _cleanup_(inst_unlockp)

/* ---- small helpers ---- */

static double conf_double(const char *key, double def)
{
	const char *v = cmp_conf_str(key, NULL);
	if (!v || !*v)
		return def;
	char *end;
	double d = strtod(v, &end);
	return (*end || d < 0) ? def : d;
}

static bool streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* An instance fault without changing the vm_state (a failed action). */
static void add_fault(const char *id, int code, const char *message, const char *details)
{
	kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance_fault (instance_id, code, message, details, "
	        "host, created_at) VALUES (?, ?, ?, ?, ?, ?)", "sisssi", id, (int64_t)code,
	        message, details, cmp_host(), kutil_now_us());
}

/* Set a JSON column (or NULL) straight in the row: image, flavor, old_flavor,
 * new_flavor.  The column name comes from our own constants, never input. */
static int set_json_column(const char *id, const char *col, const json_t *v)
{
	_cleanup_free_ char *sql = NULL;
	_cleanup_free_ char *text = v && !json_is_null(v) ? kjson_dump(v) : NULL;
	if (asprintf(&sql, "UPDATE cmp_instance SET %s = ?, updated_at = ? WHERE id = ?", col) < 0)
		return -1;
	return kdb_run(cmp_db, NULL, sql, "sis", text, kutil_now_us(), id) == KDB_DONE ? 0 : -1;
}

static json_int_t jint(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);   /* swap "" -> 0 */
	return 0;
}

/* The sizes of a flavor (cmp_flavor_view form) into an instance copy. */
static void apply_flavor(json_t *inst, const json_t *flavor)
{
	json_object_set(inst, "flavor", (json_t *)flavor);
	if (kjson_str(flavor, "id"))
		json_object_set_new(inst, "flavor_id", json_string(kjson_str(flavor, "id")));
	json_object_set_new(inst, "vcpus", json_integer(jint(flavor, "vcpus")));
	json_object_set_new(inst, "memory_mb", json_integer(jint(flavor, "ram")));
	json_object_set_new(inst, "root_gb", json_integer(jint(flavor, "disk")));
	json_object_set_new(inst, "ephemeral_gb",
	                    json_integer(jint(flavor, "OS-FLV-EXT-DATA:ephemeral")));
	json_object_set_new(inst, "swap", json_integer(jint(flavor, "swap")));
}

/* Write the flavor columns of the row from a flavor view. */
static int store_flavor(const char *id, const json_t *flavor)
{
	if (set_json_column(id, "flavor", flavor) != 0)
		return -1;
	return kdb_run(cmp_db, NULL, "UPDATE cmp_instance SET flavor_id = ?, vcpus = ?, "
	               "memory_mb = ?, root_gb = ?, ephemeral_gb = ?, swap = ? WHERE id = ?",
	               "siiiiis", kjson_str(flavor, "id") ?: "", (int64_t)jint(flavor, "vcpus"),
	               (int64_t)jint(flavor, "ram"), (int64_t)jint(flavor, "disk"),
	               (int64_t)jint(flavor, "OS-FLV-EXT-DATA:ephemeral"),
	               (int64_t)jint(flavor, "swap"), id) == KDB_DONE ? 0 : -1;
}

/* The scheduler's claim sized to a flavor (resize). */
static void size_allocation(const char *id, const json_t *flavor)
{
	int64_t swap_gb = (jint(flavor, "swap") + 1023) / 1024;
	kdb_run(cmp_db, NULL, "UPDATE cmp_allocation SET vcpus = ?, memory_mb = ?, disk_gb = ? "
	        "WHERE instance_id = ?", "iiis", (int64_t)jint(flavor, "vcpus"),
	        (int64_t)jint(flavor, "ram"),
	        (int64_t)(jint(flavor, "disk") + jint(flavor, "OS-FLV-EXT-DATA:ephemeral")) + swap_gb,
	        id);
	cmp_scheduler_invalidate();     /* its cached usage is stale now */
}

/* The request id of the instance's latest action of that kind (adoption
 * has no cast to take it from). */
static char *last_request_id(const char *id, const char *action)
{
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, NULL, "SELECT request_id FROM "
	                                           "cmp_instance_action WHERE instance_id = ? AND "
	                                           "action = ? ORDER BY id DESC LIMIT 1", "ss", id,
	                                           action);
	const char *rid = kjson_str(row, "request_id");
	return strdup(rid ? rid : "");
}

static const char *request_id(json_t *args, const char *id, const char *action)
{
	const char *rid = kjson_str(args, "request_id");
	if (rid)
		return rid;
	_cleanup_free_ char *found = last_request_id(id, action);
	json_object_set_new(args, "request_id", json_string(found));
	return kjson_str(args, "request_id");
}

/* Drop bytes that are not valid UTF-8 (and NULs) from console text. */
static void utf8_clean(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = r;
	while (*r) {
		int n = *r < 0x80 ? 1 : (*r & 0xe0) == 0xc0 ? 2 : (*r & 0xf0) == 0xe0 ? 3
		        : (*r & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0 && !(n == 2 && *r < 0xc2) && !(n == 4 && *r > 0xf4);
		for (int k = 1; ok && k < n; k++)
			ok = (r[k] & 0xc0) == 0x80;
		if (!ok) {
			*w++ = '?';
			r++;
			continue;
		}
		for (int k = 0; k < n; k++)
			*w++ = *r++;
	}
	*w = '\0';
}

/* ---- resource report and heartbeat ---- */

static void report_host(const char *host, const json_t *info)
{
	int64_t now = kutil_now_us();
	const char *hh = kjson_str(info, "hypervisor_hostname");
	if (ag.nhosts > 1 || !hh)
		hh = host;
	json_t *cpu = json_object_get(info, "cpu_info");
	_cleanup_free_ char *cpu_text = json_is_string(cpu) ? strdup(json_string_value(cpu))
	                                : cpu ? kjson_dump(cpu) : strdup("{}");
	const char *ip = kconf_get(kumo_conf, "DEFAULT", "my_ip", NULL);
	if (!ip || !*ip)
		ip = "127.0.0.1";
	const char *type = kjson_str(info, "hypervisor_type") ?: "QEMU";
	const char *az = cmp_conf_str("default_availability_zone", "nova");
	int64_t ver = jint(info, "hypervisor_version"), vcpus = jint(info, "vcpus"),
	        mem = jint(info, "memory_mb"), disk = jint(info, "local_gb");
	double cr = conf_double("cpu_allocation_ratio", 16.0),
	       rr = conf_double("ram_allocation_ratio", 1.5),
	       dr = conf_double("disk_allocation_ratio", 1.0);
	int64_t rmem = cmp_conf_int("reserved_host_memory_mb", 512),
	        rdisk = cmp_conf_int("reserved_host_disk_mb", 0);
	int64_t changes = 0;
	kdb_run(cmp_db, &changes, "UPDATE cmp_compute_node SET hypervisor_hostname = ?, "
	        "hypervisor_type = ?, hypervisor_version = ?, vcpus = ?, memory_mb = ?, "
	        "local_gb = ?, cpu_info = ?, host_ip = ?, cpu_allocation_ratio = ?, "
	        "ram_allocation_ratio = ?, disk_allocation_ratio = ?, reserved_host_memory_mb = ?, "
	        "reserved_host_disk_mb = ?, availability_zone = ?, updated_at = ? WHERE host = ?",
	        "ssiiiissdddiisis", hh, type, ver, vcpus, mem, disk, cpu_text, ip, cr, rr, dr, rmem,
	        rdisk, az, now, host);
	if (changes == 0)
		kdb_run(cmp_db, NULL, "INSERT INTO cmp_compute_node (host, hypervisor_hostname, "
		        "hypervisor_type, hypervisor_version, vcpus, memory_mb, local_gb, cpu_info, "
		        "host_ip, cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio, "
		        "reserved_host_memory_mb, reserved_host_disk_mb, availability_zone, "
		        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
		        "?, ?)", "sssiiiissdddiisii", host, hh, type, ver, vcpus, mem, disk, cpu_text,
		        ip, cr, rr, dr, rmem, rdisk, az, now, now);
	changes = 0;
	kdb_run(cmp_db, &changes, "UPDATE cmp_service SET report_count = report_count + 1, "
	        "last_seen_at = ?, updated_at = ?, topic = ? WHERE binary_name = ? AND host = ?",
	        "iisss", now, now, "compute", "nova-compute", host);
	if (changes == 0) {
		char uuid[37];
		kutil_uuid(uuid);
		int rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_service (binary_name, host, topic, "
		                 "disabled, forced_down, report_count, last_seen_at, created_at, "
		                 "updated_at, uuid) VALUES (?, ?, ?, 0, 0, 1, ?, ?, ?, ?)", "sssiiis",
		                 "nova-compute", host, "compute", now, now, now, uuid);
		if (rc != KDB_DONE && rc != KDB_CONSTRAINT)
			klog_warn(LOGC, "cannot record the nova-compute service of %s", host);
	}
}

static void report_all(void)
{
	_cleanup_json_ json_t *info = ag.drv->host_info ? ag.drv->host_info() : NULL;
	if (!info)
		info = json_object();
	for (size_t i = 0; i < ag.nhosts; i++)
		report_host(ag.hosts[i], info);
}

/* ---- power-state sync (Nova's _sync_instance_power_state) ---- */

static void sync_one(const json_t *row)
{
	const char *id = kjson_str(row, "id");
	_cleanup_inst_ const char *held = inst_trylock(id);
	if (!held)
		return;                 /* a job has it */
	int ps = ag.drv->power_state ? ag.drv->power_state(id) : -1;
	int db_ps = (int)jint(row, "power_state");
	const char *vm = kjson_str(row, "vm_state");
	int now_ps = ps < 0 ? CMP_POWER_NOSTATE : ps;
	const char *new_vm = NULL;
	if (streq(vm, CMP_VM_ACTIVE)) {
		if (ps < 0 || ps == CMP_POWER_SHUTDOWN || ps == CMP_POWER_CRASHED ||
		    ps == CMP_POWER_NOSTATE) {
			klog_warn(LOGC, "instance %s shut down by itself (%s): now stopped", id,
			          ps < 0 ? "no domain" : "domain shut off");
			new_vm = CMP_VM_STOPPED;
			now_ps = CMP_POWER_SHUTDOWN;
		} else if (ps == CMP_POWER_PAUSED) {
			klog_warn(LOGC, "instance %s was paused behind our back: now paused", id);
			new_vm = CMP_VM_PAUSED;
		} else if (ps == CMP_POWER_SUSPENDED) {
			new_vm = CMP_VM_SUSPENDED;
		}
	} else if (streq(vm, CMP_VM_STOPPED)) {
		if (ps == CMP_POWER_RUNNING || ps == CMP_POWER_PAUSED) {
			/* Nova calls the stop API: a stopped instance stays stopped */
			klog_warn(LOGC, "instance %s is running but stopped: powering it off", id);
			if (ag.drv->power_off &&
			    ag.drv->power_off(id, (int)cmp_conf_int("shutdown_timeout", 60)) == 0)
				now_ps = ag.drv->power_state(id) < 0 ? CMP_POWER_SHUTDOWN
				                                    : ag.drv->power_state(id);
		} else if (ps < 0) {
			now_ps = CMP_POWER_SHUTDOWN;
		}
	} else if (streq(vm, CMP_VM_PAUSED)) {
		if (ps < 0 || ps == CMP_POWER_SHUTDOWN || ps == CMP_POWER_CRASHED) {
			new_vm = CMP_VM_STOPPED;
			now_ps = CMP_POWER_SHUTDOWN;
		}
	} else if (!streq(vm, CMP_VM_SUSPENDED) && !streq(vm, CMP_VM_RESIZED) &&
	           !streq(vm, CMP_VM_ERROR)) {
		return;                 /* building, deleted: not ours to touch here */
	}
	if (!new_vm && now_ps == db_ps)
		return;
	static const char *const idle[] = { CMP_TASK_NONE, NULL };
	cmp_instance_update(id, new_vm, NULL, now_ps, idle, NULL);
}

static void sync_power_states(void)
{
	/* a hypervisor that does not answer says nothing about the domains:
	 * don't take "no domain" for "shut off" */
	if (ag.drv->list_instances) {
		_cleanup_json_ json_t *probe = ag.drv->list_instances();
		if (!probe) {
			klog_warn(LOGC, "power sync skipped: the hypervisor does not answer");
			return;
		}
	}
	for (size_t i = 0; i < ag.nhosts; i++) {
		_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT id, vm_state, "
		                                             "power_state FROM cmp_instance WHERE "
		                                             "host = ? AND deleted = 0 AND "
		                                             "task_state IS NULL", "s", ag.hosts[i]);
		size_t j;
		json_t *row;
		json_array_foreach(rows, j, row)
			sync_one(row);
	}
}

static void heal_info_caches(void)
{
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT DISTINCT p.instance_id AS id "
	                                             "FROM cmp_instance_port p JOIN cmp_instance i "
	                                             "ON i.id = p.instance_id WHERE i.host = ? AND "
	                                             "i.deleted = 0", "s", cmp_host());
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		if (cmp_vif_refresh(kjson_str(row, "id")) != 0)
			break;          /* the Network API is away: next time */
}

void cmp_agent_run_periodic(void)
{
	if (!ag.drv)
		return;
	report_all();
	sync_power_states();
	heal_info_caches();
}

static void *periodic_main(void *arg)
{
	(void)arg;
	long report = cmp_conf_int("report_interval", 10);
	long sync = cmp_conf_int("sync_power_state_interval", 10);
	long heal = cmp_conf_int("heal_instance_info_cache_interval", 60);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	time_t next_report = now.tv_sec + (report > 0 ? report : 10);
	time_t next_sync = now.tv_sec + (sync > 0 ? sync : 10);
	time_t next_heal = now.tv_sec + (heal > 0 ? heal : 60);
	pthread_mutex_lock(&ag.mu);
	while (!ag.stopping) {
		struct timespec until = { .tv_sec = next_report, .tv_nsec = 0 };
		if (sync > 0 && next_sync < until.tv_sec)
			until.tv_sec = next_sync;
		if (heal > 0 && next_heal < until.tv_sec)
			until.tv_sec = next_heal;
		int rc = pthread_cond_timedwait(&ag.cv, &ag.mu, &until);
		if (ag.stopping)
			break;
		bool heal_now = ag.heal_soon;
		ag.heal_soon = false;
		if (rc != ETIMEDOUT && !heal_now)
			continue;
		pthread_mutex_unlock(&ag.mu);
		if (heal_now && heal > 0) {
			/* let a burst of changes settle, then one refresh for all */
			struct timespec ts = { 0, 300 * 1000000L };
			nanosleep(&ts, NULL);
			pthread_mutex_lock(&ag.mu);
			ag.heal_soon = false;
			pthread_mutex_unlock(&ag.mu);
			heal_info_caches();
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec >= next_report) {
			report_all();
			next_report = now.tv_sec + (report > 0 ? report : 10);
		}
		if (sync > 0 && now.tv_sec >= next_sync) {
			sync_power_states();
			next_sync = now.tv_sec + sync;
		}
		if (heal > 0 && now.tv_sec >= next_heal) {
			heal_info_caches();
			next_heal = now.tv_sec + heal;
		}
		pthread_mutex_lock(&ag.mu);
	}
	pthread_mutex_unlock(&ag.mu);
	return NULL;
}

/* ---- build ---- */

enum { BUILD_OK, BUILD_GONE, BUILD_FAILED };

/* The config drive of an instance: built (ISO 9660 "config-2", the same
 * tree as the metadata API) into <instances_path>/<uuid>/disk.config when the
 * instance asked for one or [compute] force_config_drive is set, or reused
 * as it is when `build` is false (resize, revert).  path gets "" when there
 * is none.  0, or -1 with err set. */
static int config_drive(const json_t *inst, bool build, char *path, size_t n, char *err,
                        size_t errlen)
{
	const char *id = kjson_str(inst, "id");
	const char *cd = kjson_str(inst, "config_drive");
	bool forced = kconf_get_bool(kumo_conf, "compute", "force_config_drive", false);
	path[0] = '\0';
	const char *ip = cmp_conf_str("instances_path", "");
	char p[PATH_MAX];
	if (ip && *ip)
		snprintf(p, sizeof(p), "%s/%s/disk.config", ip, id);
	else
		snprintf(p, sizeof(p), "%s/instances/%s/disk.config", kumo_state_dir(), id);
	if (!build) {
		if (access(p, F_OK) == 0)
			snprintf(path, n, "%s", p);
		return 0;
	}
	if (!(cd && !strcasecmp(cd, "True")) && !forced)
		return 0;
	if (forced && !(cd && !strcasecmp(cd, "True")))
		kdb_run(cmp_db, NULL, "UPDATE cmp_instance SET config_drive = 'True' WHERE id = ?",
		        "s", id);
	if (cmp_configdrive_build(inst, p, err, errlen) != 0)
		return -1;
	snprintf(path, n, "%s", p);
	return 0;
}

static int build_steps(json_t *inst, json_t *args, char *err, size_t errlen, bool *reschedule)
{
	const char *id = kjson_str(inst, "id");
	static const char *const from_sched[] = { "scheduling", CMP_TASK_NONE, NULL };
	static const char *const from_net[] = { "networking", NULL };
	static const char *const from_bdm[] = { "block_device_mapping", NULL };
	static const char *const from_spawn[] = { "spawning", NULL };
	if (cmp_instance_update(id, NULL, "networking", -1, from_sched, NULL) != 1)
		return BUILD_GONE;
	*reschedule = false;
	_cleanup_json_ json_t *vifs = cmp_vif_allocate(inst, err, errlen);
	if (!vifs)
		return BUILD_FAILED;
	*reschedule = true;
	if (cmp_instance_update(id, NULL, "block_device_mapping", -1, from_net, NULL) != 1)
		return BUILD_GONE;
	/* block devices: none to prepare yet (no volumes) */
	if (cmp_instance_update(id, NULL, "spawning", -1, from_bdm, NULL) != 1)
		return BUILD_GONE;
	_cleanup_json_ json_t *fresh = cmp_instance_load(id, false);
	if (!fresh)
		return BUILD_GONE;
	/* the bridges once more, right before the domain needs them */
	json_decref(vifs);
	vifs = cmp_vif_list(id, err, errlen);
	if (!vifs)
		return BUILD_FAILED;
	if (!ag.drv->spawn) {
		snprintf(err, errlen, "the %s driver cannot spawn", ag.drv->name);
		return BUILD_FAILED;
	}
	char cd[PATH_MAX];
	if (config_drive(fresh, true, cd, sizeof(cd), err, errlen) != 0)
		return BUILD_FAILED;
	cmp_spawn s = { .inst = fresh, .vifs = vifs, .admin_pass = kjson_str(args, "admin_pass"),
	                .config_drive_path = *cd ? cd : NULL };
	if (ag.drv->spawn(&s, err, errlen) != 0) {
		if (!*err)
			snprintf(err, errlen, "the domain could not be started");
		return BUILD_FAILED;
	}
	if (json_array_size(vifs) > 0)
		cmp_vif_plugged();
	_cleanup_json_ json_t *extra = json_pack("{s:I}", "launched_at",
	                                         (json_int_t)kutil_now_us());
	if (cmp_instance_update(id, CMP_VM_ACTIVE, CMP_TASK_NONE, CMP_POWER_RUNNING, from_spawn,
	                        extra) != 1)
		return BUILD_GONE;
	return BUILD_OK;
}

/* Undo a build on this host: the domain, the ports, the claim. */
static void build_cleanup(const json_t *inst, bool release)
{
	const char *id = kjson_str(inst, "id");
	if (ag.drv->destroy && ag.drv->destroy(id, false) != 0)
		klog_warn(LOGC, "instance %s: cannot destroy the domain of a failed build", id);
	cmp_vif_deallocate(inst);
	if (release)
		cmp_allocation_release(id);
}

static void job_build(const char *host, json_t *inst, json_t *args)
{
	const char *id = kjson_str(inst, "id");
	const char *vm = kjson_str(inst, "vm_state");
	const char *task = kjson_str(inst, "task_state");
	if (!streq(vm, CMP_VM_BUILDING) || streq(task, "deleting")) {
		klog_info(LOGC, "instance %s is %s/%s: not building it", id, vm, task ? task : "-");
		return;
	}
	const char *rid = request_id(args, id, "create");
	json_int_t attempt = jint(args, "attempt");
	if (attempt < 1)
		attempt = 1;
	cmp_event_start(id, rid, "compute__do_build_and_run_instance");
	char err[1024] = "";
	bool reschedule = true;
	int rc = build_steps(inst, args, err, sizeof(err), &reschedule);
	if (rc == BUILD_OK) {
		klog_info(LOGC, "instance %s: ACTIVE on %s", id, host);
		cmp_event_finish(id, rid, "compute__do_build_and_run_instance", true, NULL);
		cmp_vif_refresh(id);
		return;
	}
	if (rc == BUILD_GONE) {
		/* deleted while we built: "deleting" means a terminate job follows;
		 * a row already gone (or no longer ours) we clean up ourselves */
		klog_info(LOGC, "instance %s was deleted during its build", id);
		_cleanup_json_ json_t *now = cmp_instance_load(id, false);
		if (!now || !streq(kjson_str(now, "host"), host))
			build_cleanup(inst, true);
		cmp_event_finish(id, rid, "compute__do_build_and_run_instance", false,
		                 "Instance was deleted during the build.");
		return;
	}
	klog_warn(LOGC, "instance %s: build failed on %s (attempt %lld): %s", id, host,
	          (long long)attempt, err);
	build_cleanup(inst, true);
	cmp_event_finish(id, rid, "compute__do_build_and_run_instance", false, err);
	long max = cmp_conf_int("max_attempts", 3);
	if (reschedule && attempt < max && kumo_bus) {
		static const char *const building[] = { "networking", "block_device_mapping",
		                                        "spawning", NULL };
		_cleanup_json_ json_t *extra = json_pack("{s:n,s:n}", "host", "node");
		if (cmp_instance_update(id, CMP_VM_BUILDING, "scheduling", CMP_POWER_NOSTATE, building,
		                        extra) != 1)
			return;         /* deleting meanwhile */
		json_t *ignore = json_is_array(json_object_get(args, "ignore_hosts"))
		                 ? json_deep_copy(json_object_get(args, "ignore_hosts")) : json_array();
		json_array_append_new(ignore, json_string(host));
		_cleanup_json_ json_t *cast = json_pack("{s:[s],s:I,s:o,s:s,s:s}", "instance_ids", id,
		                                        "attempt", attempt + 1, "ignore_hosts", ignore,
		                                        "request_id", rid, "reason", err);
		if (kbus_cast(kumo_bus, "conductor", "build_instances", cast) == 0) {
			klog_info(LOGC, "instance %s: rescheduled (attempt %lld)", id,
			          (long long)attempt + 1);
			return;
		}
		snprintf(err + strlen(err), sizeof(err) - strlen(err), " (no conductor)");
	}
	char msg[1400];
	if (!reschedule)
		snprintf(msg, sizeof(msg), "Build of instance %s aborted: Failed to allocate the "
		         "network(s), not rescheduling.", id);
	else if (max > 1)
		snprintf(msg, sizeof(msg), "Exceeded maximum number of retries. Exceeded max "
		         "scheduling attempts %ld for instance %s. Last exception: %s", max, id, err);
	else
		snprintf(msg, sizeof(msg), "Build of instance %s was re-scheduled: %s", id, err);
	cmp_instance_set_error(id, 500, msg, err);
}

/* ---- terminate ---- */

static void job_terminate(const char *host, json_t *inst, json_t *args)
{
	(void)host;
	const char *id = kjson_str(inst, "id");
	const char *rid = request_id(args, id, "delete");
	cmp_event_start(id, rid, "compute_terminate_instance");
	if (ag.drv->destroy && ag.drv->destroy(id, false) != 0) {
		cmp_event_finish(id, rid, "compute_terminate_instance", false,
		                 "the domain could not be destroyed");
		cmp_instance_set_error(id, 500, "Failed to terminate the instance: its domain "
		                       "could not be destroyed.", NULL);
		return;
	}
	cmp_vif_deallocate(inst);
	cmp_allocation_release(id);
	cmp_event_finish(id, rid, "compute_terminate_instance", true, NULL);
	if (cmp_instance_mark_deleted(id) != 0)
		klog_warn(LOGC, "instance %s: cannot mark it deleted", id);
	else
		klog_info(LOGC, "instance %s deleted", id);
}

/* ---- simple power actions ---- */

static int op_stop(const char *id)
{
	if (!ag.drv->power_off)
		return -1;
	int rc = ag.drv->power_off(id, (int)cmp_conf_int("shutdown_timeout", 60));
	int ps = ag.drv->power_state ? ag.drv->power_state(id) : -1;
	/* already off (or no domain at all) is what we wanted */
	return rc == 0 || ps < 0 || ps == CMP_POWER_SHUTDOWN || ps == CMP_POWER_CRASHED ? 0 : -1;
}
static int op_start(const char *id) { return ag.drv->power_on ? ag.drv->power_on(id) : -1; }
static int op_pause(const char *id) { return ag.drv->pause ? ag.drv->pause(id) : -1; }
static int op_unpause(const char *id) { return ag.drv->unpause ? ag.drv->unpause(id) : -1; }
static int op_suspend(const char *id) { return ag.drv->suspend ? ag.drv->suspend(id) : -1; }
static int op_resume(const char *id) { return ag.drv->resume ? ag.drv->resume(id) : -1; }

/* The task the API set, as a one-entry expect list. */
struct expect {
	const char *list[2];
};

static struct expect expect_from(const json_t *inst)
{
	const char *t = kjson_str(inst, "task_state");
	return (struct expect){ { t ? t : CMP_TASK_NONE, NULL } };
}

/* A failed action: the vm_state stays, the task goes, a fault stays. */
static void action_failed(const json_t *inst, const struct expect *ex, const char *rid,
                          const char *event, const char *message)
{
	const char *id = kjson_str(inst, "id");
	klog_warn(LOGC, "instance %s: %s failed: %s", id, event, message);
	int ps = ag.drv->power_state ? ag.drv->power_state(id) : -1;
	cmp_instance_update(id, NULL, CMP_TASK_NONE, ps < 0 ? CMP_POWER_NOSTATE : ps, ex->list,
	                    NULL);
	add_fault(id, 500, message, NULL);
	cmp_event_finish(id, rid, event, false, message);
}

struct power_action {
	const char *method, *action, *event;
	int (*op)(const char *id);
	const char *vm;            /* vm_state after */
	int power;                 /* power_state after */
	bool needs_vifs;           /* bridges first (a host reboot loses them) */
};

static const struct power_action power_actions[] = {
	{ "stop_instance", "stop", "compute_stop_instance", op_stop, CMP_VM_STOPPED,
	  CMP_POWER_SHUTDOWN, false },
	{ "start_instance", "start", "compute_start_instance", op_start, CMP_VM_ACTIVE,
	  CMP_POWER_RUNNING, true },
	{ "pause_instance", "pause", "compute_pause_instance", op_pause, CMP_VM_PAUSED,
	  CMP_POWER_PAUSED, false },
	{ "unpause_instance", "unpause", "compute_unpause_instance", op_unpause, CMP_VM_ACTIVE,
	  CMP_POWER_RUNNING, false },
	{ "suspend_instance", "suspend", "compute_suspend_instance", op_suspend, CMP_VM_SUSPENDED,
	  CMP_POWER_SUSPENDED, false },
	{ "resume_instance", "resume", "compute_resume_instance", op_resume, CMP_VM_ACTIVE,
	  CMP_POWER_RUNNING, true },
};

static void run_power_action(const struct power_action *pa, json_t *inst, json_t *args)
{
	const char *id = kjson_str(inst, "id");
	const char *rid = request_id(args, id, pa->action);
	struct expect ex = expect_from(inst);
	cmp_event_start(id, rid, pa->event);
	char err[512] = "";
	if (pa->needs_vifs) {
		_cleanup_json_ json_t *vifs = cmp_vif_list(id, err, sizeof(err));
		if (!vifs) {
			action_failed(inst, &ex, rid, pa->event, err);
			return;
		}
	}
	if (pa->op(id) != 0) {
		snprintf(err, sizeof(err), "The %s driver could not %s the instance.", ag.drv->name,
		         pa->action);
		action_failed(inst, &ex, rid, pa->event, err);
		return;
	}
	if (pa->needs_vifs)
		cmp_vif_plugged();
	if (cmp_instance_update(id, pa->vm, CMP_TASK_NONE, pa->power, ex.list, NULL) != 1)
		klog_info(LOGC, "instance %s changed during %s", id, pa->action);
	cmp_event_finish(id, rid, pa->event, true, NULL);
}

static void job_reboot(const char *host, json_t *inst, json_t *args)
{
	(void)host;
	const char *id = kjson_str(inst, "id");
	const char *rid = request_id(args, id, "reboot");
	const char *type = kjson_str(args, "reboot_type");
	bool hard = type ? strcasecmp(type, "HARD") == 0
	                 : streq(kjson_str(inst, "task_state"), "rebooting_hard");
	struct expect ex = expect_from(inst);
	cmp_event_start(id, rid, "compute_reboot_instance");
	char err[512] = "";
	_cleanup_json_ json_t *vifs = cmp_vif_list(id, err, sizeof(err));
	int rc = vifs && ag.drv->reboot ? ag.drv->reboot(id, hard) : -1;
	if (rc == 0) {
		cmp_vif_plugged();
		if (cmp_instance_update(id, CMP_VM_ACTIVE, CMP_TASK_NONE, CMP_POWER_RUNNING, ex.list,
		                        NULL) != 1)
			klog_info(LOGC, "instance %s changed during reboot", id);
		cmp_event_finish(id, rid, "compute_reboot_instance", true, NULL);
		return;
	}
	if (!*err)
		snprintf(err, sizeof(err), "The %s driver could not reboot the instance.",
		         ag.drv->name);
	/* Nova: a failed reboot of a domain still running is not an error */
	int ps = ag.drv->power_state ? ag.drv->power_state(id) : -1;
	if (ps == CMP_POWER_RUNNING) {
		action_failed(inst, &ex, rid, "compute_reboot_instance", err);
		return;
	}
	cmp_event_finish(id, rid, "compute_reboot_instance", false, err);
	cmp_instance_set_error(id, 500, err, NULL);
}

/* ---- rebuild ---- */

static void job_rebuild(const char *host, json_t *inst, json_t *args)
{
	(void)host;
	const char *id = kjson_str(inst, "id");
	const char *rid = request_id(args, id, "rebuild");
	struct expect ex = expect_from(inst);
	static const char *const from_spawn[] = { "rebuild_spawning", NULL };
	cmp_event_start(id, rid, "compute_rebuild_instance");
	const char *image_ref = kjson_str(args, "image_ref");
	json_t *image = json_object_get(args, "image");
	if (image_ref)
		kdb_run(cmp_db, NULL, "UPDATE cmp_instance SET image_ref = ? WHERE id = ?", "ss",
		        image_ref, id);
	if (json_is_object(image))
		set_json_column(id, "image", image);
	char err[1024] = "";
	if (ag.drv->destroy && ag.drv->destroy(id, false) != 0) {
		snprintf(err, sizeof(err), "the old domain could not be destroyed");
		action_failed(inst, &ex, rid, "compute_rebuild_instance", err);
		return;
	}
	if (cmp_instance_update(id, NULL, "rebuild_spawning", CMP_POWER_NOSTATE, ex.list, NULL) != 1) {
		cmp_event_finish(id, rid, "compute_rebuild_instance", false, "instance changed");
		return;
	}
	_cleanup_json_ json_t *fresh = cmp_instance_load(id, false);
	_cleanup_json_ json_t *vifs = fresh ? cmp_vif_list(id, err, sizeof(err)) : NULL;
	char cd[PATH_MAX] = "";
	if (fresh && vifs && ag.drv->spawn &&
	    config_drive(fresh, true, cd, sizeof(cd), err, sizeof(err)) == 0) {
		cmp_spawn s = { .inst = fresh, .vifs = vifs,
		                .admin_pass = kjson_str(args, "admin_pass"),
		                .config_drive_path = *cd ? cd : NULL };
		if (ag.drv->spawn(&s, err, sizeof(err)) == 0) {
			cmp_vif_plugged();
			_cleanup_json_ json_t *extra = json_pack("{s:I}", "launched_at",
			                                         (json_int_t)kutil_now_us());
			cmp_instance_update(id, CMP_VM_ACTIVE, CMP_TASK_NONE, CMP_POWER_RUNNING,
			                    from_spawn, extra);
			cmp_event_finish(id, rid, "compute_rebuild_instance", true, NULL);
			return;
		}
	}
	if (!*err)
		snprintf(err, sizeof(err), "the instance could not be spawned again");
	cmp_event_finish(id, rid, "compute_rebuild_instance", false, err);
	char msg[1200];
	snprintf(msg, sizeof(msg), "Rebuild of instance %s failed: %s", id, err);
	cmp_instance_set_error(id, 500, msg, err);
}

/* ---- resize, confirm, revert ---- */

/* Back to the old flavor after a failed resize; false when that failed too. */
static bool resize_rollback(const char *id, const json_t *inst, const json_t *old_flavor)
{
	if (old_flavor)
		store_flavor(id, old_flavor);
	set_json_column(id, "old_flavor", NULL);
	set_json_column(id, "new_flavor", NULL);
	_cleanup_json_ json_t *copy = json_deep_copy(inst);
	if (old_flavor)
		apply_flavor(copy, old_flavor);
	char err[512] = "";
	_cleanup_json_ json_t *vifs = cmp_vif_list(id, err, sizeof(err));
	char cd[PATH_MAX];
	config_drive(copy, false, cd, sizeof(cd), err, sizeof(err));
	cmp_spawn s = { .inst = copy, .vifs = vifs ? vifs : json_array(),
	                .config_drive_path = *cd ? cd : NULL };
	bool ok = ag.drv->finish_revert_migration &&
	          ag.drv->finish_revert_migration(&s, err, sizeof(err)) == 0;
	if (!vifs)
		json_decref((json_t *)s.vifs);
	return ok;
}

static void job_resize(const char *host, json_t *inst, json_t *args)
{
	(void)host;
	const char *id = kjson_str(inst, "id");
	const char *rid = request_id(args, id, "resize");
	struct expect ex = expect_from(inst);
	static const char *const migrating[] = { "resize_migrating", NULL };
	static const char *const migrated[] = { "resize_migrated", NULL };
	static const char *const finishing[] = { "resize_finish", NULL };
	cmp_event_start(id, rid, "compute_resize_instance");
	json_t *flavor = json_object_get(args, "flavor");
	if (!json_is_object(flavor))
		flavor = json_object_get(inst, "new_flavor");
	json_t *old = json_object_get(inst, "flavor");
	char err[1024] = "";
	if (!json_is_object(flavor)) {
		action_failed(inst, &ex, rid, "compute_resize_instance", "no flavor to resize to");
		return;
	}
	set_json_column(id, "old_flavor", old);
	set_json_column(id, "new_flavor", flavor);
	if (cmp_instance_update(id, NULL, "resize_migrating", -1, ex.list, NULL) != 1) {
		cmp_event_finish(id, rid, "compute_resize_instance", false, "instance changed");
		return;
	}
	_cleanup_json_ json_t *target = json_deep_copy(inst);
	apply_flavor(target, flavor);
	_cleanup_json_ json_t *vifs = cmp_vif_list(id, err, sizeof(err));
	char cd[PATH_MAX];
	config_drive(target, false, cd, sizeof(cd), err, sizeof(err));
	cmp_spawn s = { .inst = target, .vifs = vifs, .config_drive_path = *cd ? cd : NULL };
	bool ok = vifs && ag.drv->migrate_disk_and_power_off &&
	          ag.drv->migrate_disk_and_power_off(&s, err, sizeof(err)) == 0;
	if (ok) {
		cmp_instance_update(id, NULL, "resize_migrated", -1, migrating, NULL);
		cmp_event_finish(id, rid, "compute_resize_instance", true, NULL);
		cmp_event_start(id, rid, "compute_finish_resize");
		store_flavor(id, flavor);
		ok = cmp_instance_update(id, NULL, "resize_finish", -1, migrated, NULL) == 1 &&
		     ag.drv->finish_migration && ag.drv->finish_migration(&s, err, sizeof(err)) == 0;
		if (ok) {
			cmp_vif_plugged();
			/* hold the larger of both flavors until confirm or revert */
			_cleanup_json_ json_t *both = json_deep_copy(flavor);
			const char *keys[] = { "vcpus", "ram", "disk", "OS-FLV-EXT-DATA:ephemeral",
			                       "swap" };
			for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
				if (jint(old, keys[k]) > jint(flavor, keys[k]))
					json_object_set_new(both, keys[k],
					                    json_integer(jint(old, keys[k])));
			size_allocation(id, both);
			cmp_instance_update(id, CMP_VM_RESIZED, CMP_TASK_NONE, CMP_POWER_RUNNING,
			                    finishing, NULL);
			cmp_event_finish(id, rid, "compute_finish_resize", true, NULL);
			return;
		}
	}
	if (!*err)
		snprintf(err, sizeof(err), "the %s driver could not resize the instance",
		         ag.drv->name);
	if (resize_rollback(id, inst, old)) {
		struct expect back = { { CMP_TASK_ANY, NULL } };
		action_failed(inst, &back, rid, "compute_resize_instance", err);
		return;
	}
	cmp_event_finish(id, rid, "compute_resize_instance", false, err);
	char msg[1200];
	snprintf(msg, sizeof(msg), "Resize of instance %s failed: %s", id, err);
	cmp_instance_set_error(id, 500, msg, err);
}

static void job_confirm(const char *host, json_t *inst, json_t *args)
{
	(void)host;
	const char *id = kjson_str(inst, "id");
	const char *rid = request_id(args, id, "confirmResize");
	struct expect ex = expect_from(inst);
	cmp_event_start(id, rid, "compute_confirm_resize");
	if (!streq(kjson_str(inst, "vm_state"), CMP_VM_RESIZED)) {
		cmp_event_finish(id, rid, "compute_confirm_resize", false, "instance not resized");
		return;
	}
	if (ag.drv->confirm_migration && ag.drv->confirm_migration(id) != 0)
		klog_warn(LOGC, "instance %s: the driver could not drop the resize backup", id);
	json_t *flavor = json_object_get(inst, "flavor");
	if (json_is_object(flavor))
		size_allocation(id, flavor);
	set_json_column(id, "old_flavor", NULL);
	set_json_column(id, "new_flavor", NULL);
	cmp_instance_update(id, CMP_VM_ACTIVE, CMP_TASK_NONE, -1, ex.list, NULL);
	cmp_event_finish(id, rid, "compute_confirm_resize", true, NULL);
}

static void job_revert(const char *host, json_t *inst, json_t *args)
{
	(void)host;
	const char *id = kjson_str(inst, "id");
	const char *rid = request_id(args, id, "revertResize");
	struct expect ex = expect_from(inst);
	cmp_event_start(id, rid, "compute_revert_resize");
	json_t *old = json_object_get(inst, "old_flavor");
	if (!json_is_object(old)) {
		action_failed(inst, &ex, rid, "compute_revert_resize", "no flavor to revert to");
		return;
	}
	cmp_event_finish(id, rid, "compute_revert_resize", true, NULL);
	cmp_event_start(id, rid, "compute_finish_revert_resize");
	if (!resize_rollback(id, inst, old)) {
		cmp_event_finish(id, rid, "compute_finish_revert_resize", false,
		                 "the old domain could not be restored");
		cmp_instance_set_error(id, 500, "Revert of the resize failed: the old domain "
		                       "could not be restored.", NULL);
		return;
	}
	size_allocation(id, old);
	cmp_vif_plugged();
	cmp_instance_update(id, CMP_VM_ACTIVE, CMP_TASK_NONE, CMP_POWER_RUNNING, ex.list, NULL);
	cmp_event_finish(id, rid, "compute_finish_revert_resize", true, NULL);
}

/* ---- snapshot ---- */

static void unlinkp(char **p)
{
	if (*p) {
		unlink(*p);
		free(*p);
	}
}

static int upload_snapshot(const char *path, const char *image_id, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, errlen, "cannot read the snapshot: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	_cleanup_free_ char *path_up = NULL;
	long code = -1;
	if (asprintf(&path_up, "/v2/images/%s/file", image_id) >= 0)
		code = kclient_upload("image", path_up, NULL, fd, (uint64_t)st.st_size);
	close(fd);
	if (code != 204 && code != 200 && code != 201) {
		snprintf(err, errlen, "the Image API refused the upload (status %ld)", code);
		return -1;
	}
	return 0;
}

static void job_snapshot(const char *host, json_t *inst, json_t *args)
{
	(void)host;
	const char *id = kjson_str(inst, "id");
	const char *rid = request_id(args, id, "createImage");
	const char *image_id = kjson_str(args, "image_id");
	struct expect ex = expect_from(inst);
	static const char *const pending[] = { "image_pending_upload", NULL };
	static const char *const uploading[] = { "image_uploading", NULL };
	cmp_event_start(id, rid, "compute_snapshot_instance");
	char err[1024] = "";
	if (!image_id || !kutil_is_uuid(image_id)) {
		action_failed(inst, &ex, rid, "compute_snapshot_instance", "no image to upload to");
		return;
	}
	if (cmp_instance_update(id, NULL, "image_pending_upload", -1, ex.list, NULL) != 1) {
		cmp_event_finish(id, rid, "compute_snapshot_instance", false, "instance changed");
		return;
	}
	const char *ipath = cmp_conf_str("instances_path", NULL);
	_cleanup_free_ char *dir = NULL;
	_cleanup_(unlinkp) char *file = NULL;
	bool ok = false;
	if ((ipath && *ipath ? asprintf(&dir, "%s/snapshots", ipath)
	                     : asprintf(&dir, "%s/instances/snapshots", kumo_state_dir())) < 0 ||
	    asprintf(&file, "%s/%s.qcow2", dir, image_id) < 0)
		snprintf(err, sizeof(err), "out of memory");
	else if (kutil_mkdir_p(dir, 0700) != 0)
		snprintf(err, sizeof(err), "cannot create %s: %s", dir, strerror(errno));
	else if (!ag.drv->snapshot)
		snprintf(err, sizeof(err), "the %s driver cannot take snapshots", ag.drv->name);
	else if (ag.drv->snapshot(id, file, err, sizeof(err)) == 0 &&
	         cmp_instance_update(id, NULL, "image_uploading", -1, pending, NULL) == 1)
		ok = upload_snapshot(file, image_id, err, sizeof(err)) == 0;
	if (ok) {
		cmp_instance_update(id, NULL, CMP_TASK_NONE, -1, uploading, NULL);
		cmp_event_finish(id, rid, "compute_snapshot_instance", true, NULL);
		klog_info(LOGC, "instance %s: snapshot uploaded to image %s", id, image_id);
		return;
	}
	if (!*err)
		snprintf(err, sizeof(err), "the snapshot failed");
	/* Nova deletes the image it could not fill */
	_cleanup_free_ char *ipath_del = NULL;
	if (asprintf(&ipath_del, "/v2/images/%s", image_id) >= 0) {
		long st = kclient_json("image", "DELETE", ipath_del, NULL, NULL, NULL, NULL);
		if (st != 204 && st != 404)
			klog_warn(LOGC, "cannot delete image %s after a failed snapshot (status %ld)",
			          image_id, st);
	}
	static const char *const snap_tasks[] = { "image_snapshot", "image_pending_upload",
	                                          "image_uploading", NULL };
	int ps = ag.drv->power_state ? ag.drv->power_state(id) : -1;
	cmp_instance_update(id, NULL, CMP_TASK_NONE, ps < 0 ? -1 : ps, snap_tasks, NULL);
	add_fault(id, 500, err, NULL);
	cmp_event_finish(id, rid, "compute_snapshot_instance", false, err);
	klog_warn(LOGC, "instance %s: snapshot failed: %s", id, err);
}

/* ---- jobs and the bus ---- */

typedef void (*job_fn)(const char *host, json_t *inst, json_t *args);

struct job {
	const char *method;
	job_fn fn;
	const struct power_action *pa;
};

static const struct job jobs[] = {
	{ "build_and_run_instance", job_build, NULL },
	{ "terminate_instance", job_terminate, NULL },
	{ "reboot_instance", job_reboot, NULL },
	{ "stop_instance", NULL, &power_actions[0] },
	{ "start_instance", NULL, &power_actions[1] },
	{ "pause_instance", NULL, &power_actions[2] },
	{ "unpause_instance", NULL, &power_actions[3] },
	{ "suspend_instance", NULL, &power_actions[4] },
	{ "resume_instance", NULL, &power_actions[5] },
	{ "rebuild_instance", job_rebuild, NULL },
	{ "resize_instance", job_resize, NULL },
	{ "confirm_resize", job_confirm, NULL },
	{ "revert_resize", job_revert, NULL },
	{ "snapshot_instance", job_snapshot, NULL },
};

static void run_job(void *ud, json_t *args)
{
	const struct job *j = ud;
	const char *id = kjson_str(args, "instance_id");
	const char *host = kjson_str(args, "_host");
	if (!id || !host)
		return;
	_cleanup_inst_ _unused_ const char *held = inst_lock(id);
	_cleanup_json_ json_t *inst = cmp_instance_load(id, false);
	if (!inst) {
		klog_info(LOGC, "%s: instance %s is gone", j->method, id);
		return;
	}
	if (!streq(kjson_str(inst, "host"), host)) {
		klog_info(LOGC, "%s: instance %s is not on %s any more", j->method, id, host);
		return;
	}
	bool deleting = streq(kjson_str(inst, "task_state"), "deleting");
	if (deleting && j->fn != job_terminate && j->fn != job_build) {
		klog_info(LOGC, "%s: instance %s is being deleted", j->method, id);
		return;
	}
	klog_debug(LOGC, "%s %s", j->method, id);
	if (j->pa)
		run_power_action(j->pa, inst, args);
	else
		j->fn(host, inst, args);
}

static int push_job(const struct job *j, json_t *args)
{
	pthread_mutex_lock(&ag.mu);
	int rc = -1;
	if (ag.wq && !ag.stopping)
		rc = kworkq_push(ag.wq, run_job, (void *)j, args);
	else
		json_decref(args);
	pthread_mutex_unlock(&ag.mu);
	return rc;
}

static json_t *console_output(json_t *args)
{
	const char *id = kjson_str(args, "instance_id");
	if (!id || !ag.drv->console_log)
		return json_pack("{s:s}", "output", "");
	_cleanup_free_ char *text = ag.drv->console_log(id, CONSOLE_MAX_BYTES);
	if (!text)
		return json_pack("{s:s}", "output", "");
	utf8_clean(text);
	json_t *len = json_object_get(args, "length");
	const char *start = text;
	if (json_is_integer(len) && json_integer_value(len) >= 0) {
		/* the last `length` lines (a final newline does not start a line) */
		json_int_t want = json_integer_value(len);
		size_t n = strlen(text);
		const char *p = text + n;
		if (p > text && p[-1] == '\n')
			p--;
		json_int_t lines = 0;
		while (p > text) {
			if (p[-1] == '\n' && ++lines == want)
				break;
			p--;
		}
		start = want == 0 ? text + n : p;
	}
	return json_pack("{s:s}", "output", start);
}

static json_t *vnc_console(json_t *args)
{
	const char *id = kjson_str(args, "instance_id");
	char host[256] = "";
	int port = 0;
	if (!id || !ag.drv->vnc_address || ag.drv->vnc_address(id, host, sizeof(host), &port) != 0)
		return json_pack("{s:s}", "error", "The instance has no VNC console.");
	return json_pack("{s:s,s:i}", "host", host, "port", port);
}

static json_t *on_bus_locked(const char *host, const char *method, json_t *args)
{
	if (streq(method, "get_console_output"))
		return console_output(args);
	if (streq(method, "get_vnc_console"))
		return vnc_console(args);
	if (streq(method, "refresh_network_cache")) {
		const char *id = kjson_str(args, "instance_id");
		if (id)
			cmp_vif_refresh(id);
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(jobs); i++) {
		if (!streq(jobs[i].method, method))
			continue;
		if (!kjson_str(args, "instance_id")) {
			klog_warn(LOGC, "%s without instance_id", method);
			return NULL;
		}
		json_t *a = json_deep_copy(args);
		json_object_set_new(a, "_host", json_string(host));
		if (push_job(&jobs[i], a) != 0)
			klog_warn(LOGC, "%s for %s dropped: the agent is stopping", method,
			          kjson_str(args, "instance_id"));
		return NULL;
	}
	klog_warn(LOGC, "unknown method %s", method ? method : "(null)");
	return json_pack("{s:s}", "error", "unknown method");
}

/* Bus handlers run while the agent may be stopping: the read lock keeps
 * the driver there for their duration. */
static pthread_rwlock_t bus_rw = PTHREAD_RWLOCK_INITIALIZER;

static json_t *on_bus(void *ud, const char *method, json_t *args)
{
	pthread_rwlock_rdlock(&bus_rw);
	json_t *reply;
	if (!ag.running || ag.stopping || !ag.drv) {
		klog_warn(LOGC, "%s dropped: the compute agent is not running", method);
		reply = json_pack("{s:s}", "error", "The compute agent is not running.");
	} else {
		reply = on_bus_locked(ud, method, args);
	}
	pthread_rwlock_unlock(&bus_rw);
	return reply;
}

/* ---- adoption ---- */

static int settle_power(int ps, const char **vm)
{
	switch (ps) {
	case CMP_POWER_RUNNING: *vm = CMP_VM_ACTIVE; return ps;
	case CMP_POWER_PAUSED: *vm = CMP_VM_PAUSED; return ps;
	case CMP_POWER_SUSPENDED: *vm = CMP_VM_SUSPENDED; return ps;
	default: *vm = CMP_VM_STOPPED; return CMP_POWER_SHUTDOWN;
	}
}

static void queue_local(const char *method, const char *host, const char *id, json_t *extra)
{
	for (size_t i = 0; i < ARRAY_SIZE(jobs); i++)
		if (streq(jobs[i].method, method)) {
			json_t *a = extra ? json_deep_copy(extra) : json_object();
			json_object_set_new(a, "instance_id", json_string(id));
			json_object_set_new(a, "_host", json_string(host));
			push_job(&jobs[i], a);
		}
}

static void adopt_one(const char *host, const char *id, const json_t *domains)
{
	_cleanup_json_ json_t *inst = cmp_instance_load(id, false);
	if (!inst)
		return;
	const char *vm = kjson_str(inst, "vm_state");
	const char *task = kjson_str(inst, "task_state");
	json_t *dom = json_object_get(domains, id);
	int ps = dom ? (int)json_integer_value(dom) : -1;
	static const char *const any[] = { CMP_TASK_ANY, NULL };
	if (streq(task, "deleting") || streq(vm, CMP_VM_DELETED)) {
		klog_info(LOGC, "adopt: instance %s was being deleted: finishing", id);
		queue_local("terminate_instance", host, id, NULL);
		return;
	}
	if (streq(vm, CMP_VM_BUILDING)) {
		if (ps == CMP_POWER_RUNNING) {
			klog_info(LOGC, "adopt: instance %s was booted before kumo stopped: ACTIVE", id);
			_cleanup_json_ json_t *extra = json_pack("{s:I}", "launched_at",
			                                         (json_int_t)kutil_now_us());
			cmp_instance_update(id, CMP_VM_ACTIVE, CMP_TASK_NONE, CMP_POWER_RUNNING, any,
			                    extra);
			return;
		}
		klog_info(LOGC, "adopt: instance %s was caught building: building it again", id);
		build_cleanup(inst, false);     /* the claim on this host stays */
		cmp_instance_update(id, CMP_VM_BUILDING, "scheduling", CMP_POWER_NOSTATE, any, NULL);
		_cleanup_json_ json_t *extra = json_pack("{s:I}", "attempt",
		                                         (json_int_t)cmp_conf_int("max_attempts", 3));
		queue_local("build_and_run_instance", host, id, extra);
		return;
	}
	if (!task)
		return;                 /* the power-state sync looks after it */
	if (!dom && (!strncmp(task, "rebuild", 7) || !strncmp(task, "resize", 6))) {
		klog_warn(LOGC, "adopt: instance %s lost its domain during %s", id, task);
		cmp_instance_set_error(id, 500, "The instance's domain was lost while kumo stopped.",
		                       task);
		return;
	}
	const char *new_vm;
	int new_ps = settle_power(ps, &new_vm);
	if (streq(vm, CMP_VM_RESIZED) || !strncmp(task, "resize", 6))
		new_vm = streq(vm, CMP_VM_RESIZED) ? CMP_VM_RESIZED : NULL;
	klog_info(LOGC, "adopt: instance %s was %s: settled", id, task);
	cmp_instance_update(id, new_vm, CMP_TASK_NONE, new_ps, any, NULL);
}

static void adopt(void)
{
	_cleanup_json_ json_t *domains = ag.drv->list_instances ? ag.drv->list_instances() : NULL;
	if (!domains && ag.drv->list_instances) {
		/* libvirt down: adopting now would take every instance for lost */
		klog_warn(LOGC, "adopt: the hypervisor does not answer; instances are settled by "
		          "the power sync once it does");
		return;
	}
	if (!domains)
		domains = json_object();
	_cleanup_json_ json_t *live = json_object();
	for (size_t h = 0; h < ag.nhosts; h++) {
		_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT id FROM cmp_instance "
		                                             "WHERE host = ? AND deleted = 0", "s",
		                                             ag.hosts[h]);
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row) {
			const char *id = kjson_str(row, "id");
			json_object_set_new(live, id, json_true());
			adopt_one(ag.hosts[h], id, domains);
		}
	}
	const char *uuid;
	json_t *v;
	json_object_foreach(domains, uuid, v) {
		if (json_object_get(live, uuid))
			continue;
		klog_warn(LOGC, "adopt: domain of instance %s has no live instance here: destroying",
		          uuid);
		if (ag.drv->destroy && ag.drv->destroy(uuid, false) != 0)
			klog_warn(LOGC, "adopt: cannot destroy the domain of %s", uuid);
	}
}

/* ---- lifecycle ---- */

static const cmp_virt_driver *choose_driver(void)
{
	if (cmp_agent_driver_override)
		return cmp_agent_driver_override;
	const char *name = cmp_conf_str("virt_driver", "libvirt");
	if (streq(name, "fake"))
		return &cmp_fake_driver;
	if (!streq(name, "libvirt"))
		klog_warn(LOGC, "unknown [compute] virt_driver %s: using libvirt", name);
	return &cmp_libvirt_driver;
}

/* Listen on compute.<host> once per bus: there is no way to stop listening,
 * so a restarted agent (tests) reuses its listeners; their host names live
 * as long as the process. */
static kbus *served_bus;
static char **served;
static size_t nserved;

/* The network service's change notifications (fanout "network-agent"): a
 * floating IP associated or released, or a port changed, shows in the
 * servers' addresses at once instead of at the next periodic refresh (the
 * role of Neutron's notifications to Nova). */
static json_t *on_network_change(void *ud, const char *method, json_t *args)
{
	(void)ud;
	const char *type = kjson_str(args, "type");
	if (!method || strcmp(method, "changed") != 0 || !type ||
	    (strcmp(type, "floatingip") != 0 && strcmp(type, "port") != 0))
		return NULL;
	pthread_mutex_lock(&ag.mu);
	if (ag.running && !ag.stopping) {
		ag.heal_soon = true;
		pthread_cond_broadcast(&ag.cv);
	}
	pthread_mutex_unlock(&ag.mu);
	return NULL;
}

static void serve_hosts(void)
{
	if (!kumo_bus)
		return;
	if (served_bus != kumo_bus) {
		for (size_t i = 0; i < nserved; i++)
			free(served[i]);
		free(served);
		served = NULL;
		nserved = 0;
		served_bus = kumo_bus;
		if (kbus_serve(kumo_bus, "network-agent", NULL, on_network_change, NULL) != 0)
			klog_warn(LOGC, "cannot hear the network service: addresses are refreshed "
			          "every heal_instance_info_cache_interval seconds only");
	}
	for (size_t h = 0; h < ag.nhosts; h++) {
		bool have = false;
		for (size_t i = 0; i < nserved && !have; i++)
			have = streq(served[i], ag.hosts[h]);
		if (have)
			continue;
		char **grown = realloc(served, (nserved + 1) * sizeof(*served));
		if (!grown)
			abort();
		served = grown;
		served[nserved] = strdup(ag.hosts[h]);
		if (kbus_serve(kumo_bus, "compute", served[nserved], on_bus, served[nserved]) != 0)
			klog_error(LOGC, "cannot listen on compute.%s", ag.hosts[h]);
		nserved++;
	}
}

int cmp_agent_start(void)
{
	if (ag.running)
		return 0;
	const cmp_virt_driver *drv = choose_driver();
	if (drv->init && drv->init() != 0) {
		klog_error(LOGC, "the %s virt driver cannot start", drv->name);
		return -1;
	}
	long workers = cmp_conf_int("build_workers", 4);
	kworkq *wq = kworkq_new("compute", workers > 0 ? (int)workers : 4);
	if (!wq) {
		klog_error(LOGC, "cannot start the work queue");
		if (drv->fini)
			drv->fini();
		return -1;
	}
	long fake = streq(drv->name, "fake") ? cmp_conf_int("fake_hosts", 0) : 0;
	ag.nhosts = fake > 0 ? (size_t)fake : 1;
	ag.hosts = calloc(ag.nhosts, sizeof(*ag.hosts));
	if (!ag.hosts)
		abort();
	for (size_t i = 0; i < ag.nhosts; i++)
		if (fake > 0)
			snprintf(ag.hosts[i], sizeof(ag.hosts[i]), "fake-host-%04zu", i + 1);
		else
			snprintf(ag.hosts[i], sizeof(ag.hosts[i]), "%s", cmp_host());
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ag.cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_rwlock_wrlock(&bus_rw);
	pthread_mutex_lock(&ag.mu);
	ag.drv = drv;
	ag.wq = wq;
	ag.stopping = false;
	ag.running = true;
	pthread_mutex_unlock(&ag.mu);
	pthread_rwlock_unlock(&bus_rw);
	report_all();
	adopt();
	ag.have_thread = pthread_create(&ag.thread, NULL, periodic_main, NULL) == 0;
	serve_hosts();
	klog_info(LOGC, "compute agent of %s started (%s driver, %zu host%s)", cmp_host(),
	          ag.drv->name, ag.nhosts, ag.nhosts == 1 ? "" : "s");
	return 0;
}

void cmp_agent_stop(void)
{
	if (!ag.running)
		return;
	pthread_rwlock_wrlock(&bus_rw);
	pthread_mutex_lock(&ag.mu);
	ag.stopping = true;
	pthread_cond_broadcast(&ag.cv);
	kworkq *wq = ag.wq;
	pthread_mutex_unlock(&ag.mu);
	pthread_rwlock_unlock(&bus_rw);
	if (ag.have_thread)
		pthread_join(ag.thread, NULL);
	ag.have_thread = false;
	kworkq_free(wq);             /* the queued jobs finish first */
	pthread_rwlock_wrlock(&bus_rw);
	pthread_mutex_lock(&ag.mu);
	ag.wq = NULL;
	if (ag.drv->fini)
		ag.drv->fini();
	ag.drv = NULL;
	ag.running = false;
	pthread_mutex_unlock(&ag.mu);
	pthread_rwlock_unlock(&bus_rw);
	pthread_cond_destroy(&ag.cv);
	free(ag.hosts);
	ag.hosts = NULL;
	ag.nhosts = 0;
	pthread_mutex_lock(&busy_mu);
	json_decref(busy);
	busy = NULL;
	pthread_mutex_unlock(&busy_mu);
	klog_info(LOGC, "compute agent stopped (instances keep running)");
}

size_t cmp_agent_pending(void)
{
	pthread_mutex_lock(&ag.mu);
	size_t n = ag.wq ? kworkq_pending(ag.wq) : 0;
	pthread_mutex_unlock(&ag.mu);
	return n;
}
