/*
 * fernet.c - Fernet tokens and the Fernet key repository.
 *
 * A Fernet token (https://github.com/fernet/spec) is
 *
 *     0x80 | timestamp (8 bytes, big-endian seconds) | IV (16 bytes)
 *          | AES-128-CBC ciphertext of the payload (PKCS#7 padding)
 *          | HMAC-SHA256 of everything before it (32 bytes)
 *
 * written in base64url.  A key is 32 random bytes: the first half signs
 * (HMAC), the second half encrypts (AES).  This is byte for byte what
 * Python's cryptography.fernet produces, so the spec's test vectors apply.
 * Like Keystone we hand tokens out without their trailing '=' padding (it is
 * not URL-safe) and put it back before decoding; both forms are accepted.
 *
 * The key repository is keystone-manage's, file for file, so a directory
 * written by `keystone-manage fernet_setup` works here and the other way
 * round:
 *   - one file per key, named by its number, holding the key in base64url
 *     with padding (44 characters, no newline); files 0600, directory 0700;
 *   - the highest number is the primary key (it encrypts); every key
 *     decrypts; key 0 is the staged key, the next primary;
 *   - setup creates key 0 then rotates once, leaving 0 (staged) and 1
 *     (primary); it does nothing when key 0 already exists;
 *   - rotate writes a new key to 0.tmp, renames 0 to max+1 (the new
 *     primary), renames 0.tmp to 0, then deletes the lowest-numbered keys
 *     until at most max_active_keys remain, counting the staged key.
 * Setup and rotate hold an flock on the directory so two runs on one host
 * do not interleave.
 *
 * In memory the keys sit in an array, primary first, behind a rwlock;
 * idfernet_load() swaps in a new array.  Each key keeps a ready HMAC context
 * that is duplicated per token, so nothing is re-derived on the hot path.
 * Rotation usually happens in another process (kumo manage fernet-rotate),
 * so at most once a second the encrypt/decrypt path stats the repository
 * directory and reloads when its modification time changed (every rotation
 * renames files in it).
 *
 * A second repository of the same kind, the credential keys, encrypts
 * credential blobs at rest (idfernet_cred_*, at the end of this file).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"
#include "identity/identity.h"

#define FERNET_VERSION 0x80
#define KEY_LEN 32
#define KEY_B64_LEN 44          /* base64 of 32 bytes, with one '=' */
#define HDR_LEN (1 + 8 + 16)    /* version, timestamp, IV */
#define MAC_LEN 32
#define MAX_TOKEN_CHARS 4096    /* far above anything we issue */
#define MAX_KEYS 4096

typedef struct fkey {
	long num;
	unsigned char raw[KEY_LEN];     /* signing key = raw[0..15], encryption key = raw[16..31] */
	EVP_MAC_CTX *mac;               /* HMAC-SHA256 initialised with the signing key */
} fkey;

static struct {
	pthread_rwlock_t lock;
	fkey *keys;                     /* sorted by number, descending: keys[0] is the primary */
	size_t n;
	char *repo;                     /* where they were loaded from */
	struct timespec mtime;          /* the directory's mtime then */
} ks = { .lock = PTHREAD_RWLOCK_INITIALIZER };

static _Atomic int64_t ks_checked_us;   /* last time the directory was looked at */

static EVP_MAC *hmac_alg;
static EVP_CIPHER *aes_alg;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;

static void fetch_algs(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	aes_alg = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
	if (!hmac_alg || !aes_alg) {
		klog_error("identity", "OpenSSL lacks HMAC or AES-128-CBC");
		abort();
	}
}

static void cipher_ctx_freep(EVP_CIPHER_CTX **c) { EVP_CIPHER_CTX_free(*c); }
static void mac_ctx_freep(EVP_MAC_CTX **c) { EVP_MAC_CTX_free(*c); }
static void closep(int *fd) { if (*fd >= 0) close(*fd); }
static void closedirp(DIR **d) { if (*d) closedir(*d); }
#define _cleanup_cipher_ _cleanup_(cipher_ctx_freep)
#define _cleanup_mac_ _cleanup_(mac_ctx_freep)
#define _cleanup_fd_ _cleanup_(closep)
#define _cleanup_dir_ _cleanup_(closedirp)

static EVP_MAC_CTX *mac_new(const unsigned char *sign_key)
{
	pthread_once(&algs_once, fetch_algs);
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(hmac_alg);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!c || EVP_MAC_init(c, sign_key, 16, params) != 1) {
		EVP_MAC_CTX_free(c);
		return NULL;
	}
	return c;
}

