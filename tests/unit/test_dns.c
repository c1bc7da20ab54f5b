/* test_dns.c -- unit tests for the lab DNS server over TCP (protocols/dns.c).
 *
 * Hand-built queries through the in-memory connection, answers parsed
 * back: every record type of the zone, name compression in answers, the
 * question echoed with its case, NXDOMAIN and no-data with the SOA,
 * REFUSED outside the zone, NOTIMP, FORMERR for each malformed shape
 * (compression loops and forward pointers in the question, label types,
 * a name at 255 bytes and one past it, a query at LIM_DNS_QUERY and one
 * past it), the per-student TXT flag, the dns.query event, AXFR,
 * pipelining, input cut at every byte, a zero-length message, and the
 * cap on recorded events per connection at its edge.
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
#include "labident.h"
#include "portlab_limits.h"
#include "progress.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PEER_PORT 52053

static struct lab_ctx ctx;
static int64_t alice_id;

/* --- building queries ---------------------------------------------------------- */

struct q {
  unsigned char p[1024];
  size_t len; /* the message, without the TCP length */
};

static void q_u16(struct q *q, unsigned v) {
  q->p[q->len++] = (unsigned char)(v >> 8);
  q->p[q->len++] = (unsigned char)v;
}

/* A standard query (RD set) for a dotted name. */
static void q_make(struct q *q, unsigned id, const char *name, unsigned type) {
  q->len = 0;
  q_u16(q, id);
  q_u16(q, 0x0100);
  q_u16(q, 1);
  q_u16(q, 0);
  q_u16(q, 0);
  q_u16(q, 0);
  const char *p = name;
  while (*p) {
    const char *dot = strchr(p, '.');
    size_t n = dot ? (size_t)(dot - p) : strlen(p);
    q->p[q->len++] = (unsigned char)n;
    memcpy(q->p + q->len, p, n);
    q->len += n;
    p += n;
    if (*p == '.') p++;
  }
  q->p[q->len++] = 0;
  q_u16(q, type);
  q_u16(q, 1);
}

static void send_q(struct lab_conn *c, const struct q *q) {
  unsigned char len[2] = {(unsigned char)(q->len >> 8), (unsigned char)q->len};
  lab_mem_feed(c, len, 2);
  lab_mem_feed(c, q->p, q->len);
}

/* --- reading answers ------------------------------------------------------------- */

struct rr {
  char name[300];
  unsigned type, cls;
  uint32_t ttl;
  const unsigned char *rdata;
  size_t rdlen, rdoff;
};

struct ans {
  unsigned char p[8192];
  size_t len;
  unsigned id, flags, qd, an, ns, ar;
  char qname[300];
  unsigned qtype;
  struct rr rr[32];
  size_t n_rr;
  int ok;
};

static unsigned g16(const unsigned char *p) {
  return (unsigned)p[0] << 8 | p[1];
}

/* Reads a possibly compressed name (trusting the server's pointers only
 * backwards, as the server demands of us). */
static int read_name(const unsigned char *m, size_t n, size_t *off, char *out, size_t outlen) {
  size_t pos = *off, len = 0;
  int jumped = 0;
  out[0] = '\0';
  for (int guard = 0; guard < 128; guard++) {
    if (pos >= n) return -1;
    unsigned b = m[pos];
    if (b == 0) {
      if (!jumped) *off = pos + 1;
      out[len] = '\0';
      return 0;
    }
    if ((b & 0xC0) == 0xC0) {
      size_t t = (size_t)(b & 0x3F) << 8 | m[pos + 1];
      if (t >= pos) return -1;
      if (!jumped) *off = pos + 2;
      jumped = 1;
      pos = t;
      continue;
    }
    if (len + b + 2 > outlen) return -1;
    if (len) out[len++] = '.';
    memcpy(out + len, m + pos + 1, b);
    len += b;
    pos += 1 + b;
  }
  return -1;
}

