/* recbench.c -- how fast the recorder writes, and how long it holds the loop.
 *
 * Queues EVENTS transcript events of SIZE bytes spread over SESSIONS
 * sessions through the recorder exactly as the relay does (recorder_event,
 * then recorder_kick whenever recorder_should_flush says so) into a fresh
 * database file: once with the writer thread (as portlab runs) and once
 * without (everything on the calling thread, as before issue 11). Prints
 * events written per second and how long each kick held the caller (the
 * relay's loop thread): p50, p99, longest.
 *
 * Usage: recbench [EVENTS [SIZE [SESSIONS [DIR [both|writer|loop]]]]]
 *        (1000000 8 500 /tmp both)
 *        recbench EVENTS SIZE SESSIONS DIR layout [BATCH]   (see layout())
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "recorder.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of the whole process (every thread): on a busy machine
 * events per CPU second says more than events per wall second. */
static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void unlink_db(const char *path) {
  char side[600];
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
}

static int run(long events, size_t size, int sessions, const char *dir, int threaded) {
  char path[512], err[256];
  unsigned char payload[4096];
  int64_t uid, *sid = calloc((size_t)sessions, sizeof *sid), *seq = calloc((size_t)sessions, 8);
  double *kick_ms = calloc((size_t)(events / 64 + 16), sizeof *kick_ms);
  size_t nkick = 0;
  if (!sid || !seq || !kick_ms || size > sizeof payload || sessions < 1) return 2;
  memset(payload, 'x', sizeof payload);
  snprintf(path, sizeof path, "%s/recbench-%d-%d.db", dir, (int)getpid(), threaded);
  /* For experiments: SQL run on the empty file before portlab opens it
   * (e.g. "PRAGMA page_size = 16384"). */
  if (getenv("RECBENCH_PRE_SQL")) {
    sqlite3 *x;
    if (sqlite3_open(path, &x) != SQLITE_OK ||
        sqlite3_exec(x, getenv("RECBENCH_PRE_SQL"), NULL, NULL, NULL) != SQLITE_OK) {
      fprintf(stderr, "recbench: RECBENCH_PRE_SQL: %s\n", sqlite3_errmsg(x));
      return 1;
    }
    sqlite3_close(x);
  }
  struct db *db = db_open(path, err, sizeof err);
  if (!db) {
    fprintf(stderr, "recbench: %s\n", err);
    return 1;
  }
  if (db_user_create(db, "bench", "student", "pw", NULL, &uid)) return 1;
  for (int i = 0; i < sessions; i++)
    if (db_session_create(db, uid, "127.0.0.1", 7, "raw", 0, &sid[i])) return 1;
  struct recorder *rec = recorder_new(db);
  if (threaded && recorder_start_writer(rec, path)) return 1;
  /* For experiments: SQL run on the fresh database first (e.g. a schema change). */
  if (getenv("RECBENCH_SQL")) {
    sqlite3 *x;
    if (sqlite3_open(path, &x) != SQLITE_OK ||
        sqlite3_exec(x, getenv("RECBENCH_SQL"), NULL, NULL, NULL) != SQLITE_OK) {
      fprintf(stderr, "recbench: RECBENCH_SQL: %s\n", sqlite3_errmsg(x));
      return 1;
    }
    sqlite3_close(x);
  }
  double t0 = now_s(), c0 = cpu_s();
  for (long i = 0; i < events; i++) {
    int s = (int)(i % sessions);
    recorder_event(rec, sid[s], ++seq[s], i, i & 1 ? 1 : 2, payload, size);
    if (recorder_should_flush(rec) && nkick < (size_t)(events / 64 + 16)) {
      double k0 = now_s();
      recorder_kick(rec);
      kick_ms[nkick++] = (now_s() - k0) * 1e3;
    }
  }
  recorder_flush(rec); /* waits for the writer: the rate counts everything written */
  double t1 = now_s(), c1 = cpu_s();
  qsort(kick_ms, nkick, sizeof *kick_ms, cmp_double);
  printf(
      "recorder, %s: %ld events of %zu bytes over %d sessions in %.2f s = %.0f events/s "
      "(%.2f CPU s = %.0f events per CPU second); "
      "%zu kicks held the loop p50 %.3f ms, p99 %.3f ms, longest %.3f ms; dropped %llu\n",
      threaded ? "writer thread" : "on the loop thread", events, size, sessions, t1 - t0,
      (double)events / (t1 - t0), c1 - c0, (double)events / (c1 - c0), nkick,
      nkick ? kick_ms[nkick / 2] : 0, nkick ? kick_ms[nkick * 99 / 100] : 0,
      nkick ? kick_ms[nkick - 1] : 0, (unsigned long long)recorder_dropped(rec));
  fflush(stdout);
  recorder_free(rec);
  db_close(db);
  unlink_db(path);
  free(sid);
  free(seq);
  free(kick_ms);
  return 0;
}

