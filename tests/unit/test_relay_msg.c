/* test_relay_msg.c -- the portlab.v1 control messages: every field at its edge. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "portlab_limits.h"
#include "relay_msg.h"

static struct relay_msg m;
static const char *code;
static char err[256];

static int parse(const char *text) {
  return relay_msg_parse(text, strlen(text), &m, &code, err, sizeof err);
}

static void refused(const char *text) {
  CHECK_EQ_INT(parse(text), -1);
  CHECK_EQ_STR(code, "bad_request");
  CHECK(err[0] != '\0');
  CHECK_EQ_INT(m.type, 0);
}

static void refused_broadcast(const char *text, const char *want) {
  CHECK_EQ_INT(parse(text), -1);
  CHECK_EQ_STR(code, want);
  CHECK(err[0] != '\0');
  CHECK_EQ_INT(m.type, RELAY_MSG_BROADCAST);
  CHECK_EQ_INT(m.text_len, 0);
}

static void test_open(void) {
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"lab\",\"port\":25}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_OPEN);
  CHECK_EQ_STR(m.host, "lab");
  CHECK_EQ_INT(m.port, 25);
  CHECK_EQ_INT(m.telnet, 0);
  /* The mode follows the port unless given. */
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"lab\",\"port\":23}"), 0);
  CHECK_EQ_INT(m.telnet, 1);
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"lab\",\"port\":23,\"mode\":\"raw\"}"), 0);
  CHECK_EQ_INT(m.telnet, 0);
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"lab\",\"port\":25,\"mode\":\"telnet\"}"), 0);
  CHECK_EQ_INT(m.telnet, 1);
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"lab\",\"port\":25,\"mode\":null}"), 0);
  refused("{\"type\":\"open\",\"host\":\"lab\",\"port\":25,\"mode\":\"ssh\"}");
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"lab\",\"port\":993,\"mode\":\"tls\"}"), 0);
  CHECK_EQ_INT(m.tls, 1);
  CHECK_EQ_INT(m.telnet, 0);
  CHECK_EQ_INT(parse("{\"type\":\"starttls\"}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_STARTTLS);
  refused("{\"type\":\"open\",\"host\":\"lab\",\"port\":25,\"mode\":1}");
  /* Ports: 1 and 65535 pass, 0, 65536, fractions, strings, NaN-likes do not. */
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"lab\",\"port\":1}"), 0);
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"lab\",\"port\":65535}"), 0);
  CHECK_EQ_INT(m.port, 65535);
  refused("{\"type\":\"open\",\"host\":\"lab\",\"port\":0}");
  refused("{\"type\":\"open\",\"host\":\"lab\",\"port\":65536}");
  refused("{\"type\":\"open\",\"host\":\"lab\",\"port\":25.5}");
  refused("{\"type\":\"open\",\"host\":\"lab\",\"port\":\"25\"}");
  refused("{\"type\":\"open\",\"host\":\"lab\",\"port\":1e400}");
  refused("{\"type\":\"open\",\"host\":\"lab\"}");
  /* Hosts: printable ASCII, 1 to 253 bytes, no NUL anywhere. */
  refused("{\"type\":\"open\",\"host\":\"\",\"port\":25}");
  refused("{\"type\":\"open\",\"host\":\"a b\",\"port\":25}");
  refused("{\"type\":\"open\",\"host\":\"l\\u00e4b\",\"port\":25}");
  refused("{\"type\":\"open\",\"host\":25,\"port\":25}");
  refused("{\"type\":\"open\",\"host\":\"lab\\u0000evil\",\"port\":25}");
  refused("{\"type\":\"open\",\"host\":\"lab\\u0000\",\"port\":25}");
  CHECK(strstr(err, "NUL") != NULL);
  /* An escaped backslash before "u0000" is a backslash, not a NUL: that
   * string is refused as a host only because a backslash is printable
   * but the message gets past the NUL check. */
  CHECK_EQ_INT(parse("{\"type\":\"open\",\"host\":\"a\\\\u0000\",\"port\":25}"), 0);
  CHECK_EQ_STR(m.host, "a\\u0000");
  {
    const char raw[] = "{\"type\":\"open\",\"host\":\"lab\0x\",\"port\":25}";
    CHECK_EQ_INT(relay_msg_parse(raw, sizeof raw - 1, &m, &code, err, sizeof err), -1);
  }
  {
    char text[LIM_HOSTNAME_LEN + 100], host[LIM_HOSTNAME_LEN + 2];
    memset(host, 'a', sizeof host);
    host[LIM_HOSTNAME_LEN] = '\0';
    snprintf(text, sizeof text, "{\"type\":\"open\",\"host\":\"%s\",\"port\":25}", host);
    CHECK_EQ_INT(parse(text), 0); /* 253 */
    CHECK_EQ_INT(strlen(m.host), LIM_HOSTNAME_LEN);
    host[LIM_HOSTNAME_LEN] = 'a';
    host[LIM_HOSTNAME_LEN + 1] = '\0';
    snprintf(text, sizeof text, "{\"type\":\"open\",\"host\":\"%s\",\"port\":25}", host);
    refused(text); /* 254 */
  }
}

