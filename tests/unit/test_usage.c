/* test_usage.c -- recording budgets, the open rate, refused opens and the
 * disk floor (server/usage.c), each at its edge, over an in-memory database.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "db.h"
#include "portlab_limits.h"
#include "usage.h"

static struct config cfg;

static void set_config(void) {
  memset(&cfg, 0, sizeof cfg);
  cfg.opens_per_minute = 3;
  cfg.record_bytes_per_student = 100;
  cfg.record_bytes_total = 250;
  cfg.disk_floor = 0;
}

static void test_budgets(void) {
  char err[256];
  struct db *db = db_open(":memory:", err, sizeof err);
  int64_t a_id, b_id, room;
  set_config();
  CHECK(db != NULL);
  CHECK_EQ_INT(db_user_create(db, "a", "student", "pw", "h", &a_id), 0);
  CHECK_EQ_INT(db_user_create(db, "b", "student", "pw", "h", &b_id), 0);
  struct usage *u = usage_new(db, &cfg, ":memory:");
  CHECK(u != NULL);
  struct usage_user *a = usage_user(u, a_id), *b = usage_user(u, b_id);
  CHECK(a != NULL && b != NULL && a != b);
  CHECK(usage_user(u, a_id) == a); /* one entry per user */

  /* Per student: 100 bytes fit, the 101st does not. */
  CHECK_EQ_INT(usage_check(u, a, 1, 100, &room), USAGE_OK);
  CHECK_EQ_INT(usage_check(u, a, 1, 101, &room), USAGE_STOP_STUDENT);
  CHECK_EQ_INT(room, 100);
  usage_recorded(u, a, 99);
  CHECK_EQ_INT(usage_check(u, a, 1, 1, &room), USAGE_OK);
  CHECK_EQ_INT(usage_check(u, a, 1, 2, &room), USAGE_STOP_STUDENT);
  CHECK_EQ_INT(room, 1);
  /* Without the per-student budget (the teacher) only the total counts. */
  CHECK_EQ_INT(usage_check(u, a, 0, 151, &room), USAGE_OK);
  CHECK_EQ_INT(usage_check(u, a, 0, 152, &room), USAGE_STOP_TOTAL);
  CHECK_EQ_INT(room, 151);

  /* In total: 250 across students. */
  usage_recorded(u, b, 100);
  usage_recorded(u, a, 1); /* a: 100, the budget exactly */
  CHECK_EQ_INT(usage_check(u, a, 1, 1, &room), USAGE_STOP_STUDENT);
  CHECK_EQ_INT(room, 0);
  struct usage_totals t;
  usage_totals(u, &t);
  CHECK_EQ_INT(t.recorded, 200);
  CHECK_EQ_INT(t.near_total, 1); /* 80 % of 250 */
  CHECK_EQ_INT(t.total_reached, 0);
  int64_t c_id;
  CHECK_EQ_INT(db_user_create(db, "c", "student", "pw", "h", &c_id), 0);
  struct usage_user *c = usage_user(u, c_id);
  CHECK_EQ_INT(usage_check(u, c, 1, 50, &room), USAGE_OK);
  CHECK_EQ_INT(usage_check(u, c, 1, 51, &room), USAGE_STOP_TOTAL);
  CHECK_EQ_INT(room, 50);
  usage_recorded(u, c, 50);
  usage_totals(u, &t);
  CHECK_EQ_INT(t.total_reached, 1);
  char text[256];
  usage_stop_text(u, USAGE_STOP_TOTAL, text, sizeof text);
  CHECK(strstr(text, "250") != NULL);

  /* The open rate: 3 in a minute, the 4th refused, a minute later fine. */
  int64_t t0 = 5000000;
  CHECK_EQ_INT(usage_open_allowed(u, a, t0), 1);
  CHECK_EQ_INT(usage_open_allowed(u, a, t0 + 1), 1);
  CHECK_EQ_INT(usage_open_allowed(u, a, t0 + 2), 1);
  CHECK_EQ_INT(usage_open_allowed(u, a, t0 + 3), 0);
  CHECK_EQ_INT(usage_open_allowed(u, b, t0 + 3), 1); /* per student */
  CHECK_EQ_INT(usage_open_allowed(u, a, t0 + 60000000 - 1), 0);
  CHECK_EQ_INT(usage_open_allowed(u, a, t0 + 60000000), 1);
  CHECK_EQ_INT(usage_open_allowed(u, a, t0 + 60000000), 0);

  /* Refused opens reach the database on a flush, and a new process (a
   * new usage over the same database) starts from them. */
  for (int i = 0; i < 1000; i++) usage_refused(u, a, "target_denied", 1234);
  usage_refused(u, a, "too_many_opens", 5678);
  struct db_usage row;
  CHECK_EQ_INT(db_usage_get(db, a_id, &row), 0);
  CHECK_EQ_INT(row.refused_opens, 0);
  CHECK_EQ_INT(usage_flush(u), 0);
  CHECK_EQ_INT(db_usage_get(db, a_id, &row), 0);
  CHECK_EQ_INT(row.refused_opens, 1001);
  CHECK_EQ_STR(row.last_refused_reason, "too_many_opens");
  CHECK_EQ_INT(row.last_refused_us, 5678);
  usage_free(u);
  u = usage_new(db, &cfg, ":memory:");
  a = usage_user(u, a_id);
  CHECK_EQ_INT(a->refused, 1001);
  usage_free(u);
  usage_free(NULL);
  db_close(db);
}

static void test_disk_floor(void) {
  char err[256];
  struct db *db = db_open(":memory:", err, sizeof err);
  int64_t id, room;
  set_config();
  cfg.disk_floor = 1LL << 50; /* more than any disk here has free */
  CHECK_EQ_INT(db_user_create(db, "d", "student", "pw", "h", &id), 0);
  struct usage *u = usage_new(db, &cfg, "/tmp/portlab-test-usage.db");
  struct usage_user *d = usage_user(u, id);
  CHECK_EQ_INT(usage_check(u, d, 1, 1, &room), USAGE_STOP_DISK);
  CHECK_EQ_INT(room, 0);
  struct usage_totals t;
  usage_totals(u, &t);
  CHECK_EQ_INT(t.disk_low, 1);
  CHECK(t.disk_free >= 0);
  usage_free(u);
  cfg.disk_floor = 0;
  u = usage_new(db, &cfg, "/tmp/portlab-test-usage.db");
  d = usage_user(u, id);
  CHECK_EQ_INT(usage_check(u, d, 1, 1, &room), USAGE_OK);
  usage_free(u);
  /* No file, no disk to watch: never low. */
  cfg.disk_floor = 1LL << 50;
  u = usage_new(db, &cfg, ":memory:");
  d = usage_user(u, id);
  CHECK_EQ_INT(usage_check(u, d, 1, 1, &room), USAGE_OK);
  usage_free(u);
  db_close(db);
}

int main(void) {
  test_budgets();
  test_disk_floor();
  return check_done();
}
