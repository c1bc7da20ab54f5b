/* modules.c -- the lab services: the one table of what "lab" offers.
 *
 * One row per service: its name, the label people read, its well-known
 * port, how the browser talks to it, and the line-protocol module that
 * serves it. Everything that knows the lab's ports reads this table: the
 * relay policy (server/policy.c: which lab:N exist), the flag checks
 * (server/config.c: no lab port inside the passive range or on the
 * portal), GET /api/targets and so the browser's target list and "ports"
 * command, and the start-up (server/main.c hands the table to
 * lab_servers_start: one raw listening vhost per row with a module on
 * lab_bind at port base + the row's port; the banner, the port-in-use
 * probe).
 *
 * Adding a lab server: its module in a new protocols/NAME.c, its extern
 * in lab.h, and one row here, in port order; the image publishes its
 * port too (Dockerfile's EXPOSE and compose.yaml, which tests/deploy
 * checks against this table). The module's own port is
 * its first row offered without --lab-tls-ports (lab_module_port). The
 * framework (protocols/labsock.c) opens one listener per row with a
 * module, so a module serves more ports by more rows: mode "tls" speaks
 * TLS from the first byte (implicit TLS: 465, 993, 990, 995), and a row
 * with tls_ports set (those, and SMTP's 587) is opened, offered and
 * checked only with --lab-tls-ports on. A row with no module is served
 * elsewhere: HTTP runs on libmicrohttpd in its own thread
 * (protocols/httplab.c), started by main.
 */
#include <stddef.h>
#include <string.h>

#include "lab.h"

const struct lab_service lab_services[] = {
    {"ftp", "FTP", 21, "raw", &lab_ftp, 0},
    {"ssh", "SSH", 22, "raw", &lab_ssh, 0},
    {"telnet", "Telnet", 23, "telnet", &lab_telnet, 0},
    {"smtp", "SMTP", 25, "raw", &lab_smtp, 0},
    {"whois", "WHOIS", 43, "raw", &lab_whois, 0},
    {"dns", "DNS (TCP)", 53, "raw", &lab_dns, 0},
    {"finger", "finger", 79, "raw", &lab_finger, 0},
    {"http", "HTTP", 80, "raw", NULL, 0},
    {"pop3", "POP3", 110, "raw", &lab_pop3, 0},
    {"imap", "IMAP", 143, "raw", &lab_imap, 0},
    /* With --lab-tls-ports on: implicit TLS, and SMTP's submission port. */
    {"https", "HTTPS", 443, "tls", NULL, 1},
    {"smtps", "SMTPS", 465, "tls", &lab_smtp, 1},
    {"submission", "submission", 587, "raw", &lab_smtp, 1},
    {"ftps", "FTPS", 990, "tls", &lab_ftp, 1},
    {"imaps", "IMAPS", 993, "tls", &lab_imap, 1},
    {"pop3s", "POP3S", 995, "tls", &lab_pop3, 1},
};

const size_t lab_service_count = sizeof lab_services / sizeof lab_services[0];

const struct lab_service *lab_service_by_port(int port) {
  for (size_t i = 0; i < lab_service_count; i++)
    if (lab_services[i].port == port) return &lab_services[i];
  return NULL;
}

const struct lab_service *lab_service_by_name(const char *name) {
  for (size_t i = 0; name && i < lab_service_count; i++)
    if (strcmp(lab_services[i].name, name) == 0) return &lab_services[i];
  return NULL;
}

int lab_service_on(const struct lab_service *s, int tls_ports) {
  return !s->tls_ports || tls_ports;
}

int lab_service_max_port(int tls_ports) {
  int max = 0;
  for (size_t i = 0; i < lab_service_count; i++)
    if (lab_service_on(&lab_services[i], tls_ports) && lab_services[i].port > max)
      max = lab_services[i].port;
  return max;
}

int lab_module_port(const struct lab_module *m) {
  for (size_t i = 0; m && i < lab_service_count; i++)
    if (lab_services[i].module == m && !lab_services[i].tls_ports) return lab_services[i].port;
  return 0;
}

int lab_service_is_tls(const struct lab_service *s) {
  return strcmp(s->mode, "tls") == 0;
}
