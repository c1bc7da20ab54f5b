/* tlsca.c -- the lab certificate authority: keys, certificates, contexts.
 *
 * RFC 5280 profile, kept small: the CA has basicConstraints CA:TRUE and
 * keyCertSign; the server certificate has CA:FALSE, digitalSignature,
 * serverAuth and its subject alternative names (clients check only SANs,
 * RFC 6125). Serial numbers are 128 random bits.
 */
#include "tlsca.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portlab_limits.h"

static void tlsca_err(char *err, size_t cap, const char *what) {
  unsigned long e = ERR_peek_last_error();
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  if (err && cap) snprintf(err, cap, "%s%s%s", what, r ? ": " : "", r ? r : "");
  ERR_clear_error();
}

static char *tlsca_bio_string(BIO *b) {
  size_t n = BIO_ctrl_pending(b);
  char *s = malloc(n + 1);
  if (!s) return NULL;
  int r = n ? BIO_read(b, s, (int)n) : 0;
  if (r < 0 || (size_t)r != n) {
    free(s);
    return NULL;
  }
  s[n] = '\0';
  return s;
}

static int tlsca_pem_out(X509 *x, EVP_PKEY *k, char **cert_pem, char **key_pem) {
  BIO *bc = BIO_new(BIO_s_mem()), *bk = BIO_new(BIO_s_mem());
  int rc = -1;
  if (!bc || !bk) goto done;
  if (PEM_write_bio_X509(bc, x) != 1) goto done;
  if (PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL) != 1) goto done;
  *cert_pem = tlsca_bio_string(bc);
  *key_pem = tlsca_bio_string(bk);
  if (!*cert_pem || !*key_pem) {
    free(*cert_pem);
    free(*key_pem);
    *cert_pem = *key_pem = NULL;
    goto done;
  }
  rc = 0;
done:
  BIO_free(bc);
  BIO_free(bk);
  return rc;
}

static X509 *tlsca_read_cert(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b) return NULL;
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  return x;
}

static EVP_PKEY *tlsca_read_key(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  if (!b) return NULL;
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  return k;
}

static int tlsca_add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  if (!ext) return -1;
  int ok = X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok == 1 ? 0 : -1;
}

/* A fresh certificate skeleton: version 3, random serial, validity, key. */
static X509 *tlsca_skeleton(EVP_PKEY *key, const char *cn, int days) {
  X509 *x = X509_new();
  unsigned char serial[16];
  BIGNUM *bn = NULL;
  if (!x || RAND_bytes(serial, sizeof serial) != 1) goto fail;
  serial[0] &= 0x7f; /* positive */
  bn = BN_bin2bn(serial, sizeof serial, NULL);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) goto fail;
  BN_free(bn);
  bn = NULL;
  if (X509_set_version(x, 2) != 1) goto fail;
  /* An hour back, for clocks that differ a little between machines. */
  if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600)) goto fail;
  if (!X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400)) goto fail;
  if (X509_set_pubkey(x, key) != 1) goto fail;
  X509_NAME *name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"portlab", -1, -1,
                                 0) != 1)
    goto fail;
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) !=
      1)
    goto fail;
  return x;
fail:
  BN_free(bn);
  X509_free(x);
  return NULL;
}

