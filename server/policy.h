/* policy.h -- which targets the relay may connect to (DESIGN.md section 6).
 *
 * The built-in host "lab" is always allowed on its six service ports and
 * the FTP passive range. Anything else must match an --allow rule:
 *   CIDR[:PORTS]        10.1.2.0/24:21,25   192.0.2.7   (no prefix = /32)
 *   [IPV6CIDR][:PORTS]  [2001:db8::/32]:80  (brackets needed for ports)
 *   IPV6CIDR            2001:db8::/32       (unbracketed: all ports)
 *   HOSTNAME[:PORTS]    mail.school.example:25,110,143
 *   PORTS               21,25,80 or 1-1024 or a mix: 21,25,8000-8099
 * Special-use ranges (loopback, private, link-local, multicast, ...) are
 * denied unless an address rule names them explicitly: the rule's prefix
 * lies inside the denied range (so 0.0.0.0/0 opens no private address, but
 * 127.0.0.1:7 opens that one port). A hostname rule never opens them.
 * IPv4-mapped IPv6 addresses are unwrapped and checked as IPv4. The
 * portal's own port is refused on every local address whatever the rules.
 */
#ifndef PORTLAB_POLICY_H
#define PORTLAB_POLICY_H

#include <stddef.h>
#include <sys/socket.h>

struct policy;

/* Well-known lab ports, the services "lab" offers. */
enum {
  LAB_FTP = 21,
  LAB_TELNET = 23,
  LAB_SMTP = 25,
  LAB_HTTP = 80,
  LAB_POP3 = 110,
  LAB_IMAP = 143
};

struct policy *policy_new(void);
void policy_free(struct policy *p); /* NULL is a no-op */

/* Adds one --allow rule. -1 with a one-line reason in err if malformed. */
int policy_add_rule(struct policy *p, const char *rule, char *err, size_t errlen);
/* lab_bind is a numeric address; port_base 0 means the real ports. */
int policy_set_lab(struct policy *p, const char *lab_bind, int port_base, int pasv_lo, int pasv_hi);
/* The portal's own listening port, refused on local addresses. */
void policy_set_portal_port(struct policy *p, int port);
/* Adds an address of this machine (getifaddrs); loopback, unspecified and
 * the lab address count as local without being added. */
void policy_add_local_addr(struct policy *p, const struct sockaddr *sa);
void policy_add_system_local_addrs(struct policy *p); /* all of getifaddrs() */

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
enum policy_kind policy_prepare(const struct policy *p, const char *host, int port,
                                struct policy_target *out, char *reason, size_t reasonlen);
/* Second step for names: checks one resolved address for host:port.
 * 0 = allowed (sa's port is then set by the caller), -1 = denied with reason. */
int policy_check_addr(const struct policy *p, const char *host, const struct sockaddr *sa, int port,
                      char *reason, size_t reasonlen);

/* Maps a lab well-known port to the real listening port (base + port), or
 * the port itself for the passive range; -1 if not a lab port. */
int policy_lab_port(const struct policy *p, int well_known);
/* Iterate rules for GET /api/targets: returns the rule text of rule i, or NULL past the end. */
const char *policy_rule_text(const struct policy *p, size_t i);

#endif
