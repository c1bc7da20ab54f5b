/* relay_target.c -- the target's side of a relay session: resolving the
 * name (off the loop, resolver.c), connecting to each checked address in
 * turn, the outbound TCP socket, telnet mode (telnet.c) and TLS towards the
 * target (relay_tls.c). relay.c holds the browser's side; relay_int.h what
 * the two share.
 *
 * Bytes meet the target's socket in two functions only: target_in (bytes
 * read from the target) and target_out (bytes written to it), so a layer
 * between the socket and the queues (TLS) has one place on each side.
 * Every byte is recorded as it crosses the TCP connection: server bytes
 * when read, client bytes when written (telnet negotiation included).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "app.h"
#include "httplab.h"
#include "labident.h"
#include "log.h"
#include "policy.h"
#include "refusals.h"
#include "relay.h"
#include "relay_int.h"
#include "resolver.h"
#include "telnet.h"
#include "watch.h"

/* --- the target's socket ----------------------------------------------------- */

/* Bytes leave for the target here and nowhere else. Returns how many the
 * socket took (0: it is full, wait for writable), or -1 if it failed. */
static ssize_t target_out(struct relay *r, const unsigned char *p, size_t n) {
  int fd = r->tcp ? (int)lws_get_socket_fd(r->tcp) : -1;
  ssize_t w;
  if (fd < 0) return -1;
  do {
    w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (w < 0 && errno == EINTR);
  if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  return w;
}

/* Client bytes are recorded as the target's socket takes them. */
static void sent_to_target(struct relay *r, const unsigned char *p, size_t n) {
  relay_record(r, r->wire_tls ? DB_DIR_WIRE_C2S : DB_DIR_C2S, p, n);
  r->bytes_up += (int64_t)n;
  relay_watch_counters(r);
}

/* Writes what to_tcp holds while the socket takes it. Returns -1 if the
 * socket failed. */
static int tcp_send_queued(struct relay *r) {
  size_t done = 0;
  while (done < LIM_RELAY_WRITE_BYTES) {
    size_t n;
    unsigned char *p = ring_head(&r->to_tcp, &n);
    if (!n) break;
    ssize_t w = target_out(r, p, n);
    if (w < 0) return -1;
    if (w == 0) break;
    sent_to_target(r, p, (size_t)w);
    ring_consume(&r->to_tcp, (size_t)w);
    done += (size_t)w;
    if ((size_t)w < n) break; /* the socket is full */
  }
  if (done) relay_update_ws_rx(r);
  return 0;
}

void relay_queue_to_tcp(struct relay *r, const unsigned char *p, size_t n) {
  if (!ring_len(&r->to_tcp) && r->tcp && r->state == RS_OPEN && !r->tcp_defer) {
    /* Nothing queued before these bytes: straight to the socket. */
    ssize_t w = target_out(r, p, n);
    if (w > 0) {
      sent_to_target(r, p, (size_t)w);
      p += w;
      n -= (size_t)w;
    }
    if (!n) return;
  }
  if (ring_append(&r->to_tcp, p, n)) { /* only if flow control failed */
    relay_finish(r, "buffer_overflow", NULL, LWS_CLOSE_STATUS_NORMAL);
    return;
  }
  if (r->tcp && r->state == RS_OPEN && !r->tcp_defer) lws_callback_on_writable(r->tcp);
  relay_update_ws_rx(r);
}

void relay_client_bytes(struct relay *r, const unsigned char *p, size_t n) {
  if (r->tls) {
    if (relay_tls_from_client(r->tls, p, n))
      relay_fail(r, "tls_failed", "tls_failed", "%s", relay_tls_error(r->tls));
  } else if (r->tn) {
    telnet_send_data(r->tn, p, n);
  } else {
    relay_tls_tail_add(&r->sent_tail, p, n);
    relay_queue_to_tcp(r, p, n);
  }
}

/* What the student sent while the connection was being made, taken out of
 * to_tcp (NULL with *n 0 when nothing waits, NULL with *n set when out of
 * memory). In telnet or tls mode it must pass through that engine like
 * any later typing: IAC doubled, held until the certificate is judged and
 * never on the wire ahead of the ClientHello. */
static unsigned char *take_early(struct relay *r, size_t *n) {
  size_t got = 0;
  *n = ring_len(&r->to_tcp);
  unsigned char *early = *n ? malloc(*n) : NULL;
  if (!early) return NULL;
  while (got < *n) {
    size_t k;
    unsigned char *p = ring_head(&r->to_tcp, &k);
    memcpy(early + got, p, k);
    ring_consume(&r->to_tcp, k);
    got += k;
  }
  return early;
}

/* The end of a browser message, or of a telnet read whose answers were
 * queued: what waits goes out now, not on the next writable callback. */
void relay_tcp_flush_deferred(struct relay *r) {
  if (!ring_len(&r->to_tcp) || !r->tcp || r->state != RS_OPEN) return;
  /* A failure is left to the writable callback, which ends the session. */
  if (tcp_send_queued(r) || ring_len(&r->to_tcp)) lws_callback_on_writable(r->tcp);
}

/* --- telnet mode ---------------------------------------------------------- */

static void tn_send(void *arg, const unsigned char *p, size_t n) {
  relay_queue_to_tcp(arg, p, n);
}

static void tn_data(void *arg, const unsigned char *p, size_t n) {
  relay_queue_to_ws(arg, p, n);
}

static void tn_option(void *arg, int option, int local, int enabled) {
  struct relay *r = arg;
  if (option != TELNET_OPT_ECHO || local) return;
  r->remote_echo = enabled;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "echo");
  cJSON_AddBoolToObject(o, "local", !enabled);
  relay_send_json(r, o);
  relay_note(r, "remote echo %s", enabled ? "on (the browser stops echoing)" : "off");
}

