/* main.c -- start-up, the service loop and an orderly stop.
 *
 * Start-up order: configuration, database (migrated), policy, teacher
 * account, lab secret and lab data, lws context and listeners, the lab
 * servers (raw vhosts on the same loop, then the HTTP lab server on its
 * own thread), resolver threads. Any failure here is
 * fatal with one line and a non-zero status (2 for a bad flag, 3 when a
 * listener's address and port are in use, so that a caller such as the
 * test harness can pick other ports and start again). A signal
 * (SIGTERM, SIGINT) sets a flag and wakes the loop; the loop then refuses
 * new work, ends every session with reason server_shutdown, lets the
 * sockets flush for up to two seconds, flushes the recorder and exits 0.
 * Two subcommands run instead of the server: `portlab backup FILE` copies
 * the database (live or not) and `portlab health` asks a running portal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "db.h"
#include "httplab.h"
#include "lab.h"
#include "labdata.h"
#include "labtls.h"
#include "lessons.h"
#include "log.h"
#include "lwsalloc.h"
#include "policy.h"
#include "portal.h"
#include "portlab_limits.h"
#include "quiz.h"
#include "recorder.h"
#include "relay.h"
#include "relay_tls.h"
#include "resolver.h"
#include "throttle.h"
#include "usage.h"
#include "watch.h"

#define DRAIN_US (2 * 1000000LL)
#define EXIT_ADDR_IN_USE 3
#define RESOLVER_THREADS 4
#define HEALTH_TIMEOUT_SECS 3 /* portlab health: connect, send and each read */

static volatile sig_atomic_t stop_requested;
static struct lws_context *signal_ctx;

static volatile sig_atomic_t reload_requested;

static void on_signal(int sig) {
  if (sig == SIGHUP)
    reload_requested = 1;
  else
    stop_requested = 1;
  if (signal_ctx) lws_cancel_service(signal_ctx);
}

/* The 100 ms heartbeat: recorder batches and relay timeouts. */
static lws_sorted_usec_list_t tick_sul;
static struct app *tick_app;

#define PURGE_EVERY_US (600 * 1000000LL) /* expired logins are deleted this often */

static void tick(lws_sorted_usec_list_t *sul) {
  static int64_t last_purge;
  struct app *app = tick_app;
  if (app->recorder) recorder_kick(app->recorder);
  relay_tick(app);
  if (app_mono_us() - last_purge >= PURGE_EVERY_US) {
    last_purge = app_mono_us();
    int n = db_login_purge(app->db, app_now_us() / 1000000);
    if (n > 0) log_info("deleted %d expired logins", n);
  }
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
  policy_set_local_source(app->policy, policy_system_local_addrs, NULL);
  return 0;
}

/* The lab secret: made once, kept in the database, so a student's flags
 * stay the same across restarts and differ between installations. */
static int load_lab_secret(struct app *app, char *err, size_t errlen) {
  unsigned char raw[32];
  int rc = db_setting_get(app->db, "lab_secret", app->lab_secret, sizeof app->lab_secret);

  if (rc == 0 && strlen(app->lab_secret) == 64) return 0;
  if (rc < 0) goto db_fail;
  if (crypto_random(raw, sizeof raw) != 0) {
    snprintf(err, errlen, "cannot make the lab secret: no randomness");
    return -1;
  }
  for (size_t i = 0; i < sizeof raw; i++) snprintf(app->lab_secret + 2 * i, 3, "%02x", raw[i]);
  if (db_setting_set(app->db, "lab_secret", app->lab_secret) != 0) goto db_fail;
  return 0;

db_fail:
  snprintf(err, errlen, "cannot read or store the lab secret: %s", db_errmsg(app->db));
  return -1;
}

/* Live as long as the servers that point at them. */
static struct lab_ctx lab_ctx;
static struct lab_budget lab_budget;

