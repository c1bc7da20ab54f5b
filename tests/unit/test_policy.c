/* test_policy.c -- unit tests for the relay target policy.
 *
 * The policy is what keeps a browser from using the portal to reach its
 * own network, so every special-use range is tried in each spelling
 * (IPv4, IPv6, IPv4-mapped, IPv4-compatible), every rule is tried at the
 * edges of what it names, and malformed rules must fail with a message.
 * No socket is opened: addresses are built in memory.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "policy.h"

static char reason[256];
static struct policy_target tgt;

static int prep(struct policy *p, const char *host, int port) {
  return (int)policy_prepare(p, host, port, &tgt, reason, sizeof reason);
}

/* Builds a sockaddr from a numeric string and asks policy_check_addr. */
static int check_addr(struct policy *p, const char *host, const char *addr, int port) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (strchr(addr, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    s6->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1) return 99;
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1) return 99;
  }
  return policy_check_addr(p, host, (struct sockaddr *)&ss, port, reason, sizeof reason);
}

static int add(struct policy *p, const char *rule) {
  char err[256];
  int r = policy_add_rule(p, rule, err, sizeof err);
  if (r < 0) fprintf(stderr, "  (rule '%s': %s)\n", rule, err);
  return r;
}

static int port_of(const struct policy_target *t) {
  if (t->addr.ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)&t->addr)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)&t->addr)->sin6_port);
}

static const char *addr_of(const struct policy_target *t) {
  static char s[INET6_ADDRSTRLEN];
  if (t->addr.ss_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)&t->addr)->sin_addr, s, sizeof s);
  else
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&t->addr)->sin6_addr, s, sizeof s);
  return s;
}

/* With no rules every special-use address is denied with its range named,
 * and a public one is simply not on the allow-list. */
static void test_deny_classes(void) {
  static const struct {
    const char *addr, *range;
  } cases[] = {
      {"0.0.0.0", "0.0.0.0/8"},
      {"0.255.1.1", "0.0.0.0/8"},
      {"127.0.0.1", "127.0.0.0/8"},
      {"127.255.255.254", "127.0.0.0/8"},
      {"10.0.0.1", "10.0.0.0/8"},
      {"10.255.255.255", "10.0.0.0/8"},
      {"172.16.0.1", "172.16.0.0/12"},
      {"172.31.255.255", "172.16.0.0/12"},
      {"192.168.1.1", "192.168.0.0/16"},
      {"100.64.0.1", "100.64.0.0/10"},
      {"100.127.255.255", "100.64.0.0/10"},
      {"169.254.169.254", "169.254.0.0/16"},
      {"224.0.0.1", "224.0.0.0/4"},
      {"239.255.255.255", "224.0.0.0/4"},
      {"240.0.0.1", "240.0.0.0/4"},
      {"255.255.255.255", "255.255.255.255/32"},
      {"::1", "::1/128"},
      {"::", "::/128"},
      {"fe80::1", "fe80::/10"},
      {"febf:ffff::1", "fe80::/10"},
      {"fc00::1", "fc00::/7"},
      {"fd12:3456::1", "fc00::/7"},
      {"ff02::1", "ff00::/8"},
      {"::ffff:10.0.0.1", "10.0.0.0/8"},
      {"::ffff:127.0.0.1", "127.0.0.0/8"},
      {"::ffff:169.254.169.254", "169.254.0.0/16"},
      {"::10.0.0.1", "10.0.0.0/8"},   /* IPv4-compatible */
      {"::127.0.0.1", "127.0.0.0/8"}, /* IPv4-compatible */
      {"::0.0.0.2", "0.0.0.0/8"},     /* compat, not ::1 */
  };
  struct policy *p = policy_new();
  size_t i;
  CHECK(p != NULL);
  if (!p) return;
  /* A public-wide rule still opens none of them. */
  CHECK_EQ_INT(add(p, "0.0.0.0/0"), 0);
  CHECK_EQ_INT(add(p, "::/0"), 0);
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int k = prep(p, cases[i].addr, 80);
    if (k != POLICY_DENY) fprintf(stderr, "  not denied: %s\n", cases[i].addr);
    CHECK_EQ_INT(k, POLICY_DENY);
    if (!strstr(reason, cases[i].range)) fprintf(stderr, "  reason: %s\n", reason);
    CHECK(strstr(reason, cases[i].range) != NULL);
    CHECK(strstr(reason, "no --allow rule names it") != NULL);
    CHECK_EQ_INT(check_addr(p, "x.example", cases[i].addr, 80), -1);
  }
  /* The wording users see. */
  CHECK_EQ_INT(prep(p, "127.0.0.1", 80), POLICY_DENY);
  CHECK_EQ_STR(reason,
               "127.0.0.1 is a loopback address (127.0.0.0/8) and no --allow rule names it");
  CHECK_EQ_INT(prep(p, "10.0.0.1", 80), POLICY_DENY);
  CHECK_EQ_STR(reason, "10.0.0.1 is in a private range (10.0.0.0/8) and no --allow rule names it");
  CHECK_EQ_INT(prep(p, "::ffff:10.0.0.1", 80), POLICY_DENY);
  CHECK_EQ_STR(reason,
               "::ffff:10.0.0.1 (10.0.0.1) is in a private range (10.0.0.0/8) and no --allow rule "
               "names it");
  /* Neighbours of the ranges are public and opened by 0.0.0.0/0. */
  CHECK_EQ_INT(prep(p, "1.0.0.0", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "126.255.255.255", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "128.0.0.0", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "172.15.255.255", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "172.32.0.0", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "100.63.255.255", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "100.128.0.0", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "223.255.255.255", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "192.0.2.1", 80), POLICY_READY);
  CHECK_EQ_STR(addr_of(&tgt), "192.0.2.1");
  CHECK_EQ_INT(port_of(&tgt), 80);
  CHECK_EQ_INT(prep(p, "2001:db8::1", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "[2001:db8::1]", 443), POLICY_READY);
  CHECK_EQ_STR(addr_of(&tgt), "2001:db8::1");
  CHECK_EQ_INT(port_of(&tgt), 443);
  CHECK_EQ_INT(prep(p, "fec0::1", 80), POLICY_READY); /* outside fe80::/10 */
  /* A mapped public address is allowed by the v4 rule and connects as v4. */
  CHECK_EQ_INT(prep(p, "::ffff:192.0.2.1", 80), POLICY_READY);
  CHECK_EQ_INT(tgt.addr.ss_family, AF_INET);
  CHECK_EQ_STR(addr_of(&tgt), "192.0.2.1");
  CHECK_EQ_INT(check_addr(p, "x.example", "192.0.2.1", 80), 0);
  policy_free(p);

  /* With no rules even a public address is refused. */
  p = policy_new();
  CHECK_EQ_INT(prep(p, "192.0.2.1", 25), POLICY_DENY);
  CHECK_EQ_STR(reason, "192.0.2.1:25 is not on the allow-list");
  CHECK_EQ_INT(prep(p, "2001:db8::1", 25), POLICY_DENY);
  CHECK_EQ_STR(reason, "[2001:db8::1]:25 is not on the allow-list");
  policy_free(p);
}

