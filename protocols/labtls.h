/* labtls.h -- the lab's certificate authority and server certificate at start-up.
 *
 * On first start a CA is made and kept in the database (db/tlsdb.c); the
 * lab server certificate it signs names "lab", "localhost", the lab
 * address (127.0.0.1 and ::1 when the lab listens on every address) and
 * --lab-public-host. It is made again, by the same CA, when those names
 * change or it has less than LIM_TLS_RENEW_DAYS left, so a CA file a
 * student downloaded once keeps working.
 */
#ifndef PORTLAB_LABTLS_H
#define PORTLAB_LABTLS_H

#include <stddef.h>

struct db;
struct ssl_ctx_st;

struct lab_tls {
  char *ca_cert;          /* PEM: GET /api/lab/ca.pem */
  char *cert, *key;       /* PEM: the lab servers' (the HTTPS lab reads them) */
  struct ssl_ctx_st *ctx; /* server context for the lws-run lab servers */
  int renewed;            /* 1 if the certificate was made on this start */
  char names[512];        /* the certificate's names, comma-separated */
};

/* Loads (or makes and stores) the CA and certificate. NULL with a reason. */
struct lab_tls *lab_tls_load(struct db *db, const char *lab_addr, const char *public_host,
                             char *err, size_t errlen);
void lab_tls_free(struct lab_tls *t); /* NULL is a no-op */

#endif