static int start_lab_servers(struct app *app, char *err, size_t errlen) {
  struct http_lab_config hc;
  const struct lab_service *http = lab_service_by_name("http");

  lab_ctx.db = app->db;
  snprintf(lab_ctx.secret, sizeof lab_ctx.secret, "%s", app->lab_secret);
  snprintf(lab_ctx.lab_addr, sizeof lab_ctx.lab_addr, "%s", app->cfg.lab_bind);
  snprintf(lab_ctx.public_addr, sizeof lab_ctx.public_addr, "%s", app->cfg.lab_public_host);
  lab_ctx.port_base = app->cfg.lab_port_base;
  lab_ctx.pasv_lo = app->cfg.pasv_lo;
  lab_ctx.pasv_hi = app->cfg.pasv_hi;
  lab_ctx.idle_secs = app->cfg.lab_idle_timeout;
  lab_ctx.data_secs = app->cfg.ftp_data_timeout;
  lab_ctx.pasv_per_student = app->cfg.ftp_pasv_per_student;
  lab_ctx.pasv_per_addr = app->cfg.ftp_pasv_per_addr;
  lab_ctx.rec = app->recorder; /* NULL with --no-record */
  usage_lab_budget(app->usage, &lab_budget);
  lab_ctx.budget = &lab_budget;
  app->lab_tls = lab_tls_load(app->db, app->cfg.lab_bind, app->cfg.lab_public_host, err, errlen);
  if (!app->lab_tls) return -1;
  lab_ctx.tls_ctx = app->lab_tls->ctx;
  lab_ctx.tls_ports = app->cfg.lab_tls_ports;
  app->lab_ca_pem = app->lab_tls->ca_cert;
  app->lab_servers =
      lab_servers_start(app->ctx, &lab_ctx, lab_services, lab_service_count, err, errlen);
  if (!app->lab_servers) return -1;
  if (!http) return 0; /* no HTTP row: no HTTP lab server */

  memset(&hc, 0, sizeof hc);
  hc.db_path = app->cfg.db_path;
  hc.bind_addr = app->cfg.lab_bind;
  hc.port = app->cfg.lab_port_base + http->port;
  hc.secret = app->lab_secret;
  hc.form_bytes = (size_t)app->cfg.http_form_bytes;
  hc.lab = &lab_ctx; /* own-client recording, on the loop thread */
  hc.lws = app->ctx;
  app->http_lab = http_lab_start(&hc, err, errlen);
  if (!app->http_lab) return -1;
  const struct lab_service *https = lab_service_by_name("https");
  if (!app->cfg.lab_tls_ports || !https) return 0;
  hc.port = app->cfg.lab_port_base + https->port;
  hc.tls_cert = app->lab_tls->cert;
  hc.tls_key = app->lab_tls->key;
  app->https_lab = http_lab_start(&hc, err, errlen);
  return app->https_lab ? 0 : -1;
}

/* 1 if a listener on addr:port fails with EADDRINUSE right now (probed
 * after our own listeners are closed, to tell "in use" from other errors). */
static int addr_in_use(const char *addr, int port) {
  struct addrinfo hints, *ai = NULL;
  char service[16];
  int in_use = 0, one = 1;

  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(service, sizeof service, "%d", port);
  if (port <= 0 || getaddrinfo(addr, service, &hints, &ai) != 0) return 0;
  int fd = socket(ai->ai_family, SOCK_STREAM, 0);
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    in_use = bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EADDRINUSE;
    close(fd);
  }
  freeaddrinfo(ai);
  return in_use;
}

static int listeners_in_use(const struct config *cfg) {
  if (addr_in_use(cfg->listen_addr, cfg->listen_port)) return 1;
  for (size_t i = 0; i < lab_service_count; i++)
    if (lab_service_on(&lab_services[i], cfg->lab_tls_ports) &&
        addr_in_use(cfg->lab_bind, cfg->lab_port_base + lab_services[i].port))
      return 1;
  return 0;
}

