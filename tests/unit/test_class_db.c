/* test_class_db.c -- db/class.c: roster, removal, the refusal log at its edge, the audit log.
 *
 * Runs on an in-memory database through the public headers only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "class.h"
#include "db.h"
#include "labdata.h"
#include "labdb.h"
#include "progress.h"

#define SECRET "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct names {
  int n;
  char name[8][33];
  int64_t seen[8];
};

static int collect_roster(void *arg, const struct db_roster_entry *e) {
  struct names *ns = arg;
  if (ns->n < 8) {
    snprintf(ns->name[ns->n], sizeof ns->name[0], "%s", e->name);
    ns->seen[ns->n] = e->last_seen_at;
  }
  ns->n++;
  return 0;
}

static int roster_has(struct db *db, const char *name) {
  struct names ns = {0};
  CHECK_EQ_INT(db_roster_list(db, "demo", collect_roster, &ns), 0);
  for (int i = 0; i < ns.n && i < 8; i++)
    if (strcmp(ns.name[i], name) == 0) return 1;
  return 0;
}

static void test_roster(struct db *db) {
  int64_t t, a, b, demo;
  struct names ns = {0};
  struct db_roster_entry e;
  CHECK_EQ_INT(db_user_create(db, "teacher", "teacher", "", NULL, &t), 0);
  CHECK_EQ_INT(db_user_create(db, "bob", "student", "pw", "h", &b), 0);
  CHECK_EQ_INT(db_user_create(db, "alice", "student", "pw", "h", &a), 0);
  CHECK_EQ_INT(db_user_create(db, "demo", "student", "demo", NULL, &demo), 0);
  /* Every student from the moment they join, by name; never the teacher or demo. */
  CHECK_EQ_INT(db_roster_list(db, "demo", collect_roster, &ns), 0);
  CHECK_EQ_INT(ns.n, 2);
  CHECK_EQ_STR(ns.name[0], "alice");
  CHECK_EQ_STR(ns.name[1], "bob");
  CHECK_EQ_INT(ns.seen[0], 0);
  CHECK_EQ_INT(db_roster_get(db, a, "demo", &e), 0);
  CHECK_EQ_STR(e.name, "alice");
  CHECK_EQ_INT(db_roster_get(db, t, "demo", &e), 1);
  CHECK_EQ_INT(db_roster_get(db, demo, "demo", &e), 1);
  CHECK_EQ_INT(db_roster_get(db, 9999, "demo", &e), 1);
  /* Last seen is written at most every DB_SEEN_GRANULARITY seconds. */
  CHECK_EQ_INT(db_user_seen(db, a, 1000), 0);
  CHECK_EQ_INT(db_user_seen(db, a, 1000 + DB_SEEN_GRANULARITY - 1), 0);
  CHECK_EQ_INT(db_roster_get(db, a, "demo", &e), 0);
  CHECK_EQ_INT(e.last_seen_at, 1000);
  CHECK_EQ_INT(db_user_seen(db, a, 1000 + DB_SEEN_GRANULARITY), 0);
  CHECK_EQ_INT(db_roster_get(db, a, "demo", &e), 0);
  CHECK_EQ_INT(e.last_seen_at, 1000 + DB_SEEN_GRANULARITY);
}

static void test_remove(struct db *db) {
  int64_t c, s;
  unsigned char token[32] = {7}, other[32] = {8};
  struct db_user u;
  char hash[80];
  CHECK_EQ_INT(db_user_create(db, "carol", "student", "pw", "oldhash", &c), 0);
  CHECK_EQ_INT(db_login_create(db, token, c, 5000), 0);
  CHECK_EQ_INT(db_login_create(db, other, c, 5000), 0);
  CHECK_EQ_INT(db_login_lookup(db, token, 100, &u), 0);
  CHECK_EQ_INT(db_user_set_rejoin(db, c, "newhash"), 0);
  CHECK_EQ_INT(db_user_by_name(db, "carol", &u, hash, sizeof hash), 0);
  CHECK_EQ_STR(hash, "newhash");
  CHECK_EQ_INT(db_user_removed(db, c), 0);
  CHECK_EQ_INT(db_session_create(db, c, "lab", 25, "raw", 1, &s), 0);
  struct db_event ev = {s, 1, 0, DB_DIR_C2S, (const unsigned char *)"abc", 3};
  CHECK_EQ_INT(db_events_append(db, &ev, 1), 0);
  CHECK_EQ_INT(db_user_remove(db, c, 200), 0);
  CHECK_EQ_INT(db_user_removed(db, c), 1);
  CHECK_EQ_INT(db_login_lookup(db, token, 100, &u), 1);
  CHECK_EQ_INT(db_login_lookup(db, other, 100, &u), 1);
  CHECK(!roster_has(db, "carol"));
  CHECK_EQ_INT(db_user_by_name(db, "carol", &u, hash, sizeof hash), 0);
  CHECK_EQ_STR(u.lab_password, ""); /* the lab servers refuse an empty one */
  CHECK_EQ_STR(hash, "");
  /* The transcript stays until purged. */
  struct db_session got;
  struct db_usage usage;
  CHECK_EQ_INT(db_session_get(db, s, &got), 0);
  CHECK_EQ_INT(db_usage_get(db, c, &usage), 0);
  CHECK_EQ_INT(usage.recorded_bytes, 3);
  CHECK_EQ_INT(db_sessions_purge_user(db, c), 1);
  CHECK_EQ_INT(db_session_get(db, s, &got), 1);
  CHECK_EQ_INT(db_usage_get(db, c, &usage), 0);
  CHECK_EQ_INT(usage.recorded_bytes, 0);
  CHECK_EQ_INT(db_sessions_purge_user(db, c), 0);
}

