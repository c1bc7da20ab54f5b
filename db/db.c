/* db.c -- opening the database, error reporting, transactions, settings.
 *
 * A struct db is one sqlite3 connection used by one thread, plus the
 * statements prepared on it. File databases run in WAL mode so the lab HTTP
 * thread can read while the loop thread writes; synchronous=NORMAL is safe
 * in WAL mode (a power cut may lose the last commits, never corrupts) and
 * keeps the recorder's frequent small commits cheap. Nothing here logs: the
 * caller decides what a failure means and reads db_errmsg().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* Long enough to ride out a checkpoint or the other thread's commit, short
 * enough that a stuck writer shows up as an error instead of a hang. */
#define DB_BUSY_TIMEOUT_MS 5000

sqlite3_stmt *db_stmt(struct db *db, enum db_stmt_id id, const char *sql) {
  sqlite3_stmt *st = db->stmt[id];

  if (st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
  }
  if (sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
    db_fail(db);
    return NULL;
  }
  db->stmt[id] = st;
  return st;
}

void db_stmt_release(sqlite3_stmt *st) {
  if (!st) return;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

int db_fail(struct db *db) {
  int code = sqlite3_extended_errcode(db->conn);

  snprintf(db->errmsg, sizeof db->errmsg, "%s", sqlite3_errmsg(db->conn));
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
      db->err_permanent = 1;
      break;
    default:
      db->err_permanent = 0;
      break;
  }
  return -1;
}

int db_fail_msg(struct db *db, int permanent, const char *msg) {
  snprintf(db->errmsg, sizeof db->errmsg, "%s", msg);
  db->err_permanent = permanent;
  return -1;
}

int db_column_copy(sqlite3_stmt *st, int col, char *dst, size_t dstlen) {
  const unsigned char *text = sqlite3_column_text(st, col);
  size_t len = text ? (size_t)sqlite3_column_bytes(st, col) : 0;
  int truncated = 0;

  if (dstlen == 0) return len ? 1 : 0;
  if (len >= dstlen) {
    len = dstlen - 1;
    truncated = 1;
  }
  if (len) memcpy(dst, text, len);
  dst[len] = '\0';
  return truncated;
}

int db_step_done(struct db *db, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);

  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  db_stmt_release(st);
  return 0;
}

int db_step_row(struct db *db, sqlite3_stmt *st) {
  int rc = sqlite3_step(st);

  if (rc == SQLITE_ROW) return 0;
  if (rc != SQLITE_DONE) return db_fail_release(db, st);
  db_stmt_release(st);
  return 1;
}

int db_fail_release(struct db *db, sqlite3_stmt *st) {
  db_fail(db);
  db_stmt_release(st);
  return -1;
}

/* Runs a PRAGMA that answers with one row and compares the first column,
 * as text, with want. The pragmas are constants: nothing is formatted. */
static int db_pragma_expect(struct db *db, const char *sql, const char *want, const char *what) {
  sqlite3_stmt *st = NULL;
  const unsigned char *got;
  char msg[160];

  if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) != SQLITE_OK) goto fail_sqlite;
  if (sqlite3_step(st) != SQLITE_ROW) goto fail_sqlite;
  got = sqlite3_column_text(st, 0);
  if (!got || strcmp((const char *)got, want) != 0) {
    snprintf(msg, sizeof msg, "%s: SQLite answered \"%s\", expected \"%s\"", what,
             got ? (const char *)got : "", want);
    sqlite3_finalize(st);
    return db_fail_msg(db, 0, msg);
  }
  sqlite3_finalize(st);
  return 0;

fail_sqlite:
  db_fail(db);
  sqlite3_finalize(st);
  return -1;
}

static int db_is_memory(const char *path) {
  return path[0] == '\0' || strcmp(path, ":memory:") == 0;
}

struct db *db_open(const char *path, char *err, size_t errlen) {
  struct db *db = NULL;

