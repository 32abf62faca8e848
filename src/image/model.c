/*
 * model.c - image records: every SQL statement of the Image service lives
 * here (Glance's glance/db/sqlalchemy/api.py role).
 *
 * Images travel as their API view (a JSON object exactly as GET
 * /v2/images/{id} shows it: custom properties first, then the core
 * attributes, tags, self, file and schema); the functions below turn rows
 * into views and views back into rows.  Keys that are not core attributes are
 * custom properties (strings).
 *
 * Visibility (Glance's is_image_visible and _select_images_query): an admin
 * sees everything; anybody sees public and community images and images
 * without owner; a project sees its own images and the shared images it is a
 * member of (any member status for a direct GET; the listing shows shared
 * images only for the asked member_status, "accepted" by default, and hides
 * community images that are not the caller's unless visibility=community is
 * asked for).
 *
 * Listing builds one SELECT from the filters with bound parameters only; the
 * page's properties and tags are then read with two IN (...) queries.
 * Pagination is Glance's: the sort keys always end with created_at and id,
 * and the marker image's values select the rows after it (NULLs compared as
 * '' or 0, as Glance's COALESCE does).  Time filters compare whole seconds,
 * which is what the API shows.
 *
 * Status changes that race with other requests (uploads, deletes,
 * deactivation) are compare-and-set UPDATEs on (id, status), so the loser
 * learns it lost instead of overwriting the winner.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/auth.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "image.h"

kdb *img_db;

#define IMG_COLS \
	"i.id, i.name, i.disk_format, i.container_format, i.size, i.virtual_size, i.status," \
	" i.visibility, i.checksum, i.os_hash_algo, i.os_hash_value, i.min_disk, i.min_ram," \
	" i.owner, i.protected, i.os_hidden, i.created_at, i.updated_at"

enum {
	C_ID, C_NAME, C_DISK, C_CONTAINER, C_SIZE, C_VSIZE, C_STATUS, C_VIS, C_CHECKSUM,
	C_HALGO, C_HVALUE, C_MIN_DISK, C_MIN_RAM, C_OWNER, C_PROTECTED, C_HIDDEN, C_CREATED,
	C_UPDATED, C_NCOLS
};

#define IN_CHUNK 100

/* The keys of the view that are not custom properties. */
static const char *const core_keys[] = {
	"id", "name", "disk_format", "container_format", "visibility", "size", "virtual_size",
	"status", "checksum", "protected", "min_ram", "min_disk", "owner", "os_hidden",
	"os_hash_algo", "os_hash_value", "created_at", "updated_at", "tags", "self", "file",
	"schema", NULL
};

bool img_is_core_key(const char *key)
{
	for (int i = 0; core_keys[i]; i++)
		if (strcmp(core_keys[i], key) == 0)
			return true;
	return false;
}

/* ---- small helpers ---- */

static json_t *col_str(kstmt *st, int col)
{
	const char *s = kstmt_text(st, col);
	return s ? json_string(s) : json_null();
}

static json_t *col_int(kstmt *st, int col)
{
	return kstmt_isnull(st, col) ? json_null() : json_integer(kstmt_int(st, col));
}

static json_t *col_time(kstmt *st, int col)
{
	char buf[32];
	kutil_iso8601_s(kstmt_int(st, col), buf);
	return json_string(buf);
}

/* The core attributes of a row, in Glance's order (without tags and links). */
static json_t *row_core(kstmt *st)
{
	json_t *o = json_object();
	json_object_set_new(o, "name", col_str(st, C_NAME));
	json_object_set_new(o, "disk_format", col_str(st, C_DISK));
	json_object_set_new(o, "container_format", col_str(st, C_CONTAINER));
	json_object_set_new(o, "visibility", col_str(st, C_VIS));
	json_object_set_new(o, "size", col_int(st, C_SIZE));
	json_object_set_new(o, "virtual_size", col_int(st, C_VSIZE));
	json_object_set_new(o, "status", col_str(st, C_STATUS));
	json_object_set_new(o, "checksum", col_str(st, C_CHECKSUM));
	json_object_set_new(o, "protected", json_boolean(kstmt_int(st, C_PROTECTED)));
	json_object_set_new(o, "min_ram", json_integer(kstmt_int(st, C_MIN_RAM)));
	json_object_set_new(o, "min_disk", json_integer(kstmt_int(st, C_MIN_DISK)));
	json_object_set_new(o, "owner", col_str(st, C_OWNER));
	json_object_set_new(o, "os_hidden", json_boolean(kstmt_int(st, C_HIDDEN)));
	json_object_set_new(o, "os_hash_algo", col_str(st, C_HALGO));
	json_object_set_new(o, "os_hash_value", col_str(st, C_HVALUE));
	json_object_set_new(o, "id", col_str(st, C_ID));
	json_object_set_new(o, "created_at", col_time(st, C_CREATED));
	json_object_set_new(o, "updated_at", col_time(st, C_UPDATED));
	return o;
}

/* Assemble the API view: custom properties, core, tags, links.  Steals
 * nothing; returns a new reference. */
