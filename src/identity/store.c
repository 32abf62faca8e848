/*
 * store.c - the identity model layer: SQL in, Keystone-shaped JSON out.
 *
 * Every getter returns a new JSON object in the shape the v3 API shows it
 * (without "links", which need the request's base URL) or NULL when the row
 * does not exist.  The REST resources and the token code both build on it.
 *
 * Role assignments are computed the way Keystone's assignment manager does
 * it (keystone/assignment/core.py): the table holds direct grants only;
 * "effective" assignments are derived in memory by
 *   1. selecting the grants that can affect the query (the user's own and
 *      those of its groups; on a project, the inherited grants of its
 *      parents and of its domain),
 *   2. expanding group grants into one per member and inherited grants into
 *      one per project below the grant point,
 *   3. adding implied roles (transitively, remembering the prior role),
 *   4. dropping domain-specific roles, which only exist to imply others.
 * Each derived assignment records where it came from in "indirect", which
 * the role_assignments API turns into links.  The data sets involved are
 * small (one user's grants, one project's ancestry), so plain in-memory
 * JSON is the simplest correct representation.
 *
 * Passwords are hashed with bcrypt through libxcrypt's crypt_ra(); checks
 * re-hash with the stored setting and compare in constant time.  A missing
 * user or password still costs one hash, so timing does not reveal which
 * user names exist.
 */
#include <crypt.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "core/conf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

/* ------------------------------------------------------------------ */
/* small helpers */

static json_t *jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

static bool col_bool(kstmt *st, int col)
{
	return !kstmt_isnull(st, col) && kstmt_int(st, col) != 0;
}

void idstore_merge_extra(json_t *obj, const char *extra_text)
{
	if (!extra_text || !*extra_text)
		return;
	_cleanup_json_ json_t *extra = json_loads(extra_text, 0, NULL);
	if (!json_is_object(extra))
		return;
	const char *k;
	json_t *v;
	json_object_foreach(extra, k, v) {
		if (!json_object_get(obj, k))
			json_object_set(obj, k, v);
	}
}

static bool is_known(const char *key, const char *const *known)
{
	for (size_t i = 0; known && known[i]; i++)
		if (strcmp(known[i], key) == 0)
			return true;
	return false;
}

char *idstore_extra_text(const json_t *obj, const char *const *known)
{
	_cleanup_json_ json_t *extra = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		if (!is_known(k, known) && strcmp(k, "links") != 0)
			json_object_set(extra, k, v);
	}
	return json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS);
}

char *idstore_extra_update(const char *old_extra, const json_t *upd, const char *const *known)
{
	_cleanup_json_ json_t *extra = old_extra ? json_loads(old_extra, 0, NULL) : NULL;
	if (!json_is_object(extra)) {
		json_decref(extra);
		extra = json_object();
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)upd, k, v) {
		if (!is_known(k, known) && strcmp(k, "links") != 0)
			json_object_set(extra, k, v);
	}
	return json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS);
}

char *idstore_options_text(const char *old_text, const json_t *upd)
{
	_cleanup_json_ json_t *o = old_text ? json_loads(old_text, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)upd, k, v) {
		if (json_is_null(v))
			json_object_del(o, k);
		else
			json_object_set(o, k, v);
	}
	return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}

bool idstore_immutable(const json_t *obj)
{
	return json_is_true(json_object_get(json_object_get(obj, "options"), "immutable"));
}

static json_t *load_options(const char *text)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	return o;
}

/* "2026-11-26T04:05:41.000000", the form Keystone uses for
 * password_expires_at. */
static json_t *time_or_null(kstmt *st, int col)
{
	if (kstmt_isnull(st, col))
		return json_null();
	int64_t us = kstmt_int(st, col);
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char buf[48];
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%06lld", (long long)(us % 1000000));
	return json_string(buf);
}

/* ------------------------------------------------------------------ */
/* row converters */

json_t *idstore_project_tags(const char *project_id)
{
	json_t *tags = json_array();
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT name FROM id_project_tag WHERE project_id = ? ORDER BY name");
	if (!st)
		return tags;
	kstmt_bind_text(st, 1, project_id);
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(tags, jstr(kstmt_text(st, 0)));
	return tags;
}

/* cols: id, name, domain_id, parent_id, is_domain, enabled, description, extra,
 * options */
json_t *idstore_project_from_row(kstmt *st)
{
	bool is_domain = col_bool(st, 4);
	json_t *p = json_object();
	json_object_set_new(p, "id", jstr(kstmt_text(st, 0)));
	json_object_set_new(p, "name", jstr(kstmt_text(st, 1)));
	json_object_set_new(p, "domain_id", is_domain ? json_null() : jstr(kstmt_text(st, 2)));
	json_object_set_new(p, "parent_id", is_domain ? json_null() : jstr(kstmt_text(st, 3)));
	json_object_set_new(p, "is_domain", json_boolean(is_domain));
	json_object_set_new(p, "enabled", json_boolean(col_bool(st, 5)));
	json_object_set_new(p, "description", jstr(kstmt_text(st, 6)));
	json_object_set_new(p, "options", load_options(kstmt_text(st, 8)));
	idstore_merge_extra(p, kstmt_text(st, 7));
	return p;
}

