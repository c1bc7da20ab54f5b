/* wsload.c -- a WebSocket load client and TCP test server for the relay benchmarks.
 *
 * Plain sockets and a minimal WebSocket framer (RFC 6455), so the client is
 * never what limits a figure: `make bench` also runs it against the
 * libwebsockets test server to show its own ceiling. Loopback only.
 *
 *   wsload serve PORT              TCP server: a connection's first line says
 *                                  what it is: "E\n" echo, "S n\n" send n bytes,
 *                                  "K n\n" swallow n bytes, then send "!"
 *   wsload pollrelay PORT TARGET   a plain poll() relay (a process per
 *                                  WebSocket, blocking writes): the ceiling
 *   wsload down|up|rtt|typing|idle [options]   the client, through a relay
 *   wsload mail --sessions N [options]   N SMTP then N IMAP sessions to
 *                                  portlab's lab servers (see run_mail)
 *
 * Relays (--relay): "portlab" (joins as bench-K students, opens a session to
 * the server per WebSocket), "websockify" and "pollrelay" (the target is
 * their fixed one),
 * "mirror" (the lws test server's lws-mirror-protocol: a message comes back;
 * only rtt), "direct" (plain TCP to the server, no WebSocket; rtt only).
 *
 * With --sync the client prints "ready" once its sessions are open and waits
 * for a line on stdin, then prints its result and waits for another line
 * before it closes anything: the bench driver samples the relay's CPU and
 * memory in between.
 *
 * Client frames carry a zero mask key: valid on the wire, and XOR with zero
 * lets the client skip the masking work.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wsframe.h"

#define WSLOAD_RBUF (256 * 1024)
#define WSLOAD_FRAME (64 * 1024)
#define WSLOAD_SESSIONS_PER_STUDENT 64

struct opts {
  const char *relay;
  const char *host;
  const char *target_host; /* portlab's "open": 127.0.0.1, or "lab" */
  int port;                /* the relay's (or, direct, the server's) */
  int target_port;         /* the TCP server's, for portlab's "open" */
  long long bytes;
  int frame;
  int n, size, sessions;
  double rate, seconds;
  int sync;
};

struct conn {
  int fd;
  unsigned char *rbuf;
  size_t rlen;
  int ws;              /* speaks WebSocket (else raw TCP) */
  int text_is_payload; /* the lws mirror echoes in text frames */
  unsigned char ping[125];
  size_t ping_len;
  struct wsframe_parser p;
  double sent_at;
  int waiting;
  double next_send;
  long long session_id; /* portlab's, from "opened" */
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "wsload: %s: %s\n", what, errno ? strerror(errno) : "failed");
  exit(1);
}

static int tcp_connect(const char *host, int port) {
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (fd < 0) die("socket");
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("address");
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) die("connect");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static void write_all(int fd, const void *p, size_t n) {
  const unsigned char *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) die("write");
    b += w;
    n -= (size_t)w;
  }
}

/* Reads an HTTP answer's head (up to the blank line) into out. */
static void read_head(int fd, char *out, size_t cap) {
  size_t len = 0;
  while (len + 1 < cap) {
    ssize_t r = read(fd, out + len, 1);
    if (r <= 0) die("read head");
    len++;
    out[len] = 0;
    if (len >= 4 && memcmp(out + len - 4, "\r\n\r\n", 4) == 0) return;
  }
  die("head too long");
}

/* POST /api/join as name; copies the session cookie into cookie and, if
 * labpass is given, the student's lab password (from the answer's body). */
static void portlab_join(const struct opts *o, const char *name, char *cookie, size_t cap,
                         char *labpass, size_t pcap) {
  char req[512], head[4096], body[128];
  int fd = tcp_connect(o->host, o->port);
  snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
  snprintf(req, sizeof req,
           "POST /api/join HTTP/1.1\r\nHost: %s:%d\r\nOrigin: http://%s:%d\r\n"
           "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
           o->host, o->port, o->host, o->port, strlen(body), body);
  write_all(fd, req, strlen(req));
  read_head(fd, head, sizeof head);
  char *c = strcasestr(head, "set-cookie: ");
  if (strncmp(head, "HTTP/1.1 20", 11) != 0 || !c) {
    fprintf(stderr, "wsload: join failed: %.80s\n", head);
    exit(1);
  }
  c += 12;
  size_t n = strcspn(c, ";\r");
  if (n >= cap) die("cookie");
  memcpy(cookie, c, n);
  cookie[n] = 0;
  if (labpass) {
    char ans[4096];
    size_t len = 0;
    ssize_t r;
    while (len + 1 < sizeof ans && (r = read(fd, ans + len, sizeof ans - 1 - len)) > 0)
      len += (size_t)r;
    ans[len] = 0;
    const char *pw = strstr(ans, "\"password\":\"");
    if (!pw) die("no lab password in the join answer");
    pw += 12;
    n = strcspn(pw, "\"");
    if (n >= pcap) die("lab password");
    memcpy(labpass, pw, n);
    labpass[n] = 0;
  }
  close(fd);
}

static void conn_init(struct conn *c, int fd, int ws) {
  memset(c, 0, sizeof *c);
  c->fd = fd;
  c->ws = ws;
  c->rbuf = malloc(ws ? WSLOAD_RBUF : 4096);
  if (!c->rbuf) die("malloc");
  wsframe_parser_init(&c->p);
}

/* Reads more into the connection's buffer; 0 on EOF. */
static ssize_t conn_fill(struct conn *c, size_t cap) {
  ssize_t r;
  do {
    r = read(c->fd, c->rbuf + c->rlen, cap - c->rlen);
  } while (r < 0 && errno == EINTR);
  if (r < 0) die("read");
  c->rlen += (size_t)r;
  return r;
}