static const struct telnet_callbacks tn_callbacks = {tn_send, tn_data, tn_option, NULL};

/* --- TLS (relay_tls.c) ------------------------------------------------------ */

static void tls_to_wire(void *arg, const unsigned char *p, size_t n) {
  relay_queue_to_tcp(arg, p, n);
}

static void tls_to_client(void *arg, const unsigned char *p, size_t n) {
  relay_queue_to_ws(arg, p, n);
}

static void tls_record(void *arg, int dir, const unsigned char *p, size_t n) {
  relay_record(arg, dir, p, n);
}

static void tls_note(void *arg, const char *line) {
  struct relay *r = arg;
  relay_note(r, "%s", line);
  relay_send_typed(r, "note", "text", line);
}

/* The handshake is done and the certificate judged: the key log is kept
 * for the key export, and the page hears of it. */
static void tls_established(void *arg, const char *keylog, const char *summary, int verified) {
  struct relay *r = arg;
  if (keylog[0] && r->session_id && db_session_keylog_add(r->app->db, r->session_id, keylog))
    log_error("session %lld: storing the TLS key log failed: %s", (long long)r->session_id,
              db_errmsg(r->app->db));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "tls");
  cJSON_AddStringToObject(o, "state", "established");
  cJSON_AddBoolToObject(o, "verified", verified);
  cJSON_AddStringToObject(o, "summary", summary);
  relay_send_json(r, o);
}

static const struct relay_tls_io tls_io = {tls_to_wire, tls_to_client, tls_record, tls_note,
                                           tls_established};

/* Starts TLS on the open connection: from the start (mode tls) or as a
 * STARTTLS upgrade. -1 if the session was ended. */
static int start_tls(struct relay *r, int upgraded) {
  struct app *app = r->app;
  char err[256];
  const struct sockaddr *sa = (const struct sockaddr *)&r->addrs[r->addr_idx];
  int insecure = !r->is_lab && policy_tls_insecure(app->policy, r->host, sa, r->port);
  relay_note(r, "tls: %s; the relay is the TLS client towards %s",
             upgraded ? "STARTTLS" : "TLS from the start", r->host);
  r->wire_tls = 1;
  r->tls = relay_tls_start(app, &tls_io, r, r->host, r->is_lab, insecure, err, sizeof err);
  if (!r->tls) {
    relay_fail(r, "tls_failed", "tls_failed", "%s", err);
    return -1;
  }
  if (r->session_id && db_session_set_tls(app->db, r->session_id, upgraded ? "starttls" : "tls"))
    log_error("session %lld: marking it TLS failed: %s", (long long)r->session_id,
              db_errmsg(app->db));
  return 0;
}