static void test_explicit_rules(void) {
  struct policy *p = policy_new();
  CHECK_EQ_INT(add(p, "127.0.0.1:7"), 0);
  CHECK_EQ_INT(add(p, "10.1.2.0/24:21,25"), 0);
  CHECK_EQ_INT(add(p, "[fd00::/64]:80"), 0);
  CHECK_EQ_INT(add(p, "[::1]:9"), 0);
  CHECK_EQ_INT(add(p, "192.168.0.0/16"), 0);

  CHECK_EQ_INT(prep(p, "127.0.0.1", 7), POLICY_READY);
  CHECK_EQ_STR(addr_of(&tgt), "127.0.0.1");
  CHECK_EQ_INT(port_of(&tgt), 7);
  CHECK_EQ_INT(prep(p, "127.0.0.1", 8), POLICY_DENY);
  CHECK_EQ_STR(
      reason,
      "127.0.0.1 is a loopback address (127.0.0.0/8) and no --allow rule names it on port 8");
  CHECK_EQ_INT(prep(p, "127.0.0.2", 7), POLICY_DENY);
  /* The mapped form of an opened address is opened the same way. */
  CHECK_EQ_INT(prep(p, "::ffff:127.0.0.1", 7), POLICY_READY);
  CHECK_EQ_INT(prep(p, "::ffff:127.0.0.1", 8), POLICY_DENY);

  CHECK_EQ_INT(prep(p, "10.1.2.0", 21), POLICY_READY);
  CHECK_EQ_INT(prep(p, "10.1.2.255", 25), POLICY_READY);
  CHECK_EQ_INT(prep(p, "10.1.2.255", 22), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "10.1.3.0", 21), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "10.1.1.255", 21), POLICY_DENY);

  CHECK_EQ_INT(prep(p, "fd00::5", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "fd00:0:0:1::5", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "::1", 9), POLICY_READY);
  CHECK_EQ_INT(prep(p, "[::1]", 9), POLICY_READY);
  CHECK_EQ_INT(prep(p, "::1", 10), POLICY_DENY);

  CHECK_EQ_INT(prep(p, "192.168.55.1", 1), POLICY_READY);
  CHECK_EQ_INT(prep(p, "192.168.55.1", 65535), POLICY_READY);
  CHECK_EQ_INT(prep(p, "::ffff:192.168.55.1", 443), POLICY_READY);

  /* Rules name what they say and nothing public. */
  CHECK_EQ_INT(prep(p, "192.0.2.1", 80), POLICY_DENY);

  CHECK_EQ_STR(policy_rule_text(p, 0), "127.0.0.1:7");
  CHECK_EQ_STR(policy_rule_text(p, 2), "[fd00::/64]:80");
  CHECK_EQ_STR(policy_rule_text(p, 4), "192.168.0.0/16");
  CHECK(policy_rule_text(p, 5) == NULL);
  policy_free(p);

  /* A rule wider than the denied range does not open it, a narrower one
   * inside it does: 10.0.0.0/7 covers 10/8 and 11/8, opens only 11/8. */
  p = policy_new();
  CHECK_EQ_INT(add(p, "10.0.0.0/7"), 0);
  CHECK_EQ_INT(add(p, "172.0.0.0/8:80"), 0);
  CHECK_EQ_INT(add(p, "172.16.0.0/12:443"), 0);
  CHECK_EQ_INT(prep(p, "11.0.0.1", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "10.0.0.1", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "172.16.0.1", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "172.16.0.1", 443), POLICY_READY);
  CHECK_EQ_INT(prep(p, "172.15.0.1", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "172.15.0.1", 443), POLICY_DENY);
  policy_free(p);

  /* A rule in mapped IPv6 form is an IPv4 rule. */
  p = policy_new();
  CHECK_EQ_INT(add(p, "[::ffff:10.0.0.0/104]:22"), 0);
  CHECK_EQ_INT(prep(p, "10.9.9.9", 22), POLICY_READY);
  CHECK_EQ_INT(prep(p, "::ffff:10.9.9.9", 22), POLICY_READY);
  CHECK_EQ_INT(prep(p, "10.9.9.9", 23), POLICY_DENY);
  policy_free(p);

  /* Broadcast is not opened by naming 240/4. */
  p = policy_new();
  CHECK_EQ_INT(add(p, "240.0.0.0/4"), 0);
  CHECK_EQ_INT(prep(p, "240.0.0.1", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "255.255.255.255", 80), POLICY_DENY);
  policy_free(p);
}

static void test_ports(void) {
  struct policy *p = policy_new();
  CHECK_EQ_INT(add(p, "192.0.2.0/24:1-1024"), 0);
  CHECK_EQ_INT(add(p, "198.51.100.7:21,25,8000-8099"), 0);
  CHECK_EQ_INT(add(p, "203.0.113.1:65535"), 0);

  CHECK_EQ_INT(prep(p, "192.0.2.9", 1), POLICY_READY);
  CHECK_EQ_INT(prep(p, "192.0.2.9", 1024), POLICY_READY);
  CHECK_EQ_INT(prep(p, "192.0.2.9", 1025), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "198.51.100.7", 21), POLICY_READY);
  CHECK_EQ_INT(prep(p, "198.51.100.7", 22), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "198.51.100.7", 25), POLICY_READY);
  CHECK_EQ_INT(prep(p, "198.51.100.7", 7999), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "198.51.100.7", 8000), POLICY_READY);
  CHECK_EQ_INT(prep(p, "198.51.100.7", 8099), POLICY_READY);
  CHECK_EQ_INT(prep(p, "198.51.100.7", 8100), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "203.0.113.1", 65535), POLICY_READY);
  CHECK_EQ_INT(prep(p, "203.0.113.1", 65534), POLICY_DENY);

  /* Port 0 and beyond 65535 are never targets. */
  CHECK_EQ_INT(prep(p, "192.0.2.9", 0), POLICY_DENY);
  CHECK(strstr(reason, "not a valid port") != NULL);
  CHECK_EQ_INT(prep(p, "192.0.2.9", 65536), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "192.0.2.9", -1), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "lab", 0), POLICY_DENY);
  CHECK_EQ_INT(check_addr(p, "x.example", "192.0.2.9", 0), -1);
  policy_free(p);
}

