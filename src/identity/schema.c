/*
 * schema.c - the identity database schema, as versioned migrations.
 *
 * `kumo manage db-sync` (and the service at start) calls id_db_sync(), which
 * hands the steps below to kdb_migrate(): each step runs once, in a
 * transaction, and is recorded in kumo_migrations.  Never edit a released
 * step; add a new one.
 *
 * The SQL is written once and expanded twice by the SCHEMA_V1() macro: for
 * SQLite as is, for MySQL/MariaDB with an InnoDB/utf8mb4 table suffix (binary
 * collation, so names compare the same way as in SQLite).  Tables carry an
 * "id_" prefix because "user" and "group" are reserved words in MySQL.
 *
 * Design (see resource.h): domains live in id_project with is_domain = 1
 * (Keystone's model, which makes "projects acting as domains" work);
 * assignments are one table keyed by (type, actor, target, role,
 * inherited); there are no foreign keys - deletes clean their dependents in
 * one transaction in the resource code (version 3 adds the tables of the
 * newer APIs, see SCHEMA_V3).  revocation_event belongs to the
 * token code, which reads and writes it with its own SQL.
 */
#include "core/db.h"
#include "core/log.h"
#include "identity.h"

#define SCHEMA_V1(T) \
	"CREATE TABLE id_project (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" name VARCHAR(255) NOT NULL," \
	" domain_id VARCHAR(64) NOT NULL," \
	" parent_id VARCHAR(64)," \
	" is_domain INTEGER NOT NULL DEFAULT 0," \
	" enabled INTEGER NOT NULL DEFAULT 1," \
	" description TEXT," \
	" extra TEXT," \
	" created_at BIGINT NOT NULL DEFAULT 0," \
	" CONSTRAINT uq_project_name UNIQUE (domain_id, name))" T ";" \
	"CREATE INDEX ix_project_parent ON id_project (parent_id);" \
	"CREATE TABLE id_project_tag (" \
	" project_id VARCHAR(64) NOT NULL," \
	" name VARCHAR(255) NOT NULL," \
	" PRIMARY KEY (project_id, name))" T ";" \
	"CREATE TABLE id_user (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" name VARCHAR(255) NOT NULL," \
	" domain_id VARCHAR(64) NOT NULL," \
	" password_hash VARCHAR(255)," \
	" enabled INTEGER NOT NULL DEFAULT 1," \
	" default_project_id VARCHAR(64)," \
	" description TEXT," \
	" extra TEXT," \
	" options TEXT," \
	" created_at BIGINT NOT NULL," \
	" password_expires_at BIGINT," \
	" CONSTRAINT uq_user_name UNIQUE (domain_id, name))" T ";" \
	"CREATE TABLE id_group (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" name VARCHAR(255) NOT NULL," \
	" domain_id VARCHAR(64) NOT NULL," \
	" description TEXT," \
	" extra TEXT," \
	" CONSTRAINT uq_group_name UNIQUE (domain_id, name))" T ";" \
	"CREATE TABLE id_user_group (" \
	" user_id VARCHAR(64) NOT NULL," \
	" group_id VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (user_id, group_id))" T ";" \
	"CREATE INDEX ix_user_group_group ON id_user_group (group_id);" \
	"CREATE TABLE id_role (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" name VARCHAR(255) NOT NULL," \
	" name_key VARCHAR(255) NOT NULL," \
	" domain_id VARCHAR(64) NOT NULL DEFAULT '" "<<null>>" "'," \
	" description TEXT," \
	" extra TEXT," \
	" options TEXT," \
	" CONSTRAINT uq_role_name UNIQUE (name_key, domain_id))" T ";" \
	"CREATE TABLE id_implied_role (" \
	" prior_role_id VARCHAR(64) NOT NULL," \
	" implied_role_id VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (prior_role_id, implied_role_id))" T ";" \
	"CREATE TABLE id_assignment (" \
	" type VARCHAR(16) NOT NULL," \
	" actor_id VARCHAR(64) NOT NULL," \
	" target_id VARCHAR(64) NOT NULL," \
	" role_id VARCHAR(64) NOT NULL," \
	" inherited INTEGER NOT NULL DEFAULT 0," \
	" PRIMARY KEY (type, actor_id, target_id, role_id, inherited))" T ";" \
	"CREATE INDEX ix_assignment_actor ON id_assignment (actor_id);" \
	"CREATE INDEX ix_assignment_target ON id_assignment (target_id);" \
	"CREATE INDEX ix_assignment_role ON id_assignment (role_id);" \
	"CREATE TABLE id_region (" \
	" id VARCHAR(255) NOT NULL PRIMARY KEY," \
	" description TEXT," \
	" parent_region_id VARCHAR(255)," \
	" extra TEXT)" T ";" \
	"CREATE TABLE id_service (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" type VARCHAR(255) NOT NULL," \
	" name VARCHAR(255)," \
	" description TEXT," \
	" enabled INTEGER NOT NULL DEFAULT 1," \
	" extra TEXT)" T ";" \
	"CREATE TABLE id_endpoint (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" service_id VARCHAR(64) NOT NULL," \
	" interface VARCHAR(8) NOT NULL," \
	" region_id VARCHAR(255)," \
	" url TEXT NOT NULL," \
	" enabled INTEGER NOT NULL DEFAULT 1," \
	" extra TEXT)" T ";" \
	"CREATE INDEX ix_endpoint_service ON id_endpoint (service_id);" \
	"CREATE TABLE revocation_event (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" user_id VARCHAR(64)," \
	" project_id VARCHAR(64)," \
	" domain_id VARCHAR(64)," \
	" audit_id VARCHAR(64)," \
	" issued_before BIGINT NOT NULL," \
	" revoked_at BIGINT NOT NULL)" T ";" \
	"CREATE INDEX ix_revocation_issued ON revocation_event (issued_before)"

