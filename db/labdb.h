/* labdb.h -- the lab servers' shared data: accounts, mail store, virtual files.
 *
 * Same conventions as db.h (0 done/found, 1 not found or conflict as
 * stated, -1 database error). Mail delivered by SMTP is visible at once to
 * POP3 and IMAP because all three read these tables.
 */
#ifndef PORTLAB_LABDB_H
#define PORTLAB_LABDB_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define LABDB_DEMO_USER "demo"
#define LABDB_DEMO_PASSWORD "demo"

/* --- accounts: every student, plus the shared demo account ------------- */

/* Checks lab credentials (user name case-insensitive, password compared in
 * constant time). 0 and fills out; 1 = wrong user or password. */
int db_lab_login(struct db *db, const char *user, const char *password, struct db_user *out);
/* 0 and fills out if a lab account (student or demo) has this name, else 1. */
int db_lab_account(struct db *db, const char *user, struct db_user *out);
/* Creates the demo account if missing (a student-role user named "demo"
 * with the password "demo"). Its id goes to id_out; created_out = 1 if new. */
int db_lab_ensure_demo(struct db *db, int64_t *id_out, int *created_out);

/* --- seeding (labdata.c) ---------------------------------------------------- */

/* Groups several lab writes so they land together or not at all; nests
 * inside a caller's transaction. Every savepoint ends with release or
 * rollback (which also releases). */
int db_lab_savepoint(struct db *db);
int db_lab_release(struct db *db);
int db_lab_rollback(struct db *db);
/* Marks owner (0 = the public area) as seeded. 0 = marked now (seed it),
 * 1 = it already was. Inside a savepoint, a rollback unmarks it. */
int db_lab_claim_seed(struct db *db, int64_t owner);

/* --- mail ------------------------------------------------------------------ */

enum {
  DB_MAIL_SEEN = 1,
  DB_MAIL_ANSWERED = 2,
  DB_MAIL_FLAGGED = 4,
  DB_MAIL_DELETED = 8,
  DB_MAIL_DRAFT = 16
};

struct db_mail {
  int64_t uid; /* per mailbox, ascending, never reused (IMAP UID) */
  unsigned flags;
  int64_t internal_date; /* unix seconds */
  size_t size;
};

struct db_mailbox {
  char name[64];
  int64_t uidvalidity, uidnext;
  int64_t messages, unseen;
};

/* Mailboxes are per user; "INBOX" always exists (created on demand).
 * Names are hierarchical, with '/' between the levels ("Work/2024"): a
 * mailbox's inferiors are the names that start with its name and '/'. */
int db_mailbox_create(struct db *db, int64_t user_id, const char *name); /* 1 = exists */
/* Creates each superior of name that is missing ("a" and "a/b" for
 * "a/b/c"), empty, as IMAP's CREATE and RENAME should (RFC 3501 sections
 * 6.3.3 and 6.3.5). 0 or -1. */
int db_mailbox_create_superiors(struct db *db, int64_t user_id, const char *name);
/* Deletes the mailbox and its messages; its inferiors stay. */
int db_mailbox_delete(struct db *db, int64_t user_id, const char *name); /* 1 = none or INBOX */
/* 0 if some mailbox is an inferior of name, 1 if none, -1 on an error. */
int db_mailbox_has_inferiors(struct db *db, int64_t user_id, const char *name);
enum {
  DB_RENAME_NONE = 1,   /* no mailbox from, and none below it */
  DB_RENAME_EXISTS = 2, /* to, or a name an inferior would take, is a mailbox already */
  DB_RENAME_INSIDE = 3, /* to is from, or lies below it */
  DB_RENAME_LONG = 4    /* an inferior's new name would be too long */
};
/* Renames from and every inferior of it (IMAP's RENAME, RFC 3501 section
 * 6.3.5), all or nothing; from need not be a mailbox itself when it has
 * inferiors (a level of the hierarchy). Every renamed mailbox gets a new
 * UIDVALIDITY, so a name never shows one UIDVALIDITY with two sets of
 * messages; its messages keep their UIDs, flags and dates. Renaming INBOX
 * moves its messages into a new mailbox to and leaves INBOX there, empty,
 * with its inferiors. 0, DB_RENAME_*, or -1. */
int db_mailbox_rename(struct db *db, int64_t user_id, const char *from, const char *to);
int db_mailbox_get(struct db *db, int64_t user_id, const char *name, struct db_mailbox *out);
int db_mailbox_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_mailbox *m), void *arg);

/* Appends a message; its uid goes to uid_out (may be NULL). 1 = no such mailbox. */
int db_mail_append(struct db *db, int64_t user_id, const char *mailbox, const void *msg, size_t len,
                   unsigned flags, int64_t internal_date, int64_t *uid_out);
/* In uid order. */
int db_mail_list(struct db *db, int64_t user_id, const char *mailbox,
                 int (*cb)(void *arg, const struct db_mail *m), void *arg);
/* Body is malloc'd (caller frees); body may be NULL to fetch meta only. 1 = none. */
int db_mail_get(struct db *db, int64_t user_id, const char *mailbox, int64_t uid,
                struct db_mail *meta, unsigned char **body, size_t *len);
int db_mail_set_flags(struct db *db, int64_t user_id, const char *mailbox, int64_t uid,
                      unsigned flags);
int db_mail_delete(struct db *db, int64_t user_id, const char *mailbox, int64_t uid);
int db_mail_copy(struct db *db, int64_t user_id, const char *from, int64_t uid, const char *to,
                 int64_t *new_uid);
/* Bytes of mail the account stores, every mailbox together (the quota
 * LIM_MAIL_QUOTA_BYTES is checked against this). */
int db_mail_usage(struct db *db, int64_t user_id, int64_t *bytes);

/* --- virtual files ---------------------------------------------------------- */

/* owner 0 is the public anonymous area. Paths are normalised absolute
 * paths ("/", "/notes.txt", "/pub/readme.txt"); callers resolve them with
 * vpath_resolve() first. "/" always exists. */
struct db_file {
  char path[256];
  int is_dir;
  size_t size;
  int64_t mtime; /* unix seconds */
};

int db_file_stat(struct db *db, int64_t owner, const char *path,
                 struct db_file *out); /* 1 = none */
/* Direct children of dir, by name. */
int db_file_list(struct db *db, int64_t owner, const char *dir,
                 int (*cb)(void *arg, const struct db_file *f), void *arg);
int db_file_read(struct db *db, int64_t owner, const char *path, unsigned char **data,
                 size_t *len); /* malloc'd; 1 = none or a directory */
/* Creates or replaces a file. 1 = parent missing or path is a directory. */
int db_file_write(struct db *db, int64_t owner, const char *path, const void *data, size_t len,
                  int64_t mtime);
int db_file_mkdir(struct db *db, int64_t owner, const char *path,
                  int64_t mtime); /* 1 = exists or no parent */
/* Removes a file (is_dir 0) or an empty directory (is_dir 1). 1 = none, wrong kind or not empty. */
int db_file_remove(struct db *db, int64_t owner, const char *path, int is_dir);
int db_file_usage(struct db *db, int64_t owner, int64_t *bytes); /* total bytes stored */
int db_file_count(struct db *db, int64_t owner,
                  int64_t *n); /* files and directories, "/" not counted */

#endif
