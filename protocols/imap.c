/* imap.c -- the built-in lab IMAP server: the shared mail store seen through IMAP4rev1.
 *
 * Implements the server side of IMAP4rev1 (RFC 3501) in the subset real
 * clients use, with replies shaped like an RFC 9051 server's: tags and
 * untagged data, synchronising literals in both directions, the three
 * states (not authenticated, authenticated, selected), sequence sets and
 * UIDs, FETCH with ENVELOPE, BODYSTRUCTURE and BODY[section]<partial>,
 * STORE, SEARCH, COPY, EXPUNGE, CLOSE and APPEND, and the mailbox
 * commands over hierarchical names (CREATE, DELETE, RENAME, LIST).
 * Extensions, each small: LITERAL+ (RFC 7888), SASL-IR (RFC 4959) with
 * AUTHENTICATE PLAIN (RFC 4616), ID (RFC 2971), CHILDREN (RFC 3348),
 * UIDPLUS (RFC 4315), MOVE (RFC 6851), UNSELECT (RFC 3691) and
 * APPENDLIMIT (RFC 7889). Response codes come from RFC 5530
 * ([AUTHENTICATIONFAILED], [NONEXISTENT], [TOOBIG], ...) and RFC 9051
 * ([HASCHILDREN]).
 * Messages are read as RFC 5322 text: header fields are unfolded for
 * ENVELOPE and SEARCH, address lists are split per RFC 5322 section 3.4.
 *
 * All input is distrusted. A command may span several lines joined by
 * literals; it is assembled in one buffer exactly as it came on the wire
 * ("line CRLF literal-bytes line ...") and parsed once it is complete. The
 * size of every literal is checked before the "+" continuation is sent, so
 * a client told "no" never sends the bytes; a non-synchronising literal
 * that is refused is read and thrown away. Before login a literal may only
 * be big enough for a user name or password.
 *
 * Each session keeps its own snapshot of the selected mailbox (message
 * sequence number -> UID), which only changes where RFC 3501 section 7.4.1
 * allows: mail delivered or expunged by others becomes visible at NOOP,
 * CHECK, SELECT and after APPEND, COPY, MOVE and EXPUNGE.
 *
 * This file is the session: its replies, logging in, APPEND, EXPUNGE and
 * CLOSE, the command table and the assembly of a command from its lines
 * and literals. The rest is split by job (imap_int.h lists the files).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "imap_int.h"
#include "lab.h"
#include "labdb.h"
#include "portlab_limits.h"
#include "sasl.h"

#define IMAP_ANY (LAB_IN(IMAP_NOAUTH) | LAB_IN(IMAP_AUTH) | LAB_IN(IMAP_SELECTED))
#define IMAP_AUTHED (LAB_IN(IMAP_AUTH) | LAB_IN(IMAP_SELECTED))

/* --- replies ----------------------------------------------------------------- */

static void imap_close(struct lab_conn *c, struct imap_session *s) {
  s->closing = 1;
  lab_close(c);
}

/* The tagged reply that ends a command ("* " when the line had no usable
 * tag). Every BAD counts; a client that keeps sending garbage is dropped. */
void imap_reply(struct lab_conn *c, struct imap_session *s, const char *status, const char *fmt,
                ...) {
  char text[512];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  if (s->tag_len)
    lab_printf(c, "%.*s %s %s\r\n", (int)s->tag_len, s->cmd, status, text);
  else
    lab_printf(c, "* %s %s\r\n", status, text);
  if (strcmp(status, "BAD") == 0) {
    lab_warn(c, "BAD %s", text);
    if (++s->errors >= LIM_IMAP_ERRORS) {
      lab_printf(c, "* BYE Too many bad commands, closing the connection\r\n");
      imap_close(c, s);
    }
  }
}

/* STARTTLS only while not in TLS (RFC 9051 section 6.2.1). LOGIN stays
 * allowed in the clear on 143 (no LOGINDISABLED): reading the password in
 * the transcript is the cleartext lesson; 993 and STARTTLS are the cure. */
static void imap_capabilities(struct lab_conn *c, struct imap_sb *b, enum imap_state st) {
  imap_sb_adds(b, "IMAP4rev1 LITERAL+ SASL-IR ID CHILDREN UIDPLUS MOVE UNSELECT");
  imap_sb_addf(b, " APPENDLIMIT=%d", LIM_IMAP_LITERAL_BYTES);
  if (st == IMAP_NOAUTH && lab_tls_available(c) && !lab_tls_active(c)) imap_sb_adds(b, " STARTTLS");
  if (st == IMAP_NOAUTH) imap_sb_adds(b, " AUTH=PLAIN");
}

