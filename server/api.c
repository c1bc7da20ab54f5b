/* api.c -- the REST API: join, teacher login, me, targets, sessions, transcripts.
 *
 * Each route is one row of a table (method, path shape, whether a login
 * is needed, handler). Handlers read a parsed request and fill a response;
 * they never see lws. JSON bodies are parsed with cJSON after the portal
 * capped their size. Errors always have the shape
 * {"error":{"code":"...","message":"..."}}. A session that belongs to
 * someone else is reported exactly like one that does not exist (404), so
 * ids cannot be probed.
 */
#include "api.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "app.h"
#include "auth.h"
#include "class.h"
#include "export.h"
#include "jsontime.h"
#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"
#include "policy.h"
#include "portlab_limits.h"
#include "relay.h"
#include "relay_tls.h"
#include "text.h"
#include "throttle.h"

#define TEACHER_NAME "teacher"

static cJSON *session_json(const struct db_session *s);
#define LAB_PASSWORD_LEN 10
#define REJOIN_CODE_LEN 12

struct route {
  enum api_method method;
  const char *pattern; /* '*': a run of digits (args.id); '%': a slug (args.seg[]) */
  int needs_user;
  api_handler_fn *handle;
};

/* --- responses ---------------------------------------------------------- */

void api_respond_json(struct api_response *resp, int status, cJSON *json) {
  resp->status = status;
  resp->content_type = "application/json";
  resp->body = cJSON_PrintUnformatted(json);
  resp->body_len = resp->body ? strlen(resp->body) : 0;
  cJSON_Delete(json);
  if (!resp->body) api_error(resp, 500, "internal", "out of memory");
}

void api_error(struct api_response *resp, int status, const char *code, const char *message) {
  free(resp->body);
  resp->body = NULL;
  cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
  cJSON_AddStringToObject(err, "code", code);
  cJSON_AddStringToObject(err, "message", message);
  resp->status = status;
  resp->content_type = "application/json";
  resp->body = cJSON_PrintUnformatted(root);
  resp->body_len = resp->body ? strlen(resp->body) : 0;
  cJSON_Delete(root);
}

void api_error_db(struct api_response *resp) {
  api_error(resp, 500, "internal", "the database failed; try again");
}

void api_respond_or_fail(struct api_response *resp, int failed, cJSON *json) {
  if (failed) {
    cJSON_Delete(json);
    api_error_db(resp);
    return;
  }
  api_respond_json(resp, 200, json);
}

cJSON *api_user_json(const struct db_user *u) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)u->id);
  cJSON_AddStringToObject(o, "name", u->name);
  cJSON_AddStringToObject(o, "role", u->role);
  return o;
}

static void add_lab_credentials(cJSON *root, const struct db_user *u) {
  if (strcmp(u->role, "student") != 0) {
    cJSON_AddNullToObject(root, "lab");
    return;
  }
  cJSON *lab = cJSON_AddObjectToObject(root, "lab");
  cJSON_AddStringToObject(lab, "user", u->name);
  cJSON_AddStringToObject(lab, "password", u->lab_password);
}

/* A session that ended before it ever connected (the target was refused
 * after DNS, or every connect failed) is "refused", never "open". */
static const char *session_state(const struct db_session *s) {
  static const char *const refused[] = {"connect_failed", "connect_timeout", "target_denied"};
  if (!s->ended_us) return "open";
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    if (strcmp(s->close_reason, refused[i]) == 0) return "refused";
  return "ended";
}

/* An open session's counters come from its live relay: the stored ones
 * are written only when it ends. */
static cJSON *session_json_live(struct app *app, const struct db_session *stored) {
  struct db_session s = *stored;
  if (!s.ended_us) relay_live_counters(app, s.id, &s.bytes_up, &s.bytes_down);
  cJSON *o = session_json(&s);
  cJSON_AddStringToObject(o, "state", session_state(&s));
  return o;
}