static void test_lab_clear(struct db *db) {
  int64_t d, bytes = 0, files = 0;
  CHECK_EQ_INT(db_user_create(db, "dave", "student", "pw", "h", &d), 0);
  CHECK_EQ_INT(labdata_seed_account(db, SECRET, d, "dave"), 0);
  CHECK_EQ_INT(db_mail_usage(db, d, &bytes), 0);
  CHECK(bytes > 0);
  CHECK_EQ_INT(db_file_usage(db, d, &files), 0);
  CHECK(files > 0);
  int64_t seeded_mail = bytes, seeded_files = files;
  CHECK_EQ_INT(db_lab_data_clear(db, d), 0);
  CHECK_EQ_INT(db_mail_usage(db, d, &bytes), 0);
  CHECK_EQ_INT(bytes, 0);
  CHECK_EQ_INT(db_file_usage(db, d, &files), 0);
  CHECK_EQ_INT(files, 0);
  /* Seeding runs again after a clear: the same start. */
  CHECK_EQ_INT(labdata_seed_account(db, SECRET, d, "dave"), 0);
  CHECK_EQ_INT(db_mail_usage(db, d, &bytes), 0);
  CHECK_EQ_INT(bytes, seeded_mail);
  CHECK_EQ_INT(db_file_usage(db, d, &files), 0);
  CHECK_EQ_INT(files, seeded_files);
}

struct refusals {
  int n;
  char target[8][300];
  int64_t count[8];
};

static int collect_refusal(void *arg, const struct db_refusal *r) {
  struct refusals *rs = arg;
  if (rs->n < 8) {
    snprintf(rs->target[rs->n], sizeof rs->target[0], "%s", r->target);
    rs->count[rs->n] = r->count;
  }
  rs->n++;
  return 0;
}

