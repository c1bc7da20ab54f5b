/* export.c -- transcripts as JSON, text, asciicast v2 and pcap, streamed.
 *
 * An export is a cursor over one session's events and a small queue of
 * output. export_read() reads at most one page of events from the database
 * (re-queried by seq > last seq, so nothing stays open between calls while
 * the recorder writes), formats them, and hands out at most the bytes asked
 * for. The whole transcript is never in memory: the queue holds about one
 * chunk plus one event's rendering.
 *
 * Every format lives here, head included; the API handler only picks one
 * (export_kind_by_name) and hands over the session object it prints.
 * JSON is written as the envelope {"session":...,"events":[ (built by
 * export_session), then each event object, comma separated, then "]}";
 * byte for byte what cJSON printed for the whole tree. Text is the title
 * lines, then "Follow TCP Stream" with C:/S: prefixes (see txt_event).
 *
 * asciicast v2 (the asciinema file format): a JSON header line, then one
 * [seconds, "o", text] line per event. Client bytes are drawn red and
 * server bytes blue with ANSI colours, notes dim, so `asciinema play`
 * shows the same conversation as the browser. Bare LF becomes CRLF so a
 * terminal returns to column 0. Nothing in the data drives the player's
 * terminal: other control bytes are shown as \xNN (cast_event).
 *
 * pcap (libpcap 2.4, Ethernet, microsecond stamps): the session as one
 * IPv4 TCP stream with a synthesised three-way handshake, every recorded
 * chunk as PSH/ACK segments of at most 1460 bytes with correct sequence
 * and acknowledgement numbers and checksums, and a FIN exchange at the
 * end. The server side keeps the session's port (the well-known port for
 * lab targets) so Wireshark and tshark pick the right dissector. The
 * addresses are the documentation range 192.0.2.0/24 unless the target
 * was an IPv4 literal. A TLS session's pcap carries what crossed the wire:
 * the TLS records, so tshark shows the handshake and, given the session's
 * key log, the plaintext. Text and asciicast show the plaintext layer;
 * JSON carries both, the wire events marked "layer":"wire".
 */
#include "export.h"

#include <arpa/inet.h>
#include <cJSON.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontime.h"
#include "portlab_limits.h"
#include "text.h"

#define PCAP_MSS 1460
#define TXT_PENDING_MAX 512 /* bytes.js SB_MAX: the longest tail held for the next event */
#define PCAP_CLIENT_ISN 1000u
#define PCAP_SERVER_ISN 5000u

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_PSH = 0x08, TCP_ACK = 0x10 };

struct export {
  enum export_format format;
  struct db_session s;
  struct buf out;    /* formatted, not yet handed out */
  size_t max_bytes;  /* all output together */
  size_t produced;   /* all output so far */
  int64_t after_seq; /* the cursor: last event formatted */
  int64_t last_seq;  /* the last event to export */
  int events_done;   /* every event formatted */
  int finished;      /* the trailer written too */
  int failed;
  int n_events;                               /* json: events written, for the commas */
  int at_line_start;                          /* txt */
  int last_dir;                               /* txt */
  int telnet;                                 /* txt: decode IAC commands */
  unsigned char txt_pending[TXT_PENDING_MAX]; /* txt: a cut-off sequence of last_dir */
  size_t txt_pending_n;
  /* pcap */
  uint32_t client_ip, server_ip;
  uint16_t client_port, server_port;
  uint32_t client_seq, server_seq;
  uint16_t ip_id;
  int connected;
  int64_t last_us;
  int wire_seen; /* a wire event came: plaintext events are no longer the wire */
};

