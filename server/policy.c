/* policy.c -- which targets the relay may connect to (docs/architecture.md, "Target policy").
 *
 * The relay turns a browser into a TCP client on the portal's network, so
 * this file decides, before any socket exists, whether a host and port may
 * be reached. The built-in "lab" is mapped to its listening ports; every
 * other target must match an --allow rule. Special-use address ranges
 * (loopback, private, link-local, multicast, ...) stay closed unless an
 * address rule lies wholly inside the range, so a broad rule such as
 * 0.0.0.0/0 never opens the portal's own network by accident. IPv4-mapped
 * and IPv4-compatible IPv6 addresses are unwrapped first so the same IPv4
 * address cannot slip through in IPv6 clothing, and the portal's own port
 * on any local address is refused whatever the rules say, so the relay can
 * never be pointed back at the portal.
 */
#include "policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "lab.h"
#include "portlab_limits.h"

/* An address reduced to what matching needs; IPv4 uses a[0..4). */
struct policy_addr {
  int family;
  unsigned char a[16];
};

struct policy_port_range {
  int lo, hi;
};

struct policy_rule {
  char *text; /* as given, for messages and GET /api/targets */
  int is_host;
  char host[LIM_HOSTNAME_LEN + 1]; /* lower case, no trailing dot */
  struct policy_addr net;
  int prefix;
  struct policy_port_range *ports; /* NULL: all ports */
  size_t nports;
  int insecure; /* "+insecure": the relay's TLS may go on past a failed verification */
};

/* The special-use ranges (docs/architecture.md, "Target policy"). The first match wins, so
 * the broadcast address comes before 240/4: naming 240.0.0.0/4 in a rule
 * must not also open 255.255.255.255.
 *
 * The IPv6 prefixes that carry an IPv4 address (NAT64, 6to4, Teredo,
 * IPv4-translated) reach that IPv4 host through a gateway, so they are
 * closed like the private ranges, and even a rule that names one opens it
 * only for an embedded address the IPv4 policy allows on the same port.
 * v4_at is the byte offset of the embedded address (-1: none); Teredo
 * also carries its client's address, stored inverted at v4_at2. The
 * local-use NAT64 prefix puts the address where the operator's prefix
 * length says, which cannot be known here: no rule opens it. Ranges
 * marked SELF are this host as a whole; any other address of this host is
 * a range of its own (policy_judge). */
#define POLICY_R_CLOSED 1 /* no rule can open it */
#define POLICY_R_SELF 2   /* the whole range is this host */

static const struct policy_special {
  const char *cidr; /* the range: policy_new parses it, messages quote it */
  const char *what;
  int v4_at, v4_at2; /* embedded IPv4 address, -1 if none */
  int flags;         /* POLICY_R_* */
} policy_special[] = {
    {"0.0.0.0/8", "is in the this-network range", -1, -1, POLICY_R_SELF},
    {"127.0.0.0/8", "is a loopback address", -1, -1, POLICY_R_SELF},
    {"10.0.0.0/8", "is in a private range", -1, -1, 0},
    {"172.16.0.0/12", "is in a private range", -1, -1, 0},
    {"192.168.0.0/16", "is in a private range", -1, -1, 0},
    {"100.64.0.0/10", "is in the carrier-grade NAT range", -1, -1, 0},
    {"169.254.0.0/16", "is a link-local address", -1, -1, 0},
    {"224.0.0.0/4", "is a multicast address", -1, -1, 0},
    {"255.255.255.255/32", "is the broadcast address", -1, -1, 0},
    {"240.0.0.0/4", "is in a reserved range", -1, -1, 0},
    {"::1/128", "is the loopback address", -1, -1, POLICY_R_SELF},
    {"::/128", "is the unspecified address", -1, -1, POLICY_R_SELF},
    {"fe80::/10", "is a link-local address", -1, -1, 0},
    {"fc00::/7", "is a unique local (private) address", -1, -1, 0},
    {"ff00::/8", "is a multicast address", -1, -1, 0},
    {"64:ff9b::/96", "is a NAT64 address (RFC 6052)", 12, -1, 0},
    {"64:ff9b:1::/48", "is a local-use NAT64 address (RFC 8215)", -1, -1, POLICY_R_CLOSED},
    {"2002::/16", "is a 6to4 address (RFC 3056)", 2, -1, 0},
    {"2001::/32", "is a Teredo address (RFC 4380)", 4, 12, 0},
    {"::ffff:0:0:0/96", "is an IPv4-translated address (RFC 2765)", 12, -1, 0},
};

#define POLICY_N_SPECIAL (sizeof policy_special / sizeof policy_special[0])

/* A range the judgement stops at: a special-use one, its net parsed once
 * (policy_new), or an address of this host. */
struct policy_range {
  struct policy_addr net;
  int prefix;
  const struct policy_special *row;
};

