/*
 * actions.c - POST /v2.1/servers/{id}/action (Nova's server actions) and
 * GET /v2.1/servers/{id}/os-instance-actions[/{request_id}].
 *
 * An action body is a JSON object with exactly one key, the action's name;
 * a table maps names to handlers.  Each handler follows Nova's layers in
 * Nova's order, because the order decides which error a client sees:
 *   1. the body's schema (400) - before the instance is even looked up;
 *   2. the instance (404) and the policy (403);
 *   3. Nova's decorators of nova/compute/api.py: the lock (409 "Instance <id>
 *      is locked", admins pass), the allowed vm_states and task_states (409
 *      "Cannot '<action>' instance <id> while it is in vm_state <s>") and the
 *      host (409 "Instance <id> is not ready" when it was never scheduled);
 *   4. the action's own checks (flavor, image, quota: 400/403);
 *   5. the task_state is set by a compare-and-set, so two concurrent actions
 *      cannot both start (the loser gets the 409 of step 3);
 *   6. the action is recorded (os-instance-actions, request id = this
 *      request's) and cast to the agent of the instance's host,
 *      "compute.<host>", which moves the states on and records the events.
 * Steps 3 and 5 are one function, begin(); the common case (lock checked,
 * task_state must be none) ends in cmp_instance_begin_task().
 *
 * What never reaches the agent: lock/unlock (a column), createImage's image
 * record (created in the Image service here, with the caller's token, as
 * Nova's API does before it casts snapshot_instance).  The console output is
 * the one call: it waits for the agent's answer (30 s).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/auth.h"
#include "core/bus.h"
#include "core/client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

#define CONSOLE_TIMEOUT_MS 30000

/* ------------------------------------------------------------------------ */
/* Small helpers */

static const char *str_or(const json_t *o, const char *key, const char *def)
{
	const char *s = kjson_str(o, key);
	return s ? s : def;
}

