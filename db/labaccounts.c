/* labaccounts.c -- lab accounts: every student by name, plus the shared demo account.
 *
 * A lab account is a portlab student's name with its lab password; the
 * teacher has none, since lab passwords travel in the clear. Logins
 * compare in constant time, and an unknown name costs the same
 * comparison as a known one.
 */
#include <string.h>

#include "crypto.h"
#include "db_internal.h"
#include "labdb.h"
#include "text.h"

int db_lab_account(struct db *db, const char *user, struct db_user *out) {
  struct db_user u;
  int rc;

  if (!text_name_valid(user)) return 1;
  rc = db_user_by_name(db, user, &u, NULL, 0);
  if (rc != 0) return rc;
  /* The teacher has no lab account: lab passwords travel in the clear. */
  if (strcmp(u.role, "student") != 0) return 1;
  *out = u;
  return 0;
}

int db_lab_login(struct db *db, const char *user, const char *password, struct db_user *out) {
  struct db_user u;
  int rc = db_lab_account(db, user, &u);

  if (rc < 0) return -1;
  if (rc == 1) {
    /* Spend the same comparison on an unknown name as on a known one. */
    crypto_ct_streq(password, "portlab-no-such-account");
    return 1;
  }
  if (!u.lab_password[0] || !crypto_ct_streq(password, u.lab_password)) return 1;
  *out = u;
  return 0;
}

int db_lab_ensure_demo(struct db *db, int64_t *id_out, int *created_out) {
  struct db_user u;
  int64_t id;
  int rc = db_user_by_name(db, LABDB_DEMO_USER, &u, NULL, 0);

  if (created_out) *created_out = 0;
  if (rc < 0) return -1;
  if (rc == 0) {
    if (strcmp(u.role, "student") != 0)
      return db_fail_msg(db, 1, "a non-student user is named " LABDB_DEMO_USER);
    if (id_out) *id_out = u.id;
    return 0;
  }
  rc = db_user_create(db, LABDB_DEMO_USER, "student", LABDB_DEMO_PASSWORD, NULL, &id);
  if (rc != 0) return -1;
  if (id_out) *id_out = id;
  if (created_out) *created_out = 1;
  return 0;
}
