/*
 * compute.h - the Compute service (OpenStack Nova v2.1 API, scheduler,
 * conductor and the compute agent), internal API.  This header is the
 * contract between the files of this folder: read it first.
 *
 * Layout of this folder (one prefix, cmp_):
 *   service.c    the kservice (port 8774, catalog URL .../v2.1): Nova's error
 *                dialect, version documents, microversions (2.1 - 2.2), the
 *                route table, lifecycle (starts scheduler, conductor, agent)
 *   schema.c     the compute database (tables below), seeded with m1.* flavors
 *   common.c     what every handler shares: policy (cmp_enforce), instance
 *                lookup and the server view, status mapping, state updates,
 *                faults, instance actions and events, quotas
 *   flavors.c keypairs.c servers.c actions.c misc.c     the API
 *   images.c     Nova's image proxy (/v2.1/images, relayed to the image service)
 *   interfaces.c os-interface (a server's ports) and os-server-password
 *   scheduler.c  filters + weighers + an atomic claim (topic "scheduler")
 *   conductor.c  build orchestration and retries (topic "conductor")
 *   agent/       the compute agent (topic "compute.<host>"): manager.c (bus
 *                methods, work queue, state machine, power-state sync,
 *                adoption, heartbeats and resource reports), vif.c (ports via
 *                the Network API, bridges via the network agent), the virt
 *                drivers libvirt.c (+ imagecache.c: _base and qcow2 overlays)
 *                and fake.c (scheduler benchmarks only)
 *
 * The boot flow (the seed's section 九):
 *   POST /servers (servers.c): validate flavor, image (GET /v2/images/{id}
 *     with the user's token), networks/ports/security groups (Network API),
 *     quota; insert cmp_instance rows (vm_state building, task_state
 *     scheduling), record action "create"; cast conductor "build_instances";
 *     answer 202 at once.
 *   conductor.c: for each instance call scheduler "select_destinations";
 *     NoValidHost -> ERROR + fault; else set host/node and cast
 *     "compute.<host>" "build_and_run_instance".
 *   agent/manager.c: task_state networking (ports: vif.c), block_device_mapping,
 *     spawning (driver spawn: image cache, overlay, domain, start), then
 *     vm_state active, power_state running, launched_at.  On failure:
 *     clean up, release the claim, cast conductor "build_instances" again with
 *     the host in ignore_hosts (at most [compute] max_attempts = 3), then ERROR.
 *
 * Bus (src/core/bus.h; handlers must return fast: long work goes on a
 * kworkq of the component, src/core/workq.h):
 *   "conductor"       cast build_instances {"instance_ids": [...], "attempt": 1,
 *                          "ignore_hosts": [...]}
 *   "scheduler"       call select_destinations {"instance_id", "ignore_hosts": [...]}
 *                          -> {"host": "h", "node": "h"} | {"error": "No valid host ..."}
 *                          (the claim, a cmp_allocation row, is made before answering)
 *   "compute.<host>"  casts with {"instance_id", "request_id", ...}:
 *                          build_and_run_instance, terminate_instance,
 *                          reboot_instance {"reboot_type": "SOFT"|"HARD"},
 *                          stop_instance, start_instance, pause_instance,
 *                          unpause_instance, suspend_instance, resume_instance,
 *                          rebuild_instance {"image_ref", "image": {...}},
 *                          resize_instance {"flavor": {...}}, confirm_resize,
 *                          revert_resize, snapshot_instance {"image_id"}
 *                     calls: get_console_output {"instance_id", "length"}
 *                          -> {"output": "..."}; get_vnc_console {"instance_id"}
 *                          -> {"host", "port"}
 *   "l2_agent.<host>" call ensure_network {"network_id"} -> {"bridge": "brq..."}
 *                     (network service: the bridge exists, with its uplink);
 *                     cast port_plugged {} (the L2 agent looks for new taps now)
 *
 * Tables (SQL in schema.c; times int64 microseconds; booleans INTEGER 0/1;
 * JSON columns are TEXT holding JSON):
 *   cmp_flavor(id TEXT PK "1".."5" or uuid, name UNIQUE, memory_mb, vcpus,
 *       root_gb, ephemeral_gb, swap, rxtx_factor REAL, is_public, disabled,
 *       description, created_at, updated_at)
 *   cmp_flavor_extra_spec(flavor_id, spec_key, spec_value)  PK(flavor_id, spec_key)
 *   cmp_flavor_access(flavor_id, project_id)                PK(both)
 *   cmp_keypair(id INTEGER PK autoincrement, user_id, name, type ("ssh"|"x509"),
 *       public_key, fingerprint, created_at)                UNIQUE(user_id, name)
 *   cmp_instance(id TEXT PK uuid, project_id, user_id, name, hostname,
 *       description, image_ref ("" when none), image JSON (the image's
 *       metadata at boot: id, name, disk_format, container_format, min_disk,
 *       min_ram, size, properties{}), flavor_id, flavor JSON (cmp_flavor_view
 *       at boot, with extra_specs), old_flavor JSON, new_flavor JSON (resize),
 *       vcpus, memory_mb, root_gb, ephemeral_gb, swap (of the current flavor),
 *       vm_state, task_state (NULL = none), power_state, host, node,
 *       availability_zone, key_name, key_data, user_data (base64 as given),
 *       config_drive ("" or "True"), access_ip_v4, access_ip_v6, locked,
 *       locked_by ("owner"|"admin"|NULL), progress, reservation_id, launch_index,
 *       requested_networks JSON ([{"network_id","port_id","fixed_ip",
 *       "preexisting": bool}] resolved by the API; [] = no NIC), security_groups
 *       JSON (names, as requested: ["default"]), security_group_ids JSON,
 *       server_group_id, launched_at, terminated_at, created_at, updated_at,
 *       deleted_at, deleted (0 | 1: soft-deleted, still listed with
 *       changes-since / deleted=true for admins))
 *   cmp_instance_metadata(instance_id, meta_key, meta_value)  PK(both keys)
 *   cmp_instance_fault(id INTEGER PK autoincrement, instance_id, code, message,
 *       details, host, created_at)
 *   cmp_instance_port(instance_id, port_id, network_id, network_name, mac,
 *       ips JSON ([{"addr","version","type":"fixed"|"floating","subnet_id"}]),
 *       preexisting, ord, tap, bridge, mtu)          PK(instance_id, port_id)
 *       (Nova's network info cache: the "addresses" of the view)
 *   cmp_instance_action(id INTEGER PK autoincrement, instance_id, action,
 *       request_id, user_id, project_id, start_time, finish_time, message,
 *       updated_at)                                   UNIQUE(instance_id, request_id)
 *   cmp_instance_action_event(id INTEGER PK autoincrement, action_id, event,
 *       start_time, finish_time, result, traceback, host, details)
 *   cmp_compute_node(host TEXT PK, hypervisor_hostname, hypervisor_type,
 *       hypervisor_version, vcpus, memory_mb, local_gb, cpu_info, host_ip,
 *       cpu_allocation_ratio REAL, ram_allocation_ratio REAL,
 *       disk_allocation_ratio REAL, reserved_host_memory_mb, reserved_host_disk_mb,
 *       availability_zone, created_at, updated_at)
 *   cmp_service(id INTEGER PK autoincrement, binary_name ("nova-compute",
 *       "nova-scheduler", "nova-conductor"), host, topic, disabled,
 *       disabled_reason, forced_down, report_count, last_seen_at, created_at,
 *       updated_at, uuid)                             UNIQUE(binary_name, host)
 *   cmp_allocation(instance_id TEXT PK, host, vcpus, memory_mb, disk_gb,
 *       created_at)      (the scheduler's claims; usage = SUM per host)
 *   cmp_quota(project_id, resource, hard_limit)     PK(both)
 *   cmp_server_group(id TEXT PK uuid, project_id, user_id, name, policy
 *       ("affinity"|"anti-affinity"|"soft-affinity"|"soft-anti-affinity"),
 *       rules JSON, created_at)
 *   cmp_server_group_member(group_id, instance_id)  PK(both)
 *
 * States (nova/compute/vm_states.py, task_states.py, power_state.py): the
 * strings below are stored as is.  Status (the API's) = cmp_status().
 */
