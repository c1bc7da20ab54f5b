/* httpwire.h -- the HTTP lab's sockets: every byte between a client and libmicrohttpd. */
#ifndef PORTLAB_HTTPWIRE_H
#define PORTLAB_HTTPWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

struct MHD_Daemon;
struct MHD_UpgradeResponseHandle;
struct ssl_ctx_st;
struct lws_context;
struct httpwire;

/* What the wire thread hands to the loop thread, oldest first. */
enum httpwire_kind {
  HTTPWIRE_OPEN,  /* data: the client's numeric address; port: its port */
  HTTPWIRE_C2S,   /* data: bytes the client sent */
  HTTPWIRE_S2C,   /* data: bytes the server sent */
  HTTPWIRE_LOGIN, /* data: the lab account whose valid credentials it sent */
  HTTPWIRE_CLOSE, /* by_server: the server ended the connection */
  /* HTTPS only: the C2S and S2C above are then the plaintext inside. */
  HTTPWIRE_WIRE_C2S, /* data: TLS records the client sent */
  HTTPWIRE_WIRE_S2C, /* data: TLS records sent to the client */
  HTTPWIRE_NOTE,     /* data: text for the transcript (the handshake, a TLS error) */
  HTTPWIRE_KEYS      /* data: new key log lines (SSLKEYLOGFILE format) */
};

struct httpwire_rec {
  STAILQ_ENTRY(httpwire_rec) next;
  uint64_t conn;   /* the connection, numbered from 1 */
  int kind;        /* enum httpwire_kind */
  int port;        /* HTTPWIRE_OPEN */
  int by_server;   /* HTTPWIRE_CLOSE */
  int64_t mono_us; /* CLOCK_MONOTONIC when it happened */
  int64_t wall_us; /* CLOCK_REALTIME when it happened */
  size_t len;      /* bytes in data (text is also NUL-terminated) */
  unsigned char data[];
};
/* A queue of them, oldest first. */
STAILQ_HEAD(httpwire_recs, httpwire_rec);

/* Tells a relay session from another client: 1 if sa is this host's own
 * address and port a relay session's (the relay records those itself). */
typedef int (*httpwire_relayed_fn)(void *cls, const struct sockaddr *sa);

struct httpwire_config {
  const struct sockaddr *bind; /* the lab address and port */
  socklen_t bind_len;
  struct lws_context *lws; /* woken with lws_cancel_service() when there is news */
  int record;              /* 0: hand nothing to the loop (--no-record) */
  httpwire_relayed_fn relayed;
  void *relayed_cls;
  /* HTTPS: the client's side runs TLS, terminated here (tlsmem, server
   * role), and MHD gets the plaintext as on the plain port. The wire
   * thread is the context's only user (tlsmem_new sets its key log
   * callback); the caller frees it after httpwire_free(). NULL: plain. */
  struct ssl_ctx_st *tls_ctx;
};

/* Binds and listens (NULL with a reason in err: a port in use says so). */
struct httpwire *httpwire_listen(const struct httpwire_config *cfg, char *err, size_t errlen);
/* Starts the thread that hands each connection to daemon (started with
 * MHD_USE_NO_LISTEN_SOCKET) and relays its bytes. 0 or -1. */
int httpwire_run(struct httpwire *w, struct MHD_Daemon *daemon);
/* Stops the thread and closes every connection (upgraded ones through
 * MHD), queueing their ends for httpwire_take(). Before MHD_stop_daemon.
 * NULL is a no-op. */
void httpwire_stop(struct httpwire *w);
/* Stops if running, frees what the loop has not taken. NULL is a no-op. */
void httpwire_free(struct httpwire *w);

/* From the MHD thread: the connection on MHD's socket fd sent valid
 * credentials of that lab account. */
void httpwire_login(struct httpwire *w, int mhd_fd, const char *name);
/* From the MHD thread's upgrade handler: the connection on MHD's socket
 * fd is a WebSocket now; the wire thread runs the echo (wschat.c) on it
 * and closes it through urh. extra: bytes MHD read past the handshake. */
void httpwire_chat(struct httpwire *w, int mhd_fd, struct MHD_UpgradeResponseHandle *urh,
                   const char *extra, size_t n);

/* From the loop thread: moves everything queued into list (empty if
 * nothing was), which the caller empties with httpwire_rec_free. */
void httpwire_take(struct httpwire *w, struct httpwire_recs *list);
void httpwire_rec_free(struct httpwire_recs *list); /* frees every record; list is empty after */

#endif
