/* test_imap.c -- unit tests for the lab IMAP server (protocols/imap.c).
 *
 * Drives the module through the in-memory connection with an in-memory
 * database. One account (carol) holds three messages written here, so
 * FETCH output (ENVELOPE with groups, quoted names, folded and 8-bit
 * fields; BODYSTRUCTURE; sections and partials) is compared byte for
 * byte. Covered: the greeting, CAPABILITY, LOGIN with quoted strings and
 * literals, AUTHENTICATE PLAIN (with and without SASL-IR), every command
 * in every state, tags and garbage, SELECT/EXAMINE, STATUS, LIST/LSUB
 * patterns, FETCH and UID FETCH with sequence sets, STORE, SEARCH keys,
 * COPY/MOVE/EXPUNGE/CLOSE/UNSELECT, CREATE/DELETE, APPEND with literals
 * (the size checked before "+", LITERAL+ swallowed), two sessions seeing
 * each other's changes at NOOP, and every limit at its edge.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "imap_int.h"
#include "lab.h"
#include "lab_session.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"
#include "portlab_limits.h"
#include "progress.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PW "Secr3t-Pw"

static struct lab_ctx ctx;
static int64_t alice_id, carol_id;

static const char M1[] =
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    "Subject: afternoon meeting\r\n"
    "To: mooch@owatagu.example\r\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
static const char M2[] =
    "From: \"Doe, Jane\" <jane@lab>\r\n"
    "Reply-To: replies@lab (the list)\r\n"
    "To: undisclosed-recipients:;\r\n"
    "Cc: Team: a@lab, \"B \\\"Bee\\\"\" <b@lab>;\r\n"
    "Subject: =?utf-8?q?caf=C3=A9?=\r\n"
    " folded part\r\n"
    "In-Reply-To: <x@lab>\r\n"
    "\r\n"
    "body two with ZEBRA\r\n";
static const char M3[] = "Subject: caf\xc3\xa9\r\nX-Note: three\r\n\r\nbody three\r\nline 2\r\n";

#define D1 31536000LL   /* 1-Jan-1971 00:00:00 */
#define D2 1000000000LL /* 9-Sep-2001 01:46:40 */
#define D3 1700000000LL /* 14-Nov-2023 22:13:20 */

/* The last line of the output: the tagged reply. */
static const char *last_line(void) {
  static char line[1024];
  const char *p = last_out + last_len;
  if (last_len < 2) return "";
  p -= 2;
  while (p > last_out && p[-1] != '\n') p--;
  snprintf(line, sizeof line, "%.*s", (int)(last_out + last_len - p), p);
  return line;
}

static struct lab_conn *open_conn(void) {
  struct lab_conn *c = lab_mem_open(&lab_imap, &ctx, "127.0.0.1");
  take(c);
  return c;
}

static struct lab_conn *login(const char *user) {
  char line[128];
  struct lab_conn *c = open_conn();
  snprintf(line, sizeof line, "L LOGIN %s " PW, user);
  cmd(c, line);
  CHECK(starts(last_out, "L OK "));
  return c;
}

static struct lab_conn *selected(const char *user, const char *mbox) {
  char line[128];
  struct lab_conn *c = login(user);
  snprintf(line, sizeof line, "S SELECT %s", mbox);
  cmd(c, line);
  CHECK(has("S OK [READ-WRITE] SELECT completed\r\n"));
  return c;
}

static const char CAPS_PRE[] =
    "IMAP4rev1 LITERAL+ SASL-IR ID CHILDREN UIDPLUS MOVE UNSELECT APPENDLIMIT=1048576 AUTH=PLAIN";
static const char CAPS_POST[] =
    "IMAP4rev1 LITERAL+ SASL-IR ID CHILDREN UIDPLUS MOVE UNSELECT APPENDLIMIT=1048576";

/* Resets carol's INBOX to M1, M2, M3 (UIDs keep growing) and drops other mailboxes. */
static void carol_reset(void) {
  struct lab_conn *c = login("carol");
  cmd(c, "d1 DELETE Sent");
  cmd(c, "d2 DELETE Trash");
  cmd(c, "d3 DELETE a/b");
  cmd(c, "d4 DELETE a");
  cmd(c, "s SELECT INBOX");
  cmd(c, "x STORE 1:* +FLAGS.SILENT (\\Deleted)");
  cmd(c, "e EXPUNGE");
  lab_mem_free(c);
  CHECK_EQ_INT(db_mail_append(ctx.db, carol_id, "INBOX", M1, strlen(M1), 0, D1, NULL), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, carol_id, "INBOX", M2, strlen(M2), DB_MAIL_SEEN, D2, NULL),
               0);
  CHECK_EQ_INT(db_mail_append(ctx.db, carol_id, "INBOX", M3, strlen(M3), DB_MAIL_FLAGGED, D3, NULL),
               0);
}

static int64_t first_uid(void) {
  struct lab_conn *c = selected("carol", "INBOX");
  long long uid = 0;
  const char *p;
  cmd(c, "u FETCH 1 UID");
  p = strstr(last_out, "(UID ");
  if (p) uid = atoll(p + 5);
  lab_mem_free(c);
  return uid;
}

