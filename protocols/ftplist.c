/* ftplist.c -- the lab FTP server's listings: ls -l lines for LIST and STAT, names for NLST.
 *
 * The wire looks like a small Unix FTP daemon's (the "-rw-r--r-- 1 ftp
 * ftp" form clients parse, RFC 959 leaves LIST's format to the server):
 * dates in UTC, so no time zone setting changes a byte, with the time
 * for files of the last six months and the year otherwise. ls options
 * ("-la") before the path are skipped.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ftp.h"
#include "lab.h"
#include "labdb.h"
#include "mailmsg.h"

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
  return buf_append(&s->payload, line, (size_t)n);
}

/* ls -l's date column, in UTC so no time zone setting changes a byte:
 * the time for recent files, the year for old or future ones. */
static void ftp_ls_date(int64_t mtime, time_t now, char *out, size_t outlen) {
  time_t t = (time_t)mtime;
  struct tm tm;

  gmtime_r(&t, &tm);
  if (mtime > (int64_t)now - FTP_RECENT_SECS && mtime <= (int64_t)now + 3600)
    snprintf(out, outlen, "%s %2d %02d:%02d", mailmsg_months[tm.tm_mon], tm.tm_mday, tm.tm_hour,
             tm.tm_min);
  else
    snprintf(out, outlen, "%s %2d  %04d", mailmsg_months[tm.tm_mon], tm.tm_mday, tm.tm_year + 1900);
}

static const char *ftp_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash && slash[1] ? slash + 1 : path;
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
int ftp_build_listing(struct lab_conn *c, struct ftp_session *s, const char *args, int names_only,
                      char path[FTP_PATH_MAX]) {
  struct ftp_list_arg a = {s, names_only, time(NULL), 0};
  struct db_file f;
  const char *arg = ftp_skip_ls_options(args);
  int rc;

  buf_free(&s->payload);
  buf_init(&s->payload, FTP_TEXT_MAX);

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
    buf_free(&s->payload);
    lab_printf(c, "451 Local error: could not read the directory.\r\n");
    return -1;
  }
  return 0;
}
