/* test_labdata.c -- lab accounts, the mail store, virtual files, seeding, paths.
 *
 * Runs against an in-memory database through labdb.h and labdata.h only.
 * The path table is the contract FTP and the Telnet shell rely on: any
 * result outside "/" must be refused, never clamped into something else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "db.h"
#include "db_internal.h" /* the raw connection, to make a commit fail */
#include "labdata.h"
#include "labdb.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* --- paths ---------------------------------------------------------------- */

struct vpath_case {
  const char *cwd, *arg, *want; /* want NULL: refused */
};

static const struct vpath_case vpath_cases[] = {
    {"/", "", "/"},
    {"/", ".", "/"},
    {"/", "/", "/"},
    {"/", "a", "/a"},
    {"/", "a/./b", "/a/b"},
    {"/", "a/b/..", "/a"},
    {"/", "a/b/../..", "/"},
    {"/", "//x", "/x"},
    {"/", "x//y///", "/x/y"},
    {"/notes", "ports.txt", "/notes/ports.txt"},
    {"/notes", "../welcome.txt", "/welcome.txt"},
    {"/notes", "/pub/readme.txt", "/pub/readme.txt"},
    {"/notes", "..", "/"},
    {"/notes/deep", "../..", "/"},
    {"/", "...", "/..."},
    {"/", "..x", "/..x"},
    {"/", "a b", "/a b"},
    {"/", "..", NULL},
    {"/", "../etc/passwd", NULL},
    {"/notes", "../../etc", NULL},
    {"/", "/../x", NULL},
    {"/", "a/../../b", NULL},
    {"/", "a\tb", NULL},
    {"/", "a\rb", NULL},
    {"/", "a\nb", NULL},
    {"/", "a\x7f", NULL},
    {"/", "a\x01", NULL},
    {"relative", "a", NULL},
    {"/", "a\0/../../..", "/a"}, /* C strings end at NUL: modules check strlen != len */
};

static void test_vpath(void) {
  char out[256];
  char small[8];
  char longarg[600];

  for (size_t i = 0; i < sizeof vpath_cases / sizeof vpath_cases[0]; i++) {
    const struct vpath_case *t = &vpath_cases[i];
    int rc = vpath_resolve(t->cwd, t->arg, out, sizeof out);
    if (t->want) {
      CHECK_EQ_INT(rc, 0);
      if (rc == 0) CHECK_EQ_STR(out, t->want);
    } else {
      CHECK_EQ_INT(rc, -1);
    }
  }
  /* Overlong: fits exactly, then one byte too many. */
  CHECK_EQ_INT(vpath_resolve("/", "abcdef", small, sizeof small), 0);
  CHECK_EQ_STR(small, "/abcdef");
  CHECK_EQ_INT(vpath_resolve("/", "abcdefg", small, sizeof small), -1);
  CHECK_EQ_INT(vpath_resolve("/ab", "cdefg", small, sizeof small), -1);
  memset(longarg, 'a', sizeof longarg - 1);
  longarg[sizeof longarg - 1] = '\0';
  CHECK_EQ_INT(vpath_resolve("/", longarg, out, sizeof out), -1);
  /* A long input that shrinks back is fine: only the result counts. */
  memcpy(longarg, "x/", 2);
  memset(longarg + 2, '.', 1);
  for (size_t i = 2; i + 2 < sizeof longarg - 1; i += 2) memcpy(longarg + i, "./", 2);
  CHECK_EQ_INT(vpath_resolve("/", longarg, out, sizeof out), 0);
}

/* --- flags ------------------------------------------------------------------ */

static void test_flags(void) {
  char a[40], b[40], c[40], d[40], e[40];

  labdata_flag(SECRET, "ftp", "alice", a);
  labdata_flag(SECRET, "ftp", "alice", b);
  labdata_flag(SECRET, "ftp", "bob", c);
  labdata_flag(SECRET, "http", "alice", d);
  labdata_flag("another-secret", "ftp", "alice", e);
  CHECK_EQ_STR(a, b);
  CHECK(strcmp(a, c) != 0);
  CHECK(strcmp(a, d) != 0);
  CHECK(strcmp(a, e) != 0);
  CHECK_EQ_INT(strlen(a), 30);
  CHECK(strncmp(a, "FLAG{", 5) == 0 && a[29] == '}');
  labdata_flag(SECRET, "ftp", "ALICE", b); /* names are case-insensitive */
  CHECK_EQ_STR(a, b);
}

