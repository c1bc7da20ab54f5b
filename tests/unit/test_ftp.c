/* test_ftp.c -- the lab FTP server driven through the in-memory connection.
 *
 * Every command in every login state, both data channel kinds (the far end
 * simulated by lab_mem_data_*), the bounce and traversal refusals, and the
 * limits (line length, login failures, file size, quota) at their edges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "db.h"
#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "labident.h"
#include "portlab_limits.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PASV_LO 40000 /* the memory backend's passive port: pasv_lo */

static struct db *db;
static struct lab_ctx ctx;
static int64_t alice_id;

static void setup(void) {
  char err[256];

  db = db_open(":memory:", err, sizeof err);
  if (!db) {
    fprintf(stderr, "db_open: %s\n", err);
    exit(1);
  }
  memset(&ctx, 0, sizeof ctx);
  ctx.db = db;
  snprintf(ctx.secret, sizeof ctx.secret, "%s", SECRET);
  snprintf(ctx.lab_addr, sizeof ctx.lab_addr, "127.0.0.1");
  ctx.port_base = 10000;
  ctx.pasv_lo = PASV_LO;
  ctx.pasv_hi = PASV_LO + 9;
  if (labdata_seed_common(db, SECRET) != 0 ||
      db_user_create(db, "alice", "student", "pw-alice", NULL, &alice_id) != 0 ||
      labdata_seed_account(db, SECRET, alice_id, "alice") != 0) {
    fprintf(stderr, "seeding failed: %s\n", db_errmsg(db));
    exit(1);
  }
}

/* Sends one command line (CRLF added) and returns what came back. */
static const char *say(struct lab_conn *c, const char *line) {
  lab_mem_clear(c);
  lab_mem_feed(c, line, strlen(line));
  lab_mem_feed(c, "\r\n", 2);
  return lab_mem_output(c, NULL);
}

