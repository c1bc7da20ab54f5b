/* tlsdb.c -- the lab's certificate authority and server certificate, stored.
 *
 * One row (id 1) of lab_tls. The CA's private key lives in the database
 * like the lab secret does: whoever can read the database can already
 * read every transcript, and the CA signs nothing but the lab's own
 * certificate.
 */
#include "tlsdb.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_internal.h"

static char *tlsdb_column(sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return strdup(t ? (const char *)t : "");
}

int db_lab_tls_get(struct db *db, struct db_lab_tls *out) {
  sqlite3_stmt *st = db_stmt(db, DB_STMT_LAB_TLS_GET,
                             "SELECT ca_cert, ca_key, cert, key, names FROM lab_tls WHERE id = 1");
  int rc;

  memset(out, 0, sizeof *out);
  if ((rc = db_exec_row(db, st, NULL)) != 0) return rc;
  out->ca_cert = tlsdb_column(st, 0);
  out->ca_key = tlsdb_column(st, 1);
  out->cert = tlsdb_column(st, 2);
  out->key = tlsdb_column(st, 3);
  out->names = tlsdb_column(st, 4);
  db_stmt_release(st);
  if (!out->ca_cert || !out->ca_key || !out->cert || !out->key || !out->names) {
    db_lab_tls_free(out);
    return db_fail_msg(db, 0, "out of memory reading the lab certificates");
  }
  return 0;
}

int db_lab_tls_put(struct db *db, const struct db_lab_tls *t) {
  sqlite3_stmt *st =
      db_stmt(db, DB_STMT_LAB_TLS_PUT,
              "INSERT INTO lab_tls(id, ca_cert, ca_key, cert, key, names, created_at, "
              "renewed_at) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?6) "
              "ON CONFLICT(id) DO UPDATE SET ca_cert = excluded.ca_cert, "
              "ca_key = excluded.ca_key, cert = excluded.cert, key = excluded.key, "
              "names = excluded.names, renewed_at = excluded.renewed_at");

  return db_exec_done(db, st,
                      DB_ARGS(DB_TEXT(t->ca_cert), DB_TEXT(t->ca_key), DB_TEXT(t->cert),
                              DB_TEXT(t->key), DB_TEXT(t->names), DB_INT(time(NULL))));
}

void db_lab_tls_free(struct db_lab_tls *t) {
  if (!t) return;
  free(t->ca_cert);
  free(t->ca_key);
  free(t->cert);
  free(t->key);
  free(t->names);
  memset(t, 0, sizeof *t);
}