static int64_t int_of(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	if (json_is_true(v))
		return 1;
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static void internal_error(kreq *r)
{
	kresp_error(r, 500, "Unexpected API Error. Please report this at "
	            "http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.");
}

static bool in_list(const char *s, const char *const *list)
{
	for (; list && *list; list++)
		if (s && strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Nova's jsonschema errors: "Invalid input for field/attribute <f>. Value:
 * <v>. <why>" (the value as JSON rather than a Python repr). */
_printf_(4, 5)
static void bad_input(kreq *r, const char *field, const json_t *value, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const char *why = kpool_vprintf(r->pool, fmt, ap);
	va_end(ap);
	_cleanup_free_ char *v = value ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	kresp_error(r, 400, "Invalid input for field/attribute %s. Value: %s. %s", field,
	            v ? v : "None", why);
}

/* Unicode characters of a UTF-8 string. */
static size_t utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* parameter_types.name: 1-255 characters, printable, no leading or
 * trailing whitespace. */
static bool check_name(kreq *r, const char *field, const json_t *v)
{
	if (!json_is_string(v)) {
		bad_input(r, field, v, "The value is not of type 'string'");
		return false;
	}
	const char *s = json_string_value(v);
	size_t n = utf8_len(s), len = strlen(s);
	if (n < 1 || n > 255) {
		bad_input(r, field, v, n < 1 ? "'' is too short" : "the value is too long");
		return false;
	}
	bool bad = strchr(" \t\r\n\v\f", s[0]) || strchr(" \t\r\n\v\f", s[len - 1]);
	for (size_t i = 0; i < len && !bad; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			bad = true;
	if (bad) {
		bad_input(r, field, v, "The value does not match the pattern of a valid name: no "
		          "leading or trailing whitespace, printable characters only");
		return false;
	}
	return true;
}

/* parameter_types.metadata: {"key ^[a-zA-Z0-9-_:. ]{1,255}$": "string <= 255"}. */
static bool check_metadata(kreq *r, const json_t *v)
{
	if (!json_is_object(v)) {
		bad_input(r, "metadata", v, "The value is not of type 'object'");
		return false;
	}
	const char *k;
	json_t *val;
	json_object_foreach((json_t *)v, k, val) {
		size_t n = strlen(k);
		bool ok = n >= 1 && n <= 255;
		for (size_t i = 0; i < n && ok; i++)
			ok = (k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
			     (k[i] >= '0' && k[i] <= '9') || strchr("-_:. ", k[i]);
		if (!ok) {
			bad_input(r, "metadata", v, "Additional properties are not allowed "
			          "('%s' was unexpected)", k);
			return false;
		}
		if (!json_is_string(val)) {
			bad_input(r, k, val, "The value is not of type 'string'");
			return false;
		}
		if (utf8_len(json_string_value(val)) > 255) {
			bad_input(r, k, val, "The value is too long");
			return false;
		}
	}
	return true;
}

/* Any member of obj not in allowed: 400 as jsonschema's additionalProperties. */
static bool check_keys(kreq *r, const char *field, const json_t *obj, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		if (!in_list(k, allowed)) {
			bad_input(r, field, obj, "Additional properties are not allowed ('%s' was "
			          "unexpected)", k);
			return false;
		}
	}
	return true;
}

static const char *host_of(const json_t *inst)
{
	const char *h = kjson_str(inst, "host");
	return h && *h ? h : NULL;
}

static bool is_locked(const json_t *inst)
{
	json_t *v = json_object_get(inst, "locked");
	return json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0);
}

static json_t *policy_target(const json_t *inst)
{
	return json_pack("{s:s,s:s}", "project_id", str_or(inst, "project_id", ""),
	                 "user_id", str_or(inst, "user_id", ""));
}

static bool enforce(kreq *r, const char *action, const json_t *inst)
{
	_cleanup_json_ json_t *t = policy_target(inst);
	return cmp_enforce(r, action, t);
}

/* ------------------------------------------------------------------------ */
/* State checks and the task_state compare-and-set */

typedef struct begin_spec {
	const char *action;               /* Nova's word in the 409 messages */
	const char *const *vm;            /* allowed vm_states */
	const char *const *tasks;         /* allowed task_states (CMP_TASK_NONE = none);
	                                     NULL = none only */
	const char *new_task;             /* set on success; NULL = none */
	bool lock;                        /* @check_instance_lock */
} begin_spec;

static const char *const only_none[] = { CMP_TASK_NONE, NULL };

/* Nova's decorators, in Nova's order: lock, vm_state, task_state, host.
 * Answers 409 and returns false on a conflict. */
static bool precheck(kreq *r, const json_t *inst, const begin_spec *b)
{
	const char *id = kjson_str(inst, "id");
	if (b->lock && is_locked(inst) && !cmp_is_admin(r)) {
		kresp_error(r, 409, "Instance %s is locked", id);
		return false;
	}
	const char *vm = str_or(inst, "vm_state", "");
	if (!in_list(vm, b->vm)) {
		kresp_error(r, 409, "Cannot '%s' instance %s while it is in vm_state %s", b->action,
		            id, vm);
		return false;
	}
	const char *task = kjson_str(inst, "task_state");
	const char *const *tasks = b->tasks ? b->tasks : only_none;
	bool ok = task ? in_list(task, tasks) : in_list(CMP_TASK_NONE, tasks);
	if (!ok) {
		kresp_error(r, 409, "Cannot '%s' instance %s while it is in task_state %s",
		            b->action, id, task ? task : "None");
		return false;
	}
	if (!host_of(inst)) {
		kresp_error(r, 409, "Instance %s is not ready", id);
		return false;
	}
	return true;
}

/* Set the new task_state atomically (step 5). */
static bool commit(kreq *r, const json_t *inst, const begin_spec *b)
{
	const char *id = kjson_str(inst, "id");
	if (!b->new_task)
		return true;
	if (b->lock && !b->tasks)
		return cmp_instance_begin_task(r, inst, b->action, b->vm, b->new_task);
	int rc = cmp_instance_update(id, NULL, b->new_task, -1, b->tasks ? b->tasks : only_none,
	                             NULL);
	if (rc == 1)
		return true;
	if (rc < 0) {
		internal_error(r);
		return false;
	}
	/* lost a race: report the state that won */
	_cleanup_json_ json_t *now = cmp_instance_load(id, false);
	const char *task = now ? kjson_str(now, "task_state") : NULL;
	kresp_error(r, 409, "Cannot '%s' instance %s while it is in task_state %s", b->action, id,
	            task ? task : "None");
	return false;
}

static bool begin(kreq *r, const json_t *inst, const begin_spec *b)
{
	return precheck(r, inst, b) && commit(r, inst, b);
}

/* Undo the task_state of a failed start (the cast could not be sent). */
static void abandon(const json_t *inst, const char *task)
{
	if (!task)
		return;
	const char *expect[] = { task, NULL };
	cmp_instance_update(kjson_str(inst, "id"), NULL, CMP_TASK_NONE, -1, expect, NULL);
}

/* Record the action and cast method to the instance's agent; extra (stolen,
 * may be NULL) adds to {"instance_id", "request_id"}.  False (answered 409)
 * when no agent listens for that host. */
static bool record_and_cast(kreq *r, const json_t *inst, const char *action, const char *method,
                            json_t *extra, const char *task)
{
	const char *id = kjson_str(inst, "id");
	cmp_action_start(r, id, action);
	_cleanup_json_ json_t *args = extra ? extra : json_object();
	json_object_set_new(args, "instance_id", json_string(id));
	json_object_set_new(args, "request_id", json_string(r->request_id));
	const char *target = kpool_printf(r->pool, "compute.%s", host_of(inst));
	if (kbus_cast(kumo_bus, target, method, args) != 0) {
		klog_warn("compute", "%s of instance %s: no compute agent listens on %s", action,
		          id, target);
		abandon(inst, task);
		cmp_event_start(id, r->request_id, kpool_printf(r->pool, "api_%s", action));
		cmp_event_finish(id, r->request_id, kpool_printf(r->pool, "api_%s", action), false,
		                 "Service is unavailable at this time.");
		kresp_error(r, 409, "Service is unavailable at this time.");
		return false;
	}
	return true;
}

/* The usual shape: lookup, policy, begin, record, cast, 202. */
static void simple_action(kreq *r, const char *id, const char *policy, const begin_spec *b,
                          const char *record, const char *method, json_t *extra)
{
	_cleanup_json_ json_t *ex = extra;
	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, policy, inst) || !begin(r, inst, b))
		return;
	if (record_and_cast(r, inst, record, method, TAKE_PTR(ex), b->new_task))
		kresp_status(r, 202);
}

/* os-start: {} or null (anything, as Nova's schema {} allows). */
static const char *const vm_active[] = { CMP_VM_ACTIVE, NULL };

/* ------------------------------------------------------------------------ */
/* reboot, os-stop, os-start, pause, unpause, suspend, resume */

static void act_reboot(kreq *r, const char *id, json_t *arg)
{
	static const char *const keys[] = { "type", NULL };
	if (!json_is_object(arg)) {
		bad_input(r, "reboot", arg, "The value is not of type 'object'");
		return;
	}
	if (!check_keys(r, "reboot", arg, keys))
		return;
	json_t *t = json_object_get(arg, "type");
	if (!t) {
		bad_input(r, "reboot", arg, "'type' is a required property");
		return;
	}
	static const char *const types[] = { "HARD", "Hard", "hard", "SOFT", "Soft", "soft", NULL };
	if (!json_is_string(t) || !in_list(json_string_value(t), types)) {
		bad_input(r, "type", t, "The value is not one of ['HARD', 'Hard', 'hard', 'SOFT', "
		          "'Soft', 'soft']");
		return;
	}
	bool hard = strcasecmp(json_string_value(t), "HARD") == 0;
	/* vm_states.ALLOW_SOFT_REBOOT / ALLOW_HARD_REBOOT, task_states.ALLOW_REBOOT */
	static const char *const soft_vm[] = { CMP_VM_ACTIVE, NULL };
	static const char *const hard_vm[] = { CMP_VM_ACTIVE, CMP_VM_STOPPED, CMP_VM_PAUSED,
	                                       CMP_VM_SUSPENDED, CMP_VM_ERROR, NULL };
	static const char *const hard_tasks[] = { CMP_TASK_NONE, "rebooting", "reboot_pending",
	                                          "reboot_started", "rebooting_hard", "resuming",
	                                          "unpausing", "pausing", "suspending", NULL };
	begin_spec b = { .action = "reboot", .vm = hard ? hard_vm : soft_vm,
	                 .tasks = hard ? hard_tasks : NULL,
	                 .new_task = hard ? "rebooting_hard" : "rebooting", .lock = true };
	simple_action(r, id, "os_compute_api:servers:reboot", &b, "reboot", "reboot_instance",
	              json_pack("{s:s}", "reboot_type", hard ? "HARD" : "SOFT"));
}

static void act_stop(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	static const char *const vm[] = { CMP_VM_ACTIVE, CMP_VM_ERROR, NULL };
	begin_spec b = { "stop", vm, NULL, "powering-off", true };
	simple_action(r, id, "os_compute_api:servers:stop", &b, "stop", "stop_instance", NULL);
}

static void act_start(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	static const char *const vm[] = { CMP_VM_STOPPED, NULL };
	begin_spec b = { "start", vm, NULL, "powering-on", true };
	simple_action(r, id, "os_compute_api:servers:start", &b, "start", "start_instance", NULL);
}

static void act_pause(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	begin_spec b = { "pause", vm_active, NULL, "pausing", true };
	simple_action(r, id, "os_compute_api:os-pause-server:pause", &b, "pause", "pause_instance",
	              NULL);
}

static void act_unpause(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	static const char *const vm[] = { CMP_VM_PAUSED, NULL };
	begin_spec b = { "unpause", vm, NULL, "unpausing", true };
	simple_action(r, id, "os_compute_api:os-pause-server:unpause", &b, "unpause",
	              "unpause_instance", NULL);
}

static void act_suspend(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	begin_spec b = { "suspend", vm_active, NULL, "suspending", true };
	simple_action(r, id, "os_compute_api:os-suspend-server:suspend", &b, "suspend",
	              "suspend_instance", NULL);
}

static void act_resume(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	static const char *const vm[] = { CMP_VM_SUSPENDED, NULL };
	begin_spec b = { "resume", vm, NULL, "resuming", true };
	simple_action(r, id, "os_compute_api:os-suspend-server:resume", &b, "resume",
	              "resume_instance", NULL);
}

/* ------------------------------------------------------------------------ */
/* lock, unlock (the instance's columns only; Nova records an "api_" event) */

static void set_lock(kreq *r, const json_t *inst, bool lock, const char *by)
{
	const char *id = kjson_str(inst, "id");
	const char *action = lock ? "lock" : "unlock";
	const char *event = lock ? "api_lock" : "api_unlock";
	cmp_action_start(r, id, action);
	cmp_event_start(id, r->request_id, event);
	_cleanup_json_ json_t *extra = json_pack("{s:i,s:o}", "locked", lock ? 1 : 0, "locked_by",
	                                         by ? json_string(by) : json_null());
	int rc = cmp_instance_update(id, NULL, NULL, -1, NULL, extra);
	cmp_event_finish(id, r->request_id, event, rc == 1, rc == 1 ? NULL : "database error");
	if (rc < 0) {
		internal_error(r);
		return;
	}
	kresp_status(r, 202);
}

static bool is_owner(kreq *r, const json_t *inst)
{
	const char *p = kjson_str(inst, "project_id");
	return p && r->ctx && r->ctx->project_id && strcmp(p, r->ctx->project_id) == 0;
}

static void act_lock(kreq *r, const char *id, json_t *arg)
{
	(void)arg;   /* 2.1: anything ("reason" is 2.73) */
	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:os-lock-server:lock", inst))
		return;
	bool owner = is_owner(r, inst);
	/* only an admin (non-owner) re-locks a locked instance */
	if (is_locked(inst) && owner) {
		kresp_status(r, 202);
		return;
	}
	set_lock(r, inst, true, owner ? "owner" : "admin");
}

static void act_unlock(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:os-lock-server:unlock", inst))
		return;
	/* is_expected_locked_by(): who locked it may unlock it; the rest need
	 * unlock_override (admins) */
	const char *by = kjson_str(inst, "locked_by");
	const char *expect = is_owner(r, inst) ? "owner" : "admin";
	if (by && *by && strcmp(by, expect) != 0 &&
	    !enforce(r, "os_compute_api:os-lock-server:unlock:unlock_override", inst))
		return;
	set_lock(r, inst, false, NULL);
}

/* ------------------------------------------------------------------------ */
/* resize, confirmResize, revertResize */

static void act_resize(kreq *r, const char *id, json_t *arg)
{
	static const char *const keys[] = { "flavorRef", "OS-DCF:diskConfig", NULL };
	if (!json_is_object(arg)) {
		bad_input(r, "resize", arg, "The value is not of type 'object'");
		return;
	}
	if (!check_keys(r, "resize", arg, keys))
		return;
	json_t *fr = json_object_get(arg, "flavorRef");
	if (!fr) {
		bad_input(r, "resize", arg, "'flavorRef' is a required property");
		return;
	}
	const char *flavor_id;
	if (json_is_integer(fr))
		flavor_id = kpool_printf(r->pool, "%" JSON_INTEGER_FORMAT, json_integer_value(fr));
	else if (json_is_string(fr) && *json_string_value(fr))
		flavor_id = json_string_value(fr);
	else {
		bad_input(r, "flavorRef", fr, json_is_string(fr) ? "'' is too short" :
		          "The value is not of type 'string', 'integer'");
		return;
	}
	json_t *dc = json_object_get(arg, "OS-DCF:diskConfig");
	if (dc && !(json_is_string(dc) && (strcmp(json_string_value(dc), "AUTO") == 0 ||
	                                   strcmp(json_string_value(dc), "MANUAL") == 0))) {
		bad_input(r, "OS-DCF:diskConfig", dc, "The value is not one of ['AUTO', 'MANUAL']");
		return;
	}

	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:servers:resize", inst))
		return;
	static const char *const vm[] = { CMP_VM_ACTIVE, CMP_VM_STOPPED, NULL };
	begin_spec b = { "resize", vm, NULL, "resize_prep", true };
	if (!precheck(r, inst, &b))
		return;

	_cleanup_json_ json_t *fl = cmp_flavor_view(r, flavor_id, true);
	if (!fl || json_is_true(json_object_get(fl, "OS-FLV-DISABLED:disabled")) ||
	    !cmp_flavor_usable(r, flavor_id)) {
		kresp_error(r, 400, "Flavor %s could not be found.", flavor_id);
		return;
	}
	if (strcmp(flavor_id, str_or(inst, "flavor_id", "")) == 0) {
		kresp_error(r, 400, "When resizing, instances must change flavor!");
		return;
	}
	if (int_of(fl, "disk") == 0 && int_of(inst, "root_gb") != 0) {
		kresp_error(r, 400, "Server disk was unable to be resized because: Resize to zero "
		            "disk flavor is not allowed.");
		return;
	}
	int64_t dcores = int_of(fl, "vcpus") - int_of(inst, "vcpus");
	int64_t dram = int_of(fl, "ram") - int_of(inst, "memory_mb");
	if ((dcores > 0 || dram > 0) &&
	    !cmp_quota_check_instances(r, str_or(inst, "project_id", ""), 0,
	                               dcores > 0 ? dcores : 0, dram > 0 ? dram : 0))
		return;

	if (!commit(r, inst, &b))
		return;
	_cleanup_free_ char *new_text = kjson_dump(fl);
	json_t *old = json_object_get(inst, "flavor");
	_cleanup_free_ char *old_text = old ? kjson_dump(old) : NULL;
	_cleanup_json_ json_t *cols = json_pack("{s:s,s:s}", "new_flavor", new_text,
	                                        "old_flavor", old_text ? old_text : "null");
	if (cmp_instance_update(id, NULL, NULL, -1, NULL, cols) < 0) {
		abandon(inst, b.new_task);
		internal_error(r);
		return;
	}
	json_t *extra = json_pack("{s:O,s:s}", "flavor", fl, "flavor_id", flavor_id);
	if (record_and_cast(r, inst, "resize", "resize_instance", extra, b.new_task))
		kresp_status(r, 202);
}

static void act_confirm_resize(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:servers:confirm_resize", inst))
		return;
	static const char *const vm[] = { CMP_VM_RESIZED, NULL };
	/* Nova sets no task_state: the migration record says "confirming" */
	begin_spec b = { "confirmResize", vm, NULL, NULL, true };
	if (!begin(r, inst, &b))
		return;
	if (record_and_cast(r, inst, "confirmResize", "confirm_resize", NULL, NULL))
		kresp_status(r, 204);
}

static void act_revert_resize(kreq *r, const char *id, json_t *arg)
{
	(void)arg;
	static const char *const vm[] = { CMP_VM_RESIZED, NULL };
	begin_spec b = { "revertResize", vm, NULL, "resize_reverting", true };
	simple_action(r, id, "os_compute_api:servers:revert_resize", &b, "revertResize",
	              "revert_resize", NULL);
}

/* ------------------------------------------------------------------------ */
/* rebuild */

/* Glance's own attributes; everything else of an image is a property. */
static const char *const glance_core[] = {
	"id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
	"os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk",
	"disk_format", "container_format", "created_at", "updated_at", "tags", "self", "file",
	"schema", "direct_url", "locations", "stores", NULL
};

/* The instance's "image" column from a Glance v2 image (as servers.c keeps
 * it): id, name, disk_format, container_format, min_disk, min_ram, size,
 * properties{}.  New reference. */
static json_t *image_meta(const json_t *img)
{
	json_t *props = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)img, k, v)
		if (!in_list(k, glance_core))
			json_object_set(props, k, v);
	json_t *m = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o}",
	                      "id", str_or(img, "id", ""), "name", str_or(img, "name", ""),
	                      "disk_format", str_or(img, "disk_format", ""),
	                      "container_format", str_or(img, "container_format", ""),
	                      "min_disk", (json_int_t)int_of(img, "min_disk"),
	                      "min_ram", (json_int_t)int_of(img, "min_ram"),
	                      "size", (json_int_t)int_of(img, "size"), "properties", props);
	return m;
}