  if (!path) {
    if (errlen) snprintf(err, errlen, "no database path");
    return NULL;
  }
  db = calloc(1, sizeof *db);
  if (!db) {
    if (errlen) snprintf(err, errlen, "%s: out of memory", path);
    return NULL;
  }
  if (sqlite3_open_v2(path, &db->conn,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      NULL) != SQLITE_OK) {
    if (db->conn) {
      db_fail(db);
    } else {
      db_fail_msg(db, 0, "out of memory");
    }
    goto fail;
  }
  /* Extended codes tell a unique-name conflict apart from other
   * constraint failures. */
  sqlite3_extended_result_codes(db->conn, 1);
  sqlite3_busy_timeout(db->conn, DB_BUSY_TIMEOUT_MS);

  /* foreign_keys is per connection and silently ignored when SQLite was
   * built without it, so read it back. */
  if (sqlite3_exec(db->conn, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
    db_fail(db);
    goto fail;
  }
  if (db_pragma_expect(db, "PRAGMA foreign_keys", "1", "foreign keys") != 0) goto fail;

  if (!db_is_memory(path)) {
    /* WAL is refused on file systems without shared memory (some network
     * mounts); better to say so at start than to run without it. */
    if (db_pragma_expect(db, "PRAGMA journal_mode = WAL", "wal", "WAL journal mode") != 0) {
      goto fail;
    }
    if (sqlite3_exec(db->conn, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
      db_fail(db);
      goto fail;
    }
  }

  if (db_migrate(db) != 0) goto fail;
  return db;

fail:
  if (errlen) snprintf(err, errlen, "%s: %s", path, db->errmsg);
  db_close(db);
  return NULL;
}

void db_close(struct db *db) {
  int i;

  if (!db) return;
  for (i = 0; i < DB_STMT_COUNT; i++) sqlite3_finalize(db->stmt[i]);
  /* Every statement is finalized, so this closes now; the last connection
   * to a WAL database checkpoints and removes the -wal file. */
  sqlite3_close(db->conn);
  free(db);
}

const char *db_errmsg(struct db *db) {
  if (!db) return "no database";
  return db->errmsg[0] ? db->errmsg : "no error";
}

int db_error_permanent(struct db *db) {
  return db ? db->err_permanent : 0;
}

int db_schema_version(struct db *db) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SCHEMA_VERSION,
                             "SELECT coalesce(max(version), 0) FROM schema_migrations");
  int64_t v;

  /* An aggregate always answers one row. */
  return db_exec_int(db, st, NULL, &v) == 0 ? (int)v : -1;
}

int db_setting_get(struct db *db, const char *key, char *out, size_t outlen) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SETTING_GET, "SELECT value FROM settings WHERE key = ?1");
  int rc;

  if ((rc = db_exec_row(db, st, DB_ARGS(DB_TEXT(key)))) != 0) return rc;
  /* A cut-off password hash or secret would be wrong, not just short. */
  if (db_column_copy(st, 0, out, outlen) != 0) {
    db_stmt_release(st);
    return db_fail_msg(db, 1, "setting value longer than the caller's buffer");
  }
  db_stmt_release(st);
  return 0;
}

int db_setting_set(struct db *db, const char *key, const char *value) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_SETTING_SET,
                             "INSERT INTO settings(key, value) VALUES (?1, ?2) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value");

  return db_exec_done(db, st, DB_ARGS(DB_TEXT(key), DB_TEXT(value)));
}

/* BEGIN IMMEDIATE takes the write lock at once, so waiting for another
 * writer goes through the busy timeout instead of failing at the first
 * write inside the transaction. */
int db_begin(struct db *db) {
  return db_exec_done(db, db_stmt(db, DB_STMT_BEGIN, "BEGIN IMMEDIATE"), NULL);
}

int db_commit(struct db *db) {
  return db_exec_done(db, db_stmt(db, DB_STMT_COMMIT, "COMMIT"), NULL);
}

int db_rollback(struct db *db) {
  /* Some errors (disk full, I/O) end the transaction by themselves; a
   * rollback then has nothing to do and is not an error. */
  if (sqlite3_get_autocommit(db->conn)) return 0;
  return db_exec_done(db, db_stmt(db, DB_STMT_ROLLBACK, "ROLLBACK"), NULL);
}
