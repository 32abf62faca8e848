/*
 * util.h - small mechanisms: ids, time, encodings, randomness.
 */
#ifndef KUMO_UTIL_H
#define KUMO_UTIL_H

#include <time.h>
#include "common.h"

/* Random UUID4 as 32 lowercase hex chars (Keystone ids) / 36 with dashes. */
void kutil_uuid_hex(char out[33]);
void kutil_uuid(char out[37]);
bool kutil_is_uuid(const char *s);   /* either form */

/* Wall clock in microseconds since the epoch. */
int64_t kutil_now_us(void);
/* ISO 8601 UTC: "2026-11-26T04:05:41.000000Z" (Keystone's form). */
void kutil_iso8601_us(int64_t us, char out[32]);
/* "2026-11-26T04:05:41Z" / "2026-11-26T04:05:41.000000" (Nova/Glance forms) */
void kutil_iso8601_s(int64_t us, char out[32]);
/* Parse the forms above (and "+00:00" offsets); -1 on error. */
int64_t kutil_parse_iso8601(const char *s);

/* Cryptographically strong random bytes (OpenSSL RAND_bytes); aborts on failure. */
void kutil_random(void *buf, size_t n);

/* base64url without padding (Fernet uses it with padding: pad=true). Return
 * malloc'd strings / length; decode returns -1 on malformed input. */
char *kutil_b64url_encode(const void *data, size_t n, bool pad);
long kutil_b64url_decode(const char *s, unsigned char *out, size_t outcap);
char *kutil_hex(const void *data, size_t n);   /* malloc'd lowercase hex */

/* Constant-time comparison. */
bool kutil_ct_equal(const void *a, const void *b, size_t n);

/* mkdir -p with mode; 0 or -1 (errno). */
int kutil_mkdir_p(const char *path, int mode);
/* Read a whole small file (malloc'd, NUL-terminated); NULL on error. */
char *kutil_read_file(const char *path, size_t *len);
/* Write atomically (tmp + rename) with mode; 0 or -1. */
int kutil_write_file(const char *path, const void *data, size_t n, int mode);

#endif
