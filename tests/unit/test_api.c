/* test_api.c -- the REST handlers against an in-memory database, no sockets. */
#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "check.h"
#include "crypto.h"
#include "db.h"
#include "export.h"
#include "policy.h"
#include "portlab_limits.h"
#include "throttle.h"

static struct app app;
static const char *call_from = "192.0.2.50"; /* the client address of call() */
static int last_retry_after;

static void setup(const char *class_code) {
  char err[256], generated[32];
  const char *argv[] = {"portlab"};
  memset(&app, 0, sizeof app);
  config_parse(&app.cfg, 1, (char **)argv, err, sizeof err);
  strcpy(app.cfg.teacher_password, "chalk");
  if (class_code) strcpy(app.cfg.class_code, class_code);
  app.db = db_open(":memory:", err, sizeof err);
  app.policy = policy_new();
  policy_add_rule(app.policy, "192.0.2.0/24:25", err, sizeof err);
  CHECK(app.db != NULL);
  CHECK_EQ_INT(api_setup_teacher(&app, generated, sizeof generated), 0);
  CHECK_EQ_STR(generated, ""); /* a configured password is not generated */
  app.throttle = api_throttle_new(&app.cfg);
  CHECK(app.throttle != NULL);
}

static void teardown(void) {
  throttle_free(app.throttle);
  app.throttle = NULL;
  db_close(app.db);
  policy_free(app.policy);
  config_free(&app.cfg);
}

/* A streamed body (transcripts) read to its end into resp->body, the way the
 * portal writes it out chunk by chunk. */
static void take_stream(struct api_response *resp) {
  unsigned char piece[LIM_EXPORT_CHUNK];
  int done = 0;
  if (!resp->stream) return;
  while (!done) {
    int n = export_read(resp->stream, app.db, piece, sizeof piece, &done);
    CHECK(n >= 0);
    if (n < 0) break;
    resp->body = realloc(resp->body, resp->body_len + (size_t)n + 1);
    memcpy(resp->body + resp->body_len, piece, (size_t)n);
    resp->body_len += (size_t)n;
    resp->body[resp->body_len] = '\0';
  }
  export_free(resp->stream);
  resp->stream = NULL;
}

/* Runs one request; returns the parsed JSON body (caller deletes) and
 * copies the cookie value, if one was set, into cookie. */
static cJSON *call(enum api_method method, const char *path, const char *body, const char *cookie,
                   int *status, char *set_cookie) {
  struct api_request req = {.method = method, .path = path, .cookie = cookie};
  char cookie_header[80];
  CHECK_EQ_INT(throttle_addr_parse(call_from, &req.client), 0);
  req.client_local = throttle_addr_is_loopback(&req.client);
  if (body) {
    req.body = body;
    req.body_len = strlen(body);
    req.content_type = "application/json";
  }
  if (cookie && strncmp(cookie, "portlab_session=", 16) != 0) {
    snprintf(cookie_header, sizeof cookie_header, "portlab_session=%s", cookie);
    req.cookie = cookie_header;
  }
  struct api_response resp;
  api_handle(&app, &req, &resp);
  take_stream(&resp);
  *status = resp.status;
  last_retry_after = resp.retry_after;
  if (set_cookie) {
    set_cookie[0] = '\0';
    if (strncmp(resp.set_cookie, "portlab_session=", 16) == 0) {
      memcpy(set_cookie, resp.set_cookie + 16, 32);
      set_cookie[32] = '\0';
    }
  }
  cJSON *json = resp.body ? cJSON_ParseWithLength(resp.body, resp.body_len) : NULL;
  free(resp.body);
  return json;
}

static const char *error_code(cJSON *json) {
  cJSON *err = cJSON_GetObjectItem(json, "error");
  cJSON *code = cJSON_GetObjectItem(err, "code");
  return cJSON_IsString(code) ? code->valuestring : "(none)";
}

