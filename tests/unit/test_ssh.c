/* test_ssh.c -- unit tests for the lab SSH banner server (protocols/ssh.c).
 *
 * Drives the module through the in-memory connection: the server's
 * identification line, the client's line at its 255-byte edge and every
 * way it can be wrong, the KEXINIT's framing and name-lists parsed back
 * field by field, the ssh.ident event, the goodbye after the client's
 * KEXINIT, IGNORE packets skipped, bad framing and the packet size limit at
 * its edge, input cut at every byte, and the idle timeout.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "lab.h"
#include "lab_session.h"
#include "labident.h"
#include "portlab_limits.h"
#include "progress.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PEER_PORT 52022

static struct lab_ctx ctx;
static int64_t alice_id;

static uint32_t u32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the RFC 4253 section 6 framing of the packet at p (n bytes
 * available); returns the payload and its length, or NULL. */
static const unsigned char *packet(const unsigned char *p, size_t n, size_t *payload_len,
                                   size_t *total) {
  if (n < 5) return NULL;
  uint32_t len = u32(p), pad = p[4];
  if (len + 4 > n || (len + 4) % 8 != 0 || pad < 4 || pad + 1 >= len) return NULL;
  *payload_len = len - 1 - pad;
  *total = len + 4;
  return p + 5;
}

/* Reads an RFC 4251 string at *off into out. -1 if it runs past n. */
static int get_string(const unsigned char *p, size_t n, size_t *off, char *out, size_t outlen) {
  if (*off + 4 > n) return -1;
  uint32_t len = u32(p + *off);
  if (*off + 4 + len > n || len >= outlen) return -1;
  memcpy(out, p + *off + 4, len);
  out[len] = '\0';
  *off += 4 + len;
  return 0;
}

/* A minimal well-framed client packet with this payload into out. */
static size_t make_packet(unsigned char *out, const unsigned char *payload, size_t n) {
  size_t pad = 8 - (5 + n) % 8;
  if (pad < 4) pad += 8;
  uint32_t len = (uint32_t)(1 + n + pad);
  out[0] = (unsigned char)(len >> 24);
  out[1] = (unsigned char)(len >> 16);
  out[2] = (unsigned char)(len >> 8);
  out[3] = (unsigned char)len;
  out[4] = (unsigned char)pad;
  memcpy(out + 5, payload, n);
  memset(out + 5 + n, 0, pad);
  return 5 + n + pad;
}

static struct lab_conn *open_conn(void) {
  struct lab_conn *c = lab_mem_open(&lab_ssh, &ctx, "127.0.0.1");
  lab_mem_set_peer_port(c, PEER_PORT);
  return c;
}

/* After the version exchange: the output is one KEXINIT, checked in full. */
static void check_kexinit(const unsigned char *out, size_t n) {
  size_t plen, total, off = 17;
  const unsigned char *pl = packet(out, n, &plen, &total);
  char list[1024];
  static const char *const want_first[] = {"curve25519-sha256",
                                           "ssh-ed25519",
                                           "chacha20-poly1305@openssh.com",
                                           "chacha20-poly1305@openssh.com",
                                           "hmac-sha2-256-etm@openssh.com",
                                           "hmac-sha2-256-etm@openssh.com",
                                           "none",
                                           "none",
                                           "",
                                           ""};
  CHECK(pl != NULL);
  if (!pl) return;
  CHECK_EQ_INT(total, n); /* nothing else was sent */
  CHECK_EQ_INT(pl[0], 20);
  for (size_t i = 0; i < 10; i++) {
    CHECK_EQ_INT(get_string(pl, plen, &off, list, sizeof list), 0);
    CHECK(strncmp(list, want_first[i], strlen(want_first[i])) == 0);
    CHECK(strchr(list, ' ') == NULL);
  }
  CHECK_EQ_INT(plen - off, 5); /* first_kex_packet_follows, reserved */
  CHECK_EQ_INT(pl[off], 0);
  CHECK_EQ_INT(u32(pl + off + 1), 0);
}

/* The output is one DISCONNECT with this reason; the connection closed. */
static void check_disconnect(struct lab_conn *c, uint32_t reason, const char *text) {
  size_t n, plen, total, off = 5;
  const unsigned char *out = (const unsigned char *)lab_mem_output(c, &n);
  const unsigned char *pl = packet(out, n, &plen, &total);
  char desc[512];
  CHECK(pl != NULL);
  if (!pl) return;
  CHECK_EQ_INT(pl[0], 1);
  CHECK_EQ_INT(u32(pl + 1), reason);
  CHECK_EQ_INT(get_string(pl, plen, &off, desc, sizeof desc), 0);
  CHECK(strstr(desc, text) != NULL);
  CHECK(lab_mem_closed(c));
}

