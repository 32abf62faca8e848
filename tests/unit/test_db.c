/*
 * test_db.c - the database layer on real databases.
 *
 * Every test runs on SQLite (a fresh file under /tmp, removed afterwards)
 * and, when KUMO_TEST_MYSQL_URL is set (tools/mariadb-test-setup.sh prints
 * one), on MariaDB too, where the test tables are dropped before and after.
 */
#include "core/db.h"
#include "core/json.h"
#include "core/log.h"
#include "ktest.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *backend;   /* "sqlite" or "mysql", for failure messages */

static const char *const test_tables[] = {
	"kt_child", "kt_parent", "kt_items", "kt_m3", "kt_fail", "kt_conc",
};

static const kdb_migration schema[] = {
	{ 1, "CREATE TABLE kt_items (id VARCHAR(64) NOT NULL PRIMARY KEY, "
	     "name VARCHAR(255) NOT NULL, num BIGINT, flag INTEGER, ratio DOUBLE PRECISION, "
	     "note TEXT, data BLOB)", NULL },
	{ 2, "CREATE UNIQUE INDEX kt_items_name ON kt_items (name)", NULL },
	{ 3, "CREATE TABLE kt_parent (id VARCHAR(64) NOT NULL PRIMARY KEY);\n"
	     "-- children must point at an existing parent; a ';' in a comment is fine\n"
	     "CREATE TABLE kt_child (id VARCHAR(64) NOT NULL PRIMARY KEY, "
	     "parent_id VARCHAR(64) NOT NULL, "
	     "FOREIGN KEY (parent_id) REFERENCES kt_parent (id));", NULL },
};

static void setup_schema(kdb *db)
{
	CHECK_INT(kdb_migrate(db, "kt", schema, ARRAY_SIZE(schema)), KDB_OK);
}

static int64_t count(kdb *db, const char *table)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) AS n FROM %s", table);
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(db, &found, sql, "");
	return row ? json_integer_value(json_object_get(row, "n")) : -1;
}

static void drop_test_tables(kdb *db)
{
	char sql[128];
	for (size_t i = 0; i < ARRAY_SIZE(test_tables); i++) {
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", test_tables[i]);
		CHECK_INT(kdb_run(db, NULL, sql, ""), KDB_DONE);
	}
	bool found;
	_cleanup_json_ json_t *t = kdb_query_row(db, &found,
		"SELECT 1 AS x FROM information_schema.tables "
		"WHERE table_schema = DATABASE() AND table_name = 'kumo_migrations'", "");
	if (t)
		CHECK_INT(kdb_run(db, NULL, "DELETE FROM kumo_migrations "
		                  "WHERE component LIKE 'kt%'", ""), KDB_DONE);
}

static void rm_sqlite_dir(const char *dir)
{
	static const char *const files[] = { "sub/test.db", "sub/test.db-wal", "sub/test.db-shm" };
	char path[256];
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	CHECK(rmdir(dir) == 0);
}

/* Run fn on every configured backend, each time on an empty database. */
static void on_each_db(void (*fn)(kdb *db))
{
	char err[512];
	char dir[] = "/tmp/kumo-test-db-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char url[256];
	snprintf(url, sizeof(url), "sqlite:///%s/sub/test.db", dir);   /* sub/ is created */
	backend = "sqlite";
	int before = ktest_failures;
	kdb *db = kdb_open(url, err, sizeof(err));
	CHECK(db != NULL);
	if (db) {
		CHECK_STR(kdb_driver(db), "sqlite");
		fn(db);
		kdb_close(db);
	}
	rm_sqlite_dir(dir);
	if (ktest_failures != before)
		fprintf(stderr, "  ^ on sqlite\n");

	const char *murl = getenv("KUMO_TEST_MYSQL_URL");
	if (!murl || !*murl)
		return;
	backend = "mysql";
	before = ktest_failures;
	db = kdb_open(murl, err, sizeof(err));
	if (!db)
		fprintf(stderr, "cannot open KUMO_TEST_MYSQL_URL: %s\n", err);
	CHECK(db != NULL);
	if (db) {
		CHECK_STR(kdb_driver(db), "mysql");
		drop_test_tables(db);
		fn(db);
		drop_test_tables(db);
		kdb_close(db);
	}
	if (ktest_failures != before)
		fprintf(stderr, "  ^ on mysql\n");
}

static bool is_mysql(kdb *db)
{
	return strcmp(kdb_driver(db), "mysql") == 0;
}

/* ---- migrations ------------------------------------------------------- */

