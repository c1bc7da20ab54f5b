/* api_lessons.c -- the lesson routes: list, one lesson, answering a task, class progress.
 *
 * Answers never leave the server: a lesson is sent as its rendered HTML
 * plus each task's prompt, kind, points and the student's state. A
 * question or flag is checked when the student answers; a check task is
 * checked against the lab events (what the student really did on the lab
 * servers) whenever the lesson is opened or the student asks. Attempts
 * per task are capped so a small answer space cannot be walked. The
 * teacher's answers are checked but never scored or stored. The class's
 * progress (the gradebook) is api_class.c's.
 *
 * Hints are sent one at a time, only once taken (the teacher sees them
 * all). When the teacher made hints cost points, each hint taken before
 * the solve takes the task's hint-cost off what the solve earns; the cost
 * is in the task before the student asks, and is kept per student with
 * the task's progress.
 */
#define _GNU_SOURCE /* strcasestr */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_internal.h"
#include "app.h"
#include "buf.h"
#include "class.h"
#include "lessons.h"
#include "log.h"
#include "portlab_limits.h"
#include "progress.h"

struct task_state {
  char lesson[41];
  char task[61];
  int attempts;
  int solved;
  int points; /* earned, once solved */
  int hints, hint_cost;
};

/* The user's progress rows, loaded once per request. */
struct progress_set {
  struct task_state *v;
  size_t n, cap;
};

static int collect(void *arg, const struct db_progress *p) {
  struct progress_set *ps = arg;
  struct task_state *t = buf_array_push(&ps->v, &ps->n, &ps->cap, 32, sizeof *t, NULL);
  if (!t) return 1;
  snprintf(t->lesson, sizeof t->lesson, "%s", p->lesson);
  snprintf(t->task, sizeof t->task, "%s", p->task);
  t->attempts = p->attempts;
  t->solved = p->solved_at != 0;
  t->points = p->points;
  t->hints = p->hints;
  t->hint_cost = p->hint_cost;
  return 0;
}

static const struct task_state *state_of(const struct progress_set *ps, const char *lesson,
                                         const char *task) {
  for (size_t i = 0; i < ps->n; i++)
    if (strcmp(ps->v[i].lesson, lesson) == 0 && strcmp(ps->v[i].task, task) == 0) return &ps->v[i];
  return NULL;
}

static int load_progress(struct app *app, int64_t user_id, struct progress_set *ps) {
  memset(ps, 0, sizeof *ps);
  return db_progress_list(app->db, user_id, NULL, collect, ps);
}

/* Reads ps again after a write changed the user's rows. */
static int reload_progress(struct app *app, int64_t user_id, struct progress_set *ps) {
  free(ps->v);
  return load_progress(app, user_id, ps);
}

static int solved(const struct progress_set *ps, const char *lesson, const char *task) {
  const struct task_state *s = state_of(ps, lesson, task);
  return s && s->solved;
}

static cJSON *targets_json(const char *targets) {
  cJSON *arr = cJSON_CreateArray();
  char copy[sizeof((struct lesson *)0)->targets];
  snprintf(copy, sizeof copy, "%s", targets);
  char *save = NULL;
  for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
    cJSON_AddItemToArray(arr, cJSON_CreateString(t));
  return arr;
}

/* What solving t earns now: its points less what the hints taken cost. */
static int task_worth(const struct progress_set *ps, const char *lesson,
                      const struct lesson_task *t) {
  const struct task_state *s = state_of(ps, lesson, t->id);
  int worth = t->points - (s ? s->hint_cost : 0);
  return worth > 0 ? worth : 0;
}

static void lesson_totals(const struct lesson *l, const struct progress_set *ps, int *points,
                          int *score, int *n_solved) {
  *points = *score = *n_solved = 0;
  for (size_t i = 0; i < l->n_tasks; i++) {
    const struct task_state *s = state_of(ps, l->id, l->tasks[i].id);
    *points += l->tasks[i].points;
    if (s && s->solved) {
      *score += s->points; /* as earned: hints may have cost some */
      (*n_solved)++;
    }
  }
}