/* HMAC-SHA256 of data with a prepared context (not modified). */
static bool mac_compute(const EVP_MAC_CTX *key_ctx, const unsigned char *data, size_t n,
                        unsigned char out[MAC_LEN])
{
	_cleanup_mac_ EVP_MAC_CTX *c = EVP_MAC_CTX_dup(key_ctx);
	size_t len = 0;
	return c && EVP_MAC_update(c, data, n) == 1 &&
	       EVP_MAC_final(c, out, &len, MAC_LEN) == 1 && len == MAC_LEN;
}

static void keys_free(fkey *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		EVP_MAC_CTX_free(keys[i].mac);
		OPENSSL_cleanse(keys[i].raw, KEY_LEN);
	}
	free(keys);
}

/* ---- the token format ---- */

/* Seal msg with one key; returns the padded base64url token (malloc'd). */
static char *seal_max(const unsigned char key[KEY_LEN], const EVP_MAC_CTX *mac, int64_t ts,
                      const unsigned char iv[16], const unsigned char *msg, size_t n,
                      size_t max)
{
	pthread_once(&algs_once, fetch_algs);
	if (n > max)
		return NULL;
	size_t cap = HDR_LEN + n + 16 + MAC_LEN;
	_cleanup_free_ unsigned char *buf = malloc(cap);
	if (!buf)
		abort();
	buf[0] = FERNET_VERSION;
	for (int i = 0; i < 8; i++)
		buf[1 + i] = (unsigned char)((uint64_t)ts >> (56 - 8 * i));
	memcpy(buf + 9, iv, 16);

	_cleanup_cipher_ EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	if (!c || EVP_EncryptInit_ex2(c, aes_alg, key + 16, iv, NULL) != 1 ||
	    EVP_EncryptUpdate(c, buf + HDR_LEN, &l1, msg, (int)n) != 1 ||
	    EVP_EncryptFinal_ex(c, buf + HDR_LEN + l1, &l2) != 1)
		return NULL;
	size_t len = HDR_LEN + (size_t)l1 + (size_t)l2;

	_cleanup_mac_ EVP_MAC_CTX *own = mac ? NULL : mac_new(key);
	if (!mac_compute(mac ? mac : own, buf, len, buf + len))
		return NULL;
	len += MAC_LEN;
	return kutil_b64url_encode(buf, len, true);
}

static char *seal(const unsigned char key[KEY_LEN], const EVP_MAC_CTX *mac, int64_t ts,
                  const unsigned char iv[16], const unsigned char *msg, size_t n)
{
	return seal_max(key, mac, ts, iv, msg, n, MAX_TOKEN_CHARS);
}

char *idfernet_encrypt_raw(const unsigned char key[32], int64_t ts, const unsigned char iv[16],
                           const unsigned char *payload, size_t n)
{
	return seal(key, NULL, ts, iv, payload, n);
}

/*
 * Decode a token string into raw bytes: the base64url alphabet, then either
 * no padding or exactly the padding that makes the length a multiple of 4.
 */
static long token_bytes_max(const char *token, unsigned char *out, size_t cap, bool canonical,
                            size_t max)
{
	size_t n = strnlen(token, max + 1);
	if (n == 0 || n > max)
		return -1;
	size_t data = strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                            "0123456789-_");
	size_t pad = strspn(token + data, "=");
	if (data + pad != n || data % 4 == 1 || (pad && n % 4 != 0))
		return -1;
	/* canonical only: the bits past the last byte must be zero, so that one
	 * token has exactly one spelling (with or without its padding); key
	 * files are read as leniently as Python does */
	if (canonical && data % 4 != 0) {
		char c = token[data - 1];
		int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 :
		        c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' ? 62 : 63;
		if (v & (data % 4 == 2 ? 0x0f : 0x03))
			return -1;
	}
	return kutil_b64url_decode(token, out, cap);
}

static long token_bytes(const char *token, unsigned char *out, size_t cap, bool canonical)
{
	return token_bytes_max(token, out, cap, canonical, MAX_TOKEN_CHARS);
}

/* ---- the key repository ---- */

