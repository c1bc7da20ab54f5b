/* fuzz_pop3.c -- libFuzzer target for the lab POP3 server (see fuzz_lab.h).
 *
 * alice's mailbox also holds a message with a dot line and a bare LF, which
 * RETR and TOP must byte-stuff.
 */
#include "fuzz_lab.h"

static int pop3_extra(struct db *db, int64_t alice) {
  static const char odd[] = "Subject: odd\r\n\r\n.hidden\r\nbare\nend";
  return db_mail_append(db, alice, "INBOX", odd, sizeof odd - 1, 0, 0, NULL) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lab_init(pop3_extra);
  return fuzz_lab_stream(&lab_pop3, data, size);
}
