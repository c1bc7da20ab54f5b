"""test_crash.py -- clean stops and kill -9 (docs/architecture.md, "Recording"): a clean stop
flushes everything and closes every session with a reason; a crash loses at
most the last quarter second and the next start closes orphaned sessions."""

import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (PortlabTestCase, ScriptedServer, collect, open_session, pattern,  # noqa: E402
                     send_json, transcript_bytes, wait_closed, wait_ws_end)


class StopAndCrash(PortlabTestCase):
    SHARED = False

    def start_with_echo(self):
        self.echo = self.echo_server()
        return self.portlab(["--allow", "127.0.0.1:%d" % self.echo.port])

    def talk(self, pl, tok, payload):
        ws = self.ws(pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        sent = b""
        for piece in payload:
            ws.send_binary(piece)
            sent += piece
        c = collect(ws, until=lambda c: len(c.data) >= len(sent), timeout=10)
        self.assertEqual(bytes(c.data), sent)
        return ws, sid, sent

    def check_transcript(self, pl, sid, sent, reason):
        t = pl.teacher()
        r = pl.transcript_when_ended(sid, t)
        self.assertEqual(r.status, 200, r)
        s = r.json["session"]
        self.assertTrue(s.get("ended_at"), s)
        self.assertEqual(s.get("close_reason"), reason, s)
        self.assertEqual(transcript_bytes(r.json["events"], "c2s"), sent)
        self.assertEqual(transcript_bytes(r.json["events"], "s2c"), sent)
        self.assertEqual(s["bytes_up"], len(sent))
        self.assertEqual(s["bytes_down"], len(sent))
        return r

    def test_sigterm_with_open_session(self):
        pl = self.start_with_echo()
        tok = pl.join()
        ws, sid, sent = self.talk(pl, tok, [b"HELO before-shutdown\r\n", bytes(range(256)) * 40])
        pl.proc.send_signal(signal.SIGTERM)
        c, closed = wait_closed(ws, timeout=10)
        self.assertClosed(closed, "server_shutdown", c.messages)
        end = wait_ws_end(ws, 5)
        # docs/protocol.md says a close frame 1000 follows "closed"; 1001 (going
        # away, RFC 6455 7.4.1) is the code made for a server shutting down.
        self.assertIn(end.close_code, (1000, 1001), "close=%r eof=%r" % (end.close_code, end.eof))
        try:
            rc = pl.proc.wait(10)
        except Exception:
            rc = None
        self.assertEqual(rc, 0, "portlab did not exit 0 on SIGTERM with a session open")
        pl.start()  # same ports, same database
        self.check_transcript(pl, sid, sent, "server_shutdown")

    def test_sigint_is_a_clean_stop(self):
        pl = self.start_with_echo()
        tok = pl.join()
        ws, sid, sent = self.talk(pl, tok, [b"interrupt me\r\n"])
        rc = pl.stop(signal.SIGINT)
        self.assertEqual(rc, 0)
        pl.start()
        self.check_transcript(pl, sid, sent, "server_shutdown")

    def test_kill_9_loses_nothing_older_than_a_quarter_second(self):
        pl = self.start_with_echo()
        tok_a = pl.join()
        tok_b = pl.join()
        ws_a, sid_a, sent_a = self.talk(pl, tok_a, [b"USER alice\r\n", os.urandom(20000),
                                                    b"PASS secret\r\n"])
        time.sleep(0.5)
        ws_b, sid_b, sent_b = self.talk(pl, tok_b, [b"late but not too late\r\n",
                                                    bytes(range(256))])
        time.sleep(0.5)
        pl.kill()  # SIGKILL
        self.assertEqual(pl.proc.returncode, -signal.SIGKILL)
        pl.start()
        self.check_transcript(pl, sid_a, sent_a, "server_restart")
        self.check_transcript(pl, sid_b, sent_b, "server_restart")
        # The restarted server works as usual.
        tok = pl.join()
        ws, sid, sent = self.talk(pl, tok, [b"after restart\r\n"])
        send_json(ws, {"type": "close"})
        _, closed = wait_closed(ws)
        self.assertEqual(closed and closed.get("reason"), "client_closed")
        self.assertGreater(sid, max(sid_a, sid_b))

    def test_sigterm_with_a_stalled_browser(self):
        # The browser stopped reading and the target keeps pushing: a clean
        # stop must still finish in time rather than wait for the browser.
        total = 32 * 1024 * 1024
        pattern(total)
        srv = self.server(ScriptedServer(bulk=total))
        pl = self.portlab(["--allow", "127.0.0.1:%d" % srv.port])
        tok = pl.join()
        ws = self.ws(pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port))
        time.sleep(1.0)  # not reading: the queues fill up
        t0 = time.monotonic()
        rc = pl.stop(signal.SIGTERM, timeout=10)
        self.assertEqual(rc, 0, "no clean exit within 10 s with a stalled browser")
        self.assertLess(time.monotonic() - t0, 10)
        pl.start()
        r = pl.transcript_when_ended(sid, pl.teacher())
        self.assertEqual(r.json["session"].get("close_reason"), "server_shutdown", r.json["session"])

    def test_sigterm_during_a_pending_connect(self):
        # A listener whose accept queue is full drops our SYNs: the relay's
        # connect hangs (default --connect-timeout 10) while we stop.
        blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        blackhole.bind((harness.LOOPBACK, 0))
        blackhole.listen(0)
        port = blackhole.getsockname()[1]
        fillers = []
        try:
            for _ in range(3):
                f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                f.setblocking(False)
                f.connect_ex((harness.LOOPBACK, port))
                fillers.append(f)
            pl = self.portlab(["--allow", "127.0.0.1:%d" % port])
            tok = pl.join()
            ws = self.ws(pl.ws_connect(tok))
            send_json(ws, {"type": "open", "host": "127.0.0.1", "port": port})
            time.sleep(0.5)
            t0 = time.monotonic()
            rc = pl.stop(signal.SIGTERM, timeout=10)
            self.assertEqual(rc, 0)
            self.assertLess(time.monotonic() - t0, 5, "a pending connect held up the stop")
        finally:
            for f in fillers:
                f.close()
            blackhole.close()

    def test_kill_9_during_bulk_transfer(self):
        total = 6 * 1024 * 1024
        pattern(total)
        srv = self.server(ScriptedServer(bulk=total))
        pl = self.portlab(["--allow", "127.0.0.1:%d" % srv.port])
        tok = pl.join()
        ws = self.ws(pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", srv.port))
        got = collect(ws, until=lambda c: len(c.data) >= total // 3, timeout=20)
        self.assertGreaterEqual(len(got.data), total // 3)
        pl.kill()
        pl.start()
        t = pl.teacher()
        r = pl.transcript_when_ended(sid, t)
        self.assertEqual(r.status, 200, r)
        s = r.json["session"]
        self.assertEqual(s.get("close_reason"), "server_restart", s)
        self.assertTrue(s.get("ended_at"), s)
        down = transcript_bytes(r.json["events"], "s2c")
        self.assertEqual(down, bytes(pattern(len(down))), "recorded bytes are not a clean prefix")
        self.assertEqual(s["bytes_down"], len(down))
        seqs = [e["seq"] for e in r.json["events"]]
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertEqual(pl.get("/api/health").status, 200)


if __name__ == "__main__":
    harness.main()