/* utils.generate_password(): 12 characters without look-alikes. */
static const char *generate_password(kreq *r)
{
	static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
	unsigned char rnd[12];
	kutil_random(rnd, sizeof(rnd));
	char *p = kpool_alloc(r->pool, sizeof(rnd) + 1);
	for (size_t i = 0; i < sizeof(rnd); i++)
		p[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
	p[sizeof(rnd)] = '\0';
	return p;
}

static bool check_ip(kreq *r, const char *field, const json_t *v, int af)
{
	unsigned char buf[16];
	if (json_is_string(v) && inet_pton(af, json_string_value(v), buf) == 1)
		return true;
	bad_input(r, field, v, "The value is not a '%s'", af == AF_INET ? "ipv4" : "ipv6");
	return false;
}

static bool check_rebuild_body(kreq *r, const json_t *arg)
{
	static const char *const keys[] = { "name", "imageRef", "adminPass", "metadata",
	                                    "preserve_ephemeral", "OS-DCF:diskConfig",
	                                    "accessIPv4", "accessIPv6", "personality", NULL };
	if (!json_is_object(arg)) {
		bad_input(r, "rebuild", arg, "The value is not of type 'object'");
		return false;
	}
	if (!check_keys(r, "rebuild", arg, keys))
		return false;
	json_t *img = json_object_get(arg, "imageRef"), *v;
	if (!img) {
		bad_input(r, "rebuild", arg, "'imageRef' is a required property");
		return false;
	}
	if (!json_is_string(img) || !kutil_is_uuid(json_string_value(img)) ||
	    strlen(json_string_value(img)) != 36) {
		bad_input(r, "imageRef", img, "The value is not a 'uuid'");
		return false;
	}
	if ((v = json_object_get(arg, "name")) && !check_name(r, "name", v))
		return false;
	if ((v = json_object_get(arg, "adminPass")) && !json_is_string(v)) {
		bad_input(r, "adminPass", v, "The value is not of type 'string'");
		return false;
	}
	if ((v = json_object_get(arg, "metadata")) && !check_metadata(r, v))
		return false;
	if ((v = json_object_get(arg, "preserve_ephemeral")) && !json_is_boolean(v)) {
		bad_input(r, "preserve_ephemeral", v, "The value is not of type 'boolean'");
		return false;
	}
	v = json_object_get(arg, "OS-DCF:diskConfig");
	if (v && !(json_is_string(v) && (strcmp(json_string_value(v), "AUTO") == 0 ||
	                                 strcmp(json_string_value(v), "MANUAL") == 0))) {
		bad_input(r, "OS-DCF:diskConfig", v, "The value is not one of ['AUTO', 'MANUAL']");
		return false;
	}
	if ((v = json_object_get(arg, "accessIPv4")) && !check_ip(r, "accessIPv4", v, AF_INET))
		return false;
	if ((v = json_object_get(arg, "accessIPv6")) && !check_ip(r, "accessIPv6", v, AF_INET6))
		return false;
	if ((v = json_object_get(arg, "personality"))) {
		size_t i;
		json_t *f;
		if (!json_is_array(v)) {
			bad_input(r, "personality", v, "The value is not of type 'array'");
			return false;
		}
		json_array_foreach(v, i, f) {
			static const char *const fkeys[] = { "path", "contents", NULL };
			if (!json_is_object(f) || !check_keys(r, "personality", f, fkeys) ||
			    !json_is_string(json_object_get(f, "path")) ||
			    !json_is_string(json_object_get(f, "contents"))) {
				if (!r->status)
					bad_input(r, "personality", f, "'path' and 'contents' "
					          "(strings) are required properties");
				return false;
			}
		}
		long maxf = cmp_quota_limit(r->ctx ? r->ctx->project_id : "", "injected_files");
		if (maxf >= 0 && (long)json_array_size(v) > maxf) {
			kresp_error(r, 403, "Personality file limit exceeded");
			return false;
		}
	}
	return true;
}

/* The image for a rebuild, with the caller's token: 400 when missing or not
 * active or too big for the flavor. New reference. */
static json_t *rebuild_image(kreq *r, const json_t *inst, const char *image_id)
{
	json_t *img = NULL;
	long st = kclient_json("image", "GET", kpool_printf(r->pool, "/v2/images/%s", image_id),
	                       r->ctx ? r->ctx->token : NULL, NULL, NULL, &img);
	_cleanup_json_ json_t *own = img;
	if (st == 404 || st == 403 || (st == 200 && !json_is_object(img))) {
		kresp_error(r, 400, "Cannot find image for rebuild");
		return NULL;
	}
	if (st != 200) {
		kresp_error(r, 503, "The image service is unavailable (status %ld).", st);
		return NULL;
	}
	if (strcmp(str_or(img, "status", ""), "active") != 0) {
		kresp_error(r, 400, "Image %s is not active.", image_id);
		return NULL;
	}
	int64_t mem = int_of(inst, "memory_mb"), root = int_of(inst, "root_gb");
	if (int_of(img, "min_ram") > mem) {
		kresp_error(r, 400, "Flavor's memory is too small for requested image.");
		return NULL;
	}
	if (root > 0 && int_of(img, "min_disk") > root) {
		kresp_error(r, 400, "Flavor's disk is too small for requested image.");
		return NULL;
	}
	if (root > 0 && int_of(img, "size") > root * 1024 * 1024 * 1024) {
		kresp_error(r, 400, "Flavor's disk is too small for requested image. Flavor disk "
		            "is %" PRId64 " bytes, image is %" PRId64 " bytes.",
		            root * 1024 * 1024 * 1024, int_of(img, "size"));
		return NULL;
	}
	return TAKE_PTR(own);
}

static int replace_metadata(const char *id, const json_t *meta)
{
	if (kdb_begin(cmp_db) != 0)
		return -1;
	int rc = kdb_run(cmp_db, NULL, "DELETE FROM cmp_instance_metadata WHERE instance_id = ?",
	                 "s", id);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)meta, k, v) {
		if (rc != KDB_DONE)
			break;
		rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance_metadata (instance_id, "
		             "meta_key, meta_value) VALUES (?, ?, ?)", "sss", id, k,
		             json_string_value(v));
	}
	if (rc != KDB_DONE) {
		kdb_rollback(cmp_db);
		return -1;
	}
	return kdb_commit(cmp_db) == 0 ? 0 : -1;
}

