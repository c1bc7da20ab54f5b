/* test_lessons.c -- lesson parsing, rendering, sanitising and answer checks. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "labdata.h"
#include "lessons.h"

static const char good[] =
    "---\n"
    "id: smtp\n"
    "title: Sending mail by hand\n"
    "order: 50\n"
    "targets: lab:25\n"
    "summary: Talk SMTP.\n"
    "---\n"
    "# Hello\n"
    "Some *text* and [a session](session:lab:25) and [bad](javascript:alert(1)) and\n"
    "[rel](other.html) and <script>alert(1)</script> and [caps](JaVaScRiPt:x).\n"
    "```task\n"
    "id: greeting\n"
    "kind: question\n"
    "points: 2\n"
    "prompt: First code?\n"
    "answer: 220\n"
    "match: exact\n"
    "```\n"
    "More text\n"
    "```task\n"
    "id: name\n"
    "kind: question\n"
    "prompt: Protocol?\n"
    "answer: smtp\n"
    "answer: esmtp\n"
    "match: nocase\n"
    "```\n"
    "```task\n"
    "id: port\n"
    "kind: question\n"
    "prompt: A submission port?\n"
    "answer: 25|465|587\n"
    "match: pattern\n"
    "```\n"
    "```task\n"
    "id: flag\n"
    "kind: flag\n"
    "prompt: The FTP flag\n"
    "challenge: ftp\n"
    "```\n"
    "```task\n"
    "id: deliver\n"
    "kind: check\n"
    "prompt: Send a mail\n"
    "event: smtp.delivered\n"
    "to: demo@lab\n"
    "subject: Hello\n"
    "```\n";

static void test_parse(void) {
  struct lesson l;
  char err[256] = "";
  CHECK_EQ_INT(lesson_parse(good, strlen(good), &l, err, sizeof err), 0);
  CHECK_EQ_STR(err, "");
  CHECK_EQ_STR(l.id, "smtp");
  CHECK_EQ_INT(l.order, 50);
  CHECK_EQ_STR(l.targets, "lab:25");
  CHECK_EQ_INT(l.n_tasks, 5);
  CHECK_EQ_INT(l.tasks[0].points, 2);
  CHECK_EQ_INT(l.tasks[1].points, 1);
  CHECK_EQ_INT(l.tasks[1].n_answers, 2);
  CHECK_EQ_INT(l.tasks[4].kind, TASK_CHECK);
  CHECK_EQ_STR(l.tasks[4].event, "smtp.delivered");
  CHECK_EQ_INT(l.tasks[4].n_conds, 2);
  CHECK_EQ_STR(l.tasks[4].conds[1].value, "Hello");
  CHECK(strstr(l.html, "<h1>Hello</h1>") != NULL);
  CHECK(strstr(l.html, "<em>text</em>") != NULL);
  CHECK(strstr(l.html, "href=\"session:lab:25\"") != NULL);
  CHECK(strstr(l.html, "href=\"other.html\"") != NULL);
  CHECK(strstr(l.html, "javascript") == NULL);
  CHECK(strstr(l.html, "JaVaScRiPt") == NULL);
  CHECK(strstr(l.html, "<script>") == NULL); /* raw HTML is escaped */
  CHECK(strstr(l.html, "<div class=\"task\" data-task=\"greeting\"></div>") != NULL);
  CHECK(strstr(l.html, "<div class=\"task\" data-task=\"deliver\"></div>") != NULL);
  CHECK(strstr(l.html, "220") == NULL); /* answers never reach the page */
  CHECK(strstr(l.html, "portlab-task") == NULL);

  const struct lesson_task *t = lesson_task_find(&l, "greeting");
  CHECK(lesson_answer_ok(t, " 220 ", "s", "alice"));
  CHECK(!lesson_answer_ok(t, "2200", "s", "alice"));
  t = lesson_task_find(&l, "name");
  CHECK(lesson_answer_ok(t, "ESMTP", "s", "alice"));
  CHECK(!lesson_answer_ok(t, "pop3", "s", "alice"));
  t = lesson_task_find(&l, "port");
  CHECK(lesson_answer_ok(t, "587", "s", "alice"));
  CHECK(!lesson_answer_ok(t, "5870", "s", "alice")); /* the whole answer must match */
  CHECK(!lesson_answer_ok(t, "x25", "s", "alice"));
  t = lesson_task_find(&l, "flag");
  char flag[40], other[40];
  labdata_flag("s", "ftp", "alice", flag);
  labdata_flag("s", "ftp", "bob", other);
  CHECK(lesson_answer_ok(t, flag, "s", "alice"));
  CHECK(!lesson_answer_ok(t, other, "s", "alice")); /* bob's flag is wrong for alice */
  CHECK(!lesson_answer_ok(lesson_task_find(&l, "deliver"), "anything", "s", "alice"));
  CHECK(lesson_task_find(&l, "nope") == NULL);
  lesson_clear(&l);
}

