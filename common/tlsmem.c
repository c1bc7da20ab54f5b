/* tlsmem.c -- one TLS endpoint over OpenSSL memory BIOs.
 *
 * Two memory BIOs sit under the SSL object: "in" holds ciphertext the
 * caller read from the wire, "out" holds ciphertext OpenSSL wants sent. The
 * "in" BIO answers "retry" when empty (not EOF), so an empty buffer means
 * "wait for more bytes", never "the peer is gone". Plaintext written before
 * the handshake is done is kept here and written once it is, because the
 * protocol code above (a lab greeting, a relayed line) should not have to
 * know whether TLS is ready yet.
 *
 * RFC 8446 (TLS 1.3), RFC 5246 (TLS 1.2); key log format: the NSS
 * SSLKEYLOGFILE format, as Wireshark reads it.
 */
#include "tlsmem.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portlab_limits.h"

struct tlsmem {
  SSL *ssl;
  BIO *in;  /* wire -> SSL (owned by ssl) */
  BIO *out; /* SSL -> wire (owned by ssl) */
  enum tlsmem_role role;
  int done;
  int failed;
  int peer_closed;
  unsigned char *pending; /* plaintext written before the handshake */
  size_t pending_len;
  char keylog[LIM_TLS_KEYLOG_BYTES];
  size_t keylog_len;
  char err[256];
};

static void tlsmem_set_error(struct tlsmem *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->err, sizeof t->err, fmt, ap);
  va_end(ap);
}

/* A readable reason for a failed call: the certificate verification result
 * first (the common case a student meets), then OpenSSL's error queue. The
 * queue is emptied either way so it never leaks into another connection. */
static void tlsmem_record_failure(struct tlsmem *t, const char *what) {
  long vr = SSL_get_verify_result(t->ssl);
  unsigned long e = ERR_peek_last_error();
  char reason[160] = "";
  if (e) ERR_error_string_n(e, reason, sizeof reason);
  const char *lib_reason = e ? ERR_reason_error_string(e) : NULL;
  if (vr != X509_V_OK && e && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    tlsmem_set_error(t, "%s: certificate verify failed: %s", what,
                     X509_verify_cert_error_string(vr));
  } else if (lib_reason) {
    tlsmem_set_error(t, "%s: %s", what, lib_reason);
  } else if (e) {
    tlsmem_set_error(t, "%s: %s", what, reason);
  } else {
    tlsmem_set_error(t, "%s: protocol error", what);
  }
  ERR_clear_error();
  t->failed = 1;
}

static void tlsmem_keylog_cb(const SSL *ssl, const char *line) {
  struct tlsmem *t = SSL_get_app_data(ssl);
  if (!t || !line) return;
  size_t n = strlen(line);
  /* Whole lines or none: a cut line would confuse Wireshark. */
  if (t->keylog_len + n + 1 >= sizeof t->keylog) return;
  memcpy(t->keylog + t->keylog_len, line, n);
  t->keylog_len += n;
  t->keylog[t->keylog_len++] = '\n';
  t->keylog[t->keylog_len] = '\0';
}

static int tlsmem_flush_pending(struct tlsmem *t) {
  if (!t->pending_len) return 0;
  int r = SSL_write(t->ssl, t->pending, (int)t->pending_len);
  if (r <= 0) {
    tlsmem_record_failure(t, "write");
    return -1;
  }
  free(t->pending);
  t->pending = NULL;
  t->pending_len = 0;
  return 0;
}

/* Advances the handshake with what the "in" BIO holds. 0 (done or waiting
 * for bytes) or -1 (fatal). */
static int tlsmem_drive(struct tlsmem *t) {
  if (t->failed) return -1;
  if (t->done) return 0;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->done = 1;
    return tlsmem_flush_pending(t);
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  tlsmem_record_failure(t, "handshake");
  return -1;
}

