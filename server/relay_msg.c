/* relay_msg.c -- the portlab.v1 control messages, parsed and validated.
 *
 * The browser's JSON (docs/protocol.md) is distrusted like any network
 * input: every field is checked for type and range here, once, so the
 * relay only ever sees a struct with sane values. Numbers must be whole
 * and inside their range before any cast (converting NaN or an
 * out-of-range double to an integer is undefined). Strings must not hold
 * NUL: cJSON decodes "\u0000" into the middle of a C string, which would
 * silently cut "lab\u0000evil" to "lab", so the escape is refused before
 * parsing.
 */
#include "relay_msg.h"

#include <cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lab.h"
#include "policy.h"
#include "text.h"

#define MAX_WHOLE 9007199254740992.0 /* 2^53: doubles are exact up to here */

static int refuse(const char **code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(const char **code, char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  *code = "bad_request";
  if (errlen) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

static int whole_number(const cJSON *item, double lo, double hi, int64_t *out) {
  if (!cJSON_IsNumber(item)) return -1;
  double v = item->valuedouble;
  if (!(v >= lo && v <= hi) || v != (double)(int64_t)v) return -1;
  *out = (int64_t)v;
  return 0;
}

/* A host as the protocol allows it ("lab", an IP literal or a name): only
 * printable ASCII, so nothing the user typed can break a log line. */
static int host_text_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > LIM_HOSTNAME_LEN) return 0;
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return 0;
  return 1;
}

static int parse_open(const cJSON *msg, struct relay_msg *out, const char **code, char *err,
                      size_t errlen) {
  const cJSON *host = cJSON_GetObjectItemCaseSensitive(msg, "host");
  const cJSON *port = cJSON_GetObjectItemCaseSensitive(msg, "port");
  const cJSON *mode = cJSON_GetObjectItemCaseSensitive(msg, "mode");
  int64_t port_num;
  const struct lab_service *svc;
  if (!cJSON_IsString(host) || !host_text_ok(host->valuestring))
    return refuse(code, err, errlen, "\"host\" must be a host name or address");
  if (whole_number(port, 1, 65535, &port_num))
    return refuse(code, err, errlen, "\"port\" must be a whole number from 1 to 65535");
  out->type = RELAY_MSG_OPEN;
  memcpy(out->host, host->valuestring, strlen(host->valuestring) + 1);
  out->port = (int)port_num;
  /* lab services say how they are opened (telnet); any other port is raw. */
  svc = lab_service_by_port(out->port);
  out->telnet = svc && strcmp(svc->mode, "telnet") == 0;
  if (mode && !cJSON_IsNull(mode)) {
    if (cJSON_IsString(mode) && strcmp(mode->valuestring, "raw") == 0)
      out->telnet = 0;
    else if (cJSON_IsString(mode) && strcmp(mode->valuestring, "telnet") == 0)
      out->telnet = 1;
    else if (cJSON_IsString(mode) && strcmp(mode->valuestring, "tls") == 0)
      out->telnet = 0, out->tls = 1;
    else
      return refuse(code, err, errlen, "\"mode\" must be \"raw\", \"telnet\" or \"tls\"");
  }
  return 0;
}

static int parse_reattach(const cJSON *msg, struct relay_msg *out, const char **code, char *err,
                          size_t errlen) {
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(msg, "session_id");
  const cJSON *token = cJSON_GetObjectItemCaseSensitive(msg, "resume_token");
  const cJSON *received = cJSON_GetObjectItemCaseSensitive(msg, "received");
  int64_t id, got;
  if (whole_number(sid, 1, MAX_WHOLE, &id) || !cJSON_IsString(token) ||
      strlen(token->valuestring) > RELAY_MSG_TOKEN_LEN ||
      whole_number(received, 0, MAX_WHOLE, &got))
    return refuse(code, err, errlen,
                  "resume needs session_id, resume_token and received (whole numbers)");
  out->type = RELAY_MSG_REATTACH;
  out->session_id = id;
  memcpy(out->resume_token, token->valuestring, strlen(token->valuestring) + 1);
  out->received = (uint64_t)got;
  return 0;
}

/* {"type":"watch","scope":"class"} or {"type":"watch","session_id":N}. */
static int parse_watch(const cJSON *msg, struct relay_msg *out, const char **code, char *err,
                       size_t errlen) {
  const cJSON *scope = cJSON_GetObjectItemCaseSensitive(msg, "scope");
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(msg, "session_id");
  int64_t id = 0;
  int is_class = cJSON_IsString(scope) && strcmp(scope->valuestring, "class") == 0;
  if ((scope && !is_class) || (!scope && !sid) || (scope && sid) ||
      (sid && whole_number(sid, 1, MAX_WHOLE, &id)))
    return refuse(code, err, errlen,
                  "watch needs \"scope\":\"class\" or a whole-number \"session_id\"");
  out->type = RELAY_MSG_WATCH;
  out->session_id = id;
  return 0;
}

/* Characters that show nothing on their own: Unicode's White_Space beyond
 * ASCII, and the invisible format characters (zero width ones, joiners,
 * direction marks and isolates, the BOM, the Hangul fillers). A broadcast
 * made of nothing else (and of spaces, tabs, newlines) is blank; inside
 * visible text they stay, e.g. the joiner of an emoji sequence. */
