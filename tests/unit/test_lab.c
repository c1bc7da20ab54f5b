/* test_lab.c -- the lab framework through its memory backend.
 *
 * A tiny echo module defined here records every callback, so each test
 * can say exactly what the framework delivered: lines and their endings,
 * the over-long rule, counted raw bytes, NUL bytes inside a line, closing
 * after output, the idle timeout and the simulated FTP data channel.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "lab.h"
#include "portlab_limits.h"

struct echo_session {
  int accepts, lines, overlongs, timeouts, closes;
  int crlf, bare_lf;
  char last[64];
  size_t last_len;
  size_t last_strlen;
  char raw[64];
  size_t raw_len;
  int conn_ok, conn_fail, done_ok, done_fail;
  char up[64];
  size_t up_len;
};

/* The test reads the counters after lab_mem_free, when the session is gone. */
static struct echo_session last_closed;

static int echo_accept(struct lab_conn *c, void *sv) {
  struct echo_session *s = sv;
  s->accepts++;
  lab_printf(c, "220 echo ready\r\n");
  return 0;
}

static const struct lab_cmd echo_cmds[];

static void echo_line(struct lab_conn *c, void *sv, char *line, size_t len, enum lab_line_end end) {
  struct echo_session *s = sv;
  char *args;
  const struct lab_cmd *cmd;

  s->lines++;
  if (end == LAB_CRLF)
    s->crlf++;
  else
    s->bare_lf++;
  s->last_len = len;
  s->last_strlen = strlen(line);
  memcpy(s->last, line, len < sizeof s->last ? len : sizeof s->last - 1);
  s->last[len < sizeof s->last ? len : sizeof s->last - 1] = '\0';
  char *verb = lab_cmd_split(line, &args);
  cmd = lab_cmd_find(echo_cmds, verb);
  if (!cmd) {
    lab_printf(c, "500 unknown\r\n");
    return;
  }
  cmd->run(c, s, args);
}

static void echo_data(struct lab_conn *c, void *sv, const unsigned char *p, size_t n) {
  struct echo_session *s = sv;
  if (s->raw_len + n < sizeof s->raw) {
    memcpy(s->raw + s->raw_len, p, n);
    s->raw_len += n;
    s->raw[s->raw_len] = '\0';
  }
}

static void echo_overlong(struct lab_conn *c, void *sv) {
  ((struct echo_session *)sv)->overlongs++;
  lab_printf(c, "500 line too long\r\n");
}

static void echo_timeout(struct lab_conn *c, void *sv) {
  ((struct echo_session *)sv)->timeouts++;
  lab_printf(c, "421 idle\r\n");
}

static void echo_close(struct lab_conn *c, void *sv) {
  struct echo_session *s = sv;
  s->closes++;
  last_closed = *s;
  /* Ignored: nothing may be sent once the connection is closing. */
  lab_printf(c, "should not appear\r\n");
}

static void echo_data_conn(struct lab_conn *c, void *sv, int ok) {
  struct echo_session *s = sv;
  if (ok)
    s->conn_ok++;
  else
    s->conn_fail++;
}

static void echo_data_rx(struct lab_conn *c, void *sv, const unsigned char *p, size_t n) {
  struct echo_session *s = sv;
  if (s->up_len + n < sizeof s->up) {
    memcpy(s->up + s->up_len, p, n);
    s->up_len += n;
    s->up[s->up_len] = '\0';
  }
}

static void echo_data_done(struct lab_conn *c, void *sv, int ok) {
  struct echo_session *s = sv;
  if (ok)
    s->done_ok++;
  else
    s->done_fail++;
}

static void cmd_echo(struct lab_conn *c, void *s, char *args) {
  lab_printf(c, "250 %s\r\n", args);
}
static void cmd_quit(struct lab_conn *c, void *s, char *args) {
  lab_printf(c, "221 bye\r\n");
  lab_close(c);
}
static void cmd_lit(struct lab_conn *c, void *s, char *args) {
  lab_printf(c, "+ go\r\n");
  lab_read_bytes(c, (size_t)atoi(args));
}
static void cmd_pasv(struct lab_conn *c, void *s, char *args) {
  int port = 0;
  if (lab_data_listen(c, &port) == 0)
    lab_printf(c, "227 %d\r\n", port);
  else
    lab_printf(c, "425 no\r\n");
}
static void cmd_retr(struct lab_conn *c, void *s, char *args) {
  lab_data_send(c, "file-body", 9);
  lab_data_close(c);
}
static void cmd_big(struct lab_conn *c, void *s, char *args) {
  char chunk[65536];
  memset(chunk, 'x', sizeof chunk);
  for (int i = 0; i < 100; i++) lab_send(c, chunk, sizeof chunk);
}

