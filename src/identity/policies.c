/*
 * policies.c - two small stores of opaque records: /v3/policies (policy
 * blobs of some type, for services that fetch them from Identity) and
 * /v3/OS-OAUTH1/consumers (OAuth1 consumers).
 *
 * Kumo keeps, lists and returns them as Keystone does; it does not interpret
 * policy blobs (its own policy comes from code and [identity] policy_file),
 * and it has no OAuth1 token flow, so a consumer's secret is shown once,
 * when it is created, and only its bcrypt hash is kept.  Attributes without
 * a column are kept as "extra", as for the other resources.
 */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

static const char *const policy_known[] = { "id", "type", "blob", "links", NULL };
static const char *const consumer_known[] = { "id", "description", "secret", "links", NULL };

static const id_field policy_create_fields[] = {
	{ "blob", ID_F_STRING, 0, 0, false, true },
	{ "type", ID_F_STRING, 0, 255, false, true },
};
static const id_field policy_update_fields[] = {
	{ "blob", ID_F_STRING, 0, 0, false, false },
	{ "type", ID_F_STRING, 0, 255, false, false },
};
static const id_field consumer_fields[] = {
	{ "description", ID_F_STRING_NULL, 0, 0, false, false },
};

/* ------------------------------------------------------------------ */
/* policies */

static json_t *policy_get(const char *id)
{
	if (!id)
		return NULL;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT id, type, policy_blob, extra FROM id_policy WHERE id = ?");
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, id);
	if (kstmt_step(st) != KDB_ROW)
		return NULL;
	json_t *p = json_pack("{s:s,s:s,s:s}", "id", kstmt_text(st, 0), "type", kstmt_text(st, 1),
			      "blob", kstmt_text(st, 2));
	idstore_merge_extra(p, kstmt_text(st, 3));
	return p;
}

static void policy_reply(kreq *r, int status, json_t *p)
{
	if (!p) {
		id_internal(r);
		return;
	}
	kresp_json(r, status, json_pack("{s:o}", "policy",
					id_links(r, p, "policies", kjson_str(p, "id"))));
}

/* Policy, then the policy of the path; NULL when answered. */
static json_t *path_policy(kreq *r, const char *action)
{
	if (!id_enforce(r, action, NULL))
		return NULL;
	const char *id = kreq_param(r, "policy_id");
	json_t *p = policy_get(id);
	if (!p)
		kresp_error(r, 404, "Could not find policy: %s.", id);
	return p;
}

void id_policies_list(kreq *r)
{
	if (!id_enforce(r, "identity:list_policies", NULL))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT id FROM id_policy");
	if (kreq_query(r, "type"))
		id_sql_and(&q, "type = ?", kreq_query(r, "type"));
	id_sql_append(&q, "ORDER BY id");
	_cleanup_json_ json_t *ids = json_array();
	{
		_cleanup_stmt_ kstmt *st = id_sql_prepare(&q);
		if (!st) {
			id_internal(r);
			return;
		}
		while (kstmt_step(st) == KDB_ROW)
			json_array_append_new(ids, json_string(kstmt_text(st, 0)));
	}
	json_t *arr = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		json_t *p = policy_get(json_string_value(v));
		if (p)
			json_array_append_new(arr, id_links(r, p, "policies", kjson_str(p, "id")));
	}
	kresp_json(r, 200, id_list(r, "policies", arr));
}

void id_policies_create(kreq *r)
{
	if (!id_enforce(r, "identity:create_policy", NULL))
		return;
	json_t *body = id_body_member(r, "policy");
	if (!body || !id_validate(r, "policy", body, policy_create_fields,
				  ARRAY_SIZE(policy_create_fields), true, 0))
		return;
	char id[33];
	kutil_uuid_hex(id);
	_cleanup_free_ char *extra = idstore_extra_text(body, policy_known);
	if (kdb_run(id_db, NULL, "INSERT INTO id_policy (id, type, policy_blob, extra)"
		    " VALUES (?, ?, ?, ?)", "ssss", id, kjson_str(body, "type"),
		    kjson_str(body, "blob"), extra) != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created policy %s", id);
	policy_reply(r, 201, policy_get(id));
}

void id_policy_get(kreq *r)
{
	json_t *p = path_policy(r, "identity:get_policy");
	if (p)
		policy_reply(r, 200, p);
}

void id_policy_update(kreq *r)
{
	_cleanup_json_ json_t *p = path_policy(r, "identity:update_policy");
	if (!p)
		return;
	json_t *body = id_body_member(r, "policy");
	if (!body || !id_validate(r, "policy", body, policy_update_fields,
				  ARRAY_SIZE(policy_update_fields), true, 1))
		return;
	const char *id = kjson_str(p, "id");
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	_cleanup_free_ char *old = NULL;
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT extra FROM id_policy WHERE id = ?");
		if (st) {
			kstmt_bind_text(st, 1, id);
			if (kstmt_step(st) == KDB_ROW && kstmt_text(st, 0))
				old = strdup(kstmt_text(st, 0));
		}
	}
	_cleanup_free_ char *extra = idstore_extra_update(old, body, policy_known);
#define PICK(k) (json_object_get(body, k) ? kjson_str(body, k) : kjson_str(p, k))
	if (kdb_run(id_db, NULL, "UPDATE id_policy SET type = ?, policy_blob = ?, extra = ?"
		    " WHERE id = ?", "ssss", PICK("type"), PICK("blob"), extra, id) != KDB_DONE) {
		id_internal(r);
		return;
	}
#undef PICK
	policy_reply(r, 200, policy_get(id));
}