int tlsca_make_ca(const char *cn, char **cert_pem, char **key_pem, char *err, size_t errcap) {
  *cert_pem = *key_pem = NULL;
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = NULL;
  if (!key) goto fail;
  x = tlsca_skeleton(key, cn, LIM_TLS_CA_DAYS);
  if (!x) goto fail;
  if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) goto fail;
  if (tlsca_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") < 0) goto fail;
  if (tlsca_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") < 0) goto fail;
  if (tlsca_add_ext(x, x, NID_subject_key_identifier, "hash") < 0) goto fail;
  if (X509_sign(x, key, EVP_sha256()) <= 0) goto fail;
  if (tlsca_pem_out(x, key, cert_pem, key_pem) < 0) goto fail;
  X509_free(x);
  EVP_PKEY_free(key);
  return 0;
fail:
  tlsca_err(err, errcap, "making the lab CA");
  X509_free(x);
  EVP_PKEY_free(key);
  return -1;
}

static int tlsca_is_ip(const char *s) {
  unsigned char a[16];
  return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

int tlsca_make_leaf(const char *ca_cert_pem, const char *ca_key_pem, const char *cn,
                    const char *const *sans, int nsans, int days, char **cert_pem, char **key_pem,
                    char *err, size_t errcap) {
  *cert_pem = *key_pem = NULL;
  X509 *ca = tlsca_read_cert(ca_cert_pem), *x = NULL;
  EVP_PKEY *ca_key = tlsca_read_key(ca_key_pem), *key = NULL;
  char san[LIM_TLS_SANS * (LIM_HOSTNAME_LEN + 8)];
  size_t len = 0;
  if (!ca || !ca_key) goto fail;
  if (nsans < 1 || nsans > LIM_TLS_SANS) {
    ERR_clear_error();
    if (err && errcap) snprintf(err, errcap, "between 1 and %d names are needed", LIM_TLS_SANS);
    goto out;
  }
  for (int i = 0; i < nsans; i++) {
    /* The config syntax separates names with commas: refuse names that
     * would smuggle another entry in. */
    if (!sans[i][0] || strlen(sans[i]) > LIM_HOSTNAME_LEN ||
        (strpbrk(sans[i], ",:\n") && !tlsca_is_ip(sans[i]))) {
      if (err && errcap) snprintf(err, errcap, "bad certificate name \"%s\"", sans[i]);
      goto out;
    }
    int n = snprintf(san + len, sizeof san - len, "%s%s:%s", i ? "," : "",
                     tlsca_is_ip(sans[i]) ? "IP" : "DNS", sans[i]);
    if (n < 0 || (size_t)n >= sizeof san - len) goto fail;
    len += (size_t)n;
  }
  key = EVP_EC_gen("P-256");
  if (!key) goto fail;
  x = tlsca_skeleton(key, cn, days);
  if (!x) goto fail;
  if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1) goto fail;
  if (tlsca_add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") < 0) goto fail;
  if (tlsca_add_ext(x, ca, NID_key_usage, "critical,digitalSignature") < 0) goto fail;
  if (tlsca_add_ext(x, ca, NID_ext_key_usage, "serverAuth") < 0) goto fail;
  if (tlsca_add_ext(x, ca, NID_subject_alt_name, san) < 0) goto fail;
  if (tlsca_add_ext(x, ca, NID_authority_key_identifier, "keyid:always") < 0) goto fail;
  if (X509_sign(x, ca_key, EVP_sha256()) <= 0) goto fail;
  if (tlsca_pem_out(x, key, cert_pem, key_pem) < 0) goto fail;
  X509_free(x);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return 0;
fail:
  tlsca_err(err, errcap, "making the lab certificate");
out:
  X509_free(x);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return -1;
}

/* 1 if the certificate's SANs are exactly the names given. */
static int tlsca_sans_equal(X509 *x, const char *const *sans, int nsans) {
  GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  if (!g) return 0;
  int n = sk_GENERAL_NAME_num(g), ok = n == nsans;
  for (int i = 0; ok && i < nsans; i++) {
    int found = 0;
    unsigned char ip[16];
    int iplen = inet_pton(AF_INET, sans[i], ip) == 1    ? 4
                : inet_pton(AF_INET6, sans[i], ip) == 1 ? 16
                                                        : 0;
    for (int j = 0; !found && j < n; j++) {
      const GENERAL_NAME *e = sk_GENERAL_NAME_value(g, j);
      if (iplen && e->type == GEN_IPADD) {
        found = ASN1_STRING_length(e->d.iPAddress) == iplen &&
                memcmp(ASN1_STRING_get0_data(e->d.iPAddress), ip, (size_t)iplen) == 0;
      } else if (!iplen && e->type == GEN_DNS) {
        found = (size_t)ASN1_STRING_length(e->d.dNSName) == strlen(sans[i]) &&
                memcmp(ASN1_STRING_get0_data(e->d.dNSName), sans[i], strlen(sans[i])) == 0;
      }
    }
    ok = found;
  }
  GENERAL_NAMES_free(g);
  return ok;
}

int tlsca_leaf_fits(const char *cert_pem, const char *ca_cert_pem, const char *const *sans,
                    int nsans, long min_secs) {
  X509 *x = tlsca_read_cert(cert_pem), *ca = tlsca_read_cert(ca_cert_pem);
  int ok = 0;
  if (!x || !ca) goto done;
  EVP_PKEY *ca_pub = X509_get0_pubkey(ca);
  if (!ca_pub || X509_verify(x, ca_pub) != 1) goto done;
  time_t later = time(NULL) + min_secs;
  if (X509_cmp_time(X509_get0_notAfter(x), &later) <= 0) goto done;
  ok = tlsca_sans_equal(x, sans, nsans);
done:
  ERR_clear_error();
  X509_free(x);
  X509_free(ca);
  return ok;
}

time_t tlsca_not_after(const char *cert_pem) {
  X509 *x = tlsca_read_cert(cert_pem);
  struct tm tm;
  time_t t = 0;
  if (x && ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1) t = timegm(&tm);
  ERR_clear_error();
  X509_free(x);
  return t;
}

SSL_CTX *tlsca_server_ctx(const char *cert_pem, const char *key_pem, const char *chain_pem,
                          char *err, size_t errcap) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  X509 *x = tlsca_read_cert(cert_pem), *c = chain_pem ? tlsca_read_cert(chain_pem) : NULL;
  EVP_PKEY *k = tlsca_read_key(key_pem);
  if (!ctx || !x || !k || (chain_pem && !c)) goto fail;
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) goto fail;
  if (SSL_CTX_use_certificate(ctx, x) != 1) goto fail;
  if (SSL_CTX_use_PrivateKey(ctx, k) != 1) goto fail;
  if (SSL_CTX_check_private_key(ctx) != 1) goto fail;
  if (c && SSL_CTX_add1_chain_cert(ctx, c) != 1) goto fail;
  /* No tickets: a lab session stands alone, and fewer messages on the
   * wire are easier for a student to read. */
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  X509_free(x);
  X509_free(c);
  EVP_PKEY_free(k);
  return ctx;
fail:
  tlsca_err(err, errcap, "loading the lab certificate");
  SSL_CTX_free(ctx);
  X509_free(x);
  X509_free(c);
  EVP_PKEY_free(k);
  return NULL;
}

SSL_CTX *tlsca_client_ctx(const char *ca_pem, int verify, char *err, size_t errcap) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  X509 *ca = NULL;
  if (!ctx) goto fail;
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) goto fail;
  if (ca_pem) {
    ca = tlsca_read_cert(ca_pem);
    if (!ca || X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) != 1) goto fail;
    X509_free(ca);
    ca = NULL;
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    goto fail;
  }
  SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
  return ctx;
fail:
  tlsca_err(err, errcap, "making a TLS client context");
  X509_free(ca);
  SSL_CTX_free(ctx);
  return NULL;
}
