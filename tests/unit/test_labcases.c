/* test_labcases.c -- runs the data-file cases of tests/labcases/ against the lab servers.
 *
 * Each case file is one conversation with one module over the in-memory
 * connection (fresh database per file: the lab data plus the student
 * alice, password "Secr3t-Pw"), written as curl writes its test cases:
 * what the client sends, and every byte the server must answer. The
 * format is in tests/labcases/README.md. A case passes only when the
 * server's output is exactly the expected bytes, nothing more.
 *
 * With LABCASES_RECORD=1 in the environment the runner prints each file
 * with its expected lines replaced by what the server sent, for writing a
 * new case (review what it prints before keeping it: it pins whatever the
 * server does today).
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#define LAB_SESSION_OUT_MAX (1 << 20)
#include "db.h"
#include "lab.h"
#include "lab_session.h"
#include "labdata.h"
#include "log.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PW "Secr3t-Pw"
#define CASE_LINE_MAX 8192
#define CASE_EXPECT_MAX (1 << 20)
#define CASE_WILD "{*}"

static int recording;

/* Decodes the escapes \r \n \t \\ \xHH (and \s for a space) in place:
 * returns the byte count. */
static size_t unescape(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (*p != '\\' || !p[1]) {
      *o++ = *p;
      continue;
    }
    p++;
    switch (*p) {
      case 'r':
        *o++ = '\r';
        break;
      case 'n':
        *o++ = '\n';
        break;
      case 't':
        *o++ = '\t';
        break;
      case 's':
        *o++ = ' ';
        break;
      case 'x': {
        char hex[3] = {p[1], p[1] ? p[2] : 0, 0};
        *o++ = (char)strtol(hex, NULL, 16);
        p += 2;
        break;
      }
      default:
        *o++ = *p;
        break;
    }
  }
  return (size_t)(o - s);
}

/* Prints bytes as a case file writes them: one "< " line per CRLF-ended
 * line, "<< " for a tail without CRLF. */
static void print_escaped(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch == '\\')
      fputs("\\\\", stdout);
    else if (ch == ' ' && (i + 1 == n))
      fputs("\\s", stdout);
    else if (ch < 0x20 || ch >= 0x7f)
      printf("\\x%02x", ch);
    else
      putchar(ch);
  }
}

static void record_output(const char *prefix, const char *p, size_t n) {
  while (n) {
    const char *crlf = memmem(p, n, "\r\n", 2);
    size_t len = crlf ? (size_t)(crlf - p) : n;
    printf("%s%s", prefix, crlf ? "< " : "<< ");
    print_escaped(p, len);
    putchar('\n');
    if (!crlf) break;
    p += len + 2;
    n -= len + 2;
  }
}

/* Whether the output matches the pattern, where {*} stands for any run of
 * bytes without a line feed. */
static int wild_match(const char *pat, size_t pn, const char *s, size_t sn) {
  const char *w = pn >= 3 ? memmem(pat, pn, CASE_WILD, 3) : NULL;
  if (!w) return pn == sn && memcmp(pat, s, sn) == 0;
  size_t head = (size_t)(w - pat);
  if (sn < head || memcmp(pat, s, head) != 0) return 0;
  for (size_t i = head; i <= sn; i++) {
    if (wild_match(w + 3, pn - head - 3, s + i, sn - i)) return 1;
    if (i < sn && s[i] == '\n') break;
  }
  return 0;
}

struct case_run {
  const char *file;
  int line;
  struct lab_ctx ctx;
  struct lab_conn *c;
  char *expect, *dexpect; /* control connection, data connection */
  size_t elen, delen;
};

static void compare(struct case_run *r, const char *what, const char *want, size_t wn,
                    const char *got, size_t gn) {
  if (wild_match(want, wn, got, gn)) {
    check_pass_count++;
    return;
  }
  check_fail_count++;
  fprintf(stderr, "%s:%d: the server's %s output differs.\n--- expected:\n", r->file, r->line,
          what);
  fwrite(want, 1, wn, stderr);
  fprintf(stderr, "\n--- got:\n");
  fwrite(got, 1, gn, stderr);
  fprintf(stderr, "\n---\n");
}

/* Compares what the server sent since the last check, on the connection
 * and on the data connection, with the expected bytes gathered since. */
static void settle(struct case_run *r) {
  size_t n = 0, dn = 0;
  const char *out = r->c ? lab_mem_output(r->c, &n) : "";
  const char *dout = r->c ? lab_mem_data_output(r->c, &dn) : "";

  if (recording) {
    record_output("", out, n);
    record_output("data", dout, dn);
  } else {
    compare(r, "control", r->expect, r->elen, out, n);
    compare(r, "data", r->dexpect, r->delen, dout, dn);
  }
  if (r->c) lab_mem_clear(r->c);
  r->elen = r->delen = 0;
}

static void expect_add(struct case_run *r, int data, const char *p, size_t n) {
  char *to = data ? r->dexpect : r->expect;
  size_t *len = data ? &r->delen : &r->elen;
  if (*len + n > CASE_EXPECT_MAX) {
    fprintf(stderr, "%s:%d: case too long\n", r->file, r->line);
    exit(1);
  }
  memcpy(to + *len, p, n);
  *len += n;
}

