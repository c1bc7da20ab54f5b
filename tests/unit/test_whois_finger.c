/* test_whois_finger.c -- unit tests for the lab WHOIS and finger servers.
 *
 * protocols/whois.c and protocols/finger.c: one query, one answer, then
 * the server closes (RFC 3912, RFC 1288). Known and unknown names, case
 * and trailing spaces, finger's list, /W and refused forwarding, NUL
 * bytes, the line caps at their edge, and the events credited to the
 * student behind a relayed connection.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "lab.h"
#include "lab_session.h"
#include "labident.h"
#include "portlab_limits.h"
#include "progress.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PEER_PORT 52043

static struct lab_ctx ctx;
static int64_t alice_id;

/* One query on a fresh connection: the whole answer, and it must close. */
static const char *query(const struct lab_module *m, const char *line, size_t len) {
  struct lab_conn *c = lab_mem_open(m, &ctx, "127.0.0.1");
  lab_mem_set_peer_port(c, PEER_PORT);
  CHECK_EQ_STR(take(c), ""); /* the client speaks first */
  lab_mem_feed(c, line, len);
  take(c);
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
  return last_out;
}

#define Q(m, s) query(m, s, sizeof s - 1)

static int count_cb(void *arg, const char *attrs) {
  (*(int *)arg)++;
  (void)attrs;
  return 0;
}

static int events(const char *name) {
  int n = 0;
  CHECK(db_lab_event_find(ctx.db, alice_id, name, count_cb, &n) >= 0);
  return n;
}

static void test_whois(void) {
  Q(&lab_whois, "lab\r\n");
  CHECK(has("Domain Name: LAB\r\n"));
  CHECK(has("Name Server: NS.LAB"));
  CHECK(has("closes the connection"));
  Q(&lab_whois, "  MAIL.Lab.  \r\n");
  CHECK(has("Domain Name: MAIL.LAB"));
  Q(&lab_whois, "127.0.0.1\n");
  CHECK(has("CIDR: 127.0.0.0/8"));
  Q(&lab_whois, "example.com\r\n");
  CHECK(has("No match for \"example.com\"."));
  Q(&lab_whois, "bad\x01name\r\n");
  CHECK(has("No match for \"?\"."));
  Q(&lab_whois, "la\0b\r\n");
  CHECK(has("NUL"));
  CHECK(!has("No match"));
  CHECK_EQ_INT(events("whois.query"), 5);

  /* LIM_WHOIS_LINE with the CR LF: answered; one byte more: refused. */
  char line[LIM_WHOIS_LINE + 2];
  memset(line, 'w', sizeof line);
  memcpy(line + LIM_WHOIS_LINE - 2, "\r\n", 2);
  query(&lab_whois, line, LIM_WHOIS_LINE);
  CHECK(has("No match for"));
  memcpy(line + LIM_WHOIS_LINE - 2, "ww\r\n", 4);
  query(&lab_whois, line, LIM_WHOIS_LINE + 1);
  CHECK(has("Query too long"));
  CHECK(!has("No match"));
}

static void test_finger(void) {
  Q(&lab_finger, "\r\n");
  CHECK(has("Login"));
  CHECK(has("demo"));
  CHECK(has("postmaster"));
  CHECK(!has("alice")); /* never the class's students */
  Q(&lab_finger, "demo\r\n");
  CHECK(has("Login: demo"));
  CHECK(has("Plan:\r\n"));
  Q(&lab_finger, "/W Demo\r\n");
  CHECK(has("Login: demo"));
  Q(&lab_finger, "alice\r\n");
  CHECK(has("finger: alice: no such user."));
  Q(&lab_finger, "demo@example.com\r\n");
  CHECK(has("Finger forwarding service denied."));
  CHECK(!has("Login"));
  Q(&lab_finger, "de\0mo\r\n");
  CHECK(has("NUL"));
  CHECK_EQ_INT(events("finger.query"), 5);

  char line[LIM_FINGER_LINE + 2];
  memset(line, 'f', sizeof line);
  memcpy(line + LIM_FINGER_LINE - 2, "\r\n", 2);
  query(&lab_finger, line, LIM_FINGER_LINE);
  CHECK(has("no such user"));
  memcpy(line + LIM_FINGER_LINE - 2, "ff\r\n", 4);
  query(&lab_finger, line, LIM_FINGER_LINE + 1);
  CHECK(has("Query too long"));
}

int main(void) {
  alice_id = lab_fixture(&ctx, SECRET, "alice-pw");
  CHECK_EQ_INT(labident_add(PEER_PORT, alice_id, "198.51.100.7"), 0);
  test_whois();
  test_finger();
  labident_remove(PEER_PORT);
  db_close(ctx.db);
  return check_done();
}
