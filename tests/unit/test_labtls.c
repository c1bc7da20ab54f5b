/* test_labtls.c -- TLS in the lab framework, and the lab CA kept in the database.
 *
 * The modules run on the memory backend while the test plays the client
 * with a tlsmem of its own, so every byte the server sends can be looked
 * at: the go-ahead in the clear, then nothing but TLS records. The CA
 * part checks that a restart keeps CA and certificate, and that other
 * names get a new certificate from the same CA.
 */
#define _GNU_SOURCE /* memmem */
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lab_session.h"
#include "labtls.h"
#include "portlab_limits.h"
#include "tlsca.h"
#include "tlsdb.h"
#include "tlsmem.h"

static struct lab_ctx ctx;
static SSL_CTX *client_ctx;

/* Moves bytes both ways until neither side has anything to say. */
static void shuttle(struct lab_conn *c, struct tlsmem *t) {
  unsigned char wire[8192];
  for (int i = 0; i < 20; i++) {
    size_t n, moved = 0;
    const char *out = lab_mem_output(c, &n);
    if (n) {
      tlsmem_feed_wire(t, out, n);
      lab_mem_clear(c);
      moved += n;
    }
    while ((n = tlsmem_take_wire(t, wire, sizeof wire)) > 0) {
      lab_mem_feed(c, wire, n);
      moved += n;
    }
    if (!moved) return;
  }
}

/* One command inside TLS; returns the plaintext reply. */
static const char *tls_cmd(struct lab_conn *c, struct tlsmem *t, const char *line) {
  static char reply[4096];
  size_t have = 0;
  ssize_t r;
  CHECK_EQ_INT(tlsmem_write(t, line, strlen(line)), 0);
  shuttle(c, t);
  while ((r = tlsmem_read(t, reply + have, sizeof reply - 1 - have)) > 0) have += (size_t)r;
  reply[have] = '\0';
  return reply;
}

static void test_smtp_starttls_discards_pipelined(void) {
  struct lab_conn *c = lab_mem_open(&lab_smtp, &ctx, "192.0.2.9");
  take(c);
  const char *r = cmd(c, "EHLO me");
  CHECK(strstr(r, "250-STARTTLS\r\n") != NULL);
  /* STARTTLS with a MAIL command pipelined behind it in the same read. */
  lab_mem_clear(c);
  feed(c, "STARTTLS\r\nMAIL FROM:<mallory@lab>\r\n");
  CHECK_EQ_STR(take(c), "220 2.0.0 Ready to start TLS\r\n");
  CHECK_EQ_INT(lab_mem_closed(c), 0);

  struct tlsmem *t = tlsmem_new(client_ctx, TLSMEM_CLIENT, "lab");
  shuttle(c, t);
  CHECK_EQ_INT(tlsmem_handshake_done(t), 1);
  /* The session started over: no EHLO, and no MAIL FROM either. */
  CHECK(starts(tls_cmd(c, t, "RCPT TO:<alice@lab>\r\n"),
               "503 5.5.1 Bad sequence of commands: send HELO"));
  r = tls_cmd(c, t, "EHLO me\r\n");
  CHECK(strstr(r, "STARTTLS") == NULL);
  CHECK(strstr(r, "250-AUTH PLAIN LOGIN\r\n") != NULL);
  CHECK(starts(tls_cmd(c, t, "RCPT TO:<alice@lab>\r\n"),
               "503 5.5.1 Bad sequence of commands: send MAIL"));
  CHECK(starts(tls_cmd(c, t, "STARTTLS\r\n"), "503 5.5.1 TLS is already active"));
  /* QUIT: the reply, then close_notify, then the close. */
  CHECK(starts(tls_cmd(c, t, "QUIT\r\n"), "221 2.0.0"));
  CHECK_EQ_INT(lab_mem_closed(c), 1);
  CHECK_EQ_INT(tlsmem_peer_closed(t), 1);
  tlsmem_free(t);
  lab_mem_free(c);
}

static void test_submission_and_smtps(void) {
  /* 587: AUTH only after STARTTLS. */
  struct lab_conn *c = lab_mem_open_port(&lab_smtp, &ctx, "192.0.2.9", 587);
  take(c);
  const char *r = cmd(c, "EHLO me");
  CHECK(strstr(r, "AUTH") == NULL);
  CHECK(strstr(r, "250-STARTTLS\r\n") != NULL);
  CHECK(starts(cmd(c, "AUTH PLAIN AGFsaWNlAGFsaWNlX3B3"), "530 5.7.0 Must issue a STARTTLS"));
  lab_mem_free(c);

  /* 465: TLS from the first byte; the greeting waits for the handshake. */
  c = lab_mem_open_port(&lab_smtp, &ctx, "192.0.2.9", 465);
  size_t n;
  lab_mem_output(c, &n);
  CHECK_EQ_INT(n, 0);
  struct tlsmem *t = tlsmem_new(client_ctx, TLSMEM_CLIENT, "127.0.0.1");
  shuttle(c, t);
  CHECK_EQ_INT(tlsmem_handshake_done(t), 1);
  char greet[256];
  ssize_t g = tlsmem_read(t, greet, sizeof greet - 1);
  CHECK(g > 0);
  greet[g > 0 ? g : 0] = '\0';
  CHECK(starts(greet, "220 lab ESMTP portlab mail lab ready, over TLS"));
  r = tls_cmd(c, t, "EHLO me\r\n");
  CHECK(strstr(r, "STARTTLS") == NULL);
  CHECK(strstr(r, "AUTH PLAIN LOGIN") != NULL);
  CHECK(starts(tls_cmd(c, t, "AUTH PLAIN AGFsaWNlAGFsaWNlX3B3\r\n"), "235 "));
  tlsmem_free(t);
  lab_mem_free(c);
}

