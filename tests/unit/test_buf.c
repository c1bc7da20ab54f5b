/* test_buf.c -- unit tests for the bounded byte queue.
 *
 * The limit is the point of the module, so most cases sit at it: exactly
 * limit bytes fit, one more is refused whole, and reclaiming consumed space
 * never allocates past the limit.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"

static void test_empty(void) {
  struct buf b;
  buf_init(&b, 100);
  CHECK_EQ_INT(buf_len(&b), 0);
  CHECK_EQ_INT(buf_append(&b, "", 0), 0);
  CHECK_EQ_INT(buf_len(&b), 0);
  buf_consume(&b, 5);
  CHECK_EQ_INT(buf_len(&b), 0);
  buf_free(&b);
  buf_free(&b); /* twice is harmless */
}

static void test_fifo_order(void) {
  struct buf b;
  buf_init(&b, 100);
  CHECK_EQ_INT(buf_append(&b, "hello ", 6), 0);
  CHECK_EQ_INT(buf_append(&b, "world", 5), 0);
  CHECK_EQ_INT(buf_len(&b), 11);
  CHECK(memcmp(buf_head(&b), "hello world", 11) == 0);
  buf_consume(&b, 6);
  CHECK_EQ_INT(buf_len(&b), 5);
  CHECK(memcmp(buf_head(&b), "world", 5) == 0);
  buf_consume(&b, 99); /* more than len consumes all */
  CHECK_EQ_INT(buf_len(&b), 0);
  buf_free(&b);
}

static void test_exact_limit(void) {
  struct buf b;
  unsigned char big[1000];
  memset(big, 'x', sizeof big);
  buf_init(&b, 1000);
  CHECK_EQ_INT(buf_append(&b, big, 1000), 0); /* exactly limit */
  CHECK_EQ_INT(buf_len(&b), 1000);
  CHECK(b.alloc <= 1000);
  CHECK_EQ_INT(buf_append(&b, "y", 1), -1); /* limit + 1 */
  CHECK_EQ_INT(buf_len(&b), 1000);
  buf_free(&b);

  /* limit + 1 in one append: refused whole, nothing queued. */
  {
    unsigned char big2[1001];
    memset(big2, 'z', sizeof big2);
    buf_init(&b, 1000);
    CHECK_EQ_INT(buf_append(&b, big2, 1001), -1);
    CHECK_EQ_INT(buf_len(&b), 0);
    CHECK_EQ_INT(buf_append(&b, big2, 1000), 0);
    buf_free(&b);
  }
}

static void test_all_or_nothing(void) {
  struct buf b;
  buf_init(&b, 10);
  CHECK_EQ_INT(buf_append(&b, "abcdefg", 7), 0);
  CHECK_EQ_INT(buf_append(&b, "1234", 4), -1); /* 11 > 10 */
  CHECK_EQ_INT(buf_len(&b), 7);
  CHECK(memcmp(buf_head(&b), "abcdefg", 7) == 0);
  CHECK_EQ_INT(buf_append(&b, "123", 3), 0); /* exactly 10 */
  CHECK(memcmp(buf_head(&b), "abcdefg123", 10) == 0);
  buf_free(&b);
}

static void test_overflowing_n(void) {
  struct buf b;
  buf_init(&b, 10);
  CHECK_EQ_INT(buf_append(&b, "ab", 2), 0);
  /* n so large that len + n wraps must still be refused. */
  CHECK_EQ_INT(buf_append(&b, "x", SIZE_MAX), -1);
  CHECK_EQ_INT(buf_append(&b, "x", SIZE_MAX - 1), -1);
  CHECK_EQ_INT(buf_len(&b), 2);
  buf_free(&b);
}

static void test_zero_limit(void) {
  struct buf b;
  buf_init(&b, 0);
  CHECK_EQ_INT(buf_append(&b, "a", 1), -1);
  CHECK_EQ_INT(buf_append(&b, "a", 0), 0);
  CHECK_EQ_INT(buf_len(&b), 0);
  CHECK(b.alloc == 0);
  buf_free(&b);
}

/* Consuming from the head and appending at the tail again and again must
 * reuse the space, never allocating past the limit. */
static void test_compaction_never_exceeds_limit(void) {
  struct buf b;
  unsigned char chunk[300];
  size_t i, total_in = 0, total_out = 0;
  int ok = 1;
  buf_init(&b, 1000);
  for (i = 0; i < 5000; i++) {
    size_t n = 1 + (i * 37) % sizeof chunk, k;
    for (k = 0; k < n; k++) chunk[k] = (unsigned char)(total_in + k);
    if (buf_append(&b, chunk, n) == 0) {
      total_in += n;
    } else if (buf_len(&b) + n <= 1000) {
      ok = 0; /* refused although it fitted */
    }
    if (b.alloc > 1000) ok = 0;
    {
      size_t c = (i * 53) % 400, have = buf_len(&b), j;
      if (c > have) c = have;
      for (j = 0; j < c; j++)
        if (buf_head(&b)[j] != (unsigned char)(total_out + j)) ok = 0;
      buf_consume(&b, c);
      total_out += c;
    }
  }
  CHECK(ok);
  CHECK(b.alloc <= 1000);
  CHECK_EQ_INT(total_in - total_out, buf_len(&b));
  buf_free(&b);
}

