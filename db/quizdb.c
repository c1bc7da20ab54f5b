/* quizdb.c -- the port quiz's tables: tests, attempts, questions asked, review boxes.
 *
 * Every question asked is a row, with its matcher form, the answer, the
 * score and the times it was shown and answered; results and history are
 * sums over those rows, so nothing is counted twice. Scores are stored in
 * hundredths of a point so partial credit stays exact.
 */
#include "quizdb.h"

#include <stdlib.h>
#include <string.h>

#include "db_internal.h"

/* Text is bound with DB_TEXT, which binds a NULL pointer as SQL NULL. */

/* --- tests ------------------------------------------------------------------------------ */

#define TEST_COLUMNS                                                                          \
  "id, title, questions, kinds, time_limit, is_open, max_attempts, leaderboard, created_by, " \
  "created_at"

static void read_test(sqlite3_stmt *st, struct db_quiz_test *t) {
  t->id = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, t->title, sizeof t->title);
  t->questions = sqlite3_column_int(st, 2);
  db_column_copy(st, 3, t->kinds, sizeof t->kinds);
  t->time_limit = sqlite3_column_int(st, 4);
  t->is_open = sqlite3_column_int(st, 5);
  t->max_attempts = sqlite3_column_int(st, 6);
  t->leaderboard = sqlite3_column_int(st, 7);
  t->created_by = sqlite3_column_int64(st, 8);
  t->created_at = sqlite3_column_int64(st, 9);
}

DB_ROW_WALK(test, struct db_quiz_test, read_test)
DB_ROW_GET(test, struct db_quiz_test, read_test)

int db_quiz_test_create(struct db *db, const struct db_quiz_test *t, int64_t *id_out) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_QUIZ_TEST_CREATE,
              "INSERT INTO quiz_tests(title, questions, kinds, time_limit, is_open, "
              "  max_attempts, leaderboard, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  return db_exec_insert(db, st,
                        DB_ARGS(DB_TEXT(t->title), DB_INT(t->questions), DB_TEXT(t->kinds),
                                DB_INT(t->time_limit), DB_INT(t->is_open), DB_INT(t->max_attempts),
                                DB_INT(t->leaderboard), DB_INT(t->created_by)),
                        id_out);
}

int db_quiz_test_get(struct db *db, int64_t id, struct db_quiz_test *out) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_QUIZ_TEST_GET, "SELECT " TEST_COLUMNS " FROM quiz_tests WHERE id = ?1");
  return test_get(db, st, DB_ARGS(DB_INT(id)), out);
}

int db_quiz_test_update(struct db *db, int64_t id, int is_open, int leaderboard) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_TEST_UPDATE,
                             "UPDATE quiz_tests SET "
                             "  is_open = CASE WHEN ?2 < 0 THEN is_open ELSE ?2 END, "
                             "  leaderboard = CASE WHEN ?3 < 0 THEN leaderboard ELSE ?3 END "
                             "WHERE id = ?1");
  return db_exec_changed(db, st, DB_ARGS(DB_INT(id), DB_INT(is_open), DB_INT(leaderboard)));
}

int db_quiz_test_list(struct db *db, int (*cb)(void *arg, const struct db_quiz_test *t),
                      void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_TEST_LIST,
                             "SELECT " TEST_COLUMNS " FROM quiz_tests ORDER BY id DESC");
  return db_exec_rows(db, st, NULL, test_row, &(struct test_walk){cb, arg});
}

/* --- attempts -------------------------------------------------------------------------- */

/* The attempt columns plus sums over its questions. */
#define ATTEMPT_SELECT                                                                             \
  "SELECT a.id, a.user_id, a.mode, coalesce(a.test_id, 0), a.started_us, "                         \
  "  coalesce(a.ends_us, 0), coalesce(a.finished_us, 0), a.planned, "                              \
  "  (SELECT count(*) FROM quiz_questions q WHERE q.attempt_id = a.id), "                          \
  "  (SELECT count(*) FROM quiz_questions q WHERE q.attempt_id = a.id AND q.answer IS NOT NULL), " \
  "  (SELECT count(*) FROM quiz_questions q WHERE q.attempt_id = a.id AND q.correct = 1), "        \
  "  (SELECT coalesce(sum(q.points), 0) FROM quiz_questions q WHERE q.attempt_id = a.id) "         \
  "FROM quiz_attempts a "