static void test_greeting_and_login(void) {
  struct lab_conn *c = lab_mem_open(&lab_imap, &ctx, "127.0.0.1");
  char want[512];

  snprintf(want, sizeof want, "* OK [CAPABILITY %s] portlab IMAP ready", CAPS_PRE);
  CHECK(starts(take(c), want));
  CHECK(last_len > 2 && strcmp(last_out + last_len - 2, "\r\n") == 0);
  snprintf(want, sizeof want, "* CAPABILITY %s\r\na1 OK CAPABILITY completed\r\n", CAPS_PRE);
  CHECK_EQ_STR(cmd(c, "a1 CAPABILITY"), want);
  CHECK_EQ_STR(cmd(c, "a2 NOOP"), "a2 OK NOOP completed\r\n");
  CHECK_EQ_STR(cmd(c, "a2 NOOP now"), "a2 BAD NOOP takes no arguments\r\n");
  /* Before login, only the non-authenticated commands run. */
  CHECK_EQ_STR(cmd(c, "a3 SELECT INBOX"), "a3 BAD Log in first (LOGIN user password)\r\n");
  CHECK_EQ_STR(cmd(c, "a3 LIST \"\" *"), "a3 BAD Log in first (LOGIN user password)\r\n");
  CHECK_EQ_STR(cmd(c, "a3 FETCH 1 FLAGS"), "a3 BAD Log in first (LOGIN user password)\r\n");
  CHECK_EQ_STR(cmd(c, "a3 APPEND INBOX {3}"), "a3 BAD Log in first (LOGIN user password)\r\n");
  CHECK_EQ_STR(cmd(c, "a4 STARTTLS"),
               "a4 BAD STARTTLS is not available here\r\n"); /* no certificate in this test */
  CHECK_EQ_STR(cmd(c, "a5 ID NIL"),
               "* ID (\"name\" \"portlab\" \"support-url\" "
               "\"https://www.rfc-editor.org/rfc/rfc3501\")\r\na5 OK ID completed\r\n");
  CHECK(starts(cmd(c, "a5 ID (\"name\" \"imaplib\" \"version\" NIL)"), "* ID ("));
  CHECK_EQ_STR(cmd(c, "a5 ID (\"name\""), "a5 BAD Missing arguments\r\n");
  CHECK_EQ_STR(cmd(c, "a6 LOGIN alice"), "a6 BAD Missing arguments (LOGIN user password)\r\n");
  CHECK_EQ_STR(cmd(c, "a6 LOGIN alice wrong"),
               "a6 NO [AUTHENTICATIONFAILED] Wrong user name or password\r\n");
  CHECK_EQ_STR(cmd(c, "a6 LOGIN \"alice"),
               "a6 BAD Unterminated quoted string (LOGIN user password)\r\n");
  /* Quoted strings with escapes, and a literal for the password. */
  lab_mem_clear(c);
  feed(c, "a7 LOGIN \"al\\ice\" {9}\r\n");
  CHECK_EQ_STR(take(c), "+ Ready for 9 bytes\r\n");
  feed(c, PW "\r\n");
  /* "al\ice" is not a valid escape. */
  CHECK_EQ_STR(
      take(c),
      "a7 BAD Only \\\" and \\\\ may be escaped in a quoted string (LOGIN user password)\r\n");
  lab_mem_clear(c);
  feed(c, "a8 LOGIN \"ALICE\" {9}\r\n" PW "\r\n");
  snprintf(want, sizeof want, "+ Ready for 9 bytes\r\na8 OK [CAPABILITY %s] Logged in as alice\r\n",
           CAPS_POST);
  CHECK_EQ_STR(take(c), want);
  CHECK_EQ_STR(cmd(c, "a9 LOGIN alice " PW), "a9 BAD Already logged in\r\n");
  CHECK_EQ_STR(cmd(c, "a9 AUTHENTICATE PLAIN"), "a9 BAD Already logged in\r\n");
  CHECK_EQ_STR(cmd(c, "b1 FETCH 1 FLAGS"),
               "b1 BAD No mailbox selected (SELECT or EXAMINE one first)\r\n");
  CHECK_EQ_STR(cmd(c, "b1 CLOSE"), "b1 BAD No mailbox selected (SELECT or EXAMINE one first)\r\n");
  CHECK_EQ_STR(cmd(c, "b2 LOGOUT"),
               "* BYE portlab IMAP closing the connection, goodbye\r\nb2 OK LOGOUT completed\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* A literal user name too. */
  c = open_conn();
  lab_mem_clear(c);
  feed(c, "c1 LOGIN {5+}\r\nalice " PW "\r\n");
  CHECK(starts(take(c), "c1 OK [CAPABILITY"));
  lab_mem_free(c);

  /* Too many failures end the connection. */
  c = open_conn();
  for (int i = 0; i < LIM_IMAP_AUTH_FAILURES - 1; i++) cmd(c, "f LOGIN alice nope");
  CHECK(!lab_mem_closed(c));
  CHECK_EQ_STR(cmd(c, "f LOGIN nobody nope"),
               "f NO [AUTHENTICATIONFAILED] Wrong user name or password\r\n"
               "* BYE Too many failed logins, closing the connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_authenticate(void) {
  struct lab_conn *c = open_conn();

  /* base64("\0alice\0Secr3t-Pw") */
  CHECK(starts(cmd(c, "p1 AUTHENTICATE PLAIN AGFsaWNlAFNlY3IzdC1Qdw=="), "p1 OK [CAPABILITY"));
  lab_mem_free(c);
  c = open_conn();
  CHECK_EQ_STR(cmd(c, "p2 AUTHENTICATE PLAIN"), "+ \r\n");
  CHECK(starts(cmd(c, "AGFsaWNlAFNlY3IzdC1Qdw=="), "p2 OK [CAPABILITY"));
  lab_mem_free(c);
  c = open_conn();
  cmd(c, "p3 AUTHENTICATE PLAIN");
  CHECK_EQ_STR(cmd(c, "*"), "p3 BAD Authentication cancelled\r\n");
  cmd(c, "p4 AUTHENTICATE plain");
  CHECK_EQ_STR(cmd(c, "!!!!"), "p4 BAD Invalid base64 in the PLAIN response\r\n");
  CHECK_EQ_STR(cmd(c, "p5 AUTHENTICATE LOGIN"),
               "p5 NO Unsupported authentication mechanism (this server offers PLAIN)\r\n");
  /* base64("bob\0alice\0Secr3t-Pw"): acting as someone else is refused. */
  CHECK_EQ_STR(cmd(c, "p6 AUTHENTICATE PLAIN Ym9iAGFsaWNlAFNlY3IzdC1Qdw=="),
               "p6 NO [AUTHENTICATIONFAILED] Wrong user name or password\r\n");
  /* base64("alice\0alice\0Secr3t-Pw"): naming oneself is fine. */
  CHECK(starts(cmd(c, "p7 AUTHENTICATE PLAIN YWxpY2UAYWxpY2UAU2VjcjN0LVB3"), "p7 OK "));
  lab_mem_free(c);
}

static void test_tags_and_garbage(void) {
  struct lab_conn *c = open_conn();
  char line[64];

  CHECK_EQ_STR(cmd(c, "* LOGIN a b"),
               "* BAD Invalid tag (a tag is letters and digits, like a001)\r\n");
  CHECK_EQ_STR(cmd(c, "+ NOOP"), "* BAD Invalid tag (a tag is letters and digits, like a001)\r\n");
  CHECK_EQ_STR(cmd(c, "a(b NOOP"),
               "* BAD Invalid tag (a tag is letters and digits, like a001)\r\n");
  CHECK_EQ_STR(cmd(c, ""), "* BAD Empty command line\r\n");
  CHECK_EQ_STR(cmd(c, "lonely"), "lonely BAD Missing command\r\n");
  CHECK_EQ_STR(cmd(c, "t1 "), "t1 BAD Missing command\r\n");
  CHECK_EQ_STR(cmd(c, "t1 FROB"), "t1 BAD Unknown command\r\n");
  CHECK_EQ_STR(cmd(c, "t1 NOOP2"), "t1 BAD Unknown command\r\n");
  CHECK_EQ_STR(cmd(c, "t1 CAPABILITYCAPABILITY"), "t1 BAD Unknown command\r\n");
  CHECK_EQ_STR(cmd(c, "t] noop"), "t] OK NOOP completed\r\n");
  /* NUL inside a command. */
  lab_mem_clear(c);
  lab_mem_feed(c, "t2 NO\0OP\r\n", 10);
  CHECK_EQ_STR(take(c), "t2 BAD NUL bytes are not allowed in commands\r\n");
  /* A bare LF ends a line too. */
  lab_mem_clear(c);
  feed(c, "t3 NOOP\n");
  CHECK_EQ_STR(take(c), "t3 OK NOOP completed\r\n");
  CHECK(!lab_mem_closed(c));
  lab_mem_free(c);

  /* The BAD limit. */
  c = open_conn();
  for (int i = 0; i < LIM_IMAP_ERRORS - 1; i++) {
    snprintf(line, sizeof line, "e%d BOGUS", i);
    cmd(c, line);
  }
  CHECK(!lab_mem_closed(c));
  CHECK_EQ_STR(cmd(c, "z BOGUS"),
               "z BAD Unknown command\r\n* BYE Too many bad commands, closing the connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Idle timeout. */
  c = open_conn();
  lab_mem_timeout(c);
  CHECK_EQ_STR(take(c), "* BYE Idle for too long, closing the connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_select_status_list(void) {
  struct lab_conn *c = login("carol");
  char want[1024];

  cmd(c, "s1 SELECT inbox");
  CHECK(starts(last_out,
               "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
               "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)] These flags "
               "can be changed\r\n"
               "* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UNSEEN 1] Message 1 is the first unseen\r\n"
               "* OK [UIDVALIDITY "));
  CHECK(has("* OK [UIDNEXT "));
  CHECK(has("\r\ns1 OK [READ-WRITE] SELECT completed\r\n"));
  cmd(c, "s2 EXAMINE INBOX");
  CHECK(has("* OK [PERMANENTFLAGS ()] Read-only, no flags can be changed\r\n"));
  CHECK(has("s2 OK [READ-ONLY] EXAMINE completed\r\n"));
  CHECK_EQ_STR(cmd(c, "s3 STORE 1 +FLAGS (\\Seen)"),
               "s3 NO [READ-ONLY] The mailbox was opened with EXAMINE\r\n");
  CHECK_EQ_STR(cmd(c, "s3 EXPUNGE"), "s3 NO [READ-ONLY] The mailbox was opened with EXAMINE\r\n");
  CHECK_EQ_STR(cmd(c, "s3 MOVE 1 INBOX"),
               "s3 NO [READ-ONLY] The mailbox was opened with EXAMINE\r\n");
  /* Reading with BODY[] in a read-only mailbox does not set \Seen. */
  cmd(c, "s4 FETCH 1 BODY[TEXT]");
  CHECK(!has("\\Seen"));
  CHECK_EQ_STR(cmd(c, "s4 FETCH 1 FLAGS"), "* 1 FETCH (FLAGS ())\r\ns4 OK FETCH completed\r\n");
  /* A failed SELECT leaves no mailbox selected. */
  CHECK_EQ_STR(cmd(c, "s5 SELECT Nowhere"),
               "s5 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  CHECK_EQ_STR(cmd(c, "s5 FETCH 1 FLAGS"),
               "s5 BAD No mailbox selected (SELECT or EXAMINE one first)\r\n");
  CHECK_EQ_STR(cmd(c, "s5 SELECT \"bad\x01name\""),
               "s5 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  CHECK_EQ_STR(cmd(c, "s5 SELECT"), "s5 BAD Missing or invalid argument (SELECT mailbox)\r\n");
  CHECK_EQ_STR(cmd(c, "s5 SELECT a b"), "s5 BAD Unexpected extra arguments (SELECT mailbox)\r\n");

  CHECK_EQ_STR(cmd(c, "t1 STATUS INBOX (MESSAGES UNSEEN RECENT)"),
               "* STATUS INBOX (MESSAGES 3 UNSEEN 2 RECENT 0)\r\nt1 OK STATUS completed\r\n");
  cmd(c, "t2 STATUS INBOX (UIDNEXT UIDVALIDITY)");
  CHECK(starts(last_out, "* STATUS INBOX (UIDNEXT "));
  CHECK_EQ_STR(cmd(c, "t3 STATUS Nowhere (MESSAGES)"),
               "t3 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  CHECK_EQ_STR(cmd(c, "t4 STATUS INBOX (SIZE)"),
               "t4 BAD Unknown status item (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)\r\n");
  CHECK_EQ_STR(
      cmd(c, "t4 STATUS INBOX MESSAGES"),
      "t4 BAD Missing ( before the status items (STATUS mailbox (MESSAGES UNSEEN ...))\r\n");

  CHECK_EQ_STR(cmd(c, "l1 CREATE Sent"), "l1 OK CREATE completed\r\n");
  CHECK_EQ_STR(cmd(c, "l1 CREATE Sent"), "l1 NO [ALREADYEXISTS] That mailbox exists already\r\n");
  CHECK_EQ_STR(cmd(c, "l1 CREATE inbox"), "l1 NO [ALREADYEXISTS] INBOX always exists\r\n");
  CHECK_EQ_STR(cmd(c, "l2 CREATE a/"), "l2 OK CREATE completed\r\n");
  CHECK_EQ_STR(cmd(c, "l2 CREATE \"a/b\""), "l2 OK CREATE completed\r\n");
  CHECK(starts(cmd(c, "l2 CREATE \"x*y\""), "l2 NO [CANNOT] "));
  CHECK(starts(cmd(c, "l2 CREATE /top"), "l2 NO [CANNOT] "));
  CHECK(starts(cmd(c, "l2 CREATE a//b"), "l2 NO [CANNOT] "));
  CHECK(starts(cmd(c, "l2 CREATE \"caf\xc3\xa9\""), "l2 NO [CANNOT] "));
  CHECK_EQ_STR(cmd(c, "l3 LIST \"\" *"),
               "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
               "* LIST (\\HasNoChildren) \"/\" Sent\r\n"
               "* LIST (\\HasChildren) \"/\" a\r\n"
               "* LIST (\\HasNoChildren) \"/\" a/b\r\n"
               "l3 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l4 LIST \"\" %"),
               "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
               "* LIST (\\HasNoChildren) \"/\" Sent\r\n"
               "* LIST (\\HasChildren) \"/\" a\r\n"
               "l4 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l5 LIST a/ %"),
               "* LIST (\\HasNoChildren) \"/\" a/b\r\nl5 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l6 LIST \"\" inBox"),
               "* LIST (\\HasNoChildren) \"/\" INBOX\r\nl6 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l7 LIST \"\" \"\""),
               "* LIST (\\Noselect) \"/\" \"\"\r\nl7 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l8 LIST \"\" S*t"),
               "* LIST (\\HasNoChildren) \"/\" Sent\r\nl8 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l8 LIST \"\" nothing*"), "l8 OK LIST completed\r\n");
  CHECK_EQ_STR(cmd(c, "l8 LSUB \"\" Sent"),
               "* LSUB (\\HasNoChildren) \"/\" Sent\r\nl8 OK LSUB completed\r\n");
  CHECK_EQ_STR(cmd(c, "l9 SUBSCRIBE Sent"), "l9 OK SUBSCRIBE completed\r\n");
  CHECK_EQ_STR(cmd(c, "l9 UNSUBSCRIBE Sent"), "l9 OK UNSUBSCRIBE completed\r\n");
  CHECK_EQ_STR(cmd(c, "l9 LIST \"\""), "l9 BAD Missing arguments (LIST reference pattern)\r\n");
  /* Many wildcards stay cheap. */
  memset(want, 0, sizeof want);
  strcpy(want, "l9 LIST \"\" ");
  for (int i = 0; i < 200; i++) strcat(want, "*%");
  strcat(want, "z");
  CHECK_EQ_STR(cmd(c, want), "l9 OK LIST completed\r\n");

  CHECK_EQ_STR(cmd(c, "d1 DELETE INBOX"), "d1 NO [CANNOT] INBOX cannot be deleted\r\n");
  CHECK_EQ_STR(cmd(c, "d1 DELETE Nowhere"),
               "d1 NO [NONEXISTENT] There is no mailbox by that name\r\n");
  cmd(c, "d2 SELECT Sent");
  CHECK_EQ_STR(cmd(c, "d2 DELETE Sent"), "d2 NO [INUSE] Close the mailbox before deleting it\r\n");
  CHECK_EQ_STR(cmd(c, "d2 UNSELECT"), "d2 OK UNSELECT completed\r\n");
  CHECK_EQ_STR(cmd(c, "d2 UNSELECT"),
               "d2 BAD No mailbox selected (SELECT or EXAMINE one first)\r\n");
  CHECK_EQ_STR(cmd(c, "d3 DELETE a/b"), "d3 OK DELETE completed\r\n");
  CHECK_EQ_STR(cmd(c, "d3 DELETE a"), "d3 OK DELETE completed\r\n");
  lab_mem_free(c);
}

