/*
 * workq.h - a small pool of worker threads with a FIFO of jobs.
 *
 * Bus handlers must return quickly (the bus has few workers and a handler
 * that blocks one can starve the others), so anything long - a conductor's
 * build, an agent's spawn or snapshot - is pushed onto a work queue of the
 * component that owns it and runs on that queue's own threads.
 *
 * A job is a function and a JSON argument; the queue takes the reference and
 * drops it after the job ran.  kworkq_free() refuses new jobs, lets the
 * queued ones finish, and joins the threads.
 */
#ifndef KUMO_WORKQ_H
#define KUMO_WORKQ_H

#include <jansson.h>
#include "common.h"

typedef struct kworkq kworkq;
typedef void (*kworkq_fn)(void *ud, json_t *arg);

/* `name` names the threads in logs ("conductor", "compute"). NULL on error. */
kworkq *kworkq_new(const char *name, int nthreads);
/* Queue fn(ud, arg); steals arg (may be NULL).  0, or -1 when stopping. */
int kworkq_push(kworkq *q, kworkq_fn fn, void *ud, json_t *arg);
/* Jobs queued or running. */
size_t kworkq_pending(kworkq *q);
void kworkq_free(kworkq *q);

#endif