static cJSON *session_json(const struct db_session *s) {
  cJSON *o = cJSON_CreateObject();
  json_add_session(o, s, 1);
  /* The student's own client talked to a lab server (not the relay). */
  cJSON_AddBoolToObject(o, "own_client", s->own_client != 0);
  if (s->own_client) cJSON_AddStringToObject(o, "client_addr", s->client_addr);
  /* An own client's FTP data connection: its control session and what it
   * carried ("" if the client never said). */
  if (s->parent_id) {
    cJSON_AddNumberToObject(o, "parent_id", (double)s->parent_id);
    cJSON_AddStringToObject(o, "label", s->label);
  }
  return o;
}

/* --- logins -------------------------------------------------------------- */

int api_user_from_cookie(struct app *app, const char *cookie, struct db_user *user) {
  char token[AUTH_TOKEN_HEX + 1];
  unsigned char hash[32];
  int rc = cookie ? auth_cookie_token(cookie, token) : -1;
  if (rc == -2)
    log_warn("refused a login: two " AUTH_COOKIE_NAME
             " cookies in one request "
             "(one set by a sibling site?)");
  if (rc) return -1;
  crypto_sha256(token, AUTH_TOKEN_HEX, hash);
  if (db_login_lookup(app->db, hash, app_now_us() / 1000000, user) != 0) return -1;
  db_user_seen(app->db, user->id, app_now_us() / 1000000); /* the roster's "last seen" */
  return 0;
}

/* Creates a login for user and puts its cookie on the response. */
static int start_login(struct app *app, int64_t user_id, const struct api_request *req,
                       struct api_response *resp) {
  char token[AUTH_TOKEN_HEX + 1];
  unsigned char hash[32];
  long max_age = LIM_COOKIE_DAYS * 86400L;
  if (auth_token(token)) return -1;
  crypto_sha256(token, AUTH_TOKEN_HEX, hash);
  if (db_login_create(app->db, hash, user_id, app_now_us() / 1000000 + max_age)) return -1;
  db_user_seen(app->db, user_id, app_now_us() / 1000000);
  auth_set_cookie(resp->set_cookie, sizeof resp->set_cookie, token, max_age, req->secure);
  return 0;
}

/* Signs user in (start_login) and begins the answer both ways of signing
 * in give, {"user": ...}. NULL if the login could not be stored. */
static cJSON *login_reply(struct app *app, const struct db_user *user,
                          const struct api_request *req, struct api_response *resp) {
  if (start_login(app, user->id, req, resp)) return NULL;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "user", api_user_json(user));
  return root;
}

static void hash_code(const char *code, char out[65]) {
  unsigned char h[32];
  crypto_sha256(code, strlen(code), h);
  crypto_hex(h, sizeof h, out);
}

/* --- throttling --------------------------------------------------------- */

struct throttle *api_throttle_new(const struct config *cfg) {
  struct throttle_params p = {
      .failures = cfg->login_failures,
      .backoff_secs = cfg->login_backoff,
      .backoff_max_secs = cfg->login_backoff_max,
      .addrs = (size_t)cfg->throttle_addrs,
  };
  return throttle_new(&p);
}

static const char *const kind_what[THROTTLE_KINDS] = {"teacher password", "class code",
                                                      "rejoin code", "join"};

/* Answers 429 too_many_attempts with Retry-After when the client must
 * still wait after wrong answers of this kind. 1 if it answered. The
 * machine itself (--local-net) never waits. */
static int throttled(struct app *app, const struct api_request *req, enum throttle_kind kind,
                     struct api_response *resp) {
  if (req->client_local) return 0;
  int64_t wait = throttle_wait_us(app->throttle, &req->client, kind, app_mono_us());
  if (!wait) return 0;
  char msg[128];
  resp->retry_after = (int)((wait + 999999) / 1000000);
  snprintf(msg, sizeof msg, "too many wrong tries of the %s from your address; wait %d s",
           kind_what[kind], resp->retry_after);
  api_error(resp, 429, "too_many_attempts", msg);
  return 1;
}

static void count_failure(struct app *app, const struct api_request *req, enum throttle_kind kind) {
  char addr[64];
  throttle_addr_text(&req->client, addr, sizeof addr);
  log_warn("wrong %s from %s%s", kind_what[kind], addr, req->client_local ? " (this machine)" : "");
  if (!req->client_local) throttle_failed(app->throttle, &req->client, kind, app_mono_us());
}