static void test_fetch(void) {
  struct lab_conn *c = selected("carol", "INBOX");
  int64_t u = first_uid();
  char want[2048], line[256];

  snprintf(want, sizeof want,
           "* 1 FETCH (UID %lld FLAGS () RFC822.SIZE %zu INTERNALDATE \" 1-Jan-1971 00:00:00 "
           "+0000\")\r\n"
           "f1 OK FETCH completed\r\n",
           (long long)u, strlen(M1));
  CHECK_EQ_STR(cmd(c, "f1 FETCH 1 (FLAGS UID RFC822.SIZE INTERNALDATE)"), want);
  snprintf(want, sizeof want,
           "* 1 FETCH (UID %lld FLAGS ())\r\n* 2 FETCH (UID %lld FLAGS (\\Seen))\r\n"
           "* 3 FETCH (UID %lld FLAGS (\\Flagged))\r\nf2 OK UID FETCH completed\r\n",
           (long long)u, (long long)u + 1, (long long)u + 2);
  snprintf(line, sizeof line, "f2 UID FETCH %lld:* FLAGS", (long long)u);
  CHECK_EQ_STR(cmd(c, line), want);
  /* Sequence sets: "*", lists, backwards ranges, and UIDs past the end. */
  cmd(c, "f3 FETCH * FLAGS");
  CHECK(starts(last_out, "* 3 FETCH (FLAGS (\\Flagged))\r\n"));
  cmd(c, "f3 FETCH 3,1:2 FLAGS");
  CHECK(starts(last_out, "* 1 FETCH") && has("* 2 FETCH") && has("* 3 FETCH"));
  cmd(c, "f3 FETCH 3:2 FLAGS");
  CHECK(starts(last_out, "* 2 FETCH") && has("* 3 FETCH") && !has("* 1 FETCH"));
  snprintf(line, sizeof line, "f4 UID FETCH %lld:* UID", (long long)u + 100);
  snprintf(want, sizeof want, "* 3 FETCH (UID %lld)\r\nf4 OK UID FETCH completed\r\n",
           (long long)u + 2);
  CHECK_EQ_STR(cmd(c, line), want);
  snprintf(line, sizeof line, "f4 UID FETCH %lld:%lld UID", (long long)u + 50, (long long)u + 60);
  CHECK_EQ_STR(cmd(c, line), "f4 OK UID FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 4 FLAGS"), "f5 BAD No such message: the mailbox holds 3\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 0 FLAGS"),
               "f5 BAD Sequence numbers start at 1 (FETCH set items)\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 1,,2 FLAGS"), "f5 BAD Number expected (FETCH set items)\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 99999999999 FLAGS"),
               "f5 BAD Number out of range (FETCH set items)\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 1 NONSENSE"), "f5 BAD Unknown fetch item (FETCH set items)\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 1 (FLAGS"),
               "f5 BAD Missing ) after the fetch items (FETCH set items)\r\n");
  CHECK_EQ_STR(
      cmd(c, "f5 FETCH 1 BODY[FOO]"),
      "f5 BAD Unknown section (HEADER, TEXT, HEADER.FIELDS (...), 1) (FETCH set items)\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 1 BODY.PEEK"), "f5 BAD Missing [ (FETCH set items)\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 1 BODY[]<5.0>"),
               "f5 BAD A partial fetch needs a count of at least 1 (FETCH set items)\r\n");
  CHECK_EQ_STR(cmd(c, "f5 FETCH 1"), "f5 BAD Missing arguments (FETCH set items)\r\n");

  /* ENVELOPE: RFC 5322 headers into IMAP structures. */
  CHECK_EQ_STR(cmd(c, "e1 FETCH 1 ENVELOPE"),
               "* 1 FETCH (ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" "
               "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
               "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
               "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
               "((NIL NIL \"mooch\" \"owatagu.example\")) NIL NIL NIL "
               "\"<B27397-0100000@Blurdybloop.example>\"))\r\ne1 OK FETCH completed\r\n");
  CHECK_EQ_STR(
      cmd(c, "e2 FETCH 2 ENVELOPE"),
      "* 2 FETCH (ENVELOPE (NIL \"=?utf-8?q?caf=C3=A9?= folded part\" "
      "((\"Doe, Jane\" NIL \"jane\" \"lab\")) ((\"Doe, Jane\" NIL \"jane\" \"lab\")) "
      "((NIL NIL \"replies\" \"lab\")) "
      "((NIL NIL \"undisclosed-recipients\" NIL) (NIL NIL NIL NIL)) "
      "((NIL NIL \"Team\" NIL) (NIL NIL \"a\" \"lab\") (\"B \\\"Bee\\\"\" NIL \"b\" \"lab\") "
      "(NIL NIL NIL NIL)) NIL \"<x@lab>\" NIL))\r\ne2 OK FETCH completed\r\n");
  /* An 8-bit subject goes out as a literal. */
  CHECK_EQ_STR(cmd(c, "e3 FETCH 3 ENVELOPE"),
               "* 3 FETCH (ENVELOPE (NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL))\r\n"
               "e3 OK FETCH completed\r\n");
  snprintf(
      want, sizeof want,
      "* 1 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
      "55 1 NIL NIL NIL NIL) BODY (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" "
      "55 1))\r\nb1 OK FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "b1 FETCH 1 (BODYSTRUCTURE BODY)"), want);
  cmd(c, "b2 FETCH 3 BODYSTRUCTURE");
  CHECK(starts(last_out,
               "* 3 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL "
               "\"7BIT\" 20 2 NIL NIL NIL NIL))\r\n"));
  cmd(c, "b3 FETCH 1 ALL");
  CHECK(starts(last_out,
               "* 1 FETCH (FLAGS () INTERNALDATE \" 1-Jan-1971 00:00:00 +0000\" RFC822.SIZE "));
  CHECK(has(" ENVELOPE (\"Mon, 7 Feb 1994") && !has("BODY"));
  cmd(c, "b3 FETCH 1 FAST");
  CHECK(has("RFC822.SIZE") && !has("ENVELOPE"));
  cmd(c, "b3 FETCH 1 full");
  CHECK(has("ENVELOPE") && has(" BODY (\"TEXT\""));

  /* Sections. */
  snprintf(
      want, sizeof want,
      "* 1 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {78}\r\n"
      "From: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\n\r\n)\r\n"
      "h1 OK FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "h1 FETCH 1 BODY.PEEK[HEADER.FIELDS (From \"subject\")]"), want);
  CHECK_EQ_STR(
      cmd(c, "h2 FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT)]"),
      "* 2 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {48}\r\n"
      "Subject: =?utf-8?q?caf=C3=A9?=\r\n folded part\r\n\r\n)\r\nh2 OK FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "h3 FETCH 3 BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)]"),
               "* 3 FETCH (BODY[HEADER.FIELDS.NOT (SUBJECT)] {17}\r\nX-Note: three\r\n\r\n)\r\n"
               "h3 OK FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "h4 FETCH 3 BODY.PEEK[HEADER.FIELDS (NONE)]"),
               "* 3 FETCH (BODY[HEADER.FIELDS (NONE)] {2}\r\n\r\n)\r\nh4 OK FETCH completed\r\n");
  CHECK_EQ_STR(
      cmd(c, "h5 FETCH 3 BODY.PEEK[TEXT]"),
      "* 3 FETCH (BODY[TEXT] {20}\r\nbody three\r\nline 2\r\n)\r\nh5 OK FETCH completed\r\n");
  CHECK_EQ_STR(
      cmd(c, "h6 FETCH 3 (BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[1.MIME])"),
      "* 3 FETCH (BODY[1] {20}\r\nbody three\r\nline 2\r\n BODY[2] NIL BODY[1.MIME] NIL)\r\n"
      "h6 OK FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "h7 FETCH 3 BODY.PEEK[]<5.3>"),
               "* 3 FETCH (BODY[]<5> {3}\r\nct:)\r\nh7 OK FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "h7 FETCH 3 BODY.PEEK[TEXT]<15.100>"),
               "* 3 FETCH (BODY[TEXT]<15> {5}\r\ne 2\r\n)\r\nh7 OK FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "h7 FETCH 3 BODY.PEEK[TEXT]<100.1>"),
               "* 3 FETCH (BODY[TEXT]<100> {0}\r\n)\r\nh7 OK FETCH completed\r\n");
  /* RFC822.TEXT sets \Seen; the new flags come along (at the front). */
  cmd(c, "h8 FETCH 3 (RFC822.HEADER RFC822.TEXT)");
  CHECK(starts(last_out, "* 3 FETCH (FLAGS (\\Seen \\Flagged) RFC822.HEADER {33}\r\n"));
  CHECK(has(" RFC822.TEXT {20}\r\nbody three\r\nline 2\r\n)\r\nh8 OK FETCH completed\r\n"));
  /* BODY[] on an unseen message sets \Seen; FLAGS asked for is not doubled. */
  snprintf(want, sizeof want,
           "* 1 FETCH (FLAGS (\\Seen) BODY[] {%zu}\r\n%s)\r\nh9 OK FETCH completed\r\n", strlen(M1),
           M1);
  CHECK_EQ_STR(cmd(c, "h9 FETCH 1 (FLAGS BODY[])"), want);
  snprintf(want, sizeof want, "* 1 FETCH (RFC822 {%zu}\r\n%s)\r\nh9 OK FETCH completed\r\n",
           strlen(M1), M1);
  CHECK_EQ_STR(cmd(c, "h9 FETCH 1 RFC822"), want);
  /* The item cap at its edge. */
  strcpy(want, "i1 FETCH 1 (UID");
  for (int i = 1; i < LIM_IMAP_FETCH_ITEMS; i++) strcat(want, " UID");
  strcat(want, ")");
  CHECK(starts(cmd(c, want), "* 1 FETCH (UID "));
  strcpy(want + strlen(want) - 1, " UID)");
  CHECK_EQ_STR(cmd(c, want), "i1 BAD Too many fetch items (FETCH set items)\r\n");
  lab_mem_free(c);
}

