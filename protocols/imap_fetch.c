/* imap_fetch.c -- FETCH and its data items for the lab IMAP server.
 *
 * RFC 3501 section 6.4.5 and 7.4.2: FLAGS, UID, RFC822.SIZE, INTERNALDATE,
 * ENVELOPE, BODY and BODYSTRUCTURE, BODY[section]<partial> and BODY.PEEK,
 * RFC822, RFC822.HEADER, RFC822.TEXT and the macros ALL, FAST and FULL.
 * Messages are read as RFC 5322 text: header fields are unfolded for
 * ENVELOPE, address lists are split per RFC 5322 section 3.4. Fetching a
 * message's text sets \Seen unless the mailbox is read-only.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_int.h"
#include "lab.h"
#include "labdb.h"
#include "mailmsg.h"
#include "portlab_limits.h"

/* --- ENVELOPE and BODYSTRUCTURE (RFC 3501 section 7.4.2) ---------------------- */

/* A display name as an nstring; NIL when there is none. */
static void sb_display_name(struct imap_sb *b, const char *p, const char *end) {
  char *name;
  size_t n;

  if (mailmsg_display_name(p, end, &name, &n) != 0) {
    b->oom = 1;
    return;
  }
  if (!name) {
    imap_sb_adds(b, "NIL");
    return;
  }
  imap_sb_nstring(b, name, n);
  free(name);
}

/* One address as "(NAME ADL MAILBOX HOST)". */
static void sb_address(struct imap_sb *b, const struct mailmsg_addr *a) {
  struct mailmsg_spec spec;

  if (mailmsg_addr_spec(a->spec, a->spec_end, &spec) != 0) {
    b->oom = 1;
    return;
  }
  imap_sb_add(b, "(", 1);
  if (a->name)
    sb_display_name(b, a->name, a->name_end);
  else
    imap_sb_adds(b, "NIL");
  imap_sb_add(b, " ", 1);
  if (spec.adl)
    imap_sb_nstring(b, spec.adl, spec.adl_len);
  else
    imap_sb_adds(b, "NIL");
  imap_sb_add(b, " ", 1);
  imap_sb_nstring(b, spec.local, spec.local_len);
  imap_sb_add(b, " ", 1);
  imap_sb_cstring(b, spec.domain ? spec.domain : "");
  imap_sb_add(b, ")", 1);
  free(spec.buf);
}

struct sb_addr_list {
  struct imap_sb *b;
  int any;
};

/* Groups are marked the RFC 3501 way: (NIL NIL name NIL) before their
 * addresses, (NIL NIL NIL NIL) after them. */
static void sb_address_cb(void *arg, const struct mailmsg_addr *a) {
  struct sb_addr_list *l = arg;

  if (a->kind == MAILMSG_GROUP_START) {
    imap_sb_adds(l->b, l->any ? " (NIL NIL " : "((NIL NIL ");
    l->any = 1;
    sb_display_name(l->b, a->name, a->name_end);
    imap_sb_adds(l->b, " NIL)");
  } else if (a->kind == MAILMSG_GROUP_END) {
    imap_sb_adds(l->b, " (NIL NIL NIL NIL)");
  } else {
    imap_sb_adds(l->b, l->any ? " " : "(");
    l->any = 1;
    sb_address(l->b, a);
  }
}

/* An address list as IMAP's list of addresses; NIL if it holds no address. */
static void sb_address_list(struct imap_sb *b, const char *v) {
  struct sb_addr_list l = {b, 0};

  mailmsg_addr_list(v, sb_address_cb, &l);
  imap_sb_adds(b, l.any ? ")" : "NIL");
}

