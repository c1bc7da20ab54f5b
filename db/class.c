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

static int bind_fail(struct db *db, sqlite3_stmt *st) {
  db_fail(db);
  db_stmt_release(st);
  return -1;
}

static void roster_from_row(sqlite3_stmt *st, struct db_roster_entry *e) {
  e->id = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, e->name, sizeof e->name);
  e->joined_at = sqlite3_column_int64(st, 2);
  e->last_seen_at = sqlite3_column_int64(st, 3);
}

int db_roster_list(struct db *db, const char *except,
                   int (*cb)(void *arg, const struct db_roster_entry *e), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_ROSTER_LIST,
                             "SELECT id, name, created_at, coalesce(last_seen_at, 0) FROM users "
                             "WHERE role = 'student' AND removed_at IS NULL AND name <> ?1 "
                             "ORDER BY name");
  int rc;
  struct db_roster_entry e;
  if (!st) return -1;
  if (sqlite3_bind_text(st, 1, except ? except : "", -1, SQLITE_STATIC) != SQLITE_OK)
    return bind_fail(db, st);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    roster_from_row(st, &e);
    if (cb(arg, &e)) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return bind_fail(db, st);
  db_stmt_release(st);
  return 0;
}

int db_roster_get(struct db *db, int64_t id, const char *except, struct db_roster_entry *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_ROSTER_GET,
                             "SELECT id, name, created_at, coalesce(last_seen_at, 0) FROM users "
                             "WHERE id = ?1 AND role = 'student' AND removed_at IS NULL "
                             "AND name <> ?2");
  int rc;
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, except ? except : "", -1, SQLITE_STATIC) != SQLITE_OK)
    return bind_fail(db, st);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) roster_from_row(st, out);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return bind_fail(db, st);
  db_stmt_release(st);
  return rc == SQLITE_ROW ? 0 : 1;
}

int db_user_seen(struct db *db, int64_t user_id, int64_t now_unix) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USER_SEEN,
                             "UPDATE users SET last_seen_at = ?2 WHERE id = ?1 "
                             "AND coalesce(last_seen_at, 0) <= ?2 - ?3");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, now_unix) != SQLITE_OK ||
      sqlite3_bind_int(st, 3, DB_SEEN_GRANULARITY) != SQLITE_OK)
    return bind_fail(db, st);
  return db_step_done(db, st);
}

int db_user_removed(struct db *db, int64_t user_id) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_USER_REMOVED, "SELECT removed_at IS NOT NULL FROM users WHERE id = ?1");
  int rc, removed = 0;
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK) return bind_fail(db, st);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) removed = sqlite3_column_int(st, 0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return bind_fail(db, st);
  db_stmt_release(st);
  return removed;
}

int db_user_remove(struct db *db, int64_t user_id, int64_t now_unix) {
  /* The lab password goes too: the lab servers refuse an empty one. */
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USER_REMOVE,
                             "UPDATE users SET removed_at = ?2, lab_password = '', "
                             "rejoin_hash = NULL WHERE id = ?1 AND role = 'student'");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, now_unix) != SQLITE_OK)
    return bind_fail(db, st);
  if (db_step_done(db, st)) return -1;
  return db_login_delete_user(db, user_id) < 0 ? -1 : 0;
}

int db_user_set_rejoin(struct db *db, int64_t user_id, const char *rejoin_hash) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_USER_SET_REJOIN,
              "UPDATE users SET rejoin_hash = ?2 WHERE id = ?1 AND role = 'student'");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, rejoin_hash, -1, SQLITE_STATIC) != SQLITE_OK)
    return bind_fail(db, st);
  return db_step_done(db, st);
}

int db_login_delete_user(struct db *db, int64_t user_id) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_LOGIN_DELETE_USER, "DELETE FROM logins WHERE user_id = ?1");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK) return bind_fail(db, st);
  if (db_step_done(db, st)) return -1;
  return sqlite3_changes(db->conn);
}

/* Runs one cached statement that takes the user id as ?1 and returns no
 * rows. */
