/* imap_selected.c -- the lab IMAP server's selected mailbox.
 *
 * Each session keeps its own snapshot of the selected mailbox (message
 * sequence number -> UID), which only changes where RFC 3501 section 7.4.1
 * allows: mail delivered or expunged by others becomes visible at NOOP,
 * CHECK, SELECT and after APPEND, COPY, MOVE and EXPUNGE. Here: the
 * snapshot, and the commands that change the mailbox's messages: STORE,
 * COPY, MOVE (RFC 6851) with COPYUID (UIDPLUS, RFC 4315), and EXPUNGE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "imap_int.h"
#include "lab.h"
#include "labdb.h"
#include "portlab_limits.h"

/* --- the selected mailbox's snapshot ------------------------------------------ */

static int imap_list_cb(void *arg, const struct db_mail *dm) {
  struct imap_list *l = arg;

  struct imap_msg *m = buf_array_room(l->m, l->n, &l->cap, 64, sizeof *m);
  if (!m) {
    l->oom = 1;
    return 1;
  }
  l->m = m;
  memset(&l->m[l->n], 0, sizeof l->m[l->n]);
  l->m[l->n].uid = dm->uid;
  l->m[l->n].flags = dm->flags;
  l->m[l->n].date = dm->internal_date;
  l->m[l->n].size = dm->size;
  l->n++;
  return 0;
}

/* The mailbox's messages now, in UID order. 1 = the mailbox is gone. */
int imap_load(struct lab_conn *c, struct imap_session *s, const char *mbox, struct imap_list *l) {
  int rc;

  memset(l, 0, sizeof *l);
  rc = db_mail_list(lab_conn_ctx(c)->db, s->user.id, mbox, imap_list_cb, l);
  if (rc == 0 && l->oom) rc = -1;
  if (rc != 0) {
    free(l->m);
    memset(l, 0, sizeof *l);
  }
  return rc;
}

/* The selected mailbox's messages now. 1 (none) once it is gone, or once
 * its name holds another mailbox: one with another UIDVALIDITY (deleted
 * and made again, or renamed away and another renamed to the name),
 * whose messages are not the ones this session numbered, so not one of
 * them may be taken for one of those (RFC 3501 section 2.3.1.1). */
static int imap_load_selected(struct lab_conn *c, struct imap_session *s, struct imap_list *l) {
  struct db_mailbox mb;
  int rc = db_mailbox_get(lab_conn_ctx(c)->db, s->user.id, s->mbox, &mb);

  memset(l, 0, sizeof *l);
  if (rc == 0 && mb.uidvalidity != s->uidvalidity) rc = 1;
  return rc == 0 ? imap_load(c, s, s->mbox, l) : rc;
}

void imap_set_state(struct imap_session *s, enum imap_state st) {
  if (st != IMAP_SELECTED) {
    free(s->msgs);
    s->msgs = NULL;
    s->n_msgs = s->cap_msgs = 0;
    s->mbox[0] = '\0';
    s->read_only = 0;
  }
  s->state = st;
}

static int imap_msgs_reserve(struct imap_session *s, size_t n) {
  struct imap_msg *m;
  size_t cap = s->cap_msgs ? s->cap_msgs : 64;

  if (n <= s->cap_msgs) return 0;
  while (cap < n) cap *= 2;
  m = realloc(s->msgs, cap * sizeof *m);
  if (!m) return -1;
  s->msgs = m;
  s->cap_msgs = cap;
  return 0;
}

/* Brings the snapshot up to date with the store; the output goes to b.
 * Flags are always refreshed. With announce, flag changes made elsewhere
 * are sent as untagged FETCH, messages expunged elsewhere are removed
 * with an untagged EXPUNGE each (highest number first, so every number is
 * right when it is read), and new mail is added and announced with EXISTS
 * and RECENT. Without it -- during FETCH, STORE and SEARCH, which must not
 * send EXPUNGE (RFC 3501 section 7.4.1) -- vanished messages are only
 * marked gone and new ones wait. -1 on a database error. */
