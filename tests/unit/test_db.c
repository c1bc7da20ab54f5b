/* test_db.c -- the db/ module against an in-memory and an on-disk database.
 *
 * Every query runs on both, because WAL mode, the file header and
 * migrations on reopen only exist on disk while most tests are quicker in
 * memory. Checks go through the public db.h only: the schema is verified by
 * what it refuses, and WAL mode by the database file's own header.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "db.h"
#include "portlab_limits.h"

/* --- helpers ---------------------------------------------------------- */

#define MAX_SEEN 16

struct seen_sessions {
  int n;
  int stop_after; /* 0 = never stop */
  int64_t id[MAX_SEEN];
  int64_t user_id[MAX_SEEN];
  char user_name[MAX_SEEN][33];
};

static int collect_session(void *arg, const struct db_session *s) {
  struct seen_sessions *seen = arg;

  if (seen->n < MAX_SEEN) {
    seen->id[seen->n] = s->id;
    seen->user_id[seen->n] = s->user_id;
    memcpy(seen->user_name[seen->n], s->user_name, sizeof s->user_name);
  }
  seen->n++;
  return seen->stop_after && seen->n >= seen->stop_after;
}

struct seen_events {
  int n;
  int stop_after;
  int64_t seq[MAX_SEEN];
  int64_t t_us[MAX_SEEN];
  int dir[MAX_SEEN];
  size_t len[MAX_SEEN];
  unsigned char data[MAX_SEEN][64];
};

static int collect_event(void *arg, const struct db_event *e) {
  struct seen_events *seen = arg;

  if (seen->n < MAX_SEEN) {
    seen->seq[seen->n] = e->seq;
    seen->t_us[seen->n] = e->t_us;
    seen->dir[seen->n] = e->dir;
    seen->len[seen->n] = e->len;
    memcpy(seen->data[seen->n], e->data, e->len < 64 ? e->len : 64);
  }
  seen->n++;
  return seen->stop_after && seen->n >= seen->stop_after;
}

static int count_events(struct db *db, int64_t session_id) {
  struct seen_events seen = {0};

  if (db_events_list(db, session_id, collect_event, &seen) != 0) return -1;
  return seen.n;
}

static int64_t make_user(struct db *db, const char *name) {
  int64_t id = 0;

  CHECK_EQ_INT(db_user_create(db, name, "student", "pw", "hash", &id), 0);
  return id;
}

static int64_t make_session(struct db *db, int64_t user_id, int64_t started_us) {
  int64_t id = 0;

  CHECK_EQ_INT(db_session_create(db, user_id, "lab", 25, "raw", started_us, &id), 0);
  return id;
}

/* --- tests on any database -------------------------------------------- */

static void test_settings(struct db *db) {
  char out[64];
  char tiny[4];

  CHECK_EQ_INT(db_setting_get(db, "secret", out, sizeof out), 1);
  CHECK_EQ_INT(db_setting_set(db, "secret", "abc"), 0);
  CHECK_EQ_INT(db_setting_get(db, "secret", out, sizeof out), 0);
  CHECK_EQ_STR(out, "abc");
  CHECK_EQ_INT(db_setting_set(db, "secret", "replaced value"), 0);
  CHECK_EQ_INT(db_setting_get(db, "secret", out, sizeof out), 0);
  CHECK_EQ_STR(out, "replaced value");
  /* A value that does not fit is an error, never a silent cut. */
  CHECK_EQ_INT(db_setting_get(db, "secret", tiny, sizeof tiny), -1);
  CHECK(strlen(db_errmsg(db)) > 0);
}