/* Takes exactly one answer from the output and parses it. */
static void take_answer(struct lab_conn *c, struct ans *a) {
  size_t n, off;
  const unsigned char *out = (const unsigned char *)lab_mem_output(c, &n);
  memset(a, 0, sizeof *a);
  if (n < 2 || g16(out) + 2 > n || g16(out) > sizeof a->p) return;
  a->len = g16(out);
  memcpy(a->p, out + 2, a->len);
  lab_mem_clear(c);
  if (n != a->len + 2) return; /* one answer, nothing more */
  if (a->len < 12) return;
  a->id = g16(a->p);
  a->flags = g16(a->p + 2);
  a->qd = g16(a->p + 4);
  a->an = g16(a->p + 6);
  a->ns = g16(a->p + 8);
  a->ar = g16(a->p + 10);
  off = 12;
  if (a->qd == 1) {
    if (read_name(a->p, a->len, &off, a->qname, sizeof a->qname) != 0 || off + 4 > a->len) return;
    a->qtype = g16(a->p + off);
    off += 4;
  }
  for (unsigned i = 0; i < a->an + a->ns; i++) {
    struct rr *r = &a->rr[a->n_rr++];
    if (a->n_rr > 32 || read_name(a->p, a->len, &off, r->name, sizeof r->name) != 0 ||
        off + 10 > a->len)
      return;
    r->type = g16(a->p + off);
    r->cls = g16(a->p + off + 2);
    r->ttl = (uint32_t)g16(a->p + off + 4) << 16 | g16(a->p + off + 6);
    r->rdlen = g16(a->p + off + 8);
    r->rdoff = off + 10;
    r->rdata = a->p + off + 10;
    off += 10 + r->rdlen;
    if (off > a->len) return;
  }
  a->ok = off == a->len;
}

static unsigned rcode(const struct ans *a) {
  return a->flags & 0xF;
}

static struct lab_conn *open_conn(int relayed) {
  struct lab_conn *c = lab_mem_open(&lab_dns, &ctx, "127.0.0.1");
  if (relayed) lab_mem_set_peer_port(c, PEER_PORT);
  return c;
}

/* One query on a fresh connection; the answer into a. */
static void ask(struct ans *a, const char *name, unsigned type) {
  struct q q;
  struct lab_conn *c = open_conn(1);
  q_make(&q, 0x1234, name, type);
  send_q(c, &q);
  take_answer(c, a);
  CHECK(!lab_mem_closed(c));
  lab_mem_free(c);
}

/* --- tests ----------------------------------------------------------------------- */