static void test_other_types(void) {
  CHECK_EQ_INT(parse("{\"type\":\"pause\"}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_PAUSE);
  CHECK_EQ_INT(parse("{\"type\":\"resume\"}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_RESUME);
  CHECK_EQ_INT(parse("{\"type\":\"close\"}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_CLOSE);
  refused("{\"type\":\"send_hex\"}");
  CHECK(strstr(err, "send_hex") != NULL);
  refused("{\"type\":\"\\u0007bell\"}");
  CHECK(strchr(err, '\a') == NULL);
  refused("[]");
  refused("not json");
  refused("{\"type\":7}");
  refused("{}");
  refused("");
}

static void test_reattach(void) {
  CHECK_EQ_INT(
      parse("{\"type\":\"resume\",\"session_id\":7,\"resume_token\":\"abc\",\"received\":0}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_REATTACH);
  CHECK_EQ_INT(m.session_id, 7);
  CHECK_EQ_STR(m.resume_token, "abc");
  CHECK_EQ_INT(m.received, 0);
  CHECK_EQ_INT(parse("{\"type\":\"resume\",\"session_id\":9007199254740992,"
                     "\"resume_token\":\"t\",\"received\":9007199254740992}"),
               0);
  refused(
      "{\"type\":\"resume\",\"session_id\":9007199254740993e0,"
      "\"resume_token\":\"t\",\"received\":1e300}");
  refused("{\"type\":\"resume\",\"session_id\":0,\"resume_token\":\"t\",\"received\":0}");
  refused("{\"type\":\"resume\",\"session_id\":1,\"resume_token\":\"t\",\"received\":-1}");
  refused("{\"type\":\"resume\",\"session_id\":1.5,\"resume_token\":\"t\",\"received\":0}");
  refused("{\"type\":\"resume\",\"session_id\":1,\"resume_token\":5,\"received\":0}");
  refused("{\"type\":\"resume\",\"session_id\":\"1\",\"resume_token\":\"t\",\"received\":0}");
  {
    char text[256], tok[RELAY_MSG_TOKEN_LEN + 2];
    memset(tok, 'f', sizeof tok);
    tok[RELAY_MSG_TOKEN_LEN] = '\0';
    snprintf(text, sizeof text,
             "{\"type\":\"resume\",\"session_id\":1,\"resume_token\":\"%s\",\"received\":0}", tok);
    CHECK_EQ_INT(parse(text), 0);
    tok[RELAY_MSG_TOKEN_LEN] = 'f';
    tok[RELAY_MSG_TOKEN_LEN + 1] = '\0';
    snprintf(text, sizeof text,
             "{\"type\":\"resume\",\"session_id\":1,\"resume_token\":\"%s\",\"received\":0}", tok);
    refused(text);
  }
}

static void test_watch_listen_broadcast(void) {
  CHECK_EQ_INT(parse("{\"type\":\"watch\",\"scope\":\"class\"}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_WATCH);
  CHECK_EQ_INT(m.session_id, 0);
  CHECK_EQ_INT(parse("{\"type\":\"watch\",\"session_id\":42}"), 0);
  CHECK_EQ_INT(m.session_id, 42);
  refused("{\"type\":\"watch\"}");
  refused("{\"type\":\"watch\",\"scope\":\"room\"}");
  refused("{\"type\":\"watch\",\"scope\":\"class\",\"session_id\":1}");
  refused("{\"type\":\"watch\",\"session_id\":0}");
  refused("{\"type\":\"watch\",\"session_id\":1.5}");
  CHECK_EQ_INT(parse("{\"type\":\"listen\"}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_LISTEN);
  CHECK_EQ_INT(parse("{\"type\":\"broadcast\",\"text\":\"Look up\\nplease\"}"), 0);
  CHECK_EQ_INT(m.type, RELAY_MSG_BROADCAST);
  CHECK_EQ_STR(m.text, "Look up\nplease");
  CHECK_EQ_INT(m.text_len, 14);
  /* A refused broadcast keeps its type: the refusal is that message's
   * only, and the WebSocket goes on. */
  refused_broadcast("{\"type\":\"broadcast\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\" \\t \"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"bell\\u0007\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"a\\rb\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"del\\u007f\"}", "bad_request");
  /* The NUL escape is refused before parsing, whatever the message. */
  refused("{\"type\":\"broadcast\",\"text\":\"nul\\u0000\"}");
  /* C1 controls (U+0080 to U+009F, C2 80 to C2 9F), escaped or raw: CSI
   * and NEL would reach every listener's page. */
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"x\\u009b2Jy\\u0085z\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"a\\u0080\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"a\xc2\x9f\"}", "bad_request");
  /* Their neighbours are text: U+007E, U+00A0 and U+00E9 between letters. */
  CHECK_EQ_INT(parse("{\"type\":\"broadcast\",\"text\":\"~a\\u00a0b\xc3\xa9\"}"), 0);
  CHECK_EQ_STR(m.text,
               "~a\xc2\xa0"
               "b\xc3\xa9");
  /* Only UTF-8: no stray, overlong, surrogate or cut-off sequence. */
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"a\xff\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"a\xc0\xaf\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"a\xed\xa0\x80\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"a\xe2\x82\"}", "bad_request");
  CHECK_EQ_INT(parse("{\"type\":\"broadcast\",\"text\":\"\xf0\x9f\x91\x80\"}"), 0);
  /* Blank: only white space or invisible characters (NBSP, U+3000, zero
   * width ones, the BOM, a lone joiner). Inside visible text they stay. */
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"\\u00a0\\u3000\\n\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"\\u200b\"}", "bad_request");
  refused_broadcast("{\"type\":\"broadcast\",\"text\":\"\\ufeff\\u200d \\u2060\"}", "bad_request");
  CHECK_EQ_INT(parse("{\"type\":\"broadcast\",\"text\":\"a\\u200bb\"}"), 0);
  CHECK_EQ_INT(parse("{\"type\":\"broadcast\",\"text\":\"\\ud83d\\udc69\\u200d\\ud83d\\udcbb\"}"),
               0);
  CHECK_EQ_INT(m.type, RELAY_MSG_BROADCAST);
  /* The parser's bound, at its edge (the flag's smaller cap is the relay's). */
  static char text[RELAY_MSG_BROADCAST_MAX + 64];
  int n = snprintf(text, sizeof text, "{\"type\":\"broadcast\",\"text\":\"");
  memset(text + n, 'a', RELAY_MSG_BROADCAST_MAX);
  strcpy(text + n + RELAY_MSG_BROADCAST_MAX, "\"}");
  CHECK_EQ_INT(parse(text), 0);
  CHECK_EQ_INT(m.text_len, RELAY_MSG_BROADCAST_MAX);
  memset(text + n, 'a', RELAY_MSG_BROADCAST_MAX + 1);
  strcpy(text + n + RELAY_MSG_BROADCAST_MAX + 1, "\"}");
  refused_broadcast(text, "too_long"); /* as any text over --broadcast-max */
}

int main(void) {
  test_open();
  test_other_types();
  test_reattach();
  test_watch_listen_broadcast();
  return check_done();
}
