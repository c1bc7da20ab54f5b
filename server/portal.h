/* portal.h -- the lws context, the portal vhost and the relay client vhost. */
#ifndef PORTLAB_PORTAL_H
#define PORTLAB_PORTAL_H

#include <stddef.h>

struct app;

/* Creates the context and both vhosts. -1 with a one-line reason in err. */
int portal_start(struct app *app, char *err, size_t errlen);
void portal_stop(struct app *app); /* destroys the context */

#endif
