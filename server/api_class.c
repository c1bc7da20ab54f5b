/* api_class.c -- the teacher's class: gradebook, results export, class settings, students, logs.
 *
 * Every route here is the teacher's: a student gets 403 forbidden (the
 * older GET /api/progress keeps its 404), nobody without a login 401. The
 * gradebook starts from the roster (every student who joined and was not
 * removed), so a student shows before scoring anything; the teacher is not
 * in it. Every change the teacher makes is written to the audit log in
 * the same request. Run-time settings (class code, allow rules) live in
 * the settings table and are loaded at start; a value given by a flag is
 * fixed for the run and shown so.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "app.h"
#include "auth.h"
#include "buf.h"
#include "class.h"
#include "config.h"
#include "jsontime.h"
#include "labdata.h"
#include "labdb.h"
#include "lessons.h"
#include "log.h"
#include "policy.h"
#include "portlab_limits.h"
#include "progress.h"
#include "quizdb.h"
#include "recorder.h"
#include "refusals.h"
#include "relay.h"
#include "relay_tls.h"
#include "text.h"

#define REJOIN_CODE_LEN 12
#define SETTING_CLASS_CODE "class_code"
#define SETTING_ALLOW_RULES "allow_rules"

static int is_teacher(const struct db_user *user) {
  return strcmp(user->role, "teacher") == 0;
}

static int forbid_student(const struct db_user *user, struct api_response *resp) {
  if (is_teacher(user)) return 0;
  api_error(resp, 403, "forbidden", "only the teacher may do this");
  return 1;
}

static void audit(struct app *app, const struct db_user *actor, const char *action,
                  const char *student, const char *detail) {
  if (db_audit_add(app->db, app_now_us(), actor->name, action, student, detail))
    log_error("audit log: %s", db_errmsg(app->db));
  log_info("class: %s %s %s %s", actor->name, action, student ? student : "", detail ? detail : "");
}

/* --- the gradebook ---------------------------------------------------------------- */

struct gb_student {
  struct db_roster_entry e;
  size_t first, n; /* its rows in gb.rows (sorted by user id) */
};

struct gradebook {
  struct gb_student *students;
  size_t n_students, cap_students;
  struct db_progress *rows;
  size_t n_rows, cap_rows;
};

static int gb_add_student(void *arg, const struct db_roster_entry *e) {
  struct gradebook *gb = arg;
  struct gb_student *s =
      buf_array_push(&gb->students, &gb->n_students, &gb->cap_students, 32, sizeof *s, NULL);
  if (!s) return 1;
  s->e = *e;
  s->first = s->n = 0;
  return 0;
}

static int gb_add_row(void *arg, const struct db_progress *p) {
  struct gradebook *gb = arg;
  return buf_array_push(&gb->rows, &gb->n_rows, &gb->cap_rows, 32, sizeof *p, p) ? 0 : 1;
}

static int by_user(const void *a, const void *b) {
  const struct db_progress *x = a, *y = b;
  return x->user_id < y->user_id ? -1 : x->user_id > y->user_id;
}

static void gb_free(struct gradebook *gb) {
  free(gb->students);
  free(gb->rows);
}

/* Loads the roster and every progress row; rows of users not in the
 * roster (the teacher's old answers, removed students) are never looked
 * at. */
static int gb_load(struct app *app, struct gradebook *gb) {
  memset(gb, 0, sizeof *gb);
  if (db_roster_list(app->db, LABDB_DEMO_USER, gb_add_student, gb) ||
      db_progress_list(app->db, 0, NULL, gb_add_row, gb))
    return -1;
  if (gb->n_rows) qsort(gb->rows, gb->n_rows, sizeof *gb->rows, by_user);
  size_t r = 0;
  for (size_t i = 0; i < gb->n_students; i++) {
    struct gb_student *s = &gb->students[i];
    /* Binary search for the first row of this student. */
    size_t lo = 0, hi = gb->n_rows;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (gb->rows[mid].user_id < s->e.id)
        lo = mid + 1;
      else
        hi = mid;
    }
    for (r = lo; r < gb->n_rows && gb->rows[r].user_id == s->e.id; r++) {
    }
    s->first = lo;
    s->n = r - lo;
  }
  return 0;
}

static const struct db_progress *gb_row(const struct gradebook *gb, const struct gb_student *s,
                                        const char *lesson, const char *task) {
  for (size_t i = s->first; i < s->first + s->n; i++)
    if (strcmp(gb->rows[i].lesson, lesson) == 0 && strcmp(gb->rows[i].task, task) == 0)
      return &gb->rows[i];
  return NULL;
}

