/* quiz.c -- the port quiz: bank parsing, question generation, matching, feedback.
 *
 * The bank (quiz/ports.tsv, embedded; or --quiz-bank FILE) has one row per
 * service and one per port range. Questions are drawn from it and carry
 * their own answer in a small matcher form, so an attempt can be scored
 * later even if the bank changed:
 *
 *   expect := ["*"] alt ("#" alt)*          "*": the answer is a list of names
 *   alt    := part (";" part)*              every part must be named
 *   part   := ["+"] token ("|" token)*      "+": extras that cost nothing
 *
 * Tokens are normalised (lowercase letters and digits), so the separators
 * can never occur inside one. A numeric alternative is matched against the
 * numbers in the answer ("137-139" expands), a name alternative against the
 * whole normalised answer, or each list item with "*". The best alternative
 * counts: "the secure version of FTP" is FTPS on 990 or SFTP on 22.
 *
 * Every multiple-choice question has exactly as many accepted choices as it
 * has parts, and a port that belongs to several services accepts each of
 * them; tests/unit/test_quiz.c checks both for every row and kind.
 */
#include "quiz.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"

#define MAX_TOKENS 48 /* numbers or list items read from one answer */

static const char *const kind_names[QUIZ_KIND_COUNT] = {"port_service", "service_port", "transport",
                                                        "secure_port",  "clear_port",   "range",
                                                        "range_bounds", "cleartext"};

const char *quiz_kind_name(enum quiz_kind k) {
  return (unsigned)k < QUIZ_KIND_COUNT ? kind_names[k] : "?";
}

int quiz_kind_parse(const char *name) {
  for (int k = 0; k < QUIZ_KIND_COUNT; k++)
    if (strcmp(name, kind_names[k]) == 0) return k;
  return -1;
}

/* --- small helpers ---------------------------------------------------------------- */

void quiz_normalize(const char *in, char *out, size_t outlen) {
  size_t j = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && j + 1 < outlen; p++)
    if (isalnum(*p)) out[j++] = (char)tolower(*p);
  out[j] = '\0';
}

uint64_t quiz_rand(uint64_t *state) { /* splitmix64 */
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static size_t rand_below(uint64_t *rng, size_t n) {
  return n ? (size_t)(quiz_rand(rng) % n) : 0;
}

/* Appends printf text to a bounded buffer; quietly stops at its end. */
static void appendf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t len, const char *fmt, ...) {
  size_t used = strlen(buf);
  if (used + 1 >= len) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + used, len - used, fmt, ap);
  va_end(ap);
}

const struct quiz_row *quiz_bank_find(const struct quiz_bank *b, const char *id) {
  for (size_t i = 0; i < b->n; i++)
    if (strcmp(b->rows[i].id, id) == 0) return &b->rows[i];
  return NULL;
}

static int row_has_port(const struct quiz_row *r, int port) {
  if (r->is_range) return 0;
  for (size_t i = 0; i < r->n_ports; i++)
    if (r->ports[i] == port) return 1;
  return 0;
}

/* The row an alias names, or NULL. */
static const struct quiz_row *row_by_alias(const struct quiz_bank *b, const char *norm) {
  char n[LIM_QUIZ_NAME_LEN + 1];
  if (!norm[0]) return NULL;
  for (size_t i = 0; i < b->n; i++)
    for (size_t j = 0; j < b->rows[i].n_names; j++) {
      quiz_normalize(b->rows[i].names[j], n, sizeof n);
      if (strcmp(n, norm) == 0) return &b->rows[i];
    }
  return NULL;
}

/* --- the bank ------------------------------------------------------------------------ */

#define N_COLUMNS 12

static int split_list(char *s, const char *seps, char **out, size_t max) {
  size_t n = 0;
  if (strcmp(s, "-") == 0) return 0;
  char *save = NULL;
  for (char *tok = strtok_r(s, seps, &save); tok; tok = strtok_r(NULL, seps, &save)) {
    if (n == max) return -1;
    out[n++] = tok;
  }
  return (int)n;
}

static int copy_field(char *dst, size_t dstlen, const char *src) {
  if (strlen(src) >= dstlen) return -1;
  strcpy(dst, src);
  return 0;
}

static int parse_port(const char *s, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > 65535) return -1;
  *out = (int)v;
  return 0;
}

/* ports: "21,20", "137-139"; a range row: exactly "LO-HI". */
static int parse_ports(struct quiz_row *r, char *s) {
  char *items[LIM_QUIZ_PORTS];
  int n = split_list(s, ",", items, LIM_QUIZ_PORTS);
  if (n <= 0) return -1;
  for (int i = 0; i < n; i++) {
    char *dash = strchr(items[i], '-');
    int lo, hi;
    if (dash) {
      *dash = '\0';
      if (parse_port(items[i], &lo) || parse_port(dash + 1, &hi) || lo > hi) return -1;
    } else {
      if (parse_port(items[i], &lo)) return -1;
      hi = lo;
    }
    if (r->is_range) {
      if (n != 1 || !dash) return -1;
      r->ports[0] = lo;
      r->ports[1] = hi;
      r->n_ports = 2;
      return 0;
    }
    for (int p = lo; p <= hi; p++) {
      if (r->n_ports == LIM_QUIZ_PORTS || row_has_port(r, p)) return -1;
      r->ports[r->n_ports++] = p;
    }
  }
  return 0;
}

static int parse_links(char *s, char (*out)[LIM_QUIZ_ID_LEN + 1], size_t *n) {
  char *items[LIM_QUIZ_LINKS];
  int k = split_list(s, " ", items, LIM_QUIZ_LINKS);
  if (k < 0) return -1;
  for (int i = 0; i < k; i++)
    if (copy_field(out[i], sizeof out[i], items[i])) return -1;
  *n = (size_t)k;
  return 0;
}