static int count_cb(void *arg, const char *attrs) {
  if (strstr(attrs, "\"software\":\"Lab_Client1.0\"") && strstr(attrs, "\"proto\":\"2.0\""))
    (*(int *)arg)++;
  return 0;
}

static void test_exchange(void) {
  size_t n;
  struct lab_conn *c = open_conn();
  const char *greeting = take(c);
  unsigned char kex[64], pkt[128];

  CHECK(starts(greeting, "SSH-2.0-portlab_lab "));
  CHECK(strlen(greeting) <= LIM_SSH_IDENT);
  CHECK(strcmp(greeting + strlen(greeting) - 2, "\r\n") == 0);
  CHECK_EQ_INT(strchr(greeting, '\r') - greeting, strlen(greeting) - 2);

  feed(c, "SSH-2.0-Lab_Client1.0 typed by hand\r\n");
  const unsigned char *out = (const unsigned char *)lab_mem_output(c, &n);
  check_kexinit(out, n);
  lab_mem_clear(c);
  CHECK(!lab_mem_closed(c));

  int events = 0;
  CHECK_EQ_INT(db_lab_event_find(ctx.db, alice_id, "ssh.ident", count_cb, &events), 1);
  CHECK_EQ_INT(events, 1);

  /* An IGNORE packet changes nothing; the client's KEXINIT ends it. */
  unsigned char ignore[] = {2, 0, 0, 0, 3, 'a', 'b', 'c'};
  lab_mem_feed(c, pkt, make_packet(pkt, ignore, sizeof ignore));
  lab_mem_output(c, &n);
  CHECK_EQ_INT(n, 0);
  CHECK(!lab_mem_closed(c));
  memset(kex, 0, sizeof kex);
  kex[0] = 20;
  lab_mem_feed(c, pkt, make_packet(pkt, kex, 16 + 1 + 10 * 4 + 5));
  check_disconnect(c, 11, "cleartext");
  lab_mem_free(c);

  /* Version 1.99 means "2.0 and 1.x": accepted. A bare LF is too. */
  c = open_conn();
  take(c);
  feed(c, "SSH-1.99-Old\n");
  out = (const unsigned char *)lab_mem_output(c, &n);
  check_kexinit(out, n);
  lab_mem_free(c);
}

