/* ftp.c -- the built-in lab FTP server: control connection, commands, transfers.
 *
 * Implements the server side of RFC 959 (the protocol: login, CWD/CDUP/PWD,
 * TYPE A and I, MODE S, STRU F, PASV, PORT, LIST, NLST, RETR, STOR, DELE,
 * MKD, RMD, RNFR/RNTO, STAT, ABOR, REST, ALLO, HELP, NOOP, QUIT), RFC 1123
 * section 4.1 (the X-prefixed directory aliases, the 213 form of STAT),
 * RFC 2428 (EPSV and EPRT, including EPSV ALL), RFC 2389 (FEAT and OPTS)
 * and RFC 3659 (SIZE, MDTM, REST STREAM), and RFC 4217 (AUTH TLS, PBSZ,
 * PROT C/P: the control connection upgraded, the data channels protected
 * with PROT P) plus implicit FTPS on 990. AUTH TLS starts the login over,
 * and anything pipelined after it is discarded by the framework. The wire looks like a small Unix
 * FTP daemon's: a "(portlab FTP)" greeting, "215 UNIX Type: L8", ls -l
 * style listings and the "(n bytes)" form of 150 that clients parse.
 *
 * Files live in the database (db_file_*): each account sees its own tree,
 * and "anonymous" or "ftp" sees the public area (owner 0), read-only.
 * Every path goes through vpath_resolve() against the session's working
 * directory, so "..", NUL and control bytes never reach a query and the
 * host file system is never touched.
 *
 * The data channel itself (listening, connecting, timing out) belongs to
 * lab.c. This file decides where it may go: passive listeners accept only
 * the control connection's peer (lab.c enforces that), and PORT/EPRT are
 * accepted only for the control peer's own address and a port above 1023,
 * so the server cannot be used to bounce connections to third parties
 * (the "FTP bounce" of RFC 2577). Through the browser relay the control
 * peer is this host itself, so there PORT/EPRT are refused outright and
 * only passive mode works. Uploads are capped per file and per account
 * (bytes, and LIM_FTP_ENTRIES files and directories) before they are
 * stored.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"
#include "portlab_limits.h"

#define FTP_PATH_MAX 256                   /* struct db_file's path, NUL included */
#define FTP_LIST_DIR_SIZE 4096             /* the size ls shows for a directory */
#define FTP_RECENT_SECS (182L * 24 * 3600) /* ls prints the time, not the year, within this */

enum ftp_state { FTP_ST_USER = 0, FTP_ST_PASS, FTP_ST_LOGGED };
#define FTP_IN(st) (1u << (st))
#define FTP_ANY (FTP_IN(FTP_ST_USER) | FTP_IN(FTP_ST_PASS) | FTP_IN(FTP_ST_LOGGED))
#define FTP_AUTHED FTP_IN(FTP_ST_LOGGED)
/* Not a state: marks the rows whose argument is a path. A NUL byte in a
 * path is a bad file name (550); anywhere else it is bad syntax (501). */
#define FTP_PATH_ARG (1u << 16)

/* Where the next transfer's data connection comes from. */
enum ftp_chan { FTP_CHAN_NONE = 0, FTP_CHAN_PASV, FTP_CHAN_PORT };

/* IDLE: no transfer. WAIT: a transfer command was accepted and waits for
 * the data connection. SEND: the payload is queued, waiting for the data
 * connection to drain and end. RECV: an upload is arriving. */
enum ftp_xfer { FTP_X_IDLE = 0, FTP_X_WAIT, FTP_X_SEND, FTP_X_RECV };

enum ftp_job { FTP_JOB_LIST = 0, FTP_JOB_NLST, FTP_JOB_RETR, FTP_JOB_STOR };

struct ftp_session {
  enum ftp_state state;
  char user[LIM_NAME_LEN + 1]; /* what USER said, if it can be a name */
  int user_bad;                /* USER's argument cannot be any account */
  int anonymous;               /* read-only public area */
  int64_t owner;               /* whose files: the account's id, 0 = public */
  char who[LIM_NAME_LEN + 1];  /* logged-in name, for STAT */
  int login_fails;
  char cwd[FTP_PATH_MAX];
  int ascii;               /* TYPE A: LF goes out as CR LF, CR LF comes in as LF */
  int64_t rest;            /* REST offset for the next RETR */
  int epsv_all;            /* EPSV ALL: other data channel commands are refused */
  int nul;                 /* the current line held a NUL byte */
  char rnfr[FTP_PATH_MAX]; /* RNFR's source, for the RNTO right after it */

  enum ftp_chan chan;
  int port; /* PORT/EPRT: where to connect (always the control peer) */

  enum ftp_xfer xfer;
  enum ftp_job job;
  unsigned char *buf; /* the payload to send, or the upload so far */
  size_t len, cap;
  size_t allowance;          /* the upload may grow to this many bytes */
  int over_quota;            /* the allowance is the account quota, not the file cap */
  int cr_pending;            /* TYPE A upload: a CR ended the last chunk */
  char target[FTP_PATH_MAX]; /* the file being retrieved or stored */
  int pbsz;                  /* PBSZ given under TLS: PROT may follow (RFC 4217 section 9) */
  char cmdline[128];         /* the command being run, as the client sent it (cut) */
};

static void ftp_set_state(struct ftp_session *s, enum ftp_state st) {
  s->state = st;
}

/* The one place the transfer state changes. Leaving a transfer drops its
 * buffer and the data channel: every transfer needs a fresh PASV or PORT,
 * as with every other FTP server. */
static void ftp_set_xfer(struct ftp_session *s, enum ftp_xfer x) {
  s->xfer = x;
  if (x == FTP_X_IDLE) {
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
    s->cr_pending = 0;
    s->chan = FTP_CHAN_NONE;
    s->rest = 0;
  }
}

static struct db *ftp_db(struct lab_conn *c) {
  return lab_conn_ctx(c)->db;
}

/* --- small helpers ------------------------------------------------------- */

/* Growable byte buffer with a hard cap; -1 past it or out of memory. */
static int ftp_buf_add(struct ftp_session *s, const void *p, size_t n, size_t max) {
  unsigned char *nb;
  size_t ncap;

  if (n > max || s->len > max - n) return -1;
  if (s->len + n > s->cap) {
    ncap = s->cap ? s->cap : 1024;
    while (ncap < s->len + n) ncap *= 2;
    if (ncap > max) ncap = max;
    nb = realloc(s->buf, ncap ? ncap : 1);
    if (!nb) return -1;
    s->buf = nb;
    s->cap = ncap;
  }
  if (n) memcpy(s->buf + s->len, p, n);
  s->len += n;
  return 0;
}

/* An upper bound for buffers that hold text we generate ourselves
 * (listings): the quota bounds what an account can hold, and a listing
 * line is a few dozen bytes per stored name. */
#define FTP_TEXT_MAX ((size_t)LIM_LAB_OUT_BYTES)

static int ftp_buf_printf(struct ftp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ftp_buf_printf(struct ftp_session *s, const char *fmt, ...) {
  char line[FTP_PATH_MAX + 128];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof line) return -1;
  return ftp_buf_add(s, line, (size_t)n, FTP_TEXT_MAX);
}

/* TYPE A on the way out: a bare LF becomes CR LF (RFC 959 section 3.1.1.1).
 * A CR LF already in the file is left alone so text stored with Windows
 * line ends does not gain a second CR. Returns a malloc'd copy. */
static unsigned char *ftp_to_ascii(const unsigned char *p, size_t n, size_t *out_len) {
  size_t extra = 0, i, o = 0;
  unsigned char *out;

  for (i = 0; i < n; i++)
    if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) extra++;
  out = malloc(n + extra + 1);
  if (!out) return NULL;
  for (i = 0; i < n; i++) {
    if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) out[o++] = '\r';
    out[o++] = p[i];
  }
  *out_len = o;
  return out;
}