static int parse_row(struct quiz_row *r, char *line, char *why, size_t whylen) {
  char *col[N_COLUMNS];
  size_t n = 0;
  for (char *p = line;; n++) {
    if (n == N_COLUMNS) {
      snprintf(why, whylen, "more than %d columns", N_COLUMNS);
      return -1;
    }
    col[n] = p;
    char *tab = strchr(p, '\t');
    if (!tab) break;
    *tab = '\0';
    p = tab + 1;
  }
  if (++n != N_COLUMNS) {
    snprintf(why, whylen, "%zu columns, want %d (TAB-separated)", n, N_COLUMNS);
    return -1;
  }
  memset(r, 0, sizeof *r);
  if (strcmp(col[0], "service") != 0 && strcmp(col[0], "range") != 0) {
    snprintf(why, whylen, "type must be service or range");
    return -1;
  }
  r->is_range = col[0][0] == 'r';
  if (!col[1][0] || copy_field(r->id, sizeof r->id, col[1]) ||
      strspn(r->id, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(r->id)) {
    snprintf(why, whylen, "id must be 1-%d of a-z, 0-9, '-'", LIM_QUIZ_ID_LEN);
    return -1;
  }
  char *names[LIM_QUIZ_NAMES];
  int nn = split_list(col[2], "|", names, LIM_QUIZ_NAMES);
  if (nn <= 0) {
    snprintf(why, whylen, "1-%d names separated by |", LIM_QUIZ_NAMES);
    return -1;
  }
  for (int i = 0; i < nn; i++) {
    char norm[LIM_QUIZ_NAME_LEN + 1];
    quiz_normalize(names[i], norm, sizeof norm);
    if (copy_field(r->names[i], sizeof r->names[i], names[i]) || !norm[0]) {
      snprintf(why, whylen, "name '%.60s' is empty or longer than %d", names[i], LIM_QUIZ_NAME_LEN);
      return -1;
    }
  }
  r->n_names = (size_t)nn;
  if (parse_ports(r, col[3])) {
    snprintf(why, whylen, "ports must be up to %d distinct ports 0-65535 (a range row: LO-HI)",
             LIM_QUIZ_PORTS);
    return -1;
  }
  if (r->is_range ? strcmp(col[4], "-") != 0
                  : (strcmp(col[4], "tcp") && strcmp(col[4], "udp") && strcmp(col[4], "both"))) {
    snprintf(why, whylen, "transport must be tcp, udp or both (- for a range)");
    return -1;
  }
  if (!r->is_range) strcpy(r->transport, col[4]);
  if (strcmp(col[5], "clear") == 0)
    r->security = QUIZ_SEC_CLEAR;
  else if (strcmp(col[5], "secure") == 0)
    r->security = QUIZ_SEC_SECURE;
  else if (strcmp(col[5], "-") != 0) {
    snprintf(why, whylen, "security must be clear, secure or -");
    return -1;
  }
  if (parse_links(col[6], r->counterpart, &r->n_counterpart) ||
      parse_links(col[7], r->confused, &r->n_confused)) {
    snprintf(why, whylen, "counterpart and confused are up to %d ids separated by spaces",
             LIM_QUIZ_LINKS);
    return -1;
  }
  char *skips[QUIZ_KIND_COUNT];
  int ns = split_list(col[8], " ", skips, QUIZ_KIND_COUNT);
  for (int i = 0; i < ns; i++) {
    int k = quiz_kind_parse(skips[i]);
    if (k < 0) {
      snprintf(why, whylen, "unknown question kind '%.40s' in skip", skips[i]);
      return -1;
    }
    r->skip |= 1u << k;
  }
  if (ns < 0 || copy_field(r->topic, sizeof r->topic, col[9]) ||
      copy_field(r->seeds, sizeof r->seeds, col[10]) ||
      copy_field(r->purpose, sizeof r->purpose, col[11]) || !r->purpose[0]) {
    snprintf(why, whylen, "skip, topic, seeds or purpose is malformed or too long");
    return -1;
  }
  return 0;
}

/* Ids and aliases unique, links pointing at rows, three ranges at most
 * that do not overlap. */
static int check_bank(const struct quiz_bank *b, char *why, size_t whylen) {
  char a[LIM_QUIZ_NAME_LEN + 1], c[LIM_QUIZ_NAME_LEN + 1];
  for (size_t i = 0; i < b->n; i++) {
    const struct quiz_row *r = &b->rows[i];
    for (size_t j = 0; j < i; j++)
      if (strcmp(b->rows[j].id, r->id) == 0) {
        snprintf(why, whylen, "id '%s' is used twice", r->id);
        return -1;
      }
    for (size_t k = 0; k < r->n_names; k++) {
      quiz_normalize(r->names[k], a, sizeof a);
      for (size_t j = 0; j < i; j++) /* repeats inside one row are harmless */
        for (size_t m = 0; m < b->rows[j].n_names; m++) {
          quiz_normalize(b->rows[j].names[m], c, sizeof c);
          if (strcmp(a, c) == 0) {
            snprintf(why, whylen, "name '%s' of '%s' is also a name of '%s'", r->names[k], r->id,
                     b->rows[j].id);
            return -1;
          }
        }
    }
    for (size_t k = 0; k < r->n_counterpart + r->n_confused; k++) {
      const char *id = k < r->n_counterpart ? r->counterpart[k] : r->confused[k - r->n_counterpart];
      const struct quiz_row *o = quiz_bank_find(b, id);
      if (!o || o == r || (k < r->n_counterpart && o->is_range)) {
        snprintf(why, whylen, "'%s' links to '%s', which is no other service row", r->id, id);
        return -1;
      }
    }
    /* Every alias of every service on a port must fit one matcher form. */
    for (size_t p = 0; !r->is_range && p < r->n_ports; p++) {
      size_t sharing = 0;
      for (size_t j = 0; j < b->n; j++) sharing += row_has_port(&b->rows[j], r->ports[p]);
      if (sharing > LIM_QUIZ_LINKS) {
        snprintf(why, whylen, "port %d belongs to more than %d services", r->ports[p],
                 LIM_QUIZ_LINKS);
        return -1;
      }
    }
    if (r->is_range)
      for (size_t j = 0; j < i; j++)
        if (b->rows[j].is_range && r->ports[0] <= b->rows[j].ports[1] &&
            b->rows[j].ports[0] <= r->ports[1]) {
          snprintf(why, whylen, "range '%s' overlaps '%s'", r->id, b->rows[j].id);
          return -1;
        }
  }
  return 0;
}

struct quiz_bank *quiz_bank_parse(const char *text, size_t len, char *err, size_t errlen) {
  struct quiz_bank *b = calloc(1, sizeof *b);
  char *copy = malloc(len + 1);
  char why[200];
  int lineno = 0;
  if (!b || !copy) goto oom;
  memcpy(copy, text, len);
  copy[len] = '\0';
  b->rows = calloc(LIM_QUIZ_BANK_ROWS, sizeof *b->rows);
  if (!b->rows) goto oom;
  int header_seen = 0;
  for (char *line = copy, *next; line; line = next) {
    lineno++;
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    line[strcspn(line, "\r")] = '\0';
    if (!line[0] || line[0] == '#') continue;
    if (!header_seen) { /* the column names */
      header_seen = 1;
      if (strncmp(line, "type\t", 5) == 0) continue;
    }
    if (b->n == LIM_QUIZ_BANK_ROWS) {
      snprintf(err, errlen, "line %d: more than %d rows", lineno, LIM_QUIZ_BANK_ROWS);
      goto fail;
    }
    if (parse_row(&b->rows[b->n], line, why, sizeof why)) {
      snprintf(err, errlen, "line %d: %s", lineno, why);
      goto fail;
    }
    b->n++;
  }
  size_t services = 0, ranges = 0;
  for (size_t i = 0; i < b->n; i++) b->rows[i].is_range ? ranges++ : services++;
  if (services < 4) {
    snprintf(err, errlen, "a bank needs at least 4 service rows (it has %zu)", services);
    goto fail;
  }
  if (check_bank(b, why, sizeof why)) {
    snprintf(err, errlen, "%s", why);
    goto fail;
  }
  free(copy);
  return b;
oom:
  snprintf(err, errlen, "out of memory");
fail:
  free(copy);
  quiz_bank_free(b);
  return NULL;
}

struct quiz_bank *quiz_bank_load(const char *path, char *err, size_t errlen) {
  if (!path) {
    for (size_t i = 0; i < quiz_files_count; i++)
      if (strcmp(quiz_files[i].path, "/ports.tsv") == 0)
        return quiz_bank_parse((const char *)quiz_files[i].raw, quiz_files[i].raw_len, err, errlen);
    snprintf(err, errlen, "the embedded bank is missing");
    return NULL;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
    return NULL;
  }
  char *text = malloc(LIM_QUIZ_BANK_BYTES + 1);
  size_t n = text ? fread(text, 1, LIM_QUIZ_BANK_BYTES + 1, f) : 0;
  fclose(f);
  struct quiz_bank *b = NULL;
  if (!text)
    snprintf(err, errlen, "out of memory");
  else if (n > LIM_QUIZ_BANK_BYTES)
    snprintf(err, errlen, "'%s' is larger than %d bytes", path, LIM_QUIZ_BANK_BYTES);
  else
    b = quiz_bank_parse(text, n, err, errlen);
  free(text);
  return b;
}

void quiz_bank_free(struct quiz_bank *b) {
  if (!b) return;
  free(b->rows);
  free(b);
}

/* --- which questions fit which row ----------------------------------------------------- */

/* The counterparts a question of kind k may use: secure ones for a
 * cleartext row, cleartext ones for a secure row. */
static size_t usable_counterparts(const struct quiz_bank *b, const struct quiz_row *r,
                                  enum quiz_kind k, const struct quiz_row **out) {
  size_t n = 0;
  if (k == QUIZ_SECURE_PORT && r->security != QUIZ_SEC_CLEAR) return 0;
  if (k == QUIZ_CLEAR_PORT && r->security != QUIZ_SEC_SECURE) return 0;
  for (size_t i = 0; i < r->n_counterpart; i++) {
    const struct quiz_row *c = quiz_bank_find(b, r->counterpart[i]);
    if (!c || c->is_range) continue;
    if (k == QUIZ_CLEAR_PORT && c->security != QUIZ_SEC_CLEAR) continue;
    if (k == QUIZ_SECURE_PORT && c->security == QUIZ_SEC_CLEAR) continue;
    out[n++] = c;
  }
  return n;
}

static const struct quiz_row *range_of(const struct quiz_bank *b, int port) {
  for (size_t i = 0; i < b->n; i++)
    if (b->rows[i].is_range && port >= b->rows[i].ports[0] && port <= b->rows[i].ports[1])
      return &b->rows[i];
  return NULL;
}

static size_t count_ranges(const struct quiz_bank *b) {
  size_t n = 0;
  for (size_t i = 0; i < b->n; i++) n += b->rows[i].is_range;
  return n;
}

int quiz_applies(const struct quiz_bank *b, const struct quiz_row *r, enum quiz_kind k) {
  const struct quiz_row *cp[LIM_QUIZ_LINKS];
  if ((unsigned)k >= QUIZ_KIND_COUNT || (r->skip & (1u << k))) return 0;
  switch (k) {
    case QUIZ_PORT_SERVICE:
    case QUIZ_SERVICE_PORT:
    case QUIZ_TRANSPORT:
      return !r->is_range;
    case QUIZ_SECURE_PORT:
    case QUIZ_CLEAR_PORT:
      return !r->is_range && usable_counterparts(b, r, k, cp) > 0;
    case QUIZ_RANGE:
      return count_ranges(b) >= 2 && range_of(b, r->ports[0]) != NULL;
    case QUIZ_RANGE_BOUNDS:
      return r->is_range;
    case QUIZ_CLEARTEXT: {
      if (r->is_range || r->security == QUIZ_SEC_NONE) return 0;
      size_t clear = 0, rated = 0;
      for (size_t i = 0; i < b->n; i++) {
        rated += b->rows[i].security != QUIZ_SEC_NONE;
        clear += b->rows[i].security == QUIZ_SEC_CLEAR;
      }
      return rated >= 4 && clear >= 1 && clear < rated;
    }
    default:
      return 0;
  }
}

/* --- building questions ----------------------------------------------------------- */

static void add_token(char *expect, size_t len, const char *word, int first) {
  char n[LIM_QUIZ_NAME_LEN + 1];
  quiz_normalize(word, n, sizeof n);
  appendf(expect, len, "%s%s", first ? "" : "|", n);
}

static void add_row_names(char *expect, size_t len, const struct quiz_row *r, int first) {
  for (size_t i = 0; i < r->n_names; i++) add_token(expect, len, r->names[i], first && i == 0);
}

/* "21;+20": the main port required, the others free. */
static void add_main_port(char *expect, size_t len, const struct quiz_row *c) {
  appendf(expect, len, "%d", c->ports[0]);
  for (size_t i = 1; i < c->n_ports; i++)
    appendf(expect, len, "%s%d", i == 1 ? ";+" : "|", c->ports[i]);
}

static void ports_text(const struct quiz_row *r, char *out, size_t len) {
  out[0] = '\0';
  if (r->is_range) {
    snprintf(out, len, "%d-%d", r->ports[0], r->ports[1]);
    return;
  }
  for (size_t i = 0; i < r->n_ports; i++)
    appendf(out, len, "%s%d", i == 0 ? "" : i + 1 == r->n_ports ? " and " : ", ", r->ports[i]);
}

static int has_choice(const struct quiz_question *q, const char *text) {
  for (size_t i = 0; i < q->n_choices; i++)
    if (strcasecmp(q->choices[i], text) == 0) return 1;
  return 0;
}

static void add_choice(struct quiz_question *q, const char *text) {
  if (q->n_choices < LIM_QUIZ_CHOICES && !has_choice(q, text))
    snprintf(q->choices[q->n_choices++], sizeof q->choices[0], "%s", text);
}

static void shuffle_choices(struct quiz_question *q, uint64_t *rng) {
  for (size_t i = q->n_choices; i > 1; i--) {
    size_t j = rand_below(rng, i);
    char tmp[LIM_QUIZ_NAME_LEN + 1];
    memcpy(tmp, q->choices[i - 1], sizeof tmp);
    memcpy(q->choices[i - 1], q->choices[j], sizeof tmp);
    memcpy(q->choices[j], tmp, sizeof tmp);
  }
}

/* Would this choice score as (part of) a right answer? */
static int choice_accepted(const char *expect, const char *choice) {
  struct quiz_result res;
  quiz_check(expect, choice, &res);
  return res.hits > 0 || res.points > 0;
}

/* Port distractors: the confused rows' ports first, then the next-door
 * numbers (20/21, 67/68), then any port in the bank. */
static void port_distractors(const struct quiz_bank *b, const struct quiz_row *r, int port,
                             struct quiz_question *q, size_t want, uint64_t *rng) {
  char text[16];
  for (size_t i = 0; i < r->n_confused && q->n_choices < want; i++) {
    const struct quiz_row *c = quiz_bank_find(b, r->confused[i]);
    if (!c || c->is_range) continue;
    snprintf(text, sizeof text, "%d", c->ports[rand_below(rng, c->n_ports)]);
    if (!choice_accepted(q->expect, text)) add_choice(q, text);
  }
  for (int d = 1; d <= 2 && q->n_choices < want; d++) {
    int near = (quiz_rand(rng) & 1) ? port + d : port - d;
    if (near < 1 || near > 65535) continue;
    int known = 0;
    for (size_t i = 0; i < b->n && !known; i++) known = row_has_port(&b->rows[i], near);
    snprintf(text, sizeof text, "%d", near);
    if (known && !choice_accepted(q->expect, text)) add_choice(q, text);
  }
  for (int tries = 0; tries < 200 && q->n_choices < want; tries++) {
    const struct quiz_row *c = &b->rows[rand_below(rng, b->n)];
    if (c->is_range) continue;
    snprintf(text, sizeof text, "%d", c->ports[rand_below(rng, c->n_ports)]);
    if (!choice_accepted(q->expect, text)) add_choice(q, text);
  }
}

/* Service distractors: confused rows, then services on nearby ports, then any. */
static void name_distractors(const struct quiz_bank *b, const struct quiz_row *r, int port,
                             struct quiz_question *q, size_t want, uint64_t *rng) {
  for (size_t i = 0; i < r->n_confused && q->n_choices < want; i++) {
    const struct quiz_row *c = quiz_bank_find(b, r->confused[i]);
    if (c && !c->is_range && !choice_accepted(q->expect, c->names[0])) add_choice(q, c->names[0]);
  }
  for (int tries = 0; tries < 200 && q->n_choices < want; tries++) {
    const struct quiz_row *c = &b->rows[rand_below(rng, b->n)];
    if (tries < 100) { /* near ports first */
      int close = 0;
      for (size_t i = 0; i < c->n_ports; i++) close |= abs(c->ports[i] - port) <= 50;
      if (!close) continue;
    }
    if (!c->is_range && !choice_accepted(q->expect, c->names[0])) add_choice(q, c->names[0]);
  }
}

static void gen_port_service(const struct quiz_bank *b, const struct quiz_row *r, int with_choices,
                             uint64_t *rng, struct quiz_question *q) {
  int port = r->ports[rand_below(rng, r->n_ports)];
  int first = 1;
  /* Every service on that port is right. */
  for (size_t i = 0; i < b->n; i++) {
    if (!row_has_port(&b->rows[i], port)) continue;
    add_row_names(q->expect, sizeof q->expect, &b->rows[i], first);
    appendf(q->display, sizeof q->display, "%s%s", first ? "" : " or ", b->rows[i].names[0]);
    first = 0;
  }
  snprintf(q->prompt, sizeof q->prompt, "Which service uses port %d by default?", port);
  snprintf(q->label, sizeof q->label, "port %d", port);
  if (with_choices) {
    add_choice(q, r->names[0]);
    name_distractors(b, r, port, q, 4, rng);
  }
}

static void gen_service_port(const struct quiz_bank *b, const struct quiz_row *r, int with_choices,
                             uint64_t *rng, struct quiz_question *q) {
  for (size_t i = 0; i < r->n_ports; i++)
    appendf(q->expect, sizeof q->expect, "%s%d", i ? ";" : "", r->ports[i]);
  ports_text(r, q->display, sizeof q->display);
  q->multi = r->n_ports > 1;
  if (q->multi)
    snprintf(q->prompt, sizeof q->prompt, "Which ports does %s use? Give all %zu.", r->names[0],
             r->n_ports);
  else
    snprintf(q->prompt, sizeof q->prompt, "Which port does %s use by default?", r->names[0]);
  snprintf(q->label, sizeof q->label, "%s port", r->names[0]);
  if (with_choices && r->n_ports + 2 <= LIM_QUIZ_CHOICES) {
    char text[16];
    for (size_t i = 0; i < r->n_ports; i++) {
      snprintf(text, sizeof text, "%d", r->ports[i]);
      add_choice(q, text);
    }
    port_distractors(b, r, r->ports[0], q, q->multi ? r->n_ports + 2 : 4, rng);
  }
}

static void gen_transport(const struct quiz_row *r, struct quiz_question *q) {
  const char *t = r->transport;
  if (strcmp(t, "both") == 0) {
    snprintf(q->expect, sizeof q->expect, "both|tcpandudp|udpandtcp|tcpudp|udptcp|tcpudpboth");
    snprintf(q->display, sizeof q->display, "Both (TCP and UDP)");
  } else {
    snprintf(q->expect, sizeof q->expect, "%s|%sonly", t, t);
    snprintf(q->display, sizeof q->display, "%s", t[0] == 't' ? "TCP" : "UDP");
  }
  snprintf(q->prompt, sizeof q->prompt, "Does %s run over TCP, UDP or both?", r->names[0]);
  snprintf(q->label, sizeof q->label, "%s transport", r->names[0]);
  add_choice(q, "TCP");
  add_choice(q, "UDP");
  add_choice(q, "Both");
}

static void gen_counterpart_port(const struct quiz_bank *b, const struct quiz_row *r,
                                 enum quiz_kind k, int with_choices, uint64_t *rng,
                                 struct quiz_question *q) {
  const struct quiz_row *cp[LIM_QUIZ_LINKS];
  size_t n = usable_counterparts(b, r, k, cp);
  for (size_t i = 0; i < n; i++) {
    if (i) appendf(q->expect, sizeof q->expect, "#");
    add_main_port(q->expect, sizeof q->expect, cp[i]);
    appendf(q->display, sizeof q->display, "%s%d (%s)", i ? " or " : "", cp[i]->ports[0],
            cp[i]->names[0]);
  }
  snprintf(q->prompt, sizeof q->prompt, "Which port does the %s version of %s use?",
           k == QUIZ_SECURE_PORT ? "secure" : "cleartext", r->names[0]);
  snprintf(q->label, sizeof q->label, "%s's %s port", r->names[0],
           k == QUIZ_SECURE_PORT ? "secure" : "cleartext");
  if (with_choices) {
    char text[16];
    snprintf(text, sizeof text, "%d", cp[0]->ports[0]);
    add_choice(q, text);
    port_distractors(b, cp[0], cp[0]->ports[0], q, 4, rng);
  }
}

static void gen_range(const struct quiz_bank *b, const struct quiz_row *r, uint64_t *rng,
                      struct quiz_question *q) {
  int port = r->ports[0];
  if (r->is_range) /* a random port of the range, its edges now and then */
    switch (rand_below(rng, 4)) {
      case 0:
        break;
      case 1:
        port = r->ports[1];
        break;
      default:
        port = r->ports[0] + (int)rand_below(rng, (size_t)(r->ports[1] - r->ports[0] + 1));
    }
  const struct quiz_row *in = range_of(b, port);
  add_row_names(q->expect, sizeof q->expect, in, 1);
  snprintf(q->display, sizeof q->display, "%s (%d-%d)", in->names[0], in->ports[0], in->ports[1]);
  snprintf(q->prompt, sizeof q->prompt, "Which range is port %d in?", port);
  snprintf(q->label, sizeof q->label, "range of port %d", port);
  for (size_t i = 0; i < b->n; i++)
    if (b->rows[i].is_range) add_choice(q, b->rows[i].names[0]);
}

static void gen_range_bounds(const struct quiz_row *r, struct quiz_question *q) {
  snprintf(q->expect, sizeof q->expect, "%d;%d", r->ports[0], r->ports[1]);
  snprintf(q->display, sizeof q->display, "%d-%d", r->ports[0], r->ports[1]);
  snprintf(q->prompt, sizeof q->prompt,
           "Which ports make up the %s range? Give the first and the last.", r->names[0]);
  snprintf(q->label, sizeof q->label, "%s range", r->names[0]);
  q->multi = 1;
}

/* Four rated services, r among them, at least one cleartext and one secure:
 * the counterpart first, so the pair (POP3 and POP3S) stands side by side. */
static void gen_cleartext(const struct quiz_bank *b, const struct quiz_row *r, uint64_t *rng,
                          struct quiz_question *q) {
  const struct quiz_row *pick[4];
  size_t n = 0;
  pick[n++] = r;
  for (size_t i = 0; i < r->n_counterpart && n < 2; i++) {
    const struct quiz_row *c = quiz_bank_find(b, r->counterpart[i]);
    if (c && c->security != QUIZ_SEC_NONE && c->security != r->security) pick[n++] = c;
  }
  int tries = 0;
  while (n < 4 && tries++ < 1000) {
    const struct quiz_row *c = &b->rows[rand_below(rng, b->n)];
    if (c->security == QUIZ_SEC_NONE) continue;
    int dup = 0, clear = 0, secure = 0;
    for (size_t i = 0; i < n; i++) {
      dup |= pick[i] == c;
      clear += pick[i]->security == QUIZ_SEC_CLEAR;
      secure += pick[i]->security == QUIZ_SEC_SECURE;
    }
    /* the last slot must supply the kind still missing */
    if (dup || (n == 3 && !clear && c->security != QUIZ_SEC_CLEAR) ||
        (n == 3 && !secure && c->security != QUIZ_SEC_SECURE))
      continue;
    pick[n++] = c;
  }
  for (size_t i = 0; i < n; i++) {
    q->choices[i][0] = '\0';
    snprintf(q->choices[i], sizeof q->choices[i], "%s", pick[i]->names[0]);
  }
  q->n_choices = n;
  shuffle_choices(q, rng);
  snprintf(q->expect, sizeof q->expect, "*");
  int first = 1;
  for (size_t i = 0; i < q->n_choices; i++) {
    char norm[LIM_QUIZ_NAME_LEN + 1];
    quiz_normalize(q->choices[i], norm, sizeof norm);
    const struct quiz_row *c = row_by_alias(b, norm);
    if (!c || c->security != QUIZ_SEC_CLEAR) continue;
    if (!first) appendf(q->expect, sizeof q->expect, ";");
    add_row_names(q->expect, sizeof q->expect, c, 1);
    appendf(q->display, sizeof q->display, "%s%s", first ? "" : ", ", c->names[0]);
    first = 0;
  }
  snprintf(q->prompt, sizeof q->prompt,
           "Which of these send everything in cleartext? Choose all that apply.");
  snprintf(q->label, sizeof q->label, "cleartext: %s", r->names[0]);
  q->multi = 1;
}

int quiz_generate(const struct quiz_bank *b, const struct quiz_row *r, enum quiz_kind k,
                  int with_choices, uint64_t *rng, struct quiz_question *q) {
  memset(q, 0, sizeof *q);
  if (!quiz_applies(b, r, k)) return -1;
  q->kind = k;
  snprintf(q->fact, sizeof q->fact, "%s", r->id);
  switch (k) {
    case QUIZ_PORT_SERVICE:
      gen_port_service(b, r, with_choices, rng, q);
      break;
    case QUIZ_SERVICE_PORT:
      gen_service_port(b, r, with_choices, rng, q);
      break;
    case QUIZ_TRANSPORT:
      gen_transport(r, q);
      break;
    case QUIZ_SECURE_PORT:
    case QUIZ_CLEAR_PORT:
      gen_counterpart_port(b, r, k, with_choices, rng, q);
      break;
    case QUIZ_RANGE:
      gen_range(b, r, rng, q);
      break;
    case QUIZ_RANGE_BOUNDS:
      gen_range_bounds(r, q);
      break;
    case QUIZ_CLEARTEXT:
      gen_cleartext(b, r, rng, q);
      return 0; /* already shuffled */
    default:
      return -1;
  }
  /* Too few plausible distractors: free text rather than a giveaway. */
  if (q->n_choices && q->n_choices < 3) q->n_choices = 0;
  if (k != QUIZ_TRANSPORT && k != QUIZ_RANGE) shuffle_choices(q, rng); /* those read in order */
  return 0;
}

/* --- matching ------------------------------------------------------------------------ */

/* The numbers in an answer; "137-139" expands when short, else both ends. */
static size_t answer_numbers(const char *s, long *out, size_t max) {
  size_t n = 0;
  const char *p = s;
  while (*p && n < max) {
    if (!isdigit((unsigned char)*p)) {
      p++;
      continue;
    }
    char *end;
    long lo = strtol(p, &end, 10);
    p = end;
    const char *q = p;
    while (*q == ' ') q++;
    if (*q == '-') {
      q++;
      while (*q == ' ') q++;
      if (isdigit((unsigned char)*q)) {
        long hi = strtol(q, &end, 10);
        p = end;
        if (hi >= lo && hi - lo <= 16) {
          for (long v = lo; v <= hi && n < max; v++) out[n++] = v;
        } else {
          out[n++] = lo;
          if (n < max) out[n++] = hi;
        }
        continue;
      }
    }
    out[n++] = lo;
  }
  /* a number given twice counts once */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    size_t j = 0;
    while (j < m && out[j] != out[i]) j++;
    if (j == m) out[m++] = out[i];
  }
  return m;
}

