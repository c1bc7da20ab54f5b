/* events.c -- transcript events: the exact bytes of a session, in order.
 *
 * Each event is one chunk that crossed the relay (or a note), stored as a
 * BLOB; a TLS session's wire layer (the records themselves) is stored as
 * dir 1/2 with layer 1 and read back as DB_DIR_WIRE_*. Stored as a BLOB so NUL bytes and invalid
 * UTF-8 survive untouched. Appends go through a savepoint, which nests inside the recorder's
 * transaction and starts its own when there is none, so a batch is all written or not at all
 * either way. Every append adds its bytes to the owner's recorded_bytes in the same transaction
 * (db_events_append by itself; the recorder's db_events_append_tx callers once per session per
 * batch), so the budgets stay exact after a crash.
 */
#include <string.h>

#include "db_internal.h"

#define DB_EVENTS_WRITER_CACHE_KIB "65536" /* the recorder's writer connection's page cache */

static int db_events_insert_all(struct db *db, const struct db_event *ev, size_t n) {
  sqlite3_stmt *st;
  size_t i;

  for (i = 0; i < n; i++) {
    const struct db_event *e = &ev[i];

    if (e->dir < DB_DIR_NOTE || e->dir > DB_DIR_WIRE_S2C)
      return db_fail_msg(db, 1, "bad event dir");
    if (!e->data && e->len) return db_fail_msg(db, 1, "event without data");
    st = db_stmt(db, DB_STMT_EVENT_INSERT,
                 "INSERT INTO events(session_id, seq, t_us, dir, data, layer) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    /* DB_BLOB binds an empty chunk as an empty BLOB, never NULL. */
    if (db_exec_done(db, st,
                     DB_ARGS(DB_INT(e->session_id), DB_INT(e->seq), DB_INT(e->t_us),
                             DB_INT(DB_DIR_BASE(e->dir)), DB_BLOB(e->data, e->len),
                             DB_INT(DB_DIR_IS_WIRE(e->dir)))) != 0)
      return -1;
  }
  return 0;
}

int db_events_count_usage(struct db *db, int64_t session_id, int64_t bytes) {
  sqlite3_stmt *st;

  if (bytes == 0) return 0; /* a missing row reads as 0 */
  /* The WHERE makes the upsert parse (SQLite: INSERT ... SELECT ... ON
   * CONFLICT needs one); a session that does not exist counts nowhere. */
  st = db_stmt(db, DB_STMT_EVENT_USAGE,
               "INSERT INTO student_usage(user_id, recorded_bytes) "
               "SELECT user_id, ?2 FROM sessions WHERE id = ?1 "
               "ON CONFLICT(user_id) DO UPDATE SET recorded_bytes = recorded_bytes + "
               "excluded.recorded_bytes");
  return db_exec_done(db, st, DB_ARGS(DB_INT(session_id), DB_INT(bytes)));
}

/* Counts the bytes of n events, one update per run of one session's events. */
static int db_events_count_all(struct db *db, const struct db_event *ev, size_t n) {
  size_t i = 0;

  while (i < n) {
    int64_t sid = ev[i].session_id, bytes = 0;
    for (; i < n && ev[i].session_id == sid; i++) bytes += (int64_t)ev[i].len;
    if (db_events_count_usage(db, sid, bytes) != 0) return -1;
  }
  return 0;
}

/* Inside a transaction a savepoint costs a statement journal: every page
 * the batch touches is copied there first (a temp file write per page).
 * The recorder holds its own transaction and rolls it all back on any
 * failure, so it needs no savepoint. */
int db_events_append_tx(struct db *db, const struct db_event *ev, size_t n) {
  if (n == 0) return 0;
  if (sqlite3_get_autocommit(db->conn))
    return db_fail_msg(db, 0, "db_events_append_tx outside a transaction");
  return db_events_insert_all(db, ev, n);
}

int db_events_writer_setup(struct db *db) {
  /* A batch from 500 sessions touches a leaf of the (session_id, seq)
   * index per session: a cache smaller than that spills pages to the WAL
   * before the commit and writes them again at it. */
  if (sqlite3_exec(db->conn, "PRAGMA cache_size = -" DB_EVENTS_WRITER_CACHE_KIB, NULL, NULL,
                   NULL) != SQLITE_OK) {
    db_fail(db);
    return -1;
  }
  return 0;
}

int db_events_append(struct db *db, const struct db_event *ev, size_t n) {
  sqlite3_stmt *st;
  int saved_permanent;
  char saved[sizeof db->errmsg];

  if (n == 0) return 0;
  st = db_stmt(db, DB_STMT_SAVEPOINT, "SAVEPOINT db_events_append");
  if (!st || db_step_done(db, st) != 0) return -1;

  if (db_events_insert_all(db, ev, n) != 0 || db_events_count_all(db, ev, n) != 0) goto fail;

  st = db_stmt(db, DB_STMT_RELEASE, "RELEASE db_events_append");
  if (!st || db_step_done(db, st) != 0) goto fail;
  return 0;

fail:
  /* Undo the partial batch and drop the savepoint, keeping the first
   * error's message: it names the event that failed. If SQLite already
   * rolled the whole transaction back (disk full, I/O), there is no
   * savepoint left and these fail harmlessly. */
  saved_permanent = db->err_permanent;
  memcpy(saved, db->errmsg, sizeof saved);
  if (!sqlite3_get_autocommit(db->conn)) {
    st = db_stmt(db, DB_STMT_ROLLBACK_TO, "ROLLBACK TO db_events_append");
    if (st) db_step_done(db, st);
    st = db_stmt(db, DB_STMT_RELEASE, "RELEASE db_events_append");
    if (st) db_step_done(db, st);
  }
  memcpy(db->errmsg, saved, sizeof saved);
  db->err_permanent = saved_permanent;
  return -1;
}

/* The row function of the event lists: the rows (seq, t_us, dir, data,
 * layer) do not name their session, so the walk carries it. */
struct events_walk {
  int64_t session_id;
  int (*cb)(void *arg, const struct db_event *e);
  void *arg;
};

static int events_row(void *ctx, sqlite3_stmt *st) {
  const struct events_walk *w = ctx;
  const void *blob = sqlite3_column_blob(st, 3);
  struct db_event e;

  e.session_id = w->session_id;
  e.seq = sqlite3_column_int64(st, 0);
  e.t_us = sqlite3_column_int64(st, 1);
  e.dir = sqlite3_column_int(st, 2);
  if (sqlite3_column_int(st, 4) && e.dir != DB_DIR_NOTE) e.dir += 2; /* the wire layer */
  e.len = (size_t)sqlite3_column_bytes(st, 3);
  /* SQLite hands back NULL for an empty BLOB; callers get a pointer. */
  e.data = blob ? blob : (const unsigned char *)"";
  return w->cb(w->arg, &e);
}

/* The callback may call other db functions, but not db_events_list
 * itself; e->data is valid only during the call. */
int db_events_list(struct db *db, int64_t session_id,
                   int (*cb)(void *arg, const struct db_event *e), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_EVENT_LIST,
                             "SELECT seq, t_us, dir, data, layer FROM events "
                             "WHERE session_id = ?1 ORDER BY seq");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(session_id)), events_row,
                      &(struct events_walk){session_id, cb, arg});
}

/* Same contract as db_events_list for the callback. The primary key
 * (session_id, seq) makes each page a range scan from after_seq. */
int db_events_page(struct db *db, int64_t session_id, int64_t after_seq, int64_t up_to_seq,
                   int limit, int (*cb)(void *arg, const struct db_event *e), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_EVENT_PAGE,
                             "SELECT seq, t_us, dir, data, layer FROM events "
                             "WHERE session_id = ?1 AND seq > ?2 AND seq <= ?3 "
                             "ORDER BY seq LIMIT ?4");
  return db_exec_rows(
      db, st, DB_ARGS(DB_INT(session_id), DB_INT(after_seq), DB_INT(up_to_seq), DB_INT(limit)),
      events_row, &(struct events_walk){session_id, cb, arg});
}

int db_events_last_seq(struct db *db, int64_t session_id, int64_t *seq) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_EVENT_LAST_SEQ,
                             "SELECT coalesce(max(seq), 0) FROM events WHERE session_id = ?1");

  /* An aggregate always answers one row. */
  return db_exec_int(db, st, DB_ARGS(DB_INT(session_id)), seq) == 0 ? 0 : -1;
}
