/* httpwire.c -- the HTTP lab's sockets: every byte between a client and libmicrohttpd.
 *
 * libmicrohttpd parses and answers, but it shows an application neither
 * the bytes a client sent nor the ones it wrote back, and the lab records
 * exactly those (issue 12). So the lab's port is ours: this file listens,
 * accepts, and gives MHD one end of a socketpair for each connection
 * (MHD_add_connection, with the client's real address so MHD's accept
 * policy and the lesson checks see the client). Its thread copies bytes
 * between the client's socket and the pair, and each chunk that crosses
 * is queued for the loop thread, which records it (httplab.c,
 * http_lab_drain). Nothing here touches SQLite or lws but
 * lws_cancel_service(), the one call lws allows from another thread
 * (resolver.c does the same).
 *
 * A connection is recorded unless it is a relay session (the relay
 * records those): a peer on this host whose port the relay registered,
 * looked up at the client's first byte, when the relay has registered it.
 *
 * A WebSocket (/chat) stays on the same path: after MHD's 101 the
 * upgrade handler gives MHD's end to this thread, which runs the echo
 * (wschat.c) on it, so the frames are recorded like any other bytes.
 *
 * HTTPS (lab:443) is the same path with TLS terminated here, by the lab's
 * TLS engine (tlsmem.c, as the TLS mail ports use it): the client's
 * socket carries TLS records, the pair carries the plaintext, so MHD,
 * the recording, the budgets and /chat work as on the plain port. Both
 * layers are queued (the records as HTTPWIRE_WIRE_*), with the handshake
 * as a note and its key log, so a transcript reads as HTTP and its pcap
 * decrypts with the keys. A failed handshake (plain HTTP, garbage) sends
 * the alert, ends that connection and nothing else. Per connection the
 * engine holds at most one chunk of each direction: ciphertext is read
 * from the client only when the plaintext before it has gone to MHD, and
 * MHD is read only when the records before have gone to the client.
 *
 * Bounds: LIM_HTTP_CONNS connections, each with four LIM_LAB_CHUNK
 * buffers; a WebSocket silent for LIM_HTTP_TIMEOUT_SECS is closed, as
 * MHD closes an idle request; a connection whose queued, unrecorded bytes pass
 * LIM_LAB_OUT_HIGH is not read until the loop has taken them below
 * LIM_LAB_OUT_LOW, so a slow loop slows the client, never grows memory.
 */
#include "httpwire.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "portlab_limits.h"
#include "tlsmem.h"
#include "wschat.h"

enum wire_rec_state { WIRE_REC_UNDECIDED = 0, WIRE_REC_ON, WIRE_REC_OFF };

struct wire_pipe { /* bytes read from one side, not yet written to the other */
  unsigned char b[LIM_LAB_CHUNK];
  size_t len;
};

struct wire_conn {
  struct wire_conn *next;
  uint64_t id;
  int cfd;    /* the client's socket */
  int mfd;    /* our end of the pair */
  int mhd_fd; /* MHD's end: MHD owns it (closes it) */
  struct sockaddr_storage peer;
  socklen_t peer_len;
  int c_eof, m_eof, m_shut; /* client read EOF, MHD's end read EOF, SHUT_WR sent to MHD */
  int m_nowrite;            /* MHD's end takes no more (it answered early and closed) */
  int dead;                 /* reap it */
  int by_server;
  struct wire_pipe to_mhd, to_client;
  enum wire_rec_state rec;
  size_t queued; /* queued for the loop, not yet taken (under the lock) */
  int paused;    /* queued passed LIM_LAB_OUT_HIGH */
  /* /chat after the upgrade: MHD's end is ours to read and write. */
  struct MHD_UpgradeResponseHandle *urh;
  struct wschat ws;
  struct wire_pipe chat_in, chat_out;
  int chat_eof;
  int64_t chat_seen_us; /* the client's last frame bytes (CLOCK_MONOTONIC) */
  /* HTTPS: the engine between cfd (records) and the pair (plaintext). */
  struct tlsmem *tls;
  int cfd_eof;      /* the client's socket read EOF (c_eof: nothing more for MHD) */
  int tls_more;     /* to_mhd filled up: the engine may hold more plaintext */
  int tls_noted;    /* the handshake note is queued */
  int tls_closed;   /* our close_notify is queued */
  int tls_failed;   /* the handshake or a record failed: the alert goes out, then the end */
  size_t keys_sent; /* key log bytes queued so far */
};

