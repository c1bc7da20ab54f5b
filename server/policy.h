/* policy.h -- which targets the relay may connect to (docs/architecture.md, "Target policy").
 *
 * The built-in host "lab" is always allowed on its service ports and
 * the FTP passive range. Anything else must match an --allow rule:
 *   CIDR[:PORTS]        10.1.2.0/24:21,25   192.0.2.7   (no prefix = /32)
 *   [IPV6CIDR][:PORTS]  [2001:db8::/32]:80  (brackets needed for ports)
 *   IPV6CIDR            2001:db8::/32       (unbracketed: all ports)
 *   HOSTNAME[:PORTS]    mail.school.example:25,110,143
 *   PORTS               21,25,80 or 1-1024 or a mix: 21,25,8000-8099
 * Any rule may end in "+insecure" (127.0.0.1:9443+insecure): the relay's
 * TLS to a target it matches goes on when the certificate fails
 * verification, with a note, instead of being refused.
 * Special-use ranges (loopback, private, link-local, multicast, ...) are
 * denied unless an address rule names them explicitly: the rule's prefix
 * lies inside the denied range (so 0.0.0.0/0 opens no private address, but
 * 127.0.0.1:7 opens that one port). A hostname rule never opens them.
 * IPv4-mapped IPv6 addresses are unwrapped and checked as IPv4; the IPv6
 * prefixes that carry an IPv4 address (NAT64 64:ff9b::/96, 6to4 2002::/16,
 * Teredo 2001::/32, IPv4-translated ::ffff:0:0:0/96) are special-use too,
 * and even when a rule names one the embedded IPv4 address must pass the
 * IPv4 policy; the local-use NAT64 prefix 64:ff9b:1::/48 never opens.
 *
 * Every address of this host (loopback, the lab address, each interface
 * address, as listed on every check) is this host: a broad rule never
 * opens it, only a rule naming that address (127.0.0.0/8 for loopback).
 * Once opened, a port the lab servers listen on there is the lab, reached
 * as lab:N is (is_lab set); the portal's own port is refused whatever the
 * rules.
 */
#ifndef PORTLAB_POLICY_H
#define PORTLAB_POLICY_H

#include <stddef.h>
#include <sys/socket.h>

struct policy;

/* The services "lab" offers and their well-known ports are the table in
 * protocols/modules.c (lab_services, lab.h). */

struct policy *policy_new(void);
void policy_free(struct policy *p); /* NULL is a no-op */

/* Adds one --allow rule. -1 with a one-line reason in err if malformed. */
int policy_add_rule(struct policy *p, const char *rule, char *err, size_t errlen);
/* lab_bind is a numeric address; port_base 0 means the real ports. */
int policy_set_lab(struct policy *p, const char *lab_bind, int port_base, int pasv_lo, int pasv_hi);
/* The portal's own listening port, refused on local addresses. */
void policy_set_portal_port(struct policy *p, int port);
/* Adds a fixed address of this machine; loopback, unspecified and the lab
 * address count as local without being added. */
void policy_add_local_addr(struct policy *p, const struct sockaddr *sa);

/* Where this host's addresses come from, asked again on every check
 * (addresses change: DHCP, a laptop joining a network). The source calls
 * policy_local_found() once per address and returns 0, or -1 if it could
 * not list them (the last good list is kept). main uses
 * policy_system_local_addrs (getifaddrs); tests pass a fake one. */
typedef int (*policy_local_fn)(struct policy *p, void *arg);
void policy_set_local_source(struct policy *p, policy_local_fn fn, void *arg);
void policy_local_found(struct policy *p, const struct sockaddr *sa);
int policy_system_local_addrs(struct policy *p, void *arg);

enum policy_kind {
  POLICY_DENY = 0, /* refused; reason says why */
  POLICY_READY,    /* addr/addrlen filled, connect there */
  POLICY_RESOLVE   /* a hostname rule names host: resolve, then policy_check_addr each */
};

struct policy_target {
  char host[254]; /* as the user typed it, lower-cased */
  int port;       /* as the user typed it (well-known port for lab) */
  int is_lab;
  struct sockaddr_storage addr; /* for POLICY_READY; port set in it */
  socklen_t addrlen;
};

/* First step, before any DNS: host is "lab", an IP literal (IPv6 with or
 * without brackets) or a hostname. Fills out; on POLICY_DENY writes a
 * sentence for the user into reason ("10.0.0.1 is in a private range
 * (10.0.0.0/8) and no --allow rule names it"). */
enum policy_kind policy_prepare(struct policy *p, const char *host, int port,
                                struct policy_target *out, char *reason, size_t reasonlen);
/* 1 if a rule ending in "+insecure" matches host (as typed; may be NULL)
 * or sa on port: the relay's TLS there may go on past a failed
 * verification. Call only for a target that passed the policy. */
int policy_tls_insecure(const struct policy *p, const char *host, const struct sockaddr *sa,
                        int port);
/* Second step for names: checks one resolved address for host:port.
 * 0 = allowed (sa's port is then set by the caller), -1 = denied with
 * reason; the lab's own ports on this host are denied too (use lab). */
int policy_check_addr(struct policy *p, const char *host, const struct sockaddr *sa, int port,
                      char *reason, size_t reasonlen);

/* Maps a lab well-known port to the real listening port (base + port), or
 * the port itself for the passive range; -1 if not a lab port. */
int policy_lab_port(const struct policy *p, int well_known);
/* Iterate rules for GET /api/targets: returns the rule text of rule i, or NULL past the end. */
const char *policy_rule_text(const struct policy *p, size_t i);
/* 1 if rule i came from --allow (fixed for the run), 0 if it was set at
 * run time (or past the end). */
int policy_rule_fixed(const struct policy *p, size_t i);
/* Replaces the run-time rules (GET/PUT /api/class) with these n rules,
 * which follow the --allow syntax; the --allow rules stay in front. All or
 * nothing: -1 with a reason in err, and the old set kept, if any rule is
 * malformed. */
int policy_set_runtime_rules(struct policy *p, const char *const *rules, size_t n, char *err,
                             size_t errlen);

#endif