int api_setup_teacher(struct app *app, char *generated, size_t genlen) {
  char stored[256];
  struct db_user u;
  generated[0] = '\0';
  int rc = db_user_by_name(app->db, TEACHER_NAME, &u, NULL, 0);
  if (rc < 0) return -1;
  if (rc == 1 && (db_user_create(app->db, TEACHER_NAME, "teacher", "", NULL, NULL) ||
                  db_user_by_name(app->db, TEACHER_NAME, &u, NULL, 0)))
    return -1;
  const char *password = app->cfg.teacher_password;
  rc = db_setting_get(app->db, "teacher_password_hash", stored, sizeof stored);
  if (rc < 0) return -1;
  if (!password[0] && rc == 0) return 0; /* keep the one generated earlier */
  if (!password[0]) {
    if (genlen < 17 || crypto_random_word(generated, 16)) return -1;
    password = generated;
  }
  /* A new password ends every teacher login made with the old one: it is
   * how a teacher takes the class back when the old one leaked. */
  if (rc == 0 && !auth_password_verify(password, stored)) {
    int ended = db_login_delete_user(app->db, u.id);
    if (ended < 0) return -1;
    if (ended > 0) log_info("the teacher password changed: %d teacher login(s) ended", ended);
  }
  if (auth_password_hash(password, stored, sizeof stored)) return -1;
  return db_setting_set(app->db, "teacher_password_hash", stored);
}

/* --- request bodies --------------------------------------------------- */

const cJSON *api_body(const struct api_request *req, const struct api_args *args,
                      struct api_response *resp) {
  if (req->body_too_large) {
    api_error(resp, 413, "payload_too_large", "request body is larger than 8192 bytes");
    return NULL;
  }
  if (req->body && text_json_has_nul(req->body, req->body_len)) {
    api_error(resp, 400, "bad_request", "strings in the body may not contain NUL characters");
    return NULL;
  }
  cJSON *json = cJSON_ParseWithLength(req->body ? req->body : "", req->body_len);
  if (!cJSON_IsObject(json)) {
    cJSON_Delete(json);
    api_error(resp, 400, "bad_request", "the body is not a JSON object");
    return NULL;
  }
  *args->body = json;
  return json;
}

/* A string member, "" if absent; NULL (and an error answered) if present
 * but not a string or too long. */
static const char *string_member(const cJSON *json, const char *key, size_t maxlen,
                                 struct api_response *resp) {
  cJSON *item = cJSON_GetObjectItemCaseSensitive(json, key);
  if (!item || cJSON_IsNull(item)) return "";
  if (!cJSON_IsString(item) || strlen(item->valuestring) > maxlen) {
    char msg[96];
    snprintf(msg, sizeof msg, "\"%s\" must be a string of at most %zu characters", key, maxlen);
    api_error(resp, 400, "bad_request", msg);
    return NULL;
  }
  return item->valuestring;
}

/* --- handlers ----------------------------------------------------------- */

static void handle_health(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "status", "ok");
  cJSON_AddStringToObject(root, "version", PORTLAB_VERSION);
  api_respond_json(resp, 200, root);
}

/* The lab's CA certificate, for students' own clients (curl --cacert,
 * openssl s_client -CAfile, Python's ssl). Public like the lab itself: a
 * CA certificate is no secret, and a terminal has no login cookie. */
static void handle_lab_ca(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp) {
  if (!app->lab_ca_pem) {
    api_error(resp, 404, "not_found", "the lab has no TLS");
    return;
  }
  resp->body = strdup(app->lab_ca_pem);
  if (!resp->body) {
    api_error(resp, 500, "internal", "out of memory");
    return;
  }
  resp->body_len = strlen(resp->body);
  resp->status = 200;
  resp->content_type = "application/x-pem-file";
  snprintf(resp->content_disposition, sizeof resp->content_disposition,
           "attachment; filename=\"portlab-lab-ca.pem\"");
}

