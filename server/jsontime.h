/* jsontime.h -- times in JSON answers: ISO 8601 UTC, "2026-11-21T10:04:00Z"; texts
 * that may be absent, which answers give as null rather than ""; and the
 * fields of a session object, written once for every answer that has one. */
#ifndef PORTLAB_JSONTIME_H
#define PORTLAB_JSONTIME_H
#include <cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Writes unix_us (microseconds since the epoch) as ISO 8601 UTC. */
void json_time_text(int64_t unix_us, char *out, size_t outlen);

/* Adds key: the time as text, or null when unix_us is 0 (no time). */
void json_add_time(cJSON *obj, const char *key, int64_t unix_us);

/* Adds key: text, or null when text is empty (no value, like a session
 * that is not TLS or has not closed). */
void json_add_text(cJSON *obj, const char *key, const char *text);

struct db_session;

/* Adds a session's own fields, in the order every session object has them:
 * id, user, host, port, mode, tls (only when with_tls: the live view has
 * none), started_at, ended_at, bytes_up, bytes_down, close_reason. The
 * caller adds what its answer says besides (own client, state, ...). */
void json_add_session(cJSON *obj, const struct db_session *s, int with_tls);

#endif