static void ws_send(struct conn *c, int opcode, const void *p, size_t n);

/* A ping is answered with a pong (RFC 6455 section 5.5.2): the relay hangs
 * up on a client that stays silent (portlab after LIM_WS_PING_SECS). */
static void ws_control(struct conn *c, const struct wsframe_event *ev) {
  if (ev->opcode != 9) return;
  if (c->ping_len + ev->len <= sizeof c->ping) {
    memcpy(c->ping + c->ping_len, ev->data, ev->len);
    c->ping_len += ev->len;
  }
  if (ev->end) {
    ws_send(c, 10, c->ping, c->ping_len);
    c->ping_len = 0;
  }
}

/* Takes the next whole text message (JSON) of a WebSocket; binary payload
 * before it is skipped. */
static void ws_read_text(struct conn *c, char *out, size_t cap) {
  size_t have = 0;
  for (;;) {
    struct wsframe_event ev;
    size_t used = 0;
    while (wsframe_parse(&c->p, c->rbuf + used, c->rlen - used, &ev) > 0) {
      used += ev.consumed;
      ws_control(c, &ev);
      if (ev.opcode == WSFRAME_TEXT) {
        size_t n = ev.len < cap - 1 - have ? ev.len : cap - 1 - have;
        memcpy(out + have, ev.data, n);
        have += n;
        out[have] = 0;
        if (!ev.end) continue;
        memmove(c->rbuf, c->rbuf + used, c->rlen - used);
        c->rlen -= used;
        return;
      }
      if (ev.opcode == WSFRAME_CLOSE) die("closed by the relay");
    }
    memmove(c->rbuf, c->rbuf + used, c->rlen - used);
    c->rlen -= used;
    if (conn_fill(c, WSLOAD_RBUF) == 0) die("eof before a text message");
  }
}

/* Reads until n payload bytes arrived (binary frames; text is skipped);
 * any bytes past them stay. Returns 0, or -1 on EOF. */
static int ws_read_payload(struct conn *c, long long n) {
  long long got = 0;
  while (got < n) {
    struct wsframe_event ev;
    size_t used = 0;
    while (got < n && wsframe_parse(&c->p, c->rbuf + used, c->rlen - used, &ev) > 0) {
      used += ev.consumed;
      ws_control(c, &ev);
      /* The lws mirror answers in text frames; portlab's text is control. */
      if (ev.opcode == WSFRAME_BINARY || ev.opcode == WSFRAME_CONT ||
          (ev.opcode == WSFRAME_TEXT && c->text_is_payload))
        got += (long long)ev.len;
    }
    if (used) {
      memmove(c->rbuf, c->rbuf + used, c->rlen - used);
      c->rlen -= used;
    }
    if (got >= n) break;
    if (conn_fill(c, WSLOAD_RBUF) == 0) return -1;
  }
  return 0;
}

static void ws_send(struct conn *c, int opcode, const void *p, size_t n) {
  unsigned char hdr[WSFRAME_MAX_HEADER];
  size_t h = wsframe_header(hdr, opcode, n);
  if (n <= 256) {
    unsigned char one[WSFRAME_MAX_HEADER + 256];
    memcpy(one, hdr, h);
    memcpy(one + h, p, n);
    write_all(c->fd, one, h + n);
    return;
  }
  write_all(c->fd, hdr, h);
  write_all(c->fd, p, n);
}

/* Opens one WebSocket through the relay and, for portlab, a session to the
 * server, whose first line is cmd. */
static void open_session(const struct opts *o, struct conn *c, const char *cookie,
                         const char *cmd) {
  char req[1024], head[4096], msg[1024];
  const char *proto = strcmp(o->relay, "portlab") == 0  ? "portlab.v1"
                      : strcmp(o->relay, "mirror") == 0 ? "lws-mirror-protocol"
                                                        : "binary";
  int fd = tcp_connect(o->host, o->port);
  if (strcmp(o->relay, "direct") == 0) {
    conn_init(c, fd, 0);
    write_all(fd, cmd, strlen(cmd));
    return;
  }
  snprintf(req, sizeof req,
           "GET %s HTTP/1.1\r\nHost: %s:%d\r\nOrigin: http://%s:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n%s%s%s\r\n",
           strcmp(o->relay, "portlab") == 0 ? "/ws" : "/", o->host, o->port, o->host, o->port,
           proto, cookie ? "Cookie: " : "", cookie ? cookie : "", cookie ? "\r\n" : "");
  write_all(fd, req, strlen(req));
  read_head(fd, head, sizeof head);
  if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
    fprintf(stderr, "wsload: upgrade refused: %.80s\n", head);
    exit(1);
  }
  conn_init(c, fd, 1);
  c->text_is_payload = strcmp(o->relay, "mirror") == 0;
  if (strcmp(o->relay, "portlab") == 0) {
    snprintf(msg, sizeof msg, "{\"type\":\"open\",\"host\":\"%s\",\"port\":%d}", o->target_host,
             o->target_port);
    ws_send(c, WSFRAME_TEXT, msg, strlen(msg));
    ws_read_text(c, msg, sizeof msg);
    if (!strstr(msg, "\"opened\"")) {
      fprintf(stderr, "wsload: open failed: %s\n", msg);
      exit(1);
    }
    const char *id = strstr(msg, "\"session_id\":");
    if (id) c->session_id = atoll(id + 13);
  }
  if (cmd && strcmp(o->relay, "mirror") != 0) ws_send(c, WSFRAME_BINARY, cmd, strlen(cmd));
}

