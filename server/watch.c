/* watch.c -- the teacher's live view: watchers, their bounded queues, gaps.
 *
 * Each watcher has three lists, written in this order: session messages
 * (at most one per session, replaced in place, so a stalled watcher holds
 * at most one per session), the replay of a watched session (one page at a
 * time, read through the fetch function only when the socket can take
 * more), and the live queue of events and gaps. Only the live queue can
 * grow with traffic, so only it has a cap: an event that does not fit
 * drops the oldest events first. A dropped event becomes a gap item in its
 * place, or widens the gap of its session that already waits there: every
 * item before the oldest event is a gap or nothing, so the search is
 * bounded by the number of sessions, not by the queue.
 *
 * A session message may therefore overtake the events before it; the
 * page keys everything by session id and seq, so order between the two
 * kinds does not matter to it.
 */
#include "watch.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "jsontime.h"
#include "portlab_limits.h"

/* Bytes an event costs in a queue besides its payload, so a flood of
 * one-byte events is bounded as well. */
#define ITEM_COST 64

enum item_kind { ITEM_EVENT, ITEM_GAP, ITEM_SESSION };

struct item {
  struct item *next;
  enum item_kind kind;
  int64_t session_id;
  int64_t seq, t_us;        /* event */
  int64_t from_seq, to_seq; /* gap */
  int dir;
  size_t len;
  unsigned char data[]; /* event payload, or a struct watch_session */
};

struct list {
  struct item *head, *tail;
};

struct watcher {
  struct watcher *next;
  struct watch *watch;
  int64_t session_id; /* 0: the class */
  watch_wake_fn wake;
  void *wake_arg;
  struct list sessions, replay, live;
  size_t bytes, cap; /* live queue cost, its cap */
  int replaying;
  int64_t replay_next, replay_to;
  uint64_t dropped;
};

struct watch_entry {
  struct watch_entry *next, *prev;
  struct watch_session s;
  int64_t last_sent_us;
  int dirty;
};

struct watch {
  struct watcher *watchers;
  struct watch_entry *entries;
  watch_fetch_fn fetch;
  void *fetch_arg;
};

/* --- lists --------------------------------------------------------------- */

static void list_push(struct list *l, struct item *it) {
  it->next = NULL;
  if (l->tail)
    l->tail->next = it;
  else
    l->head = it;
  l->tail = it;
}

static struct item *list_pop(struct list *l) {
  struct item *it = l->head;
  if (!it) return NULL;
  l->head = it->next;
  if (!l->head) l->tail = NULL;
  return it;
}

static void list_clear(struct list *l) {
  struct item *it;
  while ((it = list_pop(l))) free(it);
}

static struct item *item_new(enum item_kind kind, int64_t session_id, size_t len) {
  struct item *it = calloc(1, sizeof *it + len);
  if (!it) return NULL;
  it->kind = kind;
  it->session_id = session_id;
  it->len = len;
  return it;
}

static struct item *event_item(int64_t session_id, int64_t seq, int64_t t_us, int dir,
                               const void *data, size_t len) {
  struct item *it = item_new(ITEM_EVENT, session_id, len);
  if (!it) return NULL;
  it->seq = seq;
  it->t_us = t_us;
  it->dir = dir;
  if (len) memcpy(it->data, data, len);
  return it;
}

static struct item *gap_item(int64_t session_id, int64_t from_seq, int64_t to_seq) {
  struct item *it = item_new(ITEM_GAP, session_id, 0);
  if (!it) return NULL;
  it->from_seq = from_seq;
  it->to_seq = to_seq;
  return it;
}

/* --- the live queue -------------------------------------------------------- */

/* Drops the oldest event of the live queue, leaving a gap in its place.
 * Returns 0, or -1 if there is no event to drop. */
