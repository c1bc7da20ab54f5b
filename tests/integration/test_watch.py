"""test_watch.py -- the teacher's live view and broadcasts over /ws.

A teacher WebSocket that sends {"type":"watch","scope":"class"} gets a
"session" message for every session that opens, changes or ends, and an
"event" for every recorded event; {"type":"watch","session_id":N} replays
what was recorded first. A watcher that does not read never slows a
student: its queue is capped and overflow becomes "gap" messages. Students
get "forbidden". Broadcasts reach every "listen" WebSocket.

Different client addresses are made by binding the client socket to
127.0.0.2, 127.0.0.3, ... (all loopback).
"""

import base64
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import websocket  # noqa: E402
from harness import (BINARY, TEXT, PortlabTestCase, collect, expect_text, open_session,  # noqa: E402
                     recv_msg, send_json)


def ws_from(pl, cookie, src, rcvbuf=None):
    """A portlab.v1 WebSocket from source address src (and a small receive
    buffer, for a reader that stalls)."""
    return pl.ws_from(cookie, src, rcvbuf)


def read_until(ws, pred, timeout=10.0):
    """JSON messages until pred(messages) is true; fails at the deadline."""
    msgs = []
    deadline = time.monotonic() + timeout
    while not pred(msgs):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out; got %r" % msgs[-10:])
        kind, val = recv_msg(ws, min(left, 1.0))
        if kind == TEXT:
            msgs.append(val)
        elif kind not in ("timeout",):
            raise AssertionError("unexpected %s %r" % (kind, val))
    return msgs


def events_of(msgs, sid):
    return [m for m in msgs if m.get("type") == "event" and m.get("session_id") == sid]


def sent_bytes(events, direction):
    return b"".join(base64.b64decode(e["data_b64"]) for e in events if e["dir"] == direction)


def session_msgs(msgs, sid, state=None):
    return [m["session"] for m in msgs if m.get("type") == "session"
            and m["session"]["id"] == sid and (state is None or m["session"]["state"] == state)]