/* List items: split at , ; | / newlines and the word "and". */
static size_t answer_items(const char *s, char out[][LIM_QUIZ_NAME_LEN + 1], size_t max) {
  char buf[LIM_QUIZ_ANSWER_BYTES * 2];
  size_t j = 0;
  for (const char *p = s; *p && j + 2 < sizeof buf; p++) {
    if (strchr(",;|/\n", *p)) {
      buf[j++] = ',';
    } else if ((p == s || p[-1] == ' ') && strncasecmp(p, "and ", 4) == 0) {
      buf[j++] = ',';
      p += 2;
    } else {
      buf[j++] = *p;
    }
  }
  buf[j] = '\0';
  size_t n = 0;
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save)) {
    quiz_normalize(tok, out[n], sizeof out[n]);
    if (!out[n][0]) continue;
    size_t k = 0;
    while (k < n && strcmp(out[k], out[n]) != 0) k++;
    if (k == n) n++;
  }
  return n;
}

/* 1 if token is one of part's "|"-separated tokens. */
static int part_has(const char *part, size_t partlen, const char *token) {
  size_t tl = strlen(token);
  const char *p = part, *end = part + partlen;
  while (p < end) {
    const char *bar = memchr(p, '|', (size_t)(end - p));
    size_t n = bar ? (size_t)(bar - p) : (size_t)(end - p);
    if (n == tl && memcmp(p, token, n) == 0) return 1;
    p += n + 1;
  }
  return 0;
}

