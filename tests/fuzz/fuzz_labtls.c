/* fuzz_labtls.c -- libFuzzer target for TLS in the lab framework (see fuzz_lab.h).
 *
 * The lab servers with a certificate: the second input byte picks a module
 * and a port (cleartext with its upgrade command, submission, or implicit
 * TLS), the first byte the cutting as in fuzz_lab.h, and the rest is the
 * client's byte stream: commands, an upgrade, a ClientHello, records,
 * garbage. The server's side of the handshake is random, so inputs reach
 * the handshake and the failure paths (alerts, closes, the output
 * pumping), not the inside of an established session.
 */
#include <openssl/ssl.h>

#include "fuzz_lab.h"
#include "tlsca.h"

static const struct {
  const struct lab_module *m;
  int port;
} labtls_targets[] = {
    {&lab_smtp, 25},  {&lab_smtp, 587}, {&lab_smtp, 465}, {&lab_pop3, 110}, {&lab_pop3, 995},
    {&lab_imap, 143}, {&lab_imap, 993}, {&lab_ftp, 21},   {&lab_ftp, 990},
};

static void labtls_init(void) {
  static const char *const sans[] = {"lab", "127.0.0.1"};
  char err[256], *ca_cert, *ca_key, *cert, *key;

  fuzz_lab_init(NULL);
  if (fuzz_ctx.tls_ctx) return;
  if (tlsca_make_ca("fuzz CA", &ca_cert, &ca_key, err, sizeof err) != 0 ||
      tlsca_make_leaf(ca_cert, ca_key, "lab", sans, 2, 30, &cert, &key, err, sizeof err) != 0)
    abort();
  fuzz_ctx.tls_ctx = tlsca_server_ctx(cert, key, NULL, err, sizeof err);
  if (!fuzz_ctx.tls_ctx) abort();
  free(ca_cert);
  free(ca_key);
  free(cert);
  free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  labtls_init();
  if (size < 2) return 0;
  unsigned mode = data[0];
  size_t pick = data[1] % (sizeof labtls_targets / sizeof labtls_targets[0]);
  data += 2;
  size -= 2;
  if (db_lab_savepoint(fuzz_ctx.db) != 0) abort();
  struct lab_conn *c =
      lab_mem_open_port(labtls_targets[pick].m, &fuzz_ctx, "127.0.0.1", labtls_targets[pick].port);
  if (!c) abort();
  uint32_t rnd = mode * 2654435761u + 1;
  size_t pos = 0;
  while (pos < size && !lab_mem_closed(c)) {
    size_t n =
        (mode & 1) ? 1 + (size_t)((rnd = rnd * 1103515245u + 12345u) >> 16) % 200 : size - pos;
    if (n > size - pos) n = size - pos;
    lab_mem_feed(c, data + pos, n);
    pos += n;
    lab_mem_clear(c);
  }
  if (mode & 4) lab_mem_timeout(c);
  lab_mem_free(c);
  if (db_lab_rollback(fuzz_ctx.db) != 0) abort();
  return 0;
}