static void test_users(struct db *db) {
  struct db_user u;
  char hash[64];
  char tiny_hash[3];
  int64_t alice = 0, teacher = 0, other = 0;

  CHECK_EQ_INT(db_user_create(db, "Alice", "student", "lab-pw", "rejoin$hash", &alice), 0);
  CHECK(alice > 0);
  /* One user whatever the case; the conflict is 1, not an error. */
  CHECK_EQ_INT(db_user_create(db, "alice", "student", "x", "y", &other), 1);
  CHECK_EQ_INT(db_user_create(db, "ALICE", "student", "x", "y", &other), 1);
  CHECK(strlen(db_errmsg(db)) > 0);

  CHECK_EQ_INT(db_user_by_name(db, "aLiCe", &u, hash, sizeof hash), 0);
  CHECK_EQ_INT(u.id, alice);
  CHECK_EQ_STR(u.name, "Alice");
  CHECK_EQ_STR(u.role, "student");
  CHECK_EQ_STR(u.lab_password, "lab-pw");
  CHECK_EQ_STR(hash, "rejoin$hash");
  CHECK_EQ_INT(db_user_by_name(db, "alice", &u, NULL, 0), 0);
  CHECK_EQ_INT(db_user_by_name(db, "alice", &u, tiny_hash, sizeof tiny_hash), -1);
  CHECK_EQ_INT(db_user_by_name(db, "nobody", &u, NULL, 0), 1);

  /* The teacher has neither a rejoin hash nor a lab password. */
  CHECK_EQ_INT(db_user_create(db, "teacher", "teacher", NULL, NULL, &teacher), 0);
  CHECK_EQ_INT(db_user_by_name(db, "teacher", &u, hash, sizeof hash), 0);
  CHECK_EQ_STR(u.role, "teacher");
  CHECK_EQ_STR(u.lab_password, "");
  CHECK_EQ_STR(hash, "");

  CHECK_EQ_INT(db_user_by_id(db, alice, &u), 0);
  CHECK_EQ_STR(u.name, "Alice");
  CHECK_EQ_INT(db_user_by_id(db, 999999, &u), 1);

  /* The schema refuses what the name rule and the role list refuse. */
  CHECK_EQ_INT(db_user_create(db, "bad name", "student", "", "h", NULL), -1);
  CHECK(db_error_permanent(db));
  CHECK_EQ_INT(db_user_create(db, "x/y", "student", "", "h", NULL), -1);
  CHECK_EQ_INT(db_user_create(db, "", "student", "", "h", NULL), -1);
  CHECK_EQ_INT(db_user_create(db, "abcdefghijklmnopqrstuvwxyz0123456", "student", "", "h", NULL),
               -1);
  CHECK_EQ_INT(db_user_create(db, "abcdefghijklmnopqrstuvwxyz012345", "student", "", "h", NULL), 0);
  CHECK_EQ_INT(db_user_create(db, "a-b.c_D9", "student", "", "h", NULL), 0);
  CHECK_EQ_INT(db_user_create(db, "mallory", "admin", "", "h", NULL), -1);
  CHECK_EQ_INT(db_user_create(db, NULL, "student", "", "h", NULL), -1);
}

static void test_logins(struct db *db) {
  unsigned char tok1[32], tok2[32], tok3[32];
  struct db_user u;
  int64_t bob = make_user(db, "bob");

  memset(tok1, 0x11, sizeof tok1);
  memset(tok2, 0x22, sizeof tok2);
  memset(tok3, 0x33, sizeof tok3);
  tok1[0] = 0; /* hashes are bytes, NUL included */
  CHECK_EQ_INT(db_login_create(db, tok1, bob, 1000), 0);
  CHECK_EQ_INT(db_login_create(db, tok2, bob, 2000), 0);

  CHECK_EQ_INT(db_login_lookup(db, tok1, 999, &u), 0);
  CHECK_EQ_INT(u.id, bob);
  CHECK_EQ_STR(u.name, "bob");
  CHECK_EQ_STR(u.role, "student");
  /* Expired at the second it expires. */
  CHECK_EQ_INT(db_login_lookup(db, tok1, 1000, &u), 1);
  CHECK_EQ_INT(db_login_lookup(db, tok1, 5000, &u), 1);
  CHECK_EQ_INT(db_login_lookup(db, tok3, 0, &u), 1);

  CHECK_EQ_INT(db_login_delete(db, tok2), 0);
  CHECK_EQ_INT(db_login_lookup(db, tok2, 0, &u), 1);
  CHECK_EQ_INT(db_login_delete(db, tok2), 0);

  /* Foreign keys are on: a login for nobody is refused. */
  CHECK_EQ_INT(db_login_create(db, tok3, 424242, 1000), -1);
  CHECK(db_error_permanent(db));

  CHECK_EQ_INT(db_login_create(db, tok3, bob, 3000), 0);
  CHECK_EQ_INT(db_login_purge(db, 1500), 1); /* tok1 only */
  CHECK_EQ_INT(db_login_lookup(db, tok3, 1500, &u), 0);
  CHECK_EQ_INT(db_login_purge(db, 1500), 0);
}

