/* httprec.c -- the HTTP lab's own-client transcripts, written on the loop thread.
 *
 * httpwire.c queues what crossed each connection; this file turns it into
 * the same record the other lab servers keep (lab.c, lab_rec_*): an "own
 * client" session row for the first teacher until the client sends valid
 * lab credentials, then the student's, with a note for the connect, the
 * login and the close, and every byte in order, under the same budgets
 * through the same step (labrec.c: LIM_TRANSCRIPT_BYTES per session, then
 * usage.c's per student and in all; past one, a note says so and nothing
 * more is kept).
 *
 * HTTPS (lab:443) sessions are marked TLS (sessions.tls = "tls") and keep
 * both layers, as the relay keeps its TLS sessions: the plaintext as
 * c2s/s2c (what the transcript, text and replay show), the TLS records as
 * the wire layer (the pcap; bytes_up/down count them, as for every TLS
 * session: what crossed the TCP connection), and the handshake's key log
 * in session_keys (the key export), so a pcap opens decrypted.
 */
#include "httprec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lab.h"
#include "labdb.h"
#include "labrec.h"
#include "log.h"
#include "recorder.h"

struct httprec_conn {
  struct httprec_conn *next;
  uint64_t conn;
  struct labrec_stream s;
  int64_t user;
  int user_is_student;
  void *uu; /* the owner's ctx->budget entry */
};

struct httprec {
  struct lab_ctx *ctx;
  int port; /* the well-known port the transcripts name */
  int tls;
  struct httprec_conn *conns;
};

struct httprec *httprec_new(struct lab_ctx *ctx, int port, int tls) {
  struct httprec *hr = calloc(1, sizeof *hr);
  if (!hr) return NULL;
  hr->ctx = ctx;
  hr->port = port;
  hr->tls = tls;
  return hr;
}

void httprec_free(struct httprec *hr) {
  if (!hr) return;
  while (hr->conns) {
    struct httprec_conn *next = hr->conns->next;
    free(hr->conns);
    hr->conns = next;
  }
  free(hr);
}

static void httprec_event(struct httprec *hr, struct httprec_conn *c, int64_t mono, int dir,
                          const void *p, size_t n) {
  labrec_event(hr->ctx, &c->s, c->uu, c->user_is_student, mono - c->s.start_mono, dir, p, n, 0);
}

static void httprec_note(struct httprec *hr, struct httprec_conn *c, int64_t mono, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
static void httprec_note(struct httprec *hr, struct httprec_conn *c, int64_t mono, const char *fmt,
                         ...) {
  char text[256];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  httprec_event(hr, c, mono, DB_DIR_NOTE, text, strlen(text));
}

static void httprec_owner(struct httprec *hr, struct httprec_conn *c, int64_t user) {
  struct db_user u;

  c->user = user;
  c->user_is_student = db_user_by_id(hr->ctx->db, user, &u) == 0 && strcmp(u.role, "student") == 0;
  c->uu = hr->ctx->budget ? hr->ctx->budget->user(hr->ctx->budget->owner, user) : NULL;
}

static void httprec_open(struct httprec *hr, const struct httpwire_rec *r) {
  struct lab_ctx *ctx = hr->ctx;
  int64_t owner = 0;
  struct httprec_conn *c;

  if (db_first_teacher(ctx->db, &owner) != 0) {
    log_warn("http lab %s: no teacher account yet; own-client session not recorded",
             (const char *)r->data);
    return;
  }
  c = calloc(1, sizeof *c);
  if (!c) return;
  if (db_session_create_own(ctx->db, owner, "lab", hr->port, "raw", (const char *)r->data,
                            r->wall_us, &c->s.session) != 0) {
    log_error("http lab: own-client session insert failed: %s", db_errmsg(ctx->db));
    free(c);
    return;
  }
  if (hr->tls && db_session_set_tls(ctx->db, c->s.session, "tls") != 0)
    log_error("http lab: marking session %lld TLS failed: %s", (long long)c->s.session,
              db_errmsg(ctx->db));
  c->conn = r->conn;
  c->s.start_mono = r->mono_us;
  c->next = hr->conns;
  hr->conns = c;
  httprec_owner(hr, c, owner);
  httprec_note(hr, c, r->mono_us, "own client %s port %d connected to the lab http server%s",
               (const char *)r->data, r->port, hr->tls ? " (TLS)" : "");
}

static void httprec_login(struct httprec *hr, struct httprec_conn *c,
                          const struct httpwire_rec *r) {
  struct db_user u;

  if (db_lab_account(hr->ctx->db, (const char *)r->data, &u) != 0 || u.id == c->user) return;
  if (db_session_set_user(hr->ctx->db, c->s.session, u.id) != 0) {
    log_error("http lab: cannot give session %lld to %s: %s", (long long)c->s.session, u.name,
              db_errmsg(hr->ctx->db));
    return;
  }
  httprec_owner(hr, c, u.id);
  httprec_note(hr, c, r->mono_us, "logged in as %s", u.name);
}

static void httprec_close(struct httprec *hr, struct httprec_conn *c,
                          const struct httpwire_rec *r) {
  struct httprec_conn **pp = &hr->conns;

  httprec_note(hr, c, r->mono_us, "connection closed by %s",
               r->by_server ? "the server" : "the client");
  recorder_session_end(hr->ctx->rec, c->s.session, r->wall_us, c->s.up, c->s.down,
                       r->by_server ? "remote_closed" : "client_closed");
  while (*pp != c) pp = &(*pp)->next;
  *pp = c->next;
  free(c);
}

void httprec_apply(struct httprec *hr, const struct httpwire_recs *list) {
  const struct httpwire_rec *r;
  if (!hr || !hr->ctx || !hr->ctx->rec) return;
  STAILQ_FOREACH(r, list, next) {
    struct httprec_conn *c = hr->conns;
    if (r->kind == HTTPWIRE_OPEN) {
      httprec_open(hr, r);
      continue;
    }
    while (c && c->conn != r->conn) c = c->next;
    if (!c) continue; /* its open was not recorded */
    switch (r->kind) {
      case HTTPWIRE_C2S:
        if (!hr->tls) c->s.up += (int64_t)r->len;
        httprec_event(hr, c, r->mono_us, DB_DIR_C2S, r->data, r->len);
        break;
      case HTTPWIRE_S2C:
        if (!hr->tls) c->s.down += (int64_t)r->len;
        httprec_event(hr, c, r->mono_us, DB_DIR_S2C, r->data, r->len);
        break;
      case HTTPWIRE_WIRE_C2S:
        c->s.up += (int64_t)r->len;
        httprec_event(hr, c, r->mono_us, DB_DIR_WIRE_C2S, r->data, r->len);
        break;
      case HTTPWIRE_WIRE_S2C:
        c->s.down += (int64_t)r->len;
        httprec_event(hr, c, r->mono_us, DB_DIR_WIRE_S2C, r->data, r->len);
        break;
      case HTTPWIRE_NOTE:
        httprec_event(hr, c, r->mono_us, DB_DIR_NOTE, r->data, r->len);
        break;
      case HTTPWIRE_KEYS:
        if (db_session_keylog_add(hr->ctx->db, c->s.session, (const char *)r->data) != 0)
          log_error("http lab: storing session %lld's TLS key log failed: %s",
                    (long long)c->s.session, db_errmsg(hr->ctx->db));
        break;
      case HTTPWIRE_LOGIN:
        httprec_login(hr, c, r);
        break;
      case HTTPWIRE_CLOSE:
        httprec_close(hr, c, r);
        break;
      default:
        break;
    }
  }
}
