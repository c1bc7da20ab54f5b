/* relay.c -- one session = one browser WebSocket + one outbound TCP connection.
 *
 * The browser speaks the portlab.v1 protocol (docs/protocol.md): JSON
 * control messages in text frames, payload bytes in binary frames. After
 * an "open" the target goes through the policy; names are resolved off
 * the loop, and the socket connects to the numeric address that was
 * checked. Both sides live on the lws loop, so a struct relay needs no
 * locks.
 *
 * Bytes flow through two bounded rings (ring.c: no compaction, no second
 * copy). A side that has nothing queued and a socket that can take more is
 * written at once, without waiting for a writable callback: a keystroke
 * costs one poll turn per hop. What is queued goes out in frames of up to
 * LIM_RELAY_FRAME_BYTES, written in place from the ring. A queue above
 * LIM_RELAY_BUF_HIGH pauses the side that fills it (lws_rx_flow_control)
 * until it drains below LIM_RELAY_BUF_LOW, so a stalled browser or a stalled
 * server costs at most the cap.
 *
 * This file is the browser's side: the WebSocket, its control messages,
 * recording, the live view and the end of a session. The target's side
 * (resolving, connecting, the TCP socket, telnet and TLS) is
 * relay_target.c; relay_int.h is what the two share.
 *
 * Lifetime: the relay belongs to its WebSocket. It is freed when the
 * WebSocket closes; the TCP side is then killed asynchronously with its
 * back-pointer cleared first, so no callback can reach freed memory.
 *
 * A WebSocket may instead carry no session: a teacher's watcher (watch.c
 * gets every session's start, counters, end and recorded events from
 * here) or a listener for the teacher's broadcasts.
 */
#include "relay.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "addr.h"
#include "api.h"
#include "app.h"
#include "auth.h"
#include "buf.h"
#include "db.h"
#include "labident.h"
#include "log.h"
#include "policy.h"
#include "portlab_limits.h"
#include "recorder.h"
#include "refusals.h"
#include "relay_int.h"
#include "relay_msg.h"
#include "relay_tls.h"
#include "resolver.h"
#include "ring.h"
#include "telnet.h"
#include "usage.h"
#include "watch.h"

_Static_assert(LWS_PRE <= RING_PAD, "a frame header must fit in front of a ring run");

size_t relay_ws_pss_size(void) {
  return sizeof(struct ws_pss);
}

struct app *relay_app_of(struct lws *wsi) {
  return lws_context_user(lws_get_context(wsi));
}

const char *relay_mode_name(const struct relay *r) {
  return r->tls_mode ? "tls" : r->telnet_mode ? "telnet" : "raw";
}

/* --- messages to the browser ------------------------------------------- */

/* Queues a control message (kept while detached, for a resumed page);
 * front puts it before everything queued. */
static void queue_json(struct relay *r, cJSON *json, int front) {
  char *text = cJSON_PrintUnformatted(json);
  cJSON_Delete(json);
  if (!text) return;
  size_t len = strlen(text);
  struct ctl_msg *m = malloc(sizeof *m + LWS_PRE + len);
  if (!m) goto done;
  m->len = len;
  memcpy(m->data + LWS_PRE, text, len);
  if (front)
    STAILQ_INSERT_HEAD(&r->ctl, m, next);
  else
    STAILQ_INSERT_TAIL(&r->ctl, m, next);
  /* A target can make control messages too (telnet option changes), so
   * they fill the same budget as payload and pause it the same way. */
  r->ctl_bytes += len;
  if (r->ws) lws_callback_on_writable(r->ws);
  relay_update_tcp_rx(r);
done:
  free(text);
}

void relay_send_json(struct relay *r, cJSON *json) {
  queue_json(r, json, 0);
}

void relay_send_typed(struct relay *r, const char *type, const char *key, const char *value) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", type);
  if (key) cJSON_AddStringToObject(o, key, value);
  relay_send_json(r, o);
}

cJSON *relay_session_msg(const struct relay *r, const char *type) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", type);
  cJSON_AddNumberToObject(o, "session_id", (double)r->session_id);
  cJSON_AddStringToObject(o, "host", r->host);
  cJSON_AddNumberToObject(o, "port", r->port);
  cJSON_AddStringToObject(o, "mode", relay_mode_name(r));
  return o;
}

/* --- recording ------------------------------------------------------------ */

/* Payload and notes share the LIM_TRANSCRIPT_BYTES budget (a target can
 * cause notes too, e.g. with telnet option changes), and the student's,
 * the class's and the disk's budgets (usage.c). Past the first one reached
 * only forced notes are kept: the one saying why, and the session's end.
 * Every recorded byte counts toward the budgets, forced notes included, so
 * the counters match what the database holds. */
static void record_event(struct relay *r, int dir, const void *data, size_t len, int force) {
  struct app *app = r->app;
  if (!app->recorder || !r->session_id) return;
  if (!force) {
    if (r->record_stopped) return;
    int64_t session_room = LIM_TRANSCRIPT_BYTES - r->recorded, budget_room = INT64_MAX;
    enum usage_stop why = USAGE_OK;
    if (r->usage)
      why = usage_check(app->usage, r->usage, !r->is_teacher, (int64_t)len, &budget_room);
    if (why != USAGE_OK || (int64_t)len > session_room) {
      char text[256];
      int64_t room = session_room < budget_room ? session_room : budget_room;
      if (room > 0 && dir != DB_DIR_NOTE) record_event(r, dir, data, (size_t)room, 0);
      r->record_stopped = 1;
      if (why == USAGE_OK || (why != USAGE_STOP_DISK && session_room <= budget_room))
        snprintf(text, sizeof text, "recording truncated after %d bytes; the session goes on",
                 LIM_TRANSCRIPT_BYTES);
      else
        usage_stop_text(app->usage, why, text, sizeof text);
      log_info("session %lld (%s): %s", (long long)r->session_id, r->user.name, text);
      record_event(r, DB_DIR_NOTE, text, strlen(text), 1);
      if (r->state == RS_OPEN)
        relay_send_typed(r, "note", "text", text);
      else /* "opened" (or the error) comes first */
        snprintf(r->stop_note, sizeof r->stop_note, "%s", text);
      return;
    }
    r->recorded += (int64_t)len;
  }
  if (r->usage) usage_recorded(app->usage, r->usage, (int64_t)len);
  int64_t t_us = app_mono_us() - r->start_mono;
  recorder_event(app->recorder, r->session_id, ++r->seq, t_us, dir, data, len);
  watch_event(app->watch, r->session_id, r->seq, t_us, dir, data, len);
  if (recorder_should_flush(app->recorder)) recorder_kick(app->recorder);
}