static cJSON *gradebook_json(struct app *app, const struct gradebook *gb) {
  int64_t now = app_now_us() / 1000000;
  cJSON *root = cJSON_CreateObject(), *lessons = cJSON_AddArrayToObject(root, "lessons");
  for (size_t i = 0; i < app->lessons->n; i++) {
    const struct lesson *l = &app->lessons->v[i];
    int points = 0;
    cJSON *o = cJSON_CreateObject(), *tasks;
    cJSON_AddStringToObject(o, "id", l->id);
    cJSON_AddStringToObject(o, "title", l->title);
    tasks = cJSON_CreateArray();
    for (size_t k = 0; k < l->n_tasks; k++) {
      const struct lesson_task *t = &l->tasks[k];
      int solved_by = 0;
      points += t->points;
      for (size_t s = 0; s < gb->n_students; s++) {
        const struct db_progress *p = gb_row(gb, &gb->students[s], l->id, t->id);
        if (p && p->solved_at) solved_by++;
      }
      cJSON *to = cJSON_CreateObject();
      cJSON_AddStringToObject(to, "id", t->id);
      cJSON_AddStringToObject(to, "kind", task_kind_names[t->kind]);
      cJSON_AddNumberToObject(to, "points", t->points);
      cJSON_AddNumberToObject(to, "solved_by", solved_by);
      cJSON_AddItemToArray(tasks, to);
    }
    cJSON_AddNumberToObject(o, "points", points);
    cJSON_AddItemToObject(o, "tasks", tasks);
    cJSON_AddItemToArray(lessons, o);
  }
  cJSON *students = cJSON_AddArrayToObject(root, "students");
  for (size_t i = 0; i < gb->n_students; i++) {
    const struct gb_student *s = &gb->students[i];
    int open = relay_user_sessions(app, s->e.id), total = 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)s->e.id);
    cJSON_AddStringToObject(o, "name", s->e.name);
    json_add_time(o, "joined_at", s->e.joined_at * 1000000);
    json_add_time(o, "last_seen_at", s->e.last_seen_at * 1000000);
    cJSON_AddBoolToObject(
        o, "online", open > 0 || (s->e.last_seen_at && now - s->e.last_seen_at <= LIM_ONLINE_SECS));
    cJSON_AddNumberToObject(o, "sessions_open", open);
    cJSON *per_lesson = cJSON_CreateObject(), *cells = cJSON_CreateObject();
    const struct db_progress *stuck = NULL;
    for (size_t li = 0; li < app->lessons->n; li++) {
      const struct lesson *l = &app->lessons->v[li];
      int score = 0;
      for (size_t k = 0; k < l->n_tasks; k++) {
        const struct db_progress *p = gb_row(gb, s, l->id, l->tasks[k].id);
        if (!p) continue;
        char key[sizeof p->lesson + sizeof p->task + 1];
        snprintf(key, sizeof key, "%s/%s", p->lesson, p->task);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddBoolToObject(c, "solved", p->solved_at != 0);
        cJSON_AddNumberToObject(c, "points", p->solved_at ? p->points : 0);
        cJSON_AddNumberToObject(c, "attempts", p->attempts);
        cJSON_AddNumberToObject(c, "hints", p->hints);
        cJSON_AddNumberToObject(c, "hint_points", p->hint_cost);
        json_add_time(c, "first_attempt_at", p->first_at * 1000000);
        json_add_time(c, "solved_at", p->solved_at * 1000000);
        cJSON_AddItemToObject(cells, key, c);
        if (p->solved_at) score += p->points;
        /* Stuck: the unsolved task with the most attempts, the longest
         * tried one among equals. */
        if (!p->solved_at && p->attempts > 0 &&
            (!stuck || p->attempts > stuck->attempts ||
             (p->attempts == stuck->attempts && p->first_at < stuck->first_at)))
          stuck = p;
      }
      cJSON_AddNumberToObject(per_lesson, l->id, score);
      total += score;
    }
    cJSON_AddNumberToObject(o, "total", total);
    cJSON_AddItemToObject(o, "lessons", per_lesson);
    cJSON_AddItemToObject(o, "tasks", cells);
    if (stuck) {
      cJSON *st = cJSON_AddObjectToObject(o, "stuck");
      char key[sizeof stuck->lesson + sizeof stuck->task + 1];
      snprintf(key, sizeof key, "%s/%s", stuck->lesson, stuck->task);
      cJSON_AddStringToObject(st, "item", key);
      cJSON_AddNumberToObject(st, "attempts", stuck->attempts);
      cJSON_AddNumberToObject(
          st, "seconds",
          stuck->first_at && now > stuck->first_at ? (double)(now - stuck->first_at) : 0);
    } else {
      cJSON_AddNullToObject(o, "stuck");
    }
    cJSON_AddItemToArray(students, o);
  }
  return root;
}

