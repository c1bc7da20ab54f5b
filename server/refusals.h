/* refusals.h -- the teacher's log of why a student could not connect. */
#ifndef PORTLAB_REFUSALS_H
#define PORTLAB_REFUSALS_H

#include "db.h"

struct app;

/* Logs a refused open or protocol error of user (code as sent to the
 * browser, the target asked for, the message shown). Keeps the newest
 * --refusal-log entries per student; a failure is logged, never fatal. */
void refusals_note(struct app *app, const struct db_user *user, const char *code, const char *host,
                   int port, const char *message);

#endif
