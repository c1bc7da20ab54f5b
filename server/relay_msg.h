/* relay_msg.h -- the portlab.v1 control messages, parsed and validated.
 *
 * A pure function over the text of one WebSocket text message: no lws, no
 * app state. It says what the browser asked for with every field checked,
 * or why the message is refused. Whether the request fits the session's
 * state (an "open" on a WebSocket that already has a session) is the
 * relay's question, not this file's.
 */
#ifndef PORTLAB_RELAY_MSG_H
#define PORTLAB_RELAY_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "portlab_limits.h"

enum relay_msg_type {
  RELAY_MSG_OPEN = 1,
  RELAY_MSG_PAUSE,
  RELAY_MSG_RESUME,   /* flow control: read from the target again */
  RELAY_MSG_REATTACH, /* "resume" with a session_id: take over a detached session */
  RELAY_MSG_CLOSE,
  RELAY_MSG_WATCH,     /* teacher: watch the class (session_id 0) or one session */
  RELAY_MSG_LISTEN,    /* anyone: receive the teacher's broadcasts on this WebSocket */
  RELAY_MSG_BROADCAST, /* teacher: send text to every listener */
  RELAY_MSG_STARTTLS,  /* upgrade this raw session to TLS, the relay as the client */
};

#define RELAY_MSG_TOKEN_LEN 64 /* a resume_token longer than this is refused */
/* The parser's bound for a broadcast; --broadcast-max (at most this) is
 * checked by the relay. */
#define RELAY_MSG_BROADCAST_MAX 4096

struct relay_msg {
  enum relay_msg_type type;
  /* open */
  char host[LIM_HOSTNAME_LEN + 1]; /* printable ASCII, no spaces, 1 to 253 bytes */
  int port;                        /* 1 to 65535 */
  int telnet;                      /* mode: 1 telnet, 0 raw (the default follows the port) */
  int tls;                         /* mode "tls": raw, through TLS with the relay as client */
  /* reattach */
  int64_t session_id; /* >= 1 */
  char resume_token[RELAY_MSG_TOKEN_LEN + 1];
  uint64_t received; /* bytes the page got */
  /* watch: session_id above, 0 for the class */
  /* broadcast: UTF-8 text, 1 to RELAY_MSG_BROADCAST_MAX bytes */
  char text[RELAY_MSG_BROADCAST_MAX + 1];
  size_t text_len;
};

/* Parses text[0..len). 0 and fills out, or -1 with a code from
 * docs/protocol.md ("bad_request", or "too_long" for a broadcast) and a
 * message for the student in err (at most errlen bytes, NUL-terminated).
 * On -1 out->type is 0, but RELAY_MSG_BROADCAST for a broadcast refused
 * for its text: that refusal is the message's own, the WebSocket goes on. */
int relay_msg_parse(const char *text, size_t len, struct relay_msg *out, const char **code,
                    char *err, size_t errlen);

#endif