static void test_malformed_rules(void) {
  static const struct {
    const char *rule, *want; /* want: a substring of the message */
  } bad[] = {
      {"", "empty"},
      {"10.0.0.0/33", "bad CIDR prefix '/33'"},
      {"[2001:db8::/129]", "bad CIDR prefix '/129'"},
      {"2001:db8::/129", "bad CIDR prefix '/129'"},
      {"10.0.0.0/", "bad CIDR prefix"},
      {"10.0.0.0/-1", "bad CIDR prefix"},
      {"10.0.0.0/8x", "bad CIDR prefix"},
      {"10.0.0.0/8:90-80", "bad port range '90-80' in --allow rule '10.0.0.0/8:90-80'"},
      {"10.0.0.0/8:0", "bad port '0'"},
      {"10.0.0.0/8:65536", "bad port '65536'"},
      {"10.0.0.0/8:http", "bad port 'http'"},
      {"10.0.0.0/8:21,,25", "bad port ''"},
      {"10.0.0.0/8:21,", "bad port ''"},
      {"10.0.0.0/8:-5", "bad port range"},
      {"10.0.0.0/8:5-", "bad port range"},
      {"10.0.0.0/8:1-2-3", "bad port range"},
      {"host.example:", "missing ports"},
      {"10.0.0.1:", "missing ports"},
      {":80", "missing host"},
      {"[::1]:", "missing ports"},
      {"[::1", "missing ']'"},
      {"[::1]x", "unexpected"},
      {"[10.0.0.1]", "bad IPv6 address"},
      {"[host.example]:80", "bad IPv6 address"},
      {"10.0.0.300", "not an IP address, CIDR or host name"},
      {"10.0.0.300/8", "bad address"},
      {"host.example/8", "bad address"},
      {"10.1.2.3/8", "did you mean 10.0.0.0/8"},
      {"!!garbage!!", "not an IP address"},
      {"-bad.example", "not an IP address"},
      {"bad-.example", "not an IP address"},
      {"a..example", "not an IP address"},
      {"127.1", "not an IP address"},
      {"0x7f000001", "not an IP address"},
      {"under_score.example", "not an IP address"},
      {"has space.example", "space"},
      {"2001:db8::zz", "bad IPv6 address"},
  };
  struct policy *p = policy_new();
  char err[256];
  size_t i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int r = policy_add_rule(p, bad[i].rule, err, sizeof err);
    if (r != -1 || !strstr(err, bad[i].want))
      fprintf(stderr, "  rule '%s' -> %d '%s'\n", bad[i].rule, r, err);
    CHECK_EQ_INT(r, -1);
    CHECK(strstr(err, bad[i].want) != NULL);
    CHECK(strchr(err, '\n') == NULL);
  }
  CHECK(policy_rule_text(p, 0) == NULL); /* nothing was added */
  CHECK_EQ_INT(policy_add_rule(p, NULL, err, sizeof err), -1);
  CHECK_EQ_INT(policy_add_rule(p, "10.0.0.0/33", NULL, 0), -1);
  /* A label of 64 characters and a name of 254 are too long. */
  {
    char longlabel[80], longname[300];
    memset(longlabel, 'a', 64);
    strcpy(longlabel + 64, ".example");
    CHECK_EQ_INT(policy_add_rule(p, longlabel, err, sizeof err), -1);
    CHECK_EQ_INT(policy_add_rule(p, longlabel + 1, err, sizeof err), 0);
    memset(longname, 'a', sizeof longname);
    for (i = 10; i < 254; i += 10) longname[i] = '.';
    longname[254] = '\0';
    CHECK_EQ_INT(policy_add_rule(p, longname, err, sizeof err), -1);
    longname[253] = '\0';
    CHECK_EQ_INT(policy_add_rule(p, longname, err, sizeof err), 0);
  }
  /* Edge values that are well-formed. */
  CHECK_EQ_INT(add(p, "0.0.0.0/0:1-65535"), 0);
  CHECK_EQ_INT(add(p, "[::/0]"), 0);
  CHECK_EQ_INT(add(p, "2001:db8::/32"), 0);
  CHECK_EQ_INT(add(p, "2001:db8::1"), 0);
  CHECK_EQ_INT(add(p, "192.0.2.7"), 0);
  CHECK_EQ_INT(add(p, "192.0.2.7/32:80"), 0);
  CHECK_EQ_INT(add(p, "mail.school.example:25,110,143"), 0);
  CHECK_EQ_INT(add(p, "Mail.School.Example.:80"), 0);
  CHECK_EQ_INT(add(p, "localhost"), 0);
  policy_free(p);
}