static void test_store_search(void) {
  struct lab_conn *c;
  int64_t u;
  char want[512], line[128];

  carol_reset();
  u = first_uid();
  c = selected("carol", "INBOX");
  CHECK_EQ_STR(cmd(c, "s1 STORE 1 +FLAGS (\\Seen \\Answered)"),
               "* 1 FETCH (FLAGS (\\Seen \\Answered))\r\ns1 OK STORE completed\r\n");
  CHECK_EQ_STR(cmd(c, "s2 STORE 1 -FLAGS \\Seen"),
               "* 1 FETCH (FLAGS (\\Answered))\r\ns2 OK STORE completed\r\n");
  CHECK_EQ_STR(cmd(c, "s3 STORE 1:2 FLAGS.SILENT (\\Draft $Junk)"), "s3 OK STORE completed\r\n");
  CHECK_EQ_STR(
      cmd(c, "s3 FETCH 1:2 FLAGS"),
      "* 1 FETCH (FLAGS (\\Draft))\r\n* 2 FETCH (FLAGS (\\Draft))\r\ns3 OK FETCH completed\r\n");
  snprintf(line, sizeof line, "s4 UID STORE %lld:%lld FLAGS ()", (long long)u, (long long)u + 1);
  snprintf(want, sizeof want,
           "* 1 FETCH (UID %lld FLAGS ())\r\n* 2 FETCH (UID %lld FLAGS ())\r\ns4 OK UID STORE "
           "completed\r\n",
           (long long)u, (long long)u + 1);
  CHECK_EQ_STR(cmd(c, line), want);
  CHECK_EQ_STR(cmd(c, "s5 STORE 1 +FLAGS (\\Recent)"),
               "s5 BAD \\Recent is kept by the server (STORE set +FLAGS (\\Seen))\r\n");
  CHECK_EQ_STR(cmd(c, "s5 STORE 1 +FLAGS (\\Bogus)"),
               "s5 BAD Unknown system flag (STORE set +FLAGS (\\Seen))\r\n");
  CHECK_EQ_STR(cmd(c, "s5 STORE 1 FLAGZ (\\Seen)"),
               "s5 BAD Unknown store item (FLAGS, +FLAGS, -FLAGS, with .SILENT) (STORE set +FLAGS "
               "(\\Seen))\r\n");
  CHECK_EQ_STR(cmd(c, "s5 STORE 9 FLAGS ()"), "s5 BAD No such message: the mailbox holds 3\r\n");
  /* Now: 1 none, 2 none, 3 \Flagged. */
  cmd(c, "s6 STORE 2 FLAGS (\\Seen)");

  CHECK_EQ_STR(cmd(c, "q1 SEARCH ALL"), "* SEARCH 1 2 3\r\nq1 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q2 SEARCH SEEN"), "* SEARCH 2\r\nq2 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q3 SEARCH UNSEEN"), "* SEARCH 1 3\r\nq3 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q4 SEARCH FLAGGED"), "* SEARCH 3\r\nq4 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q4 SEARCH DELETED"), "* SEARCH\r\nq4 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q4 SEARCH UNDELETED UNANSWERED UNDRAFT"),
               "* SEARCH 1 2 3\r\nq4 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q5 SEARCH FROM foobar"), "* SEARCH 1\r\nq5 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q5 SEARCH FROM \"DOE, jane\""), "* SEARCH 2\r\nq5 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q6 SEARCH SUBJECT \"FOLDED PART\""),
               "* SEARCH 2\r\nq6 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q6 SEARCH TO mooch"), "* SEARCH 1\r\nq6 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q6 SEARCH CC bee"), "* SEARCH 2\r\nq6 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q6 SEARCH BCC x"), "* SEARCH\r\nq6 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q7 SEARCH BODY zebra"), "* SEARCH 2\r\nq7 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q7 SEARCH BODY three"), "* SEARCH 3\r\nq7 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q7 SEARCH TEXT three"), "* SEARCH 3\r\nq7 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q7 SEARCH TEXT {5}\r\nZEBRA"),
               "+ Ready for 5 bytes\r\n* SEARCH 2\r\nq7 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q8 SEARCH HEADER X-Note \"\""), "* SEARCH 3\r\nq8 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q8 SEARCH HEADER Message-ID blurdy"),
               "* SEARCH 1\r\nq8 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q9 SEARCH NOT SEEN"), "* SEARCH 1 3\r\nq9 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q9 SEARCH OR FLAGGED SEEN"), "* SEARCH 2 3\r\nq9 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q9 SEARCH (OR FLAGGED SEEN) NOT 3"),
               "* SEARCH 2\r\nq9 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "q9 SEARCH 2:*"), "* SEARCH 2 3\r\nq9 OK SEARCH completed\r\n");
  snprintf(line, sizeof line, "r1 UID SEARCH UID %lld,%lld", (long long)u, (long long)u + 2);
  snprintf(want, sizeof want, "* SEARCH %lld %lld\r\nr1 OK UID SEARCH completed\r\n", (long long)u,
           (long long)u + 2);
  CHECK_EQ_STR(cmd(c, line), want);
  snprintf(line, sizeof line, "r2 SEARCH LARGER %zu", strlen(M3));
  CHECK_EQ_STR(cmd(c, line), "* SEARCH 1 2\r\nr2 OK SEARCH completed\r\n");
  snprintf(line, sizeof line, "r2 SEARCH SMALLER %zu", strlen(M3) + 1);
  CHECK_EQ_STR(cmd(c, line), "* SEARCH 3\r\nr2 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r3 SEARCH SINCE 9-Sep-2001"), "* SEARCH 2 3\r\nr3 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r3 SEARCH BEFORE \"9-Sep-2001\""),
               "* SEARCH 1\r\nr3 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r3 SEARCH ON 14-nov-2023"), "* SEARCH 3\r\nr3 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r3 SEARCH SENTON 7-Feb-1994"), "* SEARCH 1\r\nr3 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r3 SEARCH SENTBEFORE 1-Jan-1995"),
               "* SEARCH 1\r\nr3 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r3 SEARCH SENTSINCE 1-Jan-2000"),
               "* SEARCH 2 3\r\nr3 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r4 SEARCH NEW"), "* SEARCH\r\nr4 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r4 SEARCH OLD KEYWORD $x"), "* SEARCH\r\nr4 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r4 SEARCH UNKEYWORD $x RECENT"), "* SEARCH\r\nr4 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r5 SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9\""),
               "* SEARCH 3\r\nr5 OK SEARCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "r5 SEARCH CHARSET KOI8-R ALL"),
               "r5 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset\r\n");
  CHECK_EQ_STR(cmd(c, "r6 SEARCH"),
               "r6 BAD Search key expected (SEARCH keys, e.g. UNSEEN FROM \"alice\")\r\n");
  CHECK_EQ_STR(cmd(c, "r6 SEARCH FUZZY x"),
               "r6 BAD Unknown search key (SEARCH keys, e.g. UNSEEN FROM \"alice\")\r\n");
  CHECK_EQ_STR(
      cmd(c, "r6 SEARCH SINCE yesterday"),
      "r6 BAD Invalid date (like 1-Feb-1994) (SEARCH keys, e.g. UNSEEN FROM \"alice\")\r\n");
  CHECK_EQ_STR(cmd(c, "r6 SEARCH OR SEEN"),
               "r6 BAD Missing arguments (SEARCH keys, e.g. UNSEEN FROM \"alice\")\r\n");
  CHECK_EQ_STR(
      cmd(c, "r6 SEARCH (SEEN"),
      "r6 BAD Missing ) in the search program (SEARCH keys, e.g. UNSEEN FROM \"alice\")\r\n");
  /* Nesting at its edge. */
  strcpy(want, "r7 SEARCH");
  for (int i = 0; i < LIM_IMAP_SEARCH_DEPTH; i++) strcat(want, " NOT");
  strcat(want, " ALL");
  CHECK_EQ_STR(cmd(c, want), "* SEARCH 1 2 3\r\nr7 OK SEARCH completed\r\n");
  strcpy(want, "r7 SEARCH NOT");
  for (int i = 0; i < LIM_IMAP_SEARCH_DEPTH; i++) strcat(want, " NOT");
  strcat(want, " ALL");
  CHECK(starts(cmd(c, want), "r7 BAD The search program is nested too deeply"));
  lab_mem_free(c);
}