/* A user keeps the newest LIM_LOGINS_PER_USER logins; the one just made
 * always stays, even when it expires first; other users keep theirs. */
static void test_login_cap(struct db *db) {
  unsigned char tok[32];
  struct db_user u;
  int64_t gwen = make_user(db, "gwen"), frank = make_user(db, "frank");

  memset(tok, 0xf0, sizeof tok);
  CHECK_EQ_INT(db_login_create(db, tok, frank, 100), 0);
  memset(tok, 0, sizeof tok);
  for (int i = 0; i <= LIM_LOGINS_PER_USER; i++) {
    tok[0] = (unsigned char)i;
    CHECK_EQ_INT(db_login_create(db, tok, gwen, 1000 + i), 0);
  }
  tok[0] = 0; /* the oldest went */
  CHECK_EQ_INT(db_login_lookup(db, tok, 0, &u), 1);
  for (int i = 1; i <= LIM_LOGINS_PER_USER; i++) {
    tok[0] = (unsigned char)i;
    CHECK_EQ_INT(db_login_lookup(db, tok, 0, &u), 0);
  }
  tok[0] = 0xee; /* made last but expiring first: still the one kept */
  CHECK_EQ_INT(db_login_create(db, tok, gwen, 10), 0);
  CHECK_EQ_INT(db_login_lookup(db, tok, 0, &u), 0);
  tok[0] = 1; /* the oldest of the others went instead */
  CHECK_EQ_INT(db_login_lookup(db, tok, 0, &u), 1);
  memset(tok, 0xf0, sizeof tok);
  CHECK_EQ_INT(db_login_lookup(db, tok, 0, &u), 0);
  CHECK_EQ_INT(u.id, frank);
}