json_t *idstore_domain_from_row(kstmt *st)
{
	json_t *d = json_object();
	json_object_set_new(d, "id", jstr(kstmt_text(st, 0)));
	json_object_set_new(d, "name", jstr(kstmt_text(st, 1)));
	json_object_set_new(d, "description", jstr(kstmt_text(st, 6)));
	json_object_set_new(d, "enabled", json_boolean(col_bool(st, 5)));
	json_object_set_new(d, "options", load_options(kstmt_text(st, 8)));
	idstore_merge_extra(d, kstmt_text(st, 7));
	return d;
}

/* cols: id, name, domain_id, enabled, default_project_id, description, extra,
 * options, password_expires_at */
json_t *idstore_user_from_row(kstmt *st)
{
	json_t *u = json_object();
	json_object_set_new(u, "id", jstr(kstmt_text(st, 0)));
	json_object_set_new(u, "name", jstr(kstmt_text(st, 1)));
	json_object_set_new(u, "domain_id", jstr(kstmt_text(st, 2)));
	json_object_set_new(u, "enabled", json_boolean(col_bool(st, 3)));
	if (!kstmt_isnull(st, 4))
		json_object_set_new(u, "default_project_id", jstr(kstmt_text(st, 4)));
	if (!kstmt_isnull(st, 5))
		json_object_set_new(u, "description", jstr(kstmt_text(st, 5)));
	json_object_set_new(u, "password_expires_at", time_or_null(st, 8));
	json_object_set_new(u, "options", load_options(kstmt_text(st, 7)));
	idstore_merge_extra(u, kstmt_text(st, 6));
	return u;
}

/* cols: id, name, domain_id, description, extra */
json_t *idstore_group_from_row(kstmt *st)
{
	json_t *g = json_object();
	json_object_set_new(g, "id", jstr(kstmt_text(st, 0)));
	json_object_set_new(g, "name", jstr(kstmt_text(st, 1)));
	json_object_set_new(g, "domain_id", jstr(kstmt_text(st, 2)));
	json_object_set_new(g, "description", jstr(kstmt_text(st, 3)));
	idstore_merge_extra(g, kstmt_text(st, 4));
	return g;
}

/* cols: id, name, domain_id, description, extra, options */
json_t *idstore_role_from_row(kstmt *st)
{
	const char *dom = kstmt_text(st, 2);
	json_t *o = json_object();
	json_object_set_new(o, "id", jstr(kstmt_text(st, 0)));
	json_object_set_new(o, "name", jstr(kstmt_text(st, 1)));
	json_object_set_new(o, "domain_id",
			    dom && strcmp(dom, ID_NULL_DOMAIN) != 0 ? jstr(dom) : json_null());
	json_object_set_new(o, "description", jstr(kstmt_text(st, 3)));
	json_object_set_new(o, "options", load_options(kstmt_text(st, 5)));
	idstore_merge_extra(o, kstmt_text(st, 4));
	return o;
}

/* cols: id, type, name, description, enabled, extra */
json_t *idstore_service_from_row(kstmt *st)
{
	json_t *s = json_object();
	json_object_set_new(s, "id", jstr(kstmt_text(st, 0)));
	json_object_set_new(s, "type", jstr(kstmt_text(st, 1)));
	if (!kstmt_isnull(st, 2))
		json_object_set_new(s, "name", jstr(kstmt_text(st, 2)));
	if (!kstmt_isnull(st, 3))
		json_object_set_new(s, "description", jstr(kstmt_text(st, 3)));
	json_object_set_new(s, "enabled", json_boolean(col_bool(st, 4)));
	idstore_merge_extra(s, kstmt_text(st, 5));
	return s;
}

/* cols: id, service_id, interface, region_id, url, enabled, extra */
json_t *idstore_endpoint_from_row(kstmt *st)
{
	json_t *e = json_object();
	json_object_set_new(e, "id", jstr(kstmt_text(st, 0)));
	json_object_set_new(e, "service_id", jstr(kstmt_text(st, 1)));
	json_object_set_new(e, "interface", jstr(kstmt_text(st, 2)));
	json_object_set_new(e, "region_id", jstr(kstmt_text(st, 3)));
	json_object_set_new(e, "region", jstr(kstmt_text(st, 3)));
	json_object_set_new(e, "url", jstr(kstmt_text(st, 4)));
	json_object_set_new(e, "enabled", json_boolean(col_bool(st, 5)));
	idstore_merge_extra(e, kstmt_text(st, 6));
	return e;
}

