/* fuzz_ftp.c -- libFuzzer target for the lab FTP server (protocols/ftp.c).
 *
 * The input is a script of segments separated by 0x01. The first byte of
 * the input picks whether the session starts logged in (as the student
 * "alice", or anonymously) so the fuzzer reaches the file commands at
 * once. Each segment's first byte is an operation on the in-memory
 * connection: control bytes fed whole or split at points the input
 * chooses, the simulated data peer connecting, failing, sending bytes or
 * closing, and the idle timeout. The database is fuzz_lab.h's, shared
 * by all runs; uploads are capped by the server's own quota.
 */
#include <string.h>

#include "fuzz_lab.h"

/* Feeds p in pieces of 1..step bytes, so every split point of a line is
 * tried somewhere in the corpus. */
static void fuzz_feed_split(struct lab_conn *c, const uint8_t *p, size_t n, size_t step) {
  while (n && !lab_mem_closed(c)) {
    size_t k = n < step ? n : step;
    lab_mem_feed(c, p, k);
    p += k;
    n -= k;
  }
}

static void fuzz_segment(struct lab_conn *c, const uint8_t *p, size_t n) {
  if (n == 0) return;
  switch (p[0] % 8) {
    case 0:
    default:
      lab_mem_feed(c, p + 1, n - 1);
      break;
    case 1:
      if (n >= 2) fuzz_feed_split(c, p + 2, n - 2, (size_t)(p[1] % 7) + 1);
      break;
    case 2:
      lab_mem_data_connect(c, 1);
      break;
    case 3:
      lab_mem_data_connect(c, 0);
      break;
    case 4:
      lab_mem_data_feed(c, p + 1, n - 1);
      break;
    case 5:
      lab_mem_data_eof(c);
      break;
    case 6:
      lab_mem_timeout(c);
      break;
    case 7:
      /* A passive channel the client connects to, then control bytes. */
      lab_mem_data_connect(c, 1);
      lab_mem_feed(c, p + 1, n - 1);
      break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char login_user[] = "USER alice\r\nPASS " FUZZ_ALICE_PASSWORD "\r\n";
  static const char login_anon[] = "USER anonymous\r\nPASS x\r\n";
  struct lab_conn *c;
  const uint8_t *p, *end, *sep;

  fuzz_lab_init(NULL);
  c = lab_mem_open(&lab_ftp, &fuzz_ctx, size && (data[0] & 4) ? "::1" : "127.0.0.1");
  if (!c) return 0;
  if (size && (data[0] & 3) == 1) lab_mem_feed(c, login_user, sizeof login_user - 1);
  if (size && (data[0] & 3) == 2) lab_mem_feed(c, login_anon, sizeof login_anon - 1);
  p = size ? data + 1 : data;
  end = data + size;
  while (p < end && !lab_mem_closed(c)) {
    sep = memchr(p, 0x01, (size_t)(end - p));
    if (!sep) sep = end;
    fuzz_segment(c, p, (size_t)(sep - p));
    /* Read the output the way a client would, then drop it. */
    (void)lab_mem_output(c, NULL);
    (void)lab_mem_data_output(c, NULL);
    lab_mem_clear(c);
    p = sep < end ? sep + 1 : end;
  }
  lab_mem_free(c);
  return 0;
}
