/* test_telnet.c -- unit tests for the Telnet option engine.
 *
 * Two engines are wired back to back through queues (never by calling
 * each other's telnet_recv from a send callback, since a real network
 * delivers later, not inside the sender) to show that RFC 1143 negotiation
 * settles. The parser is fed the same stream split at every byte boundary,
 * and floods of subnegotiation and commands check the caps.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "portlab_limits.h"
#include "telnet.h"

/* A growable byte log, enough for a test. */
struct blog {
  unsigned char *p;
  size_t n, cap;
};

static void blog_add(struct blog *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->n + n) nc *= 2;
    b->p = realloc(b->p, nc);
    if (!b->p) abort();
    b->cap = nc;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void blog_free(struct blog *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* One engine and what it produced. */
struct end {
  struct telnet *t;
  struct blog sent;   /* bytes for the peer, not yet delivered */
  struct blog data;   /* data received */
  struct blog events; /* "O<opt><local><en>" and "S<opt><trunc><len..>" records */
  size_t sent_total;
  size_t data_calls;
  size_t last_sb_len;
  int last_sb_trunc;
};

static void on_send(void *arg, const unsigned char *p, size_t n) {
  struct end *e = arg;
  blog_add(&e->sent, p, n);
  e->sent_total += n;
}

static void on_data(void *arg, const unsigned char *p, size_t n) {
  struct end *e = arg;
  CHECK(n > 0); /* never an empty run */
  blog_add(&e->data, p, n);
  e->data_calls++;
}

static void on_option(void *arg, int option, int local, int enabled) {
  struct end *e = arg;
  unsigned char rec[4];
  rec[0] = 'O';
  rec[1] = (unsigned char)option;
  rec[2] = (unsigned char)local;
  rec[3] = (unsigned char)enabled;
  blog_add(&e->events, rec, sizeof rec);
}

static void on_subneg(void *arg, int option, const unsigned char *p, size_t n, int truncated) {
  struct end *e = arg;
  unsigned char rec[5];
  rec[0] = 'S';
  rec[1] = (unsigned char)option;
  rec[2] = (unsigned char)truncated;
  rec[3] = (unsigned char)(n >> 8);
  rec[4] = (unsigned char)n;
  blog_add(&e->events, rec, sizeof rec);
  blog_add(&e->events, p, n);
  e->last_sb_len = n;
  e->last_sb_trunc = truncated;
}

static const struct telnet_callbacks cbs = {on_send, on_data, on_option, on_subneg};

static void end_init(struct end *e) {
  memset(e, 0, sizeof *e);
  e->t = telnet_new(&cbs, e);
  CHECK(e->t != NULL);
}

static void end_free(struct end *e) {
  telnet_free(e->t);
  blog_free(&e->sent);
  blog_free(&e->data);
  blog_free(&e->events);
}

/* Takes what e sent so far (and forgets it). */
static size_t take_sent(struct end *e, unsigned char *out, size_t outlen) {
  size_t n = e->sent.n;
  if (n > outlen) n = outlen;
  memcpy(out, e->sent.p, n);
  e->sent.n = 0;
  return n;
}

/* Delivers queued bytes both ways until both are quiet. Returns the number
 * of rounds, or -1 if they had not settled after max_rounds. */
static int pump(struct end *a, struct end *b, int max_rounds) {
  int round;
  for (round = 0; round < max_rounds; round++) {
    struct blog qa = a->sent, qb = b->sent;
    if (qa.n == 0 && qb.n == 0) return round;
    memset(&a->sent, 0, sizeof a->sent);
    memset(&b->sent, 0, sizeof b->sent);
    telnet_recv(b->t, qa.p, qa.n);
    telnet_recv(a->t, qb.p, qb.n);
    blog_free(&qa);
    blog_free(&qb);
  }
  return -1;
}

static void recv_bytes(struct end *e, const void *p, size_t n) {
  telnet_recv(e->t, p, n);
}

/* Both ends agree on every option's state and nothing is pending. */
static int consistent(const struct end *a, const struct end *b) {
  int o;
  for (o = 0; o < 256; o++) {
    if (telnet_local_enabled(a->t, o) != telnet_remote_enabled(b->t, o)) return 0;
    if (telnet_remote_enabled(a->t, o) != telnet_local_enabled(b->t, o)) return 0;
  }
  return 1;
}

static void test_back_to_back(void) {
  struct end a, b;
  int rounds;
  end_init(&a);
  end_init(&b);
  /* a is a client, b a server; each asks for things, some refused. */
  telnet_accept(a.t, TELNET_OPT_ECHO, 0, 1);
  telnet_accept(a.t, TELNET_OPT_SGA, 1, 1);
  telnet_accept(a.t, TELNET_OPT_NAWS, 1, 0);
  telnet_accept(b.t, TELNET_OPT_ECHO, 1, 0);
  telnet_accept(b.t, TELNET_OPT_SGA, 1, 1);
  telnet_set_local(b.t, TELNET_OPT_ECHO, 1);
  telnet_set_local(b.t, TELNET_OPT_SGA, 1);
  telnet_set_remote(b.t, TELNET_OPT_SGA, 1);
  telnet_set_remote(b.t, TELNET_OPT_TTYPE, 1); /* a refuses */
  telnet_set_remote(b.t, TELNET_OPT_NAWS, 1);
  telnet_set_local(a.t, TELNET_OPT_SGA, 1);  /* crosses b's DO SGA */
  telnet_set_remote(a.t, TELNET_OPT_SGA, 1); /* crosses b's WILL SGA */
  telnet_set_local(a.t, TELNET_OPT_ECHO, 1); /* b refuses: it echoes */
  telnet_set_remote(a.t, 99, 1);             /* b refuses an unknown option */
  rounds = pump(&a, &b, 50);
  CHECK(rounds >= 0 && rounds <= 4);
  CHECK(a.sent_total + b.sent_total <= 20 * 3);
  CHECK(consistent(&a, &b));
  CHECK(telnet_remote_enabled(a.t, TELNET_OPT_ECHO));
  CHECK(telnet_local_enabled(b.t, TELNET_OPT_ECHO));
  CHECK(!telnet_local_enabled(a.t, TELNET_OPT_ECHO));
  CHECK(telnet_local_enabled(a.t, TELNET_OPT_SGA));
  CHECK(telnet_remote_enabled(a.t, TELNET_OPT_SGA));
  CHECK(!telnet_local_enabled(a.t, TELNET_OPT_TTYPE));
  CHECK(telnet_local_enabled(a.t, TELNET_OPT_NAWS));
  CHECK(!telnet_remote_enabled(a.t, 99));

  /* Turning things off settles too, and a second request is a no-op. */
  a.sent_total = b.sent_total = 0;
  telnet_set_remote(a.t, TELNET_OPT_ECHO, 0);
  telnet_set_remote(a.t, TELNET_OPT_ECHO, 0);
  telnet_set_local(b.t, TELNET_OPT_SGA, 0);
  CHECK_EQ_INT(a.sent.n, 3);
  rounds = pump(&a, &b, 50);
  CHECK(rounds >= 0 && rounds <= 3);
  CHECK(consistent(&a, &b));
  CHECK(!telnet_remote_enabled(a.t, TELNET_OPT_ECHO));
  CHECK(!telnet_local_enabled(b.t, TELNET_OPT_SGA));
  CHECK(a.sent_total + b.sent_total <= 4 * 3);
  end_free(&a);
  end_free(&b);
}

/* Random requests from both sides, delivered in random slices, must always
 * settle into agreement with traffic bounded by the requests made. */
static void test_random_negotiation(void) {
  unsigned seed = 12345;
  int iter;
  int all_settled = 1, all_consistent = 1, bounded = 1;
  for (iter = 0; iter < 200; iter++) {
    struct end a, b;
    int k, requests = 0;
    end_init(&a);
    end_init(&b);
    for (k = 0; k < 8; k++) {
      seed = seed * 1103515245u + 12345u;
      telnet_accept(a.t, k, (seed >> 16) & 1, (seed >> 17) & 1);
      telnet_accept(b.t, k, (seed >> 18) & 1, (seed >> 19) & 1);
    }
    for (k = 0; k < 40; k++) {
      struct end *e;
      int opt, en;
      seed = seed * 1103515245u + 12345u;
      e = (seed >> 16) & 1 ? &a : &b;
      opt = (int)((seed >> 17) % 8);
      en = (seed >> 21) & 1;
      if ((seed >> 22) & 1)
        telnet_set_local(e->t, opt, en);
      else
        telnet_set_remote(e->t, opt, en);
      requests++;
      /* Sometimes deliver part of the way, so requests cross. */
      if ((seed >> 23) % 3 == 0) {
        struct blog q = a.sent;
        memset(&a.sent, 0, sizeof a.sent);
        telnet_recv(b.t, q.p, q.n);
        blog_free(&q);
      }
    }
    if (pump(&a, &b, 100) < 0) all_settled = 0;
    /* Re-asking for a refused option gets no second refusal, so a side
     * may be left waiting; every enabled flag must still agree. */
    if (!consistent(&a, &b)) all_consistent = 0;
    if (a.sent_total + b.sent_total > (size_t)(requests * 3 * 3 + 16 * 3 * 2)) bounded = 0;
    end_free(&a);
    end_free(&b);
  }
  CHECK(all_settled);
  CHECK(all_consistent);
  CHECK(bounded);
}

static void test_will_echo(void) {
  static const unsigned char will_echo[] = {TELNET_IAC, TELNET_WILL, TELNET_OPT_ECHO};
  static const unsigned char wont_echo[] = {TELNET_IAC, TELNET_WONT, TELNET_OPT_ECHO};
  unsigned char out[64];
  struct end e;
  end_init(&e);
  telnet_accept(e.t, TELNET_OPT_ECHO, 0, 1);

  recv_bytes(&e, will_echo, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 3);
  CHECK(out[0] == TELNET_IAC && out[1] == TELNET_DO && out[2] == TELNET_OPT_ECHO);
  CHECK(telnet_remote_enabled(e.t, TELNET_OPT_ECHO));
  CHECK_EQ_INT(e.events.n, 4);
  CHECK(e.events.n == 4 && memcmp(e.events.p, "O\x01\x00\x01", 4) == 0);

  /* A repeated WILL changes nothing and is not answered. */
  recv_bytes(&e, will_echo, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);
  CHECK_EQ_INT(e.events.n, 4);

  recv_bytes(&e, wont_echo, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 3);
  CHECK(out[1] == TELNET_DONT && out[2] == TELNET_OPT_ECHO);
  CHECK(!telnet_remote_enabled(e.t, TELNET_OPT_ECHO));
  CHECK(e.events.n == 8 && memcmp(e.events.p + 4, "O\x01\x00\x00", 4) == 0);
  /* WONT to an option already off: no reply, no event. */
  recv_bytes(&e, wont_echo, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);
  CHECK_EQ_INT(e.events.n, 8);
  end_free(&e);
}

static void test_refusals(void) {
  static const unsigned char do_ttype[] = {TELNET_IAC, TELNET_DO, TELNET_OPT_TTYPE};
  static const unsigned char dont_ttype[] = {TELNET_IAC, TELNET_DONT, TELNET_OPT_TTYPE};
  static const unsigned char will_naws[] = {TELNET_IAC, TELNET_WILL, TELNET_OPT_NAWS};
  static const unsigned char wont_naws[] = {TELNET_IAC, TELNET_WONT, TELNET_OPT_NAWS};
  unsigned char out[64];
  struct end e;
  end_init(&e);

  recv_bytes(&e, do_ttype, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 3);
  CHECK(out[0] == TELNET_IAC && out[1] == TELNET_WONT && out[2] == TELNET_OPT_TTYPE);
  CHECK(!telnet_local_enabled(e.t, TELNET_OPT_TTYPE));
  CHECK_EQ_INT(e.events.n, 0);
  recv_bytes(&e, do_ttype, 3); /* asked again: refused only once */
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);
  recv_bytes(&e, dont_ttype, 3); /* already off: never answered */
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);

  recv_bytes(&e, will_naws, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 3);
  CHECK(out[1] == TELNET_DONT && out[2] == TELNET_OPT_NAWS);
  recv_bytes(&e, wont_naws, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);
  CHECK_EQ_INT(e.events.n, 0);
  end_free(&e);
}

