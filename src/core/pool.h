/*
 * pool.h - a memory pool (arena) per request, as in nginx and Apache.
 *
 * Everything a request handler allocates comes from the request's pool and is
 * released in one go when the response has been sent.  Objects that have
 * their own destructor (a jansson json_t, a prepared statement...) can be tied
 * to the pool with kpool_defer(): the callback runs when the pool is freed, in
 * reverse order of registration.
 *
 * A pool is not thread-safe: one request, one thread.
 */
#ifndef KUMO_POOL_H
#define KUMO_POOL_H

#include <stdarg.h>
#include <jansson.h>
#include "common.h"

typedef struct kpool kpool;

kpool *kpool_new(void);
void kpool_free(kpool *p);
static inline void kpool_freep(kpool **p) { if (*p) kpool_free(*p); }
#define _cleanup_pool_ _cleanup_(kpool_freep)

/* Zero-filled, 16-byte aligned; never returns NULL (aborts on OOM). */
void *kpool_alloc(kpool *p, size_t n);
char *kpool_strdup(kpool *p, const char *s);          /* NULL -> NULL */
char *kpool_strndup(kpool *p, const char *s, size_t n);
char *kpool_printf(kpool *p, const char *fmt, ...) _printf_(2, 3);
char *kpool_vprintf(kpool *p, const char *fmt, va_list ap);

/* Run fn(arg) when the pool is freed (LIFO). */
void kpool_defer(kpool *p, void (*fn)(void *), void *arg);
/* Tie a json_t reference to the pool (json_decref at free); returns j. */
json_t *kpool_json(kpool *p, json_t *j);

/* Bytes handed out so far (for tests and statistics). */
size_t kpool_used(const kpool *p);

#endif
