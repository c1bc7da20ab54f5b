#!/usr/bin/python3
"""steadybench.py -- many sessions relaying steadily, nothing lost (issue 11,
goal 3: 1,000 sessions each relaying 1 KiB/s, bytes recorded = bytes sent).

Starts the load client's TCP echo server (wsload serve) and a portlab (the
Release build by default), opens SESSIONS sessions to the echo server
through it (a new student every 16), then for SECONDS each session sends
SIZE random bytes every second (the start spread over the first second) and
reads its echo. Afterwards every session is closed and its transcript read
back as the teacher: a session counts as whole when its recorded client
bytes are exactly what it sent and its recorded server bytes exactly what
it received, and bytes_up / bytes_down say the same.

Prints the rate reached, the echo latency, the sessions that are whole,
and portlab's CPU and resident memory. Loopback only. Asserts nothing
(the exit status is 1 if a session is not whole, so `make bench` shows it).
"""
import argparse
import os
import select
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import run as relaybench  # noqa: E402
from websocket import ABNF  # noqa: E402  (Debian: python3-websocket)

PER_STUDENT = 16


class Steady:
    """One session: what it sent and what came back. The relay's frames are
    read straight from the socket (so select() sees every byte waiting)."""

    def __init__(self, ws, sid):
        self.ws = ws
        self.sid = sid
        self.sent = bytearray()
        self.got = bytearray()
        self.rbuf = bytearray()
        self.due = 0.0
        self.stamps = []  # (echo bytes expected so far, time sent)
        self.closed = False

    def send(self, data, echoed=True):
        self.ws.send_binary(data)
        self.sent += data
        if echoed:
            self.stamps.append((len(self.sent) - len(ECHO_CMD), time.monotonic()))

    def read(self, lat):
        data = self.ws.sock.recv(65536)
        if not data:
            self.closed = True
            return
        self.rbuf += data
        while len(self.rbuf) >= 2:
            op, n, at = self.rbuf[0] & 0x0F, self.rbuf[1] & 0x7F, 2
            if n == 126:
                n, at = int.from_bytes(self.rbuf[2:4], "big"), 4
            elif n == 127:
                n, at = int.from_bytes(self.rbuf[2:10], "big"), 10
            if len(self.rbuf) < at + n:
                return
            payload = bytes(self.rbuf[at:at + n])
            del self.rbuf[:at + n]
            if op in (ABNF.OPCODE_BINARY, ABNF.OPCODE_CONT):
                self.got += payload
                t = time.monotonic()
                while self.stamps and self.stamps[0][0] <= len(self.got):
                    lat.append(t - self.stamps.pop(0)[1])
            elif op == ABNF.OPCODE_PING:
                self.ws.pong(payload)
            elif op == ABNF.OPCODE_CLOSE:
                self.closed = True


# wsload serve: a connection's first line says what it is; this one echoes.
ECHO_CMD = b"E\n"


def open_all(pl, harness, n, echo_port):
    out, cookie = [], None
    for i in range(n):
        if i % PER_STUDENT == 0:
            cookie = pl.join(harness.unique_name("steady"))
        ws = pl.ws_connect(cookie)
        msg = harness.open_session(ws, "127.0.0.1", echo_port)
        if msg.get("type") != "opened":
            raise RuntimeError("session %d: %r" % (i, msg))
        s = Steady(ws, msg["session_id"])
        s.send(ECHO_CMD, echoed=False)
        out.append(s)
    return out


