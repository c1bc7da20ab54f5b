/* portlab_limits.h -- every size, count and time limit of portlab in one place.
 *
 * A limit that is not named here does not exist. Each one is checked before
 * more input is waited for, and each has a test at its edge.
 */
#ifndef PORTLAB_LIMITS_H
#define PORTLAB_LIMITS_H

/* HTTP and REST. */
#define LIM_HTTP_HEADER_BYTES 16384 /* lws max_http_header_data */
#define LIM_JSON_BODY_BYTES 8192    /* largest REST request body */
#define LIM_HTTP_STALL_SECS 20  /* a response the client reads nothing of this long is dropped */
#define LIM_USAGE_THROTTLED 100 /* throttled addresses listed in GET /api/usage */
#define LIM_NAME_LEN 32         /* ^[A-Za-z0-9_.-]{1,32}$ */
#define LIM_PASSWORD_LEN 256    /* teacher password, class code */
#define LIM_COOKIE_DAYS 7       /* login lifetime */
#define LIM_LOGINS_PER_USER 64  /* logins (cookies) kept per user; a new one ends the oldest */

/* Logins and joins, per source address (server/throttle.c). A /64 counts
 * as one IPv6 address. The machine itself (--local-net) is exempt. */
#define LIM_LOGIN_FAILURES 10          /* wrong passwords or codes before the first wait */
#define LIM_LOGIN_BACKOFF_SECS 30      /* the first wait; doubles with each further failure */
#define LIM_LOGIN_BACKOFF_MAX_SECS 900 /* longest wait; a quiet address is forgotten after it */
#define LIM_THROTTLE_ADDRS 4096        /* (address, kind) rows kept; the oldest is evicted */
#define LIM_JOINS_PER_MINUTE 60        /* new names per address: a burst of 60, then 1/s */
#define LIM_STUDENTS 500               /* student names in all (--max-students) */
#define LIM_LOCAL_NETS 8               /* --local-net networks */

/* WebSocket. */
#define LIM_WS_MESSAGE_BYTES (64 * 1024) /* one message, any type; larger: close 1009 */
#define LIM_WS_PING_SECS 30              /* keepalive ping after this much silence */
#define LIM_WS_HANGUP_SECS 60            /* no pong by then: hang up */

/* Relay. */
#define LIM_RELAY_SESSIONS_PER_USER 4 /* open relay sessions per user */
/* --max-sessions (WebSockets in all) defaults to what the open-file limit,
 * raised to its hard limit at start, can hold: each session may cost
 * LIM_FDS_PER_SESSION descriptors (the WebSocket, the TCP connection to the
 * target and, for the built-in lab, the lab server's end), after
 * LIM_FDS_RESERVED for the database, listeners, HTTP and FTP data. */
#define LIM_FDS_PER_SESSION 3
#define LIM_FDS_RESERVED 256
#define LIM_RELAY_SESSIONS_MIN 16           /* the default never goes below this */
#define LIM_RELAY_SESSIONS_MAX 65536        /* --max-sessions at most */
#define LIM_RESOLVER_QUEUE 512              /* name lookups waiting for a resolver thread */
#define LIM_RELAY_CONNECT_SECS 10           /* TCP connect (and DNS) timeout */
#define LIM_RELAY_IDLE_SECS 900             /* no bytes either way */
#define LIM_RELAY_SESSION_SECS (4 * 3600)   /* absolute session lifetime */
#define LIM_RELAY_RESUME_SECS 30            /* a dropped WebSocket may come back this long */
#define LIM_RELAY_REPLAY_BYTES (256 * 1024) /* bytes kept to replay to a resumed page */
#define LIM_RELAY_DRAIN_SECS 2              /* after a hang-up, queued bytes may drain this long */
#define LIM_RELAY_BUF_HIGH (256 * 1024)     /* pause the producer above this */
#define LIM_RELAY_BUF_LOW (64 * 1024)       /* resume it below this */
#define LIM_RELAY_BUF_CAP (LIM_RELAY_BUF_HIGH + LIM_WS_MESSAGE_BYTES + 65536)
#define LIM_RELAY_FRAME_BYTES LIM_WS_MESSAGE_BYTES /* largest binary frame to the browser */
#define LIM_RELAY_WRITE_BYTES (256 * 1024)     /* bytes one session writes per side per loop turn */
#define LIM_RELAY_READ_BYTES (64 * 1024)       /* bytes read from a socket at once (lws's buffer) */
#define LIM_TRANSCRIPT_BYTES (8 * 1024 * 1024) /* recorded payload per session */
/* The relay's TLS (relay_tls.c). Sizes of what one handshake yields, not
 * budgets: a key log is five lines of about 200 bytes per handshake, a
 * summary a few lines per certificate. */
