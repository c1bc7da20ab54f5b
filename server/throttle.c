/* throttle.c -- per-source-address login throttling with backoff, and join rates.
 *
 * One fixed table of (address group, kind) entries. A failure entry counts
 * wrong answers: the first params.failures are free, and from then on each
 * wrong answer makes the address wait, twice as long each time, up to
 * params.backoff_max_secs. An address that stays quiet that long after its
 * last failure is forgotten. A rate entry is a GCRA (virtual scheduling)
 * bucket: per_minute events at once, then one every 60/per_minute seconds.
 *
 * The table never grows: when it is full, the least recently used entry
 * that is not making anyone wait is evicted, and only if every entry is
 * making someone wait, the least recently used of those. Evicting cannot
 * lock anyone out; at worst it forgets an attacker early, which needs as
 * many addresses (or /64 networks) as the table has rows.
 */
#include "throttle.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define US_PER_SEC 1000000LL

struct throttle_entry {
  unsigned char key[16]; /* the address, an IPv6 one cut to its /64 */
  int kind;              /* enum throttle_kind; -1 = free row */
  int failures;
  int64_t last_us;   /* last use: for eviction and forgetting */
  int64_t until_us;  /* failures: waits until then; rates: the bucket's virtual time */
  int64_t refuse_us; /* makes its address wait until then (kept over eviction if possible) */
};

struct throttle {
  struct throttle_params p;
  struct throttle_entry *rows;
  size_t used;
};

struct throttle *throttle_new(const struct throttle_params *p) {
  struct throttle *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->p = *p;
  if (t->p.addrs == 0) t->p.addrs = 1;
  t->rows = calloc(t->p.addrs, sizeof *t->rows);
  if (!t->rows) {
    free(t);
    return NULL;
  }
  for (size_t i = 0; i < t->p.addrs; i++) t->rows[i].kind = -1;
  return t;
}

void throttle_free(struct throttle *t) {
  if (!t) return;
  free(t->rows);
  free(t);
}

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int is_v4(const struct throttle_addr *a) {
  return memcmp(a->ip, v4_mapped, sizeof v4_mapped) == 0;
}

static void group_key(const struct throttle_addr *a, unsigned char key[16]) {
  memcpy(key, a->ip, 16);
  if (!is_v4(a)) memset(key + 8, 0, 8); /* an IPv6 host counts by its /64 */
}

static int entry_busy(const struct throttle *t, const struct throttle_entry *e, int64_t now_us) {
  return e->kind >= 0 && e->refuse_us > now_us;
}

/* The row of (addr, kind), or NULL; with create, a new or evicted row. */
static struct throttle_entry *find(struct throttle *t, const struct throttle_addr *addr, int kind,
                                   int64_t now_us, int create) {
  unsigned char key[16];
  struct throttle_entry *free_row = NULL, *idle = NULL, *busy = NULL;
  group_key(addr, key);
  for (size_t i = 0; i < t->p.addrs; i++) {
    struct throttle_entry *e = &t->rows[i];
    if (e->kind < 0) {
      if (!free_row) free_row = e;
      continue;
    }
    if (e->kind == kind && memcmp(e->key, key, 16) == 0) return e;
    if (entry_busy(t, e, now_us)) {
      if (!busy || e->last_us < busy->last_us) busy = e;
    } else if (!idle || e->last_us < idle->last_us) {
      idle = e;
    }
  }
  if (!create) return NULL;
  struct throttle_entry *e = free_row ? free_row : idle ? idle : busy;
  if (!e) return NULL; /* cannot happen: the table has at least one row */
  if (free_row) t->used++;
  memset(e, 0, sizeof *e);
  memcpy(e->key, key, 16);
  e->kind = kind;
  e->last_us = now_us;
  return e;
}

/* A failure entry quiet for backoff_max_secs is forgotten. */
static void maybe_forget(struct throttle *t, struct throttle_entry *e, int64_t now_us) {
  if (e && e->kind != THROTTLE_JOIN &&
      now_us - e->last_us > (int64_t)t->p.backoff_max_secs * US_PER_SEC && now_us >= e->until_us) {
    e->failures = 0;
    e->until_us = e->refuse_us = 0;
  }
}

int64_t throttle_wait_us(struct throttle *t, const struct throttle_addr *addr,
                         enum throttle_kind kind, int64_t now_us) {
  struct throttle_entry *e = find(t, addr, (int)kind, now_us, 0);
  maybe_forget(t, e, now_us);
  return e && e->until_us > now_us ? e->until_us - now_us : 0;
}

void throttle_failed(struct throttle *t, const struct throttle_addr *addr, enum throttle_kind kind,
                     int64_t now_us) {
  struct throttle_entry *e = find(t, addr, (int)kind, now_us, 1);
  if (!e) return;
  maybe_forget(t, e, now_us);
  e->failures++;
  e->last_us = now_us;
  if (e->failures < t->p.failures) return;
  int64_t wait = (int64_t)t->p.backoff_secs * US_PER_SEC;
  const int64_t max = (int64_t)t->p.backoff_max_secs * US_PER_SEC;
  for (int i = t->p.failures; i < e->failures && wait < max; i++) wait *= 2;
  if (wait > max) wait = max;
  e->until_us = now_us + wait;
  e->refuse_us = e->until_us;
}

