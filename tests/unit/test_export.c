/* test_export.c -- asciicast and pcap exports, parsed back and checked. */
#include <arpa/inet.h>
#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "export.h"

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
  struct db_session s = session();
  memset(big, 'x', sizeof big);
  struct export *ex = export_new(EXPORT_PCAP, &s);
  for (size_t i = 0; i < N_EVENTS; i++) CHECK_EQ_INT(export_event(ex, &events[i]), 0);
  char *out;
  size_t len;
  CHECK_EQ_INT(export_finish(ex, &out, &len), 0);
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

static void test_cast(void) {
  struct db_session s = session();
  struct export *ex = export_new(EXPORT_CAST, &s);
  for (size_t i = 0; i < 4; i++) CHECK_EQ_INT(export_event(ex, &events[i]), 0);
  char *out;
  size_t len;
  CHECK_EQ_INT(export_finish(ex, &out, &len), 0);
  out = realloc(out, len + 1); /* the export is bytes, not a string */
  out[len] = '\0';
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

int main(void) {
  test_pcap();
  test_cast();
  test_display_text();
  return check_done();
}
