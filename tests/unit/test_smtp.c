/* test_smtp.c -- unit tests for the lab SMTP server (protocols/smtp.c).
 *
 * Drives the module through the in-memory connection with an in-memory
 * database: the greeting and EHLO, a whole delivery to several lab users
 * (Return-Path, Received, dot-stuffing, 8-bit text), every command in and
 * out of sequence, relaying refused, the recipient and size caps at their
 * edges, the SMTP smuggling forms, both line limits at their edges, NUL
 * bytes, AUTH PLAIN and LOGIN (good, bad, cancelled, malformed, too many
 * failures), the error limit, the idle timeout, pipelining, one
 * session fed at every split point, and postmaster (RFC 5321 section
 * 4.5.1): each student's own, known by the relay or by AUTH.
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
#include "labident.h"
#include "log.h"
#include "portlab_limits.h"
#include "progress.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PW "Secr3t-Pw"

static struct lab_ctx ctx;
static int64_t alice_id, bob_id;

/* The reply codes in the output, as "250 250 354 " (final lines only). */
static const char *codes(void) {
  static char out[4096];
  size_t o = 0;
  const char *p = last_out;
  out[0] = '\0';
  while (*p && o + 5 < sizeof out) {
    if (p[0] >= '1' && p[0] <= '5' && p[1] && p[2] && p[3] == ' ') {
      memcpy(out + o, p, 3);
      out[o + 3] = ' ';
      o += 4;
      out[o] = '\0';
    }
    p = strchr(p, '\n');
    if (!p) break;
    p++;
  }
  return out;
}

static struct lab_conn *open_conn(void) {
  struct lab_conn *c = lab_mem_open(&lab_smtp, &ctx, "127.0.0.1");
  take(c);
  return c;
}

static struct lab_conn *open_ehlo(void) {
  struct lab_conn *c = open_conn();
  cmd(c, "EHLO client.example");
  return c;
}

static int64_t mail_count(int64_t uid) {
  struct db_mailbox mb;
  if (db_mailbox_get(ctx.db, uid, "INBOX", &mb) != 0) return -1;
  return mb.messages;
}

/* The newest message in the user's INBOX (malloc'd, NUL-terminated). */
static int last_uid_cb(void *arg, const struct db_mail *m) {
  *(int64_t *)arg = m->uid;
  return 0;
}
static char *newest_mail(int64_t user_id, size_t *len) {
  int64_t uid = 0;
  unsigned char *body = NULL, *copy;
  if (db_mail_list(ctx.db, user_id, "INBOX", last_uid_cb, &uid) != 0 || uid == 0) return NULL;
  if (db_mail_get(ctx.db, user_id, "INBOX", uid, NULL, &body, len) != 0) return NULL;
  copy = realloc(body, *len + 1);
  if (!copy) {
    free(body);
    return NULL;
  }
  copy[*len] = '\0';
  return (char *)copy;
}

