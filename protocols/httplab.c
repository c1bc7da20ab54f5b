/* httplab.c -- the built-in lab web server, on libmicrohttpd in its own thread.
 *
 * Implements the server side of HTTP/1.1 as RFC 9110 (semantics: GET,
 * HEAD, 301, 304, 401, 404, 405 with Allow), RFC 9112 (message syntax:
 * Host required in HTTP/1.1, chunked transfer coding), RFC 9111 / 7232
 * (validators: ETag, Last-Modified, If-None-Match) and RFC 7617 (Basic
 * authentication) describe them; libmicrohttpd parses the requests and
 * does the framing, httphead.c checks each request's head (one Host, one
 * body length) before any route runs, this file decides what each path
 * answers.
 *
 * The site is small and written for the lesson: an index page, an about
 * page, robots.txt that "hides" /flag.html, the flag page itself behind
 * Basic auth with the student's lab credentials (each student sees a flag
 * of their own), a private area, a permanent redirect, a 404 page, and a
 * slowly produced chunked stream. Headers look like a real server's
 * (Server, Date, Content-Type, Content-Length, ETag, Last-Modified).
 *
 * HTTPS (lab:443) is the same site: httpwire.c ends the TLS and hands
 * this daemon the plaintext, as on lab:80 (see http_lab_start).
 *
 * Threading: MHD_USE_AUTO_INTERNAL_THREAD runs one internal thread that
 * calls every handler, so the SQLite connection opened here is used by
 * that thread alone (the lws loop has its own). libmicrohttpd's defaults
 * have no limits; the connection, per-address, memory and timeout limits
 * come from portlab_limits.h.
 *
 * The per-address cap is counted here, not with MHD's per-IP option: the
 * relay's requests all arrive from this host (127.0.0.1, ::1 or the bind
 * address), and a class doing the HTTP lesson at once must not be refused
 * as if it were one client. Those addresses are exempt, exactly as
 * lab_addr_is_local() in lab.c exempts them; every other address may hold
 * LIM_HTTP_CONNS_PER_IP connections.
 */
#include "httplab.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "addr.h"
#include "crypto.h"
#include "db.h"
#include "httphead.h"
#include "httppage.h"
#include "httprec.h"
#include "httpwire.h"
#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "labident.h"
#include "log.h"
#include "portlab_limits.h"
#include "progress.h"
#include "tlsca.h"
#include "wschat.h"

#define HTTP_SERVER_NAME "portlab-lab/1.0"
#define HTTP_REALM "portlab lab"
#define HTTP_ALLOW "GET, HEAD, OPTIONS"
#define HTTP_ALLOW_FORM "GET, HEAD, POST, OPTIONS"
#define HTTP_STREAM_LINES 8 /* lines (and chunks) of /stream */

/* Open connections from one outside address. A slot with n == 0 is free. */
struct http_peer_count {
  unsigned char addr[16]; /* IPv6, or IPv4 as IPv4-mapped IPv6 */
  unsigned n;
};

struct http_lab {
  struct MHD_Daemon *daemon;
  /* The per-address counts. MHD calls the accept policy and the connection
   * notifications from its one internal thread (no thread pool, no
   * thread per connection), so the lock is never contended; it is there
   * so that no future MHD flag can make the counts racy. MHD's connection
   * limit (LIM_HTTP_CONNS) bounds how many slots can be in use. */
  pthread_mutex_t peers_lock;
  struct http_peer_count peers[LIM_HTTP_CONNS];
  struct db *db; /* used only by the MHD thread once started */
  char secret[65];
  char last_modified[40];       /* the start time as an HTTP-date: the site's "files" date */
  SSL_CTX *tls_ctx;             /* serving HTTPS: the wire thread's own context */
  struct sockaddr_storage bind; /* the lab address: relayed requests come from it */
  size_t form_bytes;            /* longest POST /form body */
  struct httpwire *wire;        /* the sockets (its own thread) */
  struct httprec *rec;          /* the loop thread's side of the recording */
};

/* One request while its handler runs. */
struct http_req {
  struct http_lab *h;
  struct MHD_Connection *conn;
  const char *url;
  const char *method;
  const char *version;
  char peer[64];
  unsigned status;
  struct http_body *body; /* POST /form: the body read so far */
};

/* A POST body while MHD hands it over piece by piece (*con_cls). */
struct http_body {
  int refused; /* answered before the body: the rest is dropped */
  size_t len, cap;
  char data[];
};

/* --- the site -------------------------------------------------------------- */

static const char http_index[] = HTTP_PAGE_HEAD("Lab web server", "Welcome to the lab web server")
    "<p>This small site is part of your network lab. Everything it sends travels\n"
    "in plain text, so you can read the whole exchange in the session transcript:\n"
    "the request line, the headers, then the page.</p>\n"
    "<ul>\n"
    "<li><a href=\"/about.html\">About this server</a></li>\n"
    "<li><a href=\"/private/\">Private area</a> (asks for your lab name and password)</li>\n"
    "<li><a href=\"/stream\">A page sent in chunks</a></li>\n"
    "<li><a href=\"/old-page\">An old link that moved</a></li>\n"
    "</ul>\n"
    "<p>Try it by hand: open a session to lab port 80 and type\n"
    "<code>GET / HTTP/1.1</code>, then <code>Host: lab</code>, then an empty line.</p>\n"
    HTTP_PAGE_TAIL;