/* The URL and a generated password come last, so that after `make run`
 * or `docker logs` nobody has to scroll for them. */
static void print_banner(const struct app *app, const char *generated_password) {
  const char *host = app->cfg.listen_addr;
  int v6 = strchr(host, ':') != NULL;
  if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) host = "127.0.0.1", v6 = 0;
  printf("portlab %s\n", PORTLAB_VERSION);
  printf("  database:    %s\n", app->cfg.db_path);
  printf("  lab servers: %s", app->cfg.lab_bind);
  for (size_t i = 0; i < lab_service_count; i++)
    if (lab_service_on(&lab_services[i], app->cfg.lab_tls_ports))
      printf(", %s %d", lab_services[i].label, app->cfg.lab_port_base + lab_services[i].port);
  printf("\n");
  printf("  ftp passive: %d-%d%s%s\n", app->cfg.pasv_lo, app->cfg.pasv_hi,
         app->cfg.lab_public_host[0] ? ", named as " : "", app->cfg.lab_public_host);
  printf("  open:        %s://%s%s%s:%d/\n", app->cfg.tls_cert[0] ? "https" : "http", v6 ? "[" : "",
         host, v6 ? "]" : "", app->cfg.listen_port);
  if (generated_password[0])
    printf("  teacher password (generated, shown only this once): %s\n", generated_password);
  fflush(stdout);
}

/* portlab backup FILE [--db PATH]: a consistent copy of the (live) database. */
static int run_backup(const struct config *cfg, const char *file) {
  char err[512];
  if (db_backup_file(cfg->db_path, file, err, sizeof err)) {
    fprintf(stderr, "portlab backup: %s\n", err);
    return 1;
  }
  printf("portlab backup: %s copied to %s\n", cfg->db_path, file);
  return 0;
}

/* portlab health [--listen ADDR:PORT]: GET /api/health from the running
 * portal; 0 if it answers 200. For HEALTHCHECK in images that carry no
 * curl. A portal on every address (0.0.0.0, ::) is asked on loopback. */
static int run_health(const struct config *cfg) {
  char req[160], resp[64];
  const char *host = cfg->listen_addr;
  struct sockaddr_storage ss;
  socklen_t sl;
  int fd = -1, ok = 0;
  size_t got = 0;
  SSL_CTX *tls_ctx = NULL;
  SSL *tls = NULL;

  memset(&ss, 0, sizeof ss);
  if (strcmp(host, "0.0.0.0") == 0) host = "127.0.0.1";
  if (strcmp(host, "::") == 0) host = "::1";
  if (strchr(host, ':')) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)cfg->listen_port);
    inet_pton(AF_INET6, host, &a6->sin6_addr);
    sl = sizeof *a6;
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)cfg->listen_port);
    inet_pton(AF_INET, host, &a4->sin_addr);
    sl = sizeof *a4;
  }
  struct timeval tv = {HEALTH_TIMEOUT_SECS, 0};
  fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) goto out;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&ss, sl) != 0) goto out;
  int n = snprintf(
      req, sizeof req, "GET /api/health HTTP/1.1\r\nHost: %s%s%s:%d\r\nConnection: close\r\n\r\n",
      strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", cfg->listen_port);
  if (cfg->tls_cert[0]) {
    /* The portal speaks HTTPS: the certificate is ours, so only the
     * answer is checked, not who signed it. */
    if (!(tls_ctx = SSL_CTX_new(TLS_client_method())) || !(tls = SSL_new(tls_ctx)) ||
        SSL_set_fd(tls, fd) != 1 || SSL_connect(tls) != 1 || SSL_write(tls, req, n) != n)
      goto out;
  } else if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    goto out;
  }
  while (got < sizeof resp - 1) {
    ssize_t r = tls ? SSL_read(tls, resp + got, (int)(sizeof resp - 1 - got))
                    : recv(fd, resp + got, sizeof resp - 1 - got, 0);
    if (r <= 0) break;
    got += (size_t)r;
  }
  resp[got] = '\0';
  ok = strncmp(resp, "HTTP/1.1 200", 12) == 0 || strncmp(resp, "HTTP/1.0 200", 12) == 0;
