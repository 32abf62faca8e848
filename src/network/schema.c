/*
 * schema.c - the network database, as versioned migrations (see network.h
 * for the tables and what they hold).
 *
 * Written once and expanded twice by NET_SCHEMA_V1(): for SQLite as is, for
 * MySQL/MariaDB with an InnoDB/utf8mb4 suffix (binary collation, so names
 * compare as in SQLite).  No foreign keys: deletes clean their dependents in
 * one transaction in the model code, and refuse while something is in use.
 * Never edit a released step; add a new one.
 */
#include "core/db.h"
#include "core/log.h"
#include "network.h"

#define STD_ATTRS \
	" created_at BIGINT NOT NULL DEFAULT 0," \
	" updated_at BIGINT NOT NULL DEFAULT 0," \
	" revision_number INTEGER NOT NULL DEFAULT 0"

#define NET_SCHEMA_V1(T) \
	"CREATE TABLE net_network (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL DEFAULT ''," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	" admin_state_up INTEGER NOT NULL DEFAULT 1," \
	" status VARCHAR(16) NOT NULL DEFAULT 'ACTIVE'," \
	" shared INTEGER NOT NULL DEFAULT 0," \
	" router_external INTEGER NOT NULL DEFAULT 0," \
	" mtu INTEGER NOT NULL DEFAULT 1500," \
	" port_security_enabled INTEGER NOT NULL DEFAULT 1," \
	" network_type VARCHAR(16)," \
	" physical_network VARCHAR(64)," \
	" segmentation_id INTEGER," \
	" availability_zone_hints VARCHAR(255) NOT NULL DEFAULT '[]'," \
	STD_ATTRS "," \
	" CONSTRAINT uq_net_segment UNIQUE (network_type, physical_network, segmentation_id))" T ";" \
	"CREATE INDEX ix_net_network_project ON net_network (project_id);" \
	"CREATE TABLE net_subnet (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" network_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL DEFAULT ''," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	" ip_version INTEGER NOT NULL," \
	" cidr VARCHAR(64) NOT NULL," \
	" gateway_ip VARCHAR(64)," \
	" enable_dhcp INTEGER NOT NULL DEFAULT 1," \
	" ipv6_ra_mode VARCHAR(16)," \
	" ipv6_address_mode VARCHAR(16)," \
	" subnetpool_id VARCHAR(64)," \
	STD_ATTRS ")" T ";" \
	"CREATE INDEX ix_net_subnet_network ON net_subnet (network_id);" \
	"CREATE TABLE net_allocation_pool (" \
	" subnet_id VARCHAR(64) NOT NULL," \
	" first_ip VARCHAR(64) NOT NULL," \
	" last_ip VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (subnet_id, first_ip))" T ";" \
	"CREATE TABLE net_dns_nameserver (" \
	" subnet_id VARCHAR(64) NOT NULL," \
	" address VARCHAR(128) NOT NULL," \
	" ord INTEGER NOT NULL DEFAULT 0," \
	" PRIMARY KEY (subnet_id, address))" T ";" \
	"CREATE TABLE net_host_route (" \
	" subnet_id VARCHAR(64) NOT NULL," \
	" destination VARCHAR(64) NOT NULL," \
	" nexthop VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (subnet_id, destination, nexthop))" T ";" \
	"CREATE TABLE net_subnetpool (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL DEFAULT ''," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	" ip_version INTEGER NOT NULL," \
	" default_prefixlen INTEGER NOT NULL," \
	" min_prefixlen INTEGER NOT NULL," \
	" max_prefixlen INTEGER NOT NULL," \
	" shared INTEGER NOT NULL DEFAULT 0," \
	" is_default INTEGER NOT NULL DEFAULT 0," \
	" default_quota INTEGER," \
	" address_scope_id VARCHAR(64)," \
	STD_ATTRS ")" T ";" \
	"CREATE TABLE net_subnetpool_prefix (" \
	" subnetpool_id VARCHAR(64) NOT NULL," \
	" cidr VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (subnetpool_id, cidr))" T ";" \
	"CREATE TABLE net_port (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" network_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL DEFAULT ''," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	" mac_address VARCHAR(32) NOT NULL," \
	" admin_state_up INTEGER NOT NULL DEFAULT 1," \
	" status VARCHAR(16) NOT NULL DEFAULT 'DOWN'," \
	" device_id VARCHAR(255) NOT NULL DEFAULT ''," \
	" device_owner VARCHAR(255) NOT NULL DEFAULT ''," \
	" port_security_enabled INTEGER NOT NULL DEFAULT 1," \
	" binding_host_id VARCHAR(255) NOT NULL DEFAULT ''," \
	" binding_vif_type VARCHAR(64) NOT NULL DEFAULT 'unbound'," \
	" binding_vnic_type VARCHAR(64) NOT NULL DEFAULT 'normal'," \
	" binding_profile TEXT," \
	" binding_vif_details TEXT," \
	STD_ATTRS "," \
	" CONSTRAINT uq_net_port_mac UNIQUE (network_id, mac_address))" T ";" \
	"CREATE INDEX ix_net_port_device ON net_port (device_id);" \
	"CREATE INDEX ix_net_port_network ON net_port (network_id);" \
	"CREATE TABLE net_ip_allocation (" \
	" port_id VARCHAR(64) NOT NULL," \
	" subnet_id VARCHAR(64) NOT NULL," \
	" network_id VARCHAR(64) NOT NULL," \
	" ip_address VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (subnet_id, ip_address))" T ";" \
	"CREATE INDEX ix_net_ip_allocation_port ON net_ip_allocation (port_id);" \
	"CREATE TABLE net_allowed_address_pair (" \
	" port_id VARCHAR(64) NOT NULL," \
	" ip_address VARCHAR(64) NOT NULL," \
	" mac_address VARCHAR(32) NOT NULL," \
	" PRIMARY KEY (port_id, ip_address, mac_address))" T ";" \
	"CREATE TABLE net_security_group (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL DEFAULT ''," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	" stateful INTEGER NOT NULL DEFAULT 1," \
	STD_ATTRS ")" T ";" \
	"CREATE TABLE net_security_group_rule (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" security_group_id VARCHAR(64) NOT NULL," \
	" direction VARCHAR(16) NOT NULL," \
	" ethertype VARCHAR(16) NOT NULL," \
	" protocol VARCHAR(40)," \
	" port_range_min INTEGER," \
	" port_range_max INTEGER," \
	" remote_ip_prefix VARCHAR(64)," \
	" remote_group_id VARCHAR(64)," \
	" remote_address_group_id VARCHAR(64)," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	STD_ATTRS ")" T ";" \
	"CREATE INDEX ix_net_sgr_group ON net_security_group_rule (security_group_id);" \
	"CREATE TABLE net_port_security_group (" \
	" port_id VARCHAR(64) NOT NULL," \
	" security_group_id VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (port_id, security_group_id))" T ";" \
	"CREATE INDEX ix_net_psg_group ON net_port_security_group (security_group_id);" \
	"CREATE TABLE net_default_security_group (" \
	" project_id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" security_group_id VARCHAR(64) NOT NULL)" T ";" \
	"CREATE TABLE net_router (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL DEFAULT ''," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	" admin_state_up INTEGER NOT NULL DEFAULT 1," \
	" status VARCHAR(16) NOT NULL DEFAULT 'ACTIVE'," \
	" gw_network_id VARCHAR(64)," \
	" gw_port_id VARCHAR(64)," \
	" enable_snat INTEGER NOT NULL DEFAULT 1," \
	STD_ATTRS ")" T ";" \
	"CREATE TABLE net_router_route (" \
	" router_id VARCHAR(64) NOT NULL," \
	" destination VARCHAR(64) NOT NULL," \
	" nexthop VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (router_id, destination, nexthop))" T ";" \
	"CREATE TABLE net_floatingip (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" floating_network_id VARCHAR(64) NOT NULL," \
	" floating_port_id VARCHAR(64) NOT NULL," \
	" floating_ip_address VARCHAR(64) NOT NULL," \
	" port_id VARCHAR(64)," \
	" fixed_ip_address VARCHAR(64)," \
	" router_id VARCHAR(64)," \
	" status VARCHAR(16) NOT NULL DEFAULT 'DOWN'," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	STD_ATTRS "," \
	" CONSTRAINT uq_net_fip_addr UNIQUE (floating_network_id, floating_ip_address))" T ";" \
	"CREATE TABLE net_quota (" \
	" project_id VARCHAR(64) NOT NULL," \
	" resource VARCHAR(64) NOT NULL," \
	" hard_limit INTEGER NOT NULL," \
	" PRIMARY KEY (project_id, resource))" T ";" \
	"CREATE TABLE net_agent (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" agent_type VARCHAR(64) NOT NULL," \
	" binary_name VARCHAR(64) NOT NULL," \
	" host VARCHAR(255) NOT NULL," \
	" topic VARCHAR(64) NOT NULL," \
	" admin_state_up INTEGER NOT NULL DEFAULT 1," \
	" heartbeat_at BIGINT NOT NULL DEFAULT 0," \
	" started_at BIGINT NOT NULL DEFAULT 0," \
	" created_at BIGINT NOT NULL DEFAULT 0," \
	" configurations TEXT," \
	" availability_zone VARCHAR(255)," \
	" description VARCHAR(255) NOT NULL DEFAULT ''," \
	" CONSTRAINT uq_net_agent UNIQUE (agent_type, host))" T ";" \
	"CREATE TABLE net_tag (" \
	" resource_type VARCHAR(32) NOT NULL," \
	" resource_id VARCHAR(64) NOT NULL," \
	" tag VARCHAR(255) NOT NULL," \
	" PRIMARY KEY (resource_type, resource_id, tag))" T

/* Step 2: the extra_dhcp_opt extension of ports (ports.c). */
#define NET_SCHEMA_V2(T) \
	"CREATE TABLE net_extra_dhcp_opt (" \
	" port_id VARCHAR(64) NOT NULL," \
	" opt_name VARCHAR(64) NOT NULL," \
	" opt_value VARCHAR(255) NOT NULL," \
	" ip_version INTEGER NOT NULL DEFAULT 4," \
	" PRIMARY KEY (port_id, opt_name, ip_version))" T

#define MYSQL_TABLE " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

static const kdb_migration net_steps[] = {
	{ 1, NET_SCHEMA_V1(""), NET_SCHEMA_V1(MYSQL_TABLE) },
	{ 2, NET_SCHEMA_V2(""), NET_SCHEMA_V2(MYSQL_TABLE) },
};

int net_db_sync(void)
{
	if (!net_db) {
		klog_error("network", "db-sync: database not open");
		return -1;
	}
	if (kdb_migrate(net_db, "network", net_steps, ARRAY_SIZE(net_steps)) != 0) {
		klog_error("network", "db-sync failed");
		return -1;
	}
	return 0;
}