int imap_sync(struct lab_conn *c, struct imap_session *s, int announce, struct imap_sb *b) {
  struct imap_list l;
  size_t i, j = 0, added = 0, recent = 0;
  int64_t max_uid = s->n_msgs ? s->msgs[s->n_msgs - 1].uid : 0;
  int rc = imap_load_selected(c, s, &l);

  if (rc < 0) return -1;
  /* rc == 1: another session deleted or renamed the mailbox; all its mail is gone. */
  for (i = 0; i < s->n_msgs; i++) {
    struct imap_msg *m = &s->msgs[i];
    while (j < l.n && l.m[j].uid < m->uid) j++;
    if (j < l.n && l.m[j].uid == m->uid) {
      if (l.m[j].flags != m->flags && !m->gone) {
        m->flags = l.m[j].flags;
        if (announce) {
          imap_sb_addf(b, "* %zu FETCH (FLAGS ", i + 1);
          imap_flags_str(b, m->flags, m->recent);
          imap_sb_adds(b, ")\r\n");
        }
      }
      m->size = l.m[j].size;
    } else {
      m->gone = 1;
    }
  }
  if (!announce) {
    free(l.m);
    return 0;
  }
  for (i = s->n_msgs; i-- > 0;) {
    if (!s->msgs[i].gone) continue;
    imap_sb_addf(b, "* %zu EXPUNGE\r\n", i + 1);
    memmove(&s->msgs[i], &s->msgs[i + 1], (s->n_msgs - i - 1) * sizeof s->msgs[0]);
    s->n_msgs--;
  }
  for (j = 0; j < l.n; j++) {
    if (l.m[j].uid <= max_uid) continue;
    if (imap_msgs_reserve(s, s->n_msgs + 1) != 0) break;
    s->msgs[s->n_msgs] = l.m[j];
    s->msgs[s->n_msgs].recent = 1;
    s->n_msgs++;
    added++;
  }
  if (added) {
    for (i = 0; i < s->n_msgs; i++) recent += s->msgs[i].recent;
    imap_sb_addf(b, "* %zu EXISTS\r\n* %zu RECENT\r\n", s->n_msgs, recent);
  }
  free(l.m);
  return 0;
}

/* The value of "*" in a sequence set: the highest UID, or the number of
 * messages. */
int64_t imap_star(const struct imap_session *s, int uid) {
  if (!uid) return (int64_t)s->n_msgs;
  return s->n_msgs ? s->msgs[s->n_msgs - 1].uid : 0;
}

/* A command that would change a mailbox opened with EXAMINE is refused:
 * 0 to go on, -1 once the refusal has been sent. */
int imap_writable(struct lab_conn *c, struct imap_session *s) {
  if (!s->read_only) return 0;
  imap_reply(c, s, "NO", "[READ-ONLY] The mailbox was opened with EXAMINE");
  return -1;
}

/* What FETCH, STORE, COPY, MOVE and SEARCH check once their arguments are
 * parsed: with message numbers (not UIDs), every number written in set
 * (NULL: none) must name a message; a command that writes needs the
 * mailbox opened with SELECT; then the snapshot is brought up to date
 * without announcing anything into b (RFC 3501 section 7.4.1 forbids
 * EXPUNGE during these). 0 to go on, -1 once the refusal has been sent. */
int imap_msgs_ready(struct lab_conn *c, struct imap_session *s, const struct imap_set *set,
                    int uid_cmd, int writes, struct imap_sb *b) {
  if (set && !uid_cmd && set->max_explicit > (int64_t)s->n_msgs) {
    imap_reply(c, s, "BAD", "No such message: the mailbox holds %zu", s->n_msgs);
    return -1;
  }
  if (writes && imap_writable(c, s) != 0) return -1;
  if (imap_sync(c, s, 0, b) != 0) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    return -1;
  }
  return 0;
}

/* imap_sync for the commands that may announce, sending what it found. */
int imap_sync_send(struct lab_conn *c, struct imap_session *s) {
  struct imap_sb b = {0};
  int rc;

  if (s->state != IMAP_SELECTED) return 0;
  rc = imap_sync(c, s, 1, &b);
  imap_send_sb(c, &b);
  imap_sb_free(&b);
  return rc;
}

/* 1 if storing more bytes would take the account past LIM_MAIL_QUOTA_BYTES
 * (every mailbox counts; exactly reaching it is allowed), 0 if not, -1 on
 * a database error. */
int imap_over_quota(struct db *db, int64_t user_id, int64_t more) {
  int64_t used = 0;

  if (db_mail_usage(db, user_id, &used) != 0) return -1;
  return used + more > LIM_MAIL_QUOTA_BYTES;
}

/* Removes the \Deleted messages (of those whose UID is in uids, if
 * given), highest number first; untagged EXPUNGE lines go to b (NULL for
 * CLOSE, which expunges silently). */
int imap_expunge(struct lab_conn *c, struct imap_session *s, const struct imap_set *uids,
                 struct imap_sb *b) {
  struct db *db = lab_conn_ctx(c)->db;
  struct imap_sb quiet = {0};
  size_t i;
  int rc = imap_sync(c, s, 0, &quiet);

  imap_sb_free(&quiet);
  if (rc != 0) return -1;
  for (i = s->n_msgs; i-- > 0;) {
    struct imap_msg *m = &s->msgs[i];
    if (m->gone || !(m->flags & DB_MAIL_DELETED) || (uids && !imap_set_has(uids, m->uid))) continue;
    if (db_mail_delete(db, s->user.id, s->mbox, m->uid) < 0) return -1;
    if (b) imap_sb_addf(b, "* %zu EXPUNGE\r\n", i + 1);
    memmove(&s->msgs[i], &s->msgs[i + 1], (s->n_msgs - i - 1) * sizeof s->msgs[0]);
    s->n_msgs--;
  }
  return 0;
}

