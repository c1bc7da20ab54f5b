/* test_export.c -- the streamed exports (JSON, text, asciicast, pcap) over an
 * in-memory database, parsed back and checked, in pieces of every size. */
#include <arpa/inet.h>
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "export.h"
#include "portlab_limits.h"

static struct db *db;

static struct db_session session(void) {
  struct db_session s;
  memset(&s, 0, sizeof s);
  s.id = 7;
  strcpy(s.user_name, "alice");
  strcpy(s.host, "lab");
  s.port = 25;
  strcpy(s.mode, "raw");
  s.started_us = 1795000000000000LL;
  s.ended_us = s.started_us + 3000000;
  strcpy(s.close_reason, "remote_closed");
  return s;
}

static unsigned char big[4000];

static const struct db_event events[] = {
    {7, 1, 0, DB_DIR_NOTE, (const unsigned char *)"alice asked for lab:25 (raw)", 28},
    {7, 2, 100, DB_DIR_NOTE, (const unsigned char *)"connected to lab:25 (127.0.0.1:10025)", 38},
    {7, 3, 1830, DB_DIR_S2C, (const unsigned char *)"220 lab ESMTP\r\n", 15},
    {7, 4, 912000, DB_DIR_C2S, (const unsigned char *)"EHLO x\nQUIT\r\n", 13},
    {7, 5, 1000000, DB_DIR_S2C, big, sizeof big},
};
#define N_EVENTS (sizeof events / sizeof events[0])

/* A fresh database holding the session and the events (their session_id is
 * replaced by the new session's). Returns the session as stored. */
static struct db_session load(const struct db_event *ev, size_t n) {
  char err[256];
  int64_t uid, sid;
  db_close(db);
  db = db_open(":memory:", err, sizeof err);
  struct db_session s = session();
  CHECK_EQ_INT(db_user_create(db, "alice", "student", "pw", "", &uid), 0);
  CHECK_EQ_INT(db_session_create(db, uid, s.host, s.port, s.mode, s.started_us, &sid), 0);
  CHECK_EQ_INT(db_session_finish(db, sid, s.ended_us, 13, 4015, s.close_reason), 0);
  for (size_t i = 0; i < n; i++) {
    struct db_event e = ev[i];
    e.session_id = sid;
    CHECK_EQ_INT(db_events_append(db, &e, 1), 0);
  }
  CHECK_EQ_INT(db_session_get(db, sid, &s), 0);
  return s;
}

/* The whole export read cap bytes at a time (malloc'd, NUL added); NULL if
 * export_read failed. *steps counts the calls. */
static char *drain(enum export_format f, const struct db_session *s, const char *head,
                   size_t max_bytes, size_t cap, size_t *len, int *steps) {
  int64_t last_seq = 0;
  CHECK_EQ_INT(db_events_last_seq(db, s->id, &last_seq), 0);
  struct export *ex = export_new(f, s, head, last_seq, max_bytes);
  CHECK(ex != NULL);
  char *out = NULL;
  unsigned char *piece = malloc(cap);
  int done = 0, n;
  *len = 0;
  *steps = 0;
  while (!done) {
    n = export_read(ex, db, piece, cap, &done);
    ++*steps;
    if (n < 0) {
      free(out);
      out = NULL;
      break;
    }
    CHECK((size_t)n <= cap);
    out = realloc(out, *len + (size_t)n + 1);
    memcpy(out + *len, piece, (size_t)n);
    *len += (size_t)n;
    out[*len] = '\0';
  }
  free(piece);
  export_free(ex);
  return out;
}