static void test_copy_move_expunge(void) {
  struct lab_conn *c, *d;
  int64_t u;
  char want[512], line[128];

  carol_reset();
  u = first_uid();
  c = selected("carol", "INBOX");
  CHECK_EQ_STR(cmd(c, "c1 COPY 1 Trash"), "c1 NO [TRYCREATE] There is no mailbox by that name\r\n");
  cmd(c, "c2 CREATE Trash");
  cmd(c, "c2 CREATE Sent");
  cmd(c, "c3 COPY 1:2 Trash");
  CHECK(starts(last_out, "c3 OK [COPYUID "));
  snprintf(want, sizeof want, " %lld:%lld 1:2] COPY completed\r\n", (long long)u, (long long)u + 1);
  CHECK(has(want));
  CHECK_EQ_STR(cmd(c, "c4 STATUS Trash (MESSAGES)"),
               "* STATUS Trash (MESSAGES 2)\r\nc4 OK STATUS completed\r\n");
  /* MOVE: COPYUID, then the originals leave with EXPUNGE. */
  cmd(c, "m1 MOVE 2:3 Sent");
  CHECK(starts(last_out, "* OK [COPYUID "));
  snprintf(want, sizeof want,
           " %lld:%lld 1:2] Moved\r\n* 3 EXPUNGE\r\n* 2 EXPUNGE\r\nm1 OK MOVE completed\r\n",
           (long long)u + 1, (long long)u + 2);
  CHECK(has(want));
  CHECK_EQ_STR(cmd(c, "m2 FETCH 2 FLAGS"), "m2 BAD No such message: the mailbox holds 1\r\n");
  snprintf(line, sizeof line, "m3 UID MOVE %lld Trash", (long long)u);
  cmd(c, line);
  CHECK(has("* 1 EXPUNGE\r\nm3 OK UID MOVE completed\r\n"));
  CHECK_EQ_STR(cmd(c, "m4 SEARCH ALL"), "* SEARCH\r\nm4 OK SEARCH completed\r\n");

  /* EXPUNGE in Trash (1, 2 copied, 3 moved): numbers go highest first. */
  cmd(c, "x1 SELECT Trash");
  CHECK(has("* 3 EXISTS\r\n"));
  cmd(c, "x2 STORE 1,3 +FLAGS.SILENT (\\Deleted)");
  CHECK_EQ_STR(cmd(c, "x3 EXPUNGE"), "* 3 EXPUNGE\r\n* 1 EXPUNGE\r\nx3 OK EXPUNGE completed\r\n");
  CHECK_EQ_STR(cmd(c, "x3 EXPUNGE now"),
               "x3 BAD EXPUNGE takes no arguments (UID EXPUNGE takes a set)\r\n");
  /* UID EXPUNGE only removes the named ones. */
  cmd(c, "x4 SELECT Sent");
  cmd(c, "x4 STORE 1:2 +FLAGS.SILENT (\\Deleted)");
  cmd(c, "x5 UID FETCH 2 UID");
  CHECK_EQ_STR(cmd(c, "x5 UID EXPUNGE 2"), "* 2 EXPUNGE\r\nx5 OK UID EXPUNGE completed\r\n");
  CHECK_EQ_STR(cmd(c, "x5 UID EXPUNGE"), "x5 BAD Invalid sequence set (UID EXPUNGE set)\r\n");
  /* UNSELECT keeps \Deleted messages; CLOSE removes them silently. */
  CHECK_EQ_STR(cmd(c, "x6 UNSELECT"), "x6 OK UNSELECT completed\r\n");
  CHECK_EQ_STR(cmd(c, "x6 STATUS Sent (MESSAGES)"),
               "* STATUS Sent (MESSAGES 1)\r\nx6 OK STATUS completed\r\n");
  cmd(c, "x7 SELECT Sent");
  CHECK_EQ_STR(cmd(c, "x7 CLOSE"), "x7 OK CLOSE completed\r\n");
  CHECK_EQ_STR(cmd(c, "x7 STATUS Sent (MESSAGES)"),
               "* STATUS Sent (MESSAGES 0)\r\nx7 OK STATUS completed\r\n");
  /* EXAMINE then CLOSE does not expunge. */
  cmd(c, "x8 SELECT Trash");
  cmd(c, "x8 STORE 1 +FLAGS.SILENT (\\Deleted)");
  cmd(c, "x8 EXAMINE Trash");
  cmd(c, "x8 CLOSE");
  CHECK_EQ_STR(cmd(c, "x8 STATUS Trash (MESSAGES)"),
               "* STATUS Trash (MESSAGES 1)\r\nx8 OK STATUS completed\r\n");

  /* Two sessions: changes from the other one show up at NOOP. */
  cmd(c, "y1 SELECT INBOX");
  d = selected("carol", "INBOX");
  CHECK_EQ_INT(db_mail_append(ctx.db, carol_id, "INBOX", M3, strlen(M3), 0, D3, NULL), 0);
  CHECK_EQ_STR(cmd(c, "y2 FETCH 1:* UID"), "y2 OK FETCH completed\r\n"); /* not yet */
  CHECK_EQ_STR(cmd(c, "y3 NOOP"), "* 1 EXISTS\r\n* 1 RECENT\r\ny3 OK NOOP completed\r\n");
  CHECK_EQ_STR(cmd(c, "y3 FETCH 1 FLAGS"),
               "* 1 FETCH (FLAGS (\\Recent))\r\ny3 OK FETCH completed\r\n");
  CHECK_EQ_STR(cmd(c, "y3 SEARCH NEW"), "* SEARCH 1\r\ny3 OK SEARCH completed\r\n");
  cmd(d, "y4 NOOP");
  CHECK(has("* 1 EXISTS\r\n"));
  cmd(d, "y4 STORE 1 +FLAGS (\\Flagged)");
  CHECK_EQ_STR(cmd(c, "y5 CHECK"),
               "* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\ny5 OK CHECK completed\r\n");
  cmd(d, "y6 STORE 1 +FLAGS.SILENT (\\Deleted)");
  cmd(d, "y6 EXPUNGE");
  /* FETCH must not announce EXPUNGE: the message is gone, quietly. */
  CHECK_EQ_STR(cmd(c, "y7 FETCH 1 BODY.PEEK[]"),
               "y7 OK [EXPUNGEISSUED] FETCH completed; some messages were expunged meanwhile\r\n");
  CHECK_EQ_STR(cmd(c, "y7 NOOP"), "* 1 EXPUNGE\r\ny7 OK NOOP completed\r\n");
  /* APPEND into the selected mailbox announces EXISTS. */
  lab_mem_clear(c);
  feed(c, "y8 APPEND INBOX (\\Seen) \" 7-Feb-1994 21:52:25 -0800\" {23}\r\n");
  CHECK_EQ_STR(take(c), "+ Ready for 23 bytes\r\n");
  feed(c, "Subject: hi\r\n\r\nhello!\r\n\r\n");
  take(c);
  CHECK(starts(last_out, "* 1 EXISTS\r\n* 1 RECENT\r\ny8 OK [APPENDUID "));
  CHECK_EQ_STR(cmd(c, "y9 FETCH 1 (FLAGS INTERNALDATE)"),
               "* 1 FETCH (FLAGS (\\Seen \\Recent) INTERNALDATE \" 8-Feb-1994 05:52:25 +0000\")\r\n"
               "y9 OK FETCH completed\r\n");
  lab_mem_free(d);
  lab_mem_free(c);
}

