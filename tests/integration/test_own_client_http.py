#!/usr/bin/python3
"""test_own_client_http.py -- the student's own clients' conversations with the
lab web server are on the record (issue 12), as with the other lab servers.

libmicrohttpd answers on its own thread; the lab's port is served by
httpwire.c, which hands MHD one end of a socketpair and queues every byte
for the loop thread. Python's http.client (keep-alive, three requests, one
with the student's Basic credentials) and curl (its --trace holds the bytes
it sent and received) must find exactly their bytes in the transcript, of
the student once valid credentials came, of the teacher with the client's
address before. A WebSocket conversation on /chat is recorded frame for
frame. A request typed through the browser is the relay's and is recorded
once. The student's recording budget holds at its edge here too.

The HTTPS lab (lab:443, --lab-tls-ports on) is the same server behind TLS
that httpwire.c terminates: http.client over ssl and curl --cacert (trusting
only the lab CA) find their plaintext bytes in the transcript, the TLS
records as its wire layer, the session marked TLS, and its pcap decrypts
with the key log (tshark). /chat works over wss. A client that does not
speak TLS (plain HTTP, garbage) is closed with a note, and the lab goes on.
"""
import base64
import http.client
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import websocket  # websocket-client (Debian python3-websocket)

from harness import (LOOPBACK, PortlabTestCase, collect, main,
                     session_list, transcript_bytes, unique_name, wait_closed)

HTTP_WELL_KNOWN = 80
HTTPS_WELL_KNOWN = 443


class Tee:
    """A response file that keeps every byte read from it."""

    def __init__(self, f, sink):
        self.f = f
        self.sink = sink

    def readline(self, *a):
        line = self.f.readline(*a)
        self.sink += line
        return line

    def read(self, *a):
        data = self.f.read(*a)
        self.sink += data
        return data

    def readinto(self, b):
        n = self.f.readinto(b)
        self.sink += bytes(b[:n])
        return n

    def close(self):
        self.f.close()

    def flush(self):
        pass


class TeeSocket:
    """What http.client sees of its socket: sendall and makefile record."""

    def __init__(self, sock, sent, read):
        self.sock = sock
        self.sent = sent
        self.read = read

    def sendall(self, data):
        self.sent += bytes(data)
        return self.sock.sendall(data)

    def makefile(self, *a, **kw):
        return Tee(self.sock.makefile(*a, **kw), self.read)

    def close(self):
        self.sock.close()

    def __getattr__(self, name):
        return getattr(self.sock, name)


class Recording:
    """Keeps the bytes an http.client connection sent and got (inside TLS:
    the plaintext, as the client saw it)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.sent = bytearray()
        self.got = bytearray()

    def connect(self):
        super().connect()
        self.sock = TeeSocket(self.sock, self.sent, self.got)


class RecordingHTTP(Recording, http.client.HTTPConnection):
    pass


class RecordingHTTPS(Recording, http.client.HTTPSConnection):
    pass


def curl_trace(path):
    """(sent, received) bytes from a curl --trace file."""
    sent, got, into = bytearray(), bytearray(), None
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith("=> Send header") or line.startswith("=> Send data"):
                into = sent
            elif line.startswith("<= Recv header") or line.startswith("<= Recv data"):
                into = got
            elif line.startswith("==") or line.startswith("=>") or line.startswith("<="):
                into = None
            elif into is not None and len(line) > 6 and line[4:6] == ": ":
                into += bytes(int(x, 16) for x in line[6:54].split())
    return bytes(sent), bytes(got)


def basic(name, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (name, pw)).encode()).decode()


def notes(events):
    return [e.get("text", "") for e in events if e.get("dir") == "note"]


class OwnClientWeb:
    """What the lab:80 and lab:443 tests share (a mixin of PortlabTestCase)."""

    WELL_KNOWN = HTTP_WELL_KNOWN

    def port(self):
        return self.pl.lab_base + self.WELL_KNOWN

    def ids(self, token):
        return {s["id"] for s in session_list(self.pl.get("/api/sessions", cookie=token).json)}

    def wait_own(self, token, known=(), timeout=15.0):
        """The newest ended own-client session to this lab port not in known."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.pl.get("/api/sessions", cookie=token)
            self.assertEqual(r.status, 200, r)
            for s in session_list(r.json):
                if (s.get("own_client") and s["port"] == self.WELL_KNOWN and s["id"] not in known
                        and s.get("ended_at")):
                    return s
            self.assertLess(time.monotonic(), deadline, "no own-client session: %r" % r.json)
            time.sleep(0.05)

    def three_requests(self, prefix, connect):
        """A new student fetches /about.html, /flag.html (logged in) and
        /robots.txt on one connection made by connect(); returns the name,
        the student's cookie, the bytes sent and got, and the session row."""
        name = unique_name(prefix)
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        c = connect()
        for path, headers in (("/about.html", {}), ("/flag.html", {"Authorization": basic(name, pw)}),
                              ("/robots.txt", {})):
            c.request("GET", path, headers=headers)
            resp = c.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200, path)
        c.close()
        sent, got = bytes(c.sent), bytes(c.got)
        self.assertTrue(sent.startswith(b"GET /about.html HTTP/1.1\r\n"), sent[:80])
        return name, token, sent, got, self.wait_own(token)


