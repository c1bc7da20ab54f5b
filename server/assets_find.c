/* assets_find.c -- looks up an embedded web asset by its URL path. */
#include <string.h>

#include "assets.h"

const struct asset *assets_find(const char *path) {
  if (strcmp(path, "/") == 0) path = "/index.html";
  for (size_t i = 0; i < assets_count; i++)
    if (strcmp(assets[i].path, path) == 0) return &assets[i];
  return NULL;
}
