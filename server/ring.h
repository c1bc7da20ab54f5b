/* ring.h -- a bounded ring of bytes that keeps what was consumed, for a while.
 *
 * The relay's queues: append at the tail, read the head in place, consume.
 * Nothing is ever moved to compact the queue. Consumed bytes stay behind
 * the head ("kept", at most the keep limit) until new bytes need their room,
 * so a resumed WebSocket can be sent again what its page missed without a
 * second copy of every byte sent.
 *
 * The storage has RING_PAD writable bytes before its first byte, so a caller
 * may put a frame header in front of any contiguous run (saving and restoring
 * the bytes it covers, see ring_head).
 */
#ifndef PORTLAB_RING_H
#define PORTLAB_RING_H

#include <stddef.h>

#define RING_PAD 32 /* at least LWS_PRE */

struct ring {
  unsigned char *mem; /* RING_PAD bytes, then alloc bytes of storage */
  size_t alloc;       /* storage bytes; a power of two times RING_MIN_ALLOC, clamped */
  size_t head;        /* offset of the first unread byte */
  size_t len;         /* unread bytes */
  size_t kept;        /* consumed bytes still held just behind head */
  size_t limit;       /* len never exceeds this on append */
  size_t keep_limit;  /* kept never exceeds this */
};

void ring_init(struct ring *r, size_t limit, size_t keep_limit);
void ring_free(struct ring *r); /* releases memory; r can be reused after ring_init */
/* Appends all n bytes or none: -1 if len + n > limit or out of memory. May
 * forget the oldest kept bytes to make room. */
int ring_append(struct ring *r, const void *p, size_t n);
size_t ring_len(const struct ring *r);
size_t ring_kept(const struct ring *r);
/* The first contiguous run of unread bytes; *n gets its length (0: empty).
 * The RING_PAD bytes before the returned pointer are writable memory that
 * may hold other bytes of the ring: save and restore them if you write there.
 * Valid until the next append, consume or free. */
unsigned char *ring_head(struct ring *r, size_t *n);
void ring_consume(struct ring *r, size_t n); /* n > len consumes all; consumed bytes are kept */
int ring_unconsume(struct ring *r,
                   size_t n); /* the newest n kept bytes are unread again; -1 if n > kept */
void ring_drop_tail(struct ring *r, size_t n); /* forgets the newest n unread bytes */

#endif
