/* ssh.c -- the lab's SSH banner server: the cleartext start of SSH, then a polite goodbye.
 *
 * Implements the opening of RFC 4253 and nothing after it: section 4.2
 * (the protocol version exchange: "SSH-protoversion-softwareversion
 * [SP comments] CR LF", at most 255 bytes with the CR LF; a server may
 * send other lines first, a client may not), section 6 (the binary packet:
 * uint32 packet_length, byte padding_length, payload, at least four bytes
 * of padding, the whole a multiple of eight bytes while no cipher is
 * agreed, and no MAC yet), section 7.1 (SSH_MSG_KEXINIT with a random
 * cookie and plausible name-lists) and section 11.1 (SSH_MSG_DISCONNECT).
 * Name-lists are RFC 4251 section 5.
 *
 * The point is the lesson that SSH starts in the clear: the student (in the
 * browser's terminal, or with a real ssh client) sees the server's version
 * line, types or sends one back, and gets a KEXINIT whose algorithm lists
 * are readable in the hex view. Once the client's own KEXINIT has arrived
 * the server ends with SSH_DISCONNECT_BY_APPLICATION. There is no key
 * exchange, no login and never a shell.
 *
 * The client's identification line is capped at LIM_SSH_IDENT (255, CR LF
 * included); a first line that is not "SSH-", a protocol other than 2.0
 * (or 1.99), or a software version with spaces, minus signs or control
 * bytes ends the connection with the reason, as OpenSSH's sshd does. A
 * packet longer than LIM_SSH_PACKET (RFC 4253 section 6.1) or badly framed
 * gets SSH_DISCONNECT_PROTOCOL_ERROR. Packets are never buffered: only
 * their first bytes are kept, the rest is counted off.
 */
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "lab.h"
#include "portlab_limits.h"

#define SSH_SERVER_IDENT "SSH-2.0-portlab_lab teaching server, stops after the key exchange offer"

enum { SSH_MSG_DISCONNECT = 1, SSH_MSG_IGNORE = 2, SSH_MSG_DEBUG = 4, SSH_MSG_KEXINIT = 20 };
enum { SSH_DISCONNECT_PROTOCOL_ERROR = 2, SSH_DISCONNECT_BY_APPLICATION = 11 };

enum ssh_state { SSH_S_IDENT = 0, SSH_S_PACKETS, SSH_S_DONE };

struct ssh_session {
  enum ssh_state state;
  unsigned char ident[LIM_SSH_IDENT]; /* the client's line so far, CR LF included */
  size_t ident_len;
  unsigned char head[6]; /* packet_length, padding_length, message number */
  size_t head_len;
  uint32_t skip; /* bytes of the current packet still to count off */
};

/* --- packets ------------------------------------------------------------------ */

static void ssh_put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

/* Appends an RFC 4251 string (uint32 length, bytes); 0 or -1 if it does not fit. */
static int ssh_put_string(unsigned char *buf, size_t cap, size_t *len, const char *s) {
  size_t n = strlen(s);
  if (*len + 4 + n > cap) return -1;
  ssh_put_u32(buf + *len, (uint32_t)n);
  memcpy(buf + *len + 4, s, n);
  *len += 4 + n;
  return 0;
}

/* Frames payload as an unencrypted binary packet (RFC 4253 section 6):
 * padding of at least 4 bytes makes the whole a multiple of 8. */
static void ssh_send_packet(struct lab_conn *c, const unsigned char *payload, size_t n) {
  unsigned char pkt[LIM_SSH_OUT_PACKET];
  size_t pad = 8 - (4 + 1 + n) % 8;
  if (pad < 4) pad += 8;
  if (4 + 1 + n + pad > sizeof pkt) return; /* our own payloads are far smaller */
  ssh_put_u32(pkt, (uint32_t)(1 + n + pad));
  pkt[4] = (unsigned char)pad;
  memcpy(pkt + 5, payload, n);
  if (crypto_random(pkt + 5 + n, pad) != 0) memset(pkt + 5 + n, 0, pad);
  lab_send(c, pkt, 4 + 1 + n + pad);
}

