/* resolver.c -- hostname lookups on worker threads.
 *
 * Requests and results are singly linked FIFO lists under one mutex. The
 * queue is bounded (LIM_RESOLVER_QUEUE requests) so a flood of
 * lookups cannot grow memory. Workers never touch lws except through
 * lws_cancel_service(), the one call lws allows from another thread.
 */
#include "resolver.h"

#include <libwebsockets.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct resolver_job {
  struct resolver_job *next;
  uint64_t key;
  char host[LIM_HOSTNAME_LEN + 1];
  struct resolver_result result;
};

struct resolver {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  struct resolver_job *todo_head, *todo_tail;
  struct resolver_job *done_head, *done_tail;
  unsigned queued;
  int stopping;
  int nthreads;
  pthread_t threads[8];
  struct lws_context *ctx;
};

static void push(struct resolver_job **head, struct resolver_job **tail, struct resolver_job *j) {
  j->next = NULL;
  if (*tail)
    (*tail)->next = j;
  else
    *head = j;
  *tail = j;
}

static struct resolver_job *pop(struct resolver_job **head, struct resolver_job **tail) {
  struct resolver_job *j = *head;
  if (j) {
    *head = j->next;
    if (!*head) *tail = NULL;
  }
  return j;
}

static void lookup(struct resolver_job *job) {
  struct resolver_result *res = &job->result;
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  res->key = job->key;
  res->error = getaddrinfo(job->host, NULL, &hints, &ai);
  if (res->error) {
    snprintf(res->errmsg, sizeof res->errmsg, "%s", gai_strerror(res->error));
    return;
  }
  for (struct addrinfo *p = ai; p && res->n < LIM_RESOLVE_ADDRS; p = p->ai_next) {
    if (p->ai_addrlen > sizeof res->addrs[0]) continue;
    memcpy(&res->addrs[res->n], p->ai_addr, p->ai_addrlen);
    res->lens[res->n++] = p->ai_addrlen;
  }
  freeaddrinfo(ai);
}

static void *worker(void *arg) {
  struct resolver *r = arg;
  pthread_mutex_lock(&r->lock);
  for (;;) {
    while (!r->todo_head && !r->stopping) pthread_cond_wait(&r->wake, &r->lock);
    if (r->stopping) break;
    struct resolver_job *job = pop(&r->todo_head, &r->todo_tail);
    pthread_mutex_unlock(&r->lock);
    lookup(job);
    pthread_mutex_lock(&r->lock);
    push(&r->done_head, &r->done_tail, job);
    lws_cancel_service(r->ctx);
  }
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

struct resolver *resolver_new(struct lws_context *ctx, int threads) {
  struct resolver *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->wake, NULL);
  r->ctx = ctx;
  if (threads > 8) threads = 8;
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&r->threads[i], NULL, worker, r) != 0) break;
    r->nthreads++;
  }
  if (r->nthreads == 0) {
    resolver_free(r);
    return NULL;
  }
  return r;
}

static void free_list(struct resolver_job *j) {
  while (j) {
    struct resolver_job *next = j->next;
    free(j);
    j = next;
  }
}

void resolver_free(struct resolver *r) {
  if (!r) return;
  pthread_mutex_lock(&r->lock);
  r->stopping = 1;
  pthread_cond_broadcast(&r->wake);
  pthread_mutex_unlock(&r->lock);
  for (int i = 0; i < r->nthreads; i++) pthread_join(r->threads[i], NULL);
  free_list(r->todo_head);
  free_list(r->done_head);
  pthread_cond_destroy(&r->wake);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

int resolver_submit(struct resolver *r, uint64_t key, const char *host) {
  if (strlen(host) > LIM_HOSTNAME_LEN) return -1;
  struct resolver_job *job = calloc(1, sizeof *job);
  if (!job) return -1;
  job->key = key;
  strcpy(job->host, host);
  pthread_mutex_lock(&r->lock);
  if (r->queued >= LIM_RESOLVER_QUEUE) {
    pthread_mutex_unlock(&r->lock);
    free(job);
    return -1;
  }
  r->queued++;
  push(&r->todo_head, &r->todo_tail, job);
  pthread_cond_signal(&r->wake);
  pthread_mutex_unlock(&r->lock);
  return 0;
}

int resolver_take(struct resolver *r, struct resolver_result *out) {
  pthread_mutex_lock(&r->lock);
  struct resolver_job *job = pop(&r->done_head, &r->done_tail);
  if (job) r->queued--;
  pthread_mutex_unlock(&r->lock);
  if (!job) return 0;
  *out = job->result;
  free(job);
  return 1;
}
