"""test_relay_bounds.py -- what a hostile or careless browser cannot do to
the relay, the portal and their logging: control characters never reach
the log, queues stay capped while a browser does not read, notes count
toward the transcript cap, resume numbers are whole counts, a WebSocket's
Host is checked, and WebSockets per user are capped."""

import os
import socket
import sqlite3
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (PortlabTestCase, collect, expect_text,  # noqa: E402
                     open_session, recv_msg, send_json)

import websocket  # noqa: E402

IAC, WILL, WONT, DO, DONT = 255, 251, 252, 253, 254
ECHO = 1
# Turns remote echo on and off again: two "echo" messages and two notes.
TOGGLE = bytes([IAC, WILL, ECHO, IAC, WONT, ECHO])
MB = 1024 * 1024


class RelayBounds(PortlabTestCase):
    @classmethod
    def class_args(cls):
        return cls.scripted_pool(4)

    def stderr_text(self, pl=None):
        pl = pl or self.pl
        with open(pl.stderr_path, "rb") as f:
            return f.read()

    @staticmethod
    def _drop(ws):
        try:
            ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        ws.sock.close()

    @staticmethod
    def _read_raw_until(ws, needle, timeout):
        """Reads the server's frames straight off the socket (hundreds of
        thousands of small ones: no message object for each) until needle
        shows up in their payloads, joined, so a marker the relay split
        across two frames is still found, answering pings on the way. Bytes
        past the frame that held it are kept on ws for the next call."""
        deadline = time.monotonic() + timeout
        buf, tail = getattr(ws, "_raw_rest", b""), b""
        while True:
            i, found = 0, False
            while not found and len(buf) - i >= 2:
                n, pos = buf[i + 1] & 0x7F, i + 2
                if n == 126:
                    if len(buf) - i < 4:
                        break
                    n, pos = struct.unpack_from(">H", buf, i + 2)[0], i + 4
                elif n == 127:
                    if len(buf) - i < 10:
                        break
                    n, pos = struct.unpack_from(">Q", buf, i + 2)[0], i + 10
                if buf[i + 1] & 0x80:
                    pos += 4  # a server never masks; skip a key all the same
                if len(buf) < pos + n:
                    break
                if buf[i] & 0x0F == 0x9:
                    # A keepalive ping: a browser answers it, and one that
                    # does not is hung up after LIM_WS_HANGUP_SECS, which a
                    # flood on a loaded machine can outlast.
                    ws.pong(buf[pos:pos + n])
                tail = tail[-len(needle):] + buf[pos:pos + n]
                found = needle in tail
                i = pos + n
            buf = buf[i:]
            if found:
                ws._raw_rest = buf
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ws.sock.settimeout(max(0.1, left))
            try:
                data = ws.sock.recv(1 << 20)
            except (socket.timeout, OSError):
                return False
            if not data:
                return False
            buf += data

    # -- log injection -----------------------------------------------------------

    def test_open_host_with_control_characters_is_refused_and_not_logged(self):
        tok = self.pl.join()
        forged = "2099-01-01T00:00:00.000Z info  forged-by-a-student"
        for host in ("x\n" + forged, "x\r" + forged, "x\x1b[2J" + forged):
            with self.subTest(host=repr(host)):
                ws = self.ws(self.pl.ws_connect(tok))
                send_json(ws, {"type": "open", "host": host, "port": 25})
                self.assertWsError(expect_text(ws, 5), "bad_request")
        # A legitimate line after them, so everything before is in the log.
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertWsError(open_session(ws, "lab", 9), "target_denied")
        time.sleep(0.2)
        log = self.stderr_text()
        self.assertNotIn(b"forged-by-a-student", log)

    def test_header_control_characters_do_not_reach_the_log(self):
        marker = b"\x1b[31mESCAPED"
        s = socket.create_connection((self.pl.host, self.pl.port), timeout=5)
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: evil" + marker + b".example\r\n\r\n")
        reply = s.recv(4096)
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 403"), reply[:100])
        s = socket.create_connection((self.pl.host, self.pl.port), timeout=5)
        s.sendall(b"POST /api/join HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://o" + marker +
                  b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        reply = s.recv(4096)
        s.close()
        self.assertTrue(reply.startswith(b"HTTP/1.1 403"), reply[:100])
        time.sleep(0.2)
        log = self.stderr_text()
        self.assertIn(b"ESCAPED", log)  # the refusals are logged ...
        self.assertNotIn(b"\x1b", log)  # ... without the terminal escape

    # -- bounded queues and transcripts -------------------------------------------

    def test_echo_toggle_flood_to_a_browser_that_does_not_read_is_bounded(self):
        total = 8 * MB
        state = {"sent": 0}

        def handler(conn):
            conn.sock.settimeout(3)
            chunk = TOGGLE * 1024
            try:
                while state["sent"] < total:
                    conn.sock.sendall(chunk)
                    state["sent"] += len(chunk)
            except OSError:
                pass  # the relay stopped reading: that is the point

        srv, n = self.scripted_with(0, handler)
        tok = self.pl.join()
        baseline = self.pl.rss_kb()
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertOpened(open_session(ws, "127.0.0.1", srv.port, "telnet"))
        # From here on the browser reads nothing.
        conn = srv.wait_conn(n)
        self.assertTrue(conn.done.wait(300), "the flood did not end")
        grown = self.pl.rss_kb() - baseline
        self.assertLess(grown, 64 * 1024,
                        "RSS grew %d kB after %d bytes of telnet option changes"
                        % (grown, state["sent"]))
        self.assertLess(state["sent"], total, "the relay never stopped reading the target")

    def test_notes_count_toward_the_transcript_cap(self):
        # Each TOGGLE is 12 bytes of payload (with the replies) and 57 bytes
        # of notes: 1 MiB of them would record about 12 MiB.
        total = 1 * MB

        def handler(conn):
            chunk = TOGGLE * 1024
            sent = 0
            try:
                while sent < total:
                    conn.sock.sendall(chunk)
                    sent += len(chunk)
                conn.send(b"END-OF-FLOOD")
                conn.go.wait(60)
            except OSError:
                pass

        srv, n = self.scripted_with(1, handler)
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port, "telnet"))
        # Hundreds of thousands of small messages: read the raw stream (the
        # marker shows up in a binary frame's payload) instead of parsing each.
        self.assertTrue(self._read_raw_until(ws, b"END-OF-FLOOD", 300), "no end of the flood")
        send_json(ws, {"type": "close"})
        self.assertTrue(self._read_raw_until(ws, b'"reason":"client_closed"', 30))
        srv.wait_conn(n).go.set()
        # Megabytes of notes to write: on a loaded machine the recorder takes
        # a while, and the wait returns as soon as the end is stored.
        r = self.pl.transcript_when_ended(sid, tok, timeout=90)
        self.assertIsNotNone(r.json["session"].get("ended_at"), r)
        db = sqlite3.connect("file:%s?mode=ro" % self.pl.db, uri=True, timeout=10)
        try:
            stored, notes = db.execute(
                "SELECT coalesce(sum(length(data)), 0), coalesce(sum(dir = 0), 0) FROM events"
                " WHERE session_id = ?", (sid,)).fetchone()
            last = db.execute("SELECT CAST(data AS TEXT) FROM events WHERE session_id = ?"
                              " ORDER BY seq DESC LIMIT 1", (sid,)).fetchone()[0]
        finally:
            db.close()
        self.assertLessEqual(stored, 8 * MB + 4096,
                             "%d bytes recorded in %d notes and data" % (stored, notes))
        self.assertEqual(last, "closed: client_closed")

    # -- resume numbers --------------------------------------------------------------

    def test_resume_numbers_must_be_whole_counts(self):
        def handler(conn):
            conn.send(b"hello\n")
            conn.go.wait(30)

        srv, n = self.scripted_with(2, handler)
        tok = self.pl.join()
        ws = self.pl.ws_connect(tok)
        opened = open_session(ws, "127.0.0.1", srv.port)
        sid = self.assertOpened(opened)
        token = opened["resume_token"]
        c = collect(ws, until=lambda c: c.data == b"hello\n", timeout=5)
        self.assertEqual(bytes(c.data), b"hello\n")
        self._drop(ws)
        time.sleep(0.3)
        cases = [
            ("received 1e308", {"session_id": sid, "received": 1e308}),
            ("received 2.5", {"session_id": sid, "received": 2.5}),
            ("received -0.5", {"session_id": sid, "received": -0.5}),
            ("session_id + 0.5", {"session_id": sid + 0.5, "received": 0}),
            ("session_id 1e308", {"session_id": 1e308, "received": 0}),
        ]
        for label, fields in cases:
            with self.subTest(label):
                w = self.ws(self.pl.ws_connect(tok))
                msg = {"type": "resume", "resume_token": token}
                msg.update(fields)
                send_json(w, msg)
                reply = expect_text(w, 5)
                self.assertEqual(reply.get("type"), "error", reply)
                self.assertIn(reply.get("code"), ("bad_request", "resume_failed"), reply)
        # The session itself is still there for a correct resume.
        w = self.ws(self.pl.ws_connect(tok))
        send_json(w, {"type": "resume", "session_id": sid, "resume_token": token,
                      "received": 6})
        self.assertEqual(expect_text(w, 5).get("type"), "resumed")
        srv.wait_conn(n).go.set()

    # -- the WebSocket Host ------------------------------------------------------------

    def test_websocket_host_is_checked_with_a_public_origin(self):
        pl = self.portlab(["--public-origin", "http://lab.example.test"])
        tok = pl.join()
        ok = websocket.create_connection(pl.ws_url(), timeout=5, subprotocols=["portlab.v1"],
                                         cookie="portlab_session=" + tok,
                                         origin="http://lab.example.test",
                                         host="lab.example.test:%d" % pl.port)
        ok.close()
        with self.assertRaises((websocket.WebSocketException, OSError)):
            bad = websocket.create_connection(pl.ws_url(), timeout=5,
                                              subprotocols=["portlab.v1"],
                                              cookie="portlab_session=" + tok,
                                              origin="http://lab.example.test",
                                              host="rebound.evil.example")
            try:
                # Refused upgrades may also show up as an immediate EOF.
                kind, _ = recv_msg(bad, 1)
                if kind in (harness.EOF, harness.CLOSE):
                    raise OSError("closed")
            finally:
                bad.close()

    # -- one student cannot take every WebSocket ---------------------------------------

    def test_websockets_per_user_are_capped(self):
        pl = self.portlab(["--user-sessions", "1"])
        greedy, other = pl.join(), pl.join()
        # A session's socket plus one more (a page coming back to resume it).
        held = [self.ws(pl.ws_connect(greedy)) for _ in range(2)]
        self.assertEqual(len(held), 2)
        refused = 0
        for _ in range(3):
            try:
                w = self.ws(pl.ws_connect(greedy, timeout=5))
                kind, _ = recv_msg(w, 0.5)
                if kind in (harness.EOF, harness.CLOSE):
                    refused += 1
            except (websocket.WebSocketException, OSError):
                refused += 1
        self.assertEqual(refused, 3, "one user could hold more WebSockets than the cap")
        w = self.ws(pl.ws_connect(other))
        self.assertOpened(open_session(w, "lab", 25))


if __name__ == "__main__":
    harness.main()
