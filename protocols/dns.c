/* dns.c -- the lab's DNS server over TCP: an authoritative server for the zone "lab.".
 *
 * Implements RFC 1035 (the message format of section 4.1, name compression
 * in answers as section 4.1.4 describes, and TCP framing of section 4.2.2:
 * each message is preceded by a two-byte length), RFC 7766 (several queries
 * pipelined on one connection, answered in order) and RFC 2308 (negative
 * answers carry the zone's SOA in the authority section). Record types A,
 * AAAA, MX, TXT, NS and SOA are served, ANY returns every record of a name,
 * and AXFR (RFC 5936) sends the whole zone between two SOA records, since a
 * zone transfer is what DNS over TCP was first for.
 *
 * Answers: names in the zone get their records (AA set), a name in the
 * zone with no such record gets NOERROR and no answer, an unknown name in
 * the zone NXDOMAIN, any name outside it REFUSED (this is no resolver:
 * RA is never set), a malformed query FORMERR and an opcode other than
 * QUERY NOTIMP. "flag.lab." TXT holds the student's per-student flag when
 * the query came through the student's relay session, so the flag is won
 * with the page's hex sender and DNS query builder.
 *
 * Hostile input: a query longer than LIM_DNS_QUERY is counted off and
 * answered FORMERR without being buffered; a name longer than 255 bytes,
 * a label type other than plain or pointer, or a pointer that does not
 * point strictly backwards (the only way a compression loop can be built)
 * is FORMERR. A zero-length message ends the connection. At most
 * LIM_DNS_EVENTS queries per connection are recorded as events, so a
 * flood of tiny queries cannot become a flood of database rows.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "lab.h"
#include "labdata.h"
#include "portlab_limits.h"

enum {
  DNS_T_A = 1,
  DNS_T_NS = 2,
  DNS_T_SOA = 6,
  DNS_T_MX = 15,
  DNS_T_TXT = 16,
  DNS_T_AAAA = 28,
  DNS_T_AXFR = 252,
  DNS_T_ANY = 255
};
enum { DNS_C_IN = 1 };
enum { DNS_NOERROR = 0, DNS_FORMERR = 1, DNS_NXDOMAIN = 3, DNS_NOTIMP = 4, DNS_REFUSED = 5 };
#define DNS_HEADER 12
#define DNS_TTL 300
#define DNS_COMPRESS_MAX 64 /* names remembered for compression in one answer */

/* The zone. Owner names are relative to "lab." ("" is the apex). */
struct dns_rr {
  const char *owner;
  int type;
  const char *data; /* NS, MX target, TXT text, SOA mname; A/AAAA: NULL = the lab's address */
  int pref;         /* MX */
};

static const struct dns_rr dns_zone[] = {
    {"", DNS_T_SOA, "ns", 0},      {"", DNS_T_NS, "ns", 0},
    {"", DNS_T_MX, "mail", 10},    {"", DNS_T_A, NULL, 0},
    {"", DNS_T_AAAA, NULL, 0},     {"", DNS_T_TXT, "v=spf1 mx -all", 0},
    {"ns", DNS_T_A, NULL, 0},      {"mail", DNS_T_A, NULL, 0},
    {"mail", DNS_T_AAAA, NULL, 0}, {"www", DNS_T_A, NULL, 0},
    {"www", DNS_T_AAAA, NULL, 0},  {"ftp", DNS_T_A, NULL, 0},
    {"flag", DNS_T_TXT, NULL, 0}, /* the student's flag */
};
#define DNS_ZONE_N (sizeof dns_zone / sizeof dns_zone[0])

static const char *dns_type_name(int type, char *tmp, size_t tmplen) {
  switch (type) {
    case DNS_T_A:
      return "A";
    case DNS_T_NS:
      return "NS";
    case DNS_T_SOA:
      return "SOA";
    case DNS_T_MX:
      return "MX";
    case DNS_T_TXT:
      return "TXT";
    case DNS_T_AAAA:
      return "AAAA";
    case DNS_T_AXFR:
      return "AXFR";
    case DNS_T_ANY:
      return "ANY";
    default:
      snprintf(tmp, tmplen, "TYPE%d", type);
      return tmp;
  }
}

