/* labdb.c -- the lab servers' shared data: accounts, mail store, virtual files.
 *
 * SMTP, POP3, IMAP, FTP, Telnet and the lab web server all read and write
 * these tables, which is what makes mail sent over SMTP appear at once in
 * POP3 and IMAP. Writes that must happen together are single statements
 * (an UPDATE ... RETURNING hands out a UID and bumps the counter in one
 * step) or sit inside a "labdb" savepoint, which nests in any transaction
 * the caller has open. UIDs and UIDVALIDITY values only ever grow, so an
 * IMAP client's cache is never fooled by a reused number.
 */
#include "labdb.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "db_internal.h"
#include "text.h"

#define LABDB_PATH_MAX 255
#define LABDB_MAILBOX_MAX 63

/* --- helpers ------------------------------------------------------------ */

/* IMAP says INBOX is case-insensitive and every other name is not. */
static const char *labdb_mailbox_name(const char *name) {
  return strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
}

static int labdb_text_ok(const char *s, size_t max) {
  size_t n = strlen(s);

  if (n == 0 || n > max) return 0;
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return 0;
  return 1;
}

/* A normalised absolute path other than "/": what vpath_resolve() makes
 * (no empty, "." or ".." segments), so every entry has exactly one name.
 * Its parent goes to parent ("/" for top-level entries). */
static int labdb_path_parent(const char *path, char parent[LABDB_PATH_MAX + 1]) {
  size_t n = strlen(path);
  const char *slash;

  if (n < 2 || n > LABDB_PATH_MAX || path[0] != '/' || path[n - 1] == '/' || strstr(path, "//"))
    return -1;
  if (!labdb_text_ok(path, LABDB_PATH_MAX) || strstr(path, "/./") || strstr(path, "/../") ||
      strcmp(path + n - 2, "/.") == 0 || (n >= 3 && strcmp(path + n - 3, "/..") == 0))
    return -1;
  slash = strrchr(path, '/');
  if (slash == path) {
    strcpy(parent, "/");
  } else {
    memcpy(parent, path, (size_t)(slash - path));
    parent[slash - path] = '\0';
  }
  return 0;
}

static int labdb_bad_path(struct db *db) {
  return db_fail_msg(db, 1, "not a normalised lab path");
}

/* Binds a body as a BLOB even when it is empty: a NULL pointer would bind
 * SQL NULL, which the schema refuses. */
static int labdb_bind_body(sqlite3_stmt *st, int col, const void *p, size_t len) {
  if (len == 0) return sqlite3_bind_zeroblob(st, col, 0);
  return sqlite3_bind_blob64(st, col, p, len, SQLITE_STATIC);
}

/* Copies a BLOB column into a new malloc'd buffer (one spare byte so an
 * empty one still gets a real pointer). */
static int labdb_column_dup(struct db *db, sqlite3_stmt *st, int col, unsigned char **out,
                            size_t *len) {
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

/* Steps a write and reports how many rows it touched: 0 and *changed, or -1. */
static int labdb_step_changes(struct db *db, sqlite3_stmt *st, int *changed) {
  if (db_step_done(db, st) != 0) return -1;
  *changed = sqlite3_changes(db->conn);
  return 0;
}

/* --- savepoints and seeding ---------------------------------------------- */

int db_lab_savepoint(struct db *db) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_SAVEPOINT, "SAVEPOINT labdb");
  return st ? db_step_done(db, st) : -1;
}

int db_lab_release(struct db *db) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_RELEASE, "RELEASE labdb");
  return st ? db_step_done(db, st) : -1;
}

int db_lab_rollback(struct db *db) {
  char saved[sizeof db->errmsg];
  int saved_permanent = db->err_permanent, rc = 0;
  sqlite3_stmt *st;

  /* Keep the error that made the caller roll back. If SQLite already
   * ended the transaction (I/O error), there is nothing left to undo. */
  memcpy(saved, db->errmsg, sizeof saved);
  if (!sqlite3_get_autocommit(db->conn)) {
    st = db_stmt(db, DB_STMT_LAB_ROLLBACK_TO, "ROLLBACK TO labdb");
    if (!st || db_step_done(db, st) != 0) rc = -1;
    if (db_lab_release(db) != 0) rc = -1;
  }
  memcpy(db->errmsg, saved, sizeof saved);
  db->err_permanent = saved_permanent;
  return rc;
}

