/* relay_int.h -- what relay.c (the browser's side of a session) and
 * relay_target.c (the target's side) share. Private to the two: nothing
 * outside server/relay*.c includes it. */
#ifndef PORTLAB_RELAY_INT_H
#define PORTLAB_RELAY_INT_H

#include <cJSON.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "auth.h"
#include "buf.h"
#include "db.h"
#include "portlab_limits.h"
#include "relay_tls.h"
#include "ring.h"

struct app;
struct resolver_result;
struct telnet;
struct usage_user;
struct watch_entry;
struct watch_session;
struct watcher;

enum relay_state { RS_IDLE = 0, RS_RESOLVING, RS_CONNECTING, RS_OPEN, RS_DONE };

struct ctl_msg {
  STAILQ_ENTRY(ctl_msg) next;
  size_t len;
  unsigned char data[]; /* LWS_PRE bytes, then the JSON text */
};

struct relay {
  struct relay *next;
  struct app *app;
  uint64_t key; /* survives the relay: resolver results find it by key */
  struct lws *ws, *tcp;
  enum relay_state state;
  struct db_user user;
  unsigned char login_hash[32]; /* SHA-256 of the cookie: logout ends the session */
  struct usage_user *usage;     /* the user's budgets and counters (usage.c) */
  unsigned char addr_key[16];   /* client address: IPv4 mapped, IPv6 cut to its /64 */
  int is_teacher;
  int counts_as_open; /* a failure now is a refused open: counted, not stored */
  int64_t session_id; /* 0 until the target passed the policy and a connect starts */
  char host[254];
  int port;
  int telnet_mode;
  int tls_mode;          /* "mode":"tls": TLS from the start, the relay as the client */
  struct relay_tls *tls; /* set once TLS starts (tls mode or starttls) */
  int wire_tls;          /* the target's bytes are TLS records from here on (set before
                          * the engine starts: its ClientHello may leave at once) */
  struct relay_tls_tail sent_tail, got_tail; /* raw: the newest bytes, for starttls */
  int is_lab;                     /* the built-in lab host: the lab servers learn who we are */
  int ident_port;                 /* our local port registered with labident, or 0 */
  struct sockaddr_storage *addrs; /* the target's addresses (heap), tried in turn */
  int naddrs, addr_idx;
  int64_t start_mono, last_activity, connect_deadline;
  int64_t seq, bytes_up, bytes_down, recorded;
  int record_stopped;         /* a budget was reached: only the end is still recorded */
  char stop_note[256];        /* why, told to the browser once "opened" has gone out */
  struct ring to_tcp;         /* browser -> target */
  struct ring to_ws;          /* target -> browser; keeps the newest LIM_RELAY_REPLAY_BYTES sent */
  STAILQ_HEAD(, ctl_msg) ctl; /* STAILQ_INIT when the relay is made */
  size_t ctl_bytes;           /* queued control text: counts toward to_ws's watermarks */
  int client_paused, tcp_paused, ws_paused;
  int tcp_defer; /* a target read is being taken apart (telnet): answers go once, at its end */
  int ws_defer;  /* a target read is being taken apart (telnet): one frame for all of it */
  struct telnet *tn;
  char close_reason[32];
  char pending_reason[32]; /* set while queued client bytes drain before the end */
  int64_t drain_deadline;
  char *final_msg; /* the last text frame before the close */
  /* Resume after a dropped WebSocket: the last bytes sent to the browser
   * are kept so a reconnecting page can say how much it got. */
  char resume_token[AUTH_TOKEN_HEX + 1];
  uint64_t sent_total; /* payload bytes written to the WebSocket; to_ws keeps the last ones */
  int64_t detached_at; /* while no WebSocket is attached; else 0 */
  int remote_echo;
  int final_sent;
  int closing;
  enum lws_close_status close_code;
  /* The live view: this session's entry there, or this WebSocket's
   * watcher; listening: it receives broadcasts. */
  struct watch_entry *watch_entry;
  struct watcher *watcher;
  int listening;
  int listen_only; /* opened as /ws?listen=1: let in on the listeners' share, may only listen */
  int64_t started_us, ended_us; /* unix time of the session row's start and end */
};

struct ws_pss {
  struct relay *relay;
  struct db_user user; /* from the cookie, checked in FILTER_PROTOCOL_CONNECTION */
  struct usage_user *usage;
  unsigned char addr_key[16];
  int listen_only; /* the upgrade asked for /ws?listen=1 */
  struct buf msg;  /* a text message being reassembled from fragments */
  size_t msg_len;  /* bytes of the current message so far */
  int peer_close;  /* close status the browser sent, 0 if none */
  int in_msg, msg_binary, msg_too_big;
  unsigned char login_hash[32]; /* SHA-256 of the cookie that passed ws_check */
};

/* relay.c: the browser's side, recording, the live view, the end */
struct app *relay_app_of(struct lws *wsi);
const char *relay_mode_name(const struct relay *r);
void relay_send_json(struct relay *r, cJSON *json);
void relay_send_typed(struct relay *r, const char *type, const char *key, const char *value);
/* A message about the session as a whole ("opened", "resumed"): its type,
 * session_id, host, port and mode. The caller adds the rest and sends it. */
cJSON *relay_session_msg(const struct relay *r, const char *type);
void relay_send_error(struct relay *r, const char *code, const char *message);
void relay_record(struct relay *r, int dir, const void *data, size_t len);
void relay_note(struct relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void relay_watch_snapshot(const struct relay *r, struct watch_session *s);
void relay_watch_counters(struct relay *r);
/* Ends the session: records the end, tells the browser, closes both sides. */
void relay_finish(struct relay *r, const char *reason, cJSON *final, enum lws_close_status code);
/* relay_finish with an "error" message first (code for the page, reason stored). */
void relay_fail(struct relay *r, const char *code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void relay_update_tcp_rx(struct relay *r);
void relay_update_ws_rx(struct relay *r);
int relay_ws_can_write_now(struct relay *r);
int relay_ws_send_payload(struct relay *r);
void relay_queue_to_ws(struct relay *r, const unsigned char *p, size_t n);

/* relay_target.c: resolving, connecting, the TCP socket, telnet, TLS */
/* Room for n target addresses (naddrs 0, addr_idx 0); -1 if out of memory. */
int relay_addrs_alloc(struct relay *r, int n);
void relay_connect_next(struct relay *r);
void relay_connect_failed(struct relay *r, const char *why);
void relay_queue_to_tcp(struct relay *r, const unsigned char *p, size_t n);
/* What the student sent, through the session's engine: TLS, telnet or
 * none. Before the connection is up it waits in to_tcp as sent. */
void relay_client_bytes(struct relay *r, const unsigned char *p, size_t n);
void relay_tcp_flush_deferred(struct relay *r);
void relay_handle_starttls(struct relay *r);

#endif