/* --- commands without a mailbox --------------------------------------------- */

/* The row check of the commands that take no arguments. */
static int imap_check_no_args(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  if (args == s->args_end) return 0;
  imap_reply(c, s, "BAD", "%s takes no arguments", lab_cmd_current(c)->verb);
  return -1;
}

static void cmd_capability(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_sb b = {0};

  imap_sb_adds(&b, "* CAPABILITY ");
  imap_capabilities(c, &b, s->state);
  imap_sb_adds(&b, "\r\n");
  imap_send_sb(c, &b);
  imap_sb_free(&b);
  imap_reply(c, s, "OK", "CAPABILITY completed");
}

/* NOOP, and CHECK: nothing is buffered here, so a checkpoint is a NOOP. */
static void cmd_noop(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  const char *verb = lab_cmd_current(c)->verb;

  if (imap_sync_send(c, s) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    return;
  }
  imap_reply(c, s, "OK", "%s completed", verb);
}

static void cmd_logout(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  lab_printf(c, "* BYE portlab IMAP closing the connection, goodbye\r\n");
  imap_reply(c, s, "OK", "LOGOUT completed");
  imap_close(c, s);
}

/* RFC 2971: the client may say who it is; we answer with our name. */
static void cmd_id(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char *k;
  size_t n;

  if (imap_p_peek(&q, '(')) {
    q.p++;
    while (!imap_p_peek(&q, ')')) {
      if (imap_p_string(&q, &k, &n) != 0 || imap_p_sp(&q) != 0) break;
      if (imap_p_peek(&q, 'N') || imap_p_peek(&q, 'n')) {
        if (imap_p_atom(&q, &k, &n) != 0 || n != 3 || strncasecmp(k, "NIL", 3) != 0) break;
      } else if (imap_p_string(&q, &k, &n) != 0) {
        break;
      }
      if (imap_p_peek(&q, ' ')) q.p++;
    }
    if (q.err || imap_p_char(&q, ')', "Missing )") != 0) {
      imap_reply(c, s, "BAD", "%s", q.err ? q.err : "Invalid ID list");
      return;
    }
  } else if (imap_p_atom(&q, &k, &n) != 0 || n != 3 || strncasecmp(k, "NIL", 3) != 0) {
    imap_reply(c, s, "BAD", "ID takes a parenthesised list or NIL");
    return;
  }
  if (imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s", q.err);
    return;
  }
  lab_printf(
      c,
      "* ID (\"name\" \"portlab\" \"support-url\" \"https://www.rfc-editor.org/rfc/rfc3501\")\r\n");
  imap_reply(c, s, "OK", "ID completed");
}

/* RFC 9051 section 6.2.1: tagged OK, then the handshake; no new greeting,
 * the client asks CAPABILITY again. */
static void cmd_starttls(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  if (!lab_tls_available(c)) {
    imap_reply(c, s, "BAD", "STARTTLS is not available here");
    return;
  }
  if (lab_tls_active(c)) {
    imap_reply(c, s, "BAD", "TLS is already active");
    return;
  }
  imap_reply(c, s, "OK", "Begin TLS negotiation now");
  if (lab_tls_start(c) != 0) {
    lab_printf(c, "* BYE TLS is not available, closing the connection\r\n");
    imap_close(c, s);
  }
}

/* --- logging in ----------------------------------------------------------------- */

static void imap_login_ok(struct lab_conn *c, struct imap_session *s, const struct db_user *u) {
  struct imap_sb b = {0};
  const char *text;

  s->user = *u;
  imap_set_state(s, IMAP_AUTH);
  imap_sb_adds(&b, "[CAPABILITY ");
  imap_capabilities(c, &b, IMAP_AUTH);
  imap_sb_addf(&b, "] Logged in as %s", u->name);
  text = imap_sb_str(&b);
  imap_reply(c, s, "OK", "%s", text ? text : "Logged in");
  imap_sb_free(&b);
}

static void imap_login_failed(struct lab_conn *c, struct imap_session *s, const char *user) {
  lab_warn(c, "failed login for \"%s\"", user);
  imap_reply(c, s, "NO", "[AUTHENTICATIONFAILED] Wrong user name or password");
  if (++s->auth_failures >= LIM_IMAP_AUTH_FAILURES) {
    lab_printf(c, "* BYE Too many failed logins, closing the connection\r\n");
    imap_close(c, s);
  }
}

