/* portal.c -- the one listening port: embedded web assets, REST API and /ws.
 *
 * One lws vhost serves everything on one origin. Its first protocol is
 * plain HTTP (assets and the REST API); the second is portlab.v1, the relay's
 * WebSocket. A WebSocket upgrade that names no subprotocol lands on the
 * first protocol, which refuses it. Outbound relay sockets live on a
 * second vhost that does not listen, so a browser cannot pick their
 * protocol by name.
 *
 * Every request must carry an acceptable Host (DNS rebinding); POSTs must
 * carry an acceptable Origin when they carry one at all, and JSON. Bodies
 * are collected up to LIM_JSON_BODY_BYTES; the answer is written only after
 * the body is consumed so keep-alive stays in step.
 *
 * Bodies go out one chunk per HTTP_WRITEABLE. A transcript export streams:
 * each writable callback asks the export for at most LIM_EXPORT_CHUNK bytes
 * (it reads a bounded page of events to make them) and writes them as one
 * chunk of chunked transfer encoding, so one download never holds the loop
 * and its end is marked (a cut-off download is an error, not a short file).
 * An HTTP/1.0 client gets the plain bytes and the connection is closed.
 */
#include "portal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "app.h"
#include "assets.h"
#include "auth.h"
#include "export.h"
#include "log.h"
#include "portlab_limits.h"
#include "relay.h"
#include "throttle.h"

#define CSP                                                                          \
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; " \
  "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "  \
  "form-action 'self'"

struct http_conn {
  enum api_method method;
  int is_head;
  char path[256];
  char arg_format[16], arg_user[LIM_NAME_LEN + 1];
  int arg_user_too_long;
  struct throttle_addr client;
  int client_local, secure;
  char arg_limit[24], arg_before[24]; /* "" absent; "-" present but empty or too long */
  char *cookie, *content_type;
  char *body;
  size_t body_len;
  int body_too_large;
  /* the response body being written */
  const unsigned char *out;
  size_t out_len, out_off;
  char *out_owned;       /* freed when written */
  struct export *stream; /* or a streamed body (a transcript export) */
  int chunked;           /* stream with chunked transfer encoding */
};

static void conn_reset(struct http_conn *c) {
  free(c->cookie);
  free(c->content_type);
  free(c->body);
  free(c->out_owned);
  export_free(c->stream);
  memset(c, 0, sizeof *c);
}

/* A header as a malloc'd string, or NULL when absent. */
static char *header_dup(struct lws *wsi, enum lws_token_indexes token) {
  int n = lws_hdr_total_length(wsi, token);
  if (n <= 0) return NULL;
  char *s = malloc((size_t)n + 1);
  if (s && lws_hdr_copy(wsi, s, n + 1, token) < 0) s[0] = '\0';
  return s;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end) {
  return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                     (int)strlen(value), p, end);
}

/* The headers every answer carries after its status line and type, then
 * extra (name, value, ..., NULL) and the end of the header block. */
static int end_headers(struct lws *wsi, const char *const *extra, unsigned char *start,
                       unsigned char **p, unsigned char *end) {
  if (add_header(wsi, "x-content-type-options:", "nosniff", p, end) ||
      add_header(wsi, "referrer-policy:", "no-referrer", p, end) ||
      add_header(wsi, "x-frame-options:", "DENY", p, end) ||
      add_header(wsi, "content-security-policy:", CSP, p, end))
    return -1;
  for (size_t i = 0; extra && extra[i]; i += 2)
    if (add_header(wsi, extra[i], extra[i + 1], p, end)) return -1;
  return lws_finalize_write_http_header(wsi, start, p, end) ? -1 : 0;
}

/* Writes the status line and headers; the body (if any) follows from
 * HTTP_WRITEABLE. owned bodies are freed once written. */
