/* test_lab_events.c -- db/progress.c: lab events are bounded per student and event name.
 *
 * Every lab request may record an event, so one student's script could
 * grow lab_events without end. Each insert keeps the newest
 * LIM_LAB_EVENTS_KEPT of that student's events of that name, exactly the
 * ones a check task's lookup reads, so checks solve as before. The rows
 * are counted with raw SQL on the connection (db_internal.h); everything
 * else goes through progress.h, as the lab servers and lessons do.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "db_internal.h" /* the raw connection, to count rows */
#include "portlab_limits.h"
#include "progress.h"

static int64_t rows(struct db *db, int64_t user_id, const char *event) {
  sqlite3_stmt *st = NULL;
  int64_t n = -1;
  CHECK_EQ_INT(sqlite3_prepare_v2(
                   db->conn, "SELECT count(*) FROM lab_events WHERE user_id = ?1 AND event = ?2",
                   -1, &st, NULL),
               SQLITE_OK);
  sqlite3_bind_int64(st, 1, user_id);
  sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

/* Adds {"n":"<i>"} events i = from .. to-1. */
static void add_numbered(struct db *db, int64_t user_id, const char *event, int from, int to) {
  char attrs[32];
  for (int i = from; i < to; i++) {
    snprintf(attrs, sizeof attrs, "{\"n\":\"%d\"}", i);
    CHECK_EQ_INT(db_lab_event_add(db, user_id, event, attrs), 0);
  }
}

/* A check's matcher: an event whose attrs are exactly the wanted ones. */
static int attrs_are(void *arg, const char *attrs_json) {
  return strcmp(attrs_json, arg) == 0;
}

static int has(struct db *db, int64_t user_id, const char *event, const char *attrs) {
  int rc = db_lab_event_find(db, user_id, event, attrs_are, (void *)attrs);
  CHECK(rc >= 0);
  return rc == 0;
}

static void test_bound_at_its_edge(struct db *db, int64_t alice, int64_t bob) {
  /* Other names and other students are never touched by alice's flood. */
  CHECK_EQ_INT(db_lab_event_add(db, alice, "dns.query", "{\"name\":\"lab\"}"), 0);
  CHECK_EQ_INT(db_lab_event_add(db, bob, "http.request", "{\"n\":\"0\"}"), 0);

  add_numbered(db, alice, "http.request", 0, LIM_LAB_EVENTS_KEPT);
  CHECK_EQ_INT(rows(db, alice, "http.request"), LIM_LAB_EVENTS_KEPT);
  CHECK(has(db, alice, "http.request", "{\"n\":\"0\"}"));

  /* One more: the oldest goes, the next oldest stays. */
  add_numbered(db, alice, "http.request", LIM_LAB_EVENTS_KEPT, LIM_LAB_EVENTS_KEPT + 1);
  CHECK_EQ_INT(rows(db, alice, "http.request"), LIM_LAB_EVENTS_KEPT);
  CHECK(!has(db, alice, "http.request", "{\"n\":\"0\"}"));
  CHECK(has(db, alice, "http.request", "{\"n\":\"1\"}"));

  /* Many more: still the bound. */
  add_numbered(db, alice, "http.request", LIM_LAB_EVENTS_KEPT + 1, 3 * LIM_LAB_EVENTS_KEPT);
  CHECK_EQ_INT(rows(db, alice, "http.request"), LIM_LAB_EVENTS_KEPT);

  CHECK_EQ_INT(rows(db, alice, "dns.query"), 1);
  CHECK(has(db, alice, "dns.query", "{\"name\":\"lab\"}"));
  CHECK_EQ_INT(rows(db, bob, "http.request"), 1);
  CHECK(has(db, bob, "http.request", "{\"n\":\"0\"}"));
}

/* A check solved by an event stays solved while it is among the newest
 * LIM_LAB_EVENTS_KEPT, and the lookup never read further back than that. */
static void test_checks_solve_as_before(struct db *db, int64_t carol) {
  const char *deed = "{\"to\":\"postmaster@lab\"}";
  CHECK_EQ_INT(db_lab_event_add(db, carol, "smtp.delivered", deed), 0);
  add_numbered(db, carol, "smtp.delivered", 0, LIM_LAB_EVENTS_KEPT - 1);
  CHECK(has(db, carol, "smtp.delivered", deed));
  add_numbered(db, carol, "smtp.delivered", LIM_LAB_EVENTS_KEPT - 1, LIM_LAB_EVENTS_KEPT);
  CHECK(!has(db, carol, "smtp.delivered", deed));
  /* Done again, it solves again. */
  CHECK_EQ_INT(db_lab_event_add(db, carol, "smtp.delivered", deed), 0);
  CHECK(has(db, carol, "smtp.delivered", deed));
}

/* Rows written before the bound existed go on the pair's next insert. */
static void test_old_excess_is_trimmed(struct db *db, int64_t dave) {
  char *err = NULL;
  CHECK_EQ_INT(sqlite3_exec(db->conn,
                            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k "
                            "WHERE i < 1200) INSERT INTO lab_events(user_id, event, attrs) "
                            "SELECT (SELECT id FROM users WHERE name = 'dave'), 'pop3.retr', "
                            "'{}' FROM k",
                            NULL, NULL, &err),
               SQLITE_OK);
  sqlite3_free(err);
  CHECK_EQ_INT(rows(db, dave, "pop3.retr"), 1200);
  CHECK_EQ_INT(db_lab_event_add(db, dave, "pop3.retr", "{\"n\":\"new\"}"), 0);
  CHECK_EQ_INT(rows(db, dave, "pop3.retr"), LIM_LAB_EVENTS_KEPT);
  CHECK(has(db, dave, "pop3.retr", "{\"n\":\"new\"}"));
}

int main(void) {
  char err[256] = "";
  struct db *db = db_open(":memory:", err, sizeof err);
  int64_t alice, bob, carol, dave;
  CHECK(db != NULL);
  if (!db) {
    fprintf(stderr, "db_open: %s\n", err);
    return check_done();
  }
  CHECK_EQ_INT(db_user_create(db, "alice", "student", "pw", "h", &alice), 0);
  CHECK_EQ_INT(db_user_create(db, "bob", "student", "pw", "h", &bob), 0);
  CHECK_EQ_INT(db_user_create(db, "carol", "student", "pw", "h", &carol), 0);
  CHECK_EQ_INT(db_user_create(db, "dave", "student", "pw", "h", &dave), 0);
  test_bound_at_its_edge(db, alice, bob);
  test_checks_solve_as_before(db, carol);
  test_old_excess_is_trimmed(db, dave);
  db_close(db);
  return check_done();
}
