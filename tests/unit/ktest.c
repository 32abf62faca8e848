/* ktest.c - runner for ktest.h (see there). */
#include "ktest.h"

#include <stdbool.h>
#include <stdlib.h>

#define KTEST_MAX 512
static struct { const char *name; ktest_fn fn; } tests[KTEST_MAX];
static int ntests;
int ktest_failures;

void ktest_register(const char *name, ktest_fn fn)
{
	if (ntests == KTEST_MAX)
		abort();
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

int ktest_run(void)
{
	int failed = 0;
	for (int i = 0; i < ntests; i++) {
		int before = ktest_failures;
		tests[i].fn();
		bool ok = ktest_failures == before;
		printf("%s %s\n", ok ? "ok  " : "FAIL", tests[i].name);
		failed += !ok;
	}
	printf("%d passed, %d failed\n", ntests - failed, failed);
	return failed ? 1 : 0;
}