/* Our request crossed by a change of mind uses the queue bit: one DO, then
 * one DONT once the WILL arrives, and nothing after the WONT. */
static void test_queue_bit(void) {
  static const unsigned char will_sga[] = {TELNET_IAC, TELNET_WILL, TELNET_OPT_SGA};
  static const unsigned char wont_sga[] = {TELNET_IAC, TELNET_WONT, TELNET_OPT_SGA};
  unsigned char out[64];
  struct end e;
  end_init(&e);
  telnet_set_remote(e.t, TELNET_OPT_SGA, 1);
  telnet_set_remote(e.t, TELNET_OPT_SGA, 1);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 3);
  CHECK(out[1] == TELNET_DO);
  telnet_set_remote(e.t, TELNET_OPT_SGA, 0); /* queued, nothing sent */
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);
  recv_bytes(&e, will_sga, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 3);
  CHECK(out[1] == TELNET_DONT && out[2] == TELNET_OPT_SGA);
  CHECK(!telnet_remote_enabled(e.t, TELNET_OPT_SGA));
  recv_bytes(&e, wont_sga, 3);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);
  CHECK(!telnet_remote_enabled(e.t, TELNET_OPT_SGA));
  CHECK_EQ_INT(e.events.n, 0); /* never enabled, so never reported */

  /* Asking for an option the peer then refuses leaves it off, silently. */
  telnet_set_local(e.t, TELNET_OPT_ECHO, 1);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 3);
  CHECK(out[1] == TELNET_WILL && out[2] == TELNET_OPT_ECHO);
  {
    static const unsigned char dont_echo[] = {TELNET_IAC, TELNET_DONT, TELNET_OPT_ECHO};
    recv_bytes(&e, dont_echo, 3);
  }
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);
  CHECK(!telnet_local_enabled(e.t, TELNET_OPT_ECHO));

  /* Our own request, once granted, is reported with local = 1. */
  telnet_set_local(e.t, TELNET_OPT_SGA, 1);
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 3);
  {
    static const unsigned char do_sga[] = {TELNET_IAC, TELNET_DO, TELNET_OPT_SGA};
    recv_bytes(&e, do_sga, 3);
  }
  CHECK_EQ_INT(take_sent(&e, out, sizeof out), 0);
  CHECK(telnet_local_enabled(e.t, TELNET_OPT_SGA));
  CHECK(e.events.n == 4 && memcmp(e.events.p, "O\x03\x01\x01", 4) == 0);
  end_free(&e);
}

