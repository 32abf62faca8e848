/*
 * test_store.c - the image store (src/image/store.c) on real directories:
 * streaming writes that only appear under the image's name once committed,
 * aborts and leftovers that leave nothing behind, reading back, a full
 * medium (fallocate of more than the free space) and a write error in the
 * middle (RLIMIT_FSIZE), staging with its note, import by rename and by copy
 * across filesystems (/dev/shm), deletion, and ids that are not UUIDs.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "core/util.h"
#include "image/image.h"
#include "ktest.h"

#define ID1 "11111111-2222-3333-4444-555555555555"
#define ID2 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"

static char base[128], store_dir[192], staging_dir[192];

static void rm_rf(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* A fresh config and store; staging on another filesystem when asked. */
static bool setup(bool staging_elsewhere)
{
	static int n;
	snprintf(base, sizeof(base), "/tmp/kumo-test-store-%d-%d", (int)getpid(), n);
	snprintf(store_dir, sizeof(store_dir), "%s/state/images", base);
	if (staging_elsewhere)
		snprintf(staging_dir, sizeof(staging_dir), "/dev/shm/kumo-test-staging-%d-%d",
		         (int)getpid(), n);
	else
		snprintf(staging_dir, sizeof(staging_dir), "%s/state/staging", base);
	n++;
	char text[1024], err[256];
	if (staging_elsewhere)
		snprintf(text, sizeof(text), "[DEFAULT]\nstate_dir = %s/state\n[image]\n"
		         "staging_dir = %s\n", base, staging_dir);
	else
		snprintf(text, sizeof(text), "[DEFAULT]\nstate_dir = %s/state\n", base);
	kconf_free(kumo_conf);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	CHECK(kumo_conf != NULL);
	return kumo_conf && imgstore_init() == 0;
}

static void teardown(void)
{
	rm_rf(base);
	if (strncmp(staging_dir, "/dev/shm/", 9) == 0)
		rm_rf(staging_dir);
	kconf_free(kumo_conf);
	kumo_conf = NULL;
}

static bool exists(const char *dir, const char *name)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static int mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static char *fill(size_t n, char seed)
{
	char *b = malloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = (char)(seed + i * 13 + i / 1000);
	return b;
}

/* Read all of fd into a malloc'd buffer. */
static char *slurp(int fd, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	ssize_t k;
	while ((k = read(fd, b + n, cap - n)) > 0) {
		n += (size_t)k;
		if (n == cap)
			b = realloc(b, cap *= 2);
	}
	*len = n;
	return b;
}

KTEST(store_write_commit_read)
{
	if (!setup(false))
		return;
	CHECK_INT(mode_of(store_dir), 0700);
	CHECK_INT(mode_of(staging_dir), 0700);
	char path[512];
	CHECK(imgstore_path(ID1, path, sizeof(path)) != NULL);
	char want[512];
	snprintf(want, sizeof(want), "%s/%s", store_dir, ID1);
	CHECK_STR(path, want);

	size_t n = 3 * 1024 * 1024 + 7;
	char *data = fill(n, 1);
	imgstore_writer *w;
	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STORE, ID1, 0), 0);
	/* while writing, only the partial file exists */
	CHECK(exists(store_dir, ID1 ".partial"));
	CHECK(!exists(store_dir, ID1));
	for (size_t off = 0; off < n; off += 65536)
		CHECK_INT(imgstore_write(w, data + off, n - off < 65536 ? n - off : 65536), 0);
	uint64_t size = 0;
	CHECK_INT(imgstore_open(ID1, &size), -ENOENT);
	CHECK_INT(imgstore_write_commit(w), 0);
	CHECK(!exists(store_dir, ID1 ".partial"));
	CHECK(exists(store_dir, ID1));
	CHECK_INT(mode_of(path), 0600);

	int fd = imgstore_open(ID1, &size);
	CHECK(fd >= 0);
	CHECK_INT(size, (long long)n);
	size_t got = 0;
	char *back = fd >= 0 ? slurp(fd, &got) : NULL;
	CHECK_INT(got, (long long)n);
	CHECK(back && memcmp(back, data, n) == 0);
	free(back);
	if (fd >= 0)
		close(fd);

	/* an announced size that is larger than what came is given back */
	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STORE, ID2, 10 * 1024 * 1024), 0);
	CHECK_INT(imgstore_write(w, data, 1000), 0);
	CHECK_INT(imgstore_write_commit(w), 0);
	fd = imgstore_open(ID2, &size);
	CHECK_INT(size, 1000);
	if (fd >= 0)
		close(fd);
	/* an empty image is an empty file */
	CHECK_INT(imgstore_delete(ID2), 0);
	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STORE, ID2, 0), 0);
	CHECK_INT(imgstore_write_commit(w), 0);
	fd = imgstore_open(ID2, &size);
	CHECK(fd >= 0);
	CHECK_INT(size, 0);
	if (fd >= 0)
		close(fd);

	CHECK(imgstore_free_bytes() > 0);

	/* delete: gone, and deleting again is fine */
	CHECK_INT(imgstore_delete(ID1), 0);
	CHECK(!exists(store_dir, ID1));
	CHECK_INT(imgstore_delete(ID1), 0);
	CHECK_INT(imgstore_open(ID1, &size), -ENOENT);
	free(data);
	teardown();
}