static void case_fail(struct case_run *r, const char *what) {
  check_fail_count++;
  fprintf(stderr, "%s:%d: %s\n", r->file, r->line, what);
}

static void run_case(const char *path) {
  static char line[CASE_LINE_MAX];
  struct case_run r = {.file = path};
  FILE *f = fopen(path, "r");
  int pending = 0; /* output is expected but not yet compared */

  r.expect = malloc(CASE_EXPECT_MAX);
  r.dexpect = malloc(CASE_EXPECT_MAX);
  if (!f || !r.expect || !r.dexpect) {
    fprintf(stderr, "%s: cannot read\n", path);
    exit(1);
  }
  lab_fixture(&r.ctx, SECRET, PW);
  while (fgets(line, sizeof line, f)) {
    size_t len = strlen(line);
    r.line++;
    if (len && line[len - 1] == '\n') line[--len] = '\0';
    /* "data" before a client or server line moves it to the data connection. */
    int data = strncmp(line, "data<", 5) == 0 || strncmp(line, "data>", 5) == 0;
    if (data) {
      memmove(line, line + 4, len - 3);
      len -= 4;
    }
    int is_expect = line[0] == '<', is_note = line[0] == '#' || line[0] == '\0';
    if (recording) {
      if (is_expect) continue;
      if (!is_note && r.c) settle(&r);
      printf("%s%s\n", data ? "data" : "", line);
    } else if (pending && !is_expect && !is_note) {
      settle(&r);
      pending = 0;
    }
    if (is_note) continue;
    if (strncmp(line, "module ", 7) == 0) {
      char name[32];
      int port = 0;
      const struct lab_service *svc;
      if (sscanf(line + 7, "%31s %d", name, &port) < 1 || !(svc = lab_service_by_name(name)) ||
          !svc->module) {
        case_fail(&r, "unknown module");
        break;
      }
      r.c = lab_mem_open_port(svc->module, &r.ctx, "127.0.0.1", port ? port : svc->port);
      pending = 1; /* the greeting */
      continue;
    }
    if (!r.c) {
      case_fail(&r, "a case starts with \"module NAME\"");
      break;
    }
    if (strncmp(line, "> ", 2) == 0 || strcmp(line, ">") == 0) {
      size_t n = len > 2 ? unescape(line + 2) : 0;
      (data ? lab_mem_data_feed : lab_mem_feed)(r.c, line + 2, n);
      (data ? lab_mem_data_feed : lab_mem_feed)(r.c, "\r\n", 2);
    } else if (strncmp(line, ">> ", 3) == 0) {
      (data ? lab_mem_data_feed : lab_mem_feed)(r.c, line + 3, unescape(line + 3));
    } else if (strncmp(line, "< ", 2) == 0 || strcmp(line, "<") == 0) {
      if (!recording) {
        expect_add(&r, data, line + 2, len > 2 ? unescape(line + 2) : 0);
        expect_add(&r, data, "\r\n", 2);
      }
      pending = 1;
    } else if (strncmp(line, "<< ", 3) == 0) {
      if (!recording) expect_add(&r, data, line + 3, unescape(line + 3));
      pending = 1;
    } else if (strcmp(line, "timeout") == 0) {
      lab_mem_timeout(r.c);
    } else if (strcmp(line, "closed") == 0 || strcmp(line, "open") == 0) {
      settle(&r);
      if (!recording && lab_mem_closed(r.c) != (line[0] == 'c')) case_fail(&r, line);
    } else if (strcmp(line, "data-connect") == 0) {
      lab_mem_data_connect(r.c, 1);
    } else if (strcmp(line, "data-eof") == 0) {
      lab_mem_data_eof(r.c);
    } else {
      case_fail(&r, "unknown directive");
      break;
    }
  }
  if (r.c) {
    settle(&r);
    lab_mem_free(r.c);
  }
  fclose(f);
  free(r.expect);
  free(r.dexpect);
  db_close(r.ctx.db);
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_case(const struct dirent *d) {
  size_t n = strlen(d->d_name);
  return n > 4 && strcmp(d->d_name + n - 4, ".txt") == 0;
}

int main(int argc, char **argv) {
  char here[4096], dir[4096 + 16], path[8192 + 300];
  struct dirent **list;
  int n;

  recording = getenv("LABCASES_RECORD") != NULL;
  snprintf(here, sizeof here, "%s", __FILE__);
  snprintf(dir, sizeof dir, "%s/../labcases", dirname(here));
  if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);
  n = scandir(dir, &list, is_case, by_name);
  if (n <= 0) {
    fprintf(stderr, "no cases in %s\n", dir);
    return 1;
  }
  for (int i = 0; i < n; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
    if (recording) printf("=== %s\n", list[i]->d_name);
    int before = check_fail_count;
    run_case(path);
    if (!recording)
      fprintf(stderr, "%s %s\n", check_fail_count == before ? "ok" : "FAIL", list[i]->d_name);
    free(list[i]);
  }
  free(list);
  return check_done();
}