static int starts(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static struct lab_conn *open_from(const char *peer) {
  struct lab_conn *c = lab_mem_open(&lab_ftp, &ctx, peer);
  CHECK(c != NULL);
  return c;
}

static struct lab_conn *login_as(const char *user, const char *pass) {
  struct lab_conn *c = open_from("127.0.0.1");
  char line[128];

  snprintf(line, sizeof line, "USER %s", user);
  CHECK(starts(say(c, line), "331 "));
  snprintf(line, sizeof line, "PASS %s", pass);
  CHECK(starts(say(c, line), "230 "));
  return c;
}

/* PASV plus the simulated client connecting to it. */
static void passive(struct lab_conn *c) {
  CHECK(starts(say(c, "PASV"), "227 "));
  lab_mem_data_connect(c, 1);
  CHECK_EQ_INT(lab_mem_data_state(c), 2);
}

/* Runs a download-type command on a fresh passive channel; copies what
 * arrived on the data connection into data (NUL-terminated) and returns
 * the control replies. */
static const char *fetch(struct lab_conn *c, const char *cmd, char *data, size_t datalen) {
  const char *d, *r;
  size_t n;

  passive(c);
  r = say(c, cmd);
  d = lab_mem_data_output(c, &n);
  if (n >= datalen) n = datalen - 1;
  memcpy(data, d, n);
  data[n] = '\0';
  return r;
}

/* Uploads body with STOR name on a fresh passive channel; returns the
 * final control reply. */
static const char *upload(struct lab_conn *c, const char *name, const void *body, size_t len) {
  char line[300];

  passive(c);
  snprintf(line, sizeof line, "STOR %s", name);
  if (!starts(say(c, line), "150 ")) return lab_mem_output(c, NULL);
  lab_mem_clear(c);
  lab_mem_data_feed(c, body, len);
  if (lab_mem_data_state(c) == 2) lab_mem_data_eof(c);
  return lab_mem_output(c, NULL);
}

/* --- tests ----------------------------------------------------------------- */

static void test_greeting_and_login_states(void) {
  struct lab_conn *c = open_from("127.0.0.1");

  CHECK_EQ_STR(lab_mem_output(c, NULL), "220 (portlab FTP) Lab file server ready.\r\n");
  /* Before login: only the session commands. */
  CHECK(starts(say(c, "PWD"), "530 "));
  CHECK(starts(say(c, "LIST"), "530 "));
  CHECK(starts(say(c, "RETR welcome.txt"), "530 "));
  CHECK(starts(say(c, "PASV"), "530 "));
  CHECK(starts(say(c, "STOR x"), "530 "));
  CHECK(starts(say(c, "CWD notes"), "530 "));
  CHECK_EQ_STR(say(c, "SYST"), "215 UNIX Type: L8\r\n");
  CHECK(starts(say(c, "FEAT"), "211-"));
  CHECK(strstr(lab_mem_output(c, NULL), "\r\n EPSV\r\n") != NULL);
  CHECK(strstr(lab_mem_output(c, NULL), "\r\n SIZE\r\n") != NULL);
  CHECK(strstr(lab_mem_output(c, NULL), "\r\n211 End\r\n") != NULL);
  CHECK(starts(say(c, "NOOP"), "200 "));
  CHECK(starts(say(c, "HELP"), "214-"));
  CHECK(strstr(lab_mem_output(c, NULL), "RETR") != NULL);
  CHECK(strstr(lab_mem_output(c, NULL), "\r\n214 ") != NULL);
  CHECK(starts(say(c, "OPTS UTF8 ON"), "200 "));
  CHECK(starts(say(c, "OPTS FOO"), "501 "));
  CHECK(starts(say(c, "AUTH TLS"), "502 "));
  CHECK(starts(say(c, "PASS x"), "503 "));
  CHECK(starts(say(c, "USER"), "501 "));
  CHECK(starts(say(c, "BOGUS"), "500 "));
  CHECK(starts(say(c, ""), "500 "));
  /* Lower case verbs work (RFC 959: commands are case-insensitive). */
  CHECK(starts(say(c, "user alice"), "331 "));
  CHECK(starts(say(c, "pass pw-alice"), "230 Logged in as alice."));
  CHECK(starts(say(c, "USER bob"), "530 "));
  CHECK(starts(say(c, "PASS again"), "230 "));
  CHECK_EQ_STR(say(c, "PWD"), "257 \"/\" is your current directory.\r\n");
  CHECK(starts(say(c, "XPWD"), "257 \"/\""));
  CHECK(starts(say(c, "QUIT"), "221 "));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_login_failures(void) {
  struct lab_conn *c = open_from("127.0.0.1");
  char longname[64];

  /* A wrong password, an unknown user and a name too long for any
   * account all look the same; the third failure ends the connection. */
  CHECK(starts(say(c, "USER alice"), "331 "));
  CHECK(starts(say(c, "PASS wrong"), "530 "));
  CHECK(starts(say(c, "PWD"), "530 "));
  CHECK(starts(say(c, "PASS pw-alice"), "503 ")); /* back to USER */
  CHECK(starts(say(c, "USER nobody"), "331 "));
  CHECK(starts(say(c, "PASS pw-alice"), "530 "));
  CHECK(!lab_mem_closed(c));
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  memcpy(longname, "USER ", 5);
  CHECK(starts(say(c, longname), "331 "));
  CHECK(starts(say(c, "PASS pw-alice"), "421 "));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* The shared demo account. */
  c = login_as("demo", "demo");
  lab_mem_free(c);
  /* Names are case-insensitive. */
  c = login_as("ALICE", "pw-alice");
  CHECK(starts(say(c, "SIZE /notes/ftp-flag.txt"), "213 "));
  lab_mem_free(c);
}

static void test_directories(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");

  CHECK_EQ_STR(say(c, "CWD notes"), "250 Directory changed to /notes.\r\n");
  CHECK(starts(say(c, "PWD"), "257 \"/notes\" "));
  CHECK(starts(say(c, "CWD ../../etc"), "550 "));
  CHECK(starts(say(c, "PWD"), "257 \"/notes\" "));
  CHECK(starts(say(c, "CWD /etc"), "550 "));
  CHECK(starts(say(c, "CWD ../welcome.txt"), "550 ")); /* a file */
  CHECK(starts(say(c, "CWD"), "501 "));
  CHECK(starts(say(c, "CDUP"), "250 "));
  CHECK(starts(say(c, "PWD"), "257 \"/\" "));
  CHECK(starts(say(c, "CDUP"), "550 "));
  CHECK(starts(say(c, "XCWD /notes/"), "250 "));
  CHECK(starts(say(c, "XCUP"), "250 "));

  CHECK_EQ_STR(say(c, "MKD work"), "257 \"/work\" created.\r\n");
  CHECK(starts(say(c, "MKD work"), "550 "));
  CHECK(starts(say(c, "MKD nothere/deeper"), "550 "));
  CHECK(starts(say(c, "MKD"), "501 "));
  CHECK(starts(say(c, "MKD /"), "550 "));
  CHECK_EQ_STR(say(c, "XMKD \"q\""), "257 \"/\"\"q\"\"\" created.\r\n"); /* quotes doubled */
  CHECK(starts(say(c, "CWD \"q\""), "250 "));
  CHECK_EQ_STR(say(c, "PWD"), "257 \"/\"\"q\"\"\" is your current directory.\r\n");
  CHECK(starts(say(c, "CWD /"), "250 "));
  CHECK(starts(say(c, "XRMD \"q\""), "250 "));
  CHECK(starts(say(c, "RMD notes"), "550 ")); /* not empty */
  CHECK(starts(say(c, "RMD work"), "250 "));
  CHECK(starts(say(c, "RMD work"), "550 "));
  CHECK(starts(say(c, "RMD /"), "550 "));
  CHECK(starts(say(c, "RMD ../.."), "550 "));
  CHECK(starts(say(c, "RMD"), "501 "));
  lab_mem_free(c);
}

static void test_type_mode_stru(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");

  CHECK(starts(say(c, "TYPE A"), "200 "));
  CHECK(starts(say(c, "TYPE A N"), "200 "));
  CHECK(starts(say(c, "TYPE I"), "200 "));
  CHECK(starts(say(c, "type l 8"), "200 "));
  CHECK(starts(say(c, "TYPE E"), "504 "));
  CHECK(starts(say(c, "TYPE"), "504 "));
  CHECK(starts(say(c, "MODE S"), "200 "));
  CHECK(starts(say(c, "MODE B"), "504 "));
  CHECK(starts(say(c, "STRU F"), "200 "));
  CHECK(starts(say(c, "STRU R"), "504 "));
  CHECK(starts(say(c, "ALLO 100"), "202 "));
  CHECK(starts(say(c, "SITE CHMOD 777 x"), "502 "));
  CHECK(starts(say(c, "STAT"), "211-"));
  CHECK(strstr(lab_mem_output(c, NULL), "Logged in as alice") != NULL);
  CHECK(strstr(lab_mem_output(c, NULL), "\r\n211 End of status.\r\n") != NULL);
  lab_mem_free(c);
}

static void test_listing(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");
  char data[8192];
  const char *r;

  /* No channel yet. */
  CHECK(starts(say(c, "LIST"), "425 "));
  CHECK(starts(say(c, "RETR welcome.txt"), "425 "));
  CHECK(starts(say(c, "NLST"), "425 "));
  CHECK_EQ_STR(say(c, "PASV"), "227 Entering Passive Mode (127,0,0,1,156,64).\r\n");
  CHECK_EQ_INT(lab_mem_data_state(c), 1);

  /* The command before the client connects: 150 waits for the connection. */
  CHECK_EQ_STR(say(c, "LIST"), "");
  lab_mem_data_connect(c, 1);
  r = lab_mem_output(c, NULL);
  CHECK(starts(r, "150 "));
  CHECK(strstr(r, "\r\n226 ") != NULL);
  r = lab_mem_data_output(c, NULL);
  CHECK(strstr(r, "drwxr-xr-x    2 ftp      ftp          4096 ") == r);
  CHECK(strstr(r, " notes\r\n") != NULL);
  CHECK(strstr(r, "\r\n-rw-r--r--    1 ftp      ftp      ") != NULL);
  CHECK(strstr(r, " welcome.txt\r\n") != NULL);
  /* The channel is used up: the next transfer needs a new one. */
  CHECK_EQ_INT(lab_mem_data_state(c), 3);
  CHECK(starts(say(c, "LIST"), "425 "));

  r = fetch(c, "NLST notes", data, sizeof data);
  CHECK(starts(r, "150 "));
  CHECK_EQ_STR(data, "ftp-flag.txt\r\nports.txt\r\n");
  r = fetch(c, "LIST -la /notes/ports.txt", data, sizeof data);
  CHECK(strstr(r, "226 ") != NULL);
  CHECK(starts(data, "-rw-r--r--    1 ftp      ftp      "));
  CHECK(strstr(data, " ports.txt\r\n") != NULL);
  CHECK(strchr(data, '\n') == data + strlen(data) - 1); /* exactly one line */
  passive(c);
  CHECK(starts(say(c, "LIST nothere"), "550 "));
  passive(c);
  CHECK(starts(say(c, "LIST ../../etc"), "550 "));
  /* The channel survives a refused command. */
  CHECK_EQ_INT(lab_mem_data_state(c), 2);
  r = say(c, "NLST");
  CHECK(starts(r, "150 "));

  /* STAT with a path lists over the control connection. */
  r = say(c, "STAT notes");
  CHECK(starts(r, "213-Status of /notes:\r\n-rw-r--r-- "));
  CHECK(strstr(r, " ftp-flag.txt\r\n") != NULL);
  CHECK(strstr(r, "\r\n213 End of status.\r\n") != NULL);
  CHECK(starts(say(c, "STAT nothere"), "550 "));
  lab_mem_free(c);
}

static void test_retrieve(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");
  char data[8192], flag[40], want[128];
  const char *r;
  unsigned char *raw;
  size_t rawlen, crlf_len;

  labdata_flag(SECRET, "ftp", "alice", flag);
  CHECK(starts(say(c, "TYPE I"), "200 "));
  r = fetch(c, "RETR notes/ftp-flag.txt", data, sizeof data);
  CHECK(db_file_read(db, alice_id, "/notes/ftp-flag.txt", &raw, &rawlen) == 0);
  snprintf(want, sizeof want,
           "150 Opening BINARY mode data connection for /notes/ftp-flag.txt (%zu bytes).\r\n",
           rawlen);
  CHECK(starts(r, want));
  CHECK(strstr(r, "\r\n226 Transfer complete.\r\n") != NULL);
  CHECK_EQ_INT(strlen(data), rawlen);
  CHECK(memcmp(data, raw, rawlen) == 0);
  CHECK(strstr(data, flag) != NULL);
  snprintf(want, sizeof want, "213 %zu\r\n", rawlen);
  CHECK_EQ_STR(say(c, "SIZE /notes/ftp-flag.txt"), want);

  /* TYPE A: every LF goes out as CR LF, and SIZE says so. */
  crlf_len = rawlen;
  for (size_t i = 0; i < rawlen; i++) crlf_len += raw[i] == '\n';
  CHECK(starts(say(c, "TYPE A"), "200 "));
  snprintf(want, sizeof want, "213 %zu\r\n", crlf_len);
  CHECK_EQ_STR(say(c, "SIZE /notes/ftp-flag.txt"), want);
  r = fetch(c, "RETR /notes/ftp-flag.txt", data, sizeof data);
  CHECK(starts(r, "150 Opening ASCII mode"));
  CHECK_EQ_INT(strlen(data), crlf_len);
  CHECK(strstr(data, "\r\n\r\n") != NULL);
  free(raw);

  /* REST, then RETR from that byte. */
  CHECK(starts(say(c, "TYPE I"), "200 "));
  CHECK(starts(say(c, "REST 4"), "350 "));
  fetch(c, "RETR /notes/ftp-flag.txt", data, sizeof data);
  CHECK_EQ_INT(strlen(data), rawlen - 4);
  CHECK(starts(say(c, "REST 99999"), "350 "));
  passive(c);
  CHECK(starts(say(c, "RETR /notes/ftp-flag.txt"), "554 "));
  CHECK(starts(say(c, "REST x"), "501 "));
  CHECK(starts(say(c, "REST 99999999999999999999999"), "501 "));

  CHECK(starts(say(c, "MDTM welcome.txt"), "213 20"));
  CHECK_EQ_INT(strlen(lab_mem_output(c, NULL)), 4 + 14 + 2);
  CHECK(starts(say(c, "MDTM notes"), "550 "));
  CHECK(starts(say(c, "SIZE notes"), "550 "));
  CHECK(starts(say(c, "SIZE nothere"), "550 "));
  CHECK(starts(say(c, "SIZE"), "550 "));

  passive(c);
  CHECK(starts(say(c, "RETR notes"), "550 "));
  CHECK(starts(say(c, "RETR ../../../etc/passwd"), "550 "));
  CHECK(starts(say(c, "RETR /pub/readme.txt"), "550 ")); /* not in alice's tree */
  CHECK(starts(say(c, "RETR"), "501 "));
  lab_mem_free(c);
}

static void test_store(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");
  char data[8192];
  unsigned char *raw = NULL;
  size_t rawlen = 0;
  unsigned char bin[300];

  for (size_t i = 0; i < sizeof bin; i++) bin[i] = (unsigned char)i;
  CHECK(starts(say(c, "TYPE I"), "200 "));
  CHECK(starts(upload(c, "up.bin", bin, sizeof bin), "226 "));
  CHECK(db_file_read(db, alice_id, "/up.bin", &raw, &rawlen) == 0);
  CHECK_EQ_INT(rawlen, sizeof bin);
  CHECK(raw && memcmp(raw, bin, sizeof bin) == 0);
  free(raw);
  CHECK_EQ_STR(say(c, "SIZE up.bin"), "213 300\r\n");
  /* Replacing works, an empty file too. */
  CHECK(starts(upload(c, "up.bin", "", 0), "226 "));
  CHECK_EQ_STR(say(c, "SIZE up.bin"), "213 0\r\n");

  /* TYPE A upload: CR LF stored as LF, also when split between chunks;
   * a CR not before LF is data. */
  CHECK(starts(say(c, "TYPE A"), "200 "));
  passive(c);
  CHECK(starts(say(c, "STOR notes/t.txt"), "150 "));
  lab_mem_data_feed(c, "one\r", 4);
  lab_mem_data_feed(c, "\ntwo\rx\r\n", 8);
  lab_mem_data_feed(c, "end\r", 4);
  lab_mem_clear(c);
  lab_mem_data_eof(c);
  CHECK(starts(lab_mem_output(c, NULL), "226 "));
  CHECK(db_file_read(db, alice_id, "/notes/t.txt", &raw, &rawlen) == 0);
  CHECK_EQ_INT(rawlen, 14);
  CHECK(raw && memcmp(raw, "one\ntwo\rx\nend\r", 14) == 0);
  free(raw);
  CHECK(starts(say(c, "TYPE I"), "200 "));
  fetch(c, "RETR notes/t.txt", data, sizeof data);
  CHECK_EQ_INT(strlen(data), 14);

  /* Where STOR may not write. */
  passive(c);
  CHECK(starts(say(c, "STOR notes"), "553 "));
  CHECK(starts(say(c, "STOR nodir/x"), "553 "));
  CHECK(starts(say(c, "STOR ../../x"), "553 "));
  CHECK(starts(say(c, "STOR /"), "553 "));
  CHECK(starts(say(c, "STOR"), "501 "));
  CHECK(starts(say(c, "REST 1"), "350 "));
  CHECK(starts(say(c, "STOR y"), "504 "));
  CHECK_EQ_INT(lab_mem_data_state(c), 2);

  /* Bytes that arrive before STOR belong to nothing. */
  lab_mem_data_feed(c, "early", 5);
  CHECK(starts(say(c, "STOR late.txt"), "150 "));
  lab_mem_data_feed(c, "late", 4);
  lab_mem_clear(c);
  lab_mem_data_eof(c);
  CHECK(starts(lab_mem_output(c, NULL), "226 "));
  CHECK_EQ_STR(say(c, "SIZE late.txt"), "213 4\r\n");

  /* DELE and rename. */
  CHECK(starts(say(c, "DELE late.txt"), "250 "));
  CHECK(starts(say(c, "DELE late.txt"), "550 "));
  CHECK(starts(say(c, "DELE notes"), "550 "));
  CHECK(starts(say(c, "DELE ../../etc/passwd"), "550 "));
  CHECK(starts(say(c, "DELE"), "501 "));
  CHECK(starts(say(c, "RNTO x"), "503 "));
  CHECK(starts(say(c, "RNFR up.bin"), "350 "));
  CHECK(starts(say(c, "RNTO notes/moved.bin"), "250 "));
  CHECK(starts(say(c, "SIZE up.bin"), "550 "));
  CHECK(starts(say(c, "SIZE notes/moved.bin"), "213 "));
  CHECK(starts(say(c, "RNFR notes/moved.bin"), "350 "));
  CHECK(starts(say(c, "NOOP"), "200 "));
  CHECK(starts(say(c, "RNTO back.bin"), "503 ")); /* RNTO must follow RNFR at once */
  CHECK(starts(say(c, "RNFR notes/moved.bin"), "350 "));
  CHECK(starts(say(c, "RNTO welcome.txt"), "553 ")); /* exists */
  CHECK(starts(say(c, "RNFR notes"), "550 "));       /* directories: no */
  CHECK(starts(say(c, "RNFR nothere"), "550 "));
  lab_mem_free(c);
}

static void test_upload_limits(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");
  unsigned char *big = calloc(1, LIM_FTP_FILE_BYTES + 1);
  int64_t usage = 0;
  char name[32];
  int i;

  CHECK(big != NULL);
  if (!big) return;
  /* Exactly the cap is fine, one more byte is not. */
  CHECK(starts(upload(c, "max.bin", big, LIM_FTP_FILE_BYTES), "226 "));
  CHECK(starts(upload(c, "over.bin", big, LIM_FTP_FILE_BYTES + 1), "552 "));
  CHECK_EQ_INT(lab_mem_data_state(c), 3);
  CHECK(starts(say(c, "SIZE over.bin"), "550 "));
  /* The same one byte over, arriving in small pieces. */
  passive(c);
  CHECK(starts(say(c, "STOR over.bin"), "150 "));
  lab_mem_clear(c);
  for (i = 0; i < 16; i++) lab_mem_data_feed(c, big, LIM_FTP_FILE_BYTES / 16);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "");
  lab_mem_data_feed(c, big, 1);
  CHECK(starts(lab_mem_output(c, NULL), "552 "));
  lab_mem_data_feed(c, big, 1); /* after the abort: dropped */
  CHECK(starts(say(c, "NOOP"), "200 "));

  /* Fill the account close to its quota behind the server's back
   * (max.bin already holds one file's worth). */
  for (i = 0; i < LIM_FTP_QUOTA_BYTES / LIM_FTP_FILE_BYTES - 2; i++) {
    snprintf(name, sizeof name, "/fill%d", i);
    CHECK_EQ_INT(db_file_write(db, alice_id, name, big, LIM_FTP_FILE_BYTES, 0), 0);
  }
  CHECK_EQ_INT(db_file_usage(db, alice_id, &usage), 0);
  CHECK(usage > LIM_FTP_QUOTA_BYTES - LIM_FTP_FILE_BYTES);
  /* A new file may use what is left, not a byte more. */
  CHECK(starts(upload(c, "rest.bin", big, (size_t)(LIM_FTP_QUOTA_BYTES - usage + 1)), "552 "));
  CHECK(strstr(lab_mem_output(c, NULL), "quota") != NULL);
  CHECK(starts(upload(c, "rest.bin", big, (size_t)(LIM_FTP_QUOTA_BYTES - usage)), "226 "));
  /* Full: refused before any data; replacing a file reuses its bytes. */
  passive(c);
  CHECK(starts(say(c, "STOR more.bin"), "552 "));
  CHECK(starts(upload(c, "max.bin", big, LIM_FTP_FILE_BYTES), "226 "));
  CHECK(starts(say(c, "DELE max.bin"), "250 "));
  CHECK(starts(upload(c, "more.bin", big, 1000), "226 "));
  free(big);
  for (i = 0; i < LIM_FTP_QUOTA_BYTES / LIM_FTP_FILE_BYTES - 2; i++) {
    snprintf(name, sizeof name, "/fill%d", i);
    db_file_remove(db, alice_id, name, 0);
  }
  db_file_remove(db, alice_id, "/rest.bin", 0);
  db_file_remove(db, alice_id, "/more.bin", 0);
  lab_mem_free(c);
}

/* LIM_FTP_ENTRIES: files and directories together, whatever their size. */
static void test_entry_cap(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");
  int64_t n = 0, start = 0;
  char name[32];
  int i, added = 0;

  CHECK_EQ_INT(db_file_count(db, alice_id, &start), 0);
  CHECK(start > 0 && start < LIM_FTP_ENTRIES - 2);
  /* Fill up to two short of the cap behind the server's back. */
  for (i = 0; start + added < LIM_FTP_ENTRIES - 2; i++, added++) {
    snprintf(name, sizeof name, "/e%d", i);
    CHECK_EQ_INT(db_file_mkdir(db, alice_id, name, 0), 0);
  }
  CHECK_EQ_INT(db_file_count(db, alice_id, &n), 0);
  CHECK_EQ_INT(n, LIM_FTP_ENTRIES - 2);
  /* The last two entries fit: one directory, one empty file. */
  CHECK(starts(say(c, "MKD last-dir"), "257 "));
  CHECK(starts(upload(c, "empty.txt", "", 0), "226 "));
  CHECK_EQ_INT(db_file_count(db, alice_id, &n), 0);
  CHECK_EQ_INT(n, LIM_FTP_ENTRIES);
  /* At the cap: no new entry of either kind. */
  CHECK(starts(say(c, "MKD one-more"), "552 "));
  CHECK(strstr(lab_mem_output(c, NULL), "1000 files and directories") != NULL);
  CHECK(starts(say(c, "SIZE one-more"), "550 "));
  passive(c);
  CHECK(starts(say(c, "STOR one-more.txt"), "552 "));
  CHECK(starts(say(c, "SIZE one-more.txt"), "550 "));
  /* Replacing a file makes no new entry. */
  CHECK(starts(upload(c, "empty.txt", "now with bytes", 14), "226 "));
  /* A STOR accepted under the cap is checked again when it is stored. */
  CHECK(starts(say(c, "DELE empty.txt"), "250 "));
  passive(c);
  CHECK(starts(say(c, "STOR late.txt"), "150 "));
  CHECK_EQ_INT(db_file_mkdir(db, alice_id, "/taken-meanwhile", 0), 0);
  lab_mem_clear(c);
  lab_mem_data_feed(c, "x", 1);
  lab_mem_data_eof(c);
  CHECK(starts(lab_mem_output(c, NULL), "552 "));
  CHECK(starts(say(c, "SIZE late.txt"), "550 "));
  /* Removing one frees its place. */
  CHECK(starts(say(c, "RMD taken-meanwhile"), "250 "));
  CHECK(starts(say(c, "MKD one-more"), "257 "));
  CHECK_EQ_INT(db_file_count(db, alice_id, &n), 0);
  CHECK_EQ_INT(n, LIM_FTP_ENTRIES);

  for (i = 0; i < added; i++) {
    snprintf(name, sizeof name, "/e%d", i);
    db_file_remove(db, alice_id, name, 1);
  }
  db_file_remove(db, alice_id, "/last-dir", 1);
  db_file_remove(db, alice_id, "/one-more", 1);
  CHECK_EQ_INT(db_file_count(db, alice_id, &n), 0);
  CHECK_EQ_INT(n, start);
  lab_mem_free(c);
}

static void test_active_mode(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");
  char data[256];
  const char *r;

  /* Only the control peer, only ports above 1023: no bounce. */
  CHECK(starts(say(c, "PORT 127,0,0,1,4,1"), "200 "));   /* 1025 */
  CHECK(starts(say(c, "PORT 127,0,0,1,3,255"), "500 ")); /* 1023 */
  CHECK(starts(say(c, "PORT 127,0,0,1,4,0"), "200 "));   /* 1024 */
  CHECK(starts(say(c, "PORT 127,0,0,1,0,21"), "500 "));
  CHECK(starts(say(c, "PORT 127,0,0,2,200,10"), "500 "));
  CHECK(starts(say(c, "PORT 10,0,0,1,200,10"), "500 "));
  CHECK(starts(say(c, "PORT 127,0,0,1,256,1"), "501 "));
  CHECK(starts(say(c, "PORT 127,0,0,1,200"), "501 "));
  CHECK(starts(say(c, "PORT 127,0,0,1,200,10,"), "501 "));
  CHECK(starts(say(c, "PORT 127,0,0,1,200,-1"), "501 "));
  CHECK(starts(say(c, "PORT"), "501 "));
  CHECK(starts(say(c, "EPRT |1|127.0.0.1|50000|"), "200 "));
  CHECK(starts(say(c, "EPRT !1!127.0.0.1!50000!"), "200 "));
  CHECK(starts(say(c, "EPRT |2|::1|50000|"), "500 "));
  CHECK(starts(say(c, "EPRT |2|::ffff:127.0.0.1|50000|"), "200 ")); /* the same host */
  CHECK(starts(say(c, "EPRT |1|127.0.0.2|50000|"), "500 "));
  CHECK(starts(say(c, "EPRT |1|127.0.0.1|1023|"), "500 "));
  CHECK(starts(say(c, "EPRT |1|127.0.0.1|65536|"), "501 "));
  CHECK(starts(say(c, "EPRT |3|127.0.0.1|50000|"), "522 "));
  CHECK(starts(say(c, "EPRT |1|::1|50000|"), "501 "));
  CHECK(starts(say(c, "EPRT |1|127.0.0.1|50000"), "501 "));
  CHECK(starts(say(c, "EPRT |1|127.0.0.1|50000|x"), "501 "));
  CHECK(starts(say(c, "EPRT 1127.0.0.11500001"), "501 "));
  CHECK(starts(say(c, "EPRT"), "501 "));

  /* A transfer: the server connects when RETR arrives. */
  CHECK(starts(say(c, "PORT 127,0,0,1,195,80"), "200 "));
  CHECK_EQ_INT(lab_mem_data_state(c), 0);
  CHECK_EQ_STR(say(c, "RETR welcome.txt"), "");
  CHECK_EQ_INT(lab_mem_data_state(c), 1);
  /* One transfer at a time. */
  CHECK(starts(say(c, "PASV"), "503 "));
  CHECK(starts(say(c, "PORT 127,0,0,1,195,80"), "503 "));
  CHECK(starts(say(c, "LIST"), "503 "));
  lab_mem_clear(c);
  lab_mem_data_connect(c, 1);
  r = lab_mem_output(c, NULL);
  CHECK(starts(r, "150 Opening BINARY mode"));
  CHECK(strstr(r, "\r\n226 ") != NULL);
  CHECK(strstr(lab_mem_data_output(c, NULL), "Welcome, alice.") != NULL);

  /* The client's port never answers. */
  CHECK(starts(say(c, "PORT 127,0,0,1,195,80"), "200 "));
  CHECK_EQ_STR(say(c, "NLST"), "");
  lab_mem_clear(c);
  lab_mem_data_connect(c, 0);
  CHECK(starts(lab_mem_output(c, NULL), "425 "));
  CHECK(starts(say(c, "NLST"), "425 "));

  /* An upload over an active channel. */
  CHECK(starts(say(c, "EPRT |1|127.0.0.1|50001|"), "200 "));
  CHECK_EQ_STR(say(c, "STOR active.txt"), "");
  lab_mem_data_connect(c, 1);
  CHECK(starts(lab_mem_output(c, NULL), "150 "));
  lab_mem_data_feed(c, "hello", 5);
  lab_mem_clear(c);
  lab_mem_data_eof(c);
  CHECK(starts(lab_mem_output(c, NULL), "226 "));
  CHECK_EQ_STR(say(c, "SIZE active.txt"), "213 5\r\n");
  CHECK(starts(say(c, "DELE active.txt"), "250 "));
  (void)data;
  lab_mem_free(c);

  /* An IPv6 control connection: EPRT |2| to itself only. */
  c = open_from("::1");
  CHECK(starts(say(c, "USER alice"), "331 "));
  CHECK(starts(say(c, "PASS pw-alice"), "230 "));
  CHECK(starts(say(c, "EPRT |2|::1|50000|"), "200 "));
  CHECK(starts(say(c, "EPRT |2|::2|50000|"), "500 "));
  CHECK(starts(say(c, "EPRT |1|127.0.0.1|50000|"), "500 "));
  CHECK(starts(say(c, "PORT 127,0,0,1,200,10"), "500 "));
  lab_mem_free(c);
}

static void test_passive_variants(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");

  CHECK_EQ_STR(say(c, "EPSV"), "229 Entering Extended Passive Mode (|||40000|)\r\n");
  CHECK(starts(say(c, "EPSV 1"), "229 "));
  CHECK(starts(say(c, "EPSV 2"), "522 "));
  /* The passive client never connects (lab.c's LIM_FTP_DATA_SECS timer). */
  CHECK_EQ_STR(say(c, "RETR welcome.txt"), "");
  lab_mem_clear(c);
  lab_mem_data_connect(c, 0);
  CHECK(starts(lab_mem_output(c, NULL), "425 "));
  CHECK(starts(say(c, "RETR welcome.txt"), "425 "));
  /* A listener that times out with no command pending says nothing. */
  CHECK(starts(say(c, "PASV"), "227 "));
  lab_mem_clear(c);
  lab_mem_data_connect(c, 0);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "");
  CHECK(starts(say(c, "LIST"), "425 "));
  /* The client connects, then hangs up before any command. */
  passive(c);
  lab_mem_data_eof(c);
  CHECK(starts(say(c, "LIST"), "425 "));
  /* A second PASV replaces the first. */
  CHECK(starts(say(c, "PASV"), "227 "));
  CHECK(starts(say(c, "PASV"), "227 "));
  CHECK_EQ_INT(lab_mem_data_state(c), 1);
  /* PORT replaces a passive channel too. */
  CHECK(starts(say(c, "PORT 127,0,0,1,200,10"), "200 "));
  CHECK_EQ_INT(lab_mem_data_state(c), 3);

  /* ABOR: idle, then while a transfer waits for its connection. */
  CHECK(starts(say(c, "ABOR"), "225 "));
  CHECK(starts(say(c, "PASV"), "227 "));
  CHECK_EQ_STR(say(c, "LIST"), "");
  CHECK_EQ_STR(say(c, "ABOR"),
               "426 Transfer aborted.\r\n226 ABOR done: the data connection is closed.\r\n");
  CHECK(starts(say(c, "LIST"), "425 "));
  /* Telnet IP and Synch in front of ABOR (RFC 959 section 4.1.3). */
  CHECK(starts(say(c, "PASV"), "227 "));
  CHECK_EQ_STR(say(c, "LIST"), "");
  CHECK(starts(say(c, "\xff\xf4\xff\xf2\x41\x42OR"), "426 ")); /* IAC IP IAC DM ABOR */
  /* STAT during a transfer. */
  CHECK(starts(say(c, "PASV"), "227 "));
  CHECK_EQ_STR(say(c, "LIST"), "");
  CHECK(starts(say(c, "STAT"), "211-"));
  CHECK(strstr(lab_mem_output(c, NULL), "Transfer: in progress") != NULL);
  CHECK(starts(say(c, "STAT /"), "503 "));
  CHECK(starts(say(c, "NOOP"), "200 "));

  /* EPSV ALL: every other channel command is refused after it. */
  CHECK(starts(say(c, "ABOR"), "426 "));
  CHECK(starts(say(c, "EPSV ALL"), "200 "));
  CHECK(starts(say(c, "PASV"), "503 "));
  CHECK(starts(say(c, "PORT 127,0,0,1,200,10"), "503 "));
  CHECK(starts(say(c, "EPRT |1|127.0.0.1|50000|"), "503 "));
  CHECK(starts(say(c, "EPSV"), "229 "));
  /* QUIT with a channel open ends both. */
  lab_mem_data_connect(c, 1);
  CHECK(starts(say(c, "QUIT"), "221 "));
  CHECK(lab_mem_closed(c));
  CHECK_EQ_INT(lab_mem_data_state(c), 3);
  lab_mem_free(c);

  /* A lab address PASV cannot print: 425, EPSV works. */
  snprintf(ctx.lab_addr, sizeof ctx.lab_addr, "::1");
  c = login_as("alice", "pw-alice");
  CHECK(starts(say(c, "PASV"), "425 "));
  CHECK(starts(say(c, "EPSV"), "229 "));
  CHECK(starts(say(c, "EPSV 1"), "522 "));
  CHECK(starts(say(c, "EPSV 2"), "229 "));
  lab_mem_free(c);
  snprintf(ctx.lab_addr, sizeof ctx.lab_addr, "127.0.0.1");
}