char *export_display_text(const unsigned char *p, size_t n) {
  char *out = malloc(n * 3 + 1), *o = out;
  if (!out) return NULL;
  size_t i = 0;
  while (i < n) {
    int len = p[i] == 0 ? -1 : p[i] < 0x80 ? 1 : text_utf8_len(p + i, n - i);
    if (len > 0) {
      memcpy(o, p + i, (size_t)len);
      o += len;
      i += (size_t)len;
    } else {
      memcpy(o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
    }
  }
  *o = '\0';
  return out;
}

static void put(struct export *ex, const void *p, size_t n) {
  if (ex->failed) return;
  if (n > ex->max_bytes - ex->produced || buf_append(&ex->out, p, n)) {
    ex->failed = 1;
    return;
  }
  ex->produced += n;
}

/* --- JSON ------------------------------------------------------------------ */

static const char *dir_name(int dir) {
  dir = DB_DIR_BASE(dir);
  return dir == DB_DIR_C2S ? "c2s" : dir == DB_DIR_S2C ? "s2c" : "note";
}

/* JSON: a wire event is its direction plus "layer":"wire"; plaintext
 * events and notes are as they always were. */
static void json_event(struct export *ex, const struct db_event *e) {
  cJSON *o = cJSON_CreateObject();
  char *b64 = NULL, *text = NULL, *printed = NULL;
  if (!o) goto fail;
  cJSON_AddNumberToObject(o, "seq", (double)e->seq);
  cJSON_AddNumberToObject(o, "t_us", (double)e->t_us);
  cJSON_AddStringToObject(o, "dir", dir_name(e->dir));
  if (DB_DIR_IS_WIRE(e->dir)) cJSON_AddStringToObject(o, "layer", "wire");
  if (e->dir != DB_DIR_NOTE) {
    size_t b64len = 4 * ((e->len + 2) / 3) + 8; /* lws wants slack past the NUL */
    b64 = malloc(b64len);
    if (!b64 || lws_b64_encode_string((const char *)e->data, (int)e->len, b64, (int)b64len) < 0)
      goto fail;
    cJSON_AddStringToObject(o, "data_b64", b64);
  }
  text = export_display_text(e->data, e->len);
  if (!text) goto fail;
  cJSON_AddStringToObject(o, "text", text);
  printed = cJSON_PrintUnformatted(o);
  if (!printed) goto fail;
  if (ex->n_events++) put(ex, ",", 1);
  put(ex, printed, strlen(printed));
  goto done;
fail:
  ex->failed = 1;
done:
  free(printed);
  free(text);
  free(b64);
  cJSON_Delete(o);
}

/* --- text ------------------------------------------------------------------ */

/* The page's notation (web/js/bytes.js), so the text export reads like the
 * conversation view: printable text and valid UTF-8 as they are, CR as
 * U+240D, LF as U+240A and a line break, NUL as U+2400, other control
 * bytes, DEL, C1 controls and bytes of broken UTF-8 as \xNN, Unicode
 * format characters as "⟨U+202E⟩". In a telnet
 * session each IAC command is one mark: FF FB 01 is "<IAC WILL ECHO>" in
 * angle brackets U+27E8/U+27E9, IAC IAC is \xff. A UTF-8 sequence or a
 * telnet command cut by the end of an event waits for the next event of
 * the same direction, as the page's ByteRenderer holds it back; on a
 * direction change or at the end it is shown byte by byte. */
#define TXT_SB_MAX TXT_PENDING_MAX
#define TXT_IAC 0xFF

static const char *const telnet_cmds[16] = {"SE", "NOP", "DM", "BRK",  "IP",   "AO", "AYT",  "EC",
                                            "EL", "GA",  "SB", "WILL", "WONT", "DO", "DONT", NULL};

static void txt_opt_name(char *o, size_t cap, unsigned b) {
  static const struct {
    unsigned code;
    const char *name;
  } opts[] = {{0, "BINARY"},
              {1, "ECHO"},
              {3, "SUPPRESS-GO-AHEAD"},
              {5, "STATUS"},
              {6, "TIMING-MARK"},
              {24, "TERMINAL-TYPE"},
              {31, "NAWS"},
              {32, "TERMINAL-SPEED"},
              {33, "LFLOW"},
              {34, "LINEMODE"},
              {35, "X-DISPLAY-LOCATION"},
              {36, "OLD-ENVIRON"},
              {37, "AUTHENTICATION"},
              {38, "ENCRYPT"},
              {39, "NEW-ENVIRON"}};
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
    if (opts[i].code == b) {
      snprintf(o, cap, "%s", opts[i].name);
      return;
    }
  snprintf(o, cap, "%u", b);
}

/* The telnet command at p[0] (an IAC) of n bytes, as bytes.js
 * telnetCommand(): its length with its mark in mark, 0 when the bytes end
 * inside it, or -1 for IAC IAC. */
static long txt_telnet_cmd(const unsigned char *p, size_t n, char *mark, size_t cap) {
  char name[24];
  if (n < 2) return 0;
  unsigned c = p[1];
  if (c == TXT_IAC) return -1;
  if (c >= 0xFB && c <= 0xFE) {
    if (n < 3) return 0;
    txt_opt_name(name, sizeof name, p[2]);
    snprintf(mark, cap, "\xE2\x9F\xA8IAC %s %s\xE2\x9F\xA9", telnet_cmds[c - 0xF0], name);
    return 3;
  }
  if (c == 0xFA) {
    for (size_t k = 2; k + 1 < n && k < TXT_SB_MAX; k++) {
      if (p[k] != TXT_IAC || p[k + 1] != 0xF0) continue;
      size_t o = (size_t)snprintf(mark, cap, "\xE2\x9F\xA8IAC SB ");
      if (k > 2) {
        txt_opt_name(name, sizeof name, p[2]);
        o += (size_t)snprintf(mark + o, cap - o, "%s ", name);
      }
      for (size_t j = 3; j < k; j++) o += (size_t)snprintf(mark + o, cap - o, "%02X ", p[j]);
      snprintf(mark + o, cap - o, "IAC SE\xE2\x9F\xA9");
      return (long)(k + 2);
    }
    if (n < TXT_SB_MAX) return 0;
    snprintf(mark, cap, "\xE2\x9F\xA8IAC SB\xE2\x9F\xA9");
    return 2;
  }
  if (c >= 0xF0)
    snprintf(mark, cap, "\xE2\x9F\xA8IAC %s\xE2\x9F\xA9", telnet_cmds[c - 0xF0]);
  else
    snprintf(mark, cap, "\xE2\x9F\xA8IAC %02X\xE2\x9F\xA9", c);
  return 2;
}

struct txt_out {
  struct buf b;
  int failed;
};

static void txt_put(struct txt_out *o, const void *p, size_t n) {
  if (buf_append(&o->b, p, n)) o->failed = 1;
}

static void txt_mark(struct txt_out *o, unsigned b) {
  char hex[12];
  if (b == '\r') {
    txt_put(o, "\xE2\x90\x8D", 3);
  } else if (b == '\n') {
    txt_put(o, "\xE2\x90\x8A\n", 4);
  } else if (b == 0) {
    txt_put(o, "\xE2\x90\x80", 3);
  } else {
    snprintf(hex, sizeof hex, "\\x%02x", b & 0xFFu);
    txt_put(o, hex, 4);
  }
}

/* A Unicode format character as the page marks it: "⟨U+202E⟩". At most
 * 14 bytes and a NUL. */
static int format_mark(char *o, uint32_t cp) {
  return sprintf(o, "\xE2\x9F\xA8U+%04" PRIX32 "\xE2\x9F\xA9", cp);
}

/* Renders p[0..n) into o; with final, nothing is held back. Returns the
 * bytes used (the rest waits for more). */
static size_t txt_render(struct txt_out *o, const unsigned char *p, size_t n, int telnet,
                         int final) {
  char mark[TXT_SB_MAX * 3 + 64];
  size_t i = 0;
  while (i < n) {
    unsigned b = p[i];
    if (b >= 0x20 && b < 0x7F) {
      size_t j = i;
      while (j < n && p[j] >= 0x20 && p[j] < 0x7F) j++;
      txt_put(o, p + i, j - i);
      i = j;
      continue;
    }
    if (b == TXT_IAC && telnet) {
      long len = txt_telnet_cmd(p + i, n - i, mark, sizeof mark);
      if (len < 0) {
        txt_mark(o, TXT_IAC);
        i += 2;
        continue;
      }
      if (len > 0) {
        txt_put(o, mark, strlen(mark));
        i += (size_t)len;
        continue;
      }
      if (!final) return i;
    } else if (b >= 0x80) {
      int len = text_utf8_len(p + i, n - i);
      if (len > 0 && !text_utf8_c1(p + i, n - i)) {
        uint32_t cp = text_utf8_code_point(p + i, len);
        if (text_unicode_format(cp))
          txt_put(o, mark, (size_t)format_mark(mark, cp));
        else
          txt_put(o, p + i, (size_t)len);
        i += (size_t)len;
        continue;
      }
      if (len == 0 && !final) return i;
    }
    txt_mark(o, b);
    i++;
  }
  return n;
}

/* Writes rendered text with "C: " / "S: " before each line. */
static void txt_lines(struct export *ex, int dir, const char *text, size_t n) {
  const char *prefix = dir == DB_DIR_C2S ? "C: " : "S: ";
  if (!n) return;
  const char *p = text, *end = text + n;
  while (p < end) {
    if (ex->at_line_start) put(ex, prefix, 3);
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p + 1) : (size_t)(end - p);
    put(ex, p, len);
    ex->at_line_start = nl != NULL;
    p += len;
  }
}