/* Version 3: project/domain options (immutable), application credentials
 * and their access rules, credentials (blobs encrypted with the credential
 * keys, see fernet.c), policies, OAuth1 consumers, endpoint groups and
 * project-endpoint associations (OS-EP-FILTER), domain configurations,
 * registered limits and limits.  Optional references ("no region", "no
 * project") are stored as '' so that UNIQUE constraints hold on both
 * engines. */
#define SCHEMA_V3(T) \
	"ALTER TABLE id_project ADD COLUMN options TEXT;" \
	"CREATE TABLE id_app_cred (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" name VARCHAR(255) NOT NULL," \
	" user_id VARCHAR(64) NOT NULL," \
	" project_id VARCHAR(64) NOT NULL," \
	" secret_hash VARCHAR(255) NOT NULL," \
	" description TEXT," \
	" expires_at BIGINT," \
	" unrestricted INTEGER," \
	" created_at BIGINT NOT NULL," \
	" CONSTRAINT uq_app_cred_name UNIQUE (user_id, name))" T ";" \
	"CREATE INDEX ix_app_cred_project ON id_app_cred (project_id);" \
	"CREATE TABLE id_app_cred_role (" \
	" app_cred_id VARCHAR(64) NOT NULL," \
	" role_id VARCHAR(64) NOT NULL," \
	" ord INTEGER NOT NULL DEFAULT 0," \
	" PRIMARY KEY (app_cred_id, role_id))" T ";" \
	"CREATE INDEX ix_app_cred_role_role ON id_app_cred_role (role_id);" \
	"CREATE TABLE id_access_rule (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" user_id VARCHAR(64) NOT NULL," \
	" service VARCHAR(64)," \
	" path VARCHAR(255)," \
	" method VARCHAR(16))" T ";" \
	"CREATE INDEX ix_access_rule_user ON id_access_rule (user_id);" \
	"CREATE TABLE id_app_cred_access_rule (" \
	" app_cred_id VARCHAR(64) NOT NULL," \
	" access_rule_id VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (app_cred_id, access_rule_id))" T ";" \
	"CREATE INDEX ix_app_cred_access_rule ON id_app_cred_access_rule (access_rule_id);" \
	"CREATE TABLE id_credential (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" user_id VARCHAR(64) NOT NULL," \
	" project_id VARCHAR(64)," \
	" type VARCHAR(255) NOT NULL," \
	" encrypted_blob TEXT NOT NULL," \
	" extra TEXT)" T ";" \
	"CREATE INDEX ix_credential_user ON id_credential (user_id);" \
	"CREATE TABLE id_policy (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" type VARCHAR(255) NOT NULL," \
	" policy_blob TEXT NOT NULL," \
	" extra TEXT)" T ";" \
	"CREATE TABLE id_consumer (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" description TEXT," \
	" secret_hash VARCHAR(255)," \
	" extra TEXT)" T ";" \
	"CREATE TABLE id_endpoint_group (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" name VARCHAR(255) NOT NULL," \
	" description TEXT," \
	" filters TEXT NOT NULL)" T ";" \
	"CREATE TABLE id_project_endpoint (" \
	" endpoint_id VARCHAR(64) NOT NULL," \
	" project_id VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (endpoint_id, project_id))" T ";" \
	"CREATE INDEX ix_project_endpoint_project ON id_project_endpoint (project_id);" \
	"CREATE TABLE id_project_endpoint_group (" \
	" endpoint_group_id VARCHAR(64) NOT NULL," \
	" project_id VARCHAR(64) NOT NULL," \
	" PRIMARY KEY (endpoint_group_id, project_id))" T ";" \
	"CREATE INDEX ix_project_endpoint_group_project ON id_project_endpoint_group" \
	" (project_id);" \
	"CREATE TABLE id_domain_config (" \
	" domain_id VARCHAR(64) NOT NULL," \
	" grp VARCHAR(64) NOT NULL," \
	" opt VARCHAR(64) NOT NULL," \
	" value TEXT NOT NULL," \
	" is_sensitive INTEGER NOT NULL DEFAULT 0," \
	" PRIMARY KEY (domain_id, grp, opt))" T ";" \
	"CREATE TABLE id_registered_limit (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" service_id VARCHAR(64) NOT NULL," \
	" region_id VARCHAR(255) NOT NULL," \
	" resource_name VARCHAR(255) NOT NULL," \
	" default_limit BIGINT NOT NULL," \
	" description TEXT," \
	" CONSTRAINT uq_registered_limit UNIQUE (service_id, region_id, resource_name))" T ";" \
	"CREATE TABLE id_limit (" \
	" id VARCHAR(64) NOT NULL PRIMARY KEY," \
	" project_id VARCHAR(64) NOT NULL," \
	" domain_id VARCHAR(64) NOT NULL," \
	" service_id VARCHAR(64) NOT NULL," \
	" region_id VARCHAR(255) NOT NULL," \
	" resource_name VARCHAR(255) NOT NULL," \
	" resource_limit BIGINT NOT NULL," \
	" description TEXT," \
	" CONSTRAINT uq_limit UNIQUE (project_id, domain_id, service_id, region_id," \
	" resource_name))" T