/* Nova's rebuild answer at 2.1 - 2.8 is the "update" view: no OS-EXT-*,
 * no security groups or key name, addresses as {version, addr}. */
static void trim_rebuild_view(json_t *server)
{
	static const char *const keep[] = {
		"id", "name", "status", "image", "flavor", "fault", "user_id", "tenant_id",
		"created", "updated", "progress", "metadata", "links", "addresses", "hostId",
		"OS-DCF:diskConfig", "accessIPv4", "accessIPv6", NULL
	};
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(server, tmp, k, v)
		if (!in_list(k, keep))
			json_object_del(server, k);
	json_t *addrs = json_object_get(server, "addresses");
	json_object_foreach(addrs, k, v) {
		size_t i;
		json_t *a;
		json_array_foreach(v, i, a) {
			void *t2;
			const char *ak;
			json_t *av;
			json_object_foreach_safe(a, t2, ak, av)
				if (strcmp(ak, "version") != 0 && strcmp(ak, "addr") != 0)
					json_object_del(a, ak);
		}
	}
}

static void act_rebuild(kreq *r, const char *id, json_t *arg)
{
	if (!check_rebuild_body(r, arg))
		return;
	const char *image_id = kjson_str(arg, "imageRef");
	const char *pass = kjson_str(arg, "adminPass");
	if (!pass)
		pass = generate_password(r);

	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:servers:rebuild", inst))
		return;
	static const char *const vm[] = { CMP_VM_ACTIVE, CMP_VM_STOPPED, CMP_VM_ERROR, NULL };
	begin_spec b = { "rebuild", vm, NULL, "rebuilding", true };
	if (!precheck(r, inst, &b))
		return;
	json_t *meta = json_object_get(arg, "metadata");
	if (meta) {
		long max = cmp_quota_limit(str_or(inst, "project_id", ""), "metadata_items");
		if (max >= 0 && (long)json_object_size(meta) > max) {
			kresp_error(r, 403, "Quota exceeded for metadata_items: Requested %zu, "
			            "but already used 0 of %ld metadata_items",
			            json_object_size(meta), max);
			return;
		}
	}
	_cleanup_json_ json_t *img = rebuild_image(r, inst, image_id);
	if (!img)
		return;
	if (!commit(r, inst, &b))
		return;

	_cleanup_json_ json_t *im = image_meta(img);
	_cleanup_free_ char *im_text = kjson_dump(im);
	_cleanup_json_ json_t *cols = json_pack("{s:s,s:s,s:i}", "image_ref", image_id,
	                                        "image", im_text, "progress", 0);
	json_t *v;
	if ((v = json_object_get(arg, "name")))
		json_object_set(cols, "name", v);
	if ((v = json_object_get(arg, "accessIPv4")))
		json_object_set(cols, "access_ip_v4", v);
	if ((v = json_object_get(arg, "accessIPv6")))
		json_object_set(cols, "access_ip_v6", v);
	if (cmp_instance_update(id, NULL, NULL, -1, NULL, cols) < 0 ||
	    (meta && replace_metadata(id, meta) != 0)) {
		abandon(inst, b.new_task);
		internal_error(r);
		return;
	}
	json_t *extra = json_pack("{s:s,s:O,s:s,s:s,s:b}", "image_ref", image_id, "image", im,
	                          "orig_image_ref", str_or(inst, "image_ref", ""),
	                          "admin_pass", pass, "preserve_ephemeral",
	                          json_is_true(json_object_get(arg, "preserve_ephemeral")));
	if (!record_and_cast(r, inst, "rebuild", "rebuild_instance", extra, b.new_task))
		return;

	_cleanup_json_ json_t *now = cmp_instance_load(id, false);
	json_t *server = now ? cmp_server_view(r, now, true) : NULL;
	if (!server) {
		kresp_status(r, 202);
		return;
	}
	trim_rebuild_view(server);
	json_object_set_new(server, "adminPass", json_string(pass));
	json_t *links = json_object_get(server, "links");
	const char *self = kjson_str(json_array_get(links, 0), "href");
	if (self)
		kresp_header(r, "Location", self);
	kresp_json(r, 202, json_pack("{s:o}", "server", server));
}

