/* telnet.h -- the Telnet option engine (RFC 854, RFC 855, RFC 1143).
 *
 * Used on both ends: by the relay, acting as the client of a remote telnet
 * server for the browser, and by the built-in telnet server. It splits the
 * byte stream into data and commands, answers option negotiation by the
 * "Q method" of RFC 1143 so two engines can never loop, accepts only the
 * options it was told to, undoubles IAC IAC, and caps subnegotiation at
 * LIM_TELNET_SB_BYTES (the excess is dropped, counted, and the SE still
 * ends it).
 */
#ifndef PORTLAB_TELNET_H
#define PORTLAB_TELNET_H

#include <stddef.h>

enum {
  TELNET_SE = 240,
  TELNET_NOP = 241,
  TELNET_DM = 242,
  TELNET_BRK = 243,
  TELNET_IP = 244,
  TELNET_AO = 245,
  TELNET_AYT = 246,
  TELNET_EC = 247,
  TELNET_EL = 248,
  TELNET_GA = 249,
  TELNET_SB = 250,
  TELNET_WILL = 251,
  TELNET_WONT = 252,
  TELNET_DO = 253,
  TELNET_DONT = 254,
  TELNET_IAC = 255
};
enum { TELNET_OPT_ECHO = 1, TELNET_OPT_SGA = 3, TELNET_OPT_TTYPE = 24, TELNET_OPT_NAWS = 31 };

struct telnet_callbacks {
  /* Bytes for the network peer (negotiation replies, escaped data). */
  void (*send)(void *arg, const unsigned char *p, size_t n);
  /* Data bytes received from the peer, commands removed. */
  void (*data)(void *arg, const unsigned char *p, size_t n);
  /* An option changed state. local: our side (WILL/WONT we sent);
   * otherwise the peer's side. enabled: new state. May be NULL. */
  void (*option)(void *arg, int option, int local, int enabled);
  /* A complete subnegotiation (possibly truncated). May be NULL. */
  void (*subneg)(void *arg, int option, const unsigned char *p, size_t n, int truncated);
};

struct telnet;

struct telnet *telnet_new(const struct telnet_callbacks *cb, void *arg);
void telnet_free(struct telnet *t); /* NULL is a no-op */

/* Which options we agree to when asked: local = we WILL it when the peer
 * says DO; remote = we say DO when the peer says WILL. Default: none. */
void telnet_accept(struct telnet *t, int option, int local, int remote);

/* Feed bytes from the network. */
void telnet_recv(struct telnet *t, const unsigned char *p, size_t n);
/* Send data to the network: doubles IAC. */
void telnet_send_data(struct telnet *t, const unsigned char *p, size_t n);
/* Ask to enable/disable an option on our side (WILL/WONT) or the peer's
 * (DO/DONT), following RFC 1143 (no request if already there or pending). */
void telnet_set_local(struct telnet *t, int option, int enable);
void telnet_set_remote(struct telnet *t, int option, int enable);

int telnet_local_enabled(const struct telnet *t, int option);
int telnet_remote_enabled(const struct telnet *t, int option);
size_t telnet_sb_dropped(const struct telnet *t); /* subnegotiation bytes dropped */

#endif
