/* test_auth.c -- unit tests for tokens, password hashes and header checks.
 *
 * The header checks are the portal's defence against cookie confusion and
 * DNS rebinding, so each accepted and refused shape is spelled out here,
 * including the near misses (a cookie whose name only ends in
 * portlab_session, a Host that is a foreign name with our port).
 */
#include <string.h>

#include "auth.h"
#include "check.h"
#include "text.h"

static int is_lower_hex(const char *s, size_t n) {
  size_t i;
  if (strlen(s) != n) return 0;
  for (i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
  return 1;
}

static void test_random_and_tokens(void) {
  char a[AUTH_TOKEN_HEX + 1], b[AUTH_TOKEN_HEX + 1];
  unsigned char big[1000], zero[1000];
  char word[41];
  size_t i;
  int bad = 0;

  CHECK_EQ_INT(auth_token(a), 0);
  CHECK_EQ_INT(auth_token(b), 0);
  CHECK(is_lower_hex(a, AUTH_TOKEN_HEX));
  CHECK(is_lower_hex(b, AUTH_TOKEN_HEX));
  CHECK(strcmp(a, b) != 0);

  /* More than getrandom's 256-byte atomic size: short reads are looped. */
  memset(big, 0, sizeof big);
  memset(zero, 0, sizeof zero);
  CHECK_EQ_INT(crypto_random(big, sizeof big), 0);
  CHECK(memcmp(big, zero, sizeof big) != 0);
  CHECK(memcmp(big + 900, zero, 100) != 0);
  CHECK_EQ_INT(crypto_random(big, 0), 0);

  CHECK_EQ_INT(crypto_random_word(word, 40), 0);
  CHECK_EQ_INT(strlen(word), 40);
  for (i = 0; i < 40; i++)
    if (strchr("0O1lI", word[i]) ||
        !((word[i] >= 'a' && word[i] <= 'z') || (word[i] >= 'A' && word[i] <= 'Z') ||
          (word[i] >= '0' && word[i] <= '9')))
      bad = 1;
  CHECK(!bad);
  CHECK_EQ_INT(crypto_random_word(word, 0), 0);
  CHECK_EQ_STR(word, "");
}

static void test_sha_hmac(void) {
  unsigned char d[32];
  char hex[65];
  /* FIPS 180-2 test vector "abc". */
  static const unsigned char abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                        0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                        0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  crypto_sha256("abc", 3, d);
  CHECK(memcmp(d, abc, 32) == 0);
  /* RFC 4231 test case 2. */
  crypto_hmac_hex("Jefe", "what do ya want for nothing?", hex);
  CHECK_EQ_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_ct(void) {
  CHECK(crypto_ct_equal("abcd", "abcd", 4));
  CHECK(!crypto_ct_equal("abcd", "abce", 4));
  CHECK(crypto_ct_equal("x", "y", 0));
  CHECK(crypto_ct_streq("secret", "secret"));
  CHECK(!crypto_ct_streq("secret", "secreT"));
  CHECK(!crypto_ct_streq("secret", "secret2"));
  CHECK(!crypto_ct_streq("", "a"));
  CHECK(crypto_ct_streq("", ""));
  CHECK(!crypto_ct_streq(NULL, ""));
}

static void test_password(void) {
  char h1[200], h2[200], tampered[200], tiny[20];
  CHECK_EQ_INT(auth_password_hash("correct horse", h1, sizeof h1), 0);
  CHECK_EQ_INT(auth_password_hash("correct horse", h2, sizeof h2), 0);
  CHECK(strncmp(h1, "pbkdf2-sha256$120000$", 21) == 0);
  CHECK(strcmp(h1, h2) != 0); /* random salt */
  CHECK_EQ_INT(strlen(h1), 21 + 32 + 1 + 64);
  CHECK_EQ_INT(auth_password_verify("correct horse", h1), 1);
  CHECK_EQ_INT(auth_password_verify("correct horse", h2), 1);
  CHECK_EQ_INT(auth_password_verify("correct horsE", h1), 0);
  CHECK_EQ_INT(auth_password_verify("", h1), 0);
  CHECK_EQ_INT(auth_password_hash("x", tiny, sizeof tiny), -1);
  CHECK_EQ_STR(tiny, "");

  /* One flipped hash digit. */
  strcpy(tampered, h1);
  tampered[strlen(tampered) - 1] = tampered[strlen(tampered) - 1] == '0' ? '1' : '0';
  CHECK_EQ_INT(auth_password_verify("correct horse", tampered), 0);

  /* Malformed stored values are a plain no, never a crash. */
  CHECK_EQ_INT(auth_password_verify("a", ""), 0);
  CHECK_EQ_INT(auth_password_verify("a", "plain"), 0);
  CHECK_EQ_INT(auth_password_verify("a", "pbkdf2-sha256$"), 0);
  CHECK_EQ_INT(auth_password_verify("a", "pbkdf2-sha256$0$00$" /* zero iterations */), 0);
  CHECK_EQ_INT(auth_password_verify("a", "pbkdf2-sha256$-5$00$00"), 0);
  CHECK_EQ_INT(auth_password_verify("a", "pbkdf2-sha256$99999999999$00$00"), 0);
  CHECK_EQ_INT(auth_password_verify("a", "pbkdf2-sha256$1000$$"), 0);
  CHECK_EQ_INT(
      auth_password_verify("a",
                           "pbkdf2-sha256$1000$0g$"
                           "0000000000000000000000000000000000000000000000000000000000000000"),
      0);
  CHECK_EQ_INT(
      auth_password_verify("a",
                           "pbkdf2-sha256$1000$abc$"
                           "0000000000000000000000000000000000000000000000000000000000000000"),
      0);
  CHECK_EQ_INT(auth_password_verify("a", "pbkdf2-sha256$1000$00$00"), 0);
  CHECK_EQ_INT(
      auth_password_verify("a",
                           "pbkdf2-sha256$1000$00$"
                           "000000000000000000000000000000000000000000000000000000000000000X"),
      0);
  CHECK_EQ_INT(auth_password_verify("a", "pbkdf2-sha1$1000$00$00"), 0);
  CHECK_EQ_INT(auth_password_verify(NULL, h1), 0);
  CHECK_EQ_INT(auth_password_verify("a", NULL), 0);
}

static void test_cookie(void) {
  char out[AUTH_TOKEN_HEX + 1], sc[200];
  const char *tok = "0123456789abcdef0123456789abcdef";

  CHECK_EQ_INT(auth_cookie_token("portlab_session=0123456789abcdef0123456789abcdef", out), 0);
  CHECK_EQ_STR(out, tok);
  CHECK_EQ_INT(auth_cookie_token("a=b; portlab_session=0123456789abcdef0123456789abcdef; c=d", out),
               0);
  CHECK_EQ_STR(out, tok);
  CHECK_EQ_INT(auth_cookie_token("a=b;portlab_session=0123456789abcdef0123456789abcdef", out), 0);
  CHECK_EQ_INT(auth_cookie_token("  portlab_session = 0123456789abcdef0123456789abcdef  ;x=1", out),
               0);
  CHECK_EQ_STR(out, tok);
  /* Only a name that merely ends in portlab_session: not ours. */
  CHECK_EQ_INT(auth_cookie_token("xportlab_session=0123456789abcdef0123456789abcdef", out), -1);
  CHECK_EQ_INT(auth_cookie_token("portlab_session2=0123456789abcdef0123456789abcdef", out), -1);
  CHECK_EQ_INT(auth_cookie_token("xportlab_session=ffffffffffffffffffffffffffffffff; "
                                 "portlab_session=0123456789abcdef0123456789abcdef",
                                 out),
               0);
  CHECK_EQ_STR(out, tok);
  /* Values that are not exactly 32 lower-case hex chars. */
  CHECK_EQ_INT(auth_cookie_token("portlab_session=0123456789ABCDEF0123456789abcdef", out), -1);
  CHECK_EQ_INT(auth_cookie_token("portlab_session=0123456789abcdef0123456789abcde", out), -1);
  CHECK_EQ_INT(auth_cookie_token("portlab_session=0123456789abcdef0123456789abcdef0", out), -1);
  CHECK_EQ_INT(auth_cookie_token("portlab_session=0123456789abcdef0123456789abcdeg", out), -1);
  CHECK_EQ_INT(auth_cookie_token("portlab_session=\"0123456789abcdef0123456789abcdef\"", out), -1);
  /* Two of the name: one was planted by a sibling site (a Domain or Path
   * cookie, sent first), and neither counts, valid or not. */
  CHECK_EQ_INT(auth_cookie_token("portlab_session=ffffffffffffffffffffffffffffffff; "
                                 "portlab_session=0123456789abcdef0123456789abcdef",
                                 out),
               -2);
  CHECK_EQ_STR(out, "");
  CHECK_EQ_INT(auth_cookie_token("portlab_session=0123456789abcdef0123456789abcdef; a=b; "
                                 "portlab_session=0123456789abcdef0123456789abcdef",
                                 out),
               -2);
  CHECK_EQ_STR(out, "");
  CHECK_EQ_INT(auth_cookie_token("portlab_session=", out), -1);
  CHECK_EQ_INT(auth_cookie_token("portlab_session", out), -1);
  CHECK_EQ_INT(auth_cookie_token("", out), -1);
  CHECK_EQ_INT(auth_cookie_token(";;; ;", out), -1);
  CHECK_EQ_INT(auth_cookie_token(NULL, out), -1);
  /* A bad duplicate does not hide a good one. */
  CHECK_EQ_INT(auth_cookie_token(
                   "portlab_session=bad; portlab_session=0123456789abcdef0123456789abcdef", out),
               0);
  CHECK_EQ_STR(out, tok);

  auth_set_cookie(sc, sizeof sc, tok, 604800, 0);
  CHECK_EQ_STR(sc,
               "portlab_session=0123456789abcdef0123456789abcdef; Path=/; HttpOnly; "
               "SameSite=Strict; Max-Age=604800");
  auth_set_cookie(sc, sizeof sc, tok, 604800, 1);
  CHECK_EQ_STR(sc,
               "portlab_session=0123456789abcdef0123456789abcdef; Path=/; HttpOnly; "
               "SameSite=Strict; Max-Age=604800; Secure");
  auth_set_cookie(sc, sizeof sc, tok, 0, 0);
  CHECK_EQ_STR(sc, "portlab_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
  auth_set_cookie(sc, sizeof sc, NULL, 0, 0);
  CHECK_EQ_STR(sc, "portlab_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
}

static void test_content_type(void) {
  CHECK(auth_content_type_json("application/json"));
  CHECK(auth_content_type_json("Application/JSON"));
  CHECK(auth_content_type_json("application/json; charset=utf-8"));
  CHECK(auth_content_type_json("application/json;charset=UTF-8"));
  CHECK(auth_content_type_json(" application/json "));
  CHECK(!auth_content_type_json("application/jsonx"));
  CHECK(!auth_content_type_json("application/json-patch+json"));
  CHECK(!auth_content_type_json("application/json x"));
  CHECK(!auth_content_type_json("application/jso"));
  CHECK(!auth_content_type_json("text/plain"));
  CHECK(!auth_content_type_json(""));
  CHECK(!auth_content_type_json(NULL));
}

static void test_secure_origin(void) {
  const char *both[] = {"http://lab.example", "https://lab.school.example"};
  CHECK(auth_origin_https_public("https://lab.school.example", both, 2));
  CHECK(auth_origin_https_public("HTTPS://LAB.school.example/", both, 2));
  CHECK(!auth_origin_https_public("http://lab.example", both, 2));  /* not TLS */
  CHECK(!auth_origin_https_public("https://lab.example", both, 2)); /* not configured */
  CHECK(!auth_origin_https_public("https://127.0.0.1:8080", both, 2));
  CHECK(!auth_origin_https_public(NULL, both, 2));
  CHECK(!auth_origin_https_public("https://lab.school.example", NULL, 0));
}

static void test_name(void) {
  CHECK(text_name_valid("alice"));
  CHECK(text_name_valid("a"));
  CHECK(text_name_valid("A-b_c.9"));
  CHECK(text_name_valid("abcdefghijabcdefghijabcdefghij12"));   /* 32 */
  CHECK(!text_name_valid("abcdefghijabcdefghijabcdefghij123")); /* 33 */
  CHECK(!text_name_valid(""));
  CHECK(!text_name_valid(NULL));
  CHECK(!text_name_valid("al ice"));
  CHECK(!text_name_valid("alice\n"));
  CHECK(!text_name_valid("al/ice"));
  CHECK(!text_name_valid("\xc3\xa9"));
}

static void test_host(void) {
  const char *pub[] = {"https://lab.school.example", "http://Portal.Example:8443/"};
  CHECK(auth_host_ok("127.0.0.1", NULL, 0));
  CHECK(auth_host_ok("127.0.0.1:8080", NULL, 0));
  CHECK(auth_host_ok("192.0.2.4:80", NULL, 0));
  CHECK(auth_host_ok("[::1]", NULL, 0));
  CHECK(auth_host_ok("[::1]:8080", NULL, 0));
  CHECK(auth_host_ok("[2001:db8::1]:443", NULL, 0));
  CHECK(auth_host_ok("localhost", NULL, 0));
  CHECK(auth_host_ok("LocalHost:8080", NULL, 0));
  CHECK(auth_host_ok("lab.school.example", pub, 2));
  CHECK(auth_host_ok("LAB.school.example:443", pub, 2));
  CHECK(auth_host_ok("portal.example:8443", pub, 2));
  CHECK(auth_host_ok("portal.example", pub, 2));
  /* DNS rebinding: a foreign name pointing at us. */
  CHECK(!auth_host_ok("evil.example:8080", pub, 2));
  CHECK(!auth_host_ok("evil.example", NULL, 0));
  CHECK(!auth_host_ok("localhost.evil.example", NULL, 0));
  CHECK(!auth_host_ok("lab.school.example.evil.example", pub, 2));
  /* Garbage. */
  CHECK(!auth_host_ok("", NULL, 0));
  CHECK(!auth_host_ok(NULL, NULL, 0));
  CHECK(!auth_host_ok(":8080", NULL, 0));
  CHECK(!auth_host_ok("127.0.0.1:", NULL, 0));
  CHECK(!auth_host_ok("127.0.0.1:abc", NULL, 0));
  CHECK(!auth_host_ok("127.0.0.1:99999", NULL, 0));
  CHECK(!auth_host_ok("127.0.0.1:8080:1", NULL, 0));
  CHECK(!auth_host_ok("::1", NULL, 0)); /* v6 must be bracketed in Host */
  CHECK(!auth_host_ok("[::1", NULL, 0));
  CHECK(!auth_host_ok("[]", NULL, 0));
  CHECK(!auth_host_ok("[::1]x", NULL, 0));
  CHECK(!auth_host_ok("[127.0.0.1]", NULL, 0));
  CHECK(!auth_host_ok("[evil.example]", NULL, 0));
  CHECK(!auth_host_ok("127.1", NULL, 0));
  CHECK(!auth_host_ok("127.0.0.1 ", NULL, 0));
  CHECK(!auth_host_ok("localhost:8080/x", NULL, 0));
}

static void test_origin(void) {
  const char *pub[] = {"https://lab.school.example/", "http://portal.example:8443"};
  /* Public origins, case-insensitive, one trailing slash ignored. */
  CHECK(auth_origin_ok("https://lab.school.example", "evil.example", pub, 2));
  CHECK(auth_origin_ok("HTTPS://Lab.School.Example", NULL, pub, 2));
  CHECK(auth_origin_ok("http://portal.example:8443", NULL, pub, 2));
  CHECK(!auth_origin_ok("http://portal.example", NULL, pub, 2));
  CHECK(!auth_origin_ok("http://lab.school.example", NULL, pub, 2)); /* other scheme */
  CHECK(!auth_origin_ok("https://lab.school.example.evil.example", NULL, pub, 2));
  /* Same origin with an acceptable Host. */
  CHECK(auth_origin_ok("http://127.0.0.1:8080", "127.0.0.1:8080", NULL, 0));
  CHECK(auth_origin_ok("https://127.0.0.1:8080", "127.0.0.1:8080", NULL, 0));
  CHECK(auth_origin_ok("http://localhost:8080", "localhost:8080", NULL, 0));
  CHECK(auth_origin_ok("http://[::1]:8080", "[::1]:8080", NULL, 0));
  CHECK(auth_origin_ok("https://lab.school.example:9000", "lab.school.example:9000", pub, 2));
  /* Same origin but the Host is a rebinding name. */
  CHECK(!auth_origin_ok("http://evil.example:8080", "evil.example:8080", NULL, 0));
  CHECK(!auth_origin_ok("http://evil.example:8080", "evil.example:8080", pub, 2));
  /* Foreign origin. */
  CHECK(!auth_origin_ok("http://evil.example", "127.0.0.1:8080", NULL, 0));
  CHECK(!auth_origin_ok("http://127.0.0.1:8081", "127.0.0.1:8080", NULL, 0));
  CHECK(!auth_origin_ok("null", "127.0.0.1:8080", NULL, 0));
  CHECK(!auth_origin_ok("", "127.0.0.1:8080", NULL, 0));
  CHECK(!auth_origin_ok(NULL, "127.0.0.1:8080", NULL, 0));
  CHECK(!auth_origin_ok("ftp://127.0.0.1:8080", "127.0.0.1:8080", NULL, 0));
  CHECK(!auth_origin_ok("http://127.0.0.1:8080", NULL, NULL, 0));
}

/* Header values go into log lines: no control byte may pass. */
static void test_printable(void) {
  char out[16];
  auth_printable("a\nb\rc\x1b[31md\x7f\xc3\xa9", out, sizeof out);
  CHECK_EQ_STR(out, "a?b?c?[31md???");
  auth_printable("0123456789abcdefghij", out, sizeof out);
  CHECK_EQ_STR(out, "0123456789abcde");
  auth_printable(NULL, out, sizeof out);
  CHECK_EQ_STR(out, "");
}

int main(void) {
  test_printable();
  test_random_and_tokens();
  test_sha_hmac();
  test_ct();
  test_password();
  test_cookie();
  test_content_type();
  test_secure_origin();
  test_name();
  test_host();
  test_origin();
  return check_done();
}
