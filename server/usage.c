/* usage.c -- recording budgets, the disk floor, open rates and refused
 * opens, per student and in total.
 *
 * Budgets are counted when an event is handed to the recorder, so a
 * budget holds even while a batch waits to be written; the database keeps
 * its own exact copy through a trigger on events (migration 4), which is
 * what a restart loads. Refused opens are counters in memory, written in
 * one transaction at most every LIM_USAGE_FLUSH_MS: a student who sends
 * thousands of refused "open"s costs a few row updates, not thousands of
 * rows. The disk floor is checked with statvfs on the loop's tick: a
 * cheap call, made once a second.
 */
#include "usage.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "app.h"
#include "config.h"
#include "db.h"
#include "lab.h"
#include "log.h"
#include "portlab_limits.h"

struct usage {
  struct db *db;
  const struct config *cfg;
  struct usage_user *users;
  int64_t recorded_total;
  char dir[1024]; /* "" = no disk to watch */
  int64_t disk_free;
  int disk_low, warned_near, warned_reached, warned_disk;
  int64_t next_disk_check, next_flush;
};

static void dir_of(const char *path, char *out, size_t outlen) {
  const char *slash = strrchr(path, '/');
  if (!path[0] || strcmp(path, ":memory:") == 0) {
    out[0] = '\0';
  } else if (!slash) {
    snprintf(out, outlen, ".");
  } else if (slash == path) {
    snprintf(out, outlen, "/");
  } else {
    snprintf(out, outlen, "%.*s", (int)(slash - path), path);
  }
}

static void check_disk(struct usage *u) {
  struct statvfs st;
  if (!u->dir[0] || statvfs(u->dir, &st) != 0) {
    u->disk_free = -1;
    u->disk_low = 0;
    return;
  }
  u->disk_free = (int64_t)st.f_bavail * (int64_t)st.f_frsize;
  u->disk_low = u->disk_free < u->cfg->disk_floor;
  if (u->disk_low && !u->warned_disk)
    log_warn("only %lld bytes free on the database's disk (--disk-floor %lld): recording stops",
             (long long)u->disk_free, (long long)u->cfg->disk_floor);
  else if (!u->disk_low && u->warned_disk)
    log_info("%lld bytes free on the database's disk again: new sessions are recorded",
             (long long)u->disk_free);
  u->warned_disk = u->disk_low;
}

struct usage *usage_new(struct db *db, const struct config *cfg, const char *db_path) {
  struct usage *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  u->db = db;
  u->cfg = cfg;
  dir_of(db_path ? db_path : "", u->dir, sizeof u->dir);
  if (db_usage_total(db, &u->recorded_total) != 0) {
    free(u);
    return NULL;
  }
  check_disk(u);
  return u;
}

void usage_free(struct usage *u) {
  if (!u) return;
  usage_flush(u);
  while (u->users) {
    struct usage_user *next = u->users->next;
    free(u->users->opens);
    free(u->users);
    u->users = next;
  }
  free(u);
}

const struct usage_user *usage_find(const struct usage *u, int64_t user_id) {
  for (const struct usage_user *uu = u ? u->users : NULL; uu; uu = uu->next)
    if (uu->user_id == user_id) return uu;
  return NULL;
}

struct usage_user *usage_user(struct usage *u, int64_t user_id) {
  struct usage_user *uu = (struct usage_user *)usage_find(u, user_id);
  struct db_usage row;
  if (uu || !u) return uu;
  if (db_usage_get(u->db, user_id, &row) != 0) return NULL;
  uu = calloc(1, sizeof *uu);
  if (!uu) return NULL;
  uu->opens = calloc((size_t)u->cfg->opens_per_minute, sizeof *uu->opens);
  if (!uu->opens) {
    free(uu);
    return NULL;
  }
  uu->user_id = user_id;
  uu->recorded = row.recorded_bytes;
  uu->refused = row.refused_opens;
  snprintf(uu->last_reason, sizeof uu->last_reason, "%s", row.last_refused_reason);
  uu->last_refused_us = row.last_refused_us;
  uu->next = u->users;
  u->users = uu;
  return uu;
}

/* A ring of the last N open times: the slot about to be reused holds the
 * oldest, and the open is allowed if that one is a minute old (or unused). */
int usage_open_allowed(struct usage *u, struct usage_user *uu, int64_t now_mono) {
  int64_t *slot = &uu->opens[uu->opens_next];
  if (*slot && now_mono - *slot < 60 * 1000000LL) return 0;
  *slot = now_mono ? now_mono : 1;
  uu->opens_next = (uu->opens_next + 1) % u->cfg->opens_per_minute;
  return 1;
}

void usage_refused(struct usage *u, struct usage_user *uu, const char *reason, int64_t now_us) {
  (void)u;
  uu->refused++;
  snprintf(uu->last_reason, sizeof uu->last_reason, "%s", reason);
  uu->last_refused_us = now_us;
  uu->dirty = 1;
}