static const char *dns_rcode_name(int rcode) {
  static const char *const names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                      "NXDOMAIN", "NOTIMP",  "REFUSED"};
  return rcode >= 0 && rcode < 6 ? names[rcode] : "?";
}

enum dns_state { DNS_S_LENGTH = 0, DNS_S_BODY, DNS_S_DONE };

struct dns_session {
  enum dns_state state;
  unsigned char lenbuf[2];
  size_t lenbuf_n;
  size_t want;                    /* the message's length */
  size_t got;                     /* bytes of it read so far */
  unsigned events;                /* dns.query events recorded on this connection */
  unsigned char q[LIM_DNS_QUERY]; /* its first LIM_DNS_QUERY bytes */
};

/* --- the answer -------------------------------------------------------------- */

struct dns_out {
  unsigned char p[LIM_DNS_REPLY];
  size_t len;
  int full;
  struct {
    char name[LIM_DNS_NAME + 1]; /* lower case, dotted, no final dot */
    size_t off;
  } names[DNS_COMPRESS_MAX];
  size_t n_names;
};

static void dns_put(struct dns_out *o, const void *p, size_t n) {
  if (o->full || o->len + n > sizeof o->p) {
    o->full = 1;
    return;
  }
  memcpy(o->p + o->len, p, n);
  o->len += n;
}

static void dns_put16(struct dns_out *o, unsigned v) {
  unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
  dns_put(o, b, 2);
}

static void dns_put32(struct dns_out *o, uint32_t v) {
  unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                        (unsigned char)v};
  dns_put(o, b, 4);
}

/* Writes a dotted name ("" is the root), pointing at an earlier copy of
 * the longest suffix already written (RFC 1035 section 4.1.4). Case is
 * kept as given; suffixes are compared without case. */
static void dns_put_name(struct dns_out *o, const char *name) {
  const char *p = name;
  while (*p) {
    for (size_t i = 0; i < o->n_names; i++)
      if (strcasecmp(o->names[i].name, p) == 0) {
        dns_put16(o, 0xC000 | (unsigned)o->names[i].off);
        return;
      }
    if (o->len < 0x4000 && o->n_names < DNS_COMPRESS_MAX && strlen(p) <= LIM_DNS_NAME) {
      snprintf(o->names[o->n_names].name, sizeof o->names[0].name, "%s", p);
      o->names[o->n_names++].off = o->len;
    }
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    unsigned char lab = (unsigned char)n;
    dns_put(o, &lab, 1);
    dns_put(o, p, n);
    p += n;
    if (*p == '.') p++;
  }
  dns_put(o, "", 1);
}

/* The zone's name for owner: "lab" or "owner.lab". */
static void dns_fqdn(const char *owner, char *out, size_t outlen) {
  snprintf(out, outlen, "%s%slab", owner, owner[0] ? "." : "");
}

/* The lab's IPv4 address for A records: the address students' own
 * clients are told (--lab-public-host), else the lab address if it is a
 * concrete IPv4 one, else loopback. */
static void dns_lab_v4(struct lab_conn *c, unsigned char out[4]) {
  const struct lab_ctx *ctx = lab_conn_ctx(c);
  if (ctx->public_addr[0] && inet_pton(AF_INET, ctx->public_addr, out) == 1) return;
  if (inet_pton(AF_INET, ctx->lab_addr, out) == 1 && strcmp(ctx->lab_addr, "0.0.0.0") != 0) return;
  inet_pton(AF_INET, "127.0.0.1", out);
}

static void dns_lab_v6(struct lab_conn *c, unsigned char out[16]) {
  const struct lab_ctx *ctx = lab_conn_ctx(c);
  if (inet_pton(AF_INET6, ctx->lab_addr, out) == 1 && strcmp(ctx->lab_addr, "::") != 0) return;
  inet_pton(AF_INET6, "::1", out);
}

/* The TXT text of flag.lab.: the student's flag if the relay names them. */
static void dns_flag_text(struct lab_conn *c, char *out, size_t outlen) {
  struct lab_ctx *ctx = lab_conn_ctx(c);
  struct db_user u;
  int64_t id = lab_conn_user(c, NULL);
  char flag[40];
  if (id && db_user_by_id(ctx->db, id, &u) == 0) {
    labdata_flag(ctx->secret, "dns", u.name, flag);
    snprintf(out, outlen, "%s", flag);
    return;
  }
  snprintf(out, outlen,
           "Send this query from the lab page (the hex sender): only then does the lab know "
           "whose flag to give.");
}