/* --- check tasks ------------------------------------------------------------ */

struct check_match {
  const struct lesson_task *t;
  int ignore_via; /* 1: as if the task did not ask for the browser */
};

static int event_matches(void *arg, const char *attrs_json) {
  const struct check_match *cm = arg;
  const struct lesson_task *t = cm->t;
  cJSON *attrs = cJSON_Parse(attrs_json);
  int ok = cJSON_IsObject(attrs);
  for (size_t i = 0; ok && i < t->n_conds; i++) {
    if (cm->ignore_via && strcmp(t->conds[i].key, "via") == 0) continue;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, t->conds[i].key);
    if (!cJSON_IsString(v)) {
      ok = 0;
    } else if (strcmp(t->conds[i].key, "subject") == 0) {
      ok = strcasestr(v->valuestring, t->conds[i].value) != NULL;
    } else {
      ok = strcasecmp(v->valuestring, t->conds[i].value) == 0;
    }
  }
  cJSON_Delete(attrs);
  return ok;
}

/* 1 if the student's lab events satisfy the check task. */
static int check_done(struct app *app, int64_t user_id, const struct lesson_task *t) {
  struct check_match cm = {t, 0};
  return db_lab_event_find(app->db, user_id, t->event, event_matches, &cm) == 0;
}

/* A check task that asks for the browser (via: browser), not done, but
 * done with the student's own client: say so rather than "not yet". */
static const char *check_feedback(struct app *app, int64_t user_id, const struct lesson_task *t) {
  struct check_match cm = {t, 1};
  int asks_browser = 0;
  for (size_t i = 0; i < t->n_conds; i++)
    if (strcmp(t->conds[i].key, "via") == 0 && strcmp(t->conds[i].value, "browser") == 0)
      asks_browser = 1;
  if (!asks_browser || db_lab_event_find(app->db, user_id, t->event, event_matches, &cm) != 0)
    return NULL;
  return "You did it with a program of your own; this task asks you to type the commands "
         "yourself in the browser's terminal.";
}

/* Marks newly satisfied check tasks solved, so the lesson shows them. */
static void settle_checks(struct app *app, const struct db_user *user, const struct lesson *l,
                          struct progress_set *ps) {
  int changed = 0;
  for (size_t i = 0; i < l->n_tasks; i++) {
    const struct lesson_task *t = &l->tasks[i];
    if (t->kind != TASK_CHECK || solved(ps, l->id, t->id)) continue;
    if (check_done(app, user->id, t)) {
      db_progress_attempt(app->db, user->id, l->id, t->id, 1, task_worth(ps, l->id, t));
      changed = 1;
    }
  }
  if (changed) reload_progress(app, user->id, ps);
}

/* Whether hints cost points now (the teacher's class setting). A failed
 * read counts as free: the student is never charged by an error. */
static int hints_cost_on(struct app *app) {
  int on = 0;
  if (db_class_hints_cost(app->db, &on) != 0) return 0;
  return on;
}

/* What the next hint of t costs this student: 0 when hints are free, the
 * task is solved or no hint is left. */
static int next_hint_cost(int cost_on, const struct lesson_task *t, const struct task_state *s) {
  if (!cost_on || (s && s->solved) || (size_t)(s ? s->hints : 0) >= t->n_hints) return 0;
  return t->hint_cost;
}

/* all_hints: the teacher's view, every hint's text. A student gets only the
 * texts of hints taken, and the cost of the next before taking it. */
