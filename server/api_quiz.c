/* api_quiz.c -- the port quiz routes: attempts (practice, review, timed tests),
 * answers, history, and the teacher's tests and results.
 *
 * The server draws every question, keeps its answer, checks what the
 * student sends and stores all of it (quizdb.c). A question goes to the
 * browser as id, kind, prompt, choices and whether it has several parts;
 * the right answer and the explanation follow in practice and review at
 * once, in a test only when the attempt is finished (last answer, or the
 * clock ran out). The clock of a test is the server's: an answer after
 * ends_at is refused with 409 time_up. Closing a test ends its running
 * attempts (then 409 test_closed). Because practice and review show the
 * right answers, neither starts nor goes on while the student's test runs
 * (409 test_running). An attempt of someone else is 404, exactly like one
 * that does not exist.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "app.h"
#include "auth.h"
#include "jsontime.h"
#include "log.h"
#include "portlab_limits.h"
#include "quiz.h"
#include "quizdb.h"
#include "text.h"

#define HISTORY_ATTEMPTS 50 /* newest attempts listed in a history */
#define WEAKEST 8           /* weakest facts listed in a history */
#define LEADERBOARD 10      /* names on a test's leaderboard */

static int is_teacher(const struct db_user *u) {
  return strcmp(u->role, "teacher") == 0;
}

static void add_points(cJSON *o, const char *key, int hundredths) {
  cJSON_AddNumberToObject(o, key, hundredths / 100.0);
}

static uint64_t new_rng(void) {
  uint64_t seed = 0;
  if (crypto_random((unsigned char *)&seed, sizeof seed)) seed = (uint64_t)app_now_us();
  return seed;
}

/* --- drawing questions ---------------------------------------------------------------- */

struct fact {
  const struct quiz_row *row;
  enum quiz_kind kind;
};

/* Every (row, kind) pair the bank can ask, kinds limited to mask. Caller frees. */
static struct fact *all_facts(const struct quiz_bank *b, unsigned mask, size_t *n) {
  struct fact *v = malloc(b->n * QUIZ_KIND_COUNT * sizeof *v);
  *n = 0;
  if (!v) return NULL;
  for (size_t i = 0; i < b->n; i++)
    for (int k = 0; k < QUIZ_KIND_COUNT; k++)
      if ((mask & (1u << k)) && quiz_applies(b, &b->rows[i], k))
        v[(*n)++] = (struct fact){&b->rows[i], (enum quiz_kind)k};
  return v;
}

static void fact_key(const struct quiz_row *r, enum quiz_kind k, char *out, size_t len) {
  snprintf(out, len, "%s:%s", quiz_kind_name(k), r->id);
}

/* Multiple choice for about half of the questions that can be either. */
static int want_choices(enum quiz_kind k, uint64_t *rng) {
  if (k == QUIZ_TRANSPORT || k == QUIZ_RANGE || k == QUIZ_CLEARTEXT) return 1;
  if (k == QUIZ_RANGE_BOUNDS) return 0;
  return (int)(quiz_rand(rng) & 1);
}

/* Generates and stores question seq of an attempt. 0 or -1. */
static int store_question(struct app *app, int64_t attempt_id, int seq, const struct fact *f,
                          uint64_t *rng) {
  struct quiz_question q;
  struct db_quiz_question *row = calloc(1, sizeof *row);
  int rc = -1;
  if (!row || quiz_generate(app->quiz_bank, f->row, f->kind, want_choices(f->kind, rng), rng, &q))
    goto done;
  cJSON *choices = cJSON_CreateArray();
  for (size_t i = 0; i < q.n_choices; i++)
    cJSON_AddItemToArray(choices, cJSON_CreateString(q.choices[i]));
  char *text = cJSON_PrintUnformatted(choices);
  cJSON_Delete(choices);
  if (!text || strlen(text) >= sizeof row->choices) {
    free(text);
    goto done;
  }
  strcpy(row->choices, text);
  free(text);
  row->attempt_id = attempt_id;
  row->seq = seq;
  snprintf(row->kind, sizeof row->kind, "%s", quiz_kind_name(q.kind));
  snprintf(row->fact, sizeof row->fact, "%s", q.fact);
  snprintf(row->label, sizeof row->label, "%s", q.label);
  snprintf(row->prompt, sizeof row->prompt, "%s", q.prompt);
  row->multi = q.multi;
  snprintf(row->expected, sizeof row->expected, "%s", q.expect);
  snprintf(row->display, sizeof row->display, "%s", q.display);
  rc = db_quiz_question_add(app->db, row, NULL);
done:
  free(row);
  return rc;
}

/* Practice: any fact. Review: the most overdue fact (not the one just
 * asked), else one never seen, else the next to fall due. */
struct review_pick {
  const struct quiz_bank *bank;
  int64_t now_us;
  const char *avoid;
  char due[64], soonest[64];
  char (*seen)[64];
  size_t n_seen, cap;
};

static int collect_fact(void *arg, const struct db_quiz_fact *f) {
  struct review_pick *p = arg;
  if (p->n_seen < p->cap) snprintf(p->seen[p->n_seen++], 64, "%s", f->fact);
  if (strcmp(f->fact, p->avoid) == 0) return 0;
  if (!p->due[0] && f->due_us <= p->now_us) snprintf(p->due, sizeof p->due, "%s", f->fact);
  if (!p->soonest[0]) snprintf(p->soonest, sizeof p->soonest, "%s", f->fact);
  return 0;
}

