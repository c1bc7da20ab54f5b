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
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "app.h"
#include "auth.h"
#include "export.h"
#include "labdata.h"
#include "log.h"
#include "policy.h"
#include "portlab_limits.h"

#define TEACHER_NAME "teacher"
#define LAB_PASSWORD_LEN 10
#define REJOIN_CODE_LEN 12
#define LOGIN_FAILURES_PER_MINUTE 10

struct route {
  enum api_method method;
  const char *pattern; /* '*': a run of digits (args.id); '%': a slug (args.seg[]) */
  int needs_user;
  api_handler handle;
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

static void iso_time(int64_t unix_us, char *out, size_t outlen) {
  time_t secs = (time_t)(unix_us / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_time(cJSON *obj, const char *key, int64_t unix_us) {
  if (!unix_us) {
    cJSON_AddNullToObject(obj, key);
    return;
  }
  char when[32];
  iso_time(unix_us, when, sizeof when);
  cJSON_AddStringToObject(obj, key, when);
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

static cJSON *session_json(const struct db_session *s) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "id", (double)s->id);
  cJSON_AddStringToObject(o, "user", s->user_name);
  cJSON_AddStringToObject(o, "host", s->host);
  cJSON_AddNumberToObject(o, "port", s->port);
  cJSON_AddStringToObject(o, "mode", s->mode);
  add_time(o, "started_at", s->started_us);
  add_time(o, "ended_at", s->ended_us);
  cJSON_AddNumberToObject(o, "bytes_up", (double)s->bytes_up);
  cJSON_AddNumberToObject(o, "bytes_down", (double)s->bytes_down);
  if (s->close_reason[0])
    cJSON_AddStringToObject(o, "close_reason", s->close_reason);
  else
    cJSON_AddNullToObject(o, "close_reason");
  return o;
}

/* --- logins -------------------------------------------------------------- */

int api_user_from_cookie(struct app *app, const char *cookie, struct db_user *user) {
  char token[AUTH_TOKEN_HEX + 1];
  unsigned char hash[32];
  if (!cookie || auth_cookie_token(cookie, token)) return -1;
  auth_sha256(token, AUTH_TOKEN_HEX, hash);
  return db_login_lookup(app->db, hash, app_now_us() / 1000000, user) == 0 ? 0 : -1;
}

/* Creates a login for user and puts its cookie on the response. */
static int start_login(struct app *app, int64_t user_id, struct api_response *resp) {
  char token[AUTH_TOKEN_HEX + 1];
  unsigned char hash[32];
  long max_age = LIM_COOKIE_DAYS * 86400L;
  if (auth_token(token)) return -1;
  auth_sha256(token, AUTH_TOKEN_HEX, hash);
  if (db_login_create(app->db, hash, user_id, app_now_us() / 1000000 + max_age)) return -1;
  auth_set_cookie(resp->set_cookie, sizeof resp->set_cookie, token, max_age);
  return 0;
}

static void hash_code(const char *code, char out[65]) {
  unsigned char h[32];
  auth_sha256(code, strlen(code), h);
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int api_setup_teacher(struct app *app, char *generated, size_t genlen) {
  char stored[256];
  struct db_user u;
  generated[0] = '\0';
  int rc = db_user_by_name(app->db, TEACHER_NAME, &u, NULL, 0);
  if (rc < 0) return -1;
  if (rc == 1 && db_user_create(app->db, TEACHER_NAME, "teacher", "", NULL, NULL)) return -1;
  const char *password = app->cfg.teacher_password;
  rc = db_setting_get(app->db, "teacher_password_hash", stored, sizeof stored);
  if (rc < 0) return -1;
  if (!password[0] && rc == 0) return 0; /* keep the one generated earlier */
  if (!password[0]) {
    if (genlen < 17 || auth_random_word(generated, 16)) return -1;
    password = generated;
  }
  if (auth_password_hash(password, stored, sizeof stored)) return -1;
  return db_setting_set(app->db, "teacher_password_hash", stored);
}

/* --- request bodies --------------------------------------------------- */

cJSON *api_parse_body(const struct api_request *req, struct api_response *resp) {
  if (req->body_too_large) {
    api_error(resp, 413, "payload_too_large", "request body is larger than 8192 bytes");
    return NULL;
  }
  if (!req->content_type || strncasecmp(req->content_type, "application/json", 16) != 0) {
    api_error(resp, 415, "unsupported_media_type", "send Content-Type: application/json");
    return NULL;
  }
  cJSON *json = cJSON_ParseWithLength(req->body ? req->body : "", req->body_len);
  if (!cJSON_IsObject(json)) {
    cJSON_Delete(json);
    api_error(resp, 400, "bad_request", "the body is not a JSON object");
    return NULL;
  }
  return json;
}

/* A string member, "" if absent; NULL (and an error answered) if present
 * but not a string or too long. */
static const char *string_member(cJSON *json, const char *key, size_t maxlen,
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

static void handle_join(struct app *app, const struct api_request *req, const struct db_user *none,
                        const struct api_args *args, struct api_response *resp) {
  cJSON *json = api_parse_body(req, resp);
  if (!json) return;
  const char *name = string_member(json, "name", LIM_NAME_LEN + 8, resp);
  const char *class_code = name ? string_member(json, "class_code", LIM_PASSWORD_LEN, resp) : NULL;
  const char *rejoin =
      class_code ? string_member(json, "rejoin_code", LIM_PASSWORD_LEN, resp) : NULL;
  char rejoin_new[REJOIN_CODE_LEN + 1] = "", lab_password[LAB_PASSWORD_LEN + 1], hash[65];
  char stored_hash[80];
  struct db_user user;
  if (!rejoin) goto done;
  if (!auth_name_valid(name)) {
    api_error(resp, 400, "invalid_name",
              "a name is 1 to 32 letters, digits, '_', '.' or '-' (no spaces)");
    goto done;
  }
  if (app->cfg.class_code[0] && !auth_ct_streq(class_code, app->cfg.class_code)) {
    api_error(resp, 403, "bad_class_code", "the class code is missing or wrong");
    goto done;
  }
  int rc = db_user_by_name(app->db, name, &user, stored_hash, sizeof stored_hash);
  if (rc < 0) goto internal;
  if (rc == 0) {
    hash_code(rejoin, hash);
    if (!rejoin[0] || strcmp(user.role, "student") != 0 || !stored_hash[0] ||
        !auth_ct_streq(hash, stored_hash)) {
      api_error(resp, 409, "name_taken",
                "that name is taken; enter its rejoin code or choose another name");
      goto done;
    }
  } else {
    if (auth_random_word(lab_password, LAB_PASSWORD_LEN) ||
        auth_random_word(rejoin_new, REJOIN_CODE_LEN))
      goto internal;
    hash_code(rejoin_new, hash);
    rc = db_user_create(app->db, name, "student", lab_password, hash, NULL);
    if (rc == 1) {
      api_error(resp, 409, "name_taken", "that name is taken; choose another name");
      goto done;
    }
    if (rc || db_user_by_name(app->db, name, &user, NULL, 0)) goto internal;
    log_info("join: new student '%s' (id %lld)", user.name, (long long)user.id);
  }
  /* Welcome mail and files. Seeding is idempotent, so a rejoin retries
   * one that failed; a failure must not cost the student the join. */
  if (labdata_seed_account(app->db, app->lab_secret, user.id, user.name))
    log_error("join: cannot seed lab data for '%s': %s", user.name, db_errmsg(app->db));
  if (start_login(app, user.id, resp)) goto internal;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "user", api_user_json(&user));
  add_lab_credentials(root, &user);
  if (rejoin_new[0])
    cJSON_AddStringToObject(root, "rejoin_code", rejoin_new);
  else
    cJSON_AddNullToObject(root, "rejoin_code");
  api_respond_json(resp, 201, root);
  goto done;
internal:
  api_error(resp, 500, "internal", "the database failed; try again");
done:
  cJSON_Delete(json);
}

static void handle_teacher_login(struct app *app, const struct api_request *req,
                                 const struct db_user *none, const struct api_args *args,
                                 struct api_response *resp) {
  cJSON *json = api_parse_body(req, resp);
  if (!json) return;
  const char *password = string_member(json, "password", LIM_PASSWORD_LEN, resp);
  char stored[256];
  struct db_user user;
  int64_t now = app_mono_us();
  if (!password) goto done;
  if (now - app->login_window_us > 60 * 1000000LL) {
    app->login_window_us = now;
    app->login_failures = 0;
  }
  if (app->login_failures >= LOGIN_FAILURES_PER_MINUTE) {
    api_error(resp, 429, "too_many_attempts", "too many wrong passwords; wait a minute");
    goto done;
  }
  if (db_setting_get(app->db, "teacher_password_hash", stored, sizeof stored) ||
      db_user_by_name(app->db, TEACHER_NAME, &user, NULL, 0))
    goto internal;
  if (!auth_password_verify(password, stored)) {
    app->login_failures++;
    log_warn("teacher login: wrong password");
    api_error(resp, 401, "unauthorized", "wrong teacher password");
    goto done;
  }
  if (start_login(app, user.id, resp)) goto internal;
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "user", api_user_json(&user));
  api_respond_json(resp, 200, root);
  goto done;
internal:
  api_error(resp, 500, "internal", "the database failed; try again");
done:
  cJSON_Delete(json);
}

static void handle_logout(struct app *app, const struct api_request *req,
                          const struct db_user *user, const struct api_args *args,
                          struct api_response *resp) {
  char token[AUTH_TOKEN_HEX + 1];
  unsigned char hash[32];
  if (auth_cookie_token(req->cookie, token) == 0) {
    auth_sha256(token, AUTH_TOKEN_HEX, hash);
    db_login_delete(app->db, hash);
  }
  auth_set_cookie(resp->set_cookie, sizeof resp->set_cookie, "", 0);
  resp->status = 204;
}

static void handle_me(struct app *app, const struct api_request *req, const struct db_user *user,
                      const struct api_args *args, struct api_response *resp) {
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "user", api_user_json(user));
  add_lab_credentials(root, user);
  api_respond_json(resp, 200, root);
}

static void handle_targets(struct app *app, const struct api_request *req,
                           const struct db_user *user, const struct api_args *args,
                           struct api_response *resp) {
  static const struct {
    const char *name;
    int port;
    const char *mode;
  } services[] = {{"ftp", LAB_FTP, "raw"},   {"telnet", LAB_TELNET, "telnet"},
                  {"smtp", LAB_SMTP, "raw"}, {"http", LAB_HTTP, "raw"},
                  {"pop3", LAB_POP3, "raw"}, {"imap", LAB_IMAP, "raw"}};
  cJSON *root = cJSON_CreateObject(), *lab = cJSON_AddObjectToObject(root, "lab");
  cJSON_AddStringToObject(lab, "host", "lab");
  cJSON *list = cJSON_AddArrayToObject(lab, "services");
  for (size_t i = 0; i < sizeof services / sizeof services[0]; i++) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "name", services[i].name);
    cJSON_AddNumberToObject(s, "port", services[i].port);
    cJSON_AddStringToObject(s, "mode", services[i].mode);
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

static int add_session(void *arg, const struct db_session *s) {
  cJSON_AddItemToArray(arg, session_json(s));
  return 0;
}

static void handle_sessions(struct app *app, const struct api_request *req,
                            const struct db_user *user, const struct api_args *args,
                            struct api_response *resp) {
  int64_t who = user->id;
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
  cJSON *root = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(root, "sessions");
  if (db_session_list(app->db, who, add_session, list) < 0) {
    cJSON_Delete(root);
    goto internal;
  }
  api_respond_json(resp, 200, root);
  return;
internal:
  api_error(resp, 500, "internal", "the database failed; try again");
}

static const char *dir_name(int dir) {
  return dir == DB_DIR_C2S ? "c2s" : dir == DB_DIR_S2C ? "s2c" : "note";
}

struct transcript_ctx {
  cJSON *events; /* JSON */
  char *txt;     /* text: a growing buffer */
  size_t txt_len, txt_alloc;
  int at_line_start;
  int last_dir;
  int failed;
};

static int add_event_json(void *arg, const struct db_event *e) {
  struct transcript_ctx *t = arg;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "seq", (double)e->seq);
  cJSON_AddNumberToObject(o, "t_us", (double)e->t_us);
  cJSON_AddStringToObject(o, "dir", dir_name(e->dir));
  if (e->dir != DB_DIR_NOTE) {
    size_t b64len = 4 * ((e->len + 2) / 3) + 8; /* lws wants slack past the NUL */
    char *b64 = malloc(b64len);
    if (!b64 || lws_b64_encode_string((const char *)e->data, (int)e->len, b64, (int)b64len) < 0) {
      free(b64);
      cJSON_Delete(o);
      t->failed = 1;
      return 1;
    }
    cJSON_AddStringToObject(o, "data_b64", b64);
    free(b64);
  }
  char *text = export_display_text(e->data, e->len);
  if (!text) {
    cJSON_Delete(o);
    t->failed = 1;
    return 1;
  }
  cJSON_AddStringToObject(o, "text", text);
  free(text);
  cJSON_AddItemToArray(t->events, o);
  return 0;
}