/* cols: id, description, parent_region_id, extra */
json_t *idstore_region_from_row(kstmt *st)
{
	json_t *g = json_object();
	json_object_set_new(g, "id", jstr(kstmt_text(st, 0)));
	const char *desc = kstmt_text(st, 1);
	json_object_set_new(g, "description", json_string(desc ? desc : ""));
	json_object_set_new(g, "parent_region_id", jstr(kstmt_text(st, 2)));
	idstore_merge_extra(g, kstmt_text(st, 3));
	return g;
}

/* ------------------------------------------------------------------ */
/* getters */

typedef json_t *(*row_fn)(kstmt *st);

/* One row of `sql` with up to two text parameters, converted by fn. */
static json_t *get_one(const char *sql, const char *a, const char *b, row_fn fn)
{
	if (!a)
		return NULL;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, sql);
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, a);
	if (b)
		kstmt_bind_text(st, 2, b);
	if (kstmt_step(st) != KDB_ROW)
		return NULL;
	return fn(st);
}

static json_t *with_tags(json_t *p)
{
	if (p)
		json_object_set_new(p, "tags", idstore_project_tags(kjson_str(p, "id")));
	return p;
}

json_t *idstore_domain_get(const char *id)
{
	return with_tags(get_one("SELECT " IDSTORE_PROJECT_COLS
				 " FROM id_project WHERE id = ? AND is_domain = 1",
				 id, NULL, idstore_domain_from_row));
}

json_t *idstore_domain_by_name(const char *name)
{
	return with_tags(get_one("SELECT " IDSTORE_PROJECT_COLS
				 " FROM id_project WHERE name = ? AND is_domain = 1"
				 " AND domain_id = '" ID_DOMAIN_ROOT "'",
				 name, NULL, idstore_domain_from_row));
}

json_t *idstore_project_get(const char *id)
{
	return with_tags(get_one("SELECT " IDSTORE_PROJECT_COLS
				 " FROM id_project WHERE id = ? AND is_domain = 0",
				 id, NULL, idstore_project_from_row));
}

json_t *idstore_project_any(const char *id)
{
	return with_tags(get_one("SELECT " IDSTORE_PROJECT_COLS " FROM id_project WHERE id = ?",
				 id, NULL, idstore_project_from_row));
}

json_t *idstore_project_by_name(const char *name, const char *domain_id)
{
	if (!domain_id)
		return NULL;
	return with_tags(get_one("SELECT " IDSTORE_PROJECT_COLS
				 " FROM id_project WHERE name = ? AND domain_id = ?"
				 " AND is_domain = 0",
				 name, domain_id, idstore_project_from_row));
}

json_t *idstore_user_get(const char *id)
{
	return get_one("SELECT " IDSTORE_USER_COLS " FROM id_user WHERE id = ?",
		       id, NULL, idstore_user_from_row);
}

json_t *idstore_user_by_name(const char *name, const char *domain_id)
{
	if (!domain_id)
		return NULL;
	return get_one("SELECT " IDSTORE_USER_COLS " FROM id_user WHERE name = ? AND domain_id = ?",
		       name, domain_id, idstore_user_from_row);
}

json_t *idstore_group_get(const char *id)
{
	return get_one("SELECT " IDSTORE_GROUP_COLS " FROM id_group WHERE id = ?",
		       id, NULL, idstore_group_from_row);
}

json_t *idstore_role_get(const char *id)
{
	return get_one("SELECT " IDSTORE_ROLE_COLS " FROM id_role WHERE id = ?",
		       id, NULL, idstore_role_from_row);
}

json_t *idstore_service_get(const char *id)
{
	return get_one("SELECT " IDSTORE_SERVICE_COLS " FROM id_service WHERE id = ?",
		       id, NULL, idstore_service_from_row);
}

json_t *idstore_endpoint_get(const char *id)
{
	return get_one("SELECT " IDSTORE_ENDPOINT_COLS " FROM id_endpoint WHERE id = ?",
		       id, NULL, idstore_endpoint_from_row);
}

json_t *idstore_region_get(const char *id)
{
	return get_one("SELECT " IDSTORE_REGION_COLS " FROM id_region WHERE id = ?",
		       id, NULL, idstore_region_from_row);
}

/* ------------------------------------------------------------------ */
/* hierarchy */

static json_t *ids_of(const char *sql, const char *arg)
{
	json_t *ids = json_array();
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, sql);
	if (!st)
		return ids;
	kstmt_bind_text(st, 1, arg);
	while (kstmt_step(st) == KDB_ROW)
		json_array_append_new(ids, jstr(kstmt_text(st, 0)));
	return ids;
}

