/* test_bus.c - the in-process message bus: call, cast, fanout, targeting, close. */
#include "ktest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/bus.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Wait up to 5 s for *counter to reach want. */
static bool wait_for(atomic_int *counter, int want)
{
	for (int i = 0; i < 5000 && atomic_load(counter) < want; i++)
		sleep_ms(1);
	return atomic_load(counter) >= want;
}

struct server {
	const char *name;
	atomic_int hits;
	int delay_ms;
};

/* Replies {"server": name, "method": method, "args": args, "double": 2*args.n}. */
static json_t *echo(void *ud, const char *method, json_t *args)
{
	struct server *s = ud;
	atomic_fetch_add(&s->hits, 1);
	if (s->delay_ms)
		sleep_ms(s->delay_ms);
	json_int_t n = json_integer_value(json_object_get(args, "n"));
	/* handlers own their args copy for the duration: modifying it is allowed */
	json_object_set_new(args, "touched", json_true());
	return json_pack("{s:s, s:s, s:O, s:I}", "server", s->name, "method", method,
			 "args", args, "double", (json_int_t)(2 * n));
}

static json_t *no_reply(void *ud, const char *method, json_t *args)
{
	struct server *s = ud;
	atomic_fetch_add(&s->hits, 1);
	if (s->delay_ms)
		sleep_ms(s->delay_ms);
	return NULL;
}