void relay_record(struct relay *r, int dir, const void *data, size_t len) {
  record_event(r, dir, data, len, 0);
}

void relay_note(struct relay *r, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  relay_record(r, DB_DIR_NOTE, text, strlen(text));
}

/* --- the live view ---------------------------------------------------------- */

void relay_watch_snapshot(const struct relay *r, struct watch_session *s) {
  struct db_session *d = &s->session;
  memset(s, 0, sizeof *s);
  d->id = r->session_id;
  d->user_id = r->user.id;
  snprintf(d->user_name, sizeof d->user_name, "%s", r->user.name);
  snprintf(d->host, sizeof d->host, "%s", r->host);
  d->port = r->port;
  snprintf(d->mode, sizeof d->mode, "%s", relay_mode_name(r));
  d->started_us = r->started_us;
  d->ended_us = r->ended_us;
  d->bytes_up = r->bytes_up;
  d->bytes_down = r->bytes_down;
  snprintf(d->close_reason, sizeof d->close_reason, "%s", r->close_reason);
  s->last_activity_us = app_now_us() - (app_mono_us() - r->last_activity);
}

/* The counters changed: watchers hear of it, at most every 500 ms. */
void relay_watch_counters(struct relay *r) {
  struct watch_session s;
  if (!r->watch_entry) return;
  relay_watch_snapshot(r, &s);
  watch_session_update(r->app->watch, r->watch_entry, &s, app_mono_us());
}

static void watch_wake(void *arg) {
  struct relay *r = arg;
  if (r->ws) lws_callback_on_writable(r->ws);
}

/* --- ending a session ------------------------------------------------------ */

static void forget_ident(struct relay *r) {
  if (r->ident_port) labident_remove(r->ident_port);
  r->ident_port = 0;
}