static void test_greeting_and_ehlo(void) {
  struct lab_conn *c = lab_mem_open(&lab_smtp, &ctx, "127.0.0.1");
  take(c);
  CHECK(strncmp(last_out, "220 lab ESMTP ", 14) == 0);
  CHECK(last_len > 2 && strcmp(last_out + last_len - 2, "\r\n") == 0);
  cmd(c, "EHLO client.example");
  CHECK_EQ_STR(last_out,
               "250-lab Hello client.example [127.0.0.1]\r\n"
               "250-SIZE 1048576\r\n"
               "250-8BITMIME\r\n"
               "250-PIPELINING\r\n"
               "250-ENHANCEDSTATUSCODES\r\n"
               "250-AUTH PLAIN LOGIN\r\n"
               "250 HELP\r\n");
  CHECK_EQ_STR(cmd(c, "HELO other.example"), "250 lab Hello other.example [127.0.0.1]\r\n");
  CHECK_EQ_STR(cmd(c, "ehlo  spaced.example "),
               "250-lab Hello spaced.example [127.0.0.1]\r\n"
               "250-SIZE 1048576\r\n"
               "250-8BITMIME\r\n"
               "250-PIPELINING\r\n"
               "250-ENHANCEDSTATUSCODES\r\n"
               "250-AUTH PLAIN LOGIN\r\n"
               "250 HELP\r\n");
  CHECK(strncmp(cmd(c, "HELO"), "501 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "EHLO"), "501 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "NOOP"), "250 2.0.0 ", 10) == 0);
  CHECK(strncmp(cmd(c, "HELP"), "214-2.0.0 ", 10) == 0);
  CHECK(has("\r\n214 2.0.0 "));
  CHECK(strncmp(cmd(c, "QUIT"), "221 2.0.0 ", 10) == 0);
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_delivery(void) {
  struct lab_conn *c = open_ehlo();
  int64_t a0 = mail_count(alice_id), b0 = mail_count(bob_id);
  size_t len;
  char *m;

  CHECK_EQ_STR(cmd(c, "MAIL FROM:<eve@example.com>"), "250 2.1.0 Sender <eve@example.com> OK\r\n");
  CHECK_EQ_STR(cmd(c, "RCPT TO:<alice@lab>"), "250 2.1.5 Recipient <alice@lab> OK\r\n");
  CHECK_EQ_STR(cmd(c, "RCPT TO:<BOB@LAB>"), "250 2.1.5 Recipient <bob@lab> OK\r\n");
  CHECK_EQ_STR(cmd(c, "RCPT TO:<alice@Lab>"), "250 2.1.5 Recipient <alice@lab> OK\r\n");
  cmd(c, "DATA");
  CHECK(strncmp(last_out, "354 ", 4) == 0);
  lab_mem_clear(c);
  feed(c,
       "Subject: hi\r\n\r\nline one\r\n..dot line\r\n..\r\n\xc3\xa9t\xc3\xa9 8-bit\r\n"
       ". \r\n");
  take(c);
  CHECK_EQ_INT(last_len, 0); /* nothing is answered inside DATA */
  feed(c, ".\r\n");
  take(c);
  CHECK(strncmp(last_out, "250 2.0.0 Message accepted for delivery, id ", 44) == 0);
  CHECK_EQ_INT(mail_count(alice_id), a0 + 1); /* the duplicate RCPT delivers once */
  CHECK_EQ_INT(mail_count(bob_id), b0 + 1);
  m = newest_mail(alice_id, &len);
  CHECK(m != NULL);
  if (m) {
    const char *body =
        "Subject: hi\r\n\r\nline one\r\n.dot line\r\n.\r\n\xc3\xa9t\xc3\xa9 8-bit\r\n"
        " \r\n";
    CHECK(starts(m,
                 "Return-Path: <eve@example.com>\r\nReceived: from client.example ([127.0.0.1])"
                 "\r\n\tby lab (portlab) with ESMTP id "));
    CHECK(strstr(m, "\r\n\t(authenticated") == NULL);
    CHECK(strstr(m, "\tfor <") == NULL); /* two recipients: no "for" */
    CHECK(len > strlen(body) && strcmp(m + len - strlen(body), body) == 0);
    CHECK(strstr(m, " +0000\r\nSubject: hi\r\n") != NULL);
    free(m);
  }
  /* The transaction is over: DATA needs a new MAIL and RCPT. */
  CHECK(strncmp(cmd(c, "DATA"), "503 5.5.1 ", 10) == 0);
  /* One recipient: the Received line names it; HELO gives "with SMTP". */
  cmd(c, "HELO old.example");
  cmd(c, "MAIL FROM:<>");
  CHECK_EQ_STR(last_out, "250 2.1.0 Sender <> OK\r\n");
  cmd(c, "RCPT TO:alice"); /* bare local part, as people type it */
  CHECK_EQ_STR(last_out, "250 2.1.5 Recipient <alice@lab> OK\r\n");
  cmd(c, "DATA");
  cmd(c, ".");
  CHECK(strncmp(last_out, "250 2.0.0 ", 10) == 0);
  m = newest_mail(alice_id, &len);
  CHECK(m != NULL);
  if (m) {
    CHECK(starts(m,
                 "Return-Path: <>\r\nReceived: from old.example ([127.0.0.1])\r\n\tby lab "
                 "(portlab) with SMTP id "));
    CHECK(strstr(m, "\r\n\tfor <alice@lab>;\r\n\t") != NULL);
    CHECK(len > 8 && strcmp(m + len - 8, " +0000\r\n") == 0); /* the header alone */
    free(m);
  }
  lab_mem_free(c);
}

