/* common.c - placeholder until its author lands it (STUB). */
#include <stdio.h>
#include "compute.h"

kpolicy *cmp_policy;
int cmp_policy_init(void) { return 0; }
bool cmp_enforce(kreq *r, const char *action, json_t *target) { (void)r; (void)action; (void)target; return false; }
bool cmp_is_admin(kreq *r) { (void)r; return false; }
json_t *cmp_instance_get(kreq *r, const char *id) { (void)r; (void)id; return NULL; }
json_t *cmp_instance_load(const char *id, bool include_deleted) { (void)id; (void)include_deleted; return NULL; }
const char *cmp_status(const char *vm_state, const char *task_state) { (void)vm_state; (void)task_state; return "UNKNOWN"; }
json_t *cmp_server_view(kreq *r, const json_t *inst, bool detail) { (void)r; (void)inst; (void)detail; return NULL; }
int cmp_instance_update(const char *id, const char *vm_state, const char *task_state, int power_state, const char *const *expect_task, json_t *extra) { (void)id; (void)vm_state; (void)task_state; (void)power_state; (void)expect_task; (void)extra; return -1; }
bool cmp_instance_begin_task(kreq *r, const json_t *inst, const char *action, const char *const *allowed_vm, const char *new_task) { (void)r; (void)inst; (void)action; (void)allowed_vm; (void)new_task; return false; }
int cmp_instance_mark_deleted(const char *id) { (void)id; return -1; }
void cmp_instance_set_error(const char *id, int code, const char *message, const char *details) { (void)id; (void)code; (void)message; (void)details; }
void cmp_action_start(kreq *r, const char *instance_id, const char *action) { (void)r; (void)instance_id; (void)action; }
void cmp_event_start(const char *instance_id, const char *request_id, const char *event) { (void)instance_id; (void)request_id; (void)event; }
void cmp_event_finish(const char *instance_id, const char *request_id, const char *event, bool ok, const char *traceback) { (void)instance_id; (void)request_id; (void)event; (void)ok; (void)traceback; }
long cmp_quota_limit(const char *project_id, const char *resource) { (void)project_id; (void)resource; return -1; }
bool cmp_quota_check_instances(kreq *r, const char *project_id, long instances, long cores, long ram) { (void)r; (void)project_id; (void)instances; (void)cores; (void)ram; return true; }
long cmp_quota_usage(const char *project_id, const char *user_id, const char *resource) { (void)project_id; (void)user_id; (void)resource; return 0; }
