/* test_bind.c -- db/bind.c: parameters bound from one list, and the tails that step them
 * (with DB_ROW_GET, the getter of one row built on them).
 *
 * Runs against an in-memory database with a scratch table of its own and
 * statements prepared here, so each helper is seen on its own: what it
 * binds, what it returns, that a failure is recorded, and that the
 * statement is always left released (no longer busy) for its next use.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "db_internal.h" /* the helpers under test and the raw connection */

static sqlite3_stmt *prep(struct db *db, const char *sql) {
  sqlite3_stmt *st = NULL;

  CHECK_EQ_INT(sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL), SQLITE_OK);
  return st;
}

/* --- the single-step helpers --------------------------------------------- */

static void test_insert_and_one_row(struct db *db) {
  sqlite3_stmt *ins = prep(db, "INSERT INTO t(n, s, b) VALUES (?1, ?2, ?3)");
  sqlite3_stmt *get = prep(db, "SELECT n, s IS NULL, typeof(b), length(b) FROM t WHERE id = ?1");
  sqlite3_stmt *count = prep(db, "SELECT count(*) FROM t WHERE n = ?1");
  sqlite3_stmt *upd = prep(db, "UPDATE t SET n = n WHERE id = ?1");
  int64_t id = 0, n = -1;

  CHECK_EQ_INT(db_exec_insert(db, ins, DB_ARGS(DB_INT(7), DB_TEXT("x"), DB_BLOB("ab", 2)), &id), 0);
  CHECK_EQ_INT(id, 1);
  CHECK(!sqlite3_stmt_busy(ins));
  /* A NULL text is SQL NULL; an empty BLOB is still a BLOB. */
  CHECK_EQ_INT(db_exec_insert(db, ins, DB_ARGS(DB_INT(8), DB_TEXT(NULL), DB_BLOB(NULL, 0)), NULL),
               0);

  CHECK_EQ_INT(db_exec_row(db, get, DB_ARGS(DB_INT(2))), 0);
  CHECK_EQ_INT(sqlite3_column_int64(get, 0), 8);
  CHECK_EQ_INT(sqlite3_column_int(get, 1), 1);
  CHECK_EQ_STR((const char *)sqlite3_column_text(get, 2), "blob");
  CHECK_EQ_INT(sqlite3_column_int(get, 3), 0);
  db_stmt_release(get);
  CHECK_EQ_INT(db_exec_row(db, get, DB_ARGS(DB_INT(99))), 1);
  CHECK(!sqlite3_stmt_busy(get));

  CHECK_EQ_INT(db_exec_int(db, count, DB_ARGS(DB_INT(7)), &n), 0);
  CHECK_EQ_INT(n, 1);
  CHECK_EQ_INT(db_exec_changed(db, upd, DB_ARGS(DB_INT(1))), 0);
  CHECK_EQ_INT(db_exec_changed(db, upd, DB_ARGS(DB_INT(99))), 1);

  /* One value too many: SQLITE_RANGE, recorded as a permanent error. */
  CHECK_EQ_INT(db_exec_done(db, upd, DB_ARGS(DB_INT(1), DB_INT(2))), -1);
  CHECK(db_error_permanent(db));
  CHECK(!sqlite3_stmt_busy(upd));
  /* A statement db_stmt() could not prepare comes in as NULL. */
  CHECK_EQ_INT(db_exec_done(db, NULL, NULL), -1);
  CHECK_EQ_INT(db_exec_insert(db, NULL, NULL, &id), -1);
  CHECK_EQ_INT(db_exec_rows(db, NULL, NULL, NULL, NULL), -1);

  sqlite3_finalize(ins);
  sqlite3_finalize(get);
  sqlite3_finalize(count);
  sqlite3_finalize(upd);
}

/* --- a getter of one row --------------------------------------------------- */

struct pair {
  int64_t n;
  char s[4];
};

static void read_pair(sqlite3_stmt *st, struct pair *p) {
  p->n = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, p->s, sizeof p->s);
}

DB_ROW_GET(pair, struct pair, read_pair)

static void test_row_get(struct db *db) {
  sqlite3_stmt *get = prep(db, "SELECT n, s FROM t WHERE id = ?1");
  struct pair p = {-1, "?"};

  /* The row read, st released. */
  CHECK_EQ_INT(pair_get(db, get, DB_ARGS(DB_INT(1)), &p), 0);
  CHECK_EQ_INT(p.n, 7);
  CHECK_EQ_STR(p.s, "x");
  CHECK(!sqlite3_stmt_busy(get));
  /* No such row: 1, out untouched. */
  p.n = -1;
  CHECK_EQ_INT(pair_get(db, get, DB_ARGS(DB_INT(99)), &p), 1);
  CHECK_EQ_INT(p.n, -1);
  CHECK(!sqlite3_stmt_busy(get));
  /* No out: only whether the row is there. */
  CHECK_EQ_INT(pair_get(db, get, DB_ARGS(DB_INT(2)), NULL), 0);
  CHECK(!sqlite3_stmt_busy(get));
  /* A bind that fails: -1, never stepped. */
  CHECK_EQ_INT(pair_get(db, get, DB_ARGS(DB_INT(1), DB_INT(2)), &p), -1);
  CHECK_EQ_INT(p.n, -1);
  CHECK(!sqlite3_stmt_busy(get));
  sqlite3_finalize(get);
}

