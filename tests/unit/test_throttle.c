/* test_throttle.c -- per-address login backoff, join rates, the bounded table. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "throttle.h"

#define SEC 1000000LL

static struct throttle_addr addr(const char *text) {
  struct throttle_addr a;
  memset(&a, 0, sizeof a);
  CHECK_EQ_INT(throttle_addr_parse(text, &a), 0);
  return a;
}

static struct throttle *make(int failures, int backoff, int backoff_max, size_t addrs) {
  struct throttle_params p = {failures, backoff, backoff_max, addrs};
  return throttle_new(&p);
}

/* n wrong answers are free; the next try waits; each further failure doubles the wait. */
static void test_backoff_edge(void) {
  struct throttle *t = make(10, 30, 900, 64);
  struct throttle_addr a = addr("192.0.2.7"), b = addr("192.0.2.8");
  int64_t now = 1000 * SEC;
  for (int i = 0; i < 9; i++) {
    CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now), 0);
    throttle_failed(t, &a, THROTTLE_TEACHER, now);
  }
  CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now), 0); /* the 10th try is allowed */
  throttle_failed(t, &a, THROTTLE_TEACHER, now);
  CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now), 30 * SEC); /* the 11th waits */
  /* Other addresses and other kinds are not touched. */
  CHECK_EQ_INT(throttle_wait_us(t, &b, THROTTLE_TEACHER, now), 0);
  CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_CLASS_CODE, now), 0);
  /* After the wait, one more try; wrong again: twice as long, then capped. */
  now += 30 * SEC;
  CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now), 0);
  throttle_failed(t, &a, THROTTLE_TEACHER, now);
  CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now), 60 * SEC);
  int64_t expect = 60 * SEC;
  for (int i = 0; i < 8; i++) {
    now += expect;
    throttle_failed(t, &a, THROTTLE_TEACHER, now);
    expect = expect * 2 > 900 * SEC ? 900 * SEC : expect * 2;
    CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now), expect);
  }
  CHECK_EQ_INT(expect, 900 * SEC);
  /* One second before the end it still waits; at the end it may try. */
  CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now + 899 * SEC), 1 * SEC);
  CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now + 900 * SEC), 0);
  /* Quiet for longer than backoff_max: forgotten, ten free tries again. */
  now += 901 * SEC;
  throttle_failed(t, &a, THROTTLE_TEACHER, now);
  CHECK_EQ_INT(throttle_wait_us(t, &a, THROTTLE_TEACHER, now), 0);
  /* A right answer forgets this address only. */
  throttle_failed(t, &b, THROTTLE_TEACHER, now);
  throttle_forget(t, &a, THROTTLE_TEACHER);
  CHECK_EQ_INT(throttle_count(t), 1);
  throttle_free(t);
}

/* An IPv6 /64 counts as one address; the next /64 is another. */
static void test_ipv6_group(void) {
  struct throttle *t = make(2, 10, 100, 64);
  struct throttle_addr a1 = addr("2001:db8:1:2::1"), a2 = addr("2001:db8:1:2:ffff:1:2:3");
  struct throttle_addr other = addr("2001:db8:1:3::1");
  throttle_failed(t, &a1, THROTTLE_REJOIN, 0);
  throttle_failed(t, &a2, THROTTLE_REJOIN, 0);
  CHECK_EQ_INT(throttle_wait_us(t, &a1, THROTTLE_REJOIN, 0), 10 * SEC);
  CHECK_EQ_INT(throttle_wait_us(t, &a2, THROTTLE_REJOIN, 0), 10 * SEC);
  CHECK_EQ_INT(throttle_wait_us(t, &other, THROTTLE_REJOIN, 0), 0);
  CHECK_EQ_INT(throttle_count(t), 1);
  /* IPv4 counts per address. */
  struct throttle_addr v4a = addr("198.51.100.1"), v4b = addr("198.51.100.2");
  throttle_failed(t, &v4a, THROTTLE_REJOIN, 0);
  throttle_failed(t, &v4a, THROTTLE_REJOIN, 0);
  CHECK(throttle_wait_us(t, &v4a, THROTTLE_REJOIN, 0) > 0);
  CHECK_EQ_INT(throttle_wait_us(t, &v4b, THROTTLE_REJOIN, 0), 0);
  throttle_free(t);
}

