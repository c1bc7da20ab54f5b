/* refusals.c -- the teacher's log of why a student could not connect.
 *
 * Every refusal the relay sends a student (a denied target, a failed
 * connect, too many sessions, a malformed message) is kept in a bounded
 * table: the newest --refusal-log per student, a repeat of the newest one
 * counted instead of stored again (db/class.c). The counters of issue 7
 * (student_usage) still count every refused open; this log says why.
 *
 * A student who sends refused opens in a tight loop must not cost a
 * database write each: a small direct-mapped cache remembers each
 * student's last written refusal, and an identical one within
 * LIM_REFUSAL_BATCH_MS only counts up in memory. The pending count is
 * written with the student's next different refusal, with the next repeat
 * after the window, or when the teacher reads the log (refusals_flush).
 */
#include "refusals.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "class.h"
#include "log.h"
#include "portlab_limits.h"

struct slot {
  int64_t user_id; /* 0: empty */
  char code[32];
  char target[300];
  char message[513];
  int64_t written_us; /* when this refusal was last written */
  int64_t pending;    /* repeats since, not yet written */
  int64_t pending_us; /* the latest of them */
};

/* One process, one app: the cache is the process's. */
static struct slot slots[LIM_REFUSAL_CACHE];

static void write_refusal(struct app *app, int64_t user_id, int64_t at_us, const char *code,
                          const char *target, const char *message, int64_t n) {
  if (db_refusal_add(app->db, user_id, at_us, code, target, message, n, app->cfg.refusal_log))
    log_warn("could not log a refusal for user %lld: %s", (long long)user_id, db_errmsg(app->db));
}

static void flush_slot(struct app *app, struct slot *s) {
  if (!s->user_id || !s->pending) return;
  write_refusal(app, s->user_id, s->pending_us, s->code, s->target, s->message, s->pending);
  s->written_us = s->pending_us;
  s->pending = 0;
}

void refusals_note(struct app *app, const struct db_user *user, const char *code, const char *host,
                   int port, const char *message) {
  char target[300] = "";
  int64_t now = app_now_us();
  if (!user || !user->id || !code || !code[0]) return;
  if (host && host[0]) snprintf(target, sizeof target, "%s:%d", host, port);
  if (!message) message = "";
  struct slot *s = &slots[(uint64_t)user->id % LIM_REFUSAL_CACHE];
  if (s->user_id == user->id && strcmp(s->code, code) == 0 && strcmp(s->target, target) == 0 &&
      now - s->written_us < LIM_REFUSAL_BATCH_MS * 1000LL) {
    s->pending++;
    s->pending_us = now;
    snprintf(s->message, sizeof s->message, "%s", message);
    return;
  }
  flush_slot(app, s); /* another student's, or this one's before a different refusal */
  write_refusal(app, user->id, now, code, target, message, 1);
  s->user_id = user->id;
  snprintf(s->code, sizeof s->code, "%s", code);
  snprintf(s->target, sizeof s->target, "%s", target);
  snprintf(s->message, sizeof s->message, "%s", message);
  s->written_us = now;
  s->pending = 0;
}

void refusals_flush(struct app *app, int64_t user_id) {
  for (size_t i = 0; i < LIM_REFUSAL_CACHE; i++)
    if (!user_id || slots[i].user_id == user_id) flush_slot(app, &slots[i]);
}