static void read_attempt(sqlite3_stmt *st, struct db_quiz_attempt *a) {
  a->id = sqlite3_column_int64(st, 0);
  a->user_id = sqlite3_column_int64(st, 1);
  db_column_copy(st, 2, a->mode, sizeof a->mode);
  a->test_id = sqlite3_column_int64(st, 3);
  a->started_us = sqlite3_column_int64(st, 4);
  a->ends_us = sqlite3_column_int64(st, 5);
  a->finished_us = sqlite3_column_int64(st, 6);
  a->planned = sqlite3_column_int(st, 7);
  a->asked = sqlite3_column_int(st, 8);
  a->answered = sqlite3_column_int(st, 9);
  a->right = sqlite3_column_int(st, 10);
  a->points = sqlite3_column_int(st, 11);
}

DB_ROW_WALK(attempt, struct db_quiz_attempt, read_attempt)
DB_ROW_GET(attempt, struct db_quiz_attempt, read_attempt)

int db_quiz_attempt_create(struct db *db, int64_t user_id, const char *mode, int64_t test_id,
                           int64_t started_us, int64_t ends_us, int planned, int64_t *id_out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_ATTEMPT_CREATE,
                             "INSERT INTO quiz_attempts(user_id, mode, test_id, started_us, "
                             "  ends_us, planned) VALUES (?1, ?2, nullif(?3, 0), ?4, "
                             "  nullif(?5, 0), ?6)");
  return db_exec_insert(db, st,
                        DB_ARGS(DB_INT(user_id), DB_TEXT(mode), DB_INT(test_id), DB_INT(started_us),
                                DB_INT(ends_us), DB_INT(planned)),
                        id_out);
}

int db_quiz_attempt_get(struct db *db, int64_t id, struct db_quiz_attempt *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_ATTEMPT_GET, ATTEMPT_SELECT "WHERE a.id = ?1");
  return attempt_get(db, st, DB_ARGS(DB_INT(id)), out);
}

int db_quiz_attempt_finish(struct db *db, int64_t id, int64_t finished_us) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_QUIZ_ATTEMPT_FINISH,
              "UPDATE quiz_attempts SET finished_us = ?2 WHERE id = ?1 AND finished_us IS NULL");
  return db_exec_done(db, st, DB_ARGS(DB_INT(id), DB_INT(finished_us)));
}

int db_quiz_attempt_live(struct db *db, int64_t user_id, int64_t test_id, int64_t *id_out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_ATTEMPT_LIVE,
                             "SELECT id FROM quiz_attempts WHERE user_id = ?1 AND test_id = ?2 "
                             "AND finished_us IS NULL ORDER BY id DESC LIMIT 1");
  return db_exec_int(db, st, DB_ARGS(DB_INT(user_id), DB_INT(test_id)), id_out);
}

int db_quiz_attempt_running(struct db *db, int64_t user_id, int64_t now_us,
                            struct db_quiz_attempt *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_ATTEMPT_RUNNING,
                             ATTEMPT_SELECT
                             "WHERE a.user_id = ?1 AND a.test_id IS NOT NULL "
                             "AND a.finished_us IS NULL AND a.ends_us > ?2 "
                             "ORDER BY a.id DESC LIMIT 1");
  return attempt_get(db, st, DB_ARGS(DB_INT(user_id), DB_INT(now_us)), out);
}

int db_quiz_attempt_end_all(struct db *db, int64_t test_id, int64_t at_us) {
  /* One past its deadline already ended then, as settling it would say. */
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_ATTEMPT_END_ALL,
                             "UPDATE quiz_attempts SET finished_us = min(ends_us, ?2) "
                             "WHERE test_id = ?1 AND finished_us IS NULL");
  return db_exec_done(db, st, DB_ARGS(DB_INT(test_id), DB_INT(at_us)));
}

