/* labrec.h -- one own-client transcript's record step, under the budgets.
 *
 * Every lab server that records its own clients (labrec.c for the line
 * protocols and FTP data, httprec.c for the web server) hands each event
 * through labrec_event(), so the rule is one piece of code: the
 * session's LIM_TRANSCRIPT_BYTES first, then the owner's budgets
 * (struct lab_budget: per student, in all, the disk floor). Past the first
 * one reached, the part that still fits is kept, then one note saying
 * why, and nothing more of that transcript; the conversation goes on.
 * Loop thread only, like the recorder.
 */
#ifndef PORTLAB_LABREC_H
#define PORTLAB_LABREC_H

#include <stddef.h>
#include <stdint.h>

struct lab_ctx;

/* One recorded transcript (session 0: none). */
struct labrec_stream {
  int64_t session, seq;
  int64_t start_mono; /* CLOCK_MONOTONIC at its start, microseconds */
  int64_t up, down;   /* bytes_up, bytes_down, written at its end */
  int64_t recorded;   /* bytes counted against LIM_TRANSCRIPT_BYTES */
  int stopped;        /* a budget was reached: nothing more is kept */
};

/* Records n bytes of p as event dir of r, at t_us after its start. uu is
 * the owner's ctx->budget entry (NULL: only the session's cap applies),
 * user_is_student whether the per-student budget counts. force: past
 * every cap (the stop note itself). No-op without a session or recorder. */
void labrec_event(struct lab_ctx *ctx, struct labrec_stream *r, void *uu, int user_is_student,
                  int64_t t_us, int dir, const void *p, size_t n, int force);

#endif
