/* test_jsontime.c -- maybe-absent values in JSON answers: times and texts, null when absent. */
#include <cJSON.h>
#include <stdlib.h>

#include "check.h"
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

int main(void) {
  test_time();
  test_text();
  return check_done();
}
