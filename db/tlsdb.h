/* tlsdb.h -- the lab's certificate authority and server certificate, stored.
 *
 * Same conventions as db.h (0 found/done, 1 not found, -1 database error).
 * Read and written only at start-up, so the statements are not cached.
 */
#ifndef PORTLAB_TLSDB_H
#define PORTLAB_TLSDB_H

#include "db.h"

/* PEM text, each malloc'd; names holds the certificate's names one a line. */
struct db_lab_tls {
  char *ca_cert, *ca_key;
  char *cert, *key;
  char *names;
};

/* 0 and fills out (free with db_lab_tls_free), 1 if none is stored yet. */
int db_lab_tls_get(struct db *db, struct db_lab_tls *out);
/* Stores t, replacing what was there (the CA is kept on a renewal: the
 * caller passes the same ca_cert and ca_key). */
int db_lab_tls_put(struct db *db, const struct db_lab_tls *t);
void db_lab_tls_free(struct db_lab_tls *t); /* frees the strings; NULL is a no-op */

#endif