static int fact_from_key(const struct quiz_bank *b, const char *key, struct fact *out) {
  char kind[32];
  const char *colon = strchr(key, ':');
  if (!colon || (size_t)(colon - key) >= sizeof kind) return -1;
  memcpy(kind, key, (size_t)(colon - key));
  kind[colon - key] = '\0';
  int k = quiz_kind_parse(kind);
  const struct quiz_row *r = quiz_bank_find(b, colon + 1);
  if (k < 0 || !r || !quiz_applies(b, r, k)) return -1;
  out->row = r;
  out->kind = (enum quiz_kind)k;
  return 0;
}

static int pick_fact(struct app *app, int64_t user_id, int review, const char *avoid, uint64_t *rng,
                     struct fact *out) {
  size_t n;
  struct fact *all = all_facts(app->quiz_bank, ~0u, &n);
  if (!all || !n) {
    free(all);
    return -1;
  }
  int rc = 0;
  if (!review) {
    *out = all[quiz_rand(rng) % n];
    goto done;
  }
  struct review_pick p = {app->quiz_bank, app_now_us(), avoid ? avoid : "", "", "", NULL, 0, n};
  p.seen = calloc(n, sizeof *p.seen);
  if (!p.seen || db_quiz_fact_list(app->db, user_id, collect_fact, &p)) {
    free(p.seen);
    rc = -1;
    goto done;
  }
  if (p.due[0] && fact_from_key(app->quiz_bank, p.due, out) == 0) goto picked;
  /* a fact never seen, from a random starting point */
  size_t start = quiz_rand(rng) % n;
  for (size_t i = 0; i < n; i++) {
    const struct fact *f = &all[(start + i) % n];
    char key[64];
    fact_key(f->row, f->kind, key, sizeof key);
    int seen = 0;
    for (size_t j = 0; j < p.n_seen && !seen; j++) seen = strcmp(p.seen[j], key) == 0;
    if (!seen) {
      *out = *f;
      goto picked;
    }
  }
  if (p.soonest[0] && fact_from_key(app->quiz_bank, p.soonest, out) == 0) goto picked;
  *out = all[quiz_rand(rng) % n];
picked:
  free(p.seen);
done:
  free(all);
  return rc;
}

/* --- JSON ------------------------------------------------------------------------------ */

/* A question as the browser sees it. reveal: the answer, the verdict and
 * the explanation as well (never for an unfinished test). */
static cJSON *question_json(const struct db_quiz_question *q, int reveal) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)q->id);
  cJSON_AddNumberToObject(o, "seq", q->seq);
  cJSON_AddStringToObject(o, "kind", q->kind);
  cJSON_AddStringToObject(o, "prompt", q->prompt);
  cJSON *choices = cJSON_Parse(q->choices);
  if (cJSON_IsArray(choices) && cJSON_GetArraySize(choices) > 0)
    cJSON_AddItemToObject(o, "choices", choices);
  else
    cJSON_Delete(choices);
  cJSON_AddBoolToObject(o, "multi", q->multi);
  if (q->answered) {
    cJSON_AddStringToObject(o, "answer", q->answer);
    if (q->shown_us && q->answered_us >= q->shown_us)
      cJSON_AddNumberToObject(o, "time_ms", (double)((q->answered_us - q->shown_us) / 1000));
  }
  if (reveal) {
    cJSON_AddStringToObject(o, "expected", q->display);
    if (q->answered) {
      cJSON_AddBoolToObject(o, "correct", q->correct);
      add_points(o, "points", q->points);
      cJSON_AddStringToObject(o, "explanation", q->explanation);
    }
  }
  return o;
}

static int test_mask(const char *kinds) {
  unsigned mask = 0;
  char buf[160];
  snprintf(buf, sizeof buf, "%s", kinds);
  char *save = NULL;
  for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
    int k = quiz_kind_parse(t);
    if (k >= 0) mask |= 1u << k;
  }
  return (int)mask;
}

static cJSON *test_json(const struct db_quiz_test *t) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)t->id);
  cJSON_AddStringToObject(o, "title", t->title);
  cJSON_AddNumberToObject(o, "questions", t->questions);
  cJSON *kinds = cJSON_AddArrayToObject(o, "kinds");
  unsigned mask = (unsigned)test_mask(t->kinds);
  for (int k = 0; k < QUIZ_KIND_COUNT; k++)
    if (mask & (1u << k)) cJSON_AddItemToArray(kinds, cJSON_CreateString(quiz_kind_name(k)));
  cJSON_AddNumberToObject(o, "time_limit", t->time_limit);
  cJSON_AddBoolToObject(o, "open", t->is_open);
  cJSON_AddNumberToObject(o, "attempts", t->max_attempts);
  cJSON_AddBoolToObject(o, "leaderboard", t->leaderboard);
  json_add_time(o, "created_at", t->created_at * 1000000);
  return o;
}

/* --- attempts -------------------------------------------------------------------------- */

/* A test attempt whose clock ran out is finished at its deadline. */
static int settle(struct app *app, struct db_quiz_attempt *a) {
  if (a->finished_us || !a->ends_us || app_now_us() <= a->ends_us) return 0;
  if (db_quiz_attempt_finish(app->db, a->id, a->ends_us)) return -1;
  a->finished_us = a->ends_us;
  return 0;
}

static int attempt_reveals(const struct db_quiz_attempt *a) {
  return strcmp(a->mode, "test") != 0 || a->finished_us != 0;
}

