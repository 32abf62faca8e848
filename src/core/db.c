/*
 * db.c - the driver-independent half of the database layer (see db.h).
 *
 * A kdb is a URL, a driver (db_sqlite.c or db_mysql.c, behind the private
 * table in db_driver.h) and a pthread key.  The key maps each thread to its
 * own connection: kdb_prepare() and friends look it up and open it on first
 * use, so request handlers never share a connection and need no locking.
 * When a thread exits, the key's destructor closes that thread's connection;
 * kdb_close() closes every connection still open (they are all on a list
 * under db->lock).  kdb_close() must only run once no other thread uses the
 * kdb any more.  kdb_open() opens the calling thread's connection right away
 * so that a wrong URL or an unreachable server is reported at startup.
 *
 * Statement cache: prepared statements are expensive (a round trip for
 * MySQL), so kstmt_done() does not finalize a statement but resets it and
 * parks it on its connection's idle list, a small hash table keyed by SQL
 * text.  kdb_prepare() takes an idle statement with the same text when there
 * is one.  A statement in use is not in the table, so the same SQL can be in
 * use twice at once (nested loops); both copies are cached when done, up to
 * KDB_CACHE_MAX statements per connection, after which they are finalized.
 *
 * Transactions nest by counting: only the outermost kdb_begin() starts one
 * (BEGIN IMMEDIATE / START TRANSACTION) and only the outermost kdb_commit()
 * commits.  An inner kdb_rollback() dooms the transaction: the outermost
 * commit then rolls back and returns KDB_ERROR.  So does a statement that
 * failed with KDB_BUSY inside a transaction (a MySQL deadlock victim has
 * lost its transaction already).
 *
 * Migrations split their SQL on top-level ';' (quotes respected, comments
 * dropped) and run each piece with the driver's plain exec, the whole step
 * in one transaction (MySQL commits DDL implicitly; SQLite rolls it back
 * too).  On MySQL, a CREATE TABLE without its own ENGINE/CHARSET gets
 * "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin": UTF-8 and
 * case-sensitive comparisons whatever the database's defaults, as in SQLite.
 *
 * kdb_query_row() sets *found to false only when the query ran and returned
 * no row; on error it returns NULL with *found true ("something is there but
 * we failed"), so `if (!row) return found ? 500 : 404;` is the idiom.
 *
 * Logging: SQL text and driver messages, never bound values (they may be
 * passwords or tokens) and never the URL's password (db->safe_url).
 */
#include "db.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "db_driver.h"
#include "log.h"

#define LOG_SQL_MAX 1000     /* characters of SQL text quoted in a log line */

void kdb_log_sql_error(const kdb *db, int rc, const char *msg, const char *sql)
{
	klog(rc == KDB_CONSTRAINT ? KLOG_DEBUG : KLOG_ERROR, "db", "%s %s: %s [SQL: %.*s%s]",
	     db->drv->name, rc == KDB_CONSTRAINT ? "constraint" : "error", msg ? msg : "?",
	     LOG_SQL_MAX, sql ? sql : "", sql && strlen(sql) > LOG_SQL_MAX ? "..." : "");
}

/* ---- connections ---------------------------------------------------- */

static void conn_free(kdb_conn *c);

/* pthread key destructor: the thread is exiting. */
static void conn_thread_exit(void *p)
{
	kdb_conn *c = p;
	kdb *db = c->db;

	pthread_mutex_lock(&db->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		db->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&db->lock);
	conn_free(c);
}

static kdb_conn *conn_get_err(kdb *db, char *err, size_t errlen)
{
	kdb_conn *c = pthread_getspecific(db->key);
	if (c)
		return c;
	c = db->drv->connect(db, err, errlen);
	if (!c) {
		klog_error("db", "cannot connect to %s: %s", db->safe_url, err);
		return NULL;
	}
	c->db = db;
	pthread_mutex_lock(&db->lock);
	c->next = db->conns;
	if (db->conns)
		db->conns->prev = c;
	db->conns = c;
	pthread_mutex_unlock(&db->lock);
	pthread_setspecific(db->key, c);
	return c;
}

