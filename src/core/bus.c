/*
 * bus.c - the message bus: a driver table and the in-process driver.
 *
 * kbus is a thin front: kbus_open() picks a driver by the URL's scheme and
 * every call goes through the driver's vtable (open, close, serve, send), so
 * an AMQP driver for rabbit:// slots in as one more table entry without the
 * callers noticing.  Until it exists, rabbit:// fails with "not implemented
 * yet".
 *
 * The local:// driver is oslo.messaging's in-process transport, done with
 * one mutex, one FIFO queue and a few worker threads:
 *
 *   - kbus_serve() adds a listener (topic, optional server, handler).
 *   - A target "topic" selects every listener of the topic; "topic.server"
 *     (split at the first dot, unless some listener's topic is the whole
 *     string) selects the listeners registered with that server.
 *   - cast and call deliver to one selected listener, round-robin per
 *     target; fanout delivers to every listener of the topic.
 *   - Each delivery owns a deep copy of the args, so no json_t is ever
 *     shared between threads; the caller keeps its reference.
 *   - A call waits on its own condition variable (monotonic clock) for the
 *     reply.  On timeout the caller walks away and marks the call abandoned;
 *     the worker that eventually finishes it frees it and drops the reply.
 *   - kbus_close() refuses new messages, lets the workers drain the queue
 *     (so waiting callers get their replies), joins them and frees all.
 *
 * Handlers run on the workers; a handler may cast/call on the same bus, but
 * a call from a handler blocks a worker, so such chains can only be as deep
 * as the pool is wide before they end in timeouts.
 */
#include "bus.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define LOCAL_WORKERS 4
#define DEFAULT_TIMEOUT_MS 60000

enum kbus_mode { KBUS_CALL, KBUS_CAST, KBUS_FANOUT };

struct kbus_driver {
	const char *scheme;
	int (*open)(kbus *b, const char *url, char *err, size_t errlen);
	void (*close)(kbus *b);
	int (*serve)(kbus *b, const char *topic, const char *server, kbus_handler fn, void *ud);
	int (*send)(kbus *b, enum kbus_mode mode, const char *target, const char *method,
		    json_t *args, json_t **reply, int timeout_ms);
};

struct kbus {
	const struct kbus_driver *drv;
	void *impl;
};

static void seterr(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

/* ------------------------------------------------------- local:// driver */

struct listener {
	char *topic, *server;        /* server may be NULL */
	kbus_handler fn;
	void *ud;
	struct listener *next;
};

struct rr {                      /* round-robin position of one target */
	char *target;
	unsigned next;
	struct rr *link;
};

struct pending {                 /* a call waiting for its reply */
	pthread_cond_t cv;
	bool done, abandoned;
	json_t *reply;
};

struct msg {
	struct msg *next;
	struct listener *to;
	char *method;
	json_t *args;                /* owned deep copy */
	struct pending *call;        /* NULL for cast/fanout */
};

struct local {
	pthread_mutex_t mu;
	pthread_cond_t work;         /* queue not empty, or closing */
	pthread_cond_t idle;         /* no caller waits for a reply any more */
	int waiting;                 /* callers inside a call's wait */
	struct msg *head, *tail;
	struct listener *listeners, *last;
	struct rr *rrs;
	bool closing;
	int nthreads;
	pthread_t threads[LOCAL_WORKERS];
};

static void msg_free(struct msg *m)
{
	free(m->method);
	json_decref(m->args);
	free(m);
}

static void pending_free(struct pending *pc)
{
	pthread_cond_destroy(&pc->cv);
	json_decref(pc->reply);
	free(pc);
}

static void *local_worker(void *arg)
{
	struct local *l = arg;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->head && !l->closing)
			pthread_cond_wait(&l->work, &l->mu);
		struct msg *m = l->head;
		if (!m)
			break;               /* closing and drained */
		l->head = m->next;
		if (!l->head)
			l->tail = NULL;
		pthread_mutex_unlock(&l->mu);

		json_t *reply = m->to->fn(m->to->ud, m->method, m->args);

		pthread_mutex_lock(&l->mu);
		struct pending *pc = m->call;
		if (pc && !pc->abandoned) {
			pc->reply = reply;
			pc->done = true;
			pthread_cond_signal(&pc->cv);
		} else {
			json_decref(reply);
			if (pc)
				pending_free(pc);
		}
		msg_free(m);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void local_close(kbus *b)
{
	struct local *l = b->impl;
	pthread_mutex_lock(&l->mu);
	l->closing = true;
	pthread_cond_broadcast(&l->work);
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; i < l->nthreads; i++)
		pthread_join(l->threads[i], NULL);
	/* the queue is drained, so every waiting caller has its reply: let them
	 * leave before the mutex goes away */
	pthread_mutex_lock(&l->mu);
	while (l->waiting)
		pthread_cond_wait(&l->idle, &l->mu);
	pthread_mutex_unlock(&l->mu);
	for (struct listener *x = l->listeners, *n; x; x = n) {
		n = x->next;
		free(x->topic);
		free(x->server);
		free(x);
	}
	for (struct rr *r = l->rrs, *n; r; r = n) {
		n = r->link;
		free(r->target);
		free(r);
	}
	pthread_cond_destroy(&l->work);
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static int local_open(kbus *b, const char *url, char *err, size_t errlen)
{
	struct local *l = calloc(1, sizeof(*l));
	if (!l)
		abort();
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->work, NULL);
	pthread_cond_init(&l->idle, NULL);
	b->impl = l;
	for (int i = 0; i < LOCAL_WORKERS; i++) {
		if (pthread_create(&l->threads[i], NULL, local_worker, l) != 0) {
			seterr(err, errlen, "cannot start bus worker threads");
			local_close(b);
			b->impl = NULL;
			return -1;
		}
		l->nthreads++;
	}
	return 0;
}