static void test_sequence(void) {
  struct lab_conn *c = open_conn();

  CHECK_EQ_STR(cmd(c, "MAIL FROM:<a@b>"),
               "503 5.5.1 Bad sequence of commands: send HELO or EHLO first\r\n");
  CHECK(strncmp(cmd(c, "RCPT TO:<alice@lab>"), "503 5.5.1 ", 10) == 0);
  CHECK(strncmp(cmd(c, "DATA"), "503 5.5.1 ", 10) == 0);
  CHECK(strncmp(cmd(c, "AUTH PLAIN"), "503 5.5.1 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RSET"), "250 2.0.0 ", 10) == 0);
  CHECK(strncmp(cmd(c, "VRFY alice"), "250 2.1.5 ", 10) == 0);
  cmd(c, "EHLO x");
  CHECK_EQ_STR(cmd(c, "RCPT TO:<alice@lab>"),
               "503 5.5.1 Bad sequence of commands: send MAIL FROM first\r\n");
  CHECK_EQ_STR(cmd(c, "DATA"), "503 5.5.1 Bad sequence of commands: send MAIL FROM first\r\n");
  cmd(c, "MAIL FROM:<a@b>");
  CHECK_EQ_STR(cmd(c, "DATA"), "503 5.5.1 Bad sequence of commands: send RCPT TO first\r\n");
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b>"), "503 5.5.1 ", 10) == 0);
  CHECK(has("sender already given"));
  CHECK(strncmp(cmd(c, "AUTH PLAIN"), "503 5.5.1 ", 10) == 0);
  cmd(c, "RCPT TO:<alice@lab>");
  CHECK(strncmp(last_out, "250 ", 4) == 0);
  /* RSET ends the transaction; HELO/EHLO again does too. */
  CHECK(strncmp(cmd(c, "RSET"), "250 2.0.0 ", 10) == 0);
  CHECK(strncmp(cmd(c, "DATA"), "503 5.5.1 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT TO:<alice@lab>"), "503 5.5.1 ", 10) == 0);
  cmd(c, "MAIL FROM:<a@b>");
  cmd(c, "RCPT TO:<alice@lab>");
  cmd(c, "EHLO again");
  CHECK(strncmp(cmd(c, "DATA"), "503 5.5.1 ", 10) == 0);
  CHECK(!lab_mem_closed(c));
  lab_mem_free(c);

  /* Syntax, on a fresh connection (errors are counted per session). */
  c = open_ehlo();
  CHECK(strncmp(cmd(c, "MAIL TO:<a@b>"), "501 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b"), "501 5.1.7 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:<a b@c>"), "501 5.1.7 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:"), "501 5.1.7 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM: <spaced@example.com>"), "250 2.1.0 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT FROM:<alice@lab>"), "501 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT TO:<>"), "501 5.1.3 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT TO:<@lab>"), "501 5.1.3 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT TO:<alice@>"), "501 5.1.3 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT TO:<alice@lab> NOTIFY=NEVER"), "555 5.5.4 ", 10) == 0);
  {
    /* RFC 5321's 64-octet local part: at the limit it is a (unknown) user. */
    char rcpt[128];
    snprintf(rcpt, sizeof rcpt, "RCPT TO:<%064d@lab>", 7);
    CHECK(strncmp(cmd(c, rcpt), "550 5.1.1 ", 10) == 0);
    snprintf(rcpt, sizeof rcpt, "RCPT TO:<%065d@lab>", 7);
    CHECK(strncmp(cmd(c, rcpt), "501 5.1.3 ", 10) == 0);
  }
  CHECK(strncmp(cmd(c, "RCPT TO:<@relay.example:alice@lab>"), "250 2.1.5 ", 10) == 0);
  CHECK(strncmp(cmd(c, "DATA now"), "501 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "EXPN staff"), "502 5.5.1 ", 10) == 0);
  CHECK_EQ_STR(cmd(c, "FROB"), "500 5.5.1 Command unrecognized: \"FROB\"\r\n");
  CHECK(strncmp(cmd(c, ""), "500 5.5.2 ", 10) == 0);
  CHECK(!lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_relay_and_users(void) {
  struct lab_conn *c = open_ehlo();

  cmd(c, "MAIL FROM:<alice@lab>");
  CHECK(strncmp(cmd(c, "RCPT TO:<someone@example.com>"), "550 5.7.1 ", 10) == 0);
  CHECK(has("<someone@example.com>: Relay access denied"));
  CHECK(strncmp(cmd(c, "RCPT TO:<alice@lab.example.com>"), "550 5.7.1 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT TO:<alice@example.com@lab>"), "550 5.1.1 ", 10) == 0);
  CHECK_EQ_STR(cmd(c, "RCPT TO:<nobody@lab>"), "550 5.1.1 <nobody@lab>: No such user here\r\n");
  CHECK(strncmp(cmd(c, "RCPT TO:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@lab>"),
                "550 5.1.1 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT TO:<demo@lab>"), "250 2.1.5 ", 10) == 0);
  /* Still no relay after AUTH: nobody may relay. */
  cmd(c, "RSET");
  cmd(c, "AUTH PLAIN AGFsaWNlAFNlY3IzdC1Qdw=="); /* \0alice\0Secr3t-Pw */
  CHECK(strncmp(last_out, "235 2.7.0 ", 10) == 0);
  cmd(c, "MAIL FROM:<alice@lab>");
  CHECK(strncmp(cmd(c, "RCPT TO:<someone@example.com>"), "550 5.7.1 ", 10) == 0);
  /* VRFY tells lab users apart (the enumeration lesson). */
  CHECK_EQ_STR(cmd(c, "VRFY alice"), "250 2.1.5 alice <alice@lab>\r\n");
  CHECK_EQ_STR(cmd(c, "VRFY <Bob@lab>"), "250 2.1.5 bob <bob@lab>\r\n");
  CHECK(strncmp(cmd(c, "VRFY nobody"), "550 5.1.1 ", 10) == 0);
  CHECK(strncmp(cmd(c, "VRFY x@example.com"), "551 5.7.1 ", 10) == 0);
  CHECK(strncmp(cmd(c, "VRFY"), "501 5.5.4 ", 10) == 0);
  lab_mem_free(c);
}

static void test_recipient_cap(void) {
  struct lab_conn *c = open_ehlo();
  char line[64];
  int i;

  cmd(c, "MAIL FROM:<a@b>");
  for (i = 0; i < LIM_SMTP_RECIPIENTS; i++) {
    snprintf(line, sizeof line, "RCPT TO:<r%02d@lab>", i);
    cmd(c, line);
    CHECK(strncmp(last_out, "250 2.1.5 ", 10) == 0);
  }
  snprintf(line, sizeof line, "RCPT TO:<r%02d@lab>", LIM_SMTP_RECIPIENTS);
  CHECK(strncmp(cmd(c, line), "452 4.5.3 ", 10) == 0);
  CHECK(strncmp(cmd(c, "RCPT TO:<alice@lab>"), "452 4.5.3 ", 10) == 0);
  cmd(c, "DATA");
  CHECK(strncmp(last_out, "354 ", 4) == 0);
  cmd(c, "cap test\r\n.");
  CHECK(strncmp(last_out, "250 2.0.0 ", 10) == 0);
  lab_mem_free(c);
}

static void test_size(void) {
  struct lab_conn *c = open_ehlo();
  char line[128], *big;
  int64_t a0 = mail_count(alice_id);
  size_t i;

  snprintf(line, sizeof line, "MAIL FROM:<a@b> SIZE=%d BODY=8BITMIME", LIM_SMTP_MESSAGE_BYTES);
  CHECK(strncmp(cmd(c, line), "250 2.1.0 ", 10) == 0);
  cmd(c, "RSET");
  snprintf(line, sizeof line, "MAIL FROM:<a@b> SIZE=%d", LIM_SMTP_MESSAGE_BYTES + 1);
  CHECK(strncmp(cmd(c, line), "552 5.3.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b> SIZE=99999999999999999999999"), "552 5.3.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b> SIZE=12x"), "501 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b> SIZE="), "501 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b> BODY=BINARYMIME"), "501 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b> FOO=1"), "555 5.5.4 ", 10) == 0);
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b> AUTH=<>"), "250 2.1.0 ", 10) == 0);
  cmd(c, "RCPT TO:<alice@lab>");
  cmd(c, "DATA");
  /* A message of exactly the limit (lines of 100 bytes incl. CRLF) fits. */
  big = malloc(LIM_SMTP_MESSAGE_BYTES + 200);
  for (i = 0; i < LIM_SMTP_MESSAGE_BYTES / 100; i++) {
    memset(big + i * 100, 'a' + (int)(i % 26), 98);
    memcpy(big + i * 100 + 98, "\r\n", 2);
  }
  i = LIM_SMTP_MESSAGE_BYTES / 100 * 100;
  memset(big + i, 'z', LIM_SMTP_MESSAGE_BYTES - i - 2);
  memcpy(big + LIM_SMTP_MESSAGE_BYTES - 2, "\r\n", 2);
  lab_mem_clear(c);
  lab_mem_feed(c, big, LIM_SMTP_MESSAGE_BYTES);
  feed(c, ".\r\n");
  CHECK(strncmp(take(c), "250 2.0.0 ", 10) == 0);
  CHECK_EQ_INT(mail_count(alice_id), a0 + 1);
  /* One byte more is refused, but only at the real end. */
  cmd(c, "MAIL FROM:<a@b>");
  cmd(c, "RCPT TO:<alice@lab>");
  cmd(c, "DATA");
  lab_mem_clear(c);
  lab_mem_feed(c, big, LIM_SMTP_MESSAGE_BYTES);
  feed(c, "x\r\n");
  CHECK_EQ_INT(take(c)[0], '\0');
  feed(c, "RSET\r\n.\r\n");
  CHECK_EQ_STR(take(c), "552 5.3.4 Message too big (limit 1048576 bytes)\r\n");
  CHECK_EQ_INT(mail_count(alice_id), a0 + 1);
  /* After HELO, parameters are not on. */
  cmd(c, "HELO old");
  CHECK(strncmp(cmd(c, "MAIL FROM:<a@b> SIZE=10"), "555 5.5.4 ", 10) == 0);
  free(big);
  lab_mem_free(c);
}

