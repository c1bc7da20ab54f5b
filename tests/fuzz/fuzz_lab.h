/* fuzz_lab.h -- what every lab server's fuzz target shares.
 *
 * Each target is its own binary, so this header holds static functions:
 * one in-memory database built once (the common lab data, the student
 * alice / Secr3t-Pw with her seeded mail and files, the demo account),
 * and a driver that cuts the input into reads. The first input byte picks
 * the cutting (one piece, single bytes, 7-byte pieces, or pseudo-random
 * sizes) and whether the session ends with an idle timeout; the rest is
 * the client's byte stream. Each run happens inside a savepoint that is
 * rolled back, so what one run writes never changes what the next sees.
 */
#ifndef PORTLAB_FUZZ_LAB_H
#define PORTLAB_FUZZ_LAB_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"

#define FUZZ_SECRET "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define FUZZ_ALICE_PASSWORD "Secr3t-Pw"

static struct lab_ctx fuzz_ctx;

/* Builds the database once; extra (may be NULL) adds a target's own data
 * for alice. Aborts on failure: a broken fixture must not look like a
 * clean run. */
static inline void fuzz_lab_init(int (*extra)(struct db *db, int64_t alice)) {
  char err[256];
  int64_t alice;
  if (fuzz_ctx.db) return;
  log_set_level(LOG_ERROR); /* every violation is logged at warn: noise here */
  fuzz_ctx.db = db_open(":memory:", err, sizeof err);
  snprintf(fuzz_ctx.secret, sizeof fuzz_ctx.secret, "%s", FUZZ_SECRET);
  snprintf(fuzz_ctx.lab_addr, sizeof fuzz_ctx.lab_addr, "127.0.0.1");
  fuzz_ctx.port_base = 10000;
  fuzz_ctx.pasv_lo = 40000;
  fuzz_ctx.pasv_hi = 40009;
  if (!fuzz_ctx.db || labdata_seed_common(fuzz_ctx.db, FUZZ_SECRET) != 0 ||
      db_user_create(fuzz_ctx.db, "alice", "student", FUZZ_ALICE_PASSWORD, NULL, &alice) != 0 ||
      labdata_seed_account(fuzz_ctx.db, FUZZ_SECRET, alice, "alice") != 0 ||
      (extra && extra(fuzz_ctx.db, alice) != 0))
    abort();
}

/* One session of module m fed with the input, cut as its first byte says. */
static inline int fuzz_lab_stream(const struct lab_module *m, const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  unsigned mode = data[0];
  data++;
  size--;
  if (db_lab_savepoint(fuzz_ctx.db) != 0) abort();
  struct lab_conn *c = lab_mem_open(m, &fuzz_ctx, "127.0.0.1");
  if (!c) abort();
  uint32_t rnd = mode * 2654435761u + 1;
  size_t pos = 0;
  while (pos < size && !lab_mem_closed(c)) {
    size_t n;
    switch (mode & 3) {
      case 0:
        n = size - pos;
        break;
      case 1:
        n = 1;
        break;
      case 2:
        n = 7;
        break;
      default:
        rnd = rnd * 1103515245u + 12345u;
        n = 1 + (rnd >> 16) % 64;
        break;
    }
    if (n > size - pos) n = size - pos;
    lab_mem_feed(c, data + pos, n);
    pos += n;
    lab_mem_clear(c); /* keep the sink small on long inputs */
  }
  if (mode & 4) lab_mem_timeout(c);
  lab_mem_free(c);
  if (db_lab_rollback(fuzz_ctx.db) != 0) abort();
  return 0;
}

#endif
