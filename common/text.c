/* text.c -- the name rule and the reserved names, the printable test,
 * counting and checking UTF-8, the NUL scan of JSON text and a two-pass
 * vsnprintf.
 *
 * A lab reply or an IMAP section spec is usually short but may be long;
 * cutting it would drop its CRLF or closing bracket, so the long case is
 * formatted again into a block of the size the first pass measured.
 */
#include "text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "portlab_limits.h"

int text_name_valid(const char *name) {
  size_t i;
  if (!name) return 0;
  for (i = 0; name[i]; i++) {
    char c = name[i];
    if (i >= LIM_NAME_LEN) return 0;
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return 0;
  }
  return i >= 1;
}

int text_name_reserved(const char *name) {
  /* ftp.c's ftp_is_anonymous_name and smtp.c's smtp_is_postmaster: the
   * special meaning wins over an account of that name there. */
  static const char *const reserved[] = {"anonymous", "ftp", "postmaster"};
  for (size_t i = 0; name && i < sizeof reserved / sizeof reserved[0]; i++)
    if (strcasecmp(name, reserved[i]) == 0) return 1;
  return 0;
}

int text_printable(const char *s) {
  for (; *s; s++)
    if (!isprint((unsigned char)*s)) return 0;
  return 1;
}

size_t text_utf8_count(const char *s) {
  size_t n = 0;
  for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
  return n;
}

int text_utf8_len(const unsigned char *p, size_t n) {
  unsigned b0 = p[0], lo = 0x80, hi = 0xBF;
  int len;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  for (int k = 1; k < len; k++) {
    if ((size_t)k >= n) return 0;
    unsigned b = p[k];
    if (k == 1 ? b < lo || b > hi : b < 0x80 || b > 0xBF) return -1;
  }
  return len;
}

int text_utf8_c1(const unsigned char *p, size_t n) {
  return n >= 2 && p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;
}

uint32_t text_utf8_code_point(const unsigned char *p, int len) {
  uint32_t cp = p[0] & (0x7F >> len);
  for (int k = 1; k < len; k++) cp = cp << 6 | (p[k] & 0x3F);
  return cp;
}

int text_unicode_format(uint32_t cp) {
  /* Unicode 15's General_Category=Cf. */
  static const struct {
    uint32_t lo, hi;
  } cf[] = {{0x00AD, 0x00AD},   {0x0600, 0x0605},   {0x061C, 0x061C},   {0x06DD, 0x06DD},
            {0x070F, 0x070F},   {0x0890, 0x0891},   {0x08E2, 0x08E2},   {0x180E, 0x180E},
            {0x200B, 0x200F},   {0x202A, 0x202E},   {0x2060, 0x2064},   {0x2066, 0x206F},
            {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD},
            {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001},
            {0xE0020, 0xE007F}};
  for (size_t i = 0; i < sizeof cf / sizeof cf[0]; i++)
    if (cp >= cf[i].lo && cp <= cf[i].hi) return 1;
  return 0;
}

int text_json_has_nul(const char *text, size_t len) {
  int in_string = 0;
  if (!len) return 0;
  if (memchr(text, '\0', len)) return 1;
  for (size_t i = 0; i < len; i++) {
    if (!in_string) {
      if (text[i] == '"') in_string = 1;
      continue;
    }
    if (text[i] == '"') {
      in_string = 0;
    } else if (text[i] == '\\' && i + 1 < len) {
      i++;
      if (text[i] == 'u' && i + 4 < len && memcmp(text + i + 1, "0000", 4) == 0) return 1;
    }
  }
  return 0;
}

char *text_vformat(char *small, size_t size, size_t *len, const char *fmt, va_list ap) {
  va_list again;
  char *big;
  int n;

  va_copy(again, ap);
  n = vsnprintf(small, size, fmt, ap);
  if (n < 0) goto fail;
  *len = (size_t)n;
  if ((size_t)n < size) {
    va_end(again);
    return small;
  }
  big = malloc((size_t)n + 1);
  if (!big) goto fail;
  vsnprintf(big, (size_t)n + 1, fmt, again);
  va_end(again);
  return big;

fail:
  va_end(again);
  *len = 0;
  return NULL;
}