static void test_join_and_rejoin(void) {
  int status;
  char cookie[40], cookie2[40];
  setup(NULL);
  cJSON *j = call(API_POST, "/api/join", "{\"name\":\"alice\"}", NULL, &status, cookie);
  CHECK_EQ_INT(status, 201);
  CHECK_EQ_INT(strlen(cookie), 32);
  CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "user"), "role")->valuestring, "student");
  cJSON *lab = cJSON_GetObjectItem(j, "lab");
  CHECK_EQ_STR(cJSON_GetObjectItem(lab, "user")->valuestring, "alice");
  CHECK_EQ_INT(strlen(cJSON_GetObjectItem(lab, "password")->valuestring), 10);
  char rejoin[64];
  snprintf(rejoin, sizeof rejoin, "%s", cJSON_GetObjectItem(j, "rejoin_code")->valuestring);
  int id = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "user"), "id")->valueint;
  cJSON_Delete(j);

  j = call(API_POST, "/api/join", "{\"name\":\"ALICE\"}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 409);
  CHECK_EQ_STR(error_code(j), "name_taken");
  cJSON_Delete(j);

  j = call(API_POST, "/api/join", "{\"name\":\"alice\",\"rejoin_code\":\"wrong\"}", NULL, &status,
           NULL);
  CHECK_EQ_INT(status, 409);
  cJSON_Delete(j);

  char body[160];
  snprintf(body, sizeof body, "{\"name\":\"alice\",\"rejoin_code\":\"%s\"}", rejoin);
  j = call(API_POST, "/api/join", body, NULL, &status, cookie2);
  CHECK_EQ_INT(status, 201);
  CHECK_EQ_INT(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "user"), "id")->valueint, id);
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "rejoin_code")));
  CHECK(strcmp(cookie, cookie2) != 0); /* a second, separate login */
  cJSON_Delete(j);

  /* Both logins work. */
  j = call(API_GET, "/api/me", NULL, cookie, &status, NULL);
  CHECK_EQ_INT(status, 200);
  cJSON_Delete(j);
  j = call(API_GET, "/api/me", NULL, cookie2, &status, NULL);
  CHECK_EQ_INT(status, 200);
  CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "user"), "name")->valuestring, "alice");
  cJSON_Delete(j);

  /* The teacher's name cannot be taken by a student, rejoin code or not. */
  j = call(API_POST, "/api/join", "{\"name\":\"teacher\",\"rejoin_code\":\"x\"}", NULL, &status,
           NULL);
  CHECK_EQ_INT(status, 409);
  cJSON_Delete(j);
  teardown();
}

/* The names a lab server gives a meaning of its own are refused to a new
 * student in any case; a student who already holds one (a database from
 * before the rule) still rejoins with their code. */
static void test_join_reserved_names(void) {
  static const char *const reserved[] = {"anonymous", "ANONYMOUS",  "ftp",
                                         "Ftp",       "postmaster", "PostMaster"};
  int status;
  unsigned char h[32];
  char hash[65], body[160];
  setup(NULL);
  for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", reserved[i]);
    cJSON *j = call(API_POST, "/api/join", body, NULL, &status, NULL);
    CHECK_EQ_INT(status, 400);
    CHECK_EQ_STR(error_code(j), "reserved_name");
    cJSON_Delete(j);
  }
  CHECK_EQ_INT(db_user_count_active(app.db, "student", "demo"), 0);
  /* Near them is free. */
  cJSON *j = call(API_POST, "/api/join", "{\"name\":\"ftp.user\"}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 201);
  cJSON_Delete(j);
  crypto_sha256("old-code", strlen("old-code"), h);
  crypto_hex(h, sizeof h, hash);
  CHECK_EQ_INT(db_user_create(app.db, "Postmaster", "student", "labpw", hash, NULL), 0);
  j = call(API_POST, "/api/join", "{\"name\":\"postmaster\"}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 409);
  CHECK_EQ_STR(error_code(j), "name_taken");
  cJSON_Delete(j);
  j = call(API_POST, "/api/join", "{\"name\":\"postmaster\",\"rejoin_code\":\"old-code\"}", NULL,
           &status, NULL);
  CHECK_EQ_INT(status, 201);
  CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "user"), "name")->valuestring,
               "Postmaster");
  cJSON_Delete(j);
  teardown();
}

