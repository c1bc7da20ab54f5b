/* labdata.c -- what every lab account starts with, per-student flags, virtual paths.
 *
 * A new account gets two welcome mails in its INBOX and a small file tree
 * (one file holds its FTP flag); the public anonymous FTP area and the
 * shared demo account are seeded at start-up. Seeding is claimed with a
 * marker row inside one savepoint, so it runs exactly once per account and
 * a failure halfway leaves nothing behind to confuse the next attempt.
 *
 * Paths are resolved by text alone: the virtual tree lives in SQLite and
 * the host file system is never consulted, so there is nothing for ".."
 * or a symlink to escape into.
 */
#include "labdata.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "labdb.h"
#include "log.h"
#include "mailmsg.h"

void labdata_flag(const char *secret, const char *challenge, const char *user, char out[40]) {
  char msg[128], mac[65];
  size_t i, n;

  /* Lower-cased because lab names are case-insensitive: "Alice" and
   * "alice" are one account and must see one flag. */
  n = (size_t)snprintf(msg, sizeof msg, "%s:%s", challenge, user);
  if (n >= sizeof msg) n = sizeof msg - 1;
  for (i = 0; i < n; i++) msg[i] = (char)tolower((unsigned char)msg[i]);
  crypto_hmac_hex(secret, msg, mac);
  snprintf(out, 40, "FLAG{%.24s}", mac);
}

/* --- virtual paths ------------------------------------------------------------ */

/* Applies one path segment to out (a normalised absolute path of length
 * *len). -1 if it would climb above "/" or overflow. */
static int vpath_apply(char *out, size_t *len, size_t outlen, const char *seg, size_t n) {
  if (n == 0 || (n == 1 && seg[0] == '.')) return 0;
  if (n == 2 && seg[0] == '.' && seg[1] == '.') {
    if (*len == 1) return -1;
    while (*len > 1 && out[*len - 1] != '/') (*len)--;
    if (*len > 1) (*len)--; /* the separator, unless it is the root */
    out[*len] = '\0';
    return 0;
  }
  if (*len + (*len > 1) + n + 1 > outlen) return -1;
  if (*len > 1) out[(*len)++] = '/';
  memcpy(out + *len, seg, n);
  *len += n;
  out[*len] = '\0';
  return 0;
}

/* Feeds every segment of path through vpath_apply. */
static int vpath_walk(char *out, size_t *len, size_t outlen, const char *path) {
  const char *p = path, *seg;

  for (; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) return -1;
  for (p = path; *p;) {
    while (*p == '/') p++;
    seg = p;
    while (*p && *p != '/') p++;
    if (vpath_apply(out, len, outlen, seg, (size_t)(p - seg)) != 0) return -1;
  }
  return 0;
}

int vpath_resolve(const char *cwd, const char *arg, char *out, size_t outlen) {
  size_t len = 1;

  if (!cwd || !arg || outlen < 2 || cwd[0] != '/') return -1;
  strcpy(out, "/");
  /* The cwd goes through the same walk, so a damaged one cannot smuggle
   * anything past the checks on arg. */
  if (arg[0] != '/' && vpath_walk(out, &len, outlen, cwd) != 0) goto fail;
  if (vpath_walk(out, &len, outlen, arg) != 0) goto fail;
  return 0;

fail:
  out[0] = '\0';
  return -1;
}

/* --- seeding ------------------------------------------------------------------- */

static const char labdata_mail1_body[] =
    "Hello @USER@,\r\n"
    "\r\n"
    "This mailbox lives inside portlab, the class lab. Nothing here leaves\r\n"
    "the lab: every server you can reach is a small practice server, and\r\n"
    "everything you type to it travels in the clear so you can read it back\r\n"
    "in your session transcript afterwards.\r\n"
    "\r\n"
    "Your lab account is @USER@@lab. The same name and lab password work for\r\n"
    "mail (SMTP, POP3, IMAP), FTP, Telnet and the lab web server.\r\n"
    "\r\n"
    "Try this: open a session to lab port 110, type USER and PASS, then\r\n"
    "LIST and RETR 1. You just read this letter by hand.\r\n"
    "\r\n"
    "-- your teacher\r\n";

