/* lab.c -- the framework under every built-in line-protocol lab server.
 *
 * One connection core does the work that every protocol would otherwise
 * repeat: it splits input into lines no longer than the module's
 * line_max (telling CRLF from a bare LF), hands over counted raw bytes
 * (IMAP literals), queues output under a hard cap, runs the idle timeout
 * and the FTP data channel's state machine, and calls the module's
 * callbacks. Under it sit two thin backends behind struct lab_backend:
 * memory (lab_mem_*, for unit tests and fuzzers) and real sockets (lws
 * raw vhosts, one per module, and raw sockets for data channels).
 *
 * Rules the core keeps for every module: after lab_close() no callback
 * but on_close runs; input after a close request is dropped; a
 * connection is never freed inside one of its own lws callbacks (it is
 * detached there and reaped later); callbacks always see a live session.
 */
#define _GNU_SOURCE /* accept4 */

#include "lab.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "labdb.h"
#include "labident.h"
#include "log.h"
#include "portlab_limits.h"
#include "progress.h"
#include "recorder.h"
#include "text.h"
#include "tlsmem.h"

/* What the core asks of a backend. Everything else is shared. */
struct lab_backend {
  /* Control output was queued or lab_close() was asked for. */
  void (*flush)(struct lab_conn *c);
  /* Data output was queued or lab_data_close() was asked for. */
  void (*data_flush)(struct lab_conn *c);
  int (*data_listen)(struct lab_conn *c, int *port);
  int (*data_connect)(struct lab_conn *c, const char *addr, int port);
  /* Forget the data socket now, with no callbacks. */
  void (*data_drop)(struct lab_conn *c);
};

/* One recorded transcript: the control conversation's or a data
 * connection's (session 0: none). */
struct lab_rec_stream {
  int64_t session, seq;
  int64_t start_mono; /* monotonic clock at its start */
  int64_t up, down, recorded;
  int stopped;
};

enum lab_data_state { LAB_DATA_NONE = 0, LAB_DATA_PENDING, LAB_DATA_OPEN, LAB_DATA_CLOSED };

struct lab_conn {
  const struct lab_module *m;
  const struct lab_backend *be;
  void *be_priv; /* the backend's own per-connection state */
  struct lab_ctx *ctx;
  void *session; /* the module's, session_size bytes, zeroed */
  char peer[64];
  char local[64];      /* our end of the control connection */
  int peer_port;       /* 0 in the memory backend */
  struct buf out;      /* to the client */
  unsigned char *line; /* line_max + 1 bytes: a partial line */
  size_t line_len;
  size_t want_bytes; /* lab_read_bytes() still owed to on_data */
  int closing;       /* lab_close(): no more callbacks, close when flushed */
  int on_close_done;
  enum lab_data_state data_state;
  struct buf data_out;
  int data_closing; /* lab_data_close(): end once data_out is sent */
  /* A passive port held (PASV until its connection came or timed out),
   * and by whom: the student and browser address of a relayed session,
   * the peer address of a direct client. */
  int pasv_held;
  int64_t pasv_user;
  char pasv_addr[64];
  struct lab_conn *pasv_prev, *pasv_next;
  /* The own-client recording (ctx->rec): a relay session is recorded by
   * the relay, so a connection from this host is undecided until the
   * relay had its turn to register it (or the client sent a byte). */
  enum { LAB_REC_UNDECIDED = 0, LAB_REC_OWN, LAB_REC_OFF } rec_state;
  struct lab_rec_stream rec; /* the control conversation */
  int64_t rec_user;
  int rec_user_is_student;
  int64_t rec_start_us; /* wall clock */
  int rec_closed_by_server;
  void *rec_uu;           /* the owner's ctx->budget entry */
  struct buf rec_pending; /* server output while undecided */
  /* TLS: the engine between the socket and the module. out holds what
   * goes on the wire, so once TLS runs it holds ciphertext, except for
   * its first out_plain bytes (queued in the clear before STARTTLS),
   * which the own-client recording still takes at write time; plaintext
   * after that is recorded as the module sends it. */
  int service_port;   /* the well-known port dialled */
  struct tlsmem *tls; /* NULL: cleartext */
  size_t out_plain;   /* head bytes of out that are cleartext */
  int tls_discard;    /* STARTTLS: drop the rest of the current input */
  int tls_noted;      /* the handshake summary is recorded */
  int data_protect;   /* PROT P: data channels run TLS */
  struct tlsmem *data_tls;
  int data_tls_closed; /* our close_notify is queued on the data channel */
  /* An own client's data connection is a session of its own, linked to
   * rec.session and named for the command that used it (data_label). */
  struct lab_rec_stream drec;
  int data_port; /* passive: our port; active: the client's */
  char data_label[128];
};

/* Every connection holding a passive port: the caps count them. Loop
 * thread only, like everything in the core. */
static struct lab_conn *lab_pasv_holders;

static int lab_addr_is_local(const char *addr, const struct lab_ctx *ctx);
static void lab_rec_end(struct lab_conn *c);

/* How long a relayed passive connection may wait for the relay to say whose
 * it is: LAB_VERIFY_TRIES looks, LAB_VERIFY_STEP_US apart (half a second). */
#define LAB_VERIFY_TRIES 50
#define LAB_VERIFY_STEP_US (10 * 1000)
/* A local client that is no relay session waits this many steps before
 * its data connection counts as no relay session either: the relay
 * registers in the same loop turn its connect completes, so two steps
 * are plenty. */
#define LAB_VERIFY_LOCAL_TRIES 2
/* Data connections being checked at once per listener; one student has at
 * most LIM_RELAY_SESSIONS_PER_USER sessions to try with. */
#define LAB_PENDING_MAX 8

/* --- the core ---------------------------------------------------------------- */