static int add_event_export(void *arg, const struct db_event *e) {
  return export_event(arg, e) ? 1 : 0;
}

static int txt_put(struct transcript_ctx *t, const char *p, size_t n) {
  if (t->txt_len + n + 1 > t->txt_alloc) {
    size_t want = (t->txt_alloc ? t->txt_alloc * 2 : 4096);
    while (want < t->txt_len + n + 1) want *= 2;
    char *grown = realloc(t->txt, want);
    if (!grown) {
      t->failed = 1;
      return -1;
    }
    t->txt = grown;
    t->txt_alloc = want;
  }
  memcpy(t->txt + t->txt_len, p, n);
  t->txt_len += n;
  t->txt[t->txt_len] = '\0';
  return 0;
}

/* "Follow TCP Stream" as text, marked like the transcripts in RFC 5321:
 * "C: " before each client line, "S: " before each server line, notes
 * as "* " lines. A line that is cut by a direction change ends with "\".
 * Control characters other than TAB, CR and LF become caret notation
 * (ESC is "^["), so a transcript viewed with cat or less cannot drive the
 * reader's terminal. */
static int add_event_txt(void *arg, const struct db_event *e) {
  struct transcript_ctx *t = arg;
  char *raw = export_display_text(e->data, e->len);
  char *text = raw ? malloc(strlen(raw) * 2 + 1) : NULL;
  if (!text) {
    free(raw);
    t->failed = 1;
    return 1;
  }
  char *o = text;
  for (const unsigned char *p = (const unsigned char *)raw; *p; p++) {
    if ((*p < 0x20 && *p != '\t' && *p != '\r' && *p != '\n') || *p == 0x7f) {
      *o++ = '^';
      *o++ = (char)(*p == 0x7f ? '?' : *p + 0x40);
    } else {
      *o++ = (char)*p;
    }
  }
  *o = '\0';
  free(raw);
  if (!t->at_line_start && e->dir != t->last_dir) {
    txt_put(t, "\\\n", 2);
    t->at_line_start = 1;
  }
  if (e->dir == DB_DIR_NOTE) {
    txt_put(t, "* ", 2);
    txt_put(t, text, strlen(text));
    txt_put(t, "\n", 1);
    t->at_line_start = 1;
  } else {
    const char *prefix = e->dir == DB_DIR_C2S ? "C: " : "S: ";
    for (const char *p = text; *p;) {
      if (t->at_line_start) txt_put(t, prefix, 3);
      const char *nl = strchr(p, '\n');
      size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
      txt_put(t, p, n);
      t->at_line_start = nl != NULL;
      p += n;
    }
  }
  t->last_dir = e->dir;
  free(text);
  return t->failed;
}

