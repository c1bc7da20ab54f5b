/* test_watch.c -- watchers: the queue cap at its edge, gaps, coalescing, replay.
 *
 * watch.c has no lws in it: the tests pass a wake counter, a clock and a
 * fetch function over an array of stored events, and read the messages
 * as JSON with cJSON.
 */
#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "portlab_limits.h"
#include "watch.h"

#define COST 64 /* ITEM_COST in watch.c: what an event costs besides its payload */

static int wakes;
static void wake(void *arg) {
  (void)arg;
  wakes++;
}

/* The next message as JSON, or NULL when there is none. */
static cJSON *next(struct watcher *v) {
  unsigned char *buf;
  size_t len;
  if (watch_next(v, 16, &buf, &len) != 1) return NULL;
  cJSON *j = cJSON_ParseWithLength((const char *)buf + 16, len);
  CHECK(j != NULL);
  free(buf);
  return j;
}

static const char *type_of(const cJSON *j) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
  return cJSON_IsString(t) ? t->valuestring : "";
}

static long long num(const cJSON *j, const char *key) {
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, key);
  return cJSON_IsNumber(n) ? (long long)n->valuedouble : -1;
}

static struct watch_session session(int64_t id) {
  struct watch_session s;
  memset(&s, 0, sizeof s);
  s.session.id = id;
  s.session.user_id = 2;
  snprintf(s.session.user_name, sizeof s.session.user_name, "ada");
  snprintf(s.session.host, sizeof s.session.host, "lab");
  s.session.port = 25;
  snprintf(s.session.mode, sizeof s.session.mode, "raw");
  s.session.started_us = 1700000000000000LL;
  return s;
}

static void drain(struct watcher *v) {
  cJSON *j;
  while ((j = next(v))) cJSON_Delete(j);
}

static void test_cap_edge_and_gaps(void) {
  struct watch *w = watch_new(NULL, NULL);
  unsigned char data[100];
  memset(data, 'x', sizeof data);
  /* Exactly ten 100-byte events fit a cap of ten times their cost. */
  struct watcher *v = watch_add(w, 0, 0, 10 * (100 + COST), wake, NULL);
  for (int i = 1; i <= 10; i++) watch_event(w, 7, i, i * 10, DB_DIR_C2S, data, sizeof data);
  CHECK_EQ_INT(watch_queued_bytes(v), 10 * (100 + COST));
  CHECK_EQ_INT(watch_dropped(v), 0);
  /* The eleventh drops the oldest, which becomes a gap; three more widen it. */
  for (int i = 11; i <= 14; i++) watch_event(w, 7, i, i * 10, DB_DIR_S2C, data, sizeof data);
  CHECK_EQ_INT(watch_dropped(v), 4);
  cJSON *j = next(v);
  CHECK_EQ_STR(type_of(j), "gap");
  CHECK_EQ_INT(num(j, "session_id"), 7);
  CHECK_EQ_INT(num(j, "from_seq"), 1);
  CHECK_EQ_INT(num(j, "to_seq"), 4);
  cJSON_Delete(j);
  for (int i = 5; i <= 14; i++) {
    j = next(v);
    CHECK_EQ_STR(type_of(j), "event");
    CHECK_EQ_INT(num(j, "seq"), i);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "dir");
    CHECK_EQ_STR(d ? d->valuestring : "", i <= 10 ? "c2s" : "s2c");
    cJSON_Delete(j);
  }
  CHECK(next(v) == NULL);
  CHECK_EQ_INT(watch_queued_bytes(v), 0);
  /* An event larger than the whole queue is a gap itself. */
  unsigned char *big = calloc(1, 11 * (100 + COST));
  watch_event(w, 7, 15, 0, DB_DIR_S2C, big, 11 * (100 + COST));
  j = next(v);
  CHECK_EQ_STR(type_of(j), "gap");
  CHECK_EQ_INT(num(j, "from_seq"), 15);
  cJSON_Delete(j);
  free(big);
  /* Another session's watcher sees nothing of session 7. */
  struct watcher *other = watch_add(w, 8, 0, 4096, wake, NULL);
  watch_event(w, 7, 16, 0, DB_DIR_C2S, "a", 1);
  CHECK(next(other) == NULL);
  drain(v);
  watch_free(w); /* frees the watchers too */
}

static void test_base64(void) {
  struct watch *w = watch_new(NULL, NULL);
  struct watcher *v = watch_add(w, 0, 0, 4096, wake, NULL);
  const char *in[] = {"", "f", "fo", "foo", "foob", "\xff\x00\x01"};
  const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "/wAB"};
  size_t lens[] = {0, 1, 2, 3, 4, 3};
  for (int i = 0; i < 6; i++) watch_event(w, 1, i + 1, 0, DB_DIR_NOTE, in[i], lens[i]);
  for (int i = 0; i < 6; i++) {
    cJSON *j = next(v);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data_b64");
    CHECK_EQ_STR(d ? d->valuestring : "?", out[i]);
    CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(j, "dir")->valuestring, "note");
    cJSON_Delete(j);
  }
  watch_free(w);
}