/* --- accounts ------------------------------------------------------------------ */

static void test_accounts(struct db *db) {
  struct db_user u;
  int64_t demo, demo2, alice, teacher;
  int created;

  CHECK_EQ_INT(db_lab_ensure_demo(db, &demo, &created), 0);
  CHECK_EQ_INT(created, 1);
  CHECK_EQ_INT(db_lab_ensure_demo(db, &demo2, &created), 0);
  CHECK_EQ_INT(created, 0);
  CHECK_EQ_INT(demo, demo2);
  CHECK_EQ_INT(db_user_create(db, "alice", "student", "s3cretpw", "hash", &alice), 0);
  CHECK_EQ_INT(db_user_create(db, "teacher", "teacher", "", NULL, &teacher), 0);

  CHECK_EQ_INT(db_lab_login(db, "demo", "demo", &u), 0);
  CHECK_EQ_INT(u.id, demo);
  CHECK_EQ_INT(db_lab_login(db, "DeMo", "demo", &u), 0);
  CHECK_EQ_INT(db_lab_login(db, "demo", "DEMO", &u), 1);
  CHECK_EQ_INT(db_lab_login(db, "alice", "s3cretpw", &u), 0);
  CHECK_EQ_STR(u.name, "alice");
  CHECK_EQ_INT(db_lab_login(db, "Alice", "s3cretpw", &u), 0);
  CHECK_EQ_INT(db_lab_login(db, "alice", "s3cretp", &u), 1);
  CHECK_EQ_INT(db_lab_login(db, "alice", "", &u), 1);
  CHECK_EQ_INT(db_lab_login(db, "nobody", "x", &u), 1);
  CHECK_EQ_INT(db_lab_login(db, "teacher", "", &u), 1);
  CHECK_EQ_INT(db_lab_login(db, "", "", &u), 1);
  CHECK_EQ_INT(db_lab_login(db, "a'b", "x", &u), 1);
  CHECK_EQ_INT(db_lab_account(db, "ALICE", &u), 0);
  CHECK_EQ_INT(u.id, alice);
  CHECK_EQ_INT(db_lab_account(db, "teacher", &u), 1);
}

/* --- mail ------------------------------------------------------------------------ */

struct uid_list {
  int n;
  int64_t uid[16];
  unsigned flags[16];
  size_t size[16];
};

static int collect_mail(void *arg, const struct db_mail *m) {
  struct uid_list *l = arg;
  if (l->n < 16) {
    l->uid[l->n] = m->uid;
    l->flags[l->n] = m->flags;
    l->size[l->n] = m->size;
  }
  l->n++;
  return 0;
}

struct box_list {
  int n;
  char names[8][64];
  int64_t messages[8];
};

static int collect_box(void *arg, const struct db_mailbox *m) {
  struct box_list *l = arg;
  if (l->n < 8) {
    strcpy(l->names[l->n], m->name);
    l->messages[l->n] = m->messages;
  }
  l->n++;
  return 0;
}