static void t_migrations(kdb *db)
{
	CHECK_INT(kdb_schema_version(db, "kt"), 0);
	setup_schema(db);
	CHECK_INT(kdb_schema_version(db, "kt"), 3);
	setup_schema(db);   /* again: nothing to do */
	CHECK_INT(kdb_schema_version(db, "kt"), 3);
	CHECK_INT(count(db, "kt_items"), 0);
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(db, &found,
		"SELECT COUNT(*) AS n, MIN(applied_at) AS t FROM kumo_migrations "
		"WHERE component = ?", "s", "kt");
	CHECK(row != NULL);
	CHECK_INT(json_integer_value(json_object_get(row, "n")), 3);
	CHECK(json_integer_value(json_object_get(row, "t")) > 1700000000);

	/* later steps: quotes and comments holding ';', dialect-specific text */
	kdb_migration more[ARRAY_SIZE(schema) + 2];
	memcpy(more, schema, sizeof(schema));
	more[3] = (kdb_migration){ 4,
		"INSERT INTO kt_parent (id) VALUES ('a;b'); /* ; */ "
		"INSERT INTO kt_parent (id) VALUES ('it''s; \"x\"');;", NULL };
	more[4] = (kdb_migration){ 5, "CREATE TABLE kt_m3 (x INTEGER)",
		"CREATE TABLE kt_m3 (y INTEGER)" };
	CHECK_INT(kdb_migrate(db, "kt", more, ARRAY_SIZE(more)), KDB_OK);
	CHECK_INT(kdb_migrate(db, "kt", more, ARRAY_SIZE(more)), KDB_OK);
	CHECK_INT(kdb_schema_version(db, "kt"), 5);
	CHECK_INT(count(db, "kt_parent"), 2);
	_cleanup_json_ json_t *p = kdb_query_row(db, &found,
		"SELECT id FROM kt_parent WHERE id = ?", "s", "it's; \"x\"");
	CHECK(p != NULL);
	CHECK_INT(kdb_run(db, NULL, is_mysql(db) ? "INSERT INTO kt_m3 (y) VALUES (1)" :
	                  "INSERT INTO kt_m3 (x) VALUES (1)", ""), KDB_DONE);
	CHECK_INT(kdb_schema_version(db, "nothing"), 0);

	/* a failing step is not recorded (and on SQLite leaves nothing behind) */
	static const kdb_migration bad[] = {
		{ 1, "CREATE TABLE kt_fail (a INTEGER); INSERT INTO kt_no_such_table VALUES (1)",
		  NULL },
	};
	CHECK(kdb_migrate(db, "kt_fail", bad, 1) != KDB_OK);
	CHECK_INT(kdb_schema_version(db, "kt_fail"), 0);
	if (!is_mysql(db)) {
		CHECK(kdb_run(db, NULL, "SELECT a FROM kt_fail", "") == KDB_ERROR);
	}
	static const kdb_migration fixed[] = {
		{ 1, "CREATE TABLE IF NOT EXISTS kt_fail (a INTEGER)", NULL },
	};
	CHECK_INT(kdb_migrate(db, "kt_fail", fixed, 1), KDB_OK);
	CHECK_INT(kdb_schema_version(db, "kt_fail"), 1);

	/* versions must increase */
	static const kdb_migration unordered[] = {
		{ 2, "SELECT 1", NULL }, { 1, "SELECT 1", NULL },
	};
	CHECK(kdb_migrate(db, "kt_bad", unordered, 2) != KDB_OK);
	CHECK_INT(kdb_schema_version(db, "kt_bad"), 0);
}

KTEST(migrations_idempotent) { on_each_db(t_migrations); }

/* ---- values ------------------------------------------------------------ */