static json_t *make_view(json_t *core, json_t *props, json_t *tags)
{
	json_t *v = json_object();
	if (props)
		json_object_update(v, props);
	json_object_update(v, core);
	if (tags)
		json_object_set(v, "tags", tags);
	else
		json_object_set_new(v, "tags", json_array());
	const char *id = kjson_str(core, "id");
	char buf[128];
	snprintf(buf, sizeof(buf), "/v2/images/%s", id ? id : "");
	json_object_set_new(v, "self", json_string(buf));
	snprintf(buf, sizeof(buf), "/v2/images/%s/file", id ? id : "");
	json_object_set_new(v, "file", json_string(buf));
	json_object_set_new(v, "schema", json_string("/v2/schemas/image"));
	return v;
}

/* The member `key` of o, created as an empty object/array when missing. */
static json_t *child(json_t *o, const char *key, bool array)
{
	json_t *c = json_object_get(o, key);
	if (!c) {
		c = array ? json_array() : json_object();
		json_object_set_new(o, key, c);
	}
	return c;
}

/* One row of a children query into out: properties (id, name, value) go to
 * out[id][name] = value, tags (id, value) to out[id][] = value. */
static void add_child(kstmt *st, json_t *out, bool tags)
{
	const char *id = kstmt_text(st, 0);
	if (!id)
		return;
	if (tags) {
		const char *val = kstmt_text(st, 1);
		if (val)
			json_array_append_new(child(out, id, true), json_string(val));
		return;
	}
	const char *name = kstmt_text(st, 1), *val = kstmt_text(st, 2);
	if (name)
		json_object_set_new(child(out, id, false), name,
		                    val ? json_string(val) : json_null());
}

/* Properties (tags = false) or tags of n images, IN_CHUNK ids per query. */
static int load_children(const char *const *ids, size_t n, json_t *out, bool tags)
{
	for (size_t off = 0; off < n; off += IN_CHUNK) {
		size_t cnt = n - off < IN_CHUNK ? n - off : IN_CHUNK;
		char in[IN_CHUNK * 2 + 1], sql[512 + sizeof(in)];
		size_t k = 0;
		for (size_t i = 0; i < cnt; i++) {
			if (i)
				in[k++] = ',';
			in[k++] = '?';
		}
		in[k] = '\0';
		if (tags)
			snprintf(sql, sizeof(sql), "SELECT image_id, value FROM img_tag WHERE"
			         " image_id IN (%s) ORDER BY image_id, created_at, value", in);
		else
			snprintf(sql, sizeof(sql), "SELECT image_id, name, value FROM img_property"
			         " WHERE image_id IN (%s) ORDER BY image_id, name", in);
		_cleanup_stmt_ kstmt *st = kdb_prepare(img_db, sql);
		if (!st)
			return -1;
		for (size_t i = 0; i < cnt; i++)
			kstmt_bind_text(st, (int)i + 1, ids[off + i]);
		int rc;
		while ((rc = kstmt_step(st)) == KDB_ROW)
			add_child(st, out, tags);
		if (rc != KDB_DONE)
			return -1;
	}
	return 0;
}

/* Views of the rows of `st` (IMG_COLS first); NULL on error. */
static json_t *collect_views(kstmt *st)
{
	_cleanup_json_ json_t *cores = json_array();
	int rc;
	while ((rc = kstmt_step(st)) == KDB_ROW)
		json_array_append_new(cores, row_core(st));
	if (rc != KDB_DONE)
		return NULL;
	size_t n = json_array_size(cores);
	_cleanup_free_ const char **ids = calloc(n + 1, sizeof(*ids));
	if (!ids)
		return NULL;
	for (size_t i = 0; i < n; i++)
		ids[i] = kjson_str(json_array_get(cores, i), "id");
	_cleanup_json_ json_t *props = json_object();
	_cleanup_json_ json_t *tags = json_object();
	if (load_children(ids, n, props, false) != 0 || load_children(ids, n, tags, true) != 0)
		return NULL;
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, make_view(json_array_get(cores, i),
		                                     json_object_get(props, ids[i]),
		                                     json_object_get(tags, ids[i])));
	return out;
}

int img_fetch(const char *id, json_t **out)
{
	*out = NULL;
	if (!id || strlen(id) > 36)
		return 1;
	_cleanup_stmt_ kstmt *st = kdb_prepare(img_db, "SELECT " IMG_COLS " FROM img_image i"
	                                       " WHERE i.id = ? AND i.deleted = 0");
	if (!st)
		return -1;
	kstmt_bind_text(st, 1, id);
	_cleanup_json_ json_t *views = collect_views(st);
	if (!views)
		return -1;
	if (json_array_size(views) == 0)
		return 1;
	*out = json_incref(json_array_get(views, 0));
	return 0;
}

/* ---- visibility ---- */

int img_member_status(const char *image_id, const char *member, char out[16])
{
	out[0] = '\0';
	if (!member)
		return 1;
	_cleanup_stmt_ kstmt *st = kdb_prepare(img_db, "SELECT status FROM img_member"
	                                       " WHERE image_id = ? AND member = ?");
	if (!st)
		return -1;
	kstmt_bind_text(st, 1, image_id);
	kstmt_bind_text(st, 2, member);
	int rc = kstmt_step(st);
	if (rc == KDB_ROW) {
		snprintf(out, 16, "%s", kstmt_text(st, 0) ? kstmt_text(st, 0) : "");
		return 0;
	}
	return rc == KDB_DONE ? 1 : -1;
}

