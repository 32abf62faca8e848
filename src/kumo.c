/*
 * kumo.c - the one binary.  Like git, `kumo <subcommand> [args]`: each
 * subcommand lives in src/cmd/<name>.c and gets argc/argv after the global
 * options have been taken.
 *
 *   kumo [--config FILE] [--debug] all            every service, one process
 *   kumo [--config FILE] [--debug] <service>      one service (identity, ...)
 *   kumo [--config FILE] manage <command> ...     db-sync, bootstrap, fernet-*
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/service.h"

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: kumo [--config FILE] [--debug] <command> [args]\n"
	        "\n"
	        "Kumo is an OpenStack-compatible cloud in one binary.\n"
	        "\n"
	        "Commands:\n"
	        "  all                 run every service in this process (the all-in-one cloud)\n");
	for (int i = 0; kservice_all[i]; i++)
		fprintf(fp, "  %-19s run only the %s service (catalog type %s, port %d)\n",
		        kservice_all[i]->name, kservice_all[i]->name,
		        kservice_all[i]->catalog_type ? kservice_all[i]->catalog_type : "none",
		        kservice_all[i]->default_port);
	fprintf(fp,
	        "  manage ...          database, keys and bootstrap (kumo manage --help)\n"
	        "  help                this text\n"
	        "\n"
	        "Options:\n"
	        "  --config FILE       configuration file (default /etc/kumo/kumo.conf;\n"
	        "                      a missing default file means built-in defaults)\n"
	        "  --debug             log at debug level\n");
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	bool debug = false;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			config = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			config = argv[i] + 9;
		} else if (!strcmp(argv[i], "--debug")) {
			debug = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "kumo: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[i];
	if (!strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}

	char err[512] = "";
	kumo_conf = kconf_load(config ? config : "/etc/kumo/kumo.conf", config != NULL, err, sizeof(err));
	if (!kumo_conf) {
		fprintf(stderr, "kumo: %s\n", err);
		return 1;
	}
	if (kconf_get_bool(kumo_conf, "DEFAULT", "debug", false))
		debug = true;
	klog_init(kconf_get(kumo_conf, "DEFAULT", "log_file", NULL), debug ? KLOG_DEBUG : KLOG_INFO);

	int rc;
	if (!strcmp(cmd, "manage"))
		rc = cmd_manage(argc - i, argv + i);
	else if (!strcmp(cmd, "all") || kservice_find(cmd))
		rc = cmd_serve(argc - i, argv + i);
	else {
		fprintf(stderr, "kumo: unknown command '%s'\n", cmd);
		usage(stderr);
		rc = 2;
	}
	kconf_free(kumo_conf);
	kumo_conf = NULL;
	return rc;
}
