/* lessons.c -- loads lessons, renders their Markdown, checks typed answers.
 *
 * A lesson file is front matter (key: value lines between "---" lines),
 * CommonMark text, and fenced ```task blocks (docs/lessons.md). Task
 * blocks are cut out before rendering and replaced by a marker paragraph,
 * which becomes an empty <div class="task" data-task="ID"> that the page
 * fills in; answers never leave the server.
 *
 * Rendering is md4c's HTML renderer with raw HTML disabled. Links and
 * images are then sanitised: an href or src keeps its value only if it is
 * relative or uses http, https, mailto or session (our "open a session"
 * links); anything else, javascript: included, becomes "#". The page's
 * Content-Security-Policy is the second fence.
 */
#include "lessons.h"

#include <ctype.h>
#include <dirent.h>
#include <md4c-html.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "assets.h"
#include "auth.h"
#include "buf.h"
#include "labdata.h"

#define LESSON_FILE_MAX (256 * 1024)
#define LESSON_MAX_TASKS 32
#define MARKER "%%portlab-task:"

/* --- small text helpers -------------------------------------------------- */

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

static int valid_id(const char *s, size_t max) {
  size_t n = strlen(s);
  if (n == 0 || n > max) return 0;
  for (const char *p = s; *p; p++)
    if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-')) return 0;
  return 1;
}

/* Copies value into a fixed field; -1 if it does not fit. */
static int set_field(char *dst, size_t dstlen, const char *value) {
  if (strlen(value) >= dstlen) return -1;
  strcpy(dst, value);
  return 0;
}

/* Splits "key: value". Returns the key (lower case) or NULL. */
static char *split_kv(char *line, char **value) {
  char *colon = strchr(line, ':');
  if (!colon) return NULL;
  *colon = '\0';
  char *key = trim(line);
  for (char *p = key; *p; p++) *p = (char)tolower((unsigned char)*p);
  *value = trim(colon + 1);
  return key;
}

/* --- tasks ---------------------------------------------------------------- */

const char *const task_kind_names[] = {"question", "flag", "check", NULL};
/* The words of "match:", in the order of enum task_match. */
static const char *const task_matches[] = {"exact", "nocase", "pattern", NULL};

/* value's index in a NULL-ended word list, or -1. */
static int word_index(const char *value, const char *const *words) {
  for (int i = 0; words[i]; i++)
    if (strcmp(value, words[i]) == 0) return i;
  return -1;
}

static int parse_task_line(struct lesson_task *t, char *line, char *err, size_t errlen) {
  char *value, *key = split_kv(line, &value);
  if (!key) {
    snprintf(err, errlen, "task line is not \"key: value\"");
    return -1;
  }
  if (strcmp(key, "id") == 0) {
    if (!valid_id(value, TASK_ID_MAX)) goto bad;
    strcpy(t->id, value);
  } else if (strcmp(key, "kind") == 0) {
    int k = word_index(value, task_kind_names);
    if (k < 0) goto bad;
    t->kind = (enum task_kind)k;
  } else if (strcmp(key, "points") == 0) {
    char *end;
    long v = strtol(value, &end, 10);
    if (*end || v < 1 || v > 100) goto bad;
    t->points = (int)v;
  } else if (strcmp(key, "prompt") == 0) {
    if (set_field(t->prompt, sizeof t->prompt, value)) goto bad;
  } else if (strcmp(key, "hint") == 0) {
    if (t->n_hints == TASK_MAX_HINTS || !*value ||
        set_field(t->hints[t->n_hints], sizeof t->hints[0], value))
      goto bad;
    t->n_hints++;
  } else if (strcmp(key, "hint-cost") == 0) {
    char *end;
    long v = strtol(value, &end, 10);
    if (!*value || *end || v < 0 || v > 100) goto bad;
    t->hint_cost = (int)v;
  } else if (strcmp(key, "answer") == 0) {
    if (t->n_answers == TASK_MAX_ANSWERS ||
        set_field(t->answers[t->n_answers], sizeof t->answers[0], value))
      goto bad;
    t->n_answers++;
  } else if (strcmp(key, "wrong") == 0) {
    /* "wrong: ANSWER => FEEDBACK" */
    char *arrow = strstr(value, "=>");
    if (!arrow || t->n_wrong == TASK_MAX_WRONG) goto bad;
    *arrow = '\0';
    struct task_wrong *w = &t->wrong[t->n_wrong];
    if (set_field(w->answer, sizeof w->answer, trim(value)) || !w->answer[0] ||
        set_field(w->feedback, sizeof w->feedback, trim(arrow + 2)) || !w->feedback[0])
      goto bad;
    t->n_wrong++;
  } else if (strcmp(key, "match") == 0) {
    int m = word_index(value, task_matches);
    if (m < 0) goto bad;
    t->match = (enum task_match)m;
  } else if (strcmp(key, "challenge") == 0) {
    if (!valid_id(value, sizeof t->challenge - 1)) goto bad;
    strcpy(t->challenge, value);
  } else if (strcmp(key, "event") == 0) {
    if (set_field(t->event, sizeof t->event, value)) goto bad;
  } else {
    /* Any other key is a condition of a check task. */
    if (t->n_conds == TASK_MAX_CONDS || strlen(key) >= sizeof t->conds[0].key) goto bad;
    strcpy(t->conds[t->n_conds].key, key);
    if (set_field(t->conds[t->n_conds].value, sizeof t->conds[0].value, value)) goto bad;
    t->n_conds++;
  }
  return 0;
bad:
  snprintf(err, errlen, "bad or too long task field \"%s\"", key);
  return -1;
}