bool img_visible_to(const char *project, bool admin, const json_t *image)
{
	if (admin)
		return true;
	const char *owner = kjson_str(image, "owner");
	const char *vis = kjson_str(image, "visibility");
	if (!owner)
		return true;
	if (vis && (!strcmp(vis, "public") || !strcmp(vis, "community")))
		return true;
	if (!project)
		return false;
	if (strcmp(owner, project) == 0)
		return true;
	char status[16];
	return vis && !strcmp(vis, "shared") &&
	       img_member_status(kjson_str(image, "id"), project, status) == 0;
}

json_t *img_get_visible(kreq *r, const char *id)
{
	json_t *img = NULL;
	int rc = img_fetch(id, &img);
	if (rc < 0) {
		kresp_error(r, 500, "%s", "");
		return NULL;
	}
	if (rc > 0 || !img_visible_to(img_project(r), img_is_admin(r), img)) {
		json_decref(img);
		kresp_error(r, 404, "No image found with ID %s", id ? id : "");
		return NULL;
	}
	return kpool_json(r->pool, img);
}

/* ---- writes ---- */

static const char *str_or_null(const json_t *o, const char *key)
{
	return kjson_str(o, key);
}

static int64_t int_or(const json_t *o, const char *key, int64_t def)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return def;
}

static int write_props(const char *id, const json_t *view)
{
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)view, key, val) {
		if (img_is_core_key(key) || (!json_is_string(val) && !json_is_null(val)))
			continue;
		int rc = kdb_run(img_db, NULL, "INSERT INTO img_property (image_id, name, value)"
		                 " VALUES (?, ?, ?)", "sss", id, key, json_string_value(val));
		if (rc != KDB_DONE)
			return -1;
	}
	return 0;
}

static bool tags_contain(const json_t *tags, const char *tag)
{
	size_t i;
	json_t *t;
	json_array_foreach(tags, i, t)
		if (json_is_string(t) && strcmp(json_string_value(t), tag) == 0)
			return true;
	return false;
}

/* Make the stored tags equal to the view's, keeping the order of the ones
 * that stay; new tags go after them, in the view's order. */
static int write_tags(const char *id, const json_t *view, int64_t now)
{
	json_t *tags = json_object_get(view, "tags");
	_cleanup_json_ json_t *old = kdb_query_json(img_db, "SELECT value FROM img_tag"
	                                            " WHERE image_id = ?", "s", id);
	if (!old)
		return -1;
	size_t i;
	json_t *row;
	json_array_foreach(old, i, row) {
		const char *v = kjson_str(row, "value");
		if (v && !tags_contain(tags, v) &&
		    kdb_run(img_db, NULL, "DELETE FROM img_tag WHERE image_id = ? AND value = ?",
		            "ss", id, v) != KDB_DONE)
			return -1;
	}
	json_t *t;
	int64_t seq = 0;
	json_array_foreach(tags, i, t) {
		if (!json_is_string(t))
			continue;
		const char *v = json_string_value(t);
		bool had = false;
		size_t j;
		json_array_foreach(old, j, row)
			had |= kjson_str(row, "value") && !strcmp(kjson_str(row, "value"), v);
		if (had)
			continue;
		int rc = kdb_run(img_db, NULL, "INSERT INTO img_tag (image_id, value, created_at)"
		                 " VALUES (?, ?, ?)", "ssi", id, v, now + seq++);
		if (rc != KDB_DONE && rc != KDB_CONSTRAINT)   /* a duplicate in the list */
			return -1;
	}
	return 0;
}

int img_insert(json_t *view)
{
	const char *id = kjson_str(view, "id");
	int64_t now = kutil_now_us();
	if (!id)
		return -1;
	if (kdb_begin(img_db) != KDB_OK)
		return -1;
	int rc = kdb_run(img_db, NULL,
		"INSERT INTO img_image (id, name, disk_format, container_format, size,"
		" virtual_size, status, visibility, checksum, os_hash_algo, os_hash_value,"
		" min_disk, min_ram, owner, protected, os_hidden, created_at, updated_at, deleted,"
		" deleted_at) VALUES (?, ?, ?, ?, NULL, NULL, 'queued', ?, NULL, NULL, NULL, ?, ?,"
		" ?, ?, ?, ?, ?, 0, NULL)", "sssssiisbbii", id, str_or_null(view, "name"),
		str_or_null(view, "disk_format"), str_or_null(view, "container_format"),
		str_or_null(view, "visibility"), int_or(view, "min_disk", 0),
		int_or(view, "min_ram", 0), str_or_null(view, "owner"),
		json_is_true(json_object_get(view, "protected")),
		json_is_true(json_object_get(view, "os_hidden")), now, now);
	if (rc == KDB_DONE && write_props(id, view) != 0)
		rc = KDB_ERROR;
	if (rc == KDB_DONE && write_tags(id, view, now) != 0)
		rc = KDB_ERROR;
	if (rc != KDB_DONE) {
		kdb_rollback(img_db);
		return rc == KDB_CONSTRAINT ? 409 : -1;
	}
	return kdb_commit(img_db) == KDB_OK ? 0 : -1;
}

