/*
 * credentials.c - /v3/credentials and the EC2 credentials of a user
 * (/v3/users/{user_id}/credentials/OS-EC2).
 *
 * A credential is an opaque string ("blob") of some type that belongs to a
 * user (and maybe a project): EC2 access/secret pairs, TOTP secrets,
 * certificates.  As in Keystone, blobs are encrypted at rest with the
 * credential keys (fernet.c) and shown in clear through the API, to the
 * owner and to admins only.  Rules kept from Keystone:
 *   - an "ec2" credential needs a project_id and a JSON blob with an
 *     "access" key; its id is the SHA-256 of the access key, so it can be
 *     found from the access key alone (the OS-EC2 routes use that); other
 *     types get a random id;
 *   - updates may not change an EC2 credential's access id or the
 *     delegation it was made under; policy is checked on the credential as
 *     it is and as it would be;
 *   - tokens issued through a delegation (an application credential) can't
 *     see or touch credentials at all (403; listings leave them out);
 *   - credentials go with their user and their project.
 * The OS-EC2 routes show an EC2 credential as {"user_id", "tenant_id",
 * "access", "secret", "trust_id"} and create one with random access and
 * secret keys for a project the body names.
 */
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "resource.h"

static const char *const credential_known[] = {
	"id", "user_id", "project_id", "type", "blob", "links", NULL
};

static const id_field credential_create_fields[] = {
	{ "blob", ID_F_STRING, 0, 0, false, true },
	{ "type", ID_F_STRING, 0, 255, false, true },
	{ "user_id", ID_F_STRING, 0, 64, false, true },
	{ "project_id", ID_F_STRING_NULL, 0, 64, false, false },
};

static const id_field credential_update_fields[] = {
	{ "blob", ID_F_STRING, 0, 0, false, false },
	{ "type", ID_F_STRING, 0, 255, false, false },
	{ "user_id", ID_F_STRING, 0, 64, false, false },
	{ "project_id", ID_F_STRING_NULL, 0, 64, false, false },
};

/* ------------------------------------------------------------------ */
/* the model */

/* cols: id, user_id, project_id, type, encrypted_blob, extra */
static json_t *credential_get(const char *id)
{
	if (!id)
		return NULL;
	_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
		"SELECT id, user_id, project_id, type, encrypted_blob, extra FROM id_credential"
		" WHERE id = ?");
	if (!st)
		return NULL;
	kstmt_bind_text(st, 1, id);
	if (kstmt_step(st) != KDB_ROW)
		return NULL;
	_cleanup_free_ char *blob = idfernet_cred_decrypt(kstmt_text(st, 4));
	if (!blob) {
		klog_error("identity", "credential %s can't be decrypted with the credential keys",
			   id);
		return NULL;
	}
	json_t *c = json_object();
	json_object_set_new(c, "id", json_string(kstmt_text(st, 0)));
	json_object_set_new(c, "user_id", json_string(kstmt_text(st, 1)));
	json_object_set_new(c, "project_id", kstmt_text(st, 2) ? json_string(kstmt_text(st, 2))
							     : json_null());
	json_object_set_new(c, "type", json_string(kstmt_text(st, 3)));
	json_t *b = json_string(blob);
	OPENSSL_cleanse(blob, strlen(blob));
	json_object_set_new(c, "blob", b ? b : json_string(""));
	idstore_merge_extra(c, kstmt_text(st, 5));
	return c;
}

static bool is_ec2(const json_t *c)
{
	const char *t = kjson_str(c, "type");
	return t && strcasecmp(t, "ec2") == 0;
}

