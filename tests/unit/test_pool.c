/* test_pool.c - the per-request memory pool. */
#include "core/pool.h"
#include "ktest.h"

#include <stdint.h>

KTEST(alloc_is_zeroed_and_aligned)
{
	kpool *p = kpool_new();
	for (int i = 1; i < 2000; i += 7) {
		unsigned char *m = kpool_alloc(p, (size_t)i);
		CHECK(((uintptr_t)m & 15) == 0);
		for (int j = 0; j < i; j++)
			CHECK(m[j] == 0);
		memset(m, 0xab, (size_t)i);
	}
	CHECK(kpool_used(p) >= 2000);
	kpool_free(p);
}

KTEST(big_allocations_get_own_blocks)
{
	kpool *p = kpool_new();
	char *a = kpool_alloc(p, 1 << 20);
	char *b = kpool_alloc(p, 16);
	a[(1 << 20) - 1] = 'x';
	b[0] = 'y';
	CHECK(a[(1 << 20) - 1] == 'x' && b[0] == 'y');
	kpool_free(p);
}

KTEST(strings)
{
	kpool *p = kpool_new();
	CHECK_STR(kpool_strdup(p, "hello"), "hello");
	CHECK(kpool_strdup(p, NULL) == NULL);
	CHECK_STR(kpool_strndup(p, "hello", 3), "hel");
	CHECK_STR(kpool_strndup(p, "hi", 10), "hi");
	CHECK_STR(kpool_printf(p, "%s-%d", "req", 42), "req-42");
	char big[5000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT(strlen(kpool_printf(p, "%s!", big)), 5000);
	kpool_free(p);
}

static int order[4], norder;
static void rec(void *arg) { order[norder++] = (int)(intptr_t)arg; }

KTEST(defers_run_lifo_and_json_is_released)
{
	kpool *p = kpool_new();
	norder = 0;
	kpool_defer(p, rec, (void *)1);
	kpool_defer(p, rec, (void *)2);
	kpool_defer(p, rec, (void *)3);
	json_t *j = kpool_json(p, json_pack("{s:s}", "a", "b"));
	CHECK(json_is_object(j));
	kpool_free(p);   /* LeakSanitizer would flag j if it were not released */
	CHECK_INT(norder, 3);
	CHECK(order[0] == 3 && order[1] == 2 && order[2] == 1);
}

int main(void) { return ktest_run(); }
