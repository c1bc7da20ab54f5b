/* config.c -- the command line and its PORTLAB_* environment twins.
 *
 * Every flag is one row of a table: its name, whether it repeats, and a
 * setter that validates the text and stores it. The environment is read
 * first and the command line second, so flags win. A repeatable flag given
 * on the command line replaces the environment's list instead of adding
 * to it; in the environment its values are separated by white space.
 * Validation here is syntactic and about ranges; policy rules are checked
 * by the policy module when main builds it, with the same exit status.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab.h"
#include "log.h"
#include "portlab_limits.h"

typedef int (*config_setter)(struct config *cfg, const char *value, char *why, size_t whylen);

/* What a flag's value is. Most flags are a field of struct config with a
 * range, stored by flag_set; the rest have their own setter. */
enum flag_kind {
  FLAG_CUSTOM,  /* set() validates and stores */
  FLAG_SWITCH,  /* no value: the int field becomes 1 */
  FLAG_ON_OFF,  /* "on" or "off" into an int */
  FLAG_PATH,    /* a non-empty path that fits the char[] field */
  FLAG_TEXT,    /* 1 to size-1 characters into the char[] field */
  FLAG_COUNT,   /* an int from lo to hi */
  FLAG_SECONDS, /* an int from 1 to hi, said as seconds */
  FLAG_BYTES,   /* a long long byte count, with K/M/G/T */
};

struct config_flag {
  const char *name; /* without the leading dashes */
  enum flag_kind kind;
  int repeats;
  size_t off, size; /* the field in struct config */
  long lo, hi;      /* FLAG_COUNT, FLAG_SECONDS */
  config_setter set;
  const char *help_arg;
  const char *help;
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define F_CUSTOM(name, repeats, fn, arg, help) \
  { name, FLAG_CUSTOM, repeats, 0, 0, 0, 0, fn, arg, help }
#define F_SWITCH(name, f, help) \
  { name, FLAG_SWITCH, 0, FIELD(f), 0, 0, NULL, NULL, help }
#define F_ON_OFF(name, f, help) \
  { name, FLAG_ON_OFF, 0, FIELD(f), 0, 0, NULL, "on|off", help }
#define F_PATH(name, f, arg, help) \
  { name, FLAG_PATH, 0, FIELD(f), 0, 0, NULL, arg, help }
#define F_TEXT(name, f, arg, help) \
  { name, FLAG_TEXT, 0, FIELD(f), 0, 0, NULL, arg, help }
#define F_COUNT(name, f, lo, hi, arg, help) \
  { name, FLAG_COUNT, 0, FIELD(f), lo, hi, NULL, arg, help }
#define F_SECONDS(name, f, hi, help) \
  { name, FLAG_SECONDS, 0, FIELD(f), 1, hi, NULL, "SECS", help }
#define F_BYTES(name, f, help) \
  { name, FLAG_BYTES, 0, FIELD(f), 0, 0, NULL, "BYTES", help }

static int parse_int(const char *s, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

static int is_numeric_addr(const char *s) {
  unsigned char tmp[16];
  return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

int config_parse_hostport(const char *s, char *addr, size_t addrlen, int *port) {
  const char *colon;
  size_t alen;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') return -1;
    alen = (size_t)(close - s - 1);
    s++;
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon || memchr(s, ':', (size_t)(colon - s))) return -1; /* v6 needs brackets */
    alen = (size_t)(colon - s);
  }
  if (alen == 0 || alen >= addrlen) return -1;
  memcpy(addr, s, alen);
  addr[alen] = '\0';
  if (!is_numeric_addr(addr)) return -1;
  return parse_int(colon + 1, 1, 65535, port);
}

static int read_secret_file(const char *path, char *out, size_t outlen, char *why, size_t whylen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(why, whylen, "cannot read '%s': %s", path, strerror(errno));
    return -1;
  }
  if (!fgets(out, (int)outlen, f)) out[0] = '\0';
  fclose(f);
  out[strcspn(out, "\r\n")] = '\0';
  if (!out[0]) {
    snprintf(why, whylen, "'%s' holds no password on its first line", path);
    return -1;
  }
  return 0;
}