static void kill_tcp(struct relay *r) {
  forget_ident(r);
  if (!r->tcp) return;
  lws_set_opaque_user_data(r->tcp, NULL);
  lws_set_timeout(r->tcp, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
  r->tcp = NULL;
}

/* Ends the session once: records why, stores the end, stops the TCP side
 * and lets the WebSocket flush what it has, send final (or "closed") and
 * close with code. */
void relay_finish(struct relay *r, const char *reason, cJSON *final, enum lws_close_status code) {
  if (r->state == RS_DONE) {
    cJSON_Delete(final);
    return;
  }
  /* A hang-up right after typing must not eat the last line ("QUIT\r\n"):
   * let the queued bytes reach the server first, for a bounded time. */
  if (strcmp(reason, "client_closed") == 0 && r->state == RS_OPEN && r->tcp &&
      ring_len(&r->to_tcp) && !r->pending_reason[0]) {
    snprintf(r->pending_reason, sizeof r->pending_reason, "%s", reason);
    r->drain_deadline = app_mono_us() + LIM_RELAY_DRAIN_SECS * 1000000LL;
    lws_callback_on_writable(r->tcp);
    cJSON_Delete(final);
    return;
  }
  int had_session = r->state != RS_IDLE;
  r->state = RS_DONE;
  snprintf(r->close_reason, sizeof r->close_reason, "%s", reason);
  kill_tcp(r);
  if (had_session && r->session_id) {
    char closed[64];
    snprintf(closed, sizeof closed, "closed: %s", reason);
    record_event(r, DB_DIR_NOTE, closed, strlen(closed), 1);
    r->ended_us = app_now_us();
    if (r->app->recorder)
      recorder_session_end(r->app->recorder, r->session_id, r->ended_us, r->bytes_up, r->bytes_down,
                           reason);
    struct watch_session s;
    relay_watch_snapshot(r, &s);
    watch_session_end(r->app->watch, r->watch_entry, &s);
    r->watch_entry = NULL;
    log_info("session %lld (%s -> %s:%d) closed: %s, %lld bytes up, %lld down",
             (long long)r->session_id, r->user.name, r->host, r->port, reason,
             (long long)r->bytes_up, (long long)r->bytes_down);
  }
  if (!final) {
    final = cJSON_CreateObject();
    cJSON_AddStringToObject(final, "type", "closed");
    cJSON_AddStringToObject(final, "reason", reason);
  }
  r->final_msg = cJSON_PrintUnformatted(final);
  cJSON_Delete(final);
  r->closing = 1;
  r->close_code = code;
  if (r->ws) lws_callback_on_writable(r->ws);
}

/* Refuses with {"type":"error"} and closes; reason goes into the transcript. */
void relay_fail(struct relay *r, const char *code, const char *reason, const char *fmt, ...) {
  char message[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  if (r->state != RS_IDLE && r->state != RS_DONE) relay_note(r, "%s", message);
  if (r->counts_as_open && !r->session_id && r->state != RS_DONE && r->usage) {
    /* A refused open leaves no session row, only a count. */
    usage_refused(r->app->usage, r->usage, code, app_now_us());
    log_info("refused open for %s: %s: %s", r->user.name, code, message);
  }
  if (!r->is_teacher) refusals_note(r->app, &r->user, code, r->host, r->port, message);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "error");
  cJSON_AddStringToObject(o, "code", code);
  cJSON_AddStringToObject(o, "message", message);
  relay_finish(r, reason, o,
               strcmp(code, "message_too_big") == 0 ? LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE
                                                    : LWS_CLOSE_STATUS_NORMAL);
}

static void relay_free(struct relay *r) {
  struct app *app = r->app;
  for (struct relay **pp = &app->relays; *pp; pp = &(*pp)->next) {
    if (*pp == r) {
      *pp = r->next;
      app->relay_count--;
      break;
    }
  }
  kill_tcp(r);
  watch_remove(r->watcher);
  if (r->watch_entry) { /* cannot happen: relay_finish() came first */
    struct watch_session s;
    relay_watch_snapshot(r, &s);
    watch_session_end(app->watch, r->watch_entry, &s);
  }
  struct ctl_msg *m;
  while ((m = STAILQ_FIRST(&r->ctl))) {
    STAILQ_REMOVE_HEAD(&r->ctl, next);
    free(m);
  }
  ring_free(&r->to_tcp);
  ring_free(&r->to_ws);
  telnet_free(r->tn);
  relay_tls_free(r->tls);
  free(r->addrs);
  free(r->final_msg);
  free(r);
}

/* --- flow control -------------------------------------------------------- */

void relay_update_tcp_rx(struct relay *r) {
  if (!r->tcp) return;
  size_t queued = ring_len(&r->to_ws) + r->ctl_bytes;
  /* A session that records waits while the recorder's writer catches up:
   * its bytes are neither dropped nor queued without bound. */
  int recorder_behind = r->session_id && !r->record_stopped && recorder_lagging(r->app->recorder);
  int want_paused = r->client_paused || recorder_behind || queued >= LIM_RELAY_BUF_HIGH ||
                    (r->tcp_paused && queued > LIM_RELAY_BUF_LOW);
  if (want_paused != r->tcp_paused) {
    r->tcp_paused = want_paused;
    lws_rx_flow_control(r->tcp, !want_paused);
  }
}

void relay_update_ws_rx(struct relay *r) {
  if (!r->ws) return;
  size_t queued = ring_len(&r->to_tcp);
  int want_paused = queued >= LIM_RELAY_BUF_HIGH || (r->ws_paused && queued > LIM_RELAY_BUF_LOW);
  if (want_paused != r->ws_paused) {
    r->ws_paused = want_paused;
    lws_rx_flow_control(r->ws, !want_paused);
  }
}

/* Writes queued payload to the WebSocket as binary frames of up to
 * LIM_RELAY_FRAME_BYTES, each in place from the ring (the frame header goes
 * into the bytes before the run, which are saved and put back), while the
 * socket takes them and at most LIM_RELAY_WRITE_BYTES per call, so one busy
 * session cannot hold the loop. Returns -1 if the WebSocket failed. */
int relay_ws_send_payload(struct relay *r) {
  size_t done = 0;
  while (done < LIM_RELAY_WRITE_BYTES) {
    unsigned char saved[LWS_PRE], *p;
    size_t n;
    int rc;
    p = ring_head(&r->to_ws, &n);
    if (!n) break;
    if (done && lws_send_pipe_choked(r->ws)) break;
    if (n > LIM_RELAY_FRAME_BYTES) n = LIM_RELAY_FRAME_BYTES;
    memcpy(saved, p - LWS_PRE, LWS_PRE);
    rc = lws_write(r->ws, p, n, LWS_WRITE_BINARY);
    memcpy(p - LWS_PRE, saved, LWS_PRE);
    if (rc < (int)n) return -1;
    ring_consume(&r->to_ws, n); /* kept behind the head for a resumed page */
    r->sent_total += n;
    done += n;
  }
  if (done) relay_update_tcp_rx(r);
  return 0;
}

/* Nothing else is waiting for the WebSocket and it can take more: the
 * payload goes out now instead of on the next writable callback. */
int relay_ws_can_write_now(struct relay *r) {
  return r->ws && STAILQ_EMPTY(&r->ctl) && !r->closing && !r->watcher &&
         !lws_send_pipe_choked(r->ws);
}

void relay_queue_to_ws(struct relay *r, const unsigned char *p, size_t n) {
  if (ring_append(&r->to_ws, p, n)) { /* only if flow control failed */
    relay_finish(r, "buffer_overflow", NULL, LWS_CLOSE_STATUS_NORMAL);
    return;
  }
  if (!r->ws_defer && ring_len(&r->to_ws) == n && relay_ws_can_write_now(r))
    relay_ws_send_payload(r);
  /* What is left (or a failure, which the callback then reports) waits. */
  if (r->ws && ring_len(&r->to_ws)) lws_callback_on_writable(r->ws);
  relay_update_tcp_rx(r);
}

static int count_user_sessions(struct app *app, int64_t user_id) {
  int n = 0;
  for (struct relay *r = app->relays; r; r = r->next)
    if ((!user_id || r->user.id == user_id) && r->state >= RS_RESOLVING && r->state <= RS_OPEN) n++;
  return n;
}

int relay_user_sessions(struct app *app, int64_t user_id) {
  return count_user_sessions(app, user_id);
}

/* Relays of a user that are not over: idle, busy or waiting for a resume. */
static int count_user_relays(struct app *app, int64_t user_id) {
  int n = 0;
  for (struct relay *r = app->relays; r; r = r->next)
    if (r->user.id == user_id && r->state != RS_DONE) n++;
  return n;
}

/* Relays of a client address that are not over, in one of its two shares
 * of --ws-per-addr: listening, the broadcast listeners and the WebSockets
 * let in to become one (/ws?listen=1); else all the others, idle ones
 * included (sessions and watchers have caps of their own too). */
static int count_addr_relays(struct app *app, const unsigned char key[16], int listening) {
  int n = 0;
  for (struct relay *r = app->relays; r; r = r->next)
    if (r->state != RS_DONE && (r->listening || r->listen_only) == listening &&
        memcmp(r->addr_key, key, 16) == 0)
      n++;
  return n;
}

static void handle_open(struct relay *r, const struct relay_msg *m) {
  struct app *app = r->app;
  if (r->state != RS_IDLE) {
    relay_fail(r, "bad_request", "bad_request", "this WebSocket already has a session");
    return;
  }
  if (r->usage && !r->is_teacher && !usage_open_allowed(app->usage, r->usage, app_mono_us())) {
    relay_fail(r, "too_many_opens", "too_many_opens",
               "you opened %d sessions in the last minute; wait a little and try again",
               app->cfg.opens_per_minute);
    return;
  }
  if (count_user_sessions(app, r->user.id) >= app->cfg.user_sessions) {
    relay_fail(r, "too_many_sessions", "too_many_sessions",
               "you already have %d open sessions; close one first", app->cfg.user_sessions);
    return;
  }

  struct policy_target target;
  char reason[256];
  enum policy_kind kind =
      policy_prepare(app->policy, m->host, m->port, &target, reason, sizeof reason);
  snprintf(r->host, sizeof r->host, "%s", kind == POLICY_DENY ? m->host : target.host);
  r->port = m->port;
  r->telnet_mode = m->telnet;
  r->tls_mode = m->tls;
  r->is_lab = kind != POLICY_DENY && target.is_lab;
  r->start_mono = r->last_activity = app_mono_us();
  r->connect_deadline = r->start_mono + app->cfg.connect_timeout * 1000000LL;
  r->state = RS_RESOLVING;

  switch (kind) {
    case POLICY_DENY:
      log_warn("denied %s -> %s:%d: %s", r->user.name, r->host, r->port, reason);
      relay_fail(r, "target_denied", "target_denied", "%s", reason);
      return;
    case POLICY_READY:
      if (relay_addrs_alloc(r, 1)) {
        relay_fail(r, "connect_failed", "connect_failed", "out of memory");
        return;
      }
      r->addrs[0] = target.addr;
      r->naddrs = 1;
      relay_connect_next(r);
      return;
    case POLICY_RESOLVE:
      if (resolver_submit(app->resolver, r->key, r->host))
        relay_fail(r, "connect_failed", "connect_failed", "too many lookups at once; try again");
      return;
  }
}

/* {"type":"resume","session_id","resume_token","received"} on a fresh
 * WebSocket: hands it the detached session, replaying what the page
 * missed. r is the fresh WebSocket's empty relay; it is freed here. */
static void handle_reattach(struct relay *r, const struct relay_msg *m) {
  struct app *app = r->app;
  struct relay *old = NULL;
  if (r->state != RS_IDLE || r->watcher || r->listening) {
    relay_fail(r, "bad_request", "bad_request", "this WebSocket already has a session");
    return;
  }
  for (old = app->relays; old; old = old->next)
    if (old->session_id == m->session_id && old->detached_at && old->resume_token[0] &&
        old->user.id == r->user.id && crypto_ct_streq(old->resume_token, m->resume_token))
      break;
  if (!old) { /* a wrong token or someone else's session: it is left alone */
    relay_fail(r, "resume_failed", "resume_failed", "that session can no longer be resumed");
    return;
  }
  uint64_t got = m->received;
  if (got > old->sent_total || old->sent_total - got > ring_kept(&old->to_ws)) {
    /* Its owner came back, but the bytes the page missed are gone: the
     * session can never be resumed, so it ends now rather than in 30 s. */
    relay_note(
        old, "a resume at byte %llu failed: %llu bytes were sent and only the last %zu are kept",
        (unsigned long long)got, (unsigned long long)old->sent_total, ring_kept(&old->to_ws));
    relay_finish(old, "client_disconnected", NULL, LWS_CLOSE_STATUS_NORMAL);
    relay_fail(r, "resume_failed", "resume_failed", "that session can no longer be resumed");
    return;
  }
  /* The bytes the page missed are still in the ring, just behind what is
   * queued: they become unread again. */
  ring_unconsume(&old->to_ws, (size_t)(old->sent_total - got));
  old->sent_total = got;

  struct lws *wsi = r->ws;
  struct ws_pss *pss = lws_wsi_user(wsi);
  r->ws = NULL;
  r->state = RS_DONE;
  relay_free(r);
  pss->relay = old;
  old->ws = wsi;
  memcpy(old->login_hash, pss->login_hash, sizeof old->login_hash);
  old->detached_at = 0;
  relay_note(old, "the browser reconnected and resumed at byte %llu", (unsigned long long)got);
  cJSON *o = relay_session_msg(old, "resumed");
  cJSON_AddBoolToObject(o, "echo_local", !old->remote_echo);
  queue_json(old, o, 1);
  relay_update_tcp_rx(old);
  if (old->closing) lws_callback_on_writable(wsi);
}

/* An error that leaves the WebSocket as it was (a session goes on). */
void relay_send_error(struct relay *r, const char *code, const char *message) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "error");
  cJSON_AddStringToObject(o, "code", code);
  cJSON_AddStringToObject(o, "message", message);
  relay_send_json(r, o);
}