static void test_garbage_instead_of_handshake(void) {
  struct lab_conn *c = lab_mem_open(&lab_pop3, &ctx, "192.0.2.9");
  take(c);
  CHECK(strstr(cmd(c, "CAPA"), "\r\nSTLS\r\n") != NULL);
  CHECK_EQ_STR(cmd(c, "STLS"), "+OK Begin TLS negotiation\r\n");
  /* A client that keeps talking in the clear: an alert at most, then the end;
   * the line is never read as a command. */
  feed(c, "USER alice\r\n");
  size_t n;
  const char *out = lab_mem_output(c, &n);
  CHECK(n == 0 || (unsigned char)out[0] == 0x15); /* an alert record at most */
  CHECK(memmem(out, n, "+OK", 3) == NULL);
  CHECK_EQ_INT(lab_mem_closed(c), 1);
  lab_mem_free(c);
}

static void test_no_certificate(void) {
  struct lab_ctx plain = ctx;
  plain.tls_ctx = NULL;
  struct lab_conn *c = lab_mem_open(&lab_smtp, &plain, "192.0.2.9");
  take(c);
  CHECK(strstr(cmd(c, "EHLO me"), "STARTTLS") == NULL);
  CHECK(starts(cmd(c, "STARTTLS"), "502 5.5.1"));
  lab_mem_free(c);
  /* An implicit TLS port without a certificate closes at once. */
  c = lab_mem_open_port(&lab_pop3, &plain, "192.0.2.9", 995);
  CHECK_EQ_INT(lab_mem_closed(c), 1);
  lab_mem_free(c);
}

static void test_ca_in_database(void) {
  char err[256];
  struct db *db = db_open(":memory:", err, sizeof err);
  CHECK(db != NULL);
  struct db_lab_tls row;
  CHECK_EQ_INT(db_lab_tls_get(db, &row), 1); /* nothing before the first start */

  struct lab_tls *a = lab_tls_load(db, "127.0.0.1", "", err, sizeof err);
  CHECK(a && a->renewed);
  CHECK_EQ_STR(a->names, "lab,localhost,127.0.0.1");
  /* A restart with the same names reuses both. */
  struct lab_tls *b = lab_tls_load(db, "127.0.0.1", "", err, sizeof err);
  CHECK(b && !b->renewed);
  CHECK_EQ_STR(b->ca_cert, a->ca_cert);
  CHECK_EQ_STR(b->cert, a->cert);
  /* Another public host: a new certificate, the same CA. */
  struct lab_tls *d = lab_tls_load(db, "127.0.0.1", "198.51.100.7", err, sizeof err);
  CHECK(d && d->renewed);
  CHECK_EQ_STR(d->ca_cert, a->ca_cert);
  CHECK(strcmp(d->cert, a->cert) != 0);
  CHECK_EQ_STR(d->names, "lab,localhost,127.0.0.1,198.51.100.7");
  const char *const names[] = {"lab", "localhost", "127.0.0.1", "198.51.100.7"};
  CHECK_EQ_INT(tlsca_leaf_fits(d->cert, d->ca_cert, names, 4, 86400), 1);
  /* Every address: loopback in both families. */
  struct lab_tls *e = lab_tls_load(db, "0.0.0.0", "", err, sizeof err);
  CHECK(e != NULL);
  CHECK_EQ_STR(e->names, "lab,localhost,127.0.0.1,::1");
  CHECK_EQ_INT(db_lab_tls_get(db, &row), 0);
  CHECK_EQ_STR(row.names, e->names);
  CHECK_EQ_STR(row.ca_cert, a->ca_cert);
  db_lab_tls_free(&row);
  db_lab_tls_free(NULL);
  lab_tls_free(a);
  lab_tls_free(b);
  lab_tls_free(d);
  lab_tls_free(e);
  lab_tls_free(NULL);
  db_close(db);
}

int main(void) {
  char err[256];
  char *ca_cert, *ca_key, *cert, *key;
  const char *const sans[] = {"lab", "127.0.0.1"};

  lab_fixture(&ctx, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "alice_pw");
  if (tlsca_make_ca("test CA", &ca_cert, &ca_key, err, sizeof err) != 0 ||
      tlsca_make_leaf(ca_cert, ca_key, "lab", sans, 2, 30, &cert, &key, err, sizeof err) != 0) {
    fprintf(stderr, "certificates: %s\n", err);
    return 1;
  }
  ctx.tls_ctx = tlsca_server_ctx(cert, key, NULL, err, sizeof err);
  client_ctx = tlsca_client_ctx(ca_cert, 1, err, sizeof err);
  CHECK(ctx.tls_ctx && client_ctx);

  test_smtp_starttls_discards_pipelined();
  test_submission_and_smtps();
  test_garbage_instead_of_handshake();
  test_no_certificate();
  test_ca_in_database();

  SSL_CTX_free(ctx.tls_ctx);
  SSL_CTX_free(client_ctx);
  db_close(ctx.db);
  free(ca_cert);
  free(ca_key);
  free(cert);
  free(key);
  return check_done();
}
