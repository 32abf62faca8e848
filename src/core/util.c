/*
 * util.c - ids, time, encodings, randomness, small file helpers (see util.h).
 *
 * UUIDs come from libuuid, randomness from OpenSSL's RAND_bytes, base64 from
 * OpenSSL's EVP_EncodeBlock with the url-safe alphabet substituted.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <uuid/uuid.h>

void kutil_uuid(char out[37])
{
	uuid_t u;
	uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

void kutil_uuid_hex(char out[33])
{
	char tmp[37];
	kutil_uuid(tmp);
	int j = 0;
	for (int i = 0; tmp[i]; i++)
		if (tmp[i] != '-')
			out[j++] = tmp[i];
	out[j] = '\0';
}

bool kutil_is_uuid(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n == 32) {
		for (size_t i = 0; i < n; i++)
			if (!isxdigit((unsigned char)s[i]))
				return false;
		return true;
	}
	uuid_t u;
	return n == 36 && uuid_parse(s, u) == 0;
}

int64_t kutil_now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void fmt_time(int64_t us, char out[32], bool micro)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	if (micro)
		snprintf(out + n, 32 - n, ".%06dZ", (int)(us % 1000000));
	else
		snprintf(out + n, 32 - n, "Z");
}

void kutil_iso8601_us(int64_t us, char out[32])
{
	fmt_time(us, out, true);
}

void kutil_iso8601_s(int64_t us, char out[32])
{
	fmt_time(us, out, false);
}

int64_t kutil_parse_iso8601(const char *s)
{
	if (!s)
		return -1;
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	int64_t frac = 0;
	if (*p == '.') {
		p++;
		int digits = 0;
		while (isdigit((unsigned char)*p)) {
			if (digits < 6) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
			p++;
		}
		while (digits++ < 6)
			frac *= 10;
	}
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, hh = 0, mm = 0;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) < 1)
			return -1;
		offset = sign * (hh * 3600 + mm * 60);
		p += strlen(p);
	}
	if (*p != '\0')
		return -1;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	return ((int64_t)t - offset) * 1000000 + frac;
}

void kutil_random(void *buf, size_t n)
{
	if (RAND_bytes(buf, (int)n) != 1) {
		fputs("kumo: RAND_bytes failed\n", stderr);
		abort();
	}
}

char *kutil_b64url_encode(const void *data, size_t n, bool pad)
{
	size_t cap = 4 * ((n + 2) / 3) + 1;
	char *out = malloc(cap);
	if (!out)
		abort();
	int len = EVP_EncodeBlock((unsigned char *)out, data, (int)n);
	for (int i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	if (!pad)
		while (len > 0 && out[len - 1] == '=')
			len--;
	out[len] = '\0';
	return out;
}

long kutil_b64url_decode(const char *s, unsigned char *out, size_t outcap)
{
	size_t n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	size_t padded = (n + 3) / 4 * 4;
	_cleanup_free_ char *tmp = malloc(padded + 1);
	_cleanup_free_ unsigned char *dec = malloc(padded / 4 * 3 + 1);
	if (!tmp || !dec)
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!isalnum((unsigned char)c))
			return -1;
		tmp[i] = c;
	}
	for (size_t i = n; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	int len = EVP_DecodeBlock(dec, (unsigned char *)tmp, (int)padded);
	if (len < 0)
		return -1;
	len -= (int)(padded - n);   /* EVP_DecodeBlock counts padding as zero bytes */
	if (len < 0 || (size_t)len > outcap)
		return -1;
	memcpy(out, dec, (size_t)len);
	return len;
}

char *kutil_hex(const void *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *d = data;
	char *out = malloc(2 * n + 1);
	if (!out)
		abort();
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

bool kutil_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int kutil_mkdir_p(const char *path, int mode)
{
	char buf[4096];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

char *kutil_read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	if (!buf)
		abort();
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int kutil_write_file(const char *path, const void *data, size_t n, int mode)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	const char *p = data;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			unlink(tmp);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}