/* The id of an EC2 credential: hex SHA-256 of its access key (pool). */
static const char *ec2_id(kreq *r, const char *access)
{
	unsigned char md[32];
	unsigned int n = 0;
	if (EVP_Digest(access, strlen(access), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return NULL;
	_cleanup_free_ char *hex = kutil_hex(md, 32);
	return kpool_strdup(r->pool, hex);
}

/* The blob of an EC2 credential as a JSON object with an "access" string;
 * NULL when answered (400). */
static json_t *ec2_blob(kreq *r, const char *blob)
{
	json_t *b = blob ? json_loads(blob, 0, NULL) : NULL;
	kpool_json(r->pool, b);
	if (!b) {
		id_bad_request(r, "Invalid blob in credential");
		return NULL;
	}
	if (!json_is_object(b) || json_object_size(b) == 0) {
		id_bad_request(r, "Expecting to find blob in credential. The server could not "
			       "comply with the request since it is either malformed or otherwise "
			       "incorrect. The client is assumed to be in error.");
		return NULL;
	}
	if (!json_is_string(json_object_get(b, "access"))) {
		id_bad_request(r, "Expecting to find access in credential. The server could not "
			       "comply with the request since it is either malformed or otherwise "
			       "incorrect. The client is assumed to be in error.");
		return NULL;
	}
	return b;
}

static int credential_insert(const char *id, const char *user_id, const char *project_id,
			     const char *type, const char *blob, const char *extra)
{
	_cleanup_free_ char *enc = idfernet_cred_encrypt(blob);
	if (!enc)
		return KDB_ERROR;
	return kdb_run(id_db, NULL,
		       "INSERT INTO id_credential (id, user_id, project_id, type, encrypted_blob,"
		       " extra) VALUES (?, ?, ?, ?, ?, ?)", "ssssss", id, user_id, project_id,
		       type, enc, extra);
}

/* ------------------------------------------------------------------ */
/* request helpers */

/* Keystone's _require_primary_auth: no credential for delegated tokens. */
static bool delegated(kreq *r, bool answer)
{
	for (size_t i = 0; r->ctx && i < r->ctx->nmethods; i++) {
		if (strcmp(r->ctx->methods[i], "application_credential") == 0) {
			if (answer)
				kresp_error(r, 403, "You are not authorized to perform the "
					    "requested action: Delegated tokens cannot access "
					    "credentials directly.");
			return true;
		}
	}
	return false;
}

static json_t *cred_target(const json_t *cred)
{
	return cred ? json_pack("{s:{s:O}}", "target", "credential", cred)
		    : json_pack("{s:{s:{}}}", "target", "credential");
}

static bool allowed(kreq *r, const char *action, const json_t *cred)
{
	_cleanup_json_ json_t *target = cred_target(cred);
	return id_enforce(r, action, target);
}

/* Policy check without answering (for filtering listings). */
static bool may(kreq *r, const char *action, const json_t *cred)
{
	if (r->ctx && r->ctx->is_admin_token)
		return true;
	_cleanup_json_ json_t *target = cred_target(cred);
	_cleanup_json_ json_t *creds = kctx_to_creds(r->ctx);
	return id_policy && creds && kpolicy_check(id_policy, action, creds, target);
}

static json_t *cred_links(kreq *r, json_t *c)
{
	return id_links(r, c, "credentials", kjson_str(c, "id"));
}

/* The credential of the path after policy; NULL when answered. */
static json_t *path_credential(kreq *r, const char *action)
{
	const char *id = kreq_param(r, "credential_id");
	json_t *c = credential_get(id);
	if (!allowed(r, action, c)) {
		json_decref(c);
		return NULL;
	}
	if (!c) {
		kresp_error(r, 404, "Could not find credential: %s.", id);
		return NULL;
	}
	if (delegated(r, true)) {
		json_decref(c);
		return NULL;
	}
	return c;
}

/* ------------------------------------------------------------------ */
/* /v3/credentials */

void id_credentials_list(kreq *r)
{
	_cleanup_json_ json_t *own = r->ctx && !r->ctx->system_scope
		? json_pack("{s:s?}", "user_id", r->ctx->user_id) : NULL;
	if (!allowed(r, "identity:list_credentials", own))
		return;
	id_sql q;
	id_sql_init(&q, r->pool, "SELECT id FROM id_credential");
	if (kreq_query(r, "user_id"))
		id_sql_and(&q, "user_id = ?", kreq_query(r, "user_id"));
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
	bool hide_all = delegated(r, false);
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		json_t *c = hide_all ? NULL : credential_get(json_string_value(v));
		if (!c)
			continue;
		/* only what the caller may see, as Keystone filters */
		if (!may(r, "identity:get_credential", c)) {
			json_decref(c);
			continue;
		}
		json_array_append_new(arr, cred_links(r, c));
	}
	kresp_json(r, 200, id_list(r, "credentials", arr));
}

void id_credentials_create(kreq *r)
{
	json_t *body = id_body_member(r, "credential");
	if (!body || !allowed(r, "identity:create_credential", body))
		return;
	if (!id_validate(r, "credential", body, credential_create_fields,
			  ARRAY_SIZE(credential_create_fields), true, 0))
		return;
	if (is_ec2(body) && !kjson_str(body, "project_id")) {
		id_field_error(r, "credential", body, "'project_id' is a required property");
		return;
	}
	if (delegated(r, true))
		return;
	const char *id;
	char idbuf[33];
	if (is_ec2(body)) {
		json_t *b = ec2_blob(r, kjson_str(body, "blob"));
		if (!b)
			return;
		id = ec2_id(r, kjson_str(b, "access"));
	} else {
		kutil_uuid_hex(idbuf);
		id = idbuf;
	}
	if (!id) {
		id_internal(r);
		return;
	}
	_cleanup_free_ char *extra = idstore_extra_text(body, credential_known);
	int rc = credential_insert(id, kjson_str(body, "user_id"), kjson_str(body, "project_id"),
				   kjson_str(body, "type"), kjson_str(body, "blob"), extra);
	if (rc == KDB_CONSTRAINT) {
		id_conflict(r, "credential", "Duplicate ID, %s.", id);
		return;
	}
	json_t *c = rc == KDB_DONE ? credential_get(id) : NULL;
	if (!c) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created credential %s for user %s", id, kjson_str(c, "user_id"));
	kresp_json(r, 201, json_pack("{s:o}", "credential", cred_links(r, c)));
}

void id_credential_get(kreq *r)
{
	json_t *c = path_credential(r, "identity:get_credential");
	if (c)
		kresp_json(r, 200, json_pack("{s:o}", "credential", cred_links(r, c)));
}

void id_credential_update(kreq *r)
{
	_cleanup_json_ json_t *cur = path_credential(r, "identity:update_credential");
	if (!cur)
		return;
	json_t *body = id_body_member(r, "credential");
	if (!body)
		return;
	if (!id_validate(r, "credential", body, credential_update_fields,
			  ARRAY_SIZE(credential_update_fields), true, 1))
		return;
	const char *id = kjson_str(cur, "id");
	const char *bid = kjson_str(body, "id");
	if (bid && strcmp(bid, id) != 0) {
		id_bad_request(r, "Cannot change ID");
		return;
	}
	/* the credential as it would be: the caller must be allowed that too */
	_cleanup_json_ json_t *next = json_deep_copy(cur);
	json_object_update(next, body);
	if (is_ec2(cur) && json_object_get(body, "blob")) {
		json_t *nb = ec2_blob(r, kjson_str(body, "blob"));
		json_t *ob = nb ? ec2_blob(r, kjson_str(cur, "blob")) : NULL;
		if (!nb || !ob)
			return;
		static const char *const fixed[] = { "trust_id", "app_cred_id", "access_token_id",
						     "access_id" };
		for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
			json_t *a = json_object_get(ob, fixed[i]);
			json_t *b = json_object_get(nb, fixed[i]);
			if ((a || b) && !(a && b && json_equal(a, b))) {
				id_bad_request(r, "%s can not be updated for credential", fixed[i]);
				return;
			}
		}
	}
	if (is_ec2(next) && !kjson_str(next, "project_id")) {
		id_field_error(r, "credential", body, "'project_id' is a required property");
		return;
	}
	if (!allowed(r, "identity:update_credential", next))
		return;
	_cleanup_free_ char *enc = idfernet_cred_encrypt(kjson_str(next, "blob"));
	_cleanup_free_ char *old_extra = NULL;
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT extra FROM id_credential WHERE id = ?");
		if (st) {
			kstmt_bind_text(st, 1, id);
			if (kstmt_step(st) == KDB_ROW && kstmt_text(st, 0))
				old_extra = strdup(kstmt_text(st, 0));
		}
	}
	_cleanup_free_ char *extra = idstore_extra_update(old_extra, body, credential_known);
	if (!enc || kdb_run(id_db, NULL,
			    "UPDATE id_credential SET user_id = ?, project_id = ?, type = ?,"
			    " encrypted_blob = ?, extra = ? WHERE id = ?", "ssssss",
			    kjson_str(next, "user_id"), kjson_str(next, "project_id"),
			    kjson_str(next, "type"), enc, extra, id) != KDB_DONE) {
		id_internal(r);
		return;
	}
	json_t *c = credential_get(id);
	if (!c) {
		id_internal(r);
		return;
	}
	kresp_json(r, 200, json_pack("{s:o}", "credential", cred_links(r, c)));
}