static int64_t lab_now_us(clockid_t clk) {
  struct timespec ts;

  clock_gettime(clk, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Allocates a connection in its initial state; the backend attaches. */
static struct lab_conn *lab_conn_new(const struct lab_module *m, const struct lab_backend *be,
                                     struct lab_ctx *ctx, const char *peer) {
  struct lab_conn *c = calloc(1, sizeof *c);

  if (!c) return NULL;
  c->m = m;
  c->be = be;
  c->ctx = ctx;
  c->service_port = m->well_known_port;
  snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "?");
  /* The socket backend replaces it with the socket's own address. */
  snprintf(c->local, sizeof c->local, "%s", ctx ? ctx->lab_addr : "");
  buf_init(&c->out, LIM_LAB_OUT_BYTES);
  buf_init(&c->data_out, LIM_LAB_OUT_BYTES);
  buf_init(&c->rec_pending, LIM_LAB_REC_PENDING);
  c->rec_start_us = lab_now_us(CLOCK_REALTIME);
  c->rec.start_mono = lab_now_us(CLOCK_MONOTONIC);
  if (!ctx || !ctx->rec) c->rec_state = LAB_REC_OFF;
  c->session = calloc(1, m->session_size ? m->session_size : 1);
  if (!c->session) goto fail;
  if (m->line_max) {
    c->line = malloc(m->line_max + 1);
    if (!c->line) goto fail;
  }
  return c;

fail:
  free(c->session);
  free(c);
  return NULL;
}

/* --- own-client recording ----------------------------------------------------- */

/* Hands one event to the recorder under the same budgets as the relay
 * (LIM_TRANSCRIPT_BYTES per session, then usage.c's); past the first one
 * reached only a note saying so is kept. */
static void lab_rec_event_to(struct lab_conn *c, struct lab_rec_stream *r, int dir, const void *p,
                             size_t n, int force) {
  struct lab_ctx *ctx = c->ctx;
  const struct lab_budget *b = ctx->budget;
  int64_t room = LIM_TRANSCRIPT_BYTES - r->recorded, budget_room = INT64_MAX;
  int why = 0;

  if (c->rec_state != LAB_REC_OWN || !r->session) return;
  if (!force) {
    if (r->stopped) return;
    if (b && c->rec_uu)
      why = b->check(b->owner, c->rec_uu, c->rec_user_is_student, (int64_t)n, &budget_room);
    if (why || (int64_t)n > room) {
      char text[256];
      if (budget_room < room) room = budget_room;
      if (room > 0) lab_rec_event_to(c, r, dir, p, (size_t)room, 0);
      r->stopped = 1;
      if (!why)
        snprintf(text, sizeof text, "recording truncated after %d bytes; the session goes on",
                 LIM_TRANSCRIPT_BYTES);
      else
        b->stop_text(b->owner, why, text, sizeof text);
      lab_rec_event_to(c, r, DB_DIR_NOTE, text, strlen(text), 1);
      return;
    }
    r->recorded += (int64_t)n;
  }
  if (b && c->rec_uu) b->recorded(b->owner, c->rec_uu, (int64_t)n);
  recorder_event(ctx->rec, r->session, ++r->seq, lab_now_us(CLOCK_MONOTONIC) - r->start_mono, dir,
                 p, n);
  if (recorder_should_flush(ctx->rec)) recorder_kick(ctx->rec);
}

static void lab_rec_event(struct lab_conn *c, int dir, const void *p, size_t n, int force) {
  lab_rec_event_to(c, &c->rec, dir, p, n, force);
}

static void lab_rec_note(struct lab_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void lab_rec_note(struct lab_conn *c, const char *fmt, ...) {
  char text[256];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  lab_rec_event(c, DB_DIR_NOTE, text, strlen(text), 0);
}

/* Whose the transcript is: the student once known, else the first
 * teacher (the class's own record of unknown clients). */
static void lab_rec_owner(struct lab_conn *c, int64_t user) {
  struct db_user u;

  c->rec_user = user;
  c->rec_user_is_student =
      db_user_by_id(c->ctx->db, user, &u) == 0 && strcmp(u.role, "student") == 0;
  c->rec_uu = c->ctx->budget ? c->ctx->budget->user(c->ctx->budget->owner, user) : NULL;
}

/* The connection is not a relay session: from here on it is an own-client
 * session with a row, a note naming the client and what it was sent so far. */
static void lab_rec_start(struct lab_conn *c) {
  struct lab_ctx *ctx = c->ctx;
  int64_t owner = 0;

  c->rec_state = LAB_REC_OFF;
  if (db_first_teacher(ctx->db, &owner) != 0) {
    log_warn("lab-%s %s: no teacher account yet; own-client session not recorded", c->m->name,
             c->peer);
    return;
  }
  if (db_session_create_own(ctx->db, owner, "lab", c->service_port,
                            c->m == &lab_telnet ? "telnet" : "raw", c->peer, c->rec_start_us,
                            &c->rec.session) != 0) {
    log_error("lab-%s: own-client session insert failed: %s", c->m->name, db_errmsg(ctx->db));
    c->rec.session = 0;
    return;
  }
  c->rec_state = LAB_REC_OWN;
  lab_rec_owner(c, owner);
  lab_rec_note(c, "own client %s port %d connected to the lab %s server%s", c->peer, c->peer_port,
               c->m->name, c->service_port == c->m->tls_port ? " (TLS)" : "");
  c->rec.down += (int64_t)buf_len(&c->rec_pending);
  if (buf_len(&c->rec_pending))
    lab_rec_event(c, DB_DIR_S2C, buf_head(&c->rec_pending), buf_len(&c->rec_pending), 0);
  buf_consume(&c->rec_pending, buf_len(&c->rec_pending));
}

/* Decides once: a relay session from this host (the relay registered its
 * port) is the relay's to record. final: the relay has had its turn for
 * sure (the client sent a byte, or the settling time passed). Returns 1
 * once decided. */
static int lab_rec_decide(struct lab_conn *c, int final) {
  if (c->rec_state != LAB_REC_UNDECIDED) return 1;
  if (c->peer_port && lab_addr_is_local(c->peer, c->ctx) && labident_lookup(c->peer_port)) {
    c->rec_state = LAB_REC_OFF;
    buf_consume(&c->rec_pending, buf_len(&c->rec_pending));
    return 1;
  }
  if (!final && c->peer_port && lab_addr_is_local(c->peer, c->ctx)) return 0;
  lab_rec_start(c);
  return 1;
}

/* Bytes the client sent (dir C2S) or that were written to it (S2C). */
static void lab_rec_bytes(struct lab_conn *c, int dir, const void *p, size_t n) {
  if (c->rec_state == LAB_REC_OFF || !n) return;
  if (dir == DB_DIR_C2S) lab_rec_decide(c, 1);
  if (c->rec_state == LAB_REC_UNDECIDED) {
    size_t room = LIM_LAB_REC_PENDING - buf_len(&c->rec_pending);
    if (room) buf_append(&c->rec_pending, p, n < room ? n : room);
    return;
  }
  if (dir == DB_DIR_C2S)
    c->rec.up += (int64_t)n;
  else
    c->rec.down += (int64_t)n;
  lab_rec_event(c, dir, p, n, 0);
}

static void lab_rec_end(struct lab_conn *c) {
  /* Still undecided: a connection from this host that sent nothing and
   * closed within the settling time. The relay forgets its port when it
   * ends a session, so it cannot be told from a local client any more:
   * such a connection is not recorded (a relay session is, by the relay). */
  if (c->rec_state == LAB_REC_UNDECIDED) c->rec_state = LAB_REC_OFF;
  if (c->rec_state != LAB_REC_OWN) return;
  lab_rec_note(c, "connection closed by %s", c->rec_closed_by_server ? "the server" : "the client");
  recorder_session_end(c->ctx->rec, c->rec.session, lab_now_us(CLOCK_REALTIME), c->rec.up,
                       c->rec.down, c->rec_closed_by_server ? "remote_closed" : "client_closed");
  c->rec_state = LAB_REC_OFF;
}

/* --- an own client's data connections ------------------------------------------ */

/* The data connection is up: when the control conversation is an own
 * client's, the data connection becomes a session of its own, of the same
 * student, linked to the control session, and the control transcript says
 * which one it is. */
static void lab_drec_start(struct lab_conn *c) {
  struct lab_ctx *ctx = c->ctx;
  struct lab_rec_stream *r = &c->drec;

  if (c->rec_state != LAB_REC_OWN || !c->rec.session || r->session) return;
  memset(r, 0, sizeof *r);
  r->start_mono = lab_now_us(CLOCK_MONOTONIC);
  if (db_session_create_data(ctx->db, c->rec_user, "lab", c->data_port, c->peer,
                             lab_now_us(CLOCK_REALTIME), c->rec.session, c->data_label,
                             &r->session) != 0) {
    log_error("lab-%s: data session insert failed: %s", c->m->name, db_errmsg(ctx->db));
    r->session = 0;
    return;
  }
  lab_rec_note(c, "data connection on port %d: transcript %lld", c->data_port,
               (long long)r->session);
  char text[160];
  snprintf(text, sizeof text, "data connection of %s session %lld on port %d", c->m->name,
           (long long)c->rec.session, c->data_port);
  lab_rec_event_to(c, r, DB_DIR_NOTE, text, strlen(text), 0);
}

static void lab_drec_bytes(struct lab_conn *c, int dir, const void *p, size_t n) {
  struct lab_rec_stream *r = &c->drec;

  if (!r->session || !n) return;
  if (dir == DB_DIR_C2S)
    r->up += (int64_t)n;
  else
    r->down += (int64_t)n;
  lab_rec_event_to(c, r, dir, p, n, 0);
}

/* reason: "remote_closed" (we closed it after sending), "client_closed"
 * (the end of an upload) or "transfer_aborted". */
static void lab_drec_end(struct lab_conn *c, const char *reason) {
  struct lab_rec_stream *r = &c->drec;

  if (r->session && c->rec_state == LAB_REC_OWN)
    recorder_session_end(c->ctx->rec, r->session, lab_now_us(CLOCK_REALTIME), r->up, r->down,
                         reason);
  memset(r, 0, sizeof *r);
}

void lab_data_label(struct lab_conn *c, const char *label) {
  snprintf(c->data_label, sizeof c->data_label, "%s", label ? label : "");
  /* A name for lists and JSON: the exact bytes are in the transcripts. */
  for (char *q = c->data_label; *q; q++)
    if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f) *q = '?';
  if (c->drec.session && db_session_set_label(c->ctx->db, c->drec.session, c->data_label) != 0)
    log_warn("lab-%s: cannot name data session %lld: %s", c->m->name, (long long)c->drec.session,
             db_errmsg(c->ctx->db));
}

void lab_conn_login(struct lab_conn *c, const char *lab_user) {
  struct db_user u;

  if (c->rec_state == LAB_REC_UNDECIDED) lab_rec_decide(c, 1);
  if (c->rec_state != LAB_REC_OWN || !lab_user || !lab_user[0]) return;
  if (db_lab_account(c->ctx->db, lab_user, &u) != 0 || u.id == c->rec_user) return;
  if (db_session_set_user(c->ctx->db, c->rec.session, u.id) != 0) {
    log_error("lab-%s: cannot give session %lld to %s: %s", c->m->name, (long long)c->rec.session,
              u.name, db_errmsg(c->ctx->db));
    return;
  }
  lab_rec_owner(c, u.id);
  lab_rec_note(c, "logged in as %s", u.name);
}

/* The passive port is given back (connected, timed out, dropped). */
static void lab_pasv_release(struct lab_conn *c) {
  if (!c->pasv_held) return;
  if (c->pasv_prev)
    c->pasv_prev->pasv_next = c->pasv_next;
  else
    lab_pasv_holders = c->pasv_next;
  if (c->pasv_next) c->pasv_next->pasv_prev = c->pasv_prev;
  c->pasv_prev = c->pasv_next = NULL;
  c->pasv_held = 0;
}

/* Runs on_close once and drops the data channel; the struct stays valid
 * until lab_conn_free() so late backend events find a closed connection. */
static void lab_conn_finish(struct lab_conn *c) {
  if (c->on_close_done) return;
  c->closing = 1;
  c->on_close_done = 1;
  if (c->data_state == LAB_DATA_PENDING || c->data_state == LAB_DATA_OPEN) c->be->data_drop(c);
  c->data_state = LAB_DATA_CLOSED;
  lab_drec_end(c, "transfer_aborted");
  lab_pasv_release(c);
  if (c->m->on_close) c->m->on_close(c, c->session);
  lab_rec_end(c);
}

static void lab_conn_free(struct lab_conn *c) {
  if (!c) return;
  lab_conn_finish(c);
  tlsmem_free(c->tls);
  tlsmem_free(c->data_tls);
  buf_free(&c->out);
  buf_free(&c->data_out);
  buf_free(&c->rec_pending);
  free(c->line);
  free(c->session);
  free(c);
}

static void lab_conn_accept(struct lab_conn *c) {
  if (c->m->tls_port && c->service_port == c->m->tls_port) {
    /* Implicit TLS: the greeting waits inside the engine for the
     * handshake; without a certificate the port is never opened. */
    c->tls = c->ctx && c->ctx->tls_ctx ? tlsmem_new(c->ctx->tls_ctx, TLSMEM_SERVER, NULL) : NULL;
    if (!c->tls) {
      lab_warn(c, "no TLS for the implicit TLS port; closing");
      lab_close(c);
      return;
    }
  }
  if (c->m->on_accept && c->m->on_accept(c, c->session) != 0) lab_close(c);
}

/* A line longer than line_max: the module answers, the connection ends,
 * and the rest of the input is never looked at. */
static void lab_conn_overlong(struct lab_conn *c) {
  lab_warn(c, "line longer than %zu bytes; closing", c->m->line_max);
  if (c->m->on_overlong) c->m->on_overlong(c, c->session);
  lab_close(c);
}

/* Splits p into lines and counted byte runs and calls the module. Stops
 * the moment the module (or the line cap) closes the connection. */
static void lab_conn_input(struct lab_conn *c, const unsigned char *p, size_t n) {
  const struct lab_module *m = c->m;

  while (n && !c->closing) {
    if (c->want_bytes || !m->line_max) {
      size_t k = n;
      if (c->want_bytes) {
        if (k > c->want_bytes) k = c->want_bytes;
        c->want_bytes -= k;
      }
      if (m->on_data) m->on_data(c, c->session, p, k);
      p += k;
      n -= k;
      continue;
    }
    const unsigned char *lf = memchr(p, '\n', n);
    size_t k = lf ? (size_t)(lf - p) + 1 : n;
    /* Without its LF yet, a line that already fills line_max can only
     * end up longer: refuse it now rather than buffer more. */
    if (c->line_len + k > m->line_max || (!lf && c->line_len + k >= m->line_max)) {
      lab_conn_overlong(c);
      return;
    }
    memcpy(c->line + c->line_len, p, k);
    c->line_len += k;
    p += k;
    n -= k;
    if (!lf) return;
    size_t len = c->line_len - 1;
    enum lab_line_end end = LAB_BARE_LF;
    if (len && c->line[len - 1] == '\r') {
      len--;
      end = LAB_CRLF;
    }
    c->line[len] = '\0';
    c->line_len = 0;
    if (m->on_line) m->on_line(c, c->session, (char *)c->line, len, end);
    if (c->tls_discard) {
      /* STARTTLS: whatever followed the command was sent before the
       * handshake and must not be executed after it. */
      c->tls_discard = 0;
      if (n) {
        lab_warn(c, "%zu bytes sent after the TLS upgrade command discarded", n);
        lab_rec_note(c, "%zu bytes sent before the TLS handshake were discarded, not executed", n);
      }
      return;
    }
  }
}

/* --- TLS ------------------------------------------------------------------------ */

/* Moves the engine's ciphertext onto the connection's output. */
static void lab_tls_pump(struct lab_conn *c) {
  unsigned char wire[LIM_LAB_CHUNK];
  size_t n;

  while (c->tls && (n = tlsmem_take_wire(c->tls, wire, sizeof wire)) > 0) {
    if (buf_append(&c->out, wire, n) != 0) {
      lab_warn(c, "more than %d bytes of output queued; closing", LIM_LAB_OUT_BYTES);
      buf_consume(&c->out, buf_len(&c->out));
      c->out_plain = 0;
      tlsmem_free(c->tls);
      c->tls = NULL;
      lab_close(c);
      return;
    }
  }
}

/* The handshake failed or a record was bad: the alert goes out, the
 * connection ends, and the recording says why. */
static void lab_tls_fail(struct lab_conn *c, struct tlsmem *t, const char *what) {
  lab_warn(c, "%s: %s; closing", what, tlsmem_error(t));
  lab_rec_note(c, "%s: %s", what, tlsmem_error(t));
  lab_tls_pump(c);
  lab_close(c);
}

static void lab_tls_noted(struct lab_conn *c) {
  if (c->tls_noted || !c->tls || !tlsmem_handshake_done(c->tls)) return;
  c->tls_noted = 1;
  log_debug("lab-%s %s: TLS %s %s", c->m->name, c->peer, tlsmem_version(c->tls),
            tlsmem_cipher(c->tls));
  lab_rec_note(c, "TLS handshake done: %s, %s", tlsmem_version(c->tls), tlsmem_cipher(c->tls));
}

/* Bytes from the client's socket (record: the own-client recording sees
 * them; the memory backend passes 0). Cleartext goes straight to the line
 * splitter; under TLS the engine decrypts first. */
static void lab_conn_wire_input(struct lab_conn *c, const unsigned char *p, size_t n, int record) {
  unsigned char plain[LIM_LAB_CHUNK];
  ssize_t r;

  if (!c->tls) {
    if (record && !c->closing) lab_rec_bytes(c, DB_DIR_C2S, p, n);
    lab_conn_input(c, p, n);
    return;
  }
  if (c->closing) return;
  if (record && c->rec_state == LAB_REC_UNDECIDED) lab_rec_decide(c, 1);
  if (tlsmem_feed_wire(c->tls, p, n) < 0) {
    lab_tls_fail(c, c->tls, "TLS");
    return;
  }
  lab_tls_noted(c);
  while (!c->closing && (r = tlsmem_read(c->tls, plain, sizeof plain)) > 0) {
    if (record) lab_rec_bytes(c, DB_DIR_C2S, plain, (size_t)r);
    lab_conn_input(c, plain, (size_t)r);
  }
  if (!c->closing && tlsmem_peer_closed(c->tls)) {
    lab_rec_note(c, "the client ended TLS (close_notify)");
    lab_close(c); /* answers with our close_notify */
  } else if (!c->closing && tlsmem_failed(c->tls)) {
    lab_tls_fail(c, c->tls, "TLS");
    return;
  }
  lab_tls_pump(c);
  if (buf_len(&c->out)) c->be->flush(c);
}

int lab_tls_start(struct lab_conn *c) {
  if (c->tls || c->closing || !c->ctx || !c->ctx->tls_ctx) return -1;
  c->tls = tlsmem_new(c->ctx->tls_ctx, TLSMEM_SERVER, NULL);
  if (!c->tls) return -1;
  c->out_plain = buf_len(&c->out);
  c->tls_discard = 1;
  c->want_bytes = 0;
  c->line_len = 0;
  lab_rec_note(c, "TLS upgrade agreed; the handshake follows");
  return 0;
}

int lab_tls_available(struct lab_conn *c) {
  return c->ctx && c->ctx->tls_ctx != NULL;
}

int lab_tls_active(struct lab_conn *c) {
  return c->tls != NULL;
}

int lab_conn_service_port(struct lab_conn *c) {
  return c->service_port;
}

void lab_data_protect(struct lab_conn *c, int on) {
  c->data_protect = on && lab_tls_available(c);
}

static int lab_idle_secs(const struct lab_conn *c) {
  if (c->ctx->idle_secs > 0) return c->ctx->idle_secs;
  return c->m->idle_secs > 0 ? c->m->idle_secs : LIM_LAB_IDLE_SECS;
}

static void lab_conn_timeout(struct lab_conn *c) {
  if (c->closing) return;
  lab_warn(c, "idle for %d s; closing", lab_idle_secs(c));
  if (c->m->on_timeout) c->m->on_timeout(c, c->session);
  lab_close(c);
}

static void lab_data_tls_drop(struct lab_conn *c) {
  tlsmem_free(c->data_tls);
  c->data_tls = NULL;
  c->data_tls_closed = 0;
}

static int lab_data_tls_begin(struct lab_conn *c);

/* The data channel ended: ok as lab.h defines it; by_peer: the client
 * closed it. */
static void lab_data_end_by(struct lab_conn *c, int ok, int by_peer) {
  if (c->data_state != LAB_DATA_PENDING && c->data_state != LAB_DATA_OPEN) return;
  lab_data_tls_drop(c);
  lab_drec_end(c, !ok ? "transfer_aborted" : by_peer ? "client_closed" : "remote_closed");
  c->data_label[0] = '\0';
  lab_pasv_release(c);
  c->be->data_drop(c);
  c->data_state = LAB_DATA_CLOSED;
  c->data_closing = 0;
  buf_consume(&c->data_out, buf_len(&c->data_out));
  if (!c->closing && c->m->on_data_done) c->m->on_data_done(c, c->session, ok);
}

static void lab_data_end(struct lab_conn *c, int ok) {
  lab_data_end_by(c, ok, 0);
}

/* The backend's data socket connected (ok) or failed or timed out. */
static void lab_data_connected(struct lab_conn *c, int ok) {
  if (c->data_state != LAB_DATA_PENDING) return;
  lab_pasv_release(c); /* one connection per listener: the port is free again either way */
  if (!ok) {
    c->be->data_drop(c);
    c->data_state = LAB_DATA_CLOSED;
    c->data_closing = 0;
    buf_consume(&c->data_out, buf_len(&c->data_out));
    if (!c->closing && c->m->on_data_conn) c->m->on_data_conn(c, c->session, 0);
    return;
  }
  c->data_state = LAB_DATA_OPEN;
  lab_drec_start(c);
  if (c->data_protect && lab_data_tls_begin(c) != 0) {
    lab_data_end(c, 0);
    return;
  }
  if (!c->closing && c->m->on_data_conn) c->m->on_data_conn(c, c->session, 1);
  if (c->data_state == LAB_DATA_OPEN && (buf_len(&c->data_out) || c->data_closing))
    c->be->data_flush(c);
}

/* --- TLS on the data channel (RFC 4217 PROT P) --------------------------------- */

/* Moves the data channel's ciphertext onto data_out. */
static int lab_data_tls_pump(struct lab_conn *c) {
  unsigned char wire[LIM_LAB_CHUNK];
  size_t n;

  while (c->data_tls && (n = tlsmem_take_wire(c->data_tls, wire, sizeof wire)) > 0)
    if (buf_append(&c->data_out, wire, n) != 0) return -1;
  return 0;
}

/* Queues close_notify once the handshake is done and everything written
 * is encrypted: the end of a download (RFC 4217 section 10). */
static void lab_data_tls_finish(struct lab_conn *c) {
  if (!c->data_tls || c->data_tls_closed || !c->data_closing) return;
  if (!tlsmem_handshake_done(c->data_tls)) return;
  tlsmem_close(c->data_tls);
  c->data_tls_closed = 1;
}

/* The data connection is up and PROT P is on: we are the TLS server on
 * it too, and whatever was queued before is the first plaintext. */
static int lab_data_tls_begin(struct lab_conn *c) {
  lab_data_tls_drop(c);
  c->data_tls = tlsmem_new(c->ctx->tls_ctx, TLSMEM_SERVER, NULL);
  if (!c->data_tls) return -1;
  lab_drec_bytes(c, DB_DIR_S2C, buf_head(&c->data_out), buf_len(&c->data_out));
  if (buf_len(&c->data_out) &&
      tlsmem_write(c->data_tls, buf_head(&c->data_out), buf_len(&c->data_out)) != 0)
    return -1;
  buf_consume(&c->data_out, buf_len(&c->data_out));
  return 0;
}

static void lab_data_input(struct lab_conn *c, const unsigned char *p, size_t n) {
  unsigned char plain[LIM_LAB_CHUNK];
  ssize_t r;

  if (c->data_state != LAB_DATA_OPEN || c->closing) return;
  if (!c->data_tls) {
    lab_drec_bytes(c, DB_DIR_C2S, p, n);
    if (c->m->on_data_rx) c->m->on_data_rx(c, c->session, p, n);
    return;
  }
  if (tlsmem_feed_wire(c->data_tls, p, n) < 0) {
    lab_warn(c, "data channel TLS: %s", tlsmem_error(c->data_tls));
    lab_data_end(c, 0);
    return;
  }
  /* An own client's transcript holds the plaintext, as on the control
   * connection. */
  while (c->data_tls && (r = tlsmem_read(c->data_tls, plain, sizeof plain)) > 0) {
    lab_drec_bytes(c, DB_DIR_C2S, plain, (size_t)r);
    if (c->m->on_data_rx) c->m->on_data_rx(c, c->session, plain, (size_t)r);
  }
  if (!c->data_tls) return; /* the module ended the channel */
  if (tlsmem_failed(c->data_tls)) {
    lab_warn(c, "data channel TLS: %s", tlsmem_error(c->data_tls));
    lab_data_end(c, 0);
    return;
  }
  /* The client's close_notify ends an upload: answer it, as clients
   * (Python's unwrap()) wait for ours before they close. */
  if (tlsmem_peer_closed(c->data_tls) && !c->data_tls_closed) {
    tlsmem_close(c->data_tls);
    c->data_tls_closed = 1;
  }
  lab_data_tls_finish(c);
  if (lab_data_tls_pump(c) != 0) {
    lab_data_end(c, 0);
    return;
  }
  if (buf_len(&c->data_out)) c->be->data_flush(c);
}

/* The peer closed the data connection: the normal end of an upload, an
 * error if we still had bytes for it (under TLS, an upload ended with
 * close_notify is complete even if our answer to it was not read). */
static void lab_data_peer_closed(struct lab_conn *c) {
  int ok = buf_len(&c->data_out) == 0;
  if (c->data_tls && tlsmem_peer_closed(c->data_tls)) ok = 1;
  lab_data_end_by(c, ok, 1);
}

/* All queued data is written: finish a requested close (under TLS, once
 * close_notify went out too). */
static void lab_data_drained(struct lab_conn *c) {
  if (c->data_tls && !c->data_tls_closed) return;
  if (c->data_closing && !buf_len(&c->data_out)) lab_data_end(c, 1);
}

/* --- the module API ------------------------------------------------------------- */

struct lab_ctx *lab_conn_ctx(struct lab_conn *c) {
  return c->ctx;
}

const char *lab_conn_peer(struct lab_conn *c) {
  return c->peer;
}

const char *lab_conn_local(struct lab_conn *c) {
  return c->local;
}

int64_t lab_conn_user(struct lab_conn *c, const char *lab_user) {
  struct db_user u;
  int64_t id = 0;
  /* A relay session from this host names its student; that beats any lab
   * login, which may be the shared demo account. */
  if (c->peer_port && lab_addr_is_local(c->peer, c->ctx)) id = labident_lookup(c->peer_port);
  if (!id && lab_user && lab_user[0] && db_lab_account(c->ctx->db, lab_user, &u) == 0) id = u.id;
  return id;
}

void lab_event(struct lab_conn *c, const char *lab_user, const char *event, const char *const *kv) {
  int64_t user = lab_conn_user(c, lab_user);
  if (!user) return;
  int relayed =
      c->peer_port && lab_addr_is_local(c->peer, c->ctx) && labident_lookup(c->peer_port) != 0;
  cJSON *attrs = cJSON_CreateObject();
  for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
    cJSON_AddStringToObject(attrs, kv[i], kv[i + 1]);
  cJSON_AddStringToObject(attrs, "via", relayed ? "browser" : "own");
  char *json = cJSON_PrintUnformatted(attrs);
  cJSON_Delete(attrs);
  if (json && db_lab_event_add(c->ctx->db, user, event, json) != 0)
    log_warn("lab-%s: cannot record %s: %s", c->m->name, event, db_errmsg(c->ctx->db));
  free(json);
}

void lab_send(struct lab_conn *c, const void *p, size_t n) {
  if (c->closing || !n) return;
  if (c->tls) {
    /* The recording keeps the plaintext the module wrote. */
    lab_rec_bytes(c, DB_DIR_S2C, p, n);
    if (tlsmem_write(c->tls, p, n) != 0) {
      lab_tls_fail(c, c->tls, "TLS write");
      return;
    }
    lab_tls_pump(c);
    if (!c->closing) c->be->flush(c);
    return;
  }
  if (buf_append(&c->out, p, n) != 0) {
    /* A client that never reads cannot make us hold more than the cap. */
    lab_warn(c, "more than %d bytes of output queued; closing", LIM_LAB_OUT_BYTES);
    buf_consume(&c->out, buf_len(&c->out));
    lab_close(c);
    return;
  }
  c->be->flush(c);
}

void lab_printf(struct lab_conn *c, const char *fmt, ...) {
  char small[512], *text;
  va_list ap;
  size_t n;

  va_start(ap, fmt);
  text = text_vformat(small, sizeof small, &n, fmt, ap);
  va_end(ap);
  if (!text) {
    lab_warn(c, "out of memory formatting a reply; closing");
    lab_close(c);
    return;
  }
  lab_send(c, text, n);
  if (text != small) free(text);
}

void lab_close(struct lab_conn *c) {
  if (c->closing) return;
  if (c->tls && tlsmem_handshake_done(c->tls) && !tlsmem_failed(c->tls)) {
    tlsmem_close(c->tls);
    lab_tls_pump(c);
    if (c->closing) return;
  }
  c->closing = 1;
  c->rec_closed_by_server = 1;
  c->want_bytes = 0;
  c->be->flush(c);
}

void lab_read_bytes(struct lab_conn *c, size_t n) {
  c->want_bytes = n;
}

size_t lab_out_pending(struct lab_conn *c) {
  return buf_len(&c->out);
}

void lab_warn(struct lab_conn *c, const char *fmt, ...) {
  char msg[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Messages quote what peers sent: keep one event on one log line. */
  for (char *q = msg; *q; q++)
    if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
  log_warn("lab-%s %s: %s", c->m->name, c->peer, msg);
}

/* Drops any earlier data channel: one at a time, the newest wins. */
static void lab_data_reset(struct lab_conn *c) {
  lab_pasv_release(c);
  if (c->data_state == LAB_DATA_PENDING || c->data_state == LAB_DATA_OPEN) c->be->data_drop(c);
  c->data_state = LAB_DATA_NONE;
  lab_drec_end(c, "transfer_aborted");
  c->data_closing = 0;
  lab_data_tls_drop(c);
  buf_consume(&c->data_out, buf_len(&c->data_out));
}

static int lab_pasv_cap(int configured, int dflt) {
  return configured > 0 ? configured : dflt;
}

/* Who a passive port would be held by: the student and browser address
 * the relay registered for a relayed connection, the peer address of a
 * direct one (a local client that is no relay session included). */
static void lab_pasv_identity(struct lab_conn *c, int64_t *user, char *addr, size_t addrlen) {
  *user = 0;
  if (c->peer_port && lab_addr_is_local(c->peer, c->ctx))
    *user = labident_lookup_client(c->peer_port, addr, addrlen);
  if (!*user) snprintf(addr, addrlen, "%s", c->peer);
}

/* The caps of issue 7: a passive port is a shared resource, so one
 * student (any number of sessions) and one address (any number of names,
 * or direct connections) may each hold only so many at once. */
static int lab_pasv_check(struct lab_conn *c, int64_t user, const char *addr) {
  int per_student = lab_pasv_cap(c->ctx ? c->ctx->pasv_per_student : 0, LIM_FTP_PASV_PER_STUDENT);
  int per_addr = lab_pasv_cap(c->ctx ? c->ctx->pasv_per_addr : 0, LIM_FTP_PASV_PER_ADDR);
  int by_user = 0, by_addr = 0;

  for (struct lab_conn *h = lab_pasv_holders; h; h = h->pasv_next) {
    if (user && h->pasv_user == user) by_user++;
    if (addr[0] && strcmp(h->pasv_addr, addr) == 0) by_addr++;
  }
  if (user && by_user >= per_student) {
    lab_warn(c, "passive port refused: student %lld holds %d (cap %d)", (long long)user, by_user,
             per_student);
    return LAB_PASV_STUDENT_CAP;
  }
  if (addr[0] && by_addr >= per_addr) {
    lab_warn(c, "passive port refused: address %s holds %d (cap %d)", addr, by_addr, per_addr);
    return LAB_PASV_ADDR_CAP;
  }
  return 0;
}

int lab_data_listen(struct lab_conn *c, int *port) {
  int64_t user;
  char addr[sizeof c->pasv_addr];
  int rc;

  if (c->closing) return LAB_PASV_NO_PORT;
  lab_data_reset(c); /* gives back this connection's own earlier port first */
  c->data_label[0] = '\0';
  lab_pasv_identity(c, &user, addr, sizeof addr);
  rc = lab_pasv_check(c, user, addr);
  if (rc != 0) return rc;
  if (c->be->data_listen(c, port) != 0) return LAB_PASV_NO_PORT;
  c->data_state = LAB_DATA_PENDING;
  c->data_port = *port;
  c->pasv_held = 1;
  c->pasv_user = user;
  snprintf(c->pasv_addr, sizeof c->pasv_addr, "%s", addr);
  c->pasv_prev = NULL;
  c->pasv_next = lab_pasv_holders;
  if (lab_pasv_holders) lab_pasv_holders->pasv_prev = c;
  lab_pasv_holders = c;
  return 0;
}

int lab_data_connect(struct lab_conn *c, const char *addr, int port) {
  if (c->closing || port < 1 || port > 65535) return -1;
  lab_data_reset(c);
  c->data_state = LAB_DATA_PENDING;
  c->data_port = port;
  if (c->be->data_connect(c, addr, port) != 0) {
    c->data_state = LAB_DATA_NONE;
    return -1;
  }
  return 0;
}

int lab_data_is_open(struct lab_conn *c) {
  return c->data_state == LAB_DATA_OPEN;
}

void lab_data_send(struct lab_conn *c, const void *p, size_t n) {
  if (c->closing || !n) return;
  if (c->data_state != LAB_DATA_PENDING && c->data_state != LAB_DATA_OPEN) return;
  if (c->data_tls) {
    lab_drec_bytes(c, DB_DIR_S2C, p, n); /* the plaintext; the wire holds ciphertext */
    if (tlsmem_write(c->data_tls, p, n) != 0 || lab_data_tls_pump(c) != 0) {
      lab_warn(c, "data channel TLS: %s", tlsmem_error(c->data_tls));
      lab_data_end(c, 0);
      return;
    }
    if (buf_len(&c->data_out)) c->be->data_flush(c);
    return;
  }
  if (buf_append(&c->data_out, p, n) != 0) {
    lab_warn(c, "more than %d bytes queued for the data connection; aborting it",
             LIM_LAB_OUT_BYTES);
    lab_data_end(c, 0);
    return;
  }
  if (c->data_state == LAB_DATA_OPEN) c->be->data_flush(c);
}

void lab_data_close(struct lab_conn *c) {
  if (c->data_state != LAB_DATA_PENDING && c->data_state != LAB_DATA_OPEN) return;
  c->data_closing = 1;
  lab_data_tls_finish(c);
  if (lab_data_tls_pump(c) != 0) {
    lab_data_end(c, 0);
    return;
  }
  if (c->data_state == LAB_DATA_OPEN) c->be->data_flush(c);
}

void lab_data_abort(struct lab_conn *c) {
  lab_data_end(c, 0);
}

/* --- the memory backend ------------------------------------------------------- */

/* What the simulated far ends have received, kept NUL-terminated. */
struct lab_sink {
  char *p;
  size_t len, alloc;
};

struct lab_mem {
  struct lab_sink out, data_out;
  int closed;
};

/* Tests and fuzzers clear the sinks as they go; this only stops a runaway
 * module from eating the machine. */
#define LAB_MEM_SINK_MAX (64u * 1024 * 1024)

static void lab_sink_add(struct lab_sink *s, const void *p, size_t n) {
  if (s->len + n + 1 > LAB_MEM_SINK_MAX) return;
  if (s->len + n + 1 > s->alloc) {
    size_t want = s->alloc ? s->alloc : 256;
    while (want < s->len + n + 1) want *= 2;
    char *q = realloc(s->p, want);
    if (!q) return;
    s->p = q;
    s->alloc = want;
  }
  if (n) memcpy(s->p + s->len, p, n); /* p may be NULL for an empty transfer */
  s->len += n;
  s->p[s->len] = '\0';
}

static void lab_sink_clear(struct lab_sink *s) {
  s->len = 0;
  if (s->p) s->p[0] = '\0';
}

static const char *lab_sink_get(const struct lab_sink *s, size_t *len) {
  if (len) *len = s->len;
  return s->p ? s->p : "";
}

static struct lab_mem *lab_mem_of(struct lab_conn *c) {
  return c->be_priv;
}

/* The simulated client reads everything at once. */
static void lab_mem_be_flush(struct lab_conn *c) {
  struct lab_mem *mm = lab_mem_of(c);

  lab_sink_add(&mm->out, buf_head(&c->out), buf_len(&c->out));
  buf_consume(&c->out, buf_len(&c->out));
  if (c->closing) mm->closed = 1;
}

static void lab_mem_be_data_flush(struct lab_conn *c) {
  struct lab_mem *mm = lab_mem_of(c);

  lab_sink_add(&mm->data_out, buf_head(&c->data_out), buf_len(&c->data_out));
  if (!c->data_tls) lab_drec_bytes(c, DB_DIR_S2C, buf_head(&c->data_out), buf_len(&c->data_out));
  buf_consume(&c->data_out, buf_len(&c->data_out));
  lab_data_drained(c);
}

static int lab_mem_be_data_listen(struct lab_conn *c, int *port) {
  lab_sink_clear(&lab_mem_of(c)->data_out); /* a new channel's far end starts empty */
  /* The port a real listener would most likely get. */
  *port = c->ctx && c->ctx->pasv_lo > 0 ? c->ctx->pasv_lo : 50000;
  return 0;
}

static int lab_mem_be_data_connect(struct lab_conn *c, const char *addr, int port) {
  lab_sink_clear(&lab_mem_of(c)->data_out);
  return 0;
}

static void lab_mem_be_data_drop(struct lab_conn *c) {}

static const struct lab_backend lab_mem_backend = {
    lab_mem_be_flush,        lab_mem_be_data_flush, lab_mem_be_data_listen,
    lab_mem_be_data_connect, lab_mem_be_data_drop,
};

struct lab_conn *lab_mem_open(const struct lab_module *m, struct lab_ctx *ctx, const char *peer) {
  return lab_mem_open_port(m, ctx, peer, m->well_known_port);
}

struct lab_conn *lab_mem_open_port(const struct lab_module *m, struct lab_ctx *ctx,
                                   const char *peer, int port) {
  struct lab_conn *c = lab_conn_new(m, &lab_mem_backend, ctx, peer);

  if (!c) return NULL;
  c->service_port = port;
  c->be_priv = calloc(1, sizeof(struct lab_mem));
  if (!c->be_priv) {
    c->on_close_done = 1; /* on_accept never ran */
    lab_conn_free(c);
    return NULL;
  }
  lab_conn_accept(c);
  return c;
}

void lab_mem_set_peer_port(struct lab_conn *c, int port) {
  c->peer_port = port;
}

void lab_mem_feed(struct lab_conn *c, const void *p, size_t n) {
  lab_conn_wire_input(c, p, n, 0);
}

const char *lab_mem_output(struct lab_conn *c, size_t *len) {
  return lab_sink_get(&lab_mem_of(c)->out, len);
}

void lab_mem_clear(struct lab_conn *c) {
  struct lab_mem *mm = lab_mem_of(c);

  lab_sink_clear(&mm->out);
  lab_sink_clear(&mm->data_out);
}

int lab_mem_closed(struct lab_conn *c) {
  return lab_mem_of(c)->closed;
}

void lab_mem_timeout(struct lab_conn *c) {
  lab_conn_timeout(c);
}

void lab_mem_free(struct lab_conn *c) {
  struct lab_mem *mm;

  if (!c) return;
  mm = lab_mem_of(c);
  lab_conn_free(c);
  free(mm->out.p);
  free(mm->data_out.p);
  free(mm);
}

void lab_mem_data_connect(struct lab_conn *c, int ok) {
  lab_data_connected(c, ok);
}

const char *lab_mem_data_output(struct lab_conn *c, size_t *len) {
  return lab_sink_get(&lab_mem_of(c)->data_out, len);
}

void lab_mem_data_feed(struct lab_conn *c, const void *p, size_t n) {
  lab_data_input(c, p, n);
}

void lab_mem_data_eof(struct lab_conn *c) {
  lab_data_peer_closed(c);
}

int lab_mem_data_state(struct lab_conn *c) {
  return (int)c->data_state;
}

/* --- the socket backend -------------------------------------------------------- */

/* One set of lab servers per process: lws keeps pointers into the
 * protocol tables, and callbacks that arrive after lab_servers_stop()
 * (the context closing what is left) must find nothing to touch. */
#define LAB_MAX_SERVERS 24 /* listening ports: a module may have three (25, 587, 465) */
#define LAB_DATA_PROTOCOL "lab-data"

struct lab_sock;

struct lab_server {
  const struct lab_module *m;
  struct lws_vhost *vh;
  int port;
  int service_port; /* the well-known port it stands for */
  unsigned conns;
  struct lab_sock *socks; /* live connections */
};

struct lab_servers {
  struct lws_context *lws;
  struct lab_ctx *ctx;
  size_t n;
  struct lab_server srv[LAB_MAX_SERVERS];
  struct lws_vhost *data_vh; /* data channels: never listens by itself */
  struct lab_sock *reap;     /* closed connections waiting to be freed */
  lws_sorted_usec_list_t reap_sul;
  int pasv_next; /* rotates through the passive range */
};

/* The socket backend's part of a connection. */
struct lab_sock {
  struct lab_conn *c;
  struct lab_server *srv;
  struct lws *wsi; /* NULL once lws closed it */
  struct lab_sock *prev, *next, *reap_next;
  int paused;                      /* input stopped while output is large */
  int drain_armed;                 /* the close deadline is set */
  struct lws *data_listen_wsi;     /* passive: the adopted listening socket */
  struct lws *data_wsi;            /* the data connection itself */
  lws_sorted_usec_list_t data_sul; /* it must come up within lab_data_secs() */
  /* Passive connections accepted for a control connection on this host,
   * held until the relay has said whose they are (see lab_data_verify).
   * Several at once: another student dialling the port first must not
   * crowd out the right one. */
  struct lab_pending {
    int fd; /* -1 when the slot is free */
    int port;
    int tries;
  } pending[LAB_PENDING_MAX];
  lws_sorted_usec_list_t verify_sul;
  lws_sorted_usec_list_t rec_sul; /* own-client recording: the relay had its turn */
};

static struct lab_servers *lab_active;
static struct lws_protocols lab_protocols[LAB_MAX_SERVERS][2];
static char lab_protocol_names[LAB_MAX_SERVERS][40];

static struct lab_sock *lab_sock_of(struct lab_conn *c) {
  return c->be_priv;
}

/* Numeric text of a peer; IPv4-mapped IPv6 is shown as plain IPv4 so the
 * FTP peer check and the per-address count see one spelling. */
static void lab_addr_text(const struct sockaddr_storage *ss, char *out, size_t outlen) {
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;

  out[0] = '\0';
  if (ss->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)outlen);
  } else if (ss->ss_family == AF_INET6) {
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
      inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], out, (socklen_t)outlen);
    else
      inet_ntop(AF_INET6, &a6->sin6_addr, out, (socklen_t)outlen);
  }
  if (!out[0]) snprintf(out, outlen, "?");
}

