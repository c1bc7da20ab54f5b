/* test_mailmsg.c -- unit tests for the mail-message reader (protocols/mailmsg.c).
 *
 * The reader has no protocol in it, so it is tested on its own: where the
 * header ends (CRLF, bare LF, none), folded and obsolete "Name :" fields,
 * address lists with groups, comments, quoted names with escapes and an
 * obsolete source route, the MIME type and its defaults, and Date: days
 * with obsolete years. test_imap compares what IMAP builds from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mailmsg.h"

static void test_header_len(void) {
  static const char crlf[] = "A: 1\r\nB: 2\r\n\r\nbody";
  static const char lf[] = "A: 1\nB: 2\n\nbody";
  static const char none[] = "A: 1\r\nno empty line";

  CHECK_EQ_INT(mailmsg_header_len(crlf, strlen(crlf)), strlen(crlf) - 4);
  CHECK_EQ_INT(mailmsg_header_len(lf, strlen(lf)), strlen(lf) - 4);
  CHECK_EQ_INT(mailmsg_header_len(none, strlen(none)), strlen(none));
  CHECK_EQ_INT(mailmsg_header_len("\r\nbody", 6), 2);
  CHECK_EQ_INT(mailmsg_header_len("\nbody", 5), 1);
  CHECK_EQ_INT(mailmsg_header_len("", 0), 0);
}

static void test_fields(void) {
  static const char h[] =
      "Subject: one\r\n two\r\n\tthree  \r\nSubject : second\r\nno colon here\r\n\r\n";
  struct mailmsg_fields it = {h, h + sizeof h - 1};
  const char *name, *field;
  size_t nl, fl, count = 0;
  char *v;

  while (mailmsg_field_next(&it, &name, &nl, &field, &fl)) {
    count++;
    if (count == 1) {
      CHECK(nl == 7 && memcmp(name, "Subject", 7) == 0);
      CHECK_EQ_INT(fl, strlen("Subject: one\r\n two\r\n\tthree  \r\n"));
      v = mailmsg_unfold(field, fl, nl);
      CHECK_EQ_STR(v, "one two\tthree");
      free(v);
    }
    if (count == 2) CHECK(nl == 7 && memcmp(name, "Subject", 7) == 0); /* "Subject :" */
    if (count >= 3) CHECK_EQ_INT(nl, 0); /* no colon; the empty line */
  }
  CHECK_EQ_INT(count, 4);
  v = mailmsg_get(h, sizeof h - 1, "SUBJECT");
  CHECK_EQ_STR(v, "one two\tthree");
  free(v);
  CHECK(mailmsg_get(h, sizeof h - 1, "From") == NULL);
}

/* Writes what the walker reports: "[group" ... "]" and name|spec pieces. */
struct trace {
  char out[512];
  size_t n;
};

static void trace_cb(void *arg, const struct mailmsg_addr *a) {
  struct trace *t = arg;
  struct mailmsg_spec spec;
  char *name = NULL;
  size_t nl = 0;

  if (a->kind == MAILMSG_GROUP_END) {
    t->n += (size_t)snprintf(t->out + t->n, sizeof t->out - t->n, "] ");
    return;
  }
  if (a->name && mailmsg_display_name(a->name, a->name_end, &name, &nl) != 0) return;
  if (a->kind == MAILMSG_GROUP_START) {
    t->n +=
        (size_t)snprintf(t->out + t->n, sizeof t->out - t->n, "[%.*s: ", (int)nl, name ? name : "");
    free(name);
    return;
  }
  if (mailmsg_addr_spec(a->spec, a->spec_end, &spec) != 0) {
    free(name);
    return;
  }
  t->n += (size_t)snprintf(t->out + t->n, sizeof t->out - t->n, "<%.*s|%.*s|%.*s|%s> ",
                           name ? (int)nl : 1, name ? name : "-", spec.adl ? (int)spec.adl_len : 1,
                           spec.adl ? spec.adl : "-", (int)spec.local_len, spec.local,
                           spec.domain ? spec.domain : "-");
  free(name);
  free(spec.buf);
}

static const char *walk(const char *list) {
  static struct trace t;
  memset(&t, 0, sizeof t);
  mailmsg_addr_list(list, trace_cb, &t);
  return t.out;
}

