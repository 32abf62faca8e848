/*
 * agent.h - what the compute agent's files share (manager.c, vif.c).  The
 * virt driver interface itself is in ../compute.h.
 *
 * manager.c owns the agent's lifecycle, its bus methods, the work queue and
 * the instance state machine; vif.c is os-vif's and Nova's network API
 * role: it creates, binds, lists and removes an instance's ports through
 * the Network API (service token) and asks this host's L2 agent for the
 * bridges, recording everything in cmp_instance_port (the network info
 * cache that the server view shows as "addresses").
 */
#ifndef KUMO_COMPUTE_AGENT_H
#define KUMO_COMPUTE_AGENT_H

#include <jansson.h>
#include "../compute.h"

/* ---- manager.c ---- */

/* Test hook: when set before cmp_agent_start(), this driver is used
 * instead of [compute] virt_driver (unit tests plug in a test double). */
extern const cmp_virt_driver *cmp_agent_driver_override;

/* Run the periodic tasks once now (power-state sync, resource report,
 * network info cache refresh), for tests. */
void cmp_agent_run_periodic(void);
/* Jobs queued or running on the agent's work queue (tests wait on it). */
size_t cmp_agent_pending(void);

/* ---- vif.c ---- */

/*
 * Ports for a new instance, per its requested_networks ([{"network_id",
 * "port_id", "fixed_ip", "preexisting"}]): new ports are created (POST
 * /v2.0/ports), requested ones bound (PUT); each gets a cmp_instance_port
 * row (ord = its position) as soon as it exists, then its network's bridge
 * (call "l2_agent.<host>" ensure_network).  Returns the vifs for the driver
 * ([{"port_id","mac","tap","bridge","mtu","network_id"}], new reference),
 * or NULL with a reason in err.  What was made before a failure stays
 * recorded: cmp_vif_deallocate() removes it.
 */
json_t *cmp_vif_allocate(const json_t *inst, char *err, size_t errlen);
/* The vifs of an existing instance from its rows (bridges ensured again,
 * as after a host reboot), for rebuild, resize, start, reboot.  New
 * reference; [] when it has none; NULL with err when a bridge fails. */
json_t *cmp_vif_list(const char *instance_id, char *err, size_t errlen);
/* Remove an instance's ports: the ones the agent created are deleted, the
 * requested (pre-existing) ones unbound; also ports found with device_id =
 * the instance that no row names (a crash between POST and INSERT).  Then
 * the rows go.  Best effort, logged. */
void cmp_vif_deallocate(const json_t *inst);
/* Refresh the instance's rows from the Network API: fixed IPs and MACs of
 * its ports, floating IPs (type "floating").  0, or -1 when the Network API
 * did not answer (rows unchanged). */
int cmp_vif_refresh(const char *instance_id);
/* Tell this host's L2 agent that taps appeared (cast port_plugged). */
void cmp_vif_plugged(void);

#endif