static int check_task(const struct lesson_task *t, char *err, size_t errlen) {
  if (!t->id[0]) {
    snprintf(err, errlen, "a task has no id");
    return -1;
  }
  if (!t->prompt[0]) {
    snprintf(err, errlen, "task %s has no prompt", t->id);
    return -1;
  }
  if (t->kind == TASK_QUESTION && t->n_answers == 0) {
    snprintf(err, errlen, "question %s has no answer", t->id);
    return -1;
  }
  if (t->n_wrong && t->kind != TASK_QUESTION) {
    snprintf(err, errlen, "task %s: only a question has wrong answers", t->id);
    return -1;
  }
  if (t->kind == TASK_QUESTION && t->match == MATCH_PATTERN) {
    for (size_t i = 0; i < t->n_answers + t->n_wrong; i++) {
      const char *want = i < t->n_answers ? t->answers[i] : t->wrong[i - t->n_answers].answer;
      regex_t re;
      if (regcomp(&re, want, REG_EXTENDED | REG_ICASE | REG_NOSUB)) {
        snprintf(err, errlen, "task %s: bad pattern \"%s\"", t->id, want);
        return -1;
      }
      regfree(&re);
    }
  }
  if (t->hint_cost > t->points) {
    snprintf(err, errlen, "task %s: hint-cost %d is more than its %d points", t->id, t->hint_cost,
             t->points);
    return -1;
  }
  if (t->hint_cost >= 0 && !t->n_hints) {
    snprintf(err, errlen, "task %s: hint-cost without a hint", t->id);
    return -1;
  }
  if (t->kind == TASK_FLAG && !t->challenge[0]) {
    snprintf(err, errlen, "flag task %s names no challenge", t->id);
    return -1;
  }
  if (t->kind == TASK_CHECK && !t->event[0]) {
    snprintf(err, errlen, "check task %s names no event", t->id);
    return -1;
  }
  return 0;
}

/* --- rendering -------------------------------------------------------------- */

static void md_out(const MD_CHAR *text, MD_SIZE size, void *arg) {
  buf_append(arg, text, size);
}

static int scheme_allowed(const char *url, size_t n) {
  static const char *const ok[] = {"http", "https", "mailto", "session"};
  size_t i = 0;
  while (i < n && url[i] != ':' && url[i] != '/' && url[i] != '?' && url[i] != '#') i++;
  if (i == n || url[i] != ':') return 1; /* relative */
  for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++)
    if (strlen(ok[k]) == i && strncasecmp(url, ok[k], i) == 0) return 1;
  return 0;
}