json_t *idstore_project_parents(const char *project_id)
{
	json_t *out = json_array();
	_cleanup_free_ char *cur = NULL;
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT parent_id FROM id_project WHERE id = ? AND is_domain = 0");
		if (!st)
			return out;
		kstmt_bind_text(st, 1, project_id);
		if (kstmt_step(st) == KDB_ROW && kstmt_text(st, 0))
			cur = strdup(kstmt_text(st, 0));
	}
	/* Walk up; the depth bound guards against a corrupted cycle. */
	for (int depth = 0; cur && depth < 1000; depth++) {
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT id, parent_id FROM id_project WHERE id = ? AND is_domain = 0");
		if (!st)
			break;
		kstmt_bind_text(st, 1, cur);
		if (kstmt_step(st) != KDB_ROW)
			break;   /* reached the domain (or a dangling parent) */
		json_array_append_new(out, jstr(kstmt_text(st, 0)));
		const char *next = kstmt_text(st, 1);
		char *n = next ? strdup(next) : NULL;
		free(cur);
		cur = n;
	}
	return out;
}

json_t *idstore_project_subtree(const char *project_id)
{
	json_t *out = json_array();
	/* Breadth first: out doubles as the queue. */
	static const char *const sql =
		"SELECT id FROM id_project WHERE parent_id = ? AND is_domain = 0 ORDER BY id";
	_cleanup_json_ json_t *first = ids_of(sql, project_id);
	json_array_extend(out, first);
	for (size_t i = 0; i < json_array_size(out) && i < 100000; i++) {
		const char *id = json_string_value(json_array_get(out, i));
		_cleanup_json_ json_t *kids = ids_of(sql, id);
		json_array_extend(out, kids);
	}
	return out;
}

json_t *idstore_domain_projects(const char *domain_id)
{
	return ids_of("SELECT id FROM id_project WHERE domain_id = ? AND is_domain = 0 ORDER BY id",
		      domain_id);
}

/* ------------------------------------------------------------------ */
/* membership and grants */

bool idstore_user_in_group(const char *user_id, const char *group_id)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT 1 FROM id_user_group WHERE user_id = ? AND group_id = ?");
	if (!st)
		return false;
	kstmt_bind_text(st, 1, user_id);
	kstmt_bind_text(st, 2, group_id);
	return kstmt_step(st) == KDB_ROW;
}

json_t *idstore_group_member_ids(const char *group_id)
{
	return ids_of("SELECT user_id FROM id_user_group WHERE group_id = ? ORDER BY user_id",
		      group_id);
}

json_t *idstore_user_group_ids(const char *user_id)
{
	return ids_of("SELECT group_id FROM id_user_group WHERE user_id = ? ORDER BY group_id",
		      user_id);
}

bool idstore_grant_exists(const char *type, const char *actor_id, const char *target_id,
			  const char *role_id, bool inherited)
{
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT 1 FROM id_assignment WHERE type = ? AND actor_id = ? AND target_id = ?"
		" AND role_id = ? AND inherited = ?");
	if (!st)
		return false;
	kstmt_bind_text(st, 1, type);
	kstmt_bind_text(st, 2, actor_id);
	kstmt_bind_text(st, 3, target_id);
	kstmt_bind_text(st, 4, role_id);
	kstmt_bind_int(st, 5, inherited ? 1 : 0);
	return kstmt_step(st) == KDB_ROW;
}

int idstore_grant_add(const char *type, const char *actor_id, const char *target_id,
		      const char *role_id, bool inherited)
{
	int rc = kdb_run(id_db, NULL,
			 "INSERT INTO id_assignment (type, actor_id, target_id, role_id, inherited)"
			 " VALUES (?, ?, ?, ?, ?)", "ssssb",
			 type, actor_id, target_id, role_id, inherited);
	if (rc == KDB_CONSTRAINT)   /* already granted: PUT is idempotent */
		return KDB_DONE;
	return rc == KDB_DONE ? KDB_DONE : KDB_ERROR;
}

int idstore_grant_del(const char *type, const char *actor_id, const char *target_id,
		      const char *role_id, bool inherited)
{
	int64_t n = 0;
	int rc = kdb_run(id_db, &n,
			 "DELETE FROM id_assignment WHERE type = ? AND actor_id = ?"
			 " AND target_id = ? AND role_id = ? AND inherited = ?", "ssssb",
			 type, actor_id, target_id, role_id, inherited);
	return rc == KDB_DONE ? (int)n : -1;
}

/* ------------------------------------------------------------------ */
/* role assignments */

typedef struct asg_ctx {
	const idstore_asg_query *q;
	json_t *roles;      /* role id -> {"name", "domain_id": string or null} */
	json_t *implies;    /* prior role id -> [implied role ids] */
	json_t *members;    /* cache: group id -> [user ids] */
	json_t *subtrees;   /* cache: project id -> [project ids] */
	json_t *domprojs;   /* cache: domain id -> [project ids] */
} asg_ctx;

static void asg_ctx_free(asg_ctx *c)
{
	json_decref(c->roles);
	json_decref(c->implies);
	json_decref(c->members);
	json_decref(c->subtrees);
	json_decref(c->domprojs);
}