/* A WebSocket that already is a session, a watcher or a listener. */
static int busy_ws(struct relay *r) {
  if (r->state == RS_IDLE && !r->watcher && !r->listening) return 0;
  relay_fail(r, "bad_request", "bad_request", "this WebSocket already has a session");
  return 1;
}

/* {"type":"watch"}: the teacher's live view of the class or of one session. */
static void handle_watch(struct relay *r, const struct relay_msg *m) {
  struct app *app = r->app;
  struct relay *live = NULL;
  struct watch_session s;
  int64_t replay_to = 0;
  if (!r->is_teacher) {
    relay_send_error(r, "forbidden", "only the teacher can watch sessions");
    return;
  }
  if (busy_ws(r)) return;
  if (m->session_id) {
    /* Its relay knows the last seq handed to the recorder: events up to it
     * are replayed from storage, later ones arrive live. */
    for (live = app->relays; live && live->session_id != m->session_id; live = live->next) {
    }
    /* A session whose relay is gone may still have its end in the
     * recorder's queue: write it, so the row says "ended". */
    if (!live) recorder_flush(app->recorder);
    if (live) {
      replay_to = live->seq;
      relay_watch_snapshot(live, &s);
    } else if (db_session_get(app->db, m->session_id, &s.session) == 0) {
      replay_to = INT64_MAX; /* over: everything stored */
      s.last_activity_us = s.session.ended_us;
    } else {
      relay_send_error(r, "not_found", "no such session");
      return;
    }
  }
  r->watcher =
      watch_add(app->watch, m->session_id, replay_to, (size_t)app->cfg.watch_queue, watch_wake, r);
  if (!r->watcher) {
    relay_fail(r, "bad_request", "internal", "out of memory");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "watching");
  if (m->session_id) {
    cJSON_AddNumberToObject(o, "session_id", (double)m->session_id);
    /* A session that is open has its entry, which watch_add sent. */
    if (!live || !live->watch_entry) watch_send_session(r->watcher, &s);
  } else {
    cJSON_AddStringToObject(o, "scope", "class");
  }
  queue_json(r, o, 1); /* before the first session message */
}