static kdb_conn *conn_get(kdb *db)
{
	char err[512];
	return conn_get_err(db, err, sizeof(err));
}

static void stmt_free(kstmt *st)
{
	char *sql = st->sql;
	st->conn->db->drv->finalize(st);
	free(sql);
}

static void conn_free(kdb_conn *c)
{
	for (int b = 0; b < KDB_CACHE_BUCKETS; b++) {
		while (c->cache[b]) {
			kstmt *st = c->cache[b];
			c->cache[b] = st->next;
			stmt_free(st);
		}
	}
	c->db->drv->disconnect(c);
}

static const struct kdb_driver *driver_for(const char *url)
{
	if (strncmp(url, "sqlite:", 7) == 0)
		return &kdb_sqlite_driver;
	if (strncmp(url, "mysql:", 6) == 0 || strncmp(url, "mysql+", 6) == 0)
		return &kdb_mysql_driver;
	return NULL;
}

kdb *kdb_open(const char *url, char *err, size_t errlen)
{
	char local[512];
	if (!err || errlen == 0) {
		err = local;
		errlen = sizeof(local);
	}
	err[0] = '\0';
	const struct kdb_driver *drv = url ? driver_for(url) : NULL;
	if (!drv) {
		snprintf(err, errlen, "unsupported database URL (expected sqlite:///PATH or "
		         "mysql://USER:PASS@HOST[:PORT]/DB)");
		return NULL;
	}
	kdb *db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	db->drv = drv;
	if (pthread_key_create(&db->key, conn_thread_exit) != 0) {
		snprintf(err, errlen, "cannot create a thread key");
		free(db);
		return NULL;
	}
	pthread_mutex_init(&db->lock, NULL);
	if (drv->configure(db, url, err, errlen) < 0 || !conn_get_err(db, err, errlen)) {
		kdb_close(db);
		return NULL;
	}
	return db;
}