static int set_listen(struct config *cfg, const char *v, char *why, size_t whylen) {
  if (config_parse_hostport(v, cfg->listen_addr, sizeof cfg->listen_addr, &cfg->listen_port)) {
    snprintf(why, whylen, "'%s' is not ADDR:PORT with a numeric address (e.g. 0.0.0.0:8080)", v);
    return -1;
  }
  return 0;
}

static int set_lab_bind(struct config *cfg, const char *v, char *why, size_t whylen) {
  if (strlen(v) >= sizeof cfg->lab_bind || !is_numeric_addr(v)) {
    snprintf(why, whylen, "'%s' is not a numeric IPv4 or IPv6 address", v);
    return -1;
  }
  strcpy(cfg->lab_bind, v);
  return 0;
}

static int set_lab_public_host(struct config *cfg, const char *v, char *why, size_t whylen) {
  struct in_addr a;
  if (strlen(v) >= sizeof cfg->lab_public_host || inet_pton(AF_INET, v, &a) != 1) {
    snprintf(why, whylen, "'%s' is not a numeric IPv4 address (PASV can name no other)", v);
    return -1;
  }
  strcpy(cfg->lab_public_host, v);
  return 0;
}

static int set_pasv(struct config *cfg, const char *v, char *why, size_t whylen) {
  char lo[16], hi[16];
  const char *dash = strchr(v, '-');
  size_t n = dash ? (size_t)(dash - v) : 0;
  if (!dash || n == 0 || n >= sizeof lo || strlen(dash + 1) >= sizeof hi) goto bad;
  memcpy(lo, v, n);
  lo[n] = '\0';
  strcpy(hi, dash + 1);
  if (parse_int(lo, 1024, 65535, &cfg->pasv_lo) || parse_int(hi, 1024, 65535, &cfg->pasv_hi) ||
      cfg->pasv_lo > cfg->pasv_hi || cfg->pasv_hi - cfg->pasv_lo >= 1000)
    goto bad;
  return 0;
bad:
  snprintf(why, whylen, "'%s' is not LO-HI with 1024 <= LO <= HI <= 65535 and at most 1000 ports",
           v);
  return -1;
}

/* Whether a flag that may be given again already holds n == max values;
 * if so why says "more than MAX WHAT". */
static int list_full(size_t n, int max, const char *what, char *why, size_t whylen) {
  if (n < (size_t)max) return 0;
  snprintf(why, whylen, "more than %d %s", max, what);
  return 1;
}

static int set_allow(struct config *cfg, const char *v, char *why, size_t whylen) {
  if (list_full(cfg->n_allow, CONFIG_MAX_RULES, "rules", why, whylen)) return -1;
  cfg->allow[cfg->n_allow++] = v;
  return 0;
}

static int set_teacher_password_file(struct config *cfg, const char *v, char *why, size_t whylen) {
  return read_secret_file(v, cfg->teacher_password, sizeof cfg->teacher_password, why, whylen);
}

static int set_class_code(struct config *cfg, const char *v, char *why, size_t whylen) {
  if (!v[0] || strlen(v) >= sizeof cfg->class_code) {
    snprintf(why, whylen, "must be 1 to %zu characters", sizeof cfg->class_code - 1);
    return -1;
  }
  strcpy(cfg->class_code, v);
  cfg->class_code_fixed = 1;
  return 0;
}

static int set_public_origin(struct config *cfg, const char *v, char *why, size_t whylen) {
  const char *rest = NULL;
  if (strncmp(v, "http://", 7) == 0) rest = v + 7;
  if (strncmp(v, "https://", 8) == 0) rest = v + 8;
  if (!rest || !rest[0] || strpbrk(rest, "/?#@ ") != NULL) {
    snprintf(why, whylen, "'%s' is not an origin like https://lab.example.org", v);
    return -1;
  }
  if (list_full(cfg->n_public_origin, CONFIG_MAX_ORIGINS, "origins", why, whylen)) return -1;
  cfg->public_origin[cfg->n_public_origin++] = v;
  return 0;
}

