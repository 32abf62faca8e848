/*
 * l2.h - private to the L2 API files: the route handlers routes.c joins into
 * net_l2_routes[] (networks.c, subnets.c, subnetpools.c, quotas.c,
 * extensions.c, tags.c), and the subnet pool allocator subnets.c uses.
 */
#ifndef KUMO_NETWORK_L2_H
#define KUMO_NETWORK_L2_H

#include <jansson.h>
#include "core/http.h"

/* networks.c */
void net_h_network_list(kreq *r);
void net_h_network_create(kreq *r);
void net_h_network_show(kreq *r);
void net_h_network_update(kreq *r);
void net_h_network_delete(kreq *r);
/* subnets.c */
void net_h_subnet_list(kreq *r);
void net_h_subnet_create(kreq *r);
void net_h_subnet_show(kreq *r);
void net_h_subnet_update(kreq *r);
void net_h_subnet_delete(kreq *r);
/* Delete every subnet of a network (its pools, DNS servers, routes, tags)
 * inside the caller's transaction: 0 / -1.  Notifies. */
int net_subnets_delete_for_network(const char *network_id);
/* subnetpools.c */
void net_h_subnetpool_list(kreq *r);
void net_h_subnetpool_create(kreq *r);
void net_h_subnetpool_show(kreq *r);
void net_h_subnetpool_update(kreq *r);
void net_h_subnetpool_delete(kreq *r);
void net_h_subnetpool_add_prefixes(kreq *r);
void net_h_subnetpool_remove_prefixes(kreq *r);
/* Allocate a prefix from pool `pool_id` for a new subnet of ip_version with
 * prefixlen (0 = the pool's default) or the explicit cidr (NULL = any);
 * *cidr_out gets the cidr (pool string).  Checks visibility for r.  False
 * after answering (SubnetPoolNotFound 404, SubnetAllocationError /
 * MinPrefix / MaxPrefix 400, no room 409...). */
bool net_subnetpool_allocate(kreq *r, const char *pool_id, int ip_version, int prefixlen,
                             const char *cidr, const char **cidr_out);
/* The default pool for ip_version (is_default), or NULL (pool string). */
const char *net_subnetpool_default(kreq *r, int ip_version);
/* quotas.c */
void net_h_quota_list(kreq *r);
void net_h_quota_show(kreq *r);
void net_h_quota_default(kreq *r);
void net_h_quota_details(kreq *r);
void net_h_quota_update(kreq *r);
void net_h_quota_delete(kreq *r);
/* extensions.c */
void net_h_extension_list(kreq *r);
void net_h_extension_show(kreq *r);
/* tags.c */
void net_h_tags_list(kreq *r);
void net_h_tags_replace(kreq *r);
void net_h_tags_delete_all(kreq *r);
void net_h_tag_check(kreq *r);
void net_h_tag_add(kreq *r);
void net_h_tag_delete(kreq *r);

#endif