/* --- the row walk ---------------------------------------------------------- */

struct seen {
  struct db *db;
  int rows, stop_after;
  int64_t sum;
  int setting_rc; /* what a db call made inside the walk answered */
};

static int seen_row(void *ctx, sqlite3_stmt *st) {
  struct seen *s = ctx;
  char v[8];

  s->rows++;
  s->sum += sqlite3_column_int64(st, 0);
  s->setting_rc = db_setting_get(s->db, "bind_test", v, sizeof v);
  return s->stop_after && s->rows >= s->stop_after;
}

static void test_rows(struct db *db) {
  sqlite3_stmt *ins = prep(db, "INSERT INTO w(n) VALUES (?1)");
  sqlite3_stmt *all = prep(db, "SELECT n FROM w WHERE n >= ?1 ORDER BY n");
  sqlite3_stmt *bad = prep(db, "SELECT abs(n) FROM w ORDER BY rowid");
  struct seen s;
  int i;

  for (i = 1; i <= 5; i++) CHECK_EQ_INT(db_exec_done(db, ins, DB_ARGS(DB_INT(i))), 0);
  CHECK_EQ_INT(db_setting_set(db, "bind_test", "1"), 0);

  /* Every row, in order; the row function may use the database itself. */
  memset(&s, 0, sizeof s);
  s.db = db;
  CHECK_EQ_INT(db_exec_rows(db, all, DB_ARGS(DB_INT(2)), seen_row, &s), 0);
  CHECK_EQ_INT(s.rows, 4);
  CHECK_EQ_INT(s.sum, 2 + 3 + 4 + 5);
  CHECK_EQ_INT(s.setting_rc, 0);
  CHECK(!sqlite3_stmt_busy(all));

  /* A non-zero answer stops the walk: not an error, and st is released. */
  memset(&s, 0, sizeof s);
  s.db = db;
  s.stop_after = 2;
  CHECK_EQ_INT(db_exec_rows(db, all, DB_ARGS(DB_INT(1)), seen_row, &s), 0);
  CHECK_EQ_INT(s.rows, 2);
  CHECK_EQ_INT(s.sum, 1 + 2);
  CHECK(!sqlite3_stmt_busy(all));

  /* No rows at all. */
  memset(&s, 0, sizeof s);
  s.db = db;
  CHECK_EQ_INT(db_exec_rows(db, all, DB_ARGS(DB_INT(100)), seen_row, &s), 0);
  CHECK_EQ_INT(s.rows, 0);

  /* A step that fails after some rows: -1, the error recorded, st released.
   * abs() of the smallest integer overflows, and it was inserted last. */
  CHECK_EQ_INT(db_exec_done(db, ins, DB_ARGS(DB_INT(INT64_MIN))), 0);
  memset(&s, 0, sizeof s);
  s.db = db;
  CHECK_EQ_INT(db_exec_rows(db, bad, NULL, seen_row, &s), -1);
  CHECK_EQ_INT(s.rows, 5);
  CHECK(strstr(db_errmsg(db), "integer overflow") != NULL);
  CHECK(!sqlite3_stmt_busy(bad));

  /* A bind that fails never steps. */
  memset(&s, 0, sizeof s);
  s.db = db;
  CHECK_EQ_INT(db_exec_rows(db, all, DB_ARGS(DB_INT(1), DB_INT(2)), seen_row, &s), -1);
  CHECK_EQ_INT(s.rows, 0);
  CHECK(!sqlite3_stmt_busy(all));

  sqlite3_finalize(ins);
  sqlite3_finalize(all);
  sqlite3_finalize(bad);
}

int main(void) {
  char err[256];
  struct db *db = db_open(":memory:", err, sizeof err);

  CHECK(db != NULL);
  if (!db) return check_done();
  CHECK_EQ_INT(sqlite3_exec(db->conn,
                            "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER, s TEXT, b BLOB);"
                            "CREATE TABLE w(n INTEGER)",
                            NULL, NULL, NULL),
               SQLITE_OK);
  test_insert_and_one_row(db);
  test_row_get(db);
  test_rows(db);
  db_close(db);
  return check_done();
}
