/*
 * keypairs.c - Nova's os-keypairs API at 2.1/2.2: list, show, import or
 * generate, delete; keypairs belong to the calling user.
 *
 * Microversion differences: 2.2 adds "type" ("ssh" | "x509") to the views
 * and to the request, creates with 201 instead of 200 and deletes with 204
 * instead of 202.
 *
 * Keys: an imported OpenSSH public key ("<type> <base64 blob> [comment]")
 * is checked structurally (the blob's own type string matches the text's and
 * the fields of ssh-rsa, ssh-dss, ecdsa-sha2-* and ssh-ed25519 are all
 * there, nothing after them) and its fingerprint is the MD5 of the decoded
 * blob as colon-separated hex, which is what `ssh-keygen -l -E md5` prints.
 * A generated key is an RSA 2048 key made with OpenSSL: the private key goes
 * back once (PEM, traditional "RSA PRIVATE KEY" form as Nova's), the public
 * one is stored in OpenSSH form.  x509 keys are PEM certificates whose
 * fingerprint is the SHA-1 of the DER certificate; a generated x509 key is a
 * self-signed client certificate for CN=<user id>, valid ten years.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/auth.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute.h"

static void internal_error(kreq *r)
{
	kresp_error(r, 500, "Unexpected API Error. Please report this at "
	            "http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.");
}

static const char *user_of(kreq *r)
{
	return r->ctx && r->ctx->user_id ? r->ctx->user_id : "";
}

static void evp_pkey_freep(EVP_PKEY **p) { EVP_PKEY_free(*p); }
static void bio_freep(BIO **p) { BIO_free(*p); }
static void x509_freep(X509 **p) { X509_free(*p); }
static void bn_freep(BIGNUM **p) { BN_free(*p); }

/* "aa:bb:cc" of a digest (malloc'd). */
static char *colon_hex(const unsigned char *d, size_t n)
{
	char *out = malloc(n * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		sprintf(out + i * 3, "%02x%s", d[i], i + 1 < n ? ":" : "");
	out[n ? n * 3 - 1 : 0] = '\0';
	return out;
}

/* ---- OpenSSH public keys ---- */

typedef struct sshbuf {
	const unsigned char *p;
	size_t n;
} sshbuf;

/* One length-prefixed field; false when the blob is short. */
static bool ssh_field(sshbuf *b, const unsigned char **out, size_t *len)
{
	if (b->n < 4)
		return false;
	size_t l = ((size_t)b->p[0] << 24) | ((size_t)b->p[1] << 16) | ((size_t)b->p[2] << 8) |
	           b->p[3];
	if (l > b->n - 4)
		return false;
	*out = b->p + 4;
	*len = l;
	b->p += 4 + l;
	b->n -= 4 + l;
	return true;
}

static bool ssh_fields(sshbuf *b, int count)
{
	const unsigned char *f;
	size_t l;
	for (int i = 0; i < count; i++)
		if (!ssh_field(b, &f, &l) || l == 0)
			return false;
	return true;
}

static void encode_ctx_freep(EVP_ENCODE_CTX **p) { EVP_ENCODE_CTX_free(*p); }

/* Decode base64 (OpenSSL's decoder, which handles padding); malloc'd. */
static unsigned char *b64_decode(const char *s, size_t slen, size_t *outlen)
{
	if (slen == 0 || slen > INT32_MAX)
		return NULL;
	_cleanup_free_ unsigned char *out = malloc(slen / 4 * 3 + 4);
	_cleanup_(encode_ctx_freep) EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n1 = 0, n2 = 0;
	if (!out || !ctx)
		return NULL;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &n1, (const unsigned char *)s, (int)slen) < 0 ||
	    EVP_DecodeFinal(ctx, out + n1, &n2) < 0)
		return NULL;
	*outlen = (size_t)(n1 + n2);
	return TAKE_PTR(out);
}

/* The MD5 fingerprint of an OpenSSH public key line, or NULL when it is not
 * a usable key (malloc'd). */