#define LIM_TLS_SESSION_KEYS_BYTES 65536 /* one session's stored key log (the schema checks it) */
#define LIM_TLS_SUMMARY_BYTES 8192       /* one handshake summary, all its lines */
#define LIM_TLS_AGREED_LINE 512 /* newest bytes kept per direction to see STARTTLS agreed */
/* Exports stream: each writable callback reads at most LIM_EXPORT_STEP_EVENTS
 * events and writes at most LIM_EXPORT_CHUNK bytes, so other users are served
 * between steps. An export whose output would pass LIM_EXPORT_BYTES is cut
 * off (the chunked body never ends, so the client sees an error). */
#define LIM_EXPORT_BYTES (64 * 1024 * 1024) /* one transcript export, any format */
#define LIM_EXPORT_CHUNK 16384              /* export bytes written per writable callback */
#define LIM_EXPORT_STEP_EVENTS 64           /* events read per writable callback */
#define LIM_SESSIONS_PAGE_DEFAULT 100       /* GET /api/sessions without ?limit= */
#define LIM_SESSIONS_PAGE_MAX 500 /* default of --sessions-page-max, the largest ?limit= */

/* Fair shares (relay.c, usage.c). One WebSocket carries one session, so a
 * cap on WebSockets per client address caps its sessions too. A client
 * address is the TCP peer of the WebSocket, IPv6 grouped by /64. */
#define LIM_WS_PER_ADDR 128            /* --ws-per-addr: a class behind one NAT still fits */
#define LIM_OPENS_PER_MINUTE 30        /* --opens-per-minute: "open" messages per student */
#define LIM_OPENS_PER_MINUTE_MAX 10000 /* the flag's upper bound (a ring of that many times) */

/* The teacher's class (api_class.c, db/class.c). */
#define LIM_REFUSAL_LOG 20       /* --refusal-log: refusals kept per student, newest first */
#define LIM_REFUSAL_LOG_MAX 1000 /* the flag's upper bound */
/* A repeat of a student's last refusal within this window is counted in
 * memory, not written (refusals.c); the cache holds this many students. */
#define LIM_REFUSAL_BATCH_MS 1000
#define LIM_REFUSAL_CACHE 256
#define LIM_AUDIT_SHOWN 500        /* newest audit entries in GET /api/class/audit */
#define LIM_CLASS_RULES 64         /* run-time allow rules (PUT /api/class) */
#define LIM_CLASS_RULES_BYTES 4096 /* their stored text, one rule a line */
#define LIM_ONLINE_SECS 120        /* a student seen this recently counts as online */

/* Recording budgets (usage.c). Past one, recording stops with one note; the
 * session goes on. */
#define LIM_RECORD_BYTES_PER_STUDENT (32LL * 1024 * 1024) /* --record-bytes-per-student */
#define LIM_RECORD_BYTES_TOTAL (4LL * 1024 * 1024 * 1024) /* --record-bytes-total */
#define LIM_RECORD_WARN_PERCENT 80                        /* the teacher is warned from here */
#define LIM_DISK_FLOOR_BYTES (256LL * 1024 * 1024)        /* --disk-floor: free bytes kept */
#define LIM_DISK_CHECK_MS 1000  /* statvfs of the database's file system this often */
#define LIM_USAGE_FLUSH_MS 1000 /* refused-open counters reach the database this late */

/* The teacher's live view (watch.c). A watcher's queue holds events up to
 * a byte cap (each event costs its payload plus 64); past it the oldest are
 * dropped and replaced by a "gap". Session counters go out at most this
 * often per session; opens and ends at once. */
