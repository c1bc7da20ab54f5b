/* ftp.c -- the built-in lab FTP server: the control connection and its commands.
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
 * This file is the control connection: login, the session, directory and
 * file commands, the command table and the module's callbacks. The data
 * channel commands and the transfers (and where PORT/EPRT may send the
 * server: RFC 2577) are in ftpdata.c, the listing format in ftplist.c;
 * ftp.h is what the three share.
 */
#include "ftp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"
#include "portlab_limits.h"

static void ftp_set_state(struct ftp_session *s, enum ftp_state st) {
  s->state = st;
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

/* Resolves a path argument against the working directory. */
int ftp_resolve(struct ftp_session *s, const char *arg, char out[FTP_PATH_MAX]) {
  if (s->nul) return -1;
  return vpath_resolve(s->cwd, arg, out, FTP_PATH_MAX);
}

/* The public area is for reading: every change there gets 550. A
 * command table check. */
int ftp_check_writable(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (!s->anonymous) return 0;
  lab_printf(c, "550 Permission denied: the anonymous area is read-only.\r\n");
  return -1;
}

/* --- login ------------------------------------------------------------------- */

static int ftp_is_anonymous_name(const char *name) {
  return strcasecmp(name, "anonymous") == 0 || strcasecmp(name, "ftp") == 0;
}

static int ftp_check_user(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

  if (s->state != FTP_ST_LOGGED) return 0;
  lab_printf(c, "530 Already logged in; QUIT and reconnect to change user.\r\n");
  return -1;
}

static void ftp_cmd_user(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;

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

/* RMD (dir) and DELE: one removal, each in its own words. */
static void ftp_remove(struct lab_conn *c, struct ftp_session *s, const char *args, int dir) {
  char path[FTP_PATH_MAX];
  int rc;

  if (ftp_resolve(s, args, path) != 0 || (dir && strcmp(path, "/") == 0)) {
    lab_printf(c, dir ? "550 Could not remove that directory.\r\n" : "550 No such file.\r\n");
    return;
  }
  rc = db_file_remove(ftp_db(c), s->owner, path, dir);
  if (rc < 0)
    lab_printf(c, dir ? "451 Local error: the directory was not removed.\r\n"
                      : "451 Local error: the file was not deleted.\r\n");
  else if (rc == 1)
    lab_printf(c,
               dir ? "550 Could not remove %s: no such directory, or it is not empty.\r\n"
                   : "550 Could not delete %s: no such file (RMD removes directories).\r\n",
               path);
  else
    lab_printf(c, dir ? "250 Directory %s removed.\r\n" : "250 Deleted %s.\r\n", path);
}

static void ftp_cmd_rmd(struct lab_conn *c, void *sp, char *args) {
  ftp_remove(c, sp, args, 1);
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

static void ftp_cmd_dele(struct lab_conn *c, void *sp, char *args) {
  ftp_remove(c, sp, args, 0);
}

static void ftp_cmd_rnfr(struct lab_conn *c, void *sp, char *args) {
  struct ftp_session *s = sp;
  char path[FTP_PATH_MAX];
  struct db_file f;

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

/* --- the command table -------------------------------------------------------- */

static const struct lab_cmd ftp_cmds[] = {
    {"USER", FTP_ANY, ftp_cmd_user, LAB_ARGS_REQ, "USER needs a user name", ftp_check_user},
    {"PASS", FTP_ANY, ftp_cmd_pass, LAB_ARGS_ANY, NULL, NULL},
    {"QUIT", FTP_ANY, ftp_cmd_quit, LAB_ARGS_ANY, NULL, NULL},
    {"NOOP", FTP_ANY, ftp_cmd_noop, LAB_ARGS_ANY, NULL, NULL},
    {"SYST", FTP_ANY, ftp_cmd_syst, LAB_ARGS_ANY, NULL, NULL},
    {"FEAT", FTP_ANY, ftp_cmd_feat, LAB_ARGS_ANY, NULL, NULL},
    {"OPTS", FTP_ANY, ftp_cmd_opts, LAB_ARGS_ANY, NULL, NULL},
    {"HELP", FTP_ANY, ftp_cmd_help, LAB_ARGS_ANY, NULL, NULL},
    {"AUTH", FTP_ANY, ftp_cmd_auth, LAB_ARGS_ANY, NULL, NULL},
    {"PWD", FTP_AUTHED, ftp_cmd_pwd, LAB_ARGS_ANY, NULL, NULL},
    {"XPWD", FTP_AUTHED, ftp_cmd_pwd, LAB_ARGS_ANY, NULL, NULL},
    {"CWD", FTP_AUTHED, ftp_cmd_cwd, FTP_PATH_REQ, "CWD needs a directory name", NULL},
    {"XCWD", FTP_AUTHED, ftp_cmd_cwd, FTP_PATH_REQ, "CWD needs a directory name", NULL},
    {"CDUP", FTP_AUTHED, ftp_cmd_cdup, LAB_ARGS_ANY, NULL, NULL},
    {"XCUP", FTP_AUTHED, ftp_cmd_cdup, LAB_ARGS_ANY, NULL, NULL},
    {"TYPE", FTP_AUTHED, ftp_cmd_type, LAB_ARGS_ANY, NULL, NULL},
    {"MODE", FTP_AUTHED, ftp_cmd_mode, LAB_ARGS_ANY, NULL, NULL},
    {"STRU", FTP_AUTHED, ftp_cmd_stru, LAB_ARGS_ANY, NULL, NULL},
    {"ALLO", FTP_AUTHED, ftp_cmd_allo, LAB_ARGS_ANY, NULL, NULL},
    {"PASV", FTP_AUTHED, ftp_cmd_pasv, LAB_ARGS_ANY, NULL, NULL},
    {"EPSV", FTP_AUTHED, ftp_cmd_epsv, LAB_ARGS_ANY, NULL, NULL},
    {"PORT", FTP_AUTHED, ftp_cmd_port, LAB_ARGS_ANY, NULL, NULL},
    {"EPRT", FTP_AUTHED, ftp_cmd_eprt, LAB_ARGS_ANY, NULL, NULL},
    {"LIST", FTP_AUTHED, ftp_cmd_list, FTP_PATH, NULL, ftp_check_chan},
    {"NLST", FTP_AUTHED, ftp_cmd_list, FTP_PATH, NULL, ftp_check_chan},
    {"RETR", FTP_AUTHED, ftp_cmd_retr, FTP_PATH_REQ, "RETR needs a file name", ftp_check_chan},
    {"STOR", FTP_AUTHED, ftp_cmd_stor, FTP_PATH_REQ, "STOR needs a file name", ftp_check_stor},
    {"DELE", FTP_AUTHED, ftp_cmd_dele, FTP_PATH_REQ, "DELE needs a file name", ftp_check_writable},
    {"MKD", FTP_AUTHED, ftp_cmd_mkd, FTP_PATH_REQ, "MKD needs a directory name",
     ftp_check_writable},
    {"XMKD", FTP_AUTHED, ftp_cmd_mkd, FTP_PATH_REQ, "MKD needs a directory name",
     ftp_check_writable},
    {"RMD", FTP_AUTHED, ftp_cmd_rmd, FTP_PATH_REQ, "RMD needs a directory name",
     ftp_check_writable},
    {"XRMD", FTP_AUTHED, ftp_cmd_rmd, FTP_PATH_REQ, "RMD needs a directory name",
     ftp_check_writable},
    {"RNFR", FTP_AUTHED, ftp_cmd_rnfr, FTP_PATH, NULL, ftp_check_writable},
    {"RNTO", FTP_AUTHED, ftp_cmd_rnto, FTP_PATH, NULL, NULL},
    {"SIZE", FTP_AUTHED, ftp_cmd_size, FTP_PATH, NULL, NULL},
    {"MDTM", FTP_AUTHED, ftp_cmd_mdtm, FTP_PATH, NULL, NULL},
    {"STAT", FTP_AUTHED, ftp_cmd_stat, FTP_PATH, NULL, NULL},
    {"REST", FTP_AUTHED, ftp_cmd_rest, LAB_ARGS_ANY, NULL, NULL},
    {"ABOR", FTP_AUTHED, ftp_cmd_abor, LAB_ARGS_ANY, NULL, NULL},
    {"ACCT", FTP_ANY, ftp_cmd_unimpl, LAB_ARGS_ANY, NULL, NULL},
    {"SMNT", FTP_AUTHED, ftp_cmd_unimpl, LAB_ARGS_ANY, NULL, NULL},
    {"REIN", FTP_AUTHED, ftp_cmd_unimpl, LAB_ARGS_ANY, NULL, NULL},
    {"STOU", FTP_AUTHED, ftp_cmd_unimpl, LAB_ARGS_ANY, NULL, NULL},
    {"APPE", FTP_AUTHED, ftp_cmd_unimpl, LAB_ARGS_ANY, NULL, NULL},
    {"SITE", FTP_AUTHED, ftp_cmd_unimpl, LAB_ARGS_ANY, NULL, NULL},
    {"PBSZ", FTP_ANY, ftp_cmd_pbsz, LAB_ARGS_ANY, NULL, NULL},
    {"PROT", FTP_ANY, ftp_cmd_prot, LAB_ARGS_ANY, NULL, NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static void ftp_refuse(struct lab_conn *c, void *sp, enum lab_refusal why, const char *verb,
                       const struct lab_cmd *row) {
  switch (why) {
    case LAB_REFUSE_EMPTY:
      lab_printf(c, "500 Empty command line.\r\n");
      break;
    case LAB_REFUSE_UNKNOWN:
      lab_warn(c, "unknown command");
      lab_printf(c, "500 Unknown command.\r\n");
      break;
    case LAB_REFUSE_STATE:
      lab_printf(c, "530 Please log in with USER and PASS first.\r\n");
      break;
    case LAB_REFUSE_NUL:
      lab_warn(c, "NUL byte in %s", row->verb);
      if (row->args & LAB_ARGS_PATH)
        lab_printf(c, "550 Bad file name: NUL bytes are not allowed.\r\n");
      else
        lab_printf(c, "501 NUL bytes are not allowed in commands.\r\n");
      break;
    case LAB_REFUSE_ARGS:
      lab_printf(c, "501 %s.\r\n", row->usage);
      break;
  }
}

/* Every command that passed the state and NUL checks: RNTO must come
 * right after RNFR (RFC 959), anything else forgets it; and the command
 * is kept to name a data connection's transcript. */
static void ftp_admit(struct lab_conn *c, void *sp, const struct lab_cmd *row, const char *args) {
  struct ftp_session *s = sp;

  if (row->run != ftp_cmd_rnto) s->rnfr[0] = '\0';
  snprintf(s->cmdline, sizeof s->cmdline, "%s%s%s", row->verb, *args ? " " : "", args);
}

static const struct lab_cmd_set ftp_commands = {ftp_cmds, 0, ftp_refuse, ftp_admit};

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
  if (buf_len(&s->payload)) lab_send(c, buf_head(&s->payload), buf_len(&s->payload));
  lab_printf(c, "213 End of status.\r\n");
  buf_free(&s->payload);
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
  char *start = ftp_skip_telnet(line);

  s->nul = strlen(line) != len;
  lab_cmd_dispatch(c, s, &ftp_commands, (int)s->state, start, len - (size_t)(start - line));
}

static void ftp_on_overlong(struct lab_conn *c, void *sp) {
  lab_printf(c, "500 Command line too long; closing the connection.\r\n");
}

static void ftp_on_timeout(struct lab_conn *c, void *sp) {
  lab_printf(c, "421 Timeout: no command for too long; closing the connection.\r\n");
}

static void ftp_on_close(struct lab_conn *c, void *sp) {
  struct ftp_session *s = sp;

  buf_free(&s->payload);
}

const struct lab_module lab_ftp = {
    .name = "ftp",
    .line_max = LIM_FTP_LINE,
    .session_size = sizeof(struct ftp_session),
    .on_accept = ftp_on_accept,
    .on_line = ftp_on_line,
    .on_overlong = ftp_on_overlong,
    .on_timeout = ftp_on_timeout,
    .on_close = ftp_on_close,
    .on_data_conn = ftp_on_data_conn,
    .on_data_rx = ftp_on_data_rx,
    .on_data_done = ftp_on_data_done,
};