static void sync_point(const struct opts *o, const char *say) {
  char line[64];
  if (!o->sync) return;
  printf("%s\n", say);
  fflush(stdout);
  if (!fgets(line, sizeof line, stdin)) exit(0);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p) {
  size_t i = (size_t)((double)n * p / 100.0);
  return v[i >= n ? n - 1 : i];
}

/* Opens n sessions (portlab: a new student every 64). */
static struct conn *open_many(const struct opts *o, int n, const char *cmd) {
  struct conn *c = calloc((size_t)n, sizeof *c);
  char cookie[256] = "", name[64];
  if (!c) die("calloc");
  for (int i = 0; i < n; i++) {
    if (strcmp(o->relay, "portlab") == 0 && i % WSLOAD_SESSIONS_PER_STUDENT == 0) {
      snprintf(name, sizeof name, "bench-%d-%d", (int)getpid(), i / WSLOAD_SESSIONS_PER_STUDENT);
      portlab_join(o, name, cookie, sizeof cookie, NULL, 0);
    }
    open_session(o, &c[i], cookie[0] ? cookie : NULL, cmd);
  }
  return c;
}

static int run_bulk(const struct opts *o, int up) {
  char cmd[64];
  struct conn *c;
  unsigned char *chunk = calloc(1, (size_t)o->frame);
  double t0, t1;
  if (!chunk) die("calloc");
  snprintf(cmd, sizeof cmd, "%c %lld\n", up ? 'K' : 'S', o->bytes);
  /* The command goes after the sync point, so the transfer starts on "go". */
  c = open_many(o, 1, "");
  sync_point(o, "ready");
  t0 = now_s();
  ws_send(c, WSFRAME_BINARY, cmd, strlen(cmd));
  if (up) {
    for (long long left = o->bytes; left > 0; left -= o->frame)
      ws_send(c, WSFRAME_BINARY, chunk, left < o->frame ? (size_t)left : (size_t)o->frame);
    if (ws_read_payload(c, 1)) die("eof before the server's '!'");
  } else if (ws_read_payload(c, o->bytes)) {
    die("eof before all bytes arrived");
  }
  t1 = now_s();
  printf("%s %s bytes=%lld seconds=%.4f MBps=%.1f\n", o->relay, up ? "up" : "down", o->bytes,
         t1 - t0, (double)o->bytes / (t1 - t0) / 1e6);
  fflush(stdout);
  sync_point(o, "done");
  close(c->fd);
  free(c->rbuf);
  free(c);
  free(chunk);
  return 0;
}

static void one_byte_wait(struct conn *c, int size) {
  if (c->ws) {
    if (ws_read_payload(c, size)) die("eof");
    return;
  }
  for (long got = 0; got < size;) {
    ssize_t r = read(c->fd, c->rbuf, 4096);
    if (r <= 0) die("read");
    got += r;
  }
}

static int run_rtt(const struct opts *o) {
  struct conn *c = open_many(o, 1, "E\n");
  double *v = calloc((size_t)o->n, sizeof *v);
  unsigned char payload[4096];
  if (!v) die("calloc");
  memset(payload, 'k', sizeof payload);
  sync_point(o, "ready");
  for (int i = 0; i < o->n + 50; i++) { /* the first 50 warm up */
    double t0 = now_s();
    if (c->ws)
      ws_send(c, WSFRAME_BINARY, payload, (size_t)o->size);
    else
      write_all(c->fd, payload, (size_t)o->size);
    one_byte_wait(c, o->size);
    if (i >= 50) v[i - 50] = (now_s() - t0) * 1e6;
  }
  qsort(v, (size_t)o->n, sizeof *v, cmp_double);
  printf("%s rtt n=%d size=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n", o->relay, o->n,
         o->size, pct(v, (size_t)o->n, 50), pct(v, (size_t)o->n, 90), pct(v, (size_t)o->n, 99),
         v[o->n - 1]);
  fflush(stdout);
  sync_point(o, "done");
  free(v);
  return 0;
}

/* Every session sends one byte rate times a second and times its echo. */
static int run_typing(const struct opts *o) {
  struct conn *c = open_many(o, o->sessions, "E\n");
  size_t cap = (size_t)(o->rate * o->seconds * o->sessions) + 16, n = 0;
  double *v = calloc(cap, sizeof *v), start, end;
  int ep = epoll_create1(0);
  if (!v || ep < 0) die("setup");
  for (int i = 0; i < o->sessions; i++) {
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &e)) die("epoll_ctl");
  }
  sync_point(o, "ready");
  start = now_s();
  end = start + o->seconds;
  for (int i = 0; i < o->sessions; i++) c[i].next_send = start + (double)i / o->sessions / o->rate;
  for (;;) {
    double t = now_s(), next = end;
    if (t >= end) break;
    for (int i = 0; i < o->sessions; i++) {
      if (!c[i].waiting && c[i].next_send <= t) {
        ws_send(&c[i], WSFRAME_BINARY, "k", 1);
        c[i].sent_at = t;
        c[i].waiting = 1;
        c[i].next_send += 1.0 / o->rate;
      }
      if (!c[i].waiting && c[i].next_send < next) next = c[i].next_send;
    }
    struct epoll_event evs[256];
    int ms = (int)((next - now_s()) * 1000);
    int k = epoll_wait(ep, evs, 256, ms < 0 ? 0 : ms > 5 ? 5 : ms);
    for (int j = 0; j < k; j++) {
      struct conn *cc = &c[evs[j].data.u32];
      if (conn_fill(cc, WSLOAD_RBUF) == 0) die("eof");
      struct wsframe_event ev;
      size_t used = 0;
      while (wsframe_parse(&cc->p, cc->rbuf + used, cc->rlen - used, &ev) > 0) {
        used += ev.consumed;
        ws_control(cc, &ev);
        if ((ev.opcode == WSFRAME_BINARY || cc->text_is_payload) && ev.len && cc->waiting) {
          cc->waiting = 0;
          if (n < cap) v[n++] = (now_s() - cc->sent_at) * 1e6;
        }
      }
      memmove(cc->rbuf, cc->rbuf + used, cc->rlen - used);
      cc->rlen -= used;
    }
  }
  if (!n) die("no answers");
  qsort(v, n, sizeof *v, cmp_double);
  printf("%s typing sessions=%d rate=%.1f n=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f\n", o->relay,
         o->sessions, o->rate, n, pct(v, n, 50), pct(v, n, 99), v[n - 1]);
  fflush(stdout);
  sync_point(o, "done");
  return 0;
}