struct wire_chat_req { /* an upgrade handed over by the MHD thread */
  struct wire_chat_req *next;
  int mhd_fd;
  struct MHD_UpgradeResponseHandle *urh;
  size_t n;
  unsigned char extra[];
};

struct httpwire {
  int lfd;
  int wake; /* eventfd */
  struct MHD_Daemon *daemon;
  struct lws_context *lws;
  int record;
  httpwire_relayed_fn relayed;
  void *relayed_cls;
  SSL_CTX *tls_ctx; /* HTTPS; NULL: plain */
  pthread_t thread;
  int running;
  pthread_mutex_t lock; /* guards everything below */
  int stopping;
  struct wire_conn *conns;
  unsigned nconns;
  uint64_t next_id;
  struct httpwire_recs recs;
  int woken; /* lws_cancel_service() sent, the loop has not taken yet */
  struct wire_chat_req *chats;
};

static int64_t wire_now(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void wire_poke(struct httpwire *w) {
  uint64_t one = 1;
  ssize_t rc = write(w->wake, &one, sizeof one);
  (void)rc; /* a full counter still wakes the thread */
}

static int wire_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

/* --- the queue to the loop -------------------------------------------------------- */

/* Under w->lock. */
static void wire_push_locked(struct httpwire *w, struct wire_conn *c, int kind, const void *p,
                             size_t n) {
  struct httpwire_rec *r = malloc(sizeof *r + n + 1);
  if (!r) {
    log_warn("http lab: out of memory recording connection %llu", (unsigned long long)c->id);
    return;
  }
  memset(r, 0, sizeof *r);
  r->conn = c->id;
  r->kind = kind;
  r->mono_us = wire_now(CLOCK_MONOTONIC);
  r->wall_us = wire_now(CLOCK_REALTIME);
  r->len = n;
  if (n) memcpy(r->data, p, n);
  r->data[n] = '\0';
  if (kind == HTTPWIRE_OPEN) {
    const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
    r->port = sa->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)sa)->sin6_port)
                                        : ntohs(((const struct sockaddr_in *)sa)->sin_port);
  }
  if (kind == HTTPWIRE_CLOSE) r->by_server = c->by_server;
  STAILQ_INSERT_TAIL(&w->recs, r, next);
  c->queued += n;
  if (c->queued > LIM_LAB_OUT_HIGH && !c->paused) {
    c->paused = 1;
    log_debug("http lab: connection %llu waits for the recorder (%zu bytes queued)",
              (unsigned long long)c->id, c->queued);
  }
  if (!w->woken) {
    w->woken = 1;
    lws_cancel_service(w->lws);
  }
}

static void wire_push(struct httpwire *w, struct wire_conn *c, int kind, const void *p, size_t n) {
  pthread_mutex_lock(&w->lock);
  wire_push_locked(w, c, kind, p, n);
  pthread_mutex_unlock(&w->lock);
}

/* The peer's numeric address, IPv4-mapped IPv6 shown as IPv4. */
static void wire_peer_text(const struct wire_conn *c, char *out, size_t outlen) {
  snprintf(out, outlen, "?");
  getnameinfo((const struct sockaddr *)&c->peer, c->peer_len, out, (socklen_t)outlen, NULL, 0,
              NI_NUMERICHOST);
  if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
    memmove(out, out + 7, strlen(out + 7) + 1);
}

/* The client's first byte: the relay has registered its sessions by now. */
static void wire_decide(struct httpwire *w, struct wire_conn *c) {
  char text[64];
  if (c->rec != WIRE_REC_UNDECIDED) return;
  int off = !w->record || (w->relayed && w->relayed(w->relayed_cls, (struct sockaddr *)&c->peer));
  wire_peer_text(c, text, sizeof text);
  /* Under the lock: httpwire_login() reads c->rec on the MHD thread. */
  pthread_mutex_lock(&w->lock);
  c->rec = off ? WIRE_REC_OFF : WIRE_REC_ON;
  if (!off) wire_push_locked(w, c, HTTPWIRE_OPEN, text, strlen(text));
  pthread_mutex_unlock(&w->lock);
}