/* One resource record; owner is written as given (compressed). */
static void dns_put_rr(struct lab_conn *c, struct dns_out *o, const char *owner,
                       const struct dns_rr *rr) {
  char name[LIM_DNS_NAME + 1], mail[LIM_DNS_NAME + 1], text[256];
  size_t rdlen_at;

  dns_put_name(o, owner);
  dns_put16(o, (unsigned)rr->type);
  dns_put16(o, DNS_C_IN);
  dns_put32(o, rr->type == DNS_T_TXT && !rr->data ? 0 : DNS_TTL);
  rdlen_at = o->len;
  dns_put16(o, 0);
  switch (rr->type) {
    case DNS_T_A: {
      unsigned char a[4];
      dns_lab_v4(c, a);
      dns_put(o, a, 4);
      break;
    }
    case DNS_T_AAAA: {
      unsigned char a[16];
      dns_lab_v6(c, a);
      dns_put(o, a, 16);
      break;
    }
    case DNS_T_NS:
      dns_fqdn(rr->data, name, sizeof name);
      dns_put_name(o, name);
      break;
    case DNS_T_MX:
      dns_put16(o, (unsigned)rr->pref);
      dns_fqdn(rr->data, name, sizeof name);
      dns_put_name(o, name);
      break;
    case DNS_T_TXT: {
      if (rr->data)
        snprintf(text, sizeof text, "%s", rr->data);
      else
        dns_flag_text(c, text, sizeof text);
      unsigned char n = (unsigned char)strlen(text); /* one character-string: < 256 */
      dns_put(o, &n, 1);
      dns_put(o, text, n);
      break;
    }
    case DNS_T_SOA:
      dns_fqdn(rr->data, name, sizeof name);
      dns_put_name(o, name);
      dns_fqdn("hostmaster", mail, sizeof mail);
      dns_put_name(o, mail);
      dns_put32(o, 2026120701); /* serial */
      dns_put32(o, 3600);       /* refresh */
      dns_put32(o, 600);        /* retry */
      dns_put32(o, 86400);      /* expire */
      dns_put32(o, DNS_TTL);    /* minimum: the TTL of negative answers */
      break;
  }
  if (!o->full) {
    size_t rdlen = o->len - rdlen_at - 2;
    o->p[rdlen_at] = (unsigned char)(rdlen >> 8);
    o->p[rdlen_at + 1] = (unsigned char)rdlen;
  }
}

/* --- the query ----------------------------------------------------------------- */

/* Reads a name at *off of msg[0..n) into out (dotted, no final dot, case
 * kept) and moves *off past it. Pointers must point strictly before the
 * label they stand in, so every jump goes backwards and no loop can be
 * built. -1 on anything malformed. */
static int dns_get_name(const unsigned char *msg, size_t n, size_t *off, char *out, size_t outlen) {
  size_t pos = *off, len = 0, end = 0, wire = 0;
  int jumped = 0;

  for (;;) {
    if (pos >= n) return -1;
    unsigned char b = msg[pos];
    if (b == 0) {
      if (!jumped) end = pos + 1;
      break;
    }
    if ((b & 0xC0) == 0xC0) {
      if (pos + 1 >= n) return -1;
      size_t target = (size_t)(b & 0x3F) << 8 | msg[pos + 1];
      if (target >= pos) return -1; /* forwards or onto itself: a loop could follow */
      if (!jumped) end = pos + 2;
      jumped = 1;
      pos = target;
      continue;
    }
    if (b & 0xC0) return -1; /* 0x40 and 0x80: label types RFC 1035 does not define */
    if (pos + 1 + b > n) return -1;
    wire += 1u + b;
    if (wire + 1 > LIM_DNS_NAME) return -1; /* RFC 1035 section 2.3.4: 255 with the root */
    if (len + b + 2 > outlen) return -1;
    if (len) out[len++] = '.';
    for (size_t i = 0; i < b; i++) {
      unsigned char ch = msg[pos + 1 + i];
      /* Dots and bytes outside printable ASCII in a label are not names
       * anyone can query the lab for; refusing them keeps the text clean. */
      if (ch <= 0x20 || ch >= 0x7f || ch == '.') return -1;
      out[len++] = (char)ch;
    }
    pos += 1u + b;
  }
  out[len] = '\0';
  *off = end;
  return 0;
}

