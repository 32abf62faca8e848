/*
 * schema.c - the compute database, as versioned migrations (see compute.h
 * for the tables and what they hold).
 *
 * Written once and expanded twice by CMP_SCHEMA_V1(T, ID): for SQLite as is,
 * for MySQL/MariaDB with an InnoDB/utf8mb4 suffix (binary collation, so
 * names compare as in SQLite) and AUTO_INCREMENT integer ids (SQLite's
 * INTEGER PRIMARY KEY is its rowid, which numbers itself).  No foreign keys:
 * deletes clean their dependents in the model code.  Step 2 seeds the
 * seed's flavors m1.tiny ... m1.xlarge (ids "1" ... "5", as in DevStack and
 * `nova flavor-list` in the seed).  Never edit a released step; add one.
 */
#include "core/db.h"
#include "core/log.h"
#include "compute.h"

#define SQLITE_ID "id INTEGER PRIMARY KEY"
#define MYSQL_ID "id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"

#define CMP_SCHEMA_V1(T, ID) \
	"CREATE TABLE cmp_flavor (" \
	" id VARCHAR(255) NOT NULL PRIMARY KEY," \
	" name VARCHAR(255) NOT NULL," \
	" memory_mb INTEGER NOT NULL," \
	" vcpus INTEGER NOT NULL," \
	" root_gb INTEGER NOT NULL DEFAULT 0," \
	" ephemeral_gb INTEGER NOT NULL DEFAULT 0," \
	" swap INTEGER NOT NULL DEFAULT 0," \
	" rxtx_factor DOUBLE NOT NULL DEFAULT 1.0," \
	" is_public INTEGER NOT NULL DEFAULT 1," \
	" disabled INTEGER NOT NULL DEFAULT 0," \
	" description TEXT," \
	" created_at BIGINT NOT NULL DEFAULT 0," \
	" updated_at BIGINT NOT NULL DEFAULT 0," \
	" CONSTRAINT uq_cmp_flavor_name UNIQUE (name))" T ";" \
	"CREATE TABLE cmp_flavor_extra_spec (" \
	" flavor_id VARCHAR(255) NOT NULL," \
	" spec_key VARCHAR(255) NOT NULL," \
	" spec_value VARCHAR(255) NOT NULL," \
	" PRIMARY KEY (flavor_id, spec_key))" T ";" \
	"CREATE TABLE cmp_flavor_access (" \
	" flavor_id VARCHAR(255) NOT NULL," \
	" project_id VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (flavor_id, project_id))" T ";" \
	"CREATE TABLE cmp_keypair (" \
	" " ID "," \
	" user_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL," \
	" type VARCHAR(16) NOT NULL DEFAULT 'ssh'," \
	" public_key TEXT NOT NULL," \
	" fingerprint VARCHAR(255) NOT NULL," \
	" created_at BIGINT NOT NULL DEFAULT 0," \
	" CONSTRAINT uq_cmp_keypair UNIQUE (user_id, name))" T ";" \
	"CREATE TABLE cmp_instance (" \
	" id VARCHAR(36) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" user_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL DEFAULT ''," \
	" hostname VARCHAR(255) NOT NULL DEFAULT ''," \
	" description TEXT," \
	" image_ref VARCHAR(64) NOT NULL DEFAULT ''," \
	" image TEXT," \
	" flavor_id VARCHAR(255) NOT NULL," \
	" flavor TEXT," \
	" old_flavor TEXT," \
	" new_flavor TEXT," \
	" vcpus INTEGER NOT NULL DEFAULT 0," \
	" memory_mb INTEGER NOT NULL DEFAULT 0," \
	" root_gb INTEGER NOT NULL DEFAULT 0," \
	" ephemeral_gb INTEGER NOT NULL DEFAULT 0," \
	" swap INTEGER NOT NULL DEFAULT 0," \
	" vm_state VARCHAR(32) NOT NULL DEFAULT 'building'," \
	" task_state VARCHAR(64)," \
	" power_state INTEGER NOT NULL DEFAULT 0," \
	" host VARCHAR(255)," \
	" node VARCHAR(255)," \
	" availability_zone VARCHAR(255)," \
	" key_name VARCHAR(255)," \
	" key_data TEXT," \
	" user_data MEDIUMTEXT," \
	" config_drive VARCHAR(16) NOT NULL DEFAULT ''," \
	" access_ip_v4 VARCHAR(64)," \
	" access_ip_v6 VARCHAR(64)," \
	" locked INTEGER NOT NULL DEFAULT 0," \
	" locked_by VARCHAR(16)," \
	" progress INTEGER NOT NULL DEFAULT 0," \
	" reservation_id VARCHAR(64) NOT NULL DEFAULT ''," \
	" launch_index INTEGER NOT NULL DEFAULT 0," \
	" requested_networks TEXT," \
	" security_groups TEXT," \
	" security_group_ids TEXT," \
	" server_group_id VARCHAR(36)," \
	" launched_at BIGINT," \
	" terminated_at BIGINT," \
	" created_at BIGINT NOT NULL DEFAULT 0," \
	" updated_at BIGINT NOT NULL DEFAULT 0," \
	" deleted_at BIGINT," \
	" deleted INTEGER NOT NULL DEFAULT 0)" T ";" \
	"CREATE INDEX ix_cmp_instance_project ON cmp_instance (project_id, deleted);" \
	"CREATE INDEX ix_cmp_instance_host ON cmp_instance (host, deleted);" \
	"CREATE INDEX ix_cmp_instance_updated ON cmp_instance (updated_at);" \
	"CREATE TABLE cmp_instance_metadata (" \
	" instance_id VARCHAR(36) NOT NULL," \
	" meta_key VARCHAR(255) NOT NULL," \
	" meta_value VARCHAR(255) NOT NULL," \
	" PRIMARY KEY (instance_id, meta_key))" T ";" \
	"CREATE TABLE cmp_instance_fault (" \
	" " ID "," \
	" instance_id VARCHAR(36) NOT NULL," \
	" code INTEGER NOT NULL DEFAULT 500," \
	" message TEXT NOT NULL," \
	" details TEXT," \
	" host VARCHAR(255)," \
	" created_at BIGINT NOT NULL DEFAULT 0)" T ";" \
	"CREATE INDEX ix_cmp_instance_fault ON cmp_instance_fault (instance_id);" \
	"CREATE TABLE cmp_instance_port (" \
	" instance_id VARCHAR(36) NOT NULL," \
	" port_id VARCHAR(64) NOT NULL," \
	" network_id VARCHAR(64) NOT NULL," \
	" network_name VARCHAR(255) NOT NULL DEFAULT ''," \
	" mac VARCHAR(32) NOT NULL DEFAULT ''," \
	" ips TEXT," \
	" preexisting INTEGER NOT NULL DEFAULT 0," \
	" ord INTEGER NOT NULL DEFAULT 0," \
	" tap VARCHAR(16) NOT NULL DEFAULT ''," \
	" bridge VARCHAR(16) NOT NULL DEFAULT ''," \
	" mtu INTEGER NOT NULL DEFAULT 1500," \
	" PRIMARY KEY (instance_id, port_id))" T ";" \
	"CREATE TABLE cmp_instance_action (" \
	" " ID "," \
	" instance_id VARCHAR(36) NOT NULL," \
	" action VARCHAR(64) NOT NULL," \
	" request_id VARCHAR(64) NOT NULL," \
	" user_id VARCHAR(64)," \
	" project_id VARCHAR(64)," \
	" start_time BIGINT NOT NULL DEFAULT 0," \
	" finish_time BIGINT," \
	" message VARCHAR(255)," \
	" updated_at BIGINT NOT NULL DEFAULT 0," \
	" CONSTRAINT uq_cmp_instance_action UNIQUE (instance_id, request_id))" T ";" \
	"CREATE TABLE cmp_instance_action_event (" \
	" " ID "," \
	" action_id BIGINT NOT NULL," \
	" event VARCHAR(255) NOT NULL," \
	" start_time BIGINT NOT NULL DEFAULT 0," \
	" finish_time BIGINT," \
	" result VARCHAR(32)," \
	" traceback TEXT," \
	" host VARCHAR(255)," \
	" details TEXT)" T ";" \
	"CREATE INDEX ix_cmp_action_event ON cmp_instance_action_event (action_id);" \
	"CREATE TABLE cmp_compute_node (" \
	" host VARCHAR(255) NOT NULL PRIMARY KEY," \
	" hypervisor_hostname VARCHAR(255) NOT NULL," \
	" hypervisor_type VARCHAR(64) NOT NULL DEFAULT 'QEMU'," \
	" hypervisor_version INTEGER NOT NULL DEFAULT 0," \
	" vcpus INTEGER NOT NULL DEFAULT 0," \
	" memory_mb INTEGER NOT NULL DEFAULT 0," \
	" local_gb INTEGER NOT NULL DEFAULT 0," \
	" cpu_info TEXT," \
	" host_ip VARCHAR(64) NOT NULL DEFAULT '127.0.0.1'," \
	" cpu_allocation_ratio DOUBLE NOT NULL DEFAULT 16.0," \
	" ram_allocation_ratio DOUBLE NOT NULL DEFAULT 1.5," \
	" disk_allocation_ratio DOUBLE NOT NULL DEFAULT 1.0," \
	" reserved_host_memory_mb INTEGER NOT NULL DEFAULT 512," \
	" reserved_host_disk_mb INTEGER NOT NULL DEFAULT 0," \
	" availability_zone VARCHAR(255) NOT NULL DEFAULT 'nova'," \
	" created_at BIGINT NOT NULL DEFAULT 0," \
	" updated_at BIGINT NOT NULL DEFAULT 0)" T ";" \
	"CREATE TABLE cmp_service (" \
	" " ID "," \
	" binary_name VARCHAR(64) NOT NULL," \
	" host VARCHAR(255) NOT NULL," \
	" topic VARCHAR(255)," \
	" disabled INTEGER NOT NULL DEFAULT 0," \
	" disabled_reason VARCHAR(255)," \
	" forced_down INTEGER NOT NULL DEFAULT 0," \
	" report_count INTEGER NOT NULL DEFAULT 0," \
	" last_seen_at BIGINT," \
	" created_at BIGINT NOT NULL DEFAULT 0," \
	" updated_at BIGINT NOT NULL DEFAULT 0," \
	" uuid VARCHAR(36) NOT NULL," \
	" CONSTRAINT uq_cmp_service UNIQUE (binary_name, host))" T ";" \
	"CREATE TABLE cmp_allocation (" \
	" instance_id VARCHAR(36) NOT NULL PRIMARY KEY," \
	" host VARCHAR(255) NOT NULL," \
	" vcpus INTEGER NOT NULL DEFAULT 0," \
	" memory_mb INTEGER NOT NULL DEFAULT 0," \
	" disk_gb INTEGER NOT NULL DEFAULT 0," \
	" created_at BIGINT NOT NULL DEFAULT 0)" T ";" \
	"CREATE INDEX ix_cmp_allocation_host ON cmp_allocation (host);" \
	"CREATE TABLE cmp_quota (" \
	" project_id VARCHAR(64) NOT NULL," \
	" resource VARCHAR(64) NOT NULL," \
	" hard_limit BIGINT NOT NULL," \
	" PRIMARY KEY (project_id, resource))" T ";" \
	"CREATE TABLE cmp_server_group (" \
	" id VARCHAR(36) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" user_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL DEFAULT ''," \
	" policy VARCHAR(32) NOT NULL," \
	" rules TEXT," \
	" created_at BIGINT NOT NULL DEFAULT 0)" T ";" \
	"CREATE TABLE cmp_server_group_member (" \
	" group_id VARCHAR(36) NOT NULL," \
	" instance_id VARCHAR(36) NOT NULL," \
	" PRIMARY KEY (group_id, instance_id))" T

/* The seed's flavors (`nova flavor-list`): id, name, RAM MiB, disk GiB, vCPUs. */
#define CMP_SCHEMA_V2 \
	"INSERT INTO cmp_flavor (id, name, memory_mb, vcpus, root_gb) VALUES " \
	"('1', 'm1.tiny', 512, 1, 1), ('2', 'm1.small', 2048, 1, 20), " \
	"('3', 'm1.medium', 4096, 2, 40), ('4', 'm1.large', 8192, 4, 80), " \
	"('5', 'm1.xlarge', 16384, 8, 160)"

/* Step 3: console tokens (Nova's consoleauth role): only the SHA-256 of a
 * token is stored; a token opens one instance's console until expires_at. */
#define CMP_SCHEMA_V3(T) \
	"CREATE TABLE cmp_console_token (" \
	" token_hash VARCHAR(64) NOT NULL PRIMARY KEY," \
	" instance_id VARCHAR(36) NOT NULL," \
	" console_type VARCHAR(16) NOT NULL DEFAULT 'novnc'," \
	" host VARCHAR(255) NOT NULL," \
	" port INTEGER NOT NULL," \
	" access_url TEXT," \
	" expires_at BIGINT NOT NULL," \
	" created_at BIGINT NOT NULL DEFAULT 0)" T ";" \
	"CREATE INDEX ix_cmp_console_token_instance ON cmp_console_token (instance_id)"

/* Step 4: the password a guest posts to the metadata API (encrypted by the
 * guest with its key pair, as Nova's os-server-password expects). */
#define CMP_SCHEMA_V4 "ALTER TABLE cmp_instance ADD COLUMN metadata_password TEXT"

#define MYSQL_TABLE " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

static const kdb_migration cmp_steps[] = {
	{ 1, CMP_SCHEMA_V1("", SQLITE_ID), CMP_SCHEMA_V1(MYSQL_TABLE, MYSQL_ID) },
	{ 2, CMP_SCHEMA_V2, NULL },
	{ 3, CMP_SCHEMA_V3(""), CMP_SCHEMA_V3(MYSQL_TABLE) },
	{ 4, CMP_SCHEMA_V4, NULL },
};

int cmp_db_sync(void)
{
	if (!cmp_db) {
		klog_error("compute", "db-sync: database not open");
		return -1;
	}
	if (kdb_migrate(cmp_db, "compute", cmp_steps, ARRAY_SIZE(cmp_steps)) != 0) {
		klog_error("compute", "db-sync failed");
		return -1;
	}
	return 0;
}