static void test_data(void) {
  struct end e;
  static const unsigned char in1[] = "hello world";
  static const unsigned char in2[] = {'a', TELNET_IAC, TELNET_IAC, 'b', TELNET_IAC, TELNET_IAC};
  static const unsigned char cmds[] = {'x',        TELNET_IAC, TELNET_NOP, 'y',
                                       TELNET_IAC, TELNET_GA,  TELNET_IAC, TELNET_AYT,
                                       TELNET_IAC, TELNET_DM,  'z',        TELNET_IAC,
                                       TELNET_SE,  TELNET_IAC, 'q',        'r'};
  static const unsigned char crnul[] = {'a', '\r', 0, 'b', '\r', '\n'};
  end_init(&e);
  recv_bytes(&e, in1, 11);
  CHECK_EQ_INT(e.data_calls, 1); /* one run, not byte by byte */
  CHECK(e.data.n == 11 && memcmp(e.data.p, "hello world", 11) == 0);

  e.data.n = 0;
  recv_bytes(&e, in2, sizeof in2);
  CHECK_EQ_INT(e.data.n, 4);
  CHECK(e.data.n == 4 && memcmp(e.data.p,
                                "a\xff"
                                "b\xff",
                                4) == 0);
  CHECK_EQ_INT(e.sent.n, 0);

  e.data.n = 0;
  recv_bytes(&e, cmds, sizeof cmds);
  CHECK(e.data.n == 4 && memcmp(e.data.p, "xyzr", 4) == 0);
  CHECK_EQ_INT(e.sent.n, 0);

  e.data.n = 0;
  recv_bytes(&e, crnul, sizeof crnul);
  CHECK(e.data.n == 6 && memcmp(e.data.p, crnul, 6) == 0);
  end_free(&e);
}

