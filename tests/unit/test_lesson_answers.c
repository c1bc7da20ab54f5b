/* test_lesson_answers.c -- what every typed-answer task of the built-in lessons accepts.
 *
 * Each question task has a row: answers a student who knows the fact
 * would type (several phrasings), and answers that must be refused: the
 * opposite fact, near misses, negations, and the mistakes its "wrong:"
 * lines give feedback for. On top of the rows, one answer stuffed with
 * the keywords of every task, and each accepted answer negated, must be
 * refused everywhere. A loose pattern such as ".*(tls|handshake).*" fails
 * here, and so does a new question task nobody wrote a row for.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "lessons.h"

#define MAX_OK 16
#define MAX_BAD 16

struct answer_case {
  const char *task;
  const char *ok[MAX_OK];
  const char *bad[MAX_BAD];
};

static const struct answer_case cases[] = {
    /* 10 ports */
    {"port-smtp", {"25", " 25 "}, {"250", "2 5", "587", "not 25"}},
    {"port-imap", {"143"}, {"993", "110", "1430"}},
    {"port-https", {"443"}, {"80", "8443", "4433"}},
    {"port-ftp-control", {"21"}, {"20", "22"}},
    {"port-mail-submit", {"25", "465", "587"}, {"110", "5870", "143", "25 465 587"}},
    {"port-ephemeral",
     {"client", "the client", "Client"},
     {"server", "the server", "client and server", "not the client"}},
    {"port-zero", {"0"}, {"1", "65535"}},
    {"port-line-ending",
     {"CR LF", "cr lf", "CR+LF", "CR + LF", "CR, LF", "CR and LF", "CR/LF", "CR then LF",
      "carriage return and line feed", "Carriage return, linefeed"},
     {"CRLF", "LF", "CR", "LF CR", "LF and CR", "CR LF LF", "not CR LF", "NUL"}},
    {"port-dynamic-range", {"49152"}, {"32768", "1024", "49151", "65535"}},
    /* 20 telnet */
    {"telnet-iac-value", {"255"}, {"256", "254", "25"}},
    {"telnet-will-echo", {"WILL", "will"}, {"DO", "WONT", "WILL NOT"}},
    {"telnet-echo-option", {"1"}, {"0", "3", "255"}},
    {"telnet-password-echo",
     {"0", "zero", "none", "None of them", "0 characters", "no characters", "nothing"},
     {"8", "1", "all", "all of them", "every character", "the whole password", "*****", "some"}},
    /* 30 http */
    {"http-missing-host", {"400"}, {"404", "411", "200"}},
    {"http-body-length",
     {"Content-Length", "content-length"},
     {"Content-Type", "Transfer-Encoding", "Length"}},
    {"http-redirect-header", {"Location", "location"}, {"Host", "Referer", "Content-Location"}},
    {"http-head-body", {"0", "none", "no body", "None"}, {"860", "all", "the whole page"}},
    {"http-form-411", {"411"}, {"400", "413", "415"}},
    {"http-options-form",
     {"GET, HEAD, POST, OPTIONS", "get head post options"},
     {"GET, POST", "GET, HEAD, POST, OPTIONS, PUT, DELETE"}},
    {"http-chat-accept",
     {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="},
     {"S3PPLMBITXAQ9KYGZZHZRBK+XOO=", "dGhlIHNhbXBsZSBub25jZQ=="}},
    /* 40 ftp */
    {"ftp-pasv-port", {"30035"}, {"11783", "200", "21", "30036"}},
    {"ftp-bounce", {"PORT", "port"}, {"PASV", "EPRT", "EPSV"}},
    {"ftp-transfer-done", {"226"}, {"150", "200", "250"}},
    {"ftp-binary-type",
     {"TYPE I", "type i", "TYPE  I"},
     {"TYPE A", "BINARY", "I", "TYPEI", "TYPE I TYPE A", "TYPE I, not TYPE A"}},
    {"ftp-syst", {"215"}, {"200", "211"}},
    {"ftp-anon-pub",
     {"about-ftp.txt", "ABOUT-FTP.TXT"},
     {"readme.txt", "about-ftp", "readme.txt about-ftp.txt"}},
    {"ftp-mkd-code", {"257"}, {"250", "550"}},
    {"ftp-epsv-code", {"229"}, {"227", "228"}},
    {"ftp-stat-code", {"211"}, {"213", "212"}},
    /* 50 smtp */
    {"smtp-greeting", {"220"}, {"250", "221", "354"}},
    {"smtp-data-reply", {"354"}, {"250", "220"}},
    {"smtp-end-line", {".", " . "}, {"..", "QUIT", "END"}},
    {"smtp-4xx",
     {"temporary", "Temporary failure", "a temporary failure", "transient", "temporary error",
      "temporary."},
     {"permanent", "a permanent failure", "not temporary", "temporary or permanent",
      "permanent, not temporary", "both", "never temporary"}},
    {"smtp-relay-code", {"5.7.1"}, {"550", "5.1.1", "5.7.10"}},
    {"smtp-vrfy-unknown", {"550"}, {"252", "250", "551"}},
    {"smtp-expn", {"502"}, {"500", "252"}},
    {"smtp-rset", {"503"}, {"250", "501"}},
    {"smtp-submission-port", {"587"}, {"465", "25"}},
    /* 60 pop3 and imap */
    {"pop3-port", {"110"}, {"995", "143"}},
    {"imap-port", {"143"}, {"993", "110"}},
    {"imap-exists", {"5"}, {"4", "6"}},
    {"imap-tag", {"x7", "X7"}, {"*", "OK", "FETCH"}},
    {"pop3-dele-when", {"QUIT", "quit"}, {"RSET", "DELE", "EXPUNGE"}},
    {"imap-examine", {"READ-ONLY", "[READ-ONLY]", "read-only"}, {"READ-WRITE", "[READ-WRITE]"}},
    {"imap-list-delimiter", {"/", "\"/\""}, {".", "\\", "|"}},
    {"imap-move-expunge", {"EXPUNGE", "expunge"}, {"EXISTS", "MOVE", "RECENT"}},
    {"imap-peek", {"BODY.PEEK[]", "body.peek"}, {"BODY[]", "RFC822", "BODY"}},
    /* 70 cleartext */
    {"cleartext-decode-plain",
     {"tr0mbone-77"},
     {"carol", "Tr0mbone-77", "AGNhcm9sAHRyMG1ib25lLTc3", "tr0mbone"}},
    {"cleartext-telnet-color", {"red", "Red"}, {"blue", "green"}},
    {"cleartext-pop3s", {"995"}, {"993", "110"}},
    {"cleartext-imaps", {"993"}, {"995", "143"}},
    {"cleartext-ssh", {"22"}, {"23", "2222"}},
    {"cleartext-starttls",
     {"the TLS handshake", "TLS handshake", "handshake", "a handshake", "run the TLS handshake",
      "They must perform a TLS handshake.", "complete the SSL/TLS handshake", "negotiate TLS",
      "upgrade to TLS", "agree on the session keys", "exchange keys"},
     {"send EHLO", "EHLO again", "nothing", "no handshake", "skip the TLS handshake",
      "not the TLS handshake", "send QUIT", "wait", "no TLS", "send the password",
      "the handshake is not needed"}},
    {"cleartext-ftps", {"990"}, {"989", "21", "22"}},
    {"cleartext-lab-starttls", {"220"}, {"500", "250", "454"}},
    {"cleartext-tls-app-record", {"23"}, {"22", "20"}},
    {"cleartext-tls-keylog",
     {"CLIENT_TRAFFIC_SECRET_0"},
     {"SERVER_TRAFFIC_SECRET_0", "CLIENT_HANDSHAKE_TRAFFIC_SECRET"}},
    /* 80 under the hood */
    {"hood-synack",
     {"SYN-ACK", "syn ack", "SYN, ACK", "SYN+ACK", "ACK SYN"},
     {"SYN", "ACK", "FIN ACK", "SYN ACK FIN"}},
    {"hood-first-fin", {"server", "the server", "Server"}, {"client", "the client", "both"}},
    {"hood-synack-ack", {"1001"}, {"1000", "1002", "0"}},
    {"hood-dora", {"Request", "request"}, {"Reply", "Response", "Release"}},
    {"hood-dhcp-server-port", {"67"}, {"68", "53"}},
    {"hood-dhcp-t1", {"12"}, {"24", "21", "6"}},
    {"hood-dns-udp", {"UDP", "udp"}, {"TCP", "TCP and UDP"}},
    {"hood-arp", {"ARP", "arp"}, {"RARP", "DNS", "DHCP"}},
    {"hood-ttl",
     {"time exceeded", "ICMP time exceeded", "11", "Time Exceeded"},
     {"destination unreachable", "echo reply", "3", "0"}},
    {"hood-nat", {"127.0.0.1", "::1"}, {"127.0.0.2", "127x0x0x1", "10.0.0.1", "127.0.0.1 ::1"}},
    {"hood-cap-dhcp-offer", {"192.168.1.100"}, {"192.168.1.1", "0.0.0.0", "192.168.1.10"}},
    {"hood-cap-dhcp-lease",
     {"86400, 43200", "86400 43200", "86400 and 43200"},
     {"86400", "43200, 86400", "86400, 75600"}},
    {"hood-cap-dns-answer",
     {"203.0.113.10, 3600", "203.0.113.10 3600", "203.0.113.10 and 3600"},
     {"203.0.113.10", "3600", "93.184.216.34, 3600"}},
    {"hood-cap-arp-mac",
     {"00:1e:58:aa:bb:01", "00-1E-58-AA-BB-01"},
     {"ff:ff:ff:ff:ff:ff", "3c:22:fb:1a:00:07", "00:1e:58:aa:bb:0",
      "00:1e:58:aa:bb:01 ff:ff:ff:ff:ff:ff"}},
    {"hood-cap-echo-ttl", {"52"}, {"64", "53", "12"}},
    {"hood-cap-hop2", {"198.51.100.1"}, {"192.168.1.1", "203.0.113.10"}},
    {"hood-msa-port", {"587"}, {"25", "465"}},
    {"hood-mta", {"MTA", "mta"}, {"MUA", "MSA", "MDA"}},
    {"hood-ssh-socks", {"-D"}, {"-L", "-R", "D"}},
    {"hood-sftp-port", {"22"}, {"990", "21", "115"}},
    {"hood-encapsulation", {"TCP", "tcp"}, {"IP", "Ethernet"}},
    {"hood-osi-layers", {"7", "seven", "Seven"}, {"4", "5", "six"}},
    {"hood-gateway",
     {"the default gateway", "default gateway", "to the default gateway", "To its default gateway.",
      "the gateway", "gateway", "the router", "router", "to the router", "the default router",
      "default gateway (router)", "the default gateway, the router", "gateway/router",
      "default gateway or router"},
     {"not the gateway", "straight to the destination", "directly to the destination",
      "the destination", "to the switch", "the DNS server", "broadcast it", "nowhere",
      "the gateway? no, the switch", "everywhere but the router", "never to the router"}},
    {"hood-websocket-101", {"101"}, {"200", "426", "100"}},
    {"hood-whois", {"43"}, {"42", "79", "53"}},
    {"hood-ca",
     {"CA", "certificate authority", "a certificate authority", "Certificate Authority"},
     {"the server", "the browser", "itself", "CA? no"}},
    {"hood-vpn",
     {"only the tunnel", "the tunnel", "an encrypted tunnel",
      "Only the encrypted tunnel to the company", "encrypted traffic",
      "only encrypted traffic to the VPN server", "encrypted data", "noise", "only noise",
      "they only see encrypted traffic", "encrypted packets to the company's VPN server",
      "they see only an encrypted tunnel to the company network", "Encrypted traffic to the VPN."},
     {"everything", "nothing", "unencrypted traffic", "not encrypted", "no encryption",
      "the websites I visit", "traffic", "they see everything, it is not encrypted",
      "the sites I visit and an encrypted tunnel", "plaintext", "no tunnel",
      "an unencrypted tunnel", "encrypted? no, everything"}},
    /* 85 more servers */
    {"ssh-server-software",
     {"portlab_lab", "PORTLAB_LAB"},
     {"SSH-2.0-portlab_lab", "OpenSSH", "portlab"}},
    {"ssh-kexinit-number", {"20", "0x14", "14h"}, {"14", "21", "0x15", "KEXINIT"}},
    {"dns-mx-host",
     {"mail.lab", "mail.lab.", "MAIL.LAB"},
     {"lab.", "mailxlab", "mail.lab.com", "mail", "10 mail.lab."}},
    {"dns-tcp-length", {"2", "two"}, {"4", "1", "16"}},
    {"dns-nxdomain", {"NXDOMAIN", "3", "nxdomain"}, {"REFUSED", "SERVFAIL", "NOERROR"}},
    {"finger-shell", {"/bin/labsh", "labsh"}, {"/bin/sh", "/bin/bash", "sh"}},
};

