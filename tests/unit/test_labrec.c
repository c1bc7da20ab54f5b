/* test_labrec.c -- the own-client record step: caps at their edges.
 *
 * labrec_event() is what lab servers record through (httprec.c; lab.c's
 * own copy is to follow). A fake struct lab_budget with a per-user limit
 * stands in for usage.c; the recorder writes into an in-memory database
 * that is read back: exactly the bytes that fit, one note saying why,
 * nothing after, and notes forced past the stop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "lab.h"
#include "labrec.h"
#include "portlab_limits.h"
#include "recorder.h"

struct fake_user {
  int64_t limit, used;
  int per_student_seen;
};

static void *fake_user_of(void *owner, int64_t user_id) {
  (void)user_id;
  return owner;
}

static int fake_check(void *owner, const void *user, int per_student, int64_t len, int64_t *room) {
  const struct fake_user *u = user;
  (void)owner;
  ((struct fake_user *)owner)->per_student_seen = per_student;
  if (u->used + len <= u->limit) return 0;
  *room = u->limit - u->used;
  return 7;
}

static void fake_recorded(void *owner, void *user, int64_t len) {
  (void)owner;
  ((struct fake_user *)user)->used += len;
}

static void fake_stop_text(void *owner, int reason, char *out, size_t outlen) {
  (void)owner;
  snprintf(out, outlen, "recording stopped: reason %d", reason);
}

struct seen {
  int n, notes;
  size_t data; /* bytes of non-note events */
  int dirs[8];
  char last_note[256];
};

static int collect(void *arg, const struct db_event *e) {
  struct seen *s = arg;
  if (s->n < 8) s->dirs[s->n] = e->dir;
  s->n++;
  if (e->dir == DB_DIR_NOTE) {
    s->notes++;
    snprintf(s->last_note, sizeof s->last_note, "%.*s", (int)e->len, (const char *)e->data);
  } else {
    s->data += e->len;
  }
  return 0;
}

static struct seen read_back(struct db *db, struct recorder *rec, int64_t session) {
  struct seen s;
  memset(&s, 0, sizeof s);
  CHECK_EQ_INT(recorder_flush(rec), 0);
  CHECK_EQ_INT(db_events_list(db, session, collect, &s), 0);
  return s;
}

static int64_t new_session(struct db *db, int64_t uid) {
  int64_t id = 0;
  CHECK_EQ_INT(db_session_create_own(db, uid, "lab", 443, "raw", "127.0.0.1", 1000, &id), 0);
  return id;
}

int main(void) {
  char err[256] = "";
  static unsigned char big[LIM_TRANSCRIPT_BYTES + 1];
  struct db *db = db_open(":memory:", err, sizeof err);
  int64_t uid = 0;
  struct fake_user fu = {100, 0, -1};
  struct lab_budget budget = {&fu, fake_user_of, fake_check, fake_recorded, fake_stop_text};
  struct lab_ctx ctx;
  struct recorder *rec;

  CHECK(db != NULL);
  if (!db) return 1;
  CHECK_EQ_INT(db_user_create(db, "st", "student", "pw", "h", &uid), 0);
  rec = recorder_new(db);
  CHECK(rec != NULL);
  memset(&ctx, 0, sizeof ctx);
  ctx.db = db;
  ctx.rec = rec;
  ctx.budget = &budget;

  /* The budget's edge: 100 bytes fit (60 + 40), in both layers' directions. */
  {
    struct labrec_stream r = {0};
    r.session = new_session(db, uid);
    labrec_event(&ctx, &r, &fu, 1, 1, DB_DIR_C2S, big, 60, 0);
    labrec_event(&ctx, &r, &fu, 1, 2, DB_DIR_WIRE_S2C, big, 40, 0);
    CHECK_EQ_INT(fu.per_student_seen, 1);
    CHECK(!r.stopped);
    struct seen s = read_back(db, rec, r.session);
    CHECK_EQ_INT(s.n, 2);
    CHECK_EQ_INT(s.data, 100);
    CHECK_EQ_INT(s.dirs[1], DB_DIR_WIRE_S2C);
    /* One byte more: refused, with one note, and nothing after it. */
    labrec_event(&ctx, &r, &fu, 1, 3, DB_DIR_C2S, big, 1, 0);
    CHECK(r.stopped);
    labrec_event(&ctx, &r, &fu, 1, 4, DB_DIR_S2C, big, 1, 0);
    labrec_event(&ctx, &r, &fu, 1, 5, DB_DIR_NOTE, "later", 5, 0);
    s = read_back(db, rec, r.session);
    CHECK_EQ_INT(s.n, 3);
    CHECK_EQ_INT(s.data, 100);
    CHECK_EQ_STR(s.last_note, "recording stopped: reason 7");
    /* A forced note still goes in (the close of a stopped transcript). */
    labrec_event(&ctx, &r, &fu, 1, 6, DB_DIR_NOTE, "closed", 6, 1);
    s = read_back(db, rec, r.session);
    CHECK_EQ_INT(s.notes, 2);
    CHECK_EQ_STR(s.last_note, "closed");
  }

  /* Past the budget in one event: the part that fits, then the note. */
  {
    struct labrec_stream r = {0};
    fu.used = 0;
    r.session = new_session(db, uid);
    labrec_event(&ctx, &r, &fu, 0, 1, DB_DIR_S2C, big, 101, 0);
    CHECK_EQ_INT(fu.per_student_seen, 0);
    struct seen s = read_back(db, rec, r.session);
    CHECK_EQ_INT(s.data, 100);
    CHECK_EQ_INT(s.notes, 1);
    CHECK_EQ_INT(fu.used, 100 + (int64_t)strlen("recording stopped: reason 7"));
  }

  /* The session's cap without a budget entry: LIM_TRANSCRIPT_BYTES fit,
   * one byte more is refused with the truncation note. */
  {
    struct labrec_stream r = {0};
    char want[128];
    r.session = new_session(db, uid);
    labrec_event(&ctx, &r, NULL, 0, 1, DB_DIR_C2S, big, LIM_TRANSCRIPT_BYTES, 0);
    CHECK(!r.stopped);
    labrec_event(&ctx, &r, NULL, 0, 2, DB_DIR_C2S, big, 1, 0);
    CHECK(r.stopped);
    struct seen s = read_back(db, rec, r.session);
    CHECK_EQ_INT(s.data, LIM_TRANSCRIPT_BYTES);
    snprintf(want, sizeof want, "recording truncated after %d bytes; the session goes on",
             LIM_TRANSCRIPT_BYTES);
    CHECK_EQ_STR(s.last_note, want);
  }

  /* No session or no recorder: nothing, and no crash. */
  {
    struct labrec_stream r = {0};
    labrec_event(&ctx, &r, &fu, 1, 1, DB_DIR_C2S, big, 1, 0);
    CHECK_EQ_INT(r.seq, 0);
    r.session = 1;
    ctx.rec = NULL;
    labrec_event(&ctx, &r, &fu, 1, 1, DB_DIR_C2S, big, 1, 0);
    CHECK_EQ_INT(r.seq, 0);
    ctx.rec = rec;
  }

  recorder_free(rec);
  db_close(db);
  return check_done();
}
