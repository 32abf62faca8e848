/*
 * extensions.c - GET /v2.0/extensions and /v2.0/extensions/{alias}: the API
 * extensions this Network service really implements, with Neutron's names,
 * descriptions and timestamps (neutron-lib api definitions and
 * neutron/extensions), so clients that probe for an alias (the CLIs,
 * Tempest, Nova) see exactly what works.
 *
 * An extension goes into the table when its behaviour is implemented, by
 * whichever file implements it; nothing is listed for show.
 */
#include <string.h>

#include "core/json.h"
#include "common.h"
#include "l2.h"

typedef struct net_ext {
	const char *alias, *name, *description, *updated;
} net_ext;

static const net_ext extensions[] = {
	/* networks, subnets, subnet pools, quotas, tags (L2 API) */
	{ "provider", "Provider Network",
	  "Expose mapping of virtual networks to physical networks", "2012-09-07T10:00:00-00:00" },
	{ "external-net", "Neutron external network",
	  "Adds external network attribute to network resource.", "2013-01-14T10:00:00-00:00" },
	{ "net-mtu", "Network MTU", "Provides MTU attribute for a network resource.",
	  "2015-03-25T10:00:00-00:00" },
	{ "net-mtu-writable", "Network MTU (writable)",
	  "Provides a writable MTU attribute for a network resource.",
	  "2017-07-12T00:00:00-00:00" },
	{ "port-security", "Port Security", "Provides port security",
	  "2012-07-23T10:00:00-00:00" },
	{ "standard-attr-description", "standard-attr-description",
	  "Extension to add descriptions to standard attributes", "2016-02-10T10:00:00-00:00" },
	{ "standard-attr-revisions", "Resource revision numbers",
	  "This extension will display the revision number of neutron resources.",
	  "2016-04-11T10:00:00-00:00" },
	{ "standard-attr-timestamp", "Resource timestamps",
	  "Adds created_at and updated_at fields to all Neutron resources that have Neutron "
	  "standard attributes.", "2016-09-12T10:00:00-00:00" },
	{ "standard-attr-tag", "Tag support for resources with standard attribute: subnet, "
	  "trunk, network_segment_range, router, network, policy, subnetpool, port, "
	  "security_group, floatingip",
	  "Enables to set tag on resources with standard attribute.",
	  "2017-01-01T00:00:00-00:00" },
	{ "tag", "Tag support", "Enables to set tag on resources.", "2016-01-01T00:00:00-00:00" },
	{ "subnet_allocation", "Subnet Allocation",
	  "Enables allocation of subnets from a subnet pool", "2015-03-30T10:00:00-00:00" },
	{ "default-subnetpools", "Default Subnetpools",
	  "Provides ability to mark and use a subnetpool as the default.",
	  "2016-02-18T18:00:00-00:00" },
	{ "subnetpool-prefix-ops", "Subnet Pool Prefix Operations",
	  "Provides support for adjusting the prefix list of subnet pools",
	  "2019-02-08T10:00:00-00:00" },
	{ "quotas", "Quota management support", "Expose functions for quotas management per "
	  "project", "2012-07-29T10:00:00-00:00" },
	{ "quota_details", "Quota details management support",
	  "Expose functions for quotas usage statistics per project", "2017-02-10T10:00:00-00:00" },
	{ "quota-check-limit", "Quota engine limit check",
	  "Support for checking the resource usage before applying a new quota limit",
	  "2021-09-08T16:00:00-00:00" },
	{ "project-id", "project_id field enabled",
	  "Extension that indicates that project_id field is enabled.",
	  "2016-09-09T09:09:09-09:09" },
	{ "pagination", "Pagination support", "Extension that indicates that pagination is "
	  "enabled.", "2016-06-12T00:00:00-00:00" },
	{ "sorting", "Sorting support", "Extension that indicates that sorting is enabled.",
	  "2016-06-12T00:00:00-00:00" },
	{ "l2_adjacency", "L2 Adjacency", "Display L2 Adjacency for Neutron Networks.",
	  "2016-04-12T16:00:00-00:00" },
	/* ports, security groups, agents (ports helper) */
	{ "binding", "Port Binding",
	  "Expose port bindings of a virtual port to external application",
	  "2014-02-03T10:00:00-00:00" },
	{ "allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs",
	  "2013-07-23T10:00:00-00:00" },
	{ "security-group", "security-group", "The security groups extension.",
	  "2012-10-05T10:00:00-00:00" },
	{ "agent", "agent", "The agent management extension.", "2013-02-03T10:00:00-00:00" },
	{ "stateful-security-group", "Stateful security group",
	  "Indicates if the security group is stateful or not", "2019-11-26T09:00:00-00:00" },
	{ "security-groups-normalized-cidr", "Normalized CIDR field for security group rules",
	  "Add new field with normalized remote_ip_prefix cidr in SG rule",
	  "2020-07-28T10:00:00-00:00" },
	{ "security-groups-rules-belongs-to-default-sg",
	  "Security group rule belongs to the project's default security group",
	  "Flag to determine if the security group rule belongs to the project's default "
	  "security group", "2023-05-23T10:00:00-00:00" },
	{ "ip-substring-filtering", "IP address substring filtering",
	  "Provides IP address substring filtering when listing ports",
	  "2017-11-28T09:00:00-00:00" },
	/* routers and floating IPs (L3 helper) */
	{ "router", "Neutron L3 Router",
	  "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to "
	  "external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00" },
	{ "ext-gw-mode", "Neutron L3 Configurable external gateway mode",
	  "Extension of the router abstraction for specifying whether SNAT should occur on the "
	  "external gateway", "2013-03-28T10:00:00-00:00" },
	{ "extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router",
	  "2013-02-01T10:00:00-00:00" },
};

static json_t *ext_json(const net_ext *e)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:[]}", "name", e->name, "alias", e->alias,
	                 "description", e->description, "updated", e->updated, "links");
}

void net_h_extension_list(kreq *r)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < ARRAY_SIZE(extensions); i++)
		json_array_append_new(arr, ext_json(&extensions[i]));
	kresp_json(r, 200, json_pack("{s:o}", "extensions", arr));
}

void net_h_extension_show(kreq *r)
{
	const char *alias = kreq_param(r, "alias");
	for (size_t i = 0; i < ARRAY_SIZE(extensions); i++)
		if (strcmp(extensions[i].alias, alias) == 0) {
			kresp_json(r, 200,
			           json_pack("{s:o}", "extension", ext_json(&extensions[i])));
			return;
		}
	net_error(r, 404, NULL, "Extension with alias %s does not exist", alias);
}
