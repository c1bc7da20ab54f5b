/* resolver.h -- hostname lookups off the loop thread.
 *
 * lws 4.1 as Debian builds it has no asynchronous DNS: getaddrinfo() on
 * the service thread would freeze every session. Lookups run on worker
 * threads; results come back through a locked queue and a
 * lws_cancel_service() wake-up, and the loop collects them with
 * resolver_take() when LWS_CALLBACK_EVENT_WAIT_CANCELLED arrives.
 */
#ifndef PORTLAB_RESOLVER_H
#define PORTLAB_RESOLVER_H

#include <stdint.h>
#include <sys/socket.h>

#include "portlab_limits.h"

struct lws_context;
struct resolver;

struct resolver_result {
  uint64_t key; /* the caller's handle, returned as given */
  int error;    /* 0 or an EAI_* code */
  char errmsg[128];
  int n;
  struct sockaddr_storage addrs[LIM_RESOLVE_ADDRS];
  socklen_t lens[LIM_RESOLVE_ADDRS];
};

struct resolver *resolver_new(struct lws_context *ctx, int threads);
void resolver_free(struct resolver *r); /* stops and joins the workers; NULL is a no-op */
/* Queues a lookup. -1 if the queue is full or out of memory. */
int resolver_submit(struct resolver *r, uint64_t key, const char *host);
/* 1 and fills out if a result is ready, else 0. */
int resolver_take(struct resolver *r, struct resolver_result *out);

#endif
