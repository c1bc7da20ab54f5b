/* imap_search.c -- SEARCH for the lab IMAP server (RFC 3501 section 6.4.4).
 *
 * The search program is parsed once into a tree of nodes, then run against
 * every message of the snapshot. A message's text is read from the store
 * only when a key needs it (HEADER, BODY, TEXT, the SENT* dates).
 */
#define _GNU_SOURCE /* memmem: a linear-time substring search */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "imap_int.h"
#include "lab.h"
#include "labdb.h"
#include "mailmsg.h"
#include "portlab_limits.h"

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

  n = buf_array_room(t->n, t->count, &t->cap, 16, sizeof *n);
  if (!n) return imap_p_fail(q, "Out of memory");
  t->n = n;
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

  if (imap_p_astring(q, &s, &n) != 0 || imap_cstr(buf, sizeof buf, s, n) != 0 ||
      sscanf(buf, "%2d-%3[A-Za-z]-%4d%n", &d, mon, &y, &used) != 3 || (size_t)used != n ||
      !(m = mailmsg_month(mon)) || d < 1 || d > 31)
    return imap_p_fail(q, "Invalid date (like 1-Feb-1994)");
  *day = mailmsg_days(y, m, d);
  return 0;
}

static int p_search_string(struct imap_p *q, struct search_node *node) {
  size_t i;

  if (imap_p_astring(q, &node->str, &node->len) != 0) return -1;
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
    if (!imap_p_peek(q, ' ')) break;
    q->p++;
  }
  if (parens) return imap_p_char(q, ')', "Missing ) in the search program") == 0 ? and : -1;
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

  if (depth > LIM_IMAP_SEARCH_DEPTH)
    return imap_p_fail(q, "The search program is nested too deeply");
  if (!imap_p_more(q)) return imap_p_fail(q, "Search key expected");
  if (imap_p_peek(q, '(')) {
    q->p++;
    return p_search_list(q, t, s, depth + 1, 1);
  }
  if (imap_p_peek(q, '*') || (imap_p_more(q) && isdigit((unsigned char)*q->p))) {
    k = search_new(q, t, SK_SEQ);
    if (k < 0 || imap_p_set(q, imap_star(s, 0), &t->n[k].set) != 0) return -1;
    return k;
  }
  if (imap_p_atom(q, &s_atom, &n) != 0) return imap_p_fail(q, "Search key expected");
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
      if (k < 0 || imap_p_sp(q) != 0 || p_search_date(q, &t->n[k].num) != 0) return -1;
      return k;
    }
  for (i = 0; i < sizeof headers / sizeof headers[0]; i++)
    if (strcmp(up, headers[i]) == 0) {
      k = search_new(q, t, SK_HEADER);
      if (k < 0 || imap_p_sp(q) != 0 || p_search_string(q, &t->n[k]) != 0) return -1;
      t->n[k].field = headers[i];
      t->n[k].field_len = strlen(headers[i]);
      return k;
    }
  if (strcmp(up, "HEADER") == 0) {
    char *f;
    size_t fl;
    k = search_new(q, t, SK_HEADER);
    if (k < 0 || imap_p_sp(q) != 0 || imap_p_astring(q, &f, &fl) != 0 || imap_p_sp(q) != 0 ||
        p_search_string(q, &t->n[k]) != 0)
      return -1;
    t->n[k].field = f;
    t->n[k].field_len = fl;
    return k;
  }
  if (strcmp(up, "BODY") == 0 || strcmp(up, "TEXT") == 0) {
    k = search_new(q, t, up[0] == 'B' ? SK_BODY : SK_TEXT);
    if (k < 0 || imap_p_sp(q) != 0 || p_search_string(q, &t->n[k]) != 0) return -1;
    return k;
  }
  if (strcmp(up, "LARGER") == 0 || strcmp(up, "SMALLER") == 0) {
    k = search_new(q, t, up[0] == 'L' ? SK_LARGER : SK_SMALLER);
    if (k < 0 || imap_p_sp(q) != 0 || imap_p_digits(q, &t->n[k].num) != 0) return -1;
    return k;
  }
  if (strcmp(up, "KEYWORD") == 0 || strcmp(up, "UNKEYWORD") == 0) {
    k = search_new(q, t, up[0] == 'K' ? SK_NONE : SK_ALL);
    if (k < 0 || imap_p_sp(q) != 0 || imap_p_atom(q, &s_atom, &n) != 0) return -1;
    return k;
  }
  if (strcmp(up, "UID") == 0) {
    k = search_new(q, t, SK_UID);
    if (k < 0 || imap_p_sp(q) != 0 || imap_p_set(q, imap_star(s, 1), &t->n[k].set) != 0) return -1;
    return k;
  }
  if (strcmp(up, "NOT") == 0) {
    int a;
    k = search_new(q, t, SK_NOT);
    if (k < 0 || imap_p_sp(q) != 0 || (a = p_search_key(q, t, s, depth + 1)) < 0) return -1;
    t->n[k].child = a;
    return k;
  }
  if (strcmp(up, "OR") == 0) {
    int a, b;
    k = search_new(q, t, SK_OR);
    if (k < 0 || imap_p_sp(q) != 0 || (a = p_search_key(q, t, s, depth + 1)) < 0 ||
        imap_p_sp(q) != 0 || (b = p_search_key(q, t, s, depth + 1)) < 0)
      return -1;
    t->n[k].child = a;
    t->n[a].next = b;
    return k;
  }
  return imap_p_fail(q, "Unknown search key");
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
  x->hlen = mailmsg_header_len(x->body, len);
  return 0;
}

