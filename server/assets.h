/* assets.h -- the web UI, embedded at build time by scripts/embed.cmake. */
#ifndef PORTLAB_ASSETS_H
#define PORTLAB_ASSETS_H

#include <stddef.h>

struct asset {
  const char *path; /* "/index.html", "/js/main.js", ... */
  const char *mime;
  const unsigned char *raw;
  size_t raw_len;
  const unsigned char *gz; /* gzip -9n of raw */
  size_t gz_len;
  const char *etag; /* quoted, from the SHA-256 of raw */
};

extern const struct asset assets[]; /* web/ */
extern const size_t assets_count;
extern const struct asset lesson_files[]; /* lessons/ */
extern const size_t lesson_files_count;
extern const struct asset quiz_files[]; /* quiz/: the port quiz bank */
extern const size_t quiz_files_count;

/* The asset at path ("/" means "/index.html"), or NULL. */
const struct asset *assets_find(const char *path);

#endif
