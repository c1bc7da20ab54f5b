/* lessons.h -- lessons: Markdown with front matter and task blocks (docs/lessons.md). */
#ifndef PORTLAB_LESSONS_H
#define PORTLAB_LESSONS_H

#include <stddef.h>

#define LESSON_ID_MAX 40
#define TASK_ID_MAX 60
#define TASK_MAX_ANSWERS 8
#define TASK_MAX_CONDS 4
#define TASK_MAX_WRONG 8 /* known wrong answers with their feedback, per task */
#define TASK_MAX_HINTS 3 /* hints per task, taken one at a time in order */

enum task_kind { TASK_QUESTION = 0, TASK_FLAG, TASK_CHECK };
enum task_match { MATCH_EXACT = 0, MATCH_NOCASE, MATCH_PATTERN };
/* The words a lesson file and the API use for a task's kind, indexed by
 * enum task_kind and ended by NULL. */
extern const char *const task_kind_names[];

struct task_cond {
  char key[16];
  char value[128];
};

/* A known wrong answer ("wrong: 250 => ..."), matched like the answers,
 * and the feedback aimed at that mistake. */
struct task_wrong {
  char answer[128];
  char feedback[384];
};

struct lesson_task {
  char id[TASK_ID_MAX + 1];
  enum task_kind kind;
  int points;
  char prompt[512];
  /* Hints, in the order the student gets them; each costs hint_cost points
   * of the task when the teacher made hints cost points (default 1, at
   * most the task's points). */
  char hints[TASK_MAX_HINTS][512];
  size_t n_hints;
  int hint_cost;
  /* question */
  enum task_match match;
  char answers[TASK_MAX_ANSWERS][128];
  size_t n_answers;
  struct task_wrong wrong[TASK_MAX_WRONG];
  size_t n_wrong;
  /* flag */
  char challenge[32];
  /* check */
  char event[32];
  struct task_cond conds[TASK_MAX_CONDS];
  size_t n_conds;
};

struct lesson {
  char id[LESSON_ID_MAX + 1];
  char title[160];
  int order;
  char summary[400];
  char targets[256]; /* as written: "lab:25, lab:110" */
  char *html; /* rendered and sanitised; task blocks become <div class="task" data-task=ID> */
  struct lesson_task *tasks;
  size_t n_tasks;
};

struct lessons {
  struct lesson *v; /* sorted by order, then id */
  size_t n;
};

/* Parses one lesson file. 0, or -1 with a reason naming the line. Files
 * without front matter are not lessons: returns 1 (skip them). */
int lesson_parse(const char *text, size_t len, struct lesson *out, char *err, size_t errlen);
void lesson_clear(struct lesson *l);

/* Loads every *.md of dir, or the embedded lessons when dir is NULL.
 * NULL with "FILE: reason" in err if any lesson is broken or ids clash. */
struct lessons *lessons_load(const char *dir, char *err, size_t errlen);
void lessons_free(struct lessons *ls); /* NULL is a no-op */

const struct lesson *lessons_find(const struct lessons *ls, const char *id);
const struct lesson_task *lesson_task_find(const struct lesson *l, const char *id);

/* Checks a typed answer to a question or flag task. For flags, the
 * expected flag is derived from secret and user. 1 right, 0 wrong. */
int lesson_answer_ok(const struct lesson_task *t, const char *answer, const char *secret,
                     const char *user);

/* The feedback for a known wrong answer to a question (the first "wrong"
 * line whose answer matches, as the task's answers match), or NULL. */
const char *lesson_wrong_feedback(const struct lesson_task *t, const char *answer);

#endif
