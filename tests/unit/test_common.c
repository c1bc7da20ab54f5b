/* test_common.c -- the bottom layer's helpers: strict base64, SASL PLAIN
 * splitting, IPv4-mapped addresses and the two-pass formatter. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "check.h"
#include "sasl.h"
#include "text.h"

static int b64(const char *in, unsigned char *out, size_t cap, size_t *n) {
  return sasl_b64_decode(in, strlen(in), out, cap, n);
}

static void test_b64(void) {
  unsigned char out[16];
  size_t n = 99;

  CHECK_EQ_INT(b64("", out, sizeof out, &n), 0);
  CHECK_EQ_INT((int)n, 0);
  CHECK_EQ_INT(b64("YWJj", out, sizeof out, &n), 0);
  CHECK_EQ_INT((int)n, 3);
  CHECK(memcmp(out, "abc", 3) == 0);
  CHECK_EQ_INT(b64("YWI=", out, sizeof out, &n), 0);
  CHECK_EQ_INT((int)n, 2);
  CHECK_EQ_INT(b64("YQ==", out, sizeof out, &n), 0);
  CHECK_EQ_INT((int)n, 1);
  CHECK_EQ_INT(b64("AGFsaWNlAHB3", out, sizeof out, &n), 0); /* \0alice\0pw */
  CHECK_EQ_INT((int)n, 9);
  /* What a lenient decoder would guess at is refused. */
  CHECK_EQ_INT(b64("YWJ", out, sizeof out, &n), -1);      /* a partial quad */
  CHECK_EQ_INT(b64("YQ=a", out, sizeof out, &n), -1);     /* data after '=' */
  CHECK_EQ_INT(b64("Y===", out, sizeof out, &n), -1);     /* '=' too early */
  CHECK_EQ_INT(b64("YQ==YWJj", out, sizeof out, &n), -1); /* padding not at the end */
  CHECK_EQ_INT(b64("YW J", out, sizeof out, &n), -1);     /* a space */
  CHECK_EQ_INT(b64("YW*j", out, sizeof out, &n), -1);     /* outside the alphabet */
  /* The cap at its edge: 3 bytes fit in 3, not in 2. */
  CHECK_EQ_INT(b64("YWJj", out, 3, &n), 0);
  CHECK_EQ_INT(b64("YWJj", out, 2, &n), -1);
}

static void test_plain(void) {
  struct sasl_plain sp;
  static const unsigned char ok[] = "az\0alice\0pw";
  static const unsigned char empty_authz[] = "\0bob\0secret";

  CHECK_EQ_INT(sasl_plain_split(ok, sizeof ok - 1, &sp), 0);
  CHECK_EQ_INT((int)sp.authz_len, 2);
  CHECK(memcmp(sp.authz, "az", 2) == 0);
  CHECK_EQ_INT((int)sp.user_len, 5);
  CHECK(memcmp(sp.user, "alice", 5) == 0);
  CHECK_EQ_INT((int)sp.pass_len, 2);
  CHECK(memcmp(sp.pass, "pw", 2) == 0);
  CHECK_EQ_INT(sasl_plain_split(empty_authz, sizeof empty_authz - 1, &sp), 0);
  CHECK_EQ_INT((int)sp.authz_len, 0);
  CHECK_EQ_INT((int)sp.pass_len, 6);
  /* Exactly two NULs: one or three is refused. */
  CHECK_EQ_INT(sasl_plain_split((const unsigned char *)"alice\0pw", 8, &sp), -1);
  CHECK_EQ_INT(sasl_plain_split((const unsigned char *)"a\0b\0c\0d", 7, &sp), -1);
  CHECK_EQ_INT(sasl_plain_split((const unsigned char *)"", 0, &sp), -1);
}