static int gradebook_quiz(struct app *app, const struct gradebook *gb, cJSON *root);

static void gradebook(struct app *app, struct api_response *resp) {
  struct gradebook gb;
  if (gb_load(app, &gb)) {
    gb_free(&gb);
    api_error_db(resp);
    return;
  }
  cJSON *root = gradebook_json(app, &gb);
  int rc = gradebook_quiz(app, &gb, root);
  gb_free(&gb);
  api_respond_or_fail(resp, rc, root);
}

/* GET /api/progress: the gradebook; a student gets 404 as before. */
void api_progress(struct app *app, const struct api_request *req, const struct db_user *user,
                  const struct api_args *args, struct api_response *resp) {
  if (!is_teacher(user)) {
    api_error(resp, 404, "not_found", "no such API endpoint");
    return;
  }
  gradebook(app, resp);
}

void api_class_gradebook(struct app *app, const struct api_request *req, const struct db_user *user,
                         const struct api_args *args, struct api_response *resp) {
  if (!forbid_student(user, resp)) gradebook(app, resp);
}

/* --- results export -------------------------------------------------------------- */

struct text {
  char *p;
  size_t n, cap;
  int failed;
};

static void text_add(struct text *t, const char *s, size_t n) {
  if (t->failed) return;
  if (t->n + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->n + n + 1) cap *= 2;
    char *grown = realloc(t->p, cap);
    if (!grown) {
      t->failed = 1;
      return;
    }
    t->p = grown;
    t->cap = cap;
  }
  memcpy(t->p + t->n, s, n);
  t->n += n;
  t->p[t->n] = '\0';
}

/* One CSV field, RFC 4180: quoted when it holds a comma, quote, CR or
 * LF, quotes doubled. A field that a spreadsheet would run as a formula
 * (=, +, -, @ first) gets a leading apostrophe inside the quotes. */
static void csv_field(struct text *t, const char *s, int last) {
  int formula = s[0] == '=' || s[0] == '+' || s[0] == '@' ||
                (s[0] == '-' && s[1] && (s[1] < '0' || s[1] > '9'));
  int quote = formula || strpbrk(s, ",\"\r\n") != NULL;
  if (quote) text_add(t, "\"", 1);
  if (formula) text_add(t, "'", 1);
  for (const char *c = s; *c; c++) {
    if (*c == '"') text_add(t, "\"", 1);
    text_add(t, c, 1);
  }
  if (quote) text_add(t, "\"", 1);
  text_add(t, last ? "\r\n" : ",", last ? 2 : 1);
}

static const char *const result_columns[] = {
    "student",          "kind",      "item",  "title",      "points", "max_points", "attempts",
    "first_attempt_at", "solved_at", "hints", "hint_points"};
#define N_RESULT_COLUMNS (sizeof result_columns / sizeof result_columns[0])

/* One row of the results, written as CSV or added to the JSON array.
 * points is in hundredths (a quiz answer may earn part of a point). */
struct result_out {
  int csv;
  struct text text;
  cJSON *rows;
};

struct result_row {
  const char *student, *kind, *item, *title;
  int points_100, max_points, attempts;
  int64_t first_us, solved_us; /* 0 = none */
  int hints, hint_points;      /* hints taken, and the points they cost */
};

static void result_emit(struct result_out *out, const struct result_row *r) {
  char pts[24], max[16], att[16], first[32] = "", solved[32] = "", hints[16], hint_pts[16];
  if (r->points_100 % 100)
    snprintf(pts, sizeof pts, "%d.%02d", r->points_100 / 100, r->points_100 % 100);
  else
    snprintf(pts, sizeof pts, "%d", r->points_100 / 100);
  if (!out->csv) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "student", r->student);
    cJSON_AddStringToObject(o, "kind", r->kind);
    cJSON_AddStringToObject(o, "item", r->item);
    cJSON_AddStringToObject(o, "title", r->title);
    cJSON_AddNumberToObject(o, "points", r->points_100 / 100.0);
    cJSON_AddNumberToObject(o, "max_points", r->max_points);
    cJSON_AddNumberToObject(o, "attempts", r->attempts);
    json_add_time(o, "first_attempt_at", r->first_us);
    json_add_time(o, "solved_at", r->solved_us);
    cJSON_AddNumberToObject(o, "hints", r->hints);
    cJSON_AddNumberToObject(o, "hint_points", r->hint_points);
    cJSON_AddItemToArray(out->rows, o);
    return;
  }
  snprintf(max, sizeof max, "%d", r->max_points);
  snprintf(att, sizeof att, "%d", r->attempts);
  if (r->first_us) json_time_text(r->first_us, first, sizeof first);
  if (r->solved_us) json_time_text(r->solved_us, solved, sizeof solved);
  snprintf(hints, sizeof hints, "%d", r->hints);
  snprintf(hint_pts, sizeof hint_pts, "%d", r->hint_points);
  const char *v[N_RESULT_COLUMNS] = {r->student, r->kind, r->item, r->title, pts,     max,
                                     att,        first,   solved,  hints,    hint_pts};
  for (size_t c = 0; c < N_RESULT_COLUMNS; c++)
    csv_field(&out->text, v[c], c + 1 == N_RESULT_COLUMNS);
}

