/* pop3.c -- the lab's POP3 server: reads the INBOX that SMTP delivers to.
 *
 * Implements RFC 1939 (POP3: USER, PASS, STAT, LIST, RETR, DELE, NOOP,
 * RSET, QUIT, and the optional UIDL and TOP; the AUTHORIZATION,
 * TRANSACTION and UPDATE states), RFC 2449 (CAPA, response codes,
 * PIPELINING: replies go out in command order) and RFC 3206 (the [AUTH]
 * and [SYS/...] response codes). USER/PASS travel in the clear on purpose:
 * the transcript shows the password, which is the lesson.
 *
 * TLS: STLS (RFC 2595 section 4) in the AUTHORIZATION state, listed by CAPA
 * only while not in TLS, and POP3S, implicit TLS on 995 (RFC 8314). After
 * STLS the session waits for USER again, and anything pipelined after the
 * command is discarded by the framework, never executed.
 *
 * The maildrop is a snapshot taken at login: message numbers and sizes
 * stay fixed for the session (RFC 1939 section 4), even when IMAP or
 * another POP3 session changes the mailbox meanwhile; a message that
 * vanished in between answers -ERR [SYS/PERM]. DELE only marks; marked
 * messages are removed at QUIT, all or none, in the UPDATE state. A
 * session that ends any other way (timeout, a dropped connection)
 * removes nothing. Sizes are those of the stored message, which SMTP and
 * IMAP store with CRLF line ends; on the wire every line ends with CRLF
 * and a line starting with "." gets another one (byte-stuffing).
 *
 * Lines are capped at LIM_POP3_LINE (over-long: -ERR and the connection
 * ends); LIM_POP3_ERRORS -ERR replies or LIM_POP3_AUTH_FAILURES failed
 * logins also end it, as Dovecot's bad-command limit does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "portlab_limits.h"

#define POP3_REPLY_MAX 600 /* one status line; every one we build is far shorter */

enum pop3_state {
  POP3_S_USER = 0, /* AUTHORIZATION, waiting for USER */
  POP3_S_PASS,     /* AUTHORIZATION, USER given, waiting for PASS */
  POP3_S_TRANS,    /* TRANSACTION: logged in, maildrop snapshot taken */
  POP3_S_DONE      /* after UPDATE, or a fatal error: waiting to be closed */
};
#define POP3_S_AUTHORIZATION (LAB_IN(POP3_S_USER) | LAB_IN(POP3_S_PASS))
#define POP3_S_ANY (POP3_S_AUTHORIZATION | LAB_IN(POP3_S_TRANS))

struct pop3_msg {
  int64_t uid;
  size_t size;
  unsigned flags;
  int deleted; /* DELE'd in this session */
};

struct pop3_session {
  int state; /* enum pop3_state; only pop3_set_state writes it */
  unsigned errors, auth_failures;
  char user[LIM_NAME_LEN + 2]; /* from USER; one byte more marks "too long" */

  /* TRANSACTION. */
  int64_t user_id;
  char name[sizeof((struct db_user *)0)->name];
  int64_t uidvalidity;
  struct pop3_msg *msgs; /* the snapshot, numbered 1..nmsgs */
  size_t nmsgs, alloc;
};

/* --- replies and state ------------------------------------------------------ */

/* The one place the state changes. Leaving TRANSACTION forgets the
 * snapshot; going back to wait for USER forgets the name given. */
static void pop3_set_state(struct pop3_session *s, enum pop3_state st) {
  if (st != POP3_S_TRANS) {
    free(s->msgs);
    s->msgs = NULL;
    s->nmsgs = s->alloc = 0;
  }
  if (st == POP3_S_USER || st == POP3_S_DONE) s->user[0] = '\0';
  s->state = st;
}

static void pop3_fatal(struct lab_conn *c, struct pop3_session *s, const char *line) {
  lab_printf(c, "%s\r\n", line);
  pop3_set_state(s, POP3_S_DONE);
  lab_close(c);
}

