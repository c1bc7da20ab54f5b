/* test_telnetd.c -- unit tests for the lab Telnet server (protocols/telnetd.c).
 *
 * Drives the module through the in-memory connection with an in-memory
 * database: the negotiation sent on accept, login with and without the
 * server echo, the hidden password, every shell command, paths that try
 * to leave the account's tree, the line editor (backspace, ^U, ^C, escape
 * sequences, CR LF / CR NUL / bare LF), IAC IAC in data, the line cap at
 * its edge, floods of commands and subnegotiation, and the same session
 * fed split at every byte boundary.
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#define LAB_SESSION_OUT_MAX (1 << 20)
#include "db.h"
#include "lab.h"
#include "lab_session.h"
#include "labdata.h"
#include "labdb.h"
#include "portlab_limits.h"
#include "telnet.h"

#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define PW "Secr3t-Pw"

static struct lab_ctx ctx;

static const unsigned char NEGOTIATION[] = {TELNET_IAC, TELNET_WILL, TELNET_OPT_ECHO,
                                            TELNET_IAC, TELNET_WILL, TELNET_OPT_SGA,
                                            TELNET_IAC, TELNET_DO,   TELNET_OPT_SGA};
/* What a real client answers: DO ECHO, DO SGA, WILL SGA. */
static const unsigned char AGREE[] = {TELNET_IAC, TELNET_DO,   TELNET_OPT_ECHO,
                                      TELNET_IAC, TELNET_DO,   TELNET_OPT_SGA,
                                      TELNET_IAC, TELNET_WILL, TELNET_OPT_SGA};

/* Sends a shell command and returns its output (prompt included). */
static const char *run(struct lab_conn *c, const char *cmd) {
  lab_mem_clear(c);
  feed(c, cmd);
  feed(c, "\r\n");
  return take(c);
}

static struct lab_conn *open_conn(void) {
  return lab_mem_open(&lab_telnet, &ctx, "127.0.0.1");
}

/* A connection logged in as alice, with the client agreeing to the echo. */
static struct lab_conn *login_alice(void) {
  struct lab_conn *c = open_conn();
  lab_mem_feed(c, AGREE, sizeof AGREE);
  feed(c, "alice\r\n" PW "\r\n");
  take(c);
  return c;
}

static void test_accept_negotiation(void) {
  struct lab_conn *c = open_conn();
  const char *o = take(c);
  CHECK(last_len > sizeof NEGOTIATION);
  CHECK(memcmp(o, NEGOTIATION, sizeof NEGOTIATION) == 0);
  CHECK(has("lab login: "));
  CHECK(last_len >= 11 && memcmp(o + last_len - 11, "lab login: ", 11) == 0);
  CHECK(!lab_mem_closed(c));
  /* The client agrees: the negotiation settles with nothing more sent. */
  lab_mem_feed(c, AGREE, sizeof AGREE);
  take(c);
  CHECK_EQ_INT(last_len, 0);
  /* Options the server does not do are refused once, then ignored. */
  const unsigned char naws[] = {TELNET_IAC, TELNET_WILL, TELNET_OPT_NAWS,
                                TELNET_IAC, TELNET_DO,   TELNET_OPT_TTYPE};
  lab_mem_feed(c, naws, sizeof naws);
  take(c);
  const unsigned char refused[] = {TELNET_IAC, TELNET_DONT, TELNET_OPT_NAWS,
                                   TELNET_IAC, TELNET_WONT, TELNET_OPT_TTYPE};
  CHECK_EQ_INT(last_len, sizeof refused);
  CHECK(memcmp(last_out, refused, sizeof refused) == 0);
  lab_mem_feed(c, naws, sizeof naws);
  take(c);
  CHECK_EQ_INT(last_len, 0);
  lab_mem_free(c);
}