/* ------------------------------------------------------------------------ */
/* createImage */

/* Image properties never copied to a snapshot (NON_INHERITABLE_*). */
static bool inheritable(const char *k)
{
	static const char *const no[] = { "cache_in_nova", "bittorrent", "instance_uuid",
	                                  "image_type", "base_image_ref", "user_id",
	                                  "instance_owner", NULL };
	return !in_list(k, no) && strncmp(k, "img_signature", 13) != 0 &&
	       strncmp(k, "os_glance", 9) != 0 && strncmp(k, "owner_specified.", 16) != 0;
}

/* The image record, as compute_utils.create_image(): the boot image's
 * properties, then instance_uuid, user_id, image_type, base_image_ref and the
 * caller's metadata; private, or shared with the instance's project when the
 * caller is another project's admin.  Its id (pool), or NULL (answered). */
static const char *create_snapshot_record(kreq *r, const json_t *inst, const char *name,
                                          const json_t *meta)
{
	const json_t *bimg = json_object_get(inst, "image");
	bool owner = is_owner(r, inst);
	int64_t min_disk = int_of(bimg, "min_disk"), root = int_of(inst, "root_gb");
	_cleanup_json_ json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "name", name,
	                                        "visibility", owner ? "private" : "shared",
	                                        "container_format", "bare", "disk_format", "qcow2",
	                                        "min_ram", (json_int_t)int_of(bimg, "min_ram"),
	                                        "min_disk", (json_int_t)(root > min_disk ? root :
	                                                                 min_disk));
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(bimg, "properties"), k, v)
		if (json_is_string(v) && inheritable(k))
			json_object_set(body, k, v);
	json_object_set_new(body, "instance_uuid", json_string(kjson_str(inst, "id")));
	if (r->ctx && r->ctx->user_id)
		json_object_set_new(body, "user_id", json_string(r->ctx->user_id));
	json_object_set_new(body, "image_type", json_string("snapshot"));
	const char *base = kjson_str(inst, "image_ref");
	if (base && *base)
		json_object_set_new(body, "base_image_ref", json_string(base));
	if (!owner)
		json_object_set_new(body, "instance_owner",
		                    json_string(str_or(inst, "project_id", "")));
	json_object_foreach((json_t *)meta, k, v)
		json_object_set(body, k, v);

	const char *token = r->ctx ? r->ctx->token : NULL;
	json_t *img = NULL;
	long st = kclient_json("image", "POST", "/v2/images", token, body, NULL, &img);
	_cleanup_json_ _unused_ json_t *own = img;
	const char *img_id = kjson_str(img, "id");
	if (st != 201 || !img_id) {
		const char *msg = kjson_str(img, "message");
		if (!msg)
			msg = kjson_str(json_object_get(img, "error"), "message");
		if (st == 400 || st == 409)
			kresp_error(r, 400, "%s", msg ? msg : "Invalid image metadata");
		else if (st == 403 || st == 413)
			kresp_error(r, 403, "%s", msg ? msg : "Image quota exceeded");
		else
			kresp_error(r, 503, "The image service is unavailable (status %ld).", st);
		return NULL;
	}
	const char *id = kpool_strdup(r->pool, img_id);
	if (!owner) {
		_cleanup_json_ json_t *mem = json_pack("{s:s}", "member",
		                                       str_or(inst, "project_id", ""));
		long ms = kclient_json("image", "POST", kpool_printf(r->pool,
		                       "/v2/images/%s/members", id), token, mem, NULL, NULL);
		if (ms != 200)
			klog_warn("compute", "snapshot %s: could not share with project %s (%ld)",
			          id, str_or(inst, "project_id", ""), ms);
	}
	return id;
}

