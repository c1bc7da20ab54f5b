/* imap_parse.c -- the lab IMAP server's argument parser (RFC 3501 section 9).
 *
 * A command arrives whole (imap.c assembles its lines and literals); this
 * file reads its arguments with a cursor (struct imap_p): atoms, quoted
 * strings (unescaped in place), literals, astrings, mailbox names,
 * sequence sets with "*", flag lists and date-times. Every function
 * distrusts its input and says why it stopped in the cursor's err.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_int.h"
#include "lab.h"
#include "labdb.h"
#include "mailmsg.h"
#include "portlab_limits.h"

int imap_atom_char(unsigned char ch) {
  return ch > 0x20 && ch < 0x7f && !strchr("(){%*\"\\]", ch);
}

/* --- parsing the command ------------------------------------------------------ */

/* The generic reason a token is missing; any caller's own reason wins over it. */
static const char p_weak_err[] = "Missing or invalid argument";

int imap_p_fail(struct imap_p *q, const char *why) {
  if (!q->err || q->err == p_weak_err) q->err = why;
  return -1;
}

int imap_p_more(const struct imap_p *q) {
  return q->p < q->end;
}

int imap_p_peek(const struct imap_p *q, char ch) {
  return q->p < q->end && *q->p == ch;
}

int imap_p_char(struct imap_p *q, char ch, const char *why) {
  if (!imap_p_peek(q, ch)) return imap_p_fail(q, why);
  q->p++;
  return 0;
}

int imap_p_sp(struct imap_p *q) {
  return imap_p_char(q, ' ', "Missing arguments");
}

int imap_p_end(struct imap_p *q) {
  return imap_p_more(q) ? imap_p_fail(q, "Unexpected extra arguments") : 0;
}

/* A run of bytes allowed by ok(); at least one. */
int imap_p_span(struct imap_p *q, int (*ok)(unsigned char), char **s, size_t *n) {
  char *start = q->p;

  while (q->p < q->end && ok((unsigned char)*q->p)) q->p++;
  if (q->p == start) return imap_p_fail(q, p_weak_err);
  *s = start;
  *n = (size_t)(q->p - start);
  return 0;
}

int imap_p_atom(struct imap_p *q, char **s, size_t *n) {
  return imap_p_span(q, imap_atom_char, s, n);
}

int imap_astring_char(unsigned char ch) {
  return imap_atom_char(ch) || ch == ']';
}

static int imap_list_char(unsigned char ch) {
  return imap_astring_char(ch) || ch == '%' || ch == '*';
}

int imap_name_char(unsigned char ch) {
  return isalnum(ch) || ch == '.';
}

static int imap_seq_char(unsigned char ch) {
  return isdigit(ch) || ch == ':' || ch == '*' || ch == ',';
}

/* A number of up to 32 bits; *v is -1 past IMAP_NUMBER_MAX. */
int imap_p_digits(struct imap_p *q, int64_t *v) {
  int64_t x = 0;
  char *start = q->p;

  while (q->p < q->end && isdigit((unsigned char)*q->p)) {
    if (x <= IMAP_NUMBER_MAX) x = x * 10 + (*q->p - '0');
    q->p++;
  }
  if (q->p == start) return imap_p_fail(q, "Number expected");
  if (x > IMAP_NUMBER_MAX) return imap_p_fail(q, "Number out of range");
  *v = x;
  return 0;
}

/* A quoted string or a literal. *lit tells which (APPEND wants a literal). */
int imap_p_string_lit(struct imap_p *q, char **s, size_t *n, int *lit) {
  if (imap_p_peek(q, '"')) {
    char *r = q->p + 1, *w = r, *start = r;
    for (;;) {
      char ch;
      if (r >= q->end) return imap_p_fail(q, "Unterminated quoted string");
      ch = *r;
      if (ch == '"') break;
      if (ch == '\r' || ch == '\n' || ch == '\0')
        return imap_p_fail(q, "Quoted strings cannot hold CR, LF or NUL; use a literal");
      if (ch == '\\') {
        r++;
        if (r >= q->end || (*r != '"' && *r != '\\'))
          return imap_p_fail(q, "Only \\\" and \\\\ may be escaped in a quoted string");
        ch = *r;
      }
      *w++ = ch;
      r++;
    }
    *s = start;
    *n = (size_t)(w - start);
    q->p = r + 1;
    if (lit) *lit = 0;
    return 0;
  }
  if (imap_p_peek(q, '{')) {
    int64_t len;
    q->p++;
    if (imap_p_digits(q, &len) != 0) return -1;
    if (imap_p_peek(q, '+')) q->p++;
    if (imap_p_char(q, '}', "Invalid literal") != 0) return -1;
    /* The assembler put CRLF and the literal's bytes right after "}";
     * anything else is a "{n}" in the middle of a line. */
    if (q->end - q->p < 2 || q->p[0] != '\r' || q->p[1] != '\n')
      return imap_p_fail(q, "A literal must end its line");
    q->p += 2;
    if ((int64_t)(q->end - q->p) < len) return imap_p_fail(q, "Literal shorter than announced");
    *s = q->p;
    *n = (size_t)len;
    q->p += len;
    if (lit) *lit = 1;
    return 0;
  }
  return imap_p_fail(q, "String expected");
}

