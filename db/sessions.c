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

/* Every session row starts here: a relay session (own 0), an own client's
 * conversation with the lab (own 1), or its FTP data connection (own 1,
 * parent_id and label set). */
static int session_insert(struct db *db, int64_t user_id, const char *host, int port,
                          const char *mode, int64_t started_us, int own, const char *client_addr,
                          int64_t parent_id, const char *label, int64_t *id_out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SESSION_CREATE,
                             "INSERT INTO sessions(user_id, host, port, mode, started_us, "
                             "own_client, client_addr, parent_id, label) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, host, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int(st, 3, port) != SQLITE_OK ||
      sqlite3_bind_text(st, 4, mode, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 5, started_us) != SQLITE_OK ||
      sqlite3_bind_int(st, 6, own) != SQLITE_OK ||
      sqlite3_bind_text(st, 7, client_addr ? client_addr : "", -1, SQLITE_STATIC) != SQLITE_OK ||
      (parent_id ? sqlite3_bind_int64(st, 8, parent_id) : sqlite3_bind_null(st, 8)) != SQLITE_OK ||
      sqlite3_bind_text(st, 9, label ? label : "", -1, SQLITE_STATIC) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  if (db_step_done(db, st) != 0) return -1;
  if (id_out) *id_out = sqlite3_last_insert_rowid(db->conn);
  return 0;
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

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, label ? label : "", -1, SQLITE_STATIC) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
}

int db_session_set_user(struct db *db, int64_t id, int64_t user_id) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_SESSION_SET_USER, "UPDATE sessions SET user_id = ?2 WHERE id = ?1");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, user_id) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
}

int db_session_set_tls(struct db *db, int64_t id, const char *tls) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_SESSION_SET_TLS, "UPDATE sessions SET tls = ?2 WHERE id = ?1");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, tls, -1, SQLITE_STATIC) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
}

int db_session_keylog_add(struct db *db, int64_t id, const char *lines) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_KEYLOG_ADD,
                             "INSERT INTO session_keys(session_id, keylog) VALUES (?1, ?2) "
                             "ON CONFLICT(session_id) DO UPDATE SET keylog = keylog || ?2");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, lines, -1, SQLITE_STATIC) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
}

int db_session_keylog_get(struct db *db, int64_t id, char *out, size_t outlen) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_KEYLOG_GET, "SELECT keylog FROM session_keys WHERE session_id = ?1");
  int rc;

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK) goto fail;
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    db_stmt_release(st);
    return 1;
  }
  if (rc != SQLITE_ROW) goto fail;
  db_column_copy(st, 0, out, outlen);
  db_stmt_release(st);
  return 0;

fail:
  db_fail(db);
  db_stmt_release(st);
  return -1;
}

int db_first_teacher(struct db *db, int64_t *id) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_FIRST_TEACHER,
                             "SELECT id FROM users WHERE role = 'teacher' ORDER BY id LIMIT 1");
  int rc;

  if (!st) return -1;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) *id = sqlite3_column_int64(st, 0);
  db_stmt_release(st);
  if (rc == SQLITE_ROW) return 0;
  if (rc == SQLITE_DONE) return 1;
  return -1;
}

int db_session_finish(struct db *db, int64_t id, int64_t ended_us, int64_t bytes_up,
                      int64_t bytes_down, const char *reason) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SESSION_FINISH,
                             "UPDATE sessions SET ended_us = ?2, bytes_up = ?3, bytes_down = ?4, "
                             "close_reason = ?5 WHERE id = ?1");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK ||
      sqlite3_bind_int64(st, 2, ended_us) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, bytes_up) != SQLITE_OK ||
      sqlite3_bind_int64(st, 4, bytes_down) != SQLITE_OK ||
      sqlite3_bind_text(st, 5, reason ? reason : "", -1, SQLITE_STATIC) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
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

  if (!st) return -1;
  if (sqlite3_bind_text(st, 1, reason ? reason : "", -1, SQLITE_STATIC) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  if (db_step_done(db, st) != 0) return -1;
  return sqlite3_changes(db->conn);
}

int db_session_get(struct db *db, int64_t id, struct db_session *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SESSION_GET, "SELECT " SESSION_COLUMNS "WHERE s.id = ?1");
  int rc;

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, id) != SQLITE_OK) goto fail;
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    db_stmt_release(st);
    return 1;
  }
  if (rc != SQLITE_ROW) goto fail;
  session_from_row(st, out);
  db_stmt_release(st);
  return 0;

fail:
  db_fail(db);
  db_stmt_release(st);
  return -1;
}

/* The callback may call other db functions, but not db_session_list
 * itself: that would reset the statement being walked. */
int db_session_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_session *s), void *arg) {
  sqlite3_stmt *st;
  struct db_session s;
  int rc;

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
  if (!st) return -1;
  if (user_id != 0 && sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK) goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    session_from_row(st, &s);
    if (cb(arg, &s) != 0) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;
  db_stmt_release(st);
  return 0;

fail:
  db_fail(db);
  db_stmt_release(st);
  return -1;
}

/* The same order as db_session_list, continued from a row value: the
 * (started_us, id) comparison is a range on the started indexes, so a page
 * costs its own rows whatever page it is. Same callback contract. */
int db_session_page(struct db *db, int64_t user_id, int64_t before_us, int64_t before_id, int limit,
                    int (*cb)(void *arg, const struct db_session *s), void *arg) {
  sqlite3_stmt *st;
  struct db_session s;
  int rc;

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
  if (!st) return -1;
  if ((user_id != 0 && sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK) ||
      sqlite3_bind_int64(st, 2, before_us) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, before_id) != SQLITE_OK ||
      sqlite3_bind_int(st, 4, limit) != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    session_from_row(st, &s);
    if (cb(arg, &s) != 0) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto fail;
  db_stmt_release(st);
  return 0;

fail:
  db_fail(db);
  db_stmt_release(st);
  return -1;
}