static const char labdata_mail2_body[] =
    "Hi @USER@,\r\n"
    "\r\n"
    "Three protocols share one mail store in this lab:\r\n"
    "\r\n"
    "  SMTP (port 25)  hands a message to a server. Note the envelope\r\n"
    "                  (MAIL FROM, RCPT TO) is separate from the From: and\r\n"
    "                  To: lines inside the message.\r\n"
    "  POP3 (port 110) downloads messages, usually to delete them after.\r\n"
    "  IMAP (port 143) keeps them on the server with flags and folders.\r\n"
    "\r\n"
    "Send a message to yourself at @USER@@lab over SMTP, then look for it with\r\n"
    "POP3 and with IMAP. A message ends with a line holding a single dot.\r\n"
    "\r\n"
    "-- your teacher\r\n";

/* Copies template into out with every "@USER@" replaced by user: the
 * templates are data, so they never pass through a printf format. */
static int labdata_fill(const char *template, const char *user, char *out, size_t outlen) {
  static const char token[] = "@USER@";
  size_t used = 0, ulen = strlen(user), tlen = sizeof token - 1;
  const char *p = template;

  while (*p) {
    const char *hit = strstr(p, token);
    size_t n = hit ? (size_t)(hit - p) : strlen(p);
    if (used + n + (hit ? ulen : 0) + 1 > outlen) return -1;
    memcpy(out + used, p, n);
    used += n;
    p += n;
    if (hit) {
      memcpy(out + used, user, ulen);
      used += ulen;
      p += tlen;
    }
  }
  out[used] = '\0';
  return 0;
}

/* Builds one welcome message with the RFC 5322 headers a mail client
 * expects and appends it to INBOX. */
static int labdata_seed_mail(struct db *db, int64_t user_id, const char *user, int n,
                             const char *subject, const char *body_fmt, time_t when) {
  char date[64], body[2048], msg[3072];
  int len;

  mailmsg_date_format(when, date, sizeof date);
  if (labdata_fill(body_fmt, user, body, sizeof body) != 0) return -1;
  len = snprintf(msg, sizeof msg,
                 "Date: %s\r\n"
                 "From: Teacher <teacher@lab>\r\n"
                 "To: %s <%s@lab>\r\n"
                 "Subject: %s\r\n"
                 "Message-ID: <welcome-%d.%lld.%s@lab>\r\n"
                 "MIME-Version: 1.0\r\n"
                 "Content-Type: text/plain; charset=us-ascii\r\n"
                 "Content-Transfer-Encoding: 7bit\r\n"
                 "\r\n"
                 "%s",
                 date, user, user, subject, n, (long long)user_id, user, body);
  if (len < 0 || (size_t)len >= sizeof msg) return -1;
  return db_mail_append(db, user_id, "INBOX", msg, (size_t)len, 0, (int64_t)when, NULL) == 0 ? 0
                                                                                             : -1;
}

static int labdata_write(struct db *db, int64_t owner, const char *path, const char *text,
                         time_t when) {
  return db_file_write(db, owner, path, text, strlen(text), (int64_t)when) == 0 ? 0 : -1;
}

static const char labdata_ports_txt[] =
    "Well-known ports you will meet in this lab\n"
    "\n"
    "port  protocol  what it is for\n"
    "----  --------  -------------------------------------------------\n"
    "  21  FTP       file transfer; commands here, data on a second port\n"
    "  22  SSH       a remote terminal, encrypted after a cleartext start\n"
    "  23  Telnet    a remote terminal, password and all in plain text\n"
    "  25  SMTP      handing mail to a server\n"
    "  43  WHOIS     who holds a domain or an address block\n"
    "  53  DNS       names into addresses (the lab answers over TCP)\n"
    "  79  finger    who is logged in (switched off almost everywhere)\n"
    "  80  HTTP      web pages\n"
    " 110  POP3      fetching mail and (usually) deleting it\n"
    " 143  IMAP      reading mail that stays on the server\n"
    " 443  HTTPS     web pages inside TLS (not in this lab)\n"
    "\n"
    "Ports below 1024 are reserved for system services; clients use high,\n"
    "short-lived ports for their own end of each connection.\n";

