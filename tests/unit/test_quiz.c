/* test_quiz.c -- the port quiz: the bank's facts, every question it can generate,
 * forgiving matching with partial credit, explanations, the review schedule.
 *
 * Every row of the embedded bank is asked in every kind that fits it, many
 * times over with different draws, and each question is checked against
 * the bank itself: its own answer is accepted, every service that really
 * uses a port is accepted for it, no distractor scores, and a
 * multiple-choice question has exactly as many right choices as parts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "quiz.h"

#define DRAWS 24 /* draws per row and kind */

static struct quiz_bank *bank;

static const struct quiz_row *row(const char *id) {
  const struct quiz_row *r = quiz_bank_find(bank, id);
  if (!r) fprintf(stderr, "no row %s\n", id);
  return r;
}

static int row_has(const struct quiz_row *r, int port) {
  for (size_t i = 0; !r->is_range && i < r->n_ports; i++)
    if (r->ports[i] == port) return 1;
  return 0;
}

static int ports_are(const char *id, const int *want, size_t n) {
  const struct quiz_row *r = row(id);
  if (!r || r->n_ports != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (r->ports[i] != want[i]) return 0;
  return 1;
}

/* The facts the issue and the seed notes list, spelled out. */
static void test_bank_facts(void) {
  char err[256];
  bank = quiz_bank_load(NULL, err, sizeof err);
  CHECK(bank != NULL);
  if (!bank) {
    fprintf(stderr, "bank: %s\n", err);
    exit(1);
  }
  size_t services = 0;
  for (size_t i = 0; i < bank->n; i++) services += !bank->rows[i].is_range;
  CHECK(services >= 30);
  static const struct {
    const char *id;
    int ports[4];
    size_t n;
    const char *transport;
  } facts[] = {
      {"ftp", {21, 20}, 2, "tcp"},        {"ssh", {22}, 1, "tcp"},
      {"sftp", {22}, 1, "tcp"},           {"telnet", {23}, 1, "tcp"},
      {"smtp", {25, 465, 587}, 3, "tcp"}, {"dns", {53}, 1, "both"},
      {"dhcp", {67, 68}, 2, "udp"},       {"tftp", {69}, 1, "udp"},
      {"http", {80}, 1, "tcp"},           {"pop3", {110}, 1, "tcp"},
      {"pop3s", {995}, 1, "tcp"},         {"nntp", {119}, 1, "tcp"},
      {"ntp", {123}, 1, "udp"},           {"netbios", {137, 138, 139}, 3, "both"},
      {"imap", {143}, 1, "tcp"},          {"imaps", {993}, 1, "tcp"},
      {"snmp", {161, 162}, 2, "udp"},     {"ldap", {389}, 1, "tcp"},
      {"ldaps", {636}, 1, "tcp"},         {"https", {443}, 1, "tcp"},
      {"smb", {445}, 1, "tcp"},           {"syslog", {514}, 1, "udp"},
      {"ftps", {990, 989}, 2, "tcp"},     {"mssql", {1433}, 1, "tcp"},
      {"mysql", {3306}, 1, "tcp"},        {"rdp", {3389}, 1, "tcp"},
      {"sip", {5060, 5061}, 2, "both"},   {"smtps", {465}, 1, "tcp"},
      {"submission", {587}, 1, "tcp"},    {"ike", {500}, 1, "udp"},
      {"dot", {853}, 1, "tcp"},
  };
  for (size_t i = 0; i < sizeof facts / sizeof facts[0]; i++) {
    if (!ports_are(facts[i].id, facts[i].ports, facts[i].n)) {
      fprintf(stderr, "wrong ports for %s\n", facts[i].id);
      CHECK(0);
      continue;
    }
    CHECK_EQ_STR(row(facts[i].id)->transport, facts[i].transport);
  }
  const struct quiz_row *wk = row("well-known"), *reg = row("registered"), *dyn = row("dynamic");
  CHECK(wk && wk->is_range && wk->ports[0] == 0 && wk->ports[1] == 1023);
  CHECK(reg && reg->is_range && reg->ports[0] == 1024 && reg->ports[1] == 49151);
  CHECK(dyn && dyn->is_range && dyn->ports[0] == 49152 && dyn->ports[1] == 65535);
  CHECK(row("telnet")->security == QUIZ_SEC_CLEAR && row("ssh")->security == QUIZ_SEC_SECURE);
  CHECK(row("pop3")->security == QUIZ_SEC_CLEAR && row("pop3s")->security == QUIZ_SEC_SECURE);
  /* every row names the seed notes it comes from and has a purpose */
  for (size_t i = 0; i < bank->n; i++) CHECK(bank->rows[i].seeds[0] && bank->rows[i].purpose[0]);
}

/* An answer built from the matcher form: the first token of every required
 * part of the first alternative. */
static void answer_from_expect(const char *expect, char *out, size_t len) {
  const char *p = expect + (expect[0] == '*');
  size_t alt = strcspn(p, "#");
  out[0] = '\0';
  for (const char *q = p; q < p + alt;) {
    size_t part = strcspn(q, ";#");
    if (part > (size_t)(p + alt - q)) part = (size_t)(p + alt - q);
    if (*q != '+') {
      size_t tok = strcspn(q, "|;#");
      if (tok > part) tok = part;
      size_t used = strlen(out);
      snprintf(out + used, len - used, "%s%.*s", used ? ", " : "", (int)tok, q);
    }
    q += part + 1;
  }
}

static int accepted(const char *expect, const char *answer) {
  struct quiz_result r;
  quiz_check(expect, answer, &r);
  return r.correct;
}

static int scores(const char *expect, const char *answer) {
  struct quiz_result r;
  quiz_check(expect, answer, &r);
  return r.hits > 0 || r.points > 0;
}

static const struct quiz_row *row_by_display(const char *name) {
  for (size_t i = 0; i < bank->n; i++)
    if (strcmp(bank->rows[i].names[0], name) == 0) return &bank->rows[i];
  return NULL;
}

/* Checks one generated question against the bank. */
static void check_question(const struct quiz_row *r, const struct quiz_question *q) {
  char ans[512];
  answer_from_expect(q->expect, ans, sizeof ans);
  CHECK(q->prompt[0] && q->display[0] && q->label[0] && q->expect[0]);
  CHECK(accepted(q->expect, ans));
  if (!accepted(q->expect, ans))
    fprintf(stderr, "  %s/%s expect '%s' answer '%s'\n", r->id, quiz_kind_name(q->kind), q->expect,
            ans);
  /* a right answer is explained too, never a bare "Right." */
  struct quiz_result res;
  char why[1024];
  quiz_check(q->expect, ans, &res);
  quiz_explain(bank, q->kind, r->id, q->display, ans, &res, why, sizeof why);
  CHECK(strncmp(why, "Right.", 6) == 0 && strlen(why) > 20);
  if (strlen(why) <= 20)
    fprintf(stderr, "  %s/%s explained only '%s'\n", r->id, quiz_kind_name(q->kind), why);
  /* choices: distinct; the right ones exactly as many as the parts */
  size_t right = 0;
  char picked[512] = "";
  for (size_t i = 0; i < q->n_choices; i++) {
    for (size_t j = 0; j < i; j++) CHECK(strcmp(q->choices[i], q->choices[j]) != 0);
    if (scores(q->expect, q->choices[i])) {
      right++;
      size_t used = strlen(picked);
      snprintf(picked + used, sizeof picked - used, "%s%s", used ? ", " : "", q->choices[i]);
    }
  }
  if (q->n_choices) {
    CHECK(q->n_choices >= 3);
    if (!q->multi) CHECK_EQ_INT(right, 1);
    CHECK(right >= 1);
    CHECK(accepted(q->expect, picked)); /* picking every right choice is right */
    if (!accepted(q->expect, picked))
      fprintf(stderr, "  %s/%s expect '%s' picked '%s'\n", r->id, quiz_kind_name(q->kind),
              q->expect, picked);
  }
  /* against the bank, per kind */
  switch (q->kind) {
    case QUIZ_PORT_SERVICE: {
      int port = atoi(strstr(q->prompt, "port ") + 5);
      CHECK(row_has(r, port));
      for (size_t i = 0; i < bank->n; i++) {
        const struct quiz_row *o = &bank->rows[i];
        int owns = row_has(o, port);
        for (size_t n = 0; n < o->n_names; n++) {
          /* every service on the port is right under every alias; no other is */
          if (owns) CHECK(accepted(q->expect, o->names[n]));
          if (!owns) CHECK(!scores(q->expect, o->names[n]));
        }
      }
      for (size_t i = 0; i < q->n_choices; i++) {
        const struct quiz_row *o = row_by_display(q->choices[i]);
        CHECK(o != NULL);
        if (o) CHECK(row_has(o, port) == scores(q->expect, q->choices[i]));
      }
      break;
    }
    case QUIZ_SERVICE_PORT:
      for (size_t i = 0; i < q->n_choices; i++)
        CHECK(row_has(r, atoi(q->choices[i])) == scores(q->expect, q->choices[i]));
      for (size_t i = 0; i < r->n_ports; i++) {
        char p[16];
        snprintf(p, sizeof p, "%d", r->ports[i]);
        CHECK(!strstr(q->prompt, p)); /* the prompt does not give it away */
      }
      break;
    case QUIZ_SECURE_PORT:
    case QUIZ_CLEAR_PORT:
      /* each counterpart's main port alone is a right answer */
      for (size_t i = 0; i < r->n_counterpart; i++) {
        const struct quiz_row *c = row(r->counterpart[i]);
        int usable = q->kind == QUIZ_SECURE_PORT ? c->security != QUIZ_SEC_CLEAR
                                                 : c->security == QUIZ_SEC_CLEAR;
        char p[16];
        snprintf(p, sizeof p, "%d", c->ports[0]);
        if (usable) CHECK(accepted(q->expect, p));
      }
      break;
    case QUIZ_CLEARTEXT:
      for (size_t i = 0; i < q->n_choices; i++) {
        const struct quiz_row *o = row_by_display(q->choices[i]);
        CHECK(o && o->security != QUIZ_SEC_NONE);
        if (o) CHECK((o->security == QUIZ_SEC_CLEAR) == scores(q->expect, q->choices[i]));
      }
      CHECK(q->multi);
      break;
    case QUIZ_RANGE:
      CHECK_EQ_INT(q->n_choices, 3);
      break;
    default:
      break;
  }
}

static void test_every_row_every_kind(void) {
  uint64_t rng = 42;
  int asked[QUIZ_KIND_COUNT] = {0};
  for (size_t i = 0; i < bank->n; i++) {
    const struct quiz_row *r = &bank->rows[i];
    int kinds = 0;
    for (int k = 0; k < QUIZ_KIND_COUNT; k++) {
      if (!quiz_applies(bank, r, k)) continue;
      kinds++;
      asked[k]++;
      for (int d = 0; d < DRAWS; d++) {
        struct quiz_question q;
        CHECK_EQ_INT(quiz_generate(bank, r, k, d & 1, &rng, &q), 0);
        check_question(r, &q);
      }
    }
    /* every service can be asked both ways and by range; every range by bounds */
    if (!r->is_range) {
      CHECK(quiz_applies(bank, r, QUIZ_PORT_SERVICE) && quiz_applies(bank, r, QUIZ_SERVICE_PORT));
      CHECK(quiz_applies(bank, r, QUIZ_RANGE));
    } else {
      CHECK(quiz_applies(bank, r, QUIZ_RANGE_BOUNDS) && quiz_applies(bank, r, QUIZ_RANGE));
    }
    CHECK(kinds >= 2);
  }
  for (int k = 0; k < QUIZ_KIND_COUNT; k++) CHECK(asked[k] > 0);
  /* kinds not asked where the row says so, or where they do not fit */
  struct quiz_question q;
  CHECK_EQ_INT(quiz_generate(bank, row("https"), QUIZ_TRANSPORT, 1, &rng, &q), -1);
  CHECK_EQ_INT(quiz_generate(bank, row("smb"), QUIZ_CLEARTEXT, 1, &rng, &q), -1);
  CHECK_EQ_INT(quiz_generate(bank, row("pop3"), QUIZ_CLEAR_PORT, 1, &rng, &q), -1);
}

/* The neighbours students confuse come up as distractors. */
static void test_distractors_plausible(void) {
  uint64_t rng = 7;
  int saw_143 = 0, saw_imap = 0;
  for (int d = 0; d < 40; d++) {
    struct quiz_question q;
    quiz_generate(bank, row("pop3"), QUIZ_SERVICE_PORT, 1, &rng, &q);
    for (size_t i = 0; i < q.n_choices; i++) saw_143 |= strcmp(q.choices[i], "143") == 0;
    quiz_generate(bank, row("pop3"), QUIZ_PORT_SERVICE, 1, &rng, &q);
    for (size_t i = 0; i < q.n_choices; i++) saw_imap |= strcmp(q.choices[i], "IMAP") == 0;
  }
  CHECK(saw_143);
  CHECK(saw_imap);
}

static const char *expect_of(const char *id, enum quiz_kind k, char *buf, size_t len) {
  uint64_t rng = 1;
  struct quiz_question q;
  if (quiz_generate(bank, row(id), k, 0, &rng, &q)) return "";
  snprintf(buf, len, "%s", q.expect);
  return buf;
}

static void test_matching(void) {
  char e[LIM_QUIZ_EXPECT_LEN];
  struct quiz_result r;
  /* names: case, spaces, punctuation and aliases */
  expect_of("pop3", QUIZ_PORT_SERVICE, e, sizeof e);
  CHECK(accepted(e, "pop3"));
  CHECK(accepted(e, "POP 3"));
  CHECK(accepted(e, "  Post Office Protocol "));
  CHECK(accepted(e, "post-office protocol version 3"));
  CHECK(!accepted(e, "imap"));
  CHECK(!accepted(e, "pop3s"));
  CHECK(!accepted(e, ""));
  /* a port on two services takes either */
  expect_of("sftp", QUIZ_PORT_SERVICE, e, sizeof e);
  CHECK(accepted(e, "ssh") && accepted(e, "SFTP") && accepted(e, "Secure Shell"));
  /* ports: any order and separator, all parts needed, partial credit */
  expect_of("smtp", QUIZ_SERVICE_PORT, e, sizeof e);
  CHECK(accepted(e, "25, 465, 587"));
  CHECK(accepted(e, "587/25/465"));
  CHECK(accepted(e, "465 and 25 and 587"));
  CHECK(accepted(e, "tcp/25 tcp/465 tcp/587"));
  quiz_check(e, "25 587", &r);
  CHECK(!r.correct && r.hits == 2 && r.parts == 3 && r.points == 66);
  quiz_check(e, "25, 465, 587, 110", &r); /* a wrong extra costs a part */
  CHECK(!r.correct && r.hits == 3 && r.wrongs == 1 && r.points == 66);
  quiz_check(e, "110 143 993", &r);
  CHECK(!r.correct && r.points == 0);
  quiz_check(e, "25 25 25", &r); /* repeating a part does not count thrice */
  CHECK(r.hits == 1 && r.points == 33);
  /* ranges of ports expand when short */
  expect_of("netbios", QUIZ_SERVICE_PORT, e, sizeof e);
  CHECK(accepted(e, "137-139"));
  CHECK(accepted(e, "137 - 139"));
  CHECK(accepted(e, "139,138,137"));
  /* a single port: one number, not a spread of guesses */
  expect_of("imap", QUIZ_SERVICE_PORT, e, sizeof e);
  CHECK(accepted(e, "143"));
  CHECK(accepted(e, "port 143"));
  CHECK(!accepted(e, "143 993"));
  quiz_check(e, "143 993", &r);
  CHECK(r.points == 0);
  /* the secure version: either counterpart's main port */
  expect_of("ftp", QUIZ_SECURE_PORT, e, sizeof e);
  CHECK(accepted(e, "990"));
  CHECK(accepted(e, "990, 989"));
  CHECK(accepted(e, "22"));
  CHECK(!accepted(e, "21"));
  expect_of("smtp", QUIZ_SECURE_PORT, e, sizeof e);
  CHECK(accepted(e, "465") && accepted(e, "587") && !accepted(e, "25"));
  expect_of("imaps", QUIZ_CLEAR_PORT, e, sizeof e);
  CHECK(accepted(e, "143") && !accepted(e, "993"));
  /* transport */
  expect_of("dns", QUIZ_TRANSPORT, e, sizeof e);
  CHECK(accepted(e, "Both") && accepted(e, "TCP and UDP") && accepted(e, "udp/tcp"));
  CHECK(!accepted(e, "UDP"));
  expect_of("dhcp", QUIZ_TRANSPORT, e, sizeof e);
  CHECK(accepted(e, "udp") && !accepted(e, "tcp") && !accepted(e, "both"));
  /* ranges */
  expect_of("registered", QUIZ_RANGE_BOUNDS, e, sizeof e);
  CHECK(accepted(e, "1024-49151"));
  CHECK(accepted(e, "1024 to 49151"));
  CHECK(!accepted(e, "1024-65535"));
  expect_of("mysql", QUIZ_RANGE, e, sizeof e);
  CHECK(accepted(e, "registered") && accepted(e, "User ports") && !accepted(e, "dynamic"));
  expect_of("ssh", QUIZ_RANGE, e, sizeof e);
  CHECK(accepted(e, "well-known") && accepted(e, "Well known") && accepted(e, "system"));
  /* cleartext lists: every cleartext choice, no secure one */
  const char *cl = "*telnet|teletypenetwork;http|hypertexttransferprotocol";
  CHECK(accepted(cl, "Telnet, HTTP"));
  CHECK(accepted(cl, "http and telnet"));
  quiz_check(cl, "Telnet", &r);
  CHECK(!r.correct && r.points == 50);
  quiz_check(cl, "Telnet, HTTP, SSH", &r);
  CHECK(!r.correct && r.wrongs == 1 && r.points == 50);
  /* normalisation */
  char n[32];
  quiz_normalize(" POP-3 / Post ", n, sizeof n);
  CHECK_EQ_STR(n, "pop3post");
}

static void test_explanations(void) {
  char e[LIM_QUIZ_EXPECT_LEN], out[1024];
  struct quiz_result r;
  expect_of("imap", QUIZ_SERVICE_PORT, e, sizeof e);
  quiz_check(e, "993", &r);
  quiz_explain(bank, QUIZ_SERVICE_PORT, "imap", "143", "993", &r, out, sizeof out);
  CHECK(strstr(out, "993 is IMAPS") != NULL); /* the likely mistake, named */
  CHECK(strstr(out, "143") != NULL);
  expect_of("pop3", QUIZ_PORT_SERVICE, e, sizeof e);
  quiz_check(e, "IMAP", &r);
  quiz_explain(bank, QUIZ_PORT_SERVICE, "pop3", "POP3", "IMAP", &r, out, sizeof out);
  CHECK(strstr(out, "IMAP uses 143") != NULL && strstr(out, "110") != NULL);
  expect_of("smtp", QUIZ_SERVICE_PORT, e, sizeof e);
  quiz_check(e, "25 587", &r);
  quiz_explain(bank, QUIZ_SERVICE_PORT, "smtp", "25, 465 and 587", "25 587", &r, out, sizeof out);
  CHECK(strstr(out, "Partly right: 2 of 3") != NULL);
  quiz_check(e, "25 465 587", &r);
  quiz_explain(bank, QUIZ_SERVICE_PORT, "smtp", "25, 465 and 587", "25 465 587", &r, out,
               sizeof out);
  CHECK(strncmp(out, "Right.", 6) == 0);
}

static void test_bank_errors(void) {
  char err[256];
  static const char head[] =
      "type\tid\tnames\tports\ttransport\tsecurity\tcounterpart\tconfused\t"
      "skip\ttopic\tseeds\tpurpose\n";
  static const char rows[] =
      "service\ta\tAaa\t1\ttcp\tclear\t-\t-\t-\tt\t000\tp\n"
      "service\tb\tBbb\t2\ttcp\tsecure\t-\t-\t-\tt\t000\tp\n"
      "service\tc\tCcc\t3\tudp\t-\t-\t-\t-\tt\t000\tp\n"
      "service\td\tDdd\t4\tboth\t-\t-\t-\t-\tt\t000\tp\n";
  char text[2048];
  snprintf(text, sizeof text, "%s%s", head, rows);
  struct quiz_bank *b = quiz_bank_parse(text, strlen(text), err, sizeof err);
  CHECK(b != NULL);
  quiz_bank_free(b);
  static const char *const bad[] = {
      "service\te\tAAA\t5\ttcp\t-\t-\t-\t-\tt\t000\tp\n",     /* alias taken (case) */
      "service\ta\tEee\t5\ttcp\t-\t-\t-\t-\tt\t000\tp\n",     /* id taken */
      "service\te\tEee\t5\ttcp\t-\tzzz\t-\t-\tt\t000\tp\n",   /* link to nothing */
      "service\te\tEee\t70000\ttcp\t-\t-\t-\t-\tt\t000\tp\n", /* port out of range */
      "service\te\tEee\t5\tsctp\t-\t-\t-\t-\tt\t000\tp\n",    /* transport */
      "service\te\tEee\t5\ttcp\t-\t-\t-\tnope\tt\t000\tp\n",  /* unknown kind */
      "service\te\tEee\t5\ttcp\t-\t-\t-\t-\tt\t000\n",        /* a column short */
      "range\tr1\tLow\t0-1023\t-\t-\t-\t-\t-\tt\t000\tp\n"
      "range\tr2\tHigh\t1000-2000\t-\t-\t-\t-\t-\tt\t000\tp\n", /* ranges overlap */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(text, sizeof text, "%s%s%s", head, rows, bad[i]);
    b = quiz_bank_parse(text, strlen(text), err, sizeof err);
    CHECK(b == NULL);
    if (b) fprintf(stderr, "  accepted bad row %zu\n", i);
    quiz_bank_free(b);
  }
  CHECK(quiz_bank_load("/nonexistent/bank.tsv", err, sizeof err) == NULL);
  CHECK(strstr(err, "cannot read") != NULL);
}

/* A bank of the four base rows plus extra; 1 if it loads. */
static int loads(const char *extra) {
  static const char base[] =
      "service\ta\tAaa\t1\ttcp\tclear\t-\t-\t-\tt\t000\tp\n"
      "service\tb\tBbb\t2\ttcp\tsecure\t-\t-\t-\tt\t000\tp\n"
      "service\tc\tCcc\t3\tudp\t-\t-\t-\t-\tt\t000\tp\n"
      "service\td\tDdd\t4\tboth\t-\t-\t-\t-\tt\t000\tp\n";
  char err[256];
  size_t n = strlen(base) + strlen(extra) + 1;
  char *text = malloc(n);
  snprintf(text, n, "%s%s", base, extra);
  struct quiz_bank *b = quiz_bank_parse(text, strlen(text), err, sizeof err);
  free(text);
  quiz_bank_free(b);
  return b != NULL;
}

/* Each limit of a bank row, allowed at n and refused at n + 1. */
static void test_bank_limits(void) {
  char row[4096], field[512];
  /* names */
  strcpy(field, "N0");
  for (int i = 1; i < LIM_QUIZ_NAMES; i++) snprintf(field + strlen(field), 8, "|N%d", i);
  snprintf(row, sizeof row, "service\te\t%s\t5\ttcp\t-\t-\t-\t-\tt\t000\tp\n", field);
  CHECK(loads(row));
  snprintf(row, sizeof row, "service\te\t%s|Nx\t5\ttcp\t-\t-\t-\t-\tt\t000\tp\n", field);
  CHECK(!loads(row));
  /* one name's length */
  memset(field, 'n', LIM_QUIZ_NAME_LEN);
  field[LIM_QUIZ_NAME_LEN] = '\0';
  snprintf(row, sizeof row, "service\te\t%s\t5\ttcp\t-\t-\t-\t-\tt\t000\tp\n", field);
  CHECK(loads(row));
  snprintf(row, sizeof row, "service\te\t%sn\t5\ttcp\t-\t-\t-\t-\tt\t000\tp\n", field);
  CHECK(!loads(row));
  /* ports */
  snprintf(row, sizeof row, "service\te\tE\t10-%d\ttcp\t-\t-\t-\t-\tt\t000\tp\n",
           10 + LIM_QUIZ_PORTS - 1);
  CHECK(loads(row));
  snprintf(row, sizeof row, "service\te\tE\t10-%d\ttcp\t-\t-\t-\t-\tt\t000\tp\n",
           10 + LIM_QUIZ_PORTS);
  CHECK(!loads(row));
  /* id length */
  memset(field, 'i', LIM_QUIZ_ID_LEN);
  field[LIM_QUIZ_ID_LEN] = '\0';
  snprintf(row, sizeof row, "service\t%s\tE\t5\ttcp\t-\t-\t-\t-\tt\t000\tp\n", field);
  CHECK(loads(row));
  snprintf(row, sizeof row, "service\t%si\tE\t5\ttcp\t-\t-\t-\t-\tt\t000\tp\n", field);
  CHECK(!loads(row));
  /* links */
  snprintf(row, sizeof row, "service\te\tE\t5\ttcp\t-\t-\ta b c d a b\t-\tt\t000\tp\n");
  CHECK(loads(row));
  snprintf(row, sizeof row, "service\te\tE\t5\ttcp\t-\t-\ta b c d a b c\t-\tt\t000\tp\n");
  CHECK(!loads(row));
  /* services on one port (port 1 has "a" already) */
  row[0] = '\0';
  for (int i = 1; i < LIM_QUIZ_LINKS; i++)
    snprintf(row + strlen(row), sizeof row - strlen(row),
             "service\ts%d\tShared%d\t1\ttcp\t-\t-\t-\t-\tt\t000\tp\n", i, i);
  CHECK(loads(row));
  snprintf(row + strlen(row), sizeof row - strlen(row),
           "service\tsx\tSharedx\t1\ttcp\t-\t-\t-\t-\tt\t000\tp\n");
  CHECK(!loads(row));
  /* rows in a bank */
  size_t cap = (size_t)(LIM_QUIZ_BANK_ROWS + 1) * 64;
  char *many = malloc(cap);
  many[0] = '\0';
  for (int i = 0; i < LIM_QUIZ_BANK_ROWS - 4; i++)
    snprintf(many + strlen(many), cap - strlen(many),
             "service\tr%d\tRow%d\t%d\ttcp\t-\t-\t-\t-\tt\t000\tp\n", i, i, 100 + i);
  CHECK(loads(many));
  snprintf(many + strlen(many), cap - strlen(many),
           "service\tlast\tLast\t9999\ttcp\t-\t-\t-\t-\tt\t000\tp\n");
  CHECK(!loads(many));
  free(many);
  /* a bank file's size */
  char path[] = "/tmp/portlab-quiz-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  FILE *f = fdopen(fd, "w");
  static const char rows4[] =
      "service\ta\tAaa\t1\ttcp\tclear\t-\t-\t-\tt\t000\tp\n"
      "service\tb\tBbb\t2\ttcp\tsecure\t-\t-\t-\tt\t000\tp\n"
      "service\tc\tCcc\t3\tudp\t-\t-\t-\t-\tt\t000\tp\n"
      "service\td\tDdd\t4\tboth\t-\t-\t-\t-\tt\t000\tp\n";
  fputs(rows4, f);
  for (size_t n = strlen(rows4); n < LIM_QUIZ_BANK_BYTES; n++) fputc(n % 64 == 63 ? '\n' : '#', f);
  fclose(f);
  char err[256];
  struct quiz_bank *b = quiz_bank_load(path, err, sizeof err);
  CHECK(b != NULL); /* exactly the limit: comment lines fill it up */
  quiz_bank_free(b);
  f = fopen(path, "a");
  fputc('\n', f);
  fclose(f);
  b = quiz_bank_load(path, err, sizeof err);
  CHECK(b == NULL && strstr(err, "larger than") != NULL);
  quiz_bank_free(b);
  remove(path);
}

static void test_schedule(void) {
  CHECK_EQ_INT(quiz_box_after(0, 1), 2);
  CHECK_EQ_INT(quiz_box_after(0, 0), 1);
  CHECK_EQ_INT(quiz_box_after(4, 0), 1);
  CHECK_EQ_INT(quiz_box_after(3, 1), 4);
  CHECK_EQ_INT(quiz_box_after(QUIZ_BOXES, 1), QUIZ_BOXES);
  int64_t now = 1000000000LL * 1000000;
  /* a wrong answer comes back within the hour; each box waits longer */
  CHECK(quiz_due_after(1, now) - now <= 3600LL * 1000000);
  for (int b = 1; b < QUIZ_BOXES; b++) CHECK(quiz_due_after(b + 1, now) > quiz_due_after(b, now));
}

/* --quiz-bank and --quiz-questions, and their PORTLAB_* twins. */
static void test_flags(void) {
  struct config cfg;
  char err[256];
  char *dflt[] = {"portlab"};
  CHECK_EQ_INT(config_parse(&cfg, 1, dflt, err, sizeof err), CONFIG_OK);
  CHECK_EQ_INT(cfg.quiz_questions, LIM_QUIZ_QUESTIONS);
  CHECK_EQ_STR(cfg.quiz_bank, "");
  config_free(&cfg);
  char *edge[] = {"portlab", "--quiz-questions", "1000", "--quiz-bank=/tmp/b.tsv"};
  CHECK_EQ_INT(config_parse(&cfg, 4, edge, err, sizeof err), CONFIG_OK);
  CHECK_EQ_INT(cfg.quiz_questions, 1000);
  CHECK_EQ_STR(cfg.quiz_bank, "/tmp/b.tsv");
  config_free(&cfg);
  char *over[] = {"portlab", "--quiz-questions", "1001"};
  CHECK_EQ_INT(config_parse(&cfg, 3, over, err, sizeof err), CONFIG_ERROR);
  CHECK(strstr(err, "--quiz-questions") != NULL);
  config_free(&cfg);
  char *zero[] = {"portlab", "--quiz-questions", "0"};
  CHECK_EQ_INT(config_parse(&cfg, 3, zero, err, sizeof err), CONFIG_ERROR);
  config_free(&cfg);
  setenv("PORTLAB_QUIZ_QUESTIONS", "7", 1);
  setenv("PORTLAB_QUIZ_BANK", "/srv/bank.tsv", 1);
  CHECK_EQ_INT(config_parse(&cfg, 1, dflt, err, sizeof err), CONFIG_OK);
  CHECK_EQ_INT(cfg.quiz_questions, 7);
  CHECK_EQ_STR(cfg.quiz_bank, "/srv/bank.tsv");
  config_free(&cfg);
  unsetenv("PORTLAB_QUIZ_QUESTIONS");
  unsetenv("PORTLAB_QUIZ_BANK");
}

int main(void) {
  test_flags();
  test_bank_facts();
  test_every_row_every_kind();
  test_distractors_plausible();
  test_matching();
  test_explanations();
  test_bank_errors();
  test_bank_limits();
  test_schedule();
  quiz_bank_free(bank);
  return check_done();
}