struct policy {
  struct policy_rule *rules; /* the nfixed flag rules first, then the run-time ones */
  size_t nrules;
  size_t nfixed;
  struct policy_addr lab_addr;
  char lab_bind[INET6_ADDRSTRLEN];
  int lab_base, pasv_lo, pasv_hi;
  int portal_port;            /* 0: not set */
  struct policy_addr *locals; /* added one by one (policy_add_local_addr) */
  size_t nlocals;
  /* The refreshed set: this host's addresses as the source last listed
   * them. A refresh collects into next and swaps only if it succeeded. */
  policy_local_fn local_fn;
  void *local_arg;
  struct policy_addr *found, *next;
  size_t nfound, found_cap, nnext, next_cap;
  int collecting;
  struct policy_range special[POLICY_N_SPECIAL]; /* policy_special, parsed */
};

/* Writes one sentence into a caller buffer that may be NULL or empty. */
static void policy_say(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void policy_say(char *out, size_t outlen, const char *fmt, ...) {
  va_list ap;
  if (!out || outlen == 0) return;
  va_start(ap, fmt);
  vsnprintf(out, outlen, fmt, ap);
  va_end(ap);
}

static int policy_prefix_match(const unsigned char *a, const unsigned char *net, int prefix) {
  int full = prefix / 8, rem = prefix % 8;
  if (memcmp(a, net, (size_t)full) != 0) return 0;
  if (rem) {
    unsigned char mask = (unsigned char)(0xff << (8 - rem));
    if ((a[full] & mask) != (net[full] & mask)) return 0;
  }
  return 1;
}

static int policy_addr_bits(int family) {
  return family == AF_INET ? 32 : 128;
}

/* Reduces IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d,
 * but not :: or ::1) IPv6 addresses to IPv4: the kernel may route them to
 * the IPv4 address, so they must be judged as one. 1 if unwrapped. */
static int policy_unwrap(struct policy_addr *x) {
  static const unsigned char zero[12] = {0};
  if (x->family != AF_INET6) return 0;
  if (addr_unmap_v4(x->a)) {
    x->family = AF_INET;
    return 1;
  }
  if (memcmp(x->a, zero, 12) != 0) return 0;
  /* :: and ::1 are IPv6 addresses of their own, not compat ones. */
  if (x->a[12] == 0 && x->a[13] == 0 && x->a[14] == 0 && x->a[15] <= 1) return 0;
  memmove(x->a, x->a + 12, 4);
  memset(x->a + 4, 0, 12);
  x->family = AF_INET;
  return 1;
}

static int policy_from_sockaddr(const struct sockaddr *sa, struct policy_addr *out) {
  memset(out, 0, sizeof *out);
  if (!sa) return -1;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    out->family = AF_INET;
    memcpy(out->a, &s4->sin_addr, 4);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    out->family = AF_INET6;
    memcpy(out->a, &s6->sin6_addr, 16);
    return 0;
  }
  return -1;
}

/* Parses a numeric v4 or v6 address (no brackets). 0 or -1. */
static int policy_parse_addr(const char *s, struct policy_addr *out) {
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, s, out->a) == 1) {
    out->family = AF_INET;
    return 0;
  }
  if (inet_pton(AF_INET6, s, out->a) == 1) {
    out->family = AF_INET6;
    return 0;
  }
  return -1;
}

static void policy_addr_str(const struct policy_addr *x, char *out, size_t outlen) {
  if (!inet_ntop(x->family, x->a, out, (socklen_t)outlen)) snprintf(out, outlen, "?");
}

static int policy_addr_eq(const struct policy_addr *x, const struct policy_addr *y) {
  return x->family == y->family && memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
}

/* A valid DNS name in letters-digits-hyphen form, at most 253 chars with
 * one optional trailing dot. A name whose last label is all digits, or
 * that inet_aton would read as an address ("127.1", "0x7f000001"), is
 * refused: the resolver would turn it into an address nobody wrote. */
static int policy_hostname_ok(const char *s) {
  size_t n = strlen(s), i, label = 0;
  int last_all_digits = 1;
  struct in_addr ia;

  if (n && s[n - 1] == '.') n--;
  if (n == 0 || n > LIM_HOSTNAME_LEN) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-') return 0;
      label = 0;
      last_all_digits = 1;
      continue;
    }
    if (!(isalnum(c) || c == '-')) return 0;
    if (c == '-' && label == 0) return 0;
    if (!isdigit(c)) last_all_digits = 0;
    if (++label > 63) return 0;
  }
  if (label == 0 || s[n - 1] == '-') return 0;
  if (last_all_digits) return 0;
  if (inet_aton(s, &ia)) return 0;
  return 1;
}

/* Lower-cases s into out without the trailing dot, the form rules and
 * targets are compared in. */
static void policy_host_key(const char *s, char *out, size_t outlen) {
  size_t i, n = strlen(s);
  if (n && s[n - 1] == '.') n--;
  if (n >= outlen) n = outlen - 1;
  for (i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)s[i]);
  out[n] = '\0';
}

static int policy_parse_cidr(struct policy_rule *r, const char *s, int want6, const char *rule,
                             char *err, size_t errlen);