KTEST(store_abort_and_leftovers)
{
	if (!setup(false))
		return;
	imgstore_writer *w;
	char *data = fill(100000, 3);
	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STORE, ID1, 0), 0);
	CHECK_INT(imgstore_write(w, data, 100000), 0);
	imgstore_write_abort(w);
	CHECK(!exists(store_dir, ID1 ".partial"));
	CHECK(!exists(store_dir, ID1));
	imgstore_write_abort(NULL);

	/* a crash leaves partial files: the next start removes them, nothing else */
	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STORE, ID2, 0), 0);
	CHECK_INT(imgstore_write(w, data, 10), 0);
	CHECK_INT(imgstore_write_commit(w), 0);
	char p[512];
	snprintf(p, sizeof(p), "%s/%s.partial", store_dir, ID1);
	CHECK_INT(kutil_write_file(p, "x", 1, 0600), 0);
	snprintf(p, sizeof(p), "%s/%s.partial", staging_dir, ID2);
	CHECK_INT(kutil_write_file(p, "y", 1, 0600), 0);
	CHECK_INT(imgstore_stage_note_set(ID1, "{}"), 0);
	CHECK_INT(imgstore_cleanup_partials(), 2);
	CHECK(!exists(store_dir, ID1 ".partial"));
	CHECK(!exists(staging_dir, ID2 ".partial"));
	CHECK(exists(store_dir, ID2));
	CHECK(exists(staging_dir, ID1 ".json"));
	CHECK_INT(imgstore_cleanup_partials(), 0);
	free(data);
	teardown();
}

KTEST(store_full_and_write_errors)
{
	if (!setup(false))
		return;
	imgstore_writer *w = NULL;
	/* more than the free space, announced: refused before any byte */
	int64_t free_b = imgstore_free_bytes();
	CHECK(free_b > 0);
	int rc = imgstore_write_open(&w, IMGSTORE_STORE, ID1, (uint64_t)free_b + (1ull << 34));
	CHECK(rc == -ENOSPC || rc == -EFBIG);
	CHECK(w == NULL);
	CHECK(!exists(store_dir, ID1 ".partial"));

	/* an error in the middle (the file size limit): reported, nothing stays */
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 256 * 1024;
	CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
	char *data = fill(65536, 5);
	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STORE, ID1, 0), 0);
	rc = 0;
	for (int i = 0; i < 8 && rc == 0; i++)
		rc = imgstore_write(w, data, 65536);
	CHECK_INT(rc, -EFBIG);
	imgstore_write_abort(w);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	CHECK(!exists(store_dir, ID1 ".partial"));
	CHECK(!exists(store_dir, ID1));
	free(data);
	teardown();
}

