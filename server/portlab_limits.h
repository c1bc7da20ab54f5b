/* portlab_limits.h -- every size, count and time limit of portlab in one place.
 *
 * A limit that is not named here does not exist. Each one is checked before
 * more input is waited for, and each has a test at its edge.
 */
#ifndef PORTLAB_LIMITS_H
#define PORTLAB_LIMITS_H

/* HTTP and REST. */
#define LIM_HTTP_HEADER_BYTES 16384     /* lws max_http_header_data */
#define LIM_JSON_BODY_BYTES 8192        /* largest REST request body */
#define LIM_NAME_LEN 32                 /* ^[A-Za-z0-9_.-]{1,32}$ */
#define LIM_PASSWORD_LEN 256            /* teacher password, class code */
#define LIM_COOKIE_DAYS 7               /* login lifetime */

/* WebSocket. */
#define LIM_WS_MESSAGE_BYTES (64 * 1024) /* one message, any type; larger: close 1009 */
#define LIM_WS_PING_SECS 30              /* keepalive ping after this much silence */
#define LIM_WS_HANGUP_SECS 60            /* no pong by then: hang up */

/* Relay. */
#define LIM_RELAY_SESSIONS_PER_USER 4        /* open relay sessions per user */
#define LIM_RELAY_SESSIONS_TOTAL 512         /* open relay sessions in all */
#define LIM_RELAY_CONNECT_SECS 10            /* TCP connect (and DNS) timeout */
#define LIM_RELAY_IDLE_SECS 900              /* no bytes either way */
#define LIM_RELAY_SESSION_SECS (4 * 3600)    /* absolute session lifetime */
#define LIM_RELAY_DRAIN_SECS 2               /* after a hang-up, queued bytes may drain this long */
#define LIM_RELAY_BUF_HIGH (256 * 1024)      /* pause the producer above this */
#define LIM_RELAY_BUF_LOW (64 * 1024)        /* resume it below this */
#define LIM_RELAY_BUF_CAP (LIM_RELAY_BUF_HIGH + LIM_WS_MESSAGE_BYTES + 65536)
#define LIM_RELAY_CHUNK 16384                /* bytes written per writable callback */
#define LIM_TRANSCRIPT_BYTES (8 * 1024 * 1024) /* recorded payload per session */

/* Recorder. */
#define LIM_RECORDER_FLUSH_MS 100  /* a kill -9 loses at most this much (+ one commit) */
#define LIM_RECORDER_BATCH 512     /* flush early at this many queued events */

/* Telnet option engine. */
#define LIM_TELNET_SB_BYTES 256    /* subnegotiation payload; longer is dropped */

/* Resolver. */
#define LIM_RESOLVE_ADDRS 16       /* addresses kept per name */
#define LIM_HOSTNAME_LEN 253

#endif
