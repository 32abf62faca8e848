/*
 * test_fernet.c - Fernet tokens against the spec's vectors
 * (github.com/fernet/spec generate.json / verify.json / invalid.json), the
 * key repository as keystone-manage lays it out (setup, rotate, purge, file
 * modes), and the token payload codec.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "identity/identity.h"
#include "ktest.h"

#define SPEC_SECRET "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
#define SPEC_TOKEN "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJob" \
	"wOz7JcbmrR64jVmpU4IwqDA=="
#define SPEC_TS 499162800   /* 1985-10-26T01:20:00-07:00 */

/* ---- helpers ---- */

static char *tmpdir(void)
{
	char *d = strdup("/tmp/kumo-fernet-XXXXXX");
	if (!mkdtemp(d))
		abort();
	return d;
}

static void rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static void cleanup_dir(char **d)
{
	if (*d) {
		rmtree(*d);
		free(*d);
	}
}
#define _cleanup_dir_ _cleanup_(cleanup_dir)

static void write_key(const char *dir, const char *name, const char *b64)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	kutil_write_file(p, b64, strlen(b64), 0600);
}

static char *read_key(const char *dir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return kutil_read_file(p, NULL);
}

static bool key_exists(const char *dir, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static bool decrypts_to(const char *token, const char *want)
{
	unsigned char out[256];
	long n = idfernet_decrypt(token, out, sizeof(out), NULL);
	return n == (long)strlen(want) && memcmp(out, want, (size_t)n) == 0;
}

/* ---- the spec ---- */

KTEST(spec_generate_vector)
{
	unsigned char key[40], iv[16];
	CHECK_INT(kutil_b64url_decode(SPEC_SECRET, key, sizeof(key)), 32);
	for (int i = 0; i < 16; i++)
		iv[i] = (unsigned char)i;
	char *tok = idfernet_encrypt_raw(key, SPEC_TS, iv, (const unsigned char *)"hello", 5);
	CHECK_STR(tok, SPEC_TOKEN);
	free(tok);
}

KTEST(spec_verify_vector)
{
	_cleanup_dir_ char *dir = tmpdir();
	write_key(dir, "1", SPEC_SECRET);
	CHECK_INT(idfernet_load(dir), 0);
	unsigned char out[64];
	int64_t ts = 0;
	CHECK_INT(idfernet_decrypt(SPEC_TOKEN, out, sizeof(out), &ts), 5);
	CHECK(memcmp(out, "hello", 5) == 0);
	CHECK_INT(ts, SPEC_TS);
	/* Keystone's form: the padding stripped */
	char bare[sizeof(SPEC_TOKEN)];
	snprintf(bare, sizeof(bare), "%s", SPEC_TOKEN);
	bare[strcspn(bare, "=")] = '\0';
	CHECK(decrypts_to(bare, "hello"));
	/* too small an output buffer */
	CHECK_INT(idfernet_decrypt(SPEC_TOKEN, out, 4, NULL), -1);
}

KTEST(spec_invalid_vectors)
{
	/* invalid.json; "far-future TS" and "expired TTL" are TTL checks, which
	 * Keystone (and token.c) do on the payload's expiry instead */
	static const char *bad[] = {
		/* incorrect mac */
		"gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1Yd"
		"ykQUFBQUFBQUFBQQ==",
		/* too short */
		"gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPA==",
		/* invalid base64 */
		"%%%%%%%%%%%%%AECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAl1-szkFVzXTuGb4hR8AKtwcaX1Yd"
		"ykRtfsH-p1YsUD2Q==",
		/* payload size not multiple of block size */
		"gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPOm73QeoCk9uGib28Xe5vz6oxq5nmx"
		"bx_v7mrfyudzUm",
		/* payload padding error */
		"gAAAAAAdwJ6xAAECAwQFBgcICQoLDA0ODz4LEpdELGQAad7aNEHbf-JkLPIpuiYRLQ3RtXatOYREu2FWke"
		"6CnJNYIbkuKNqOhw==",
		/* incorrect IV (causes padding error) */
		"gAAAAAAdwJ6xBQECAwQFBgcICQoLDA0OD3HkMATM5lFqGaerZ-fWPAkLhFLHpGtDBRLRTZeUfWgHSv49TF"
		"2AUEZ1TIvcZjK1zQ==",
		/* trailing characters after b64 padding */
		SPEC_TOKEN "trailingdata",
		/* invalid characters in b64 */
		"*gAAAAAAdwJ6wAAECAwQFBgcI!CQoLDA0ODy021?cpGVWKZ_eEwC@GM4BLLF_5CV9dOPmrhuVUPgJobwOz"
		"7JcbmrR64jVmpU4IwqDA==",
		/* invalid non-urlsafe characters in b64 */
		"gAAAAAAdwJ6wAAEC/AwQFBgcICQoLDA0ODy+021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7J"
		"cbmrR64jVmpU4IwqDA==",
	};
	_cleanup_dir_ char *dir = tmpdir();
	write_key(dir, "1", SPEC_SECRET);
	CHECK_INT(idfernet_load(dir), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		unsigned char out[256];
		if (idfernet_decrypt(bad[i], out, sizeof(out), NULL) != -1) {
			fprintf(stderr, "invalid vector %zu accepted\n", i);
			CHECK(0);
		}
	}
	CHECK(decrypts_to(SPEC_TOKEN, "hello"));
}

/* ---- round trips and rejections ---- */

KTEST(roundtrip)
{
	_cleanup_dir_ char *dir = tmpdir();
	CHECK_INT(idfernet_setup(dir), 0);
	CHECK_INT(idfernet_load(dir), 0);
	const char *msg = "a payload of some length, more than one AES block";
	int64_t before = kutil_now_us() / 1000000;
	_cleanup_free_ char *tok = idfernet_encrypt((const unsigned char *)msg, strlen(msg));
	CHECK(tok != NULL);
	CHECK(strchr(tok, '=') == NULL);      /* handed out without padding, as Keystone */
	CHECK(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
	      strlen(tok));
	unsigned char out[256];
	int64_t ts = 0;
	CHECK_INT(idfernet_decrypt(tok, out, sizeof(out), &ts), (long)strlen(msg));
	CHECK(memcmp(out, msg, strlen(msg)) == 0);
	CHECK(ts >= before && ts <= kutil_now_us() / 1000000);
	/* the same token with its padding restored is the same token */
	char padded[512];
	size_t n = strlen(tok);
	snprintf(padded, sizeof(padded), "%s%.*s", tok, (int)((4 - n % 4) % 4), "===");
	CHECK(decrypts_to(padded, msg));
	/* an empty payload works too */
	_cleanup_free_ char *empty = idfernet_encrypt((const unsigned char *)"", 0);
	CHECK_INT(idfernet_decrypt(empty, out, sizeof(out), NULL), 0);
	/* two tokens of one payload differ (random IV) */
	_cleanup_free_ char *again = idfernet_encrypt((const unsigned char *)msg, strlen(msg));
	CHECK(strcmp(tok, again) != 0);
	/* explicit timestamp */
	_cleanup_free_ char *at = idfernet_encrypt_at((const unsigned char *)msg, strlen(msg),
	                                              1234567890);
	CHECK_INT(idfernet_decrypt(at, out, sizeof(out), &ts), (long)strlen(msg));
	CHECK_INT(ts, 1234567890);
}

KTEST(tamper_rejected)
{
	_cleanup_dir_ char *dir = tmpdir();
	CHECK_INT(idfernet_setup(dir), 0);
	CHECK_INT(idfernet_load(dir), 0);
	const char *msg = "tamper with me";
	_cleanup_free_ char *tok = idfernet_encrypt((const unsigned char *)msg, strlen(msg));
	size_t n = strlen(tok);
	int accepted = 0;
	/* every character changed to every other letter of the alphabet */
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                            "0123456789-_";
	for (size_t i = 0; i < n; i++) {
		char orig = tok[i];
		for (const char *c = alpha; *c; c++) {
			if (*c == orig)
				continue;
			tok[i] = *c;
			unsigned char out[64];
			accepted += idfernet_decrypt(tok, out, sizeof(out), NULL) >= 0;
		}
		tok[i] = orig;
	}
	CHECK_INT(accepted, 0);
	CHECK(decrypts_to(tok, msg));
}

KTEST(truncated_and_garbage_rejected)
{
	_cleanup_dir_ char *dir = tmpdir();
	CHECK_INT(idfernet_setup(dir), 0);
	CHECK_INT(idfernet_load(dir), 0);
	_cleanup_free_ char *tok = idfernet_encrypt((const unsigned char *)"x", 1);
	size_t n = strlen(tok);
	int accepted = 0;
	for (size_t len = 0; len < n; len++) {
		char *t = strndup(tok, len);
		unsigned char out[64];
		accepted += idfernet_decrypt(t, out, sizeof(out), NULL) >= 0;
		free(t);
	}
	CHECK_INT(accepted, 0);
	static const char *garbage[] = {
		"", "a", "abcd", "====", "gAAAAA", "gAAAAAAdwJ6w=", "\xff\xfe\xfd",
		"gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJob\n",
		"not a token at all, with spaces",
	};
	for (size_t i = 0; i < ARRAY_SIZE(garbage); i++) {
		unsigned char out[64];
		CHECK_INT(idfernet_decrypt(garbage[i], out, sizeof(out), NULL), -1);
	}
	CHECK_INT(idfernet_decrypt(NULL, NULL, 0, NULL), -1);
	/* a huge input */
	char *big = malloc(100001);
	memset(big, 'A', 100000);
	big[100000] = '\0';
	unsigned char out[64];
	CHECK_INT(idfernet_decrypt(big, out, sizeof(out), NULL), -1);
	free(big);
	/* a non-canonical spelling of a valid token (unused low bits set) */
	char last = tok[n - 1];
	tok[n - 1] = (char)(last == 'A' ? 'B' : last == 'Q' ? 'R' : last == 'g' ? 'h' : 'x');
	CHECK_INT(idfernet_decrypt(tok, out, sizeof(out), NULL), -1);
}

KTEST(wrong_key_rejected)
{
	_cleanup_dir_ char *a = tmpdir();
	_cleanup_dir_ char *b = tmpdir();
	CHECK_INT(idfernet_setup(a), 0);
	CHECK_INT(idfernet_setup(b), 0);
	CHECK_INT(idfernet_load(a), 0);
	_cleanup_free_ char *tok = idfernet_encrypt((const unsigned char *)"secret", 6);
	CHECK(decrypts_to(tok, "secret"));
	CHECK_INT(idfernet_load(b), 0);
	unsigned char out[64];
	CHECK_INT(idfernet_decrypt(tok, out, sizeof(out), NULL), -1);
	/* no keys at all: nothing encrypts, nothing decrypts */
	_cleanup_dir_ char *empty = tmpdir();
	CHECK_INT(idfernet_load(empty), -1);
	CHECK(idfernet_encrypt((const unsigned char *)"x", 1) == NULL);
	CHECK_INT(idfernet_decrypt(tok, out, sizeof(out), NULL), -1);
}

/* ---- the key repository ---- */

KTEST(setup_layout_and_modes)
{
	_cleanup_dir_ char *parent = tmpdir();
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/keys", parent);
	CHECK_INT(idfernet_setup(dir), 0);
	struct stat st;
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(key_exists(dir, "0") && key_exists(dir, "1"));
	CHECK_INT(count_files(dir), 2);
	const char *names[] = { "0", "1" };
	for (size_t i = 0; i < 2; i++) {
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
		_cleanup_free_ char *k = read_key(dir, names[i]);
		/* Keystone's file format: 44 characters of base64url, no newline */
		CHECK(k && strlen(k) == 44 && k[43] == '=');
		unsigned char raw[40];
		CHECK_INT(kutil_b64url_decode(k, raw, sizeof(raw)), 32);
	}
	_cleanup_free_ char *k0 = read_key(dir, "0");
	_cleanup_free_ char *k1 = read_key(dir, "1");
	CHECK(strcmp(k0, k1) != 0);

	/* idempotent: a second setup changes nothing */
	CHECK_INT(idfernet_setup(dir), 0);
	CHECK_INT(count_files(dir), 2);
	_cleanup_free_ char *k0b = read_key(dir, "0");
	_cleanup_free_ char *k1b = read_key(dir, "1");
	CHECK_STR(k0b, k0);
	CHECK_STR(k1b, k1);

	/* the primary is the highest number: tokens decrypt with key 1 alone */
	CHECK_INT(idfernet_load(dir), 0);
	_cleanup_free_ char *tok = idfernet_encrypt((const unsigned char *)"p", 1);
	_cleanup_dir_ char *only1 = tmpdir();
	write_key(only1, "1", k1);
	CHECK_INT(idfernet_load(only1), 0);
	CHECK(decrypts_to(tok, "p"));
	rmtree(dir);
}

KTEST(rotation)
{
	_cleanup_dir_ char *dir = tmpdir();
	CHECK_INT(idfernet_setup(dir), 0);
	CHECK_INT(idfernet_load(dir), 0);
	_cleanup_free_ char *t1 = idfernet_encrypt((const unsigned char *)"one", 3);

	/* rotate: the staged key becomes primary 2, a new staged 0 appears */
	_cleanup_free_ char *staged = read_key(dir, "0");
	CHECK_INT(idfernet_rotate(dir, 3), 0);
	CHECK(key_exists(dir, "0") && key_exists(dir, "1") && key_exists(dir, "2"));
	CHECK_INT(count_files(dir), 3);
	_cleanup_free_ char *k2 = read_key(dir, "2");
	_cleanup_free_ char *new0 = read_key(dir, "0");
	CHECK_STR(k2, staged);
	CHECK(strcmp(new0, staged) != 0);
	CHECK_INT(idfernet_load(dir), 0);
	CHECK(decrypts_to(t1, "one"));       /* old primary still active */
	_cleanup_free_ char *t2 = idfernet_encrypt((const unsigned char *)"two", 3);

	/* t2 was made with key 2 */
	_cleanup_dir_ char *only2 = tmpdir();
	write_key(only2, "2", k2);
	CHECK_INT(idfernet_load(only2), 0);
	CHECK(decrypts_to(t2, "two"));
	CHECK(!decrypts_to(t1, "one"));

	/* rotate again with max_active_keys = 3: key 1 is purged */
	CHECK_INT(idfernet_rotate(dir, 3), 0);
	CHECK(key_exists(dir, "0") && !key_exists(dir, "1") && key_exists(dir, "2") &&
	      key_exists(dir, "3"));
	CHECK_INT(count_files(dir), 3);
	CHECK_INT(idfernet_load(dir), 0);
	CHECK(!decrypts_to(t1, "one"));
	CHECK(decrypts_to(t2, "two"));

	/* a bigger window keeps more keys; a smaller one purges down to it */
	CHECK_INT(idfernet_rotate(dir, 5), 0);
	CHECK_INT(count_files(dir), 4);
	CHECK_INT(idfernet_rotate(dir, 2), 0);
	CHECK(key_exists(dir, "0") && key_exists(dir, "5"));
	CHECK_INT(count_files(dir), 2);

	/* no staged key: refuse, like keystone-manage */
	_cleanup_dir_ char *bare = tmpdir();
	CHECK_INT(idfernet_rotate(bare, 3), -1);
}

KTEST(keystone_written_repository)
{
	/* a repository as keystone-manage leaves it after two rotations,
	 * including a stray temporary file and a hand-edited trailing newline */
	_cleanup_dir_ char *dir = tmpdir();
	write_key(dir, "0", "gIVZ38P6UwgMvNY218FmK82pDqsvX9Iwc4QdbhSl2mc=");
	write_key(dir, "2", "4Cs1HLsgtuN_rtD7hYw83qxZzB5DdruFM_HbHWxVVeU=\n");
	write_key(dir, "3", SPEC_SECRET);
	write_key(dir, "0.tmp", "garbage");
	write_key(dir, "README", "not a key");
	CHECK_INT(idfernet_load(dir), 0);
	CHECK(decrypts_to(SPEC_TOKEN, "hello"));
	/* the primary is 3 (the spec secret): a token we make now decrypts
	 * with the spec secret alone */
	_cleanup_free_ char *tok = idfernet_encrypt((const unsigned char *)"k", 1);
	_cleanup_dir_ char *only = tmpdir();
	write_key(only, "7", SPEC_SECRET);
	CHECK_INT(idfernet_load(only), 0);
	CHECK(decrypts_to(tok, "k"));
	/* a malformed key file is skipped, not fatal */
	write_key(only, "8", "too short");
	CHECK_INT(idfernet_load(only), 0);
	CHECK(decrypts_to(tok, "k"));
}

KTEST(reload_after_rotation_elsewhere)
{
	_cleanup_dir_ char *dir = tmpdir();
	CHECK_INT(idfernet_setup(dir), 0);
	CHECK_INT(idfernet_load(dir), 0);
	_cleanup_free_ char *t1 = idfernet_encrypt((const unsigned char *)"one", 3);
	/* as if `kumo manage fernet-rotate` ran in another process, twice,
	 * with max_active_keys = 2: key 1 is gone from disk */
	usleep(20000);
	CHECK_INT(idfernet_rotate(dir, 2), 0);
	CHECK_INT(idfernet_rotate(dir, 2), 0);
	CHECK(!key_exists(dir, "1"));
	sleep(1);
	usleep(100000);
	/* the next use notices the directory changed and reloads */
	CHECK(!decrypts_to(t1, "one"));
	_cleanup_free_ char *k3 = read_key(dir, "3");
	_cleanup_free_ char *t3 = idfernet_encrypt((const unsigned char *)"three", 5);
	_cleanup_dir_ char *only3 = tmpdir();
	write_key(only3, "3", k3);
	CHECK_INT(idfernet_load(only3), 0);
	CHECK(decrypts_to(t3, "three"));
}

/* ---- the token payload ---- */

static id_payload sample(int scope)
{
	id_payload p = { 0 };
	p.methods = 1 | 2;
	p.scope = scope;
	snprintf(p.user_id, sizeof(p.user_id), "%s", "0123456789abcdef0123456789abcdef");
	if (scope == ID_SCOPE_PROJECT)
		snprintf(p.scope_id, sizeof(p.scope_id), "%s", "fedcba9876543210fedcba9876543210");
	if (scope == ID_SCOPE_DOMAIN)
		snprintf(p.scope_id, sizeof(p.scope_id), "%s", "default");
	p.expires_at_s = 1764129941;
	p.issued_us = 123456;
	p.naudit = 2;
	for (int i = 0; i < 16; i++) {
		p.audit_ids[0][i] = (unsigned char)i;
		p.audit_ids[1][i] = (unsigned char)(255 - i);
	}
	return p;
}

static bool same(const id_payload *a, const id_payload *b)
{
	return a->methods == b->methods && a->scope == b->scope &&
	       !strcmp(a->user_id, b->user_id) && !strcmp(a->scope_id, b->scope_id) &&
	       a->expires_at_s == b->expires_at_s && a->issued_us == b->issued_us &&
	       a->naudit == b->naudit &&
	       !memcmp(a->audit_ids, b->audit_ids, 16 * (size_t)a->naudit);
}

KTEST(payload_roundtrip)
{
	for (int scope = ID_SCOPE_UNSCOPED; scope <= ID_SCOPE_SYSTEM; scope++) {
		id_payload p = sample(scope), q;
		unsigned char buf[256];
		long n = idtoken_payload_encode(&p, buf, sizeof(buf));
		CHECK(n > 0 && n < 80);
		CHECK_INT(idtoken_payload_decode(buf, (size_t)n, &q), 0);
		CHECK(same(&p, &q));
		/* every truncation and any trailing byte is rejected */
		for (long len = 0; len < n; len++)
			CHECK_INT(idtoken_payload_decode(buf, (size_t)len, &q), -1);
		buf[n] = 0;
		CHECK_INT(idtoken_payload_decode(buf, (size_t)n + 1, &q), -1);
		/* an unknown version is rejected */
		buf[0] = 2;
		CHECK_INT(idtoken_payload_decode(buf, (size_t)n, &q), -1);
	}
	/* a string id, one audit id */
	id_payload p = sample(ID_SCOPE_PROJECT), q;
	snprintf(p.user_id, sizeof(p.user_id), "%s", "admin-user_with.odd~chars");
	p.naudit = 1;
	unsigned char buf[256];
	long n = idtoken_payload_encode(&p, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_INT(idtoken_payload_decode(buf, (size_t)n, &q), 0);
	CHECK(same(&p, &q));
	/* too small a buffer, bad values */
	CHECK_INT(idtoken_payload_encode(&p, buf, 10), -1);
	id_payload bad = sample(ID_SCOPE_SYSTEM);
	bad.naudit = 3;
	CHECK_INT(idtoken_payload_encode(&bad, buf, sizeof(buf)), -1);
	bad = sample(ID_SCOPE_SYSTEM);
	bad.issued_us = 1000000;
	CHECK_INT(idtoken_payload_encode(&bad, buf, sizeof(buf)), -1);
	bad = sample(ID_SCOPE_SYSTEM);
	snprintf(bad.user_id, sizeof(bad.user_id), "%s", "has space");
	CHECK_INT(idtoken_payload_encode(&bad, buf, sizeof(buf)), -1);
	bad.user_id[0] = '\0';
	CHECK_INT(idtoken_payload_encode(&bad, buf, sizeof(buf)), -1);
	/* upper-case hex is not the compact form but still round-trips */
	bad = sample(ID_SCOPE_UNSCOPED);
	snprintf(bad.user_id, sizeof(bad.user_id), "%s", "0123456789ABCDEF0123456789ABCDEF");
	n = idtoken_payload_encode(&bad, buf, sizeof(buf));
	CHECK_INT(idtoken_payload_decode(buf, (size_t)n, &q), 0);
	CHECK_STR(q.user_id, bad.user_id);
}

KTEST(payload_in_a_token_is_small)
{
	/* a project-scoped token with two audit ids stays under 255 characters */
	_cleanup_dir_ char *dir = tmpdir();
	CHECK_INT(idfernet_setup(dir), 0);
	CHECK_INT(idfernet_load(dir), 0);
	id_payload p = sample(ID_SCOPE_PROJECT);
	unsigned char buf[256];
	long n = idtoken_payload_encode(&p, buf, sizeof(buf));
	_cleanup_free_ char *tok = idfernet_encrypt(buf, (size_t)n);
	CHECK(tok && strlen(tok) < 255);
	unsigned char out[256];
	id_payload q;
	long m = idfernet_decrypt(tok, out, sizeof(out), NULL);
	CHECK_INT(m, n);
	CHECK_INT(idtoken_payload_decode(out, (size_t)m, &q), 0);
	CHECK(same(&p, &q));
}

int main(void)
{
	klog_init(NULL, KLOG_ERROR);
	return ktest_run();
}
