/* app.h -- the state of one running portlab, shared by the loop-thread modules.
 *
 * Everything here is touched only from the lws service thread, except where
 * a field says otherwise. There is exactly one struct app per process.
 */
#ifndef PORTLAB_APP_H
#define PORTLAB_APP_H

#include <stdint.h>

#include "config.h"

struct db;
struct policy;
struct recorder;
struct usage;
struct resolver;
struct relay;
struct lws_context;
struct lws_vhost;
struct lab_servers;
struct lessons;
struct http_lab;
struct lab_tls;
struct throttle;
struct quiz_bank;
struct watch;
struct relay_tls_ctx;

enum app_phase { APP_RUNNING = 0, APP_DRAINING, APP_DONE };

struct app {
  struct config cfg;
  struct db *db;
  struct policy *policy;
  struct recorder *recorder; /* NULL with --no-record */
  struct usage *usage;       /* budgets, open rates, refused opens (usage.c) */
  struct resolver *resolver;
  struct lws_context *ctx;
  struct lws_vhost *portal_vhost;
  struct lws_vhost *client_vhost; /* outbound relay sockets; does not listen */
  struct relay *relays;           /* every live relay session */
  unsigned relay_count;
  uint64_t next_relay_key;
  enum app_phase phase;
  int64_t drain_deadline_us;
  struct lab_servers *lab_servers; /* FTP, Telnet, SMTP, POP3, IMAP on the loop */
  struct http_lab *http_lab;       /* the lab web server, on its own thread */
  struct http_lab *https_lab;      /* the same over TLS (LAB_HTTPS), its own thread too */
  struct lab_tls *lab_tls;         /* the lab CA and server certificate (labtls.c) */
  const char *lab_ca_pem;          /* its CA certificate, PEM (GET /api/lab/ca.pem); or NULL */
  struct lessons *lessons;         /* loaded at start: embedded or --lessons DIR */
  struct quiz_bank *quiz_bank;     /* loaded at start: embedded or --quiz-bank FILE */
  char lab_secret[65];             /* hex; per-student flags are derived from it */
  struct throttle *throttle;       /* logins and joins per source address */
  struct watch *watch;             /* the teacher's live view (watch.c) */
  struct relay_tls_ctx *relay_tls; /* the relay's TLS client contexts, made on first use */
  void *portal_ssl_ctx;            /* the portal vhost's SSL_CTX with --tls-cert (lws owns it) */
};

/* Microseconds: wall clock for stored times, monotonic for intervals. */
int64_t app_now_us(void);
int64_t app_mono_us(void);

#endif
