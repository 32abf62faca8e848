/*
 * pool.c - the per-request memory pool (see pool.h).
 *
 * Memory comes in blocks chained in a list; allocation bumps a pointer in the
 * current block and opens a new one when it is full.  Requests larger than a
 * quarter block get a block of their own, so one big body does not waste a
 * whole standard block.  Deferred destructors are a singly linked list run
 * LIFO at kpool_free().
 */
#include "pool.h"

#include <stdio.h>
#include <string.h>

#define KPOOL_BLOCK 8192
#define KPOOL_ALIGN 16

struct kblock {
	struct kblock *next;
	size_t size, used;
	_Alignas(KPOOL_ALIGN) unsigned char data[];
};

struct kdefer {
	void (*fn)(void *);
	void *arg;
	struct kdefer *next;
};

struct kpool {
	struct kblock *head;     /* current block for small allocations */
	struct kblock *big;      /* dedicated blocks */
	struct kdefer *defers;
	size_t used;
};

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p) {
		fputs("kumo: out of memory\n", stderr);
		abort();
	}
	return p;
}

static struct kblock *block_new(size_t size)
{
	struct kblock *b = xmalloc(sizeof(*b) + size);
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

kpool *kpool_new(void)
{
	kpool *p = xmalloc(sizeof(*p));
	p->head = block_new(KPOOL_BLOCK);
	p->big = NULL;
	p->defers = NULL;
	p->used = 0;
	return p;
}

void kpool_free(kpool *p)
{
	if (!p)
		return;
	for (struct kdefer *d = p->defers; d; d = d->next)
		d->fn(d->arg);
	/* the defer records live in the pool's blocks: free blocks last */
	struct kblock *lists[2] = { p->head, p->big };
	for (int i = 0; i < 2; i++) {
		struct kblock *b = lists[i];
		while (b) {
			struct kblock *next = b->next;
			free(b);
			b = next;
		}
	}
	free(p);
}

void *kpool_alloc(kpool *p, size_t n)
{
	size_t need = (n + KPOOL_ALIGN - 1) & ~(size_t)(KPOOL_ALIGN - 1);
	if (need == 0)
		need = KPOOL_ALIGN;
	p->used += need;
	if (need > KPOOL_BLOCK / 4) {
		struct kblock *b = block_new(need);
		b->used = need;
		b->next = p->big;
		p->big = b;
		memset(b->data, 0, need);
		return b->data;
	}
	if (p->head->size - p->head->used < need) {
		struct kblock *b = block_new(KPOOL_BLOCK);
		b->next = p->head;
		p->head = b;
	}
	void *r = p->head->data + p->head->used;
	p->head->used += need;
	memset(r, 0, need);
	return r;
}

char *kpool_strndup(kpool *p, const char *s, size_t n)
{
	if (!s)
		return NULL;
	size_t len = strnlen(s, n);
	char *r = kpool_alloc(p, len + 1);
	memcpy(r, s, len);
	r[len] = '\0';
	return r;
}

char *kpool_strdup(kpool *p, const char *s)
{
	return s ? kpool_strndup(p, s, strlen(s)) : NULL;
}

char *kpool_vprintf(kpool *p, const char *fmt, va_list ap)
{
	char tmp[256];
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return kpool_strdup(p, "");
	if ((size_t)n < sizeof(tmp))
		return kpool_strndup(p, tmp, (size_t)n);
	char *r = kpool_alloc(p, (size_t)n + 1);
	vsnprintf(r, (size_t)n + 1, fmt, ap);
	return r;
}

char *kpool_printf(kpool *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *r = kpool_vprintf(p, fmt, ap);
	va_end(ap);
	return r;
}

void kpool_defer(kpool *p, void (*fn)(void *), void *arg)
{
	struct kdefer *d = kpool_alloc(p, sizeof(*d));
	d->fn = fn;
	d->arg = arg;
	d->next = p->defers;
	p->defers = d;
}

static void json_release(void *j)
{
	json_decref(j);
}

json_t *kpool_json(kpool *p, json_t *j)
{
	if (j)
		kpool_defer(p, json_release, j);
	return j;
}

size_t kpool_used(const kpool *p)
{
	return p->used;
}
