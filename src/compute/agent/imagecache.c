/*
 * agent/imagecache.c - the compute agent's image cache and instance disks
 * (Nova's imagecache + the qcow2 image backend with force_raw_images).
 *
 * An image is downloaded once per host from the Image API
 * (GET /v2/images/<id>/file, the service's own token) into
 * <instances_path>/_base/<sha1 hex of the image id>, converted to RAW when it
 * is qcow2 (or another format qemu-img reads), and shared read-only by every
 * instance booted from it: each instance's root disk is a qcow2 overlay
 * (`qemu-img create -f qcow2 -F raw -b <base>`) grown to the flavor's root
 * disk.  Raw bases cost disk space but make every guest read fast and keep
 * the overlays' backing chains one level deep.
 *
 * Concurrency: the base file appears atomically (written under a temporary
 * name in _base, then rename()), so readers never see a partial file.  A
 * download holds a per-image lock (one of 64 striped mutexes chosen by the
 * image's hash), so parallel boots of the same image wait for the first
 * download and then reuse its result instead of fetching it again.
 *
 * Safety: image files come from users.  A qcow2 (vmdk, ...) image that names
 * a backing file is refused before qemu-img converts it (it would otherwise
 * read a host file into the guest's disk), and the format is always given
 * with -f, never probed.  Tools run with posix_spawn and a clean environment
 * (cmp_virt_run), never through a shell.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "core/client.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "virt.h"

#define LOG "compute-imagecache"
#define GIB (1024LL * 1024 * 1024)

#define DIR_MAX (PATH_MAX - 128)   /* room for /.<sha1>.part.XXXXXX */
static char base_dir[DIR_MAX];
static pthread_mutex_t image_locks[64];
static pthread_once_t locks_once = PTHREAD_ONCE_INIT;

static void locks_init(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(image_locks); i++)
		pthread_mutex_init(&image_locks[i], NULL);
}

static void closefdp(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define _cleanup_close_ _cleanup_(closefdp)

/* ---- running tools ---- */

static const char *find_tool(const char *name, char *buf, size_t len)
{
	if (strchr(name, '/'))
		return name;
	static const char *const dirs[] = { "/usr/sbin", "/usr/bin", "/sbin", "/bin" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		snprintf(buf, len, "%s/%s", dirs[i], name);
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

typedef struct sbuf {
	char *data;
	size_t len, cap;
} sbuf;

static void sbuf_add(sbuf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d)
			return;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* The last non-empty line of a tool's stderr, trimmed. */
static void last_line(const char *s, char *out, size_t outlen)
{
	size_t n = s ? strlen(s) : 0;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		n--;
	size_t start = n;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	snprintf(out, outlen, "%.*s", (int)(n - start), s ? s + start : "");
}

int cmp_virt_run(const char *const *argv, char **out, char *err, size_t errlen)
{
	if (out)
		*out = NULL;
	char exe_buf[PATH_MAX];
	const char *exe = find_tool(argv[0], exe_buf, sizeof(exe_buf));
	if (!exe) {
		snprintf(err, errlen, "%s not found", argv[0]);
		return -1;
	}
	int pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	if ((out && pipe2(pout, O_CLOEXEC) != 0) || pipe2(perr, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		for (int i = 0; i < 2; i++) {
			closefdp(&pout[i]);
			closefdp(&perr[i]);
		}
		return -1;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out)
		posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL };
	pid_t pid;
	int rc = posix_spawn(&pid, exe, &fa, &at, (char *const *)argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	closefdp(&pout[1]);
	closefdp(&perr[1]);
	if (rc != 0) {
		closefdp(&pout[0]);
		closefdp(&perr[0]);
		snprintf(err, errlen, "cannot run %s: %s", exe, strerror(rc));
		return -1;
	}

	sbuf ob = { 0 }, eb = { 0 };
	struct pollfd pfd[2] = { { .fd = perr[0], .events = POLLIN },
	                         { .fd = pout[0], .events = POLLIN } };
	int open_fds = out ? 2 : 1;
	while (open_fds > 0) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			char buf[8192];
			ssize_t n = read(pfd[i].fd, buf, sizeof(buf));
			if (n > 0) {
				sbuf_add(i == 0 ? &eb : &ob, buf, (size_t)n);
			} else if (n == 0 || errno != EINTR) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (status != 0) {
		char line[512];
		last_line(eb.data, line, sizeof(line));
		snprintf(err, errlen, "%s failed (%d): %s", argv[0], status, line);
		klog_warn(LOG, "%s %s failed (%d): %s", argv[0], argv[1] ? argv[1] : "", status,
		          line);
	}
	free(eb.data);
	if (out)
		*out = ob.data ? ob.data : strdup("");
	else
		free(ob.data);
	return status;
}

json_t *cmp_qemu_img_info(const char *path, const char *fmt, char *err, size_t errlen)
{
	const char *argv[] = { "qemu-img", "info", "--output=json", "-U", fmt ? "-f" : path,
	                       fmt ? fmt : NULL, fmt ? path : NULL, NULL };
	_cleanup_free_ char *out = NULL;
	if (cmp_virt_run(argv, &out, err, errlen) != 0)
		return NULL;
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		snprintf(err, errlen, "qemu-img info %s: unreadable output", path);
		return NULL;
	}
	return j;
}

/* ---- layout ---- */

/* o+x on every directory from / down to path, so a non-root qemu reaches it. */
static void make_traversable(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	size_t n = strlen(buf);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		struct stat st;
		if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH)) {
			if (chmod(buf, (st.st_mode & 07777) | S_IXOTH) != 0)
				klog_warn(LOG, "chmod o+x %s: %s", buf, strerror(errno));
			else
				klog_info(LOG, "made %s traversable (o+x) for qemu", buf);
		}
		buf[i] = c;
	}
}