static void act_create_image(kreq *r, const char *id, json_t *arg)
{
	static const char *const keys[] = { "name", "metadata", NULL };
	if (!json_is_object(arg)) {
		bad_input(r, "createImage", arg, "The value is not of type 'object'");
		return;
	}
	if (!check_keys(r, "createImage", arg, keys))
		return;
	json_t *name = json_object_get(arg, "name"), *meta = json_object_get(arg, "metadata");
	if (!name) {
		bad_input(r, "createImage", arg, "'name' is a required property");
		return;
	}
	if (!check_name(r, "name", name) || (meta && !check_metadata(r, meta)))
		return;

	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:servers:create_image", inst))
		return;
	if (meta && json_object_size(meta) > 0) {
		long max = cmp_quota_limit(str_or(inst, "project_id", ""), "metadata_items");
		if (max >= 0 && (long)json_object_size(meta) > max) {
			kresp_error(r, 403, "Image metadata limit exceeded");
			return;
		}
	}
	/* no lock check: a lock guards against changes, a snapshot is none */
	static const char *const vm[] = { CMP_VM_ACTIVE, CMP_VM_STOPPED, CMP_VM_PAUSED,
	                                  CMP_VM_SUSPENDED, NULL };
	begin_spec b = { "createImage", vm, only_none, "image_snapshot", false };
	if (!begin(r, inst, &b))
		return;
	const char *image_id = create_snapshot_record(r, inst, json_string_value(name), meta);
	if (!image_id) {
		abandon(inst, b.new_task);
		return;
	}
	if (!record_and_cast(r, inst, "createImage", "snapshot_instance",
	                     json_pack("{s:s}", "image_id", image_id), b.new_task)) {
		kclient_json("image", "DELETE", kpool_printf(r->pool, "/v2/images/%s", image_id),
		             r->ctx ? r->ctx->token : NULL, NULL, NULL, NULL);
		return;
	}
	_cleanup_free_ char *ep = kclient_endpoint("image");
	if (ep)
		kresp_header(r, "Location", kpool_printf(r->pool, "%s/v2/images/%s", ep, image_id));
	kresp_status(r, 202);
}