static const struct lab_cmd echo_cmds[] = {
    {"ECHO", 1, cmd_echo, LAB_ARGS_ANY, NULL, NULL},
    {"QUIT", 1, cmd_quit, LAB_ARGS_ANY, NULL, NULL},
    {"LIT", 1, cmd_lit, LAB_ARGS_ANY, NULL, NULL},
    {"PASV", 1, cmd_pasv, LAB_ARGS_ANY, NULL, NULL},
    {"RETR", 1, cmd_retr, LAB_ARGS_ANY, NULL, NULL},
    {"BIG", 1, cmd_big, LAB_ARGS_ANY, NULL, NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct lab_module echo_module = {
    .name = "echo",
    .line_max = 16,
    .session_size = sizeof(struct echo_session),
    .idle_secs = 5,
    .on_accept = echo_accept,
    .on_line = echo_line,
    .on_data = echo_data,
    .on_overlong = echo_overlong,
    .on_timeout = echo_timeout,
    .on_close = echo_close,
    .on_data_conn = echo_data_conn,
    .on_data_rx = echo_data_rx,
    .on_data_done = echo_data_done,
};

static struct lab_ctx ctx = {
    .lab_addr = "127.0.0.1", .port_base = 10000, .pasv_lo = 30000, .pasv_hi = 30009};

static struct lab_conn *open_echo(void) {
  return lab_mem_open(&echo_module, &ctx, "127.0.0.1");
}

/* Raw mode must never split lines: this on_line only notes that it ran. */
static int raw_line_called;
static void raw_line(struct lab_conn *c, void *sv, char *line, size_t len, enum lab_line_end end) {
  raw_line_called = 1;
}

static void test_greeting_and_lines(void) {
  struct lab_conn *c = open_echo();
  CHECK(c != NULL);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "220 echo ready\r\n");
  CHECK_EQ_STR(lab_conn_peer(c), "127.0.0.1");
  CHECK(lab_conn_ctx(c) == &ctx);
  lab_mem_clear(c);
  /* Split across feeds, two lines in one feed, case-insensitive verbs. */
  lab_mem_feed(c, "EC", 2);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "");
  lab_mem_feed(c, "HO a\r\necho b c\r\n", 16);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "250 a\r\n250 b c\r\n");
  lab_mem_clear(c);
  lab_mem_feed(c, "NOPE\r\n", 6);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "500 unknown\r\n");
  CHECK_EQ_INT(lab_out_pending(c), 0);
  CHECK_EQ_INT(lab_mem_closed(c), 0);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.accepts, 1);
  CHECK_EQ_INT(last_closed.lines, 3);
  CHECK_EQ_INT(last_closed.crlf, 3);
  CHECK_EQ_INT(last_closed.closes, 1);
}

static void test_bare_lf_and_nul(void) {
  struct lab_conn *c = open_echo();
  lab_mem_feed(c, "ECHO x\n", 7);
  lab_mem_feed(c, "ECHO y\r\r\n", 9); /* the CR before CRLF stays in the line */
  lab_mem_feed(c, "EC\0HO\r\n", 7);
  lab_mem_feed(c, "\r\n", 2); /* an empty line */
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.lines, 4);
  CHECK_EQ_INT(last_closed.bare_lf, 1);
  CHECK_EQ_INT(last_closed.crlf, 3);
  CHECK_EQ_INT(last_closed.last_len, 0);

  c = open_echo();
  lab_mem_feed(c, "EC\0HO z\r\n", 9);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.last_len, 7);
  CHECK_EQ_INT(last_closed.last_strlen, 2); /* a module detects NUL this way */
}

