/* ring.c -- a bounded ring of bytes that keeps what was consumed, for a while.
 *
 * Storage grows geometrically up to limit + keep_limit and never shrinks
 * (an idle queue that never saw a byte allocates nothing). Appends copy in
 * at most two pieces; consumes move the head only. Growing re-lays the
 * bytes out from offset 0 once; nothing else ever moves them.
 */
#include "ring.h"

#include <stdlib.h>
#include <string.h>

/* Small enough that a typing session costs little, large enough that a
 * keystroke session rarely reallocates. */
#define RING_MIN_ALLOC 4096

void ring_init(struct ring *r, size_t limit, size_t keep_limit) {
  memset(r, 0, sizeof *r);
  r->limit = limit;
  r->keep_limit = keep_limit;
}

void ring_free(struct ring *r) {
  free(r->mem);
  r->mem = NULL;
  r->alloc = r->head = r->len = r->kept = 0;
}

size_t ring_len(const struct ring *r) {
  return r->len;
}

size_t ring_kept(const struct ring *r) {
  return r->kept;
}

static unsigned char *ring_data(const struct ring *r) {
  return r->mem + RING_PAD;
}

/* Copies n bytes starting at storage offset start, wrapping at the end,
 * into dst. */
static void ring_copy_out(const struct ring *r, size_t start, unsigned char *dst, size_t n) {
  size_t first = r->alloc - start;
  if (first > n) first = n;
  memcpy(dst, ring_data(r) + start, first);
  if (n > first) memcpy(dst + first, ring_data(r), n - first);
}

/* Reallocates to na bytes of storage, keeping the kept and unread bytes in
 * order from offset 0. */
static int ring_grow(struct ring *r, size_t na) {
  unsigned char *nm = malloc(RING_PAD + na);
  if (!nm) return -1;
  if (r->mem && r->kept + r->len) {
    size_t start = (r->head + r->alloc - r->kept) % r->alloc;
    ring_copy_out(r, start, nm + RING_PAD, r->kept + r->len);
  }
  free(r->mem);
  r->mem = nm;
  r->alloc = na;
  r->head = r->kept;
  return 0;
}

int ring_append(struct ring *r, const void *p, size_t n) {
  size_t max_alloc = r->limit + r->keep_limit, tail, first;
  if (n == 0) return 0;
  /* Written as a subtraction so a huge n cannot wrap around the check. */
  if (r->len > r->limit || n > r->limit - r->len) return -1;
  if (r->len + r->kept + n > r->alloc && r->alloc < max_alloc) {
    size_t want = r->alloc ? r->alloc : RING_MIN_ALLOC;
    while (want < r->len + r->kept + n && want < max_alloc) want *= 2;
    if (want > max_alloc) want = max_alloc;
    if (want < r->len + n) want = r->len + n;
    if (ring_grow(r, want)) return -1;
  }
  /* Room first comes from the oldest kept bytes. */
  if (r->len + r->kept + n > r->alloc) r->kept = r->alloc - r->len - n;
  tail = (r->head + r->len) % r->alloc;
  first = r->alloc - tail;
  if (first > n) first = n;
  memcpy(ring_data(r) + tail, p, first);
  if (n > first) memcpy(ring_data(r), (const unsigned char *)p + first, n - first);
  r->len += n;
  return 0;
}

unsigned char *ring_head(struct ring *r, size_t *n) {
  if (!r->len) {
    *n = 0;
    return r->mem ? ring_data(r) + r->head : NULL;
  }
  *n = r->alloc - r->head < r->len ? r->alloc - r->head : r->len;
  return ring_data(r) + r->head;
}

void ring_consume(struct ring *r, size_t n) {
  if (n > r->len) n = r->len;
  if (!n) return;
  r->head = (r->head + n) % r->alloc;
  r->len -= n;
  r->kept += n;
  if (r->kept > r->keep_limit) r->kept = r->keep_limit;
  if (!r->len && !r->kept) r->head = 0; /* empty: the next append starts in one piece */
}

int ring_unconsume(struct ring *r, size_t n) {
  if (n > r->kept) return -1;
  if (!n) return 0;
  r->head = (r->head + r->alloc - n) % r->alloc;
  r->kept -= n;
  r->len += n;
  return 0;
}

void ring_drop_tail(struct ring *r, size_t n) {
  r->len = n < r->len ? r->len - n : 0;
}
