/*
 * network.h - the Network service (OpenStack Neutron v2.0 API) and its
 * agents, internal API.
 *
 * Layout of this folder:
 *   service.c     the kservice (port 9696): routes, Neutron's error dialect
 *                 {"NeutronError": {"type", "message", "detail"}}, version
 *                 document, extensions list, init (db, policy, agents start)
 *   schema.c      the network database (tables below)
 *   common.c      what every resource handler shares: filters / fields /
 *                 sorting / pagination of list calls, standard attributes
 *                 (created_at, updated_at, revision_number, tags,
 *                 project_id + tenant_id), quota checks, change notifications
 *   policy.c      Neutron's default policy rules, net_enforce()
 *   ipam.c        IP address management: allocation from pools, validation
 *   networks.c subnets.c subnetpools.c ports.c      L2 resources (API)
 *   secgroups.c   security groups and rules (API)
 *   routers.c floatingips.c                         L3 resources (API)
 *   quotas.c agents_api.c                           the rest of the API
 *   agent/        the data plane (the seed's linuxbridge, DHCP, metadata and
 *                 L3 agents), one file each: l2.c (bridges, taps, VLAN/VXLAN),
 *                 firewall.c (nftables security groups + anti-spoofing),
 *                 dhcp.c (qdhcp namespaces, dnsmasq), metadata.c (the
 *                 metadata proxy), l3.c (qrouter namespaces, SNAT, floating
 *                 IPs), netlink.c/ipcmd.c (mechanisms to run `ip`, `nft`...)
 *
 * API -> agents: every API write that changes the data plane calls
 * net_notify(type, id); agents listen on the bus (fanout topic
 * "network-agent") and also reconcile everything from the database at start
 * and periodically, so a lost notification is only a delay.  In the
 * all-in-one the agents run as threads of the kumo process; ports they own
 * (DHCP ports) are created through the same model functions the API uses.
 *
 * Tables (SQL in schema.c; times are int64 microseconds; booleans INTEGER):
 *   net_network(id, project_id, name, description, admin_state_up, status,
 *       shared, router_external, mtu, port_security_enabled, network_type,
 *       physical_network, segmentation_id, availability_zone_hints,
 *       created_at, updated_at, revision_number)
 *   net_subnet(id, project_id, network_id, name, description, ip_version,
 *       cidr, gateway_ip, enable_dhcp, ipv6_ra_mode, ipv6_address_mode,
 *       subnetpool_id, created_at, updated_at, revision_number)
 *   net_allocation_pool(subnet_id, first_ip, last_ip)
 *   net_dns_nameserver(subnet_id, address, ord)
 *   net_host_route(subnet_id, destination, nexthop)
 *   net_subnetpool(id, project_id, name, description, ip_version,
 *       default_prefixlen, min_prefixlen, max_prefixlen, shared, is_default,
 *       default_quota, address_scope_id, created_at, updated_at, revision_number)
 *   net_subnetpool_prefix(subnetpool_id, cidr)
 *   net_port(id, project_id, network_id, name, description, mac_address,
 *       admin_state_up, status, device_id, device_owner,
 *       port_security_enabled, binding_host_id, binding_vif_type,
 *       binding_vnic_type, binding_profile, binding_vif_details,
 *       created_at, updated_at, revision_number)        UNIQUE(network_id, mac_address)
 *   net_ip_allocation(port_id, subnet_id, network_id, ip_address)
 *       PRIMARY KEY(subnet_id, ip_address)
 *   net_allowed_address_pair(port_id, ip_address, mac_address)
 *   net_extra_dhcp_opt(port_id, opt_name, opt_value, ip_version)   (step 2)
 *       PRIMARY KEY(port_id, opt_name, ip_version)
 *   net_security_group(id, project_id, name, description, stateful,
 *       created_at, updated_at, revision_number)
 *   net_security_group_rule(id, project_id, security_group_id, direction,
 *       ethertype, protocol, port_range_min, port_range_max,
 *       remote_ip_prefix, remote_group_id, remote_address_group_id,
 *       description, created_at, updated_at, revision_number)
 *   net_port_security_group(port_id, security_group_id)
 *   net_default_security_group(project_id PRIMARY KEY, security_group_id)
 *   net_router(id, project_id, name, description, admin_state_up, status,
 *       gw_network_id, gw_port_id, enable_snat, created_at, updated_at,
 *       revision_number)
 *   net_router_route(router_id, destination, nexthop)
 *   net_floatingip(id, project_id, floating_network_id, floating_port_id,
 *       floating_ip_address, port_id, fixed_ip_address, router_id, status,
 *       description, created_at, updated_at, revision_number)
 *   net_quota(project_id, resource, hard_limit)   PRIMARY KEY(project_id, resource)
 *   net_agent(id, agent_type, binary_name, host, topic, admin_state_up,
 *       heartbeat_at, started_at, created_at, configurations, availability_zone,
 *       description)                               UNIQUE(agent_type, host)
 *   net_tag(resource_type, resource_id, tag)      PRIMARY KEY(all three)
 * Router interfaces and gateways are ports (device_owner
 * "network:router_interface" / "network:router_gateway", device_id = router
 * id); DHCP ports have device_owner "network:dhcp"; floating IP ports
 * "network:floatingip".
 */
#ifndef KUMO_NETWORK_H
#define KUMO_NETWORK_H

#include <jansson.h>
#include "core/db.h"
#include "core/http.h"
#include "core/policy.h"

extern kservice network_service;
extern kdb *net_db;
extern kpolicy *net_policy;

/* ---- service.c ---- */
/* {"NeutronError": {"type": <type>, "message": <message>, "detail": ""}};
 * the type comes from the status unless set with net_error(). */
void net_error_body(kreq *r, int status, const char *message);
/* Error with Neutron's exception type name: net_error(r, 409, "IpAddressInUse",
 * "Unable to complete operation for network %s. The IP address %s is in use.", ...) */
void net_error(kreq *r, int status, const char *type, const char *fmt, ...) _printf_(4, 5);
int net_db_sync(void);

/* Route tables joined by service.c. */
extern const kroute net_l2_routes[];      /* networks, subnets, subnetpools, ports (+ extensions, quotas, agents) */
extern const size_t net_l2_nroutes;
extern const kroute net_sg_routes[];      /* security groups and rules */
extern const size_t net_sg_nroutes;
extern const kroute net_l3_routes[];      /* routers, floating IPs */
extern const size_t net_l3_nroutes;
extern const kroute net_port_routes[];    /* ports (ports.c) */
extern const size_t net_port_nroutes;
extern const kroute net_agent_routes[];   /* agents (agents_api.c) */
extern const size_t net_agent_nroutes;

/* ---- policy.c ---- */
int net_policy_init(void);
/* Check "create_network", "get_port", "create_network:shared",
 * "create_network:provider:physical_network" ... for r->ctx against the
 * target resource (with "project_id"/"tenant_id"); on denial answers 403
 * (or 404 for reads of invisible resources, as Neutron does) and returns false. */
bool net_enforce(kreq *r, const char *action, json_t *target);
/* The caller's project (r->ctx->project_id) and whether it is admin. */
bool net_is_admin(kreq *r);

/* ---- common.c ---- */
/* Notify the agents that a resource changed ("network", "subnet", "port",
 * "security_group", "router", "floatingip"); cheap, never blocks. */
void net_notify(const char *type, const char *id);

/* ---- agents (agent/) ---- */
int net_agents_start(void);   /* from service start(): threads for l2/dhcp/l3/metadata */
void net_agents_stop(void);

#endif
