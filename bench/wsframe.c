/* wsframe.c -- the load client's minimal WebSocket framer (RFC 6455 section 5.2). */
#include "wsframe.h"

#include <string.h>

void wsframe_parser_init(struct wsframe_parser *p) {
  memset(p, 0, sizeof *p);
}

int wsframe_parse(struct wsframe_parser *p, unsigned char *in, size_t len,
                  struct wsframe_event *ev) {
  size_t h = 0;
  int masked;
  memset(ev, 0, sizeof *ev);
  if (!p->in_frame) {
    uint64_t n;
    if (len < 2) return 0;
    masked = in[1] & 0x80;
    if (masked && !p->accept_masked) return -1; /* a server never masks */
    n = in[1] & 0x7f;
    h = 2;
    if (n == 126) {
      if (len < 4) return 0;
      n = (uint64_t)in[2] << 8 | in[3];
      h = 4;
    } else if (n == 127) {
      if (len < 10) return 0;
      n = 0;
      for (int i = 2; i < 10; i++) n = n << 8 | in[i];
      if (n >> 62) return -1;
      h = 10;
    }
    if (masked) {
      if (len < h + 4) return 0;
      memcpy(p->mask, in + h, 4);
      h += 4;
    } else {
      memset(p->mask, 0, 4);
    }
    p->in_frame = 1;
    p->opcode = in[0] & 0x0f;
    p->left = n;
    p->pos = 0;
  }
  size_t take = len - h < p->left ? len - h : (size_t)p->left;
  if (p->mask[0] | p->mask[1] | p->mask[2] | p->mask[3])
    for (size_t i = 0; i < take; i++) in[h + i] ^= p->mask[(p->pos + i) & 3];
  p->pos += take;
  ev->opcode = p->opcode;
  ev->data = in + h;
  ev->len = take;
  ev->consumed = h + take;
  p->left -= take;
  if (!p->left) {
    ev->end = 1;
    p->in_frame = 0;
  }
  if (ev->consumed == 0) return 0; /* in a frame, no input: nothing to say */
  return 1;
}

size_t wsframe_header(unsigned char *out, int opcode, uint64_t n) {
  size_t h = 2;
  out[0] = (unsigned char)(0x80 | (opcode & 0x0f));
  if (n < 126) {
    out[1] = (unsigned char)(0x80 | n);
  } else if (n <= 0xffff) {
    out[1] = 0x80 | 126;
    out[2] = (unsigned char)(n >> 8);
    out[3] = (unsigned char)n;
    h = 4;
  } else {
    out[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (unsigned char)(n >> (56 - 8 * i));
    h = 10;
  }
  memset(out + h, 0, 4); /* the zero mask key */
  return h + 4;
}