static int drop_oldest(struct watcher *v) {
  struct item *prev = NULL, *it, *gap = NULL;
  for (it = v->live.head; it && it->kind != ITEM_EVENT; prev = it, it = it->next) {
  }
  if (!it) return -1;
  /* Before the oldest event there are only gaps, at most one per session. */
  for (struct item *g = v->live.head; g != it; g = g->next)
    if (g->session_id == it->session_id && g->to_seq == it->seq - 1) gap = g;
  v->bytes -= it->len + ITEM_COST;
  v->dropped++;
  if (gap) {
    gap->to_seq = it->seq;
    if (prev)
      prev->next = it->next;
    else
      v->live.head = it->next;
    if (v->live.tail == it) v->live.tail = prev;
    free(it);
    return 0;
  }
  /* The event becomes its own gap, in the same place. */
  it->kind = ITEM_GAP;
  it->from_seq = it->to_seq = it->seq;
  it->len = 0;
  return 0;
}

static void push_event(struct watcher *v, int64_t session_id, int64_t seq, int64_t t_us, int dir,
                       const void *data, size_t len) {
  size_t cost = len + ITEM_COST;
  while (v->bytes + cost > v->cap && drop_oldest(v) == 0) {
  }
  struct item *it = NULL;
  if (v->bytes + cost <= v->cap) it = event_item(session_id, seq, t_us, dir, data, len);
  if (it) {
    v->bytes += cost;
  } else { /* larger than the whole queue, or no memory: it is a gap itself */
    v->dropped++;
    struct item *last = v->live.tail;
    if (last && last->kind == ITEM_GAP && last->session_id == session_id &&
        last->to_seq == seq - 1) {
      last->to_seq = seq;
      if (v->wake) v->wake(v->wake_arg);
      return;
    }
    if (!(it = gap_item(session_id, seq, seq))) return;
  }
  list_push(&v->live, it);
  if (v->wake) v->wake(v->wake_arg);
}

/* Queues s, replacing a session message of the same session still queued. */
static void push_session(struct watcher *v, const struct watch_session *s) {
  for (struct item *it = v->sessions.head; it; it = it->next) {
    if (it->session_id == s->session.id) {
      memcpy(it->data, s, sizeof *s);
      return;
    }
  }
  struct item *it = item_new(ITEM_SESSION, s->session.id, sizeof *s);
  if (!it) return;
  memcpy(it->data, s, sizeof *s);
  list_push(&v->sessions, it);
  if (v->wake) v->wake(v->wake_arg);
}

static int wants(const struct watcher *v, int64_t session_id) {
  return v->session_id == 0 || v->session_id == session_id;
}

/* --- the watch ------------------------------------------------------------- */

struct watch *watch_new(watch_fetch_fn fetch, void *fetch_arg) {
  struct watch *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->fetch = fetch;
  w->fetch_arg = fetch_arg;
  return w;
}

void watch_free(struct watch *w) {
  if (!w) return;
  while (w->watchers) watch_remove(w->watchers);
  while (w->entries) {
    struct watch_entry *e = w->entries;
    w->entries = e->next;
    free(e);
  }
  free(w);
}

static void send_to_watchers(struct watch *w, const struct watch_session *s) {
  for (struct watcher *v = w->watchers; v; v = v->next)
    if (wants(v, s->session.id)) push_session(v, s);
}

struct watch_entry *watch_session_open(struct watch *w, const struct watch_session *s,
                                       int64_t now_us) {
  if (!w) return NULL;
  struct watch_entry *e = calloc(1, sizeof *e);
  if (e) {
    e->s = *s;
    e->last_sent_us = now_us;
    e->next = w->entries;
    if (w->entries) w->entries->prev = e;
    w->entries = e;
  }
  send_to_watchers(w, s);
  return e;
}

void watch_session_update(struct watch *w, struct watch_entry *e, const struct watch_session *s,
                          int64_t now_us) {
  if (!w || !e) return;
  e->s = *s;
  e->dirty = 1;
  if (now_us - e->last_sent_us < LIM_WATCH_SESSION_MS * 1000LL) return; /* the tick sends it */
  e->dirty = 0;
  e->last_sent_us = now_us;
  send_to_watchers(w, &e->s);
}

