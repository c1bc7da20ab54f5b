/* httphead.h -- what a request's head must satisfy before any route runs:
 * one Host, one body length. */
#ifndef PORTLAB_HTTPHEAD_H
#define PORTLAB_HTTPHEAD_H

#include <stddef.h>

struct MHD_Connection;

/* A request refused from its head alone, with the page that says why. */
struct httphead_fault {
  unsigned status;  /* 400 or 501 */
  const char *page; /* a whole HTML page (httppage.h), static */
  size_t len;
  const char *why; /* for the log */
  int close;       /* the body's end is unknown: the connection ends */
};

/* On libmicrohttpd's first call for a request (the head parsed, no body
 * read): NULL if the head is sound, else what is wrong with it. */
const struct httphead_fault *httphead_check(struct MHD_Connection *conn, const char *version);

/* The next element of a comma-separated header value at *p: its start,
 * with its length (blanks cut) in *len, and *p moved past it; NULL when
 * there is none left. */
const char *httphead_next_token(const char **p, size_t *len);
/* 1 if a comma-separated header value holds token, in any case. */
int httphead_has_token(const char *value, const char *token);

#endif