static void tls_from_wire(struct relay *r, const unsigned char *p, size_t n) {
  int closed;
  if (relay_tls_from_wire(r->tls, p, n, &closed) == 0) return;
  if (closed) {
    relay_note(r, "tls: %s", relay_tls_error(r->tls));
    relay_finish(r, "remote_closed", NULL, LWS_CLOSE_STATUS_NORMAL);
  } else {
    relay_fail(r, "tls_failed", "tls_failed", "%s", relay_tls_error(r->tls));
  }
}

/* {"type":"starttls"}: upgrade a raw session once the student asked the
 * server and it agreed. A refusal leaves the session as it was. */
void relay_handle_starttls(struct relay *r) {
  const char *why = NULL;
  if (r->state != RS_OPEN || r->pending_reason[0])
    why = "there is no open session to upgrade";
  else if (r->tls)
    why = "this session already uses TLS";
  else if (r->telnet_mode)
    why = "STARTTLS works on raw sessions, not in telnet mode";
  else if (!relay_tls_client_asked(&r->sent_tail) || !relay_tls_server_agreed(&r->got_tail))
    why =
        "ask the server first (STARTTLS, STLS for POP3, AUTH TLS for FTP) and wait until it "
        "agrees (220, +OK, OK or 234)";
  else if (ring_len(&r->to_tcp))
    why = "wait until what is on its way has arrived";
  if (why) {
    relay_send_error(r, "starttls_refused", why);
    return;
  }
  start_tls(r, 1);
}

/* --- connecting ---------------------------------------------------------- */

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t outlen) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *sin = (const void *)ss;
    inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof ip);
    port = ntohs(sin->sin_port);
    snprintf(out, outlen, "%s:%d", ip, port);
  } else {
    const struct sockaddr_in6 *sin6 = (const void *)ss;
    inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof ip);
    port = ntohs(sin6->sin6_port);
    snprintf(out, outlen, "[%s]:%d", ip, port);
  }
}

