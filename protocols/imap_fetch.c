/* imap_fetch.c -- FETCH and its data items for the lab IMAP server.
 *
 * RFC 3501 section 6.4.5 and 7.4.2: FLAGS, UID, RFC822.SIZE, INTERNALDATE,
 * ENVELOPE, BODY and BODYSTRUCTURE, BODY[section]<partial> and BODY.PEEK,
 * RFC822, RFC822.HEADER, RFC822.TEXT and the macros ALL, FAST and FULL.
 * Messages are read as RFC 5322 text: header fields are unfolded for
 * ENVELOPE, address lists are split per RFC 5322 section 3.4. Fetching a
 * message's text sets \Seen unless the mailbox is read-only.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_int.h"
#include "lab.h"
#include "labdb.h"
#include "portlab_limits.h"

/* --- reading stored messages (RFC 5322) ---------------------------------------- */

/* Bytes of the header, the empty line that ends it included; the whole
 * message if there is no empty line (then the text is empty). */
size_t msg_header_len(const char *m, size_t n) {
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
int hdr_next(struct hdr_iter *it, const char **name, size_t *name_len, const char **field,
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
char *hdr_unfold(const char *field, size_t len, size_t name_len) {
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
char *hdr_get(const char *hdr, size_t hlen, const char *name) {
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

void imap_fetch(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd) {
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
