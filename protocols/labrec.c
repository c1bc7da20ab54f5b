/* labrec.c -- one own-client transcript's record step, under the budgets.
 *
 * The order of the checks is the relay's (relay.c, record_event): the
 * session's cap, then usage.c's budgets through struct lab_budget. Notes
 * count like bytes, so a transcript never grows past its cap by notes.
 */
#include "labrec.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "lab.h"
#include "portlab_limits.h"
#include "recorder.h"

void labrec_event(struct lab_ctx *ctx, struct labrec_stream *r, void *uu, int user_is_student,
                  int64_t t_us, int dir, const void *p, size_t n, int force) {
  const struct lab_budget *b = ctx ? ctx->budget : NULL;
  int64_t room = LIM_TRANSCRIPT_BYTES - r->recorded, budget_room = INT64_MAX;
  int why = 0;

  if (!ctx || !ctx->rec || !r->session) return;
  if (!force) {
    if (r->stopped) return;
    if (b && uu) why = b->check(b->owner, uu, user_is_student, (int64_t)n, &budget_room);
    if (why || (int64_t)n > room) {
      char text[256];
      if (budget_room < room) room = budget_room;
      if (room > 0) labrec_event(ctx, r, uu, user_is_student, t_us, dir, p, (size_t)room, 0);
      r->stopped = 1;
      if (!why)
        snprintf(text, sizeof text, "recording truncated after %d bytes; the session goes on",
                 LIM_TRANSCRIPT_BYTES);
      else
        b->stop_text(b->owner, why, text, sizeof text);
      labrec_event(ctx, r, uu, user_is_student, t_us, DB_DIR_NOTE, text, strlen(text), 1);
      return;
    }
    r->recorded += (int64_t)n;
  }
  if (b && uu) b->recorded(b->owner, uu, (int64_t)n);
  recorder_event(ctx->rec, r->session, ++r->seq, t_us, dir, p, n);
  if (recorder_should_flush(ctx->rec)) recorder_kick(ctx->rec);
}