/* The zone owner of name ("" for the apex), or NULL outside the zone. */
static const char *dns_in_zone(const char *name, int *in_zone) {
  size_t n = strlen(name);
  *in_zone = 0;
  if (strcasecmp(name, "lab") == 0) {
    *in_zone = 1;
    return "";
  }
  if (n > 4 && strcasecmp(name + n - 4, ".lab") == 0) {
    *in_zone = 1;
    static char owner[LIM_DNS_NAME + 1];
    snprintf(owner, sizeof owner, "%.*s", (int)(n - 4), name);
    return owner;
  }
  return NULL;
}

static void dns_header(struct dns_out *o, unsigned id, unsigned qflags, int aa, int rcode,
                       unsigned qd, unsigned an, unsigned ns) {
  unsigned flags = 0x8000 | (qflags & 0x7800) | (qflags & 0x0100); /* QR, opcode, RD */
  if (aa) flags |= 0x0400;
  flags |= (unsigned)rcode & 0xF;
  o->len = 0;
  dns_put16(o, id);
  dns_put16(o, flags);
  dns_put16(o, qd);
  dns_put16(o, an);
  dns_put16(o, ns);
  dns_put16(o, 0);
}

static void dns_patch16(struct dns_out *o, size_t at, unsigned v) {
  o->p[at] = (unsigned char)(v >> 8);
  o->p[at + 1] = (unsigned char)v;
}

static void dns_send(struct lab_conn *c, struct dns_out *o) {
  unsigned char len[2] = {(unsigned char)(o->len >> 8), (unsigned char)o->len};
  lab_send(c, len, 2);
  lab_send(c, o->p, o->len);
}

static void dns_event(struct lab_conn *c, const char *name, int type, int rcode) {
  char tmp[16], fq[LIM_DNS_NAME + 2], lower[LIM_DNS_NAME + 2];
  snprintf(fq, sizeof fq, "%s.", name);
  size_t i;
  for (i = 0; fq[i] && i + 1 < sizeof lower; i++) lower[i] = (char)tolower((unsigned char)fq[i]);
  lower[i] = '\0';
  const char *kv[] = {
      "name", lower, "type", dns_type_name(type, tmp, sizeof tmp), "rcode", dns_rcode_name(rcode),
      NULL};
  lab_event(c, NULL, "dns.query", kv);
}

/* An error answer with no question. */
static void dns_error(struct lab_conn *c, const unsigned char *q, size_t n, int rcode) {
  static struct dns_out o;
  unsigned id = n >= 2 ? (unsigned)q[0] << 8 | q[1] : 0;
  unsigned qflags = n >= 4 ? (unsigned)q[2] << 8 | q[3] : 0;
  memset(&o, 0, sizeof o);
  dns_header(&o, id, qflags, 0, rcode, 0, 0, 0);
  dns_send(c, &o);
}

