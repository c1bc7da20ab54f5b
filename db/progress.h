/* progress.h -- lab events (what students did on the lab servers) and task progress. */
#ifndef PORTLAB_PROGRESS_H
#define PORTLAB_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

/* Records that user_id did event ("smtp.delivered") with attrs, a JSON
 * object of strings ({"to":"demo@lab","subject":"Hi"}). */
int db_lab_event_add(struct db *db, int64_t user_id, const char *event, const char *attrs_json);
/* Calls match for each of the user's events of that name, newest first,
 * until it returns 1. 0 = a match was found, 1 = none, -1 = error. */
int db_lab_event_find(struct db *db, int64_t user_id, const char *event,
                      int (*match)(void *arg, const char *attrs_json), void *arg);

struct db_progress {
  int64_t user_id;
  char user_name[33];
  char lesson[41];
  char task[61];
  int attempts;
  int64_t solved_at; /* unix seconds; 0 = not yet */
  int points;        /* earned: the task's points once solved */
  int64_t first_at;  /* unix seconds of the first attempt; 0 = unknown */
  int hints;         /* hints taken */
  int hint_cost;     /* points those hints cost (taken before the solve, while hints cost) */
};

/* Records one attempt; a solved task stays solved (and keeps its first
 * solved_at) whatever later attempts say. */
int db_progress_attempt(struct db *db, int64_t user_id, const char *lesson, const char *task,
                        int solved, int points);
/* One more hint taken; it costs cost points of the task unless the task is
 * solved already (a row with no attempt is created if need be). */
int db_progress_hint(struct db *db, int64_t user_id, const char *lesson, const char *task,
                     int cost);
/* user_id 0 = everyone; lesson NULL = every lesson. Ordered by user, lesson, task. */
int db_progress_list(struct db *db, int64_t user_id, const char *lesson,
                     int (*cb)(void *arg, const struct db_progress *p), void *arg);

#endif