static void test_send_data(void) {
  struct end e;
  static const unsigned char in[] = {TELNET_IAC, 'a', TELNET_IAC, TELNET_IAC, 'b', TELNET_IAC};
  static const unsigned char want[] = {TELNET_IAC, TELNET_IAC, 'a', TELNET_IAC, TELNET_IAC,
                                       TELNET_IAC, TELNET_IAC, 'b', TELNET_IAC, TELNET_IAC};
  struct end r;
  end_init(&e);
  telnet_send_data(e.t, in, sizeof in);
  CHECK_EQ_INT(e.sent.n, sizeof want);
  CHECK(e.sent.n == sizeof want && memcmp(e.sent.p, want, sizeof want) == 0);
  /* And it round-trips through a receiving engine. */
  end_init(&r);
  telnet_recv(r.t, e.sent.p, e.sent.n);
  CHECK(r.data.n == sizeof in && memcmp(r.data.p, in, sizeof in) == 0);
  e.sent.n = 0;
  telnet_send_data(e.t, (const unsigned char *)"plain", 5);
  CHECK(e.sent.n == 5 && memcmp(e.sent.p, "plain", 5) == 0);
  telnet_send_data(e.t, (const unsigned char *)"", 0);
  CHECK_EQ_INT(e.sent.n, 5);
  end_free(&r);
  end_free(&e);
}