void id_credential_delete(kreq *r)
{
	_cleanup_json_ json_t *c = path_credential(r, "identity:delete_credential");
	if (!c)
		return;
	if (kdb_run(id_db, NULL, "DELETE FROM id_credential WHERE id = ?", "s",
		    kjson_str(c, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	klog_info("identity", "deleted credential %s", kjson_str(c, "id"));
	kresp_status(r, 204);
}

/* ------------------------------------------------------------------ */
/* OS-EC2 */

/* A stored EC2 credential in the OS-EC2 shape, with its links. */
static json_t *ec2_view(kreq *r, const json_t *c)
{
	_cleanup_json_ json_t *b = json_loads(kjson_str(c, "blob") ? kjson_str(c, "blob") : "",
					      0, NULL);
	json_t *v = json_pack("{s:O,s:O,s:O,s:O,s:O}",
			      "user_id", json_object_get(c, "user_id"),
			      "tenant_id", json_object_get(c, "project_id"),
			      "access", json_object_get(b, "access") ? json_object_get(b, "access")
								      : json_null(),
			      "secret", json_object_get(b, "secret") ? json_object_get(b, "secret")
								      : json_null(),
			      "trust_id", json_object_get(b, "trust_id")
			      ? json_object_get(b, "trust_id") : json_null());
	json_object_set_new(v, "links", json_pack("{s:s}", "self",
		id_url(r, "users/%s/credentials/OS-EC2/%s", kjson_str(v, "user_id"),
		       kjson_str(v, "access") ? kjson_str(v, "access") : "")));
	return v;
}

/* Policy on {"credential": {"user_id": <path user>}}, then the user must
 * exist; false when answered. */
static bool ec2_user(kreq *r, const char *action)
{
	const char *uid = kreq_param(r, "user_id");
	_cleanup_json_ json_t *owner = json_pack("{s:s}", "user_id", uid);
	if (!allowed(r, action, owner))
		return false;
	_cleanup_json_ json_t *u = idstore_user_get(uid);
	if (!u) {
		id_not_found(r, "user", uid);
		return false;
	}
	return !delegated(r, true);
}

void id_ec2_list(kreq *r)
{
	if (!ec2_user(r, "identity:ec2_list_credentials"))
		return;
	_cleanup_json_ json_t *ids = json_array();
	{
		_cleanup_stmt_ kstmt *st = kdb_prepare(id_db,
			"SELECT id FROM id_credential WHERE user_id = ? AND type = 'ec2'"
			" ORDER BY id");
		if (!st) {
			id_internal(r);
			return;
		}
		kstmt_bind_text(st, 1, kreq_param(r, "user_id"));
		while (kstmt_step(st) == KDB_ROW)
			json_array_append_new(ids, json_string(kstmt_text(st, 0)));
	}
	json_t *arr = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v) {
		_cleanup_json_ json_t *c = credential_get(json_string_value(v));
		if (c)
			json_array_append_new(arr, ec2_view(r, c));
	}
	kresp_json(r, 200, id_list(r, "credentials", arr));
}

void id_ec2_create(kreq *r)
{
	if (!ec2_user(r, "identity:ec2_create_credential"))
		return;
	json_t *body = id_json_body(r);
	if (!body)
		return;
	json_t *tenant = json_object_get(body, "tenant_id");
	_cleanup_json_ json_t *p = json_is_string(tenant)
		? idstore_project_get(json_string_value(tenant)) : NULL;
	if (!p) {
		id_not_found(r, "project", json_is_string(tenant) ? json_string_value(tenant) : "");
		return;
	}
	char access[33], secret[33];
	kutil_uuid_hex(access);
	kutil_uuid_hex(secret);
	_cleanup_json_ json_t *b = json_pack("{s:s,s:s,s:n}", "access", access, "secret", secret,
					     "trust_id");
	_cleanup_free_ char *blob = json_dumps(b, JSON_COMPACT);
	const char *id = ec2_id(r, access);
	if (!blob || !id || credential_insert(id, kreq_param(r, "user_id"), kjson_str(p, "id"),
					      "ec2", blob, "{}") != KDB_DONE) {
		OPENSSL_cleanse(secret, sizeof(secret));
		id_internal(r);
		return;
	}
	OPENSSL_cleanse(blob, strlen(blob));
	_cleanup_json_ json_t *c = credential_get(id);
	if (!c) {
		id_internal(r);
		return;
	}
	klog_info("identity", "created EC2 credential %s for user %s", id,
		  kreq_param(r, "user_id"));
	kresp_json(r, 201, json_pack("{s:o}", "credential", ec2_view(r, c)));
}

/* The EC2 credential of the path (by access key) after policy; NULL when
 * answered.  As in Keystone, a missing credential is a 404 before policy
 * (its target is looked up first). */
static json_t *path_ec2(kreq *r, const char *action)
{
	const char *access = kreq_param(r, "credential_id");
	const char *id = ec2_id(r, access);
	json_t *c = credential_get(id);
	if (!c) {
		kresp_error(r, 404, "Could not find credential: %s.", id ? id : "");
		return NULL;
	}
	if (!allowed(r, action, c)) {
		json_decref(c);
		return NULL;
	}
	_cleanup_json_ json_t *u = idstore_user_get(kreq_param(r, "user_id"));
	if (!u) {
		json_decref(c);
		id_not_found(r, "user", kreq_param(r, "user_id"));
		return NULL;
	}
	if (!is_ec2(c)) {
		json_decref(c);
		kresp_error(r, 401, "The request you have made requires authentication.");
		return NULL;
	}
	if (delegated(r, true)) {
		json_decref(c);
		return NULL;
	}
	return c;
}

void id_ec2_get(kreq *r)
{
	_cleanup_json_ json_t *c = path_ec2(r, "identity:ec2_get_credential");
	if (c)
		kresp_json(r, 200, json_pack("{s:o}", "credential", ec2_view(r, c)));
}

void id_ec2_delete(kreq *r)
{
	_cleanup_json_ json_t *c = path_ec2(r, "identity:ec2_delete_credential");
	if (!c)
		return;
	if (kdb_run(id_db, NULL, "DELETE FROM id_credential WHERE id = ?", "s",
		    kjson_str(c, "id")) != KDB_DONE) {
		id_internal(r);
		return;
	}
	kresp_status(r, 204);
}
