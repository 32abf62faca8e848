/*
 * routes.c - the L2 API's route table (net_l2_routes[], joined by
 * service.c): networks, subnets, subnet pools, quotas, extensions and tags.
 * Ports, agents, security groups and L3 resources have their own tables.
 */
#include "common.h"
#include "l2.h"

const kroute net_l2_routes[] = {
	{ "GET", "/v2.0/networks", net_h_network_list, 0 },
	{ "POST", "/v2.0/networks", net_h_network_create, 0 },
	{ "GET", "/v2.0/networks/{network_id}", net_h_network_show, 0 },
	{ "PUT", "/v2.0/networks/{network_id}", net_h_network_update, 0 },
	{ "DELETE", "/v2.0/networks/{network_id}", net_h_network_delete, 0 },

	{ "GET", "/v2.0/subnets", net_h_subnet_list, 0 },
	{ "POST", "/v2.0/subnets", net_h_subnet_create, 0 },
	{ "GET", "/v2.0/subnets/{subnet_id}", net_h_subnet_show, 0 },
	{ "PUT", "/v2.0/subnets/{subnet_id}", net_h_subnet_update, 0 },
	{ "DELETE", "/v2.0/subnets/{subnet_id}", net_h_subnet_delete, 0 },

	{ "GET", "/v2.0/subnetpools", net_h_subnetpool_list, 0 },
	{ "POST", "/v2.0/subnetpools", net_h_subnetpool_create, 0 },
	{ "GET", "/v2.0/subnetpools/{subnetpool_id}", net_h_subnetpool_show, 0 },
	{ "PUT", "/v2.0/subnetpools/{subnetpool_id}", net_h_subnetpool_update, 0 },
	{ "DELETE", "/v2.0/subnetpools/{subnetpool_id}", net_h_subnetpool_delete, 0 },
	{ "PUT", "/v2.0/subnetpools/{subnetpool_id}/add_prefixes", net_h_subnetpool_add_prefixes,
	  0 },
	{ "PUT", "/v2.0/subnetpools/{subnetpool_id}/remove_prefixes",
	  net_h_subnetpool_remove_prefixes, 0 },

	{ "GET", "/v2.0/quotas", net_h_quota_list, 0 },
	{ "GET", "/v2.0/quotas/{project_id}", net_h_quota_show, 0 },
	{ "PUT", "/v2.0/quotas/{project_id}", net_h_quota_update, 0 },
	{ "DELETE", "/v2.0/quotas/{project_id}", net_h_quota_delete, 0 },
	{ "GET", "/v2.0/quotas/{project_id}/default", net_h_quota_default, 0 },
	{ "GET", "/v2.0/quotas/{project_id}/details.json", net_h_quota_details, 0 },
	{ "GET", "/v2.0/quotas/{project_id}/details", net_h_quota_details, 0 },

	{ "GET", "/v2.0/extensions", net_h_extension_list, 0 },
	{ "GET", "/v2.0/extensions/{alias}", net_h_extension_show, 0 },

	{ "GET", "/v2.0/{resources}/{resource_id}/tags", net_h_tags_list, 0 },
	{ "PUT", "/v2.0/{resources}/{resource_id}/tags", net_h_tags_replace, 0 },
	{ "DELETE", "/v2.0/{resources}/{resource_id}/tags", net_h_tags_delete_all, 0 },
	{ "GET", "/v2.0/{resources}/{resource_id}/tags/{tag}", net_h_tag_check, 0 },
	{ "PUT", "/v2.0/{resources}/{resource_id}/tags/{tag}", net_h_tag_add, 0 },
	{ "DELETE", "/v2.0/{resources}/{resource_id}/tags/{tag}", net_h_tag_delete, 0 },
};

const size_t net_l2_nroutes = ARRAY_SIZE(net_l2_routes);
