/*
 * db_mysql.c - the MySQL/MariaDB driver behind db.h, on libmariadb (see
 * db_driver.h).
 *
 * URL: mysql://USER:PASS@HOST[:PORT]/DB[?unix_socket=PATH] (also
 * mysql+pymysql:// and any mysql+DRIVER://, as oslo.db URLs are written).
 * USER and PASS may be percent-encoded; other query keys (charset=...) are
 * ignored: the connection is always utf8mb4.  HOST "localhost" means the
 * local unix socket.  The database must exist already: the operator creates
 * it and its grants, as for Keystone.
 *
 * Session setup: CLIENT_FOUND_ROWS (an UPDATE reports the rows it matched,
 * like SQLite, not only those whose value changed), time zone UTC, and
 * sql_mode strict plus ANSI_QUOTES and PIPES_AS_CONCAT so that "quoted"
 * identifiers and || mean what they mean in SQLite and standard SQL.
 *
 * Statements are server-side prepared statements.  Parameters are copied
 * into the statement (callers may free their strings right after binding)
 * and bound just before execution.  Results are stored on the client
 * (mysql_stmt_store_result) so that other statements can run on the same
 * connection while a result is being read, as with SQLite; every column is
 * fetched as a string into a buffer sized from max_length, re-fetched with
 * mysql_stmt_fetch_column into a bigger buffer when a value does not fit.
 * kstmt_int()/kstmt_double() convert that text; the JSON helpers take the
 * column types from the result metadata.
 *
 * Lost connections: when the server went away (idle timeout, restart) and
 * no transaction is open, the connection is re-established once and the
 * statement prepared and executed again.  Every statement of the connection
 * is on a list so that a reconnect can drop their server handles; each is
 * re-prepared lazily on its next execution.
 *
 * Server messages that quote values (duplicate entry 'x', incorrect value
 * 'x') are replaced by a generic text before logging.
 */
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "db_driver.h"
#include "log.h"

#define CONNECT_TIMEOUT_S 10
#define MIN_COLBUF 64

static const char session_setup[] =
	"SET SESSION sql_mode = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,"
	"NO_ENGINE_SUBSTITUTION,ANSI_QUOTES,PIPES_AS_CONCAT', time_zone = '+00:00'";

struct my_cfg {
	char *user, *pass, *host, *dbname, *socket;
	unsigned port;
};

struct my_stmt;

struct my_conn {
	kdb_conn base;
	MYSQL *h;                /* NULL after a failed reconnect */
	struct my_stmt *stmts;   /* every statement of this connection */
};

struct my_param {
	enum enum_field_types type;
	my_bool is_null;
	int64_t i;
	double d;
	char *buf;
	unsigned long len;
};

struct my_col {
	char *buf;
	unsigned long cap, len;
	my_bool is_null, error;
};

enum my_state { ST_IDLE, ST_ROWS, ST_DONE };

struct my_stmt {
	kstmt base;
	MYSQL_STMT *h;           /* NULL after a reconnect: prepared again on use */
	struct my_stmt *prev, *next;
	int nparams;
	struct my_param *params;
	MYSQL_BIND *pbind;
	MYSQL_RES *meta;         /* NULL when the statement returns no rows */
	MYSQL_FIELD *fields;
	int ncols;
	struct my_col *cols;
	MYSQL_BIND *rbind;
	int ncolbufs;            /* entries allocated in cols/rbind */
	enum my_state state;
	int64_t changes;
};

#define CFG(db) ((struct my_cfg *)(db)->cfg)
#define MC(c) ((struct my_conn *)(c))
#define MS(st) ((struct my_stmt *)(st))

/* ---- errors ----------------------------------------------------------- */

static int map_errno(unsigned e)
{
	switch (e) {
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
	case ER_ROW_IS_REFERENCED_2:
	case ER_NO_REFERENCED_ROW_2:
	case ER_ROW_IS_REFERENCED:
	case ER_NO_REFERENCED_ROW:
	case ER_BAD_NULL_ERROR:
	case ER_NO_DEFAULT_FOR_FIELD:
	case ER_CONSTRAINT_FAILED:
		return KDB_CONSTRAINT;
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_LOCK_DEADLOCK:
		return KDB_BUSY;
	default:
		return KDB_ERROR;
	}
}

