/* labchan.c -- FTP data channels, whatever the backend: state, PROT P, the passive-port caps.
 *
 * One data channel at a time per connection, the newest wins. The core
 * keeps its state machine (none, pending, open, closed) and calls the
 * module's on_data_conn / on_data_rx / on_data_done; the backend only
 * listens, connects, writes and reports. Under PROT P (RFC 4217) the lab
 * is the TLS server on the data connection too. A passive port is a
 * shared resource: one student and one address may each hold only so many
 * at once (issue 7; --ftp-pasv-per-student, --ftp-pasv-per-addr).
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "labident.h"
#include "labpriv.h"
#include "tlsmem.h"

/* Every connection holding a passive port: the caps count them. */
static struct lab_conn *lab_pasv_holders;

/* Connected, timed out or dropped. */
void lab_pasv_release(struct lab_conn *c) {
  if (!c->pasv_held) return;
  if (c->pasv_prev)
    c->pasv_prev->pasv_next = c->pasv_next;
  else
    lab_pasv_holders = c->pasv_next;
  if (c->pasv_next) c->pasv_next->pasv_prev = c->pasv_prev;
  c->pasv_prev = c->pasv_next = NULL;
  c->pasv_held = 0;
}

void lab_data_protect(struct lab_conn *c, int on) {
  c->data_protect = on && lab_tls_available(c);
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
void lab_data_connected(struct lab_conn *c, int ok) {
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

/* --- TLS on the data channel (RFC 4217 PROT P) ---------------------------- */

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

void lab_data_input(struct lab_conn *c, const unsigned char *p, size_t n) {
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
void lab_data_peer_closed(struct lab_conn *c) {
  int ok = buf_len(&c->data_out) == 0;
  if (c->data_tls && tlsmem_peer_closed(c->data_tls)) ok = 1;
  lab_data_end_by(c, ok, 1);
}

/* All queued data is written: finish a requested close (under TLS, once
 * close_notify went out too). */
void lab_data_drained(struct lab_conn *c) {
  if (c->data_tls && !c->data_tls_closed) return;
  if (c->data_closing && !buf_len(&c->data_out)) lab_data_end(c, 1);
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
