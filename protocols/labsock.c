/* labsock.c -- the lab framework's socket backend: listeners, control connections, reaping.
 *
 * One lws raw vhost listens per lab_services row that has a module (its
 * TLS and submission rows only with --lab-tls-ports on), on lab_bind at
 * port base + the row's port; the row also says whether the port speaks
 * TLS from the first byte. Caps are applied before any state is made; a
 * client that does not read is paused, then dropped; a connection lws
 * closed is detached at once (on_close runs) and freed later from the
 * loop, never inside its own callback. One set of servers per process.
 * The data channels' sockets are in labchansock.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "db.h"
#include "labpriv.h"
#include "log.h"

struct lab_servers *lab_active;
/* lws keeps pointers into the protocol tables for as long as the context
 * lives, past lab_servers_stop(). */
static struct lws_protocols lab_protocols[LIM_LAB_LISTENERS][2];
static char lab_protocol_names[LIM_LAB_LISTENERS][40];

struct lab_sock *lab_sock_of(struct lab_conn *c) {
  return c->be_priv;
}

/* IPv4-mapped IPv6 is shown as plain IPv4 so the FTP peer check and the
 * per-address count see one spelling. */
void lab_addr_text(const struct sockaddr_storage *ss, char *out, size_t outlen) {
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

void lab_sock_drop_pending(struct lab_sock *k) {
  lws_sul_cancel(&k->verify_sul);
  for (int i = 0; i < LIM_LAB_DATA_PENDING; i++) {
    if (k->pending[i].fd >= 0) close(k->pending[i].fd);
    k->pending[i].fd = -1;
  }
}

/* lws closed the control socket: run on_close now, free later. */
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

int lab_sock_write(struct lws *wsi, const struct buf *q) {
  unsigned char chunk[LWS_PRE + LIM_LAB_CHUNK];
  size_t n = buf_len(q);

  if (!n) return 0;
  if (n > LIM_LAB_CHUNK) n = LIM_LAB_CHUNK;
  memcpy(chunk + LWS_PRE, buf_head(q), n);
  if (lws_write(wsi, chunk + LWS_PRE, n, LWS_WRITE_RAW) < (int)n) return -1;
  lws_callback_on_writable(wsi);
  return (int)n;
}

static int lab_sock_writeable(struct lab_sock *k) {
  struct lab_conn *c = k->c;
  int w = lab_sock_write(k->wsi, &c->out);
  size_t n = w > 0 ? (size_t)w : 0;

  if (w < 0) return -1;
  if (n) {
    /* The own-client recording takes what is written as it is written:
     * cleartext (under TLS, what was queued before the upgrade), then
     * TLS records. */
    size_t clear = !c->tls ? n : n < c->out_plain ? n : c->out_plain;
    lab_rec_bytes(c, DB_DIR_S2C, buf_head(&c->out), clear);
    if (c->tls) {
      c->out_plain -= clear;
      lab_rec_bytes(c, DB_DIR_WIRE_S2C, buf_head(&c->out) + clear, n - clear);
    }
    buf_consume(&c->out, n);
    lab_sock_touch(k);
  } else if (c->closing && !lws_partial_buffered(k->wsi)) {
    return -1; /* everything is sent: lws closes, RAW_CLOSE detaches */
  }
  lab_sock_flow(k);
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
    for (int i = 0; i < LIM_LAB_DATA_PENDING; i++) k->pending[i].fd = -1;
  c = k ? lab_conn_new(srv->m, &lab_sock_backend, ls->ctx, addr, srv->row->port, srv->row) : NULL;
  if (!c) {
    log_error("lab-%s: out of memory accepting %s", srv->m->name, addr);
    free(k);
    return -1;
  }
  c->peer_port = port;
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

/* Whether a row gets a listener: it has a module, it is offered
 * (--lab-tls-ports), and an implicit TLS row needs the certificate. */
static int lab_row_opened(const struct lab_service *row, const struct lab_ctx *ctx) {
  if (!row->module || !lab_service_on(row, ctx->tls_ports)) return 0;
  return !lab_service_is_tls(row) || ctx->tls_ctx != NULL;
}

struct lab_servers *lab_servers_start(struct lws_context *lws, struct lab_ctx *ctx,
                                      const struct lab_service *rows, size_t n, char *err,
                                      size_t errlen) {
  struct lws_context_creation_info info;
  struct lab_servers *ls;
  int v4 = strchr(ctx->lab_addr, ':') == NULL;
  const struct lab_service *want[LIM_LAB_LISTENERS];
  size_t nwant = 0;

  if (lab_active) {
    snprintf(err, errlen, "lab servers are already running");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (!lab_row_opened(&rows[i], ctx)) continue;
    if (nwant == LIM_LAB_LISTENERS) {
      snprintf(err, errlen, "too many lab server ports (at most %d)", LIM_LAB_LISTENERS);
      return NULL;
    }
    want[nwant++] = &rows[i];
  }
  /* lws would silently share one listener between two vhosts on a port. */
  for (size_t i = 0; i < nwant; i++) {
    int port = ctx->port_base + want[i]->port;
    if (port < 1 || port > 65535) {
      snprintf(err, errlen, "lab server %s: port %d is out of range (lab port base %d)",
               want[i]->module->name, port, ctx->port_base);
      return NULL;
    }
    for (size_t j = 0; j < i; j++)
      if (want[j]->port == want[i]->port) {
        snprintf(err, errlen, "lab servers %s and %s both want port %d", want[j]->module->name,
                 want[i]->module->name, port);
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
    const struct lab_module *m = want[i]->module;
    srv->m = m;
    srv->row = want[i];
    srv->port = ctx->port_base + want[i]->port;
    /* "lab-smtp", "lab-smtps", "lab-submission": one protocol a row. */
    snprintf(lab_protocol_names[i], sizeof lab_protocol_names[i], "lab-%s", want[i]->name);
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
    log_info("lab server %s%s listening on %s:%d", m->name,
             lab_service_is_tls(want[i]) ? " (TLS)" : "", ctx->lab_addr, srv->port);
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