int db_quiz_attempt_count(struct db *db, int64_t user_id, int64_t test_id) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_QUIZ_ATTEMPT_COUNT,
              "SELECT count(*) FROM quiz_attempts WHERE user_id = ?1 AND test_id = ?2");
  int64_t n;
  /* count(*) always answers one row. */
  if (db_exec_int(db, st, DB_ARGS(DB_INT(user_id), DB_INT(test_id)), &n) != 0) return -1;
  return (int)n;
}

int db_quiz_attempt_trim(struct db *db, int64_t user_id, int keep) {
  /* The questions go with their attempt (ON DELETE CASCADE). */
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_ATTEMPT_TRIM,
                             "DELETE FROM quiz_attempts WHERE user_id = ?1 AND test_id IS NULL "
                             "AND id NOT IN (SELECT id FROM quiz_attempts WHERE user_id = ?1 "
                             "AND test_id IS NULL ORDER BY id DESC LIMIT ?2)");
  return db_exec_done(db, st, DB_ARGS(DB_INT(user_id), DB_INT(keep)));
}

int db_quiz_attempt_list(struct db *db, int64_t user_id, int64_t test_id, int limit,
                         int (*cb)(void *arg, const struct db_quiz_attempt *a), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_ATTEMPT_LIST,
                             ATTEMPT_SELECT
                             "WHERE (?1 = 0 OR a.user_id = ?1) AND (?2 = 0 OR a.test_id = ?2) "
                             "ORDER BY a.id DESC LIMIT ?3");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(user_id), DB_INT(test_id), DB_INT(limit)), attempt_row,
                      &(struct attempt_walk){cb, arg});
}

static void read_best(sqlite3_stmt *st, struct db_quiz_best *b) {
  b->test_id = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, b->title, sizeof b->title);
  b->points = sqlite3_column_int(st, 2);
  b->planned = sqlite3_column_int(st, 3);
}

DB_ROW_WALK(best, struct db_quiz_best, read_best)

int db_quiz_best_list(struct db *db, int64_t user_id,
                      int (*cb)(void *arg, const struct db_quiz_best *b), void *arg) {
  /* Over every attempt, however many practice runs came since; planned is
   * the newest attempt's, as the test is now. */
  sqlite3_stmt *st = db_stmt(
      db, DB_STMT_QUIZ_BEST_LIST,
      "WITH mine AS ("
      "  SELECT a.id, a.test_id, a.planned, "
      "    (SELECT coalesce(sum(q.points), 0) FROM quiz_questions q WHERE q.attempt_id = a.id) "
      "      AS pts "
      "  FROM quiz_attempts a WHERE a.user_id = ?1 AND a.test_id IS NOT NULL) "
      "SELECT m.test_id, coalesce(t.title, ''), max(m.pts), "
      "  (SELECT n.planned FROM mine n WHERE n.test_id = m.test_id ORDER BY n.id DESC LIMIT 1) "
      "FROM mine m LEFT JOIN quiz_tests t ON t.id = m.test_id "
      "GROUP BY m.test_id ORDER BY max(m.id) DESC");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(user_id)), best_row, &(struct best_walk){cb, arg});
}

/* --- questions ------------------------------------------------------------------------- */

#define QUESTION_COLUMNS                                                                        \
  "id, attempt_id, seq, kind, fact, label, prompt, choices, multi, expected, display, "         \
  "coalesce(shown_us, 0), coalesce(answered_us, 0), coalesce(answer, ''), answer IS NOT NULL, " \
  "coalesce(correct, 0), coalesce(points, 0), coalesce(explanation, '') "

