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
"""
import base64
import http.client
import os
import socket
import subprocess
import tempfile
import time

from harness import (PortlabTestCase, collect, main, send_json,  # noqa: F401
                     session_list, transcript_bytes, unique_name, wait_closed)

LOOPBACK = "127.0.0.1"
HTTP_WELL_KNOWN = 80


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


class RecordingHTTP(http.client.HTTPConnection):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.sent = bytearray()
        self.got = bytearray()

    def connect(self):
        super().connect()
        self.sock = TeeSocket(self.sock, self.sent, self.got)


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


class OwnClientHttp(PortlabTestCase):
    def port(self):
        return self.pl.lab_base + HTTP_WELL_KNOWN

    def ids(self, token):
        return {s["id"] for s in session_list(self.pl.get("/api/sessions", cookie=token).json)}

    def wait_own(self, token, known=(), timeout=15.0):
        """The newest ended own-client session to lab:80 not in known."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.pl.get("/api/sessions", cookie=token)
            self.assertEqual(r.status, 200, r)
            for s in session_list(r.json):
                if (s.get("own_client") and s["port"] == HTTP_WELL_KNOWN and s["id"] not in known
                        and s.get("ended_at")):
                    return s
            self.assertLess(time.monotonic(), deadline, "no own-client session: %r" % r.json)
            time.sleep(0.05)

    def test_http_client_is_a_transcript_of_the_student_with_exact_bytes(self):
        name = unique_name("hc")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        c = RecordingHTTP(LOOPBACK, self.port(), timeout=10)
        for path, headers in (("/about.html", {}), ("/flag.html", {"Authorization": basic(name, pw)}),
                              ("/robots.txt", {})):
            c.request("GET", path, headers=headers)
            resp = c.getresponse()
            resp.read()
            self.assertEqual(resp.status, 200, path)
        c.close()
        sent, got = bytes(c.sent), bytes(c.got)
        self.assertTrue(sent.startswith(b"GET /about.html HTTP/1.1\r\n"), sent[:80])

        s = self.wait_own(token)
        self.assertEqual(s["user"], name)
        self.assertEqual(s["host"], "lab")
        self.assertEqual(s["client_addr"], LOOPBACK)
        self.assertEqual(s["close_reason"], "client_closed")
        self.assertEqual(s["bytes_up"], len(sent))
        self.assertEqual(s["bytes_down"], len(got))
        tr = self.pl.transcript_when_ended(s["id"], token)
        self.assertTrue(tr.json["session"]["own_client"])
        events = tr.json["events"]
        self.assertEqual(transcript_bytes(events, "c2s"), sent)
        self.assertEqual(transcript_bytes(events, "s2c"), got)
        n = notes(events)
        self.assertTrue(n[0].startswith("own client %s port " % LOOPBACK), n)
        self.assertIn("logged in as %s" % name, n)
        self.assertEqual(n[-1], "connection closed by the client")
        # The login note comes after the request that carried the credentials.
        at = next(i for i, e in enumerate(events) if e.get("text") == "logged in as %s" % name)
        before = transcript_bytes(events[:at], "c2s")
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
        self.assertEqual(transcript_bytes(events, "c2s"), sent)
        self.assertEqual(transcript_bytes(events, "s2c"), got)

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
        self.assertEqual(transcript_bytes(events, "c2s"), req)
        self.assertEqual(transcript_bytes(events, "s2c"), got)
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
        self.assertEqual(transcript_bytes(events, "c2s"), req + hello + close)
        self.assertEqual(transcript_bytes(events, "s2c"), got)

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
        self.assertEqual(transcript_bytes(events, "c2s"), bytes(sent))
        self.assertEqual(transcript_bytes(events, "s2c"), bytes(got))

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


if __name__ == "__main__":
    main()
