/* labident.h -- which portlab user is behind a relayed connection to a lab server.
 *
 * The relay reaches the lab servers over loopback like any client, so a
 * lab server sees only 127.0.0.1 and a port. When a relay session to the
 * lab connects, it registers its local port with the session's user; the
 * lab servers look the peer port up to credit check tasks to the right
 * student. With it the relay gives the student's browser address, so the
 * lab servers can cap what one address holds (FTP passive ports) as well
 * as what one student holds. Used from the loop thread and the HTTP lab
 * thread: locked.
 */
#ifndef PORTLAB_LABIDENT_H
#define PORTLAB_LABIDENT_H

#include <stddef.h>
#include <stdint.h>

/* client_addr: the browser's numeric address, NULL or "" if unknown
 * (IPv4-mapped IPv6 is stored as IPv4). 0, or -1 for a port out of range
 * or user 0. */
int labident_add(int local_port, int64_t user_id, const char *client_addr);
void labident_remove(int local_port);
/* The user behind a connection from peer_port on this host, or 0. */
int64_t labident_lookup(int peer_port);
/* The same, and the browser's address into addr ("" if unknown or if
 * nobody is behind peer_port). */
int64_t labident_lookup_client(int peer_port, char *addr, size_t addrlen);

#endif
