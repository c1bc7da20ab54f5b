/* wschat.c -- the HTTP lab's /chat: a WebSocket echo written by hand (RFC 6455).
 *
 * RFC 6455 section 4.2.2 (the accept value: base64 of the SHA-1 of the key
 * and the GUID 258EAFA5-E914-47DA-95CA-C5AB0DC85B11), section 5.2 (the
 * frame: FIN, RSV1-3, opcode, MASK, a 7-, 16- or 64-bit length, the
 * masking key), section 5.1 (a server closes on an unmasked client frame),
 * section 5.4 (fragments: continuation frames, control frames between
 * them), sections 5.5.1-5.5.3 (close, ping, pong) and 7.4.1 (1002
 * protocol error). RFC 3174 is the SHA-1.
 *
 * The engine is a pure function of its input, so unit tests and the wire
 * thread share it. It echoes each data frame as it arrives, byte for
 * byte unmasked, so its memory is fixed whatever a client announces. It
 * does not check that text is UTF-8 (section 8.1 would close with 1007):
 * the echo shows the student exactly what they sent.
 */
#include "wschat.h"

#include <stdio.h>
#include <string.h>

#define WSCHAT_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* --- SHA-1 and base64 --------------------------------------------------------- */

static uint32_t wschat_rol(uint32_t x, int n) {
  return (x << n) | (x >> (32 - n));
}

static void wschat_sha1_block(uint32_t h[5], const unsigned char *b) {
  uint32_t w[80], a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];

  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 |
           b[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = wschat_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20)
      f = (bb & c) | (~bb & d), k = 0x5A827999;
    else if (i < 40)
      f = bb ^ c ^ d, k = 0x6ED9EBA1;
    else if (i < 60)
      f = (bb & c) | (bb & d) | (c & d), k = 0x8F1BBCDC;
    else
      f = bb ^ c ^ d, k = 0xCA62C1D6;
    uint32_t t = wschat_rol(a, 5) + f + e + k + w[i];
    e = d;
    d = c;
    c = wschat_rol(bb, 30);
    bb = a;
    a = t;
  }
  h[0] += a;
  h[1] += bb;
  h[2] += c;
  h[3] += d;
  h[4] += e;
}