struct summary_ctx {
  cJSON *list;
  int reveal;
  int finished;
};

static int add_summary_question(void *arg, const struct db_quiz_question *q) {
  struct summary_ctx *c = arg;
  /* Questions not answered yet stay unseen, but for a finished test. */
  if (!q->answered && !c->finished) return 0;
  cJSON_AddItemToArray(c->list, question_json(q, c->reveal));
  return 0;
}

/* The attempt object: counts, score, the current question, the answered ones. */
static cJSON *attempt_json(struct app *app, const struct db_quiz_attempt *a, int with_list) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)a->id);
  cJSON_AddStringToObject(o, "mode", a->mode);
  if (a->test_id) {
    struct db_quiz_test t;
    cJSON_AddNumberToObject(o, "test_id", (double)a->test_id);
    if (db_quiz_test_get(app->db, a->test_id, &t) == 0)
      cJSON_AddStringToObject(o, "title", t.title);
  }
  json_add_time(o, "started_at", a->started_us);
  if (a->ends_us) {
    json_add_time(o, "ends_at", a->ends_us);
    int64_t left = a->finished_us ? 0 : a->ends_us - app_now_us();
    cJSON_AddNumberToObject(o, "seconds_left", left > 0 ? (double)((left + 999999) / 1000000) : 0);
  }
  json_add_time(o, "finished_at", a->finished_us);
  cJSON_AddBoolToObject(o, "finished", a->finished_us != 0);
  int total = a->planned ? a->planned : a->asked;
  cJSON_AddNumberToObject(o, "questions", total);
  cJSON_AddNumberToObject(o, "answered", a->answered);
  cJSON_AddNumberToObject(o, "right", a->right);
  add_points(o, "points", a->points);
  cJSON_AddNumberToObject(o, "max_points", total);
  if (with_list) {
    struct summary_ctx c = {cJSON_AddArrayToObject(o, "questions_asked"), attempt_reveals(a),
                            a->finished_us != 0};
    db_quiz_question_list(app->db, a->id, add_summary_question, &c);
  }
  return o;
}

/* Adds "question" (the current one, marked shown now) or null. */
static int add_current(struct app *app, cJSON *o, int64_t attempt_id, int finished) {
  struct db_quiz_question *q = malloc(sizeof *q);
  int rc = q ? db_quiz_question_current(app->db, attempt_id, q) : -1;
  if (rc < 0) {
    free(q);
    return -1;
  }
  if (rc == 1 || finished) {
    cJSON_AddNullToObject(o, "question");
  } else {
    if (!q->shown_us) db_quiz_question_shown(app->db, q->id, app_now_us());
    cJSON_AddItemToObject(o, "question", question_json(q, 0));
  }
  free(q);
  return 0;
}

/* Reads a non-negative integer member; -2 if absent, -1 if not an integer. */
static long long int_member(const cJSON *json, const char *key) {
  cJSON *it = cJSON_GetObjectItemCaseSensitive(json, key);
  if (!it || cJSON_IsNull(it)) return -2;
  if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > 1e15 ||
      it->valuedouble != (double)(long long)it->valuedouble)
    return -1;
  return (long long)it->valuedouble;
}

static int bool_member(const cJSON *json, const char *key, int dflt) {
  cJSON *it = cJSON_GetObjectItemCaseSensitive(json, key);
  if (!it) return dflt;
  return cJSON_IsBool(it) ? cJSON_IsTrue(it) : -1;
}

