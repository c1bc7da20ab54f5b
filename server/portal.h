/* portal.h -- the lws context, the portal vhost and the relay client vhost. */
#ifndef PORTLAB_PORTAL_H
#define PORTLAB_PORTAL_H

#include <stddef.h>

struct app;

/* Creates the context and both vhosts. -1 with a one-line reason in err. */
int portal_start(struct app *app, char *err, size_t errlen);
void portal_stop(struct app *app); /* destroys the context */
/* SIGHUP with --tls-cert: reads the certificate chain and key files again
 * and serves them to new connections (open ones keep theirs). A pair that
 * cannot be read or does not match is refused and the old one kept. 0, or
 * -1 with the reason in err. */
int portal_reload_cert(struct app *app, char *err, size_t errlen);

#endif
