/* api.h -- the REST API of docs/api.md, independent of lws.
 *
 * The portal turns an HTTP request into a struct api_request (headers it
 * already read, the body it already collected) and writes out whatever
 * struct api_response says. Everything here runs on the loop thread.
 */
#ifndef PORTLAB_API_H
#define PORTLAB_API_H

#include <stddef.h>

#include "db.h"
#include "throttle.h"

struct app;
struct config;
struct export;

enum api_method { API_GET = 0, API_POST, API_PUT, API_OTHER };

struct api_request {
  enum api_method method;
  const char *path;         /* "/api/..." without the query */
  const char *arg_format;   /* ?format=, or NULL */
  const char *arg_user;     /* ?user=, or NULL */
  int arg_user_too_long;    /* ?user= was longer than any name */
  const char *arg_limit;    /* ?limit=, or NULL */
  const char *arg_before;   /* ?before=, or NULL */
  const char *cookie;       /* Cookie header or NULL */
  const char *content_type; /* Content-Type header or NULL */
  const char *body;         /* POST body (not NUL-terminated) */
  size_t body_len;
  int body_too_large;          /* the portal stopped collecting past LIM_JSON_BODY_BYTES */
  struct throttle_addr client; /* the peer, or X-Forwarded-For with --trust-proxy */
  int client_local;            /* client is in --local-net (this machine) */
  int secure;                  /* came through an https --public-origin: cookie gets Secure */
};

struct api_response {
  int status;
  const char *content_type;
  char *body; /* malloc'd; the caller frees */
  size_t body_len;
  /* Instead of body: an export to stream (length unknown in advance). The
   * caller reads it with export_read() and frees it with export_free(). */
  struct export *stream;
  char set_cookie[192];          /* "" = none */
  char content_disposition[128]; /* "" = none */
  int retry_after;               /* seconds for a Retry-After header; 0 = none */
};

void api_handle(struct app *app, const struct api_request *req, struct api_response *resp);

/* Looks up the login behind a Cookie header. 0 and fills user, or -1. */
int api_user_from_cookie(struct app *app, const char *cookie, struct db_user *user);
/* Writes resp as {"error":{"code","message"}}. */
void api_error(struct api_response *resp, int status, const char *code, const char *message);

/* The throttle table sized and tuned by cfg; NULL on out of memory. */
struct throttle *api_throttle_new(const struct config *cfg);

/* Start-up: makes the teacher account and its password hash. If no
 * password is configured and none is stored, generates one and writes it
 * to generated (else generated is ""). 0 or -1. */
int api_setup_teacher(struct app *app, char *generated, size_t genlen);
/* Start-up, after the policy is built: applies the class code and allow
 * rules the teacher stored at run time (a --class-code still wins). 0 or
 * -1 (database error). */
int api_class_load(struct app *app);

#endif