static void read_question(sqlite3_stmt *st, struct db_quiz_question *q) {
  q->id = sqlite3_column_int64(st, 0);
  q->attempt_id = sqlite3_column_int64(st, 1);
  q->seq = sqlite3_column_int(st, 2);
  db_column_copy(st, 3, q->kind, sizeof q->kind);
  db_column_copy(st, 4, q->fact, sizeof q->fact);
  db_column_copy(st, 5, q->label, sizeof q->label);
  db_column_copy(st, 6, q->prompt, sizeof q->prompt);
  db_column_copy(st, 7, q->choices, sizeof q->choices);
  q->multi = sqlite3_column_int(st, 8);
  db_column_copy(st, 9, q->expected, sizeof q->expected);
  db_column_copy(st, 10, q->display, sizeof q->display);
  q->shown_us = sqlite3_column_int64(st, 11);
  q->answered_us = sqlite3_column_int64(st, 12);
  db_column_copy(st, 13, q->answer, sizeof q->answer);
  q->answered = sqlite3_column_int(st, 14);
  q->correct = sqlite3_column_int(st, 15);
  q->points = sqlite3_column_int(st, 16);
  db_column_copy(st, 17, q->explanation, sizeof q->explanation);
}

int db_quiz_question_add(struct db *db, const struct db_quiz_question *q, int64_t *id_out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_QUESTION_ADD,
                             "INSERT INTO quiz_questions(attempt_id, seq, kind, fact, label, "
                             "  prompt, choices, multi, expected, display) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  return db_exec_insert(
      db, st,
      DB_ARGS(DB_INT(q->attempt_id), DB_INT(q->seq), DB_TEXT(q->kind), DB_TEXT(q->fact),
              DB_TEXT(q->label), DB_TEXT(q->prompt), DB_TEXT(q->choices), DB_INT(q->multi),
              DB_TEXT(q->expected), DB_TEXT(q->display)),
      id_out);
}

DB_ROW_GET(question, struct db_quiz_question, read_question)

int db_quiz_question_get(struct db *db, int64_t id, struct db_quiz_question *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_QUESTION_GET,
                             "SELECT " QUESTION_COLUMNS "FROM quiz_questions WHERE id = ?1");
  return question_get(db, st, DB_ARGS(DB_INT(id)), out);
}

int db_quiz_question_current(struct db *db, int64_t attempt_id, struct db_quiz_question *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_QUESTION_CURRENT,
                             "SELECT " QUESTION_COLUMNS
                             "FROM quiz_questions "
                             "WHERE attempt_id = ?1 AND answer IS NULL ORDER BY seq LIMIT 1");
  return question_get(db, st, DB_ARGS(DB_INT(attempt_id)), out);
}

int db_quiz_question_shown(struct db *db, int64_t id, int64_t shown_us) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_QUIZ_QUESTION_SHOWN,
              "UPDATE quiz_questions SET shown_us = ?2 WHERE id = ?1 AND shown_us IS NULL");
  return db_exec_done(db, st, DB_ARGS(DB_INT(id), DB_INT(shown_us)));
}

int db_quiz_question_answer(struct db *db, int64_t id, const char *answer, int correct, int points,
                            const char *explanation, int64_t answered_us) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_QUESTION_ANSWER,
                             "UPDATE quiz_questions SET answer = ?2, correct = ?3, points = ?4, "
                             "  explanation = ?5, answered_us = ?6 "
                             "WHERE id = ?1 AND answer IS NULL");
  return db_exec_changed(db, st,
                         DB_ARGS(DB_INT(id), DB_TEXT(answer), DB_INT(correct ? 1 : 0),
                                 DB_INT(points), DB_TEXT(explanation), DB_INT(answered_us)));
}

/* A question is kilobytes, so the walk reads each into one heap copy
 * rather than onto the stack. */
struct question_walk {
  int (*cb)(void *arg, const struct db_quiz_question *q);
  void *arg;
  struct db_quiz_question *q;
};

static int question_row(void *ctx, sqlite3_stmt *st) {
  const struct question_walk *w = ctx;

  read_question(st, w->q);
  return w->cb(w->arg, w->q);
}

