/* db_internal.h -- what the files of db/ share and nothing else may see.
 *
 * The struct db layout, the table of cached prepared statements and the
 * small helpers every query uses. Each statement slot belongs to exactly one
 * function, which passes its SQL to db_stmt(); the statement is prepared on
 * first use and reused for the life of the connection.
 */
#ifndef PORTLAB_DB_INTERNAL_H
#define PORTLAB_DB_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>

#include "db.h"

enum db_stmt_id {
  DB_STMT_BEGIN,
  DB_STMT_COMMIT,
  DB_STMT_ROLLBACK,
  DB_STMT_SAVEPOINT,
  DB_STMT_RELEASE,
  DB_STMT_ROLLBACK_TO,
  DB_STMT_SCHEMA_VERSION,
  DB_STMT_SETTING_GET,
  DB_STMT_SETTING_SET,
  DB_STMT_USER_CREATE,
  DB_STMT_USER_BY_NAME,
  DB_STMT_USER_BY_ID,
  DB_STMT_USER_COUNT_ACTIVE,
  DB_STMT_LOGIN_CREATE,
  DB_STMT_LOGIN_LOOKUP,
  DB_STMT_LOGIN_DELETE,
  DB_STMT_LOGIN_PURGE,
  DB_STMT_LOGIN_TRIM,
  DB_STMT_SESSION_CREATE,
  DB_STMT_SESSION_FINISH,
  DB_STMT_SESSION_SET_USER,
  DB_STMT_SESSION_SET_LABEL,
  DB_STMT_FIRST_TEACHER,
  DB_STMT_SESSION_ORPHANS,
  DB_STMT_SESSION_GET,
  DB_STMT_SESSION_LIST_ALL,
  DB_STMT_SESSION_LIST_USER,
  DB_STMT_SESSION_PAGE_ALL,
  DB_STMT_SESSION_PAGE_USER,
  DB_STMT_EVENT_INSERT,
  DB_STMT_EVENT_USAGE,
  DB_STMT_EVENT_LIST,
  DB_STMT_EVENT_PAGE,
  DB_STMT_EVENT_LAST_SEQ,
  /* usage.c */
  DB_STMT_USAGE_GET,
  DB_STMT_USAGE_REFUSED,
  DB_STMT_USAGE_TOTAL,
  DB_STMT_USAGE_LIST,
  /* the lab tables (labdb.c, labaccounts.c, labmail.c, labfiles.c) */
  DB_STMT_LAB_SAVEPOINT,
  DB_STMT_LAB_RELEASE,
  DB_STMT_LAB_ROLLBACK_TO,
  DB_STMT_LAB_CLAIM_SEED,
  DB_STMT_MAILBOX_VALIDITY,
  DB_STMT_MAILBOX_INSERT,
  DB_STMT_MAILBOX_DELETE,
  DB_STMT_MAILBOX_GET,
  DB_STMT_MAILBOX_LIST,
  DB_STMT_MAILBOX_FAMILY,
  DB_STMT_MAILBOX_INFERIOR,
  DB_STMT_MAILBOX_RENAME,
  DB_STMT_MAIL_REHOME,
  DB_STMT_MAIL_NEXT_UID,
  DB_STMT_MAIL_INSERT,
  DB_STMT_MAIL_LIST,
  DB_STMT_MAIL_GET,
  DB_STMT_MAIL_SET_FLAGS,
  DB_STMT_MAIL_DELETE,
  DB_STMT_MAIL_COPY,
  DB_STMT_MAIL_USAGE,
  DB_STMT_FILE_STAT,
  DB_STMT_FILE_LIST,
  DB_STMT_FILE_READ,
  DB_STMT_FILE_WRITE,
  DB_STMT_FILE_MKDIR,
  DB_STMT_FILE_REMOVE_FILE,
  DB_STMT_FILE_REMOVE_DIR,
  DB_STMT_FILE_USAGE,
  DB_STMT_FILE_COUNT,
  /* progress.c */
  DB_STMT_LAB_EVENT_ADD,
  DB_STMT_LAB_EVENT_FIND,
  DB_STMT_LAB_EVENT_TRIM,
  DB_STMT_PROGRESS_ATTEMPT,
  DB_STMT_PROGRESS_LIST,
  DB_STMT_PROGRESS_HINT,
  /* quizdb.c */
  DB_STMT_QUIZ_TEST_CREATE,
  DB_STMT_QUIZ_TEST_GET,
  DB_STMT_QUIZ_TEST_UPDATE,
  DB_STMT_QUIZ_TEST_LIST,
  DB_STMT_QUIZ_ATTEMPT_CREATE,
  DB_STMT_QUIZ_ATTEMPT_GET,
  DB_STMT_QUIZ_ATTEMPT_FINISH,
  DB_STMT_QUIZ_ATTEMPT_LIVE,
  DB_STMT_QUIZ_ATTEMPT_COUNT,
  DB_STMT_QUIZ_ATTEMPT_LIST,
  DB_STMT_QUIZ_ATTEMPT_TRIM,
  DB_STMT_QUIZ_ATTEMPT_RUNNING,
  DB_STMT_QUIZ_ATTEMPT_END_ALL,
  DB_STMT_QUIZ_BEST_LIST,
  DB_STMT_QUIZ_QUESTION_ADD,
  DB_STMT_QUIZ_QUESTION_GET,
  DB_STMT_QUIZ_QUESTION_CURRENT,
  DB_STMT_QUIZ_QUESTION_SHOWN,
  DB_STMT_QUIZ_QUESTION_ANSWER,
  DB_STMT_QUIZ_QUESTION_LIST,
  DB_STMT_QUIZ_FACT_GET,
  DB_STMT_QUIZ_FACT_SET,
  DB_STMT_QUIZ_FACT_LIST,
  DB_STMT_QUIZ_DUE_COUNT,
  DB_STMT_QUIZ_WEAKEST,
  DB_STMT_QUIZ_RESULTS_STUDENTS,
  DB_STMT_QUIZ_RESULTS_QUESTIONS,
  /* class.c */
  DB_STMT_ROSTER_LIST,
  DB_STMT_ROSTER_GET,
  DB_STMT_USER_SEEN,
  DB_STMT_USER_REMOVED,
  DB_STMT_USER_REMOVE,
  DB_STMT_USER_SET_REJOIN,
  DB_STMT_LOGIN_DELETE_USER,
  DB_STMT_PURGE_SESSIONS,
  DB_STMT_PURGE_USAGE,
  DB_STMT_CLEAR_MAILBOXES,
  DB_STMT_CLEAR_FILES,
  DB_STMT_CLEAR_SEEDED,
  DB_STMT_REFUSAL_MERGE,
  DB_STMT_REFUSAL_INSERT,
  DB_STMT_REFUSAL_TRIM,
  DB_STMT_REFUSAL_LIST,
  DB_STMT_AUDIT_ADD,
  DB_STMT_AUDIT_LIST,
  /* TLS sessions (sessions.c) */
  DB_STMT_SESSION_SET_TLS,
  DB_STMT_KEYLOG_ADD,
  DB_STMT_KEYLOG_GET,
  /* tlsdb.c */
  DB_STMT_LAB_TLS_GET,
  DB_STMT_LAB_TLS_PUT,
  DB_STMT_COUNT
};