static void test_overlong(void) {
  /* line_max 16 counts the CRLF: 14 bytes + CRLF fit exactly. */
  struct lab_conn *c = open_echo();
  lab_mem_clear(c);
  lab_mem_feed(c, "ECHO 123456789\r\n", 16);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "250 123456789\r\n");
  CHECK_EQ_INT(lab_mem_closed(c), 0);
  lab_mem_clear(c);
  lab_mem_feed(c, "ECHO 1234567890\r\nECHO after\r\n", 29);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "500 line too long\r\n");
  CHECK_EQ_INT(lab_mem_closed(c), 1);
  lab_mem_feed(c, "ECHO more\r\n", 11); /* ignored after close */
  CHECK_EQ_STR(lab_mem_output(c, NULL), "500 line too long\r\n");
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.overlongs, 1);
  CHECK_EQ_INT(last_closed.lines, 1);

  /* No LF at all: refused as soon as the buffer is full, byte by byte. */
  c = open_echo();
  for (int i = 0; i < 100; i++) lab_mem_feed(c, "A", 1);
  CHECK_EQ_INT(lab_mem_closed(c), 1);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.overlongs, 1);
  CHECK_EQ_INT(last_closed.lines, 0);

  /* 15 bytes without LF could still end as "...\r" + "\n": not yet over. */
  c = open_echo();
  lab_mem_feed(c, "ECHO 123456789\r", 15);
  CHECK_EQ_INT(lab_mem_closed(c), 0);
  lab_mem_feed(c, "\n", 1);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.overlongs, 0);
  CHECK_EQ_INT(last_closed.lines, 1);
}

static void test_read_bytes(void) {
  struct lab_conn *c = open_echo();
  lab_mem_clear(c);
  /* The literal's bytes (CRLF and all) go to on_data; lines resume after. */
  lab_mem_feed(c, "LIT 8\r\nab\r\n", 11);
  lab_mem_feed(c, "cdefECHO ok\r\n", 13);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "+ go\r\n250 ok\r\n");
  lab_mem_free(c);
  CHECK_EQ_STR(last_closed.raw, "ab\r\ncdef");
  CHECK_EQ_INT(last_closed.lines, 2);

  /* Raw bytes are not subject to the line cap. */
  c = open_echo();
  lab_mem_feed(c, "LIT 40\r\n", 8);
  lab_mem_feed(c, "0123456789012345678901234567890123456789", 40);
  CHECK_EQ_INT(lab_mem_closed(c), 0);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.raw_len, 40);
}

static void test_close_after_output(void) {
  struct lab_conn *c = open_echo();
  lab_mem_clear(c);
  lab_mem_feed(c, "QUIT\r\nECHO late\r\n", 17);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "221 bye\r\n");
  CHECK_EQ_INT(lab_mem_closed(c), 1);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.lines, 1);
  CHECK_EQ_INT(last_closed.closes, 1);
}

static void test_timeout(void) {
  struct lab_conn *c = open_echo();
  lab_mem_clear(c);
  lab_mem_timeout(c);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "421 idle\r\n");
  CHECK_EQ_INT(lab_mem_closed(c), 1);
  lab_mem_timeout(c); /* a second one is a no-op */
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.timeouts, 1);
}

static void test_output_cap(void) {
  /* The memory backend delivers at once, so the cap is only reached
   * within one send: 100 x 64 KiB in one command stays under because each
   * send drains. Check the accounting is sane instead. */
  struct lab_conn *c = open_echo();
  size_t len;
  lab_mem_clear(c);
  lab_mem_feed(c, "BIG\r\n", 5);
  lab_mem_output(c, &len);
  CHECK_EQ_INT(len, 100 * 65536);
  CHECK_EQ_INT(lab_out_pending(c), 0);
  lab_mem_free(c);
}

