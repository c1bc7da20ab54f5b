/* imap_mailbox.c -- the lab IMAP server's mailbox names: SELECT, CREATE, DELETE, RENAME, LIST.
 *
 * The commands that work on mailboxes by name (RFC 3501 sections 6.3.1 to
 * 6.3.10): SELECT and EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE and
 * UNSUBSCRIBE, LIST and LSUB, STATUS. Names are hierarchical with "/"
 * between the levels. CREATE and RENAME make the superior names a new name
 * needs (the SHOULD of sections 6.3.3 and 6.3.5), so "CREATE a/b/c" makes
 * "a" and "a/b" too. A level that is no mailbox of its own (its mailbox
 * was deleted while it had inferiors, section 6.3.4, or the name was made
 * before superiors were) is listed with \Noselect, so a client walking
 * the tree with "%" finds everything below it (section 6.3.8); it cannot
 * be selected, and DELETE refuses it while it has inferiors. RENAME takes
 * a name's inferiors with it and moves INBOX's messages out of INBOX
 * (section 6.3.5). Every limit holds whatever the command: an account has
 * at most LIM_IMAP_MAILBOXES mailboxes, superiors counted, and a name at
 * most IMAP_MBOX_MAX bytes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_int.h"
#include "lab.h"
#include "labdb.h"
#include "portlab_limits.h"

/* A command's own reply has been sent (a refusal); the caller says no more. */
#define IMAP_REPLIED (-2)

/* SELECT, and EXAMINE: the same, read-only (RFC 3501 section 6.3.2). */
void imap_mailbox_select(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  const char *verb = lab_cmd_current(c)->verb;
  int read_only = strcmp(verb, "EXAMINE") == 0;
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  char name[IMAP_MBOX_MAX + 1];
  struct db_mailbox mb;
  struct imap_list l;
  struct imap_sb b = {0};
  size_t i;
  int valid, rc;

  if (imap_p_mailbox(&q, name, &valid) != 0 || imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%s mailbox)", q.err, read_only ? "EXAMINE" : "SELECT");
    return;
  }
  /* RFC 3501 section 6.3.1: a SELECT, even one that fails, first closes
   * the mailbox that was open (without expunging it). */
  imap_set_state(s, IMAP_AUTH);
  rc = valid ? db_mailbox_get(db, s->user.id, name, &mb) : 1;
  if (rc == 0) rc = imap_load(c, s, name, &l);
  if (rc == 1) {
    imap_reply(c, s, "NO", "[NONEXISTENT] There is no mailbox by that name");
    return;
  }
  if (rc != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    return;
  }
  imap_set_state(s, IMAP_SELECTED);
  s->msgs = l.m;
  s->n_msgs = l.n;
  s->cap_msgs = l.cap;
  strcpy(s->mbox, name);
  s->read_only = read_only;
  s->uidvalidity = mb.uidvalidity;
  imap_sb_adds(&b, "* FLAGS (" IMAP_ALL_FLAGS ")\r\n");
  imap_sb_adds(&b, read_only ? "* OK [PERMANENTFLAGS ()] Read-only, no flags can be changed\r\n"
                             : "* OK [PERMANENTFLAGS (" IMAP_ALL_FLAGS
                               ")] These flags can be changed\r\n");
  imap_sb_addf(&b, "* %zu EXISTS\r\n* 0 RECENT\r\n", s->n_msgs);
  for (i = 0; i < s->n_msgs; i++)
    if (!(s->msgs[i].flags & DB_MAIL_SEEN)) {
      imap_sb_addf(&b, "* OK [UNSEEN %zu] Message %zu is the first unseen\r\n", i + 1, i + 1);
      break;
    }
  imap_sb_addf(&b, "* OK [UIDVALIDITY %lld] UIDs are valid\r\n", (long long)mb.uidvalidity);
  imap_sb_addf(&b, "* OK [UIDNEXT %lld] The next UID\r\n", (long long)mb.uidnext);
  imap_send_sb(c, &b);
  imap_sb_free(&b);
  imap_reply(c, s, "OK", "[%s] %s completed", read_only ? "READ-ONLY" : "READ-WRITE", verb);
}

