/*
 * ktest.h - the unit-test harness: one executable per module, each test a
 * function, checks that report file:line and keep going.
 *
 *     KTEST(pool_grows) { kpool *p = kpool_new(); CHECK(p != NULL); ... }
 *     int main(void) { return ktest_run(); }
 *
 * Tests register themselves with a constructor; ktest_run() runs them in
 * order of definition and returns non-zero when any check failed.
 */
#ifndef KUMO_KTEST_H
#define KUMO_KTEST_H

#include <stdio.h>
#include <string.h>

typedef void (*ktest_fn)(void);
void ktest_register(const char *name, ktest_fn fn);
int ktest_run(void);
extern int ktest_failures;

#define KTEST(name)                                                         \
	static void ktest_##name(void);                                     \
	__attribute__((constructor)) static void ktest_reg_##name(void)     \
	{ ktest_register(#name, ktest_##name); }                            \
	static void ktest_##name(void)

#define CHECK(cond) do { if (!(cond)) { ktest_failures++;                    \
	fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_STR(a, b) do { const char *_a = (a), *_b = (b);                 \
	if (!_a || !_b || strcmp(_a, _b) != 0) { ktest_failures++;            \
	fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,      \
	        _a ? _a : "(null)", _b ? _b : "(null)"); } } while (0)
#define CHECK_INT(a, b) do { long long _a = (a), _b = (b);                    \
	if (_a != _b) { ktest_failures++;                                     \
	fprintf(stderr, "%s:%d: %s == %lld, expected %lld\n", __FILE__,       \
	        __LINE__, #a, _a, _b); } } while (0)

#endif
