/* auth.c -- tokens, password hashes, cookie, Origin and Host checks.
 *
 * Everything here is a pure function over strings so it is unit tested
 * without a server. Randomness, hashing and HMAC are common/crypto.c's;
 * PBKDF2 comes from OpenSSL's libcrypto. Header parsing is written to
 * refuse anything it does not fully understand: a session cookie is exactly
 * 32 lower-case hex characters, and a Host header is either an IP literal,
 * localhost, or the host of a configured public origin, which is what stops
 * DNS rebinding from reaching the portal under a foreign name.
 */
#include "auth.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "portlab_limits.h"

/* OWASP's 2023 floor for PBKDF2-HMAC-SHA256 is 600000, but the teacher
 * password is checked on a single event loop; 120000 keeps a login under
 * a tenth of a second while staying well above the historic 10000. */
#define AUTH_PBKDF2_ITER 120000
#define AUTH_SALT_BYTES 16
#define AUTH_HASH_BYTES 32
#define AUTH_PBKDF2_PREFIX "pbkdf2-sha256$"
/* A stored hash with an absurd iteration count would stall the loop. */
#define AUTH_PBKDF2_MAX_ITER 10000000L
#define AUTH_SALT_MAX_BYTES 64

int auth_token(char out[AUTH_TOKEN_HEX + 1]) {
  unsigned char raw[AUTH_TOKEN_HEX / 2];
  if (crypto_random(raw, sizeof raw) < 0) {
    out[0] = '\0';
    return -1;
  }
  crypto_hex(raw, sizeof raw, out);
  OPENSSL_cleanse(raw, sizeof raw);
  return 0;
}

static int auth_pbkdf2(const char *password, const unsigned char *salt, size_t saltlen, long iter,
                       unsigned char out[AUTH_HASH_BYTES]) {
  return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, (int)iter,
                           EVP_sha256(), AUTH_HASH_BYTES, out) == 1
             ? 0
             : -1;
}

int auth_password_hash(const char *password, char *out, size_t outlen) {
  unsigned char salt[AUTH_SALT_BYTES], hash[AUTH_HASH_BYTES];
  char salthex[2 * AUTH_SALT_BYTES + 1], hashhex[2 * AUTH_HASH_BYTES + 1];
  int n;

  if (!password || !out || outlen == 0) return -1;
  out[0] = '\0';
  if (crypto_random(salt, sizeof salt) < 0) goto fail;
  if (auth_pbkdf2(password, salt, sizeof salt, AUTH_PBKDF2_ITER, hash) < 0) goto fail;
  crypto_hex(salt, sizeof salt, salthex);
  crypto_hex(hash, sizeof hash, hashhex);
  n = snprintf(out, outlen, AUTH_PBKDF2_PREFIX "%d$%s$%s", AUTH_PBKDF2_ITER, salthex, hashhex);
  if (n < 0 || (size_t)n >= outlen) goto fail;
  OPENSSL_cleanse(hash, sizeof hash);
  return 0;

fail:
  OPENSSL_cleanse(hash, sizeof hash);
  out[0] = '\0';
  return -1;
}

int auth_password_verify(const char *password, const char *stored) {
  unsigned char salt[AUTH_SALT_MAX_BYTES], want[AUTH_HASH_BYTES], got[AUTH_HASH_BYTES];
  const char *p, *salt_s, *hash_s, *d;
  long iter = 0;
  size_t saltlen;
  int ok;

  if (!password || !stored) return 0;
  if (strncmp(stored, AUTH_PBKDF2_PREFIX, strlen(AUTH_PBKDF2_PREFIX)) != 0) return 0;
  p = stored + strlen(AUTH_PBKDF2_PREFIX);

  /* Iterations: digits only, no sign, no leading zero, bounded. */
  if (*p < '1' || *p > '9') return 0;
  for (; *p >= '0' && *p <= '9'; p++) {
    iter = iter * 10 + (*p - '0');
    if (iter > AUTH_PBKDF2_MAX_ITER) return 0;
  }
  if (*p++ != '$') return 0;

  salt_s = p;
  d = strchr(salt_s, '$');
  if (!d) return 0;
  saltlen = (size_t)(d - salt_s);
  if (saltlen == 0 || saltlen > 2 * AUTH_SALT_MAX_BYTES) return 0;
  if (crypto_unhex(salt_s, saltlen, salt) < 0) return 0;
  saltlen /= 2;

  hash_s = d + 1;
  if (strlen(hash_s) != 2 * AUTH_HASH_BYTES) return 0;
  if (crypto_unhex(hash_s, 2 * AUTH_HASH_BYTES, want) < 0) return 0;

  if (auth_pbkdf2(password, salt, saltlen, iter, got) < 0) return 0;
  ok = CRYPTO_memcmp(got, want, AUTH_HASH_BYTES) == 0;
  OPENSSL_cleanse(got, sizeof got);
  return ok;
}

