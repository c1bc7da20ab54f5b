/* telnetd.c -- the built-in lab Telnet server: a login, then a simulated shell.
 *
 * Implements the server side of RFC 854 (the Network Virtual Terminal: CR
 * LF and CR NUL line ends, IAC and its doubling), RFC 855 (option
 * negotiation), RFC 857 (ECHO: the server offers to echo, which lets it
 * leave the password off the screen), RFC 858 (SUPPRESS-GO-AHEAD, both
 * directions, as every character-at-a-time telnetd does) and RFC 1143 (the
 * Q method, through the shared engine in telnet.c, so a hostile peer can
 * neither start a negotiation loop nor make us answer without bound).
 *
 * The module runs in raw mode: every byte goes through the option engine,
 * and the data bytes that come out are edited here one character at a
 * time, the way a terminal line discipline would (echo, backspace, ^U,
 * ^C, escape sequences swallowed). After "login:" and "Password:" the
 * account's virtual files (db_file_*, the tree FTP shows) are browsed by a
 * handful of shell commands written here. Nothing is ever executed and
 * the host file system is never touched: every path goes through
 * vpath_resolve() and then the database.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lab.h"
#include "labdata.h"
#include "labdb.h"
#include "portlab_limits.h"
#include "telnet.h"

#define TN_HOSTNAME "lab"
/* The longest line, CR LF excluded: LIM_TELNET_LINE counts the line end
 * like every line_max in lab.h does. */
#define TN_LINE_MAX (LIM_TELNET_LINE - 2)
/* A line of TN_LINE_MAX bytes holds at most this many words. */
#define TN_MAX_ARGS (LIM_TELNET_LINE / 2 + 1)
#define TN_PATH_MAX 256

enum tn_state { TN_LOGIN = 0, TN_PASSWORD, TN_SHELL, TN_CLOSED };

/* Escape sequences from arrow and function keys are swallowed whole, or
 * their tails ("[A") would land in the command line. */
enum tn_esc { ESC_NONE = 0, ESC_START, ESC_CSI };

struct tn_session {
  struct lab_conn *c;
  struct telnet *tn;
  enum tn_state state;
  char line[TN_LINE_MAX + 1];
  size_t len;
  int after_cr; /* the last byte was CR: an LF or NUL right after it belongs to it */
  int esc;      /* enum tn_esc */
  int tries;    /* failed logins */
  int sb_warned;
  char login[TN_LINE_MAX + 1];
  struct db_user user;
  char cwd[TN_PATH_MAX], oldcwd[TN_PATH_MAX];
  /* The current command, split into words (pointing into words[]). */
  char words[TN_LINE_MAX + 1];
  char *argv[TN_MAX_ARGS + 1];
  int argc;
};

/* The one place the state changes. */
static void tn_set_state(struct tn_session *s, enum tn_state st) {
  s->state = st;
}

/* --- output ---------------------------------------------------------------- */

/* Sends text as NVT data: a bare LF becomes CR LF, a bare CR becomes CR
 * NUL (RFC 854), and telnet_send_data doubles any 255. */
static void tn_write(struct tn_session *s, const void *data, size_t n) {
  const unsigned char *p = data;
  unsigned char out[1024];
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char b = p[i];
    if (o + 2 > sizeof out) {
      telnet_send_data(s->tn, out, o);
      o = 0;
    }
    if (b == '\n' && (i == 0 || p[i - 1] != '\r')) {
      out[o++] = '\r';
      out[o++] = '\n';
    } else if (b == '\r' && (i + 1 >= n || p[i + 1] != '\n')) {
      out[o++] = '\r';
      out[o++] = '\0';
    } else {
      out[o++] = b;
    }
  }
  if (o) telnet_send_data(s->tn, out, o);
}

static void tn_puts(struct tn_session *s, const char *str) {
  tn_write(s, str, strlen(str));
}