void watch_session_end(struct watch *w, struct watch_entry *e, const struct watch_session *s) {
  if (!w) return;
  if (e) {
    if (e->prev)
      e->prev->next = e->next;
    else
      w->entries = e->next;
    if (e->next) e->next->prev = e->prev;
    free(e);
  }
  send_to_watchers(w, s);
}

void watch_tick(struct watch *w, int64_t now_us) {
  if (!w) return;
  for (struct watch_entry *e = w->entries; e; e = e->next) {
    if (!e->dirty || now_us - e->last_sent_us < LIM_WATCH_SESSION_MS * 1000LL) continue;
    e->dirty = 0;
    e->last_sent_us = now_us;
    send_to_watchers(w, &e->s);
  }
}

void watch_event(struct watch *w, int64_t session_id, int64_t seq, int64_t t_us, int dir,
                 const void *data, size_t len) {
  if (!w) return;
  for (struct watcher *v = w->watchers; v; v = v->next)
    if (wants(v, session_id) && seq > v->replay_to) /* replayed ones are not live */
      push_event(v, session_id, seq, t_us, dir, data, len);
}

struct watcher *watch_add(struct watch *w, int64_t session_id, int64_t replay_to, size_t cap,
                          watch_wake_fn wake, void *wake_arg) {
  struct watcher *v = calloc(1, sizeof *v);
  if (!v) return NULL;
  v->watch = w;
  v->session_id = session_id;
  v->cap = cap;
  v->wake = wake;
  v->wake_arg = wake_arg;
  if (session_id && replay_to > 0) {
    v->replaying = 1;
    v->replay_next = 1;
    v->replay_to = replay_to;
  }
  v->next = w->watchers;
  w->watchers = v;
  for (struct watch_entry *e = w->entries; e; e = e->next)
    if (wants(v, e->s.session.id)) push_session(v, &e->s);
  if (v->replaying && wake) wake(wake_arg);
  return v;
}

void watch_remove(struct watcher *v) {
  if (!v) return;
  for (struct watcher **pp = &v->watch->watchers; *pp; pp = &(*pp)->next) {
    if (*pp == v) {
      *pp = v->next;
      break;
    }
  }
  list_clear(&v->sessions);
  list_clear(&v->replay);
  list_clear(&v->live);
  free(v);
}

void watch_send_session(struct watcher *v, const struct watch_session *s) {
  if (v) push_session(v, s);
}

size_t watch_queued_bytes(const struct watcher *v) {
  return v ? v->bytes : 0;
}

uint64_t watch_dropped(const struct watcher *v) {
  return v ? v->dropped : 0;
}

int watch_watchers(const struct watch *w) {
  int n = 0;
  for (const struct watcher *v = w ? w->watchers : NULL; v; v = v->next) n++;
  return n;
}

/* --- replay ---------------------------------------------------------------- */

struct replay_page {
  struct watcher *v;
  int events;
  size_t bytes;
  int failed;
};

static int replay_one(void *arg, const struct db_event *e) {
  struct replay_page *pg = arg;
  struct watcher *v = pg->v;
  struct item *it;
  if (e->seq < v->replay_next || e->seq > v->replay_to) return 0;
  if (e->seq > v->replay_next) { /* a hole in what is stored: say so */
    if (!(it = gap_item(v->session_id, v->replay_next, e->seq - 1))) goto fail;
    list_push(&v->replay, it);
  }
  if (!(it = event_item(v->session_id, e->seq, e->t_us, e->dir, e->data, e->len))) goto fail;
  list_push(&v->replay, it);
  v->replay_next = e->seq + 1;
  pg->events++;
  pg->bytes += e->len;
  return pg->bytes >= LIM_WATCH_REPLAY_BYTES;
fail:
  pg->failed = 1;
  return 1;
}

