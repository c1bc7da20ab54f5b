/* test_config.c -- flags, environment twins, and one-line errors naming the flag. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "log.h"

static enum config_result parse(struct config *cfg, char *err, size_t errlen, int argc,
                                const char **argv) {
  return config_parse(cfg, argc, (char **)argv, err, errlen);
}

static void test_defaults(void) {
  struct config cfg;
  char err[256] = "";
  const char *argv[] = {"portlab"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, argv), CONFIG_OK);
  CHECK_EQ_STR(cfg.listen_addr, "127.0.0.1");
  CHECK_EQ_INT(cfg.listen_port, 8080);
  CHECK_EQ_STR(cfg.db_path, "./portlab.db");
  CHECK_EQ_STR(cfg.lab_bind, "127.0.0.1");
  CHECK_EQ_INT(cfg.lab_port_base, 10000);
  CHECK_EQ_INT(cfg.pasv_lo, 30000);
  CHECK_EQ_INT(cfg.pasv_hi, 30099);
  CHECK_EQ_INT(cfg.n_allow, 0);
  CHECK_EQ_INT(cfg.log_level, LOG_INFO);
  CHECK_EQ_INT(cfg.user_sessions, 4);
  CHECK_EQ_INT(cfg.no_record, 0);
  config_free(&cfg);
}

static void test_flags(void) {
  struct config cfg;
  char err[256] = "";
  const char *argv[] = {"portlab",
                        "--listen",
                        "[::1]:9000",
                        "--db=/tmp/x.db",
                        "--allow",
                        "192.0.2.0/24:25",
                        "--allow",
                        "mail.example:110",
                        "--lab-port-base",
                        "0",
                        "--ftp-pasv-ports",
                        "40000-40009",
                        "--log-level",
                        "debug",
                        "--idle-timeout",
                        "5",
                        "--no-record",
                        "--public-origin",
                        "https://lab.example.org"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 19, argv), CONFIG_OK);
  CHECK_EQ_STR(cfg.listen_addr, "::1");
  CHECK_EQ_INT(cfg.listen_port, 9000);
  CHECK_EQ_STR(cfg.db_path, "/tmp/x.db");
  CHECK_EQ_INT(cfg.n_allow, 2);
  CHECK_EQ_STR(cfg.allow[1], "mail.example:110");
  CHECK_EQ_INT(cfg.lab_port_base, 0);
  CHECK_EQ_INT(cfg.pasv_hi, 40009);
  CHECK_EQ_INT(cfg.log_level, LOG_DEBUG);
  CHECK_EQ_INT(cfg.idle_timeout, 5);
  CHECK_EQ_INT(cfg.no_record, 1);
  CHECK_EQ_INT(cfg.n_public_origin, 1);
  config_free(&cfg);
}

static void test_environment(void) {
  struct config cfg;
  char err[256] = "";
  setenv("PORTLAB_LAB_PORT_BASE", "20000", 1);
  setenv("PORTLAB_ALLOW", "192.0.2.1:25  198.51.100.0/24", 1);
  setenv("PORTLAB_CLASS_CODE", "netlab", 1);
  setenv("PORTLAB_TEACHER_PASSWORD", "s3cret", 1);
  const char *argv[] = {"portlab"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, argv), CONFIG_OK);
  CHECK_EQ_INT(cfg.lab_port_base, 20000);
  CHECK_EQ_INT(cfg.n_allow, 2);
  CHECK_EQ_STR(cfg.allow[1], "198.51.100.0/24");
  CHECK_EQ_STR(cfg.class_code, "netlab");
  CHECK_EQ_STR(cfg.teacher_password, "s3cret");
  config_free(&cfg);

  /* Flags win; a repeated flag replaces the environment's list. */
  const char *argv2[] = {"portlab", "--lab-port-base", "30", "--allow", "203.0.113.9"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 5, argv2), CONFIG_OK);
  CHECK_EQ_INT(cfg.lab_port_base, 30);
  CHECK_EQ_INT(cfg.n_allow, 1);
  CHECK_EQ_STR(cfg.allow[0], "203.0.113.9");
  config_free(&cfg);

  setenv("PORTLAB_LAB_PORT_BASE", "lots", 1);
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, argv), CONFIG_ERROR);
  CHECK(strstr(err, "PORTLAB_LAB_PORT_BASE") != NULL);
  config_free(&cfg);
  unsetenv("PORTLAB_LAB_PORT_BASE");
  unsetenv("PORTLAB_ALLOW");
  unsetenv("PORTLAB_CLASS_CODE");
  unsetenv("PORTLAB_TEACHER_PASSWORD");
}

