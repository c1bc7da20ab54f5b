/* class.c -- the teacher's class: roster, student management, refusal and audit logs.
 *
 * The roster is every student who joined and was not removed, from the
 * moment they join, whether or not they ever scored. Removing a student
 * keeps their row (their transcripts name them) but refuses every login.
 * The refusal log keeps the newest few refusals per student: a student
 * who sends a thousand refused opens costs a few rows, because a repeat
 * of the newest entry only counts up, and older rows are trimmed.
 */
#include "class.h"

#include <string.h>

#include "db_internal.h"

static void roster_from_row(sqlite3_stmt *st, struct db_roster_entry *e) {
  e->id = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, e->name, sizeof e->name);
  e->joined_at = sqlite3_column_int64(st, 2);
  e->last_seen_at = sqlite3_column_int64(st, 3);
}

DB_ROW_WALK(roster, struct db_roster_entry, roster_from_row)
DB_ROW_GET(roster, struct db_roster_entry, roster_from_row)

int db_roster_list(struct db *db, const char *except,
                   int (*cb)(void *arg, const struct db_roster_entry *e), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_ROSTER_LIST,
                             "SELECT id, name, created_at, coalesce(last_seen_at, 0) FROM users "
                             "WHERE role = 'student' AND removed_at IS NULL AND name <> ?1 "
                             "ORDER BY name");
  return db_exec_rows(db, st, DB_ARGS(DB_TEXT(except ? except : "")), roster_row,
                      &(struct roster_walk){cb, arg});
}

int db_roster_get(struct db *db, int64_t id, const char *except, struct db_roster_entry *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_ROSTER_GET,
                             "SELECT id, name, created_at, coalesce(last_seen_at, 0) FROM users "
                             "WHERE id = ?1 AND role = 'student' AND removed_at IS NULL "
                             "AND name <> ?2");
  return roster_get(db, st, DB_ARGS(DB_INT(id), DB_TEXT(except ? except : "")), out);
}

int db_user_seen(struct db *db, int64_t user_id, int64_t now_unix) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USER_SEEN,
                             "UPDATE users SET last_seen_at = ?2 WHERE id = ?1 "
                             "AND coalesce(last_seen_at, 0) <= ?2 - ?3");
  return db_exec_done(db, st,
                      DB_ARGS(DB_INT(user_id), DB_INT(now_unix), DB_INT(DB_SEEN_GRANULARITY)));
}

int db_user_removed(struct db *db, int64_t user_id) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_USER_REMOVED, "SELECT removed_at IS NOT NULL FROM users WHERE id = ?1");
  int64_t removed = 0; /* no such user reads as not removed */
  if (db_exec_int(db, st, DB_ARGS(DB_INT(user_id)), &removed) < 0) return -1;
  return (int)removed;
}

int db_user_remove(struct db *db, int64_t user_id, int64_t now_unix) {
  /* The lab password goes too: the lab servers refuse an empty one. */
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USER_REMOVE,
                             "UPDATE users SET removed_at = ?2, lab_password = '', "
                             "rejoin_hash = NULL WHERE id = ?1 AND role = 'student'");
  if (db_exec_done(db, st, DB_ARGS(DB_INT(user_id), DB_INT(now_unix)))) return -1;
  return db_login_delete_user(db, user_id) < 0 ? -1 : 0;
}

int db_user_set_rejoin(struct db *db, int64_t user_id, const char *rejoin_hash) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_USER_SET_REJOIN,
              "UPDATE users SET rejoin_hash = ?2 WHERE id = ?1 AND role = 'student'");
  return db_exec_done(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(rejoin_hash)));
}

int db_login_delete_user(struct db *db, int64_t user_id) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_LOGIN_DELETE_USER, "DELETE FROM logins WHERE user_id = ?1");
  if (db_exec_done(db, st, DB_ARGS(DB_INT(user_id)))) return -1;
  return sqlite3_changes(db->conn);
}

/* Runs one cached statement that takes the user id as ?1 and returns no
 * rows. */
static int exec_user(struct db *db, enum db_stmt_id id, const char *sql, int64_t user_id) {
  return db_exec_done(db, db_stmt(db, id, sql), DB_ARGS(DB_INT(user_id)));
}

int db_sessions_purge_user(struct db *db, int64_t user_id) {
  int n;
  if (db_begin(db)) return -1;
  if (exec_user(db, DB_STMT_PURGE_SESSIONS, "DELETE FROM sessions WHERE user_id = ?1", user_id))
    goto fail;
  n = sqlite3_changes(db->conn);
  if (exec_user(db, DB_STMT_PURGE_USAGE,
                "UPDATE student_usage SET recorded_bytes = 0 WHERE user_id = ?1", user_id) ||
      db_commit(db))
    goto fail;
  return n;
fail:
  db_rollback(db);
  return -1;
}

