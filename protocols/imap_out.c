/* imap_out.c -- what the lab IMAP server writes: the response builder.
 *
 * A response is built whole in a capped buf (LIM_IMAP_RESPONSE_BYTES)
 * before it is queued, so a failure drops it as a whole rather than
 * sending half. Here too: IMAP strings as quoted strings or literals (RFC
 * 3501 section 4.3), mailbox names, flag lists and date-times.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "imap_int.h"
#include "lab.h"
#include "labdb.h"
#include "mailmsg.h"
#include "portlab_limits.h"
#include "text.h"

void imap_sb_add(struct imap_sb *b, const void *p, size_t n) {
  if (b->oom) return;
  /* One byte over the cap is room for imap_sb_str's NUL. */
  if (b->b.limit == 0) buf_init(&b->b, LIM_IMAP_RESPONSE_BYTES + 1);
  if (n > LIM_IMAP_RESPONSE_BYTES - buf_len(&b->b))
    b->oom = b->full = 1;
  else if (buf_append(&b->b, p, n) != 0)
    b->oom = 1;
}

void imap_sb_adds(struct imap_sb *b, const char *s) {
  imap_sb_add(b, s, strlen(s));
}

void imap_sb_addf(struct imap_sb *b, const char *fmt, ...) {
  char tmp[256], *text;
  va_list ap;
  size_t n;

  /* A section spec or a COPYUID set can be longer than tmp: cutting it
   * would drop the "]" or the CRLF and break the response. */
  va_start(ap, fmt);
  text = text_vformat(tmp, sizeof tmp, &n, fmt, ap);
  va_end(ap);
  if (!text) {
    b->oom = 1;
    return;
  }
  imap_sb_add(b, text, n);
  if (text != tmp) free(text);
}

void imap_sb_free(struct imap_sb *b) {
  buf_free(&b->b);
  memset(b, 0, sizeof *b);
}

size_t imap_sb_len(const struct imap_sb *b) {
  return buf_len(&b->b);
}

const char *imap_sb_str(struct imap_sb *b) {
  if (b->oom) return NULL;
  if (buf_len(&b->b) == 0) return "";
  /* The NUL goes past the text and is forgotten again: it stays in memory
   * until the next append. */
  if (buf_append(&b->b, "", 1) != 0) {
    b->oom = 1;
    return NULL;
  }
  buf_drop_tail(&b->b, 1);
  return (const char *)buf_head(&b->b);
}

void imap_sb_clear(struct imap_sb *b) {
  buf_consume(&b->b, buf_len(&b->b));
}

/* A string as IMAP carries it: quoted when every byte is printable ASCII
 * (with \" and \\ escaped), otherwise a literal, which is the only form
 * that can hold CR, LF and 8-bit bytes (RFC 3501 section 4.3). NULL is NIL. */
void imap_sb_nstring(struct imap_sb *b, const char *p, size_t n) {
  size_t i;

  if (!p) {
    imap_sb_adds(b, "NIL");
    return;
  }
  for (i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) break;
  if (i < n) {
    imap_sb_addf(b, "{%zu}\r\n", n);
    imap_sb_add(b, p, n);
    return;
  }
  imap_sb_add(b, "\"", 1);
  for (i = 0; i < n; i++) {
    if (p[i] == '"' || p[i] == '\\') imap_sb_add(b, "\\", 1);
    imap_sb_add(b, p + i, 1);
  }
  imap_sb_add(b, "\"", 1);
}

void imap_sb_cstring(struct imap_sb *b, const char *s) {
  imap_sb_nstring(b, s, s ? strlen(s) : 0);
}

/* A mailbox name: a bare atom when it can be one, else a string. */
void imap_sb_mailbox(struct imap_sb *b, const char *name) {
  size_t i, n = strlen(name);

  for (i = 0; i < n; i++)
    if (!imap_atom_char((unsigned char)name[i])) break;
  if (n > 0 && i == n)
    imap_sb_add(b, name, n);
  else
    imap_sb_nstring(b, name, n);
}

void imap_send_sb(struct lab_conn *c, struct imap_sb *b) {
  if (!b->oom && buf_len(&b->b)) lab_send(c, buf_head(&b->b), buf_len(&b->b));
}

void imap_flags_str(struct imap_sb *b, unsigned flags, int recent) {
  static const struct {
    unsigned bit;
    const char *name;
  } names[] = {{DB_MAIL_SEEN, "\\Seen"},
               {DB_MAIL_ANSWERED, "\\Answered"},
               {DB_MAIL_FLAGGED, "\\Flagged"},
               {DB_MAIL_DELETED, "\\Deleted"},
               {DB_MAIL_DRAFT, "\\Draft"}};
  size_t i;
  int first = 1;

  imap_sb_add(b, "(", 1);
  for (i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!(flags & names[i].bit)) continue;
    if (!first) imap_sb_add(b, " ", 1);
    imap_sb_adds(b, names[i].name);
    first = 0;
  }
  if (recent) imap_sb_adds(b, first ? "\\Recent" : " \\Recent");
  imap_sb_add(b, ")", 1);
}

/* RFC 3501 date-time with a fixed-width day (" 7-Feb-1994 21:52:25 +0000"), in UTC. */
void imap_date_time(struct imap_sb *b, int64_t when) {
  time_t t = (time_t)when;
  struct tm tm;

  if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
  imap_sb_addf(b, "\"%2d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday,
               mailmsg_months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}
