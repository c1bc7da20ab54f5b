/* addr.c -- IPv4-mapped IPv6 addresses, unwrapped or built in one place.
 *
 * A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d; the FTP
 * peer check, the relay policy and the HTTP lab's local-peer test must
 * all treat it as the IPv4 address it carries.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const unsigned char addr_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int addr_is_v4mapped(const unsigned char a[16]) {
  return memcmp(a, addr_mapped_prefix, sizeof addr_mapped_prefix) == 0;
}

int addr_unmap_v4(unsigned char a[16]) {
  if (!addr_is_v4mapped(a)) return 0;
  memmove(a, a + 12, 4);
  memset(a + 4, 0, 12);
  return 1;
}

int addr_parse(const char *text, unsigned char out[16]) {
  if (inet_pton(AF_INET, text, out) == 1) return AF_INET;
  if (inet_pton(AF_INET6, text, out) != 1) return -1;
  return addr_unmap_v4(out) ? AF_INET : AF_INET6;
}

int addr_key(const struct sockaddr *sa, unsigned char key[16], int *port) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
    memcpy(key, addr_mapped_prefix, sizeof addr_mapped_prefix);
    memcpy(key + 12, &a4->sin_addr, 4);
    if (port) *port = ntohs(a4->sin_port);
    return 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
    memcpy(key, &a6->sin6_addr, 16);
    if (port) *port = ntohs(a6->sin6_port);
    return 0;
  }
  return -1;
}
