/*
 * db_driver.h - the private contract between db.c and its drivers
 * (db_sqlite.c, db_mysql.c).  Included only by those three files.
 *
 * db.c owns everything that is the same for every database: URL dispatch,
 * the per-thread connection (a pthread key per kdb), the list of open
 * connections, the statement cache, transactions' nesting counter, the
 * type-string helpers and migrations.  A driver only talks to its library.
 *
 * Drivers embed the common structs as their FIRST member and cast:
 *     struct sqlite_conn { kdb_conn base; sqlite3 *h; };
 *     struct sqlite_stmt { kstmt base; sqlite3_stmt *h; };
 */
#ifndef KUMO_DB_DRIVER_H
#define KUMO_DB_DRIVER_H

#include <pthread.h>
#include "db.h"

#define KDB_CACHE_BUCKETS 64
#define KDB_CACHE_MAX 256        /* idle statements kept per connection */

typedef struct kdb_conn kdb_conn;

/* Column types as the JSON helpers see them. */
enum kdb_coltype { KDB_T_NULL, KDB_T_INT, KDB_T_REAL, KDB_T_TEXT, KDB_T_BLOB };

struct kstmt {
	kdb_conn *conn;
	char *sql;
	uint32_t hash;
	kstmt *next;             /* cache chain while idle */
};

struct kdb_conn {
	kdb *db;
	kdb_conn *prev, *next;   /* db->conns, under db->lock */
	int txn_depth;           /* kdb_begin nesting */
	bool txn_doomed;         /* an inner level rolled back */
	int ncached;
	kstmt *cache[KDB_CACHE_BUCKETS];
};

struct kdb_driver {
	const char *name;
	/* One row when table ? exists (one text parameter). */
	const char *table_exists_sql;
	/* Starts the outermost transaction. */
	const char *begin_sql;
	/* Parse the URL into db->cfg and fill db->safe_url (no password). */
	int (*configure)(kdb *db, const char *url, char *err, size_t errlen);
	void (*unconfigure)(kdb *db);
	/* A new connection for the calling thread; NULL (err filled) on failure. */
	kdb_conn *(*connect)(kdb *db, char *err, size_t errlen);
	/* Close; every statement of the connection has been finalized already. */
	void (*disconnect)(kdb_conn *c);
	/* Run SQL without parameters or results (DDL, transaction control).
	 * Returns KDB_OK or a negative KDB_* code (logged). */
	int (*exec)(kdb_conn *c, const char *sql);
	/* A new statement (zero-filled base); NULL on error (logged). */
	kstmt *(*prepare)(kdb_conn *c, const char *sql);
	void (*finalize)(kstmt *st);
	/* Reset and clear bindings (the statement goes back to the cache). */
	void (*reset)(kstmt *st);
	int (*nparams)(kstmt *st);
	int (*bind_text)(kstmt *st, int idx, const char *v);
	int (*bind_int)(kstmt *st, int idx, int64_t v);
	int (*bind_double)(kstmt *st, int idx, double v);
	int (*bind_blob)(kstmt *st, int idx, const void *v, size_t n);
	int (*bind_null)(kstmt *st, int idx);
	int (*step)(kstmt *st);
	int (*ncols)(kstmt *st);
	const char *(*colname)(kstmt *st, int col);
	enum kdb_coltype (*coltype)(kstmt *st, int col);
	const char *(*text)(kstmt *st, int col);
	int64_t (*int64)(kstmt *st, int col);
	double (*dbl)(kstmt *st, int col);
	const void *(*blob)(kstmt *st, int col, size_t *n);
	int64_t (*changes)(kstmt *st);
};

struct kdb {
	const struct kdb_driver *drv;
	void *cfg;               /* the driver's parsed URL */
	char *safe_url;          /* for messages: never contains a password */
	pthread_key_t key;       /* this thread's kdb_conn */
	pthread_mutex_t lock;
	kdb_conn *conns;         /* every open connection */
};

extern const struct kdb_driver kdb_sqlite_driver;
extern const struct kdb_driver kdb_mysql_driver;

/* Log a failed statement (component "db"): the driver's message and the SQL
 * text, never bound values.  Constraint violations are an expected outcome
 * (callers answer 409) and go to DEBUG; everything else to ERROR. */
void kdb_log_sql_error(const kdb *db, int rc, const char *msg, const char *sql);

#endif