/* The seeding itself, run inside the caller's savepoint. */
static int labdata_seed_tree(struct db *db, const char *secret, int64_t user_id, const char *user) {
  char text[1024], flag[40];
  time_t now = time(NULL);

  if (labdata_seed_mail(db, user_id, user, 1, "Welcome to the portlab lab", labdata_mail1_body,
                        now - 60) != 0 ||
      labdata_seed_mail(db, user_id, user, 2, "How mail moves: SMTP, POP3 and IMAP",
                        labdata_mail2_body, now) != 0)
    return -1;
  snprintf(text, sizeof text,
           "Welcome, %s.\n"
           "\n"
           "This is your own corner of the lab's FTP server. Everything here is\n"
           "stored by portlab, not on a real disk, so feel free to upload,\n"
           "rename and delete. Look around the notes directory: one of the\n"
           "files there holds a flag that only works for you.\n",
           user);
  if (labdata_write(db, user_id, "/welcome.txt", text, now) != 0) return -1;
  if (db_file_mkdir(db, user_id, "/notes", (int64_t)now) != 0) return -1;
  labdata_flag(secret, "ftp", user, flag);
  snprintf(text, sizeof text,
           "You found it by retrieving a file over FTP's data connection.\n"
           "\n"
           "%s\n",
           flag);
  if (labdata_write(db, user_id, "/notes/ftp-flag.txt", text, now) != 0) return -1;
  if (labdata_write(db, user_id, "/notes/ports.txt", labdata_ports_txt, now) != 0) return -1;
  return 0;
}

int labdata_seed_account(struct db *db, const char *secret, int64_t user_id, const char *user) {
  int rc;

  if (user_id <= 0) return -1;
  if (db_lab_savepoint(db) != 0) return -1;
  rc = db_lab_claim_seed(db, user_id);
  if (rc == 1) {
    /* Seeded already; a release that fails (it commits when no caller
     * transaction is open) must not leave the savepoint open. */
    if (db_lab_release(db) != 0) goto fail;
    return 0;
  }
  if (rc != 0 || labdata_seed_tree(db, secret, user_id, user) != 0) goto fail;
  if (db_lab_release(db) != 0) goto fail;
  return 0;

fail:
  db_lab_rollback(db);
  return -1;
}

static const char labdata_pub_readme[] =
    "Public area of the portlab FTP server\n"
    "\n"
    "You are logged in anonymously: anyone can read these files, and\n"
    "nothing you do here is tied to your account. Log in with your own\n"
    "lab name and password to reach your private files instead.\n";

static const char labdata_pub_about_ftp[] =
    "About FTP in one page\n"
    "\n"
    "FTP uses two TCP connections. The control connection (port 21)\n"
    "carries commands and numbered replies, one line each. Every listing\n"
    "and every file travels on a separate data connection:\n"
    "\n"
    "  passive (PASV, EPSV): the server opens a port and tells you which;\n"
    "                        the 227 reply encodes it as p1,p2 = p1*256+p2.\n"
    "  active (PORT, EPRT):  you open a port and the server connects to it.\n"
    "\n"
    "Nothing is encrypted: user name, password and file contents can all be\n"
    "read by anyone on the path. That is the lesson.\n";

int labdata_seed_common(struct db *db, const char *secret) {
  time_t now = time(NULL);
  int64_t demo_id;
  int rc;

  if (db_lab_savepoint(db) != 0) return -1;
  rc = db_lab_claim_seed(db, 0);
  if (rc < 0) goto fail;
  if (rc == 0 && (db_file_mkdir(db, 0, "/pub", (int64_t)now) != 0 ||
                  labdata_write(db, 0, "/pub/readme.txt", labdata_pub_readme, now) != 0 ||
                  labdata_write(db, 0, "/pub/about-ftp.txt", labdata_pub_about_ftp, now) != 0))
    goto fail;
  if (db_lab_ensure_demo(db, &demo_id, NULL) != 0) goto fail;
  if (labdata_seed_account(db, secret, demo_id, LABDB_DEMO_USER) != 0) goto fail;
  if (db_lab_release(db) != 0) goto fail;
  return 0;

fail:
  log_error("lab data: cannot seed the public area and demo account: %s", db_errmsg(db));
  db_lab_rollback(db);
  return -1;
}
