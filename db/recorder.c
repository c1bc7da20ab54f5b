/* recorder.c -- batches transcript events and session ends into SQLite.
 *
 * The relay must never wait for the disk per keystroke, so every event and
 * session end is copied into a FIFO and written later, all in one
 * transaction, in the order it arrived. A flush that fails is rolled back
 * and then retried one item at a time, each in its own transaction: an
 * item the database refuses for what it is (a constraint, such as an event
 * for a session that does not exist) is dropped and counted, so one bad
 * item cannot block the queue forever; an error that may pass (busy, disk
 * full) stops the flush with the rest kept for the next one. While flushes
 * keep failing the queue is capped, and the oldest events go first;
 * session ends are never dropped, because a session without its end looks
 * like a crash and a few of them cost nothing.
 */
#include "recorder.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "portlab_limits.h"

#define RECORDER_CAP (8 * LIM_RECORDER_BATCH)
/* Events handed to db_events_append() per call; a stack array, so a flush
 * allocates nothing. */
#define RECORDER_RUN 64

enum recorder_kind { RECORDER_EVENT, RECORDER_END };

struct recorder_item {
  struct recorder_item *next;
  enum recorder_kind kind;
  int64_t session_id;
  int64_t seq;      /* event */
  int64_t t_us;     /* event */
  int dir;          /* event */
  int64_t ended_us; /* end */
  int64_t bytes_up, bytes_down;
  size_t len;           /* event payload bytes, or the end reason's length */
  unsigned char data[]; /* event payload, or the end reason with its NUL */
};

struct recorder {
  struct db *db;
  struct recorder_item *head, *tail;
  size_t count;
  uint64_t dropped;
};

struct recorder *recorder_new(struct db *db) {
  struct recorder *r = calloc(1, sizeof *r);

  if (!r) return NULL;
  r->db = db;
  return r;
}

static struct recorder_item *recorder_pop(struct recorder *r) {
  struct recorder_item *it = r->head;

  r->head = it->next;
  if (!r->head) r->tail = NULL;
  r->count--;
  return it;
}

static void recorder_clear(struct recorder *r) {
  while (r->head) free(recorder_pop(r));
}

void recorder_free(struct recorder *r) {
  if (!r) return;
  /* Whatever still fails here is lost with the process anyway. */
  recorder_flush(r);
  recorder_clear(r);
  free(r);
}

/* Drops the oldest queued event to make room. Returns 0, or -1 if the
 * queue holds only session ends. */
static int recorder_drop_oldest_event(struct recorder *r) {
  struct recorder_item *prev = NULL, *it;

  for (it = r->head; it; prev = it, it = it->next) {
    if (it->kind != RECORDER_EVENT) continue;
    if (prev) {
      prev->next = it->next;
    } else {
      r->head = it->next;
    }
    if (r->tail == it) r->tail = prev;
    r->count--;
    r->dropped++;
    free(it);
    return 0;
  }
  return -1;
}

static struct recorder_item *recorder_alloc(size_t extra) {
  struct recorder_item *it;

  if (extra > SIZE_MAX - sizeof *it) return NULL;
  it = calloc(1, sizeof *it + extra);
  return it;
}

static void recorder_push(struct recorder *r, struct recorder_item *it) {
  if (r->tail) {
    r->tail->next = it;
  } else {
    r->head = it;
  }
  r->tail = it;
  r->count++;
}

int recorder_event(struct recorder *r, int64_t session_id, int64_t seq, int64_t t_us, int dir,
                   const void *data, size_t len) {
  struct recorder_item *it;

  if (!r) return -1;
  if (!data && len) goto fail;
  /* Make room first. With only session ends queued, the new event is the
   * oldest event there is, so it is the one that goes. */
  if (r->count >= RECORDER_CAP && recorder_drop_oldest_event(r) != 0) {
    r->dropped++;
    return 0;
  }
  it = recorder_alloc(len);
  if (!it) goto fail;
  it->kind = RECORDER_EVENT;
  it->session_id = session_id;
  it->seq = seq;
  it->t_us = t_us;
  it->dir = dir;
  it->len = len;
  if (len) memcpy(it->data, data, len);
  recorder_push(r, it);
  return 0;

fail:
  r->dropped++;
  return -1;
}