static void stage_and_import(bool elsewhere)
{
	if (!setup(elsewhere))
		return;
	size_t n = 2 * 1024 * 1024 + 3;
	char *data = fill(n, 9);
	imgstore_writer *w;
	uint64_t size = 0;

	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STAGING, ID1, n), 0);
	CHECK(exists(staging_dir, ID1 ".partial"));
	CHECK_INT(imgstore_write(w, data, n), 0);
	CHECK_INT(imgstore_write_commit(w), 0);
	CHECK(exists(staging_dir, ID1));
	CHECK(!exists(store_dir, ID1));
	int fd = imgstore_open_staged(ID1, &size);
	CHECK(fd >= 0);
	CHECK_INT(size, (long long)n);
	if (fd >= 0)
		close(fd);
	CHECK_INT(imgstore_open(ID1, &size), -ENOENT);

	CHECK_INT(imgstore_stage_note_set(ID1, "{\"size\": 1}"), 0);
	char *note = imgstore_stage_note_get(ID1);
	CHECK_STR(note, "{\"size\": 1}");
	free(note);
	CHECK(imgstore_stage_note_get(ID2) == NULL);

	CHECK_INT(imgstore_import(ID1), 0);
	CHECK(!exists(staging_dir, ID1));
	CHECK(!exists(staging_dir, ID1 ".json"));
	CHECK(!exists(staging_dir, ID1 ".partial"));
	CHECK(!exists(store_dir, ID1 ".partial"));
	fd = imgstore_open(ID1, &size);
	CHECK(fd >= 0);
	size_t got = 0;
	char *back = fd >= 0 ? slurp(fd, &got) : NULL;
	CHECK_INT(got, (long long)n);
	CHECK(back && memcmp(back, data, n) == 0);
	free(back);
	if (fd >= 0)
		close(fd);
	CHECK_INT(imgstore_open_staged(ID1, &size), -ENOENT);
	/* nothing staged: nothing to import */
	CHECK_INT(imgstore_import(ID2), -ENOENT);

	/* unstage, and delete also removes staged data */
	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STAGING, ID2, 0), 0);
	CHECK_INT(imgstore_write(w, data, 10), 0);
	CHECK_INT(imgstore_write_commit(w), 0);
	CHECK_INT(imgstore_stage_note_set(ID2, "{}"), 0);
	CHECK_INT(imgstore_unstage(ID2), 0);
	CHECK(!exists(staging_dir, ID2));
	CHECK(!exists(staging_dir, ID2 ".json"));
	CHECK_INT(imgstore_unstage(ID2), 0);
	CHECK_INT(imgstore_write_open(&w, IMGSTORE_STAGING, ID2, 0), 0);
	CHECK_INT(imgstore_write_commit(w), 0);
	CHECK_INT(imgstore_delete(ID2), 0);
	CHECK(!exists(staging_dir, ID2));
	free(data);
	teardown();
}

KTEST(store_stage_import_rename)
{
	stage_and_import(false);
}

KTEST(store_stage_import_across_filesystems)
{
	struct stat a, b;
	if (stat("/dev/shm", &a) != 0 || stat("/tmp", &b) != 0 || a.st_dev == b.st_dev) {
		fprintf(stderr, "(skipped: /dev/shm is not another filesystem)\n");
		return;
	}
	stage_and_import(true);
}

KTEST(store_rejects_bad_ids)
{
	if (!setup(false))
		return;
	imgstore_writer *w = NULL;
	char path[512];
	uint64_t size;
	const char *bad[] = { "../../etc/passwd", "", "abc", ID1 "/x", ID1 ".partial",
	                      "11111111-2222-3333-4444-55555555555/" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(imgstore_write_open(&w, IMGSTORE_STORE, bad[i], 0), -EINVAL);
		CHECK(w == NULL);
		CHECK(imgstore_path(bad[i], path, sizeof(path)) == NULL);
		CHECK_INT(imgstore_open(bad[i], &size), -EINVAL);
		CHECK_INT(imgstore_delete(bad[i]), -1);
		CHECK_INT(imgstore_import(bad[i]), -EINVAL);
	}
	CHECK(imgstore_path(NULL, path, sizeof(path)) == NULL);
	CHECK(imgstore_path(ID1, path, 8) == NULL);         /* too small a buffer */
	teardown();
}

KTEST(store_unwritable_dir)
{
	if (geteuid() == 0) {
		/* root writes anywhere: use a path under a regular file instead */
		char text[512], err[128];
		snprintf(text, sizeof(text), "[image]\nstore_dir = /dev/null/images\n");
		kconf_free(kumo_conf);
		kumo_conf = kconf_parse(text, err, sizeof(err));
		CHECK_INT(imgstore_init(), -1);
		kconf_free(kumo_conf);
		kumo_conf = NULL;
		return;
	}
	char text[512], err[128];
	snprintf(text, sizeof(text), "[image]\nstore_dir = /proc/kumo-images\n");
	kconf_free(kumo_conf);
	kumo_conf = kconf_parse(text, err, sizeof(err));
	CHECK_INT(imgstore_init(), -1);
	kconf_free(kumo_conf);
	kumo_conf = NULL;
}

int main(void)
{
	klog_init(NULL, getenv("KTEST_VERBOSE") ? KLOG_DEBUG : KLOG_ERROR);
	return ktest_run();
}
