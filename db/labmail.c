/* labmail.c -- the lab mail store: mailboxes and messages, shared by SMTP, POP3 and IMAP.
 *
 * Mail delivered by SMTP is visible at once to POP3 and IMAP because all
 * three read these tables. An UPDATE ... RETURNING hands out a UID and
 * bumps the mailbox's counter in one step, and the writes that go with it
 * sit in a "labdb" savepoint (labdb.c). UIDs and UIDVALIDITY values only
 * ever grow, so an IMAP client's cache is never fooled by a reused number.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "db_internal.h"
#include "labdb.h"

#define LABDB_MAILBOX_MAX 63

/* IMAP says INBOX is case-insensitive and every other name is not. */
static const char *labdb_mailbox_name(const char *name) {
  return strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
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

  return db_exec_int(db, st, NULL, out) == 0 ? 0 : -1;
}

int db_mailbox_create(struct db *db, int64_t user_id, const char *name) {
  sqlite3_stmt *st;
  int64_t validity;
  int rc;

  if (!labdb_text_ok(name, LABDB_MAILBOX_MAX)) return db_fail_msg(db, 1, "bad mailbox name");
  name = labdb_mailbox_name(name);
  if (db_lab_savepoint(db) != 0) return -1;
  if (labdb_next_validity(db, &validity) != 0) goto fail;
  st = db_stmt(db, DB_STMT_MAILBOX_INSERT,
               "INSERT INTO lab_mailboxes(user_id, name, uidvalidity, uidnext) "
               "VALUES (?1, ?2, ?3, 1) ON CONFLICT DO NOTHING");
  rc = db_exec_changed(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(name), DB_INT(validity)));
  if (rc < 0 || db_lab_release(db) != 0) goto fail;
  return rc;

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

  name = labdb_mailbox_name(name);
  if (strcmp(name, "INBOX") == 0) return 1;
  st = db_stmt(db, DB_STMT_MAILBOX_DELETE,
               "DELETE FROM lab_mailboxes WHERE user_id = ?1 AND name = ?2");
  return db_exec_changed(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(name)));
}

int db_mailbox_create_superiors(struct db *db, int64_t user_id, const char *name) {
  char up[LABDB_MAILBOX_MAX + 1];
  size_t i, n = strlen(name);

  if (n > LABDB_MAILBOX_MAX) return db_fail_msg(db, 1, "bad mailbox name");
  for (i = 1; i < n; i++) {
    if (name[i] != '/') continue;
    memcpy(up, name, i);
    up[i] = '\0';
    if (db_mailbox_create(db, user_id, up) < 0) return -1;
  }
  return 0;
}

/* The WHERE test "b.name is an inferior of ?2". */
#define LABDB_INFERIOR_OF_2 "substr(b.name, 1, length(?2) + 1) = ?2 || '/'"

int db_mailbox_has_inferiors(struct db *db, int64_t user_id, const char *name) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAILBOX_INFERIOR,
                             "SELECT 1 FROM lab_mailboxes b "
                             "WHERE b.user_id = ?1 AND " LABDB_INFERIOR_OF_2 " LIMIT 1");
  int rc = db_exec_row(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(labdb_mailbox_name(name))));

  if (rc == 0) db_stmt_release(st);
  return rc;
}

/* The names a RENAME moves, shortest first. */
struct labdb_names {
  char (*name)[LABDB_MAILBOX_MAX + 1];
  size_t n, cap;
  int oom;
};

static int labdb_names_row(void *arg, sqlite3_stmt *st) {
  struct labdb_names *l = arg;
  void *p = buf_array_room(l->name, l->n, &l->cap, 8, sizeof *l->name);

  if (!p) {
    l->oom = 1;
    return 1;
  }
  l->name = p;
  db_column_copy(st, 0, l->name[l->n++], sizeof l->name[0]);
  return 0;
}

/* One mailbox of a RENAME: a new row under the new name with a new
 * UIDVALIDITY and the old UIDNEXT, the messages moved to it, the old row
 * gone (INBOX's stays). 0, DB_RENAME_EXISTS, or -1. */