#define LIM_WATCH_QUEUE_BYTES (1024 * 1024) /* --watch-queue: per watcher */
#define LIM_WATCH_QUEUE_MIN (64 * 1024)     /* the flag's lower bound: a 16 KiB event fits */
#define LIM_WATCH_SESSION_MS 500            /* counter updates per session, at most this often */
#define LIM_WATCH_REPLAY_BYTES (64 * 1024)  /* replayed payload read per writable callback */
#define LIM_BROADCAST_BYTES 280             /* --broadcast-max: one teacher broadcast, UTF-8 */

/* Recorder. */
#define LIM_RECORDER_FLUSH_MS 100 /* a kill -9 loses at most this much (+ one commit) */
#define LIM_RECORDER_BATCH 512    /* flush early at this many queued events */
#define LIM_RECORDER_QUEUE_BYTES (64 * 1024 * 1024) /* queued payload with a writer thread */
/* Events the writer may be behind before recording sessions pause, and
 * under which they go on again. */
#define LIM_RECORDER_LAG_HIGH (32 * LIM_RECORDER_BATCH)
#define LIM_RECORDER_LAG_LOW (8 * LIM_RECORDER_BATCH)

/* Telnet option engine. */
#define LIM_TELNET_SB_BYTES 256 /* subnegotiation payload; longer is dropped */

/* Built-in lab servers (protocols/). Relayed sessions all arrive from this
 * host's own address, so the per-address cap applies to other peers only. */
#define LIM_LAB_CONNS 256                   /* open connections per server */
#define LIM_LAB_CONNS_PER_ADDR 16           /* per remote address, not this host's own */
#define LIM_LAB_OUT_BYTES (4 * 1024 * 1024) /* queued output per connection; past it: closed */
#define LIM_LAB_IDLE_SECS 300               /* no input for this long: goodbye */
#define LIM_LAB_OUT_HIGH (256 * 1024)       /* pause the client's input above this */
#define LIM_LAB_OUT_LOW (64 * 1024)         /* resume it below this */
#define LIM_LAB_CHUNK 16384                 /* bytes written per writable callback */
#define LIM_LAB_DRAIN_SECS 5                /* after a close, queued output may drain this long */
/* An own-client recording: server output held while the lab tells a relay
 * session from another client (at most LIM_LAB_REC_SETTLE_MS, or until the
 * client's first byte); past it the rest of that output is not recorded. */
#define LIM_LAB_REC_PENDING 16384
#define LIM_LAB_REC_SETTLE_MS 100
/* Listening ports of the lab servers: one per lab_services row with a
 * module (the table has 14; a start-up with more is refused). */
#define LIM_LAB_LISTENERS 24
/* A relayed FTP client's passive connection waits until the relay says
 * whose it is: LIM_LAB_VERIFY_TRIES looks LIM_LAB_VERIFY_STEP_US apart
 * (half a second); a local client that is no relay session waits
 * LIM_LAB_VERIFY_LOCAL_TRIES (the relay registers in the same loop turn its
 * connect completes, so two are plenty). At most LIM_LAB_DATA_PENDING such
 * connections are checked at once per listener (one student has at most
 * LIM_RELAY_SESSIONS_PER_USER sessions to try with). */
#define LIM_LAB_VERIFY_TRIES 50
#define LIM_LAB_VERIFY_STEP_US (10 * 1000)
#define LIM_LAB_VERIFY_LOCAL_TRIES 2
#define LIM_LAB_DATA_PENDING 8
/* The memory backend's far ends (unit tests and fuzzers clear them as they
 * go): this only stops a runaway module from eating the machine. */