/* ENVELOPE; sender and reply-to default to from. */
static void sb_envelope(struct imap_sb *b, const char *hdr, size_t hlen) {
  static const char *const names[] = {"Date", "Subject", "From", "Sender",      "Reply-To",
                                      "To",   "Cc",      "Bcc",  "In-Reply-To", "Message-ID"};
  char *v[10];
  size_t i;

  for (i = 0; i < 10; i++) v[i] = mailmsg_get(hdr, hlen, names[i]);
  imap_sb_add(b, "(", 1);
  imap_sb_cstring(b, v[0]);
  imap_sb_add(b, " ", 1);
  imap_sb_cstring(b, v[1]);
  for (i = 2; i < 8; i++) {
    const char *val = v[i];
    if ((i == 3 || i == 4) && (!val || !*val)) val = v[2];
    imap_sb_add(b, " ", 1);
    sb_address_list(b, val);
  }
  imap_sb_add(b, " ", 1);
  imap_sb_cstring(b, v[8]);
  imap_sb_add(b, " ", 1);
  imap_sb_cstring(b, v[9]);
  imap_sb_add(b, ")", 1);
  for (i = 0; i < 10; i++) free(v[i]);
}

/* A one-part body structure from Content-Type and Content-Transfer-Encoding.
 * Multipart and message/rfc822 bodies are described as plain text: the
 * lab's clients read them whole. */