static int set_log_level(struct config *cfg, const char *v, char *why, size_t whylen) {
  cfg->log_level = log_level_parse(v);
  if (cfg->log_level < 0) {
    snprintf(why, whylen, "'%s' is not one of error, warn, info, debug", v);
    return -1;
  }
  return 0;
}

static int set_count(int *out, const char *v, long lo, long hi, char *why, size_t whylen) {
  if (parse_int(v, lo, hi, out)) {
    snprintf(why, whylen, "'%s' is not a number from %ld to %ld", v, lo, hi);
    return -1;
  }
  return 0;
}

static int set_local_net(struct config *cfg, const char *v, char *why, size_t whylen) {
  if (list_full(cfg->n_local_net, LIM_LOCAL_NETS, "networks", why, whylen)) return -1;
  if (throttle_net_parse(v, &cfg->local_net[cfg->n_local_net])) {
    snprintf(why, whylen, "'%s' is not an address or ADDR/PREFIX (e.g. 127.0.0.0/8, ::1)", v);
    return -1;
  }
  cfg->n_local_net++;
  return 0;
}

int config_max_sessions_for(long long nofile) {
  long long n = (nofile - LIM_FDS_RESERVED) / LIM_FDS_PER_SESSION;
  if (n < LIM_RELAY_SESSIONS_MIN) n = LIM_RELAY_SESSIONS_MIN;
  if (n > LIM_RELAY_SESSIONS_MAX) n = LIM_RELAY_SESSIONS_MAX;
  return (int)n;
}

/* A byte count: digits with an optional K, M, G or T suffix (powers of 1024). */
static int set_bytes(long long *out, const char *v, char *why, size_t whylen) {
  char *end;
  unsigned long long n, mult = 1;
  errno = 0;
  n = strtoull(v, &end, 10);
  if (end != v && *end && !end[1]) {
    /* A unit: each of K, M, G and T is 1024 times the one before. */
    static const char units[] = "KMGT";
    const char *unit = strchr(units, *end);
    if (unit) {
      mult = 1ULL << (10 * (unit - units + 1));
      end++;
    }
  }
  if (errno || end == v || *end || v[0] == '-' || n > (1ULL << 50) / mult) {
    snprintf(why, whylen, "'%s' is not a byte count like 4096, 32M or 4G (at most 1024T)", v);
    return -1;
  }
  *out = (long long)(n * mult);
  return 0;
}

static int set_watch_queue(struct config *cfg, const char *v, char *why, size_t whylen) {
  long long n;
  if (set_bytes(&n, v, why, whylen)) return -1;
  if (n < LIM_WATCH_QUEUE_MIN || n > 1LL << 30) {
    snprintf(why, whylen, "'%s' is not from %d to 1G bytes", v, LIM_WATCH_QUEUE_MIN);
    return -1;
  }
  cfg->watch_queue = n;
  return 0;
}

/* Validates v for flag f and stores it in its field (or calls its setter). */
static int flag_set(struct config *cfg, const struct config_flag *f, const char *v, char *why,
                    size_t whylen) {
  char *field = (char *)cfg + f->off;
  switch (f->kind) {
    case FLAG_CUSTOM:
      return f->set(cfg, v, why, whylen);
    case FLAG_SWITCH:
      *(int *)field = 1;
      return 0;
    case FLAG_ON_OFF:
      if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
        snprintf(why, whylen, "must be on or off");
        return -1;
      }
      *(int *)field = strcmp(v, "on") == 0;
      return 0;
    case FLAG_PATH:
    case FLAG_TEXT:
      if (!v[0] || strlen(v) >= f->size) {
        if (f->kind == FLAG_PATH)
          snprintf(why, whylen, "path is empty or too long");
        else
          snprintf(why, whylen, "must be 1 to %zu characters", f->size - 1);
        return -1;
      }
      memcpy(field, v, strlen(v) + 1);
      return 0;
    case FLAG_COUNT:
      return set_count((int *)field, v, f->lo, f->hi, why, whylen);
    case FLAG_SECONDS:
      if (parse_int(v, f->lo, f->hi, (int *)field)) {
        snprintf(why, whylen, "'%s' is not a number of seconds from %ld to %ld", v, f->lo, f->hi);
        return -1;
      }
      return 0;
    case FLAG_BYTES:
      return set_bytes((long long *)field, v, why, whylen);
  }
  return -1;
}