#define MYSQL_TABLE " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

static const kdb_migration id_steps[] = {
	{ 1, SCHEMA_V1(""), SCHEMA_V1(MYSQL_TABLE) },
	/* As Keystone's db_sync long did: the "default" domain exists from the
	 * start, so the seed's OS_TOKEN sequence (project create --domain
	 * default) works before any bootstrap. */
	{ 2, "INSERT INTO id_project (id, name, domain_id, parent_id, is_domain, enabled,"
	     " description, extra, created_at) SELECT 'default', 'Default',"
	     " '<<keystone.domain.root>>', NULL, 1, 1, 'The default domain', '{}', 0"
	     " WHERE NOT EXISTS (SELECT 1 FROM id_project WHERE id = 'default')",
	  "INSERT INTO id_project (id, name, domain_id, parent_id, is_domain, enabled,"
	  " description, extra, created_at) SELECT 'default', 'Default',"
	  " '<<keystone.domain.root>>', NULL, 1, 1, 'The default domain', '{}', 0 FROM DUAL"
	  " WHERE NOT EXISTS (SELECT 1 FROM id_project WHERE id = 'default')" },
	{ 3, SCHEMA_V3(""), SCHEMA_V3(MYSQL_TABLE) },
};

int id_db_sync(void)
{
	if (!id_db) {
		klog_error("identity", "db-sync: database not open");
		return -1;
	}
	if (kdb_migrate(id_db, "identity", id_steps, ARRAY_SIZE(id_steps)) != 0) {
		klog_error("identity", "db-sync failed");
		return -1;
	}
	return 0;
}
