/* labchansock.c -- the socket backend's FTP data channels: passive ports, checks, connects.
 *
 * A passive port comes from the --ftp-pasv range on lab_bind and takes one
 * connection, only from the control connection's address and, through the
 * relay, only from the same student (labident says whose a relayed port
 * is; the relay may register just after we accept, so an unknown port is
 * looked up again for a short while). An active connect goes to the
 * address the module checked. Either must come up within
 * --ftp-data-timeout, or the port is given back.
 */
#define _GNU_SOURCE /* accept4 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "db.h"
#include "labident.h"
#include "labpriv.h"
#include "log.h"

/* Kills a data-side wsi later, from the event loop, with its back-pointer
 * cleared so none of its last callbacks can reach the connection. */
static void lab_sock_kill(struct lws **w) {
  if (!*w) return;
  lws_set_opaque_user_data(*w, NULL);
  lws_set_timeout(*w, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
  *w = NULL;
}

/* Hands fd to lws on the data-channel vhost, for k: a passive listener
 * (LWS_ADOPT_RAW_FILE_DESC, so lws does not treat it as a connection) or
 * a data connection (LWS_ADOPT_SOCKET). NULL if lws refused it. */
static struct lws *lab_data_watch(struct lab_sock *k, int fd, lws_adoption_type type) {
  lws_adopt_desc_t ad;

  memset(&ad, 0, sizeof ad);
  ad.vh = lab_active->data_vh;
  ad.type = type;
  if (type == LWS_ADOPT_SOCKET)
    ad.fd.sockfd = fd;
  else
    ad.fd.filefd = fd;
  ad.vh_prot_name = LAB_DATA_PROTOCOL;
  ad.opaque = k;
  return lws_adopt_descriptor_vhost_via_info(&ad);
}

void lab_sock_data_drop(struct lab_conn *c) {
  struct lab_sock *k = lab_sock_of(c);

  lab_sock_drop_pending(k);
  lws_sul_cancel(&k->data_sul);
  lab_sock_kill(&k->data_listen_wsi);
  lab_sock_kill(&k->data_wsi);
}

void lab_sock_data_flush(struct lab_conn *c) {
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

int lab_sock_data_listen(struct lab_conn *c, int *port) {
  struct lab_sock *k = lab_sock_of(c);
  struct lab_servers *ls = lab_active;
  int fd;

  if (!ls) return -1;
  fd = lab_pasv_socket(ls, port);
  if (fd < 0) {
    lab_warn(c, "no free passive port in %d-%d", ls->ctx->pasv_lo, ls->ctx->pasv_hi);
    return -1;
  }
  k->data_listen_wsi = lab_data_watch(k, fd, LWS_ADOPT_RAW_FILE_DESC);
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

int lab_sock_data_connect(struct lab_conn *c, const char *addr, int port) {
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

/* Makes fd the data connection: the listener's one connection. */
static void lab_data_adopt(struct lab_sock *k, int fd) {
  lab_sock_kill(&k->data_listen_wsi); /* one connection per listener */
  lws_sul_cancel(&k->data_sul);
  k->data_wsi = lab_data_watch(k, fd, LWS_ADOPT_SOCKET); /* closes fd on failure */
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

  for (int i = 0; i < LIM_LAB_DATA_PENDING; i++) {
    struct lab_pending *pd = &k->pending[i];
    int64_t who;
    /* "Nobody" is only sure once the relay had its turn to say otherwise. */
    int settled;
    if (pd->fd < 0) continue;
    who = labident_lookup(pd->port);
    settled = owner != 0 || pd->tries >= LIM_LAB_VERIFY_LOCAL_TRIES;
    if (who == owner && settled) {
      int fd = pd->fd;
      pd->fd = -1;
      lab_sock_drop_pending(k); /* the others lost: one connection per listener */
      lab_data_adopt(k, fd);
      return;
    }
    if (who == 0 && ++pd->tries <= LIM_LAB_VERIFY_TRIES) {
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
    lws_sul_schedule(lab_active->lws, 0, &k->verify_sul, lab_data_verify_again,
                     LIM_LAB_VERIFY_STEP_US);
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
  for (int i = 0; i < LIM_LAB_DATA_PENDING; i++) {
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
  lab_warn(k->c, "data connection refused: %d others are being checked", LIM_LAB_DATA_PENDING);
  close(fd);
  return 0;
}

static int lab_data_writeable(struct lab_sock *k, struct lws *wsi) {
  struct lab_conn *c = k->c;
  int w = lab_sock_write(wsi, &c->data_out);

  if (w < 0) return -1;
  if (w > 0) {
    if (!c->data_tls) lab_drec_bytes(c, DB_DIR_S2C, buf_head(&c->data_out), (size_t)w);
    buf_consume(&c->data_out, (size_t)w);
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

const struct lws_protocols lab_data_protocols[] = {
    {LAB_DATA_PROTOCOL, lab_data_callback, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};