static void test_mail(struct db *db) {
  int64_t uid = 0, u1, u2, u3, copy_uid;
  struct db_mailbox mb, mb2;
  struct db_mail meta;
  struct uid_list l;
  struct box_list bl;
  unsigned char *body = NULL;
  size_t len = 0;
  int64_t user;

  CHECK_EQ_INT(db_user_create(db, "mailer", "student", "pw", NULL, &user), 0);
  /* INBOX exists from the first look. */
  CHECK_EQ_INT(db_mailbox_get(db, user, "inbox", &mb), 0);
  CHECK_EQ_STR(mb.name, "INBOX");
  CHECK_EQ_INT(mb.uidnext, 1);
  CHECK(mb.uidvalidity > 0);
  CHECK_EQ_INT(mb.messages, 0);

  CHECK_EQ_INT(db_mail_append(db, user, "INBOX", "one", 3, 0, 1000, &u1), 0);
  CHECK_EQ_INT(db_mail_append(db, user, "Inbox", "two!", 4, DB_MAIL_SEEN, 1001, &u2), 0);
  CHECK_EQ_INT(db_mail_append(db, user, "INBOX", "", 0, 0, 1002, &u3), 0);
  CHECK_EQ_INT(u1, 1);
  CHECK_EQ_INT(u2, 2);
  CHECK_EQ_INT(u3, 3);
  CHECK_EQ_INT(db_mail_append(db, user, "NoSuchBox", "x", 1, 0, 1, &uid), 1);
  CHECK_EQ_INT(db_mailbox_get(db, user, "INBOX", &mb), 0);
  CHECK_EQ_INT(mb.messages, 3);
  CHECK_EQ_INT(mb.unseen, 2);
  CHECK_EQ_INT(mb.uidnext, 4);

  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(db_mail_list(db, user, "INBOX", collect_mail, &l), 0);
  CHECK_EQ_INT(l.n, 3);
  CHECK_EQ_INT(l.uid[0], 1);
  CHECK_EQ_INT(l.uid[2], 3);
  CHECK_EQ_INT(l.size[1], 4);
  CHECK_EQ_INT(l.flags[1], DB_MAIL_SEEN);
  CHECK_EQ_INT(l.size[2], 0);
  CHECK_EQ_INT(db_mail_list(db, user, "NoSuchBox", collect_mail, &l), 1);

  CHECK_EQ_INT(db_mail_get(db, user, "INBOX", 2, &meta, &body, &len), 0);
  CHECK_EQ_INT(len, 4);
  CHECK(body && memcmp(body, "two!", 4) == 0);
  CHECK_EQ_INT(meta.internal_date, 1001);
  free(body);
  body = NULL;
  CHECK_EQ_INT(db_mail_get(db, user, "INBOX", 3, &meta, &body, &len), 0);
  CHECK_EQ_INT(len, 0);
  CHECK(body != NULL);
  free(body);
  body = NULL;
  CHECK_EQ_INT(db_mail_get(db, user, "INBOX", 1, &meta, NULL, NULL), 0);
  CHECK_EQ_INT(meta.size, 3);
  CHECK_EQ_INT(db_mail_get(db, user, "INBOX", 99, &meta, NULL, NULL), 1);

  CHECK_EQ_INT(db_mail_set_flags(db, user, "INBOX", 1, DB_MAIL_SEEN | DB_MAIL_FLAGGED), 0);
  CHECK_EQ_INT(db_mail_get(db, user, "INBOX", 1, &meta, NULL, NULL), 0);
  CHECK_EQ_INT(meta.flags, DB_MAIL_SEEN | DB_MAIL_FLAGGED);
  CHECK_EQ_INT(db_mail_set_flags(db, user, "INBOX", 99, 0), 1);

  /* UIDs are never reused: delete the newest, the next one still grows. */
  CHECK_EQ_INT(db_mail_delete(db, user, "INBOX", 3), 0);
  CHECK_EQ_INT(db_mail_delete(db, user, "INBOX", 3), 1);
  CHECK_EQ_INT(db_mail_append(db, user, "INBOX", "four", 4, 0, 1003, &uid), 0);
  CHECK_EQ_INT(uid, 4);

  /* Mailboxes: create, duplicate, copy into, list, delete. */
  CHECK_EQ_INT(db_mailbox_create(db, user, "Archive"), 0);
  CHECK_EQ_INT(db_mailbox_create(db, user, "Archive"), 1);
  CHECK_EQ_INT(db_mailbox_create(db, user, "INBOX"), 1);
  CHECK_EQ_INT(db_mail_copy(db, user, "INBOX", 2, "Archive", &copy_uid), 0);
  CHECK_EQ_INT(copy_uid, 1);
  CHECK_EQ_INT(db_mail_copy(db, user, "INBOX", 99, "Archive", &copy_uid), 1);
  CHECK_EQ_INT(db_mail_copy(db, user, "INBOX", 2, "Nowhere", &copy_uid), 1);
  CHECK_EQ_INT(db_mail_copy(db, user, "INBOX", 2, "Archive", &copy_uid), 0);
  CHECK_EQ_INT(copy_uid, 2); /* the failed copy rolled back: 2 was never given out */
  CHECK_EQ_INT(db_mail_get(db, user, "Archive", 1, &meta, &body, &len), 0);
  CHECK(len == 4 && memcmp(body, "two!", 4) == 0);
  CHECK_EQ_INT(meta.flags, DB_MAIL_SEEN);
  free(body);
  body = NULL;
  CHECK_EQ_INT(db_mailbox_create(db, user, "Drafts"), 0);
  memset(&bl, 0, sizeof bl);
  CHECK_EQ_INT(db_mailbox_list(db, user, collect_box, &bl), 0);
  CHECK_EQ_INT(bl.n, 3);
  CHECK_EQ_STR(bl.names[0], "INBOX");
  CHECK_EQ_STR(bl.names[1], "Archive");
  CHECK_EQ_STR(bl.names[2], "Drafts");
  CHECK_EQ_INT(bl.messages[1], 2);

  CHECK_EQ_INT(db_mailbox_get(db, user, "Archive", &mb), 0);
  CHECK_EQ_INT(db_mailbox_delete(db, user, "Archive"), 0);
  CHECK_EQ_INT(db_mailbox_delete(db, user, "Archive"), 1);
  CHECK_EQ_INT(db_mailbox_delete(db, user, "INBOX"), 1);
  CHECK_EQ_INT(db_mailbox_get(db, user, "Archive", &mb2), 1);
  CHECK_EQ_INT(db_mail_get(db, user, "Archive", 1, &meta, NULL, NULL), 1);
  /* Made again, it gets a new UIDVALIDITY: clients must drop their cache. */
  CHECK_EQ_INT(db_mailbox_create(db, user, "Archive"), 0);
  CHECK_EQ_INT(db_mailbox_get(db, user, "Archive", &mb2), 0);
  CHECK(mb2.uidvalidity > mb.uidvalidity);
  CHECK_EQ_INT(mb2.messages, 0);
  CHECK_EQ_INT(db_mailbox_create(db, user, ""), -1);
  CHECK_EQ_INT(db_mailbox_create(db, user, "bad\nname"), -1);

  /* Mail is per user. */
  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(db_mail_list(db, user + 1000, "INBOX", collect_mail, &l), -1);
}