static void test_addr(void) {
  unsigned char a[16];
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  int port = 0;

  CHECK_EQ_INT(addr_parse("127.0.0.2", a), AF_INET);
  CHECK(memcmp(a, "\x7f\0\0\x02", 4) == 0);
  CHECK_EQ_INT(addr_parse("::ffff:127.0.0.2", a), AF_INET);
  CHECK(memcmp(a, "\x7f\0\0\x02", 4) == 0);
  CHECK_EQ_INT(addr_parse("::1", a), AF_INET6);
  CHECK_EQ_INT(addr_parse("::127.0.0.2", a), AF_INET6); /* compat form is not mapped */
  CHECK_EQ_INT(addr_parse("localhost", a), -1);

  inet_pton(AF_INET6, "::1", a);
  CHECK_EQ_INT(addr_unmap_v4(a), 0);
  CHECK_EQ_INT(a[15], 1);

  memset(&a4, 0, sizeof a4);
  a4.sin_family = AF_INET;
  a4.sin_port = htons(2121);
  inet_pton(AF_INET, "127.0.0.3", &a4.sin_addr);
  CHECK_EQ_INT(addr_key((struct sockaddr *)&a4, a, &port), 0);
  CHECK_EQ_INT(port, 2121);
  CHECK(addr_is_v4mapped(a));
  CHECK_EQ_INT(a[15], 3);
  memset(&a6, 0, sizeof a6);
  a6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.3", &a6.sin6_addr);
  {
    unsigned char b[16];
    CHECK_EQ_INT(addr_key((struct sockaddr *)&a6, b, NULL), 0);
    CHECK(memcmp(a, b, 16) == 0); /* one spelling for one peer */
  }
  a4.sin_family = AF_UNIX;
  CHECK_EQ_INT(addr_key((struct sockaddr *)&a4, a, NULL), -1);
}

static char *fmt(char *small, size_t size, size_t *len, const char *f, ...) {
  va_list ap;
  char *r;
  va_start(ap, f);
  r = text_vformat(small, size, len, f, ap);
  va_end(ap);
  return r;
}

static void test_format(void) {
  char small[8], *r;
  size_t n = 0;

  r = fmt(small, sizeof small, &n, "%s-%d", "abc", 12); /* 6 chars: fits */
  CHECK(r == small);
  CHECK_EQ_STR(r, "abc-12");
  CHECK_EQ_INT((int)n, 6);
  r = fmt(small, sizeof small, &n, "%s", "1234567"); /* 7 + NUL: the edge, fits */
  CHECK(r == small);
  CHECK_EQ_INT((int)n, 7);
  r = fmt(small, sizeof small, &n, "%s-%d", "abcdef", 123); /* 10: a second pass */
  CHECK(r && r != small);
  CHECK_EQ_STR(r, "abcdef-123");
  CHECK_EQ_INT((int)n, 10);
  if (r != small) free(r);
}

static int json_nul(const char *text) {
  return text_json_has_nul(text, strlen(text));
}

static void test_json_nul(void) {
  static const char raw[] = "{\"a\":\"x\0y\"}";
  CHECK(!text_json_has_nul("", 0));
  CHECK(!json_nul("{\"a\":\"b\"}"));
  CHECK(json_nul("{\"a\":\"x\\u0000\"}"));
  CHECK(json_nul("{\"a\\u0000\":1}"));           /* in a key too */
  CHECK(text_json_has_nul(raw, sizeof raw - 1)); /* a raw NUL byte */
  /* An escaped backslash, then the text u0000: no NUL. */
  CHECK(!json_nul("{\"a\":\"\\\\u0000\"}"));
  CHECK(!json_nul("{\"a\":\"\\u0001\"}"));
  /* Cut short inside the escape: nothing to decode, so no NUL. */
  CHECK(!json_nul("\"\\u000"));
}

static void test_utf8_count(void) {
  CHECK_EQ_INT((int)text_utf8_count(""), 0);
  CHECK_EQ_INT((int)text_utf8_count("abc"), 3);
  CHECK_EQ_INT((int)text_utf8_count("caf\xc3\xa9"), 4);       /* é: 2 bytes */
  CHECK_EQ_INT((int)text_utf8_count("\xf0\x9f\x98\x80!"), 2); /* an emoji: 4 bytes */
  CHECK_EQ_INT((int)text_utf8_count("\x80\x80"), 0);          /* stray continuations */
}

static int u8len(const char *s) {
  return text_utf8_len((const unsigned char *)s, strlen(s));
}

/* The code point of the UTF-8 character at p if it is a format character,
 * else 0 (also for ASCII and broken UTF-8), as the exports decide it. */
static uint32_t format_cp(const unsigned char *p, size_t n) {
  int len = n && p[0] >= 0x80 ? text_utf8_len(p, n) : -1;
  uint32_t cp = len > 0 ? text_utf8_code_point(p, len) : 0;
  return text_unicode_format(cp) ? cp : 0;
}