static const struct config_flag flags[] = {
    F_CUSTOM("listen", 0, set_listen, "ADDR:PORT", "portal address (default 127.0.0.1:8080)"),
    F_PATH("db", db_path, "PATH", "SQLite database (default ./portlab.db)"),
    F_CUSTOM("lab-bind", 0, set_lab_bind, "ADDR",
             "address of the built-in lab servers (127.0.0.1)"),
    F_CUSTOM("lab-public-host", 0, set_lab_public_host, "IPV4",
             "address FTP PASV names to students' own clients (the one they dial)"),
    F_COUNT("lab-port-base", lab_port_base, 0, 65535 - 143, "N",
            "lab port = N + well-known port (10000; 0 = the real ports)"),
    F_ON_OFF(
        "lab-tls-ports", lab_tls_ports,
        "also listen on SMTPS 465, submission 587, POP3S 995, IMAPS 993, FTPS 990, HTTPS 443 (on)"),
    F_CUSTOM("ftp-pasv-ports", 0, set_pasv, "LO-HI", "FTP passive data ports (30000-30099)"),
    F_CUSTOM("allow", 1, set_allow, "RULE",
             "real target CIDR[:PORTS] or HOSTNAME[:PORTS]; repeatable"),
    /* Environment only; before the file's row, so the file wins there too. */
    F_TEXT("teacher-password", teacher_password, NULL, NULL),
    F_CUSTOM("teacher-password-file", 0, set_teacher_password_file, "FILE",
             "teacher password on the file's first line"),
    F_CUSTOM("class-code", 0, set_class_code, "CODE", "students need this code to join"),
    F_CUSTOM("public-origin", 1, set_public_origin, "URL",
             "accepted browser Origin (behind a proxy); repeatable"),
    F_PATH("lessons", lessons_dir, "DIR", "read lessons from DIR instead of the embedded ones"),
    F_PATH("quiz-bank", quiz_bank, "FILE",
           "read the port quiz bank from FILE instead of the embedded one"),
    F_COUNT("quiz-questions", quiz_questions, 1, 1000, "N",
            "questions in one quiz attempt: a practice run, a review, a test (100)"),
    F_CUSTOM("log-level", 0, set_log_level, "LEVEL", "error, warn, info (default) or debug"),
    F_SECONDS("connect-timeout", connect_timeout, 300, "relay DNS + connect timeout (10)"),
    F_SECONDS("idle-timeout", idle_timeout, 7 * 86400, "close a silent relay session (900)"),
    F_SECONDS("session-timeout", session_timeout, 7 * 86400,
              "absolute relay session limit (14400)"),
    F_COUNT("user-sessions", user_sessions, 1, 64, "N", "open relay sessions per user (4)"),
    F_SECONDS("lab-idle-timeout", lab_idle_timeout, 86400,
              "lab servers close a silent connection (300)"),
    F_SECONDS("ftp-data-timeout", ftp_data_timeout, 3600,
              "an FTP passive port waits this long for its connection (30)"),
    F_COUNT("ftp-pasv-per-student", ftp_pasv_per_student, 1, 1000, "N",
            "FTP passive ports one student may hold at once (2)"),
    F_COUNT("ftp-pasv-per-addr", ftp_pasv_per_addr, 1, 1000, "N",
            "FTP passive ports one client address may hold at once (40)"),
    F_COUNT("http-form-bytes", http_form_bytes, 1, LIM_HTTP_FORM_BYTES_MAX, "N",
            "longest POST /form body the lab web server takes; longer gets 413 (4096)"),
    F_COUNT("login-failures", login_failures, 1, 1000, "N",
            "wrong passwords/codes per address before it must wait (10)"),
    F_SECONDS("login-backoff", login_backoff, 86400, "first wait; doubles per failure (30)"),
    F_SECONDS("login-backoff-max", login_backoff_max, 7 * 86400, "longest login wait (900)"),
    F_COUNT("throttle-addrs", throttle_addrs, 16, 1000000, "N",
            "addresses remembered by throttling (4096)"),
    F_COUNT("joins-per-minute", joins_per_minute, 1, 100000, "N",
            "new names per address per minute (60)"),
    F_COUNT("max-students", max_students, 1, 1000000, "N",
            "students in the class; a removed one frees a seat (500)"),
    F_SWITCH("trust-proxy", trust_proxy,
             "client address from X-Forwarded-For (behind a reverse proxy)"),
    F_CUSTOM("local-net", 1, set_local_net, "NET",
             "this machine, never throttled (127.0.0.0/8 and ::1); repeatable"),
    F_COUNT("sessions-page-max", sessions_page_max, 1, 10000, "N",
            "most sessions in one page of GET /api/sessions (500)"),
    F_COUNT("max-sessions", max_sessions, 1, LIM_RELAY_SESSIONS_MAX, "N",
            "WebSockets (relay sessions) in all (from the open-file limit)"),
    F_COUNT("ws-per-addr", ws_per_addr, 1, 65536, "N",
            "WebSockets (relay sessions) per client address (128)"),
    F_COUNT("opens-per-minute", opens_per_minute, 1, LIM_OPENS_PER_MINUTE_MAX, "N",
            "session opens per student per minute (30)"),
    F_CUSTOM("watch-queue", 0, set_watch_queue, "BYTES",
             "events queued per teacher watcher before the oldest are dropped (1M)"),
    F_COUNT("broadcast-max", broadcast_max, 1, 4096, "BYTES", "longest teacher broadcast (280)"),
    F_BYTES("record-bytes-per-student", record_bytes_per_student,
            "recorded bytes per student, all sessions (32M)"),
    F_BYTES("record-bytes-total", record_bytes_total, "recorded bytes in all (4G)"),
    F_BYTES("disk-floor", disk_floor, "stop recording below this much free disk (256M)"),
    F_COUNT("refusal-log", refusal_log, 1, LIM_REFUSAL_LOG_MAX, "N",
            "refusals and protocol errors kept per student for the teacher (20)"),
    F_PATH("tls-ca", tls_ca, "FILE",
           "CA certificates (PEM) the relay's TLS trusts besides the system's"),
    F_PATH("tls-cert", tls_cert, "FILE",
           "serve the portal over HTTPS/WSS with this certificate chain (PEM; needs --tls-key)"),
    F_PATH("tls-key", tls_key, "FILE", "the private key of --tls-cert (PEM); SIGHUP reloads"),
    F_SWITCH("no-record", no_record, "do not record transcripts (benchmarks only)"),
};
#define N_FLAGS (sizeof flags / sizeof flags[0])

