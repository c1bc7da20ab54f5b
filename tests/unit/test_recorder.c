/* test_recorder.c -- batching, ordering, retry and the queue cap.
 *
 * The recorder runs against a real in-memory database, so "nothing before
 * the flush, everything after" is read back through db.h. The lock test
 * uses a file database and a second connection that holds the write lock,
 * which costs one busy timeout (five seconds) of waiting.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "db.h"
#include "portlab_limits.h"
#include "recorder.h"

#define CAP (8 * LIM_RECORDER_BATCH)

struct event_log {
  int n;
  int64_t first_seq, last_seq;
  int in_order;
  size_t bytes;
};

static int log_event(void *arg, const struct db_event *e) {
  struct event_log *log = arg;

  if (log->n == 0) {
    log->first_seq = e->seq;
  } else if (e->seq <= log->last_seq) {
    log->in_order = 0;
  }
  log->last_seq = e->seq;
  log->bytes += e->len;
  log->n++;
  return 0;
}

static struct event_log events_of(struct db *db, int64_t session_id) {
  struct event_log log = {0, 0, 0, 1, 0};

  CHECK_EQ_INT(db_events_list(db, session_id, log_event, &log), 0);
  return log;
}

static int64_t ended_of(struct db *db, int64_t session_id) {
  struct db_session s;

  if (db_session_get(db, session_id, &s) != 0) return -1;
  return s.ended_us;
}

static int64_t new_session(struct db *db, int64_t user_id) {
  int64_t id = 0;

  CHECK_EQ_INT(db_session_create(db, user_id, "lab", 25, "raw", 1000, &id), 0);
  return id;
}

static struct db *open_memory(int64_t *user_id) {
  char err[256] = "";
  struct db *db = db_open(":memory:", err, sizeof err);

  CHECK(db != NULL);
  if (!db) {
    fprintf(stderr, "db_open: %s\n", err);
    return NULL;
  }
  CHECK_EQ_INT(db_user_create(db, "rec", "student", "pw", "h", user_id), 0);
  return db;
}

static void test_batching(void) {
  static const unsigned char bin[] = {0x00, 0xff, 'a', 0x00};
  int64_t uid, s;
  struct db *db = open_memory(&uid);
  struct recorder *r;
  struct event_log log;
  struct db_session sess;

  if (!db) return;
  s = new_session(db, uid);
  r = recorder_new(db);
  CHECK(r != NULL);
  CHECK_EQ_INT(recorder_flush(r), 0); /* empty */

  CHECK_EQ_INT(recorder_event(r, s, 1, 0, DB_DIR_NOTE, "connected", 9), 0);
  CHECK_EQ_INT(recorder_event(r, s, 2, 10, DB_DIR_S2C, bin, sizeof bin), 0);
  CHECK_EQ_INT(recorder_event(r, s, 3, 20, DB_DIR_C2S, "QUIT\r\n", 6), 0);
  CHECK_EQ_INT(recorder_event(r, s, 4, 25, DB_DIR_C2S, NULL, 0), 0);
  CHECK_EQ_INT(recorder_session_end(r, s, 5000, 6, 4, "remote_closed"), 0);
  CHECK_EQ_INT(recorder_pending(r), 5);
  CHECK(!recorder_should_flush(r));

  /* Nothing reaches the database before the flush. */
  log = events_of(db, s);
  CHECK_EQ_INT(log.n, 0);
  CHECK_EQ_INT(ended_of(db, s), 0);

  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(recorder_pending(r), 0);
  log = events_of(db, s);
  CHECK_EQ_INT(log.n, 4);
  CHECK(log.in_order);
  CHECK_EQ_INT(log.bytes, 9 + sizeof bin + 6);
  CHECK_EQ_INT(db_session_get(db, s, &sess), 0);
  CHECK_EQ_INT(sess.ended_us, 5000);
  CHECK_EQ_INT(sess.bytes_up, 6);
  CHECK_EQ_INT(sess.bytes_down, 4);
  CHECK_EQ_STR(sess.close_reason, "remote_closed");
  CHECK_EQ_INT(recorder_dropped(r), 0);

  /* The copy is the recorder's own: the caller's buffer may change. */
  {
    char buf[8] = "abcdefg";
    int64_t s2 = new_session(db, uid);
    struct event_log l2;

    CHECK_EQ_INT(recorder_event(r, s2, 1, 0, DB_DIR_C2S, buf, 7), 0);
    memset(buf, 'z', sizeof buf);
    CHECK_EQ_INT(recorder_flush(r), 0);
    l2 = events_of(db, s2);
    CHECK_EQ_INT(l2.n, 1);
  }

  recorder_free(r);
  db_close(db);
}

