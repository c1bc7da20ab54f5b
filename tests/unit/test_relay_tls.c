/* test_relay_tls.c -- the relay's TLS client layer against a tlsmem server in
 * memory: both layers reported, plaintext held until the certificate is
 * judged, a wrong name refused with its reason, "+insecure" going on with a
 * note, the server's close_notify, and the STARTTLS agreement checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "check.h"
#include "db.h"
#include "relay_tls.h"
#include "tlsca.h"
#include "tlsmem.h"

struct side {
  unsigned char wire[65536];
  size_t nwire;
  char plain[4096];
  size_t nplain;
  char rec_c2s[4096], rec_s2c[4096];
  size_t nrec_c2s, nrec_s2c;
  char notes[8192];
  int established, verified;
  char keylog[4096];
};

static void io_wire(void *arg, const unsigned char *p, size_t n) {
  struct side *s = arg;
  memcpy(s->wire + s->nwire, p, n);
  s->nwire += n;
}

static void io_client(void *arg, const unsigned char *p, size_t n) {
  struct side *s = arg;
  memcpy(s->plain + s->nplain, p, n);
  s->nplain += n;
}

static void io_record(void *arg, int dir, const unsigned char *p, size_t n) {
  struct side *s = arg;
  if (dir == DB_DIR_C2S) {
    memcpy(s->rec_c2s + s->nrec_c2s, p, n);
    s->nrec_c2s += n;
  } else {
    CHECK_EQ_INT(dir, DB_DIR_S2C);
    memcpy(s->rec_s2c + s->nrec_s2c, p, n);
    s->nrec_s2c += n;
  }
}

static void io_note(void *arg, const char *line) {
  struct side *s = arg;
  strncat(s->notes, line, sizeof s->notes - strlen(s->notes) - 2);
  strcat(s->notes, "\n");
}

static void io_established(void *arg, const char *keylog, const char *summary, int verified) {
  struct side *s = arg;
  s->established++;
  s->verified = verified;
  snprintf(s->keylog, sizeof s->keylog, "%s", keylog);
  CHECK(strstr(summary, "TLS version: TLSv1.3") != NULL);
}

static const struct relay_tls_io io = {io_wire, io_client, io_record, io_note, io_established};

static SSL_CTX *server_ctx;
static char ca_path[64];
static struct app app;

/* Moves bytes both ways until neither side has any. Returns what the
 * last relay_tls_from_wire said. */
static int shuttle(struct relay_tls *t, struct side *c, struct tlsmem *srv, int *closed) {
  unsigned char buf[65536];
  int rc = 0;
  *closed = 0;
  for (int round = 0; round < 20; round++) {
    size_t n = c->nwire;
    if (n) {
      tlsmem_feed_wire(srv, c->wire, n);
      c->nwire = 0;
    }
    size_t m = tlsmem_take_wire(srv, buf, sizeof buf);
    if (m) rc = relay_tls_from_wire(t, buf, m, closed);
    if (!n && !m) break;
    if (rc) break;
  }
  return rc;
}

static ssize_t server_read(struct tlsmem *srv, char *out, size_t cap) {
  ssize_t n = tlsmem_read(srv, out, cap - 1);
  out[n > 0 ? n : 0] = '\0';
  return n;
}

static void test_verified_session(void) {
  struct side c;
  char err[256], got[256];
  int closed;
  memset(&c, 0, sizeof c);
  struct relay_tls *t = relay_tls_start(&app, &io, &c, "127.0.0.1", 0, 0, err, sizeof err);
  CHECK(t != NULL);
  CHECK(c.nwire > 0); /* the ClientHello */
  CHECK_EQ_INT(c.wire[0], 22);
  struct tlsmem *srv = tlsmem_new(server_ctx, TLSMEM_SERVER, NULL);
  /* Typed before the handshake: held, not yet recorded. */
  CHECK_EQ_INT(relay_tls_from_client(t, (const unsigned char *)"hello\r\n", 7), 0);
  CHECK_EQ_INT(c.nrec_c2s, 0);
  CHECK_EQ_INT(shuttle(t, &c, srv, &closed), 0);
  CHECK_EQ_INT(c.established, 1);
  CHECK_EQ_INT(c.verified, 1);
  CHECK(relay_tls_established(t));
  CHECK(strstr(c.notes, "tls: verification: ok") != NULL);
  CHECK(strstr(c.notes, "IP:127.0.0.1") != NULL);
  CHECK(strstr(c.keylog, "CLIENT_TRAFFIC_SECRET_0 ") != NULL);
  shuttle(t, &c, srv, &closed);
  CHECK(server_read(srv, got, sizeof got) > 0);
  CHECK_EQ_STR(got, "hello\r\n");
  CHECK_EQ_INT(c.nrec_c2s, 7);
  /* The server answers: plaintext to the browser and the record. */
  CHECK_EQ_INT(tlsmem_write(srv, "220 ok\r\n", 8), 0);
  CHECK_EQ_INT(shuttle(t, &c, srv, &closed), 0);
  CHECK_EQ_INT(c.nplain, 8);
  CHECK(memcmp(c.plain, "220 ok\r\n", 8) == 0);
  CHECK_EQ_INT(c.nrec_s2c, 8);
  /* The server's close_notify ends it as a close, not a failure. */
  tlsmem_close(srv);
  CHECK_EQ_INT(shuttle(t, &c, srv, &closed), -1);
  CHECK_EQ_INT(closed, 1);
  CHECK(strstr(relay_tls_error(t), "close_notify") != NULL);
  relay_tls_free(t);
  tlsmem_free(srv);
}