static int respond(struct lws *wsi, struct http_conn *c, int status, const char *type,
                   const unsigned char *body, size_t len, char *owned, const char *const *extra) {
  unsigned char headers[LWS_PRE + 2048], *start = headers + LWS_PRE, *p = start,
                                         *end = headers + sizeof headers - 1;
  c->out = body;
  c->out_len = len;
  c->out_off = 0;
  c->out_owned = owned;
  if (lws_add_http_common_headers(wsi, (unsigned)status, type, len, &p, end) ||
      end_headers(wsi, extra, start, &p, end))
    return -1;
  if (len && !c->is_head) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  free(c->out_owned);
  c->out_owned = NULL;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Starts a streamed body of unknown length; HTTP_WRITEABLE writes it from
 * the export, which c then owns. */
static int respond_stream(struct lws *wsi, struct http_conn *c, int status, const char *type,
                          struct export *stream, const char *const *extra) {
  unsigned char headers[LWS_PRE + 2048], *start = headers + LWS_PRE, *p = start,
                                         *end = headers + sizeof headers - 1;
  c->stream = stream;
  /* lws keeps the request's version ("HTTP/1.1") under WSI_TOKEN_HTTP. */
  char version[16] = "";
  lws_hdr_copy(wsi, version, sizeof version, WSI_TOKEN_HTTP);
  c->chunked = strcmp(version, "HTTP/1.0") != 0;
  if (c->chunked) {
    /* Not lws_add_http_common_headers: without a length it says
     * "connection: close", and a chunked body keeps the connection. */
    if (lws_add_http_header_status(wsi, (unsigned)status, &p, end) ||
        add_header(wsi, "content-type:", type, &p, end) ||
        add_header(wsi, "transfer-encoding:", "chunked", &p, end))
      return -1;
  } else if (lws_add_http_common_headers(wsi, (unsigned)status, type, LWS_ILLEGAL_HTTP_CONTENT_LEN,
                                         &p, end)) {
    return -1;
  }
  if (end_headers(wsi, extra, start, &p, end)) return -1;
  if (!c->is_head) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  export_free(c->stream);
  c->stream = NULL;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int respond_api(struct lws *wsi, struct http_conn *c, struct api_response *resp) {
  const char *extra[10];
  size_t n = 0;
  extra[n++] = "cache-control:";
  extra[n++] = "no-store";
  if (resp->set_cookie[0]) {
    extra[n++] = "set-cookie:";
    extra[n++] = resp->set_cookie;
  }
  if (resp->content_disposition[0]) {
    extra[n++] = "content-disposition:";
    extra[n++] = resp->content_disposition;
  }
  char retry[16];
  if (resp->retry_after > 0) {
    snprintf(retry, sizeof retry, "%d", resp->retry_after);
    extra[n++] = "retry-after:";
    extra[n++] = retry;
  }
  extra[n] = NULL;
  if (resp->stream)
    return respond_stream(wsi, c, resp->status, resp->content_type, resp->stream, extra);
  return respond(wsi, c, resp->status, resp->content_type ? resp->content_type : "text/plain",
                 (const unsigned char *)resp->body, resp->body_len, resp->body, extra);
}

static int respond_error(struct lws *wsi, struct http_conn *c, int status, const char *code,
                         const char *message) {
  struct api_response resp;
  memset(&resp, 0, sizeof resp);
  api_error(&resp, status, code, message);
  return respond_api(wsi, c, &resp);
}

static int serve_api(struct lws *wsi, struct http_conn *c) {
  struct app *app = lws_context_user(lws_get_context(wsi));
  struct api_request req = {
      .method = c->method,
      .path = c->path,
      .arg_format = c->arg_format[0] ? c->arg_format : NULL,
      .arg_user = c->arg_user[0] ? c->arg_user : NULL,
      .arg_user_too_long = c->arg_user_too_long,
      .arg_limit = c->arg_limit[0] ? c->arg_limit : NULL,
      .arg_before = c->arg_before[0] ? c->arg_before : NULL,
      .cookie = c->cookie,
      .content_type = c->content_type,
      .body = c->body,
      .body_len = c->body_len,
      .body_too_large = c->body_too_large,
      .client = c->client,
      .client_local = c->client_local,
      .secure = c->secure,
  };
  struct api_response resp;
  api_handle(app, &req, &resp);
  return respond_api(wsi, c, &resp);
}

static int serve_asset(struct lws *wsi, struct http_conn *c) {
  const struct asset *a = assets_find(c->path);
  if (!a) {
    static const char missing[] = "404 not found\n";
    return respond(wsi, c, 404, "text/plain; charset=utf-8", (const unsigned char *)missing,
                   sizeof missing - 1, NULL, NULL);
  }
  char inm[128] = "", accept[256] = "";
  lws_hdr_copy(wsi, inm, sizeof inm, WSI_TOKEN_HTTP_IF_NONE_MATCH);
  lws_hdr_copy(wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT_ENCODING);
  const char *extra[] = {
      "etag:", a->etag, "cache-control:", "no-cache", "vary:", "Accept-Encoding", NULL, NULL, NULL};
  if (inm[0] && strcmp(inm, a->etag) == 0)
    return respond(wsi, c, 304, a->mime, NULL, 0, NULL, extra);
  if (strstr(accept, "gzip")) {
    extra[6] = "content-encoding:";
    extra[7] = "gzip";
    return respond(wsi, c, 200, a->mime, a->gz, a->gz_len, NULL, extra);
  }
  return respond(wsi, c, 200, a->mime, a->raw, a->raw_len, NULL, extra);
}

/* Copies the query argument "name=" into out. 1 when it is there but
 * longer than out (so it is refused, never silently dropped), else 0. */
static int copy_arg(struct lws *wsi, const char *name, char *out, size_t outlen) {
  size_t namelen = strlen(name);
  out[0] = '\0';
  /* Fragments are "name=value", urldecoded; an empty one ("?&user=x") has
   * length 0, so the end is where copying fails. */
  for (int i = 0;; i++) {
    int n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    char *frag = malloc((size_t)n + 1);
    if (!frag) return 1;
    if (lws_hdr_copy_fragment(wsi, frag, n + 1, WSI_TOKEN_HTTP_URI_ARGS, i) < 0) {
      free(frag);
      return 0;
    }
    if (strncmp(frag, name, namelen) == 0) {
      int too_long = strlen(frag + namelen) >= outlen;
      if (!too_long) memcpy(out, frag + namelen, strlen(frag + namelen) + 1);
      free(frag);
      return too_long;
    }
    free(frag);
  }
}

static int http_writeable(struct lws *wsi, struct http_conn *c);

/* Who sent the request: the TCP peer, or with --trust-proxy the last
 * X-Forwarded-For entry (the one the proxy itself added; any earlier ones
 * are the client's word). Marks this machine (--local-net). 0 or -1. */
static int client_address(struct lws *wsi, struct app *app, struct http_conn *c) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd = lws_get_socket_fd(lws_get_network_wsi(wsi));
  if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) ||
      throttle_addr_from_sockaddr((struct sockaddr *)&ss, len, &c->client))
    return -1;
  int forwarded_bad = 0;
  if (app->cfg.trust_proxy) {
    char *xff = header_dup(wsi, WSI_TOKEN_X_FORWARDED_FOR);
    if (xff) {
      char *last = strrchr(xff, ',');
      last = last ? last + 1 : xff;
      while (*last == ' ' || *last == '\t') last++;
      last[strcspn(last, " \t")] = '\0';
      struct throttle_addr fwd;
      if (throttle_addr_parse(last, &fwd) == 0)
        c->client = fwd;
      else
        forwarded_bad = 1; /* counted under the proxy's address, never as this machine */
      free(xff);
    }
  }
  c->client_local = 0;
  for (size_t i = 0; i < app->cfg.n_local_net; i++)
    if (throttle_net_contains(&app->cfg.local_net[i], &c->client)) c->client_local = 1;
  if (!app->cfg.n_local_net) c->client_local = throttle_addr_is_loopback(&c->client);
  if (forwarded_bad) c->client_local = 0;
  return 0;
}

