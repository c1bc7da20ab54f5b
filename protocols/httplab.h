/* httplab.h -- the built-in lab web server (libmicrohttpd, its own thread). */
#ifndef PORTLAB_HTTPLAB_H
#define PORTLAB_HTTPLAB_H

#include <stddef.h>

struct http_lab;

struct http_lab_config {
  const char *db_path;   /* opened again on the server's own thread */
  const char *bind_addr; /* numeric */
  int port;
  const char *secret; /* for per-student flags */
  /* PEM text: serve HTTPS (GnuTLS through MHD_USE_TLS). NULL: plain HTTP.
   * Must stay valid until http_lab_stop(). */
  const char *tls_cert, *tls_key;
};

/* Starts the daemon with its limits set. NULL with a reason in err. */
struct http_lab *http_lab_start(const struct http_lab_config *cfg, char *err, size_t errlen);
/* Stops and joins the thread, closes its database. NULL is a no-op. */
void http_lab_stop(struct http_lab *h);

#endif