#ifndef KUMO_COMPUTE_H
#define KUMO_COMPUTE_H

#include <jansson.h>
#include "core/db.h"
#include "core/http.h"
#include "core/policy.h"

extern kservice compute_service;
extern kdb *cmp_db;
extern kpolicy *cmp_policy;

/* Microversions: r->version = major * 1000 + minor (2.1 -> 2001). */
#define CMP_MIN_VERSION 2001
#define CMP_MAX_VERSION 2002
#define CMP_V(major, minor) ((major) * 1000 + (minor))

/* vm_state */
#define CMP_VM_BUILDING "building"
#define CMP_VM_ACTIVE "active"
#define CMP_VM_STOPPED "stopped"
#define CMP_VM_PAUSED "paused"
#define CMP_VM_SUSPENDED "suspended"
#define CMP_VM_RESIZED "resized"
#define CMP_VM_ERROR "error"
#define CMP_VM_DELETED "deleted"
/* power_state */
enum {
	CMP_POWER_NOSTATE = 0,
	CMP_POWER_RUNNING = 1,
	CMP_POWER_PAUSED = 3,
	CMP_POWER_SHUTDOWN = 4,
	CMP_POWER_CRASHED = 6,
	CMP_POWER_SUSPENDED = 7,
};

/* ---- service.c ---- */
/* Nova's error bodies: {"itemNotFound": {"code": 404, "message": ...}};
 * names by status: 400 badRequest, 401 (Keystone's shape), 403 forbidden,
 * 404 itemNotFound, 405 badMethod, 409 conflictingRequest, 413
 * overLimit, 406 HTTPNotAcceptable?? -> see service.c, 500 computeFault, 501
 * notImplemented, 503 serviceUnavailable. */
