/* labrec.c -- own-client recording: lab conversations with clients other than the relay.
 *
 * A student's own telnet, curl or mail program talks to the lab without
 * the relay, so the lab records it itself, as an "own client" session
 * under the same budgets as the relay's (struct lab_budget). A connection
 * from this host may be a relay session, which the relay records: it stays
 * undecided (its output held in rec_pending) until the relay had its turn
 * to register it. Each FTP data connection of an own client is a session
 * of its own, linked to the control session.
 */
#include "labrec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "labdb.h"
#include "labident.h"
#include "labpriv.h"
#include "log.h"
#include "recorder.h"
#include "tlsmem.h"

/* The record step every own-client transcript goes through (httprec.c's
 * too): the session's cap, then usage.c's budgets through struct
 * lab_budget, in the relay's order (relay.c, record_event). Past the
 * first one reached, the part that still fits is kept, then one note
 * saying why; notes count like bytes. */
void labrec_event(struct lab_ctx *ctx, struct labrec_stream *r, void *uu, int user_is_student,
                  int64_t t_us, int dir, const void *p, size_t n, int force) {
  const struct lab_budget *b = ctx ? ctx->budget : NULL;
  int64_t room = LIM_TRANSCRIPT_BYTES - r->recorded, budget_room = INT64_MAX;
  int why = 0;

  if (!ctx || !ctx->rec || !r->session) return;
  if (!force) {
    if (r->stopped) return;
    if (b && uu) why = b->check(b->owner, uu, user_is_student, (int64_t)n, &budget_room);
    if (why || (int64_t)n > room) {
      char text[256];
      if (budget_room < room) room = budget_room;
      if (room > 0) labrec_event(ctx, r, uu, user_is_student, t_us, dir, p, (size_t)room, 0);
      r->stopped = 1;
      if (!why)
        snprintf(text, sizeof text, "recording truncated after %d bytes; the session goes on",
                 LIM_TRANSCRIPT_BYTES);
      else
        b->stop_text(b->owner, why, text, sizeof text);
      labrec_event(ctx, r, uu, user_is_student, t_us, DB_DIR_NOTE, text, strlen(text), 1);
      return;
    }
    r->recorded += (int64_t)n;
  }
  if (b && uu) b->recorded(b->owner, uu, (int64_t)n);
  recorder_event(ctx->rec, r->session, ++r->seq, t_us, dir, p, n);
  if (recorder_should_flush(ctx->rec)) recorder_kick(ctx->rec);
}

static void lab_rec_event_to(struct lab_conn *c, struct labrec_stream *r, int dir, const void *p,
                             size_t n, int force) {
  if (c->rec_state != LAB_REC_OWN) return;
  labrec_event(c->ctx, r, c->rec_uu, c->rec_user_is_student,
               lab_now_us(CLOCK_MONOTONIC) - r->start_mono, dir, p, n, force);
}

static void lab_rec_event(struct lab_conn *c, int dir, const void *p, size_t n, int force) {
  lab_rec_event_to(c, &c->rec, dir, p, n, force);
}

