/* config.h -- the command line and its PORTLAB_* environment twins. */
#ifndef PORTLAB_CONFIG_H
#define PORTLAB_CONFIG_H

#include <stddef.h>

#include "portlab_limits.h"
#include "throttle.h"

#define CONFIG_MAX_RULES 64
#define CONFIG_MAX_ORIGINS 16
#define CONFIG_ENV_LISTS 4 /* repeatable flags (each keeps one environment copy) */

struct config {
  char listen_addr[64]; /* numeric, no brackets */
  int listen_port;
  char db_path[1024];
  char lab_bind[64];        /* numeric */
  char lab_public_host[16]; /* IPv4 that FTP PASV names to direct clients; "" = lab_bind */
  int lab_port_base;
  int lab_tls_ports; /* 1: also SMTPS, submission, POP3S, IMAPS, FTPS, HTTPS (--lab-tls-ports) */
  int pasv_lo, pasv_hi;
  const char *allow[CONFIG_MAX_RULES]; /* point into argv or env_copy */
  size_t n_allow;
  char teacher_password[256]; /* from the file or the environment; "" = none */
  char class_code[256];       /* "" = none */
  const char *public_origin[CONFIG_MAX_ORIGINS];
  size_t n_public_origin;
  char lessons_dir[1024]; /* "" = embedded */
  char quiz_bank[1024];   /* "" = embedded */
  char tls_ca[1024];      /* extra CAs the relay's TLS trusts; "" = the system's only */
  char tls_cert[1024];    /* the portal over HTTPS: chain and key (PEM); "" = plain HTTP */
  char tls_key[1024];
  int quiz_questions; /* questions in one quiz attempt */
  int log_level;
  int connect_timeout, idle_timeout, session_timeout; /* seconds */
  int user_sessions;
  int lab_idle_timeout;                        /* seconds */
  int ftp_data_timeout;                        /* seconds a passive port waits for its connection */
  int ftp_pasv_per_student, ftp_pasv_per_addr; /* passive ports held at once */
  int http_form_bytes;                         /* longest POST /form body of the lab web server */
  int sessions_page_max;                       /* largest ?limit= of GET /api/sessions */
  int no_record;
  int login_failures, login_backoff, login_backoff_max; /* throttling: count, seconds */
  int throttle_addrs;
  int joins_per_minute, max_students;
  int trust_proxy; /* the client address is the last X-Forwarded-For entry */
  struct throttle_net local_net[LIM_LOCAL_NETS]; /* "this machine"; none given: loopback */
  size_t n_local_net;
  char *env_copy[CONFIG_ENV_LISTS]; /* owned copies of list-valued environment variables */
  int max_sessions;     /* WebSockets (relay sessions) in all; 0: from the open-file limit */
  int ws_per_addr;      /* per client address */
  int opens_per_minute; /* "open" messages per student */
  long long record_bytes_per_student; /* recording budgets, bytes */
  long long record_bytes_total;
  long long disk_floor;  /* stop recording below this many free bytes */
  long long watch_queue; /* bytes of events queued per teacher watcher */
  int broadcast_max;     /* bytes in one teacher broadcast */
  int refusal_log;       /* refusals and protocol errors kept per student */
  int class_code_fixed;  /* class_code came from --class-code (or its env twin) */
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT_OK, CONFIG_ERROR };

/* Fills cfg from defaults, then the environment, then argv. On
 * CONFIG_ERROR writes one line naming the flag into err. CONFIG_EXIT_OK
 * means --help or --version was printed to stdout. */
enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err,
                                size_t errlen);
void config_free(struct config *cfg);
/* Splits "ADDR:PORT" or "[V6]:PORT" into a numeric address and a port.
 * 0 or -1. */
/* The default of --max-sessions for an open-file limit of nofile:
 * (nofile - LIM_FDS_RESERVED) / LIM_FDS_PER_SESSION, within
 * LIM_RELAY_SESSIONS_MIN..LIM_RELAY_SESSIONS_MAX. */
int config_max_sessions_for(long long nofile);
int config_parse_hostport(const char *s, char *addr, size_t addrlen, int *port);

#endif