static void start_test(struct app *app, const struct db_user *user, int64_t test_id,
                       struct api_response *resp) {
  struct db_quiz_test t;
  struct db_quiz_attempt a;
  int64_t id = 0;
  int rc = db_quiz_test_get(app->db, test_id, &t);
  if (rc < 0) goto fail;
  if (rc == 1) {
    api_error(resp, 404, "not_found", "no such test");
    return;
  }
  if (is_teacher(user)) {
    api_error(resp, 403, "forbidden", "tests are for students; see the results instead");
    return;
  }
  /* A running attempt is resumed, not replaced (a reload must not cost one). */
  rc = db_quiz_attempt_live(app->db, user->id, test_id, &id);
  if (rc < 0 || (rc == 0 && db_quiz_attempt_get(app->db, id, &a))) goto fail;
  if (rc == 0) {
    if (settle(app, &a)) goto fail;
    if (!a.finished_us) {
      cJSON *root = cJSON_CreateObject(), *o = attempt_json(app, &a, 0);
      cJSON_AddItemToObject(root, "attempt", o);
      if (add_current(app, o, a.id, 0)) {
        cJSON_Delete(root);
        goto fail;
      }
      api_respond_json(resp, 200, root);
      return;
    }
  }
  if (!t.is_open) {
    api_error(resp, 403, "test_closed", "this test is closed");
    return;
  }
  int used = db_quiz_attempt_count(app->db, user->id, test_id);
  if (used < 0) goto fail;
  if (used >= t.max_attempts) {
    api_error(resp, 409, "no_attempts_left", "you have used every attempt at this test");
    return;
  }
  size_t n;
  struct fact *facts = all_facts(app->quiz_bank, (unsigned)test_mask(t.kinds), &n);
  if (!facts || !n) {
    free(facts);
    api_error(resp, 409, "no_questions", "the bank has no questions of this test's kinds");
    return;
  }
  uint64_t rng = new_rng();
  for (size_t i = n; i > 1; i--) { /* shuffle, then take the first ones */
    size_t j = (size_t)(quiz_rand(&rng) % i);
    struct fact tmp = facts[i - 1];
    facts[i - 1] = facts[j];
    facts[j] = tmp;
  }
  int64_t now = app_now_us();
  int want = t.questions < app->cfg.quiz_questions ? t.questions : app->cfg.quiz_questions;
  if (db_begin(app->db)) {
    free(facts);
    goto fail;
  }
  rc = db_quiz_attempt_create(app->db, user->id, "test", test_id, now,
                              now + (int64_t)t.time_limit * 1000000, want, &id);
  /* Spread the kinds: at most an even share of each at first, so twelve
   * questions are not eight "which are cleartext"; then anything left. */
  int per_kind[QUIZ_KIND_COUNT] = {0}, kinds = 0, seq = 0;
  unsigned mask = (unsigned)test_mask(t.kinds);
  for (int k = 0; k < QUIZ_KIND_COUNT; k++) kinds += (mask >> k) & 1;
  int share = want / (kinds ? kinds : 1) + 1;
  char *taken = calloc(n, 1);
  if (!taken) rc = -1;
  for (int pass = 0; rc == 0 && pass < 2 && seq < want; pass++)
    for (size_t i = 0; rc == 0 && i < n && seq < want; i++) {
      if (taken[i] || (pass == 0 && per_kind[facts[i].kind] >= share)) continue;
      taken[i] = 1;
      per_kind[facts[i].kind]++;
      rc = store_question(app, id, ++seq, &facts[i], &rng);
    }
  for (size_t i = 0; rc == 0 && seq < want; i++) /* fewer facts than questions: repeat */
    rc = store_question(app, id, ++seq, &facts[i % n], &rng);
  free(taken);
  free(facts);
  if (rc || db_commit(app->db)) {
    db_rollback(app->db);
    goto fail;
  }
  if (db_quiz_attempt_get(app->db, id, &a)) goto fail;
  cJSON *root = cJSON_CreateObject(), *o = attempt_json(app, &a, 0);
  cJSON_AddItemToObject(root, "attempt", o);
  if (add_current(app, o, id, 0)) {
    cJSON_Delete(root);
    goto fail;
  }
  log_info("quiz: %s started test %lld (attempt %lld)", user->name, (long long)test_id,
           (long long)id);
  api_respond_json(resp, 201, root);
  return;
fail:
  api_error_db(resp);
}

/* Practice and review answer at once from the bank the test draws from:
 * while one of the user's test attempts runs, they wait. 1 if it answered
 * (409 test_running, or a database error), else 0. */
static int refuse_during_test(struct app *app, const struct db_user *user,
                              struct api_response *resp) {
  struct db_quiz_attempt a;
  struct db_quiz_test t;
  char msg[LIM_QUIZ_TITLE_LEN * 4 + 160];
  int rc = db_quiz_attempt_running(app->db, user->id, app_now_us(), &a);
  if (rc == 1) return 0;
  if (rc < 0 || db_quiz_test_get(app->db, a.test_id, &t) < 0) {
    api_error_db(resp);
    return 1;
  }
  snprintf(msg, sizeof msg,
           "your test \"%s\" is running: practice and review show answers, so they wait "
           "until it ends",
           t.title);
  api_error(resp, 409, "test_running", msg);
  return 1;
}

void api_quiz_start(struct app *app, const struct api_request *req, const struct db_user *user,
                    const struct api_args *args, struct api_response *resp) {
  const cJSON *json = api_body(req, args, resp);
  if (!json) return;
  cJSON *mode = cJSON_GetObjectItemCaseSensitive(json, "mode");
  const char *m = cJSON_IsString(mode) ? mode->valuestring : "";
  if (strcmp(m, "test") == 0) {
    long long test_id = int_member(json, "test_id");
    if (test_id < 1)
      api_error(resp, 400, "bad_request", "a test needs \"test_id\"");
    else
      start_test(app, user, test_id, resp);
    return;
  }
  if (strcmp(m, "practice") != 0 && strcmp(m, "review") != 0) {
    api_error(resp, 400, "bad_request", "\"mode\" must be practice, review or test");
    return;
  }
  if (refuse_during_test(app, user, resp)) return;
  uint64_t rng = new_rng();
  struct fact f;
  struct db_quiz_attempt a;
  int64_t id;
  if (pick_fact(app, user->id, m[0] == 'r', NULL, &rng, &f) ||
      db_quiz_attempt_create(app->db, user->id, m, 0, app_now_us(), 0, 0, &id) ||
      store_question(app, id, 1, &f, &rng) ||
      db_quiz_attempt_trim(app->db, user->id, LIM_QUIZ_PRACTICE_KEPT) ||
      db_quiz_attempt_get(app->db, id, &a)) {
    api_error_db(resp);
    return;
  }
  cJSON *root = cJSON_CreateObject(), *o = attempt_json(app, &a, 0);
  cJSON_AddItemToObject(root, "attempt", o);
  if (add_current(app, o, id, 0)) {
    cJSON_Delete(root);
    api_error_db(resp);
    return;
  }
  api_respond_json(resp, 201, root);
}

/* The attempt if user may see it (its owner, or the teacher when
 * teacher_ok); else answers 404 and returns 1. -1 on a database error. */