/* RFC 959 section 7: a quote inside a quoted path name is doubled. */
static void ftp_quote(const char *path, char *out, size_t outlen) {
  size_t o = 0;

  for (; *path && o + 3 < outlen; path++) {
    if (*path == '"') out[o++] = '"';
    out[o++] = *path;
  }
  out[o] = '\0';
}

static const char *const ftp_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* ls -l's date column, in UTC so no time zone setting changes a byte:
 * the time for recent files, the year for old or future ones. */
static void ftp_ls_date(int64_t mtime, time_t now, char *out, size_t outlen) {
  time_t t = (time_t)mtime;
  struct tm tm;

  gmtime_r(&t, &tm);
  if (mtime > (int64_t)now - FTP_RECENT_SECS && mtime <= (int64_t)now + 3600)
    snprintf(out, outlen, "%s %2d %02d:%02d", ftp_months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
             tm.tm_min);
  else
    snprintf(out, outlen, "%s %2d  %04d", ftp_months[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900);
}

static const char *ftp_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash && slash[1] ? slash + 1 : path;
}

/* Parses a decimal number in [0, max] that ends at a non-digit, which
 * goes to *end. -1 if there are no digits or the value is too big. */
static int ftp_parse_num(const char *p, const char **end, int64_t max, int64_t *out) {
  int64_t v = 0;

  if (!isdigit((unsigned char)*p)) return -1;
  for (; isdigit((unsigned char)*p); p++) {
    if (v > (max - (*p - '0')) / 10) return -1;
    v = v * 10 + (*p - '0');
  }
  *end = p;
  *out = v;
  return 0;
}

/* 1 if text names the same host as the control connection's peer: the
 * only address PORT and EPRT may send the server to (RFC 2577 section 3).
 * A v4-mapped peer of a dual-stack socket counts as its IPv4 address. */
static int ftp_is_peer(struct lab_conn *c, const char *text) {
  unsigned char a[16], b[16];
  int fa = addr_parse(text, a), fb = addr_parse(lab_conn_peer(c), b);

  if (fa < 0 || fa != fb) return 0;
  return memcmp(a, b, fa == AF_INET ? 4 : 16) == 0;
}

/* Resolves a path argument against the working directory. */
static int ftp_resolve(struct ftp_session *s, const char *arg, char out[FTP_PATH_MAX]) {
  if (s->nul) return -1;
  return vpath_resolve(s->cwd, arg, out, FTP_PATH_MAX);
}

/* The public area is for reading: every change there gets 550. */
static int ftp_refuse_anonymous(struct lab_conn *c, struct ftp_session *s) {
  if (!s->anonymous) return 0;
  lab_printf(c, "550 Permission denied: the anonymous area is read-only.\r\n");
  return 1;
}

/* --- the data channel ------------------------------------------------------ */

/* Drops whatever data channel is set up, before a new one replaces it. */
static void ftp_chan_drop(struct lab_conn *c, struct ftp_session *s) {
  if (s->chan == FTP_CHAN_PASV) lab_data_abort(c);
  s->chan = FTP_CHAN_NONE;
}

/* The channel commands refuse while a transfer runs: one data channel at a
 * time. 1 if refused. */
static int ftp_refuse_busy(struct lab_conn *c, struct ftp_session *s) {
  if (s->xfer == FTP_X_IDLE) return 0;
  lab_printf(c, "503 A transfer is in progress; wait for it or send ABOR.\r\n");
  return 1;
}

/* Checked before any path work, as other servers do: a transfer command
 * with no data channel is answered 425 whatever its argument. */
static int ftp_chan_ready(struct lab_conn *c, struct ftp_session *s) {
  if (ftp_refuse_busy(c, s)) return 0;
  if (s->chan == FTP_CHAN_NONE) {
    lab_printf(c, "425 No data channel: send PASV or PORT first.\r\n");
    return 0;
  }
  return 1;
}

/* The data connection is up: announce the transfer and start it. */
static void ftp_xfer_start(struct lab_conn *c, struct ftp_session *s) {
  switch (s->job) {
    case FTP_JOB_LIST:
    case FTP_JOB_NLST:
      lab_printf(c, "150 Directory listing follows on the data connection.\r\n");
      break;
    case FTP_JOB_RETR:
      lab_printf(c, "150 Opening %s mode data connection for %s (%zu bytes).\r\n",
                 s->ascii ? "ASCII" : "BINARY", s->target, s->len);
      break;
    case FTP_JOB_STOR:
      lab_printf(c, "150 Ready for %s: send the data, then close the data connection.\r\n",
                 s->target);
      ftp_set_xfer(s, FTP_X_RECV);
      return;
  }
  ftp_set_xfer(s, FTP_X_SEND);
  if (s->len) lab_data_send(c, s->buf, s->len);
  free(s->buf);
  s->buf = NULL;
  s->len = s->cap = 0;
  /* May report on_data_done at once (the memory backend does): the state
   * above is already final. */
  lab_data_close(c);
}

/* A transfer command passed its checks; the payload (for LIST, NLST and
 * RETR) is in s->buf. Starts now if the data connection is up, else when
 * lab.c reports it. */
static void ftp_xfer_begin(struct lab_conn *c, struct ftp_session *s, enum ftp_job job) {
  s->job = job;
  lab_data_label(c, s->cmdline); /* names an own client's data transcript */
  ftp_set_xfer(s, FTP_X_WAIT);
  if (s->chan == FTP_CHAN_PORT) {
    /* The address is the peer's own, not the text PORT carried. */
    if (lab_data_connect(c, lab_conn_peer(c), s->port) != 0 && s->xfer == FTP_X_WAIT) {
      lab_printf(c, "425 Could not connect to your data port.\r\n");
      ftp_set_xfer(s, FTP_X_IDLE);
    }
    return;
  }
  if (lab_data_is_open(c)) ftp_xfer_start(c, s);
}

static void ftp_on_data_conn(struct lab_conn *c, void *sp, int ok) {
  struct ftp_session *s = sp;

  if (ok) {
    if (s->xfer == FTP_X_WAIT) ftp_xfer_start(c, s);
    return;
  }
  if (s->xfer == FTP_X_WAIT) {
    lab_printf(c, "425 The data connection did not open in time.\r\n");
  }
  if (s->xfer == FTP_X_WAIT || s->xfer == FTP_X_IDLE) ftp_set_xfer(s, FTP_X_IDLE);
}

/* 552 (RFC 959: exceeded storage allocation), naming the limit hit. */
static void ftp_reply_552(struct lab_conn *c, struct ftp_session *s, const char *what) {
  if (s->over_quota)
    lab_printf(c, "552 Upload %s: your files would exceed the account quota (%d KiB).\r\n", what,
               LIM_FTP_QUOTA_BYTES / 1024);
  else
    lab_printf(c, "552 Upload %s: one file may hold at most %d KiB.\r\n", what,
               LIM_FTP_FILE_BYTES / 1024);
}

/* The quota counts bytes, so without a cap on entries empty files and
 * directories would be free. 0 = room for one more entry; 1 = full, and
 * the 552 is sent; -1 = database error (nothing sent). */
static int ftp_refuse_entries(struct lab_conn *c, struct ftp_session *s, const char *what) {
  int64_t n = 0;

  if (db_file_count(ftp_db(c), s->owner, &n) != 0) return -1;
  if (n < LIM_FTP_ENTRIES) return 0;
  lab_warn(c, "%s refused: %lld entries already (cap %d)", what, (long long)n, LIM_FTP_ENTRIES);
  lab_printf(c,
             "552 %s refused: your account already holds %d files and directories, the most "
             "allowed. Delete some first.\r\n",
             what, LIM_FTP_ENTRIES);
  return 1;
}