static void test_hostname_rules(void) {
  struct policy *p = policy_new();
  CHECK_EQ_INT(add(p, "mail.school.example:25,110"), 0);
  CHECK_EQ_INT(add(p, "WWW.Example.ORG."), 0);

  CHECK_EQ_INT(prep(p, "mail.school.example", 25), POLICY_RESOLVE);
  CHECK_EQ_STR(tgt.host, "mail.school.example");
  CHECK_EQ_INT(tgt.port, 25);
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_INT(prep(p, "MAIL.School.Example", 110), POLICY_RESOLVE);
  CHECK_EQ_STR(tgt.host, "mail.school.example");
  CHECK_EQ_INT(prep(p, "mail.school.example.", 25), POLICY_RESOLVE);
  CHECK_EQ_INT(prep(p, "mail.school.example", 143), POLICY_DENY);
  CHECK_EQ_STR(reason, "mail.school.example:143 is not on the allow-list");
  CHECK_EQ_INT(prep(p, "school.example", 25), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "xmail.school.example", 25), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "mail.school.example.evil", 25), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "www.example.org", 1), POLICY_RESOLVE);
  CHECK_EQ_INT(prep(p, "www.example.org", 65535), POLICY_RESOLVE);
  CHECK_EQ_INT(prep(p, "other.example", 80), POLICY_DENY);
  CHECK_EQ_STR(reason, "other.example:80 is not on the allow-list");
  /* Not names at all. */
  CHECK_EQ_INT(prep(p, "bad host", 80), POLICY_DENY);
  CHECK(strstr(reason, "not a valid host name") != NULL);
  CHECK_EQ_INT(prep(p, "mail.school.example:25", 25), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "127.1", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "[10.0.0.1]", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "[::1", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, NULL, 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "fe80::1%eth0", 80), POLICY_DENY);

  /* Resolved addresses: public passes for the named host and port; a
   * private or loopback answer is refused (DNS pointing inward). */
  CHECK_EQ_INT(check_addr(p, "mail.school.example", "192.0.2.25", 25), 0);
  CHECK_EQ_INT(check_addr(p, "MAIL.school.example.", "2001:db8::25", 110), 0);
  CHECK_EQ_INT(check_addr(p, "mail.school.example", "192.0.2.25", 143), -1);
  CHECK_EQ_STR(reason, "mail.school.example:143 (192.0.2.25) is not on the allow-list");
  CHECK_EQ_INT(check_addr(p, "mail.school.example", "10.0.0.25", 25), -1);
  CHECK_EQ_STR(reason,
               "mail.school.example (10.0.0.25) is in a private range (10.0.0.0/8) and no --allow "
               "rule names it");
  CHECK_EQ_INT(check_addr(p, "mail.school.example", "127.0.0.1", 25), -1);
  CHECK_EQ_INT(check_addr(p, "mail.school.example", "::ffff:127.0.0.1", 25), -1);
  CHECK_EQ_INT(check_addr(p, "mail.school.example", "::1", 25), -1);
  CHECK_EQ_INT(check_addr(p, "mail.school.example", "169.254.169.254", 25), -1);
  CHECK_EQ_INT(check_addr(p, "other.example", "192.0.2.25", 25), -1);
  CHECK_EQ_INT(check_addr(p, NULL, "192.0.2.25", 25), -1);
  policy_free(p);

  /* A name that points inward passes only if an address rule also names it. */
  p = policy_new();
  CHECK_EQ_INT(add(p, "intranet.school.example:80"), 0);
  CHECK_EQ_INT(add(p, "10.5.0.0/16:80"), 0);
  CHECK_EQ_INT(check_addr(p, "intranet.school.example", "10.5.1.1", 80), 0);
  CHECK_EQ_INT(check_addr(p, "intranet.school.example", "10.6.1.1", 80), -1);
  /* A host rule for "localhost" never opens loopback. */
  CHECK_EQ_INT(add(p, "localhost:25"), 0);
  CHECK_EQ_INT(prep(p, "localhost", 25), POLICY_RESOLVE);
  CHECK_EQ_INT(check_addr(p, "localhost", "127.0.0.1", 25), -1);
  CHECK_EQ_INT(check_addr(p, "localhost", "::1", 25), -1);
  policy_free(p);
}

static void test_portal_port(void) {
  struct policy *p = policy_new();
  struct sockaddr_in local;
  CHECK_EQ_INT(add(p, "127.0.0.1"), 0);
  CHECK_EQ_INT(add(p, "127.0.0.0/8"), 0);
  CHECK_EQ_INT(add(p, "[::1]"), 0);
  CHECK_EQ_INT(add(p, "[::]"), 0);
  CHECK_EQ_INT(add(p, "0.0.0.0/8"), 0);
  CHECK_EQ_INT(add(p, "0.0.0.0/0"), 0);
  CHECK_EQ_INT(add(p, "192.0.2.0/24"), 0);
  policy_set_portal_port(p, 8080);

  CHECK_EQ_INT(prep(p, "127.0.0.1", 8081), POLICY_READY);
  CHECK_EQ_INT(prep(p, "127.0.0.1", 8080), POLICY_DENY);
  CHECK(strstr(reason, "portal") != NULL);
  CHECK_EQ_INT(prep(p, "127.0.0.2", 8080), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "::1", 8080), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "::", 8080), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "::ffff:127.0.0.1", 8080), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "0.0.0.0", 8080), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "0.0.0.0", 8079), POLICY_READY);

  /* An interface address of this machine: until it is known, 192.0.2.0/24
   * opens it; once known, only a rule naming that address would. */
  CHECK_EQ_INT(prep(p, "192.0.2.10", 8080), POLICY_READY);
  memset(&local, 0, sizeof local);
  local.sin_family = AF_INET;
  inet_pton(AF_INET, "192.0.2.10", &local.sin_addr);
  policy_add_local_addr(p, (struct sockaddr *)&local);
  policy_add_local_addr(p, (struct sockaddr *)&local); /* duplicate is harmless */
  CHECK_EQ_INT(prep(p, "192.0.2.10", 8080), POLICY_DENY);
  CHECK(strstr(reason, "portal") != NULL);
  CHECK_EQ_INT(prep(p, "::ffff:192.0.2.10", 8080), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "192.0.2.10", 8081), POLICY_DENY);
  CHECK_EQ_STR(reason,
               "192.0.2.10 is an address of this host (192.0.2.10/32) and no --allow rule names "
               "it");
  CHECK_EQ_INT(prep(p, "192.0.2.11", 8080), POLICY_READY);
  CHECK_EQ_INT(check_addr(p, "a.example", "192.0.2.10", 8080), -1);
  CHECK_EQ_INT(add(p, "192.0.2.10:8081"), 0);
  CHECK_EQ_INT(prep(p, "192.0.2.10", 8081), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_INT(prep(p, "192.0.2.10", 8080), POLICY_DENY);

  /* The lab address counts as local. */
  CHECK_EQ_INT(policy_set_lab(p, "192.0.2.50", 10000, 30000, 30099), 0);
  CHECK_EQ_INT(prep(p, "192.0.2.50", 8080), POLICY_DENY);

  /* The system's own addresses: loopback is always among them. */
  policy_set_local_source(p, policy_system_local_addrs, NULL);
  CHECK_EQ_INT(prep(p, "127.0.0.1", 8080), POLICY_DENY);
  policy_free(p);

  /* Base 0 maps lab HTTP onto 80; if the portal listens there, lab:80 is
   * the portal and is refused. */
  p = policy_new();
  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", 0, 30000, 30099), 0);
  policy_set_portal_port(p, 80);
  CHECK_EQ_INT(prep(p, "lab", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "lab", 25), POLICY_READY);
  policy_free(p);
}