static void set_port(struct sockaddr_storage *ss, int port) {
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

int relay_addrs_alloc(struct relay *r, int n) {
  free(r->addrs);
  r->naddrs = r->addr_idx = 0;
  r->addrs = calloc((size_t)n, sizeof *r->addrs);
  return r->addrs ? 0 : -1;
}

/* Starts a connection to addrs[addr_idx]. */
void relay_connect_next(struct relay *r) {
  struct app *app = r->app;
  char ip[INET6_ADDRSTRLEN], where[80];
  const struct sockaddr_storage *ss = &r->addrs[r->addr_idx];
  int port;
  if (ss->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
  } else {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  }
  addr_text(ss, where, sizeof where);
  if (!r->session_id) {
    /* The target passed the policy: from here on it is a session, with a
     * row and a transcript. Refusals before this point are only counted. */
    r->started_us = app_now_us();
    if (db_session_create(app->db, r->user.id, r->host, r->port, r->telnet_mode ? "telnet" : "raw",
                          r->started_us, &r->session_id)) {
      r->session_id = 0;
      log_error("session insert failed: %s", db_errmsg(app->db));
    } else {
      struct watch_session s;
      relay_watch_snapshot(r, &s);
      r->watch_entry = watch_session_open(app->watch, &s, app_mono_us());
    }
    r->counts_as_open = 0;
    relay_note(r, "%s asked for %s:%d (%s)", r->user.name, r->host, r->port, relay_mode_name(r));
  }
  relay_note(r, "connecting to %s:%d at %s", r->host, r->port, where);
  r->state = RS_CONNECTING;

  struct lws_client_connect_info ci;
  memset(&ci, 0, sizeof ci);
  ci.context = app->ctx;
  ci.vhost = app->client_vhost;
  ci.address = ip;
  ci.port = port;
  ci.host = ip;
  ci.origin = ip;
  ci.path = "";
  ci.method = "RAW";
  ci.protocol = RELAY_TCP_PROTOCOL;
  ci.local_protocol_name = RELAY_TCP_PROTOCOL;
  ci.opaque_user_data = r;
  ci.pwsi = &r->tcp;
  if (!lws_client_connect_via_info(&ci) && r->state == RS_CONNECTING && !r->tcp) {
    /* Failed before any callback could say so. */
    relay_fail(r, "connect_failed", "connect_failed", "could not start a connection to %s", where);
  }
}

void relay_connect_failed(struct relay *r, const char *why) {
  char where[80];
  addr_text(&r->addrs[r->addr_idx], where, sizeof where);
  relay_note(r, "connection to %s failed: %s", where, why);
  if (++r->addr_idx < r->naddrs) {
    relay_connect_next(r);
    return;
  }
  relay_fail(r, "connect_failed", "connect_failed", "could not connect to %s:%d: %s", r->host,
             r->port, why);
}

static void resolved(struct app *app, const struct resolver_result *res) {
  struct relay *r;
  for (r = app->relays; r && r->key != res->key; r = r->next) {
  }
  if (!r || r->state != RS_RESOLVING) return; /* gone or timed out meanwhile */
  if (res->error || res->n == 0) {
    relay_fail(r, "connect_failed", "connect_failed", "could not resolve %s: %s", r->host,
               res->error ? res->errmsg : "no addresses");
    return;
  }
  char reason[256];
  if (relay_addrs_alloc(r, res->n)) {
    relay_fail(r, "connect_failed", "connect_failed", "out of memory");
    return;
  }
  for (int i = 0; i < res->n; i++) {
    /* Every address must pass: one bad answer means a bad name. */
    if (policy_check_addr(app->policy, r->host, (const struct sockaddr *)&res->addrs[i], r->port,
                          reason, sizeof reason)) {
      log_warn("denied %s -> %s:%d: %s", r->user.name, r->host, r->port, reason);
      relay_fail(r, "target_denied", "target_denied", "%s", reason);
      return;
    }
    r->addrs[r->naddrs] = res->addrs[i];
    set_port(&r->addrs[r->naddrs], r->port);
    r->naddrs++;
  }
  relay_connect_next(r);
}

/* --- the TCP side ----------------------------------------------------------- */

static int tcp_writeable(struct lws *wsi, struct relay *r) {
  if (!ring_len(&r->to_tcp)) return 0;
  if (tcp_send_queued(r)) return -1;
  if (ring_len(&r->to_tcp))
    lws_callback_on_writable(wsi);
  else if (r->pending_reason[0])
    relay_finish(r, r->pending_reason, NULL, LWS_CLOSE_STATUS_NORMAL);
  return 0;
}

static void tcp_connected(struct relay *r) {
  char where[80];
  addr_text(&r->addrs[r->addr_idx], where, sizeof where);
  r->state = RS_OPEN;
  r->last_activity = app_mono_us();
  if (r->is_lab) { /* tell the lab servers which student this connection is */
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    int fd = (int)lws_get_socket_fd(r->tcp);
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&local, &len) == 0) {
      int port = ntohs(local.ss_family == AF_INET ? ((struct sockaddr_in *)&local)->sin_port
                                                  : ((struct sockaddr_in6 *)&local)->sin6_port);
      char client[64] = ""; /* the browser's address: the lab caps what one address holds */
      if (r->ws) lws_get_peer_simple(r->ws, client, sizeof client);
      if (labident_add(port, r->user.id, client) == 0) r->ident_port = port;
    }
  }
  relay_note(r, "connected to %s:%d (%s)", r->host, r->port, where);
  log_info("session %lld: %s connected to %s:%d (%s)", (long long)r->session_id, r->user.name,
           r->host, r->port, where);
  cJSON *o = relay_session_msg(r, "opened");
  if (auth_token(r->resume_token) == 0) cJSON_AddStringToObject(o, "resume_token", r->resume_token);
  relay_send_json(r, o);
  if (r->stop_note[0]) relay_send_typed(r, "note", "text", r->stop_note);
  size_t early_n = 0;
  unsigned char *early = r->telnet_mode || r->tls_mode ? take_early(r, &early_n) : NULL;
  if (early_n && !early) {
    relay_fail(r, "connect_failed", "internal", "out of memory");
    return;
  }
  if (r->telnet_mode) {
    r->tn = telnet_new(&tn_callbacks, r);
    if (!r->tn) {
      free(early);
      relay_fail(r, "connect_failed", "internal", "out of memory");
      return;
    }
    telnet_accept(r->tn, TELNET_OPT_ECHO, 0, 1);
    telnet_accept(r->tn, TELNET_OPT_SGA, 1, 1);
  }
  if (r->tls_mode && start_tls(r, 0)) {
    free(early);
    return;
  }
  if (early_n) relay_client_bytes(r, early, early_n);
  free(early);
  if (r->state != RS_OPEN || r->pending_reason[0]) return;
  relay_update_tcp_rx(r);
  if (ring_len(&r->to_tcp)) lws_callback_on_writable(r->tcp);
}