/* Stores a finished upload, rechecking the quota against what the account
 * holds now (another session may have stored in the meantime). */
static void ftp_store_upload(struct lab_conn *c, struct ftp_session *s) {
  struct db *db = ftp_db(c);
  struct db_file old;
  int64_t usage = 0, old_size = 0;
  int rc;

  if (s->cr_pending) {
    /* A lone CR at the very end was data, not half of a line end. */
    s->cr_pending = 0;
    if (ftp_buf_add(s, "\r", 1, s->allowance) != 0) goto over;
  }
  rc = db_file_stat(db, s->owner, s->target, &old);
  if (rc < 0 || db_file_usage(db, s->owner, &usage) != 0) goto db_error;
  if (rc == 0 && !old.is_dir) old_size = (int64_t)old.size;
  /* A new file is a new entry; another session may have used the last. */
  if (rc == 1 && (rc = ftp_refuse_entries(c, s, "Upload")) != 0) {
    if (rc < 0) goto db_error;
    return;
  }
  if (usage - old_size + (int64_t)s->len > LIM_FTP_QUOTA_BYTES) {
    s->over_quota = 1;
    goto over;
  }
  rc = db_file_write(db, s->owner, s->target, s->buf ? (const void *)s->buf : "", s->len,
                     (int64_t)time(NULL));
  if (rc < 0) goto db_error;
  if (rc == 1) {
    lab_printf(c, "553 Could not store %s: its directory is gone or the name is a directory.\r\n",
               s->target);
    return;
  }
  lab_printf(c, "226 Transfer complete: %zu bytes stored in %s.\r\n", s->len, s->target);
  const char *kv[] = {"path", s->target, NULL};
  lab_event(c, s->anonymous ? NULL : s->who, "ftp.stor", kv);
  return;

over:
  lab_warn(c, "upload over the %s", s->over_quota ? "account quota" : "file size cap");
  ftp_reply_552(c, s, "refused");
  return;

db_error:
  log_warn("ftp: storing %s failed: %s", s->target, db_errmsg(db));
  lab_printf(c, "451 Local error: the file was not stored.\r\n");
}

static void ftp_on_data_done(struct lab_conn *c, void *sp, int ok) {
  struct ftp_session *s = sp;

  switch (s->xfer) {
    case FTP_X_SEND:
      if (ok && s->job == FTP_JOB_RETR) {
        const char *kv[] = {"path", s->target, NULL};
        lab_event(c, s->anonymous ? NULL : s->who, "ftp.retr", kv);
      }
      if (ok)
        lab_printf(c, "226 Transfer complete.\r\n");
      else
        lab_printf(c, "426 Data connection lost; transfer aborted.\r\n");
      break;
    case FTP_X_RECV:
      if (ok)
        ftp_store_upload(c, s);
      else
        lab_printf(c, "426 Data connection lost; nothing was stored.\r\n");
      break;
    case FTP_X_WAIT:
      lab_printf(c, "425 The data connection closed before the transfer started.\r\n");
      break;
    case FTP_X_IDLE:
      break;
  }
  ftp_set_xfer(s, FTP_X_IDLE);
}

/* Upload bytes, checked against the allowance before they are kept. */
static void ftp_on_data_rx(struct lab_conn *c, void *sp, const unsigned char *p, size_t n) {
  struct ftp_session *s = sp;
  unsigned char chunk[4096];
  size_t i, o;
  int rc = 0;

  if (s->xfer != FTP_X_RECV) {
    /* Bytes that arrive before STOR (or after a refusal) belong to no file. */
    lab_warn(c, "%zu data bytes outside an upload dropped", n);
    return;
  }
  if (!s->ascii) {
    rc = ftp_buf_add(s, p, n, s->allowance);
  } else {
    /* TYPE A: CR LF is the line end on the wire and LF in the store. */
    for (i = 0; i < n && rc == 0;) {
      for (o = 0; i < n && o + 2 <= sizeof chunk; i++) {
        if (s->cr_pending) {
          s->cr_pending = 0;
          if (p[i] != '\n') chunk[o++] = '\r';
        }
        if (p[i] == '\r')
          s->cr_pending = 1;
        else
          chunk[o++] = p[i];
      }
      rc = ftp_buf_add(s, chunk, o, s->allowance);
    }
  }
  if (rc == 0) return;
  lab_warn(c, "upload over the %s", s->over_quota ? "account quota" : "file size cap");
  ftp_reply_552(c, s, "aborted");
  /* Idle first, so the on_data_done(0) that the abort causes finds no
   * transfer to report again. */
  ftp_set_xfer(s, FTP_X_IDLE);
  lab_data_abort(c);
}

/* --- login ------------------------------------------------------------------- */

static int ftp_is_anonymous_name(const char *name) {
  return strcasecmp(name, "anonymous") == 0 || strcasecmp(name, "ftp") == 0;
}

static void ftp_cmd_user(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (s->state == FTP_ST_LOGGED) {
    lab_printf(c, "530 Already logged in; QUIT and reconnect to change user.\r\n");
    return;
  }
  if (!*args) {
    lab_printf(c, "501 USER needs a user name.\r\n");
    return;
  }
  /* The name is never echoed: it is peer text. A name too long for any
   * account still gets a password prompt, so USER does not tell which
   * names exist. */
  s->user_bad = strlen(args) > LIM_NAME_LEN;
  snprintf(s->user, sizeof s->user, "%s", s->user_bad ? "" : args);
  ftp_set_state(s, FTP_ST_PASS);
  if (!s->user_bad && ftp_is_anonymous_name(s->user))
    lab_printf(c,
               "331 Anonymous login: any password will do (your e-mail address, by custom).\r\n");
  else
    lab_printf(c, "331 User name ok; now send your password with PASS.\r\n");
}

static void ftp_login_failed(struct lab_conn *c, struct ftp_session *s) {
  s->login_fails++;
  lab_warn(c, "failed login %d of %d", s->login_fails, LIM_FTP_LOGIN_FAILS);
  ftp_set_state(s, FTP_ST_USER);
  if (s->login_fails >= LIM_FTP_LOGIN_FAILS) {
    lab_printf(c, "421 Too many failed logins; closing the connection.\r\n");
    lab_close(c);
    return;
  }
  lab_printf(c, "530 Login incorrect: wrong user name or password.\r\n");
}

static void ftp_cmd_pass(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  struct lab_ctx *ctx = lab_conn_ctx(c);
  struct db_user u;
  int rc;

  if (s->state == FTP_ST_LOGGED) {
    lab_printf(c, "230 You are already logged in.\r\n");
    return;
  }
  if (s->state == FTP_ST_USER) {
    lab_printf(c, "503 Send USER before PASS.\r\n");
    return;
  }
  if (!s->user_bad && ftp_is_anonymous_name(s->user)) {
    s->anonymous = 1;
    s->owner = 0;
    snprintf(s->who, sizeof s->who, "anonymous");
    ftp_set_state(s, FTP_ST_LOGGED);
    lab_printf(c, "230 Logged in anonymously: the public area, read-only.\r\n");
    return;
  }
  if (s->user_bad) {
    ftp_login_failed(c, s);
    return;
  }
  rc = db_lab_login(ctx->db, s->user, args, &u);
  if (rc < 0) {
    log_warn("ftp: login lookup failed: %s", db_errmsg(ctx->db));
    ftp_set_state(s, FTP_ST_USER);
    lab_printf(c, "421 Service not available: the lab database failed.\r\n");
    lab_close(c);
    return;
  }
  if (rc == 1) {
    ftp_login_failed(c, s);
    return;
  }
  lab_conn_login(c, u.name);
  /* Seeding is idempotent; doing it here also covers accounts made
   * before the lab servers existed. A failure leaves an emptier tree, not
   * a broken login. */
  if (labdata_seed_account(ctx->db, ctx->secret, u.id, u.name) != 0)
    log_warn("ftp: seeding the files of %s failed", u.name);
  s->anonymous = 0;
  s->owner = u.id;
  snprintf(s->who, sizeof s->who, "%s", u.name);
  ftp_set_state(s, FTP_ST_LOGGED);
  lab_printf(c, "230 Logged in as %s.\r\n", u.name);
}