static bool key_name(const char *s, long *num)
{
	if (!*s || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
		return false;
	*num = strtol(s, NULL, 10);
	return true;
}

static bool key_decode(const char *text, unsigned char raw[KEY_LEN])
{
	char buf[KEY_B64_LEN + 1];
	size_t n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;                 /* tolerate a trailing newline added by hand */
	if (n != KEY_B64_LEN)
		return false;
	memcpy(buf, text, n);
	buf[n] = '\0';
	unsigned char tmp[KEY_LEN + 3];
	long got = token_bytes(buf, tmp, sizeof(tmp), false);
	bool ok = got == KEY_LEN;
	if (ok)
		memcpy(raw, tmp, KEY_LEN);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

static int cmp_desc(const void *a, const void *b)
{
	long x = ((const fkey *)a)->num, y = ((const fkey *)b)->num;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Read every key file; *out sorted descending.  -1 when the directory can't be read. */
static int read_keys(const char *repo, fkey **out, size_t *nout)
{
	*out = NULL;
	*nout = 0;
	_cleanup_dir_ DIR *d = opendir(repo);
	if (!d)
		return -1;
	size_t cap = 8, n = 0;
	fkey *keys = calloc(cap, sizeof(*keys));
	if (!keys)
		abort();
	struct dirent *e;
	while ((e = readdir(d)) && n < MAX_KEYS) {
		long num;
		if (!key_name(e->d_name, &num))
			continue;
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/%s", repo, e->d_name) < 0)
			abort();
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		size_t len = 0;
		_cleanup_free_ char *text = kutil_read_file(path, &len);
		if (!text)
			continue;
		if (len == 0) {
			klog_warn("identity", "ignoring empty key file %s", path);
			continue;
		}
		if (n == cap) {
			cap *= 2;
			keys = realloc(keys, cap * sizeof(*keys));
			if (!keys)
				abort();
		}
		fkey *k = &keys[n];
		memset(k, 0, sizeof(*k));
		k->num = num;
		bool ok = key_decode(text, k->raw);
		OPENSSL_cleanse(text, len);
		if (!ok) {
			klog_warn("identity", "ignoring malformed key file %s", path);
			continue;
		}
		n++;
	}
	qsort(keys, n, sizeof(*keys), cmp_desc);
	*out = keys;
	*nout = n;
	return 0;
}

static int dir_mtime(const char *repo, struct timespec *ts)
{
	struct stat st;
	if (stat(repo, &st) != 0)
		return -1;
	*ts = st.st_mtim;
	return 0;
}

int idfernet_load(const char *key_repo)
{
	if (!key_repo)
		return -1;
	struct timespec mt = { 0 };
	dir_mtime(key_repo, &mt);
	fkey *keys;
	size_t n;
	if (read_keys(key_repo, &keys, &n) != 0) {
		klog_warn("identity", "cannot read the key repository %s: %s", key_repo,
		          strerror(errno));
	}
	for (size_t i = 0; i < n; i++) {
		keys[i].mac = mac_new(keys[i].raw);
		if (!keys[i].mac) {
			klog_error("identity", "cannot set up HMAC for a Fernet key");
			keys_free(keys, n);
			return -1;
		}
	}
	char *repo = strdup(key_repo);
	if (!repo)
		abort();
	long primary = n > 0 ? keys[0].num : -1;

	pthread_rwlock_wrlock(&ks.lock);
	fkey *old = ks.keys;
	size_t nold = ks.n;
	char *old_repo = ks.repo;
	ks.keys = keys;
	ks.n = n;
	ks.repo = repo;
	ks.mtime = mt;
	pthread_rwlock_unlock(&ks.lock);
	atomic_store(&ks_checked_us, kutil_now_us());

	keys_free(old, nold);
	free(old_repo);
	if (n > 0)
		klog_debug("identity", "loaded %zu Fernet keys from %s (primary %ld)", n, key_repo,
		           primary);
	return n > 0 ? 0 : -1;
}

/* At most once a second: reload when the repository directory changed. */
static void maybe_reload(void)
{
	int64_t now = kutil_now_us();
	int64_t last = atomic_load_explicit(&ks_checked_us, memory_order_relaxed);
	if (now - last < 1000000 ||
	    !atomic_compare_exchange_strong(&ks_checked_us, &last, now))
		return;
	char repo[4096] = "";
	struct timespec seen = { 0 };
	pthread_rwlock_rdlock(&ks.lock);
	if (ks.repo)
		snprintf(repo, sizeof(repo), "%s", ks.repo);
	seen = ks.mtime;
	pthread_rwlock_unlock(&ks.lock);
	struct timespec mt;
	if (!repo[0] || dir_mtime(repo, &mt) != 0)
		return;
	if (mt.tv_sec != seen.tv_sec || mt.tv_nsec != seen.tv_nsec) {
		klog_info("identity", "key repository %s changed, reloading Fernet keys", repo);
		idfernet_load(repo);
	}
}

char *idfernet_encrypt_at(const unsigned char *payload, size_t n, int64_t ts)
{
	maybe_reload();
	unsigned char key[KEY_LEN];
	unsigned char iv[16];
	kutil_random(iv, sizeof(iv));
	char *tok = NULL;
	pthread_rwlock_rdlock(&ks.lock);
	if (ks.n > 0) {
		memcpy(key, ks.keys[0].raw, KEY_LEN);
		tok = seal(key, ks.keys[0].mac, ts, iv, payload, n);
		OPENSSL_cleanse(key, sizeof(key));
	}
	pthread_rwlock_unlock(&ks.lock);
	if (!tok)
		return NULL;
	/* Keystone strips the padding: it is not URL-safe */
	size_t len = strlen(tok);
	while (len > 0 && tok[len - 1] == '=')
		tok[--len] = '\0';
	return tok;
}

char *idfernet_encrypt(const unsigned char *payload, size_t n)
{
	return idfernet_encrypt_at(payload, n, kutil_now_us() / 1000000);
}

/* Check the MAC of the decoded token buf (got bytes) with keys, decrypt into
 * out; the plaintext length, or -1. */
static long open_with(const fkey *keys, size_t nkeys, const unsigned char *buf, size_t got,
                      unsigned char *out, size_t cap, int64_t *issued_at_s)
{
	if (got < HDR_LEN + 16 + MAC_LEN || (got - HDR_LEN - MAC_LEN) % 16 != 0 ||
	    buf[0] != FERNET_VERSION)
		return -1;
	size_t signed_len = got - MAC_LEN, ct_len = got - HDR_LEN - MAC_LEN;
	unsigned char enc[16];
	bool found = false;
	for (size_t i = 0; i < nkeys && !found; i++) {
		unsigned char mac[MAC_LEN];
		if (mac_compute(keys[i].mac, buf, signed_len, mac) &&
		    kutil_ct_equal(mac, buf + signed_len, MAC_LEN)) {
			memcpy(enc, keys[i].raw + 16, 16);
			found = true;
		}
	}
	if (!found)
		return -1;
	/* PKCS#7 padding: the plaintext is shorter than the ciphertext */
	if (cap < ct_len) {
		_cleanup_free_ unsigned char *tmp = malloc(ct_len);
		if (!tmp)
			abort();
		long n = open_with(keys, nkeys, buf, got, tmp, ct_len, issued_at_s);
		if (n >= 0 && (size_t)n <= cap)
			memcpy(out, tmp, (size_t)n);
		OPENSSL_cleanse(tmp, ct_len);
		return n >= 0 && (size_t)n <= cap ? n : -1;
	}
	_cleanup_cipher_ EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	bool ok = c && EVP_DecryptInit_ex2(c, aes_alg, enc, buf + 9, NULL) == 1 &&
	          EVP_DecryptUpdate(c, out, &l1, buf + HDR_LEN, (int)ct_len) == 1 &&
	          EVP_DecryptFinal_ex(c, out + l1, &l2) == 1;
	OPENSSL_cleanse(enc, sizeof(enc));
	if (!ok) {
		OPENSSL_cleanse(out, cap);
		return -1;
	}
	if (issued_at_s) {
		uint64_t ts = 0;
		for (int i = 0; i < 8; i++)
			ts = ts << 8 | buf[1 + i];
		*issued_at_s = ts > INT64_MAX ? INT64_MAX : (int64_t)ts;
	}
	return (long)l1 + l2;
}

long idfernet_decrypt(const char *token, unsigned char *out, size_t cap, int64_t *issued_at_s)
{
	if (!token)
		return -1;
	pthread_once(&algs_once, fetch_algs);
	maybe_reload();
	unsigned char buf[MAX_TOKEN_CHARS / 4 * 3 + 4];
	long got = token_bytes(token, buf, sizeof(buf), true);
	if (got < 0)
		return -1;
	pthread_rwlock_rdlock(&ks.lock);
	long n = open_with(ks.keys, ks.n, buf, (size_t)got, out, cap, issued_at_s);
	pthread_rwlock_unlock(&ks.lock);
	return n;
}

/* ---- setup and rotation (keystone-manage fernet_setup / fernet_rotate) ---- */

static int write_new_key(const char *repo, const char *name)
{
	unsigned char raw[KEY_LEN];
	kutil_random(raw, sizeof(raw));
	_cleanup_free_ char *b64 = kutil_b64url_encode(raw, sizeof(raw), true);
	OPENSSL_cleanse(raw, sizeof(raw));
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/%s", repo, name) < 0)
		abort();
	mode_t old = umask(0177);
	int rc = kutil_write_file(path, b64, strlen(b64), 0600);
	umask(old);
	OPENSSL_cleanse(b64, strlen(b64));
	if (rc != 0) {
		klog_error("identity", "cannot write key file %s: %s", path, strerror(errno));
		return -1;
	}
	chmod(path, 0600);
	return 0;
}

static int rename_key(const char *repo, const char *from, const char *to)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	if (asprintf(&a, "%s/%s", repo, from) < 0 || asprintf(&b, "%s/%s", repo, to) < 0)
		abort();
	if (rename(a, b) != 0) {
		klog_error("identity", "cannot rename %s to %s: %s", a, b, strerror(errno));
		return -1;
	}
	return 0;
}

/* Exclusive lock on the repository directory (released when fd is closed). */
static int lock_repo(const char *repo)
{
	int fd = open(repo, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		klog_error("identity", "cannot open the key repository %s: %s", repo,
		           strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int rotate_locked(const char *repo, int max_active_keys)
{
	fkey *keys;
	size_t n;
	if (read_keys(repo, &keys, &n) != 0) {
		klog_error("identity", "cannot read the key repository %s", repo);
		return -1;
	}
	long primary = n > 0 ? keys[0].num : -1;
	bool staged = n > 0 && keys[n - 1].num == 0;
	/* the numbers of the non-staged keys, descending */
	long nums[MAX_KEYS];
	size_t nn = 0;
	for (size_t i = 0; i < n; i++)
		if (keys[i].num != 0)
			nums[nn++] = keys[i].num;
	keys_free(keys, n);
	if (!staged) {
		klog_error("identity", "key repository %s has no staged key 0: run fernet-setup",
		           repo);
		return -1;
	}

	if (write_new_key(repo, "0.tmp") != 0)
		return -1;
	char name[32];
	long next = primary + 1;
	snprintf(name, sizeof(name), "%ld", next);
	if (rename_key(repo, "0", name) != 0 || rename_key(repo, "0.tmp", "0") != 0)
		return -1;
	klog_info("identity", "promoted the staged key to primary key %ld", next);

	/* the active keys are the new primary, the older ones, and the staged 0 */
	memmove(nums + 1, nums, nn * sizeof(nums[0]));
	nums[0] = next;
	nn++;
	if (max_active_keys < 1)
		max_active_keys = 1;
	while (nn > (size_t)(max_active_keys - 1)) {
		long victim = nums[--nn];
		_cleanup_free_ char *path = NULL;
		if (asprintf(&path, "%s/%ld", repo, victim) < 0)
			abort();
		if (unlink(path) != 0)
			klog_warn("identity", "cannot remove excess key %s: %s", path,
			          strerror(errno));
		else
			klog_info("identity", "removed excess key %s", path);
	}
	return 0;
}

int idfernet_rotate(const char *key_repo, int max_active_keys)
{
	_cleanup_fd_ int fd = lock_repo(key_repo);
	if (fd < 0)
		return -1;
	return rotate_locked(key_repo, max_active_keys);
}

int idfernet_setup(const char *key_repo)
{
	struct stat st;
	bool existed = stat(key_repo, &st) == 0;
	if (!existed && kutil_mkdir_p(key_repo, 0700) != 0) {
		klog_error("identity", "cannot create the key repository %s: %s", key_repo,
		           strerror(errno));
		return -1;
	}
	if (!existed)
		chmod(key_repo, 0700);
	else if (!S_ISDIR(st.st_mode))
		return -1;
	else if (st.st_mode & (S_IROTH | S_IXOTH))
		klog_warn("identity", "key repository %s is world readable", key_repo);

	_cleanup_fd_ int fd = lock_repo(key_repo);
	if (fd < 0)
		return -1;
	_cleanup_free_ char *zero = NULL;
	if (asprintf(&zero, "%s/0", key_repo) < 0)
		abort();
	if (access(zero, F_OK) == 0) {
		klog_info("identity", "key repository %s is already initialized", key_repo);
		return 0;
	}
	if (write_new_key(key_repo, "0") != 0)
		return -1;
	int max = (int)kconf_get_int(kumo_conf, "identity", "max_active_keys", 3);
	return rotate_locked(key_repo, max);
}

/* ---- credential keys (keystone-manage credential_setup) ----
 *
 * Credential blobs are encrypted at rest with a second key repository of
 * the same layout, [identity] credential_key_repository (default
 * <state_dir>/credential-keys), as Keystone's credential provider does.  It
 * is created with keys 0 and 1 on first use; its keys are read once per
 * process (Kumo has no credential rotation command, so they don't change
 * under a running server).  Blobs keep their '=' padding, as Python's
 * Fernet writes them.
 */

#define CRED_MAX_BLOB (256 * 1024)

static struct {
	pthread_mutex_t mu;
	fkey *keys;
	size_t n;
	bool loaded;
} cks = { .mu = PTHREAD_MUTEX_INITIALIZER };

static const char *cred_repo(char *buf, size_t cap)
{
	const char *r = kconf_get(kumo_conf, "identity", "credential_key_repository", NULL);
	if (r && *r)
		return r;
	snprintf(buf, cap, "%s/credential-keys", kumo_state_dir());
	return buf;
}

/* Load (creating the repository if need be) under cks.mu; -1 when no keys. */
static int cred_keys_locked(void)
{
	if (cks.loaded)
		return cks.n > 0 ? 0 : -1;
	char buf[4096];
	const char *repo = cred_repo(buf, sizeof(buf));
	fkey *keys = NULL;
	size_t n = 0;
	if (read_keys(repo, &keys, &n) != 0 || n == 0) {
		keys_free(keys, n);
		keys = NULL;
		n = 0;
		if (idfernet_setup(repo) != 0 || read_keys(repo, &keys, &n) != 0 || n == 0) {
			klog_error("identity", "no credential keys in %s", repo);
			keys_free(keys, n);
			return -1;
		}
		klog_info("identity", "created the credential key repository %s", repo);
	}
	for (size_t i = 0; i < n; i++) {
		keys[i].mac = mac_new(keys[i].raw);
		if (!keys[i].mac) {
			keys_free(keys, n);
			return -1;
		}
	}
	cks.keys = keys;
	cks.n = n;
	cks.loaded = true;
	return 0;
}

char *idfernet_cred_encrypt(const char *plain)
{
	if (!plain)
		return NULL;
	unsigned char iv[16];
	kutil_random(iv, sizeof(iv));
	char *tok = NULL;
	pthread_mutex_lock(&cks.mu);
	if (cred_keys_locked() == 0)
		tok = seal_max(cks.keys[0].raw, cks.keys[0].mac, kutil_now_us() / 1000000, iv,
		               (const unsigned char *)plain, strlen(plain), CRED_MAX_BLOB);
	pthread_mutex_unlock(&cks.mu);
	return tok;
}

char *idfernet_cred_decrypt(const char *token)
{
	if (!token)
		return NULL;
	pthread_once(&algs_once, fetch_algs);
	size_t max = (CRED_MAX_BLOB + HDR_LEN + 16 + MAC_LEN) / 3 * 4 + 8;
	size_t cap = max / 4 * 3 + 4;
	_cleanup_free_ unsigned char *buf = malloc(cap);
	if (!buf)
		abort();
	long got = token_bytes_max(token, buf, cap, false, max);
	if (got < 0)
		return NULL;
	char *plain = malloc((size_t)got + 1);
	if (!plain)
		abort();
	long n = -1;
	pthread_mutex_lock(&cks.mu);
	if (cred_keys_locked() == 0)
		n = open_with(cks.keys, cks.n, buf, (size_t)got, (unsigned char *)plain,
		              (size_t)got, NULL);
	pthread_mutex_unlock(&cks.mu);
	if (n < 0 || memchr(plain, '\0', (size_t)n)) {
		free(plain);
		return NULL;
	}
	plain[n] = '\0';
	return plain;
}

void idfernet_cred_unload(void)
{
	pthread_mutex_lock(&cks.mu);
	keys_free(cks.keys, cks.n);
	cks.keys = NULL;
	cks.n = 0;
	cks.loaded = false;
	pthread_mutex_unlock(&cks.mu);
}
