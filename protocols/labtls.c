/* labtls.c -- the lab's certificate authority and server certificate at start-up.
 *
 * The certificate's names are the ones a student's client may dial: "lab"
 * (the relay's name for it), "localhost", the lab address and the public
 * host. A name list that differs from the stored one (another --lab-bind
 * or --lab-public-host) gets a new certificate from the same CA.
 */
#include "labtls.h"

#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "portlab_limits.h"
#include "tlsca.h"
#include "tlsdb.h"

/* The names, deduplicated, in a fixed order. Returns how many. */
static int lab_tls_names(const char *lab_addr, const char *public_host,
                         const char *names[LIM_TLS_SANS]) {
  const char *cand[6] = {"lab", "localhost", NULL, NULL, NULL, NULL};
  int n = 0, k = 2;

  if (strcmp(lab_addr, "0.0.0.0") == 0 || strcmp(lab_addr, "::") == 0) {
    cand[k++] = "127.0.0.1";
    cand[k++] = "::1";
  } else {
    cand[k++] = lab_addr;
  }
  if (public_host && public_host[0]) cand[k++] = public_host;
  for (int i = 0; i < k && n < LIM_TLS_SANS; i++) {
    int dup = 0;
    for (int j = 0; j < n; j++) dup |= strcmp(names[j], cand[i]) == 0;
    if (!dup) names[n++] = cand[i];
  }
  return n;
}

struct lab_tls *lab_tls_load(struct db *db, const char *lab_addr, const char *public_host,
                             char *err, size_t errlen) {
  const char *names[LIM_TLS_SANS];
  int nnames = lab_tls_names(lab_addr, public_host, names);
  struct db_lab_tls row;
  struct lab_tls *t = calloc(1, sizeof *t);
  char why[256] = "";
  int rc;

  memset(&row, 0, sizeof row);
  if (!t) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  for (int i = 0; i < nnames; i++) {
    size_t len = strlen(t->names);
    snprintf(t->names + len, sizeof t->names - len, "%s%s", i ? "," : "", names[i]);
  }
  rc = db_lab_tls_get(db, &row);
  if (rc < 0) {
    snprintf(err, errlen, "cannot read the lab certificates: %s", db_errmsg(db));
    goto fail;
  }
  if (rc == 1) {
    if (tlsca_make_ca("portlab lab CA", &row.ca_cert, &row.ca_key, why, sizeof why) != 0) {
      snprintf(err, errlen, "%s", why);
      goto fail;
    }
    log_info("lab TLS: made a new certificate authority");
  }
  if (rc == 1 ||
      !tlsca_leaf_fits(row.cert, row.ca_cert, names, nnames, (long)LIM_TLS_RENEW_DAYS * 86400)) {
    char *cert = NULL, *key = NULL;
    if (tlsca_make_leaf(row.ca_cert, row.ca_key, "lab", names, nnames, LIM_TLS_CERT_DAYS, &cert,
                        &key, why, sizeof why) != 0) {
      snprintf(err, errlen, "%s", why);
      goto fail;
    }
    free(row.cert);
    free(row.key);
    free(row.names);
    row.cert = cert;
    row.key = key;
    row.names = strdup(t->names);
    if (!row.names || db_lab_tls_put(db, &row) != 0) {
      snprintf(err, errlen, "cannot store the lab certificates: %s", db_errmsg(db));
      goto fail;
    }
    t->renewed = 1;
    log_info("lab TLS: new server certificate for %s", t->names);
  }
  t->ctx = tlsca_server_ctx(row.cert, row.key, NULL, why, sizeof why);
  if (!t->ctx) {
    snprintf(err, errlen, "%s", why);
    goto fail;
  }
  t->ca_cert = row.ca_cert;
  t->cert = row.cert;
  t->key = row.key;
  row.ca_cert = row.cert = row.key = NULL;
  db_lab_tls_free(&row);
  return t;

fail:
  db_lab_tls_free(&row);
  lab_tls_free(t);
  return NULL;
}

void lab_tls_free(struct lab_tls *t) {
  if (!t) return;
  SSL_CTX_free(t->ctx);
  free(t->ca_cert);
  free(t->cert);
  /* The key is a secret: do not leave it in freed memory. */
  if (t->key) OPENSSL_cleanse(t->key, strlen(t->key));
  free(t->key);
  free(t);
}