static void wire_bytes(struct httpwire *w, struct wire_conn *c, int kind, const void *p, size_t n) {
  if (kind == HTTPWIRE_C2S || kind == HTTPWIRE_WIRE_C2S) wire_decide(w, c);
  if (c->rec == WIRE_REC_ON) wire_push(w, c, kind, p, n);
}

static void wire_note(struct httpwire *w, struct wire_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void wire_note(struct httpwire *w, struct wire_conn *c, const char *fmt, ...) {
  char text[256];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (c->rec == WIRE_REC_ON) wire_push(w, c, HTTPWIRE_NOTE, text, strlen(text));
}

void httpwire_take(struct httpwire *w, struct httpwire_recs *list) {
  struct httpwire_rec *r;
  int poke = 0;
  STAILQ_INIT(list);
  if (!w) return;
  pthread_mutex_lock(&w->lock);
  STAILQ_CONCAT(list, &w->recs);
  w->woken = 0;
  STAILQ_FOREACH(r, list, next) {
    for (struct wire_conn *c = w->conns; c; c = c->next)
      if (c->id == r->conn) {
        c->queued -= r->len < c->queued ? r->len : c->queued;
        break;
      }
  }
  for (struct wire_conn *c = w->conns; c; c = c->next)
    if (c->paused && c->queued < LIM_LAB_OUT_LOW) {
      c->paused = 0;
      poke = 1;
    }
  pthread_mutex_unlock(&w->lock);
  if (poke) wire_poke(w);
}

void httpwire_rec_free(struct httpwire_recs *list) {
  struct httpwire_rec *r;
  while ((r = STAILQ_FIRST(list))) {
    STAILQ_REMOVE_HEAD(list, next);
    free(r);
  }
}

/* --- from the MHD thread ------------------------------------------------------------ */

void httpwire_login(struct httpwire *w, int mhd_fd, const char *name) {
  if (!w || !name || !name[0]) return;
  pthread_mutex_lock(&w->lock);
  for (struct wire_conn *c = w->conns; c; c = c->next)
    if (c->mhd_fd == mhd_fd) { /* the newest first: an fd number MHD closed may come back */
      if (c->rec == WIRE_REC_ON) wire_push_locked(w, c, HTTPWIRE_LOGIN, name, strlen(name));
      break;
    }
  pthread_mutex_unlock(&w->lock);
}

void httpwire_chat(struct httpwire *w, int mhd_fd, struct MHD_UpgradeResponseHandle *urh,
                   const char *extra, size_t n) {
  struct wire_chat_req *q = malloc(sizeof *q + n);
  if (!q) {
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    return;
  }
  q->mhd_fd = mhd_fd;
  q->urh = urh;
  q->n = n;
  if (n) memcpy(q->extra, extra, n);
  pthread_mutex_lock(&w->lock);
  q->next = w->chats;
  w->chats = q;
  pthread_mutex_unlock(&w->lock);
  wire_poke(w);
}

/* --- the thread ------------------------------------------------------------------------ */

static void wire_accept(struct httpwire *w) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int sp[2] = {-1, -1};
  int fd = accept(w->lfd, (struct sockaddr *)&ss, &len);
  struct wire_conn *c;

  if (fd < 0) return;
  if (wire_nonblock(fd) != 0) {
    close(fd);
    return;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0 || wire_nonblock(sp[0]) ||
      wire_nonblock(sp[1]) || !(c = calloc(1, sizeof *c))) {
    log_warn("http lab: cannot take a connection: %s", strerror(errno));
    close(fd);
    if (sp[0] >= 0) close(sp[0]);
    if (sp[1] >= 0) close(sp[1]);
    return;
  }
  c->cfd = fd;
  c->mfd = sp[0];
  c->mhd_fd = sp[1];
  c->peer = ss;
  c->peer_len = len;
  if (w->tls_ctx && !(c->tls = tlsmem_new(w->tls_ctx, TLSMEM_SERVER, NULL))) {
    log_warn("http lab: cannot start TLS for a connection: out of memory");
    close(fd);
    close(sp[0]);
    close(sp[1]);
    free(c);
    return;
  }
  pthread_mutex_lock(&w->lock);
  c->id = ++w->next_id;
  c->next = w->conns;
  w->conns = c;
  w->nconns++;
  pthread_mutex_unlock(&w->lock);
  /* MHD runs its accept policy (the per-address cap) and its connection
   * limit here; refused, it closes its end, and ours reads EOF. */
  if (MHD_add_connection(w->daemon, sp[1], (struct sockaddr *)&ss, len) != MHD_YES) {
    c->m_eof = 1;
    c->by_server = 1;
  }
}

