/* fuzz_policy.c -- libFuzzer target for the allow-rule parser and the
 * target policy (server/policy.c).
 *
 * The first byte picks the lab's address and port base; the rest is lines.
 * "+RULE" adds an --allow rule; "?HOST PORT" asks policy_prepare about a
 * target and, when a hostname rule needs DNS, asks policy_check_addr about
 * a fixed list of addresses such a name might resolve to. Promises
 * checked (a broken one aborts):
 *
 * - a refused rule or target always comes with a reason;
 * - a target that is allowed has an IPv4 or IPv6 address and its port;
 * - the portal's port is refused on every loopback address, whatever the
 *   rules say;
 * - without an address rule, nothing but the lab is allowed before DNS,
 *   and a hostname rule never opens a special-use address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

#define PORTAL_PORT 8080
#define LINE_MAX_BYTES 300

/* Addresses a name may resolve to; the first ones are special-use. */
static const char *resolved[] = {"127.0.0.1", "10.1.2.3",        "169.254.1.1",    "::1",
                                 "fe80::1",   "::ffff:10.0.0.1", "64:ff9b::a00:1", "0.0.0.0",
                                 "192.0.2.7", "2001:db8::7",     "198.51.100.1"};
#define N_SPECIAL 8

static int to_sockaddr(const char *s, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, s, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    return 0;
  }
  if (inet_pton(AF_INET6, s, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    return 0;
  }
  abort();
}

static int is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
  const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
  if (IN6_IS_ADDR_LOOPBACK(a)) return 1;
  return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

static int sockaddr_port(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void ask(struct policy *p, char *line, int address_rules) {
  char reason[256];
  struct policy_target t;
  char *sp = strrchr(line, ' ');
  int port = 0;
  if (sp) {
    *sp = '\0';
    port = atoi(sp + 1);
  }
  reason[0] = '\0';
  memset(&t, 0, sizeof t);
  enum policy_kind k = policy_prepare(p, line, port, &t, reason, sizeof reason);
  switch (k) {
    case POLICY_DENY:
      if (!reason[0]) abort();
      break;
    case POLICY_READY:
      if (t.addr.ss_family != AF_INET && t.addr.ss_family != AF_INET6) abort();
      if (t.addrlen == 0 || t.addrlen > sizeof t.addr) abort();
      if (sockaddr_port(&t.addr) < 1) abort();
      if (!t.is_lab && is_loopback(&t.addr) && sockaddr_port(&t.addr) == PORTAL_PORT) abort();
      if (!t.is_lab && !address_rules) abort();
      break;
    case POLICY_RESOLVE:
      for (size_t i = 0; i < sizeof resolved / sizeof resolved[0]; i++) {
        struct sockaddr_storage ss;
        to_sockaddr(resolved[i], port, &ss);
        reason[0] = '\0';
        int rc = policy_check_addr(p, t.host, (struct sockaddr *)&ss, port, reason, sizeof reason);
        if ((rc != 0 && !reason[0]) || (rc == 0 && i < N_SPECIAL && !address_rules) ||
            (rc == 0 && is_loopback(&ss) && port == PORTAL_PORT)) {
          fprintf(stderr, "policy: %s port %d resolving to %s: %s\n", t.host, port, resolved[i],
                  rc == 0 ? "allowed" : "refused without a reason");
          abort();
        }
      }
      break;
    default:
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *lab_binds[] = {"127.0.0.1", "::1", "0.0.0.0", "127.0.0.2"};
  char line[LINE_MAX_BYTES + 1], err[256];
  int address_rules = 0;

  if (size < 1) return 0;
  struct policy *p = policy_new();
  if (!p) abort();
  unsigned cfg = data[0];
  int base = (cfg & 4) ? 0 : 10000;
  if (policy_set_lab(p, lab_binds[cfg & 3], base, 30000, 30009) != 0) abort();
  policy_set_portal_port(p, PORTAL_PORT);

  size_t pos = 1;
  while (pos < size) {
    const uint8_t *nl = memchr(data + pos, '\n', size - pos);
    size_t n = nl ? (size_t)(nl - (data + pos)) : size - pos;
    size_t keep = n < LINE_MAX_BYTES ? n : LINE_MAX_BYTES;
    memcpy(line, data + pos, keep);
    line[keep] = '\0';
    pos += n + 1;
    if (line[0] == '+') {
      err[0] = '\0';
      if (policy_add_rule(p, line + 1, err, sizeof err) != 0) {
        if (!err[0]) abort();
      } else {
        /* Anything but a hostname rule may name an address. */
        const char *r = line + 1;
        if (strchr(r, ':') || (r[0] >= '0' && r[0] <= '9') || r[0] == '[') address_rules = 1;
        if (strspn(r, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-.") == 0)
          address_rules = 1;
      }
    } else if (line[0] == '?') {
      ask(p, line + 1, address_rules);
    }
  }
  policy_free(p);
  return 0;
}