int img_update(json_t *view)
{
	const char *id = kjson_str(view, "id");
	int64_t now = kutil_now_us(), changes = 0;
	if (!id)
		return -1;
	if (kdb_begin(img_db) != KDB_OK)
		return -1;
	int rc = kdb_run(img_db, &changes,
		"UPDATE img_image SET name = ?, disk_format = ?, container_format = ?,"
		" visibility = ?, min_disk = ?, min_ram = ?, owner = ?, protected = ?,"
		" os_hidden = ?, updated_at = ? WHERE id = ? AND deleted = 0", "ssssiisbbis",
		str_or_null(view, "name"), str_or_null(view, "disk_format"),
		str_or_null(view, "container_format"), str_or_null(view, "visibility"),
		int_or(view, "min_disk", 0), int_or(view, "min_ram", 0), str_or_null(view, "owner"),
		json_is_true(json_object_get(view, "protected")),
		json_is_true(json_object_get(view, "os_hidden")), now, id);
	if (rc == KDB_DONE && changes == 0) {
		kdb_rollback(img_db);
		return 404;
	}
	if (rc == KDB_DONE)
		rc = kdb_run(img_db, NULL, "DELETE FROM img_property WHERE image_id = ?", "s", id);
	if (rc == KDB_DONE && write_props(id, view) != 0)
		rc = KDB_ERROR;
	if (rc == KDB_DONE && write_tags(id, view, now) != 0)
		rc = KDB_ERROR;
	if (rc != KDB_DONE) {
		kdb_rollback(img_db);
		return -1;
	}
	if (kdb_commit(img_db) != KDB_OK)
		return -1;
	char buf[32];
	kutil_iso8601_s(now, buf);
	json_object_set_new(view, "updated_at", json_string(buf));
	return 0;
}

int img_remove(const char *id)
{
	int64_t now = kutil_now_us(), changes = 0;
	if (kdb_begin(img_db) != KDB_OK)
		return -1;
	int rc = kdb_run(img_db, &changes, "UPDATE img_image SET deleted = 1, status = 'deleted',"
	                 " deleted_at = ?, updated_at = ? WHERE id = ? AND deleted = 0"
	                 " AND protected = 0", "iis", now, now, id);
	if (rc == KDB_DONE && changes == 0) {
		kdb_rollback(img_db);
		bool found = false;
		_cleanup_json_ json_t *row = kdb_query_row(img_db, &found, "SELECT protected"
		                                           " FROM img_image WHERE id = ?"
		                                           " AND deleted = 0", "s", id);
		return row && int_or(row, "protected", 0) ? 403 : 404;
	}
	static const char *const children[] = {
		"DELETE FROM img_property WHERE image_id = ?",
		"DELETE FROM img_tag WHERE image_id = ?",
		"DELETE FROM img_member WHERE image_id = ?",
	};
	for (size_t i = 0; i < ARRAY_SIZE(children) && rc == KDB_DONE; i++)
		rc = kdb_run(img_db, NULL, children[i], "s", id);
	if (rc != KDB_DONE) {
		kdb_rollback(img_db);
		return -1;
	}
	return kdb_commit(img_db) == KDB_OK ? 0 : -1;
}

int img_set_status(const char *id, const char *from, const char *to)
{
	int64_t changes = 0;
	bool queued = strcmp(to, "queued") == 0;
	int rc = kdb_run(img_db, &changes, queued ?
	                 "UPDATE img_image SET status = ?, size = NULL, virtual_size = NULL,"
	                 " updated_at = ? WHERE id = ? AND status = ? AND deleted = 0" :
	                 "UPDATE img_image SET status = ?, updated_at = ?"
	                 " WHERE id = ? AND status = ? AND deleted = 0",
	                 "siss", to, kutil_now_us(), id, from);
	return rc == KDB_DONE && changes == 1 ? 0 : -1;
}

int img_set_data(const char *id, const char *from, int64_t size, const char *checksum_md5,
                 const char *hash_algo, const char *hash_value)
{
	int64_t changes = 0;
	int rc = kdb_run(img_db, &changes,
	                 "UPDATE img_image SET status = 'active', size = ?, checksum = ?,"
	                 " os_hash_algo = ?, os_hash_value = ?, updated_at = ?"
	                 " WHERE id = ? AND status = ? AND deleted = 0", "isssiss", size,
	                 checksum_md5, hash_algo, hash_value, kutil_now_us(), id, from);
	return rc == KDB_DONE && changes == 1 ? 0 : -1;
}

int img_set_staged_size(const char *id, int64_t size)
{
	int64_t changes = 0;
	int rc = kdb_run(img_db, &changes, "UPDATE img_image SET size = ?, updated_at = ?"
	                 " WHERE id = ? AND status = 'uploading' AND deleted = 0", "iis", size,
	                 kutil_now_us(), id);
	return rc == KDB_DONE && changes == 1 ? 0 : -1;
}

int img_recover(void)
{
	int64_t changes = 0;
	int rc = kdb_run(img_db, &changes, "UPDATE img_image SET status = 'queued', size = NULL,"
	                 " virtual_size = NULL, updated_at = ? WHERE deleted = 0"
	                 " AND status IN ('saving', 'importing')", "i", kutil_now_us());
	if (rc != KDB_DONE)
		return -1;
	if (changes > 0)
		klog_warn("image", "%lld image(s) left in saving/importing by a previous run are"
		          " queued again", (long long)changes);
	return 0;
}