static void test_wrong_name_refused(int insecure) {
  struct side c;
  char err[256], got[64];
  int closed;
  memset(&c, 0, sizeof c);
  struct relay_tls *t =
      relay_tls_start(&app, &io, &c, "mail.example", 0, insecure, err, sizeof err);
  CHECK(t != NULL);
  struct tlsmem *srv = tlsmem_new(server_ctx, TLSMEM_SERVER, NULL);
  CHECK_EQ_INT(relay_tls_from_client(t, (const unsigned char *)"PASS secret\r\n", 13), 0);
  int rc = shuttle(t, &c, srv, &closed);
  CHECK(strstr(c.notes, "tls: certificate 0: subject") != NULL);
  if (!insecure) {
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_INT(closed, 0);
    CHECK(strstr(relay_tls_error(t), "did not verify") != NULL);
    CHECK(strstr(relay_tls_error(t), "mismatch") != NULL);
    CHECK_EQ_INT(c.established, 0);
    CHECK_EQ_INT(c.nrec_c2s, 0);
    /* Nothing typed reached the server. */
    CHECK(server_read(srv, got, sizeof got) <= 0);
    CHECK_EQ_INT(relay_tls_from_client(t, (const unsigned char *)"x", 1), -1);
  } else {
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(c.established, 1);
    CHECK_EQ_INT(c.verified, 0);
    CHECK(strstr(c.notes, "+insecure") != NULL);
    shuttle(t, &c, srv, &closed);
    CHECK(server_read(srv, got, sizeof got) > 0);
    CHECK_EQ_STR(got, "PASS secret\r\n");
  }
  relay_tls_free(t);
  tlsmem_free(srv);
}

static int agreed(const char *sent, const char *got) {
  struct relay_tls_tail a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  relay_tls_tail_add(&a, (const unsigned char *)sent, strlen(sent));
  relay_tls_tail_add(&b, (const unsigned char *)got, strlen(got));
  return relay_tls_client_asked(&a) && relay_tls_server_agreed(&b);
}

static void test_agreement(void) {
  CHECK(agreed("EHLO x\r\nSTARTTLS\r\n", "220 lab\r\n250 ok\r\n220 2.0.0 Ready to start TLS\r\n"));
  CHECK(agreed("stls\r\n", "+OK Begin TLS negotiation\r\n"));
  CHECK(agreed("a1 STARTTLS\r\n", "a1 OK Begin TLS negotiation now\r\n"));
  CHECK(agreed("AUTH TLS\r\n", "234 AUTH TLS successful\r\n"));
  CHECK(agreed("STARTTLS\n", "220 go\n")); /* bare LF too */
  /* Not asked, not agreed, or not yet a whole line. */
  CHECK(!agreed("EHLO x\r\n", "220 lab ESMTP\r\n"));
  CHECK(!agreed("STARTTLS\r\n", "454 TLS not available\r\n"));
  CHECK(!agreed("STARTTLS\r\n", "220 Ready"));
  CHECK(!agreed("STARTTLS", "220 Ready\r\n"));
  CHECK(!agreed("a1 STARTTLS\r\n", "* OK still here\r\n"));
  CHECK(!agreed("a1 STARTTLS\r\n", "a1 NO not now\r\n"));
  CHECK(!agreed("MAIL FROM:<starttls@x>\r\n", "250 ok\r\n"));
  CHECK(!agreed("XSTARTTLSX\r\n", "220 go\r\n"));
  /* The tail keeps the newest LIM_TLS_AGREED_LINE bytes, whatever came before. */
  struct relay_tls_tail a;
  memset(&a, 0, sizeof a);
  char junk[3000];
  memset(junk, 'x', sizeof junk);
  relay_tls_tail_add(&a, (const unsigned char *)junk, sizeof junk);
  CHECK_EQ_INT(a.n, LIM_TLS_AGREED_LINE);
  relay_tls_tail_add(&a, (const unsigned char *)"\r\nSTLS\r\n", 8);
  CHECK_EQ_INT(a.n, LIM_TLS_AGREED_LINE);
  CHECK(relay_tls_client_asked(&a));
}

int main(void) {
  char err[256], *ca_cert, *ca_key, *cert, *key;
  const char *sans[] = {"127.0.0.1", "lab"};
  CHECK_EQ_INT(tlsca_make_ca("test CA", &ca_cert, &ca_key, err, sizeof err), 0);
  CHECK_EQ_INT(tlsca_make_leaf(ca_cert, ca_key, "lab", sans, 2, 30, &cert, &key, err, sizeof err),
               0);
  server_ctx = tlsca_server_ctx(cert, key, NULL, err, sizeof err);
  CHECK(server_ctx != NULL);
  snprintf(ca_path, sizeof ca_path, "/tmp/portlab-test-ca-%d.pem", (int)getpid());
  FILE *f = fopen(ca_path, "w");
  fputs(ca_cert, f);
  fclose(f);
  snprintf(app.cfg.tls_ca, sizeof app.cfg.tls_ca, "%s", ca_path);

  test_verified_session();
  test_wrong_name_refused(0);
  test_wrong_name_refused(1);
  test_agreement();

  relay_tls_cleanup(&app);
  SSL_CTX_free(server_ctx);
  unlink(ca_path);
  free(ca_cert);
  free(ca_key);
  free(cert);
  free(key);
  return check_done();
}
