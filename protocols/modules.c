/* modules.c -- the list of built-in line-protocol lab servers main starts.
 *
 * The one place a new lab server is switched on. Each entry gets its own
 * raw listening vhost on lab_bind at port base + its well-known port; the
 * HTTP lab server is not here because it runs on libmicrohttpd in its own
 * thread (protocols/httplab.c).
 */
#include "lab.h"

const struct lab_module *const lab_modules[] = {
    &lab_ftp, &lab_ssh,    &lab_telnet, &lab_smtp, &lab_whois,
    &lab_dns, &lab_finger, &lab_pop3,   &lab_imap,
};

const size_t lab_module_count = sizeof lab_modules / sizeof lab_modules[0];