out:
  SSL_free(tls);
  SSL_CTX_free(tls_ctx);
  if (fd >= 0) close(fd);
  if (!ok) fprintf(stderr, "portlab health: no 200 from %s port %d\n", host, cfg->listen_port);
  return ok ? 0 : 1;
}

/* Reads the flags and environment into cfg. -1 to go on; else the exit
 * status: 0 when a flag such as --help has answered, 2 (with the error
 * printed) when they are wrong. */
static int parse_flags(struct config *cfg, int argc, char **argv) {
  char err[512];
  switch (config_parse(cfg, argc, argv, err, sizeof err)) {
    case CONFIG_EXIT_OK:
      return 0;
    case CONFIG_ERROR:
      fprintf(stderr, "portlab: %s\n", err);
      return 2;
    case CONFIG_OK:
      break;
  }
  return -1;
}

/* A subcommand is the first argument: `backup FILE` or `health`; the flags
 * and environment that follow are read as for the server. */
static int run_subcommand(int argc, char **argv) {
  static struct config cfg;
  const char *file = NULL;
  int is_backup = strcmp(argv[1], "backup") == 0;
  int skip = 2, status;

  if (is_backup) {
    if (argc < 3 || strncmp(argv[2], "--", 2) == 0) {
      fprintf(stderr, "portlab backup: usage: portlab backup FILE [--db PATH]\n");
      return 2;
    }
    file = argv[2];
    skip = 3;
  }
  argv[skip - 1] = argv[0]; /* config_parse skips its argv[0] */
  status = parse_flags(&cfg, argc - skip + 1, argv + skip - 1);
  if (status >= 0) return status;
  status = is_backup ? run_backup(&cfg, file) : run_health(&cfg);
  config_free(&cfg);
  return status;
}

/* Raises the open-file limit to its hard limit (before libwebsockets sizes
 * its tables from it) and derives --max-sessions from it unless it was
 * given; a given value the limit cannot hold is kept, with a warning. */
static void set_session_cap(struct config *cfg) {
  struct rlimit rl;
  long long nofile = 1024;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    if (rl.rlim_cur < rl.rlim_max) {
      rlim_t was = rl.rlim_cur;
      rl.rlim_cur = rl.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) rl.rlim_cur = was;
    }
    nofile = rl.rlim_cur == RLIM_INFINITY ? 1LL << 40 : (long long)rl.rlim_cur;
  }
  if (!cfg->max_sessions) {
    cfg->max_sessions = config_max_sessions_for(nofile);
    log_info("at most %d sessions (--max-sessions, from the open-file limit %lld)",
             cfg->max_sessions, nofile);
  } else if (cfg->max_sessions > config_max_sessions_for(nofile)) {
    log_warn("--max-sessions %d may need more than the open-file limit %lld allows (%d)",
             cfg->max_sessions, nofile, config_max_sessions_for(nofile));
  }
}

