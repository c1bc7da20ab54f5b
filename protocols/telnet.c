/* telnet.c -- the Telnet option engine (RFC 854, RFC 855, RFC 1143).
 *
 * RFC 854 defines the byte stream: data, with IAC (255) introducing a
 * command and IAC IAC standing for a data byte 255. RFC 855 defines option
 * negotiation (WILL/WONT/DO/DONT) and subnegotiation (IAC SB opt ... IAC
 * SE). RFC 1143's "Q method" keeps, per option and per side, one of four
 * states (NO, YES, WANTNO, WANTYES) and a one-bit queue, so a request is
 * only sent when the state would change and two engines facing each other
 * settle instead of echoing requests back and forth forever.
 *
 * The peer is untrusted: the parser keeps no more than LIM_TELNET_SB_BYTES
 * of a subnegotiation, and refusals of options we do not accept are capped
 * per option so a flood of requests cannot make us send without bound.
 * Callbacks may call telnet_send_data and telnet_set_*, but must not feed
 * the same engine through telnet_recv: the parser is mid-stream then.
 */
#include "telnet.h"

#include <stdlib.h>
#include <string.h>

#include "portlab_limits.h"

/* RFC 1143 answers every unwanted WILL/DO in state NO with a refusal. A
 * peer that repeats a refused request is broken or hostile, and answering
 * each repeat would let it make us send as much as it sends, so each
 * option is refused once per side and later repeats get silence. */
#define TELNET_MAX_REFUSALS 1

enum telnet_q { Q_NO = 0, Q_YES, Q_WANTNO, Q_WANTYES };
enum telnet_queue { Q_EMPTY = 0, Q_OPPOSITE };

enum telnet_parse {
  P_DATA = 0, /* ordinary data */
  P_IAC,      /* after IAC */
  P_OPT,      /* after IAC WILL/WONT/DO/DONT, the option byte comes next */
  P_SB_OPT,   /* after IAC SB, the option byte comes next */
  P_SB,       /* inside a subnegotiation */
  P_SB_IAC    /* IAC inside a subnegotiation */
};

/* One side (ours or the peer's) of one option. */
struct telnet_side {
  unsigned char state; /* enum telnet_q */
  unsigned char queue; /* enum telnet_queue */
  unsigned char accept;
  unsigned char refusals;
  unsigned char ignored; /* a positive request in NO went unanswered (refusal cap) */
};

struct telnet {
  struct telnet_callbacks cb;
  void *arg;
  int parse;          /* enum telnet_parse */
  unsigned char verb; /* WILL/WONT/DO/DONT awaiting its option */
  struct telnet_side us[256], him[256];
  unsigned char sb_opt;
  unsigned char sb[LIM_TELNET_SB_BYTES];
  size_t sb_len;
  int sb_truncated;
  size_t sb_dropped;
};

struct telnet *telnet_new(const struct telnet_callbacks *cb, void *arg) {
  struct telnet *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->cb = *cb;
  t->arg = arg;
  return t;
}

void telnet_free(struct telnet *t) {
  free(t);
}

void telnet_accept(struct telnet *t, int option, int local, int remote) {
  if (option < 0 || option > 255) return;
  t->us[option].accept = local ? 1 : 0;
  t->him[option].accept = remote ? 1 : 0;
}

static void telnet_send_cmd(struct telnet *t, unsigned char verb, int option) {
  unsigned char b[3];
  b[0] = TELNET_IAC;
  b[1] = verb;
  b[2] = (unsigned char)option;
  t->cb.send(t->arg, b, sizeof b);
}

/* One side of an option: ours (local) or the peer's. */
static struct telnet_side *telnet_side(struct telnet *t, int option, int local) {
  return local ? &t->us[option] : &t->him[option];
}

/* Sends the positive or negative verb about one side of an option:
 * WILL/WONT about ours, DO/DONT about the peer's. */
static void telnet_q_send(struct telnet *t, int option, int local, int positive) {
  if (local)
    telnet_send_cmd(t, positive ? TELNET_WILL : TELNET_WONT, option);
  else
    telnet_send_cmd(t, positive ? TELNET_DO : TELNET_DONT, option);
}