/* Each bad value is refused with a message that starts with its flag. */
static void expect_error(const char *flag, const char *value, const char *expect_prefix) {
  struct config cfg;
  char err[256] = "";
  const char *argv[] = {"portlab", flag, value};
  int argc = value ? 3 : 2;
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, argc, argv), CONFIG_ERROR);
  if (strncmp(err, expect_prefix, strlen(expect_prefix)) != 0) {
    fprintf(stderr, "error for %s %s was: %s\n", flag, value ? value : "", err);
    CHECK(0);
  }
  CHECK(strchr(err, '\n') == NULL);
  config_free(&cfg);
}

static void test_errors(void) {
  expect_error("--listen", "nonsense", "--listen:");
  expect_error("--listen", "127.0.0.1:0", "--listen:");
  expect_error("--listen", "127.0.0.1:65536", "--listen:");
  expect_error("--listen", "::1:80", "--listen:"); /* IPv6 needs brackets */
  expect_error("--listen", "localhost:80", "--listen:");
  expect_error("--lab-port-base", "-1", "--lab-port-base:");
  expect_error("--lab-port-base", "65393",
               "--lab-port-base:"); /* 65392 + 143 = 65535 is the edge */
  expect_error("--ftp-pasv-ports", "30100-30000", "--ftp-pasv-ports:");
  expect_error("--ftp-pasv-ports", "1000-1010", "--ftp-pasv-ports:");
  expect_error("--ftp-pasv-ports", "30000-31000", "--ftp-pasv-ports:"); /* 1001 ports */
  expect_error("--log-level", "loud", "--log-level:");
  expect_error("--idle-timeout", "0", "--idle-timeout:");
  expect_error("--user-sessions", "65", "--user-sessions:");
  expect_error("--public-origin", "lab.example.org", "--public-origin:");
  expect_error("--public-origin", "https://lab.example.org/path", "--public-origin:");
  expect_error("--teacher-password-file", "/nonexistent/pw", "--teacher-password-file:");
  expect_error("--lab-bind", "eth0", "--lab-bind:");
  expect_error("--bogus", "1", "--bogus:");
  expect_error("--db", NULL, "--db:");
  expect_error("--no-record=1", NULL, "--no-record:");
  /* Ports that collide. */
  expect_error("--listen", "127.0.0.1:10025", "--listen:");
  expect_error("--listen", "127.0.0.1:30050", "--listen:");
  /* The stub servers' ports collide too (SSH, WHOIS, DNS, finger). */
  expect_error("--listen", "127.0.0.1:10022", "--listen:");
  expect_error("--listen", "127.0.0.1:10043", "--listen:");
  expect_error("--listen", "127.0.0.1:10053", "--listen:");
  expect_error("--listen", "127.0.0.1:10079", "--listen:");

  struct config cfg;
  char err[256];
  const char *edge[] = {"portlab",     "--lab-port-base", "65392", "--ftp-pasv-ports",
                        "30000-30999", "--lab-tls-ports", "off"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 7, edge), CONFIG_OK);
  CHECK_EQ_INT(cfg.lab_tls_ports, 0);
  config_free(&cfg);
  /* With the TLS ports (the default) POP3S 995 is the highest: base + 995
   * may be 65535, not one more. */
  const char *tls_edge[] = {"portlab", "--lab-port-base", "64540"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 3, tls_edge), CONFIG_OK);
  CHECK_EQ_INT(cfg.lab_tls_ports, 1);
  config_free(&cfg);
  const char *tls_over[] = {"portlab", "--lab-port-base", "64541"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 3, tls_over), CONFIG_ERROR);
  CHECK(strncmp(err, "--lab-port-base:", 16) == 0);
  config_free(&cfg);
  expect_error("--lab-tls-ports", "yes", "--lab-tls-ports:");
  /* A TLS port that is the portal's. */
  expect_error("--listen", "127.0.0.1:10993", "--listen:");
  setenv("PORTLAB_LAB_TLS_PORTS", "off", 1);
  const char *none[] = {"portlab"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, none), CONFIG_OK);
  CHECK_EQ_INT(cfg.lab_tls_ports, 0);
  config_free(&cfg);
  unsetenv("PORTLAB_LAB_TLS_PORTS");
  const char *clash[] = {"portlab", "--ftp-pasv-ports", "10020-10030"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 3, clash), CONFIG_ERROR);
  CHECK(strncmp(err, "--ftp-pasv-ports:", 17) == 0);
  config_free(&cfg);
  const char *clash_dns[] = {"portlab", "--ftp-pasv-ports", "10050-10060"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 3, clash_dns), CONFIG_ERROR);
  CHECK(strstr(err, "lab port 10053") != NULL);
  config_free(&cfg);
  const char *between[] = {"portlab", "--ftp-pasv-ports", "10054-10078", "--listen",
                           "127.0.0.1:10044"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 5, between), CONFIG_OK);
  config_free(&cfg);
}

