/* test_ring.c -- unit tests for the relay's ring of bytes.
 *
 * The limit sits at its edge (limit bytes fit, one more is refused whole),
 * FIFO order survives every wrap, consumed bytes are kept up to the keep
 * limit and can be made unread again, and a long random run agrees with a
 * plain model byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ring.h"

/* Reads every unread byte in order (through ring_head runs) into out. */
static size_t drain_copy(struct ring *r, unsigned char *out, size_t cap, int consume) {
  size_t got = 0, n;
  struct ring copy = *r;
  unsigned char *p;
  while ((p = ring_head(&copy, &n)) && n && got < cap) {
    if (n > cap - got) n = cap - got;
    memcpy(out + got, p, n);
    got += n;
    ring_consume(&copy, n);
  }
  if (consume) ring_consume(r, got);
  return got;
}

static void test_empty(void) {
  struct ring r;
  size_t n = 9;
  ring_init(&r, 100, 0);
  CHECK_EQ_INT(ring_len(&r), 0);
  CHECK_EQ_INT(ring_append(&r, "", 0), 0);
  CHECK(ring_head(&r, &n) == NULL);
  CHECK_EQ_INT(n, 0);
  ring_consume(&r, 5);
  CHECK_EQ_INT(ring_unconsume(&r, 1), -1);
  ring_free(&r);
  ring_free(&r); /* twice is harmless */
}

static void test_limit_edge(void) {
  struct ring r;
  unsigned char big[1001], out[1001];
  memset(big, 'x', sizeof big);
  ring_init(&r, 1000, 0);
  CHECK_EQ_INT(ring_append(&r, big, 1001), -1); /* limit + 1 in one go: nothing queued */
  CHECK_EQ_INT(ring_len(&r), 0);
  CHECK_EQ_INT(ring_append(&r, big, 1000), 0); /* exactly limit */
  CHECK_EQ_INT(ring_append(&r, "y", 1), -1);   /* limit + 1 */
  CHECK_EQ_INT(ring_len(&r), 1000);
  CHECK(r.alloc <= 1000);
  CHECK_EQ_INT(drain_copy(&r, out, sizeof out, 1), 1000);
  CHECK_EQ_INT(ring_len(&r), 0);
  ring_free(&r);
}

static void test_wrap_order(void) {
  struct ring r;
  unsigned char out[64];
  size_t n;
  ring_init(&r, 4096, 0);
  /* Walk the head around the storage many times with odd sizes. */
  for (int round = 0; round < 500; round++) {
    char line[40];
    int len = (round * 7) % 37 + 1;
    for (int i = 0; i < len; i++) line[i] = (char)('a' + (round + i) % 26);
    CHECK_EQ_INT(ring_append(&r, line, (size_t)len), 0);
    CHECK_EQ_INT(ring_append(&r, line, (size_t)len), 0);
    n = drain_copy(&r, out, (size_t)len, 1);
    CHECK_EQ_INT(n, len);
    CHECK(memcmp(out, line, (size_t)len) == 0);
    n = drain_copy(&r, out, (size_t)len, 1);
    CHECK(memcmp(out, line, (size_t)len) == 0);
  }
  CHECK(r.alloc == 4096); /* never grew: nothing was ever compacted or moved */
  ring_free(&r);
}

static void test_kept_and_unconsume(void) {
  struct ring r;
  unsigned char out[16];
  ring_init(&r, 8192, 10);
  CHECK_EQ_INT(ring_append(&r, "0123456789abcdef", 16), 0);
  ring_consume(&r, 16);
  CHECK_EQ_INT(ring_kept(&r), 10); /* at most the keep limit */
  CHECK_EQ_INT(ring_unconsume(&r, 11), -1);
  CHECK_EQ_INT(ring_unconsume(&r, 10), 0); /* the newest 10 are unread again */
  CHECK_EQ_INT(ring_len(&r), 10);
  CHECK_EQ_INT(drain_copy(&r, out, sizeof out, 0), 10);
  CHECK(memcmp(out, "6789abcdef", 10) == 0);
  ring_free(&r);
}

