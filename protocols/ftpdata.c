/* ftpdata.c -- the lab FTP server's data transfers: channels, RETR, STOR, LIST, uploads.
 *
 * The data channel commands of RFC 959 and RFC 2428 (PASV, EPSV, PORT,
 * EPRT, ABOR) and the transfer commands (RETR, STOR, LIST, NLST), with
 * TYPE A conversion both ways (RFC 959 section 3.1.1.1) and REST STREAM
 * for RETR (RFC 3659). A transfer goes IDLE -> WAIT (the command was
 * accepted, the data connection is not up yet) -> SEND or RECV -> IDLE,
 * and every step goes through ftp_set_xfer().
 *
 * The data connection itself (listening, connecting, timing out) belongs
 * to lab.c. This file decides where it may go: PORT/EPRT only to the
 * control peer's own address and a port above 1023 (RFC 2577's bounce
 * attack). Through the browser relay the control peer is this host
 * itself, so there PORT/EPRT are refused outright and only passive mode
 * works. Uploads are held to the file cap and the account quota as they
 * arrive, and again when stored.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "ftp.h"
#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"
#include "portlab_limits.h"

/* The one place the transfer state changes. Leaving a transfer drops its
 * buffer and the data channel: every transfer needs a fresh PASV or PORT,
 * as with every other FTP server. */
void ftp_set_xfer(struct ftp_session *s, enum ftp_xfer x) {
  s->xfer = x;
  if (x == FTP_X_IDLE) {
    buf_free(&s->payload);
    s->cr_pending = 0;
    s->chan = FTP_CHAN_NONE;
    s->rest = 0;
  }
}

/* --- small helpers ------------------------------------------------------- */

/* TYPE A on the way out: a bare LF becomes CR LF (RFC 959 section 3.1.1.1).
 * A CR LF already in the file is left alone so text stored with Windows
 * line ends does not gain a second CR. Returns a malloc'd copy. */
unsigned char *ftp_to_ascii(const unsigned char *p, size_t n, size_t *out_len) {
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

/* Parses a decimal number in [0, max] that ends at a non-digit, which
 * goes to *end. -1 if there are no digits or the value is too big. */
int ftp_parse_num(const char *p, const char **end, int64_t max, int64_t *out) {
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

/* --- the data channel ------------------------------------------------------ */

/* Drops whatever data channel is set up, before a new one replaces it. */
void ftp_chan_drop(struct lab_conn *c, struct ftp_session *s) {
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
int ftp_check_chan(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (ftp_refuse_busy(c, s)) return -1;
  if (s->chan == FTP_CHAN_NONE) {
    lab_printf(c, "425 No data channel: send PASV or PORT first.\r\n");
    return -1;
  }
  return 0;
}

/* An upload needs both. */
int ftp_check_stor(struct lab_conn *c, void *sp, char *args) {
  if (ftp_check_writable(c, sp, args) != 0) return -1;
  return ftp_check_chan(c, sp, args);
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
                 s->ascii ? "ASCII" : "BINARY", s->target, buf_len(&s->payload));
      break;
    case FTP_JOB_STOR:
      lab_printf(c, "150 Ready for %s: send the data, then close the data connection.\r\n",
                 s->target);
      ftp_set_xfer(s, FTP_X_RECV);
      return;
  }
  ftp_set_xfer(s, FTP_X_SEND);
  if (buf_len(&s->payload)) lab_data_send(c, buf_head(&s->payload), buf_len(&s->payload));
  buf_free(&s->payload);
  /* May report on_data_done at once (the memory backend does): the state
   * above is already final. */
  lab_data_close(c);
}

/* A transfer command passed its checks; the payload (for LIST, NLST and
 * RETR) is in s->payload. Starts now if the data connection is up, else when
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

void ftp_on_data_conn(struct lab_conn *c, void *sp, int ok) {
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
int ftp_refuse_entries(struct lab_conn *c, struct ftp_session *s, const char *what) {
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
    if (buf_append(&s->payload, "\r", 1) != 0) goto over;
  }
  rc = db_file_stat(db, s->owner, s->target, &old);
  if (rc < 0 || db_file_usage(db, s->owner, &usage) != 0) goto db_error;
  if (rc == 0 && !old.is_dir) old_size = (int64_t)old.size;
  /* A new file is a new entry; another session may have used the last. */
  if (rc == 1 && (rc = ftp_refuse_entries(c, s, "Upload")) != 0) {
    if (rc < 0) goto db_error;
    return;
  }
  if (usage - old_size + (int64_t)buf_len(&s->payload) > LIM_FTP_QUOTA_BYTES) {
    s->over_quota = 1;
    goto over;
  }
  rc = db_file_write(db, s->owner, s->target,
                     buf_len(&s->payload) ? (const void *)buf_head(&s->payload) : "",
                     buf_len(&s->payload), (int64_t)time(NULL));
  if (rc < 0) goto db_error;
  if (rc == 1) {
    lab_printf(c, "553 Could not store %s: its directory is gone or the name is a directory.\r\n",
               s->target);
    return;
  }
  lab_printf(c, "226 Transfer complete: %zu bytes stored in %s.\r\n", buf_len(&s->payload),
             s->target);
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

void ftp_on_data_done(struct lab_conn *c, void *sp, int ok) {
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
void ftp_on_data_rx(struct lab_conn *c, void *sp, const unsigned char *p, size_t n) {
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
    rc = buf_append(&s->payload, p, n);
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
      rc = buf_append(&s->payload, chunk, o);
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

/* LIST, and NLST: the names alone. */
void ftp_cmd_list(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  int names_only = strcmp(lab_cmd_current(c)->verb, "NLST") == 0;
  char path[FTP_PATH_MAX];

  if (ftp_build_listing(c, s, args, names_only, path) != 0) return;
  ftp_xfer_begin(c, s, names_only ? FTP_JOB_NLST : FTP_JOB_LIST);
}

void ftp_cmd_retr(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX];
  unsigned char *data = NULL, *conv;
  size_t len = 0, conv_len;
  int rc;

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
  /* The payload is held to the file's own size. */
  buf_free(&s->payload);
  buf_init(&s->payload, len);
  if (buf_append(&s->payload, data, len) != 0) {
    free(data);
    lab_printf(c, "451 Local error: out of memory.\r\n");
    return;
  }
  free(data);
  snprintf(s->target, sizeof s->target, "%s", path);
  ftp_xfer_begin(c, s, FTP_JOB_RETR);
}

void ftp_cmd_stor(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  struct db *db = ftp_db(c);
  char path[FTP_PATH_MAX], parent[FTP_PATH_MAX];
  struct db_file f;
  int64_t usage = 0, old_size = 0, room;
  int rc;

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
  buf_free(&s->payload);
  buf_init(&s->payload, s->allowance); /* the upload grows up to this */
  snprintf(s->target, sizeof s->target, "%s", path);
  ftp_xfer_begin(c, s, FTP_JOB_STOR);
  return;

db_error:
  lab_printf(c, "451 Local error: could not check the directory.\r\n");
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

void ftp_cmd_pasv(struct lab_conn *c, void *sp, char *args) {
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

void ftp_cmd_epsv(struct lab_conn *c, void *sp, char *args) {
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

void ftp_cmd_port(struct lab_conn *c, void *sp, char *args) {
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
void ftp_cmd_eprt(struct lab_conn *c, void *sp, char *args) {
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

void ftp_cmd_abor(struct lab_conn *c, void *sp, char *args) {
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
