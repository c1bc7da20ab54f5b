/* mailmsg.h -- reading a stored mail message: RFC 5322 header fields,
 * address lists, dates and the MIME type (RFC 2045), without any protocol.
 *
 * The IMAP lab server reads messages with it (FETCH, SEARCH); POP3's TOP
 * or the HTTP lab could use it the same way. Every function takes bytes
 * as they were stored, distrusts them, and never writes past what it is
 * given: a malformed message reads as well as it can, never as an error.
 */
#ifndef PORTLAB_MAILMSG_H
#define PORTLAB_MAILMSG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Bytes of the header, the empty line that ends it included; the whole
 * message if there is no empty line (then the text is empty). */
size_t mailmsg_header_len(const char *m, size_t n);

/* Walks the header fields: each field is its first line and every line
 * after it that starts with white space (RFC 5322 section 2.2.3). */
struct mailmsg_fields {
  const char *p, *end;
};

/* The next field, as it is (folded, with its CRLF), and its name (0 long
 * when the line has no colon, such as the empty line). 0 at the end. */
int mailmsg_field_next(struct mailmsg_fields *it, const char **name, size_t *name_len,
                       const char **field, size_t *field_len);
/* The value of a field, unfolded and trimmed; malloc'd (caller frees), NULL if out of memory. */
char *mailmsg_unfold(const char *field, size_t len, size_t name_len);
/* The first field called name (any case), unfolded; NULL if absent (caller frees). */
char *mailmsg_get(const char *hdr, size_t hlen, const char *name);

/* One element of an address list (RFC 5322 section 3.4). */
enum mailmsg_addr_kind { MAILMSG_ADDR = 0, MAILMSG_GROUP_START, MAILMSG_GROUP_END };
struct mailmsg_addr {
  enum mailmsg_addr_kind kind;
  const char *name, *name_end; /* the display (or group) name as written; NULL if none */
  const char *spec, *spec_end; /* MAILMSG_ADDR: the address as written, "<>" stripped */
};
typedef void (*mailmsg_addr_fn)(void *arg, const struct mailmsg_addr *a);

/* Calls fn for each address and group boundary of the list v in order;
 * empty elements are skipped and a group left open is closed at the end. */
void mailmsg_addr_list(const char *v, mailmsg_addr_fn fn, void *arg);

/* An address without comments, white space and angle brackets, in parts.
 * buf holds them (caller frees buf); adl is an obsolete source route
 * ("@a,@b"), NULL if none; domain is NULL when there is no "@". */
struct mailmsg_spec {
  char *buf;
  const char *adl, *local, *domain;
  size_t adl_len, local_len;
};
int mailmsg_addr_spec(const char *p, const char *end, struct mailmsg_spec *out); /* -1: no memory */

/* A display name without the white space around it, quotes and escapes:
 * *out is malloc'd (caller frees) with *len bytes, or NULL when there is
 * no name. -1 if out of memory. */
int mailmsg_display_name(const char *p, const char *end, char **out, size_t *len);

/* The message's MIME type (RFC 2045 section 5): type and subtype upper-cased,
 * text/plain when there is no usable Content-Type (and then the charset is
 * us-ascii); the charset as written ("" if none); the transfer encoding
 * upper-cased, 7BIT by default. */
struct mailmsg_mime {
  char type[32], sub[64], charset[64], enc[32];
};
void mailmsg_mime(const char *hdr, size_t hlen, struct mailmsg_mime *m);

/* Calendar helpers for dates in mail and in the protocols that carry it. */
extern const char *const mailmsg_months[12]; /* "Jan" ... "Dec" */
int mailmsg_month(const char *p); /* 1-12 for a month's three letters (any case), else 0 */
/* An RFC 5322 section 3.3 date-time for t ("Tue, 01 Jul 2003 08:52:37
 * +0000"), for the Date: and Received: fields the lab servers write:
 * always in UTC, so no locale or time zone setting changes a byte. */
void mailmsg_date_format(time_t t, char *out, size_t outlen);
/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t mailmsg_days(int64_t y, int m, int d);
/* The day a Date: field's value names ("Tue, 1 Jul 2003 10:52:37 +0200",
 * obsolete two-digit years too) into *day, as days since 1970-01-01: 0, or
 * -1 if it names no usable day. */
int mailmsg_date_day(const char *v, int64_t *day);

#endif