static int asg_ctx_load(asg_ctx *c)
{
	c->roles = json_object();
	c->implies = json_object();
	c->members = json_object();
	c->subtrees = json_object();
	c->domprojs = json_object();
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT id, name, domain_id FROM id_role");
		if (!st)
			return -1;
		while (kstmt_step(st) == KDB_ROW) {
			const char *dom = kstmt_text(st, 2);
			bool global = !dom || strcmp(dom, ID_NULL_DOMAIN) == 0;
			json_object_set_new(c->roles, kstmt_text(st, 0), json_pack("{s:o,s:o}",
					    "name", jstr(kstmt_text(st, 1)),
					    "domain_id", global ? json_null() : jstr(dom)));
		}
	}
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT prior_role_id, implied_role_id FROM id_implied_role"
		" ORDER BY prior_role_id, implied_role_id");
	if (!st)
		return -1;
	while (kstmt_step(st) == KDB_ROW) {
		const char *prior = kstmt_text(st, 0);
		json_t *arr = json_object_get(c->implies, prior);
		if (!arr) {
			arr = json_array();
			json_object_set_new(c->implies, prior, arr);
		}
		json_array_append_new(arr, jstr(kstmt_text(st, 1)));
	}
	return 0;
}

/* Cached list lookups (borrowed references). */
static json_t *cached(json_t *cache, const char *key, json_t *(*fn)(const char *))
{
	json_t *v = json_object_get(cache, key);
	if (!v) {
		v = fn(key);
		json_object_set_new(cache, key, v);
	}
	return v;
}

static bool in_ids(const json_t *arr, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (strcmp(json_string_value(v), id) == 0)
			return true;
	}
	return false;
}

typedef struct asg_row {
	char type[16];
	char *actor, *target, *role;
	bool inherited;
} asg_row;

static bool type_is(const asg_row *a, const char *actor, const char *target)
{
	size_t n = strlen(actor);
	return strncmp(a->type, actor, n) == 0 && strcmp(a->type + n, target) == 0;
}

static bool row_is_user(const asg_row *a) { return strncmp(a->type, "User", 4) == 0; }
static bool row_is_system(const asg_row *a)
{
	return type_is(a, "User", "System") || type_is(a, "Group", "System");
}
static bool row_is_project(const asg_row *a)
{
	return type_is(a, "User", "Project") || type_is(a, "Group", "Project");
}
static bool row_is_domain(const asg_row *a)
{
	return type_is(a, "User", "Domain") || type_is(a, "Group", "Domain");
}

typedef struct asg_rows {
	asg_row *v;
	size_t n, cap;
} asg_rows;

static void asg_rows_free(asg_rows *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->v[i].actor);
		free(rs->v[i].target);
		free(rs->v[i].role);
	}
	free(rs->v);
}

/* Load grants; actor NULL = all rows, else rows of that actor whose type
 * starts with actor_kind ("User" / "Group"). */
static int load_rows(asg_rows *rs, const char *actor, const char *actor_kind)
{
	const char *sql = actor
		? "SELECT type, actor_id, target_id, role_id, inherited FROM id_assignment"
		  " WHERE actor_id = ? ORDER BY type, target_id, role_id"
		: "SELECT type, actor_id, target_id, role_id, inherited FROM id_assignment"
		  " ORDER BY type, actor_id, target_id, role_id";
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db, sql);
	if (!st)
		return -1;
	if (actor)
		kstmt_bind_text(st, 1, actor);
	int rc;
	while ((rc = kstmt_step(st)) == KDB_ROW) {
		const char *type = kstmt_text(st, 0);
		if (!type || strlen(type) >= sizeof(rs->v[0].type))
			continue;
		if (actor_kind && strncmp(type, actor_kind, strlen(actor_kind)) != 0)
			continue;
		if (rs->n == rs->cap) {
			rs->cap = rs->cap ? rs->cap * 2 : 16;
			rs->v = realloc(rs->v, rs->cap * sizeof(*rs->v));
			if (!rs->v)
				abort();
		}
		asg_row *a = &rs->v[rs->n++];
		snprintf(a->type, sizeof(a->type), "%s", type);
		a->actor = strdup(kstmt_text(st, 1) ? kstmt_text(st, 1) : "");
		a->target = strdup(kstmt_text(st, 2) ? kstmt_text(st, 2) : "");
		a->role = strdup(kstmt_text(st, 3) ? kstmt_text(st, 3) : "");
		a->inherited = kstmt_int(st, 4) != 0;
	}
	return rc == KDB_DONE ? 0 : -1;
}

/* The grant as a Keystone internal ref. */
static json_t *row_ref(const asg_row *a)
{
	json_t *ref = json_object();
	json_object_set_new(ref, row_is_user(a) ? "user_id" : "group_id", jstr(a->actor));
	if (row_is_project(a))
		json_object_set_new(ref, "project_id", jstr(a->target));
	else if (row_is_domain(a))
		json_object_set_new(ref, "domain_id", jstr(a->target));
	else
		json_object_set_new(ref, "system", json_string("all"));
	json_object_set_new(ref, "role_id", jstr(a->role));
	if (a->inherited)
		json_object_set_new(ref, "inherited_to_projects", json_true());
	return ref;
}

