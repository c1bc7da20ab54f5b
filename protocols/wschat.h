/* wschat.h -- the HTTP lab's /chat: a WebSocket echo written by hand (RFC 6455). */
#ifndef PORTLAB_WSCHAT_H
#define PORTLAB_WSCHAT_H

#include <stddef.h>
#include <stdint.h>

#define WSCHAT_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */
/* Output room wschat_feed() needs before it takes another step: the
 * longest frame header, or a whole control frame. */
#define WSCHAT_OUT_MIN 160

/* 1 if key is what Sec-WebSocket-Key must be: 16 bytes in base64. */
int wschat_key_valid(const char *key);
/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + the RFC's GUID)). */
void wschat_accept(const char *key, char out[WSCHAT_ACCEPT_LEN + 1]);
/* SHA-1 (RFC 3174), for the accept value. */
void wschat_sha1(const void *p, size_t n, unsigned char out[20]);

/* The frame parser and echo of one connection. Zeroed is the start state. */
struct wschat {
  unsigned char hdr[14]; /* the frame header as it arrives */
  size_t hlen;
  int in_payload;
  unsigned char opcode, fin;
  uint64_t left, pos;
  unsigned char mask[4];
  unsigned char ctl[125]; /* a control frame's payload */
  size_t ctl_len;
  int in_message;            /* a fragmented data message is under way */
  int done;                  /* a close frame went out: write what is left, then close */
  unsigned short close_code; /* what the close that went out said */
};

/* Takes client bytes and appends the server's frames to out (capacity
 * outcap, *outlen used so far). Returns how many input bytes it took: less
 * than n when out has less than WSCHAT_OUT_MIN bytes of room, or once
 * w->done is set (the rest of the input is ignored). Data frames are
 * echoed as they arrive (no whole message is ever held), unmasked; a ping
 * gets a pong with its payload; a close is answered with the same code.
 * A frame that breaks the RFC (unmasked, reserved bits or opcode, a
 * fragmented or long control frame) is answered with close 1002. */
size_t wschat_feed(struct wschat *w, const unsigned char *in, size_t n, unsigned char *out,
                   size_t outcap, size_t *outlen);

#endif
