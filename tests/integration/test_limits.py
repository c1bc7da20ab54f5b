"""test_limits.py -- the relay's limits (docs/architecture.md, "Target policy"): message size,
sessions per user, timeouts, bounded buffering and the transcript cap."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websocket  # noqa: E402

import harness  # noqa: E402
from harness import (EchoServer, PortlabTestCase, collect, first_difference,  # noqa: E402
                     free_port, open_session, pattern, send_json, transcript_bytes,
                     wait_closed, wait_ws_end)

MB = 1024 * 1024


def send_ignoring_hangup(fn, *args):
    try:
        fn(*args)
    except (BrokenPipeError, ConnectionResetError, websocket.WebSocketConnectionClosedException,
            OSError):
        pass


class Limits(PortlabTestCase):
    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        return ["--allow", "127.0.0.1:%d" % cls.echo.port] + cls.scripted_pool(3)

    def _expect_1009(self, ws):
        c = collect(ws, until=lambda c: c.close_code is not None or c.eof, timeout=10)
        errors = c.of_type("error")
        if errors:
            self.assertEqual(errors[0].get("code"), "message_too_big", errors)
        self.assertEqual(c.close_code, 1009,
                         "expected close 1009; got close=%r eof=%r messages=%r"
                         % (c.close_code, c.eof, c.messages))

    def _still_serves(self, cookie):
        self.assertEqual(self.pl.get("/api/health").status, 200)
        ws = self.ws(self.pl.ws_connect(cookie))
        self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        ws.send_binary(b"still here")
        c = collect(ws, until=lambda c: c.data == b"still here", timeout=5)
        self.assertEqual(bytes(c.data), b"still here")

    def test_oversized_binary_message(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        send_ignoring_hangup(ws.send_binary, b"x" * (2 * MB))
        self._expect_1009(ws)
        self._still_serves(tok)

    def test_oversized_text_message_before_open(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        big = '{"type":"open","host":"lab","port":25,"pad":"%s"}' % ("y" * (2 * MB))
        send_ignoring_hangup(ws.send, big)
        self._expect_1009(ws)
        self._still_serves(tok)

    def test_oversized_fragmented_message(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        piece = b"z" * 16384
        ABNF = websocket.ABNF

        def send_fragments():
            ws.send_frame(ABNF.create_frame(piece, ABNF.OPCODE_BINARY, fin=0))
            for _ in range(126):
                ws.send_frame(ABNF.create_frame(piece, ABNF.OPCODE_CONT, fin=0))
            ws.send_frame(ABNF.create_frame(piece, ABNF.OPCODE_CONT, fin=1))

        send_ignoring_hangup(send_fragments)
        self._expect_1009(ws)
        self._still_serves(tok)

    def test_sessions_per_user(self):
        tok = self.pl.join()
        socks = []
        for i in range(4):
            ws = self.ws(self.pl.ws_connect(tok))
            self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
            socks.append(ws)
        ws5 = self.ws(self.pl.ws_connect(tok))
        self.assertWsError(open_session(ws5, "127.0.0.1", self.echo.port), "too_many_sessions")
        # Another user is not affected.
        other = self.ws(self.pl.ws_connect(self.pl.join()))
        self.assertOpened(open_session(other, "127.0.0.1", self.echo.port))
        # Closing one frees a slot.
        send_json(socks[0], {"type": "close"})
        _, closed = wait_closed(socks[0])
        self.assertIsNotNone(closed)
        deadline = time.monotonic() + 3
        while True:
            ws6 = self.ws(self.pl.ws_connect(tok))
            msg = open_session(ws6, "127.0.0.1", self.echo.port)
            if msg.get("type") == "opened" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertOpened(msg)
        # (A WebSocket that just drops keeps its slot for the resume window
        # of docs/protocol.md, so it is not tested here.)

    def test_stalled_reader_memory_is_bounded(self):
        total = 64 * MB
        pattern(total)
        started = threading.Event()

        def handler(conn):
            conn.send(b"ready\n")
            if conn.go.wait(20):
                started.set()
                conn.send_bulk(total)

        srv, n = self.scripted_with(0, handler)
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port))
        c = collect(ws, until=lambda c: c.data == b"ready\n", timeout=5)
        self.assertEqual(bytes(c.data), b"ready\n")
        baseline = self.pl.rss_kb()
        conn = srv.wait_conn(n)
        conn.go.set()
        started.wait(5)
        peak = baseline
        t_end = time.monotonic() + 5
        health_worst = 0.0
        while time.monotonic() < t_end:
            peak = max(peak, self.pl.rss_kb())
            t0 = time.monotonic()
            self.assertEqual(self.pl.get("/api/health", timeout=5).status, 200)
            health_worst = max(health_worst, time.monotonic() - t0)
            time.sleep(0.2)
        if os.environ.get("PORTLAB_TEST_VERBOSE"):
            print("\nRSS baseline %d kB, peak %d kB, producer sent %d bytes while stalled"
                  % (baseline, peak, conn.bulk_sent))
        self.assertLess(peak - baseline, 40 * 1024,
                        "RSS grew %d kB while the reader stalled (baseline %d kB)"
                        % (peak - baseline, baseline))
        self.assertLess(conn.bulk_sent, total, "nothing held the producer back")
        self.assertLess(health_worst, 1.0, "portal stalled with a stalled reader")

        got = collect(ws, until=lambda c: len(c.data) >= total, timeout=45)
        self.assertEqual(len(got.data), total, (len(got.data), got.messages))
        self.assertTrue(got.data == pattern(total),
                        "order broken at %d" % first_difference(bytes(got.data),
                                                                bytes(pattern(total))))
        peak = max(peak, self.pl.rss_kb())
        self.assertLess(peak - baseline, 40 * 1024, "RSS grew %d kB" % (peak - baseline))
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(r.json["session"]["bytes_down"], total + len(b"ready\n"))

    def test_stalled_target_memory_is_bounded(self):
        total = 32 * MB
        chunk = 60000
        data = bytes(pattern(total))
        done = threading.Event()
        srv, n = self.scripted_with(2, lambda conn: None)
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port))
        conn = srv.wait_conn(n)
        baseline = self.pl.rss_kb()
        sent = [0]
        send_error = []

        def sender():
            try:
                for off in range(0, total, chunk):
                    ws.send_binary(data[off:off + chunk])
                    sent[0] = off + min(chunk, total - off)
            except Exception as e:  # noqa: BLE001 - reported below
                send_error.append(e)
            finally:
                done.set()

        # Holding conn.cond stalls the harness's reader thread (it takes the
        # lock to store what it read), so the target stops reading.
        with conn.cond:
            t = threading.Thread(target=sender, daemon=True)
            t.start()
            peak = baseline
            t_end = time.monotonic() + 3
            while time.monotonic() < t_end:
                peak = max(peak, self.pl.rss_kb())
                time.sleep(0.2)
            stalled_sent = sent[0]
        if os.environ.get("PORTLAB_TEST_VERBOSE"):
            print("\nRSS baseline %d kB, peak %d kB, browser sent %d bytes while the target stalled"
                  % (baseline, peak, stalled_sent))
        self.assertLess(peak - baseline, 40 * 1024,
                        "RSS grew %d kB while the target did not read" % (peak - baseline))
        self.assertLess(stalled_sent, total, "nothing held the browser back")
        self.assertTrue(conn.wait_for(data[-64:], 45), "only %d bytes arrived" % len(conn.received))
        done.wait(10)
        self.assertEqual(send_error, [])
        self.assertEqual(len(conn.received), total)
        self.assertTrue(bytes(conn.received) == data,
                        "order broken at %d" % first_difference(bytes(conn.received), data))
        peak = max(peak, self.pl.rss_kb())
        self.assertLess(peak - baseline, 40 * 1024, "RSS grew %d kB" % (peak - baseline))
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(r.json["session"]["bytes_up"], total)

    def test_transcript_cap(self):
        total = 9 * MB

        def handler(conn):
            conn.send_bulk(total)

        srv, n = self.scripted_with(1, handler)
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port))
        got = collect(ws, until=lambda c: len(c.data) >= total, timeout=30)
        self.assertEqual(len(got.data), total, "the relay must go on past the transcript cap")
        ws.send_binary(b"after cap\r\n")
        conn = srv.wait_conn(n)
        self.assertTrue(conn.wait_for(b"after cap\r\n", 5))
        send_json(ws, {"type": "close"})
        _, closed = wait_closed(ws)
        self.assertEqual(closed and closed.get("reason"), "client_closed")
        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(r.status, 200)
        events = r.json["events"]
        recorded = transcript_bytes(events, "s2c")
        self.assertLess(len(recorded) + len(transcript_bytes(events, "c2s")), total)
        self.assertGreaterEqual(len(recorded), 1 * MB)
        self.assertEqual(recorded, bytes(pattern(len(recorded))), "recorded prefix is wrong")
        notes = [e.get("text", "") for e in events if e["dir"] == "note"]
        self.assertTrue(any("truncat" in t.lower() for t in notes), notes)
        s = r.json["session"]
        self.assertEqual(s["bytes_down"], total)
        self.assertEqual(s["bytes_up"], len(b"after cap\r\n"))


class Timeouts(PortlabTestCase):
    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        # A listener whose accept queue is full: further SYNs are dropped.
        cls.blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cls.blackhole.bind((harness.LOOPBACK, 0))
        cls.blackhole.listen(0)
        cls.blackhole_port = cls.blackhole.getsockname()[1]
        cls.fillers = []
        for _ in range(3):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((harness.LOOPBACK, cls.blackhole_port))
            cls.fillers.append(s)
        cls.closed_port = free_port()
        return ["--idle-timeout", "2", "--session-timeout", "3", "--connect-timeout", "2",
                "--user-sessions", "2",
                "--allow", "127.0.0.1:%d" % cls.echo.port,
                "--allow", "127.0.0.1:%d" % cls.blackhole_port,
                "--allow", "127.0.0.1:%d" % cls.closed_port]

    @classmethod
    def tearDownClass(cls):
        for s in cls.fillers:
            s.close()
        cls.blackhole.close()
        super().tearDownClass()

    def test_idle_timeout(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        t0 = time.monotonic()
        c, closed = wait_closed(ws, timeout=7)
        dt = time.monotonic() - t0
        self.assertClosed(closed, "idle_timeout", c.messages)
        self.assertGreater(dt, 1.5)
        self.assertLess(dt, 5.0)
        self.assertEqual(wait_ws_end(ws).close_code, 1000)
        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(r.json["session"]["close_reason"], "idle_timeout")

    def test_session_timeout_despite_traffic(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        t0 = time.monotonic()
        closed = None
        n = 0
        while time.monotonic() - t0 < 8 and closed is None:
            try:
                ws.send_binary(b"tick %d\n" % n)
            except Exception:
                pass
            n += 1
            c = collect(ws, until=lambda c: bool(c.of_type("closed")), timeout=0.5)
            if c.of_type("closed"):
                closed = c.of_type("closed")[0]
        dt = time.monotonic() - t0
        self.assertClosed(closed, "session_timeout")
        self.assertGreater(dt, 2.5)
        self.assertLess(dt, 6.0)
        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(r.json["session"]["close_reason"], "session_timeout")

    def test_connect_timeout(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        t0 = time.monotonic()
        msg = open_session(ws, "127.0.0.1", self.blackhole_port, timeout=10)
        if msg.get("type") == "opened":
            c, closed = wait_closed(ws, timeout=10)
            msg = closed or {}
            self.assertEqual(msg.get("reason"), "connect_timeout", c.messages)
        else:
            self.assertWsError(msg, "connect_failed")
            self.assertTrue("time" in msg["message"].lower(), msg)
        dt = time.monotonic() - t0
        self.assertGreater(dt, 1.5)
        self.assertLess(dt, 6.0)

    def test_connect_refused(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        t0 = time.monotonic()
        msg = open_session(ws, "127.0.0.1", self.closed_port)
        self.assertWsError(msg, "connect_failed")
        self.assertLess(time.monotonic() - t0, 1.5)

    def test_user_sessions_flag(self):
        tok = self.pl.join()
        for _ in range(2):
            ws = self.ws(self.pl.ws_connect(tok))
            self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertWsError(open_session(ws, "127.0.0.1", self.echo.port), "too_many_sessions")


if __name__ == "__main__":
    harness.main()
