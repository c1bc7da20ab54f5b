/* whois.c -- the lab's WHOIS server: who holds a few lab names and addresses.
 *
 * Implements RFC 3912: the client sends one query line ended by CR LF, the
 * server answers with text and closes the connection, which marks the end
 * of the answer. The records are a handful of fixed lab names, in the
 * key: value layout registries use, so the port table lesson can send a
 * query by hand and see the whole protocol in one exchange. A query line
 * longer than LIM_WHOIS_LINE gets an error line and the connection ends.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lab.h"
#include "portlab_limits.h"
#include "text.h"

struct whois_record {
  const char *key; /* lower case */
  const char *text;
};

static const struct whois_record whois_records[] = {
    {"lab",
     "Domain Name: LAB\r\n"
     "Registry Domain ID: PORTLAB-0001\r\n"
     "Registrar: portlab classroom registry\r\n"
     "Creation Date: 2024-09-01T08:00:00Z\r\n"
     "Registrant Organization: portlab lab network\r\n"
     "Registrant Email: hostmaster@lab\r\n"
     "Name Server: NS.LAB\r\n"
     "DNSSEC: unsigned\r\n"},
    {"mail.lab",
     "Domain Name: MAIL.LAB\r\n"
     "Registrant Organization: portlab lab network\r\n"
     "Comment: the lab mail server: SMTP on 25, POP3 on 110, IMAP on 143\r\n"
     "Name Server: NS.LAB\r\n"},
    {"www.lab",
     "Domain Name: WWW.LAB\r\n"
     "Registrant Organization: portlab lab network\r\n"
     "Comment: the lab web server: HTTP on 80\r\n"
     "Name Server: NS.LAB\r\n"},
    {"127.0.0.1",
     "NetRange: 127.0.0.0 - 127.255.255.255\r\n"
     "CIDR: 127.0.0.0/8\r\n"
     "NetName: LOOPBACK\r\n"
     "Organization: Internet Assigned Numbers Authority (IANA)\r\n"
     "Comment: Reserved for loopback (RFC 1122 section 3.2.1.3): packets sent here\r\n"
     "Comment: never leave the machine. The lab lives here.\r\n"},
};

static void whois_line(struct lab_conn *c, void *s, char *line, size_t len, enum lab_line_end end) {
  char key[LIM_WHOIS_LINE];
  size_t i, n = 0;
  (void)s;
  (void)end;
  if (strlen(line) != len) {
    lab_printf(c, "%% The query holds a NUL byte.\r\n");
    lab_close(c);
    return;
  }
  while (*line == ' ' || *line == '\t') line++;
  for (i = 0; line[i] && n + 1 < sizeof key; i++) key[n++] = (char)tolower((unsigned char)line[i]);
  while (n && (key[n - 1] == ' ' || key[n - 1] == '\t' || key[n - 1] == '.')) n--;
  key[n] = '\0';

  lab_printf(c, "%% portlab lab WHOIS server (RFC 3912, TCP port 43)\r\n%%\r\n");
  const char *found = NULL;
  for (i = 0; i < sizeof whois_records / sizeof whois_records[0]; i++)
    if (strcmp(whois_records[i].key, key) == 0) found = whois_records[i].text;
  if (found) {
    lab_printf(c, "%s", found);
  } else {
    lab_printf(c, "No match for \"%s\".\r\n", text_printable(key) ? key : "?");
    lab_printf(c, "%% This server knows: lab, mail.lab, www.lab and 127.0.0.1.\r\n");
  }
  lab_printf(c, "%%\r\n%% The answer ends when the server closes the connection.\r\n");
  const char *kv[] = {"query", key, "found", found ? "yes" : "no", NULL};
  lab_event(c, NULL, "whois.query", kv);
  lab_close(c);
}

static void whois_overlong(struct lab_conn *c, void *s) {
  (void)s;
  lab_printf(c, "%% Query too long (at most %d bytes with CR LF).\r\n", LIM_WHOIS_LINE);
}

const struct lab_module lab_whois = {
    .name = "whois",
    .line_max = LIM_WHOIS_LINE,
    .on_line = whois_line,
    .on_overlong = whois_overlong,
};
