/* relay.h -- one session = one browser WebSocket + one outbound TCP connection. */
#ifndef PORTLAB_RELAY_H
#define PORTLAB_RELAY_H

#include <libwebsockets.h>

struct app;
struct watch;

#define RELAY_WS_PROTOCOL "portlab.v1"
#define RELAY_TCP_PROTOCOL "portlab-tcp"

/* The lws callbacks: the WebSocket side (on the portal vhost) and the
 * outbound raw TCP side (on the non-listening client vhost). */
int relay_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len);
int relay_tcp_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len);
/* Per-WebSocket data size for the protocol table. */
size_t relay_ws_pss_size(void);

/* Sessions of a user that are connecting or open (user_id 0: everyone's). */
int relay_user_sessions(struct app *app, int64_t user_id);

/* The live view (watch.c), reading replays from app's database and
 * recorder. NULL if out of memory. */
struct watch *relay_watch_new(struct app *app);

/* Enforces connect, idle and session timeouts; called from the app tick. */
void relay_tick(struct app *app);
/* Ends every session of the login whose cookie hashes to login_hash
 * (detached ones included) with reason logged_out. */
void relay_logout(struct app *app, const unsigned char login_hash[32]);
/* The byte counters of session_id while it is live: 0, or -1 if no
 * relay holds it (it ended, or never was). */
int relay_live_counters(struct app *app, int64_t session_id, int64_t *up, int64_t *down);
/* Ends every relay of the user (their open sessions and idle WebSockets)
 * with reason (teacher_ended). Returns how many. */
int relay_end_user(struct app *app, int64_t user_id, const char *reason);
/* Closes every session with reason server_shutdown (the sockets close as
 * the loop runs on). */
void relay_shutdown_all(struct app *app);

#endif