static uint16_t get16(const unsigned char *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint16_t checksum(const unsigned char *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return (uint16_t)~sum;
}

static void test_pcap(void) {
  memset(big, 'x', sizeof big);
  struct db_session s = load(events, N_EVENTS);
  size_t len;
  int steps;
  char *out = drain(EXPORT_PCAP, &s, NULL, LIM_EXPORT_BYTES, LIM_EXPORT_CHUNK, &len, &steps);
  CHECK(out != NULL);
  const unsigned char *p = (const unsigned char *)out;
  uint32_t hdr[6];
  memcpy(hdr, p, sizeof hdr);
  CHECK_EQ_INT(hdr[0], 0xa1b2c3d4u);
  CHECK_EQ_INT(hdr[5], 1); /* Ethernet */

  size_t off = 24;
  int frames = 0, syn = 0, fin = 0;
  size_t up = 0, down = 0;
  uint32_t next_seq[2] = {0, 0}; /* [0] client, [1] server */
  int64_t last_ts = 0;
  while (off < len) {
    uint32_t rec[4];
    memcpy(rec, p + off, sizeof rec);
    const unsigned char *f = p + off + 16, *ip = f + 14, *tcp = ip + 20;
    CHECK_EQ_INT(rec[2], rec[3]);
    int64_t ts = (int64_t)rec[0] * 1000000 + rec[1];
    CHECK(ts >= last_ts);
    last_ts = ts;
    CHECK_EQ_INT(get16(f + 12), 0x0800);
    CHECK_EQ_INT(checksum(ip, 20, 0), 0);
    size_t tcp_len = get16(ip + 2) - 20u, payload = tcp_len - 20;
    CHECK_EQ_INT(rec[2], 14 + 20 + tcp_len);
    unsigned char pseudo[12];
    memcpy(pseudo, ip + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = 6;
    pseudo[10] = (unsigned char)(tcp_len >> 8);
    pseudo[11] = (unsigned char)tcp_len;
    CHECK_EQ_INT(checksum(tcp, tcp_len, (uint32_t)(65535 - checksum(pseudo, 12, 0))), 0);
    int from_client = get16(tcp + 2) == 25;
    unsigned flags = tcp[13];
    uint32_t seq = get32(tcp + 4);
    if (flags & 0x02) {
      syn++;
    } else {
      CHECK_EQ_INT(seq, next_seq[!from_client]);
      CHECK_EQ_INT(get32(tcp + 8), next_seq[from_client]); /* acks all the peer sent */
    }
    next_seq[!from_client] = seq + (uint32_t)payload + ((flags & 0x03) ? 1 : 0);
    if (flags & 0x01) fin++;
    CHECK(payload <= 1460);
    if (from_client)
      up += payload;
    else
      down += payload;
    off += 16 + rec[2];
    frames++;
  }
  CHECK_EQ_INT(off, len);
  CHECK_EQ_INT(syn, 2);
  CHECK_EQ_INT(fin, 2);
  CHECK_EQ_INT(up, 13);
  CHECK_EQ_INT(down, 15 + sizeof big);
  CHECK_EQ_INT(frames, 3 + 1 + 1 + 3 + 3); /* handshake, 220, EHLO, 4000 in 3, close */
  free(out);
}

/* The payload bytes of every data segment of a pcap, client's then
 * server's, in order (the frames are the ones test_pcap checks). */
static void pcap_payloads(const unsigned char *p, size_t len, char *up, size_t *nup, char *down,
                          size_t *ndown) {
  *nup = *ndown = 0;
  for (size_t off = 24; off + 16 <= len;) {
    uint32_t rec[4];
    memcpy(rec, p + off, sizeof rec);
    const unsigned char *ip = p + off + 16 + 14, *tcp = ip + 20;
    size_t payload = get16(ip + 2) - 40u;
    if (get16(tcp + 2) == 25) {
      memcpy(up + *nup, tcp + 20, payload);
      *nup += payload;
    } else {
      memcpy(down + *ndown, tcp + 20, payload);
      *ndown += payload;
    }
    off += 16 + rec[2];
  }
}

/* A STARTTLS session: both layers are stored and read back as they were;
 * the pcap is the wire (the cleartext part, then only the records); text
 * shows the plaintext; JSON marks the records "layer":"wire". */
static void test_layers(void) {
  static const struct db_event tls_events[] = {
      {7, 1, 0, DB_DIR_NOTE, (const unsigned char *)"connected to lab:25 (127.0.0.1:10025)", 38},
      {7, 2, 10, DB_DIR_S2C, (const unsigned char *)"220 hi\r\n", 8},
      {7, 3, 20, DB_DIR_C2S, (const unsigned char *)"STARTTLS\r\n", 10},
      {7, 4, 30, DB_DIR_S2C, (const unsigned char *)"220 go\r\n", 8},
      {7, 5, 40, DB_DIR_WIRE_C2S, (const unsigned char *)"\x16\x03\x01hello", 8},
      {7, 6, 50, DB_DIR_WIRE_S2C, (const unsigned char *)"\x16\x03\x03server", 9},
      {7, 7, 60, DB_DIR_C2S, (const unsigned char *)"AUTH secret\r\n", 13},
      {7, 8, 70, DB_DIR_WIRE_C2S, (const unsigned char *)"\x17\x03\x03xyz", 6},
      {7, 9, 80, DB_DIR_WIRE_S2C,
       (const unsigned char *)"\x17\x03\x03"
                              "abcd",
       7},
      {7, 10, 90, DB_DIR_S2C, (const unsigned char *)"235 ok\r\n", 8},
  };
  struct db_session s = load(tls_events, sizeof tls_events / sizeof tls_events[0]);
  CHECK_EQ_STR(s.tls, "");
  CHECK_EQ_INT(db_session_set_tls(db, s.id, "starttls"), 0);
  CHECK(db_session_set_tls(db, s.id, "ssl") != 0); /* the schema knows the two kinds only */
  CHECK_EQ_INT(db_session_get(db, s.id, &s), 0);
  CHECK_EQ_STR(s.tls, "starttls");

  size_t len;
  int steps;
  char *out = drain(EXPORT_PCAP, &s, NULL, LIM_EXPORT_BYTES, 100, &len, &steps);
  CHECK(out != NULL);
  char up[256], down[256];
  size_t nup, ndown;
  pcap_payloads((const unsigned char *)out, len, up, &nup, down, &ndown);
  CHECK_EQ_INT(nup, 10 + 8 + 6);
  CHECK(memcmp(up, "STARTTLS\r\n\x16\x03\x01hello\x17\x03\x03xyz", nup) == 0);
  CHECK_EQ_INT(ndown, 8 + 8 + 9 + 7);
  CHECK(memcmp(down,
               "220 hi\r\n220 go\r\n\x16\x03\x03server\x17\x03\x03"
               "abcd",
               ndown) == 0);
  free(out);

  out = drain(EXPORT_TXT, &s, NULL, LIM_EXPORT_BYTES, 7, &len, &steps);
  CHECK(out != NULL);
  CHECK(strstr(out, "C: AUTH secret") != NULL);
  CHECK(strstr(out, "hello") == NULL && strstr(out, "server") == NULL);
  free(out);

  out = drain(EXPORT_JSON, &s, "{\"events\":[", LIM_EXPORT_BYTES, 64, &len, &steps);
  CHECK(out != NULL);
  cJSON *root = cJSON_Parse(out), *ev;
  int wire = 0, plain = 0;
  cJSON_ArrayForEach(ev, cJSON_GetObjectItem(root, "events")) {
    cJSON *layer = cJSON_GetObjectItem(ev, "layer");
    const char *dir = cJSON_GetObjectItem(ev, "dir")->valuestring;
    if (layer) {
      CHECK_EQ_STR(layer->valuestring, "wire");
      CHECK(strcmp(dir, "c2s") == 0 || strcmp(dir, "s2c") == 0);
      wire++;
    } else if (strcmp(dir, "note") != 0) {
      plain++;
    }
  }
  CHECK_EQ_INT(wire, 4);
  CHECK_EQ_INT(plain, 5);
  cJSON_Delete(root);
  free(out);

  /* Stored as dir 1/2 and read back with the layer. */
  struct db_event bad = tls_events[1];
  bad.session_id = s.id;
  bad.seq = 99;
  bad.dir = 5;
  CHECK(db_events_append(db, &bad, 1) != 0);
  char keys[64];
  CHECK_EQ_INT(db_session_keylog_get(db, s.id, keys, sizeof keys), 1);
  CHECK_EQ_INT(db_session_keylog_add(db, s.id, "CLIENT_RANDOM a b\n"), 0);
  CHECK_EQ_INT(db_session_keylog_add(db, s.id, "CLIENT_RANDOM c d\n"), 0);
  CHECK_EQ_INT(db_session_keylog_get(db, s.id, keys, sizeof keys), 0);
  CHECK_EQ_STR(keys, "CLIENT_RANDOM a b\nCLIENT_RANDOM c d\n");
}

static void test_cast(void) {
  struct db_session s = load(events, 4);
  size_t len;
  int steps;
  char *out = drain(EXPORT_CAST, &s, NULL, LIM_EXPORT_BYTES, 7, &len, &steps);
  CHECK(out != NULL);
  char *save = NULL;
  char *line = strtok_r(out, "\n", &save);
  cJSON *h = cJSON_Parse(line);
  CHECK_EQ_INT(cJSON_GetObjectItem(h, "version")->valueint, 2);
  CHECK_EQ_INT((long long)cJSON_GetObjectItem(h, "timestamp")->valuedouble, 1795000000LL);
  CHECK(strstr(cJSON_GetObjectItem(h, "title")->valuestring, "alice -> lab:25") != NULL);
  cJSON_Delete(h);
  int n = 0;
  double last_t = -1;
  while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
    cJSON *e = cJSON_Parse(line);
    CHECK(cJSON_IsArray(e) && cJSON_GetArraySize(e) == 3);
    double t = cJSON_GetArrayItem(e, 0)->valuedouble;
    CHECK(t >= last_t);
    last_t = t;
    CHECK_EQ_STR(cJSON_GetArrayItem(e, 1)->valuestring, "o");
    const char *text = cJSON_GetArrayItem(e, 2)->valuestring;
    if (n == 2) CHECK_EQ_STR(text, "\x1b[34m220 lab ESMTP\r\n\x1b[0m");
    if (n == 3) CHECK_EQ_STR(text, "\x1b[31mEHLO x\r\nQUIT\r\n\x1b[0m"); /* bare LF made CRLF */
    cJSON_Delete(e);
    n++;
  }
  CHECK_EQ_INT(n, 4);
  CHECK(last_t > 0.9 && last_t < 0.92);
  free(out);
}

static void test_display_text(void) {
  char *t = export_display_text((const unsigned char *)"ok\xff\0\xc3\xa9\xed\xa0\x80", 9);
  CHECK_EQ_STR(t, "ok\xEF\xBF\xBD\xEF\xBF\xBD\xc3\xa9\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  free(t);
}

/* Many events (more than one page of LIM_EXPORT_STEP_EVENTS), read in
 * pieces of 1 byte, 100 bytes and a full chunk: the same bytes each time,
 * every format, and no read larger than asked. */
static void test_pieces_and_pages(void) {
  enum { N = 3 * LIM_EXPORT_STEP_EVENTS + 5 };
  static struct db_event many[N];
  static char lines[N][40];
  for (int i = 0; i < N; i++) {
    snprintf(lines[i], sizeof lines[i], i % 5 == 4 ? "cut %d" : "line %d\r\n", i);
    many[i].seq = i + 1;
    many[i].t_us = i * 1000;
    many[i].dir = i % 17 == 0 ? DB_DIR_NOTE : i % 2 ? DB_DIR_C2S : DB_DIR_S2C;
    many[i].data = (const unsigned char *)lines[i];
    many[i].len = strlen(lines[i]);
  }
  struct db_session s = load(many, N);
  static const enum export_format formats[] = {EXPORT_JSON, EXPORT_TXT, EXPORT_CAST, EXPORT_PCAP};
  static const size_t caps[] = {1, 100, LIM_EXPORT_CHUNK};
  for (size_t f = 0; f < 4; f++) {
    const char *head = formats[f] == EXPORT_JSON ? "{\"events\":[" : "title\n\n";
    if (formats[f] > EXPORT_TXT) head = NULL;
    size_t len0, len;
    int steps0, steps;
    char *whole = drain(formats[f], &s, head, LIM_EXPORT_BYTES, caps[2], &len0, &steps0);
    CHECK(whole != NULL && len0 > 0);
    for (size_t c = 0; c < 2; c++) {
      char *part = drain(formats[f], &s, head, LIM_EXPORT_BYTES, caps[c], &len, &steps);
      CHECK(part != NULL);
      CHECK_EQ_INT(len, len0);
      CHECK(part && memcmp(part, whole, len0) == 0);
      CHECK(steps >= (int)(len0 / caps[c]));
      free(part);
    }
    if (formats[f] == EXPORT_JSON) {
      cJSON *j = cJSON_Parse(whole);
      CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), N);
      cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "events"), N - 1);
      CHECK_EQ_INT(cJSON_GetObjectItem(e, "seq")->valueint, N);
      cJSON_Delete(j);
    }
    if (formats[f] == EXPORT_TXT) {
      const char *start =
          "title\n\n* line 0  \nC: line 1\xE2\x90\x8D\xE2\x90\x8A\nS: line "
          "2\xE2\x90\x8D\xE2\x90\x8A\n";
      CHECK(strncmp(whole, start, strlen(start)) == 0);
      CHECK(strstr(whole, "C: cut 9\\\nS: line 10") != NULL);
      CHECK(whole[len0 - 1] == '\n');
    }
    free(whole);
  }
}