void lab_rec_note(struct lab_conn *c, const char *fmt, ...) {
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

/* The transcript's mode: telnet on a telnet row; TLS rows record the
 * plaintext, so they are raw like the rest. */
static const char *lab_rec_mode(const struct lab_conn *c) {
  return c->service && strcmp(c->service->mode, "telnet") == 0 ? "telnet" : "raw";
}

/* Marks the own-client session as TLS ("tls" from the start on a TLS row,
 * "starttls" once upgraded), as the relay marks its TLS sessions. */
void lab_rec_tls(struct lab_conn *c, const char *how) {
  if (c->rec_state != LAB_REC_OWN || !c->rec.session || !c->tls) return;
  if (db_session_set_tls(c->ctx->db, c->rec.session, how) != 0)
    log_warn("lab-%s: cannot mark session %lld as TLS: %s", c->m->name, (long long)c->rec.session,
             db_errmsg(c->ctx->db));
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
  if (db_session_create_own(ctx->db, owner, "lab", c->service_port, lab_rec_mode(c), c->peer,
                            c->rec_start_us, &c->rec.session) != 0) {
    log_error("lab-%s: own-client session insert failed: %s", c->m->name, db_errmsg(ctx->db));
    c->rec.session = 0;
    return;
  }
  c->rec_state = LAB_REC_OWN;
  lab_rec_owner(c, owner);
  lab_rec_note(c, "own client %s port %d connected to the lab %s server%s", c->peer, c->peer_port,
               c->m->name, c->service && lab_service_is_tls(c->service) ? " (TLS)" : "");
  lab_rec_tls(c, "tls");
  /* Implicit TLS: what waited is the greeting's plaintext, which crossed
   * the network as TLS records (counted as they are written). */
  if (!c->tls) c->rec.down += (int64_t)buf_len(&c->rec_pending);
  if (buf_len(&c->rec_pending))
    lab_rec_event(c, DB_DIR_S2C, buf_head(&c->rec_pending), buf_len(&c->rec_pending), 0);
  buf_consume(&c->rec_pending, buf_len(&c->rec_pending));
}

/* Decides once: a relay session from this host (the relay registered its
 * port) is the relay's to record. final: the relay has had its turn for
 * sure (the client sent a byte, or the settling time passed). */
int lab_rec_decide(struct lab_conn *c, int final) {
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

/* counted: the bytes crossed the socket as they are (bytes_up/down count
 * them); the plaintext of a TLS connection did not, its records did. */
static void lab_rec_take(struct lab_conn *c, int dir, const void *p, size_t n, int counted) {
  int up = dir == DB_DIR_C2S || dir == DB_DIR_WIRE_C2S;

  if (c->rec_state == LAB_REC_OFF || !n) return;
  if (up) lab_rec_decide(c, 1);
  if (c->rec_state == LAB_REC_UNDECIDED) {
    /* Only the server's first words wait (the client has sent nothing);
     * a TLS server says nothing on the wire before the client's hello. */
    size_t room = LIM_LAB_REC_PENDING - buf_len(&c->rec_pending);
    if (room && !DB_DIR_IS_WIRE(dir)) buf_append(&c->rec_pending, p, n < room ? n : room);
    return;
  }
  if (counted && up)
    c->rec.up += (int64_t)n;
  else if (counted)
    c->rec.down += (int64_t)n;
  lab_rec_event(c, dir, p, n, 0);
}

void lab_rec_bytes(struct lab_conn *c, int dir, const void *p, size_t n) {
  lab_rec_take(c, dir, p, n, 1);
}

void lab_rec_plain(struct lab_conn *c, int dir, const void *p, size_t n) {
  lab_rec_take(c, dir, p, n, 0);
}

/* The key log lines of the handshake just done (TLS 1.3 has them all by
 * then), for the session's keylog export. */
void lab_rec_keys(struct lab_conn *c) {
  char keys[LIM_TLS_KEYLOG_BYTES];

  if (c->rec_state != LAB_REC_OWN || !c->rec.session || !c->tls) return;
  if (tlsmem_keylog(c->tls, keys, sizeof keys) == 0) return;
  if (db_session_keylog_add(c->ctx->db, c->rec.session, keys) != 0)
    log_warn("lab-%s: cannot keep the key log of session %lld: %s", c->m->name,
             (long long)c->rec.session, db_errmsg(c->ctx->db));
}

void lab_rec_end(struct lab_conn *c) {
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
void lab_drec_start(struct lab_conn *c) {
  struct lab_ctx *ctx = c->ctx;
  struct labrec_stream *r = &c->drec;

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

void lab_drec_bytes(struct lab_conn *c, int dir, const void *p, size_t n) {
  struct labrec_stream *r = &c->drec;

  if (!r->session || !n) return;
  if (dir == DB_DIR_C2S)
    r->up += (int64_t)n;
  else
    r->down += (int64_t)n;
  lab_rec_event_to(c, r, dir, p, n, 0);
}

/* reason: "remote_closed" (we closed it after sending), "client_closed"
 * (the end of an upload) or "transfer_aborted". */
void lab_drec_end(struct lab_conn *c, const char *reason) {
  struct labrec_stream *r = &c->drec;

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
