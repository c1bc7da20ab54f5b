/* test_httplab.c -- unit tests for the lab web server (protocols/httplab.c).
 *
 * Starts the real libmicrohttpd daemon on a free loopback port with a
 * throw-away database file (the server opens its own connection to it, as
 * in production) and talks to it over plain sockets with hand-written
 * requests, so every byte of the answer can be checked: status lines,
 * headers, Basic auth and per-student flags, validators and 304, the
 * redirect, 404 and 405, HEAD, the chunked stream, the Host rule and the
 * header size limit; requests whose body length cannot be known (RFC 9112
 * section 6.3, protocols/httphead.c), and the lengths libmicrohttpd
 * refuses itself.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "db.h"
#include "httplab.h"
#include "labdata.h"
#include "labdb.h"
#include "log.h"
#include "portlab_limits.h"

#define SECRET "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"

static int port;
static char resp[262144];
static size_t resp_len;
static int resp_closed; /* the server closed (not the 5 s receive timeout) */

static int free_port(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  bind(s, (struct sockaddr *)&a, sizeof a);
  getsockname(s, (struct sockaddr *)&a, &len);
  close(s);
  return ntohs(a.sin_port);
}

static int connect_lab(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct timeval tv = {.tv_sec = 5};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

/* Sends req, reads until the server closes (or 5 s pass). Returns the status. */
static int exchange_len(const char *req, size_t reqlen) {
  int s = connect_lab();
  resp_len = 0;
  resp[0] = '\0';
  if (s < 0) return -1;
  size_t off = 0;
  while (off < reqlen) {
    ssize_t k = send(s, req + off, reqlen - off, MSG_NOSIGNAL);
    if (k <= 0) break;
    off += (size_t)k;
  }
  for (;;) {
    ssize_t k = recv(s, resp + resp_len, sizeof resp - 1 - resp_len, 0);
    resp_closed = k == 0;
    if (k <= 0) break;
    resp_len += (size_t)k;
  }
  resp[resp_len] = '\0';
  close(s);
  int status = 0;
  if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) return 0;
  return status;
}

static int exchange(const char *req) {
  return exchange_len(req, strlen(req));
}

/* How often needle occurs in the response. */
static int count(const char *needle) {
  int n = 0;
  size_t nl = strlen(needle);
  for (const char *p = resp; (p = memmem(p, resp_len - (size_t)(p - resp), needle, nl)); p += nl)
    n++;
  return n;
}

static int has(const char *needle) {
  return memmem(resp, resp_len, needle, strlen(needle)) != NULL;
}

static const char *body(void) {
  const char *p = strstr(resp, "\r\n\r\n");
  return p ? p + 4 : "";
}

/* The value of a response header, copied into out (empty if absent). */
static void header(const char *name, char *out, size_t outlen) {
  char key[64];
  snprintf(key, sizeof key, "\r\n%s: ", name);
  const char *p = strcasestr(resp, key);
  out[0] = '\0';
  if (!p || p > body()) return;
  p += strlen(key);
  size_t n = strcspn(p, "\r\n");
  if (n >= outlen) n = outlen - 1;
  memcpy(out, p, n);
  out[n] = '\0';
}

