/* progress.c -- lab events and task progress.
 *
 * Check tasks are solved by what a student really did on the lab servers;
 * the servers write those deeds here as events with a small JSON object of
 * attributes, and the lesson code looks for a matching one. Progress keeps
 * one row per student and task: attempts counted, the first solve kept.
 */
#include "progress.h"

#include "db_internal.h"
#include "portlab_limits.h"

/* Every lab request may add an event, so each insert also deletes the
 * student's events of that name but the newest LIM_LAB_EVENTS_KEPT: a
 * script cannot grow the table without end. The lookup reads no more than
 * that, so the trim never changes a check's result. The index
 * lab_events_user (user_id, event, id) makes the trim a walk of at most
 * that many index entries; deleting every older row, not just one, also
 * trims rows left from before the bound on the pair's next insert. */
int db_lab_event_add(struct db *db, int64_t user_id, const char *event, const char *attrs_json) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_EVENT_ADD,
                             "INSERT INTO lab_events(user_id, event, attrs) VALUES (?1, ?2, ?3)");
  if (db_exec_done(
          db, st,
          DB_ARGS(DB_INT(user_id), DB_TEXT(event), DB_TEXT(attrs_json ? attrs_json : "{}"))) != 0)
    return -1;
  st = db_stmt(db, DB_STMT_LAB_EVENT_TRIM,
               "DELETE FROM lab_events WHERE user_id = ?1 AND event = ?2 AND id <= "
               "(SELECT id FROM lab_events WHERE user_id = ?1 AND event = ?2 "
               "ORDER BY id DESC LIMIT 1 OFFSET ?3)");
  /* The event is stored either way: a failed trim is done by the next. */
  db_exec_done(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(event), DB_INT(LIM_LAB_EVENTS_KEPT)));
  return 0;
}

struct lab_event_find {
  int (*match)(void *arg, const char *attrs_json);
  void *arg;
  int found;
};

static int lab_event_find_row(void *ctx, sqlite3_stmt *st) {
  struct lab_event_find *f = ctx;
  const char *attrs = (const char *)sqlite3_column_text(st, 0);

  f->found = f->match(f->arg, attrs ? attrs : "{}") != 0;
  return f->found;
}

int db_lab_event_find(struct db *db, int64_t user_id, const char *event,
                      int (*match)(void *arg, const char *attrs_json), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_EVENT_FIND,
                             "SELECT attrs FROM lab_events WHERE user_id = ?1 AND event = ?2 "
                             "ORDER BY id DESC LIMIT ?3");
  struct lab_event_find f = {match, arg, 0};
  if (db_exec_rows(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(event), DB_INT(LIM_LAB_EVENTS_KEPT)),
                   lab_event_find_row, &f) != 0)
    return -1;
  return f.found ? 0 : 1;
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
  return db_exec_done(db, st,
                      DB_ARGS(DB_INT(user_id), DB_TEXT(lesson), DB_TEXT(task),
                              DB_INT(solved ? 1 : 0), DB_INT(points)));
}

int db_progress_hint(struct db *db, int64_t user_id, const char *lesson, const char *task,
                     int cost) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_PROGRESS_HINT,
              "INSERT INTO task_progress(user_id, lesson, task, attempts, hints, hint_cost) "
              "VALUES (?1, ?2, ?3, 0, 1, ?4) "
              "ON CONFLICT(user_id, lesson, task) DO UPDATE SET hints = hints + 1, "
              "  hint_cost = hint_cost + CASE WHEN solved_at IS NULL THEN ?4 ELSE 0 END");
  return db_exec_done(
      db, st,
      DB_ARGS(DB_INT(user_id), DB_TEXT(lesson), DB_TEXT(task), DB_INT(cost < 0 ? 0 : cost)));
}

static void progress_from_row(sqlite3_stmt *st, struct db_progress *p) {
  p->user_id = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, p->user_name, sizeof p->user_name);
  db_column_copy(st, 2, p->lesson, sizeof p->lesson);
  db_column_copy(st, 3, p->task, sizeof p->task);
  p->attempts = sqlite3_column_int(st, 4);
  p->solved_at = sqlite3_column_int64(st, 5);
  p->points = sqlite3_column_int(st, 6);
  p->first_at = sqlite3_column_int64(st, 7);
  p->hints = sqlite3_column_int(st, 8);
  p->hint_cost = sqlite3_column_int(st, 9);
}

DB_ROW_WALK(progress, struct db_progress, progress_from_row)

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
  /* A NULL lesson binds SQL NULL: every lesson. */
  return db_exec_rows(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(lesson)), progress_row,
                      &(struct progress_walk){cb, arg});
}