static void imap_try_login(struct lab_conn *c, struct imap_session *s, const char *user,
                           const char *pass) {
  struct db_user u;
  int rc = db_lab_login(lab_conn_ctx(c)->db, user, pass, &u);

  if (rc == 0) {
    lab_conn_login(c, u.name);
    imap_login_ok(c, s, &u);
  } else if (rc == 1) {
    imap_login_failed(c, s, user);
  } else {
    imap_reply(c, s, "NO", "[UNAVAILABLE] The account database is not answering");
  }
}

static void cmd_login(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char *u, *p, user[IMAP_USER_MAX + 1], pass[IMAP_PASS_MAX + 1];
  size_t un, pn;

  if (imap_p_astring(&q, &u, &un) != 0 || imap_p_sp(&q) != 0 || imap_p_astring(&q, &p, &pn) != 0 ||
      imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (LOGIN user password)", q.err);
    return;
  }
  if (imap_cstr(user, sizeof user, u, un) != 0 || imap_cstr(pass, sizeof pass, p, pn) != 0) {
    imap_login_failed(c, s, "(unusable name)");
    return;
  }
  imap_try_login(c, s, user, pass);
}

/* RFC 4616: authzid NUL authcid NUL passwd, base64-encoded. */
static void imap_sasl_plain(struct lab_conn *c, struct imap_session *s, const char *b64, size_t n) {
  unsigned char raw[IMAP_USER_MAX * 2 + IMAP_PASS_MAX + 3];
  char user[IMAP_USER_MAX + 1], pass[IMAP_PASS_MAX + 1];
  struct sasl_plain sp;
  size_t len;

  if (sasl_b64_decode(b64, n, raw, sizeof raw, &len) != 0) {
    imap_reply(c, s, "BAD", "Invalid base64 in the PLAIN response");
    return;
  }
  if (sasl_plain_split(raw, len, &sp) != 0 ||
      imap_cstr(user, sizeof user, (const char *)sp.user, sp.user_len) != 0 ||
      imap_cstr(pass, sizeof pass, (const char *)sp.pass, sp.pass_len) != 0) {
    imap_login_failed(c, s, "(malformed PLAIN response)");
    return;
  }
  /* An authorisation identity other than oneself would mean acting as
   * someone else: refused. */
  if (sp.authz_len && (sp.authz_len != strlen(user) ||
                       strncasecmp((const char *)sp.authz, user, strlen(user)) != 0)) {
    imap_login_failed(c, s, user);
    return;
  }
  imap_try_login(c, s, user, pass);
}

static void cmd_authenticate(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char *mech, *ir;
  size_t mn, irn;

  if (imap_p_atom(&q, &mech, &mn) != 0) {
    imap_reply(c, s, "BAD", "AUTHENTICATE needs a mechanism name");
    return;
  }
  if (mn != 5 || strncasecmp(mech, "PLAIN", 5) != 0) {
    imap_reply(c, s, "NO", "Unsupported authentication mechanism (this server offers PLAIN)");
    return;
  }
  if (imap_p_peek(&q, ' ')) { /* SASL-IR: the response on the command line; "=" is empty */
    q.p++;
    if (imap_p_atom(&q, &ir, &irn) != 0 || imap_p_end(&q) != 0) {
      imap_reply(c, s, "BAD", "Invalid initial response");
      return;
    }
    imap_sasl_plain(c, s, ir, irn == 1 && ir[0] == '=' ? 0 : irn);
    return;
  }
  if (imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s", q.err);
    return;
  }
  lab_printf(c, "+ \r\n");
  s->sasl_pending = 1;
}

/* The line after "+ ": the client's PLAIN response, or "*" to give up. */
static void imap_sasl_line(struct lab_conn *c, struct imap_session *s, const char *line,
                           size_t len) {
  s->sasl_pending = 0;
  if (len == 1 && line[0] == '*')
    imap_reply(c, s, "BAD", "Authentication cancelled");
  else if (strlen(line) != len)
    imap_reply(c, s, "BAD", "NUL byte in the response");
  else
    imap_sasl_plain(c, s, line, len);
}

/* --- mailboxes ------------------------------------------------------------------ */