static void test_addresses(void) {
  CHECK_EQ_STR(walk(NULL), "");
  CHECK_EQ_STR(walk(" , ,"), "");
  CHECK_EQ_STR(walk("Fred Foobar <foobar@Blurdybloop.example>"),
               "<Fred Foobar|-|foobar|Blurdybloop.example> ");
  CHECK_EQ_STR(walk("\"Doe, Jane\" <jane@lab>, x@y (comment)"),
               "<Doe, Jane|-|jane|lab> <-|-|x|y> ");
  CHECK_EQ_STR(walk("\"B \\\"Bee\\\"\" <b@lab>"), "<B \"Bee\"|-|b|lab> ");
  CHECK_EQ_STR(walk("<@a.example,@b.example:joe@c.example>"),
               "<-|@a.example,@b.example|joe|c.example> ");
  CHECK_EQ_STR(walk("Team: a@lab, <b@lab>;, undisclosed:;"),
               "[Team: <-|-|a|lab> <-|-|b|lab> ] [undisclosed: ] ");
  CHECK_EQ_STR(walk("open: a@b"), "[open: <-|-|a|b> ] "); /* a group left open is closed */
  CHECK_EQ_STR(walk("plain"), "<-|-|plain|-> ");
  CHECK_EQ_STR(walk("\"\" <e@x>"), "<|-|e|x> "); /* an empty quoted name is a name */
}

/* The type as "TYPE/SUB charset ENC", as the reader gives it. */
static const char *mime_of(const char *hdr) {
  static char out[256];
  struct mailmsg_mime m;

  mailmsg_mime(hdr, strlen(hdr), &m);
  snprintf(out, sizeof out, "%s/%s %s %s", m.type, m.sub, m.charset, m.enc);
  return out;
}

static void test_mime(void) {
  CHECK_EQ_STR(mime_of("Subject: x\r\n\r\n"), "TEXT/PLAIN us-ascii 7BIT");
  CHECK_EQ_STR(mime_of("Content-Type: TEXT/html; format=flowed; CHARSET=\"UTF-8\"\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n"),
               "TEXT/HTML UTF-8 QUOTED-PRINTABLE");
  /* No subtype: kept as PLAIN; an empty encoding is 7BIT; no charset is "". */
  CHECK_EQ_STR(mime_of("Content-Type: image\r\nContent-Transfer-Encoding: \r\n\r\n"),
               "IMAGE/PLAIN  7BIT");
  CHECK_EQ_STR(mime_of("Content-Type: ; charset=x\r\n\r\n"), "TEXT/PLAIN x 7BIT");
  CHECK_EQ_STR(mime_of("Content-Type: multipart/mixed; boundary=b\r\n\r\n"),
               "MULTIPART/MIXED  7BIT");
}

static void test_dates(void) {
  int64_t day = 0;

  CHECK_EQ_INT(mailmsg_days(1970, 1, 1), 0);
  CHECK_EQ_INT(mailmsg_days(2000, 3, 1), 11017);
  CHECK_EQ_INT(mailmsg_days(1969, 12, 31), -1);
  CHECK_EQ_INT(mailmsg_month("dec"), 12);
  CHECK_EQ_INT(mailmsg_month("Foo"), 0);
  CHECK_EQ_INT(mailmsg_date_day("Tue, 1 Jul 2003 10:52:37 +0200", &day), 0);
  CHECK_EQ_INT(day, mailmsg_days(2003, 7, 1));
  CHECK_EQ_INT(mailmsg_date_day("1 Jul 03 10:52:37 +0200", &day), 0); /* RFC 5322 section 4.3 */
  CHECK_EQ_INT(day, mailmsg_days(2003, 7, 1));
  CHECK_EQ_INT(mailmsg_date_day("Fri, 3 Mar 99", &day), 0);
  CHECK_EQ_INT(day, mailmsg_days(1999, 3, 3));
  CHECK_EQ_INT(mailmsg_date_day("3 Mar 150", &day), 0);
  CHECK_EQ_INT(day, mailmsg_days(2050, 3, 3));
  CHECK_EQ_INT(mailmsg_date_day("yesterday", &day), -1);
  CHECK_EQ_INT(mailmsg_date_day("32 Jan 2000", &day), -1);
}

static void test_date_format(void) {
  char out[40];

  mailmsg_date_format(0, out, sizeof out);
  CHECK_EQ_STR(out, "Thu, 01 Jan 1970 00:00:00 +0000");
  mailmsg_date_format(1057049557, out, sizeof out);
  CHECK_EQ_STR(out, "Tue, 01 Jul 2003 08:52:37 +0000");
}

int main(void) {
  test_header_len();
  test_fields();
  test_addresses();
  test_mime();
  test_dates();
  test_date_format();
  return check_done();
}
