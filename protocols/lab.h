/* lab.h -- the framework every built-in line-protocol lab server plugs into.
 *
 * A protocol module (SMTP, POP3, IMAP, FTP, Telnet) is a table of
 * callbacks over an opaque struct lab_conn. The framework owns the socket,
 * splits input into lines (or hands over raw bytes), caps line length,
 * buffers output, enforces idle timeouts and connection caps, and owns the
 * module's per-connection struct (zeroed on accept, passed to every
 * callback, freed after on_close).
 *
 * A connection has two backends: real sockets (one lws raw vhost per
 * lab_services row, created at start-up) and memory (lab_mem_*), so unit
 * tests and fuzzers drive a module with no network. Modules never see
 * which one. The framework's files are listed in labpriv.h.
 *
 * Modules must not free or close anything from inside a callback except
 * through lab_close(): the framework reaps the connection afterwards.
 */
#ifndef PORTLAB_LAB_H
#define PORTLAB_LAB_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct lws_context;
struct recorder;
struct lab_conn;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* The recording budgets an own-client transcript is kept under, the same
 * ones the relay keeps (server/usage.c fills this in: protocols/ never
 * sees server/). user is an opaque budget entry. */
struct lab_budget {
  void *owner;
  /* The entry of a portlab user, or NULL if none could be loaded. */
  void *(*user)(void *owner, int64_t user_id);
  /* 0 when len more bytes fit; else a nonzero reason, with *room set to
   * what still fits. per_student 0 leaves the per-student budget out. */
  int (*check)(void *owner, const void *user, int per_student, int64_t len, int64_t *room);
  void (*recorded)(void *owner, void *user, int64_t len);
  /* The sentence the transcript keeps when reason stopped the recording. */
  void (*stop_text)(void *owner, int reason, char *out, size_t outlen);
};

/* Shared by every lab server on the loop thread. */
struct lab_ctx {
  struct db *db;        /* the loop thread's connection */
  char secret[65];      /* server secret (hex), for per-student flags */
  char lab_addr[64];    /* numeric address the servers bind; 227 advertises it */
  char public_addr[16]; /* if set, 227 names it to direct clients (--lab-public-host) */
  int port_base;        /* lab port = port_base + well-known port */
  int pasv_lo, pasv_hi; /* FTP passive data ports */
  int idle_secs;        /* when > 0, replaces every module's idle_secs (--lab-idle-timeout) */
  int data_secs;        /* > 0: a data connection must come within this (--ftp-data-timeout) */
  int pasv_per_student; /* > 0: passive ports one student may hold (--ftp-pasv-per-student) */
  int pasv_per_addr;    /* > 0: ... one address may hold (--ftp-pasv-per-addr) */
  /* Conversations of clients that are not the relay (the student's own
   * telnet, curl, mail program) are recorded here as "own client"
   * sessions, under these budgets; NULL records nothing. */
  struct recorder *rec;
  const struct lab_budget *budget;
  /* The lab server certificate (protocols/labtls.c); NULL: no TLS ports,
   * no STARTTLS offered. */
  struct ssl_ctx_st *tls_ctx;
  int tls_ports; /* open the lab_services rows marked tls_ports (--lab-tls-ports) */
};

enum lab_line_end { LAB_CRLF = 0, LAB_BARE_LF = 1 };

struct lab_module {
  const char *name;    /* "smtp": log prefix and lws protocol name "lab-smtp" */
  size_t line_max;     /* longest line accepted, CRLF included; 0 = raw mode (on_data gets all) */
  size_t session_size; /* the per-connection struct the framework allocates (0: none needed) */
  int idle_secs;       /* no input for this long: on_timeout, then close (0: LIM_LAB_IDLE_SECS) */

  /* Greeting. Return -1 to refuse (the framework closes after output).
   * NULL: the client speaks first (finger, WHOIS). */
  int (*on_accept)(struct lab_conn *c, void *s);
  /* One line without its terminator, NUL-terminated for convenience; len
   * counts bytes (a line may contain NUL: compare strlen(line) != len).
   * end tells CRLF from a bare LF (SMTP smuggling, RFC 5321 section 2.3.8). */
  void (*on_line)(struct lab_conn *c, void *s, char *line, size_t len, enum lab_line_end end);
  /* Raw bytes: everything in raw mode, or the n bytes asked for with
   * lab_read_bytes() (IMAP literals). May be called several times. */
  void (*on_data)(struct lab_conn *c, void *s, const unsigned char *p, size_t n);
  /* A line longer than line_max: send the protocol's error; the framework
   * then closes the connection. */
  void (*on_overlong)(struct lab_conn *c, void *s);
  /* Idle too long: send the protocol's goodbye; the framework then closes. */
  void (*on_timeout)(struct lab_conn *c, void *s);
  /* Last call: free what s owns (not s itself). */
  void (*on_close)(struct lab_conn *c, void *s);

