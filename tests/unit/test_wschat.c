/* test_wschat.c -- the /chat WebSocket engine: SHA-1, the accept value, frames.
 *
 * The engine is fed byte by byte and in one piece and must answer the
 * same; a small output buffer makes it stop and resume without losing a
 * byte; every protocol error ends in exactly one close 1002.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "wschat.h"

static void hex(const unsigned char *d, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha1(void) {
  unsigned char d[20];
  char h[41];
  wschat_sha1("abc", 3, d);
  hex(d, 20, h);
  CHECK_EQ_STR(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
  wschat_sha1("", 0, d);
  hex(d, 20, h);
  CHECK_EQ_STR(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  /* 56 bytes: the padding needs a second block. */
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  wschat_sha1(two, strlen(two), d);
  hex(d, 20, h);
  CHECK_EQ_STR(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  char million[1000];
  memset(million, 'a', sizeof million);
  wschat_sha1(million, sizeof million, d); /* 1000 bytes: many blocks, then a tail */
  hex(d, 20, h);
  CHECK_EQ_STR(h, "291e9a6c66994949b57ba5e650361e98fc36b1ba");
}

static void test_accept(void) {
  char a[WSCHAT_ACCEPT_LEN + 1];
  wschat_accept("dGhlIHNhbXBsZSBub25jZQ==", a); /* RFC 6455 section 1.3 */
  CHECK_EQ_STR(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK(wschat_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK(wschat_key_valid("AAAAAAAAAAAAAAAAAAAAAA=="));
  CHECK(!wschat_key_valid(NULL));
  CHECK(!wschat_key_valid(""));
  CHECK(!wschat_key_valid("dGhlIHNhbXBsZSBub25jZQ"));    /* no padding */
  CHECK(!wschat_key_valid("dGhlIHNhbXBsZSBub25jZR=="));  /* bits past 16 bytes */
  CHECK(!wschat_key_valid("dGhlIHNhbXBsZSBub25j*Q=="));  /* not base64 */
  CHECK(!wschat_key_valid("dGhlIHNhbXBsZSBub25jZQ==A")); /* too long */
}

/* A masked client frame into out; its length. */
static size_t client_frame(unsigned char *out, unsigned char b0, const void *payload, size_t n,
                           int masked) {
  static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  const unsigned char *p = payload;
  size_t at = 0;
  out[at++] = b0;
  unsigned char m = masked ? 0x80 : 0;
  if (n < 126) {
    out[at++] = (unsigned char)(m | n);
  } else if (n < 65536) {
    out[at++] = m | 126;
    out[at++] = (unsigned char)(n >> 8);
    out[at++] = (unsigned char)n;
  } else {
    out[at++] = m | 127;
    for (int i = 7; i >= 0; i--) out[at++] = (unsigned char)((uint64_t)n >> (8 * i));
  }
  if (masked) memcpy(out + at, mask, 4), at += 4;
  for (size_t i = 0; i < n; i++) out[at + i] = masked ? p[i] ^ mask[i % 4] : p[i];
  return at + n;
}

/* Runs input through a fresh engine, step bytes at a time, with an output
 * buffer of outcap drained whenever the engine stops. */
static size_t run(const unsigned char *in, size_t n, size_t step, size_t outcap, unsigned char *all,
                  struct wschat *w) {
  unsigned char *out = malloc(outcap);
  size_t total = 0, at = 0, outlen = 0;
  memset(w, 0, sizeof *w);
  while (at < n && !w->done) {
    size_t len = n - at < step ? n - at : step;
    size_t used = wschat_feed(w, in + at, len, out, outcap, &outlen);
    at += used;
    memcpy(all + total, out, outlen);
    total += outlen;
    outlen = 0;
  }
  free(out);
  return total;
}

static void test_echo(void) {
  static unsigned char in[200000], want[200000], got[200000];
  unsigned char *big = malloc(70000);
  size_t n = 0, wn = 0;
  struct wschat w;
  for (size_t i = 0; i < 70000; i++) big[i] = (unsigned char)(i * 7);
  n += client_frame(in + n, 0x81, "hello", 5, 1);
  n += client_frame(in + n, 0x82, big, 300, 1);
  n += client_frame(in + n, 0x82, big, 70000, 1);
  n += client_frame(in + n, 0x89, "ping!", 5, 1);
  n += client_frame(in + n, 0x01, "fr", 2, 1);
  n += client_frame(in + n, 0x8a, "", 0, 1); /* a pong: no answer */
  n += client_frame(in + n, 0x80, "ag", 2, 1);
  n += client_frame(in + n, 0x88,
                    "\x03\xe8"
                    "bye",
                    5, 1);
  n += client_frame(in + n, 0x81, "after the close", 15, 1); /* ignored */

  memcpy(want + wn, "\x81\x05hello", 7), wn += 7;
  memcpy(want + wn, "\x82\x7e\x01\x2c", 4), wn += 4;
  memcpy(want + wn, big, 300), wn += 300;
  memcpy(want + wn, "\x82\x7f\x00\x00\x00\x00\x00\x01\x11\x70", 10), wn += 10;
  memcpy(want + wn, big, 70000), wn += 70000;
  memcpy(want + wn, "\x8a\x05ping!", 7), wn += 7;
  memcpy(want + wn,
         "\x01\x02"
         "fr",
         4),
      wn += 4;
  memcpy(want + wn,
         "\x80\x02"
         "ag",
         4),
      wn += 4;
  memcpy(want + wn, "\x88\x02\x03\xe8", 4), wn += 4;

  size_t steps[] = {1, 3, 7, 1000, sizeof in};
  size_t caps[] = {WSCHAT_OUT_MIN, WSCHAT_OUT_MIN + 1, 4096, 100000};
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    for (size_t j = 0; j < sizeof caps / sizeof caps[0]; j++) {
      size_t gn = run(in, n, steps[i], caps[j], got, &w);
      CHECK_EQ_INT(gn, wn);
      CHECK(memcmp(got, want, wn) == 0);
      CHECK(w.done);
      CHECK_EQ_INT(w.close_code, 1000);
    }
  free(big);
}

static void expect_1002(const unsigned char *in, size_t n) {
  unsigned char got[512];
  struct wschat w;
  size_t gn = run(in, n, 1, 4096, got, &w);
  CHECK(w.done);
  CHECK_EQ_INT(w.close_code, 1002);
  /* The close is the last frame: whatever was echoed before it stays. */
  size_t at = 0;
  while (at + 2 <= gn && got[at] != 0x88) at += 2 + got[at + 1];
  CHECK(at + 4 <= gn && got[at] == 0x88 && got[at + 2] == 0x03 && got[at + 3] == 0xea);
  CHECK_EQ_INT(at + 2 + got[at + 1], gn);
}

static void test_errors(void) {
  unsigned char in[512];
  size_t n;
  expect_1002(in, client_frame(in, 0x81, "x", 1, 0));    /* unmasked */
  expect_1002(in, client_frame(in, 0xc1, "x", 1, 1));    /* RSV1 */
  expect_1002(in, client_frame(in, 0x83, "x", 1, 1));    /* reserved data opcode */
  expect_1002(in, client_frame(in, 0x8b, "x", 1, 1));    /* reserved control opcode */
  expect_1002(in, client_frame(in, 0x09, "x", 1, 1));    /* fragmented ping */
  expect_1002(in, client_frame(in, 0x80, "x", 1, 1));    /* continuation of nothing */
  expect_1002(in, client_frame(in, 0x88, "\x03", 1, 1)); /* a 1-byte close body */
  memset(in + 100, 'p', 126);
  expect_1002(in, client_frame(in, 0x89, in + 100, 126, 1)); /* a long ping */
  n = client_frame(in, 0x01, "a", 1, 1);
  n += client_frame(in + n, 0x81, "b", 1, 1); /* a new message inside a fragmented one */
  expect_1002(in, n);
  /* A 64-bit length with the top bit set. */
  unsigned char huge[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
  expect_1002(huge, sizeof huge);
  /* An empty close is answered with an empty close. */
  unsigned char got[16];
  struct wschat w;
  n = client_frame(in, 0x88, "", 0, 1);
  CHECK_EQ_INT(run(in, n, 1, 4096, got, &w), 2);
  CHECK(got[0] == 0x88 && got[1] == 0 && w.done);
}

int main(void) {
  test_sha1();
  test_accept();
  test_echo();
  test_errors();
  return check_done();
}