static void t_types(kdb *db)
{
	setup_schema(db);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name, num, flag, ratio, note, data) "
	                  "VALUES (?, ?, ?, ?, ?, ?, ?)", "ssibdsn", "a", "alpha",
	                  (int64_t)INT64_MAX, true, 3.25, "note"), KDB_DONE);
	/* one letter per placeholder, known letters only */
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name, num, flag, ratio) "
	                  "VALUES (?, ?, ?, ?, ?)", "ssib", "b", "beta", (int64_t)1, false),
	          KDB_ERROR);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name, num, flag, ratio) "
	                  "VALUES (?, ?, ?, ?, ?)", "ssibx", "b", "beta", (int64_t)1, false, 1.0),
	          KDB_ERROR);
	CHECK_INT(count(db, "kt_items"), 1);

	_cleanup_stmt_ kstmt *ins = kdb_prepare(db, "INSERT INTO kt_items (id, name, num, flag, "
	                                        "ratio, data) VALUES (?, ?, ?, ?, ?, ?)");
	CHECK(ins != NULL);
	static const unsigned char bin[] = { 0, 1, 2, 0xff, 0, 'x', 0x80 };
	char name[32];
	strcpy(name, "beta");
	CHECK_INT(kstmt_bind_text(ins, 1, "b"), KDB_OK);
	CHECK_INT(kstmt_bind_text(ins, 2, name), KDB_OK);
	memset(name, 'X', 4);   /* bound values are copied */
	CHECK_INT(kstmt_bind_int(ins, 3, INT64_MIN), KDB_OK);
	CHECK_INT(kstmt_bind_int(ins, 4, 0), KDB_OK);
	CHECK_INT(kstmt_bind_double(ins, 5, -0.5), KDB_OK);
	CHECK_INT(kstmt_bind_blob(ins, 6, bin, sizeof(bin)), KDB_OK);
	CHECK_INT(kstmt_bind_int(ins, 7, 1), KDB_ERROR);   /* no 7th placeholder */
	CHECK_INT(kstmt_bind_int(ins, 0, 1), KDB_ERROR);
	CHECK_INT(kstmt_step(ins), KDB_DONE);
	CHECK_INT(kstmt_changes(ins), 1);
	/* rebinding after a step runs it again */
	CHECK_INT(kstmt_bind_text(ins, 1, "c"), KDB_OK);
	CHECK_INT(kstmt_bind_text(ins, 2, "gamma"), KDB_OK);
	CHECK_INT(kstmt_bind_blob(ins, 6, "", 0), KDB_OK);   /* empty, not NULL */
	CHECK_INT(kstmt_step(ins), KDB_DONE);

	_cleanup_stmt_ kstmt *sel = kdb_prepare(db, "SELECT id, name, num, flag, ratio, note, data "
	                                        "FROM kt_items ORDER BY id");
	CHECK_INT(kstmt_ncols(sel), 7);
	CHECK_STR(kstmt_colname(sel, 0), "id");
	CHECK_STR(kstmt_colname(sel, 6), "data");
	CHECK(kstmt_colname(sel, 7) == NULL);
	CHECK_INT(kstmt_step(sel), KDB_ROW);
	CHECK_STR(kstmt_text(sel, 0), "a");
	CHECK_STR(kstmt_text(sel, 1), "alpha");
	CHECK(kstmt_int(sel, 2) == INT64_MAX);
	CHECK_INT(kstmt_int(sel, 3), 1);
	CHECK(kstmt_double(sel, 4) == 3.25);
	CHECK_STR(kstmt_text(sel, 5), "note");
	CHECK(kstmt_isnull(sel, 6));
	CHECK(!kstmt_isnull(sel, 5));
	CHECK(kstmt_text(sel, 99) == NULL);
	CHECK_INT(kstmt_step(sel), KDB_ROW);
	CHECK_STR(kstmt_text(sel, 0), "b");
	CHECK_STR(kstmt_text(sel, 1), "beta");
	CHECK(kstmt_int(sel, 2) == INT64_MIN);
	CHECK_INT(kstmt_int(sel, 3), 0);
	CHECK(kstmt_double(sel, 4) == -0.5);
	CHECK(kstmt_isnull(sel, 5));
	size_t n = 0;
	const void *blob = kstmt_blob(sel, 6, &n);
	CHECK_INT(n, sizeof(bin));
	CHECK(blob && memcmp(blob, bin, sizeof(bin)) == 0);
	CHECK_INT(kstmt_step(sel), KDB_ROW);
	CHECK_STR(kstmt_text(sel, 0), "c");
	CHECK(!kstmt_isnull(sel, 6));
	blob = kstmt_blob(sel, 6, &n);
	CHECK(blob != NULL);
	CHECK_INT(n, 0);
	CHECK_INT(kstmt_step(sel), KDB_DONE);
}

KTEST(insert_select_all_types) { on_each_db(t_types); }

static void t_nulls(kdb *db)
{
	setup_schema(db);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name, num, flag, ratio, note) "
	                  "VALUES (?, ?, ?, ?, ?, ?)", "ssnnns", "n1", "null-1", NULL), KDB_DONE);
	_cleanup_stmt_ kstmt *st = kdb_prepare(db, "SELECT num, flag, ratio, note, data FROM "
	                                       "kt_items WHERE id = ? AND note IS NULL");
	CHECK_INT(kstmt_bind_text(st, 1, "n1"), KDB_OK);
	CHECK_INT(kstmt_step(st), KDB_ROW);
	for (int i = 0; i < 5; i++) {
		CHECK(kstmt_isnull(st, i));
		CHECK(kstmt_text(st, i) == NULL);
		CHECK_INT(kstmt_int(st, i), 0);
	}
	CHECK_INT(kstmt_step(st), KDB_DONE);
	CHECK_INT(kstmt_bind_null(st, 1), KDB_OK);   /* "id = NULL" matches nothing */
	CHECK_INT(kstmt_step(st), KDB_DONE);

	_cleanup_json_ json_t *rows = kdb_query_json(db, "SELECT num, note FROM kt_items", "");
	CHECK(json_array_size(rows) == 1);
	json_t *r = json_array_get(rows, 0);
	CHECK(json_is_null(json_object_get(r, "num")));
	CHECK(json_is_null(json_object_get(r, "note")));
}