static void cmd_append(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  char name[IMAP_MBOX_MAX + 1], *msg, *ds;
  struct db_mailbox mb;
  size_t n, dn;
  unsigned flags = 0;
  int64_t when = (int64_t)time(NULL), uid;
  int valid, lit, rc;

  if (imap_p_mailbox(&q, name, &valid) != 0 || imap_p_sp(&q) != 0) goto bad;
  if (imap_p_peek(&q, '(') && (imap_p_flag_list(&q, &flags, 0) != 0 || imap_p_sp(&q) != 0))
    goto bad;
  if (imap_p_peek(&q, '"')) {
    if (imap_p_string(&q, &ds, &dn) != 0 || imap_p_sp(&q) != 0) goto bad;
    if (imap_date_time_parse(ds, dn, &when) != 0) {
      imap_p_fail(&q, "Invalid date-time (like \"07-Feb-1994 21:52:25 -0800\")");
      goto bad;
    }
  }
  if (imap_p_string_lit(&q, &msg, &n, &lit) != 0) goto bad;
  if (!lit) {
    imap_p_fail(&q, "The message must be sent as a literal");
    goto bad;
  }
  if (imap_p_end(&q) != 0) goto bad;
  rc = valid ? db_mailbox_get(db, s->user.id, name, &mb) : 1;
  if (rc == 1) {
    imap_reply(c, s, "NO", "[TRYCREATE] There is no mailbox by that name");
    return;
  }
  if (rc != 0) goto server_bug;
  if (n == 0) {
    imap_reply(c, s, "NO", "An empty message cannot be stored");
    return;
  }
  if (mb.messages >= LIM_MAILBOX_MESSAGES) {
    imap_reply(c, s, "NO", "[OVERQUOTA] The mailbox is full (%d messages)", LIM_MAILBOX_MESSAGES);
    return;
  }
  rc = imap_over_quota(db, s->user.id, (int64_t)n);
  if (rc < 0) goto server_bug;
  if (rc > 0) {
    lab_warn(c, "imap: APPEND of %zu bytes refused: over the mail quota", n);
    imap_reply(c, s, "NO", "[OVERQUOTA] That would take your mail past the quota of %d bytes",
               LIM_MAIL_QUOTA_BYTES);
    return;
  }
  if (db_mail_append(db, s->user.id, name, msg, n, flags, when, &uid) != 0) goto server_bug;
  if (s->state == IMAP_SELECTED && strcmp(name, s->mbox) == 0) imap_sync_send(c, s);
  imap_reply(c, s, "OK", "[APPENDUID %lld %lld] APPEND completed", (long long)mb.uidvalidity,
             (long long)uid);
  return;

bad:
  imap_reply(c, s, "BAD", "%s (APPEND mailbox [(flags)] [\"date-time\"] {size})", q.err);
  return;
server_bug:
  imap_reply(c, s, "NO", "[SERVERBUG] Could not store the message");
}

static void cmd_expunge(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_sb b = {0};
  int rc;

  if (args != s->args_end) {
    imap_reply(c, s, "BAD", "EXPUNGE takes no arguments (UID EXPUNGE takes a set)");
    return;
  }
  if (imap_writable(c, s) != 0) return;
  rc = imap_sync(c, s, 1, &b);
  if (rc == 0) rc = imap_expunge(c, s, NULL, &b);
  imap_send_sb(c, &b);
  imap_sb_free(&b);
  if (rc != 0)
    imap_reply(c, s, "NO", "[SERVERBUG] Could not expunge");
  else
    imap_reply(c, s, "OK", "EXPUNGE completed");
}

static void cmd_close(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  if (!s->read_only) imap_expunge(c, s, NULL, NULL);
  imap_set_state(s, IMAP_AUTH);
  imap_reply(c, s, "OK", "CLOSE completed");
}

static void cmd_unselect(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;

  imap_set_state(s, IMAP_AUTH);
  imap_reply(c, s, "OK", "UNSELECT completed");
}

static void cmd_fetch(struct lab_conn *c, void *sv, char *args) {
  imap_fetch(c, sv, args, 0);
}

static void cmd_store(struct lab_conn *c, void *sv, char *args) {
  imap_store(c, sv, args, 0);
}

static void cmd_copy(struct lab_conn *c, void *sv, char *args) {
  imap_copy(c, sv, args, 0, 0);
}

static void cmd_move(struct lab_conn *c, void *sv, char *args) {
  imap_copy(c, sv, args, 0, 1);
}

static void cmd_search(struct lab_conn *c, void *sv, char *args) {
  imap_search(c, sv, args, 0);
}