static const char http_about[] = HTTP_PAGE(
    "About this server",
    "<p>A web server answers requests. Each request names a method (GET asks for a\n"
    "page, HEAD asks only for its headers), a path and a protocol version. The\n"
    "answer starts with a status line such as <code>HTTP/1.1 200 OK</code>, then\n"
    "headers, an empty line, and the body.</p>\n"
    "<p>Look at the headers this server sends: <code>Server</code>, <code>Date</code>,\n"
    "<code>Content-Type</code>, <code>Content-Length</code>, <code>ETag</code> and\n"
    "<code>Last-Modified</code>. Send the ETag back in an <code>If-None-Match</code>\n"
    "header and the server answers <code>304 Not Modified</code> without a body.</p>\n"
    "<p>Web sites often tell search engines what not to index in\n"
    "<a href=\"/robots.txt\">/robots.txt</a>. That file is public: anyone can read it.</p>\n"
    "<p><a href=\"/\">Back to the start page</a></p>\n");

static const char http_robots[] =
    "# Crawlers: please stay out of these.\n"
    "User-agent: *\n"
    "Disallow: /flag.html\n"
    "Disallow: /private/\n";

static const char http_css[] =
    "body { font-family: sans-serif; max-width: 42em; margin: 2em auto; padding: 0 1em;\n"
    "       color: #222; background: #fdfdf8; line-height: 1.5; }\n"
    "h1 { color: #234; border-bottom: 2px solid #9ab; }\n"
    "code { background: #eef; padding: 0 .2em; }\n"
    ".flag { font-family: monospace; font-size: 1.3em; background: #ffe; padding: .4em; }\n"
    "footer { margin-top: 3em; font-size: .8em; color: #777; }\n";

static const char http_not_found[] =
    HTTP_PAGE("404 Not Found",
              "<p>There is no page at this address on the lab web server.</p>\n"
              "<p><a href=\"/\">Back to the start page</a></p>\n");

static const char http_unauthorized[] =
    HTTP_PAGE("401 Unauthorized",
              "<p>This page needs your lab name and lab password. Your browser sends them\n"
              "in an <code>Authorization: Basic</code> header: base64, not encryption.</p>\n");

static const char http_moved[] =
    HTTP_PAGE("301 Moved Permanently",
              "<p>This page has moved; the <code>Location</code> header says where.</p>\n");

static const char http_not_allowed[] = HTTP_PAGE(
    "405 Method Not Allowed",
    "<p>This server only answers GET and HEAD; the <code>Allow</code> header lists them.</p>\n");

static const char http_unavailable[] =
    HTTP_PAGE("503 Service Unavailable", "<p>Please try again in a moment.</p>\n");

#define HTTP_TYPE_HTML "text/html; charset=utf-8"
#define HTTP_TYPE_TEXT "text/plain; charset=utf-8"
#define HTTP_TYPE_CSS "text/css; charset=utf-8"

/* --- responses --------------------------------------------------------------- */

/* A validator for a body: the first 64 bits of its SHA-256, quoted. */
static void http_etag(const void *body, size_t len, char out[24]) {
  unsigned char d[32];
  crypto_sha256(body, len, d);
  snprintf(out, 24, "\"%02x%02x%02x%02x%02x%02x%02x%02x\"", d[0], d[1], d[2], d[3], d[4], d[5],
           d[6], d[7]);
}

/* If-None-Match holds "*" or a list of entity tags; the weak comparison of
 * RFC 9110 section 13.1.2 ignores a W/ prefix, so a substring test of the
 * quoted tag is enough. */
static int http_not_modified(struct http_req *r, const char *etag) {
  const char *inm =
      MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
  if (!inm) return 0;
  while (*inm == ' ') inm++;
  return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

static void http_common_headers(struct MHD_Response *resp, const char *type) {
  MHD_add_response_header(resp, MHD_HTTP_HEADER_SERVER, HTTP_SERVER_NAME);
  if (type) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
}

/* The addresses the relay's requests come from, and nothing wider (the
 * same as lab_addr_is_local() in lab.c): 127.0.0.1, ::1, or the bind
 * address itself (a LAN --lab-bind). 127.0.0.2 is an outside peer. */
static int http_key_is_local(const struct http_lab *h, const unsigned char key[16]) {
  static const unsigned char lo4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
  static const unsigned char lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  unsigned char bind[16];

  if (memcmp(key, lo4, 16) == 0 || memcmp(key, lo6, 16) == 0) return 1;
  return addr_key((const struct sockaddr *)&h->bind, bind, NULL) == 0 && memcmp(key, bind, 16) == 0;
}

/* A peer on this host, whose port may name a relayed student. Sets *port
 * to the peer's port. */
static int http_peer_is_local(const struct http_lab *h, const struct sockaddr *sa, int *port) {
  unsigned char key[16];

  return addr_key(sa, key, port) == 0 && http_key_is_local(h, key);
}

/* Valid credentials of a lab account on this request: an own client's
 * transcript moves to that student (the wire ignores relay sessions). */
static void http_note_login(struct http_req *r, const char *name) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci) httpwire_login(r->h->wire, ci->connect_fd, name);
}

/* The portlab user behind a request, for lesson check tasks: the student
 * whose relay session it is, else valid Basic credentials; 0 if unknown. */
static int64_t http_user(struct http_req *r, int *relayed) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  int64_t id = 0;
  int port = 0;
  if (ci && ci->client_addr && http_peer_is_local(r->h, ci->client_addr, &port))
    id = labident_lookup(port);
  *relayed = id != 0;
  if (!id) {
    char *pass = NULL, *user = MHD_basic_auth_get_username_password(r->conn, &pass);
    struct db_user u;
    if (user && pass && db_lab_login(r->h->db, user, pass, &u) == 0) {
      id = u.id;
      http_note_login(r, u.name);
    }
    MHD_free(user);
    MHD_free(pass);
  }
  return id;
}

