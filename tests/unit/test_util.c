/* test_util.c - ids, time, encodings. */
#include "core/util.h"
#include "ktest.h"

#include <unistd.h>

KTEST(uuids)
{
	char a[33], b[33], c[37];
	kutil_uuid_hex(a);
	kutil_uuid_hex(b);
	kutil_uuid(c);
	CHECK_INT(strlen(a), 32);
	CHECK(strcmp(a, b) != 0);
	CHECK_INT(strlen(c), 36);
	CHECK(kutil_is_uuid(a) && kutil_is_uuid(c));
	CHECK(!kutil_is_uuid("default") && !kutil_is_uuid(NULL) && !kutil_is_uuid(""));
}

KTEST(time_roundtrip)
{
	char buf[32];
	kutil_iso8601_us(1764129941123456LL, buf);
	CHECK_STR(buf, "2025-11-26T04:05:41.123456Z");
	CHECK_INT(kutil_parse_iso8601(buf), 1764129941123456LL);
	kutil_iso8601_s(1764129941123456LL, buf);
	CHECK_STR(buf, "2025-11-26T04:05:41Z");
	CHECK_INT(kutil_parse_iso8601("2025-11-26T05:05:41+01:00"), 1764129941000000LL);
	CHECK_INT(kutil_parse_iso8601("2025-11-26T04:05:41.5"), 1764129941500000LL);
	CHECK_INT(kutil_parse_iso8601("garbage"), -1);
	CHECK_INT(kutil_parse_iso8601("2025-11-26T04:05:41Zjunk"), -1);
	CHECK(kutil_now_us() > 1764129941000000LL);
}

KTEST(base64url)
{
	const unsigned char data[] = { 0xfb, 0xff, 0xfe, 0x00, 0x41 };
	unsigned char out[16];
	for (size_t n = 0; n <= sizeof(data); n++) {
		char *e = kutil_b64url_encode(data, n, true);
		char *u = kutil_b64url_encode(data, n, false);
		CHECK(strchr(e, '+') == NULL && strchr(e, '/') == NULL);
		CHECK(strchr(u, '=') == NULL);
		CHECK_INT(kutil_b64url_decode(e, out, sizeof(out)), (long)n);
		CHECK(memcmp(out, data, n) == 0);
		CHECK_INT(kutil_b64url_decode(u, out, sizeof(out)), (long)n);
		free(e);
		free(u);
	}
	CHECK_INT(kutil_b64url_decode("a", out, sizeof(out)), -1);
	CHECK_INT(kutil_b64url_decode("ab!d", out, sizeof(out)), -1);
	CHECK_INT(kutil_b64url_decode("AAAAAAAAAAAAAAAAAAAAAAAA", out, 4), -1);   /* too long */
	char *h = kutil_hex(data, 2);
	CHECK_STR(h, "fbff");
	free(h);
	CHECK(kutil_ct_equal("abc", "abc", 3) && !kutil_ct_equal("abc", "abd", 3));
}

KTEST(files)
{
	char dir[] = "/tmp/kumo-test-util-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char sub[256], file[300];
	snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
	CHECK(kutil_mkdir_p(sub, 0700) == 0);
	CHECK(kutil_mkdir_p(sub, 0700) == 0);
	snprintf(file, sizeof(file), "%s/f", sub);
	CHECK(kutil_write_file(file, "hello", 5, 0600) == 0);
	size_t n = 0;
	char *s = kutil_read_file(file, &n);
	CHECK(s && n == 5);
	CHECK_STR(s, "hello");
	free(s);
	CHECK(kutil_read_file("/nonexistent/x", NULL) == NULL);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void) { return ktest_run(); }
