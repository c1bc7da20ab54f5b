/* labfiles.c -- the lab's virtual files: each account's tree and the public FTP area.
 *
 * Owner 0 is the public anonymous area. Paths are normalised absolute
 * paths that callers resolve with vpath_resolve() first; every entry
 * keeps its parent, so a listing is one indexed lookup, and each write is
 * one statement that checks the parent and the kind of entry itself, so
 * no other writer can slip in between.
 */
#include <string.h>

#include "db_internal.h"
#include "labdb.h"

#define LABDB_PATH_MAX 255

/* A normalised absolute path other than "/": what vpath_resolve() makes
 * (no empty, "." or ".." segments), so every entry has exactly one name.
 * Its parent goes to parent ("/" for top-level entries). */
static int labdb_path_parent(const char *path, char parent[LABDB_PATH_MAX + 1]) {
  size_t n = strlen(path);
  const char *slash;

  if (n < 2 || n > LABDB_PATH_MAX || path[0] != '/' || path[n - 1] == '/' || strstr(path, "//"))
    return -1;
  if (!labdb_text_ok(path, LABDB_PATH_MAX) || strstr(path, "/./") || strstr(path, "/../") ||
      strcmp(path + n - 2, "/.") == 0 || (n >= 3 && strcmp(path + n - 3, "/..") == 0))
    return -1;
  slash = strrchr(path, '/');
  if (slash == path) {
    strcpy(parent, "/");
  } else {
    memcpy(parent, path, (size_t)(slash - path));
    parent[slash - path] = '\0';
  }
  return 0;
}

static int labdb_bad_path(struct db *db) {
  return db_fail_msg(db, 1, "not a normalised lab path");
}

static void labdb_file_row(sqlite3_stmt *st, struct db_file *f) {
  memset(f, 0, sizeof *f);
  db_column_copy(st, 0, f->path, sizeof f->path);
  f->is_dir = sqlite3_column_int(st, 1);
  f->size = (size_t)sqlite3_column_int64(st, 2);
  f->mtime = sqlite3_column_int64(st, 3);
}

DB_ROW_WALK(file, struct db_file, labdb_file_row)
DB_ROW_GET(file, struct db_file, labdb_file_row)

int db_file_stat(struct db *db, int64_t owner, const char *path, struct db_file *out) {
  sqlite3_stmt *st;
  char parent[LABDB_PATH_MAX + 1];

  if (strcmp(path, "/") == 0) {
    if (out) {
      memset(out, 0, sizeof *out);
      strcpy(out->path, "/");
      out->is_dir = 1;
    }
    return 0;
  }
  if (labdb_path_parent(path, parent) != 0) return 1;
  st = db_stmt(db, DB_STMT_FILE_STAT,
               "SELECT path, is_dir, coalesce(length(data), 0), mtime FROM lab_files "
               "WHERE owner = ?1 AND path = ?2");
  return file_get(db, st, DB_ARGS(DB_INT(owner), DB_TEXT(path)), out);
}

/* 1 = dir does not exist or is a file. The callback may call other db
 * functions, but not db_file_list. */
int db_file_list(struct db *db, int64_t owner, const char *dir,
                 int (*cb)(void *arg, const struct db_file *f), void *arg) {
  sqlite3_stmt *st;
  struct db_file f;
  int rc = db_file_stat(db, owner, dir, &f);

  if (rc != 0) return rc;
  if (!f.is_dir) return 1;
  st = db_stmt(db, DB_STMT_FILE_LIST,
               "SELECT path, is_dir, coalesce(length(data), 0), mtime FROM lab_files "
               "WHERE owner = ?1 AND parent = ?2 ORDER BY path");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(owner), DB_TEXT(dir)), file_row,
                      &(struct file_walk){cb, arg});
}

