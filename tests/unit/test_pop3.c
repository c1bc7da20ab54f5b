/* test_pop3.c -- unit tests for the lab POP3 server (protocols/pop3.c).
 *
 * Drives the module through the in-memory connection with an in-memory
 * database: the greeting and CAPA, USER/PASS (right, wrong, out of order,
 * too many failures), every TRANSACTION command with good and bad message
 * numbers, byte-stuffing and line-end normalisation in RETR and TOP,
 * DELE applied only at QUIT (UPDATE) and undone by RSET, the maildrop
 * snapshot, the \Seen flag RETR sets, the line cap at its edge, NUL bytes,
 * the error limit, the idle timeout, pipelining, and one session fed at
 * every split point.
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
#include "progress.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PW "Secr3t-Pw"

static struct lab_ctx ctx;
static int64_t alice_id, bob_id, carol_id;

/* A message with a line that needs stuffing, a bare LF, and no final newline. */
static const char ODD[] = "Subject: odd\r\nX-Test: 1\r\n\r\n.hidden\r\nbare\nline\r\n..two\r\nend";
static const char ODD_WIRE[] =
    "Subject: odd\r\nX-Test: 1\r\n\r\n..hidden\r\nbare\r\nline\r\n...two\r\nend\r\n.\r\n";

static struct lab_conn *open_conn(void) {
  struct lab_conn *c = lab_mem_open(&lab_pop3, &ctx, "127.0.0.1");
  take(c);
  return c;
}

static struct lab_conn *login(const char *user, const char *pw) {
  char line[128];
  struct lab_conn *c = open_conn();
  snprintf(line, sizeof line, "USER %s", user);
  cmd(c, line);
  snprintf(line, sizeof line, "PASS %s", pw);
  cmd(c, line);
  return c;
}

static int64_t mail_count(int64_t uid) {
  struct db_mailbox mb;
  if (db_mailbox_get(ctx.db, uid, "INBOX", &mb) != 0) return -1;
  return mb.messages;
}

struct sizes {
  int64_t uid[8];
  size_t size[8];
  size_t n, total;
};
static int sizes_cb(void *arg, const struct db_mail *m) {
  struct sizes *z = arg;
  if (z->n < 8) {
    z->uid[z->n] = m->uid;
    z->size[z->n++] = m->size;
  }
  z->total += m->size;
  return 0;
}
static struct sizes sizes_of(int64_t uid) {
  struct sizes z;
  memset(&z, 0, sizeof z);
  db_mail_list(ctx.db, uid, "INBOX", sizes_cb, &z);
  return z;
}

static const char CAPA[] =
    "+OK Capabilities follow\r\nUSER\r\nUIDL\r\nTOP\r\nPIPELINING\r\nRESP-CODES\r\n"
    "AUTH-RESP-CODE\r\nIMPLEMENTATION portlab\r\n.\r\n";