static int own_attempt(struct app *app, const struct db_user *user, int64_t id, int teacher_ok,
                       struct db_quiz_attempt *a, struct api_response *resp) {
  int rc = db_quiz_attempt_get(app->db, id, a);
  if (rc < 0) {
    api_error_db(resp);
    return -1;
  }
  if (rc == 1 || (a->user_id != user->id && !(teacher_ok && is_teacher(user)))) {
    api_error(resp, 404, "not_found", "no such attempt");
    return 1;
  }
  if (settle(app, a)) {
    api_error_db(resp);
    return -1;
  }
  return 0;
}

/* Moves the fact's Leitner box after a practice or review answer. */
static void schedule(struct app *app, int64_t user_id, const struct db_quiz_question *q,
                     int correct) {
  char key[64];
  int box;
  snprintf(key, sizeof key, "%s:%s", q->kind, q->fact);
  if (db_quiz_fact_get(app->db, user_id, key, &box, NULL)) return;
  box = quiz_box_after(box, correct);
  if (db_quiz_fact_set(app->db, user_id, key, box, quiz_due_after(box, app_now_us()), correct))
    log_warn("quiz: cannot store the review box of %s: %s", key, db_errmsg(app->db));
}

void api_quiz_answer(struct app *app, const struct api_request *req, const struct db_user *user,
                     const struct api_args *args, struct api_response *resp) {
  struct db_quiz_attempt a;
  struct db_quiz_question *q = NULL;
  const cJSON *json = api_body(req, args, resp);
  if (!json) return;
  if (own_attempt(app, user, args->id, 0, &a, resp)) goto done;
  long long qid = int_member(json, "question_id");
  cJSON *ans = cJSON_GetObjectItemCaseSensitive(json, "answer");
  if (qid < 1 || !cJSON_IsString(ans) || strlen(ans->valuestring) > LIM_QUIZ_ANSWER_BYTES) {
    char msg[128];
    snprintf(msg, sizeof msg, "send \"question_id\" and \"answer\", a string of at most %d bytes",
             LIM_QUIZ_ANSWER_BYTES);
    api_error(resp, 400, "bad_request", msg);
    goto done;
  }
  int test = strcmp(a.mode, "test") == 0;
  if (test && a.finished_us && a.finished_us == a.ends_us && a.answered < a.planned) {
    api_error(resp, 409, "time_up", "the time for this test is up");
    goto done;
  }
  /* Ended before its deadline with questions left: the teacher closed it. */
  if (test && a.finished_us && a.finished_us < a.ends_us && a.answered < a.planned) {
    api_error(resp, 409, "test_closed", "the teacher closed this test, which ended your attempt");
    goto done;
  }
  if (a.finished_us) {
    api_error(resp, 409, "finished", "this attempt is finished");
    goto done;
  }
  if (!test && refuse_during_test(app, user, resp)) goto done;
  q = malloc(sizeof *q);
  int rc = q ? db_quiz_question_current(app->db, a.id, q) : -1;
  if (rc < 0) {
    api_error_db(resp);
    goto done;
  }
  if (rc == 1) {
    api_error(resp, 409, "finished", "this attempt has no open question");
    goto done;
  }
  if (q->id != qid) {
    api_error(resp, 409, "not_current", "answer the current question (see the attempt)");
    goto done;
  }
  struct quiz_result res;
  char explanation[1024];
  quiz_check(q->expected, ans->valuestring, &res);
  quiz_explain(app->quiz_bank, quiz_kind_parse(q->kind), q->fact, q->display, ans->valuestring,
               &res, explanation, sizeof explanation);
  int64_t now = app_now_us();
  rc = db_quiz_question_answer(app->db, q->id, ans->valuestring, res.correct, res.points,
                               explanation, now);
  if (rc < 0) {
    api_error_db(resp);
    goto done;
  }
  if (rc == 1) {
    api_error(resp, 409, "already_answered", "this question is already answered");
    goto done;
  }
  if (!test) schedule(app, user->id, q, res.correct);
  /* The next question: drawn already for a test, made now otherwise. */
  int finished = 0;
  if (test) {
    struct db_quiz_question *next = malloc(sizeof *next);
    rc = next ? db_quiz_question_current(app->db, a.id, next) : -1;
    free(next);
    if (rc < 0) {
      api_error_db(resp);
      goto done;
    }
    finished = rc == 1;
  } else if (a.asked >= app->cfg.quiz_questions) {
    finished = 1;
  } else {
    uint64_t rng = new_rng();
    struct fact f;
    char key[64];
    snprintf(key, sizeof key, "%s:%s", q->kind, q->fact);
    if (pick_fact(app, user->id, a.mode[0] == 'r', key, &rng, &f) ||
        store_question(app, a.id, a.asked + 1, &f, &rng)) {
      api_error_db(resp);
      goto done;
    }
  }
  if (finished && db_quiz_attempt_finish(app->db, a.id, now)) {
    api_error_db(resp);
    goto done;
  }
  cJSON *root = cJSON_CreateObject();
  int reveal = !test || finished;
  cJSON_AddBoolToObject(root, "correct", res.correct);
  add_points(root, "points", res.points);
  if (reveal) {
    cJSON_AddStringToObject(root, "explanation", explanation);
    cJSON_AddStringToObject(root, "expected", q->display);
  }
  if (add_current(app, root, a.id, finished)) {
    cJSON_Delete(root);
    api_error_db(resp);
    goto done;
  }
  /* The contract calls the next question "next". */
  cJSON_AddItemToObject(root, "next", cJSON_DetachItemFromObjectCaseSensitive(root, "question"));
  cJSON_AddBoolToObject(root, "finished", finished);
  if (finished && db_quiz_attempt_get(app->db, a.id, &a) == 0)
    cJSON_AddItemToObject(root, "attempt", attempt_json(app, &a, 1));
  api_respond_json(resp, 200, root);
done:
  free(q);
}

