/*
 * ipam.h - IP address management of the Network service (ipam.c): address
 * math for IPv4 and IPv6, CIDR checks, and allocation of fixed IPs to ports
 * from subnets' allocation pools.
 *
 * Allocations are rows of net_ip_allocation, whose primary key (subnet_id,
 * ip_address) makes them race-free: an insert that loses a race hits the
 * constraint and the allocator tries the next free address.  All allocation
 * functions run inside the caller's transaction (kdb_begin ... commit): on
 * failure they answer the request and the caller rolls back, so nothing is
 * half-created.
 */
#ifndef KUMO_NETWORK_IPAM_H
#define KUMO_NETWORK_IPAM_H

#include <jansson.h>
#include "core/http.h"

/* ---- address math ---- */

typedef unsigned __int128 net_u128;

typedef struct net_ip {
	int version;        /* 4 or 6 (0 = invalid) */
	net_u128 v;         /* host-order value (IPv4 in the low 32 bits) */
} net_ip;

/* Strict parse ("10.0.0.1", "fd00::1"); false on anything else. */
bool net_ip_parse(const char *s, net_ip *out);
/* Canonical text (inet_ntop form) into buf (>= 46 bytes); returns buf. */
char *net_ip_format(const net_ip *ip, char *buf);
/* Canonical text of a string address (pool), NULL when invalid. */
const char *net_ip_canon(kpool *pool, const char *s);

typedef struct net_cidr {
	net_ip net;         /* network address (host bits zero) */
	int prefixlen;
} net_cidr;

/* Parse "a/n" (also a bare address as /32 or /128 when bare_ok).  The host
 * bits may be set (they are cleared in out); *had_host_bits tells. */
bool net_cidr_parse(const char *s, net_cidr *out, bool *had_host_bits);
/* "10.0.0.0/24" canonical text into buf (>= 50 bytes); returns buf. */
char *net_cidr_format(const net_cidr *c, char *buf);
net_u128 net_cidr_size(const net_cidr *c);            /* 2^(bits - prefixlen), saturated */
net_ip net_cidr_last(const net_cidr *c);              /* broadcast / last address */
bool net_cidr_contains(const net_cidr *c, const net_ip *ip);
bool net_cidr_overlap(const net_cidr *a, const net_cidr *b);
/* String conveniences: false when either side is invalid. */
bool net_ip_in_cidr_str(const char *ip, const char *cidr);
bool net_cidrs_overlap_str(const char *a, const char *b);

/* ---- subnets ---- */

/* The default allocation pools of a subnet (new array of {"start","end"}):
 * the cidr minus the network address, the IPv4 broadcast and the gateway. */
json_t *net_ipam_default_pools(const net_cidr *c, const char *gateway_ip);
/* Validate explicit pools (array of {"start","end"}) for cidr and gateway,
 * as Neutron's validate_allocation_pools: addresses valid, start <= end
 * (else 400 InvalidAllocationPool), same version and inside the usable
 * range of the cidr (400 OutOfBoundsAllocationPool), not overlapping each
 * other (409 OverlappingAllocationPools), not containing the gateway (409
 * GatewayConflictWithAllocationPools).  Canonicalises them in place.  On
 * error answers and returns false. */
bool net_ipam_check_pools(kreq *r, const net_cidr *c, json_t *pools, const char *gateway_ip);

/* ---- ports ---- */

/*
 * Allocate the fixed IPs of port `port_id` on `network_id` and insert them.
 * `fixed_ips` is the request's list (array of objects with "subnet_id"
 * and/or "ip_address") or NULL for the default: one address from the first
 * IPv4 subnet with room, one from the first stateful (DHCPv6 / no mode)
 * IPv6 subnet, and one from every SLAAC subnet (EUI-64 from mac_address).
 * Errors (answered, NULL returned):
 *   400 InvalidInput     malformed entries, subnet of another network,
 *                        an IP outside the subnet ("IP address %s is not a
 *                        valid IP for the specified subnet.")
 *   404 SubnetNotFound   unknown subnet_id
 *   409 IpAddressAlreadyAllocated  the requested IP is taken
 *   409 IpAddressGenerationFailure no free address left
 * Returns the resulting fixed_ips ([{subnet_id, ip_address}], new reference).
 * device_owner "network:router_interface" / "network:router_gateway" may
 * take the subnet's gateway address.
 */
json_t *net_ipam_allocate(kreq *r, const char *network_id, const char *port_id,
                          const char *mac_address, const json_t *fixed_ips,
                          const char *device_owner);
/* Port update with a new fixed_ips list: keeps the allocations still asked
 * for (same subnet and address, or same subnet without address), releases
 * the others and allocates the new ones.  Same errors as above. */
json_t *net_ipam_update(kreq *r, const char *network_id, const char *port_id,
                        const char *mac_address, const json_t *fixed_ips,
                        const char *device_owner);
/* Release every allocation of a port; 0 or -1. */
int net_ipam_release(const char *port_id);
/* Current fixed_ips of one port (new array, sorted by subnet then address). */
json_t *net_ipam_port_ips(const char *port_id);
/* fixed_ips of many ports at once: object port_id -> array, for the ports of
 * network_id (NULL = all networks).  New reference. */
json_t *net_ipam_ips_by_port(const char *network_id);

#endif
