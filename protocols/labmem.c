/* labmem.c -- the lab framework's memory backend: a connection with no network.
 *
 * Unit tests and fuzzers drive a module through lab_mem_*: they feed the
 * client's bytes, read what the module sent, and play the far end of the
 * FTP data channel. The simulated client reads everything at once, so
 * output never waits; the core under it is the same as for sockets.
 */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "labpriv.h"

/* What the simulated far ends have received: capped queues whose bytes
 * are kept NUL-terminated for the tests' string checks. */
struct lab_mem {
  struct buf out, data_out;
  int closed;
};

/* Appends all n bytes or, past the cap, none (as a real client that
 * stopped reading would see nothing more). A NUL is appended and dropped
 * again, so the byte after the unread ones is always a NUL. */
static void lab_sink_add(struct buf *s, const void *p, size_t n) {
  if (buf_len(s) + n + 1 > LIM_LAB_MEM_SINK_BYTES) return;
  if (buf_append(s, p, n) != 0) return; /* p may be NULL for an empty transfer */
  if (buf_append(s, "", 1) != 0) {
    buf_drop_tail(s, n);
    return;
  }
  buf_drop_tail(s, 1);
}

static void lab_sink_clear(struct buf *s) {
  buf_consume(s, buf_len(s));
}

static const char *lab_sink_get(const struct buf *s, size_t *len) {
  if (len) *len = buf_len(s);
  return buf_len(s) ? (const char *)buf_head(s) : "";
}

static struct lab_mem *lab_mem_of(struct lab_conn *c) {
  return c->be_priv;
}

/* The simulated client reads everything at once. */
static void lab_mem_be_flush(struct lab_conn *c) {
  struct lab_mem *mm = lab_mem_of(c);

  lab_sink_add(&mm->out, buf_head(&c->out), buf_len(&c->out));
  buf_consume(&c->out, buf_len(&c->out));
  if (c->closing) mm->closed = 1;
}

static void lab_mem_be_data_flush(struct lab_conn *c) {
  struct lab_mem *mm = lab_mem_of(c);

  lab_sink_add(&mm->data_out, buf_head(&c->data_out), buf_len(&c->data_out));
  if (!c->data_tls) lab_drec_bytes(c, DB_DIR_S2C, buf_head(&c->data_out), buf_len(&c->data_out));
  buf_consume(&c->data_out, buf_len(&c->data_out));
  lab_data_drained(c);
}

static int lab_mem_be_data_listen(struct lab_conn *c, int *port) {
  lab_sink_clear(&lab_mem_of(c)->data_out); /* a new channel's far end starts empty */
  /* The port a real listener would most likely get. */
  *port = c->ctx && c->ctx->pasv_lo > 0 ? c->ctx->pasv_lo : 50000;
  return 0;
}

static int lab_mem_be_data_connect(struct lab_conn *c, const char *addr, int port) {
  lab_sink_clear(&lab_mem_of(c)->data_out);
  return 0;
}

static void lab_mem_be_data_drop(struct lab_conn *c) {}

static const struct lab_backend lab_mem_backend = {
    lab_mem_be_flush,        lab_mem_be_data_flush, lab_mem_be_data_listen,
    lab_mem_be_data_connect, lab_mem_be_data_drop,
};

struct lab_conn *lab_mem_open(const struct lab_module *m, struct lab_ctx *ctx, const char *peer) {
  return lab_mem_open_port(m, ctx, peer, lab_module_port(m));
}

/* The row of the port, if it is this module's (test modules have none). */
static const struct lab_service *lab_mem_row(const struct lab_module *m, int port) {
  const struct lab_service *row = lab_service_by_port(port);
  return row && row->module == m ? row : NULL;
}

struct lab_conn *lab_mem_open_port(const struct lab_module *m, struct lab_ctx *ctx,
                                   const char *peer, int port) {
  struct lab_conn *c = lab_conn_new(m, &lab_mem_backend, ctx, peer, port, lab_mem_row(m, port));
  struct lab_mem *mm;

  if (!c) return NULL;
  mm = calloc(1, sizeof *mm);
  if (mm) {
    buf_init(&mm->out, LIM_LAB_MEM_SINK_BYTES);
    buf_init(&mm->data_out, LIM_LAB_MEM_SINK_BYTES);
  }
  c->be_priv = mm;
  if (!mm) {
    c->on_close_done = 1; /* on_accept never ran */
    lab_conn_free(c);
    return NULL;
  }
  lab_conn_accept(c);
  return c;
}

void lab_mem_set_peer_port(struct lab_conn *c, int port) {
  c->peer_port = port;
}

void lab_mem_feed(struct lab_conn *c, const void *p, size_t n) {
  lab_conn_wire_input(c, p, n, 0);
}

const char *lab_mem_output(struct lab_conn *c, size_t *len) {
  return lab_sink_get(&lab_mem_of(c)->out, len);
}

void lab_mem_clear(struct lab_conn *c) {
  struct lab_mem *mm = lab_mem_of(c);

  lab_sink_clear(&mm->out);
  lab_sink_clear(&mm->data_out);
}

int lab_mem_closed(struct lab_conn *c) {
  return lab_mem_of(c)->closed;
}

void lab_mem_timeout(struct lab_conn *c) {
  lab_conn_timeout(c);
}

void lab_mem_free(struct lab_conn *c) {
  struct lab_mem *mm;

  if (!c) return;
  mm = lab_mem_of(c);
  lab_conn_free(c);
  buf_free(&mm->out);
  buf_free(&mm->data_out);
  free(mm);
}

void lab_mem_data_connect(struct lab_conn *c, int ok) {
  lab_data_connected(c, ok);
}

const char *lab_mem_data_output(struct lab_conn *c, size_t *len) {
  return lab_sink_get(&lab_mem_of(c)->data_out, len);
}

void lab_mem_data_feed(struct lab_conn *c, const void *p, size_t n) {
  lab_data_input(c, p, n);
}

void lab_mem_data_eof(struct lab_conn *c) {
  lab_data_peer_closed(c);
}

int lab_mem_data_state(struct lab_conn *c) {
  return (int)c->data_state;
}
