/* db.h -- the only door to SQLite: schema, migrations and every query.
 *
 * One struct db wraps one sqlite3 connection and its prepared statements;
 * it belongs to one thread. No SQL text exists outside db/.
 * Return convention: 0 = done/found, 1 = not found or conflict (as stated),
 * -1 = database error. Nothing in db/ logs: the caller decides what a
 * failure means, logs it if it should, and reads db_errmsg().
 */
#ifndef PORTLAB_DB_H
#define PORTLAB_DB_H

#include <stddef.h>
#include <stdint.h>

struct db;

/* A TLS session's transcript has two layers: the plaintext the student
 * sent and read (C2S, S2C: what every session records) and what crossed
 * the wire (WIRE_C2S, WIRE_S2C: the TLS records). Stored as dir 1/2 with
 * events.layer = 1. A session's wire is its plaintext events before its
 * first wire event, then its wire events (db_dir_* below). */
enum db_dir {
  DB_DIR_NOTE = 0,
  DB_DIR_C2S = 1,
  DB_DIR_S2C = 2,
  DB_DIR_WIRE_C2S = 3,
  DB_DIR_WIRE_S2C = 4
};
#define DB_DIR_IS_WIRE(d) ((d) == DB_DIR_WIRE_C2S || (d) == DB_DIR_WIRE_S2C)
/* The direction without the layer: DB_DIR_C2S, DB_DIR_S2C or DB_DIR_NOTE. */
#define DB_DIR_BASE(d) (DB_DIR_IS_WIRE(d) ? (d)-2 : (d))

struct db_user {
  int64_t id;
  char name[33];
  char role[8];          /* "student" or "teacher" */
  char lab_password[33]; /* shown to the student; empty for the teacher */
};

struct db_session {
  int64_t id;
  int64_t user_id;
  char user_name[33];
  char host[254];
  int port;
  char mode[8];       /* "raw" or "telnet" */
  char tls[12];       /* "" (none), "tls" (from the start) or "starttls" (upgraded) */
  int64_t started_us; /* unix time, microseconds */
  int64_t ended_us;   /* 0 while open */
  int64_t bytes_up;   /* client to server */
  int64_t bytes_down; /* server to client */
  char close_reason[32];
  int own_client;       /* 1: the student's own client talked to a lab server */
  char client_addr[64]; /* own_client: the address it came from */
  int64_t parent_id;    /* an FTP data connection: its control session; 0 = none */
  char label[128];      /* what it carried ("RETR flag.txt"); "" = nothing said */
};

struct db_event {
  int64_t session_id;
  int64_t seq;  /* 1, 2, 3 ... per session */
  int64_t t_us; /* since the session start */
  int dir;      /* enum db_dir */
  const unsigned char *data;
  size_t len;
};

/* Opens (creating if needed) and migrates. path may be ":memory:".
 * Sets WAL (for files), foreign_keys=ON, busy_timeout, synchronous=NORMAL.
 * Returns NULL with a message in err on failure. */
struct db *db_open(const char *path, char *err, size_t errlen);
void db_close(struct db *db); /* NULL is a no-op */
const char *db_errmsg(struct db *db);
/* Copies the database at src_path, live or not, to dest_path with SQLite's
 * online backup API (one consistent moment), checks the copy and renames it
 * into place: dest_path is replaced whole or not at all. 0, or -1 with a
 * message in err. Opens its own connections; any thread. */
int db_backup_file(const char *src_path, const char *dest_path, char *err, size_t errlen);
/* 1 if the last -1 was caused by the data itself (a constraint such as a
 * foreign key, a bad argument): repeating the same call cannot succeed.
 * 0 for errors that may pass (busy, locked, disk full, I/O). */
int db_error_permanent(struct db *db);
int db_schema_version(struct db *db); /* latest applied migration */

/* Key/value settings (teacher password hash, server secret). 1 = absent. */
int db_setting_get(struct db *db, const char *key, char *out, size_t outlen);
int db_setting_set(struct db *db, const char *key, const char *value);

/* Users. rejoin_hash may be NULL (teacher). 1 = name taken. */
int db_user_create(struct db *db, const char *name, const char *role, const char *lab_password,
                   const char *rejoin_hash, int64_t *id_out);
/* rejoin_hash_out (may be NULL) receives the stored hash. 1 = no such user. */
int db_user_by_name(struct db *db, const char *name, struct db_user *out, char *rejoin_hash_out,
                    size_t hashlen);
int db_user_by_id(struct db *db, int64_t id, struct db_user *out);
/* How many users have role (e.g. "student") and were not removed, the one
 * named except (may be NULL) not counted; -1 on error. */
int64_t db_user_count_active(struct db *db, const char *role, const char *except);

/* Logins (cookies): only the SHA-256 of the token is stored. */
int db_login_create(struct db *db, const unsigned char token_hash[32], int64_t user_id,
                    int64_t expires_unix);
/* 1 = unknown or expired token. */
int db_login_lookup(struct db *db, const unsigned char token_hash[32], int64_t now_unix,
                    struct db_user *out);
int db_login_delete(struct db *db, const unsigned char token_hash[32]);
/* Deletes logins expired at now_unix. Returns how many, or -1. */
int db_login_purge(struct db *db, int64_t now_unix);