static json_t *new_indirect(json_t *ref)
{
	json_t *ind = json_object_get(ref, "indirect");
	if (!ind) {
		ind = json_object();
		json_object_set_new(ref, "indirect", ind);
	}
	return ind;
}

/* Expand one grant (effective mode) into refs appended to out. */
static void expand_row(asg_ctx *c, const asg_row *a, const json_t *pi, json_t *out)
{
	const idstore_asg_query *q = c->q;
	_cleanup_json_ json_t *users = json_array();
	bool group = !row_is_user(a);
	if (!group)
		json_array_append_new(users, json_string(a->actor));
	else if (q->user_id)
		json_array_append_new(users, json_string(q->user_id));
	else
		json_array_extend(users, cached(c->members, a->actor, idstore_group_member_ids));

	_cleanup_json_ json_t *projects = NULL;
	if (a->inherited) {
		if (pi) {
			if (q->include_subtree && row_is_project(a) && in_ids(pi, a->target))
				projects = json_incref(cached(c->subtrees, a->target,
							      idstore_project_subtree));
			else
				projects = json_incref((json_t *)pi);
		} else if (row_is_domain(a)) {
			projects = json_incref(cached(c->domprojs, a->target,
						      idstore_domain_projects));
		} else {
			projects = json_incref(cached(c->subtrees, a->target,
						      idstore_project_subtree));
		}
	}

	size_t i, j;
	json_t *u, *p;
	json_array_foreach(users, i, u) {
		if (!a->inherited) {
			json_t *ref = row_ref(a);
			if (group) {
				json_object_del(ref, "group_id");
				json_object_set(ref, "user_id", u);
				json_object_set_new(new_indirect(ref), "group_id", jstr(a->actor));
			}
			json_array_append_new(out, ref);
			continue;
		}
		json_array_foreach(projects, j, p) {
			json_t *ref = json_object();
			json_object_set(ref, "user_id", u);
			json_object_set(ref, "project_id", p);
			json_object_set_new(ref, "role_id", jstr(a->role));
			json_t *ind = new_indirect(ref);
			if (group)
				json_object_set_new(ind, "group_id", jstr(a->actor));
			json_object_set_new(ind, row_is_domain(a) ? "domain_id" : "project_id",
					    jstr(a->target));
			json_array_append_new(out, ref);
		}
	}
}

/* Append the implied roles of ref (transitively) to out. */
static void add_implied(asg_ctx *c, json_t *ref, json_t *seen, json_t *out, int depth)
{
	const char *role = kjson_str(ref, "role_id");
	json_t *imp = role ? json_object_get(c->implies, role) : NULL;
	if (!imp || depth > 32)
		return;
	size_t i;
	json_t *v;
	json_array_foreach(imp, i, v) {
		const char *implied = json_string_value(v);
		if (json_object_get(seen, implied))
			continue;
		json_object_set_new(seen, implied, json_true());
		json_t *copy = json_deep_copy(ref);
		json_object_set_new(copy, "role_id", json_string(implied));
		json_object_set_new(new_indirect(copy), "role_id", json_string(role));
		json_array_append_new(out, copy);
		add_implied(c, copy, seen, out, depth + 1);
	}
}

static bool row_wanted_direct(const idstore_asg_query *q, const asg_row *a, const json_t *pi)
{
	if (q->role_id && strcmp(a->role, q->role_id) != 0)
		return false;
	if (q->inherited >= 0 && a->inherited != (q->inherited == 1))
		return false;
	if (q->project_id)
		return row_is_project(a) && in_ids(pi, a->target);
	if (q->domain_id)
		return row_is_domain(a) && strcmp(a->target, q->domain_id) == 0;
	if (q->system)
		return row_is_system(a);
	return true;
}

static bool row_wanted_effective(const idstore_asg_query *q, const asg_row *a, int inherited,
				 const json_t *pi, const json_t *parents, const char *pdom)
{
	if (inherited == 0 && a->inherited)
		return false;
	if (inherited == 1 && !a->inherited)
		return false;
	if (row_is_system(a))
		return q->system;
	if (q->system)
		return false;
	if (q->project_id) {
		if (!a->inherited)
			return row_is_project(a) && in_ids(pi, a->target);
		if (row_is_domain(a))
			return pdom && strcmp(a->target, pdom) == 0;
		return in_ids(parents, a->target) || (q->include_subtree && in_ids(pi, a->target));
	}
	if (q->domain_id)
		return row_is_domain(a) && !a->inherited && strcmp(a->target, q->domain_id) == 0;
	return true;
}

/* The assignments of q, computed with the role data and caches the caller
 * loaded (the local copy shares them; the caller frees them). */
