/*
 * workq.c - worker threads with a FIFO of jobs (see workq.h).
 *
 * One mutex, one condition variable, a singly linked queue.  Threads sleep
 * on the condition until a job arrives or the queue is stopping; on stop
 * they finish what is queued and exit.
 */
#include "workq.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef struct kjob {
	kworkq_fn fn;
	void *ud;
	json_t *arg;
	struct kjob *next;
} kjob;

struct kworkq {
	char name[32];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	kjob *head, *tail;
	size_t pending;          /* queued + running */
	bool stopping;
	int nthreads;
	pthread_t *threads;
};

static void *worker(void *arg)
{
	kworkq *q = arg;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->head && !q->stopping)
			pthread_cond_wait(&q->cv, &q->mu);
		kjob *j = q->head;
		if (!j)
			break;          /* stopping and drained */
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		pthread_mutex_unlock(&q->mu);
		j->fn(j->ud, j->arg);
		json_decref(j->arg);
		free(j);
		pthread_mutex_lock(&q->mu);
		q->pending--;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

kworkq *kworkq_new(const char *name, int nthreads)
{
	kworkq *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	snprintf(q->name, sizeof(q->name), "%s", name ? name : "workq");
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->threads = calloc((size_t)(nthreads > 0 ? nthreads : 1), sizeof(pthread_t));
	if (!q->threads) {
		free(q);
		return NULL;
	}
	for (int i = 0; i < (nthreads > 0 ? nthreads : 1); i++) {
		if (pthread_create(&q->threads[i], NULL, worker, q) != 0) {
			klog_error(q->name, "cannot start a worker thread");
			break;
		}
		q->nthreads++;
	}
	if (q->nthreads == 0) {
		free(q->threads);
		free(q);
		return NULL;
	}
	return q;
}

int kworkq_push(kworkq *q, kworkq_fn fn, void *ud, json_t *arg)
{
	kjob *j = calloc(1, sizeof(*j));
	if (!j) {
		json_decref(arg);
		return -1;
	}
	j->fn = fn;
	j->ud = ud;
	j->arg = arg;
	pthread_mutex_lock(&q->mu);
	if (q->stopping) {
		pthread_mutex_unlock(&q->mu);
		json_decref(arg);
		free(j);
		return -1;
	}
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->pending++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

size_t kworkq_pending(kworkq *q)
{
	pthread_mutex_lock(&q->mu);
	size_t n = q->pending;
	pthread_mutex_unlock(&q->mu);
	return n;
}

void kworkq_free(kworkq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stopping = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	free(q->threads);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}