static void test_append_and_literals(void) {
  struct lab_conn *c = login("carol");
  char line[128], *big;
  size_t n;

  /* Non-synchronising literal: no "+". */
  CHECK(starts(cmd(c, "a1 APPEND Sent {5+}\r\nHello"), "a1 OK [APPENDUID "));
  CHECK_EQ_STR(cmd(c, "a2 APPEND Nowhere {5+}\r\nHello"),
               "a2 NO [TRYCREATE] There is no mailbox by that name\r\n");
  CHECK_EQ_STR(cmd(c, "a3 APPEND Sent {0+}\r\n"), "a3 NO An empty message cannot be stored\r\n");
  CHECK_EQ_STR(cmd(c, "a4 APPEND Sent \" 7-Feb-1994 21:52:25 -0800\" \"text\""),
               "a4 BAD The message must be sent as a literal (APPEND mailbox [(flags)] "
               "[\"date-time\"] {size})\r\n");
  CHECK_EQ_STR(
      cmd(c, "a4 APPEND Sent \"32-Jan-2000 00:00:00 +0000\" {1+}\r\nx"),
      "a4 BAD Invalid date-time (like \"07-Feb-1994 21:52:25 -0800\") (APPEND mailbox [(flags)] "
      "[\"date-time\"] {size})\r\n");
  CHECK_EQ_STR(cmd(c, "a4 APPEND Sent (\\Seen {1+}\r\nx"),
               "a4 BAD Invalid flag (APPEND mailbox [(flags)] [\"date-time\"] {size})\r\n");
  CHECK_EQ_STR(
      cmd(c, "a4 APPEND Sent {1+}\r\nx extra"),
      "a4 BAD Unexpected extra arguments (APPEND mailbox [(flags)] [\"date-time\"] {size})\r\n");
  CHECK_EQ_STR(cmd(c, "a4 LOGIN {3}x"), "a4 BAD Already logged in\r\n");
  /* A literal in the middle of a line is no literal. */
  CHECK_EQ_STR(
      cmd(c, "a4 APPEND Sent {3}x"),
      "a4 BAD A literal must end its line (APPEND mailbox [(flags)] [\"date-time\"] {size})\r\n");
  CHECK_EQ_STR(cmd(c, "a4 APPEND Sent {}"), "a4 BAD Invalid literal size\r\n");

  /* Over the cap, synchronising: NO at once, no "+", and the server
   * goes on reading commands. */
  snprintf(line, sizeof line, "b1 APPEND Sent {%d}", LIM_IMAP_LITERAL_BYTES + 1);
  CHECK_EQ_STR(cmd(c, line), "b1 NO [TOOBIG] A literal may hold at most 1048576 bytes\r\n");
  CHECK_EQ_STR(cmd(c, "b2 NOOP"), "b2 OK NOOP completed\r\n");
  CHECK_EQ_STR(cmd(c, "b2 APPEND Sent {99999999999}"), "b2 BAD Invalid literal size\r\n");
  CHECK_EQ_STR(cmd(c, "b2 NOOP"), "b2 OK NOOP completed\r\n");
  /* Over the cap, non-synchronising: the bytes are read and dropped. */
  snprintf(line, sizeof line, "b3 APPEND Sent {%d+}", LIM_IMAP_LITERAL_BYTES + 1);
  big = malloc(LIM_IMAP_LITERAL_BYTES + 64);
  memset(big, 'x', LIM_IMAP_LITERAL_BYTES + 64);
  memcpy(big, "b4 NOOP\r\n", 9); /* looks like a command, but is literal data */
  lab_mem_clear(c);
  feed(c, line);
  feed(c, "\r\n");
  CHECK_EQ_STR(take(c), "b3 NO [TOOBIG] A literal may hold at most 1048576 bytes\r\n");
  lab_mem_feed(c, big, LIM_IMAP_LITERAL_BYTES + 1);
  feed(c, " (more of the refused command) {3+}\r\nabc\r\n");
  CHECK_EQ_STR(take(c), "");
  CHECK_EQ_STR(cmd(c, "b5 NOOP"), "b5 OK NOOP completed\r\n");
  /* A literal without a usable size that is already on its way ends it all. */
  /* Exactly at the cap: accepted. */
  snprintf(line, sizeof line, "b6 APPEND Sent {%d}", LIM_IMAP_LITERAL_BYTES);
  lab_mem_clear(c);
  feed(c, line);
  feed(c, "\r\n");
  CHECK_EQ_STR(take(c), "+ Ready for 1048576 bytes\r\n");
  memcpy(big, "Subject: big\r\n\r\n", 16);
  lab_mem_feed(c, big, LIM_IMAP_LITERAL_BYTES);
  feed(c, "\r\n");
  CHECK(starts(take(c), "b6 OK [APPENDUID "));
  /* Two literals in one command count together. */
  snprintf(line, sizeof line, "b7 APPEND Sent {%d+}", LIM_IMAP_LITERAL_BYTES / 2);
  lab_mem_clear(c);
  feed(c, line);
  feed(c, "\r\n");
  lab_mem_feed(c, big, LIM_IMAP_LITERAL_BYTES / 2);
  snprintf(line, sizeof line, " {%d}\r\n", LIM_IMAP_LITERAL_BYTES / 2 + 1);
  feed(c, line);
  CHECK_EQ_STR(take(c), "b7 NO [TOOBIG] A literal may hold at most 1048576 bytes\r\n");
  CHECK_EQ_STR(cmd(c, "b8 NOOP"), "b8 OK NOOP completed\r\n");
  /* FETCH stops before the queue would pass the output cap. */
  cmd(c, "b9 SELECT Sent");
  for (n = 0; n < 3; n++) {
    lab_mem_clear(c);
    snprintf(line, sizeof line, "c%zu APPEND Sent {%d+}\r\n", n, LIM_IMAP_LITERAL_BYTES);
    feed(c, line);
    lab_mem_feed(c, big, LIM_IMAP_LITERAL_BYTES);
    feed(c, "\r\n");
  }
  cmd(c, "c9 FETCH 1:* (BODY.PEEK[] BODY.PEEK[] BODY.PEEK[] BODY.PEEK[])");
  CHECK(!lab_mem_closed(c));
  CHECK_EQ_STR(last_line(),
               "c9 NO [LIMIT] That is more than one FETCH may return; ask for fewer messages\r\n");
  cmd(c, "c9 FETCH 1:* RFC822.SIZE");
  CHECK_EQ_STR(last_line(), "c9 OK FETCH completed\r\n");
  free(big);
  lab_mem_free(c);

  /* Before login a literal is only big enough for a name or password. */
  c = open_conn();
  snprintf(line, sizeof line, "p1 LOGIN {%d}", LIM_IMAP_PREAUTH_LITERAL_BYTES + 1);
  CHECK_EQ_STR(cmd(c, line),
               "p1 NO [TOOBIG] A literal may hold at most 1024 bytes before login\r\n");
  snprintf(line, sizeof line, "p2 LOGIN {%d}", LIM_IMAP_PREAUTH_LITERAL_BYTES);
  CHECK_EQ_STR(cmd(c, line), "+ Ready for 1024 bytes\r\n");
  big = calloc(1, LIM_IMAP_PREAUTH_LITERAL_BYTES);
  memset(big, 'a', LIM_IMAP_PREAUTH_LITERAL_BYTES);
  lab_mem_feed(c, big, LIM_IMAP_PREAUTH_LITERAL_BYTES);
  free(big);
  CHECK_EQ_STR(cmd(c, " x"), "p2 NO [AUTHENTICATIONFAILED] Wrong user name or password\r\n");
  /* A non-synchronising literal of no usable size cannot be skipped. */
  CHECK_EQ_STR(cmd(c, "p3 LOGIN {99999999999+}"),
               "p3 BAD Invalid literal size\r\n"
               "* BYE A literal without a usable size leaves no way to find the next command\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_line_limits(void) {
  struct lab_conn *c = open_conn();
  char *line = malloc(LIM_IMAP_LINE + 16);
  size_t n;

  /* The longest line (CRLF included, as line_max counts) is served. */
  memset(line, 'x', LIM_IMAP_LINE + 16);
  memcpy(line, "a1 NOOP ", 8);
  line[LIM_IMAP_LINE - 2] = '\0';
  CHECK_EQ_STR(cmd(c, line), "a1 BAD NOOP takes no arguments\r\n");
  CHECK(!lab_mem_closed(c));
  line[LIM_IMAP_LINE - 2] = 'x';
  line[LIM_IMAP_LINE - 1] = '\0';
  CHECK_EQ_STR(cmd(c, line),
               "* BAD Line too long (the limit is 8192 bytes)\r\n* BYE Closing the connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Lines joined by literals may not add up past the line cap either. */
  c = login("carol");
  lab_mem_clear(c);
  feed(c, "a2 LIST {1+}\r\nx TEXT ");
  memset(line, 'y', LIM_IMAP_LINE / 2);
  line[LIM_IMAP_LINE / 2] = '\0';
  feed(c, line);
  feed(c, " TEXT {1+}\r\nx TEXT ");
  feed(c, line);
  feed(c, "\r\n");
  CHECK_EQ_STR(take(c), "a2 BAD Command too long\r\n");
  CHECK_EQ_STR(cmd(c, "a3 NOOP"), "a3 OK NOOP completed\r\n");
  free(line);
  lab_mem_free(c);

  /* Mailbox cap. */
  c = login("carol");
  for (n = 0; n < LIM_IMAP_MAILBOXES + 2; n++) {
    char name[64];
    snprintf(name, sizeof name, "z CREATE box%zu", n);
    cmd(c, name);
  }
  CHECK_EQ_STR(last_out, "z NO [LIMIT] An account may have at most 32 mailboxes\r\n");
  for (n = 0; n < LIM_IMAP_MAILBOXES + 2; n++) {
    char name[64];
    snprintf(name, sizeof name, "z DELETE box%zu", n);
    cmd(c, name);
  }
  lab_mem_free(c);
}

/* Replies longer than any fixed formatting buffer still come out whole:
 * a long HEADER.FIELDS list is echoed with its closing "]" and literal,
 * and MOVE's untagged COPYUID of a scattered set keeps its CRLF. */
static void test_long_replies(void) {
  struct lab_conn *c;
  char line[1024], want[1024], *p;
  size_t used = 0, i;

  carol_reset();
  c = selected("carol", "INBOX");
  used = (size_t)snprintf(line, sizeof line, "h FETCH 1 (BODY.PEEK[HEADER.FIELDS (");
  for (i = 0; i < 20; i++)
    used += (size_t)snprintf(line + used, sizeof line - used, "%sX-FIELD-NUMBER-%02zu",
                             i ? " " : "", i);
  snprintf(line + used, sizeof line - used, ")])");
  cmd(c, line);
  used = (size_t)snprintf(want, sizeof want, "* 1 FETCH (BODY[HEADER.FIELDS (");
  for (i = 0; i < 20; i++)
    used += (size_t)snprintf(want + used, sizeof want - used, "%sX-FIELD-NUMBER-%02zu",
                             i ? " " : "", i);
  snprintf(want + used, sizeof want - used, ")] {2}\r\n\r\n)\r\nh OK FETCH completed\r\n");
  CHECK_EQ_STR(last_out, want);

  /* 130 more messages; moving every other one names 66 scattered UIDs. */
  for (i = 0; i < 130; i++)
    CHECK_EQ_INT(db_mail_append(ctx.db, carol_id, "INBOX", M3, strlen(M3), 0, D3, NULL), 0);
  cmd(c, "n NOOP");
  cmd(c, "m0 CREATE Trash");
  used = 0;
  for (i = 1; i <= 133; i += 2)
    used += (size_t)snprintf(line + used, sizeof line - used, "%s%zu", i > 1 ? "," : "m1 MOVE ", i);
  snprintf(line + used, sizeof line - used, " Trash");
  cmd(c, line);
  CHECK(starts(last_out, "* OK [COPYUID "));
  p = strstr(last_out, "\r\n");
  CHECK(p && p - last_out > 256 && p - last_out < 512);
  CHECK(p && p - last_out > 7 && memcmp(p - 7, "] Moved", 7) == 0 &&
        starts(p, "\r\n* 133 EXPUNGE\r\n"));
  CHECK(has("* 1 EXPUNGE\r\nm1 OK MOVE completed\r\n"));
  lab_mem_free(c);
  carol_reset();
}

/* imap.fetch is for a message body that went out, not for FLAGS,
 * ENVELOPE or BODYSTRUCTURE (docs/lessons.md). */
static int count_event(void *arg, const char *attrs) {
  (*(int *)arg)++;
  return 0;
}

static int fetch_events(void) {
  int n = 0;
  CHECK(db_lab_event_find(ctx.db, carol_id, "imap.fetch", count_event, &n) >= 0);
  return n;
}

static void test_fetch_event(void) {
  struct lab_conn *c = selected("carol", "INBOX");
  int before = fetch_events();

  cmd(c, "e1 FETCH 1:* (FLAGS UID ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE)");
  CHECK(has("e1 OK FETCH completed\r\n"));
  CHECK_EQ_INT(fetch_events(), before);
  cmd(c, "e2 FETCH 1 BODY.PEEK[HEADER]");
  CHECK_EQ_INT(fetch_events(), before);
  cmd(c, "e3 FETCH 2 BODY.PEEK[]");
  CHECK(has("e3 OK FETCH completed\r\n"));
  CHECK_EQ_INT(fetch_events(), before + 1);
  cmd(c, "e4 FETCH 3 BODY[TEXT]");
  CHECK_EQ_INT(fetch_events(), before + 2);
  lab_mem_free(c);
}

/* One session fed whole, then byte by byte: the same bytes come out. */
static void test_splits(void) {
  static const char script[] = "a LOGIN carol {9}\r\n" PW
                               "\r\n"
                               "b SELECT INBOX\r\n"
                               "c FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n"
                               "d SEARCH TEXT {4+}\r\nbody\r\n"
                               "e APPEND Sent {11}\r\nSubject: x\n\r\n"
                               "f LOGOUT\r\n";
  struct lab_conn *c;
  char whole[8192];
  size_t i, n;

  c = lab_mem_open(&lab_imap, &ctx, "127.0.0.1");
  lab_mem_feed(c, script, sizeof script - 1);
  take(c);
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
  /* APPENDUID differs between runs: compare up to it. */
  n = (size_t)(strstr(last_out, "[APPENDUID") - last_out);
  CHECK(n < sizeof whole);
  memcpy(whole, last_out, n);
  c = lab_mem_open(&lab_imap, &ctx, "127.0.0.1");
  for (i = 0; i < sizeof script - 1; i++) lab_mem_feed(c, script + i, 1);
  take(c);
  CHECK(last_len > n && memcmp(last_out, whole, n) == 0);
  CHECK(has("f OK LOGOUT completed\r\n"));
  lab_mem_free(c);
}

/* LIM_MAIL_QUOTA_BYTES: every mailbox of the account counts; exactly at
 * the quota is fine, one byte over is NO [OVERQUOTA] (RFC 5530). */
static void test_mail_quota(void) {
  unsigned char *fill = calloc(1, LIM_MAIL_QUOTA_BYTES);
  char msg[100];
  int64_t id, used;
  struct lab_conn *c;

  CHECK(fill != NULL);
  if (!fill) return;
  memset(msg, 'm', sizeof msg);
  memcpy(msg, "Subject: q\r\n\r\n", 15);

  /* APPEND: 10 bytes of room. */
  CHECK_EQ_INT(db_user_create(ctx.db, "iqa", "student", PW, NULL, &id), 0);
  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "Box"), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, id, "Box", fill, LIM_MAIL_QUOTA_BYTES - 10, 0, 0, NULL), 0);
  c = login("iqa");
  CHECK_EQ_STR(cmd(c, "a1 APPEND INBOX {11+}\r\nxxxxxxxxxxx"),
               "a1 NO [OVERQUOTA] That would take your mail past the quota of 16777216 bytes\r\n");
  CHECK(starts(cmd(c, "a2 APPEND INBOX {10+}\r\nxxxxxxxxxx"), "a2 OK [APPENDUID "));
  CHECK_EQ_INT(db_mail_usage(ctx.db, id, &used), 0);
  CHECK_EQ_INT(used, LIM_MAIL_QUOTA_BYTES);
  CHECK(starts(cmd(c, "a3 APPEND Box {1+}\r\nx"), "a3 NO [OVERQUOTA] "));
  lab_mem_free(c);

  /* COPY: a 100-byte message with exactly 100 bytes of room, then with
   * 99. MOVE adds nothing, so it is allowed even at the quota. */
  CHECK_EQ_INT(db_user_create(ctx.db, "iqb", "student", PW, NULL, &id), 0);
  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "Box"), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, id, "INBOX", msg, sizeof msg, 0, 0, NULL), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, id, "Box", fill, LIM_MAIL_QUOTA_BYTES - 200, 0, 0, NULL), 0);
  c = selected("iqb", "INBOX");
  CHECK(starts(cmd(c, "c1 COPY 1 Box"), "c1 OK [COPYUID "));
  CHECK_EQ_INT(db_mail_usage(ctx.db, id, &used), 0);
  CHECK_EQ_INT(used, LIM_MAIL_QUOTA_BYTES);
  CHECK_EQ_STR(cmd(c, "c2 COPY 1 Box"),
               "c2 NO [OVERQUOTA] That would take your mail past the quota of 16777216 bytes\r\n");
  CHECK(starts(cmd(c, "c3 UID COPY 1:* Box"), "c3 NO [OVERQUOTA] "));
  cmd(c, "c4 MOVE 1 Box");
  CHECK(has("c4 OK "));
  CHECK_EQ_INT(db_mail_usage(ctx.db, id, &used), 0);
  CHECK_EQ_INT(used, LIM_MAIL_QUOTA_BYTES);
  lab_mem_free(c);

  CHECK_EQ_INT(db_user_create(ctx.db, "iqc", "student", PW, NULL, &id), 0);
  CHECK_EQ_INT(db_mailbox_create(ctx.db, id, "Box"), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, id, "INBOX", msg, sizeof msg, 0, 0, NULL), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, id, "Box", fill, LIM_MAIL_QUOTA_BYTES - 199, 0, 0, NULL), 0);
  c = selected("iqc", "INBOX");
  CHECK(starts(cmd(c, "c5 COPY 1 Box"), "c5 NO [OVERQUOTA] "));
  CHECK_EQ_INT(db_mail_usage(ctx.db, id, &used), 0);
  CHECK_EQ_INT(used, LIM_MAIL_QUOTA_BYTES - 99);
  lab_mem_free(c);
  free(fill);
}