/* A numeric argument: "" when absent, "-" (never valid) when empty or
 * longer than out holds, so a cut or oversized value is refused rather
 * than read as another number or as no argument at all. */
static void copy_num_arg(struct lws *wsi, const char *name, char *out, size_t outlen) {
  int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  out[0] = '\0';
  if (total <= 0) return;
  /* Room for any one argument, so lws never skips a long one. */
  char *tmp = malloc((size_t)total + 1);
  const char *value = tmp ? lws_get_urlarg_by_name(wsi, name, tmp, total + 1) : NULL;
  if (value) snprintf(out, outlen, "%s", !value[0] || strlen(value) >= outlen ? "-" : value);
  free(tmp);
}

/* Answers a request whose body is never read, at once, and closes: lws
 * would otherwise wait for the rest of the body. */
static int refuse_unread(struct lws *wsi, struct http_conn *c, int status, const char *code,
                         const char *message) {
  c->body_too_large = 1;
  if (respond_error(wsi, c, status, code, message)) return -1;
  http_writeable(wsi, c);
  return -1;
}

/* LWS_CALLBACK_HTTP: a request's headers are in. */
static int http_request(struct lws *wsi, struct http_conn *c) {
  struct app *app = lws_context_user(lws_get_context(wsi));
  char *uri = NULL, host[256] = "", origin[256] = "", clen[24] = "";
  int uri_len = 0;
  conn_reset(c);
  int m = lws_http_get_uri_and_method(wsi, &uri, &uri_len);
  c->method = m == LWSHUMETH_GET || m == LWSHUMETH_HEAD ? API_GET
              : m == LWSHUMETH_POST                     ? API_POST
              : m == LWSHUMETH_PUT                      ? API_PUT
                                                        : API_OTHER;
  c->is_head = m == LWSHUMETH_HEAD;
  if (m < 0 || !uri || uri_len <= 0 || (size_t)uri_len >= sizeof c->path)
    return respond_error(wsi, c, 400, "bad_request", "bad request line");
  memcpy(c->path, uri, (size_t)uri_len);
  c->path[uri_len] = '\0';

  if (lws_hdr_copy(wsi, host, sizeof host, WSI_TOKEN_HOST) <= 0 ||
      !auth_host_ok(host, app->cfg.public_origin, app->cfg.n_public_origin)) {
    char shown_path[sizeof c->path], shown_host[sizeof host];
    auth_printable(c->path, shown_path, sizeof shown_path);
    auth_printable(host, shown_host, sizeof shown_host);
    log_warn("refused %s: Host '%s' is not accepted", shown_path, shown_host);
    return respond_error(wsi, c, 403, "bad_host",
                         "this Host is not accepted; use the address the teacher gave you");
  }
  if (app->phase != APP_RUNNING)
    return respond_error(wsi, c, 503, "shutting_down", "portlab is shutting down");

  if (strncmp(c->path, "/api/", 5) != 0) {
    if (c->method != API_GET)
      return respond_error(wsi, c, 405, "method_not_allowed", "only GET is allowed here");
    return serve_asset(wsi, c);
  }
  if (copy_arg(wsi, "format=", c->arg_format, sizeof c->arg_format))
    snprintf(c->arg_format, sizeof c->arg_format, "?"); /* unknown: 400 from the handler */
  c->arg_user_too_long = copy_arg(wsi, "user=", c->arg_user, sizeof c->arg_user);
  if (client_address(wsi, app, c)) return respond_error(wsi, c, 400, "bad_request", "no peer");
  copy_num_arg(wsi, "limit=", c->arg_limit, sizeof c->arg_limit);
  copy_num_arg(wsi, "before=", c->arg_before, sizeof c->arg_before);
  c->cookie = header_dup(wsi, WSI_TOKEN_HTTP_COOKIE);
  c->content_type = header_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
  if (c->method != API_POST && c->method != API_PUT) return serve_api(wsi, c);

  if (lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) > 0 &&
      !auth_origin_ok(origin, host, app->cfg.public_origin, app->cfg.n_public_origin)) {
    char shown_path[sizeof c->path], shown_origin[sizeof origin];
    auth_printable(c->path, shown_path, sizeof shown_path);
    auth_printable(origin, shown_origin, sizeof shown_origin);
    log_warn("refused POST %s: Origin '%s'", shown_path, shown_origin);
    c->body_too_large = 1; /* swallow the body, answer at completion */
    return respond_error(wsi, c, 403, "bad_origin", "requests from this Origin are refused");
  }
  c->secure = app->cfg.tls_cert[0] ||
              auth_origin_https_public(origin, app->cfg.public_origin, app->cfg.n_public_origin);
  /* RFC 9110 section 8.6: Content-Length is one run of digits, sent once.
   * Anything else is a framing error that a proxy in front may have read
   * another way, so the body is never read. */
  int clen_total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  if (clen_total && (clen_total != lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 0) ||
                     lws_hdr_copy(wsi, clen, sizeof clen, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
                     clen[strspn(clen, "0123456789")] != '\0'))
    return refuse_unread(wsi, c, 400, "bad_request",
                         "send one Content-Length header, a decimal number");
  if (clen_total && strtoull(clen, NULL, 10) > LIM_JSON_BODY_BYTES) {
    c->body_too_large = 1;
    /* The body is never read: answer now and close rather than drain it. */
    respond_error(wsi, c, 413, "payload_too_large", "request body is larger than 8192 bytes");
    return 0;
  }
  /* A chunked body would be waited for until a timeout. */
  if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING))
    return refuse_unread(wsi, c, 411, "length_required",
                         "send the body with a Content-Length, not chunked");
  /* No body at all, or an empty one: lws 4.1 never completes an empty
   * PUT body, so neither waits for HTTP_BODY_COMPLETION. */
  if (!clen_total || strtoull(clen, NULL, 10) == 0) return serve_api(wsi, c);
  return 0; /* wait for HTTP_BODY ... HTTP_BODY_COMPLETION */
}