/* The text export in the page's notation (web/js/bytes.js): telnet
 * commands as one mark each, even when an event cuts one in two, CR and LF
 * as marks, broken UTF-8 and control bytes as \xNN, and the close in the
 * page's words. */
static void test_txt_notation(void) {
  static const struct db_event tn[] = {
      {7, 1, 0, DB_DIR_S2C, (const unsigned char *)"\xff\xfb\x01\xff\xfb\x03\xff", 7},
      {7, 2, 10, DB_DIR_S2C, (const unsigned char *)"\xfd\x1flogin: ", 9},
      {7, 3, 20, DB_DIR_C2S, (const unsigned char *)"\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0", 9},
      {7, 4, 30, DB_DIR_C2S, (const unsigned char *)"bob\t\x1b\xc3\r\n\xff\xff\xe2\x82", 12},
      {7, 5, 40, DB_DIR_S2C, (const unsigned char *)"\xc3\xa9\0\xff\xf1\r\n", 7},
      {7, 6, 50, DB_DIR_NOTE, (const unsigned char *)"closed: remote_closed", 21},
  };
  struct db_session s = load(tn, 6);
  strcpy(s.mode, "telnet");
  size_t len;
  int steps;
  char *out = drain(EXPORT_TXT, &s, NULL, LIM_EXPORT_BYTES, 5, &len, &steps);
  CHECK_EQ_STR(out,
               "S: \xE2\x9F\xA8IAC WILL ECHO\xE2\x9F\xA9\xE2\x9F\xA8IAC WILL SUPPRESS-GO-AHEAD"
               "\xE2\x9F\xA9\xE2\x9F\xA8IAC DO NAWS\xE2\x9F\xA9"
               "login: \\\n"
               "C: \xE2\x9F\xA8IAC SB NAWS 00 50 00 18 IAC SE\xE2\x9F\xA9"
               "bob\\x09\\x1b\\xc3"
               "\xE2\x90\x8D\xE2\x90\x8A\n"
               "C: \\xff\\xe2\\x82\\\n"
               "S: \xC3\xA9\xE2\x90\x80\xE2\x9F\xA8IAC NOP\xE2\x9F\xA9\xE2\x90\x8D\xE2\x90\x8A\n"
               "* Connection closed: the server closed the connection.\n");
  free(out);
  /* Not a telnet session: IAC is a byte like any other. */
  strcpy(s.mode, "raw");
  s.port = 25;
  out = drain(EXPORT_TXT, &s, NULL, LIM_EXPORT_BYTES, 100, &len, &steps);
  const char *raw = "S: \\xff\\xfb\\x01\\xff\\xfb\\x03\\xff\\xfd\\x1flogin: \\\n";
  CHECK(out && strncmp(out, raw, strlen(raw)) == 0);
  CHECK_EQ_STR(export_reason_text("client_disconnected"), "the browser was gone too long");
  CHECK_EQ_STR(export_reason_text("odd_code"), "odd_code");
  free(out);
}

