/* labcmd.c -- the one command dispatch of the line-protocol lab servers.
 *
 * SMTP, POP3, IMAP, FTP and the Telnet shell each declare their commands
 * as rows of struct lab_cmd (verb, legal states, argument shape, check,
 * run) and leave the rest here: split the line, find the row, refuse a
 * command in the wrong state, a NUL byte or an argument of the wrong
 * shape, then run the row's check and its run. The refusals are the
 * module's own replies (struct lab_cmd_set's refuse), so each protocol
 * keeps its wire format while the steps are written once.
 *
 * The order of the steps is part of every module's wire behaviour: state
 * first (a command out of sequence says so whatever its argument), then
 * NUL bytes, then the row's check (whether the session may do this now:
 * TLS available, not anonymous, a data channel ready), then the shape of
 * the argument, then run. While a row's check and run run,
 * lab_cmd_current() names it, so one function can serve several verbs
 * (IMAP's NOOP and CHECK).
 */
#include <string.h>
#include <strings.h>

#include "lab.h"
#include "labpriv.h"

const struct lab_cmd *lab_cmd_find(const struct lab_cmd *table, const char *verb) {
  for (; table && table->verb; table++)
    if (strcasecmp(table->verb, verb) == 0) return table;
  return NULL;
}

char *lab_cmd_split(char *line, char **args) {
  char *sp = strchr(line, ' ');

  /* Exactly one space separates verb and arguments (RFC 959, 5321):
   * anything after it, spaces included, belongs to the argument. */
  if (sp) {
    *sp = '\0';
    *args = sp + 1;
  } else {
    *args = line + strlen(line);
  }
  return line;
}

int lab_cmd_match(const struct lab_cmd_set *set, int state, const char *verb,
                  const struct lab_cmd **row, enum lab_refusal *why) {
  const struct lab_cmd *r = set->table;

  if (set->flags & LAB_CMDS_EXACT_CASE) {
    while (r->verb && strcmp(r->verb, verb) != 0) r++;
    if (!r->verb) r = NULL;
  } else {
    r = lab_cmd_find(r, verb);
  }
  *row = r;
  if (!r) {
    *why = LAB_REFUSE_UNKNOWN;
    return -1;
  }
  if (state < 0 || state >= 32 || !(r->states & LAB_IN(state))) {
    *why = LAB_REFUSE_STATE;
    return -1;
  }
  return 0;
}

/* Whether args has the row's shape. */
static int lab_cmd_shape_ok(const struct lab_cmd *row, const char *args) {
  switch (LAB_ARGS_SHAPE(row->args)) {
    case LAB_ARGS_NONE:
      return args[0] == '\0';
    case LAB_ARGS_REQ:
      return args[0] != '\0';
    default:
      return 1;
  }
}

/* A row that passed state and NUL: admit, its check, the shape, its run. */
static void lab_cmd_proceed(struct lab_conn *c, void *s, const struct lab_cmd_set *set,
                            const struct lab_cmd *row, const char *verb, char *args) {
  if (set->admit) set->admit(c, s, row, args);
  if (row->check && row->check(c, s, args) != 0) return;
  if (!lab_cmd_shape_ok(row, args)) {
    set->refuse(c, s, LAB_REFUSE_ARGS, verb, row);
    return;
  }
  row->run(c, s, args);
}

void lab_cmd_dispatch_verb(struct lab_conn *c, void *s, const struct lab_cmd_set *set, int state,
                           const char *verb, char *args, int nul) {
  const struct lab_cmd *row;
  enum lab_refusal why;

  if (!verb[0]) {
    set->refuse(c, s, LAB_REFUSE_EMPTY, verb, NULL);
    return;
  }
  if (lab_cmd_match(set, state, verb, &row, &why) != 0) {
    set->refuse(c, s, why, verb, row);
    return;
  }
  if (nul) {
    set->refuse(c, s, LAB_REFUSE_NUL, verb, row);
    return;
  }
  /* For a check or run function that serves several rows (IMAP's NOOP
   * and CHECK). */
  c->cmd = row;
  lab_cmd_proceed(c, s, set, row, verb, args);
  c->cmd = NULL;
}

const struct lab_cmd *lab_cmd_current(const struct lab_conn *c) {
  return c->cmd;
}

void lab_cmd_dispatch(struct lab_conn *c, void *s, const struct lab_cmd_set *set, int state,
                      char *line, size_t len) {
  int nul = strlen(line) != len;
  char *args, *verb = lab_cmd_split(line, &args);

  if (set->flags & LAB_CMDS_SKIP_BLANKS)
    while (*args == ' ') args++;
  lab_cmd_dispatch_verb(c, s, set, state, verb, args, nul);
}
