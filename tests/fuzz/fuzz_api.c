/* fuzz_api.c -- libFuzzer target for the REST API's POST routes.
 *
 * One app is built once, as tests/unit/test_api.c builds it: the default
 * configuration with a teacher password and a class code, an in-memory
 * database, a policy with one rule, the embedded lessons, a student
 * (alice) and a teacher login. The first input byte picks the route
 * (join, teacher login, logout, a task answer) and whose cookie goes with
 * it (none, alice's, the teacher's, a malformed one); for a task answer the
 * next two bytes pick the lesson and the task; the rest is the body,
 * sent as application/json (as text/plain when the second byte's top bit
 * is set), cut at LIM_JSON_BODY_BYTES as the portal cuts it. Every run happens inside a savepoint
 * that is rolled back, so what one run writes (accounts, answers, a logout) never changes what the
 * next sees.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "labdb.h"
#include "lessons.h"
#include "log.h"
#include "policy.h"
#include "portlab_limits.h"
#include "quiz.h"
#include "throttle.h"

static struct app app;
static char student_cookie[64], teacher_cookie[64];

/* The cookie a response set, as a Cookie header, into out. */
static void keep_cookie(const struct api_response *resp, char *out, size_t outlen) {
  const char *semi = strchr(resp->set_cookie, ';');
  size_t n = semi ? (size_t)(semi - resp->set_cookie) : strlen(resp->set_cookie);
  if (n == 0 || n >= outlen) abort();
  memcpy(out, resp->set_cookie, n);
  out[n] = '\0';
}

static void post(const char *path, const char *body, const char *cookie, struct api_response *r) {
  struct api_request req = {.method = API_POST,
                            .path = path,
                            .cookie = cookie,
                            .content_type = "application/json",
                            .body = body,
                            .body_len = strlen(body)};
  memset(r, 0, sizeof *r);
  api_handle(&app, &req, r);
}

/* Builds the app once. Aborts on failure: a broken fixture must not look
 * like a clean run. */
static void fuzz_api_init(void) {
  static int done;
  char err[256], generated[32];
  const char *argv[] = {"portlab"};
  struct api_response r;

  if (done) return;
  done = 1;
  log_set_level(LOG_ERROR);
  if (config_parse(&app.cfg, 1, (char **)argv, err, sizeof err) != CONFIG_OK) abort();
  snprintf(app.cfg.teacher_password, sizeof app.cfg.teacher_password, "chalk");
  snprintf(app.cfg.class_code, sizeof app.cfg.class_code, "netlab");
  snprintf(app.lab_secret, sizeof app.lab_secret, "%064d", 7);
  app.db = db_open(":memory:", err, sizeof err);
  app.policy = policy_new();
  app.lessons = lessons_load(NULL, err, sizeof err);
  app.quiz_bank = quiz_bank_load(NULL, err, sizeof err);
  app.throttle = api_throttle_new(&app.cfg);
  if (!app.db || !app.policy || !app.lessons || !app.quiz_bank || !app.throttle ||
      policy_add_rule(app.policy, "192.0.2.0/24:25", err, sizeof err) != 0 ||
      api_setup_teacher(&app, generated, sizeof generated) != 0)
    abort();

  post("/api/join", "{\"name\":\"alice\",\"class_code\":\"netlab\"}", NULL, &r);
  if (r.status != 201) abort();
  keep_cookie(&r, student_cookie, sizeof student_cookie);
  free(r.body);
  post("/api/teacher/login", "{\"password\":\"chalk\"}", NULL, &r);
  if (r.status != 200) abort();
  keep_cookie(&r, teacher_cookie, sizeof teacher_cookie);
  free(r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Bit 6 of the selector reaches the quiz routes; seeds without it keep
   * their meaning. */
  static const char *routes[] = {"/api/join",          "/api/teacher/login",
                                 "/api/logout",        NULL,
                                 "/api/quiz/attempts", "/api/quiz/tests",
                                 "/api/quiz/tests/1",  "/api/quiz/attempts/1/answers"};
  char path[160];
  const char *cookie = NULL;

  fuzz_api_init();
  if (size < 3) return 0;
  unsigned sel = data[0], pick = data[1], task = data[2];
  data += 3;
  size -= 3;

  switch ((sel >> 2) & 3) {
    case 1:
      cookie = student_cookie;
      break;
    case 2:
      cookie = teacher_cookie;
      break;
    case 3:
      cookie = "portlab_session=0123456789abcdef0123456789abcdeg; other=1";
      break;
  }
  const char *route = routes[(sel & 3) | ((sel >> 4) & 4)];
  if (!route) {
    const struct lessons *ls = app.lessons;
    const struct lesson *l = &ls->v[(pick & 0x7f) % ls->n];
    if (l->n_tasks == 0) return 0;
    snprintf(path, sizeof path, "/api/lessons/%s/tasks/%s", l->id, l->tasks[task % l->n_tasks].id);
    route = path;
  }

  struct api_request req = {.method = API_POST,
                            .path = route,
                            .cookie = cookie,
                            .content_type = (pick & 0x80) ? "text/plain" : "application/json",
                            .body = (const char *)data,
                            .body_len = size};
  if (size > LIM_JSON_BODY_BYTES) { /* the portal stops collecting there */
    req.body_len = LIM_JSON_BODY_BYTES;
    req.body_too_large = 1;
  }
  struct api_response resp;
  memset(&resp, 0, sizeof resp);
  if (db_lab_savepoint(app.db) != 0) abort();
  api_handle(&app, &req, &resp);
  if (db_lab_rollback(app.db) != 0) abort();
  /* Every answer is a status and, when there is a body, JSON of its length. */
  if (resp.status < 200 || resp.status > 599) abort();
  if (resp.body && memchr(resp.body, '\0', resp.body_len)) abort();
  free(resp.body);
  return 0;
}
