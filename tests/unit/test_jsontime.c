/* test_jsontime.c -- maybe-absent values in JSON answers: times and texts, null when absent;
 * a session's fields. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "jsontime.h"

static void check_json(cJSON *o, const char *want) {
  char *text = cJSON_PrintUnformatted(o);
  CHECK_EQ_STR(text, want);
  free(text);
  cJSON_Delete(o);
}

static void test_time(void) {
  cJSON *o = cJSON_CreateObject();
  json_add_time(o, "at", 1795255440LL * 1000000 + 999999); /* the fraction is dropped */
  json_add_time(o, "never", 0);
  check_json(o, "{\"at\":\"2026-11-21T10:04:00Z\",\"never\":null}");
}

static void test_text(void) {
  cJSON *o = cJSON_CreateObject();
  json_add_text(o, "tls", "starttls");
  json_add_text(o, "close_reason", "");
  json_add_text(o, "quote", "a \"b\"");
  check_json(o, "{\"tls\":\"starttls\",\"close_reason\":null,\"quote\":\"a \\\"b\\\"\"}");
}

/* The same fields in the same order for GET /api/sessions (with tls) and
 * the live view (without); an open session's end and reason are null. */
static void test_session(void) {
  struct db_session s;
  memset(&s, 0, sizeof s);
  s.id = 7;
  snprintf(s.user_name, sizeof s.user_name, "alice");
  snprintf(s.host, sizeof s.host, "lab");
  s.port = 25;
  snprintf(s.mode, sizeof s.mode, "raw");
  snprintf(s.tls, sizeof s.tls, "starttls");
  s.started_us = 1795255440LL * 1000000;
  s.bytes_up = 42;
  s.bytes_down = 310;
  s.own_client = 1; /* the caller's to write */
  cJSON *o = cJSON_CreateObject();
  json_add_session(o, &s, 1);
  check_json(o,
             "{\"id\":7,\"user\":\"alice\",\"host\":\"lab\",\"port\":25,\"mode\":\"raw\","
             "\"tls\":\"starttls\",\"started_at\":\"2026-11-21T10:04:00Z\",\"ended_at\":null,"
             "\"bytes_up\":42,\"bytes_down\":310,\"close_reason\":null}");
  s.ended_us = s.started_us + 133LL * 1000000;
  snprintf(s.close_reason, sizeof s.close_reason, "remote_closed");
  o = cJSON_CreateObject();
  json_add_session(o, &s, 0);
  check_json(o,
             "{\"id\":7,\"user\":\"alice\",\"host\":\"lab\",\"port\":25,\"mode\":\"raw\","
             "\"started_at\":\"2026-11-21T10:04:00Z\",\"ended_at\":\"2026-11-21T10:06:13Z\","
             "\"bytes_up\":42,\"bytes_down\":310,\"close_reason\":\"remote_closed\"}");
}

int main(void) {
  test_time();
  test_text();
  test_session();
  return check_done();
}