int db_quiz_question_list(struct db *db, int64_t attempt_id,
                          int (*cb)(void *arg, const struct db_quiz_question *q), void *arg) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_QUIZ_QUESTION_LIST,
              "SELECT " QUESTION_COLUMNS "FROM quiz_questions WHERE attempt_id = ?1 ORDER BY seq");
  struct question_walk w = {cb, arg, malloc(sizeof *w.q)};
  int rc;
  if (!w.q) {
    db_stmt_release(st);
    return -1;
  }
  rc = db_exec_rows(db, st, DB_ARGS(DB_INT(attempt_id)), question_row, &w);
  free(w.q);
  return rc;
}

/* --- review boxes ---------------------------------------------------------------------- */

int db_quiz_fact_get(struct db *db, int64_t user_id, const char *fact, int *box, int64_t *due_us) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_FACT_GET,
                             "SELECT box, due_us FROM quiz_facts WHERE user_id = ?1 AND fact = ?2");
  int rc = db_exec_row(db, st, DB_ARGS(DB_INT(user_id), DB_TEXT(fact)));
  *box = 0;
  if (due_us) *due_us = 0;
  if (rc != 0) return rc < 0 ? -1 : 0; /* never reviewed: box 0, due now */
  *box = sqlite3_column_int(st, 0);
  if (due_us) *due_us = sqlite3_column_int64(st, 1);
  db_stmt_release(st);
  return 0;
}

int db_quiz_fact_set(struct db *db, int64_t user_id, const char *fact, int box, int64_t due_us,
                     int correct) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_QUIZ_FACT_SET,
              "INSERT INTO quiz_facts(user_id, fact, box, due_us, right_count, wrong_count) "
              "VALUES (?1, ?2, ?3, ?4, ?5, 1 - ?5) "
              "ON CONFLICT(user_id, fact) DO UPDATE SET box = excluded.box, "
              "  due_us = excluded.due_us, right_count = right_count + excluded.right_count, "
              "  wrong_count = wrong_count + excluded.wrong_count");
  return db_exec_done(db, st,
                      DB_ARGS(DB_INT(user_id), DB_TEXT(fact), DB_INT(box), DB_INT(due_us),
                              DB_INT(correct ? 1 : 0)));
}

static void read_fact(sqlite3_stmt *st, struct db_quiz_fact *f) {
  db_column_copy(st, 0, f->fact, sizeof f->fact);
  f->box = sqlite3_column_int(st, 1);
  f->due_us = sqlite3_column_int64(st, 2);
  f->right = sqlite3_column_int(st, 3);
  f->wrong = sqlite3_column_int(st, 4);
}

DB_ROW_WALK(fact, struct db_quiz_fact, read_fact)

int db_quiz_fact_list(struct db *db, int64_t user_id,
                      int (*cb)(void *arg, const struct db_quiz_fact *f), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_FACT_LIST,
                             "SELECT fact, box, due_us, right_count, wrong_count FROM quiz_facts "
                             "WHERE user_id = ?1 ORDER BY due_us, fact");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(user_id)), fact_row, &(struct fact_walk){cb, arg});
}

int db_quiz_due_count(struct db *db, int64_t user_id, int64_t before_us) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_DUE_COUNT,
                             "SELECT count(*) FROM quiz_facts WHERE user_id = ?1 AND due_us < ?2");
  int64_t n;
  /* count(*) always answers one row. */
  if (db_exec_int(db, st, DB_ARGS(DB_INT(user_id), DB_INT(before_us)), &n) != 0) return -1;
  return (int)n;
}

static void read_weak(sqlite3_stmt *st, struct db_quiz_weak *w) {
  db_column_copy(st, 0, w->kind, sizeof w->kind);
  db_column_copy(st, 1, w->fact, sizeof w->fact);
  w->asked = sqlite3_column_int(st, 2);
  w->wrong = sqlite3_column_int(st, 3);
}

DB_ROW_WALK(weak, struct db_quiz_weak, read_weak)