/* Shows what the last direction held back, byte by byte. */
static void txt_flush_pending(struct export *ex) {
  if (!ex->txt_pending_n) return;
  struct txt_out o = {.failed = 0};
  buf_init(&o.b, TXT_SB_MAX * 4 + 64);
  txt_render(&o, ex->txt_pending, ex->txt_pending_n, 0, 1);
  if (o.failed) ex->failed = 1;
  txt_lines(ex, ex->last_dir, (const char *)buf_head(&o.b), buf_len(&o.b));
  buf_free(&o.b);
  ex->txt_pending_n = 0;
}

/* A close reason in the page's wording (web/js/strings.js reasons). */
const char *export_reason_text(const char *code) {
  static const char *const reasons[][2] = {
      {"remote_closed", "the server closed the connection"},
      {"idle_timeout", "nothing was sent for too long"},
      {"session_timeout", "the session reached its time limit"},
      {"client_closed", "you hung up"},
      {"transfer_aborted", "the transfer was aborted"},
      {"server_shutdown", "portlab is shutting down"},
      {"logged_out", "you signed out"},
      {"connect_timeout", "the server did not answer in time"},
      {"connection_lost", "the connection to portlab was lost"},
      {"connect_failed", "could not connect"},
      {"client_disconnected", "the browser was gone too long"},
      {"server_restart", "portlab was restarted"},
      {"buffer_overflow", "too much was waiting to be sent"},
  };
  if (!code) return "";
  for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
    if (strcmp(code, reasons[i][0]) == 0) return reasons[i][1];
  return code;
}