/* Relay sessions. */
int db_session_create(struct db *db, int64_t user_id, const char *host, int port, const char *mode,
                      int64_t started_us, int64_t *id_out);
/* A conversation of a client that is not the relay with a lab server
 * (own_client = 1): user_id is the student, or before a login the first
 * teacher (db_first_teacher). */
int db_session_create_own(struct db *db, int64_t user_id, const char *host, int port,
                          const char *mode, const char *client_addr, int64_t started_us,
                          int64_t *id_out);
/* An own client's FTP data connection (mode raw, own_client = 1), linked to
 * its control session parent_id and named label ("" until the client says
 * what it carries). */
int db_session_create_data(struct db *db, int64_t user_id, const char *host, int port,
                           const char *client_addr, int64_t started_us, int64_t parent_id,
                           const char *label, int64_t *id_out);
int db_session_set_label(struct db *db, int64_t id, const char *label);
/* The client logged in: its transcript moves to that student. */
int db_session_set_user(struct db *db, int64_t id, int64_t user_id);
/* The session became TLS: tls is "tls" or "starttls". */
int db_session_set_tls(struct db *db, int64_t id, const char *tls);
/* Appends key log lines (SSLKEYLOGFILE format) to the session's keys. */
int db_session_keylog_add(struct db *db, int64_t id, const char *lines);
/* The session's key log into out (NUL-terminated, cut to fit). 1 = none. */
int db_session_keylog_get(struct db *db, int64_t id, char *out, size_t outlen);
/* The id of the first teacher account into *id. 0, 1 if there is none, -1. */
int db_first_teacher(struct db *db, int64_t *id);
int db_session_finish(struct db *db, int64_t id, int64_t ended_us, int64_t bytes_up,
                      int64_t bytes_down, const char *reason);
/* After a crash: closes every session with no end, with the given reason,
 * end time = its last event (or start), byte counts summed from its events.
 * Returns the number closed, or -1. */
int db_session_close_orphans(struct db *db, const char *reason);
int db_session_get(struct db *db, int64_t id, struct db_session *out); /* 1 = none */
/* Newest first. user_id 0 = everyone. cb returns nonzero to stop. */
int db_session_list(struct db *db, int64_t user_id,
                    int (*cb)(void *arg, const struct db_session *s), void *arg);
/* One page of that list: at most limit sessions that come after (before_us,
 * before_id) in it, i.e. (started_us, id) < (before_us, before_id); pass
 * INT64_MAX for both to start at the newest. cb returns nonzero to stop. */
int db_session_page(struct db *db, int64_t user_id, int64_t before_us, int64_t before_id, int limit,
                    int (*cb)(void *arg, const struct db_session *s), void *arg);

/* Transcript events. Appends n events in one transaction, and adds their
 * bytes to the owners' recorded_bytes (student_usage) in it. */
int db_events_append(struct db *db, const struct db_event *ev, size_t n);
/* Appends inside the caller's open transaction (-1 outside one), without a
 * savepoint of its own, and WITHOUT counting recorded_bytes: the caller adds
 * every session's bytes with db_events_count_usage before it commits (one
 * update per session per batch instead of one per event). On -1 some of the
 * n may be written, and the caller must roll its transaction back. */
int db_events_append_tx(struct db *db, const struct db_event *ev, size_t n);
/* Adds bytes to the recorded_bytes of session_id's owner. */
int db_events_count_usage(struct db *db, int64_t session_id, int64_t bytes);
/* Sets up a connection that only writes events (the recorder's writer). */
int db_events_writer_setup(struct db *db);
/* In seq order; cb returns nonzero to stop. */
int db_events_list(struct db *db, int64_t session_id,
                   int (*cb)(void *arg, const struct db_event *e), void *arg);
/* A cursor's step: at most limit events with after_seq < seq <= up_to_seq,
 * in seq order; cb returns nonzero to stop. No statement stays open between
 * calls, so a reader that pages holds no snapshot while the recorder writes. */
int db_events_page(struct db *db, int64_t session_id, int64_t after_seq, int64_t up_to_seq,
                   int limit, int (*cb)(void *arg, const struct db_event *e), void *arg);
/* The highest seq of a session's events into *seq (0 if it has none). */
int db_events_last_seq(struct db *db, int64_t session_id, int64_t *seq);

/* Per-student usage: recorded bytes (kept equal to the bytes of the
 * student's stored events by a trigger) and refused opens (counted, not
 * stored row by row). */
struct db_usage {
  int64_t user_id;
  char user_name[33];
  int64_t recorded_bytes;
  int64_t refused_opens;
  char last_refused_reason[32];
  int64_t last_refused_us; /* unix time, microseconds; 0 = never */
};
/* Zeros (not an error) for a user with no usage yet. */
int db_usage_get(struct db *db, int64_t user_id, struct db_usage *out);
int db_usage_set_refused(struct db *db, int64_t user_id, int64_t refused_opens, const char *reason,
                         int64_t at_us);
int db_usage_total(struct db *db, int64_t *recorded_bytes);
/* Every student, by name; cb returns nonzero to stop. */
int db_usage_list(struct db *db, int (*cb)(void *arg, const struct db_usage *u), void *arg);

/* Explicit transactions for callers that batch (the recorder). */
int db_begin(struct db *db);
int db_commit(struct db *db);
int db_rollback(struct db *db);

#endif