static int64_t imap_day_of(int64_t t) {
  return (t >= 0 ? t : t - 86399) / 86400;
}

/* The day of the Date: header; the internal date's day when there is no
 * usable one. */
static int64_t search_sent_day(struct search_msg *x) {
  char *v;
  int64_t day = imap_day_of(x->s->msgs[x->index].date), sent;

  if (search_load(x) != 0) return day;
  v = mailmsg_get(x->body, x->hlen, "Date");
  if (v && mailmsg_date_day(v, &sent) == 0) day = sent;
  free(v);
  return day;
}

static int search_header(struct search_msg *x, const struct search_node *n) {
  struct mailmsg_fields it;
  const char *name, *field;
  size_t nl, fl, i;
  int found = 0;

  if (search_load(x) != 0) return 0;
  it.p = x->body;
  it.end = x->body + x->hlen;
  while (!found && mailmsg_field_next(&it, &name, &nl, &field, &fl)) {
    char *v;
    if (nl != n->field_len || strncasecmp(name, n->field, nl) != 0) continue;
    if (n->len == 0) return 1; /* HEADER field "": the field exists */
    v = mailmsg_unfold(field, fl, nl);
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

void imap_search(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd) {
  struct imap_p q = {args, s->args_end, NULL};
  struct search t = {0};
  struct imap_sb b = {0};
  char *cs;
  size_t n, i;
  int root, failed = 0;

  if (imap_p_more(&q) && (q.end - q.p) > 8 && strncasecmp(q.p, "CHARSET ", 8) == 0) {
    q.p += 8;
    if (imap_p_astring(&q, &cs, &n) != 0 || imap_p_sp(&q) != 0) goto bad;
    if (!((n == 5 && strncasecmp(cs, "UTF-8", 5) == 0) ||
          (n == 8 && strncasecmp(cs, "US-ASCII", 8) == 0))) {
      imap_reply(c, s, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
      goto done;
    }
  }
  root = p_search_list(&q, &t, s, 0, 0);
  if (root < 0 || imap_p_end(&q) != 0) goto bad;
  if (imap_msgs_ready(c, s, NULL, uid_cmd, 0, &b) != 0) goto done;
  imap_sb_adds(&b, "* SEARCH");
  for (i = 0; i < s->n_msgs && !failed; i++) {
    struct search_msg x = {c, s, i, NULL, NULL, 0, 0, 0, 0};
    if (s->msgs[i].gone) continue;
    if (search_match(&t, root, &x)) {
      if (uid_cmd)
        imap_sb_addf(&b, " %lld", (long long)s->msgs[i].uid);
      else
        imap_sb_addf(&b, " %zu", i + 1);
    }
    failed = x.failed;
    free(x.body);
    free(x.lower);
  }
  imap_sb_adds(&b, "\r\n");
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
  imap_sb_free(&b);
  search_free(&t);
}