#define IDLE_STDIN UINT32_MAX

/* Reads what the relay sent on every readable session (its keepalive
 * pings, answered, or the relay hangs up on a silent client after
 * LIM_WS_PING_SECS) until nothing is left, waiting up to timeout_ms for the
 * first. Returns 1 when stdin has a line, else 0. */
static int idle_service(struct conn *c, int ep, int timeout_ms) {
  struct epoll_event evs[256];
  int k;
  while ((k = epoll_wait(ep, evs, 256, timeout_ms)) > 0) {
    for (int j = 0; j < k; j++) {
      if (evs[j].data.u32 == IDLE_STDIN) return 1;
      struct conn *cc = &c[evs[j].data.u32];
      struct wsframe_event ev;
      size_t used = 0;
      if (conn_fill(cc, WSLOAD_RBUF) == 0) die("a session was closed by the relay");
      while (wsframe_parse(&cc->p, cc->rbuf + used, cc->rlen - used, &ev) > 0) {
        used += ev.consumed;
        ws_control(cc, &ev);
        if (ev.opcode == WSFRAME_CLOSE) die("a session was closed by the relay");
      }
      memmove(cc->rbuf, cc->rbuf + used, cc->rlen - used);
      cc->rlen -= used;
    }
    timeout_ms = 0;
  }
  return 0;
}

/* Opens n sessions one at a time and holds them, answering the relay's
 * pings meanwhile: opening 10,000 on a busy machine takes longer than the
 * relay waits for a pong. */
static int run_idle(const struct opts *o) {
  struct conn *c = calloc((size_t)o->sessions, sizeof *c);
  char cookie[256] = "", name[64], line[64];
  int ep = epoll_create1(0);
  if (!c || ep < 0) die("setup");
  for (int i = 0; i < o->sessions; i++) {
    if (strcmp(o->relay, "portlab") == 0 && i % WSLOAD_SESSIONS_PER_STUDENT == 0) {
      snprintf(name, sizeof name, "bench-%d-%d", (int)getpid(), i / WSLOAD_SESSIONS_PER_STUDENT);
      portlab_join(o, name, cookie, sizeof cookie, NULL, 0);
    }
    open_session(o, &c[i], cookie[0] ? cookie : NULL, "E\n");
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &e)) die("epoll_ctl");
    if (i % 64 == 63) idle_service(c, ep, 0);
  }
  printf("%s idle sessions=%d\n", o->relay, o->sessions);
  fflush(stdout);
  if (!o->sync) return 0; /* the process's exit closes them */
  printf("ready\n");
  fflush(stdout);
  struct epoll_event in = {.events = EPOLLIN, .data.u32 = IDLE_STDIN};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in)) die("epoll_ctl stdin");
  while (!idle_service(c, ep, 1000)) {
  }
  if (!fgets(line, sizeof line, stdin)) return 0;
  return 0;
}

/* --- the lab's mail servers through the relay (issue 11, goal 5) ----------- */

/* `wsload mail`: N students join; N WebSockets open lab:25 and, all at
 * once, each delivers one mail to the next student (EHLO, MAIL, RCPT, DATA,
 * the message, QUIT); then N WebSockets open lab:143 and each student logs
 * in, selects INBOX and fetches what is there (LOGIN, SELECT, FETCH,
 * LOGOUT): the mail sent to it must be there exactly once, its token intact
 * (a new account also holds the lab's welcome mail).
 * Every reply is timed from the command's send to the reply's last line.
 * With --ledger FILE each session's id and the payload bytes it sent and
 * received are written there, for the driver to compare with what portlab
 * recorded. */

#define LAB_MAX_STEPS 8
#define LAB_RX_CAP (256 * 1024)

struct lab_script {
  const char *proto;
  int port;
  int nsteps;                      /* the greeting is step 0 and not timed */
  const char *step[LAB_MAX_STEPS]; /* names, for the figures */
  int expect[LAB_MAX_STEPS];       /* SMTP: the reply code; IMAP: 1 = OK */
};

static const struct lab_script lab_smtp = {
    "smtp",
    25,
    7,
    {"greeting", "EHLO", "MAIL", "RCPT", "DATA", "end of data", "QUIT"},
    {220, 250, 250, 250, 354, 250, 221}};
static const struct lab_script lab_imap = {
    "imap", 143, 5, {"greeting", "LOGIN", "SELECT", "FETCH", "LOGOUT"}, {1, 1, 1, 1, 1}};

struct lab_student {
  char name[64];
  char pass[64];
  char cookie[256];
};

struct lab_sess {
  struct conn c;
  int idx;
  int step;   /* the reply awaited */
  int closed; /* the relay said "closed", or the WebSocket ended */
  int failed;
  double sent_at;
  char *rx; /* the target's bytes since the last command */
  size_t rxlen;
  char text[512]; /* a control message being read */
  size_t textlen;
  long long sent, received; /* payload bytes */
  long exists;              /* IMAP: SELECT's EXISTS */
};