/* ---- members ---- */

static json_t *member_view(const json_t *row)
{
	char c[32], u[32];
	kutil_iso8601_s(int_or(row, "created_at", 0), c);
	kutil_iso8601_s(int_or(row, "updated_at", 0), u);
	return json_pack("{s:s?,s:s?,s:s?,s:s,s:s,s:s}", "member_id", kjson_str(row, "member"),
	                 "image_id", kjson_str(row, "image_id"), "status",
	                 kjson_str(row, "status"), "created_at", c, "updated_at", u, "schema",
	                 "/v2/schemas/member");
}

json_t *img_members_list(const char *image_id, const char *only)
{
	_cleanup_json_ json_t *rows = only ?
		kdb_query_json(img_db, "SELECT image_id, member, status, created_at, updated_at"
		               " FROM img_member WHERE image_id = ? AND member = ?"
		               " ORDER BY created_at, member", "ss", image_id, only) :
		kdb_query_json(img_db, "SELECT image_id, member, status, created_at, updated_at"
		               " FROM img_member WHERE image_id = ? ORDER BY created_at, member",
		               "s", image_id);
	if (!rows)
		return NULL;
	json_t *out = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
		json_array_append_new(out, member_view(row));
	return out;
}

int img_member_get(const char *image_id, const char *member, json_t **out)
{
	bool found = false;
	*out = NULL;
	_cleanup_json_ json_t *row = kdb_query_row(img_db, &found,
		"SELECT image_id, member, status, created_at, updated_at FROM img_member"
		" WHERE image_id = ? AND member = ?", "ss", image_id, member);
	if (!row)
		return found ? -1 : 1;
	*out = member_view(row);
	return 0;
}

int64_t img_member_count(const char *image_id)
{
	bool found = false;
	_cleanup_json_ json_t *row = kdb_query_row(img_db, &found, "SELECT COUNT(*) AS n FROM"
	                                           " img_member WHERE image_id = ?", "s", image_id);
	return row ? int_or(row, "n", 0) : -1;
}

int img_member_add(const char *image_id, const char *member)
{
	int64_t now = kutil_now_us();
	int rc = kdb_run(img_db, NULL, "INSERT INTO img_member (image_id, member, status,"
	                 " created_at, updated_at) VALUES (?, ?, 'pending', ?, ?)", "ssii",
	                 image_id, member, now, now);
	if (rc == KDB_CONSTRAINT)
		return 409;
	return rc == KDB_DONE ? 0 : -1;
}

int img_member_set(const char *image_id, const char *member, const char *status)
{
	int64_t changes = 0;
	int rc = kdb_run(img_db, &changes, "UPDATE img_member SET status = ?, updated_at = ?"
	                 " WHERE image_id = ? AND member = ?", "siss", status, kutil_now_us(),
	                 image_id, member);
	if (rc != KDB_DONE)
		return -1;
	return changes ? 0 : 1;
}

int img_member_delete(const char *image_id, const char *member)
{
	int64_t changes = 0;
	int rc = kdb_run(img_db, &changes, "DELETE FROM img_member WHERE image_id = ?"
	                 " AND member = ?", "ss", image_id, member);
	if (rc != KDB_DONE)
		return -1;
	return changes ? 0 : 1;
}

/* ---- listing ---- */

/* A growing SQL text with its parameters. */
typedef struct sqlb {
	char *s;
	size_t len, cap;
	struct sqlp { bool is_int; const char *s; int64_t i; } *p;
	size_t np, pcap;
} sqlb;

static void sqlb_free(sqlb *b)
{
	free(b->s);
	free(b->p);
}

