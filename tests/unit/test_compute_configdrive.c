/*
 * test_compute_configdrive.c - the config drive (configdrive.c) and the
 * metadata files behind it (cmp_metadata_files, metadata.c), on a real
 * SQLite compute database: an instance row with metadata, user data and a
 * port, turned into an ISO by the real genisoimage, read back with isoinfo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/db.h"
#include "core/json.h"
#include "core/service.h"
#include "compute/compute.h"
#include "ktest.h"

static char tmpdir[64];
static bool ready;
static const char *const ID = "0b6f6c3e-2d7a-4a57-9c1e-6a1f0de0c0de";
/* "#!/bin/sh\necho hi\n" + a NUL and a non-UTF-8 byte */
static const unsigned char UD[] = "#!/bin/sh\necho hi\n\0\xff";
#define UD_LEN (sizeof(UD) - 1)

static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(m);
	pclose(p);
	return buf;
}

static void cleanup(void)
{
	if (!*tmpdir)
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

KTEST(setup)
{
	if (access("/usr/bin/genisoimage", X_OK) != 0 || access("/usr/bin/isoinfo", X_OK) != 0) {
		printf("SKIP: genisoimage/isoinfo not installed (genisoimage package)\n");
		return;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/kumo-cdtest-XXXXXX");
	CHECK(mkdtemp(tmpdir) != NULL);
	atexit(cleanup);
	char conf[512], err[256];
	snprintf(conf, sizeof(conf), "[DEFAULT]\nstate_dir = %s\n", tmpdir);
	kumo_conf = kconf_parse(conf, err, sizeof(err));
	CHECK(kumo_conf != NULL);
	cmp_db = kservice_db_open("compute");
	CHECK(cmp_db != NULL);
	CHECK_INT(cmp_db_sync(), 0);
	char ud64[64];
	/* base64 of UD, computed by hand: tools are not needed for that */
	snprintf(ud64, sizeof(ud64), "%s", "IyEvYmluL3NoCmVjaG8gaGkKAP8=");
	CHECK_INT(kdb_run(cmp_db, NULL,
	        "INSERT INTO cmp_instance (id, project_id, user_id, name, hostname, image_ref, "
	        "flavor_id, flavor, key_name, key_data, user_data, reservation_id, "
	        "security_groups, availability_zone, created_at, updated_at) "
	        "VALUES (?, 'p1', 'u1', 'Hello VM', 'hello-vm', '', '1', "
	        "'{\"name\": \"m1.tiny\"}', 'k1', 'ssh-ed25519 AAAA k1', ?, 'r-1', "
	        "'[\"default\"]', 'az1', 1, 1)", "ss", ID, ud64), KDB_DONE);
	CHECK_INT(kdb_run(cmp_db, NULL, "INSERT INTO cmp_instance_metadata VALUES (?, 'a', 'b')",
	                  "s", ID), KDB_DONE);
	CHECK_INT(kdb_run(cmp_db, NULL,
	        "INSERT INTO cmp_instance_port (instance_id, port_id, network_id, mac, ips, ord) "
	        "VALUES (?, 'p-0123456789abcdef', '', 'fa:16:3e:01:02:03', "
	        "'[{\"addr\": \"10.0.0.4\", \"version\": 4, \"type\": \"fixed\"}]', 0)", "s", ID),
	        KDB_DONE);
	ready = true;
}

KTEST(metadata_files)
{
	if (!ready)
		return;
	_cleanup_json_ json_t *inst = cmp_instance_load(ID, false);
	CHECK(inst != NULL);
	_cleanup_json_ json_t *files = cmp_metadata_files(inst);
	CHECK(files != NULL);
	const char *want[] = { "openstack/latest/meta_data.json", "openstack/latest/user_data",
		"openstack/latest/vendor_data.json", "openstack/latest/vendor_data2.json",
		"openstack/latest/network_data.json", "openstack/2012-08-10/meta_data.json",
		"openstack/2012-08-10/user_data", "ec2/latest/meta-data.json",
		"ec2/2009-04-04/meta-data.json", "ec2/latest/user-data" };
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		if (!json_object_get(files, want[i])) {
			ktest_failures++;
			fprintf(stderr, "missing %s\n", want[i]);
		}
	CHECK(json_object_get(files, "openstack/2012-08-10/vendor_data.json") == NULL);
	json_t *ud = json_object_get(files, "openstack/latest/user_data");
	CHECK(json_string_length(ud) == UD_LEN && !memcmp(json_string_value(ud), UD, UD_LEN));
	_cleanup_json_ json_t *md = json_loads(json_string_value(json_object_get(files,
	                                       "openstack/latest/meta_data.json")), 0, NULL);
	CHECK_STR(kjson_str(md, "uuid"), ID);
	CHECK_STR(kjson_str(md, "hostname"), "hello-vm");
	CHECK_STR(kjson_str(md, "name"), "Hello VM");
	CHECK_STR(kjson_str(md, "availability_zone"), "az1");
	CHECK_STR(kjson_str(md, "project_id"), "p1");
	CHECK_STR(kjson_str(json_object_get(md, "public_keys"), "k1"), "ssh-ed25519 AAAA k1");
	CHECK_STR(kjson_str(json_object_get(md, "meta"), "a"), "b");
	_cleanup_json_ json_t *ec2 = json_loads(json_string_value(json_object_get(files,
	                                        "ec2/latest/meta-data.json")), 0, NULL);
	CHECK_STR(kjson_str(ec2, "local-ipv4"), "10.0.0.4");
	CHECK_STR(kjson_str(ec2, "instance-type"), "m1.tiny");
	CHECK_STR(kjson_str(json_object_get(json_object_get(ec2, "public-keys"), "0"),
	                    "openssh-key"), "ssh-ed25519 AAAA k1");
	CHECK(json_object_get(json_object_get(json_object_get(ec2, "public-keys"), "0"),
	                      "_name") == NULL);
	_cleanup_json_ json_t *nd = json_loads(json_string_value(json_object_get(files,
	                                       "openstack/latest/network_data.json")), 0, NULL);
	json_t *link = json_array_get(json_object_get(nd, "links"), 0);
	CHECK_STR(kjson_str(link, "ethernet_mac_address"), "fa:16:3e:01:02:03");
	CHECK_STR(kjson_str(link, "id"), "tapp-012345678");
}

KTEST(configdrive_iso)
{
	if (!ready)
		return;
	_cleanup_json_ json_t *inst = cmp_instance_load(ID, false);
	char iso[128], err[256] = "", cmd[512];
	snprintf(iso, sizeof(iso), "%s/disk.config", tmpdir);
	CHECK_INT(cmp_configdrive_build(inst, iso, err, sizeof(err)), 0);
	if (*err)
		fprintf(stderr, "%s\n", err);
	struct stat st;
	CHECK(stat(iso, &st) == 0 && st.st_size > 0 && (st.st_mode & 0444) == 0444);

	snprintf(cmd, sizeof(cmd), "isoinfo -d -i %s", iso);
	_cleanup_free_ char *info = run(cmd);
	CHECK(info && strstr(info, "Volume id: config-2"));
	CHECK(info && strstr(info, "Rock Ridge"));

	snprintf(cmd, sizeof(cmd), "isoinfo -R -x /openstack/latest/meta_data.json -i %s", iso);
	_cleanup_free_ char *mdtext = run(cmd);
	_cleanup_json_ json_t *md = mdtext ? json_loads(mdtext, 0, NULL) : NULL;
	CHECK_STR(kjson_str(md, "uuid"), ID);

	snprintf(cmd, sizeof(cmd), "isoinfo -R -x /openstack/latest/user_data -i %s", iso);
	FILE *p = popen(cmd, "r");
	unsigned char buf[64];
	size_t n = p ? fread(buf, 1, sizeof(buf), p) : 0;
	if (p)
		pclose(p);
	CHECK(n == UD_LEN && !memcmp(buf, UD, UD_LEN));

	snprintf(cmd, sizeof(cmd), "isoinfo -R -f -i %s", iso);
	_cleanup_free_ char *list = run(cmd);
	CHECK(list && strstr(list, "/openstack/2012-08-10/meta_data.json"));
	CHECK(list && strstr(list, "/ec2/latest/meta-data.json"));
	CHECK(list && strstr(list, "/openstack/latest/network_data.json"));

	/* nothing left behind: only the ISO in the folder (no temp dir, no .tmp) */
	snprintf(cmd, sizeof(cmd), "ls -A %s | grep -v -e '^compute.db' -e '^disk.config$'",
	         tmpdir);
	_cleanup_free_ char *rest = run(cmd);
	CHECK_STR(rest ? rest : "", "");
}

KTEST(configdrive_errors)
{
	if (!ready)
		return;
	_cleanup_json_ json_t *inst = cmp_instance_load(ID, false);
	char err[256] = "", path[128];
	/* the folder is made when missing; a file in its way is an error */
	snprintf(path, sizeof(path), "%s/d1/d2/disk.config", tmpdir);
	CHECK_INT(cmp_configdrive_build(inst, path, err, sizeof(err)), 0);
	CHECK(access(path, R_OK) == 0);
	snprintf(path, sizeof(path), "%s/d1/d2/disk.config/disk.config", tmpdir);
	CHECK_INT(cmp_configdrive_build(inst, path, err, sizeof(err)), -1);
	CHECK(*err != '\0');
	CHECK_INT(cmp_configdrive_build(NULL, path, err, sizeof(err)), -1);
}

KTEST(teardown)
{
	kdb_close(cmp_db);
	cmp_db = NULL;
	kconf_free(kumo_conf);
	kumo_conf = NULL;
}

int main(void)
{
	return ktest_run();
}