static char *ssh_fingerprint(const char *key)
{
	while (isspace((unsigned char)*key))
		key++;
	size_t tlen = strcspn(key, " \t");
	if (!tlen || !key[tlen])
		return NULL;
	const char *b64 = key + tlen;
	while (*b64 == ' ' || *b64 == '\t')
		b64++;
	size_t blen = strcspn(b64, " \t\r\n");
	if (!blen)
		return NULL;
	size_t n;
	_cleanup_free_ unsigned char *blob = b64_decode(b64, blen, &n);
	if (!blob)
		return NULL;
	sshbuf b = { blob, n };
	const unsigned char *type;
	size_t typelen;
	if (!ssh_field(&b, &type, &typelen) || typelen != tlen || memcmp(type, key, tlen) != 0)
		return NULL;
	bool ok;
	if (tlen == 7 && memcmp(key, "ssh-rsa", 7) == 0) {
		ok = ssh_fields(&b, 2);
	} else if (tlen == 7 && memcmp(key, "ssh-dss", 7) == 0) {
		ok = ssh_fields(&b, 4);
	} else if (tlen == 11 && memcmp(key, "ssh-ed25519", 11) == 0) {
		const unsigned char *pk;
		size_t pklen;
		ok = ssh_field(&b, &pk, &pklen) && pklen == 32;
	} else if (tlen == 19 && memcmp(key, "ecdsa-sha2-nistp", 16) == 0) {
		const unsigned char *curve, *point;
		size_t clen, plen;
		ok = ssh_field(&b, &curve, &clen) && clen == 8 &&
		     memcmp(curve, key + 11, 8) == 0 && ssh_field(&b, &point, &plen) &&
		     plen > 1 && point[0] == 4;
	} else {
		ok = false;
	}
	if (!ok || b.n != 0)
		return NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(blob, n, md, &mdlen, EVP_md5(), NULL))
		return NULL;
	return colon_hex(md, mdlen);
}

/* SHA-1 fingerprint of a PEM certificate, or NULL (malloc'd). */
static char *x509_fingerprint(const char *pem)
{
	_cleanup_(bio_freep) BIO *bio = BIO_new_mem_buf(pem, -1);
	if (!bio)
		return NULL;
	_cleanup_(x509_freep) X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!cert)
		return NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!X509_digest(cert, EVP_sha1(), md, &mdlen))
		return NULL;
	return colon_hex(md, mdlen);
}

static void put_u32(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* BIO contents as a malloc'd string. */
static char *bio_string(BIO *bio)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	if (n < 0)
		return NULL;
	char *s = malloc((size_t)n + 1);
	if (s) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

static char *private_pem(EVP_PKEY *pkey)
{
	_cleanup_(bio_freep) BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL))
		return NULL;
	return bio_string(bio);
}

/* A new RSA 2048 key: private PEM, OpenSSH public line, MD5 fingerprint. */
static int generate_ssh(char **priv, char **pub, char **fp)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pkey = EVP_RSA_gen(2048);
	_cleanup_(bn_freep) BIGNUM *e = NULL;
	_cleanup_(bn_freep) BIGNUM *nn = NULL;
	if (!pkey || !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &nn))
		return -1;
	/* blob: string "ssh-rsa", mpint e, mpint n (BN_bn2mpi writes SSH's mpint) */
	int elen = BN_bn2mpi(e, NULL), nlen = BN_bn2mpi(nn, NULL);
	size_t total = 4 + 7 + (size_t)elen + (size_t)nlen;
	_cleanup_free_ unsigned char *blob = malloc(total);
	if (!blob)
		return -1;
	put_u32(blob, 7);
	memcpy(blob + 4, "ssh-rsa", 7);
	BN_bn2mpi(e, blob + 11);
	BN_bn2mpi(nn, blob + 11 + elen);
	_cleanup_free_ char *b64 = malloc((total + 2) / 3 * 4 + 1);
	if (!b64)
		return -1;
	EVP_EncodeBlock((unsigned char *)b64, blob, (int)total);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!EVP_Digest(blob, total, md, &mdlen, EVP_md5(), NULL))
		return -1;
	*priv = private_pem(pkey);
	*fp = colon_hex(md, mdlen);
	if (asprintf(pub, "ssh-rsa %s Generated-by-Nova", b64) < 0)
		*pub = NULL;
	if (!*priv || !*fp || !*pub) {
		free(*priv);
		free(*fp);
		free(*pub);
		return -1;
	}
	return 0;
}