static void test_anonymous(void) {
  struct lab_conn *c = open_from("127.0.0.1");
  char data[4096];
  const char *r;

  CHECK(starts(say(c, "USER anonymous"), "331 Anonymous"));
  CHECK(starts(say(c, "PASS"), "230 "));
  r = fetch(c, "LIST", data, sizeof data);
  CHECK(strstr(r, "226 ") != NULL);
  CHECK(strstr(data, " pub\r\n") != NULL);
  CHECK(strstr(data, "notes") == NULL);
  fetch(c, "NLST /pub", data, sizeof data);
  CHECK(strstr(data, "readme.txt\r\n") != NULL);
  r = fetch(c, "RETR /pub/readme.txt", data, sizeof data);
  CHECK(strstr(r, "226 ") != NULL);
  CHECK(strstr(data, "Public area") != NULL);
  /* Read-only, and no way into an account's files. */
  passive(c);
  CHECK_EQ_STR(say(c, "STOR pub/x.txt"),
               "550 Permission denied: the anonymous area is read-only.\r\n");
  CHECK(starts(say(c, "DELE pub/readme.txt"), "550 Permission denied"));
  CHECK(starts(say(c, "MKD new"), "550 Permission denied"));
  CHECK(starts(say(c, "RMD pub"), "550 Permission denied"));
  CHECK(starts(say(c, "RNFR pub/readme.txt"), "550 Permission denied"));
  CHECK(starts(say(c, "RETR /notes/ftp-flag.txt"), "550 "));
  CHECK(starts(say(c, "CWD /notes"), "550 "));
  CHECK(starts(say(c, "STAT"), "211-"));
  CHECK(strstr(lab_mem_output(c, NULL), "anonymous (read-only)") != NULL);
  lab_mem_free(c);

  c = open_from("127.0.0.1");
  CHECK(starts(say(c, "USER FTP"), "331 Anonymous"));
  CHECK(starts(say(c, "PASS guest@example"), "230 "));
  CHECK(starts(say(c, "SIZE /pub/readme.txt"), "213 "));
  lab_mem_free(c);
}

