/* lab.c -- the connection core under every built-in line-protocol lab server.
 *
 * One connection core does the work that every protocol would otherwise
 * repeat: it splits input into lines no longer than the module's
 * line_max (telling CRLF from a bare LF), hands over counted raw bytes
 * (IMAP literals), queues output under a hard cap, runs TLS and the idle
 * timeout, and calls the module's callbacks. Around it (labpriv.h has the
 * file map): own-client recording (labrec.c), FTP data channels
 * (labchan.c), and two thin backends behind struct lab_backend: memory
 * (labmem.c, for unit tests and fuzzers) and real sockets (labsock.c,
 * labchansock.c).
 *
 * Rules the core keeps for every module: after lab_close() no callback
 * but on_close runs; input after a close request is dropped; a
 * connection is never freed inside one of its own lws callbacks (it is
 * detached there and reaped later); callbacks always see a live session.
 */
#include "lab.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "labdb.h"
#include "labident.h"
#include "labpriv.h"
#include "log.h"
#include "portlab_limits.h"
#include "progress.h"
#include "recorder.h"
#include "text.h"
#include "tlsmem.h"

int64_t lab_now_us(clockid_t clk) {
  struct timespec ts;

  clock_gettime(clk, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct lab_conn *lab_conn_new(const struct lab_module *m, const struct lab_backend *be,
                              struct lab_ctx *ctx, const char *peer, int service_port,
                              const struct lab_service *row) {
  struct lab_conn *c = calloc(1, sizeof *c);

  if (!c) return NULL;
  c->m = m;
  c->be = be;
  c->ctx = ctx;
  c->service_port = service_port;
  c->service = row;
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

void lab_conn_finish(struct lab_conn *c) {
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

void lab_conn_free(struct lab_conn *c) {
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

void lab_conn_accept(struct lab_conn *c) {
  if (c->service && lab_service_is_tls(c->service)) {
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
  lab_rec_keys(c);
}

/* Cleartext goes straight to the line splitter; under TLS the engine
 * decrypts first. */
void lab_conn_wire_input(struct lab_conn *c, const unsigned char *p, size_t n, int record) {
  unsigned char plain[LIM_LAB_CHUNK];
  ssize_t r;

  if (!c->tls) {
    if (record && !c->closing) lab_rec_bytes(c, DB_DIR_C2S, p, n);
    lab_conn_input(c, p, n);
    return;
  }
  if (c->closing) return;
  if (record) lab_rec_bytes(c, DB_DIR_WIRE_C2S, p, n);
  if (tlsmem_feed_wire(c->tls, p, n) < 0) {
    lab_tls_fail(c, c->tls, "TLS");
    return;
  }
  lab_tls_noted(c);
  while (!c->closing && (r = tlsmem_read(c->tls, plain, sizeof plain)) > 0) {
    if (record) lab_rec_plain(c, DB_DIR_C2S, plain, (size_t)r);
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
  lab_rec_tls(c, "starttls");
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

int lab_idle_secs(const struct lab_conn *c) {
  if (c->ctx->idle_secs > 0) return c->ctx->idle_secs;
  return c->m->idle_secs > 0 ? c->m->idle_secs : LIM_LAB_IDLE_SECS;
}

void lab_conn_timeout(struct lab_conn *c) {
  if (c->closing) return;
  lab_warn(c, "idle for %d s; closing", lab_idle_secs(c));
  if (c->m->on_timeout) c->m->on_timeout(c, c->session);
  lab_close(c);
}

/* The addresses the relay's connections come from: 127.0.0.1 or ::1 (the
 * loopback addresses the kernel picks when the lab listens on loopback or
 * on 0.0.0.0 / ::), or the lab address itself (a LAN --lab-bind). A whole
 * class shares them, so the per-address cap cannot apply to them, and
 * only a connection from one of them can be a relayed one. Nothing wider:
 * 127.0.0.2 and the rest of 127/8 are ordinary peers, held to the cap. */
int lab_addr_is_local(const char *addr, const struct lab_ctx *ctx) {
  return strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "::1") == 0 ||
         strcmp(addr, ctx->lab_addr) == 0;
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
    /* The recording keeps the plaintext the module wrote (its records
     * are recorded as they are written). */
    lab_rec_plain(c, DB_DIR_S2C, p, n);
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