enum usage_stop usage_check(const struct usage *u, const struct usage_user *uu, int per_student,
                            int64_t len, int64_t *room) {
  int64_t student = per_student ? u->cfg->record_bytes_per_student - uu->recorded : INT64_MAX;
  int64_t total = u->cfg->record_bytes_total - u->recorded_total;
  enum usage_stop why = USAGE_OK;
  if (student < 0) student = 0;
  if (total < 0) total = 0;
  *room = student < total ? student : total;
  if (u->disk_low) {
    *room = 0;
    return USAGE_STOP_DISK;
  }
  if (len > total) why = USAGE_STOP_TOTAL;
  if (len > student && student <= total) why = USAGE_STOP_STUDENT;
  return why;
}

void usage_recorded(struct usage *u, struct usage_user *uu, int64_t len) {
  uu->recorded += len;
  u->recorded_total += len;
}

void usage_stop_text(const struct usage *u, enum usage_stop why, char *out, size_t outlen) {
  const char *before, *after = "";
  long long bytes;
  switch (why) {
    case USAGE_STOP_STUDENT:
      before = "you have used your recording budget of";
      bytes = u->cfg->record_bytes_per_student;
      break;
    case USAGE_STOP_TOTAL:
      before = "the class has used its recording budget of";
      bytes = u->cfg->record_bytes_total;
      break;
    case USAGE_STOP_DISK:
      before = "less than";
      bytes = u->cfg->disk_floor;
      after = " free on the server's disk";
      break;
    default:
      snprintf(out, outlen, "recording goes on");
      return;
  }
  snprintf(out, outlen, "recording stopped: %s %lld bytes%s; the session goes on", before, bytes,
           after);
}

int usage_flush(struct usage *u) {
  int rc = 0, any = 0;
  if (!u) return 0;
  for (struct usage_user *uu = u->users; uu; uu = uu->next) any |= uu->dirty;
  if (!any) return 0;
  if (db_begin(u->db) != 0) return -1;
  for (struct usage_user *uu = u->users; uu && rc == 0; uu = uu->next)
    if (uu->dirty)
      rc = db_usage_set_refused(u->db, uu->user_id, uu->refused, uu->last_reason,
                                uu->last_refused_us);
  if (rc == 0 && db_commit(u->db) == 0) {
    for (struct usage_user *uu = u->users; uu; uu = uu->next) uu->dirty = 0;
    return 0;
  }
  log_warn("could not store refused-open counters: %s", db_errmsg(u->db));
  db_rollback(u->db);
  return -1;
}

void usage_tick(struct usage *u, int64_t now_mono) {
  if (!u) return;
  if (now_mono >= u->next_disk_check) {
    u->next_disk_check = now_mono + LIM_DISK_CHECK_MS * 1000LL;
    check_disk(u);
  }
  if (now_mono >= u->next_flush) {
    u->next_flush = now_mono + LIM_USAGE_FLUSH_MS * 1000LL;
    usage_flush(u);
  }
  int64_t budget = u->cfg->record_bytes_total;
  if (!u->warned_near && u->recorded_total * 100 >= budget * LIM_RECORD_WARN_PERCENT) {
    u->warned_near = 1;
    log_warn("recorded bytes are at %lld of --record-bytes-total %lld (%d %% or more)",
             (long long)u->recorded_total, (long long)budget, LIM_RECORD_WARN_PERCENT);
  }
  if (!u->warned_reached && u->recorded_total >= budget) {
    u->warned_reached = 1;
    log_warn("--record-bytes-total %lld reached: recording has stopped for everyone",
             (long long)budget);
  }
}

void usage_totals(const struct usage *u, struct usage_totals *out) {
  memset(out, 0, sizeof *out);
  out->disk_free = -1;
  if (!u) return;
  out->recorded = u->recorded_total;
  out->budget = u->cfg->record_bytes_total;
  out->per_student = u->cfg->record_bytes_per_student;
  out->disk_free = u->disk_free;
  out->disk_floor = u->cfg->disk_floor;
  out->near_total = u->recorded_total * 100 >= out->budget * LIM_RECORD_WARN_PERCENT;
  out->total_reached = u->recorded_total >= out->budget;
  out->disk_low = u->disk_low;
}

/* --- the lab servers' view (struct lab_budget) ---------------------------- */

static void *usage_lab_user(void *owner, int64_t user_id) {
  return usage_user(owner, user_id);
}

static int usage_lab_check(void *owner, const void *uu, int per_student, int64_t len,
                           int64_t *room) {
  return (int)usage_check(owner, uu, per_student, len, room);
}

static void usage_lab_recorded(void *owner, void *uu, int64_t len) {
  usage_recorded(owner, uu, len);
}

static void usage_lab_stop_text(void *owner, int why, char *out, size_t outlen) {
  usage_stop_text(owner, (enum usage_stop)why, out, outlen);
}

void usage_lab_budget(struct usage *u, struct lab_budget *out) {
  out->owner = u;
  out->user = usage_lab_user;
  out->check = usage_lab_check;
  out->recorded = usage_lab_recorded;
  out->stop_text = usage_lab_stop_text;
}