int db_lab_claim_seed(struct db *db, int64_t owner) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_CLAIM_SEED,
                             "INSERT INTO lab_seeded(owner) VALUES (?1) ON CONFLICT DO NOTHING");
  int changed;

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK) {
    db_stmt_release(st);
    return db_fail(db);
  }
  if (labdb_step_changes(db, st, &changed) != 0) return -1;
  return changed ? 0 : 1;
}

/* --- accounts ---------------------------------------------------------------- */

int db_lab_account(struct db *db, const char *user, struct db_user *out) {
  struct db_user u;
  int rc;

  if (!text_name_valid(user)) return 1;
  rc = db_user_by_name(db, user, &u, NULL, 0);
  if (rc != 0) return rc;
  /* The teacher has no lab account: lab passwords travel in the clear. */
  if (strcmp(u.role, "student") != 0) return 1;
  *out = u;
  return 0;
}

int db_lab_login(struct db *db, const char *user, const char *password, struct db_user *out) {
  struct db_user u;
  int rc = db_lab_account(db, user, &u);

  if (rc < 0) return -1;
  if (rc == 1) {
    /* Spend the same comparison on an unknown name as on a known one. */
    crypto_ct_streq(password, "portlab-no-such-account");
    return 1;
  }
  if (!u.lab_password[0] || !crypto_ct_streq(password, u.lab_password)) return 1;
  *out = u;
  return 0;
}

int db_lab_ensure_demo(struct db *db, int64_t *id_out, int *created_out) {
  struct db_user u;
  int64_t id;
  int rc = db_user_by_name(db, LABDB_DEMO_USER, &u, NULL, 0);

  if (created_out) *created_out = 0;
  if (rc < 0) return -1;
  if (rc == 0) {
    if (strcmp(u.role, "student") != 0)
      return db_fail_msg(db, 1, "a non-student user is named " LABDB_DEMO_USER);
    if (id_out) *id_out = u.id;
    return 0;
  }
  rc = db_user_create(db, LABDB_DEMO_USER, "student", LABDB_DEMO_PASSWORD, NULL, &id);
  if (rc != 0) return -1;
  if (id_out) *id_out = id;
  if (created_out) *created_out = 1;
  return 0;
}

/* --- mailboxes ----------------------------------------------------------------- */

/* Hands out the next UIDVALIDITY: the current time, or one more than the
 * last one if the clock has not moved on (RFC 9051 section 2.3.1.1). */
static int labdb_next_validity(struct db *db, int64_t *out) {
  sqlite3_stmt *st = db_stmt(
      db, DB_STMT_MAILBOX_VALIDITY,
      "INSERT INTO settings(key, value) VALUES ('lab_uidvalidity', CAST(unixepoch() AS TEXT)) "
      "ON CONFLICT(key) DO UPDATE SET "
      "  value = CAST(max(unixepoch(), CAST(settings.value AS INTEGER) + 1) AS TEXT) "
      "RETURNING CAST(value AS INTEGER)");

  if (!st) return -1;
  if (sqlite3_step(st) != SQLITE_ROW) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  *out = sqlite3_column_int64(st, 0);
  db_stmt_release(st);
  return 0;
}

int db_mailbox_create(struct db *db, int64_t user_id, const char *name) {
  sqlite3_stmt *st;
  int64_t validity;
  int changed;

  if (!labdb_text_ok(name, LABDB_MAILBOX_MAX)) return db_fail_msg(db, 1, "bad mailbox name");
  name = labdb_mailbox_name(name);
  if (db_lab_savepoint(db) != 0) return -1;
  if (labdb_next_validity(db, &validity) != 0) goto fail;
  st = db_stmt(db, DB_STMT_MAILBOX_INSERT,
               "INSERT INTO lab_mailboxes(user_id, name, uidvalidity, uidnext) "
               "VALUES (?1, ?2, ?3, 1) ON CONFLICT DO NOTHING");
  if (!st) goto fail;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, validity) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    goto fail;
  }
  if (labdb_step_changes(db, st, &changed) != 0) goto fail;
  if (db_lab_release(db) != 0) goto fail;
  return changed ? 0 : 1;

fail:
  db_lab_rollback(db);
  return -1;
}

/* INBOX is never missing: it is made the first time anyone looks. */
static int labdb_ensure_inbox(struct db *db, int64_t user_id, const char *name) {
  if (strcmp(name, "INBOX") != 0) return 0;
  return db_mailbox_create(db, user_id, "INBOX") < 0 ? -1 : 0;
}