/* The throttling flags: defaults, each range at its edge, env twins. */
static void test_throttle_flags(void) {
  struct config cfg;
  char err[256] = "";
  const char *none[] = {"portlab"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, none), CONFIG_OK);
  CHECK_EQ_INT(cfg.login_failures, 10);
  CHECK_EQ_INT(cfg.login_backoff, 30);
  CHECK_EQ_INT(cfg.login_backoff_max, 900);
  CHECK_EQ_INT(cfg.throttle_addrs, 4096);
  CHECK_EQ_INT(cfg.joins_per_minute, 60);
  CHECK_EQ_INT(cfg.max_students, 500);
  CHECK_EQ_INT(cfg.trust_proxy, 0);
  CHECK_EQ_INT(cfg.n_local_net, 0);
  config_free(&cfg);

  static const struct {
    const char *flag, *ok, *bad;
  } edges[] = {{"--login-failures", "1000", "1001"}, {"--login-failures", "1", "0"},
               {"--joins-per-minute", "1", "0"},     {"--max-students", "1000000", "1000001"},
               {"--throttle-addrs", "16", "15"},     {"--login-backoff-max", "604800", "604801"}};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    const char *ok[] = {"portlab", edges[i].flag, edges[i].ok};
    const char *bad[] = {"portlab", edges[i].flag, edges[i].bad};
    CHECK_EQ_INT(parse(&cfg, err, sizeof err, 3, ok), CONFIG_OK);
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, err, sizeof err, 3, bad), CONFIG_ERROR);
    CHECK(strstr(err, edges[i].flag) != NULL);
    config_free(&cfg);
  }
  const char *shorter[] = {"portlab", "--login-backoff", "60", "--login-backoff-max", "59"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 5, shorter), CONFIG_ERROR);
  CHECK(strstr(err, "--login-backoff-max") != NULL);
  config_free(&cfg);

  /* --local-net: up to LIM_LOCAL_NETS, the command line replaces the environment's. */
  setenv("PORTLAB_LOCAL_NET", "10.0.0.0/8 ::1", 1);
  setenv("PORTLAB_TRUST_PROXY", "1", 1);
  setenv("PORTLAB_MAX_STUDENTS", "40", 1);
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, none), CONFIG_OK);
  CHECK_EQ_INT(cfg.n_local_net, 2);
  CHECK_EQ_INT(cfg.trust_proxy, 1);
  CHECK_EQ_INT(cfg.max_students, 40);
  config_free(&cfg);
  const char *one[] = {"portlab", "--local-net", "127.0.0.1"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 3, one), CONFIG_OK);
  CHECK_EQ_INT(cfg.n_local_net, 1);
  config_free(&cfg);
  unsetenv("PORTLAB_LOCAL_NET");
  unsetenv("PORTLAB_TRUST_PROXY");
  unsetenv("PORTLAB_MAX_STUDENTS");
  const char *eight[] = {"portlab",     "--local-net", "10.0.0.1",    "--local-net", "10.0.0.2",
                         "--local-net", "10.0.0.3",    "--local-net", "10.0.0.4",    "--local-net",
                         "10.0.0.5",    "--local-net", "10.0.0.6",    "--local-net", "10.0.0.7",
                         "--local-net", "10.0.0.8",    "--local-net", "10.0.0.9"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 17, eight), CONFIG_OK); /* 8 */
  CHECK_EQ_INT(cfg.n_local_net, 8);
  config_free(&cfg);
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 19, eight), CONFIG_ERROR); /* 9 */
  config_free(&cfg);
  const char *badnet[] = {"portlab", "--local-net", "127.0.0.0/33"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 3, badnet), CONFIG_ERROR);
  CHECK(strstr(err, "--local-net") != NULL);
  config_free(&cfg);
}

