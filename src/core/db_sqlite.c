/*
 * db_sqlite.c - the SQLite driver behind db.h (see db_driver.h).
 *
 * URL: sqlite:///PATH, where PATH is what follows the third slash, so
 * sqlite:////var/lib/kumo/identity.db is absolute and sqlite:///x.db is
 * relative to the working directory.  A "?query" part is ignored.
 *
 * Every thread has its own connection (db.c), so connections are opened
 * with SQLITE_OPEN_NOMUTEX.  Each one is set up for many concurrent
 * writers: WAL journal (readers never block the writer), synchronous=NORMAL
 * (durable at checkpoints, safe in WAL mode), foreign keys enforced and a
 * 10 s busy timeout, so a writer waits for the lock instead of failing.
 * Transactions start with BEGIN IMMEDIATE, which takes the write lock up
 * front and therefore cannot deadlock on a read-to-write upgrade.
 *
 * The database file and its parent directory are created when missing; the
 * file with mode 0600 (it holds password hashes; SQLite gives the -wal and
 * -shm files the same mode).  Statements are prepared with
 * SQLITE_PREPARE_PERSISTENT because db.c caches them for the connection's
 * lifetime.  Bound text and blobs are copied (SQLITE_TRANSIENT).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db_driver.h"
#include "log.h"
#include "util.h"

#define BUSY_TIMEOUT_MS 10000

struct sq_cfg {
	char *path;
};

struct sq_conn {
	kdb_conn base;
	sqlite3 *h;
};

struct sq_stmt {
	kstmt base;
	sqlite3_stmt *h;
	bool stepped;        /* needs sqlite3_reset before new bindings */
	int64_t changes;
};

#define CFG(db) ((struct sq_cfg *)(db)->cfg)
#define SC(c) ((struct sq_conn *)(c))
#define SS(st) ((struct sq_stmt *)(st))
#define SDB(st) (SC((st)->conn)->h)

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
		return KDB_OK;
	case SQLITE_ROW:
		return KDB_ROW;
	case SQLITE_DONE:
		return KDB_DONE;
	case SQLITE_CONSTRAINT:
		return KDB_CONSTRAINT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return KDB_BUSY;
	default:
		return KDB_ERROR;
	}
}

static int sq_configure(kdb *db, const char *url, char *err, size_t errlen)
{
	static const char prefix[] = "sqlite:///";
	if (strncmp(url, prefix, sizeof(prefix) - 1) != 0) {
		snprintf(err, errlen, "SQLite URL must look like sqlite:///PATH");
		return -1;
	}
	const char *path = url + sizeof(prefix) - 1;
	size_t n = strcspn(path, "?");
	if (n == 0) {
		snprintf(err, errlen, "SQLite URL without a file path");
		return -1;
	}
	if (n == 8 && strncmp(path, ":memory:", 8) == 0) {
		/* every thread has its own connection, so each would see its own
		 * empty database */
		snprintf(err, errlen, "in-memory SQLite databases are not supported");
		return -1;
	}
	struct sq_cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->path = strndup(path, n)) ||
	    !(db->safe_url = strndup(url, sizeof(prefix) - 1 + n))) {
		if (cfg)
			free(cfg->path);
		free(cfg);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	db->cfg = cfg;
	return 0;
}

static void sq_unconfigure(kdb *db)
{
	free(CFG(db)->path);
	free(db->cfg);
	db->cfg = NULL;
}

/* Create the parent directory and an empty private file when missing. */
static int prepare_file(const char *path, char *err, size_t errlen)
{
	const char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		_cleanup_free_ char *dir = strndup(path, (size_t)(slash - path));
		if (!dir || kutil_mkdir_p(dir, 0700) < 0) {
			snprintf(err, errlen, "cannot create directory %s: %s", dir ? dir : "?",
			         strerror(errno));
			return -1;
		}
	}
	/* Create the file only when it is missing, to give it mode 0600.  Never
	 * open and close an existing database file here: closing any descriptor
	 * drops every POSIX lock this process holds on it, including SQLite's
	 * locks for other threads' connections. */
	struct stat st;
	if (stat(path, &st) == 0)
		return 0;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static kdb_conn *sq_connect(kdb *db, char *err, size_t errlen)
{
	const char *path = CFG(db)->path;
	if (prepare_file(path, err, errlen) < 0)
		return NULL;
	sqlite3 *h = NULL;
	int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	                         SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s", h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
		sqlite3_close(h);
		return NULL;
	}
	sqlite3_extended_result_codes(h, 1);
	sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
	char *msg = NULL;
	rc = sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
	                  "PRAGMA foreign_keys=ON;", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_close(h);
		return NULL;
	}
	struct sq_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		sqlite3_close(h);
		return NULL;
	}
	c->base.db = db;
	c->h = h;
	return &c->base;
}

static void sq_disconnect(kdb_conn *c)
{
	/* v2: statements still out (a caller bug) keep it alive until finalized */
	sqlite3_close_v2(SC(c)->h);
	free(c);
}

static int sq_exec(kdb_conn *c, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(SC(c)->h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		rc = map_rc(rc);
		kdb_log_sql_error(c->db, rc, msg ? msg : sqlite3_errmsg(SC(c)->h), sql);
		sqlite3_free(msg);
		return rc;
	}
	return KDB_OK;
}