void cmp_error_body(kreq *r, int status, const char *message);
int cmp_db_sync(void);          /* schema.c */
/* This host's name ([DEFAULT] host, else gethostname()); static storage. */
const char *cmp_host(void);
/* Integer/bool/str [compute] options with defaults. */
long cmp_conf_int(const char *key, long def);
const char *cmp_conf_str(const char *key, const char *def);

/* Route tables joined by service.c. */
extern const kroute cmp_flavor_routes[];   extern const size_t cmp_flavor_nroutes;   /* flavors.c */
extern const kroute cmp_keypair_routes[];  extern const size_t cmp_keypair_nroutes;  /* keypairs.c */
extern const kroute cmp_server_routes[];   extern const size_t cmp_server_nroutes;   /* servers.c */
extern const kroute cmp_action_routes[];   extern const size_t cmp_action_nroutes;   /* actions.c */
extern const kroute cmp_misc_routes[];     extern const size_t cmp_misc_nroutes;     /* misc.c */
extern const kroute cmp_image_routes[];    extern const size_t cmp_image_nroutes;    /* images.c */
extern const kroute cmp_interface_routes[]; extern const size_t cmp_interface_nroutes; /* interfaces.c */

/* ---- common.c: policy ---- */
int cmp_policy_init(void);
/* Check a Nova policy ("os_compute_api:servers:create", ...; Nova's
 * defaults: admin_or_owner = "is_admin:True or project_id:%(project_id)s",
 * admin_api = "is_admin:True") against r->ctx with target (needs
 * "project_id"; NULL = the caller's project).  On denial answers 403
 * "Policy doesn't allow <action> to be performed." and returns false. */
bool cmp_enforce(kreq *r, const char *action, json_t *target);
bool cmp_is_admin(kreq *r);

/* ---- common.c: instances ---- */
/* An instance row (all columns; JSON columns parsed into JSON values), not
 * deleted, visible to the caller (own project, or admin); else answers 404
 * "Instance <id> could not be found." and returns NULL.  Pool-owned. */
json_t *cmp_instance_get(kreq *r, const char *id);
/* The row without any visibility check (agents, conductor); NULL if absent.
 * New reference.  include_deleted: also soft-deleted rows. */
