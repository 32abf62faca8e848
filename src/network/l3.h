/*
 * l3.h - what routers.c and floatingips.c (the L3 API) share: the floating
 * IP handlers joined into net_l3_routes[] by routers.c, and small helpers
 * for Neutron's error wording and for transactions that roll back by
 * themselves when a handler returns early.
 */
#ifndef KUMO_NETWORK_L3_H
#define KUMO_NETWORK_L3_H

#include <jansson.h>
#include "core/db.h"
#include "core/http.h"
#include "network.h"

#define NET_OWNER_ROUTER_INTF "network:router_interface"
#define NET_OWNER_ROUTER_GW "network:router_gateway"
#define NET_OWNER_FLOATINGIP "network:floatingip"

/* ---- floatingips.c ---- */
void net_fip_list(kreq *r);
void net_fip_create(kreq *r);
void net_fip_show(kreq *r);
void net_fip_update(kreq *r);
void net_fip_delete(kreq *r);
void net_fip_pools_list(kreq *r);
/* Neutron's _before_network_delete_handler, for networks.c: delete the
 * floating IPs of `network_id` that are not associated with a port (rows,
 * their ports, tags), inside the caller's transaction, so that deleting an
 * external network only fails (409 NetworkInUse) for associated ones.
 * Returns how many were deleted, or -1 on a database error. */
int net_fip_delete_disassociated(const char *network_id);

/* ---- routers.c ---- */
/* neutron-lib's BadRequest: 400 "Bad <resource> request: <msg>." (type
 * BadRequest); returns false. */
bool net_l3_bad_request(kreq *r, const char *resource, const char *fmt, ...) _printf_(3, 4);
/* A JSON value as Python's str() prints it in neutron's messages
 * ('a', None, True, {'k': 'v'}, ['x']), pool memory. */
const char *net_l3_pyrepr(kpool *pool, const json_t *v);
/* neutron-lib's validate_fixed_ips (external_fixed_ips, floating IPs): NULL
 * when fine, else the reason (pool). */
const char *net_l3_check_fixed_ips(kpool *pool, const json_t *v);
/* A subnet's row (id, network_id, project_id, cidr, gateway_ip, ip_version,
 * ipv6_ra_mode, ipv6_address_mode; new reference) or NULL. */
json_t *net_l3_subnet_row(const char *id);

/* ---- a transaction that rolls back unless committed ---- */
typedef struct net_txn {
	bool open;
} net_txn;

static inline void net_txn_end(net_txn *t)
{
	if (t->open)
		kdb_rollback(net_db);
	t->open = false;
}
#define _cleanup_txn_ _cleanup_(net_txn_end)

static inline bool net_txn_begin(kreq *r, net_txn *t)
{
	if (kdb_begin(net_db) != KDB_OK) {
		kresp_error(r, 500, "Request Failed: internal server error while processing your "
		            "request.");
		return false;
	}
	t->open = true;
	return true;
}

static inline bool net_txn_commit(kreq *r, net_txn *t)
{
	t->open = false;
	if (kdb_commit(net_db) != KDB_OK) {
		kresp_error(r, 500, "Request Failed: internal server error while processing your "
		            "request.");
		return false;
	}
	return true;
}

#endif