static void sqlb_add(sqlb *b, const char *fmt, ...) _printf_(2, 3);
static void sqlb_add(sqlb *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n;
		char *s = realloc(b->s, cap);
		if (!s)
			abort();
		b->s = s;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static struct sqlp *sqlb_param(sqlb *b)
{
	if (b->np == b->pcap) {
		size_t cap = b->pcap ? b->pcap * 2 : 32;
		struct sqlp *p = realloc(b->p, cap * sizeof(*p));
		if (!p)
			abort();
		b->p = p;
		b->pcap = cap;
	}
	return &b->p[b->np++];
}

static void sqlb_text(sqlb *b, const char *s)
{
	struct sqlp *p = sqlb_param(b);
	p->is_int = false;
	p->s = s;
}

static void sqlb_int(sqlb *b, int64_t v)
{
	struct sqlp *p = sqlb_param(b);
	p->is_int = true;
	p->i = v;
}

static kstmt *sqlb_prepare(sqlb *b)
{
	kstmt *st = kdb_prepare(img_db, b->s);
	if (!st)
		return NULL;
	for (size_t i = 0; i < b->np; i++) {
		if (b->p[i].is_int)
			kstmt_bind_int(st, (int)i + 1, b->p[i].i);
		else
			kstmt_bind_text(st, (int)i + 1, b->p[i].s);
	}
	return st;
}

/* Python's int() on a query value: optional spaces and sign, digits. */
static bool parse_int(const char *s, int64_t *out)
{
	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (end == s || errno)
		return false;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return false;
	*out = v;
	return true;
}

/* Glance's split_filter_op: "op:value"; a value that parses as an ISO 8601
 * time as a whole keeps its colons (op "eq"). */
static void split_op(kpool *pool, const char *expr, const char **op, const char **value)
{
	const char *colon = strchr(expr, ':');
	if (colon && img_parse_time(expr) < 0) {
		*op = kpool_strndup(pool, expr, (size_t)(colon - expr));
		*value = colon + 1;
	} else {
		*op = "eq";
		*value = expr;
	}
}

/* Glance's split_filter_value_for_quotes (api-wg "in:" lists). */
static int split_in_list(kpool *pool, const char *value, const char ***out, size_t *n,
                         char *err, size_t errlen)
{
	bool open = true;
	size_t len = strlen(value);
	for (size_t i = 0; i < len; i++) {
		if (value[i] != '"' || (i && value[i - 1] == '\\'))
			continue;
		if (open && i && value[i - 1] != ',') {
			snprintf(err, errlen, "Invalid filter value %s. There is no comma before "
			         "opening quotation mark.", value);
			return -1;
		}
		if (!open && i + 1 != len && value[i + 1] != ',') {
			snprintf(err, errlen, "Invalid filter value %s. There is no comma after "
			         "closing quotation mark.", value);
			return -1;
		}
		open = !open;
	}
	if (!open) {
		snprintf(err, errlen, "Invalid filter value %s. The quote is not closed.", value);
		return -1;
	}
	const char **v = kpool_alloc(pool, (len + 2) * sizeof(*v));
	size_t k = 0;
	const char *p = value;
	while (*p) {
		if (*p == '"') {
			const char *start = ++p;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					p++;
				p++;
			}
			v[k++] = kpool_strndup(pool, start, (size_t)(p - start));
			if (*p == '"')
				p++;
			if (*p == ',')
				p++;
		} else if (*p == ',') {
			v[k++] = "";
			p++;
		} else {
			const char *start = p;
			while (*p && *p != ',')
				p++;
			v[k++] = kpool_strndup(pool, start, (size_t)(p - start));
			if (*p == ',')
				p++;
		}
	}
	*out = v;
	*n = k;
	return 0;
}

static bool is_int_col(const char *c)
{
	return !strcmp(c, "size") || !strcmp(c, "virtual_size") || !strcmp(c, "min_disk") ||
	       !strcmp(c, "min_ram");
}

/* A time column compared at whole seconds (what the API shows). */
static int time_cond(sqlb *b, const char *col, const char *op, int64_t t)
{
	const int64_t S = 1000000;
	int64_t fl = t >= 0 ? t / S * S : -((-t + S - 1) / S) * S;
	int64_t ce = fl == t ? t : fl + S;
	if (!strcmp(op, "gt")) {
		sqlb_add(b, " AND i.%s >= ?", col);
		sqlb_int(b, fl + S);
	} else if (!strcmp(op, "gte")) {
		sqlb_add(b, " AND i.%s >= ?", col);
		sqlb_int(b, ce);
	} else if (!strcmp(op, "lt")) {
		sqlb_add(b, " AND i.%s < ?", col);
		sqlb_int(b, ce);
	} else if (!strcmp(op, "lte")) {
		sqlb_add(b, " AND i.%s < ?", col);
		sqlb_int(b, fl + S);
	} else if (!strcmp(op, "eq") || !strcmp(op, "neq")) {
		bool eq = !strcmp(op, "eq");
		if (fl != t)
			sqlb_add(b, eq ? " AND 1 = 0" : "");
		else {
			sqlb_add(b, eq ? " AND (i.%s >= ? AND i.%s < ?)" :
			         " AND (i.%s < ? OR i.%s >= ?)", col, col);
			sqlb_int(b, fl);
			sqlb_int(b, fl + S);
		}
	} else {
		return -1;
	}
	return 0;
}