static int tlsmem_is_ip(const char *s) {
  unsigned char a[16];
  return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

struct tlsmem *tlsmem_new(SSL_CTX *ctx, enum tlsmem_role role, const char *sni) {
  struct tlsmem *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->role = role;
  if (SSL_CTX_get_keylog_callback(ctx) != tlsmem_keylog_cb)
    SSL_CTX_set_keylog_callback(ctx, tlsmem_keylog_cb);
  ERR_clear_error();
  t->ssl = SSL_new(ctx);
  if (!t->ssl) goto fail;
  t->in = BIO_new(BIO_s_mem());
  t->out = BIO_new(BIO_s_mem());
  if (!t->in || !t->out) {
    BIO_free(t->in);
    BIO_free(t->out);
    goto fail;
  }
  BIO_set_mem_eof_return(t->in, -1);
  BIO_set_mem_eof_return(t->out, -1);
  SSL_set_bio(t->ssl, t->in, t->out);
  SSL_set_app_data(t->ssl, t);
  SSL_set_mode(t->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (role == TLSMEM_SERVER) {
    SSL_set_accept_state(t->ssl);
    return t;
  }
  SSL_set_connect_state(t->ssl);
  if (sni && *sni) {
    if (tlsmem_is_ip(sni)) {
      X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
      if (X509_VERIFY_PARAM_set1_ip_asc(vp, sni) != 1) goto fail;
    } else {
      if (SSL_set_tlsext_host_name(t->ssl, sni) != 1) goto fail;
      if (SSL_set1_host(t->ssl, sni) != 1) goto fail;
    }
  }
  if (tlsmem_drive(t) < 0) goto fail; /* the ClientHello */
  return t;
fail:
  ERR_clear_error();
  tlsmem_free(t);
  return NULL;
}

void tlsmem_free(struct tlsmem *t) {
  if (!t) return;
  SSL_free(t->ssl); /* frees both BIOs */
  free(t->pending);
  free(t);
}

int tlsmem_feed_wire(struct tlsmem *t, const void *wire, size_t len) {
  if (t->failed) return -1;
  if (len) {
    if (len > (size_t)0x7fffffff || BIO_write(t->in, wire, (int)len) != (int)len) {
      tlsmem_set_error(t, "out of memory");
      t->failed = 1;
      return -1;
    }
  }
  if (tlsmem_drive(t) < 0) return -1;
  if (t->done) {
    /* Decrypt ahead only as far as OpenSSL must: a record that is bad
     * should fail here, where the caller expects a verdict on the bytes it
     * just fed. SSL_peek leaves the plaintext for tlsmem_read. */
    char probe;
    ERR_clear_error();
    int r = SSL_peek(t->ssl, &probe, 1);
    if (r <= 0) {
      int e = SSL_get_error(t->ssl, r);
      if (e == SSL_ERROR_ZERO_RETURN) {
        t->peer_closed = 1;
      } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        tlsmem_record_failure(t, "record");
        return -1;
      }
    }
  }
  return 0;
}

ssize_t tlsmem_read(struct tlsmem *t, void *buf, size_t cap) {
  if (t->failed || t->peer_closed) return -1;
  if (tlsmem_drive(t) < 0) return -1;
  if (!t->done || cap == 0) return 0;
  if (cap > 0x7fffffff) cap = 0x7fffffff;
  ERR_clear_error();
  int r = SSL_read(t->ssl, buf, (int)cap);
  if (r > 0) return r;
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  if (e == SSL_ERROR_ZERO_RETURN) {
    t->peer_closed = 1;
    tlsmem_set_error(t, "the peer closed the TLS session (close_notify)");
    return -1;
  }
  tlsmem_record_failure(t, "read");
  return -1;
}

int tlsmem_write(struct tlsmem *t, const void *buf, size_t len) {
  if (t->failed) return -1;
  if (len == 0) return 0;
  if (!t->done || t->pending_len) {
    if (len > LIM_TLS_PENDING_BYTES - t->pending_len) {
      tlsmem_set_error(t, "more than %d bytes written before the handshake", LIM_TLS_PENDING_BYTES);
      return -1;
    }
    unsigned char *p = realloc(t->pending, t->pending_len + len);
    if (!p) return -1;
    memcpy(p + t->pending_len, buf, len);
    t->pending = p;
    t->pending_len += len;
    return t->done ? tlsmem_flush_pending(t) : 0;
  }
  if (len > 0x7fffffff) return -1;
  ERR_clear_error();
  int r = SSL_write(t->ssl, buf, (int)len);
  if (r <= 0) {
    tlsmem_record_failure(t, "write");
    return -1;
  }
  return 0;
}

size_t tlsmem_wire_pending(const struct tlsmem *t) {
  return BIO_ctrl_pending(t->out);
}

size_t tlsmem_take_wire(struct tlsmem *t, void *buf, size_t cap) {
  if (cap > 0x7fffffff) cap = 0x7fffffff;
  if (cap == 0 || BIO_ctrl_pending(t->out) == 0) return 0;
  int r = BIO_read(t->out, buf, (int)cap);
  return r > 0 ? (size_t)r : 0;
}

int tlsmem_handshake_done(const struct tlsmem *t) {
  return t->done;
}
int tlsmem_failed(const struct tlsmem *t) {
  return t->failed;
}
int tlsmem_peer_closed(const struct tlsmem *t) {
  return t->peer_closed;
}
const char *tlsmem_error(const struct tlsmem *t) {
  return t->err;
}

const char *tlsmem_version(const struct tlsmem *t) {
  return t->done ? SSL_get_version(t->ssl) : "";
}

const char *tlsmem_cipher(const struct tlsmem *t) {
  const SSL_CIPHER *c = t->done ? SSL_get_current_cipher(t->ssl) : NULL;
  return c ? SSL_CIPHER_get_name(c) : "";
}

/* Appends to out at *len with snprintf semantics, never past cap - 1. */
static void tlsmem_put(char *out, size_t cap, size_t *len, const char *fmt, ...) {
  if (*len + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* One BIO-printed field (a name, a time) into a small buffer. */
static const char *tlsmem_bio_text(BIO *b, char *buf, size_t cap) {
  size_t n = BIO_ctrl_pending(b);
  if (n >= cap) n = cap - 1;
  int r = n ? BIO_read(b, buf, (int)n) : 0;
  buf[r > 0 ? r : 0] = '\0';
  (void)BIO_reset(b);
  return buf;
}

static void tlsmem_describe_cert(X509 *x, int depth, char *out, size_t cap, size_t *len) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) return;
  char subject[256], issuer[256], from[64], to[64];
  X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
  tlsmem_bio_text(b, subject, sizeof subject);
  X509_NAME_print_ex(b, X509_get_issuer_name(x), 0, XN_FLAG_RFC2253);
  tlsmem_bio_text(b, issuer, sizeof issuer);
  ASN1_TIME_print(b, X509_get0_notBefore(x));
  tlsmem_bio_text(b, from, sizeof from);
  ASN1_TIME_print(b, X509_get0_notAfter(x));
  tlsmem_bio_text(b, to, sizeof to);
  BIO_free(b);
  tlsmem_put(out, cap, len, "certificate %d: subject %s\n", depth, subject);
  tlsmem_put(out, cap, len, "certificate %d: issuer %s\n", depth, issuer);
  tlsmem_put(out, cap, len, "certificate %d: valid %s to %s\n", depth, from, to);
  GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  if (!sans) return;
  tlsmem_put(out, cap, len, "certificate %d: SANs", depth);
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    if (g->type == GEN_DNS) {
      const ASN1_IA5STRING *s = g->d.dNSName;
      tlsmem_put(out, cap, len, "%s DNS:%.*s", i ? "," : "", ASN1_STRING_length(s),
                 (const char *)ASN1_STRING_get0_data(s));
    } else if (g->type == GEN_IPADD) {
      const ASN1_OCTET_STRING *s = g->d.iPAddress;
      char ip[INET6_ADDRSTRLEN] = "?";
      int n = ASN1_STRING_length(s);
      if (n == 4 || n == 16)
        inet_ntop(n == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), ip, sizeof ip);
      tlsmem_put(out, cap, len, "%s IP:%s", i ? "," : "", ip);
    }
  }
  tlsmem_put(out, cap, len, "\n");
  GENERAL_NAMES_free(sans);
}