static int http_body(struct http_conn *c, const void *in, size_t len) {
  /* lws also reports the empty body of a POST (in NULL, len 0). */
  if (c->body_too_large || !len) return 0;
  if (c->body_len + len > LIM_JSON_BODY_BYTES) {
    c->body_too_large = 1;
    return 0;
  }
  char *grown = realloc(c->body, c->body_len + len + 1);
  if (!grown) return -1;
  c->body = grown;
  memcpy(c->body + c->body_len, in, len);
  c->body_len += len;
  return 0;
}

/* After a piece of a body went out: renews the timeout and, unless it was
 * the last piece, asks to write again. Returns last.
 * lws gives a request PENDING_TIMEOUT_HTTP_CONTENT once, when it arrives,
 * and renews it only for the files it serves itself: a body written here
 * that takes longer in all would be cut short. Each chunk that goes out
 * renews it, so only a reader that takes nothing for LIM_HTTP_STALL_SECS is
 * dropped. */
static int sent_piece(struct lws *wsi, int last) {
  lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, LIM_HTTP_STALL_SECS);
  if (!last) lws_callback_on_writable(wsi);
  return last;
}

/* One step of a streamed body: at most LIM_EXPORT_CHUNK bytes, framed as
 * one chunk ("SIZE\r\n" DATA "\r\n"), with the last chunk ("0\r\n\r\n")
 * after the end. Any failure closes the connection, so the body visibly
 * never ends. */