/* LIM_EXPORT_BYTES at its edge, with a small cap in its place: exactly the
 * output's size is allowed, one byte less fails the export. */
static void test_max_bytes(void) {
  struct db_session s = load(events, 4);
  size_t len, len2;
  int steps;
  for (int f = EXPORT_JSON; f <= EXPORT_PCAP; f++) {
    char *whole = drain((enum export_format)f, &s, NULL, LIM_EXPORT_BYTES, 64, &len, &steps);
    CHECK(whole != NULL);
    char *exact = drain((enum export_format)f, &s, NULL, len, 64, &len2, &steps);
    CHECK(exact != NULL);
    CHECK_EQ_INT(len2, len);
    char *over = drain((enum export_format)f, &s, NULL, len - 1, 64, &len2, &steps);
    CHECK(over == NULL);
    free(whole);
    free(exact);
    free(over);
  }
}

/* Events recorded after the export began (seq past last_seq) are not in it. */
static void test_last_seq(void) {
  struct db_session s = load(events, 4);
  struct export *ex = export_new(EXPORT_JSON, &s, "[", 2, LIM_EXPORT_BYTES);
  unsigned char out[4096];
  int done = 0, n = export_read(ex, db, out, sizeof out, &done);
  CHECK(n > 0 && done);
  cJSON *j = cJSON_ParseWithLength((const char *)out, (size_t)n - 1); /* no '}': head was "[" */
  CHECK_EQ_INT(cJSON_GetArraySize(j), 2);
  cJSON_Delete(j);
  export_free(ex);
}

/* A session with no events: the head and trailer only, done at once. */
static void test_empty(void) {
  struct db_session s = load(NULL, 0);
  size_t len;
  int steps;
  char *out = drain(EXPORT_JSON, &s, "{\"events\":[", LIM_EXPORT_BYTES, 100, &len, &steps);
  CHECK_EQ_STR(out, "{\"events\":[]}");
  CHECK_EQ_INT(steps, 1);
  free(out);
  out = drain(EXPORT_PCAP, &s, NULL, LIM_EXPORT_BYTES, 100, &len, &steps);
  CHECK_EQ_INT(len, 24); /* the file header, no packets */
  free(out);
}

int main(void) {
  test_empty();
  test_pcap();
  test_layers();
  test_cast();
  test_display_text();
  test_pieces_and_pages();
  test_txt_notation();
  test_max_bytes();
  test_last_seq();
  db_close(db);
  return check_done();
}
