/* imap_int.h -- what the lab IMAP server's files share (protocols/imap*.c).
 *
 * Private to the IMAP module: the session, the selected mailbox's snapshot,
 * the response builder, the argument cursor and sequence sets, and the
 * functions each file offers the others. Nothing here is for other modules;
 * the module itself is lab_imap in lab.h.
 *
 *   imap.c           the session: replies, logging in, APPEND, EXPUNGE, the
 *                    command table, assembling a command and its literals
 *   imap_mailbox.c   the mailboxes by name: SELECT, CREATE, DELETE, RENAME,
 *                    SUBSCRIBE, LIST, STATUS
 *   imap_out.c       the response builder: a capped buf, IMAP strings,
 *                    flag lists, date-times
 *   imap_parse.c     the argument parser: atoms, strings, literals, mailbox
 *                    names, sequence sets, flags, dates
 *   imap_selected.c  the selected mailbox: its snapshot kept in step with
 *                    the store, STORE, COPY, MOVE and EXPUNGE
 *   imap_fetch.c     FETCH and its data items (ENVELOPE, BODYSTRUCTURE, ...)
 *   imap_search.c    SEARCH: the search program, parsed once, run per message
 */
#ifndef PORTLAB_IMAP_INT_H
#define PORTLAB_IMAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "lab.h"
#include "labdb.h"

/* The longest verb in imap.c's command table plus room to tell a longer one. */
#define IMAP_VERB_MAX 16
/* A section specifier as echoed back ("HEADER.FIELDS (FROM TO ...)"). It
 * is bounded by the command line anyway; longer lists are refused. */
#define IMAP_SPEC_MAX 512
#define IMAP_USER_MAX 64
#define IMAP_PASS_MAX 256
#define IMAP_MBOX_MAX 63             /* the lab_mailboxes name column */
#define IMAP_NUMBER_MAX 4294967295LL /* RFC 3501 number: unsigned 32 bits */

#define IMAP_ALL_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

enum imap_state { IMAP_NOAUTH = 0, IMAP_AUTH, IMAP_SELECTED };

/* One message of the selected mailbox; its index + 1 is its sequence number. */
struct imap_msg {
  int64_t uid;
  int64_t date;
  size_t size;
  unsigned flags;
  unsigned char recent; /* arrived while this session had the mailbox open */
  unsigned char gone;   /* expunged by another session, not announced yet */
};

struct imap_session {
  enum imap_state state;
  struct db_user user;
  int auth_failures;
  int errors; /* BAD replies so far */
  int closing;
  /* The command being assembled, as it came on the wire, in a buf capped
   * at LIM_IMAP_COMMAND_BYTES; cmd and cmd_len are its bytes (NUL after
   * them), writable: quoted strings are unescaped in place. */
  struct buf cmd_buf;
  char *cmd;
  size_t cmd_len;
  size_t line_bytes;    /* bytes of its lines, CRLFs counted */
  size_t literal_bytes; /* bytes of its literals */
  size_t tag_len;       /* the tag is cmd[0, tag_len); 0 = no valid tag */
  int in_command;       /* the last line ended in a literal: more follows */
  size_t lit_left;      /* literal bytes still to come into cmd */
  size_t skip_left;     /* bytes of a refused literal still to throw away */
  int skipping;         /* the lines of a refused command are thrown away */
  int sasl_pending;     /* AUTHENTICATE PLAIN waits for its response line */
  char *args_end;       /* end of the running command's arguments */
  /* The selected mailbox. */
  char mbox[IMAP_MBOX_MAX + 1];
  int read_only;
  int64_t uidvalidity;
  struct imap_msg *msgs;
  size_t n_msgs, cap_msgs;
};

/* One response, built whole before it is queued, in a capped buf: at most
 * LIM_IMAP_RESPONSE_BYTES. An append that fails (out of memory, or past
 * the cap: then full is set too) is remembered in oom and the response is
 * dropped as a whole. A zeroed imap_sb is an empty one. */
struct imap_sb {
  struct buf b;
  int oom, full;
};

/* A cursor over the command's arguments. Strings are returned in place:
 * quoted strings are unescaped where they stand, so arguments are parsed
 * once. err says why parsing stopped. */
struct imap_p {
  char *p, *end;
  const char *err;
};

/* A sequence set (RFC 3501 section 9) as inclusive ranges. */
struct imap_range {
  int64_t lo, hi;
};

struct imap_set {
  struct imap_range *r;
  size_t n;
  int64_t max_explicit; /* the largest number written out (not "*") */
};

/* The messages of a mailbox as the store holds them, in UID order. */
struct imap_list {
  struct imap_msg *m;
  size_t n, cap;
  int oom;
};

/* --- imap_out.c ----------------------------------------------------------- */