static bool server_gone(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
	       e == CR_SERVER_LOST_EXTENDED || e == ER_CONNECTION_KILLED ||
	       e == ER_SERVER_SHUTDOWN || e == 4031 /* MySQL 8 idle timeout */;
}

/* Log an error without the values some server messages quote; returns rc. */
static int log_error(const kdb *db, unsigned e, const char *msg, const char *sql)
{
	char buf[320];
	switch (e) {
	case ER_DUP_ENTRY:
	case ER_DUP_ENTRY_WITH_KEY_NAME:
		msg = "duplicate entry for a unique key";
		break;
	case ER_TRUNCATED_WRONG_VALUE:
	case ER_TRUNCATED_WRONG_VALUE_FOR_FIELD:
	case ER_WRONG_VALUE_FOR_VAR:
		msg = "incorrect value";
		break;
	}
	snprintf(buf, sizeof(buf), "%s (%u)", msg, e);
	int rc = map_errno(e);
	kdb_log_sql_error(db, rc, buf, sql);
	return rc;
}

/* ---- URL -------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode [s, s+n) into a new string. */
static char *pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static void free_cfg(struct my_cfg *cfg)
{
	if (!cfg)
		return;
	free(cfg->user);
	if (cfg->pass) {
		explicit_bzero(cfg->pass, strlen(cfg->pass));
		free(cfg->pass);
	}
	free(cfg->host);
	free(cfg->dbname);
	free(cfg->socket);
	free(cfg);
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
	mysql_library_init(0, NULL, NULL);
}

static int parse_url(struct my_cfg *cfg, const char *url, char *err, size_t errlen)
{
	const char *p = strstr(url, "://");
	if (!p) {
		snprintf(err, errlen, "MySQL URL must look like mysql://USER:PASS@HOST[:PORT]/DB");
		return -1;
	}
	p += 3;
	size_t len = strcspn(p, "?");
	const char *query = p[len] == '?' ? p + len + 1 : NULL;

	/* userinfo ends at the last '@' (a raw '@' may appear in a password) */
	const char *at = NULL;
	for (const char *q = p; q < p + len; q++)
		if (*q == '@')
			at = q;
	const char *hp = p;
	if (at) {
		size_t ulen = (size_t)(at - p);
		const char *colon = memchr(p, ':', ulen);
		cfg->user = pct_decode(p, colon ? (size_t)(colon - p) : ulen);
		if (colon)
			cfg->pass = pct_decode(colon + 1, (size_t)(at - colon - 1));
		hp = at + 1;
	}
	const char *end = p + len;
	const char *slash = memchr(hp, '/', (size_t)(end - hp));
	if (!slash || slash + 1 >= end) {
		snprintf(err, errlen, "MySQL URL without a database name");
		return -1;
	}
	cfg->dbname = pct_decode(slash + 1, (size_t)(end - slash - 1));
	const char *hend = slash, *port = NULL;
	if (*hp == '[') {   /* [IPv6]:port */
		const char *rb = memchr(hp, ']', (size_t)(slash - hp));
		if (!rb) {
			snprintf(err, errlen, "MySQL URL with a bad IPv6 address");
			return -1;
		}
		cfg->host = strndup(hp + 1, (size_t)(rb - hp - 1));
		if (rb + 1 < slash && rb[1] == ':')
			port = rb + 2;
	} else {
		const char *colon = memchr(hp, ':', (size_t)(slash - hp));
		if (colon) {
			port = colon + 1;
			hend = colon;
		}
		if (hend > hp)
			cfg->host = strndup(hp, (size_t)(hend - hp));
	}
	if (port) {
		char *e;
		unsigned long v = strtoul(port, &e, 10);
		if (e != slash || v == 0 || v > 65535) {
			snprintf(err, errlen, "MySQL URL with a bad port");
			return -1;
		}
		cfg->port = (unsigned)v;
	}
	for (const char *q = query; q && *q;) {
		size_t n = strcspn(q, "&");
		if (strncmp(q, "unix_socket=", 12) == 0 && n > 12) {
			free(cfg->socket);
			cfg->socket = pct_decode(q + 12, n - 12);
		}
		q += n + (q[n] == '&');
	}
	return 0;
}