static void results_tasks(struct app *app, struct gradebook *gb, struct result_out *out) {
  for (size_t i = 0; i < gb->n_students; i++) {
    const struct gb_student *s = &gb->students[i];
    for (size_t li = 0; li < app->lessons->n; li++) {
      const struct lesson *l = &app->lessons->v[li];
      for (size_t k = 0; k < l->n_tasks; k++) {
        const struct lesson_task *t = &l->tasks[k];
        const struct db_progress *p = gb_row(gb, s, l->id, t->id);
        char item[sizeof l->id + sizeof t->id + 1];
        snprintf(item, sizeof item, "%s/%s", l->id, t->id);
        struct result_row r = {s->e.name,
                               "task",
                               item,
                               l->title,
                               p && p->solved_at ? p->points * 100 : 0,
                               t->points,
                               p ? p->attempts : 0,
                               p ? p->first_at * 1000000 : 0,
                               p ? p->solved_at * 1000000 : 0,
                               p ? p->hints : 0,
                               p ? p->hint_cost : 0};
        result_emit(out, &r);
      }
    }
  }
}

/* The quiz tests: one row per student and test, from the student's best
 * attempt (best of N). first_attempt_at is when the first attempt
 * started; solved_at when the best one finished (none while it runs). */
struct quiz_tests {
  struct db_quiz_test *v;
  size_t n, cap;
};

static int collect_test(void *arg, const struct db_quiz_test *t) {
  struct quiz_tests *qt = arg;
  return buf_array_push(&qt->v, &qt->n, &qt->cap, 8, sizeof *t, t) ? 0 : -1;
}

struct quiz_best {
  struct db_quiz_student *v;
  size_t n, cap;
};

static int collect_best(void *arg, const struct db_quiz_student *st) {
  struct quiz_best *b = arg;
  return buf_array_push(&b->v, &b->n, &b->cap, 16, sizeof *st, st) ? 0 : -1;
}

static int earliest_start(void *arg, const struct db_quiz_attempt *a) {
  int64_t *first = arg;
  if (!*first || a->started_us < *first) *first = a->started_us;
  return 0;
}

/* Visits every (student, test) pair, tests outer and students inner in
 * gradebook order, with the student's best attempt (r->attempts 0: none;
 * t is the test). fn's student index restarts at 0 for every test. */
typedef void (*quiz_visit_fn)(void *arg, size_t student, const struct db_quiz_test *t,
                              const struct result_row *r);

static int visit_quiz(struct app *app, const struct gradebook *gb, const struct quiz_tests *qt,
                      quiz_visit_fn fn, void *arg) {
  int rc = 0;
  for (size_t k = 0; rc == 0 && k < qt->n; k++) {
    const struct db_quiz_test *t = &qt->v[k];
    struct quiz_best best = {0};
    char item[32];
    snprintf(item, sizeof item, "quiz/%lld", (long long)t->id);
    if (db_quiz_results_students(app->db, t->id, collect_best, &best)) rc = -1;
    for (size_t i = 0; rc == 0 && i < gb->n_students; i++) {
      const struct gb_student *s = &gb->students[i];
      const struct db_quiz_student *b = NULL;
      for (size_t j = 0; j < best.n && !b; j++)
        if (best.v[j].user_id == s->e.id) b = &best.v[j];
      struct result_row r = {s->e.name, "quiz_test", item, t->title, 0, t->questions,
                             0,         0,           0,    0,        0};
      if (b) {
        struct db_quiz_attempt a;
        r.points_100 = b->best_points;
        r.attempts = b->attempts;
        if (db_quiz_attempt_list(app->db, s->e.id, t->id, LIM_QUIZ_TEST_ATTEMPTS, earliest_start,
                                 &r.first_us) ||
            db_quiz_attempt_get(app->db, b->best_attempt, &a) < 0)
          rc = -1;
        else if (a.finished_us)
          r.solved_us = a.finished_us;
        else if (a.ends_us <= app_now_us())
          r.solved_us = a.ends_us; /* its clock ran out; nobody has touched it since */
      }
      if (rc == 0) fn(arg, i, t, &r);
    }
    free(best.v);
  }
  return rc;
}