static bool add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return false;
	bool ok = X509_add_ext(cert, ext, -1) == 1;
	X509_EXTENSION_free(ext);
	return ok;
}

/* A self-signed client certificate for the user (Nova's WinRM-style x509
 * keypair): private PEM, certificate PEM, SHA-1 fingerprint. */
static int generate_x509(const char *user_id, char **priv, char **pub, char **fp)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pkey = EVP_RSA_gen(2048);
	_cleanup_(x509_freep) X509 *cert = X509_new();
	if (!pkey || !cert)
		return -1;
	unsigned char serial[8];
	kutil_random(serial, sizeof(serial));
	serial[0] &= 0x7f;
	_cleanup_(bn_freep) BIGNUM *sn = BN_bin2bn(serial, sizeof(serial), NULL);
	X509_NAME *name = X509_get_subject_name(cert);
	char san[512];
	snprintf(san, sizeof(san), "otherName:1.3.6.1.4.1.311.20.2.3;UTF8:%s@localhost",
	         *user_id ? user_id : "nova");
	if (!sn || !X509_set_version(cert, 2) ||
	    !BN_to_ASN1_INTEGER(sn, X509_get_serialNumber(cert)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 3650L * 86400) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	                                (const unsigned char *)(*user_id ? user_id : "nova"),
	                                -1, -1, 0) ||
	    !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, pkey) ||
	    !add_ext(cert, NID_ext_key_usage, "clientAuth") ||
	    !add_ext(cert, NID_subject_alt_name, san) || !X509_sign(cert, pkey, EVP_sha256()))
		return -1;
	_cleanup_(bio_freep) BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_X509(bio, cert))
		return -1;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!X509_digest(cert, EVP_sha1(), md, &mdlen))
		return -1;
	*pub = bio_string(bio);
	*priv = private_pem(pkey);
	*fp = colon_hex(md, mdlen);
	if (!*priv || !*fp || !*pub) {
		free(*priv);
		free(*fp);
		free(*pub);
		return -1;
	}
	return 0;
}

/* ---- the API ---- */

json_t *cmp_keypair_get(const char *user_id, const char *name)
{
	if (!user_id || !name)
		return NULL;
	return kdb_query_row(cmp_db, NULL, "SELECT name, public_key, type, fingerprint FROM "
	                     "cmp_keypair WHERE user_id = ? AND name = ?", "ss", user_id, name);
}

static void h_index(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-keypairs:index", NULL))
		return;
	_cleanup_json_ json_t *rows = kdb_query_json(cmp_db, "SELECT name, public_key, "
	                                             "fingerprint, type FROM cmp_keypair WHERE "
	                                             "user_id = ? ORDER BY name", "s",
	                                             user_of(r));
	if (!rows) {
		internal_error(r);
		return;
	}
	json_t *out = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		json_t *k = json_pack("{s:s,s:s,s:s}", "name", kjson_str(row, "name"), "public_key",
		                      kjson_str(row, "public_key"), "fingerprint",
		                      kjson_str(row, "fingerprint"));
		if (r->version >= CMP_V(2, 2))
			json_object_set_new(k, "type", json_string(kjson_str(row, "type")));
		json_array_append_new(out, json_pack("{s:o}", "keypair", k));
	}
	kresp_json(r, 200, json_pack("{s:o}", "keypairs", out));
}