static int my_configure(kdb *db, const char *url, char *err, size_t errlen)
{
	pthread_once(&lib_once, lib_init);
	struct my_cfg *cfg = calloc(1, sizeof(*cfg));
	if (!cfg || parse_url(cfg, url, err, errlen) < 0) {
		if (!cfg)
			snprintf(err, errlen, "out of memory");
		free_cfg(cfg);
		return -1;
	}
	char buf[512];
	snprintf(buf, sizeof(buf), "mysql://%s%s%s%s:%u/%s", cfg->user ? cfg->user : "",
	         cfg->pass ? ":***" : "", cfg->user || cfg->pass ? "@" : "",
	         cfg->host ? cfg->host : "localhost", cfg->port ? cfg->port : 3306, cfg->dbname);
	db->safe_url = strdup(buf);
	db->cfg = cfg;
	return db->safe_url ? 0 : -1;
}

static void my_unconfigure(kdb *db)
{
	free_cfg(CFG(db));
	db->cfg = NULL;
}

/* ---- connections ------------------------------------------------------ */

static MYSQL *raw_connect(const struct my_cfg *cfg, char *err, size_t errlen)
{
	MYSQL *h = mysql_init(NULL);
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	unsigned timeout = CONNECT_TIMEOUT_S, zero = 0;
	my_bool off = 0, on = 1;
	mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(h, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
	mysql_options(h, MYSQL_OPT_RECONNECT, &off);
	mysql_options(h, MYSQL_REPORT_DATA_TRUNCATION, &on);
	mysql_options(h, MYSQL_OPT_LOCAL_INFILE, &zero);
	mysql_options(h, MYSQL_INIT_COMMAND, session_setup);
	if (!mysql_real_connect(h, cfg->host, cfg->user, cfg->pass, cfg->dbname, cfg->port,
	                        cfg->socket, CLIENT_FOUND_ROWS)) {
		snprintf(err, errlen, "%s", mysql_error(h));
		mysql_close(h);
		return NULL;
	}
	return h;
}

static kdb_conn *my_connect(kdb *db, char *err, size_t errlen)
{
	MYSQL *h = raw_connect(CFG(db), err, errlen);
	if (!h)
		return NULL;
	struct my_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		mysql_close(h);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->base.db = db;
	c->h = h;
	return &c->base;
}

/* Drop the server handles of every statement (the connection is gone). */
static void drop_handles(struct my_conn *c)
{
	for (struct my_stmt *s = c->stmts; s; s = s->next) {
		if (s->h) {
			mysql_stmt_close(s->h);   /* local only: mysql_close detached it */
			s->h = NULL;
		}
	}
}

static int reconnect(struct my_conn *c)
{
	kdb *db = c->base.db;
	if (c->h) {
		mysql_close(c->h);
		c->h = NULL;
	}
	drop_handles(c);
	char err[512];
	c->h = raw_connect(CFG(db), err, sizeof(err));
	if (!c->h) {
		klog_error("db", "cannot reconnect to %s: %s", db->safe_url, err);
		return -1;
	}
	klog_warn("db", "reconnected to %s", db->safe_url);
	return 0;
}

static void my_disconnect(kdb_conn *conn)
{
	struct my_conn *c = MC(conn);
	if (c->h)
		mysql_close(c->h);
	c->h = NULL;
	drop_handles(c);   /* statements a caller never released (a bug) */
	free(c);
}

/* Make sure the connection is up; only outside transactions. */
static bool usable(struct my_conn *c)
{
	return c->h || (c->base.txn_depth == 0 && reconnect(c) == 0);
}

static int my_exec(kdb_conn *conn, const char *sql)
{
	struct my_conn *c = MC(conn);
	bool txn_end = strcmp(sql, "COMMIT") == 0 || strcmp(sql, "ROLLBACK") == 0;
	if (!c->h && txn_end) {
		/* The connection was lost inside the transaction: it is gone. */
		if (sql[0] == 'R')
			return KDB_OK;
		kdb_log_sql_error(conn->db, KDB_ERROR, "connection lost during the transaction",
		                  sql);
		return KDB_ERROR;
	}
	for (int attempt = 0;; attempt++) {
		if (!usable(c)) {
			kdb_log_sql_error(conn->db, KDB_ERROR, "not connected", sql);
			return KDB_ERROR;
		}
		if (mysql_real_query(c->h, sql, strlen(sql)) == 0)
			break;
		unsigned e = mysql_errno(c->h);
		int rc = KDB_ERROR;
		if (server_gone(e) && attempt == 0 && conn->txn_depth == 0 && !txn_end) {
			if (reconnect(c) == 0)
				continue;
			kdb_log_sql_error(conn->db, KDB_ERROR, "server gone", sql);
		} else {
			rc = log_error(conn->db, e, mysql_error(c->h), sql);
		}
		if (server_gone(e) && c->h) {   /* reconnect on next use */
			mysql_close(c->h);
			c->h = NULL;
			drop_handles(c);
		}
		return rc;
	}
	MYSQL_RES *res = mysql_store_result(c->h);
	if (res)
		mysql_free_result(res);
	return KDB_OK;
}

/* ---- statements ------------------------------------------------------- */

static void refresh_meta(struct my_stmt *s)
{
	if (s->meta)
		mysql_free_result(s->meta);
	s->meta = mysql_stmt_result_metadata(s->h);
	s->fields = s->meta ? mysql_fetch_fields(s->meta) : NULL;
	s->ncols = s->meta ? (int)mysql_num_fields(s->meta) : 0;
}

/* Prepare s->h on the connection: 0, or the MySQL error number (and text). */
static unsigned prepare_handle(struct my_conn *c, struct my_stmt *s, const char *sql,
                               char *msg, size_t msglen)
{
	MYSQL_STMT *h = mysql_stmt_init(c->h);
	if (!h) {
		snprintf(msg, msglen, "out of memory");
		return CR_OUT_OF_MEMORY;
	}
	my_bool on = 1;
	mysql_stmt_attr_set(h, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
	if (mysql_stmt_prepare(h, sql, strlen(sql)) != 0) {
		unsigned e = mysql_stmt_errno(h);
		snprintf(msg, msglen, "%s", mysql_stmt_error(h));
		mysql_stmt_close(h);
		return e ? e : CR_UNKNOWN_ERROR;
	}
	s->h = h;
	s->nparams = (int)mysql_stmt_param_count(h);
	refresh_meta(s);
	return 0;
}

/* Prepare, reconnecting once when the server went away; errors are logged. */
static unsigned prepare_retry(struct my_conn *c, struct my_stmt *s, const char *sql)
{
	char msg[MYSQL_ERRMSG_SIZE + 1];
	if (!usable(c)) {
		kdb_log_sql_error(c->base.db, KDB_ERROR, "not connected", sql);
		return CR_SERVER_GONE_ERROR;
	}
	unsigned e = prepare_handle(c, s, sql, msg, sizeof(msg));
	if (e && server_gone(e) && c->base.txn_depth == 0 && reconnect(c) == 0)
		e = prepare_handle(c, s, sql, msg, sizeof(msg));
	if (e)
		log_error(c->base.db, e, msg, sql);
	return e;
}

static kstmt *my_prepare(kdb_conn *conn, const char *sql)
{
	struct my_conn *c = MC(conn);
	struct my_stmt *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (prepare_retry(c, s, sql) != 0) {
		free(s);
		return NULL;
	}
	s->params = calloc((size_t)s->nparams + 1, sizeof(*s->params));
	s->pbind = calloc((size_t)s->nparams + 1, sizeof(*s->pbind));
	if (!s->params || !s->pbind) {
		mysql_stmt_close(s->h);
		if (s->meta)
			mysql_free_result(s->meta);
		free(s->params);
		free(s->pbind);
		free(s);
		return NULL;
	}
	for (int i = 0; i < s->nparams; i++) {
		s->params[i].type = MYSQL_TYPE_NULL;
		s->params[i].is_null = 1;
	}
	s->next = c->stmts;
	if (c->stmts)
		c->stmts->prev = s;
	c->stmts = s;
	return &s->base;
}

static void clear_params(struct my_stmt *s)
{
	for (int i = 0; i < s->nparams; i++) {
		free(s->params[i].buf);
		memset(&s->params[i], 0, sizeof(s->params[i]));
		s->params[i].type = MYSQL_TYPE_NULL;
		s->params[i].is_null = 1;
	}
}

static void my_finalize(kstmt *st)
{
	struct my_stmt *s = MS(st);
	struct my_conn *c = MC(st->conn);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->stmts = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->h)
		mysql_stmt_close(s->h);
	if (s->meta)
		mysql_free_result(s->meta);
	clear_params(s);
	for (int i = 0; i < s->ncolbufs; i++)
		free(s->cols[i].buf);
	free(s->cols);
	free(s->rbind);
	free(s->params);
	free(s->pbind);
	free(s);
}

static void end_result(struct my_stmt *s)
{
	if (s->h && s->state != ST_IDLE)
		mysql_stmt_free_result(s->h);
	s->state = ST_IDLE;
}

static void my_reset(kstmt *st)
{
	struct my_stmt *s = MS(st);
	end_result(s);
	clear_params(s);
	s->changes = 0;
}

static int my_nparams(kstmt *st)
{
	return MS(st)->nparams;
}

static struct my_param *param(kstmt *st, int idx, enum enum_field_types type)
{
	struct my_stmt *s = MS(st);
	end_result(s);   /* new bindings after a step start a new execution */
	struct my_param *p = &s->params[idx - 1];
	free(p->buf);
	p->buf = NULL;
	p->len = 0;
	p->type = type;
	p->is_null = type == MYSQL_TYPE_NULL;
	return p;
}

static int my_bind_bytes(kstmt *st, int idx, const void *v, size_t n,
                         enum enum_field_types type)
{
	char *copy = malloc(n + 1);
	if (!copy)
		return KDB_ERROR;
	memcpy(copy, v, n);
	copy[n] = '\0';
	struct my_param *p = param(st, idx, type);
	p->buf = copy;
	p->len = (unsigned long)n;
	return KDB_OK;
}

static int my_bind_text(kstmt *st, int idx, const char *v)
{
	return my_bind_bytes(st, idx, v, strlen(v), MYSQL_TYPE_STRING);
}

static int my_bind_blob(kstmt *st, int idx, const void *v, size_t n)
{
	return my_bind_bytes(st, idx, v, n, MYSQL_TYPE_BLOB);
}

static int my_bind_int(kstmt *st, int idx, int64_t v)
{
	param(st, idx, MYSQL_TYPE_LONGLONG)->i = v;
	return KDB_OK;
}

static int my_bind_double(kstmt *st, int idx, double v)
{
	param(st, idx, MYSQL_TYPE_DOUBLE)->d = v;
	return KDB_OK;
}

static int my_bind_null(kstmt *st, int idx)
{
	param(st, idx, MYSQL_TYPE_NULL);
	return KDB_OK;
}

static void build_param_binds(struct my_stmt *s)
{
	for (int i = 0; i < s->nparams; i++) {
		struct my_param *p = &s->params[i];
		MYSQL_BIND *b = &s->pbind[i];
		memset(b, 0, sizeof(*b));
		b->buffer_type = p->type;
		b->is_null = &p->is_null;
		switch (p->type) {
		case MYSQL_TYPE_LONGLONG:
			b->buffer = &p->i;
			break;
		case MYSQL_TYPE_DOUBLE:
			b->buffer = &p->d;
			break;
		case MYSQL_TYPE_STRING:
		case MYSQL_TYPE_BLOB:
			b->buffer = p->buf;
			b->buffer_length = p->len;
			b->length = &p->len;
			break;
		default:
			break;
		}
	}
}

/* Size the column buffers for a stored result and bind them. */
static int bind_results(struct my_stmt *s)
{
	if (s->ncols > s->ncolbufs) {
		struct my_col *cols = realloc(s->cols, (size_t)s->ncols * sizeof(*cols));
		if (!cols)
			return -1;
		s->cols = cols;
		MYSQL_BIND *rb = realloc(s->rbind, (size_t)s->ncols * sizeof(*rb));
		if (!rb)
			return -1;
		s->rbind = rb;
		memset(s->cols + s->ncolbufs, 0,
		       (size_t)(s->ncols - s->ncolbufs) * sizeof(*cols));
		s->ncolbufs = s->ncols;
	}
	for (int i = 0; i < s->ncols; i++) {
		struct my_col *col = &s->cols[i];
		unsigned long want = s->fields[i].max_length + 1;
		if (want < MIN_COLBUF)
			want = MIN_COLBUF;
		if (col->cap < want) {
			char *nb = realloc(col->buf, want);
			if (!nb)
				return -1;
			col->buf = nb;
			col->cap = want;
		}
		MYSQL_BIND *b = &s->rbind[i];
		memset(b, 0, sizeof(*b));
		b->buffer_type = MYSQL_TYPE_STRING;
		b->buffer = col->buf;
		b->buffer_length = col->cap;
		b->length = &col->len;
		b->is_null = &col->is_null;
		b->error = &col->error;
	}
	return mysql_stmt_bind_result(s->h, s->rbind) ? -1 : 0;
}

static int fetch_row(struct my_stmt *s)
{
	kstmt *st = &s->base;
	if (!s->h) {
		kdb_log_sql_error(st->conn->db, KDB_ERROR, "connection lost while reading rows",
		                  st->sql);
		return KDB_ERROR;
	}
	int r = mysql_stmt_fetch(s->h);
	if (r == MYSQL_NO_DATA) {
		s->state = ST_DONE;
		return KDB_DONE;
	}
	if (r != 0 && r != MYSQL_DATA_TRUNCATED)
		return log_error(st->conn->db, mysql_stmt_errno(s->h), mysql_stmt_error(s->h),
		                 st->sql);
	bool rebind = false;
	for (int i = 0; i < s->ncols; i++) {
		struct my_col *col = &s->cols[i];
		if (col->is_null)
			continue;
		if (col->len >= col->cap) {   /* did not fit: fetch it again, bigger */
			unsigned long want = col->len + 1;
			char *nb = realloc(col->buf, want);
			if (!nb)
				return KDB_ERROR;
			col->buf = nb;
			col->cap = want;
			MYSQL_BIND *b = &s->rbind[i];
			b->buffer = nb;
			b->buffer_length = want;
			if (mysql_stmt_fetch_column(s->h, b, (unsigned)i, 0) != 0)
				return log_error(st->conn->db, mysql_stmt_errno(s->h),
				                 mysql_stmt_error(s->h), st->sql);
			rebind = true;
		}
		col->buf[col->len] = '\0';
	}
	if (rebind && mysql_stmt_bind_result(s->h, s->rbind) != 0)
		return log_error(st->conn->db, mysql_stmt_errno(s->h), mysql_stmt_error(s->h),
		                 st->sql);
	return KDB_ROW;
}

static int execute(struct my_stmt *s)
{
	kstmt *st = &s->base;
	struct my_conn *c = MC(st->conn);
	unsigned e = 0;
	char msg[MYSQL_ERRMSG_SIZE + 1] = "error";

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!s->h && (e = prepare_retry(c, s, st->sql)) != 0)
			return map_errno(e);   /* logged */
		build_param_binds(s);
		if (s->nparams && mysql_stmt_bind_param(s->h, s->pbind)) {
			e = mysql_stmt_errno(s->h);
			snprintf(msg, sizeof(msg), "%s", mysql_stmt_error(s->h));
			break;
		}
		if (mysql_stmt_execute(s->h) == 0 &&
		    (mysql_stmt_field_count(s->h) == 0 || mysql_stmt_store_result(s->h) == 0)) {
			e = 0;
			break;
		}
		e = mysql_stmt_errno(s->h);
		snprintf(msg, sizeof(msg), "%s", mysql_stmt_error(s->h));
		if (e == CR_NEW_STMT_METADATA && attempt == 0) {
			/* the table changed since the statement was prepared:
			 * closing drains the pending result, then prepare again */
			mysql_stmt_close(s->h);
			s->h = NULL;
			continue;
		}
		if (!server_gone(e) || attempt > 0 || c->base.txn_depth > 0)
			break;
		if (reconnect(c) < 0)
			break;
	}
	if (e) {
		int rc = log_error(c->base.db, e, msg, st->sql);
		if (server_gone(e) && c->h) {   /* reconnect on next use */
			mysql_close(c->h);
			c->h = NULL;
			drop_handles(c);
		}
		return rc;
	}
	if (mysql_stmt_field_count(s->h) == 0) {
		s->changes = (int64_t)mysql_stmt_affected_rows(s->h);
		s->state = ST_DONE;
		return KDB_DONE;
	}
	s->changes = 0;
	s->state = ST_ROWS;
	refresh_meta(s);   /* after store_result: carries max_length */
	if (!s->meta || bind_results(s) < 0) {
		kdb_log_sql_error(c->base.db, KDB_ERROR, "cannot bind result columns", st->sql);
		return KDB_ERROR;
	}
	return fetch_row(s);
}

