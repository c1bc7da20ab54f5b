/* recbench.c -- how fast the recorder writes, and how long one flush holds the loop.
 *
 * Queues EVENTS transcript events of SIZE bytes spread over SESSIONS
 * sessions through the recorder exactly as the relay does (recorder_event,
 * then recorder_flush whenever recorder_should_flush says so), into a fresh
 * database file. Prints events written per second and the time of each flush
 * (which the relay's loop thread waits for): p50, p99, longest.
 *
 * Usage: recbench [EVENTS [SIZE [SESSIONS [DIR]]]]   (1000000 8 500 /tmp)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "recorder.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  long events = argc > 1 ? atol(argv[1]) : 1000000;
  size_t size = argc > 2 ? (size_t)atol(argv[2]) : 8;
  int sessions = argc > 3 ? atoi(argv[3]) : 500;
  const char *dir = argc > 4 ? argv[4] : "/tmp";
  char path[512], err[256];
  unsigned char payload[4096];
  int64_t uid, *sid = calloc((size_t)sessions, sizeof *sid), *seq = calloc((size_t)sessions, 8);
  double *flush_ms = calloc((size_t)(events / 64 + 16), sizeof *flush_ms);
  size_t nflush = 0;
  if (!sid || !seq || !flush_ms || size > sizeof payload || sessions < 1) return 2;
  memset(payload, 'x', sizeof payload);
  snprintf(path, sizeof path, "%s/recbench-%d.db", dir, (int)getpid());
  struct db *db = db_open(path, err, sizeof err);
  if (!db) {
    fprintf(stderr, "recbench: %s\n", err);
    return 1;
  }
  if (db_user_create(db, "bench", "student", "pw", NULL, &uid)) return 1;
  for (int i = 0; i < sessions; i++)
    if (db_session_create(db, uid, "127.0.0.1", 7, "raw", 0, &sid[i])) return 1;
  struct recorder *rec = recorder_new(db);
  double t0 = now_s();
  for (long i = 0; i < events; i++) {
    int s = (int)(i % sessions);
    recorder_event(rec, sid[s], ++seq[s], i, i & 1 ? 1 : 2, payload, size);
    if (recorder_should_flush(rec)) {
      double f0 = now_s();
      recorder_flush(rec);
      flush_ms[nflush++] = (now_s() - f0) * 1e3;
    }
  }
  recorder_flush(rec);
  double t1 = now_s();
  qsort(flush_ms, nflush, sizeof *flush_ms, cmp_double);
  printf(
      "recorder: %ld events of %zu bytes over %d sessions in %.2f s = %.0f events/s; "
      "%zu flushes: p50 %.2f ms, p99 %.2f ms, longest %.2f ms; dropped %llu\n",
      events, size, sessions, t1 - t0, (double)events / (t1 - t0), nflush,
      nflush ? flush_ms[nflush / 2] : 0, nflush ? flush_ms[nflush * 99 / 100] : 0,
      nflush ? flush_ms[nflush - 1] : 0, (unsigned long long)recorder_dropped(rec));
  recorder_free(rec);
  db_close(db);
  unlink(path);
  snprintf(err, sizeof err, "%s-wal", path);
  unlink(err);
  snprintf(err, sizeof err, "%s-shm", path);
  unlink(err);
  free(sid);
  free(seq);
  free(flush_ms);
  return 0;
}