static json_t *compute(const idstore_asg_query *q, const asg_ctx *cp)
{
	asg_ctx c = *cp;
	c.q = q;
	_cleanup_(asg_rows_free) asg_rows rows = { 0 };

	/* Projects of interest: the project and, with include_subtree, its
	 * subtree. */
	_cleanup_json_ json_t *pi = NULL;
	_cleanup_json_ json_t *parents = NULL;
	_cleanup_json_ json_t *project = NULL;
	if (q->project_id) {
		pi = json_array();
		json_array_append_new(pi, json_string(q->project_id));
		if (q->include_subtree) {
			_cleanup_json_ json_t *sub = idstore_project_subtree(q->project_id);
			json_array_extend(pi, sub);
		}
		parents = idstore_project_parents(q->project_id);
		project = idstore_project_get(q->project_id);
	}

	json_t *out = json_array();
	if (!q->effective) {
		int rc = q->user_id ? load_rows(&rows, q->user_id, "User")
		       : q->group_id ? load_rows(&rows, q->group_id, "Group")
		       : load_rows(&rows, NULL, NULL);
		if (rc != 0) {
			json_decref(out);
			return NULL;
		}
		for (size_t i = 0; i < rows.n; i++)
			if (row_wanted_direct(q, &rows.v[i], pi))
				json_array_append_new(out, row_ref(&rows.v[i]));
		return out;
	}

	if (q->group_id || (q->domain_id && q->inherited == 1))
		return out;
	int inherited = q->domain_id ? 0 : q->inherited;
	int rc = 0;
	if (q->user_id) {
		rc = load_rows(&rows, q->user_id, "User");
		_cleanup_json_ json_t *groups = idstore_user_group_ids(q->user_id);
		size_t i;
		json_t *g;
		json_array_foreach(groups, i, g) {
			if (rc == 0)
				rc = load_rows(&rows, json_string_value(g), "Group");
		}
	} else {
		rc = load_rows(&rows, NULL, NULL);
	}
	if (rc != 0) {
		json_decref(out);
		return NULL;
	}
	const char *pdom = project ? kjson_str(project, "domain_id") : NULL;
	_cleanup_json_ json_t *expanded = json_array();
	for (size_t i = 0; i < rows.n; i++)
		if (row_wanted_effective(q, &rows.v[i], inherited, pi, parents, pdom))
			expand_row(&c, &rows.v[i], pi, expanded);

	size_t i;
	json_t *ref;
	json_array_foreach(expanded, i, ref) {
		_cleanup_json_ json_t *all = json_array();
		_cleanup_json_ json_t *seen = json_object();
		json_object_set_new(seen, kjson_str(ref, "role_id"), json_true());
		json_array_append(all, ref);
		add_implied(&c, ref, seen, all, 0);
		size_t j;
		json_t *r2;
		json_array_foreach(all, j, r2) {
			const char *role = kjson_str(r2, "role_id");
			json_t *info = json_object_get(c.roles, role);
			/* domain-specific roles only serve to imply others */
			bool dom_role = json_is_string(json_object_get(info, "domain_id"));
			if (dom_role && !q->keep_domain_roles)
				continue;
			if (q->role_id && strcmp(role, q->role_id) != 0)
				continue;
			json_array_append(out, r2);
		}
	}
	return out;
}

json_t *idstore_assignments(const idstore_asg_query *q)
{
	_cleanup_(asg_ctx_free) asg_ctx c = { .q = q };
	if (asg_ctx_load(&c) != 0)
		return NULL;
	return compute(q, &c);
}

json_t *idstore_effective_roles(const char *user_id, const char *project_id,
				const char *domain_id, bool system)
{
	json_t *out = json_array();
	if (!user_id || (!project_id && !domain_id && !system))
		return out;
	idstore_asg_query q = {
		.user_id = user_id, .project_id = project_id,
		.domain_id = project_id ? NULL : domain_id,
		.system = !project_id && !domain_id && system,
		.inherited = -1, .effective = true,
	};
	_cleanup_(asg_ctx_free) asg_ctx c = { .q = &q };
	if (asg_ctx_load(&c) != 0)
		return out;
	_cleanup_json_ json_t *refs = compute(&q, &c);
	_cleanup_json_ json_t *seen = json_object();
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref) {
		const char *rid = kjson_str(ref, "role_id");
		json_t *info = rid ? json_object_get(c.roles, rid) : NULL;
		if (!info || json_object_get(seen, rid))
			continue;
		json_object_set_new(seen, rid, json_true());
		json_t *o = json_pack("{s:s,s:O}", "id", rid, "name",
				      json_object_get(info, "name"));
		if (json_is_string(json_object_get(info, "domain_id")))
			json_object_set(o, "domain_id", json_object_get(info, "domain_id"));
		json_array_append_new(out, o);
	}
	return out;
}

