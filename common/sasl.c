/* sasl.c -- strict base64 (RFC 4648 section 4) and SASL PLAIN (RFC 4616).
 *
 * One decoder for every lab server that reads AUTH answers: it refuses
 * what a lenient decoder would guess at (a partial quad, data after '=',
 * a character outside the alphabet), so a client's mistake shows as an
 * error in the transcript rather than as a login under a garbled name.
 */
#include "sasl.h"

#include <string.h>

static int sasl_b64_value(unsigned char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+') return 62;
  if (ch == '/') return 63;
  return -1;
}

int sasl_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen) {
  size_t i, o = 0;

  if (n % 4) return -1;
  for (i = 0; i < n; i += 4) {
    int v[4], k, pad = 0;
    for (k = 0; k < 4; k++) {
      if (in[i + k] == '=' && i + 4 == n && k >= 2) {
        v[k] = 0;
        pad++;
      } else if (pad || (v[k] = sasl_b64_value((unsigned char)in[i + k])) < 0) {
        return -1;
      }
    }
    if (o + 3 - (size_t)pad > cap) return -1;
    out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    if (pad < 2) out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
    if (pad < 1) out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
  }
  *outlen = o;
  return 0;
}

int sasl_plain_split(const unsigned char *p, size_t n, struct sasl_plain *out) {
  const unsigned char *z1 = memchr(p, '\0', n), *z2, *end = p + n;

  if (!z1) return -1;
  z2 = memchr(z1 + 1, '\0', (size_t)(end - z1 - 1));
  if (!z2 || memchr(z2 + 1, '\0', (size_t)(end - z2 - 1))) return -1;
  out->authz = p;
  out->authz_len = (size_t)(z1 - p);
  out->user = z1 + 1;
  out->user_len = (size_t)(z2 - z1 - 1);
  out->pass = z2 + 1;
  out->pass_len = (size_t)(end - z2 - 1);
  return 0;
}