static json_t *load(kreq *r, const char *name)
{
	json_t *row = kdb_query_row(cmp_db, NULL, "SELECT id, user_id, name, type, public_key, "
	                            "fingerprint, created_at FROM cmp_keypair WHERE user_id = ? "
	                            "AND name = ?", "ss", user_of(r), name);
	if (!row)
		kresp_error(r, 404, "Keypair %s not found for user %s", name, user_of(r));
	return row;
}

static void h_show(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-keypairs:show", NULL))
		return;
	_cleanup_json_ json_t *row = load(r, kreq_param(r, "name"));
	if (!row)
		return;
	char created[32];
	kutil_iso8601_s(json_integer_value(json_object_get(row, "created_at")), created);
	json_t *k = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:b,s:n,s:n}",
	                      "id", json_integer_value(json_object_get(row, "id")),
	                      "name", kjson_str(row, "name"), "user_id", kjson_str(row, "user_id"),
	                      "public_key", kjson_str(row, "public_key"),
	                      "fingerprint", kjson_str(row, "fingerprint"),
	                      "created_at", created, "deleted", false, "deleted_at", "updated_at");
	if (r->version >= CMP_V(2, 2))
		json_object_set_new(k, "type", json_string(kjson_str(row, "type")));
	kresp_json(r, 200, json_pack("{s:o}", "keypair", k));
}

static void h_delete(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-keypairs:delete", NULL))
		return;
	const char *name = kreq_param(r, "name");
	int64_t n = 0;
	if (kdb_run(cmp_db, &n, "DELETE FROM cmp_keypair WHERE user_id = ? AND name = ?", "ss",
	            user_of(r), name) != KDB_DONE) {
		internal_error(r);
		return;
	}
	if (!n) {
		kresp_error(r, 404, "Keypair %s not found for user %s", name, user_of(r));
		return;
	}
	kresp_status(r, r->version >= CMP_V(2, 2) ? 204 : 202);
}

static void bad_field(kreq *r, const char *field, const json_t *v, const char *why)
{
	_cleanup_free_ char *dump = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
	kresp_error(r, 400, "Invalid input for field/attribute %s. Value: %s. %s", field,
	            dump ? dump : "None", why);
}

static bool safe_name(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_- .@", *s))
			return false;
	return true;
}