static int local_serve(kbus *b, const char *topic, const char *server, kbus_handler fn,
		       void *ud)
{
	struct local *l = b->impl;
	struct listener *x = calloc(1, sizeof(*x));
	if (!x)
		abort();
	x->topic = strdup(topic);
	x->server = server ? strdup(server) : NULL;
	if (!x->topic || (server && !x->server))
		abort();
	x->fn = fn;
	x->ud = ud;
	pthread_mutex_lock(&l->mu);
	int rc = -1;
	if (!l->closing) {
		if (l->last)
			l->last->next = x;
		else
			l->listeners = x;
		l->last = x;
		rc = 0;
	}
	pthread_mutex_unlock(&l->mu);
	if (rc < 0) {
		free(x->topic);
		free(x->server);
		free(x);
	}
	return rc;
}

/* Does listener x receive messages sent to (topic, server)?  server NULL =
 * any listener of the topic. */
static bool selects(const struct listener *x, const char *topic, size_t tlen,
		    const char *server)
{
	if (strlen(x->topic) != tlen || strncmp(x->topic, topic, tlen) != 0)
		return false;
	return !server || (x->server && strcmp(x->server, server) == 0);
}

/* Pick the next listener of a target round-robin (lock held). */
static struct listener *pick(struct local *l, const char *target, const char *topic,
			     size_t tlen, const char *server)
{
	unsigned n = 0;
	for (struct listener *x = l->listeners; x; x = x->next)
		n += selects(x, topic, tlen, server);
	if (!n)
		return NULL;
	struct rr *r = l->rrs;
	while (r && strcmp(r->target, target) != 0)
		r = r->link;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r || !(r->target = strdup(target)))
			abort();
		r->link = l->rrs;
		l->rrs = r;
	}
	unsigned want = r->next++ % n;
	for (struct listener *x = l->listeners; x; x = x->next)
		if (selects(x, topic, tlen, server) && want-- == 0)
			return x;
	return NULL;
}

static struct msg *new_msg(struct listener *to, const char *method, json_t *args)
{
	struct msg *m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	m->to = to;
	m->method = strdup(method ? method : "");
	m->args = args ? json_deep_copy(args) : json_object();
	if (!m->method || !m->args)
		abort();
	return m;
}

static void enqueue(struct local *l, struct msg *m)
{
	if (l->tail)
		l->tail->next = m;
	else
		l->head = m;
	l->tail = m;
	pthread_cond_signal(&l->work);
}