class Watch(PortlabTestCase):
    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(harness.EchoServer())
        return ["--allow", "127.0.0.1:%d" % cls.echo.port, "--broadcast-max", "10"]

    def watcher(self, scope=None, session_id=None, src="127.0.0.1", **kw):
        ws = self.ws(ws_from(self.pl, self.pl.teacher(), src, **kw))
        msg = {"type": "watch"}
        if session_id is not None:
            msg["session_id"] = session_id
        else:
            msg["scope"] = "class"
        send_json(ws, msg)
        ack = expect_text(ws, 5)
        self.assertEqual(ack.get("type"), "watching", ack)
        return ws

    def test_student_gets_forbidden_and_keeps_the_socket(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        for msg in ({"type": "watch", "scope": "class"}, {"type": "watch", "session_id": 1},
                    {"type": "broadcast", "text": "hi"}, {"type": "broadcast", "text": "\x07"}):
            send_json(ws, msg)
            self.assertWsError(expect_text(ws, 5), "forbidden")
        # The refusal leaves the WebSocket usable for a session.
        self.assertOpened(open_session(ws, "lab", 25))
        # Nobody without a login gets a WebSocket at all.
        with self.assertRaises(websocket.WebSocketException):
            self.pl.ws_connect(None)

    def test_bad_watch_messages(self):
        ws = self.ws(self.pl.ws_connect(self.pl.teacher()))
        send_json(ws, {"type": "watch", "session_id": 999999})
        self.assertWsError(expect_text(ws, 5), "not_found")
        send_json(ws, {"type": "watch", "scope": "room"})
        self.assertWsError(expect_text(ws, 5), "bad_request")

    def test_class_watch_streams_typed_bytes_and_session_states(self):
        w = self.watcher()
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "lab", 25))
        # The greeting first: the relay writes typed bytes at once, so an
        # EHLO sent earlier can reach the lab before its 220 is read.
        self.assertIn(b"220 ", collect(ws, until=lambda c: b"\r\n" in c.data).data)
        ws.send_binary(b"EHLO watched\r\n")
        msgs = read_until(w, lambda m: b"EHLO watched\r\n" in sent_bytes(events_of(m, sid), "c2s"))
        opened = session_msgs(msgs, sid, "open")
        self.assertTrue(opened, msgs)
        for key in ("id", "user", "host", "port", "mode", "started_at", "ended_at", "bytes_up",
                    "bytes_down", "close_reason", "state"):
            self.assertIn(key, opened[0])
        self.assertEqual(opened[0]["host"], "lab")
        self.assertIsNone(opened[0]["ended_at"])
        evs = events_of(msgs, sid)
        self.assertTrue(any(e["dir"] == "s2c" for e in evs), evs)  # the 220 greeting
        self.assertEqual([e["seq"] for e in evs], list(range(evs[0]["seq"], evs[-1]["seq"] + 1)))
        # Counters reach the watcher, then the end.
        send_json(ws, {"type": "close"})
        msgs += read_until(w, lambda m: session_msgs(m, sid, "ended"))
        ended = session_msgs(msgs, sid, "ended")[-1]
        self.assertEqual(ended["close_reason"], "client_closed")
        self.assertEqual(ended["bytes_up"], len(b"EHLO watched\r\n"))
        self.assertGreater(ended["bytes_down"], 0)
        self.assertIsNotNone(ended["ended_at"])

    def test_session_watch_replays_then_goes_live(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        early = b"".join(b"line %d\n" % i for i in range(50))
        ws.send_binary(early)
        got = bytearray()
        while len(got) < len(early):
            kind, val = recv_msg(ws, 5)
            if kind == BINARY:
                got += val
        w = self.watcher(session_id=sid)
        late = b"after the watch began\n"
        ws.send_binary(late)
        msgs = read_until(w, lambda m: late in sent_bytes(events_of(m, sid), "s2c"))
        self.assertTrue(session_msgs(msgs, sid, "open"), msgs)
        evs = events_of(msgs, sid)
        # Replay and live join without a duplicate or a hole, from seq 1.
        self.assertEqual([e["seq"] for e in evs], list(range(1, len(evs) + 1)))
        self.assertEqual(sent_bytes(evs, "c2s"), early + late)
        self.assertEqual(sent_bytes(evs, "s2c"), early + late)
        self.assertFalse([m for m in msgs if m.get("type") == "gap"])
        # The replay equals the stored transcript event for event.
        send_json(ws, {"type": "close"})
        stored = self.pl.transcript_when_ended(sid, tok).json["events"]
        self.assertEqual([e["seq"] for e in stored[:len(evs)]], [e["seq"] for e in evs])

    def test_past_session_watch_replays_everything(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        ws.send_binary(b"old words\n")
        recv_msg(ws, 5)
        send_json(ws, {"type": "close"})
        stored = self.pl.transcript_when_ended(sid, tok).json["events"]
        w = self.watcher(session_id=sid)
        msgs = read_until(w, lambda m: len(events_of(m, sid)) == len(stored))
        self.assertEqual(session_msgs(msgs, sid)[0]["state"], "ended")
        self.assertEqual([e["seq"] for e in events_of(msgs, sid)], [e["seq"] for e in stored])

    def test_broadcast_reaches_listeners_and_is_capped(self):
        listeners = []
        for src in ("127.0.0.2", "127.0.0.3"):
            ws = self.ws(ws_from(self.pl, self.pl.join(), src))
            send_json(ws, {"type": "listen"})
            self.assertEqual(expect_text(ws, 5).get("type"), "listening")
            listeners.append(ws)
        t = self.ws(self.pl.ws_connect(self.pl.teacher()))
        send_json(t, {"type": "broadcast", "text": "look up!!!"})  # 10 bytes: the cap
        sent = expect_text(t, 5)
        self.assertEqual(sent.get("type"), "broadcast_sent", sent)
        self.assertGreaterEqual(sent["listeners"], 2)
        for ws in listeners:
            msg = expect_text(ws, 5)
            self.assertEqual((msg.get("type"), msg.get("text")), ("broadcast", "look up!!!"), msg)
        send_json(t, {"type": "broadcast", "text": "look up!!!!"})  # 11 bytes
        self.assertWsError(expect_text(t, 5), "too_long")
        send_json(t, {"type": "broadcast", "text": "  "})
        self.assertWsError(expect_text(t, 5), "bad_request")
        # Past the parser's own bound it is too long as well, and the
        # WebSocket goes on.
        send_json(t, {"type": "broadcast", "text": "x" * 5000})
        self.assertWsError(expect_text(t, 5), "too_long")
        send_json(t, {"type": "broadcast", "text": "again"})
        self.assertEqual(expect_text(t, 5).get("type"), "broadcast_sent")


    def test_refused_broadcast_leaves_the_live_view_open(self):
        """A broadcast refused for its text (a C1 control such as CSI, CR,
        BEL, blank, or only invisible characters) gets bad_request and goes
        to nobody, and the teacher's watcher goes on like after too_long:
        it broadcasts again and still sees the class."""
        lst = self.ws(ws_from(self.pl, self.pl.join(), "127.0.0.4"))
        send_json(lst, {"type": "listen"})
        self.assertEqual(expect_text(lst, 5).get("type"), "listening")
        w = self.watcher()

        def answer(m):
            return [x for x in m if x.get("type") in ("error", "broadcast_sent")]

        for text in ("x\u009b2Jy\u0085z", "a\rb", "bell\x07", " \n\t ", "\u200b\u00a0\ufeff"):
            send_json(w, {"type": "broadcast", "text": text})
            got = answer(read_until(w, answer))
            self.assertEqual(len(got), 1, got)
            self.assertWsError(got[0], "bad_request")
        send_json(w, {"type": "broadcast", "text": "still here"})
        got = answer(read_until(w, answer))
        self.assertEqual(got[0].get("type"), "broadcast_sent", got)
        # The listener's next message is that one: none of the refused came.
        msg = expect_text(lst, 5)
        self.assertEqual((msg.get("type"), msg.get("text")), ("broadcast", "still here"), msg)
        ws = self.ws(self.pl.ws_connect(self.pl.join()))
        sid = self.assertOpened(open_session(ws, "lab", 25))
        self.assertTrue(session_msgs(read_until(w, lambda m: session_msgs(m, sid, "open")), sid))


class StalledWatcher(PortlabTestCase):
    SHARED = False

    def stored_when_ended(self, pl, sid, timeout=60.0):
        """(c2s bytes, s2c bytes, last seq) of a session once its end is
        stored (the recorder writes in batches)."""
        deadline = time.monotonic() + timeout
        db = sqlite3.connect("file:%s?mode=ro" % pl.db, uri=True, timeout=10)
        try:
            while True:
                row = db.execute("SELECT ended_us FROM sessions WHERE id = ?", (sid,)).fetchone()
                if row and row[0]:
                    break
                self.assertLess(time.monotonic(), deadline, "the session's end was never stored")
                time.sleep(0.05)
            out = {1: bytearray(), 2: bytearray()}
            last = 0
            for seq, d, data in db.execute(
                    "SELECT seq, dir, data FROM events WHERE session_id = ? ORDER BY seq", (sid,)):
                if d in out:
                    out[d] += data
                last = seq
        finally:
            db.close()
        return bytes(out[1]), bytes(out[2]), last

    def test_stalled_watcher_never_slows_a_student_and_gets_gaps(self):
        echo = self.echo_server()
        pl = self.portlab(["--allow", "127.0.0.1:%d" % echo.port, "--watch-queue", "64K"])
        w = self.ws(ws_from(pl, pl.teacher(), "127.0.0.1", rcvbuf=4096))
        send_json(w, {"type": "watch", "scope": "class"})
        self.assertEqual(expect_text(w, 5).get("type"), "watching")
        # The teacher now reads nothing while a student moves 3 MiB each way.
        tok = pl.join()
        ws = self.ws(pl.ws_connect(tok, timeout=30))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", echo.port))
        total = 3 * 1024 * 1024
        payload = bytes(range(256)) * (total // 256)

        def send_all():
            for i in range(0, total, 65536):
                ws.send_binary(payload[i:i + 65536])

        sender = threading.Thread(target=send_all)
        sender.start()
        got = bytearray()
        while len(got) < total:
            kind, val = recv_msg(ws, 30)
            self.assertIn(kind, (BINARY, TEXT), "the round trip stalled: %s" % kind)
            if kind == BINARY:
                got += val
        sender.join(30)
        self.assertEqual(bytes(got), payload)  # the round trip completed
        send_json(ws, {"type": "close"})
        # Every byte is recorded (read from the database itself: the JSON
        # export of 6 MiB is slow under a sanitizer).
        c2s, s2c, last_seq = self.stored_when_ended(pl, sid)
        self.assertEqual(c2s, payload)
        self.assertEqual(s2c, payload)
        # Now the teacher reads: events and gaps cover every seq exactly once.
        seen = set()

        def covered(msgs):
            for m in msgs[len(covered.done):]:
                if m.get("session_id") == sid and m["type"] == "event":
                    self.assertNotIn(m["seq"], seen)
                    seen.add(m["seq"])
                elif m.get("session_id") == sid and m["type"] == "gap":
                    rng = set(range(m["from_seq"], m["to_seq"] + 1))
                    self.assertFalse(rng & seen, m)
                    seen.update(rng)
            covered.done = list(msgs)
            return len(seen) == last_seq
        covered.done = []
        msgs = read_until(w, covered, timeout=60)
        self.assertTrue([m for m in msgs if m.get("type") == "gap"], "no gap message")
        self.assertEqual(seen, set(range(1, last_seq + 1)))


class Limits(PortlabTestCase):
    SHARED = False

    def test_watch_queue_flag_edge(self):
        bad = subprocess.run([os.environ.get("PORTLAB_BIN", "portlab"), "--watch-queue", "65535",
                              "--help"], capture_output=True, timeout=10)
        self.assertEqual(bad.returncode, 2, bad)
        self.assertIn(b"--watch-queue", bad.stderr)
        ok = subprocess.run([os.environ.get("PORTLAB_BIN", "portlab"), "--watch-queue", "65536",
                             "--help"], capture_output=True, timeout=10)
        self.assertEqual(ok.returncode, 0, ok)

    def test_listeners_per_address_edge(self):
        pl = self.portlab(["--ws-per-addr", "2"])
        for _ in range(2):
            ws = self.ws(ws_from(pl, pl.join(), "127.0.0.2"))
            send_json(ws, {"type": "listen"})
            self.assertEqual(expect_text(ws, 5).get("type"), "listening")
        # Listeners do not take the sessions' share ...
        ws = self.ws(ws_from(pl, pl.join(), "127.0.0.2"))
        send_json(ws, {"type": "listen"})
        self.assertWsError(expect_text(ws, 5), "too_many_listeners")
        ws = self.ws(ws_from(pl, pl.join(), "127.0.0.2"))
        self.assertOpened(open_session(ws, "lab", 25))

    def assertBusy(self, pl, src, query=""):
        with self.assertRaises(websocket.WebSocketBadStatusException) as cm:
            pl.ws_from(pl.join(), src, query=query)
        self.assertEqual(cm.exception.status_code, 503)

    def test_listener_upgrade_gets_through_a_full_address(self):
        """A school behind one NAT: its sessions fill the address's share,
        and a page that only listens (/ws?listen=1) still gets in on the
        listeners' share and hears the teacher; that share is capped too,
        so one address holds at most twice --ws-per-addr."""
        pl = self.portlab(["--ws-per-addr", "2"])
        for _ in range(2):
            ws = self.ws(ws_from(pl, pl.join(), "127.0.0.2"))
            self.assertOpened(open_session(ws, "lab", 25))
        self.assertBusy(pl, "127.0.0.2")
        listeners = []
        for _ in range(2):
            ws = self.ws(pl.ws_from(pl.join(), "127.0.0.2", query="?listen=1"))
            send_json(ws, {"type": "listen"})
            self.assertEqual(expect_text(ws, 5).get("type"), "listening")
            listeners.append(ws)
        self.assertBusy(pl, "127.0.0.2", "?listen=1")
        self.assertBusy(pl, "127.0.0.2")
        self.assertIn("too many broadcast listeners from this address (--ws-per-addr)", pl.logs())
        t = self.ws(pl.ws_connect(pl.teacher()))
        send_json(t, {"type": "broadcast", "text": "look up"})
        self.assertEqual(expect_text(t, 5).get("listeners"), 2)
        for ws in listeners:
            self.assertEqual(expect_text(ws, 5).get("text"), "look up")

    def test_listener_upgrade_may_only_listen(self):
        """A WebSocket let in as a listener takes no place in the others'
        share, so it cannot carry a session or a watch: an upgrade that says
        ?listen=1 is counted as a listener from the start, idle or not."""
        pl = self.portlab(["--ws-per-addr", "1"])
        self.ws(pl.ws_from(pl.join(), "127.0.0.2", query="?listen=1"))
        self.assertBusy(pl, "127.0.0.2", "?listen=1")  # the idle one holds the share
        for src, first in (("127.0.0.4", {"type": "open", "host": "lab", "port": 25}),
                           ("127.0.0.5", {"type": "watch", "scope": "class"}),
                           ("127.0.0.6", {"type": "resume", "session_id": 1,
                                          "resume_token": "x", "received": 0})):
            cookie = pl.teacher() if first["type"] == "watch" else pl.join()
            ws = self.ws(pl.ws_from(cookie, src, query="?listen=1"))
            send_json(ws, first)
            err = expect_text(ws, 5)
            self.assertWsError(err, "bad_request")
            self.assertIn("only listen", err.get("message", ""))
        # Any other value of listen is refused at the upgrade.
        with self.assertRaises(websocket.WebSocketException):
            pl.ws_from(pl.join(), "127.0.0.3", query="?listen=yes")
        self.assertIn("listen= is not 1", pl.logs())
        # A plain WebSocket still becomes a listener as before.
        ws = self.ws(ws_from(pl, pl.join(), "127.0.0.3"))
        send_json(ws, {"type": "listen"})
        self.assertEqual(expect_text(ws, 5).get("type"), "listening")


if __name__ == "__main__":
    harness.main()