static cJSON *task_json(const struct lesson *l, const struct lesson_task *t,
                        const struct progress_set *ps, int cost_on, int all_hints) {
  const struct task_state *s = state_of(ps, l->id, t->id);
  size_t taken = all_hints ? t->n_hints : s ? (size_t)s->hints : 0;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", t->id);
  cJSON_AddStringToObject(o, "kind", task_kind_names[t->kind]);
  cJSON_AddNumberToObject(o, "points", t->points);
  cJSON_AddStringToObject(o, "prompt", t->prompt);
  cJSON_AddBoolToObject(o, "solved", s && s->solved);
  cJSON_AddNumberToObject(o, "attempts", s ? s->attempts : 0);
  if (s && s->solved) cJSON_AddNumberToObject(o, "earned", s->points);
  cJSON_AddNumberToObject(o, "hints", (double)t->n_hints);
  cJSON *texts = cJSON_AddArrayToObject(o, "hints_taken");
  for (size_t i = 0; i < taken && i < t->n_hints; i++)
    cJSON_AddItemToArray(texts, cJSON_CreateString(t->hints[i]));
  cJSON_AddNumberToObject(o, "hint_points", s ? s->hint_cost : 0);
  cJSON_AddNumberToObject(o, "next_hint_cost", all_hints ? 0 : next_hint_cost(cost_on, t, s));
  return o;
}

/* --- routes --------------------------------------------------------------------- */

void api_lessons_list(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp) {
  struct progress_set ps;
  if (load_progress(app, user->id, &ps) < 0) {
    free(ps.v);
    api_error_db(resp);
    return;
  }
  cJSON *root = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(root, "lessons");
  for (size_t i = 0; i < app->lessons->n; i++) {
    const struct lesson *l = &app->lessons->v[i];
    int points, score, n_solved;
    lesson_totals(l, &ps, &points, &score, &n_solved);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", l->id);
    cJSON_AddStringToObject(o, "title", l->title);
    cJSON_AddNumberToObject(o, "order", l->order);
    cJSON_AddStringToObject(o, "summary", l->summary);
    cJSON_AddItemToObject(o, "targets", targets_json(l->targets));
    cJSON_AddNumberToObject(o, "tasks", (double)l->n_tasks);
    cJSON_AddNumberToObject(o, "solved", n_solved);
    cJSON_AddNumberToObject(o, "points", points);
    cJSON_AddNumberToObject(o, "score", score);
    cJSON_AddItemToArray(list, o);
  }
  free(ps.v);
  api_respond_json(resp, 200, root);
}

static const struct lesson *find_lesson(struct app *app, const char *id,
                                        struct api_response *resp) {
  const struct lesson *l = lessons_find(app->lessons, id);
  if (!l) api_error(resp, 404, "not_found", "no such lesson");
  return l;
}

/* The task of /api/lessons/ID/tasks/TASK/..., and its lesson in *lp; NULL
 * with a 404 answered if either is unknown. */
static const struct lesson_task *find_task(struct app *app, const struct api_args *args,
                                           const struct lesson **lp, struct api_response *resp) {
  const struct lesson *l = find_lesson(app, args->seg[0], resp);
  const struct lesson_task *t = l ? lesson_task_find(l, args->seg[1]) : NULL;
  if (l && !t) api_error(resp, 404, "not_found", "no such task");
  *lp = l;
  return t;
}

/* The body of a POST to a task, given the task, its lesson and the JSON
 * body: answers resp and returns 0, or returns -1 when the database failed
 * (task_post answers that). ps starts empty; the step loads it if it needs
 * it, and task_post frees it. */
typedef int (*task_step_fn)(struct app *app, const struct db_user *user, const struct lesson *l,
                            const struct lesson_task *t, const cJSON *body, struct progress_set *ps,
                            struct api_response *resp);

/* A POST to /api/lessons/ID/tasks/TASK/...: finds the task, parses the
 * body, runs step and frees what it used. */