static void test_session_coalescing(void) {
  struct watch *w = watch_new(NULL, NULL);
  struct watch_session s = session(3);
  int64_t now = 1000000;
  struct watch_entry *e = watch_session_open(w, &s, now);
  /* A watcher that comes later gets the open session at once. */
  struct watcher *v = watch_add(w, 0, 0, 4096, wake, NULL);
  cJSON *j = next(v);
  CHECK_EQ_STR(type_of(j), "session");
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "session");
  CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(o, "state")->valuestring, "open");
  CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "ended_at")));
  CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(o, "started_at")->valuestring,
               "2023-11-14T22:13:20Z");
  cJSON_Delete(j);
  /* Counter changes within 500 ms wait for the tick; one message, the newest. */
  for (int i = 1; i <= 5; i++) {
    s.session.bytes_up = i;
    watch_session_update(w, e, &s, now + i * 1000);
  }
  CHECK(next(v) == NULL);
  watch_tick(w, now + LIM_WATCH_SESSION_MS * 1000LL - 1);
  CHECK(next(v) == NULL);
  watch_tick(w, now + LIM_WATCH_SESSION_MS * 1000LL);
  j = next(v);
  CHECK_EQ_INT(num(cJSON_GetObjectItemCaseSensitive(j, "session"), "bytes_up"), 5);
  cJSON_Delete(j);
  CHECK(next(v) == NULL);
  watch_tick(w, now + 10 * LIM_WATCH_SESSION_MS * 1000LL); /* nothing changed: nothing sent */
  CHECK(next(v) == NULL);
  /* A change after the interval goes at once; the end goes at once. */
  s.session.bytes_down = 9;
  watch_session_update(w, e, &s, now + 2 * LIM_WATCH_SESSION_MS * 1000LL);
  s.session.ended_us = s.session.started_us + 1;
  snprintf(s.session.close_reason, sizeof s.session.close_reason, "client_closed");
  watch_session_end(w, e, &s);
  j = next(v); /* the queued update was replaced by the end */
  o = cJSON_GetObjectItemCaseSensitive(j, "session");
  CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(o, "state")->valuestring, "ended");
  CHECK_EQ_STR(cJSON_GetObjectItemCaseSensitive(o, "close_reason")->valuestring, "client_closed");
  CHECK_EQ_INT(num(o, "bytes_down"), 9);
  cJSON_Delete(j);
  CHECK(next(v) == NULL);
  watch_free(w);
}

/* Stored events 1..9 with seq 4 missing (as if the recorder dropped it). */
static int fetches;
static int fetch(void *arg, int64_t session_id, int64_t after_seq, int64_t up_to_seq, int limit,
                 int (*cb)(void *cbarg, const struct db_event *e), void *cbarg) {
  (void)arg;
  fetches++;
  int n = 0;
  for (int64_t seq = after_seq + 1; seq <= 9 && seq <= up_to_seq && n < limit; seq++) {
    if (seq == 4) continue;
    char text[24];
    snprintf(text, sizeof text, "e%lld", (long long)seq);
    struct db_event e = {session_id, seq, seq, DB_DIR_S2C, (const unsigned char *)text, 2};
    n++;
    if (cb(cbarg, &e)) break;
  }
  return 0;
}

static void test_replay_then_live(void) {
  struct watch *w = watch_new(fetch, NULL);
  struct watch_session s = session(5);
  struct watch_entry *e = watch_session_open(w, &s, 0);
  /* Recorded up to 10 so far (10 lost entirely); 11 and 12 arrive live. */
  struct watcher *v = watch_add(w, 5, 10, 4096, wake, NULL);
  watch_event(w, 5, 10, 0, DB_DIR_C2S, "no", 2); /* replayed, so not live again */
  watch_event(w, 5, 11, 0, DB_DIR_C2S, "l1", 2);
  watch_event(w, 5, 12, 0, DB_DIR_C2S, "l2", 2);
  cJSON *j = next(v);
  CHECK_EQ_STR(type_of(j), "session");
  cJSON_Delete(j);
  int64_t want[] = {1, 2, 3, -4, 5, 6, 7, 8, 9, -10, 11, 12};
  for (int i = 0; i < 12; i++) {
    j = next(v);
    if (want[i] < 0) {
      CHECK_EQ_STR(type_of(j), "gap");
      CHECK_EQ_INT(num(j, "from_seq"), -want[i]);
      CHECK_EQ_INT(num(j, "to_seq"), -want[i]);
    } else {
      CHECK_EQ_STR(type_of(j), "event");
      CHECK_EQ_INT(num(j, "seq"), want[i]);
    }
    cJSON_Delete(j);
  }
  CHECK(next(v) == NULL);
  CHECK(fetches >= 1);
  /* A past session (replay to INT64_MAX) ends without a gap at the end. */
  struct watcher *past = watch_add(w, 5, INT64_MAX, 4096, wake, NULL);
  int n = 0;
  while ((j = next(past))) {
    if (strcmp(type_of(j), "event") == 0) n++;
    cJSON_Delete(j);
  }
  CHECK_EQ_INT(n, 8); /* 1..9 without 4, no gap for "10 and on" */
  watch_remove(past);
  watch_session_end(w, e, &s);
  CHECK_EQ_INT(watch_watchers(w), 1);
  watch_remove(v);
  CHECK_EQ_INT(watch_watchers(w), 0);
  watch_free(w);
}

int main(void) {
  test_cap_edge_and_gaps();
  test_base64();
  test_session_coalescing();
  test_replay_then_live();
  CHECK(wakes > 0);
  return check_done();
}
