/* labdata.h -- what every lab account starts with, flags, and virtual paths. */
#ifndef PORTLAB_LABDATA_H
#define PORTLAB_LABDATA_H

#include <stddef.h>
#include <stdint.h>

struct db;
struct lab_ctx;

/* A per-student flag for a challenge ("ftp", "http", "telnet", ...):
 * "FLAG{" + the first 24 hex chars of HMAC-SHA256(secret, challenge ":" user
 * lower-cased) + "}". One student's flag never works for another. */
void labdata_flag(const char *secret, const char *challenge, const char *user, char out[40]);

/* Gives a new account its welcome mail and its file tree (one file holds
 * its FTP flag). Idempotent: does nothing if the account is seeded. */
int labdata_seed_account(struct db *db, const char *secret, int64_t user_id, const char *user);
/* The public anonymous FTP area and the demo account; run at start-up. */
int labdata_seed_common(struct db *db, const char *secret);

/* Resolves arg (absolute or relative to cwd) lexically into out: "." and
 * empty segments vanish, ".." goes up one level. -1 if the result would
 * leave "/", if arg holds NUL or control bytes, or if out is too small.
 * The host file system is never consulted. */
int vpath_resolve(const char *cwd, const char *arg, char *out, size_t outlen);

#endif