static void expect_bad(const char *text, const char *want) {
  struct lesson l;
  char err[256] = "";
  CHECK_EQ_INT(lesson_parse(text, strlen(text), &l, err, sizeof err), -1);
  if (!strstr(err, want)) {
    fprintf(stderr, "error was \"%s\", wanted \"%s\"\n", err, want);
    CHECK(0);
  }
}

static void test_errors(void) {
  struct lesson l;
  char err[256];
  CHECK_EQ_INT(lesson_parse("# Just a README\n", 16, &l, err, sizeof err), 1);
  expect_bad("---\nid: x\n", "not closed");
  expect_bad("---\nid: Bad_Id\ntitle: t\n---\n", "id");
  expect_bad("---\nid: x\ncolour: red\n---\n", "unknown front matter key");
  expect_bad("---\ntitle: t\n---\n", "needs id and title");
  expect_bad("---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: question\nprompt: p\n```\n",
             "no answer");
  expect_bad(
      "---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: question\nprompt: p\nanswer: (\n"
      "match: pattern\n```\n",
      "bad pattern");
  expect_bad("---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: flag\nprompt: p\n```\n",
             "no challenge");
  expect_bad("---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: riddle\n```\n", "line 7");
  expect_bad("---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: check\nprompt: p\nevent: e\n",
             "not closed");
  expect_bad(
      "---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: check\nprompt: p\nevent: e\n```\n"
      "```task\nid: a\nkind: check\nprompt: q\nevent: e\n```\n",
      "used twice");
  expect_bad(
      "---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: question\nprompt: p\nanswer: 1\n"
      "wrong: 2 is not it\n```\n",
      "wrong");
  expect_bad(
      "---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: question\nprompt: p\nanswer: 1\n"
      "wrong: 2 =>\n```\n",
      "wrong");
  expect_bad(
      "---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: flag\nprompt: p\nchallenge: ftp\n"
      "wrong: 2 => no\n```\n",
      "only a question");
  expect_bad(
      "---\nid: x\ntitle: t\n---\n```task\nid: a\nkind: question\nprompt: p\nanswer: 1\n"
      "match: pattern\nwrong: ( => no\n```\n",
      "bad pattern");
}

