/* export.h -- transcripts as JSON, text, asciicast v2 and pcap, streamed.
 *
 * An export reads its session's events from the database a page at a
 * time and hands its output out in pieces, so a transcript of any size is
 * written with bounded memory and bounded work per step.
 */
#ifndef PORTLAB_EXPORT_H
#define PORTLAB_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

enum export_format { EXPORT_JSON, EXPORT_TXT, EXPORT_CAST, EXPORT_PCAP };

struct export;

/* A format as GET /api/sessions/ID/transcript offers it (?format=NAME). */
struct export_kind {
  const char *name; /* "txt": also the download's file extension */
  enum export_format format;
  const char *content_type;
  const char *disposition; /* "inline", "attachment" or NULL (none sent) */
};
#define EXPORT_FORMAT_NAMES "json, txt, cast, pcap"
/* NULL if name is not one of EXPORT_FORMAT_NAMES. */
const struct export_kind *export_kind_by_name(const char *name);

/* The export of a whole session in kind's format, with the head each
 * format wants built here: for JSON the envelope {"session":SESSION,
 * "events":[ around session_json (the session object as the API prints
 * it), for text the title lines. NULL if out of memory. */
struct export *export_session(const struct export_kind *kind, const struct db_session *s,
                              const char *session_json, int64_t last_seq, size_t max_bytes);

/* NULL if out of memory. The session and head are copied. head (may be
 * NULL) is written first, verbatim: for JSON the envelope up to and
 * including "events":[ (the export closes it), for text the title lines;
 * cast and pcap write their own header. Events with seq up to last_seq
 * are exported. Output past max_bytes in all fails the export. */
struct export *export_new(enum export_format format, const struct db_session *s, const char *head,
                          int64_t last_seq, size_t max_bytes);
/* Copies up to cap bytes of output to out. When fewer than cap are ready,
 * first reads one page of at most LIM_EXPORT_STEP_EVENTS events from db
 * (stopping once cap bytes are ready), so one call does bounded work.
 * Returns the bytes copied, which may be 0 before the end, and sets *done
 * once all output has been handed out. -1 on a database error, out of
 * memory, or output past max_bytes; the export is then unusable. */
int export_read(struct export *ex, struct db *db, unsigned char *out, size_t cap, int *done);
void export_free(struct export *ex); /* NULL is a no-op */

/* Lossy UTF-8 for display: invalid sequences and NUL become U+FFFD.
 * malloc'd, NUL-terminated; NULL if out of memory. */
char *export_display_text(const unsigned char *p, size_t n);

/* A close reason code in the page's words (web/js/strings.js reasons):
 * "remote_closed" is "the server closed the connection". An unknown code
 * is returned as it is. */
const char *export_reason_text(const char *code);

#endif