/* Rewrites html in place: disallowed href/src values become "#", task
 * marker paragraphs become task placeholders. Returns a new string. */
static char *sanitise(const char *html, size_t len) {
  struct buf out;
  buf_init(&out, len * 2 + 64);
  size_t i = 0;
  while (i < len) {
    const char *attr = NULL;
    if (len - i > 6 && (memcmp(html + i, " href=\"", 7) == 0)) attr = " href=\"";
    if (len - i > 5 && (memcmp(html + i, " src=\"", 6) == 0)) attr = " src=\"";
    if (attr) {
      size_t a = strlen(attr), start = i + a, end = start;
      while (end < len && html[end] != '"') end++;
      buf_append(&out, attr, a);
      if (scheme_allowed(html + start, end - start))
        buf_append(&out, html + start, end - start);
      else
        buf_append(&out, "#", 1);
      i = end;
      continue;
    }
    static const char open[] = "<p>" MARKER;
    if (len - i > sizeof open && memcmp(html + i, open, sizeof open - 1) == 0) {
      /* Only a marker we wrote: a task id right up to "%%</p>". The html
       * is not NUL-terminated, so the scan stays inside len. */
      const char *id = html + i + sizeof open - 1, *end = html + len, *stop = id;
      while (stop < end &&
             (islower((unsigned char)*stop) || isdigit((unsigned char)*stop) || *stop == '-'))
        stop++;
      if (stop > id && (size_t)(end - stop) >= 6 && memcmp(stop, "%%</p>", 6) == 0) {
        buf_append(&out, "<div class=\"task\" data-task=\"", 29);
        buf_append(&out, id, (size_t)(stop - id));
        buf_append(&out, "\"></div>", 8);
        i = (size_t)(stop - html) + 6;
        continue;
      }
    }
    buf_append(&out, html + i, 1);
    i++;
  }
  buf_append(&out, "", 1);
  size_t n;
  return (char *)buf_take(&out, &n);
}

/* --- parsing a file ---------------------------------------------------------- */

void lesson_clear(struct lesson *l) {
  free(l->html);
  free(l->tasks);
  memset(l, 0, sizeof *l);
}

static int parse_front_matter(struct lesson *l, char *line, char *err, size_t errlen) {
  char *value, *key = split_kv(line, &value);
  if (!key) {
    snprintf(err, errlen, "front matter line is not \"key: value\"");
    return -1;
  }
  int bad = 0;
  if (strcmp(key, "id") == 0) {
    bad = !valid_id(value, LESSON_ID_MAX) || set_field(l->id, sizeof l->id, value);
  } else if (strcmp(key, "title") == 0) {
    bad = set_field(l->title, sizeof l->title, value);
  } else if (strcmp(key, "order") == 0) {
    char *end;
    long v = strtol(value, &end, 10);
    bad = !*value || *end || v < -100000 || v > 100000;
    l->order = (int)v;
  } else if (strcmp(key, "summary") == 0) {
    bad = set_field(l->summary, sizeof l->summary, value);
  } else if (strcmp(key, "targets") == 0) {
    bad = set_field(l->targets, sizeof l->targets, value);
  } else {
    snprintf(err, errlen, "unknown front matter key \"%s\"", key);
    return -1;
  }
  if (bad) snprintf(err, errlen, "bad or too long value for \"%s\"", key);
  return bad ? -1 : 0;
}