  /* FTP's data channel, all optional. */
  void (*on_data_conn)(struct lab_conn *c, void *s,
                       int ok); /* connected (ok) or failed/timed out */
  void (*on_data_rx)(struct lab_conn *c, void *s, const unsigned char *p, size_t n);
  /* The data connection ended: after lab_data_close() once everything was
   * sent, or when the peer closed it (the end of an upload): ok = 1; on an
   * error or lab_data_abort(): ok = 0. */
  void (*on_data_done)(struct lab_conn *c, void *s, int ok);
};

/* The modules. */
extern const struct lab_module lab_smtp, lab_pop3, lab_imap, lab_ftp, lab_telnet;
extern const struct lab_module lab_ssh, lab_dns, lab_whois, lab_finger;

/* --- for modules --------------------------------------------------------- */

struct lab_ctx *lab_conn_ctx(struct lab_conn *c);
const char *lab_conn_peer(struct lab_conn *c); /* numeric address of the client */
/* Numeric address of our own end of the control connection (the address
 * the client dialled; IPv4-mapped IPv6 shown as IPv4). The memory backend
 * says ctx->lab_addr. FTP advertises it when lab_addr is 0.0.0.0 or ::. */
const char *lab_conn_local(struct lab_conn *c);
void lab_send(struct lab_conn *c, const void *p, size_t n);
void lab_printf(struct lab_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Close once queued output is sent. No callbacks but on_close follow. */
void lab_close(struct lab_conn *c);
/* The next n input bytes go to on_data, then line mode resumes. */
void lab_read_bytes(struct lab_conn *c, size_t n);
size_t lab_out_pending(struct lab_conn *c);
/* The portlab user behind this connection, for lesson check tasks: the
 * student whose relay session it is, else the lab account named lab_user
 * (NULL if none logged in); 0 if nobody is known. */
int64_t lab_conn_user(struct lab_conn *c, const char *lab_user);
/* A client logged in as lab_user: an own-client transcript moves to that
 * student (modules call it on every successful login). */
void lab_conn_login(struct lab_conn *c, const char *lab_user);
/* Records a lab event ("smtp.delivered") for that user with attributes
 * given as NULL-terminated key, value pairs, plus "via": "browser" for a
 * relay session, "own" for any other client (a task condition
 * "via: browser" asks for work typed through the browser). Nothing if
 * nobody is known. */
void lab_event(struct lab_conn *c, const char *lab_user, const char *event, const char *const *kv);
/* TLS (RFC 3207, 2595, 9051, 4217). The framework runs the TLS engine
 * between the socket and the module, so a module always sees plaintext.
 * lab_tls_start() is called right after the module queued its "go ahead"
 * reply (220, +OK, OK, 234): that reply still goes out in the clear, every
 * byte that came after the command in the same read is discarded (the
 * CVE-2011-0411 class: nothing pipelined before the handshake may be
 * executed after it), and the next byte must be a TLS ClientHello. The
 * module resets its own protocol state as its RFC says. -1 if TLS is not
 * configured or already running. */
int lab_tls_start(struct lab_conn *c);
int lab_tls_available(struct lab_conn *c); /* the lab has a certificate */
int lab_tls_active(struct lab_conn *c);    /* this connection runs TLS (or is starting it) */
/* The well-known port the client dialled (25, 587, 465 for SMTP): a
 * module serves every lab_services row that names it. */
int lab_conn_service_port(struct lab_conn *c);
/* How long this connection may stay silent before on_timeout: the
 * server's --lab-idle-timeout, else the module's idle_secs, else
 * LIM_LAB_IDLE_SECS. */
int lab_idle_secs(const struct lab_conn *c);
/* FTP's PROT P (1) or PROT C (0): data channels opened from now on run
 * TLS as the server (RFC 4217 section 9). */
void lab_data_protect(struct lab_conn *c, int on);

/* Logs at warn level with the module name and peer: every protocol violation. */
void lab_warn(struct lab_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One data channel at a time per connection (FTP). */
/* Passive: listens on lab_addr on a free port of the passive range and
 * accepts one connection, only from the control connection's peer
 * address (and through the relay only from the same student). Writes the
 * port. 0, or one of: */
enum {
  LAB_PASV_NO_PORT = -1,     /* no port of the range is free */
  LAB_PASV_STUDENT_CAP = -2, /* this student holds pasv_per_student already */
  LAB_PASV_ADDR_CAP = -3     /* this browser or peer address holds pasv_per_addr already */
};
int lab_data_listen(struct lab_conn *c, int *port);
/* Active: connects to addr:port (the caller checked it is the control
 * peer and above 1023). -1 on immediate failure. */
int lab_data_connect(struct lab_conn *c, const char *addr, int port);
int lab_data_is_open(struct lab_conn *c); /* 1 once connected */
void lab_data_send(struct lab_conn *c, const void *p, size_t n);
void lab_data_close(struct lab_conn *c); /* after queued data is sent */
/* What the data channel carries ("RETR flag.txt"): names the transcript of
 * an own client's data connection (the current one, or the next). */
void lab_data_label(struct lab_conn *c, const char *label);
void lab_data_abort(struct lab_conn *c);

/* --- commands (protocols/labcmd.c) ------------------------------------------
 *
 * A line-protocol module declares its commands in a table and hands each
 * command line to lab_cmd_dispatch(), which splits it, finds the row,
 * refuses what the row does not allow (through the module's refuse(), in
 * the module's own words: "500 ...", "-ERR ...", "tag BAD ..."), then
 * calls the row's check and run (the check/proceed pattern of OpenSMTPD's
 * smtp_session.c). A session's state is a small ordinal (an enum from 0);
 * a row lists the states it is legal in as a bit set of LAB_IN(state). */
#define LAB_IN(st) (1u << (st))

/* What may follow the verb. The framework checks it after the row's check
 * and before run; LAB_ARGS_PATH may be or'ed in to say the argument names
 * a file (a module may answer a NUL byte in it differently). */
enum lab_args {
  LAB_ARGS_ANY = 0,  /* the rest of the line, possibly empty: run parses it */
  LAB_ARGS_NONE = 1, /* nothing */
  LAB_ARGS_REQ = 2,  /* the rest of the line, not empty */
  LAB_ARGS_PATH = 16
};
#define LAB_ARGS_SHAPE(a) ((a)&15u)

struct lab_cmd {
  const char *verb;
  unsigned states; /* LAB_IN(state) for each state it is legal in */
  void (*run)(struct lab_conn *c, void *s, char *args);
  unsigned args;     /* enum lab_args */
  const char *usage; /* for the module's syntax error: "DATA (no arguments)" */
  /* May this run now (TLS, the kind of login, a data channel ready)?
   * 0 to go on; else the check has sent the refusal. NULL: always. */
  int (*check)(struct lab_conn *c, void *s, char *args);
};

/* Why the framework refused a command line. */
enum lab_refusal {
  LAB_REFUSE_EMPTY,   /* no verb */
  LAB_REFUSE_UNKNOWN, /* no row */
  LAB_REFUSE_STATE,   /* the row is not legal in this state */
  LAB_REFUSE_NUL,     /* the line holds a NUL byte */
  LAB_REFUSE_ARGS     /* the argument does not have the row's shape */
};

enum {
  LAB_CMDS_EXACT_CASE = 1, /* verbs match case-sensitively (a shell) */
  LAB_CMDS_SKIP_BLANKS = 2 /* spaces between verb and arguments are dropped */
};

/* A module's command table and how it answers refusals. */
struct lab_cmd_set {
  const struct lab_cmd *table; /* ends with a row whose verb is NULL */
  unsigned flags;              /* LAB_CMDS_* */
  /* Sends the module's error reply. verb is what the client sent; row is
   * NULL for EMPTY and UNKNOWN. */
  void (*refuse)(struct lab_conn *c, void *s, enum lab_refusal why, const char *verb,
                 const struct lab_cmd *row);
  /* Optional: a row passed the state and NUL checks (before its check). */
  void (*admit)(struct lab_conn *c, void *s, const struct lab_cmd *row, const char *args);
};

/* The one dispatch: splits "VERB args" in place (len counts the bytes,
 * so a NUL inside is seen), finds the row, checks state, NUL, check,
 * shape, and runs it; every refusal goes through set->refuse. */
void lab_cmd_dispatch(struct lab_conn *c, void *s, const struct lab_cmd_set *set, int state,
                      char *line, size_t len);
/* The same for a verb the module split itself (a shell's words, an IMAP
 * tag); nul says the line held a NUL byte. */
void lab_cmd_dispatch_verb(struct lab_conn *c, void *s, const struct lab_cmd_set *set, int state,
                           const char *verb, char *args, int nul);
/* Lookup and state check alone (IMAP asks before it accepts a literal):
 * 0 with *row set when the row may run; -1 with *why UNKNOWN (*row NULL)
 * or STATE (*row the row found). */
int lab_cmd_match(const struct lab_cmd_set *set, int state, const char *verb,
                  const struct lab_cmd **row, enum lab_refusal *why);
/* The row whose check or run is running on c (NULL outside them): a
 * function that serves several rows reads the verb it was reached by. */
const struct lab_cmd *lab_cmd_current(const struct lab_conn *c);
/* Case-insensitive lookup; NULL if unknown. */
const struct lab_cmd *lab_cmd_find(const struct lab_cmd *table, const char *verb);
/* Splits "VERB args" in place: returns the verb, sets *args (never NULL). */
char *lab_cmd_split(char *line, char **args);

/* --- for main -------------------------------------------------------------- */

struct lab_servers;
struct lab_service;
/* One raw listening vhost per row with a module (lab_services, or a test's
 * own rows) on ctx->lab_addr, port ctx->port_base + the row's port; rows
 * marked tls_ports only with ctx->tls_ports, implicit TLS rows only with
 * ctx->tls_ctx. NULL with a reason. */
struct lab_servers *lab_servers_start(struct lws_context *lws, struct lab_ctx *ctx,
                                      const struct lab_service *rows, size_t n, char *err,
                                      size_t errlen);
void lab_servers_stop(struct lab_servers *ls); /* NULL is a no-op */

/* --- the lab services (protocols/modules.c) ------------------------------- */

/* One service "lab" offers: lab:PORT. The one place that says which port
 * runs which module in which mode: the framework opens a listener per row. */
struct lab_service {
  const char *name;                /* "smtp": the API's and the UI's name */
  const char *label;               /* "SMTP": for people (the start-up banner) */
  int port;                        /* well-known port: 25 */
  const char *mode;                /* how the browser opens it: "raw", "telnet" or "tls" */
  const struct lab_module *module; /* its line-protocol server; NULL if served elsewhere */
  int tls_ports;                   /* 1: only with --lab-tls-ports on (TLS ports, 587) */
};
/* Every service, in port order: the one table of lab ports. */
extern const struct lab_service lab_services[];
extern const size_t lab_service_count;
const struct lab_service *lab_service_by_port(int port); /* NULL if none */
const struct lab_service *lab_service_by_name(const char *name);
/* Whether a row is offered: its tls_ports rows only with --lab-tls-ports. */
int lab_service_on(const struct lab_service *s, int tls_ports);
int lab_service_max_port(int tls_ports); /* the highest port offered */
/* The port of the module's own row: the first that names it and is offered
 * without --lab-tls-ports (SMTP's 25); 0 for a module with no row. */
int lab_module_port(const struct lab_module *m);
/* Mode "tls": the port speaks TLS from the first byte (465, 993, ...). */
int lab_service_is_tls(const struct lab_service *s);

/* --- the in-memory backend, for unit tests and fuzzers ------------------ */

/* Opens a connection from peer (e.g. "127.0.0.1") to the module's own port
 * (lab_module_port) and runs on_accept. */
struct lab_conn *lab_mem_open(const struct lab_module *m, struct lab_ctx *ctx, const char *peer);
/* The same, as if the client dialled this well-known port (a row of this
 * module with mode "tls": the connection runs TLS from the start; feed
 * and read ciphertext). */
struct lab_conn *lab_mem_open_port(const struct lab_module *m, struct lab_ctx *ctx,
                                   const char *peer, int port);
/* Makes the connection look as if it came from this peer port (0: none),
 * so labident can name its student as for a relayed connection. */
void lab_mem_set_peer_port(struct lab_conn *c, int port);
void lab_mem_feed(struct lab_conn *c, const void *p, size_t n);
/* Everything the module sent since the last clear, NUL-terminated. */
const char *lab_mem_output(struct lab_conn *c, size_t *len);
void lab_mem_clear(struct lab_conn *c);
int lab_mem_closed(struct lab_conn *c); /* 1 once the module or framework closed it */
void lab_mem_timeout(struct lab_conn *c);
void lab_mem_free(struct lab_conn *c); /* runs on_close if not yet run */
/* The simulated data channel's far end. */
void lab_mem_data_connect(struct lab_conn *c, int ok);
const char *lab_mem_data_output(struct lab_conn *c, size_t *len);
void lab_mem_data_feed(struct lab_conn *c, const void *p, size_t n);
void lab_mem_data_eof(struct lab_conn *c);
int lab_mem_data_state(struct lab_conn *c); /* 0 none, 1 listening/connecting, 2 open, 3 closed */

#endif