class OwnClientHttp(OwnClientWeb, PortlabTestCase):
    def test_http_client_is_a_transcript_of_the_student_with_exact_bytes(self):
        name, token, sent, got, s = self.three_requests(
            "hc", lambda: RecordingHTTP(LOOPBACK, self.port(), timeout=10))
        self.assertEqual(s["user"], name)
        self.assertEqual(s["host"], "lab")
        self.assertEqual(s["client_addr"], LOOPBACK)
        self.assertEqual(s["close_reason"], "client_closed")
        self.assertEqual(s["bytes_up"], len(sent))
        self.assertEqual(s["bytes_down"], len(got))
        tr = self.pl.transcript_when_ended(s["id"], token)
        self.assertTrue(tr.json["session"]["own_client"])
        events = tr.json["events"]
        self.assertEqual(transcript_bytes(events, "c2s", wire=False), sent)
        self.assertEqual(transcript_bytes(events, "s2c", wire=False), got)
        n = notes(events)
        self.assertTrue(n[0].startswith("own client %s port " % LOOPBACK), n)
        self.assertIn("logged in as %s" % name, n)
        self.assertEqual(n[-1], "connection closed by the client")
        # The login note comes after the request that carried the credentials.
        at = next(i for i, e in enumerate(events) if e.get("text") == "logged in as %s" % name)
        before = transcript_bytes(events[:at], "c2s", wire=False)
        self.assertIn(b"GET /flag.html", before)
        txt = self.pl.transcript(s["id"], token, "txt")
        self.assertIn("own client from %s" % LOOPBACK, txt.body.decode())

    def test_curl_bytes_match_its_trace(self):
        name = unique_name("hu")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        with tempfile.TemporaryDirectory() as d:
            trace = os.path.join(d, "trace")
            out = subprocess.run(
                ["curl", "-s", "-i", "--http1.1", "--trace", trace, "-u", "%s:%s" % (name, pw),
                 "http://%s:%d/private/" % (LOOPBACK, self.port())],
                capture_output=True, timeout=20, check=True).stdout
            sent, got = curl_trace(trace)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out[:100])
        self.assertEqual(got, out)  # -i: the head and the body as they came
        self.assertTrue(sent.startswith(b"GET /private/ HTTP/1.1\r\n"), sent)
        s = self.wait_own(token)
        self.assertEqual(s["user"], name)
        events = self.pl.transcript_when_ended(s["id"], token).json["events"]
        self.assertEqual(transcript_bytes(events, "c2s", wire=False), sent)
        self.assertEqual(transcript_bytes(events, "s2c", wire=False), got)

    def test_before_credentials_the_teachers_record_with_the_address(self):
        name = unique_name("ha")
        r, token = self.pl.join_full(name)
        teacher = self.pl.teacher()
        before = self.ids(teacher)
        s = socket.socket()
        s.settimeout(10)
        s.bind(("127.0.0.2", 0))
        s.connect((LOOPBACK, self.port()))
        req = b"GET /nope HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
        s.sendall(req)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 404 "), got[:80])
        own = self.wait_own(teacher, before)
        self.assertEqual(own["client_addr"], "127.0.0.2")
        self.assertEqual(own["user"], "teacher")
        self.assertEqual(own["close_reason"], "remote_closed")  # Connection: close
        self.assertNotIn(own["id"], self.ids(token))
        events = self.pl.transcript_when_ended(own["id"], teacher).json["events"]
        self.assertEqual(transcript_bytes(events, "c2s", wire=False), req)
        self.assertEqual(transcript_bytes(events, "s2c", wire=False), got)
        self.assertFalse(any(n.startswith("logged in") for n in notes(events)))

    def test_chat_frames_are_recorded(self):
        name = unique_name("hw")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        teacher = self.pl.teacher()
        before = self.ids(teacher)
        s = socket.create_connection((LOOPBACK, self.port()), timeout=10)
        mask = b"\x01\x02\x03\x04"
        hello = b"\x81\x85" + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"hello"))
        close = b"\x88\x82" + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"\x03\xe8"))
        req = (b"GET /chat HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               b"Authorization: " + basic(name, pw).encode() + b"\r\n\r\n")
        s.sendall(req)
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(4096)
        s.sendall(hello + close)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
        self.assertIn(b"\r\n\r\n\x81\x05hello\x88\x02\x03\xe8", got)
        # Credentials on the handshake: the student's.
        own = self.wait_own(token, before)
        self.assertEqual(own["user"], name)
        self.assertEqual(own["close_reason"], "remote_closed")
        events = self.pl.transcript_when_ended(own["id"], token).json["events"]
        self.assertEqual(transcript_bytes(events, "c2s", wire=False), req + hello + close)
        self.assertEqual(transcript_bytes(events, "s2c", wire=False), got)

    def test_a_long_chat_is_recorded_whole(self):
        """3 MiB each way, far past what the wire queues before it waits
        for the loop (LIM_LAB_OUT_HIGH): every byte arrives and is kept."""
        teacher = self.pl.teacher()
        before = self.ids(teacher)
        s = socket.create_connection((LOOPBACK, self.port()), timeout=30)
        req = (b"GET /chat HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        s.sendall(req)
        got = bytearray()
        while b"\r\n\r\n" not in got:
            got += s.recv(4096)
        mask = b"\x0a\x0b\x0c\x0d"
        payload = bytes(range(256)) * 256  # 64 KiB
        masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        frame = b"\x82\xff" + len(payload).to_bytes(8, "big") + mask + masked
        sent = bytearray(req)
        rounds = 48
        for _ in range(rounds):  # send and read in turn: nobody's buffers fill
            s.sendall(frame)
            sent += frame
            want = len(got) + 10 + len(payload)
            while len(got) < want:
                chunk = s.recv(65536)
                self.assertTrue(chunk, "closed early")
                got += chunk
        close = b"\x88\x82" + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"\x03\xe8"))
        s.sendall(close)
        sent += close
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        self.assertTrue(got.endswith(b"\x88\x02\x03\xe8"))
        own = self.wait_own(teacher, before)
        self.assertEqual(own["bytes_up"], len(sent))
        self.assertEqual(own["bytes_down"], len(got))
        events = self.pl.transcript_when_ended(own["id"], teacher).json["events"]
        self.assertEqual(transcript_bytes(events, "c2s", wire=False), bytes(sent))
        self.assertEqual(transcript_bytes(events, "s2c", wire=False), bytes(got))

    def test_a_relay_session_is_recorded_once(self):
        name = unique_name("hr")
        r, token = self.pl.join_full(name)
        teacher = self.pl.teacher()
        mine, everyone = self.ids(token), self.ids(teacher)
        ws, opened = self.pl.session("lab", HTTP_WELL_KNOWN, cookie=token)
        self.ws(ws)
        ws.send_binary(b"GET /robots.txt HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
        collect(ws, until=lambda c: b"Disallow: /private/" in c.data)
        wait_closed(ws)
        tr = self.pl.transcript_when_ended(opened["session_id"], token)
        self.assertFalse(tr.json["session"]["own_client"])
        # The wire queues an own-client open before the relay's first byte
        # reaches MHD; wait a little anyway: only used to see none appear.
        time.sleep(0.5)
        self.assertEqual(self.ids(token) - mine, {opened["session_id"]})
        added = [s for s in session_list(self.pl.get("/api/sessions", cookie=teacher).json)
                 if s["id"] not in everyone and s.get("own_client")]
        self.assertEqual(added, [])


class OwnClientHttpBudget(PortlabTestCase):
    """The per-student recording budget holds for the web server too: from
    the login on, exactly BUDGET bytes, one note, and the requests go on."""
    BUDGET = 3000
    ARGS = ("--record-bytes-per-student", str(BUDGET))

    def test_budget_edge(self):
        name = unique_name("hb")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        c = http.client.HTTPConnection(LOOPBACK, self.pl.lab_base + HTTP_WELL_KNOWN, timeout=10)
        for _ in range(10):  # about 1 KB a round: past the budget
            c.request("GET", "/private/", headers={"Authorization": basic(name, pw)})
            resp = c.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200, "the server still answers")
        c.close()
        deadline = time.monotonic() + 15
        while True:
            own = [x for x in session_list(self.pl.get("/api/sessions", cookie=token).json)
                   if x.get("own_client") and x.get("ended_at")]
            if own or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(own), 1)
        events = self.pl.transcript_when_ended(own[0]["id"], token).json["events"]
        start = next(i for i, e in enumerate(events) if e.get("text", "").startswith("logged in"))
        stops = [i for i, e in enumerate(events)
                 if e["dir"] == "note" and e.get("text", "").startswith("recording stopped")]
        self.assertEqual(len(stops), 1, notes(events))
        kept = sum(len(base64.b64decode(e["data_b64"])) if "data_b64" in e
                   else len(e.get("text", "").encode()) for e in events[start:stops[0]])
        self.assertEqual(kept, self.BUDGET)
        self.assertTrue(all(e["dir"] == "note" for e in events[stops[0]:]))