int lesson_parse(const char *text, size_t len, struct lesson *out, char *err, size_t errlen) {
  char why[200] = "";
  int lineno = 0, rc = -1, in_front = 0, seen_front = 0, in_task = 0;
  struct lesson_task *task = NULL;
  struct buf md;
  memset(out, 0, sizeof *out);
  buf_init(&md, len + LESSON_MAX_TASKS * 80 + 1);
  if (len > LESSON_FILE_MAX) {
    snprintf(err, errlen, "file is larger than %d bytes", LESSON_FILE_MAX);
    goto done;
  }
  out->tasks = calloc(LESSON_MAX_TASKS, sizeof *out->tasks);
  char *copy = malloc(len + 1);
  if (!out->tasks || !copy) {
    free(copy);
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  memcpy(copy, text, len);
  copy[len] = '\0';
  for (char *line = copy, *next; line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    lineno++;
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r') line[--n] = '\0';
    if (lineno == 1) {
      if (strcmp(line, "---") != 0) { /* no front matter: not a lesson */
        rc = 1;
        break;
      }
      in_front = 1;
      continue;
    }
    if (in_front) {
      if (strcmp(line, "---") == 0) {
        in_front = 0;
        seen_front = 1;
      } else if (*trim(line) && parse_front_matter(out, line, why, sizeof why)) {
        goto bad_line;
      }
      continue;
    }
    char *t = line;
    while (*t == ' ' && t - line < 3) t++;
    if (!in_task && strncmp(t, "```task", 7) == 0 && !*trim(t + 7)) {
      if (out->n_tasks == LESSON_MAX_TASKS) {
        snprintf(why, sizeof why, "more than %d tasks", LESSON_MAX_TASKS);
        goto bad_line;
      }
      task = &out->tasks[out->n_tasks++];
      task->points = 1;
      task->hint_cost = -1; /* not given: 1, set once the block is read */
      in_task = 1;
      continue;
    }
    if (in_task) {
      if (strncmp(t, "```", 3) == 0) {
        in_task = 0;
        if (check_task(task, why, sizeof why)) goto bad_line;
        if (task->hint_cost < 0) task->hint_cost = 1;
        for (size_t k = 0; k + 1 < out->n_tasks; k++)
          if (strcmp(out->tasks[k].id, task->id) == 0) {
            snprintf(why, sizeof why, "task id %s used twice", task->id);
            goto bad_line;
          }
        char marker[TASK_ID_MAX + 40];
        int m = snprintf(marker, sizeof marker, "\n\n%s%s%%%%\n\n", MARKER, task->id);
        buf_append(&md, marker, (size_t)m);
      } else if (*trim(t) && parse_task_line(task, t, why, sizeof why)) {
        goto bad_line;
      }
      continue;
    }
    buf_append(&md, line, strlen(line));
    buf_append(&md, "\n", 1);
  }
  free(copy);
  if (rc == 1) goto done;
  if (!seen_front || in_task) {
    snprintf(err, errlen, "%s",
             !seen_front ? "front matter is not closed with ---"
                         : "a task block is not closed with ```");
    goto done;
  }
  if (!out->id[0] || !out->title[0]) {
    snprintf(err, errlen, "front matter needs id and title");
    goto done;
  }
  struct buf html;
  buf_init(&html, 8 * LESSON_FILE_MAX);
  if (md_html((const MD_CHAR *)buf_head(&md), (MD_SIZE)buf_len(&md), md_out, &html,
              MD_DIALECT_GITHUB | MD_FLAG_NOHTML, MD_HTML_FLAG_SKIP_UTF8_BOM) != 0) {
    buf_free(&html);
    snprintf(err, errlen, "the Markdown could not be rendered");
    goto done;
  }
  out->html = sanitise((const char *)buf_head(&html), buf_len(&html));
  buf_free(&html);
  rc = out->html ? 0 : -1;
  if (rc) snprintf(err, errlen, "out of memory");
  goto done;

bad_line:
  free(copy);
  snprintf(err, errlen, "line %d: %s", lineno, why);
done:
  buf_free(&md);
  if (rc != 0) lesson_clear(out);
  return rc;
}

/* --- the set ------------------------------------------------------------------ */

static int by_order(const void *a, const void *b) {
  const struct lesson *x = a, *y = b;
  if (x->order != y->order) return x->order < y->order ? -1 : 1;
  return strcmp(x->id, y->id);
}

static int add_lesson(struct lessons *ls, const char *name, const char *text, size_t len, char *err,
                      size_t errlen) {
  struct lesson l;
  char why[256];
  int rc = lesson_parse(text, len, &l, why, sizeof why);
  if (rc == 1) return 0;
  if (rc) {
    snprintf(err, errlen, "%s: %s", name, why);
    return -1;
  }
  if (lessons_find(ls, l.id)) {
    snprintf(err, errlen, "%s: lesson id %s is used twice", name, l.id);
    lesson_clear(&l);
    return -1;
  }
  struct lesson *grown = realloc(ls->v, (ls->n + 1) * sizeof *grown);
  if (!grown) {
    lesson_clear(&l);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  ls->v = grown;
  ls->v[ls->n++] = l;
  return 0;
}

static int ends_with_md(const char *name) {
  size_t n = strlen(name);
  return n > 3 && strcmp(name + n - 3, ".md") == 0;
}

static int load_dir(struct lessons *ls, const char *dir, char *err, size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) {
    snprintf(err, errlen, "cannot open %s", dir);
    return -1;
  }
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' || !ends_with_md(e->d_name)) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    char *text = malloc(LESSON_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, LESSON_FILE_MAX + 1, f) : 0;
    fclose(f);
    rc = text ? add_lesson(ls, e->d_name, text, n, err, errlen) : -1;
    free(text);
  }
  closedir(d);
  return rc;
}