static void task_post(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp, task_step_fn step) {
  const struct lesson *l;
  const struct lesson_task *t = find_task(app, args, &l, resp);
  const cJSON *body = t ? api_body(req, args, resp) : NULL;
  struct progress_set ps;
  if (!body) return;
  memset(&ps, 0, sizeof ps);
  if (step(app, user, l, t, body, &ps, resp)) api_error_db(resp);
  free(ps.v);
}

static cJSON *lesson_json(struct app *app, const struct lesson *l, const struct progress_set *ps,
                          int teacher) {
  int points, score, n_solved, cost_on = hints_cost_on(app);
  lesson_totals(l, ps, &points, &score, &n_solved);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", l->id);
  cJSON_AddStringToObject(o, "title", l->title);
  cJSON_AddStringToObject(o, "summary", l->summary);
  cJSON_AddItemToObject(o, "targets", targets_json(l->targets));
  cJSON_AddStringToObject(o, "html", l->html);
  cJSON *tasks = cJSON_AddArrayToObject(o, "tasks");
  for (size_t i = 0; i < l->n_tasks; i++)
    cJSON_AddItemToArray(tasks, task_json(l, &l->tasks[i], ps, cost_on, teacher));
  cJSON_AddNumberToObject(o, "points", points);
  cJSON_AddNumberToObject(o, "score", score);
  cJSON_AddBoolToObject(o, "hints_cost_points", cost_on);
  return o;
}

void api_lesson_get(struct app *app, const struct api_request *req, const struct db_user *user,
                    const struct api_args *args, struct api_response *resp) {
  const struct lesson *l = find_lesson(app, args->seg[0], resp);
  struct progress_set ps;
  if (!l) return;
  if (load_progress(app, user->id, &ps) < 0) {
    free(ps.v);
    api_error_db(resp);
    return;
  }
  int teacher = strcmp(user->role, "teacher") == 0;
  if (!teacher) settle_checks(app, user, l, &ps);
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "lesson", lesson_json(app, l, &ps, teacher));
  free(ps.v);
  api_respond_json(resp, 200, root);
}

/* POST /api/lessons/ID/tasks/TASK {"answer": "..."}: one attempt (a check
 * task needs no answer: what the student did is looked up). */
static int task_answer(struct app *app, const struct db_user *user, const struct lesson *l,
                       const struct lesson_task *t, const cJSON *body, struct progress_set *ps,
                       struct api_response *resp) {
  const cJSON *answer = cJSON_GetObjectItemCaseSensitive(body, "answer");
  if (t->kind != TASK_CHECK && (!cJSON_IsString(answer) || !answer->valuestring[0] ||
                                strlen(answer->valuestring) > LIM_TASK_ANSWER_BYTES)) {
    api_error(resp, 400, "bad_request",
              "\"answer\" must be a non-empty string of at most 256 bytes");
    return 0;
  }
  if (load_progress(app, user->id, ps) < 0) return -1;
  const struct task_state *before = state_of(ps, l->id, t->id);
  if (before && !before->solved && before->attempts >= LIM_TASK_ATTEMPTS) {
    api_error(resp, 429, "too_many_attempts", "no attempts left for this task; ask your teacher");
    return 0;
  }
  int correct = t->kind == TASK_CHECK
                    ? check_done(app, user->id, t)
                    : lesson_answer_ok(t, answer->valuestring, app->lab_secret, user->name);
  /* The teacher may try every task; it is not scored or stored. */
  int scored = strcmp(user->role, "teacher") != 0;
  if (scored &&
      db_progress_attempt(app->db, user->id, l->id, t->id, correct, task_worth(ps, l->id, t)))
    return -1;
  log_info("task %s/%s by %s: %s%s", l->id, t->id, user->name, correct ? "solved" : "wrong",
           scored ? "" : " (not scored)");
  if (reload_progress(app, user->id, ps) < 0) return -1;
  int points, score, n_solved;
  lesson_totals(l, ps, &points, &score, &n_solved);
  cJSON *root = cJSON_CreateObject();
  cJSON_AddBoolToObject(root, "correct", correct);
  const char *feedback = correct                    ? NULL
                         : t->kind == TASK_CHECK    ? check_feedback(app, user->id, t)
                         : t->kind == TASK_QUESTION ? lesson_wrong_feedback(t, answer->valuestring)
                                                    : NULL;
  if (feedback) cJSON_AddStringToObject(root, "feedback", feedback);
  cJSON_AddBoolToObject(root, "scored", scored);
  cJSON_AddItemToObject(root, "task", task_json(l, t, ps, hints_cost_on(app), !scored));
  cJSON_AddNumberToObject(root, "score", score);
  cJSON_AddNumberToObject(root, "points", points);
  api_respond_json(resp, 200, root);
  return 0;
}