static int imap_count_cb(void *arg, const struct db_mailbox *m) {
  (*(size_t *)arg)++;
  return 0;
}

/* 0 while the account has at most max mailboxes; else the refusal has
 * been sent and IMAP_REPLIED is returned. */
static int imap_mailbox_room(struct lab_conn *c, struct imap_session *s, size_t max) {
  size_t count = 0;

  if (db_mailbox_list(lab_conn_ctx(c)->db, s->user.id, imap_count_cb, &count) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not list the mailboxes");
    return IMAP_REPLIED;
  }
  if (count > max) {
    imap_reply(c, s, "NO", "[LIMIT] An account may have at most %d mailboxes", LIM_IMAP_MAILBOXES);
    return IMAP_REPLIED;
  }
  return 0;
}

/* Ends the savepoint a CREATE or RENAME made its change in: kept when rc
 * is 0 and the account still has at most LIM_IMAP_MAILBOXES mailboxes
 * (the superiors it made count), else rolled back. Returns rc, or
 * IMAP_REPLIED after the refusal, or -1. */
static int imap_mailbox_keep(struct lab_conn *c, struct imap_session *s, int rc) {
  struct db *db = lab_conn_ctx(c)->db;

  if (rc == 0) rc = imap_mailbox_room(c, s, LIM_IMAP_MAILBOXES);
  if (rc == 0 && db_lab_release(db) == 0) return 0;
  db_lab_rollback(db);
  return rc ? rc : -1;
}

/* The name a CREATE or RENAME gives, as the client sent it (p, n), into
 * name: 0, or -1 once the refusal has been sent. A trailing delimiter
 * only says the name will have children. */
static int imap_new_name(struct lab_conn *c, struct imap_session *s, const char *p, size_t n,
                         char name[IMAP_MBOX_MAX + 1]) {
  while (n > 0 && p[n - 1] == '/') n--;
  if (imap_mbox_arg(p, n, name) != 0 || strpbrk(name, "*%") || name[0] == '/' ||
      strstr(name, "//")) {
    imap_reply(c, s, "NO",
               "[CANNOT] Mailbox names here are 1 to %d printable ASCII characters, "
               "without * or %% and without empty levels",
               IMAP_MBOX_MAX);
    return -1;
  }
  if (strcmp(name, "INBOX") == 0) {
    imap_reply(c, s, "NO", "[ALREADYEXISTS] INBOX always exists");
    return -1;
  }
  return 0;
}

void imap_mailbox_create(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  char name[IMAP_MBOX_MAX + 1];
  char *p;
  size_t n;
  int rc;

  if (imap_p_astring(&q, &p, &n) != 0 || imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (CREATE mailbox)", q.err);
    return;
  }
  if (imap_new_name(c, s, p, n, name) != 0 || imap_mailbox_room(c, s, LIM_IMAP_MAILBOXES - 1) != 0)
    return;
  rc = db_lab_savepoint(db);
  if (rc == 0) {
    rc = db_mailbox_create(db, s->user.id, name);
    if (rc == 0) rc = db_mailbox_create_superiors(db, s->user.id, name);
    rc = imap_mailbox_keep(c, s, rc);
  }
  if (rc == 0)
    imap_reply(c, s, "OK", "CREATE completed");
  else if (rc == 1)
    imap_reply(c, s, "NO", "[ALREADYEXISTS] That mailbox exists already");
  else if (rc != IMAP_REPLIED)
    imap_reply(c, s, "NO", "[SERVERBUG] Could not create the mailbox");
}

/* RFC 3501 section 6.3.4: a mailbox with inferiors may be deleted (they
 * stay, and its name becomes a \Noselect level); a \Noselect level with
 * inferiors may not. */