static kstmt *sq_prepare(kdb_conn *c, const char *sql)
{
	sqlite3_stmt *h = NULL;
	const char *tail = NULL;
	int rc = sqlite3_prepare_v3(SC(c)->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &h, &tail);
	if (rc != SQLITE_OK) {
		kdb_log_sql_error(c->db, map_rc(rc), sqlite3_errmsg(SC(c)->h), sql);
		return NULL;
	}
	if (!h) {
		kdb_log_sql_error(c->db, KDB_ERROR, "empty statement", sql);
		return NULL;
	}
	if (tail && tail[strspn(tail, " \t\r\n;")]) {
		kdb_log_sql_error(c->db, KDB_ERROR, "more than one statement", sql);
		sqlite3_finalize(h);
		return NULL;
	}
	struct sq_stmt *st = calloc(1, sizeof(*st));
	if (!st) {
		sqlite3_finalize(h);
		return NULL;
	}
	st->h = h;
	return &st->base;
}

static void sq_finalize(kstmt *st)
{
	sqlite3_finalize(SS(st)->h);
	free(st);
}

static void sq_reset(kstmt *st)
{
	sqlite3_reset(SS(st)->h);
	sqlite3_clear_bindings(SS(st)->h);
	SS(st)->stepped = false;
	SS(st)->changes = 0;
}

static int sq_nparams(kstmt *st)
{
	return sqlite3_bind_parameter_count(SS(st)->h);
}

/* Rebinding after a step: rewind first (bindings are kept). */
static sqlite3_stmt *for_bind(kstmt *st)
{
	if (SS(st)->stepped) {
		sqlite3_reset(SS(st)->h);
		SS(st)->stepped = false;
	}
	return SS(st)->h;
}

static int bind_rc(kstmt *st, int rc)
{
	if (rc == SQLITE_OK)
		return KDB_OK;
	kdb_log_sql_error(st->conn->db, KDB_ERROR, sqlite3_errstr(rc), st->sql);
	return KDB_ERROR;
}

static int sq_bind_text(kstmt *st, int idx, const char *v)
{
	return bind_rc(st, sqlite3_bind_text(for_bind(st), idx, v, -1, SQLITE_TRANSIENT));
}

static int sq_bind_int(kstmt *st, int idx, int64_t v)
{
	return bind_rc(st, sqlite3_bind_int64(for_bind(st), idx, v));
}

static int sq_bind_double(kstmt *st, int idx, double v)
{
	return bind_rc(st, sqlite3_bind_double(for_bind(st), idx, v));
}

static int sq_bind_blob(kstmt *st, int idx, const void *v, size_t n)
{
	if (n == 0)   /* an empty blob, not SQL NULL */
		return bind_rc(st, sqlite3_bind_zeroblob(for_bind(st), idx, 0));
	return bind_rc(st, sqlite3_bind_blob64(for_bind(st), idx, v, n, SQLITE_TRANSIENT));
}

static int sq_bind_null(kstmt *st, int idx)
{
	return bind_rc(st, sqlite3_bind_null(for_bind(st), idx));
}

static int sq_step(kstmt *st)
{
	struct sq_stmt *s = SS(st);
	s->stepped = true;
	int rc = sqlite3_step(s->h);
	if (rc == SQLITE_ROW)
		return KDB_ROW;
	if (rc == SQLITE_DONE) {
		s->changes = sqlite3_stmt_readonly(s->h) ? 0 : sqlite3_changes64(SDB(st));
		return KDB_DONE;
	}
	rc = map_rc(rc);
	kdb_log_sql_error(st->conn->db, rc, sqlite3_errmsg(SDB(st)), st->sql);
	return rc;
}

static int sq_ncols(kstmt *st)
{
	return sqlite3_column_count(SS(st)->h);
}

static const char *sq_colname(kstmt *st, int col)
{
	return sqlite3_column_name(SS(st)->h, col);
}

static enum kdb_coltype sq_coltype(kstmt *st, int col)
{
	switch (sqlite3_column_type(SS(st)->h, col)) {
	case SQLITE_INTEGER:
		return KDB_T_INT;
	case SQLITE_FLOAT:
		return KDB_T_REAL;
	case SQLITE_TEXT:
		return KDB_T_TEXT;
	case SQLITE_BLOB:
		return KDB_T_BLOB;
	default:
		return KDB_T_NULL;
	}
}

static const char *sq_text(kstmt *st, int col)
{
	return (const char *)sqlite3_column_text(SS(st)->h, col);
}

static int64_t sq_int64(kstmt *st, int col)
{
	return sqlite3_column_int64(SS(st)->h, col);
}

static double sq_dbl(kstmt *st, int col)
{
	return sqlite3_column_double(SS(st)->h, col);
}

static const void *sq_blob(kstmt *st, int col, size_t *n)
{
	if (sqlite3_column_type(SS(st)->h, col) == SQLITE_NULL)
		return NULL;
	const void *p = sqlite3_column_blob(SS(st)->h, col);
	*n = (size_t)sqlite3_column_bytes(SS(st)->h, col);
	return p ? p : "";
}

static int64_t sq_changes(kstmt *st)
{
	return SS(st)->changes;
}

const struct kdb_driver kdb_sqlite_driver = {
	.name = "sqlite",
	.table_exists_sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
	.begin_sql = "BEGIN IMMEDIATE",
	.configure = sq_configure,
	.unconfigure = sq_unconfigure,
	.connect = sq_connect,
	.disconnect = sq_disconnect,
	.exec = sq_exec,
	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.reset = sq_reset,
	.nparams = sq_nparams,
	.bind_text = sq_bind_text,
	.bind_int = sq_bind_int,
	.bind_double = sq_bind_double,
	.bind_blob = sq_bind_blob,
	.bind_null = sq_bind_null,
	.step = sq_step,
	.ncols = sq_ncols,
	.colname = sq_colname,
	.coltype = sq_coltype,
	.text = sq_text,
	.int64 = sq_int64,
	.dbl = sq_dbl,
	.blob = sq_blob,
	.changes = sq_changes,
};