int cmp_imagecache_init(const char *instances_path, char *err, size_t errlen)
{
	pthread_once(&locks_once, locks_init);
	if (kutil_mkdir_p(instances_path, 0755) != 0) {
		snprintf(err, errlen, "cannot create %s: %s", instances_path, strerror(errno));
		return -1;
	}
	char real[PATH_MAX];
	if (!realpath(instances_path, real)) {
		snprintf(err, errlen, "%s: %s", instances_path, strerror(errno));
		return -1;
	}
	if (strlen(real) + 7 > sizeof(base_dir)) {
		snprintf(err, errlen, "%s: path too long", real);
		return -1;
	}
	memcpy(base_dir, real, strlen(real));
	memcpy(base_dir + strlen(real), "/_base", 7);
	if (mkdir(base_dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s/_base: %s", real, strerror(errno));
		return -1;
	}
	make_traversable(base_dir);
	return 0;
}

const char *cmp_imagecache_base_dir(void)
{
	return base_dir;
}

void cmp_imagecache_base_path(const char *image_id, char *path, size_t pathlen)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	SHA1((const unsigned char *)image_id, strlen(image_id), md);
	_cleanup_free_ char *hex = kutil_hex(md, sizeof(md));
	snprintf(path, pathlen, "%s/%s", base_dir, hex ? hex : "");
}

static pthread_mutex_t *image_lock(const char *image_id)
{
	unsigned h = 5381;
	for (const char *p = image_id; *p; p++)
		h = h * 33 + (unsigned char)*p;
	return &image_locks[h % ARRAY_SIZE(image_locks)];
}

static void unlockp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}

/* qemu-img's name of a Glance disk_format it converts to raw; NULL = keep
 * the bytes as they are (raw, iso, ami...). */
static const char *convert_from(const char *disk_format)
{
	static const char *const map[][2] = {
		{ "qcow2", "qcow2" }, { "vmdk", "vmdk" }, { "vdi", "vdi" },
		{ "vhd", "vpc" },     { "vhdx", "vhdx" }, { "qed", "qed" },
	};
	for (size_t i = 0; disk_format && i < ARRAY_SIZE(map); i++)
		if (strcmp(disk_format, map[i][0]) == 0)
			return map[i][1];
	return NULL;
}

/* A temporary file name in _base next to final. */
static int temp_in_base(char *tmp, size_t len, const char *final)
{
	const char *leaf = strrchr(final, '/');
	snprintf(tmp, len, "%s/.%s.part.XXXXXX", base_dir, leaf ? leaf + 1 : final);
	int fd = mkstemp(tmp);
	if (fd >= 0)
		fchmod(fd, 0644);
	return fd;
}

/* Turn src (of disk_format) into the raw file final: convert or copy to a
 * temporary file, then rename.  src is left alone. */
