/* backup.c -- a consistent copy of a live database, for `portlab backup FILE`.
 *
 * SQLite's online backup API copies every page inside one read transaction
 * on its own connection, so the copy is one moment of the database even
 * while the server keeps writing (WAL: readers never block the writer).
 * A file copy of a live WAL database can miss commits still in the -wal
 * file or catch a page half-written; this cannot. The copy is written
 * beside the target as FILE.part, checked, switched to a rollback journal
 * (one self-contained file) and renamed over FILE, so FILE is either the
 * old backup or the whole new one.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "db_internal.h"

#define BACKUP_BUSY_TIMEOUT_MS 5000
#define BACKUP_BUSY_TRIES 100 /* steps refused as busy before giving up (50 ms apart) */

static int backup_check(sqlite3 *dst, char *err, size_t errlen) {
  sqlite3_stmt *st = NULL;
  int ok = 0;

  if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) goto fail;
  if (sqlite3_prepare_v2(dst, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK) goto fail;
  if (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char *r = sqlite3_column_text(st, 0);
    ok = r && strcmp((const char *)r, "ok") == 0;
  }
  sqlite3_finalize(st);
  if (!ok) snprintf(err, errlen, "the copy failed its integrity check");
  return ok ? 0 : -1;
fail:
  snprintf(err, errlen, "%s", sqlite3_errmsg(dst));
  sqlite3_finalize(st);
  return -1;
}

int db_backup_file(const char *src_path, const char *dest_path, char *err, size_t errlen) {
  sqlite3 *src = NULL, *dst = NULL;
  sqlite3_backup *b = NULL;
  char part[4096];
  struct stat a, b2;
  int rc, tries = 0;

  if (!src_path[0] || strcmp(src_path, ":memory:") == 0) {
    snprintf(err, errlen, "an in-memory database has nothing to back up");
    return -1;
  }
  if (stat(src_path, &a) == 0 && stat(dest_path, &b2) == 0 && a.st_dev == b2.st_dev &&
      a.st_ino == b2.st_ino) {
    snprintf(err, errlen, "%s is the database itself", dest_path);
    return -1;
  }
  if (snprintf(part, sizeof part, "%s.part", dest_path) >= (int)sizeof part) {
    snprintf(err, errlen, "%s: path too long", dest_path);
    return -1;
  }
  if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: %s", src_path, src ? sqlite3_errmsg(src) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(src, BACKUP_BUSY_TIMEOUT_MS);
  unlink(part);
  if (sqlite3_open_v2(part, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
    snprintf(err, errlen, "%s: %s", part, dst ? sqlite3_errmsg(dst) : "out of memory");
    goto fail;
  }
  b = sqlite3_backup_init(dst, "main", src, "main");
  if (!b) {
    snprintf(err, errlen, "%s", sqlite3_errmsg(dst));
    goto fail;
  }
  /* -1: every page in one step, so in one read transaction of the source. */
  while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
    if (++tries == BACKUP_BUSY_TRIES) break;
    sqlite3_sleep(50);
  }
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) {
    snprintf(err, errlen, "%s: %s", src_path,
             rc == SQLITE_NOTADB ? "not a database" : sqlite3_errstr(rc));
    goto fail;
  }
  if (backup_check(dst, err, errlen)) goto fail;
  sqlite3_close(src);
  src = NULL;
  if (sqlite3_close(dst) != SQLITE_OK) {
    snprintf(err, errlen, "%s: cannot close the copy", part);
    dst = NULL;
    goto fail;
  }
  dst = NULL;
  if (rename(part, dest_path) != 0) {
    snprintf(err, errlen, "cannot rename %s to %s", part, dest_path);
    goto fail;
  }
  return 0;

fail:
  sqlite3_close(src);
  sqlite3_close(dst);
  unlink(part);
  return -1;
}
