/* watch.h -- the teacher's live view: watchers, their bounded queues, gaps.
 *
 * A watcher is a teacher's WebSocket that asked to watch the whole class
 * or one session (docs/protocol.md, "Watching"). The relay reports every
 * session's start, end and counters, and every recorded event; this module
 * fans them out to the watchers, each into its own bounded queue, and the
 * relay writes one message per writable callback. No lws here: the caller
 * passes a wake function (ask for writable) and the clock, so the unit
 * tests drive it directly.
 *
 * A watcher never slows a relay: reporting an event is a copy into each
 * queue. Past the queue's byte cap the oldest events are dropped and the
 * watcher gets one "gap" message per session in their place, naming the
 * range it missed. Session messages are never dropped: at most one per
 * session is queued (a newer one replaces it), so they are bounded by the
 * number of sessions. Counter changes of a session go out at most every
 * LIM_WATCH_SESSION_MS; an open or an end goes out at once.
 */
#ifndef PORTLAB_WATCH_H
#define PORTLAB_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct db_event;
struct watch;
struct watcher;
struct watch_entry;

/* A session as watchers see it: the fields of GET /api/sessions plus the
 * time of the last byte either way. session.ended_us 0 means open. */
struct watch_session {
  struct db_session session;
  int64_t last_activity_us; /* unix time, microseconds */
};

/* Reads a session's recorded events with after_seq < seq <= up_to_seq in
 * seq order, at most limit of them (the transcript in the database, then
 * what the recorder still queues). cb returns nonzero to stop. */
typedef int (*watch_fetch_fn)(void *arg, int64_t session_id, int64_t after_seq, int64_t up_to_seq,
                              int limit, int (*cb)(void *cbarg, const struct db_event *e),
                              void *cbarg);
/* Asks for a writable callback on the watcher's socket. */
typedef void (*watch_wake_fn)(void *arg);

/* fetch (and its arg) is used for replays; NULL means nothing to replay. */
struct watch *watch_new(watch_fetch_fn fetch, void *fetch_arg);
void watch_free(struct watch *w); /* frees watchers and entries too; NULL is a no-op */

/* Session reports from the relay. open returns the session's entry (NULL
 * if out of memory: the session is then reported only when it ends);
 * update and end take it (NULL allowed). end frees the entry. */
struct watch_entry *watch_session_open(struct watch *w, const struct watch_session *s,
                                       int64_t now_us);
void watch_session_update(struct watch *w, struct watch_entry *e, const struct watch_session *s,
                          int64_t now_us);
void watch_session_end(struct watch *w, struct watch_entry *e, const struct watch_session *s);
/* Sends the counter changes that waited for LIM_WATCH_SESSION_MS. */
void watch_tick(struct watch *w, int64_t now_us);
/* One recorded event of a session (data is copied). */
void watch_event(struct watch *w, int64_t session_id, int64_t seq, int64_t t_us, int dir,
                 const void *data, size_t len);

/* A new watcher of the class (session_id 0) or of one session. The class
 * watcher gets a session message for every open session at once. A session
 * watcher first gets events 1..replay_to read through fetch (INT64_MAX: all
 * that is stored), then live events with a larger seq; replay_to 0 replays
 * nothing. cap is its queue's byte cap. NULL if out of memory. */
struct watcher *watch_add(struct watch *w, int64_t session_id, int64_t replay_to, size_t cap,
                          watch_wake_fn wake, void *wake_arg);
void watch_remove(struct watcher *v); /* NULL is a no-op */
/* Queues a session message for this watcher alone (a past session). */
void watch_send_session(struct watcher *v, const struct watch_session *s);

/* The next message for the watcher as JSON text, in a buffer with pre free
 * bytes before it (for LWS_PRE); *out is the buffer start, caller frees.
 * 1 with a message, 0 when there is none, -1 if out of memory. */
int watch_next(struct watcher *v, size_t pre, unsigned char **out, size_t *len);

size_t watch_queued_bytes(const struct watcher *v); /* payload bytes waiting */
uint64_t watch_dropped(const struct watcher *v);    /* events dropped so far */
int watch_watchers(const struct watch *w);          /* watchers in all */

#endif
