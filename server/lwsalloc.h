/* lwsalloc.h -- libwebsockets' allocator (lwsalloc.c says why). */
#ifndef PORTLAB_LWSALLOC_H
#define PORTLAB_LWSALLOC_H

/* Before any other lws call: every lws allocation goes through it. */
void lwsalloc_install(void);

#endif