KTEST(nulls) { on_each_db(t_nulls); }

static void t_constraints(kdb *db)
{
	setup_schema(db);
	char logpath[] = "/tmp/kumo-test-db-log-XXXXXX";
	int fd = mkstemp(logpath);
	CHECK(fd >= 0);
	close(fd);
	klog_init(logpath, KLOG_DEBUG);

	const char *secret = "s3cret-token-VALUE";
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name) VALUES (?, ?)", "ss",
	                  secret, "one"), KDB_DONE);
	/* duplicate primary key, duplicate unique name, NOT NULL */
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name) VALUES (?, ?)", "ss",
	                  secret, "two"), KDB_CONSTRAINT);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name) VALUES (?, ?)", "ss",
	                  "other", "one"), KDB_CONSTRAINT);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name) VALUES (?, ?)", "sn",
	                  "other"), KDB_CONSTRAINT);
	/* foreign keys both ways */
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_child (id, parent_id) VALUES (?, ?)", "ss",
	                  "c1", secret), KDB_CONSTRAINT);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_parent (id) VALUES (?)", "s", "p1"), KDB_DONE);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_child (id, parent_id) VALUES (?, ?)", "ss",
	                  "c1", "p1"), KDB_DONE);
	CHECK_INT(kdb_run(db, NULL, "DELETE FROM kt_parent WHERE id = ?", "s", "p1"),
	          KDB_CONSTRAINT);
	CHECK_INT(count(db, "kt_items"), 1);
	CHECK_INT(count(db, "kt_parent"), 1);
	/* a plain error is not a constraint */
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_nope (id) VALUES (?)", "s", secret),
	          KDB_ERROR);

	klog_init(NULL, KLOG_INFO);
	size_t len = 0;
	FILE *f = fopen(logpath, "r");
	char buf[16384];
	if (f) {
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[len] = '\0';
	CHECK(strstr(buf, "constraint") != NULL);   /* the violations were logged... */
	CHECK(strstr(buf, "kt_nope") != NULL);      /* ...and so was the error, with its SQL */
	CHECK(strstr(buf, secret) == NULL);         /* but never a bound value */
	unlink(logpath);
}

KTEST(constraint_violations) { on_each_db(t_constraints); }

static void t_query_json(kdb *db)
{
	setup_schema(db);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name, num, flag, ratio, note) "
	                  "VALUES (?, ?, ?, ?, ?, ?)", "ssibds", "j1", "json", (int64_t)42, true,
	                  1.5, "text"), KDB_DONE);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name, num) VALUES (?, ?, ?)", "ssi",
	                  "j2", "json2", (int64_t)-7), KDB_DONE);
	_cleanup_json_ json_t *rows = kdb_query_json(db,
		"SELECT id, num, flag, ratio, note FROM kt_items WHERE num > ? ORDER BY id", "i",
		(int64_t)-100);
	CHECK(json_is_array(rows));
	CHECK(json_array_size(rows) == 2);
	json_t *a = json_array_get(rows, 0), *b = json_array_get(rows, 1);
	CHECK_STR(json_string_value(json_object_get(a, "id")), "j1");
	CHECK(json_is_integer(json_object_get(a, "num")));
	CHECK_INT(json_integer_value(json_object_get(a, "num")), 42);
	CHECK(json_is_integer(json_object_get(a, "flag")));
	CHECK_INT(json_integer_value(json_object_get(a, "flag")), 1);
	CHECK(json_is_real(json_object_get(a, "ratio")));
	CHECK(json_real_value(json_object_get(a, "ratio")) == 1.5);
	CHECK_STR(json_string_value(json_object_get(a, "note")), "text");
	CHECK_INT(json_integer_value(json_object_get(b, "num")), -7);
	CHECK(json_is_null(json_object_get(b, "ratio")));
	CHECK_INT(json_object_size(b), 5);

	_cleanup_json_ json_t *empty = kdb_query_json(db, "SELECT id FROM kt_items WHERE id = ?",
	                                              "s", "none");
	CHECK(json_is_array(empty) && json_array_size(empty) == 0);
	CHECK(kdb_query_json(db, "SELECT nope FROM kt_items", "") == NULL);

	bool found = false;
	_cleanup_json_ json_t *cnt = kdb_query_row(db, &found, "SELECT COUNT(*) AS n, "
	                                           "SUM(num) AS s FROM kt_items", "");
	CHECK(found);
	CHECK(json_is_integer(json_object_get(cnt, "n")));
	CHECK_INT(json_integer_value(json_object_get(cnt, "n")), 2);
	CHECK(json_is_integer(json_object_get(cnt, "s")));
	CHECK_INT(json_integer_value(json_object_get(cnt, "s")), 35);
	found = true;
	CHECK(kdb_query_row(db, &found, "SELECT id FROM kt_items WHERE id = ?", "s", "x") == NULL);
	CHECK(!found);
	found = false;
	CHECK(kdb_query_row(db, &found, "SELECT nope FROM kt_items", "") == NULL);
	CHECK(found);   /* error, not "no row" */
	CHECK(kdb_query_row(db, NULL, "SELECT id FROM kt_items WHERE id = ?", "s", "x") == NULL);
}