void throttle_forget(struct throttle *t, const struct throttle_addr *addr,
                     enum throttle_kind kind) {
  struct throttle_entry *e = find(t, addr, (int)kind, 0, 0);
  if (!e) return;
  e->kind = -1;
  t->used--;
}

int64_t throttle_take(struct throttle *t, const struct throttle_addr *addr, enum throttle_kind kind,
                      int per_minute, int64_t now_us) {
  if (per_minute < 1) per_minute = 1;
  const int64_t interval = 60 * US_PER_SEC / per_minute;
  const int64_t burst = interval * (per_minute - 1);
  struct throttle_entry *e = find(t, addr, (int)kind, now_us, 1);
  if (!e) return 0;
  int64_t tat = e->until_us > now_us ? e->until_us : now_us;
  e->last_us = now_us;
  if (tat - now_us > burst) return tat - burst - now_us;
  e->until_us = tat + interval;
  e->refuse_us = e->until_us - burst; /* the next take before then is refused */
  return 0;
}

size_t throttle_count(const struct throttle *t) {
  return t->used;
}

int throttle_addr_parse(const char *text, struct throttle_addr *out) {
  unsigned char v4[4];
  if (!text) return -1;
  if (inet_pton(AF_INET, text, v4) == 1) {
    memcpy(out->ip, v4_mapped, sizeof v4_mapped);
    memcpy(out->ip + 12, v4, 4);
    return 0;
  }
  return inet_pton(AF_INET6, text, out->ip) == 1 ? 0 : -1;
}

int throttle_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len,
                                struct throttle_addr *out) {
  if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    memcpy(out->ip, v4_mapped, sizeof v4_mapped);
    memcpy(out->ip + 12, &in->sin_addr, 4);
    return 0;
  }
  if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    memcpy(out->ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    return 0; /* a v4-mapped peer on a dual-stack socket is already ::ffff:a.b.c.d */
  }
  return -1;
}

size_t throttle_report(const struct throttle *t, int64_t now_us, size_t max,
                       void (*fn)(void *arg, const struct throttle_report *r), void *arg) {
  size_t n = 0;
  if (!t) return 0;
  for (size_t i = 0; i < t->p.addrs; i++) {
    const struct throttle_entry *e = &t->rows[i];
    if (e->kind < 0 || e->kind == THROTTLE_JOIN || e->failures == 0 ||
        now_us - e->last_us > (int64_t)t->p.backoff_max_secs * US_PER_SEC)
      continue;
    if (n++ >= max) continue;
    struct throttle_report r = {.kind = e->kind, .failures = e->failures};
    memcpy(r.addr.ip, e->key, sizeof r.addr.ip);
    r.wait_us = e->refuse_us > now_us ? e->refuse_us - now_us : 0;
    fn(arg, &r);
  }
  return n;
}

const char *throttle_kind_name(enum throttle_kind kind) {
  switch (kind) {
    case THROTTLE_TEACHER:
      return "teacher_password";
    case THROTTLE_CLASS_CODE:
      return "class_code";
    case THROTTLE_REJOIN:
      return "rejoin_code";
    default:
      return "join";
  }
}

void throttle_addr_text(const struct throttle_addr *a, char *out, size_t outlen) {
  char text[INET6_ADDRSTRLEN];
  if (is_v4(a) ? !inet_ntop(AF_INET, a->ip + 12, text, sizeof text)
               : !inet_ntop(AF_INET6, a->ip, text, sizeof text))
    snprintf(text, sizeof text, "?");
  snprintf(out, outlen, "%s", text);
}

int throttle_net_parse(const char *text, struct throttle_net *out) {
  char addr[INET6_ADDRSTRLEN + 1];
  const char *slash = strchr(text, '/');
  size_t n = slash ? (size_t)(slash - text) : strlen(text);
  if (n == 0 || n >= sizeof addr) return -1;
  memcpy(addr, text, n);
  addr[n] = '\0';
  if (throttle_addr_parse(addr, &out->addr)) return -1;
  int v4 = is_v4(&out->addr), max = v4 ? 32 : 128, prefix = max;
  if (slash) {
    const char *p = slash + 1;
    if (!*p || strlen(p) > 3) return -1;
    prefix = 0;
    for (; *p; p++) {
      if (*p < '0' || *p > '9') return -1;
      prefix = prefix * 10 + (*p - '0');
    }
    if (prefix > max) return -1;
  }
  out->prefix = v4 ? 96 + prefix : prefix;
  return 0;
}

int throttle_net_contains(const struct throttle_net *net, const struct throttle_addr *addr) {
  int bits = net->prefix, i = 0;
  for (; bits >= 8; i++, bits -= 8)
    if (net->addr.ip[i] != addr->ip[i]) return 0;
  if (bits == 0) return 1;
  unsigned char mask = (unsigned char)(0xff << (8 - bits));
  return (net->addr.ip[i] & mask) == (addr->ip[i] & mask);
}

int throttle_addr_is_loopback(const struct throttle_addr *addr) {
  static const unsigned char v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return (is_v4(addr) && addr->ip[12] == 127) || memcmp(addr->ip, v6_loopback, 16) == 0;
}