void wschat_sha1(const void *p, size_t n, unsigned char out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  const unsigned char *s = p;
  unsigned char last[128];
  size_t full = n / 64 * 64, rest = n - full, tail;
  uint64_t bits = (uint64_t)n * 8;

  for (size_t i = 0; i < full; i += 64) wschat_sha1_block(h, s + i);
  memset(last, 0, sizeof last);
  memcpy(last, s + full, rest);
  last[rest] = 0x80;
  tail = rest + 1 + 8 <= 64 ? 64 : 128;
  for (int i = 0; i < 8; i++) last[tail - 1 - i] = (unsigned char)(bits >> (8 * i));
  wschat_sha1_block(h, last);
  if (tail == 128) wschat_sha1_block(h, last + 64);
  for (int i = 0; i < 20; i++) out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static const char wschat_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int wschat_key_valid(const char *key) {
  /* 16 bytes are 22 base64 digits and "==", the last digit holding 2 bits. */
  if (!key || strlen(key) != 24 || strcmp(key + 22, "==") != 0) return 0;
  for (int i = 0; i < 22; i++) {
    const char *d = key[i] ? strchr(wschat_b64, key[i]) : NULL;
    if (!d) return 0;
    if (i == 21 && ((d - wschat_b64) & 0x0f)) return 0;
  }
  return 1;
}

void wschat_accept(const char *key, char out[WSCHAT_ACCEPT_LEN + 1]) {
  char buf[128];
  unsigned char d[21];
  int n = snprintf(buf, sizeof buf, "%.64s%s", key, WSCHAT_GUID);
  char *o = out;

  wschat_sha1(buf, (size_t)n, d);
  d[20] = 0;
  for (int i = 0; i < 21; i += 3) {
    unsigned v = (unsigned)d[i] << 16 | (unsigned)(i + 1 < 21 ? d[i + 1] : 0) << 8 |
                 (unsigned)(i + 2 < 21 ? d[i + 2] : 0);
    *o++ = wschat_b64[(v >> 18) & 63];
    *o++ = wschat_b64[(v >> 12) & 63];
    *o++ = i + 1 < 20 ? wschat_b64[(v >> 6) & 63] : '=';
    *o++ = i + 2 < 20 ? wschat_b64[v & 63] : '=';
  }
  out[WSCHAT_ACCEPT_LEN] = '\0';
}

/* --- frames ------------------------------------------------------------------- */

enum {
  WS_CONT = 0x0,
  WS_TEXT = 0x1,
  WS_BINARY = 0x2,
  WS_CLOSE = 0x8,
  WS_PING = 0x9,
  WS_PONG = 0xA
};

/* An unmasked server frame header for a payload of len bytes. */
static size_t wschat_header(unsigned char *o, unsigned char b0, uint64_t len) {
  o[0] = b0;
  if (len < 126) {
    o[1] = (unsigned char)len;
    return 2;
  }
  if (len <= 0xffff) {
    o[1] = 126;
    o[2] = (unsigned char)(len >> 8);
    o[3] = (unsigned char)len;
    return 4;
  }
  o[1] = 127;
  for (int i = 0; i < 8; i++) o[2 + i] = (unsigned char)(len >> (56 - 8 * i));
  return 10;
}

static void wschat_close(struct wschat *w, unsigned code, const char *reason, unsigned char *out,
                         size_t *outlen) {
  size_t rl = reason ? strlen(reason) : 0;
  unsigned char *o = out + *outlen;

  if (rl > 100) rl = 100;
  o[0] = 0x80 | WS_CLOSE;
  o[1] = (unsigned char)(code ? 2 + rl : 0);
  if (code) {
    o[2] = (unsigned char)(code >> 8);
    o[3] = (unsigned char)code;
    if (rl) memcpy(o + 4, reason, rl);
  }
  *outlen += 2 + (code ? 2 + rl : 0);
  w->done = 1;
  w->close_code = (unsigned short)code;
}

/* The header is complete: check it and, for data, start the echo. */
static void wschat_begin(struct wschat *w, unsigned char *out, size_t *outlen) {
  unsigned char b0 = w->hdr[0], b1 = w->hdr[1];
  int control = (b0 & 0x08) != 0;

  w->fin = b0 & 0x80;
  w->opcode = b0 & 0x0f;
  if (!(b1 & 0x80)) {
    wschat_close(w, 1002, "client frames must be masked", out, outlen);
    return;
  }
  if (b0 & 0x70) {
    wschat_close(w, 1002, "reserved bits set", out, outlen);
    return;
  }
  if (w->opcode != WS_CONT && w->opcode != WS_TEXT && w->opcode != WS_BINARY &&
      w->opcode != WS_CLOSE && w->opcode != WS_PING && w->opcode != WS_PONG) {
    wschat_close(w, 1002, "unknown opcode", out, outlen);
    return;
  }
  if (control && (!w->fin || w->left > 125)) {
    wschat_close(w, 1002, "control frames are single and short", out, outlen);
    return;
  }
  if (!control && (w->opcode == WS_CONT) != (w->in_message != 0)) {
    wschat_close(w, 1002,
                 w->opcode == WS_CONT ? "continuation without a message" : "message interleaved",
                 out, outlen);
    return;
  }
  w->in_payload = 1;
  w->pos = 0;
  w->ctl_len = 0;
  if (!control) {
    w->in_message = !w->fin;
    *outlen += wschat_header(out + *outlen, (unsigned char)(w->fin | w->opcode), w->left);
  }
}

/* A control frame's payload is all here. */
static void wschat_control(struct wschat *w, unsigned char *out, size_t *outlen) {
  if (w->opcode == WS_PING) {
    *outlen += wschat_header(out + *outlen, 0x80 | WS_PONG, w->ctl_len);
    memcpy(out + *outlen, w->ctl, w->ctl_len);
    *outlen += w->ctl_len;
  } else if (w->opcode == WS_CLOSE) {
    if (w->ctl_len == 1)
      wschat_close(w, 1002, "a close body holds a 2-byte code", out, outlen);
    else
      wschat_close(w, w->ctl_len ? (unsigned)w->ctl[0] << 8 | w->ctl[1] : 0, NULL, out, outlen);
  }
}

/* The header's length so far: 2, then the extended length, then the mask. */
static size_t wschat_header_need(const struct wschat *w) {
  size_t need = 2;
  if (w->hlen >= 2) {
    unsigned l7 = w->hdr[1] & 0x7f;
    need += (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((w->hdr[1] & 0x80) ? 4 : 0);
  }
  return need;
}

size_t wschat_feed(struct wschat *w, const unsigned char *in, size_t n, unsigned char *out,
                   size_t outcap, size_t *outlen) {
  size_t used = 0;

  while (used < n && !w->done && outcap - *outlen >= WSCHAT_OUT_MIN) {
    if (!w->in_payload) {
      w->hdr[w->hlen++] = in[used++];
      size_t need = wschat_header_need(w);
      if (w->hlen < need) continue;
      unsigned l7 = w->hdr[1] & 0x7f;
      size_t at = 2;
      if (l7 < 126) {
        w->left = l7;
      } else {
        w->left = 0;
        for (size_t i = 0; i < (l7 == 126 ? 2u : 8u); i++) w->left = w->left << 8 | w->hdr[at++];
      }
      if (w->hdr[1] & 0x80) memcpy(w->mask, w->hdr + at, 4);
      w->hlen = 0;
      if (l7 == 127 && (w->left >> 63)) {
        wschat_close(w, 1002, "length too large", out, outlen);
        break;
      }
      wschat_begin(w, out, outlen);
      if (w->done) break;
    } else {
      size_t take = n - used;
      int control = (w->opcode & 0x08) != 0;
      if (take > w->left) take = (size_t)w->left;
      if (!control && take > outcap - *outlen) take = outcap - *outlen;
      for (size_t i = 0; i < take; i++) {
        unsigned char b = in[used + i] ^ w->mask[w->pos++ & 3];
        if (control)
          w->ctl[w->ctl_len++] = b;
        else
          out[(*outlen)++] = b;
      }
      used += take;
      w->left -= take;
    }
    if (w->in_payload && w->left == 0) {
      w->in_payload = 0;
      if (w->opcode & 0x08) wschat_control(w, out, outlen);
    }
  }
  if (w->done) return n;
  return used;
}
