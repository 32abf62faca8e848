/*
 * log.h - leveled logging to stderr or a file, one line per event.
 *
 * Lines look like "2026-11-26 04:05:41.123 INFO identity: message".
 * Secrets never go through here: callers log ids, never passwords, tokens or
 * keys (klog_token_ref() gives a safe short reference to a token).
 */
#ifndef KUMO_LOG_H
#define KUMO_LOG_H

#include "common.h"

enum klog_level { KLOG_DEBUG, KLOG_INFO, KLOG_WARN, KLOG_ERROR };

void klog_init(const char *path /* NULL = stderr */, enum klog_level min);
void klog_set_level(enum klog_level min);
void klog(enum klog_level lvl, const char *component, const char *fmt, ...) _printf_(3, 4);

#define klog_debug(c, ...) klog(KLOG_DEBUG, c, __VA_ARGS__)
#define klog_info(c, ...) klog(KLOG_INFO, c, __VA_ARGS__)
#define klog_warn(c, ...) klog(KLOG_WARN, c, __VA_ARGS__)
#define klog_error(c, ...) klog(KLOG_ERROR, c, __VA_ARGS__)

/* First 8 hex chars of SHA-256(token): lets logs correlate tokens safely. */
void klog_token_ref(const char *token, char out[9]);

#endif