static void test_should_flush(void) {
  int64_t uid, s;
  struct db *db = open_memory(&uid);
  struct recorder *r;
  int i, ok = 1;

  if (!db) return;
  s = new_session(db, uid);
  r = recorder_new(db);
  for (i = 1; i < LIM_RECORDER_BATCH; i++)
    ok &= recorder_event(r, s, i, i, DB_DIR_C2S, "k", 1) == 0;
  CHECK(ok);
  CHECK(!recorder_should_flush(r));
  CHECK_EQ_INT(recorder_event(r, s, i, i, DB_DIR_C2S, "k", 1), 0);
  CHECK(recorder_should_flush(r));
  CHECK_EQ_INT(recorder_pending(r), LIM_RECORDER_BATCH);
  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK(!recorder_should_flush(r));
  CHECK_EQ_INT(events_of(db, s).n, LIM_RECORDER_BATCH);
  recorder_free(r);
  db_close(db);
}

/* Session ends interleaved with runs longer than one db_events_append()
 * call: each end lands, and every event before it. */
static void test_interleaved(void) {
  int64_t uid, a, b;
  struct db *db = open_memory(&uid);
  struct recorder *r;
  int i, ok = 1;

  if (!db) return;
  a = new_session(db, uid);
  b = new_session(db, uid);
  r = recorder_new(db);
  for (i = 1; i <= 150; i++) {
    ok &= recorder_event(r, i % 2 ? a : b, (i + 1) / 2, i, DB_DIR_S2C, "data", 4) == 0;
  }
  CHECK_EQ_INT(recorder_session_end(r, a, 7000, 0, 300, "client_closed"), 0);
  for (i = 151; i <= 200; i++) ok &= recorder_event(r, b, i - 75, i, DB_DIR_S2C, "data", 4) == 0;
  CHECK(ok);
  CHECK_EQ_INT(recorder_session_end(r, b, 8000, 0, 500, NULL), 0);
  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(events_of(db, a).n, 75);
  CHECK_EQ_INT(events_of(db, b).n, 125);
  CHECK(events_of(db, b).in_order);
  CHECK_EQ_INT(ended_of(db, a), 7000);
  CHECK_EQ_INT(ended_of(db, b), 8000);
  CHECK_EQ_INT(recorder_dropped(r), 0);
  recorder_free(r);
  db_close(db);
}

static int64_t recorded_of(struct db *db, int64_t user_id) {
  struct db_usage u;

  CHECK_EQ_INT(db_usage_get(db, user_id, &u), 0);
  return u.recorded_bytes;
}

/* A batch counts each owner's recorded bytes once per session, exactly,
 * however the sessions interleave; a rolled-back batch counts nothing. */