/* {"type":"listen"}: this WebSocket receives the teacher's broadcasts. */
static void handle_listen(struct relay *r) {
  struct app *app = r->app;
  if (busy_ws(r)) return;
  /* One let in as a listener holds its place in the share already. */
  if (!r->listen_only && count_addr_relays(app, r->addr_key, 1) >= app->cfg.ws_per_addr) {
    relay_fail(r, "too_many_listeners", "too_many_listeners",
               "this address already has %d broadcast listeners (--ws-per-addr)",
               app->cfg.ws_per_addr);
    return;
  }
  r->listening = 1;
  relay_send_typed(r, "listening", NULL, NULL);
}

/* {"type":"broadcast","text"}: the teacher's message to every listener. A
 * listener that does not read is skipped once its queue is full. A refused
 * broadcast (code and err from the parser, or too long for the flag) is
 * answered with an error and the WebSocket goes on: it may be the
 * teacher's live view. */
static void handle_broadcast(struct relay *r, const struct relay_msg *m, const char *code,
                             const char *err) {
  struct app *app = r->app;
  char when[32], why[96];
  int n = 0;
  if (!r->is_teacher) {
    relay_send_error(r, "forbidden", "only the teacher can broadcast");
    return;
  }
  if (code && strcmp(code, "too_long") != 0) {
    relay_send_error(r, code, err);
    return;
  }
  if (code || m->text_len > (size_t)app->cfg.broadcast_max) {
    snprintf(why, sizeof why, "a broadcast may be at most %d bytes (--broadcast-max)",
             app->cfg.broadcast_max);
    relay_send_error(r, "too_long", why);
    return;
  }
  time_t secs = (time_t)(app_now_us() / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  for (struct relay *l = app->relays; l; l = l->next) {
    if (!l->listening || !l->ws || l->state == RS_DONE || l->ctl_bytes >= LIM_RELAY_BUF_HIGH)
      continue;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "broadcast");
    cJSON_AddStringToObject(o, "text", m->text);
    cJSON_AddStringToObject(o, "from", r->user.name);
    cJSON_AddStringToObject(o, "sent_at", when);
    relay_send_json(l, o);
    n++;
  }
  log_info("broadcast from %s to %d listeners (%zu bytes)", r->user.name, n, m->text_len);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "broadcast_sent");
  cJSON_AddNumberToObject(o, "listeners", n);
  relay_send_json(r, o);
}

static void handle_control(struct relay *r, const char *text, size_t len) {
  struct relay_msg m;
  const char *code;
  char err[256];
  int rc = relay_msg_parse(text, len, &m, &code, err, sizeof err);
  if (m.type == RELAY_MSG_BROADCAST) {
    handle_broadcast(r, &m, rc ? code : NULL, err);
    return;
  }
  /* An open, or anything that is not valid, on a WebSocket without a
   * session is an attempt to open one: if it is refused, it is counted,
   * not stored. */
  if (r->state == RS_IDLE && !r->watcher && !r->listening && (rc != 0 || m.type == RELAY_MSG_OPEN))
    r->counts_as_open = 1;
  if (rc != 0) {
    relay_fail(r, code, code, "%s", err);
    return;
  }
  /* A WebSocket let in on the listeners' share took no place in the
   * others': it becomes a listener or nothing. */
  if (r->listen_only &&
      (m.type == RELAY_MSG_OPEN || m.type == RELAY_MSG_WATCH || m.type == RELAY_MSG_REATTACH)) {
    relay_fail(r, "bad_request", "bad_request",
               "a WebSocket opened as /ws?listen=1 can only listen; open another for this");
    return;
  }
  switch (m.type) {
    case RELAY_MSG_OPEN:
      if (r->watcher || r->listening) {
        busy_ws(r);
        break;
      }
      handle_open(r, &m);
      break;
    case RELAY_MSG_WATCH:
      handle_watch(r, &m);
      break;
    case RELAY_MSG_LISTEN:
      handle_listen(r);
      break;
    case RELAY_MSG_BROADCAST: /* answered above */
      break;
    case RELAY_MSG_PAUSE:
    case RELAY_MSG_RESUME:
      r->client_paused = m.type == RELAY_MSG_PAUSE;
      relay_update_tcp_rx(r);
      break;
    case RELAY_MSG_REATTACH:
      handle_reattach(r, &m);
      break;
    case RELAY_MSG_CLOSE:
      if (r->tls && r->state == RS_OPEN) relay_tls_close(r->tls); /* close_notify first */
      relay_finish(r, "client_closed", NULL, LWS_CLOSE_STATUS_NORMAL);
      break;
    case RELAY_MSG_STARTTLS:
      relay_handle_starttls(r);
      break;
  }
}