static void test_refusals(struct db *db) {
  int64_t e, f;
  struct refusals rs = {0};
  const int64_t s = 1000000;
  CHECK_EQ_INT(db_user_create(db, "erin", "student", "pw", "h", &e), 0);
  CHECK_EQ_INT(db_user_create(db, "frank", "student", "pw", "h", &f), 0);
  /* keep = 3: three distinct refusals are all kept ... */
  CHECK_EQ_INT(db_refusal_add(db, e, 1 * s, "target_denied", "a:1", "m", 1, 3), 0);
  CHECK_EQ_INT(db_refusal_add(db, e, 2 * s, "target_denied", "b:1", "m", 1, 3), 0);
  CHECK_EQ_INT(db_refusal_add(db, e, 3 * s, "connect_failed", "c:1", "m", 1, 3), 0);
  CHECK_EQ_INT(db_refusal_add(db, f, 3 * s, "bad_message", "", "m", 1, 3), 0);
  CHECK_EQ_INT(db_refusal_list(db, e, collect_refusal, &rs), 0);
  CHECK_EQ_INT(rs.n, 3);
  CHECK_EQ_STR(rs.target[0], "c:1");
  CHECK_EQ_STR(rs.target[2], "a:1");
  /* ... a fourth pushes out the oldest, of this student only. */
  CHECK_EQ_INT(db_refusal_add(db, e, 4 * s, "target_denied", "d:1", "m", 1, 3), 0);
  memset(&rs, 0, sizeof rs);
  CHECK_EQ_INT(db_refusal_list(db, e, collect_refusal, &rs), 0);
  CHECK_EQ_INT(rs.n, 3);
  CHECK_EQ_STR(rs.target[0], "d:1");
  CHECK_EQ_STR(rs.target[2], "b:1");
  memset(&rs, 0, sizeof rs);
  CHECK_EQ_INT(db_refusal_list(db, f, collect_refusal, &rs), 0);
  CHECK_EQ_INT(rs.n, 1);
  /* A repeat of the newest within the merge window counts up. */
  CHECK_EQ_INT(db_refusal_add(db, e, 5 * s, "target_denied", "d:1", "m2", 1, 3), 0);
  CHECK_EQ_INT(db_refusal_add(db, e, 6 * s, "target_denied", "d:1", "m3", 1, 3), 0);
  memset(&rs, 0, sizeof rs);
  CHECK_EQ_INT(db_refusal_list(db, e, collect_refusal, &rs), 0);
  CHECK_EQ_INT(rs.n, 3);
  CHECK_EQ_INT(rs.count[0], 3);
  CHECK_EQ_STR(rs.target[1], "c:1");
  /* After the window it is a new row. */
  CHECK_EQ_INT(
      db_refusal_add(db, e, (6 + DB_REFUSAL_MERGE_SECS + 1) * s, "target_denied", "d:1", "m", 1, 3),
      0);
  memset(&rs, 0, sizeof rs);
  CHECK_EQ_INT(db_refusal_list(db, e, collect_refusal, &rs), 0);
  CHECK_EQ_INT(rs.n, 3);
  CHECK_EQ_INT(rs.count[0], 1);
  CHECK_EQ_INT(rs.count[1], 3);
  /* n occurrences at once, merged or new. */
  CHECK_EQ_INT(db_refusal_add(db, e, 70 * s, "target_denied", "d:1", "m", 5, 3), 0);
  CHECK_EQ_INT(db_refusal_add(db, f, 3 * s, "too_many_opens", "x:1", "m", 7, 3), 0);
  memset(&rs, 0, sizeof rs);
  CHECK_EQ_INT(db_refusal_list(db, e, collect_refusal, &rs), 0);
  CHECK_EQ_INT(rs.count[0], 6);
  memset(&rs, 0, sizeof rs);
  CHECK_EQ_INT(db_refusal_list(db, f, collect_refusal, &rs), 0);
  CHECK_EQ_INT(rs.n, 2);
  CHECK_EQ_INT(rs.count[0], 7);
}

struct audits {
  int n;
  char action[8][32];
};

static int collect_audit(void *arg, const struct db_audit *a) {
  struct audits *as = arg;
  if (as->n < 8) snprintf(as->action[as->n], sizeof as->action[0], "%s", a->action);
  as->n++;
  return 0;
}

static void test_audit(struct db *db) {
  struct audits as = {0};
  CHECK_EQ_INT(db_audit_add(db, 1, "teacher", "remove", "bob", "kept"), 0);
  CHECK_EQ_INT(db_audit_add(db, 2, "teacher", "class_code", NULL, NULL), 0);
  CHECK_EQ_INT(db_audit_add(db, 3, "teacher", "sign_out", "alice", ""), 0);
  CHECK_EQ_INT(db_audit_list(db, 2, collect_audit, &as), 0);
  CHECK_EQ_INT(as.n, 2);
  CHECK_EQ_STR(as.action[0], "sign_out");
  CHECK_EQ_STR(as.action[1], "class_code");
  CHECK(db_audit_add(db, 4, "teacher", "", NULL, NULL) < 0); /* an action is required */
}

static int first_at_of(void *arg, const struct db_progress *p) {
  *(int64_t *)arg = p->first_at;
  return 0;
}

static void test_first_attempt(struct db *db) {
  int64_t g, first = -1;
  CHECK_EQ_INT(db_user_create(db, "gina", "student", "pw", "h", &g), 0);
  CHECK_EQ_INT(db_progress_attempt(db, g, "smtp", "t1", 0, 1), 0);
  CHECK_EQ_INT(db_progress_list(db, g, NULL, first_at_of, &first), 0);
  CHECK(first > 0);
  int64_t before = first;
  CHECK_EQ_INT(db_progress_attempt(db, g, "smtp", "t1", 1, 1), 0);
  CHECK_EQ_INT(db_progress_list(db, g, NULL, first_at_of, &first), 0);
  CHECK_EQ_INT(first, before);
}

int main(void) {
  char err[256] = "";
  struct db *db = db_open(":memory:", err, sizeof err);
  CHECK(db != NULL);
  if (!db) {
    fprintf(stderr, "db_open: %s\n", err);
    return check_done();
  }
  test_roster(db);
  test_remove(db);
  test_lab_clear(db);
  test_refusals(db);
  test_audit(db);
  test_first_attempt(db);
  db_close(db);
  return check_done();
}
