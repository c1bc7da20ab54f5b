"""test_relay.py -- the WebSocket relay (docs/protocol.md) and what the
recorder keeps of it (section 4, transcript JSON)."""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (BINARY, TEXT, EchoServer, PortlabTestCase,  # noqa: E402
                     collect, expect_text, first_difference, open_session, open_with_data,
                     pattern, recv_msg, send_json,
                     transcript_bytes, unique_name, wait_closed, wait_ws_end)

IAC, WILL, WONT, DO, DONT = 255, 251, 252, 253, 254
ECHO, TTYPE = 1, 24


class Relay(PortlabTestCase):
    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        # Scripted servers are started per test, on ports we cannot know now:
        # allow a small block of ports we reserve up front instead.
        return ["--allow", "127.0.0.1:%d" % cls.echo.port] + cls.scripted_pool(6)

    # -- the echo path, every byte value, and its transcript ------------------

    def test_echo_every_byte_and_transcript(self):
        name = unique_name()
        r, tok = self.pl.join_full(name)
        ws = self.ws(self.pl.ws_connect(tok))
        opened = open_session(ws, "127.0.0.1", self.echo.port)
        sid = self.assertOpened(opened)
        self.assertEqual(opened.get("host"), "127.0.0.1", opened)
        self.assertEqual(opened.get("port"), self.echo.port, opened)
        self.assertEqual(opened.get("mode"), "raw", opened)

        chunks = [bytes(range(256)),
                  b"\xff\xfb\x01\xff\xfd\x18\xff\xff\xff\xfa\x18\x01\xff\xf0",  # IAC in raw mode
                  b"hello portlab\r\n",
                  os.urandom(60000),
                  bytes(range(255, -1, -1)) * 8,
                  b"\x00",
                  b"\r\n\r\n.\r\n"]
        sent = b""
        for ch in chunks:
            ws.send_binary(ch)
            sent += ch
        c = collect(ws, until=lambda c: len(c.data) >= len(sent), timeout=10)
        self.assertEqual(len(c.data), len(sent), c.messages)
        self.assertEqual(bytes(c.data), sent, "first difference at %d"
                         % first_difference(bytes(c.data), sent))
        self.assertEqual(c.messages, [])

        send_json(ws, {"type": "close"})
        c, closed = wait_closed(ws)
        self.assertClosed(closed, "client_closed", c.messages)
        end = wait_ws_end(ws)
        self.assertEqual(end.close_code, 1000, "no close frame 1000 after closed")

        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(r.status, 200, r)
        s = r.json["session"]
        self.assertEqual(s["id"], sid)
        self.assertEqual(s["user"], name)
        self.assertEqual(s["host"], "127.0.0.1")
        self.assertEqual(s["port"], self.echo.port)
        self.assertEqual(s["mode"], "raw")
        self.assertTrue(s.get("started_at"), s)
        self.assertTrue(s.get("ended_at"), s)
        self.assertEqual(s["bytes_up"], len(sent))
        self.assertEqual(s["bytes_down"], len(sent))
        self.assertEqual(s["close_reason"], "client_closed")

        events = r.json["events"]
        self.assertTrue(events)
        self.assertEqual(events[0]["dir"], "note", events[0])
        self.assertIsInstance(events[0].get("text"), str)
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, sorted(set(seqs)), "seq not strictly increasing")
        t = [e["t_us"] for e in events]
        self.assertTrue(all(x >= 0 for x in t), t[:5])
        self.assertEqual(t, sorted(t), "t_us decreases")
        for e in events:
            self.assertIn(e["dir"], ("note", "c2s", "s2c"), e)
            if e["dir"] != "note":
                self.assertIn("data_b64", e)
                self.assertIsInstance(e.get("text"), str)
        self.assertEqual(transcript_bytes(events, "c2s"), sent)
        self.assertEqual(transcript_bytes(events, "s2c"), sent)

        txt = self.pl.transcript(sid, tok, fmt="txt")
        self.assertEqual(txt.status, 200, txt)
        self.assertIn("text/plain", txt.headers.get("Content-Type", ""))
        self.assertIn(b"hello portlab", txt.body)

    def test_echo_keeps_frame_order_under_many_small_frames(self):
        ws, opened = self.pl.session("127.0.0.1", self.echo.port)
        self.ws(ws)
        self.assertOpened(opened)
        sent = b""
        for i in range(2000):
            piece = b"%d," % i
            ws.send_binary(piece)
            sent += piece
        c = collect(ws, until=lambda c: len(c.data) >= len(sent), timeout=10)
        self.assertEqual(bytes(c.data), sent)

    # -- server side behaviour ---------------------------------------------------

    def test_greeting_then_remote_close(self):
        def handler(conn):
            conn.send(b"220 hello\r\n")
            if conn.wait_for(b"QUIT\r\n", 5):
                conn.send(b"221 bye\r\n")
            conn.close()

        srv, n = self.scripted_with(0, handler)
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port))
        kind, data = recv_msg(ws, 5)
        self.assertEqual((kind, data), (BINARY, b"220 hello\r\n"))
        ws.send_binary(b"QUIT\r\n")
        c, closed = wait_closed(ws)
        self.assertEqual(bytes(c.data), b"221 bye\r\n")
        self.assertClosed(closed, "remote_closed", c.messages)
        self.assertEqual(wait_ws_end(ws).close_code, 1000)
        conn = srv.wait_conn(n)
        self.assertEqual(bytes(conn.received), b"QUIT\r\n")

        r = self.pl.transcript_when_ended(sid, tok)
        s = r.json["session"]
        self.assertEqual(s["close_reason"], "remote_closed")
        self.assertEqual(s["bytes_up"], 6)
        self.assertEqual(s["bytes_down"], len(b"220 hello\r\n221 bye\r\n"))
        self.assertEqual(transcript_bytes(r.json["events"], "s2c"), b"220 hello\r\n221 bye\r\n")
        self.assertEqual(transcript_bytes(r.json["events"], "c2s"), b"QUIT\r\n")
        order = [e["dir"] for e in r.json["events"] if e["dir"] != "note"]
        self.assertEqual(order[0], "s2c")
        txt = self.pl.transcript(sid, tok, fmt="txt")
        self.assertIn(b"220 hello", txt.body)
        self.assertIn(b"QUIT", txt.body)

    def test_lab_smtp(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        opened = open_session(ws, "lab", 25)
        self.assertOpened(opened)
        self.assertEqual((opened.get("host"), opened.get("port"), opened.get("mode")),
                         ("lab", 25, "raw"), opened)
        c = collect(ws, until=lambda c: b"\r\n" in c.data, timeout=5)
        self.assertTrue(bytes(c.data).startswith(b"220"), c.data)
        ws.send_binary(b"QUIT\r\n")
        c, closed = wait_closed(ws)
        self.assertIn(b"221", bytes(c.data))
        self.assertEqual(closed and closed.get("reason"), "remote_closed", c.messages)

    def test_lab_telnet_login_end_to_end(self):
        name = unique_name()
        r, tok = self.pl.join_full(name)
        lab = r.json["lab"]
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "lab", 23))
        c = collect(ws, until=lambda c: b"login:" in c.data.lower(), timeout=5)
        self.assertIn(b"login:", bytes(c.data).lower())
        self.assertNotIn(b"\xff", bytes(c.data), "telnet commands leaked to the browser")
        ws.send_binary(lab["user"].encode() + b"\r\n")
        c2 = collect(ws, until=lambda c: b"password:" in c.data.lower(), timeout=5)
        self.assertIn(b"password:", bytes(c2.data).lower())
        ws.send_binary(lab["password"].encode() + b"\r\n")
        ws.send_binary(b"whoami\r\n")
        c3 = collect(ws, until=lambda c: bytes(c.data).count(name.encode()) >= 2, timeout=5)
        self.assertGreaterEqual(bytes(c3.data).count(name.encode()), 2, bytes(c3.data))
        ws.send_binary(b"exit\r\n")
        _, closed = wait_closed(ws)
        self.assertClosed(closed, "remote_closed")
        r = self.pl.transcript_when_ended(sid, tok)
        up = transcript_bytes(r.json["events"], "c2s")
        down = transcript_bytes(r.json["events"], "s2c")
        self.assertIn(lab["password"].encode(), up, "the transcript shows the password in clear")
        self.assertIn(b"\xff", down + up, "telnet negotiation is recorded")

    def test_lab_telnet_defaults_to_telnet_mode(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        opened = open_session(ws, "lab", 23)
        self.assertOpened(opened)
        self.assertEqual(opened.get("mode"), "telnet", opened)
        ws2 = self.ws(self.pl.ws_connect(tok))
        opened = open_session(ws2, "lab", 23, mode="raw")
        self.assertOpened(opened)
        self.assertEqual(opened.get("mode"), "raw", opened)
        ws3 = self.ws(self.pl.ws_connect(tok))
        opened = open_session(ws3, "lab", 25, mode="telnet")
        self.assertOpened(opened)
        self.assertEqual(opened.get("mode"), "telnet", opened)

    def test_telnet_mode(self):
        def handler(conn):
            conn.send(bytes([IAC, WILL, ECHO]) + b"login: ")
            if conn.go.wait(10):
                conn.send(bytes([IAC, DO, TTYPE]))
                conn.send(b"Password: ")

        srv, n = self.scripted_with(1, handler)
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port, mode="telnet"))
        c = collect(ws, until=lambda c: b"login: " in c.data and c.of_type("echo"), timeout=5)
        echoes = c.of_type("echo")
        self.assertEqual(len(echoes), 1, c.messages)
        self.assertIs(echoes[0].get("local"), False, echoes)
        self.assertEqual(bytes(c.data), b"login: ")
        conn = srv.wait_conn(n)
        self.assertTrue(conn.wait_for(bytes([IAC, DO, ECHO]), 5),
                        "no IAC DO ECHO; got %r" % bytes(conn.received))

        ws.send_binary(b"a\xffb\r\n")
        self.assertTrue(conn.wait_for(b"a\xff\xffb", 5),
                        "0xFF not doubled; got %r" % bytes(conn.received))

        conn.go.set()
        c2 = collect(ws, until=lambda c: b"Password: " in c.data, timeout=5)
        self.assertEqual(bytes(c2.data), b"Password: ", "IAC bytes leaked to the browser")
        self.assertTrue(conn.wait_for(bytes([IAC, WONT, TTYPE]), 5),
                        "no IAC WONT TTYPE; got %r" % bytes(conn.received))
        conn.wait_quiet(0.4, 3)
        self.assertEqual(bytes(conn.received).count(bytes([IAC, WONT, TTYPE])), 1,
                         bytes(conn.received))
        self.assertEqual(bytes(conn.received).count(bytes([IAC, DO, ECHO])), 1,
                         bytes(conn.received))

        send_json(ws, {"type": "close"})
        _, closed = wait_closed(ws)
        self.assertEqual(closed and closed.get("reason"), "client_closed")
        r = self.pl.transcript_when_ended(sid, tok)
        ev = r.json["events"]
        self.assertEqual(r.json["session"]["mode"], "telnet")
        self.assertEqual(transcript_bytes(ev, "s2c"), bytes(conn.sent),
                         "transcript must hold the raw server bytes, IAC included")
        self.assertEqual(transcript_bytes(ev, "c2s"), bytes(conn.received),
                         "transcript must hold the raw client bytes, IAC included")
        self.assertEqual(r.json["session"]["bytes_down"], len(conn.sent))
        self.assertEqual(r.json["session"]["bytes_up"], len(conn.received))

    def test_telnet_mode_typed_while_connecting(self):
        # Read while the connection is being made, the bytes still go
        # through the telnet engine: 0xFF doubled like any later typing.
        srv, n = self.scripted_with(1, lambda conn: conn.send(b"login: "))
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertOpened(open_with_data(ws, "127.0.0.1", srv.port, "telnet", b"a\xffb\r\n"))
        conn = srv.wait_conn(n)
        self.assertTrue(conn.wait_for(b"a\xff\xffb\r\n", 5),
                        "0xFF not doubled; got %r" % bytes(conn.received))

    def test_pause_resume(self):
        total = 16 * 1024 * 1024

        def handler(conn):
            conn.send(b"ready\n")
            if conn.go.wait(15):
                conn.send_bulk(total)

        pattern(total)  # build it before the clock matters
        srv, n = self.scripted_with(2, handler)
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertOpened(open_session(ws, "127.0.0.1", srv.port))
        c = collect(ws, until=lambda c: c.data == b"ready\n", timeout=5)
        self.assertEqual(bytes(c.data), b"ready\n")
        send_json(ws, {"type": "pause"})
        time.sleep(0.3)
        conn = srv.wait_conn(n)
        conn.go.set()
        paused = collect(ws, timeout=1.5)
        self.assertEqual(paused.messages, [])
        self.assertLess(len(paused.data), 1024 * 1024,
                        "data kept flowing while paused (%d bytes)" % len(paused.data))
        self.assertLess(conn.bulk_sent, total, "the server could send everything while paused")

        send_json(ws, {"type": "resume"})
        rest = collect(ws, until=lambda c: len(paused.data) + len(c.data) >= total, timeout=30)
        got = bytes(paused.data) + bytes(rest.data)
        self.assertEqual(len(got), total, rest.messages)
        self.assertTrue(got == pattern(total), "order broken at %d"
                        % first_difference(got, bytes(pattern(total))))

    # -- bad messages --------------------------------------------------------------

    BAD_OPENS = [
        ("not json", "this is not json"),
        ("array", "[1,2,3]"),
        ("missing host", {"type": "open", "port": 25}),
        ("missing port", {"type": "open", "host": "lab"}),
        ("port 0", {"type": "open", "host": "lab", "port": 0}),
        ("port 70000", {"type": "open", "host": "lab", "port": 70000}),
        ("port -1", {"type": "open", "host": "lab", "port": -1}),
        ("wrong type", {"type": "bogus", "host": "lab", "port": 25}),
        ("no type", {"host": "lab", "port": 25}),
        ("bad mode", {"type": "open", "host": "lab", "port": 25, "mode": "ssh"}),
        ("host not string", {"type": "open", "host": 7, "port": 25}),
        ("long host", {"type": "open", "host": "a" * 300, "port": 25}),
    ]

    def test_bad_open_messages(self):
        tok = self.pl.join()
        for label, msg in self.BAD_OPENS:
            with self.subTest(label):
                ws = self.ws(self.pl.ws_connect(tok))
                if isinstance(msg, str):
                    ws.send(msg)
                else:
                    send_json(ws, msg)
                kind, val = recv_msg(ws, 5)
                self.assertEqual(kind, TEXT, (kind, val))
                self.assertWsError(val, "bad_request")

    def test_binary_before_open(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        ws.send_binary(b"EHLO x\r\n")
        kind, val = recv_msg(ws, 5)
        self.assertEqual(kind, TEXT, (kind, val))
        self.assertWsError(val, "bad_request")

    def test_error_is_followed_by_close(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        send_json(ws, {"type": "open", "host": "lab", "port": 0})
        self.assertWsError(recv_msg(ws, 5)[1], "bad_request")
        end = wait_ws_end(ws, 3)
        self.assertTrue(end.close_code is not None or end.eof,
                        "WebSocket stayed open after an error: %r" % end.messages)

    def test_second_open_on_same_socket(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        send_json(ws, {"type": "open", "host": "lab", "port": 25})
        c = collect(ws, until=lambda c: c.messages or c.close_code is not None, timeout=3)
        self.assertFalse(c.of_type("opened"), "a second session opened on one WebSocket")
        self.assertEqual(self.pl.get("/api/health").status, 200)

    def test_control_messages_after_close_are_harmless(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        send_json(ws, {"type": "close"})
        try:
            send_json(ws, {"type": "close"})
            send_json(ws, {"type": "pause"})
            ws.send_binary(b"late")
        except Exception:
            pass
        wait_closed(ws)
        self.assertEqual(self.pl.get("/api/health").status, 200)

    def test_data_just_before_close_is_delivered(self):
        # Bytes the user sent before hanging up ("QUIT\r\n", then close)
        # must reach the server and the transcript.
        srv, n = self.scripted_with(3, lambda conn: conn.send(b"220 hi\r\n"))
        lost = []
        for i in range(10):
            tok = self.pl.join()
            ws = self.ws(self.pl.ws_connect(tok))
            sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port))
            kind, data = recv_msg(ws, 5)
            self.assertEqual((kind, data), (BINARY, b"220 hi\r\n"))
            ws.send_binary(b"QUIT\r\n")
            send_json(ws, {"type": "close"})
            _, closed = wait_closed(ws)
            self.assertEqual(closed and closed.get("reason"), "client_closed")
            conn = srv.wait_conn(n + i)
            got = conn.wait_for(b"QUIT\r\n", 2)
            r = self.pl.transcript_when_ended(sid, tok)
            rec = transcript_bytes(r.json["events"], "c2s")
            if not got or rec != b"QUIT\r\n" or r.json["session"]["bytes_up"] != 6:
                lost.append((i, bytes(conn.received), rec, r.json["session"]["bytes_up"]))
        self.assertEqual(lost, [], "(attempt, server got, transcript c2s, bytes_up)")

    def test_concurrent_sessions_do_not_mix(self):
        socks = []
        for i in range(3):
            tok = self.pl.join()
            ws = self.ws(self.pl.ws_connect(tok))
            sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
            socks.append((tok, ws, sid, bytearray()))
        for round_ in range(50):
            for i, (_, ws, _, sent) in enumerate(socks):
                piece = (b"<%d:%d>" % (i, round_)) * (i + 1)
                ws.send_binary(piece)
                sent += piece
        for tok, ws, sid, sent in socks:
            c = collect(ws, until=lambda c, n=len(sent): len(c.data) >= n, timeout=10)
            self.assertEqual(bytes(c.data), bytes(sent))
            send_json(ws, {"type": "close"})
            wait_closed(ws)
        for tok, ws, sid, sent in socks:
            r = self.pl.transcript_when_ended(sid, tok)
            self.assertEqual(transcript_bytes(r.json["events"], "c2s"), bytes(sent))

    def test_invalid_utf8_text_frame(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        frame = harness.websocket.ABNF.create_frame(b"\xff\xfe{", harness.websocket.ABNF.OPCODE_TEXT)
        ws.sock.sendall(frame.format())
        c = collect(ws, until=lambda c: c.close_code is not None or c.eof, timeout=5)
        self.assertTrue(c.close_code is not None or c.eof or c.of_type("error"), c.messages)
        self.assertEqual(self.pl.get("/api/health").status, 200)

    def test_control_messages_in_pieces(self):
        """A control message read in pieces is collected whole: in WebSocket
        fragments, or one frame that crosses TCP segments; the one-piece
        messages between them are read in place."""
        ABNF = harness.websocket.ABNF
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        text = json.dumps({"type": "open", "host": "127.0.0.1", "port": self.echo.port}).encode()
        pieces = [text[:5], text[5:20], text[20:]]
        ws.send_frame(ABNF.create_frame(pieces[0], ABNF.OPCODE_TEXT, fin=0))
        ws.send_frame(ABNF.create_frame(pieces[1], ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(ABNF.create_frame(pieces[2], ABNF.OPCODE_CONT, fin=1))
        self.assertOpened(expect_text(ws))
        ws.send_binary(b"ping\r\n")
        c = collect(ws, until=lambda c: len(c.data) >= 6, timeout=10)
        self.assertEqual(bytes(c.data), b"ping\r\n")
        # Legal JSON padded past one TCP segment, sent in two writes.
        close = b'{"type":"close"' + b" " * 30000 + b"}"
        raw = ABNF.create_frame(close, ABNF.OPCODE_TEXT).format()
        ws.sock.sendall(raw[:1000])
        time.sleep(0.3)
        ws.sock.sendall(raw[1000:])
        c, closed = wait_closed(ws)
        self.assertClosed(closed, "client_closed", c.messages)

    def test_oversize_message_in_fragments_never_reaches_the_target(self):
        """protocol.md: a message over 65536 bytes is refused before any of
        it is forwarded. In fragments only the last one tells the sum, so
        none of the earlier ones may have gone to the target by then."""
        ABNF = harness.websocket.ABNF
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        try:
            ws.send_frame(ABNF.create_frame(b"F" * 1000, ABNF.OPCODE_BINARY, fin=0))
            ws.send_frame(ABNF.create_frame(b"a" * 60000, ABNF.OPCODE_CONT, fin=0))
            ws.send_frame(ABNF.create_frame(b"b" * 60000, ABNF.OPCODE_CONT, fin=1))
        except (BrokenPipeError, ConnectionResetError,
                harness.websocket.WebSocketConnectionClosedException):
            pass  # the refusal may close the socket under the last frame
        c = wait_ws_end(ws, timeout=10)
        self.assertEqual([m.get("code") for m in c.of_type("error")], ["message_too_big"],
                         c.messages)
        self.assertEqual(c.close_code, 1009)
        self.assertEqual(bytes(c.data), b"", "the target echoed part of the refused message")
        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(r.json["session"]["close_reason"], "message_too_big")
        self.assertEqual(transcript_bytes(r.json["events"], "c2s"), b"")
        self.assertEqual(r.json["session"]["bytes_up"], 0)

    def test_message_of_the_cap_in_fragments_goes_through_whole(self):
        """Fragments that add up to exactly 65536 bytes are one message the
        target gets whole, in order; the session goes on (raw and telnet,
        where the held bytes still pass the engine: 0xFF doubled)."""
        ABNF = harness.websocket.ABNF
        for mode in ("raw", "telnet"):
            with self.subTest(mode=mode):
                tok = self.pl.join()
                ws = self.ws(self.pl.ws_connect(tok))
                sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port, mode=mode))
                pieces = [b"F" * 999 + b"\xff", pattern(60000), b"b" * 4536]
                msg = b"".join(pieces)
                self.assertEqual(len(msg), 65536)
                ws.send_frame(ABNF.create_frame(pieces[0], ABNF.OPCODE_BINARY, fin=0))
                ws.send_frame(ABNF.create_frame(pieces[1], ABNF.OPCODE_CONT, fin=0))
                ws.send_frame(ABNF.create_frame(pieces[2], ABNF.OPCODE_CONT, fin=1))
                ws.send_binary(b"after\r\n")
                want = msg + b"after\r\n"
                c = collect(ws, until=lambda c: len(c.data) >= len(want), timeout=10)
                self.assertEqual(bytes(c.data), want, "first difference at %d"
                                 % first_difference(bytes(c.data), want))
                send_json(ws, {"type": "close"})
                _, closed = wait_closed(ws)
                self.assertClosed(closed, "client_closed")
                r = self.pl.transcript_when_ended(sid, tok)
                wire = want.replace(b"\xff", b"\xff\xff") if mode == "telnet" else want
                self.assertEqual(transcript_bytes(r.json["events"], "c2s"), wire)
                self.assertEqual(r.json["session"]["bytes_up"], len(wire))

    def test_deeply_nested_control_message(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        ws.send("[" * 20000 + "]" * 20000)
        kind, val = recv_msg(ws, 5)
        self.assertEqual(kind, TEXT, (kind, val))
        self.assertWsError(val, "bad_request")
        self.assertEqual(self.pl.get("/api/health").status, 200)

    # -- a dropped WebSocket (docs/protocol.md, "Resume after a dropped WebSocket")

    def _drop(self, ws):
        """Ends the WebSocket's TCP connection without a close frame."""
        try:
            ws.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        ws.sock.close()

    def test_dropped_websocket_keeps_session_for_resume(self):
        tok = self.pl.join()
        ws = self.pl.ws_connect(tok)
        opened = open_session(ws, "127.0.0.1", self.echo.port)
        sid = self.assertOpened(opened)
        ws.send_binary(b"bye")
        self.assertEqual(bytes(collect(ws, until=lambda c: c.data == b"bye", timeout=5).data),
                         b"bye")
        self._drop(ws)
        time.sleep(0.5)
        r = self.pl.transcript(sid, tok)
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.json["session"].get("ended_at"),
                          "the session must wait for a resume after a dropped WebSocket")
        self.assertEqual(transcript_bytes(r.json["events"], "c2s"), b"bye")
        self.assertEqual(self.pl.get("/api/health").status, 200)

    def test_resume_replays_what_the_page_missed(self):
        def handler(conn):
            conn.send(b"one\n")
            if conn.go.wait(10):
                conn.send(b"two\n")

        srv, n = self.scripted_with(4, handler)
        tok = self.pl.join()
        ws = self.pl.ws_connect(tok)
        opened = open_session(ws, "127.0.0.1", srv.port)
        sid = self.assertOpened(opened)
        token = opened.get("resume_token")
        self.assertIsInstance(token, str, opened)
        self.assertEqual(bytes(collect(ws, until=lambda c: c.data == b"one\n", timeout=5).data),
                         b"one\n")
        self._drop(ws)
        conn = srv.wait_conn(n)
        time.sleep(0.3)
        conn.go.set()  # the server talks while no page is attached
        time.sleep(0.3)

        ws2 = self.ws(self.pl.ws_connect(tok))
        send_json(ws2, {"type": "resume", "session_id": sid, "resume_token": token,
                        "received": 2})
        msg = expect_text(ws2, 5)
        self.assertEqual(msg.get("type"), "resumed", msg)
        self.assertEqual(msg.get("session_id"), sid, msg)
        c = collect(ws2, until=lambda c: len(c.data) >= 6, timeout=5)
        self.assertEqual(bytes(c.data), b"e\ntwo\n", "replay must start after 'received' bytes")
        ws2.send_binary(b"three\n")
        self.assertTrue(conn.wait_for(b"three\n", 5), bytes(conn.received))
        send_json(ws2, {"type": "close"})
        _, closed = wait_closed(ws2)
        self.assertClosed(closed, "client_closed")
        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(transcript_bytes(r.json["events"], "s2c"), b"one\ntwo\n")
        self.assertEqual(transcript_bytes(r.json["events"], "c2s"), b"three\n")

    def test_resume_refused(self):
        tok = self.pl.join()
        other = self.pl.join()
        ws = self.pl.ws_connect(tok)
        opened = open_session(ws, "127.0.0.1", self.echo.port)
        sid = self.assertOpened(opened)
        token = opened["resume_token"]
        live = self.ws(self.pl.ws_connect(tok))
        live_opened = open_session(live, "127.0.0.1", self.echo.port)
        self.assertOpened(live_opened)
        self._drop(ws)
        time.sleep(0.3)
        cases = [
            ("wrong token", tok, {"session_id": sid, "resume_token": "0" * 32}),
            ("other user", other, {"session_id": sid, "resume_token": token}),
            ("no such session", tok, {"session_id": 99999999, "resume_token": token}),
            ("still attached", tok, {"session_id": live_opened["session_id"],
                                     "resume_token": live_opened["resume_token"]}),
        ]
        for label, cookie, fields in cases:
            with self.subTest(label):
                w = self.ws(self.pl.ws_connect(cookie))
                msg = {"type": "resume", "received": 0}
                msg.update(fields)
                send_json(w, msg)
                self.assertWsError(expect_text(w, 5), "resume_failed")
        # The attached session was not disturbed.
        live.send_binary(b"still mine")
        c = collect(live, until=lambda c: c.data == b"still mine", timeout=5)
        self.assertEqual(bytes(c.data), b"still mine")

if __name__ == "__main__":
    harness.main()
