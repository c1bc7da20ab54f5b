/* export.h -- transcripts as asciicast v2 and as pcap.
 *
 * Both are built event by event (the database hands events to a
 * callback) into one buffer that the caller takes at the end.
 */
#ifndef PORTLAB_EXPORT_H
#define PORTLAB_EXPORT_H

#include <stddef.h>

#include "db.h"

enum export_format { EXPORT_CAST, EXPORT_PCAP };

struct export;

/* NULL if out of memory. The session is copied. */
struct export *export_new(enum export_format format, const struct db_session *s);
/* 0, or -1 once the output would pass LIM_EXPORT_BYTES or memory ran out
 * (the export is then unusable). */
int export_event(struct export *ex, const struct db_event *e);
/* Finishes and hands over the output (malloc'd; caller frees). Frees ex. */
int export_finish(struct export *ex, char **out, size_t *len);
void export_free(struct export *ex); /* after an error; NULL is a no-op */

/* Lossy UTF-8 for display: invalid sequences and NUL become U+FFFD.
 * malloc'd, NUL-terminated; NULL if out of memory. */
char *export_display_text(const unsigned char *p, size_t n);

#endif