/* "Follow TCP Stream" as text, marked like the transcripts in RFC 5321:
 * "C: " before each client line, "S: " before each server line, notes
 * as "* " lines (the session's closing note in the page's words:
 * "Connection closed: the server closed the connection."). A line that is
 * cut by a direction change ends with "\". The page's notation leaves no
 * control character but LF in the output, so a transcript viewed with cat
 * or less cannot drive the reader's terminal. */
static void txt_event(struct export *ex, const struct db_event *e) {
  if (e->dir != ex->last_dir) txt_flush_pending(ex);
  if (!ex->at_line_start && e->dir != ex->last_dir) {
    put(ex, "\\\n", 2);
    ex->at_line_start = 1;
  }
  if (e->dir == DB_DIR_NOTE) {
    char *text = export_display_text(e->data, e->len);
    if (!text) {
      ex->failed = 1;
      return;
    }
    put(ex, "* ", 2);
    if (strncmp(text, "closed: ", 8) == 0) {
      const char *why = export_reason_text(text + 8);
      put(ex, "Connection closed: ", 19);
      put(ex, why, strlen(why));
      put(ex, ".", 1);
    } else {
      for (char *p = text; *p; p++) /* a note is one line */
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
      put(ex, text, strlen(text));
    }
    put(ex, "\n", 1);
    ex->at_line_start = 1;
    free(text);
  } else {
    size_t n = ex->txt_pending_n + e->len;
    unsigned char *in = malloc(n ? n : 1);
    struct txt_out o = {.failed = 0};
    buf_init(&o.b, n * 12 + TXT_SB_MAX * 4 + 64);
    if (!in) {
      ex->failed = 1;
      return;
    }
    memcpy(in, ex->txt_pending, ex->txt_pending_n);
    memcpy(in + ex->txt_pending_n, e->data, e->len);
    size_t used = txt_render(&o, in, n, ex->telnet, 0);
    if (n - used > sizeof ex->txt_pending) { /* cannot happen: a held tail is < TXT_SB_MAX */
      txt_render(&o, in + used, n - used, 0, 1);
      used = n;
    }
    ex->txt_pending_n = n - used;
    memcpy(ex->txt_pending, in + used, ex->txt_pending_n);
    if (o.failed) ex->failed = 1;
    txt_lines(ex, e->dir, (const char *)buf_head(&o.b), buf_len(&o.b));
    buf_free(&o.b);
    free(in);
  }
  ex->last_dir = e->dir;
}