/* The gradebook's quiz columns: "quiz_tests" lists the tests, and each
 * student gets "quiz": {"quiz/ID": {"points","attempts"}} from their best
 * attempt (every student, 0 points before they start). Students come in
 * gradebook order, so a cursor walks them. */
struct quiz_cols {
  cJSON *students, *cursor;
};

static void add_quiz_cell(void *arg, size_t student, const struct db_quiz_test *t,
                          const struct result_row *r) {
  struct quiz_cols *q = arg;
  q->cursor = student == 0 ? q->students->child : q->cursor ? q->cursor->next : NULL;
  if (!q->cursor) return;
  cJSON *cells = cJSON_GetObjectItemCaseSensitive(q->cursor, "quiz");
  if (!cells) cells = cJSON_AddObjectToObject(q->cursor, "quiz");
  cJSON *c = cJSON_AddObjectToObject(cells, r->item);
  cJSON_AddNumberToObject(c, "points", r->points_100 / 100.0);
  cJSON_AddNumberToObject(c, "attempts", r->attempts);
}

static int gradebook_quiz(struct app *app, const struct gradebook *gb, cJSON *root) {
  struct quiz_tests qt = {0};
  struct quiz_cols q = {cJSON_GetObjectItemCaseSensitive(root, "students"), NULL};
  cJSON *tests = cJSON_AddArrayToObject(root, "quiz_tests");
  if (db_quiz_test_list(app->db, collect_test, &qt)) {
    free(qt.v);
    return -1;
  }
  for (size_t k = 0; k < qt.n; k++) {
    cJSON *o = cJSON_CreateObject();
    char item[32];
    snprintf(item, sizeof item, "quiz/%lld", (long long)qt.v[k].id);
    cJSON_AddNumberToObject(o, "id", (double)qt.v[k].id);
    cJSON_AddStringToObject(o, "item", item);
    cJSON_AddStringToObject(o, "title", qt.v[k].title);
    cJSON_AddNumberToObject(o, "questions", qt.v[k].questions);
    cJSON_AddItemToArray(tests, o);
  }
  int rc = visit_quiz(app, gb, &qt, add_quiz_cell, &q);
  free(qt.v);
  return rc;
}

static void emit_quiz_row(void *arg, size_t student, const struct db_quiz_test *t,
                          const struct result_row *r) {
  result_emit(arg, r);
}

/* GET /api/results?format=csv|json: one row per student and item. Items
 * are lesson tasks (kind "task") and quiz tests (kind "quiz_test", from
 * each student's best attempt), with the same columns. */
void api_class_results(struct app *app, const struct api_request *req, const struct db_user *user,
                       const struct api_args *args, struct api_response *resp) {
  if (forbid_student(user, resp)) return;
  const char *format = req->arg_format && req->arg_format[0] ? req->arg_format : "json";
  int csv = strcmp(format, "csv") == 0;
  if (!csv && strcmp(format, "json") != 0) {
    api_error(resp, 400, "bad_request", "format must be csv or json");
    return;
  }
  struct gradebook gb;
  if (gb_load(app, &gb)) {
    gb_free(&gb);
    api_error_db(resp);
    return;
  }
  struct result_out out = {.csv = csv};
  cJSON *root = csv ? NULL : cJSON_CreateObject();
  out.rows = root ? cJSON_AddArrayToObject(root, "results") : NULL;
  if (csv) {
    text_add(&out.text, "\xEF\xBB\xBF", 3); /* UTF-8 BOM: Excel then reads UTF-8 */
    for (size_t c = 0; c < N_RESULT_COLUMNS; c++)
      csv_field(&out.text, result_columns[c], c + 1 == N_RESULT_COLUMNS);
  }
  results_tasks(app, &gb, &out);
  struct quiz_tests qt = {0};
  int rc = db_quiz_test_list(app->db, collect_test, &qt)
               ? -1
               : visit_quiz(app, &gb, &qt, emit_quiz_row, &out);
  free(qt.v);
  gb_free(&gb);
  if (rc || out.text.failed) {
    cJSON_Delete(root);
    free(out.text.p);
    api_error_db(resp);
    return;
  }
  if (!csv) {
    api_respond_json(resp, 200, root);
  } else {
    resp->status = 200;
    resp->content_type = "text/csv; charset=utf-8; header=present";
    resp->body = out.text.p;
    resp->body_len = out.text.n;
  }
  snprintf(resp->content_disposition, sizeof resp->content_disposition,
           "attachment; filename=\"portlab-results.%s\"", csv ? "csv" : "json");
}

