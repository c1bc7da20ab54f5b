/* addr.h -- IP address bytes: IPv4-mapped IPv6 (::ffff:a.b.c.d) in one
 * place, so every check sees one spelling of an IPv4 peer. */
#ifndef PORTLAB_ADDR_H
#define PORTLAB_ADDR_H

struct sockaddr;

/* 1 if the 16 bytes are in ::ffff:0:0/96. */
int addr_is_v4mapped(const unsigned char a[16]);
/* An IPv4-mapped address becomes its IPv4 address in a[0..4) (the other
 * twelve bytes zeroed): 1 if it was one, else 0 and a is unchanged. */
int addr_unmap_v4(unsigned char a[16]);
/* A numeric address text as bytes; an IPv4-mapped IPv6 text counts as
 * IPv4. Returns AF_INET (4 bytes) or AF_INET6 (16), or -1. */
int addr_parse(const char *text, unsigned char out[16]);
/* A socket address as a 16-byte key: IPv6 as it is, IPv4 as IPv4-mapped
 * IPv6, so a dual-stack socket's peers compare equal to plain IPv4 ones.
 * Sets *port when port is not NULL. 0, or -1 for another family. */
int addr_key(const struct sockaddr *sa, unsigned char key[16], int *port);

#endif