/* --- session commands ----------------------------------------------------- */

static void ftp_cmd_quit(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (s->xfer != FTP_X_IDLE || s->chan == FTP_CHAN_PASV) {
    ftp_set_xfer(s, FTP_X_IDLE);
    lab_data_abort(c);
  }
  lab_printf(c, "221 Goodbye: closing the control connection.\r\n");
  lab_close(c);
}

static void ftp_cmd_noop(struct lab_conn *c, void *sp, char *args) {
  lab_printf(c, "200 NOOP: still here.\r\n");
}

static void ftp_cmd_syst(struct lab_conn *c, void *sp, char *args) {
  /* The exact text clients look for to pick Unix listing parsing. */
  lab_printf(c, "215 UNIX Type: L8\r\n");
}

static void ftp_cmd_feat(struct lab_conn *c, void *sp, char *args) {
  lab_printf(c,
             "211-Extensions supported:\r\n"
             "%s%s"
             " EPRT\r\n"
             " EPSV\r\n"
             " MDTM\r\n"
             " PASV\r\n"
             " REST STREAM\r\n"
             " SIZE\r\n"
             " TVFS\r\n"
             " UTF8\r\n"
             "211 End\r\n",
             lab_tls_available(c) && !lab_tls_active(c) ? " AUTH TLS\r\n" : "",
             lab_tls_available(c) ? " PBSZ\r\n PROT\r\n" : "");
}

static void ftp_cmd_opts(struct lab_conn *c, void *sp, char *args) {
  if (strcasecmp(args, "UTF8 ON") == 0 || strcasecmp(args, "UTF8") == 0)
    lab_printf(c, "200 UTF-8 is always on here.\r\n");
  else
    lab_printf(c, "501 Unknown option.\r\n");
}

static void ftp_cmd_unimpl(struct lab_conn *c, void *sp, char *args) {
  lab_printf(c, "502 Command not implemented in this lab server.\r\n");
}

/* RFC 4217 section 4: 234, then the handshake; the login starts over. */
static void ftp_cmd_auth(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (!lab_tls_available(c)) {
    lab_printf(c, "502 No TLS here.\r\n");
    return;
  }
  if (strcasecmp(args, "TLS") != 0 && strcasecmp(args, "SSL") != 0 &&
      strcasecmp(args, "TLS-C") != 0) {
    lab_printf(c, "504 AUTH TLS is the only mechanism here.\r\n");
    return;
  }
  if (lab_tls_active(c)) {
    lab_printf(c, "503 TLS is already active.\r\n");
    return;
  }
  lab_printf(c, "234 AUTH %s successful, start the TLS handshake.\r\n",
             strcasecmp(args, "SSL") == 0 ? "SSL" : "TLS");
  if (lab_tls_start(c) != 0) {
    lab_printf(c, "421 TLS is not available, closing control connection.\r\n");
    lab_close(c);
    return;
  }
  ftp_set_state(s, FTP_ST_USER);
  s->user[0] = s->who[0] = '\0';
  s->user_bad = s->anonymous = 0;
  s->owner = 0;
  s->pbsz = 0;
  lab_data_protect(c, 0);
}

static void ftp_cmd_pbsz(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (!lab_tls_active(c)) {
    lab_printf(c, "503 PBSZ needs AUTH TLS first.\r\n");
    return;
  }
  if (!args[0] || strspn(args, "0123456789") != strlen(args)) {
    lab_printf(c, "501 Syntax: PBSZ 0\r\n");
    return;
  }
  s->pbsz = 1;
  lab_printf(c, "200 PBSZ=0\r\n"); /* TLS needs no buffer size (section 8) */
}

static void ftp_cmd_prot(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (!s->pbsz) {
    lab_printf(c, "503 PROT needs PBSZ first.\r\n");
  } else if (strcasecmp(args, "P") == 0) {
    lab_data_protect(c, 1);
    lab_printf(c, "200 Protection level set to Private: data channels use TLS.\r\n");
  } else if (strcasecmp(args, "C") == 0) {
    lab_data_protect(c, 0);
    lab_printf(c, "200 Protection level set to Clear.\r\n");
  } else if (strcasecmp(args, "S") == 0 || strcasecmp(args, "E") == 0) {
    lab_printf(c, "536 Only C and P are supported.\r\n");
  } else {
    lab_printf(c, "504 Syntax: PROT C or PROT P\r\n");
  }
}

static void ftp_cmd_allo(struct lab_conn *c, void *sp, char *args) {
  lab_printf(c, "202 ALLO not needed: space is reserved as data arrives.\r\n");
}

static void ftp_cmd_type(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (strcasecmp(args, "A") == 0 || strcasecmp(args, "A N") == 0) {
    s->ascii = 1;
    lab_printf(c, "200 Type set to A (ASCII: line ends become CR LF on the wire).\r\n");
  } else if (strcasecmp(args, "I") == 0 || strcasecmp(args, "L 8") == 0) {
    s->ascii = 0;
    lab_printf(c, "200 Type set to I (binary: bytes go as they are).\r\n");
  } else {
    lab_printf(c, "504 Only TYPE A and TYPE I are supported.\r\n");
  }
}

static void ftp_cmd_mode(struct lab_conn *c, void *sp, char *args) {
  if (strcasecmp(args, "S") == 0)
    lab_printf(c, "200 Mode S (stream).\r\n");
  else
    lab_printf(c, "504 Only MODE S (stream) is supported.\r\n");
}

static void ftp_cmd_stru(struct lab_conn *c, void *sp, char *args) {
  if (strcasecmp(args, "F") == 0)
    lab_printf(c, "200 Structure F (file).\r\n");
  else
    lab_printf(c, "504 Only STRU F (file) is supported.\r\n");
}

static void ftp_cmd_help(struct lab_conn *c, void *sp, char *args);

static void ftp_cmd_stat(struct lab_conn *c, void *sp, char *args);

/* --- directories ---------------------------------------------------------- */

static void ftp_cmd_pwd(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char q[2 * FTP_PATH_MAX];

  ftp_quote(s->cwd, q, sizeof q);
  lab_printf(c, "257 \"%s\" is your current directory.\r\n", q);
}

static void ftp_change_dir(struct lab_conn *c, struct ftp_session *s, const char *arg) {
  char path[FTP_PATH_MAX];
  struct db_file f;
  int rc;

  if (ftp_resolve(s, arg, path) != 0) {
    lab_printf(c, "550 No such directory.\r\n");
    return;
  }
  rc = db_file_stat(ftp_db(c), s->owner, path, &f);
  if (rc < 0) {
    lab_printf(c, "451 Local error: could not read the directory.\r\n");
    return;
  }
  if (rc == 1 || !f.is_dir) {
    lab_printf(c, "550 No such directory.\r\n");
    return;
  }
  snprintf(s->cwd, sizeof s->cwd, "%s", path);
  lab_printf(c, "250 Directory changed to %s.\r\n", s->cwd);
}

static void ftp_cmd_cwd(struct lab_conn *c, void *sp, char *args) {
  if (!*args) {
    lab_printf(c, "501 CWD needs a directory name.\r\n");
    return;
  }
  ftp_change_dir(c, sp, args);
}

static void ftp_cmd_cdup(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (strcmp(s->cwd, "/") == 0) {
    lab_printf(c, "550 Already at the top: there is nothing above /.\r\n");
    return;
  }
  ftp_change_dir(c, s, "..");
}

