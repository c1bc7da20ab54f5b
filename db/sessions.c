/* sessions.c -- relay sessions: one row per WebSocket-to-TCP connection.
 *
 * A session row is written when the relay opens and finished when it
 * closes, usually through the recorder so the end lands after the last
 * event. A row left without an end means the process died; at start,
 * db_session_close_orphans() rebuilds what the relay would have written
 * from the events that did reach the disk.
 */
#include "db_internal.h"

#define SESSION_COLUMNS                                                         \
  "s.id, s.user_id, u.name, s.host, s.port, s.mode, s.started_us, s.ended_us, " \
  "s.bytes_up, s.bytes_down, s.close_reason, s.own_client, s.client_addr, "     \
  "coalesce(s.parent_id, 0), s.label, s.tls "                                   \
  "FROM sessions s JOIN users u ON u.id = s.user_id "

static void session_from_row(sqlite3_stmt *st, struct db_session *out) {
  out->id = sqlite3_column_int64(st, 0);
  out->user_id = sqlite3_column_int64(st, 1);
  db_column_copy(st, 2, out->user_name, sizeof out->user_name);
  db_column_copy(st, 3, out->host, sizeof out->host);
  out->port = sqlite3_column_int(st, 4);
  db_column_copy(st, 5, out->mode, sizeof out->mode);
  out->started_us = sqlite3_column_int64(st, 6);
  /* NULL (still open) reads as 0, which is what the struct promises. */
  out->ended_us = sqlite3_column_int64(st, 7);
  out->bytes_up = sqlite3_column_int64(st, 8);
  out->bytes_down = sqlite3_column_int64(st, 9);
  /* Reasons are short words; a longer one is only ever shown, so cutting
   * it to fit is harmless. */
  db_column_copy(st, 10, out->close_reason, sizeof out->close_reason);
  out->own_client = sqlite3_column_int(st, 11);
  db_column_copy(st, 12, out->client_addr, sizeof out->client_addr);
  out->parent_id = sqlite3_column_int64(st, 13);
  db_column_copy(st, 14, out->label, sizeof out->label);
  db_column_copy(st, 15, out->tls, sizeof out->tls);
}

DB_ROW_WALK(session, struct db_session, session_from_row)
DB_ROW_GET(session, struct db_session, session_from_row)

/* Every session row starts here: a relay session (own 0), an own client's
 * conversation with the lab (own 1), or its FTP data connection (own 1,
 * parent_id and label set; a parent_id of 0 is stored as NULL). */
static int session_insert(struct db *db, int64_t user_id, const char *host, int port,
                          const char *mode, int64_t started_us, int own, const char *client_addr,
                          int64_t parent_id, const char *label, int64_t *id_out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SESSION_CREATE,
                             "INSERT INTO sessions(user_id, host, port, mode, started_us, "
                             "own_client, client_addr, parent_id, label) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, nullif(?8, 0), ?9)");

  return db_exec_insert(
      db, st,
      DB_ARGS(DB_INT(user_id), DB_TEXT(host), DB_INT(port), DB_TEXT(mode), DB_INT(started_us),
              DB_INT(own), DB_TEXT(client_addr ? client_addr : ""), DB_INT(parent_id),
              DB_TEXT(label ? label : "")),
      id_out);
}

int db_session_create(struct db *db, int64_t user_id, const char *host, int port, const char *mode,
                      int64_t started_us, int64_t *id_out) {
  return session_insert(db, user_id, host, port, mode, started_us, 0, NULL, 0, NULL, id_out);
}

int db_session_create_own(struct db *db, int64_t user_id, const char *host, int port,
                          const char *mode, const char *client_addr, int64_t started_us,
                          int64_t *id_out) {
  return session_insert(db, user_id, host, port, mode, started_us, 1, client_addr, 0, NULL, id_out);
}

int db_session_create_data(struct db *db, int64_t user_id, const char *host, int port,
                           const char *client_addr, int64_t started_us, int64_t parent_id,
                           const char *label, int64_t *id_out) {
  return session_insert(db, user_id, host, port, "raw", started_us, 1, client_addr, parent_id,
                        label, id_out);
}

int db_session_set_label(struct db *db, int64_t id, const char *label) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_SESSION_SET_LABEL, "UPDATE sessions SET label = ?2 WHERE id = ?1");

  return db_exec_done(db, st, DB_ARGS(DB_INT(id), DB_TEXT(label ? label : "")));
}

int db_session_set_user(struct db *db, int64_t id, int64_t user_id) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_SESSION_SET_USER, "UPDATE sessions SET user_id = ?2 WHERE id = ?1");

  return db_exec_done(db, st, DB_ARGS(DB_INT(id), DB_INT(user_id)));
}

int db_session_set_tls(struct db *db, int64_t id, const char *tls) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_SESSION_SET_TLS, "UPDATE sessions SET tls = ?2 WHERE id = ?1");

  return db_exec_done(db, st, DB_ARGS(DB_INT(id), DB_TEXT(tls)));
}

