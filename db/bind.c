/* bind.c -- a statement's parameters bound from one list, the step that follows, a BLOB copied.
 *
 * Nearly every query ends the same way: bind each parameter, checking
 * each call, step, read or count, release, and on any failure record the
 * error and release. These helpers write that tail once. The SQL stays a
 * constant prepared by db_stmt(); every value is bound, never formatted.
 * Each helper takes the statement as db_stmt() returned it, so a NULL
 * (the error already recorded) is simply passed on as -1.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

int db_bind_args(struct db *db, sqlite3_stmt *st, const struct db_arg *args) {
  int rc = SQLITE_OK;

  if (!st) return -1;
  for (int col = 1; rc == SQLITE_OK && args && args->kind != DB_ARG_END; args++, col++) {
    switch (args->kind) {
      case DB_ARG_INT:
        rc = sqlite3_bind_int64(st, col, args->i);
        break;
      case DB_ARG_TEXT:
        rc = sqlite3_bind_text(st, col, args->p, -1, SQLITE_STATIC);
        break;
      case DB_ARG_BLOB:
        /* An empty BLOB is still a BLOB: a NULL pointer would bind SQL
         * NULL, which NOT NULL columns refuse. */
        rc = args->n ? sqlite3_bind_blob64(st, col, args->p, args->n, SQLITE_STATIC)
                     : sqlite3_bind_zeroblob(st, col, 0);
        break;
      default:
        rc = SQLITE_MISUSE;
        break;
    }
  }
  return rc == SQLITE_OK ? 0 : db_fail_release(db, st);
}

int db_exec_done(struct db *db, sqlite3_stmt *st, const struct db_arg *args) {
  if (db_bind_args(db, st, args) != 0) return -1;
  return db_step_done(db, st);
}

int db_exec_changed(struct db *db, sqlite3_stmt *st, const struct db_arg *args) {
  if (db_exec_done(db, st, args) != 0) return -1;
  return sqlite3_changes(db->conn) ? 0 : 1;
}

int db_exec_row(struct db *db, sqlite3_stmt *st, const struct db_arg *args) {
  if (db_bind_args(db, st, args) != 0) return -1;
  return db_step_row(db, st);
}

int db_exec_int(struct db *db, sqlite3_stmt *st, const struct db_arg *args, int64_t *out) {
  int rc = db_exec_row(db, st, args);

  if (rc != 0) return rc;
  *out = sqlite3_column_int64(st, 0);
  db_stmt_release(st);
  return 0;
}

int db_exec_insert(struct db *db, sqlite3_stmt *st, const struct db_arg *args, int64_t *id_out) {
  if (db_exec_done(db, st, args) != 0) return -1;
  if (id_out) *id_out = sqlite3_last_insert_rowid(db->conn);
  return 0;
}

int db_exec_rows(struct db *db, sqlite3_stmt *st, const struct db_arg *args,
                 int (*row)(void *ctx, sqlite3_stmt *st), void *ctx) {
  int rc;

  if (db_bind_args(db, st, args) != 0) return -1;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (row(ctx, st) != 0) break; /* stopped early: rc stays SQLITE_ROW */
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_fail_release(db, st);
  db_stmt_release(st);
  return 0;
}

int db_column_dup(struct db *db, sqlite3_stmt *st, int col, unsigned char **out, size_t *len) {
  const void *p = sqlite3_column_blob(st, col);
  size_t n = (size_t)sqlite3_column_bytes(st, col);
  unsigned char *copy = malloc(n + 1);

  if (!copy) return db_fail_msg(db, 0, "out of memory");
  if (n) memcpy(copy, p, n);
  copy[n] = '\0';
  *out = copy;
  if (len) *len = n;
  return 0;
}
