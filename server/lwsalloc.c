/* lwsalloc.c -- libwebsockets' allocator: its per-WebSocket receive buffers are mapped, not
 * malloc'd.
 *
 * lws gives every WebSocket a receive buffer of the protocol's rx buffer
 * size (the relay's is 64 KiB, so that a 64 KiB upload frame is one
 * callback). From the heap, that buffer is usually carved from memory
 * freed a moment before, which SQLite's transaction had just written: its
 * pages are resident although an idle session never uses them (73.7 KiB
 * per idle session, bench/RESULTS.md). Mapped, its pages cost nothing
 * until a message is written into them, and they go back to the system
 * when the WebSocket closes.
 *
 * Every lws allocation carries a small header saying which kind it is, so
 * a free or realloc goes back the way it came.
 */
#include "lwsalloc.h"

#include <libwebsockets.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* lws names the server side's per-WebSocket receive buffer so. */
#define LWSALLOC_MAPPED_REASON "rx_ubuf"

enum lwsalloc_kind { LWSALLOC_HEAP = 0x48454150u, LWSALLOC_MAP = 0x4d415020u };

struct lwsalloc_head {
  alignas(max_align_t) size_t size; /* what lws asked for */
  unsigned kind;
};

static struct lwsalloc_head *lwsalloc_head_of(void *p) {
  return (struct lwsalloc_head *)((char *)p - sizeof(struct lwsalloc_head));
}

static void *lwsalloc_new(size_t size, int mapped) {
  size_t total = sizeof(struct lwsalloc_head) + size;
  struct lwsalloc_head *h;

  if (size > SIZE_MAX - sizeof(struct lwsalloc_head)) return NULL;
  if (mapped) {
    h = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED) return NULL;
  } else {
    h = malloc(total);
    if (!h) return NULL;
  }
  h->size = size;
  h->kind = mapped ? LWSALLOC_MAP : LWSALLOC_HEAP;
  return h + 1;
}

static void lwsalloc_free(void *p) {
  struct lwsalloc_head *h;

  if (!p) return;
  h = lwsalloc_head_of(p);
  if (h->kind == LWSALLOC_MAP)
    munmap(h, sizeof *h + h->size);
  else
    free(h);
}

/* lws's allocator contract: realloc(ptr, size), with size 0 meaning free. */
static void *lwsalloc_realloc(void *ptr, size_t size, const char *reason) {
  int mapped = reason && strcmp(reason, LWSALLOC_MAPPED_REASON) == 0;
  struct lwsalloc_head *h;
  void *np;

  if (!size) {
    lwsalloc_free(ptr);
    return NULL;
  }
  if (!ptr) return lwsalloc_new(size, mapped);
  h = lwsalloc_head_of(ptr);
  if (h->kind == LWSALLOC_HEAP && !mapped) {
    if (size > SIZE_MAX - sizeof *h) return NULL;
    h = realloc(h, sizeof *h + size);
    if (!h) return NULL;
    h->size = size;
    return h + 1;
  }
  np = lwsalloc_new(size, mapped);
  if (!np) return NULL;
  memcpy(np, ptr, h->size < size ? h->size : size);
  lwsalloc_free(ptr);
  return np;
}

void lwsalloc_install(void) {
  lws_set_allocator(lwsalloc_realloc);
}
