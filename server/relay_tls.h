/* relay_tls.h -- the relay as a TLS client: mode "tls" and "starttls".
 *
 * One struct relay_tls sits between a relay session's TCP side and its
 * WebSocket. It owns a tlsmem endpoint (common/tlsmem.h) in the client
 * role: ciphertext read from the target goes in, plaintext for the browser
 * comes out, and the browser's plaintext goes out as TLS records. Both
 * layers are reported to the caller, who records them (the plaintext as
 * DB_DIR_C2S/S2C, the records as DB_DIR_WIRE_*). No lws, no sockets.
 *
 * The certificate is judged after the handshake, so the chain can be shown
 * even when it fails: against the lab CA for "lab", against the system's
 * CAs (and --tls-ca) for real targets. A failure ends the session with the
 * reason unless the teacher's allow rule for the target ends in
 * "+insecure". Plaintext typed before that judgement is held back, so
 * nothing the student types reaches a server that failed it.
 */
#ifndef PORTLAB_RELAY_TLS_H
#define PORTLAB_RELAY_TLS_H

#include <stddef.h>

#include "portlab_limits.h"

struct app;
struct relay_tls;

/* The settings row (db setting key) that says whether students may
 * download their sessions' key logs: "on" (the default) or "off". */
#define SETTING_KEYLOG_EXPORT "keylog_export"

struct relay_tls_io {
  /* TLS records for the target, in order. */
  void (*to_wire)(void *arg, const unsigned char *p, size_t n);
  /* Plaintext from the target, for the browser. */
  void (*to_client)(void *arg, const unsigned char *p, size_t n);
  /* A plaintext event to record (DB_DIR_C2S when handed to TLS, DB_DIR_S2C
   * when read out of it). */
  void (*record)(void *arg, int dir, const unsigned char *p, size_t n);
  /* One line of the handshake summary: shown to the student and recorded
   * as a note. */
  void (*note)(void *arg, const char *line);
  /* The handshake is done and the certificate judged; keylog holds its
   * SSLKEYLOGFILE lines (may be empty), summary all the summary lines. */
  void (*established)(void *arg, const char *keylog, const char *summary, int verified);
};

/* Starts a client handshake towards host (the name the student typed:
 * SNI and the name the certificate must carry; "lab" for the lab).
 * insecure: a failed verification only gives a note. NULL with a reason
 * in err if no TLS context can be made (a bad --tls-ca file). */
struct relay_tls *relay_tls_start(struct app *app, const struct relay_tls_io *io, void *arg,
                                  const char *host, int is_lab, int insecure, char *err,
                                  size_t errlen);
void relay_tls_free(struct relay_tls *t); /* NULL is a no-op */

/* Ciphertext read from the target. 0, or -1 when the session must end:
 * *closed is 1 for the server's close_notify, 0 for a failure (a bad
 * record, a failed handshake or verification; relay_tls_error says why). */
int relay_tls_from_wire(struct relay_tls *t, const unsigned char *p, size_t n, int *closed);
/* Plaintext typed by the student. Held until the handshake is done and
 * the certificate judged. 0, or -1 (relay_tls_error). */
int relay_tls_from_client(struct relay_tls *t, const unsigned char *p, size_t n);
/* Queues close_notify (the records go out through to_wire). */
void relay_tls_close(struct relay_tls *t);
const char *relay_tls_error(const struct relay_tls *t);
int relay_tls_established(const struct relay_tls *t);

/* STARTTLS on a raw session is allowed once the student asked for it and
 * the server agreed: the relay keeps the newest bytes of each direction. */
struct relay_tls_tail {
  unsigned char b[LIM_TLS_AGREED_LINE];
  size_t n;
};
void relay_tls_tail_add(struct relay_tls_tail *tail, const unsigned char *p, size_t n);
/* 1 if the last complete line the student sent asks for TLS: STARTTLS
 * (SMTP, IMAP with its tag), STLS (POP3) or AUTH TLS / AUTH SSL (FTP). */
int relay_tls_client_asked(const struct relay_tls_tail *sent);
/* 1 if the last complete line the server sent agrees: "220" (SMTP,
 * RFC 3207), "+OK" (POP3 STLS, RFC 2595), "TAG OK" (IMAP, RFC 3501) or
 * "234" (FTP AUTH TLS, RFC 4217). */
int relay_tls_server_agreed(const struct relay_tls_tail *got);

/* Whether students may download key logs (SETTING_KEYLOG_EXPORT). */
int relay_tls_keylog_allowed(struct app *app);
/* Frees the TLS contexts made for the relay (at shutdown). */
void relay_tls_cleanup(struct app *app);

#endif