int tlsmem_summary(const struct tlsmem *t, char *out, size_t cap) {
  if (!t->done || cap == 0) return -1;
  size_t len = 0;
  out[0] = '\0';
  tlsmem_put(out, cap, &len, "TLS version: %s\n", tlsmem_version(t));
  tlsmem_put(out, cap, &len, "cipher: %s\n", tlsmem_cipher(t));
  /* The client's chain includes the leaf; the server's does not. */
  X509 *leaf = SSL_get0_peer_certificate(t->ssl);
  STACK_OF(X509) *chain = SSL_get_peer_cert_chain(t->ssl);
  int depth = 0;
  if (leaf) {
    tlsmem_describe_cert(leaf, depth++, out, cap, &len);
    for (int i = 0; chain && i < sk_X509_num(chain) && depth < LIM_TLS_SUMMARY_CERTS; i++) {
      X509 *x = sk_X509_value(chain, i);
      if (X509_cmp(x, leaf) == 0) continue;
      tlsmem_describe_cert(x, depth++, out, cap, &len);
    }
    long vr = SSL_get_verify_result(t->ssl);
    tlsmem_put(out, cap, &len, "verification: %s\n",
               vr == X509_V_OK ? "ok" : X509_verify_cert_error_string(vr));
  } else {
    tlsmem_put(out, cap, &len, "peer certificate: none\n");
  }
  return (int)len;
}

size_t tlsmem_keylog(const struct tlsmem *t, char *out, size_t cap) {
  if (cap == 0) return 0;
  size_t n = t->keylog_len < cap - 1 ? t->keylog_len : cap - 1;
  memcpy(out, t->keylog, n);
  out[n] = '\0';
  return n;
}

void tlsmem_close(struct tlsmem *t) {
  if (!t->done || t->failed) return;
  ERR_clear_error();
  (void)SSL_shutdown(t->ssl);
  ERR_clear_error();
}