struct db {
  sqlite3 *conn;
  sqlite3_stmt *stmt[DB_STMT_COUNT];
  /* Copied at the moment of failure: a later rollback would overwrite
   * sqlite3_errmsg() with its own, less useful, message. */
  char errmsg[256];
  int err_permanent;
  /* labdb savepoints open (labdb.c), and whether the outermost began the
   * transaction they sit in (then its release commits). */
  int lab_depth, lab_began;
};

/* The cached statement for id, reset and with no bindings, or NULL with
 * the error recorded. sql is only read the first time. */
sqlite3_stmt *db_stmt(struct db *db, enum db_stmt_id id, const char *sql);
/* Resets st so it holds no read snapshot or lock between calls. NULL is a
 * no-op. */
void db_stmt_release(sqlite3_stmt *st);
/* Records the connection's current error; returns -1. */
int db_fail(struct db *db);
/* Records an error found by db/ itself (bad argument, value too long). */
int db_fail_msg(struct db *db, int permanent, const char *msg);
/* Copies a text column into dst (NULL reads as ""). Returns 0, or 1 if it
 * was truncated to fit. */
int db_column_copy(sqlite3_stmt *st, int col, char *dst, size_t dstlen);
/* Steps a statement that returns no rows, then releases it. 0 or -1. */
int db_step_done(struct db *db, sqlite3_stmt *st);
/* The bind-step-release tails every query repeats. One step of a query
 * that answers at most one row: 0 with the row to read (the caller reads
 * it, then releases st), 1 when there is none, -1 on an error (recorded);
 * st is released unless 0. */
int db_step_row(struct db *db, sqlite3_stmt *st);
/* Records the connection's error and releases st (a failed bind or step);
 * returns -1. */
int db_fail_release(struct db *db, sqlite3_stmt *st);

/* bind.c: a statement's parameters as one list, bound in order from ?1:
 *   db_exec_changed(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(name)))
 * Text and blobs are bound SQLITE_STATIC: they must outlive the step. */
