/* test_wsframe.c -- a smoke test of the bench load client's WebSocket framer.
 *
 * Header lengths at the 7-bit, 16-bit and 64-bit edges (125/126, 65535/65536),
 * and a server frame fed one byte at a time yields its payload in order.
 */
#include <string.h>

#include "bench/wsframe.h"
#include "check.h"

static void test_header_edges(void) {
  unsigned char h[WSFRAME_MAX_HEADER];
  CHECK_EQ_INT(wsframe_header(h, WSFRAME_BINARY, 125), 6);
  CHECK_EQ_INT(h[0], 0x82);
  CHECK_EQ_INT(h[1], 0x80 | 125);
  CHECK_EQ_INT(wsframe_header(h, WSFRAME_TEXT, 126), 8);
  CHECK_EQ_INT(h[1], 0x80 | 126);
  CHECK_EQ_INT(h[2] << 8 | h[3], 126);
  CHECK_EQ_INT(wsframe_header(h, WSFRAME_BINARY, 65535), 8);
  CHECK_EQ_INT(wsframe_header(h, WSFRAME_BINARY, 65536), 14);
  CHECK_EQ_INT(h[1], 0x80 | 127);
  CHECK_EQ_INT(h[7] << 16 | h[8] << 8 | h[9], 65536);
  CHECK_EQ_INT(h[10] | h[11] | h[12] | h[13], 0); /* zero mask key */
}

static void test_parse_bytewise(void) {
  unsigned char frame[4 + 300];
  struct wsframe_parser p;
  struct wsframe_event ev;
  unsigned char got[300];
  size_t n = 0;
  int ends = 0;
  frame[0] = 0x82;
  frame[1] = 126;
  frame[2] = 300 >> 8;
  frame[3] = 300 & 0xff;
  for (int i = 0; i < 300; i++) frame[4 + i] = (unsigned char)i;
  wsframe_parser_init(&p);
  for (size_t off = 0, have = 0; off < sizeof frame;) {
    have++; /* one more byte arrives */
    int rc = wsframe_parse(&p, frame + off, have, &ev);
    CHECK(rc >= 0);
    if (rc == 1) {
      CHECK_EQ_INT(ev.opcode, WSFRAME_BINARY);
      memcpy(got + n, ev.data, ev.len);
      n += ev.len;
      ends += ev.end;
      off += ev.consumed;
      have -= ev.consumed;
    }
  }
  CHECK_EQ_INT(n, 300);
  CHECK_EQ_INT(ends, 1);
  CHECK(memcmp(got, frame + 4, 300) == 0);
  /* A masked server frame is refused ... */
  frame[1] = 0x80 | 5;
  wsframe_parser_init(&p);
  CHECK_EQ_INT(wsframe_parse(&p, frame, 11, &ev), -1);
  /* ... and a masked client frame is unmasked where a server accepts it
   * (the RFC 6455 section 5.7 example: "Hello"). */
  {
    unsigned char hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    wsframe_parser_init(&p);
    p.accept_masked = 1;
    CHECK_EQ_INT(wsframe_parse(&p, hello, sizeof hello, &ev), 1);
    CHECK_EQ_INT(ev.opcode, WSFRAME_TEXT);
    CHECK_EQ_INT(ev.len, 5);
    CHECK(memcmp(ev.data, "Hello", 5) == 0);
  }
}

int main(void) {
  test_header_edges();
  test_parse_bytewise();
  return check_done();
}