/* Bytes from the target arrive here and nowhere else: they are recorded as
 * read (under TLS as the wire layer: the plaintext is recorded as it comes
 * out of the engine), then go to the browser (through the TLS engine in tls
 * mode, through the telnet engine in telnet mode). */
static void target_in(struct relay *r, const unsigned char *p, size_t n) {
  r->last_activity = app_mono_us();
  r->bytes_down += (int64_t)n;
  relay_record(r, r->wire_tls ? DB_DIR_WIRE_S2C : DB_DIR_S2C, p, n);
  relay_watch_counters(r);
  if (r->tls) {
    tls_from_wire(r, p, n);
    return;
  }
  if (!r->tn) {
    relay_tls_tail_add(&r->got_tail, p, n);
    relay_queue_to_ws(r, p, n);
    return;
  }
  /* The telnet engine hands the data over in pieces (around each command
   * it takes out): they go to the browser together, as one frame. Its
   * answers to the target go out (and are recorded) after the whole read,
   * after the notes it caused, as they did before direct writes. */
  r->ws_defer = r->tcp_defer = 1;
  telnet_recv(r->tn, p, n);
  r->ws_defer = r->tcp_defer = 0;
  if (r->state == RS_DONE) return;
  if (ring_len(&r->to_ws) && relay_ws_can_write_now(r)) relay_ws_send_payload(r);
  if (r->ws && ring_len(&r->to_ws)) lws_callback_on_writable(r->ws);
  relay_tcp_flush_deferred(r);
}

int relay_tcp_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len) {
  struct relay *r = lws_get_opaque_user_data(wsi);
  struct app *app;
  struct resolver_result res;
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      /* Delivered to every protocol of every vhost: draining an empty queue is harmless. */
      app = relay_app_of(wsi);
      while (app->resolver && resolver_take(app->resolver, &res)) resolved(app, &res);
      http_lab_drain(app->http_lab); /* the lab web servers' own-client bytes */
      http_lab_drain(app->https_lab);
      return 0;

    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      lws_set_opaque_user_data(wsi, NULL);
      if (!r) return 0;
      r->tcp = NULL;
      if (r->state == RS_CONNECTING)
        relay_connect_failed(r, in && len ? (const char *)in : "refused");
      return 0;

    case LWS_CALLBACK_RAW_CONNECTED:
      if (!r) return -1;
      r->tcp = wsi;
      tcp_connected(r);
      return 0;

    case LWS_CALLBACK_RAW_RX:
      if (!r || r->state != RS_OPEN) return 0;
      target_in(r, in, len);
      return 0;

    case LWS_CALLBACK_RAW_WRITEABLE:
      if (!r) return 0;
      return tcp_writeable(wsi, r);

    case LWS_CALLBACK_RAW_CLOSE:
      lws_set_opaque_user_data(wsi, NULL);
      if (!r) return 0;
      r->tcp = NULL;
      if (r->state == RS_CONNECTING)
        relay_connect_failed(r, "connection closed");
      else
        relay_finish(r, r->pending_reason[0] ? r->pending_reason : "remote_closed", NULL,
                     LWS_CLOSE_STATUS_NORMAL);
      return 0;

    default:
      break;
  }
  return 0;
}