int db_file_read(struct db *db, int64_t owner, const char *path, unsigned char **data,
                 size_t *len) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_FILE_READ,
              "SELECT data FROM lab_files WHERE owner = ?1 AND path = ?2 AND is_dir = 0");
  int rc;

  if ((rc = db_exec_row(db, st, DB_ARGS(DB_INT(owner), DB_TEXT(path)))) != 0) return rc;
  rc = db_column_dup(db, st, 0, data, len);
  db_stmt_release(st);
  return rc;
}

int db_file_write(struct db *db, int64_t owner, const char *path, const void *data, size_t len,
                  int64_t mtime) {
  /* One statement checks the parent, inserts or replaces, and refuses to
   * overwrite a directory, so no other writer can slip in between. */
  sqlite3_stmt *st;
  char parent[LABDB_PATH_MAX + 1];

  if (strcmp(path, "/") == 0) return 1;
  if (labdb_path_parent(path, parent) != 0) return labdb_bad_path(db);
  st =
      db_stmt(db, DB_STMT_FILE_WRITE,
              "INSERT INTO lab_files(owner, path, parent, is_dir, data, mtime) "
              "SELECT ?1, ?2, ?3, 0, ?4, ?5 WHERE ?3 = '/' OR EXISTS ("
              "  SELECT 1 FROM lab_files WHERE owner = ?1 AND path = ?3 AND is_dir = 1) "
              "ON CONFLICT(owner, path) DO UPDATE SET data = excluded.data, mtime = excluded.mtime "
              "  WHERE lab_files.is_dir = 0");
  return db_exec_changed(
      db, st,
      DB_ARGS(DB_INT(owner), DB_TEXT(path), DB_TEXT(parent), DB_BLOB(data, len), DB_INT(mtime)));
}

int db_file_mkdir(struct db *db, int64_t owner, const char *path, int64_t mtime) {
  sqlite3_stmt *st;
  char parent[LABDB_PATH_MAX + 1];

  if (strcmp(path, "/") == 0) return 1;
  if (labdb_path_parent(path, parent) != 0) return labdb_bad_path(db);
  st = db_stmt(db, DB_STMT_FILE_MKDIR,
               "INSERT INTO lab_files(owner, path, parent, is_dir, data, mtime) "
               "SELECT ?1, ?2, ?3, 1, NULL, ?4 WHERE ?3 = '/' OR EXISTS ("
               "  SELECT 1 FROM lab_files WHERE owner = ?1 AND path = ?3 AND is_dir = 1) "
               "ON CONFLICT(owner, path) DO NOTHING");
  return db_exec_changed(db, st,
                         DB_ARGS(DB_INT(owner), DB_TEXT(path), DB_TEXT(parent), DB_INT(mtime)));
}

int db_file_remove(struct db *db, int64_t owner, const char *path, int is_dir) {
  sqlite3_stmt *st;

  if (strcmp(path, "/") == 0) return 1;
  if (is_dir)
    st = db_stmt(db, DB_STMT_FILE_REMOVE_DIR,
                 "DELETE FROM lab_files WHERE owner = ?1 AND path = ?2 AND is_dir = 1 "
                 "AND NOT EXISTS (SELECT 1 FROM lab_files c WHERE c.owner = ?1 AND c.parent = ?2)");
  else
    st = db_stmt(db, DB_STMT_FILE_REMOVE_FILE,
                 "DELETE FROM lab_files WHERE owner = ?1 AND path = ?2 AND is_dir = 0");
  return db_exec_changed(db, st, DB_ARGS(DB_INT(owner), DB_TEXT(path)));
}

int db_file_usage(struct db *db, int64_t owner, int64_t *bytes) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_FILE_USAGE,
              "SELECT coalesce(sum(length(data)), 0) FROM lab_files WHERE owner = ?1");

  return db_exec_int(db, st, DB_ARGS(DB_INT(owner)), bytes) == 0 ? 0 : -1;
}

int db_file_count(struct db *db, int64_t owner, int64_t *n) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_FILE_COUNT, "SELECT count(*) FROM lab_files WHERE owner = ?1");

  return db_exec_int(db, st, DB_ARGS(DB_INT(owner)), n) == 0 ? 0 : -1;
}