/* A stream exercising every parser state, fed whole and then split at
 * every byte boundary and byte by byte: data, events and replies must be
 * identical. */
static void test_split_everywhere(void) {
  static const unsigned char s[] = {'l',
                                    'o',
                                    'g',
                                    'i',
                                    'n',
                                    ':',
                                    ' ',
                                    TELNET_IAC,
                                    TELNET_WILL,
                                    TELNET_OPT_ECHO,
                                    'A',
                                    TELNET_IAC,
                                    TELNET_IAC,
                                    'B',
                                    TELNET_IAC,
                                    TELNET_DO,
                                    TELNET_OPT_TTYPE,
                                    TELNET_IAC,
                                    TELNET_SB,
                                    TELNET_OPT_TTYPE,
                                    1,
                                    'x',
                                    TELNET_IAC,
                                    TELNET_IAC,
                                    'y',
                                    TELNET_IAC,
                                    TELNET_SE,
                                    '\r',
                                    0,
                                    TELNET_IAC,
                                    TELNET_NOP,
                                    'C',
                                    TELNET_IAC,
                                    TELNET_DO,
                                    TELNET_OPT_SGA,
                                    TELNET_IAC,
                                    TELNET_WONT,
                                    TELNET_OPT_ECHO,
                                    'D',
                                    'E',
                                    TELNET_IAC,
                                    TELNET_SB,
                                    TELNET_OPT_NAWS,
                                    TELNET_IAC,
                                    TELNET_SE,
                                    TELNET_IAC,
                                    TELNET_IAC,
                                    TELNET_IAC,
                                    TELNET_GA,
                                    'F'};
  struct end ref;
  size_t cut, i;
  int same_data = 1, same_events = 1, same_sent = 1;

  end_init(&ref);
  telnet_accept(ref.t, TELNET_OPT_ECHO, 0, 1);
  telnet_accept(ref.t, TELNET_OPT_SGA, 1, 0);
  recv_bytes(&ref, s, sizeof s);
  CHECK(ref.data.n == 17 && memcmp(ref.data.p,
                                   "login: A\xff"
                                   "B\r\0CDE\xff"
                                   "F",
                                   17) == 0);
  CHECK_EQ_INT(ref.sent.n, 4 * 3); /* DO ECHO, WONT TTYPE, WILL SGA, DONT ECHO */

  for (cut = 0; cut <= sizeof s; cut++) {
    struct end e;
    end_init(&e);
    telnet_accept(e.t, TELNET_OPT_ECHO, 0, 1);
    telnet_accept(e.t, TELNET_OPT_SGA, 1, 0);
    recv_bytes(&e, s, cut);
    recv_bytes(&e, s + cut, sizeof s - cut);
    if (e.data.n != ref.data.n || memcmp(e.data.p, ref.data.p, ref.data.n)) same_data = 0;
    if (e.events.n != ref.events.n || memcmp(e.events.p, ref.events.p, ref.events.n))
      same_events = 0;
    if (e.sent.n != ref.sent.n || memcmp(e.sent.p, ref.sent.p, ref.sent.n)) same_sent = 0;
    end_free(&e);
  }
  {
    struct end e;
    end_init(&e);
    telnet_accept(e.t, TELNET_OPT_ECHO, 0, 1);
    telnet_accept(e.t, TELNET_OPT_SGA, 1, 0);
    for (i = 0; i < sizeof s; i++) recv_bytes(&e, s + i, 1);
    if (e.data.n != ref.data.n || memcmp(e.data.p, ref.data.p, ref.data.n)) same_data = 0;
    if (e.events.n != ref.events.n || memcmp(e.events.p, ref.events.p, ref.events.n))
      same_events = 0;
    if (e.sent.n != ref.sent.n || memcmp(e.sent.p, ref.sent.p, ref.sent.n)) same_sent = 0;
    end_free(&e);
  }
  CHECK(same_data);
  CHECK(same_events);
  CHECK(same_sent);
  end_free(&ref);
}