static void test_embedded_set(void) {
  char err[256] = "";
  struct lessons *ls = lessons_load(NULL, err, sizeof err);
  CHECK(ls != NULL);
  if (!ls) {
    fprintf(stderr, "embedded lessons: %s\n", err);
    return;
  }
  CHECK(ls->n >= 8);
  CHECK(lessons_find(ls, "under-the-hood") != NULL);
  CHECK(lessons_find(ls, "more-servers") != NULL);
  /* Every check task of the built-in lessons names an event the lab
   * records, with conditions that event carries (a typo would make a
   * task nobody can solve); "via" is on every event. */
  static const char *const known[][4] = {
      {"smtp.delivered", "to", "subject", NULL}, {"pop3.retr", "msg", NULL, NULL},
      {"imap.fetch", NULL, NULL, NULL},          {"ftp.stor", "path", NULL, NULL},
      {"ftp.retr", "path", NULL, NULL},          {"http.request", "path", "status", "method"},
      {"telnet.login", NULL, NULL, NULL},        {"ssh.ident", "proto", "software", NULL},
      {"dns.query", "name", "type", "rcode"},    {"whois.query", "query", "found", NULL},
      {"finger.query", "user", "result", NULL},
  };
  for (size_t i = 0; i < ls->n; i++)
    for (size_t j = 0; j < ls->v[i].n_tasks; j++) {
      const struct lesson_task *t = &ls->v[i].tasks[j];
      if (t->kind != TASK_CHECK) continue;
      size_t e = 0;
      while (e < sizeof known / sizeof known[0] && strcmp(known[e][0], t->event) != 0) e++;
      CHECK(e < sizeof known / sizeof known[0]);
      if (e == sizeof known / sizeof known[0]) continue;
      for (size_t c = 0; c < t->n_conds; c++) {
        int ok = strcmp(t->conds[c].key, "via") == 0; /* every event says browser or own */
        for (size_t k = 1; k < 4 && known[e][k]; k++)
          ok |= strcmp(known[e][k], t->conds[c].key) == 0;
        CHECK(ok);
      }
    }
  for (size_t i = 1; i < ls->n; i++) CHECK(ls->v[i - 1].order <= ls->v[i].order);
  const struct lesson *smtp = lessons_find(ls, "smtp");
  CHECK(smtp != NULL && smtp->n_tasks >= 3);
  for (size_t i = 0; i < ls->n; i++) CHECK(strstr(ls->v[i].html, "portlab-task") == NULL);
  lessons_free(ls);
  CHECK(lessons_load("/nonexistent-dir", err, sizeof err) == NULL);
}

/* A paragraph that only looks like a task marker (a lesson author typed
 * the marker text) must not be turned into a placeholder that swallows
 * the HTML up to some later "%%</p>", and the search for the end of a
 * marker must stay inside the rendered buffer (it is not NUL-terminated). */
static void test_marker_lookalike(void) {
  static const char text[] =
      "---\n"
      "id: look\n"
      "title: Look-alike\n"
      "---\n"
      "%%portlab-task:abc\n"
      "\n"
      "later text %%\n";
  static const char unterminated[] =
      "---\n"
      "id: look2\n"
      "title: Look-alike 2\n"
      "---\n"
      "%%portlab-task:abc\n";
  struct lesson l;
  char err[256] = "";
  CHECK_EQ_INT(lesson_parse(text, sizeof text - 1, &l, err, sizeof err), 0);
  CHECK(l.html && !strstr(l.html, "data-task"));
  CHECK(l.html && strstr(l.html, "later text"));
  lesson_clear(&l);
  CHECK_EQ_INT(lesson_parse(unterminated, sizeof unterminated - 1, &l, err, sizeof err), 0);
  CHECK(l.html && !strstr(l.html, "data-task"));
  lesson_clear(&l);
}

/* Known wrong answers carry feedback, matched like the task's answers;
 * TASK_MAX_WRONG of them are allowed and one more is refused. */
static void test_wrong_answers(void) {
  static const char text[] =
      "---\nid: w\ntitle: t\n---\n"
      "```task\nid: code\nkind: question\nprompt: First code?\nanswer: 220\nmatch: exact\n"
      "wrong: 250 => 250 answers a command; the greeting comes before any command.\n"
      "wrong: 354 => That one invites the mail text.\n```\n"
      "```task\nid: port\nkind: question\nprompt: Port?\nanswer: 587\nmatch: pattern\n"
      "wrong: 2[0-9] => Port 25 is for servers relaying to servers.\n```\n";
  struct lesson l;
  char err[256] = "";
  CHECK_EQ_INT(lesson_parse(text, strlen(text), &l, err, sizeof err), 0);
  const struct lesson_task *t = lesson_task_find(&l, "code");
  CHECK(t && t->n_wrong == 2);
  CHECK_EQ_STR(lesson_wrong_feedback(t, " 250 "),
               "250 answers a command; the greeting comes before any command.");
  CHECK_EQ_STR(lesson_wrong_feedback(t, "354"), "That one invites the mail text.");
  CHECK(lesson_wrong_feedback(t, "221") == NULL);
  CHECK(lesson_wrong_feedback(t, "2500") == NULL);
  CHECK_EQ_INT(lesson_answer_ok(t, "250", "s", "u"), 0);
  CHECK_EQ_INT(lesson_answer_ok(t, "220", "s", "u"), 1);
  t = lesson_task_find(&l, "port");
  CHECK_EQ_STR(lesson_wrong_feedback(t, "25"), "Port 25 is for servers relaying to servers.");
  CHECK(lesson_wrong_feedback(t, "250") == NULL); /* anchored, like the answers */
  lesson_clear(&l);

  /* TASK_MAX_WRONG at its edge. */
  char many[4096];
  for (int n = TASK_MAX_WRONG; n <= TASK_MAX_WRONG + 1; n++) {
    size_t o = (size_t)snprintf(many, sizeof many,
                                "---\nid: w\ntitle: t\n---\n```task\nid: a\nkind: question\n"
                                "prompt: p\nanswer: 1\n");
    for (int i = 0; i < n; i++)
      o += (size_t)snprintf(many + o, sizeof many - o, "wrong: %d => not %d\n", i + 10, i + 10);
    snprintf(many + o, sizeof many - o, "```\n");
    int rc = lesson_parse(many, strlen(many), &l, err, sizeof err);
    CHECK_EQ_INT(rc, n == TASK_MAX_WRONG ? 0 : -1);
    if (rc == 0) {
      CHECK_EQ_STR(lesson_wrong_feedback(lesson_task_find(&l, "a"), "17"), "not 17");
      lesson_clear(&l);
    }
  }
}