#define LIM_LAB_MEM_SINK_BYTES (64 * 1024 * 1024)
#define LIM_SMTP_COMMAND_LINE 512            /* RFC 5321 section 4.5.3.1.4 */
#define LIM_SMTP_TEXT_LINE 1000              /* RFC 5321 section 4.5.3.1.6 */
#define LIM_SMTP_MESSAGE_BYTES (1024 * 1024) /* advertised as SIZE */
#define LIM_SMTP_RECIPIENTS 20
#define LIM_SMTP_PATH 256        /* RFC 5321 section 4.5.3.1.3, brackets included */
#define LIM_SMTP_LOCAL_PART 64   /* RFC 5321 section 4.5.3.1.1 */
#define LIM_SMTP_DOMAIN 255      /* RFC 5321 section 4.5.3.1.2 */
#define LIM_SMTP_ERRORS 20       /* error replies before the session is dropped */
#define LIM_SMTP_AUTH_FAILURES 3 /* failed AUTH exchanges per connection */
#define LIM_POP3_LINE 512        /* RFC 2449 allows 255 for a command; be lenient */
#define LIM_POP3_ERRORS 20       /* -ERR replies before the session is dropped */
#define LIM_POP3_AUTH_FAILURES 3 /* failed PASS commands per connection */
#define LIM_IMAP_LINE 8192
#define LIM_IMAP_LITERAL_BYTES (1024 * 1024)       /* checked before the "+" continuation */
#define LIM_IMAP_PREAUTH_LITERAL_BYTES 1024        /* a literal before login (user, password) */
#define LIM_IMAP_AUTH_FAILURES 3                   /* failed LOGIN/AUTHENTICATE per connection */
#define LIM_IMAP_ERRORS 30                         /* BAD replies before the session is dropped */
#define LIM_IMAP_MAILBOXES 32                      /* per account, INBOX included */
#define LIM_IMAP_FETCH_ITEMS 32                    /* attributes named in one FETCH */
#define LIM_IMAP_SEARCH_DEPTH 32                   /* nesting of NOT, OR and ( ) in SEARCH */
#define LIM_IMAP_FETCH_OUT_BYTES (3 * 1024 * 1024) /* queued output one FETCH may reach */
/* One response (or one message's FETCH data) as it is built, before it is
 * queued; more could never be queued (LIM_LAB_OUT_BYTES), so past it the
 * response is dropped and the command answered NO. */
#define LIM_IMAP_RESPONSE_BYTES LIM_LAB_OUT_BYTES
/* One command as it is assembled: its lines and literals, each capped above,
 * so this is a backstop the checks before every "+" keep it under. */
#define LIM_IMAP_COMMAND_BYTES (LIM_IMAP_LINE + LIM_IMAP_LITERAL_BYTES)
#define LIM_SSH_IDENT 255    /* RFC 4253 section 4.2: the client's version line, CR LF included */
#define LIM_SSH_PACKET 35000 /* RFC 4253 section 6.1: a whole packet, length field included */
#define LIM_SSH_OUT_PACKET 1024 /* the largest packet the lab's SSH server builds */
#define LIM_DNS_QUERY 512       /* a query kept; longer ones are counted off and get FORMERR */
#define LIM_DNS_REPLY 4096      /* one answer (AXFR of the whole lab zone included) */
#define LIM_DNS_EVENTS \
  16 /* dns.query events recorded per connection; later queries are answered only */
#define LIM_DNS_NAME 255    /* RFC 1035 section 2.3.4: a name on the wire, root included */
#define LIM_WHOIS_LINE 512  /* a WHOIS query, CR LF included (RFC 3912 sets none) */
#define LIM_FINGER_LINE 512 /* a finger query, CR LF included (RFC 1288 sets none) */
#define LIM_FTP_LINE 512
#define LIM_FTP_FILE_BYTES (1024 * 1024)      /* one upload */
#define LIM_FTP_QUOTA_BYTES (8 * 1024 * 1024) /* one account's tree */
#define LIM_FTP_ENTRIES 1000                  /* files and directories in one account's tree */
#define LIM_FTP_DATA_SECS 30                  /* a data connection must connect within this */
/* Passive ports held at once (PASV until the data connection comes or
 * LIM_FTP_DATA_SECS pass). A transfer needs one; two leave room for a
 * retry. Per address: the browser's address of relayed sessions, the peer
 * address of direct clients; 40 lets a class of 40 behind one NAT each
 * hold one, and leaves the rest of the default 100-port range to others. */
