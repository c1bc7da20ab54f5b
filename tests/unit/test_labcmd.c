/* test_labcmd.c -- unit tests for the lab servers' one command dispatch (protocols/labcmd.c).
 *
 * A toy table with every argument shape, a check, states at both ends of
 * the bit set, and a refuse callback that writes down what it was told:
 * each step's refusal, the order of the steps (state, NUL, check, shape,
 * run), case rules, blanks after the verb, lab_cmd_match on its own, and
 * lab_cmd_current naming the row that runs.
 * The modules' own words for each refusal are pinned by tests/labcases.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "lab.h"

enum toy_state { TOY_A = 0, TOY_B = 1, TOY_LAST = 31 };

struct toy {
  char log[512]; /* what happened, in order: "refuse:STATE:VERB", "check", "run:ARGS" */
  int check_refuses;
};

static void toy_note(struct toy *t, const char *what) {
  size_t n = strlen(t->log);
  snprintf(t->log + n, sizeof t->log - n, "%s%s", n ? " " : "", what);
}

static const char *const refusal_names[] = {"EMPTY", "UNKNOWN", "STATE", "NUL", "ARGS"};

static void toy_refuse(struct lab_conn *c, void *s, enum lab_refusal why, const char *verb,
                       const struct lab_cmd *row) {
  char buf[128];
  snprintf(buf, sizeof buf, "refuse:%s:%s:%s", refusal_names[why], verb, row ? row->verb : "-");
  toy_note(s, buf);
}

static void toy_admit(struct lab_conn *c, void *s, const struct lab_cmd *row, const char *args) {
  toy_note(s, "admit");
}

static int toy_check(struct lab_conn *c, void *s, char *args) {
  struct toy *t = s;
  toy_note(t, "check");
  return t->check_refuses ? -1 : 0;
}

static void toy_run(struct lab_conn *c, void *s, char *args) {
  char buf[128];
  snprintf(buf, sizeof buf, "run:[%s]", args);
  toy_note(s, buf);
}

static const struct lab_cmd toy_cmds[] = {
    {"ANY", LAB_IN(TOY_A), toy_run, LAB_ARGS_ANY, NULL, NULL},
    {"NONE", LAB_IN(TOY_A), toy_run, LAB_ARGS_NONE, "NONE", NULL},
    {"REQ", LAB_IN(TOY_A), toy_run, LAB_ARGS_REQ, "REQ x", NULL},
    {"PATH", LAB_IN(TOY_A), toy_run, LAB_ARGS_REQ | LAB_ARGS_PATH, "PATH p", NULL},
    {"CHK", LAB_IN(TOY_A), toy_run, LAB_ARGS_REQ, "CHK x", toy_check},
    {"ONLYB", LAB_IN(TOY_B), toy_run, LAB_ARGS_ANY, NULL, NULL},
    {"LAST", LAB_IN(TOY_LAST), toy_run, LAB_ARGS_ANY, NULL, NULL},
    {"ls", LAB_IN(TOY_A), toy_run, LAB_ARGS_ANY, NULL, NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* Rows sharing a check and a run, which tell them apart by lab_cmd_current. */
static int toy_check_verb(struct lab_conn *c, void *s, char *args) {
  char buf[128];
  snprintf(buf, sizeof buf, "check:%s", lab_cmd_current(c)->verb);
  toy_note(s, buf);
  return 0;
}

static void toy_run_verb(struct lab_conn *c, void *s, char *args) {
  char buf[128];
  snprintf(buf, sizeof buf, "run:%s:[%s]", lab_cmd_current(c)->verb, args);
  toy_note(s, buf);
}

static const struct lab_cmd toy_shared_cmds[] = {
    {"ONE", LAB_IN(TOY_A), toy_run_verb, LAB_ARGS_ANY, NULL, NULL},
    {"TWO", LAB_IN(TOY_A), toy_run_verb, LAB_ARGS_ANY, NULL, NULL},
    {"THREE", LAB_IN(TOY_A), toy_run_verb, LAB_ARGS_NONE, "THREE", toy_check_verb},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct lab_cmd_set toy_set = {toy_cmds, 0, toy_refuse, toy_admit};
static const struct lab_cmd_set toy_exact = {toy_cmds, LAB_CMDS_EXACT_CASE, toy_refuse, NULL};
static const struct lab_cmd_set toy_blanks = {toy_cmds, LAB_CMDS_SKIP_BLANKS, toy_refuse, NULL};
static const struct lab_cmd_set toy_shared = {toy_shared_cmds, 0, toy_refuse, NULL};

/* The connection the commands run on (the memory backend; the toy's
 * state is its own struct toy, handed to the dispatch). */
static const struct lab_module toy_module = {.name = "toy", .line_max = 64};
static struct lab_conn *conn;

/* Dispatches text (len bytes, so it may hold a NUL) and returns the log. */
static const char *go(const struct lab_cmd_set *set, int state, const char *text, size_t len,
                      int check_refuses) {
  static struct toy t;
  char line[256];
  memset(&t, 0, sizeof t);
  t.check_refuses = check_refuses;
  memcpy(line, text, len);
  line[len] = '\0';
  lab_cmd_dispatch(conn, &t, set, state, line, len);
  return t.log;
}

#define GO(set, state, text) go(set, state, text, strlen(text), 0)

static void test_refusals(void) {
  CHECK_EQ_STR(GO(&toy_set, TOY_A, ""), "refuse:EMPTY::-");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, " ANY"), "refuse:EMPTY::-");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "FROB x"), "refuse:UNKNOWN:FROB:-");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "AN"), "refuse:UNKNOWN:AN:-");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "ONLYB"), "refuse:STATE:ONLYB:ONLYB");
  CHECK_EQ_STR(GO(&toy_set, TOY_B, "ONLYB"), "admit run:[]");
  CHECK_EQ_STR(GO(&toy_set, TOY_B, "ANY"), "refuse:STATE:ANY:ANY");
}