static void print_help(void) {
  printf(
      "Usage: portlab [OPTION]...\n"
      "A browser lab for plaintext network protocols: a web portal, a recorded\n"
      "WebSocket-to-TCP relay and built-in FTP, Telnet, SMTP, HTTP, POP3 and IMAP servers.\n\n");
  for (size_t i = 0; i < N_FLAGS; i++) {
    if (!flags[i].help) continue;
    char left[64];
    snprintf(left, sizeof left, "--%s%s%s", flags[i].name, flags[i].help_arg ? " " : "",
             flags[i].help_arg ? flags[i].help_arg : "");
    printf("  %-30s %s\n", left, flags[i].help);
  }
  printf(
      "  %-30s %s\n  %-30s %s\n\n"
      "Every flag has an environment twin: --lab-port-base is PORTLAB_LAB_PORT_BASE;\n"
      "repeatable flags take a space-separated list there. Flags win over the environment.\n"
      "PORTLAB_TEACHER_PASSWORD sets the teacher password when no file is given.\n",
      "--help", "show this help", "--version", "show the version");
}

static void env_name(const char *flag, char *out, size_t outlen) {
  size_t j = (size_t)snprintf(out, outlen, "PORTLAB_");
  for (const char *p = flag; *p && j + 1 < outlen; p++)
    out[j++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
  out[j] = '\0';
}

static void set_defaults(struct config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  strcpy(cfg->listen_addr, "127.0.0.1");
  cfg->listen_port = 8080;
  strcpy(cfg->db_path, "./portlab.db");
  strcpy(cfg->lab_bind, "127.0.0.1");
  cfg->lab_port_base = 10000;
  cfg->lab_tls_ports = 1;
  cfg->pasv_lo = 30000;
  cfg->pasv_hi = 30099;
  cfg->log_level = LOG_INFO;
  cfg->connect_timeout = LIM_RELAY_CONNECT_SECS;
  cfg->idle_timeout = LIM_RELAY_IDLE_SECS;
  cfg->session_timeout = LIM_RELAY_SESSION_SECS;
  cfg->user_sessions = LIM_RELAY_SESSIONS_PER_USER;
  cfg->sessions_page_max = LIM_SESSIONS_PAGE_MAX;
  cfg->lab_idle_timeout = LIM_LAB_IDLE_SECS;
  cfg->ftp_data_timeout = LIM_FTP_DATA_SECS;
  cfg->ftp_pasv_per_student = LIM_FTP_PASV_PER_STUDENT;
  cfg->ftp_pasv_per_addr = LIM_FTP_PASV_PER_ADDR;
  cfg->http_form_bytes = LIM_HTTP_FORM_BYTES;
  cfg->login_failures = LIM_LOGIN_FAILURES;
  cfg->login_backoff = LIM_LOGIN_BACKOFF_SECS;
  cfg->login_backoff_max = LIM_LOGIN_BACKOFF_MAX_SECS;
  cfg->throttle_addrs = LIM_THROTTLE_ADDRS;
  cfg->joins_per_minute = LIM_JOINS_PER_MINUTE;
  cfg->max_students = LIM_STUDENTS;
  cfg->max_sessions = 0; /* main.c derives it from the open-file limit */
  cfg->ws_per_addr = LIM_WS_PER_ADDR;
  cfg->opens_per_minute = LIM_OPENS_PER_MINUTE;
  cfg->watch_queue = LIM_WATCH_QUEUE_BYTES;
  cfg->broadcast_max = LIM_BROADCAST_BYTES;
  cfg->record_bytes_per_student = LIM_RECORD_BYTES_PER_STUDENT;
  cfg->record_bytes_total = LIM_RECORD_BYTES_TOTAL;
  cfg->disk_floor = LIM_DISK_FLOOR_BYTES;
  cfg->quiz_questions = LIM_QUIZ_QUESTIONS;
  cfg->refusal_log = LIM_REFUSAL_LOG;
}

/* Applies one environment variable. List values are split in place in an
 * owned copy that lives as long as cfg. */
static int apply_env(struct config *cfg, const struct config_flag *f, char *err, size_t errlen) {
  char name[64], why[256];
  env_name(f->name, name, sizeof name);
  const char *v = getenv(name);
  /* Empty is unset, so compose.yaml can pass ${CLASS_CODE:-} through. */
  if (!v || !v[0]) return 0;
  if (f->kind == FLAG_SWITCH) {
    if (strcmp(v, "1") != 0 && strcmp(v, "true") != 0) return 0;
    return flag_set(cfg, f, v, why, sizeof why);
  }
  if (!f->repeats) {
    if (flag_set(cfg, f, v, why, sizeof why) == 0) return 0;
    snprintf(err, errlen, "%s: %s", name, why);
    return -1;
  }
  size_t slot = 0;
  while (slot < CONFIG_ENV_LISTS && cfg->env_copy[slot]) slot++;
  if (slot == CONFIG_ENV_LISTS || !(cfg->env_copy[slot] = strdup(v))) {
    snprintf(err, errlen, "%s: out of memory", name);
    return -1;
  }
  char *save = NULL;
  for (char *tok = strtok_r(cfg->env_copy[slot], " \t\n", &save); tok;
       tok = strtok_r(NULL, " \t\n", &save)) {
    if (flag_set(cfg, f, tok, why, sizeof why)) {
      snprintf(err, errlen, "%s: %s", name, why);
      return -1;
    }
  }
  return 0;
}

static int check_ports(const struct config *cfg, char *err, size_t errlen) {
  /* The TLS ports (and 587) only with --lab-tls-ports on. */
  if (cfg->lab_tls_ports && cfg->lab_port_base + lab_service_max_port(1) > 65535) {
    snprintf(err, errlen, "--lab-port-base: %d + %d is past 65535 (or use --lab-tls-ports off)",
             cfg->lab_port_base, lab_service_max_port(1));
    return -1;
  }
  for (size_t i = 0; i < lab_service_count; i++) {
    if (!lab_service_on(&lab_services[i], cfg->lab_tls_ports)) continue;
    int port = cfg->lab_port_base + lab_services[i].port;
    if (port >= cfg->pasv_lo && port <= cfg->pasv_hi) {
      snprintf(err, errlen, "--ftp-pasv-ports: range %d-%d contains lab port %d", cfg->pasv_lo,
               cfg->pasv_hi, port);
      return -1;
    }
    if (port == cfg->listen_port) {
      snprintf(err, errlen, "--listen: port %d is also lab port %d (--lab-port-base %d)", port,
               lab_services[i].port, cfg->lab_port_base);
      return -1;
    }
  }
  if (cfg->listen_port >= cfg->pasv_lo && cfg->listen_port <= cfg->pasv_hi) {
    snprintf(err, errlen, "--listen: port %d is inside --ftp-pasv-ports", cfg->listen_port);
    return -1;
  }
  return 0;
}

enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err,
                                size_t errlen) {
  set_defaults(cfg);
  int seen_repeat[N_FLAGS] = {0};
  for (size_t i = 0; i < N_FLAGS; i++)
    if (apply_env(cfg, &flags[i], err, errlen)) return CONFIG_ERROR;

  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      print_help();
      return CONFIG_EXIT_OK;
    }
    if (strcmp(arg, "--version") == 0) {
      printf("portlab %s\n", PORTLAB_VERSION);
      return CONFIG_EXIT_OK;
    }
    if (strncmp(arg, "--", 2) != 0) {
      snprintf(err, errlen, "%s: unexpected argument (see --help)", arg);
      return CONFIG_ERROR;
    }
    const char *name = arg + 2, *value = NULL;
    const char *eq = strchr(name, '=');
    size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
    const struct config_flag *f = NULL;
    size_t fi;
    for (fi = 0; fi < N_FLAGS; fi++) {
      if (flags[fi].help && strlen(flags[fi].name) == namelen &&
          strncmp(flags[fi].name, name, namelen) == 0) {
        f = &flags[fi];
        break;
      }
    }
    if (!f) {
      snprintf(err, errlen, "--%.*s: unknown option (see --help)", (int)namelen, name);
      return CONFIG_ERROR;
    }
    if (f->kind != FLAG_SWITCH) {
      if (eq) {
        value = eq + 1;
      } else if (a + 1 < argc) {
        value = argv[++a];
      } else {
        snprintf(err, errlen, "--%s: needs a value", f->name);
        return CONFIG_ERROR;
      }
    } else if (eq) {
      snprintf(err, errlen, "--%s: takes no value", f->name);
      return CONFIG_ERROR;
    }
    if (f->repeats && !seen_repeat[fi]) { /* the command line replaces the environment's list */
      seen_repeat[fi] = 1;
      if (f->set == set_allow) cfg->n_allow = 0;
      if (f->set == set_public_origin) cfg->n_public_origin = 0;
      if (f->set == set_local_net) cfg->n_local_net = 0;
    }
    char why[256];
    if (flag_set(cfg, f, value ? value : "", why, sizeof why)) {
      snprintf(err, errlen, "--%s: %s", f->name, why);
      return CONFIG_ERROR;
    }
  }
  if (check_ports(cfg, err, errlen)) return CONFIG_ERROR;
  if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
    snprintf(err, errlen, "--tls-cert and --tls-key go together: give both or neither");
    return CONFIG_ERROR;
  }
  if (cfg->login_backoff_max < cfg->login_backoff) {
    snprintf(err, errlen, "--login-backoff-max: %d is shorter than --login-backoff %d",
             cfg->login_backoff_max, cfg->login_backoff);
    return CONFIG_ERROR;
  }
  return CONFIG_OK;
}

void config_free(struct config *cfg) {
  for (int i = 0; i < CONFIG_ENV_LISTS; i++) {
    free(cfg->env_copy[i]);
    cfg->env_copy[i] = NULL;
  }
}