static void handle_payload(struct relay *r, const unsigned char *p, size_t n) {
  if (r->state == RS_IDLE) {
    relay_fail(r, "bad_request", "bad_request", "send {\"type\":\"open\"} before any data");
    return;
  }
  if (r->state == RS_DONE || r->pending_reason[0]) return;
  r->last_activity = app_mono_us();
  relay_client_bytes(r, p, n);
}

/* --- the WebSocket side -------------------------------------------------- */

/* The client address of a WebSocket as a 16-byte key: an IPv4 address as
 * IPv4-mapped IPv6, an IPv6 address cut to its /64 (one host usually has
 * a whole /64, so counting single addresses would count nothing). */
static int peer_key(struct lws *wsi, unsigned char key[16]) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd = (int)lws_get_socket_fd(wsi);
  memset(key, 0, 16);
  if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
  if (addr_key((struct sockaddr *)&ss, key, NULL) == 0 && !addr_is_v4mapped(key))
    memset(key + 8, 0, 8);
  return 0;
}

/* 1 when the upgrade asks to be a broadcast listener (/ws?listen=1), 0
 * when it does not, -1 for another value of listen (or out of memory). */
static int upgrade_listen_only(struct lws *wsi) {
  int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  if (total <= 0) return 0;
  /* Room for any one argument, so lws never stops at a long one. */
  char *tmp = malloc((size_t)total + 1);
  if (!tmp) return -1;
  const char *value = lws_get_urlarg_by_name(wsi, "listen=", tmp, total + 1);
  int rc = !value ? 0 : strcmp(value, "1") == 0 ? 1 : -1;
  free(tmp);
  return rc;
}

/* Refuses an upgrade for want of room with a real HTTP answer, not a
 * dropped connection, so the page can say "busy" instead of "broken". */
static int refuse_busy(struct lws *wsi, const char *why) {
  log_warn("websocket refused (503): %s", why);
  lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, why);
  return -1;
}

static int ws_check(struct lws *wsi, struct ws_pss *pss) {
  struct app *app = relay_app_of(wsi);
  char host[256] = "", origin[256] = "", *cookie = NULL;
  int rc = -1, clen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE);
  char path[16] = "";
  if (app->phase != APP_RUNNING) return -1;
  if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) <= 0 || strcmp(path, "/ws") != 0) {
    log_warn("websocket refused: the path is not /ws");
    return -1;
  }
  if ((pss->listen_only = upgrade_listen_only(wsi)) < 0) {
    log_warn("websocket refused: listen= is not 1");
    return -1;
  }
  if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0 ||
      lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) <= 0) {
    log_warn("websocket refused: no Host or no Origin header");
    return -1;
  }
  /* The Host is checked on its own as well: an Origin that is one of the
   * public origins is accepted whatever the Host says. */
  if (!auth_host_ok(host, app->cfg.public_origin, app->cfg.n_public_origin) ||
      !auth_origin_ok(origin, host, app->cfg.public_origin, app->cfg.n_public_origin)) {
    char shown_origin[sizeof origin], shown_host[sizeof host];
    auth_printable(origin, shown_origin, sizeof shown_origin);
    auth_printable(host, shown_host, sizeof shown_host);
    log_warn("websocket refused: Origin '%s' or Host '%s' not accepted", shown_origin, shown_host);
    return -1;
  }
  if (clen <= 0 || !(cookie = malloc((size_t)clen + 1)) ||
      lws_hdr_copy(wsi, cookie, clen + 1, WSI_TOKEN_HTTP_COOKIE) <= 0 ||
      api_user_from_cookie(app, cookie, &pss->user)) {
    log_warn("websocket refused: no valid login cookie");
    goto done;
  }
  char token[AUTH_TOKEN_HEX + 1];
  if (auth_cookie_token(cookie, token) == 0) crypto_sha256(token, AUTH_TOKEN_HEX, pss->login_hash);
  if (app->relay_count >= (unsigned)app->cfg.max_sessions) {
    refuse_busy(wsi, "portlab is full (--max-sessions)");
    goto done;
  }
  /* Names are free, so a cap per name alone lets one person with many
   * names take every slot; the client address is what they cannot
   * multiply as easily. A page's broadcast listener says so in its
   * upgrade and is counted in a share of its own, so a class behind one
   * NAT whose sessions fill the address's share still hears the teacher;
   * either way one address holds at most twice --ws-per-addr. */
  if (peer_key(wsi, pss->addr_key) != 0 ||
      count_addr_relays(app, pss->addr_key, pss->listen_only) >= app->cfg.ws_per_addr) {
    refuse_busy(wsi, pss->listen_only
                         ? "too many broadcast listeners from this address (--ws-per-addr)"
                         : "too many WebSockets from this address (--ws-per-addr)");
    goto done;
  }
  /* Idle WebSockets count too, or one student could hold every slot.
   * Twice --user-sessions leaves each session room for a page that comes
   * back to resume it. */
  if (count_user_relays(app, pss->user.id) >= 2 * app->cfg.user_sessions) {
    log_warn("websocket refused: %s already has %d WebSockets", pss->user.name,
             2 * app->cfg.user_sessions);
    refuse_busy(wsi, "you have too many WebSockets open (twice --user-sessions)");
    goto done;
  }
  if (!(pss->usage = usage_user(app->usage, pss->user.id))) {
    refuse_busy(wsi, "the database failed");
    goto done;
  }
  rc = 0;