/* --- asciicast ------------------------------------------------------------- */

static void cast_line(struct export *ex, cJSON *json) {
  char *text = cJSON_PrintUnformatted(json);
  cJSON_Delete(json);
  if (!text) {
    ex->failed = 1;
    return;
  }
  put(ex, text, strlen(text));
  put(ex, "\n", 1);
  free(text);
}

static void cast_header(struct export *ex) {
  char title[600], data[200] = "";
  if (ex->s.parent_id)
    snprintf(data, sizeof data, " (ftp-data · %s, data connection of session %lld)",
             ex->s.label[0] ? ex->s.label : "(no transfer)", (long long)ex->s.parent_id);
  snprintf(title, sizeof title, "portlab session %lld: %s -> %s:%d%s%s%s", (long long)ex->s.id,
           ex->s.user_name, ex->s.host, ex->s.port, ex->s.own_client ? ", own client from " : "",
           ex->s.own_client ? ex->s.client_addr : "", data);
  cJSON *h = cJSON_CreateObject();
  cJSON_AddNumberToObject(h, "version", 2);
  cJSON_AddNumberToObject(h, "width", 100);
  cJSON_AddNumberToObject(h, "height", 30);
  cJSON_AddNumberToObject(h, "timestamp", (double)(ex->s.started_us / 1000000));
  cJSON_AddStringToObject(h, "title", title);
  cJSON *env = cJSON_AddObjectToObject(h, "env");
  cJSON_AddStringToObject(env, "TERM", "xterm-256color");
  cast_line(ex, h);
}

static void cast_event(struct export *ex, const struct db_event *e) {
  char *text = export_display_text(e->data, e->len);
  if (!text) {
    ex->failed = 1;
    return;
  }
  /* Room for every byte shown as \xNN (a C1 control's two as 8, a format
   * character's two as its 12-byte mark) plus colour codes. */
  size_t n = strlen(text);
  char *shown = malloc(n * 6 + 64), *o = shown;
  if (!shown) {
    free(text);
    ex->failed = 1;
    return;
  }
  const char *colour = e->dir == DB_DIR_C2S   ? "\x1b[31m"
                       : e->dir == DB_DIR_S2C ? "\x1b[34m"
                                              : "\x1b[2m# ";
  memcpy(o, colour, strlen(colour));
  o += strlen(colour);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)text[i];
    /* A player's terminal runs what the transcript holds: an escape
     * sequence a student or a target sent could write the viewer's
     * clipboard (OSC 52), retitle the window or erase lines and redraw
     * what was said. Control bytes other than LF and tab, a CR not ending
     * a line, DEL and C1 controls (U+0080-U+009F) are shown as \xNN, and
     * format characters (a bidi override would turn the line around) as
     * marks, as the text export shows them; only the colour codes above
     * are run. */
    if (ch >= 0x80) { /* valid UTF-8: export_display_text made it so */
      int len = text_utf8_len((const unsigned char *)text + i, n - i);
      uint32_t cp = len > 0 ? text_utf8_code_point((const unsigned char *)text + i, len) : 0;
      if (text_unicode_format(cp)) {
        o += format_mark(o, cp);
        i += (size_t)len - 1;
        continue;
      }
    }
    int c1 = text_utf8_c1((const unsigned char *)text + i, n - i);
    if ((ch < 0x20 && ch != '\n' && ch != '\t' && !(ch == '\r' && text[i + 1] == '\n')) ||
        ch == 0x7F || c1) {
      o += sprintf(o, c1 ? "\\x%02x\\x%02x" : "\\x%02x", ch, (unsigned char)text[i + 1]);
      i += c1;
      continue;
    }
    if (ch == '\n' && (i == 0 || text[i - 1] != '\r')) *o++ = '\r';
    *o++ = (char)ch;
  }
  const char *reset = e->dir == DB_DIR_NOTE ? "\x1b[0m\r\n" : "\x1b[0m";
  memcpy(o, reset, strlen(reset) + 1);
  cJSON *line = cJSON_CreateArray();
  cJSON_AddItemToArray(line, cJSON_CreateNumber((double)e->t_us / 1e6));
  cJSON_AddItemToArray(line, cJSON_CreateString("o"));
  cJSON_AddItemToArray(line, cJSON_CreateString(shown));
  cast_line(ex, line);
  free(shown);
  free(text);
}

