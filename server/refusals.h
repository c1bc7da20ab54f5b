/* refusals.h -- the teacher's log of why a student could not connect. */
#ifndef PORTLAB_REFUSALS_H
#define PORTLAB_REFUSALS_H

#include <stdint.h>

#include "db.h"

struct app;

/* Logs a refused open or protocol error of user (code as sent to the
 * browser, the target asked for, the message shown). Keeps the newest
 * --refusal-log entries per student; a failure is logged, never fatal.
 * A repeat of the student's last refusal within LIM_REFUSAL_BATCH_MS is
 * only counted in memory and written with the next write for that student
 * or by refusals_flush. */
void refusals_note(struct app *app, const struct db_user *user, const char *code, const char *host,
                   int port, const char *message);
/* Writes the repeats counted in memory for user_id (0: everyone), so a
 * reader of the log sees exact counts. */
void refusals_flush(struct app *app, int64_t user_id);

#endif