static void test_usage_counted(void) {
  int64_t u1, u2, a, b, c;
  struct db *db = open_memory(&u1);
  struct recorder *r;
  struct db_event e = {0, 1, 0, DB_DIR_C2S, (const unsigned char *)"x", 1};
  int i, ok = 1;

  if (!db) return;
  CHECK_EQ_INT(db_user_create(db, "rec2", "student", "pw", "h", &u2), 0);
  a = new_session(db, u1);
  b = new_session(db, u1);
  c = new_session(db, u2);
  r = recorder_new(db);
  for (i = 1; i <= 300; i++) { /* a, b, c, a, b, c ...: 1, 2 and 3 bytes */
    int64_t s = i % 3 == 1 ? a : i % 3 == 2 ? b : c;
    ok &= recorder_event(r, s, (i + 2) / 3, i, DB_DIR_S2C, "abc", (size_t)(i % 3 ? i % 3 : 3)) == 0;
  }
  CHECK_EQ_INT(recorder_event(r, c, 101, 301, DB_DIR_NOTE, "note", 4), 0); /* notes count too */
  CHECK(ok);
  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(recorded_of(db, u1), 100 * 1 + 100 * 2);
  CHECK_EQ_INT(recorded_of(db, u2), 100 * 3 + 4);
  /* A batch with a bad item is retried one by one: only what was written counts. */
  CHECK_EQ_INT(recorder_event(r, a, 101, 400, DB_DIR_C2S, "12345", 5), 0);
  CHECK_EQ_INT(recorder_event(r, a, 101, 401, DB_DIR_C2S, "dup", 3), 0); /* seq taken */
  CHECK_EQ_INT(recorder_event(r, c, 102, 402, DB_DIR_C2S, "67", 2), 0);
  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(recorder_dropped(r), 1);
  CHECK_EQ_INT(recorded_of(db, u1), 300 + 5);
  CHECK_EQ_INT(recorded_of(db, u2), 304 + 2);
  /* The batch append counts nothing itself, and needs the caller's transaction. */
  e.session_id = b;
  e.seq = 500;
  CHECK_EQ_INT(db_events_append_tx(db, &e, 1), -1);
  CHECK_EQ_INT(events_of(db, b).n, 100);
  CHECK_EQ_INT(db_begin(db), 0);
  CHECK_EQ_INT(db_events_append_tx(db, &e, 1), 0);
  CHECK_EQ_INT(db_commit(db), 0);
  CHECK_EQ_INT(events_of(db, b).n, 101);
  CHECK_EQ_INT(recorded_of(db, u1), 305);
  CHECK_EQ_INT(db_events_count_usage(db, b, 1), 0);
  CHECK_EQ_INT(recorded_of(db, u1), 306);
  recorder_free(r);
  db_close(db);
}

/* One bad item must not hold the good ones hostage: the batch fails, the
 * item-by-item retry writes the rest and drops the bad one. */
static void test_bad_item(void) {
  int64_t uid, s;
  struct db *db = open_memory(&uid);
  struct recorder *r;
  struct event_log log;

  if (!db) return;
  s = new_session(db, uid);
  r = recorder_new(db);
  CHECK_EQ_INT(recorder_event(r, s, 1, 0, DB_DIR_C2S, "good1", 5), 0);
  CHECK_EQ_INT(recorder_event(r, 987654, 1, 0, DB_DIR_C2S, "orphan", 6), 0); /* no session */
  CHECK_EQ_INT(recorder_event(r, s, 2, 1, DB_DIR_S2C, "good2", 5), 0);
  CHECK_EQ_INT(recorder_event(r, s, 2, 2, DB_DIR_S2C, "dup seq", 7), 0);
  CHECK_EQ_INT(recorder_event(r, s, 3, 3, 9, "bad dir", 7), 0);
  CHECK_EQ_INT(recorder_event(r, s, 4, 4, DB_DIR_C2S, "good3", 5), 0);
  CHECK_EQ_INT(recorder_session_end(r, s, 9999, 10, 5, "remote_closed"), 0);

  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(recorder_pending(r), 0);
  CHECK_EQ_INT(recorder_dropped(r), 3);
  log = events_of(db, s);
  CHECK_EQ_INT(log.n, 3);
  CHECK_EQ_INT(log.bytes, 15);
  CHECK_EQ_INT(ended_of(db, s), 9999);
  CHECK_EQ_INT(events_of(db, 987654).n, 0);

  /* The next batch goes through in one piece again. */
  CHECK_EQ_INT(recorder_event(r, s, 5, 5, DB_DIR_C2S, "later", 5), 0);
  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(events_of(db, s).n, 4);
  CHECK_EQ_INT(recorder_dropped(r), 3);
  recorder_free(r);
  db_close(db);
}

/* While the database stays unwritable the queue is capped: the oldest
 * events go, session ends stay. */