class OwnClientHttps(OwnClientWeb, PortlabTestCase):
    """lab:443: TLS ends in httpwire.c, the plain MHD daemon answers."""
    TLS_PORTS = True
    WELL_KNOWN = HTTPS_WELL_KNOWN

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.pl.get("/api/lab/ca.pem")
        assert r.status == 200, r
        cls.tmp = tempfile.mkdtemp(prefix="portlab-https-")
        cls.ca_file = os.path.join(cls.tmp, "lab-ca.pem")
        with open(cls.ca_file, "wb") as f:
            f.write(r.body)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def ctx(self):
        return ssl.create_default_context(cafile=self.ca_file)

    def https_get(self, path, src=None):
        """One request on its own TLS connection: (status, body)."""
        raw = socket.socket()
        raw.settimeout(20)
        if src:
            raw.bind((src, 0))
        raw.connect((LOOPBACK, self.port()))
        with self.ctx().wrap_socket(raw, server_hostname="lab") as tls:
            tls.sendall(b"GET %s HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n"
                        % path.encode())
            got = b""
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                got += chunk
        head, _, body = got.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), body

    def test_https_client_is_a_transcript_of_the_student_with_both_layers(self):
        name, token, sent, got, s = self.three_requests(
            "sc", lambda: RecordingHTTPS(LOOPBACK, self.port(), timeout=10, context=self.ctx()))
        self.assertEqual(s["user"], name)
        self.assertEqual(s["host"], "lab")
        self.assertEqual(s["tls"], "tls")
        self.assertEqual(s["client_addr"], LOOPBACK)
        self.assertEqual(s["close_reason"], "client_closed")
        tr = self.pl.transcript_when_ended(s["id"], token)
        self.assertTrue(tr.json["session"]["own_client"])
        events = tr.json["events"]
        self.assertEqual(transcript_bytes(events, "c2s", wire=False), sent)
        self.assertEqual(transcript_bytes(events, "s2c", wire=False), got)
        # The wire layer: TLS records (a handshake record first each way),
        # never the plaintext; the counters count it, as for every TLS session.
        wire_up = transcript_bytes(events, "c2s", wire=True)
        wire_down = transcript_bytes(events, "s2c", wire=True)
        self.assertEqual(s["bytes_up"], len(wire_up))
        self.assertEqual(s["bytes_down"], len(wire_down))
        self.assertGreater(len(wire_up), len(sent))
        self.assertEqual(wire_up[:1], b"\x16", wire_up[:16])
        self.assertEqual(wire_down[:1], b"\x16", wire_down[:16])
        self.assertNotIn(b"GET /about.html", wire_up)
        self.assertNotIn(b"User-agent", wire_down)
        n = notes(events)
        self.assertTrue(n[0].startswith("own client %s port " % LOOPBACK), n)
        self.assertTrue(n[0].endswith("connected to the lab http server (TLS)"), n)
        self.assertTrue(any(x.startswith("TLS handshake done: TLSv1.3, ") for x in n), n)
        self.assertIn("logged in as %s" % name, n)
        self.assertEqual(n[-1], "connection closed by the client")
        at = next(i for i, e in enumerate(events) if e.get("text") == "logged in as %s" % name)
        self.assertIn(b"GET /flag.html", transcript_bytes(events[:at], "c2s", wire=False))
        # The text export reads as HTTP; the key log is the session's.
        txt = self.pl.transcript(s["id"], token, "txt").body
        self.assertIn(b"GET /robots.txt HTTP/1.1", txt)
        keys = self.pl.transcript(s["id"], self.pl.teacher(), "keylog")
        self.assertEqual(keys.status, 200, keys)
        self.assertIn(b"CLIENT_TRAFFIC_SECRET_0 ", keys.body)

    @unittest.skipUnless(shutil.which("curl"), "curl missing")
    def test_curl_bytes_match_its_trace(self):
        name = unique_name("su")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        with tempfile.TemporaryDirectory() as d:
            trace = os.path.join(d, "trace")
            out = subprocess.run(
                ["curl", "-s", "-i", "--http1.1", "--max-time", "20", "--cacert", self.ca_file,
                 "--trace", trace, "-u", "%s:%s" % (name, pw),
                 "https://%s:%d/private/" % (LOOPBACK, self.port())],
                capture_output=True, timeout=30, check=True).stdout
            sent, got = curl_trace(trace)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out[:100])
        self.assertEqual(got, out)
        self.assertTrue(sent.startswith(b"GET /private/ HTTP/1.1\r\n"), sent)
        s = self.wait_own(token)
        self.assertEqual(s["user"], name)
        events = self.pl.transcript_when_ended(s["id"], token).json["events"]
        self.assertEqual(transcript_bytes(events, "c2s", wire=False), sent)
        self.assertEqual(transcript_bytes(events, "s2c", wire=False), got)

    def test_close_notify_is_answered_with_close_notify(self):
        """A client that ends TLS properly (close_notify) gets ours back once
        the server has closed, and the transcript says who ended it."""
        teacher = self.pl.teacher()
        before = self.ids(teacher)
        raw = socket.socket()
        raw.settimeout(20)  # a hang guard
        raw.bind(("127.0.0.5", 0))
        raw.connect((LOOPBACK, self.port()))
        tls = self.ctx().wrap_socket(raw, server_hostname="lab")
        req = b"GET /robots.txt HTTP/1.1\r\nHost: lab\r\n\r\n"  # keep-alive
        tls.sendall(req)
        got = b""
        while b"Disallow: /private/" not in got:
            got += tls.recv(65536)
        plain = tls.unwrap()  # sends close_notify, returns when the server's came
        plain.close()
        own = self.wait_own(teacher, before)
        self.assertEqual(own["client_addr"], "127.0.0.5")
        self.assertEqual(own["close_reason"], "client_closed")
        events = self.pl.transcript_when_ended(own["id"], teacher).json["events"]
        self.assertEqual(transcript_bytes(events, "c2s", wire=False), req)
        self.assertEqual(transcript_bytes(events, "s2c", wire=False), got)
        n = notes(events)
        self.assertIn("the client ended TLS (close_notify)", n)
        self.assertEqual(n[-1], "connection closed by the client")

    @unittest.skipUnless(shutil.which("tshark"), "tshark missing")
    def test_pcap_decrypts_with_the_key_log(self):
        teacher = self.pl.teacher()
        before = self.ids(teacher)
        status, body = self.https_get("/robots.txt", src="127.0.0.4")
        self.assertEqual(status, 200)
        s = self.wait_own(teacher, before)
        self.assertEqual(s["client_addr"], "127.0.0.4")
        self.pl.transcript_when_ended(s["id"], teacher)
        pcap = self.pl.transcript(s["id"], teacher, "pcap")
        keys = self.pl.transcript(s["id"], teacher, "keylog")
        self.assertEqual((pcap.status, keys.status), (200, 200))
        self.assertNotIn(b"Disallow", pcap.body)  # only TLS records on the wire
        with tempfile.TemporaryDirectory() as d:
            p, k = os.path.join(d, "s.pcap"), os.path.join(d, "s.keys")
            with open(p, "wb") as f:
                f.write(pcap.body)
            with open(k, "wb") as f:
                f.write(keys.body)
            base = ["tshark", "-r", p, "-o", "tcp.desegment_tcp_streams:TRUE"]
            hello = subprocess.run(base + ["-Y", "tls.handshake.type == 1", "-T", "fields",
                                           "-e", "frame.number"], capture_output=True, timeout=120)
            self.assertEqual(hello.returncode, 0, hello.stderr)
            self.assertTrue(hello.stdout.strip(), "tshark found no ClientHello")
            dec = subprocess.run(base + ["-o", "tls.keylog_file:" + k, "-Y", "http", "-T",
                                         "fields", "-e", "http.request.uri",
                                         "-e", "http.response.code"],
                                 capture_output=True, timeout=120)
            self.assertEqual(dec.returncode, 0, dec.stderr)
            self.assertIn(b"/robots.txt", dec.stdout, dec.stdout)
            self.assertIn(b"200", dec.stdout, dec.stdout)

    def test_chat_over_wss(self):
        name = unique_name("sw")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        ws = websocket.create_connection(
            "wss://%s:%d/chat" % (LOOPBACK, self.port()), timeout=10,
            sslopt={"ca_certs": self.ca_file, "cert_reqs": ssl.CERT_REQUIRED},
            header=["Authorization: " + basic(name, pw)])
        ws.send("hello over TLS")
        self.assertEqual(ws.recv(), "hello over TLS")
        ws.send_binary(b"\x00\x01\x02")
        self.assertEqual(ws.recv(), b"\x00\x01\x02")
        ws.close()
        s = self.wait_own(token)
        self.assertEqual(s["user"], name)
        self.assertEqual(s["tls"], "tls")
        events = self.pl.transcript_when_ended(s["id"], token).json["events"]
        up, down = transcript_bytes(events, "c2s", wire=False), transcript_bytes(events, "s2c", wire=False)
        self.assertTrue(up.startswith(b"GET /chat HTTP/1.1\r\n"), up[:80])
        self.assertTrue(down.startswith(b"HTTP/1.1 101 Switching Protocols\r\n"), down[:80])
        # The server's frames are unmasked: the echo is in the clear, once each.
        self.assertIn(b"\x81\x0ehello over TLS", down)
        self.assertIn(b"\x82\x03\x00\x01\x02", down)
        self.assertIn("logged in as %s" % name, notes(events))

    def test_a_long_wss_chat_is_recorded_whole(self):
        """1.5 MiB each way through TLS: far past the engine's one chunk per
        direction and past what the wire queues before it waits for the
        loop (LIM_LAB_OUT_HIGH). Every frame comes back and is kept (both
        layers, about 6 MiB, stay under the session's LIM_TRANSCRIPT_BYTES)."""
        teacher = self.pl.teacher()
        before = self.ids(teacher)
        ws = websocket.create_connection(
            "wss://%s:%d/chat" % (LOOPBACK, self.port()), timeout=60,
            sslopt={"ca_certs": self.ca_file, "cert_reqs": ssl.CERT_REQUIRED})
        payload = bytes(range(256)) * 256  # 64 KiB
        rounds = 24
        for i in range(rounds):  # send and read in turn: nobody's buffers fill
            ws.send_binary(payload)
            self.assertEqual(ws.recv(), payload, "round %d" % i)
        ws.close()
        own = self.wait_own(teacher, before, timeout=60)
        events = self.pl.transcript_when_ended(own["id"], teacher, timeout=60).json["events"]
        down = transcript_bytes(events, "s2c", wire=False)
        frame = b"\x82\x7f" + len(payload).to_bytes(8, "big") + payload
        self.assertEqual(down.count(frame), rounds)
        up = transcript_bytes(events, "c2s", wire=False)
        self.assertEqual(len(up) - up.index(b"\r\n\r\n") - 4,
                         rounds * (14 + len(payload)) + 6 + 2)  # masked frames, then the close
        self.assertEqual(own["bytes_up"], len(transcript_bytes(events, "c2s", wire=True)))
        self.assertEqual(own["bytes_down"], len(transcript_bytes(events, "s2c", wire=True)))

    def test_a_relay_tls_session_is_recorded_once(self):
        """The browser's session to lab:443 is the relay's (its TLS client):
        the wire does not record it a second time."""
        name = unique_name("sr")
        r, token = self.pl.join_full(name)
        teacher = self.pl.teacher()
        mine, everyone = self.ids(token), self.ids(teacher)
        ws, opened = self.pl.session("lab", HTTPS_WELL_KNOWN, mode="tls", cookie=token)
        self.assertEqual(opened.get("type"), "opened", opened)
        ws.send_binary(b"GET /robots.txt HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
        collect(ws, until=lambda c: b"Disallow: /private/" in c.data)
        wait_closed(ws)
        tr = self.pl.transcript_when_ended(opened["session_id"], token)
        self.assertFalse(tr.json["session"]["own_client"])
        self.assertEqual(tr.json["session"]["tls"], "tls")
        time.sleep(0.5)  # only used to see none appear
        self.assertEqual(self.ids(token) - mine, {opened["session_id"]})
        added = [s for s in session_list(self.pl.get("/api/sessions", cookie=teacher).json)
                 if s["id"] not in everyone and s.get("own_client")]
        self.assertEqual(added, [])

    def read_to_end(self, s):
        """What the server sent before it closed; a reset counts as the end."""
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        return got

    def test_a_client_without_tls_is_closed_and_the_lab_goes_on(self):
        teacher = self.pl.teacher()
        for src, hello in (("127.0.0.2", b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n"),
                           ("127.0.0.3", b"\x16\x03\x01\x00\x05garbage and more garbage")):
            before = self.ids(teacher)
            s = socket.socket()
            s.settimeout(20)  # a hang guard: MHD's own idle timeout is 30 s
            s.bind((src, 0))
            s.connect((LOOPBACK, self.port()))
            s.sendall(hello)
            got = self.read_to_end(s)
            s.close()
            self.assertNotIn(b"HTTP/1.1", got)  # no answer in the clear
            own = self.wait_own(teacher, before)
            self.assertEqual(own["client_addr"], src)
            self.assertEqual(own["close_reason"], "remote_closed")
            events = self.pl.transcript_when_ended(own["id"], teacher).json["events"]
            self.assertEqual(transcript_bytes(events, "c2s", wire=True), hello)
            self.assertEqual(transcript_bytes(events, "c2s", wire=False), b"")  # nothing reached MHD
            n = notes(events)
            self.assertTrue(any(x.startswith("TLS: handshake: ") for x in n), n)
            self.assertEqual(n[-1], "connection closed by the server")
            # The lab goes on, on 443 and on 80.
            self.assertEqual(self.https_get("/robots.txt")[0], 200)
            c = http.client.HTTPConnection(LOOPBACK, self.pl.lab_base + HTTP_WELL_KNOWN, timeout=10)
            c.request("GET", "/robots.txt")
            self.assertEqual(c.getresponse().status, 200)
            c.close()


if __name__ == "__main__":
    main()
