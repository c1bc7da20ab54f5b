/* jsontime.c -- times in JSON answers: ISO 8601 UTC, to the second; texts or null;
 * a session's fields. */
#include "jsontime.h"

#include <time.h>

#include "db.h"

void json_time_text(int64_t unix_us, char *out, size_t outlen) {
  time_t secs = (time_t)(unix_us / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void json_add_time(cJSON *obj, const char *key, int64_t unix_us) {
  char when[32];
  if (!unix_us) {
    cJSON_AddNullToObject(obj, key);
    return;
  }
  json_time_text(unix_us, when, sizeof when);
  cJSON_AddStringToObject(obj, key, when);
}

void json_add_text(cJSON *obj, const char *key, const char *text) {
  if (text[0])
    cJSON_AddStringToObject(obj, key, text);
  else
    cJSON_AddNullToObject(obj, key);
}

void json_add_session(cJSON *obj, const struct db_session *s, int with_tls) {
  cJSON_AddNumberToObject(obj, "id", (double)s->id);
  cJSON_AddStringToObject(obj, "user", s->user_name);
  cJSON_AddStringToObject(obj, "host", s->host);
  cJSON_AddNumberToObject(obj, "port", s->port);
  cJSON_AddStringToObject(obj, "mode", s->mode);
  /* "tls" or "starttls" once the session is TLS, else null. */
  if (with_tls) json_add_text(obj, "tls", s->tls);
  json_add_time(obj, "started_at", s->started_us);
  json_add_time(obj, "ended_at", s->ended_us);
  cJSON_AddNumberToObject(obj, "bytes_up", (double)s->bytes_up);
  cJSON_AddNumberToObject(obj, "bytes_down", (double)s->bytes_down);
  json_add_text(obj, "close_reason", s->close_reason);
}