struct lab_run {
  const struct opts *o;
  const struct lab_script *sc;
  struct lab_student *st;
  struct lab_sess *s;
  int n;
  double *lat[LAB_MAX_STEPS]; /* µs, per step, n each */
  size_t nlat[LAB_MAX_STEPS];
  int failed, mails_found;
  FILE *ledger;
};

static void lab_token(char *out, size_t cap, int sender) {
  snprintf(out, cap, "portlab-bench-token-%d-%d-end", (int)getpid(), sender); /* -1 vs -10 */
}

static void lab_send(struct lab_sess *ls, const char *text, size_t len) {
  ws_send(&ls->c, WSFRAME_BINARY, text, len);
  ls->sent += (long long)len;
}

/* Sends the command that step k's reply is awaited for. */
static void lab_command(struct lab_run *r, struct lab_sess *ls, int k) {
  char cmd[8192], tok[96];
  const struct lab_student *me = &r->st[ls->idx], *to = &r->st[(ls->idx + 1) % r->n];
  size_t n = 0;
  if (r->sc == &lab_smtp) {
    switch (k) {
      case 1:
        n = (size_t)snprintf(cmd, sizeof cmd, "EHLO bench.example\r\n");
        break;
      case 2:
        n = (size_t)snprintf(cmd, sizeof cmd, "MAIL FROM:<%s@lab>\r\n", me->name);
        break;
      case 3:
        n = (size_t)snprintf(cmd, sizeof cmd, "RCPT TO:<%s@lab>\r\n", to->name);
        break;
      case 4:
        n = (size_t)snprintf(cmd, sizeof cmd, "DATA\r\n");
        break;
      case 5:
        lab_token(tok, sizeof tok, ls->idx);
        n = (size_t)snprintf(cmd, sizeof cmd,
                             "From: <%s@lab>\r\nTo: <%s@lab>\r\nSubject: bench %d\r\n\r\n%s\r\n",
                             me->name, to->name, ls->idx, tok);
        while (n + 80 + 3 < sizeof cmd && n < (size_t)r->o->size) {
          memset(cmd + n, 'm', 70);
          memcpy(cmd + n + 70, "\r\n", 2);
          n += 72;
        }
        memcpy(cmd + n, ".\r\n", 3);
        n += 3;
        break;
      default:
        n = (size_t)snprintf(cmd, sizeof cmd, "QUIT\r\n");
        break;
    }
  } else {
    switch (k) {
      case 1:
        n = (size_t)snprintf(cmd, sizeof cmd, "a1 LOGIN %s %s\r\n", me->name, me->pass);
        break;
      case 2:
        n = (size_t)snprintf(cmd, sizeof cmd, "a2 SELECT INBOX\r\n");
        break;
      case 3:
        n = (size_t)snprintf(cmd, sizeof cmd, "a3 FETCH 1:* (BODY.PEEK[])\r\n");
        break;
      default:
        n = (size_t)snprintf(cmd, sizeof cmd, "a4 LOGOUT\r\n");
        break;
    }
  }
  ls->sent_at = now_s();
  lab_send(ls, cmd, n);
}

/* SMTP: the reply is whole at a line "NNN text"; its code in *code. */
static int lab_smtp_done(const char *rx, size_t len, int *code) {
  size_t pos = 0;
  while (pos < len) {
    const char *nl = memchr(rx + pos, '\n', len - pos);
    if (!nl) return 0;
    size_t l = (size_t)(nl - (rx + pos)) + 1;
    if (l >= 4 && rx[pos + 3] == ' ') {
      *code = atoi(rx + pos);
      return 1;
    }
    pos += l;
  }
  return 0;
}

/* IMAP: the reply is whole at the tagged line ("aK "), or for the greeting
 * at "* OK"; literals ({n} at a line's end) are skipped, so a message body
 * never ends it. *ok: the status was OK. Counts "* N EXISTS" on the way. */
static int lab_imap_done(const char *rx, size_t len, int k, int *ok, long *exists) {
  char tag[8];
  size_t pos = 0;
  snprintf(tag, sizeof tag, "a%d ", k);
  while (pos < len) {
    const char *line = rx + pos, *nl = memchr(line, '\n', len - pos);
    if (!nl) return 0;
    size_t l = (size_t)(nl - line) + 1;
    if (k == 0 && l >= 4 && memcmp(line, "* OK", 4) == 0) {
      *ok = 1;
      return 1;
    }
    if (k > 0 && l >= strlen(tag) && memcmp(line, tag, strlen(tag)) == 0) {
      *ok = l >= strlen(tag) + 2 && memcmp(line + strlen(tag), "OK", 2) == 0;
      return 1;
    }
    if (line[0] == '*' && l > 9 && memcmp(nl - 8, " EXISTS", 7) == 0) *exists = atol(line + 2);
    pos += l;
    if (l >= 4 && nl[-1] == '\r' && nl[-2] == '}') {
      const char *b = nl - 2;
      while (b > line && b[-1] != '{') b--;
      if (b > line) pos += (size_t)atol(b);
    }
  }
  return 0;
}

static void lab_fail(struct lab_run *r, struct lab_sess *ls, const char *why) {
  if (!ls->failed && r->failed < 5)
    fprintf(stderr, "wsload: %s session %d at %s: %s: %.200s\n", r->sc->proto, ls->idx,
            r->sc->step[ls->step], why, ls->rx);
  if (!ls->failed) r->failed++;
  ls->failed = 1;
  /* Hang up at once rather than hold the session until the hang guard. */
  if (!ls->closed) ws_send(&ls->c, WSFRAME_TEXT, "{\"type\":\"close\"}", 16);
}