/* per_minute new names at once, the next waits one interval, then one per interval. */
static void test_rate_edge(void) {
  struct throttle *t = make(10, 30, 900, 64);
  struct throttle_addr a = addr("203.0.113.5"), b = addr("203.0.113.6");
  int64_t now = 5 * SEC;
  for (int i = 0; i < 60; i++) CHECK_EQ_INT(throttle_take(t, &a, THROTTLE_JOIN, 60, now), 0);
  CHECK_EQ_INT(throttle_take(t, &a, THROTTLE_JOIN, 60, now), 1 * SEC); /* the 61st */
  CHECK_EQ_INT(throttle_take(t, &b, THROTTLE_JOIN, 60, now), 0);
  CHECK_EQ_INT(throttle_take(t, &a, THROTTLE_JOIN, 60, now + SEC / 2), SEC / 2);
  CHECK_EQ_INT(throttle_take(t, &a, THROTTLE_JOIN, 60, now + SEC), 0);
  CHECK_EQ_INT(throttle_take(t, &a, THROTTLE_JOIN, 60, now + SEC), 1 * SEC);
  /* A full minute later the whole burst is back. */
  now += 2 * 60 * SEC;
  for (int i = 0; i < 60; i++) CHECK_EQ_INT(throttle_take(t, &a, THROTTLE_JOIN, 60, now), 0);
  CHECK(throttle_take(t, &a, THROTTLE_JOIN, 60, now) > 0);
  throttle_free(t);
}

/* The table holds at most addrs rows; a new address evicts the least
 * recently used row that makes nobody wait, before any that does. */
static void test_table_bound(void) {
  struct throttle *t = make(1, 100, 1000, 16);
  char text[32];
  struct throttle_addr blocked = addr("192.0.2.1");
  throttle_failed(t, &blocked, THROTTLE_TEACHER, 0); /* waits 100 s */
  for (int i = 0; i < 15; i++) {
    snprintf(text, sizeof text, "198.51.100.%d", i + 1);
    struct throttle_addr a = addr(text);
    CHECK_EQ_INT(throttle_take(t, &a, THROTTLE_JOIN, 60, (i + 1) * SEC), 0);
  }
  CHECK_EQ_INT(throttle_count(t), 16); /* n rows: all kept */
  struct throttle_addr extra = addr("203.0.113.200");
  CHECK_EQ_INT(throttle_take(t, &extra, THROTTLE_JOIN, 1, 200 * SEC), 0); /* n+1: one evicted */
  CHECK_EQ_INT(throttle_count(t), 16);
  /* By 200 s the blocked row's wait was over: it was the oldest idle row and went. */
  CHECK_EQ_INT(throttle_wait_us(t, &blocked, THROTTLE_TEACHER, 200 * SEC), 0);
  /* With a live wait, an idle row goes first. */
  throttle_failed(t, &blocked, THROTTLE_TEACHER, 300 * SEC);
  for (int i = 0; i < 40; i++) {
    snprintf(text, sizeof text, "2001:db8:%d::1", i + 1);
    struct throttle_addr a = addr(text);
    throttle_take(t, &a, THROTTLE_JOIN, 60, 301 * SEC);
  }
  CHECK_EQ_INT(throttle_count(t), 16);
  CHECK_EQ_INT(throttle_wait_us(t, &blocked, THROTTLE_TEACHER, 301 * SEC), 99 * SEC);
  throttle_free(t);
  throttle_free(NULL);
}