static void test_lab(void) {
  static const int wk[] = {21, 22, 23, 25, 43, 53, 79, 80, 110, 143};
  struct policy *p = policy_new();
  size_t i;

  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", 10000, 30000, 30099), 0);
  for (i = 0; i < sizeof wk / sizeof wk[0]; i++) {
    CHECK_EQ_INT(policy_lab_port(p, wk[i]), 10000 + wk[i]);
    CHECK_EQ_INT(prep(p, "lab", wk[i]), POLICY_READY);
    CHECK_EQ_INT(tgt.is_lab, 1);
    CHECK_EQ_INT(tgt.port, wk[i]);
    CHECK_EQ_INT(port_of(&tgt), 10000 + wk[i]);
    CHECK_EQ_STR(addr_of(&tgt), "127.0.0.1");
  }
  CHECK_EQ_INT(prep(p, "LAB", 25), POLICY_READY);
  CHECK_EQ_STR(tgt.host, "lab");
  CHECK_EQ_INT(prep(p, "Lab", 25), POLICY_READY);
  /* Passive range edges map to themselves. */
  CHECK_EQ_INT(policy_lab_port(p, 30000), 30000);
  CHECK_EQ_INT(policy_lab_port(p, 30099), 30099);
  CHECK_EQ_INT(policy_lab_port(p, 29999), -1);
  CHECK_EQ_INT(policy_lab_port(p, 30100), -1);
  CHECK_EQ_INT(prep(p, "lab", 30000), POLICY_READY);
  CHECK_EQ_INT(port_of(&tgt), 30000);
  CHECK_EQ_INT(prep(p, "lab", 30099), POLICY_READY);
  CHECK_EQ_INT(prep(p, "lab", 29999), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "lab", 30100), POLICY_DENY);
  /* Other lab ports, including the mapped ones typed directly. */
  CHECK_EQ_INT(policy_lab_port(p, 24), -1);
  CHECK_EQ_INT(policy_lab_port(p, 10025), -1);
  CHECK_EQ_INT(prep(p, "lab", 24), POLICY_DENY);
  CHECK_EQ_STR(reason,
               "lab:24 is not a lab service; the lab offers ports 21, 22, 23, 25, 43, 53, 79, 80, "
               "110, 143, with TLS 443, 465, 587, 990, 993, 995 and 30000-30099 (FTP passive)");
  /* The TLS ports are lab services too. */
  CHECK_EQ_INT(policy_lab_port(p, 993), 10993);
  CHECK_EQ_INT(policy_lab_port(p, 587), 10587);
  CHECK_EQ_INT(prep(p, "lab", 10025), POLICY_DENY);
  /* The lab's real ports on loopback are not open without a rule. */
  CHECK_EQ_INT(prep(p, "127.0.0.1", 10025), POLICY_DENY);

  /* Base 0: the real ports. */
  CHECK_EQ_INT(policy_set_lab(p, "::1", 0, 40000, 40000), 0);
  CHECK_EQ_INT(policy_lab_port(p, 25), 25);
  CHECK_EQ_INT(policy_lab_port(p, 143), 143);
  CHECK_EQ_INT(policy_lab_port(p, 40000), 40000);
  CHECK_EQ_INT(policy_lab_port(p, 40001), -1);
  CHECK_EQ_INT(prep(p, "lab", 143), POLICY_READY);
  CHECK_EQ_INT(tgt.addr.ss_family, AF_INET6);
  CHECK_EQ_STR(addr_of(&tgt), "::1");
  CHECK_EQ_INT(port_of(&tgt), 143);

  /* Bad lab settings are refused and leave the old ones in place. */
  CHECK_EQ_INT(policy_set_lab(p, "lab.example", 0, 1, 2), -1);
  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", -1, 1, 2), -1);
  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", 65535, 1, 2), -1);
  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", 0, 50, 40), -1);
  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", 0, 0, 40), -1);
  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", 0, 1, 65536), -1);
  CHECK_EQ_INT(policy_lab_port(p, 40000), 40000);
  policy_free(p);

  /* Defaults are the documented ones (README.md): base 10000, passive 30000-30099. */
  p = policy_new();
  CHECK_EQ_INT(policy_lab_port(p, 25), 10025);
  CHECK_EQ_INT(policy_lab_port(p, 30050), 30050);
  policy_free(p);
  policy_free(NULL);
}

/* A fake list of this host's addresses: the seam policy_set_local_source
 * gives tests. fake_fail makes the next listings fail. */
static const char *fake_addrs[8];
static int fake_fail, fake_calls;

static int fake_source(struct policy *p, void *arg) {
  fake_calls++;
  if (fake_fail) return -1;
  for (size_t i = 0; i < sizeof fake_addrs / sizeof fake_addrs[0] && fake_addrs[i]; i++) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (strchr(fake_addrs[i], ':')) {
      struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
      s6->sin6_family = AF_INET6;
      inet_pton(AF_INET6, fake_addrs[i], &s6->sin6_addr);
    } else {
      struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
      s4->sin_family = AF_INET;
      inet_pton(AF_INET, fake_addrs[i], &s4->sin_addr);
    }
    policy_local_found(p, (struct sockaddr *)&ss);
  }
  return 0;
}

static void fake_set(const char *a, const char *b, const char *c) {
  memset(fake_addrs, 0, sizeof fake_addrs);
  fake_addrs[0] = a;
  fake_addrs[1] = b;
  fake_addrs[2] = c;
}

/* Every address of this host is this host: a broad rule never opens it,
 * a rule naming it does, and then the lab's ports there are the lab. */