static void test_login_echo_and_hidden_password(void) {
  struct lab_conn *c = open_conn();
  take(c);
  lab_mem_feed(c, AGREE, sizeof AGREE);
  take(c);
  feed(c, "alice\r\n");
  CHECK_EQ_STR(take(c), "alice\r\nPassword: ");
  feed(c, PW);
  take(c);
  CHECK_EQ_INT(last_len, 0); /* the password is not echoed */
  feed(c, "\r\n");
  take(c);
  CHECK(!has(PW));
  CHECK(last_len > 2 && memcmp(last_out, "\r\n", 2) == 0);
  CHECK(has("Welcome"));
  CHECK(last_len >= 13 && strcmp(last_out + last_len - 13, "alice@lab:~$ ") == 0);
  lab_mem_free(c);
}

static void test_login_without_echo(void) {
  /* A client that never answers (nc) echoes for itself: the server must not. */
  struct lab_conn *c = open_conn();
  take(c);
  feed(c, "alice\r\n");
  CHECK_EQ_STR(take(c), "Password: ");
  feed(c, PW "\r\n");
  take(c);
  CHECK(has("alice@lab:~$ "));
  CHECK(!has(PW));
  run(c, "whoami");
  CHECK_EQ_STR(last_out, "alice\r\nalice@lab:~$ ");
  lab_mem_free(c);
}