/* Answers one complete query of n bytes (truncated: it was longer than we keep). */
static void dns_query(struct lab_conn *c, struct dns_session *s, const unsigned char *q, size_t n,
                      int truncated) {
  static struct dns_out o;
  char name[LIM_DNS_NAME + 1];
  size_t off = DNS_HEADER;

  if (truncated || n < DNS_HEADER) {
    lab_warn(c, "dns: %s query (%zu bytes)", truncated ? "an over-long" : "a short", n);
    dns_error(c, q, n, DNS_FORMERR);
    return;
  }
  unsigned id = (unsigned)q[0] << 8 | q[1], qflags = (unsigned)q[2] << 8 | q[3];
  unsigned qdcount = (unsigned)q[4] << 8 | q[5];
  if (qflags & 0x8000) { /* QR: a response was sent to us */
    dns_error(c, q, n, DNS_FORMERR);
    return;
  }
  if (((qflags >> 11) & 0xF) != 0) {
    dns_error(c, q, n, DNS_NOTIMP);
    return;
  }
  if (qdcount != 1 || dns_get_name(q, n, &off, name, sizeof name) != 0 || off + 4 > n) {
    lab_warn(c, "dns: malformed question");
    dns_error(c, q, n, DNS_FORMERR);
    return;
  }
  int qtype = q[off] << 8 | q[off + 1], qclass = q[off + 2] << 8 | q[off + 3];

  int in_zone;
  const char *owner = dns_in_zone(name, &in_zone);
  int rcode = DNS_NOERROR, aa = 1;
  if (!in_zone || (qclass != DNS_C_IN && qclass != 255)) {
    rcode = DNS_REFUSED;
    aa = 0;
  }

  memset(&o, 0, sizeof o);
  dns_header(&o, id, qflags, aa, rcode, 1, 0, 0);
  dns_put_name(&o, name); /* the question as asked, case and all */
  dns_put16(&o, (unsigned)qtype);
  dns_put16(&o, (unsigned)qclass);

  unsigned an = 0, ns = 0;
  if (rcode == DNS_NOERROR && qtype == DNS_T_AXFR) {
    if (owner[0]) {
      rcode = DNS_REFUSED; /* only the apex is a zone */
      aa = 0;
    } else {
      char fq[LIM_DNS_NAME + 1];
      dns_put_rr(c, &o, name, &dns_zone[0]);
      an++;
      for (size_t i = 1; i < DNS_ZONE_N; i++) {
        dns_fqdn(dns_zone[i].owner, fq, sizeof fq);
        dns_put_rr(c, &o, fq, &dns_zone[i]);
        an++;
      }
      dns_put_rr(c, &o, name, &dns_zone[0]);
      an++;
    }
  } else if (rcode == DNS_NOERROR) {
    int exists = 0;
    for (size_t i = 0; i < DNS_ZONE_N; i++) {
      if (strcasecmp(dns_zone[i].owner, owner) != 0) continue;
      exists = 1;
      if (qtype == DNS_T_ANY || qtype == dns_zone[i].type) {
        dns_put_rr(c, &o, name, &dns_zone[i]);
        an++;
      }
    }
    if (!exists) rcode = DNS_NXDOMAIN;
    if (an == 0) { /* NXDOMAIN or no data: the SOA says how long to remember it */
      dns_put_rr(c, &o, "lab", &dns_zone[0]);
      ns++;
    }
  }
  if (o.full) { /* cannot happen with this zone; never send half a record */
    dns_error(c, q, n, 2);
    return;
  }
  dns_patch16(&o, 2, (0x8000 | (qflags & 0x7900) | (aa ? 0x0400 : 0) | (unsigned)rcode));
  dns_patch16(&o, 6, an);
  dns_patch16(&o, 8, ns);
  /* A flood of queries must not become a flood of database rows. */
  if (s->events < LIM_DNS_EVENTS) {
    s->events++;
    dns_event(c, name, qtype, rcode);
  }
  dns_send(c, &o);
}

/* --- framing -------------------------------------------------------------------- */

static void dns_data(struct lab_conn *c, void *sv, const unsigned char *p, size_t n) {
  struct dns_session *s = sv;

  while (n && s->state != DNS_S_DONE) {
    if (s->state == DNS_S_LENGTH) {
      s->lenbuf[s->lenbuf_n++] = *p++;
      n--;
      if (s->lenbuf_n < 2) continue;
      s->lenbuf_n = 0;
      s->want = (size_t)s->lenbuf[0] << 8 | s->lenbuf[1];
      s->got = 0;
      if (s->want == 0) {
        lab_warn(c, "dns: a zero-length message; closing");
        s->state = DNS_S_DONE;
        lab_close(c);
        return;
      }
      s->state = DNS_S_BODY;
      continue;
    }
    size_t k = s->want - s->got;
    if (k > n) k = n;
    if (s->got < sizeof s->q) {
      size_t keep = sizeof s->q - s->got;
      memcpy(s->q + s->got, p, k < keep ? k : keep);
    }
    s->got += k;
    p += k;
    n -= k;
    if (s->got == s->want) {
      s->state = DNS_S_LENGTH;
      dns_query(c, s, s->q, s->want < sizeof s->q ? s->want : sizeof s->q, s->want > sizeof s->q);
    }
  }
}

const struct lab_module lab_dns = {
    .name = "dns",
    .line_max = 0, /* raw: two-byte length, then the message */
    .session_size = sizeof(struct dns_session),
    .on_data = dns_data,
};
