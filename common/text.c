/* text.c -- the name rule, the printable test and a two-pass vsnprintf.
 *
 * A lab reply or an IMAP section spec is usually short but may be long;
 * cutting it would drop its CRLF or closing bracket, so the long case is
 * formatted again into a block of the size the first pass measured.
 */
#include "text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

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

int text_printable(const char *s) {
  for (; *s; s++)
    if (!isprint((unsigned char)*s)) return 0;
  return 1;
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