/* The biggest command the assembler can be asked to hold: a line of
 * LIM_IMAP_LINE bytes (its CRLFs counted) around a literal of
 * LIM_IMAP_LITERAL_BYTES fits the command buf (LIM_IMAP_COMMAND_BYTES);
 * one byte more of line is refused, and the session goes on. */
static void test_command_cap(void) {
  struct lab_conn *c = login("carol");
  char *line = malloc(LIM_IMAP_LINE + 1), *big = malloc(LIM_IMAP_LITERAL_BYTES);
  size_t n;

  CHECK(line && big);
  if (!line || !big) goto done;
  memset(big, 'x', LIM_IMAP_LITERAL_BYTES);
  memcpy(big, "Subject: big\r\n\r\n", 16);
  for (int extra = 0; extra <= 1; extra++) {
    /* The first line and its CRLF, then the empty last line's CRLF. */
    size_t want = LIM_IMAP_LINE - 4 + (size_t)extra;
    n = (size_t)snprintf(line, LIM_IMAP_LINE + 1, "t%d APPEND INBOX (\\Seen ", extra);
    while (n + 1 + strlen(") {1048576}") < want) line[n++] = 'k';
    n += (size_t)snprintf(line + n, LIM_IMAP_LINE + 1 - n, "k) {%d}\r\n", LIM_IMAP_LITERAL_BYTES);
    CHECK_EQ_INT(n, want + 2);
    lab_mem_clear(c);
    lab_mem_feed(c, line, n);
    CHECK_EQ_STR(take(c), "+ Ready for 1048576 bytes\r\n");
    lab_mem_feed(c, big, LIM_IMAP_LITERAL_BYTES);
    feed(c, "\r\n");
    if (extra)
      CHECK_EQ_STR(take(c), "t1 BAD Command too long\r\n");
    else
      CHECK(starts(take(c), "t0 OK [APPENDUID "));
  }
  CHECK_EQ_STR(cmd(c, "t2 NOOP"), "t2 OK NOOP completed\r\n");
done:
  free(line);
  free(big);
  lab_mem_free(c);
  carol_reset();
}