static int labdb_rename_one(struct db *db, int64_t user_id, const char *from, const char *to) {
  sqlite3_stmt *st;
  int64_t validity;
  int rc;

  if (labdb_next_validity(db, &validity) != 0) return -1;
  st = db_stmt(db, DB_STMT_MAILBOX_RENAME,
               "INSERT INTO lab_mailboxes(user_id, name, uidvalidity, uidnext) "
               "SELECT user_id, ?3, ?4, uidnext FROM lab_mailboxes "
               "WHERE user_id = ?1 AND name = ?2 ON CONFLICT DO NOTHING");
  rc = db_exec_changed(db, st,
                       DB_ARGS(DB_INT(user_id), DB_TEXT(from), DB_TEXT(to), DB_INT(validity)));
  if (rc != 0) return rc < 0 ? -1 : DB_RENAME_EXISTS;
  st = db_stmt(db, DB_STMT_MAIL_REHOME,
               "UPDATE lab_messages SET mailbox = ?3 WHERE user_id = ?1 AND mailbox = ?2");
  if (db_exec_done(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(from), DB_TEXT(to))) != 0) return -1;
  if (strcmp(from, "INBOX") == 0) return 0;
  return db_mailbox_delete(db, user_id, from) == 0 ? 0 : -1;
}

/* The names go shortest first. Only a RENAME that moves a mailbox up into
 * its own hierarchy ("a/b" to "a") can give one of its names a new name
 * that another of its names still holds ("a/b/b/c" becomes "a/b/c", the
 * old name of "a/b/c", which becomes "a/c"). The holder is always the
 * shorter one, so it has moved away by then, and a new name found taken
 * belongs to a mailbox this RENAME does not move. */
int db_mailbox_rename(struct db *db, int64_t user_id, const char *from, const char *to) {
  struct labdb_names l = {0};
  sqlite3_stmt *st;
  char name[LABDB_MAILBOX_MAX + 1];
  size_t i, fn, tn;
  int rc = 0;

  from = labdb_mailbox_name(from);
  to = labdb_mailbox_name(to);
  fn = strlen(from);
  tn = strlen(to);
  if (!labdb_text_ok(from, LABDB_MAILBOX_MAX) || !labdb_text_ok(to, LABDB_MAILBOX_MAX))
    return db_fail_msg(db, 1, "bad mailbox name");
  if (strcmp(to, from) == 0) return DB_RENAME_EXISTS;
  /* INBOX's inferiors stay where they are, so only INBOX may move below itself. */
  if (strcmp(from, "INBOX") != 0 && strncmp(to, from, fn) == 0 && to[fn] == '/')
    return DB_RENAME_INSIDE;
  if (labdb_ensure_inbox(db, user_id, "INBOX") != 0) return -1;
  if (strcmp(from, "INBOX") == 0) {
    l.name = malloc(sizeof *l.name);
    if (!l.name) return db_fail_msg(db, 0, "out of memory");
    strcpy(l.name[0], "INBOX");
    l.n = 1;
  } else {
    st = db_stmt(db, DB_STMT_MAILBOX_FAMILY,
                 "SELECT b.name FROM lab_mailboxes b WHERE b.user_id = ?1 "
                 "AND (b.name = ?2 OR " LABDB_INFERIOR_OF_2 ") ORDER BY length(b.name), b.name");
    rc = db_exec_rows(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(from)), labdb_names_row, &l);
    if (rc == 0 && l.oom) rc = db_fail_msg(db, 0, "out of memory");
  }
  if (rc != 0 || l.n == 0) {
    free(l.name);
    return rc ? -1 : DB_RENAME_NONE;
  }
  if (db_lab_savepoint(db) != 0) {
    free(l.name);
    return -1;
  }
  for (i = 0; i < l.n && rc == 0; i++) {
    size_t rest = strlen(l.name[i]) - fn;
    if (tn + rest > LABDB_MAILBOX_MAX) {
      rc = DB_RENAME_LONG;
      break;
    }
    memcpy(name, to, tn);
    memcpy(name + tn, l.name[i] + fn, rest + 1);
    rc = labdb_rename_one(db, user_id, l.name[i], name);
  }
  free(l.name);
  if (rc == 0 && db_lab_release(db) == 0) return 0;
  db_lab_rollback(db);
  return rc ? rc : -1;
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