static void test_authorization(void) {
  struct lab_conn *c = lab_mem_open(&lab_pop3, &ctx, "127.0.0.1");
  char want[256];

  CHECK(starts(take(c), "+OK "));
  CHECK(last_len > 2 && strcmp(last_out + last_len - 2, "\r\n") == 0);
  CHECK_EQ_STR(cmd(c, "CAPA"), CAPA);
  CHECK_EQ_STR(cmd(c, "STAT"), "-ERR Log in first (USER, then PASS)\r\n");
  CHECK_EQ_STR(cmd(c, "RETR 1"), "-ERR Log in first (USER, then PASS)\r\n");
  CHECK_EQ_STR(cmd(c, "PASS " PW), "-ERR Send USER first\r\n");
  CHECK_EQ_STR(cmd(c, "USER"), "-ERR Syntax: USER <name>\r\n");
  CHECK_EQ_STR(cmd(c, "USER alice"), "+OK Send your password with PASS\r\n");
  CHECK_EQ_STR(cmd(c, "PASS wrong"), "-ERR [AUTH] Invalid user name or password\r\n");
  /* Back to the start: PASS needs a new USER. */
  CHECK_EQ_STR(cmd(c, "PASS " PW), "-ERR Send USER first\r\n");
  /* An unknown user fails the same way; USER says nothing. */
  CHECK_EQ_STR(cmd(c, "USER nobody"), "+OK Send your password with PASS\r\n");
  CHECK_EQ_STR(cmd(c, "PASS " PW), "-ERR [AUTH] Invalid user name or password\r\n");
  /* USER twice: the second wins. */
  cmd(c, "USER bob");
  cmd(c, "user ALICE");
  struct sizes z = sizes_of(alice_id);
  snprintf(want, sizeof want, "+OK Logged in as alice: %zu messages, %zu octets\r\n", z.n, z.total);
  CHECK_EQ_STR(cmd(c, "pass " PW), want);
  CHECK_EQ_STR(cmd(c, "USER alice"), "-ERR Already logged in\r\n");
  CHECK_EQ_STR(cmd(c, "PASS x"), "-ERR Already logged in\r\n");
  CHECK_EQ_STR(cmd(c, "CAPA"), CAPA);
  CHECK_EQ_STR(cmd(c, "QUIT"), "+OK Bye, 0 messages removed\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Three failed logins end the session. */
  c = open_conn();
  cmd(c, "USER alice");
  cmd(c, "PASS a");
  cmd(c, "USER alice");
  cmd(c, "PASS b");
  CHECK(!lab_mem_closed(c));
  cmd(c, "USER alice");
  CHECK_EQ_STR(cmd(c, "PASS c"),
               "-ERR [AUTH] Invalid user name or password\r\n"
               "-ERR Too many failed logins, closing connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* QUIT before login; a password with spaces; a name over the cap. */
  c = open_conn();
  CHECK_EQ_STR(cmd(c, "QUIT"), "+OK Bye\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
  c = login("carol", "with two spaces");
  /* Not seeded at creation: the login brings the welcome mail. */
  CHECK(starts(last_out, "+OK Logged in as carol: 2 messages, "));
  lab_mem_free(c);
  c = login("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", PW);
  CHECK(starts(last_out, "-ERR [AUTH] "));
  lab_mem_free(c);
  c = login("demo", "demo");
  CHECK(starts(last_out, "+OK Logged in as demo: "));
  lab_mem_free(c);
}

static void test_transaction(void) {
  struct lab_conn *c = login("alice", PW);
  struct sizes z = sizes_of(alice_id);
  char want[512], line[64];
  struct db_mailbox mb;
  struct db_mail meta;

  CHECK_EQ_INT(z.n, 3);
  snprintf(want, sizeof want, "+OK 3 %zu\r\n", z.total);
  CHECK_EQ_STR(cmd(c, "STAT"), want);
  snprintf(want, sizeof want, "+OK 3 messages (%zu octets)\r\n1 %zu\r\n2 %zu\r\n3 %zu\r\n.\r\n",
           z.total, z.size[0], z.size[1], z.size[2]);
  CHECK_EQ_STR(cmd(c, "LIST"), want);
  snprintf(want, sizeof want, "+OK 2 %zu\r\n", z.size[1]);
  CHECK_EQ_STR(cmd(c, "list 2"), want);
  CHECK_EQ_STR(cmd(c, "LIST 0"), "-ERR No such message (the maildrop holds 3)\r\n");
  CHECK_EQ_STR(cmd(c, "LIST 4"), "-ERR No such message (the maildrop holds 3)\r\n");
  CHECK_EQ_STR(cmd(c, "LIST 99999999999999999999"), "-ERR No such message\r\n");
  CHECK_EQ_STR(cmd(c, "LIST x"), "-ERR Syntax: LIST <message number>\r\n");
  CHECK_EQ_STR(cmd(c, "LIST -1"), "-ERR Syntax: LIST <message number>\r\n");
  CHECK_EQ_STR(cmd(c, "NOOP"), "+OK\r\n");

  /* RETR: CRLF everywhere, dots doubled, a final CRLF added. */
  snprintf(want, sizeof want, "+OK %zu octets\r\n%s", z.size[2], ODD_WIRE);
  CHECK_EQ_STR(cmd(c, "RETR 3"), want);
  CHECK_EQ_INT(db_mail_get(ctx.db, alice_id, "INBOX", z.uid[2], &meta, NULL, NULL), 0);
  CHECK(meta.flags & DB_MAIL_SEEN);
  CHECK(starts(cmd(c, "RETR 1"), "+OK "));
  CHECK(has("\r\n\r\nHello alice,\r\n"));
  CHECK(last_len > 5 && strcmp(last_out + last_len - 5, "\r\n.\r\n") == 0);
  CHECK_EQ_STR(cmd(c, "RETR"), "-ERR Syntax: RETR <message number>\r\n");
  CHECK_EQ_STR(cmd(c, "RETR 9"), "-ERR No such message (the maildrop holds 3)\r\n");

  /* TOP: the header, the blank line, n body lines; TOP does not set \Seen. */
  CHECK_EQ_STR(cmd(c, "TOP 3 0"),
               "+OK Top of message 3 follows\r\nSubject: odd\r\nX-Test: 1\r\n\r\n.\r\n");
  CHECK_EQ_STR(cmd(c, "TOP 3 2"),
               "+OK Top of message 3 follows\r\nSubject: odd\r\nX-Test: 1\r\n"
               "\r\n..hidden\r\nbare\r\n.\r\n");
  snprintf(want, sizeof want, "+OK Top of message 3 follows\r\n%s", ODD_WIRE);
  CHECK_EQ_STR(cmd(c, "TOP 3 99999999999999999999"), want);
  CHECK_EQ_STR(cmd(c, "TOP 3"), "-ERR Syntax: TOP <message number> <lines>\r\n");
  CHECK_EQ_STR(cmd(c, "TOP 3 x"), "-ERR Syntax: TOP <message number> <lines>\r\n");
  CHECK_EQ_STR(cmd(c, "TOP 4 1"), "-ERR No such message (the maildrop holds 3)\r\n");
  CHECK(starts(cmd(c, "TOP 2 1"), "+OK Top of message 2 follows\r\n"));
  CHECK_EQ_INT(db_mail_get(ctx.db, alice_id, "INBOX", z.uid[1], &meta, NULL, NULL), 0);
  CHECK(!(meta.flags & DB_MAIL_SEEN));

  /* UIDL: uidvalidity.uid. */
  CHECK_EQ_INT(db_mailbox_get(ctx.db, alice_id, "INBOX", &mb), 0);
  snprintf(want, sizeof want,
           "+OK Unique ids follow\r\n1 %lld.%lld\r\n2 %lld.%lld\r\n3 %lld.%lld\r\n.\r\n",
           (long long)mb.uidvalidity, (long long)z.uid[0], (long long)mb.uidvalidity,
           (long long)z.uid[1], (long long)mb.uidvalidity, (long long)z.uid[2]);
  CHECK_EQ_STR(cmd(c, "UIDL"), want);
  snprintf(want, sizeof want, "+OK 2 %lld.%lld\r\n", (long long)mb.uidvalidity,
           (long long)z.uid[1]);
  CHECK_EQ_STR(cmd(c, "UIDL 2"), want);

  /* DELE marks; the message is gone for this session only; RSET undoes. */
  CHECK_EQ_STR(cmd(c, "DELE 1"), "+OK Message 1 marked for deletion at QUIT\r\n");
  CHECK_EQ_STR(cmd(c, "DELE 1"), "-ERR Message 1 is already deleted\r\n");
  CHECK_EQ_STR(cmd(c, "RETR 1"), "-ERR Message 1 is already deleted\r\n");
  CHECK_EQ_STR(cmd(c, "LIST 1"), "-ERR Message 1 is already deleted\r\n");
  CHECK_EQ_STR(cmd(c, "UIDL 1"), "-ERR Message 1 is already deleted\r\n");
  snprintf(want, sizeof want, "+OK 2 %zu\r\n", z.size[1] + z.size[2]);
  CHECK_EQ_STR(cmd(c, "STAT"), want);
  snprintf(want, sizeof want, "+OK 2 messages (%zu octets)\r\n2 %zu\r\n3 %zu\r\n.\r\n",
           z.size[1] + z.size[2], z.size[1], z.size[2]);
  CHECK_EQ_STR(cmd(c, "LIST"), want);
  CHECK(!has("\r\n1 "));
  snprintf(want, sizeof want, "+OK Deletion marks removed: 3 messages, %zu octets\r\n", z.total);
  CHECK_EQ_STR(cmd(c, "RSET"), want);
  CHECK(starts(cmd(c, "RETR 1"), "+OK "));
  CHECK_EQ_INT(mail_count(alice_id), 3);
  cmd(c, "DELE 3");
  lab_mem_free(c); /* dropped without QUIT: nothing is removed */
  CHECK_EQ_INT(mail_count(alice_id), 3);

  /* Timeout: no UPDATE either. */
  c = login("alice", PW);
  cmd(c, "DELE 3");
  lab_mem_timeout(c);
  CHECK(starts(take(c), "-ERR "));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
  CHECK_EQ_INT(mail_count(alice_id), 3);

  /* QUIT applies the marks. */
  c = login("alice", PW);
  cmd(c, "DELE 3");
  CHECK_EQ_STR(cmd(c, "QUIT"), "+OK Bye, 1 message removed\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
  CHECK_EQ_INT(mail_count(alice_id), 2);
  CHECK_EQ_INT(db_mail_get(ctx.db, alice_id, "INBOX", z.uid[2], NULL, NULL, NULL), 1);

  /* The snapshot: later mail waits for the next login; mail removed
   * meanwhile answers -ERR [SYS/PERM]. */
  c = login("alice", PW);
  db_mail_append(ctx.db, alice_id, "INBOX", "Subject: late\r\n\r\nlate\r\n", 23, 0, 0, NULL);
  CHECK(starts(cmd(c, "STAT"), "+OK 2 "));
  CHECK_EQ_STR(cmd(c, "RETR 3"), "-ERR No such message (the maildrop holds 2)\r\n");
  db_mail_delete(ctx.db, alice_id, "INBOX", z.uid[1]);
  CHECK_EQ_STR(cmd(c, "RETR 2"), "-ERR [SYS/PERM] Message 2 was removed by another session\r\n");
  snprintf(line, sizeof line, "DELE 2");
  cmd(c, line);
  CHECK_EQ_STR(cmd(c, "QUIT"), "+OK Bye, 1 message removed\r\n");
  lab_mem_free(c);
  c = login("alice", PW);
  CHECK(starts(last_out, "+OK Logged in as alice: 2 messages, "));
  CHECK_EQ_STR(cmd(c, "TOP 2 0"), "+OK Top of message 2 follows\r\nSubject: late\r\n\r\n.\r\n");
  lab_mem_free(c);

  /* An empty maildrop, once the welcome mail is gone. */
  c = login("bob", "bob-pw");
  CHECK(starts(last_out, "+OK Logged in as bob: 2 messages, "));
  cmd(c, "DELE 1");
  cmd(c, "DELE 2");
  CHECK_EQ_STR(cmd(c, "QUIT"), "+OK Bye, 2 messages removed\r\n");
  lab_mem_free(c);
  c = login("bob", "bob-pw");
  CHECK_EQ_STR(cmd(c, "STAT"), "+OK 0 0\r\n");
  CHECK_EQ_STR(cmd(c, "LIST"), "+OK 0 messages (0 octets)\r\n.\r\n");
  CHECK_EQ_STR(cmd(c, "UIDL"), "+OK Unique ids follow\r\n.\r\n");
  CHECK_EQ_STR(cmd(c, "RETR 1"), "-ERR No such message (the maildrop holds 0)\r\n");
  lab_mem_free(c);
}

static void test_limits(void) {
  struct lab_conn *c = login("bob", "bob-pw");
  char line[LIM_POP3_LINE + 8];
  int i;

  /* 512 bytes with the CRLF is a line; 513 is too long. */
  memset(line, ' ', sizeof line);
  memcpy(line, "NOOP", 4);
  line[LIM_POP3_LINE - 2] = '\0';
  CHECK_EQ_STR(cmd(c, line), "+OK\r\n");
  memset(line, 'x', sizeof line);
  line[LIM_POP3_LINE - 1] = '\0';
  CHECK_EQ_STR(cmd(c, line), "-ERR Line too long, closing connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  c = open_conn();
  lab_mem_feed(c, "US\0ER bob\r\n", 11);
  CHECK_EQ_STR(take(c), "-ERR NUL byte in command\r\n");
  lab_mem_feed(c, "USER bob\r\nPASS bob\0-pw\r\n", 24);
  CHECK_EQ_STR(take(c), "+OK Send your password with PASS\r\n-ERR NUL byte in command\r\n");
  CHECK_EQ_STR(cmd(c, "XYZZY"), "-ERR Unknown command \"XYZZY\"\r\n");
  CHECK_EQ_STR(cmd(c, ""), "-ERR Empty command\r\n");
  CHECK_EQ_STR(cmd(c, "APOP bob 0123456789abcdef0123456789abcdef"),
               "-ERR Unknown command \"APOP\"\r\n");
  /* A bare LF ends a command too (people use nc). */
  lab_mem_clear(c);
  feed(c, "CAPA\n");
  CHECK_EQ_STR(take(c), CAPA);
  lab_mem_free(c);

  c = open_conn();
  for (i = 0; i < LIM_POP3_ERRORS - 1; i++) cmd(c, "BOGUS");
  CHECK(!lab_mem_closed(c));
  CHECK_EQ_STR(cmd(c, "BOGUS"),
               "-ERR Unknown command \"BOGUS\"\r\n"
               "-ERR Too many errors in one session, closing connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static const char PIPELINE[] =
    "CAPA\r\nUSER bob\r\nPASS bob-pw\r\nSTAT\r\nLIST\r\nUIDL 1\r\nRETR 1\r\nTOP 1 0\r\n"
    "DELE 1\r\nRETR 1\r\nRSET\r\nNOOP\r\nQUIT\r\n";

static void test_pipelining_and_splits(void) {
  struct lab_conn *c;
  static char want[sizeof last_out];
  size_t i, n = strlen(PIPELINE);

  db_mail_append(ctx.db, bob_id, "INBOX", "Subject: p\r\n\r\n.x\r\nbody\r\n", 24, 0, 0, NULL);
  c = open_conn();
  lab_mem_feed(c, PIPELINE, n);
  take(c);
  CHECK(lab_mem_closed(c));
  CHECK(starts(last_out, CAPA));
  CHECK(has("\r\n+OK 24 octets\r\nSubject: p\r\n\r\n..x\r\nbody\r\n.\r\n"));
  CHECK(has("\r\n-ERR Message 1 is already deleted\r\n"));
  CHECK(has("\r\n+OK Bye, 0 messages removed\r\n"));
  snprintf(want, sizeof want, "%s", last_out);
  lab_mem_free(c);
  for (i = 1; i < n; i++) {
    c = open_conn();
    lab_mem_feed(c, PIPELINE, i);
    lab_mem_feed(c, PIPELINE + i, n - i);
    CHECK_EQ_STR(take(c), want);
    lab_mem_free(c);
  }
  c = open_conn();
  for (i = 0; i < n; i++) lab_mem_feed(c, PIPELINE + i, 1);
  CHECK_EQ_STR(take(c), want);
  lab_mem_free(c);
  CHECK_EQ_INT(mail_count(bob_id), 1);
}

/* pop3.retr is recorded only for a message that was actually sent. */
static int retr_event_cb(void *arg, const char *attrs) {
  (*(int *)arg)++;
  return 0;
}

static int retr_events(int64_t uid) {
  int n = 0;
  CHECK(db_lab_event_find(ctx.db, uid, "pop3.retr", retr_event_cb, &n) >= 0);
  return n;
}

static void test_retr_event(void) {
  int64_t dave_id;
  struct sizes z;
  struct lab_conn *c;

  CHECK_EQ_INT(db_user_create(ctx.db, "dave", "student", "dave-pw", NULL, &dave_id), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, dave_id, "INBOX", ODD, strlen(ODD), 0, 0, NULL), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, dave_id, "INBOX", ODD, strlen(ODD), 0, 0, NULL), 0);
  z = sizes_of(dave_id);
  c = login("dave", "dave-pw");
  CHECK(starts(last_out, "+OK Logged in as dave: "));
  db_mail_delete(ctx.db, dave_id, "INBOX", z.uid[z.n - 1]);
  CHECK(starts(cmd(c, "RETR 2"), "-ERR [SYS/PERM] "));
  CHECK_EQ_INT(retr_events(dave_id), 0);
  CHECK(starts(cmd(c, "RETR 9"), "-ERR No such message"));
  CHECK_EQ_INT(retr_events(dave_id), 0);
  CHECK(starts(cmd(c, "RETR 1"), "+OK "));
  CHECK_EQ_INT(retr_events(dave_id), 1);
  lab_mem_free(c);
}

int main(void) {
  alice_id = lab_fixture(&ctx, SECRET, PW);
  CHECK_EQ_INT(db_mail_append(ctx.db, alice_id, "INBOX", ODD, strlen(ODD), 0, 0, NULL), 0);
  CHECK_EQ_INT(db_user_create(ctx.db, "bob", "student", "bob-pw", NULL, &bob_id), 0);
  CHECK_EQ_INT(db_user_create(ctx.db, "carol", "student", "with two spaces", NULL, &carol_id), 0);

  test_authorization();
  test_transaction();
  test_limits();
  test_pipelining_and_splits();
  test_retr_event();

  db_close(ctx.db);
  return check_done();
}
