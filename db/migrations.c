/* migrations.c -- the schema, as an ordered list of versioned migrations.
 *
 * Migration N is db_migrations[N - 1]. On open, every migration newer than
 * the highest version in schema_migrations is applied, in order, inside one
 * IMMEDIATE transaction, so two processes starting together cannot both
 * apply one, and a failure leaves the previous schema untouched. A shipped
 * migration is never edited: a change to the schema is a new entry at the
 * end. A database from a newer portlab is refused rather than guessed at.
 */
#include <stdio.h>

#include "db_internal.h"

static const char *const db_migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;"

    /* Names follow ^[A-Za-z0-9_.-]{1,32}$; the CHECK repeats the rule so
     * no path can store a name struct db_user cannot hold. NOCASE makes
     * 'Alice' and 'alice' one user: two students telling them apart on a
     * projector is worse than one of them picking another name. */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL COLLATE NOCASE UNIQUE"
    "    CHECK (length(name) BETWEEN 1 AND 32 AND name NOT GLOB '*[^A-Za-z0-9_.-]*'),"
    "  role TEXT NOT NULL CHECK (role IN ('student', 'teacher')),"
    "  lab_password TEXT NOT NULL DEFAULT '' CHECK (length(lab_password) <= 32),"
    "  rejoin_hash TEXT,"
    "  created_at INTEGER NOT NULL DEFAULT (unixepoch())"
    ");"

    /* Only the SHA-256 of a cookie is stored, so a copy of the database
     * does not hand out logins. */
    "CREATE TABLE logins ("
    "  token_hash BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  expires_at INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX logins_user ON logins(user_id);"
    "CREATE INDEX logins_expires ON logins(expires_at);"

    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  host TEXT NOT NULL CHECK (length(host) BETWEEN 1 AND 253),"
    "  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),"
    "  mode TEXT NOT NULL CHECK (mode IN ('raw', 'telnet')),"
    "  started_us INTEGER NOT NULL,"
    "  ended_us INTEGER,"
    "  bytes_up INTEGER NOT NULL DEFAULT 0,"
    "  bytes_down INTEGER NOT NULL DEFAULT 0,"
    "  close_reason TEXT NOT NULL DEFAULT ''"
    ");"
    /* The session lists: one user's newest first, everyone's newest
     * first, and the open ones found at start after a crash. */
    "CREATE INDEX sessions_user_started ON sessions(user_id, started_us DESC, id DESC);"
    "CREATE INDEX sessions_started ON sessions(started_us DESC, id DESC);"
    "CREATE INDEX sessions_open ON sessions(id) WHERE ended_us IS NULL;"

    /* A rowid table on purpose: WITHOUT ROWID is slow for rows of several
     * kilobytes, and an event carries up to a WebSocket message. data must
     * be a BLOB so length() counts bytes, not characters. */
    "CREATE TABLE events ("
    "  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  t_us INTEGER NOT NULL,"
    "  dir INTEGER NOT NULL CHECK (dir IN (0, 1, 2)),"
    "  data BLOB NOT NULL CHECK (typeof(data) = 'blob'),"
    "  PRIMARY KEY (session_id, seq)"
    ");",

    /* 2: the built-in lab servers' shared data (labdb.c). */
    /* uidvalidity comes from a counter in settings (labdb.c), so a
     * mailbox deleted and created again never repeats one. */
    "CREATE TABLE lab_mailboxes ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 63),"
    "  uidvalidity INTEGER NOT NULL CHECK (uidvalidity BETWEEN 1 AND 4294967295),"
    "  uidnext INTEGER NOT NULL DEFAULT 1 CHECK (uidnext >= 1),"
    "  PRIMARY KEY (user_id, name)"
    ") WITHOUT ROWID;"

    /* A rowid table: message bodies run to a megabyte. Deleting a
     * mailbox takes its messages with it. */
    "CREATE TABLE lab_messages ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL,"
    "  mailbox TEXT NOT NULL,"
    "  uid INTEGER NOT NULL CHECK (uid >= 1),"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  internal_date INTEGER NOT NULL,"
    "  body BLOB NOT NULL CHECK (typeof(body) = 'blob'),"
    "  UNIQUE (user_id, mailbox, uid),"
    "  FOREIGN KEY (user_id, mailbox) REFERENCES lab_mailboxes(user_id, name) ON DELETE CASCADE"
    ");"

    /* owner 0 is the public anonymous area, which has no users row, so
     * there is no foreign key; a trigger removes a deleted user's tree.
     * parent is stored so listing a directory is an index lookup. */
    "CREATE TABLE lab_files ("
    "  owner INTEGER NOT NULL CHECK (owner >= 0),"
    "  path TEXT NOT NULL CHECK (length(path) BETWEEN 2 AND 255 AND substr(path, 1, 1) = '/'),"
    "  parent TEXT NOT NULL,"
    "  is_dir INTEGER NOT NULL CHECK (is_dir IN (0, 1)),"
    "  data BLOB CHECK ((is_dir = 1 AND data IS NULL) OR (is_dir = 0 AND typeof(data) = 'blob')),"
    "  mtime INTEGER NOT NULL,"
    "  PRIMARY KEY (owner, path)"
    ");"
    "CREATE INDEX lab_files_parent ON lab_files(owner, parent, path);"
    "CREATE TRIGGER lab_files_owner_gone AFTER DELETE ON users BEGIN"
    "  DELETE FROM lab_files WHERE owner = old.id;"
    "  DELETE FROM lab_seeded WHERE owner = old.id;"
    "END;"

    /* One row per seeded account (owner 0: the public area), so seeding
     * runs once however often the server starts. */
    "CREATE TABLE lab_seeded ("
    "  owner INTEGER PRIMARY KEY,"
    "  seeded_at INTEGER NOT NULL DEFAULT (unixepoch())"
    ");",

    /* 3: lessons. What students did on the lab servers (check tasks read
     * it) and their progress per task (progress.c). */
    "CREATE TABLE lab_events ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  event TEXT NOT NULL CHECK (length(event) BETWEEN 1 AND 31),"
    "  attrs TEXT NOT NULL CHECK (json_valid(attrs)),"
    "  at INTEGER NOT NULL DEFAULT (unixepoch())"
    ");"
    "CREATE INDEX lab_events_user ON lab_events(user_id, event, id);"
    "CREATE TABLE task_progress ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  lesson TEXT NOT NULL CHECK (length(lesson) BETWEEN 1 AND 40),"
    "  task TEXT NOT NULL CHECK (length(task) BETWEEN 1 AND 60),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  solved_at INTEGER,"
    "  points INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (user_id, lesson, task)"
    ") WITHOUT ROWID;",

    /* 4: recording budgets and refused opens, per student (usage.c). The
     * trigger keeps recorded_bytes equal to the bytes of the student's
     * stored events in the same transaction as the events, so a budget
     * survives restarts and crashes exactly. A refused "open" is counted
     * here instead of leaving a session row behind. */
    "CREATE TABLE student_usage ("
    "  user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
    "  recorded_bytes INTEGER NOT NULL DEFAULT 0 CHECK (recorded_bytes >= 0),"
    "  refused_opens INTEGER NOT NULL DEFAULT 0 CHECK (refused_opens >= 0),"
    "  last_refused_reason TEXT NOT NULL DEFAULT '' CHECK (length(last_refused_reason) <= 31),"
    "  last_refused_us INTEGER NOT NULL DEFAULT 0"
    ");"
    "INSERT INTO student_usage(user_id, recorded_bytes)"
    "  SELECT s.user_id, sum(length(e.data)) FROM events e JOIN sessions s ON s.id = e.session_id"
    "  GROUP BY s.user_id;"
    "CREATE TRIGGER events_count_usage AFTER INSERT ON events BEGIN"
    "  INSERT INTO student_usage(user_id, recorded_bytes)"
    "    SELECT user_id, length(new.data) FROM sessions WHERE id = new.session_id"
    "    ON CONFLICT(user_id) DO UPDATE SET recorded_bytes = recorded_bytes + "
    "excluded.recorded_bytes;"
    "END;",

    /* 5: the port quiz (quizdb.c). It refers only to users, so it may land
     * before or after any other migration. A test is the teacher's
     * settings; an attempt is one run of practice, review or a test; each
     * question asked is stored with its matcher form, the answer given,
     * the score and when it was shown and answered. expected never leaves
     * the server before the attempt is finished. */
    "CREATE TABLE quiz_tests ("
    "  id INTEGER PRIMARY KEY,"
    "  title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 100),"
    "  questions INTEGER NOT NULL CHECK (questions >= 1),"
    "  kinds TEXT NOT NULL,"
    "  time_limit INTEGER NOT NULL CHECK (time_limit >= 1),"
    "  is_open INTEGER NOT NULL DEFAULT 1 CHECK (is_open IN (0, 1)),"
    "  max_attempts INTEGER NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),"
    "  leaderboard INTEGER NOT NULL DEFAULT 0 CHECK (leaderboard IN (0, 1)),"
    "  created_by INTEGER NOT NULL REFERENCES users(id),"
    "  created_at INTEGER NOT NULL DEFAULT (unixepoch())"
    ");"
    "CREATE TABLE quiz_attempts ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  mode TEXT NOT NULL CHECK (mode IN ('practice', 'review', 'test')),"
    "  test_id INTEGER REFERENCES quiz_tests(id) ON DELETE CASCADE,"
    "  started_us INTEGER NOT NULL,"
    "  ends_us INTEGER,"
    "  finished_us INTEGER,"
    "  planned INTEGER NOT NULL DEFAULT 0,"
    "  CHECK ((mode = 'test') = (test_id IS NOT NULL))"
    ");"
    "CREATE INDEX quiz_attempts_user ON quiz_attempts(user_id, id);"
    "CREATE INDEX quiz_attempts_test ON quiz_attempts(test_id, user_id);"
    "CREATE TABLE quiz_questions ("
    "  id INTEGER PRIMARY KEY,"
    "  attempt_id INTEGER NOT NULL REFERENCES quiz_attempts(id) ON DELETE CASCADE,"
    "  seq INTEGER NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  fact TEXT NOT NULL,"
    "  label TEXT NOT NULL,"
    "  prompt TEXT NOT NULL,"
    "  choices TEXT NOT NULL CHECK (json_valid(choices)),"
    "  multi INTEGER NOT NULL,"
    "  expected TEXT NOT NULL,"
    "  display TEXT NOT NULL,"
    "  shown_us INTEGER,"
    "  answered_us INTEGER,"
    "  answer TEXT,"
    "  correct INTEGER,"
    "  points INTEGER,"
    "  explanation TEXT,"
    "  UNIQUE (attempt_id, seq)"
    ");"
    /* Review: one Leitner box per student and fact ("kind:row"). */
    "CREATE TABLE quiz_facts ("
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  fact TEXT NOT NULL,"
    "  box INTEGER NOT NULL CHECK (box BETWEEN 1 AND 5),"
    "  due_us INTEGER NOT NULL,"
    "  right_count INTEGER NOT NULL DEFAULT 0,"
    "  wrong_count INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (user_id, fact)"
    ") WITHOUT ROWID;"
    "CREATE INDEX quiz_facts_due ON quiz_facts(user_id, due_us);",

    /* 6: the teacher's class (class.c): a removed student keeps their row
     * for their transcripts; last_seen_at feeds the roster; first_at is
     * when a task was first tried (older rows: the solve, if any). The
     * refusal log holds the newest few refusals per student (trimmed on
     * insert); the audit log records class management. */
    "ALTER TABLE users ADD COLUMN removed_at INTEGER;"
    "ALTER TABLE users ADD COLUMN last_seen_at INTEGER;"
    "ALTER TABLE task_progress ADD COLUMN first_at INTEGER;"
    "UPDATE task_progress SET first_at = solved_at;"
    "CREATE TABLE student_refusals ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  at_us INTEGER NOT NULL,"
    "  code TEXT NOT NULL CHECK (length(code) BETWEEN 1 AND 31),"
    "  target TEXT NOT NULL CHECK (length(target) <= 299),"
    "  message TEXT NOT NULL CHECK (length(message) <= 512),"
    "  count INTEGER NOT NULL DEFAULT 1"
    ");"
    "CREATE INDEX student_refusals_user ON student_refusals(user_id, id);"
    "CREATE TABLE audit_log ("
    "  id INTEGER PRIMARY KEY,"
    "  at_us INTEGER NOT NULL,"
    "  actor TEXT NOT NULL CHECK (length(actor) <= 32),"
    "  action TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 31),"
    "  student TEXT NOT NULL DEFAULT '' CHECK (length(student) <= 32),"
    "  detail TEXT NOT NULL DEFAULT '' CHECK (length(detail) <= 1024)"
    ");",

    /* 7: conversations with the lab servers made by the student's own
     * clients (protocols/lab.c): own_client marks them, client_addr is the
     * address they came from (pre-login ones belong to the first teacher
     * until the client logs in). */
    "ALTER TABLE sessions ADD COLUMN own_client INTEGER NOT NULL DEFAULT 0"
    "  CHECK (own_client IN (0, 1));"
    "ALTER TABLE sessions ADD COLUMN client_addr TEXT NOT NULL DEFAULT ''"
    "  CHECK (length(client_addr) <= 63);",

    /* 8: the lab's TLS (common/tlsca.c, protocols/labtls.c): one row, the
     * certificate authority made on first start and the lab server
     * certificate it signed for the names in names (one a line); renewed
     * when the names change or it nears its end. PEM text. */
    "CREATE TABLE lab_tls ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  ca_cert TEXT NOT NULL CHECK (length(ca_cert) <= 16384),"
    "  ca_key TEXT NOT NULL CHECK (length(ca_key) <= 16384),"
    "  cert TEXT NOT NULL CHECK (length(cert) <= 16384),"
    "  key TEXT NOT NULL CHECK (length(key) <= 16384),"
    "  names TEXT NOT NULL CHECK (length(names) <= 4096),"
    "  created_at INTEGER NOT NULL,"
    "  renewed_at INTEGER NOT NULL"
    ");",
    /* 9: an own client's FTP data connections (protocols/lab.c) are
     * sessions of their own, linked to the control session (parent_id) and
     * named for what they carried (label: "RETR flag.txt"). Hints taken per
     * task (api_lessons.c): how many, and the points they cost when taken
     * (nothing unless the teacher made hints cost points). */
    "ALTER TABLE sessions ADD COLUMN parent_id INTEGER"
    "  REFERENCES sessions(id) ON DELETE SET NULL;"
    "ALTER TABLE sessions ADD COLUMN label TEXT NOT NULL DEFAULT ''"
    "  CHECK (length(label) <= 127);"
    "CREATE INDEX sessions_parent ON sessions(parent_id) WHERE parent_id IS NOT NULL;"
    "ALTER TABLE task_progress ADD COLUMN hints INTEGER NOT NULL DEFAULT 0"
    "  CHECK (hints >= 0);"
    "ALTER TABLE task_progress ADD COLUMN hint_cost INTEGER NOT NULL DEFAULT 0"
    "  CHECK (hint_cost >= 0);",

    /* 10: TLS sessions (relay_tls.c). An event's layer is 0 for what the
     * student sent and read, 1 for what crossed the wire (TLS records);
     * older rows are all layer 0. sessions.tls says whether and how the
     * session became TLS; session_keys holds its key log (SSLKEYLOGFILE
     * lines), kept apart from the events so it is never shown with them.
     * Refers only to sessions and events, so it may land anywhere. */
    "ALTER TABLE events ADD COLUMN layer INTEGER NOT NULL DEFAULT 0 CHECK (layer IN (0, 1));"
    "ALTER TABLE sessions ADD COLUMN tls TEXT NOT NULL DEFAULT ''"
    "  CHECK (tls IN ('', 'tls', 'starttls'));"
    "CREATE TABLE session_keys ("
    "  session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,"
    "  keylog TEXT NOT NULL CHECK (length(keylog) <= 65536)"
    ");",

    /* 11: recorded_bytes is counted by the code that appends events (events.c:
     * db_events_append per call, the recorder once per session per batch),
     * in the same transaction as the events, so it stays exact after a
     * crash; a trigger per event row was a fifth of the recorder's cost
     * (issue 11). Touches only the trigger, so it may land anywhere. */
    "DROP TRIGGER IF EXISTS events_count_usage;",
};

