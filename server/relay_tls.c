/* relay_tls.c -- the relay as a TLS client: mode "tls" and "starttls".
 *
 * A thin layer over tlsmem (common/tlsmem.c, the engine the lab servers
 * use in the server role): it pumps ciphertext and plaintext between the
 * engine and the relay's queues, reports both layers for the transcript,
 * judges the certificate once the handshake is done, and holds the
 * student's plaintext until then. See relay_tls.h for the contract.
 *
 * The client contexts are made on first use and kept for the run: one
 * trusting only the lab CA (for "lab"), one trusting the system's CAs and
 * --tls-ca (for real targets). Both let the handshake finish whatever the certificate
 * (tlsca_client_ctx with verify 0) so the chain can be shown when it
 * fails; tlsmem checks the name the student typed (or the address)
 * against it, and the verification line of the summary is judged here
 * right after the handshake.
 */
#include "relay_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "buf.h"
#include "db.h"
#include "log.h"
#include "portlab_limits.h"
#include "tlsca.h"
#include "tlsmem.h"

struct relay_tls_ctx {
  SSL_CTX *lab, *real;
};

struct relay_tls {
  struct tlsmem *tm;
  const struct relay_tls_io *io;
  void *arg;
  int judged;   /* handshake done and the certificate judged */
  int insecure; /* a failed verification only gives a note */
  int failed;
  struct buf held; /* plaintext typed before the judgement */
  char error[256];
};

static SSL_CTX *client_ctx(struct app *app, int is_lab, char *err, size_t errlen) {
  struct relay_tls_ctx *c = app->relay_tls;
  if (!c && !(c = app->relay_tls = calloc(1, sizeof *c))) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  SSL_CTX **slot = is_lab ? &c->lab : &c->real;
  if (*slot) return *slot;
  /* The lab: its own CA only (protocols/labtls.c keeps it in the
   * database). Real targets: the system's CAs and --tls-ca. */
  if (is_lab && !app->lab_ca_pem) {
    snprintf(err, errlen, "the lab has no TLS (--lab-tls-ports is off)");
    return NULL;
  }
  SSL_CTX *ctx = tlsca_client_ctx(is_lab ? app->lab_ca_pem : NULL, 0, err, errlen);
  if (!ctx) return NULL;
  if (!is_lab && app->cfg.tls_ca[0] &&
      SSL_CTX_load_verify_locations(ctx, app->cfg.tls_ca, NULL) != 1) {
    snprintf(err, errlen, "cannot read --tls-ca %s", app->cfg.tls_ca);
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
  }
  *slot = ctx;
  return ctx;
}

void relay_tls_cleanup(struct app *app) {
  struct relay_tls_ctx *c = app->relay_tls;
  if (!c) return;
  SSL_CTX_free(c->lab);
  SSL_CTX_free(c->real);
  free(c);
  app->relay_tls = NULL;
}

int relay_tls_keylog_allowed(struct app *app) {
  char v[8];
  return db_setting_get(app->db, SETTING_KEYLOG_EXPORT, v, sizeof v) != 0 || strcmp(v, "off") != 0;
}

/* Records why the session must end: prefix then what. -1. */
static int set_error(struct relay_tls *t, const char *prefix, const char *what) {
  snprintf(t->error, sizeof t->error, "%s%s", prefix, what);
  t->failed = 1;
  return -1;
}

/* Everything tlsmem has for the wire goes to the relay's queue. */
static void flush_wire(struct relay_tls *t) {
  unsigned char chunk[LIM_RELAY_READ_BYTES];
  size_t n;
  while ((n = tlsmem_take_wire(t->tm, chunk, sizeof chunk)) > 0) t->io->to_wire(t->arg, chunk, n);
}

static int write_plain(struct relay_tls *t, const unsigned char *p, size_t n) {
  if (tlsmem_write(t->tm, p, n) != 0) return set_error(t, "TLS: ", tlsmem_error(t->tm));
  t->io->record(t->arg, DB_DIR_C2S, p, n);
  return 0;
}

/* The handshake is done: the summary as notes, the certificate judged,
 * the key log handed over, and what the student typed meanwhile sent. */
