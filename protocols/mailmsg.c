/* mailmsg.c -- reading a stored mail message, without any protocol.
 *
 * RFC 5322: the header block and its folded fields (section 2.2.3),
 * address lists with groups, quoted display names, comments and the
 * obsolete source route (sections 3.4 and 4.4), and the date of a Date:
 * field with obsolete two- and three-digit years (section 4.3). RFC 2045:
 * the Content-Type and Content-Transfer-Encoding fields and their defaults.
 * The IMAP lab server builds ENVELOPE, BODYSTRUCTURE and SEARCH on these.
 */
#include "mailmsg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

size_t mailmsg_header_len(const char *m, size_t n) {
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

int mailmsg_field_next(struct mailmsg_fields *it, const char **name, size_t *name_len,
                       const char **field, size_t *field_len) {
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

char *mailmsg_unfold(const char *field, size_t len, size_t name_len) {
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

char *mailmsg_get(const char *hdr, size_t hlen, const char *name) {
  struct mailmsg_fields it = {hdr, hdr + hlen};
  const char *n, *f;
  size_t nl, fl, want = strlen(name);

  while (mailmsg_field_next(&it, &n, &nl, &f, &fl))
    if (nl == want && strncasecmp(n, name, nl) == 0) return mailmsg_unfold(f, fl, nl);
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

int mailmsg_display_name(const char *p, const char *end, char **out, size_t *len) {
  char *tmp, *w;

  *out = NULL;
  *len = 0;
  p = skip_ws(p, end);
  end = trim_end(p, end);
  if (p == end) return 0;
  tmp = malloc((size_t)(end - p) + 1);
  if (!tmp) return -1;
  w = tmp;
  for (; p < end; p++) {
    if (*p == '"') continue;
    if (*p == '\\' && p + 1 < end) p++;
    *w++ = *p;
  }
  *out = tmp;
  *len = (size_t)(w - tmp);
  return 0;
}

int mailmsg_addr_spec(const char *p, const char *end, struct mailmsg_spec *out) {
  char *spec = malloc((size_t)(end - p) + 1), *w, *at, *adl_end;
  int depth = 0, inq = 0;

  memset(out, 0, sizeof *out);
  if (!spec) return -1;
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
  out->buf = spec;
  /* An obsolete source route "@a,@b:user@host" is the ADL. */
  adl_end = spec[0] == '@' ? strchr(spec, ':') : NULL;
  if (adl_end) {
    out->adl = spec;
    out->adl_len = (size_t)(adl_end - spec);
    w = adl_end + 1;
  } else {
    w = spec;
  }
  at = strrchr(w, '@');
  out->local = w;
  out->local_len = at ? (size_t)(at - w) : strlen(w);
  out->domain = at ? at + 1 : NULL;
  return 0;
}

void mailmsg_addr_list(const char *v, mailmsg_addr_fn fn, void *arg) {
  const char *p = v, *end = v ? v + strlen(v) : NULL;
  int in_group = 0;
  struct mailmsg_addr a;

  if (!v) return;
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
    memset(&a, 0, sizeof a);
    if (sep == ':' && !in_group) {
      a.kind = MAILMSG_GROUP_START;
      a.name = start;
      a.name_end = p;
      fn(arg, &a);
      in_group = 1;
    } else if (skip_ws(start, p) < p) {
      a.kind = MAILMSG_ADDR;
      if (lt) {
        a.name = start;
        a.name_end = lt;
        a.spec = lt + 1;
        a.spec_end = gt ? gt : p;
      } else {
        a.spec = start;
        a.spec_end = p;
      }
      fn(arg, &a);
    }
    if (sep == ';' && in_group) {
      memset(&a, 0, sizeof a);
      a.kind = MAILMSG_GROUP_END;
      fn(arg, &a);
      in_group = 0;
    }
    if (p < end) p++;
  }
  if (in_group) {
    memset(&a, 0, sizeof a);
    a.kind = MAILMSG_GROUP_END;
    fn(arg, &a);
  }
}

static int mime_token_char(unsigned char ch) {
  return isalnum(ch) || (ch && strchr("!#$&^_.+-", ch));
}

/* The token at p (RFC 2045), upper-cased into out; returns the end. */
static const char *mime_token(const char *p, char *out, size_t cap) {
  size_t n = 0;

  while (*p == ' ' || *p == '\t') p++;
  while (mime_token_char((unsigned char)*p)) {
    if (n + 1 < cap) out[n++] = (char)toupper((unsigned char)*p);
    p++;
  }
  out[n] = '\0';
  return p;
}

void mailmsg_mime(const char *hdr, size_t hlen, struct mailmsg_mime *m) {
  char *ct = mailmsg_get(hdr, hlen, "Content-Type"),
       *cte = mailmsg_get(hdr, hlen, "Content-Transfer-Encoding");
  const char *p;
  size_t i;

  snprintf(m->type, sizeof m->type, "TEXT");
  snprintf(m->sub, sizeof m->sub, "PLAIN");
  snprintf(m->enc, sizeof m->enc, "7BIT");
  m->charset[0] = '\0';
  if (ct) {
    p = mime_token(ct, m->type, sizeof m->type);
    if (*p == '/') p = mime_token(p + 1, m->sub, sizeof m->sub);
    if (!m->type[0] || !m->sub[0]) {
      snprintf(m->type, sizeof m->type, "TEXT");
      snprintf(m->sub, sizeof m->sub, "PLAIN");
    }
    for (p = ct; (p = strchr(p, ';')) != NULL;) {
      char attr[32];
      p = mime_token(p + 1, attr, sizeof attr);
      while (*p == ' ' || *p == '\t') p++;
      if (strcmp(attr, "CHARSET") != 0 || *p != '=') continue;
      p++;
      if (*p == '"') p++;
      for (i = 0; mime_token_char((unsigned char)*p) && i + 1 < sizeof m->charset; p++)
        m->charset[i++] = *p;
      m->charset[i] = '\0';
    }
  } else {
    snprintf(m->charset, sizeof m->charset, "us-ascii");
  }
  if (cte) {
    mime_token(cte, m->enc, sizeof m->enc);
    if (!m->enc[0]) snprintf(m->enc, sizeof m->enc, "7BIT");
  }
  free(ct);
  free(cte);
}

const char *const mailmsg_months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void mailmsg_date_format(time_t t, char *out, size_t outlen) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  struct tm tm;

  gmtime_r(&t, &tm);
  snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7], tm.tm_mday,
           mailmsg_months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int mailmsg_month(const char *p) {
  int i;

  for (i = 0; i < 12; i++)
    if (strncasecmp(p, mailmsg_months[i], 3) == 0) return i + 1;
  return 0;
}

/* H. Hinnant's days-from-civil algorithm. */
int64_t mailmsg_days(int64_t y, int m, int d) {
  int64_t era, yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int mailmsg_date_day(const char *v, int64_t *day) {
  const char *p = strchr(v, ',');
  char mon[4];
  int d, y, m;

  p = p ? p + 1 : v;
  if (sscanf(p, " %2d %3[A-Za-z] %4d", &d, mon, &y) != 3 || !(m = mailmsg_month(mon)) || d < 1 ||
      d > 31)
    return -1;
  if (y < 50)
    y += 2000;
  else if (y < 1000)
    y += 1900; /* obsolete two- and three-digit years, RFC 5322 section 4.3 */
  *day = mailmsg_days(y, m, d);
  return 0;
}