/* Reads what fits from fd into p. 1 if something came, 0 if nothing now,
 * -1 on EOF or an error. */
static int wire_read(int fd, struct wire_pipe *p) {
  if (p->len == sizeof p->b) return 0;
  ssize_t n = read(fd, p->b + p->len, sizeof p->b - p->len);
  if (n > 0) {
    p->len += (size_t)n;
    return 1;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
  return -1;
}

/* Writes what it can of p to fd. -1 on an error. */
static int wire_write(int fd, struct wire_pipe *p) {
  if (!p->len) return 0;
  ssize_t n = send(fd, p->b, p->len, MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
  memmove(p->b, p->b + n, p->len - (size_t)n);
  p->len -= (size_t)n;
  return 0;
}

/* /chat: MHD's end is ours; read frames, write the echo. */
static void wire_chat_step(struct wire_conn *c) {
  int64_t now = wire_now(CLOCK_MONOTONIC);
  if (!c->chat_eof && !c->ws.done) {
    int rc = wire_read(c->mhd_fd, &c->chat_in);
    if (rc < 0) c->chat_eof = 1;
    if (rc > 0 || !c->chat_seen_us) c->chat_seen_us = now;
  }
  /* MHD's connection timeout ends with the upgrade; a WebSocket that
   * stays silent as long is closed the same way. */
  if (now - c->chat_seen_us > (int64_t)LIM_HTTP_TIMEOUT_SECS * 1000000) c->chat_eof = 1;
  if (c->chat_in.len && !c->ws.done) {
    size_t used = wschat_feed(&c->ws, c->chat_in.b, c->chat_in.len, c->chat_out.b,
                              sizeof c->chat_out.b, &c->chat_out.len);
    memmove(c->chat_in.b, c->chat_in.b + used, c->chat_in.len - used);
    c->chat_in.len -= used;
  }
  if (wire_write(c->mhd_fd, &c->chat_out) < 0) c->chat_eof = 1;
  /* The echo said its close (or the client left): MHD closes its end,
   * and ours then reads EOF like any ended connection. */
  if ((c->ws.done && !c->chat_out.len) || (c->chat_eof && !c->ws.done)) {
    MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
    c->urh = NULL;
  }
}

/* --- HTTPS: TLS between the client's socket and the pair ------------------------------ */

/* The engine's records go into to_client as far as it has room (and are
 * queued as the wire layer). */
static void wire_tls_out(struct httpwire *w, struct wire_conn *c) {
  struct wire_pipe *p = &c->to_client;
  size_t n;

  while (p->len < sizeof p->b &&
         (n = tlsmem_take_wire(c->tls, p->b + p->len, sizeof p->b - p->len)) > 0) {
    wire_bytes(w, c, HTTPWIRE_WIRE_S2C, p->b + p->len, n);
    p->len += n;
  }
}

/* The handshake or a record failed: the alert goes out, MHD hears EOF
 * (and is read no more), the connection ends; the lab goes on. */
static void wire_tls_fail(struct httpwire *w, struct wire_conn *c) {
  char peer[64];

  wire_peer_text(c, peer, sizeof peer);
  log_warn("http lab %s: TLS: %s; closing", peer, tlsmem_error(c->tls));
  wire_note(w, c, "TLS: %s", tlsmem_error(c->tls));
  c->tls_failed = 1;
  c->c_eof = 1;
  c->tls_more = 0;
  c->to_mhd.len = 0;
  c->m_nowrite = 1;
  if (!c->m_shut) shutdown(c->mfd, SHUT_RDWR);
  c->m_shut = 1;
}

/* The handshake's note once it is done, and key log lines as they come. */
static void wire_tls_news(struct httpwire *w, struct wire_conn *c) {
  char keys[LIM_TLS_KEYLOG_BYTES];
  size_t n;

  if (!tlsmem_handshake_done(c->tls)) return;
  if (!c->tls_noted) {
    c->tls_noted = 1;
    wire_note(w, c, "TLS handshake done: %s, %s", tlsmem_version(c->tls), tlsmem_cipher(c->tls));
  }
  n = tlsmem_keylog(c->tls, keys, sizeof keys);
  if (n > c->keys_sent) {
    if (c->rec == WIRE_REC_ON)
      wire_push(w, c, HTTPWIRE_KEYS, keys + c->keys_sent, n - c->keys_sent);
    c->keys_sent = n;
  }
}

/* Plaintext the engine holds goes into to_mhd (queued as the client's
 * bytes). Leaves tls_more set when to_mhd filled up before the engine ran dry. */
static void wire_tls_drain(struct httpwire *w, struct wire_conn *c) {
  struct wire_pipe *p = &c->to_mhd;

  c->tls_more = 0;
  while (!c->c_eof) {
    if (p->len == sizeof p->b) {
      c->tls_more = 1;
      return;
    }
    ssize_t r = tlsmem_read(c->tls, p->b + p->len, sizeof p->b - p->len);
    if (r > 0) {
      wire_bytes(w, c, HTTPWIRE_C2S, p->b + p->len, (size_t)r);
      p->len += (size_t)r;
      continue;
    }
    if (r < 0 && tlsmem_peer_closed(c->tls)) {
      wire_note(w, c, "the client ended TLS (close_notify)");
      c->c_eof = 1;
    } else if (r < 0) {
      wire_tls_fail(w, c);
    }
    return;
  }
}

/* Records from the client, when the engine has handed on all it had. */
static void wire_tls_in(struct httpwire *w, struct wire_conn *c) {
  unsigned char b[LIM_LAB_CHUNK];
  ssize_t n;

  if (c->cfd_eof || c->c_eof || c->tls_more || c->to_mhd.len == sizeof c->to_mhd.b) return;
  n = read(c->cfd, b, sizeof b);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    c->cfd_eof = 1;
    return;
  }
  wire_bytes(w, c, HTTPWIRE_WIRE_C2S, b, (size_t)n);
  if (tlsmem_feed_wire(c->tls, b, (size_t)n) < 0) {
    wire_tls_fail(w, c);
    return;
  }
  wire_tls_news(w, c);
}

/* MHD's plaintext into the engine, when the records before it have gone
 * to to_client. After a failure it is read and dropped until EOF. */
static void wire_tls_from_mhd(struct httpwire *w, struct wire_conn *c) {
  unsigned char b[LIM_LAB_CHUNK];
  ssize_t n;

  if (c->m_eof || tlsmem_wire_pending(c->tls)) return;
  n = read(c->mfd, b, sizeof b);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    c->m_eof = 1;
    return;
  }
  if (c->tls_failed) return;
  wire_bytes(w, c, HTTPWIRE_S2C, b, (size_t)n);
  if (tlsmem_write(c->tls, b, (size_t)n) != 0) wire_tls_fail(w, c);
}

