/*
 * ports.h - what ports.c and secgroups.c offer the rest of the Network
 * service: ports made by the service itself (router interfaces and gateways,
 * floating IP ports, DHCP ports), lookups, status and binding changes made by
 * the agents, and the per-project default security group.
 *
 * Conventions are common.h's: functions taking a kreq answer it themselves on
 * error (Neutron's error body) and return NULL / false / -1; functions
 * without one log instead.  All writes may run inside the caller's kdb
 * transaction (kdb_begin nests): on failure the caller rolls back, so nothing
 * is half-created.  Every change calls net_notify("port", id) (or
 * "security_group") so the agents learn about it.
 */
#ifndef KUMO_NETWORK_PORTS_H
#define KUMO_NETWORK_PORTS_H

#include <jansson.h>
#include "core/http.h"
#include "network.h"

/* ---- ports (ports.c) ---- */

/*
 * A port made by the service (router interface / gateway, floating IP,
 * DHCP): no policy, no quota, no security groups (device owners "network:*"
 * are trusted, as in Neutron), port_security_enabled inherited from the
 * network, status DOWN.  fixed_ips NULL = automatic (one address from the
 * first IPv4 subnet with room, one from the first stateful IPv6 subnet, and
 * every SLAAC subnet: Neutron's default, see ipam.h); else
 * [{"subnet_id"?, "ip_address"?}] validated as for POST /v2.0/ports.  On
 * error answers r (IpAddressAlreadyAllocated 409, InvalidIpForSubnet 400,
 * IpAddressGenerationFailure 409, NetworkNotFound 404...) and returns NULL;
 * else the port's API view, owned by r->pool.
 */
json_t *net_port_create_internal(kreq *r, const char *project_id, const char *network_id,
                                 const char *device_id, const char *device_owner,
                                 const json_t *fixed_ips);

/* The same for callers without a request (the agents): host (may be NULL)
 * becomes binding:host_id.  Returns a new reference to the port's view, or
 * NULL with Neutron's message in err (status in *status when not NULL). */
json_t *net_port_create_agent(const char *project_id, const char *network_id,
                              const char *device_id, const char *device_owner,
                              const char *host, const json_t *fixed_ips,
                              int *status, char *err, size_t errlen);

/* Delete a port (IP allocations, security group bindings, address pairs,
 * tags; floating IPs on it are disassociated) without the L3 checks of the
 * API; 0 ok (also when it did not exist), -1 error.  Notifies. */
int net_port_delete_internal(const char *port_id);
/* Delete every port with this device_id (and device_owner when not NULL);
 * the number deleted or -1. */
int net_port_delete_by_device(const char *device_id, const char *device_owner);
/* Set device_id + device_owner (router interface by port_id, the FIP port's
 * device_id); 0, or -1 when the port does not exist / on error. */
int net_port_set_device(const char *port_id, const char *device_id, const char *device_owner);
/* Port status as the agents see it: "ACTIVE", "DOWN", "BUILD", "ERROR";
 * bumps revision_number only on a change.  0 / -1. */
int net_port_set_status(const char *port_id, const char *status);
/* binding:host_id (NULL or "" = unbind); vif_type/vif_details follow as on
 * the API.  0 / -1. */
int net_port_set_host(const char *port_id, const char *host);
/* A port's API view without policy (owned by pool), NULL when it does not
 * exist. */
json_t *net_port_get(kpool *pool, const char *port_id);
/* New reference to the API views of the ports of a network (NULL = all),
 * optionally only one device_owner; NULL on error. */
json_t *net_port_list_internal(const char *network_id, const char *device_owner);

/* ---- security groups (secgroups.c) ---- */

/*
 * The project's security group "default", created on first use with
 * Neutron's default rules (ingress from the group itself and egress to
 * anywhere, IPv4 and IPv6).  As in Neutron a non-admin caller never creates
 * it for another project: *id_out is then NULL.  r may be NULL (the
 * service itself, no policy).  id_out (may be NULL) gets the group's id in
 * r's pool; with r == NULL it is left NULL.  Returns false after answering
 * 500 (a database error).
 */
bool net_sg_ensure_default(kreq *r, const char *project_id, const char **id_out);
/*
 * Check the security groups a port asks for (array of ids, as the API
 * accepted them): every one must exist and belong to project_id (any project
 * for admins): else 404 SecurityGroupNotFound "Security group <ids> does not
 * exist"; stateful and stateless groups cannot be mixed (409
 * SecurityGroupConflict).  Duplicates are removed in place.
 */
bool net_sg_check_port_groups(kreq *r, const char *project_id, json_t *ids);

#endif