int main(int argc, char **argv) {
  static struct app app;
  char err[512], generated[32];
  int status = 1, listen_failed = 0;

  lwsalloc_install();
  if (argc > 1 && (strcmp(argv[1], "backup") == 0 || strcmp(argv[1], "health") == 0))
    return run_subcommand(argc, argv);
  int rc = parse_flags(&app.cfg, argc, argv);
  if (rc >= 0) return rc;
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
  if (api_class_load(&app)) {
    fprintf(stderr, "portlab: cannot read the class settings: %s\n", db_errmsg(app.db));
    goto out;
  }
  if (api_setup_teacher(&app, generated, sizeof generated)) {
    fprintf(stderr, "portlab: cannot set up the teacher account: %s\n", db_errmsg(app.db));
    goto out;
  }
  if (load_lab_secret(&app, err, sizeof err)) {
    fprintf(stderr, "portlab: %s\n", err);
    goto out;
  }
  if (labdata_seed_common(app.db, app.lab_secret)) {
    fprintf(stderr, "portlab: cannot seed the lab data: %s\n", db_errmsg(app.db));
    goto out;
  }
  app.lessons = lessons_load(app.cfg.lessons_dir[0] ? app.cfg.lessons_dir : NULL, err, sizeof err);
  if (!app.lessons) {
    fprintf(stderr, "portlab: --lessons: %s\n", err);
    status = 2;
    goto out;
  }
  if (!(app.throttle = api_throttle_new(&app.cfg))) {
    fprintf(stderr, "portlab: out of memory\n");
    goto out;
  }
  app.quiz_bank = quiz_bank_load(app.cfg.quiz_bank[0] ? app.cfg.quiz_bank : NULL, err, sizeof err);
  if (!app.quiz_bank) {
    fprintf(stderr, "portlab: --quiz-bank: %s\n", err);
    status = 2;
    goto out;
  }
  if (!app.cfg.no_record && !(app.recorder = recorder_new(app.db))) goto out;
  /* The loop never waits for the disk; without the thread it still works. */
  if (app.recorder) recorder_start_writer(app.recorder, app.cfg.db_path);
  if (!(app.usage = usage_new(app.db, &app.cfg, app.cfg.db_path))) goto out;
  if (!(app.watch = relay_watch_new(&app))) goto out;
  set_session_cap(&app.cfg); /* before lws sizes its tables from the open-file limit */
  if (portal_start(&app, err, sizeof err)) {
    fprintf(stderr, "portlab: %s\n", err);
    listen_failed = 1;
    goto out;
  }
  if (start_lab_servers(&app, err, sizeof err)) {
    fprintf(stderr, "portlab: %s\n", err);
    listen_failed = 1;
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
  sigaction(SIGHUP, &sa, NULL); /* --tls-cert: read the certificate again */

  tick_app = &app;
  lws_sul_schedule(app.ctx, 0, &tick_sul, tick, LIM_RECORDER_FLUSH_MS * 1000);
  log_info("ready");
  print_banner(&app, generated);

  while (app.phase != APP_DONE) {
    lws_service(app.ctx, 0);
    if (reload_requested) {
      char why[256];
      reload_requested = 0;
      if (portal_reload_cert(&app, why, sizeof why))
        log_error("SIGHUP: certificate not reloaded: %s", why);
      else
        log_info("SIGHUP: certificate %s reloaded", app.cfg.tls_cert);
    }
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
  /* The web server's thread first (it has its own database connection),
   * then the loop's lab connections, while the lws context still exists. */
  http_lab_stop(app.http_lab);
  app.http_lab = NULL;
  http_lab_stop(app.https_lab);
  app.https_lab = NULL;
  lab_servers_stop(app.lab_servers);
  app.lab_servers = NULL;
  app.lab_ca_pem = NULL;
  lab_tls_free(app.lab_tls); /* after both: the servers use its context and PEM text */
  app.lab_tls = NULL;
  portal_stop(&app); /* closes what is left; relay callbacks may still record */
  /* Every listener of ours is closed now: was it someone else's port? */
  if (listen_failed && listeners_in_use(&app.cfg)) status = EXIT_ADDR_IN_USE;
  relay_tls_cleanup(&app);
  recorder_free(app.recorder);
  watch_free(app.watch);
  usage_free(app.usage);
  db_close(app.db);
  policy_free(app.policy);
  lessons_free(app.lessons);
  throttle_free(app.throttle);
  quiz_bank_free(app.quiz_bank);
  config_free(&app.cfg);
  if (status == 0) log_info("stopped");
  return status;
}
