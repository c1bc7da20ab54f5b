/* test_imap_mailbox.c -- unit tests for IMAP's mailbox hierarchy and RENAME (imap_mailbox.c).
 *
 * Drives the module through the in-memory connection with an in-memory
 * database, one fresh account per test. Covered: CREATE makes the
 * superior names (RFC 3501 section 6.3.3); LIST shows a level that is no
 * mailbox with \Noselect, for "%" and "*" (section 6.3.8), SELECT and
 * DELETE refuse it (section 6.3.4), DELETE of a mailbox with inferiors
 * keeps them; RENAME (section 6.3.5) with its inferiors, into and out of
 * a hierarchy, of INBOX, and every refusal (no source, a name taken, below
 * itself, too long, the selected mailbox), all or nothing; a renamed
 * mailbox's new UIDVALIDITY, and a session that had the old name selected
 * never seeing another mailbox's messages under it (after a RENAME, or a
 * DELETE and CREATE); the mailbox count and name length at their edges
 * through CREATE and RENAME.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "lab.h"
#include "lab_session.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"
#include "portlab_limits.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PW "Secr3t-Pw"

static struct lab_ctx ctx;

static const char MSG[] = "Subject: kept\r\n\r\nbody\r\n";

/* A new account with an empty INBOX. */
static int64_t account(const char *name) {
  int64_t id = 0;
  CHECK_EQ_INT(db_user_create(ctx.db, name, "student", PW, NULL, &id), 0);
  return id;
}

static struct lab_conn *login(const char *user) {
  char line[128];
  struct lab_conn *c = lab_mem_open(&lab_imap, &ctx, "127.0.0.1");
  take(c);
  snprintf(line, sizeof line, "L LOGIN %s " PW, user);
  CHECK(starts(cmd(c, line), "L OK "));
  return c;
}

static void append(int64_t id, const char *mbox, int n) {
  for (int i = 0; i < n; i++)
    CHECK_EQ_INT(db_mail_append(ctx.db, id, mbox, MSG, strlen(MSG), 0, 1000000000LL, NULL), 0);
}

/* One STATUS item of a mailbox as a number; -1 if STATUS failed. */
static long long status(struct lab_conn *c, const char *mbox, const char *item) {
  char line[160];
  const char *p;
  snprintf(line, sizeof line, "s STATUS \"%s\" (%s)", mbox, item);
  cmd(c, line);
  snprintf(line, sizeof line, "(%s ", item);
  p = strstr(last_out, line);
  return p && has("s OK STATUS completed\r\n") ? atoll(p + strlen(line)) : -1;
}

static void test_create_makes_superiors(void) {
  int64_t id = account("hana");
  struct lab_conn *c = login("hana");

  CHECK_EQ_STR(cmd(c, "c1 CREATE p/q/r"), "c1 OK CREATE completed\r\n");
  CHECK_EQ_STR(cmd(c, "l1 LIST \"\" %"),
               "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
               "* LIST (\\HasChildren) \"/\" p\r\n"
               "l1 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l2 LIST \"\" p/%"),
               "* LIST (\\HasChildren) \"/\" p/q\r\nl2 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l3 LIST p/q/ %"),
               "* LIST (\\HasNoChildren) \"/\" p/q/r\r\nl3 OK LIST completed\r\n");
  /* Each superior is a mailbox of its own: selectable, empty. */
  cmd(c, "s1 SELECT p");
  CHECK(has("* 0 EXISTS\r\n") && has("s1 OK [READ-WRITE] SELECT completed\r\n"));
  cmd(c, "s2 SELECT p/q");
  CHECK(has("s2 OK [READ-WRITE] SELECT completed\r\n"));
  CHECK_EQ_STR(cmd(c, "c2 CREATE p/q"), "c2 NO [ALREADYEXISTS] That mailbox exists already\r\n");
  CHECK_EQ_STR(cmd(c, "c3 CREATE p/x/"), "c3 OK CREATE completed\r\n");
  CHECK_EQ_STR(cmd(c, "c4 CREATE INBOX/kid"), "c4 OK CREATE completed\r\n");
  CHECK_EQ_STR(cmd(c, "l4 LIST \"\" *"),
               "* LIST (\\HasChildren) \"/\" INBOX\r\n"
               "* LIST (\\HasNoChildren) \"/\" INBOX/kid\r\n"
               "* LIST (\\HasChildren) \"/\" p\r\n"
               "* LIST (\\HasChildren) \"/\" p/q\r\n"
               "* LIST (\\HasNoChildren) \"/\" p/q/r\r\n"
               "* LIST (\\HasNoChildren) \"/\" p/x\r\n"
               "l4 OK LIST completed\r\n");
  (void)id;
  lab_mem_free(c);
}