static void http_record(struct http_req *r) {
  int relayed = 0;
  int64_t user = http_user(r, &relayed);
  char json[640];
  if (!user) return;
  cJSON *attrs = cJSON_CreateObject();
  snprintf(json, sizeof json, "%u", r->status);
  cJSON_AddStringToObject(attrs, "path", r->url);
  cJSON_AddStringToObject(attrs, "status", json);
  cJSON_AddStringToObject(attrs, "method", r->method);
  cJSON_AddStringToObject(attrs, "via", relayed ? "browser" : "own"); /* lab.h, lab_event */
  if (cJSON_PrintPreallocated(attrs, json, sizeof json, 0) &&
      db_lab_event_add(r->h->db, user, "http.request", json) != 0)
    log_warn("http lab: cannot record a request: %s", db_errmsg(r->h->db));
  cJSON_Delete(attrs);
}

static enum MHD_Result http_queue(struct http_req *r, unsigned status, struct MHD_Response *resp) {
  if (!resp) return MHD_NO;
  r->status = status;
  enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
  MHD_destroy_response(resp);
  http_record(r);
  return ret;
}

/* Sends a body. cacheable: give it an ETag and Last-Modified and honour
 * If-None-Match. copy: the body is not static and MHD must copy it. */
static enum MHD_Result http_send(struct http_req *r, unsigned status, const char *type,
                                 const char *body, size_t len, int cacheable, int copy) {
  char etag[24];
  int not_modified = 0;
  if (cacheable) {
    http_etag(body, len, etag);
    not_modified = status == MHD_HTTP_OK && http_not_modified(r, etag);
  }
  /* RFC 9110 section 8.6: a 304 may carry Content-Length only if it is
   * the full body's. libmicrohttpd 0.9.75 always sends one, taken from
   * the response, and never sends a 304's body: so a 304's response holds
   * the full body too. (An empty buffer announced "0"; a body of unknown
   * size got "Transfer-Encoding: chunked" and a stray last chunk that
   * broke the next response on a kept-alive connection.) */
  if (not_modified) status = MHD_HTTP_NOT_MODIFIED;
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      len, (void *)body, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  http_common_headers(resp, not_modified ? NULL : type);
  if (cacheable) {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LAST_MODIFIED, r->h->last_modified);
  }
  return http_queue(r, status, resp);
}

static enum MHD_Result http_send_static(struct http_req *r, const char *type, const char *body) {
  return http_send(r, MHD_HTTP_OK, type, body, strlen(body), 1, 0);
}

/* A response holding one of the static pages above (len bytes of page),
 * with the headers every answer carries, for an answer that adds headers
 * of its own before it is queued. NULL if out of memory. */
static struct MHD_Response *http_page_response(const char *page, size_t len) {
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(len, (void *)page, MHD_RESPMEM_PERSISTENT);
  if (resp) http_common_headers(resp, HTTP_TYPE_HTML);
  return resp;
}

static enum MHD_Result http_redirect(struct http_req *r, const char *to) {
  struct MHD_Response *resp = http_page_response(http_moved, sizeof http_moved - 1);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, to);
  return http_queue(r, MHD_HTTP_MOVED_PERMANENTLY, resp);
}

/* Checks the Basic credentials against the lab accounts. 0 and fills u;
 * otherwise the 401 (or 503) is already queued and *ret holds MHD's
 * answer. */
static int http_auth(struct http_req *r, struct db_user *u, enum MHD_Result *ret) {
  char *pass = NULL;
  char *user = MHD_basic_auth_get_username_password(r->conn, &pass);
  int rc = 1;
  if (user && pass) rc = db_lab_login(r->h->db, user, pass, u);
  if (user && rc == 1)
    log_warn("http lab: %s: wrong lab credentials for \"%.40s\" on %.100s", r->peer, user, r->url);
  MHD_free(user);
  MHD_free(pass);
  if (rc == 0) {
    http_note_login(r, u->name);
    return 0;
  }
  if (rc < 0) {
    *ret = http_send(r, MHD_HTTP_SERVICE_UNAVAILABLE, HTTP_TYPE_HTML, http_unavailable,
                     sizeof http_unavailable - 1, 0, 0);
    return -1;
  }
  struct MHD_Response *resp = http_page_response(http_unauthorized, sizeof http_unauthorized - 1);
  if (!resp) {
    *ret = MHD_NO;
    return -1;
  }
  r->status = MHD_HTTP_UNAUTHORIZED;
  /* Adds WWW-Authenticate: Basic realm="portlab lab". */
  *ret = MHD_queue_basic_auth_fail_response(r->conn, HTTP_REALM, resp);
  http_record(r);
  MHD_destroy_response(resp);
  return -1;
}

/* --- the pages ------------------------------------------------------------------- */

static enum MHD_Result page_index(struct http_req *r) {
  return http_send_static(r, HTTP_TYPE_HTML, http_index);
}

static enum MHD_Result page_about(struct http_req *r) {
  return http_send_static(r, HTTP_TYPE_HTML, http_about);
}

static enum MHD_Result page_robots(struct http_req *r) {
  return http_send_static(r, HTTP_TYPE_TEXT, http_robots);
}

static enum MHD_Result page_css(struct http_req *r) {
  return http_send_static(r, HTTP_TYPE_CSS, http_css);
}

static enum MHD_Result page_old(struct http_req *r) {
  return http_redirect(r, "/about.html");
}

/* A directory without its slash moves to the slashed name, as web servers do. */
static enum MHD_Result page_private_noslash(struct http_req *r) {
  return http_redirect(r, "/private/");
}