DB_ROW_WALK(mailbox, struct db_mailbox, labdb_mailbox_row)
DB_ROW_GET(mailbox, struct db_mailbox, labdb_mailbox_row)

int db_mailbox_get(struct db *db, int64_t user_id, const char *name, struct db_mailbox *out) {
  sqlite3_stmt *st;

  name = labdb_mailbox_name(name);
  if (labdb_ensure_inbox(db, user_id, name) != 0) return -1;
  st = db_stmt(db, DB_STMT_MAILBOX_GET,
               LABDB_MAILBOX_COLUMNS "WHERE b.user_id = ?1 AND b.name = ?2");
  return mailbox_get(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(name)), out);
}

/* The callback may call other db functions, but not db_mailbox_list. */
int db_mailbox_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_mailbox *m), void *arg) {
  sqlite3_stmt *st;

  if (labdb_ensure_inbox(db, user_id, "INBOX") != 0) return -1;
  st = db_stmt(db, DB_STMT_MAILBOX_LIST,
               LABDB_MAILBOX_COLUMNS "WHERE b.user_id = ?1 ORDER BY b.name <> 'INBOX', b.name");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(user_id)), mailbox_row,
                      &(struct mailbox_walk){cb, arg});
}

/* --- messages ------------------------------------------------------------------ */

/* Takes the mailbox's next UID and bumps its counter in one statement. A
 * UID taken by a write that later fails is simply never used. 1 = no such
 * mailbox. */
static int labdb_take_uid(struct db *db, int64_t user_id, const char *mailbox, int64_t *uid) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAIL_NEXT_UID,
                             "UPDATE lab_mailboxes SET uidnext = uidnext + 1 "
                             "WHERE user_id = ?1 AND name = ?2 RETURNING uidnext - 1");

  return db_exec_int(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(mailbox)), uid);
}

/* Opens the savepoint and takes the mailbox's next UID: 0 with the
 * savepoint open, or 1 (no such mailbox) or -1 with nothing left open. */
static int labdb_begin_uid(struct db *db, int64_t user_id, const char *mailbox, int64_t *uid) {
  int rc;

  if (labdb_ensure_inbox(db, user_id, mailbox) != 0) return -1;
  if (db_lab_savepoint(db) != 0) return -1;
  rc = labdb_take_uid(db, user_id, mailbox, uid);
  if (rc != 0) db_lab_rollback(db);
  return rc;
}

/* Ends the savepoint: kept when rc is 0 and it is released, else rolled
 * back (a UID taken in it is then never used). Returns rc, or -1. */
static int labdb_end(struct db *db, int rc) {
  if (rc == 0 && db_lab_release(db) == 0) return 0;
  db_lab_rollback(db);
  return rc ? rc : -1;
}

int db_mail_append(struct db *db, int64_t user_id, const char *mailbox, const void *msg, size_t len,
                   unsigned flags, int64_t internal_date, int64_t *uid_out) {
  sqlite3_stmt *st;
  int64_t uid;
  int rc;

  mailbox = labdb_mailbox_name(mailbox);
  if ((rc = labdb_begin_uid(db, user_id, mailbox, &uid)) != 0) return rc;
  st = db_stmt(db, DB_STMT_MAIL_INSERT,
               "INSERT INTO lab_messages(user_id, mailbox, uid, flags, internal_date, body) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  rc = db_exec_done(db, st,
                    DB_ARGS(DB_INT(user_id), DB_TEXT(mailbox), DB_INT(uid), DB_INT(flags),
                            DB_INT(internal_date), DB_BLOB(msg, len)));
  if ((rc = labdb_end(db, rc)) == 0 && uid_out) *uid_out = uid;
  return rc;
}

static void labdb_mail_row(sqlite3_stmt *st, struct db_mail *m) {
  m->uid = sqlite3_column_int64(st, 0);
  m->flags = (unsigned)sqlite3_column_int64(st, 1);
  m->internal_date = sqlite3_column_int64(st, 2);
  m->size = (size_t)sqlite3_column_int64(st, 3);
}