int db_lab_data_clear(struct db *db, int64_t user_id) {
  if (db_begin(db)) return -1;
  /* Messages go with their mailboxes (ON DELETE CASCADE). */
  if (exec_user(db, DB_STMT_CLEAR_MAILBOXES, "DELETE FROM lab_mailboxes WHERE user_id = ?1",
                user_id) ||
      exec_user(db, DB_STMT_CLEAR_FILES, "DELETE FROM lab_files WHERE owner = ?1", user_id) ||
      exec_user(db, DB_STMT_CLEAR_SEEDED, "DELETE FROM lab_seeded WHERE owner = ?1", user_id) ||
      db_commit(db)) {
    db_rollback(db);
    return -1;
  }
  return 0;
}

int db_refusal_add(struct db *db, int64_t user_id, int64_t at_us, const char *code,
                   const char *target, const char *message, int64_t n, int keep) {
  sqlite3_stmt *st;
  int rc;
  if (db_begin(db)) return -1;
  st = db_stmt(db, DB_STMT_REFUSAL_MERGE,
               "UPDATE student_refusals SET count = count + ?7, at_us = ?2, message = ?5 "
               "WHERE id = (SELECT max(id) FROM student_refusals WHERE user_id = ?1) "
               "AND code = ?3 AND target = ?4 AND at_us >= ?2 - ?6");
  rc = db_exec_changed(
      db, st,
      DB_ARGS(DB_INT(user_id), DB_INT(at_us), DB_TEXT(code), DB_TEXT(target), DB_TEXT(message),
              DB_INT(DB_REFUSAL_MERGE_SECS * 1000000LL), DB_INT(n)));
  if (rc < 0) goto fail;
  if (rc == 1) { /* nothing to merge with: a new row, and the oldest go */
    st = db_stmt(db, DB_STMT_REFUSAL_INSERT,
                 "INSERT INTO student_refusals(user_id, at_us, code, target, message, count) "
                 "VALUES (?1, ?2, substr(?3, 1, 31), substr(?4, 1, 299), substr(?5, 1, 512), ?6)");
    if (db_exec_done(db, st,
                     DB_ARGS(DB_INT(user_id), DB_INT(at_us), DB_TEXT(code), DB_TEXT(target),
                             DB_TEXT(message), DB_INT(n))))
      goto fail;
    st = db_stmt(db, DB_STMT_REFUSAL_TRIM,
                 "DELETE FROM student_refusals WHERE user_id = ?1 AND id NOT IN "
                 "(SELECT id FROM student_refusals WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2)");
    if (db_exec_done(db, st, DB_ARGS(DB_INT(user_id), DB_INT(keep)))) goto fail;
  }
  if (db_commit(db)) goto fail;
  return 0;
fail:
  db_rollback(db);
  return -1;
}

static void refusal_from_row(sqlite3_stmt *st, struct db_refusal *r) {
  r->at_us = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, r->code, sizeof r->code);
  db_column_copy(st, 2, r->target, sizeof r->target);
  db_column_copy(st, 3, r->message, sizeof r->message);
  r->count = sqlite3_column_int64(st, 4);
}

DB_ROW_WALK(refusal, struct db_refusal, refusal_from_row)

int db_refusal_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_refusal *r), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_REFUSAL_LIST,
                             "SELECT at_us, code, target, message, count FROM student_refusals "
                             "WHERE user_id = ?1 ORDER BY id DESC");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(user_id)), refusal_row,
                      &(struct refusal_walk){cb, arg});
}

int db_audit_add(struct db *db, int64_t at_us, const char *actor, const char *action,
                 const char *student, const char *detail) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_AUDIT_ADD,
                             "INSERT INTO audit_log(at_us, actor, action, student, detail) "
                             "VALUES (?1, ?2, ?3, ?4, substr(?5, 1, 1024))");
  return db_exec_done(db, st,
                      DB_ARGS(DB_INT(at_us), DB_TEXT(actor), DB_TEXT(action),
                              DB_TEXT(student ? student : ""), DB_TEXT(detail ? detail : "")));
}

static void audit_from_row(sqlite3_stmt *st, struct db_audit *a) {
  a->id = sqlite3_column_int64(st, 0);
  a->at_us = sqlite3_column_int64(st, 1);
  db_column_copy(st, 2, a->actor, sizeof a->actor);
  db_column_copy(st, 3, a->action, sizeof a->action);
  db_column_copy(st, 4, a->student, sizeof a->student);
  db_column_copy(st, 5, a->detail, sizeof a->detail);
}

DB_ROW_WALK(audit, struct db_audit, audit_from_row)

int db_audit_list(struct db *db, int limit, int (*cb)(void *arg, const struct db_audit *a),
                  void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_AUDIT_LIST,
                             "SELECT id, at_us, actor, action, student, detail FROM audit_log "
                             "ORDER BY id DESC LIMIT ?1");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(limit)), audit_row, &(struct audit_walk){cb, arg});
}

#define SETTING_HINTS_COST "hints_cost_points"

int db_class_hints_cost(struct db *db, int *on) {
  char v[8];
  int rc = db_setting_get(db, SETTING_HINTS_COST, v, sizeof v);

  *on = 0;
  if (rc < 0) return -1;
  if (rc == 0) *on = strcmp(v, "1") == 0;
  return 0;
}

int db_class_set_hints_cost(struct db *db, int on) {
  return db_setting_set(db, SETTING_HINTS_COST, on ? "1" : "0");
}