static enum MHD_Result page_flag(struct http_req *r) {
  struct db_user u;
  enum MHD_Result ret;
  char flag[40], body[2048];
  if (http_auth(r, &u, &ret)) return ret;
  labdata_flag(r->h->secret, "http", u.name, flag);
  int n = snprintf(body, sizeof body,
                   HTTP_PAGE_HEAD("Hidden page", "You found the hidden page")
                   "<p>Nothing links here: robots.txt gave it away. Hello, %s.</p>\n"
                   "<p>Your flag (it works for your account only):</p>\n"
                   "<p class=\"flag\">%s</p>\n"
                   "<p>Your browser sent your lab password to get this page, base64-encoded\n"
                   "in plain text. Find the <code>Authorization</code> header in the transcript.</p>\n"
                   HTTP_PAGE_TAIL,
                   u.name, flag);
  return http_send(r, MHD_HTTP_OK, HTTP_TYPE_HTML, body, (size_t)n, 1, 1);
}

static enum MHD_Result page_private(struct http_req *r) {
  struct db_user u;
  enum MHD_Result ret;
  char body[2048];
  if (http_auth(r, &u, &ret)) return ret;
  int n = snprintf(
      body, sizeof body,
      HTTP_PAGE("Private area",
                "<p>Welcome, %s. Only lab accounts get this far.</p>\n"
                "<p>Basic authentication repeats the name and password with every request;\n"
                "without TLS anyone on the path can decode them.</p>\n"
                "<p><a href=\"/\">Back to the start page</a></p>\n"),
      u.name);
  return http_send(r, MHD_HTTP_OK, HTTP_TYPE_HTML, body, (size_t)n, 1, 1);
}

/* /stream: a body of unknown length, so HTTP/1.1 gets it chunked (one
 * chunk per line) and HTTP/1.0 gets it ended by the close. */
struct http_stream {
  int line;
};

static int http_stream_line(int i, char *out, size_t outlen) {
  return snprintf(out, outlen, "line %d of %d: this body is sent in chunks\n", i + 1,
                  HTTP_STREAM_LINES);
}

static ssize_t http_stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  struct http_stream *st = cls;
  char line[128];
  if (st->line >= HTTP_STREAM_LINES) return MHD_CONTENT_READER_END_OF_STREAM;
  int n = http_stream_line(st->line, line, sizeof line);
  if (n < 0 || (size_t)n > max) return 0; /* no room now: MHD calls again */
  memcpy(buf, line, (size_t)n);
  st->line++;
  return n;
}

static void http_stream_free(void *cls) {
  free(cls);
}

static enum MHD_Result page_stream(struct http_req *r) {
  /* libmicrohttpd 0.9.75 still writes the last chunk ("0" CRLF CRLF) after
   * the head of a HEAD answer, which would corrupt the next response on a
   * kept-alive connection; HEAD gets the same body as a buffer instead,
   * whose length MHD announces and whose bytes it leaves out. */
  if (strcmp(r->method, MHD_HTTP_METHOD_HEAD) == 0) {
    char all[HTTP_STREAM_LINES * 128];
    size_t len = 0;
    for (int i = 0; i < HTTP_STREAM_LINES; i++) {
      int n = http_stream_line(i, all + len, sizeof all - len);
      if (n > 0) len += (size_t)n;
    }
    return http_send(r, MHD_HTTP_OK, HTTP_TYPE_TEXT, all, len, 0, 1);
  }
  struct http_stream *st = calloc(1, sizeof *st);
  if (!st) return MHD_NO;
  struct MHD_Response *resp = MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, 1024, http_stream_read, st, http_stream_free);
  if (!resp) {
    free(st);
    return MHD_NO;
  }
  http_common_headers(resp, HTTP_TYPE_TEXT);
  return http_queue(r, MHD_HTTP_OK, resp);
}

/* --- /form: a POST by hand ------------------------------------------------------------- */

static const char http_form_page[] =
    HTTP_PAGE("A form",
              "<p>Submitting this form sends a POST request. Its body is the fields as\n"
              "<code>name=value</code> pairs joined by <code>&amp;</code>, with the type\n"
              "<code>application/x-www-form-urlencoded</code>, and its length in\n"
              "<code>Content-Length</code>. Type one by hand: the server wants both headers.</p>\n"
              "<form method=\"post\" action=\"/form\">\n"
              "<p><label>Your name <input name=\"name\"></label></p>\n"
              "<p><label>Favourite port <input name=\"port\"></label></p>\n"
              "<p><button type=\"submit\">Send</button></p>\n"
              "</form>\n"
              "<p><a href=\"/\">Back to the start page</a></p>\n");

static const char http_length_required[] =
    HTTP_PAGE("411 Length Required",
              "<p>A POST to this page must say how long its body is in a\n"
              "<code>Content-Length</code> header.</p>\n");

static const char http_unsupported_type[] = HTTP_PAGE(
    "415 Unsupported Media Type",
    "<p>This form takes <code>Content-Type: application/x-www-form-urlencoded</code>.</p>\n");

static const char http_too_large[] =
    HTTP_PAGE("413 Content Too Large", "<p>The body is longer than this form accepts.</p>\n");

static const char http_bad_form[] =
    HTTP_PAGE("400 Bad Request",
              "<p>The body is not <code>name=value&amp;name=value</code> with every\n"
              "<code>%</code> followed by two hex digits.</p>\n");

static int http_hex(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes one urlencoded name or value (+ is a space, %XX a byte) into
 * out, which has room for n bytes. Its length, or -1 on a broken escape. */
static long http_form_decode(const char *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (in[i] == '+') {
      out[o++] = ' ';
    } else if (in[i] == '%') {
      if (i + 2 >= n) return -1;
      int a = http_hex((unsigned char)in[i + 1]), b = http_hex((unsigned char)in[i + 2]);
      if (a < 0 || b < 0) return -1;
      out[o++] = (char)(a << 4 | b);
      i += 2;
    } else {
      out[o++] = in[i];
    }
  }
  return (long)o;
}

/* Appends text to out (room left *room), HTML-escaped; control bytes
 * (NUL from %00 among them) become U+FFFD. */