static void ftp_cmd_mkd(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX], q[2 * FTP_PATH_MAX];
  int rc;

  if (ftp_refuse_anonymous(c, s)) return;
  if (!*args) {
    lab_printf(c, "501 MKD needs a directory name.\r\n");
    return;
  }
  if (ftp_resolve(s, args, path) != 0 || strcmp(path, "/") == 0) {
    lab_printf(c, "550 Could not create that directory: bad name.\r\n");
    return;
  }
  rc = ftp_refuse_entries(c, s, "MKD");
  if (rc > 0) return;
  if (rc == 0) rc = db_file_mkdir(ftp_db(c), s->owner, path, (int64_t)time(NULL));
  if (rc < 0) {
    lab_printf(c, "451 Local error: the directory was not created.\r\n");
  } else if (rc == 1) {
    lab_printf(c, "550 Could not create %s: it exists or its parent does not.\r\n", path);
  } else {
    ftp_quote(path, q, sizeof q);
    lab_printf(c, "257 \"%s\" created.\r\n", q);
  }
}

static void ftp_cmd_rmd(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX];
  int rc;

  if (ftp_refuse_anonymous(c, s)) return;
  if (!*args) {
    lab_printf(c, "501 RMD needs a directory name.\r\n");
    return;
  }
  if (ftp_resolve(s, args, path) != 0 || strcmp(path, "/") == 0) {
    lab_printf(c, "550 Could not remove that directory.\r\n");
    return;
  }
  rc = db_file_remove(ftp_db(c), s->owner, path, 1);
  if (rc < 0)
    lab_printf(c, "451 Local error: the directory was not removed.\r\n");
  else if (rc == 1)
    lab_printf(c, "550 Could not remove %s: no such directory, or it is not empty.\r\n", path);
  else
    lab_printf(c, "250 Directory %s removed.\r\n", path);
}

/* --- listings ---------------------------------------------------------------- */

struct ftp_list_arg {
  struct ftp_session *s;
  int names_only; /* NLST */
  time_t now;
  int failed;
};

static int ftp_list_entry(struct ftp_list_arg *a, const struct db_file *f) {
  char date[32];

  if (a->names_only) return ftp_buf_printf(a->s, "%s\r\n", ftp_basename(f->path));
  ftp_ls_date(f->mtime, a->now, date, sizeof date);
  return ftp_buf_printf(a->s, "%s %4d %-8s %-8s %8zu %s %s\r\n",
                        f->is_dir ? "drwxr-xr-x" : "-rw-r--r--", f->is_dir ? 2 : 1, "ftp", "ftp",
                        f->is_dir ? (size_t)FTP_LIST_DIR_SIZE : f->size, date,
                        ftp_basename(f->path));
}

static int ftp_list_cb(void *arg, const struct db_file *f) {
  struct ftp_list_arg *a = arg;

  if (ftp_list_entry(a, f) != 0) {
    a->failed = 1;
    return 1;
  }
  return 0;
}

/* LIST and NLST (and STAT with a path) take ls options before the path;
 * they change nothing here, so they are skipped. */
static const char *ftp_skip_ls_options(const char *args) {
  while (*args == '-') {
    while (*args && *args != ' ') args++;
    while (*args == ' ') args++;
  }
  return args;
}

/* Builds the listing of args (a directory or one file) into s->buf.
 * 0, or -1 with the error already sent. */
static int ftp_build_listing(struct lab_conn *c, struct ftp_session *s, const char *args,
                             int names_only, char path[FTP_PATH_MAX]) {
  struct ftp_list_arg a = {s, names_only, time(NULL), 0};
  struct db_file f;
  const char *arg = ftp_skip_ls_options(args);
  int rc;

  if (ftp_resolve(s, *arg ? arg : ".", path) != 0) {
    lab_printf(c, "550 No such file or directory.\r\n");
    return -1;
  }
  rc = db_file_stat(ftp_db(c), s->owner, path, &f);
  if (rc == 1) {
    lab_printf(c, "550 No such file or directory.\r\n");
    return -1;
  }
  if (rc == 0 && f.is_dir)
    rc = db_file_list(ftp_db(c), s->owner, path, ftp_list_cb, &a);
  else if (rc == 0)
    rc = ftp_list_entry(&a, &f);
  if (rc < 0 || a.failed) {
    free(s->buf);
    s->buf = NULL;
    s->len = s->cap = 0;
    lab_printf(c, "451 Local error: could not read the directory.\r\n");
    return -1;
  }
  return 0;
}

static void ftp_cmd_list_common(struct lab_conn *c, struct ftp_session *s, char *args,
                                int names_only) {
  char path[FTP_PATH_MAX];

  if (!ftp_chan_ready(c, s)) return;
  if (ftp_build_listing(c, s, args, names_only, path) != 0) return;
  ftp_xfer_begin(c, s, names_only ? FTP_JOB_NLST : FTP_JOB_LIST);
}

static void ftp_cmd_list(struct lab_conn *c, void *sp, char *args) {
  ftp_cmd_list_common(c, sp, args, 0);
}

static void ftp_cmd_nlst(struct lab_conn *c, void *sp, char *args) {
  ftp_cmd_list_common(c, sp, args, 1);
}

/* --- files ------------------------------------------------------------------- */

/* Looks up a plain file for SIZE, MDTM, RETR. 0, or -1 with 550/451 sent. */
static int ftp_stat_file(struct lab_conn *c, struct ftp_session *s, const char *args,
                         char path[FTP_PATH_MAX], struct db_file *f) {
  int rc;

  if (!*args || ftp_resolve(s, args, path) != 0) {
    lab_printf(c, "550 No such file.\r\n");
    return -1;
  }
  rc = db_file_stat(ftp_db(c), s->owner, path, f);
  if (rc < 0) {
    lab_printf(c, "451 Local error: could not look the file up.\r\n");
    return -1;
  }
  if (rc == 1 || f->is_dir) {
    lab_printf(c, "550 No such file (or it is a directory).\r\n");
    return -1;
  }
  return 0;
}

static void ftp_cmd_retr(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX];
  unsigned char *data = NULL, *conv;
  size_t len = 0, conv_len;
  int rc;

  if (!ftp_chan_ready(c, s)) return;
  if (!*args) {
    lab_printf(c, "501 RETR needs a file name.\r\n");
    return;
  }
  if (ftp_resolve(s, args, path) != 0) {
    lab_printf(c, "550 No such file.\r\n");
    return;
  }
  rc = db_file_read(ftp_db(c), s->owner, path, &data, &len);
  if (rc < 0) {
    lab_printf(c, "451 Local error: could not read the file.\r\n");
    return;
  }
  if (rc == 1) {
    lab_printf(c, "550 No such file (or it is a directory).\r\n");
    return;
  }
  if (s->ascii) {
    conv = ftp_to_ascii(data, len, &conv_len);
    free(data);
    if (!conv) {
      lab_printf(c, "451 Local error: out of memory.\r\n");
      return;
    }
    data = conv;
    len = conv_len;
  }
  if (s->rest > (int64_t)len) {
    free(data);
    lab_printf(c, "554 REST position %lld is past the end of the file (%zu bytes).\r\n",
               (long long)s->rest, len);
    s->rest = 0;
    return;
  }
  if (s->rest > 0) {
    memmove(data, data + s->rest, len - (size_t)s->rest);
    len -= (size_t)s->rest;
  }
  s->rest = 0;
  free(s->buf);
  s->buf = data;
  s->len = s->cap = len;
  snprintf(s->target, sizeof s->target, "%s", path);
  ftp_xfer_begin(c, s, FTP_JOB_RETR);
}