/* --- files --------------------------------------------------------------------------- */

struct file_list {
  int n;
  char paths[8][256];
  int is_dir[8];
};

static int collect_file(void *arg, const struct db_file *f) {
  struct file_list *l = arg;
  if (l->n < 8) {
    strcpy(l->paths[l->n], f->path);
    l->is_dir[l->n] = f->is_dir;
  }
  l->n++;
  return 0;
}

static void test_files(struct db *db) {
  struct db_file f;
  struct file_list l;
  unsigned char *data = NULL;
  size_t len;
  int64_t bytes, owner = 4242;

  CHECK_EQ_INT(db_file_stat(db, owner, "/", &f), 0);
  CHECK_EQ_INT(f.is_dir, 1);
  CHECK_EQ_INT(db_file_stat(db, owner, "/a.txt", &f), 1);
  CHECK_EQ_INT(db_file_write(db, owner, "/a.txt", "hello", 5, 100), 0);
  CHECK_EQ_INT(db_file_stat(db, owner, "/a.txt", &f), 0);
  CHECK_EQ_INT(f.is_dir, 0);
  CHECK_EQ_INT(f.size, 5);
  CHECK_EQ_INT(f.mtime, 100);
  CHECK_EQ_INT(db_file_read(db, owner, "/a.txt", &data, &len), 0);
  CHECK(len == 5 && memcmp(data, "hello", 5) == 0);
  free(data);
  data = NULL;
  /* Replace; an empty file is a real file. */
  CHECK_EQ_INT(db_file_write(db, owner, "/a.txt", "", 0, 101), 0);
  CHECK_EQ_INT(db_file_read(db, owner, "/a.txt", &data, &len), 0);
  CHECK_EQ_INT(len, 0);
  free(data);
  data = NULL;

  /* Parent missing, then made. */
  CHECK_EQ_INT(db_file_write(db, owner, "/d/b.txt", "x", 1, 1), 1);
  CHECK_EQ_INT(db_file_mkdir(db, owner, "/d/e", 1), 1);
  CHECK_EQ_INT(db_file_mkdir(db, owner, "/d", 1), 0);
  CHECK_EQ_INT(db_file_mkdir(db, owner, "/d", 1), 1);
  CHECK_EQ_INT(db_file_mkdir(db, owner, "/", 1), 1);
  CHECK_EQ_INT(db_file_mkdir(db, owner, "/a.txt", 1), 1);
  CHECK_EQ_INT(db_file_write(db, owner, "/d/b.txt", "xyz", 3, 1), 0);
  CHECK_EQ_INT(db_file_mkdir(db, owner, "/d/e", 1), 0);
  /* A file is not a parent; a directory is not overwritten by a file. */
  CHECK_EQ_INT(db_file_write(db, owner, "/a.txt/x", "x", 1, 1), 1);
  CHECK_EQ_INT(db_file_write(db, owner, "/d", "x", 1, 1), 1);
  CHECK_EQ_INT(db_file_write(db, owner, "/", "x", 1, 1), 1);
  CHECK_EQ_INT(db_file_read(db, owner, "/d", &data, &len), 1);
  CHECK_EQ_INT(db_file_write(db, owner, "relative", "x", 1, 1), -1);
  CHECK_EQ_INT(db_file_write(db, owner, "/d/../x", "x", 1, 1), -1); /* not normalised */
  CHECK_EQ_INT(db_file_mkdir(db, owner, "/./x", 1), -1);
  CHECK_EQ_INT(db_file_write(db, owner, "/d/", "x", 1, 1), -1);

  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(db_file_list(db, owner, "/", collect_file, &l), 0);
  CHECK_EQ_INT(l.n, 2);
  CHECK_EQ_STR(l.paths[0], "/a.txt");
  CHECK_EQ_STR(l.paths[1], "/d");
  CHECK_EQ_INT(l.is_dir[1], 1);
  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(db_file_list(db, owner, "/d", collect_file, &l), 0);
  CHECK_EQ_INT(l.n, 2);
  CHECK_EQ_STR(l.paths[0], "/d/b.txt");
  CHECK_EQ_STR(l.paths[1], "/d/e");
  CHECK_EQ_INT(db_file_list(db, owner, "/nope", collect_file, &l), 1);
  CHECK_EQ_INT(db_file_list(db, owner, "/a.txt", collect_file, &l), 1);

  CHECK_EQ_INT(db_file_usage(db, owner, &bytes), 0);
  CHECK_EQ_INT(bytes, 3);

  /* Remove: wrong kind, not empty, then in order. */
  CHECK_EQ_INT(db_file_remove(db, owner, "/d", 0), 1);
  CHECK_EQ_INT(db_file_remove(db, owner, "/a.txt", 1), 1);
  CHECK_EQ_INT(db_file_remove(db, owner, "/d", 1), 1);
  CHECK_EQ_INT(db_file_remove(db, owner, "/d/b.txt", 0), 0);
  CHECK_EQ_INT(db_file_remove(db, owner, "/d/e", 1), 0);
  CHECK_EQ_INT(db_file_remove(db, owner, "/d", 1), 0);
  CHECK_EQ_INT(db_file_remove(db, owner, "/d", 1), 1);
  CHECK_EQ_INT(db_file_remove(db, owner, "/", 1), 1);
  CHECK_EQ_INT(db_file_usage(db, owner, &bytes), 0);
  CHECK_EQ_INT(bytes, 0);
  /* Trees are per owner. */
  CHECK_EQ_INT(db_file_stat(db, owner + 1, "/a.txt", &f), 1);
}