/* Names made before CREATE made superiors, and names left above a
 * deleted mailbox: levels with no mailbox, \Noselect. */
static void test_noselect_levels(void) {
  int64_t id = account("ivan");
  struct lab_conn *c;

  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "old/deep/box"), 0);
  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "old-sibling"), 0);
  c = login("ivan");
  CHECK_EQ_STR(cmd(c, "l1 LIST \"\" %"),
               "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
               "* LIST (\\Noselect \\HasChildren) \"/\" old\r\n"
               "* LIST (\\HasNoChildren) \"/\" old-sibling\r\n"
               "l1 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l2 LIST old/ %"),
               "* LIST (\\Noselect \\HasChildren) \"/\" old/deep\r\nl2 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l3 LIST \"\" old*"),
               "* LIST (\\Noselect \\HasChildren) \"/\" old\r\n"
               "* LIST (\\HasNoChildren) \"/\" old-sibling\r\n"
               "* LIST (\\Noselect \\HasChildren) \"/\" old/deep\r\n"
               "* LIST (\\HasNoChildren) \"/\" old/deep/box\r\n"
               "l3 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l4 LSUB \"\" old/%"),
               "* LSUB (\\Noselect \\HasChildren) \"/\" old/deep\r\nl4 OK LSUB completed\r\n");
  CHECK_EQ_STR(cmd(c, "s1 SELECT old"), "s1 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  CHECK_EQ_STR(cmd(c, "s2 STATUS old (MESSAGES)"),
               "s2 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  CHECK_EQ_STR(cmd(c, "d1 DELETE old/deep"),
               "d1 NO [HASCHILDREN] That name is only a level of the hierarchy (\\Noselect): "
               "delete the mailboxes below it first\r\n");
  CHECK_EQ_STR(cmd(c, "d2 DELETE ol"), "d2 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  /* CREATE makes a level a mailbox. */
  CHECK_EQ_STR(cmd(c, "c1 CREATE old"), "c1 OK CREATE completed\r\n");
  CHECK_EQ_STR(cmd(c, "l5 LIST \"\" old"),
               "* LIST (\\HasChildren) \"/\" old\r\nl5 OK LIST completed\r\n");
  lab_mem_free(c);
}

/* RFC 3501 section 6.3.4: the messages and the name go, inferiors stay;
 * the name is then a \Noselect level, which DELETE refuses. */
static void test_delete_keeps_inferiors(void) {
  int64_t id = account("jack"), used = 0;
  struct lab_conn *c = login("jack");

  CHECK_EQ_STR(cmd(c, "c1 CREATE a/b"), "c1 OK CREATE completed\r\n");
  append(id, "a", 2);
  append(id, "a/b", 1);
  CHECK_EQ_STR(cmd(c, "d1 DELETE a"), "d1 OK DELETE completed\r\n");
  CHECK_EQ_STR(cmd(c, "l1 LIST \"\" a*"),
               "* LIST (\\Noselect \\HasChildren) \"/\" a\r\n"
               "* LIST (\\HasNoChildren) \"/\" a/b\r\n"
               "l1 OK LIST completed\r\n");
  CHECK_EQ_INT(status(c, "a/b", "MESSAGES"), 1);
  CHECK_EQ_INT(db_mail_usage(ctx.db, id, &used), 0);
  CHECK_EQ_INT(used, (int64_t)strlen(MSG)); /* a's two messages are gone */
  CHECK(starts(cmd(c, "d2 DELETE a"), "d2 NO [HASCHILDREN] "));
  CHECK_EQ_STR(cmd(c, "d3 DELETE a/b"), "d3 OK DELETE completed\r\n");
  CHECK_EQ_STR(cmd(c, "d4 DELETE a"), "d4 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  CHECK_EQ_STR(cmd(c, "l2 LIST \"\" *"),
               "* LIST (\\HasNoChildren) \"/\" INBOX\r\nl2 OK LIST completed\r\n");
  lab_mem_free(c);
}

