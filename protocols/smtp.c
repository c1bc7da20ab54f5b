/* smtp.c -- the lab's SMTP server: delivers mail to lab mailboxes, never relays.
 *
 * Implements RFC 5321 (SMTP: HELO, EHLO, MAIL, RCPT, DATA, RSET, NOOP,
 * VRFY, HELP, QUIT; the 512/1000-octet line limits of section 4.5.3.1),
 * RFC 1870 (SIZE, advertised and checked on MAIL), RFC 6152 (8BITMIME),
 * RFC 2920 (PIPELINING: replies go out in command order, which the line
 * framework gives us for free), RFC 2034 and RFC 3463 (enhanced status
 * codes), RFC 4954 (AUTH) with the PLAIN mechanism of RFC 4616 and the
 * LOGIN mechanism (draft-murchison-sasl-login), and RFC 3848 ("ESMTPA" in
 * the Received: line). AUTH is offered in the clear on port 25 on purpose:
 * the lesson is that base64 is not encryption, and the transcript shows it.
 *
 * TLS: RFC 3207 (STARTTLS) on 25 and on the submission port 587 (RFC
 * 6409), where AUTH is offered and accepted only after STARTTLS (530
 * 5.7.0 before), and RFC 8314 implicit TLS on 465. After STARTTLS the
 * session starts over (no HELO, no AUTH: RFC 3207 section 4.2), and
 * anything the client pipelined after the command is discarded by the
 * framework, never executed. EHLO lists STARTTLS only while not in TLS.
 *
 * Only <CRLF>.<CRLF> ends a message (RFC 5321 section 4.1.1.4). A line
 * ended by a bare LF, or holding a bare CR, never ends it -- not even a
 * lone "." -- because a server that accepted "\n.\n" or "\r.\r" as the end
 * would let a sender smuggle a second message past a front-end that reads
 * the stream correctly ("SMTP smuggling", 2023). Like Postfix and Exim
 * after that disclosure, such a message is read to its real end and then
 * refused with 554 5.6.11, so nothing after the fake end is ever taken as
 * a command. Command lines ended by a bare LF are accepted, since people
 * typing into nc send those.
 *
 * Limits: a command line over LIM_SMTP_COMMAND_LINE and a text line over
 * LIM_SMTP_TEXT_LINE (both counting the CRLF) get 500 and the connection
 * ends: the stream can no longer be trusted to be in step. A message over
 * LIM_SMTP_MESSAGE_BYTES is read to its end and refused with 552 5.3.4.
 * Recipients are lab accounts only (550 5.7.1 for any other domain, even
 * after AUTH), at most LIM_SMTP_RECIPIENTS per message (452 4.5.3).
 * "postmaster" (RFC 5321 section 4.5.1, any case, @lab or bare) is the
 * student behind the connection (relay session, else AUTH): each student
 * is the postmaster of their own lab; with nobody known, 530 5.7.0.
 * Each account stores at most LIM_MAIL_QUOTA_BYTES of mail: a recipient
 * already at the quota gets 452 4.2.2 at RCPT, and a message that would
 * take any recipient past it is refused for all with 552 5.2.2 (RFC 3463
 * "mailbox full").
 * LIM_SMTP_ERRORS error replies without a delivery, or
 * LIM_SMTP_AUTH_FAILURES failed logins, end the session with 421 as
 * Postfix's smtpd_hard_error_limit does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "crypto.h"
#include "lab.h"
#include "labdb.h"
#include "mailmsg.h"
#include "portlab_limits.h"
#include "sasl.h"

#define SMTP_HOST "lab"    /* our host name and the only mail domain we accept */
#define SMTP_REPLY_MAX 600 /* one reply line; every reply we build is far shorter */

enum smtp_state {
  SMTP_S_GREET = 0, /* connected, no HELO/EHLO yet */
  SMTP_S_READY,     /* greeted, no mail transaction */
  SMTP_S_MAIL,      /* MAIL FROM accepted */
  SMTP_S_RCPT,      /* at least one RCPT TO accepted */
  SMTP_S_DATA,      /* reading the message after 354 */
  SMTP_S_AUTH,      /* inside an AUTH exchange (334 sent) */
  SMTP_S_DONE       /* QUIT or a fatal error: waiting to be closed */
};
/* The states where a line is a command. */
#define SMTP_S_COMMANDS \
  (LAB_IN(SMTP_S_GREET) | LAB_IN(SMTP_S_READY) | LAB_IN(SMTP_S_MAIL) | LAB_IN(SMTP_S_RCPT))

enum smtp_auth_step { SMTP_AUTH_PLAIN = 1, SMTP_AUTH_LOGIN_USER, SMTP_AUTH_LOGIN_PASS };

/* Why a message read to its end is refused anyway. */
enum smtp_data_fault { SMTP_DATA_OK = 0, SMTP_DATA_BARE_NEWLINE, SMTP_DATA_NUL, SMTP_DATA_TOO_BIG };

struct smtp_rcpt {
  int64_t user_id;
  char name[sizeof((struct db_user *)0)->name];
};

struct smtp_session {
  int state; /* enum smtp_state; only smtp_set_state writes it */
  int esmtp; /* the client said EHLO: parameters and extensions are on */
  char helo[LIM_HOSTNAME_LEN + 1];
  unsigned errors, auth_failures;
  enum lab_line_end cmd_end; /* how the current command line ended */

  int authed;
  char auth_name[sizeof((struct db_user *)0)->name];
  int auth_step;                     /* enum smtp_auth_step */
  char login_user[LIM_NAME_LEN + 2]; /* AUTH LOGIN's first answer; one byte more marks "too long" */

  /* The mail transaction. */
  char sender[LIM_SMTP_PATH + 1];
  struct smtp_rcpt rcpt[LIM_SMTP_RECIPIENTS];
  size_t nrcpt;

  /* DATA. */
  struct buf body;
  int data_prev_crlf; /* the previous line ended with CRLF: a "." may end the message */
  int data_fault;     /* enum smtp_data_fault, the first one seen */
};