static void handle_join(struct app *app, const struct api_request *req, const struct db_user *none,
                        const struct api_args *args, struct api_response *resp) {
  const cJSON *json = api_body(req, args, resp);
  if (!json) return;
  const char *name = string_member(json, "name", LIM_NAME_LEN + 8, resp);
  const char *class_code = name ? string_member(json, "class_code", LIM_PASSWORD_LEN, resp) : NULL;
  const char *rejoin =
      class_code ? string_member(json, "rejoin_code", LIM_PASSWORD_LEN, resp) : NULL;
  char rejoin_new[REJOIN_CODE_LEN + 1] = "", lab_password[LAB_PASSWORD_LEN + 1], hash[65];
  char stored_hash[80];
  struct db_user user;
  if (!rejoin) return;
  if (!text_name_valid(name)) {
    api_error(resp, 400, "invalid_name",
              "a name is 1 to 32 letters, digits, '_', '.' or '-' (no spaces)");
    return;
  }
  if (app->cfg.class_code[0]) {
    if (throttled(app, req, THROTTLE_CLASS_CODE, resp)) return;
    if (!crypto_ct_streq(class_code, app->cfg.class_code)) {
      count_failure(app, req, THROTTLE_CLASS_CODE);
      api_error(resp, 403, "bad_class_code", "the class code is missing or wrong");
      return;
    }
  }
  int rc = db_user_by_name(app->db, name, &user, stored_hash, sizeof stored_hash);
  if (rc < 0) goto internal;
  if (rc == 0 && db_user_removed(app->db, user.id) == 1) {
    api_error(resp, 403, "removed", "the teacher removed this name from the class");
    return;
  }
  if (rc == 0) {
    /* Only a request that offers a rejoin code is a guess worth counting. */
    if (rejoin[0] && throttled(app, req, THROTTLE_REJOIN, resp)) return;
    hash_code(rejoin, hash);
    if (!rejoin[0] || strcmp(user.role, "student") != 0 || !stored_hash[0] ||
        !crypto_ct_streq(hash, stored_hash)) {
      if (rejoin[0]) count_failure(app, req, THROTTLE_REJOIN);
      api_error(resp, 409, "name_taken",
                "that name is taken; enter its rejoin code or choose another name");
      return;
    }
  } else {
    /* Only a new name: a student who already has one keeps it (the lab's
     * meaning wins over the account there, so nobody reaches another's
     * data through it). */
    if (text_name_reserved(name)) {
      api_error(resp, 400, "reserved_name",
                "that name means something else to the lab servers (FTP's anonymous login, "
                "SMTP's postmaster); choose another name");
      return;
    }
    int64_t students = db_user_count_active(app->db, "student", LABDB_DEMO_USER);
    if (students < 0) goto internal;
    if (students >= app->cfg.max_students) {
      log_warn("join: refused '%s': the class is full (%lld students)", name, (long long)students);
      api_error(resp, 403, "class_full",
                "the class is full: no new names can join; ask the teacher (rejoining works)");
      return;
    }
    if (!req->client_local) {
      int64_t wait = throttle_take(app->throttle, &req->client, THROTTLE_JOIN,
                                   app->cfg.joins_per_minute, app_mono_us());
      if (wait) {
        char msg[128];
        resp->retry_after = (int)((wait + 999999) / 1000000);
        snprintf(msg, sizeof msg, "too many new names from your address; wait %d s",
                 resp->retry_after);
        api_error(resp, 429, "too_many_joins", msg);
        return;
      }
    }
    if (crypto_random_word(lab_password, LAB_PASSWORD_LEN) ||
        crypto_random_word(rejoin_new, REJOIN_CODE_LEN))
      goto internal;
    hash_code(rejoin_new, hash);
    rc = db_user_create(app->db, name, "student", lab_password, hash, NULL);
    if (rc == 1) {
      api_error(resp, 409, "name_taken", "that name is taken; choose another name");
      return;
    }
    if (rc || db_user_by_name(app->db, name, &user, NULL, 0)) goto internal;
    log_info("join: new student '%s' (id %lld)", user.name, (long long)user.id);
  }
  /* Welcome mail and files. Seeding is idempotent, so a rejoin retries
   * one that failed; a failure must not cost the student the join. */
  if (labdata_seed_account(app->db, app->lab_secret, user.id, user.name))
    log_error("join: cannot seed lab data for '%s': %s", user.name, db_errmsg(app->db));
  cJSON *root = login_reply(app, &user, req, resp);
  if (!root) goto internal;
  add_lab_credentials(root, &user);
  json_add_text(root, "rejoin_code", rejoin_new);
  api_respond_json(resp, 201, root);
  return;
internal:
  api_error_db(resp);
}