DB_ROW_WALK(mail, struct db_mail, labdb_mail_row)

/* The callback may call other db functions (db_mail_get to fetch a body),
 * but not db_mail_list. 1 = no such mailbox. */
int db_mail_list(struct db *db, int64_t user_id, const char *mailbox,
                 int (*cb)(void *arg, const struct db_mail *m), void *arg) {
  sqlite3_stmt *st;
  int rc;

  mailbox = labdb_mailbox_name(mailbox);
  rc = db_mailbox_get(db, user_id, mailbox, NULL);
  if (rc != 0) return rc;
  st = db_stmt(db, DB_STMT_MAIL_LIST,
               "SELECT uid, flags, internal_date, length(body) FROM lab_messages "
               "WHERE user_id = ?1 AND mailbox = ?2 ORDER BY uid");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(mailbox)), mail_row,
                      &(struct mail_walk){cb, arg});
}

int db_mail_get(struct db *db, int64_t user_id, const char *mailbox, int64_t uid,
                struct db_mail *meta, unsigned char **body, size_t *len) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAIL_GET,
                             "SELECT uid, flags, internal_date, length(body), body "
                             "FROM lab_messages WHERE user_id = ?1 AND mailbox = ?2 AND uid = ?3");
  struct db_mail m;
  int rc;

  mailbox = labdb_mailbox_name(mailbox);
  rc = db_exec_row(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(mailbox), DB_INT(uid)));
  if (rc != 0) return rc;
  labdb_mail_row(st, &m);
  if (body && db_column_dup(db, st, 4, body, len) != 0) {
    db_stmt_release(st);
    return -1;
  }
  if (meta) *meta = m;
  db_stmt_release(st);
  return 0;
}

int db_mail_set_flags(struct db *db, int64_t user_id, const char *mailbox, int64_t uid,
                      unsigned flags) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAIL_SET_FLAGS,
                             "UPDATE lab_messages SET flags = ?4 "
                             "WHERE user_id = ?1 AND mailbox = ?2 AND uid = ?3");

  mailbox = labdb_mailbox_name(mailbox);
  return db_exec_changed(db, st,
                         DB_ARGS(DB_INT(user_id), DB_TEXT(mailbox), DB_INT(uid), DB_INT(flags)));
}

int db_mail_delete(struct db *db, int64_t user_id, const char *mailbox, int64_t uid) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_MAIL_DELETE,
                             "DELETE FROM lab_messages "
                             "WHERE user_id = ?1 AND mailbox = ?2 AND uid = ?3");

  mailbox = labdb_mailbox_name(mailbox);
  return db_exec_changed(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(mailbox), DB_INT(uid)));
}

/* 1 = no such message or no such target mailbox. */
int db_mail_copy(struct db *db, int64_t user_id, const char *from, int64_t uid, const char *to,
                 int64_t *new_uid) {
  sqlite3_stmt *st;
  int64_t uid2;
  int rc;

  from = labdb_mailbox_name(from);
  to = labdb_mailbox_name(to);
  if ((rc = labdb_begin_uid(db, user_id, to, &uid2)) != 0) return rc;
  st = db_stmt(db, DB_STMT_MAIL_COPY,
               "INSERT INTO lab_messages(user_id, mailbox, uid, flags, internal_date, body) "
               "SELECT user_id, ?4, ?5, flags, internal_date, body FROM lab_messages "
               "WHERE user_id = ?1 AND mailbox = ?2 AND uid = ?3");
  /* 1: no such message, nothing copied. */
  rc = db_exec_changed(
      db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(from), DB_INT(uid), DB_TEXT(to), DB_INT(uid2)));
  if ((rc = labdb_end(db, rc)) == 0 && new_uid) *new_uid = uid2;
  return rc;
}

int db_mail_usage(struct db *db, int64_t user_id, int64_t *bytes) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_MAIL_USAGE,
              "SELECT coalesce(sum(length(body)), 0) FROM lab_messages WHERE user_id = ?1");

  return db_exec_int(db, st, DB_ARGS(DB_INT(user_id)), bytes) == 0 ? 0 : -1;
}