static void test_sessions(struct db *db) {
  int64_t carol = make_user(db, "carol"), dave = make_user(db, "dave");
  int64_t s1 = make_session(db, carol, 1000);
  int64_t s2 = make_session(db, dave, 3000);
  int64_t s3 = make_session(db, carol, 2000);
  int64_t s4 = make_session(db, carol, 2000); /* same start as s3 */
  struct seen_sessions seen = {0};
  struct db_session s;
  int64_t id;

  /* Everyone, newest first; equal starts by id, newest first. */
  CHECK_EQ_INT(db_session_list(db, 0, collect_session, &seen), 0);
  CHECK(seen.n >= 4);
  CHECK_EQ_INT(seen.id[0], s2);
  CHECK_EQ_INT(seen.id[1], s4);
  CHECK_EQ_INT(seen.id[2], s3);
  CHECK_EQ_INT(seen.id[3], s1);
  CHECK_EQ_STR(seen.user_name[0], "dave");

  memset(&seen, 0, sizeof seen);
  CHECK_EQ_INT(db_session_list(db, carol, collect_session, &seen), 0);
  CHECK_EQ_INT(seen.n, 3);
  CHECK_EQ_INT(seen.id[0], s4);
  CHECK_EQ_INT(seen.id[1], s3);
  CHECK_EQ_INT(seen.id[2], s1);
  CHECK(seen.user_id[0] == carol && seen.user_id[1] == carol && seen.user_id[2] == carol);
  CHECK_EQ_STR(seen.user_name[2], "carol");

  memset(&seen, 0, sizeof seen);
  CHECK_EQ_INT(db_session_list(db, dave, collect_session, &seen), 0);
  CHECK_EQ_INT(seen.n, 1);
  CHECK_EQ_INT(seen.id[0], s2);

  /* The callback stops the walk. */
  memset(&seen, 0, sizeof seen);
  seen.stop_after = 2;
  CHECK_EQ_INT(db_session_list(db, carol, collect_session, &seen), 0);
  CHECK_EQ_INT(seen.n, 2);

  memset(&seen, 0, sizeof seen);
  CHECK_EQ_INT(db_session_list(db, 987654, collect_session, &seen), 0);
  CHECK_EQ_INT(seen.n, 0);

  CHECK_EQ_INT(db_session_get(db, s1, &s), 0);
  CHECK_EQ_INT(s.id, s1);
  CHECK_EQ_INT(s.user_id, carol);
  CHECK_EQ_STR(s.user_name, "carol");
  CHECK_EQ_STR(s.host, "lab");
  CHECK_EQ_INT(s.port, 25);
  CHECK_EQ_STR(s.mode, "raw");
  CHECK_EQ_INT(s.started_us, 1000);
  CHECK_EQ_INT(s.ended_us, 0);
  CHECK_EQ_INT(s.bytes_up, 0);
  CHECK_EQ_INT(s.bytes_down, 0);
  CHECK_EQ_STR(s.close_reason, "");
  CHECK_EQ_INT(db_session_get(db, 987654, &s), 1);

  CHECK_EQ_INT(db_session_finish(db, s1, 9000, 42, 310, "remote_closed"), 0);
  CHECK_EQ_INT(db_session_get(db, s1, &s), 0);
  CHECK_EQ_INT(s.ended_us, 9000);
  CHECK_EQ_INT(s.bytes_up, 42);
  CHECK_EQ_INT(s.bytes_down, 310);
  CHECK_EQ_STR(s.close_reason, "remote_closed");

  /* A long reason is cut to fit the struct, never overflows it. */
  CHECK_EQ_INT(
      db_session_finish(db, s2, 9000, 0, 0, "a reason much longer than thirty-one characters"), 0);
  CHECK_EQ_INT(db_session_get(db, s2, &s), 0);
  CHECK_EQ_INT(strlen(s.close_reason), sizeof s.close_reason - 1);

  CHECK_EQ_INT(db_session_create(db, carol, "mail.example.org", 143, "telnet", 5, &id), 0);
  CHECK_EQ_INT(db_session_get(db, id, &s), 0);
  CHECK_EQ_STR(s.host, "mail.example.org");
  CHECK_EQ_STR(s.mode, "telnet");
  CHECK_EQ_INT(s.port, 143);
  CHECK_EQ_INT(db_session_create(db, carol, "lab", 25, "ssh", 5, &id), -1);
  CHECK_EQ_INT(db_session_create(db, carol, "lab", 0, "raw", 5, &id), -1);
  CHECK_EQ_INT(db_session_create(db, carol, "", 25, "raw", 5, &id), -1);
  /* Foreign keys: no session for a user who does not exist. */
  CHECK_EQ_INT(db_session_create(db, 987654, "lab", 25, "raw", 5, &id), -1);
  CHECK(strlen(db_errmsg(db)) > 0);
}

static void test_events(struct db *db) {
  static const unsigned char bin[] = {'2', '2', '0', 0x00, 0xff, 0x00, 0xfe, '\r', '\n', 0xff};
  int64_t erin = make_user(db, "erin");
  int64_t s = make_session(db, erin, 100);
  struct db_event ev[4];
  struct seen_events seen = {0};

  ev[0] = (struct db_event){s, 1, 0, DB_DIR_NOTE, (const unsigned char *)"connected", 9};
  ev[1] = (struct db_event){s, 2, 1830, DB_DIR_S2C, bin, sizeof bin};
  ev[2] = (struct db_event){s, 3, 912000, DB_DIR_C2S, (const unsigned char *)"EHLO x\r\n", 8};
  ev[3] = (struct db_event){s, 4, 912001, DB_DIR_C2S, NULL, 0}; /* empty chunk */
  CHECK_EQ_INT(db_events_append(db, ev, 4), 0);
  CHECK_EQ_INT(db_events_append(db, ev, 0), 0);

  CHECK_EQ_INT(db_events_list(db, s, collect_event, &seen), 0);
  CHECK_EQ_INT(seen.n, 4);
  CHECK_EQ_INT(seen.seq[0], 1);
  CHECK_EQ_INT(seen.dir[0], DB_DIR_NOTE);
  CHECK(seen.len[0] == 9 && memcmp(seen.data[0], "connected", 9) == 0);
  CHECK_EQ_INT(seen.seq[1], 2);
  CHECK_EQ_INT(seen.t_us[1], 1830);
  CHECK_EQ_INT(seen.dir[1], DB_DIR_S2C);
  CHECK_EQ_INT(seen.len[1], sizeof bin);
  CHECK(memcmp(seen.data[1], bin, sizeof bin) == 0);
  CHECK_EQ_INT(seen.dir[2], DB_DIR_C2S);
  CHECK_EQ_INT(seen.t_us[2], 912000);
  CHECK_EQ_INT(seen.len[3], 0);

  memset(&seen, 0, sizeof seen);
  seen.stop_after = 1;
  CHECK_EQ_INT(db_events_list(db, s, collect_event, &seen), 0);
  CHECK_EQ_INT(seen.n, 1);

  /* A batch is all or nothing: seq 5 is new but seq 1 is taken. */
  ev[0].seq = 5;
  ev[1].seq = 1;
  CHECK_EQ_INT(db_events_append(db, ev, 2), -1);
  CHECK(db_error_permanent(db));
  CHECK_EQ_INT(count_events(db, s), 4);

  /* Events need their session (foreign key). */
  ev[0].session_id = 987654;
  CHECK_EQ_INT(db_events_append(db, ev, 1), -1);
  CHECK(db_error_permanent(db));
  ev[0].session_id = s;
  ev[0].dir = 7;
  CHECK_EQ_INT(db_events_append(db, ev, 1), -1);
  CHECK_EQ_INT(count_events(db, s), 4);
  CHECK_EQ_INT(count_events(db, 987654), 0);
}