void api_quiz_attempt(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp) {
  struct db_quiz_attempt a;
  if (own_attempt(app, user, args->id, 1, &a, resp)) return;
  cJSON *root = cJSON_CreateObject(), *o = attempt_json(app, &a, 1);
  cJSON_AddItemToObject(root, "attempt", o);
  int failed = a.user_id == user->id && add_current(app, o, a.id, a.finished_us != 0);
  api_respond_or_fail(resp, failed, root);
}

/* --- history --------------------------------------------------------------------------- */

struct history_ctx {
  struct app *app;
  cJSON *attempts, *best;
};

static int add_history_attempt(void *arg, const struct db_quiz_attempt *a) {
  struct history_ctx *h = arg;
  struct db_quiz_attempt copy = *a;
  settle(h->app, &copy);
  cJSON_AddItemToArray(h->attempts, attempt_json(h->app, &copy, 0));
  return 0;
}

static int add_best(void *arg, const struct db_quiz_best *b) {
  struct history_ctx *h = arg;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "test_id", (double)b->test_id);
  cJSON_AddStringToObject(o, "title", b->title);
  add_points(o, "points", b->points);
  cJSON_AddNumberToObject(o, "max_points", b->planned);
  cJSON_AddItemToArray(h->best, o);
  return 0;
}

static int add_weak(void *arg, const struct db_quiz_weak *w) {
  struct history_ctx *h = arg;
  const struct quiz_row *r = quiz_bank_find(h->app->quiz_bank, w->fact);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "fact", w->fact);
  cJSON_AddStringToObject(o, "service", r ? r->names[0] : w->fact);
  cJSON_AddStringToObject(o, "kind", w->kind);
  cJSON_AddNumberToObject(o, "asked", w->asked);
  cJSON_AddNumberToObject(o, "wrong", w->wrong);
  cJSON_AddItemToArray(h->best, o); /* reused as the list being filled */
  return 0;
}

/* The end of today (UTC), for the "due today" count. */
static int64_t end_of_today_us(void) {
  int64_t now_s = app_now_us() / 1000000;
  return (now_s - now_s % 86400 + 86400) * 1000000;
}

static int count_box(void *arg, const struct db_quiz_fact *f) {
  int *boxes = arg;
  if (f->box >= 1 && f->box <= QUIZ_BOXES) boxes[f->box - 1]++;
  return 0;
}

void api_quiz_history(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp) {
  cJSON *root = cJSON_CreateObject();
  struct history_ctx h = {app, cJSON_AddArrayToObject(root, "attempts"),
                          cJSON_AddArrayToObject(root, "best")};
  int boxes[QUIZ_BOXES] = {0};
  int due = db_quiz_due_count(app->db, user->id, end_of_today_us());
  if (due < 0 ||
      db_quiz_attempt_list(app->db, user->id, 0, HISTORY_ATTEMPTS, add_history_attempt, &h) ||
      db_quiz_best_list(app->db, user->id, add_best, &h))
    goto fail;
  struct history_ctx w = {app, NULL, cJSON_AddArrayToObject(root, "weakest")};
  if (db_quiz_weakest(app->db, user->id, WEAKEST, add_weak, &w) ||
      db_quiz_fact_list(app->db, user->id, count_box, boxes))
    goto fail;
  cJSON_AddNumberToObject(root, "due_today", due);
  cJSON *b = cJSON_AddArrayToObject(root, "boxes");
  for (int i = 0; i < QUIZ_BOXES; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber(boxes[i]));
  api_respond_json(resp, 200, root);
  return;
fail:
  cJSON_Delete(root);
  api_error_db(resp);
}

/* --- tests ----------------------------------------------------------------------------- */

struct tests_ctx {
  struct app *app;
  const struct db_user *user;
  cJSON *list;
  int failed;
};

static int add_test(void *arg, const struct db_quiz_test *t) {
  struct tests_ctx *c = arg;
  if (!is_teacher(c->user) && !t->is_open) return 0;
  cJSON *o = test_json(t);
  if (!is_teacher(c->user)) {
    int used = db_quiz_attempt_count(c->app->db, c->user->id, t->id);
    int64_t live = 0;
    if (used < 0) c->failed = 1;
    cJSON_AddNumberToObject(o, "attempts_used", used);
    cJSON_AddNumberToObject(o, "attempts_left",
                            used < t->max_attempts ? t->max_attempts - used : 0);
    if (db_quiz_attempt_live(c->app->db, c->user->id, t->id, &live) == 0)
      cJSON_AddNumberToObject(o, "running_attempt", (double)live);
  }
  cJSON_AddItemToArray(c->list, o);
  return 0;
}

void api_quiz_tests(struct app *app, const struct api_request *req, const struct db_user *user,
                    const struct api_args *args, struct api_response *resp) {
  cJSON *root = cJSON_CreateObject();
  struct tests_ctx c = {app, user, cJSON_AddArrayToObject(root, "tests"), 0};
  cJSON *kinds = cJSON_AddArrayToObject(root, "kinds");
  for (int k = 0; k < QUIZ_KIND_COUNT; k++)
    cJSON_AddItemToArray(kinds, cJSON_CreateString(quiz_kind_name(k)));
  api_respond_or_fail(resp, db_quiz_test_list(app->db, add_test, &c) || c.failed, root);
}