/* A whole reply for the awaited step: time it, check it, send the next. */
static void lab_reply(struct lab_run *r, struct lab_sess *ls) {
  int code = 0, ok = 0;
  for (;;) {
    if (ls->failed || ls->step >= r->sc->nsteps) return;
    ls->rx[ls->rxlen] = 0;
    if (r->sc == &lab_smtp) {
      if (!lab_smtp_done(ls->rx, ls->rxlen, &code)) return;
      ok = code == r->sc->expect[ls->step];
    } else if (!lab_imap_done(ls->rx, ls->rxlen, ls->step, &ok, &ls->exists)) {
      return;
    }
    if (ls->step > 0) r->lat[ls->step][r->nlat[ls->step]++] = (now_s() - ls->sent_at) * 1e6;
    if (!ok) {
      lab_fail(r, ls, "unexpected reply");
      return;
    }
    if (r->sc == &lab_imap && ls->step == 3) { /* FETCH: the mail sent to me, once */
      char tok[96];
      int seen = 0;
      lab_token(tok, sizeof tok, (ls->idx + r->n - 1) % r->n);
      for (const char *p = ls->rx;
           (p = memmem(p, ls->rxlen - (size_t)(p - ls->rx), tok, strlen(tok))) != NULL;
           p += strlen(tok))
        seen++;
      if (seen != 1) {
        lab_fail(r, ls, "the mail sent to this mailbox is not in it exactly once");
        return;
      }
      r->mails_found++;
    }
    ls->rxlen = 0;
    ls->step++;
    if (ls->step < r->sc->nsteps) lab_command(r, ls, ls->step);
  }
}

/* Everything the WebSocket has brought so far. */
static void lab_input(struct lab_run *r, struct lab_sess *ls) {
  struct wsframe_event ev;
  size_t used = 0;
  while (wsframe_parse(&ls->c.p, ls->c.rbuf + used, ls->c.rlen - used, &ev) > 0) {
    used += ev.consumed;
    ws_control(&ls->c, &ev);
    if (ev.opcode == WSFRAME_BINARY || ev.opcode == WSFRAME_CONT) {
      ls->received += (long long)ev.len;
      if (ls->rxlen + ev.len >= LAB_RX_CAP) {
        lab_fail(r, ls, "reply too long");
        ls->rxlen = 0;
        continue;
      }
      memcpy(ls->rx + ls->rxlen, ev.data, ev.len);
      ls->rxlen += ev.len;
    } else if (ev.opcode == WSFRAME_TEXT) { /* control: one small frame, maybe in pieces */
      size_t n =
          ev.len < sizeof ls->text - 1 - ls->textlen ? ev.len : sizeof ls->text - 1 - ls->textlen;
      memcpy(ls->text + ls->textlen, ev.data, n);
      ls->textlen += n;
      ls->text[ls->textlen] = 0;
      if (!ev.end) continue;
      ls->textlen = 0;
      if (strstr(ls->text, "\"closed\"")) ls->closed = 1;
      if (strstr(ls->text, "\"error\"")) {
        lab_fail(r, ls, ls->text);
        ls->closed = 1;
      }
    } else if (ev.opcode == WSFRAME_CLOSE) {
      ls->closed = 1;
    }
  }
  memmove(ls->c.rbuf, ls->c.rbuf + used, ls->c.rlen - used);
  ls->c.rlen -= used;
  lab_reply(r, ls);
}

static void lab_print(struct lab_run *r, double seconds, int unfinished) {
  printf("lab %s sessions=%d seconds=%.3f failed=%d unfinished=%d", r->sc->proto, r->n, seconds,
         r->failed, unfinished);
  if (r->sc == &lab_imap) printf(" mails_found=%d", r->mails_found);
  printf("\n");
  for (int k = 0; k < r->sc->nsteps; k++) {
    size_t n = r->nlat[k];
    if (!n) continue;
    qsort(r->lat[k], n, sizeof(double), cmp_double);
    printf("lab %s step=%s n=%zu p50_us=%.0f p99_us=%.0f max_us=%.0f\n", r->sc->proto,
           r->sc->step[k], n, pct(r->lat[k], n, 50), pct(r->lat[k], n, 99), r->lat[k][n - 1]);
  }
  fflush(stdout);
}