/* Reports a change of the enabled flag (state YES) of one side. */
static void telnet_notify(struct telnet *t, int option, int local, int was_enabled) {
  const struct telnet_side *s = telnet_side(t, option, local);
  int now = s->state == Q_YES;
  if (now != was_enabled && t->cb.option) t->cb.option(t->arg, option, local, now);
}

/* RFC 1143 section 7, receiving side. local: the peer sent DO/DONT about
 * our side; otherwise WILL/WONT about its own. positive: DO or WILL. */
static void telnet_q_recv(struct telnet *t, int option, int local, int positive) {
  struct telnet_side *s = telnet_side(t, option, local);
  int was = s->state == Q_YES;

  switch (s->state) {
    case Q_NO:
      /* A negative in NO is already true: answering it could start a loop. */
      if (!positive) {
        s->ignored = 0; /* the peer gave up its request */
        break;
      }
      if (s->accept) {
        s->state = Q_YES;
        telnet_q_send(t, option, local, 1);
      } else if (s->refusals < TELNET_MAX_REFUSALS) {
        s->refusals++;
        telnet_q_send(t, option, local, 0);
      } else {
        s->ignored = 1;
      }
      break;
    case Q_YES:
      if (positive) break;
      s->state = Q_NO;
      telnet_q_send(t, option, local, 0);
      break;
    case Q_WANTNO:
      if (s->queue == Q_EMPTY) {
        /* A positive here is the peer's error (our negative answered by a
         * positive); RFC 1143 settles on NO without a reply. */
        s->state = Q_NO;
      } else if (positive) {
        s->state = Q_YES;
        s->queue = Q_EMPTY;
      } else {
        s->state = Q_WANTYES;
        s->queue = Q_EMPTY;
        telnet_q_send(t, option, local, 1);
      }
      break;
    case Q_WANTYES:
      if (!positive) {
        s->state = Q_NO;
        s->queue = Q_EMPTY;
      } else if (s->queue == Q_EMPTY) {
        s->state = Q_YES;
      } else {
        s->state = Q_WANTNO;
        s->queue = Q_EMPTY;
        telnet_q_send(t, option, local, 0);
      }
      break;
  }
  telnet_notify(t, option, local, was);
}

/* RFC 1143 section 7, asking side: a request is sent only when it would
 * change something, otherwise at most the queue bit is set or cleared. */
static void telnet_q_ask(struct telnet *t, int option, int local, int enable) {
  struct telnet_side *s = telnet_side(t, option, local);
  int was = s->state == Q_YES;

  switch (s->state) {
    case Q_NO:
      if (enable) {
        /* If we left a request of the peer unanswered, the peer is
         * waiting in WANTYES and takes ours as the answer, without a
         * reply (RFC 1143): the option is on for both sides now. */
        s->state = s->ignored ? Q_YES : Q_WANTYES;
        s->ignored = 0;
        telnet_q_send(t, option, local, 1);
      }
      break;
    case Q_YES:
      if (!enable) {
        s->state = Q_WANTNO;
        telnet_q_send(t, option, local, 0);
      }
      break;
    case Q_WANTNO:
      s->queue = enable ? Q_OPPOSITE : Q_EMPTY;
      break;
    case Q_WANTYES:
      s->queue = enable ? Q_EMPTY : Q_OPPOSITE;
      break;
  }
  telnet_notify(t, option, local, was);
}

void telnet_set_local(struct telnet *t, int option, int enable) {
  if (option < 0 || option > 255) return;
  telnet_q_ask(t, option, 1, enable);
}

void telnet_set_remote(struct telnet *t, int option, int enable) {
  if (option < 0 || option > 255) return;
  telnet_q_ask(t, option, 0, enable);
}

int telnet_local_enabled(const struct telnet *t, int option) {
  if (option < 0 || option > 255) return 0;
  return t->us[option].state == Q_YES;
}

int telnet_remote_enabled(const struct telnet *t, int option) {
  if (option < 0 || option > 255) return 0;
  return t->him[option].state == Q_YES;
}

size_t telnet_sb_dropped(const struct telnet *t) {
  return t->sb_dropped;
}