/* Our own end of a connected socket, as text; -1 if unknown. */
static int lab_local_text(int fd, char *out, size_t outlen) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;

  memset(&ss, 0, sizeof ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
  lab_addr_text(&ss, out, outlen);
  return 0;
}

static int lab_peer_text(int fd, char *out, size_t outlen, int *port) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;

  memset(&ss, 0, sizeof ss);
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
  lab_addr_text(&ss, out, outlen);
  if (port)
    *port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                          : ((struct sockaddr_in6 *)&ss)->sin6_port);
  return 0;
}

/* The addresses the relay's connections come from: 127.0.0.1 or ::1 (the
 * loopback addresses the kernel picks when the lab listens on loopback or
 * on 0.0.0.0 / ::), or the lab address itself (a LAN --lab-bind). A whole
 * class shares them, so the per-address cap cannot apply to them, and
 * only a connection from one of them can be a relayed one. Nothing wider:
 * 127.0.0.2 and the rest of 127/8 are ordinary peers, held to the cap. */
static int lab_addr_is_local(const char *addr, const struct lab_ctx *ctx) {
  return strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "::1") == 0 ||
         strcmp(addr, ctx->lab_addr) == 0;
}

static struct lab_server *lab_server_of(struct lab_servers *ls, struct lws *wsi) {
  struct lws_vhost *vh = lws_get_vhost(wsi);