static void test_utf8_len(void) {
  CHECK_EQ_INT(u8len("\xc3\xa9"), 2);                        /* é */
  CHECK_EQ_INT(u8len("\xe2\x82\xac"), 3);                    /* € */
  CHECK_EQ_INT(u8len("\xf0\x9f\x98\x80"), 4);                /* an emoji */
  CHECK_EQ_INT(u8len("\xc2\x9b"), 2);                        /* C1 is valid UTF-8 ... */
  CHECK(text_utf8_c1((const unsigned char *)"\xc2\x9b", 2)); /* ... and a C1 control */
  CHECK(text_utf8_c1((const unsigned char *)"\xc2\x80", 2));
  CHECK(!text_utf8_c1((const unsigned char *)"\xc2\xa0", 2)); /* U+00A0: not C1 */
  CHECK(!text_utf8_c1((const unsigned char *)"\xc2", 1));
  CHECK_EQ_INT(u8len("\xe2\x82"), 0);          /* cut off by the end */
  CHECK_EQ_INT(u8len("\x80"), -1);             /* a stray continuation */
  CHECK_EQ_INT(u8len("\xc1\xbf"), -1);         /* overlong */
  CHECK_EQ_INT(u8len("\xe0\x9f\xbf"), -1);     /* overlong */
  CHECK_EQ_INT(u8len("\xed\xa0\x80"), -1);     /* a surrogate */
  CHECK_EQ_INT(u8len("\xf4\x90\x80\x80"), -1); /* past U+10FFFF */
  CHECK_EQ_INT(u8len("\xf5\x80\x80\x80"), -1);

  /* Format characters (Cf) at the edges of their ranges, and neighbours
   * that are not: a space, a sign, an unassigned code point, a tag's
   * neighbour, ASCII, broken UTF-8. */
#define CF(s) format_cp((const unsigned char *)(s), sizeof(s) - 1)
  CHECK_EQ_INT((int)CF("\xc2\xad"), 0x00AD);          /* soft hyphen */
  CHECK_EQ_INT((int)CF("\xe2\x80\x8b"), 0x200B);      /* zero width space */
  CHECK_EQ_INT((int)CF("\xe2\x80\x8f"), 0x200F);      /* right-to-left mark */
  CHECK_EQ_INT((int)CF("\xe2\x80\xae"), 0x202E);      /* right-to-left override */
  CHECK_EQ_INT((int)CF("\xe2\x81\xaf"), 0x206F);      /* nominal digit shapes */
  CHECK_EQ_INT((int)CF("\xef\xbb\xbf"), 0xFEFF);      /* the BOM */
  CHECK_EQ_INT((int)CF("\xf3\xa0\x80\x81"), 0xE0001); /* language tag */
  CHECK_EQ_INT((int)CF("\xf3\xa0\x81\xbf"), 0xE007F); /* cancel tag */
  CHECK_EQ_INT((int)CF("\xc2\xac"), 0);               /* U+00AC NOT SIGN */
  CHECK_EQ_INT((int)CF("\xe2\x80\x8a"), 0);           /* U+200A HAIR SPACE */
  CHECK_EQ_INT((int)CF("\xe2\x81\xa5"), 0);           /* U+2065, unassigned */
  CHECK_EQ_INT((int)CF("\xf3\xa0\x80\x80"), 0);       /* U+E0000 */
  CHECK_EQ_INT((int)CF("\xf3\xa0\x82\x80"), 0);       /* U+E0080 */
  CHECK_EQ_INT((int)CF("a"), 0);
  CHECK_EQ_INT((int)CF("\xe2\x80"), 0);     /* cut off */
  CHECK_EQ_INT((int)CF("\xed\xa0\x80"), 0); /* a surrogate */
#undef CF
  CHECK_EQ_INT((int)text_utf8_code_point((const unsigned char *)"\xf0\x9f\x98\x80", 4), 0x1F600);
}

static void test_names(void) {
  CHECK(text_name_valid("a"));
  CHECK(text_name_valid("abcdefghijabcdefghijabcdefghij12"));   /* 32: allowed */
  CHECK(!text_name_valid("abcdefghijabcdefghijabcdefghij123")); /* 33: refused */
  CHECK(!text_name_valid("a b"));
  CHECK(text_name_reserved("anonymous"));
  CHECK(text_name_reserved("AnonyMous"));
  CHECK(text_name_reserved("FTP"));
  CHECK(text_name_reserved("postMASTER"));
  CHECK(!text_name_reserved("postmaster."));
  CHECK(!text_name_reserved("ftp1"));
  CHECK(!text_name_reserved("anon"));
  CHECK(!text_name_reserved(""));
  CHECK(!text_name_reserved(NULL));
}

static void test_printable(void) {
  CHECK(text_printable(""));
  CHECK(text_printable("alice ~!"));
  CHECK(!text_printable("a\tb"));
  CHECK(!text_printable("\x1b[2J"));
  CHECK(!text_printable("caf\xc3\xa9"));
}

int main(void) {
  test_b64();
  test_plain();
  test_addr();
  test_format();
  test_json_nul();
  test_utf8_count();
  test_utf8_len();
  test_names();
  test_printable();
  return check_done();
}
