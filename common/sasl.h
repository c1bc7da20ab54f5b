/* sasl.h -- strict base64 and SASL PLAIN, as the SMTP and IMAP lab servers
 * read them (RFC 4648 section 4, RFC 4616). */
#ifndef PORTLAB_SASL_H
#define PORTLAB_SASL_H

#include <stddef.h>

/* Strict base64: whole quads, padding only at the very end, no spaces.
 * Writes at most cap bytes to out and sets *outlen. 0, or -1 on anything
 * else (including output that would not fit). */
int sasl_b64_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen);

/* The three parts of a PLAIN response "authzid NUL authcid NUL passwd",
 * pointing into the caller's bytes (not NUL-terminated). */
struct sasl_plain {
  const unsigned char *authz, *user, *pass;
  size_t authz_len, user_len, pass_len;
};
/* Splits n bytes at p. 0, or -1 unless there are exactly two NULs. */
int sasl_plain_split(const unsigned char *p, size_t n, struct sasl_plain *out);

#endif