static void test_addresses(void) {
  struct throttle_addr a;
  struct throttle_net net;
  char text[64];
  CHECK_EQ_INT(throttle_addr_parse("not an address", &a), -1);
  CHECK_EQ_INT(throttle_addr_parse("127.0.0.1", &a), 0);
  CHECK(throttle_addr_is_loopback(&a));
  a = addr("127.200.3.4");
  CHECK(throttle_addr_is_loopback(&a));
  a = addr("::1");
  CHECK(throttle_addr_is_loopback(&a));
  a = addr("::ffff:127.0.0.1"); /* a dual-stack socket's view of 127.0.0.1 */
  CHECK(throttle_addr_is_loopback(&a));
  throttle_addr_text(&a, text, sizeof text);
  CHECK_EQ_STR(text, "127.0.0.1");
  a = addr("128.0.0.1");
  CHECK(!throttle_addr_is_loopback(&a));
  a = addr("::2");
  CHECK(!throttle_addr_is_loopback(&a));

  CHECK_EQ_INT(throttle_net_parse("127.0.0.1", &net), 0);
  a = addr("127.0.0.1");
  CHECK(throttle_net_contains(&net, &a));
  a = addr("127.0.0.2");
  CHECK(!throttle_net_contains(&net, &a));
  CHECK_EQ_INT(throttle_net_parse("10.1.0.0/15", &net), 0);
  a = addr("10.0.255.255");
  CHECK(throttle_net_contains(&net, &a));
  a = addr("10.2.0.0");
  CHECK(!throttle_net_contains(&net, &a));
  CHECK_EQ_INT(throttle_net_parse("0.0.0.0/0", &net), 0);
  a = addr("203.0.113.1");
  CHECK(throttle_net_contains(&net, &a));
  a = addr("2001:db8::1");
  CHECK(!throttle_net_contains(&net, &a)); /* an IPv4 net holds no IPv6 address */
  CHECK_EQ_INT(throttle_net_parse("2001:db8::/32", &net), 0);
  CHECK(throttle_net_contains(&net, &a));
  CHECK_EQ_INT(throttle_net_parse("10.0.0.0/33", &net), -1);
  CHECK_EQ_INT(throttle_net_parse("::/129", &net), -1);
  CHECK_EQ_INT(throttle_net_parse("10.0.0.0/", &net), -1);
  CHECK_EQ_INT(throttle_net_parse("10.0.0.0/8x", &net), -1);
  CHECK_EQ_INT(throttle_net_parse("/8", &net), -1);
  CHECK_EQ_INT(throttle_net_parse("lab.example/8", &net), -1);

  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(0xC0000207); /* 192.0.2.7 */
  CHECK_EQ_INT(throttle_addr_from_sockaddr((struct sockaddr *)&sin, sizeof sin, &a), 0);
  throttle_addr_text(&a, text, sizeof text);
  CHECK_EQ_STR(text, "192.0.2.7");
  CHECK_EQ_INT(throttle_addr_from_sockaddr((struct sockaddr *)&sin, 4, &a), -1);
}

/* The teacher's report lists each address with remembered wrong answers,
 * its kind, count and remaining wait; never join rates; at most max rows. */
struct report_seen {
  int rows, failures;
  int64_t wait_us;
  char addr[64], kind[24];
};

static void seen_row(void *arg, const struct throttle_report *r) {
  struct report_seen *s = arg;
  s->rows++;
  s->failures = r->failures;
  s->wait_us = r->wait_us;
  throttle_addr_text(&r->addr, s->addr, sizeof s->addr);
  snprintf(s->kind, sizeof s->kind, "%s", throttle_kind_name(r->kind));
}

static void test_report(void) {
  struct throttle *t = make(2, 30, 900, 64);
  struct throttle_addr a = addr("192.0.2.7"), b = addr("192.0.2.8");
  int64_t now = 1000 * SEC;
  struct report_seen s = {0};
  CHECK_EQ_INT(throttle_report(NULL, now, 10, seen_row, &s), 0);
  CHECK_EQ_INT(throttle_report(t, now, 10, seen_row, &s), 0);
  CHECK_EQ_INT(throttle_take(t, &a, THROTTLE_JOIN, 60, now), 0); /* a rate, never listed */
  CHECK_EQ_INT(throttle_report(t, now, 10, seen_row, &s), 0);
  for (int i = 0; i < 2; i++) throttle_failed(t, &a, THROTTLE_CLASS_CODE, now);
  CHECK_EQ_INT(throttle_report(t, now + 10 * SEC, 10, seen_row, &s), 1);
  CHECK_EQ_INT(s.rows, 1);
  CHECK_EQ_INT(s.failures, 2);
  CHECK_EQ_INT(s.wait_us, 20 * SEC);
  CHECK_EQ_STR(s.addr, "192.0.2.7");
  CHECK_EQ_STR(s.kind, "class_code");
  /* A second address counts in all, but max 1 shows only one row. */
  throttle_failed(t, &b, THROTTLE_TEACHER, now);
  s.rows = 0;
  CHECK_EQ_INT(throttle_report(t, now, 1, seen_row, &s), 2);
  CHECK_EQ_INT(s.rows, 1);
  /* Past backoff_max of quiet, an address is forgotten and not listed. */
  s.rows = 0;
  CHECK_EQ_INT(throttle_report(t, now + 900 * SEC, 10, seen_row, &s), 2);
  CHECK_EQ_INT(throttle_report(t, now + 901 * SEC, 10, seen_row, &s), 0);
  throttle_free(t);
}

int main(void) {
  test_backoff_edge();
  test_ipv6_group();
  test_rate_edge();
  test_table_bound();
  test_addresses();
  test_report();
  return check_done();
}