/* --- class settings ---------------------------------------------------------------- */

/* Start-up: applies the stored class code (unless --class-code fixed one)
 * and the stored allow rules. A stored rule that no longer parses is
 * logged and the stored set skipped, never fatal. */
int api_class_load(struct app *app) {
  char code[sizeof app->cfg.class_code], rules[LIM_CLASS_RULES_BYTES + 1];
  int rc = db_setting_get(app->db, SETTING_CLASS_CODE, code, sizeof code);
  if (rc < 0) return -1;
  if (rc == 0 && !app->cfg.class_code_fixed)
    snprintf(app->cfg.class_code, sizeof app->cfg.class_code, "%s", code);
  rc = db_setting_get(app->db, SETTING_ALLOW_RULES, rules, sizeof rules);
  if (rc < 0) return -1;
  if (rc == 1 || !rules[0]) return 0;
  const char *list[LIM_CLASS_RULES];
  size_t n = 0;
  char *save = NULL, err[256];
  for (char *r = strtok_r(rules, "\n", &save); r && n < LIM_CLASS_RULES;
       r = strtok_r(NULL, "\n", &save))
    list[n++] = r;
  if (policy_set_runtime_rules(app->policy, list, n, err, sizeof err))
    log_error("stored allow rules ignored: %s", err);
  else
    log_info("%zu allow rule(s) set by the teacher at run time", n);
  return 0;
}

static cJSON *class_json(struct app *app) {
  cJSON *root = cJSON_CreateObject(), *code = cJSON_AddObjectToObject(root, "class_code");
  int hints_cost = 0;
  json_add_text(code, "value", app->cfg.class_code);
  cJSON_AddBoolToObject(code, "fixed", app->cfg.class_code_fixed);
  /* Whether students may download their TLS sessions' key logs. */
  cJSON_AddBoolToObject(root, "keylog_export", relay_tls_keylog_allowed(app));
  cJSON *allow = cJSON_AddArrayToObject(root, "allow");
  const char *rule;
  for (size_t i = 0; (rule = policy_rule_text(app->policy, i)) != NULL; i++) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "rule", rule);
    cJSON_AddBoolToObject(r, "fixed", policy_rule_fixed(app->policy, i));
    cJSON_AddItemToArray(allow, r);
  }
  /* A failed read shows the setting off, which is also what applies then. */
  if (db_class_hints_cost(app->db, &hints_cost) != 0) hints_cost = 0;
  cJSON_AddBoolToObject(root, "hints_cost_points", hints_cost);
  return root;
}

void api_class_get(struct app *app, const struct api_request *req, const struct db_user *user,
                   const struct api_args *args, struct api_response *resp) {
  if (!forbid_student(user, resp)) api_respond_json(resp, 200, class_json(app));
}

/* PUT /api/class {"class_code": "..."|null, "allow": ["RULE", ...],
 * "hints_cost_points": true|false, "keylog_export": true|false}: each
 * member present replaces that
 * setting; an absent one is kept. */