/* --- pcap ------------------------------------------------------------------ */

static void put_u16(unsigned char *p, uint16_t v) {
  p[0] = (unsigned char)(v >> 8);
  p[1] = (unsigned char)v;
}

static void put_u32(unsigned char *p, uint32_t v) {
  put_u16(p, (uint16_t)(v >> 16));
  put_u16(p + 2, (uint16_t)v);
}

static uint32_t sum16(const unsigned char *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)(p[n - 1] << 8);
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return (uint16_t)~sum;
}

/* One Ethernet + IPv4 + TCP frame. from_client picks the direction. */
static void pcap_segment(struct export *ex, int64_t t_us, int from_client, unsigned flags,
                         const unsigned char *data, size_t n) {
  unsigned char frame[14 + 20 + 20 + PCAP_MSS];
  unsigned char *eth = frame, *ip = frame + 14, *tcp = ip + 20;
  uint32_t src = from_client ? ex->client_ip : ex->server_ip;
  uint32_t dst = from_client ? ex->server_ip : ex->client_ip;
  uint32_t *seq = from_client ? &ex->client_seq : &ex->server_seq;
  uint32_t ack = from_client ? ex->server_seq : ex->client_seq;
  static const unsigned char mac_client[6] = {0x02, 0, 0, 0, 0, 0x02};
  static const unsigned char mac_server[6] = {0x02, 0, 0, 0, 0, 0x01};

  memcpy(eth, from_client ? mac_server : mac_client, 6);
  memcpy(eth + 6, from_client ? mac_client : mac_server, 6);
  put_u16(eth + 12, 0x0800);

  memset(ip, 0, 20);
  ip[0] = 0x45;
  put_u16(ip + 2, (uint16_t)(40 + n));
  put_u16(ip + 4, ex->ip_id++);
  put_u16(ip + 6, 0x4000); /* don't fragment */
  ip[8] = 64;
  ip[9] = 6;
  put_u32(ip + 12, src);
  put_u32(ip + 16, dst);
  put_u16(ip + 10, fold(sum16(ip, 20, 0)));

  memset(tcp, 0, 20);
  put_u16(tcp, from_client ? ex->client_port : ex->server_port);
  put_u16(tcp + 2, from_client ? ex->server_port : ex->client_port);
  put_u32(tcp + 4, *seq);
  put_u32(tcp + 8, (flags & TCP_ACK) ? ack : 0);
  tcp[12] = 5 << 4;
  tcp[13] = (unsigned char)flags;
  put_u16(tcp + 14, 65535);
  if (n) memcpy(tcp + 20, data, n);
  unsigned char pseudo[12];
  put_u32(pseudo, src);
  put_u32(pseudo + 4, dst);
  pseudo[8] = 0;
  pseudo[9] = 6;
  put_u16(pseudo + 10, (uint16_t)(20 + n));
  put_u16(tcp + 16, fold(sum16(tcp, 20 + n, sum16(pseudo, 12, 0))));

  *seq += (uint32_t)n + ((flags & (TCP_SYN | TCP_FIN)) ? 1 : 0);

  int64_t when = ex->s.started_us + t_us;
  uint32_t rec[4] = {(uint32_t)(when / 1000000), (uint32_t)(when % 1000000), (uint32_t)(54 + n),
                     (uint32_t)(54 + n)};
  put(ex, rec, sizeof rec); /* record headers are in host order, like the file header */
  put(ex, frame, 54 + n);
}

static void pcap_header(struct export *ex) {
  struct in_addr a;
  uint32_t hdr[6] = {0xa1b2c3d4u, 2 | (4u << 16), 0, 0, 65535, 1};
  put(ex, hdr, sizeof hdr);
  ex->client_ip = 0xC0000202u; /* 192.0.2.2 */
  /* An own client's real address marks it in the capture too. */
  if (ex->s.own_client && inet_pton(AF_INET, ex->s.client_addr, &a) == 1)
    ex->client_ip = ntohl(a.s_addr);
  ex->server_ip = inet_pton(AF_INET, ex->s.host, &a) == 1 ? ntohl(a.s_addr) : 0xC0000201u;
  ex->client_port = (uint16_t)(40000 + ex->s.id % 20000);
  ex->server_port = (uint16_t)ex->s.port;
  ex->client_seq = PCAP_CLIENT_ISN;
  ex->server_seq = PCAP_SERVER_ISN;
}