/* --- STORE, COPY, MOVE ------------------------------------------------------------ */

void imap_store(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd) {
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  struct imap_set set = {0};
  struct imap_sb b = {0};
  char *item, up[24];
  size_t n, i, gone = 0;
  unsigned flags;
  int mode, silent, failed = 0;

  if (imap_p_set(&q, imap_star(s, uid_cmd), &set) != 0 || imap_p_sp(&q) != 0 ||
      imap_p_atom(&q, &item, &n) != 0)
    goto bad;
  imap_upper(up, sizeof up, item, n);
  mode = up[0] == '+' ? 1 : up[0] == '-' ? -1 : 0;
  silent = strstr(up, ".SILENT") != NULL;
  if (strcmp(up + (mode != 0), silent ? "FLAGS.SILENT" : "FLAGS") != 0) {
    imap_p_fail(&q, "Unknown store item (FLAGS, +FLAGS, -FLAGS, with .SILENT)");
    goto bad;
  }
  if (imap_p_sp(&q) != 0 || imap_p_flag_list(&q, &flags, 1) != 0 || imap_p_end(&q) != 0) goto bad;
  if (imap_msgs_ready(c, s, &set, uid_cmd, 1, &b) != 0) goto done;
  for (i = 0; i < s->n_msgs; i++) {
    struct imap_msg *m = &s->msgs[i];
    unsigned now;
    if (!imap_set_has(&set, uid_cmd ? m->uid : (int64_t)i + 1)) continue;
    if (m->gone) {
      gone++;
      continue;
    }
    now = mode > 0 ? m->flags | flags : mode < 0 ? m->flags & ~flags : flags;
    if (now != m->flags) {
      int rc = db_mail_set_flags(db, s->user.id, s->mbox, m->uid, now);
      if (rc < 0) {
        failed = 1;
        break;
      }
      if (rc == 1) {
        m->gone = 1;
        gone++;
        continue;
      }
      m->flags = now;
    }
    if (silent) continue;
    imap_sb_addf(&b, "* %zu FETCH (", i + 1);
    if (uid_cmd) imap_sb_addf(&b, "UID %lld ", (long long)m->uid);
    imap_sb_adds(&b, "FLAGS ");
    imap_flags_str(&b, m->flags, m->recent);
    imap_sb_adds(&b, ")\r\n");
  }
  imap_send_sb(c, &b);
  if (failed)
    imap_reply(c, s, "NO", "[SERVERBUG] Could not store the flags");
  else if (gone)
    imap_reply(c, s, "OK",
               "[EXPUNGEISSUED] STORE completed; some messages were expunged meanwhile");
  else
    imap_reply(c, s, "OK", "%sSTORE completed", uid_cmd ? "UID " : "");
  goto done;

bad:
  imap_reply(c, s, "BAD", "%s (%sSTORE set +FLAGS (\\Seen))", q.err, uid_cmd ? "UID " : "");
done:
  imap_sb_free(&b);
  imap_set_free(&set);
}

/* Ascending UIDs as a compact uid-set ("3:5,9"). */
static void sb_uid_set(struct imap_sb *b, const int64_t *uids, size_t n) {
  size_t i = 0, j;

  while (i < n) {
    for (j = i; j + 1 < n && uids[j + 1] == uids[j] + 1;) j++;
    if (j == i)
      imap_sb_addf(b, "%s%lld", i ? "," : "", (long long)uids[i]);
    else
      imap_sb_addf(b, "%s%lld:%lld", i ? "," : "", (long long)uids[i], (long long)uids[j]);
    i = j + 1;
  }
}

/* COPY, and MOVE (RFC 6851): copy, then expunge the originals. UIDPLUS
 * (RFC 4315) reports the new UIDs in COPYUID. */