void api_class_put(struct app *app, const struct api_request *req, const struct db_user *user,
                   const struct api_args *args, struct api_response *resp) {
  if (forbid_student(user, resp)) return;
  const cJSON *body = api_body(req, args, resp);
  if (!body) return;
  cJSON *code = cJSON_GetObjectItemCaseSensitive(body, "class_code");
  cJSON *allow = cJSON_GetObjectItemCaseSensitive(body, "allow");
  cJSON *hints_cost = cJSON_GetObjectItemCaseSensitive(body, "hints_cost_points");
  cJSON *keylog = cJSON_GetObjectItemCaseSensitive(body, "keylog_export");
  const char *list[LIM_CLASS_RULES];
  char stored[LIM_CLASS_RULES_BYTES + 1] = "", err[256], detail[LIM_CLASS_RULES_BYTES + 64];
  size_t n = 0, used = 0;
  if (code && !cJSON_IsNull(code) &&
      (!cJSON_IsString(code) || strlen(code->valuestring) >= sizeof app->cfg.class_code ||
       !text_name_valid(code->valuestring))) {
    api_error(resp, 400, "bad_request",
              "\"class_code\" must be null or 1 to 32 letters, digits, '_', '.' or '-'");
    return;
  }
  if (hints_cost && !cJSON_IsBool(hints_cost)) {
    api_error(resp, 400, "bad_request", "\"hints_cost_points\" must be true or false");
    return;
  }
  if (keylog && !cJSON_IsBool(keylog)) {
    api_error(resp, 400, "bad_request", "\"keylog_export\" must be true or false");
    return;
  }
  if (code && app->cfg.class_code_fixed) {
    api_error(resp, 409, "fixed",
              "the class code was set with --class-code and cannot change while portlab runs");
    return;
  }
  if (allow) {
    cJSON *r;
    if (!cJSON_IsArray(allow)) {
      api_error(resp, 400, "bad_request", "\"allow\" must be an array of rule strings");
      return;
    }
    cJSON_ArrayForEach(r, allow) {
      size_t len = cJSON_IsString(r) ? strlen(r->valuestring) : 0;
      if (!len || strchr(r->valuestring, '\n') || n == LIM_CLASS_RULES ||
          used + len + 1 > LIM_CLASS_RULES_BYTES) {
        snprintf(err, sizeof err,
                 "\"allow\" holds at most %d non-empty rule strings of %d bytes in all",
                 LIM_CLASS_RULES, LIM_CLASS_RULES_BYTES);
        api_error(resp, 400, "bad_request", err);
        return;
      }
      list[n++] = r->valuestring;
      used += (size_t)snprintf(stored + used, sizeof stored - used, "%s%s", used ? "\n" : "",
                               r->valuestring);
    }
    /* Parse first, so a bad rule changes nothing. */
    if (policy_set_runtime_rules(app->policy, list, n, err, sizeof err)) {
      api_error(resp, 400, "bad_rule", err);
      return;
    }
    if (db_setting_set(app->db, SETTING_ALLOW_RULES, stored)) goto fail;
    snprintf(detail, sizeof detail, "%s", stored);
    for (char *c = detail; *c; c++)
      if (*c == '\n') *c = ' ';
    audit(app, user, "allow_rules", NULL, detail);
  }
  if (code) {
    const char *v = cJSON_IsString(code) ? code->valuestring : "";
    if (db_setting_set(app->db, SETTING_CLASS_CODE, v)) goto fail;
    snprintf(app->cfg.class_code, sizeof app->cfg.class_code, "%s", v);
    audit(app, user, "class_code", NULL, v[0] ? "changed" : "removed");
  }
  if (hints_cost) {
    if (db_class_set_hints_cost(app->db, cJSON_IsTrue(hints_cost))) goto fail;
    audit(app, user, "hints_cost", NULL, cJSON_IsTrue(hints_cost) ? "on" : "off");
  }
  if (keylog) {
    if (db_setting_set(app->db, SETTING_KEYLOG_EXPORT, cJSON_IsTrue(keylog) ? "on" : "off"))
      goto fail;
    audit(app, user, "keylog_export", NULL, cJSON_IsTrue(keylog) ? "on" : "off");
  }
  api_respond_json(resp, 200, class_json(app));
  return;
fail:
  api_error_db(resp);
}

/* --- students ----------------------------------------------------------------------- */

/* The roster student of the route's id, or answers 404 and returns 1. */
static int find_student(struct app *app, const struct api_args *args, struct db_roster_entry *s,
                        struct api_response *resp) {
  int rc = db_roster_get(app->db, args->id, LABDB_DEMO_USER, s);
  if (rc < 0) api_error_db(resp);
  if (rc == 1) api_error(resp, 404, "not_found", "no such student");
  return rc != 0;
}

static void hash_code(const char *code, char out[65]) {
  unsigned char h[32];
  crypto_sha256(code, strlen(code), h);
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

void api_class_rejoin_code(struct app *app, const struct api_request *req,
                           const struct db_user *user, const struct api_args *args,
                           struct api_response *resp) {
  struct db_roster_entry s;
  char code[REJOIN_CODE_LEN + 1], hash[65];
  if (forbid_student(user, resp) || find_student(app, args, &s, resp)) return;
  if (crypto_random_word(code, REJOIN_CODE_LEN)) {
    api_error_db(resp);
    return;
  }
  hash_code(code, hash);
  if (db_user_set_rejoin(app->db, s.id, hash)) {
    api_error_db(resp);
    return;
  }
  audit(app, user, "rejoin_code", s.name, "new rejoin code issued");
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "name", s.name);
  cJSON_AddStringToObject(root, "rejoin_code", code);
  api_respond_json(resp, 200, root);
}

/* Ends the student's logins and relays; their open sessions close with
 * teacher_ended. Returns the relays ended, or -1. */
static int sign_out(struct app *app, int64_t id) {
  if (db_login_delete_user(app->db, id) < 0) return -1;
  return relay_end_user(app, id, "teacher_ended");
}