json_t *cmp_instance_load(const char *id, bool include_deleted);
/* "ACTIVE", "BUILD", "REBOOT", "HARD_REBOOT", "REBUILD", "RESIZE",
 * "VERIFY_RESIZE", "REVERT_RESIZE", "SHUTOFF", "PAUSED", "SUSPENDED",
 * "ERROR", "DELETED", "UNKNOWN" from vm_state + task_state, as Nova's
 * nova/api/openstack/common.py status_from_state(). */
const char *cmp_status(const char *vm_state, const char *task_state);
/* The server as the API shows it (Nova's views/servers.py at r->version):
 * detail = false: {id, name, links}; true: everything incl. addresses,
 * flavor {id, links}, image {id, links} or "", metadata, fault (ERROR),
 * OS-EXT-* attributes (admin ones only for admins), security_groups,
 * key_name, progress, config_drive, locked (2.9+; not at 2.2), ...
 * New reference. */
json_t *cmp_server_view(kreq *r, const json_t *inst, bool detail);
/* Load metadata, ports and the newest fault of every instance row of the
 * array insts (one query per table) into each row's "_metadata" {k: v},
 * "_ports" [cmp_instance_port rows, ips parsed] and "_fault" (row or null);
 * cmp_server_view uses them when present (added by H-servers). */
void cmp_instance_attach(json_t *insts);
/* Nova's "addresses" from "_ports" rows: {network_name: [{version, addr}
 * (+ OS-EXT-IPS:type, OS-EXT-IPS-MAC:mac_addr when extended)]}. New ref. */
json_t *cmp_server_addresses(const json_t *ports, bool extended);

/*
 * Compare-and-set state: set vm_state/task_state/power_state (NULL or -1 =
 * leave; task_state CMP_TASK_NONE = set NULL) of instance id when its
 * current task_state is one of expect_task (a NULL-terminated list, where
 * CMP_TASK_ANY matches anything and CMP_TASK_NONE matches NULL; NULL list =
 * no check).  Bumps updated_at.  Extra columns: a JSON object of column ->
 * value ({"host": "h", "launched_at": 123, "progress": 100}) or NULL.
 * Returns 1 when updated, 0 when the state did not match (or no such
 * instance), -1 on a database error.
 */
#define CMP_TASK_NONE "\x01none"
#define CMP_TASK_ANY "\x01any"
int cmp_instance_update(const char *id, const char *vm_state, const char *task_state,
                        int power_state, const char *const *expect_task, json_t *extra);
/* The API side of an action: check the instance is not locked (409 "Instance
 * <id> is locked" unless admin), that its vm_state is one of allowed_vm
 * (NULL-terminated) and task_state is NULL, then set task_state to
 * new_task atomically.  On conflict answers 409 "Cannot '<action>' instance
 * <id> while it is in vm_state <s>" (Nova's InstanceInvalidState) or
 * "... while it is in task_state <t>" and returns false. */
bool cmp_instance_begin_task(kreq *r, const json_t *inst, const char *action,
                             const char *const *allowed_vm, const char *new_task);
/* Soft-delete: vm_state deleted, task_state NULL, deleted 1, deleted_at and
 * terminated_at now; also drops its allocation, ports cache, server group
 * membership and metadata stays (shown for deleted servers). 0/-1. */
int cmp_instance_mark_deleted(const char *id);
/* ERROR with a fault: vm_state error, task_state NULL, a cmp_instance_fault
 * row (code 500 unless given, message shown to users, details admin-only). */
void cmp_instance_set_error(const char *id, int code, const char *message, const char *details);

/* ---- common.c: instance actions (os-instance-actions) ---- */
/* Record an action from the API: (instance, action "create"|"delete"|
 * "reboot"|"stop"|"start"|"pause"|"unpause"|"suspend"|"resume"|"rebuild"|
 * "resize"|"confirmResize"|"revertResize"|"createImage"|"lock"|"unlock",
 * r->request_id, caller's user/project, start_time now). */
void cmp_action_start(kreq *r, const char *instance_id, const char *action);
/* Agent side: events of the action with that request id
 * ("compute_reboot_instance", ...).  finish: result "Success" | "Error";
 * an Error also sets the action's message "Error". */