static void check_alt(const char *alt, size_t altlen, int list, const char *answer,
                      struct quiz_result *res) {
  struct {
    const char *s;
    size_t len;
    int extra;
  } parts[LIM_QUIZ_PORTS * 2];
  size_t np = 0;
  memset(res, 0, sizeof *res);
  for (const char *p = alt, *end = alt + altlen; p < end && np < sizeof parts / sizeof parts[0];) {
    const char *semi = memchr(p, ';', (size_t)(end - p));
    size_t n = semi ? (size_t)(semi - p) : (size_t)(end - p);
    parts[np].extra = *p == '+';
    parts[np].s = p + parts[np].extra;
    parts[np].len = n - (size_t)parts[np].extra;
    np++;
    p += n + 1;
  }
  char tokens[MAX_TOKENS][LIM_QUIZ_NAME_LEN + 1];
  size_t nt = 0;
  int numeric = np > 0 && isdigit((unsigned char)parts[0].s[0]);
  if (numeric) {
    long nums[MAX_TOKENS];
    nt = answer_numbers(answer, nums, MAX_TOKENS);
    for (size_t i = 0; i < nt; i++) snprintf(tokens[i], sizeof tokens[i], "%ld", nums[i]);
  } else if (list) {
    nt = answer_items(answer, tokens, MAX_TOKENS);
  } else {
    quiz_normalize(answer, tokens[0], sizeof tokens[0]);
    nt = tokens[0][0] ? 1 : 0;
  }
  int hit[LIM_QUIZ_PORTS * 2] = {0};
  for (size_t t = 0; t < nt; t++) {
    int found = 0;
    for (size_t i = 0; i < np && !found; i++)
      if (part_has(parts[i].s, parts[i].len, tokens[t])) {
        found = 1;
        hit[i] = 1;
      }
    if (!found) res->wrongs++;
  }
  for (size_t i = 0; i < np; i++) {
    if (parts[i].extra) continue;
    res->parts++;
    res->hits += hit[i];
  }
  int net = res->hits - res->wrongs;
  res->points = res->parts && net > 0 ? net * 100 / res->parts : 0;
  res->correct = res->parts > 0 && res->hits == res->parts && res->wrongs == 0;
  if (res->correct) res->points = 100;
}

