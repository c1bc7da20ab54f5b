/* finger.c -- the lab's finger server: who is on the lab machine.
 *
 * Implements the server side of RFC 1288: one query line ended by CR LF
 * ({Q1}: an empty line lists the users, a name describes one, "/W" asks
 * for the long form), the answer as text, then the server closes. {Q2}
 * queries ("user@host", forwarding to another host) are refused, as
 * section 3.2.1 recommends. The users are fixed lab characters, never the
 * class's students: finger once told anyone who was logged in where, which
 * is why the lesson meets it and why the Internet switched it off. A query
 * longer than LIM_FINGER_LINE gets an error line and the connection ends.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lab.h"
#include "portlab_limits.h"
#include "text.h"

struct finger_user {
  const char *login, *name, *tty, *since, *plan;
};

static const struct finger_user finger_users[] = {
    {"demo", "Demo Account", "pts/0", "Mon 08:00", "Read the mail lessons, then send me a letter."},
    {"postmaster", "Mail Administrator", "pts/1", "Mon 07:45",
     "Every mail domain must have me (RFC 5321 section 4.5.1)."},
};
#define FINGER_N (sizeof finger_users / sizeof finger_users[0])

static void finger_list(struct lab_conn *c) {
  lab_printf(c, "Login       Name                 Tty    Login Time\r\n");
  for (size_t i = 0; i < FINGER_N; i++)
    lab_printf(c, "%-11s %-20s %-6s %s\r\n", finger_users[i].login, finger_users[i].name,
               finger_users[i].tty, finger_users[i].since);
}

static void finger_one(struct lab_conn *c, const struct finger_user *u) {
  lab_printf(c, "Login: %-20s Name: %s\r\n", u->login, u->name);
  lab_printf(c, "Directory: /home/%-13s Shell: /bin/labsh\r\n", u->login);
  lab_printf(c, "On since %s on %s from the lab\r\n", u->since, u->tty);
  lab_printf(c, "Plan:\r\n%s\r\n", u->plan);
}

static void finger_line(struct lab_conn *c, void *s, char *line, size_t len,
                        enum lab_line_end end) {
  char who[LIM_FINGER_LINE];
  size_t i, n = 0;
  (void)s;
  (void)end;
  if (strlen(line) != len) {
    lab_printf(c, "The query holds a NUL byte.\r\n");
    lab_close(c);
    return;
  }
  while (*line == ' ') line++;
  if (strncasecmp(line, "/W", 2) == 0 && (line[2] == ' ' || line[2] == '\0')) line += 2;
  while (*line == ' ') line++;
  for (i = 0; line[i] && line[i] != ' ' && n + 1 < sizeof who; i++)
    who[n++] = (char)tolower((unsigned char)line[i]);
  who[n] = '\0';

  const char *result = "listed";
  if (strchr(who, '@')) {
    lab_printf(c, "Finger forwarding service denied.\r\n");
    result = "forwarding";
  } else if (n == 0) {
    finger_list(c);
  } else {
    const struct finger_user *u = NULL;
    for (i = 0; i < FINGER_N; i++)
      if (strcmp(finger_users[i].login, who) == 0) u = &finger_users[i];
    if (u) {
      finger_one(c, u);
      result = "found";
    } else {
      lab_printf(c, "finger: %s: no such user.\r\n", text_printable(who) ? who : "?");
      result = "unknown";
    }
  }
  const char *kv[] = {"user", who, "result", result, NULL};
  lab_event(c, NULL, "finger.query", kv);
  lab_close(c);
}

static void finger_overlong(struct lab_conn *c, void *s) {
  (void)s;
  lab_printf(c, "Query too long (at most %d bytes with CR LF).\r\n", LIM_FINGER_LINE);
}

const struct lab_module lab_finger = {
    .name = "finger",
    .line_max = LIM_FINGER_LINE,
    .on_line = finger_line,
    .on_overlong = finger_overlong,
};