#define LIM_FTP_PASV_PER_STUDENT 2
#define LIM_FTP_PASV_PER_ADDR 40
#define LIM_FTP_LOGIN_FAILS 3 /* wrong passwords per connection, then 421 */
#define LIM_TELNET_LINE 256
#define LIM_TELNET_LOGIN_TRIES 3 /* wrong passwords before the line is dropped */
#define LIM_MAILBOX_MESSAGES 1000
/* Stored mail per account, every mailbox counted (SMTP, IMAP APPEND, COPY). */
#define LIM_MAIL_QUOTA_BYTES (16 * 1024 * 1024)
#define LIM_HTTP_CONNS 256       /* libmicrohttpd: connection limit */
#define LIM_HTTP_CONNS_PER_IP 64 /* per outside address; the relay's own is exempt */
#define LIM_HTTP_TIMEOUT_SECS 30
#define LIM_HTTP_MEMORY_BYTES (64 * 1024) /* per connection */
#define LIM_HTTP_FORM_BYTES 4096          /* --http-form-bytes: a POST /form body; longer: 413 */
#define LIM_HTTP_FORM_BYTES_MAX (1024 * 1024) /* the flag's upper bound */

/* Lessons. */
#define LIM_TASK_ANSWER_BYTES 256 /* one typed answer */
#define LIM_TASK_ATTEMPTS 50      /* wrong answers per task before 429 */
/* Lab events kept per student and event name, the newest (db/progress.c):
 * each one recorded deletes the older ones. A check task reads at most
 * these, so the bound never changes whether a check is solved. */
#define LIM_LAB_EVENTS_KEPT 500

/* Port quiz (server/quiz.c, server/api_quiz.c). The bank's sizes bound one
 * row of quiz/ports.tsv or a --quiz-bank file; a longer field is refused at
 * start with the line named. */
#define LIM_QUIZ_BANK_BYTES (256 * 1024) /* one bank file */
#define LIM_QUIZ_BANK_ROWS 256           /* services and ranges in a bank */
#define LIM_QUIZ_ID_LEN 24               /* a row id */
#define LIM_QUIZ_NAMES 8                 /* display name + aliases per row */
#define LIM_QUIZ_NAME_LEN 48             /* one name or alias */
#define LIM_QUIZ_PORTS 8                 /* ports of one row */
#define LIM_QUIZ_LINKS 6                 /* counterparts, confused rows; services on one port */
#define LIM_QUIZ_CHOICES 6               /* choices of one question */
#define LIM_QUIZ_EXPECT_LEN 4096         /* a question's matcher form (every alias fits) */
#define LIM_QUIZ_QUESTIONS 100           /* questions in one attempt (--quiz-questions) */
#define LIM_QUIZ_TEST_SECS (4 * 3600)    /* longest time limit of a test */
#define LIM_QUIZ_TEST_ATTEMPTS 10        /* "best of N": the largest N */
#define LIM_QUIZ_TITLE_LEN 100           /* a test's title */
#define LIM_QUIZ_ANSWER_BYTES 256        /* one typed answer */
/* Practice and review attempts kept per student, the newest (each of at
 * most --quiz-questions questions); a start beyond drops the oldest. */
#define LIM_QUIZ_PRACTICE_KEPT 100

/* TLS (common/tlsmem.c, common/tlsca.c). */
#define LIM_TLS_PENDING_BYTES (256 * 1024) /* plaintext queued before the handshake */
#define LIM_TLS_KEYLOG_BYTES 2048          /* key log kept per TLS session (1.3: ~1 KB) */
#define LIM_TLS_SUMMARY_CERTS 4            /* peer certificates described in a summary */
#define LIM_TLS_CA_DAYS 3650               /* lab CA validity */
#define LIM_TLS_CERT_DAYS 397              /* lab server certificate validity */
#define LIM_TLS_RENEW_DAYS 30              /* renewed at start when it expires sooner */
#define LIM_TLS_SANS 8                     /* names on the lab server certificate */

/* Resolver. */
#define LIM_RESOLVE_ADDRS 16 /* addresses kept per name */
#define LIM_HOSTNAME_LEN 253

#endif
