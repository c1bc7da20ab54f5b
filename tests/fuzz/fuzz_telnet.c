/* fuzz_telnet.c -- libFuzzer target for the telnet option engine.
 *
 * The first byte picks one of two games, the next two which options each
 * engine accepts (ECHO, SGA, TTYPE, NAWS, locally and remotely):
 *
 * - alone: the rest is a hostile peer's byte stream, fed to one engine in
 *   pieces. What it sends back is bounded by what it was sent (each
 *   negotiation command gets at most one three-byte answer, refusals are
 *   capped), and its data is never more than its input.
 * - a pair: two engines wired back to back; the rest is a list of
 *   two-byte operations (either side asks to enable or disable an option,
 *   or sends a data byte). After every operation the wires are pumped
 *   until both are quiet, which RFC 1143 promises happens within a few
 *   rounds; afterwards both ends agree on every option's state, and every
 *   data byte one side sent arrived, in order, at the other.
 *
 * A broken promise aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telnet.h"

#define WIRE_MAX 65536
#define PUMP_ROUNDS 32

struct end {
  struct telnet *t;
  unsigned char out[WIRE_MAX]; /* bytes for the other end */
  size_t out_len;
  size_t sent_total;
  unsigned char data[WIRE_MAX]; /* data bytes received */
  size_t data_len;
};

static void on_send(void *arg, const unsigned char *p, size_t n) {
  struct end *e = arg;
  if (e->out_len + n > WIRE_MAX) abort(); /* unbounded output */
  memcpy(e->out + e->out_len, p, n);
  e->out_len += n;
  e->sent_total += n;
}

static void on_data(void *arg, const unsigned char *p, size_t n) {
  struct end *e = arg;
  if (e->data_len + n > WIRE_MAX) abort();
  memcpy(e->data + e->data_len, p, n);
  e->data_len += n;
}

static void on_subneg(void *arg, int option, const unsigned char *p, size_t n, int truncated) {
  if (option < 0 || option > 255 || (n && !p)) abort();
}

static const struct telnet_callbacks callbacks = {
    .send = on_send, .data = on_data, .subneg = on_subneg};

static const int options[] = {TELNET_OPT_ECHO, TELNET_OPT_SGA, TELNET_OPT_TTYPE, TELNET_OPT_NAWS};

static struct telnet *make(struct end *e, unsigned mask) {
  memset(e, 0, sizeof *e);
  e->t = telnet_new(&callbacks, e);
  if (!e->t) abort();
  for (int i = 0; i < 4; i++)
    telnet_accept(e->t, options[i], (mask >> (2 * i)) & 1, (mask >> (2 * i + 1)) & 1);
  return e->t;
}

static struct end a, b;

static void alone(const uint8_t *data, size_t size, unsigned chunking) {
  size_t pos = 0, step = 1 + chunking % 13;
  while (pos < size) {
    size_t n = size - pos < step ? size - pos : step;
    telnet_recv(a.t, data + pos, n);
    pos += n;
    a.out_len = 0; /* the wire to nowhere */
  }
  /* At most one answer (3 bytes) per 3-byte command received. */
  if (a.sent_total > size + 3) abort();
  if (a.data_len > size) abort();
}

/* Moves what each end sent to the other until both are quiet. */
static void pump(void) {
  unsigned char buf[WIRE_MAX];
  for (int round = 0; round < PUMP_ROUNDS; round++) {
    if (a.out_len == 0 && b.out_len == 0) return;
    size_t n = a.out_len;
    memcpy(buf, a.out, n);
    a.out_len = 0;
    telnet_recv(b.t, buf, n);
    n = b.out_len;
    memcpy(buf, b.out, n);
    b.out_len = 0;
    telnet_recv(a.t, buf, n);
  }
  abort(); /* two engines that never settle */
}

static void pair(const uint8_t *data, size_t size) {
  unsigned char sent_ab[WIRE_MAX / 2], sent_ba[WIRE_MAX / 2];
  size_t n_ab = 0, n_ba = 0;

  for (size_t i = 0; i + 1 < size; i += 2) {
    unsigned op = data[i];
    int opt = data[i + 1];
    int enable = (op >> 3) & 1;
    switch (op & 7) {
      case 0:
        telnet_set_local(a.t, opt, enable);
        break;
      case 1:
        telnet_set_remote(a.t, opt, enable);
        break;
      case 2:
        telnet_set_local(b.t, opt, enable);
        break;
      case 3:
        telnet_set_remote(b.t, opt, enable);
        break;
      case 4:
      case 5: {
        unsigned char c = (unsigned char)opt;
        telnet_send_data(a.t, &c, 1);
        if (n_ab < sizeof sent_ab) sent_ab[n_ab++] = c;
        break;
      }
      default: {
        unsigned char c = (unsigned char)opt;
        telnet_send_data(b.t, &c, 1);
        if (n_ba < sizeof sent_ba) sent_ba[n_ba++] = c;
        break;
      }
    }
    pump();
  }
  for (int opt = 0; opt < 256; opt++) {
    if (telnet_local_enabled(a.t, opt) != telnet_remote_enabled(b.t, opt)) abort();
    if (telnet_remote_enabled(a.t, opt) != telnet_local_enabled(b.t, opt)) abort();
  }
  if (b.data_len != n_ab || memcmp(b.data, sent_ab, n_ab) != 0) abort();
  if (a.data_len != n_ba || memcmp(a.data, sent_ba, n_ba) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3 || size > WIRE_MAX / 4) return 0;
  unsigned game = data[0];
  make(&a, data[1]);
  make(&b, data[2]);
  if (game & 1)
    pair(data + 3, size - 3);
  else
    alone(data + 3, size - 3, game >> 1);
  telnet_free(a.t);
  telnet_free(b.t);
  return 0;
}