/* Hints: TASK_MAX_HINTS in order, allowed at the edge and refused past
 * it; hint-cost defaults to 1 and may not pass the task's points; the
 * texts never reach the rendered page. */
static void test_hints(void) {
  static const char head[] =
      "---\nid: x\ntitle: t\n---\nText.\n```task\nid: a\nkind: question\n"
      "points: 3\nprompt: p\nanswer: 42\n";
  char text[1024];
  struct lesson l;
  char err[256] = "";

  snprintf(text, sizeof text,
           "%shint: first secret\nhint: second secret\nhint: third secret\n```\n", head);
  CHECK_EQ_INT(TASK_MAX_HINTS, 3);
  CHECK_EQ_INT(lesson_parse(text, strlen(text), &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.tasks[0].n_hints, 3);
  CHECK_EQ_STR(l.tasks[0].hints[0], "first secret");
  CHECK_EQ_STR(l.tasks[0].hints[2], "third secret");
  CHECK_EQ_INT(l.tasks[0].hint_cost, 1); /* the default */
  CHECK(strstr(l.html, "secret") == NULL);
  lesson_clear(&l);

  snprintf(text, sizeof text, "%shint: h\nhint-cost: 3\n```\n", head);
  CHECK_EQ_INT(lesson_parse(text, strlen(text), &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.tasks[0].hint_cost, 3); /* all of the task's points */
  lesson_clear(&l);

  snprintf(text, sizeof text, "%shint: h\nhint-cost: 0\n```\n", head);
  CHECK_EQ_INT(lesson_parse(text, strlen(text), &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.tasks[0].hint_cost, 0);
  lesson_clear(&l);

  snprintf(text, sizeof text, "%s```\n", head);
  CHECK_EQ_INT(lesson_parse(text, strlen(text), &l, err, sizeof err), 0);
  CHECK_EQ_INT(l.tasks[0].n_hints, 0);
  lesson_clear(&l);

  snprintf(text, sizeof text, "%shint: 1\nhint: 2\nhint: 3\nhint: 4\n```\n", head);
  expect_bad(text, "\"hint\"");
  snprintf(text, sizeof text, "%shint: h\nhint-cost: 4\n```\n", head);
  expect_bad(text, "hint-cost 4 is more than its 3 points");
  snprintf(text, sizeof text, "%shint-cost: 1\n```\n", head);
  expect_bad(text, "hint-cost without a hint");
  snprintf(text, sizeof text, "%shint:\n```\n", head);
  expect_bad(text, "\"hint\"");
  snprintf(text, sizeof text, "%shint: h\nhint-cost: -1\n```\n", head);
  expect_bad(text, "\"hint-cost\"");
}

int main(void) {
  test_parse();
  test_hints();
  test_wrong_answers();
  test_errors();
  test_embedded_set();
  test_marker_lookalike();
  return check_done();
}