  for (size_t i = 0; i < ls->n; i++)
    if (ls->srv[i].vh == vh) return &ls->srv[i];
  return NULL;
}

static void lab_reap(lws_sorted_usec_list_t *sul) {
  struct lab_servers *ls = lws_container_of(sul, struct lab_servers, reap_sul);

  while (ls->reap) {
    struct lab_sock *k = ls->reap;
    ls->reap = k->reap_next;
    lab_conn_free(k->c);
    free(k);
  }
}

/* lws closed the control socket: run on_close now, free later. */
static void lab_sock_drop_pending(struct lab_sock *k) {
  lws_sul_cancel(&k->verify_sul);
  for (int i = 0; i < LAB_PENDING_MAX; i++) {
    if (k->pending[i].fd >= 0) close(k->pending[i].fd);
    k->pending[i].fd = -1;
  }
}

static void lab_sock_detach(struct lab_sock *k) {
  struct lab_server *srv = k->srv;

  k->wsi = NULL;
  if (k->prev)
    k->prev->next = k->next;
  else
    srv->socks = k->next;
  if (k->next) k->next->prev = k->prev;
  k->prev = k->next = NULL;
  srv->conns--;
  lab_conn_finish(k->c);
  lws_sul_cancel(&k->data_sul);
  lws_sul_cancel(&k->rec_sul);
  lab_sock_drop_pending(k);
  if (lab_active) {
    k->reap_next = lab_active->reap;
    lab_active->reap = k;
    lws_sul_schedule(lab_active->lws, 0, &lab_active->reap_sul, lab_reap, 1);
  }
}