/* One line listing the keywords and answers of every task at once. */
static const char stuffed[] =
    "CR LF carriage return and line feed none zero 0 temporary transient handshake TLS SSL "
    "negotiate keys default gateway router encrypted tunnel traffic noise 25 465 587 127.0.0.1 "
    "::1 mail.lab 00:1e:58:aa:bb:01 TYPE I client server SYN ACK";

static int accepted(const struct lesson_task *t, const char *answer) {
  return lesson_answer_ok(t, answer, "secret", "alice");
}

static const struct answer_case *case_for(const char *task) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (strcmp(cases[i].task, task) == 0) return &cases[i];
  return NULL;
}

/* Records one verdict; names the task and answer when it is the wrong one. */
static void expect(const struct lesson_task *t, const char *answer, int want) {
  int got = accepted(t, answer);
  CHECK_EQ_INT(got, want);
  if (got != want)
    fprintf(stderr, "  task %s %s \"%s\"\n", t->id, want ? "refuses" : "accepts", answer);
}

static void test_every_question(const struct lessons *ls) {
  size_t seen = 0;
  CHECK(strlen(stuffed) < 256); /* the API takes up to 256 bytes */
  for (size_t i = 0; i < ls->n; i++)
    for (size_t j = 0; j < ls->v[i].n_tasks; j++) {
      const struct lesson_task *t = &ls->v[i].tasks[j];
      if (t->kind != TASK_QUESTION) continue;
      const struct answer_case *c = case_for(t->id);
      CHECK(c != NULL);
      if (!c) {
        fprintf(stderr, "  question %s/%s has no row here\n", ls->v[i].id, t->id);
        continue;
      }
      seen++;
      CHECK(c->ok[0] != NULL && c->bad[0] != NULL);
      char neg[300];
      for (size_t k = 0; k < MAX_OK && c->ok[k]; k++) {
        expect(t, c->ok[k], 1);
        snprintf(neg, sizeof neg, "not %s", c->ok[k]);
        expect(t, neg, 0);
        snprintf(neg, sizeof neg, "%s, not really", c->ok[k]);
        expect(t, neg, 0);
      }
      for (size_t k = 0; k < MAX_BAD && c->bad[k]; k++) expect(t, c->bad[k], 0);
      expect(t, stuffed, 0);
      /* Every "wrong:" line is reachable: some refused answer gets its
       * feedback (one the answers also accept never would). */
      for (size_t w = 0; w < t->n_wrong; w++) {
        int reached = 0;
        for (size_t k = 0; k < MAX_BAD && c->bad[k]; k++) {
          const char *fb = lesson_wrong_feedback(t, c->bad[k]);
          reached |= fb && strcmp(fb, t->wrong[w].feedback) == 0;
        }
        CHECK(reached);
        if (!reached)
          fprintf(stderr, "  task %s: no refused answer reaches wrong: %s\n", t->id,
                  t->wrong[w].answer);
      }
      /* No unbounded wildcard: it lets any extra words in, negations too. */
      if (t->match == MATCH_PATTERN)
        for (size_t a = 0; a < t->n_answers; a++) {
          CHECK(strstr(t->answers[a], ".*") == NULL && strstr(t->answers[a], ".+") == NULL);
        }
    }
  /* A row for a task that is gone would test nothing. */
  CHECK_EQ_INT(seen, sizeof cases / sizeof cases[0]);
}

int main(void) {
  char err[256] = "";
  struct lessons *ls = lessons_load(NULL, err, sizeof err);
  CHECK(ls != NULL);
  if (!ls) {
    fprintf(stderr, "embedded lessons: %s\n", err);
    return check_done();
  }
  test_every_question(ls);
  lessons_free(ls);
  return check_done();
}