static void test_subneg(void) {
  struct end e;
  unsigned char *flood;
  size_t n = 100000, i;
  static const unsigned char head[] = {TELNET_IAC, TELNET_SB, TELNET_OPT_NAWS};
  static const unsigned char tail[] = {TELNET_IAC, TELNET_SE, 'o', 'k'};
  static const unsigned char sb_iac[] = {TELNET_IAC, TELNET_SB, 24,         'a',      TELNET_IAC,
                                         TELNET_IAC, 'b',       TELNET_IAC, TELNET_SE};
  static const unsigned char no_se[] = {TELNET_IAC, TELNET_SB,   24, 0,  'x',
                                        TELNET_IAC, TELNET_WILL, 1,  'd'};

  end_init(&e);
  telnet_accept(e.t, TELNET_OPT_ECHO, 0, 1);
  /* A flood: capped, counted, and the SE still ends it. */
  flood = malloc(n);
  CHECK(flood != NULL);
  if (!flood) return;
  for (i = 0; i < n; i++) flood[i] = (unsigned char)(i % 200);
  recv_bytes(&e, head, sizeof head);
  for (i = 0; i < n; i += 7000) recv_bytes(&e, flood + i, n - i < 7000 ? n - i : 7000);
  CHECK_EQ_INT(e.events.n, 0); /* not delivered before the SE */
  recv_bytes(&e, tail, sizeof tail);
  CHECK_EQ_INT(e.last_sb_len, LIM_TELNET_SB_BYTES);
  CHECK_EQ_INT(e.last_sb_trunc, 1);
  CHECK_EQ_INT(telnet_sb_dropped(e.t), n - LIM_TELNET_SB_BYTES);
  CHECK(e.events.n == 5 + LIM_TELNET_SB_BYTES && e.events.p[1] == TELNET_OPT_NAWS &&
        memcmp(e.events.p + 5, flood, LIM_TELNET_SB_BYTES) == 0);
  /* It recovered: data after the SE is data. */
  CHECK(e.data.n == 2 && memcmp(e.data.p, "ok", 2) == 0);
  free(flood);

  /* Exactly the cap: not truncated. One more: truncated, one dropped. */
  {
    unsigned char buf[LIM_TELNET_SB_BYTES + 1];
    size_t before = telnet_sb_dropped(e.t);
    memset(buf, 'z', sizeof buf);
    recv_bytes(&e, head, sizeof head);
    recv_bytes(&e, buf, LIM_TELNET_SB_BYTES);
    recv_bytes(&e, tail, 2);
    CHECK_EQ_INT(e.last_sb_len, LIM_TELNET_SB_BYTES);
    CHECK_EQ_INT(e.last_sb_trunc, 0);
    CHECK_EQ_INT(telnet_sb_dropped(e.t), before);
    recv_bytes(&e, head, sizeof head);
    recv_bytes(&e, buf, LIM_TELNET_SB_BYTES + 1);
    recv_bytes(&e, tail, 2);
    CHECK_EQ_INT(e.last_sb_len, LIM_TELNET_SB_BYTES);
    CHECK_EQ_INT(e.last_sb_trunc, 1);
    CHECK_EQ_INT(telnet_sb_dropped(e.t), before + 1);
  }

  /* IAC IAC inside SB is one 255. */
  e.events.n = 0;
  recv_bytes(&e, sb_iac, sizeof sb_iac);
  CHECK(e.events.n == 5 + 3 && memcmp(e.events.p + 5,
                                      "a\xff"
                                      "b",
                                      3) == 0);
  CHECK_EQ_INT(e.last_sb_trunc, 0);

  /* A missing SE: the next command ends the SB and is still obeyed. */
  e.events.n = 0;
  e.data.n = 0;
  e.sent.n = 0;
  recv_bytes(&e, no_se, sizeof no_se);
  CHECK_EQ_INT(e.last_sb_len, 2);
  CHECK(telnet_remote_enabled(e.t, TELNET_OPT_ECHO));
  CHECK_EQ_INT(e.sent.n, 3);
  CHECK(e.data.n == 1 && e.data.p[0] == 'd');

  /* Empty SB. */
  {
    static const unsigned char empty[] = {TELNET_IAC, TELNET_SB, 5, TELNET_IAC, TELNET_SE};
    recv_bytes(&e, empty, sizeof empty);
    CHECK_EQ_INT(e.last_sb_len, 0);
  }
  end_free(&e);
}