/* Pauses the client's input while a big reply is queued, so a client
 * that sends commands but never reads cannot grow our memory. */
static void lab_sock_flow(struct lab_sock *k) {
  size_t queued = buf_len(&k->c->out);

  if (!k->wsi) return;
  if (!k->paused && queued > LIM_LAB_OUT_HIGH) {
    k->paused = 1;
    lws_rx_flow_control(k->wsi, 0);
  } else if (k->paused && queued < LIM_LAB_OUT_LOW) {
    k->paused = 0;
    lws_rx_flow_control(k->wsi, 1);
  }
}

static void lab_sock_flush(struct lab_conn *c) {
  struct lab_sock *k = lab_sock_of(c);

  if (!k->wsi) return;
  if (c->closing && !k->drain_armed) {
    /* A client that never reads must not hold the socket forever. */
    k->drain_armed = 1;
    lws_set_timer_usecs(k->wsi, (lws_usec_t)LIM_LAB_DRAIN_SECS * LWS_US_PER_SEC);
  }
  lab_sock_flow(k);
  lws_callback_on_writable(k->wsi);
}

/* Activity either way restarts the idle clock: a client slowly reading a
 * long reply is not idle. */
static void lab_sock_touch(struct lab_sock *k) {
  int secs = lab_idle_secs(k->c);

  if (k->wsi && !k->c->closing) lws_set_timer_usecs(k->wsi, (lws_usec_t)secs * LWS_US_PER_SEC);
}