struct db_arg {
  enum db_arg_kind { DB_ARG_END = 0, DB_ARG_INT, DB_ARG_TEXT, DB_ARG_BLOB } kind;
  int64_t i;
  const void *p; /* TEXT: NUL-terminated; BLOB: n bytes (NULL when n is 0) */
  size_t n;
};
#define DB_INT(v) ((struct db_arg){DB_ARG_INT, (int64_t)(v), NULL, 0})
#define DB_TEXT(s) ((struct db_arg){DB_ARG_TEXT, 0, (s), 0})
#define DB_BLOB(ptr, len) ((struct db_arg){DB_ARG_BLOB, 0, (ptr), (len)})
#define DB_ARGS(...) ((const struct db_arg[]){__VA_ARGS__, {DB_ARG_END, 0, NULL, 0}})
/* Each takes st as db_stmt() gave it (NULL: -1, the error already
 * recorded), and on any failure records the error and releases st.
 * Binds args: 0, or -1. */
int db_bind_args(struct db *db, sqlite3_stmt *st, const struct db_arg *args);
/* Binds and steps a write, then releases: 0 or -1. */
int db_exec_done(struct db *db, sqlite3_stmt *st, const struct db_arg *args);
/* The same, and says whether it touched a row: 0 yes, 1 no, -1 error. */
int db_exec_changed(struct db *db, sqlite3_stmt *st, const struct db_arg *args);
/* Binds and steps a query that answers at most one row: as db_step_row
 * (0 with the row to read, then the caller releases st; 1 none; -1). */
int db_exec_row(struct db *db, sqlite3_stmt *st, const struct db_arg *args);
/* One row's first column as an integer, st released: 0, 1 none, or -1. */
int db_exec_int(struct db *db, sqlite3_stmt *st, const struct db_arg *args, int64_t *out);

/* Binds and steps an INSERT, then releases; *id_out, if given, gets the
 * new row's id. 0 or -1. */
int db_exec_insert(struct db *db, sqlite3_stmt *st, const struct db_arg *args, int64_t *id_out);
/* Binds and walks a query's rows, calling row(ctx, st) for each until it
 * returns non-zero: that stops the walk early and is not an error. Always
 * releases st. 0, or -1 with a step's error recorded. The row function may
 * call other db functions, but not run st again. */
int db_exec_rows(struct db *db, sqlite3_stmt *st, const struct db_arg *args,
                 int (*row)(void *ctx, sqlite3_stmt *st), void *ctx);
/* The row function most list functions need, written once per row type:
 * DB_ROW_WALK(name, type, read) defines struct name_walk, which holds the
 * list function's callback and its argument, and name_row(), which reads
 * the row into a type with read(st, &item) and hands it to the callback,
 * stopping the walk when the callback returns non-zero. A list then ends
 *   return db_exec_rows(db, st, args, name_row, &(struct name_walk){cb, arg});
 * The item lives on the stack: a large one wants its own row function. */
#define DB_ROW_WALK(name, type, read)                  \
  struct name##_walk {                                 \
    int (*cb)(void *arg, const type *item);            \
    void *arg;                                         \
  };                                                   \
  static int name##_row(void *ctx, sqlite3_stmt *st) { \
    const struct name##_walk *w = ctx;                 \
    type item;                                         \
                                                       \
    read(st, &item);                                   \
    return w->cb(w->arg, &item);                       \
  }
/* The tail of a getter of one row, written once per row type:
 * DB_ROW_GET(name, type, read) defines name_get(db, st, args, out), which
 * binds and steps st as db_exec_row does, reads the row with read(st, out)
 * (unless out is NULL: the caller only asks whether the row is there) and
 * releases st: 0, 1 no such row, or -1. A getter then ends
 *   return name_get(db, st, args, out); */
#define DB_ROW_GET(name, type, read)                                                             \
  static int name##_get(struct db *db, sqlite3_stmt *st, const struct db_arg *args, type *out) { \
    int rc = db_exec_row(db, st, args);                                                          \
                                                                                                 \
    if (rc != 0) return rc;                                                                      \
    if (out) read(st, out);                                                                      \
    db_stmt_release(st);                                                                         \
    return 0;                                                                                    \
  }

/* labdb.c: a lab mailbox name or path is 1..max bytes with no control
 * characters (1), else 0. */
int labdb_text_ok(const char *s, size_t max);
/* Copies a BLOB column into a new malloc'd buffer, NUL-terminated (so an
 * empty one still gets a real pointer); *len, if given, gets its size.
 * 0, or -1 recorded (st is the caller's to release). */
int db_column_dup(struct db *db, sqlite3_stmt *st, int col, unsigned char **out, size_t *len);

/* migrations.c: brings the schema up to date inside one transaction.
 * Returns 0, or -1 with the reason in db->errmsg. */
int db_migrate(struct db *db);

#endif