static void test_hostport(void) {
  char addr[64];
  int port = 0;
  CHECK_EQ_INT(config_parse_hostport("0.0.0.0:8080", addr, sizeof addr, &port), 0);
  CHECK_EQ_STR(addr, "0.0.0.0");
  CHECK_EQ_INT(port, 8080);
  CHECK_EQ_INT(config_parse_hostport("[::]:1", addr, sizeof addr, &port), 0);
  CHECK_EQ_STR(addr, "::");
  CHECK_EQ_INT(config_parse_hostport("[::1]", addr, sizeof addr, &port), -1);
  CHECK_EQ_INT(config_parse_hostport(":80", addr, sizeof addr, &port), -1);
  CHECK_EQ_INT(config_parse_hostport("1.2.3.4:", addr, sizeof addr, &port), -1);
  CHECK_EQ_INT(config_parse_hostport("1.2.3.4:80x", addr, sizeof addr, &port), -1);
}

/* Budgets and fair shares: defaults, suffixes, the environment twin, and
 * the edges of each range. */
static void test_budget_flags(void) {
  struct config cfg;
  char err[256] = "";
  const char *none[] = {"portlab"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, none), CONFIG_OK);
  CHECK_EQ_INT(cfg.max_sessions, 0); /* derived at start from the open-file limit */
  /* The derivation at its edges: n sessions need exactly reserve + 3n files. */
  CHECK_EQ_INT(config_max_sessions_for(LIM_FDS_RESERVED + 3 * 100), 100);
  CHECK_EQ_INT(config_max_sessions_for(LIM_FDS_RESERVED + 3 * 101 - 1), 100);
  CHECK_EQ_INT(config_max_sessions_for(LIM_FDS_RESERVED + 3 * 101), 101);
  CHECK_EQ_INT(config_max_sessions_for(20000), 6581);
  CHECK_EQ_INT(config_max_sessions_for(1024), 256);
  CHECK_EQ_INT(config_max_sessions_for(0), LIM_RELAY_SESSIONS_MIN);
  CHECK_EQ_INT(config_max_sessions_for(1LL << 40), LIM_RELAY_SESSIONS_MAX);
  CHECK_EQ_INT(cfg.ws_per_addr, 128);
  CHECK_EQ_INT(cfg.opens_per_minute, 30);
  CHECK_EQ_INT(cfg.record_bytes_per_student, 32LL << 20);
  CHECK_EQ_INT(cfg.record_bytes_total, 4LL << 30);
  CHECK_EQ_INT(cfg.disk_floor, 256LL << 20);
  config_free(&cfg);

  const char *argv[] = {"portlab", "--record-bytes-per-student",
                        "4096",    "--record-bytes-total",
                        "2K",      "--disk-floor",
                        "1T",      "--opens-per-minute",
                        "10000",   "--ws-per-addr",
                        "1",       "--max-sessions",
                        "65536"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 13, argv), CONFIG_OK);
  CHECK_EQ_INT(cfg.record_bytes_per_student, 4096);
  CHECK_EQ_INT(cfg.record_bytes_total, 2048);
  CHECK_EQ_INT(cfg.disk_floor, 1LL << 40);
  CHECK_EQ_INT(cfg.opens_per_minute, 10000);
  CHECK_EQ_INT(cfg.ws_per_addr, 1);
  CHECK_EQ_INT(cfg.max_sessions, 65536);
  config_free(&cfg);

  setenv("PORTLAB_RECORD_BYTES_TOTAL", "3G", 1);
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, none), CONFIG_OK);
  CHECK_EQ_INT(cfg.record_bytes_total, 3LL << 30);
  config_free(&cfg);
  unsetenv("PORTLAB_RECORD_BYTES_TOTAL");

  const char *most[] = {"portlab", "--disk-floor", "1024T", "--record-bytes-total", "0"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 5, most), CONFIG_OK);
  CHECK_EQ_INT(cfg.disk_floor, 1LL << 50);
  CHECK_EQ_INT(cfg.record_bytes_total, 0);
  config_free(&cfg);

  expect_error("--disk-floor", "1025T", "--disk-floor:");
  expect_error("--disk-floor", "1125899906842625", "--disk-floor:");
  expect_error("--record-bytes-per-student", "-1", "--record-bytes-per-student:");
  expect_error("--record-bytes-per-student", "32MB", "--record-bytes-per-student:");
  expect_error("--record-bytes-total", "M", "--record-bytes-total:");
  expect_error("--opens-per-minute", "0", "--opens-per-minute:");
  expect_error("--opens-per-minute", "10001", "--opens-per-minute:");
  expect_error("--ws-per-addr", "0", "--ws-per-addr:");
  expect_error("--max-sessions", "0", "--max-sessions:");
  expect_error("--max-sessions", "65537", "--max-sessions:");
}

