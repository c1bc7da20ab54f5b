/* test_tlsmem.c -- unit tests for the memory-BIO TLS engine and the lab CA.
 *
 * A client and a server tlsmem talk to each other in memory: the test is
 * the wire, so it can look at (and damage) every byte. Certificates come
 * from tlsca, so the CA code is exercised here as well.
 */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "portlab_limits.h"
#include "tlsca.h"
#include "tlsmem.h"

static char *ca_cert, *ca_key, *leaf_cert, *leaf_key;
static char *other_ca_cert, *other_ca_key;
static const char *const lab_sans[] = {"lab", "127.0.0.1", "::1"};

/* Moves every pending ciphertext byte from one endpoint to the other;
 * returns the bytes moved, -1 if the receiver failed. */
static long pump(struct tlsmem *from, struct tlsmem *to) {
  unsigned char buf[4096];
  long moved = 0;
  size_t n;
  while ((n = tlsmem_take_wire(from, buf, sizeof buf)) > 0) {
    moved += (long)n;
    if (tlsmem_feed_wire(to, buf, n) < 0) return -1;
  }
  return moved;
}

/* Runs the handshake to its end (or failure): at most a few flights. */
static int handshake(struct tlsmem *c, struct tlsmem *s) {
  for (int i = 0; i < 10; i++) {
    long a = pump(c, s);
    if (a < 0) return -1;
    long b = pump(s, c);
    if (b < 0) return -1;
    if (a == 0 && b == 0) break;
  }
  return tlsmem_handshake_done(c) && tlsmem_handshake_done(s) ? 0 : -1;
}

static void test_ca(void) {
  char err[256] = "";
  CHECK_EQ_INT(tlsca_make_ca("portlab lab CA", &ca_cert, &ca_key, err, sizeof err), 0);
  CHECK(ca_cert && strstr(ca_cert, "BEGIN CERTIFICATE"));
  CHECK(ca_key && strstr(ca_key, "PRIVATE KEY"));
  CHECK_EQ_INT(tlsca_make_leaf(ca_cert, ca_key, "lab", lab_sans, 3, LIM_TLS_CERT_DAYS, &leaf_cert,
                               &leaf_key, err, sizeof err),
               0);
  CHECK(leaf_cert && leaf_key);
  CHECK_EQ_INT(tlsca_make_ca("someone else", &other_ca_cert, &other_ca_key, err, sizeof err), 0);

  /* The renewal test: same names in another order fit; one name more or
   * less, another CA, or a validity too short do not. */
  const char *const reordered[] = {"::1", "lab", "127.0.0.1"};
  const char *const more[] = {"lab", "127.0.0.1", "::1", "192.0.2.7"};
  const char *const changed[] = {"lab", "127.0.0.2", "::1"};
  CHECK_EQ_INT(tlsca_leaf_fits(leaf_cert, ca_cert, lab_sans, 3, 86400), 1);
  CHECK_EQ_INT(tlsca_leaf_fits(leaf_cert, ca_cert, reordered, 3, 86400), 1);
  CHECK_EQ_INT(tlsca_leaf_fits(leaf_cert, ca_cert, more, 4, 86400), 0);
  CHECK_EQ_INT(tlsca_leaf_fits(leaf_cert, ca_cert, lab_sans, 2, 86400), 0);
  CHECK_EQ_INT(tlsca_leaf_fits(leaf_cert, ca_cert, changed, 3, 86400), 0);
  CHECK_EQ_INT(tlsca_leaf_fits(leaf_cert, other_ca_cert, lab_sans, 3, 86400), 0);
  CHECK_EQ_INT(tlsca_leaf_fits(leaf_cert, ca_cert, lab_sans, 3, 400L * 86400), 0);
  CHECK_EQ_INT(tlsca_leaf_fits("garbage", ca_cert, lab_sans, 3, 0), 0);
  time_t na = tlsca_not_after(leaf_cert);
  CHECK(na > time(NULL) + (LIM_TLS_CERT_DAYS - 1) * 86400L);
  CHECK(na <= time(NULL) + LIM_TLS_CERT_DAYS * 86400L);

  /* The SAN count at its edge: LIM_TLS_SANS names allowed, one more refused. */
  const char *names[LIM_TLS_SANS + 1];
  char bufs[LIM_TLS_SANS + 1][16];
  for (int i = 0; i <= LIM_TLS_SANS; i++) {
    snprintf(bufs[i], sizeof bufs[i], "n%d.lab", i);
    names[i] = bufs[i];
  }
  char *c = NULL, *k = NULL;
  CHECK_EQ_INT(
      tlsca_make_leaf(ca_cert, ca_key, "lab", names, LIM_TLS_SANS, 30, &c, &k, err, sizeof err), 0);
  free(c);
  free(k);
  CHECK_EQ_INT(
      tlsca_make_leaf(ca_cert, ca_key, "lab", names, LIM_TLS_SANS + 1, 30, &c, &k, err, sizeof err),
      -1);
  CHECK(c == NULL && k == NULL);
  /* A name that would add an entry of its own to the SAN list is refused. */
  const char *sneaky[] = {"lab,DNS:evil.example"};
  CHECK_EQ_INT(tlsca_make_leaf(ca_cert, ca_key, "lab", sneaky, 1, 30, &c, &k, err, sizeof err), -1);
  CHECK(strstr(err, "bad certificate name") != NULL);
}