/* 100000 random WILL/DO requests: replies are bounded by the option space,
 * not by the flood. */
static void test_iac_flood(void) {
  struct end e;
  unsigned char *flood;
  size_t count = 100000, i;
  unsigned seed = 99;
  end_init(&e);
  telnet_accept(e.t, TELNET_OPT_ECHO, 0, 1);
  telnet_accept(e.t, TELNET_OPT_SGA, 1, 1);
  flood = malloc(count * 3);
  CHECK(flood != NULL);
  if (!flood) return;
  for (i = 0; i < count; i++) {
    seed = seed * 1103515245u + 12345u;
    flood[3 * i] = TELNET_IAC;
    flood[3 * i + 1] = (seed >> 16) & 1 ? TELNET_WILL : TELNET_DO;
    flood[3 * i + 2] = (unsigned char)(seed >> 20);
  }
  recv_bytes(&e, flood, count * 3);
  /* At most one answer per option and side. */
  CHECK(e.sent_total <= 2 * 256 * 3);
  CHECK(e.sent_total >= 2 * 200 * 3); /* and they were answered */
  CHECK_EQ_INT(e.data.n, 0);
  CHECK(telnet_remote_enabled(e.t, TELNET_OPT_ECHO));
  CHECK(telnet_local_enabled(e.t, TELNET_OPT_SGA));
  CHECK(!telnet_local_enabled(e.t, TELNET_OPT_TTYPE));
  /* Still parses data afterwards. */
  recv_bytes(&e, "fine", 4);
  CHECK(e.data.n == 4 && memcmp(e.data.p, "fine", 4) == 0);
  free(flood);
  end_free(&e);
}

static void test_misc(void) {
  struct end e;
  end_init(&e);
  /* Out-of-range options are ignored, not indexed. */
  telnet_accept(e.t, 300, 1, 1);
  telnet_accept(e.t, -1, 1, 1);
  telnet_set_local(e.t, 256, 1);
  telnet_set_remote(e.t, -5, 1);
  CHECK_EQ_INT(e.sent.n, 0);
  CHECK(!telnet_local_enabled(e.t, 256));
  CHECK(!telnet_remote_enabled(e.t, -1));
  CHECK_EQ_INT(telnet_sb_dropped(e.t), 0);
  recv_bytes(&e, "", 0);
  CHECK_EQ_INT(e.data_calls, 0);
  end_free(&e);
  telnet_free(NULL);

  /* Callbacks option and subneg may be NULL. */
  {
    static const struct telnet_callbacks min = {on_send, on_data, NULL, NULL};
    static const unsigned char in[] = {TELNET_IAC, TELNET_WILL, 1,          TELNET_IAC, TELNET_SB,
                                       1,          'x',         TELNET_IAC, TELNET_SE,  'k'};
    struct end m;
    memset(&m, 0, sizeof m);
    m.t = telnet_new(&min, &m);
    telnet_accept(m.t, 1, 0, 1);
    telnet_recv(m.t, in, sizeof in);
    CHECK(telnet_remote_enabled(m.t, 1));
    CHECK(m.data.n == 1 && m.data.p[0] == 'k');
    end_free(&m);
  }
}

int main(void) {
  test_back_to_back();
  test_random_negotiation();
  test_will_echo();
  test_refusals();
  test_queue_bit();
  test_data();
  test_send_data();
  test_split_everywhere();
  test_subneg();
  test_iac_flood();
  test_misc();
  return check_done();
}