static void test_rename(void) {
  int64_t id = account("kate");
  struct lab_conn *c = login("kate");
  long long v1, next;

  CHECK_EQ_STR(cmd(c, "r0 RENAME foo bar"),
               "r0 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  CHECK_EQ_STR(cmd(c, "c1 CREATE w/x/y"), "c1 OK CREATE completed\r\n");
  append(id, "w/x", 2);
  v1 = status(c, "w/x", "UIDVALIDITY");
  next = status(c, "w/x", "UIDNEXT");
  CHECK(v1 > 0 && next == 3);
  CHECK_EQ_STR(cmd(c, "r1 RENAME w v"), "r1 OK RENAME completed\r\n");
  CHECK_EQ_STR(cmd(c, "l1 LIST \"\" *"),
               "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
               "* LIST (\\HasChildren) \"/\" v\r\n"
               "* LIST (\\HasChildren) \"/\" v/x\r\n"
               "* LIST (\\HasNoChildren) \"/\" v/x/y\r\n"
               "l1 OK LIST completed\r\n");
  /* The messages came along with their UIDs; the name has a new UIDVALIDITY. */
  CHECK_EQ_INT(status(c, "v/x", "MESSAGES"), 2);
  CHECK_EQ_INT(status(c, "v/x", "UIDNEXT"), next);
  CHECK(status(c, "v/x", "UIDVALIDITY") > v1);
  cmd(c, "s1 SELECT v/x");
  CHECK_EQ_STR(
      cmd(c, "f1 UID FETCH 1:* (FLAGS)"),
      "* 1 FETCH (UID 1 FLAGS ())\r\n* 2 FETCH (UID 2 FLAGS ())\r\nf1 OK UID FETCH completed\r\n");
  /* The selected mailbox, or one above it, must be closed first. */
  CHECK_EQ_STR(cmd(c, "r2 RENAME v/x z"), "r2 NO [INUSE] Close the mailbox before renaming it\r\n");
  CHECK_EQ_STR(cmd(c, "r2 RENAME v z"), "r2 NO [INUSE] Close the mailbox before renaming it\r\n");
  CHECK_EQ_STR(cmd(c, "r2 RENAME v/x/y z"), "r2 OK RENAME completed\r\n");
  CHECK_EQ_STR(cmd(c, "r2 RENAME z v/x/y"), "r2 OK RENAME completed\r\n");
  cmd(c, "u UNSELECT");

  /* Refusals, each leaving everything as it was. */
  CHECK_EQ_STR(cmd(c, "c2 CREATE e"), "c2 OK CREATE completed\r\n");
  CHECK_EQ_STR(cmd(c, "r3 RENAME v e"),
               "r3 NO [ALREADYEXISTS] A mailbox by the new name exists already\r\n");
  CHECK_EQ_STR(cmd(c, "r3 RENAME v v"),
               "r3 NO [ALREADYEXISTS] A mailbox by the new name exists already\r\n");
  CHECK_EQ_STR(cmd(c, "r3 RENAME v inbox"), "r3 NO [ALREADYEXISTS] INBOX always exists\r\n");
  CHECK_EQ_STR(cmd(c, "r4 RENAME v v/x/new"),
               "r4 NO [CANNOT] A mailbox cannot be moved below itself\r\n");
  CHECK(starts(cmd(c, "r5 RENAME v \"b*d\""), "r5 NO [CANNOT] Mailbox names here are "));
  CHECK(starts(cmd(c, "r5 RENAME v /v"), "r5 NO [CANNOT] Mailbox names here are "));
  CHECK_EQ_STR(cmd(c, "r6 RENAME v"), "r6 BAD Missing arguments (RENAME mailbox new-name)\r\n");
  CHECK(starts(cmd(c, "r6 RENAME v b c"), "r6 BAD "));
  /* An inferior's new name taken: nothing moves. */
  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "t/x"), 0);
  CHECK_EQ_STR(cmd(c, "r7 RENAME v t"),
               "r7 NO [ALREADYEXISTS] A mailbox by the new name exists already\r\n");
  CHECK_EQ_INT(status(c, "v/x", "MESSAGES"), 2);
  CHECK_EQ_INT(status(c, "t", "MESSAGES"), -1);
  /* An inferior's new name too long: nothing moves. */
  CHECK_EQ_STR(cmd(c, "r8 RENAME v 123456789012345678901234567890123456789012345678901234567890"),
               "r8 NO [CANNOT] A mailbox below it would get a name over 63 characters\r\n");
  CHECK_EQ_INT(status(c, "v/x/y", "MESSAGES"), 0);
  CHECK_EQ_STR(cmd(c, "l2 LIST \"\" *"),
               "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
               "* LIST (\\HasNoChildren) \"/\" e\r\n"
               "* LIST (\\Noselect \\HasChildren) \"/\" t\r\n"
               "* LIST (\\HasNoChildren) \"/\" t/x\r\n"
               "* LIST (\\HasChildren) \"/\" v\r\n"
               "* LIST (\\HasChildren) \"/\" v/x\r\n"
               "* LIST (\\HasNoChildren) \"/\" v/x/y\r\n"
               "l2 OK LIST completed\r\n");
  /* Into a new hierarchy: the superiors are made, as for CREATE. */
  CHECK_EQ_STR(cmd(c, "r9 RENAME e n1/n2/e"), "r9 OK RENAME completed\r\n");
  CHECK_EQ_STR(cmd(c, "l3 LIST \"\" n1/%"),
               "* LIST (\\HasChildren) \"/\" n1/n2\r\nl3 OK LIST completed\r\n");
  /* A \Noselect level renames its inferiors. */
  CHECK_EQ_STR(cmd(c, "ra RENAME t tt"), "ra OK RENAME completed\r\n");
  CHECK_EQ_STR(cmd(c, "l4 LIST \"\" t*"),
               "* LIST (\\Noselect \\HasChildren) \"/\" tt\r\n"
               "* LIST (\\HasNoChildren) \"/\" tt/x\r\nl4 OK LIST completed\r\n");
  lab_mem_free(c);
}

