/* fuzz_wsmsg.c -- libFuzzer target for the portlab.v1 control messages.
 *
 * Any text must either parse into a message whose fields hold what
 * relay_msg.h promises, or be refused with a code and a message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portlab_limits.h"
#include "relay_msg.h"
#include "text.h"

/* The parser is compiled into the target itself, so libFuzzer's coverage
 * instrumentation sees its branches (portlab_core is built without it);
 * the archive's copy is then never linked. */
#include "server/relay_msg.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct relay_msg m;
  const char *code = NULL;
  char err[256];
  if (relay_msg_parse((const char *)data, size, &m, &code, err, sizeof err) != 0) {
    if (!code || !err[0] || strlen(err) >= sizeof err) abort();
    /* Only a broadcast's refusal keeps its type (the WebSocket goes on). */
    if (m.type != 0 && m.type != RELAY_MSG_BROADCAST) abort();
    return 0;
  }
  switch (m.type) {
    case RELAY_MSG_OPEN: {
      size_t n = strlen(m.host);
      if (n == 0 || n > LIM_HOSTNAME_LEN || m.port < 1 || m.port > 65535) abort();
      for (size_t i = 0; i < n; i++)
        if ((unsigned char)m.host[i] <= 0x20 || (unsigned char)m.host[i] >= 0x7f) abort();
      break;
    }
    case RELAY_MSG_REATTACH:
      if (m.session_id < 1 || strlen(m.resume_token) > RELAY_MSG_TOKEN_LEN) abort();
      break;
    case RELAY_MSG_WATCH:
      if (m.session_id < 0) abort();
      break;
    case RELAY_MSG_BROADCAST: {
      size_t n = strlen(m.text);
      if (n == 0 || n != m.text_len || n > RELAY_MSG_BROADCAST_MAX) abort();
      const unsigned char *t = (const unsigned char *)m.text;
      for (size_t i = 0; i < n;) {
        int len = t[i] < 0x80 ? 1 : text_utf8_len(t + i, n - i);
        if (len <= 0) abort(); /* not UTF-8, or a C1 control */
        if ((t[i] < 0x20 && t[i] != '\n' && t[i] != '\t') || t[i] == 0x7f) abort();
        i += (size_t)len;
      }
      break;
    }
    case RELAY_MSG_PAUSE:
    case RELAY_MSG_RESUME:
    case RELAY_MSG_CLOSE:
    case RELAY_MSG_LISTEN:
    case RELAY_MSG_STARTTLS:
      break;
    default:
      abort();
  }
  return 0;
}
