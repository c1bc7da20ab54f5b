/* main.c -- start-up, the service loop and an orderly stop.
 *
 * Start-up order: configuration, database (migrated), policy, teacher
 * account, lws context and listeners, resolver threads. Any failure here is
 * fatal with one line and a non-zero status (2 for a bad flag). A signal
 * (SIGTERM, SIGINT) sets a flag and wakes the loop; the loop then refuses
 * new work, ends every session with reason server_shutdown, lets the
 * sockets flush for up to two seconds, flushes the recorder and exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "api.h"
#include "app.h"
#include "db.h"
#include "log.h"
#include "policy.h"
#include "portal.h"
#include "portlab_limits.h"
#include "recorder.h"
#include "relay.h"
#include "resolver.h"

#define DRAIN_US (2 * 1000000LL)
#define RESOLVER_THREADS 4

static volatile sig_atomic_t stop_requested;
static struct lws_context *signal_ctx;

static void on_signal(int sig) {
  stop_requested = 1;
  if (signal_ctx) lws_cancel_service(signal_ctx);
}

/* The 100 ms heartbeat: recorder batches and relay timeouts. */
static lws_sorted_usec_list_t tick_sul;
static struct app *tick_app;

static void tick(lws_sorted_usec_list_t *sul) {
  struct app *app = tick_app;
  if (app->recorder) recorder_flush(app->recorder);
  relay_tick(app);
  lws_sul_schedule(app->ctx, 0, &tick_sul, tick, LIM_RECORDER_FLUSH_MS * 1000);
}

static int build_policy(struct app *app, char *err, size_t errlen) {
  char why[256];
  app->policy = policy_new();
  if (!app->policy) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (size_t i = 0; i < app->cfg.n_allow; i++) {
    if (policy_add_rule(app->policy, app->cfg.allow[i], why, sizeof why)) {
      snprintf(err, errlen, "--allow: %s", why);
      return -1;
    }
  }
  if (policy_set_lab(app->policy, app->cfg.lab_bind, app->cfg.lab_port_base, app->cfg.pasv_lo,
                     app->cfg.pasv_hi)) {
    snprintf(err, errlen, "--lab-bind: cannot use %s", app->cfg.lab_bind);
    return -1;
  }
  policy_set_portal_port(app->policy, app->cfg.listen_port);
  policy_add_system_local_addrs(app->policy);
  return 0;
}

static void print_banner(const struct app *app, const char *generated_password) {
  const char *host = app->cfg.listen_addr;
  int v6 = strchr(host, ':') != NULL;
  if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) host = "127.0.0.1", v6 = 0;
  printf("portlab %s\n", PORTLAB_VERSION);
  printf("  open:        http://%s%s%s:%d/\n", v6 ? "[" : "", host, v6 ? "]" : "",
         app->cfg.listen_port);
  printf("  database:    %s\n", app->cfg.db_path);
  printf("  lab servers: %s, FTP %d, Telnet %d, SMTP %d, HTTP %d, POP3 %d, IMAP %d\n",
         app->cfg.lab_bind, app->cfg.lab_port_base + LAB_FTP, app->cfg.lab_port_base + LAB_TELNET,
         app->cfg.lab_port_base + LAB_SMTP, app->cfg.lab_port_base + LAB_HTTP,
         app->cfg.lab_port_base + LAB_POP3, app->cfg.lab_port_base + LAB_IMAP);
  printf("  ftp passive: %d-%d\n", app->cfg.pasv_lo, app->cfg.pasv_hi);
  if (generated_password[0])
    printf("  teacher password (generated, shown only this once): %s\n", generated_password);
  fflush(stdout);
}

int main(int argc, char **argv) {
  static struct app app;
  char err[512], generated[32];
  int status = 1;

  switch (config_parse(&app.cfg, argc, argv, err, sizeof err)) {
    case CONFIG_EXIT_OK:
      return 0;
    case CONFIG_ERROR:
      fprintf(stderr, "portlab: %s\n", err);
      return 2;
    case CONFIG_OK:
      break;
  }
  log_set_level(app.cfg.log_level);
  signal(SIGPIPE, SIG_IGN);
  if (build_policy(&app, err, sizeof err)) {
    fprintf(stderr, "portlab: %s\n", err);
    status = 2;
    goto out;
  }
  app.db = db_open(app.cfg.db_path, err, sizeof err);
  if (!app.db) {
    fprintf(stderr, "portlab: --db: %s\n", err);
    goto out;
  }
  int orphans = db_session_close_orphans(app.db, "server_restart");
  if (orphans > 0) log_warn("closed %d sessions left open by an earlier crash", orphans);
  if (api_setup_teacher(&app, generated, sizeof generated)) {
    fprintf(stderr, "portlab: cannot set up the teacher account: %s\n", db_errmsg(app.db));
    goto out;
  }
  if (!app.cfg.no_record && !(app.recorder = recorder_new(app.db))) goto out;
  if (portal_start(&app, err, sizeof err)) {
    fprintf(stderr, "portlab: %s\n", err);
    goto out;
  }
  app.resolver = resolver_new(app.ctx, RESOLVER_THREADS);
  if (!app.resolver) {
    fprintf(stderr, "portlab: cannot start resolver threads\n");
    goto out;
  }

  signal_ctx = app.ctx;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  tick_app = &app;
  lws_sul_schedule(app.ctx, 0, &tick_sul, tick, LIM_RECORDER_FLUSH_MS * 1000);
  print_banner(&app, generated);
  log_info("ready");

  while (app.phase != APP_DONE) {
    lws_service(app.ctx, 0);
    if (stop_requested && app.phase == APP_RUNNING) {
      log_info("stopping: closing %u sessions", app.relay_count);
      app.phase = APP_DRAINING;
      app.drain_deadline_us = app_mono_us() + DRAIN_US;
      relay_shutdown_all(&app);
    }
    if (app.phase == APP_DRAINING &&
        (app.relay_count == 0 || app_mono_us() >= app.drain_deadline_us))
      app.phase = APP_DONE;
  }
  status = 0;

out:
  if (app.ctx) lws_sul_cancel(&tick_sul);
  signal_ctx = NULL;
  resolver_free(app.resolver);
  app.resolver = NULL;
  portal_stop(&app); /* closes what is left; relay callbacks may still record */
  recorder_free(app.recorder);
  db_close(app.db);
  policy_free(app.policy);
  config_free(&app.cfg);
  if (status == 0) log_info("stopped");
  return status;
}