static void test_join_errors(void) {
  int status;
  setup("netlab");
  static const char *bad_names[] = {"{\"name\":\"\"}",
                                    "{\"name\":\"has space\"}",
                                    "{\"name\":\"abcdefghijklmnopqrstuvwxyz0123456\"}",
                                    "{\"name\":\"\\u00e9t\\u00e9\"}",
                                    "{}",
                                    "{\"name\":null}"};
  for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
    cJSON *j = call(API_POST, "/api/join", bad_names[i], NULL, &status, NULL);
    CHECK_EQ_INT(status, 400);
    CHECK_EQ_STR(error_code(j), "invalid_name");
    cJSON_Delete(j);
  }
  cJSON *j = call(API_POST, "/api/join", "{\"name\":42}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 400);
  CHECK_EQ_STR(error_code(j), "bad_request");
  cJSON_Delete(j);
  /* 32 characters is the edge. */
  j = call(API_POST, "/api/join",
           "{\"name\":\"abcdefghijklmnopqrstuvwxyz012345\",\"class_code\":\"netlab\"}", NULL,
           &status, NULL);
  CHECK_EQ_INT(status, 201);
  cJSON_Delete(j);
  j = call(API_POST, "/api/join", "{\"name\":\"bob\"}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 403);
  CHECK_EQ_STR(error_code(j), "bad_class_code");
  cJSON_Delete(j);
  j = call(API_POST, "/api/join", "{\"name\":\"bob\",\"class_code\":\"NETLAB\"}", NULL, &status,
           NULL);
  CHECK_EQ_INT(status, 403);
  cJSON_Delete(j);
  j = call(API_POST, "/api/join", "not json", NULL, &status, NULL);
  CHECK_EQ_INT(status, 400);
  CHECK_EQ_STR(error_code(j), "bad_request");
  cJSON_Delete(j);
  j = call(API_POST, "/api/join", "[1,2]", NULL, &status, NULL);
  CHECK_EQ_INT(status, 400);
  cJSON_Delete(j);

  struct api_request req = {.method = API_POST,
                            .path = "/api/join",
                            .body = "{\"name\":\"x\"}",
                            .body_len = 12,
                            .content_type = "text/plain"};
  struct api_response resp;
  api_handle(&app, &req, &resp);
  CHECK_EQ_INT(resp.status, 415);
  free(resp.body);
  req.content_type = "application/json; charset=utf-8";
  req.body_too_large = 1;
  api_handle(&app, &req, &resp);
  CHECK_EQ_INT(resp.status, 413);
  free(resp.body);
  teardown();
}

static void test_teacher_and_sessions(void) {
  int status;
  char alice[40], bob[40], teacher[40];
  setup(NULL);
  cJSON_Delete(call(API_POST, "/api/join", "{\"name\":\"alice\"}", NULL, &status, alice));
  cJSON_Delete(call(API_POST, "/api/join", "{\"name\":\"bob\"}", NULL, &status, bob));
  cJSON *j = call(API_POST, "/api/teacher/login", "{\"password\":\"wrong\"}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 401);
  cJSON_Delete(j);
  j = call(API_POST, "/api/teacher/login", "{\"password\":\"chalk\"}", NULL, &status, teacher);
  CHECK_EQ_INT(status, 200);
  CHECK_EQ_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "user"), "role")->valuestring, "teacher");
  cJSON_Delete(j);
  j = call(API_GET, "/api/me", NULL, teacher, &status, NULL);
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "lab")));
  cJSON_Delete(j);

  struct db_user a;
  db_user_by_name(app.db, "alice", &a, NULL, 0);
  int64_t sid;
  CHECK_EQ_INT(db_session_create(app.db, a.id, "lab", 25, "raw", 1795000000000000LL, &sid), 0);
  struct db_event ev[] = {
      {sid, 1, 0, DB_DIR_NOTE, (const unsigned char *)"connected", 9},
      {sid, 2, 1500, DB_DIR_S2C, (const unsigned char *)"220 lab\r\n", 9},
      {sid, 3, 9000, DB_DIR_C2S, (const unsigned char *)"HELO x\r\nNO", 10},
      {sid, 4, 9100, DB_DIR_S2C, (const unsigned char *)"\xff\xfb\x01ok\0", 6},
      {sid, 5, 9200, DB_DIR_S2C, (const unsigned char *)"\x1b[2J\tx\x7f\r\n", 9},
  };
  CHECK_EQ_INT(db_events_append(app.db, ev, 5), 0);
  CHECK_EQ_INT(db_session_finish(app.db, sid, 1795000000500000LL, 10, 15, "remote_closed"), 0);
  char path[64];
  snprintf(path, sizeof path, "/api/sessions/%lld/transcript", (long long)sid);

  j = call(API_GET, "/api/sessions", NULL, alice, &status, NULL);
  CHECK_EQ_INT(status, 200);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sessions")), 1);
  cJSON_Delete(j);
  j = call(API_GET, "/api/sessions", NULL, bob, &status, NULL);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sessions")), 0);
  cJSON_Delete(j);
  j = call(API_GET, "/api/sessions", NULL, teacher, &status, NULL);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sessions")), 1);
  cJSON_Delete(j);

  /* Someone else's transcript looks exactly like a missing one. */
  j = call(API_GET, path, NULL, bob, &status, NULL);
  CHECK_EQ_INT(status, 404);
  CHECK_EQ_STR(error_code(j), "not_found");
  cJSON_Delete(j);
  j = call(API_GET, "/api/sessions/999999/transcript", NULL, alice, &status, NULL);
  CHECK_EQ_INT(status, 404);
  cJSON_Delete(j);
  j = call(API_GET, path, NULL, teacher, &status, NULL);
  CHECK_EQ_INT(status, 200);
  cJSON_Delete(j);

  j = call(API_GET, path, NULL, alice, &status, NULL);
  CHECK_EQ_INT(status, 200);
  cJSON *s = cJSON_GetObjectItem(j, "session");
  CHECK_EQ_STR(cJSON_GetObjectItem(s, "user")->valuestring, "alice");
  CHECK_EQ_STR(cJSON_GetObjectItem(s, "started_at")->valuestring, "2026-11-18T11:06:40Z");
  CHECK_EQ_STR(cJSON_GetObjectItem(s, "close_reason")->valuestring, "remote_closed");
  cJSON *events = cJSON_GetObjectItem(j, "events");
  CHECK_EQ_INT(cJSON_GetArraySize(events), 5);
  cJSON *e0 = cJSON_GetArrayItem(events, 0), *e3 = cJSON_GetArrayItem(events, 3);
  CHECK_EQ_STR(cJSON_GetObjectItem(e0, "dir")->valuestring, "note");
  CHECK(cJSON_GetObjectItem(e0, "data_b64") == NULL);
  CHECK_EQ_STR(cJSON_GetObjectItem(e3, "data_b64")->valuestring, "//sBb2sA");
  CHECK_EQ_STR(cJSON_GetObjectItem(e3, "text")->valuestring,
               "\xEF\xBF\xBD\xEF\xBF\xBD\x01ok\xEF\xBF\xBD");
  CHECK_EQ_INT(cJSON_GetObjectItem(e3, "t_us")->valueint, 9100);
  cJSON_Delete(j);

  struct api_request req = {.method = API_GET, .path = path, .arg_format = "txt"};
  char cookie_header[64];
  snprintf(cookie_header, sizeof cookie_header, "portlab_session=%s", alice);
  req.cookie = cookie_header;
  struct api_response resp;
  api_handle(&app, &req, &resp);
  take_stream(&resp);
  CHECK_EQ_INT(resp.status, 200);
  CHECK(strncmp(resp.content_type, "text/plain", 10) == 0);
  /* The page's notation: CR and LF as marks, control bytes as \xNN. */
  CHECK(
      strstr(resp.body,
             "* connected\nS: 220 lab\xE2\x90\x8D\xE2\x90\x8A\nC: HELO x\xE2\x90\x8D\xE2\x90\x8A\n"
             "C: NO\\\nS: ") != NULL);
  CHECK(strstr(resp.body, "\\x01") != NULL); /* telnet's option byte 1 */
  CHECK(strstr(resp.body, "\\x1b[2J\\x09x\\x7f\xE2\x90\x8D\xE2\x90\x8A\n") !=
        NULL); /* no raw ESC reaches a terminal */
  CHECK(memchr(resp.body, 0x1b, resp.body_len) == NULL);
  free(resp.body);
  req.arg_format = "pdf";
  api_handle(&app, &req, &resp);
  CHECK_EQ_INT(resp.status, 400);
  free(resp.body);

  /* Teacher filter by user. */
  req.arg_format = NULL;
  req.path = "/api/sessions";
  req.arg_user = "bob";
  snprintf(cookie_header, sizeof cookie_header, "portlab_session=%s", teacher);
  api_handle(&app, &req, &resp);
  CHECK(strstr(resp.body, "\"sessions\":[]") != NULL);
  free(resp.body);
  req.arg_user = "nobody";
  api_handle(&app, &req, &resp);
  CHECK_EQ_INT(resp.status, 404);
  free(resp.body);

  /* Logout ends that login only. */
  j = call(API_POST, "/api/logout", "{}", alice, &status, NULL);
  CHECK_EQ_INT(status, 204);
  cJSON_Delete(j);
  j = call(API_GET, "/api/me", NULL, alice, &status, NULL);
  CHECK_EQ_INT(status, 401);
  cJSON_Delete(j);
  teardown();
}