KTEST(open_urls)
{
	char err[128] = "";
	kbus *b = kbus_open("local://", err, sizeof(err));
	CHECK(b != NULL);
	kbus_close(b);
	b = kbus_open(NULL, err, sizeof(err));            /* default: local */
	CHECK(b != NULL);
	kbus_close(b);
	b = kbus_open("local:///", err, sizeof(err));
	CHECK(b != NULL);
	kbus_close(b);

	err[0] = '\0';
	CHECK(kbus_open("rabbit://guest:guest@127.0.0.1:5672/", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not implemented yet") != NULL);
	err[0] = '\0';
	CHECK(kbus_open("kafka://host", err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
	err[0] = '\0';
	CHECK(kbus_open("local", err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
	CHECK(kbus_open("://x", NULL, 0) == NULL);
	kbus_close(NULL);
}

KTEST(call_reply)
{
	kbus *b = kbus_open("local://", NULL, 0);
	struct server s = { .name = "c1" };
	CHECK_INT(kbus_serve(b, "conductor", NULL, echo, &s), 0);
	json_t *args = json_pack("{s:i, s:s}", "n", 21, "name", "vm1");
	json_t *reply = NULL;
	CHECK_INT(kbus_call(b, "conductor", "build", args, &reply, 2000), 0);
	CHECK(reply != NULL);
	CHECK_STR(json_string_value(json_object_get(reply, "server")), "c1");
	CHECK_STR(json_string_value(json_object_get(reply, "method")), "build");
	CHECK_INT(json_integer_value(json_object_get(reply, "double")), 42);
	json_t *seen = json_object_get(reply, "args");
	CHECK_STR(json_string_value(json_object_get(seen, "name")), "vm1");
	/* the caller's args are untouched: the handler got its own copy */
	CHECK(json_object_get(args, "touched") == NULL);
	CHECK(json_object_get(seen, "touched") != NULL);
	CHECK_INT(args->refcount, 1);
	json_decref(reply);

	/* NULL args become {}; a NULL reply is fine; reply pointer may be NULL */
	CHECK_INT(kbus_call(b, "conductor", "ping", NULL, &reply, 2000), 0);
	CHECK_INT(json_integer_value(json_object_get(reply, "double")), 0);
	CHECK(json_is_object(json_object_get(reply, "args")));
	json_decref(reply);
	CHECK_INT(kbus_call(b, "conductor", "ping", args, NULL, 2000), 0);

	struct server quiet = { .name = "q" };
	CHECK_INT(kbus_serve(b, "quiet", NULL, no_reply, &quiet), 0);
	reply = json_true();
	CHECK_INT(kbus_call(b, "quiet", "x", args, &reply, 2000), 0);
	CHECK(reply == NULL);
	CHECK_INT(atomic_load(&quiet.hits), 1);

	json_decref(args);
	kbus_close(b);
}

KTEST(cast_one_way)
{
	kbus *b = kbus_open("local://", NULL, 0);
	struct server s = { .name = "s" };
	kbus_serve(b, "scheduler", NULL, echo, &s);   /* reply of a cast is dropped */
	json_t *args = json_pack("{s:i}", "n", 1);
	for (int i = 0; i < 50; i++)
		CHECK_INT(kbus_cast(b, "scheduler", "update", args), 0);
	CHECK(wait_for(&s.hits, 50));
	CHECK_INT(args->refcount, 1);
	json_decref(args);
	kbus_close(b);
	CHECK_INT(atomic_load(&s.hits), 50);
}

KTEST(fanout_to_three)
{
	kbus *b = kbus_open("local://", NULL, 0);
	struct server s[3] = { { .name = "a" }, { .name = "b" }, { .name = "c" } };
	struct server other = { .name = "other" };
	kbus_serve(b, "compute", "host-a", no_reply, &s[0]);
	kbus_serve(b, "compute", "host-b", no_reply, &s[1]);
	kbus_serve(b, "compute", NULL, no_reply, &s[2]);
	kbus_serve(b, "network", NULL, no_reply, &other);
	CHECK_INT(kbus_fanout(b, "compute", "refresh", NULL), 0);
	CHECK_INT(kbus_fanout(b, "compute", "refresh", NULL), 0);
	for (int i = 0; i < 3; i++)
		CHECK(wait_for(&s[i].hits, 2));
	kbus_close(b);
	for (int i = 0; i < 3; i++)
		CHECK_INT(atomic_load(&s[i].hits), 2);
	CHECK_INT(atomic_load(&other.hits), 0);
}

KTEST(server_targeting_and_round_robin)
{
	kbus *b = kbus_open("local://", NULL, 0);
	struct server h1 = { .name = "host1" }, h2 = { .name = "host2" };
	struct server fq = { .name = "node.example.com" };
	kbus_serve(b, "compute", "host1", echo, &h1);
	kbus_serve(b, "compute", "host2", echo, &h2);
	kbus_serve(b, "compute", "node.example.com", echo, &fq);

	for (int i = 0; i < 10; i++) {
		json_t *reply = NULL;
		CHECK_INT(kbus_call(b, "compute.host2", "spawn", NULL, &reply, 2000), 0);
		CHECK_STR(json_string_value(json_object_get(reply, "server")), "host2");
		json_decref(reply);
	}
	CHECK_INT(atomic_load(&h1.hits), 0);
	CHECK_INT(atomic_load(&h2.hits), 10);

	/* a server name with dots */
	json_t *reply = NULL;
	CHECK_INT(kbus_call(b, "compute.node.example.com", "spawn", NULL, &reply, 2000), 0);
	CHECK_STR(json_string_value(json_object_get(reply, "server")), "node.example.com");
	json_decref(reply);

	/* plain topic: round-robin over all three */
	for (int i = 0; i < 30; i++) {
		CHECK_INT(kbus_call(b, "compute", "list", NULL, &reply, 2000), 0);
		json_decref(reply);
	}
	CHECK_INT(atomic_load(&h1.hits), 10);
	CHECK_INT(atomic_load(&h2.hits), 20);
	CHECK_INT(atomic_load(&fq.hits), 11);

	/* unknown server on a known topic */
	CHECK_INT(kbus_call(b, "compute.host9", "spawn", NULL, &reply, 200), -1);
	CHECK(reply == NULL);
	CHECK_INT(kbus_cast(b, "compute.host9", "spawn", NULL), -1);

	/* a topic that itself contains a dot wins over the topic.server split */
	struct server dotted = { .name = "dotted" };
	kbus_serve(b, "compute.host1", NULL, echo, &dotted);
	CHECK_INT(kbus_call(b, "compute.host1", "x", NULL, &reply, 2000), 0);
	CHECK_STR(json_string_value(json_object_get(reply, "server")), "dotted");
	json_decref(reply);
	kbus_close(b);
}

KTEST(no_listener)
{
	kbus *b = kbus_open("local://", NULL, 0);
	json_t *reply = json_true();
	CHECK_INT(kbus_call(b, "nobody", "m", NULL, &reply, 100), -1);
	CHECK(reply == NULL);
	CHECK_INT(kbus_cast(b, "nobody", "m", NULL), -1);
	CHECK_INT(kbus_fanout(b, "nobody", "m", NULL), -1);
	CHECK_INT(kbus_call(b, "", "m", NULL, &reply, 100), -1);
	CHECK_INT(kbus_call(NULL, "x", "m", NULL, &reply, 100), -1);
	CHECK_INT(kbus_serve(b, "", NULL, echo, NULL), -1);
	CHECK_INT(kbus_serve(b, "t", NULL, NULL, NULL), -1);
	kbus_close(b);
}

KTEST(call_timeout)
{
	kbus *b = kbus_open("local://", NULL, 0);
	struct server slow = { .name = "slow", .delay_ms = 400 };
	kbus_serve(b, "slow", NULL, echo, &slow);
	json_t *reply = json_true();
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(kbus_call(b, "slow", "m", NULL, &reply, 50), -2);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(ms >= 45 && ms < 350);
	CHECK(reply == NULL);
	/* the abandoned call completes later; its reply is freed by the worker */
	kbus_close(b);
	CHECK_INT(atomic_load(&slow.hits), 1);
}

struct caller {
	kbus *b;
	int id, ok;
};

static void *call_many(void *arg)
{
	struct caller *c = arg;
	for (int i = 0; i < 200; i++) {
		int n = c->id * 1000 + i;
		json_t *args = json_pack("{s:i}", "n", n);
		json_t *reply = NULL;
		int rc = kbus_call(c->b, "api", "double", args, &reply, 5000);
		if (rc == 0 && json_integer_value(json_object_get(reply, "double")) == 2 * n)
			c->ok++;
		json_decref(reply);
		json_decref(args);
		if (i % 10 == 0) {
			json_t *a = json_pack("{s:i}", "n", i);
			kbus_cast(c->b, "api", "poke", a);
			kbus_fanout(c->b, "api", "poke", a);
			json_decref(a);
		}
	}
	return NULL;
}

KTEST(concurrent_calls)
{
	kbus *b = kbus_open("local://", NULL, 0);
	struct server s1 = { .name = "api1" }, s2 = { .name = "api2" };
	kbus_serve(b, "api", "one", echo, &s1);
	kbus_serve(b, "api", "two", echo, &s2);
	enum { NT = 8 };
	pthread_t th[NT];
	struct caller c[NT];
	for (int i = 0; i < NT; i++) {
		c[i] = (struct caller){ .b = b, .id = i };
		pthread_create(&th[i], NULL, call_many, &c[i]);
	}
	for (int i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(c[i].ok, 200);
	}
	kbus_close(b);
	/* 1600 calls + 160 casts + 160 fanouts x 2 listeners */
	CHECK_INT(atomic_load(&s1.hits) + atomic_load(&s2.hits), 1600 + 160 + 320);
	CHECK(atomic_load(&s1.hits) > 0 && atomic_load(&s2.hits) > 0);
}

KTEST(close_drains_pending)
{
	kbus *b = kbus_open("local://", NULL, 0);
	struct server s = { .name = "s", .delay_ms = 2 };
	kbus_serve(b, "work", NULL, no_reply, &s);
	json_t *args = json_pack("{s:s}", "k", "v");
	for (int i = 0; i < 100; i++)
		CHECK_INT(kbus_cast(b, "work", "job", args), 0);
	json_decref(args);
	kbus_close(b);                        /* returns only after all 100 ran */
	CHECK_INT(atomic_load(&s.hits), 100);
}

struct waiter {
	kbus *b;
	int rc;
	json_t *reply;
};

static void *wait_call(void *arg)
{
	struct waiter *w = arg;
	w->rc = kbus_call(w->b, "slow", "m", NULL, &w->reply, 5000);
	return NULL;
}

KTEST(close_while_a_caller_waits)
{
	kbus *b = kbus_open("local://", NULL, 0);
	struct server slow = { .name = "slow", .delay_ms = 200 };
	kbus_serve(b, "slow", NULL, echo, &slow);
	struct waiter w = { .b = b, .rc = 99 };
	pthread_t th;
	pthread_create(&th, NULL, wait_call, &w);
	CHECK(wait_for(&slow.hits, 1));
	kbus_close(b);                        /* the queued call still gets its reply */
	pthread_join(th, NULL);
	CHECK_INT(w.rc, 0);
	CHECK_STR(json_string_value(json_object_get(w.reply, "server")), "slow");
	json_decref(w.reply);
}

static kbus *nested_bus;
static json_t *relay(void *ud, const char *method, json_t *args)
{
	/* a handler may use the bus itself */
	json_t *reply = NULL;
	kbus_call(nested_bus, "leaf", method, args, &reply, 2000);
	return reply;
}

KTEST(handler_calls_bus)
{
	nested_bus = kbus_open("local://", NULL, 0);
	struct server leaf = { .name = "leaf" };
	kbus_serve(nested_bus, "leaf", NULL, echo, &leaf);
	kbus_serve(nested_bus, "relay", NULL, relay, NULL);
	json_t *args = json_pack("{s:i}", "n", 5);
	json_t *reply = NULL;
	CHECK_INT(kbus_call(nested_bus, "relay", "hop", args, &reply, 2000), 0);
	CHECK_STR(json_string_value(json_object_get(reply, "server")), "leaf");
	CHECK_INT(json_integer_value(json_object_get(reply, "double")), 10);
	json_decref(reply);
	json_decref(args);
	kbus_close(nested_bus);
}

int main(void) { return ktest_run(); }