static int lab_sock_writeable(struct lab_sock *k) {
  struct lab_conn *c = k->c;
  unsigned char chunk[LWS_PRE + LIM_LAB_CHUNK];
  size_t n = buf_len(&c->out);

  if (n) {
    if (n > LIM_LAB_CHUNK) n = LIM_LAB_CHUNK;
    memcpy(chunk + LWS_PRE, buf_head(&c->out), n);
    if (lws_write(k->wsi, chunk + LWS_PRE, n, LWS_WRITE_RAW) < (int)n) return -1;
    if (!c->tls) {
      lab_rec_bytes(c, DB_DIR_S2C, buf_head(&c->out), n);
    } else if (c->out_plain) {
      size_t clear = n < c->out_plain ? n : c->out_plain;
      lab_rec_bytes(c, DB_DIR_S2C, buf_head(&c->out), clear);
      c->out_plain -= clear;
    }
    buf_consume(&c->out, n);
    lab_sock_touch(k);
    /* Even the last chunk asks for one more callback: lws may hold part
     * of it, and only a callback with nothing left to write may close. */
    lws_callback_on_writable(k->wsi);
  } else if (c->closing && !lws_partial_buffered(k->wsi)) {
    return -1; /* everything is sent: lws closes, RAW_CLOSE detaches */
  }
  lab_sock_flow(k);
  return 0;
}

/* Kills a data-side wsi later, from the event loop, with its back-pointer
 * cleared so none of its last callbacks can reach the connection. */
static void lab_sock_kill(struct lws **w) {
  if (!*w) return;
  lws_set_opaque_user_data(*w, NULL);
  lws_set_timeout(*w, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
  *w = NULL;
}

static void lab_sock_data_drop(struct lab_conn *c) {
  struct lab_sock *k = lab_sock_of(c);

  lab_sock_drop_pending(k);
  lws_sul_cancel(&k->data_sul);
  lab_sock_kill(&k->data_listen_wsi);
  lab_sock_kill(&k->data_wsi);
}

static void lab_sock_data_flush(struct lab_conn *c) {
  struct lab_sock *k = lab_sock_of(c);

  if (k->data_wsi && c->data_state == LAB_DATA_OPEN) lws_callback_on_writable(k->data_wsi);
}

static int lab_data_secs(const struct lab_ctx *ctx) {
  return ctx->data_secs > 0 ? ctx->data_secs : LIM_FTP_DATA_SECS;
}

/* A passive port nobody connected to, or an active connect that never
 * came up: given back here, so a PASV without a transfer holds a port for
 * at most this long. */
static void lab_sock_data_timeout(lws_sorted_usec_list_t *sul) {
  struct lab_sock *k = lws_container_of(sul, struct lab_sock, data_sul);

  lab_warn(k->c, "data connection not made within %d s", lab_data_secs(k->c->ctx));
  lab_data_connected(k->c, 0);
}

/* A listening socket on lab_addr, non-blocking, on the next free port of
 * the passive range. Returns the fd, or -1. */
static int lab_pasv_socket(struct lab_servers *ls, int *port) {
  struct lab_ctx *ctx = ls->ctx;
  struct sockaddr_storage ss;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  socklen_t sl;
  int range = ctx->pasv_hi - ctx->pasv_lo + 1, family;

  memset(&ss, 0, sizeof ss);
  if (inet_pton(AF_INET, ctx->lab_addr, &a4->sin_addr) == 1) {
    family = AF_INET;
    sl = sizeof *a4;
  } else if (inet_pton(AF_INET6, ctx->lab_addr, &a6->sin6_addr) == 1) {
    family = AF_INET6;
    sl = sizeof *a6;
  } else {
    return -1;
  }
  ss.ss_family = (sa_family_t)family;
  if (ctx->pasv_lo < 1 || range < 1) return -1;
  for (int i = 0; i < range; i++) {
    int p = ctx->pasv_lo + (ls->pasv_next + i) % range;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -1;
    /* Our side closes data connections first, leaving the port in
     * TIME_WAIT; without this a small range runs dry after a few
     * transfers. Linux still refuses a second listener on the port. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (family == AF_INET)
      a4->sin_port = htons((uint16_t)p);
    else
      a6->sin6_port = htons((uint16_t)p);
    if (bind(fd, (struct sockaddr *)&ss, sl) == 0 && listen(fd, 1) == 0) {
      /* The next one starts after this port, so a port a client may
       * still be connecting to is not handed out again at once. */
      ls->pasv_next = (p - ctx->pasv_lo + 1) % range;
      *port = p;
      return fd;
    }
    close(fd);
  }
  return -1;
}