done:
  free(cookie);
  return rc;
}

static int ws_writeable(struct lws *wsi, struct relay *r) {
  unsigned char *out;
  size_t out_len;
  struct ctl_msg *m = STAILQ_FIRST(&r->ctl);
  if (m) {
    if (lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len) return -1;
    STAILQ_REMOVE_HEAD(&r->ctl, next);
    r->ctl_bytes -= m->len;
    free(m);
    relay_update_tcp_rx(r);
  } else if (r->watcher && !r->closing && watch_next(r->watcher, LWS_PRE, &out, &out_len) == 1) {
    int rc = lws_write(wsi, out + LWS_PRE, out_len, LWS_WRITE_TEXT);
    free(out);
    if (rc < (int)out_len) return -1;
  } else if (ring_len(&r->to_ws)) {
    if (relay_ws_send_payload(r)) return -1;
  } else if (r->closing && !r->final_sent) {
    size_t n = r->final_msg ? strlen(r->final_msg) : 0;
    r->final_sent = 1;
    if (n) {
      unsigned char *frame = malloc(LWS_PRE + n);
      int rc;
      if (!frame) return -1;
      memcpy(frame + LWS_PRE, r->final_msg, n);
      rc = lws_write(wsi, frame + LWS_PRE, n, LWS_WRITE_TEXT);
      free(frame);
      if (rc < (int)n) return -1;
    }
  } else if (r->closing) {
    lws_close_reason(wsi, r->close_code, (unsigned char *)r->close_reason, strlen(r->close_reason));
    return -1;
  } else {
    return 0;
  }
  lws_callback_on_writable(wsi);
  return 0;
}

/* A whole message: payload for the target, or a control message. */
static void ws_message(struct relay *r, int binary, const unsigned char *p, size_t n) {
  if (!binary) {
    handle_control(r, (const char *)p, n);
    return;
  }
  handle_payload(r, p, n);
  if (r->state != RS_DONE) relay_tcp_flush_deferred(r);
}

static int ws_receive(struct lws *wsi, struct ws_pss *pss, const unsigned char *in, size_t len) {
  struct relay *r = pss->relay;
  if (!pss->in_msg) {
    pss->in_msg = 1;
    pss->msg_len = 0;
    pss->msg_binary = lws_frame_is_binary(wsi);
    buf_consume(&pss->msg, buf_len(&pss->msg));
  }
  /* The frame's announced length counts before any of it is used. */
  size_t remaining = lws_remaining_packet_payload(wsi);
  if (pss->msg_len + len + remaining > LIM_WS_MESSAGE_BYTES) {
    log_warn("websocket message over %d bytes from %s", LIM_WS_MESSAGE_BYTES, r->user.name);
    relay_fail(r, "message_too_big", "message_too_big",
               "a WebSocket message may be at most %d bytes", LIM_WS_MESSAGE_BYTES);
    pss->msg_too_big = 1;
    buf_free(&pss->msg); /* what was held of it goes nowhere */
    return 0;
  }
  pss->msg_len += len;
  int whole = lws_is_final_fragment(wsi) && !remaining;
  /* A message in one piece (nearly always) is used where lws put it. One
   * in pieces (WebSocket fragments, or a frame lws reads in parts) is
   * collected and used once whole: the sum of fragments is known only at
   * the last one, and no byte of a message over the cap may reach the
   * target. The hold is at most LIM_WS_MESSAGE_BYTES and is freed once
   * used, so an idle session holds no message buffer. Payload that cannot
   * go anywhere (no session yet, or it is over) is not held: it is refused
   * or dropped at once, as before. */
  if (whole && pss->msg_len == len) {
    pss->in_msg = 0;
    ws_message(r, pss->msg_binary, in, len);
    return 0;
  }
  if (pss->msg_binary && (r->state == RS_IDLE || r->state == RS_DONE || r->pending_reason[0])) {
    buf_free(&pss->msg); /* the session ended while the message came */
    handle_payload(r, in, len);
    if (whole) pss->in_msg = 0;
    return 0;
  }
  if (buf_append(&pss->msg, in, len)) return -1; /* out of memory: its limit is the message's */
  if (!whole) return 0;
  pss->in_msg = 0;
  ws_message(r, pss->msg_binary, buf_head(&pss->msg), buf_len(&pss->msg));
  buf_free(&pss->msg);
  return 0;
}