static void ftp_cmd_stor(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  struct db *db = ftp_db(c);
  char path[FTP_PATH_MAX], parent[FTP_PATH_MAX];
  struct db_file f;
  int64_t usage = 0, old_size = 0, room;
  int rc;

  if (ftp_refuse_anonymous(c, s)) return;
  if (!ftp_chan_ready(c, s)) return;
  if (!*args) {
    lab_printf(c, "501 STOR needs a file name.\r\n");
    return;
  }
  if (s->rest != 0) {
    s->rest = 0;
    lab_printf(c, "504 Resuming an upload (REST before STOR) is not supported.\r\n");
    return;
  }
  if (ftp_resolve(s, args, path) != 0 || strcmp(path, "/") == 0 ||
      vpath_resolve(path, "..", parent, sizeof parent) != 0) {
    lab_printf(c, "553 File name not allowed.\r\n");
    return;
  }
  rc = db_file_stat(db, s->owner, parent, &f);
  if (rc < 0) goto db_error;
  if (rc == 1 || !f.is_dir) {
    lab_printf(c, "553 Could not create %s: no such directory.\r\n", path);
    return;
  }
  rc = db_file_stat(db, s->owner, path, &f);
  if (rc < 0) goto db_error;
  if (rc == 0 && f.is_dir) {
    lab_printf(c, "553 Could not create %s: that is a directory.\r\n", path);
    return;
  }
  if (rc == 0) old_size = (int64_t)f.size;
  if (rc == 1 && (rc = ftp_refuse_entries(c, s, "STOR")) != 0) {
    if (rc < 0) goto db_error;
    return;
  }
  if (db_file_usage(db, s->owner, &usage) != 0) goto db_error;
  /* Replacing a file frees its old bytes, so they count as room. */
  room = LIM_FTP_QUOTA_BYTES - (usage - old_size);
  if (room <= 0) {
    lab_warn(c, "STOR with the account quota used up");
    s->over_quota = 1;
    ftp_reply_552(c, s, "refused");
    return;
  }
  s->over_quota = room < LIM_FTP_FILE_BYTES;
  s->allowance = s->over_quota ? (size_t)room : (size_t)LIM_FTP_FILE_BYTES;
  snprintf(s->target, sizeof s->target, "%s", path);
  ftp_xfer_begin(c, s, FTP_JOB_STOR);
  return;

db_error:
  lab_printf(c, "451 Local error: could not check the directory.\r\n");
}

static void ftp_cmd_dele(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX];
  int rc;

  if (ftp_refuse_anonymous(c, s)) return;
  if (!*args) {
    lab_printf(c, "501 DELE needs a file name.\r\n");
    return;
  }
  if (ftp_resolve(s, args, path) != 0) {
    lab_printf(c, "550 No such file.\r\n");
    return;
  }
  rc = db_file_remove(ftp_db(c), s->owner, path, 0);
  if (rc < 0)
    lab_printf(c, "451 Local error: the file was not deleted.\r\n");
  else if (rc == 1)
    lab_printf(c, "550 Could not delete %s: no such file (RMD removes directories).\r\n", path);
  else
    lab_printf(c, "250 Deleted %s.\r\n", path);
}

static void ftp_cmd_rnfr(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX];
  struct db_file f;

  if (ftp_refuse_anonymous(c, s)) return;
  if (ftp_stat_file(c, s, args, path, &f) != 0) return;
  snprintf(s->rnfr, sizeof s->rnfr, "%s", path);
  lab_printf(c, "350 Ready to rename %s: send RNTO with the new name.\r\n", path);
}

/* Files only: the store has no rename, so a rename is a copy and a
 * delete inside one savepoint. */
static void ftp_cmd_rnto(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  struct db *db = ftp_db(c);
  char path[FTP_PATH_MAX], from[FTP_PATH_MAX];
  unsigned char *data = NULL;
  size_t len = 0;
  struct db_file f;
  int rc;

  snprintf(from, sizeof from, "%s", s->rnfr);
  s->rnfr[0] = '\0';
  if (!from[0]) {
    lab_printf(c, "503 Send RNFR first.\r\n");
    return;
  }
  if (!*args || ftp_resolve(s, args, path) != 0 || strcmp(path, "/") == 0) {
    lab_printf(c, "553 File name not allowed.\r\n");
    return;
  }
  rc = db_file_stat(db, s->owner, path, &f);
  if (rc < 0) goto db_error;
  if (rc == 0) {
    lab_printf(c, "553 Could not rename: %s already exists.\r\n", path);
    return;
  }
  if (db_lab_savepoint(db) != 0) goto db_error;
  rc = db_file_read(db, s->owner, from, &data, &len);
  if (rc == 0)
    rc =
        db_file_write(db, s->owner, path, data ? (const void *)data : "", len, (int64_t)time(NULL));
  if (rc == 0) rc = db_file_remove(db, s->owner, from, 0);
  free(data);
  if (rc != 0) {
    db_lab_rollback(db);
    if (rc < 0) goto db_error;
    lab_printf(c, "553 Could not rename %s to %s.\r\n", from, path);
    return;
  }
  if (db_lab_release(db) != 0) {
    db_lab_rollback(db);
    goto db_error;
  }
  lab_printf(c, "250 Renamed %s to %s.\r\n", from, path);
  return;

db_error:
  lab_printf(c, "451 Local error: nothing was renamed.\r\n");
}

static void ftp_cmd_size(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX];
  struct db_file f;
  unsigned char *data = NULL, *conv;
  size_t len = 0, conv_len;

  if (ftp_stat_file(c, s, args, path, &f) != 0) return;
  if (!s->ascii) {
    lab_printf(c, "213 %zu\r\n", f.size);
    return;
  }
  /* RFC 3659 section 4: the size is what RETR would send in this TYPE. */
  if (db_file_read(ftp_db(c), s->owner, path, &data, &len) != 0) {
    lab_printf(c, "550 Could not get the size.\r\n");
    return;
  }
  conv = ftp_to_ascii(data, len, &conv_len);
  free(data);
  if (!conv) {
    lab_printf(c, "451 Local error: out of memory.\r\n");
    return;
  }
  free(conv);
  lab_printf(c, "213 %zu\r\n", conv_len);
}