void quiz_check(const char *expect, const char *answer, struct quiz_result *res) {
  int list = expect[0] == '*';
  const char *p = expect + list;
  struct quiz_result best, cur;
  memset(&best, 0, sizeof best);
  int have = 0;
  while (*p) {
    const char *hash = strchr(p, '#');
    size_t n = hash ? (size_t)(hash - p) : strlen(p);
    check_alt(p, n, list, answer, &cur);
    if (!have || cur.correct > best.correct ||
        (cur.correct == best.correct && cur.points > best.points) ||
        (cur.correct == best.correct && cur.points == best.points && cur.hits > best.hits)) {
      best = cur;
      have = 1;
    }
    p += n + (hash ? 1 : 0);
  }
  *res = best;
}

/* --- explanations ------------------------------------------------------------------- */

static void row_summary(const struct quiz_row *r, char *out, size_t len) {
  char ports[96];
  ports_text(r, ports, sizeof ports);
  if (r->is_range) {
    snprintf(out, len, "%c%s ports are %s: %s.", toupper((unsigned char)r->names[0][0]),
             r->names[0] + 1, ports, r->purpose);
    return;
  }
  const char *t = strcmp(r->transport, "both") == 0 ? "TCP and UDP" : r->transport;
  char tu[16];
  snprintf(tu, sizeof tu, "%s", t);
  if (t == r->transport)
    for (char *c = tu; *c; c++) *c = (char)toupper((unsigned char)*c);
  snprintf(out, len, "%s uses %s %s: %s%s.", r->names[0], tu, ports, r->purpose,
           r->security == QUIZ_SEC_CLEAR    ? " (cleartext)"
           : r->security == QUIZ_SEC_SECURE ? " (encrypted)"
                                            : "");
}