void api_task_answer(struct app *app, const struct api_request *req, const struct db_user *user,
                     const struct api_args *args, struct api_response *resp) {
  task_post(app, req, user, args, resp, task_answer);
}

/* POST /api/lessons/ID/tasks/TASK/hint {"cost": N}: takes the next hint.
 * cost, when given, is what the page showed; if the teacher changed the
 * setting since, nothing is taken and 409 cost_changed says the new cost.
 * The teacher gets hints without any record. */
static int task_hint(struct app *app, const struct db_user *user, const struct lesson *l,
                     const struct lesson_task *t, const cJSON *body, struct progress_set *ps,
                     struct api_response *resp) {
  const cJSON *shown = cJSON_GetObjectItemCaseSensitive(body, "cost");
  int teacher = strcmp(user->role, "teacher") == 0, cost_on = hints_cost_on(app);
  if (shown && (!cJSON_IsNumber(shown) || shown->valuedouble < 0)) {
    api_error(resp, 400, "bad_request", "\"cost\" must be the non-negative cost shown");
    return 0;
  }
  if (!t->n_hints) {
    api_error(resp, 404, "no_hint", "this task has no hints");
    return 0;
  }
  if (teacher) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "task", task_json(l, t, ps, cost_on, 1));
    cJSON_AddStringToObject(root, "hint", t->hints[0]);
    cJSON_AddNumberToObject(root, "cost", 0);
    cJSON_AddBoolToObject(root, "scored", 0);
    api_respond_json(resp, 200, root);
    return 0;
  }
  if (load_progress(app, user->id, ps) < 0) return -1;
  const struct task_state *s = state_of(ps, l->id, t->id);
  size_t taken = s ? (size_t)s->hints : 0;
  if (taken >= t->n_hints) {
    api_error(resp, 409, "no_more_hints", "every hint of this task is taken");
    return 0;
  }
  int cost = next_hint_cost(cost_on, t, s);
  if (shown && shown->valuedouble != (double)cost) { /* never cast: 1e300 is no int */
    char msg[128];
    snprintf(msg, sizeof msg, "the cost of this hint is now %d point%s; nothing was taken", cost,
             cost == 1 ? "" : "s");
    api_error(resp, 409, "cost_changed", msg);
    return 0;
  }
  if (db_progress_hint(app->db, user->id, l->id, t->id, cost)) return -1;
  log_info("task %s/%s: %s took hint %zu (cost %d)", l->id, t->id, user->name, taken + 1, cost);
  if (reload_progress(app, user->id, ps) < 0) return -1;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "hint", t->hints[taken]);
  cJSON_AddNumberToObject(root, "number", (double)(taken + 1));
  cJSON_AddNumberToObject(root, "cost", cost);
  cJSON_AddBoolToObject(root, "scored", 1);
  cJSON_AddItemToObject(root, "task", task_json(l, t, ps, cost_on, 0));
  api_respond_json(resp, 200, root);
  return 0;
}

void api_task_hint(struct app *app, const struct api_request *req, const struct db_user *user,
                   const struct api_args *args, struct api_response *resp) {
  task_post(app, req, user, args, resp, task_hint);
}