/* A limit larger than the minimum allocation grows geometrically and ends
 * clamped to the limit itself, not the next power of two. */
static void test_growth_clamped(void) {
  struct buf b;
  unsigned char *big = malloc(100000);
  CHECK(big != NULL);
  if (!big) return;
  memset(big, 7, 100000);
  buf_init(&b, 100000);
  CHECK_EQ_INT(buf_append(&b, big, 1), 0);
  CHECK(b.alloc >= 1 && b.alloc <= 100000);
  CHECK_EQ_INT(buf_append(&b, big, 99999), 0);
  CHECK_EQ_INT(b.alloc, 100000);
  CHECK_EQ_INT(buf_append(&b, big, 1), -1);
  buf_consume(&b, 50000);
  CHECK_EQ_INT(buf_append(&b, big, 50000), 0); /* compacts, no growth */
  CHECK_EQ_INT(b.alloc, 100000);
  CHECK_EQ_INT(buf_len(&b), 100000);
  buf_free(&b);
  /* Reusable after free with a new limit. */
  buf_init(&b, 5);
  CHECK_EQ_INT(buf_append(&b, "12345", 5), 0);
  CHECK_EQ_INT(buf_append(&b, "6", 1), -1);
  buf_free(&b);
  free(big);
}

/* Room reserved up to the limit, then filled by appends that never move
 * the bytes; one byte more than the limit allows is refused. */
static void test_reserve(void) {
  struct buf b;
  const unsigned char *head;
  int ok = 1;

  buf_init(&b, 10000);
  CHECK_EQ_INT(buf_append(&b, "ab", 2), 0);
  CHECK_EQ_INT(buf_reserve(&b, 9999), -1);
  CHECK_EQ_INT(buf_len(&b), 2);
  CHECK_EQ_INT(buf_reserve(&b, 9998), 0);
  CHECK(b.alloc >= 10000);
  head = buf_head(&b);
  for (int i = 0; i < 9998; i++) ok &= buf_append(&b, "x", 1) == 0;
  CHECK(ok);
  CHECK(buf_head(&b) == head);
  CHECK_EQ_INT(buf_len(&b), 10000);
  CHECK_EQ_INT(buf_reserve(&b, 0), 0);
  CHECK_EQ_INT(buf_reserve(&b, 1), -1);
  CHECK(memcmp(buf_head(&b), "abx", 3) == 0);
  buf_free(&b);
}

/* buf_array_room: no move while there is room, doubling from first. */
static void test_array_room(void) {
  int *v = NULL, *w;
  size_t cap = 0, n = 0;

  for (int i = 0; i < 40; i++) {
    w = buf_array_room(v, n, &cap, 4, sizeof *v);
    CHECK(w != NULL);
    if (!w) break;
    v = w;
    v[n++] = i;
    CHECK(cap == 4 || cap == 8 || cap == 16 || cap == 32 || cap == 64);
    CHECK(n <= cap);
  }
  CHECK_EQ_INT(cap, 64);
  CHECK(buf_array_room(v, 10, &cap, 4, sizeof *v) == v);
  CHECK_EQ_INT(cap, 64);
  for (int i = 0; i < 40; i++) CHECK_EQ_INT(v[i], i);
  /* A size past SIZE_MAX is refused and changes nothing. */
  size_t big = SIZE_MAX / 2 + 1;
  CHECK(buf_array_room(v, big, &big, 4, 2) == NULL);
  CHECK(big == SIZE_MAX / 2 + 1);
  free(v);
}

/* buf_array_push: the caller's pointer follows the array, the item is
 * copied in (or the element left for the caller), nothing changes when
 * there is no room to be had. */
struct pair {
  int a;
  char b[6];
};

static void test_array_push(void) {
  struct pair *v = NULL, *p;
  size_t n = 0, cap = 0;

  for (int i = 0; i < 20; i++) {
    struct pair item = {i, "x"};
    p = buf_array_push(&v, &n, &cap, 2, sizeof *v, &item);
    CHECK(p != NULL);
    if (!p) break;
    CHECK(p == &v[i]);
    CHECK_EQ_INT((int)n, i + 1);
  }
  CHECK_EQ_INT(cap, 32);
  p = buf_array_push(&v, &n, &cap, 2, sizeof *v, NULL);
  CHECK(p == &v[20]);
  if (p) p->a = 99;
  CHECK_EQ_INT((int)n, 21);
  for (int i = 0; i < 20; i++) CHECK(v[i].a == i && strcmp(v[i].b, "x") == 0);
  CHECK_EQ_INT(v[20].a, 99);
  /* A size past SIZE_MAX is refused and changes nothing. */
  struct pair *keep = v;
  size_t big = SIZE_MAX / 2 + 1, used = big;
  CHECK(buf_array_push(&v, &used, &big, 4, 2, NULL) == NULL);
  CHECK(v == keep && used == SIZE_MAX / 2 + 1 && big == SIZE_MAX / 2 + 1);
  free(v);
}

int main(void) {
  test_empty();
  test_fifo_order();
  test_exact_limit();
  test_all_or_nothing();
  test_overflowing_n();
  test_zero_limit();
  test_compaction_never_exceeds_limit();
  test_growth_clamped();
  test_reserve();
  test_array_room();
  test_array_push();
  return check_done();
}
