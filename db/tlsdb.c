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
  sqlite3_stmt *st = NULL;
  int rc;

  memset(out, 0, sizeof *out);
  if (sqlite3_prepare_v2(db->conn,
                         "SELECT ca_cert, ca_key, cert, key, names FROM lab_tls WHERE id = 1", -1,
                         &st, NULL) != SQLITE_OK)
    goto fail;
  rc = sqlite3_step(st);
  if (rc == SQLITE_DONE) {
    sqlite3_finalize(st);
    return 1;
  }
  if (rc != SQLITE_ROW) goto fail;
  out->ca_cert = tlsdb_column(st, 0);
  out->ca_key = tlsdb_column(st, 1);
  out->cert = tlsdb_column(st, 2);
  out->key = tlsdb_column(st, 3);
  out->names = tlsdb_column(st, 4);
  sqlite3_finalize(st);
  if (!out->ca_cert || !out->ca_key || !out->cert || !out->key || !out->names) {
    db_lab_tls_free(out);
    return db_fail_msg(db, 0, "out of memory reading the lab certificates");
  }
  return 0;

fail:
  db_fail(db);
  sqlite3_finalize(st);
  return -1;
}

int db_lab_tls_put(struct db *db, const struct db_lab_tls *t) {
  sqlite3_stmt *st = NULL;
  int64_t now = (int64_t)time(NULL);

  if (sqlite3_prepare_v2(db->conn,
                         "INSERT INTO lab_tls(id, ca_cert, ca_key, cert, key, names, created_at, "
                         "renewed_at) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?6) "
                         "ON CONFLICT(id) DO UPDATE SET ca_cert = excluded.ca_cert, "
                         "ca_key = excluded.ca_key, cert = excluded.cert, key = excluded.key, "
                         "names = excluded.names, renewed_at = excluded.renewed_at",
                         -1, &st, NULL) != SQLITE_OK)
    goto fail;
  if (sqlite3_bind_text(st, 1, t->ca_cert, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 2, t->ca_key, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 3, t->cert, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 4, t->key, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_text(st, 5, t->names, -1, SQLITE_STATIC) != SQLITE_OK ||
      sqlite3_bind_int64(st, 6, now) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE)
    goto fail;
  sqlite3_finalize(st);
  return 0;

fail:
  db_fail(db);
  sqlite3_finalize(st);
  return -1;
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