void imap_copy(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd, int move) {
  struct imap_p q = {args, s->args_end, NULL};
  struct db *db = lab_conn_ctx(c)->db;
  const char *verb = move ? "MOVE" : "COPY";
  struct imap_set set = {0};
  struct imap_sb b = {0}, src = {0}, dst = {0};
  const char *src_text, *dst_text;
  char name[IMAP_MBOX_MAX + 1];
  struct db_mailbox mb;
  unsigned char *copied = NULL;
  int64_t *src_uids = NULL, *dst_uids = NULL;
  size_t i, count = 0, done_n = 0;
  int64_t bytes = 0;
  int valid, rc, failed = 0;

  if (imap_p_set(&q, imap_star(s, uid_cmd), &set) != 0 || imap_p_sp(&q) != 0 ||
      imap_p_mailbox(&q, name, &valid) != 0 || imap_p_end(&q) != 0) {
    imap_reply(c, s, "BAD", "%s (%s%s set mailbox)", q.err, uid_cmd ? "UID " : "", verb);
    goto done;
  }
  if (imap_msgs_ready(c, s, &set, uid_cmd, move, &b) != 0) goto done;
  rc = valid ? db_mailbox_get(db, s->user.id, name, &mb) : 1;
  if (rc == 1) {
    imap_reply(c, s, "NO", "[TRYCREATE] There is no mailbox by that name");
    goto done;
  }
  copied = calloc(s->n_msgs + 1, 1);
  src_uids = calloc(s->n_msgs + 1, sizeof *src_uids);
  dst_uids = calloc(s->n_msgs + 1, sizeof *dst_uids);
  if (rc != 0 || !copied || !src_uids || !dst_uids) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
    goto done;
  }
  for (i = 0; i < s->n_msgs; i++) {
    if (s->msgs[i].gone || !imap_set_has(&set, uid_cmd ? s->msgs[i].uid : (int64_t)i + 1)) continue;
    count++;
    bytes += (int64_t)s->msgs[i].size;
  }
  if (mb.messages + (int64_t)count > LIM_MAILBOX_MESSAGES) {
    imap_reply(c, s, "NO", "[OVERQUOTA] That would put more than %d messages in the mailbox",
               LIM_MAILBOX_MESSAGES);
    goto done;
  }
  /* A MOVE ends with the account holding what it held: only COPY adds. */
  if (!move && count) {
    rc = imap_over_quota(db, s->user.id, bytes);
    if (rc < 0) {
      imap_reply(c, s, "NO", "[SERVERBUG] Could not read the mailbox");
      goto done;
    }
    if (rc > 0) {
      lab_warn(c, "imap: COPY of %lld bytes refused: over the mail quota", (long long)bytes);
      imap_reply(c, s, "NO", "[OVERQUOTA] That would take your mail past the quota of %d bytes",
                 LIM_MAIL_QUOTA_BYTES);
      goto done;
    }
  }
  for (i = 0; i < s->n_msgs; i++) {
    struct imap_msg *m = &s->msgs[i];
    int64_t new_uid;
    if (m->gone || !imap_set_has(&set, uid_cmd ? m->uid : (int64_t)i + 1)) continue;
    rc = db_mail_copy(db, s->user.id, s->mbox, m->uid, name, &new_uid);
    if (rc == 1) {
      m->gone = 1;
      continue;
    }
    if (rc != 0) {
      failed = 1;
      break;
    }
    copied[i] = 1;
    src_uids[done_n] = m->uid;
    dst_uids[done_n] = new_uid;
    done_n++;
  }
  sb_uid_set(&src, src_uids, done_n);
  sb_uid_set(&dst, dst_uids, done_n);
  /* No COPYUID rather than a wrong or cut one (replies are short lines). */
  src_text = imap_sb_str(&src);
  dst_text = imap_sb_str(&dst);
  if (!src_text || !dst_text || imap_sb_len(&src) + imap_sb_len(&dst) > 400) done_n = 0;
  if (failed) {
    imap_reply(c, s, "NO", "[SERVERBUG] Could not copy every message");
    goto done;
  }
  if (move) {
    if (done_n)
      imap_sb_addf(&b, "* OK [COPYUID %lld %s %s] Moved\r\n", (long long)mb.uidvalidity, src_text,
                   dst_text);
    for (i = s->n_msgs; i-- > 0;) {
      if (!copied[i]) continue;
      if (db_mail_delete(db, s->user.id, s->mbox, s->msgs[i].uid) < 0) {
        failed = 1;
        break;
      }
      imap_sb_addf(&b, "* %zu EXPUNGE\r\n", i + 1);
      memmove(&s->msgs[i], &s->msgs[i + 1], (s->n_msgs - i - 1) * sizeof s->msgs[0]);
      s->n_msgs--;
    }
  }
  imap_send_sb(c, &b);
  if (strcmp(name, s->mbox) == 0) imap_sync_send(c, s);
  if (failed)
    imap_reply(c, s, "NO", "[SERVERBUG] Could not remove every original");
  else if (done_n && !move)
    imap_reply(c, s, "OK", "[COPYUID %lld %s %s] %sCOPY completed", (long long)mb.uidvalidity,
               src_text, dst_text, uid_cmd ? "UID " : "");
  else
    imap_reply(c, s, "OK", "%s%s completed", uid_cmd ? "UID " : "", verb);

done:
  imap_sb_free(&b);
  imap_sb_free(&src);
  imap_sb_free(&dst);
  free(copied);
  free(src_uids);
  free(dst_uids);
  imap_set_free(&set);
}