def pump(group, size, seconds, start, lat):
    """Sends SIZE bytes a second on each session of group and reads echoes
    until every byte sent has come back (or 30 s after the end)."""
    socks = {s.ws.sock.fileno(): s for s in group}
    for k, s in enumerate(group):
        s.due = start + k / max(len(group), 1)
    end = start + seconds
    while True:
        now = time.monotonic()
        if now < end:
            for s in group:
                if s.due <= now and not s.closed:
                    s.send(os.urandom(size))
                    s.due += 1.0
        elif all(s.closed or len(s.got) + len(ECHO_CMD) >= len(s.sent) for s in group) \
                or now > end + 30:
            return
        ready, _, _ = select.select(list(socks), [], [], 0.01)
        for fd in ready:
            socks[fd].read(lat)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-release"))
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--write", action="store_true", help="replace the table in bench/RESULTS.md")
    opts = ap.parse_args()
    os.environ["PORTLAB_BIN"] = os.path.join(opts.build, "portlab")
    import harness  # after PORTLAB_BIN: it reads the binary's path once

    n = opts.sessions
    b = relaybench.Bench(opts)
    pl = None
    try:
        echo_port = relaybench.free_port()
        b.start([b.wsload, "serve", str(echo_port)], b.client_cpu, wait_port=echo_port)
        pl = harness.Portlab(["--allow", "127.0.0.1:%d" % echo_port,
                              "--max-sessions", str(n + 64), "--max-students", str(n),
                              "--joins-per-minute", "100000", "--ws-per-addr", "65536",
                              "--user-sessions", str(PER_STUDENT),
                              "--opens-per-minute", str(2 * PER_STUDENT),
                              "--idle-timeout", "3600", "--log-level", "warn"])
        pl.start()
        t0 = time.monotonic()
        sessions = open_all(pl, harness, n, echo_port)
        opened = time.monotonic() - t0
        cpu0, rss0 = relaybench.cpu_s(pl.proc.pid), relaybench.rss_kb(pl.proc.pid)
        lat = []
        start = time.monotonic() + 0.5
        groups = [sessions[i::opts.threads] for i in range(opts.threads)]
        ts = [threading.Thread(target=pump, args=(g, opts.size, opts.seconds, start, lat))
              for g in groups if g]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ran = time.monotonic() - start
        cpu = relaybench.cpu_s(pl.proc.pid) - cpu0
        rss = relaybench.rss_kb(pl.proc.pid)
        for s in sessions:
            harness.send_json(s.ws, {"type": "close"})
        teacher = pl.teacher()
        whole, bad = 0, []
        for s in sessions:
            deadline = time.monotonic() + 30
            while True:
                r = pl.transcript(s.sid, teacher)
                meta = r.json["session"]
                if meta.get("ended_at") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            c2s = harness.transcript_bytes(r.json["events"], "c2s")
            s2c = harness.transcript_bytes(r.json["events"], "s2c")
            if (c2s == bytes(s.sent) and s2c == bytes(s.got)
                    and meta.get("bytes_up") == len(s.sent) and meta.get("bytes_down") == len(s.got)):
                whole += 1
            else:
                bad.append("session %d: sent %d, got %d, recorded %d / %d, counters %s / %s"
                           % (s.sid, len(s.sent), len(s.got), len(c2s), len(s2c),
                              meta.get("bytes_up"), meta.get("bytes_down")))
            s.ws.close()
    finally:
        if pl:
            pl.stop()
        b.close()
    sent = sum(len(s.sent) for s in sessions)
    got = sum(len(s.got) for s in sessions)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1000 if lat else float("nan")

    out = ["Steady sessions through one portlab: %d, %d bytes a second each for %.0f s; "
           "load average %.1f / %.1f / %.1f" % ((n, opts.size, opts.seconds) + os.getloadavg()), "",
           "| measure | figure | goal |", "|---|---|---|",
           "| sessions opened, one at a time | %d in %.1f s | 1,000 |" % (n, opened),
           "| bytes sent / echoed, all sessions | %d / %d (%.0f KiB/s in all) | |"
           % (sent, got, sent / 1024 / ran),
           "| per session, sent | %.2f KiB/s | 1 KiB/s |" % (sent / 1024 / ran / n),
           "| echo of a chunk, p50 / p99 | %.1f ms / %.1f ms | |" % (pct(50), pct(99)),
           "| sessions whose recorded bytes = bytes sent and received, counters too | %d/%d | all |"
           % (whole, n),
           "| portlab CPU while relaying / resident memory | %.0f %% / %.1f MiB (%.1f MiB before) | |"
           % (100 * cpu / ran, rss / 1024, rss0 / 1024)]
    text = "\n".join(out) + "\n"
    print(text)
    for line in bad[:20]:
        print(line)
    if opts.write:
        relaybench.write_results("steadybench", text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