void api_class_sign_out(struct app *app, const struct api_request *req, const struct db_user *user,
                        const struct api_args *args, struct api_response *resp) {
  struct db_roster_entry s;
  char detail[64];
  if (forbid_student(user, resp) || find_student(app, args, &s, resp)) return;
  int n = sign_out(app, s.id);
  if (n < 0) {
    api_error_db(resp);
    return;
  }
  snprintf(detail, sizeof detail, "%d connection(s) ended", n);
  audit(app, user, "sign_out", s.name, detail);
  cJSON *root = cJSON_CreateObject();
  cJSON_AddNumberToObject(root, "ended", n);
  api_respond_json(resp, 200, root);
}

/* POST .../remove {"purge": bool}: the student can no longer log in;
 * with purge their sessions and transcripts are deleted too. */
void api_class_remove(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp) {
  struct db_roster_entry s;
  if (forbid_student(user, resp) || find_student(app, args, &s, resp)) return;
  const cJSON *body = api_body(req, args, resp);
  if (!body) return;
  cJSON *purge = cJSON_GetObjectItemCaseSensitive(body, "purge");
  int purged = 0;
  if (purge && !cJSON_IsBool(purge)) {
    api_error(resp, 400, "bad_request", "\"purge\" must be true or false");
    return;
  }
  if (sign_out(app, s.id) < 0 || db_user_remove(app->db, s.id, app_now_us() / 1000000)) goto fail;
  if (cJSON_IsTrue(purge)) {
    /* The ended sessions' last events must be written before their rows go. */
    if (app->recorder) recorder_flush(app->recorder);
    purged = db_sessions_purge_user(app->db, s.id);
    if (purged < 0) goto fail;
  }
  char detail[64];
  snprintf(detail, sizeof detail, cJSON_IsTrue(purge) ? "%d session(s) purged" : "transcripts kept",
           purged);
  audit(app, user, "remove", s.name, detail);
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "name", s.name);
  cJSON_AddNumberToObject(root, "sessions_purged", purged);
  api_respond_json(resp, 200, root);
  return;
fail:
  api_error_db(resp);
}

void api_class_reset_lab(struct app *app, const struct api_request *req, const struct db_user *user,
                         const struct api_args *args, struct api_response *resp) {
  struct db_roster_entry s;
  if (forbid_student(user, resp) || find_student(app, args, &s, resp)) return;
  if (db_lab_data_clear(app->db, s.id) ||
      labdata_seed_account(app->db, app->lab_secret, s.id, s.name)) {
    api_error_db(resp);
    return;
  }
  audit(app, user, "reset_lab", s.name, "mail and files back to the start");
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "name", s.name);
  api_respond_json(resp, 200, root);
}

static int add_refusal(void *arg, const struct db_refusal *r) {
  cJSON *o = cJSON_CreateObject();
  json_add_time(o, "at", r->at_us);
  cJSON_AddStringToObject(o, "code", r->code);
  json_add_text(o, "target", r->target);
  cJSON_AddStringToObject(o, "message", r->message);
  cJSON_AddNumberToObject(o, "count", (double)r->count);
  cJSON_AddItemToArray(arg, o);
  return 0;
}

void api_class_refusals(struct app *app, const struct api_request *req, const struct db_user *user,
                        const struct api_args *args, struct api_response *resp) {
  struct db_roster_entry s;
  if (forbid_student(user, resp) || find_student(app, args, &s, resp)) return;
  refusals_flush(app, s.id); /* repeats still counted in memory */
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "name", s.name);
  cJSON_AddNumberToObject(root, "keep", app->cfg.refusal_log);
  cJSON *list = cJSON_AddArrayToObject(root, "refusals");
  api_respond_or_fail(resp, db_refusal_list(app->db, s.id, add_refusal, list), root);
}

static int add_audit(void *arg, const struct db_audit *a) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)a->id);
  json_add_time(o, "at", a->at_us);
  cJSON_AddStringToObject(o, "actor", a->actor);
  cJSON_AddStringToObject(o, "action", a->action);
  json_add_text(o, "student", a->student);
  cJSON_AddStringToObject(o, "detail", a->detail);
  cJSON_AddItemToArray(arg, o);
  return 0;
}

void api_class_audit(struct app *app, const struct api_request *req, const struct db_user *user,
                     const struct api_args *args, struct api_response *resp) {
  if (forbid_student(user, resp)) return;
  cJSON *root = cJSON_CreateObject();
  cJSON *list = cJSON_AddArrayToObject(root, "entries");
  api_respond_or_fail(resp, db_audit_list(app->db, LIM_AUDIT_SHOWN, add_audit, list), root);
}