static void test_data_channel(void) {
  struct lab_conn *c = open_echo();
  size_t len;

  lab_mem_clear(c);
  CHECK_EQ_INT(lab_mem_data_state(c), 0);
  lab_mem_feed(c, "PASV\r\n", 6);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "227 30000\r\n");
  CHECK_EQ_INT(lab_mem_data_state(c), 1);
  CHECK_EQ_INT(lab_data_is_open(c), 0);
  /* Data queued and closed before the client connected still arrives. */
  lab_mem_feed(c, "RETR\r\n", 6);
  CHECK_EQ_STR(lab_mem_data_output(c, NULL), "");
  lab_mem_data_connect(c, 1);
  CHECK_EQ_STR(lab_mem_data_output(c, &len), "file-body");
  CHECK_EQ_INT(len, 9);
  CHECK_EQ_INT(lab_mem_data_state(c), 3);

  /* An upload: bytes to on_data_rx, the peer's close ends it with ok. */
  lab_mem_feed(c, "PASV\r\n", 6);
  lab_mem_data_connect(c, 1);
  CHECK_EQ_INT(lab_data_is_open(c), 1);
  lab_mem_data_feed(c, "up", 2);
  lab_mem_data_feed(c, "load", 4);
  lab_mem_data_eof(c);
  CHECK_EQ_INT(lab_mem_data_state(c), 3);

  /* A failed (timed out) connection, then an abort. */
  lab_mem_feed(c, "PASV\r\n", 6);
  lab_mem_data_connect(c, 0);
  CHECK_EQ_INT(lab_mem_data_state(c), 3);
  CHECK_EQ_INT(lab_data_connect(c, "127.0.0.1", 2000), 0);
  CHECK_EQ_INT(lab_mem_data_state(c), 1);
  lab_mem_data_connect(c, 1);
  lab_data_abort(c);
  CHECK_EQ_INT(lab_mem_data_state(c), 3);
  /* Feeds after the end are ignored. */
  lab_mem_data_feed(c, "zz", 2);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.conn_ok, 3);
  CHECK_EQ_INT(last_closed.conn_fail, 1);
  CHECK_EQ_INT(last_closed.done_ok, 2);
  CHECK_EQ_INT(last_closed.done_fail, 1);
  CHECK_EQ_STR(last_closed.up, "upload");

  /* A data channel open when the control connection ends goes with it,
   * with no callback but on_close. */
  c = open_echo();
  lab_mem_feed(c, "PASV\r\n", 6);
  lab_mem_data_connect(c, 1);
  lab_mem_feed(c, "QUIT\r\n", 6);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.done_ok + last_closed.done_fail, 0);
}

static void test_cmd_helpers(void) {
  char line[] = "MAIL FROM:<a@b>", line2[] = "NOOP", line3[] = "RETR  two spaces";
  char *args;
  char *verb = lab_cmd_split(line, &args);
  CHECK_EQ_STR(verb, "MAIL");
  CHECK_EQ_STR(args, "FROM:<a@b>");
  verb = lab_cmd_split(line2, &args);
  CHECK_EQ_STR(verb, "NOOP");
  CHECK(args != NULL && *args == '\0');
  lab_cmd_split(line3, &args);
  CHECK_EQ_STR(args, " two spaces");
  CHECK(lab_cmd_find(echo_cmds, "quit") == &echo_cmds[1]);
  CHECK(lab_cmd_find(echo_cmds, "QUI") == NULL);
  CHECK(lab_cmd_find(echo_cmds, "") == NULL);
}

static void test_raw_mode(void) {
  struct lab_module raw = echo_module;
  struct lab_conn *c;
  raw.line_max = 0;
  raw.on_line = raw_line;
  c = lab_mem_open(&raw, &ctx, "::1");
  lab_mem_feed(c, "\xff\xfb\x01 no lines here\n\n", 19);
  CHECK_EQ_INT(raw_line_called, 0);
  lab_mem_free(c);
  CHECK_EQ_INT(last_closed.raw_len, 19);
  CHECK_EQ_INT(last_closed.lines, 0);
}

/* Raw mode, every byte sent straight back. */
static void mirror_data(struct lab_conn *c, void *sv, const unsigned char *p, size_t n) {
  lab_send(c, p, n);
}

/* The memory backend's far end is a capped queue: it holds
 * LIM_LAB_MEM_SINK_BYTES - 1 bytes (and the NUL after them), a write that
 * would pass that is dropped whole, and a clear makes room again. */
static void test_mem_sink_cap(void) {
  struct lab_module mirror = echo_module;
  const size_t chunk = 1024 * 1024, cap = LIM_LAB_MEM_SINK_BYTES;
  unsigned char *block = malloc(chunk);
  struct lab_conn *c;
  const char *out;
  size_t len = 0, fed = 0;

  CHECK(block != NULL);
  if (!block) return;
  memset(block, 'm', chunk);
  mirror.line_max = 0;
  mirror.on_accept = NULL;
  mirror.on_data = mirror_data;
  c = lab_mem_open(&mirror, &ctx, "192.0.2.1");
  while (fed + chunk <= cap - 1) {
    lab_mem_feed(c, block, chunk);
    fed += chunk;
  }
  lab_mem_feed(c, block, cap - 1 - fed); /* n allowed: cap - 1 bytes and the NUL */
  out = lab_mem_output(c, &len);
  CHECK_EQ_INT((long long)len, (long long)(cap - 1));
  CHECK(out[len] == '\0' && out[0] == 'm' && out[len - 1] == 'm');
  lab_mem_feed(c, "x", 1); /* n + 1 refused */
  out = lab_mem_output(c, &len);
  CHECK_EQ_INT((long long)len, (long long)(cap - 1));
  CHECK(out[len] == '\0' && out[len - 1] == 'm');
  CHECK(!lab_mem_closed(c)); /* the connection itself goes on */
  lab_mem_clear(c);
  lab_mem_feed(c, "y", 1);
  out = lab_mem_output(c, &len);
  CHECK_EQ_INT((long long)len, 1);
  CHECK_EQ_STR(out, "y");
  lab_mem_free(c);
  free(block);
}