/* The teacher's class: --refusal-log at its edges and its twin; a
 * --class-code is fixed for the run, a missing one is not. */
static void test_class_flags(void) {
  struct config cfg;
  char err[256] = "";
  const char *none[] = {"portlab"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, none), CONFIG_OK);
  CHECK_EQ_INT(cfg.refusal_log, 20);
  CHECK_EQ_INT(cfg.class_code_fixed, 0);
  config_free(&cfg);
  const char *argv[] = {"portlab", "--refusal-log", "1000", "--class-code", "abc"};
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 5, argv), CONFIG_OK);
  CHECK_EQ_INT(cfg.refusal_log, 1000);
  CHECK_EQ_INT(cfg.class_code_fixed, 1);
  config_free(&cfg);
  setenv("PORTLAB_REFUSAL_LOG", "1", 1);
  setenv("PORTLAB_CLASS_CODE", "fromenv", 1);
  CHECK_EQ_INT(parse(&cfg, err, sizeof err, 1, none), CONFIG_OK);
  CHECK_EQ_INT(cfg.refusal_log, 1);
  CHECK_EQ_INT(cfg.class_code_fixed, 1);
  config_free(&cfg);
  unsetenv("PORTLAB_REFUSAL_LOG");
  unsetenv("PORTLAB_CLASS_CODE");
  expect_error("--refusal-log", "0", "--refusal-log:");
  expect_error("--refusal-log", "1001", "--refusal-log:");
}

int main(void) {
  unsetenv("PORTLAB_LISTEN");
  test_class_flags();
  test_budget_flags();
  test_defaults();
  test_flags();
  test_environment();
  test_errors();
  test_throttle_flags();
  test_hostport();
  return check_done();
}