static struct timespec deadline_after(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static int local_send(kbus *b, enum kbus_mode mode, const char *target, const char *method,
		      json_t *args, json_t **reply, int timeout_ms)
{
	struct local *l = b->impl;
	if (reply)
		*reply = NULL;

	pthread_mutex_lock(&l->mu);
	if (l->closing) {
		pthread_mutex_unlock(&l->mu);
		return -1;
	}

	if (mode == KBUS_FANOUT) {
		int n = 0;
		for (struct listener *x = l->listeners; x; x = x->next) {
			if (!selects(x, target, strlen(target), NULL))
				continue;
			enqueue(l, new_msg(x, method, args));
			n++;
		}
		pthread_mutex_unlock(&l->mu);
		return n ? 0 : -1;
	}

	/* "topic" when some listener uses the whole string as its topic, else
	 * "topic.server". */
	const char *topic = target, *server = NULL;
	size_t tlen = strlen(target);
	struct listener *to = pick(l, target, topic, tlen, NULL);
	const char *dot = strchr(target, '.');
	if (!to && dot) {
		tlen = (size_t)(dot - target);
		server = dot + 1;
		to = pick(l, target, topic, tlen, server);
	}
	if (!to) {
		pthread_mutex_unlock(&l->mu);
		return -1;
	}
	struct msg *m = new_msg(to, method, args);
	if (mode == KBUS_CAST) {
		enqueue(l, m);
		pthread_mutex_unlock(&l->mu);
		return 0;
	}

	struct pending *pc = calloc(1, sizeof(*pc));
	if (!pc)
		abort();
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pc->cv, &ca);
	pthread_condattr_destroy(&ca);
	m->call = pc;
	enqueue(l, m);

	struct timespec until = deadline_after(timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
	l->waiting++;
	while (!pc->done) {
		if (pthread_cond_timedwait(&pc->cv, &l->mu, &until) != 0 && !pc->done)
			break;
	}
	if (--l->waiting == 0 && l->closing)
		pthread_cond_broadcast(&l->idle);
	int rc;
	if (pc->done) {
		if (reply)
			*reply = pc->reply;
		else
			json_decref(pc->reply);
		pc->reply = NULL;
		pending_free(pc);
		rc = 0;
	} else {
		pc->abandoned = true;    /* the worker frees it */
		rc = -2;
	}
	pthread_mutex_unlock(&l->mu);
	if (rc == -2)
		klog_warn("bus", "call %s to %s timed out after %d ms", method ? method : "",
			  target, timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS);
	return rc;
}

/* ---------------------------------------------------------- driver table */

static int rabbit_open(kbus *b, const char *url, char *err, size_t errlen)
{
	seterr(err, errlen, "rabbit:// transport: not implemented yet");
	return -1;
}

static const struct kbus_driver drivers[] = {
	{ "local", local_open, local_close, local_serve, local_send },
	{ "rabbit", rabbit_open, NULL, NULL, NULL },
};

kbus *kumo_bus;

kbus *kbus_open(const char *url, char *err, size_t errlen)
{
	if (!url || !*url)
		url = "local://";
	const char *sep = strstr(url, "://");
	if (!sep || sep == url) {
		seterr(err, errlen, "invalid transport URL (expected scheme://...)");
		return NULL;
	}
	size_t slen = (size_t)(sep - url);
	for (size_t i = 0; i < ARRAY_SIZE(drivers); i++) {
		const struct kbus_driver *d = &drivers[i];
		if (strlen(d->scheme) != slen || strncmp(d->scheme, url, slen) != 0)
			continue;
		kbus *b = calloc(1, sizeof(*b));
		if (!b)
			abort();
		b->drv = d;
		if (d->open(b, url, err, errlen) < 0) {
			free(b);
			return NULL;
		}
		return b;
	}
	seterr(err, errlen, "unsupported transport URL scheme");
	return NULL;
}

void kbus_close(kbus *b)
{
	if (!b)
		return;
	b->drv->close(b);
	free(b);
}

int kbus_serve(kbus *b, const char *topic, const char *server, kbus_handler fn, void *ud)
{
	if (!b || !topic || !*topic || !fn)
		return -1;
	return b->drv->serve(b, topic, server && *server ? server : NULL, fn, ud);
}

int kbus_call(kbus *b, const char *target, const char *method, json_t *args,
	      json_t **reply, int timeout_ms)
{
	if (reply)
		*reply = NULL;
	if (!b || !target || !*target)
		return -1;
	return b->drv->send(b, KBUS_CALL, target, method, args, reply, timeout_ms);
}

int kbus_cast(kbus *b, const char *target, const char *method, json_t *args)
{
	if (!b || !target || !*target)
		return -1;
	return b->drv->send(b, KBUS_CAST, target, method, args, NULL, 0);
}

int kbus_fanout(kbus *b, const char *topic, const char *method, json_t *args)
{
	if (!b || !topic || !*topic)
		return -1;
	return b->drv->send(b, KBUS_FANOUT, topic, method, args, NULL, 0);
}