static int lab_sock_data_listen(struct lab_conn *c, int *port) {
  struct lab_sock *k = lab_sock_of(c);
  struct lab_servers *ls = lab_active;
  lws_adopt_desc_t ad;
  int fd;

  if (!ls) return -1;
  fd = lab_pasv_socket(ls, port);
  if (fd < 0) {
    lab_warn(c, "no free passive port in %d-%d", ls->ctx->pasv_lo, ls->ctx->pasv_hi);
    return -1;
  }
  memset(&ad, 0, sizeof ad);
  ad.vh = ls->data_vh;
  ad.type = LWS_ADOPT_RAW_FILE_DESC;
  ad.fd.filefd = fd;
  ad.vh_prot_name = LAB_DATA_PROTOCOL;
  ad.opaque = k;
  k->data_listen_wsi = lws_adopt_descriptor_vhost_via_info(&ad);
  if (!k->data_listen_wsi) {
    /* lws closes a socket it fails to adopt, but not a raw file
     * descriptor, which this listener is adopted as: it is still ours.
     * (The way this fails in practice, a full lws fd table, fails before
     * lws makes a wsi that could hold the fd, so nothing closes it twice.) */
    close(fd);
    lab_warn(c, "cannot watch passive port %d", *port);
    return -1;
  }
  lws_sul_schedule(ls->lws, 0, &k->data_sul, lab_sock_data_timeout,
                   (lws_usec_t)lab_data_secs(ls->ctx) * LWS_US_PER_SEC);
  return 0;
}

static int lab_sock_data_connect(struct lab_conn *c, const char *addr, int port) {
  struct lab_sock *k = lab_sock_of(c);
  struct lab_servers *ls = lab_active;
  struct lws_client_connect_info ci;

  if (!ls) return -1;
  memset(&ci, 0, sizeof ci);
  ci.context = ls->lws;
  ci.vhost = ls->data_vh;
  ci.address = addr; /* numeric: a name would block the loop in getaddrinfo() */
  ci.port = port;
  ci.host = addr;
  ci.origin = addr;
  ci.method = "RAW";
  ci.protocol = LAB_DATA_PROTOCOL;
  ci.local_protocol_name = LAB_DATA_PROTOCOL;
  ci.opaque_user_data = k;
  ci.pwsi = &k->data_wsi; /* set early: the error callback may come first */
  lws_sul_schedule(ls->lws, 0, &k->data_sul, lab_sock_data_timeout,
                   (lws_usec_t)lab_data_secs(ls->ctx) * LWS_US_PER_SEC);
  if (!lws_client_connect_via_info(&ci)) {
    k->data_wsi = NULL;
    /* An error callback during the call already reported it. */
    if (c->data_state != LAB_DATA_PENDING) return 0;
    lws_sul_cancel(&k->data_sul);
    return -1;
  }
  return 0;
}

static const struct lab_backend lab_sock_backend = {
    lab_sock_flush,        lab_sock_data_flush, lab_sock_data_listen,
    lab_sock_data_connect, lab_sock_data_drop,
};

/* FILTER_NETWORK_CONNECTION: the caps, before any state is made. */
static int lab_sock_filter(struct lab_servers *ls, struct lab_server *srv, int fd) {
  char addr[64];
  unsigned same = 0;

  if (lab_peer_text(fd, addr, sizeof addr, NULL) != 0) return -1;
  if (srv->conns >= LIM_LAB_CONNS) {
    log_warn("lab-%s: refused %s: %u connections open (cap %d)", srv->m->name, addr, srv->conns,
             LIM_LAB_CONNS);
    return -1;
  }
  if (lab_addr_is_local(addr, ls->ctx)) return 0;
  for (struct lab_sock *k = srv->socks; k; k = k->next)
    if (strcmp(k->c->peer, addr) == 0) same++;
  if (same >= LIM_LAB_CONNS_PER_ADDR) {
    log_warn("lab-%s: refused %s: %u connections from that address (cap %d)", srv->m->name, addr,
             same, LIM_LAB_CONNS_PER_ADDR);
    return -1;
  }
  return 0;
}

/* A connection from this host that has sent nothing yet: the relay has
 * registered its sessions by now, so an unknown port is a local client. */
static void lab_sock_rec_settled(lws_sorted_usec_list_t *sul) {
  struct lab_sock *k = lws_container_of(sul, struct lab_sock, rec_sul);

  if (k->wsi) lab_rec_decide(k->c, 1);
}

static int lab_sock_adopt(struct lab_servers *ls, struct lab_server *srv, struct lws *wsi) {
  char addr[64];
  int port = 0;
  struct lab_sock *k;
  struct lab_conn *c;

  if (lab_peer_text(lws_get_socket_fd(wsi), addr, sizeof addr, &port) != 0) return -1;
  k = calloc(1, sizeof *k);
  if (k)
    for (int i = 0; i < LAB_PENDING_MAX; i++) k->pending[i].fd = -1;
  c = k ? lab_conn_new(srv->m, &lab_sock_backend, ls->ctx, addr) : NULL;
  if (!c) {
    log_error("lab-%s: out of memory accepting %s", srv->m->name, addr);
    free(k);
    return -1;
  }
  c->peer_port = port;
  c->service_port = srv->service_port;
  /* The address this client dialled: what PASV advertises when the lab
   * listens on every address (0.0.0.0 or ::). */
  if (lab_local_text(lws_get_socket_fd(wsi), c->local, sizeof c->local) != 0)
    snprintf(c->local, sizeof c->local, "%s", ls->ctx->lab_addr);
  c->be_priv = k;
  k->c = c;
  k->srv = srv;
  k->wsi = wsi;
  k->next = srv->socks;
  if (srv->socks) srv->socks->prev = k;
  srv->socks = k;
  srv->conns++;
  lws_set_opaque_user_data(wsi, k);
  lab_sock_touch(k);
  log_debug("lab-%s: connection from %s (%u open)", srv->m->name, addr, srv->conns);
  if (!lab_rec_decide(c, 0))
    lws_sul_schedule(ls->lws, 0, &k->rec_sul, lab_sock_rec_settled,
                     (lws_usec_t)LIM_LAB_REC_SETTLE_MS * 1000);
  lab_conn_accept(c);
  return 0;
}

static int lab_sock_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                             void *in, size_t len) {
  struct lab_sock *k = lws_get_opaque_user_data(wsi);
  struct lab_servers *ls = lab_active;
  struct lab_server *srv;

  switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
      if (!ls || !(srv = lab_server_of(ls, wsi))) return -1;
      return lab_sock_filter(ls, srv, (int)(lws_intptr_t)in);

    case LWS_CALLBACK_RAW_ADOPT:
      if (!ls || !(srv = lab_server_of(ls, wsi))) return -1;
      return lab_sock_adopt(ls, srv, wsi);

    case LWS_CALLBACK_RAW_RX:
      if (!k || !k->wsi) return -1;
      lab_sock_touch(k);
      lab_conn_wire_input(k->c, in, len, 1);
      lab_sock_flow(k);
      return 0;

    case LWS_CALLBACK_RAW_WRITEABLE:
      if (!k || !k->wsi) return -1;
      return lab_sock_writeable(k);

    case LWS_CALLBACK_TIMER:
      if (!k || !k->wsi) return -1;
      if (k->c->closing) {
        lab_warn(k->c, "output not read within %d s of closing; dropping it", LIM_LAB_DRAIN_SECS);
        return -1;
      }
      lab_conn_timeout(k->c);
      return 0;

    case LWS_CALLBACK_RAW_CLOSE:
      lws_set_opaque_user_data(wsi, NULL);
      if (k) lab_sock_detach(k);
      return 0;

    default:
      break;
  }
  return 0;
}

/* Makes fd the data connection: the listener's one connection. */
static void lab_data_adopt(struct lab_sock *k, int fd) {
  struct lab_servers *ls = lab_active;
  lws_adopt_desc_t ad;

  lab_sock_kill(&k->data_listen_wsi); /* one connection per listener */
  lws_sul_cancel(&k->data_sul);
  memset(&ad, 0, sizeof ad);
  ad.vh = ls->data_vh;
  ad.type = LWS_ADOPT_SOCKET;
  ad.fd.sockfd = fd;
  ad.vh_prot_name = LAB_DATA_PROTOCOL;
  ad.opaque = k;
  k->data_wsi = lws_adopt_descriptor_vhost_via_info(&ad); /* closes fd on failure */
  lab_data_connected(k->c, k->data_wsi != NULL);
}

/* A relayed control connection's passive port is reachable by every
 * student as lab:PORT, and every relayed connection comes from this host,
 * so the address check proves nothing: the data connection must be a
 * relay session of the same student. The relay registers its sessions
 * when they connect, which may be just after this side accepted, so an
 * unknown port is looked up again for a short while. */
static void lab_data_verify_again(lws_sorted_usec_list_t *sul);

static void lab_data_verify(struct lab_sock *k) {
  int64_t owner = lab_conn_user(k->c, NULL);
  int waiting = 0;

  for (int i = 0; i < LAB_PENDING_MAX; i++) {
    struct lab_pending *pd = &k->pending[i];
    int64_t who;
    /* "Nobody" is only sure once the relay had its turn to say otherwise. */
    int settled;
    if (pd->fd < 0) continue;
    who = labident_lookup(pd->port);
    settled = owner != 0 || pd->tries >= LAB_VERIFY_LOCAL_TRIES;
    if (who == owner && settled) {
      int fd = pd->fd;
      pd->fd = -1;
      lab_sock_drop_pending(k); /* the others lost: one connection per listener */
      lab_data_adopt(k, fd);
      return;
    }
    if (who == 0 && ++pd->tries <= LAB_VERIFY_TRIES) {
      waiting = 1;
      continue;
    }
    lab_warn(k->c, "data connection refused: %s",
             !owner ? "it is a student's relay session, not this client"
             : who  ? "it is another student's session"
                    : "it is not this student's relay session");
    close(pd->fd); /* the listener stays open for the right one */
    pd->fd = -1;
  }
  if (waiting)
    lws_sul_schedule(lab_active->lws, 0, &k->verify_sul, lab_data_verify_again, LAB_VERIFY_STEP_US);
}

