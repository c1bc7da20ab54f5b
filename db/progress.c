/* progress.c -- lab events and task progress.
 *
 * Check tasks are solved by what a student really did on the lab servers;
 * the servers write those deeds here as events with a small JSON object of
 * attributes, and the lesson code looks for a matching one. Progress keeps
 * one row per student and task: attempts counted, the first solve kept.
 */
#include "progress.h"

#include "db_internal.h"

/* A student can do a lot in a term; the lookup looks at the newest few. */
#define LAB_EVENT_SCAN 500

int db_lab_event_add(struct db *db, int64_t user_id, const char *event, const char *attrs_json) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_EVENT_ADD,
                             "INSERT INTO lab_events(user_id, event, attrs) VALUES (?1, ?2, ?3)");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, attrs_json ? attrs_json : "{}", -1, SQLITE_STATIC) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
}

int db_lab_event_find(struct db *db, int64_t user_id, const char *event,
                      int (*match)(void *arg, const char *attrs_json), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_EVENT_FIND,
                             "SELECT attrs FROM lab_events WHERE user_id = ?1 AND event = ?2 "
                             "ORDER BY id DESC LIMIT ?3");
  int rc, found = 1;
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int(st, 3, LAB_EVENT_SCAN) != SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *attrs = (const char *)sqlite3_column_text(st, 0);
    if (match(arg, attrs ? attrs : "{}")) {
      found = 0;
      break;
    }
  }
  if (found && rc != SQLITE_DONE) goto fail;
  db_stmt_release(st);
  return found;
fail:
  return db_fail_release(db, st);
}

int db_progress_attempt(struct db *db, int64_t user_id, const char *lesson, const char *task,
                        int solved, int points) {
  sqlite3_stmt *st = db_stmt(
      db, DB_STMT_PROGRESS_ATTEMPT,
      "INSERT INTO task_progress(user_id, lesson, task, attempts, solved_at, points, first_at) "
      "VALUES (?1, ?2, ?3, 1, CASE WHEN ?4 THEN unixepoch() END, CASE WHEN ?4 THEN ?5 ELSE 0 END, "
      "  unixepoch()) "
      "ON CONFLICT(user_id, lesson, task) DO UPDATE SET attempts = attempts + 1, "
      "  first_at = coalesce(first_at, excluded.first_at), "
      "  solved_at = coalesce(solved_at, excluded.solved_at), "
      "  points = max(points, excluded.points)");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, lesson, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, task, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int(st, 4, solved ? 1 : 0) != SQLITE_OK ||
      sqlite3_bind_int(st, 5, points) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
}

int db_progress_hint(struct db *db, int64_t user_id, const char *lesson, const char *task,
                     int cost) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_PROGRESS_HINT,
              "INSERT INTO task_progress(user_id, lesson, task, attempts, hints, hint_cost) "
              "VALUES (?1, ?2, ?3, 0, 1, ?4) "
              "ON CONFLICT(user_id, lesson, task) DO UPDATE SET hints = hints + 1, "
              "  hint_cost = hint_cost + CASE WHEN solved_at IS NULL THEN ?4 ELSE 0 END");
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, lesson, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, task, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int(st, 4, cost < 0 ? 0 : cost) != SQLITE_OK) {
    db_fail(db);
    db_stmt_release(st);
    return -1;
  }
  return db_step_done(db, st);
}

int db_progress_list(struct db *db, int64_t user_id, const char *lesson,
                     int (*cb)(void *arg, const struct db_progress *p), void *arg) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_PROGRESS_LIST,
              "SELECT p.user_id, u.name, p.lesson, p.task, p.attempts, "
              "  coalesce(p.solved_at, 0), p.points, coalesce(p.first_at, p.solved_at, 0), "
              "  p.hints, p.hint_cost "
              "FROM task_progress p JOIN users u ON u.id = p.user_id "
              "WHERE (?1 = 0 OR p.user_id = ?1) AND (?2 IS NULL OR p.lesson = ?2) "
              "ORDER BY u.name, p.lesson, p.task");
  int rc;
  struct db_progress p;
  if (!st) return -1;
  if (sqlite3_bind_int64(st, 1, user_id) != SQLITE_OK ||
      (lesson ? sqlite3_bind_text(st, 2, lesson, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 2)) !=
          SQLITE_OK)
    goto fail;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    p.user_id = sqlite3_column_int64(st, 0);
    db_column_copy(st, 1, p.user_name, sizeof p.user_name);
    db_column_copy(st, 2, p.lesson, sizeof p.lesson);
    db_column_copy(st, 3, p.task, sizeof p.task);
    p.attempts = sqlite3_column_int(st, 4);
    p.solved_at = sqlite3_column_int64(st, 5);
    p.points = sqlite3_column_int(st, 6);
    p.first_at = sqlite3_column_int64(st, 7);
    p.hints = sqlite3_column_int(st, 8);
    p.hint_cost = sqlite3_column_int(st, 9);
    if (cb(arg, &p)) break;
  }
  return db_walk_end(db, st, rc);
fail:
  return db_fail_release(db, st);
}