static void test_transactions(struct db *db) {
  int64_t fay = make_user(db, "fay");
  int64_t s = make_session(db, fay, 100);
  struct db_event ev = {s, 1, 0, DB_DIR_C2S, (const unsigned char *)"x", 1};

  CHECK_EQ_INT(db_begin(db), 0);
  CHECK_EQ_INT(db_events_append(db, &ev, 1), 0);
  CHECK_EQ_INT(db_rollback(db), 0);
  CHECK_EQ_INT(count_events(db, s), 0);

  CHECK_EQ_INT(db_begin(db), 0);
  CHECK_EQ_INT(db_events_append(db, &ev, 1), 0);
  /* A failed append inside a transaction undoes only itself. */
  CHECK_EQ_INT(db_events_append(db, &ev, 1), -1);
  ev.seq = 2;
  CHECK_EQ_INT(db_events_append(db, &ev, 1), 0);
  CHECK_EQ_INT(db_session_finish(db, s, 200, 2, 0, "done"), 0);
  CHECK_EQ_INT(db_commit(db), 0);
  CHECK_EQ_INT(count_events(db, s), 2);

  /* Rolling back with no transaction open is harmless. */
  CHECK_EQ_INT(db_rollback(db), 0);
  CHECK_EQ_INT(db_commit(db), -1);
}

static void test_close_orphans(struct db *db) {
  int64_t gus = make_user(db, "gus");
  int64_t with_events = make_session(db, gus, 1000000);
  int64_t no_events = make_session(db, gus, 2000000);
  int64_t finished = make_session(db, gus, 3000000);
  static const unsigned char nul3[] = {0, 0, 0xff};
  struct db_event ev[5] = {
      {with_events, 1, 0, DB_DIR_NOTE, (const unsigned char *)"connected to lab:25", 19},
      {with_events, 2, 1500, DB_DIR_S2C, (const unsigned char *)"220 hi\r\n", 8},
      {with_events, 3, 900000, DB_DIR_C2S, (const unsigned char *)"EHLO x\r\n", 8},
      {with_events, 4, 950000, DB_DIR_S2C, nul3, sizeof nul3},
      {with_events, 5, 700000, DB_DIR_C2S, nul3, 2}, /* late seq, earlier time */
  };
  struct db_session s;

  CHECK_EQ_INT(db_events_append(db, ev, 5), 0);
  CHECK_EQ_INT(db_session_finish(db, finished, 3000005, 1, 1, "client_closed"), 0);

  /* Sessions left open by earlier tests are orphans too; count only ours
   * by checking the rows themselves. */
  CHECK(db_session_close_orphans(db, "server_restart") >= 2);
  CHECK_EQ_INT(db_session_get(db, with_events, &s), 0);
  CHECK_EQ_INT(s.ended_us, 1000000 + 950000);
  CHECK_EQ_INT(s.bytes_up, 8 + 2);
  CHECK_EQ_INT(s.bytes_down, 8 + 3);
  CHECK_EQ_STR(s.close_reason, "server_restart");
  CHECK_EQ_INT(db_session_get(db, no_events, &s), 0);
  CHECK_EQ_INT(s.ended_us, 2000000);
  CHECK_EQ_INT(s.bytes_up, 0);
  CHECK_EQ_INT(s.bytes_down, 0);
  CHECK_EQ_STR(s.close_reason, "server_restart");
  CHECK_EQ_INT(db_session_get(db, finished, &s), 0);
  CHECK_EQ_INT(s.ended_us, 3000005);
  CHECK_EQ_STR(s.close_reason, "client_closed");

  CHECK_EQ_INT(db_session_close_orphans(db, "again"), 0);
  make_session(db, gus, 4000000);
  CHECK_EQ_INT(db_session_close_orphans(db, "again"), 1);
}