int recorder_session_end(struct recorder *r, int64_t session_id, int64_t ended_us, int64_t bytes_up,
                         int64_t bytes_down, const char *reason) {
  struct recorder_item *it;
  size_t rlen;

  if (!r) return -1;
  if (!reason) reason = "";
  rlen = strlen(reason);
  /* An end is always queued, but still makes room if an event can go. */
  if (r->count >= RECORDER_CAP) recorder_drop_oldest_event(r);
  it = recorder_alloc(rlen + 1);
  if (!it) {
    r->dropped++;
    return -1;
  }
  it->kind = RECORDER_END;
  it->session_id = session_id;
  it->ended_us = ended_us;
  it->bytes_up = bytes_up;
  it->bytes_down = bytes_down;
  it->len = rlen;
  memcpy(it->data, reason, rlen + 1);
  recorder_push(r, it);
  return 0;
}

int recorder_should_flush(const struct recorder *r) {
  return r && r->count >= LIM_RECORDER_BATCH;
}

size_t recorder_pending(const struct recorder *r) {
  return r ? r->count : 0;
}

uint64_t recorder_dropped(const struct recorder *r) {
  return r ? r->dropped : 0;
}

static void recorder_to_db_event(const struct recorder_item *it, struct db_event *e) {
  e->session_id = it->session_id;
  e->seq = it->seq;
  e->t_us = it->t_us;
  e->dir = it->dir;
  e->data = it->data;
  e->len = it->len;
}

int recorder_each_event(const struct recorder *r, int64_t session_id, int64_t after_seq,
                        int64_t up_to_seq, int limit,
                        int (*cb)(void *arg, const struct db_event *e), void *arg) {
  struct db_event e;
  int n = 0;

  for (const struct recorder_item *it = r ? r->head : NULL; it && n < limit; it = it->next) {
    if (it->kind != RECORDER_EVENT || it->session_id != session_id || it->seq <= after_seq ||
        it->seq > up_to_seq)
      continue;
    recorder_to_db_event(it, &e);
    n++;
    if (cb(arg, &e)) break;
  }
  return 0;
}

static int recorder_write_end(struct recorder *r, const struct recorder_item *it) {
  return db_session_finish(r->db, it->session_id, it->ended_us, it->bytes_up, it->bytes_down,
                           (const char *)it->data);
}

/* Writes the whole queue inside the caller's transaction, runs of events
 * together, each end in its place so it follows its events. */
static int recorder_write_all(struct recorder *r) {
  struct db_event run[RECORDER_RUN];
  size_t n = 0;
  const struct recorder_item *it;

  for (it = r->head; it; it = it->next) {
    if (it->kind == RECORDER_EVENT) {
      recorder_to_db_event(it, &run[n++]);
      if (n < RECORDER_RUN) continue;
    }
    if (n && db_events_append(r->db, run, n) != 0) return -1;
    n = 0;
    if (it->kind == RECORDER_END && recorder_write_end(r, it) != 0) return -1;
  }
  if (n && db_events_append(r->db, run, n) != 0) return -1;
  return 0;
}

/* The slow path after a failed batch: one item per transaction, so the
 * item at fault can be told apart from the good ones. */
static int recorder_write_one_by_one(struct recorder *r) {
  struct db_event e;
  int rc;

  while (r->head) {
    const struct recorder_item *it = r->head;

    if (it->kind == RECORDER_EVENT) {
      recorder_to_db_event(it, &e);
      rc = db_events_append(r->db, &e, 1);
    } else {
      rc = recorder_write_end(r, it);
    }
    if (rc != 0) {
      if (!db_error_permanent(r->db)) return -1;
      r->dropped++;
    }
    free(recorder_pop(r));
  }
  return 0;
}

int recorder_flush(struct recorder *r) {
  if (!r || !r->head) return 0;

  /* Nothing was written if the transaction could not even start (another
   * writer held the lock past the busy timeout): keep it all for the next
   * flush rather than wait once more per item. */
  if (db_begin(r->db) != 0) return -1;
  if (recorder_write_all(r) == 0 && db_commit(r->db) == 0) {
    recorder_clear(r);
    return 0;
  }
  db_rollback(r->db);
  return recorder_write_one_by_one(r);
}