static void http_html_escape(char **out, size_t *room, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    char tmp[16];
    const char *rep = NULL;
    if (c == '<')
      rep = "&lt;";
    else if (c == '>')
      rep = "&gt;";
    else if (c == '&')
      rep = "&amp;";
    else if (c == '"')
      rep = "&quot;";
    else if (c == '\'')
      rep = "&#39;";
    else if (c < 0x20 && c != '\t' && c != '\n')
      rep = "&#65533;";
    if (!rep) {
      tmp[0] = (char)c;
      tmp[1] = '\0';
      rep = tmp;
    }
    size_t l = strlen(rep);
    if (l >= *room) return;
    memcpy(*out, rep, l);
    *out += l;
    *room -= l;
    **out = '\0';
  }
}

static enum MHD_Result http_send_page(struct http_req *r, unsigned status, const char *page,
                                      size_t len) {
  return http_send(r, status, HTTP_TYPE_HTML, page, len, 0, 0);
}

/* POST /form, first call: the checks that need no body. 0 to read the
 * body; otherwise the answer is queued and *ret holds MHD's result. */
static int http_form_check(struct http_req *r, enum MHD_Result *ret) {
  const char *cl =
      MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  const char *ct =
      MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  size_t tl = strlen("application/x-www-form-urlencoded");
  char *end = NULL;
  unsigned long long n;

  if (!cl) {
    *ret = http_send_page(r, MHD_HTTP_LENGTH_REQUIRED, http_length_required,
                          sizeof http_length_required - 1);
    return -1;
  }
  /* RFC 9110 section 8.3: a type, then optional parameters after ";". */
  if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", tl) != 0 ||
      (ct[tl] && ct[tl] != ';' && ct[tl] != ' ')) {
    *ret = http_send_page(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, http_unsupported_type,
                          sizeof http_unsupported_type - 1);
    return -1;
  }
  errno = 0;
  n = strtoull(cl, &end, 10);
  if (errno || end == cl || *end || n > r->h->form_bytes) {
    *ret = http_send_page(r, MHD_HTTP_CONTENT_TOO_LARGE, http_too_large, sizeof http_too_large - 1);
    return -1;
  }
  return 0;
}

static const char http_form_received[] = HTTP_PAGE_HEAD("Form received", "Form received")
    "<p>The server decoded your body into these fields:</p>\n"
    "<table>\n";

/* POST /form, the whole body read: a page listing what arrived. */
static enum MHD_Result page_form_post(struct http_req *r) {
  const struct http_body *b = r->body;
  size_t cap = 2048 + 6 * 2 * (b ? b->len : 0) + 64;
  char *page = malloc(cap), *o = page, *dec = b ? malloc(b->len + 1) : NULL;
  size_t room = cap;
  int fields = 0;
  enum MHD_Result ret;

  if (!page || (b && !dec)) {
    free(page);
    free(dec);
    return MHD_NO;
  }
  int n = snprintf(o, room, "%s", http_form_received);
  o += n;
  room -= (size_t)n;
  for (size_t i = 0; b && i < b->len;) {
    size_t e = i, eq;
    while (e < b->len && b->data[e] != '&') e++;
    for (eq = i; eq < e && b->data[eq] != '='; eq++) {
    }
    if (e > i) {
      long kl = http_form_decode(b->data + i, eq - i, dec);
      if (kl < 0) goto bad;
      n = snprintf(o, room, "<tr><th>");
      o += n, room -= (size_t)n;
      http_html_escape(&o, &room, dec, (size_t)kl);
      long vl = eq < e ? http_form_decode(b->data + eq + 1, e - eq - 1, dec) : 0;
      if (vl < 0) goto bad;
      n = snprintf(o, room, "</th><td>");
      o += n, room -= (size_t)n;
      http_html_escape(&o, &room, dec, (size_t)vl);
      n = snprintf(o, room, "</td></tr>\n");
      o += n, room -= (size_t)n;
      fields++;
    }
    i = e + 1;
  }
  n = snprintf(o, room,
               "</table>\n<p>%d field%s in %zu bytes of body.</p>\n"
               "<p><a href=\"/form\">Send another</a></p>\n" HTTP_PAGE_TAIL,
               fields, fields == 1 ? "" : "s", b ? b->len : (size_t)0);
  o += n;
  ret = http_send(r, MHD_HTTP_OK, HTTP_TYPE_HTML, page, (size_t)(o - page), 0, 1);
  free(page);
  free(dec);
  return ret;

bad:
  free(page);
  free(dec);
  return http_send_page(r, MHD_HTTP_BAD_REQUEST, http_bad_form, sizeof http_bad_form - 1);
}

static enum MHD_Result page_form(struct http_req *r) {
  if (strcmp(r->method, MHD_HTTP_METHOD_POST) == 0) return page_form_post(r);
  return http_send_static(r, HTTP_TYPE_HTML, http_form_page);
}

/* --- /chat: a WebSocket handshake by hand --------------------------------------------- */

static const char http_upgrade_required[] = HTTP_PAGE(
    "426 Upgrade Required",
    "<p>/chat speaks WebSocket (RFC 6455). Ask for it with <code>Upgrade: websocket</code>,\n"
    "<code>Connection: Upgrade</code>, <code>Sec-WebSocket-Version: 13</code> and a\n"
    "<code>Sec-WebSocket-Key</code> (16 random bytes in base64).</p>\n");

static const char http_bad_chat[] = HTTP_PAGE(
    "400 Bad Request",
    "<p>A WebSocket handshake needs HTTP/1.1 and a <code>Sec-WebSocket-Key</code> that is\n"
    "16 bytes in base64 (24 characters ending in <code>==</code>).</p>\n");