/* The start of a POST only the teacher may make: 403 forbidden (with
 * that message) for anyone else, then the parsed body. NULL if it
 * answered an error. */
static const cJSON *teacher_body(const struct api_request *req, const struct db_user *user,
                                 const struct api_args *args, const char *forbidden,
                                 struct api_response *resp) {
  if (!is_teacher(user)) {
    api_error(resp, 403, "forbidden", forbidden);
    return NULL;
  }
  return api_body(req, args, resp);
}

/* Answers {"test": ...}, as a test stands after it was written. */
static void respond_test(struct api_response *resp, int status, const struct db_quiz_test *t) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "test", test_json(t));
  api_respond_json(resp, status, root);
}

void api_quiz_test_create(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp) {
  const cJSON *json = teacher_body(req, user, args, "only the teacher creates tests", resp);
  if (!json) return;
  struct db_quiz_test t;
  char msg[160];
  memset(&t, 0, sizeof t);
  cJSON *title = cJSON_GetObjectItemCaseSensitive(json, "title");
  long long n = int_member(json, "questions"), secs = int_member(json, "time_limit"),
            attempts = int_member(json, "attempts");
  int open = bool_member(json, "open", 1), board = bool_member(json, "leaderboard", 0);
  if (!cJSON_IsString(title) || !title->valuestring[0] ||
      text_utf8_count(title->valuestring) > LIM_QUIZ_TITLE_LEN ||
      strlen(title->valuestring) >= sizeof t.title) {
    snprintf(msg, sizeof msg, "\"title\" must be 1 to %d characters", LIM_QUIZ_TITLE_LEN);
    goto bad;
  }
  if (n < 1 || n > app->cfg.quiz_questions) {
    snprintf(msg, sizeof msg, "\"questions\" must be 1 to %d", app->cfg.quiz_questions);
    goto bad;
  }
  if (secs < 1 || secs > LIM_QUIZ_TEST_SECS) {
    snprintf(msg, sizeof msg, "\"time_limit\" must be 1 to %d seconds", LIM_QUIZ_TEST_SECS);
    goto bad;
  }
  if (attempts == -2) attempts = 1;
  if (attempts < 1 || attempts > LIM_QUIZ_TEST_ATTEMPTS) {
    snprintf(msg, sizeof msg, "\"attempts\" must be 1 (one attempt) to %d (best of N)",
             LIM_QUIZ_TEST_ATTEMPTS);
    goto bad;
  }
  if (open < 0 || board < 0) {
    snprintf(msg, sizeof msg, "\"open\" and \"leaderboard\" are true or false");
    goto bad;
  }
  cJSON *kinds = cJSON_GetObjectItemCaseSensitive(json, "kinds"), *k;
  if (kinds && !cJSON_IsNull(kinds)) {
    if (!cJSON_IsArray(kinds) || cJSON_GetArraySize(kinds) < 1) {
      snprintf(msg, sizeof msg, "\"kinds\" is a list of question kinds");
      goto bad;
    }
    cJSON_ArrayForEach(k, kinds) {
      if (!cJSON_IsString(k) || quiz_kind_parse(k->valuestring) < 0) {
        snprintf(msg, sizeof msg, "unknown question kind (see GET /api/quiz/tests)");
        goto bad;
      }
      if (!strstr(t.kinds, k->valuestring)) {
        if (t.kinds[0]) strcat(t.kinds, " ");
        strcat(t.kinds, k->valuestring);
      }
    }
  } else {
    for (int i = 0; i < QUIZ_KIND_COUNT; i++) {
      if (t.kinds[0]) strcat(t.kinds, " ");
      strcat(t.kinds, quiz_kind_name(i));
    }
  }
  snprintf(t.title, sizeof t.title, "%s", title->valuestring);
  t.questions = (int)n;
  t.time_limit = (int)secs;
  t.max_attempts = (int)attempts;
  t.is_open = open;
  t.leaderboard = board;
  t.created_by = user->id;
  if (db_quiz_test_create(app->db, &t, &t.id) || db_quiz_test_get(app->db, t.id, &t)) {
    api_error_db(resp);
    return;
  }
  respond_test(resp, 201, &t);
  return;
bad:
  api_error(resp, 400, "bad_request", msg);
}

void api_quiz_test_update(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp) {
  const cJSON *json = teacher_body(req, user, args, "only the teacher changes tests", resp);
  if (!json) return;
  int open = bool_member(json, "open", -2), board = bool_member(json, "leaderboard", -2);
  struct db_quiz_test t;
  if (open == -1 || board == -1) {
    api_error(resp, 400, "bad_request", "\"open\" and \"leaderboard\" are true or false");
    return;
  }
  if (db_begin(app->db)) {
    api_error_db(resp);
    return;
  }
  int rc = db_quiz_test_update(app->db, args->id, open < 0 ? -1 : open, board < 0 ? -1 : board);
  /* Closing ends the running attempts too, scored as they stand. */
  if (rc == 0 && open == 0) rc = db_quiz_attempt_end_all(app->db, args->id, app_now_us());
  if (rc || db_commit(app->db)) {
    db_rollback(app->db);
    if (rc == 1)
      api_error(resp, 404, "not_found", "no such test");
    else
      api_error_db(resp);
    return;
  }
  if (db_quiz_test_get(app->db, args->id, &t)) {
    api_error_db(resp);
    return;
  }
  if (open == 0) log_info("quiz: test %lld closed; its running attempts ended", (long long)t.id);
  respond_test(resp, 200, &t);
}