/* UID FETCH/STORE/SEARCH/COPY/MOVE/EXPUNGE: the same, with UIDs for numbers. */
static void cmd_uid(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char *verb, up[16];
  size_t n;

  if (imap_p_atom(&q, &verb, &n) != 0 || (imap_p_more(&q) && imap_p_sp(&q) != 0)) {
    imap_reply(c, s, "BAD", "UID needs a command (FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE)");
    return;
  }
  imap_upper(up, sizeof up, verb, n);
  if (strcmp(up, "FETCH") == 0) {
    imap_fetch(c, s, q.p, 1);
  } else if (strcmp(up, "STORE") == 0) {
    imap_store(c, s, q.p, 1);
  } else if (strcmp(up, "SEARCH") == 0) {
    imap_search(c, s, q.p, 1);
  } else if (strcmp(up, "COPY") == 0) {
    imap_copy(c, s, q.p, 1, 0);
  } else if (strcmp(up, "MOVE") == 0) {
    imap_copy(c, s, q.p, 1, 1);
  } else if (strcmp(up, "EXPUNGE") == 0) { /* RFC 4315 */
    struct imap_set set;
    struct imap_sb b = {0};
    int rc;
    if (imap_p_set(&q, imap_star(s, 1), &set) != 0 || imap_p_end(&q) != 0) {
      imap_set_free(&set);
      imap_reply(c, s, "BAD", "%s (UID EXPUNGE set)", q.err);
      return;
    }
    if (imap_writable(c, s) != 0) {
      imap_set_free(&set);
      return;
    }
    rc = imap_sync(c, s, 1, &b);
    if (rc == 0) rc = imap_expunge(c, s, &set, &b);
    imap_send_sb(c, &b);
    imap_sb_free(&b);
    imap_set_free(&set);
    if (rc != 0)
      imap_reply(c, s, "NO", "[SERVERBUG] Could not expunge");
    else
      imap_reply(c, s, "OK", "UID EXPUNGE completed");
  } else {
    imap_reply(c, s, "BAD", "UID works with FETCH, STORE, SEARCH, COPY, MOVE and EXPUNGE");
  }
}

/* --- the command table ----------------------------------------------------------- */

