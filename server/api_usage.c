/* api_usage.c -- GET /api/usage: the teacher's view of who uses what.
 *
 * Per student: recorded bytes against the per-student budget, sessions
 * open now, refused opens with the last reason; in total: recorded bytes
 * against the class budget, free disk against the floor, and the
 * warnings the teacher's page shows; and the addresses that sent wrong
 * teacher passwords, class codes or rejoin codes, with how long each must
 * still wait (throttle.c). The database holds what earlier runs
 * counted; the live counters (usage.c) are newer for students seen since
 * the start, so they win.
 */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "api_internal.h"
#include "app.h"
#include "jsontime.h"
#include "relay.h"
#include "throttle.h"
#include "usage.h"

struct usage_list {
  struct app *app;
  cJSON *students;
};

static int add_student(void *arg, const struct db_usage *row) {
  struct usage_list *l = arg;
  struct db_usage u = *row;
  const struct usage_user *live = usage_find(l->app->usage, u.user_id);
  cJSON *o = cJSON_CreateObject();
  if (live) {
    u.recorded_bytes = live->recorded;
    u.refused_opens = live->refused;
    snprintf(u.last_refused_reason, sizeof u.last_refused_reason, "%s", live->last_reason);
    u.last_refused_us = live->last_refused_us;
  }
  cJSON_AddStringToObject(o, "name", u.user_name);
  cJSON_AddNumberToObject(o, "recorded_bytes", (double)u.recorded_bytes);
  cJSON_AddNumberToObject(o, "record_budget", (double)l->app->cfg.record_bytes_per_student);
  cJSON_AddNumberToObject(o, "sessions_open", relay_user_sessions(l->app, u.user_id));
  cJSON_AddNumberToObject(o, "refused_opens", (double)u.refused_opens);
  json_add_text(o, "last_refused_reason", u.last_refused_reason);
  json_add_time(o, "last_refused_at", u.last_refused_us);
  cJSON_AddItemToArray(l->students, o);
  return 0;
}

static void add_throttled(void *arg, const struct throttle_report *r) {
  char addr[64];
  cJSON *o = cJSON_CreateObject();
  throttle_addr_text(&r->addr, addr, sizeof addr);
  cJSON_AddStringToObject(o, "address", addr);
  cJSON_AddStringToObject(o, "kind", throttle_kind_name(r->kind));
  cJSON_AddNumberToObject(o, "failures", r->failures);
  cJSON_AddNumberToObject(o, "wait_secs", (double)((r->wait_us + 999999) / 1000000));
  cJSON_AddItemToArray(arg, o);
}

void api_usage(struct app *app, const struct api_request *req, const struct db_user *user,
               const struct api_args *args, struct api_response *resp) {
  struct usage_totals t;
  struct usage_list l;
  cJSON *root, *totals, *warnings;
  if (strcmp(user->role, "teacher") != 0) {
    api_error(resp, 403, "forbidden", "only the teacher may see the class's usage");
    return;
  }
  root = cJSON_CreateObject();
  l.app = app;
  l.students = cJSON_AddArrayToObject(root, "students");
  if (db_usage_list(app->db, add_student, &l) != 0) {
    cJSON_Delete(root);
    api_error_db(resp);
    return;
  }
  usage_totals(app->usage, &t);
  totals = cJSON_AddObjectToObject(root, "totals");
  cJSON_AddNumberToObject(totals, "recorded_bytes", (double)t.recorded);
  cJSON_AddNumberToObject(totals, "record_budget", (double)t.budget);
  cJSON_AddNumberToObject(totals, "sessions_open", relay_user_sessions(app, 0));
  cJSON_AddNumberToObject(totals, "max_sessions", app->cfg.max_sessions);
  if (t.disk_free >= 0)
    cJSON_AddNumberToObject(totals, "disk_free", (double)t.disk_free);
  else
    cJSON_AddNullToObject(totals, "disk_free");
  cJSON_AddNumberToObject(totals, "disk_floor", (double)t.disk_floor);
  cJSON *throttled = cJSON_AddArrayToObject(root, "throttled");
  size_t n =
      throttle_report(app->throttle, app_mono_us(), LIM_USAGE_THROTTLED, add_throttled, throttled);
  cJSON_AddNumberToObject(totals, "throttled_addresses", (double)n);
  warnings = cJSON_AddArrayToObject(root, "warnings");
  if (t.total_reached)
    cJSON_AddItemToArray(warnings, cJSON_CreateString("record_total_reached"));
  else if (t.near_total)
    cJSON_AddItemToArray(warnings, cJSON_CreateString("record_total_near"));
  if (t.disk_low) cJSON_AddItemToArray(warnings, cJSON_CreateString("disk_low"));
  api_respond_json(resp, 200, root);
}