KTEST(query_json_types) { on_each_db(t_query_json); }

/* ---- transactions ------------------------------------------------------ */

static int insert_item(kdb *db, const char *id)
{
	return kdb_run(db, NULL, "INSERT INTO kt_items (id, name) VALUES (?, ?)", "ss", id, id);
}

static bool has_item(kdb *db, const char *id)
{
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(db, &found, "SELECT id FROM kt_items "
	                                           "WHERE id = ?", "s", id);
	return row != NULL;
}

static void t_transactions(kdb *db)
{
	setup_schema(db);
	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(insert_item(db, "r1"), KDB_DONE);
	CHECK(has_item(db, "r1"));   /* visible inside */
	CHECK_INT(kdb_rollback(db), KDB_OK);
	CHECK(!has_item(db, "r1"));

	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(insert_item(db, "c1"), KDB_DONE);
	CHECK_INT(insert_item(db, "c1"), KDB_CONSTRAINT);   /* the transaction survives */
	CHECK_INT(insert_item(db, "c2"), KDB_DONE);
	CHECK_INT(kdb_commit(db), KDB_OK);
	CHECK(has_item(db, "c1") && has_item(db, "c2"));

	/* nesting: inner commit, outer rollback */
	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(insert_item(db, "n1"), KDB_DONE);
	CHECK_INT(kdb_commit(db), KDB_OK);
	CHECK_INT(kdb_rollback(db), KDB_OK);
	CHECK(!has_item(db, "n1"));

	/* inner rollback dooms the outer commit */
	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(insert_item(db, "d1"), KDB_DONE);
	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(kdb_rollback(db), KDB_OK);
	CHECK_INT(kdb_commit(db), KDB_ERROR);
	CHECK(!has_item(db, "d1"));

	/* unbalanced calls are errors, and the connection still works after */
	CHECK_INT(kdb_commit(db), KDB_ERROR);
	CHECK_INT(kdb_rollback(db), KDB_ERROR);
	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(insert_item(db, "e1"), KDB_DONE);
	CHECK_INT(kdb_commit(db), KDB_OK);
	CHECK_INT(count(db, "kt_items"), 3);
}

KTEST(transactions) { on_each_db(t_transactions); }

/* ---- threads ----------------------------------------------------------- */

#ifndef NTHREADS   /* -D for stress runs */
#define NTHREADS 4
#define PER_THREAD 100
#endif

struct worker {
	kdb *db;
	int n;
	int errors;
	int64_t conn_id;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	/* a temporary table lives in one connection: if two threads shared a
	 * connection, the second CREATE would fail */
	if (kdb_run(w->db, NULL, "CREATE TEMPORARY TABLE kt_tmp (x INTEGER)", "") != KDB_DONE)
		w->errors++;
	for (int i = 0; i < PER_THREAD; i++) {
		char id[32];
		snprintf(id, sizeof(id), "t%d-%d", w->n, i);
		bool txn = i % 3 == 0;
		if (txn && kdb_begin(w->db) != KDB_OK)
			w->errors++;
		if (kdb_run(w->db, NULL, "INSERT INTO kt_items (id, name, num) VALUES (?, ?, ?)",
		            "ssi", id, id, (int64_t)i) != KDB_DONE)
			w->errors++;
		if (kdb_run(w->db, NULL, "INSERT INTO kt_tmp (x) VALUES (?)", "i", (int64_t)i) !=
		    KDB_DONE)
			w->errors++;
		if (txn && kdb_commit(w->db) != KDB_OK)
			w->errors++;
	}
	if (strcmp(kdb_driver(w->db), "mysql") == 0) {
		bool found;
		_cleanup_json_ json_t *row = kdb_query_row(w->db, &found,
			"SELECT CONNECTION_ID() AS id", "");
		w->conn_id = row ? json_integer_value(json_object_get(row, "id")) : -1;
	}
	return NULL;
}

