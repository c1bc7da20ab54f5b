/* fuzz_lessons.c -- libFuzzer target for the lesson parser (server/lessons.c).
 *
 * The input is one lesson file. Promises checked (a broken one aborts):
 * a refusal comes with a reason; a parsed lesson has an id and rendered
 * HTML in which no raw <script> tag and no javascript: link survived; every
 * question task accepts its own first answer (exact and case-insensitive
 * matches); answering any task with a wrong or odd answer does not crash.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lessons.h"
#include "log.h"

#define SECRET "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

/* Case-insensitive search in a NUL-terminated string. */
static int contains_nocase(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++)
    if (strncasecmp(hay, needle, n) == 0) return 1;
  return 0;
}

/* href= or src= whose value, ignoring case, starts with "javascript:". */
static int has_script_link(const char *html) {
  for (const char *p = html; (p = strpbrk(p, "hs")) != NULL; p++) {
    const char *v = NULL;
    if (strncmp(p, "href=\"", 6) == 0) v = p + 6;
    if (strncmp(p, "src=\"", 5) == 0) v = p + 5;
    if (!v) continue;
    while (*v && isspace((unsigned char)*v)) v++;
    if (strncasecmp(v, "javascript:", 11) == 0) return 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct lesson l;
  char err[256];
  static int quiet;
  if (!quiet) {
    log_set_level(LOG_ERROR);
    quiet = 1;
  }
  err[0] = '\0';
  int rc = lesson_parse((const char *)data, size, &l, err, sizeof err);
  if (rc < 0 && !err[0]) abort();
  if (rc == 0) {
    if (!l.id[0] || !l.html) abort();
    if (contains_nocase(l.html, "<script")) abort();
    if (has_script_link(l.html)) abort();
    for (size_t i = 0; i < l.n_tasks; i++) {
      const struct lesson_task *t = &l.tasks[i];
      if (!t->id[0]) abort();
      if (t->kind == TASK_QUESTION && t->n_answers > 0 && t->match != MATCH_PATTERN) {
        const char *a = t->answers[0];
        size_t n = strlen(a);
        int trimmed = n > 0 && !isspace((unsigned char)a[0]) && !isspace((unsigned char)a[n - 1]);
        if (trimmed && lesson_answer_ok(t, a, SECRET, "alice") != 1) abort();
      }
      (void)lesson_answer_ok(t, "  not-the-answer \t", SECRET, "alice");
      (void)lesson_answer_ok(t, "", SECRET, "alice");
    }
  }
  lesson_clear(&l);
  return 0;
}