void cmp_event_start(const char *instance_id, const char *request_id, const char *event);
void cmp_event_finish(const char *instance_id, const char *request_id, const char *event,
                      bool ok, const char *traceback);

/* ---- common.c: quotas (Nova's defaults: instances 10, cores 20, ram 51200,
 * metadata_items 128, key_pairs 100, server_groups 10, server_group_members
 * 10, injected_files 5, injected_file_content_bytes 10240,
 * injected_file_path_bytes 255; [quota] <name> overrides; -1 = unlimited) ---- */
long cmp_quota_limit(const char *project_id, const char *resource);
/* Would adding (instances, cores, ram) exceed the project's quota?  If so,
 * answer 403 "Quota exceeded for <res>: Requested <n>, but already used <u>
 * of <l> <res>" (Nova's message) and return false. */
bool cmp_quota_check_instances(kreq *r, const char *project_id, long instances, long cores,
                               long ram);
/* Usage counted from live (not deleted) rows: "instances", "cores", "ram",
 * "key_pairs" (for user_id), "server_groups". */
long cmp_quota_usage(const char *project_id, const char *user_id, const char *resource);

/* ---- flavors.c ---- */
/* The flavor as the API shows it (flavor detail view: id, name, ram, vcpus,
 * disk, OS-FLV-EXT-DATA:ephemeral, swap ("" when 0), rxtx_factor,
 * os-flavor-access:is_public, OS-FLV-DISABLED:disabled, links); with
 * extra_specs = true also "extra_specs": {...} (stored in instance.flavor).
 * NULL when it does not exist.  New reference. */
json_t *cmp_flavor_view(kreq *r, const char *flavor_id, bool extra_specs);
/* May the caller use the flavor (public, or the project has access, or admin)? */
bool cmp_flavor_usable(kreq *r, const char *flavor_id);

/* ---- keypairs.c ---- */
/* The caller's keypair row {name, public_key, type, fingerprint} or NULL. New ref. */
json_t *cmp_keypair_get(const char *user_id, const char *name);

/* ---- scheduler.c ---- */
int cmp_scheduler_start(void);    /* kbus_serve "scheduler" */
void cmp_scheduler_stop(void);
/* Pick and claim a host for the instance (exposed for benchmarks and unit
 * tests): 0 and host in out (size outlen), or -1 and the reason in out. */
int cmp_schedule(const json_t *inst, const json_t *ignore_hosts, char *out, size_t outlen);
/* Drop an instance's claim (delete, failed build, resize revert). */
void cmp_allocation_release(const char *instance_id);
/* Forget the scheduler's cached host states (Nova's HostManager view): the
 * next cmp_schedule() reloads them (it also does on its own every second). */
void cmp_scheduler_invalidate(void);
/* Keep this host's cmp_service row (binary_name, cmp_host(), topic) alive:
 * created or refreshed now, then last_seen_at / report_count every [compute]
 * report_interval s by a thread, until cmp_service_beat_stop(binary). 0/-1.
 * (nova-scheduler and nova-conductor use it; the agent may for nova-compute.) */
int cmp_service_beat_start(const char *binary, const char *topic);
void cmp_service_beat_stop(const char *binary);

/* ---- conductor.c ---- */
int cmp_conductor_start(void);    /* kbus_serve "conductor" + its kworkq */
void cmp_conductor_stop(void);

/* ---- agent/ ---- */
/* The compute agent of this host ([compute] agent = true, the default;
 * [compute] virt_driver = libvirt | fake). */
int cmp_agent_start(void);
void cmp_agent_stop(void);

/* The virt driver interface (agent/libvirt.c, agent/fake.c). */
typedef struct cmp_spawn {
	const json_t *inst;      /* the instance row (JSON columns parsed) */
	const json_t *vifs;      /* [{"port_id","mac","tap","bridge","mtu","network_id"}] */
	const char *admin_pass;  /* may be NULL */
	const char *config_drive_path;   /* an ISO to attach as cdrom, or NULL */
} cmp_spawn;