/* --- replies and state --------------------------------------------------- */

/* The one place the state changes. Leaving a transaction (back to GREET or
 * READY) forgets the envelope and any message text; entering DATA starts
 * an empty message. */
static void smtp_set_state(struct smtp_session *s, enum smtp_state st) {
  if (st == SMTP_S_GREET || st == SMTP_S_READY || st == SMTP_S_DONE) {
    s->sender[0] = '\0';
    s->nrcpt = 0;
    buf_free(&s->body);
    s->data_fault = SMTP_DATA_OK;
  }
  if (st == SMTP_S_DATA) {
    buf_init(&s->body, LIM_SMTP_MESSAGE_BYTES);
    s->data_fault = SMTP_DATA_OK;
  }
  if (st != SMTP_S_AUTH) {
    s->auth_step = 0;
    explicit_bzero(s->login_user, sizeof s->login_user);
  }
  s->state = st;
}

/* Sends a final reply and closes the connection. */
static void smtp_fatal(struct lab_conn *c, struct smtp_session *s, const char *line) {
  lab_printf(c, "%s\r\n", line);
  smtp_set_state(s, SMTP_S_DONE);
  lab_close(c);
}

/* Sends one reply line "code text". Error replies are counted: a client
 * that keeps failing (a scanner, an enumeration loop) is cut off. The
 * caller must send nothing after an error reply, which may have closed. */
