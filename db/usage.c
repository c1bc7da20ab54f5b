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
  /* No row yet reads as all zero. */
  if ((rc = db_exec_row(db, st, DB_ARGS(DB_INT(user_id)))) != 0) return rc < 0 ? -1 : 0;
  out->recorded_bytes = sqlite3_column_int64(st, 0);
  out->refused_opens = sqlite3_column_int64(st, 1);
  db_column_copy(st, 2, out->last_refused_reason, sizeof out->last_refused_reason);
  out->last_refused_us = sqlite3_column_int64(st, 3);
  db_stmt_release(st);
  return 0;
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

  return db_exec_done(db, st,
                      DB_ARGS(DB_INT(user_id), DB_INT(refused_opens), DB_TEXT(reason ? reason : ""),
                              DB_INT(at_us)));
}

int db_usage_total(struct db *db, int64_t *recorded_bytes) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USAGE_TOTAL,
                             "SELECT coalesce(sum(recorded_bytes), 0) FROM student_usage");

  /* An aggregate always answers one row. */
  return db_exec_int(db, st, NULL, recorded_bytes) == 0 ? 0 : -1;
}

static void usage_from_row(sqlite3_stmt *st, struct db_usage *u) {
  memset(u, 0, sizeof *u);
  u->user_id = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, u->user_name, sizeof u->user_name);
  u->recorded_bytes = sqlite3_column_int64(st, 2);
  u->refused_opens = sqlite3_column_int64(st, 3);
  db_column_copy(st, 4, u->last_refused_reason, sizeof u->last_refused_reason);
  u->last_refused_us = sqlite3_column_int64(st, 5);
}

DB_ROW_WALK(usage, struct db_usage, usage_from_row)

int db_usage_list(struct db *db, int (*cb)(void *arg, const struct db_usage *u), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USAGE_LIST,
                             "SELECT u.id, u.name, coalesce(g.recorded_bytes, 0), "
                             "coalesce(g.refused_opens, 0), coalesce(g.last_refused_reason, ''), "
                             "coalesce(g.last_refused_us, 0) FROM users u "
                             "LEFT JOIN student_usage g ON g.user_id = u.id "
                             "WHERE u.role = 'student' ORDER BY u.name");

  return db_exec_rows(db, st, NULL, usage_row, &(struct usage_walk){cb, arg});
}