/* What a wrong port or name really is. */
static void note_token(const struct quiz_bank *b, int numeric, const char *token, char *out,
                       size_t len) {
  if (numeric) {
    int port = atoi(token), first = 1;
    char who[160] = "";
    for (size_t i = 0; i < b->n; i++)
      if (row_has_port(&b->rows[i], port)) {
        appendf(who, sizeof who, "%s%s", first ? "" : " and ", b->rows[i].names[0]);
        if (first && b->rows[i].n_names > 1 && strlen(b->rows[i].names[1]) < 40)
          appendf(who, sizeof who, " (%s)", b->rows[i].names[1]);
        first = 0;
      }
    if (who[0])
      appendf(out, len, " %d is %s.", port, who);
    else
      appendf(out, len, " %d is not the usual port of any service here.", port);
    return;
  }
  const struct quiz_row *r = row_by_alias(b, token);
  if (!r) return;
  char ports[96];
  ports_text(r, ports, sizeof ports);
  if (r->is_range)
    appendf(out, len, " %s ports are %s.", r->names[0], ports);
  else
    appendf(out, len, " %s uses %s%s.", r->names[0], ports,
            r->security == QUIZ_SEC_CLEAR    ? ", in cleartext"
            : r->security == QUIZ_SEC_SECURE ? ", encrypted"
                                             : "");
}