static void test_hostile_lines(void) {
  struct lab_conn *c = login_as("alice", "pw-alice");
  char line[LIM_FTP_LINE + 8];

  /* NUL: a bad file name in a path, bad syntax elsewhere. */
  lab_mem_clear(c);
  lab_mem_feed(c, "RETR a\0/../../etc/passwd\r\n", 26);
  CHECK(starts(lab_mem_output(c, NULL), "550 Bad file name"));
  lab_mem_clear(c);
  lab_mem_feed(c, "CWD \0\r\n", 7);
  CHECK(starts(lab_mem_output(c, NULL), "550 "));
  lab_mem_clear(c);
  lab_mem_feed(c, "TYPE I\0X\r\n", 10);
  CHECK(starts(lab_mem_output(c, NULL), "501 "));
  lab_mem_clear(c);
  lab_mem_feed(c, "\0\r\n", 3);
  CHECK(starts(lab_mem_output(c, NULL), "500 "));
  /* Bare LF ends a line too; control bytes in a path are refused. */
  lab_mem_clear(c);
  lab_mem_feed(c, "NOOP\n", 5);
  CHECK(starts(lab_mem_output(c, NULL), "200 "));
  CHECK(starts(say(c, "CWD no\ttes"), "550 "));
  CHECK(starts(say(c, "MKD a\rb"), "550 "));
  CHECK(!lab_mem_closed(c));

  /* The longest line: LIM_FTP_LINE bytes with its CR LF, then one more. */
  memset(line, 'A', sizeof line);
  memcpy(line, "NOOP ", 5);
  memcpy(line + LIM_FTP_LINE - 2, "\r\n", 2);
  lab_mem_clear(c);
  lab_mem_feed(c, line, LIM_FTP_LINE);
  CHECK(starts(lab_mem_output(c, NULL), "200 "));
  CHECK(!lab_mem_closed(c));
  memset(line, 'A', sizeof line);
  memcpy(line + LIM_FTP_LINE - 1, "\r\n", 2);
  lab_mem_clear(c);
  lab_mem_feed(c, line, LIM_FTP_LINE + 1);
  CHECK_EQ_STR(lab_mem_output(c, NULL), "500 Command line too long; closing the connection.\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Over-long before login, with no line end at all. */
  c = open_from("127.0.0.1");
  memset(line, 'B', sizeof line);
  lab_mem_clear(c);
  lab_mem_feed(c, line, sizeof line);
  CHECK(starts(lab_mem_output(c, NULL), "500 Command line too long"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Idle timeout. */
  c = open_from("127.0.0.1");
  lab_mem_clear(c);
  lab_mem_timeout(c);
  CHECK(starts(lab_mem_output(c, NULL), "421 Timeout"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Freed in the middle of an upload: nothing leaks (ASan checks). */
  c = login_as("alice", "pw-alice");
  passive(c);
  CHECK(starts(say(c, "STOR half.txt"), "150 "));
  lab_mem_data_feed(c, "partial", 7);
  lab_mem_free(c);
  CHECK(db_file_stat(db, alice_id, "/half.txt", &(struct db_file){0}) == 1);
}

/* Logs in as alice from peer; peer_port > 0 makes it a relayed session
 * (labident says whose). */
static struct lab_conn *login_from(const char *peer, int peer_port) {
  struct lab_conn *c = open_from(peer);
  lab_mem_set_peer_port(c, peer_port);
  CHECK(starts(say(c, "USER alice"), "331 "));
  CHECK(starts(say(c, "PASS pw-alice"), "230 "));
  return c;
}

/* Passive ports are shared by the class: capped per student (however many
 * sessions) and per address (however many names), at the edge, and given
 * back when the connection comes, times out, or the session ends. */
static void test_passive_caps(void) {
  struct lab_conn *c[6];
  int i;

  ctx.pasv_per_student = 2;
  ctx.pasv_per_addr = 3;

  /* Direct clients: per peer address. */
  for (i = 0; i < 3; i++) {
    c[i] = login_from("192.0.2.9", 0);
    CHECK(starts(say(c[i], "PASV"), "227 "));
  }
  c[3] = login_from("192.0.2.9", 0);
  CHECK_EQ_STR(say(c[3], "PASV"),
               "425 Your address holds all the passive ports it may have; try again soon.\r\n");
  CHECK(starts(say(c[3], "EPSV"), "425 "));
  c[4] = login_from("192.0.2.10", 0); /* another address is not held back */
  CHECK(starts(say(c[4], "PASV"), "227 "));
  /* A second PASV on the same connection replaces its port, never adds. */
  CHECK(starts(say(c[0], "PASV"), "227 "));
  CHECK(starts(say(c[3], "PASV"), "425 "));
  /* Given back: a listener that timed out (LIM_FTP_DATA_SECS), ... */
  lab_mem_data_connect(c[0], 0);
  CHECK(starts(say(c[3], "PASV"), "227 "));
  CHECK(starts(say(c[0], "PASV"), "425 "));
  /* ... one whose connection came (the port closes then), ... */
  lab_mem_data_connect(c[1], 1);
  CHECK(starts(say(c[0], "PASV"), "227 "));
  /* ... and one whose session ended. */
  CHECK(starts(say(c[1], "PASV"), "425 "));
  lab_mem_free(c[2]);
  CHECK(starts(say(c[1], "PASV"), "227 "));
  /* ABOR of a waiting listener gives it back too. */
  CHECK(starts(say(c[1], "ABOR"), "225 "));
  lab_mem_free(c[4]);
  c[4] = login_from("192.0.2.9", 0);
  CHECK(starts(say(c[4], "PASV"), "227 "));
  lab_mem_free(c[0]);
  lab_mem_free(c[1]);
  lab_mem_free(c[3]);
  lab_mem_free(c[4]);

  /* Relayed: one student with three sessions from three browsers. */
  CHECK_EQ_INT(labident_add(51001, 9001, "198.51.100.1"), 0);
  CHECK_EQ_INT(labident_add(51002, 9001, "198.51.100.2"), 0);
  CHECK_EQ_INT(labident_add(51003, 9001, "::ffff:198.51.100.3"), 0);
  for (i = 0; i < 3; i++) c[i] = login_from("127.0.0.1", 51001 + i);
  CHECK(starts(say(c[0], "PASV"), "227 "));
  CHECK(starts(say(c[1], "EPSV"), "229 "));
  CHECK_EQ_STR(say(c[2], "PASV"),
               "425 Your other sessions hold all the passive ports you may have; finish or abort "
               "a transfer there first.\r\n");
  lab_mem_data_connect(c[1], 0);
  CHECK(starts(say(c[2], "PASV"), "227 "));
  for (i = 0; i < 3; i++) lab_mem_free(c[i]);

  /* Relayed: four students behind one browser address (names are free). */
  for (i = 0; i < 4; i++) {
    CHECK_EQ_INT(labident_add(52001 + i, 9101 + i, "198.51.100.7"), 0);
    c[i] = login_from("127.0.0.1", 52001 + i);
  }
  for (i = 0; i < 3; i++) CHECK(starts(say(c[i], "PASV"), "227 "));
  CHECK(starts(say(c[3], "PASV"), "425 Your address"));
  /* The same address as a direct peer counts toward the same cap. */
  c[4] = login_from("198.51.100.7", 0);
  CHECK(starts(say(c[4], "PASV"), "425 Your address"));
  lab_mem_free(c[0]);
  CHECK(starts(say(c[3], "PASV"), "227 "));
  CHECK(starts(say(c[4], "PASV"), "425 "));
  /* A relayed session whose browser address is unknown is capped per
   * student only; one this host runs itself (no relay) by its address. */
  CHECK_EQ_INT(labident_add(52101, 9201, NULL), 0);
  c[0] = login_from("127.0.0.1", 52101);
  CHECK(starts(say(c[0], "PASV"), "227 "));
  c[5] = login_from("127.0.0.1", 0);
  CHECK(starts(say(c[5], "PASV"), "227 "));
  for (i = 0; i < 6; i++) lab_mem_free(c[i]);
  for (i = 0; i < 4; i++) labident_remove(52001 + i);
  labident_remove(52101);
  for (i = 0; i < 3; i++) labident_remove(51001 + i);

  /* Unset (0) means the defaults. */
  ctx.pasv_per_student = 0;
  ctx.pasv_per_addr = 0;
  for (i = 0; i < LIM_FTP_PASV_PER_STUDENT + 1 && i < 6; i++) {
    CHECK_EQ_INT(labident_add(53001 + i, 9301, "198.51.100.8"), 0);
    c[i] = login_from("127.0.0.1", 53001 + i);
    CHECK(starts(say(c[i], "PASV"), i < LIM_FTP_PASV_PER_STUDENT ? "227 " : "425 "));
  }
  for (i = 0; i < LIM_FTP_PASV_PER_STUDENT + 1 && i < 6; i++) {
    lab_mem_free(c[i]);
    labident_remove(53001 + i);
  }
}

/* --lab-public-host: a student's own client is told the address it can
 * dial; a relayed session still gets the lab address (its second session
 * goes to lab:PORT). */
static void test_public_addr(void) {
  struct lab_conn *direct, *relayed;

  snprintf(ctx.public_addr, sizeof ctx.public_addr, "192.0.2.7");
  direct = login_from("198.51.100.9", 0);
  CHECK(starts(say(direct, "PASV"), "227 Entering Passive Mode (192,0,2,7,"));
  CHECK(starts(say(direct, "EPSV"), "229 "));
  CHECK_EQ_INT(labident_add(54001, 9401, "198.51.100.9"), 0);
  relayed = login_from("127.0.0.1", 54001);
  CHECK(starts(say(relayed, "PASV"), "227 Entering Passive Mode (127,0,0,1,"));
  lab_mem_free(relayed);
  labident_remove(54001);
  ctx.public_addr[0] = '\0';
  CHECK(starts(say(direct, "PASV"), "227 Entering Passive Mode (127,0,0,1,"));
  lab_mem_free(direct);
}

int main(void) {
  setup();
  test_greeting_and_login_states();
  test_login_failures();
  test_directories();
  test_type_mode_stru();
  test_listing();
  test_retrieve();
  test_store();
  test_upload_limits();
  test_entry_cap();
  test_active_mode();
  test_passive_variants();
  test_passive_caps();
  test_public_addr();
  test_anonymous();
  test_hostile_lines();
  db_close(db);
  return check_done();
}
