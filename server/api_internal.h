/* api_internal.h -- what the REST handler files share (api.c, api_lessons.c, api_quiz.c). */
#ifndef PORTLAB_API_INTERNAL_H
#define PORTLAB_API_INTERNAL_H

#include <cJSON.h>
#include <stdint.h>

#include "api.h"

#define API_MAX_SEGS 2

/* What a route's pattern captured from the path. */
struct api_args {
  int64_t id;                 /* from '*' */
  char seg[API_MAX_SEGS][64]; /* from each '%', in order */
};

typedef void (*api_handler)(struct app *app, const struct api_request *req,
                            const struct db_user *user, const struct api_args *args,
                            struct api_response *resp);

/* Writes json (taking ownership) as the response body. */
void api_respond_json(struct api_response *resp, int status, cJSON *json);
cJSON *api_user_json(const struct db_user *u);
/* Parses the JSON object body, or answers the error itself and returns NULL. */
cJSON *api_parse_body(const struct api_request *req, struct api_response *resp);

/* api_lessons.c */
void api_lessons_list(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp);
void api_lesson_get(struct app *app, const struct api_request *req, const struct db_user *user,
                    const struct api_args *args, struct api_response *resp);
void api_task_answer(struct app *app, const struct api_request *req, const struct db_user *user,
                     const struct api_args *args, struct api_response *resp);
void api_task_hint(struct app *app, const struct api_request *req, const struct db_user *user,
                   const struct api_args *args, struct api_response *resp);

/* api_class.c: the teacher's class. */
void api_progress(struct app *app, const struct api_request *req, const struct db_user *user,
                  const struct api_args *args, struct api_response *resp);
void api_class_gradebook(struct app *app, const struct api_request *req, const struct db_user *user,
                         const struct api_args *args, struct api_response *resp);
void api_class_results(struct app *app, const struct api_request *req, const struct db_user *user,
                       const struct api_args *args, struct api_response *resp);
void api_class_get(struct app *app, const struct api_request *req, const struct db_user *user,
                   const struct api_args *args, struct api_response *resp);
void api_class_put(struct app *app, const struct api_request *req, const struct db_user *user,
                   const struct api_args *args, struct api_response *resp);
void api_class_rejoin_code(struct app *app, const struct api_request *req,
                           const struct db_user *user, const struct api_args *args,
                           struct api_response *resp);
void api_class_sign_out(struct app *app, const struct api_request *req, const struct db_user *user,
                        const struct api_args *args, struct api_response *resp);
void api_class_remove(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp);
void api_class_reset_lab(struct app *app, const struct api_request *req, const struct db_user *user,
                         const struct api_args *args, struct api_response *resp);
void api_class_refusals(struct app *app, const struct api_request *req, const struct db_user *user,
                        const struct api_args *args, struct api_response *resp);
void api_class_audit(struct app *app, const struct api_request *req, const struct db_user *user,
                     const struct api_args *args, struct api_response *resp);

/* api_usage.c */
void api_usage(struct app *app, const struct api_request *req, const struct db_user *user,
               const struct api_args *args, struct api_response *resp);
/* api_quiz.c */
void api_quiz_start(struct app *app, const struct api_request *req, const struct db_user *user,
                    const struct api_args *args, struct api_response *resp);
void api_quiz_answer(struct app *app, const struct api_request *req, const struct db_user *user,
                     const struct api_args *args, struct api_response *resp);
void api_quiz_attempt(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp);
void api_quiz_history(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp);
void api_quiz_tests(struct app *app, const struct api_request *req, const struct db_user *user,
                    const struct api_args *args, struct api_response *resp);
void api_quiz_test_create(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp);
void api_quiz_test_update(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp);
void api_quiz_results(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp);
void api_quiz_leaderboard(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp);

#endif