/* ------------------------------------------------------------------------ */
/* os-getConsoleOutput */

/* The last n lines ("\n"-separated, as Nova's _tail_log); n < 0 = all. */
static const char *tail_lines(kreq *r, const char *s, int64_t n)
{
	if (n < 0)
		return s;
	if (n == 0)
		return "";
	const char *p = s + strlen(s);
	int64_t seen = 0;
	while (p > s) {
		if (p[-1] == '\n' && ++seen == n)
			break;
		p--;
	}
	return kpool_strdup(r->pool, p);
}

/* Drop the control characters [\x00-\x08\x0B-\x1F] (Nova filters them). */
static char *strip_controls(kreq *r, const char *s)
{
	char *out = kpool_alloc(r->pool, strlen(s) + 1), *o = out;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 && c != '\t' && c != '\n')
			continue;
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

static void act_console_output(kreq *r, const char *id, json_t *arg)
{
	static const char *const keys[] = { "length", NULL };
	if (!json_is_object(arg)) {
		bad_input(r, "os-getConsoleOutput", arg, "The value is not of type 'object'");
		return;
	}
	if (!check_keys(r, "os-getConsoleOutput", arg, keys))
		return;
	json_t *lv = json_object_get(arg, "length");
	int64_t length = -1;
	if (json_is_integer(lv)) {
		length = json_integer_value(lv);
	} else if (json_is_string(lv)) {
		const char *s = json_string_value(lv), *p = s + (*s == '-');
		bool digits = *p != '\0';
		for (; *p && digits; p++)
			digits = *p >= '0' && *p <= '9';
		if (!digits) {
			bad_input(r, "length", lv, "The value does not match '^-?[0-9]+$'");
			return;
		}
		length = strtoll(s, NULL, 10);
	} else if (lv && !json_is_null(lv)) {
		bad_input(r, "length", lv, "The value is not of type 'integer', 'string', 'null'");
		return;
	}
	if (length < -1) {
		bad_input(r, "length", lv, "%" PRId64 " is less than the minimum of -1", length);
		return;
	}

	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:os-console-output", inst))
		return;
	const char *task = kjson_str(inst, "task_state");
	if (!host_of(inst) || (task && strcmp(task, "deleting") == 0)) {
		kresp_error(r, 409, "Instance %s is not ready", id);
		return;
	}
	_cleanup_json_ json_t *args = json_pack("{s:s,s:o}", "instance_id", id, "length",
	                                        length >= 0 ? json_integer(length) : json_null());
	json_t *reply = NULL;
	int rc = kbus_call(kumo_bus, kpool_printf(r->pool, "compute.%s", host_of(inst)),
	                   "get_console_output", args, &reply, CONSOLE_TIMEOUT_MS);
	_cleanup_json_ _unused_ json_t *own = reply;
	if (rc != 0) {
		klog_warn("compute", "get_console_output of %s: the agent of %s did not answer "
		          "(%d)", id, host_of(inst), rc);
		kresp_error(r, 409, "Instance %s is not ready", id);
		return;
	}
	const char *out = kjson_str(reply, "output");
	if (!out) {
		kresp_error(r, 404, "Guest does not have a console available.");
		return;
	}
	out = strip_controls(r, tail_lines(r, out, length));
	kresp_json(r, 200, json_pack("{s:s}", "output", out));
}