/* Migration 4: recorded bytes per student follow the stored events (a
 * trigger), refused opens are one row per student however many. */
struct usage_seen {
  int n;
  int64_t recorded_of_u1;
};

static int seen_usage(void *arg, const struct db_usage *u) {
  struct usage_seen *seen = arg;
  seen->n++;
  if (strcmp(u->user_name, "usage1") == 0) seen->recorded_of_u1 = u->recorded_bytes;
  return 0;
}

static void test_usage(struct db *db) {
  int64_t u1, u2, s1, s2, total_before = 0, total = 0;
  struct db_usage u;
  struct usage_seen seen = {0, -1};
  struct db_event ev[2] = {{0, 1, 0, DB_DIR_NOTE, (const unsigned char *)"hello", 5},
                           {0, 2, 1, DB_DIR_C2S, (const unsigned char *)"\0\1\2", 3}};

  CHECK_EQ_INT(db_usage_total(db, &total_before), 0);
  CHECK_EQ_INT(db_user_create(db, "usage1", "student", "pw", "h", &u1), 0);
  CHECK_EQ_INT(db_user_create(db, "usage2", "student", "pw", "h", &u2), 0);
  CHECK_EQ_INT(db_usage_get(db, u1, &u), 0); /* nothing yet: zeros, not an error */
  CHECK_EQ_INT(u.recorded_bytes, 0);
  CHECK_EQ_INT(u.refused_opens, 0);
  CHECK_EQ_STR(u.last_refused_reason, "");
  CHECK_EQ_INT(db_session_create(db, u1, "lab", 25, "raw", 1, &s1), 0);
  CHECK_EQ_INT(db_session_create(db, u2, "lab", 25, "raw", 1, &s2), 0);
  ev[0].session_id = ev[1].session_id = s1;
  CHECK_EQ_INT(db_events_append(db, ev, 2), 0);
  ev[0].session_id = s2;
  CHECK_EQ_INT(db_events_append(db, ev, 1), 0);
  CHECK_EQ_INT(db_usage_get(db, u1, &u), 0);
  CHECK_EQ_INT(u.recorded_bytes, 8);
  CHECK_EQ_INT(db_usage_get(db, u2, &u), 0);
  CHECK_EQ_INT(u.recorded_bytes, 5);
  CHECK_EQ_INT(db_usage_total(db, &total), 0);
  CHECK_EQ_INT(total - total_before, 13);
  /* A rolled-back event is not counted. */
  CHECK_EQ_INT(db_begin(db), 0);
  ev[0].session_id = s1;
  ev[0].seq = 3;
  CHECK_EQ_INT(db_events_append(db, ev, 1), 0);
  CHECK_EQ_INT(db_rollback(db), 0);
  CHECK_EQ_INT(db_usage_get(db, u1, &u), 0);
  CHECK_EQ_INT(u.recorded_bytes, 8);
  /* Refused opens: the counter is set, the recorded bytes stay. */
  CHECK_EQ_INT(db_usage_set_refused(db, u1, 41, "target_denied", 1000), 0);
  CHECK_EQ_INT(db_usage_set_refused(db, u1, 42, "too_many_opens", 2000), 0);
  CHECK_EQ_INT(db_usage_get(db, u1, &u), 0);
  CHECK_EQ_INT(u.refused_opens, 42);
  CHECK_EQ_STR(u.last_refused_reason, "too_many_opens");
  CHECK_EQ_INT(u.last_refused_us, 2000);
  CHECK_EQ_INT(u.recorded_bytes, 8);
  CHECK_EQ_INT(db_usage_set_refused(db, u2, 1, "bad_request", 3000), 0);
  CHECK_EQ_INT(db_usage_get(db, u2, &u), 0);
  CHECK_EQ_INT(u.recorded_bytes, 5);
  CHECK_EQ_INT(u.refused_opens, 1);
  CHECK_EQ_INT(db_usage_list(db, seen_usage, &seen), 0);
  CHECK(seen.n >= 2);
  CHECK_EQ_INT(seen.recorded_of_u1, 8);
}