/* One filter of the query string, as Glance's _make_conditions_from_filters. */
static int add_filter(kpool *pool, sqlb *b, const char *key, const char *value, char *err,
                      size_t errlen)
{
	size_t klen = strlen(key);
	if (!strcmp(key, "checksum") || !strcmp(key, "os_hash_value")) {
		sqlb_add(b, " AND i.%s = ?", key);
		sqlb_text(b, value);
		return 0;
	}
	if (klen > 4 && (!strcmp(key + klen - 4, "_min") || !strcmp(key + klen - 4, "_max"))) {
		int64_t v;
		if (!parse_int(value, &v)) {
			snprintf(err, errlen, "%s", "Unable to filter on a range with a non-numeric"
			         " value.");
			return 400;
		}
		char *col = kpool_strndup(pool, key, klen - 4);
		if (!is_int_col(col)) {
			snprintf(err, errlen, "Unable to filter on a range of %s.", col);
			return 400;
		}
		sqlb_add(b, " AND i.%s %s ?", col, key[klen - 2] == 'i' ? ">=" : "<=");
		sqlb_int(b, v);
		return 0;
	}
	if (!strcmp(key, "created_at") || !strcmp(key, "updated_at")) {
		const char *op, *when;
		split_op(pool, value, &op, &when);
		int64_t t = img_parse_time(when);
		if (t < 0) {
			snprintf(err, errlen, "Bad \"%s\" query filter format. Use ISO 8601 "
			         "DateTime notation.", key);
			return 400;
		}
		if (time_cond(b, key, op, t) != 0) {
			snprintf(err, errlen, "Unable to filter on a unknown operator.");
			return 400;
		}
		return 0;
	}
	if (!strcmp(key, "name") || !strcmp(key, "id") || !strcmp(key, "status") ||
	    !strcmp(key, "container_format") || !strcmp(key, "disk_format")) {
		const char *op, *v;
		split_op(pool, value, &op, &v);
		if (!strcmp(op, "in")) {
			const char **list;
			size_t n;
			if (split_in_list(pool, v, &list, &n, err, errlen) != 0)
				return 400;
			if (n == 0) {
				sqlb_add(b, " AND 1 = 0");
				return 0;
			}
			sqlb_add(b, " AND i.%s IN (", key);
			for (size_t i = 0; i < n; i++) {
				sqlb_add(b, i ? ", ?" : "?");
				sqlb_text(b, list[i]);
			}
			sqlb_add(b, ")");
		} else if (!strcmp(op, "eq")) {
			sqlb_add(b, " AND i.%s = ?", key);
			sqlb_text(b, v);
		} else {
			snprintf(err, errlen, "Unable to filter by unknown operator '%s'.", op);
			return 400;
		}
		return 0;
	}
	if (!strcmp(key, "owner") || !strcmp(key, "os_hash_algo")) {
		sqlb_add(b, " AND i.%s = ?", key);
		sqlb_text(b, value);
		return 0;
	}
	if (is_int_col(key)) {
		int64_t v;
		if (parse_int(value, &v)) {
			sqlb_add(b, " AND i.%s = ?", key);
			sqlb_int(b, v);
		} else {
			sqlb_add(b, " AND 1 = 0");
		}
		return 0;
	}
	if (!strcmp(key, "deleted"))
		return 0;       /* the API always lists live images */
	if (!strcmp(key, "deleted_at") || !strcmp(key, "properties") ||
	    !strcmp(key, "locations") || !strcmp(key, "members") || !strcmp(key, "tags")) {
		sqlb_add(b, " AND 1 = 0");
		return 0;
	}
	sqlb_add(b, " AND EXISTS (SELECT 1 FROM img_property p WHERE p.image_id = i.id"
	         " AND p.name = ? AND p.value = ?)");
	sqlb_text(b, key);
	sqlb_text(b, value);
	return 0;
}

/* The sort keys' columns as the marker query returns them. */
static const char *const sort_cols[] = { "name", "status", "container_format", "disk_format",
                                         "size", "id", "created_at", "updated_at" };

/* One "key <op> ?" term comparing with the marker row's value of the key. */
static void marker_term(kpool *pool, sqlb *b, kstmt *ms, const char *key, const char *cmp,
                        bool first)
{
	int col = 0;
	for (int c = 0; c < (int)ARRAY_SIZE(sort_cols); c++)
		if (!strcmp(sort_cols[c], key))
			col = c;
	bool nullable = col <= 4, num = col == 4 || col >= 6;
	if (nullable)
		sqlb_add(b, "%sCOALESCE(i.%s, %s) %s ?", first ? "" : " AND ", key,
		         num ? "0" : "''", cmp);
	else
		sqlb_add(b, "%si.%s %s ?", first ? "" : " AND ", key, cmp);
	if (num) {
		sqlb_int(b, kstmt_isnull(ms, col) ? 0 : kstmt_int(ms, col));
	} else {
		const char *v = kstmt_text(ms, col);
		sqlb_text(b, kpool_strdup(pool, v ? v : ""));
	}
}

/* The rows after the marker image in the sort order (Glance's
 * _paginate_query): (k1 > m1) or (k1 = m1 and k2 > m2) or ... */
static int marker_cond(kreq *r, sqlb *b, const img_query *q, const char *const *keys,
                       const char *const *dirs, size_t nk, char *err, size_t errlen)
{
	json_t *m = NULL;
	int rc = img_fetch(q->marker, &m);
	if (rc < 0)
		return 500;
	_cleanup_json_ json_t *marker = m;
	if (rc > 0) {
		snprintf(err, errlen, "No image found with ID %s", q->marker);
		return 400;
	}
	if (!img_visible_to(q->project, q->admin, marker)) {
		snprintf(err, errlen, "Forbidding request, image %s not visible", q->marker);
		return 403;
	}
	_cleanup_stmt_ kstmt *ms = kdb_prepare(img_db, "SELECT name, status, container_format,"
	                                       " disk_format, size, id, created_at, updated_at"
	                                       " FROM img_image WHERE id = ?");
	if (!ms)
		return 500;
	kstmt_bind_text(ms, 1, q->marker);
	if (kstmt_step(ms) != KDB_ROW)
		return 500;
	sqlb_add(b, " AND (");
	for (size_t i = 0; i < nk; i++) {
		sqlb_add(b, i ? " OR (" : "(");
		for (size_t j = 0; j <= i; j++) {
			const char *cmp = j < i ? "=" : !strcmp(dirs[j], "desc") ? "<" : ">";
			marker_term(r->pool, b, ms, keys[j], cmp, j == 0);
		}
		sqlb_add(b, ")");
	}
	sqlb_add(b, ")");
	return 0;
}