static void test_kept_evicted_when_full(void) {
  struct ring r;
  unsigned char a[100], out[100];
  memset(a, 'a', sizeof a);
  ring_init(&r, 100, 50); /* storage at most 150 */
  CHECK_EQ_INT(ring_append(&r, a, 100), 0);
  ring_consume(&r, 60);
  CHECK_EQ_INT(ring_kept(&r), 50);
  CHECK_EQ_INT(ring_append(&r, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 60),
               0);
  CHECK(r.alloc <= 150);
  CHECK_EQ_INT(ring_len(&r), 100);
  CHECK_EQ_INT(ring_kept(&r), 50);
  CHECK_EQ_INT(ring_unconsume(&r, 50), 0); /* grew to keep them: still the 'a's */
  CHECK_EQ_INT(drain_copy(&r, out, 50, 0), 50);
  CHECK(out[0] == 'a' && out[49] == 'a');
  ring_free(&r);
}

/* Random appends, consumes and unconsumes against a flat model. */
static void test_random_model(void) {
  enum { LIMIT = 3000, KEEP = 700, TOTAL = 400000 };
  unsigned char *model = malloc(TOTAL), *out = malloc(LIMIT + KEEP), chunk[900];
  size_t written = 0, read_at = 0; /* model[read_at, written) is unread */
  size_t kept_model = 0;
  struct ring r;
  unsigned seed = 12345;
  CHECK(model && out);
  ring_init(&r, LIMIT, KEEP);
  while (written + sizeof chunk < TOTAL) {
    seed = seed * 1103515245u + 12345u;
    size_t n = (seed >> 8) % sizeof chunk;
    int op = (int)((seed >> 20) % 3);
    if (op == 0) {
      for (size_t i = 0; i < n; i++) chunk[i] = (unsigned char)((written + i) * 31 + 7);
      int rc = ring_append(&r, chunk, n);
      CHECK_EQ_INT(rc, n && (written - read_at) + n > LIMIT ? -1 : 0);
      if (rc == 0) {
        memcpy(model + written, chunk, n);
        written += n;
        if (kept_model > ring_kept(&r)) kept_model = ring_kept(&r);
      }
    } else if (op == 1) {
      if (n > written - read_at) n = written - read_at;
      ring_consume(&r, n);
      read_at += n;
      kept_model += n;
      if (kept_model > KEEP) kept_model = KEEP;
      if (kept_model > read_at) kept_model = read_at;
    } else {
      size_t k = n % (ring_kept(&r) + 1);
      CHECK(ring_kept(&r) <= kept_model);
      CHECK_EQ_INT(ring_unconsume(&r, k), 0);
      read_at -= k;
      kept_model -= k;
    }
    CHECK_EQ_INT(ring_len(&r), written - read_at);
    size_t got = drain_copy(&r, out, LIMIT + KEEP, 0);
    CHECK_EQ_INT(got, written - read_at);
    CHECK(memcmp(out, model + read_at, got) == 0);
  }
  CHECK(r.alloc <= LIMIT + KEEP);
  ring_free(&r);
  free(model);
  free(out);
}

/* The pad in front of every run is writable memory. */
static void test_pad_writable(void) {
  struct ring r;
  size_t n;
  unsigned char saved[RING_PAD], *p;
  ring_init(&r, 100, 0);
  CHECK_EQ_INT(ring_append(&r, "abc", 3), 0);
  p = ring_head(&r, &n);
  memcpy(saved, p - RING_PAD, RING_PAD);
  memset(p - RING_PAD, 0xEE, RING_PAD);
  memcpy(p - RING_PAD, saved, RING_PAD);
  CHECK(memcmp(p, "abc", 3) == 0);
  ring_free(&r);
}

int main(void) {
  test_empty();
  test_limit_edge();
  test_wrap_order();
  test_kept_and_unconsume();
  test_kept_evicted_when_full();
  test_random_model();
  test_pad_writable();
  return check_done();
}