static int judge(struct relay_tls *t) {
  char *summary = malloc(LIM_TLS_SUMMARY_BYTES), *keylog = malloc(LIM_TLS_KEYLOG_BYTES);
  char why[200] = "the server sent no certificate";
  int verified = 0, rc = 0;
  if (!summary || !keylog) {
    rc = set_error(t, "", "out of memory");
    goto done;
  }
  if (tlsmem_summary(t->tm, summary, LIM_TLS_SUMMARY_BYTES) < 0) summary[0] = '\0';
  /* tlsmem's summary ends in "verification: ok" or the reason it failed
   * ("peer certificate: none" without a certificate). */
  const char *v = strstr(summary, "verification: ");
  if (v) {
    v += strlen("verification: ");
    size_t len = strcspn(v, "\n");
    verified = len == 2 && strncmp(v, "ok", 2) == 0;
    snprintf(why, sizeof why, "%.*s", (int)(len < 190 ? len : 190), v);
  }
  for (char *line = summary, *end; *line; line = end) {
    end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    char one[512];
    snprintf(one, sizeof one, "tls: %.*s", (int)(len < 500 ? len : 500), line);
    if (len) t->io->note(t->arg, one);
    end = end ? end + 1 : line + len;
  }
  if (!verified) {
    if (!t->insecure) {
      rc = set_error(t, "the server's certificate did not verify: ", why);
      goto done;
    }
    char line[400];
    snprintf(line, sizeof line,
             "tls: the certificate did not verify (%s); the teacher's rule allows it (+insecure)",
             why);
    t->io->note(t->arg, line);
  }
  size_t klen = tlsmem_keylog(t->tm, keylog, LIM_TLS_KEYLOG_BYTES);
  if (klen >= LIM_TLS_KEYLOG_BYTES) klen = LIM_TLS_KEYLOG_BYTES - 1;
  keylog[klen] = '\0';
  t->judged = 1;
  t->io->established(t->arg, keylog, summary, verified);
  if (buf_len(&t->held)) {
    rc = write_plain(t, buf_head(&t->held), buf_len(&t->held));
    buf_consume(&t->held, buf_len(&t->held));
  }
done:
  free(summary);
  free(keylog);
  return rc;
}

/* Reads out every plaintext byte ready, judges the handshake once it is
 * done, and sends what tlsmem has for the wire. */
static int pump(struct relay_tls *t, int *closed) {
  unsigned char plain[LIM_RELAY_READ_BYTES];
  ssize_t n;
  *closed = 0;
  while ((n = tlsmem_read(t->tm, plain, sizeof plain)) > 0) {
    t->io->record(t->arg, DB_DIR_S2C, plain, (size_t)n);
    t->io->to_client(t->arg, plain, (size_t)n);
  }
  if (!t->judged && tlsmem_handshake_done(t->tm) && judge(t) != 0) {
    flush_wire(t); /* the alert, if any */
    return -1;
  }
  flush_wire(t);
  if (n < 0) {
    *closed = tlsmem_peer_closed(t->tm);
    return set_error(
        t, "TLS: ",
        *closed ? "the server closed the TLS session (close_notify)" : tlsmem_error(t->tm));
  }
  return 0;
}

struct relay_tls *relay_tls_start(struct app *app, const struct relay_tls_io *io, void *arg,
                                  const char *host, int is_lab, int insecure, char *err,
                                  size_t errlen) {
  SSL_CTX *ctx = client_ctx(app, is_lab, err, errlen);
  if (!ctx) return NULL;
  struct relay_tls *t = calloc(1, sizeof *t);
  if (!t) goto oom;
  t->io = io;
  t->arg = arg;
  t->insecure = insecure && !is_lab;
  buf_init(&t->held, LIM_RELAY_BUF_CAP);
  /* host is sent as SNI when it is a name and is what the certificate
   * must name (a name, or the address typed). */
  t->tm = tlsmem_new(ctx, TLSMEM_CLIENT, host);
  if (!t->tm) goto oom;
  int closed;
  if (pump(t, &closed) != 0) { /* the ClientHello goes out */
    snprintf(err, errlen, "%s", t->error);
    relay_tls_free(t);
    return NULL;
  }
  return t;
oom:
  snprintf(err, errlen, "out of memory");
  relay_tls_free(t);
  return NULL;
}

