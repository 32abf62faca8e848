/*
 * store.c - where image data lives: the store interface and the filesystem
 * store (see image.h).
 *
 * Glance keeps image bytes behind glance_store drivers; Kumo has the same
 * seam in miniature: a driver is a small ops table (open a writer, write,
 * commit, abort, open for reading, adopt a finished local file, remove, free
 * space, clean up), and a backend is a driver plus its instance state.  The
 * image store ("store") is one backend, today always the filesystem driver
 * on [image] store_dir; an object-storage driver can be a second one later.
 * The staging area of the interoperable import ([image] staging_dir, Glance's
 * node_staging_uri) is another instance of the filesystem driver: staged
 * bytes are always local, whatever the image store is.
 *
 * The filesystem driver writes "<dir>/<id>.partial" and renames it to
 * "<dir>/<id>" on commit, so a crash mid-upload can only leave a .partial
 * file, which imgstore_cleanup_partials() removes at the next start.  When
 * the size is announced, the space is reserved first with fallocate(), so a
 * full disk is known before the first byte.  Files are 0600 in 0700
 * directories.  [image] store_fsync = true adds fsync() of the file and the
 * directory at commit (power-loss safety at disk speed; off by default, as
 * with Glance's filesystem store).  Image ids are UUIDs, checked before they
 * become file names.  Import moves the staged file with rename() and copies
 * it (copy_file_range) when the two directories are on different
 * filesystems.
 */
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/service.h"
#include "core/util.h"

#define PARTIAL ".partial"
#define NOTE ".json"

/* ------------------------------------------------------------------------ */
/* The driver interface. */

typedef struct store_driver {
	const char *name;
	int (*write_open)(void *self, const char *id, uint64_t size_hint, void **h);
	int (*write)(void *h, const void *buf, size_t n);
	int (*write_commit)(void *h);
	void (*write_abort)(void *h);
	int (*open_read)(void *self, const char *id, uint64_t *size);
	/* make the local file `path` the data of `id` (import); path is gone after */
	int (*adopt)(void *self, const char *id, const char *path);
	int (*remove)(void *self, const char *id);
	int64_t (*free_bytes)(void *self);
	int (*cleanup_partials)(void *self);
} store_driver;

typedef struct backend {
	const store_driver *drv;
	void *self;
} backend;

struct imgstore_writer {
	const backend *be;
	void *h;
};

/* ------------------------------------------------------------------------ */
/* The filesystem driver. */

typedef struct fsdir {
	char dir[PATH_MAX];
	bool fsync;
} fsdir;

typedef struct fswriter {
	fsdir *fs;
	int fd;
	char partial[PATH_MAX], final[PATH_MAX];
} fswriter;

static bool id_ok(const char *id)
{
	return id && kutil_is_uuid(id);
}

static int fs_name(const fsdir *fs, const char *id, const char *suffix, char *buf, size_t n)
{
	if (!id_ok(id))
		return -EINVAL;
	int k = snprintf(buf, n, "%s/%s%s", fs->dir, id, suffix);
	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static int neg_errno(void)
{
	int e = errno ? errno : EIO;
	return e == EDQUOT ? -ENOSPC : -e;
}

static void fs_sync_dir(const fsdir *fs)
{
	int d = open(fs->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d >= 0) {
		fsync(d);
		close(d);
	}
}

static int fs_write_open(void *self, const char *id, uint64_t size_hint, void **h)
{
	fsdir *fs = self;
	fswriter *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fs = fs;
	int rc = fs_name(fs, id, PARTIAL, w->partial, sizeof(w->partial));
	if (rc == 0)
		rc = fs_name(fs, id, "", w->final, sizeof(w->final));
	if (rc != 0) {
		free(w);
		return rc;
	}
	w->fd = open(w->partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		rc = neg_errno();
		free(w);
		return rc;
	}
	if (size_hint > 0 && size_hint <= INT64_MAX &&
	    fallocate(w->fd, 0, 0, (off_t)size_hint) != 0 &&
	    errno != EOPNOTSUPP && errno != ENOSYS) {
		rc = neg_errno();
		close(w->fd);
		unlink(w->partial);
		free(w);
		return rc;
	}
	*h = w;
	return 0;
}

static int fs_write(void *h, const void *buf, size_t n)
{
	fswriter *w = h;
	const char *p = buf;
	while (n > 0) {
		ssize_t k = write(w->fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void fs_write_abort(void *h)
{
	fswriter *w = h;
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->partial);
	free(w);
}

static int fs_write_commit(void *h)
{
	fswriter *w = h;
	int rc = 0;
	/* a reservation larger than what came is given back */
	off_t end = lseek(w->fd, 0, SEEK_CUR);
	if (end < 0 || ftruncate(w->fd, end) != 0)
		rc = neg_errno();
	if (rc == 0 && w->fs->fsync && fsync(w->fd) != 0)
		rc = neg_errno();
	if (close(w->fd) != 0 && rc == 0)
		rc = neg_errno();
	w->fd = -1;
	if (rc == 0 && rename(w->partial, w->final) != 0)
		rc = neg_errno();
	if (rc != 0) {
		unlink(w->partial);
		free(w);
		return rc;
	}
	if (w->fs->fsync)
		fs_sync_dir(w->fs);
	free(w);
	return 0;
}

static int fs_open_read(void *self, const char *id, uint64_t *size)
{
	char path[PATH_MAX];
	int rc = fs_name(self, id, "", path, sizeof(path));
	if (rc != 0)
		return rc;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EIO;
	}
	if (size)
		*size = (uint64_t)st.st_size;
	return fd;
}

/* Copy a whole file into a writer of this driver (import across filesystems). */
static int fs_copy_into(fswriter *w, const char *from)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return neg_errno();
	int rc = 0;
	for (;;) {
		ssize_t k = copy_file_range(in, NULL, w->fd, NULL, 1 << 30, 0);
		if (k == 0)
			break;
		if (k > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
			rc = neg_errno();
			break;
		}
		/* no copy_file_range between these two: plain read/write */
		char buf[65536];
		ssize_t r;
		while ((r = read(in, buf, sizeof(buf))) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				rc = neg_errno();
				break;
			}
			if ((rc = fs_write(w, buf, (size_t)r)) != 0)
				break;
		}
		break;
	}
	close(in);
	return rc;
}