#define DB_MIGRATION_COUNT ((int)(sizeof db_migrations / sizeof db_migrations[0]))

/* Runs constant SQL text; there are no parameters to bind. */
static int db_exec(struct db *db, const char *sql) {
  if (sqlite3_exec(db->conn, sql, NULL, NULL, NULL) != SQLITE_OK) return db_fail(db);
  return 0;
}

static int db_record_version(struct db *db, int version) {
  sqlite3_stmt *st = NULL;

  if (sqlite3_prepare_v2(db->conn,
                         "INSERT INTO schema_migrations(version, applied_at) "
                         "VALUES (?1, unixepoch())",
                         -1, &st, NULL) != SQLITE_OK ||
      sqlite3_bind_int(st, 1, version) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
    db_fail(db);
    sqlite3_finalize(st);
    return -1;
  }
  sqlite3_finalize(st);
  return 0;
}

int db_migrate(struct db *db) {
  int current, v;
  char msg[128];

  if (db_exec(db, "BEGIN IMMEDIATE") != 0) return -1;
  if (db_exec(db,
              "CREATE TABLE IF NOT EXISTS schema_migrations ("
              "  version INTEGER PRIMARY KEY,"
              "  applied_at INTEGER NOT NULL)") != 0) {
    goto fail;
  }
  current = db_schema_version(db);
  if (current < 0) goto fail;
  if (current > DB_MIGRATION_COUNT) {
    snprintf(msg, sizeof msg, "database schema version %d is newer than this portlab knows (%d)",
             current, DB_MIGRATION_COUNT);
    db_fail_msg(db, 1, msg);
    goto fail;
  }
  for (v = current + 1; v <= DB_MIGRATION_COUNT; v++) {
    if (db_exec(db, db_migrations[v - 1]) != 0) {
      /* Say which migration broke; SQLite's text alone does not. */
      char inner[sizeof db->errmsg];
      snprintf(inner, sizeof inner, "%s", db->errmsg);
      snprintf(msg, sizeof msg, "migration %d: %.100s", v, inner);
      db_fail_msg(db, 1, msg);
      goto fail;
    }
    if (db_record_version(db, v) != 0) goto fail;
  }
  if (db_exec(db, "COMMIT") != 0) goto fail;
  return 0;

fail:
  /* The message is already in db->errmsg; the rollback must not replace
   * it, so it bypasses db_exec. */
  if (!sqlite3_get_autocommit(db->conn)) sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
  return -1;
}