struct results_ctx {
  cJSON *list;
  int names_only;
  int limit;
};

static int add_student(void *arg, const struct db_quiz_student *s) {
  struct results_ctx *c = arg;
  if (c->limit && cJSON_GetArraySize(c->list) >= c->limit) return 1;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", s->name);
  add_points(o, "points", s->best_points);
  if (!c->names_only) {
    cJSON_AddNumberToObject(o, "attempts", s->attempts);
    cJSON_AddNumberToObject(o, "right", s->best_right);
    cJSON_AddNumberToObject(o, "best_attempt", (double)s->best_attempt);
  }
  cJSON_AddItemToArray(c->list, o);
  return 0;
}

static int add_item(void *arg, const struct db_quiz_item *it) {
  struct results_ctx *c = arg;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "kind", it->kind);
  cJSON_AddStringToObject(o, "fact", it->fact);
  cJSON_AddStringToObject(o, "label", it->label);
  cJSON_AddNumberToObject(o, "asked", it->asked);
  cJSON_AddNumberToObject(o, "answered", it->answered);
  cJSON_AddNumberToObject(o, "right", it->right);
  cJSON_AddNumberToObject(o, "wrong", it->asked - it->right);
  add_points(o, "points", it->points);
  cJSON_AddItemToArray(c->list, o);
  return 0;
}

/* CSV: one line per student (best attempt), for a spreadsheet. Names are
 * [A-Za-z0-9_.-] only, so no field needs quoting. */
struct csv_ctx {
  char *buf;
  size_t len, cap;
  int questions;
  int failed;
};

static int add_csv_student(void *arg, const struct db_quiz_student *s) {
  struct csv_ctx *c = arg;
  char line[160];
  int n = snprintf(line, sizeof line, "%s,%d,%.2f,%d,%d\r\n", s->name, s->attempts,
                   s->best_points / 100.0, s->best_right, c->questions);
  if (c->len + (size_t)n + 1 > c->cap) {
    size_t cap = c->cap * 2 + (size_t)n + 1;
    char *grown = realloc(c->buf, cap);
    if (!grown) {
      c->failed = 1;
      return 1;
    }
    c->buf = grown;
    c->cap = cap;
  }
  memcpy(c->buf + c->len, line, (size_t)n + 1);
  c->len += (size_t)n;
  return 0;
}

static void results_csv(struct app *app, const struct db_quiz_test *t, struct api_response *resp) {
  static const char head[] = "student,attempts,best_points,right,questions\r\n";
  struct csv_ctx c = {malloc(sizeof head), sizeof head - 1, sizeof head, t->questions, 0};
  if (!c.buf) {
    api_error_db(resp);
    return;
  }
  memcpy(c.buf, head, sizeof head);
  if (db_quiz_results_students(app->db, t->id, add_csv_student, &c) || c.failed) {
    free(c.buf);
    api_error_db(resp);
    return;
  }
  resp->status = 200;
  resp->content_type = "text/csv; charset=utf-8";
  resp->body = c.buf;
  resp->body_len = c.len;
  snprintf(resp->content_disposition, sizeof resp->content_disposition,
           "attachment; filename=\"portlab-quiz-test-%lld.csv\"", (long long)t->id);
}

void api_quiz_results(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp) {
  struct db_quiz_test t;
  if (!is_teacher(user)) {
    api_error(resp, 403, "forbidden", "only the teacher sees the results");
    return;
  }
  int rc = db_quiz_test_get(app->db, args->id, &t);
  if (rc) {
    if (rc < 0)
      api_error_db(resp);
    else
      api_error(resp, 404, "not_found", "no such test");
    return;
  }
  const char *format = req->arg_format && req->arg_format[0] ? req->arg_format : "json";
  if (strcmp(format, "csv") == 0) {
    results_csv(app, &t, resp);
    return;
  }
  if (strcmp(format, "json") != 0) {
    api_error(resp, 400, "bad_request", "format must be json or csv");
    return;
  }
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "test", test_json(&t));
  struct results_ctx s = {cJSON_AddArrayToObject(root, "students"), 0, 0};
  struct results_ctx q = {cJSON_AddArrayToObject(root, "questions"), 0, 0};
  int failed = db_quiz_results_students(app->db, args->id, add_student, &s) ||
               db_quiz_results_questions(app->db, args->id, add_item, &q);
  api_respond_or_fail(resp, failed, root);
}

void api_quiz_leaderboard(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp) {
  struct db_quiz_test t;
  int rc = db_quiz_test_get(app->db, args->id, &t);
  if (rc < 0) {
    api_error_db(resp);
    return;
  }
  if (rc == 1 || (!t.leaderboard && !is_teacher(user)) || (!t.is_open && !is_teacher(user))) {
    api_error(resp, 404, "not_found", "this test has no leaderboard");
    return;
  }
  cJSON *root = cJSON_CreateObject();
  struct results_ctx s = {cJSON_AddArrayToObject(root, "leaderboard"), 1, LEADERBOARD};
  cJSON_AddBoolToObject(root, "enabled", t.leaderboard);
  api_respond_or_fail(resp, db_quiz_results_students(app->db, args->id, add_student, &s), root);
}