int db_mailbox_delete(struct db *db, int64_t user_id, const char *name) {
  sqlite3_stmt *st;
  int changed;

  name = labdb_mailbox_name(name);
  if (strcmp(name, "INBOX") == 0) return 1;
  st = db_stmt(db, DB_STMT_MAILBOX_DELETE,
               "DELETE FROM lab_mailboxes WHERE user_id = ?1 AND name = ?2");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC) != SQLITE_OK) {
    db_stmt_release(st);
    return db_fail(db);
  }
  if (labdb_step_changes(db, st, &changed) != 0) return -1;
  return changed ? 0 : 1;
}

/* Columns: name, uidvalidity, uidnext, messages, unseen. */
#define LABDB_MAILBOX_COLUMNS                                                                  \
  "SELECT b.name, b.uidvalidity, b.uidnext,"                                                   \
  " (SELECT count(*) FROM lab_messages m WHERE m.user_id = b.user_id AND m.mailbox = b.name)," \
  " (SELECT count(*) FROM lab_messages m WHERE m.user_id = b.user_id AND m.mailbox = b.name"   \
  "   AND (m.flags & 1) = 0) "                                                                 \
  "FROM lab_mailboxes b "

static void labdb_mailbox_row(sqlite3_stmt *st, struct db_mailbox *m) {
  memset(m, 0, sizeof *m);
  db_column_copy(st, 0, m->name, sizeof m->name);
  m->uidvalidity = sqlite3_column_int64(st, 1);
  m->uidnext = sqlite3_column_int64(st, 2);
  m->messages = sqlite3_column_int64(st, 3);
  m->unseen = sqlite3_column_int64(st, 4);
}

int db_mailbox_get(struct db *db, int64_t user_id, const char *name, struct db_mailbox *out) {
  sqlite3_stmt *st;
  int rc;

  name = labdb_mailbox_name(name);
  if (labdb_ensure_inbox(db, user_id, name) != 0) return -1;
  st = db_stmt(db, DB_STMT_MAILBOX_GET,
               LABDB_MAILBOX_COLUMNS "WHERE b.user_id = ?1 AND b.name = ?2");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC) != SQLITE_OK)
    goto fail;
  if ((rc = db_step_row(db, st)) != 0) return rc;
  if (out) labdb_mailbox_row(st, out);
  db_stmt_release(st);
  return 0;

fail:
  return db_fail_release(db, st);
}

/* The callback may call other db functions, but not db_mailbox_list. */
int db_mailbox_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_mailbox *m), void *arg) {
  sqlite3_stmt *st;
  struct db_mailbox m;
  int rc;

  if (labdb_ensure_inbox(db, user_id, "INBOX") != 0) return -1;
  st = db_stmt(db, DB_STMT_MAILBOX_LIST,
               LABDB_MAILBOX_COLUMNS "WHERE b.user_id = ?1 ORDER BY b.name <> 'INBOX', b.name");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK) goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    labdb_mailbox_row(st, &m);
    if (cb(arg, &m)) break;
  }
  return db_walk_end(db, st, rc);

fail:
  return db_fail_release(db, st);
}

/* --- messages ------------------------------------------------------------------ */

/* Takes the mailbox's next UID and bumps its counter in one statement. A
 * UID taken by a write that later fails is simply never used. 1 = no such
 * mailbox. */
static int labdb_take_uid(struct db *db, int64_t user_id, const char *mailbox, int64_t *uid) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAIL_NEXT_UID,
                             "UPDATE lab_mailboxes SET uidnext = uidnext + 1 "
                             "WHERE user_id = ?1 AND name = ?2 RETURNING uidnext - 1");
  int rc;

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC) != SQLITE_OK)
    goto fail;
  if ((rc = db_step_row(db, st)) != 0) return rc;
  *uid = sqlite3_column_int64(st, 0);
  db_stmt_release(st);
  return 0;

fail:
  return db_fail_release(db, st);
}

