/* labpriv.h -- what the lab framework's own files share; modules never include it.
 *
 * The framework is one connection core and what hangs off it, one file a
 * job (docs/architecture.md has the map):
 *   lab.c          the core: accept, line splitting, output, TLS, idle
 *                  timeout, the module API and the command table lookup
 *   labrec.c       own-client recording of the control conversation and
 *                  of each data connection
 *   labchan.c      FTP data channels, whatever the backend: their state
 *                  machine, PROT P, the passive-port caps
 *   labmem.c       the memory backend (unit tests, fuzzers)
 *   labsock.c      the socket backend: listeners from the lab_services
 *                  rows, control connections, reaping
 *   labchansock.c  the socket backend's data channels: passive listeners,
 *                  accepting and verifying, active connects
 * Everything here runs on the loop thread.
 */
#ifndef PORTLAB_LABPRIV_H
#define PORTLAB_LABPRIV_H

#include <libwebsockets.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"
#include "lab.h"
#include "labrec.h"
#include "portlab_limits.h"

struct tlsmem;

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
  /* The command row whose check or run is running (lab_cmd_current). */
  const struct lab_cmd *cmd;
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
  struct labrec_stream rec; /* the control conversation */
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
  int service_port; /* the well-known port dialled */
  /* The lab_services row of that port, NULL for a module outside the
   * table (tests): its mode says implicit TLS and the transcript's mode. */
  const struct lab_service *service;
  struct tlsmem *tls; /* NULL: cleartext */
  size_t out_plain;   /* head bytes of out that are cleartext */
  int tls_discard;    /* STARTTLS: drop the rest of the current input */
  int tls_noted;      /* the handshake summary is recorded */
  int data_protect;   /* PROT P: data channels run TLS */
  struct tlsmem *data_tls;
  int data_tls_closed; /* our close_notify is queued on the data channel */
  /* An own client's data connection is a session of its own, linked to
   * rec.session and named for the command that used it (data_label). */
  struct labrec_stream drec;
  int data_port; /* passive: our port; active: the client's */
  char data_label[128];
};

/* --- the core (lab.c) ------------------------------------------------------ */

int64_t lab_now_us(clockid_t clk);
/* Allocates a connection in its initial state, dialled at service_port
 * (row: its lab_services row, or NULL); the backend attaches. */
struct lab_conn *lab_conn_new(const struct lab_module *m, const struct lab_backend *be,
                              struct lab_ctx *ctx, const char *peer, int service_port,
                              const struct lab_service *row);
/* Runs on_close once and drops the data channel; the struct stays valid
 * until lab_conn_free() so late backend events find a closed connection. */
void lab_conn_finish(struct lab_conn *c);
void lab_conn_free(struct lab_conn *c); /* NULL is a no-op */
/* Starts TLS at once on an implicit TLS row, then runs on_accept. */
void lab_conn_accept(struct lab_conn *c);
/* Bytes from the client's socket (record: the own-client recording sees
 * them; the memory backend passes 0). */
void lab_conn_wire_input(struct lab_conn *c, const unsigned char *p, size_t n, int record);
void lab_conn_timeout(struct lab_conn *c);
/* 1 for the addresses relayed connections come from (see lab.c). */
int lab_addr_is_local(const char *addr, const struct lab_ctx *ctx);

/* --- own-client recording (labrec.c) ------------------------------------------ */

void lab_rec_note(struct lab_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decides once whether the connection is the relay's to record; final:
 * the relay has had its turn for sure. 1 once decided. */
int lab_rec_decide(struct lab_conn *c, int final);
/* Bytes as they crossed the socket: the client's (dir C2S) or what was
 * written to it (S2C), or under TLS the records (DB_DIR_WIRE_C2S, _S2C).
 * They count in bytes_up/down. */
void lab_rec_bytes(struct lab_conn *c, int dir, const void *p, size_t n);
/* The plaintext of a TLS connection (C2S, S2C): recorded, not counted. */
void lab_rec_plain(struct lab_conn *c, int dir, const void *p, size_t n);
/* The session became TLS ("tls" or "starttls"); its handshake's keys. */
void lab_rec_tls(struct lab_conn *c, const char *how);
void lab_rec_keys(struct lab_conn *c);
void lab_rec_end(struct lab_conn *c);
/* An own client's data connection: its own session, its bytes, its end
 * ("remote_closed", "client_closed" or "transfer_aborted"). */
void lab_drec_start(struct lab_conn *c);
void lab_drec_bytes(struct lab_conn *c, int dir, const void *p, size_t n);
void lab_drec_end(struct lab_conn *c, const char *reason);

/* --- data channels (labchan.c), called by the backends ------------------------ */

void lab_pasv_release(struct lab_conn *c); /* the passive port is given back */
void lab_data_connected(struct lab_conn *c, int ok);
void lab_data_input(struct lab_conn *c, const unsigned char *p, size_t n);
void lab_data_peer_closed(struct lab_conn *c);
void lab_data_drained(struct lab_conn *c); /* all queued data is written */

/* --- the socket backend (labsock.c, labchansock.c) ------------------------- */

#define LAB_DATA_PROTOCOL "lab-data"

struct lab_sock;

/* One listening port: a lab_services row. */
struct lab_server {
  const struct lab_module *m;
  const struct lab_service *row;
  struct lws_vhost *vh;
  int port;
  unsigned conns;
  struct lab_sock *socks; /* live connections */
};

struct lab_servers {
  struct lws_context *lws;
  struct lab_ctx *ctx;
  size_t n;
  struct lab_server srv[LIM_LAB_LISTENERS];
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
  } pending[LIM_LAB_DATA_PENDING];
  lws_sorted_usec_list_t verify_sul;
  lws_sorted_usec_list_t rec_sul; /* own-client recording: the relay had its turn */
};

/* The running servers, NULL when none: callbacks that arrive after
 * lab_servers_stop() find nothing to touch. */
extern struct lab_servers *lab_active;
extern const struct lws_protocols lab_data_protocols[];

struct lab_sock *lab_sock_of(struct lab_conn *c);
/* Numeric text of a socket address; IPv4-mapped IPv6 as plain IPv4. */
void lab_addr_text(const struct sockaddr_storage *ss, char *out, size_t outlen);
/* Writes the head of q, at most LIM_LAB_CHUNK bytes, and asks for one more
 * writable callback: even after the last chunk, as lws may hold part of
 * it and only a callback with nothing left may end the connection.
 * Returns the bytes written (the caller records and consumes them), 0 if
 * q is empty, -1 if the write failed. */
int lab_sock_write(struct lws *wsi, const struct buf *q);
void lab_sock_drop_pending(struct lab_sock *k); /* closes held passive connections */
/* The data side of the backend (labchansock.c). */
void lab_sock_data_flush(struct lab_conn *c);
int lab_sock_data_listen(struct lab_conn *c, int *port);
int lab_sock_data_connect(struct lab_conn *c, const char *addr, int port);
void lab_sock_data_drop(struct lab_conn *c);

#endif