static const struct lab_cmd imap_cmds[] = {
    {"CAPABILITY", IMAP_ANY, cmd_capability, LAB_ARGS_ANY, NULL, imap_check_no_args},
    {"NOOP", IMAP_ANY, cmd_noop, LAB_ARGS_ANY, NULL, imap_check_no_args},
    {"LOGOUT", IMAP_ANY, cmd_logout, LAB_ARGS_ANY, NULL, imap_check_no_args},
    {"ID", IMAP_ANY, cmd_id, LAB_ARGS_ANY, NULL, NULL},
    {"STARTTLS", LAB_IN(IMAP_NOAUTH), cmd_starttls, LAB_ARGS_ANY, NULL, imap_check_no_args},
    {"LOGIN", LAB_IN(IMAP_NOAUTH), cmd_login, LAB_ARGS_ANY, NULL, NULL},
    {"AUTHENTICATE", LAB_IN(IMAP_NOAUTH), cmd_authenticate, LAB_ARGS_ANY, NULL, NULL},
    {"SELECT", IMAP_AUTHED, imap_mailbox_select, LAB_ARGS_ANY, NULL, NULL},
    {"EXAMINE", IMAP_AUTHED, imap_mailbox_select, LAB_ARGS_ANY, NULL, NULL},
    {"CREATE", IMAP_AUTHED, imap_mailbox_create, LAB_ARGS_ANY, NULL, NULL},
    {"DELETE", IMAP_AUTHED, imap_mailbox_delete, LAB_ARGS_ANY, NULL, NULL},
    {"RENAME", IMAP_AUTHED, imap_mailbox_rename, LAB_ARGS_ANY, NULL, NULL},
    {"SUBSCRIBE", IMAP_AUTHED, imap_mailbox_subscribe, LAB_ARGS_ANY, NULL, NULL},
    {"UNSUBSCRIBE", IMAP_AUTHED, imap_mailbox_subscribe, LAB_ARGS_ANY, NULL, NULL},
    {"LIST", IMAP_AUTHED, imap_mailbox_list, LAB_ARGS_ANY, NULL, NULL},
    {"LSUB", IMAP_AUTHED, imap_mailbox_list, LAB_ARGS_ANY, NULL, NULL},
    {"STATUS", IMAP_AUTHED, imap_mailbox_status, LAB_ARGS_ANY, NULL, NULL},
    {"APPEND", IMAP_AUTHED, cmd_append, LAB_ARGS_ANY, NULL, NULL},
    {"CHECK", LAB_IN(IMAP_SELECTED), cmd_noop, LAB_ARGS_ANY, NULL, imap_check_no_args},
    {"CLOSE", LAB_IN(IMAP_SELECTED), cmd_close, LAB_ARGS_ANY, NULL, imap_check_no_args},
    {"UNSELECT", LAB_IN(IMAP_SELECTED), cmd_unselect, LAB_ARGS_ANY, NULL, imap_check_no_args},
    {"EXPUNGE", LAB_IN(IMAP_SELECTED), cmd_expunge, LAB_ARGS_ANY, NULL, NULL},
    {"SEARCH", LAB_IN(IMAP_SELECTED), cmd_search, LAB_ARGS_ANY, NULL, NULL},
    {"FETCH", LAB_IN(IMAP_SELECTED), cmd_fetch, LAB_ARGS_ANY, NULL, NULL},
    {"STORE", LAB_IN(IMAP_SELECTED), cmd_store, LAB_ARGS_ANY, NULL, NULL},
    {"COPY", LAB_IN(IMAP_SELECTED), cmd_copy, LAB_ARGS_ANY, NULL, NULL},
    {"MOVE", LAB_IN(IMAP_SELECTED), cmd_move, LAB_ARGS_ANY, NULL, NULL},
    {"UID", LAB_IN(IMAP_SELECTED), cmd_uid, LAB_ARGS_ANY, NULL, NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* The text of a tagged BAD for a command the table refuses. */
static const char *imap_refusal_text(const struct imap_session *s, enum lab_refusal why,
                                     const struct lab_cmd *row) {
  switch (why) {
    case LAB_REFUSE_EMPTY:
      return "Missing command";
    case LAB_REFUSE_STATE:
      if (s->state == IMAP_NOAUTH) return "Log in first (LOGIN user password)";
      if (row->states == LAB_IN(IMAP_NOAUTH)) return "Already logged in";
      return "No mailbox selected (SELECT or EXAMINE one first)";
    case LAB_REFUSE_NUL:
      return "NUL bytes are not allowed in commands";
    default:
      return "Unknown command";
  }
}

static void imap_cmd_refused(struct lab_conn *c, void *sv, enum lab_refusal why, const char *verb,
                             const struct lab_cmd *row) {
  struct imap_session *s = sv;
  imap_reply(c, s, "BAD", "%s", imap_refusal_text(s, why, row));
}

/* Commands match case-insensitively (RFC 9051 section 4); the tag, the
 * verb's syntax and literals are read here before the table is asked. */
static const struct lab_cmd_set imap_commands = {imap_cmds, 0, imap_cmd_refused, NULL};

static int imap_tag_char(unsigned char ch) {
  return imap_astring_char(ch) && ch != '+';
}

/* The tag's length if the command starts with a valid tag and a space
 * (or ends after it), else 0. */
static size_t imap_tag_len(const char *p, size_t n) {
  size_t i = 0;

  while (i < n && imap_tag_char((unsigned char)p[i])) i++;
  if (i == 0 || (i < n && p[i] != ' ')) return 0;
  return i;
}

/* Reads the verb after the tag into name (IMAP_VERB_MAX bytes) and sets
 * *args; -1 with the reason when there is no valid verb. */
static int imap_verb(struct imap_session *s, char *name, char **args, const char **why) {
  char *p = s->cmd + s->tag_len, *end = s->cmd + s->cmd_len, *verb;

  if (p == end || ++p == end) {
    *why = "Missing command";
    return -1;
  }
  verb = p;
  while (p < end && isalpha((unsigned char)*p)) p++;
  if (p == verb || (size_t)(p - verb) >= IMAP_VERB_MAX || (p < end && *p != ' ')) {
    *why = "Unknown command";
    return -1;
  }
  memcpy(name, verb, (size_t)(p - verb));
  name[p - verb] = '\0';
  *args = p < end ? p + 1 : p;
  return 0;
}

/* Finds the command's row and its arguments; NULL with the reason (and
 * whether to answer BAD) when it cannot run in this state. */
static const struct lab_cmd *imap_find(struct imap_session *s, char **args, const char **why) {
  char name[IMAP_VERB_MAX];
  const struct lab_cmd *row;
  enum lab_refusal refusal;

  if (imap_verb(s, name, args, why) != 0) return NULL;
  if (lab_cmd_match(&imap_commands, (int)s->state, name, &row, &refusal) != 0) {
    *why = imap_refusal_text(s, refusal, row);
    return NULL;
  }
  return row;
}

/* cmd and cmd_len after the buf changed: the buf is this session's own,
 * so its bytes may be written (the parser unescapes strings in place). */
static void imap_cmd_view(struct imap_session *s) {
  s->cmd = (char *)buf_head(&s->cmd_buf);
  s->cmd_len = buf_len(&s->cmd_buf);
}

static void imap_cmd_reset(struct imap_session *s) {
  s->line_bytes = s->literal_bytes = s->tag_len = 0;
  s->in_command = 0;
  s->lit_left = 0;
  /* A big APPEND's buffer is not kept for the rest of the session. */
  if (s->cmd_buf.alloc > LIM_IMAP_LINE)
    buf_free(&s->cmd_buf);
  else
    buf_consume(&s->cmd_buf, buf_len(&s->cmd_buf));
  imap_cmd_view(s);
}

/* Room for more bytes and the NUL, claimed before the "+" goes out, so
 * the literal's bytes always fit when they come. -1 if out of memory. */
static int imap_cmd_reserve(struct imap_session *s, size_t more) {
  int rc;

  if (s->cmd_buf.limit == 0) buf_init(&s->cmd_buf, LIM_IMAP_COMMAND_BYTES + 1);
  rc = buf_reserve(&s->cmd_buf, more + 1);
  imap_cmd_view(s);
  return rc;
}

/* Appends what imap_cmd_reserve made room for, and the NUL after it. */
static void imap_cmd_add(struct imap_session *s, const void *p, size_t n) {
  if (buf_append(&s->cmd_buf, p, n) != 0 || buf_append(&s->cmd_buf, "", 1) != 0) return;
  buf_drop_tail(&s->cmd_buf, 1);
  imap_cmd_view(s);
}

/* A line ending in "{n}" or "{n+}" announces a literal: 1 with its size
 * and kind; 0 if there is none; -1 if the braces hold no valid number. */
static int imap_literal_suffix(const char *line, size_t len, size_t *n, int *sync) {
  size_t i, digits_end;
  int64_t v = 0;

  *sync = 1;
  if (len < 2 || line[len - 1] != '}') return 0;
  i = len - 1;
  if (line[i - 1] == '+') {
    *sync = 0;
    i--;
  }
  digits_end = i;
  while (i > 0 && isdigit((unsigned char)line[i - 1])) i--;
  if (i == 0 || line[i - 1] != '{') return 0;
  if (i == digits_end || digits_end - i > 10) return -1;
  for (; i < digits_end; i++) v = v * 10 + (line[i] - '0');
  if (v > IMAP_NUMBER_MAX) return -1;
  *n = (size_t)v;
  return 1;
}

/* Throws away what is left of a refused command. Its reply has gone out;
 * a non-synchronising literal's bytes are on their way and are read and
 * dropped; a synchronising one never comes, since no "+" was sent. */
static void imap_refuse(struct lab_conn *c, struct imap_session *s, int lit, size_t n, int sync,
                        const char *status, const char *text) {
  imap_reply(c, s, status, "%s", text);
  imap_cmd_reset(s);
  if (s->closing) return;
  if (lit == 1 && !sync) {
    s->skipping = 1;
    s->skip_left = n;
    if (n) lab_read_bytes(c, n);
  } else if (lit == -1 && !sync) {
    lab_printf(c,
               "* BYE A literal without a usable size leaves no way to find the next command\r\n");
    imap_close(c, s);
  }
}

static void imap_dispatch(struct lab_conn *c, struct imap_session *s) {
  char name[IMAP_VERB_MAX];
  const char *why;
  char *args;

  if (s->cmd_len == 0) {
    imap_reply(c, s, "BAD", "Empty command line");
    return;
  }
  if (s->tag_len == 0) {
    imap_reply(c, s, "BAD", "Invalid tag (a tag is letters and digits, like a001)");
    return;
  }
  if (imap_verb(s, name, &args, &why) != 0) {
    imap_reply(c, s, "BAD", "%s", why);
    return;
  }
  s->args_end = s->cmd + s->cmd_len;
  lab_cmd_dispatch_verb(c, s, &imap_commands, (int)s->state, name, args, 0);
}

static void imap_on_line(struct lab_conn *c, void *sv, char *line, size_t len,
                         enum lab_line_end end) {
  struct imap_session *s = sv;
  char text[160];
  const char *why;
  char *args;
  size_t n = 0, cap;
  int sync = 1, lit;

  if (s->closing) return;
  if (s->sasl_pending) {
    imap_sasl_line(c, s, line, len);
    if (!s->sasl_pending) imap_cmd_reset(s);
    return;
  }
  lit = imap_literal_suffix(line, len, &n, &sync);
  if (s->skipping) { /* the rest of a refused command */
    if (lit == 1 && !sync) {
      s->skip_left = n;
      if (n) lab_read_bytes(c, n);
    } else {
      s->skipping = 0;
      if (lit == -1 && !sync) {
        lab_printf(
            c, "* BYE A literal without a usable size leaves no way to find the next command\r\n");
        imap_close(c, s);
      }
    }
    return;
  }
  if (s->line_bytes + len + 2 > LIM_IMAP_LINE) {
    imap_refuse(c, s, lit, n, sync, "BAD", "Command too long");
    return;
  }
  if (imap_cmd_reserve(s, len + 2) != 0) {
    lab_printf(c, "* BYE Out of memory\r\n");
    imap_close(c, s);
    return;
  }
  imap_cmd_add(s, line, len);
  s->line_bytes += len + 2;
  if (!s->in_command) s->tag_len = imap_tag_len(s->cmd, s->cmd_len);
  if (strlen(line) != len) {
    lab_warn(c, "NUL byte in a command");
    imap_refuse(c, s, lit, n, sync, "BAD", "NUL bytes are not allowed in commands");
    return;
  }
  if (lit == 0) {
    imap_dispatch(c, s);
    if (!s->sasl_pending) imap_cmd_reset(s);
    return;
  }
  if (lit < 0) {
    imap_refuse(c, s, lit, n, sync, "BAD", "Invalid literal size");
    return;
  }
  /* Checked before the "+": a client told no never sends the bytes. */
  if (s->tag_len == 0) {
    imap_refuse(c, s, lit, n, sync, "BAD", "Invalid tag (a tag is letters and digits, like a001)");
    return;
  }
  if (!imap_find(s, &args, &why)) {
    imap_refuse(c, s, lit, n, sync, "BAD", why);
    return;
  }
  cap = s->state == IMAP_NOAUTH ? LIM_IMAP_PREAUTH_LITERAL_BYTES : LIM_IMAP_LITERAL_BYTES;
  if (n > cap || s->literal_bytes + n > cap) {
    lab_warn(c, "refused a literal of %zu bytes", n);
    snprintf(text, sizeof text, "[TOOBIG] A literal may hold at most %zu bytes%s", cap,
             s->state == IMAP_NOAUTH ? " before login" : "");
    imap_refuse(c, s, lit, n, sync, "NO", text);
    return;
  }
  if (imap_cmd_reserve(s, 2 + n) != 0) {
    imap_refuse(c, s, lit, n, sync, "NO", "[SERVERBUG] Out of memory");
    return;
  }
  imap_cmd_add(s, "\r\n", 2);
  s->literal_bytes += n;
  s->in_command = 1;
  if (sync) lab_printf(c, "+ Ready for %zu bytes\r\n", n);
  if (n) {
    s->lit_left = n;
    lab_read_bytes(c, n);
  }
}

static void imap_on_data(struct lab_conn *c, void *sv, const unsigned char *p, size_t n) {
  struct imap_session *s = sv;

  if (s->skip_left) {
    s->skip_left -= n < s->skip_left ? n : s->skip_left;
    return;
  }
  if (n > s->lit_left) n = s->lit_left; /* never more than was announced and reserved */
  imap_cmd_add(s, p, n);
  s->lit_left -= n;
}

static int imap_on_accept(struct lab_conn *c, void *sv) {
  struct imap_session *s = sv;
  struct imap_sb b = {0};
  int rc;

  imap_set_state(s, IMAP_NOAUTH);
  imap_sb_adds(&b, "* OK [CAPABILITY ");
  imap_capabilities(c, &b, IMAP_NOAUTH);
  imap_sb_adds(&b, "] portlab IMAP ready; log in with your lab name and password\r\n");
  imap_send_sb(c, &b);
  rc = b.oom ? -1 : 0;
  imap_sb_free(&b);
  return rc;
}

static void imap_on_overlong(struct lab_conn *c, void *sv) {
  lab_printf(c, "* BAD Line too long (the limit is %d bytes)\r\n", LIM_IMAP_LINE);
  lab_printf(c, "* BYE Closing the connection\r\n");
}

static void imap_on_timeout(struct lab_conn *c, void *sv) {
  lab_printf(c, "* BYE Idle for too long, closing the connection\r\n");
}

static void imap_on_close(struct lab_conn *c, void *sv) {
  struct imap_session *s = sv;

  buf_free(&s->cmd_buf);
  imap_cmd_view(s);
  imap_set_state(s, IMAP_NOAUTH);
}

const struct lab_module lab_imap = {
    .name = "imap",
    .line_max = LIM_IMAP_LINE,
    .session_size = sizeof(struct imap_session),
    .on_accept = imap_on_accept,
    .on_line = imap_on_line,
    .on_data = imap_on_data,
    .on_overlong = imap_on_overlong,
    .on_timeout = imap_on_timeout,
    .on_close = imap_on_close,
};