static void t_threads(kdb *db)
{
	setup_schema(db);
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .db = db, .n = i };
		CHECK(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(w[i].errors, 0);
	}
	CHECK_INT(count(db, "kt_items"), NTHREADS * PER_THREAD);
	if (is_mysql(db)) {
		for (int i = 0; i < NTHREADS; i++)
			for (int j = i + 1; j < NTHREADS; j++)
				CHECK(w[i].conn_id != w[j].conn_id);
	}
	/* the workers' connections were closed when they exited; this thread's
	 * own connection still has no kt_tmp */
	CHECK_INT(kdb_run(db, NULL, "CREATE TEMPORARY TABLE kt_tmp (x INTEGER)", ""), KDB_DONE);
	CHECK_INT(kdb_run(db, NULL, "DROP TABLE kt_tmp", ""), KDB_DONE);
}

KTEST(threads_have_own_connections) { on_each_db(t_threads); }

/* ---- hostile and international text ------------------------------------ */

static void t_metachars(kdb *db)
{
	setup_schema(db);
	static const char *const values[] = {
		"'; DROP TABLE kt_items; --",
		"\"; DELETE FROM kt_items; /*",
		"back\\slash \\' \\\" \\0 \\n",
		"100% _ %s %n ?",
		"'' \"\" `` ;;",
	};
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		char id[16];
		snprintf(id, sizeof(id), "m%zu", i);
		CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name, note) "
		                  "VALUES (?, ?, ?)", "sss", id, values[i], values[i]), KDB_DONE);
	}
	CHECK_INT(count(db, "kt_items"), (int64_t)ARRAY_SIZE(values));
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		bool found;
		_cleanup_json_ json_t *row = kdb_query_row(db, &found,
			"SELECT id, note FROM kt_items WHERE name = ?", "s", values[i]);
		CHECK(row != NULL);
		CHECK_STR(json_string_value(json_object_get(row, "note")), values[i]);
	}
	/* LIKE with a bound pattern: the ' is data */
	_cleanup_json_ json_t *rows = kdb_query_json(db, "SELECT id FROM kt_items WHERE name "
	                                             "LIKE ?", "s", "'; DROP%");
	CHECK(json_array_size(rows) == 1);
}

KTEST(sql_metacharacters_stored_verbatim) { on_each_db(t_metachars); }

static void t_unicode(kdb *db)
{
	setup_schema(db);
	const char *u = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 "
	                "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x9a\x80 "
	                "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82";
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name, note) VALUES (?, ?, ?)", "sss",
	                  "u1", u, u), KDB_DONE);
	_cleanup_stmt_ kstmt *st = kdb_prepare(db, "SELECT name, note FROM kt_items "
	                                       "WHERE name = ?");
	CHECK_INT(kstmt_bind_text(st, 1, u), KDB_OK);
	CHECK_INT(kstmt_step(st), KDB_ROW);
	CHECK_STR(kstmt_text(st, 0), u);
	size_t n = 0;
	kstmt_blob(st, 1, &n);
	CHECK_INT(n, strlen(u));
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(db, &found, "SELECT note FROM kt_items", "");
	CHECK_STR(json_string_value(json_object_get(row, "note")), u);

	/* case matters, as in SQLite (utf8mb4_bin on MySQL) */
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name) VALUES (?, ?)", "ss",
	                  "u2", "ABC"), KDB_DONE);
	CHECK_INT(kdb_run(db, NULL, "INSERT INTO kt_items (id, name) VALUES (?, ?)", "ss",
	                  "u3", "abc"), KDB_DONE);

	/* big values */
	size_t big = 60000;
	char *s = malloc(big + 1);
	for (size_t i = 0; i < big; i++)
		s[i] = (char)('a' + i % 26);
	s[big] = '\0';
	CHECK_INT(kdb_run(db, NULL, "UPDATE kt_items SET note = ? WHERE id = ?", "ss", s, "u2"),
	          KDB_DONE);
	_cleanup_json_ json_t *rows = kdb_query_json(db, "SELECT id, note FROM kt_items "
	                                             "ORDER BY id", "");
	CHECK(json_array_size(rows) == 3);
	CHECK_STR(json_string_value(json_object_get(json_array_get(rows, 1), "note")), s);
	free(s);
}