/* A mailbox moved up into its own hierarchy: "u/b/b/c" takes the old
 * name of "u/b/c", which moves on to "u/c". Only the new name's own
 * superiors are made: "u/b" above the moved "u/b/c" is a \Noselect level. */
static void test_rename_up(void) {
  int64_t id = account("liam");
  struct lab_conn *c;

  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "u/b"), 0);
  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "u/b/c"), 0);
  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "u/b/b/c"), 0);
  append(id, "u/b/c", 1);
  append(id, "u/b/b/c", 3);
  c = login("liam");
  CHECK_EQ_STR(cmd(c, "r1 RENAME u/b u"), "r1 OK RENAME completed\r\n");
  CHECK_EQ_STR(cmd(c, "l1 LIST \"\" u*"),
               "* LIST (\\HasChildren) \"/\" u\r\n"
               "* LIST (\\Noselect \\HasChildren) \"/\" u/b\r\n"
               "* LIST (\\HasNoChildren) \"/\" u/b/c\r\n"
               "* LIST (\\HasNoChildren) \"/\" u/c\r\n"
               "l1 OK LIST completed\r\n");
  CHECK_EQ_INT(status(c, "u/c", "MESSAGES"), 1);
  CHECK_EQ_INT(status(c, "u/b/c", "MESSAGES"), 3);
  lab_mem_free(c);
}

/* RFC 3501 section 6.3.5: INBOX's messages move, INBOX stays (empty,
 * its UIDVALIDITY and UIDNEXT kept) and so do its inferiors. */
static void test_rename_inbox(void) {
  int64_t id = account("mona");
  struct lab_conn *c = login("mona");
  long long v, next;

  append(id, "INBOX", 3);
  CHECK_EQ_STR(cmd(c, "c1 CREATE INBOX/kid"), "c1 OK CREATE completed\r\n");
  v = status(c, "INBOX", "UIDVALIDITY");
  next = status(c, "INBOX", "UIDNEXT");
  cmd(c, "s1 SELECT INBOX");
  CHECK_EQ_STR(cmd(c, "r1 RENAME INBOX Old"),
               "r1 NO [INUSE] Close the mailbox before renaming it\r\n");
  cmd(c, "s2 SELECT INBOX/kid"); /* INBOX's inferiors do not move */
  CHECK_EQ_STR(cmd(c, "r2 rename inbox Old"), "r2 OK RENAME completed\r\n");
  CHECK_EQ_INT(status(c, "INBOX", "MESSAGES"), 0);
  CHECK_EQ_INT(status(c, "INBOX", "UIDVALIDITY"), v);
  CHECK_EQ_INT(status(c, "INBOX", "UIDNEXT"), next);
  CHECK_EQ_INT(status(c, "Old", "MESSAGES"), 3);
  CHECK_EQ_INT(status(c, "Old", "UIDNEXT"), next);
  CHECK(status(c, "Old", "UIDVALIDITY") > v);
  CHECK_EQ_STR(cmd(c, "l1 LIST \"\" *"),
               "* LIST (\\HasChildren) \"/\" INBOX\r\n"
               "* LIST (\\HasNoChildren) \"/\" INBOX/kid\r\n"
               "* LIST (\\HasNoChildren) \"/\" Old\r\n"
               "l1 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "r3 RENAME INBOX Old"),
               "r3 NO [ALREADYEXISTS] A mailbox by the new name exists already\r\n");
  /* Below itself is fine for INBOX, whose inferiors stay. */
  append(id, "INBOX", 1);
  CHECK_EQ_STR(cmd(c, "r4 RENAME INBOX INBOX/2024"), "r4 OK RENAME completed\r\n");
  CHECK_EQ_INT(status(c, "INBOX/2024", "MESSAGES"), 1);
  CHECK_EQ_INT(status(c, "INBOX", "MESSAGES"), 0);
  CHECK_EQ_INT(status(c, "INBOX/kid", "MESSAGES"), 0);
  lab_mem_free(c);
}

