/* labdb.c -- what the lab servers' tables share: savepoints, seeding marks, the text rule.
 *
 * The lab data is three files by job: accounts (labaccounts.c), the mail
 * store (labmail.c) and the virtual files (labfiles.c). SMTP, POP3, IMAP,
 * FTP, Telnet and the lab web server all read and write these tables,
 * which is what makes mail sent over SMTP appear at once in POP3 and
 * IMAP. Writes that must happen together are single statements or sit
 * inside a "labdb" savepoint, which nests in any transaction the caller
 * has open.
 */
#include "labdb.h"

#include <string.h>

#include "db_internal.h"

int labdb_text_ok(const char *s, size_t max) {
  size_t n = strlen(s);

  if (n == 0 || n > max) return 0;
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
  return 1;
}

/* Outside a transaction the first savepoint begins one itself, IMMEDIATE:
 * a deferred one (what SAVEPOINT alone begins) that reads and then writes
 * fails at once with SQLITE_BUSY_SNAPSHOT whenever the recorder's
 * connection committed in between (WAL), and a busy timeout cannot help
 * it. An FTP RNTO answered "451 nothing was renamed" that way. */
int db_lab_savepoint(struct db *db) {
  sqlite3_stmt *st;

  if (db->lab_depth == 0 && sqlite3_get_autocommit(db->conn)) {
    if (db_begin(db) != 0) return -1;
    db->lab_began = 1;
  }
  st = db_stmt(db, DB_STMT_LAB_SAVEPOINT, "SAVEPOINT labdb");
  if (!st || db_step_done(db, st) != 0) {
    if (db->lab_depth == 0 && db->lab_began) {
      db->lab_began = 0;
      db_rollback(db);
    }
    return -1;
  }
  db->lab_depth++;
  return 0;
}

/* Releases the innermost savepoint; the outermost one commits the
 * transaction it began. A failed RELEASE leaves the savepoint open for the
 * caller's rollback. */
int db_lab_release(struct db *db) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_RELEASE, "RELEASE labdb");

  if (!st || db_step_done(db, st) != 0) return -1;
  if (db->lab_depth > 0) db->lab_depth--;
  if (db->lab_depth == 0 && db->lab_began) {
    db->lab_began = 0;
    if (db_commit(db) != 0) {
      db_rollback(db);
      return -1;
    }
  }
  return 0;
}

int db_lab_rollback(struct db *db) {
  char saved[sizeof db->errmsg];
  int saved_permanent = db->err_permanent, rc = 0;
  sqlite3_stmt *st;

  /* Keep the error that made the caller roll back. If SQLite already
   * ended the transaction (I/O error, a failed commit), there is nothing
   * left to undo. */
  memcpy(saved, db->errmsg, sizeof saved);
  if (!sqlite3_get_autocommit(db->conn) && db->lab_depth > 0) {
    st = db_stmt(db, DB_STMT_LAB_ROLLBACK_TO, "ROLLBACK TO labdb");
    if (!st || db_step_done(db, st) != 0) rc = -1;
    if (db_lab_release(db) != 0) rc = -1;
    if (rc && db->lab_began) { /* never leave our own transaction open */
      db_rollback(db);
      db->lab_depth = db->lab_began = 0;
    }
  } else {
    db->lab_depth = 0;
    db->lab_began = 0;
  }
  memcpy(db->errmsg, saved, sizeof saved);
  db->err_permanent = saved_permanent;
  return rc;
}

int db_lab_claim_seed(struct db *db, int64_t owner) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_CLAIM_SEED,
                             "INSERT INTO lab_seeded(owner) VALUES (?1) ON CONFLICT DO NOTHING");

  return db_exec_changed(db, st, DB_ARGS(DB_INT(owner)));
}
