/* test_services.c -- the one table of lab services (protocols/modules.c)
 * agrees with itself and with the modules it names. */
#include <string.h>

#include "check.h"
#include "lab.h"

static void test_rows(void) {
  CHECK(lab_service_count >= 6);
  for (size_t i = 0; i < lab_service_count; i++) {
    const struct lab_service *s = &lab_services[i];
    CHECK(s->name && s->name[0] && s->label && s->label[0]);
    CHECK(s->port >= 1 && s->port <= 1023);
    CHECK(strcmp(s->mode, "raw") == 0 || strcmp(s->mode, "telnet") == 0 ||
          strcmp(s->mode, "tls") == 0);
    /* In port order, no port or name twice: the refusal message and the
     * browser's list read it in this order. */
    if (i > 0) CHECK(lab_services[i - 1].port < s->port);
    CHECK(lab_service_by_port(s->port) == s);
    CHECK(lab_service_by_name(s->name) == s);
    /* A module is named after its service (log prefix, lws protocol);
     * its other ports are rows of their own, offered with --lab-tls-ports. */
    if (s->module && !s->tls_ports) CHECK_EQ_STR(s->module->name, s->name);
    if (s->module && s->tls_ports)
      CHECK(s->port == s->module->tls_port || s->port == s->module->extra_port);
    CHECK(lab_service_on(s, 1));
    CHECK_EQ_INT(lab_service_on(s, 0), !s->tls_ports);
  }
  CHECK(lab_service_by_port(22) == NULL || strcmp(lab_service_by_port(22)->name, "ssh") == 0);
  CHECK(lab_service_by_port(0) == NULL);
  CHECK(lab_service_by_name("nope") == NULL);
  CHECK(lab_service_by_name(NULL) == NULL);
  CHECK_EQ_INT(lab_service_max_port(1), lab_services[lab_service_count - 1].port);
  CHECK_EQ_INT(lab_service_max_port(0), 143); /* the highest cleartext port */
}

/* Each module's own port has its row, so a module is never started on a
 * port the policy and the browser do not know. */
static void test_modules(void) {
  const struct lab_module *m[64];
  size_t n = lab_service_modules(m, 64);

  CHECK(n >= 5 && n <= 64);
  for (size_t i = 0; i < n && i < 64; i++) {
    const struct lab_service *s = lab_service_by_port(m[i]->well_known_port);
    CHECK(s != NULL);
    if (s) CHECK(s->module == m[i] && !s->tls_ports);
    /* A module's TLS and second ports have their rows too. */
    if (m[i]->tls_port) {
      const struct lab_service *t = lab_service_by_port(m[i]->tls_port);
      CHECK(t && t->module == m[i] && t->tls_ports);
    }
    if (m[i]->extra_port) {
      const struct lab_service *x = lab_service_by_port(m[i]->extra_port);
      CHECK(x && x->module == m[i] && x->tls_ports);
    }
    for (size_t j = 0; j < i; j++) CHECK(m[j] != m[i]);
  }
  CHECK(lab_service_by_port(80) && lab_service_by_port(80)->module == NULL); /* libmicrohttpd */
  CHECK_EQ_STR(lab_service_by_port(23)->mode, "telnet");
  /* cap at its edge: n fit in n, and asking for fewer still counts all. */
  {
    const struct lab_module *few[1];
    CHECK_EQ_INT((int)lab_service_modules(few, 1), (int)n);
    CHECK(few[0] == m[0]);
  }
}

int main(void) {
  test_rows();
  test_modules();
  return check_done();
}