struct policy *policy_new(void) {
  struct policy *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  for (size_t i = 0; i < POLICY_N_SPECIAL; i++) {
    struct policy_rule r;
    if (policy_parse_cidr(&r, policy_special[i].cidr, 0, policy_special[i].cidr, NULL, 0) < 0)
      goto fail;
    p->special[i].net = r.net;
    p->special[i].prefix = r.prefix;
    p->special[i].row = &policy_special[i];
  }
  /* The documented defaults (README.md, "Command line"), so a policy is usable before
   * policy_set_lab. */
  if (policy_set_lab(p, "127.0.0.1", 10000, 30000, 30099) < 0) goto fail;
  return p;

fail:
  free(p);
  return NULL;
}

void policy_free(struct policy *p) {
  size_t i;
  if (!p) return;
  for (i = 0; i < p->nrules; i++) {
    free(p->rules[i].text);
    free(p->rules[i].ports);
  }
  free(p->rules);
  free(p->locals);
  free(p->found);
  free(p->next);
  free(p);
}

/* Parses one port number: digits only, 1-65535. */
static int policy_parse_port(const char *s, size_t n) {
  long v = 0;
  size_t i;
  if (n == 0 || n > 5) return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* Parses "21,25,8000-8099" into r->ports. 0 or -1 with err. */
static int policy_parse_ports(struct policy_rule *r, const char *s, const char *rule, char *err,
                              size_t errlen) {
  size_t count = 1, i;
  const char *p;

  if (*s == '\0') {
    policy_say(err, errlen, "missing ports after ':' in --allow rule '%s'", rule);
    return -1;
  }
  for (p = s; *p; p++)
    if (*p == ',') count++;
  r->ports = calloc(count, sizeof *r->ports);
  if (!r->ports) {
    policy_say(err, errlen, "out of memory for --allow rule '%s'", rule);
    return -1;
  }
  p = s;
  for (i = 0; i < count; i++) {
    const char *end = strchr(p, ',');
    const char *dash;
    size_t n = end ? (size_t)(end - p) : strlen(p);
    int lo, hi;

    dash = memchr(p, '-', n);
    if (dash) {
      lo = policy_parse_port(p, (size_t)(dash - p));
      hi = policy_parse_port(dash + 1, (size_t)(p + n - dash - 1));
      if (lo < 0 || hi < 0 || lo > hi) {
        policy_say(err, errlen, "bad port range '%.*s' in --allow rule '%s'", (int)n, p, rule);
        return -1;
      }
    } else {
      lo = hi = policy_parse_port(p, n);
      if (lo < 0) {
        policy_say(err, errlen, "bad port '%.*s' in --allow rule '%s' (ports are 1-65535)", (int)n,
                   p, rule);
        return -1;
      }
    }
    r->ports[i].lo = lo;
    r->ports[i].hi = hi;
    p = end ? end + 1 : p + n;
  }
  r->nports = count;
  return 0;
}

/* Parses "ADDR[/PREFIX]" (no brackets) into r. want6: the text was
 * bracketed or had several colons, so only IPv6 is accepted. */
static int policy_parse_cidr(struct policy_rule *r, const char *s, int want6, const char *rule,
                             char *err, size_t errlen) {
  char addr[INET6_ADDRSTRLEN + 8];
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  int bits, i;
  struct policy_addr masked;

  if (alen == 0 || alen >= sizeof addr) goto bad_addr;
  memcpy(addr, s, alen);
  addr[alen] = '\0';
  if (policy_parse_addr(addr, &r->net) < 0) goto bad_addr;
  if (want6 && r->net.family != AF_INET6) goto bad_addr;
  bits = policy_addr_bits(r->net.family);
  r->prefix = bits;
  if (slash) {
    const char *q = slash + 1;
    long v = 0;
    if (*q == '\0' || strlen(q) > 3) goto bad_prefix;
    for (; *q; q++) {
      if (*q < '0' || *q > '9') goto bad_prefix;
      v = v * 10 + (*q - '0');
    }
    if (v > bits) goto bad_prefix;
    r->prefix = (int)v;
  }

  /* Host bits past the prefix usually mean a typo in the prefix; widening
   * or narrowing silently would allow something nobody asked for. */
  masked = r->net;
  for (i = 0; i < bits; i++)
    if (i >= r->prefix) masked.a[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
  if (!policy_addr_eq(&masked, &r->net)) {
    char m[INET6_ADDRSTRLEN];
    policy_addr_str(&masked, m, sizeof m);
    policy_say(err, errlen,
               "address '%s' has bits set past /%d (did you mean %s/%d?) in --allow rule '%s'",
               addr, r->prefix, m, r->prefix, rule);
    return -1;
  }

  /* A rule in IPv4-mapped form is an IPv4 rule, as the addresses it
   * matches are unwrapped to IPv4 before matching. */
  if (r->net.family == AF_INET6 && r->prefix >= 96 && addr_unmap_v4(r->net.a)) {
    r->net.family = AF_INET;
    r->prefix -= 96;
  }
  return 0;

bad_addr:
  policy_say(err, errlen, "bad %saddress '%.*s' in --allow rule '%s'", want6 ? "IPv6 " : "",
             (int)alen, s, rule);
  return -1;
bad_prefix:
  policy_say(err, errlen, "bad CIDR prefix '%s' in --allow rule '%s' (/0-/%d)", slash, rule,
             policy_addr_bits(r->net.family));
  return -1;
}

int policy_add_rule(struct policy *p, const char *rule, char *err, size_t errlen) {
  struct policy_rule r;
  struct policy_rule *grown;
  char *work = NULL;
  const char *ports = NULL;
  char *what;
  size_t colons = 0;
  const char *c;

  memset(&r, 0, sizeof r);
  policy_say(err, errlen, "%s", "");
  if (!p || !rule || *rule == '\0') {
    policy_say(err, errlen, "empty --allow rule");
    return -1;
  }
  for (c = rule; *c; c++) {
    if (isspace((unsigned char)*c) || !isprint((unsigned char)*c)) {
      policy_say(err, errlen, "--allow rule '%s' contains a space or control character", rule);
      return -1;
    }
    if (*c == ':') colons++;
  }
  r.text = strdup(rule);
  work = strdup(rule);
  if (!r.text || !work) {
    policy_say(err, errlen, "out of memory for --allow rule '%s'", rule);
    goto fail;
  }
  /* RULE+insecure: the same rule, and TLS to its targets is not refused
   * when the certificate fails verification. '+' is in no address, name
   * or port list, so the suffix cannot be part of the rule itself. */
  {
    char *plus = strchr(work, '+');
    if (plus) {
      if (strcmp(plus, "+insecure") != 0) {
        policy_say(err, errlen, "'%s' in --allow rule '%s': the only suffix is '+insecure'", plus,
                   rule);
        goto fail;
      }
      *plus = '\0';
      r.insecure = 1;
    }
  }

  if (work[0] == '[') {
    char *close = strchr(work, ']');
    if (!close) {
      policy_say(err, errlen, "missing ']' in --allow rule '%s'", rule);
      goto fail;
    }
    *close = '\0';
    if (close[1] == ':') {
      ports = close + 2;
    } else if (close[1] != '\0') {
      policy_say(err, errlen, "unexpected '%s' after ']' in --allow rule '%s'", close + 1, rule);
      goto fail;
    }
    if (policy_parse_cidr(&r, work + 1, 1, rule, err, errlen) < 0) goto fail;
  } else if (colons > 1) {
    /* Unbracketed IPv6: the colons belong to the address, all ports. */
    if (policy_parse_cidr(&r, work, 1, rule, err, errlen) < 0) goto fail;
  } else {
    char *colon = strchr(work, ':');
    if (colon) {
      *colon = '\0';
      ports = colon + 1;
    }
    what = work;
    if (*what == '\0') {
      policy_say(err, errlen, "missing host or address in --allow rule '%s'", rule);
      goto fail;
    }
    if (strchr(what, '/') || policy_parse_addr(what, &r.net) == 0) {
      if (policy_parse_cidr(&r, what, 0, rule, err, errlen) < 0) goto fail;
    } else if (policy_hostname_ok(what)) {
      r.is_host = 1;
      policy_host_key(what, r.host, sizeof r.host);
    } else {
      policy_say(err, errlen, "'%s' is not an IP address, CIDR or host name in --allow rule '%s'",
                 what, rule);
      goto fail;
    }
  }
  if (ports && policy_parse_ports(&r, ports, rule, err, errlen) < 0) goto fail;

  grown = realloc(p->rules, (p->nrules + 1) * sizeof *p->rules);
  if (!grown) {
    policy_say(err, errlen, "out of memory for --allow rule '%s'", rule);
    goto fail;
  }
  p->rules = grown;
  /* A flag rule goes before the run-time ones, which can be replaced. */
  memmove(&p->rules[p->nfixed + 1], &p->rules[p->nfixed],
          (p->nrules - p->nfixed) * sizeof *p->rules);
  p->rules[p->nfixed++] = r;
  p->nrules++;
  free(work);
  return 0;

fail:
  free(work);
  free(r.text);
  free(r.ports);
  return -1;
}

int policy_set_lab(struct policy *p, const char *lab_bind, int port_base, int pasv_lo,
                   int pasv_hi) {
  struct policy_addr a;
  if (!p || !lab_bind) return -1;
  if (policy_parse_addr(lab_bind, &a) < 0) return -1;
  /* base + the highest cleartext service port must still be a port (the
   * TLS ports above it are mapped only where they fit: config.c refuses a
   * base that leaves them out while --lab-tls-ports is on). */
  if (port_base < 0 || port_base + lab_service_max_port(0) > 65535) return -1;
  if (pasv_lo < 1 || pasv_hi > 65535 || pasv_lo > pasv_hi) return -1;
  policy_unwrap(&a);
  p->lab_addr = a;
  policy_addr_str(&a, p->lab_bind, sizeof p->lab_bind);
  p->lab_base = port_base;
  p->pasv_lo = pasv_lo;
  p->pasv_hi = pasv_hi;
  return 0;
}

void policy_set_portal_port(struct policy *p, int port) {
  if (p) p->portal_port = port;
}

void policy_add_local_addr(struct policy *p, const struct sockaddr *sa) {
  struct policy_addr a, *grown;
  size_t i;
  if (!p || policy_from_sockaddr(sa, &a) < 0) return;
  policy_unwrap(&a);
  for (i = 0; i < p->nlocals; i++)
    if (policy_addr_eq(&p->locals[i], &a)) return;
  grown = realloc(p->locals, (p->nlocals + 1) * sizeof *p->locals);
  /* Out of memory here only loses an extra refusal for the portal port on
   * one interface address; the private ranges still cover most of them. */
  if (!grown) return;
  p->locals = grown;
  p->locals[p->nlocals++] = a;
}

void policy_set_local_source(struct policy *p, policy_local_fn fn, void *arg) {
  if (!p) return;
  p->local_fn = fn;
  p->local_arg = arg;
  p->nfound = 0;
}

void policy_local_found(struct policy *p, const struct sockaddr *sa) {
  struct policy_addr a;
  if (!p || !p->collecting || policy_from_sockaddr(sa, &a) < 0) return;
  policy_unwrap(&a);
  for (size_t i = 0; i < p->nnext; i++)
    if (policy_addr_eq(&p->next[i], &a)) return;
  if (p->nnext == p->next_cap) {
    size_t cap = p->next_cap ? p->next_cap * 2 : 16;
    struct policy_addr *grown = realloc(p->next, cap * sizeof *grown);
    if (!grown) {
      p->collecting = -1; /* an incomplete list must not replace a complete one */
      return;
    }
    p->next = grown;
    p->next_cap = cap;
  }
  p->next[p->nnext++] = a;
}

int policy_system_local_addrs(struct policy *p, void *arg) {
  struct ifaddrs *ifa = NULL, *i;
  if (getifaddrs(&ifa) < 0) return -1;
  for (i = ifa; i; i = i->ifa_next)
    if (i->ifa_addr && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
      policy_local_found(p, i->ifa_addr);
  freeifaddrs(ifa);
  return 0;
}

/* Asks the source for this host's addresses now. Called on every check:
 * an address DHCP gave the machine a moment ago is this host at once.
 * getifaddrs() costs about 30 us, beside a database insert per open. If
 * the list cannot be read, the last good one stays. */
static void policy_refresh_locals(struct policy *p) {
  int rc;
  if (!p->local_fn) return;
  p->nnext = 0;
  p->collecting = 1;
  rc = p->local_fn(p, p->local_arg);
  if (rc == 0 && p->collecting == 1) {
    struct policy_addr *old = p->found;
    size_t old_cap = p->found_cap;
    p->found = p->next;
    p->found_cap = p->next_cap;
    p->nfound = p->nnext;
    p->next = old; /* the old list's memory is the next refresh's buffer */
    p->next_cap = old_cap;
  }
  p->nnext = 0;
  p->collecting = 0;
}

int policy_lab_port(const struct policy *p, int well_known) {
  size_t i;
  if (!p) return -1;
  for (i = 0; i < lab_service_count; i++)
    if (well_known == lab_services[i].port)
      return p->lab_base + well_known <= 65535 ? p->lab_base + well_known : -1;
  if (well_known >= p->pasv_lo && well_known <= p->pasv_hi) return well_known;
  return -1;
}

const char *policy_rule_text(const struct policy *p, size_t i) {
  if (!p || i >= p->nrules) return NULL;
  return p->rules[i].text;
}

int policy_rule_fixed(const struct policy *p, size_t i) {
  return p && i < p->nfixed;
}

static void policy_rule_free(struct policy_rule *r) {
  free(r->text);
  free(r->ports);
}

int policy_set_runtime_rules(struct policy *p, const char *const *rules, size_t n, char *err,
                             size_t errlen) {
  struct policy *scratch = policy_new();
  struct policy_rule *grown;
  size_t i;
  if (!p || !scratch) {
    policy_say(err, errlen, "out of memory");
    policy_free(scratch);
    return -1;
  }
  /* All or nothing: every rule is parsed before any replaces the old set. */
  for (i = 0; i < n; i++) {
    if (policy_add_rule(scratch, rules[i], err, errlen)) {
      policy_free(scratch);
      return -1;
    }
  }
  if (p->nfixed + n > p->nrules) { /* grow first: a failure leaves the old set whole */
    grown = realloc(p->rules, (p->nfixed + n) * sizeof *p->rules);
    if (!grown) {
      policy_say(err, errlen, "out of memory");
      policy_free(scratch);
      return -1;
    }
    p->rules = grown;
  }
  for (i = p->nfixed; i < p->nrules; i++) policy_rule_free(&p->rules[i]);
  if (n) memcpy(&p->rules[p->nfixed], scratch->rules, n * sizeof *p->rules);
  p->nrules = p->nfixed + n;
  scratch->nrules = scratch->nfixed = 0; /* the rules belong to p now */
  policy_free(scratch);
  return 0;
}

static int policy_rule_port_ok(const struct policy_rule *r, int port) {
  size_t i;
  if (!r->ports) return 1;
  for (i = 0; i < r->nports; i++)
    if (port >= r->ports[i].lo && port <= r->ports[i].hi) return 1;
  return 0;
}

/* Loopback, unspecified, the lab address and any added address of this
 * machine: where the portal itself may be listening. */
static int policy_is_local(const struct policy *p, const struct policy_addr *a) {
  static const unsigned char v6_loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const unsigned char v6_any[16] = {0};
  size_t i;
  if (a->family == AF_INET && (a->a[0] == 127 || a->a[0] == 0)) return 1;
  if (a->family == AF_INET6 && (!memcmp(a->a, v6_loop, 16) || !memcmp(a->a, v6_any, 16))) return 1;
  if (policy_addr_eq(&p->lab_addr, a)) return 1;
  for (i = 0; i < p->nlocals; i++)
    if (policy_addr_eq(&p->locals[i], a)) return 1;
  for (i = 0; i < p->nfound; i++)
    if (policy_addr_eq(&p->found[i], a)) return 1;
  return 0;
}

/* 1 if the lab servers can be reached at a: the lab address itself, or
 * any address of this host when the lab is bound to every address (0.0.0.0
 * for IPv4; :: listens dual-stack, so for both families). A connect to the
 * unspecified address (0.0.0.0, ::) reaches the loopback address of its
 * family (Linux's tcp_v4_connect and tcp_v6_connect), so that is where it
 * is judged: a rule that opens 0.0.0.0 opens this host, and its lab ports
 * are the lab there as they are on 127.0.0.1. */
static int policy_lab_listens_on(const struct policy *p, const struct policy_addr *in) {
  static const unsigned char zero[16];
  struct policy_addr a = *in;
  if (memcmp(a.a, zero, (size_t)policy_addr_bits(a.family) / 8) == 0) {
    if (a.family == AF_INET) a.a[0] = 127;
    a.a[a.family == AF_INET ? 3 : 15] = 1;
  }
  if (policy_addr_eq(&p->lab_addr, &a)) return 1;
  if (memcmp(p->lab_addr.a, zero, sizeof zero) != 0 || !policy_is_local(p, &a)) return 0;
  return p->lab_addr.family == AF_INET6 || a.family == AF_INET;
}

/* A port the lab servers really listen on: base + a service port, or the
 * passive range. */
static int policy_is_lab_real_port(const struct policy *p, int port) {
  size_t i;
  if (port >= p->pasv_lo && port <= p->pasv_hi) return 1;
  for (i = 0; i < lab_service_count; i++)
    if (port == p->lab_base + lab_services[i].port) return 1;
  return 0;
}

/* The lab, reached by one of this host's addresses. */
static int policy_is_lab_target(const struct policy *p, const struct policy_addr *a, int port) {
  return policy_lab_listens_on(p, a) && policy_is_lab_real_port(p, port);
}

static const struct policy_range *policy_find_denied(const struct policy *p,
                                                     const struct policy_addr *a) {
  for (size_t i = 0; i < POLICY_N_SPECIAL; i++) {
    const struct policy_range *d = &p->special[i];
    if (d->net.family == a->family && policy_prefix_match(a->a, d->net.a, d->prefix)) return d;
  }
  return NULL;
}

/* The judgement shared by IP literals and resolved addresses. host is the
 * lower-cased name the user typed, or NULL for a literal; only then may a
 * hostname rule apply. a has been unwrapped; shown is the address as the
 * user or resolver gave it, for messages. */
static int policy_judge(const struct policy *p, const char *host, const struct policy_addr *a,
                        const char *shown, int port, char *reason, size_t reasonlen) {
  const struct policy_range *deny = policy_find_denied(p, a);
  struct policy_range self;
  struct policy_special self_row;
  char self_cidr[INET6_ADDRSTRLEN + 8];
  char subject[LIM_HOSTNAME_LEN + 2 * INET6_ADDRSTRLEN + 16];
  char v4[INET6_ADDRSTRLEN];
  int addr_named = 0;
  size_t i;

  if (port < 1 || port > 65535) {
    policy_say(reason, reasonlen, "port %d is not a valid port (1-65535)", port);
    return -1;
  }

  /* How the address is named in messages: the name the user typed, and
   * the IPv4 address an IPv6 form was unwrapped to. */
  policy_addr_str(a, v4, sizeof v4);
  if (host && strcmp(host, shown) != 0)
    snprintf(subject, sizeof subject, "%s (%s)", host, shown);
  else if (a->family == AF_INET && strcmp(shown, v4) != 0)
    snprintf(subject, sizeof subject, "%s (%s)", shown, v4);
  else
    snprintf(subject, sizeof subject, "%s", shown);

  if (p->portal_port > 0 && port == p->portal_port && policy_is_local(p, a)) {
    policy_say(reason, reasonlen,
               "port %d on %s is the portal itself and can never be a relay target", port, subject);
    return -1;
  }

  /* Every address of this host is this host, whatever range it lies in:
   * a broad rule (0.0.0.0/0, or 192.168.0.0/16 for a LAN address) must
   * not open it, only a rule that names that very address. */
  if (policy_is_local(p, a) && !(deny && (deny->row->flags & POLICY_R_SELF))) {
    self.net = *a;
    self.prefix = policy_addr_bits(a->family);
    snprintf(self_cidr, sizeof self_cidr, "%s/%d", v4, self.prefix);
    self_row =
        (struct policy_special){self_cidr, "is an address of this host", -1, -1, POLICY_R_SELF};
    self.row = &self_row;
    deny = &self;
  }

  /* An IPv4 address inside an IPv6 one is where the packets end up: it
   * must pass the IPv4 policy on the same port before the IPv6 form is
   * even considered. */
  if (deny && deny->row->v4_at >= 0) {
    const int at[2] = {deny->row->v4_at, deny->row->v4_at2};
    for (int k = 0; k < 2 && at[k] >= 0; k++) {
      struct policy_addr inner;
      char inner_s[INET_ADDRSTRLEN], why[400];
      memset(&inner, 0, sizeof inner);
      inner.family = AF_INET;
      for (int b = 0; b < 4; b++)
        inner.a[b] = (unsigned char)(k == 1 ? ~a->a[at[k] + b] : a->a[at[k] + b]);
      policy_addr_str(&inner, inner_s, sizeof inner_s);
      if (policy_judge(p, NULL, &inner, inner_s, port, why, sizeof why) < 0) {
        policy_say(reason, reasonlen, "%s %s (%s) and carries the IPv4 address %s: %s", subject,
                   deny->row->what, deny->row->cidr, inner_s, why);
        return -1;
      }
    }
  }

  for (i = 0; i < p->nrules; i++) {
    const struct policy_rule *r = &p->rules[i];
    if (r->is_host) {
      /* A name rule vouches for the name, not for where it points: it
       * never opens a special-use range. */
      if (deny || !host || strcmp(r->host, host) != 0) continue;
    } else {
      if (r->net.family != a->family || !policy_prefix_match(a->a, r->net.a, r->prefix)) continue;
      if (deny && ((deny->row->flags & POLICY_R_CLOSED) || r->prefix < deny->prefix ||
                   !policy_prefix_match(r->net.a, deny->net.a, deny->prefix)))
        continue;
      addr_named = 1;
    }
    if (policy_rule_port_ok(r, port)) return 0;
  }

  if (deny && (deny->row->flags & POLICY_R_CLOSED))
    policy_say(reason, reasonlen, "%s %s (%s), which no --allow rule can open", subject,
               deny->row->what, deny->row->cidr);
  else if (deny && addr_named)
    policy_say(reason, reasonlen, "%s %s (%s) and no --allow rule names it on port %d", subject,
               deny->row->what, deny->row->cidr, port);
  else if (deny)
    policy_say(reason, reasonlen, "%s %s (%s) and no --allow rule names it", subject,
               deny->row->what, deny->row->cidr);
  else if (host)
    policy_say(reason, reasonlen, "%s:%d (%s) is not on the allow-list", host, port, shown);
  else if (strchr(shown, ':'))
    policy_say(reason, reasonlen, "[%s]:%d is not on the allow-list", shown, port);
  else
    policy_say(reason, reasonlen, "%s:%d is not on the allow-list", shown, port);
  return -1;
}

static void policy_fill_sockaddr(struct policy_target *out, const struct policy_addr *a, int port) {
  memset(&out->addr, 0, sizeof out->addr);
  if (a->family == AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&out->addr;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((unsigned short)port);
    memcpy(&s4->sin_addr, a->a, 4);
    out->addrlen = sizeof *s4;
  } else {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->addr;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((unsigned short)port);
    memcpy(&s6->sin6_addr, a->a, 16);
    out->addrlen = sizeof *s6;
  }
}

/* The lab's ports as a phrase for the refusal message. */
static void policy_lab_ports_text(const struct policy *p, char *out, size_t outlen) {
  size_t used = 0;
  int tls_seen = 0;

  out[0] = '\0';
  for (size_t i = 0; i < lab_service_count && used < outlen; i++) {
    const char *with = lab_services[i].tls_ports && !tls_seen++ ? "with TLS " : "";
    int n = snprintf(out + used, outlen - used, "%s%d%s", with, lab_services[i].port,
                     i + 1 < lab_service_count ? ", " : " ");
    if (n < 0) return;
    used += (size_t)n;
  }
  if (used < outlen)
    snprintf(out + used, outlen - used, "and %d-%d (FTP passive)", p->pasv_lo, p->pasv_hi);
}

enum policy_kind policy_prepare(struct policy *p, const char *host, int port,
                                struct policy_target *out, char *reason, size_t reasonlen) {
  char lit[INET6_ADDRSTRLEN + 2];
  char key[LIM_HOSTNAME_LEN + 1];
  struct policy_addr a;
  size_t n, i;
  int unwrapped;

  policy_say(reason, reasonlen, "%s", "");
  memset(out, 0, sizeof *out);
  out->port = port;
  if (!p || !host || *host == '\0') {
    policy_say(reason, reasonlen, "no host was given");
    return POLICY_DENY;
  }
  policy_refresh_locals(p);
  n = strlen(host);
  if (n > LIM_HOSTNAME_LEN) {
    policy_say(reason, reasonlen, "the host name is longer than %d characters", LIM_HOSTNAME_LEN);
    return POLICY_DENY;
  }
  for (i = 0; i < n; i++) out->host[i] = (char)tolower((unsigned char)host[i]);
  out->host[n] = '\0';

  if (port < 1 || port > 65535) {
    policy_say(reason, reasonlen, "port %d is not a valid port (1-65535)", port);
    return POLICY_DENY;
  }

  if (strcmp(out->host, "lab") == 0) {
    int real = policy_lab_port(p, port);
    char ports[256];
    out->is_lab = 1;
    if (real < 0) {
      policy_lab_ports_text(p, ports, sizeof ports);
      policy_say(reason, reasonlen, "lab:%d is not a lab service; the lab offers ports %s", port,
                 ports);
      return POLICY_DENY;
    }
    /* Lab ports are remapped, so the portal check looks at the real one. */
    if (p->portal_port > 0 && real == p->portal_port) {
      policy_say(reason, reasonlen, "lab:%d maps to port %d on %s, which is the portal itself",
                 port, real, p->lab_bind);
      return POLICY_DENY;
    }
    policy_fill_sockaddr(out, &p->lab_addr, real);
    return POLICY_READY;
  }

  /* "[v6]" is an IPv6 literal; the brackets are only accepted around one. */
  if (host[0] == '[') {
    if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof lit) goto bad_name;
    memcpy(lit, host + 1, n - 2);
    lit[n - 2] = '\0';
    if (inet_pton(AF_INET6, lit, a.a) != 1) goto bad_name;
    a.family = AF_INET6;
  } else if (policy_parse_addr(host, &a) < 0) {
    if (!policy_hostname_ok(host)) goto bad_name;
    policy_host_key(host, key, sizeof key);
    for (i = 0; i < p->nrules; i++) {
      const struct policy_rule *r = &p->rules[i];
      if (r->is_host && strcmp(r->host, key) == 0 && policy_rule_port_ok(r, port))
        return POLICY_RESOLVE;
    }
    policy_say(reason, reasonlen, "%s:%d is not on the allow-list", out->host, port);
    return POLICY_DENY;
  }

  {
    struct policy_addr orig = a;
    char shown[INET6_ADDRSTRLEN];
    policy_addr_str(&a, shown, sizeof shown);
    unwrapped = policy_unwrap(&a);
    if (policy_judge(p, NULL, &a, shown, port, reason, reasonlen) < 0) return POLICY_DENY;
    /* This host's address and a port the lab listens on there: that is
     * the lab, whatever it was called, and it is reached the way lab:N
     * is, so the lab servers learn which student it is. */
    if (policy_is_lab_target(p, &a, port)) {
      out->is_lab = 1;
      policy_fill_sockaddr(out, &p->lab_addr, port);
      return POLICY_READY;
    }
    /* A mapped address is connected to as plain IPv4: the same destination,
     * without depending on the socket's IPV6_V6ONLY setting. A compat
     * address keeps its IPv6 form, since the kernel does not route it to
     * IPv4; it was judged as IPv4 only to be safe. */
    policy_fill_sockaddr(out, unwrapped && orig.a[10] == 0xff ? &a : &orig, port);
  }
  return POLICY_READY;

bad_name:
  policy_say(reason, reasonlen, "'%s' is not a valid host name or IP address", out->host);
  return POLICY_DENY;
}

int policy_tls_insecure(const struct policy *p, const char *host, const struct sockaddr *sa,
                        int port) {
  struct policy_addr a;
  char key[LIM_HOSTNAME_LEN + 1] = "";
  if (!p || policy_from_sockaddr(sa, &a) < 0) return 0;
  policy_unwrap(&a);
  if (host && *host && strlen(host) <= LIM_HOSTNAME_LEN) policy_host_key(host, key, sizeof key);
  for (size_t i = 0; i < p->nrules; i++) {
    const struct policy_rule *r = &p->rules[i];
    if (!r->insecure || !policy_rule_port_ok(r, port)) continue;
    if (r->is_host ? strcmp(r->host, key) == 0
                   : r->net.family == a.family && policy_prefix_match(a.a, r->net.a, r->prefix))
      return 1;
  }
  return 0;
}

int policy_check_addr(struct policy *p, const char *host, const struct sockaddr *sa, int port,
                      char *reason, size_t reasonlen) {
  struct policy_addr a;
  char shown[INET6_ADDRSTRLEN], key[LIM_HOSTNAME_LEN + 1];
  const char *named = NULL;

  policy_say(reason, reasonlen, "%s", "");
  if (!p || policy_from_sockaddr(sa, &a) < 0) {
    policy_say(reason, reasonlen, "the address is not IPv4 or IPv6");
    return -1;
  }
  policy_refresh_locals(p);
  policy_addr_str(&a, shown, sizeof shown);
  policy_unwrap(&a);
  if (host && *host && strlen(host) <= LIM_HOSTNAME_LEN) {
    policy_host_key(host, key, sizeof key);
    named = key;
  }
  if (policy_judge(p, named, &a, shown, port, reason, reasonlen) < 0) return -1;
  /* A resolved name cannot be turned into the lab (the caller connects to
   * what it resolved), and reaching the lab any other way than as the lab
   * would hide which student it is. */
  if (policy_is_lab_target(p, &a, port)) {
    policy_say(reason, reasonlen, "%s (%s) port %d is the built-in lab; open it as lab instead",
               named ? named : shown, shown, port);
    return -1;
  }
  return 0;
}
