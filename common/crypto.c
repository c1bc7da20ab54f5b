/* crypto.c -- randomness, hashing and constant-time comparison.
 *
 * Randomness comes only from getrandom(2); hashing and HMAC from OpenSSL's
 * libcrypto. Nothing here knows about logins or requests: that is
 * server/auth.c, which builds tokens and password hashes on these.
 */
#include "crypto.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>

static const char crypto_hexdigits[] = "0123456789abcdef";

void crypto_hex(const unsigned char *p, size_t n, char *out) {
  size_t i;
  for (i = 0; i < n; i++) {
    out[2 * i] = crypto_hexdigits[p[i] >> 4];
    out[2 * i + 1] = crypto_hexdigits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

int crypto_hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int crypto_unhex(const char *s, size_t n, unsigned char *out) {
  size_t i;
  if (n % 2) return -1;
  for (i = 0; i < n; i += 2) {
    int hi = crypto_hexval(s[i]), lo = crypto_hexval(s[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i / 2] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}

int crypto_random(void *out, size_t len) {
  unsigned char *p = out;
  while (len > 0) {
    /* getrandom may return fewer bytes than asked for requests over 256
     * bytes or when interrupted by a signal; both are retried. */
    ssize_t r = getrandom(p, len, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

/* Lab passwords are read off a screen and typed by students, so the
 * alphabet leaves out the look-alikes 0/O, 1/l and I. */
static const char crypto_word_alphabet[] =
    "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

int crypto_random_word(char *out, size_t n) {
  const size_t nalpha = sizeof crypto_word_alphabet - 1;
  /* Bytes at or above this are rejected so every letter is equally likely. */
  const unsigned bound = (unsigned)(256 / nalpha * nalpha);
  size_t i = 0;
  unsigned char pool[64];
  size_t pi = sizeof pool;

  while (i < n) {
    if (pi == sizeof pool) {
      if (crypto_random(pool, sizeof pool) < 0) goto fail;
      pi = 0;
    }
    if (pool[pi] < bound) out[i++] = crypto_word_alphabet[pool[pi] % nalpha];
    pi++;
  }
  out[n] = '\0';
  OPENSSL_cleanse(pool, sizeof pool);
  return 0;

fail:
  out[0] = '\0';
  return -1;
}

void crypto_sha256(const void *p, size_t n, unsigned char out[32]) {
  if (EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) != 1) memset(out, 0, 32);
}

void crypto_hmac_hex(const char *key, const char *msg, char out[65]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), md,
            &mdlen) ||
      mdlen != 32) {
    /* An all-zero answer would compare equal to another failure; a string
     * that is not hex never equals a real HMAC. */
    memset(out, 'x', 64);
    out[64] = '\0';
    return;
  }
  crypto_hex(md, 32, out);
}

int crypto_ct_equal(const void *a, const void *b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

int crypto_ct_streq(const char *a, const char *b) {
  size_t la, lb;
  if (!a || !b) return 0;
  la = strlen(a);
  lb = strlen(b);
  if (la != lb) return 0;
  return CRYPTO_memcmp(a, b, la) == 0;
}

void crypto_cleanse(void *p, size_t n) {
  OPENSSL_cleanse(p, n);
}