/* A refusal: a cleartext line with the reason, then the end. */
static void check_refused(const char *input, size_t len, const char *reason) {
  struct lab_conn *c = open_conn();
  take(c);
  lab_mem_feed(c, input, len);
  take(c);
  CHECK(strstr(last_out, reason) != NULL);
  CHECK(last_out[0] != '\0' && last_out[0] != 0 && (unsigned char)last_out[0] >= 0x20);
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_ident_limits(void) {
  char line[LIM_SSH_IDENT + 8];
  size_t n, i;

  /* 255 bytes with CR LF: accepted. */
  n = (size_t)snprintf(line, sizeof line, "SSH-2.0-Edge ");
  for (i = n; i < LIM_SSH_IDENT - 2; i++) line[i] = 'x';
  line[i++] = '\r';
  line[i++] = '\n';
  CHECK_EQ_INT(i, LIM_SSH_IDENT);
  struct lab_conn *c = open_conn();
  take(c);
  lab_mem_feed(c, line, i);
  const unsigned char *out = (const unsigned char *)lab_mem_output(c, &n);
  CHECK(n > 0 && out[0] == 0); /* a packet, not a refusal line */
  check_kexinit(out, n);
  CHECK(!lab_mem_closed(c));
  lab_mem_free(c);

  /* 256: refused, however it is cut. */
  n = (size_t)snprintf(line, sizeof line, "SSH-2.0-Edge ");
  for (i = n; i < LIM_SSH_IDENT - 1; i++) line[i] = 'x';
  line[i++] = '\r';
  line[i++] = '\n';
  CHECK_EQ_INT(i, LIM_SSH_IDENT + 1);
  check_refused(line, i, "too long");
  c = open_conn();
  take(c);
  for (size_t k = 0; k < i && !lab_mem_closed(c); k++) lab_mem_feed(c, line + k, 1);
  CHECK(strstr(take(c), "too long") != NULL);
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  check_refused("GET / HTTP/1.1\r\n", 16, "Invalid SSH identification string");
  check_refused("hello\r\nSSH-2.0-x\r\n", 18, "Invalid SSH identification string");
  check_refused("SSH-1.5-Old\r\n", 13, "Protocol major versions differ");
  check_refused("SSH-2.0\r\n", 9, "Invalid SSH identification string");
  check_refused("SSH-2.0-\r\n", 10, "software version");
  check_refused("SSH-2.0-Open-SSH\r\n", 18, "software version");
  check_refused("SSH-2.0-Op\tSSH\r\n", 16, "software version");
  check_refused("SSH-2.0-ok bad\x01\r\n", 17, "control bytes");
  check_refused("SSH-2.0-a\0b\r\n", 13, "NUL");
}

static void test_packets(void) {
  static unsigned char big[LIM_SSH_PACKET + 16];
  unsigned char pkt[128];
  size_t n;

  /* Framing errors: too short, not a multiple of 8, padding under 4. */
  static const unsigned char bad[][6] = {
      {0, 0, 0, 4, 4, 20}, {0, 0, 0, 13, 4, 20}, {0, 0, 0, 12, 3, 20}, {0, 0, 0, 12, 11, 20}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct lab_conn *c = open_conn();
    feed(c, "SSH-2.0-x\r\n");
    lab_mem_clear(c);
    lab_mem_feed(c, bad[i], sizeof bad[i]);
    check_disconnect(c, 2, "framing");
    lab_mem_free(c);
  }

  /* A first packet that is not KEXINIT. */
  struct lab_conn *c = open_conn();
  feed(c, "SSH-2.0-x\r\n");
  lab_mem_clear(c);
  unsigned char userauth[] = {50, 0, 0, 0, 0};
  lab_mem_feed(c, pkt, make_packet(pkt, userauth, sizeof userauth));
  check_disconnect(c, 2, "KEXINIT");
  lab_mem_free(c);

  /* LIM_SSH_PACKET exactly (an IGNORE, skipped), then one 8 bytes larger. */
  for (int over = 0; over <= 1; over++) {
    uint32_t len = LIM_SSH_PACKET - 4 + (over ? 8 : 0);
    memset(big, 0, sizeof big);
    big[0] = (unsigned char)(len >> 24);
    big[1] = (unsigned char)(len >> 16);
    big[2] = (unsigned char)(len >> 8);
    big[3] = (unsigned char)len;
    big[4] = 4;
    big[5] = 2; /* SSH_MSG_IGNORE */
    c = open_conn();
    feed(c, "SSH-2.0-x\r\n");
    lab_mem_clear(c);
    lab_mem_feed(c, big, len + 4);
    if (over) {
      check_disconnect(c, 2, "framing");
    } else {
      lab_mem_output(c, &n);
      CHECK_EQ_INT(n, 0);
      CHECK(!lab_mem_closed(c));
      unsigned char kex[60] = {20};
      lab_mem_feed(c, pkt, make_packet(pkt, kex, sizeof kex));
      check_disconnect(c, 11, "Goodbye");
    }
    lab_mem_free(c);
  }

  /* The client's DISCONNECT: we just close. */
  c = open_conn();
  feed(c, "SSH-2.0-x\r\n");
  lab_mem_clear(c);
  unsigned char bye[] = {1, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0};
  lab_mem_feed(c, pkt, make_packet(pkt, bye, sizeof bye));
  lab_mem_output(c, &n);
  CHECK_EQ_INT(n, 0);
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

/* The whole client side in one buffer, fed at every split point. */
static void test_splits(void) {
  unsigned char all[256], kex[60] = {20};
  size_t n = (size_t)snprintf((char *)all, sizeof all, "SSH-2.0-Split\r\n");
  n += make_packet(all + n, kex, sizeof kex);
  for (size_t cut = 1; cut < n; cut++) {
    struct lab_conn *c = open_conn();
    take(c);
    lab_mem_feed(c, all, cut);
    lab_mem_feed(c, all + cut, n - cut);
    size_t len, plen, total;
    const unsigned char *out = (const unsigned char *)lab_mem_output(c, &len);
    const unsigned char *pl = packet(out, len, &plen, &total);
    CHECK(pl && pl[0] == 20);
    if (pl) {
      const unsigned char *pl2 = packet(out + total, len - total, &plen, &total);
      CHECK(pl2 && pl2[0] == 1);
    }
    CHECK(lab_mem_closed(c));
    lab_mem_free(c);
  }
}

static void test_timeout(void) {
  struct lab_conn *c = open_conn();
  take(c);
  lab_mem_timeout(c);
  CHECK_EQ_STR(take(c), ""); /* before the exchange: just closed, as sshd does */
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  c = open_conn();
  feed(c, "SSH-2.0-x\r\n");
  lab_mem_clear(c);
  lab_mem_timeout(c);
  check_disconnect(c, 11, "Idle");
  lab_mem_free(c);
}

int main(void) {
  alice_id = lab_fixture(&ctx, SECRET, "alice-pw");
  CHECK_EQ_INT(labident_add(PEER_PORT, alice_id, "198.51.100.7"), 0);

  test_exchange();
  test_ident_limits();
  test_packets();
  test_splits();
  test_timeout();

  labident_remove(PEER_PORT);
  db_close(ctx.db);
  return check_done();
}