void imap_mailbox_delete(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  char name[IMAP_MBOX_MAX + 1];
  int valid, rc;

  if (imap_p_mailbox(&q, name, &valid) != 0 || imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (DELETE mailbox)", q.err);
    return;
  }
  if (valid && strcmp(name, "INBOX") == 0) {
    imap_reply(c, s, "NO", "[CANNOT] INBOX cannot be deleted");
    return;
  }
  if (valid && s->state == IMAP_SELECTED && strcmp(name, s->mbox) == 0) {
    imap_reply(c, s, "NO", "[INUSE] Close the mailbox before deleting it");
    return;
  }
  rc = valid ? db_mailbox_delete(db, s->user.id, name) : 1;
  if (rc == 1 && valid && (rc = db_mailbox_has_inferiors(db, s->user.id, name)) == 0) {
    imap_reply(c, s, "NO",
               "[HASCHILDREN] That name is only a level of the hierarchy (\\Noselect): "
               "delete the mailboxes below it first");
    return;
  }
  if (rc == 0)
    imap_reply(c, s, "OK", "DELETE completed");
  else if (rc == 1)
    imap_reply(c, s, "NO", "[NONEXISTENT] There is no mailbox by that name");
  else
    imap_reply(c, s, "NO", "[SERVERBUG] Could not delete the mailbox");
}

/* 1 if name is from or one of its inferiors (INBOX has none here: its
 * inferiors stay where they are when it is renamed). */
static int imap_renames(const char *from, const char *name) {
  size_t n = strlen(from);

  if (strcmp(name, from) == 0) return 1;
  return strcmp(from, "INBOX") != 0 && strncmp(name, from, n) == 0 && name[n] == '/';
}

/* RFC 3501 section 6.3.5. The selected mailbox, or one whose name the
 * RENAME would change under it, must be closed first, as for DELETE. */
void imap_mailbox_rename(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  char from[IMAP_MBOX_MAX + 1], to[IMAP_MBOX_MAX + 1], *p;
  size_t n;
  int valid, rc;

  if (imap_p_mailbox(&q, from, &valid) != 0 || imap_p_sp(&q) != 0 ||
      imap_p_astring(&q, &p, &n) != 0 || imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (RENAME mailbox new-name)", q.err);
    return;
  }
  if (!valid) {
    imap_reply(c, s, "NO", "[NONEXISTENT] There is no mailbox by that name");
    return;
  }
  if (imap_new_name(c, s, p, n, to) != 0) return;
  if (s->state == IMAP_SELECTED && imap_renames(from, s->mbox)) {
    imap_reply(c, s, "NO", "[INUSE] Close the mailbox before renaming it");
    return;
  }
  rc = db_lab_savepoint(db);
  if (rc == 0) {
    rc = db_mailbox_rename(db, s->user.id, from, to);
    if (rc == 0) rc = db_mailbox_create_superiors(db, s->user.id, to);
    rc = imap_mailbox_keep(c, s, rc);
  }
  switch (rc) {
    case 0:
      imap_reply(c, s, "OK", "RENAME completed");
      break;
    case IMAP_REPLIED:
      break;
    case DB_RENAME_NONE:
      imap_reply(c, s, "NO", "[NONEXISTENT] There is no mailbox by that name");
      break;
    case DB_RENAME_EXISTS:
      imap_reply(c, s, "NO", "[ALREADYEXISTS] A mailbox by the new name exists already");
      break;
    case DB_RENAME_INSIDE:
      imap_reply(c, s, "NO", "[CANNOT] A mailbox cannot be moved below itself");
      break;
    case DB_RENAME_LONG:
      imap_reply(c, s, "NO", "[CANNOT] A mailbox below it would get a name over %d characters",
                 IMAP_MBOX_MAX);
      break;
    default:
      imap_reply(c, s, "NO", "[SERVERBUG] Could not rename the mailbox");
  }
}

/* SUBSCRIBE and UNSUBSCRIBE. Every mailbox counts as subscribed: LSUB
 * lists them all. */
void imap_mailbox_subscribe(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  const char *verb = lab_cmd_current(c)->verb;
  struct imap_p q = {args, s->args_end, NULL};
  char name[IMAP_MBOX_MAX + 1];
  int valid;

  if (imap_p_mailbox(&q, name, &valid) != 0 || imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%s mailbox)", q.err, verb);
    return;
  }
  imap_reply(c, s, "OK", "%s completed", verb);
}