static void test_conversation(void) {
  char err[256];
  SSL_CTX *sctx = tlsca_server_ctx(leaf_cert, leaf_key, NULL, err, sizeof err);
  SSL_CTX *cctx = tlsca_client_ctx(ca_cert, 1, err, sizeof err);
  CHECK(sctx && cctx);
  struct tlsmem *c = tlsmem_new(cctx, TLSMEM_CLIENT, "lab");
  struct tlsmem *s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  CHECK(c && s);
  /* The ClientHello is ready at once; the server has nothing to say yet. */
  CHECK(tlsmem_wire_pending(c) > 0);
  CHECK_EQ_INT(tlsmem_wire_pending(s), 0);
  /* The server's greeting is written before the handshake: it is queued,
   * never sent in the clear. */
  CHECK_EQ_INT(tlsmem_write(s, "220 lab ESMTP\r\n", 15), 0);
  CHECK_EQ_INT(tlsmem_wire_pending(s), 0);
  char buf[256];
  CHECK_EQ_INT(tlsmem_summary(c, buf, sizeof buf), -1);
  CHECK_EQ_STR(tlsmem_version(c), "");

  /* Watch the wire for the plaintext while the handshake runs. */
  unsigned char wire[8192];
  size_t n = tlsmem_take_wire(c, wire, sizeof wire);
  CHECK_EQ_INT(tlsmem_feed_wire(s, wire, n), 0);
  n = tlsmem_take_wire(s, wire, sizeof wire);
  CHECK(n > 0);
  CHECK(memmem(wire, n, "220 lab", 7) == NULL);
  CHECK_EQ_INT(tlsmem_feed_wire(c, wire, n), 0);
  CHECK_EQ_INT(handshake(c, s), 0);
  CHECK_EQ_STR(tlsmem_error(c), "");

  ssize_t r = tlsmem_read(c, buf, sizeof buf);
  CHECK_EQ_INT(r, 15);
  CHECK(r == 15 && memcmp(buf, "220 lab ESMTP\r\n", 15) == 0);
  CHECK_EQ_INT(tlsmem_read(c, buf, sizeof buf), 0); /* nothing more */

  /* A command the other way, encrypted on the wire. */
  CHECK_EQ_INT(tlsmem_write(c, "AUTH PLAIN c2VjcmV0\r\n", 21), 0);
  n = tlsmem_take_wire(c, wire, sizeof wire);
  CHECK(n > 21);
  CHECK(memmem(wire, n, "AUTH", 4) == NULL);
  CHECK_EQ_INT(tlsmem_feed_wire(s, wire, n), 0);
  r = tlsmem_read(s, buf, sizeof buf);
  CHECK_EQ_INT(r, 21);
  CHECK(r == 21 && memcmp(buf, "AUTH PLAIN c2VjcmV0\r\n", 21) == 0);

  /* A read with a small buffer leaves the rest for the next one. */
  CHECK_EQ_INT(tlsmem_write(s, "0123456789", 10), 0);
  CHECK(pump(s, c) > 0);
  CHECK_EQ_INT(tlsmem_read(c, buf, 4), 4);
  CHECK_EQ_INT(tlsmem_read(c, buf + 4, sizeof buf - 4), 6);
  CHECK(memcmp(buf, "0123456789", 10) == 0);

  /* The summary names the version, the cipher, the chain and the verdict. */
  char sum[2048];
  int sl = tlsmem_summary(c, sum, sizeof sum);
  CHECK(sl > 0 && (size_t)sl == strlen(sum));
  CHECK(strstr(sum, "TLS version: TLSv1.3\n") != NULL);
  CHECK(strstr(sum, "cipher: TLS_") != NULL);
  CHECK(strstr(sum, "certificate 0: subject CN=lab,O=portlab\n") != NULL);
  CHECK(strstr(sum, "certificate 0: issuer CN=portlab lab CA,O=portlab\n") != NULL);
  CHECK(strstr(sum, "SANs DNS:lab, IP:127.0.0.1, IP:::1\n") != NULL);
  CHECK(strstr(sum, "certificate 0: valid ") != NULL);
  CHECK(strstr(sum, "verification: ok\n") != NULL);
  CHECK_EQ_STR(tlsmem_version(s), "TLSv1.3");
  /* A short buffer truncates and still terminates. */
  char small[16];
  CHECK_EQ_INT(tlsmem_summary(c, small, sizeof small), 15);
  CHECK_EQ_INT(strlen(small), 15);
  /* The server saw no client certificate. */
  CHECK(tlsmem_summary(s, sum, sizeof sum) > 0);
  CHECK(strstr(sum, "peer certificate: none") != NULL);

  /* Key log: TLS 1.3 has five secrets, each "LABEL <client random> <secret>". */
  char kl[LIM_TLS_KEYLOG_BYTES];
  size_t kn = tlsmem_keylog(c, kl, sizeof kl);
  CHECK(kn > 0 && kn == strlen(kl));
  CHECK(strstr(kl, "CLIENT_HANDSHAKE_TRAFFIC_SECRET ") != NULL);
  CHECK(strstr(kl, "SERVER_TRAFFIC_SECRET_0 ") != NULL);
  CHECK(kn > 0 && kl[kn - 1] == '\n');
  char kl2[LIM_TLS_KEYLOG_BYTES];
  CHECK_EQ_INT(tlsmem_keylog(s, kl2, sizeof kl2), kn); /* both sides log the same secrets */
  CHECK(strstr(kl2, "CLIENT_TRAFFIC_SECRET_0 ") != NULL);

  /* close_notify: the reader gets -1 and knows it was a clean close. */
  tlsmem_close(c);
  CHECK(tlsmem_wire_pending(c) > 0);
  CHECK(pump(c, s) > 0);
  CHECK_EQ_INT(tlsmem_read(s, buf, sizeof buf), -1);
  CHECK_EQ_INT(tlsmem_peer_closed(s), 1);
  CHECK_EQ_INT(tlsmem_failed(s), 0);

  tlsmem_free(c);
  tlsmem_free(s);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

static void test_tls12(void) {
  char err[256];
  SSL_CTX *sctx = tlsca_server_ctx(leaf_cert, leaf_key, NULL, err, sizeof err);
  SSL_CTX *cctx = tlsca_client_ctx(ca_cert, 1, err, sizeof err);
  SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
  struct tlsmem *c = tlsmem_new(cctx, TLSMEM_CLIENT, "127.0.0.1");
  struct tlsmem *s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  CHECK_EQ_INT(handshake(c, s), 0);
  CHECK_EQ_STR(tlsmem_version(c), "TLSv1.2");
  char kl[LIM_TLS_KEYLOG_BYTES];
  CHECK(tlsmem_keylog(c, kl, sizeof kl) > 0);
  CHECK(strncmp(kl, "CLIENT_RANDOM ", 14) == 0);
  tlsmem_free(c);
  tlsmem_free(s);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

static void test_verify_fails(void) {
  char err[256];
  SSL_CTX *sctx = tlsca_server_ctx(leaf_cert, leaf_key, NULL, err, sizeof err);
  /* A client that trusts another CA refuses the lab's certificate. */
  SSL_CTX *wrong = tlsca_client_ctx(other_ca_cert, 1, err, sizeof err);
  struct tlsmem *c = tlsmem_new(wrong, TLSMEM_CLIENT, "lab");
  struct tlsmem *s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  CHECK_EQ_INT(handshake(c, s), -1);
  CHECK_EQ_INT(tlsmem_failed(c), 1);
  CHECK(strstr(tlsmem_error(c), "certificate verify failed") != NULL);
  CHECK(strstr(tlsmem_error(c), "local issuer") != NULL);
  CHECK_EQ_INT(tlsmem_handshake_done(c), 0);
  /* A failed endpoint stays failed. */
  CHECK_EQ_INT(tlsmem_write(c, "x", 1), -1);
  CHECK_EQ_INT(tlsmem_read(c, err, sizeof err), -1);
  CHECK_EQ_INT(tlsmem_feed_wire(c, "x", 1), -1);
  tlsmem_free(c);
  tlsmem_free(s);

  /* The right CA but the wrong name. */
  SSL_CTX *cctx = tlsca_client_ctx(ca_cert, 1, err, sizeof err);
  c = tlsmem_new(cctx, TLSMEM_CLIENT, "mail.example");
  s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  CHECK_EQ_INT(handshake(c, s), -1);
  CHECK(strstr(tlsmem_error(c), "hostname mismatch") != NULL);
  tlsmem_free(c);
  tlsmem_free(s);

  /* Not verifying (an insecure rule): the handshake completes and the
   * summary still says what was wrong. */
  SSL_CTX *lax = tlsca_client_ctx(other_ca_cert, 0, err, sizeof err);
  c = tlsmem_new(lax, TLSMEM_CLIENT, "lab");
  s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  CHECK_EQ_INT(handshake(c, s), 0);
  char sum[2048];
  CHECK(tlsmem_summary(c, sum, sizeof sum) > 0);
  CHECK(strstr(sum, "verification: unable to get local issuer certificate") != NULL);
  tlsmem_free(c);
  tlsmem_free(s);

  SSL_CTX_free(sctx);
  SSL_CTX_free(wrong);
  SSL_CTX_free(cctx);
  SSL_CTX_free(lax);
}

static void test_bad_records(void) {
  char err[256];
  SSL_CTX *sctx = tlsca_server_ctx(leaf_cert, leaf_key, NULL, err, sizeof err);
  SSL_CTX *cctx = tlsca_client_ctx(ca_cert, 1, err, sizeof err);

  /* A plaintext command where a ClientHello belongs (a client that did not
   * start TLS): fatal, with a reason. */
  struct tlsmem *s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  CHECK_EQ_INT(tlsmem_feed_wire(s, "EHLO x\r\n", 8), -1);
  CHECK_EQ_INT(tlsmem_failed(s), 1);
  CHECK(strncmp(tlsmem_error(s), "handshake: ", 11) == 0);
  tlsmem_free(s);

  /* A ClientHello cut short: no verdict yet, just waiting for the rest. */
  struct tlsmem *c = tlsmem_new(cctx, TLSMEM_CLIENT, "lab");
  s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  unsigned char hello[4096];
  size_t hn = tlsmem_take_wire(c, hello, sizeof hello);
  CHECK(hn > 10);
  CHECK_EQ_INT(tlsmem_feed_wire(s, hello, 10), 0);
  CHECK_EQ_INT(tlsmem_failed(s), 0);
  CHECK_EQ_INT(tlsmem_wire_pending(s), 0);
  CHECK_EQ_INT(tlsmem_read(s, err, sizeof err), 0);
  /* The rest arrives: the handshake goes on as if nothing happened. */
  CHECK_EQ_INT(tlsmem_feed_wire(s, hello + 10, hn - 10), 0);
  CHECK_EQ_INT(handshake(c, s), 0);

  /* A record damaged in flight fails authentication (bad_record_mac). */
  CHECK_EQ_INT(tlsmem_write(c, "LOGIN a b\r\n", 11), 0);
  unsigned char rec[4096];
  size_t rn = tlsmem_take_wire(c, rec, sizeof rec);
  CHECK(rn > 20);
  rec[rn - 3] ^= 0x55;
  CHECK_EQ_INT(tlsmem_feed_wire(s, rec, rn), -1);
  CHECK_EQ_INT(tlsmem_failed(s), 1);
  CHECK(strstr(tlsmem_error(s), "record: ") == tlsmem_error(s));
  CHECK(tlsmem_wire_pending(s) > 0); /* the alert for the peer */
  tlsmem_free(c);
  tlsmem_free(s);

  /* Garbage after a good handshake: a record header with a bad type. */
  c = tlsmem_new(cctx, TLSMEM_CLIENT, "lab");
  s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  CHECK_EQ_INT(handshake(c, s), 0);
  static const unsigned char junk[] = {0x99, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5};
  CHECK_EQ_INT(tlsmem_feed_wire(c, junk, sizeof junk), -1);
  CHECK(tlsmem_error(c)[0] != '\0');
  tlsmem_free(c);
  tlsmem_free(s);

  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

static void test_pending_limit(void) {
  char err[256];
  SSL_CTX *sctx = tlsca_server_ctx(leaf_cert, leaf_key, NULL, err, sizeof err);
  SSL_CTX *cctx = tlsca_client_ctx(ca_cert, 1, err, sizeof err);
  struct tlsmem *c = tlsmem_new(cctx, TLSMEM_CLIENT, "lab");
  struct tlsmem *s = tlsmem_new(sctx, TLSMEM_SERVER, NULL);
  /* Exactly LIM_TLS_PENDING_BYTES may wait for the handshake; one more is
   * refused whole and what was queued stays intact. */
  unsigned char *big = malloc(LIM_TLS_PENDING_BYTES);
  for (size_t i = 0; i < LIM_TLS_PENDING_BYTES; i++) big[i] = (unsigned char)(i * 7);
  CHECK_EQ_INT(tlsmem_write(c, big, LIM_TLS_PENDING_BYTES - 1), 0);
  CHECK_EQ_INT(tlsmem_write(c, big + LIM_TLS_PENDING_BYTES - 1, 1), 0);
  CHECK_EQ_INT(tlsmem_write(c, "x", 1), -1);
  CHECK(strstr(tlsmem_error(c), "before the handshake") != NULL);
  CHECK_EQ_INT(tlsmem_failed(c), 0);
  CHECK_EQ_INT(handshake(c, s), 0);
  unsigned char *got = malloc(LIM_TLS_PENDING_BYTES);
  size_t have = 0;
  for (int i = 0; i < 1000 && have < LIM_TLS_PENDING_BYTES; i++) {
    pump(c, s);
    ssize_t r = tlsmem_read(s, got + have, LIM_TLS_PENDING_BYTES - have);
    if (r < 0) break;
    have += (size_t)r;
  }
  CHECK_EQ_INT(have, LIM_TLS_PENDING_BYTES);
  CHECK(memcmp(got, big, LIM_TLS_PENDING_BYTES) == 0);
  free(big);
  free(got);
  tlsmem_free(c);
  tlsmem_free(s);
  tlsmem_free(NULL);
  SSL_CTX_free(sctx);
  SSL_CTX_free(cctx);
}

int main(void) {
  test_ca();
  test_conversation();
  test_tls12();
  test_verify_fails();
  test_bad_records();
  test_pending_limit();
  free(ca_cert);
  free(ca_key);
  free(leaf_cert);
  free(leaf_key);
  free(other_ca_cert);
  free(other_ca_key);
  return check_done();
}
