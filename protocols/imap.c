/* imap.c -- the built-in lab IMAP server: the shared mail store seen through IMAP4rev1.
 *
 * Implements the server side of IMAP4rev1 (RFC 3501) in the subset real
 * clients use, with replies shaped like an RFC 9051 server's: tags and
 * untagged data, synchronising literals in both directions, the three
 * states (not authenticated, authenticated, selected), sequence sets and
 * UIDs, FETCH with ENVELOPE, BODYSTRUCTURE and BODY[section]<partial>,
 * STORE, SEARCH, COPY, EXPUNGE, CLOSE and APPEND. Extensions, each small:
 * LITERAL+ (RFC 7888), SASL-IR (RFC 4959) with AUTHENTICATE PLAIN (RFC
 * 4616), ID (RFC 2971), CHILDREN (RFC 3348), UIDPLUS (RFC 4315), MOVE (RFC
 * 6851), UNSELECT (RFC 3691) and APPENDLIMIT (RFC 7889). Response codes
 * come from RFC 5530 ([AUTHENTICATIONFAILED], [NONEXISTENT], [TOOBIG], ...).
 * Messages are read as RFC 5322 text: header fields are unfolded for
 * ENVELOPE and SEARCH, address lists are split per RFC 5322 section 3.4.
 *
 * All input is distrusted. A command may span several lines joined by
 * literals; it is assembled in one buffer exactly as it came on the wire
 * ("line CRLF literal-bytes line ...") and parsed once it is complete. The
 * size of every literal is checked before the "+" continuation is sent, so
 * a client told "no" never sends the bytes; a non-synchronising literal
 * that is refused is read and thrown away. Before login a literal may only
 * be big enough for a user name or password.
 *
 * Each session keeps its own snapshot of the selected mailbox (message
 * sequence number -> UID), which only changes where RFC 3501 section 7.4.1
 * allows: mail delivered or expunged by others becomes visible at NOOP,
 * CHECK, SELECT and after APPEND, COPY, MOVE and EXPUNGE.
 */
#define _GNU_SOURCE /* memmem: a linear-time substring search for SEARCH */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lab.h"
#include "labdb.h"
#include "portlab_limits.h"
#include "sasl.h"
#include "text.h"

/* The longest verb in the table below plus room to tell a longer one. */
#define IMAP_VERB_MAX 16
/* A section specifier as echoed back ("HEADER.FIELDS (FROM TO ...)"). It
 * is bounded by the command line anyway; longer lists are refused. */
#define IMAP_SPEC_MAX 512
#define IMAP_USER_MAX 64
#define IMAP_PASS_MAX 256
#define IMAP_MBOX_MAX 63             /* the lab_mailboxes name column */
#define IMAP_NUMBER_MAX 4294967295LL /* RFC 3501 number: unsigned 32 bits */

#define IMAP_ALL_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

enum imap_state { IMAP_NOAUTH = 0, IMAP_AUTH, IMAP_SELECTED };
#define IMAP_IN(st) (1u << (st))
#define IMAP_ANY (IMAP_IN(IMAP_NOAUTH) | IMAP_IN(IMAP_AUTH) | IMAP_IN(IMAP_SELECTED))
#define IMAP_AUTHED (IMAP_IN(IMAP_AUTH) | IMAP_IN(IMAP_SELECTED))

/* One message of the selected mailbox; its index + 1 is its sequence number. */
struct imap_msg {
  int64_t uid;
  int64_t date;
  size_t size;
  unsigned flags;
  unsigned char recent; /* arrived while this session had the mailbox open */
  unsigned char gone;   /* expunged by another session, not announced yet */
};

struct imap_session {
  enum imap_state state;
  struct db_user user;
  int auth_failures;
  int errors; /* BAD replies so far */
  int closing;
  /* The command being assembled, as it came on the wire. */
  char *cmd;
  size_t cmd_len, cmd_cap;
  size_t line_bytes;    /* bytes of its lines, CRLFs counted */
  size_t literal_bytes; /* bytes of its literals */
  size_t tag_len;       /* the tag is cmd[0, tag_len); 0 = no valid tag */
  int in_command;       /* the last line ended in a literal: more follows */
  size_t lit_left;      /* literal bytes still to come into cmd */
  size_t skip_left;     /* bytes of a refused literal still to throw away */
  int skipping;         /* the lines of a refused command are thrown away */
  int sasl_pending;     /* AUTHENTICATE PLAIN waits for its response line */
  char *args_end;       /* end of the running command's arguments */
  /* The selected mailbox. */
  char mbox[IMAP_MBOX_MAX + 1];
  int read_only;
  int64_t uidvalidity;
  struct imap_msg *msgs;
  size_t n_msgs, cap_msgs;
};

/* --- output ------------------------------------------------------------------ */

/* A growable string for one response; a failed allocation is remembered
 * and the response is dropped as a whole. */
struct imap_sb {
  char *p;
  size_t n, cap;
  int oom;
};