static int make_raw(const char *src, const char *disk_format, const char *final, char *err,
                    size_t errlen)
{
	char tmp[PATH_MAX];
	_cleanup_close_ int fd = temp_in_base(tmp, sizeof(tmp), final);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file in %s: %s", base_dir, strerror(errno));
		return -1;
	}
	const char *fmt = convert_from(disk_format);
	int rc;
	if (fmt) {
		_cleanup_json_ json_t *info = cmp_qemu_img_info(src, fmt, err, errlen);
		if (!info) {
			unlink(tmp);
			return -1;
		}
		if (json_object_get(info, "backing-filename") ||
		    json_object_get(info, "full-backing-filename")) {
			snprintf(err, errlen, "image has a backing file; refusing it");
			unlink(tmp);
			return -1;
		}
		const char *argv[] = { "qemu-img", "convert", "-f", fmt, "-O", "raw",
		                       src, tmp, NULL };
		rc = cmp_virt_run(argv, NULL, err, errlen);
	} else {
		const char *argv[] = { "cp", "--reflink=auto", "--sparse=always", src, tmp, NULL };
		rc = cmp_virt_run(argv, NULL, err, errlen);
	}
	if (rc == 0 && (chmod(tmp, 0644) != 0 || rename(tmp, final) != 0)) {
		snprintf(err, errlen, "rename into %s: %s", final, strerror(errno));
		rc = -1;
	}
	if (rc != 0)
		unlink(tmp);
	return rc == 0 ? 0 : -1;
}

static bool valid_image_id(const char *id)
{
	if (!id || !*id || strlen(id) > 64)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_'))
			return false;
	return true;
}

int cmp_imagecache_import(const char *src, const char *image_id, const char *disk_format,
                          char *path, size_t pathlen, char *err, size_t errlen)
{
	if (!valid_image_id(image_id)) {
		snprintf(err, errlen, "invalid image id");
		return -1;
	}
	cmp_imagecache_base_path(image_id, path, pathlen);
	_cleanup_(unlockp) pthread_mutex_t *m = image_lock(image_id);
	pthread_mutex_lock(m);
	if (access(path, F_OK) == 0)
		return 0;
	return make_raw(src, disk_format, path, err, errlen);
}

int cmp_imagecache_fetch(const json_t *image, char *path, size_t pathlen, char *err,
                         size_t errlen)
{
	const char *id = kjson_str(image, "id");
	if (!valid_image_id(id)) {
		snprintf(err, errlen, "the instance has no image to boot from");
		return -1;
	}
	cmp_imagecache_base_path(id, path, pathlen);
	_cleanup_(unlockp) pthread_mutex_t *m = image_lock(id);
	pthread_mutex_lock(m);
	if (access(path, F_OK) == 0) {
		utimensat(AT_FDCWD, path, NULL, 0);   /* recently used */
		return 0;
	}

	char dl[PATH_MAX];
	int fd = temp_in_base(dl, sizeof(dl), path);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a file in %s: %s", base_dir, strerror(errno));
		return -1;
	}
	char url[256];
	snprintf(url, sizeof(url), "/v2/images/%s/file", id);
	int64_t t0 = kutil_now_us();
	uint64_t bytes = 0;
	long status = kclient_download("image", url, NULL, fd, &bytes);
	close(fd);
	int rc = -1;
	json_t *size = json_object_get(image, "size");
	if (status != 200) {
		snprintf(err, errlen, "download of image %s failed (HTTP %ld)", id, status);
	} else if (json_is_integer(size) && json_integer_value(size) > 0 &&
	           (uint64_t)json_integer_value(size) != bytes) {
		snprintf(err, errlen, "image %s: got %llu bytes, expected %lld", id,
		         (unsigned long long)bytes, (long long)json_integer_value(size));
	} else {
		klog_info(LOG, "downloaded image %s (%llu bytes) in %.1f s", id,
		          (unsigned long long)bytes, (double)(kutil_now_us() - t0) / 1e6);
		rc = make_raw(dl, kjson_str(image, "disk_format"), path, err, errlen);
	}
	unlink(dl);
	if (rc != 0)
		klog_error(LOG, "%s", err);
	return rc;
}

int cmp_imagecache_create_disk(const char *base, const char *disk, long root_gb, char *err,
                               size_t errlen)
{
	struct stat st;
	if (stat(base, &st) != 0) {
		snprintf(err, errlen, "%s: %s", base, strerror(errno));
		return -1;
	}
	char size[32] = "";
	if (root_gb > 0 && (long long)root_gb * GIB > (long long)st.st_size)
		snprintf(size, sizeof(size), "%ldG", root_gb);
	if (unlink(disk) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", disk, strerror(errno));
		return -1;
	}
	const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base,
	                       disk, size[0] ? size : NULL, NULL };
	return cmp_virt_run(argv, NULL, err, errlen) == 0 ? 0 : -1;
}