static int my_step(kstmt *st)
{
	struct my_stmt *s = MS(st);
	if (s->state == ST_ROWS)
		return fetch_row(s);
	end_result(s);   /* ST_DONE: run again, like SQLite's automatic reset */
	return execute(s);
}

static int my_ncols(kstmt *st)
{
	return MS(st)->ncols;
}

static const char *my_colname(kstmt *st, int col)
{
	return MS(st)->fields[col].name;
}

static bool have_value(struct my_stmt *s, int col)
{
	return s->state == ST_ROWS && col < s->ncolbufs && !s->cols[col].is_null;
}

static enum kdb_coltype my_coltype(kstmt *st, int col)
{
	struct my_stmt *s = MS(st);
	if (!have_value(s, col))
		return KDB_T_NULL;
	const MYSQL_FIELD *f = &s->fields[col];
	switch (f->type) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_YEAR:
		return KDB_T_INT;
	case MYSQL_TYPE_FLOAT:
	case MYSQL_TYPE_DOUBLE:
		return KDB_T_REAL;
	case MYSQL_TYPE_DECIMAL:
	case MYSQL_TYPE_NEWDECIMAL:
		return f->decimals == 0 ? KDB_T_INT : KDB_T_REAL;
	case MYSQL_TYPE_TINY_BLOB:
	case MYSQL_TYPE_MEDIUM_BLOB:
	case MYSQL_TYPE_LONG_BLOB:
	case MYSQL_TYPE_BLOB:
	case MYSQL_TYPE_STRING:
	case MYSQL_TYPE_VAR_STRING:
	case MYSQL_TYPE_VARCHAR:
		return f->charsetnr == 63 ? KDB_T_BLOB : KDB_T_TEXT;   /* 63: binary */
	default:
		return KDB_T_TEXT;
	}
}

