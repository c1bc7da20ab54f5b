/* quizdb.h -- the port quiz's tables: tests, attempts, questions asked, review boxes. */
#ifndef PORTLAB_QUIZDB_H
#define PORTLAB_QUIZDB_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "portlab_limits.h"

struct db_quiz_test {
  int64_t id;
  char title[LIM_QUIZ_TITLE_LEN * 4 + 1]; /* UTF-8: up to 4 bytes a character */
  int questions;
  char kinds[160]; /* space-separated kind names */
  int time_limit;  /* seconds */
  int is_open;
  int max_attempts; /* 1: one attempt; N: best of N */
  int leaderboard;
  int64_t created_by;
  int64_t created_at; /* unix seconds */
};

struct db_quiz_attempt {
  int64_t id;
  int64_t user_id;
  char mode[10];                            /* practice, review, test */
  int64_t test_id;                          /* 0 unless a test */
  int64_t started_us, ends_us, finished_us; /* ends_us, finished_us: 0 = none */
  int planned;                              /* questions drawn for a test */
  /* Filled by the list and get calls from the questions. */
  int asked, answered, right;
  int points; /* hundredths, summed */
};

struct db_quiz_question {
  int64_t id;
  int64_t attempt_id;
  int seq;
  char kind[16];
  char fact[32];
  char label[96];
  char prompt[256];
  char choices[1024]; /* a JSON array */
  int multi;
  char expected[4096]; /* the matcher form (LIM_QUIZ_EXPECT_LEN) */
  char display[256];
  int64_t shown_us, answered_us; /* 0 = not yet */
  char answer[257];
  int answered;
  int correct;
  int points; /* hundredths */
  char explanation[1024];
};

/* Tests. */
int db_quiz_test_create(struct db *db, const struct db_quiz_test *t, int64_t *id_out);
int db_quiz_test_get(struct db *db, int64_t id, struct db_quiz_test *out); /* 1 = none */
/* is_open, leaderboard: -1 keeps the value. 1 = no such test. */
int db_quiz_test_update(struct db *db, int64_t id, int is_open, int leaderboard);
/* Newest first. */
int db_quiz_test_list(struct db *db, int (*cb)(void *arg, const struct db_quiz_test *t), void *arg);

/* Attempts. test_id 0 = none, ends_us 0 = no deadline. */
int db_quiz_attempt_create(struct db *db, int64_t user_id, const char *mode, int64_t test_id,
                           int64_t started_us, int64_t ends_us, int planned, int64_t *id_out);
int db_quiz_attempt_get(struct db *db, int64_t id, struct db_quiz_attempt *out); /* 1 = none */
int db_quiz_attempt_finish(struct db *db, int64_t id, int64_t finished_us);
/* The user's unfinished attempt of that test, if any (0 found, 1 none). */
int db_quiz_attempt_live(struct db *db, int64_t user_id, int64_t test_id, int64_t *id_out);
/* The user's running test attempt (unfinished, its deadline after now_us),
 * of any test: 0 found, 1 none. */
int db_quiz_attempt_running(struct db *db, int64_t user_id, int64_t now_us,
                            struct db_quiz_attempt *out);
/* Ends every unfinished attempt of the test at at_us (at its deadline if
 * that came first), scored as it stands. 0 or -1. */
int db_quiz_attempt_end_all(struct db *db, int64_t test_id, int64_t at_us);
int db_quiz_attempt_count(struct db *db, int64_t user_id, int64_t test_id); /* n or -1 */
/* Deletes the user's practice and review attempts (and their questions)
 * but the newest keep; test attempts are never touched. 0 or -1. */
int db_quiz_attempt_trim(struct db *db, int64_t user_id, int keep);
/* The user's attempts, newest first (user_id 0 with test_id: every
 * attempt of that test). At most limit rows. */
int db_quiz_attempt_list(struct db *db, int64_t user_id, int64_t test_id, int limit,
                         int (*cb)(void *arg, const struct db_quiz_attempt *a), void *arg);

/* The user's best score per test, over all their attempts of it; the test
 * attempted most recently first. */
struct db_quiz_best {
  int64_t test_id;
  char title[LIM_QUIZ_TITLE_LEN * 4 + 1];
  int points;  /* hundredths: the best attempt's */
  int planned; /* questions of the newest attempt */
};
int db_quiz_best_list(struct db *db, int64_t user_id,
                      int (*cb)(void *arg, const struct db_quiz_best *b), void *arg);

/* Questions of an attempt. */
int db_quiz_question_add(struct db *db, const struct db_quiz_question *q, int64_t *id_out);
int db_quiz_question_get(struct db *db, int64_t id, struct db_quiz_question *out); /* 1 = none */
/* The first unanswered question (lowest seq). 1 = none left. */
int db_quiz_question_current(struct db *db, int64_t attempt_id, struct db_quiz_question *out);
int db_quiz_question_shown(struct db *db, int64_t id, int64_t shown_us); /* first time only */
/* Stores the answer once; 1 = already answered. */
int db_quiz_question_answer(struct db *db, int64_t id, const char *answer, int correct, int points,
                            const char *explanation, int64_t answered_us);
int db_quiz_question_list(struct db *db, int64_t attempt_id,
                          int (*cb)(void *arg, const struct db_quiz_question *q), void *arg);

/* Review boxes. box 0 = never seen. */
int db_quiz_fact_get(struct db *db, int64_t user_id, const char *fact, int *box, int64_t *due_us);
int db_quiz_fact_set(struct db *db, int64_t user_id, const char *fact, int box, int64_t due_us,
                     int correct);
struct db_quiz_fact {
  char fact[64];
  int box;
  int64_t due_us;
  int right, wrong;
};
/* Every fact the user has seen, soonest due first. */
int db_quiz_fact_list(struct db *db, int64_t user_id,
                      int (*cb)(void *arg, const struct db_quiz_fact *f), void *arg);
int db_quiz_due_count(struct db *db, int64_t user_id, int64_t before_us); /* n or -1 */

/* The user's weakest facts: most wrong answers (practice, review and tests
 * together), at most limit. */
struct db_quiz_weak {
  char kind[16];
  char fact[32];
  int asked, wrong;
};
int db_quiz_weakest(struct db *db, int64_t user_id, int limit,
                    int (*cb)(void *arg, const struct db_quiz_weak *w), void *arg);

/* Results of a test: per student (the best attempt, a running one counted
 * as it stands), and per question (kind + fact + label) across the class,
 * most missed first. A removed student is left out of both, as out of the
 * gradebook. */
struct db_quiz_student {
  int64_t user_id;
  char name[33];
  int attempts;
  int best_points; /* hundredths */
  int best_right;
  int64_t best_attempt;
};
int db_quiz_results_students(struct db *db, int64_t test_id,
                             int (*cb)(void *arg, const struct db_quiz_student *s), void *arg);
struct db_quiz_item {
  char kind[16];
  char fact[32];
  char label[96];
  int asked, answered, right;
  int points; /* hundredths, summed */
};
int db_quiz_results_questions(struct db *db, int64_t test_id,
                              int (*cb)(void *arg, const struct db_quiz_item *q), void *arg);

#endif
