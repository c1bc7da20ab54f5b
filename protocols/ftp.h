/* ftp.h -- what the lab FTP server's three files share (protocols/ only).
 *
 * ftp.c is the control connection (login, the session, directory and file
 * commands, the command table), ftpdata.c the data transfers (the data
 * channel commands, RETR, STOR, LIST, NLST, uploads stored), ftplist.c
 * the listing format (ls -l lines, NLST names). One struct ftp_session
 * per control connection, owned by the lab framework.
 */
#ifndef PORTLAB_FTP_H
#define PORTLAB_FTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lab.h"
#include "portlab_limits.h"

struct db;

#define FTP_PATH_MAX 256                   /* struct db_file's path, NUL included */
#define FTP_LIST_DIR_SIZE 4096             /* the size ls shows for a directory */
#define FTP_RECENT_SECS (182L * 24 * 3600) /* ls prints the time, not the year, within this */

enum ftp_state { FTP_ST_USER = 0, FTP_ST_PASS, FTP_ST_LOGGED };
#define FTP_ANY (LAB_IN(FTP_ST_USER) | LAB_IN(FTP_ST_PASS) | LAB_IN(FTP_ST_LOGGED))
#define FTP_AUTHED LAB_IN(FTP_ST_LOGGED)
/* A path argument, possibly empty: a NUL byte in it is a bad file name
 * (550); anywhere else it is bad syntax (501). */
#define FTP_PATH LAB_ARGS_PATH
/* A path argument that must be there. */
#define FTP_PATH_REQ (LAB_ARGS_REQ | LAB_ARGS_PATH)

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
  /* The payload to send (a file for RETR, a listing), or the upload so
   * far; its limit is set by whoever fills it: the file, FTP_TEXT_MAX, or
   * the upload's allowance. Empty while no transfer runs. */
  struct buf payload;
  size_t allowance;          /* the upload may grow to this many bytes */
  int over_quota;            /* the allowance is the account quota, not the file cap */
  int cr_pending;            /* TYPE A upload: a CR ended the last chunk */
  char target[FTP_PATH_MAX]; /* the file being retrieved or stored */
  int pbsz;                  /* PBSZ given under TLS: PROT may follow (RFC 4217 section 9) */
  char cmdline[128];         /* the command being run, as the client sent it (cut) */
};

/* An upper bound for buffers that hold text we generate ourselves
 * (listings): the quota bounds what an account can hold, and a listing
 * line is a few dozen bytes per stored name. */
#define FTP_TEXT_MAX ((size_t)LIM_LAB_OUT_BYTES)

static inline struct db *ftp_db(struct lab_conn *c) {
  return lab_conn_ctx(c)->db;
}

/* --- ftp.c ---------------------------------------------------------------- */

/* Resolves a path argument against the working directory; -1 if it
 * leaves the tree or the line held a NUL. */
int ftp_resolve(struct ftp_session *s, const char *arg, char out[FTP_PATH_MAX]);
/* Command table check: the anonymous area is read-only (550). */
int ftp_check_writable(struct lab_conn *c, void *sp, char *args);

/* --- ftpdata.c: the data channel and transfers ------------------------------ */

/* The one place the transfer state changes; IDLE drops the buffer and
 * the data channel (every transfer needs a fresh PASV or PORT). */
void ftp_set_xfer(struct ftp_session *s, enum ftp_xfer x);
/* TYPE A on the way out: a bare LF becomes CR LF. A malloc'd copy. */
unsigned char *ftp_to_ascii(const unsigned char *p, size_t n, size_t *out_len);
/* A decimal number in [0, max] ending at a non-digit (*end); -1 if none or too big. */
int ftp_parse_num(const char *p, const char **end, int64_t max, int64_t *out);
/* Drops whatever data channel is set up. */
void ftp_chan_drop(struct lab_conn *c, struct ftp_session *s);
/* Command table checks: a data channel is ready (425/503), and for STOR
 * also not anonymous. */
int ftp_check_chan(struct lab_conn *c, void *sp, char *args);
int ftp_check_stor(struct lab_conn *c, void *sp, char *args);
/* The entry cap: 0 = room for one more; 1 = full, 552 sent; -1 = db error. */
int ftp_refuse_entries(struct lab_conn *c, struct ftp_session *s, const char *what);
/* The module's data channel callbacks (struct lab_module). */
void ftp_on_data_conn(struct lab_conn *c, void *sp, int ok);
void ftp_on_data_done(struct lab_conn *c, void *sp, int ok);
void ftp_on_data_rx(struct lab_conn *c, void *sp, const unsigned char *p, size_t n);
/* The transfer and data channel commands (rows of ftp.c's table). */
void ftp_cmd_list(struct lab_conn *c, void *sp, char *args); /* LIST and NLST */
void ftp_cmd_retr(struct lab_conn *c, void *sp, char *args);
void ftp_cmd_stor(struct lab_conn *c, void *sp, char *args);
void ftp_cmd_pasv(struct lab_conn *c, void *sp, char *args);
void ftp_cmd_epsv(struct lab_conn *c, void *sp, char *args);
void ftp_cmd_port(struct lab_conn *c, void *sp, char *args);
void ftp_cmd_eprt(struct lab_conn *c, void *sp, char *args);
void ftp_cmd_abor(struct lab_conn *c, void *sp, char *args);

/* --- ftplist.c: listings ----------------------------------------------------- */

/* Builds the listing of args (a directory or one file, after ls options)
 * into s->payload. 0, or -1 with the error already sent. */
int ftp_build_listing(struct lab_conn *c, struct ftp_session *s, const char *args, int names_only,
                      char path[FTP_PATH_MAX]);

#endif