typedef struct cmp_virt_driver {
	const char *name;                        /* "libvirt", "fake" */
	int (*init)(void);
	void (*fini)(void);
	/* {"vcpus", "memory_mb", "local_gb", "hypervisor_type", "hypervisor_version",
	 *  "hypervisor_hostname", "cpu_info"} new reference */
	json_t *(*host_info)(void);
	/* This cloud's domains on this host: {instance uuid: power_state}. */
	json_t *(*list_instances)(void);
	/* Build the disk(s) and the domain and start it. 0, or -1 with err set. */
	int (*spawn)(const cmp_spawn *s, char *err, size_t errlen);
	/* Remove the domain and (unless keep_disks) its files.  Absent = 0. */
	int (*destroy)(const char *uuid, bool keep_disks);
	int (*power_off)(const char *uuid, int timeout_s);  /* graceful, then forced */
	int (*power_on)(const char *uuid);
	int (*reboot)(const char *uuid, bool hard);
	int (*pause)(const char *uuid);
	int (*unpause)(const char *uuid);
	int (*suspend)(const char *uuid);
	int (*resume)(const char *uuid);
	int (*power_state)(const char *uuid);              /* CMP_POWER_*; -1 = no domain */
	/* The last max_bytes of the serial console (malloc'd, "" when none). */
	char *(*console_log)(const char *uuid, size_t max_bytes);
	/* A standalone qcow2 of the root disk (flattened) at out_path. */
	int (*snapshot)(const char *uuid, const char *out_path, char *err, size_t errlen);
	/* Resize in place on this host: keep the old disk/domain for revert,
	 * grow the disk to the new flavor, redefine with its vcpus/memory, start.
	 * finish: confirm (drop the backup) or revert (restore and start). */
	int (*migrate_disk_and_power_off)(const cmp_spawn *s, char *err, size_t errlen);
	int (*finish_migration)(const cmp_spawn *s, char *err, size_t errlen);
	int (*confirm_migration)(const char *uuid);
	int (*finish_revert_migration)(const cmp_spawn *s, char *err, size_t errlen);
	/* VNC server of the domain: host and port (issue 6). 0/-1. */
	int (*vnc_address)(const char *uuid, char *host, size_t hostlen, int *port);
} cmp_virt_driver;

extern const cmp_virt_driver cmp_libvirt_driver, cmp_fake_driver;

/* ---- issue 6: reaching the VM ---- */
/* metadata.c: the metadata API (kservice "metadata", port 8775, no catalog
 * entry: guests reach it through the network service's metadata proxy). */
extern kservice cmp_metadata_service;
/* The OpenStack metadata tree of an instance for a config drive or the API:
 * {"openstack/latest/meta_data.json": "<json text>", "openstack/latest/user_data": ...,
 *  "openstack/2012-08-10/...", "ec2/latest/meta-data.json": ...} path -> content.
 * New reference; NULL on error. */
json_t *cmp_metadata_files(const json_t *inst);
/* configdrive.c: an ISO 9660 "config-2" image of cmp_metadata_files() at
 * path (genisoimage, as Nova builds it). 0, or -1 with err set. */
int cmp_configdrive_build(const json_t *inst, const char *path, char *err, size_t errlen);
/* console.c: the noVNC console proxy (kservice "console", port 6080, no catalog
 * entry) and the os-getVNCConsole action: answers {"console": {"type":
 * "novnc", "url": "<[compute] novncproxy_base_url>?token=..."}} for inst, or
 * Nova's 4xx (409 when the instance is not running). */
extern kservice cmp_console_service;
void cmp_console_get_vnc(kreq *r, const json_t *inst, json_t *args);
/* console.c: its WebSocket frame parser (exposed for tests/fuzz/fuzz_websocket.c).
 * Returns the frame's total length when buf[0..n) holds a whole client
 * frame, 0 when more bytes are needed, or -code (RFC 6455 close code: 1002
 * protocol error, 1009 payload above max_payload) when it is invalid. */
typedef struct cmp_ws_frame {
	bool fin, masked;
	int opcode;               /* 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong */
	unsigned char mask[4];
	size_t header_len;        /* the payload starts at buf + header_len */
	size_t payload_len;
} cmp_ws_frame;
long cmp_ws_parse(const unsigned char *buf, size_t n, size_t max_payload, cmp_ws_frame *f);

#endif
