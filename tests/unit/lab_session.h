/* lab_session.h -- driving a lab module's memory connection from a unit test.
 *
 * feed() sends text, take() copies what the module sent since the last
 * take (NUL-terminated; the output may hold NULs, has() searches all of
 * it), cmd() sends one line with CRLF and returns the reply. A test may
 * define LAB_SESSION_OUT_MAX before including this to keep more output.
 */
#ifndef PORTLAB_LAB_SESSION_H
#define PORTLAB_LAB_SESSION_H

#include <string.h>

#include "lab.h"

#ifndef LAB_SESSION_OUT_MAX
#define LAB_SESSION_OUT_MAX (1 << 17)
#endif

static char last_out[LAB_SESSION_OUT_MAX];
static size_t last_len;

static inline void feed(struct lab_conn *c, const char *s) {
  lab_mem_feed(c, s, strlen(s));
}

static inline const char *take(struct lab_conn *c) {
  size_t n;
  const char *p = lab_mem_output(c, &n);
  if (n >= sizeof last_out) n = sizeof last_out - 1;
  memcpy(last_out, p, n);
  last_out[n] = '\0';
  last_len = n;
  lab_mem_clear(c);
  return last_out;
}

static inline int has(const char *needle) {
  return memmem(last_out, last_len, needle, strlen(needle)) != NULL;
}

static inline int starts(const char *s, const char *prefix) {
  return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static inline const char *cmd(struct lab_conn *c, const char *line) {
  lab_mem_clear(c);
  feed(c, line);
  feed(c, "\r\n");
  return take(c);
}

#endif