void relay_tls_free(struct relay_tls *t) {
  if (!t) return;
  tlsmem_free(t->tm);
  buf_free(&t->held);
  free(t);
}

int relay_tls_from_wire(struct relay_tls *t, const unsigned char *p, size_t n, int *closed) {
  *closed = 0;
  if (t->failed) return -1;
  if (tlsmem_feed_wire(t->tm, p, n) != 0) {
    *closed = tlsmem_peer_closed(t->tm);
    set_error(t, "TLS: ", tlsmem_error(t->tm));
    flush_wire(t);
    return -1;
  }
  return pump(t, closed);
}

int relay_tls_from_client(struct relay_tls *t, const unsigned char *p, size_t n) {
  if (t->failed) return -1;
  if (!t->judged) {
    if (buf_append(&t->held, p, n)) return set_error(t, "", "too much typed before the handshake");
    return 0;
  }
  if (write_plain(t, p, n) != 0) return -1;
  int closed;
  return pump(t, &closed);
}

void relay_tls_close(struct relay_tls *t) {
  if (!t || t->failed) return;
  tlsmem_close(t->tm);
  flush_wire(t);
}

const char *relay_tls_error(const struct relay_tls *t) {
  return t->error;
}

int relay_tls_established(const struct relay_tls *t) {
  return t->judged;
}

void relay_tls_tail_add(struct relay_tls_tail *tail, const unsigned char *p, size_t n) {
  if (n >= sizeof tail->b) {
    memcpy(tail->b, p + n - sizeof tail->b, sizeof tail->b);
    tail->n = sizeof tail->b;
    return;
  }
  if (tail->n + n > sizeof tail->b) {
    size_t drop = tail->n + n - sizeof tail->b;
    memmove(tail->b, tail->b + drop, tail->n - drop);
    tail->n -= drop;
  }
  memcpy(tail->b + tail->n, p, n);
  tail->n += n;
}

/* The last complete line of tail without its CRLF; 0 if there is none. */
static int last_line(const struct relay_tls_tail *tail, const char **line, size_t *len) {
  size_t n = tail->n;
  if (n == 0 || tail->b[n - 1] != '\n') return 0;
  size_t end = n - 1;
  if (end && tail->b[end - 1] == '\r') end--;
  size_t start = end;
  while (start && tail->b[start - 1] != '\n') start--;
  *line = (const char *)tail->b + start;
  *len = end - start;
  return 1;
}

/* Does line (len bytes) hold word as a whole word, any case? */
static int has_word(const char *line, size_t len, const char *word) {
  size_t w = strlen(word);
  for (size_t i = 0; i + w <= len; i++)
    if ((i == 0 || line[i - 1] == ' ') && (i + w == len || line[i + w] == ' ') &&
        strncasecmp(line + i, word, w) == 0)
      return 1;
  return 0;
}

int relay_tls_client_asked(const struct relay_tls_tail *sent) {
  const char *line;
  size_t len;
  if (!last_line(sent, &line, &len)) return 0;
  return has_word(line, len, "STARTTLS") || has_word(line, len, "STLS") ||
         (len >= 8 && strncasecmp(line, "AUTH TLS", 8) == 0) ||
         (len >= 8 && strncasecmp(line, "AUTH SSL", 8) == 0);
}

int relay_tls_server_agreed(const struct relay_tls_tail *got) {
  const char *line;
  size_t len;
  if (!last_line(got, &line, &len)) return 0;
  if (len >= 4 && (memcmp(line, "220 ", 4) == 0 || memcmp(line, "234 ", 4) == 0)) return 1;
  if (len == 3 && (memcmp(line, "220", 3) == 0 || memcmp(line, "234", 3) == 0)) return 1;
  if (len >= 3 && memcmp(line, "+OK", 3) == 0) return 1;
  /* IMAP: "TAG OK ..." with a tag of letters and digits, not "* OK". */
  size_t i = 0;
  while (i < len && line[i] != ' ' && line[i] != '*') i++;
  return i > 0 && i + 3 <= len && line[i] == ' ' && memcmp(line + i + 1, "OK", 2) == 0 &&
         (i + 3 == len || line[i + 3] == ' ');
}