KTEST(unicode_and_big_text) { on_each_db(t_unicode); }

/* ---- statement cache and misc ------------------------------------------ */

static void t_cache(kdb *db)
{
	setup_schema(db);
	for (int i = 0; i < 3; i++) {
		char id[16];
		snprintf(id, sizeof(id), "s%d", i);
		CHECK_INT(insert_item(db, id), KDB_DONE);
	}
	const char *sql = "SELECT id FROM kt_items WHERE id > ? ORDER BY id";
	kstmt *a = kdb_prepare(db, sql);
	CHECK(a != NULL);
	kstmt_done(a);
	kstmt *b = kdb_prepare(db, sql);
	CHECK(b == a);   /* reused from the cache */

	/* the same SQL twice at once: two statements, nested loops work */
	kstmt *c = kdb_prepare(db, sql);
	CHECK(c != NULL && c != b);
	int pairs = 0;
	kstmt_bind_text(b, 1, "");
	while (kstmt_step(b) == KDB_ROW) {
		kstmt_bind_text(c, 1, kstmt_text(b, 0));
		while (kstmt_step(c) == KDB_ROW)
			pairs++;
		kstmt_done(c);
		c = kdb_prepare(db, sql);   /* from the cache again */
	}
	CHECK_INT(pairs, 3);   /* (s0,s1) (s0,s2) (s1,s2) */
	kstmt_done(c);
	kstmt_done(b);
	kstmt_done(NULL);

	/* kdb_run reuses too, with fresh bindings each time */
	for (int i = 0; i < 50; i++)
		CHECK_INT(kdb_run(db, NULL, "UPDATE kt_items SET num = ? WHERE id = ?", "is",
		                  (int64_t)i, "s1"), KDB_DONE);
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(db, &found, "SELECT num FROM kt_items "
	                                           "WHERE id = ?", "s", "s1");
	CHECK_INT(json_integer_value(json_object_get(row, "num")), 49);

	/* a cached statement survives a schema change */
	kstmt *star = kdb_prepare(db, "SELECT * FROM kt_items WHERE id = ?");
	int cols = kstmt_ncols(star);
	kstmt_done(star);
	CHECK_INT(kdb_run(db, NULL, "ALTER TABLE kt_items ADD COLUMN extra INTEGER", ""), KDB_DONE);
	star = kdb_prepare(db, "SELECT * FROM kt_items WHERE id = ?");
	kstmt_bind_text(star, 1, "s2");
	CHECK_INT(kstmt_step(star), KDB_ROW);
	CHECK_INT(kstmt_ncols(star), cols + 1);
	CHECK_STR(kstmt_colname(star, cols), "extra");
	kstmt_done(star);

	/* changes: rows matched, even when the value does not change */
	int64_t changes = -1;
	CHECK_INT(kdb_run(db, &changes, "UPDATE kt_items SET num = ? WHERE id = ?", "is",
	                  (int64_t)49, "s1"), KDB_DONE);
	CHECK_INT(changes, 1);
	CHECK_INT(kdb_run(db, &changes, "UPDATE kt_items SET num = 5", ""), KDB_DONE);
	CHECK_INT(changes, 3);
	CHECK_INT(kdb_run(db, &changes, "DELETE FROM kt_items WHERE id = ?", "s", "zz"), KDB_DONE);
	CHECK_INT(changes, 0);
	CHECK_INT(kdb_run(db, &changes, "DELETE FROM kt_items", ""), KDB_DONE);
	CHECK_INT(changes, 3);

	/* bad SQL and bad type strings */
	CHECK(kdb_prepare(db, "SELEKT 1") == NULL);
	CHECK_INT(kdb_run(db, NULL, "SELECT ?", "x", 1), KDB_ERROR);
	CHECK_INT(kdb_run(db, NULL, "SELECT 1; SELECT 2", ""), KDB_ERROR);
}

KTEST(statement_cache) { on_each_db(t_cache); }

/* MySQL only: the server drops an idle connection; the next query
 * reconnects, except inside a transaction, which must fail. */
