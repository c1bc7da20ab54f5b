/* fuzz_imap.c -- libFuzzer target for the lab IMAP server.
 *
 * The first input byte picks how the rest is cut into reads (one piece,
 * single bytes, fixed sizes, or pseudo-random sizes) and whether the
 * session ends with an idle timeout; the rest is the client's byte
 * stream. One in-memory database with alice / Secr3t-Pw (welcome mail, a
 * message with odd headers, a second mailbox) is built once; each run
 * happens inside a savepoint that is rolled back afterwards, so what one
 * run stores, flags or expunges never changes what the next one sees.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"
#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"

#define FUZZ_SECRET "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz"

static struct lab_ctx fuzz_ctx;

static int fuzz_setup(void) {
  static const char odd[] =
      "From: \"Doe, J\" <j@lab>, (comment) x@y, <@route:z@w>, broken <\r\n"
      "To: group: a@b, c@d;, undisclosed:;\r\n"
      "Cc: \"unterminated\r\n"
      "Subject: caf\xc3\xa9\r\n \"quoted\" \\ back\r\n"
      "Content-Type: multipart/mixed; boundary=x\r\n"
      "Date: Tue, 1 Jul 03 10:52:37 +0200\r\n"
      "\r\nbody\nbare LF\r\n";
  static const char headless[] = "no header separator at all";
  char err[256];
  int64_t id;

  log_set_level(LOG_ERROR); /* every violation is logged at warn: too loud here */
  fuzz_ctx.db = db_open(":memory:", err, sizeof err);
  if (!fuzz_ctx.db) return -1;
  snprintf(fuzz_ctx.secret, sizeof fuzz_ctx.secret, "%s", FUZZ_SECRET);
  snprintf(fuzz_ctx.lab_addr, sizeof fuzz_ctx.lab_addr, "127.0.0.1");
  fuzz_ctx.port_base = 10000;
  if (labdata_seed_common(fuzz_ctx.db, FUZZ_SECRET) != 0) return -1;
  if (db_user_create(fuzz_ctx.db, "alice", "student", "Secr3t-Pw", NULL, &id) != 0) return -1;
  if (labdata_seed_account(fuzz_ctx.db, FUZZ_SECRET, id, "alice") != 0) return -1;
  if (db_mail_append(fuzz_ctx.db, id, "INBOX", odd, sizeof odd - 1, DB_MAIL_FLAGGED, 0, NULL) != 0)
    return -1;
  if (db_mail_append(fuzz_ctx.db, id, "INBOX", headless, sizeof headless - 1, 0, -86401, NULL) != 0)
    return -1;
  if (db_mailbox_create(fuzz_ctx.db, id, "Sent") != 0) return -1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    if (fuzz_setup() != 0) abort();
    ready = 1;
  }
  if (size < 1) return 0;
  unsigned mode = data[0];
  data++;
  size--;

  if (db_lab_savepoint(fuzz_ctx.db) != 0) abort();
  struct lab_conn *c = lab_mem_open(&lab_imap, &fuzz_ctx, "127.0.0.1");
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