/* Sends "-ERR text" and counts it: a client that keeps failing is cut off.
 * The caller sends nothing afterwards, since this may have closed. */
static void pop3_err(struct lab_conn *c, struct pop3_session *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pop3_err(struct lab_conn *c, struct pop3_session *s, const char *fmt, ...) {
  char text[POP3_REPLY_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  lab_printf(c, "-ERR %s\r\n", text);
  if (++s->errors >= LIM_POP3_ERRORS) {
    lab_warn(c, "pop3: %u errors, closing", s->errors);
    pop3_fatal(c, s, "-ERR Too many errors in one session, closing connection");
  }
}

/* Live messages and their octets (DELE'd ones no longer count). */
static void pop3_totals(const struct pop3_session *s, size_t *count, size_t *octets) {
  size_t i;

  *count = *octets = 0;
  for (i = 0; i < s->nmsgs; i++) {
    if (s->msgs[i].deleted) continue;
    (*count)++;
    *octets += s->msgs[i].size;
  }
}

/* Parses a message number argument: 0 and *out = the index, or -1 after
 * sending the reason. */
static int pop3_msgno(struct lab_conn *c, struct pop3_session *s, const char *arg, const char *verb,
                      size_t *out) {
  size_t i, n = 0, digits = strlen(arg);

  for (i = 0; i < digits; i++)
    if (arg[i] < '0' || arg[i] > '9') digits = 0;
  if (digits == 0) {
    pop3_err(c, s, "Syntax: %s <message number>", verb);
    return -1;
  }
  if (digits > 9) {
    pop3_err(c, s, "No such message");
    return -1;
  }
  for (i = 0; i < digits; i++) n = n * 10 + (size_t)(arg[i] - '0');
  if (n == 0 || n > s->nmsgs) {
    pop3_err(c, s, "No such message (the maildrop holds %zu)", s->nmsgs);
    return -1;
  }
  if (s->msgs[n - 1].deleted) {
    pop3_err(c, s, "Message %zu is already deleted", n);
    return -1;
  }
  *out = n - 1;
  return 0;
}

/* --- AUTHORIZATION ------------------------------------------------------------ */

static int pop3_snapshot_add(void *arg, const struct db_mail *m) {
  struct pop3_session *s = arg;

  if (s->nmsgs >= LIM_MAILBOX_MESSAGES) return 1;
  struct pop3_msg *p = buf_array_room(s->msgs, s->nmsgs, &s->alloc, 16, sizeof *p);
  if (!p) return 1;
  s->msgs = p;
  s->msgs[s->nmsgs].uid = m->uid;
  s->msgs[s->nmsgs].size = m->size;
  s->msgs[s->nmsgs].flags = m->flags;
  s->msgs[s->nmsgs].deleted = 0;
  s->nmsgs++;
  return 0;
}

static void pop3_cmd_user(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  size_t n = strlen(args);

  /* A name that cannot exist is kept as "too long" so PASS fails the same
   * way as for any wrong name: USER never tells who exists. */
  if (n > LIM_NAME_LEN) n = LIM_NAME_LEN + 1;
  memcpy(s->user, args, n);
  s->user[n] = '\0';
  pop3_set_state(s, POP3_S_PASS);
  lab_printf(c, "+OK Send your password with PASS\r\n");
}

static void pop3_cmd_pass(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  struct db *db = lab_conn_ctx(c)->db;
  struct db_user u;
  struct db_mailbox mb;
  char user[sizeof s->user];
  size_t count, octets;
  int rc = 1;

  memcpy(user, s->user, sizeof user);
  pop3_set_state(s, POP3_S_USER);
  if (strlen(user) <= LIM_NAME_LEN && strlen(args) <= LIM_PASSWORD_LEN)
    rc = db_lab_login(db, user, args, &u);
  if (rc > 0) {
    lab_warn(c, "pop3: login failed for \"%s\"", user);
    s->auth_failures++;
    pop3_err(c, s, "[AUTH] Invalid user name or password");
    if (s->state != POP3_S_DONE && s->auth_failures >= LIM_POP3_AUTH_FAILURES)
      pop3_fatal(c, s, "-ERR Too many failed logins, closing connection");
    return;
  }
  if (rc == 0) {
    lab_conn_login(c, u.name);
    s->user_id = u.id;
    snprintf(s->name, sizeof s->name, "%s", u.name);
    pop3_set_state(s, POP3_S_TRANS);
    /* An account made before the lab servers existed gets its welcome
     * mail now (idempotent); reading mail works even if that fails. */
    labdata_seed_account(db, lab_conn_ctx(c)->secret, u.id, u.name);
    if (db_mailbox_get(db, u.id, "INBOX", &mb) == 0 &&
        db_mail_list(db, u.id, "INBOX", pop3_snapshot_add, s) == 0) {
      s->uidvalidity = mb.uidvalidity;
      pop3_totals(s, &count, &octets);
      lab_printf(c, "+OK Logged in as %s: %zu messages, %zu octets\r\n", s->name, count, octets);
      return;
    }
    pop3_set_state(s, POP3_S_USER);
  }
  pop3_err(c, s, "[SYS/TEMP] Cannot open the maildrop now, try again later");
}

/* --- TRANSACTION ------------------------------------------------------------- */

static void pop3_cmd_stat(struct lab_conn *c, void *sv, char *args) {
  size_t count, octets;

  pop3_totals(sv, &count, &octets);
  lab_printf(c, "+OK %zu %zu\r\n", count, octets);
}

static void pop3_cmd_list(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  size_t i, count, octets;

  if (*args) {
    if (pop3_msgno(c, s, args, "LIST", &i) == 0)
      lab_printf(c, "+OK %zu %zu\r\n", i + 1, s->msgs[i].size);
    return;
  }
  pop3_totals(s, &count, &octets);
  lab_printf(c, "+OK %zu messages (%zu octets)\r\n", count, octets);
  for (i = 0; i < s->nmsgs; i++)
    if (!s->msgs[i].deleted) lab_printf(c, "%zu %zu\r\n", i + 1, s->msgs[i].size);
  lab_printf(c, ".\r\n");
}

static void pop3_cmd_uidl(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  size_t i;

  /* uidvalidity.uid: unique and stable, the same pair IMAP reports. */
  if (*args) {
    if (pop3_msgno(c, s, args, "UIDL", &i) == 0)
      lab_printf(c, "+OK %zu %lld.%lld\r\n", i + 1, (long long)s->uidvalidity,
                 (long long)s->msgs[i].uid);
    return;
  }
  lab_printf(c, "+OK Unique ids follow\r\n");
  for (i = 0; i < s->nmsgs; i++)
    if (!s->msgs[i].deleted)
      lab_printf(c, "%zu %lld.%lld\r\n", i + 1, (long long)s->uidvalidity,
                 (long long)s->msgs[i].uid);
  lab_printf(c, ".\r\n");
}

/* Sends status, then the message as a multi-line response: every line
 * ended by CRLF, a leading "." doubled, ".\r\n" last. body_lines < 0
 * sends it all; otherwise the header, the blank line and that many body
 * lines (TOP). -1 (nothing sent) if out of memory. */
static int pop3_send_message(struct lab_conn *c, const char *status, const unsigned char *p,
                             size_t len, long body_lines) {
  size_t slen = strlen(status), i = 0, o = 0;
  unsigned char *out;
  int in_body = 0;

  /* Worst case: every byte a LF (becomes CRLF) or a "." after one. */
  out = malloc(slen + 2 * len + 8);
  if (!out) return -1;
  memcpy(out, status, slen);
  o = slen;
  while (i < len) {
    const unsigned char *lf = memchr(p + i, '\n', len - i);
    size_t end = lf ? (size_t)(lf - p) : len, l = end - i;
    if (in_body && body_lines >= 0 && body_lines-- == 0) break;
    if (lf && l && p[end - 1] == '\r') l--;
    if (l && p[i] == '.') out[o++] = '.';
    memcpy(out + o, p + i, l);
    o += l;
    out[o++] = '\r';
    out[o++] = '\n';
    if (l == 0) in_body = 1;
    i = lf ? end + 1 : len;
  }
  memcpy(out + o, ".\r\n", 3);
  o += 3;
  lab_send(c, out, o);
  free(out);
  return 0;
}

/* RETR (body_lines < 0) and TOP. 0 once the message went out, -1 after
 * an -ERR. */
static int pop3_fetch(struct lab_conn *c, struct pop3_session *s, size_t i, long body_lines) {
  struct db *db = lab_conn_ctx(c)->db;
  struct pop3_msg *m = &s->msgs[i];
  unsigned char *body = NULL;
  size_t len = 0;
  char status[64];
  int rc;

  rc = db_mail_get(db, s->user_id, "INBOX", m->uid, NULL, &body, &len);
  if (rc == 1) {
    pop3_err(c, s, "[SYS/PERM] Message %zu was removed by another session", i + 1);
    return -1;
  }
  if (rc != 0) {
    pop3_err(c, s, "[SYS/TEMP] Cannot read message %zu now, try again later", i + 1);
    return -1;
  }
  if (body_lines < 0)
    snprintf(status, sizeof status, "+OK %zu octets\r\n", m->size);
  else
    snprintf(status, sizeof status, "+OK Top of message %zu follows\r\n", i + 1);
  if (pop3_send_message(c, status, body, len, body_lines) != 0) {
    free(body);
    pop3_err(c, s, "[SYS/TEMP] Out of memory, try again later");
    return -1;
  }
  free(body);
  /* A retrieved message has been read, as IMAP will show (TOP is a peek). */
  if (body_lines < 0 && !(m->flags & DB_MAIL_SEEN) &&
      db_mail_set_flags(db, s->user_id, "INBOX", m->uid, m->flags | DB_MAIL_SEEN) == 0)
    m->flags |= DB_MAIL_SEEN;
  return 0;
}

static void pop3_cmd_retr(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  size_t i;
  char msg[24];
  if (pop3_msgno(c, sv, args, "RETR", &i) != 0) return;
  if (pop3_fetch(c, s, i, -1) != 0) return;
  snprintf(msg, sizeof msg, "%zu", i + 1);
  const char *kv[] = {"msg", msg, NULL};
  lab_event(c, s->name, "pop3.retr", kv);
}

static void pop3_cmd_top(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  char *lines = strchr(args, ' ');
  size_t i, k, digits;
  long n = 0;

  if (!lines) {
    pop3_err(c, s, "Syntax: TOP <message number> <lines>");
    return;
  }
  *lines++ = '\0';
  digits = strlen(lines);
  for (k = 0; k < digits; k++)
    if (lines[k] < '0' || lines[k] > '9') digits = 0;
  if (digits == 0) {
    pop3_err(c, s, "Syntax: TOP <message number> <lines>");
    return;
  }
  /* More lines than a message can hold is simply "all of them". */
  for (k = 0; k < digits && n < 1000000000L; k++) n = n * 10 + (lines[k] - '0');
  if (pop3_msgno(c, s, args, "TOP", &i) == 0) pop3_fetch(c, s, i, n);
}

static void pop3_cmd_dele(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  size_t i;

  if (pop3_msgno(c, s, args, "DELE", &i) != 0) return;
  s->msgs[i].deleted = 1;
  lab_printf(c, "+OK Message %zu marked for deletion at QUIT\r\n", i + 1);
}

static void pop3_cmd_rset(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  size_t i, count, octets;

  for (i = 0; i < s->nmsgs; i++) s->msgs[i].deleted = 0;
  pop3_totals(s, &count, &octets);
  lab_printf(c, "+OK Deletion marks removed: %zu messages, %zu octets\r\n", count, octets);
}

static void pop3_cmd_noop(struct lab_conn *c, void *sv, char *args) {
  lab_printf(c, "+OK\r\n");
}

/* --- any state ---------------------------------------------------------------- */

static void pop3_cmd_capa(struct lab_conn *c, void *sv, char *args) {
  lab_printf(c,
             "+OK Capabilities follow\r\n"
             "USER\r\n"
             "UIDL\r\n"
             "TOP\r\n"
             "PIPELINING\r\n"
             "RESP-CODES\r\n"
             "AUTH-RESP-CODE\r\n"
             "%s"
             "IMPLEMENTATION portlab\r\n"
             ".\r\n",
             lab_tls_available(c) && !lab_tls_active(c) ? "STLS\r\n" : "");
}

static int pop3_check_stls(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;

  if (!lab_tls_available(c)) {
    pop3_err(c, s, "STLS is not available here");
    return -1;
  }
  if (lab_tls_active(c)) {
    pop3_err(c, s, "Command not permitted when TLS active");
    return -1;
  }
  return 0;
}

/* RFC 2595 section 4: +OK, then the handshake; USER and PASS follow. */
static void pop3_cmd_stls(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;

  lab_printf(c, "+OK Begin TLS negotiation\r\n");
  if (lab_tls_start(c) != 0) {
    pop3_fatal(c, s, "-ERR [SYS/TEMP] TLS not available, closing connection");
    return;
  }
  pop3_set_state(s, POP3_S_USER);
}

/* QUIT from TRANSACTION is the UPDATE state (RFC 1939 section 6): the
 * marked messages go, all of them or (on a database error) none. */
static void pop3_cmd_quit(struct lab_conn *c, void *sv, char *args) {
  struct pop3_session *s = sv;
  struct db *db = lab_conn_ctx(c)->db;
  size_t i, gone = 0;
  int ok = 1;

  if (s->state != POP3_S_TRANS) {
    pop3_fatal(c, s, "+OK Bye");
    return;
  }
  if (db_lab_savepoint(db) != 0) ok = 0;
  for (i = 0; ok && i < s->nmsgs; i++) {
    if (!s->msgs[i].deleted) continue;
    /* 1 = already gone (IMAP expunged it): what we wanted anyway. */
    if (db_mail_delete(db, s->user_id, "INBOX", s->msgs[i].uid) < 0) ok = 0;
    gone++;
  }
  if (ok && db_lab_release(db) != 0) ok = 0;
  if (!ok) {
    db_lab_rollback(db);
    pop3_fatal(c, s, "-ERR [SYS/TEMP] Deleted messages could not be removed, they are still there");
    return;
  }
  lab_printf(c, "+OK Bye, %zu message%s removed\r\n", gone, gone == 1 ? "" : "s");
  pop3_set_state(s, POP3_S_DONE);
  lab_close(c);
}

static const struct lab_cmd pop3_cmds[] = {
    {"USER", POP3_S_AUTHORIZATION, pop3_cmd_user, LAB_ARGS_REQ, "USER <name>", NULL},
    {"PASS", LAB_IN(POP3_S_PASS), pop3_cmd_pass, LAB_ARGS_ANY, NULL, NULL},
    {"CAPA", POP3_S_ANY, pop3_cmd_capa, LAB_ARGS_ANY, NULL, NULL},
    {"STLS", POP3_S_AUTHORIZATION, pop3_cmd_stls, LAB_ARGS_ANY, NULL, pop3_check_stls},
    {"QUIT", POP3_S_ANY, pop3_cmd_quit, LAB_ARGS_ANY, NULL, NULL},
    {"STAT", LAB_IN(POP3_S_TRANS), pop3_cmd_stat, LAB_ARGS_ANY, NULL, NULL},
    {"LIST", LAB_IN(POP3_S_TRANS), pop3_cmd_list, LAB_ARGS_ANY, NULL, NULL},
    {"RETR", LAB_IN(POP3_S_TRANS), pop3_cmd_retr, LAB_ARGS_REQ, "RETR <message number>", NULL},
    {"TOP", LAB_IN(POP3_S_TRANS), pop3_cmd_top, LAB_ARGS_REQ, "TOP <message number> <lines>", NULL},
    {"DELE", LAB_IN(POP3_S_TRANS), pop3_cmd_dele, LAB_ARGS_REQ, "DELE <message number>", NULL},
    {"RSET", LAB_IN(POP3_S_TRANS), pop3_cmd_rset, LAB_ARGS_ANY, NULL, NULL},
    {"NOOP", LAB_IN(POP3_S_TRANS), pop3_cmd_noop, LAB_ARGS_ANY, NULL, NULL},
    {"UIDL", LAB_IN(POP3_S_TRANS), pop3_cmd_uidl, LAB_ARGS_ANY, NULL, NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static void pop3_refuse(struct lab_conn *c, void *sv, enum lab_refusal why, const char *verb,
                        const struct lab_cmd *row) {
  struct pop3_session *s = sv;

  switch (why) {
    case LAB_REFUSE_EMPTY:
      pop3_err(c, s, "Empty command");
      break;
    case LAB_REFUSE_UNKNOWN:
      pop3_err(c, s, "Unknown command \"%.32s\"", verb);
      break;
    case LAB_REFUSE_STATE:
      if (s->state == POP3_S_TRANS)
        pop3_err(c, s, "Already logged in");
      else if (strcmp(row->verb, "PASS") == 0)
        pop3_err(c, s, "Send USER first");
      else
        pop3_err(c, s, "Log in first (USER, then PASS)");
      break;
    case LAB_REFUSE_NUL:
      lab_warn(c, "pop3: NUL byte in a command");
      pop3_err(c, s, "NUL byte in command");
      break;
    case LAB_REFUSE_ARGS:
      pop3_err(c, s, "Syntax: %s", row->usage);
      break;
  }
}

static const struct lab_cmd_set pop3_commands = {pop3_cmds, 0, pop3_refuse, NULL};

/* --- module callbacks ----------------------------------------------------------- */

static int pop3_on_accept(struct lab_conn *c, void *sv) {
  pop3_set_state(sv, POP3_S_USER);
  lab_printf(c, "+OK portlab POP3 lab server ready, log in with USER and PASS\r\n");
  return 0;
}

static void pop3_on_line(struct lab_conn *c, void *sv, char *line, size_t len,
                         enum lab_line_end end) {
  struct pop3_session *s = sv;

  if (s->state == POP3_S_DONE) return;
  /* A NUL anywhere is refused before the verb is looked at. */
  if (strlen(line) != len) {
    pop3_refuse(c, s, LAB_REFUSE_NUL, "", NULL);
    return;
  }
  lab_cmd_dispatch(c, s, &pop3_commands, s->state, line, len);
}

static void pop3_on_overlong(struct lab_conn *c, void *sv) {
  lab_warn(c, "pop3: line over %d bytes", LIM_POP3_LINE);
  pop3_fatal(c, sv, "-ERR Line too long, closing connection");
}

/* RFC 1939 section 3: an autologout timer does not enter UPDATE. */
static void pop3_on_timeout(struct lab_conn *c, void *sv) {
  pop3_fatal(c, sv, "-ERR Idle for too long, closing connection; nothing was deleted");
}

static void pop3_on_close(struct lab_conn *c, void *sv) {
  pop3_set_state(sv, POP3_S_DONE);
}

const struct lab_module lab_pop3 = {
    .name = "pop3",
    .line_max = LIM_POP3_LINE,
    .session_size = sizeof(struct pop3_session),
    .on_accept = pop3_on_accept,
    .on_line = pop3_on_line,
    .on_overlong = pop3_on_overlong,
    .on_timeout = pop3_on_timeout,
    .on_close = pop3_on_close,
};