static void wire_tls_step(struct httpwire *w, struct wire_conn *c, int paused) {
  if (!paused) {
    wire_tls_in(w, c);
    wire_tls_drain(w, c);
  }
  if (!c->m_nowrite && wire_write(c->mfd, &c->to_mhd) < 0) c->m_nowrite = 1;
  if (c->m_nowrite) c->to_mhd.len = 0;
  if (!paused) wire_tls_drain(w, c); /* into the room just made */
  if (c->cfd_eof && !c->tls_more) c->c_eof = 1;
  if (c->c_eof && !c->to_mhd.len && !c->m_shut) {
    shutdown(c->mfd, SHUT_WR);
    c->m_shut = 1;
  }
  if (c->urh) wire_chat_step(c);
  if (!paused) wire_tls_from_mhd(w, c);
  /* MHD ended the connection: our close_notify follows its last bytes. */
  if (c->m_eof && !c->tls_closed && !c->tls_failed) {
    tlsmem_close(c->tls);
    c->tls_closed = 1;
  }
  wire_tls_out(w, c);
  if (wire_write(c->cfd, &c->to_client) < 0) {
    c->dead = 1; /* the client is gone */
    return;
  }
  wire_tls_out(w, c);
  if (c->m_eof && !c->to_client.len && !tlsmem_wire_pending(c->tls)) {
    c->by_server = c->tls_failed || !c->c_eof;
    c->dead = 1;
  }
}