/* --- seeding --------------------------------------------------------------------------- */

static void test_seeding(struct db *db) {
  struct db_user demo;
  struct db_mailbox mb;
  struct db_file f;
  struct uid_list l;
  unsigned char *data = NULL;
  size_t len;
  char flag[40];
  int64_t carol;

  CHECK_EQ_INT(labdata_seed_common(db, SECRET), 0);
  CHECK_EQ_INT(labdata_seed_common(db, SECRET), 0);
  CHECK_EQ_INT(db_file_stat(db, 0, "/pub", &f), 0);
  CHECK_EQ_INT(f.is_dir, 1);
  CHECK_EQ_INT(db_file_stat(db, 0, "/pub/readme.txt", &f), 0);
  CHECK_EQ_INT(db_file_stat(db, 0, "/pub/about-ftp.txt", &f), 0);
  CHECK_EQ_INT(db_lab_login(db, "demo", "demo", &demo), 0);
  CHECK_EQ_INT(db_mailbox_get(db, demo.id, "INBOX", &mb), 0);
  CHECK_EQ_INT(mb.messages, 2);

  CHECK_EQ_INT(db_user_create(db, "carol", "student", "pw", NULL, &carol), 0);
  CHECK_EQ_INT(labdata_seed_account(db, SECRET, carol, "carol"), 0);
  CHECK_EQ_INT(labdata_seed_account(db, SECRET, carol, "carol"), 0);
  CHECK_EQ_INT(db_mailbox_get(db, carol, "INBOX", &mb), 0);
  CHECK_EQ_INT(mb.messages, 2);
  CHECK_EQ_INT(mb.uidnext, 3);
  memset(&l, 0, sizeof l);
  CHECK_EQ_INT(db_mail_list(db, carol, "INBOX", collect_mail, &l), 0);
  CHECK_EQ_INT(db_mail_get(db, carol, "INBOX", l.uid[0], NULL, &data, &len), 0);
  CHECK(data && strstr((char *)data, "From: Teacher <teacher@lab>\r\n") != NULL);
  CHECK(data && strstr((char *)data, "To: carol <carol@lab>\r\n") != NULL);
  CHECK(data && strstr((char *)data, "\r\nDate: ") == NULL &&
        strncmp((char *)data, "Date: ", 6) == 0);
  CHECK(data && strstr((char *)data, "\r\nSubject: ") != NULL);
  CHECK(data && strstr((char *)data, "\r\nMessage-ID: <") != NULL);
  CHECK(data && strstr((char *)data, "\r\n\r\n") != NULL);
  /* Every line ends in CRLF, as mail on the wire must. */
  for (size_t i = 0; data && i < len; i++)
    if (data[i] == '\n') CHECK(i > 0 && data[i - 1] == '\r');
  free(data);
  data = NULL;

  CHECK_EQ_INT(db_file_stat(db, carol, "/welcome.txt", &f), 0);
  CHECK_EQ_INT(db_file_stat(db, carol, "/notes", &f), 0);
  CHECK_EQ_INT(f.is_dir, 1);
  CHECK_EQ_INT(db_file_stat(db, carol, "/notes/ports.txt", &f), 0);
  CHECK_EQ_INT(db_file_read(db, carol, "/notes/ftp-flag.txt", &data, &len), 0);
  labdata_flag(SECRET, "ftp", "carol", flag);
  CHECK(data && strstr((char *)data, flag) != NULL);
  free(data);
  data = NULL;
  /* The demo account's flag file holds the demo flag, not carol's. */
  CHECK_EQ_INT(db_file_read(db, demo.id, "/notes/ftp-flag.txt", &data, &len), 0);
  CHECK(data && strstr((char *)data, flag) == NULL);
  free(data);
}

