/* auth.h -- tokens, password hashes, cookie, Origin and Host checks.
 *
 * Pure functions with no lws dependency so they are unit tested directly.
 */
#ifndef PORTLAB_AUTH_H
#define PORTLAB_AUTH_H

#include <stddef.h>

#include "crypto.h" /* randomness, hashes and constant-time compares */

#define AUTH_TOKEN_HEX 32 /* 128 bits as lower-case hex */
#define AUTH_COOKIE_NAME "portlab_session"

/* 128 random bits as AUTH_TOKEN_HEX hex chars + NUL. */
int auth_token(char out[AUTH_TOKEN_HEX + 1]);

/* PBKDF2-HMAC-SHA256 "pbkdf2-sha256$ITER$SALTHEX$HASHHEX". 0 or -1. */
int auth_password_hash(const char *password, char *out, size_t outlen);
/* 1 if password matches stored, else 0 (also for a malformed stored). */
int auth_password_verify(const char *password, const char *stored);

/* Finds portlab_session=VALUE in a Cookie header. Writes the value if it
 * is exactly AUTH_TOKEN_HEX hex chars; 0 found, -1 not, -2 when the
 * header holds two such values (one planted by a sibling site: neither
 * counts). */
int auth_cookie_token(const char *cookie_header, char out[AUTH_TOKEN_HEX + 1]);
/* Builds the Set-Cookie value: HttpOnly, SameSite=Strict, Path=/,
 * Max-Age, and Secure when secure. max_age 0 clears it. */
void auth_set_cookie(char *out, size_t outlen, const char *token, long max_age, int secure);
/* 1 if a Content-Type is application/json (any case), alone or followed
 * by parameters ("; charset=utf-8"); application/jsonx and the like are 0. */
int auth_content_type_json(const char *content_type);
/* 1 if origin is an https:// origin that equals one of public_origins:
 * the request came through the TLS front, so the cookie may be Secure. */
int auth_origin_https_public(const char *origin, const char *const *public_origins, size_t n);

/* Host header allow-list against DNS rebinding: accepted if its host part
 * is an IP literal (v4, or [v6]), "localhost", or the host of one of the
 * public origins. */
int auth_host_ok(const char *host_header, const char *const *public_origins, size_t n);
/* Origin check: accepted if it equals one of public_origins, or equals
 * "http://" + host_header or "https://" + host_header (same origin) when
 * the Host is acceptable. A missing Origin is handled by the caller. */
int auth_origin_ok(const char *origin, const char *host_header, const char *const *public_origins,
                   size_t n);

/* Copies in (NULL is "") into out for a log line: every byte that is not
 * printable ASCII becomes '?', so a header cannot forge or colour a line.
 * Truncates to outlen - 1. */
void auth_printable(const char *in, char *out, size_t outlen);

#endif
