/* labident.c -- relay connections to the lab, by local port, under one mutex.
 *
 * A fixed table the size of the relay's session cap: no allocation, and a
 * lookup is a short scan done once per lab connection or HTTP request.
 */
#include "labident.h"

#include <pthread.h>

#include "portlab_limits.h"

static struct {
  int port;
  int64_t user_id;
} table[LIM_RELAY_SESSIONS_TOTAL];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int labident_add(int local_port, int64_t user_id) {
  int rc = -1;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < LIM_RELAY_SESSIONS_TOTAL; i++) {
    if (table[i].port == 0 || table[i].port == local_port) {
      table[i].port = local_port;
      table[i].user_id = user_id;
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

int64_t labident_lookup(int peer_port) {
  int64_t user = 0;
  pthread_mutex_lock(&lock);
  for (int i = 0; i < LIM_RELAY_SESSIONS_TOTAL && !user; i++)
    if (table[i].port == peer_port && peer_port != 0) user = table[i].user_id;
  pthread_mutex_unlock(&lock);
  return user;
}
