/* class.h -- the teacher's class: roster, student management, the refusal log and the audit log. */
#ifndef PORTLAB_CLASS_H
#define PORTLAB_CLASS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* One student of the roster: joined and not removed. */
struct db_roster_entry {
  int64_t id;
  char name[33];
  int64_t joined_at;    /* unix seconds */
  int64_t last_seen_at; /* unix seconds; 0 = never since the column exists */
};

/* Every student who joined and was not removed, by name; the account
 * named except (may be NULL: the demo account) is left out. cb returns
 * nonzero to stop. */
int db_roster_list(struct db *db, const char *except,
                   int (*cb)(void *arg, const struct db_roster_entry *e), void *arg);
/* A student of the roster by id (the teacher, a removed student and
 * except are not in it): 0 found, 1 not, -1 error. */
int db_roster_get(struct db *db, int64_t id, const char *except, struct db_roster_entry *out);

/* Notes that the user made a request at now_unix. Writes only when the
 * stored time is older than DB_SEEN_GRANULARITY seconds. */
#define DB_SEEN_GRANULARITY 30
int db_user_seen(struct db *db, int64_t user_id, int64_t now_unix);
/* 1 if the user was removed by the teacher, 0 if not, -1 on error. */
int db_user_removed(struct db *db, int64_t user_id);
/* Marks a student removed: no login (cookie, join, lab servers) works
 * for them again. Their logins are deleted. */
int db_user_remove(struct db *db, int64_t user_id, int64_t now_unix);
/* Replaces the rejoin code's hash (hex SHA-256). */
int db_user_set_rejoin(struct db *db, int64_t user_id, const char *rejoin_hash);
/* Deletes every login of the user; returns how many, or -1. */
int db_login_delete_user(struct db *db, int64_t user_id);
/* Deletes the user's sessions and their transcripts, and zeroes the
 * recorded bytes counted for them. Returns sessions deleted, or -1. */
int db_sessions_purge_user(struct db *db, int64_t user_id);
/* Deletes the user's lab mail and files and the mark that they were
 * seeded, so the next seeding starts them again from scratch. */
int db_lab_data_clear(struct db *db, int64_t user_id);

/* The refusal log: the newest refusals and protocol errors of each
 * student, at most keep rows per student. A refusal equal to the newest
 * one (same code and target) within DB_REFUSAL_MERGE_SECS adds to its
 * count instead of a row. */
#define DB_REFUSAL_MERGE_SECS 60
struct db_refusal {
  int64_t at_us; /* unix microseconds, the latest occurrence */
  char code[32];
  char target[300];
  char message[513];
  int64_t count;
};
/* Logs n (>= 1) occurrences of one refusal, the latest at at_us. */
int db_refusal_add(struct db *db, int64_t user_id, int64_t at_us, const char *code,
                   const char *target, const char *message, int64_t n, int keep);
/* Newest first. */
int db_refusal_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_refusal *r), void *arg);

/* The audit log of the teacher's class management. */
struct db_audit {
  int64_t id;
  int64_t at_us;
  char actor[33];
  char action[32];
  char student[33];
  char detail[1025];
};
int db_audit_add(struct db *db, int64_t at_us, const char *actor, const char *action,
                 const char *student, const char *detail);
/* Newest first, at most limit entries. */
int db_audit_list(struct db *db, int limit, int (*cb)(void *arg, const struct db_audit *a),
                  void *arg);

/* The teacher's choice whether taking a hint costs points (the settings
 * table, so it survives a restart): *on is 0 until it was turned on. */
int db_class_hints_cost(struct db *db, int *on);
int db_class_set_hints_cost(struct db *db, int on);

#endif