/* RFC 3501 section 6.3.8: "*" matches anything, "%" anything but the
 * hierarchy delimiter. Dynamic programming over the (short) name keeps a
 * pattern of many wildcards linear in the pattern's length. */
static int imap_glob(const char *pat, size_t pn, const char *name) {
  unsigned char row[IMAP_MBOX_MAX + 2], next[IMAP_MBOX_MAX + 2];
  size_t nn = strlen(name), i, j;
  int fold = strcmp(name, "INBOX") == 0; /* INBOX in any case */

  if (nn > IMAP_MBOX_MAX) return 0;
  memset(row, 0, sizeof row);
  row[0] = 1;
  for (i = 0; i < pn; i++) {
    unsigned char pc = (unsigned char)pat[i];
    for (j = 0; j <= nn; j++) {
      if (pc == '*')
        next[j] = row[j] || (j > 0 && next[j - 1]);
      else if (pc == '%')
        next[j] = row[j] || (j > 0 && next[j - 1] && name[j - 1] != '/');
      else
        next[j] =
            j > 0 && row[j - 1] &&
            (fold ? toupper(pc) == (unsigned char)name[j - 1] : pc == (unsigned char)name[j - 1]);
    }
    memcpy(row, next, nn + 1);
  }
  return row[nn];
}

/* Every name LIST may show: the mailboxes, and each level above one that
 * is no mailbox itself (real 0: \Noselect). */
struct imap_name {
  char name[IMAP_MBOX_MAX + 1];
  int real;
};

struct imap_names {
  struct imap_name *v;
  size_t n, cap;
  int oom;
};

static void imap_names_add(struct imap_names *l, const char *name, size_t n, int real) {
  void *p = buf_array_room(l->v, l->n, &l->cap, 16, sizeof *l->v);

  if (!p) {
    l->oom = 1;
    return;
  }
  l->v = p;
  snprintf(l->v[l->n].name, sizeof l->v[0].name, "%.*s", (int)n, name);
  l->v[l->n++].real = real;
}

static int imap_names_cb(void *arg, const struct db_mailbox *m) {
  struct imap_names *l = arg;
  size_t i;

  for (i = 1; m->name[i]; i++)
    if (m->name[i] == '/') imap_names_add(l, m->name, i, 0);
  imap_names_add(l, m->name, strlen(m->name), 1);
  return l->oom;
}

/* INBOX first, then by name (the store's order); a mailbox before a level of the same name. */
static int imap_name_cmp(const void *a, const void *b) {
  const struct imap_name *x = a, *y = b;
  int xi = strcmp(x->name, "INBOX") != 0, yi = strcmp(y->name, "INBOX") != 0, d;

  if (xi != yi) return xi - yi;
  d = strcmp(x->name, y->name);
  return d ? d : y->real - x->real;
}

/* The account's names in LIST order, each once. */
static int imap_names_load(struct lab_conn *c, struct imap_session *s, struct imap_names *l) {
  size_t i, k = 0;

  if (db_mailbox_list(lab_conn_ctx(c)->db, s->user.id, imap_names_cb, l) != 0 || l->oom) return -1;
  if (l->n) qsort(l->v, l->n, sizeof *l->v, imap_name_cmp);
  for (i = 0; i < l->n; i++)
    if (k == 0 || strcmp(l->v[k - 1].name, l->v[i].name) != 0) l->v[k++] = l->v[i];
  l->n = k;
  return 0;
}