/* MHD sent the 101: the socket is a WebSocket now, the wire's to run. */
static void http_chat_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
                               const char *extra_in, size_t extra_in_size, MHD_socket sock,
                               struct MHD_UpgradeResponseHandle *urh) {
  struct http_lab *h = cls;
  (void)conn;
  (void)con_cls;
  httpwire_chat(h->wire, sock, urh, extra_in, extra_in_size);
}

static enum MHD_Result page_chat(struct http_req *r) {
  const char *upgrade = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Upgrade");
  const char *connection = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Connection");
  const char *version =
      MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Version");
  const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Sec-WebSocket-Key");
  char accept[WSCHAT_ACCEPT_LEN + 1];
  struct MHD_Response *resp;

  /* RFC 9110 section 15.5.22: a 426 names the protocol to upgrade to;
   * RFC 6455 section 4.4: an unknown version gets the versions we speak. */
  if (strcmp(r->method, MHD_HTTP_METHOD_GET) != 0 || !upgrade ||
      !httphead_has_token(upgrade, "websocket") || !connection ||
      !httphead_has_token(connection, "upgrade") || (version && strcmp(version, "13") != 0)) {
    resp = http_page_response(http_upgrade_required, sizeof http_upgrade_required - 1);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Upgrade", "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Version", "13");
    return http_queue(r, MHD_HTTP_UPGRADE_REQUIRED, resp);
  }
  /* RFC 6455 section 4.2.1: HTTP/1.1 or later, a version, a key of 16 bytes. */
  if (strcasecmp(r->version, MHD_HTTP_VERSION_1_1) != 0 || !version || !wschat_key_valid(key))
    return http_send_page(r, MHD_HTTP_BAD_REQUEST, http_bad_chat, sizeof http_bad_chat - 1);
  wschat_accept(key, accept);
  resp = MHD_create_response_for_upgrade(http_chat_upgraded, r->h);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_SERVER, HTTP_SERVER_NAME);
  MHD_add_response_header(resp, "Upgrade", "websocket");
  MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
  return http_queue(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
}

struct http_route {
  const char *path;
  enum MHD_Result (*serve)(struct http_req *r);
  const char *allow; /* NULL: HTTP_ALLOW */
};

static const struct http_route http_routes[] = {
    {"/", page_index, NULL},
    {"/index.html", page_index, NULL},
    {"/about.html", page_about, NULL},
    {"/robots.txt", page_robots, NULL},
    {"/style.css", page_css, NULL},
    {"/flag.html", page_flag, NULL},
    {"/private/", page_private, NULL},
    {"/private", page_private_noslash, NULL},
    {"/old-page", page_old, NULL},
    {"/stream", page_stream, NULL},
    {"/form", page_form, HTTP_ALLOW_FORM},
    {"/chat", page_chat, NULL},
    {NULL, NULL, NULL},
};

/* --- libmicrohttpd callbacks ----------------------------------------------------- */

static void http_peer(struct MHD_Connection *conn, char *out, size_t outlen) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  snprintf(out, outlen, "?");
  if (!ci || !ci->client_addr) return;
  socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                         : sizeof(struct sockaddr_in);
  getnameinfo(ci->client_addr, len, out, (socklen_t)outlen, NULL, 0, NI_NUMERICHOST);
}

/* Answers a request refused from its head (httphead.c), on MHD's first
 * call; a framing fault adds Connection: close, and MHD closes after it. */
static enum MHD_Result http_fault_answer(struct http_req *r, const struct httphead_fault *f) {
  struct MHD_Response *resp = http_page_response(f->page, f->len);
  if (resp && f->close) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  http_peer(r->conn, r->peer, sizeof r->peer);
  log_warn("http lab: %s: %s", r->peer, f->why);
  enum MHD_Result ret = http_queue(r, f->status, resp);
  log_debug("http lab: %s \"%.20s %.200s %.20s\" %u", r->peer, r->method, r->url, r->version,
            r->status);
  return ret;
}

/* 1 if method is one of a route's Allow list. */
static int http_method_allowed(const char *allow, const char *method) {
  return httphead_has_token(allow, method);
}

static enum MHD_Result http_options(struct http_req *r, const char *allow) {
  /* RFC 9110 section 9.3.7: Allow says what the target supports, and
   * an answer without content carries Content-Length: 0. */
  struct MHD_Response *resp =
      MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp) return MHD_NO;
  http_common_headers(resp, NULL);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
  return http_queue(r, MHD_HTTP_OK, resp);
}

static enum MHD_Result http_not_allowed_answer(struct http_req *r, const char *allow) {
  struct MHD_Response *resp = http_page_response(http_not_allowed, sizeof http_not_allowed - 1);
  if (resp) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
  log_warn("http lab: %s: method %.20s refused on %.100s", r->peer, r->method, r->url);
  return http_queue(r, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
}

/* *con_cls of a request whose head was seen and whose body is ignored. */
static char http_head_seen;

static enum MHD_Result http_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **con_cls) {
  struct http_lab *h = cls;
  struct http_req r = {.h = h, .conn = conn, .url = url, .method = method, .version = version};
  enum MHD_Result ret;
  const struct http_route *rt = http_routes;
  while (rt->path && strcmp(rt->path, url) != 0) rt++;
  const char *allow = rt->path && rt->allow ? rt->allow : HTTP_ALLOW;
  int star = strcmp(url, "*") == 0 && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0;
  int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
  if (star) allow = HTTP_ALLOW_FORM; /* OPTIONS *: what the server supports anywhere */
  int allowed = http_method_allowed(allow, method);