int db_mail_append(struct db *db, int64_t user_id, const char *mailbox, const void *msg, size_t len,
                   unsigned flags, int64_t internal_date, int64_t *uid_out) {
  sqlite3_stmt *st;
  int64_t uid;
  int rc;

  mailbox = labdb_mailbox_name(mailbox);
  if (labdb_ensure_inbox(db, user_id, mailbox) != 0) return -1;
  if (db_lab_savepoint(db) != 0) return -1;
  rc = labdb_take_uid(db, user_id, mailbox, &uid);
  if (rc != 0) goto fail;
  st = db_stmt(db, DB_STMT_MAIL_INSERT,
               "INSERT INTO lab_messages(user_id, mailbox, uid, flags, internal_date, body) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!st) goto fail_db;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, uid) != SQLITE_OK ||
      sqlite3_bind_int64(st, 4, (int64_t)flags) != SQLITE_OK ||
      sqlite3_bind_int64(st, 5, internal_date) != SQLITE_OK ||
      labdb_bind_body(st, 6, msg, len) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    goto fail_db;
  }
  if (db_step_done(db, st) != 0) goto fail_db;
  if (db_lab_release(db) != 0) goto fail_db;
  if (uid_out) *uid_out = uid;
  return 0;

fail_db:
  rc = -1;
fail:
  db_lab_rollback(db);
  return rc;
}

static void labdb_mail_row(sqlite3_stmt *st, struct db_mail *m) {
  m->uid = sqlite3_column_int64(st, 0);
  m->flags = (unsigned)sqlite3_column_int64(st, 1);
  m->internal_date = sqlite3_column_int64(st, 2);
  m->size = (size_t)sqlite3_column_int64(st, 3);
}

/* The callback may call other db functions (db_mail_get to fetch a body),
 * but not db_mail_list. 1 = no such mailbox. */
int db_mail_list(struct db *db, int64_t user_id, const char *mailbox,
                 int (*cb)(void *arg, const struct db_mail *m), void *arg) {
  sqlite3_stmt *st;
  struct db_mail m;
  int rc;

  mailbox = labdb_mailbox_name(mailbox);
  rc = db_mailbox_get(db, user_id, mailbox, NULL);
  if (rc != 0) return rc;
  st = db_stmt(db, DB_STMT_MAIL_LIST,
               "SELECT uid, flags, internal_date, length(body) FROM lab_messages "
               "WHERE user_id = ?1 AND mailbox = ?2 ORDER BY uid");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC) != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    labdb_mail_row(st, &m);
    if (cb(arg, &m)) break;
  }
  return db_walk_end(db, st, rc);

fail:
  return db_fail_release(db, st);
}

int db_mail_get(struct db *db, int64_t user_id, const char *mailbox, int64_t uid,
                struct db_mail *meta, unsigned char **body, size_t *len) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAIL_GET,
                             "SELECT uid, flags, internal_date, length(body), body "
                             "FROM lab_messages WHERE user_id = ?1 AND mailbox = ?2 AND uid = ?3");
  struct db_mail m;
  int rc;

  if (!st) return -1;
  mailbox = labdb_mailbox_name(mailbox);
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, uid) != SQLITE_OK)
    goto fail;
  if ((rc = db_step_row(db, st)) != 0) return rc;
  labdb_mail_row(st, &m);
  if (body && labdb_column_dup(db, st, 4, body, len) != 0) {
    db_stmt_release(st);
    return -1;
  }
  if (meta) *meta = m;
  db_stmt_release(st);
  return 0;

fail:
  return db_fail_release(db, st);
}

int db_mail_set_flags(struct db *db, int64_t user_id, const char *mailbox, int64_t uid,
                      unsigned flags) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAIL_SET_FLAGS,
                             "UPDATE lab_messages SET flags = ?4 "
                             "WHERE user_id = ?1 AND mailbox = ?2 AND uid = ?3");
  int changed;

  if (!st) return -1;
  mailbox = labdb_mailbox_name(mailbox);
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, uid) != SQLITE_OK ||
      sqlite3_bind_int64(st, 4, (int64_t)flags) != SQLITE_OK) {
    db_stmt_release(st);
    return db_fail(db);
  }
  if (labdb_step_changes(db, st, &changed) != 0) return -1;
  return changed ? 0 : 1;
}

int db_mail_delete(struct db *db, int64_t user_id, const char *mailbox, int64_t uid) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAIL_DELETE,
                             "DELETE FROM lab_messages "
                             "WHERE user_id = ?1 AND mailbox = ?2 AND uid = ?3");
  int changed;

  if (!st) return -1;
  mailbox = labdb_mailbox_name(mailbox);
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, mailbox, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, uid) != SQLITE_OK) {
    db_stmt_release(st);
    return db_fail(db);
  }
  if (labdb_step_changes(db, st, &changed) != 0) return -1;
  return changed ? 0 : 1;
}

