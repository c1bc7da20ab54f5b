/* tlsmem.h -- one TLS endpoint over OpenSSL memory BIOs, no socket I/O.
 *
 * The same engine serves the lab servers (server role: implicit TLS and
 * STARTTLS upgrades of a connection already open) and the relay (client
 * role). The caller moves bytes: ciphertext read from the wire goes in with
 * tlsmem_feed_wire(), ciphertext for the wire comes out of
 * tlsmem_take_wire(), and plaintext passes through tlsmem_read() and
 * tlsmem_write(). So the caller always holds both layers: what crossed the
 * wire (the eavesdropper's view, the pcap) and what was inside.
 *
 * After any call, ciphertext may be waiting (handshake messages, alerts,
 * session tickets, records): check tlsmem_wire_pending() and send it. After
 * a fatal error an alert may be waiting too; send it, then close.
 */
#ifndef PORTLAB_TLSMEM_H
#define PORTLAB_TLSMEM_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/types.h>

struct tlsmem;
enum tlsmem_role { TLSMEM_CLIENT, TLSMEM_SERVER };

/* ctx is made by the caller (lab CA/server cert, or a client verify store)
 * and must outlive the endpoint; tlsmem_new installs its key log callback
 * on ctx. sni (client role) is sent as SNI when it is a name and checked
 * against the peer certificate (name or IP address) when ctx verifies; may
 * be NULL. A client endpoint has its ClientHello pending on return. NULL on
 * failure (out of memory). Caller frees with tlsmem_free(). */
struct tlsmem *tlsmem_new(SSL_CTX *ctx, enum tlsmem_role role, const char *sni);
void tlsmem_free(struct tlsmem *t); /* NULL is a no-op */

/* Ciphertext read from the wire goes in; returns 0, or -1 on a fatal TLS
 * error (the handshake failed, a bad record). */
int tlsmem_feed_wire(struct tlsmem *t, const void *wire, size_t len);
/* Plaintext out: bytes read, 0 when none is ready, -1 on a fatal error or
 * the peer's close_notify (tlsmem_peer_closed() tells which). */
ssize_t tlsmem_read(struct tlsmem *t, void *buf, size_t cap);
/* Plaintext in, all or nothing: queued until the handshake is done (at most
 * LIM_TLS_PENDING_BYTES); 0 or -1. */
int tlsmem_write(struct tlsmem *t, const void *buf, size_t len);
/* Ciphertext to put on the wire: take up to cap bytes; returns bytes taken
 * (0 if none). */
size_t tlsmem_wire_pending(const struct tlsmem *t);
size_t tlsmem_take_wire(struct tlsmem *t, void *buf, size_t cap);
int tlsmem_handshake_done(const struct tlsmem *t);
int tlsmem_failed(const struct tlsmem *t);        /* a fatal error happened */
int tlsmem_peer_closed(const struct tlsmem *t);   /* the peer sent close_notify */
const char *tlsmem_error(const struct tlsmem *t); /* the last error, readable ("" if none) */

/* After the handshake: version, cipher, the peer chain (subject, issuer,
 * validity, SANs) and the verification result as text lines for notes.
 * Returns the length written (output truncated to cap - 1, always
 * NUL-terminated), or -1 before the handshake or if cap is 0. */
int tlsmem_summary(const struct tlsmem *t, char *out, size_t cap);
/* The key log lines (SSLKEYLOGFILE format, one per line, each ending in
 * \n) collected through SSL_CTX_set_keylog_callback. Copies up to cap - 1
 * bytes and NUL-terminates; returns the bytes copied. */
size_t tlsmem_keylog(const struct tlsmem *t, char *out, size_t cap);
/* Short forms for a log line or a UI badge, "" before the handshake. */
const char *tlsmem_version(const struct tlsmem *t);
const char *tlsmem_cipher(const struct tlsmem *t);
void tlsmem_close(struct tlsmem *t); /* queue close_notify */

#endif