int db_quiz_weakest(struct db *db, int64_t user_id, int limit,
                    int (*cb)(void *arg, const struct db_quiz_weak *w), void *arg) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_QUIZ_WEAKEST,
                             "SELECT q.kind, q.fact, count(*), sum(q.correct = 0) "
                             "FROM quiz_questions q JOIN quiz_attempts a ON a.id = q.attempt_id "
                             "WHERE a.user_id = ?1 AND q.answer IS NOT NULL "
                             "GROUP BY q.kind, q.fact HAVING sum(q.correct = 0) > 0 "
                             "ORDER BY sum(q.correct = 0) * 1.0 / count(*) DESC, "
                             "  sum(q.correct = 0) DESC, q.fact LIMIT ?2");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(user_id), DB_INT(limit)), weak_row,
                      &(struct weak_walk){cb, arg});
}

/* --- results --------------------------------------------------------------------------- */

static void read_student(sqlite3_stmt *st, struct db_quiz_student *s) {
  s->user_id = sqlite3_column_int64(st, 0);
  db_column_copy(st, 1, s->name, sizeof s->name);
  s->attempts = sqlite3_column_int(st, 2);
  s->best_points = sqlite3_column_int(st, 3);
  s->best_right = sqlite3_column_int(st, 4);
  s->best_attempt = sqlite3_column_int64(st, 5);
}

DB_ROW_WALK(student, struct db_quiz_student, read_student)

int db_quiz_results_students(struct db *db, int64_t test_id,
                             int (*cb)(void *arg, const struct db_quiz_student *s), void *arg) {
  /* The best attempt per student: most points, then the earliest. */
  sqlite3_stmt *st = db_stmt(
      db, DB_STMT_QUIZ_RESULTS_STUDENTS,
      "WITH scored AS ("
      "  SELECT a.id, a.user_id, "
      "    (SELECT coalesce(sum(points), 0) FROM quiz_questions WHERE attempt_id = a.id) AS pts, "
      "    (SELECT count(*) FROM quiz_questions WHERE attempt_id = a.id AND correct = 1) AS rt "
      "  FROM quiz_attempts a WHERE a.test_id = ?1), "
      "ranked AS (SELECT *, row_number() OVER (PARTITION BY user_id ORDER BY pts DESC, id) AS r, "
      "  count(*) OVER (PARTITION BY user_id) AS n FROM scored) "
      "SELECT k.user_id, u.name, k.n, k.pts, k.rt, k.id FROM ranked k "
      "JOIN users u ON u.id = k.user_id WHERE k.r = 1 AND u.removed_at IS NULL "
      "ORDER BY k.pts DESC, u.name");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(test_id)), student_row,
                      &(struct student_walk){cb, arg});
}

static void read_item(sqlite3_stmt *st, struct db_quiz_item *it) {
  db_column_copy(st, 0, it->kind, sizeof it->kind);
  db_column_copy(st, 1, it->fact, sizeof it->fact);
  db_column_copy(st, 2, it->label, sizeof it->label);
  it->asked = sqlite3_column_int(st, 3);
  it->answered = sqlite3_column_int(st, 4);
  it->right = sqlite3_column_int(st, 5);
  it->points = sqlite3_column_int(st, 6);
}

DB_ROW_WALK(item, struct db_quiz_item, read_item)

int db_quiz_results_questions(struct db *db, int64_t test_id,
                              int (*cb)(void *arg, const struct db_quiz_item *q), void *arg) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_QUIZ_RESULTS_QUESTIONS,
              "SELECT q.kind, q.fact, q.label, count(*), count(q.answer), "
              "  sum(coalesce(q.correct, 0)), sum(coalesce(q.points, 0)) "
              "FROM quiz_questions q JOIN quiz_attempts a ON a.id = q.attempt_id "
              "JOIN users u ON u.id = a.user_id "
              "WHERE a.test_id = ?1 AND u.removed_at IS NULL "
              "GROUP BY q.kind, q.fact, q.label "
              "ORDER BY (count(*) - sum(coalesce(q.correct, 0))) * 1.0 / count(*) DESC, "
              "  count(*) DESC, q.label");
  return db_exec_rows(db, st, DB_ARGS(DB_INT(test_id)), item_row, &(struct item_walk){cb, arg});
}