static void wire_step(struct httpwire *w, struct wire_conn *c) {
  int paused;
  pthread_mutex_lock(&w->lock);
  paused = c->paused;
  pthread_mutex_unlock(&w->lock);

  if (c->tls) {
    wire_tls_step(w, c, paused);
    return;
  }

  if (!paused && !c->c_eof) {
    size_t before = c->to_mhd.len;
    int rc = wire_read(c->cfd, &c->to_mhd);
    if (rc > 0) wire_bytes(w, c, HTTPWIRE_C2S, c->to_mhd.b + before, c->to_mhd.len - before);
    if (rc < 0) c->c_eof = 1;
  }
  /* MHD may answer before it read everything (a 415 or 413 to a POST) and
   * close: the rest of the request goes nowhere, but its answer is still
   * to be read and passed on. */
  if (!c->m_nowrite && wire_write(c->mfd, &c->to_mhd) < 0) c->m_nowrite = 1;
  if (c->m_nowrite) c->to_mhd.len = 0;
  if (c->c_eof && !c->to_mhd.len && !c->m_shut) {
    shutdown(c->mfd, SHUT_WR);
    c->m_shut = 1;
  }
  if (c->urh) wire_chat_step(c);
  if (!paused && !c->m_eof) {
    size_t before = c->to_client.len;
    int rc = wire_read(c->mfd, &c->to_client);
    if (rc > 0) wire_bytes(w, c, HTTPWIRE_S2C, c->to_client.b + before, c->to_client.len - before);
    if (rc < 0) c->m_eof = 1;
  }
  if (wire_write(c->cfd, &c->to_client) < 0) {
    c->dead = 1; /* the client is gone */
    return;
  }
  if (c->m_eof && !c->to_client.len) {
    c->by_server = !c->c_eof;
    c->dead = 1;
  }
}

static void wire_free_conn(struct httpwire *w, struct wire_conn *c) {
  if (c->urh) MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
  if (c->rec == WIRE_REC_ON) wire_push(w, c, HTTPWIRE_CLOSE, NULL, 0);
  tlsmem_free(c->tls);
  close(c->cfd);
  close(c->mfd);
  free(c);
}

static void wire_reap(struct httpwire *w) {
  struct wire_conn **pp = &w->conns, *dead = NULL;
  pthread_mutex_lock(&w->lock);
  while (*pp) {
    struct wire_conn *c = *pp;
    if (c->dead) {
      *pp = c->next;
      c->next = dead;
      dead = c;
      w->nconns--;
    } else {
      pp = &c->next;
    }
  }
  pthread_mutex_unlock(&w->lock);
  while (dead) {
    struct wire_conn *next = dead->next;
    wire_free_conn(w, dead);
    dead = next;
  }
}

/* Upgrades the MHD thread handed over, matched to their connections. */
static void wire_take_chats(struct httpwire *w) {
  struct wire_chat_req *q;
  pthread_mutex_lock(&w->lock);
  q = w->chats;
  w->chats = NULL;
  pthread_mutex_unlock(&w->lock);
  while (q) {
    struct wire_chat_req *next = q->next;
    struct wire_conn *c = w->conns;
    while (c && c->mhd_fd != q->mhd_fd) c = c->next;
    if (c && !c->urh) {
      c->urh = q->urh;
      memcpy(c->chat_in.b, q->extra, q->n < sizeof c->chat_in.b ? q->n : sizeof c->chat_in.b);
      c->chat_in.len = q->n < sizeof c->chat_in.b ? q->n : sizeof c->chat_in.b;
      wire_chat_step(c);
    } else {
      MHD_upgrade_action(q->urh, MHD_UPGRADE_ACTION_CLOSE);
    }
    free(q);
    q = next;
  }
}