static void sb_add(struct imap_sb *b, const void *p, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    char *q;
    while (cap < b->n + n + 1) cap *= 2;
    q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      return;
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void sb_adds(struct imap_sb *b, const char *s) {
  sb_add(b, s, strlen(s));
}

static void sb_addf(struct imap_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_addf(struct imap_sb *b, const char *fmt, ...) {
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
  sb_add(b, text, n);
  if (text != tmp) free(text);
}

static void sb_free(struct imap_sb *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* A string as IMAP carries it: quoted when every byte is printable ASCII
 * (with \" and \\ escaped), otherwise a literal, which is the only form
 * that can hold CR, LF and 8-bit bytes (RFC 3501 section 4.3). NULL is NIL. */
static void sb_nstring(struct imap_sb *b, const char *p, size_t n) {
  size_t i;

  if (!p) {
    sb_adds(b, "NIL");
    return;
  }
  for (i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) break;
  if (i < n) {
    sb_addf(b, "{%zu}\r\n", n);
    sb_add(b, p, n);
    return;
  }
  sb_add(b, "\"", 1);
  for (i = 0; i < n; i++) {
    if (p[i] == '"' || p[i] == '\\') sb_add(b, "\\", 1);
    sb_add(b, p + i, 1);
  }
  sb_add(b, "\"", 1);
}

static void sb_cstring(struct imap_sb *b, const char *s) {
  sb_nstring(b, s, s ? strlen(s) : 0);
}

static int imap_atom_char(unsigned char ch) {
  return ch > 0x20 && ch < 0x7f && !strchr("(){%*\"\\]", ch);
}

/* A mailbox name: a bare atom when it can be one, else a string. */
static void sb_mailbox(struct imap_sb *b, const char *name) {
  size_t i, n = strlen(name);

  for (i = 0; i < n; i++)
    if (!imap_atom_char((unsigned char)name[i])) break;
  if (n > 0 && i == n)
    sb_add(b, name, n);
  else
    sb_nstring(b, name, n);
}

static void imap_send_sb(struct lab_conn *c, struct imap_sb *b) {
  if (!b->oom && b->n) lab_send(c, b->p, b->n);
}

static void imap_close(struct lab_conn *c, struct imap_session *s) {
  s->closing = 1;
  lab_close(c);
}

/* The tagged reply that ends a command ("* " when the line had no usable
 * tag). Every BAD counts; a client that keeps sending garbage is dropped. */
static void imap_reply(struct lab_conn *c, struct imap_session *s, const char *status,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void imap_reply(struct lab_conn *c, struct imap_session *s, const char *status,
                       const char *fmt, ...) {
  char text[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (s->tag_len)
    lab_printf(c, "%.*s %s %s\r\n", (int)s->tag_len, s->cmd, status, text);
  else
    lab_printf(c, "* %s %s\r\n", status, text);
  if (strcmp(status, "BAD") == 0) {
    lab_warn(c, "BAD %s", text);
    if (++s->errors >= LIM_IMAP_ERRORS) {
      lab_printf(c, "* BYE Too many bad commands, closing the connection\r\n");
      imap_close(c, s);
    }
  }
}

/* STARTTLS only while not in TLS (RFC 9051 section 6.2.1). LOGIN stays
 * allowed in the clear on 143 (no LOGINDISABLED): reading the password in
 * the transcript is the cleartext lesson; 993 and STARTTLS are the cure. */
static void imap_capabilities(struct lab_conn *c, struct imap_sb *b, enum imap_state st) {
  sb_adds(b, "IMAP4rev1 LITERAL+ SASL-IR ID CHILDREN UIDPLUS MOVE UNSELECT");
  sb_addf(b, " APPENDLIMIT=%d", LIM_IMAP_LITERAL_BYTES);
  if (st == IMAP_NOAUTH && lab_tls_available(c) && !lab_tls_active(c)) sb_adds(b, " STARTTLS");
  if (st == IMAP_NOAUTH) sb_adds(b, " AUTH=PLAIN");
}

static void imap_flags_str(struct imap_sb *b, unsigned flags, int recent) {
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

  sb_add(b, "(", 1);
  for (i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (!(flags & names[i].bit)) continue;
    if (!first) sb_add(b, " ", 1);
    sb_adds(b, names[i].name);
    first = 0;
  }
  if (recent) sb_adds(b, first ? "\\Recent" : " \\Recent");
  sb_add(b, ")", 1);
}

static const char *const imap_months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* RFC 3501 date-time with a fixed-width day (" 7-Feb-1994 21:52:25 +0000"), in UTC. */
static void imap_date_time(struct imap_sb *b, int64_t when) {
  time_t t = (time_t)when;
  struct tm tm;

  if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof tm);
  sb_addf(b, "\"%2d-%s-%04d %02d:%02d:%02d +0000\"", tm.tm_mday, imap_months[tm.tm_mon % 12],
          tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t imap_days(int64_t y, int m, int d) {
  int64_t era, yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int imap_month(const char *p) {
  int i;

  for (i = 0; i < 12; i++)
    if (strncasecmp(p, imap_months[i], 3) == 0) return i + 1;
  return 0;
}

/* --- parsing the command ------------------------------------------------------ */

/* A cursor over the command's arguments. Strings are returned in place:
 * quoted strings are unescaped where they stand, so arguments are parsed
 * once. err says why parsing stopped. */
struct imap_p {
  char *p, *end;
  const char *err;
};

/* The generic reason a token is missing; any caller's own reason wins over it. */
static const char p_weak_err[] = "Missing or invalid argument";

static int p_fail(struct imap_p *q, const char *why) {
  if (!q->err || q->err == p_weak_err) q->err = why;
  return -1;
}

static int p_more(const struct imap_p *q) {
  return q->p < q->end;
}

static int p_peek(const struct imap_p *q, char ch) {
  return q->p < q->end && *q->p == ch;
}

static int p_char(struct imap_p *q, char ch, const char *why) {
  if (!p_peek(q, ch)) return p_fail(q, why);
  q->p++;
  return 0;
}

static int p_sp(struct imap_p *q) {
  return p_char(q, ' ', "Missing arguments");
}

static int p_end(struct imap_p *q) {
  return p_more(q) ? p_fail(q, "Unexpected extra arguments") : 0;
}

/* A run of bytes allowed by ok(); at least one. */
static int p_span(struct imap_p *q, int (*ok)(unsigned char), char **s, size_t *n) {
  char *start = q->p;

  while (q->p < q->end && ok((unsigned char)*q->p)) q->p++;
  if (q->p == start) return p_fail(q, p_weak_err);
  *s = start;
  *n = (size_t)(q->p - start);
  return 0;
}

static int p_atom(struct imap_p *q, char **s, size_t *n) {
  return p_span(q, imap_atom_char, s, n);
}

static int imap_astring_char(unsigned char ch) {
  return imap_atom_char(ch) || ch == ']';
}

static int imap_list_char(unsigned char ch) {
  return imap_astring_char(ch) || ch == '%' || ch == '*';
}

static int imap_name_char(unsigned char ch) {
  return isalnum(ch) || ch == '.';
}

static int imap_seq_char(unsigned char ch) {
  return isdigit(ch) || ch == ':' || ch == '*' || ch == ',';
}

/* A number of up to 32 bits; *v is -1 past IMAP_NUMBER_MAX. */
static int p_digits(struct imap_p *q, int64_t *v) {
  int64_t x = 0;
  char *start = q->p;

  while (q->p < q->end && isdigit((unsigned char)*q->p)) {
    if (x <= IMAP_NUMBER_MAX) x = x * 10 + (*q->p - '0');
    q->p++;
  }
  if (q->p == start) return p_fail(q, "Number expected");
  if (x > IMAP_NUMBER_MAX) return p_fail(q, "Number out of range");
  *v = x;
  return 0;
}

/* A quoted string or a literal. *lit tells which (APPEND wants a literal). */
static int p_string_lit(struct imap_p *q, char **s, size_t *n, int *lit) {
  if (p_peek(q, '"')) {
    char *r = q->p + 1, *w = r, *start = r;
    for (;;) {
      char ch;
      if (r >= q->end) return p_fail(q, "Unterminated quoted string");
      ch = *r;
      if (ch == '"') break;
      if (ch == '\r' || ch == '\n' || ch == '\0')
        return p_fail(q, "Quoted strings cannot hold CR, LF or NUL; use a literal");
      if (ch == '\\') {
        r++;
        if (r >= q->end || (*r != '"' && *r != '\\'))
          return p_fail(q, "Only \\\" and \\\\ may be escaped in a quoted string");
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
  if (p_peek(q, '{')) {
    int64_t len;
    q->p++;
    if (p_digits(q, &len) != 0) return -1;
    if (p_peek(q, '+')) q->p++;
    if (p_char(q, '}', "Invalid literal") != 0) return -1;
    /* The assembler put CRLF and the literal's bytes right after "}";
     * anything else is a "{n}" in the middle of a line. */
    if (q->end - q->p < 2 || q->p[0] != '\r' || q->p[1] != '\n')
      return p_fail(q, "A literal must end its line");
    q->p += 2;
    if ((int64_t)(q->end - q->p) < len) return p_fail(q, "Literal shorter than announced");
    *s = q->p;
    *n = (size_t)len;
    q->p += len;
    if (lit) *lit = 1;
    return 0;
  }
  return p_fail(q, "String expected");
}

static int p_string(struct imap_p *q, char **s, size_t *n) {
  return p_string_lit(q, s, n, NULL);
}

static int p_astring(struct imap_p *q, char **s, size_t *n) {
  if (p_peek(q, '"') || p_peek(q, '{')) return p_string(q, s, n);
  return p_span(q, imap_astring_char, s, n);
}

/* A list-mailbox (LIST's pattern): an astring that may hold % and *. */
static int p_list_mailbox(struct imap_p *q, char **s, size_t *n) {
  if (p_peek(q, '"') || p_peek(q, '{')) return p_string(q, s, n);
  return p_span(q, imap_list_char, s, n);
}

/* Copies a string argument into a C string: -1 if it is too long for out
 * or holds a NUL, which no C string can carry. */
static int imap_cstr(char *out, size_t cap, const char *p, size_t n) {
  if (n >= cap || memchr(p, '\0', n)) return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

/* The upper-cased copy of a short keyword; "" if it does not fit. */
static void imap_upper(char *out, size_t cap, const char *p, size_t n) {
  size_t i;

  if (n >= cap) n = 0;
  for (i = 0; i < n; i++) out[i] = (char)toupper((unsigned char)p[i]);
  out[n] = '\0';
}

/* A mailbox argument as stored: INBOX in any case is "INBOX"; -1 if no
 * mailbox could have this name (too long, control or 8-bit bytes). */
static int imap_mbox_arg(const char *p, size_t n, char out[IMAP_MBOX_MAX + 1]) {
  size_t i;

  if (n == 0 || n > IMAP_MBOX_MAX) return -1;
  for (i = 0; i < n; i++)
    if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  if (strcasecmp(out, "INBOX") == 0) strcpy(out, "INBOX");
  return 0;
}

static int p_mailbox(struct imap_p *q, char out[IMAP_MBOX_MAX + 1], int *valid) {
  char *s;
  size_t n;

  if (p_astring(q, &s, &n) != 0) return -1;
  *valid = imap_mbox_arg(s, n, out) == 0;
  if (!*valid) out[0] = '\0';
  return 0;
}

/* --- sequence sets -------------------------------------------------------------- */

struct imap_range {
  int64_t lo, hi;
};

struct imap_set {
  struct imap_range *r;
  size_t n;
  int64_t max_explicit; /* the largest number written out (not "*") */
};

static void imap_set_free(struct imap_set *set) {
  free(set->r);
  memset(set, 0, sizeof *set);
}

static int p_seq_number(struct imap_p *q, int64_t star, int64_t *v, int *is_star) {
  *is_star = p_peek(q, '*');
  if (*is_star) {
    q->p++;
    *v = star;
    return 0;
  }
  if (p_digits(q, v) != 0) return -1;
  if (*v == 0) return p_fail(q, "Sequence numbers start at 1");
  return 0;
}

/* sequence-set (RFC 3501 section 9): "*" stands for star, the largest
 * number in use; ranges may run backwards ("5:2"). max_explicit keeps the
 * largest number outside ranges that reach "*", so "1:*" on an empty
 * mailbox is no error while "5" in a mailbox of three is. */
static int p_set(struct imap_p *q, int64_t star, struct imap_set *set) {
  char *s;
  size_t n, i, parts = 1;
  struct imap_p sub;

  memset(set, 0, sizeof *set);
  if (!p_more(q) || !imap_seq_char((unsigned char)*q->p) || p_span(q, imap_seq_char, &s, &n) != 0)
    return p_fail(q, "Invalid sequence set");
  for (i = 0; i < n; i++) parts += s[i] == ',';
  set->r = calloc(parts, sizeof *set->r);
  if (!set->r) return p_fail(q, "Out of memory");
  sub.p = s;
  sub.end = s + n;
  sub.err = NULL;
  for (;;) {
    int64_t a, b;
    int a_star, b_star;
    if (p_seq_number(&sub, star, &a, &a_star) != 0) goto fail;
    b = a;
    b_star = a_star;
    if (p_peek(&sub, ':')) {
      sub.p++;
      if (p_seq_number(&sub, star, &b, &b_star) != 0) goto fail;
    }
    if (!a_star && !b_star && (a > set->max_explicit || b > set->max_explicit))
      set->max_explicit = a > b ? a : b;
    set->r[set->n].lo = a < b ? a : b;
    set->r[set->n].hi = a < b ? b : a;
    set->n++;
    if (!p_more(&sub)) break;
    if (p_char(&sub, ',', "Invalid sequence set") != 0 || set->n >= parts) goto fail;
  }
  return 0;

fail:
  imap_set_free(set);
  return p_fail(q, sub.err ? sub.err : "Invalid sequence set");
}

static int imap_set_has(const struct imap_set *set, int64_t v) {
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

  if (p_peek(q, '\\')) {
    q->p++;
    system = 1;
  }
  if (p_atom(q, &s, &n) != 0) return p_fail(q, "Invalid flag");
  *bit = 0;
  if (!system) return 0;
  imap_upper(up, sizeof up, s, n);
  for (i = 0; i < sizeof sys / sizeof sys[0]; i++)
    if (strcmp(up, sys[i].name) == 0) {
      *bit = sys[i].bit;
      return 0;
    }
  if (strcmp(up, "RECENT") == 0) return p_fail(q, "\\Recent is kept by the server");
  return p_fail(q, "Unknown system flag");
}

/* "(" [flag *(SP flag)] ")", or without parentheses where STORE allows it. */
static int p_flag_list(struct imap_p *q, unsigned *flags, int parens_optional) {
  int parens = p_peek(q, '(');
  unsigned bit;

  *flags = 0;
  if (!parens && !parens_optional) return p_fail(q, "Flag list expected");
  if (parens) {
    q->p++;
    if (p_peek(q, ')')) {
      q->p++;
      return 0;
    }
  }
  for (;;) {
    if (p_flag(q, &bit) != 0) return -1;
    *flags |= bit;
    if (!p_peek(q, ' ')) break;
    q->p++;
  }
  if (parens) return p_char(q, ')', "Missing ) after the flag list");
  return 0;
}

/* --- reading stored messages (RFC 5322) ---------------------------------------- */

/* Bytes of the header, the empty line that ends it included; the whole
 * message if there is no empty line (then the text is empty). */
static size_t msg_header_len(const char *m, size_t n) {
  size_t i;

  if (n >= 2 && m[0] == '\r' && m[1] == '\n') return 2;
  if (n >= 1 && m[0] == '\n') return 1;
  for (i = 0; i < n; i++) {
    if (m[i] != '\n') continue;
    if (i + 1 < n && m[i + 1] == '\n') return i + 2;
    if (i + 2 < n && m[i + 1] == '\r' && m[i + 2] == '\n') return i + 3;
  }
  return n;
}

/* Walks the header fields: each field is its first line and every line
 * after it that starts with white space (RFC 5322 section 2.2.3). */
struct hdr_iter {
  const char *p, *end;
};

static int hdr_next(struct hdr_iter *it, const char **name, size_t *name_len, const char **field,
                    size_t *field_len) {
  const char *start = it->p, *q, *colon;

  if (it->p >= it->end) return 0;
  q = start;
  for (;;) {
    const char *nl = memchr(q, '\n', (size_t)(it->end - q));
    q = nl ? nl + 1 : it->end;
    if (q >= it->end || (*q != ' ' && *q != '\t')) break;
  }
  it->p = q;
  *field = start;
  *field_len = (size_t)(q - start);
  colon = memchr(start, ':', *field_len);
  *name = start;
  *name_len = colon ? (size_t)(colon - start) : 0;
  /* "Subject :" is obsolete syntax but still seen. */
  while (*name_len && (start[*name_len - 1] == ' ' || start[*name_len - 1] == '\t')) (*name_len)--;
  return 1;
}

/* The value of a field, unfolded and trimmed; malloc'd (caller frees). */
static char *hdr_unfold(const char *field, size_t len, size_t name_len) {
  const char *p = field + name_len, *end = field + len;
  char *out, *w;

  while (p < end && *p != ':') p++;
  if (p < end) p++;
  out = malloc((size_t)(end - p) + 1);
  if (!out) return NULL;
  w = out;
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  for (; p < end; p++)
    if (*p != '\r' && *p != '\n') *w++ = *p;
  while (w > out && (w[-1] == ' ' || w[-1] == '\t')) w--;
  *w = '\0';
  return out;
}

/* The first field called name, unfolded; NULL if absent (caller frees). */
static char *hdr_get(const char *hdr, size_t hlen, const char *name) {
  struct hdr_iter it = {hdr, hdr + hlen};
  const char *n, *f;
  size_t nl, fl, want = strlen(name);

  while (hdr_next(&it, &n, &nl, &f, &fl))
    if (nl == want && strncasecmp(n, name, nl) == 0) return hdr_unfold(f, fl, nl);
  return NULL;
}

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}

static const char *trim_end(const char *p, const char *end) {
  while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
  return end;
}

/* A display name: surrounding quotes removed and escapes undone. */
static void sb_display_name(struct imap_sb *b, const char *p, const char *end) {
  char *tmp, *w;

  p = skip_ws(p, end);
  end = trim_end(p, end);
  if (p == end) {
    sb_adds(b, "NIL");
    return;
  }
  tmp = malloc((size_t)(end - p) + 1);
  if (!tmp) {
    b->oom = 1;
    return;
  }
  w = tmp;
  for (; p < end; p++) {
    if (*p == '"') continue;
    if (*p == '\\' && p + 1 < end) p++;
    *w++ = *p;
  }
  sb_nstring(b, tmp, (size_t)(w - tmp));
  free(tmp);
}

/* addr-spec (or obsolete route-addr) without comments: "(NAME ADL MAILBOX HOST)". */
static void sb_address(struct imap_sb *b, const char *name, const char *name_end, const char *p,
                       const char *end) {
  char *spec = malloc((size_t)(end - p) + 1), *w, *at, *adl_end;
  int depth = 0, inq = 0;

  if (!spec) {
    b->oom = 1;
    return;
  }
  w = spec;
  for (; p < end; p++) {
    if (inq) {
      if (*p == '"') inq = 0;
      *w++ = *p;
    } else if (depth) {
      if (*p == '(') depth++;
      if (*p == ')') depth--;
    } else if (*p == '(') {
      depth = 1;
    } else if (*p == '"') {
      inq = 1;
      *w++ = *p;
    } else if (*p != ' ' && *p != '\t' && *p != '<' && *p != '>') {
      *w++ = *p;
    }
  }
  *w = '\0';
  sb_add(b, "(", 1);
  if (name)
    sb_display_name(b, name, name_end);
  else
    sb_adds(b, "NIL");
  sb_add(b, " ", 1);
  /* An obsolete source route "@a,@b:user@host" is the ADL. */
  adl_end = spec[0] == '@' ? strchr(spec, ':') : NULL;
  if (adl_end) {
    sb_nstring(b, spec, (size_t)(adl_end - spec));
    w = adl_end + 1;
  } else {
    sb_adds(b, "NIL");
    w = spec;
  }
  at = strrchr(w, '@');
  sb_add(b, " ", 1);
  sb_nstring(b, w, at ? (size_t)(at - w) : strlen(w));
  sb_add(b, " ", 1);
  sb_cstring(b, at ? at + 1 : "");
  sb_add(b, ")", 1);
  free(spec);
}

/* An address list (RFC 5322 section 3.4) as IMAP's list of addresses,
 * groups marked the RFC 3501 way; NIL if it holds no address. */
static void sb_address_list(struct imap_sb *b, const char *v) {
  const char *p = v, *end = v ? v + strlen(v) : NULL;
  int any = 0, in_group = 0;

  if (!v) {
    sb_adds(b, "NIL");
    return;
  }
  while (p < end) {
    const char *start = p, *lt = NULL, *gt = NULL;
    int inq = 0, depth = 0;
    char sep;
    for (; p < end; p++) {
      if (inq) {
        if (*p == '\\' && p + 1 < end)
          p++;
        else if (*p == '"')
          inq = 0;
      } else if (depth) {
        if (*p == '\\' && p + 1 < end)
          p++;
        else if (*p == '(')
          depth++;
        else if (*p == ')')
          depth--;
      } else if (*p == '"') {
        inq = 1;
      } else if (*p == '(') {
        depth = 1;
      } else if (*p == '<' && !lt) {
        lt = p;
      } else if (*p == '>' && lt && !gt) {
        gt = p;
      } else if ((*p == ',' || *p == ';' || *p == ':') && (!lt || gt)) {
        break;
      }
    }
    sep = p < end ? *p : '\0';
    if (sep == ':' && !in_group) {
      sb_adds(b, any ? " (NIL NIL " : "((NIL NIL ");
      any = 1;
      sb_display_name(b, start, p);
      sb_adds(b, " NIL)");
      in_group = 1;
    } else if (skip_ws(start, p) < p) {
      sb_adds(b, any ? " " : "(");
      any = 1;
      if (lt)
        sb_address(b, start, lt, lt + 1, gt ? gt : p);
      else
        sb_address(b, NULL, NULL, start, p);
    }
    if (sep == ';' && in_group) {
      sb_adds(b, " (NIL NIL NIL NIL)");
      in_group = 0;
    }
    if (p < end) p++;
  }
  if (in_group) sb_adds(b, " (NIL NIL NIL NIL)");
  sb_adds(b, any ? ")" : "NIL");
}

/* ENVELOPE (RFC 3501 section 7.4.2); sender and reply-to default to from. */
static void sb_envelope(struct imap_sb *b, const char *hdr, size_t hlen) {
  static const char *const names[] = {"Date", "Subject", "From", "Sender",      "Reply-To",
                                      "To",   "Cc",      "Bcc",  "In-Reply-To", "Message-ID"};
  char *v[10];
  size_t i;

  for (i = 0; i < 10; i++) v[i] = hdr_get(hdr, hlen, names[i]);
  sb_add(b, "(", 1);
  sb_cstring(b, v[0]);
  sb_add(b, " ", 1);
  sb_cstring(b, v[1]);
  for (i = 2; i < 8; i++) {
    const char *val = v[i];
    if ((i == 3 || i == 4) && (!val || !*val)) val = v[2];
    sb_add(b, " ", 1);
    sb_address_list(b, val);
  }
  sb_add(b, " ", 1);
  sb_cstring(b, v[8]);
  sb_add(b, " ", 1);
  sb_cstring(b, v[9]);
  sb_add(b, ")", 1);
  for (i = 0; i < 10; i++) free(v[i]);
}

static int imap_token_char(unsigned char ch) {
  return isalnum(ch) || (ch && strchr("!#$&^_.+-", ch));
}

/* The token at p (RFC 2045), upper-cased into out; returns the end. */
static const char *mime_token(const char *p, char *out, size_t cap) {
  size_t n = 0;

  while (*p == ' ' || *p == '\t') p++;
  while (imap_token_char((unsigned char)*p)) {
    if (n + 1 < cap) out[n++] = (char)toupper((unsigned char)*p);
    p++;
  }
  out[n] = '\0';
  return p;
}

/* A one-part body structure (RFC 3501 section 7.4.2) from Content-Type
 * and Content-Transfer-Encoding. Multipart and message/rfc822 bodies are
 * described as plain text: the lab's clients read them whole. */
static void sb_body_structure(struct imap_sb *b, const char *msg, size_t len, size_t hlen,
                              int extended) {
  char *ct = hdr_get(msg, hlen, "Content-Type"),
       *cte = hdr_get(msg, hlen, "Content-Transfer-Encoding");
  char type[32] = "TEXT", sub[64] = "PLAIN", enc[32] = "7BIT", charset[64] = "";
  const char *p;
  size_t i, lines = 0;

  if (ct) {
    p = mime_token(ct, type, sizeof type);
    if (*p == '/') p = mime_token(p + 1, sub, sizeof sub);
    if (!type[0] || !sub[0] || strcmp(type, "MULTIPART") == 0 || strcmp(type, "MESSAGE") == 0) {
      strcpy(type, "TEXT");
      strcpy(sub, "PLAIN");
    }
    for (p = ct; (p = strchr(p, ';')) != NULL;) {
      char attr[32];
      p = mime_token(p + 1, attr, sizeof attr);
      while (*p == ' ' || *p == '\t') p++;
      if (strcmp(attr, "CHARSET") != 0 || *p != '=') continue;
      p++;
      if (*p == '"') p++;
      for (i = 0; imap_token_char((unsigned char)*p) && i + 1 < sizeof charset; p++)
        charset[i++] = *p;
      charset[i] = '\0';
    }
  } else {
    strcpy(charset, "us-ascii");
  }
  if (cte) {
    mime_token(cte, enc, sizeof enc);
    if (!enc[0]) strcpy(enc, "7BIT");
  }
  for (i = hlen; i < len; i++) lines += msg[i] == '\n';
  sb_addf(b, "(\"%s\" \"%s\" ", type, sub);
  if (charset[0]) {
    sb_adds(b, "(\"CHARSET\" ");
    sb_cstring(b, charset);
    sb_adds(b, ")");
  } else {
    sb_adds(b, "NIL");
  }
  sb_addf(b, " NIL NIL \"%s\" %zu", enc, len - hlen);
  if (strcmp(type, "TEXT") == 0) sb_addf(b, " %zu", lines);
  if (extended) sb_adds(b, " NIL NIL NIL NIL");
  sb_add(b, ")", 1);
  free(ct);
  free(cte);
}

/* --- the selected mailbox's snapshot ------------------------------------------ */

struct imap_list {
  struct imap_msg *m;
  size_t n, cap;
  int oom;
};

static int imap_list_cb(void *arg, const struct db_mail *dm) {
  struct imap_list *l = arg;

  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    struct imap_msg *m = realloc(l->m, cap * sizeof *m);
    if (!m) {
      l->oom = 1;
      return 1;
    }
    l->m = m;
    l->cap = cap;
  }
  memset(&l->m[l->n], 0, sizeof l->m[l->n]);
  l->m[l->n].uid = dm->uid;
  l->m[l->n].flags = dm->flags;
  l->m[l->n].date = dm->internal_date;
  l->m[l->n].size = dm->size;
  l->n++;
  return 0;
}

/* The mailbox's messages now, in UID order. 1 = the mailbox is gone. */
static int imap_load(struct lab_conn *c, struct imap_session *s, const char *mbox,
                     struct imap_list *l) {
  int rc;

  memset(l, 0, sizeof *l);
  rc = db_mail_list(lab_conn_ctx(c)->db, s->user.id, mbox, imap_list_cb, l);
  if (rc == 0 && l->oom) rc = -1;
  if (rc != 0) {
    free(l->m);
    memset(l, 0, sizeof *l);
  }
  return rc;
}

static void imap_set_state(struct imap_session *s, enum imap_state st) {
  if (st != IMAP_SELECTED) {
    free(s->msgs);
    s->msgs = NULL;
    s->n_msgs = s->cap_msgs = 0;
    s->mbox[0] = '\0';
    s->read_only = 0;
  }
  s->state = st;
}

static int imap_msgs_reserve(struct imap_session *s, size_t n) {
  struct imap_msg *m;
  size_t cap = s->cap_msgs ? s->cap_msgs : 64;

  if (n <= s->cap_msgs) return 0;
  while (cap < n) cap *= 2;
  m = realloc(s->msgs, cap * sizeof *m);
  if (!m) return -1;
  s->msgs = m;
  s->cap_msgs = cap;
  return 0;
}

/* Brings the snapshot up to date with the store; the output goes to b.
 * Flags are always refreshed. With announce, flag changes made elsewhere
 * are sent as untagged FETCH, messages expunged elsewhere are removed
 * with an untagged EXPUNGE each (highest number first, so every number is
 * right when it is read), and new mail is added and announced with EXISTS
 * and RECENT. Without it -- during FETCH, STORE and SEARCH, which must not
 * send EXPUNGE (RFC 3501 section 7.4.1) -- vanished messages are only
 * marked gone and new ones wait. -1 on a database error. */
static int imap_sync(struct lab_conn *c, struct imap_session *s, int announce, struct imap_sb *b) {
  struct imap_list l;
  size_t i, j = 0, added = 0, recent = 0;
  int64_t max_uid = s->n_msgs ? s->msgs[s->n_msgs - 1].uid : 0;
  int rc = imap_load(c, s, s->mbox, &l);

  if (rc < 0) return -1;
  /* rc == 1: another session deleted the mailbox; all its mail is gone. */
  for (i = 0; i < s->n_msgs; i++) {
    struct imap_msg *m = &s->msgs[i];
    while (j < l.n && l.m[j].uid < m->uid) j++;
    if (j < l.n && l.m[j].uid == m->uid) {
      if (l.m[j].flags != m->flags && !m->gone) {
        m->flags = l.m[j].flags;
        if (announce) {
          sb_addf(b, "* %zu FETCH (FLAGS ", i + 1);
          imap_flags_str(b, m->flags, m->recent);
          sb_adds(b, ")\r\n");
        }
      }
      m->size = l.m[j].size;
    } else {
      m->gone = 1;
    }
  }
  if (!announce) {
    free(l.m);
    return 0;
  }
  for (i = s->n_msgs; i-- > 0;) {
    if (!s->msgs[i].gone) continue;
    sb_addf(b, "* %zu EXPUNGE\r\n", i + 1);
    memmove(&s->msgs[i], &s->msgs[i + 1], (s->n_msgs - i - 1) * sizeof s->msgs[0]);
    s->n_msgs--;
  }
  for (j = 0; j < l.n; j++) {
    if (l.m[j].uid <= max_uid) continue;
    if (imap_msgs_reserve(s, s->n_msgs + 1) != 0) break;
    s->msgs[s->n_msgs] = l.m[j];
    s->msgs[s->n_msgs].recent = 1;
    s->n_msgs++;
    added++;
  }
  if (added) {
    for (i = 0; i < s->n_msgs; i++) recent += s->msgs[i].recent;
    sb_addf(b, "* %zu EXISTS\r\n* %zu RECENT\r\n", s->n_msgs, recent);
  }
  free(l.m);
  return 0;
}

/* imap_sync for the commands that may announce, sending what it found. */
static int imap_sync_send(struct lab_conn *c, struct imap_session *s) {
  struct imap_sb b = {0};
  int rc;

  if (s->state != IMAP_SELECTED) return 0;
  rc = imap_sync(c, s, 1, &b);
  imap_send_sb(c, &b);
  sb_free(&b);
  return rc;
}

/* --- commands without a mailbox --------------------------------------------- */

static void cmd_capability(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_sb b = {0};

  if (args != s->args_end) {
    imap_reply(c, s, "BAD", "CAPABILITY takes no arguments");
    return;
  }
  sb_adds(&b, "* CAPABILITY ");
  imap_capabilities(c, &b, s->state);
  sb_adds(&b, "\r\n");
  imap_send_sb(c, &b);
  sb_free(&b);
  imap_reply(c, s, "OK", "CAPABILITY completed");
}

static void imap_noop(struct lab_conn *c, struct imap_session *s, char *args, const char *verb) {
  if (args != s->args_end) {
    imap_reply(c, s, "BAD", "%s takes no arguments", verb);
    return;
  }
  if (imap_sync_send(c, s) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    return;
  }
  imap_reply(c, s, "OK", "%s completed", verb);
}

static void cmd_noop(struct lab_conn *c, void *sv, char *args) {
  imap_noop(c, sv, args, "NOOP");
}

/* Nothing is buffered here, so a checkpoint is a NOOP. */
static void cmd_check(struct lab_conn *c, void *sv, char *args) {
  imap_noop(c, sv, args, "CHECK");
}

static void cmd_logout(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  if (args != s->args_end) {
    imap_reply(c, s, "BAD", "LOGOUT takes no arguments");
    return;
  }
  lab_printf(c, "* BYE portlab IMAP closing the connection, goodbye\r\n");
  imap_reply(c, s, "OK", "LOGOUT completed");
  imap_close(c, s);
}

/* RFC 2971: the client may say who it is; we answer with our name. */
static void cmd_id(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char *k;
  size_t n;

  if (p_peek(&q, '(')) {
    q.p++;
    while (!p_peek(&q, ')')) {
      if (p_string(&q, &k, &n) != 0 || p_sp(&q) != 0) break;
      if (p_peek(&q, 'N') || p_peek(&q, 'n')) {
        if (p_atom(&q, &k, &n) != 0 || n != 3 || strncasecmp(k, "NIL", 3) != 0) break;
      } else if (p_string(&q, &k, &n) != 0) {
        break;
      }
      if (p_peek(&q, ' ')) q.p++;
    }
    if (q.err || p_char(&q, ')', "Missing )") != 0) {
      imap_reply(c, s, "BAD", "%s", q.err ? q.err : "Invalid ID list");
      return;
    }
  } else if (p_atom(&q, &k, &n) != 0 || n != 3 || strncasecmp(k, "NIL", 3) != 0) {
    imap_reply(c, s, "BAD", "ID takes a parenthesised list or NIL");
    return;
  }
  if (p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s", q.err);
    return;
  }
  lab_printf(
      c,
      "* ID (\"name\" \"portlab\" \"support-url\" \"https://www.rfc-editor.org/rfc/rfc3501\")\r\n");
  imap_reply(c, s, "OK", "ID completed");
}

/* RFC 9051 section 6.2.1: tagged OK, then the handshake; no new greeting,
 * the client asks CAPABILITY again. */
static void cmd_starttls(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  if (args != s->args_end) {
    imap_reply(c, s, "BAD", "STARTTLS takes no arguments");
    return;
  }
  if (!lab_tls_available(c)) {
    imap_reply(c, s, "BAD", "STARTTLS is not available here");
    return;
  }
  if (lab_tls_active(c)) {
    imap_reply(c, s, "BAD", "TLS is already active");
    return;
  }
  imap_reply(c, s, "OK", "Begin TLS negotiation now");
  if (lab_tls_start(c) != 0) {
    lab_printf(c, "* BYE TLS is not available, closing the connection\r\n");
    imap_close(c, s);
  }
}

/* --- logging in ----------------------------------------------------------------- */

static void imap_login_ok(struct lab_conn *c, struct imap_session *s, const struct db_user *u) {
  struct imap_sb b = {0};

  s->user = *u;
  imap_set_state(s, IMAP_AUTH);
  sb_adds(&b, "[CAPABILITY ");
  imap_capabilities(c, &b, IMAP_AUTH);
  sb_addf(&b, "] Logged in as %s", u->name);
  imap_reply(c, s, "OK", "%s", b.oom ? "Logged in" : b.p);
  sb_free(&b);
}

static void imap_login_failed(struct lab_conn *c, struct imap_session *s, const char *user) {
  lab_warn(c, "failed login for \"%s\"", user);
  imap_reply(c, s, "NO", "[AUTHENTICATIONFAILED] Wrong user name or password");
  if (++s->auth_failures >= LIM_IMAP_AUTH_FAILURES) {
    lab_printf(c, "* BYE Too many failed logins, closing the connection\r\n");
    imap_close(c, s);
  }
}

static void imap_try_login(struct lab_conn *c, struct imap_session *s, const char *user,
                           const char *pass) {
  struct db_user u;
  int rc = db_lab_login(lab_conn_ctx(c)->db, user, pass, &u);

  if (rc == 0) {
    lab_conn_login(c, u.name);
    imap_login_ok(c, s, &u);
  } else if (rc == 1) {
    imap_login_failed(c, s, user);
  } else {
    imap_reply(c, s, "NO", "[UNAVAILABLE] The account database is not answering");
  }
}

static void cmd_login(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char *u, *p, user[IMAP_USER_MAX + 1], pass[IMAP_PASS_MAX + 1];
  size_t un, pn;

  if (p_astring(&q, &u, &un) != 0 || p_sp(&q) != 0 || p_astring(&q, &p, &pn) != 0 ||
      p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (LOGIN user password)", q.err);
    return;
  }
  if (imap_cstr(user, sizeof user, u, un) != 0 || imap_cstr(pass, sizeof pass, p, pn) != 0) {
    imap_login_failed(c, s, "(unusable name)");
    return;
  }
  imap_try_login(c, s, user, pass);
}

/* RFC 4616: authzid NUL authcid NUL passwd, base64-encoded. */
static void imap_sasl_plain(struct lab_conn *c, struct imap_session *s, const char *b64, size_t n) {
  unsigned char raw[IMAP_USER_MAX * 2 + IMAP_PASS_MAX + 3];
  char user[IMAP_USER_MAX + 1], pass[IMAP_PASS_MAX + 1];
  struct sasl_plain sp;
  size_t len;

  if (sasl_b64_decode(b64, n, raw, sizeof raw, &len) != 0) {
    imap_reply(c, s, "BAD", "Invalid base64 in the PLAIN response");
    return;
  }
  if (sasl_plain_split(raw, len, &sp) != 0 ||
      imap_cstr(user, sizeof user, (const char *)sp.user, sp.user_len) != 0 ||
      imap_cstr(pass, sizeof pass, (const char *)sp.pass, sp.pass_len) != 0) {
    imap_login_failed(c, s, "(malformed PLAIN response)");
    return;
  }
  /* An authorisation identity other than oneself would mean acting as
   * someone else: refused. */
  if (sp.authz_len && (sp.authz_len != strlen(user) ||
                       strncasecmp((const char *)sp.authz, user, strlen(user)) != 0)) {
    imap_login_failed(c, s, user);
    return;
  }
  imap_try_login(c, s, user, pass);
}

static void cmd_authenticate(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char *mech, *ir;
  size_t mn, irn;

  if (p_atom(&q, &mech, &mn) != 0) {
    imap_reply(c, s, "BAD", "AUTHENTICATE needs a mechanism name");
    return;
  }
  if (mn != 5 || strncasecmp(mech, "PLAIN", 5) != 0) {
    imap_reply(c, s, "NO", "Unsupported authentication mechanism (this server offers PLAIN)");
    return;
  }
  if (p_peek(&q, ' ')) { /* SASL-IR: the response on the command line; "=" is empty */
    q.p++;
    if (p_atom(&q, &ir, &irn) != 0 || p_end(&q) != 0) {
      imap_reply(c, s, "BAD", "Invalid initial response");
      return;
    }
    imap_sasl_plain(c, s, ir, irn == 1 && ir[0] == '=' ? 0 : irn);
    return;
  }
  if (p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s", q.err);
    return;
  }
  lab_printf(c, "+ \r\n");
  s->sasl_pending = 1;
}

/* The line after "+ ": the client's PLAIN response, or "*" to give up. */
static void imap_sasl_line(struct lab_conn *c, struct imap_session *s, const char *line,
                           size_t len) {
  s->sasl_pending = 0;
  if (len == 1 && line[0] == '*')
    imap_reply(c, s, "BAD", "Authentication cancelled");
  else if (strlen(line) != len)
    imap_reply(c, s, "BAD", "NUL byte in the response");
  else
    imap_sasl_plain(c, s, line, len);
}

/* --- mailboxes ------------------------------------------------------------------ */

static void imap_select(struct lab_conn *c, struct imap_session *s, char *args, int read_only) {
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  char name[IMAP_MBOX_MAX + 1];
  struct db_mailbox mb;
  struct imap_list l;
  struct imap_sb b = {0};
  size_t i;
  int valid, rc;

  if (p_mailbox(&q, name, &valid) != 0 || p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%s mailbox)", q.err, read_only ? "EXAMINE" : "SELECT");
    return;
  }
  /* RFC 3501 section 6.3.1: a SELECT, even one that fails, first closes
   * the mailbox that was open (without expunging it). */
  imap_set_state(s, IMAP_AUTH);
  rc = valid ? db_mailbox_get(db, s->user.id, name, &mb) : 1;
  if (rc == 0) rc = imap_load(c, s, name, &l);
  if (rc == 1) {
    imap_reply(c, s, "NO", "[NONEXISTENT] There is no mailbox by that name");
    return;
  }
  if (rc != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    return;
  }
  imap_set_state(s, IMAP_SELECTED);
  s->msgs = l.m;
  s->n_msgs = l.n;
  s->cap_msgs = l.cap;
  strcpy(s->mbox, name);
  s->read_only = read_only;
  s->uidvalidity = mb.uidvalidity;
  sb_adds(&b, "* FLAGS (" IMAP_ALL_FLAGS ")\r\n");
  sb_adds(&b, read_only ? "* OK [PERMANENTFLAGS ()] Read-only, no flags can be changed\r\n"
                        : "* OK [PERMANENTFLAGS (" IMAP_ALL_FLAGS
                          ")] These flags can be changed\r\n");
  sb_addf(&b, "* %zu EXISTS\r\n* 0 RECENT\r\n", s->n_msgs);
  for (i = 0; i < s->n_msgs; i++)
    if (!(s->msgs[i].flags & DB_MAIL_SEEN)) {
      sb_addf(&b, "* OK [UNSEEN %zu] Message %zu is the first unseen\r\n", i + 1, i + 1);
      break;
    }
  sb_addf(&b, "* OK [UIDVALIDITY %lld] UIDs are valid\r\n", (long long)mb.uidvalidity);
  sb_addf(&b, "* OK [UIDNEXT %lld] The next UID\r\n", (long long)mb.uidnext);
  imap_send_sb(c, &b);
  sb_free(&b);
  imap_reply(c, s, "OK", "[%s] %s completed", read_only ? "READ-ONLY" : "READ-WRITE",
             read_only ? "EXAMINE" : "SELECT");
}

static void cmd_select(struct lab_conn *c, void *sv, char *args) {
  imap_select(c, sv, args, 0);
}

static void cmd_examine(struct lab_conn *c, void *sv, char *args) {
  imap_select(c, sv, args, 1);
}

static int imap_count_cb(void *arg, const struct db_mailbox *m) {
  (*(size_t *)arg)++;
  return 0;
}

static void cmd_create(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  char name[IMAP_MBOX_MAX + 1];
  char *p;
  size_t n, count = 0;
  int rc;

  if (p_astring(&q, &p, &n) != 0 || p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (CREATE mailbox)", q.err);
    return;
  }
  /* A trailing delimiter only says the name will have children. */
  while (n > 0 && p[n - 1] == '/') n--;
  if (imap_mbox_arg(p, n, name) != 0 || strpbrk(name, "*%") || name[0] == '/' ||
      strstr(name, "//")) {
    imap_reply(c, s, "NO",
               "[CANNOT] Mailbox names here are 1 to %d printable ASCII characters, "
               "without * or %% and without empty levels",
               IMAP_MBOX_MAX);
    return;
  }
  if (strcmp(name, "INBOX") == 0) {
    imap_reply(c, s, "NO", "[ALREADYEXISTS] INBOX always exists");
    return;
  }
  if (db_mailbox_list(db, s->user.id, imap_count_cb, &count) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not list the mailboxes");
    return;
  }
  if (count >= LIM_IMAP_MAILBOXES) {
    imap_reply(c, s, "NO", "[LIMIT] An account may have at most %d mailboxes", LIM_IMAP_MAILBOXES);
    return;
  }
  rc = db_mailbox_create(db, s->user.id, name);
  if (rc == 0)
    imap_reply(c, s, "OK", "CREATE completed");
  else if (rc == 1)
    imap_reply(c, s, "NO", "[ALREADYEXISTS] That mailbox exists already");
  else
    imap_reply(c, s, "NO", "[SERVERBUG] Could not create the mailbox");
}

static void cmd_delete(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char name[IMAP_MBOX_MAX + 1];
  int valid, rc;

  if (p_mailbox(&q, name, &valid) != 0 || p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (DELETE mailbox)", q.err);
    return;
  }
  if (valid && strcmp(name, "INBOX") == 0) {
    imap_reply(c, s, "NO", "[CANNOT] INBOX cannot be deleted");
    return;
  }
  if (valid && s->state == IMAP_SELECTED && strcmp(name, s->mbox) == 0) {
    imap_reply(c, s, "NO", "[INUSE] Close the mailbox before deleting it");
    return;
  }
  rc = valid ? db_mailbox_delete(lab_conn_ctx(c)->db, s->user.id, name) : 1;
  if (rc == 0)
    imap_reply(c, s, "OK", "DELETE completed");
  else if (rc == 1)
    imap_reply(c, s, "NO", "[NONEXISTENT] There is no mailbox by that name");
  else
    imap_reply(c, s, "NO", "[SERVERBUG] Could not delete the mailbox");
}

/* Every mailbox counts as subscribed: LSUB lists them all. */
static void imap_subscribe(struct lab_conn *c, struct imap_session *s, char *args,
                           const char *verb) {
  struct imap_p q = {args, s->args_end, NULL};
  char name[IMAP_MBOX_MAX + 1];
  int valid;

  if (p_mailbox(&q, name, &valid) != 0 || p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%s mailbox)", q.err, verb);
    return;
  }
  imap_reply(c, s, "OK", "%s completed", verb);
}

static void cmd_subscribe(struct lab_conn *c, void *sv, char *args) {
  imap_subscribe(c, sv, args, "SUBSCRIBE");
}

static void cmd_unsubscribe(struct lab_conn *c, void *sv, char *args) {
  imap_subscribe(c, sv, args, "UNSUBSCRIBE");
}

/* RFC 3501 section 6.3.8: "*" matches anything, "%" anything but the
 * hierarchy delimiter. Dynamic programming over the (short) name keeps a
 * pattern of many wildcards linear in the pattern's length. */
static int imap_glob(const char *pat, size_t pn, const char *name) {
  unsigned char row[IMAP_MBOX_MAX + 2], next[IMAP_MBOX_MAX + 2];
  size_t nn = strlen(name), i, j;
  int fold = strcmp(name, "INBOX") == 0; /* INBOX in any case */

  if (nn > IMAP_MBOX_MAX) return 0;
  memset(row, 0, sizeof row);
  row[0] = 1;
  for (i = 0; i < pn; i++) {
    unsigned char pc = (unsigned char)pat[i];
    for (j = 0; j <= nn; j++) {
      if (pc == '*')
        next[j] = row[j] || (j > 0 && next[j - 1]);
      else if (pc == '%')
        next[j] = row[j] || (j > 0 && next[j - 1] && name[j - 1] != '/');
      else
        next[j] =
            j > 0 && row[j - 1] &&
            (fold ? toupper(pc) == (unsigned char)name[j - 1] : pc == (unsigned char)name[j - 1]);
    }
    memcpy(row, next, nn + 1);
  }
  return row[nn];
}

struct imap_names {
  char (*name)[IMAP_MBOX_MAX + 1];
  size_t n, cap;
  int oom;
};

static int imap_names_cb(void *arg, const struct db_mailbox *m) {
  struct imap_names *l = arg;

  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    void *p = realloc(l->name, cap * sizeof *l->name);
    if (!p) {
      l->oom = 1;
      return 1;
    }
    l->name = p;
    l->cap = cap;
  }
  snprintf(l->name[l->n++], sizeof l->name[0], "%s", m->name);
  return 0;
}

static void imap_list(struct lab_conn *c, struct imap_session *s, char *args, int lsub) {
  struct imap_p q = {args, s->args_end, NULL};
  const char *verb = lsub ? "LSUB" : "LIST";
  struct imap_names names = {0};
  struct imap_sb b = {0};
  char *ref, *pat, *full = NULL;
  size_t rn, pn, i, j;

  if (p_list_mailbox(&q, &ref, &rn) != 0 || p_sp(&q) != 0 || p_list_mailbox(&q, &pat, &pn) != 0 ||
      p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%s reference pattern)", q.err, verb);
    return;
  }
  if (pn == 0) { /* RFC 3501: the delimiter and the root of the reference */
    lab_printf(c, "* %s (\\Noselect) \"/\" \"\"\r\n", verb);
    imap_reply(c, s, "OK", "%s completed", verb);
    return;
  }
  full = malloc(rn + pn + 1);
  if (!full || db_mailbox_list(lab_conn_ctx(c)->db, s->user.id, imap_names_cb, &names) != 0 ||
      names.oom) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not list the mailboxes");
    goto done;
  }
  memcpy(full, ref, rn);
  memcpy(full + rn, pat, pn);
  for (i = 0; i < names.n; i++) {
    size_t len = strlen(names.name[i]);
    int children = 0;
    if (!imap_glob(full, rn + pn, names.name[i])) continue;
    for (j = 0; j < names.n; j++)
      if (strncmp(names.name[j], names.name[i], len) == 0 && names.name[j][len] == '/')
        children = 1;
    sb_addf(&b, "* %s (%s) \"/\" ", verb, children ? "\\HasChildren" : "\\HasNoChildren");
    sb_mailbox(&b, names.name[i]);
    sb_adds(&b, "\r\n");
  }
  imap_send_sb(c, &b);
  imap_reply(c, s, "OK", "%s completed", verb);

done:
  sb_free(&b);
  free(names.name);
  free(full);
}

static void cmd_list(struct lab_conn *c, void *sv, char *args) {
  imap_list(c, sv, args, 0);
}

static void cmd_lsub(struct lab_conn *c, void *sv, char *args) {
  imap_list(c, sv, args, 1);
}

static void cmd_status(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char name[IMAP_MBOX_MAX + 1], *att, up[16];
  struct db_mailbox mb;
  struct imap_sb b = {0};
  size_t n, recent = 0, i;
  int valid, rc, first = 1;

  memset(&mb, 0, sizeof mb);
  if (p_mailbox(&q, name, &valid) != 0 || p_sp(&q) != 0 ||
      p_char(&q, '(', "Missing ( before the status items") != 0) {
    imap_reply(c, s, "BAD", "%s (STATUS mailbox (MESSAGES UNSEEN ...))", q.err);
    return;
  }
  rc = valid ? db_mailbox_get(lab_conn_ctx(c)->db, s->user.id, name, &mb) : 1;
  if (s->state == IMAP_SELECTED && valid && strcmp(name, s->mbox) == 0)
    for (i = 0; i < s->n_msgs; i++) recent += s->msgs[i].recent;
  sb_adds(&b, "* STATUS ");
  sb_mailbox(&b, name);
  sb_adds(&b, " (");
  for (;;) {
    if (p_atom(&q, &att, &n) != 0) break;
    imap_upper(up, sizeof up, att, n);
    if (!first) sb_add(&b, " ", 1);
    first = 0;
    if (strcmp(up, "MESSAGES") == 0)
      sb_addf(&b, "MESSAGES %lld", (long long)mb.messages);
    else if (strcmp(up, "RECENT") == 0)
      sb_addf(&b, "RECENT %zu", recent);
    else if (strcmp(up, "UIDNEXT") == 0)
      sb_addf(&b, "UIDNEXT %lld", (long long)mb.uidnext);
    else if (strcmp(up, "UIDVALIDITY") == 0)
      sb_addf(&b, "UIDVALIDITY %lld", (long long)mb.uidvalidity);
    else if (strcmp(up, "UNSEEN") == 0)
      sb_addf(&b, "UNSEEN %lld", (long long)mb.unseen);
    else {
      p_fail(&q, "Unknown status item (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)");
      break;
    }
    if (!p_peek(&q, ' ')) break;
    q.p++;
  }
  if (q.err || p_char(&q, ')', "Missing ) after the status items") != 0 || p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s", q.err);
  } else if (rc == 1) {
    imap_reply(c, s, "NO", "[NONEXISTENT] There is no mailbox by that name");
  } else if (rc != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
  } else {
    sb_adds(&b, ")\r\n");
    imap_send_sb(c, &b);
    imap_reply(c, s, "OK", "STATUS completed");
  }
  sb_free(&b);
}

/* date-time (RFC 3501 section 9): "dd-Mon-yyyy hh:mm:ss +zzzz". */
static int imap_date_time_parse(const char *p, size_t n, int64_t *out) {
  char buf[40], mon[4], sign;
  int d, y, hh, mm, ss, zone, used = 0, m;

  if (n >= sizeof buf) return -1;
  memcpy(buf, p, n);
  buf[n] = '\0';
  if (sscanf(buf, "%2d-%3[A-Za-z]-%4d %2d:%2d:%2d %c%4d%n", &d, mon, &y, &hh, &mm, &ss, &sign,
             &zone, &used) != 8 ||
      (size_t)used != n)
    return -1;
  m = imap_month(mon);
  if (!m || d < 1 || d > 31 || y < 1900 || hh > 23 || mm > 59 || ss > 60 || zone % 100 > 59 ||
      (sign != '+' && sign != '-') || hh < 0 || mm < 0 || ss < 0 || zone < 0 || zone > 2359)
    return -1;
  *out = imap_days(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss -
         (sign == '-' ? -1 : 1) * ((zone / 100) * 3600 + (zone % 100) * 60);
  return 0;
}

/* 1 if storing more bytes would take the account past LIM_MAIL_QUOTA_BYTES
 * (every mailbox counts; exactly reaching it is allowed), 0 if not, -1 on
 * a database error. */
static int imap_over_quota(struct db *db, int64_t user_id, int64_t more) {
  int64_t used = 0;

  if (db_mail_usage(db, user_id, &used) != 0) return -1;
  return used + more > LIM_MAIL_QUOTA_BYTES;
}

static void cmd_append(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  char name[IMAP_MBOX_MAX + 1], *msg, *ds;
  struct db_mailbox mb;
  size_t n, dn;
  unsigned flags = 0;
  int64_t when = (int64_t)time(NULL), uid;
  int valid, lit, rc;

  if (p_mailbox(&q, name, &valid) != 0 || p_sp(&q) != 0) goto bad;
  if (p_peek(&q, '(') && (p_flag_list(&q, &flags, 0) != 0 || p_sp(&q) != 0)) goto bad;
  if (p_peek(&q, '"')) {
    if (p_string(&q, &ds, &dn) != 0 || p_sp(&q) != 0) goto bad;
    if (imap_date_time_parse(ds, dn, &when) != 0) {
      p_fail(&q, "Invalid date-time (like \"07-Feb-1994 21:52:25 -0800\")");
      goto bad;
    }
  }
  if (p_string_lit(&q, &msg, &n, &lit) != 0) goto bad;
  if (!lit) {
    p_fail(&q, "The message must be sent as a literal");
    goto bad;
  }
  if (p_end(&q) != 0) goto bad;
  rc = valid ? db_mailbox_get(db, s->user.id, name, &mb) : 1;
  if (rc == 1) {
    imap_reply(c, s, "NO", "[TRYCREATE] There is no mailbox by that name");
    return;
  }
  if (rc != 0) goto server_bug;
  if (n == 0) {
    imap_reply(c, s, "NO", "An empty message cannot be stored");
    return;
  }
  if (mb.messages >= LIM_MAILBOX_MESSAGES) {
    imap_reply(c, s, "NO", "[OVERQUOTA] The mailbox is full (%d messages)", LIM_MAILBOX_MESSAGES);
    return;
  }
  rc = imap_over_quota(db, s->user.id, (int64_t)n);
  if (rc < 0) goto server_bug;
  if (rc > 0) {
    lab_warn(c, "imap: APPEND of %zu bytes refused: over the mail quota", n);
    imap_reply(c, s, "NO", "[OVERQUOTA] That would take your mail past the quota of %d bytes",
               LIM_MAIL_QUOTA_BYTES);
    return;
  }
  if (db_mail_append(db, s->user.id, name, msg, n, flags, when, &uid) != 0) goto server_bug;
  if (s->state == IMAP_SELECTED && strcmp(name, s->mbox) == 0) imap_sync_send(c, s);
  imap_reply(c, s, "OK", "[APPENDUID %lld %lld] APPEND completed", (long long)mb.uidvalidity,
             (long long)uid);
  return;

bad:
  imap_reply(c, s, "BAD", "%s (APPEND mailbox [(flags)] [\"date-time\"] {size})", q.err);
  return;
server_bug:
  imap_reply(c, s, "NO", "[SERVERBUG] Could not store the message");
}

/* Removes the \Deleted messages (of those whose UID is in uids, if
 * given), highest number first; untagged EXPUNGE lines go to b (NULL for
 * CLOSE, which expunges silently). */
static int imap_expunge(struct lab_conn *c, struct imap_session *s, const struct imap_set *uids,
                        struct imap_sb *b) {
  struct db *db = lab_conn_ctx(c)->db;
  struct imap_sb quiet = {0};
  size_t i;
  int rc = imap_sync(c, s, 0, &quiet);

  sb_free(&quiet);
  if (rc != 0) return -1;
  for (i = s->n_msgs; i-- > 0;) {
    struct imap_msg *m = &s->msgs[i];
    if (m->gone || !(m->flags & DB_MAIL_DELETED) || (uids && !imap_set_has(uids, m->uid))) continue;
    if (db_mail_delete(db, s->user.id, s->mbox, m->uid) < 0) return -1;
    if (b) sb_addf(b, "* %zu EXPUNGE\r\n", i + 1);
    memmove(&s->msgs[i], &s->msgs[i + 1], (s->n_msgs - i - 1) * sizeof s->msgs[0]);
    s->n_msgs--;
  }
  return 0;
}

static void cmd_expunge(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_sb b = {0};
  int rc;

  if (args != s->args_end) {
    imap_reply(c, s, "BAD", "EXPUNGE takes no arguments (UID EXPUNGE takes a set)");
    return;
  }
  if (s->read_only) {
    imap_reply(c, s, "NO", "[READ-ONLY] The mailbox was opened with EXAMINE");
    return;
  }
  rc = imap_sync(c, s, 1, &b);
  if (rc == 0) rc = imap_expunge(c, s, NULL, &b);
  imap_send_sb(c, &b);
  sb_free(&b);
  if (rc != 0)
    imap_reply(c, s, "NO", "[SERVERBUG] Could not expunge");
  else
    imap_reply(c, s, "OK", "EXPUNGE completed");
}

static void cmd_close(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  if (args != s->args_end) {
    imap_reply(c, s, "BAD", "CLOSE takes no arguments");
    return;
  }
  if (!s->read_only) imap_expunge(c, s, NULL, NULL);
  imap_set_state(s, IMAP_AUTH);
  imap_reply(c, s, "OK", "CLOSE completed");
}

static void cmd_unselect(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  if (args != s->args_end) {
    imap_reply(c, s, "BAD", "UNSELECT takes no arguments");
    return;
  }
  imap_set_state(s, IMAP_AUTH);
  imap_reply(c, s, "OK", "UNSELECT completed");
}

/* --- FETCH ------------------------------------------------------------------------ */

enum fetch_att {
  FA_FLAGS = 0,
  FA_UID,
  FA_SIZE,
  FA_INTERNALDATE,
  FA_ENVELOPE,
  FA_BODY, /* BODY without a section: the structure */
  FA_BODYSTRUCTURE,
  FA_SECTION, /* BODY[...] and BODY.PEEK[...] */
  FA_RFC822,
  FA_RFC822_HEADER,
  FA_RFC822_TEXT
};

enum fetch_sec { FS_ALL = 0, FS_HEADER, FS_TEXT, FS_FIELDS, FS_FIELDS_NOT, FS_NIL };

struct fetch_item {
  int att, sec, peek, partial;
  int64_t origin, count;
  char spec[IMAP_SPEC_MAX];   /* the section as echoed between the brackets */
  char fields[IMAP_SPEC_MAX]; /* " FROM TO ": upper-cased, space-delimited */
};

static int imap_field_char(unsigned char ch) {
  return ch > 0x20 && ch < 0x7f && ch != ':';
}

/* section and partial (RFC 3501 section 6.4.5). A single-part message has
 * one part, numbered 1: its text. Other part numbers are NIL. */
static int fetch_section(struct imap_p *q, struct fetch_item *it) {
  char *s, up[24];
  size_t n, i, used;

  if (p_char(q, '[', "Missing [") != 0) return -1;
  it->sec = FS_ALL;
  if (!p_peek(q, ']')) {
    if (p_span(q, imap_name_char, &s, &n) != 0) return -1;
    imap_upper(up, sizeof up, s, n);
    if (isdigit((unsigned char)s[0]) && up[0])
      it->sec = strcmp(up, "1") == 0 ? FS_TEXT : FS_NIL;
    else if (strcmp(up, "HEADER") == 0)
      it->sec = FS_HEADER;
    else if (strcmp(up, "TEXT") == 0)
      it->sec = FS_TEXT;
    else if (strcmp(up, "HEADER.FIELDS") == 0)
      it->sec = FS_FIELDS;
    else if (strcmp(up, "HEADER.FIELDS.NOT") == 0)
      it->sec = FS_FIELDS_NOT;
    else
      return p_fail(q, "Unknown section (HEADER, TEXT, HEADER.FIELDS (...), 1)");
    strcpy(it->spec, up);
    if (it->sec == FS_FIELDS || it->sec == FS_FIELDS_NOT) {
      if (p_sp(q) != 0 || p_char(q, '(', "Missing ( before the header field names") != 0) return -1;
      strcpy(it->fields, " ");
      used = 1;
      for (;;) {
        if (p_astring(q, &s, &n) != 0) return -1;
        if (n == 0 || used + n + 1 >= sizeof it->fields)
          return p_fail(q, "Invalid or too many field names");
        for (i = 0; i < n; i++) {
          if (!imap_field_char((unsigned char)s[i])) return p_fail(q, "Invalid header field name");
          it->fields[used++] = (char)toupper((unsigned char)s[i]);
        }
        it->fields[used++] = ' ';
        it->fields[used] = '\0';
        if (!p_peek(q, ' ')) break;
        q->p++;
      }
      if (p_char(q, ')', "Missing ) after the header field names") != 0) return -1;
      if (strlen(it->spec) + used + 3 >= sizeof it->spec) return p_fail(q, "Too many field names");
      snprintf(it->spec + strlen(it->spec), sizeof it->spec - strlen(it->spec), " (%.*s)",
               (int)(used - 2), it->fields + 1);
    }
  }
  if (p_char(q, ']', "Missing ] after the section") != 0) return -1;
  if (p_peek(q, '<')) {
    q->p++;
    if (p_digits(q, &it->origin) != 0 || p_char(q, '.', "Missing . in <origin.count>") != 0 ||
        p_digits(q, &it->count) != 0 || p_char(q, '>', "Missing > after <origin.count>") != 0)
      return -1;
    if (it->count == 0) return p_fail(q, "A partial fetch needs a count of at least 1");
    it->partial = 1;
  }
  return 0;
}

static int fetch_att(struct imap_p *q, struct fetch_item *it) {
  static const struct {
    const char *name;
    int att;
  } atts[] = {{"FLAGS", FA_FLAGS},
              {"UID", FA_UID},
              {"RFC822.SIZE", FA_SIZE},
              {"INTERNALDATE", FA_INTERNALDATE},
              {"ENVELOPE", FA_ENVELOPE},
              {"BODYSTRUCTURE", FA_BODYSTRUCTURE},
              {"RFC822", FA_RFC822},
              {"RFC822.HEADER", FA_RFC822_HEADER},
              {"RFC822.TEXT", FA_RFC822_TEXT}};
  char *s, up[24];
  size_t n, i;

  memset(it, 0, sizeof *it);
  if (p_span(q, imap_name_char, &s, &n) != 0) return p_fail(q, "Fetch item expected");
  imap_upper(up, sizeof up, s, n);
  for (i = 0; i < sizeof atts / sizeof atts[0]; i++)
    if (strcmp(up, atts[i].name) == 0) {
      it->att = atts[i].att;
      return 0;
    }
  if (strcmp(up, "BODY") == 0 && !p_peek(q, '[')) {
    it->att = FA_BODY;
    return 0;
  }
  if (strcmp(up, "BODY") == 0 || strcmp(up, "BODY.PEEK") == 0) {
    it->att = FA_SECTION;
    it->peek = up[4] == '.';
    return fetch_section(q, it);
  }
  return p_fail(q, "Unknown fetch item");
}

/* fetch-att, "(" fetch-att *(SP fetch-att) ")", or one of the macros ALL, FAST, FULL. */
static int fetch_parse(struct imap_p *q, struct fetch_item *items, size_t *n) {
  static const int all[] = {FA_FLAGS, FA_INTERNALDATE, FA_SIZE, FA_ENVELOPE, FA_BODY};
  char *start = q->p, *s, up[8];
  size_t len, i, k = 0;

  *n = 0;
  if (p_peek(q, '(')) {
    q->p++;
    for (;;) {
      if (*n >= LIM_IMAP_FETCH_ITEMS) return p_fail(q, "Too many fetch items");
      if (fetch_att(q, &items[(*n)++]) != 0) return -1;
      if (!p_peek(q, ' ')) break;
      q->p++;
    }
    return p_char(q, ')', "Missing ) after the fetch items");
  }
  if (p_span(q, imap_name_char, &s, &len) == 0) {
    imap_upper(up, sizeof up, s, len);
    if (strcmp(up, "ALL") == 0) k = 4;
    if (strcmp(up, "FAST") == 0) k = 3;
    if (strcmp(up, "FULL") == 0) k = 5;
    if (k) {
      for (i = 0; i < k; i++) {
        memset(&items[i], 0, sizeof items[i]);
        items[i].att = all[i];
      }
      *n = k;
      return 0;
    }
  }
  q->p = start;
  q->err = NULL;
  *n = 1;
  return fetch_att(q, &items[0]);
}

/* Is this header field one of the names in list (" FROM TO ")? */
static int fetch_field_listed(const char *list, const char *name, size_t n) {
  char want[80];
  size_t i;

  if (n == 0 || n + 3 > sizeof want) return 0;
  want[0] = ' ';
  for (i = 0; i < n; i++) want[i + 1] = (char)toupper((unsigned char)name[i]);
  want[n + 1] = ' ';
  want[n + 2] = '\0';
  return strstr(list, want) != NULL;
}

/* HEADER.FIELDS (or .NOT): the chosen fields as they are, then an empty line. */
static void fetch_fields(struct imap_sb *out, const char *hdr, size_t hlen,
                         const struct fetch_item *it) {
  struct hdr_iter iter = {hdr, hdr + hlen};
  const char *name, *field;
  size_t nl, fl;

  while (hdr_next(&iter, &name, &nl, &field, &fl)) {
    if (nl == 0) continue; /* the empty line, or a line that is no field */
    if (fetch_field_listed(it->fields, name, nl) == (it->sec == FS_FIELDS)) sb_add(out, field, fl);
  }
  sb_add(out, "\r\n", 2);
}

static void fetch_literal(struct imap_sb *b, const char *p, size_t n, const struct fetch_item *it) {
  if (it->partial) {
    size_t origin = (size_t)it->origin, count = (size_t)it->count;
    if (origin > n) origin = n;
    if (count > n - origin) count = n - origin;
    p += origin;
    n = count;
  }
  sb_addf(b, "{%zu}\r\n", n);
  sb_add(b, p, n);
}

static void fetch_out(struct imap_sb *b, const struct fetch_item *it, const struct imap_msg *m,
                      const char *msg, size_t len) {
  size_t hlen = msg ? msg_header_len(msg, len) : 0;
  struct imap_sb part = {0};

  switch (it->att) {
    case FA_FLAGS:
      sb_adds(b, "FLAGS ");
      imap_flags_str(b, m->flags, m->recent);
      break;
    case FA_UID:
      sb_addf(b, "UID %lld", (long long)m->uid);
      break;
    case FA_SIZE:
      sb_addf(b, "RFC822.SIZE %zu", msg ? len : m->size);
      break;
    case FA_INTERNALDATE:
      sb_adds(b, "INTERNALDATE ");
      imap_date_time(b, m->date);
      break;
    case FA_ENVELOPE:
      sb_adds(b, "ENVELOPE ");
      sb_envelope(b, msg, hlen);
      break;
    case FA_BODY:
    case FA_BODYSTRUCTURE:
      sb_adds(b, it->att == FA_BODY ? "BODY " : "BODYSTRUCTURE ");
      sb_body_structure(b, msg, len, hlen, it->att == FA_BODYSTRUCTURE);
      break;
    case FA_RFC822:
      sb_adds(b, "RFC822 ");
      fetch_literal(b, msg, len, it);
      break;
    case FA_RFC822_HEADER:
      sb_adds(b, "RFC822.HEADER ");
      fetch_literal(b, msg, hlen, it);
      break;
    case FA_RFC822_TEXT:
      sb_adds(b, "RFC822.TEXT ");
      fetch_literal(b, msg + hlen, len - hlen, it);
      break;
    case FA_SECTION:
      sb_addf(b, "BODY[%s]", it->spec);
      if (it->partial) sb_addf(b, "<%lld>", (long long)it->origin);
      sb_add(b, " ", 1);
      if (it->sec == FS_ALL) {
        fetch_literal(b, msg, len, it);
      } else if (it->sec == FS_HEADER) {
        fetch_literal(b, msg, hlen, it);
      } else if (it->sec == FS_TEXT) {
        fetch_literal(b, msg + hlen, len - hlen, it);
      } else if (it->sec == FS_NIL) {
        sb_adds(b, "NIL");
      } else {
        fetch_fields(&part, msg, hlen, it);
        if (part.oom) b->oom = 1;
        fetch_literal(b, part.p ? part.p : "", part.n, it);
      }
      break;
  }
  sb_free(&part);
}

static void imap_fetch(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd) {
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  struct imap_set set = {0};
  struct fetch_item *items = calloc(LIM_IMAP_FETCH_ITEMS, sizeof *items);
  struct imap_sb b = {0};
  size_t n = 0, i, k, body_items = 0, gone = 0;
  int need_body = 0, sets_seen = 0, want_flags = 0, want_uid = uid_cmd, limit = 0, failed = 0;
  int sends_text = 0;      /* an item returns the message's text, not only its header */
  int64_t fetched_uid = 0; /* the last message whose text went out: a lab event */
  int64_t star = uid_cmd ? (s->n_msgs ? s->msgs[s->n_msgs - 1].uid : 0) : (int64_t)s->n_msgs;

  if (!items) {
    imap_reply(c, s, "NO", "[SERVERBUG] Out of memory");
    return;
  }
  if (p_set(&q, star, &set) != 0 || p_sp(&q) != 0 || fetch_parse(&q, items, &n) != 0 ||
      p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%sFETCH set items)", q.err, uid_cmd ? "UID " : "");
    goto done;
  }
  if (!uid_cmd && set.max_explicit > (int64_t)s->n_msgs) {
    imap_reply(c, s, "BAD", "No such message: the mailbox holds %zu", s->n_msgs);
    goto done;
  }
  for (k = 0; k < n; k++) {
    int a = items[k].att;
    need_body |= a >= FA_ENVELOPE;
    body_items += a >= FA_SECTION;
    sets_seen |= (a == FA_SECTION && !items[k].peek) || a == FA_RFC822 || a == FA_RFC822_TEXT;
    want_flags |= a == FA_FLAGS;
    want_uid |= a == FA_UID;
    sends_text |= a == FA_RFC822 || a == FA_RFC822_TEXT ||
                  (a == FA_SECTION && (items[k].sec == FS_ALL || items[k].sec == FS_TEXT));
  }
  if (imap_sync(c, s, 0, &b) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    goto done;
  }
  for (i = 0; i < s->n_msgs && !failed; i++) {
    struct imap_msg *m = &s->msgs[i];
    unsigned char *body = NULL;
    size_t len = 0;
    int first = 1, rc, seen_now;

    if (!imap_set_has(&set, uid_cmd ? m->uid : (int64_t)i + 1)) continue;
    if (m->gone) {
      gone++;
      continue;
    }
    /* The whole reply is queued before anything is sent; the framework
     * drops a connection whose queue grows past LIM_LAB_OUT_BYTES. */
    if (lab_out_pending(c) + body_items * (m->size + 64) + 4096 > LIM_IMAP_FETCH_OUT_BYTES) {
      limit = 1;
      break;
    }
    if (need_body) {
      rc = db_mail_get(db, s->user.id, s->mbox, m->uid, NULL, &body, &len);
      if (rc == 1) {
        m->gone = 1;
        gone++;
        continue;
      }
      if (rc != 0 || !body) {
        failed = 1;
        break;
      }
    }
    seen_now = sets_seen && !s->read_only && !(m->flags & DB_MAIL_SEEN);
    if (seen_now) {
      if (db_mail_set_flags(db, s->user.id, s->mbox, m->uid, m->flags | DB_MAIL_SEEN) < 0)
        failed = 1;
      m->flags |= DB_MAIL_SEEN;
    }
    sb_addf(&b, "* %zu FETCH (", i + 1);
    if (want_uid) {
      sb_addf(&b, "UID %lld", (long long)m->uid);
      first = 0;
    }
    /* RFC 3501 section 6.4.5: setting \Seen is reported with the data. */
    if (seen_now && !want_flags) {
      sb_adds(&b, first ? "FLAGS " : " FLAGS ");
      imap_flags_str(&b, m->flags, m->recent);
      first = 0;
    }
    for (k = 0; k < n; k++) {
      if (items[k].att == FA_UID) continue;
      if (!first) sb_add(&b, " ", 1);
      first = 0;
      fetch_out(&b, &items[k], m, (const char *)body, len);
    }
    sb_adds(&b, ")\r\n");
    free(body);
    if (b.oom) {
      failed = 1;
      break;
    }
    imap_send_sb(c, &b);
    b.n = 0;
    if (sends_text) fetched_uid = m->uid;
  }
  if (failed)
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read a message");
  else if (limit)
    imap_reply(c, s, "NO",
               "[LIMIT] That is more than one FETCH may return; ask for fewer messages");
  else if (gone)
    imap_reply(c, s, "OK",
               "[EXPUNGEISSUED] %sFETCH completed; some messages were expunged meanwhile",
               uid_cmd ? "UID " : "");
  else
    imap_reply(c, s, "OK", "%sFETCH completed", uid_cmd ? "UID " : "");
  if (fetched_uid) {
    char uid[24];
    snprintf(uid, sizeof uid, "%lld", (long long)fetched_uid);
    const char *kv[] = {"mailbox", s->mbox, "uid", uid, NULL};
    lab_event(c, s->user.name, "imap.fetch", kv);
  }

done:
  sb_free(&b);
  imap_set_free(&set);
  free(items);
}

static void cmd_fetch(struct lab_conn *c, void *sv, char *args) {
  imap_fetch(c, sv, args, 0);
}

/* --- STORE, COPY, MOVE ------------------------------------------------------------ */

static void imap_store(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd) {
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  struct imap_set set = {0};
  struct imap_sb b = {0};
  char *item, up[24];
  size_t n, i, gone = 0;
  unsigned flags;
  int mode, silent, failed = 0;
  int64_t star = uid_cmd ? (s->n_msgs ? s->msgs[s->n_msgs - 1].uid : 0) : (int64_t)s->n_msgs;

  if (p_set(&q, star, &set) != 0 || p_sp(&q) != 0 || p_atom(&q, &item, &n) != 0) goto bad;
  imap_upper(up, sizeof up, item, n);
  mode = up[0] == '+' ? 1 : up[0] == '-' ? -1 : 0;
  silent = strstr(up, ".SILENT") != NULL;
  if (strcmp(up + (mode != 0), silent ? "FLAGS.SILENT" : "FLAGS") != 0) {
    p_fail(&q, "Unknown store item (FLAGS, +FLAGS, -FLAGS, with .SILENT)");
    goto bad;
  }
  if (p_sp(&q) != 0 || p_flag_list(&q, &flags, 1) != 0 || p_end(&q) != 0) goto bad;
  if (!uid_cmd && set.max_explicit > (int64_t)s->n_msgs) {
    imap_reply(c, s, "BAD", "No such message: the mailbox holds %zu", s->n_msgs);
    goto done;
  }
  if (s->read_only) {
    imap_reply(c, s, "NO", "[READ-ONLY] The mailbox was opened with EXAMINE");
    goto done;
  }
  if (imap_sync(c, s, 0, &b) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    goto done;
  }
  for (i = 0; i < s->n_msgs; i++) {
    struct imap_msg *m = &s->msgs[i];
    unsigned now;
    if (!imap_set_has(&set, uid_cmd ? m->uid : (int64_t)i + 1)) continue;
    if (m->gone) {
      gone++;
      continue;
    }
    now = mode > 0 ? m->flags | flags : mode < 0 ? m->flags & ~flags : flags;
    if (now != m->flags) {
      int rc = db_mail_set_flags(db, s->user.id, s->mbox, m->uid, now);
      if (rc < 0) {
        failed = 1;
        break;
      }
      if (rc == 1) {
        m->gone = 1;
        gone++;
        continue;
      }
      m->flags = now;
    }
    if (silent) continue;
    sb_addf(&b, "* %zu FETCH (", i + 1);
    if (uid_cmd) sb_addf(&b, "UID %lld ", (long long)m->uid);
    sb_adds(&b, "FLAGS ");
    imap_flags_str(&b, m->flags, m->recent);
    sb_adds(&b, ")\r\n");
  }
  imap_send_sb(c, &b);
  if (failed)
    imap_reply(c, s, "NO", "[SERVERBUG] Could not store the flags");
  else if (gone)
    imap_reply(c, s, "OK",
               "[EXPUNGEISSUED] STORE completed; some messages were expunged meanwhile");
  else
    imap_reply(c, s, "OK", "%sSTORE completed", uid_cmd ? "UID " : "");
  goto done;

bad:
  imap_reply(c, s, "BAD", "%s (%sSTORE set +FLAGS (\\Seen))", q.err, uid_cmd ? "UID " : "");
done:
  sb_free(&b);
  imap_set_free(&set);
}

static void cmd_store(struct lab_conn *c, void *sv, char *args) {
  imap_store(c, sv, args, 0);
}

/* Ascending UIDs as a compact uid-set ("3:5,9"). */
static void sb_uid_set(struct imap_sb *b, const int64_t *uids, size_t n) {
  size_t i = 0, j;

  while (i < n) {
    for (j = i; j + 1 < n && uids[j + 1] == uids[j] + 1;) j++;
    if (j == i)
      sb_addf(b, "%s%lld", i ? "," : "", (long long)uids[i]);
    else
      sb_addf(b, "%s%lld:%lld", i ? "," : "", (long long)uids[i], (long long)uids[j]);
    i = j + 1;
  }
}

/* COPY, and MOVE (RFC 6851): copy, then expunge the originals. UIDPLUS
 * (RFC 4315) reports the new UIDs in COPYUID. */
static void imap_copy(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd,
                      int move) {
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  const char *verb = move ? "MOVE" : "COPY";
  struct imap_set set = {0};
  struct imap_sb b = {0}, src = {0}, dst = {0};
  char name[IMAP_MBOX_MAX + 1];
  struct db_mailbox mb;
  unsigned char *copied = NULL;
  int64_t *src_uids = NULL, *dst_uids = NULL;
  size_t i, count = 0, done_n = 0;
  int64_t bytes = 0;
  int valid, rc, failed = 0;
  int64_t star = uid_cmd ? (s->n_msgs ? s->msgs[s->n_msgs - 1].uid : 0) : (int64_t)s->n_msgs;

  if (p_set(&q, star, &set) != 0 || p_sp(&q) != 0 || p_mailbox(&q, name, &valid) != 0 ||
      p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%s%s set mailbox)", q.err, uid_cmd ? "UID " : "", verb);
    goto done;
  }
  if (!uid_cmd && set.max_explicit > (int64_t)s->n_msgs) {
    imap_reply(c, s, "BAD", "No such message: the mailbox holds %zu", s->n_msgs);
    goto done;
  }
  if (move && s->read_only) {
    imap_reply(c, s, "NO", "[READ-ONLY] The mailbox was opened with EXAMINE");
    goto done;
  }
  rc = valid ? db_mailbox_get(db, s->user.id, name, &mb) : 1;
  if (rc == 1) {
    imap_reply(c, s, "NO", "[TRYCREATE] There is no mailbox by that name");
    goto done;
  }
  copied = calloc(s->n_msgs + 1, 1);
  src_uids = calloc(s->n_msgs + 1, sizeof *src_uids);
  dst_uids = calloc(s->n_msgs + 1, sizeof *dst_uids);
  if (rc != 0 || !copied || !src_uids || !dst_uids || imap_sync(c, s, 0, &b) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    goto done;
  }
  for (i = 0; i < s->n_msgs; i++) {
    if (s->msgs[i].gone || !imap_set_has(&set, uid_cmd ? s->msgs[i].uid : (int64_t)i + 1)) continue;
    count++;
    bytes += (int64_t)s->msgs[i].size;
  }
  if (mb.messages + (int64_t)count > LIM_MAILBOX_MESSAGES) {
    imap_reply(c, s, "NO", "[OVERQUOTA] That would put more than %d messages in the mailbox",
               LIM_MAILBOX_MESSAGES);
    goto done;
  }
  /* A MOVE ends with the account holding what it held: only COPY adds. */
  if (!move && count) {
    rc = imap_over_quota(db, s->user.id, bytes);
    if (rc < 0) {
      imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
      goto done;
    }
    if (rc > 0) {
      lab_warn(c, "imap: COPY of %lld bytes refused: over the mail quota", (long long)bytes);
      imap_reply(c, s, "NO", "[OVERQUOTA] That would take your mail past the quota of %d bytes",
                 LIM_MAIL_QUOTA_BYTES);
      goto done;
    }
  }
  for (i = 0; i < s->n_msgs; i++) {
    struct imap_msg *m = &s->msgs[i];
    int64_t new_uid;
    if (m->gone || !imap_set_has(&set, uid_cmd ? m->uid : (int64_t)i + 1)) continue;
    rc = db_mail_copy(db, s->user.id, s->mbox, m->uid, name, &new_uid);
    if (rc == 1) {
      m->gone = 1;
      continue;
    }
    if (rc != 0) {
      failed = 1;
      break;
    }
    copied[i] = 1;
    src_uids[done_n] = m->uid;
    dst_uids[done_n] = new_uid;
    done_n++;
  }
  sb_uid_set(&src, src_uids, done_n);
  sb_uid_set(&dst, dst_uids, done_n);
  /* No COPYUID rather than a wrong or cut one (replies are short lines). */
  if (src.oom || dst.oom || src.n + dst.n > 400) done_n = 0;
  if (failed) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not copy every message");
    goto done;
  }
  if (move) {
    if (done_n)
      sb_addf(&b, "* OK [COPYUID %lld %s %s] Moved\r\n", (long long)mb.uidvalidity, src.p, dst.p);
    for (i = s->n_msgs; i-- > 0;) {
      if (!copied[i]) continue;
      if (db_mail_delete(db, s->user.id, s->mbox, s->msgs[i].uid) < 0) {
        failed = 1;
        break;
      }
      sb_addf(&b, "* %zu EXPUNGE\r\n", i + 1);
      memmove(&s->msgs[i], &s->msgs[i + 1], (s->n_msgs - i - 1) * sizeof s->msgs[0]);
      s->n_msgs--;
    }
  }
  imap_send_sb(c, &b);
  if (strcmp(name, s->mbox) == 0) imap_sync_send(c, s);
  if (failed)
    imap_reply(c, s, "NO", "[SERVERBUG] Could not remove every original");
  else if (done_n && !move)
    imap_reply(c, s, "OK", "[COPYUID %lld %s %s] %sCOPY completed", (long long)mb.uidvalidity,
               src.p, dst.p, uid_cmd ? "UID " : "");
  else
    imap_reply(c, s, "OK", "%s%s completed", uid_cmd ? "UID " : "", verb);

done:
  sb_free(&b);
  sb_free(&src);
  sb_free(&dst);
  free(copied);
  free(src_uids);
  free(dst_uids);
  imap_set_free(&set);
}

static void cmd_copy(struct lab_conn *c, void *sv, char *args) {
  imap_copy(c, sv, args, 0, 0);
}

static void cmd_move(struct lab_conn *c, void *sv, char *args) {
  imap_copy(c, sv, args, 0, 1);
}

/* --- SEARCH ----------------------------------------------------------------------- */

enum search_key {
  SK_ALL = 0,
  SK_NONE, /* KEYWORD: keywords are never kept */
  SK_AND,
  SK_OR,
  SK_NOT,
  SK_FLAG_SET,
  SK_FLAG_CLEAR,
  SK_RECENT,
  SK_NEW,
  SK_OLD,
  SK_SEQ,
  SK_UID,
  SK_LARGER,
  SK_SMALLER,
  SK_BEFORE,
  SK_ON,
  SK_SINCE,
  SK_SENTBEFORE,
  SK_SENTON,
  SK_SENTSINCE,
  SK_HEADER,
  SK_BODY,
  SK_TEXT
};

/* The search program is parsed once into a tree of nodes (indices, so
 * the array may grow), then run against every message. */
struct search_node {
  int key;
  int child, next; /* first operand; the following sibling; -1 = none */
  unsigned flag;
  int64_t num;       /* LARGER/SMALLER size, or a day number for dates */
  const char *field; /* HEADER's field name */
  size_t field_len;
  char *str; /* the string searched for, lower-cased in place */
  size_t len;
  struct imap_set set;
};

struct search {
  struct search_node *n;
  size_t count, cap;
};

static int search_new(struct imap_p *q, struct search *t, int key) {
  struct search_node *n;

  if (t->count == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    n = realloc(t->n, cap * sizeof *n);
    if (!n) return p_fail(q, "Out of memory");
    t->n = n;
    t->cap = cap;
  }
  n = &t->n[t->count];
  memset(n, 0, sizeof *n);
  n->key = key;
  n->child = n->next = -1;
  return (int)t->count++;
}

static void search_free(struct search *t) {
  size_t i;

  for (i = 0; i < t->count; i++) imap_set_free(&t->n[i].set);
  free(t->n);
}

/* date (RFC 3501 section 9): "1-Feb-1994", quoted or not; its day number. */
static int p_search_date(struct imap_p *q, int64_t *day) {
  char *s, buf[16], mon[4];
  size_t n;
  int d, y, used = 0, m;

  if (p_astring(q, &s, &n) != 0 || imap_cstr(buf, sizeof buf, s, n) != 0 ||
      sscanf(buf, "%2d-%3[A-Za-z]-%4d%n", &d, mon, &y, &used) != 3 || (size_t)used != n ||
      !(m = imap_month(mon)) || d < 1 || d > 31)
    return p_fail(q, "Invalid date (like 1-Feb-1994)");
  *day = imap_days(y, m, d);
  return 0;
}

static int p_search_string(struct imap_p *q, struct search_node *node) {
  size_t i;

  if (p_astring(q, &node->str, &node->len) != 0) return -1;
  for (i = 0; i < node->len; i++) node->str[i] = (char)tolower((unsigned char)node->str[i]);
  return 0;
}

static int p_search_key(struct imap_p *q, struct search *t, struct imap_session *s, int depth);

/* search-key *(SP search-key) up to ")" or the end: an AND node. */
static int p_search_list(struct imap_p *q, struct search *t, struct imap_session *s, int depth,
                         int parens) {
  int and = search_new(q, t, SK_AND), prev = -1, k;

  if (and < 0) return -1;
  for (;;) {
    k = p_search_key(q, t, s, depth);
    if (k < 0) return -1;
    if (prev < 0)
      t->n[and].child = k;
    else
      t->n[prev].next = k;
    prev = k;
    if (!p_peek(q, ' ')) break;
    q->p++;
  }
  if (parens) return p_char(q, ')', "Missing ) in the search program") == 0 ? and : -1;
  return and;
}

static int p_search_key(struct imap_p *q, struct search *t, struct imap_session *s, int depth) {
  static const struct {
    const char *name;
    int key;
    unsigned flag;
  } simple[] = {{"ALL", SK_ALL, 0},
                {"ANSWERED", SK_FLAG_SET, DB_MAIL_ANSWERED},
                {"DELETED", SK_FLAG_SET, DB_MAIL_DELETED},
                {"DRAFT", SK_FLAG_SET, DB_MAIL_DRAFT},
                {"FLAGGED", SK_FLAG_SET, DB_MAIL_FLAGGED},
                {"SEEN", SK_FLAG_SET, DB_MAIL_SEEN},
                {"UNANSWERED", SK_FLAG_CLEAR, DB_MAIL_ANSWERED},
                {"UNDELETED", SK_FLAG_CLEAR, DB_MAIL_DELETED},
                {"UNDRAFT", SK_FLAG_CLEAR, DB_MAIL_DRAFT},
                {"UNFLAGGED", SK_FLAG_CLEAR, DB_MAIL_FLAGGED},
                {"UNSEEN", SK_FLAG_CLEAR, DB_MAIL_SEEN},
                {"RECENT", SK_RECENT, 0},
                {"NEW", SK_NEW, 0},
                {"OLD", SK_OLD, 0}};
  static const struct {
    const char *name;
    int key;
  } dates[] = {{"BEFORE", SK_BEFORE},         {"ON", SK_ON},         {"SINCE", SK_SINCE},
               {"SENTBEFORE", SK_SENTBEFORE}, {"SENTON", SK_SENTON}, {"SENTSINCE", SK_SENTSINCE}};
  static const char *const headers[] = {"BCC", "CC", "FROM", "SUBJECT", "TO"};
  char *s_atom, up[16];
  size_t n, i;
  int k;

  if (depth > LIM_IMAP_SEARCH_DEPTH) return p_fail(q, "The search program is nested too deeply");
  if (!p_more(q)) return p_fail(q, "Search key expected");
  if (p_peek(q, '(')) {
    q->p++;
    return p_search_list(q, t, s, depth + 1, 1);
  }
  if (p_peek(q, '*') || (p_more(q) && isdigit((unsigned char)*q->p))) {
    k = search_new(q, t, SK_SEQ);
    if (k < 0 || p_set(q, (int64_t)s->n_msgs, &t->n[k].set) != 0) return -1;
    return k;
  }
  if (p_atom(q, &s_atom, &n) != 0) return p_fail(q, "Search key expected");
  imap_upper(up, sizeof up, s_atom, n);
  for (i = 0; i < sizeof simple / sizeof simple[0]; i++)
    if (strcmp(up, simple[i].name) == 0) {
      k = search_new(q, t, simple[i].key);
      if (k >= 0) t->n[k].flag = simple[i].flag;
      return k;
    }
  for (i = 0; i < sizeof dates / sizeof dates[0]; i++)
    if (strcmp(up, dates[i].name) == 0) {
      k = search_new(q, t, dates[i].key);
      if (k < 0 || p_sp(q) != 0 || p_search_date(q, &t->n[k].num) != 0) return -1;
      return k;
    }
  for (i = 0; i < sizeof headers / sizeof headers[0]; i++)
    if (strcmp(up, headers[i]) == 0) {
      k = search_new(q, t, SK_HEADER);
      if (k < 0 || p_sp(q) != 0 || p_search_string(q, &t->n[k]) != 0) return -1;
      t->n[k].field = headers[i];
      t->n[k].field_len = strlen(headers[i]);
      return k;
    }
  if (strcmp(up, "HEADER") == 0) {
    char *f;
    size_t fl;
    k = search_new(q, t, SK_HEADER);
    if (k < 0 || p_sp(q) != 0 || p_astring(q, &f, &fl) != 0 || p_sp(q) != 0 ||
        p_search_string(q, &t->n[k]) != 0)
      return -1;
    t->n[k].field = f;
    t->n[k].field_len = fl;
    return k;
  }
  if (strcmp(up, "BODY") == 0 || strcmp(up, "TEXT") == 0) {
    k = search_new(q, t, up[0] == 'B' ? SK_BODY : SK_TEXT);
    if (k < 0 || p_sp(q) != 0 || p_search_string(q, &t->n[k]) != 0) return -1;
    return k;
  }
  if (strcmp(up, "LARGER") == 0 || strcmp(up, "SMALLER") == 0) {
    k = search_new(q, t, up[0] == 'L' ? SK_LARGER : SK_SMALLER);
    if (k < 0 || p_sp(q) != 0 || p_digits(q, &t->n[k].num) != 0) return -1;
    return k;
  }
  if (strcmp(up, "KEYWORD") == 0 || strcmp(up, "UNKEYWORD") == 0) {
    k = search_new(q, t, up[0] == 'K' ? SK_NONE : SK_ALL);
    if (k < 0 || p_sp(q) != 0 || p_atom(q, &s_atom, &n) != 0) return -1;
    return k;
  }
  if (strcmp(up, "UID") == 0) {
    k = search_new(q, t, SK_UID);
    if (k < 0 || p_sp(q) != 0 ||
        p_set(q, s->n_msgs ? s->msgs[s->n_msgs - 1].uid : 0, &t->n[k].set) != 0)
      return -1;
    return k;
  }
  if (strcmp(up, "NOT") == 0) {
    int a;
    k = search_new(q, t, SK_NOT);
    if (k < 0 || p_sp(q) != 0 || (a = p_search_key(q, t, s, depth + 1)) < 0) return -1;
    t->n[k].child = a;
    return k;
  }
  if (strcmp(up, "OR") == 0) {
    int a, b;
    k = search_new(q, t, SK_OR);
    if (k < 0 || p_sp(q) != 0 || (a = p_search_key(q, t, s, depth + 1)) < 0 || p_sp(q) != 0 ||
        (b = p_search_key(q, t, s, depth + 1)) < 0)
      return -1;
    t->n[k].child = a;
    t->n[a].next = b;
    return k;
  }
  return p_fail(q, "Unknown search key");
}

/* One message while the program runs: its text is read (and a lower-cased
 * copy made) only when a key needs it. */
struct search_msg {
  struct lab_conn *c;
  struct imap_session *s;
  size_t index;
  char *body, *lower;
  size_t len, hlen;
  int loaded, failed;
};

static int search_load(struct search_msg *x) {
  unsigned char *body = NULL;
  size_t i, len = 0;
  int rc;

  if (x->loaded) return x->body ? 0 : -1;
  x->loaded = 1;
  rc = db_mail_get(lab_conn_ctx(x->c)->db, x->s->user.id, x->s->mbox, x->s->msgs[x->index].uid,
                   NULL, &body, &len);
  if (rc != 0 || !body) {
    if (rc != 1) x->failed = 1;
    return -1;
  }
  x->body = (char *)body;
  x->len = len;
  x->lower = malloc(len + 1);
  if (!x->lower) {
    x->failed = 1;
    free(x->body);
    x->body = NULL;
    return -1;
  }
  for (i = 0; i < len; i++) x->lower[i] = (char)tolower((unsigned char)x->body[i]);
  x->hlen = msg_header_len(x->body, len);
  return 0;
}

static int64_t imap_day_of(int64_t t) {
  return (t >= 0 ? t : t - 86399) / 86400;
}

/* The day of the Date: header ("Tue, 1 Jul 2003 10:52:37 +0200"); the
 * internal date's day when there is no usable one. */
static int64_t search_sent_day(struct search_msg *x) {
  char *v, *p, mon[4];
  int d, y, m;
  int64_t day = imap_day_of(x->s->msgs[x->index].date);

  if (search_load(x) != 0) return day;
  v = hdr_get(x->body, x->hlen, "Date");
  if (!v) return day;
  p = strchr(v, ',');
  p = p ? p + 1 : v;
  if (sscanf(p, " %2d %3[A-Za-z] %4d", &d, mon, &y) == 3 && (m = imap_month(mon)) && d >= 1 &&
      d <= 31) {
    if (y < 50)
      y += 2000;
    else if (y < 1000)
      y += 1900; /* obsolete two- and three-digit years, RFC 5322 section 4.3 */
    day = imap_days(y, m, d);
  }
  free(v);
  return day;
}

static int search_header(struct search_msg *x, const struct search_node *n) {
  struct hdr_iter it;
  const char *name, *field;
  size_t nl, fl, i;
  int found = 0;

  if (search_load(x) != 0) return 0;
  it.p = x->body;
  it.end = x->body + x->hlen;
  while (!found && hdr_next(&it, &name, &nl, &field, &fl)) {
    char *v;
    if (nl != n->field_len || strncasecmp(name, n->field, nl) != 0) continue;
    if (n->len == 0) return 1; /* HEADER field "": the field exists */
    v = hdr_unfold(field, fl, nl);
    if (!v) {
      x->failed = 1;
      return 0;
    }
    for (i = 0; v[i]; i++) v[i] = (char)tolower((unsigned char)v[i]);
    found = memmem(v, strlen(v), n->str, n->len) != NULL;
    free(v);
  }
  return found;
}

static int search_match(const struct search *t, int k, struct search_msg *x) {
  const struct search_node *n = &t->n[k];
  const struct imap_msg *m = &x->s->msgs[x->index];
  int c;

  switch (n->key) {
    case SK_ALL:
      return 1;
    case SK_NONE:
      return 0;
    case SK_AND:
      for (c = n->child; c >= 0; c = t->n[c].next)
        if (!search_match(t, c, x)) return 0;
      return 1;
    case SK_OR:
      return search_match(t, n->child, x) || search_match(t, t->n[n->child].next, x);
    case SK_NOT:
      return !search_match(t, n->child, x);
    case SK_FLAG_SET:
      return (m->flags & n->flag) != 0;
    case SK_FLAG_CLEAR:
      return (m->flags & n->flag) == 0;
    case SK_RECENT:
      return m->recent;
    case SK_NEW:
      return m->recent && !(m->flags & DB_MAIL_SEEN);
    case SK_OLD:
      return !m->recent;
    case SK_SEQ:
      return imap_set_has(&n->set, (int64_t)x->index + 1);
    case SK_UID:
      return imap_set_has(&n->set, m->uid);
    case SK_LARGER:
      return (int64_t)m->size > n->num;
    case SK_SMALLER:
      return (int64_t)m->size < n->num;
    case SK_BEFORE:
      return imap_day_of(m->date) < n->num;
    case SK_ON:
      return imap_day_of(m->date) == n->num;
    case SK_SINCE:
      return imap_day_of(m->date) >= n->num;
    case SK_SENTBEFORE:
      return search_sent_day(x) < n->num;
    case SK_SENTON:
      return search_sent_day(x) == n->num;
    case SK_SENTSINCE:
      return search_sent_day(x) >= n->num;
    case SK_HEADER:
      return search_header(x, n);
    case SK_BODY:
      return search_load(x) == 0 &&
             memmem(x->lower + x->hlen, x->len - x->hlen, n->str, n->len) != NULL;
    case SK_TEXT:
      return search_load(x) == 0 && memmem(x->lower, x->len, n->str, n->len) != NULL;
  }
  return 0;
}

static void imap_search(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd) {
  struct imap_p q = {args, s->args_end, NULL};
  struct search t = {0};
  struct imap_sb b = {0};
  char *cs;
  size_t n, i;
  int root, failed = 0;

  if (p_more(&q) && (q.end - q.p) > 8 && strncasecmp(q.p, "CHARSET ", 8) == 0) {
    q.p += 8;
    if (p_astring(&q, &cs, &n) != 0 || p_sp(&q) != 0) goto bad;
    if (!((n == 5 && strncasecmp(cs, "UTF-8", 5) == 0) ||
          (n == 8 && strncasecmp(cs, "US-ASCII", 8) == 0))) {
      imap_reply(c, s, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
      goto done;
    }
  }
  root = p_search_list(&q, &t, s, 0, 0);
  if (root < 0 || p_end(&q) != 0) goto bad;
  if (imap_sync(c, s, 0, &b) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    goto done;
  }
  sb_adds(&b, "* SEARCH");
  for (i = 0; i < s->n_msgs && !failed; i++) {
    struct search_msg x = {c, s, i, NULL, NULL, 0, 0, 0, 0};
    if (s->msgs[i].gone) continue;
    if (search_match(&t, root, &x)) {
      if (uid_cmd)
        sb_addf(&b, " %lld", (long long)s->msgs[i].uid);
      else
        sb_addf(&b, " %zu", i + 1);
    }
    failed = x.failed;
    free(x.body);
    free(x.lower);
  }
  sb_adds(&b, "\r\n");
  if (failed || b.oom) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read a message");
    goto done;
  }
  imap_send_sb(c, &b);
  imap_reply(c, s, "OK", "%sSEARCH completed", uid_cmd ? "UID " : "");
  goto done;

bad:
  imap_reply(c, s, "BAD", "%s (%sSEARCH keys, e.g. UNSEEN FROM \"alice\")", q.err,
             uid_cmd ? "UID " : "");
done:
  sb_free(&b);
  search_free(&t);
}

static void cmd_search(struct lab_conn *c, void *sv, char *args) {
  imap_search(c, sv, args, 0);
}

/* UID FETCH/STORE/SEARCH/COPY/MOVE/EXPUNGE: the same, with UIDs for numbers. */
static void cmd_uid(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char *verb, up[16];
  size_t n;

  if (p_atom(&q, &verb, &n) != 0 || (p_more(&q) && p_sp(&q) != 0)) {
    imap_reply(c, s, "BAD", "UID needs a command (FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE)");
    return;
  }
  imap_upper(up, sizeof up, verb, n);
  if (strcmp(up, "FETCH") == 0) {
    imap_fetch(c, s, q.p, 1);
  } else if (strcmp(up, "STORE") == 0) {
    imap_store(c, s, q.p, 1);
  } else if (strcmp(up, "SEARCH") == 0) {
    imap_search(c, s, q.p, 1);
  } else if (strcmp(up, "COPY") == 0) {
    imap_copy(c, s, q.p, 1, 0);
  } else if (strcmp(up, "MOVE") == 0) {
    imap_copy(c, s, q.p, 1, 1);
  } else if (strcmp(up, "EXPUNGE") == 0) { /* RFC 4315 */
    struct imap_set set;
    struct imap_sb b = {0};
    int rc;
    if (p_set(&q, s->n_msgs ? s->msgs[s->n_msgs - 1].uid : 0, &set) != 0 || p_end(&q) != 0) {
      imap_set_free(&set);
      imap_reply(c, s, "BAD", "%s (UID EXPUNGE set)", q.err);
      return;
    }
    if (s->read_only) {
      imap_set_free(&set);
      imap_reply(c, s, "NO", "[READ-ONLY] The mailbox was opened with EXAMINE");
      return;
    }
    rc = imap_sync(c, s, 1, &b);
    if (rc == 0) rc = imap_expunge(c, s, &set, &b);
    imap_send_sb(c, &b);
    sb_free(&b);
    imap_set_free(&set);
    if (rc != 0)
      imap_reply(c, s, "NO", "[SERVERBUG] Could not expunge");
    else
      imap_reply(c, s, "OK", "UID EXPUNGE completed");
  } else {
    imap_reply(c, s, "BAD", "UID works with FETCH, STORE, SEARCH, COPY, MOVE and EXPUNGE");
  }
}

/* --- the command table ----------------------------------------------------------- */

static const struct lab_cmd imap_cmds[] = {
    {"CAPABILITY", IMAP_ANY, cmd_capability, LAB_ARGS_ANY, NULL, NULL},
    {"NOOP", IMAP_ANY, cmd_noop, LAB_ARGS_ANY, NULL, NULL},
    {"LOGOUT", IMAP_ANY, cmd_logout, LAB_ARGS_ANY, NULL, NULL},
    {"ID", IMAP_ANY, cmd_id, LAB_ARGS_ANY, NULL, NULL},
    {"STARTTLS", LAB_IN(IMAP_NOAUTH), cmd_starttls, LAB_ARGS_ANY, NULL, NULL},
    {"LOGIN", LAB_IN(IMAP_NOAUTH), cmd_login, LAB_ARGS_ANY, NULL, NULL},
    {"AUTHENTICATE", LAB_IN(IMAP_NOAUTH), cmd_authenticate, LAB_ARGS_ANY, NULL, NULL},
    {"SELECT", IMAP_AUTHED, cmd_select, LAB_ARGS_ANY, NULL, NULL},
    {"EXAMINE", IMAP_AUTHED, cmd_examine, LAB_ARGS_ANY, NULL, NULL},
    {"CREATE", IMAP_AUTHED, cmd_create, LAB_ARGS_ANY, NULL, NULL},
    {"DELETE", IMAP_AUTHED, cmd_delete, LAB_ARGS_ANY, NULL, NULL},
    {"SUBSCRIBE", IMAP_AUTHED, cmd_subscribe, LAB_ARGS_ANY, NULL, NULL},
    {"UNSUBSCRIBE", IMAP_AUTHED, cmd_unsubscribe, LAB_ARGS_ANY, NULL, NULL},
    {"LIST", IMAP_AUTHED, cmd_list, LAB_ARGS_ANY, NULL, NULL},
    {"LSUB", IMAP_AUTHED, cmd_lsub, LAB_ARGS_ANY, NULL, NULL},
    {"STATUS", IMAP_AUTHED, cmd_status, LAB_ARGS_ANY, NULL, NULL},
    {"APPEND", IMAP_AUTHED, cmd_append, LAB_ARGS_ANY, NULL, NULL},
    {"CHECK", LAB_IN(IMAP_SELECTED), cmd_check, LAB_ARGS_ANY, NULL, NULL},
    {"CLOSE", LAB_IN(IMAP_SELECTED), cmd_close, LAB_ARGS_ANY, NULL, NULL},
    {"UNSELECT", LAB_IN(IMAP_SELECTED), cmd_unselect, LAB_ARGS_ANY, NULL, NULL},
    {"EXPUNGE", LAB_IN(IMAP_SELECTED), cmd_expunge, LAB_ARGS_ANY, NULL, NULL},
    {"SEARCH", LAB_IN(IMAP_SELECTED), cmd_search, LAB_ARGS_ANY, NULL, NULL},
    {"FETCH", LAB_IN(IMAP_SELECTED), cmd_fetch, LAB_ARGS_ANY, NULL, NULL},
    {"STORE", LAB_IN(IMAP_SELECTED), cmd_store, LAB_ARGS_ANY, NULL, NULL},
    {"COPY", LAB_IN(IMAP_SELECTED), cmd_copy, LAB_ARGS_ANY, NULL, NULL},
    {"MOVE", LAB_IN(IMAP_SELECTED), cmd_move, LAB_ARGS_ANY, NULL, NULL},
    {"UID", LAB_IN(IMAP_SELECTED), cmd_uid, LAB_ARGS_ANY, NULL, NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* The text of a tagged BAD for a command the table refuses. */
static const char *imap_refusal_text(const struct imap_session *s, enum lab_refusal why,
                                     const struct lab_cmd *row) {
  switch (why) {
    case LAB_REFUSE_EMPTY:
      return "Missing command";
    case LAB_REFUSE_STATE:
      if (s->state == IMAP_NOAUTH) return "Log in first (LOGIN user password)";
      if (row->states == LAB_IN(IMAP_NOAUTH)) return "Already logged in";
      return "No mailbox selected (SELECT or EXAMINE one first)";
    case LAB_REFUSE_NUL:
      return "NUL bytes are not allowed in commands";
    default:
      return "Unknown command";
  }
}

static void imap_cmd_refused(struct lab_conn *c, void *sv, enum lab_refusal why, const char *verb,
                             const struct lab_cmd *row) {
  struct imap_session *s = sv;
  imap_reply(c, s, "BAD", "%s", imap_refusal_text(s, why, row));
}

/* Commands match case-insensitively (RFC 9051 section 4); the tag, the
 * verb's syntax and literals are read here before the table is asked. */
static const struct lab_cmd_set imap_commands = {imap_cmds, 0, imap_cmd_refused, NULL};

static int imap_tag_char(unsigned char ch) {
  return imap_astring_char(ch) && ch != '+';
}

/* The tag's length if the command starts with a valid tag and a space
 * (or ends after it), else 0. */
static size_t imap_tag_len(const char *p, size_t n) {
  size_t i = 0;

  while (i < n && imap_tag_char((unsigned char)p[i])) i++;
  if (i == 0 || (i < n && p[i] != ' ')) return 0;
  return i;
}

/* Reads the verb after the tag into name (IMAP_VERB_MAX bytes) and sets
 * *args; -1 with the reason when there is no valid verb. */
static int imap_verb(struct imap_session *s, char *name, char **args, const char **why) {
  char *p = s->cmd + s->tag_len, *end = s->cmd + s->cmd_len, *verb;

  if (p == end || ++p == end) {
    *why = "Missing command";
    return -1;
  }
  verb = p;
  while (p < end && isalpha((unsigned char)*p)) p++;
  if (p == verb || (size_t)(p - verb) >= IMAP_VERB_MAX || (p < end && *p != ' ')) {
    *why = "Unknown command";
    return -1;
  }
  memcpy(name, verb, (size_t)(p - verb));
  name[p - verb] = '\0';
  *args = p < end ? p + 1 : p;
  return 0;
}

/* Finds the command's row and its arguments; NULL with the reason (and
 * whether to answer BAD) when it cannot run in this state. */
static const struct lab_cmd *imap_find(struct imap_session *s, char **args, const char **why) {
  char name[IMAP_VERB_MAX];
  const struct lab_cmd *row;
  enum lab_refusal refusal;

  if (imap_verb(s, name, args, why) != 0) return NULL;
  if (lab_cmd_match(&imap_commands, (int)s->state, name, &row, &refusal) != 0) {
    *why = imap_refusal_text(s, refusal, row);
    return NULL;
  }
  return row;
}

static void imap_cmd_reset(struct imap_session *s) {
  s->cmd_len = s->line_bytes = s->literal_bytes = s->tag_len = 0;
  s->in_command = 0;
  s->lit_left = 0;
  /* A big APPEND's buffer is not kept for the rest of the session. */
  if (s->cmd_cap > LIM_IMAP_LINE) {
    free(s->cmd);
    s->cmd = NULL;
    s->cmd_cap = 0;
  }
}

static int imap_cmd_reserve(struct imap_session *s, size_t more) {
  size_t cap = s->cmd_cap ? s->cmd_cap : 256;
  char *p;

  if (s->cmd_len + more + 1 <= s->cmd_cap) return 0;
  while (cap < s->cmd_len + more + 1) cap *= 2;
  p = realloc(s->cmd, cap);
  if (!p) return -1;
  s->cmd = p;
  s->cmd_cap = cap;
  return 0;
}

static void imap_cmd_add(struct imap_session *s, const void *p, size_t n) {
  memcpy(s->cmd + s->cmd_len, p, n);
  s->cmd_len += n;
  s->cmd[s->cmd_len] = '\0';
}

/* A line ending in "{n}" or "{n+}" announces a literal: 1 with its size
 * and kind; 0 if there is none; -1 if the braces hold no valid number. */
static int imap_literal_suffix(const char *line, size_t len, size_t *n, int *sync) {
  size_t i, digits_end;
  int64_t v = 0;

  *sync = 1;
  if (len < 2 || line[len - 1] != '}') return 0;
  i = len - 1;
  if (line[i - 1] == '+') {
    *sync = 0;
    i--;
  }
  digits_end = i;
  while (i > 0 && isdigit((unsigned char)line[i - 1])) i--;
  if (i == 0 || line[i - 1] != '{') return 0;
  if (i == digits_end || digits_end - i > 10) return -1;
  for (; i < digits_end; i++) v = v * 10 + (line[i] - '0');
  if (v > IMAP_NUMBER_MAX) return -1;
  *n = (size_t)v;
  return 1;
}

/* Throws away what is left of a refused command. Its reply has gone out;
 * a non-synchronising literal's bytes are on their way and are read and
 * dropped; a synchronising one never comes, since no "+" was sent. */
static void imap_refuse(struct lab_conn *c, struct imap_session *s, int lit, size_t n, int sync,
                        const char *status, const char *text) {
  imap_reply(c, s, status, "%s", text);
  imap_cmd_reset(s);
  if (s->closing) return;
  if (lit == 1 && !sync) {
    s->skipping = 1;
    s->skip_left = n;
    if (n) lab_read_bytes(c, n);
  } else if (lit == -1 && !sync) {
    lab_printf(c,
               "* BYE A literal without a usable size leaves no way to find the next command\r\n");
    imap_close(c, s);
  }
}

static void imap_dispatch(struct lab_conn *c, struct imap_session *s) {
  char name[IMAP_VERB_MAX];
  const char *why;
  char *args;

  if (s->cmd_len == 0) {
    imap_reply(c, s, "BAD", "Empty command line");
    return;
  }
  if (s->tag_len == 0) {
    imap_reply(c, s, "BAD", "Invalid tag (a tag is letters and digits, like a001)");
    return;
  }
  if (imap_verb(s, name, &args, &why) != 0) {
    imap_reply(c, s, "BAD", "%s", why);
    return;
  }
  s->args_end = s->cmd + s->cmd_len;
  lab_cmd_dispatch_verb(c, s, &imap_commands, (int)s->state, name, args, 0);
}

static void imap_on_line(struct lab_conn *c, void *sv, char *line, size_t len,
                         enum lab_line_end end) {
  struct imap_session *s = sv;
  char text[160];
  const char *why;
  char *args;
  size_t n = 0, cap;
  int sync = 1, lit;

  if (s->closing) return;
  if (s->sasl_pending) {
    imap_sasl_line(c, s, line, len);
    if (!s->sasl_pending) imap_cmd_reset(s);
    return;
  }
  lit = imap_literal_suffix(line, len, &n, &sync);
  if (s->skipping) { /* the rest of a refused command */
    if (lit == 1 && !sync) {
      s->skip_left = n;
      if (n) lab_read_bytes(c, n);
    } else {
      s->skipping = 0;
      if (lit == -1 && !sync) {
        lab_printf(
            c, "* BYE A literal without a usable size leaves no way to find the next command\r\n");
        imap_close(c, s);
      }
    }
    return;
  }
  if (s->line_bytes + len + 2 > LIM_IMAP_LINE) {
    imap_refuse(c, s, lit, n, sync, "BAD", "Command too long");
    return;
  }
  if (imap_cmd_reserve(s, len + 2) != 0) {
    lab_printf(c, "* BYE Out of memory\r\n");
    imap_close(c, s);
    return;
  }
  imap_cmd_add(s, line, len);
  s->line_bytes += len + 2;
  if (!s->in_command) s->tag_len = imap_tag_len(s->cmd, s->cmd_len);
  if (strlen(line) != len) {
    lab_warn(c, "NUL byte in a command");
    imap_refuse(c, s, lit, n, sync, "BAD", "NUL bytes are not allowed in commands");
    return;
  }
  if (lit == 0) {
    imap_dispatch(c, s);
    if (!s->sasl_pending) imap_cmd_reset(s);
    return;
  }
  if (lit < 0) {
    imap_refuse(c, s, lit, n, sync, "BAD", "Invalid literal size");
    return;
  }
  /* Checked before the "+": a client told no never sends the bytes. */
  if (s->tag_len == 0) {
    imap_refuse(c, s, lit, n, sync, "BAD", "Invalid tag (a tag is letters and digits, like a001)");
    return;
  }
  if (!imap_find(s, &args, &why)) {
    imap_refuse(c, s, lit, n, sync, "BAD", why);
    return;
  }
  cap = s->state == IMAP_NOAUTH ? LIM_IMAP_PREAUTH_LITERAL_BYTES : LIM_IMAP_LITERAL_BYTES;
  if (n > cap || s->literal_bytes + n > cap) {
    lab_warn(c, "refused a literal of %zu bytes", n);
    snprintf(text, sizeof text, "[TOOBIG] A literal may hold at most %zu bytes%s", cap,
             s->state == IMAP_NOAUTH ? " before login" : "");
    imap_refuse(c, s, lit, n, sync, "NO", text);
    return;
  }
  if (imap_cmd_reserve(s, 2 + n) != 0) {
    imap_refuse(c, s, lit, n, sync, "NO", "[SERVERBUG] Out of memory");
    return;
  }
  imap_cmd_add(s, "\r\n", 2);
  s->literal_bytes += n;
  s->in_command = 1;
  if (sync) lab_printf(c, "+ Ready for %zu bytes\r\n", n);
  if (n) {
    s->lit_left = n;
    lab_read_bytes(c, n);
  }
}

static void imap_on_data(struct lab_conn *c, void *sv, const unsigned char *p, size_t n) {
  struct imap_session *s = sv;

  if (s->skip_left) {
    s->skip_left -= n < s->skip_left ? n : s->skip_left;
    return;
  }
  if (n > s->lit_left) n = s->lit_left; /* never more than was announced and reserved */
  imap_cmd_add(s, p, n);
  s->lit_left -= n;
}

static int imap_on_accept(struct lab_conn *c, void *sv) {
  struct imap_session *s = sv;
  struct imap_sb b = {0};

  imap_set_state(s, IMAP_NOAUTH);
  sb_adds(&b, "* OK [CAPABILITY ");
  imap_capabilities(c, &b, IMAP_NOAUTH);
  sb_adds(&b, "] portlab IMAP ready; log in with your lab name and password\r\n");
  imap_send_sb(c, &b);
  sb_free(&b);
  return b.oom ? -1 : 0;
}

static void imap_on_overlong(struct lab_conn *c, void *sv) {
  lab_printf(c, "* BAD Line too long (the limit is %d bytes)\r\n", LIM_IMAP_LINE);
  lab_printf(c, "* BYE Closing the connection\r\n");
}

static void imap_on_timeout(struct lab_conn *c, void *sv) {
  lab_printf(c, "* BYE Idle for too long, closing the connection\r\n");
}

static void imap_on_close(struct lab_conn *c, void *sv) {
  struct imap_session *s = sv;

  free(s->cmd);
  s->cmd = NULL;
  imap_set_state(s, IMAP_NOAUTH);
}

const struct lab_module lab_imap = {
    .name = "imap",
    .well_known_port = 143,
    .line_max = LIM_IMAP_LINE,
    .session_size = sizeof(struct imap_session),
    .idle_secs = LIM_LAB_IDLE_SECS,
    .on_accept = imap_on_accept,
    .on_line = imap_on_line,
    .on_data = imap_on_data,
    .on_overlong = imap_on_overlong,
    .on_timeout = imap_on_timeout,
    .on_close = imap_on_close,
};