void kdb_close(kdb *db)
{
	if (!db)
		return;
	pthread_mutex_lock(&db->lock);
	kdb_conn *c = db->conns;
	db->conns = NULL;
	pthread_mutex_unlock(&db->lock);
	pthread_setspecific(db->key, NULL);
	pthread_key_delete(db->key);   /* no destructor runs for this key any more */
	while (c) {
		kdb_conn *next = c->next;
		conn_free(c);
		c = next;
	}
	if (db->cfg)
		db->drv->unconfigure(db);
	free(db->safe_url);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

const char *kdb_driver(const kdb *db)
{
	return db->drv->name;
}

/* ---- statements ------------------------------------------------------- */

static uint32_t sql_hash(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

kstmt *kdb_prepare(kdb *db, const char *sql)
{
	kdb_conn *c = conn_get(db);
	if (!c)
		return NULL;
	uint32_t h = sql_hash(sql);
	for (kstmt **pp = &c->cache[h % KDB_CACHE_BUCKETS]; *pp; pp = &(*pp)->next) {
		kstmt *st = *pp;
		if (st->hash == h && strcmp(st->sql, sql) == 0) {
			*pp = st->next;
			st->next = NULL;
			c->ncached--;
			return st;
		}
	}
	kstmt *st = db->drv->prepare(c, sql);
	if (!st)
		return NULL;
	st->conn = c;
	st->hash = h;
	st->next = NULL;
	st->sql = strdup(sql);
	if (!st->sql) {
		db->drv->finalize(st);
		return NULL;
	}
	return st;
}

void kstmt_done(kstmt *st)
{
	if (!st)
		return;
	kdb_conn *c = st->conn;
	c->db->drv->reset(st);
	if (c->ncached >= KDB_CACHE_MAX) {
		stmt_free(st);
		return;
	}
	kstmt **bucket = &c->cache[st->hash % KDB_CACHE_BUCKETS];
	st->next = *bucket;
	*bucket = st;
	c->ncached++;
}

#define DRV(st) ((st)->conn->db->drv)

static bool param_ok(kstmt *st, int idx)
{
	if (!st)
		return false;
	if (idx >= 1 && idx <= DRV(st)->nparams(st))
		return true;
	klog_error("db", "parameter %d out of range [SQL: %.*s]", idx, LOG_SQL_MAX, st->sql);
	return false;
}

static bool col_ok(kstmt *st, int col)
{
	return st && col >= 0 && col < DRV(st)->ncols(st);
}

int kstmt_bind_text(kstmt *st, int idx, const char *v)
{
	if (!param_ok(st, idx))
		return KDB_ERROR;
	return v ? DRV(st)->bind_text(st, idx, v) : DRV(st)->bind_null(st, idx);
}

int kstmt_bind_int(kstmt *st, int idx, int64_t v)
{
	return param_ok(st, idx) ? DRV(st)->bind_int(st, idx, v) : KDB_ERROR;
}

int kstmt_bind_double(kstmt *st, int idx, double v)
{
	return param_ok(st, idx) ? DRV(st)->bind_double(st, idx, v) : KDB_ERROR;
}

int kstmt_bind_blob(kstmt *st, int idx, const void *v, size_t n)
{
	if (!param_ok(st, idx))
		return KDB_ERROR;
	return v ? DRV(st)->bind_blob(st, idx, v, n) : DRV(st)->bind_null(st, idx);
}

int kstmt_bind_null(kstmt *st, int idx)
{
	return param_ok(st, idx) ? DRV(st)->bind_null(st, idx) : KDB_ERROR;
}

int kstmt_step(kstmt *st)
{
	if (!st)
		return KDB_ERROR;
	int rc = DRV(st)->step(st);
	/* A deadlock victim's transaction is gone (MySQL rolls it back): make
	 * sure the caller's commit cannot report success. */
	if (rc == KDB_BUSY && st->conn->txn_depth > 0)
		st->conn->txn_doomed = true;
	return rc;
}

int kstmt_ncols(kstmt *st)
{
	return st ? DRV(st)->ncols(st) : 0;
}

const char *kstmt_colname(kstmt *st, int col)
{
	return col_ok(st, col) ? DRV(st)->colname(st, col) : NULL;
}

bool kstmt_isnull(kstmt *st, int col)
{
	return !col_ok(st, col) || DRV(st)->coltype(st, col) == KDB_T_NULL;
}

const char *kstmt_text(kstmt *st, int col)
{
	return col_ok(st, col) ? DRV(st)->text(st, col) : NULL;
}

int64_t kstmt_int(kstmt *st, int col)
{
	return col_ok(st, col) ? DRV(st)->int64(st, col) : 0;
}

double kstmt_double(kstmt *st, int col)
{
	return col_ok(st, col) ? DRV(st)->dbl(st, col) : 0.0;
}

const void *kstmt_blob(kstmt *st, int col, size_t *n)
{
	size_t dummy;
	if (!n)
		n = &dummy;
	*n = 0;
	return col_ok(st, col) ? DRV(st)->blob(st, col, n) : NULL;
}

int64_t kstmt_changes(kstmt *st)
{
	return st ? DRV(st)->changes(st) : 0;
}

/* ---- one-shot helpers ------------------------------------------------- */

/* Prepare and bind from a type string; NULL on error (logged). */
static kstmt *prepare_bound(kdb *db, const char *sql, const char *types, va_list ap)
{
	kstmt *st = kdb_prepare(db, sql);
	if (!st)
		return NULL;
	if (!types)
		types = "";
	int n = (int)strlen(types);
	if (n != db->drv->nparams(st)) {
		klog_error("db", "%d values for %d placeholders [SQL: %.*s]", n,
		           db->drv->nparams(st), LOG_SQL_MAX, sql);
		kstmt_done(st);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		int rc;
		switch (types[i]) {
		case 's':
			rc = kstmt_bind_text(st, i + 1, va_arg(ap, const char *));
			break;
		case 'i':
			rc = kstmt_bind_int(st, i + 1, va_arg(ap, int64_t));
			break;
		case 'b':
			rc = kstmt_bind_int(st, i + 1, va_arg(ap, int) != 0);
			break;
		case 'd':
			rc = kstmt_bind_double(st, i + 1, va_arg(ap, double));
			break;
		case 'n':
			rc = kstmt_bind_null(st, i + 1);
			break;
		default:
			klog_error("db", "bad type letter '%c' [SQL: %.*s]", types[i], LOG_SQL_MAX,
			           sql);
			rc = KDB_ERROR;
		}
		if (rc != KDB_OK) {
			kstmt_done(st);
			return NULL;
		}
	}
	return st;
}

int kdb_run(kdb *db, int64_t *changes, const char *sql, const char *types, ...)
{
	if (changes)
		*changes = 0;
	va_list ap;
	va_start(ap, types);
	_cleanup_stmt_ kstmt *st = prepare_bound(db, sql, types, ap);
	va_end(ap);
	if (!st)
		return KDB_ERROR;
	int rc;
	while ((rc = kstmt_step(st)) == KDB_ROW)
		;
	if (rc == KDB_DONE && changes)
		*changes = kstmt_changes(st);
	return rc;
}

static json_t *column_json(kstmt *st, int col)
{
	const struct kdb_driver *drv = DRV(st);
	json_t *v = NULL;
	switch (drv->coltype(st, col)) {
	case KDB_T_NULL:
		break;
	case KDB_T_INT:
		v = json_integer(drv->int64(st, col));
		break;
	case KDB_T_REAL:
		v = json_real(drv->dbl(st, col));   /* NULL for NaN/inf */
		break;
	case KDB_T_TEXT:
	case KDB_T_BLOB: {
		size_t n = 0;
		const char *p = drv->blob(st, col, &n);
		v = json_stringn(p ? p : "", n);
		if (!v)
			klog_warn("db", "column %s is not UTF-8; returned as null",
			          drv->colname(st, col));
		break;
	}
	}
	return v ? v : json_null();
}

static json_t *row_json(kstmt *st)
{
	json_t *o = json_object();
	int n = kstmt_ncols(st);
	for (int i = 0; i < n; i++)
		json_object_set_new(o, DRV(st)->colname(st, i), column_json(st, i));
	return o;
}

json_t *kdb_query_json(kdb *db, const char *sql, const char *types, ...)
{
	va_list ap;
	va_start(ap, types);
	_cleanup_stmt_ kstmt *st = prepare_bound(db, sql, types, ap);
	va_end(ap);
	if (!st)
		return NULL;
	json_t *rows = json_array();
	int rc;
	while ((rc = kstmt_step(st)) == KDB_ROW)
		json_array_append_new(rows, row_json(st));
	if (rc != KDB_DONE) {
		json_decref(rows);
		return NULL;
	}
	return rows;
}

json_t *kdb_query_row(kdb *db, bool *found, const char *sql, const char *types, ...)
{
	bool dummy;
	if (!found)
		found = &dummy;
	*found = true;   /* on error: see the comment at the top */
	va_list ap;
	va_start(ap, types);
	_cleanup_stmt_ kstmt *st = prepare_bound(db, sql, types, ap);
	va_end(ap);
	if (!st)
		return NULL;
	int rc = kstmt_step(st);
	if (rc == KDB_ROW)
		return row_json(st);
	if (rc == KDB_DONE)
		*found = false;
	return NULL;
}

/* ---- transactions ----------------------------------------------------- */

int kdb_begin(kdb *db)
{
	kdb_conn *c = conn_get(db);
	if (!c)
		return KDB_ERROR;
	if (c->txn_depth == 0) {
		int rc = db->drv->exec(c, db->drv->begin_sql);
		if (rc != KDB_OK)
			return rc;
		c->txn_doomed = false;
	}
	c->txn_depth++;
	return KDB_OK;
}

static kdb_conn *conn_in_txn(kdb *db, const char *what)
{
	kdb_conn *c = pthread_getspecific(db->key);
	if (!c || c->txn_depth == 0) {
		klog_error("db", "%s without kdb_begin", what);
		return NULL;
	}
	return c;
}

int kdb_commit(kdb *db)
{
	kdb_conn *c = conn_in_txn(db, "kdb_commit");
	if (!c)
		return KDB_ERROR;
	if (--c->txn_depth > 0)
		return KDB_OK;
	if (c->txn_doomed) {
		c->txn_doomed = false;
		db->drv->exec(c, "ROLLBACK");
		klog_error("db", "transaction rolled back instead of committed: an inner "
		           "part failed or rolled back");
		return KDB_ERROR;
	}
	int rc = db->drv->exec(c, "COMMIT");
	if (rc != KDB_OK)
		db->drv->exec(c, "ROLLBACK");   /* never leave it open */
	return rc;
}

int kdb_rollback(kdb *db)
{
	kdb_conn *c = conn_in_txn(db, "kdb_rollback");
	if (!c)
		return KDB_ERROR;
	if (--c->txn_depth > 0) {
		c->txn_doomed = true;
		return KDB_OK;
	}
	c->txn_doomed = false;
	return db->drv->exec(c, "ROLLBACK");
}

/* ---- migrations ------------------------------------------------------- */

static const char migrations_table[] =
	"CREATE TABLE IF NOT EXISTS kumo_migrations ("
	"component VARCHAR(64) NOT NULL, "
	"version INTEGER NOT NULL, "
	"applied_at BIGINT NOT NULL, "
	"PRIMARY KEY (component, version))";

struct sqlbuf {
	char *s;
	size_t len, cap;
};

static void sb_putc(struct sqlbuf *b, char c)
{
	if (b->len + 1 >= b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		char *n = realloc(b->s, b->cap);
		if (!n)
			abort();
		b->s = n;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

static bool starts_with_word(const char *s, const char *word)
{
	size_t n = strlen(word);
	return strncasecmp(s, word, n) == 0 && !(s[n] == '_' || (s[n] >= 'a' && s[n] <= 'z') ||
	                                           (s[n] >= 'A' && s[n] <= 'Z'));
}

static bool contains_ci(const char *s, const char *needle)
{
	return strcasestr(s, needle) != NULL;
}

/* Run one statement of a migration (already trimmed, comments removed). */
static int run_piece(kdb *db, kdb_conn *c, const char *sql)
{
	bool mysql = strcmp(db->drv->name, "mysql") == 0;
	const char *p = sql;
	if (mysql && starts_with_word(p, "CREATE")) {
		p += 6;
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (starts_with_word(p, "TABLE") && !contains_ci(sql, "ENGINE") &&
		    !contains_ci(sql, "CHARSET") && !contains_ci(sql, "CHARACTER SET")) {
			static const char opts[] =
				" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
			size_t n = strlen(sql);
			_cleanup_free_ char *full = malloc(n + sizeof(opts));
			if (!full)
				return KDB_ERROR;
			memcpy(full, sql, n);
			memcpy(full + n, opts, sizeof(opts));
			return db->drv->exec(c, full);
		}
	}
	return db->drv->exec(c, sql);
}

/*
 * Split SQL at top-level ';' and run each non-empty piece.  Quotes ('...',
 * "...", `...`, doubled quotes inside; backslash escapes for MySQL) are
 * kept verbatim; -- and slash-star comments become a space.
 */
static int run_script(kdb *db, kdb_conn *c, const char *sql)
{
	bool mysql = strcmp(db->drv->name, "mysql") == 0;
	struct sqlbuf b = { 0 };
	_cleanup_free_ char *owned = NULL;
	int rc = KDB_OK;
	char q = 0;

	for (const char *p = sql;; p++) {
		char ch = *p;
		if (q && ch) {
			sb_putc(&b, ch);
			if (ch == '\\' && mysql && q != '`' && p[1]) {
				sb_putc(&b, *++p);
			} else if (ch == q) {
				if (p[1] == q)
					sb_putc(&b, *++p);
				else
					q = 0;
			}
			continue;
		}
		if (ch == '-' && p[1] == '-') {
			while (p[1] && p[1] != '\n')
				p++;
			sb_putc(&b, ' ');
			continue;
		}
		if (ch == '/' && p[1] == '*') {
			p += 2;
			while (*p && !(p[0] == '*' && p[1] == '/'))
				p++;
			if (!*p) {   /* unterminated: ends the text */
				p--;
				continue;
			}
			p++;
			sb_putc(&b, ' ');
			continue;
		}
		if (ch == '\'' || ch == '"' || ch == '`') {
			q = ch;
			sb_putc(&b, ch);
			continue;
		}
		if (ch && ch != ';') {
			sb_putc(&b, ch);
			continue;
		}
		/* end of a statement: trim and run it */
		if (b.s) {
			char *s = b.s, *e = b.s + b.len;
			while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
				s++;
			while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			                 e[-1] == '\r'))
				e--;
			*e = '\0';
			if (*s)
				rc = run_piece(db, c, s);
			b.len = 0;
			b.s[0] = '\0';
		}
		if (rc != KDB_OK || !ch)
			break;
	}
	owned = b.s;
	if (q && rc == KDB_OK) {
		klog_error("db", "unterminated quote in migration SQL");
		rc = KDB_ERROR;
	}
	return rc;
}

int kdb_schema_version(kdb *db, const char *component)
{
	bool found;
	json_t *row = kdb_query_row(db, &found, db->drv->table_exists_sql, "s", "kumo_migrations");
	if (!row)
		return found ? KDB_ERROR : 0;
	json_decref(row);
	row = kdb_query_row(db, &found, "SELECT MAX(version) AS v FROM kumo_migrations "
	                    "WHERE component = ?", "s", component);
	if (!row)
		return KDB_ERROR;
	json_t *v = json_object_get(row, "v");
	int version = json_is_integer(v) ? (int)json_integer_value(v) : 0;
	json_decref(row);
	return version;
}

static int apply_step(kdb *db, kdb_conn *c, const char *component, const kdb_migration *m)
{
	bool mysql = strcmp(db->drv->name, "mysql") == 0;
	const char *sql = mysql && m->sql_mysql ? m->sql_mysql : m->sql;
	int rc = kdb_begin(db);
	if (rc != KDB_OK)
		return rc;
	/* Another process may have applied it meanwhile. */
	bool found;
	json_t *row = kdb_query_row(db, &found, "SELECT version FROM kumo_migrations "
	                            "WHERE component = ? AND version = ?", "si", component,
	                            (int64_t)m->version);
	if (row || found) {
		json_decref(row);
		kdb_rollback(db);
		return row ? KDB_OK : KDB_ERROR;
	}
	rc = sql ? run_script(db, c, sql) : KDB_OK;
	if (rc == KDB_OK) {
		rc = kdb_run(db, NULL, "INSERT INTO kumo_migrations "
		             "(component, version, applied_at) VALUES (?, ?, ?)", "sii",
		             component, (int64_t)m->version, (int64_t)time(NULL));
		rc = rc == KDB_DONE ? KDB_OK : rc;
	}
	if (rc != KDB_OK) {
		kdb_rollback(db);
		return rc;
	}
	return kdb_commit(db);
}

int kdb_migrate(kdb *db, const char *component, const kdb_migration *steps, size_t n)
{
	kdb_conn *c = conn_get(db);
	if (!c)
		return KDB_ERROR;
	for (size_t i = 0; i < n; i++) {
		if (steps[i].version <= 0 || (i > 0 && steps[i].version <= steps[i - 1].version)) {
			klog_error("db", "%s: migration versions must be 1, 2, 3... increasing",
			           component);
			return KDB_ERROR;
		}
	}
	int rc = run_piece(db, c, migrations_table);
	if (rc != KDB_OK)
		return rc;
	int cur = kdb_schema_version(db, component);
	if (cur < 0)
		return KDB_ERROR;
	for (size_t i = 0; i < n; i++) {
		if (steps[i].version <= cur)
			continue;
		rc = apply_step(db, c, component, &steps[i]);
		if (rc != KDB_OK) {
			klog_error("db", "%s: migration %d failed on %s", component,
			           steps[i].version, db->safe_url);
			return rc;
		}
		klog_info("db", "%s: schema migrated to version %d", component, steps[i].version);
	}
	return KDB_OK;
}