static void test_all(struct db *db) {
  test_settings(db);
  test_users(db);
  test_logins(db);
  test_login_cap(db);
  test_sessions(db);
  test_events(db);
  test_transactions(db);
  test_close_orphans(db);
  test_usage(db);
}

/* --- database-level tests --------------------------------------------- */

static void test_memory(void) {
  char err[256] = "";
  struct db *db = db_open(":memory:", err, sizeof err);

  CHECK(db != NULL);
  if (!db) {
    fprintf(stderr, "db_open: %s\n", err);
    return;
  }
  CHECK(db_schema_version(db) >= 1);
  test_all(db);
  db_close(db);
  db_close(NULL);
}

/* The file header says WAL with read and write format versions of 2
 * (bytes 18 and 19): a check that needs no SQL outside db/. */
static int file_is_wal(const char *path) {
  unsigned char hdr[20];
  int fd = open(path, O_RDONLY);
  ssize_t n;

  if (fd < 0) return 0;
  n = read(fd, hdr, sizeof hdr);
  close(fd);
  return n == (ssize_t)sizeof hdr && hdr[18] == 2 && hdr[19] == 2;
}

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static void test_file(void) {
  char path[] = "/tmp/portlab_test_db_XXXXXX";
  char side[sizeof path + 8];
  char err[256] = "";
  struct db *db;
  struct db_user u;
  int fd, version;

  fd = mkstemp(path);
  CHECK(fd >= 0);
  if (fd < 0) return;
  close(fd);

  db = db_open(path, err, sizeof err);
  CHECK(db != NULL);
  if (!db) {
    fprintf(stderr, "db_open: %s\n", err);
    goto done;
  }
  version = db_schema_version(db);
  CHECK(version >= 1);
  CHECK(file_is_wal(path));
  snprintf(side, sizeof side, "%s-wal", path);
  CHECK(file_exists(side));
  test_all(db);
  db_close(db);

  /* Reopening migrates nothing and keeps the data. */
  db = db_open(path, err, sizeof err);
  CHECK(db != NULL);
  if (!db) goto done;
  CHECK_EQ_INT(db_schema_version(db), version);
  CHECK_EQ_INT(db_user_by_name(db, "ALICE", &u, NULL, 0), 0);
  CHECK_EQ_STR(u.name, "Alice");
  CHECK(file_is_wal(path));

  /* A second connection, as the lab HTTP thread has, sees the same data. */
  {
    struct db *db2 = db_open(path, err, sizeof err);
    CHECK(db2 != NULL);
    if (db2) {
      CHECK_EQ_INT(db_schema_version(db2), version);
      CHECK_EQ_INT(db_user_by_name(db2, "carol", &u, NULL, 0), 0);
      db_close(db2);
    }
  }
  db_close(db);

  db = db_open(path, err, sizeof err);
  CHECK(db != NULL);
  if (db) CHECK_EQ_INT(db_schema_version(db), version);
  db_close(db);

done:
  unlink(path);
  snprintf(side, sizeof side, "%s-wal", path);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", path);
  unlink(side);
}

static void test_open_errors(void) {
  char err[256] = "";
  struct db *db = db_open("/nonexistent-dir/portlab.db", err, sizeof err);

  CHECK(db == NULL);
  CHECK(strstr(err, "/nonexistent-dir/portlab.db") != NULL);
  db = db_open(NULL, err, sizeof err);
  CHECK(db == NULL);
  CHECK(strlen(err) > 0);
}

int main(void) {
  test_memory();
  test_file();
  test_open_errors();
  return check_done();
}