static void ftp_cmd_mdtm(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX];
  struct db_file f;
  struct tm tm;
  time_t t;

  if (ftp_stat_file(c, s, args, path, &f) != 0) return;
  t = (time_t)f.mtime;
  gmtime_r(&t, &tm);
  /* RFC 3659 section 2.3: YYYYMMDDHHMMSS, always UTC. */
  lab_printf(c, "213 %04d%02d%02d%02d%02d%02d\r\n", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void ftp_cmd_rest(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  const char *end;
  int64_t v;

  if (ftp_parse_num(args, &end, INT64_MAX, &v) != 0 || *end) {
    lab_printf(c, "501 REST needs a byte offset.\r\n");
    return;
  }
  s->rest = v;
  lab_printf(c, "350 Will restart at byte %lld; now send RETR.\r\n", (long long)v);
}

/* --- data channel commands ------------------------------------------------ */

/* EPSV ALL (RFC 2428 section 4) promises the client will use nothing else. */
static int ftp_refuse_epsv_all(struct lab_conn *c, struct ftp_session *s) {
  if (!s->epsv_all) return 0;
  lab_printf(c, "503 EPSV ALL is in effect: use EPSV.\r\n");
  return 1;
}

static int ftp_passive_listen(struct lab_conn *c, struct ftp_session *s, int *port) {
  ftp_chan_drop(c, s);
  switch (lab_data_listen(c, port)) {
    case 0:
      break;
    case LAB_PASV_STUDENT_CAP:
      lab_printf(c,
                 "425 Your other sessions hold all the passive ports you may have; finish or "
                 "abort a transfer there first.\r\n");
      return -1;
    case LAB_PASV_ADDR_CAP:
      lab_printf(c,
                 "425 Your address holds all the passive ports it may have; try again soon.\r\n");
      return -1;
    default:
      lab_printf(c, "425 No free passive port right now; try again soon.\r\n");
      return -1;
  }
  s->chan = FTP_CHAN_PASV;
  return 0;
}

/* The address PASV and EPSV name: the lab address, not the address the
 * client dialled, since the relay lesson opens a second session to
 * lab:<port>, which resolves to it. A student's own client (not relayed)
 * is told --lab-public-host when given: behind Docker's or a cloud's NAT
 * the lab's own address is not one the student can dial. A lab bound to
 * every address (0.0.0.0 or ::) has no address to name, so the one the
 * client dialled stands in. */
static const char *ftp_passive_addr(struct lab_conn *c) {
  const char *lab = lab_conn_ctx(c)->lab_addr;
  const char *pub = lab_conn_ctx(c)->public_addr;
  unsigned char a[16];
  static const unsigned char zero[16];
  int fam = addr_parse(lab, a);

  if (pub[0] && lab_conn_user(c, NULL) == 0) return pub;
  if (fam > 0 && memcmp(a, zero, fam == AF_INET ? 4 : 16) == 0) return lab_conn_local(c);
  return lab;
}

static void ftp_cmd_pasv(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  struct in_addr a;
  const unsigned char *b;
  int port;

  if (ftp_refuse_busy(c, s) || ftp_refuse_epsv_all(c, s)) return;
  if (inet_pton(AF_INET, ftp_passive_addr(c), &a) != 1) {
    lab_printf(c, "425 PASV can only name IPv4 addresses; use EPSV.\r\n");
    return;
  }
  if (ftp_passive_listen(c, s, &port) != 0) return;
  b = (const unsigned char *)&a;
  lab_printf(c, "227 Entering Passive Mode (%u,%u,%u,%u,%d,%d).\r\n", b[0], b[1], b[2], b[3],
             port >> 8, port & 0xff);
}

static void ftp_cmd_epsv(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  unsigned char a[16];
  int fam = addr_parse(ftp_passive_addr(c), a), port;
  const char *mine = fam == AF_INET6 ? "2" : "1";

  if (strcasecmp(args, "ALL") == 0) {
    s->epsv_all = 1;
    lab_printf(c, "200 EPSV ALL accepted: only EPSV from now on.\r\n");
    return;
  }
  if (ftp_refuse_busy(c, s)) return;
  if (*args && strcmp(args, mine) != 0) {
    lab_printf(c, "522 Network protocol not supported, use (%s)\r\n", mine);
    return;
  }
  if (ftp_passive_listen(c, s, &port) != 0) return;
  lab_printf(c, "229 Entering Extended Passive Mode (|||%d|)\r\n", port);
}

/* The bounce check of RFC 2577: only the control peer, only a port that
 * is not a system service's. */
static int ftp_active_ok(struct lab_conn *c, struct ftp_session *s, const char *addr,
                         int64_t port) {
  /* A relayed control connection's peer is this host itself, so "the
   * control peer, port above 1023" would be every local service above
   * 1023 (the portal, a database): the server would connect there and
   * push file bytes into it. Through the relay only passive mode works. */
  if (lab_conn_user(c, NULL) != 0) {
    lab_warn(c, "refused active mode (to %s port %lld) on a relayed connection", addr,
             (long long)port);
    lab_printf(c,
               "500 Active mode (PORT/EPRT) is not available through the browser relay: use "
               "PASV or EPSV.\r\n");
    return 0;
  }
  if (ftp_is_peer(c, addr) && port > 1023 && port <= 65535) return 1;
  lab_warn(c, "refused a data connection to %s port %lld (bounce attempt?)", addr, (long long)port);
  lab_printf(c,
             "500 Illegal PORT: data connections go only to your own address, port 1024 or "
             "above.\r\n");
  return 0;
}

static void ftp_set_active(struct lab_conn *c, struct ftp_session *s, int port) {
  ftp_chan_drop(c, s);
  s->chan = FTP_CHAN_PORT;
  s->port = port;
}

static void ftp_cmd_port(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  const char *p = args, *end;
  int64_t v[6];
  char addr[INET_ADDRSTRLEN];
  int i;

  if (ftp_refuse_busy(c, s) || ftp_refuse_epsv_all(c, s)) return;
  for (i = 0; i < 6; i++) {
    if (ftp_parse_num(p, &end, 255, &v[i]) != 0 || *end != (i < 5 ? ',' : '\0')) {
      lab_printf(c, "501 PORT wants h1,h2,h3,h4,p1,p2 (six numbers 0-255).\r\n");
      return;
    }
    p = end + 1;
  }
  snprintf(addr, sizeof addr, "%d.%d.%d.%d", (int)v[0], (int)v[1], (int)v[2], (int)v[3]);
  if (!ftp_active_ok(c, s, addr, v[4] * 256 + v[5])) return;
  ftp_set_active(c, s, (int)(v[4] * 256 + v[5]));
  lab_printf(c, "200 PORT accepted; I will connect when a transfer starts.\r\n");
}

/* EPRT <d>proto<d>addr<d>port<d> (RFC 2428 section 2); d is any printable
 * ASCII character that is not a digit. */
static void ftp_cmd_eprt(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char d, field[3][INET6_ADDRSTRLEN + 1];
  const char *p, *end;
  unsigned char bin[16];
  int64_t port;
  size_t i, n;

  if (ftp_refuse_busy(c, s) || ftp_refuse_epsv_all(c, s)) return;
  d = args[0];
  if (d < 33 || d > 126 || isdigit((unsigned char)d)) goto syntax;
  p = args + 1;
  for (i = 0; i < 3; i++) {
    end = strchr(p, d);
    if (!end) goto syntax;
    n = (size_t)(end - p);
    if (n == 0 || n >= sizeof field[i]) goto syntax;
    memcpy(field[i], p, n);
    field[i][n] = '\0';
    p = end + 1;
  }
  if (*p) goto syntax;
  if (strcmp(field[0], "1") != 0 && strcmp(field[0], "2") != 0) {
    lab_printf(c, "522 Network protocol not supported, use (1,2)\r\n");
    return;
  }
  if (inet_pton(field[0][0] == '1' ? AF_INET : AF_INET6, field[1], bin) != 1) goto syntax;
  if (ftp_parse_num(field[2], &end, 65535, &port) != 0 || *end) goto syntax;
  if (!ftp_active_ok(c, s, field[1], port)) return;
  ftp_set_active(c, s, (int)port);
  lab_printf(c, "200 EPRT accepted; I will connect when a transfer starts.\r\n");
  return;

syntax:
  lab_printf(c, "501 EPRT wants |proto|address|port| (RFC 2428).\r\n");
}

static void ftp_cmd_abor(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (s->xfer == FTP_X_IDLE) {
    ftp_chan_drop(c, s);
    lab_printf(c, "225 No transfer to abort; the data channel is closed.\r\n");
    return;
  }
  /* RFC 959 section 4.1.3: 426 ends the interrupted command, 226 answers ABOR. */
  ftp_set_xfer(s, FTP_X_IDLE);
  lab_data_abort(c);
  lab_printf(c, "426 Transfer aborted.\r\n");
  lab_printf(c, "226 ABOR done: the data connection is closed.\r\n");
}

/* --- the command table -------------------------------------------------------- */

static const struct lab_cmd ftp_cmds[] = {
    {"USER", FTP_ANY, ftp_cmd_user},
    {"PASS", FTP_ANY, ftp_cmd_pass},
    {"QUIT", FTP_ANY, ftp_cmd_quit},
    {"NOOP", FTP_ANY, ftp_cmd_noop},
    {"SYST", FTP_ANY, ftp_cmd_syst},
    {"FEAT", FTP_ANY, ftp_cmd_feat},
    {"OPTS", FTP_ANY, ftp_cmd_opts},
    {"HELP", FTP_ANY, ftp_cmd_help},
    {"AUTH", FTP_ANY, ftp_cmd_auth},
    {"PWD", FTP_AUTHED, ftp_cmd_pwd},
    {"XPWD", FTP_AUTHED, ftp_cmd_pwd},
    {"CWD", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_cwd},
    {"XCWD", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_cwd},
    {"CDUP", FTP_AUTHED, ftp_cmd_cdup},
    {"XCUP", FTP_AUTHED, ftp_cmd_cdup},
    {"TYPE", FTP_AUTHED, ftp_cmd_type},
    {"MODE", FTP_AUTHED, ftp_cmd_mode},
    {"STRU", FTP_AUTHED, ftp_cmd_stru},
    {"ALLO", FTP_AUTHED, ftp_cmd_allo},
    {"PASV", FTP_AUTHED, ftp_cmd_pasv},
    {"EPSV", FTP_AUTHED, ftp_cmd_epsv},
    {"PORT", FTP_AUTHED, ftp_cmd_port},
    {"EPRT", FTP_AUTHED, ftp_cmd_eprt},
    {"LIST", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_list},
    {"NLST", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_nlst},
    {"RETR", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_retr},
    {"STOR", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_stor},
    {"DELE", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_dele},
    {"MKD", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_mkd},
    {"XMKD", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_mkd},
    {"RMD", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_rmd},
    {"XRMD", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_rmd},
    {"RNFR", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_rnfr},
    {"RNTO", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_rnto},
    {"SIZE", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_size},
    {"MDTM", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_mdtm},
    {"STAT", FTP_AUTHED | FTP_PATH_ARG, ftp_cmd_stat},
    {"REST", FTP_AUTHED, ftp_cmd_rest},
    {"ABOR", FTP_AUTHED, ftp_cmd_abor},
    {"ACCT", FTP_ANY, ftp_cmd_unimpl},
    {"SMNT", FTP_AUTHED, ftp_cmd_unimpl},
    {"REIN", FTP_AUTHED, ftp_cmd_unimpl},
    {"STOU", FTP_AUTHED, ftp_cmd_unimpl},
    {"APPE", FTP_AUTHED, ftp_cmd_unimpl},
    {"SITE", FTP_AUTHED, ftp_cmd_unimpl},
    {"PBSZ", FTP_ANY, ftp_cmd_pbsz},
    {"PROT", FTP_ANY, ftp_cmd_prot},
    {NULL, 0, NULL},
};

static void ftp_cmd_help(struct lab_conn *c, void *sp, char *args) {
  char line[128];
  size_t i, n = 0, used = 0;

  lab_printf(c, "214-Commands this server knows (see RFC 959 for what they do):\r\n");
  for (i = 0; ftp_cmds[i].verb; i++) {
    used += (size_t)snprintf(line + used, sizeof line - used, " %-5s", ftp_cmds[i].verb);
    if (++n % 8 == 0 || !ftp_cmds[i + 1].verb) {
      while (used && line[used - 1] == ' ') line[--used] = '\0';
      lab_printf(c, "%s\r\n", line);
      used = 0;
    }
  }
  lab_printf(c, "214 End of help.\r\n");
}

static void ftp_cmd_stat(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  static const char *const chan_names[] = {"none (send PASV or PORT)", "passive", "active"};
  char path[FTP_PATH_MAX];

  if (!*args) {
    lab_printf(c,
               "211-portlab FTP status:\r\n"
               "     Connected from %s\r\n"
               "     Logged in as %s%s\r\n"
               "     TYPE: %s; STRUcture: File; MODE: Stream\r\n"
               "     Data channel: %s\r\n"
               "     Transfer: %s\r\n"
               "211 End of status.\r\n",
               lab_conn_peer(c), s->who, s->anonymous ? " (read-only)" : "",
               s->ascii ? "ASCII" : "BINARY", chan_names[s->chan],
               s->xfer == FTP_X_IDLE ? "none" : "in progress");
    return;
  }
  /* RFC 959: STAT with a path lists it over the control connection. The
   * transfer buffer may hold a payload, so the listing gets its own. */
  if (s->xfer != FTP_X_IDLE) {
    lab_printf(c, "503 STAT with a path waits until the transfer ends.\r\n");
    return;
  }
  if (ftp_build_listing(c, s, args, 0, path) != 0) return;
  lab_printf(c, "213-Status of %s:\r\n", path);
  if (s->len) lab_send(c, s->buf, s->len);
  lab_printf(c, "213 End of status.\r\n");
  free(s->buf);
  s->buf = NULL;
  s->len = s->cap = 0;
}

/* --- module callbacks ----------------------------------------------------------- */

static int ftp_on_accept(struct lab_conn *c, void *sp) {
  struct ftp_session *s = sp;

  snprintf(s->cwd, sizeof s->cwd, "/");
  ftp_set_state(s, FTP_ST_USER);
  lab_printf(c, "220 (portlab FTP) Lab file server ready.\r\n");
  return 0;
}

/* Clients that follow RFC 959 section 4.1.3 to the letter put Telnet IP
 * and Synch (IAC IP IAC DM) in front of ABOR; they carry no meaning here. */
static char *ftp_skip_telnet(char *line) {
  while ((unsigned char)line[0] == 0xff && line[1]) line += 2;
  while ((unsigned char)line[0] == 0xf2) line++; /* a DM whose IAC went out of band */
  return line;
}

static void ftp_on_line(struct lab_conn *c, void *sp, char *line, size_t len,
                        enum lab_line_end end) {
  struct ftp_session *s = sp;
  const struct lab_cmd *cmd;
  char *verb, *args;

  s->nul = strlen(line) != len;
  verb = lab_cmd_split(ftp_skip_telnet(line), &args);
  if (!*verb) {
    lab_printf(c, "500 Empty command line.\r\n");
    return;
  }
  cmd = lab_cmd_find(ftp_cmds, verb);
  if (!cmd) {
    lab_warn(c, "unknown command");
    lab_printf(c, "500 Unknown command.\r\n");
    return;
  }
  if (!(cmd->states & FTP_IN(s->state))) {
    lab_printf(c, "530 Please log in with USER and PASS first.\r\n");
    return;
  }
  if (s->nul) {
    lab_warn(c, "NUL byte in %s", cmd->verb);
    if (cmd->states & FTP_PATH_ARG)
      lab_printf(c, "550 Bad file name: NUL bytes are not allowed.\r\n");
    else
      lab_printf(c, "501 NUL bytes are not allowed in commands.\r\n");
    return;
  }
  /* RFC 959: RNTO must come right after RNFR; anything else forgets it. */
  if (cmd->run != ftp_cmd_rnto) s->rnfr[0] = '\0';
  snprintf(s->cmdline, sizeof s->cmdline, "%s%s%s", cmd->verb, *args ? " " : "", args);
  cmd->run(c, s, args);
}

static void ftp_on_overlong(struct lab_conn *c, void *sp) {
  lab_printf(c, "500 Command line too long; closing the connection.\r\n");
}

static void ftp_on_timeout(struct lab_conn *c, void *sp) {
  lab_printf(c, "421 Timeout: no command for too long; closing the connection.\r\n");
}

static void ftp_on_close(struct lab_conn *c, void *sp) {
  struct ftp_session *s = sp;

  free(s->buf);
  s->buf = NULL;
}

const struct lab_module lab_ftp = {
    .name = "ftp",
    .well_known_port = 21,
    .line_max = LIM_FTP_LINE,
    .session_size = sizeof(struct ftp_session),
    .idle_secs = LIM_LAB_IDLE_SECS,
    .on_accept = ftp_on_accept,
    .on_line = ftp_on_line,
    .on_overlong = ftp_on_overlong,
    .on_timeout = ftp_on_timeout,
    .on_close = ftp_on_close,
    .on_data_conn = ftp_on_data_conn,
    .on_data_rx = ftp_on_data_rx,
    .on_data_done = ftp_on_data_done,
};
