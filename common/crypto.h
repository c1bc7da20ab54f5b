/* crypto.h -- randomness, hashing and constant-time comparison.
 *
 * The primitives every layer may need (a lab password, a per-student
 * flag's HMAC, a token compare); login tokens and password hashes are
 * server/auth.h's, built on these.
 */
#ifndef PORTLAB_CRYPTO_H
#define PORTLAB_CRYPTO_H

#include <stddef.h>

/* Fills out[0..len) from getrandom(2). 0 or -1. */
int crypto_random(void *out, size_t len);
/* n random chars from an unambiguous alphabet (no 0/O/1/l), + NUL. 0 or -1. */
int crypto_random_word(char *out, size_t n);
void crypto_sha256(const void *p, size_t n, unsigned char out[32]);
/* HMAC-SHA256 of msg under key, as 64 hex chars + NUL. */
void crypto_hmac_hex(const char *key, const char *msg, char out[65]);
/* Constant-time equality of n bytes. 1 if equal. */
int crypto_ct_equal(const void *a, const void *b, size_t n);
/* Constant-time string equality (length may leak). 1 if equal; NULL is
 * never equal. */
int crypto_ct_streq(const char *a, const char *b);
/* Zeroes n bytes in a way the compiler keeps. */
void crypto_cleanse(void *p, size_t n);

/* n bytes as 2n lower-case hex chars + NUL. */
void crypto_hex(const unsigned char *p, size_t n, char *out);
/* The value of one lower-case hex digit, or -1. */
int crypto_hexval(char c);
/* Exactly n lower-case hex chars into n/2 bytes. 0 or -1. */
int crypto_unhex(const char *s, size_t n, unsigned char *out);

#endif