struct lessons *lessons_load(const char *dir, char *err, size_t errlen) {
  struct lessons *ls = calloc(1, sizeof *ls);
  if (!ls) return NULL;
  int rc = 0;
  if (dir) {
    rc = load_dir(ls, dir, err, errlen);
  } else {
    for (size_t i = 0; rc == 0 && i < lesson_files_count; i++)
      if (ends_with_md(lesson_files[i].path))
        rc = add_lesson(ls, lesson_files[i].path + 1, (const char *)lesson_files[i].raw,
                        lesson_files[i].raw_len, err, errlen);
  }
  if (rc) {
    lessons_free(ls);
    return NULL;
  }
  qsort(ls->v, ls->n, sizeof *ls->v, by_order);
  return ls;
}

void lessons_free(struct lessons *ls) {
  if (!ls) return;
  for (size_t i = 0; i < ls->n; i++) lesson_clear(&ls->v[i]);
  free(ls->v);
  free(ls);
}

const struct lesson *lessons_find(const struct lessons *ls, const char *id) {
  for (size_t i = 0; i < ls->n; i++)
    if (strcmp(ls->v[i].id, id) == 0) return &ls->v[i];
  return NULL;
}

const struct lesson_task *lesson_task_find(const struct lesson *l, const char *id) {
  for (size_t i = 0; i < l->n_tasks; i++)
    if (strcmp(l->tasks[i].id, id) == 0) return &l->tasks[i];
  return NULL;
}

/* --- answers ------------------------------------------------------------------- */

/* The trimmed answer a against one accepted (or known wrong) answer. */
static int answer_matches(enum task_match match, const char *a, const char *want) {
  if (match == MATCH_EXACT) return strcmp(a, want) == 0;
  if (match == MATCH_NOCASE) return strcasecmp(a, want) == 0;
  char anchored[160];
  regex_t re;
  snprintf(anchored, sizeof anchored, "^(%s)$", want);
  if (regcomp(&re, anchored, REG_EXTENDED | REG_ICASE | REG_NOSUB)) return 0;
  int ok = regexec(&re, a, 0, NULL, 0) == 0;
  regfree(&re);
  return ok;
}

int lesson_answer_ok(const struct lesson_task *t, const char *answer, const char *secret,
                     const char *user) {
  char given[256];
  snprintf(given, sizeof given, "%s", answer);
  char *a = trim(given);
  if (t->kind == TASK_FLAG) {
    char flag[40];
    labdata_flag(secret, t->challenge, user, flag);
    return crypto_ct_streq(a, flag);
  }
  if (t->kind != TASK_QUESTION) return 0;
  for (size_t i = 0; i < t->n_answers; i++)
    if (answer_matches(t->match, a, t->answers[i])) return 1;
  return 0;
}

const char *lesson_wrong_feedback(const struct lesson_task *t, const char *answer) {
  char given[256];
  snprintf(given, sizeof given, "%s", answer);
  char *a = trim(given);
  if (t->kind != TASK_QUESTION) return NULL;
  for (size_t i = 0; i < t->n_wrong; i++)
    if (answer_matches(t->match, a, t->wrong[i].answer)) return t->wrong[i].feedback;
  return NULL;
}