static void *wire_thread(void *arg) {
  struct httpwire *w = arg;
  struct pollfd *pfd = calloc(2 + 3 * LIM_HTTP_CONNS, sizeof *pfd);
  if (!pfd) return NULL;
  for (;;) {
    size_t n = 0;
    /* Under the lock: the loop thread resumes paused connections. */
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
      pthread_mutex_unlock(&w->lock);
      break;
    }
    int chats = 0;
    pfd[n++] = (struct pollfd){.fd = w->wake, .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = w->lfd, .events = w->nconns < LIM_HTTP_CONNS ? POLLIN : 0};
    for (struct wire_conn *c = w->conns; c; c = c->next) {
      int paused = c->paused;
      /* HTTPS: the client is read when the engine has no plaintext left
       * over, MHD when the engine has no records left over. */
      int c_in = !c->c_eof && !c->cfd_eof && !c->tls_more && c->to_mhd.len < sizeof c->to_mhd.b;
      int m_in = !c->m_eof &&
                 (c->tls ? !tlsmem_wire_pending(c->tls) : c->to_client.len < sizeof c->to_client.b);
      pfd[n++] = (struct pollfd){
          .fd = c->cfd,
          .events = (short)((c_in && !paused ? POLLIN : 0) | (c->to_client.len ? POLLOUT : 0))};
      pfd[n++] = (struct pollfd){
          .fd = c->mfd,
          .events = (short)((m_in && !paused ? POLLIN : 0) | (c->to_mhd.len ? POLLOUT : 0))};
      chats += c->urh != NULL;
      pfd[n++] = (struct pollfd){.fd = c->urh ? c->mhd_fd : -1,
                                 .events = (short)((c->chat_out.len ? POLLOUT : 0) | POLLIN)};
    }
    pthread_mutex_unlock(&w->lock);
    /* With a WebSocket open, wake each second to check its idle time. */
    if (poll(pfd, n, chats ? 1000 : -1) < 0 && errno != EINTR) {
      log_error("http lab: poll: %s", strerror(errno));
      break;
    }
    if (pfd[0].revents) {
      uint64_t v;
      ssize_t rc = read(w->wake, &v, sizeof v);
      (void)rc;
      wire_take_chats(w);
    }
    /* Every connection takes a step each turn: cheap at this size, and
     * nothing waits on a readiness bit a step already used up. */
    for (struct wire_conn *c = w->conns; c; c = c->next) wire_step(w, c);
    wire_reap(w);
    if (pfd[1].revents & POLLIN) wire_accept(w);
  }
  free(pfd);
  return NULL;
}

/* --- start and stop ------------------------------------------------------------------ */

struct httpwire *httpwire_listen(const struct httpwire_config *cfg, char *err, size_t errlen) {
  struct httpwire *w = calloc(1, sizeof *w);
  int one = 1;

  if (!w) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  w->lfd = w->wake = -1;
  pthread_mutex_init(&w->lock, NULL);
  STAILQ_INIT(&w->recs);
  w->lws = cfg->lws;
  w->record = cfg->record;
  w->relayed = cfg->relayed;
  w->relayed_cls = cfg->relayed_cls;
  w->tls_ctx = cfg->tls_ctx;
  w->lfd = socket(cfg->bind->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (w->lfd < 0) goto fail;
  setsockopt(w->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (cfg->bind->sa_family == AF_INET6)
    setsockopt(w->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(w->lfd, cfg->bind, cfg->bind_len) != 0 || listen(w->lfd, 64) != 0) goto fail;
  w->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->wake < 0) goto fail;
  return w;

fail:
  snprintf(err, errlen, "%s", strerror(errno));
  httpwire_free(w);
  return NULL;
}

int httpwire_run(struct httpwire *w, struct MHD_Daemon *daemon) {
  w->daemon = daemon;
  if (pthread_create(&w->thread, NULL, wire_thread, w) != 0) return -1;
  w->running = 1;
  return 0;
}

void httpwire_stop(struct httpwire *w) {
  if (!w) return;
  if (w->running) {
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_mutex_unlock(&w->lock);
    wire_poke(w);
    pthread_join(w->thread, NULL);
    w->running = 0;
  }
  for (struct wire_conn *c = w->conns; c; c = c->next) c->dead = 1;
  wire_reap(w);
  wire_take_chats(w); /* no connection is left: each is closed through MHD */
}

void httpwire_free(struct httpwire *w) {
  if (!w) return;
  httpwire_stop(w);
  httpwire_rec_free(&w->recs);
  if (w->lfd >= 0) close(w->lfd);
  if (w->wake >= 0) close(w->wake);
  pthread_mutex_destroy(&w->lock);
  free(w);
}