static void ssh_send_kexinit(struct lab_conn *c) {
  static const char *const lists[] = {
      /* kex_algorithms */
      "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
      "diffie-hellman-group16-sha512,diffie-hellman-group14-sha256",
      /* server_host_key_algorithms */
      "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256",
      /* encryption client to server, server to client */
      "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr",
      "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr",
      /* mac client to server, server to client */
      "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256",
      "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256",
      /* compression both ways */
      "none,zlib@openssh.com",
      "none,zlib@openssh.com",
      /* languages both ways */
      "",
      "",
  };
  unsigned char p[LIM_SSH_OUT_PACKET - 64];
  size_t len = 0;

  p[len++] = SSH_MSG_KEXINIT;
  if (crypto_random(p + len, 16) != 0) memset(p + len, 0x5a, 16); /* the cookie */
  len += 16;
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
    if (ssh_put_string(p, sizeof p, &len, lists[i]) != 0) return;
  p[len++] = 0; /* first_kex_packet_follows: FALSE */
  ssh_put_u32(p + len, 0);
  len += 4; /* reserved */
  ssh_send_packet(c, p, len);
}

/* Sends SSH_MSG_DISCONNECT and ends the connection once it is written. */
static void ssh_disconnect(struct lab_conn *c, struct ssh_session *s, uint32_t reason,
                           const char *why) {
  unsigned char p[512];
  size_t len = 0;

  p[len++] = SSH_MSG_DISCONNECT;
  ssh_put_u32(p + len, reason);
  len += 4;
  if (ssh_put_string(p, sizeof p, &len, why) == 0 && ssh_put_string(p, sizeof p, &len, "") == 0)
    ssh_send_packet(c, p, len);
  s->state = SSH_S_DONE;
  lab_close(c);
}

/* --- the version exchange -------------------------------------------------------- */

/* Ends the exchange with a cleartext reason line, as sshd does before any packet. */
static void ssh_refuse(struct lab_conn *c, struct ssh_session *s, const char *line) {
  lab_warn(c, "ssh: %s", line);
  lab_printf(c, "%s\r\n", line);
  s->state = SSH_S_DONE;
  lab_close(c);
}

/* softwareversion: printable US-ASCII, no whitespace, no minus sign. */
static int ssh_software_ok(const char *p, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '-') return 0;
  return 1;
}

/* line: the client's identification without CR LF, NUL-free. */
static void ssh_ident(struct lab_conn *c, struct ssh_session *s, char *line) {
  if (strncmp(line, "SSH-", 4) != 0) {
    ssh_refuse(c, s, "Invalid SSH identification string (a client's first line starts with SSH-).");
    return;
  }
  char *proto = line + 4, *dash = strchr(proto, '-');
  if (!dash) {
    ssh_refuse(c, s, "Invalid SSH identification string (SSH-2.0-software expected).");
    return;
  }
  *dash = '\0';
  if (strcmp(proto, "2.0") != 0 && strcmp(proto, "1.99") != 0) {
    ssh_refuse(c, s, "Protocol major versions differ (this server speaks SSH-2.0).");
    return;
  }
  char *software = dash + 1, *space = strchr(software, ' ');
  size_t n = space ? (size_t)(space - software) : strlen(software);
  if (!ssh_software_ok(software, n)) {
    ssh_refuse(c, s,
               "Invalid SSH identification string (the software version is printable, "
               "with no spaces or minus signs).");
    return;
  }
  for (const char *q = software + n; *q; q++)
    if ((unsigned char)*q < 0x20 || *q == 0x7f) {
      ssh_refuse(c, s, "Invalid SSH identification string (control bytes in the comments).");
      return;
    }
  software[n] = '\0';
  const char *kv[] = {"proto", proto, "software", software, NULL};
  lab_event(c, NULL, "ssh.ident", kv);
  s->state = SSH_S_PACKETS;
  ssh_send_kexinit(c);
}