static int stream_writeable(struct lws *wsi, struct http_conn *c) {
  struct app *app = lws_context_user(lws_get_context(wsi));
  enum { SIZE_LINE = 16, TAIL = 8 };
  unsigned char chunk[LWS_PRE + SIZE_LINE + LIM_EXPORT_CHUNK + TAIL];
  unsigned char *data = chunk + LWS_PRE + SIZE_LINE, *start = data;
  int done = 0;
  int n = export_read(c->stream, app->db, data, LIM_EXPORT_CHUNK, &done);
  if (n < 0) {
    log_error(
        "transcript export failed part way (database error or past %d bytes); "
        "closing the download",
        LIM_EXPORT_BYTES);
    return -1;
  }
  size_t len = (size_t)n;
  if (c->chunked && n > 0) {
    char line[SIZE_LINE];
    int k = snprintf(line, sizeof line, "%x\r\n", (unsigned)n);
    start -= k;
    memcpy(start, line, (size_t)k);
    memcpy(data + n, "\r\n", 2);
    len = (size_t)(data + n + 2 - start);
  }
  if (c->chunked && done) {
    memcpy(start + len, "0\r\n\r\n", 5);
    len += 5;
  }
  if (len && lws_write(wsi, start, len, done ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)len)
    return -1;
  if (!sent_piece(wsi, done)) return 0;
  export_free(c->stream);
  c->stream = NULL;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_writeable(struct lws *wsi, struct http_conn *c) {
  unsigned char chunk[LWS_PRE + 16384];
  if (c->stream) return stream_writeable(wsi, c);
  if (!c->out) return 0;
  size_t n = c->out_len - c->out_off;
  if (n > sizeof chunk - LWS_PRE) n = sizeof chunk - LWS_PRE;
  memcpy(chunk + LWS_PRE, c->out + c->out_off, n);
  c->out_off += n;
  int last = c->out_off == c->out_len;
  if (lws_write(wsi, chunk + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int)n)
    return -1;
  if (!sent_piece(wsi, last)) return 0;
  free(c->out_owned);
  c->out_owned = NULL;
  c->out = NULL;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
  struct http_conn *c = user;
  switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
      log_warn("websocket refused: no %s subprotocol", RELAY_WS_PROTOCOL);
      return 1;
    case LWS_CALLBACK_HTTP:
      return http_request(wsi, c);
    case LWS_CALLBACK_HTTP_BODY:
      return http_body(c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (c->out || c->stream) return 0; /* already answered (refused Origin) */
      return serve_api(wsi, c);
    case LWS_CALLBACK_HTTP_WRITEABLE:
      return http_writeable(wsi, c);
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
      if (c) conn_reset(c);
      return 0;
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
      /* The portal vhost's TLS context (the only server TLS vhost), kept
       * so SIGHUP can give it a renewed certificate. */
      ((struct app *)lws_context_user(lws_get_context(wsi)))->portal_ssl_ctx = user;
      return 0;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static struct lws_protocols portal_protocols[] = {
    {"http", http_callback, sizeof(struct http_conn), 0, 0, NULL, 0},
    /* rx: lws reads a WebSocket at most this much per poll turn, into a
     * buffer of its own per WebSocket (mapped by lwsalloc.c, so only the
     * pages a session's traffic touches become resident). tx: without it lws cuts every send to the
     * rx size and queues the rest, copying it; a whole frame goes to the
     * kernel at once. */
    {RELAY_WS_PROTOCOL, relay_ws_callback, 0 /* set at start */, LIM_RELAY_READ_BYTES, 0, NULL,
     LIM_RELAY_FRAME_BYTES + 16},
    {NULL, NULL, 0, 0, 0, NULL, 0}};

static const struct lws_protocols client_protocols[] = {
    {RELAY_TCP_PROTOCOL, relay_tcp_callback, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

static const lws_retry_bo_t ws_keepalive = {
    .secs_since_valid_ping = LIM_WS_PING_SECS,
    .secs_since_valid_hangup = LIM_WS_HANGUP_SECS,
};

static void lws_log_bridge(int level, const char *line) {
  size_t n = strlen(line);
  while (n && line[n - 1] == '\n') n--;
  log_msg(level == LLL_ERR    ? LOG_ERROR
          : level == LLL_WARN ? LOG_WARN
                              : LOG_DEBUG,
          "lws: %.*s", (int)n, line);
}

/* Whether cert (a PEM chain) and key (PEM) can be read and belong
 * together, tried on a scratch context so a bad pair changes nothing.
 * 0, or -1 with the reason in err. */
static int portal_check_cert(const char *cert, const char *key, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  int rc = -1;
  if (!ctx) {
    snprintf(err, errlen, "--tls-cert: cannot make a TLS context");
  } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    snprintf(err, errlen, "--tls-key: cannot read a PEM private key from %s", key);
  } else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) { /* drops a key that differs */
    snprintf(err, errlen, "--tls-cert: cannot read a PEM certificate chain from %s", cert);
  } else if (SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(err, errlen, "--tls-key: %s is not the key of the certificate in %s", key, cert);
  } else {
    rc = 0;
  }
  ERR_clear_error();
  SSL_CTX_free(ctx);
  return rc;
}

int portal_reload_cert(struct app *app, char *err, size_t errlen) {
  SSL_CTX *ctx = app->portal_ssl_ctx;
  if (!app->cfg.tls_cert[0] || !ctx) {
    snprintf(err, errlen, "the portal does not serve HTTPS");
    return -1;
  }
  if (portal_check_cert(app->cfg.tls_cert, app->cfg.tls_key, err, errlen)) return -1;
  /* Checked above: this cannot fail half-way but for a file replaced in
   * between, which the check below catches (new connections would then
   * fail until the next good reload). */
  if (SSL_CTX_use_certificate_chain_file(ctx, app->cfg.tls_cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, app->cfg.tls_key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    snprintf(err, errlen, "the certificate files changed while they were read; send SIGHUP again");
    return -1;
  }
  return 0;
}

int portal_start(struct app *app, char *err, size_t errlen) {
  lws_set_log_level(LLL_ERR | LLL_WARN | (app->cfg.log_level >= LOG_DEBUG ? LLL_NOTICE : 0),
                    lws_log_bridge);
  portal_protocols[1].per_session_data_size = relay_ws_pss_size();

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  if (app->cfg.tls_cert[0]) info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.max_http_header_data = LIM_HTTP_HEADER_BYTES;
  info.user = app;
  info.port = CONTEXT_PORT_NO_LISTEN;
  /* lws reads every socket into this one buffer: large reads from a relay
   * target mean large frames to the browser (the default is 4 KiB). */
  info.pt_serv_buf_size = LWS_PRE + LIM_RELAY_READ_BYTES;
  app->ctx = lws_create_context(&info);
  if (!app->ctx) {
    snprintf(err, errlen, "cannot create the libwebsockets context");
    return -1;
  }

  memset(&info, 0, sizeof info);
  info.vhost_name = "portal";
  info.port = app->cfg.listen_port;
  info.iface =
      strcmp(app->cfg.listen_addr, "0.0.0.0") == 0 || strcmp(app->cfg.listen_addr, "::") == 0
          ? NULL
          : app->cfg.listen_addr;
  info.protocols = portal_protocols;
  info.retry_and_idle_policy = &ws_keepalive;
  info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 * 0; /* binary frames carry telnet's 0xFF */
  if (strchr(app->cfg.listen_addr, '.')) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  if (app->cfg.tls_cert[0]) { /* HTTPS and WSS on the same port */
    if (portal_check_cert(app->cfg.tls_cert, app->cfg.tls_key, err, errlen)) return -1;
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT; /* lws reads it per vhost too */
    info.ssl_cert_filepath = app->cfg.tls_cert;
    info.ssl_private_key_filepath = app->cfg.tls_key;
  }
  app->portal_vhost = lws_create_vhost(app->ctx, &info);
  if (!app->portal_vhost) {
    snprintf(err, errlen, "--listen: cannot listen on %s:%d (in use, or not an address here)",
             app->cfg.listen_addr, app->cfg.listen_port);
    return -1;
  }

  memset(&info, 0, sizeof info);
  info.vhost_name = "relay-client";
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = client_protocols;
  info.connect_timeout_secs = (unsigned)app->cfg.connect_timeout + 1; /* ours fires first */
  app->client_vhost = lws_create_vhost(app->ctx, &info);
  if (!app->client_vhost) {
    snprintf(err, errlen, "cannot create the relay client vhost");
    return -1;
  }
  return 0;
}

void portal_stop(struct app *app) {
  if (app->ctx) lws_context_destroy(app->ctx);
  app->ctx = NULL;
}
