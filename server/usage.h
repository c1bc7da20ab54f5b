/* usage.h -- who uses what: recording budgets, the disk floor, open rates
 * and refused opens, per student and in total.
 *
 * Loop thread only. A student's entry is made the first time they open a
 * WebSocket (loaded from the database, so budgets survive restarts) and
 * lives as long as the process; the relay keeps a pointer to it.
 */
#ifndef PORTLAB_USAGE_H
#define PORTLAB_USAGE_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct config;
struct lab_budget;
struct usage;

struct usage_user {
  struct usage_user *next;
  int64_t user_id;
  int64_t recorded; /* bytes handed to the recorder, earlier runs included */
  int64_t refused;  /* refused opens, earlier runs included */
  char last_reason[32];
  int64_t last_refused_us; /* unix time */
  int dirty;               /* refused counters not yet written */
  int64_t *opens;          /* ring of the last opens_per_minute open times (monotonic) */
  int opens_next;
};

/* Why recording stops (USAGE_OK: it does not). */
enum usage_stop {
  USAGE_OK = 0,
  USAGE_STOP_STUDENT, /* --record-bytes-per-student */
  USAGE_STOP_TOTAL,   /* --record-bytes-total */
  USAGE_STOP_DISK,    /* --disk-floor */
};

/* cfg and db are borrowed. db_path's file system is the one watched for
 * the disk floor (none for ":memory:"). NULL on failure. */
struct usage *usage_new(struct db *db, const struct config *cfg, const char *db_path);
void usage_free(struct usage *u); /* writes pending counters; NULL is a no-op */

/* The entry of a user, loaded on first use; NULL if out of memory or the
 * database failed. */
struct usage_user *usage_user(struct usage *u, int64_t user_id);

/* Counts an open at now_mono (microseconds) and says whether it is within
 * --opens-per-minute: 1 allowed, 0 refused (a refused one is not counted). */
int usage_open_allowed(struct usage *u, struct usage_user *uu, int64_t now_mono);
/* Counts a refused open with its reason (a protocol error code). */
void usage_refused(struct usage *u, struct usage_user *uu, const char *reason, int64_t now_us);

/* How many more bytes uu may record now: *room is set (>= 0), and the
 * budget that limits it is returned when len does not fit, else USAGE_OK.
 * per_student 0 leaves the per-student budget out (the teacher). */
enum usage_stop usage_check(const struct usage *u, const struct usage_user *uu, int per_student,
                            int64_t len, int64_t *room);
void usage_recorded(struct usage *u, struct usage_user *uu, int64_t len);
/* One sentence for the transcript and the student, e.g. why recording stopped. */
void usage_stop_text(const struct usage *u, enum usage_stop why, char *out, size_t outlen);

/* Checks the disk every LIM_DISK_CHECK_MS, writes counters every
 * LIM_USAGE_FLUSH_MS, and logs the total-budget warning once. */
void usage_tick(struct usage *u, int64_t now_mono);
/* Writes every changed refused-open counter. 0 or -1. */
int usage_flush(struct usage *u);

/* Fills out so the lab servers' own-client recording (protocols/labrec.c)
 * keeps these budgets too; u is borrowed and must outlive out. */
void usage_lab_budget(struct usage *u, struct lab_budget *out);

/* Totals for GET /api/usage. disk_free is -1 when unknown. */
struct usage_totals {
  int64_t recorded, budget, per_student, disk_free, disk_floor;
  int near_total, total_reached, disk_low;
};
void usage_totals(const struct usage *u, struct usage_totals *out);
/* The live entry of a user, or NULL if not loaded (the database is then
 * up to date for them). */
const struct usage_user *usage_find(const struct usage *u, int64_t user_id);

#endif
