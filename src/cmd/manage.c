/*
 * manage.c - `kumo manage ...`: the operator's commands, the equivalent of
 * keystone-manage / glance-manage / nova-manage.
 *
 *   db-sync [service...]   create or upgrade the databases (idempotent)
 *   fernet-setup           create the token key repository
 *   fernet-rotate          rotate the token keys
 *   bootstrap --bootstrap-password PW [...]   the first admin, roles, catalog
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/conf.h"
#include "core/log.h"
#include "core/service.h"
#include "identity/identity.h"

static void usage(FILE *fp)
{
	fprintf(fp,
	        "usage: kumo [--config FILE] manage <command> [options]\n"
	        "\n"
	        "  db-sync [service...]     create/upgrade databases (all services by default)\n"
	        "  fernet-setup             create the Fernet key repository ([identity] key_repository)\n"
	        "  fernet-rotate            promote the staged key, add a new one, drop the oldest\n"
	        "  bootstrap                create the admin user, project, roles and identity endpoint:\n"
	        "      --bootstrap-password PW        (required; or env OS_BOOTSTRAP_PASSWORD)\n"
	        "      --bootstrap-username NAME      (admin)\n"
	        "      --bootstrap-project-name NAME  (admin)\n"
	        "      --bootstrap-role-name NAME     (admin)\n"
	        "      --bootstrap-service-name NAME  (keystone)\n"
	        "      --bootstrap-region-id ID       (RegionOne)\n"
	        "      --bootstrap-public-url URL  --bootstrap-internal-url URL  --bootstrap-admin-url URL\n");
}

static int db_sync(int argc, char **argv)
{
	int rc = 0;
	for (int i = 0; kservice_all[i]; i++) {
		const kservice *s = kservice_all[i];
		bool wanted = argc <= 1;
		for (int j = 1; j < argc; j++)
			wanted |= !strcmp(argv[j], s->name);
		if (!wanted || !s->db_sync)
			continue;
		if (s->db_sync() != 0) {
			fprintf(stderr, "kumo: db-sync of %s failed (see the log)\n", s->name);
			rc = 1;
		} else {
			printf("%s: database is up to date\n", s->name);
		}
	}
	for (int j = 1; j < argc; j++)
		if (!kservice_find(argv[j])) {
			fprintf(stderr, "kumo: unknown service %s\n", argv[j]);
			rc = 2;
		}
	return rc;
}

static int bootstrap(int argc, char **argv)
{
	id_bootstrap_opts o = {
		.password = getenv("OS_BOOTSTRAP_PASSWORD"),
		.username = "admin", .project_name = "admin", .role_name = "admin",
		.service_name = "keystone", .region_id = "RegionOne",
	};
	static const struct option opts[] = {
		{ "bootstrap-password", required_argument, 0, 'p' },
		{ "bootstrap-username", required_argument, 0, 'u' },
		{ "bootstrap-project-name", required_argument, 0, 'P' },
		{ "bootstrap-role-name", required_argument, 0, 'r' },
		{ "bootstrap-service-name", required_argument, 0, 's' },
		{ "bootstrap-region-id", required_argument, 0, 'R' },
		{ "bootstrap-public-url", required_argument, 0, '1' },
		{ "bootstrap-internal-url", required_argument, 0, '2' },
		{ "bootstrap-admin-url", required_argument, 0, '3' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.password = optarg; break;
		case 'u': o.username = optarg; break;
		case 'P': o.project_name = optarg; break;
		case 'r': o.role_name = optarg; break;
		case 's': o.service_name = optarg; break;
		case 'R': o.region_id = optarg; break;
		case '1': o.public_url = optarg; break;
		case '2': o.internal_url = optarg; break;
		case '3': o.admin_url = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.password || !*o.password) {
		fprintf(stderr, "kumo: bootstrap needs --bootstrap-password (or OS_BOOTSTRAP_PASSWORD)\n");
		return 2;
	}
	if (identity_service.init() != 0)
		return 1;
	int rc = id_bootstrap(&o);
	identity_service.fini();
	if (rc == 0)
		printf("bootstrap: user %s on project %s with role %s is ready\n", o.username,
		       o.project_name, o.role_name);
	return rc ? 1 : 0;
}

int cmd_manage(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *sub = argv[1];
	if (!strcmp(sub, "db-sync") || !strcmp(sub, "db_sync"))
		return db_sync(argc - 1, argv + 1);
	if (!strcmp(sub, "fernet-setup") || !strcmp(sub, "fernet_setup")) {
		if (idfernet_setup(id_key_repository()) != 0) {
			fprintf(stderr, "kumo: fernet-setup failed for %s\n", id_key_repository());
			return 1;
		}
		printf("fernet keys in %s\n", id_key_repository());
		return 0;
	}
	if (!strcmp(sub, "fernet-rotate") || !strcmp(sub, "fernet_rotate")) {
		int max = (int)kconf_get_int(kumo_conf, "identity", "max_active_keys", 3);
		if (idfernet_rotate(id_key_repository(), max) != 0) {
			fprintf(stderr, "kumo: fernet-rotate failed for %s\n", id_key_repository());
			return 1;
		}
		printf("fernet keys rotated in %s\n", id_key_repository());
		return 0;
	}
	if (!strcmp(sub, "bootstrap"))
		return bootstrap(argc - 1, argv + 1);
	fprintf(stderr, "kumo: unknown manage command '%s'\n", sub);
	usage(stderr);
	return 2;
}