/* The counts the quotas are checked against. */
static void test_usage_counts(struct db *db) {
  int64_t erin, n = -1;

  CHECK_EQ_INT(db_user_create(db, "erin", "student", "pw", NULL, &erin), 0);
  CHECK_EQ_INT(db_mail_usage(db, erin, &n), 0);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(db_mail_append(db, erin, "INBOX", "12345", 5, 0, 0, NULL), 0);
  CHECK_EQ_INT(db_mailbox_create(db, erin, "Other"), 0);
  CHECK_EQ_INT(db_mail_append(db, erin, "Other", "123", 3, 0, 0, NULL), 0);
  CHECK_EQ_INT(db_mail_usage(db, erin, &n), 0);
  CHECK_EQ_INT(n, 8);
  CHECK_EQ_INT(db_file_count(db, erin, &n), 0);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(db_file_mkdir(db, erin, "/d", 0), 0);
  CHECK_EQ_INT(db_file_write(db, erin, "/d/empty", "", 0, 0), 0);
  CHECK_EQ_INT(db_file_count(db, erin, &n), 0);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(db_file_usage(db, erin, &n), 0);
  CHECK_EQ_INT(n, 0);
}

/* Every path through labdata_seed_account() ends its savepoint. When the
 * account was seeded already, the release is the commit (no caller
 * transaction is open); if it fails, the savepoint must be rolled back,
 * not left open with the transaction. A deferred foreign key that a
 * trigger breaks makes exactly that commit fail (the trigger runs before
 * the claim finds the existing row). */
static void test_seed_release_failure(struct db *db) {
  int64_t dave, n = -1;

  CHECK_EQ_INT(db_user_create(db, "dave", "student", "pw", NULL, &dave), 0);
  CHECK_EQ_INT(labdata_seed_account(db, SECRET, dave, "dave"), 0);
  CHECK_EQ_INT(sqlite3_exec(db->conn,
                            "CREATE TEMP TABLE fk_parent(id INTEGER PRIMARY KEY);"
                            "CREATE TEMP TABLE fk_child(pid INTEGER REFERENCES fk_parent(id) "
                            "  DEFERRABLE INITIALLY DEFERRED);"
                            "CREATE TEMP TRIGGER fk_break BEFORE INSERT ON main.lab_seeded BEGIN"
                            "  INSERT INTO fk_child(pid) VALUES (1);"
                            "END;",
                            NULL, NULL, NULL),
               SQLITE_OK);
  CHECK_EQ_INT(labdata_seed_account(db, SECRET, dave, "dave"), -1);
  CHECK(sqlite3_get_autocommit(db->conn) != 0); /* no transaction left behind */
  CHECK_EQ_INT(sqlite3_exec(db->conn, "DROP TRIGGER temp.fk_break", NULL, NULL, NULL), SQLITE_OK);
  /* Nothing of the failed call remains, and the next call works. */
  CHECK_EQ_INT(db_file_count(db, dave, &n), 0);
  CHECK(n > 0);
  CHECK_EQ_INT(labdata_seed_account(db, SECRET, dave, "dave"), 0);
  CHECK(sqlite3_get_autocommit(db->conn) != 0);
}