static void lab_data_verify_again(lws_sorted_usec_list_t *sul) {
  lab_data_verify(lws_container_of(sul, struct lab_sock, verify_sul));
}

/* The passive listener has a connection waiting: accept it only from the
 * control connection's own address (no FTP bounce, no stolen data) and,
 * through the relay, only from the same student. */
static int lab_data_accept(struct lab_sock *k, struct lws *wsi) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char addr[64];
  int fd;

  fd = accept4(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return 0; /* gone already, or a spurious wake-up */
  lab_addr_text(&ss, addr, sizeof addr);
  if (strcmp(addr, k->c->peer) != 0) {
    lab_warn(k->c, "data connection from %s refused: not the control connection's address", addr);
    close(fd);
    return 0;
  }
  /* A client that is not on this host is the only one at its address as
   * far as we can tell. One on this host that is no relay session (a
   * teacher's ftp on the machine) shares the address with every relay
   * session, so the data connection must not be one of those. */
  if (lab_conn_user(k->c, NULL) == 0 && !lab_addr_is_local(addr, k->c->ctx)) {
    lab_data_adopt(k, fd);
    return 0;
  }
  for (int i = 0; i < LAB_PENDING_MAX; i++) {
    struct lab_pending *pd = &k->pending[i];
    if (pd->fd >= 0) continue;
    pd->fd = fd;
    pd->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
    pd->tries = 0;
    lws_sul_cancel(&k->verify_sul);
    lab_data_verify(k);
    return 0;
  }
  lab_warn(k->c, "data connection refused: %d others are being checked", LAB_PENDING_MAX);
  close(fd);
  return 0;
}

static int lab_data_writeable(struct lab_sock *k, struct lws *wsi) {
  struct lab_conn *c = k->c;
  unsigned char chunk[LWS_PRE + LIM_LAB_CHUNK];
  size_t n = buf_len(&c->data_out);

  if (n) {
    if (n > LIM_LAB_CHUNK) n = LIM_LAB_CHUNK;
    memcpy(chunk + LWS_PRE, buf_head(&c->data_out), n);
    if (lws_write(wsi, chunk + LWS_PRE, n, LWS_WRITE_RAW) < (int)n) return -1;
    if (!c->data_tls) lab_drec_bytes(c, DB_DIR_S2C, buf_head(&c->data_out), n);
    buf_consume(&c->data_out, n);
    lws_callback_on_writable(wsi); /* as for control output: end only when lws holds nothing */
  } else if (!lws_partial_buffered(wsi)) {
    lab_data_drained(c); /* may end the channel: the wsi is then killed asynchronously */
  } else {
    lws_callback_on_writable(wsi);
  }
  return 0;
}

static int lab_data_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
                             void *in, size_t len) {
  struct lab_sock *k = lws_get_opaque_user_data(wsi);

  if (!lab_active) k = NULL;
  switch (reason) {
    case LWS_CALLBACK_RAW_RX_FILE:
      if (!k || k->data_listen_wsi != wsi) return -1;
      return lab_data_accept(k, wsi);

    case LWS_CALLBACK_RAW_CLOSE_FILE:
      lws_set_opaque_user_data(wsi, NULL);
      if (k && k->data_listen_wsi == wsi) {
        k->data_listen_wsi = NULL;
        lab_data_connected(k->c, 0);
      }
      return 0;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      lws_set_opaque_user_data(wsi, NULL);
      if (!k) return 0;
      lab_warn(k->c, "active data connection failed: %s", in && len ? (const char *)in : "refused");
      if (k->data_wsi == wsi) k->data_wsi = NULL;
      lab_data_connected(k->c, 0);
      return 0;

    case LWS_CALLBACK_RAW_CONNECTED:
      if (!k || k->data_wsi != wsi) return -1;
      lws_sul_cancel(&k->data_sul);
      lab_data_connected(k->c, 1);
      return 0;

    case LWS_CALLBACK_RAW_RX:
      if (!k || k->data_wsi != wsi) return -1;
      lab_data_input(k->c, in, len);
      return 0;

    case LWS_CALLBACK_RAW_WRITEABLE:
      if (!k || k->data_wsi != wsi) return 0;
      return lab_data_writeable(k, wsi);

    case LWS_CALLBACK_RAW_CLOSE:
      lws_set_opaque_user_data(wsi, NULL);
      if (!k || k->data_wsi != wsi) return 0;
      k->data_wsi = NULL;
      if (k->c->data_state == LAB_DATA_PENDING)
        lab_data_connected(k->c, 0); /* an active connect that never came up */
      else
        lab_data_peer_closed(k->c);
      return 0;

    default:
      break;
  }
  return 0;
}

static const struct lws_protocols lab_data_protocols[] = {
    {LAB_DATA_PROTOCOL, lab_data_callback, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

struct lab_servers *lab_servers_start(struct lws_context *lws, struct lab_ctx *ctx,
                                      const struct lab_module *const *modules, size_t n, char *err,
                                      size_t errlen) {
  struct lws_context_creation_info info;
  struct lab_servers *ls;
  int v4 = strchr(ctx->lab_addr, ':') == NULL;
  /* Every listening port: the module's own, its second plaintext port and
   * (with a certificate) its implicit TLS port. */
  struct {
    const struct lab_module *m;
    int service_port;
  } want[LAB_MAX_SERVERS];
  size_t nwant = 0;

  if (lab_active) {
    snprintf(err, errlen, "lab servers are already running");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    int ports[3] = {modules[i]->well_known_port, ctx->tls_ports ? modules[i]->extra_port : 0,
                    ctx->tls_ctx && ctx->tls_ports ? modules[i]->tls_port : 0};
    for (int j = 0; j < 3; j++) {
      if (!ports[j]) continue;
      if (nwant == LAB_MAX_SERVERS) {
        snprintf(err, errlen, "too many lab server ports (at most %d)", LAB_MAX_SERVERS);
        return NULL;
      }
      want[nwant].m = modules[i];
      want[nwant++].service_port = ports[j];
    }
  }
  /* lws would silently share one listener between two vhosts on a port. */
  for (size_t i = 0; i < nwant; i++) {
    int port = ctx->port_base + want[i].service_port;
    if (port < 1 || port > 65535) {
      snprintf(err, errlen, "lab server %s: port %d is out of range (lab port base %d)",
               want[i].m->name, port, ctx->port_base);
      return NULL;
    }
    for (size_t j = 0; j < i; j++)
      if (want[j].service_port == want[i].service_port) {
        snprintf(err, errlen, "lab servers %s and %s both want port %d", want[j].m->name,
                 want[i].m->name, port);
        return NULL;
      }
  }
  ls = calloc(1, sizeof *ls);
  if (!ls) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  ls->lws = lws;
  ls->ctx = ctx;
  lab_active = ls; /* callbacks may run while the vhosts are made */

  memset(&info, 0, sizeof info);
  info.vhost_name = LAB_DATA_PROTOCOL;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = lab_data_protocols;
  ls->data_vh = lws_create_vhost(lws, &info);
  if (!ls->data_vh) {
    snprintf(err, errlen, "cannot create the lab data-channel vhost");
    goto fail;
  }
  for (size_t i = 0; i < nwant; i++) {
    struct lab_server *srv = &ls->srv[i];
    const struct lab_module *m = want[i].m;
    int tls = want[i].service_port == m->tls_port;
    srv->m = m;
    srv->service_port = want[i].service_port;
    srv->port = ctx->port_base + want[i].service_port;
    if (want[i].service_port == m->well_known_port)
      snprintf(lab_protocol_names[i], sizeof lab_protocol_names[i], "lab-%s", m->name);
    else
      snprintf(lab_protocol_names[i], sizeof lab_protocol_names[i], "lab-%s-%d", m->name,
               want[i].service_port);
    memset(lab_protocols[i], 0, sizeof lab_protocols[i]);
    lab_protocols[i][0].name = lab_protocol_names[i];
    lab_protocols[i][0].callback = lab_sock_callback;
    memset(&info, 0, sizeof info);
    info.vhost_name = lab_protocol_names[i];
    info.port = srv->port;
    info.iface = ctx->lab_addr;
    info.protocols = lab_protocols[i];
    info.listen_accept_role = "raw-skt";
    info.listen_accept_protocol = lab_protocol_names[i];
    info.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
    if (v4) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    srv->vh = lws_create_vhost(lws, &info);
    if (!srv->vh) {
      snprintf(err, errlen, "lab server %s: cannot listen on %s port %d (in use, or not allowed)",
               m->name, ctx->lab_addr, srv->port);
      goto fail;
    }
    ls->n = i + 1;
    log_info("lab server %s%s listening on %s:%d", m->name, tls ? " (TLS)" : "", ctx->lab_addr,
             srv->port);
  }
  return ls;

fail:
  /* The vhosts made so far die with the context; with lab_active clear,
   * their callbacks refuse everything until then. */
  lab_active = NULL;
  free(ls);
  return NULL;
}

void lab_servers_stop(struct lab_servers *ls) {
  if (!ls) return;
  for (size_t i = 0; i < ls->n; i++) {
    struct lab_server *srv = &ls->srv[i];
    while (srv->socks) {
      struct lab_sock *k = srv->socks;
      srv->socks = k->next;
      if (k->wsi) lws_set_opaque_user_data(k->wsi, NULL);
      k->wsi = NULL;
      lab_conn_free(k->c); /* runs on_close, drops the data channel */
      lws_sul_cancel(&k->data_sul);
      lws_sul_cancel(&k->rec_sul);
      free(k);
    }
    srv->conns = 0;
  }
  lws_sul_cancel(&ls->reap_sul);
  lab_reap(&ls->reap_sul);
  lab_active = NULL;
  free(ls);
}