static json_t *user_targets(const char *user_id, const char *key,
			    json_t *(*get)(const char *id))
{
	json_t *out = json_array();
	idstore_asg_query q = { .user_id = user_id, .inherited = -1, .effective = true };
	_cleanup_json_ json_t *refs = idstore_assignments(&q);
	_cleanup_json_ json_t *seen = json_object();
	size_t i;
	json_t *ref;
	json_array_foreach(refs, i, ref) {
		const char *id = kjson_str(ref, key);
		if (!id || json_object_get(seen, id))
			continue;
		json_object_set_new(seen, id, json_true());
		json_t *obj = get(id);
		if (obj)
			json_array_append_new(out, obj);
	}
	return out;
}

json_t *idstore_user_projects(const char *user_id)
{
	return user_targets(user_id, "project_id", idstore_project_get);
}

json_t *idstore_user_domains(const char *user_id)
{
	return user_targets(user_id, "domain_id", idstore_domain_get);
}

/* ------------------------------------------------------------------ */
/* catalog */

json_t *idstore_catalog(void)
{
	json_t *cat = json_array();
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT id, type, name FROM id_service WHERE enabled = 1 ORDER BY type, id");
	if (!st)
		return cat;
	while (kstmt_step(st) == KDB_ROW) {
		json_t *s = json_object();
		json_object_set_new(s, "id", jstr(kstmt_text(st, 0)));
		json_object_set_new(s, "type", jstr(kstmt_text(st, 1)));
		const char *name = kstmt_text(st, 2);
		json_object_set_new(s, "name", json_string(name ? name : ""));
		json_object_set_new(s, "endpoints", json_array());
		json_array_append_new(cat, s);
	}
	size_t i;
	json_t *s;
	json_array_foreach(cat, i, s) {
		json_t *eps = json_object_get(s, "endpoints");
		_cleanup_stmt_ kstmt *e = kdb_prepare(id_db,
			"SELECT id, interface, region_id, url FROM id_endpoint"
			" WHERE service_id = ? AND enabled = 1 ORDER BY interface, id");
		if (!e)
			continue;
		kstmt_bind_text(e, 1, kjson_str(s, "id"));
		while (kstmt_step(e) == KDB_ROW) {
			json_t *ep = json_object();
			json_object_set_new(ep, "id", jstr(kstmt_text(e, 0)));
			json_object_set_new(ep, "interface", jstr(kstmt_text(e, 1)));
			json_object_set_new(ep, "region", jstr(kstmt_text(e, 2)));
			json_object_set_new(ep, "region_id", jstr(kstmt_text(e, 2)));
			json_object_set_new(ep, "url", jstr(kstmt_text(e, 3)));
			json_array_append_new(eps, ep);
		}
	}
	return cat;
}

/* ------------------------------------------------------------------ */
/* passwords */

static long hash_rounds(void)
{
	long rounds = kumo_conf ? kconf_get_int(kumo_conf, "identity", "password_hash_rounds", 12)
				: 12;
	if (rounds < 4)
		rounds = 4;
	if (rounds > 31)
		rounds = 31;
	return rounds;
}

char *idstore_hash_password(const char *password)
{
	if (!password)
		return NULL;
	_cleanup_free_ char *setting = crypt_gensalt_ra("$2b$", (unsigned long)hash_rounds(),
							NULL, 0);
	if (!setting) {
		klog_error("identity", "crypt_gensalt_ra failed");
		return NULL;
	}
	_cleanup_free_ void *data = NULL;
	int size = 0;
	const char *h = crypt_ra(password, setting, &data, &size);
	if (!h || h[0] == '*') {
		klog_error("identity", "password hashing failed");
		return NULL;
	}
	return strdup(h);
}

static char *dummy_hash;
static void make_dummy_hash(void)
{
	dummy_hash = idstore_hash_password("kumo dummy password for timing");
}

/* 0 when password hashes to stored. */
static int check_hash(const char *password, const char *stored)
{
	_cleanup_free_ void *data = NULL;
	int size = 0;
	const char *h = crypt_ra(password, stored, &data, &size);
	if (!h || h[0] == '*')
		return -1;
	size_t n = strlen(stored);
	if (strlen(h) != n)
		return -1;
	return kutil_ct_equal(h, stored, n) ? 0 : -1;
}

int idstore_check_secret(const char *secret, const char *stored)
{
	if (!secret)
		secret = "";
	if (!stored) {
		static pthread_once_t once = PTHREAD_ONCE_INIT;
		pthread_once(&once, make_dummy_hash);
		if (dummy_hash)
			(void)check_hash(secret, dummy_hash);
		return -1;
	}
	return check_hash(secret, stored);
}

int idstore_user_check_password(const char *user_id, const char *password)
{
	_cleanup_free_ char *stored = NULL;
	if (user_id) {
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT password_hash FROM id_user WHERE id = ?");
		if (st) {
			kstmt_bind_text(st, 1, user_id);
			if (kstmt_step(st) == KDB_ROW && kstmt_text(st, 0))
				stored = strdup(kstmt_text(st, 0));
		}
	}
	return idstore_check_secret(password, stored);
}
