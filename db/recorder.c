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
 *
 * With a writer thread (recorder_start_writer) the loop never waits for the
 * disk: recorder_kick() hands the whole queue to the writer, which writes it
 * through its own connection while the loop goes on queueing. At most one
 * batch is in flight; the loop takes the writer's result back (frees what
 * was written, puts back what must be retried) on its next kick. Items in
 * flight stay readable by the loop (recorder_each_event), because only the
 * loop frees them. The queue is then capped by bytes, not by count; what
 * is dropped past the cap is counted and logged, never silently lost.
 */
#include "recorder.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
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
  size_t bytes; /* payload bytes queued (the cap with a writer) */
  uint64_t dropped;
  uint64_t dropped_logged;
  /* The writer thread, if started. The batch in flight (fl_*) belongs to
   * the writer from the hand-off until it sets written; the loop only
   * reads it meanwhile. fl_done: items at its front that are finished
   * (written or refused for good); the rest is retried. */
  int threaded;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cv;
  struct db *wdb;
  struct recorder_item *fl_head, *fl_tail;
  size_t fl_count, fl_bytes, fl_done;
  uint64_t fl_dropped;
  int busy, written, stop;
  int lagging; /* see recorder_lagging */
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
  if (it->kind == RECORDER_EVENT) r->bytes -= it->len;
  return it;
}

static void recorder_clear(struct recorder *r) {
  while (r->head) free(recorder_pop(r));
}

static void recorder_collect(struct recorder *r);

void recorder_free(struct recorder *r) {
  if (!r) return;
  if (r->threaded) {
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    recorder_collect(r);
    db_close(r->wdb);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cv);
    r->threaded = 0;
  }
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
    r->bytes -= it->len;
    r->dropped++;
    free(it);
    return 0;
  }
  return -1;
}

static struct recorder_item *recorder_alloc(size_t extra) {
  struct recorder_item *it;

  if (extra > SIZE_MAX - sizeof *it) return NULL;
  /* Only the header is cleared: the payload is copied over at once. */
  it = malloc(sizeof *it + extra);
  if (it) memset(it, 0, sizeof *it);
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
  if (it->kind == RECORDER_EVENT) r->bytes += it->len;
}

/* Full: by count without a writer (the flush is synchronous, so only a
 * failing database fills it), by bytes with one (the disk may be slower
 * than the sessions for a while). */
static int recorder_full(const struct recorder *r, size_t adding) {
  if (!r->threaded) return r->count >= RECORDER_CAP;
  return r->bytes + adding > LIM_RECORDER_QUEUE_BYTES;
}

/* Drops are counted, and said in the log at most once per kick. */
static void recorder_log_drops(struct recorder *r) {
  if (r->dropped == r->dropped_logged) return;
  log_warn("recorder: %llu events dropped so far (the database cannot keep up or fails)",
           (unsigned long long)r->dropped);
  r->dropped_logged = r->dropped;
}

