/*
 * configdrive.c - the config drive: an ISO 9660 image labelled "config-2"
 * holding the instance's metadata tree (cmp_metadata_files(): openstack/
 * <version>/meta_data.json, user_data, network_data.json, vendor data, and
 * ec2/<version>/meta-data.json), as Nova's nova/virt/configdrive.py makes it,
 * for guests that have no metadata service to ask.
 *
 * The ISO's folder is made if missing (<instances_path>/<uuid>: the agent
 * builds the drive before the driver's spawn).  The files go into a private
 * temporary directory (mkdtemp, 0700) next to the target, genisoimage turns
 * it into the ISO (Joliet + Rock Ridge, the same options as Nova) under a
 * temporary name that is then renamed into place, and the directory is
 * removed whatever happened.  The tool runs through cmp_virt_run
 * (posix_spawn, clean environment, no shell).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "compute/agent/virt.h"
#include "compute.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	if (dir && *dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write data to dir/rel, making the parent folders; 0 or -1. */
static int write_under(const char *dir, const char *rel, const char *data, size_t len)
{
	if (!*rel || rel[0] == '/' || strstr(rel, ".."))
		return -1;
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, rel) >= (int)sizeof(path))
		return -1;
	char *slash = strrchr(path, '/');
	*slash = '\0';
	if (kutil_mkdir_p(path, 0700) != 0)
		return -1;
	*slash = '/';
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return close(fd);
}

int cmp_configdrive_build(const json_t *inst, const char *path, char *err, size_t errlen)
{
	if (!inst || !path || !*path) {
		snprintf(err, errlen, "config drive: no instance or path");
		return -1;
	}
	_cleanup_json_ json_t *files = cmp_metadata_files(inst);
	if (!files) {
		snprintf(err, errlen, "config drive: cannot build the metadata of the instance");
		return -1;
	}
	/* a private folder beside the ISO (same filesystem: the rename is atomic) */
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int plen = slash ? (int)(slash - path) : 1;
	snprintf(dir, sizeof(dir), "%.*s", plen, slash ? path : ".");
	if (kutil_mkdir_p(dir, 0755) != 0) {     /* <instances_path>/<uuid>, as libvirt.c */
		snprintf(err, errlen, "config drive: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (snprintf(dir, sizeof(dir), "%.*s/.configdrive.XXXXXX", plen, slash ? path : ".") >=
	    (int)sizeof(dir) || !mkdtemp(dir)) {
		snprintf(err, errlen, "config drive: temporary folder beside %s: %s", path,
		         strerror(errno));
		return -1;
	}
	const char *rel;
	json_t *v;
	json_object_foreach(files, rel, v) {
		if (write_under(dir, rel, json_string_value(v), json_string_length(v)) != 0) {
			snprintf(err, errlen, "config drive: cannot write %s: %s", rel,
			         strerror(errno));
			rm_tree(dir);
			return -1;
		}
	}
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	const char *argv[] = { "genisoimage", "-o", tmp, "-ldots", "-allow-lowercase",
	                       "-allow-multidot", "-l", "-publisher", "Kumo", "-quiet", "-J", "-r",
	                       "-V", "config-2", dir, NULL };
	char why[512] = "";
	int rc = cmp_virt_run(argv, NULL, why, sizeof(why));
	rm_tree(dir);
	if (rc != 0) {
		unlink(tmp);
		snprintf(err, errlen, "config drive: genisoimage failed: %s", why);
		return -1;
	}
	chmod(tmp, 0644);     /* the libvirt-qemu user reads it */
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "config drive: rename to %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	klog_info("compute", "instance %s: config drive %s", kjson_str(inst, "id"), path);
	return 0;
}