static void test_cap(void) {
  int64_t uid, a, b;
  struct db *db = open_memory(&uid);
  struct recorder *r;
  struct event_log log;
  int i, ok = 1;

  if (!db) return;
  a = new_session(db, uid);
  b = new_session(db, uid);
  r = recorder_new(db);
  CHECK_EQ_INT(recorder_session_end(r, a, 4242, 0, 0, "client_closed"), 0);
  for (i = 1; i <= CAP + 10; i++) ok &= recorder_event(r, b, i, i, DB_DIR_C2S, "x", 1) == 0;
  CHECK(ok);
  CHECK_EQ_INT(recorder_pending(r), CAP);
  CHECK_EQ_INT(recorder_dropped(r), 11); /* the end took one slot */
  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(ended_of(db, a), 4242);
  log = events_of(db, b);
  CHECK_EQ_INT(log.n, CAP - 1);
  CHECK_EQ_INT(log.first_seq, 12);
  CHECK_EQ_INT(log.last_seq, CAP + 10);

  /* A queue of nothing but ends grows past the cap rather than lose one;
   * an event arriving then is the one dropped. */
  for (i = 0; i < CAP + 3; i++) ok &= recorder_session_end(r, a, 5000 + i, 0, 0, "x") == 0;
  CHECK(ok);
  CHECK_EQ_INT(recorder_pending(r), CAP + 3);
  CHECK_EQ_INT(recorder_event(r, b, CAP + 11, 0, DB_DIR_C2S, "y", 1), 0);
  CHECK_EQ_INT(recorder_pending(r), CAP + 3);
  CHECK_EQ_INT(recorder_dropped(r), 12);
  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(ended_of(db, a), 5000 + CAP + 2); /* in order: the last end wins */
  recorder_free(r);
  db_close(db);
}

/* A transient error (another connection holds the write lock) keeps the
 * whole batch, drops nothing, and the next flush writes it. */
static void test_retry_when_locked(void) {
  char path[] = "/tmp/portlab_test_rec_XXXXXX";
  char side[sizeof path + 8];
  char err[256] = "";
  struct db *db = NULL, *other = NULL;
  struct recorder *r = NULL;
  int64_t uid = 0, s;
  int fd;

  fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  close(fd);
  db = db_open(path, err, sizeof err);
  other = db_open(path, err, sizeof err);
  CHECK(db != NULL && other != NULL);
  if (!db || !other) goto done;
  CHECK_EQ_INT(db_user_create(db, "rec", "student", "pw", "h", &uid), 0);
  s = new_session(db, uid);

  r = recorder_new(db);
  CHECK_EQ_INT(recorder_event(r, s, 1, 0, DB_DIR_C2S, "a", 1), 0);
  CHECK_EQ_INT(recorder_event(r, s, 2, 1, DB_DIR_S2C, "b", 1), 0);
  CHECK_EQ_INT(recorder_session_end(r, s, 77, 1, 1, "remote_closed"), 0);

  CHECK_EQ_INT(db_begin(other), 0);
  CHECK_EQ_INT(recorder_flush(r), -1);
  CHECK(strlen(db_errmsg(db)) > 0);
  CHECK(!db_error_permanent(db));
  CHECK_EQ_INT(recorder_pending(r), 3);
  CHECK_EQ_INT(recorder_dropped(r), 0);
  CHECK_EQ_INT(db_commit(other), 0);

  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(recorder_pending(r), 0);
  CHECK_EQ_INT(recorder_dropped(r), 0);
  CHECK_EQ_INT(events_of(other, s).n, 2);
  CHECK_EQ_INT(ended_of(other, s), 77);

done:
  recorder_free(r);
  db_close(other);
  db_close(db);
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
}

static void test_free_flushes(void) {
  int64_t uid, s;
  struct db *db = open_memory(&uid);
  struct recorder *r;

  if (!db) return;
  s = new_session(db, uid);
  r = recorder_new(db);
  CHECK_EQ_INT(recorder_event(r, s, 1, 0, DB_DIR_C2S, "bye", 3), 0);
  CHECK_EQ_INT(recorder_session_end(r, s, 1234, 3, 0, "shutdown"), 0);
  recorder_free(r);
  CHECK_EQ_INT(events_of(db, s).n, 1);
  CHECK_EQ_INT(ended_of(db, s), 1234);
  recorder_free(NULL);
  CHECK_EQ_INT(recorder_pending(NULL), 0);
  db_close(db);
}

/* A fresh file database (the writer thread needs a second connection). */
static struct db *open_file(char *path, int64_t *uid) {
  char err[256] = "";
  int fd = mkstemp(path);
  struct db *db;
  CHECK(fd >= 0);
  if (fd < 0) return NULL;
  close(fd);
  db = db_open(path, err, sizeof err);
  CHECK(db != NULL);
  if (db) CHECK_EQ_INT(db_user_create(db, "rec", "student", "pw", "h", uid), 0);
  return db;
}

static void remove_file(const char *path) {
  char side[64];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
}

/* With the writer thread: a kick hands the queue over without waiting; the
 * loop still sees every event (in flight or queued) in order; a flush
 * writes everything, ends after their events. */
