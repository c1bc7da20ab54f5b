/* wsframe.h -- the load client's minimal WebSocket framer (RFC 6455 section 5.2).
 *
 * Client frames: FIN set, masked with a zero key (so the payload goes out
 * as is). Server frames are parsed incrementally: an event per header with
 * whatever payload is already there, then an event per further piece, so a
 * 64 KiB frame never has to be whole in memory.
 */
#ifndef PORTLAB_WSFRAME_H
#define PORTLAB_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#define WSFRAME_MAX_HEADER 14
enum { WSFRAME_CONT = 0, WSFRAME_TEXT = 1, WSFRAME_BINARY = 2, WSFRAME_CLOSE = 8 };

struct wsframe_parser {
  int in_frame;
  int opcode;
  int accept_masked;     /* a server parsing client frames: unmask in place */
  unsigned char mask[4]; /* the current frame's key */
  uint64_t pos;          /* payload bytes of the current frame delivered */
  uint64_t left;         /* payload bytes of the current frame not yet delivered */
};

struct wsframe_event {
  int opcode;
  const unsigned char *data; /* payload piece (len bytes, may be 0) */
  size_t len;
  size_t consumed; /* input bytes this event used */
  int end;         /* the frame's last payload byte is in this piece */
};

void wsframe_parser_init(struct wsframe_parser *p);
/* 1: *ev filled; 0: need more input; -1: a frame not accepted (masked
 * unless accept_masked, which unmasks the payload in place in `in`, or a
 * length over 2^62). */
int wsframe_parse(struct wsframe_parser *p, unsigned char *in, size_t len,
                  struct wsframe_event *ev);
/* Writes a client frame header for n payload bytes; returns its length. */
size_t wsframe_header(unsigned char *out, int opcode, uint64_t n);

#endif
