/* fuzz_smtp.c -- libFuzzer target for the lab SMTP server (see fuzz_lab.h).
 *
 * Besides alice there is bob, so deliveries can go to two accounts, and a
 * stored message with a dot line and a bare LF in it.
 */
#include "fuzz_lab.h"

static int smtp_extra(struct db *db, int64_t alice) {
  static const char odd[] = "Subject: odd\r\n\r\n.hidden\r\nbare\nend";
  int64_t bob;
  return db_mail_append(db, alice, "INBOX", odd, sizeof odd - 1, 0, 0, NULL) != 0 ||
         db_user_create(db, "bob", "student", "bob-pw", NULL, &bob) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lab_init(smtp_extra);
  return fuzz_lab_stream(&lab_smtp, data, size);
}