/* Each form must leave the session in DATA until the real CRLF.CRLF, then
 * refuse the whole message: never two messages, never a command read. */
static void test_smuggling(void) {
  static const char *const ends[] = {"\n.\n",   "\n.\r\n", "\r.\r\n", "\r\n.\n",
                                     "\r\n.\r", "\r.\r",   "\n.\r",   "\r\n\x00.\r\n"};
  size_t k;
  int64_t a0 = mail_count(alice_id), b0 = mail_count(bob_id);

  for (k = 0; k < sizeof ends / sizeof ends[0]; k++) {
    struct lab_conn *c = open_ehlo();
    const char *fake = ends[k];
    size_t flen = k == 7 ? 7 : strlen(fake); /* the last one holds a NUL */
    cmd(c, "MAIL FROM:<eve@example.com>");
    cmd(c, "RCPT TO:<alice@lab>");
    cmd(c, "DATA");
    lab_mem_clear(c);
    feed(c, "Subject: first\r\n\r\nhello");
    lab_mem_feed(c, fake, flen);
    feed(c,
         "MAIL FROM:<admin@lab>\r\nRCPT TO:<bob@lab>\r\nDATA\r\nSubject: smuggled\r\n\r\n"
         "evil\r\n");
    take(c);
    CHECK_EQ_INT(last_len, 0);
    feed(c, ".\r\n");
    take(c);
    if (k == 7)
      CHECK(strncmp(last_out, "554 5.6.0 ", 10) == 0);
    else
      CHECK_EQ_STR(
          last_out,
          "554 5.6.11 Message refused: bare LF or CR in the text (only CRLF ends a line)\r\n");
    /* Back in command state, in step. */
    CHECK(strncmp(cmd(c, "NOOP"), "250 ", 4) == 0);
    CHECK(!lab_mem_closed(c));
    lab_mem_free(c);
  }
  CHECK_EQ_INT(mail_count(alice_id), a0);
  CHECK_EQ_INT(mail_count(bob_id), b0);

  /* A "." line must follow a CRLF: "DATA\n" then ".\r\n" does not end. */
  struct lab_conn *c = open_ehlo();
  cmd(c, "MAIL FROM:<a@b>");
  cmd(c, "RCPT TO:<alice@lab>");
  lab_mem_clear(c);
  feed(c, "DATA\n.\r\n");
  CHECK(strncmp(take(c), "354 ", 4) == 0);
  CHECK(!has("250"));
  feed(c, ".\r\n");
  CHECK(strncmp(take(c), "250 2.0.0 ", 10) == 0);
  CHECK_EQ_INT(mail_count(alice_id), a0 + 1);
  lab_mem_free(c);
}