static void telnet_sb_byte(struct telnet *t, unsigned char c) {
  if (t->sb_len < sizeof t->sb) {
    t->sb[t->sb_len++] = c;
  } else {
    t->sb_dropped++;
    t->sb_truncated = 1;
  }
}

static void telnet_sb_end(struct telnet *t) {
  if (t->cb.subneg) t->cb.subneg(t->arg, t->sb_opt, t->sb, t->sb_len, t->sb_truncated);
  t->sb_len = 0;
  t->sb_truncated = 0;
}

/* Handles the byte after IAC (outside a subnegotiation). Returns 1 if the
 * byte is a data 255 that starts a new data run. */
static int telnet_after_iac(struct telnet *t, unsigned char c) {
  switch (c) {
    case TELNET_IAC:
      t->parse = P_DATA;
      return 1;
    case TELNET_WILL:
    case TELNET_WONT:
    case TELNET_DO:
    case TELNET_DONT:
      t->verb = c;
      t->parse = P_OPT;
      return 0;
    case TELNET_SB:
      t->parse = P_SB_OPT;
      return 0;
    default:
      /* NOP, DM, BRK, IP, AO, AYT, EC, EL, GA, a stray SE, and bytes that
       * are no command at all: none changes the data the user sees in a
       * relay, so they are consumed silently. */
      t->parse = P_DATA;
      return 0;
  }
}

void telnet_recv(struct telnet *t, const unsigned char *p, size_t n) {
  /* Data is handed on in runs that point into p; a run ends at an IAC or
   * at the end of this call. IAC IAC starts a new run at its second byte,
   * which is the data byte 255 itself, so nothing is copied. */
  const unsigned char *run = NULL;
  size_t i;

  for (i = 0; i < n; i++) {
    unsigned char c = p[i];
    switch (t->parse) {
      case P_DATA:
        if (c == TELNET_IAC) {
          if (run) t->cb.data(t->arg, run, (size_t)(p + i - run));
          run = NULL;
          t->parse = P_IAC;
        } else if (!run) {
          run = p + i;
        }
        break;
      case P_IAC:
        if (telnet_after_iac(t, c)) run = p + i;
        break;
      case P_OPT:
        t->parse = P_DATA;
        switch (t->verb) {
          case TELNET_WILL:
            telnet_q_recv(t, c, 0, 1);
            break;
          case TELNET_WONT:
            telnet_q_recv(t, c, 0, 0);
            break;
          case TELNET_DO:
            telnet_q_recv(t, c, 1, 1);
            break;
          default:
            telnet_q_recv(t, c, 1, 0);
            break;
        }
        break;
      case P_SB_OPT:
        t->sb_opt = c;
        t->sb_len = 0;
        t->sb_truncated = 0;
        t->parse = P_SB;
        break;
      case P_SB:
        if (c == TELNET_IAC)
          t->parse = P_SB_IAC;
        else
          telnet_sb_byte(t, c);
        break;
      case P_SB_IAC:
        if (c == TELNET_SE) {
          t->parse = P_DATA;
          telnet_sb_end(t);
        } else if (c == TELNET_IAC) {
          t->parse = P_SB;
          telnet_sb_byte(t, c);
        } else {
          /* RFC 855 allows only IAC SE or IAC IAC here. A peer that forgot
           * the SE has begun a new command: end the subnegotiation and
           * read this byte as that command, rather than swallowing the
           * rest of the session as subnegotiation. */
          telnet_sb_end(t);
          if (telnet_after_iac(t, c)) run = p + i;
        }
        break;
    }
  }
  if (run) t->cb.data(t->arg, run, (size_t)(p + n - run));
}

void telnet_send_data(struct telnet *t, const unsigned char *p, size_t n) {
  /* Each run is sent up to and including an IAC, and the next run starts
   * at that same IAC, so it goes out twice without a copy. */
  size_t start = 0, i;
  for (i = 0; i < n; i++) {
    if (p[i] == TELNET_IAC) {
      t->cb.send(t->arg, p + start, i + 1 - start);
      start = i;
    }
  }
  if (start < n) t->cb.send(t->arg, p + start, n - start);
}
