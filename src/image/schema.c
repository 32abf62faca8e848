/*
 * schema.c - the image database schema, as versioned migrations.
 *
 * `kumo manage db-sync image` (and db-sync of every service) calls
 * img_db_sync(), which hands the steps below to kdb_migrate(): each step runs
 * once, in a transaction, and is recorded in kumo_migrations under the
 * component "image".  Never edit a released step; add a new one.
 *
 * The SQL is written once and expanded twice by SCHEMA_V1(): for SQLite as
 * is, for MySQL/MariaDB with an InnoDB/utf8mb4 table suffix and a binary
 * collation, so names compare and sort the same way in both.
 *
 * The tables follow Glance's model (glance/db/sqlalchemy/models.py) without
 * its soft-delete columns on the child tables:
 *   img_image     one row per image; a deleted image keeps its row
 *                 (deleted = 1, status 'deleted') so that its id can never be
 *                 reused, as in Glance; times are microseconds since the epoch
 *   img_property  custom properties (name -> string value; NULL for the few
 *                 the schema lets be null, like kernel_id)
 *   img_tag       tags, in the order they were added
 *   img_member    the projects a shared image is offered to, with their answer
 * Child rows of a deleted image are removed in the same transaction as the
 * image's soft delete (model.c).  There are no foreign keys.
 */
#include "core/db.h"
#include "core/log.h"
#include "image.h"

#define SCHEMA_V1(T) \
	"CREATE TABLE img_image (" \
	" id VARCHAR(36) NOT NULL PRIMARY KEY," \
	" name VARCHAR(255)," \
	" disk_format VARCHAR(20)," \
	" container_format VARCHAR(20)," \
	" size BIGINT," \
	" virtual_size BIGINT," \
	" status VARCHAR(30) NOT NULL," \
	" visibility VARCHAR(20) NOT NULL," \
	" checksum VARCHAR(32)," \
	" os_hash_algo VARCHAR(64)," \
	" os_hash_value VARCHAR(128)," \
	" min_disk INTEGER NOT NULL DEFAULT 0," \
	" min_ram INTEGER NOT NULL DEFAULT 0," \
	" owner VARCHAR(255)," \
	" protected INTEGER NOT NULL DEFAULT 0," \
	" os_hidden INTEGER NOT NULL DEFAULT 0," \
	" created_at BIGINT NOT NULL," \
	" updated_at BIGINT NOT NULL," \
	" deleted INTEGER NOT NULL DEFAULT 0," \
	" deleted_at BIGINT)" T ";" \
	"CREATE INDEX ix_img_image_owner ON img_image (owner);" \
	"CREATE INDEX ix_img_image_visibility ON img_image (deleted, visibility);" \
	"CREATE INDEX ix_img_image_created ON img_image (created_at);" \
	"CREATE TABLE img_property (" \
	" image_id VARCHAR(36) NOT NULL," \
	" name VARCHAR(255) NOT NULL," \
	" value TEXT," \
	" PRIMARY KEY (image_id, name))" T ";" \
	"CREATE INDEX ix_img_property_name ON img_property (name);" \
	"CREATE TABLE img_tag (" \
	" image_id VARCHAR(36) NOT NULL," \
	" value VARCHAR(255) NOT NULL," \
	" created_at BIGINT NOT NULL," \
	" PRIMARY KEY (image_id, value))" T ";" \
	"CREATE INDEX ix_img_tag_value ON img_tag (value);" \
	"CREATE TABLE img_member (" \
	" image_id VARCHAR(36) NOT NULL," \
	" member VARCHAR(255) NOT NULL," \
	" status VARCHAR(20) NOT NULL," \
	" created_at BIGINT NOT NULL," \
	" updated_at BIGINT NOT NULL," \
	" PRIMARY KEY (image_id, member))" T ";" \
	"CREATE INDEX ix_img_member_member ON img_member (member)"

#define MYSQL_TABLE " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"

static const kdb_migration img_steps[] = {
	{ 1, SCHEMA_V1(""), SCHEMA_V1(MYSQL_TABLE) },
};

int img_db_sync(void)
{
	if (!img_db) {
		klog_error("image", "db-sync: database not open");
		return -1;
	}
	if (kdb_migrate(img_db, "image", img_steps, ARRAY_SIZE(img_steps)) != 0) {
		klog_error("image", "db-sync failed");
		return -1;
	}
	return 0;
}