static void pcap_connect(struct export *ex, int64_t t_us) {
  if (ex->connected) return;
  ex->connected = 1;
  pcap_segment(ex, t_us, 1, TCP_SYN, NULL, 0);
  pcap_segment(ex, t_us, 0, TCP_SYN | TCP_ACK, NULL, 0);
  pcap_segment(ex, t_us, 1, TCP_ACK, NULL, 0);
}

/* The wire: plaintext events until the first wire event (a STARTTLS
 * session's cleartext part), then only wire events (the TLS records). */
static void pcap_event(struct export *ex, const struct db_event *e) {
  ex->last_us = e->t_us;
  if (e->dir == DB_DIR_NOTE) {
    if (e->len >= 12 && memcmp(e->data, "connected to", 12) == 0) pcap_connect(ex, e->t_us);
    return;
  }
  if (DB_DIR_IS_WIRE(e->dir))
    ex->wire_seen = 1;
  else if (ex->wire_seen)
    return;
  pcap_connect(ex, e->t_us);
  for (size_t off = 0; off < e->len; off += PCAP_MSS) {
    size_t n = e->len - off < PCAP_MSS ? e->len - off : PCAP_MSS;
    pcap_segment(ex, e->t_us, DB_DIR_BASE(e->dir) == DB_DIR_C2S, TCP_PSH | TCP_ACK, e->data + off,
                 n);
  }
}

static void pcap_close(struct export *ex) {
  if (!ex->connected) return;
  int64_t t = ex->s.ended_us ? ex->s.ended_us - ex->s.started_us : ex->last_us;
  if (t < ex->last_us) t = ex->last_us;
  int server_first = strcmp(ex->s.close_reason, "remote_closed") == 0;
  pcap_segment(ex, t, !server_first, TCP_FIN | TCP_ACK, NULL, 0);
  pcap_segment(ex, t, server_first, TCP_FIN | TCP_ACK, NULL, 0);
  pcap_segment(ex, t, !server_first, TCP_ACK, NULL, 0);
}

/* --- the interface ---------------------------------------------------------- */

struct export *export_new(enum export_format format, const struct db_session *s, const char *head,
                          int64_t last_seq, size_t max_bytes) {
  struct export *ex = calloc(1, sizeof *ex);
  if (!ex) return NULL;
  ex->format = format;
  ex->s = *s;
  ex->max_bytes = max_bytes;
  ex->last_seq = last_seq;
  ex->at_line_start = 1;
  ex->last_dir = -1;
  ex->telnet = strcmp(s->mode, "telnet") == 0 || s->port == 23;
  buf_init(&ex->out, max_bytes);
  if (head) put(ex, head, strlen(head));
  if (format == EXPORT_CAST)
    cast_header(ex);
  else if (format == EXPORT_PCAP)
    pcap_header(ex);
  if (ex->failed) {
    export_free(ex);
    return NULL;
  }
  return ex;
}

static void export_event(struct export *ex, const struct db_event *e) {
  switch (ex->format) {
    case EXPORT_JSON:
      json_event(ex, e);
      break;
    case EXPORT_TXT: /* the text and the replay show what the student sent and read */
      if (!DB_DIR_IS_WIRE(e->dir)) txt_event(ex, e);
      break;
    case EXPORT_CAST:
      if (!DB_DIR_IS_WIRE(e->dir)) cast_event(ex, e);
      break;
    case EXPORT_PCAP:
      pcap_event(ex, e);
      break;
  }
}

static void export_trailer(struct export *ex) {
  if (ex->format == EXPORT_JSON) put(ex, "]}", 2);
  if (ex->format == EXPORT_TXT) txt_flush_pending(ex);
  if (ex->format == EXPORT_TXT && !ex->at_line_start) put(ex, "\n", 1);
  if (ex->format == EXPORT_PCAP) pcap_close(ex);
  ex->finished = 1;
}

struct page {
  struct export *ex;
  size_t want; /* stop once this much output is queued */
  int seen;
  int stopped;
};

