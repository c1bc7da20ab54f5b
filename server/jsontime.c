/* jsontime.c -- times in JSON answers: ISO 8601 UTC, to the second; texts or null. */
#include "jsontime.h"

#include <time.h>

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
