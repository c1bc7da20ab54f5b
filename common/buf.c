/* buf.c -- a byte queue that refuses to grow past its limit.
 *
 * Bytes are appended at the tail and consumed from the head. Consumed space
 * at the front is reclaimed by moving the unread bytes down before the
 * allocation is grown, and growth is geometric but clamped to the limit, so
 * a queue never holds more memory than its limit needs. An append that does
 * not fit changes nothing: a relay either queues a whole chunk or refuses it.
 */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Small enough that an idle relay direction costs little, large enough that
 * ordinary traffic never reallocates after the first chunk. */
#define BUF_MIN_ALLOC 4096

void buf_init(struct buf *b, size_t limit) {
  b->data = NULL;
  b->off = 0;
  b->len = 0;
  b->alloc = 0;
  b->limit = limit;
}

void buf_free(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->off = 0;
  b->len = 0;
  b->alloc = 0;
}

/* Picks the next allocation size: double, but never below what is needed
 * and never above the limit, which the caller has already checked covers
 * need. */
static size_t buf_next_alloc(const struct buf *b, size_t need) {
  size_t want = b->alloc ? b->alloc : BUF_MIN_ALLOC;
  while (want < need) {
    if (want > b->limit / 2) {
      want = b->limit;
      break;
    }
    want *= 2;
  }
  if (want > b->limit) want = b->limit;
  if (want < need) want = need;
  return want;
}

int buf_reserve(struct buf *b, size_t n) {
  size_t need;
  unsigned char *nd;

  /* Written as a subtraction so a huge n cannot wrap around the check. */
  if (b->len > b->limit || n > b->limit - b->len) return -1;
  need = b->len + n;
  if (b->off + need <= b->alloc) return 0;
  if (need <= b->alloc) {
    /* Enough room once the consumed head is reclaimed: no allocation. */
    memmove(b->data, b->data + b->off, b->len);
    b->off = 0;
    return 0;
  }

  {
    size_t na = buf_next_alloc(b, need);
    nd = malloc(na);
    if (!nd) goto fail;
    if (b->len) memcpy(nd, b->data + b->off, b->len);
    free(b->data);
    b->data = nd;
    b->alloc = na;
    b->off = 0;
  }
  return 0;

fail:
  return -1;
}

int buf_append(struct buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (buf_reserve(b, n) != 0) return -1;
  memcpy(b->data + b->off + b->len, p, n);
  b->len += n;
  return 0;
}

size_t buf_len(const struct buf *b) {
  return b->len;
}

const unsigned char *buf_head(const struct buf *b) {
  return b->data ? b->data + b->off : NULL;
}

void buf_consume(struct buf *b, size_t n) {
  if (n >= b->len) {
    /* Empty: start again at the front so the next append never moves. */
    b->off = 0;
    b->len = 0;
    return;
  }
  b->off += n;
  b->len -= n;
}

unsigned char *buf_take(struct buf *b, size_t *len) {
  unsigned char *p = b->data;
  *len = b->len;
  if (!p) return malloc(1); /* nothing was ever appended */
  memmove(p, p + b->off, b->len);
  b->data = NULL;
  b->off = b->len = b->alloc = 0;
  return p;
}

void buf_drop_tail(struct buf *b, size_t n) {
  b->len = n < b->len ? b->len - n : 0;
}

void *buf_array_room(void *v, size_t n, size_t *cap, size_t first, size_t elem) {
  size_t want = *cap ? *cap * 2 : first;
  void *grown;

  if (n < *cap) return v;
  if (want < *cap || (elem && want > SIZE_MAX / elem)) return NULL;
  grown = realloc(v, want * elem);
  if (grown) *cap = want;
  return grown;
}

void *buf_array_push(void *arrp, size_t *n, size_t *cap, size_t first, size_t elem,
                     const void *item) {
  void *v, *slot;

  /* Copied, not cast to void **: the caller's pointer is a typed one. */
  memcpy(&v, arrp, sizeof v);
  if (!(v = buf_array_room(v, *n, cap, first, elem))) return NULL;
  memcpy(arrp, &v, sizeof v);
  slot = (char *)v + *n * elem;
  if (item) memcpy(slot, item, elem);
  (*n)++;
  return slot;
}
