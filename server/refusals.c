/* refusals.c -- the teacher's log of why a student could not connect.
 *
 * Every refusal the relay sends a student (a denied target, a failed
 * connect, too many sessions, a malformed message) is kept in a bounded
 * table: the newest --refusal-log per student, a repeat of the newest one
 * counted instead of stored again (db/class.c). The counters of issue 7
 * (student_usage) still count every refused open; this log says why.
 */
#include "refusals.h"

#include <stdio.h>

#include "app.h"
#include "class.h"
#include "log.h"

void refusals_note(struct app *app, const struct db_user *user, const char *code, const char *host,
                   int port, const char *message) {
  char target[300] = "";
  if (!user || !user->id || !code || !code[0]) return;
  if (host && host[0]) snprintf(target, sizeof target, "%s:%d", host, port);
  if (db_refusal_add(app->db, user->id, app_now_us(), code, target, message ? message : "",
                     app->cfg.refusal_log))
    log_warn("could not log a refusal for %s: %s", user->name, db_errmsg(app->db));
}