static void sb_body_structure(struct imap_sb *b, const char *msg, size_t len, size_t hlen,
                              int extended) {
  struct mailmsg_mime mime;
  size_t i, lines = 0;

  mailmsg_mime(msg, hlen, &mime);
  if (strcmp(mime.type, "MULTIPART") == 0 || strcmp(mime.type, "MESSAGE") == 0) {
    snprintf(mime.type, sizeof mime.type, "TEXT");
    snprintf(mime.sub, sizeof mime.sub, "PLAIN");
  }
  for (i = hlen; i < len; i++) lines += msg[i] == '\n';
  imap_sb_addf(b, "(\"%s\" \"%s\" ", mime.type, mime.sub);
  if (mime.charset[0]) {
    imap_sb_adds(b, "(\"CHARSET\" ");
    imap_sb_cstring(b, mime.charset);
    imap_sb_adds(b, ")");
  } else {
    imap_sb_adds(b, "NIL");
  }
  imap_sb_addf(b, " NIL NIL \"%s\" %zu", mime.enc, len - hlen);
  if (strcmp(mime.type, "TEXT") == 0) imap_sb_addf(b, " %zu", lines);
  if (extended) imap_sb_adds(b, " NIL NIL NIL NIL");
  imap_sb_add(b, ")", 1);
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

  if (imap_p_char(q, '[', "Missing [") != 0) return -1;
  it->sec = FS_ALL;
  if (!imap_p_peek(q, ']')) {
    if (imap_p_span(q, imap_name_char, &s, &n) != 0) return -1;
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
      return imap_p_fail(q, "Unknown section (HEADER, TEXT, HEADER.FIELDS (...), 1)");
    strcpy(it->spec, up);
    if (it->sec == FS_FIELDS || it->sec == FS_FIELDS_NOT) {
      if (imap_p_sp(q) != 0 || imap_p_char(q, '(', "Missing ( before the header field names") != 0)
        return -1;
      strcpy(it->fields, " ");
      used = 1;
      for (;;) {
        if (imap_p_astring(q, &s, &n) != 0) return -1;
        if (n == 0 || used + n + 1 >= sizeof it->fields)
          return imap_p_fail(q, "Invalid or too many field names");
        for (i = 0; i < n; i++) {
          if (!imap_field_char((unsigned char)s[i]))
            return imap_p_fail(q, "Invalid header field name");
          it->fields[used++] = (char)toupper((unsigned char)s[i]);
        }
        it->fields[used++] = ' ';
        it->fields[used] = '\0';
        if (!imap_p_peek(q, ' ')) break;
        q->p++;
      }
      if (imap_p_char(q, ')', "Missing ) after the header field names") != 0) return -1;
      if (strlen(it->spec) + used + 3 >= sizeof it->spec)
        return imap_p_fail(q, "Too many field names");
      snprintf(it->spec + strlen(it->spec), sizeof it->spec - strlen(it->spec), " (%.*s)",
               (int)(used - 2), it->fields + 1);
    }
  }
  if (imap_p_char(q, ']', "Missing ] after the section") != 0) return -1;
  if (imap_p_peek(q, '<')) {
    q->p++;
    if (imap_p_digits(q, &it->origin) != 0 ||
        imap_p_char(q, '.', "Missing . in <origin.count>") != 0 ||
        imap_p_digits(q, &it->count) != 0 ||
        imap_p_char(q, '>', "Missing > after <origin.count>") != 0)
      return -1;
    if (it->count == 0) return imap_p_fail(q, "A partial fetch needs a count of at least 1");
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
  if (imap_p_span(q, imap_name_char, &s, &n) != 0) return imap_p_fail(q, "Fetch item expected");
  imap_upper(up, sizeof up, s, n);
  for (i = 0; i < sizeof atts / sizeof atts[0]; i++)
    if (strcmp(up, atts[i].name) == 0) {
      it->att = atts[i].att;
      return 0;
    }
  if (strcmp(up, "BODY") == 0 && !imap_p_peek(q, '[')) {
    it->att = FA_BODY;
    return 0;
  }
  if (strcmp(up, "BODY") == 0 || strcmp(up, "BODY.PEEK") == 0) {
    it->att = FA_SECTION;
    it->peek = up[4] == '.';
    return fetch_section(q, it);
  }
  return imap_p_fail(q, "Unknown fetch item");
}

/* fetch-att, "(" fetch-att *(SP fetch-att) ")", or one of the macros ALL, FAST, FULL. */
static int fetch_parse(struct imap_p *q, struct fetch_item *items, size_t *n) {
  static const int all[] = {FA_FLAGS, FA_INTERNALDATE, FA_SIZE, FA_ENVELOPE, FA_BODY};
  char *start = q->p, *s, up[8];
  size_t len, i, k = 0;

  *n = 0;
  if (imap_p_peek(q, '(')) {
    q->p++;
    for (;;) {
      if (*n >= LIM_IMAP_FETCH_ITEMS) return imap_p_fail(q, "Too many fetch items");
      if (fetch_att(q, &items[(*n)++]) != 0) return -1;
      if (!imap_p_peek(q, ' ')) break;
      q->p++;
    }
    return imap_p_char(q, ')', "Missing ) after the fetch items");
  }
  if (imap_p_span(q, imap_name_char, &s, &len) == 0) {
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
  struct mailmsg_fields iter = {hdr, hdr + hlen};
  const char *name, *field;
  size_t nl, fl;

  while (mailmsg_field_next(&iter, &name, &nl, &field, &fl)) {
    if (nl == 0) continue; /* the empty line, or a line that is no field */
    if (fetch_field_listed(it->fields, name, nl) == (it->sec == FS_FIELDS))
      imap_sb_add(out, field, fl);
  }
  imap_sb_add(out, "\r\n", 2);
}

static void fetch_literal(struct imap_sb *b, const char *p, size_t n, const struct fetch_item *it) {
  if (it->partial) {
    size_t origin = (size_t)it->origin, count = (size_t)it->count;
    if (origin > n) origin = n;
    if (count > n - origin) count = n - origin;
    p += origin;
    n = count;
  }
  imap_sb_addf(b, "{%zu}\r\n", n);
  imap_sb_add(b, p, n);
}

static void fetch_out(struct imap_sb *b, const struct fetch_item *it, const struct imap_msg *m,
                      const char *msg, size_t len) {
  size_t hlen = msg ? mailmsg_header_len(msg, len) : 0;
  struct imap_sb part = {0};
  const char *text;

  switch (it->att) {
    case FA_FLAGS:
      imap_sb_adds(b, "FLAGS ");
      imap_flags_str(b, m->flags, m->recent);
      break;
    case FA_UID:
      imap_sb_addf(b, "UID %lld", (long long)m->uid);
      break;
    case FA_SIZE:
      imap_sb_addf(b, "RFC822.SIZE %zu", msg ? len : m->size);
      break;
    case FA_INTERNALDATE:
      imap_sb_adds(b, "INTERNALDATE ");
      imap_date_time(b, m->date);
      break;
    case FA_ENVELOPE:
      imap_sb_adds(b, "ENVELOPE ");
      sb_envelope(b, msg, hlen);
      break;
    case FA_BODY:
    case FA_BODYSTRUCTURE:
      imap_sb_adds(b, it->att == FA_BODY ? "BODY " : "BODYSTRUCTURE ");
      sb_body_structure(b, msg, len, hlen, it->att == FA_BODYSTRUCTURE);
      break;
    case FA_RFC822:
      imap_sb_adds(b, "RFC822 ");
      fetch_literal(b, msg, len, it);
      break;
    case FA_RFC822_HEADER:
      imap_sb_adds(b, "RFC822.HEADER ");
      fetch_literal(b, msg, hlen, it);
      break;
    case FA_RFC822_TEXT:
      imap_sb_adds(b, "RFC822.TEXT ");
      fetch_literal(b, msg + hlen, len - hlen, it);
      break;
    case FA_SECTION:
      imap_sb_addf(b, "BODY[%s]", it->spec);
      if (it->partial) imap_sb_addf(b, "<%lld>", (long long)it->origin);
      imap_sb_add(b, " ", 1);
      if (it->sec == FS_ALL) {
        fetch_literal(b, msg, len, it);
      } else if (it->sec == FS_HEADER) {
        fetch_literal(b, msg, hlen, it);
      } else if (it->sec == FS_TEXT) {
        fetch_literal(b, msg + hlen, len - hlen, it);
      } else if (it->sec == FS_NIL) {
        imap_sb_adds(b, "NIL");
      } else {
        fetch_fields(&part, msg, hlen, it);
        text = imap_sb_str(&part);
        if (!text)
          b->oom = 1;
        else
          fetch_literal(b, text, imap_sb_len(&part), it);
      }
      break;
  }
  imap_sb_free(&part);
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

  if (!items) {
    imap_reply(c, s, "NO", "[SERVERBUG] Out of memory");
    return;
  }
  if (imap_p_set(&q, imap_star(s, uid_cmd), &set) != 0 || imap_p_sp(&q) != 0 ||
      fetch_parse(&q, items, &n) != 0 || imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%sFETCH set items)", q.err, uid_cmd ? "UID " : "");
    goto done;
  }
  if (imap_msgs_ready(c, s, &set, uid_cmd, 0, &b) != 0) goto done;
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
    imap_sb_addf(&b, "* %zu FETCH (", i + 1);
    if (want_uid) {
      imap_sb_addf(&b, "UID %lld", (long long)m->uid);
      first = 0;
    }
    /* RFC 3501 section 6.4.5: setting \Seen is reported with the data. */
    if (seen_now && !want_flags) {
      imap_sb_adds(&b, first ? "FLAGS " : " FLAGS ");
      imap_flags_str(&b, m->flags, m->recent);
      first = 0;
    }
    for (k = 0; k < n; k++) {
      if (items[k].att == FA_UID) continue;
      if (!first) imap_sb_add(&b, " ", 1);
      first = 0;
      fetch_out(&b, &items[k], m, (const char *)body, len);
    }
    imap_sb_adds(&b, ")\r\n");
    free(body);
    if (b.oom) {
      if (b.full)
        limit = 1;
      else
        failed = 1;
      break;
    }
    imap_send_sb(c, &b);
    imap_sb_clear(&b);
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
  imap_sb_free(&b);
  imap_set_free(&set);
  free(items);
}
