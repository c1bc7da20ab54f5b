/* throttle.h -- per-source-address login throttling with backoff, and join rates.
 *
 * Pure bookkeeping over a bounded table: the caller passes the clock, so
 * unit tests drive it without waiting. Addresses are kept as 16 bytes,
 * IPv4 as ::ffff:a.b.c.d; an IPv6 address counts by its /64, since one
 * host is usually given a whole /64 and could otherwise rotate through it.
 */
#ifndef PORTLAB_THROTTLE_H
#define PORTLAB_THROTTLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* What is counted; each kind has its own counter per address. */
enum throttle_kind {
  THROTTLE_TEACHER = 0, /* wrong teacher passwords */
  THROTTLE_CLASS_CODE,  /* wrong class codes */
  THROTTLE_REJOIN,      /* wrong rejoin codes */
  THROTTLE_JOIN,        /* new names (a rate, not failures) */
  THROTTLE_KINDS
};

struct throttle_addr {
  unsigned char ip[16]; /* IPv4 as ::ffff:a.b.c.d */
};

/* A network: an address and a prefix length over the 16 bytes (an IPv4
 * prefix /n is stored as /(96+n)). */
struct throttle_net {
  struct throttle_addr addr;
  int prefix;
};

struct throttle_params {
  int failures;         /* wrong answers allowed before the first wait */
  int backoff_secs;     /* the first wait; each further failure doubles it */
  int backoff_max_secs; /* the longest wait; also how long a quiet address is remembered */
  size_t addrs;         /* table size; the least recently used entry is evicted */
};

struct throttle;

/* NULL on out of memory. throttle_free(NULL) is a no-op. */
struct throttle *throttle_new(const struct throttle_params *p);
void throttle_free(struct throttle *t);

/* 0 if the kind may be tried from addr now, else microseconds to wait. */
int64_t throttle_wait_us(struct throttle *t, const struct throttle_addr *addr,
                         enum throttle_kind kind, int64_t now_us);
/* Counts a wrong answer; from the params' failures on, each one starts a
 * wait twice as long as the one before (up to backoff_max_secs). */
void throttle_failed(struct throttle *t, const struct throttle_addr *addr, enum throttle_kind kind,
                     int64_t now_us);
/* Forgets addr's failures of this kind (a right teacher password). */
void throttle_forget(struct throttle *t, const struct throttle_addr *addr, enum throttle_kind kind);
/* A rate of per_minute events per address, in a burst of at most
 * per_minute: 0 and counts one, or microseconds until one is allowed. */
int64_t throttle_take(struct throttle *t, const struct throttle_addr *addr, enum throttle_kind kind,
                      int per_minute, int64_t now_us);
/* One address's wrong answers of one kind, for the teacher's view. */
struct throttle_report {
  struct throttle_addr addr; /* an IPv6 one cut to its /64 */
  enum throttle_kind kind;   /* never THROTTLE_JOIN */
  int failures;
  int64_t wait_us; /* 0 when it may try again now */
};

/* Calls fn for every address with wrong answers it still remembers, at most
 * max times; returns how many there were in all. */
size_t throttle_report(const struct throttle *t, int64_t now_us, size_t max,
                       void (*fn)(void *arg, const struct throttle_report *r), void *arg);

/* The kind's name in reports: "teacher_password", "class_code", "rejoin_code". */
const char *throttle_kind_name(enum throttle_kind kind);

/* Entries in use (for tests). */
size_t throttle_count(const struct throttle *t);

/* Parses a numeric IPv4 or IPv6 address. 0 or -1. */
int throttle_addr_parse(const char *text, struct throttle_addr *out);
/* From a peer's sockaddr (AF_INET or AF_INET6). 0 or -1. */
int throttle_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                                struct throttle_addr *out);
/* Writes the address as text (IPv4 in dotted form). */
void throttle_addr_text(const struct throttle_addr *a, char *out, size_t outlen);
/* Parses "ADDR" or "ADDR/PREFIX" (IPv4 or IPv6). 0 or -1. */
int throttle_net_parse(const char *text, struct throttle_net *out);
/* 1 if addr lies inside net. */
int throttle_net_contains(const struct throttle_net *net, const struct throttle_addr *addr);
/* 1 if addr is a loopback address: 127.0.0.0/8 or ::1. */
int throttle_addr_is_loopback(const struct throttle_addr *addr);

#endif
