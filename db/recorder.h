/* recorder.h -- batches transcript events and session ends into SQLite.
 *
 * The relay hands every event to the recorder, which copies it into a
 * queue, written in one transaction, in order. The owner calls
 * recorder_kick() from a timer every LIM_RECORDER_FLUSH_MS and whenever
 * recorder_should_flush() says so; with a writer thread the writing
 * happens there. recorder_free() writes the rest at shutdown. Ordering is kept: a session's end is
 * written after all of its events.
 */
#ifndef PORTLAB_RECORDER_H
#define PORTLAB_RECORDER_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct db_event;
struct recorder;

struct recorder *recorder_new(struct db *db); /* db is borrowed */
void recorder_free(struct recorder *r);       /* flushes first; NULL is a no-op */

/* Copies data. Returns 0, or -1 if out of memory (the event is lost and
 * the loss is counted). */
int recorder_event(struct recorder *r, int64_t session_id, int64_t seq, int64_t t_us, int dir,
                   const void *data, size_t len);
int recorder_session_end(struct recorder *r, int64_t session_id, int64_t ended_us, int64_t bytes_up,
                         int64_t bytes_down, const char *reason);

/* The queued (not yet written) events of one session with after_seq < seq
 * <= up_to_seq, at most limit, in order; cb returns nonzero to stop. The
 * teacher's live view reads these after the database's part. Returns 0. */
int recorder_each_event(const struct recorder *r, int64_t session_id, int64_t after_seq,
                        int64_t up_to_seq, int limit,
                        int (*cb)(void *arg, const struct db_event *e), void *arg);

int recorder_should_flush(const struct recorder *r); /* queue reached LIM_RECORDER_BATCH */
size_t recorder_pending(const struct recorder *r);
/* Writes everything queued (and waits for the writer thread's batch
 * first), on the calling thread: for readers that need the database
 * current. On a database error the batch is kept and retried on the next
 * call (bounded: past 8 * LIM_RECORDER_BATCH queued items, or
 * LIM_RECORDER_QUEUE_BYTES with a writer thread, the oldest events are
 * dropped, counted and logged). Returns 0 or -1. */
int recorder_flush(struct recorder *r);
/* Starts the writer thread, with its own connection to db_path. 0, or -1
 * (then everything stays on the caller's thread, as before). */
int recorder_start_writer(struct recorder *r, const char *db_path);
/* What the loop calls (its timer, and when recorder_should_flush says so):
 * with a writer thread it hands the queue over and never waits; without
 * one it is recorder_flush. Returns 0 or -1. */
int recorder_kick(struct recorder *r);
/* The writer is more than LIM_RECORDER_LAG_HIGH events behind (until it is
 * back under LIM_RECORDER_LAG_LOW): the relay stops reading the targets of
 * sessions that record, so recording keeps pace instead of dropping. */
int recorder_lagging(const struct recorder *r);
uint64_t recorder_dropped(const struct recorder *r);

#endif