int img_list(kreq *r, const img_query *q, json_t **out, char **next_marker, char *err,
             size_t errlen)
{
	*out = NULL;
	*next_marker = NULL;
	err[0] = '\0';
	_cleanup_(sqlb_free) sqlb b = { 0 };
	const char *proj = q->project;

	sqlb_add(&b, "SELECT " IMG_COLS " FROM img_image i WHERE i.deleted = 0"
	         " AND i.status <> 'killed' AND i.os_hidden = ?");
	sqlb_int(&b, q->os_hidden);
	if (q->protected_ >= 0) {
		sqlb_add(&b, " AND i.protected = ?");
		sqlb_int(&b, q->protected_);
	}
	for (size_t i = 0; i < q->nfilters; i++) {
		int rc = add_filter(r->pool, &b, q->filters[i].key, q->filters[i].value, err,
		                    errlen);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < q->ntags; i++) {
		sqlb_add(&b, " AND EXISTS (SELECT 1 FROM img_tag t WHERE t.image_id = i.id"
		         " AND t.value = ?)");
		sqlb_text(&b, q->tags[i]);
	}
	if (!q->admin) {
		sqlb_add(&b, " AND (i.visibility IN ('public', 'community')");
		if (proj) {
			sqlb_add(&b, " OR i.owner = ?");
			sqlb_text(&b, proj);
		}
		sqlb_add(&b, " OR (i.visibility = 'shared' AND EXISTS (SELECT 1 FROM img_member m"
		         " WHERE m.image_id = i.id");
		if (proj) {
			sqlb_add(&b, " AND m.member = ?");
			sqlb_text(&b, proj);
			if (strcmp(q->member_status, "all") != 0) {
				sqlb_add(&b, " AND m.status = ?");
				sqlb_text(&b, q->member_status);
			}
		}
		sqlb_add(&b, ")))");
	}
	if (q->visibility) {
		if (strcmp(q->visibility, "all") != 0) {
			sqlb_add(&b, " AND i.visibility = ?");
			sqlb_text(&b, q->visibility);
		}
	} else if (!proj) {
		sqlb_add(&b, " AND i.visibility <> 'community'");
	} else {
		sqlb_add(&b, " AND (i.owner = ? OR i.visibility <> 'community')");
		sqlb_text(&b, proj);
	}

	/* sort keys, then created_at and id as Glance adds them */
	const char *keys[IMG_MAX_SORT + 2], *dirs[IMG_MAX_SORT + 2];
	size_t nk = 0;
	const char *def_dir = q->nsort_dirs == 1 ? q->sort_dirs[0] : "desc";
	for (size_t i = 0; i < q->nsort && nk < IMG_MAX_SORT; i++) {
		keys[nk] = q->sort_keys[i];
		dirs[nk++] = q->nsort_dirs == 1 ? q->sort_dirs[0] :
		             (i < q->nsort_dirs ? q->sort_dirs[i] : "desc");
	}
	static const char *const extra[] = { "created_at", "id" };
	for (size_t e = 0; e < 2; e++) {
		bool have = false;
		for (size_t i = 0; i < nk; i++)
			have |= !strcmp(keys[i], extra[e]);
		if (!have) {
			keys[nk] = extra[e];
			dirs[nk++] = def_dir;
		}
	}

	if (q->marker) {
		int rc = marker_cond(r, &b, q, keys, dirs, nk, err, errlen);
		if (rc)
			return rc;
	}

	sqlb_add(&b, " ORDER BY ");
	for (size_t i = 0; i < nk; i++)
		sqlb_add(&b, "%si.%s %s", i ? ", " : "", keys[i],
		         !strcmp(dirs[i], "asc") ? "ASC" : "DESC");
	sqlb_add(&b, " LIMIT ?");
	sqlb_int(&b, q->limit);

	_cleanup_stmt_ kstmt *st = sqlb_prepare(&b);
	if (!st)
		return 500;
	json_t *views = collect_views(st);
	if (!views)
		return 500;
	size_t n = json_array_size(views);
	if (n != 0 && (int64_t)n == q->limit)
		*next_marker = kpool_strdup(r->pool, kjson_str(json_array_get(views, n - 1), "id"));
	*out = kpool_json(r->pool, views);
	return 0;
}

/* ---- times ---- */

int64_t img_parse_time(const char *s)
{
	if (!s)
		return -1;
	int64_t t = kutil_parse_iso8601(s);
	if (t >= 0)
		return t;
	/* forms oslo's parse_isotime also takes: a date alone, a space instead of
	 * the T, minutes without seconds */
	char buf[64];
	size_t n = strlen(s);
	if (n >= sizeof(buf) - 8)
		return -1;
	memcpy(buf, s, n + 1);
	if (n == 10 && buf[4] == '-' && buf[7] == '-') {
		strcat(buf, "T00:00:00");
		return kutil_parse_iso8601(buf);
	}
	if (n > 10 && buf[10] == ' ') {
		buf[10] = 'T';
		return img_parse_time(buf);
	}
	if (n >= 16 && buf[10] == 'T' && buf[13] == ':' && (n == 16 || buf[16] != ':')) {
		char tmp[96];
		snprintf(tmp, sizeof(tmp), "%.16s:00%s", buf, buf + 16);
		return kutil_parse_iso8601(tmp);
	}
	return -1;
}