static void test_states_at_the_edges(void) {
  /* Bit 31 is the last state a row can name; anything outside 0..31 is
   * refused, never shifted out of range. */
  CHECK_EQ_STR(GO(&toy_set, TOY_LAST, "LAST"), "admit run:[]");
  CHECK_EQ_STR(GO(&toy_set, 32, "LAST"), "refuse:STATE:LAST:LAST");
  CHECK_EQ_STR(GO(&toy_set, -1, "ANY"), "refuse:STATE:ANY:ANY");
  CHECK_EQ_STR(GO(&toy_set, TOY_LAST, "ANY"), "refuse:STATE:ANY:ANY");
}

static void test_shapes(void) {
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "ANY"), "admit run:[]");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "ANY a  b "), "admit run:[a  b ]");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "NONE"), "admit run:[]");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "NONE x"), "admit refuse:ARGS:NONE:NONE");
  /* One space separates; a second one is already argument. */
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "NONE  "), "admit refuse:ARGS:NONE:NONE");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "NONE "), "admit run:[]");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "REQ"), "admit refuse:ARGS:REQ:REQ");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "REQ "), "admit refuse:ARGS:REQ:REQ");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "REQ x"), "admit run:[x]");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "PATH"), "admit refuse:ARGS:PATH:PATH");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "PATH /a b"), "admit run:[/a b]");
}

static void test_order(void) {
  /* State before NUL: a command out of sequence says so first. */
  CHECK_EQ_STR(go(&toy_set, TOY_B, "ANY a\0b", 7, 0), "refuse:STATE:ANY:ANY");
  /* An unknown verb with a NUL is unknown. */
  CHECK_EQ_STR(go(&toy_set, TOY_A, "FROB a\0b", 8, 0), "refuse:UNKNOWN:FROB:-");
  /* NUL before admit and check. */
  CHECK_EQ_STR(go(&toy_set, TOY_A, "CHK a\0b", 7, 0), "refuse:NUL:CHK:CHK");
  CHECK_EQ_STR(go(&toy_set, TOY_A, "PATH \0", 6, 0), "refuse:NUL:PATH:PATH");
  /* Check before shape: a refused check answers whatever the argument. */
  CHECK_EQ_STR(go(&toy_set, TOY_A, "CHK", 3, 1), "admit check");
  CHECK_EQ_STR(go(&toy_set, TOY_A, "CHK", 3, 0), "admit check refuse:ARGS:CHK:CHK");
  CHECK_EQ_STR(go(&toy_set, TOY_A, "CHK x", 5, 0), "admit check run:[x]");
}