static int auth_is_space(char c) {
  return c == ' ' || c == '\t';
}

int auth_cookie_token(const char *cookie_header, char out[AUTH_TOKEN_HEX + 1]) {
  const size_t namelen = strlen(AUTH_COOKIE_NAME);
  const char *p = cookie_header;
  int seen = 0;

  out[0] = '\0';
  if (!p) return -1;
  while (*p) {
    const char *name, *name_end, *val, *val_end, *end;
    size_t i;
    int good;

    while (auth_is_space(*p) || *p == ';') p++;
    if (!*p) break;
    end = strchr(p, ';');
    if (!end) end = p + strlen(p);

    name = p;
    name_end = memchr(p, '=', (size_t)(end - p));
    p = end;
    if (!name_end) continue; /* a pair without '=' names nothing */
    val = name_end + 1;
    while (name_end > name && auth_is_space(name_end[-1])) name_end--;
    /* The whole name must match: xportlab_session or portlab_session2 are
     * other cookies, possibly planted by a sibling site. */
    if ((size_t)(name_end - name) != namelen || memcmp(name, AUTH_COOKIE_NAME, namelen) != 0)
      continue;
    while (val < end && auth_is_space(*val)) val++;
    val_end = end;
    while (val_end > val && auth_is_space(val_end[-1])) val_end--;
    if ((size_t)(val_end - val) != AUTH_TOKEN_HEX) continue;
    good = 1;
    for (i = 0; i < AUTH_TOKEN_HEX; i++)
      if (crypto_hexval(val[i]) < 0) good = 0;
    if (!good) continue;
    /* portlab sets one, host-only with Path=/, so a browser holds one; a
     * second token comes from a sibling site's Domain or Path cookie, sent
     * first to log the victim into the planter's account (and credit the
     * victim's work to it). Neither is trusted. */
    if (seen++) {
      out[0] = '\0';
      return -2;
    }
    memcpy(out, val, AUTH_TOKEN_HEX);
    out[AUTH_TOKEN_HEX] = '\0';
  }
  return out[0] ? 0 : -1;
}

/* Splits "host[:port]" or "[v6][:port]" into the host part (brackets
 * removed for v6, flagged in is_v6). Refuses empty hosts, empty or
 * non-numeric ports, ports above 65535, unbracketed colons and anything
 * longer than a DNS name. 0 or -1. */
static int auth_split_hostport(const char *s, size_t n, char *host, size_t hostlen, int *is_v6) {
  const char *h, *h_end, *rest;
  size_t i, hl;

  *is_v6 = 0;
  if (n == 0) return -1;
  if (s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close) return -1;
    h = s + 1;
    h_end = close;
    rest = close + 1;
    *is_v6 = 1;
  } else {
    const char *colon = memchr(s, ':', n);
    h = s;
    h_end = colon ? colon : s + n;
    rest = h_end;
  }
  if (rest < s + n) {
    size_t pl;
    long port = 0;
    if (*rest != ':') return -1;
    rest++;
    pl = (size_t)(s + n - rest);
    if (pl == 0 || pl > 5) return -1;
    for (i = 0; i < pl; i++) {
      if (rest[i] < '0' || rest[i] > '9') return -1;
      port = port * 10 + (rest[i] - '0');
    }
    if (port > 65535) return -1;
  }
  hl = (size_t)(h_end - h);
  if (hl == 0 || hl >= hostlen || hl > LIM_HOSTNAME_LEN) return -1;
  memcpy(host, h, hl);
  host[hl] = '\0';
  return 0;
}

