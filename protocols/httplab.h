/* httplab.h -- the built-in lab web server (libmicrohttpd, its own thread). */
#ifndef PORTLAB_HTTPLAB_H
#define PORTLAB_HTTPLAB_H

#include <stddef.h>

struct http_lab;
struct lab_ctx;
struct lws_context;

struct http_lab_config {
  const char *db_path;   /* opened again on the server's own thread */
  const char *bind_addr; /* numeric */
  int port;
  const char *secret; /* for per-student flags */
  /* PEM text: serve HTTPS (TLS terminated by httpwire.c with tlsmem, in
   * a context of its own). NULL: plain HTTP. Read at start only. */
  const char *tls_cert, *tls_key;
  size_t form_bytes; /* longest POST /form body (--http-form-bytes) */
  /* Own-client recording: the loop's lab context (its database, recorder,
   * budgets; rec NULL records nothing) and the loop to wake. */
  struct lab_ctx *lab;
  struct lws_context *lws;
};

/* Starts the daemon with its limits set. NULL with a reason in err. */
struct http_lab *http_lab_start(const struct http_lab_config *cfg, char *err, size_t errlen);
/* Stops and joins the threads, records what they left, closes the
 * database. On the loop thread, before the lws context goes. NULL is a no-op. */
void http_lab_stop(struct http_lab *h);
/* On the loop thread (LWS_CALLBACK_EVENT_WAIT_CANCELLED): records what the
 * web server's connections sent and received since the last call. */
void http_lab_drain(struct http_lab *h);

#endif