/* os-getVNCConsole: the console proxy (console.c) mints the token */
static void act_vnc_console(kreq *r, const char *id, json_t *arg)
{
	json_t *inst = cmp_instance_get(r, id);
	if (inst)
		cmp_console_get_vnc(r, inst, arg);
}

/* ------------------------------------------------------------------------ */
/* The dispatcher */

typedef void (*action_fn)(kreq *r, const char *id, json_t *arg);

static const struct {
	const char *name;
	action_fn fn;
} actions[] = {
	{ "reboot", act_reboot },
	{ "os-stop", act_stop },
	{ "os-start", act_start },
	{ "pause", act_pause },
	{ "unpause", act_unpause },
	{ "suspend", act_suspend },
	{ "resume", act_resume },
	{ "lock", act_lock },
	{ "unlock", act_unlock },
	{ "rebuild", act_rebuild },
	{ "resize", act_resize },
	{ "confirmResize", act_confirm_resize },
	{ "revertResize", act_revert_resize },
	{ "createImage", act_create_image },
	{ "os-getConsoleOutput", act_console_output },
	{ "os-getVNCConsole", act_vnc_console },
};

static void post_action(kreq *r)
{
	const char *id = kreq_param(r, "server_id");
	json_t *body = kreq_json(r);
	if (!body)
		return;
	if (!json_is_object(body) || json_object_size(body) != 1) {
		kresp_error(r, 400, "Malformed request body");
		return;
	}
	void *it = json_object_iter(body);
	const char *name = json_object_iter_key(it);
	json_t *arg = json_object_iter_value(it);
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
		if (strcmp(actions[i].name, name) == 0) {
			actions[i].fn(r, id, arg);
			return;
		}
	kresp_error(r, 400, "There is no such action: %s", name);
}

/* ------------------------------------------------------------------------ */
/* os-instance-actions */

/* "2026-11-26T07:10:00.000000" (Nova's instance action times), or null. */
static json_t *action_time(const json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	if (!json_is_integer(v))
		return json_null();
	char buf[32];
	kutil_iso8601_us(json_integer_value(v), buf);
	size_t n = strlen(buf);
	if (n && buf[n - 1] == 'Z')
		buf[n - 1] = '\0';
	return json_string(buf);
}

static json_t *action_view(const json_t *row)
{
	json_t *msg = json_object_get(row, "message");
	return json_pack("{s:s,s:s,s:O,s:s,s:s,s:o,s:s}",
	                 "action", str_or(row, "action", ""),
	                 "instance_uuid", str_or(row, "instance_id", ""),
	                 "message", json_is_string(msg) ? msg : json_null(),
	                 "project_id", str_or(row, "project_id", ""),
	                 "request_id", str_or(row, "request_id", ""),
	                 "start_time", action_time(row, "start_time"),
	                 "user_id", str_or(row, "user_id", ""));
}

static void list_instance_actions(kreq *r)
{
	const char *id = kreq_param(r, "server_id");
	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:os-instance-actions:list", inst))
		return;
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db,
		"SELECT action, instance_id, message, project_id, request_id, start_time, user_id "
		"FROM cmp_instance_action WHERE instance_id = ? ORDER BY start_time DESC, id DESC",
		"s", id);
	if (!rows) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_array_append_new(out, action_view(row));
	kresp_json(r, 200, json_pack("{s:o}", "instanceActions", out));
}

static void show_instance_action(kreq *r)
{
	const char *id = kreq_param(r, "server_id");
	const char *req_id = kreq_param(r, "request_id");
	json_t *inst = cmp_instance_get(r, id);
	if (!inst || !enforce(r, "os_compute_api:os-instance-actions:show", inst))
		return;
	bool found = false;
	_cleanup_json_ json_t *row = kdb_query_row(cmp_db, &found,
		"SELECT id, action, instance_id, message, project_id, request_id, start_time, "
		"user_id FROM cmp_instance_action WHERE instance_id = ? AND request_id = ?",
		"ss", id, req_id);
	if (!row) {
		if (found)
			internal_error(r);
		else
			kresp_error(r, 404, "Action %s not found", req_id);
		return;
	}
	json_t *view = action_view(row);
	/* events: admins by default (policy os-instance-actions:events), asked
	 * without answering 403 */
	_cleanup_json_ json_t *creds = kctx_to_creds(r->ctx);
	json_object_set_new(creds, "is_admin", json_boolean(cmp_is_admin(r)));
	_cleanup_json_ json_t *target = policy_target(inst);
	if (cmp_policy && kpolicy_check(cmp_policy, "os_compute_api:os-instance-actions:events",
	                                creds, target)) {
		_cleanup_json_ json_t *evs = kdb_query_json(cmp_db,
			"SELECT event, start_time, finish_time, result, traceback FROM "
			"cmp_instance_action_event WHERE action_id = ? ORDER BY start_time, id",
			"i", int_of(row, "id"));
		json_t *events = json_array();
		size_t i;
		json_t *e;
		json_array_foreach(evs, i, e) {
			json_t *res = json_object_get(e, "result");
			json_t *tb = json_object_get(e, "traceback");
			json_array_append_new(events, json_pack("{s:s,s:o,s:o,s:O,s:O}",
				"event", str_or(e, "event", ""),
				"start_time", action_time(e, "start_time"),
				"finish_time", action_time(e, "finish_time"),
				"result", json_is_string(res) ? res : json_null(),
				"traceback", json_is_string(tb) ? tb : json_null()));
		}
		json_object_set_new(view, "events", events);
	}
	kresp_json(r, 200, json_pack("{s:o}", "instanceAction", view));
}

const kroute cmp_action_routes[] = {
	{ "POST", "/v2.1/servers/{server_id}/action", post_action, 0 },
	{ "GET", "/v2.1/servers/{server_id}/os-instance-actions", list_instance_actions, 0 },
	{ "GET", "/v2.1/servers/{server_id}/os-instance-actions/{request_id}",
	  show_instance_action, 0 },
};
const size_t cmp_action_nroutes = ARRAY_SIZE(cmp_action_routes);