/* The host part of "scheme://host[:port][/]", in host. 0 or -1. */
static int auth_origin_host(const char *origin, char *host, size_t hostlen, int *is_v6) {
  const char *p = strstr(origin, "://"), *end;
  size_t n;
  if (!p || p == origin) return -1;
  p += 3;
  end = strchr(p, '/');
  n = end ? (size_t)(end - p) : strlen(p);
  /* Only one trailing slash is tolerated: a path is not an origin. */
  if (end && end[1] != '\0') return -1;
  return auth_split_hostport(p, n, host, hostlen, is_v6);
}

int auth_host_ok(const char *host_header, const char *const *public_origins, size_t n) {
  char host[LIM_HOSTNAME_LEN + 1], ohost[LIM_HOSTNAME_LEN + 1];
  unsigned char addr[16];
  int is_v6, o_v6;
  size_t i;

  if (!host_header) return 0;
  if (auth_split_hostport(host_header, strlen(host_header), host, sizeof host, &is_v6) < 0)
    return 0;
  if (is_v6) return inet_pton(AF_INET6, host, addr) == 1;
  if (inet_pton(AF_INET, host, addr) == 1) return 1;
  if (strcasecmp(host, "localhost") == 0) return 1;
  for (i = 0; i < n; i++) {
    if (!public_origins[i]) continue;
    if (auth_origin_host(public_origins[i], ohost, sizeof ohost, &o_v6) < 0) continue;
    if (!o_v6 && strcasecmp(host, ohost) == 0) return 1;
  }
  return 0;
}

/* Case-insensitive equality ignoring one trailing slash on either side;
 * scheme, host and port are all case-insensitive in an origin. */
static int auth_origin_eq(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la && a[la - 1] == '/') la--;
  if (lb && b[lb - 1] == '/') lb--;
  return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

int auth_origin_ok(const char *origin, const char *host_header, const char *const *public_origins,
                   size_t n) {
  size_t i;
  /* An accepted Host is at most a bracketed name and a port. */
  char same[sizeof "https://[]:65535" + LIM_HOSTNAME_LEN];

  if (!origin || !*origin) return 0;
  for (i = 0; i < n; i++)
    if (public_origins[i] && auth_origin_eq(origin, public_origins[i])) return 1;

  if (!host_header || !auth_host_ok(host_header, public_origins, n)) return 0;
  if (strlen(host_header) + sizeof "https://" > sizeof same) return 0;
  snprintf(same, sizeof same, "http://%s", host_header);
  if (strcasecmp(origin, same) == 0) return 1;
  snprintf(same, sizeof same, "https://%s", host_header);
  if (strcasecmp(origin, same) == 0) return 1;
  return 0;
}

void auth_set_cookie(char *out, size_t outlen, const char *token, long max_age, int secure) {
  if (!out || outlen == 0) return;
  if (max_age < 0) max_age = 0;
  snprintf(out, outlen, AUTH_COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%ld%s",
           token && max_age > 0 ? token : "", max_age, secure ? "; Secure" : "");
}

int auth_content_type_json(const char *content_type) {
  static const char json[] = "application/json";
  const char *p = content_type;
  if (!p) return 0;
  while (auth_is_space(*p)) p++;
  if (strncasecmp(p, json, sizeof json - 1) != 0) return 0;
  p += sizeof json - 1;
  while (auth_is_space(*p)) p++;
  return *p == '\0' || *p == ';';
}

int auth_origin_https_public(const char *origin, const char *const *public_origins, size_t n) {
  if (!origin || strncasecmp(origin, "https://", 8) != 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (public_origins[i] && auth_origin_eq(origin, public_origins[i])) return 1;
  return 0;
}

void auth_printable(const char *in, char *out, size_t outlen) {
  size_t i = 0;
  if (!out || outlen == 0) return;
  for (; in && *in && i + 1 < outlen; in++)
    out[i++] = (unsigned char)*in >= 0x20 && (unsigned char)*in < 0x7f ? *in : '?';
  out[i] = '\0';
}