static const char *my_text(kstmt *st, int col)
{
	struct my_stmt *s = MS(st);
	return have_value(s, col) ? s->cols[col].buf : NULL;
}

static int64_t my_int64(kstmt *st, int col)
{
	const char *t = my_text(st, col);
	return t ? strtoll(t, NULL, 10) : 0;
}

static double my_dbl(kstmt *st, int col)
{
	const char *t = my_text(st, col);
	return t ? strtod(t, NULL) : 0.0;
}

static const void *my_blob(kstmt *st, int col, size_t *n)
{
	struct my_stmt *s = MS(st);
	if (!have_value(s, col))
		return NULL;
	*n = s->cols[col].len;
	return s->cols[col].buf;
}

static int64_t my_changes(kstmt *st)
{
	return MS(st)->changes;
}

const struct kdb_driver kdb_mysql_driver = {
	.name = "mysql",
	.table_exists_sql = "SELECT 1 FROM information_schema.tables "
	                    "WHERE table_schema = DATABASE() AND table_name = ?",
	.begin_sql = "START TRANSACTION",
	.configure = my_configure,
	.unconfigure = my_unconfigure,
	.connect = my_connect,
	.disconnect = my_disconnect,
	.exec = my_exec,
	.prepare = my_prepare,
	.finalize = my_finalize,
	.reset = my_reset,
	.nparams = my_nparams,
	.bind_text = my_bind_text,
	.bind_int = my_bind_int,
	.bind_double = my_bind_double,
	.bind_blob = my_bind_blob,
	.bind_null = my_bind_null,
	.step = my_step,
	.ncols = my_ncols,
	.colname = my_colname,
	.coltype = my_coltype,
	.text = my_text,
	.int64 = my_int64,
	.dbl = my_dbl,
	.blob = my_blob,
	.changes = my_changes,
};
