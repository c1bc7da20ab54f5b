/* lab_session.h -- driving a lab module's memory connection from a unit test.
 *
 * feed() sends text, take() copies what the module sent since the last
 * take (NUL-terminated; the output may hold NULs, has() searches all of
 * it), cmd() sends one line with CRLF and returns the reply. A test may
 * define LAB_SESSION_OUT_MAX before including this to keep more output.
 */
#ifndef PORTLAB_LAB_SESSION_H
#define PORTLAB_LAB_SESSION_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lab.h"
#include "labdata.h"
#include "log.h"

#ifndef LAB_SESSION_OUT_MAX
#define LAB_SESSION_OUT_MAX (1 << 17)
#endif

/* The usual fixture: an in-memory database with the common lab data and
 * the student alice (password alice_pw, seeded); ctx points at it, lab
 * address 127.0.0.1, port base 10000. Exits on failure: no test can run on
 * a broken fixture. Returns alice's id. */
static inline int64_t lab_fixture(struct lab_ctx *ctx, const char *secret, const char *alice_pw) {
  char err[256];
  int64_t alice;
  log_set_level(LOG_ERROR); /* the modules warn on every violation the tests provoke */
  memset(ctx, 0, sizeof *ctx);
  ctx->db = db_open(":memory:", err, sizeof err);
  snprintf(ctx->secret, sizeof ctx->secret, "%s", secret);
  snprintf(ctx->lab_addr, sizeof ctx->lab_addr, "127.0.0.1");
  ctx->port_base = 10000;
  if (!ctx->db || labdata_seed_common(ctx->db, secret) != 0 ||
      db_user_create(ctx->db, "alice", "student", alice_pw, NULL, &alice) != 0 ||
      labdata_seed_account(ctx->db, secret, alice, "alice") != 0) {
    fprintf(stderr, "lab fixture: %s\n", ctx->db ? db_errmsg(ctx->db) : err);
    exit(1);
  }
  return alice;
}

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