static void handle_transcript(struct app *app, const struct api_request *req,
                              const struct db_user *user, const struct api_args *args,
                              struct api_response *resp) {
  struct db_session s;
  struct transcript_ctx t;
  memset(&t, 0, sizeof t);
  t.at_line_start = 1;
  t.last_dir = -1;
  int rc = db_session_get(app->db, args->id, &s);
  if (rc < 0) goto internal;
  if (rc == 1 || (s.user_id != user->id && strcmp(user->role, "teacher") != 0)) {
    api_error(resp, 404, "not_found", "no such session");
    return;
  }
  const char *format = req->arg_format && req->arg_format[0] ? req->arg_format : "json";
  if (strcmp(format, "txt") == 0) {
    char head[512], started[32], ended[32] = "(open)";
    iso_time(s.started_us, started, sizeof started);
    if (s.ended_us) iso_time(s.ended_us, ended, sizeof ended);
    int n = snprintf(head, sizeof head,
                     "portlab session %lld: %s -> %s:%d (%s)\n"
                     "started %s, ended %s, %lld bytes up, %lld bytes down, closed: %s\n\n",
                     (long long)s.id, s.user_name, s.host, s.port, s.mode, started, ended,
                     (long long)s.bytes_up, (long long)s.bytes_down,
                     s.close_reason[0] ? s.close_reason : "-");
    txt_put(&t, head, (size_t)n);
    if (db_events_list(app->db, args->id, add_event_txt, &t) < 0 || t.failed) {
      free(t.txt);
      goto internal;
    }
    if (!t.at_line_start) txt_put(&t, "\n", 1);
    resp->status = 200;
    resp->content_type = "text/plain; charset=utf-8";
    resp->body = t.txt;
    resp->body_len = t.txt_len;
    snprintf(resp->content_disposition, sizeof resp->content_disposition,
             "inline; filename=\"portlab-session-%lld.txt\"", (long long)s.id);
    return;
  }
  if (strcmp(format, "cast") == 0 || strcmp(format, "pcap") == 0) {
    int cast = format[0] == 'c';
    struct export *ex = export_new(cast ? EXPORT_CAST : EXPORT_PCAP, &s);
    if (!ex || db_events_list(app->db, args->id, add_event_export, ex) < 0) {
      export_free(ex);
      goto internal;
    }
    if (export_finish(ex, &resp->body, &resp->body_len)) { /* frees ex either way */
      api_error(resp, 500, "internal", "the export grew too large");
      return;
    }
    resp->status = 200;
    resp->content_type = cast ? "application/x-asciicast" : "application/vnd.tcpdump.pcap";
    snprintf(resp->content_disposition, sizeof resp->content_disposition,
             "attachment; filename=\"portlab-session-%lld.%s\"", (long long)s.id, format);
    return;
  }
  if (strcmp(format, "json") != 0) {
    api_error(resp, 400, "bad_request", "format must be json, txt, cast or pcap");
    return;
  }
  cJSON *root = cJSON_CreateObject();
  cJSON_AddItemToObject(root, "session", session_json(&s));
  t.events = cJSON_AddArrayToObject(root, "events");
  if (db_events_list(app->db, args->id, add_event_json, &t) < 0 || t.failed) {
    cJSON_Delete(root);
    goto internal;
  }
  api_respond_json(resp, 200, root);
  return;
internal:
  api_error(resp, 500, "internal", "the database failed; try again");
}

