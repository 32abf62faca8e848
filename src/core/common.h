/*
 * common.h - tiny shared macros for all of Kumo.
 *
 * Kumo follows libvirt's habit of releasing resources with cleanup
 * attributes instead of goto ladders: a variable declared
 *     _cleanup_free_ char *s = strdup("x");
 * is freed when it goes out of scope.  Each module that owns a resource type
 * provides its own "...p" (pointer-to-pointer) release function for use with
 * _cleanup_().
 */
#ifndef KUMO_COMMON_H
#define KUMO_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void kfreep(void *p) { free(*(void **)p); }
#define _cleanup_free_ _cleanup_(kfreep)

/* Steal a pointer out of a cleanup variable: ownership moves to the caller. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })

#endif