static void handle_teacher_login(struct app *app, const struct api_request *req,
                                 const struct db_user *none, const struct api_args *args,
                                 struct api_response *resp) {
  const cJSON *json = api_body(req, args, resp);
  if (!json) return;
  const char *password = string_member(json, "password", LIM_PASSWORD_LEN, resp);
  char stored[256];
  struct db_user user;
  if (!password) return;
  if (throttled(app, req, THROTTLE_TEACHER, resp)) return;
  if (db_setting_get(app->db, "teacher_password_hash", stored, sizeof stored) ||
      db_user_by_name(app->db, TEACHER_NAME, &user, NULL, 0))
    goto internal;
  if (!auth_password_verify(password, stored)) {
    count_failure(app, req, THROTTLE_TEACHER);
    api_error(resp, 401, "unauthorized", "wrong teacher password");
    return;
  }
  /* Only this address is forgiven: other addresses keep their waits. */
  throttle_forget(app->throttle, &req->client, THROTTLE_TEACHER);
  cJSON *root = login_reply(app, &user, req, resp);
  if (!root) goto internal;
  api_respond_json(resp, 200, root);
  return;
internal:
  api_error_db(resp);
}

static void handle_logout(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp) {
  char token[AUTH_TOKEN_HEX + 1];
  unsigned char hash[32];
  if (auth_cookie_token(req->cookie, token) == 0) {
    crypto_sha256(token, AUTH_TOKEN_HEX, hash);
    db_login_delete(app->db, hash);
    relay_logout(app, hash); /* its WebSockets end too, not only the cookie */
  }
  auth_set_cookie(resp->set_cookie, sizeof resp->set_cookie, "", 0, req->secure);
  resp->status = 204;
}

static void handle_me(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "user", api_user_json(user));
  add_lab_credentials(root, user);
  api_respond_json(resp, 200, root);
}

/* /api/me for a page that does not know yet whether it is signed in: the
 * same answer, or 200 {"user":null,"lab":null} instead of a 401 that the
 * browser would log as an error. */
static void handle_whoami(struct app *app, const struct api_request *req,
                          const struct db_user *unused, const struct api_args *args,
                          struct api_response *resp) {
  struct db_user user;
  if (api_user_from_cookie(app, req->cookie, &user) == 0) {
    handle_me(app, req, &user, args, resp);
    return;
  }
  cJSON *root = cJSON_CreateObject();
  cJSON_AddNullToObject(root, "user");
  cJSON_AddNullToObject(root, "lab");
  api_respond_json(resp, 200, root);
}

static void handle_targets(struct app *app, const struct api_request *req,
                           const struct db_user *user, const struct api_args *args,
                           struct api_response *resp) {
  cJSON *root = cJSON_CreateObject(), *lab = cJSON_AddObjectToObject(root, "lab");
  cJSON_AddStringToObject(lab, "host", "lab");
  cJSON *list = cJSON_AddArrayToObject(lab, "services");
  for (size_t i = 0; i < lab_service_count; i++) {
    if (!lab_service_on(&lab_services[i], app->cfg.lab_tls_ports)) continue;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "name", lab_services[i].name);
    cJSON_AddNumberToObject(s, "port", lab_services[i].port);
    cJSON_AddStringToObject(s, "mode", lab_services[i].mode);
    cJSON_AddItemToArray(list, s);
  }
  cJSON *pasv = cJSON_AddObjectToObject(lab, "pasv");
  cJSON_AddNumberToObject(pasv, "from", app->cfg.pasv_lo);
  cJSON_AddNumberToObject(pasv, "to", app->cfg.pasv_hi);
  cJSON *allowed = cJSON_AddArrayToObject(root, "allowed");
  const char *rule;
  for (size_t i = 0; (rule = policy_rule_text(app->policy, i)) != NULL; i++) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "rule", rule);
    cJSON_AddItemToArray(allowed, r);
  }
  api_respond_json(resp, 200, root);
}