/* Reads the next page of the replay; ends the replay when nothing is left. */
static void replay_step(struct watcher *v) {
  struct watch *w = v->watch;
  struct replay_page pg = {v, 0, 0, 0};
  if (w->fetch)
    w->fetch(w->fetch_arg, v->session_id, v->replay_next - 1, v->replay_to, LIM_EXPORT_STEP_EVENTS,
             replay_one, &pg);
  if (pg.failed || pg.events > 0) return;
  /* Nothing more is stored: what was promised and is missing is a gap. */
  if (v->replay_to != INT64_MAX && v->replay_next <= v->replay_to) {
    struct item *it = gap_item(v->session_id, v->replay_next, v->replay_to);
    if (it) list_push(&v->replay, it);
  }
  v->replaying = 0;
}

/* --- formatting ------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t base64(const unsigned char *p, size_t n, char *out) {
  size_t o = 0, i;
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = b64[(v >> 6) & 63];
    out[o++] = b64[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
    out[o++] = b64[v >> 18];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  return o;
}

static char *session_text(const struct watch_session *s) {
  cJSON *root = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(root, "session");
  cJSON_AddStringToObject(root, "type", "session");
  json_add_session(o, &s->session, 0);
  cJSON_AddStringToObject(o, "state", s->session.ended_us ? "ended" : "open");
  json_add_time(o, "last_activity_at", s->last_activity_us);
  char *text = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return text;
}

static const char *dir_name(int dir) {
  dir = DB_DIR_BASE(dir);
  return dir == DB_DIR_C2S ? "c2s" : dir == DB_DIR_S2C ? "s2c" : "note";
}

/* The item as JSON into a fresh buffer with pre bytes in front. */
static int format_item(const struct item *it, size_t pre, unsigned char **out, size_t *len) {
  char *text = NULL;
  size_t n, room;
  unsigned char *buf;
  if (it->kind == ITEM_SESSION) {
    if (!(text = session_text((const struct watch_session *)it->data))) return -1;
    n = strlen(text);
    if (!(buf = malloc(pre + n + 1))) goto fail;
    memcpy(buf + pre, text, n + 1);
    free(text);
    *out = buf;
    *len = n;
    return 1;
  }
  room = 200 + (it->len + 2) / 3 * 4;
  if (!(buf = malloc(pre + room))) return -1;
  char *p = (char *)buf + pre;
  if (it->kind == ITEM_GAP) {
    n = (size_t)snprintf(p, room,
                         "{\"type\":\"gap\",\"session_id\":%lld,\"from_seq\":%lld,\"to_seq\":%lld}",
                         (long long)it->session_id, (long long)it->from_seq, (long long)it->to_seq);
  } else {
    n = (size_t)snprintf(p, room,
                         "{\"type\":\"event\",\"session_id\":%lld,\"seq\":%lld,\"t_us\":%lld,"
                         "\"dir\":\"%s\",%s\"data_b64\":\"",
                         (long long)it->session_id, (long long)it->seq, (long long)it->t_us,
                         dir_name(it->dir), DB_DIR_IS_WIRE(it->dir) ? "\"layer\":\"wire\"," : "");
    n += base64(it->data, it->len, p + n);
    memcpy(p + n, "\"}", 3);
    n += 2;
  }
  *out = buf;
  *len = n;
  return 1;
fail:
  free(text);
  return -1;
}

int watch_next(struct watcher *v, size_t pre, unsigned char **out, size_t *len) {
  struct item *it;
  int rc;
  if (!v) return 0;
  if ((it = v->sessions.head)) {
    rc = format_item(it, pre, out, len);
    if (rc == 1) free(list_pop(&v->sessions));
    return rc;
  }
  if (v->replaying && !v->replay.head) replay_step(v);
  if ((it = v->replay.head)) {
    rc = format_item(it, pre, out, len);
    if (rc == 1) free(list_pop(&v->replay));
    return rc;
  }
  if (v->replaying) return 0; /* a page could not be read; try on the next call */
  if ((it = v->live.head)) {
    rc = format_item(it, pre, out, len);
    if (rc != 1) return rc;
    list_pop(&v->live);
    if (it->kind == ITEM_EVENT) v->bytes -= it->len + ITEM_COST;
    free(it);
    return 1;
  }
  return 0;
}