/* Another session has the name selected while it changes hands: it sees
 * its messages expunged, never the other mailbox's under its UIDVALIDITY. */
static void test_rename_under_a_selected_session(void) {
  int64_t id = account("nina");
  struct lab_conn *x = login("nina"), *y = login("nina");

  append(id, "INBOX", 1);
  CHECK_EQ_STR(cmd(y, "c1 CREATE box"), "c1 OK CREATE completed\r\n");
  CHECK_EQ_STR(cmd(y, "c2 CREATE other"), "c2 OK CREATE completed\r\n");
  append(id, "box", 2);
  append(id, "other", 3); /* UIDs 1 to 3: the same numbers as box's */
  cmd(x, "s1 SELECT box");
  CHECK(has("* 2 EXISTS\r\n"));
  CHECK_EQ_STR(cmd(y, "r1 RENAME box gone"), "r1 OK RENAME completed\r\n");
  CHECK_EQ_STR(cmd(y, "r2 RENAME other box"), "r2 OK RENAME completed\r\n");
  CHECK_EQ_STR(cmd(x, "n1 NOOP"), "* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nn1 OK NOOP completed\r\n");
  CHECK_EQ_STR(cmd(x, "n2 NOOP"), "n2 OK NOOP completed\r\n");
  CHECK_EQ_STR(cmd(x, "f1 UID FETCH 1:* FLAGS"), "f1 OK UID FETCH completed\r\n");
  CHECK_EQ_STR(cmd(x, "f2 UID STORE 1:* +FLAGS (\\Deleted)"), "f2 OK UID STORE completed\r\n");
  CHECK_EQ_STR(cmd(x, "e1 EXPUNGE"), "e1 OK EXPUNGE completed\r\n");
  CHECK_EQ_INT(status(y, "box", "MESSAGES"), 3); /* untouched by x */
  /* Selecting the name again shows the mailbox it holds now. */
  cmd(x, "s2 SELECT box");
  CHECK(has("* 3 EXISTS\r\n"));
  /* The same when the name is deleted and made again: the new mailbox's
   * UIDs start at 1 again, under a new UIDVALIDITY. */
  CHECK_EQ_STR(cmd(y, "d1 DELETE box"), "d1 OK DELETE completed\r\n");
  CHECK_EQ_STR(cmd(y, "c3 CREATE box"), "c3 OK CREATE completed\r\n");
  append(id, "box", 2);
  CHECK_EQ_STR(cmd(x, "n3 NOOP"),
               "* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\nn3 OK NOOP completed\r\n");
  lab_mem_free(x);
  lab_mem_free(y);
}

/* LIM_IMAP_MAILBOXES counts the superiors CREATE and RENAME make; a name
 * is at most 63 bytes. A refused command changes nothing. */
