/* text.h -- small string helpers every layer shares: the name rule and
 * the reserved names, counting and checking UTF-8, the NUL scan of JSON
 * text and printf into a buffer that grows only when it must. */
#ifndef PORTLAB_TEXT_H
#define PORTLAB_TEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* 1 if name matches ^[A-Za-z0-9_.-]{1,LIM_NAME_LEN}$ (accounts, lab users). */
int text_name_valid(const char *name);

/* 1 if a lab server gives name a meaning of its own, in any case, so no
 * new student may take it: FTP's anonymous login ("anonymous", "ftp") and
 * SMTP's "postmaster". */
int text_name_reserved(const char *name);

/* 1 if every byte of s is printable ASCII (isprint in the C locale), so a
 * reply may quote what a peer sent without carrying control bytes. */
int text_printable(const char *s);

/* The characters in UTF-8 text s: its bytes but continuation bytes
 * (10xxxxxx), as SQLite's length() counts them. */
size_t text_utf8_count(const char *s);

/* Length in bytes of the UTF-8 sequence at p[0] (a byte >= 0x80, n > 0
 * bytes from p): > 0 valid, 0 cut off by the end, -1 invalid (stray,
 * overlong, a surrogate, past U+10FFFF). */
int text_utf8_len(const unsigned char *p, size_t n);
/* 1 if the n bytes at p start with a C1 control (U+0080 to U+009F, C2 80
 * to C2 9F): valid UTF-8 that a terminal would still act on. The text
 * export, the cast and broadcasts refuse or mark it; text_utf8_len and
 * this together are the page's bytes.js seqLen(). */
int text_utf8_c1(const unsigned char *p, size_t n);
/* The code point of the valid UTF-8 sequence of len bytes at p. */
uint32_t text_utf8_code_point(const unsigned char *p, int len);
/* 1 if cp is a Unicode format character (category Cf: bidi overrides
 * and isolates, zero-width spaces and joiners, the BOM, the soft hyphen,
 * tag characters). Invisible, they hide bytes or turn text around on
 * screen: the text export and the cast show each as a mark, as the page's
 * \p{Cf} does. */
int text_unicode_format(uint32_t cp);

/* 1 if JSON text holds a NUL: a raw byte, or the escape \u0000 inside a
 * string. cJSON decodes the escape into the middle of a C string, which
 * would silently cut "lab\u0000evil" to "lab"; every JSON input from the
 * network is refused with this before it is parsed. */
int text_json_has_nul(const char *text, size_t len);

/* Formats into small (size bytes) when the text fits, else into a malloc'd
 * block of the exact size: returns small or that block (the caller frees
 * it when it is not small), and sets *len to the text's length. NULL on a
 * format error or out of memory. ap is used twice through va_copy. */
char *text_vformat(char *small, size_t size, size_t *len, const char *fmt, va_list ap);

#endif