static void test_records(void) {
  static struct ans a;
  char name[300];
  size_t off;

  ask(&a, "lab", 1);
  CHECK(a.ok);
  CHECK_EQ_INT(a.id, 0x1234);
  CHECK_EQ_INT(a.flags, 0x8000 | 0x0400 | 0x0100); /* QR AA RD, no RA, NOERROR */
  CHECK_EQ_INT(a.an, 1);
  CHECK_EQ_STR(a.rr[0].name, "lab");
  CHECK_EQ_INT(a.rr[0].type, 1);
  CHECK_EQ_INT(a.rr[0].cls, 1);
  CHECK_EQ_INT(a.rr[0].rdlen, 4);
  CHECK(memcmp(a.rr[0].rdata, "\x7f\x00\x00\x01", 4) == 0);
  /* The owner name is a pointer to the question's name at offset 12. */
  CHECK(a.p[12 + 5 + 4] == 0xC0 && a.p[12 + 5 + 4 + 1] == 12);

  ask(&a, "www.lab", 28);
  CHECK(a.ok && a.an == 1 && a.rr[0].type == 28 && a.rr[0].rdlen == 16);
  CHECK(memcmp(a.rr[0].rdata, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0);

  /* MX: preference 10, mail.lab, whose "lab" points at the question. */
  ask(&a, "lab", 15);
  CHECK(a.ok && a.an == 1 && a.rr[0].type == 15);
  CHECK_EQ_INT(g16(a.rr[0].rdata), 10);
  off = a.rr[0].rdoff + 2;
  CHECK_EQ_INT(read_name(a.p, a.len, &off, name, sizeof name), 0);
  CHECK_EQ_STR(name, "mail.lab");
  CHECK_EQ_INT(a.rr[0].rdlen, 2 + 1 + 4 + 2); /* "mail" and a pointer */
  ask(&a, "mail.lab", 1);
  CHECK(a.ok && a.an == 1 && a.rr[0].type == 1);

  ask(&a, "lab", 2);
  CHECK(a.ok && a.an == 1 && a.rr[0].type == 2);
  off = a.rr[0].rdoff;
  CHECK_EQ_INT(read_name(a.p, a.len, &off, name, sizeof name), 0);
  CHECK_EQ_STR(name, "ns.lab");

  ask(&a, "lab", 6);
  CHECK(a.ok && a.an == 1 && a.rr[0].type == 6);
  off = a.rr[0].rdoff;
  CHECK_EQ_INT(read_name(a.p, a.len, &off, name, sizeof name), 0);
  CHECK_EQ_STR(name, "ns.lab");
  CHECK_EQ_INT(read_name(a.p, a.len, &off, name, sizeof name), 0);
  CHECK_EQ_STR(name, "hostmaster.lab");
  CHECK_EQ_INT(a.rr[0].rdoff + a.rr[0].rdlen - off, 20);

  ask(&a, "lab", 16);
  CHECK(a.ok && a.an == 1 && a.rr[0].type == 16);
  CHECK(a.rr[0].rdlen == 1u + a.rr[0].rdata[0] && memcmp(a.rr[0].rdata + 1, "v=spf1", 6) == 0);

  /* The question comes back as asked, case and all; the answer matches. */
  ask(&a, "WwW.LaB", 1);
  CHECK(a.ok && a.an == 1);
  CHECK_EQ_STR(a.qname, "WwW.LaB");
  CHECK_EQ_STR(a.rr[0].name, "WwW.LaB");

  ask(&a, "mail.lab", 255); /* ANY */
  CHECK(a.ok && a.an == 2);

  /* Negative answers carry the SOA (RFC 2308). */
  ask(&a, "nope.lab", 1);
  CHECK(a.ok && rcode(&a) == 3 && a.an == 0 && a.ns == 1 && a.rr[0].type == 6);
  CHECK(a.flags & 0x0400);
  ask(&a, "www.lab", 15);
  CHECK(a.ok && rcode(&a) == 0 && a.an == 0 && a.ns == 1 && a.rr[0].type == 6);

  /* Outside the zone: refused, not authoritative. */
  ask(&a, "example.com", 1);
  CHECK(a.ok && rcode(&a) == 5 && a.an == 0 && a.ns == 0 && !(a.flags & 0x0400));
  ask(&a, "notlab", 1);
  CHECK(a.ok && rcode(&a) == 5);
  ask(&a, "", 2);
  CHECK(a.ok && rcode(&a) == 5);

  /* AXFR: SOA, every record, SOA. */
  ask(&a, "lab", 252);
  CHECK(a.ok && rcode(&a) == 0 && a.an == 14);
  CHECK(a.rr[0].type == 6 && a.rr[13].type == 6);
  ask(&a, "www.lab", 252);
  CHECK(a.ok && rcode(&a) == 5);
}

static int flag_event_cb(void *arg, const char *attrs) {
  if (strstr(attrs, "\"name\":\"flag.lab.\"") && strstr(attrs, "\"type\":\"TXT\"") &&
      strstr(attrs, "\"rcode\":\"NOERROR\"") && strstr(attrs, "\"via\":\"browser\""))
    (*(int *)arg)++;
  return 0;
}

static void test_flag(void) {
  static struct ans a;
  struct q q;
  char flag[40];
  int events = 0;

  labdata_flag(SECRET, "dns", "alice", flag);
  ask(&a, "flag.lab", 16);
  CHECK(a.ok && a.an == 1 && a.rr[0].type == 16 && a.rr[0].ttl == 0);
  CHECK_EQ_INT(a.rr[0].rdata[0], strlen(flag));
  CHECK(memcmp(a.rr[0].rdata + 1, flag, strlen(flag)) == 0);
  CHECK_EQ_INT(db_lab_event_find(ctx.db, alice_id, "dns.query", flag_event_cb, &events), 1);
  CHECK_EQ_INT(events, 1);

  /* A client nobody is known for gets directions, not a flag. */
  struct lab_conn *c = open_conn(0);
  q_make(&q, 7, "flag.lab", 16);
  send_q(c, &q);
  take_answer(c, &a);
  CHECK(a.ok && a.an == 1);
  CHECK(memmem(a.rr[0].rdata, a.rr[0].rdlen, "FLAG{", 5) == NULL);
  CHECK(memmem(a.rr[0].rdata, a.rr[0].rdlen, "lab page", 8) != NULL);
  lab_mem_free(c);
}

/* Sends raw message bytes; returns the rcode and checks the ID came back. */
static unsigned raw_rcode(const unsigned char *m, size_t n) {
  static struct ans a;
  struct lab_conn *c = open_conn(1);
  unsigned char len[2] = {(unsigned char)(n >> 8), (unsigned char)n};
  lab_mem_feed(c, len, 2);
  lab_mem_feed(c, m, n);
  take_answer(c, &a);
  CHECK(a.len >= 12);
  if (n >= 2) CHECK_EQ_INT(a.id, g16(m));
  CHECK(a.flags & 0x8000);
  CHECK(!lab_mem_closed(c));
  lab_mem_free(c);
  return a.len >= 12 ? rcode(&a) : 99;
}

static void test_malformed(void) {
  struct q q;

  /* Compression loop: the question's name points at itself. */
  q_make(&q, 1, "", 1);
  q.len = 12;
  q.p[q.len++] = 0xC0;
  q.p[q.len++] = 12;
  q_u16(&q, 1);
  q_u16(&q, 1);
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  /* Two pointers pointing at each other. */
  q.len = 12;
  q.p[q.len++] = 0xC0;
  q.p[q.len++] = 14;
  q.p[q.len++] = 0xC0;
  q.p[q.len++] = 12;
  q_u16(&q, 1);
  q_u16(&q, 1);
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  /* A forward pointer, even to a good name. */
  q.len = 12;
  q.p[q.len++] = 0xC0;
  q.p[q.len++] = 18;
  q_u16(&q, 1);
  q_u16(&q, 1);
  memcpy(q.p + q.len, "\3lab\0", 5);
  q.len += 5;
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  /* Label type 01 (0x40, RFC 6891's extended labels) is not accepted. */
  q.len = 12;
  q.p[q.len++] = 0x40; /* extended label type */
  q.p[q.len++] = 0;
  q_u16(&q, 1);
  q_u16(&q, 1);
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  /* A label that runs past the end; a missing type and class. */
  q_make(&q, 2, "lab", 1);
  q.p[12] = 60;
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  q_make(&q, 3, "lab", 1);
  CHECK_EQ_INT(raw_rcode(q.p, q.len - 4), 1);
  /* Two questions; a response; shorter than a header. */
  q_make(&q, 4, "lab", 1);
  q.p[5] = 2;
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  q_make(&q, 5, "lab", 1);
  q.p[2] |= 0x80;
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  CHECK_EQ_INT(raw_rcode(q.p, 11), 1);
  /* Opcode STATUS (2): not implemented. */
  q_make(&q, 6, "lab", 1);
  q.p[2] = 0x10;
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 4);
  /* Class CHAOS is not served. */
  q_make(&q, 8, "lab", 16);
  q.p[q.len - 1] = 3;
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 5);
}

