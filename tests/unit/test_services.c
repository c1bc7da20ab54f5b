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
    /* A module is named after its cleartext service (log prefix), whose
     * port is the module's own; its other ports are rows of their own,
     * offered with --lab-tls-ports. */
    if (s->module && !s->tls_ports) {
      CHECK_EQ_STR(s->module->name, s->name);
      CHECK_EQ_INT(lab_module_port(s->module), s->port);
    }
    /* Implicit TLS is a port of its own, never the default one. */
    if (lab_service_is_tls(s)) CHECK(s->tls_ports);
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

/* Each module's own port has its cleartext row, so a module is never
 * started on a port the policy and the browser do not know, and every
 * other row of the module (what the framework opens) is a TLS-ports row. */
static void test_modules(void) {
  size_t modules = 0;

  for (size_t i = 0; i < lab_service_count; i++) {
    const struct lab_module *m = lab_services[i].module;
    const struct lab_service *own;
    size_t first = 0;
    if (!m) continue;
    while (lab_services[first].module != m) first++;
    if (first == i) modules++;
    own = lab_service_by_port(lab_module_port(m));
    CHECK(own != NULL);
    if (own) CHECK(own->module == m && !own->tls_ports && !lab_service_is_tls(own));
    if (&lab_services[i] != own) CHECK(lab_services[i].tls_ports);
  }
  CHECK(modules >= 5);
  /* The module's own port is its cleartext row, not its TLS rows. */
  CHECK_EQ_INT(lab_module_port(&lab_smtp), 25);
  CHECK_EQ_INT(lab_module_port(&lab_imap), 143);
  static const struct lab_module rowless = {.name = "rowless"};
  CHECK_EQ_INT(lab_module_port(&rowless), 0);
  CHECK_EQ_INT(lab_module_port(NULL), 0);
  CHECK(lab_service_by_port(80) && lab_service_by_port(80)->module == NULL); /* libmicrohttpd */
  CHECK_EQ_STR(lab_service_by_port(23)->mode, "telnet");
  /* The TLS ports are the modules' rows with mode tls. */
  CHECK(lab_service_by_port(465)->module == &lab_smtp &&
        lab_service_is_tls(lab_service_by_port(465)));
  CHECK(lab_service_by_port(587)->module == &lab_smtp &&
        !lab_service_is_tls(lab_service_by_port(587)));
  CHECK(lab_service_by_port(993)->module == &lab_imap &&
        lab_service_is_tls(lab_service_by_port(993)));
  CHECK(!lab_service_is_tls(lab_service_by_port(25)));
}

int main(void) {
  test_rows();
  test_modules();
  return check_done();
}
