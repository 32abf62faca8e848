/*
 * serve.c - `kumo all` and `kumo <service>`: run services until SIGTERM.
 *
 * Each service is initialised (databases, keys), then gets an HTTP listener
 * on [<service>] port (and admin_port when the service has one, like
 * identity's 35357).  The main thread blocks every signal before any thread
 * starts, so it alone receives SIGTERM/SIGINT through sigwait(); it then
 * stops the listeners, which lets in-flight requests finish, and tears the
 * services down in reverse order.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/bus.h"
#include "core/conf.h"
#include "core/http.h"
#include "core/log.h"
#include "core/service.h"

#define MAX_LISTENERS 32

static void usage(FILE *fp)
{
	fprintf(fp, "usage: kumo [--config FILE] all | <service>\n"
	            "Runs the services in the foreground until SIGTERM or SIGINT.\n"
	            "Ports come from [<service>] port / admin_port; bind address from\n"
	            "[DEFAULT] bind_host (127.0.0.1).\n");
}

int cmd_serve(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	const kservice *svcs[16];
	int nsvcs = 0;
	if (!strcmp(argv[0], "all")) {
		for (int i = 0; kservice_all[i] && nsvcs < 16; i++)
			svcs[nsvcs++] = kservice_all[i];
	} else {
		svcs[nsvcs++] = kservice_find(argv[0]);
	}

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	const char *bind = kconf_get(kumo_conf, "DEFAULT", "bind_host", "127.0.0.1");
	khttp_server *srv[MAX_LISTENERS];
	int nsrv = 0, ninit = 0, rc = 1;

	char err[256] = "";
	const char *transport = kconf_get(kumo_conf, "DEFAULT", "transport_url", "local://");
	kumo_bus = kbus_open(transport, err, sizeof(err));
	if (!kumo_bus) {
		klog_error("kumo", "cannot open the message bus ([DEFAULT] transport_url): %s", err);
		return 1;
	}

	for (int i = 0; i < nsvcs; i++, ninit++) {
		const kservice *s = svcs[i];
		if (s->init && s->init() != 0) {
			klog_error(s->name, "initialisation failed");
			goto out;
		}
		int threads = (int)kconf_get_int(kumo_conf, s->name, "workers", 8);
		int ports[2] = { (int)kconf_get_int(kumo_conf, s->name, "port", s->default_port),
		                 s->extra_port ? (int)kconf_get_int(kumo_conf, s->name, "admin_port",
		                                                    s->extra_port) : 0 };
		for (int p = 0; p < 2; p++) {
			if (p == 1 && ports[p] <= 0)
				continue;
			khttp_server *h = khttp_start(s, bind, ports[p], threads);
			if (!h) {
				klog_error(s->name, "cannot listen on %s:%d", bind, ports[p]);
				ninit++;
				goto out;
			}
			srv[nsrv++] = h;
			klog_info(s->name, "listening on http://%s:%d", bind, khttp_port(h));
		}
		if (s->start && s->start() != 0) {
			klog_error(s->name, "start failed");
			ninit++;
			goto out;
		}
	}
	klog_info("kumo", "ready");
	rc = 0;
	for (;;) {
		int sig = 0;
		sigwait(&set, &sig);
		if (sig == SIGHUP) {
			klog_info("kumo", "SIGHUP ignored (restart to reload the configuration)");
			continue;
		}
		klog_info("kumo", "signal %d: stopping", sig);
		break;
	}
out:
	while (nsrv > 0)
		khttp_stop(srv[--nsrv]);
	while (ninit > 0) {
		const kservice *s = svcs[--ninit];
		if (s->stop)
			s->stop();
		if (s->fini)
			s->fini();
	}
	kbus_close(kumo_bus);
	kumo_bus = NULL;
	klog_info("kumo", "stopped");
	return rc;
}