static void test_case_and_blanks(void) {
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "any x"), "admit run:[x]");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "LS"), "admit run:[]");
  CHECK_EQ_STR(GO(&toy_exact, TOY_A, "ls -l"), "run:[-l]");
  CHECK_EQ_STR(GO(&toy_exact, TOY_A, "LS"), "refuse:UNKNOWN:LS:-");
  CHECK_EQ_STR(GO(&toy_exact, TOY_A, "any"), "refuse:UNKNOWN:any:-");
  CHECK_EQ_STR(GO(&toy_blanks, TOY_A, "REQ    x"), "run:[x]");
  CHECK_EQ_STR(GO(&toy_blanks, TOY_A, "REQ   "), "refuse:ARGS:REQ:REQ");
  CHECK_EQ_STR(GO(&toy_set, TOY_A, "REQ   "), "admit run:[  ]");
}

static void test_verb_dispatch_and_match(void) {
  struct toy t;
  const struct lab_cmd *row = NULL;
  enum lab_refusal why = LAB_REFUSE_EMPTY;
  char args[] = "a b";

  memset(&t, 0, sizeof t);
  lab_cmd_dispatch_verb(conn, &t, &toy_set, TOY_A, "REQ", args, 0);
  CHECK_EQ_STR(t.log, "admit run:[a b]");
  memset(&t, 0, sizeof t);
  lab_cmd_dispatch_verb(conn, &t, &toy_set, TOY_A, "REQ", args, 1);
  CHECK_EQ_STR(t.log, "refuse:NUL:REQ:REQ");

  CHECK_EQ_INT(lab_cmd_match(&toy_set, TOY_A, "req", &row, &why), 0);
  CHECK(row == &toy_cmds[2]);
  CHECK_EQ_INT(lab_cmd_match(&toy_set, TOY_B, "REQ", &row, &why), -1);
  CHECK(row == &toy_cmds[2]);
  CHECK_EQ_INT(why, LAB_REFUSE_STATE);
  CHECK_EQ_INT(lab_cmd_match(&toy_set, TOY_A, "NOPE", &row, &why), -1);
  CHECK(row == NULL);
  CHECK_EQ_INT(why, LAB_REFUSE_UNKNOWN);
}

static void test_current_row(void) {
  /* The row's own spelling, whatever case the client used; none outside a run. */
  CHECK(lab_cmd_current(conn) == NULL);
  CHECK_EQ_STR(GO(&toy_shared, TOY_A, "one"), "run:ONE:[]");
  CHECK(lab_cmd_current(conn) == NULL);
  CHECK_EQ_STR(GO(&toy_shared, TOY_A, "TWO x"), "run:TWO:[x]");
  CHECK(lab_cmd_current(conn) == NULL);
  /* The check sees the row too, also when the shape then refuses. */
  CHECK_EQ_STR(GO(&toy_shared, TOY_A, "three"), "check:THREE run:THREE:[]");
  CHECK(lab_cmd_current(conn) == NULL);
  CHECK_EQ_STR(GO(&toy_shared, TOY_A, "three x"), "check:THREE refuse:ARGS:three:THREE");
  CHECK(lab_cmd_current(conn) == NULL);
  /* A refusal runs nothing. */
  CHECK_EQ_STR(GO(&toy_shared, TOY_B, "ONE"), "refuse:STATE:ONE:ONE");
  CHECK(lab_cmd_current(conn) == NULL);
}

int main(void) {
  conn = lab_mem_open(&toy_module, NULL, "127.0.0.1");
  CHECK(conn != NULL);
  test_refusals();
  test_states_at_the_edges();
  test_shapes();
  test_order();
  test_case_and_blanks();
  test_verb_dispatch_and_match();
  test_current_row();
  lab_mem_free(conn);
  return check_done();
}