/* Takes bytes of the identification line; returns how many were used. */
static size_t ssh_ident_input(struct lab_conn *c, struct ssh_session *s, const unsigned char *p,
                              size_t n) {
  size_t used = 0;
  while (used < n && s->state == SSH_S_IDENT) {
    unsigned char b = p[used++];
    if (s->ident_len == sizeof s->ident) {
      ssh_refuse(c, s, "Identification string too long (RFC 4253 allows 255 bytes with CR LF).");
      break;
    }
    s->ident[s->ident_len++] = b;
    if (b != '\n') continue;
    size_t len = s->ident_len - 1;
    if (len && s->ident[len - 1] == '\r') len--;
    if (memchr(s->ident, '\0', len)) {
      ssh_refuse(c, s, "Invalid SSH identification string (it holds a NUL byte).");
      break;
    }
    char line[LIM_SSH_IDENT + 1];
    memcpy(line, s->ident, len);
    line[len] = '\0';
    ssh_ident(c, s, line);
  }
  return used;
}

/* --- packets from the client ------------------------------------------------------ */

static uint32_t ssh_get_u32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The first six bytes of a packet are in s->head: judge it. */
static void ssh_packet_head(struct lab_conn *c, struct ssh_session *s) {
  uint32_t len = ssh_get_u32(s->head), pad = s->head[4];

  /* The smallest packet is 16 bytes (RFC 4253 section 6). */
  if (len < 12 || len > LIM_SSH_PACKET - 4 || (len + 4) % 8 != 0 || pad < 4 || pad > len - 2) {
    lab_warn(c, "ssh: bad packet framing (length %u, padding %u)", len, pad);
    ssh_disconnect(c, s, SSH_DISCONNECT_PROTOCOL_ERROR,
                   "Bad packet framing: packet_length must be 12 to 34996, a multiple of 8 with "
                   "its own 4 bytes, and the padding 4 bytes or more.");
    return;
  }
  s->skip = len - 2; /* padding_length and the message number are read */
  switch (s->head[5]) {
    case SSH_MSG_KEXINIT:
      ssh_disconnect(c, s, SSH_DISCONNECT_BY_APPLICATION,
                     "portlab lab: this is where the key exchange would start. Everything "
                     "until here travelled in cleartext; from here on a real server "
                     "encrypts. Goodbye.");
      break;
    case SSH_MSG_DISCONNECT:
      s->state = SSH_S_DONE;
      lab_close(c);
      break;
    case SSH_MSG_IGNORE:
    case SSH_MSG_DEBUG:
      break; /* RFC 4253 section 11.2, 11.3: skipped */
    default:
      ssh_disconnect(c, s, SSH_DISCONNECT_PROTOCOL_ERROR,
                     "Expected SSH_MSG_KEXINIT (20) as the first packet.");
      break;
  }
}

static void ssh_packet_input(struct lab_conn *c, struct ssh_session *s, const unsigned char *p,
                             size_t n) {
  while (n && s->state == SSH_S_PACKETS) {
    if (s->skip) {
      size_t k = n < s->skip ? n : s->skip;
      s->skip -= (uint32_t)k;
      p += k;
      n -= k;
      continue;
    }
    size_t k = sizeof s->head - s->head_len;
    if (k > n) k = n;
    memcpy(s->head + s->head_len, p, k);
    s->head_len += k;
    p += k;
    n -= k;
    if (s->head_len == sizeof s->head) {
      s->head_len = 0;
      ssh_packet_head(c, s);
    }
  }
}

/* --- callbacks ------------------------------------------------------------------ */

static int ssh_accept(struct lab_conn *c, void *sv) {
  (void)sv;
  lab_printf(c, "%s\r\n", SSH_SERVER_IDENT);
  return 0;
}

static void ssh_data(struct lab_conn *c, void *sv, const unsigned char *p, size_t n) {
  struct ssh_session *s = sv;
  if (s->state == SSH_S_IDENT) {
    size_t used = ssh_ident_input(c, s, p, n);
    p += used;
    n -= used;
  }
  if (s->state == SSH_S_PACKETS) ssh_packet_input(c, s, p, n);
}

static void ssh_timeout(struct lab_conn *c, void *sv) {
  struct ssh_session *s = sv;
  if (s->state == SSH_S_PACKETS)
    ssh_disconnect(c, s, SSH_DISCONNECT_BY_APPLICATION, "Idle too long.");
}

const struct lab_module lab_ssh = {
    .name = "ssh",
    .line_max = 0, /* raw: the identification line, then binary packets */
    .session_size = sizeof(struct ssh_session),
    .on_accept = ssh_accept,
    .on_data = ssh_data,
    .on_timeout = ssh_timeout,
};