/* --- the socket backend --------------------------------------------------- */

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  if (!d) return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own fd */
}

/* A port the kernel handed out just now on 127.0.0.1. */
static int free_tcp_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int s = socket(AF_INET, SOCK_STREAM, 0), port = 0;

  if (s < 0) return 0;
  if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(s, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(s);
  return port;
}

/* Services lws until a whole line arrives on fd (or about a second
 * passes); the line goes to out. */
static int sock_line(struct lws_context *lws, int fd, char *out, size_t outlen) {
  size_t n = 0;

  for (int i = 0; i < 200 && n + 1 < outlen; i++) {
    /* lws 4 ignores the poll timeout: wake it so the loop cannot block. */
    lws_cancel_service(lws);
    lws_service(lws, 0);
    usleep(5000);
    ssize_t k = recv(fd, out + n, outlen - 1 - n, MSG_DONTWAIT);
    if (k == 0) break;
    if (k > 0) n += (size_t)k;
    if (n && out[n - 1] == '\n') break;
  }
  out[n] = '\0';
  return n ? 0 : -1;
}

/* A passive listener lws cannot adopt (its fd table is full) must not
 * keep its socket: lws closes sockets it fails to adopt, but the listener
 * is adopted as a raw file descriptor, which lws leaves open. */
static void test_sock_pasv_adopt_failure(void) {
  int tried = 0, failed_pasv = 0;

  for (int limit = 1; limit <= 12 && !failed_pasv; limit++) {
    struct lws_context_creation_info info;
    struct lws_context *lws;
    struct lab_servers *ls;
    const struct lab_service rows[] = {{"echo", "Echo", 7, "raw", &echo_module, 0}};
    struct lab_ctx sctx = ctx;
    char err[256], line[256];
    int port = free_tcp_port(), pasv = free_tcp_port(), fd = -1, before, after;

    lws_set_log_level(0, NULL);
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    info.fd_limit_per_thread = (unsigned int)limit;
    lws = lws_create_context(&info);
    if (!lws) continue;
    sctx.port_base = port - rows[0].port;
    sctx.pasv_lo = sctx.pasv_hi = pasv;
    ls = lab_servers_start(lws, &sctx, rows, 1, err, sizeof err);
    if (ls) {
      struct sockaddr_in a = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
      fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
          sock_line(lws, fd, line, sizeof line) == 0 && strncmp(line, "220 ", 4) == 0) {
        /* The control connection fits. Does a passive listener? */
        tried++;
        before = open_fds();
        int refused = 0;
        for (int i = 0; i < 4; i++) {
          send(fd, "PASV\r\n", 6, MSG_NOSIGNAL);
          if (sock_line(lws, fd, line, sizeof line) == 0 && strncmp(line, "425 ", 4) == 0)
            refused++;
        }
        after = open_fds();
        if (refused == 4) {
          failed_pasv = 1;
          CHECK_EQ_INT(after, before);
        }
      }
      if (fd >= 0) close(fd);
      for (int i = 0; i < 20; i++) {
        lws_cancel_service(lws);
        lws_service(lws, 0);
      }
      lab_servers_stop(ls);
    } else if (fd >= 0) {
      close(fd);
    }
    lws_context_destroy(lws);
  }
  CHECK(tried > 0);
  CHECK(failed_pasv); /* some fd limit let the control connection in but not a listener */
}

int main(void) {
  test_greeting_and_lines();
  test_bare_lf_and_nul();
  test_overlong();
  test_read_bytes();
  test_close_after_output();
  test_timeout();
  test_output_cap();
  test_data_channel();
  test_cmd_helpers();
  test_raw_mode();
  test_mem_sink_cap();
  test_sock_pasv_adopt_failure();
  return check_done();
}