/* LIST, and LSUB: the same list, since every mailbox counts as subscribed. */
void imap_mailbox_list(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  const char *verb = lab_cmd_current(c)->verb;
  struct imap_p q = {args, s->args_end, NULL};
  struct imap_names names = {0};
  struct imap_sb b = {0};
  char *ref, *pat, *full = NULL;
  size_t rn, pn, i, j;

  if (imap_p_list_mailbox(&q, &ref, &rn) != 0 || imap_p_sp(&q) != 0 ||
      imap_p_list_mailbox(&q, &pat, &pn) != 0 || imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%s reference pattern)", q.err, verb);
    return;
  }
  if (pn == 0) { /* RFC 3501: the delimiter and the root of the reference */
    lab_printf(c, "* %s (\\Noselect) \"/\" \"\"\r\n", verb);
    imap_reply(c, s, "OK", "%s completed", verb);
    return;
  }
  full = malloc(rn + pn + 1);
  if (!full || imap_names_load(c, s, &names) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not list the mailboxes");
    goto done;
  }
  memcpy(full, ref, rn);
  memcpy(full + rn, pat, pn);
  for (i = 0; i < names.n; i++) {
    const char *name = names.v[i].name;
    size_t len = strlen(name);
    int children = 0;
    if (!imap_glob(full, rn + pn, name)) continue;
    for (j = 0; j < names.n && !children; j++)
      children = strncmp(names.v[j].name, name, len) == 0 && names.v[j].name[len] == '/';
    imap_sb_addf(&b, "* %s (%s) \"/\" ", verb,
                 !names.v[i].real ? "\\Noselect \\HasChildren"
                 : children       ? "\\HasChildren"
                                  : "\\HasNoChildren");
    imap_sb_mailbox(&b, name);
    imap_sb_adds(&b, "\r\n");
  }
  imap_send_sb(c, &b);
  imap_reply(c, s, "OK", "%s completed", verb);

done:
  imap_sb_free(&b);
  free(names.v);
  free(full);
}

void imap_mailbox_status(struct lab_conn *c, void *sv, char *args) {
  struct imap_session *s = sv;
  struct imap_p q = {args, s->args_end, NULL};
  char name[IMAP_MBOX_MAX + 1], *att, up[16];
  struct db_mailbox mb;
  struct imap_sb b = {0};
  size_t n, recent = 0, i;
  int valid, rc, first = 1;

  memset(&mb, 0, sizeof mb);
  if (imap_p_mailbox(&q, name, &valid) != 0 || imap_p_sp(&q) != 0 ||
      imap_p_char(&q, '(', "Missing ( before the status items") != 0) {
    imap_reply(c, s, "BAD", "%s (STATUS mailbox (MESSAGES UNSEEN ...))", q.err);
    return;
  }
  rc = valid ? db_mailbox_get(lab_conn_ctx(c)->db, s->user.id, name, &mb) : 1;
  if (s->state == IMAP_SELECTED && valid && strcmp(name, s->mbox) == 0)
    for (i = 0; i < s->n_msgs; i++) recent += s->msgs[i].recent;
  imap_sb_adds(&b, "* STATUS ");
  imap_sb_mailbox(&b, name);
  imap_sb_adds(&b, " (");
  for (;;) {
    if (imap_p_atom(&q, &att, &n) != 0) break;
    imap_upper(up, sizeof up, att, n);
    if (!first) imap_sb_add(&b, " ", 1);
    first = 0;
    if (strcmp(up, "MESSAGES") == 0)
      imap_sb_addf(&b, "MESSAGES %lld", (long long)mb.messages);
    else if (strcmp(up, "RECENT") == 0)
      imap_sb_addf(&b, "RECENT %zu", recent);
    else if (strcmp(up, "UIDNEXT") == 0)
      imap_sb_addf(&b, "UIDNEXT %lld", (long long)mb.uidnext);
    else if (strcmp(up, "UIDVALIDITY") == 0)
      imap_sb_addf(&b, "UIDVALIDITY %lld", (long long)mb.uidvalidity);
    else if (strcmp(up, "UNSEEN") == 0)
      imap_sb_addf(&b, "UNSEEN %lld", (long long)mb.unseen);
    else {
      imap_p_fail(&q, "Unknown status item (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)");
      break;
    }
    if (!imap_p_peek(&q, ' ')) break;
    q.p++;
  }
  if (q.err || imap_p_char(&q, ')', "Missing ) after the status items") != 0 ||
      imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s", q.err);
  } else if (rc == 1) {
    imap_reply(c, s, "NO", "[NONEXISTENT] There is no mailbox by that name");
  } else if (rc != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
  } else {
    imap_sb_adds(&b, ")\r\n");
    imap_send_sb(c, &b);
    imap_reply(c, s, "OK", "STATUS completed");
  }
  imap_sb_free(&b);
}