int imap_p_string(struct imap_p *q, char **s, size_t *n) {
  return imap_p_string_lit(q, s, n, NULL);
}

int imap_p_astring(struct imap_p *q, char **s, size_t *n) {
  if (imap_p_peek(q, '"') || imap_p_peek(q, '{')) return imap_p_string(q, s, n);
  return imap_p_span(q, imap_astring_char, s, n);
}

/* A list-mailbox (LIST's pattern): an astring that may hold % and *. */
int imap_p_list_mailbox(struct imap_p *q, char **s, size_t *n) {
  if (imap_p_peek(q, '"') || imap_p_peek(q, '{')) return imap_p_string(q, s, n);
  return imap_p_span(q, imap_list_char, s, n);
}

/* Copies a string argument into a C string: -1 if it is too long for out
 * or holds a NUL, which no C string can carry. */
int imap_cstr(char *out, size_t cap, const char *p, size_t n) {
  if (n >= cap || memchr(p, '\0', n)) return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

/* The upper-cased copy of a short keyword; "" if it does not fit. */
void imap_upper(char *out, size_t cap, const char *p, size_t n) {
  size_t i;

  if (n >= cap) n = 0;
  for (i = 0; i < n; i++) out[i] = (char)toupper((unsigned char)p[i]);
  out[n] = '\0';
}

/* A mailbox argument as stored: INBOX in any case is "INBOX"; -1 if no
 * mailbox could have this name (too long, control or 8-bit bytes). */
int imap_mbox_arg(const char *p, size_t n, char out[IMAP_MBOX_MAX + 1]) {
  size_t i;

  if (n == 0 || n > IMAP_MBOX_MAX) return -1;
  for (i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  if (strcasecmp(out, "INBOX") == 0) strcpy(out, "INBOX");
  return 0;
}

int imap_p_mailbox(struct imap_p *q, char out[IMAP_MBOX_MAX + 1], int *valid) {
  char *s;
  size_t n;

  if (imap_p_astring(q, &s, &n) != 0) return -1;
  *valid = imap_mbox_arg(s, n, out) == 0;
  if (!*valid) out[0] = '\0';
  return 0;
}

/* --- sequence sets -------------------------------------------------------------- */

void imap_set_free(struct imap_set *set) {
  free(set->r);
  memset(set, 0, sizeof *set);
}

static int p_seq_number(struct imap_p *q, int64_t star, int64_t *v, int *is_star) {
  *is_star = imap_p_peek(q, '*');
  if (*is_star) {
    q->p++;
    *v = star;
    return 0;
  }
  if (imap_p_digits(q, v) != 0) return -1;
  if (*v == 0) return imap_p_fail(q, "Sequence numbers start at 1");
  return 0;
}

/* sequence-set (RFC 3501 section 9): "*" stands for star, the largest
 * number in use; ranges may run backwards ("5:2"). max_explicit keeps the
 * largest number outside ranges that reach "*", so "1:*" on an empty
 * mailbox is no error while "5" in a mailbox of three is. */
int imap_p_set(struct imap_p *q, int64_t star, struct imap_set *set) {
  char *s;
  size_t n, i, parts = 1;
  struct imap_p sub;

  memset(set, 0, sizeof *set);
  if (!imap_p_more(q) || !imap_seq_char((unsigned char)*q->p) ||
      imap_p_span(q, imap_seq_char, &s, &n) != 0)
    return imap_p_fail(q, "Invalid sequence set");
  for (i = 0; i < n; i++) parts += s[i] == ',';
  set->r = calloc(parts, sizeof *set->r);
  if (!set->r) return imap_p_fail(q, "Out of memory");
  sub.p = s;
  sub.end = s + n;
  sub.err = NULL;
  for (;;) {
    int64_t a, b;
    int a_star, b_star;
    if (p_seq_number(&sub, star, &a, &a_star) != 0) goto fail;
    b = a;
    b_star = a_star;
    if (imap_p_peek(&sub, ':')) {
      sub.p++;
      if (p_seq_number(&sub, star, &b, &b_star) != 0) goto fail;
    }
    if (!a_star && !b_star && (a > set->max_explicit || b > set->max_explicit))
      set->max_explicit = a > b ? a : b;
    set->r[set->n].lo = a < b ? a : b;
    set->r[set->n].hi = a < b ? b : a;
    set->n++;
    if (!imap_p_more(&sub)) break;
    if (imap_p_char(&sub, ',', "Invalid sequence set") != 0 || set->n >= parts) goto fail;
  }
  return 0;

fail:
  imap_set_free(set);
  return imap_p_fail(q, sub.err ? sub.err : "Invalid sequence set");
}

int imap_set_has(const struct imap_set *set, int64_t v) {
  size_t i;

  for (i = 0; i < set->n; i++)
    if (v >= set->r[i].lo && v <= set->r[i].hi) return 1;
  return 0;
}

/* --- flags ---------------------------------------------------------------------- */

/* One flag into its DB_MAIL_* bit. Keywords are accepted and not kept
 * (PERMANENTFLAGS has no \*, which tells clients so). */
static int p_flag(struct imap_p *q, unsigned *bit) {
  static const struct {
    const char *name;
    unsigned bit;
  } sys[] = {{"SEEN", DB_MAIL_SEEN},
             {"ANSWERED", DB_MAIL_ANSWERED},
             {"FLAGGED", DB_MAIL_FLAGGED},
             {"DELETED", DB_MAIL_DELETED},
             {"DRAFT", DB_MAIL_DRAFT}};
  char *s, up[16];
  size_t n, i;
  int system = 0;

  if (imap_p_peek(q, '\\')) {
    q->p++;
    system = 1;
  }
  if (imap_p_atom(q, &s, &n) != 0) return imap_p_fail(q, "Invalid flag");
  *bit = 0;
  if (!system) return 0;
  imap_upper(up, sizeof up, s, n);
  for (i = 0; i < sizeof sys / sizeof sys[0]; i++)
    if (strcmp(up, sys[i].name) == 0) {
      *bit = sys[i].bit;
      return 0;
    }
  if (strcmp(up, "RECENT") == 0) return imap_p_fail(q, "\\Recent is kept by the server");
  return imap_p_fail(q, "Unknown system flag");
}

/* "(" [flag *(SP flag)] ")", or without parentheses where STORE allows it. */
int imap_p_flag_list(struct imap_p *q, unsigned *flags, int parens_optional) {
  int parens = imap_p_peek(q, '(');
  unsigned bit;

  *flags = 0;
  if (!parens && !parens_optional) return imap_p_fail(q, "Flag list expected");
  if (parens) {
    q->p++;
    if (imap_p_peek(q, ')')) {
      q->p++;
      return 0;
    }
  }
  for (;;) {
    if (p_flag(q, &bit) != 0) return -1;
    *flags |= bit;
    if (!imap_p_peek(q, ' ')) break;
    q->p++;
  }
  if (parens) return imap_p_char(q, ')', "Missing ) after the flag list");
  return 0;
}

/* date-time (RFC 3501 section 9): "dd-Mon-yyyy hh:mm:ss +zzzz". */
int imap_date_time_parse(const char *p, size_t n, int64_t *out) {
  char buf[40], mon[4], sign;
  int d, y, hh, mm, ss, zone, used = 0, m;

  if (n >= sizeof buf) return -1;
  memcpy(buf, p, n);
  buf[n] = '\0';
  if (sscanf(buf, "%2d-%3[A-Za-z]-%4d %2d:%2d:%2d %c%4d%n", &d, mon, &y, &hh, &mm, &ss, &sign,
             &zone, &used) != 8 ||
      (size_t)used != n)
    return -1;
  m = mailmsg_month(mon);
  if (!m || d < 1 || d > 31 || y < 1900 || hh > 23 || mm > 59 || ss > 60 || zone % 100 > 59 ||
      (sign != '+' && sign != '-') || hh < 0 || mm < 0 || ss < 0 || zone < 0 || zone > 2359)
    return -1;
  *out = mailmsg_days(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss -
         (sign == '-' ? -1 : 1) * ((zone / 100) * 3600 + (zone % 100) * 60);
  return 0;
}