/* A savepoint outside a transaction takes the write lock at once. Another
 * connection (the recorder's) committing between its read and its write
 * would otherwise make the write fail with SQLITE_BUSY_SNAPSHOT, which no
 * busy timeout waits out: FTP's RNTO (read, write, remove) answered 451
 * that way. Inside a caller's transaction it nests and commits nothing. */
static void test_savepoint_write_lock(void) {
  char dir[] = "/tmp/test_labdata.XXXXXX", path[64], err[256];
  struct db *db;
  sqlite3 *other = NULL;
  unsigned char *data = NULL;
  size_t len = 0;
  int64_t eve;

  CHECK(mkdtemp(dir) != NULL);
  snprintf(path, sizeof path, "%s/lab.db", dir);
  db = db_open(path, err, sizeof err);
  CHECK(db != NULL);
  if (!db) return;
  CHECK_EQ_INT(db_user_create(db, "eve", "student", "pw", NULL, &eve), 0);
  CHECK_EQ_INT(db_file_write(db, eve, "/a.txt", "abc", 3, 1), 0);
  CHECK_EQ_INT(sqlite3_open(path, &other), SQLITE_OK);
  sqlite3_busy_timeout(other, 0);

  CHECK_EQ_INT(db_lab_savepoint(db), 0);
  CHECK_EQ_INT(db_file_read(db, eve, "/a.txt", &data, &len), 0);
  /* The other connection cannot slip a commit in between. */
  CHECK_EQ_INT(sqlite3_exec(other, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_BUSY);
  CHECK_EQ_INT(db_file_write(db, eve, "/b.txt", data, len, 2), 0);
  CHECK_EQ_INT(db_file_remove(db, eve, "/a.txt", 0), 0);
  CHECK_EQ_INT(db_lab_release(db), 0);
  CHECK(sqlite3_get_autocommit(db->conn) != 0); /* the release committed */
  CHECK_EQ_INT(sqlite3_exec(other, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
  free(data);

  /* Nested in a caller's transaction: released, still the caller's. */
  CHECK_EQ_INT(db_begin(db), 0);
  CHECK_EQ_INT(db_lab_savepoint(db), 0);
  CHECK_EQ_INT(db_lab_savepoint(db), 0);
  CHECK_EQ_INT(db_lab_release(db), 0);
  CHECK_EQ_INT(db_lab_rollback(db), 0);
  CHECK(sqlite3_get_autocommit(db->conn) == 0);
  CHECK_EQ_INT(db_commit(db), 0);
  /* Two deep outside one: only the outermost release commits. */
  CHECK_EQ_INT(db_lab_savepoint(db), 0);
  CHECK_EQ_INT(db_lab_savepoint(db), 0);
  CHECK_EQ_INT(db_lab_release(db), 0);
  CHECK(sqlite3_get_autocommit(db->conn) == 0);
  CHECK_EQ_INT(db_lab_rollback(db), 0);
  CHECK(sqlite3_get_autocommit(db->conn) != 0);

  sqlite3_close(other);
  db_close(db);
  snprintf(path, sizeof path, "%s/lab.db", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/lab.db-wal", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/lab.db-shm", dir);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  char err[256];
  struct db *db = db_open(":memory:", err, sizeof err);

  if (!db) {
    fprintf(stderr, "db_open: %s\n", err);
    return 1;
  }
  test_vpath();
  test_flags();
  test_accounts(db);
  test_mail(db);
  test_files(db);
  test_seeding(db);
  test_usage_counts(db);
  test_seed_release_failure(db);
  db_close(db);
  test_savepoint_write_lock();
  return check_done();
}
