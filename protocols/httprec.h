/* httprec.h -- the HTTP lab's own-client transcripts, written on the loop thread. */
#ifndef PORTLAB_HTTPREC_H
#define PORTLAB_HTTPREC_H

#include "httpwire.h"

struct lab_ctx;
struct httprec;

/* ctx (the loop's database, recorder and budgets) is borrowed. port: the
 * well-known port the transcripts name (80, 443); tls: the sessions run
 * TLS from the start (sessions.tls, the wire layer, the key log). NULL if
 * out of memory. */
struct httprec *httprec_new(struct lab_ctx *ctx, int port, int tls);
void httprec_free(struct httprec *hr); /* NULL is a no-op */
/* Records what the wire thread queued, in order (the loop thread only). */
void httprec_apply(struct httprec *hr, const struct httpwire_recs *list);

#endif