static void test_this_host(void) {
  struct policy *p = policy_new();
  int calls;

  fake_fail = 0;
  fake_set("203.0.113.5", "2001:db8::5", "10.1.1.5");
  CHECK_EQ_INT(policy_set_lab(p, "0.0.0.0", 10000, 30000, 30099), 0);
  policy_set_portal_port(p, 8080);
  policy_set_local_source(p, fake_source, NULL);
  CHECK_EQ_INT(add(p, "0.0.0.0/0:1-65535"), 0);
  CHECK_EQ_INT(add(p, "::/0"), 0);
  CHECK_EQ_INT(add(p, "10.0.0.0/8"), 0);

  /* The hole of issue 7: the interface address through a broad rule. */
  CHECK_EQ_INT(prep(p, "203.0.113.5", 10021), POLICY_DENY);
  CHECK_EQ_STR(reason,
               "203.0.113.5 is an address of this host (203.0.113.5/32) and no --allow rule names "
               "it");
  CHECK_EQ_INT(prep(p, "203.0.113.5", 30000), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "203.0.113.5", 22), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "::ffff:203.0.113.5", 10021), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "2001:db8::5", 10021), POLICY_DENY);
  CHECK(strstr(reason, "2001:db8::5/128") != NULL);
  CHECK_EQ_INT(prep(p, "10.1.1.5", 80), POLICY_DENY); /* 10/8 is named, the host is not */
  CHECK(strstr(reason, "this host") != NULL);
  CHECK_EQ_INT(check_addr(p, "x.example", "203.0.113.5", 80), -1);
  /* Its neighbours are not this host. */
  CHECK_EQ_INT(prep(p, "203.0.113.4", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_INT(prep(p, "203.0.113.6", 10021), POLICY_READY);
  CHECK_EQ_INT(prep(p, "2001:db8::6", 10021), POLICY_READY);
  CHECK_EQ_INT(prep(p, "10.1.1.6", 80), POLICY_READY);

  /* The list is asked for again on every check: addresses change. */
  calls = fake_calls;
  fake_set("198.51.100.9", NULL, NULL);
  CHECK_EQ_INT(prep(p, "203.0.113.5", 10021), POLICY_READY);
  CHECK_EQ_INT(fake_calls, calls + 1);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 10021), POLICY_DENY);
  CHECK_EQ_INT(check_addr(p, "x.example", "198.51.100.9", 80), -1);
  CHECK_EQ_INT(fake_calls, calls + 3);
  /* A failed listing keeps the last good one. */
  fake_fail = 1;
  CHECK_EQ_INT(prep(p, "198.51.100.9", 10021), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "203.0.113.5", 10021), POLICY_READY);
  fake_fail = 0;

  /* Named, the address opens; the lab's ports there are the lab, reached
   * as lab:N is, and the portal stays shut. */
  CHECK_EQ_INT(add(p, "198.51.100.9"), 0);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_INT(tgt.port, 10021);
  CHECK_EQ_STR(addr_of(&tgt), "0.0.0.0");
  CHECK_EQ_INT(port_of(&tgt), 10021);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 10143), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 30000), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 30099), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 30100), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 29999), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 10024), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_STR(addr_of(&tgt), "198.51.100.9");
  CHECK_EQ_INT(prep(p, "::ffff:198.51.100.9", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 8080), POLICY_DENY);
  CHECK(strstr(reason, "portal") != NULL);
  /* A resolved name never becomes the lab: refused, with the way in. */
  CHECK_EQ_INT(add(p, "me.school.example"), 0);
  CHECK_EQ_INT(check_addr(p, "me.school.example", "198.51.100.9", 10021), -1);
  CHECK(strstr(reason, "lab") != NULL);
  CHECK_EQ_INT(check_addr(p, "me.school.example", "198.51.100.9", 10024), 0);
  /* Loopback is this host too, and the same rule holds for it. */
  CHECK_EQ_INT(add(p, "127.0.0.0/8"), 0);
  CHECK_EQ_INT(prep(p, "127.0.0.2", 10025), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);

  /* A lab on one address is the lab only there. */
  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", 10000, 30000, 30099), 0);
  CHECK_EQ_INT(prep(p, "127.0.0.1", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_STR(addr_of(&tgt), "127.0.0.1");
  CHECK_EQ_INT(prep(p, "127.0.0.2", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_INT(prep(p, "198.51.100.9", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_INT(check_addr(p, "me.school.example", "198.51.100.9", 10021), 0);

  /* :: listens on both families; 0.0.0.0 on IPv4 only. */
  fake_set("198.51.100.9", "2001:db8::5", NULL);
  CHECK_EQ_INT(add(p, "[2001:db8::5]"), 0);
  CHECK_EQ_INT(policy_set_lab(p, "::", 10000, 30000, 30099), 0);
  CHECK_EQ_INT(prep(p, "2001:db8::5", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_STR(addr_of(&tgt), "::");
  CHECK_EQ_INT(prep(p, "198.51.100.9", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_INT(policy_set_lab(p, "0.0.0.0", 10000, 30000, 30099), 0);
  CHECK_EQ_INT(prep(p, "2001:db8::5", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  policy_free(p);
}

/* A connect to 0.0.0.0 or :: reaches loopback: once a rule opens it, a lab
 * port there is the lab, reached as lab:N is, so the lab servers know the
 * student; anything else there goes where the kernel takes it. */
static void test_unspecified(void) {
  struct policy *p = policy_new();
  CHECK_EQ_INT(policy_set_lab(p, "127.0.0.1", 10000, 30000, 30099), 0);
  policy_set_portal_port(p, 8080);
  CHECK_EQ_INT(prep(p, "0.0.0.0", 10025), POLICY_DENY); /* shut until named */
  CHECK(strstr(reason, "this-network") != NULL);
  CHECK_EQ_INT(add(p, "0.0.0.0"), 0);
  CHECK_EQ_INT(add(p, "[::]"), 0);
  CHECK_EQ_INT(prep(p, "0.0.0.0", 10025), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_STR(addr_of(&tgt), "127.0.0.1");
  CHECK_EQ_INT(port_of(&tgt), 10025);
  CHECK_EQ_INT(prep(p, "0.0.0.0", 30000), POLICY_READY); /* FTP passive */
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_INT(prep(p, "::ffff:0.0.0.0", 10021), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_STR(addr_of(&tgt), "127.0.0.1");
  CHECK_EQ_INT(prep(p, "0.0.0.0", 10024), POLICY_READY); /* not a lab port */
  CHECK_EQ_INT(tgt.is_lab, 0);
  CHECK_EQ_STR(addr_of(&tgt), "0.0.0.0");
  CHECK_EQ_INT(prep(p, "0.0.0.0", 8080), POLICY_DENY);
  CHECK(strstr(reason, "portal") != NULL);
  /* A name that resolves there is refused with the way in. */
  CHECK_EQ_INT(add(p, "zero.example"), 0);
  CHECK_EQ_INT(check_addr(p, "zero.example", "0.0.0.0", 10025), -1);
  CHECK(strstr(reason, "open it as lab") != NULL);
  /* :: reaches ::1, where a lab on 127.0.0.1 does not listen ... */
  CHECK_EQ_INT(prep(p, "::", 10025), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  /* ... and a lab on ::1 does. */
  CHECK_EQ_INT(policy_set_lab(p, "::1", 10000, 30000, 30099), 0);
  CHECK_EQ_INT(prep(p, "::", 10025), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_STR(addr_of(&tgt), "::1");
  CHECK_EQ_INT(prep(p, "0.0.0.0", 10025), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  /* A lab bound to every address is there for both spellings. */
  CHECK_EQ_INT(policy_set_lab(p, "::", 10000, 30000, 30099), 0);
  CHECK_EQ_INT(prep(p, "0.0.0.0", 10025), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  CHECK_EQ_INT(prep(p, "::", 10025), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 1);
  /* A lab on a LAN address only is not on loopback. */
  CHECK_EQ_INT(policy_set_lab(p, "192.0.2.50", 10000, 30000, 30099), 0);
  CHECK_EQ_INT(prep(p, "0.0.0.0", 10025), POLICY_READY);
  CHECK_EQ_INT(tgt.is_lab, 0);
  policy_free(p);
}

/* One IPv6 address checked in the current policy: the kind, and (when
 * denied) whether the reason mentions want. */
static void embed_case(struct policy *p, const char *addr, int want_kind, const char *want) {
  int k = prep(p, addr, 80);
  if (k != want_kind || (want && !strstr(reason, want)))
    fprintf(stderr, "  %s: kind %d, reason '%s'\n", addr, k, reason);
  CHECK_EQ_INT(k, want_kind);
  if (want) CHECK(strstr(reason, want) != NULL);
  CHECK_EQ_INT(check_addr(p, "x.example", addr, 80), want_kind == POLICY_READY ? 0 : -1);
}

/* The IPv6 prefixes that carry an IPv4 address, at their edges. */
static void test_embedded_ipv4(void) {
  struct policy *p = policy_new();
  CHECK_EQ_INT(add(p, "0.0.0.0/0"), 0);
  CHECK_EQ_INT(add(p, "::/0"), 0);
  CHECK_EQ_INT(add(p, "x.example"), 0);

  /* NAT64, 64:ff9b::/96 (RFC 6052): first and last address, neighbours. */
  embed_case(p, "64:ff9b::", POLICY_DENY, "0.0.0.0");
  embed_case(p, "64:ff9b::ffff:ffff", POLICY_DENY, "255.255.255.255");
  embed_case(p, "64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", POLICY_READY, NULL);
  embed_case(p, "64:ff9b::1:0:0", POLICY_READY, NULL);
  embed_case(p, "64:ff9b::127.0.0.1", POLICY_DENY, "127.0.0.1 is a loopback address");
  embed_case(p, "64:ff9b::10.0.0.1", POLICY_DENY, "10.0.0.0/8");
  embed_case(p, "64:ff9b::192.0.2.1", POLICY_DENY, "is a NAT64 address (RFC 6052) (64:ff9b::/96)");
  /* Local-use NAT64, 64:ff9b:1::/48 (RFC 8215). */
  embed_case(p, "64:ff9b:1::", POLICY_DENY, "64:ff9b:1::/48");
  embed_case(p, "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", POLICY_DENY, "64:ff9b:1::/48");
  embed_case(p, "64:ff9b:0:ffff:ffff:ffff:ffff:ffff", POLICY_READY, NULL);
  embed_case(p, "64:ff9b:2::", POLICY_READY, NULL);
  /* 6to4, 2002::/16: the IPv4 address follows the prefix. */
  embed_case(p, "2002::", POLICY_DENY, "0.0.0.0");
  embed_case(p, "2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", POLICY_DENY, "255.255.255.255");
  embed_case(p, "2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", POLICY_READY, NULL);
  embed_case(p, "2003::", POLICY_READY, NULL);
  embed_case(p, "2002:7f00:1::1", POLICY_DENY, "127.0.0.1");
  embed_case(p, "2002:c000:201::1", POLICY_DENY, "6to4");
  /* Teredo, 2001::/32: the server's address, and the client's inverted. */
  embed_case(p, "2001::", POLICY_DENY, "0.0.0.0");
  embed_case(p, "2001:0:ffff:ffff:ffff:ffff:ffff:ffff", POLICY_DENY, "255.255.255.255");
  embed_case(p, "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", POLICY_READY, NULL);
  embed_case(p, "2001:1::", POLICY_READY, NULL);
  embed_case(p, "2001:0:7f00:1::", POLICY_DENY, "127.0.0.1");            /* server */
  embed_case(p, "2001:0:c000:201::80ff:fffe", POLICY_DENY, "127.0.0.1"); /* client */
  embed_case(p, "2001:0:c000:201::3fff:fdf6", POLICY_DENY, "Teredo");
  /* IPv4-translated, ::ffff:0:0:0/96 (RFC 2765). */
  embed_case(p, "::ffff:0:0:0", POLICY_DENY, "0.0.0.0");
  embed_case(p, "::ffff:0:ffff:ffff", POLICY_DENY, "255.255.255.255");
  embed_case(p, "::fffe:ffff:ffff:ffff", POLICY_READY, NULL);
  embed_case(p, "::ffff:1:0:0", POLICY_READY, NULL);
  embed_case(p, "::ffff:0:127.0.0.1", POLICY_DENY, "127.0.0.1");
  embed_case(p, "::ffff:0:192.0.2.1", POLICY_DENY, "IPv4-translated");
  policy_free(p);

  /* Named explicitly, a prefix opens, but only for an embedded address
   * the IPv4 policy allows on that port; the local-use prefix never. */
  p = policy_new();
  CHECK_EQ_INT(add(p, "192.0.2.0/24:80"), 0);
  CHECK_EQ_INT(add(p, "[64:ff9b::/96]"), 0);
  CHECK_EQ_INT(add(p, "[64:ff9b:1::/48]"), 0);
  CHECK_EQ_INT(add(p, "[2002::/16]"), 0);
  CHECK_EQ_INT(add(p, "[2001::/32]"), 0);
  CHECK_EQ_INT(add(p, "[::ffff:0:0:0/96]"), 0);
  CHECK_EQ_INT(prep(p, "64:ff9b::192.0.2.1", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "64:ff9b::192.0.2.1", 81), POLICY_DENY);
  CHECK(strstr(reason, "192.0.2.1:81 is not on the allow-list") != NULL);
  CHECK_EQ_INT(prep(p, "64:ff9b::198.51.100.1", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "64:ff9b::127.0.0.1", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "64:ff9b:1::192.0.2.1", 80), POLICY_DENY);
  CHECK(strstr(reason, "no --allow rule can open") != NULL);
  CHECK_EQ_INT(prep(p, "2002:c000:201::1", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "2002:c633:6401::1", 80), POLICY_DENY); /* 198.51.100.1 */
  CHECK_EQ_INT(prep(p, "2001:0:c000:201::3fff:fdf6", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "2001:0:c000:201::80ff:fffe", 80), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "::ffff:0:192.0.2.1", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "::ffff:0:192.0.3.1", 80), POLICY_DENY);
  /* An embedded address of this host is this host. */
  fake_fail = 0;
  fake_set("192.0.2.2", NULL, NULL);
  policy_set_local_source(p, fake_source, NULL);
  CHECK_EQ_INT(prep(p, "64:ff9b::192.0.2.2", 80), POLICY_DENY);
  CHECK(strstr(reason, "this host") != NULL);
  policy_free(p);
}

/* Run-time rules (PUT /api/class) come after the --allow ones, replace
 * each other all or nothing, and never touch the fixed ones. */
/* RULE+insecure: the same rule, and policy_tls_insecure says so for
 * exactly the targets it matches. */
static struct sockaddr_storage sa_of(const char *addr) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (strchr(addr, ':')) {
    ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
    inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
  } else {
    ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr);
  }
  return ss;
}

static void test_insecure_rules(void) {
  struct policy *p = policy_new();
  char err[256];
  CHECK_EQ_INT(add(p, "192.0.2.7:993+insecure"), 0);
  CHECK_EQ_INT(add(p, "self-signed.example:995,8443-8444+insecure"), 0);
  CHECK_EQ_INT(add(p, "[2001:db8::/32]:443+insecure"), 0);
  CHECK_EQ_INT(add(p, "198.51.100.0/24:993"), 0);
  CHECK_EQ_INT(prep(p, "192.0.2.7", 993), POLICY_READY); /* still an allow rule */
  CHECK_EQ_STR(policy_rule_text(p, 0), "192.0.2.7:993+insecure");
  struct sockaddr_storage a = sa_of("192.0.2.7"), b = sa_of("198.51.100.9"),
                          c = sa_of("2001:db8::1"), d = sa_of("203.0.113.1");
  CHECK_EQ_INT(policy_tls_insecure(p, "192.0.2.7", (struct sockaddr *)&a, 993), 1);
  CHECK_EQ_INT(policy_tls_insecure(p, "192.0.2.7", (struct sockaddr *)&a, 995), 0);
  CHECK_EQ_INT(policy_tls_insecure(p, "198.51.100.9", (struct sockaddr *)&b, 993), 0);
  CHECK_EQ_INT(policy_tls_insecure(p, "2001:db8::1", (struct sockaddr *)&c, 443), 1);
  CHECK_EQ_INT(policy_tls_insecure(p, "Self-Signed.example", (struct sockaddr *)&d, 8444), 1);
  CHECK_EQ_INT(policy_tls_insecure(p, "self-signed.example", (struct sockaddr *)&d, 8445), 0);
  CHECK_EQ_INT(policy_tls_insecure(p, "other.example", (struct sockaddr *)&d, 995), 0);
  CHECK_EQ_INT(policy_add_rule(p, "192.0.2.8+secure", err, sizeof err), -1);
  CHECK(strstr(err, "the only suffix is '+insecure'") != NULL);
  CHECK_EQ_INT(policy_add_rule(p, "+insecure", err, sizeof err), -1);
  CHECK_EQ_INT(policy_add_rule(p, "192.0.2.8+insecure+insecure", err, sizeof err), -1);
  policy_free(p);
}

static void test_runtime_rules(void) {
  struct policy *p = policy_new();
  char err[256];
  const char *one[] = {"10.9.0.0/16:25", "192.0.2.7"};
  const char *bad[] = {"10.8.0.0/16:25", "300.1.1.1"};
  const char *other[] = {"10.7.0.1:80"};
  CHECK_EQ_INT(add(p, "10.1.2.0/24:21"), 0);
  CHECK_EQ_INT(policy_set_runtime_rules(p, one, 2, err, sizeof err), 0);
  CHECK_EQ_STR(policy_rule_text(p, 0), "10.1.2.0/24:21");
  CHECK_EQ_INT(policy_rule_fixed(p, 0), 1);
  CHECK_EQ_STR(policy_rule_text(p, 1), "10.9.0.0/16:25");
  CHECK_EQ_INT(policy_rule_fixed(p, 1), 0);
  CHECK_EQ_INT(policy_rule_fixed(p, 2), 0);
  CHECK(policy_rule_text(p, 3) == NULL);
  CHECK_EQ_INT(prep(p, "10.9.3.4", 25), POLICY_READY);
  CHECK_EQ_INT(prep(p, "10.1.2.3", 21), POLICY_READY);
  /* A flag rule added later still goes in front of the run-time ones. */
  CHECK_EQ_INT(add(p, "10.2.0.0/16:22"), 0);
  CHECK_EQ_INT(policy_rule_fixed(p, 1), 1);
  CHECK_EQ_STR(policy_rule_text(p, 2), "10.9.0.0/16:25");
  /* One bad rule: nothing changes, and err names it. */
  CHECK_EQ_INT(policy_set_runtime_rules(p, bad, 2, err, sizeof err), -1);
  CHECK(strstr(err, "300.1.1.1") != NULL);
  CHECK_EQ_INT(prep(p, "10.9.3.4", 25), POLICY_READY);
  CHECK_EQ_INT(prep(p, "10.8.3.4", 25), POLICY_DENY);
  /* Replaced: the old run-time rules are gone, the flags stay. */
  CHECK_EQ_INT(policy_set_runtime_rules(p, other, 1, err, sizeof err), 0);
  CHECK_EQ_INT(prep(p, "10.9.3.4", 25), POLICY_DENY);
  CHECK_EQ_INT(prep(p, "10.7.0.1", 80), POLICY_READY);
  CHECK_EQ_INT(prep(p, "10.2.9.9", 22), POLICY_READY);
  CHECK(policy_rule_text(p, 3) == NULL);
  CHECK_EQ_INT(policy_set_runtime_rules(p, NULL, 0, err, sizeof err), 0);
  CHECK(policy_rule_text(p, 2) == NULL);
  CHECK_EQ_INT(prep(p, "10.7.0.1", 80), POLICY_DENY);
  policy_free(p);
}

int main(void) {
  test_runtime_rules();
  test_insecure_rules();
  test_deny_classes();
  test_explicit_rules();
  test_ports();
  test_malformed_rules();
  test_hostname_rules();
  test_portal_port();
  test_lab();
  test_this_host();
  test_unspecified();
  test_embedded_ipv4();
  return check_done();
}
