/* test_lwsalloc.c -- lws's per-WebSocket receive buffers are mapped; everything else round-trips.
 *
 * Goes through lws's own entry point (lws_realloc), as lws does: the
 * header that sends a free or a realloc back the way it came, across the
 * two kinds. The receive buffer's pages are checked to be untouched after
 * a small message; the effect on a running portlab (73.7 KiB per idle
 * session before, 16.5 after) is measured by bench/idlebench.py, since
 * whether glibc reuses a written chunk here is glibc's choice.
 */
#include <libwebsockets.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "lwsalloc.h"

#define RX_BYTES (64 * 1024 + LWS_PRE + 4) /* what lws asks for the relay's WebSockets */

/* Pages of [p, p + n) that are resident, after the first. */
static int resident_after_first(const void *p, size_t n) {
  long page = sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)p + (uintptr_t)page) & ~((uintptr_t)page - 1);
  uintptr_t end = ((uintptr_t)p + n) & ~((uintptr_t)page - 1);
  unsigned char vec[64];
  int count = 0;

  if (end <= start || (end - start) / (uintptr_t)page > sizeof vec) return -1;
  if (mincore((void *)start, end - start, vec) != 0) return -1;
  for (size_t i = 0; i < (end - start) / (uintptr_t)page; i++) count += vec[i] & 1;
  return count;
}

static void test_receive_buffer_untouched(void) {
  /* Written and freed, with a live block after it so it cannot merge back
   * into the top of the heap: the next malloc of this size reuses it. */
  unsigned char *used = malloc(RX_BYTES + 64), *guard = malloc(64), *rx;

  CHECK(used && guard);
  if (!used || !guard) return;
  memset(used, 0xa5, RX_BYTES + 64);
  free(used);
  rx = lws_realloc(NULL, RX_BYTES, "rx_ubuf");
  CHECK(rx != NULL);
  if (rx) {
    memcpy(rx, "a small message", 15); /* an idle session's traffic */
    CHECK_EQ_INT(resident_after_first(rx, RX_BYTES), 0);
    rx[RX_BYTES - 1] = 1; /* the whole buffer is usable */
    lws_realloc(rx, 0, "lws_free");
  }
  free(guard);
}

static void test_round_trips(void) {
  char *a = lws_realloc(NULL, 100, "some header table");
  char *b;

  CHECK(a != NULL);
  if (!a) return;
  memset(a, 'x', 100);
  /* Heap to heap, heap to mapped, mapped to heap: the bytes follow. */
  a = lws_realloc(a, 5000, "grown");
  CHECK(a != NULL && a[99] == 'x');
  b = lws_realloc(a, RX_BYTES, "rx_ubuf");
  CHECK(b != NULL && b[0] == 'x' && b[99] == 'x');
  a = lws_realloc(b, 50, "shrunk");
  CHECK(a != NULL && a[49] == 'x');
  CHECK(lws_realloc(a, 0, "lws_free") == NULL);
  CHECK(lws_realloc(NULL, 0, "lws_free") == NULL); /* freeing nothing is allowed */
}

int main(void) {
  lwsalloc_install();
  test_receive_buffer_untouched();
  test_round_trips();
  return check_done();
}