static int fs_adopt(void *self, const char *id, const char *path)
{
	fsdir *fs = self;
	char final[PATH_MAX];
	int rc = fs_name(fs, id, "", final, sizeof(final));
	if (rc != 0)
		return rc;
	if (rename(path, final) == 0) {
		if (fs->fsync)
			fs_sync_dir(fs);
		return 0;
	}
	if (errno != EXDEV)
		return neg_errno();
	struct stat st;
	if (stat(path, &st) != 0)
		return neg_errno();
	void *h;
	if ((rc = fs_write_open(fs, id, (uint64_t)st.st_size, &h)) != 0)
		return rc;
	if ((rc = fs_copy_into(h, path)) != 0) {
		fs_write_abort(h);
		return rc;
	}
	if ((rc = fs_write_commit(h)) != 0)
		return rc;
	unlink(path);
	return 0;
}

static int fs_remove(void *self, const char *id)
{
	char path[PATH_MAX];
	int rc = fs_name(self, id, "", path, sizeof(path));
	if (rc != 0)
		return rc;
	if (unlink(path) != 0 && errno != ENOENT)
		return neg_errno();
	return 0;
}

static int64_t fs_free_bytes(void *self)
{
	fsdir *fs = self;
	struct statvfs sv;
	if (statvfs(fs->dir, &sv) != 0)
		return -1;
	return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int fs_cleanup_partials(void *self)
{
	fsdir *fs = self;
	DIR *d = opendir(fs->dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (!ends_with(e->d_name, PARTIAL))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			klog_info("image", "removed %s/%s left by an interrupted upload",
			          fs->dir, e->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

static const store_driver fs_driver = {
	.name = "file",
	.write_open = fs_write_open,
	.write = fs_write,
	.write_commit = fs_write_commit,
	.write_abort = fs_write_abort,
	.open_read = fs_open_read,
	.adopt = fs_adopt,
	.remove = fs_remove,
	.free_bytes = fs_free_bytes,
	.cleanup_partials = fs_cleanup_partials,
};

/* ------------------------------------------------------------------------ */
/* The two backends and the public interface. */

static fsdir store_fs, staging_fs;
static backend store_be = { &fs_driver, &store_fs };
static backend staging_be = { &fs_driver, &staging_fs };
static bool initialized;

static int setup_dir(fsdir *fs, const char *key, const char *def_name, bool fsync_on)
{
	const char *dir = kconf_get(kumo_conf, "image", key, NULL);
	int k = dir && *dir
		? snprintf(fs->dir, sizeof(fs->dir), "%s", dir)
		: snprintf(fs->dir, sizeof(fs->dir), "%s/%s", kumo_state_dir(), def_name);
	if (k < 0 || (size_t)k >= sizeof(fs->dir)) {
		klog_error("image", "[image] %s is too long", key);
		return -1;
	}
	size_t n = strlen(fs->dir);
	while (n > 1 && fs->dir[n - 1] == '/')
		fs->dir[--n] = '\0';
	fs->fsync = fsync_on;
	if (kutil_mkdir_p(fs->dir, 0700) != 0) {
		klog_error("image", "cannot create %s: %s", fs->dir, strerror(errno));
		return -1;
	}
	if (access(fs->dir, W_OK | X_OK) != 0) {
		klog_error("image", "cannot write to %s: %s", fs->dir, strerror(errno));
		return -1;
	}
	return 0;
}

int imgstore_init(void)
{
	bool fsync_on = kconf_get_bool(kumo_conf, "image", "store_fsync", false);
	initialized = false;
	if (setup_dir(&store_fs, "store_dir", "images", fsync_on) != 0 ||
	    setup_dir(&staging_fs, "staging_dir", "staging", fsync_on) != 0)
		return -1;
	initialized = true;
	klog_info("image", "%s store in %s, staging in %s", store_be.drv->name, store_fs.dir,
	          staging_fs.dir);
	return 0;
}

static const backend *area_backend(enum imgstore_area area)
{
	if (!initialized)
		return NULL;
	return area == IMGSTORE_STAGING ? &staging_be : &store_be;
}

const char *imgstore_path(const char *id, char *buf, size_t n)
{
	if (!initialized || fs_name(&store_fs, id, "", buf, n) != 0)
		return NULL;
	return buf;
}

int imgstore_delete(const char *id)
{
	if (!initialized || !id_ok(id))
		return -1;
	int rc = store_be.drv->remove(store_be.self, id);
	int rc2 = imgstore_unstage(id);
	if (rc != 0 || rc2 != 0) {
		klog_error("image", "cannot remove the data of image %s: %s", id,
		           strerror(-(rc ? rc : rc2)));
		return -1;
	}
	return 0;
}

int64_t imgstore_free_bytes(void)
{
	return initialized ? store_be.drv->free_bytes(store_be.self) : -1;
}

int imgstore_cleanup_partials(void)
{
	if (!initialized)
		return -1;
	int a = store_be.drv->cleanup_partials(store_be.self);
	int b = staging_be.drv->cleanup_partials(staging_be.self);
	return a < 0 || b < 0 ? -1 : a + b;
}

int imgstore_write_open(imgstore_writer **w, enum imgstore_area area, const char *id,
                        uint64_t size_hint)
{
	const backend *be = area_backend(area);
	*w = NULL;
	if (!be)
		return -ENXIO;
	imgstore_writer *nw = calloc(1, sizeof(*nw));
	if (!nw)
		return -ENOMEM;
	nw->be = be;
	int rc = be->drv->write_open(be->self, id, size_hint, &nw->h);
	if (rc != 0) {
		free(nw);
		return rc;
	}
	*w = nw;
	return 0;
}

int imgstore_write(imgstore_writer *w, const void *buf, size_t n)
{
	return w->be->drv->write(w->h, buf, n);
}

int imgstore_write_commit(imgstore_writer *w)
{
	int rc = w->be->drv->write_commit(w->h);
	free(w);
	return rc;
}

void imgstore_write_abort(imgstore_writer *w)
{
	if (!w)
		return;
	w->be->drv->write_abort(w->h);
	free(w);
}

int imgstore_open(const char *id, uint64_t *size)
{
	if (!initialized)
		return -ENXIO;
	return store_be.drv->open_read(store_be.self, id, size);
}

int imgstore_open_staged(const char *id, uint64_t *size)
{
	if (!initialized)
		return -ENXIO;
	return staging_be.drv->open_read(staging_be.self, id, size);
}

int imgstore_stage_note_set(const char *id, const char *json)
{
	char path[PATH_MAX];
	int rc = initialized ? fs_name(&staging_fs, id, NOTE, path, sizeof(path)) : -ENXIO;
	if (rc != 0)
		return rc;
	return kutil_write_file(path, json, strlen(json), 0600) == 0 ? 0 : neg_errno();
}

char *imgstore_stage_note_get(const char *id)
{
	char path[PATH_MAX];
	if (!initialized || fs_name(&staging_fs, id, NOTE, path, sizeof(path)) != 0)
		return NULL;
	return kutil_read_file(path, NULL);
}

int imgstore_unstage(const char *id)
{
	char path[PATH_MAX];
	int rc = initialized ? fs_name(&staging_fs, id, NOTE, path, sizeof(path)) : -ENXIO;
	if (rc != 0)
		return rc;
	if (unlink(path) != 0 && errno != ENOENT)
		rc = neg_errno();
	int rc2 = staging_be.drv->remove(staging_be.self, id);
	return rc ? rc : rc2;
}

int imgstore_import(const char *id)
{
	char path[PATH_MAX];
	int rc = initialized ? fs_name(&staging_fs, id, "", path, sizeof(path)) : -ENXIO;
	if (rc != 0)
		return rc;
	if (access(path, R_OK) != 0)
		return neg_errno();
	rc = store_be.drv->adopt(store_be.self, id, path);
	if (rc == 0) {
		char note[PATH_MAX];
		if (fs_name(&staging_fs, id, NOTE, note, sizeof(note)) == 0)
			unlink(note);
	}
	return rc;
}