int recorder_event(struct recorder *r, int64_t session_id, int64_t seq, int64_t t_us, int dir,
                   const void *data, size_t len) {
  struct recorder_item *it;

  if (!r) return -1;
  if (!data && len) goto fail;
  /* Make room first. With only session ends queued, the new event is the
   * oldest event there is, so it is the one that goes. */
  while (recorder_full(r, len)) {
    if (recorder_drop_oldest_event(r) != 0) {
      r->dropped++;
      return 0;
    }
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
  if (recorder_full(r, 0)) recorder_drop_oldest_event(r);
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
  int in_flight = 0;
  if (!r || r->count < LIM_RECORDER_BATCH) return 0;
  if (r->threaded) { /* while the writer writes, the queue just grows */
    pthread_mutex_lock((pthread_mutex_t *)&r->lock);
    in_flight = r->busy && !r->written;
    pthread_mutex_unlock((pthread_mutex_t *)&r->lock);
  }
  return !in_flight;
}

size_t recorder_pending(const struct recorder *r) {
  return r ? r->count + r->fl_count : 0;
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

  /* The batch in flight is older than the queue; the loop is the only one
   * that frees it, so reading it here is safe while the writer writes. */
  const struct recorder_item *lists[2] = {r ? r->fl_head : NULL, r ? r->head : NULL};
  for (int l = 0; l < 2; l++) {
    for (const struct recorder_item *it = lists[l]; it && n < limit; it = it->next) {
      if (it->kind != RECORDER_EVENT || it->session_id != session_id || it->seq <= after_seq ||
          it->seq > up_to_seq)
        continue;
      recorder_to_db_event(it, &e);
      n++;
      if (cb(arg, &e)) return 0;
    }
  }
  return 0;
}

static int recorder_write_end(struct db *db, const struct recorder_item *it) {
  return db_session_finish(db, it->session_id, it->ended_us, it->bytes_up, it->bytes_down,
                           (const char *)it->data);
}

/* Bytes recorded per session in a batch, for student_usage. */
struct recorder_usage {
  int64_t session_id, bytes;
};

static int recorder_cmp_usage(const void *a, const void *b) {
  int64_t x = ((const struct recorder_usage *)a)->session_id;
  int64_t y = ((const struct recorder_usage *)b)->session_id;
  return x < y ? -1 : x > y;
}

/* One recorded_bytes update per session of the batch, not one per event:
 * with hundreds of sessions interleaved, that update (a sessions lookup
 * and an upsert) cost as much as the event's own insert. */
static int recorder_count_usage(struct db *db, struct recorder_usage *u, size_t n) {
  size_t i = 0;

  qsort(u, n, sizeof *u, recorder_cmp_usage);
  while (i < n) {
    int64_t sid = u[i].session_id, bytes = 0;
    for (; i < n && u[i].session_id == sid; i++) bytes += u[i].bytes;
    if (db_events_count_usage(db, sid, bytes) != 0) return -1;
  }
  return 0;
}

/* Writes a whole list of count items inside the caller's transaction, runs
 * of events together, each end in its place so it follows its events, and
 * the sessions' recorded bytes last. A failure leaves part written: the
 * caller rolls the transaction back. */
static int recorder_write_all(struct db *db, const struct recorder_item *head, size_t count) {
  struct db_event run[RECORDER_RUN];
  size_t n = 0, nu = 0;
  const struct recorder_item *it;
  struct recorder_usage *u = malloc((count ? count : 1) * sizeof *u);
  int rc = -1;

  if (!u) return -1;
  for (it = head; it; it = it->next) {
    if (it->kind == RECORDER_EVENT) {
      if (nu && u[nu - 1].session_id == it->session_id) {
        u[nu - 1].bytes += (int64_t)it->len;
      } else {
        u[nu].session_id = it->session_id;
        u[nu++].bytes = (int64_t)it->len;
      }
      recorder_to_db_event(it, &run[n++]);
      if (n < RECORDER_RUN) continue;
    }
    if (n && db_events_append_tx(db, run, n) != 0) goto out;
    n = 0;
    if (it->kind == RECORDER_END && recorder_write_end(db, it) != 0) goto out;
  }
  if (n && db_events_append_tx(db, run, n) != 0) goto out;
  rc = recorder_count_usage(db, u, nu);
out:
  free(u);
  return rc;
}

/* The slow path after a failed batch: one item per transaction, so the
 * item at fault can be told apart from the good ones. Returns how many
 * items from the front are finished (written or refused for good, those
 * counted into *dropped); it stops at an error that may pass. */
static size_t recorder_write_one_by_one(struct db *db, const struct recorder_item *head,
                                        uint64_t *dropped) {
  struct db_event e;
  size_t done = 0;
  int rc;

  for (const struct recorder_item *it = head; it; it = it->next) {
    if (it->kind == RECORDER_EVENT) {
      recorder_to_db_event(it, &e);
      rc = db_events_append(db, &e, 1);
    } else {
      rc = recorder_write_end(db, it);
    }
    if (rc != 0) {
      if (!db_error_permanent(db)) break;
      (*dropped)++;
    }
    done++;
  }
  return done;
}

/* Writes a list; returns how many items from its front are finished (all
 * of them unless an error that may pass stopped it). */
static size_t recorder_write_list(struct db *db, const struct recorder_item *head, size_t count,
                                  uint64_t *dropped) {
  /* Nothing was written if the transaction could not even start (another
   * writer held the lock past the busy timeout): keep it all for the next
   * flush rather than wait once more per item. */
  if (db_begin(db) != 0) return 0;
  if (recorder_write_all(db, head, count) == 0 && db_commit(db) == 0) return count;
  db_rollback(db);
  return recorder_write_one_by_one(db, head, dropped);
}

/* Writes the queue on the caller's thread and connection. */
static int recorder_flush_here(struct recorder *r) {
  size_t done, count = r->count;
  if (!r->head) return 0;
  done = recorder_write_list(r->db, r->head, count, &r->dropped);
  for (size_t i = 0; i < done; i++) free(recorder_pop(r));
  return done == count ? 0 : -1;
}

/* --- the writer thread ----------------------------------------------------- */

static void *recorder_writer(void *arg) {
  struct recorder *r = arg;
  pthread_mutex_lock(&r->lock);
  for (;;) {
    while (!r->stop && !(r->busy && !r->written)) pthread_cond_wait(&r->cv, &r->lock);
    if (!(r->busy && !r->written)) break; /* stopping with nothing in hand */
    const struct recorder_item *head = r->fl_head;
    size_t count = r->fl_count;
    uint64_t dropped = 0;
    pthread_mutex_unlock(&r->lock);
    size_t done = recorder_write_list(r->wdb, head, count, &dropped);
    pthread_mutex_lock(&r->lock);
    r->fl_done = done;
    r->fl_dropped = dropped;
    r->written = 1;
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

/* Takes a finished batch back: frees what was written, puts what must be
 * retried back in front of the queue (it is older than everything there). */
static void recorder_collect(struct recorder *r) {
  struct recorder_item *rest;
  pthread_mutex_lock(&r->lock);
  int finished = r->busy && r->written;
  pthread_mutex_unlock(&r->lock);
  if (!finished) return;
  r->dropped += r->fl_dropped;
  for (size_t i = 0; i < r->fl_done; i++) {
    struct recorder_item *it = r->fl_head;
    r->fl_head = it->next;
    free(it);
  }
  rest = r->fl_head;
  if (rest) {
    size_t n = 0, bytes = 0;
    struct recorder_item *last = rest;
    for (struct recorder_item *it = rest; it; it = it->next) {
      n++;
      if (it->kind == RECORDER_EVENT) bytes += it->len;
      last = it;
    }
    last->next = r->head;
    r->head = rest;
    if (!r->tail) r->tail = last;
    r->count += n;
    r->bytes += bytes;
  }
  r->fl_head = r->fl_tail = NULL;
  r->fl_count = r->fl_bytes = r->fl_done = 0;
  r->fl_dropped = 0;
  pthread_mutex_lock(&r->lock);
  r->busy = r->written = 0;
  pthread_mutex_unlock(&r->lock);
}

int recorder_lagging(const struct recorder *r) {
  return r && r->lagging;
}

int recorder_start_writer(struct recorder *r, const char *db_path) {
  char err[256];
  if (!r || r->threaded) return -1;
  /* A second connection to an in-memory database would be another database. */
  if (!db_path || !db_path[0] || strcmp(db_path, ":memory:") == 0) return -1;
  r->wdb = db_open(db_path, err, sizeof err);
  if (r->wdb) db_events_writer_setup(r->wdb); /* only faster: a failure changes nothing else */
  if (!r->wdb) {
    log_warn("recorder: no writer thread (%s); writing on the loop", err);
    return -1;
  }
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->cv, NULL);
  if (pthread_create(&r->thread, NULL, recorder_writer, r) != 0) {
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cv);
    db_close(r->wdb);
    r->wdb = NULL;
    return -1;
  }
  r->threaded = 1;
  return 0;
}

int recorder_kick(struct recorder *r) {
  if (!r) return 0;
  if (!r->threaded) {
    int rc = recorder_flush_here(r);
    recorder_log_drops(r);
    return rc;
  }
  recorder_collect(r);
  recorder_log_drops(r);
  {
    size_t behind = r->count + r->fl_count;
    if (behind >= LIM_RECORDER_LAG_HIGH) r->lagging = 1;
    if (behind <= LIM_RECORDER_LAG_LOW) r->lagging = 0;
  }
  pthread_mutex_lock(&r->lock);
  if (!r->busy && r->head) {
    r->fl_head = r->head;
    r->fl_tail = r->tail;
    r->fl_count = r->count;
    r->fl_bytes = r->bytes;
    r->head = r->tail = NULL;
    r->count = r->bytes = 0;
    r->busy = 1;
    pthread_cond_broadcast(&r->cv);
  }
  pthread_mutex_unlock(&r->lock);
  return 0;
}

int recorder_flush(struct recorder *r) {
  int rc;
  if (!r) return 0;
  if (r->threaded) { /* the batch in flight first: order is kept */
    pthread_mutex_lock(&r->lock);
    while (r->busy && !r->written) pthread_cond_wait(&r->cv, &r->lock);
    pthread_mutex_unlock(&r->lock);
    recorder_collect(r);
  }
  rc = recorder_flush_here(r);
  recorder_log_drops(r);
  return rc;
}