  if (!*con_cls) {
    const struct httphead_fault *fault = httphead_check(conn, version);
    if (fault) return http_fault_answer(&r, fault);
  }
  /* MHD calls once when the head is parsed, then for each piece of body,
   * then once more. Answering on the first call makes MHD drop the body
   * and close the connection: right for a method we refuse or a form we
   * refuse before its body, wrong otherwise, where the answer waits for
   * the last call so keep-alive survives. A body sent with GET, HEAD or
   * OPTIONS is read and ignored; a form's is kept (r.body). */
  if (allowed && !*con_cls) {
    if (post && rt->path) {
      http_peer(conn, r.peer, sizeof r.peer);
      if (http_form_check(&r, &ret) != 0) return ret;
      struct http_body *b = calloc(1, sizeof *b + h->form_bytes + 1);
      if (!b) return MHD_NO;
      b->cap = h->form_bytes;
      *con_cls = b;
      return MHD_YES;
    }
    *con_cls = &http_head_seen;
    return MHD_YES;
  }
  if (*upload_data_size) {
    if (*con_cls != &http_head_seen && *con_cls) {
      struct http_body *b = *con_cls;
      size_t n = *upload_data_size;
      if (n > b->cap - b->len) n = b->cap - b->len; /* Content-Length was checked */
      memcpy(b->data + b->len, upload_data, n);
      b->len += n;
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  http_peer(conn, r.peer, sizeof r.peer);
  if (*con_cls && *con_cls != &http_head_seen) r.body = *con_cls;
  if (!allowed && (rt->path || !http_method_allowed(HTTP_ALLOW, method)))
    ret = http_not_allowed_answer(&r, allow);
  else if (star || (rt->path && strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0))
    ret = http_options(&r, allow);
  else if (rt->path)
    ret = rt->serve(&r);
  else
    ret = http_send(&r, MHD_HTTP_NOT_FOUND, HTTP_TYPE_HTML, http_not_found,
                    sizeof http_not_found - 1, 0, 0);
  log_debug("http lab: %s \"%.20s %.200s %.20s\" %u", r.peer, method, url, version, r.status);
  return ret;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a form's body goes with its request. */
static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)conn;
  (void)toe;
  if (*con_cls && *con_cls != &http_head_seen) free(*con_cls);
  *con_cls = NULL;
}

/* --- the per-address cap ----------------------------------------------------------- */

static struct http_peer_count *http_peer_find(struct http_lab *h, const unsigned char key[16]) {
  for (size_t i = 0; i < LIM_HTTP_CONNS; i++)
    if (h->peers[i].n && memcmp(h->peers[i].addr, key, 16) == 0) return &h->peers[i];
  return NULL;
}

/* MHD's accept policy: runs before MHD keeps a new connection. Counting
 * happens in http_notify(), once MHD has really started the connection. */
static enum MHD_Result http_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen) {
  struct http_lab *h = cls;
  unsigned char key[16];
  struct http_peer_count *pc;
  unsigned n = 0;

  if (!addr || addrlen < sizeof(struct sockaddr_in) || addr_key(addr, key, NULL) != 0)
    return MHD_YES; /* not an IP peer: nothing to count it by */
  if (http_key_is_local(h, key)) return MHD_YES;
  pthread_mutex_lock(&h->peers_lock);
  pc = http_peer_find(h, key);
  if (pc) n = pc->n;
  pthread_mutex_unlock(&h->peers_lock);
  if (n < LIM_HTTP_CONNS_PER_IP) return MHD_YES;
  char text[64] = "?";
  getnameinfo(addr, addrlen, text, sizeof text, NULL, 0, NI_NUMERICHOST);
  log_warn("http lab: refused %s: %u connections from that address (cap %d)", text, n,
           LIM_HTTP_CONNS_PER_IP);
  return MHD_NO;
}

/* MHD_OPTION_NOTIFY_CONNECTION: keeps the counts exact. A counted
 * connection keeps its slot in *socket_context until it closes. */
static void http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe) {
  struct http_lab *h = cls;
  struct http_peer_count *pc = NULL;
  unsigned char key[16];

  if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    pc = *socket_context;
    *socket_context = NULL;
    if (!pc) return;
    pthread_mutex_lock(&h->peers_lock);
    if (pc->n) pc->n--;
    pthread_mutex_unlock(&h->peers_lock);
    return;
  }
  if (toe != MHD_CONNECTION_NOTIFY_STARTED) return;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (!ci || !ci->client_addr || addr_key(ci->client_addr, key, NULL) != 0 ||
      http_key_is_local(h, key))
    return;
  pthread_mutex_lock(&h->peers_lock);
  pc = http_peer_find(h, key);
  for (size_t i = 0; !pc && i < LIM_HTTP_CONNS; i++)
    if (!h->peers[i].n) {
      pc = &h->peers[i];
      memcpy(pc->addr, key, 16);
    }
  if (pc) pc->n++;
  pthread_mutex_unlock(&h->peers_lock);
  /* No free slot cannot happen while MHD holds at most LIM_HTTP_CONNS
   * connections; such a connection would just go uncounted. */
  *socket_context = pc;
}

/* libmicrohttpd reports protocol violations and resource limits here. */
static void http_log(void *cls, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  /* MHD's end of each connection is a Unix socketpair (httpwire.c) that
   * MHD takes for TCP, because it carries the client's TCP address: the
   * TCP options it tries there fail, and there is no Nagle delay to warn
   * about. Those messages say nothing about the client. */
  if (strstr(msg, "TCP_NODELAY") || strstr(msg, "TCP_CORK") ||
      strstr(msg, "Failed to push the data from buffers"))
    return;
  log_warn("http lab: %s", msg);
}

/* The wire's question: is this connection a relay session (which the
 * relay records)? Asked at the client's first byte. */
static int http_wire_relayed(void *cls, const struct sockaddr *sa) {
  int port = 0;
  return http_peer_is_local(cls, sa, &port) && labident_lookup(port) != 0;
}