/* One phase: n sessions opened one at a time, then run all at once. */
static int lab_phase(const struct opts *o, const struct lab_script *sc, struct lab_student *st,
                     FILE *ledger) {
  struct lab_run r = {o,           sc,    st,  calloc((size_t)o->sessions, sizeof(struct lab_sess)),
                      o->sessions, {0},   {0}, 0,
                      0,           ledger};
  struct opts lo = *o;
  int ep = epoll_create1(0), unfinished = 0;
  if (!r.s || ep < 0) die("setup");
  for (int k = 0; k < sc->nsteps; k++)
    if (!(r.lat[k] = calloc((size_t)r.n + 1, sizeof(double)))) die("calloc");
  lo.target_host = "lab";
  lo.target_port = sc->port;
  /* Opening: each WebSocket and its session, one at a time ("open" row). */
  r.lat[0][0] = 0;
  double *open_us = calloc((size_t)r.n, sizeof(double));
  if (!open_us) die("calloc");
  for (int i = 0; i < r.n; i++) {
    struct lab_sess *ls = &r.s[i];
    double t0 = now_s();
    open_session(&lo, &ls->c, st[i].cookie, NULL);
    open_us[i] = (now_s() - t0) * 1e6;
    ls->idx = i;
    if (!(ls->rx = malloc(LAB_RX_CAP + 1))) die("malloc");
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, ls->c.fd, &e)) die("epoll_ctl");
  }
  /* All at once: a greeting that came with "opened" is in rbuf already. */
  double t0 = now_s(), deadline = t0 + o->seconds;
  for (int i = 0; i < r.n; i++) lab_input(&r, &r.s[i]);
  for (;;) {
    int open_left = 0;
    for (int i = 0; i < r.n; i++) open_left += !r.s[i].closed;
    if (!open_left || now_s() >= deadline) break;
    struct epoll_event evs[256];
    int k = epoll_wait(ep, evs, 256, 100);
    for (int j = 0; j < k; j++) {
      struct lab_sess *ls = &r.s[evs[j].data.u32];
      if (ls->closed) {
        epoll_ctl(ep, EPOLL_CTL_DEL, ls->c.fd, NULL);
        continue;
      }
      if (conn_fill(&ls->c, WSLOAD_RBUF) == 0) {
        ls->closed = 1;
        epoll_ctl(ep, EPOLL_CTL_DEL, ls->c.fd, NULL);
      }
      lab_input(&r, ls);
    }
  }
  double t1 = now_s();
  for (int i = 0; i < r.n; i++) {
    struct lab_sess *ls = &r.s[i];
    if (!ls->closed || ls->step < sc->nsteps) {
      unfinished++;
      if (!ls->failed) lab_fail(&r, ls, ls->closed ? "closed early" : "no answer (hang guard)");
    }
    if (ledger)
      fprintf(ledger, "%s %lld %lld %lld\n", sc->proto, ls->c.session_id, ls->sent, ls->received);
    close(ls->c.fd);
    free(ls->c.rbuf);
    free(ls->rx);
  }
  qsort(open_us, (size_t)r.n, sizeof(double), cmp_double);
  lab_print(&r, t1 - t0, unfinished);
  printf("lab %s step=open n=%d p50_us=%.0f p99_us=%.0f max_us=%.0f\n", sc->proto, r.n,
         pct(open_us, (size_t)r.n, 50), pct(open_us, (size_t)r.n, 99), open_us[r.n - 1]);
  fflush(stdout);
  int bad = r.failed || unfinished || (sc == &lab_imap && r.mails_found != r.n);
  for (int k = 0; k < sc->nsteps; k++) free(r.lat[k]);
  free(open_us);
  free(r.s);
  close(ep);
  return bad;
}

static int run_mail(const struct opts *o, const char *ledger_path) {
  struct lab_student *st = calloc((size_t)o->sessions, sizeof *st);
  FILE *ledger = NULL;
  if (!st) die("calloc");
  if (strcmp(o->relay, "portlab") != 0) die("mail needs --relay portlab");
  if (ledger_path && !(ledger = fopen(ledger_path, "w"))) die("ledger");
  for (int i = 0; i < o->sessions; i++) {
    snprintf(st[i].name, sizeof st[i].name, "bench-%d-%d", (int)getpid(), i);
    portlab_join(o, st[i].name, st[i].cookie, sizeof st[i].cookie, st[i].pass, sizeof st[i].pass);
  }
  sync_point(o, "ready");
  int bad = lab_phase(o, &lab_smtp, st, ledger);
  bad |= lab_phase(o, &lab_imap, st, ledger);
  if (ledger) fclose(ledger);
  sync_point(o, "done");
  free(st);
  return bad ? 1 : 0;
}

/* --- the TCP server ------------------------------------------------------ */

struct sconn {
  int mode; /* 0: reading the command line, 'E', 'S', 'K' */
  char line[64];
  size_t line_len;
  long long left;
};

static int serve(int port) {
  struct sockaddr_in sa;
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1, ep = epoll_create1(0);
  static unsigned char buf[WSLOAD_RBUF];
  memset(buf, 's', sizeof buf);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096)) die("listen");
  struct epoll_event e = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
  printf("listening %d\n", port);
  fflush(stdout);
  struct sconn **conns = calloc(65536, sizeof *conns);
  if (!conns) die("calloc");
  for (;;) {
    struct epoll_event evs[256];
    int k = epoll_wait(ep, evs, 256, -1);
    for (int j = 0; j < k; j++) {
      int fd = evs[j].data.fd;
      if (fd == lfd) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0 || cfd >= 65536) {
          if (cfd >= 0) close(cfd);
          continue;
        }
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conns[cfd] = calloc(1, sizeof **conns);
        struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
        epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ce);
        continue;
      }
      struct sconn *s = conns[fd];
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0) {
        close(fd);
        free(s);
        conns[fd] = NULL;
        continue;
      }
      size_t off = 0;
      while (!s->mode && off < (size_t)r) {
        char ch = (char)buf[off++];
        if (ch == '\n') {
          s->line[s->line_len] = 0;
          s->mode = s->line[0];
          s->left = atoll(s->line + 1);
          if (s->mode == 'S') { /* blocking sends are fine: one transfer at a time */
            static unsigned char src[WSLOAD_RBUF];
            memset(src, 's', sizeof src);
            while (s->left > 0) {
              size_t n = s->left < (long long)sizeof src ? (size_t)s->left : sizeof src;
              write_all(fd, src, n);
              s->left -= (long long)n;
            }
          }
        } else if (s->line_len + 1 < sizeof s->line) {
          s->line[s->line_len++] = ch;
        }
      }
      if (off >= (size_t)r) continue;
      if (s->mode == 'E') {
        write_all(fd, buf + off, (size_t)r - off);
      } else if (s->mode == 'K') {
        s->left -= (long long)((size_t)r - off);
        if (s->left <= 0 && s->mode == 'K') {
          write_all(fd, "!", 1);
          s->mode = 'D';
        }
      }
    }
  }
  return 0;
}

/* --- the plain poll() relay: the ceiling the issue compares against -------- */

/* One WebSocket to one TCP connection, blocking writes, one poll() over
 * the two: no queues, no recording, no policy. */