static int exec_user(struct db *db, enum db_stmt_id id, const char *sql, int64_t user_id) {
  sqlite3_stmt *st = db_stmt(db, id, sql);
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK) return bind_fail(db, st);
  return db_step_done(db, st);
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
  if (db_begin(db)) return -1;
  st = db_stmt(db, DB_STMT_REFUSAL_MERGE,
               "UPDATE student_refusals SET count = count + ?7, at_us = ?2, message = ?5 "
               "WHERE id = (SELECT max(id) FROM student_refusals WHERE user_id = ?1) "
               "AND code = ?3 AND target = ?4 AND at_us >= ?2 - ?6");
  if (!st) goto fail;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, at_us) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, code, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 5, message, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 6, DB_REFUSAL_MERGE_SECS * 1000000LL) != SQLITE_OK ||
      sqlite3_bind_int64(st, 7, n) != SQLITE_OK) {
    bind_fail(db, st);
    goto fail;
  }
  if (db_step_done(db, st)) goto fail;
  if (sqlite3_changes(db->conn) == 0) {
    st = db_stmt(db, DB_STMT_REFUSAL_INSERT,
                 "INSERT INTO student_refusals(user_id, at_us, code, target, message, count) "
                 "VALUES (?1, ?2, substr(?3, 1, 31), substr(?4, 1, 299), substr(?5, 1, 512), ?6)");
    if (!st) goto fail;
    if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, at_us) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, code, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, target, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 5, message, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 6, n) != SQLITE_OK) {
      bind_fail(db, st);
      goto fail;
    }
    if (db_step_done(db, st)) goto fail;
    st = db_stmt(db, DB_STMT_REFUSAL_TRIM,
                 "DELETE FROM student_refusals WHERE user_id = ?1 AND id NOT IN "
                 "(SELECT id FROM student_refusals WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2)");
    if (!st) goto fail;
    if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, keep) != SQLITE_OK) {
      bind_fail(db, st);
      goto fail;
    }
    if (db_step_done(db, st)) goto fail;
  }
  if (db_commit(db)) goto fail;
  return 0;
fail:
  db_rollback(db);
  return -1;
}

int db_refusal_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_refusal *r), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_REFUSAL_LIST,
                             "SELECT at_us, code, target, message, count FROM student_refusals "
                             "WHERE user_id = ?1 ORDER BY id DESC");
  int rc;
  struct db_refusal r;
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK) return bind_fail(db, st);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    r.at_us = sqlite3_column_int64(st, 0);
    db_column_copy(st, 1, r.code, sizeof r.code);
    db_column_copy(st, 2, r.target, sizeof r.target);
    db_column_copy(st, 3, r.message, sizeof r.message);
    r.count = sqlite3_column_int64(st, 4);
    if (cb(arg, &r)) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return bind_fail(db, st);
  db_stmt_release(st);
  return 0;
}

int db_audit_add(struct db *db, int64_t at_us, const char *actor, const char *action,
                 const char *student, const char *detail) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_AUDIT_ADD,
                             "INSERT INTO audit_log(at_us, actor, action, student, detail) "
                             "VALUES (?1, ?2, ?3, ?4, substr(?5, 1, 1024))");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, at_us) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 4, student ? student : "", -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 5, detail ? detail : "", -1, SQLITE_STATIC) != SQLITE_OK)
    return bind_fail(db, st);
  return db_step_done(db, st);
}

int db_audit_list(struct db *db, int limit, int (*cb)(void *arg, const struct db_audit *a),
                  void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_AUDIT_LIST,
                             "SELECT id, at_us, actor, action, student, detail FROM audit_log "
                             "ORDER BY id DESC LIMIT ?1");
  int rc;
  struct db_audit a;
  if (!st) return -1;
  if (sqlite3_bind_int(st, 1, limit) != SQLITE_OK) return bind_fail(db, st);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    a.id = sqlite3_column_int64(st, 0);
    a.at_us = sqlite3_column_int64(st, 1);
    db_column_copy(st, 2, a.actor, sizeof a.actor);
    db_column_copy(st, 3, a.action, sizeof a.action);
    db_column_copy(st, 4, a.student, sizeof a.student);
    db_column_copy(st, 5, a.detail, sizeof a.detail);
    if (cb(arg, &a)) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return bind_fail(db, st);
  db_stmt_release(st);
  return 0;
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
