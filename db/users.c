/* users.c -- students, the teacher, and their logins.
 *
 * A user is created once (join, or the first teacher login) and looked up
 * by name or id. A login is the SHA-256 of a session cookie with an expiry;
 * the cookie itself is never stored. Names compare without regard to case,
 * as the schema's NOCASE collation decides, so every lookup by name goes
 * through the column's own collation.
 */
#include "db_internal.h"
#include "portlab_limits.h"

/* The user columns in the order user_from_row() reads them: id, name,
 * role, lab_password. */
static void user_from_row(sqlite3_stmt *st, struct db_user *out) {
  out->id = sqlite3_column_int64(st, 0);
  /* The schema's CHECKs keep these within the struct's arrays. */
  db_column_copy(st, 1, out->name, sizeof out->name);
  db_column_copy(st, 2, out->role, sizeof out->role);
  db_column_copy(st, 3, out->lab_password, sizeof out->lab_password);
}

DB_ROW_GET(user, struct db_user, user_from_row)

int db_user_create(struct db *db, const char *name, const char *role, const char *lab_password,
                   const char *rejoin_hash, int64_t *id_out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USER_CREATE,
                             "INSERT INTO users(name, role, lab_password, rejoin_hash) "
                             "VALUES (?1, ?2, ?3, ?4)");
  int rc;

  /* A NULL rejoin_hash binds SQL NULL: none. */
  if (db_bind_args(db, st,
                   DB_ARGS(DB_TEXT(name), DB_TEXT(role), DB_TEXT(lab_password ? lab_password : ""),
                           DB_TEXT(rejoin_hash))) != 0)
    return -1;
  rc = sqlite3_step(st);
  if (rc == SQLITE_CONSTRAINT_UNIQUE) {
    db_fail(db);
    db_stmt_release(st);
    return 1;
  }
  if (rc != SQLITE_DONE) return db_fail_release(db, st);
  if (id_out) *id_out = sqlite3_last_insert_rowid(db->conn);
  db_stmt_release(st);
  return 0;
}

int db_user_by_name(struct db *db, const char *name, struct db_user *out, char *rejoin_hash_out,
                    size_t hashlen) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USER_BY_NAME,
                             "SELECT id, name, role, lab_password, rejoin_hash "
                             "FROM users WHERE name = ?1");
  int rc;

  if ((rc = db_exec_row(db, st, DB_ARGS(DB_TEXT(name)))) != 0) return rc;
  user_from_row(st, out);
  /* A cut-off hash would never match, and the caller would blame the
   * student's rejoin code. */
  if (rejoin_hash_out && db_column_copy(st, 4, rejoin_hash_out, hashlen) != 0) {
    db_stmt_release(st);
    return db_fail_msg(db, 1, "rejoin hash longer than the caller's buffer");
  }
  db_stmt_release(st);
  return 0;
}

int db_user_by_id(struct db *db, int64_t id, struct db_user *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_USER_BY_ID,
                             "SELECT id, name, role, lab_password FROM users WHERE id = ?1");
  return user_get(db, st, DB_ARGS(DB_INT(id)), out);
}

int64_t db_user_count_active(struct db *db, const char *role, const char *except) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_USER_COUNT_ACTIVE,
              "SELECT count(*) FROM users WHERE role = ?1 AND name <> ?2 AND removed_at IS NULL");
  int64_t n;

  /* count(*) always answers one row. */
  if (db_exec_int(db, st, DB_ARGS(DB_TEXT(role), DB_TEXT(except ? except : "")), &n) != 0)
    return -1;
  return n;
}

/* A rejoin or a teacher login needs no new name, so a script that knows
 * its code could log in without end; each insert therefore deletes the
 * user's logins but the newest LIM_LOGINS_PER_USER, the new one always
 * kept. The index logins_user makes the trim a walk of that many rows. */
int db_login_create(struct db *db, const unsigned char token_hash[32], int64_t user_id,
                    int64_t expires_unix) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LOGIN_CREATE,
                             "INSERT INTO logins(token_hash, user_id, expires_at) "
                             "VALUES (?1, ?2, ?3)");

  if (db_exec_done(db, st,
                   DB_ARGS(DB_BLOB(token_hash, 32), DB_INT(user_id), DB_INT(expires_unix))) != 0)
    return -1;
  st = db_stmt(db, DB_STMT_LOGIN_TRIM,
               "DELETE FROM logins WHERE user_id = ?1 AND token_hash NOT IN "
               "(SELECT token_hash FROM logins WHERE user_id = ?1 "
               "ORDER BY token_hash = ?2 DESC, expires_at DESC LIMIT ?3)");
  /* The login works either way: a failed trim is done by the next. */
  db_exec_done(db, st,
               DB_ARGS(DB_INT(user_id), DB_BLOB(token_hash, 32), DB_INT(LIM_LOGINS_PER_USER)));
  return 0;
}

int db_login_lookup(struct db *db, const unsigned char token_hash[32], int64_t now_unix,
                    struct db_user *out) {
  /* An expired row is treated as absent here and removed later by
   * db_login_purge(), so a lookup never has to write. */
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_LOGIN_LOOKUP,
              "SELECT u.id, u.name, u.role, u.lab_password "
              "FROM logins l JOIN users u ON u.id = l.user_id "
              "WHERE l.token_hash = ?1 AND l.expires_at > ?2 AND u.removed_at IS NULL");
  return user_get(db, st, DB_ARGS(DB_BLOB(token_hash, 32), DB_INT(now_unix)), out);
}

int db_login_delete(struct db *db, const unsigned char token_hash[32]) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LOGIN_DELETE, "DELETE FROM logins WHERE token_hash = ?1");

  return db_exec_done(db, st, DB_ARGS(DB_BLOB(token_hash, 32)));
}

int db_login_purge(struct db *db, int64_t now_unix) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LOGIN_PURGE, "DELETE FROM logins WHERE expires_at <= ?1");

  if (db_exec_done(db, st, DB_ARGS(DB_INT(now_unix))) != 0) return -1;
  return sqlite3_changes(db->conn);
}