static void h_create(kreq *r)
{
	if (!cmp_enforce(r, "os_compute_api:os-keypairs:create", NULL))
		return;
	json_t *body = kreq_json(r);
	if (!body)
		return;
	bool v22 = r->version >= CMP_V(2, 2);
	json_t *kp = json_object_get(body, "keypair");
	if (!json_is_object(kp)) {
		bad_field(r, "keypair", kp, kp ? "is not of type 'object'" :
		          "'keypair' is a required property");
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v) {
		if (strcmp(key, "keypair") != 0) {
			kresp_error(r, 400, "Invalid input for field/attribute keypair. Value: "
			            "{...}. Additional properties are not allowed ('%s' was "
			            "unexpected)", key);
			return;
		}
	}
	json_object_foreach(kp, key, v) {
		if (strcmp(key, "name") != 0 && strcmp(key, "public_key") != 0 &&
		    !(v22 && strcmp(key, "type") == 0)) {
			kresp_error(r, 400, "Invalid input for field/attribute keypair. Value: "
			            "{...}. Additional properties are not allowed ('%s' was "
			            "unexpected)", key);
			return;
		}
	}
	json_t *jn = json_object_get(kp, "name");
	if (!jn) {
		kresp_error(r, 400, "Invalid input for field/attribute keypair. Value: {...}. "
		            "'name' is a required property");
		return;
	}
	if (!json_is_string(jn)) {
		bad_field(r, "name", jn, "is not of type 'string'");
		return;
	}
	const char *name = json_string_value(jn);
	size_t nlen = strlen(name);
	if (nlen == 0 || nlen > 255 || isspace((unsigned char)name[0]) ||
	    isspace((unsigned char)name[nlen - 1])) {
		bad_field(r, "name", jn, nlen == 0 ? "'' is too short" : nlen > 255 ?
		          "is too long" : "An invalid 'name' value was provided. The name must "
		          "be: printable characters. Can not start or end with whitespace.");
		return;
	}
	const char *type = "ssh";
	json_t *jt = json_object_get(kp, "type");
	if (jt) {
		if (!json_is_string(jt) || (strcmp(json_string_value(jt), "ssh") != 0 &&
		                            strcmp(json_string_value(jt), "x509") != 0)) {
			bad_field(r, "type", jt, "is not one of ['ssh', 'x509']");
			return;
		}
		type = json_string_value(jt);
	}
	json_t *jk = json_object_get(kp, "public_key");
	if (jk && !json_is_string(jk)) {
		bad_field(r, "public_key", jk, "is not of type 'string'");
		return;
	}
	if (!safe_name(name)) {
		kresp_error(r, 400, "Keypair data is invalid: Keypair name contains unsafe "
		            "characters");
		return;
	}
	/* quota (key_pairs is counted per user) */
	const char *project = r->ctx && r->ctx->project_id ? r->ctx->project_id : "";
	long limit = cmp_quota_limit(project, "key_pairs");
	if (limit >= 0) {
		_cleanup_json_ json_t *cnt = kdb_query_row(
			cmp_db, NULL, "SELECT COUNT(*) AS n FROM cmp_keypair WHERE user_id = ?",
			"s", user_of(r));
		json_int_t used = cnt ? json_integer_value(json_object_get(cnt, "n")) : 0;
		if (used + 1 > limit) {
			kresp_error(r, 403, "Quota exceeded, too many key pairs.");
			return;
		}
	}
	_cleanup_free_ char *priv = NULL;
	_cleanup_free_ char *pub = NULL;
	_cleanup_free_ char *fp = NULL;
	bool x509 = strcmp(type, "x509") == 0;
	if (jk) {
		pub = strdup(json_string_value(jk));
		fp = x509 ? x509_fingerprint(pub) : ssh_fingerprint(pub);
		if (!fp) {
			kresp_error(r, 400, x509 ? "Keypair data is invalid: failed to generate "
			            "X509 fingerprint" : "Keypair data is invalid: failed to "
			            "generate fingerprint");
			return;
		}
	} else if ((x509 ? generate_x509(user_of(r), &priv, &pub, &fp) :
	                   generate_ssh(&priv, &pub, &fp)) != 0) {
		internal_error(r);
		return;
	}
	int rc = kdb_run(cmp_db, NULL, "INSERT INTO cmp_keypair (user_id, name, type, public_key, "
	                 "fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?)", "sssssi",
	                 user_of(r), name, type, pub, fp, kutil_now_us());
	if (rc == KDB_CONSTRAINT) {
		kresp_error(r, 409, "Key pair '%s' already exists.", name);
		return;
	}
	if (rc != KDB_DONE) {
		internal_error(r);
		return;
	}
	json_t *out = json_pack("{s:s,s:s,s:s,s:s}", "name", name, "public_key", pub,
	                        "fingerprint", fp, "user_id", user_of(r));
	if (priv)
		json_object_set_new(out, "private_key", json_string(priv));
	if (v22)
		json_object_set_new(out, "type", json_string(type));
	kresp_json(r, v22 ? 201 : 200, json_pack("{s:o}", "keypair", out));
}

const kroute cmp_keypair_routes[] = {
	{ "GET", "/v2.1/os-keypairs", h_index, 0 },
	{ "POST", "/v2.1/os-keypairs", h_create, 0 },
	{ "GET", "/v2.1/os-keypairs/{name}", h_show, 0 },
	{ "DELETE", "/v2.1/os-keypairs/{name}", h_delete, 0 },
};
const size_t cmp_keypair_nroutes = ARRAY_SIZE(cmp_keypair_routes);