int db_session_keylog_add(struct db *db, int64_t id, const char *lines) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_KEYLOG_ADD,
                             "INSERT INTO session_keys(session_id, keylog) VALUES (?1, ?2) "
                             "ON CONFLICT(session_id) DO UPDATE SET keylog = keylog || ?2");

  return db_exec_done(db, st, DB_ARGS(DB_INT(id), DB_TEXT(lines)));
}

int db_session_keylog_get(struct db *db, int64_t id, char *out, size_t outlen) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_KEYLOG_GET, "SELECT keylog FROM session_keys WHERE session_id = ?1");
  int rc;

  if ((rc = db_exec_row(db, st, DB_ARGS(DB_INT(id)))) != 0) return rc;
  db_column_copy(st, 0, out, outlen);
  db_stmt_release(st);
  return 0;
}

int db_first_teacher(struct db *db, int64_t *id) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_FIRST_TEACHER,
                             "SELECT id FROM users WHERE role = 'teacher' ORDER BY id LIMIT 1");

  return db_exec_int(db, st, NULL, id);
}

int db_session_finish(struct db *db, int64_t id, int64_t ended_us, int64_t bytes_up,
                      int64_t bytes_down, const char *reason) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SESSION_FINISH,
                             "UPDATE sessions SET ended_us = ?2, bytes_up = ?3, bytes_down = ?4, "
                             "close_reason = ?5 WHERE id = ?1");

  return db_exec_done(db, st,
                      DB_ARGS(DB_INT(id), DB_INT(ended_us), DB_INT(bytes_up), DB_INT(bytes_down),
                              DB_TEXT(reason ? reason : "")));
}

int db_session_close_orphans(struct db *db, const char *reason) {
  /* One statement, so a crash during recovery leaves every orphan either
   * fixed or still open for the next start. The events primary key
   * (session_id, seq) serves each correlated subquery. */
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_SESSION_ORPHANS,
              "UPDATE sessions SET "
              "ended_us = started_us + coalesce("
              "  (SELECT max(e.t_us) FROM events e WHERE e.session_id = sessions.id), 0), "
              "bytes_up = (SELECT coalesce(sum(length(e.data)), 0) FROM events e "
              "  WHERE e.session_id = sessions.id AND e.dir = 1 AND e.layer = 0), "
              "bytes_down = (SELECT coalesce(sum(length(e.data)), 0) FROM events e "
              "  WHERE e.session_id = sessions.id AND e.dir = 2 AND e.layer = 0), "
              "close_reason = ?1 "
              "WHERE ended_us IS NULL");

  if (db_exec_done(db, st, DB_ARGS(DB_TEXT(reason ? reason : ""))) != 0) return -1;
  return sqlite3_changes(db->conn);
}

int db_session_get(struct db *db, int64_t id, struct db_session *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SESSION_GET, "SELECT " SESSION_COLUMNS "WHERE s.id = ?1");
  return session_get(db, st, DB_ARGS(DB_INT(id)), out);
}

/* The callback may call other db functions, but not db_session_list
 * itself: that would reset the statement being walked. */
int db_session_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_session *s), void *arg) {
  sqlite3_stmt *st;

  /* Two statements rather than "?1 = 0 OR user_id = ?1", which would keep
   * the planner from using the per-user index. id breaks ties between
   * sessions opened in the same microsecond. */
  if (user_id == 0) {
    st = db_stmt(db, DB_STMT_SESSION_LIST_ALL,
                 "SELECT " SESSION_COLUMNS "ORDER BY s.started_us DESC, s.id DESC");
  } else {
    st = db_stmt(db, DB_STMT_SESSION_LIST_USER,
                 "SELECT " SESSION_COLUMNS
                 "WHERE s.user_id = ?1 ORDER BY s.started_us DESC, s.id DESC");
  }
  /* The first statement takes no parameter at all. */
  return db_exec_rows(db, st, user_id ? DB_ARGS(DB_INT(user_id)) : NULL, session_row,
                      &(struct session_walk){cb, arg});
}

/* The same order as db_session_list, continued from a row value: the
 * (started_us, id) comparison is a range on the started indexes, so a page
 * costs its own rows whatever page it is. Same callback contract. */
int db_session_page(struct db *db, int64_t user_id, int64_t before_us, int64_t before_id, int limit,
                    int (*cb)(void *arg, const struct db_session *s), void *arg) {
  sqlite3_stmt *st;

  /* The first statement has no ?1: the 0 bound there is never read. */
  if (user_id == 0) {
    st = db_stmt(db, DB_STMT_SESSION_PAGE_ALL,
                 "SELECT " SESSION_COLUMNS
                 "WHERE (s.started_us, s.id) < (?2, ?3) "
                 "ORDER BY s.started_us DESC, s.id DESC LIMIT ?4");
  } else {
    st = db_stmt(db, DB_STMT_SESSION_PAGE_USER,
                 "SELECT " SESSION_COLUMNS
                 "WHERE s.user_id = ?1 AND (s.started_us, s.id) < (?2, ?3) "
                 "ORDER BY s.started_us DESC, s.id DESC LIMIT ?4");
  }
  return db_exec_rows(db, st,
                      DB_ARGS(DB_INT(user_id), DB_INT(before_us), DB_INT(before_id), DB_INT(limit)),
                      session_row, &(struct session_walk){cb, arg});
}