void imap_sb_add(struct imap_sb *b, const void *p, size_t n);
void imap_sb_adds(struct imap_sb *b, const char *s);
void imap_sb_addf(struct imap_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void imap_sb_free(struct imap_sb *b);
size_t imap_sb_len(const struct imap_sb *b);
/* The text so far as a C string ("" if empty); NULL after a failed append. */
const char *imap_sb_str(struct imap_sb *b);
void imap_sb_clear(struct imap_sb *b); /* empties it for the next response, keeps the memory */
/* A string as IMAP carries it: quoted, a literal, or NIL for NULL. */
void imap_sb_nstring(struct imap_sb *b, const char *p, size_t n);
void imap_sb_cstring(struct imap_sb *b, const char *s);
/* A mailbox name: a bare atom when it can be one, else a string. */
void imap_sb_mailbox(struct imap_sb *b, const char *name);
void imap_send_sb(struct lab_conn *c, struct imap_sb *b); /* queues it unless an append failed */
void imap_flags_str(struct imap_sb *b, unsigned flags, int recent);
void imap_date_time(struct imap_sb *b, int64_t when);

/* --- imap.c ---------------------------------------------------------------- */

/* The tagged reply that ends a command. */
void imap_reply(struct lab_conn *c, struct imap_session *s, const char *status, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/* --- imap_mailbox.c: command table rows (run) ------------------------------ */

void imap_mailbox_select(struct lab_conn *c, void *sv, char *args); /* and EXAMINE */
void imap_mailbox_create(struct lab_conn *c, void *sv, char *args);
void imap_mailbox_delete(struct lab_conn *c, void *sv, char *args);
void imap_mailbox_rename(struct lab_conn *c, void *sv, char *args);
void imap_mailbox_subscribe(struct lab_conn *c, void *sv, char *args); /* and UNSUBSCRIBE */
void imap_mailbox_list(struct lab_conn *c, void *sv, char *args);      /* and LSUB */
void imap_mailbox_status(struct lab_conn *c, void *sv, char *args);

/* --- imap_parse.c --------------------------------------------------------- */

int imap_atom_char(unsigned char ch);
int imap_astring_char(unsigned char ch);
int imap_name_char(unsigned char ch);
int imap_p_fail(struct imap_p *q, const char *why);
int imap_p_more(const struct imap_p *q);
int imap_p_peek(const struct imap_p *q, char ch);
int imap_p_char(struct imap_p *q, char ch, const char *why);
int imap_p_sp(struct imap_p *q);
int imap_p_end(struct imap_p *q);
int imap_p_span(struct imap_p *q, int (*ok)(unsigned char), char **s, size_t *n);
int imap_p_atom(struct imap_p *q, char **s, size_t *n);
int imap_p_digits(struct imap_p *q, int64_t *v);
int imap_p_string_lit(struct imap_p *q, char **s, size_t *n, int *lit);
int imap_p_string(struct imap_p *q, char **s, size_t *n);
int imap_p_astring(struct imap_p *q, char **s, size_t *n);
int imap_p_list_mailbox(struct imap_p *q, char **s, size_t *n);
int imap_cstr(char *out, size_t cap, const char *p, size_t n);
void imap_upper(char *out, size_t cap, const char *p, size_t n);
int imap_mbox_arg(const char *p, size_t n, char out[IMAP_MBOX_MAX + 1]);
int imap_p_mailbox(struct imap_p *q, char out[IMAP_MBOX_MAX + 1], int *valid);
void imap_set_free(struct imap_set *set);
int imap_p_set(struct imap_p *q, int64_t star, struct imap_set *set);
int imap_set_has(const struct imap_set *set, int64_t v);
int imap_p_flag_list(struct imap_p *q, unsigned *flags, int parens_optional);
int imap_date_time_parse(const char *p, size_t n, int64_t *out);

/* --- imap_selected.c ------------------------------------------------------ */

int imap_load(struct lab_conn *c, struct imap_session *s, const char *mbox, struct imap_list *l);
void imap_set_state(struct imap_session *s, enum imap_state st);
int imap_sync(struct lab_conn *c, struct imap_session *s, int announce, struct imap_sb *b);
int imap_sync_send(struct lab_conn *c, struct imap_session *s);
int64_t imap_star(const struct imap_session *s, int uid);
int imap_writable(struct lab_conn *c, struct imap_session *s);
/* The set, read-only and snapshot checks FETCH, STORE, COPY, MOVE and SEARCH share. */
int imap_msgs_ready(struct lab_conn *c, struct imap_session *s, const struct imap_set *set,
                    int uid_cmd, int writes, struct imap_sb *b);
int imap_over_quota(struct db *db, int64_t user_id, int64_t more);
int imap_expunge(struct lab_conn *c, struct imap_session *s, const struct imap_set *uids,
                 struct imap_sb *b);
void imap_store(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd);
void imap_copy(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd, int move);

/* --- imap_fetch.c --------------------------------------------------------- */

void imap_fetch(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd);

/* --- imap_search.c -------------------------------------------------------- */

void imap_search(struct lab_conn *c, struct imap_session *s, char *args, int uid_cmd);

#endif