static void pollrelay_session(int wfd, int target_port) {
  static unsigned char in[WSLOAD_RBUF], out[14 + WSLOAD_FRAME];
  char head[4096];
  const char *ok =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: "
      "binary\r\n\r\n";
  struct wsframe_parser p;
  size_t have = 0;
  int one = 1;
  read_head(wfd, head, sizeof head);
  write_all(wfd, ok, strlen(ok));
  setsockopt(wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int tfd = tcp_connect("127.0.0.1", target_port);
  wsframe_parser_init(&p);
  p.accept_masked = 1;
  for (;;) {
    struct pollfd pf[2] = {{wfd, POLLIN, 0}, {tfd, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) continue;
    if (pf[0].revents) {
      ssize_t r = read(wfd, in + have, sizeof in - have);
      if (r <= 0) break;
      have += (size_t)r;
      size_t used = 0;
      struct wsframe_event ev;
      while (wsframe_parse(&p, in + used, have - used, &ev) > 0) {
        used += ev.consumed;
        if (ev.opcode == WSFRAME_CLOSE) goto out;
        if (ev.len) write_all(tfd, ev.data, ev.len);
      }
      memmove(in, in + used, have - used);
      have -= used;
    }
    if (pf[1].revents) {
      ssize_t r = read(tfd, out + 14, WSLOAD_FRAME);
      if (r <= 0) break;
      /* A server frame header: 2 or 4 or 10 bytes, written just before the payload. */
      size_t h = (size_t)r < 126 ? 2 : (size_t)r <= 0xffff ? 4 : 10;
      unsigned char *f = out + 14 - h;
      f[0] = 0x82;
      if (h == 2) {
        f[1] = (unsigned char)r;
      } else if (h == 4) {
        f[1] = 126;
        f[2] = (unsigned char)(r >> 8);
        f[3] = (unsigned char)r;
      } else {
        f[1] = 127;
        for (int i = 0; i < 8; i++) f[2 + i] = (unsigned char)((uint64_t)r >> (56 - 8 * i));
      }
      write_all(wfd, f, h + (size_t)r);
    }
  }
out:
  close(tfd);
  close(wfd);
}

static int pollrelay(int port, int target_port) {
  struct sockaddr_in sa;
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 4096)) die("listen");
  signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
  printf("relaying %d -> %d\n", port, target_port);
  fflush(stdout);
  for (;;) {
    int cfd = accept(lfd, NULL, NULL);
    if (cfd < 0) continue;
    pid_t pid = fork();
    if (pid == 0) {
      close(lfd);
      pollrelay_session(cfd, target_port);
      _exit(0);
    }
    close(cfd);
  }
  return 0;
}

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: wsload serve PORT\n"
          "       wsload pollrelay PORT TARGET_PORT\n"
          "       wsload down|up|rtt|typing|idle --relay portlab|websockify|mirror|direct\n"
          "       wsload mail --port P --sessions N [--size BODY] [--seconds HANG_GUARD]\n"
          "              [--ledger FILE]\n"
          "              --port P [--target-port T] [--bytes N] [--frame N] [--n N] [--size N]\n"
          "              [--sessions N] [--rate R] [--seconds S] [--sync]\n");
  exit(2);
}

int main(int argc, char **argv) {
  struct opts o = {"portlab", "127.0.0.1", "127.0.0.1", 0,  0,  64LL << 20, WSLOAD_FRAME,
                   2000,      1,           1,           10, 10, 0};
  const char *ledger = NULL;
  if (argc < 2) usage();
  raise_nofile();
  if (strcmp(argv[1], "serve") == 0) {
    if (argc != 3) usage();
    return serve(atoi(argv[2]));
  }
  if (strcmp(argv[1], "pollrelay") == 0) {
    if (argc != 4) usage();
    return pollrelay(atoi(argv[2]), atoi(argv[3]));
  }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--sync") == 0) {
      o.sync = 1;
      continue;
    }
    if (!v) usage();
    i++;
    if (strcmp(a, "--relay") == 0)
      o.relay = v;
    else if (strcmp(a, "--port") == 0)
      o.port = atoi(v);
    else if (strcmp(a, "--target-port") == 0)
      o.target_port = atoi(v);
    else if (strcmp(a, "--bytes") == 0)
      o.bytes = atoll(v);
    else if (strcmp(a, "--frame") == 0)
      o.frame = atoi(v);
    else if (strcmp(a, "--n") == 0)
      o.n = atoi(v);
    else if (strcmp(a, "--size") == 0)
      o.size = atoi(v);
    else if (strcmp(a, "--sessions") == 0)
      o.sessions = atoi(v);
    else if (strcmp(a, "--rate") == 0)
      o.rate = atof(v);
    else if (strcmp(a, "--seconds") == 0)
      o.seconds = atof(v);
    else if (strcmp(a, "--ledger") == 0)
      ledger = v;
    else
      usage();
  }
  if (o.port <= 0 || o.frame <= 0 || o.frame > WSLOAD_FRAME || o.n <= 0 || o.size <= 0 ||
      o.size > 4096 || o.sessions <= 0 || o.rate <= 0)
    usage();
  if (strcmp(argv[1], "down") == 0) return run_bulk(&o, 0);
  if (strcmp(argv[1], "up") == 0) return run_bulk(&o, 1);
  if (strcmp(argv[1], "rtt") == 0) return run_rtt(&o);
  if (strcmp(argv[1], "typing") == 0) return run_typing(&o);
  if (strcmp(argv[1], "idle") == 0) return run_idle(&o);
  if (strcmp(argv[1], "mail") == 0) return run_mail(&o, ledger);
  usage();
  return 2;
}
