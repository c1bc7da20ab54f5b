/* fuzz_imap.c -- libFuzzer target for the lab IMAP server (see fuzz_lab.h).
 *
 * alice also has a message with odd headers (groups, comments, an
 * unterminated quote, 8-bit text, folding), one with no header block at
 * all, and a second mailbox, so ENVELOPE, SEARCH and COPY meet the edges.
 */
#include "fuzz_lab.h"

static int imap_extra(struct db *db, int64_t alice) {
  static const char odd[] =
      "From: \"Doe, J\" <j@lab>, (comment) x@y, <@route:z@w>, broken <\r\n"
      "To: group: a@b, c@d;, undisclosed:;\r\n"
      "Cc: \"unterminated\r\n"
      "Subject: caf\xc3\xa9\r\n \"quoted\" \\ back\r\n"
      "Content-Type: multipart/mixed; boundary=x\r\n"
      "Date: Tue, 1 Jul 03 10:52:37 +0200\r\n"
      "\r\nbody\nbare LF\r\n";
  static const char headless[] = "no header separator at all";
  return db_mail_append(db, alice, "INBOX", odd, sizeof odd - 1, DB_MAIL_FLAGGED, 0, NULL) != 0 ||
         db_mail_append(db, alice, "INBOX", headless, sizeof headless - 1, 0, -86401, NULL) != 0 ||
         db_mailbox_create(db, alice, "Sent") != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_lab_init(imap_extra);
  return fuzz_lab_stream(&lab_imap, data, size);
}
