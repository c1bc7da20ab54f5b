/* labident.c -- relay connections to the lab, by local port, under one mutex.
 *
 * A table indexed by the port itself (a TCP port is 16 bits): no
 * allocation, no scan, and no cap below the relay's session cap, whatever
 * --max-sessions says. Pages of ports never used are never touched.
 */
#include "labident.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define LABIDENT_PORTS 65536
#define LABIDENT_ADDR_LEN 48 /* a numeric IPv6 address with room to spare */

static struct {
  int64_t user_id; /* 0: no relay connection from this port */
  char client[LABIDENT_ADDR_LEN];
} table[LABIDENT_PORTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int labident_add(int local_port, int64_t user_id, const char *client_addr) {
  const char *client = client_addr ? client_addr : "";
  if (local_port <= 0 || local_port >= LABIDENT_PORTS || user_id == 0) return -1;
  /* One spelling per address: a dual-stack portal reports IPv4 browsers
   * as ::ffff:a.b.c.d, the lab servers their direct peers as a.b.c.d. */
  if (strncmp(client, "::ffff:", 7) == 0 && strchr(client + 7, '.')) client += 7;
  pthread_mutex_lock(&lock);
  table[local_port].user_id = user_id;
  snprintf(table[local_port].client, sizeof table[local_port].client, "%s", client);
  pthread_mutex_unlock(&lock);
  return 0;
}

void labident_remove(int local_port) {
  if (local_port <= 0 || local_port >= LABIDENT_PORTS) return;
  pthread_mutex_lock(&lock);
  table[local_port].user_id = 0;
  pthread_mutex_unlock(&lock);
}

int64_t labident_lookup_client(int peer_port, char *addr, size_t addrlen) {
  int64_t user = 0;
  if (addr && addrlen) addr[0] = '\0';
  if (peer_port <= 0 || peer_port >= LABIDENT_PORTS) return 0;
  pthread_mutex_lock(&lock);
  user = table[peer_port].user_id;
  if (user && addr && addrlen) snprintf(addr, addrlen, "%s", table[peer_port].client);
  pthread_mutex_unlock(&lock);
  return user;
}

int64_t labident_lookup(int peer_port) {
  return labident_lookup_client(peer_port, NULL, 0);
}