static void test_login_failures(void) {
  struct lab_conn *c = open_conn();
  take(c);
  feed(c, "alice\r\nwrong\r\n");
  take(c);
  CHECK(has("Login incorrect"));
  CHECK(last_len >= 11 && strcmp(last_out + last_len - 11, "lab login: ") == 0);
  CHECK(!lab_mem_closed(c));
  /* An empty name asks again and does not count. */
  feed(c, "\r\n");
  CHECK_EQ_STR(take(c), "lab login: ");
  feed(c, "nobody\r\n" PW "\r\n");
  take(c);
  CHECK(has("Login incorrect"));
  CHECK(!lab_mem_closed(c));
  feed(c, "ALICE\r\nalmost\r\n");
  take(c);
  CHECK(has("Login incorrect"));
  CHECK(has("3 failed logins"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Names are case-insensitive, and the demo account works. */
  c = open_conn();
  feed(c, "ALICE\r\n" PW "\r\n");
  take(c);
  CHECK(has("alice@lab:~$ "));
  lab_mem_free(c);
  c = open_conn();
  feed(c, "demo\r\ndemo\r\n");
  take(c);
  CHECK(has("demo@lab:~$ "));
  run(c, "ls notes");
  CHECK(has("ftp-flag.txt"));
  lab_mem_free(c);
}

static void test_shell_commands(void) {
  struct lab_conn *c = login_alice();
  char flag[40];

  CHECK_EQ_STR(run(c, "pwd"), "pwd\r\n/\r\nalice@lab:~$ ");
  CHECK_EQ_STR(run(c, "whoami"), "whoami\r\nalice\r\nalice@lab:~$ ");
  CHECK_EQ_STR(run(c, "hostname"), "hostname\r\nlab\r\nalice@lab:~$ ");
  CHECK_EQ_STR(run(c, "uname"), "uname\r\nLinux\r\nalice@lab:~$ ");
  run(c, "uname -a");
  CHECK(has("Linux lab 6.1.0-portlab #1"));
  CHECK(has("x86_64 GNU/Linux\r\n"));
  CHECK_EQ_STR(run(c, "uname -sr"), "uname -sr\r\nLinux 6.1.0-portlab\r\nalice@lab:~$ ");
  run(c, "uname -q");
  CHECK(has("invalid option -- 'q'"));
  run(c, "id");
  CHECK(has("uid=") && has("(alice) gid=100(users)"));
  run(c, "date");
  CHECK(has(" UTC "));
  CHECK_EQ_STR(run(c, "echo hello    world"),
               "echo hello    world\r\nhello world\r\nalice@lab:~$ ");
  run(c, "echo 'a  b' \"c\\\"d\" e\\ f");
  CHECK(has("\r\na  b c\"d e f\r\n"));
  run(c, "echo -n x");
  CHECK(has("\r\nxalice@lab:~$ "));
  run(c, "echo 'open");
  CHECK(has("never closed"));
  run(c, "clear");
  CHECK(has("\033[H\033[2J"));
  run(c, "help");
  CHECK(has("ls [-l]") && has("simulated"));
  run(c, "foo bar");
  CHECK(has("lab-sh: foo: command not found"));
  run(c, "LS");
  CHECK(has("lab-sh: LS: command not found"));
  CHECK_EQ_STR(run(c, ""), "\r\nalice@lab:~$ ");
  CHECK_EQ_STR(run(c, "   "), "   \r\nalice@lab:~$ ");

  /* ls */
  run(c, "ls");
  CHECK(has("ls\r\nnotes  welcome.txt\r\n"));
  run(c, "ls -l");
  CHECK(has("total "));
  CHECK(has("drwxr-xr-x 2 alice lab     4096 "));
  CHECK(has(" notes\r\n"));
  CHECK(has("-rw-r--r-- 1 alice lab "));
  run(c, "ls -la");
  CHECK(has(" .\r\n") && has(" ..\r\n"));
  run(c, "ls -a");
  CHECK(has(".  ..  notes  welcome.txt"));
  run(c, "ls notes");
  CHECK(has("ftp-flag.txt  ports.txt"));
  run(c, "ls welcome.txt nope");
  CHECK(has("\r\nwelcome.txt\r\n"));
  CHECK(has("ls: nope: No such file or directory"));
  run(c, "ls -x");
  CHECK(has("invalid option -- 'x'"));
  run(c, "ls / notes");
  CHECK(has("/:\r\n") && has("\r\nnotes:\r\n"));

  /* cat and cd */
  labdata_flag(SECRET, "ftp", "alice", flag);
  run(c, "cat /notes/ftp-flag.txt");
  CHECK(has(flag));
  CHECK(has("FTP's data connection.\r\n\r\n"));
  run(c, "cat");
  CHECK(has("cat: name a file"));
  run(c, "cat notes");
  CHECK(has("cat: notes: Is a directory"));
  run(c, "cat missing.txt");
  CHECK(has("cat: missing.txt: No such file or directory"));
  CHECK_EQ_STR(run(c, "cd notes"), "cd notes\r\nalice@lab:~/notes$ ");
  CHECK_EQ_STR(run(c, "pwd"), "pwd\r\n/notes\r\nalice@lab:~/notes$ ");
  run(c, "cat ftp-flag.txt");
  CHECK(has(flag));
  run(c, "cat ~/welcome.txt");
  CHECK(has("Welcome, alice."));
  CHECK_EQ_STR(run(c, "cd -"), "cd -\r\n/\r\nalice@lab:~$ ");
  run(c, "cd notes");
  CHECK_EQ_STR(run(c, "cd .."), "cd ..\r\nalice@lab:~$ ");
  run(c, "cd welcome.txt");
  CHECK(has("cd: welcome.txt: Not a directory"));
  run(c, "cd nowhere");
  CHECK(has("cd: nowhere: No such file or directory"));
  run(c, "cd a b");
  CHECK(has("cd: too many arguments"));
  run(c, "cd notes");
  CHECK_EQ_STR(run(c, "cd"), "cd\r\nalice@lab:~$ ");
  run(c, "cd notes");
  CHECK_EQ_STR(run(c, "cd ~"), "cd ~\r\nalice@lab:~$ ");

  /* Escapes from the tree are refused; the host's files do not exist here. */
  run(c, "cat ../../etc/passwd");
  CHECK(has("cat: ../../etc/passwd: Permission denied"));
  CHECK(!has("root:"));
  run(c, "cat /etc/passwd");
  CHECK(has("cat: /etc/passwd: No such file or directory"));
  run(c, "cd ..");
  CHECK(has("cd: ..: Permission denied"));
  CHECK(has("alice@lab:~$ "));
  run(c, "ls ../..");
  CHECK(has("ls: ../..: Permission denied"));
  run(c, "cat notes/../../x");
  CHECK(has("Permission denied"));
  run(c, "cat ~/../x");
  CHECK(has("Permission denied"));
  CHECK(!lab_mem_closed(c));

  CHECK_EQ_STR(run(c, "exit"), "exit\r\nlogout\r\n");
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  c = login_alice();
  run(c, "logout");
  CHECK(has("logout\r\n"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_file_content_is_nvt(void) {
  struct lab_conn *c = login_alice();
  struct db_user u;
  CHECK_EQ_INT(db_lab_account(ctx.db, "alice", &u), 0);
  const char data[] = "one\ntwo\r\nthree\rfour\xff!\n";
  CHECK_EQ_INT(db_file_write(ctx.db, u.id, "/raw.txt", data, sizeof data - 1, 0), 0);
  run(c, "cat raw.txt");
  static const char want[] = "one\r\ntwo\r\nthree\r\0four\xff\xff!\r\n";
  CHECK(memmem(last_out, last_len, want, sizeof want - 1) != NULL);
  run(c, "ls -l raw.txt");
  CHECK(has("Jan  1  1970 raw.txt"));
  db_file_remove(ctx.db, u.id, "/raw.txt", 0);
  lab_mem_free(c);
}

static void test_line_editing(void) {
  struct lab_conn *c = login_alice();
  feed(c, "whoamx\x7fi\r\n");
  take(c);
  CHECK(has("whoamx\b \bi\r\nalice\r\n"));
  feed(c, "pwx\bd\r\n");
  take(c);
  CHECK(has("\r\n/\r\n"));
  feed(c, "garbage\x15whoami\r\n");
  take(c);
  CHECK(has("\r\nalice\r\n"));
  feed(c, "rubbish\x03");
  take(c);
  CHECK(has("^C\r\nalice@lab:~$ "));
  feed(c, "\x1b[Awho\x1bOBami\x1b[1;5C\r\n");
  take(c);
  CHECK(has("\r\nalice\r\n"));
  CHECK(!has("command not found"));
  /* Backspace on an empty line does nothing. */
  feed(c, "\x7f\x7f");
  take(c);
  CHECK_EQ_INT(last_len, 0);
  /* Tabs, bells and other control bytes are dropped. */
  feed(c, "who\tam\ai\r\n");
  take(c);
  CHECK(has("\r\nalice\r\n"));
  /* Line ends: CR NUL, bare LF, and CR LF each end exactly one line. */
  lab_mem_clear(c);
  lab_mem_feed(c, "pwd\r\0pwd\npwd\r\n", 14);
  take(c);
  const char *p = last_out;
  int prompts = 0;
  while ((p = memmem(p, last_len - (size_t)(p - last_out), "alice@lab:~$ ", 13))) prompts++, p++;
  CHECK_EQ_INT(prompts, 3);
  /* ^D on a non-empty line is ignored; on an empty line it logs out. */
  feed(c, "x\x04\x7f");
  take(c);
  CHECK(!lab_mem_closed(c));
  feed(c, "\x04");
  take(c);
  CHECK(has("logout"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);

  /* Backspace while typing the password echoes nothing either. */
  c = open_conn();
  lab_mem_feed(c, AGREE, sizeof AGREE);
  feed(c, "alice\r\n");
  take(c);
  feed(c, PW "x\x7f");
  take(c);
  CHECK_EQ_INT(last_len, 0);
  feed(c, "\r\n");
  take(c);
  CHECK(has("alice@lab:~$ "));
  lab_mem_free(c);
}

static void test_iac_in_data(void) {
  struct lab_conn *c = login_alice();
  /* IAC IAC is one data byte 255: echoed doubled, and echo prints it doubled. */
  lab_mem_feed(c,
               "echo a\xff\xff"
               "b\r\n",
               11);
  take(c);
  CHECK(memmem(last_out, last_len,
               "echo a\xff\xff"
               "b\r\na\xff\xff"
               "b\r\n",
               17) != NULL);
  /* Commands in the middle of a line vanish from it. */
  const unsigned char mixed[] = {'w',        'h',        TELNET_IAC, TELNET_NOP, 'o',
                                 TELNET_IAC, TELNET_AYT, 'a',        'm',        TELNET_IAC,
                                 TELNET_SB,  24,         0,          'x',        TELNET_IAC,
                                 TELNET_SE,  'i',        '\r',       '\n'};
  lab_mem_feed(c, mixed, sizeof mixed);
  take(c);
  CHECK(has("whoami\r\nalice\r\n"));
  /* The client withdraws ECHO: the server stops echoing. */
  const unsigned char dont_echo[] = {TELNET_IAC, TELNET_DONT, TELNET_OPT_ECHO};
  lab_mem_feed(c, dont_echo, sizeof dont_echo);
  take(c);
  const unsigned char wont_echo[] = {TELNET_IAC, TELNET_WONT, TELNET_OPT_ECHO};
  CHECK_EQ_INT(last_len, 3);
  CHECK(memcmp(last_out, wont_echo, 3) == 0);
  feed(c, "whoami\r\n");
  CHECK_EQ_STR(take(c), "alice\r\nalice@lab:~$ ");
  lab_mem_free(c);
}

static void test_line_cap(void) {
  char line[LIM_TELNET_LINE + 8];
  /* LIM_TELNET_LINE - 2 characters (room for CR LF) are accepted. */
  struct lab_conn *c = login_alice();
  memset(line, 'x', LIM_TELNET_LINE - 2);
  line[LIM_TELNET_LINE - 2] = '\0';
  run(c, line);
  CHECK(has("command not found"));
  CHECK(!lab_mem_closed(c));
  /* One more is too long: an error line and the connection ends. */
  memset(line, 'x', LIM_TELNET_LINE - 1);
  line[LIM_TELNET_LINE - 1] = '\0';
  run(c, line);
  CHECK(has("Line too long"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
  /* The same cap holds before login and for the password. */
  c = open_conn();
  take(c);
  memset(line, 'n', LIM_TELNET_LINE);
  lab_mem_feed(c, line, LIM_TELNET_LINE);
  take(c);
  CHECK(has("Line too long"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
  c = open_conn();
  feed(c, "alice\r\n");
  take(c);
  lab_mem_feed(c, line, LIM_TELNET_LINE);
  take(c);
  CHECK(has("Line too long"));
  CHECK(!has("nnnn"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

static void test_floods(void) {
  struct lab_conn *c = login_alice();
  /* An endless subnegotiation: kept to LIM_TELNET_SB_BYTES, output none. */
  const unsigned char sb[] = {TELNET_IAC, TELNET_SB, TELNET_OPT_TTYPE};
  lab_mem_feed(c, sb, sizeof sb);
  unsigned char chunk[4096];
  memset(chunk, 'A', sizeof chunk);
  for (int i = 0; i < 256; i++) lab_mem_feed(c, chunk, sizeof chunk); /* 1 MiB */
  take(c);
  CHECK_EQ_INT(last_len, 0);
  CHECK(!lab_mem_closed(c));
  const unsigned char se[] = {TELNET_IAC, TELNET_SE};
  lab_mem_feed(c, se, sizeof se);
  feed(c, "whoami\r\n");
  take(c);
  CHECK(has("alice\r\n"));

  /* 100000 random negotiation commands: the answers stay bounded. */
  unsigned seed = 12345;
  size_t total = 0;
  for (int i = 0; i < 100000; i++) {
    seed = seed * 1103515245u + 12345u;
    unsigned char cmd[3] = {TELNET_IAC, (unsigned char)(TELNET_WILL + ((seed >> 16) & 3)),
                            (unsigned char)(seed >> 8)};
    lab_mem_feed(c, cmd, 3);
    size_t n;
    lab_mem_output(c, &n);
    total += n;
    lab_mem_clear(c);
  }
  CHECK(total <= 3 * 100000);
  CHECK(!lab_mem_closed(c));
  /* Whatever ECHO ended as, the shell still answers. */
  lab_mem_feed(c, AGREE, sizeof AGREE);
  feed(c, "\x15whoami\r\n");
  take(c);
  CHECK(has("alice\r\n"));
  lab_mem_free(c);
}

static void test_timeout(void) {
  struct lab_conn *c = open_conn();
  take(c);
  lab_mem_timeout(c);
  take(c);
  CHECK(has("No input for"));
  CHECK(lab_mem_closed(c));
  lab_mem_free(c);
}

/* The goodbye names the limit the connection ran under: the server's
 * --lab-idle-timeout when set. */
static void test_timeout_names_the_limit(void) {
  char want[64];
  ctx.idle_secs = 42;
  struct lab_conn *c = open_conn();
  take(c);
  lab_mem_timeout(c);
  take(c);
  CHECK(has("No input for 42 seconds"));
  lab_mem_free(c);
  ctx.idle_secs = 0;
  c = open_conn();
  take(c);
  lab_mem_timeout(c);
  take(c);
  snprintf(want, sizeof want, "No input for %d seconds", LIM_LAB_IDLE_SECS);
  CHECK(has(want));
  lab_mem_free(c);
}

/* The whole session fed at once and fed split at every byte boundary must
 * produce the same bytes. */
static const char *SCRIPT_TEXT =
    "alice\r\n" PW
    "\r\nls -l\r\ncd notes\r\ncat ftp-flag.txt\r\npwd\r\necho \xff\xff!\r\0"
    "who\x7f\x7fho\x1b[Dami\nfoo\r\nexit\r\n";

static size_t script(unsigned char *out) {
  size_t n = 0;
  memcpy(out, AGREE, sizeof AGREE);
  n += sizeof AGREE;
  /* a command in the middle of the stream, split like everything else */
  const unsigned char nop[] = {TELNET_IAC, TELNET_NOP, TELNET_IAC, TELNET_SB,  31,       0,
                               80,         0,          24,         TELNET_IAC, TELNET_SE};
  memcpy(out + n, nop, sizeof nop);
  n += sizeof nop;
  size_t t = strlen(SCRIPT_TEXT);
  memcpy(out + n, SCRIPT_TEXT, t);
  n += t;
  /* strlen stops at the NUL of CR NUL: add the rest by hand */
  const char *rest = SCRIPT_TEXT + t + 1;
  out[n++] = '\0';
  memcpy(out + n, rest, strlen(rest));
  n += strlen(rest);
  return n;
}

static void test_split_everywhere(void) {
  unsigned char in[512];
  size_t n = script(in);
  static char whole[65536];
  size_t whole_len = 0;

  struct lab_conn *c = open_conn();
  lab_mem_feed(c, in, n);
  const char *o = lab_mem_output(c, &whole_len);
  CHECK(whole_len < sizeof whole);
  memcpy(whole, o, whole_len);
  CHECK(lab_mem_closed(c));
  CHECK(memmem(whole, whole_len, "logout", 6) != NULL);
  CHECK(memmem(whole, whole_len, "\xff\xff!\r\n", 5) != NULL);
  CHECK(memmem(whole, whole_len, "lab-sh: foo", 11) != NULL);
  lab_mem_free(c);

  int mismatches = 0;
  for (size_t cut = 1; cut < n; cut++) {
    c = open_conn();
    lab_mem_feed(c, in, cut);
    lab_mem_feed(c, in + cut, n - cut);
    size_t len;
    o = lab_mem_output(c, &len);
    if (len != whole_len || memcmp(o, whole, len) != 0) mismatches++;
    lab_mem_free(c);
  }
  CHECK_EQ_INT(mismatches, 0);
  /* And one byte at a time. */
  c = open_conn();
  for (size_t i = 0; i < n; i++) lab_mem_feed(c, in + i, 1);
  size_t len;
  o = lab_mem_output(c, &len);
  CHECK(len == whole_len && memcmp(o, whole, len) == 0);
  lab_mem_free(c);
}

int main(void) {
  lab_fixture(&ctx, SECRET, PW);

  test_accept_negotiation();
  test_login_echo_and_hidden_password();
  test_login_without_echo();
  test_login_failures();
  test_shell_commands();
  test_file_content_is_nvt();
  test_line_editing();
  test_iac_in_data();
  test_line_cap();
  test_floods();
  test_timeout();
  test_timeout_names_the_limit();
  test_split_everywhere();

  db_close(ctx.db);
  return check_done();
}
