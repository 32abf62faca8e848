/*
 * db.h - one database interface, two drivers: SQLite (embedded default, WAL)
 * and MySQL/MariaDB (libmariadb).
 *
 * A kdb is one service's database, opened from a URL:
 *     sqlite:////var/lib/kumo/identity.db     (absolute path after "sqlite:///")
 *     sqlite:///relative/path.db
 *     mysql://user:pass@host[:port]/dbname    (also mysql+pymysql://, as in the seed)
 * Each thread gets its own connection, opened lazily and kept for the
 * thread's life, so handlers never share a connection.  Statements are
 * prepared (and cached per connection by SQL text); values are bound, never
 * pasted into SQL.  Placeholders are "?" for both drivers.
 *
 * Write portable SQL: TEXT/VARCHAR(n)/INTEGER/BIGINT, no AUTOINCREMENT, no
 * upserts; catch KDB_CONSTRAINT instead.  A migration may give MySQL-specific
 * text when the dialects differ.
 *
 * Usage:
 *     _cleanup_stmt_ kstmt *st = kdb_prepare(db, "SELECT id, name FROM user WHERE id = ?");
 *     kstmt_bind_text(st, 1, id);
 *     while (kstmt_step(st) == KDB_ROW) use(kstmt_text(st, 0));
 */
#ifndef KUMO_DB_H
#define KUMO_DB_H

#include <jansson.h>
#include "common.h"

typedef struct kdb kdb;
typedef struct kstmt kstmt;

enum kdb_rc {
	KDB_OK = 0,
	KDB_ROW = 100,          /* kstmt_step: a row is available */
	KDB_DONE = 101,         /* kstmt_step: finished */
	KDB_ERROR = -1,         /* anything else (logged, without bound values) */
	KDB_CONSTRAINT = -2,    /* unique / foreign key / not null violation */
	KDB_BUSY = -3,          /* lock timeout */
};

kdb *kdb_open(const char *url, char *err, size_t errlen);
void kdb_close(kdb *db);
const char *kdb_driver(const kdb *db);   /* "sqlite" or "mysql" */

/* Statements (on the calling thread's connection). NULL on error (logged). */
kstmt *kdb_prepare(kdb *db, const char *sql);
int kstmt_bind_text(kstmt *st, int idx, const char *v);   /* 1-based; NULL binds NULL */
int kstmt_bind_int(kstmt *st, int idx, int64_t v);
int kstmt_bind_double(kstmt *st, int idx, double v);
int kstmt_bind_blob(kstmt *st, int idx, const void *v, size_t n);
int kstmt_bind_null(kstmt *st, int idx);
int kstmt_step(kstmt *st);             /* KDB_ROW, KDB_DONE or an error */
int kstmt_ncols(kstmt *st);
const char *kstmt_colname(kstmt *st, int col);
/* Column values of the current row; valid until the next step/done. */
bool kstmt_isnull(kstmt *st, int col);
const char *kstmt_text(kstmt *st, int col);    /* NULL when SQL NULL */
int64_t kstmt_int(kstmt *st, int col);
double kstmt_double(kstmt *st, int col);
const void *kstmt_blob(kstmt *st, int col, size_t *n);
int64_t kstmt_changes(kstmt *st);              /* rows affected by the last step */
/* Reset and release the statement back to its connection's cache. */
void kstmt_done(kstmt *st);
static inline void kstmt_donep(kstmt **st) { if (*st) kstmt_done(*st); }
#define _cleanup_stmt_ _cleanup_(kstmt_donep)

/*
 * One-shot helpers with a type string, one letter per "?":
 *   's' const char * (NULL -> SQL NULL), 'i' int64_t, 'b' bool (as int),
 *   'd' double, 'n' NULL (no argument consumed).
 * kdb_run returns KDB_DONE, KDB_CONSTRAINT or KDB_ERROR; *changes (if not
 * NULL) gets the affected row count.
 */
int kdb_run(kdb *db, int64_t *changes, const char *sql, const char *types, ...);
/* Rows as a new JSON array of objects keyed by column name (integer ->
 * integer, real -> real, text -> string, NULL -> null).  NULL on error. */
json_t *kdb_query_json(kdb *db, const char *sql, const char *types, ...);
/* First row as an object, json_null()-free: NULL when no row or error
 * (*found tells which, if not NULL). */
json_t *kdb_query_row(kdb *db, bool *found, const char *sql, const char *types, ...);

/* Transactions on the calling thread's connection (may nest: inner ones are
 * no-ops that count). */
int kdb_begin(kdb *db);
int kdb_commit(kdb *db);
int kdb_rollback(kdb *db);

/* Versioned schema migrations.  Each step runs once, in a transaction, and
 * is recorded in table kumo_migrations(component, version).  Idempotent. */
typedef struct kdb_migration {
	int version;             /* 1, 2, 3 ... strictly increasing */
	const char *sql;         /* one or more statements separated by ';' */
	const char *sql_mysql;   /* MySQL text when it differs, else NULL */
} kdb_migration;
int kdb_migrate(kdb *db, const char *component, const kdb_migration *steps, size_t n);
/* Current version of a component (0 = none). */
int kdb_schema_version(kdb *db, const char *component);

#endif