static void test_limits(void) {
  struct q q;
  char name[400];
  size_t n = 0;

  /* A name of 255 bytes on the wire (RFC 1035 section 2.3.4): 3 labels of
   * 63, one of 57 and "lab" = 3*64 + 58 + 4 + 1 = 255. Answered NXDOMAIN. */
  for (int i = 0; i < 3; i++) {
    memset(name + n, 'a' + i, 63);
    n += 63;
    name[n++] = '.';
  }
  memset(name + n, 'd', 57);
  n += 57;
  memcpy(name + n, ".lab", 5);
  q_make(&q, 9, name, 1);
  CHECK_EQ_INT(q.len, 12 + 255 + 4);
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 3);
  /* One byte more: FORMERR. */
  memmove(name + n + 1, name + n, 5);
  name[n] = 'd';
  q_make(&q, 10, name, 1);
  CHECK_EQ_INT(q.len, 12 + 256 + 4);
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  /* A 64-byte label is not a label. */
  memset(name, 'x', 64);
  memcpy(name + 64, ".lab", 5);
  q_make(&q, 11, name, 1);
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);

  /* A query of LIM_DNS_QUERY bytes (padded after the question, where an
   * additional section would be) is answered; one byte more is FORMERR. */
  q_make(&q, 12, "lab", 1);
  memset(q.p + q.len, 0, sizeof q.p - q.len);
  q.len = LIM_DNS_QUERY;
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 0);
  q.len = LIM_DNS_QUERY + 1;
  CHECK_EQ_INT(raw_rcode(q.p, q.len), 1);
  /* The largest message TCP can frame is counted off, not kept. */
  static unsigned char huge[65535];
  q_make(&q, 13, "lab", 1);
  memcpy(huge, q.p, q.len);
  CHECK_EQ_INT(raw_rcode(huge, sizeof huge), 1);
}