void quiz_explain(const struct quiz_bank *b, enum quiz_kind k, const char *fact,
                  const char *display, const char *answer, const struct quiz_result *res, char *out,
                  size_t outlen) {
  const struct quiz_row *r = quiz_bank_find(b, fact);
  out[0] = '\0';
  if (res->correct)
    appendf(out, outlen, "Right.");
  else if (res->points > 0)
    appendf(out, outlen, "Partly right: %d of %d parts%s (%d%% of the point). The answer is %s.",
            res->hits, res->parts, res->wrongs ? ", less the wrong extras" : "", res->points,
            display);
  else
    appendf(out, outlen, "The answer is %s.", display);
  if (k == QUIZ_CLEARTEXT && display[0]) /* why it matters, right or wrong */
    appendf(out, outlen, " %s %s cleartext: anyone on the path can read %s.", display,
            strchr(display, ',') ? "send" : "sends", strchr(display, ',') ? "them" : "it");
  if (r && k != QUIZ_CLEARTEXT) {
    char s[640];
    row_summary(r, s, sizeof s);
    appendf(out, outlen, " %s", s);
    if (k == QUIZ_SECURE_PORT || k == QUIZ_CLEAR_PORT || k == QUIZ_PORT_SERVICE) {
      for (size_t i = 0; i < r->n_counterpart && k != QUIZ_PORT_SERVICE; i++) {
        const struct quiz_row *c = quiz_bank_find(b, r->counterpart[i]);
        if (c) {
          row_summary(c, s, sizeof s);
          appendf(out, outlen, " %s", s);
        }
      }
    }
  }
  if (res->correct || !answer[0]) return;
  /* Name what the wrong parts really are: the likely mistake. */
  int numeric = k == QUIZ_SERVICE_PORT || k == QUIZ_SECURE_PORT || k == QUIZ_CLEAR_PORT ||
                k == QUIZ_RANGE_BOUNDS;
  if (k == QUIZ_RANGE_BOUNDS) return;
  if (numeric) {
    long nums[8];
    size_t n = answer_numbers(answer, nums, 8);
    for (size_t i = 0; i < n && i < 3; i++) {
      char t[16];
      snprintf(t, sizeof t, "%ld", nums[i]);
      if (r && row_has_port(r, (int)nums[i])) continue;
      note_token(b, 1, t, out, outlen);
    }
  } else if (k == QUIZ_CLEARTEXT) {
    char items[8][LIM_QUIZ_NAME_LEN + 1];
    size_t n = answer_items(answer, items, 8);
    for (size_t i = 0; i < n; i++) {
      const struct quiz_row *c = row_by_alias(b, items[i]);
      if (c && c->security == QUIZ_SEC_SECURE)
        appendf(out, outlen, " %s is encrypted (%s).", c->names[0], c->purpose);
    }
  } else if (k == QUIZ_PORT_SERVICE) {
    char norm[LIM_QUIZ_NAME_LEN + 1];
    quiz_normalize(answer, norm, sizeof norm);
    note_token(b, 0, norm, out, outlen);
  } else if (k == QUIZ_RANGE) {
    char norm[LIM_QUIZ_NAME_LEN + 1];
    quiz_normalize(answer, norm, sizeof norm);
    note_token(b, 0, norm, out, outlen);
  }
}

/* --- the review schedule ------------------------------------------------------------ */

int quiz_box_after(int box, int correct) {
  if (!correct) return 1;
  if (box < 1) return 2; /* known at first sight */
  return box < QUIZ_BOXES ? box + 1 : QUIZ_BOXES;
}

int64_t quiz_due_after(int box, int64_t now_us) {
  /* box 1: again in ten minutes; then 1, 3, 7 and 21 days. */
  static const int64_t wait_s[QUIZ_BOXES + 1] = {0, 600, 86400, 3 * 86400, 7 * 86400, 21 * 86400};
  if (box < 1) box = 1;
  if (box > QUIZ_BOXES) box = QUIZ_BOXES;
  return now_us + wait_s[box] * 1000000LL;
}
