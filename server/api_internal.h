/* api_internal.h -- what the REST handler files share (api.c, api_class.c, api_lessons.c,
 * api_quiz.c, api_usage.c). */
#ifndef PORTLAB_API_INTERNAL_H
#define PORTLAB_API_INTERNAL_H

#include <cJSON.h>
#include <stdint.h>

#include "api.h"

#define API_MAX_SEGS 2

/* What a route's pattern captured from the path, and where api_body
 * keeps the request's parsed body: api_handle owns it and frees it after
 * the handler, so no handler frees it on its way out. */
struct api_args {
  int64_t id;                 /* from '*' */
  char seg[API_MAX_SEGS][64]; /* from each '%', in order */
  cJSON **body;
};

/* A route's handler: reads req (and user, NULL on a route without login,
 * and what the path captured) and fills resp. A function type, so each
 * handler below is declared by name alone. */
typedef void api_handler_fn(struct app *app, const struct api_request *req,
                            const struct db_user *user, const struct api_args *args,
                            struct api_response *resp);

/* Writes json (taking ownership) as the response body. */
void api_respond_json(struct api_response *resp, int status, cJSON *json);
cJSON *api_user_json(const struct db_user *u);
/* The request's body as a JSON object, or NULL when it answered the
 * error itself (413, 400; api_handle answered a Content-Type that is not
 * JSON, 415, already). Called once per request, where the
 * handler wants the body checked; valid until the handler returns. */
const cJSON *api_body(const struct api_request *req, const struct api_args *args,
                      struct api_response *resp);
/* Answers 500 internal: what every handler says when the database fails. */
void api_error_db(struct api_response *resp);
/* The end of a handler that filled json from the database: 200 with json,
 * or when failed is nonzero json is dropped and api_error_db answers.
 * Takes ownership of json. */
void api_respond_or_fail(struct api_response *resp, int failed, cJSON *json);

/* api_lessons.c */
api_handler_fn api_lessons_list;
api_handler_fn api_lesson_get;
api_handler_fn api_task_answer;
api_handler_fn api_task_hint;

/* api_class.c: the teacher's class. */
api_handler_fn api_progress;
api_handler_fn api_class_gradebook;
api_handler_fn api_class_results;
api_handler_fn api_class_get;
api_handler_fn api_class_put;
api_handler_fn api_class_rejoin_code;
api_handler_fn api_class_sign_out;
api_handler_fn api_class_remove;
api_handler_fn api_class_reset_lab;
api_handler_fn api_class_refusals;
api_handler_fn api_class_audit;

/* api_usage.c */
api_handler_fn api_usage;
/* api_quiz.c */
api_handler_fn api_quiz_start;
api_handler_fn api_quiz_answer;
api_handler_fn api_quiz_attempt;
api_handler_fn api_quiz_history;
api_handler_fn api_quiz_tests;
api_handler_fn api_quiz_test_create;
api_handler_fn api_quiz_test_update;
api_handler_fn api_quiz_results;
api_handler_fn api_quiz_leaderboard;

#endif
