/* buf.h -- a byte queue that refuses to grow past its limit, and the
 * growth step of a malloc'd array.
 *
 * Used for every relay direction: append at the tail, peek and consume at
 * the head. The limit is a hard cap; callers pause their producer well
 * before it (watermarks) so the cap is only hit by a bug or a hostile peer.
 */
#ifndef PORTLAB_BUF_H
#define PORTLAB_BUF_H

#include <stddef.h>

struct buf {
  unsigned char *data;
  size_t off;   /* start of unread bytes */
  size_t len;   /* unread bytes */
  size_t alloc; /* bytes allocated */
  size_t limit; /* len never exceeds this */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b); /* releases memory; b can be reused after buf_init */
/* Appends all n bytes or none: -1 if len + n > limit or out of memory. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Makes room for n more bytes without adding them, so that appends of up
 * to n bytes in all cannot fail: -1 if len + n > limit or out of memory. */
int buf_reserve(struct buf *b, size_t n);
size_t buf_len(const struct buf *b);
/* Pointer to the unread bytes (valid until the next append/consume). */
const unsigned char *buf_head(const struct buf *b);
void buf_consume(struct buf *b, size_t n);   /* n > len consumes all */
void buf_drop_tail(struct buf *b, size_t n); /* forgets the newest n bytes */
/* Hands over the unread bytes as one malloc'd block (caller frees) and
 * empties b. *len gets their count. NULL only if out of memory. */
unsigned char *buf_take(struct buf *b, size_t *len);

/* Room for one more element in a malloc'd array (v, NULL when empty) of
 * *cap elements of elem bytes, n of them used: when n == *cap the array
 * doubles (to first when empty) and *cap follows. Returns the array to
 * use from now on, or NULL when out of memory (or past SIZE_MAX), with v
 * still valid and *cap unchanged: the caller keeps v and gives up. */
void *buf_array_room(void *v, size_t n, size_t *cap, size_t first, size_t elem);

/* Appends one element to such an array: arrp is the address of the
 * caller's array pointer (a struct x **), updated when the array moves.
 * Copies item (elem bytes) into the new element unless item is NULL,
 * counts it in *n and returns it; NULL when out of memory, with the
 * array, *n and *cap as they were. */
void *buf_array_push(void *arrp, size_t *n, size_t *cap, size_t first, size_t elem,
                     const void *item);

#endif