KTEST(mysql_reconnect)
{
	const char *murl = getenv("KUMO_TEST_MYSQL_URL");
	if (!murl || !*murl)
		return;
	char err[256];
	kdb *db = kdb_open(murl, err, sizeof(err));
	CHECK(db != NULL);
	if (!db)
		return;
	drop_test_tables(db);
	setup_schema(db);
	CHECK_INT(insert_item(db, "k1"), KDB_DONE);
	CHECK_INT(kdb_run(db, NULL, "SET SESSION wait_timeout = 1", ""), KDB_DONE);
	sleep(2);
	CHECK(has_item(db, "k1"));     /* cached statement, new connection */
	CHECK_INT(insert_item(db, "k2"), KDB_DONE);

	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(insert_item(db, "k3"), KDB_DONE);
	CHECK_INT(kdb_run(db, NULL, "SET SESSION wait_timeout = 1", ""), KDB_DONE);
	sleep(2);
	CHECK(insert_item(db, "k4") < 0);
	CHECK_INT(kdb_commit(db), KDB_ERROR);
	CHECK(!has_item(db, "k3") && !has_item(db, "k4"));
	CHECK_INT(count(db, "kt_items"), 2);
	drop_test_tables(db);
	kdb_close(db);
}

/* MySQL only (SQLite would wait its full 10 s busy timeout): a lock wait
 * timeout is KDB_BUSY and dooms the waiter's transaction. */
static void *busy_waiter(void *arg)
{
	kdb *db = arg;
	int *rc = calloc(3, sizeof(int));
	rc[0] = kdb_run(db, NULL, "SET SESSION innodb_lock_wait_timeout = 1", "");
	kdb_begin(db);
	rc[1] = kdb_run(db, NULL, "UPDATE kt_items SET num = 2 WHERE id = ?", "s", "b1");
	rc[2] = kdb_commit(db);
	return rc;
}

KTEST(mysql_lock_timeout_is_busy)
{
	const char *murl = getenv("KUMO_TEST_MYSQL_URL");
	if (!murl || !*murl)
		return;
	char err[256];
	kdb *db = kdb_open(murl, err, sizeof(err));
	CHECK(db != NULL);
	if (!db)
		return;
	drop_test_tables(db);
	setup_schema(db);
	CHECK_INT(insert_item(db, "b1"), KDB_DONE);
	CHECK_INT(kdb_begin(db), KDB_OK);
	CHECK_INT(kdb_run(db, NULL, "UPDATE kt_items SET num = 1 WHERE id = ?", "s", "b1"),
	          KDB_DONE);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, busy_waiter, db) == 0);
	int *rc = NULL;
	pthread_join(th, (void **)&rc);
	CHECK_INT(rc[0], KDB_DONE);
	CHECK_INT(rc[1], KDB_BUSY);
	CHECK_INT(rc[2], KDB_ERROR);
	free(rc);
	CHECK_INT(kdb_commit(db), KDB_OK);
	bool found;
	_cleanup_json_ json_t *row = kdb_query_row(db, &found, "SELECT num FROM kt_items "
	                                           "WHERE id = ?", "s", "b1");
	CHECK_INT(json_integer_value(json_object_get(row, "num")), 1);
	drop_test_tables(db);
	kdb_close(db);
}

KTEST(open_errors)
{
	char err[256];
	CHECK(kdb_open("postgres://x/y", err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
	CHECK(kdb_open("sqlite:///", err, sizeof(err)) == NULL);
	CHECK(kdb_open("sqlite:/relative", err, sizeof(err)) == NULL);
	CHECK(kdb_open("sqlite:///:memory:", err, sizeof(err)) == NULL);
	CHECK(kdb_open("sqlite:////proc/no/such/dir/x.db", err, sizeof(err)) == NULL);
	CHECK(kdb_open("mysql://u:p@host", err, sizeof(err)) == NULL);
	CHECK(kdb_open("mysql://u:p@host:99999/db", err, sizeof(err)) == NULL);
	CHECK(kdb_open(NULL, NULL, 0) == NULL);

	char logpath[] = "/tmp/kumo-test-db-log-XXXXXX";
	int fd = mkstemp(logpath);
	close(fd);
	klog_init(logpath, KLOG_DEBUG);
	/* nothing listens on port 1: refused quickly; the password stays secret */
	CHECK(kdb_open("mysql+pymysql://kumo:pa%73sw0rd-SECRET@127.0.0.1:1/kumo?charset=utf8",
	               err, sizeof(err)) == NULL);
	klog_init(NULL, KLOG_INFO);
	CHECK(err[0] != '\0');
	CHECK(strstr(err, "SECRET") == NULL);
	char buf[4096] = "";
	FILE *f = fopen(logpath, "r");
	if (f) {
		buf[fread(buf, 1, sizeof(buf) - 1, f)] = '\0';
		fclose(f);
	}
	CHECK(strstr(buf, "127.0.0.1") != NULL);
	CHECK(strstr(buf, "SECRET") == NULL);
	unlink(logpath);
}

int main(void) { return ktest_run(); }
