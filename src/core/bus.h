/*
 * bus.h - the message bus between services (oslo.messaging's role).
 *
 * Three patterns, as OpenStack uses them:
 *   call   - request/reply to one server listening on a topic (or topic.server);
 *   cast   - one-way to one server on a topic;
 *   fanout - one-way to every server listening on a topic.
 * Messages are JSON: {"method": "...", "args": {...}}.  Handlers run on the
 * bus's worker threads.
 *
 * Implementations, chosen by URL:
 *   local://            in-process queues and worker threads (default);
 *   rabbit://user:pass@host:5672/vhost   AMQP via librabbitmq (later).
 * Callers never know which one they talk to.
 */
#ifndef KUMO_BUS_H
#define KUMO_BUS_H

#include <jansson.h>
#include "common.h"

typedef struct kbus kbus;

/* A handler returns a new reference as the reply (call) or NULL.  For a
 * cast/fanout the return value is discarded. */
typedef json_t *(*kbus_handler)(void *ud, const char *method, json_t *args);

kbus *kbus_open(const char *url, char *err, size_t errlen);

/* The process's bus, opened by `kumo all|<service>` from [DEFAULT]
 * transport_url before any service starts; NULL in tools and unit tests. */
extern kbus *kumo_bus;
void kbus_close(kbus *b);   /* stops workers after draining queued messages */

/* Listen on `topic` (and `topic.server` when server != NULL). */
int kbus_serve(kbus *b, const char *topic, const char *server, kbus_handler fn, void *ud);

/* 0 and *reply (new reference, may be NULL) on success; -1 on no listener,
 * ETIMEDOUT-style -2 on timeout. `target` is "topic" or "topic.server". */
int kbus_call(kbus *b, const char *target, const char *method, json_t *args,
              json_t **reply, int timeout_ms);
int kbus_cast(kbus *b, const char *target, const char *method, json_t *args);
int kbus_fanout(kbus *b, const char *topic, const char *method, json_t *args);

#endif