static void test_pipelining(void) {
  static struct ans a;
  unsigned char all[512];
  size_t n = 0;
  struct q q;
  static const char *const names[] = {"lab", "nope.lab", "example.org"};
  static const unsigned want_rcode[] = {0, 3, 5};

  for (unsigned i = 0; i < 3; i++) {
    q_make(&q, 100 + i, names[i], 1);
    all[n++] = (unsigned char)(q.len >> 8);
    all[n++] = (unsigned char)q.len;
    memcpy(all + n, q.p, q.len);
    n += q.len;
  }
  for (size_t cut = 0; cut < n; cut++) {
    struct lab_conn *c = open_conn(1);
    if (cut) {
      lab_mem_feed(c, all, cut);
      lab_mem_feed(c, all + cut, n - cut);
    } else {
      for (size_t k = 0; k < n; k++) lab_mem_feed(c, all + k, 1);
    }
    size_t len;
    const unsigned char *out = (const unsigned char *)lab_mem_output(c, &len);
    size_t off = 0;
    for (unsigned i = 0; i < 3; i++) {
      CHECK(off + 2 <= len);
      if (off + 2 > len) break;
      size_t m = g16(out + off);
      CHECK(off + 2 + m <= len && m >= 12);
      if (off + 2 + m > len || m < 12) break;
      CHECK_EQ_INT(g16(out + off + 2), 100 + i);
      CHECK_EQ_INT(out[off + 5] & 0xF, want_rcode[i]);
      off += 2 + m;
    }
    CHECK_EQ_INT(off, len);
    lab_mem_free(c);
  }

  /* A zero-length message ends the connection. */
  struct lab_conn *c = open_conn(1);
  lab_mem_feed(c, "\0\0", 2);
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
  (void)a;
}

static int ev_cb(void *arg, const char *attrs) {
  if (strstr(attrs, "\"name\":\"ev") && strstr(attrs, ".lab.\"")) (*(int *)arg)++;
  return 0;
}

/* LIM_DNS_EVENTS queries on one connection are recorded; the next one is
 * answered but not recorded; a new connection records again. */
static void test_event_cap(void) {
  static struct ans a;
  struct q q;
  char name[32];
  int n = 0;
  struct lab_conn *c = open_conn(1);
  for (int i = 1; i <= LIM_DNS_EVENTS + 1; i++) {
    snprintf(name, sizeof name, "ev%d.lab", i);
    q_make(&q, (unsigned)i, name, 1);
    send_q(c, &q);
    take_answer(c, &a);
    CHECK(a.ok && a.id == (unsigned)i && rcode(&a) == 3);
  }
  lab_mem_free(c);
  CHECK_EQ_INT(db_lab_event_find(ctx.db, alice_id, "dns.query", ev_cb, &n), 1);
  CHECK_EQ_INT(n, LIM_DNS_EVENTS);
  ask(&a, "ev0.lab", 1);
  n = 0;
  CHECK_EQ_INT(db_lab_event_find(ctx.db, alice_id, "dns.query", ev_cb, &n), 1);
  CHECK_EQ_INT(n, LIM_DNS_EVENTS + 1);
}

int main(void) {
  alice_id = lab_fixture(&ctx, SECRET, "alice-pw");
  CHECK_EQ_INT(labident_add(PEER_PORT, alice_id, "198.51.100.7"), 0);

  test_records();
  test_flag();
  test_malformed();
  test_limits();
  test_pipelining();
  test_event_cap();

  labident_remove(PEER_PORT);
  db_close(ctx.db);
  return check_done();
}