/* A response is built in a buf capped at LIM_IMAP_RESPONSE_BYTES: that
 * many bytes fit, one more drops the response; FETCH answers [LIMIT]
 * rather than queueing what the connection could never hold. */
static void test_response_cap(void) {
  struct imap_sb b = {0};
  struct lab_conn *c;
  char *fill = malloc(LIM_IMAP_RESPONSE_BYTES + 1), *msg;
  const char *out;
  size_t n = 0, i, out_len;

  CHECK(fill != NULL);
  if (!fill) return;
  CHECK_EQ_STR(imap_sb_str(&b), "");
  memset(fill, 'x', LIM_IMAP_RESPONSE_BYTES);
  imap_sb_add(&b, fill, LIM_IMAP_RESPONSE_BYTES - 1);
  imap_sb_adds(&b, "y");
  CHECK(!b.oom && !b.full);
  CHECK_EQ_INT((long long)imap_sb_len(&b), LIM_IMAP_RESPONSE_BYTES);
  CHECK(imap_sb_str(&b) && strlen(imap_sb_str(&b)) == LIM_IMAP_RESPONSE_BYTES &&
        imap_sb_str(&b)[LIM_IMAP_RESPONSE_BYTES - 1] == 'y');
  imap_sb_add(&b, "z", 1);
  CHECK(b.oom && b.full);
  CHECK(imap_sb_str(&b) == NULL);
  imap_sb_free(&b);
  imap_sb_addf(&b, "%d", 42);
  CHECK_EQ_STR(imap_sb_str(&b), "42");
  imap_sb_clear(&b);
  CHECK_EQ_INT((long long)imap_sb_len(&b), 0);
  imap_sb_free(&b);

  /* A From: of 20,000 addresses: one ENVELOPE (from, sender and reply-to
   * all list them) is about 1.4 MB, eight of them pass the cap. */
  carol_reset();
  msg = fill;
  n = (size_t)snprintf(msg, 64, "From: ");
  for (i = 0; i < 20000; i++) n += (size_t)snprintf(msg + n, 64, "%sa%05zu@lab", i ? ", " : "", i);
  n += (size_t)snprintf(msg + n, 64, "\r\nSubject: many\r\n\r\nbody\r\n");
  CHECK_EQ_INT(db_mail_append(ctx.db, carol_id, "INBOX", msg, n, 0, D3, NULL), 0);
  c = selected("carol", "INBOX");
  lab_mem_clear(c);
  feed(c, "e1 FETCH 4 (ENVELOPE)\r\n");
  out = lab_mem_output(c, &out_len);
  CHECK(out_len > 1000000 && out_len < LIM_IMAP_RESPONSE_BYTES / 2);
  CHECK(starts(out, "* 4 FETCH (ENVELOPE (NIL \"many\" ((NIL NIL \"a00000\" \"lab\") "));
  CHECK(out_len > 30 && memcmp(out + out_len - 23, "e1 OK FETCH completed\r\n", 23) == 0);
  CHECK_EQ_STR(cmd(c,
                   "e2 FETCH 4 (ENVELOPE ENVELOPE ENVELOPE ENVELOPE ENVELOPE ENVELOPE ENVELOPE "
                   "ENVELOPE)"),
               "e2 NO [LIMIT] That is more than one FETCH may return; ask for fewer messages\r\n");
  CHECK_EQ_STR(cmd(c, "e3 NOOP"), "e3 OK NOOP completed\r\n");
  lab_mem_free(c);
  free(fill);
  carol_reset();
}

int main(void) {
  alice_id = lab_fixture(&ctx, SECRET, PW);
  CHECK_EQ_INT(db_user_create(ctx.db, "carol", "student", PW, NULL, &carol_id), 0);
  carol_reset();

  test_greeting_and_login();
  test_authenticate();
  test_tags_and_garbage();
  test_select_status_list();
  test_fetch();
  test_store_search();
  test_copy_move_expunge();
  test_append_and_literals();
  test_line_limits();
  test_splits();
  test_long_replies();
  test_fetch_event();
  test_mail_quota();
  test_response_cap();
  test_command_cap();

  db_close(ctx.db);
  return check_done();
}