static int page_event(void *arg, const struct db_event *e) {
  struct page *pg = arg;
  export_event(pg->ex, e);
  pg->ex->after_seq = e->seq;
  pg->seen++;
  pg->stopped = pg->ex->failed || buf_len(&pg->ex->out) >= pg->want;
  return pg->stopped;
}

int export_read(struct export *ex, struct db *db, unsigned char *out, size_t cap, int *done) {
  *done = 0;
  if (ex->failed) return -1;
  if (buf_len(&ex->out) < cap && !ex->events_done) {
    struct page pg = {ex, cap, 0, 0};
    if (ex->after_seq >= ex->last_seq) {
      ex->events_done = 1;
    } else {
      if (db_events_page(db, ex->s.id, ex->after_seq, ex->last_seq, LIM_EXPORT_STEP_EVENTS,
                         page_event, &pg) < 0) {
        ex->failed = 1;
        return -1;
      }
      if (!pg.stopped && pg.seen < LIM_EXPORT_STEP_EVENTS) ex->events_done = 1;
    }
  }
  if (ex->events_done && !ex->finished) export_trailer(ex);
  if (ex->failed) return -1;
  size_t n = buf_len(&ex->out);
  if (n > cap) n = cap;
  if (n) memcpy(out, buf_head(&ex->out), n);
  buf_consume(&ex->out, n);
  *done = ex->finished && buf_len(&ex->out) == 0;
  return (int)n;
}

void export_free(struct export *ex) {
  if (!ex) return;
  buf_free(&ex->out);
  free(ex);
}

/* --- the formats the API offers --------------------------------------------- */

static const struct export_kind export_kinds[] = {
    {"json", EXPORT_JSON, "application/json", NULL},
    {"txt", EXPORT_TXT, "text/plain; charset=utf-8", "inline"},
    {"cast", EXPORT_CAST, "application/x-asciicast", "attachment"},
    {"pcap", EXPORT_PCAP, "application/vnd.tcpdump.pcap", "attachment"},
};

const struct export_kind *export_kind_by_name(const char *name) {
  for (size_t i = 0; name && i < sizeof export_kinds / sizeof export_kinds[0]; i++)
    if (strcmp(name, export_kinds[i].name) == 0) return &export_kinds[i];
  return NULL;
}

/* The head of a format (see export_session), malloc'd; *none set when the
 * format has none. NULL with *none 0 if out of memory. */
static char *export_head(enum export_format f, const struct db_session *s, const char *session_json,
                         int *none) {
  char *head = NULL;
  size_t n;

  *none = 0;
  if (f == EXPORT_JSON) {
    n = strlen(session_json ? session_json : "null") + 32;
    if ((head = malloc(n)))
      snprintf(head, n, "{\"session\":%s,\"events\":[", session_json ? session_json : "null");
  } else if (f == EXPORT_TXT) {
    char started[32], ended[32] = "(open)", data[200] = "";
    n = 512 + strlen(s->user_name) + strlen(s->host) + sizeof data;
    if (s->parent_id)
      snprintf(data, sizeof data, "ftp-data · %s, data connection of session %lld\n",
               s->label[0] ? s->label : "(no transfer)", (long long)s->parent_id);
    json_time_text(s->started_us, started, sizeof started);
    if (s->ended_us) json_time_text(s->ended_us, ended, sizeof ended);
    if ((head = malloc(n)))
      snprintf(head, n,
               "portlab session %lld: %s -> %s:%d (%s%s%s)\n"
               "%sstarted %s, ended %s, %lld bytes up, %lld bytes down, closed: %s\n\n",
               (long long)s->id, s->user_name, s->host, s->port, s->mode,
               s->own_client ? ", own client from " : "", s->own_client ? s->client_addr : "", data,
               started, ended, (long long)s->bytes_up, (long long)s->bytes_down,
               s->close_reason[0] ? export_reason_text(s->close_reason) : "-");
  } else {
    *none = 1;
  }
  return head;
}

struct export *export_session(const struct export_kind *kind, const struct db_session *s,
                              const char *session_json, int64_t last_seq, size_t max_bytes) {
  struct export *ex;
  int none;
  char *head = export_head(kind->format, s, session_json, &none);

  if (!head && !none) return NULL;
  ex = export_new(kind->format, s, head, last_seq, max_bytes);
  free(head);
  return ex;
}