/* --- routing ------------------------------------------------------------ */

static const struct route routes[] = {
    {API_GET, "/api/health", 0, handle_health},
    {API_POST, "/api/join", 0, handle_join},
    {API_POST, "/api/teacher/login", 0, handle_teacher_login},
    {API_POST, "/api/logout", 0, handle_logout},
    {API_GET, "/api/me", 1, handle_me},
    {API_GET, "/api/targets", 1, handle_targets},
    {API_GET, "/api/sessions", 1, handle_sessions},
    {API_GET, "/api/sessions/*/transcript", 1, handle_transcript},
    {API_GET, "/api/lessons", 1, api_lessons_list},
    {API_GET, "/api/lessons/%", 1, api_lesson_get},
    {API_POST, "/api/lessons/%/tasks/%", 1, api_task_answer},
    {API_GET, "/api/progress", 1, api_progress},
    {API_POST, "/api/quiz/attempts", 1, api_quiz_start},
    {API_GET, "/api/quiz/attempts/*", 1, api_quiz_attempt},
    {API_POST, "/api/quiz/attempts/*/answers", 1, api_quiz_answer},
    {API_GET, "/api/quiz/history", 1, api_quiz_history},
    {API_GET, "/api/quiz/tests", 1, api_quiz_tests},
    {API_POST, "/api/quiz/tests", 1, api_quiz_test_create},
    {API_POST, "/api/quiz/tests/*", 1, api_quiz_test_update},
    {API_GET, "/api/quiz/tests/*/results", 1, api_quiz_results},
    {API_GET, "/api/quiz/tests/*/leaderboard", 1, api_quiz_leaderboard},
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
    struct db_user user;
    if (routes[i].needs_user && api_user_from_cookie(app, req->cookie, &user)) {
      api_error(resp, 401, "unauthorized", "join or log in first");
      return;
    }
    routes[i].handle(app, req, routes[i].needs_user ? &user : NULL, &args, resp);
    return;
  }
  if (path_known)
    api_error(resp, 405, "method_not_allowed", "this method is not allowed here");
  else
    api_error(resp, 404, "not_found", "no such API endpoint");
}