/* 1 = no such message or no such target mailbox. */
int db_mail_copy(struct db *db, int64_t user_id, const char *from, int64_t uid, const char *to,
                 int64_t *new_uid) {
  sqlite3_stmt *st;
  int64_t uid2;
  int rc, changed;

  from = labdb_mailbox_name(from);
  to = labdb_mailbox_name(to);
  if (labdb_ensure_inbox(db, user_id, to) != 0) return -1;
  if (db_lab_savepoint(db) != 0) return -1;
  rc = labdb_take_uid(db, user_id, to, &uid2);
  if (rc != 0) goto fail;
  st = db_stmt(db, DB_STMT_MAIL_COPY,
               "INSERT INTO lab_messages(user_id, mailbox, uid, flags, internal_date, body) "
               "SELECT user_id, ?4, ?5, flags, internal_date, body FROM lab_messages "
               "WHERE user_id = ?1 AND mailbox = ?2 AND uid = ?3");
  if (!st) goto fail_db;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 3, uid) != SQLITE_OK ||
      sqlite3_bind_text(st, 4, to, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 5, uid2) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    goto fail_db;
  }
  if (labdb_step_changes(db, st, &changed) != 0) goto fail_db;
  if (!changed) {
    rc = 1;
    goto fail;
  }
  if (db_lab_release(db) != 0) goto fail_db;
  if (new_uid) *new_uid = uid2;
  return 0;

fail_db:
  rc = -1;
fail:
  db_lab_rollback(db);
  return rc;
}

int db_mail_usage(struct db *db, int64_t user_id, int64_t *bytes) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_MAIL_USAGE,
              "SELECT coalesce(sum(length(body)), 0) FROM lab_messages WHERE user_id = ?1");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  *bytes = sqlite3_column_int64(st, 0);
  db_stmt_release(st);
  return 0;
}

/* --- virtual files -------------------------------------------------------------- */

static void labdb_file_row(sqlite3_stmt *st, struct db_file *f) {
  memset(f, 0, sizeof *f);
  db_column_copy(st, 0, f->path, sizeof f->path);
  f->is_dir = sqlite3_column_int(st, 1);
  f->size = (size_t)sqlite3_column_int64(st, 2);
  f->mtime = sqlite3_column_int64(st, 3);
}

int db_file_stat(struct db *db, int64_t owner, const char *path, struct db_file *out) {
  sqlite3_stmt *st;
  char parent[LABDB_PATH_MAX + 1];
  struct db_file f;
  int rc;

  if (strcmp(path, "/") == 0) {
    if (out) {
      memset(out, 0, sizeof *out);
      strcpy(out->path, "/");
      out->is_dir = 1;
    }
    return 0;
  }
  if (labdb_path_parent(path, parent) != 0) return 1;
  st = db_stmt(db, DB_STMT_FILE_STAT,
               "SELECT path, is_dir, coalesce(length(data), 0), mtime FROM lab_files "
               "WHERE owner = ?1 AND path = ?2");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC) != SQLITE_OK)
    goto fail;
  if ((rc = db_step_row(db, st)) != 0) return rc;
  labdb_file_row(st, &f);
  if (out) *out = f;
  db_stmt_release(st);
  return 0;

fail:
  return db_fail_release(db, st);
}

/* 1 = dir does not exist or is a file. The callback may call other db
 * functions, but not db_file_list. */
int db_file_list(struct db *db, int64_t owner, const char *dir,
                 int (*cb)(void *arg, const struct db_file *f), void *arg) {
  sqlite3_stmt *st;
  struct db_file f;
  int rc = db_file_stat(db, owner, dir, &f);

  if (rc != 0) return rc;
  if (!f.is_dir) return 1;
  st = db_stmt(db, DB_STMT_FILE_LIST,
               "SELECT path, is_dir, coalesce(length(data), 0), mtime FROM lab_files "
               "WHERE owner = ?1 AND parent = ?2 ORDER BY path");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, dir, -1, SQLITE_STATIC) != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    labdb_file_row(st, &f);
    if (cb(arg, &f)) break;
  }
  return db_walk_end(db, st, rc);

fail:
  return db_fail_release(db, st);
}