static void tn_printf(struct tn_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tn_printf(struct tn_session *s, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  tn_write(s, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static int tn_echoing(struct tn_session *s) {
  return telnet_local_enabled(s->tn, TELNET_OPT_ECHO);
}

static void tn_prompt(struct tn_session *s) {
  switch (s->state) {
    case TN_LOGIN:
      tn_puts(s, TN_HOSTNAME " login: ");
      break;
    case TN_PASSWORD:
      tn_puts(s, "Password: ");
      break;
    case TN_SHELL:
      /* Like bash: the home directory (the root of the lab tree) is "~". */
      tn_printf(s, "%s@%s:~%s$ ", s->user.name, TN_HOSTNAME, strcmp(s->cwd, "/") ? s->cwd : "");
      break;
    case TN_CLOSED:
      break;
  }
}

static void tn_close(struct tn_session *s) {
  tn_set_state(s, TN_CLOSED);
  lab_close(s->c);
}

/* --- paths ------------------------------------------------------------------- */

/* Resolves a shell argument into the account's tree. "~" and "~/x" name
 * the home directory, which is the tree's root. -1 if the path would leave
 * the tree or holds bytes no path may hold. */
static int tn_path(struct tn_session *s, const char *arg, char *out, size_t outlen) {
  if (arg[0] == '~' && (arg[1] == '\0' || arg[1] == '/'))
    return vpath_resolve("/", arg + 1, out, outlen);
  return vpath_resolve(s->cwd, arg, out, outlen);
}

static const char *tn_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash && slash[1] ? slash + 1 : path;
}

/* Looks a path up; prints "<cmd>: <arg>: <why>" and returns -1 if it
 * cannot be used. */
static int tn_lookup(struct tn_session *s, const char *cmd, const char *arg, char *path,
                     size_t pathlen, struct db_file *f) {
  struct lab_ctx *ctx = lab_conn_ctx(s->c);
  if (tn_path(s, arg, path, pathlen)) {
    lab_warn(s->c, "%s: path outside the lab home refused: %.80s", cmd, arg);
    tn_printf(s, "%s: %s: Permission denied (only your lab home can be reached)\n", cmd, arg);
    return -1;
  }
  int rc = db_file_stat(ctx->db, s->user.id, path, f);
  if (rc == 1) {
    tn_printf(s, "%s: %s: No such file or directory\n", cmd, arg);
    return -1;
  }
  if (rc) {
    tn_printf(s, "%s: %s: cannot read it right now, try again\n", cmd, arg);
    return -1;
  }
  return 0;
}

/* --- the commands --------------------------------------------------------- */

struct tn_ls {
  struct tn_session *s;
  int long_form, all;
  int count;
  long long blocks;
};

static void tn_ls_long_line(struct tn_session *s, const struct db_file *f, const char *name) {
  char when[32];
  time_t t = (time_t)f->mtime, now = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  /* ls shows the year instead of the time for files older than six months. */
  if (t > now - 182 * 24 * 3600 && t <= now + 3600)
    strftime(when, sizeof when, "%b %e %H:%M", &tm);
  else
    strftime(when, sizeof when, "%b %e  %Y", &tm);
  tn_printf(s, "%s %d %s lab %8zu %s %s\n", f->is_dir ? "drwxr-xr-x" : "-rw-r--r--",
            f->is_dir ? 2 : 1, s->user.name, f->is_dir ? (size_t)4096 : f->size, when, name);
}

static int tn_ls_count(void *arg, const struct db_file *f) {
  struct tn_ls *ls = arg;
  const char *name = tn_basename(f->path);
  if (name[0] == '.' && !ls->all) return 0;
  ls->blocks += f->is_dir ? 4 : (long long)((f->size + 4095) / 4096 * 4);
  return 0;
}

static int tn_ls_entry(void *arg, const struct db_file *f) {
  struct tn_ls *ls = arg;
  const char *name = tn_basename(f->path);
  if (name[0] == '.' && !ls->all) return 0;
  if (ls->long_form) {
    tn_ls_long_line(ls->s, f, name);
  } else {
    tn_printf(ls->s, "%s%s", ls->count ? "  " : "", name);
  }
  ls->count++;
  return 0;
}

static void tn_ls_dir(struct tn_session *s, struct tn_ls *ls, const char *path,
                      const struct db_file *self) {
  struct lab_ctx *ctx = lab_conn_ctx(s->c);
  ls->count = 0;
  ls->blocks = 0;
  if (ls->long_form) {
    db_file_list(ctx->db, s->user.id, path, tn_ls_count, ls);
    tn_printf(s, "total %lld\n", ls->blocks + (ls->all ? 8 : 0));
    if (ls->all) {
      tn_ls_long_line(s, self, ".");
      tn_ls_long_line(s, self, "..");
    }
  } else if (ls->all) {
    tn_puts(s, ".  ..");
    ls->count = 2;
  }
  db_file_list(ctx->db, s->user.id, path, tn_ls_entry, ls);
  if (!ls->long_form && ls->count) tn_puts(s, "\n");
}

static void cmd_ls(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  struct tn_ls ls = {.s = s};
  const char *paths[TN_MAX_ARGS];
  int npaths = 0;

  for (int i = 1; i < s->argc; i++) {
    const char *a = s->argv[i];
    if (a[0] != '-' || a[1] == '\0') {
      paths[npaths++] = a;
      continue;
    }
    for (const char *o = a + 1; *o; o++) {
      if (*o == 'l')
        ls.long_form = 1;
      else if (*o == 'a' || *o == 'A')
        ls.all = 1;
      else if (*o != '1') {
        tn_printf(s, "ls: invalid option -- '%c'\nThis shell's ls knows -l, -a and -1.\n", *o);
        return;
      }
    }
  }
  if (npaths == 0) paths[npaths++] = ".";

  for (int i = 0; i < npaths; i++) {
    char path[TN_PATH_MAX];
    struct db_file f;
    if (tn_lookup(s, "ls", paths[i], path, sizeof path, &f)) continue;
    if (!f.is_dir) {
      if (ls.long_form)
        tn_ls_long_line(s, &f, paths[i]);
      else
        tn_printf(s, "%s\n", paths[i]);
      continue;
    }
    if (npaths > 1) tn_printf(s, "%s%s:\n", i ? "\n" : "", paths[i]);
    tn_ls_dir(s, &ls, path, &f);
  }
}

static void cmd_cat(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  struct lab_ctx *ctx = lab_conn_ctx(c);
  if (s->argc < 2) {
    tn_puts(s, "cat: name a file to show, e.g. cat notes/readme.txt\n");
    return;
  }
  for (int i = 1; i < s->argc; i++) {
    char path[TN_PATH_MAX];
    struct db_file f;
    unsigned char *data = NULL;
    size_t len = 0;
    if (tn_lookup(s, "cat", s->argv[i], path, sizeof path, &f)) continue;
    if (f.is_dir) {
      tn_printf(s, "cat: %s: Is a directory\n", s->argv[i]);
      continue;
    }
    if (db_file_read(ctx->db, s->user.id, path, &data, &len)) {
      tn_printf(s, "cat: %s: cannot read it right now, try again\n", s->argv[i]);
      continue;
    }
    tn_write(s, data, len);
    free(data);
  }
}

static void cmd_pwd(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  tn_printf(s, "%s\n", s->cwd);
}

static void cmd_cd(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  char path[TN_PATH_MAX];
  struct db_file f;
  const char *arg = s->argc > 1 ? s->argv[1] : "~";

  if (s->argc > 2) {
    tn_puts(s, "cd: too many arguments\n");
    return;
  }
  if (strcmp(arg, "-") == 0) {
    arg = s->oldcwd;
    tn_printf(s, "%s\n", arg);
  }
  if (tn_lookup(s, "cd", arg, path, sizeof path, &f)) return;
  if (!f.is_dir) {
    tn_printf(s, "cd: %s: Not a directory\n", arg);
    return;
  }
  memcpy(s->oldcwd, s->cwd, sizeof s->oldcwd);
  snprintf(s->cwd, sizeof s->cwd, "%s", path);
}

static void cmd_whoami(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  tn_printf(s, "%s\n", s->user.name);
}

static void cmd_id(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  tn_printf(s, "uid=%lld(%s) gid=100(users) groups=100(users)\n", 1000LL + (long long)s->user.id,
            s->user.name);
}

static void cmd_uname(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  /* The fields in the order uname -a prints them. */
  static const struct {
    char opt;
    const char *value;
  } fields[] = {{'s', "Linux"},         {'n', TN_HOSTNAME},
                {'r', "6.1.0-portlab"}, {'v', "#1 SMP PREEMPT_DYNAMIC (simulated by portlab)"},
                {'m', "x86_64"},        {'o', "GNU/Linux"}};
  unsigned want = 0;
  for (int i = 1; i < s->argc; i++) {
    const char *a = s->argv[i];
    if (a[0] != '-' || !a[1]) {
      tn_printf(s, "uname: extra operand '%s'\n", a);
      return;
    }
    for (const char *o = a + 1; *o; o++) {
      size_t k;
      if (*o == 'a') {
        want = ~0u;
        continue;
      }
      for (k = 0; k < sizeof fields / sizeof fields[0] && fields[k].opt != *o; k++) continue;
      if (k == sizeof fields / sizeof fields[0]) {
        tn_printf(s, "uname: invalid option -- '%c'\n", *o);
        return;
      }
      want |= 1u << k;
    }
  }
  if (!want) want = 1; /* plain uname: the kernel name */
  int first = 1;
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
    if (!(want & (1u << k))) continue;
    tn_printf(s, "%s%s", first ? "" : " ", fields[k].value);
    first = 0;
  }
  tn_puts(s, "\n");
}

static void cmd_hostname(struct lab_conn *c, void *sp, char *args) {
  tn_puts(sp, TN_HOSTNAME "\n");
}

static void cmd_date(struct lab_conn *c, void *sp, char *args) {
  char buf[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(buf, sizeof buf, "%a %b %e %H:%M:%S UTC %Y\n", &tm);
  tn_puts(sp, buf);
}

static void cmd_echo(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  int i = 1, newline = 1;
  if (s->argc > 1 && strcmp(s->argv[1], "-n") == 0) {
    newline = 0;
    i = 2;
  }
  for (int first = i; i < s->argc; i++) tn_printf(s, "%s%s", i > first ? " " : "", s->argv[i]);
  if (newline) tn_puts(s, "\n");
}

static void cmd_clear(struct lab_conn *c, void *sp, char *args) {
  tn_puts(sp, "\033[H\033[2J");
}

static void cmd_help(struct lab_conn *c, void *sp, char *args) {
  tn_puts(sp,
          "This is a simulated shell: it runs no programs, it only shows the files of\n"
          "your lab account (the same files the FTP server shows). Your home ~ is the\n"
          "top of that tree, so ~/notes and /notes are the same folder.\n"
          "\n"
          "  ls [-l] [-a] [path]   list a folder\n"
          "  cat file...           show files\n"
          "  cd [dir]              change folder (cd alone goes home)\n"
          "  pwd                   show the current folder\n"
          "  whoami, id            who you are logged in as\n"
          "  uname [-a], hostname  about this machine\n"
          "  date                  the time (UTC)\n"
          "  echo text             print text\n"
          "  clear                 clear the screen\n"
          "  exit, logout          end the session\n");
}

static void cmd_exit(struct lab_conn *c, void *sp, char *args) {
  struct tn_session *s = sp;
  tn_puts(s, "logout\n");
  tn_close(s);
}

#define TN_SH LAB_IN(TN_SHELL)
static const struct lab_cmd tn_commands[] = {
    {"cat", TN_SH, cmd_cat, LAB_ARGS_ANY, NULL, NULL},
    {"cd", TN_SH, cmd_cd, LAB_ARGS_ANY, NULL, NULL},
    {"clear", TN_SH, cmd_clear, LAB_ARGS_ANY, NULL, NULL},
    {"date", TN_SH, cmd_date, LAB_ARGS_ANY, NULL, NULL},
    {"echo", TN_SH, cmd_echo, LAB_ARGS_ANY, NULL, NULL},
    {"exit", TN_SH, cmd_exit, LAB_ARGS_ANY, NULL, NULL},
    {"help", TN_SH, cmd_help, LAB_ARGS_ANY, NULL, NULL},
    {"hostname", TN_SH, cmd_hostname, LAB_ARGS_ANY, NULL, NULL},
    {"id", TN_SH, cmd_id, LAB_ARGS_ANY, NULL, NULL},
    {"logout", TN_SH, cmd_exit, LAB_ARGS_ANY, NULL, NULL},
    {"ls", TN_SH, cmd_ls, LAB_ARGS_ANY, NULL, NULL},
    {"pwd", TN_SH, cmd_pwd, LAB_ARGS_ANY, NULL, NULL},
    {"uname", TN_SH, cmd_uname, LAB_ARGS_ANY, NULL, NULL},
    {"whoami", TN_SH, cmd_whoami, LAB_ARGS_ANY, NULL, NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

/* A shell has one answer for every command it cannot run. */
static void tn_refuse(struct lab_conn *c, void *sp, enum lab_refusal why, const char *verb,
                      const struct lab_cmd *row) {
  tn_printf(sp, "lab-sh: %s: command not found (type help for the commands)\n", verb);
}

/* A Unix shell tells "ls" from "LS": verbs match exactly. */
static const struct lab_cmd_set tn_command_set = {tn_commands, LAB_CMDS_EXACT_CASE, tn_refuse,
                                                  NULL};

/* Splits the line into words the way a shell does for the simple cases:
 * blanks separate, '...' and "..." group, a backslash escapes one
 * character. -1 on an unterminated quote. */
static int tn_split(struct tn_session *s) {
  const char *p = s->line;
  char *w = s->words;
  s->argc = 0;
  for (;;) {
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) break;
    s->argv[s->argc++] = w;
    while (*p && *p != ' ' && *p != '\t') {
      if (*p == '\'' || *p == '"') {
        char q = *p++;
        while (*p && *p != q) {
          if (q == '"' && *p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
          *w++ = *p++;
        }
        if (!*p) return -1;
        p++;
      } else if (*p == '\\' && p[1]) {
        *w++ = p[1];
        p += 2;
      } else {
        *w++ = *p++;
      }
    }
    *w++ = '\0';
  }
  s->argv[s->argc] = NULL;
  return 0;
}

static void tn_run_command(struct tn_session *s) {
  if (tn_split(s)) {
    tn_puts(s, "lab-sh: a quote was opened but never closed\n");
    return;
  }
  if (s->argc == 0) return;
  /* The commands read their words from s->argv; args is the whole line. */
  lab_cmd_dispatch_verb(s->c, s, &tn_command_set, (int)s->state, s->argv[0], s->line, 0);
}

/* --- login ------------------------------------------------------------------ */

static void tn_login_done(struct tn_session *s) {
  struct lab_ctx *ctx = lab_conn_ctx(s->c);
  /* The account is normally seeded when the student joins; doing it again
   * is a no-op and covers accounts created before the lab data existed. */
  labdata_seed_account(ctx->db, ctx->secret, s->user.id, s->user.name);
  snprintf(s->cwd, sizeof s->cwd, "/");
  snprintf(s->oldcwd, sizeof s->oldcwd, "/");
  tn_set_state(s, TN_SHELL);
  tn_printf(s,
            "\nWelcome to the portlab lab machine, %s.\n"
            "Everything you typed so far, your password included, crossed the network\n"
            "as plain text. Type help to see what this small simulated shell can do.\n\n",
            s->user.name);
}

static void tn_check_password(struct tn_session *s) {
  struct lab_ctx *ctx = lab_conn_ctx(s->c);
  int rc = db_lab_login(ctx->db, s->login, s->line, &s->user);
  memset(s->line, 0, sizeof s->line);
  if (rc == 0) {
    const char *kv[] = {"user", s->user.name, NULL};
    lab_conn_login(s->c, s->user.name);
    lab_event(s->c, s->user.name, "telnet.login", kv);
    tn_login_done(s);
    return;
  }
  if (rc < 0) {
    tn_puts(s, "The login service is not available right now; try again later.\n");
    tn_close(s);
    return;
  }
  s->tries++;
  lab_warn(s->c, "failed login %d of %d for \"%.40s\"", s->tries, LIM_TELNET_LOGIN_TRIES, s->login);
  tn_puts(s, "\nLogin incorrect\n");
  if (s->tries >= LIM_TELNET_LOGIN_TRIES) {
    tn_printf(s, "%d failed logins; closing the connection.\n", LIM_TELNET_LOGIN_TRIES);
    tn_close(s);
    return;
  }
  tn_set_state(s, TN_LOGIN);
}

/* --- the line editor ------------------------------------------------------------ */

static void tn_enter(struct tn_session *s) {
  s->line[s->len] = '\0';
  s->len = 0;
  /* The Enter of a hidden password still moves the cursor, as login does. */
  if (s->state == TN_PASSWORD || tn_echoing(s)) tn_puts(s, "\n");
  switch (s->state) {
    case TN_LOGIN:
      if (s->line[0]) {
        memcpy(s->login, s->line, sizeof s->login);
        tn_set_state(s, TN_PASSWORD);
      }
      break;
    case TN_PASSWORD:
      tn_check_password(s);
      break;
    case TN_SHELL:
      tn_run_command(s);
      break;
    case TN_CLOSED:
      return;
  }
  tn_prompt(s);
}

static void tn_erase(struct tn_session *s, size_t n) {
  while (n-- && s->len) {
    s->len--;
    if (s->state != TN_PASSWORD && tn_echoing(s)) tn_puts(s, "\b \b");
  }
}

static void tn_char(struct tn_session *s, unsigned char b) {
  if (s->esc == ESC_START) {
    s->esc = (b == '[' || b == 'O') ? ESC_CSI : ESC_NONE;
    return;
  }
  if (s->esc == ESC_CSI) {
    if (b >= 0x40 && b <= 0x7e) s->esc = ESC_NONE;
    return;
  }
  if (s->after_cr) {
    s->after_cr = 0;
    if (b == '\n' || b == '\0') return;
  }
  switch (b) {
    case '\r':
      s->after_cr = 1;
      tn_enter(s);
      return;
    case '\n':
      tn_enter(s);
      return;
    case 0x7f: /* DEL, what most terminals send for Backspace */
    case '\b':
      tn_erase(s, 1);
      return;
    case 0x15: /* ^U */
      tn_erase(s, s->len);
      return;
    case 0x03: /* ^C: drop the line */
      s->len = 0;
      tn_puts(s, "^C\n");
      tn_prompt(s);
      return;
    case 0x04: /* ^D on an empty line ends the session, as in a shell */
      if (s->len == 0) {
        tn_puts(s, s->state == TN_SHELL ? "logout\n" : "\n");
        tn_close(s);
      }
      return;
    case 0x1b:
      s->esc = ESC_START;
      return;
    default:
      break;
  }
  if (b < 0x20) return; /* other control characters (tab, bell, NUL) are ignored */
  if (s->len >= TN_LINE_MAX) {
    lab_warn(s->c, "line longer than %d bytes", TN_LINE_MAX);
    tn_printf(s, "\nLine too long (at most %d characters); closing the connection.\n", TN_LINE_MAX);
    tn_close(s);
    return;
  }
  s->line[s->len++] = (char)b;
  if (s->state != TN_PASSWORD && tn_echoing(s)) telnet_send_data(s->tn, &b, 1);
}

/* --- the engine's callbacks -------------------------------------------------------- */

static void tn_engine_send(void *arg, const unsigned char *p, size_t n) {
  struct tn_session *s = arg;
  if (s->state != TN_CLOSED) lab_send(s->c, p, n);
}

static void tn_engine_data(void *arg, const unsigned char *p, size_t n) {
  struct tn_session *s = arg;
  for (size_t i = 0; i < n && s->state != TN_CLOSED; i++) tn_char(s, p[i]);
}

static const struct telnet_callbacks tn_engine_callbacks = {tn_engine_send, tn_engine_data, NULL,
                                                            NULL};

/* --- the module ------------------------------------------------------------------- */

static int tn_on_accept(struct lab_conn *c, void *sp) {
  struct tn_session *s = sp;
  s->c = c;
  s->tn = telnet_new(&tn_engine_callbacks, s);
  if (!s->tn) return -1;
  /* What a character-at-a-time telnetd asks for: it echoes (so it can
   * hide the password) and nobody sends Go-Ahead. Everything else the
   * peer offers is refused once by the engine. */
  telnet_accept(s->tn, TELNET_OPT_ECHO, 1, 0);
  telnet_accept(s->tn, TELNET_OPT_SGA, 1, 1);
  telnet_set_local(s->tn, TELNET_OPT_ECHO, 1);
  telnet_set_local(s->tn, TELNET_OPT_SGA, 1);
  telnet_set_remote(s->tn, TELNET_OPT_SGA, 1);
  tn_set_state(s, TN_LOGIN);
  tn_puts(s,
          "\nportlab lab machine (simulated Linux) -- telnet sends everything in clear text.\n"
          "Log in with your lab name and lab password, or demo / demo.\n\n");
  tn_prompt(s);
  return 0;
}

static void tn_on_data(struct lab_conn *c, void *sp, const unsigned char *p, size_t n) {
  struct tn_session *s = sp;
  if (s->state == TN_CLOSED) return;
  telnet_recv(s->tn, p, n);
  if (!s->sb_warned && telnet_sb_dropped(s->tn)) {
    s->sb_warned = 1;
    lab_warn(c, "subnegotiation longer than %d bytes; the rest was dropped", LIM_TELNET_SB_BYTES);
  }
}

static void tn_on_timeout(struct lab_conn *c, void *sp) {
  struct tn_session *s = sp;
  if (s->state == TN_CLOSED) return;
  tn_printf(s, "\nNo input for %d seconds; closing the connection.\n", lab_idle_secs(c));
  tn_set_state(s, TN_CLOSED);
}

static void tn_on_close(struct lab_conn *c, void *sp) {
  struct tn_session *s = sp;
  telnet_free(s->tn);
  s->tn = NULL;
}

const struct lab_module lab_telnet = {
    .name = "telnet",
    .line_max = 0, /* raw: the option engine sees every byte */
    .session_size = sizeof(struct tn_session),
    .on_accept = tn_on_accept,
    .on_data = tn_on_data,
    .on_timeout = tn_on_timeout,
    .on_close = tn_on_close,
};