static void test_line_limits(void) {
  struct lab_conn *c = open_ehlo();
  char line[LIM_SMTP_TEXT_LINE + 8];

  /* A command of exactly 512 bytes with its CRLF is fine, 513 is not. */
  memset(line, 'x', sizeof line);
  memcpy(line, "NOOP ", 5);
  line[LIM_SMTP_COMMAND_LINE - 2] = '\0';
  CHECK(strncmp(cmd(c, line), "250 ", 4) == 0);
  memset(line, 'x', sizeof line);
  memcpy(line, "NOOP ", 5);
  line[LIM_SMTP_COMMAND_LINE - 1] = '\0';
  CHECK_EQ_STR(cmd(c, line),
               "500 5.5.2 Line too long (commands are at most 512 bytes), closing\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Longer than the framework cap, no LF ever: answered at once. */
  c = open_ehlo();
  memset(line, 'y', sizeof line);
  lab_mem_feed(c, line, LIM_SMTP_TEXT_LINE + 1);
  CHECK(strncmp(take(c), "500 5.5.2 ", 10) == 0);
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Text lines: 1000 bytes with the CRLF is fine, 1001 closes. */
  c = open_ehlo();
  cmd(c, "MAIL FROM:<a@b>");
  cmd(c, "RCPT TO:<alice@lab>");
  cmd(c, "DATA");
  memset(line, 't', sizeof line);
  line[LIM_SMTP_TEXT_LINE - 2] = '\0';
  CHECK_EQ_STR(cmd(c, line), "");
  memset(line, 't', sizeof line);
  line[LIM_SMTP_TEXT_LINE - 1] = '\0';
  CHECK_EQ_STR(cmd(c, line),
               "500 5.5.2 Line too long (text lines are at most 1000 bytes), closing\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* NUL in a command: 500, and the session goes on. */
  c = open_ehlo();
  lab_mem_feed(c, "NO\0OP\r\n", 7);
  CHECK_EQ_STR(take(c), "500 5.5.2 NUL byte in command\r\n");
  CHECK(strncmp(cmd(c, "NOOP"), "250 ", 4) == 0);
  /* A command ended by a bare LF is accepted (people use nc). */
  lab_mem_clear(c);
  feed(c, "NOOP\n");
  CHECK(strncmp(take(c), "250 ", 4) == 0);
  lab_mem_free(c);
}

static void test_auth(void) {
  struct lab_conn *c = open_ehlo();
  int64_t a0;
  size_t len;
  char *m;

  /* PLAIN with the answer after 334. */
  CHECK_EQ_STR(cmd(c, "AUTH PLAIN"), "334 \r\n");
  CHECK(strncmp(cmd(c, "AGFsaWNlAHdyb25n"), "535 5.7.8 ", 10) == 0); /* \0alice\0wrong */
  CHECK_EQ_STR(cmd(c, "AUTH FOO"),
               "504 5.5.4 Unrecognized authentication type (try PLAIN or LOGIN)\r\n");
  CHECK(strncmp(cmd(c, "AUTH"), "501 5.5.4 ", 10) == 0);
  /* Cancel and malformed answers. */
  cmd(c, "AUTH LOGIN");
  CHECK_EQ_STR(last_out, "334 VXNlcm5hbWU6\r\n");
  CHECK_EQ_STR(cmd(c, "*"), "501 5.0.0 Authentication cancelled\r\n");
  cmd(c, "AUTH PLAIN");
  CHECK(strncmp(cmd(c, "not base64!"), "501 5.5.2 ", 10) == 0);
  CHECK(strncmp(cmd(c, "AUTH PLAIN YWxpY2U="), "501 5.5.2 ", 10) == 0); /* no NULs */
  /* authzid must be the user itself. */
  CHECK(strncmp(cmd(c, "AUTH PLAIN Ym9iAGFsaWNlAFNlY3IzdC1Qdw=="), "535 5.7.8 ", 10) == 0);
  /* LOGIN, name then password after 334s. */
  cmd(c, "AUTH LOGIN");
  CHECK_EQ_STR(cmd(c, "YWxpY2U="), "334 UGFzc3dvcmQ6\r\n"); /* alice */
  CHECK_EQ_STR(cmd(c, "U2VjcjN0LVB3"), "235 2.7.0 Authentication successful, welcome alice\r\n");
  CHECK(strncmp(cmd(c, "AUTH LOGIN"), "503 5.5.1 ", 10) == 0);
  /* The Received line says who. */
  a0 = mail_count(bob_id);
  cmd(c, "MAIL FROM:<alice@lab>");
  cmd(c, "RCPT TO:<bob@lab>");
  cmd(c, "DATA");
  cmd(c, "Subject: from alice\r\n\r\nhi bob\r\n.");
  CHECK(strncmp(last_out, "250 2.0.0 ", 10) == 0);
  CHECK_EQ_INT(mail_count(bob_id), a0 + 1);
  m = newest_mail(bob_id, &len);
  CHECK(m && strstr(m, "\r\n\t(authenticated as alice)\r\n\tby lab (portlab) with ESMTPA id "));
  free(m);
  lab_mem_free(c);

  /* LOGIN with the name as initial response; three failures close. */
  c = open_ehlo();
  CHECK_EQ_STR(cmd(c, "AUTH LOGIN YWxpY2U="), "334 UGFzc3dvcmQ6\r\n");
  CHECK(strncmp(cmd(c, "d3Jvbmc="), "535 5.7.8 ", 10) == 0);
  CHECK(strncmp(cmd(c, "AUTH PLAIN AG5vYm9keQB4"), "535 5.7.8 ", 10) == 0);
  CHECK(!lab_mem_closed(c));
  cmd(c, "AUTH PLAIN AGFsaWNlAHdyb25n");
  CHECK_EQ_STR(last_out,
               "535 5.7.8 Authentication credentials invalid\r\n"
               "421 4.7.0 lab Too many failed logins, closing connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* A demo login, and an over-long user name in LOGIN fails like any other. */
  c = open_ehlo();
  CHECK(strncmp(cmd(c, "AUTH PLAIN AGRlbW8AZGVtbw=="), "235 2.7.0 ", 10) == 0);
  lab_mem_free(c);
  c = open_ehlo();
  cmd(c, "AUTH LOGIN");
  CHECK_EQ_STR(cmd(c, "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4"), "334 UGFzc3dvcmQ6\r\n");
  CHECK(strncmp(cmd(c, "U2VjcjN0LVB3"), "535 5.7.8 ", 10) == 0);
  /* An AUTH answer longer than the line cap: 500 5.5.6 and closed. */
  cmd(c, "AUTH PLAIN");
  {
    char big[LIM_SMTP_TEXT_LINE + 4];
    memset(big, 'Q', sizeof big);
    lab_mem_clear(c);
    lab_mem_feed(c, big, sizeof big);
    CHECK(strncmp(take(c), "500 5.5.6 ", 10) == 0);
    CHECK(lab_mem_closed(c));
  }
  lab_mem_free(c);
}

static void test_error_limit_and_timeout(void) {
  struct lab_conn *c = open_conn();
  int i;

  for (i = 0; i < LIM_SMTP_ERRORS - 1; i++) {
    cmd(c, "BOGUS");
    CHECK(strncmp(last_out, "500 5.5.1 ", 10) == 0);
  }
  CHECK(!lab_mem_closed(c));
  cmd(c, "BOGUS");
  CHECK(has("\r\n421 4.7.0 "));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  c = open_ehlo();
  cmd(c, "MAIL FROM:<a@b>");
  lab_mem_timeout(c);
  CHECK_EQ_STR(take(c), "421 4.4.2 lab Idle for too long, closing connection\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* A delivery clears the error count, as in Postfix. */
  c = open_ehlo();
  for (i = 0; i < LIM_SMTP_ERRORS - 2; i++) cmd(c, "BOGUS");
  cmd(c, "MAIL FROM:<a@b>");
  cmd(c, "RCPT TO:<alice@lab>");
  cmd(c, "DATA");
  cmd(c, "x\r\n.");
  for (i = 0; i < 5; i++) cmd(c, "BOGUS");
  CHECK(!lab_mem_closed(c));
  lab_mem_free(c);
}

static const char PIPELINE[] =
    "EHLO pipe.example\r\n"
    "MAIL FROM:<p@example.com>\r\n"
    "RCPT TO:<alice@lab>\r\n"
    "RCPT TO:<nobody@lab>\r\n"
    "RCPT TO:<x@example.org>\r\n"
    "RCPT TO:<bob@lab>\r\n"
    "DATA\r\n"
    "Subject: piped\r\n"
    "\r\n"
    "..one\r\n"
    ".\r\n"
    "VRFY bob\r\n"
    "RSET\r\n"
    "QUIT\r\n";

static void test_pipelining_and_splits(void) {
  struct lab_conn *c = open_conn();
  char want[512];
  size_t i, n = strlen(PIPELINE);

  lab_mem_feed(c, PIPELINE, n);
  take(c);
  CHECK_EQ_STR(codes(), "250 250 250 550 550 250 354 250 250 250 221 ");
  CHECK(lab_mem_closed(c));
  snprintf(want, sizeof want, "%s", codes());
  lab_mem_free(c);
  /* Fed in two pieces at every split point, and byte by byte. */
  for (i = 1; i < n; i++) {
    c = open_conn();
    lab_mem_feed(c, PIPELINE, i);
    lab_mem_feed(c, PIPELINE + i, n - i);
    take(c);
    CHECK_EQ_STR(codes(), want);
    lab_mem_free(c);
  }
  c = open_conn();
  for (i = 0; i < n; i++) lab_mem_feed(c, PIPELINE + i, 1);
  take(c);
  CHECK_EQ_STR(codes(), want);
  lab_mem_free(c);
}

static void test_mailbox_full(void) {
  int64_t id;
  int i;
  struct lab_conn *c;

  CHECK_EQ_INT(db_user_create(ctx.db, "full", "student", PW, NULL, &id), 0);
  for (i = 0; i < LIM_MAILBOX_MESSAGES; i++)
    db_mail_append(ctx.db, id, "INBOX", "x\r\n", 3, 0, 0, NULL);
  c = open_ehlo();
  cmd(c, "MAIL FROM:<a@b>");
  CHECK(strncmp(cmd(c, "RCPT TO:<full@lab>"), "452 4.2.2 ", 10) == 0);
  lab_mem_free(c);
}

static int64_t mail_usage(int64_t uid) {
  int64_t n = -1;
  if (db_mail_usage(ctx.db, uid, &n) != 0) return -1;
  return n;
}

/* Sends MAIL, the given RCPT lines and a small fixed message; returns the
 * reply to the end of DATA ("" if a RCPT was refused). */
static const char *send_small(struct lab_conn *c, const char *rcpt1, const char *rcpt2) {
  cmd(c, "MAIL FROM:<a@b>");
  if (!starts(cmd(c, rcpt1), "250 ")) return last_out;
  if (rcpt2 && !starts(cmd(c, rcpt2), "250 ")) return last_out;
  cmd(c, "DATA");
  return cmd(c, "Subject: quota\r\n\r\nsmall body\r\n.");
}

/* LIM_MAIL_QUOTA_BYTES per account, counted as stored (trace headers
 * included): exactly at the quota is fine, one byte over is not. */
static void test_mail_quota(void) {
  int64_t qa, qb, qc, a0, size;
  unsigned char *fill = calloc(1, LIM_MAIL_QUOTA_BYTES);
  struct lab_conn *c = open_ehlo();

  CHECK(fill != NULL);
  if (!fill) return;
  /* Three recipients with names of one length, so their copies of the
   * same message (Received: ... for <qX@lab>) are the same size. */
  CHECK_EQ_INT(db_user_create(ctx.db, "qa", "student", PW, NULL, &qa), 0);
  CHECK_EQ_INT(db_user_create(ctx.db, "qb", "student", PW, NULL, &qb), 0);
  CHECK_EQ_INT(db_user_create(ctx.db, "qc", "student", PW, NULL, &qc), 0);
  CHECK(starts(send_small(c, "RCPT TO:<qa@lab>", NULL), "250 2.0.0 "));
  size = mail_usage(qa);
  CHECK(size > 100 && size < 1000);

  /* qb: exactly the message's size left, in another mailbox (all count). */
  CHECK_EQ_INT(db_mailbox_create(ctx.db, qb, "Archive"), 0);
  CHECK_EQ_INT(db_mail_append(ctx.db, qb, "Archive", fill, (size_t)(LIM_MAIL_QUOTA_BYTES - size), 0,
                              0, NULL),
               0);
  CHECK(starts(send_small(c, "RCPT TO:<qb@lab>", NULL), "250 2.0.0 "));
  CHECK_EQ_INT(mail_usage(qb), LIM_MAIL_QUOTA_BYTES);
  /* At the quota: refused at RCPT, temporarily (452 4.2.2, RFC 3463). */
  cmd(c, "MAIL FROM:<a@b>");
  CHECK(starts(cmd(c, "RCPT TO:<qb@lab>"), "452 4.2.2 "));
  CHECK(has("Mailbox full"));
  cmd(c, "RSET");

  /* With two recipients the Received line names neither: measure again. */
  a0 = mail_usage(qa);
  CHECK(starts(send_small(c, "RCPT TO:<alice@lab>", "RCPT TO:<qa@lab>"), "250 2.0.0 "));
  size = mail_usage(qa) - a0;
  /* qc: one byte less room than the message needs. RCPT is accepted
   * (the size is not known yet); the end of DATA refuses the message,
   * for every recipient, alice included. */
  CHECK_EQ_INT(db_mail_append(ctx.db, qc, "INBOX", fill, (size_t)(LIM_MAIL_QUOTA_BYTES - size + 1),
                              0, 0, NULL),
               0);
  a0 = mail_count(alice_id);
  CHECK(starts(send_small(c, "RCPT TO:<alice@lab>", "RCPT TO:<qc@lab>"), "552 5.2.2 <qc@lab>: "));
  CHECK_EQ_INT(mail_count(alice_id), a0);
  CHECK_EQ_INT(mail_usage(qc), LIM_MAIL_QUOTA_BYTES - size + 1);
  /* The session goes on, and a message for alice alone is delivered. */
  CHECK(starts(send_small(c, "RCPT TO:<alice@lab>", NULL), "250 2.0.0 "));
  CHECK_EQ_INT(mail_count(alice_id), a0 + 1);
  free(fill);
  lab_mem_free(c);
}

/* One message from the connection, with this subject, to the RCPT lines given. */
static void send_to(struct lab_conn *c, const char *rcpt, const char *subject) {
  char line[160];
  cmd(c, "MAIL FROM:<sender@example.com>");
  CHECK(starts(cmd(c, rcpt), "250 2.1.5 "));
  cmd(c, "DATA");
  lab_mem_clear(c);
  snprintf(line, sizeof line, "Subject: %s\r\n\r\nfor the postmaster\r\n.\r\n", subject);
  feed(c, line);
  CHECK(starts(take(c), "250 2.0.0 Message accepted for delivery"));
}

/* The newest message of user holds needle. */
static int newest_has(int64_t user_id, const char *needle) {
  size_t len;
  char *m = newest_mail(user_id, &len);
  int found = m && strstr(m, needle) != NULL;
  free(m);
  return found;
}

static int postmaster_event(void *arg, const char *attrs) {
  if (strstr(attrs, "\"to\":\"postmaster@lab\"")) (*(int *)arg)++;
  return 0;
}

/* RFC 5321 section 4.5.1: postmaster, in any case, @lab or bare, is
 * accepted, and is the student behind the connection (the relay session's
 * student, else the AUTH login): never another student's mailbox, never
 * the shared demo account; with nobody known it is refused, saying why. */
static void test_postmaster(void) {
  static const char nobody[] =
      "530 5.7.0 <postmaster@lab>: every student is the postmaster of their own lab; "
      "authenticate (AUTH) so the server knows whose\r\n";
  struct lab_conn *c;
  int64_t a0 = mail_count(alice_id), b0 = mail_count(bob_id);
  int events = 0;

  /* A direct client that has not logged in: nobody is known. */
  c = open_ehlo();
  CHECK_EQ_STR(cmd(c, "VRFY postmaster"), nobody);
  cmd(c, "MAIL FROM:<x@example.com>");
  CHECK_EQ_STR(cmd(c, "RCPT TO:<postmaster@lab>"), nobody);
  CHECK_EQ_STR(cmd(c, "RCPT TO:<Postmaster>"), nobody);
  CHECK_EQ_STR(cmd(c, "RCPT TO:<postmaster@example.com>"),
               "550 5.7.1 <postmaster@example.com>: Relay access denied; only @lab addresses are "
               "delivered here\r\n");
  /* Logged in as demo, which everyone can read: refused too. */
  cmd(c, "RSET");
  CHECK(starts(cmd(c, "AUTH PLAIN AGRlbW8AZGVtbw=="), "235 2.7.0 ")); /* \0demo\0demo */
  cmd(c, "MAIL FROM:<x@example.com>");
  CHECK_EQ_STR(cmd(c, "RCPT TO:<postmaster>"),
               "550 5.7.1 <postmaster@lab>: the shared demo account has no postmaster (everyone "
               "can read its mail); log in with your own lab account\r\n");
  CHECK(starts(cmd(c, "VRFY postmaster"), "550 5.7.1 <postmaster@lab>: the shared demo "));
  lab_mem_free(c);
  CHECK_EQ_INT(mail_count(alice_id), a0);
  CHECK_EQ_INT(mail_count(bob_id), b0);

  /* Relayed for alice: her own mailbox, whatever the case; one delivery. */
  CHECK_EQ_INT(labident_add(51025, alice_id, "198.51.100.7"), 0);
  CHECK_EQ_INT(labident_add(51026, bob_id, "198.51.100.8"), 0);
  c = lab_mem_open(&lab_smtp, &ctx, "127.0.0.1");
  lab_mem_set_peer_port(c, 51025);
  take(c);
  cmd(c, "EHLO alice.example");
  CHECK_EQ_STR(cmd(c, "VRFY postmaster"),
               "250 2.1.5 postmaster <postmaster@lab> (that is you, alice)\r\n");
  CHECK_EQ_STR(cmd(c, "VRFY <POSTMASTER@LAB>"),
               "250 2.1.5 postmaster <postmaster@lab> (that is you, alice)\r\n");
  cmd(c, "MAIL FROM:<alice@lab>");
  CHECK_EQ_STR(cmd(c, "RCPT TO:<Postmaster>"),
               "250 2.1.5 Recipient <postmaster@lab> OK (that is you, alice)\r\n");
  CHECK_EQ_STR(cmd(c, "RCPT TO:<postmaster@Lab>"),
               "250 2.1.5 Recipient <postmaster@lab> OK (that is you, alice)\r\n");
  cmd(c, "RSET");
  send_to(c, "RCPT TO:<postmaster@lab>", "alice to her postmaster");
  CHECK_EQ_INT(mail_count(alice_id), a0 + 1);
  CHECK_EQ_INT(mail_count(bob_id), b0);
  CHECK(newest_has(alice_id, "for <postmaster@lab>;"));
  CHECK(newest_has(alice_id, "Subject: alice to her postmaster"));
  CHECK(db_lab_event_find(ctx.db, alice_id, "smtp.delivered", postmaster_event, &events) >= 0);
  CHECK_EQ_INT(events, 1);
  /* The relay names the student, whoever AUTH logs in as. */
  cmd(c, "AUTH PLAIN AGJvYgBib2ItcHc="); /* \0bob\0bob-pw */
  CHECK(starts(last_out, "235 2.7.0 "));
  send_to(c, "RCPT TO:<postmaster>", "relayed alice, logged in as bob");
  CHECK_EQ_INT(mail_count(alice_id), a0 + 2);
  CHECK_EQ_INT(mail_count(bob_id), b0);
  lab_mem_free(c);

  /* Bob's postmaster is bob: alice's mailbox never shows it. */
  c = lab_mem_open(&lab_smtp, &ctx, "127.0.0.1");
  lab_mem_set_peer_port(c, 51026);
  take(c);
  cmd(c, "EHLO bob.example");
  send_to(c, "RCPT TO:<postmaster@lab>", "bob to his postmaster");
  lab_mem_free(c);
  /* A direct client known by its AUTH login. */
  c = open_ehlo();
  cmd(c, "AUTH PLAIN AGJvYgBib2ItcHc=");
  CHECK_EQ_STR(cmd(c, "VRFY Postmaster"),
               "250 2.1.5 postmaster <postmaster@lab> (that is you, bob)\r\n");
  send_to(c, "RCPT TO:<POSTMASTER@lab>", "bob by AUTH");
  lab_mem_free(c);
  CHECK_EQ_INT(mail_count(bob_id), b0 + 2);
  CHECK_EQ_INT(mail_count(alice_id), a0 + 2);
  CHECK(newest_has(bob_id, "Subject: bob by AUTH"));
  CHECK(newest_has(alice_id, "Subject: relayed alice, logged in as bob"));
  labident_remove(51025);
  labident_remove(51026);
}

int main(void) {
  int i;

  alice_id = lab_fixture(&ctx, SECRET, PW);
  CHECK_EQ_INT(db_user_create(ctx.db, "bob", "student", "bob-pw", NULL, &bob_id), 0);
  for (i = 0; i <= LIM_SMTP_RECIPIENTS; i++) {
    char name[16];
    int64_t id;
    snprintf(name, sizeof name, "r%02d", i);
    CHECK_EQ_INT(db_user_create(ctx.db, name, "student", PW, NULL, &id), 0);
  }

  test_greeting_and_ehlo();
  test_delivery();
  test_sequence();
  test_relay_and_users();
  test_recipient_cap();
  test_size();
  test_smuggling();
  test_line_limits();
  test_auth();
  test_error_limit_and_timeout();
  test_pipelining_and_splits();
  test_mailbox_full();
  test_mail_quota();
  test_postmaster();

  db_close(ctx.db);
  return check_done();
}