static void test_writer_thread(void) {
  char path[] = "/tmp/portlab_test_recw_XXXXXX";
  int64_t uid = 0, s1, s2, seq1 = 0, seq2 = 0;
  struct db *db = open_file(path, &uid);
  struct recorder *r;
  struct event_log seen = {0, 0, 0, 1, 0};
  if (!db) return;
  s1 = new_session(db, uid);
  s2 = new_session(db, uid);
  r = recorder_new(db);
  CHECK_EQ_INT(recorder_start_writer(r, ":memory:"), -1); /* another database: refused */
  CHECK_EQ_INT(recorder_start_writer(r, path), 0);
  CHECK_EQ_INT(recorder_start_writer(r, path), -1); /* once */
  for (int i = 0; i < 3 * LIM_RECORDER_BATCH; i++) {
    CHECK_EQ_INT(recorder_event(r, i & 1 ? s1 : s2, i & 1 ? ++seq1 : ++seq2, i, DB_DIR_C2S, "k", 1),
                 0);
    if (recorder_should_flush(r)) CHECK_EQ_INT(recorder_kick(r), 0);
  }
  CHECK_EQ_INT(recorder_session_end(r, s1, 4242, seq1, 0, "remote_closed"), 0);
  CHECK_EQ_INT(recorder_kick(r), 0);
  /* Whatever the writer has done by now, the database and the recorder
   * together hold every event exactly once (the live view's replay). */
  CHECK_EQ_INT(recorder_each_event(r, s1, 0, INT64_MAX, 1 << 20, log_event, &seen), 0);
  {
    struct event_log stored = events_of(db, s1);
    CHECK(seen.n + stored.n >= (int)seq1);
  }
  CHECK_EQ_INT(recorder_flush(r), 0);
  CHECK_EQ_INT(recorder_pending(r), 0);
  {
    struct event_log a = events_of(db, s1), b = events_of(db, s2);
    CHECK_EQ_INT(a.n, seq1);
    CHECK_EQ_INT(b.n, seq2);
    CHECK(a.in_order && b.in_order);
  }
  CHECK_EQ_INT(ended_of(db, s1), 4242);
  CHECK_EQ_INT(recorder_dropped(r), 0);
  recorder_free(r);
  db_close(db);
  remove_file(path);
}

/* With the writer thread the queue is capped by payload bytes: exactly
 * LIM_RECORDER_QUEUE_BYTES fit, one byte more drops the oldest event. */
static void test_writer_byte_cap(void) {
  enum { CHUNK = 64 * 1024 };
  char path[] = "/tmp/portlab_test_recc_XXXXXX";
  int64_t uid = 0, s, n = LIM_RECORDER_QUEUE_BYTES / CHUNK;
  struct db *db = open_file(path, &uid);
  struct recorder *r;
  unsigned char *chunk = calloc(1, CHUNK);
  if (!db || !chunk) goto done;
  s = new_session(db, uid);
  r = recorder_new(db);
  CHECK_EQ_INT(recorder_start_writer(r, path), 0);
  /* No kick: everything stays queued on the loop's side. */
  for (int64_t i = 1; i <= n; i++)
    CHECK_EQ_INT(recorder_event(r, s, i, i, DB_DIR_S2C, chunk, CHUNK), 0);
  CHECK_EQ_INT(recorder_pending(r), n);
  CHECK_EQ_INT(recorder_dropped(r), 0);
  CHECK_EQ_INT(recorder_event(r, s, n + 1, n + 1, DB_DIR_S2C, "x", 1), 0);
  CHECK_EQ_INT(recorder_dropped(r), 1);
  CHECK_EQ_INT(recorder_pending(r), n);
  CHECK_EQ_INT(recorder_flush(r), 0);
  {
    struct event_log a = events_of(db, s);
    CHECK_EQ_INT(a.n, n);
    CHECK_EQ_INT(a.first_seq, 2); /* the oldest went */
    CHECK_EQ_INT(a.last_seq, n + 1);
  }
  recorder_free(r);
done:
  free(chunk);
  db_close(db);
  remove_file(path);
}

int main(void) {
  test_batching();
  test_should_flush();
  test_interleaved();
  test_usage_counted();
  test_bad_item();
  test_cap();
  test_retry_when_locked();
  test_free_flushes();
  test_writer_thread();
  test_writer_byte_cap();
  return check_done();
}