void id_policy_delete(kreq *r)
{
	_cleanup_json_ json_t *p = path_policy(r, "identity:delete_policy");
	if (!p)
		return;
	if (kdb_run(id_db, NULL, "DELETE FROM id_policy WHERE id = ?", "s", kjson_str(p, "id"))
	    != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* OAuth1 consumers */

static json_t *consumer_get(const char *id)
{
	if (!id)
		return NULL;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT id, description, extra FROM id_consumer WHERE id = ?");
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, id);
	if (kstmt_step(st) != KDB_ROW)
		return NULL;
	json_t *c = json_pack("{s:s}", "id", kstmt_text(st, 0));
	json_object_set_new(c, "description", kstmt_text(st, 1) ? json_string(kstmt_text(st, 1))
								: json_null());
	idstore_merge_extra(c, kstmt_text(st, 2));
	return c;
}

static json_t *consumer_links(kreq *r, json_t *c)
{
	json_object_set_new(c, "links", json_pack("{s:s}", "self",
		id_url(r, "OS-OAUTH1/consumers/%s", kjson_str(c, "id"))));
	return c;
}

static json_t *path_consumer(kreq *r, const char *action)
{
	if (!id_enforce(r, action, NULL))
		return NULL;
	json_t *c = consumer_get(kreq_param(r, "consumer_id"));
	if (!c)
		kresp_error(r, 404, "Consumer not found");
	return c;
}

void id_consumers_list(kreq *r)
{
	if (!id_enforce(r, "identity:list_consumers", NULL))
		return;
	_cleanup_json_ json_t *ids = json_array();
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT id FROM id_consumer ORDER BY id");
		if (!st) {
			id_internal(r);
			return;
		}
		while (kstmt_step(st) == KDB_ROW)
			json_array_append_new(ids, json_string(kstmt_text(st, 0)));
	}
	json_t *arr = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		json_t *c = consumer_get(json_string_value(v));
		if (c)
			json_array_append_new(arr, consumer_links(r, c));
	}
	kresp_json(r, 200, id_list(r, "consumers", arr));
}

void id_consumers_create(kreq *r)
{
	if (!id_enforce(r, "identity:create_consumer", NULL))
		return;
	json_t *body = id_body_member(r, "consumer");
	if (!body || !id_validate(r, "consumer", body, consumer_fields,
				  ARRAY_SIZE(consumer_fields), true, 0))
		return;
	char id[33], secret[33];
	kutil_uuid_hex(id);
	kutil_uuid_hex(secret);
	_cleanup_free_ char *hash = idstore_hash_password(secret);
	_cleanup_free_ char *extra = idstore_extra_text(body, consumer_known);
	if (!hash || kdb_run(id_db, NULL, "INSERT INTO id_consumer (id, description, secret_hash,"
			     " extra) VALUES (?, ?, ?, ?)", "ssss", id,
			     kjson_str(body, "description"), hash, extra) != KDB_DONE) {
		id_internal(r);
		return;
	}
	json_t *c = consumer_get(id);
	if (!c) {
		id_internal(r);
		return;
	}
	json_object_set_new(c, "secret", json_string(secret));
	kresp_json(r, 201, json_pack("{s:o}", "consumer", consumer_links(r, c)));
}

void id_consumer_get(kreq *r)
{
	json_t *c = path_consumer(r, "identity:get_consumer");
	if (c)
		kresp_json(r, 200, json_pack("{s:o}", "consumer", consumer_links(r, c)));
}

void id_consumer_update(kreq *r)
{
	_cleanup_json_ json_t *c = path_consumer(r, "identity:update_consumer");
	if (!c)
		return;
	json_t *body = id_body_member(r, "consumer");
	if (!body || !id_validate(r, "consumer", body, consumer_fields,
				  ARRAY_SIZE(consumer_fields), true, 1))
		return;
	if (json_object_get(body, "secret")) {
		id_field_error(r, "consumer", body, "The secret of a consumer can't be changed");
		return;
	}
	const char *id = kjson_str(c, "id");
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	_cleanup_free_ char *old = NULL;
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT extra FROM id_consumer WHERE id = ?");
		if (st) {
			kstmt_bind_text(st, 1, id);
			if (kstmt_step(st) == KDB_ROW && kstmt_text(st, 0))
				old = strdup(kstmt_text(st, 0));
		}
	}
	_cleanup_free_ char *extra = idstore_extra_update(old, body, consumer_known);
	const char *desc = json_object_get(body, "description") ? kjson_str(body, "description")
								 : kjson_str(c, "description");
	if (kdb_run(id_db, NULL, "UPDATE id_consumer SET description = ?, extra = ? WHERE id = ?",
		    "sss", desc, extra, id) != KDB_DONE) {
		id_internal(r);
		return;
	}
	json_t *n = consumer_get(id);
	if (!n) {
		id_internal(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "consumer", consumer_links(r, n)));
}

void id_consumer_delete(kreq *r)
{
	_cleanup_json_ json_t *c = path_consumer(r, "identity:delete_consumer");
	if (!c)
		return;
	if (kdb_run(id_db, NULL, "DELETE FROM id_consumer WHERE id = ?", "s", kjson_str(c, "id"))
	    != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}
