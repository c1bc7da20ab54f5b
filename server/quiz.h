/* quiz.h -- the port quiz: the bank, questions drawn from it, forgiving answer
 * matching with partial credit, explanations aimed at the likely mistake, and
 * the Leitner schedule of the review mode. Pure functions over a loaded bank:
 * no database, no lws (api_quiz.c and db/quiz.c do the rest).
 */
#ifndef PORTLAB_QUIZ_H
#define PORTLAB_QUIZ_H

#include <stddef.h>
#include <stdint.h>

#include "portlab_limits.h"

enum quiz_kind {
  QUIZ_PORT_SERVICE = 0, /* port -> service */
  QUIZ_SERVICE_PORT,     /* service -> port(s) */
  QUIZ_TRANSPORT,        /* TCP, UDP or both */
  QUIZ_SECURE_PORT,      /* the port of a cleartext service's secure version */
  QUIZ_CLEAR_PORT,       /* and back */
  QUIZ_RANGE,            /* which range a port is in */
  QUIZ_RANGE_BOUNDS,     /* the first and last port of a range */
  QUIZ_CLEARTEXT,        /* which of these are cleartext */
  QUIZ_KIND_COUNT
};

enum quiz_security { QUIZ_SEC_NONE = 0, QUIZ_SEC_CLEAR, QUIZ_SEC_SECURE };

struct quiz_row {
  int is_range;
  char id[LIM_QUIZ_ID_LEN + 1];
  char names[LIM_QUIZ_NAMES][LIM_QUIZ_NAME_LEN + 1]; /* display name first */
  size_t n_names;
  int ports[LIM_QUIZ_PORTS]; /* the main one first; a range row: lo, hi */
  size_t n_ports;
  char transport[8]; /* "tcp", "udp", "both" or "" */
  enum quiz_security security;
  char counterpart[LIM_QUIZ_LINKS][LIM_QUIZ_ID_LEN + 1];
  size_t n_counterpart;
  char confused[LIM_QUIZ_LINKS][LIM_QUIZ_ID_LEN + 1];
  size_t n_confused;
  unsigned skip; /* 1u << kind: not asked about this row */
  char topic[48];
  char seeds[48];
  char purpose[240];
};

struct quiz_bank {
  struct quiz_row *rows;
  size_t n;
};

struct quiz_question {
  enum quiz_kind kind;
  char fact[LIM_QUIZ_ID_LEN + 1]; /* the row asked about */
  char prompt[256];
  char choices[LIM_QUIZ_CHOICES][LIM_QUIZ_NAME_LEN + 1];
  size_t n_choices;                 /* 0: free text */
  int multi;                        /* more than one part to give */
  char expect[LIM_QUIZ_EXPECT_LEN]; /* the matcher's form (never sent before the end) */
  char display[256];                /* the right answer, as shown afterwards */
  char label[96];                   /* what it is about, for results: "port 143" */
};

struct quiz_result {
  int correct;
  int points; /* hundredths of the question's one point */
  int parts, hits, wrongs;
};

/* The bank from a TSV file, or the embedded quiz/ports.tsv when path is
 * NULL. NULL with "LINE n: reason" in err if a row is malformed, an id or
 * an alias is repeated, or a link names no row. Caller frees. */
struct quiz_bank *quiz_bank_load(const char *path, char *err, size_t errlen);
struct quiz_bank *quiz_bank_parse(const char *text, size_t len, char *err, size_t errlen);
void quiz_bank_free(struct quiz_bank *b); /* NULL is a no-op */
const struct quiz_row *quiz_bank_find(const struct quiz_bank *b, const char *id);

const char *quiz_kind_name(enum quiz_kind k);
int quiz_kind_parse(const char *name); /* -1 if unknown */

/* 1 if kind can be asked about row r. */
int quiz_applies(const struct quiz_bank *b, const struct quiz_row *r, enum quiz_kind k);

/* A small seeded generator, so tests can replay a draw. */
uint64_t quiz_rand(uint64_t *state);

/* Builds a question of kind k about row r (quiz_applies must hold). With
 * choices, multiple choice where it fits; else free text. 0 or -1. */
int quiz_generate(const struct quiz_bank *b, const struct quiz_row *r, enum quiz_kind k,
                  int with_choices, uint64_t *rng, struct quiz_question *q);

/* Lowercase letters and digits only: "POP 3" and "pop-3" are "pop3". */
void quiz_normalize(const char *in, char *out, size_t outlen);

/* Scores answer against a question's expect form: case, spaces and
 * aliases do not matter, parts may come in any order and with any
 * separator; a multi-part answer earns its share of the parts it names,
 * less one part for each wrong extra (never below 0). */
void quiz_check(const char *expect, const char *answer, struct quiz_result *res);

/* The feedback for an answer: what is right, and what the given answer
 * really is ("993 is IMAPS, IMAP over TLS"). Never empty. */
void quiz_explain(const struct quiz_bank *b, enum quiz_kind k, const char *fact,
                  const char *display, const char *answer, const struct quiz_result *res, char *out,
                  size_t outlen);

/* Leitner boxes 1..QUIZ_BOXES: a wrong answer sends a fact back to box 1
 * (due again within minutes), a right one moves it up a box, and each box
 * waits longer. */
#define QUIZ_BOXES 5
int quiz_box_after(int box, int correct); /* box 0: never seen */
int64_t quiz_due_after(int box, int64_t now_us);

#endif