int db_file_read(struct db *db, int64_t owner, const char *path, unsigned char **data,
                 size_t *len) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_FILE_READ,
              "SELECT data FROM lab_files WHERE owner = ?1 AND path = ?2 AND is_dir = 0");
  int rc;

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC) != SQLITE_OK)
    goto fail;
  if ((rc = db_step_row(db, st)) != 0) return rc;
  rc = labdb_column_dup(db, st, 0, data, len);
  db_stmt_release(st);
  return rc;

fail:
  return db_fail_release(db, st);
}

int db_file_write(struct db *db, int64_t owner, const char *path, const void *data, size_t len,
                  int64_t mtime) {
  /* One statement checks the parent, inserts or replaces, and refuses to
   * overwrite a directory, so no other writer can slip in between. */
  sqlite3_stmt *st;
  char parent[LABDB_PATH_MAX + 1];
  int changed;

  if (strcmp(path, "/") == 0) return 1;
  if (labdb_path_parent(path, parent) != 0) return labdb_bad_path(db);
  st =
      db_stmt(db, DB_STMT_FILE_WRITE,
              "INSERT INTO lab_files(owner, path, parent, is_dir, data, mtime) "
              "SELECT ?1, ?2, ?3, 0, ?4, ?5 WHERE ?3 = '/' OR EXISTS ("
              "  SELECT 1 FROM lab_files WHERE owner = ?1 AND path = ?3 AND is_dir = 1) "
              "ON CONFLICT(owner, path) DO UPDATE SET data = excluded.data, mtime = excluded.mtime "
              "  WHERE lab_files.is_dir = 0");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, parent, -1, SQLITE_STATIC) != SQLITE_OK ||
      labdb_bind_body(st, 4, data, len) != SQLITE_OK ||
      sqlite3_bind_int64(st, 5, mtime) != SQLITE_OK) {
    db_stmt_release(st);
    return db_fail(db);
  }
  if (labdb_step_changes(db, st, &changed) != 0) return -1;
  return changed ? 0 : 1;
}

int db_file_mkdir(struct db *db, int64_t owner, const char *path, int64_t mtime) {
  sqlite3_stmt *st;
  char parent[LABDB_PATH_MAX + 1];
  int changed;

  if (strcmp(path, "/") == 0) return 1;
  if (labdb_path_parent(path, parent) != 0) return labdb_bad_path(db);
  st = db_stmt(db, DB_STMT_FILE_MKDIR,
               "INSERT INTO lab_files(owner, path, parent, is_dir, data, mtime) "
               "SELECT ?1, ?2, ?3, 1, NULL, ?4 WHERE ?3 = '/' OR EXISTS ("
               "  SELECT 1 FROM lab_files WHERE owner = ?1 AND path = ?3 AND is_dir = 1) "
               "ON CONFLICT(owner, path) DO NOTHING");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, parent, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 4, mtime) != SQLITE_OK) {
    db_stmt_release(st);
    return db_fail(db);
  }
  if (labdb_step_changes(db, st, &changed) != 0) return -1;
  return changed ? 0 : 1;
}

int db_file_remove(struct db *db, int64_t owner, const char *path, int is_dir) {
  sqlite3_stmt *st;
  int changed;

  if (strcmp(path, "/") == 0) return 1;
  if (is_dir)
    st = db_stmt(db, DB_STMT_FILE_REMOVE_DIR,
                 "DELETE FROM lab_files WHERE owner = ?1 AND path = ?2 AND is_dir = 1 "
                 "AND NOT EXISTS (SELECT 1 FROM lab_files c WHERE c.owner = ?1 AND c.parent = ?2)");
  else
    st = db_stmt(db, DB_STMT_FILE_REMOVE_FILE,
                 "DELETE FROM lab_files WHERE owner = ?1 AND path = ?2 AND is_dir = 0");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC) != SQLITE_OK) {
    db_stmt_release(st);
    return db_fail(db);
  }
  if (labdb_step_changes(db, st, &changed) != 0) return -1;
  return changed ? 0 : 1;
}

int db_file_usage(struct db *db, int64_t owner, int64_t *bytes) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_FILE_USAGE,
              "SELECT coalesce(sum(length(data)), 0) FROM lab_files WHERE owner = ?1");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  *bytes = sqlite3_column_int64(st, 0);
  db_stmt_release(st);
  return 0;
}

int db_file_count(struct db *db, int64_t owner, int64_t *n) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_FILE_COUNT, "SELECT count(*) FROM lab_files WHERE owner = ?1");

  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, owner) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  *n = sqlite3_column_int64(st, 0);
  db_stmt_release(st);
  return 0;
}