static const struct {
  uint32_t lo, hi;
} invisible[] = {
    {0x00A0, 0x00A0}, {0x00AD, 0x00AD}, {0x034F, 0x034F}, {0x115F, 0x1160}, {0x1680, 0x1680},
    {0x180E, 0x180E}, {0x2000, 0x200F}, {0x2028, 0x202F}, {0x205F, 0x2064}, {0x2066, 0x206F},
    {0x3000, 0x3000}, {0x3164, 0x3164}, {0xFEFF, 0xFEFF}, {0xFFA0, 0xFFA0},
};

static int is_invisible(uint32_t cp) {
  for (size_t i = 0; i < sizeof invisible / sizeof invisible[0]; i++)
    if (cp >= invisible[i].lo && cp <= invisible[i].hi) return 1;
  return 0;
}

/* {"type":"broadcast","text":"..."}: UTF-8, no control characters but
 * newline and tab (C0, DEL and C1: a CSI or NEL would reach every
 * listener's page), not blank. The length against --broadcast-max is the
 * relay's check; past RELAY_MSG_BROADCAST_MAX it is too long for any. A
 * refusal here keeps out->type: it concerns this message only. */
static int parse_broadcast(const cJSON *msg, struct relay_msg *out, const char **code, char *err,
                           size_t errlen) {
  const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "text");
  int blank = 1;
  out->type = RELAY_MSG_BROADCAST;
  if (!cJSON_IsString(text)) return refuse(code, err, errlen, "broadcast needs a \"text\" string");
  const unsigned char *p = (const unsigned char *)text->valuestring;
  size_t n = strlen(text->valuestring);
  if (n > RELAY_MSG_BROADCAST_MAX) {
    refuse(code, err, errlen, "a broadcast may be at most %d bytes", RELAY_MSG_BROADCAST_MAX);
    *code = "too_long";
    return -1;
  }
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f)
        return refuse(code, err, errlen, "a broadcast may not hold control characters");
      if (p[i] != ' ' && p[i] != '\n' && p[i] != '\t') blank = 0;
      i++;
      continue;
    }
    int len = text_utf8_len(p + i, n - i);
    if (len <= 0) return refuse(code, err, errlen, "a broadcast must be UTF-8 text");
    if (text_utf8_c1(p + i, n - i))
      return refuse(code, err, errlen, "a broadcast may not hold control characters");
    if (!is_invisible(text_utf8_code_point(p + i, len))) blank = 0;
    i += (size_t)len;
  }
  if (blank) return refuse(code, err, errlen, "a broadcast may not be blank");
  memcpy(out->text, text->valuestring, n + 1);
  out->text_len = n;
  return 0;
}

int relay_msg_parse(const char *text, size_t len, struct relay_msg *out, const char **code,
                    char *err, size_t errlen) {
  cJSON *msg = NULL;
  const cJSON *type;
  int rc = -1;

  memset(out, 0, sizeof *out);
  if (errlen) err[0] = '\0';
  *code = NULL;
  if (len > LIM_WS_MESSAGE_BYTES)
    return refuse(code, err, errlen, "a control message may be at most %d bytes",
                  LIM_WS_MESSAGE_BYTES);
  if (text_json_has_nul(text, len))
    return refuse(code, err, errlen, "control messages may not contain NUL characters");
  msg = cJSON_ParseWithLength(text, len);
  type = cJSON_GetObjectItemCaseSensitive(msg, "type");
  if (!cJSON_IsObject(msg) || !cJSON_IsString(type)) {
    refuse(code, err, errlen, "control messages are JSON objects with a \"type\"");
    goto done;
  }
  if (strcmp(type->valuestring, "open") == 0) {
    rc = parse_open(msg, out, code, err, errlen);
  } else if (strcmp(type->valuestring, "pause") == 0) {
    out->type = RELAY_MSG_PAUSE;
    rc = 0;
  } else if (strcmp(type->valuestring, "resume") == 0 &&
             cJSON_GetObjectItemCaseSensitive(msg, "session_id")) {
    rc = parse_reattach(msg, out, code, err, errlen);
  } else if (strcmp(type->valuestring, "resume") == 0) {
    out->type = RELAY_MSG_RESUME;
    rc = 0;
  } else if (strcmp(type->valuestring, "close") == 0) {
    out->type = RELAY_MSG_CLOSE;
    rc = 0;
  } else if (strcmp(type->valuestring, "starttls") == 0) {
    out->type = RELAY_MSG_STARTTLS;
    rc = 0;
  } else if (strcmp(type->valuestring, "watch") == 0) {
    rc = parse_watch(msg, out, code, err, errlen);
  } else if (strcmp(type->valuestring, "listen") == 0) {
    out->type = RELAY_MSG_LISTEN;
    rc = 0;
  } else if (strcmp(type->valuestring, "broadcast") == 0) {
    rc = parse_broadcast(msg, out, code, err, errlen);
  } else {
    /* The type is shown back in printable form only. */
    char shown[33];
    size_t n = 0;
    for (const char *p = type->valuestring; *p && n < sizeof shown - 1; p++)
      shown[n++] = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?';
    shown[n] = '\0';
    refuse(code, err, errlen, "unknown message type \"%s\"", shown);
  }
done:
  if (rc && out->type != RELAY_MSG_BROADCAST) out->type = 0;
  cJSON_Delete(msg);
  return rc;
}