static void smtp_reply(struct lab_conn *c, struct smtp_session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void smtp_reply(struct lab_conn *c, struct smtp_session *s, int code, const char *fmt, ...) {
  char text[SMTP_REPLY_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  lab_printf(c, "%d %s\r\n", code, text);
  if (code < 400) return;
  if (++s->errors >= LIM_SMTP_ERRORS) {
    lab_warn(c, "smtp: %u errors, closing", s->errors);
    smtp_fatal(c, s, "421 4.7.0 " SMTP_HOST " Too many errors in one session, closing connection");
  }
}

/* --- addresses ------------------------------------------------------------ */

/* Parses a path ("<local@domain>", "<>", or a bare "local@domain" as
 * people type it) at p, after "FROM:" or "TO:" and optional spaces.
 * Copies the mailbox without brackets or an obsolete source route
 * ("@a,@b:", RFC 5321 appendix C) into out; *params points at what
 * follows. -1 on a syntax error or a path over LIM_SMTP_PATH. */
static int smtp_parse_path(char *p, char *out, size_t outlen, char **params) {
  char *start, *end;
  size_t n, i;
  int quoted = 0;

  while (*p == ' ') p++;
  if (*p == '<') {
    start = ++p;
    for (; *p; p++) {
      if (quoted) {
        if (*p == '\\' && p[1])
          p++;
        else if (*p == '"')
          quoted = 0;
      } else if (*p == '"') {
        quoted = 1;
      } else if (*p == '>') {
        break;
      }
    }
    if (*p != '>') return -1;
    end = p++;
    if (*p && *p != ' ') return -1;
  } else {
    start = p;
    while (*p && *p != ' ') p++;
    end = p;
    if (start == end) return -1;
  }
  if (start < end && *start == '@') {
    char *colon = memchr(start, ':', (size_t)(end - start));
    if (!colon) return -1;
    start = colon + 1;
  }
  n = (size_t)(end - start);
  if (n + 2 > LIM_SMTP_PATH || n >= outlen) return -1;
  /* No SMTPUTF8 (RFC 6531) is offered, so an address is printable ASCII. */
  for (i = 0; i < n; i++)
    if ((unsigned char)start[i] <= ' ' || (unsigned char)start[i] >= 0x7f) return -1;
  memcpy(out, start, n);
  out[n] = '\0';
  while (*p == ' ') p++;
  *params = p;
  return 0;
}

/* Splits a mailbox at its last '@' in place. *domain is NULL when there
 * is none. -1 if a part is empty or over RFC 5321's lengths. */
static int smtp_split_mailbox(char *box, char **local, char **domain) {
  char *at = strrchr(box, '@');

  *local = box;
  *domain = NULL;
  if (at) {
    *at = '\0';
    *domain = at + 1;
    if (**domain == '\0' || strlen(*domain) > LIM_SMTP_DOMAIN) return -1;
  }
  if (**local == '\0' || strlen(*local) > LIM_SMTP_LOCAL_PART) return -1;
  return 0;
}

/* Looks a local part up among the lab accounts: 0 found, 1 unknown, -1 db error. */
static int smtp_lookup(struct lab_conn *c, const char *local, struct db_user *u) {
  if (strlen(local) > LIM_NAME_LEN) return 1;
  return db_lab_account(lab_conn_ctx(c)->db, local, u);
}

/* RFC 5321 section 4.5.1: "postmaster", in any case, with our domain or
 * none, must be accepted. Each student is the postmaster of their own
 * lab, so it names the mailbox of the student behind this connection: the
 * one whose relay session it is, else the lab account logged in with
 * AUTH. No other mailbox ever gets it, so no student reads mail another
 * sent to postmaster; and the shared demo account, which everyone may
 * read, is nobody's postmaster. With no student known the address is
 * refused, saying how to become known. 0 with *u the student, or -1 once
 * the refusal has been sent. */
static int smtp_postmaster(struct lab_conn *c, struct smtp_session *s, struct db_user *u) {
  struct db *db = lab_conn_ctx(c)->db;
  int64_t id = lab_conn_user(c, s->authed ? s->auth_name : NULL);

  if (id && db_user_by_id(db, id, u) == 0 && db_lab_account(db, u->name, u) == 0) {
    if (strcmp(u->name, LABDB_DEMO_USER) != 0) return 0;
    smtp_reply(c, s, 550,
               "5.7.1 <postmaster@" SMTP_HOST ">: the shared " LABDB_DEMO_USER
               " account has no postmaster (everyone can read its mail); "
               "log in with your own lab account");
    return -1;
  }
  smtp_reply(c, s, 530,
             "5.7.0 <postmaster@" SMTP_HOST
             ">: every student is the postmaster of their own lab; "
             "authenticate (AUTH) so the server knows whose");
  return -1;
}

static int smtp_is_postmaster(const char *local) {
  return strcasecmp(local, "postmaster") == 0;
}

/* --- AUTH ------------------------------------------------------------------- */

/* Checks the credentials and answers; ends the AUTH exchange either way. */
static void smtp_auth_finish(struct lab_conn *c, struct smtp_session *s, const char *user,
                             const char *password) {
  struct db_user u;
  int rc = -2; /* -2: malformed, refused without asking the database */

  smtp_set_state(s, SMTP_S_READY);
  if (user[0] && strlen(user) <= LIM_NAME_LEN && strlen(password) <= LIM_PASSWORD_LEN)
    rc = db_lab_login(lab_conn_ctx(c)->db, user, password, &u);
  if (rc == 0) {
    lab_conn_login(c, u.name);
    s->authed = 1;
    snprintf(s->auth_name, sizeof s->auth_name, "%s", u.name);
    smtp_reply(c, s, 235, "2.7.0 Authentication successful, welcome %s", u.name);
    return;
  }
  if (rc == -1) {
    smtp_reply(c, s, 454, "4.7.0 Temporary authentication failure, try again later");
    return;
  }
  lab_warn(c, "smtp: authentication failed for \"%.*s\"", LIM_NAME_LEN, user);
  s->auth_failures++;
  smtp_reply(c, s, 535, "5.7.8 Authentication credentials invalid");
  if (s->state != SMTP_S_DONE && s->auth_failures >= LIM_SMTP_AUTH_FAILURES)
    smtp_fatal(c, s, "421 4.7.0 " SMTP_HOST " Too many failed logins, closing connection");
}

/* RFC 4616: authzid NUL authcid NUL passwd. An authzid other than the
 * authcid would mean "act as someone else", which nobody may here. */
static void smtp_auth_plain(struct lab_conn *c, struct smtp_session *s, unsigned char *p,
                            size_t n) {
  struct sasl_plain sp;
  const char *user;

  if (sasl_plain_split(p, n, &sp) != 0) {
    smtp_set_state(s, SMTP_S_READY);
    smtp_reply(c, s, 501, "5.5.2 PLAIN wants authzid NUL user NUL password");
    return;
  }
  p[n] = '\0'; /* the caller left room: each part is now a C string */
  user = (const char *)sp.user;
  if (sp.authz_len && strcasecmp((const char *)sp.authz, user) != 0) user = ""; /* refused below */
  smtp_auth_finish(c, s, user, (const char *)sp.pass);
}

/* One base64 answer: the initial response or a line after 334. */
static void smtp_auth_answer(struct lab_conn *c, struct smtp_session *s, const char *text,
                             size_t len) {
  unsigned char dec[LIM_SMTP_TEXT_LINE];
  size_t n = 0;

  if (!(len == 1 && text[0] == '=') && sasl_b64_decode(text, len, dec, sizeof dec - 1, &n) != 0) {
    smtp_set_state(s, SMTP_S_READY);
    smtp_reply(c, s, 501, "5.5.2 Cannot decode the base64 answer");
    return;
  }
  switch (s->auth_step) {
    case SMTP_AUTH_PLAIN:
      smtp_auth_plain(c, s, dec, n);
      break;
    case SMTP_AUTH_LOGIN_USER:
      /* A name too long or holding NUL is remembered as invalid (one byte
       * over the cap) so the answer still waits for the password and
       * tells nothing about which half was wrong. */
      if (n > LIM_NAME_LEN || memchr(dec, '\0', n)) {
        memset(s->login_user, 'x', LIM_NAME_LEN + 1);
        s->login_user[LIM_NAME_LEN + 1] = '\0';
      } else {
        memcpy(s->login_user, dec, n);
        s->login_user[n] = '\0';
      }
      s->auth_step = SMTP_AUTH_LOGIN_PASS;
      lab_printf(c, "334 UGFzc3dvcmQ6\r\n"); /* "Password:" */
      break;
    case SMTP_AUTH_LOGIN_PASS: {
      char user[sizeof s->login_user];
      memcpy(user, s->login_user, sizeof user);
      dec[n] = '\0';
      if (memchr(dec, '\0', n)) user[0] = '\0';
      smtp_auth_finish(c, s, strlen(user) > LIM_NAME_LEN ? "" : user, (char *)dec);
      explicit_bzero(user, sizeof user);
      break;
    }
    default:
      smtp_set_state(s, SMTP_S_READY);
      break;
  }
  explicit_bzero(dec, sizeof dec);
}

/* A line inside the AUTH exchange: "*" cancels (RFC 4954 section 4). */
static void smtp_auth_line(struct lab_conn *c, struct smtp_session *s, char *line, size_t len) {
  if (len == 1 && line[0] == '*') {
    smtp_set_state(s, SMTP_S_READY);
    smtp_reply(c, s, 501, "5.0.0 Authentication cancelled");
    return;
  }
  smtp_auth_answer(c, s, line, len);
}

/* The Received: line's "with" (RFC 3848): S for TLS, A for AUTH. */
static const char *smtp_with_type(struct lab_conn *c, const struct smtp_session *s) {
  static const char *const types[] = {"ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA"};
  if (!s->esmtp) return "SMTP";
  return types[(lab_tls_active(c) ? 2 : 0) + (s->authed ? 1 : 0)];
}

/* The submission port takes passwords only inside TLS. */
static int smtp_auth_needs_tls(struct lab_conn *c) {
  return lab_conn_service_port(c) == 587 && !lab_tls_active(c);
}

static int smtp_check_auth(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;

  if (smtp_auth_needs_tls(c)) {
    smtp_reply(c, s, 530, "5.7.0 Must issue a STARTTLS command first");
    return -1;
  }
  if (s->authed) {
    smtp_reply(c, s, 503, "5.5.1 Already authenticated");
    return -1;
  }
  return 0;
}

static void smtp_cmd_auth(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;
  char *initial = strchr(args, ' ');

  if (initial) {
    *initial++ = '\0';
    while (*initial == ' ') initial++;
  }
  if (strcasecmp(args, "PLAIN") == 0) {
    smtp_set_state(s, SMTP_S_AUTH);
    s->auth_step = SMTP_AUTH_PLAIN;
  } else if (strcasecmp(args, "LOGIN") == 0) {
    smtp_set_state(s, SMTP_S_AUTH);
    s->auth_step = SMTP_AUTH_LOGIN_USER;
  } else {
    smtp_reply(c, s, 504, "5.5.4 Unrecognized authentication type (try PLAIN or LOGIN)");
    return;
  }
  if (initial && *initial) {
    smtp_auth_answer(c, s, initial, strlen(initial));
    return;
  }
  if (s->auth_step == SMTP_AUTH_PLAIN)
    lab_printf(c, "334 \r\n");
  else
    lab_printf(c, "334 VXNlcm5hbWU6\r\n"); /* "Username:" */
}

/* --- DATA ------------------------------------------------------------------- */

/* The message's Subject header (first line of it), or "". */
static void smtp_subject(const char *msg, size_t len, char *out, size_t outlen) {
  out[0] = '\0';
  for (size_t i = 0; i < len;) {
    const char *line = msg + i, *nl = memchr(line, '\n', len - i);
    size_t n = nl ? (size_t)(nl - line) : len - i;
    if (n == 0 || (n == 1 && line[0] == '\r')) return; /* end of the header block */
    if (n > 8 && strncasecmp(line, "Subject:", 8) == 0) {
      size_t start = 8, end = n;
      while (start < end && (line[start] == ' ' || line[start] == '\t')) start++;
      while (end > start && (line[end - 1] == '\r' || line[end - 1] == ' ')) end--;
      snprintf(out, outlen, "%.*s", (int)(end - start), line + start);
      return;
    }
    i += n + 1;
  }
}

/* One lab event per recipient, for lesson check tasks. */
static void smtp_record_delivery(struct lab_conn *c, struct smtp_session *s, const char *body,
                                 size_t len) {
  char subject[256], to[LIM_NAME_LEN + 8];
  smtp_subject(body, len, subject, sizeof subject);
  for (size_t i = 0; i < s->nrcpt; i++) {
    snprintf(to, sizeof to, "%s@" SMTP_HOST, s->rcpt[i].name);
    const char *kv[] = {"to", to, "from", s->sender, "subject", subject, NULL};
    lab_event(c, s->authed ? s->auth_name : NULL, "smtp.delivered", kv);
  }
}

/* 1 if storing len more bytes would take the account past its mail quota
 * (exactly reaching it is allowed), 0 if not, -1 on a database error. */
static int smtp_over_quota(struct db *db, int64_t user_id, size_t len) {
  int64_t used = 0;

  if (db_mail_usage(db, user_id, &used) != 0) return -1;
  return used + (int64_t)len > LIM_MAIL_QUOTA_BYTES;
}

/* Final delivery (RFC 5321 section 4.4): Return-Path and Received go on
 * top, then the message lands in every recipient's INBOX, all or none.
 * Returns 0, -1 on a local error, or 1 if a recipient's quota refused it;
 * then *full names that recipient. */
static int smtp_deliver(struct lab_conn *c, struct smtp_session *s, const char *qid,
                        const char **full) {
  struct db *db = lab_conn_ctx(c)->db;
  char hdr[2048], date[64], forpart[128] = "", authpart[128] = "";
  time_t now = time(NULL);
  unsigned char *msg = NULL;
  size_t i, hlen, blen = buf_len(&s->body);
  int n;

  mailmsg_date_format(now, date, sizeof date);
  if (s->nrcpt == 1)
    snprintf(forpart, sizeof forpart, "\r\n\tfor <%s@" SMTP_HOST ">", s->rcpt[0].name);
  if (s->authed) snprintf(authpart, sizeof authpart, "\r\n\t(authenticated as %s)", s->auth_name);
  n = snprintf(hdr, sizeof hdr,
               "Return-Path: <%s>\r\n"
               "Received: from %s ([%s])%s\r\n"
               "\tby " SMTP_HOST
               " (portlab) with %s id %s%s;\r\n"
               "\t%s\r\n",
               s->sender, s->helo, lab_conn_peer(c), authpart, smtp_with_type(c, s), qid, forpart,
               date);
  if (n < 0 || (size_t)n >= sizeof hdr) return -1;
  hlen = (size_t)n;
  msg = malloc(hlen + blen + 1);
  if (!msg) return -1;
  memcpy(msg, hdr, hlen);
  if (blen) memcpy(msg + hlen, buf_head(&s->body), blen);
  /* All or none: one recipient over quota refuses the whole message
   * (552 after DATA ends the transaction for every recipient, RFC 5321
   * section 4.2.5), so the sender never has to work out who got it. The
   * size counted is what is stored, trace headers included. */
  for (i = 0; i < s->nrcpt; i++) {
    n = smtp_over_quota(db, s->rcpt[i].user_id, hlen + blen);
    if (n < 0) goto fail;
    if (n > 0) {
      *full = s->rcpt[i].name;
      free(msg);
      return 1;
    }
  }
  if (db_lab_savepoint(db) != 0) goto fail;
  for (i = 0; i < s->nrcpt; i++) {
    if (db_mail_append(db, s->rcpt[i].user_id, "INBOX", msg, hlen + blen, 0, (int64_t)now, NULL) !=
        0) {
      db_lab_rollback(db);
      goto fail;
    }
  }
  if (db_lab_release(db) != 0) {
    db_lab_rollback(db);
    goto fail;
  }
  smtp_record_delivery(c, s, (const char *)msg + hlen, blen);
  free(msg);
  return 0;

fail:
  free(msg);
  return -1;
}

/* The end of the message: deliver, or say why not. Either way the
 * transaction is over (RFC 5321 section 4.1.1.4). */
static void smtp_data_end(struct lab_conn *c, struct smtp_session *s) {
  unsigned char rnd[5];
  char qid[11];
  const char *full = "";
  int fault = s->data_fault, rc = -1;

  if (fault == SMTP_DATA_OK) {
    if (crypto_random(rnd, sizeof rnd) != 0) memset(rnd, 0, sizeof rnd);
    snprintf(qid, sizeof qid, "%02X%02X%02X%02X%02X", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4]);
    rc = smtp_deliver(c, s, qid, &full);
  }
  smtp_set_state(s, SMTP_S_READY);
  switch (fault) {
    case SMTP_DATA_BARE_NEWLINE:
      smtp_reply(c, s, 554,
                 "5.6.11 Message refused: bare LF or CR in the text (only CRLF ends a line)");
      break;
    case SMTP_DATA_NUL:
      smtp_reply(c, s, 554, "5.6.0 Message refused: NUL byte in the text");
      break;
    case SMTP_DATA_TOO_BIG:
      smtp_reply(c, s, 552, "5.3.4 Message too big (limit %d bytes)", LIM_SMTP_MESSAGE_BYTES);
      break;
    default:
      if (rc == 0) {
        s->errors = 0; /* like Postfix: a delivery clears the error count */
        smtp_reply(c, s, 250, "2.0.0 Message accepted for delivery, id %s", qid);
      } else if (rc == 1) {
        lab_warn(c, "smtp: message refused: %s@" SMTP_HOST " would exceed the mail quota", full);
        smtp_reply(c, s, 552,
                   "5.2.2 <%s@" SMTP_HOST
                   ">: Mailbox full (quota %d bytes); message not delivered to anyone",
                   full, LIM_MAIL_QUOTA_BYTES);
      } else {
        smtp_reply(c, s, 451, "4.3.0 Local error while storing the message, try again later");
      }
  }
}

static void smtp_data_fault(struct lab_conn *c, struct smtp_session *s, int fault) {
  if (s->data_fault != SMTP_DATA_OK) return;
  s->data_fault = fault;
  buf_free(&s->body); /* the message will be refused: stop keeping it */
  if (fault == SMTP_DATA_BARE_NEWLINE) lab_warn(c, "smtp: bare LF or CR in DATA (smuggling guard)");
  if (fault == SMTP_DATA_NUL) lab_warn(c, "smtp: NUL byte in DATA");
  if (fault == SMTP_DATA_TOO_BIG)
    lab_warn(c, "smtp: message over %d bytes", LIM_SMTP_MESSAGE_BYTES);
}

static void smtp_data_line(struct lab_conn *c, struct smtp_session *s, char *line, size_t len,
                           enum lab_line_end end) {
  int crlf = end == LAB_CRLF;

  if (crlf && s->data_prev_crlf && len == 1 && line[0] == '.') {
    smtp_data_end(c, s);
    return;
  }
  s->data_prev_crlf = crlf;
  if (!crlf || memchr(line, '\r', len)) smtp_data_fault(c, s, SMTP_DATA_BARE_NEWLINE);
  if (memchr(line, '\0', len)) smtp_data_fault(c, s, SMTP_DATA_NUL);
  if (s->data_fault != SMTP_DATA_OK) return;
  if (len > 0 && line[0] == '.') { /* dot-stuffing, RFC 5321 section 4.5.2 */
    line++;
    len--;
  }
  if (buf_append(&s->body, line, len) != 0 || buf_append(&s->body, "\r\n", 2) != 0)
    smtp_data_fault(c, s, SMTP_DATA_TOO_BIG);
}

static void smtp_cmd_data(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;

  smtp_set_state(s, SMTP_S_DATA);
  /* The DATA line's own CRLF is the first half of an immediate end. */
  s->data_prev_crlf = s->cmd_end == LAB_CRLF;
  lab_printf(c, "354 Go ahead; end the message with a line holding only \".\" (CRLF.CRLF)\r\n");
}

/* --- the envelope ----------------------------------------------------------- */

static void smtp_cmd_mail(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;
  char path[LIM_SMTP_PATH + 1], *params, *tok, *save = NULL;

  if (strncasecmp(args, "FROM:", 5) != 0) {
    smtp_reply(c, s, 501, "5.5.4 Syntax: MAIL FROM:<address>");
    return;
  }
  if (smtp_parse_path(args + 5, path, sizeof path, &params) != 0) {
    smtp_reply(c, s, 501, "5.1.7 Bad sender address syntax");
    return;
  }
  if (*params && !s->esmtp) {
    smtp_reply(c, s, 555, "5.5.4 MAIL parameters need EHLO first");
    return;
  }
  for (tok = strtok_r(params, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char *val = strchr(tok, '=');
    if (val) *val++ = '\0';
    if (strcasecmp(tok, "SIZE") == 0) { /* RFC 1870 section 6 */
      size_t i, digits = val ? strlen(val) : 0;
      unsigned long long size;
      for (i = 0; i < digits; i++)
        if (val[i] < '0' || val[i] > '9') digits = 0;
      if (digits == 0) {
        smtp_reply(c, s, 501, "5.5.4 Syntax: SIZE=<number of bytes>");
        return;
      }
      size = digits > 19 ? 0 : strtoull(val, NULL, 10);
      if (digits > 19 || size > LIM_SMTP_MESSAGE_BYTES) {
        smtp_reply(c, s, 552, "5.3.4 Message size exceeds the limit of %d bytes",
                   LIM_SMTP_MESSAGE_BYTES);
        return;
      }
    } else if (strcasecmp(tok, "BODY") == 0) { /* RFC 6152 */
      if (!val || (strcasecmp(val, "7BIT") != 0 && strcasecmp(val, "8BITMIME") != 0)) {
        smtp_reply(c, s, 501, "5.5.4 Syntax: BODY=7BIT or BODY=8BITMIME");
        return;
      }
    } else if (strcasecmp(tok, "AUTH") == 0 && val) {
      /* RFC 4954 section 5: informative only, and we trust no one's claim. */
    } else {
      smtp_reply(c, s, 555, "5.5.4 Unsupported MAIL parameter %.40s", tok);
      return;
    }
  }
  snprintf(s->sender, sizeof s->sender, "%s", path);
  smtp_set_state(s, SMTP_S_MAIL);
  smtp_reply(c, s, 250, "2.1.0 Sender <%s> OK", s->sender);
}

static void smtp_cmd_rcpt(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;
  char path[LIM_SMTP_PATH + 1], *params, *local, *domain;
  const char *to;
  struct db_user u;
  struct db_mailbox mb;
  size_t i;
  int rc, postmaster;

  if (strncasecmp(args, "TO:", 3) != 0) {
    smtp_reply(c, s, 501, "5.5.4 Syntax: RCPT TO:<address>");
    return;
  }
  if (smtp_parse_path(args + 3, path, sizeof path, &params) != 0 || path[0] == '\0' ||
      smtp_split_mailbox(path, &local, &domain) != 0) {
    smtp_reply(c, s, 501, "5.1.3 Bad recipient address syntax");
    return;
  }
  if (*params) {
    smtp_reply(c, s, 555, "5.5.4 RCPT parameters are not supported");
    return;
  }
  if (s->nrcpt >= LIM_SMTP_RECIPIENTS) {
    smtp_reply(c, s, 452, "4.5.3 Too many recipients (at most %d per message)",
               LIM_SMTP_RECIPIENTS);
    return;
  }
  /* No relaying, for anyone: an open relay is the classic SMTP mistake. */
  if (domain && strcasecmp(domain, SMTP_HOST) != 0) {
    lab_warn(c, "smtp: relay attempt to domain \"%.64s\"", domain);
    smtp_reply(c, s, 550,
               "5.7.1 <%s@%s>: Relay access denied; only @" SMTP_HOST
               " addresses are delivered here",
               local, domain);
    return;
  }
  postmaster = smtp_is_postmaster(local);
  if (postmaster) {
    if (smtp_postmaster(c, s, &u) != 0) return;
  } else {
    rc = smtp_lookup(c, local, &u);
    if (rc < 0) {
      smtp_reply(c, s, 451, "4.3.0 Local error looking up the recipient, try again later");
      return;
    }
    if (rc != 0) {
      smtp_reply(c, s, 550, "5.1.1 <%s@" SMTP_HOST ">: No such user here", local);
      return;
    }
  }
  /* The address as the envelope names it: the Received: line's "for",
   * the lab event's "to" and the replies say postmaster, not who it is. */
  to = postmaster ? "postmaster" : u.name;
  for (i = 0; i < s->nrcpt; i++)
    if (s->rcpt[i].user_id == u.id) break;
  if (i == s->nrcpt) {
    if (db_mailbox_get(lab_conn_ctx(c)->db, u.id, "INBOX", &mb) == 0 &&
        mb.messages >= LIM_MAILBOX_MESSAGES) {
      smtp_reply(c, s, 452, "4.2.2 <%s@" SMTP_HOST ">: Mailbox full", to);
      return;
    }
    /* At the quota already (not even one more byte fits; a message has
     * trace headers at least). One that would cross it is refused after
     * DATA, when its size is known. */
    rc = smtp_over_quota(lab_conn_ctx(c)->db, u.id, 1);
    if (rc < 0) {
      smtp_reply(c, s, 451, "4.3.0 Local error looking up the recipient, try again later");
      return;
    }
    if (rc > 0) {
      lab_warn(c, "smtp: recipient %s is at the mail quota", u.name);
      smtp_reply(c, s, 452, "4.2.2 <%s@" SMTP_HOST ">: Mailbox full (quota %d bytes)", to,
                 LIM_MAIL_QUOTA_BYTES);
      return;
    }
    s->rcpt[s->nrcpt].user_id = u.id;
    snprintf(s->rcpt[s->nrcpt].name, sizeof s->rcpt[s->nrcpt].name, "%s", to);
    s->nrcpt++;
  }
  smtp_set_state(s, SMTP_S_RCPT);
  if (postmaster)
    smtp_reply(c, s, 250, "2.1.5 Recipient <postmaster@" SMTP_HOST "> OK (that is you, %s)",
               u.name);
  else
    smtp_reply(c, s, 250, "2.1.5 Recipient <%s@" SMTP_HOST "> OK", u.name);
}

/* --- the other commands ---------------------------------------------------- */

/* HELO and EHLO (RFC 5321 section 4.1.1.1): either one may come again at
 * any time and then resets the transaction, like RSET. */
static int smtp_greet(struct lab_conn *c, struct smtp_session *s, char *args, int esmtp) {
  char *end = strchr(args, ' ');
  size_t i, n;

  if (end) *end = '\0';
  n = strlen(args);
  for (i = 0; i < n; i++)
    if ((unsigned char)args[i] <= ' ' || (unsigned char)args[i] >= 0x7f) n = 0;
  if (n == 0 || n > LIM_HOSTNAME_LEN) {
    smtp_reply(c, s, 501, "5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
    return -1;
  }
  snprintf(s->helo, sizeof s->helo, "%s", args);
  s->esmtp = esmtp;
  smtp_set_state(s, SMTP_S_READY);
  return 0;
}

static void smtp_cmd_helo(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;
  if (smtp_greet(c, s, args, 0) == 0)
    lab_printf(c, "250 " SMTP_HOST " Hello %s [%s]\r\n", s->helo, lab_conn_peer(c));
}

static void smtp_cmd_ehlo(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;
  if (smtp_greet(c, s, args, 1) != 0) return;
  lab_printf(c,
             "250-" SMTP_HOST
             " Hello %s [%s]\r\n"
             "250-SIZE %d\r\n"
             "250-8BITMIME\r\n"
             "250-PIPELINING\r\n"
             "250-ENHANCEDSTATUSCODES\r\n"
             "%s%s"
             "250 HELP\r\n",
             s->helo, lab_conn_peer(c), LIM_SMTP_MESSAGE_BYTES,
             lab_tls_available(c) && !lab_tls_active(c) ? "250-STARTTLS\r\n" : "",
             smtp_auth_needs_tls(c) ? "" : "250-AUTH PLAIN LOGIN\r\n");
}

static int smtp_check_starttls(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;

  if (!lab_tls_available(c)) {
    smtp_reply(c, s, 502, "5.5.1 STARTTLS is not available here");
    return -1;
  }
  if (lab_tls_active(c)) {
    smtp_reply(c, s, 503, "5.5.1 TLS is already active");
    return -1;
  }
  return 0;
}

/* RFC 3207: 220, then the handshake; the session starts over after it. */
static void smtp_cmd_starttls(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;

  lab_printf(c, "220 2.0.0 Ready to start TLS\r\n");
  if (lab_tls_start(c) != 0) {
    smtp_fatal(c, s, "454 4.7.0 TLS not available due to local problem");
    return;
  }
  s->helo[0] = '\0';
  s->esmtp = 0;
  s->authed = 0;
  s->auth_name[0] = '\0';
  smtp_set_state(s, SMTP_S_GREET);
}

static void smtp_cmd_rset(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;
  if (s->state != SMTP_S_GREET) smtp_set_state(s, SMTP_S_READY);
  smtp_reply(c, s, 250, "2.0.0 OK, transaction reset");
}

static void smtp_cmd_noop(struct lab_conn *c, void *sv, char *args) {
  smtp_reply(c, sv, 250, "2.0.0 OK");
}

/* VRFY answers truthfully for lab users: the lesson is how an open VRFY
 * lets anyone list accounts (real servers switch it off or say 252).
 * postmaster is answered as RCPT would take it. */
static void smtp_cmd_vrfy(struct lab_conn *c, void *sv, char *args) {
  struct smtp_session *s = sv;
  char path[LIM_SMTP_PATH + 1], *params, *local, *domain;
  struct db_user u;
  int rc;

  if (!*args || smtp_parse_path(args, path, sizeof path, &params) != 0 || *params ||
      smtp_split_mailbox(path, &local, &domain) != 0) {
    smtp_reply(c, s, 501, "5.5.4 Syntax: VRFY user or VRFY <user@" SMTP_HOST ">");
    return;
  }
  if (domain && strcasecmp(domain, SMTP_HOST) != 0) {
    smtp_reply(c, s, 551, "5.7.1 <%s@%s>: Not a lab address; this server does not relay", local,
               domain);
    return;
  }
  if (smtp_is_postmaster(local)) {
    if (smtp_postmaster(c, s, &u) == 0)
      smtp_reply(c, s, 250, "2.1.5 postmaster <postmaster@" SMTP_HOST "> (that is you, %s)",
                 u.name);
    return;
  }
  rc = smtp_lookup(c, local, &u);
  if (rc < 0) {
    smtp_reply(c, s, 451, "4.3.0 Local error looking up the user, try again later");
  } else if (rc != 0) {
    smtp_reply(c, s, 550, "5.1.1 <%s@" SMTP_HOST ">: No such user here", local);
  } else {
    smtp_reply(c, s, 250, "2.1.5 %s <%s@" SMTP_HOST ">", u.name, u.name);
  }
}

static void smtp_cmd_expn(struct lab_conn *c, void *sv, char *args) {
  smtp_reply(c, sv, 502, "5.5.1 EXPN is switched off here (try VRFY)");
}

static void smtp_cmd_help(struct lab_conn *c, void *sv, char *args) {
  lab_printf(c,
             "214-2.0.0 portlab SMTP, the lab's mail server. Commands:\r\n"
             "214-2.0.0   HELO EHLO STARTTLS AUTH MAIL RCPT DATA RSET NOOP VRFY HELP QUIT\r\n"
             "214-2.0.0 A session: EHLO you, MAIL FROM:<you@" SMTP_HOST
             ">, RCPT TO:<friend@" SMTP_HOST
             ">,\r\n"
             "214-2.0.0 DATA, the message, then a line holding only \".\".\r\n"
             "214 2.0.0 End of HELP (RFC 5321 has the rest)\r\n");
}

static void smtp_cmd_quit(struct lab_conn *c, void *sv, char *args) {
  smtp_fatal(c, sv, "221 2.0.0 " SMTP_HOST " Bye, closing connection");
}

static const struct lab_cmd smtp_cmds[] = {
    {"HELO", SMTP_S_COMMANDS, smtp_cmd_helo, LAB_ARGS_REQ, "HELO hostname", NULL},
    {"EHLO", SMTP_S_COMMANDS, smtp_cmd_ehlo, LAB_ARGS_REQ, "EHLO hostname", NULL},
    {"STARTTLS", LAB_IN(SMTP_S_GREET) | LAB_IN(SMTP_S_READY), smtp_cmd_starttls, LAB_ARGS_NONE,
     "STARTTLS (no parameters)", smtp_check_starttls},
    {"AUTH", LAB_IN(SMTP_S_READY), smtp_cmd_auth, LAB_ARGS_REQ, "AUTH mechanism [initial-response]",
     smtp_check_auth},
    {"MAIL", LAB_IN(SMTP_S_READY), smtp_cmd_mail, LAB_ARGS_REQ, "MAIL FROM:<address>", NULL},
    {"RCPT", LAB_IN(SMTP_S_MAIL) | LAB_IN(SMTP_S_RCPT), smtp_cmd_rcpt, LAB_ARGS_REQ,
     "RCPT TO:<address>", NULL},
    {"DATA", LAB_IN(SMTP_S_RCPT), smtp_cmd_data, LAB_ARGS_NONE, "DATA (no arguments)", NULL},
    {"RSET", SMTP_S_COMMANDS, smtp_cmd_rset, LAB_ARGS_ANY, NULL, NULL},
    {"NOOP", SMTP_S_COMMANDS, smtp_cmd_noop, LAB_ARGS_ANY, NULL, NULL},
    {"VRFY", SMTP_S_COMMANDS, smtp_cmd_vrfy, LAB_ARGS_REQ, "VRFY user or VRFY <user@" SMTP_HOST ">",
     NULL},
    {"EXPN", SMTP_S_COMMANDS, smtp_cmd_expn, LAB_ARGS_ANY, NULL, NULL},
    {"HELP", SMTP_S_COMMANDS, smtp_cmd_help, LAB_ARGS_ANY, NULL, NULL},
    {"QUIT", SMTP_S_COMMANDS, smtp_cmd_quit, LAB_ARGS_ANY, NULL, NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* 503 with the step the client skipped (RFC 5321 section 4.1.4). */
static void smtp_out_of_sequence(struct lab_conn *c, struct smtp_session *s, const char *verb) {
  const char *why;

  if (s->state == SMTP_S_GREET)
    why = "send HELO or EHLO first";
  else if (strcmp(verb, "STARTTLS") == 0)
    why = "STARTTLS is not allowed inside a mail transaction";
  else if (strcmp(verb, "MAIL") == 0)
    why = "sender already given (RSET starts over)";
  else if (strcmp(verb, "AUTH") == 0)
    why = "AUTH is not allowed inside a mail transaction";
  else if (s->state == SMTP_S_READY)
    why = "send MAIL FROM first";
  else
    why = "send RCPT TO first";
  smtp_reply(c, s, 503, "5.5.1 Bad sequence of commands: %s", why);
}

static void smtp_refuse(struct lab_conn *c, void *sv, enum lab_refusal why, const char *verb,
                        const struct lab_cmd *row) {
  struct smtp_session *s = sv;

  switch (why) {
    case LAB_REFUSE_EMPTY:
      smtp_reply(c, s, 500, "5.5.2 Empty command");
      break;
    case LAB_REFUSE_UNKNOWN:
      smtp_reply(c, s, 500, "5.5.1 Command unrecognized: \"%.32s\"", verb);
      break;
    case LAB_REFUSE_STATE:
      smtp_out_of_sequence(c, s, row->verb);
      break;
    case LAB_REFUSE_NUL:
      smtp_reply(c, s, 500, "5.5.2 NUL byte in command");
      break;
    case LAB_REFUSE_ARGS:
      smtp_reply(c, s, 501, "5.5.4 Syntax: %s", row->usage);
      break;
  }
}

static const struct lab_cmd_set smtp_commands = {smtp_cmds, LAB_CMDS_SKIP_BLANKS, smtp_refuse,
                                                 NULL};

static void smtp_command(struct lab_conn *c, struct smtp_session *s, char *line, size_t len,
                         enum lab_line_end end) {
  if (len + 2 > LIM_SMTP_COMMAND_LINE) {
    lab_warn(c, "smtp: command line of %zu bytes", len);
    smtp_fatal(c, s, "500 5.5.2 Line too long (commands are at most 512 bytes), closing");
    return;
  }
  if (strlen(line) != len) {
    lab_warn(c, "smtp: NUL byte in a command");
    smtp_refuse(c, s, LAB_REFUSE_NUL, "", NULL);
    return;
  }
  s->cmd_end = end;
  /* Trailing blanks are noise people type; they carry no meaning. */
  while (len && (line[len - 1] == ' ' || line[len - 1] == '\t')) line[--len] = '\0';
  lab_cmd_dispatch(c, s, &smtp_commands, s->state, line, len);
}

/* --- module callbacks -------------------------------------------------------- */

static int smtp_on_accept(struct lab_conn *c, void *sv) {
  struct smtp_session *s = sv;

  buf_init(&s->body, LIM_SMTP_MESSAGE_BYTES);
  smtp_set_state(s, SMTP_S_GREET);
  if (lab_tls_active(c))
    lab_printf(c, "220 " SMTP_HOST " ESMTP portlab mail lab ready, over TLS\r\n");
  else
    lab_printf(c,
               "220 " SMTP_HOST " ESMTP portlab mail lab ready, everything here is cleartext\r\n");
  return 0;
}

static void smtp_on_line(struct lab_conn *c, void *sv, char *line, size_t len,
                         enum lab_line_end end) {
  struct smtp_session *s = sv;

  switch (s->state) {
    case SMTP_S_DONE:
      return;
    case SMTP_S_DATA:
      smtp_data_line(c, s, line, len, end);
      return;
    case SMTP_S_AUTH:
      smtp_auth_line(c, s, line, len);
      return;
    default:
      smtp_command(c, s, line, len, end);
  }
}

static void smtp_on_overlong(struct lab_conn *c, void *sv) {
  struct smtp_session *s = sv;

  lab_warn(c, "smtp: line over %d bytes", LIM_SMTP_TEXT_LINE);
  if (s->state == SMTP_S_DATA)
    smtp_fatal(c, s, "500 5.5.2 Line too long (text lines are at most 1000 bytes), closing");
  else if (s->state == SMTP_S_AUTH)
    smtp_fatal(c, s, "500 5.5.6 Authentication exchange line is too long, closing");
  else
    smtp_fatal(c, s, "500 5.5.2 Line too long (commands are at most 512 bytes), closing");
}

static void smtp_on_timeout(struct lab_conn *c, void *sv) {
  smtp_fatal(c, sv, "421 4.4.2 " SMTP_HOST " Idle for too long, closing connection");
}

static void smtp_on_close(struct lab_conn *c, void *sv) {
  struct smtp_session *s = sv;
  smtp_set_state(s, SMTP_S_DONE);
}

const struct lab_module lab_smtp = {
    .name = "smtp",
    /* The framework's cap is the longer text-line limit; command lines
     * are held to LIM_SMTP_COMMAND_LINE in smtp_command. */
    .line_max = LIM_SMTP_TEXT_LINE,
    .session_size = sizeof(struct smtp_session),
    .on_accept = smtp_on_accept,
    .on_line = smtp_on_line,
    .on_overlong = smtp_on_overlong,
    .on_timeout = smtp_on_timeout,
    .on_close = smtp_on_close,
};