static void test_login_throttle_and_routes(void) {
  int status;
  setup(NULL);
  for (int i = 0; i < 10; i++) {
    cJSON_Delete(
        call(API_POST, "/api/teacher/login", "{\"password\":\"no\"}", NULL, &status, NULL));
    CHECK_EQ_INT(status, 401); /* the first 10 wrong passwords are answered */
  }
  cJSON *j = call(API_POST, "/api/teacher/login", "{\"password\":\"chalk\"}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 429); /* the 11th try from that address waits, even the right one */
  CHECK_EQ_STR(error_code(j), "too_many_attempts");
  CHECK_EQ_INT(last_retry_after, 30);
  cJSON_Delete(j);
  call_from = "192.0.2.51"; /* another address is not locked out */
  j = call(API_POST, "/api/teacher/login", "{\"password\":\"chalk\"}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 200);
  cJSON_Delete(j);
  call_from = "127.0.0.1"; /* nor is this machine, ever */
  for (int i = 0; i < 12; i++)
    cJSON_Delete(
        call(API_POST, "/api/teacher/login", "{\"password\":\"no\"}", NULL, &status, NULL));
  j = call(API_POST, "/api/teacher/login", "{\"password\":\"chalk\"}", NULL, &status, NULL);
  CHECK_EQ_INT(status, 200);
  cJSON_Delete(j);
  call_from = "192.0.2.50";

  j = call(API_GET, "/api/me", NULL, NULL, &status, NULL);
  CHECK_EQ_INT(status, 401);
  CHECK_EQ_STR(error_code(j), "unauthorized");
  cJSON_Delete(j);
  j = call(API_GET, "/api/me", NULL, "0123456789abcdef0123456789abcdef", &status, NULL);
  CHECK_EQ_INT(status, 401);
  cJSON_Delete(j);
  j = call(API_GET, "/api/nothing", NULL, NULL, &status, NULL);
  CHECK_EQ_INT(status, 404);
  cJSON_Delete(j);
  j = call(API_GET, "/api/join", NULL, NULL, &status, NULL);
  CHECK_EQ_INT(status, 405);
  cJSON_Delete(j);
  j = call(API_GET, "/api/sessions/12x/transcript", NULL, NULL, &status, NULL);
  CHECK_EQ_INT(status, 404);
  cJSON_Delete(j);
  j = call(API_GET, "/api/sessions/1234567890123456789/transcript", NULL, NULL, &status, NULL);
  CHECK_EQ_INT(status, 404); /* more digits than an id can have */
  cJSON_Delete(j);
  j = call(API_GET, "/api/health", NULL, NULL, &status, NULL);
  CHECK_EQ_INT(status, 200);
  CHECK_EQ_STR(cJSON_GetObjectItem(j, "status")->valuestring, "ok");
  cJSON_Delete(j);
  teardown();
}

static void test_generated_teacher_password(void) {
  char err[256], generated[32];
  const char *argv[] = {"portlab"};
  memset(&app, 0, sizeof app);
  config_parse(&app.cfg, 1, (char **)argv, err, sizeof err);
  app.db = db_open(":memory:", err, sizeof err);
  CHECK_EQ_INT(api_setup_teacher(&app, generated, sizeof generated), 0);
  CHECK_EQ_INT(strlen(generated), 16);
  char again[32];
  CHECK_EQ_INT(api_setup_teacher(&app, again, sizeof again), 0);
  CHECK_EQ_STR(again, ""); /* printed once only */
  app.throttle = api_throttle_new(&app.cfg);
  int status;
  char body[80];
  snprintf(body, sizeof body, "{\"password\":\"%s\"}", generated);
  cJSON_Delete(call(API_POST, "/api/teacher/login", body, NULL, &status, NULL));
  CHECK_EQ_INT(status, 200);
  throttle_free(app.throttle);
  app.throttle = NULL;
  db_close(app.db);
  config_free(&app.cfg);
}

/* GET /api/sessions as the portal passes it: query arguments as strings. */
static cJSON *list(const char *cookie, const char *user, const char *limit, const char *before,
                   int *status) {
  char cookie_header[64];
  snprintf(cookie_header, sizeof cookie_header, "portlab_session=%s", cookie);
  struct api_request req = {.method = API_GET,
                            .path = "/api/sessions",
                            .cookie = cookie_header,
                            .arg_user = user,
                            .arg_limit = limit,
                            .arg_before = before};
  struct api_response resp;
  api_handle(&app, &req, &resp);
  *status = resp.status;
  cJSON *json = resp.body ? cJSON_ParseWithLength(resp.body, resp.body_len) : NULL;
  free(resp.body);
  return json;
}

static int64_t page_id(cJSON *j, int i) {
  return (int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sessions"), i),
                                      "id")
      ->valuedouble;
}

/* Paging: limit at 0, 1, the maximum and one past it; before as garbage, as
 * someone else's session and as a session outside the filtered list; pages
 * that follow next_before see every session once, newest first, with ties
 * in started time broken by id. */
static void test_session_paging(void) {
  int status;
  char alice[40], bob[40], teacher[40];
  setup(NULL);
  app.cfg.sessions_page_max = 3;
  cJSON_Delete(call(API_POST, "/api/join", "{\"name\":\"alice\"}", NULL, &status, alice));
  cJSON_Delete(call(API_POST, "/api/join", "{\"name\":\"bob\"}", NULL, &status, bob));
  cJSON_Delete(
      call(API_POST, "/api/teacher/login", "{\"password\":\"chalk\"}", NULL, &status, teacher));
  struct db_user a, b;
  db_user_by_name(app.db, "alice", &a, NULL, 0);
  db_user_by_name(app.db, "bob", &b, NULL, 0);
  int64_t ids[8], bob_sid;
  for (int i = 0; i < 8; i++) /* pairs share a start time */
    CHECK_EQ_INT(db_session_create(app.db, a.id, "lab", 25, "raw", 1000 + i / 2, &ids[i]), 0);
  CHECK_EQ_INT(db_session_create(app.db, b.id, "lab", 25, "raw", 5000, &bob_sid), 0);

  cJSON *j = list(alice, NULL, NULL, NULL, &status);
  CHECK_EQ_INT(status, 200); /* the default limit is capped by the maximum */
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sessions")), 3);
  cJSON_Delete(j);
  static const char *bad_limits[] = {"0", "4", "-1", "+2", " 2", "2x", "-", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad_limits / sizeof bad_limits[0]; i++) {
    j = list(alice, NULL, bad_limits[i], NULL, &status);
    CHECK_EQ_INT(status, 400);
    CHECK_EQ_STR(error_code(j), "bad_request");
    cJSON_Delete(j);
  }
  j = list(alice, NULL, "1", NULL, &status);
  CHECK_EQ_INT(status, 200);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sessions")), 1);
  cJSON_Delete(j);

  /* Walk alice's list with the maximum page: 3 + 3 + 2, newest first. */
  char before[32] = "";
  int seen = 0, pages = 0;
  for (;;) {
    j = list(alice, NULL, "3", before[0] ? before : NULL, &status);
    CHECK_EQ_INT(status, 200);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "sessions"));
    for (int i = 0; i < n; i++) CHECK_EQ_INT(page_id(j, i), ids[7 - seen - i]);
    seen += n;
    pages++;
    cJSON *next = cJSON_GetObjectItem(j, "next_before");
    if (cJSON_IsNull(next)) {
      cJSON_Delete(j);
      break;
    }
    CHECK_EQ_INT((int64_t)next->valuedouble, page_id(j, n - 1));
    snprintf(before, sizeof before, "%lld", (long long)next->valuedouble);
    cJSON_Delete(j);
    if (pages > 5) break;
  }
  CHECK_EQ_INT(seen, 8);
  CHECK_EQ_INT(pages, 3);

  /* A page that ends exactly at the end says so (no empty page after it). */
  snprintf(before, sizeof before, "%lld", (long long)ids[3]);
  j = list(alice, NULL, "3", before, &status);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "sessions")), 3);
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "next_before")));
  cJSON_Delete(j);

  static const char *bad_before[] = {"x", "0", "-", "12abc", "99999", "1234567890123456789"};
  for (size_t i = 0; i < sizeof bad_before / sizeof bad_before[0]; i++) {
    j = list(alice, NULL, NULL, bad_before[i], &status);
    CHECK_EQ_INT(status, 400);
    cJSON_Delete(j);
  }
  /* bob's session is not in alice's list, nor in the teacher's list of alice. */
  snprintf(before, sizeof before, "%lld", (long long)bob_sid);
  j = list(alice, NULL, NULL, before, &status);
  CHECK_EQ_INT(status, 400);
  cJSON_Delete(j);
  j = list(teacher, "alice", NULL, before, &status);
  CHECK_EQ_INT(status, 400);
  cJSON_Delete(j);
  /* The teacher's whole list pages over everyone: bob's (newest), then alice's. */
  j = list(teacher, NULL, "2", NULL, &status);
  CHECK_EQ_INT(page_id(j, 0), bob_sid);
  CHECK_EQ_INT(page_id(j, 1), ids[7]);
  cJSON_Delete(j);
  j = list(teacher, NULL, "2", before, &status);
  CHECK_EQ_INT(status, 200);
  CHECK_EQ_INT(page_id(j, 0), ids[7]);
  cJSON_Delete(j);
  teardown();
}

int main(void) {
  test_session_paging();
  test_join_and_rejoin();
  test_join_reserved_names();
  test_join_errors();
  test_teacher_and_sessions();
  test_login_throttle_and_routes();
  test_generated_teacher_password();
  return check_done();
}
