/* labident.c -- relay connections to the lab, by local port, under one mutex.
 *
 * A fixed table the size of the relay's session cap: no allocation, and a
 * lookup is a short scan done once per lab connection or HTTP request.
 */
#include "labident.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "portlab_limits.h"

#define LABIDENT_ADDR_LEN 64 /* a numeric IPv6 address with room to spare */

static struct {
  int port;
  int64_t user_id;
  char client[LABIDENT_ADDR_LEN];
} table[LIM_RELAY_SESSIONS_TOTAL];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int labident_add(int local_port, int64_t user_id, const char *client_addr) {
  int rc = -1;
  const char *client = client_addr ? client_addr : "";
  /* One spelling per address: a dual-stack portal reports IPv4 browsers
   * as ::ffff:a.b.c.d, the lab servers their direct peers as a.b.c.d. */
  if (strncmp(client, "::ffff:", 7) == 0 && strchr(client + 7, '.')) client += 7;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < LIM_RELAY_SESSIONS_TOTAL; i++) {
    if (table[i].port == 0 || table[i].port == local_port) {
      table[i].port = local_port;
      table[i].user_id = user_id;
      snprintf(table[i].client, sizeof table[i].client, "%s", client);
      rc = 0;
      break;
    }
  }
  pthread_mutex_unlock(&lock);
  return rc;
}

void labident_remove(int local_port) {
  pthread_mutex_lock(&lock);
  for (int i = 0; i < LIM_RELAY_SESSIONS_TOTAL; i++)
    if (table[i].port == local_port) table[i].port = 0;
  pthread_mutex_unlock(&lock);
}

int64_t labident_lookup_client(int peer_port, char *addr, size_t addrlen) {
  int64_t user = 0;
  if (addr && addrlen) addr[0] = '\0';
  pthread_mutex_lock(&lock);
  for (int i = 0; i < LIM_RELAY_SESSIONS_TOTAL && !user; i++) {
    if (table[i].port == peer_port && peer_port != 0) {
      user = table[i].user_id;
      if (addr && addrlen) snprintf(addr, addrlen, "%s", table[i].client);
    }
  }
  pthread_mutex_unlock(&lock);
  return user;
}

int64_t labident_lookup(int peer_port) {
  return labident_lookup_client(peer_port, NULL, 0);
}