/* --- prototype: what an event row layout change would buy -------------------
 *
 * `recbench EVENTS SIZE SESSIONS DIR layout [BATCH]` writes the same events
 * straight through SQLite (no recorder, no portlab schema) in transactions
 * of BATCH events, two ways: one row per event in a table shaped like
 * portlab's events (rowid table, (session_id, seq) primary key), and one row
 * per session per batch holding all of that session's events of the batch
 * packed (seq implicit, then per event: dir, t_us delta and length as
 * varints, the bytes). Prints events per CPU second for each. */

static size_t put_varint(unsigned char *p, uint64_t v) {
  size_t n = 0;
  do {
    p[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return n;
}

static int layout(long events, size_t size, int sessions, const char *dir, long batch, int packed) {
  char path[512];
  sqlite3 *x;
  sqlite3_stmt *st;
  unsigned char payload[4096];
  int64_t *seq = calloc((size_t)sessions, sizeof *seq);
  /* per session: its packed bytes of this batch */
  unsigned char **buf = calloc((size_t)sessions, sizeof *buf);
  size_t *blen = calloc((size_t)sessions, sizeof *blen),
         cap = (size_t)(batch / sessions + 2) * (size + 24);
  int64_t *first = calloc((size_t)sessions, sizeof *first), *last_t = calloc((size_t)sessions, 8);
  if (!seq || !buf || !blen || !first || !last_t || size > sizeof payload) return 2;
  memset(payload, 'x', sizeof payload);
  snprintf(path, sizeof path, "%s/recbench-layout-%d.db", dir, (int)getpid());
  unlink_db(path);
  if (packed == 2) { /* portlab's own schema and sessions, its foreign keys on */
    char err[256];
    int64_t uid, sid;
    struct db *db = db_open(path, err, sizeof err);
    if (!db || db_user_create(db, "bench", "student", "pw", NULL, &uid)) return 1;
    for (int i = 0; i < sessions; i++)
      if (db_session_create(db, uid, "127.0.0.1", 7, "raw", 0, &sid) || sid != i + 1) return 1;
    db_close(db);
  }
  if (sqlite3_open(path, &x) != SQLITE_OK) return 1;
  if (packed == 2 && !getenv("RECBENCH_NO_FK"))
    sqlite3_exec(x, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
  sqlite3_exec(x,
               "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;"
               "CREATE TABLE ev (session_id INTEGER NOT NULL, seq INTEGER NOT NULL, "
               "t_us INTEGER NOT NULL, dir INTEGER NOT NULL, data BLOB NOT NULL, "
               "PRIMARY KEY (session_id, seq));"
               "CREATE TABLE chunk (session_id INTEGER NOT NULL, first_seq INTEGER NOT NULL, "
               "n INTEGER NOT NULL, t_us INTEGER NOT NULL, data BLOB NOT NULL, "
               "PRIMARY KEY (session_id, first_seq));",
               NULL, NULL, NULL);
  sqlite3_prepare_v2(x,
                     packed == 2   ? "INSERT INTO events(session_id, seq, t_us, dir, data, layer) "
                                     "VALUES (?1, ?2, ?3, ?4, ?5, 0)"
                     : packed == 1 ? "INSERT INTO chunk VALUES (?1, ?2, ?3, ?4, ?5)"
                                   : "INSERT INTO ev VALUES (?1, ?2, ?3, ?4, ?5)",
                     -1, &st, NULL);
  const char *what = packed == 2   ? "one row per event, portlab's events table (keys, checks)"
                     : packed == 1 ? "one row per session per batch"
                                   : "one row per event";
  if (packed == 2) packed = 0; /* a row per event from here on */
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < events;) {
    sqlite3_exec(x, "BEGIN", NULL, NULL, NULL);
    long end = i + batch < events ? i + batch : events;
    for (; i < end; i++) {
      int s = (int)(i % sessions);
      seq[s]++;
      if (!packed) {
        sqlite3_bind_int64(st, 1, s + 1);
        sqlite3_bind_int64(st, 2, seq[s]);
        sqlite3_bind_int64(st, 3, i);
        sqlite3_bind_int(st, 4, i & 1 ? 1 : 2);
        sqlite3_bind_blob(st, 5, payload, (int)size, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_reset(st);
        continue;
      }
      if (!buf[s] && !(buf[s] = malloc(cap))) return 2;
      if (!blen[s]) {
        first[s] = seq[s];
        last_t[s] = i;
      }
      unsigned char *p = buf[s] + blen[s];
      *p++ = (unsigned char)(i & 1 ? 1 : 2);
      p += put_varint(p, (uint64_t)(i - last_t[s]));
      p += put_varint(p, size);
      memcpy(p, payload, size);
      blen[s] = (size_t)(p + size - buf[s]);
      last_t[s] = i;
    }
    for (int s = 0; packed && s < sessions; s++) {
      if (!blen[s]) continue;
      sqlite3_bind_int64(st, 1, s + 1);
      sqlite3_bind_int64(st, 2, first[s]);
      sqlite3_bind_int64(st, 3, seq[s] - first[s] + 1);
      sqlite3_bind_int64(st, 4, 0);
      sqlite3_bind_blob(st, 5, buf[s], (int)blen[s], SQLITE_STATIC);
      sqlite3_step(st);
      sqlite3_reset(st);
      blen[s] = 0;
    }
    if (sqlite3_exec(x, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
      fprintf(stderr, "recbench: %s\n", sqlite3_errmsg(x));
      return 1;
    }
  }
  double c1 = cpu_s(), t1 = now_s();
  printf(
      "layout prototype, %s: %ld events of %zu bytes over %d sessions, %ld per transaction: "
      "%.2f CPU s = %.0f events per CPU second (%.2f s wall)\n",
      what, events, size, sessions, batch, c1 - c0, (double)events / (c1 - c0), t1 - t0);
  fflush(stdout);
  sqlite3_finalize(st);
  sqlite3_close(x);
  unlink_db(path);
  for (int s = 0; s < sessions; s++) free(buf[s]);
  free(buf);
  free(blen);
  free(first);
  free(last_t);
  free(seq);
  return 0;
}

int main(int argc, char **argv) {
  long events = argc > 1 ? atol(argv[1]) : 1000000;
  size_t size = argc > 2 ? (size_t)atol(argv[2]) : 8;
  int sessions = argc > 3 ? atoi(argv[3]) : 500;
  const char *dir = argc > 4 ? argv[4] : "/tmp";
  const char *which = argc > 5 ? argv[5] : "both";
  if (strcmp(which, "layout") == 0) {
    long batch = argc > 6 ? atol(argv[6]) : 4096;
    if (batch < 1 || layout(events, size, sessions, dir, batch, 0)) return 1;
    if (layout(events, size, sessions, dir, batch, 2)) return 1; /* the same, portlab's table */
    return layout(events, size, sessions, dir, batch, 1);
  }
  if (strcmp(which, "loop") != 0 && run(events, size, sessions, dir, 1)) return 1;
  return strcmp(which, "writer") != 0 ? run(events, size, sessions, dir, 0) : 0;
}