static void test_site(void) {
  char v[256], etag[64];
  size_t index_len;

  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
  index_len = strlen(body());
  CHECK(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
  header("Server", v, sizeof v);
  CHECK_EQ_STR(v, "portlab-lab/1.0");
  header("Content-Type", v, sizeof v);
  CHECK_EQ_STR(v, "text/html; charset=utf-8");
  header("Date", v, sizeof v);
  CHECK(strstr(v, " GMT") != NULL);
  header("Last-Modified", v, sizeof v);
  CHECK(strstr(v, " GMT") != NULL);
  header("Content-Length", v, sizeof v);
  CHECK_EQ_INT(atoi(v), strlen(body()));
  header("ETag", etag, sizeof etag);
  CHECK(strlen(etag) == 18 && etag[0] == '"' && etag[17] == '"');
  CHECK(has("<a href=\"/about.html\">"));
  CHECK(!has("flag") && !has("FLAG"));

  /* The validator: If-None-Match with the ETag gives 304 and no body. */
  char req[512];
  snprintf(req, sizeof req,
           "GET / HTTP/1.1\r\nHost: lab\r\nIf-None-Match: %s\r\nConnection: close\r\n\r\n", etag);
  CHECK_EQ_INT(exchange(req), 304);
  CHECK_EQ_STR(body(), "");
  header("ETag", v, sizeof v);
  CHECK_EQ_STR(v, etag);
  /* RFC 9110 section 8.6: a 304 names no Content-Length but the full
   * body's (it used to say 0). */
  header("Content-Length", v, sizeof v);
  CHECK(v[0] == '\0' || (size_t)atoi(v) == index_len);
  snprintf(req, sizeof req,
           "GET / HTTP/1.1\r\nHost: lab\r\nIf-None-Match: \"x\", W/%s\r\nConnection: close\r\n\r\n",
           etag);
  CHECK_EQ_INT(exchange(req), 304);
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nIf-None-Match: \"other\"\r\n"
                        "Connection: close\r\n\r\n"),
               200);
  CHECK_EQ_INT(exchange("GET /index.html HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
  header("ETag", v, sizeof v);
  CHECK_EQ_STR(v, etag);

  CHECK_EQ_INT(exchange("GET /about.html HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
  CHECK(has("robots.txt"));
  CHECK_EQ_INT(exchange("GET /style.css HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
  header("Content-Type", v, sizeof v);
  CHECK_EQ_STR(v, "text/css; charset=utf-8");
  CHECK_EQ_INT(exchange("GET /robots.txt HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
  header("Content-Type", v, sizeof v);
  CHECK_EQ_STR(v, "text/plain; charset=utf-8");
  CHECK(has("Disallow: /flag.html\n"));

  /* HEAD: the same headers, no body. */
  CHECK_EQ_INT(exchange("HEAD /about.html HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"),
               200);
  CHECK_EQ_STR(body(), "");
  header("Content-Length", v, sizeof v);
  CHECK(atoi(v) > 100);

  CHECK_EQ_INT(exchange("GET /old-page HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 301);
  header("Location", v, sizeof v);
  CHECK_EQ_STR(v, "/about.html");
  CHECK_EQ_INT(exchange("GET /private HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 301);
  header("Location", v, sizeof v);
  CHECK_EQ_STR(v, "/private/");

  CHECK_EQ_INT(exchange("GET /nothing/here HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"),
               404);
  CHECK(has("<h1>404 Not Found</h1>"));
  CHECK(!has("/nothing/here")); /* the path is not reflected */
  CHECK_EQ_INT(exchange("GET /?q=1 HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);

  CHECK_EQ_INT(exchange("POST / HTTP/1.1\r\nHost: lab\r\nContent-Length: 3\r\n\r\nx=1"), 405);
  header("Allow", v, sizeof v);
  CHECK_EQ_STR(v, "GET, HEAD, OPTIONS");
  CHECK_EQ_INT(exchange("DELETE /flag.html HTTP/1.1\r\nHost: lab\r\n\r\n"), 405);
  CHECK_EQ_INT(exchange("BREW /pot HTTP/1.1\r\nHost: lab\r\n\r\n"), 405);
}

static void test_stream(void) {
  char v[64];
  CHECK_EQ_INT(exchange("GET /stream HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
  header("Transfer-Encoding", v, sizeof v);
  CHECK_EQ_STR(v, "chunked");
  header("Content-Length", v, sizeof v);
  CHECK_EQ_STR(v, "");
  /* One chunk per line, then the last chunk. */
  CHECK(has("\r\n\r\n29\r\nline 1 of 8: this body is sent in chunks\n\r\n29\r\nline 2 of 8"));
  CHECK(has("line 8 of 8: this body is sent in chunks\n\r\n0\r\n\r\n"));
  /* HTTP/1.0 has no chunks: the body ends with the connection. */
  CHECK_EQ_INT(exchange("GET /stream HTTP/1.0\r\n\r\n"), 200);
  header("Transfer-Encoding", v, sizeof v);
  CHECK_EQ_STR(v, "");
  CHECK(strncmp(body(), "line 1 of 8", 11) == 0);
  CHECK(has("line 8 of 8: this body is sent in chunks\n"));
  CHECK(!has("\r\n0\r\n"));
  /* HEAD: the stream's headers only; its producer is freed unused. */
  CHECK_EQ_INT(exchange("HEAD /stream HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
  CHECK_EQ_STR(body(), "");
  /* ...and a request kept alive after it is read cleanly. */
  CHECK_EQ_INT(exchange("HEAD /stream HTTP/1.1\r\nHost: lab\r\n\r\n"
                        "GET /robots.txt HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"),
               200);
  const char *second = strstr(body(), "HTTP/1.1 200 OK\r\n");
  CHECK(second == body());
}

static void basic(const char *userpass, char *req, size_t reqlen, const char *path) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char enc[256];
  size_t n = strlen(userpass), o = 0;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned char)userpass[i] << 16;
    if (i + 1 < n) v |= (unsigned char)userpass[i + 1] << 8;
    if (i + 2 < n) v |= (unsigned char)userpass[i + 2];
    enc[o++] = b64[(v >> 18) & 63];
    enc[o++] = b64[(v >> 12) & 63];
    enc[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
    enc[o++] = i + 2 < n ? b64[v & 63] : '=';
  }
  enc[o] = '\0';
  snprintf(req, reqlen,
           "GET %s HTTP/1.1\r\nHost: lab\r\nAuthorization: Basic %s\r\nConnection: close\r\n\r\n",
           path, enc);
}

static void test_auth_and_flags(void) {
  char req[512], v[128], flag_a[40], flag_b[40], flag_demo[40];
  labdata_flag(SECRET, "http", "alice", flag_a);
  labdata_flag(SECRET, "http", "bob", flag_b);
  labdata_flag(SECRET, "http", "demo", flag_demo);

  CHECK_EQ_INT(exchange("GET /flag.html HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 401);
  header("WWW-Authenticate", v, sizeof v);
  CHECK_EQ_STR(v, "Basic realm=\"portlab lab\"");
  header("Server", v, sizeof v);
  CHECK_EQ_STR(v, "portlab-lab/1.0");
  CHECK(!has("FLAG{"));

  basic("alice:pw-alice", req, sizeof req, "/flag.html");
  CHECK_EQ_INT(exchange(req), 200);
  CHECK(has(flag_a));
  CHECK(!has(flag_b));
  basic("ALICE:pw-alice", req, sizeof req, "/flag.html");
  CHECK_EQ_INT(exchange(req), 200);
  CHECK(has(flag_a)); /* one account, one flag, whatever the case typed */
  basic("bob:pw-bob", req, sizeof req, "/flag.html");
  CHECK_EQ_INT(exchange(req), 200);
  CHECK(has(flag_b));
  CHECK(strcmp(flag_a, flag_b) != 0);
  basic("demo:demo", req, sizeof req, "/flag.html");
  CHECK_EQ_INT(exchange(req), 200);
  CHECK(has(flag_demo));

  basic("alice:pw-bob", req, sizeof req, "/flag.html");
  CHECK_EQ_INT(exchange(req), 401);
  CHECK(!has("FLAG{"));
  basic("nobody:x", req, sizeof req, "/flag.html");
  CHECK_EQ_INT(exchange(req), 401);
  basic("alice", req, sizeof req, "/flag.html"); /* no colon at all */
  CHECK_EQ_INT(exchange(req), 401);
  CHECK_EQ_INT(exchange("GET /flag.html HTTP/1.1\r\nHost: lab\r\nAuthorization: Basic !!!\r\n"
                        "Connection: close\r\n\r\n"),
               401);
  CHECK_EQ_INT(exchange("GET /flag.html HTTP/1.1\r\nHost: lab\r\nAuthorization: Bearer abc\r\n"
                        "Connection: close\r\n\r\n"),
               401);

  CHECK_EQ_INT(exchange("GET /private/ HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 401);
  basic("bob:pw-bob", req, sizeof req, "/private/");
  CHECK_EQ_INT(exchange(req), 200);
  CHECK(has("Welcome, bob."));
  CHECK(!has("FLAG{"));
}

static void test_protocol_edges(void) {
  char big[LIM_HTTP_MEMORY_BYTES + 4096];

  /* RFC 9112: HTTP/1.1 without Host is a 400, HTTP/1.0 without Host is fine. */
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\n\r\n"), 400);
  CHECK(has("Host: lab"));
  /* One status line only (libmicrohttpd's own answer repeated its head). */
  CHECK(memmem(resp, resp_len, "HTTP/1.1 400", 12) == resp &&
        !memmem(resp + 1, resp_len - 1, "HTTP/1.1 400", 12));
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  CHECK_EQ_INT(exchange("GET / HTTP/1.0\r\n\r\n"), 200);

  /* A header larger than the connection's memory: refused, server lives. */
  int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: lab\r\nX-Big: ");
  memset(big + n, 'a', LIM_HTTP_MEMORY_BYTES);
  n += LIM_HTTP_MEMORY_BYTES;
  n += snprintf(big + n, sizeof big - (size_t)n, "\r\n\r\n");
  int st = exchange_len(big, (size_t)n);
  CHECK(st == 431 || st == 400);
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);

  /* Garbage instead of a request line. */
  st = exchange("\x01\x02\xff garbage\r\n\r\n");
  CHECK(st == 400 || st == 0);
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);

  /* Keep-alive: two requests on one connection, then close. */
  CHECK_EQ_INT(exchange("GET /robots.txt HTTP/1.1\r\nHost: lab\r\n\r\n"
                        "GET /robots.txt HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"),
               200);
  const char *second = memmem(resp + 1, resp_len - 1, "HTTP/1.1 200 OK", 15);
  CHECK(second != NULL);
}

/* One whole answer of the lab's own, then the end of the connection. */
static void check_one_closing_answer(const char *h1) {
  CHECK(resp_closed);
  CHECK_EQ_INT(count("HTTP/1.1 "), 1);
  CHECK_EQ_INT(count("\r\nDate: "), 1);
  CHECK_EQ_INT(count("\r\nConnection: close\r\n"), 1);
  CHECK(has(h1));
  CHECK(has("Served by the portlab lab web server."));
  char v[32];
  header("Content-Length", v, sizeof v);
  CHECK_EQ_INT(atoi(v), strlen(body()));
}

#define FORM_HEAD \
  "POST /form HTTP/1.1\r\nHost: lab\r\nContent-Type: application/x-www-form-urlencoded\r\n"
#define NEXT_REQ "GET /robots.txt HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"

/* RFC 9112 section 6.3, RFC 9110 section 8.6: a body whose length cannot
 * be known is refused with one answer, and the bytes after it are never
 * run as a request (NEXT_REQ would answer robots.txt's Disallow lines). */
static void test_framing(void) {
  /* Two lengths that differ: libmicrohttpd used the first, and the rest
   * of the body ran as a second request. */
  CHECK_EQ_INT(exchange(FORM_HEAD "Content-Length: 3\r\nContent-Length: 10\r\n\r\nx=1" NEXT_REQ),
               400);
  check_one_closing_answer("<h1>400 Bad Request</h1>");
  CHECK(has("headers that disagree"));
  CHECK(!has("Disallow"));
  /* A first one libmicrohttpd accepted, a later one that is no number. */
  CHECK_EQ_INT(exchange(FORM_HEAD "Content-Length: 3\r\nContent-Length: 3, 3\r\n\r\nx=1" NEXT_REQ),
               400);
  check_one_closing_answer("headers that disagree");
  CHECK(!has("Disallow"));
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nContent-Length: 0\r\n"
                        "Content-Length: abc\r\n\r\n" NEXT_REQ),
               400);
  check_one_closing_answer("headers that disagree");
  /* Two that agree are one length (RFC 9110 section 8.6 allows it), and
   * the connection goes on. */
  CHECK_EQ_INT(exchange(FORM_HEAD "Content-Length: 3\r\ncontent-length: 3\r\n\r\nx=1" NEXT_REQ),
               200);
  CHECK(has("1 field in 3 bytes") && has("Disallow: /flag.html"));

  /* A refused request after good ones on the same connection: those are
   * answered, it is refused, nothing after it runs. */
  CHECK_EQ_INT(
      exchange("GET /robots.txt HTTP/1.1\r\nHost: lab\r\nContent-Length: 5\r\n\r\nabcde"
               "GET /robots.txt HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3;x=y\r\nabc\r\n0\r\n\r\n"
               "GET / HTTP/1.1\r\nHost: lab\r\nContent-Length: 1\r\nContent-Length: "
               "2\r\n\r\nx" NEXT_REQ),
      200);
  CHECK_EQ_INT(count("HTTP/1.1 200 OK\r\n"), 2);
  CHECK_EQ_INT(count("HTTP/1.1 400 Bad Request\r\n"), 1);
  CHECK_EQ_INT(count("Disallow: /flag.html"), 2);
  CHECK(resp_closed);

  /* RFC 9112 section 6.1: Transfer-Encoding beside Content-Length is
   * refused and closes (libmicrohttpd read the chunks and kept the
   * connection); so is a coding list not ending in one chunked
   * (libmicrohttpd waited for the end of such a body until its timeout),
   * and a coding other than chunked is not implemented. */
  CHECK_EQ_INT(exchange(FORM_HEAD "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
                                  "3\r\nx=1\r\n0\r\n\r\n" NEXT_REQ),
               400);
  check_one_closing_answer("both <code>Transfer-Encoding</code> and <code>Content-Length</code>");
  CHECK(!has("Disallow"));
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: gzip\r\n\r\nxyz"), 400);
  check_one_closing_answer("must end with <code>chunked</code>");
  CHECK_EQ_INT(
      exchange("GET / HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400);
  check_one_closing_answer("must end with <code>chunked</code>");
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: gzip\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" NEXT_REQ),
               501);
  check_one_closing_answer("<h1>501 Not Implemented</h1>");
  CHECK(!has("Disallow"));

  /* The server goes on. */
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
}

/* A first Content-Length libmicrohttpd cannot read is refused by the
 * library before the lab's handler runs, with its own page. What is
 * pinned here is what holds: a 400 (413 for more digits than 64 bits
 * hold), the connection closed, the request after it never run, the
 * server still serving. Not pinned: libmicrohttpd 0.9.75 sends that
 * answer's status line and header block twice, a known defect of the
 * library (docs/architecture.md). */
static void test_length_refused_by_mhd(void) {
  static const char *const bad[] = {"-5", "abc", "3, 3", "0x3"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char req[512];
    snprintf(req, sizeof req, FORM_HEAD "Content-Length: %s\r\n\r\nx=1" NEXT_REQ, bad[i]);
    CHECK_EQ_INT(exchange(req), 400);
    CHECK(resp_closed);
    CHECK(!has("Disallow"));
  }
  CHECK_EQ_INT(exchange(FORM_HEAD "Content-Length: 99999999999999999999999999\r\n\r\nx=1" NEXT_REQ),
               413);
  CHECK(resp_closed);
  CHECK(!has("Disallow"));
  CHECK_EQ_INT(exchange("GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"), 200);
}

static void test_start_errors(void) {
  char err[256];
  struct http_lab_config cfg = {
      .db_path = ":memory:", .bind_addr = "lab.example", .port = port, .secret = SECRET};
  CHECK(http_lab_start(&cfg, err, sizeof err) == NULL);
  CHECK(strstr(err, "numeric") != NULL);
  cfg.bind_addr = "127.0.0.1";
  cfg.port = 0;
  CHECK(http_lab_start(&cfg, err, sizeof err) == NULL);
  cfg.port = port; /* taken by the running server */
  CHECK(http_lab_start(&cfg, err, sizeof err) == NULL);
  CHECK(strstr(err, "cannot listen") != NULL);
  http_lab_stop(NULL);
}

/* The lab may bind an IPv6 address: MHD_USE_IPv6 with a sockaddr_in6. */
static void test_ipv6(const char *dbpath) {
  char err[256];
  int s6 = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  socklen_t len = sizeof a;
  if (s6 < 0 || bind(s6, (struct sockaddr *)&a, sizeof a) != 0) {
    printf("no ::1 here; IPv6 test skipped\n");
    if (s6 >= 0) close(s6);
    return;
  }
  getsockname(s6, (struct sockaddr *)&a, &len);
  close(s6);
  struct http_lab_config cfg = {
      .db_path = dbpath, .bind_addr = "::1", .port = ntohs(a.sin6_port), .secret = SECRET};
  struct http_lab *h = http_lab_start(&cfg, err, sizeof err);
  CHECK(h != NULL);
  if (!h) return;
  s6 = socket(AF_INET6, SOCK_STREAM, 0);
  CHECK(connect(s6, (struct sockaddr *)&a, sizeof a) == 0);
  const char req[] = "GET /robots.txt HTTP/1.0\r\n\r\n";
  CHECK(send(s6, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1));
  char buf[512];
  struct timeval tv = {.tv_sec = 5};
  setsockopt(s6, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ssize_t k = recv(s6, buf, sizeof buf - 1, MSG_WAITALL);
  buf[k > 0 ? k : 0] = '\0';
  CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
  close(s6);
  http_lab_stop(h);
}

int main(void) {
  char err[256], dbpath[] = "/tmp/portlab-test-httplab-XXXXXX";
  int64_t id;
  int fd = mkstemp(dbpath);
  if (fd < 0) return 1;
  close(fd);
  log_set_level(LOG_ERROR);

  struct db *db = db_open(dbpath, err, sizeof err);
  if (!db) {
    fprintf(stderr, "db_open: %s\n", err);
    return 1;
  }
  CHECK_EQ_INT(labdata_seed_common(db, SECRET), 0);
  CHECK_EQ_INT(db_user_create(db, "alice", "student", "pw-alice", NULL, &id), 0);
  CHECK_EQ_INT(db_user_create(db, "bob", "student", "pw-bob", NULL, &id), 0);

  /* The kernel's free port can be taken by another process before the
   * daemon binds it (parallel suites): try a few. */
  struct http_lab *h = NULL;
  for (int attempt = 0; attempt < 5 && !h; attempt++) {
    port = free_port();
    struct http_lab_config cfg = {
        .db_path = dbpath, .bind_addr = "127.0.0.1", .port = port, .secret = SECRET};
    h = http_lab_start(&cfg, err, sizeof err);
  }
  CHECK(h != NULL);
  if (!h) {
    fprintf(stderr, "http_lab_start: %s\n", err);
  } else {
    test_site();
    test_stream();
    test_auth_and_flags();
    test_protocol_edges();
    test_framing();
    test_length_refused_by_mhd();
    test_start_errors();
    http_lab_stop(h);
  }
  test_ipv6(dbpath);
  /* Stopped: nothing listens any more. */
  CHECK(connect_lab() < 0);

  db_close(db);
  unlink(dbpath);
  char side[sizeof dbpath + 8];
  snprintf(side, sizeof side, "%s-wal", dbpath);
  unlink(side);
  snprintf(side, sizeof side, "%s-shm", dbpath);
  unlink(side);
  return check_done();
}