/* --- start and stop --------------------------------------------------------------- */

struct http_lab *http_lab_start(const struct http_lab_config *cfg, char *err, size_t errlen) {
  struct http_lab *h = calloc(1, sizeof *h);
  struct sockaddr_storage ss;
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
  char why[256];

  if (!h) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&h->peers_lock, NULL);
  memset(&ss, 0, sizeof ss);
  if (cfg->port <= 0 || cfg->port > 65535) {
    snprintf(err, errlen, "HTTP lab port %d is out of range", cfg->port);
    goto fail;
  }
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, cfg->bind_addr, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)cfg->port);
  } else if (inet_pton(AF_INET6, cfg->bind_addr, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)cfg->port);
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, errlen, "HTTP lab: %s is not a numeric address", cfg->bind_addr);
    goto fail;
  }
  h->bind = ss;
  snprintf(h->secret, sizeof h->secret, "%s", cfg->secret ? cfg->secret : "");
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(h->last_modified, sizeof h->last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);

  h->db = db_open(cfg->db_path, why, sizeof why);
  if (!h->db) {
    snprintf(err, errlen, "HTTP lab: database: %s", why);
    goto fail;
  }
  h->form_bytes = cfg->form_bytes ? cfg->form_bytes : LIM_HTTP_FORM_BYTES;
  if (cfg->tls_cert && cfg->tls_key) {
    /* HTTPS: the wire terminates TLS with the lab certificate, through the
     * same engine as the TLS mail ports, and MHD gets the plaintext as on
     * the plain port. The context is this lab's own: its one user is the
     * wire thread, so the loop's servers share no state with it. */
    h->tls_ctx = tlsca_server_ctx(cfg->tls_cert, cfg->tls_key, NULL, why, sizeof why);
    if (!h->tls_ctx) {
      snprintf(err, errlen, "HTTPS lab: %s", why);
      goto fail;
    }
  }
  const struct lab_service *svc = lab_service_by_name(h->tls_ctx ? "https" : "http");
  struct httpwire_config wc = {.bind = (struct sockaddr *)&ss,
                               .bind_len = ss.ss_family == AF_INET6 ? sizeof *v6 : sizeof *v4,
                               .lws = cfg->lws,
                               .record = cfg->lab && cfg->lab->rec && cfg->lws,
                               .relayed = http_wire_relayed,
                               .relayed_cls = h,
                               .tls_ctx = h->tls_ctx};
  int svc_port = svc ? svc->port : 80; /* the well-known port transcripts name */
  if (wc.record && !(h->rec = httprec_new(cfg->lab, svc_port, h->tls_ctx != NULL))) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  h->wire = httpwire_listen(&wc, why, sizeof why);
  if (!h->wire) {
    snprintf(err, errlen, "HTTP lab: cannot listen on %s port %d: %s", cfg->bind_addr, cfg->port,
             why);
    goto fail;
  }
  /* The wire accepts and hands each connection over (MHD_add_connection,
   * which needs MHD_USE_ITC to wake MHD's thread); MHD listens on nothing. */
  flags |= MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC | MHD_ALLOW_UPGRADE;
  h->daemon =
      MHD_start_daemon(flags, 0, http_accept, h, http_handle, h,
                       /* First, so that MHD's messages about the options go here too. */
                       MHD_OPTION_EXTERNAL_LOGGER, http_log, h, MHD_OPTION_CONNECTION_TIMEOUT,
                       (unsigned int)LIM_HTTP_TIMEOUT_SECS, MHD_OPTION_CONNECTION_LIMIT,
                       (unsigned int)LIM_HTTP_CONNS, MHD_OPTION_NOTIFY_CONNECTION, http_notify, h,
                       MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
                       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LIM_HTTP_MEMORY_BYTES,
                       /* 0, MHD's default: the Host rule is checked in httphead_check(). */
                       MHD_OPTION_STRICT_FOR_CLIENT, (int)0, MHD_OPTION_END);
  if (!h->daemon) {
    snprintf(err, errlen, "HTTP lab: cannot start the web server on %s port %d", cfg->bind_addr,
             cfg->port);
    goto fail;
  }
  if (httpwire_run(h->wire, h->daemon) != 0) {
    snprintf(err, errlen, "HTTP lab: cannot start its thread");
    goto fail;
  }
  log_info("http lab: listening on %s port %d%s", cfg->bind_addr, cfg->port,
           h->tls_ctx ? " (HTTPS)" : "");
  return h;

fail:
  httpwire_free(h->wire);
  if (h->daemon) MHD_stop_daemon(h->daemon);
  SSL_CTX_free(h->tls_ctx); /* after the wire: its thread used it */
  httprec_free(h->rec);
  db_close(h->db);
  pthread_mutex_destroy(&h->peers_lock);
  free(h);
  return NULL;
}

void http_lab_drain(struct http_lab *h) {
  struct httpwire_recs list;
  if (!h || !h->wire) return;
  httpwire_take(h->wire, &list);
  if (STAILQ_EMPTY(&list)) return;
  httprec_apply(h->rec, &list);
  httpwire_rec_free(&list);
}

void http_lab_stop(struct http_lab *h) {
  if (!h) return;
  /* The wire first: it ends every connection (an upgraded one through
   * MHD, which must happen before MHD stops) and queues their ends. */
  httpwire_stop(h->wire);
  http_lab_drain(h);
  MHD_stop_daemon(h->daemon); /* joins the thread: nothing uses h->db after this */
  httpwire_free(h->wire);
  SSL_CTX_free(h->tls_ctx); /* after the wire: its thread used it */
  httprec_free(h->rec);
  db_close(h->db);
  pthread_mutex_destroy(&h->peers_lock);
  free(h);
}