static void test_limits(void) {
  int64_t id = account("olga");
  struct lab_conn *c = login("olga");
  char line[128];
  int i;

  append(id, "INBOX", 1);
  for (i = 0; i < LIM_IMAP_MAILBOXES - 4; i++) { /* INBOX and 28: 29 */
    snprintf(line, sizeof line, "c CREATE box%02d", i);
    CHECK_EQ_STR(cmd(c, line), "c OK CREATE completed\r\n");
  }
  CHECK_EQ_STR(cmd(c, "c1 CREATE a/b/c/d"),
               "c1 NO [LIMIT] An account may have at most 32 mailboxes\r\n");
  CHECK_EQ_STR(cmd(c, "l1 LIST \"\" a*"), "l1 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "c2 CREATE a/b/c"), "c2 OK CREATE completed\r\n"); /* 32 */
  CHECK_EQ_STR(cmd(c, "c3 CREATE x"), "c3 NO [LIMIT] An account may have at most 32 mailboxes\r\n");
  CHECK_EQ_STR(cmd(c, "r1 RENAME INBOX Old"),
               "r1 NO [LIMIT] An account may have at most 32 mailboxes\r\n");
  CHECK_EQ_INT(status(c, "INBOX", "MESSAGES"), 1);
  CHECK_EQ_STR(cmd(c, "r2 RENAME box00 new/box"),
               "r2 NO [LIMIT] An account may have at most 32 mailboxes\r\n");
  CHECK_EQ_INT(status(c, "box00", "MESSAGES"), 0);
  CHECK_EQ_STR(cmd(c, "r3 RENAME box00 a/box"), "r3 OK RENAME completed\r\n"); /* still 32 */
  CHECK_EQ_STR(cmd(c, "d1 DELETE box01"), "d1 OK DELETE completed\r\n");
  CHECK_EQ_STR(cmd(c, "r4 RENAME INBOX Old"), "r4 OK RENAME completed\r\n"); /* 32 again */
  CHECK_EQ_INT(status(c, "Old", "MESSAGES"), 1);
  CHECK_EQ_STR(cmd(c, "d2 DELETE box02"), "d2 OK DELETE completed\r\n");
  CHECK_EQ_STR(cmd(c, "d3 DELETE box03"), "d3 OK DELETE completed\r\n");
  /* Names at 63 bytes, and one over. */
  CHECK_EQ_STR(cmd(c,
                   "c4 CREATE 1/345678901234567890123456789012345678901234567890123456789012"
                   "3"),
               "c4 OK CREATE completed\r\n");
  CHECK(starts(cmd(c,
                   "c5 CREATE 1/3456789012345678901234567890123456789012345678901234567890123"
                   "4"),
               "c5 NO [CANNOT] "));
  CHECK_EQ_STR(
      cmd(c, "r5 RENAME Old 123456789012345678901234567890123456789012345678901234567890123"),
      "r5 OK RENAME completed\r\n");
  CHECK(
      starts(cmd(c, "r6 RENAME a 1234567890123456789012345678901234567890123456789012345678901234"),
             "r6 NO [CANNOT] Mailbox names here are "));
  CHECK_EQ_STR(cmd(c, "r7 RENAME a 123456789012345678901234567890123456789012345678901234567890"),
               "r7 NO [CANNOT] A mailbox below it would get a name over 63 characters\r\n");
  lab_mem_free(c);
}

/* The db layer's own guards, whatever IMAP checked before. */
static void test_db_rename(void) {
  int64_t id = account("pia");

  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "k"), 0);
  CHECK_EQ_INT(db_mailbox_rename(ctx.db, id, "k", "k"), DB_RENAME_EXISTS);
  CHECK_EQ_INT(db_mailbox_rename(ctx.db, id, "k", "k/j"), DB_RENAME_INSIDE);
  CHECK_EQ_INT(db_mailbox_rename(ctx.db, id, "k", "INBOX"), DB_RENAME_EXISTS);
  CHECK_EQ_INT(db_mailbox_rename(ctx.db, id, "none", "j"), DB_RENAME_NONE);
  CHECK_EQ_INT(db_mailbox_rename(ctx.db, id, "k", "j"), 0);
  CHECK_EQ_INT(db_mailbox_get(ctx.db, id, "k", NULL), 1);
  CHECK_EQ_INT(db_mailbox_get(ctx.db, id, "j", NULL), 0);
  CHECK_EQ_INT(db_mailbox_has_inferiors(ctx.db, id, "j"), 1);
  CHECK_EQ_INT(db_mailbox_create_superiors(ctx.db, id, "j/i/h"), 0);
  CHECK_EQ_INT(db_mailbox_get(ctx.db, id, "j/i", NULL), 0);
  CHECK_EQ_INT(db_mailbox_get(ctx.db, id, "j/i/h", NULL), 1);
  CHECK_EQ_INT(db_mailbox_has_inferiors(ctx.db, id, "j"), 0);
  CHECK_EQ_INT(db_mailbox_has_inferiors(ctx.db, id, "j/i"), 1);
}

int main(void) {
  lab_fixture(&ctx, SECRET, PW);

  test_create_makes_superiors();
  test_noselect_levels();
  test_delete_keeps_inferiors();
  test_rename();
  test_rename_up();
  test_rename_inbox();
  test_rename_under_a_selected_session();
  test_limits();
  test_db_rename();

  db_close(ctx.db);
  return check_done();
}
