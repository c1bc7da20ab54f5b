/* labident.h -- which portlab user is behind a relayed connection to a lab server.
 *
 * The relay reaches the lab servers over loopback like any client, so a
 * lab server sees only 127.0.0.1 and a port. When a relay session to the
 * lab connects, it registers its local port with the session's user; the
 * lab servers look the peer port up to credit check tasks to the right
 * student. Used from the loop thread and the HTTP lab thread: locked.
 */
#ifndef PORTLAB_LABIDENT_H
#define PORTLAB_LABIDENT_H

#include <stdint.h>

int labident_add(int local_port, int64_t user_id); /* 0, or -1 if the table is full */
void labident_remove(int local_port);
/* The user behind a connection from peer_port on this host, or 0. */
int64_t labident_lookup(int peer_port);

#endif
