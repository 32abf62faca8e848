/* test_conf.c - the INI configuration. */
#include "core/conf.h"
#include "core/util.h"
#include "ktest.h"

#include <unistd.h>

KTEST(sections_defaults_and_types)
{
	char err[128] = "";
	kconf *c = kconf_parse("# comment\n; other\nstate_dir = /tmp/k\ndebug=true\n"
	                       "[identity]\nport = 5001\nname = \"  spaced  \"\n"
	                       "[DEFAULT]\nworkers = 4\n[image]\nworkers = x\n", err, sizeof(err));
	CHECK(c != NULL);
	CHECK_STR(kconf_get(c, "DEFAULT", "state_dir", NULL), "/tmp/k");
	CHECK_STR(kconf_get(c, "identity", "state_dir", NULL), "/tmp/k");  /* falls back */
	CHECK_INT(kconf_get_int(c, "identity", "port", 5000), 5001);
	CHECK_INT(kconf_get_int(c, "identity", "admin_port", 35357), 35357);
	CHECK_INT(kconf_get_int(c, "identity", "workers", 8), 4);
	CHECK_INT(kconf_get_int(c, "image", "workers", 8), 8);   /* not a number */
	CHECK(kconf_get_bool(c, "identity", "debug", false));
	CHECK_STR(kconf_get(c, "identity", "name", NULL), "  spaced  ");
	kconf_set(c, "identity", "port", "6000");
	CHECK_INT(kconf_get_int(c, "identity", "port", 0), 6000);
	kconf_free(c);
}

KTEST(errors)
{
	char err[128] = "";
	CHECK(kconf_parse("[broken\n", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "line 1") != NULL);
	CHECK(kconf_parse("novalue\n", err, sizeof(err)) == NULL);
	CHECK(kconf_parse(" = x\n", err, sizeof(err)) == NULL);
}

KTEST(load_file)
{
	char err[256] = "", path[] = "/tmp/kumo-test-conf-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK(kutil_write_file(path, "[identity]\nport=1\n", 18, 0600) == 0);
	kconf *c = kconf_load(path, true, err, sizeof(err));
	CHECK(c && kconf_get_int(c, "identity", "port", 0) == 1);
	kconf_free(c);
	unlink(path);
	CHECK(kconf_load(path, true, err, sizeof(err)) == NULL);
	c = kconf_load(path, false, err, sizeof(err));
	CHECK(c != NULL);
	kconf_free(c);
}

int main(void) { return ktest_run(); }
