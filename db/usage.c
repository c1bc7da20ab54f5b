/* usage.c -- per-student usage: recorded bytes and refused opens.
 *
 * recorded_bytes is added to by whoever appends events, in the same
 * transaction (events.c; a trigger until migration 11), so it is exact
 * after any crash; this file only reads it. Refused opens are
 * one counter per student with the last reason and time, written by the
 * relay's usage module in batches, never a row per refusal.
 */
#include <string.h>

#include "db_internal.h"

int db_usage_get(struct db *db, int64_t user_id, struct db_usage *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USAGE_GET,
                             "SELECT recorded_bytes, refused_opens, last_refused_reason, "
                             "last_refused_us FROM student_usage WHERE user_id = ?1");
  int rc;

  memset(out, 0, sizeof *out);
  out->user_id = user_id;
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK) goto fail;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    out->recorded_bytes = sqlite3_column_int64(st, 0);
    out->refused_opens = sqlite3_column_int64(st, 1);
    db_column_copy(st, 2, out->last_refused_reason, sizeof out->last_refused_reason);
    out->last_refused_us = sqlite3_column_int64(st, 3);
  } else if (rc != SQLITE_DONE) {
    goto fail;
  }
  db_stmt_release(st);
  return 0;

fail:
  return db_fail_release(db, st);
}

int db_usage_set_refused(struct db *db, int64_t user_id, int64_t refused_opens, const char *reason,
                         int64_t at_us) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USAGE_REFUSED,
                             "INSERT INTO student_usage(user_id, refused_opens, "
                             "last_refused_reason, last_refused_us) VALUES (?1, ?2, ?3, ?4) "
                             "ON CONFLICT(user_id) DO UPDATE SET "
                             "refused_opens = excluded.refused_opens, "
                             "last_refused_reason = excluded.last_refused_reason, "
                             "last_refused_us = excluded.last_refused_us");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, refused_opens) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, reason ? reason : "", -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 4, at_us) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
}

int db_usage_total(struct db *db, int64_t *recorded_bytes) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USAGE_TOTAL,
                             "SELECT coalesce(sum(recorded_bytes), 0) FROM student_usage");

  if (!st) return -1;
  if (sqlite3_step(st) != SQLITE_ROW) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  *recorded_bytes = sqlite3_column_int64(st, 0);
  db_stmt_release(st);
  return 0;
}

int db_usage_list(struct db *db, int (*cb)(void *arg, const struct db_usage *u), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USAGE_LIST,
                             "SELECT u.id, u.name, coalesce(g.recorded_bytes, 0), "
                             "coalesce(g.refused_opens, 0), coalesce(g.last_refused_reason, ''), "
                             "coalesce(g.last_refused_us, 0) FROM users u "
                             "LEFT JOIN student_usage g ON g.user_id = u.id "
                             "WHERE u.role = 'student' ORDER BY u.name");
  struct db_usage u;
  int rc;

  if (!st) return -1;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    memset(&u, 0, sizeof u);
    u.user_id = sqlite3_column_int64(st, 0);
    db_column_copy(st, 1, u.user_name, sizeof u.user_name);
    u.recorded_bytes = sqlite3_column_int64(st, 2);
    u.refused_opens = sqlite3_column_int64(st, 3);
    db_column_copy(st, 4, u.last_refused_reason, sizeof u.last_refused_reason);
    u.last_refused_us = sqlite3_column_int64(st, 5);
    if (cb(arg, &u) != 0) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  db_stmt_release(st);
  return 0;
}