struct session_page {
  struct app *app;
  cJSON *list;
  int limit; /* sessions to show; one more is read to know if a next page exists */
  int count;
  int64_t last_id;
  int more;
};

static int add_session(void *arg, const struct db_session *s) {
  struct session_page *pg = arg;
  if (pg->count == pg->limit) {
    pg->more = 1;
    return 1;
  }
  cJSON_AddItemToArray(pg->list, session_json_live(pg->app, s));
  pg->count++;
  pg->last_id = s->id;
  return 0;
}

/* A decimal number from lo to hi with no sign, spaces or leading '+': 0, or
 * -1 if it is anything else. */
static int parse_arg_number(const char *s, int64_t lo, int64_t hi, int64_t *out) {
  int64_t v = 0;
  size_t n = 0;
  for (; s[n] >= '0' && s[n] <= '9'; n++) {
    if (n == 18) return -1; /* more digits than any id or limit */
    v = v * 10 + (s[n] - '0');
  }
  if (n == 0 || s[n] || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

/* GET /api/sessions?user=&limit=&before=: newest first, one page. before is
 * the id of the last session of the previous page ("next_before"); it must
 * be a session of this same list. */
static void handle_sessions(struct app *app, const struct api_request *req,
                            const struct db_user *user, const struct api_args *args,
                            struct api_response *resp) {
  int64_t who = user->id, limit = LIM_SESSIONS_PAGE_DEFAULT, before_id = INT64_MAX;
  int64_t before_us = INT64_MAX, max = app->cfg.sessions_page_max;
  char msg[96];
  if (req->arg_user_too_long) {
    api_error(resp, 400, "bad_request", "?user= is longer than any name");
    return;
  }
  if (strcmp(user->role, "teacher") == 0) {
    who = 0;
    if (req->arg_user && req->arg_user[0]) {
      struct db_user other;
      int rc = db_user_by_name(app->db, req->arg_user, &other, NULL, 0);
      if (rc < 0) goto internal;
      if (rc == 1) {
        api_error(resp, 404, "not_found", "no such user");
        return;
      }
      who = other.id;
    }
  }
  if (limit > max) limit = max;
  if (req->arg_limit && parse_arg_number(req->arg_limit, 1, max, &limit)) {
    snprintf(msg, sizeof msg, "limit must be a number from 1 to %lld", (long long)max);
    api_error(resp, 400, "bad_request", msg);
    return;
  }
  if (req->arg_before) {
    struct db_session b;
    int rc = 1;
    if (parse_arg_number(req->arg_before, 1, INT64_MAX, &before_id) == 0)
      rc = db_session_get(app->db, before_id, &b);
    if (rc < 0) goto internal;
    if (rc == 1 || (who != 0 && b.user_id != who)) {
      api_error(resp, 400, "bad_request", "before must be the id of a session in this list");
      return;
    }
    before_us = b.started_us;
  }
  cJSON *root = cJSON_CreateObject();
  struct session_page pg = {app, cJSON_AddArrayToObject(root, "sessions"), (int)limit, 0, 0, 0};
  if (db_session_page(app->db, who, before_us, before_id, (int)limit + 1, add_session, &pg) < 0) {
    cJSON_Delete(root);
    goto internal;
  }
  if (pg.more)
    cJSON_AddNumberToObject(root, "next_before", (double)pg.last_id);
  else
    cJSON_AddNullToObject(root, "next_before");
  api_respond_json(resp, 200, root);
  return;
internal:
  api_error_db(resp);
}

/* ?format=keylog: the session's TLS keys in the SSLKEYLOGFILE format, so
 * Wireshark can decrypt the pcap. The teacher can turn this off for
 * students (relay_tls_keylog_allowed); the teacher always gets them. */
static void transcript_keylog(struct app *app, const struct db_user *user,
                              const struct db_session *s, struct api_response *resp) {
  int teacher = strcmp(user->role, "teacher") == 0;
  if (!teacher && !relay_tls_keylog_allowed(app)) {
    api_error(resp, 403, "forbidden", "the teacher has turned off the export of TLS keys");
    return;
  }
  char *keys = malloc(LIM_TLS_SESSION_KEYS_BYTES + 1);
  if (!keys) goto internal;
  int rc = db_session_keylog_get(app->db, s->id, keys, LIM_TLS_SESSION_KEYS_BYTES + 1);
  if (rc < 0) {
    free(keys);
    goto internal;
  }
  if (rc == 1) {
    free(keys);
    api_error(resp, 404, "not_found", "this session has no TLS keys (it never used TLS)");
    return;
  }
  resp->status = 200;
  resp->content_type = "text/plain; charset=utf-8";
  resp->body = keys;
  resp->body_len = strlen(keys);
  snprintf(resp->content_disposition, sizeof resp->content_disposition,
           "attachment; filename=\"portlab-session-%lld.keys\"", (long long)s->id);
  return;
internal:
  api_error_db(resp);
}

static void handle_transcript(struct app *app, const struct api_request *req,
                              const struct db_user *user, const struct api_args *args,
                              struct api_response *resp) {
  struct db_session s;
  char *session = NULL;
  int64_t last_seq;
  int rc = db_session_get(app->db, args->id, &s);
  if (rc < 0) goto internal;
  if (rc == 1 || (s.user_id != user->id && strcmp(user->role, "teacher") != 0)) {
    api_error(resp, 404, "not_found", "no such session");
    return;
  }
  const char *name = req->arg_format && req->arg_format[0] ? req->arg_format : "json";
  if (strcmp(name, "keylog") == 0) {
    transcript_keylog(app, user, &s, resp);
    return;
  }
  const struct export_kind *kind = export_kind_by_name(name);
  if (!kind) {
    api_error(resp, 400, "bad_request", "format must be " EXPORT_FORMAT_NAMES " or keylog");
    return;
  }
  /* The events recorded by now: a session still open is exported as it
   * stands, consistent with the session fields in the head. */
  if (db_events_last_seq(app->db, s.id, &last_seq)) goto internal;
  if (kind->format == EXPORT_JSON) {
    cJSON *o = session_json(&s);
    session = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!session) goto internal;
  }
  resp->stream = export_session(kind, &s, session, last_seq, LIM_EXPORT_BYTES);
  free(session);
  if (!resp->stream) goto internal;
  resp->status = 200;
  resp->content_type = kind->content_type;
  if (kind->disposition)
    snprintf(resp->content_disposition, sizeof resp->content_disposition,
             "%s; filename=\"portlab-session-%lld.%s\"", kind->disposition, (long long)s.id,
             kind->name);
  return;
internal:
  api_error_db(resp);
}

/* --- routing ------------------------------------------------------------ */

static const struct route routes[] = {
    {API_GET, "/api/health", 0, handle_health},
    {API_GET, "/api/lab/ca.pem", 0, handle_lab_ca},
    {API_POST, "/api/join", 0, handle_join},
    {API_POST, "/api/teacher/login", 0, handle_teacher_login},
    {API_POST, "/api/logout", 0, handle_logout},
    {API_GET, "/api/me", 1, handle_me},
    {API_GET, "/api/whoami", 0, handle_whoami},
    {API_GET, "/api/targets", 1, handle_targets},
    {API_GET, "/api/sessions", 1, handle_sessions},
    {API_GET, "/api/sessions/*/transcript", 1, handle_transcript},
    {API_GET, "/api/lessons", 1, api_lessons_list},
    {API_GET, "/api/lessons/%", 1, api_lesson_get},
    {API_POST, "/api/lessons/%/tasks/%", 1, api_task_answer},
    {API_POST, "/api/lessons/%/tasks/%/hint", 1, api_task_hint},
    {API_GET, "/api/progress", 1, api_progress},
    {API_GET, "/api/usage", 1, api_usage},
    {API_POST, "/api/quiz/attempts", 1, api_quiz_start},
    {API_GET, "/api/quiz/attempts/*", 1, api_quiz_attempt},
    {API_POST, "/api/quiz/attempts/*/answers", 1, api_quiz_answer},
    {API_GET, "/api/quiz/history", 1, api_quiz_history},
    {API_GET, "/api/quiz/tests", 1, api_quiz_tests},
    {API_POST, "/api/quiz/tests", 1, api_quiz_test_create},
    {API_POST, "/api/quiz/tests/*", 1, api_quiz_test_update},
    {API_GET, "/api/quiz/tests/*/results", 1, api_quiz_results},
    {API_GET, "/api/quiz/tests/*/leaderboard", 1, api_quiz_leaderboard},
    {API_GET, "/api/class", 1, api_class_get},
    {API_PUT, "/api/class", 1, api_class_put},
    {API_GET, "/api/class/gradebook", 1, api_class_gradebook},
    {API_GET, "/api/class/audit", 1, api_class_audit},
    {API_POST, "/api/class/students/*/rejoin-code", 1, api_class_rejoin_code},
    {API_POST, "/api/class/students/*/sign-out", 1, api_class_sign_out},
    {API_POST, "/api/class/students/*/remove", 1, api_class_remove},
    {API_POST, "/api/class/students/*/reset-lab", 1, api_class_reset_lab},
    {API_GET, "/api/class/students/*/refusals", 1, api_class_refusals},
    {API_GET, "/api/results", 1, api_class_results},
};

/* Matches path against pattern: '*' takes a run of 1-18 digits into
 * args->id, '%' a slug of [a-z0-9-] into the next args->seg. */
static int route_match(const char *pattern, const char *path, struct api_args *args) {
  size_t nseg = 0;
  while (*pattern) {
    if (*pattern == '*') {
      int digits = 0;
      int64_t v = 0;
      while (*path >= '0' && *path <= '9' && digits < 18) v = v * 10 + (*path++ - '0'), digits++;
      if (!digits || (*path >= '0' && *path <= '9')) return 0;
      args->id = v;
      pattern++;
      continue;
    }
    if (*pattern == '%') {
      size_t n = 0;
      if (nseg == API_MAX_SEGS) return 0;
      while ((*path >= 'a' && *path <= 'z') || (*path >= '0' && *path <= '9') || *path == '-') {
        if (n + 1 == sizeof args->seg[0]) return 0;
        args->seg[nseg][n++] = *path++;
      }
      if (!n) return 0;
      args->seg[nseg++][n] = '\0';
      pattern++;
      continue;
    }
    if (*pattern++ != *path++) return 0;
  }
  return *path == '\0';
}

void api_handle(struct app *app, const struct api_request *req, struct api_response *resp) {
  memset(resp, 0, sizeof *resp);
  int path_known = 0;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    struct api_args args;
    memset(&args, 0, sizeof args);
    if (!route_match(routes[i].pattern, req->path, &args)) continue;
    path_known = 1;
    if (routes[i].method != req->method) continue;
    /* Every POST and PUT is JSON, also where the handler never reads the
     * body (logout, sign-out): a browser sends JSON to another origin only
     * after a CORS preflight, which portlab never answers, so a plain form
     * on another page of the same site cannot reach any of them. */
    if (req->method != API_GET && !auth_content_type_json(req->content_type)) {
      api_error(resp, 415, "unsupported_media_type", "send Content-Type: application/json");
      return;
    }
    struct db_user user;
    cJSON *body = NULL;
    if (routes[i].needs_user && api_user_from_cookie(app, req->cookie, &user)) {
      api_error(resp, 401, "unauthorized", "join or log in first");
      return;
    }
    args.body = &body;
    routes[i].handle(app, req, routes[i].needs_user ? &user : NULL, &args, resp);
    cJSON_Delete(body);
    return;
  }
  if (path_known)
    api_error(resp, 405, "method_not_allowed", "this method is not allowed here");
  else
    api_error(resp, 404, "not_found", "no such API endpoint");
}