int relay_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len) {
  struct ws_pss *pss = user;
  struct app *app;
  struct relay *r;
  switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
      return ws_check(wsi, pss) ? 1 : 0;

    case LWS_CALLBACK_ESTABLISHED:
      app = relay_app_of(wsi);
      r = calloc(1, sizeof *r);
      if (!r) return -1;
      r->app = app;
      r->key = ++app->next_relay_key;
      r->ws = wsi;
      r->user = pss->user;
      memcpy(r->login_hash, pss->login_hash, sizeof r->login_hash);
      r->usage = pss->usage;
      r->is_teacher = strcmp(pss->user.role, "teacher") == 0;
      memcpy(r->addr_key, pss->addr_key, sizeof r->addr_key);
      r->listen_only = pss->listen_only;
      r->last_activity = app_mono_us();
      STAILQ_INIT(&r->ctl);
      ring_init(&r->to_tcp, LIM_RELAY_BUF_CAP, 0);
      /* A resume puts up to LIM_RELAY_REPLAY_BYTES back in front of the queue. */
      ring_init(&r->to_ws, LIM_RELAY_BUF_CAP + LIM_RELAY_REPLAY_BYTES, LIM_RELAY_REPLAY_BYTES);
      buf_init(&pss->msg, LIM_WS_MESSAGE_BYTES);
      r->next = app->relays;
      app->relays = r;
      app->relay_count++;
      pss->relay = r;
      return 0;

    case LWS_CALLBACK_RECEIVE:
      if (!pss->relay || pss->msg_too_big) return 0;
      return ws_receive(wsi, pss, in, len);

    case LWS_CALLBACK_SERVER_WRITEABLE:
      if (!pss->relay) return -1;
      return ws_writeable(wsi, pss->relay);

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (len >= 2)
        pss->peer_close = ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
      return 0;

    case LWS_CALLBACK_CLOSED:
      r = pss->relay;
      pss->relay = NULL;
      buf_free(&pss->msg);
      if (!r) break;
      r->ws = NULL;
      if (r->state == RS_OPEN && !r->pending_reason[0] && r->app->phase == APP_RUNNING &&
          pss->peer_close != LWS_CLOSE_STATUS_NORMAL) {
        /* Dropped or the page went away (1001), not hung up (1000): keep
         * the session for a page that comes back. */
        r->detached_at = app_mono_us();
        r->ws_paused = 0;
        relay_note(r, "the browser went away; the session waits %d s for it",
                   LIM_RELAY_RESUME_SECS);
        break;
      }
      relay_finish(r, r->pending_reason[0] ? r->pending_reason : "client_disconnected", NULL,
                   LWS_CLOSE_STATUS_NORMAL);
      relay_free(r);
      break;

    default:
      break;
  }
  return 0;
}

/* --- timers and shutdown --------------------------------------------------- */

void relay_tick(struct app *app) {
  int64_t now = app_mono_us();
  usage_tick(app->usage, now);
  watch_tick(app->watch, now);
  for (struct relay *r = app->relays, *next; r; r = next) {
    next = r->next;
    if (!r->ws && r->detached_at &&
        (r->state == RS_DONE || now - r->detached_at >= LIM_RELAY_RESUME_SECS * 1000000LL)) {
      relay_finish(r, "client_disconnected", NULL, LWS_CLOSE_STATUS_NORMAL);
      relay_free(r); /* nobody came back for it */
      continue;
    }
    switch (r->state) {
      case RS_RESOLVING:
      case RS_CONNECTING:
        if (now >= r->connect_deadline)
          relay_fail(r, "connect_failed", "connect_timeout",
                     "connecting to %s:%d timed out after %d s", r->host, r->port,
                     app->cfg.connect_timeout);
        break;
      case RS_IDLE:
      case RS_OPEN:
        if (r->watcher || r->listening) break; /* no session: the WebSocket's pings suffice */
        relay_update_tcp_rx(r);                /* the recorder may have caught up */
        if (r->pending_reason[0]) {
          if (now >= r->drain_deadline)
            relay_finish(r, r->pending_reason, NULL, LWS_CLOSE_STATUS_NORMAL);
        } else if (now - r->last_activity >= app->cfg.idle_timeout * 1000000LL)
          relay_finish(r, "idle_timeout", NULL, LWS_CLOSE_STATUS_NORMAL);
        else if (r->state == RS_OPEN && now - r->start_mono >= app->cfg.session_timeout * 1000000LL)
          relay_finish(r, "session_timeout", NULL, LWS_CLOSE_STATUS_NORMAL);
        break;
      case RS_DONE:
        break;
    }
  }
}

void relay_logout(struct app *app, const unsigned char login_hash[32]) {
  for (struct relay *r = app->relays; r; r = r->next)
    if (r->state != RS_DONE && crypto_ct_equal(r->login_hash, login_hash, 32))
      relay_finish(r, "logged_out", NULL, LWS_CLOSE_STATUS_NORMAL);
}

void relay_shutdown_all(struct app *app) {
  for (struct relay *r = app->relays; r; r = r->next)
    relay_finish(r, "server_shutdown", NULL, LWS_CLOSE_STATUS_NORMAL);
}

/* --- the live view's replay -------------------------------------------------- */

struct fetch_ctx {
  int (*cb)(void *arg, const struct db_event *e);
  void *arg;
  int64_t last;
  int n, stopped;
};

static int fetch_one(void *arg, const struct db_event *e) {
  struct fetch_ctx *c = arg;
  c->last = e->seq;
  c->n++;
  c->stopped = c->cb(c->arg, e) != 0;
  return c->stopped;
}

/* The database holds a prefix of what was recorded, the recorder's queue
 * the rest (both on this thread, so nothing moves in between). */
static int watch_fetch(void *arg, int64_t session_id, int64_t after_seq, int64_t up_to_seq,
                       int limit, int (*cb)(void *cbarg, const struct db_event *e), void *cbarg) {
  struct app *app = arg;
  struct fetch_ctx c = {cb, cbarg, after_seq, 0, 0};
  if (db_events_page(app->db, session_id, after_seq, up_to_seq, limit, fetch_one, &c)) return -1;
  if (c.stopped || c.n >= limit) return 0;
  return recorder_each_event(app->recorder, session_id, c.last, up_to_seq, limit - c.n, fetch_one,
                             &c);
}

struct watch *relay_watch_new(struct app *app) {
  return watch_new(watch_fetch, app);
}

int relay_live_counters(struct app *app, int64_t session_id, int64_t *up, int64_t *down) {
  for (struct relay *r = app->relays; r; r = r->next)
    if (r->session_id == session_id && r->state != RS_DONE) {
      *up = r->bytes_up;
      *down = r->bytes_down;
      return 0;
    }
  return -1;
}

int relay_end_user(struct app *app, int64_t user_id, const char *reason) {
  int n = 0;
  for (struct relay *r = app->relays; r; r = r->next)
    if (r->state != RS_DONE && r->user.id == user_id) {
      relay_finish(r, reason, NULL, LWS_CLOSE_STATUS_NORMAL);
      n++;
    }
  return n;
}
