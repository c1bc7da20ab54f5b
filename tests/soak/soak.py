#!/usr/bin/python3
"""soak.py -- kill -9 cycles and a thousand sessions (make soak; not in make test).

Part 1, crashes. One portlab, one database, SESSIONS (100) students. Every
cycle opens one session per student to lab:25 through the relay, and the
students type (NOOP, one line, read the reply) until portlab is killed with
SIGKILL at a random moment (1 to 4 s in). Each student types a line
every PACE (0.2) seconds on average, with jitter. Then:

  - PRAGMA integrity_check of the database answers "ok";
  - after the restart, every session of the cycle is closed with reason
    server_restart;
  - its recorded client bytes are a prefix of what the student sent, and
    hold at least everything sent more than GRACE (the recorder's 100 ms
    flush interval plus a margin) before the kill; the same for the server
    bytes the student received.

Part 2, load. A fresh portlab, WIDE (1,000) sessions at once, spread over
the SMTP, POP3, IMAP and FTP lab servers (each server takes 256), four per
student, typing a line every WIDE_PACE (1) seconds on average for SECONDS
(60). Then every session is closed and its
transcript must hold exactly the bytes the student sent and received.
portlab caps WebSockets at 512 in all unless it has --max-sessions; without
that flag part 2 runs 500 sessions and says so.

Every client address is one of 127.0.0.2 ... 127.0.0.201, so per-address
limits see a class, not one machine. Bounded: the whole run stops with a
failure after DEADLINE seconds. Prints its figures; exit status 0 if every
check held.

  PORTLAB_BIN=build/portlab python3 tests/soak/soak.py [--cycles N] [--sessions N]
      [--wide N] [--seconds S] [--pace S] [--wide-pace S] [--grace S] [--seed N]
"""

import argparse
import base64
import os
import random
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
import websocket  # noqa: E402
from harness import BINARY, CLOSE, EOF, TEXT, TIMEOUT, recv_msg, send_json  # noqa: E402

FLUSH_S = 0.100  # LIM_RECORDER_FLUSH_MS
DEADLINE = 30 * 60
N_SOURCES = 200
# Per protocol: the lab port and one harmless line that always gets a reply
# and never counts as an error.
TYPING = {25: b"NOOP\r\n", 110: b"CAPA\r\n", 143: b"a1 NOOP\r\n", 21: b"NOOP\r\n"}

T0 = time.monotonic()


def log(msg):
    sys.stdout.write("[%6.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stdout.flush()


def check_deadline():
    if time.monotonic() - T0 > DEADLINE:
        raise SystemExit("soak: over the %d s deadline" % DEADLINE)


def source(i):
    return "127.0.0.%d" % (2 + i % N_SOURCES)


def join_from(pl, name, src):
    """POST /api/join from the address src; returns the cookie token."""
    body = ('{"name":"%s"}' % name).encode()
    for attempt in range(20):
        conn = harness.http.client.HTTPConnection(pl.host, pl.port, timeout=30,
                                                  source_address=(src, 0))
        try:
            conn.request("POST", "/api/join", body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            r = harness.Response(resp.status, resp.msg, resp.read())
        finally:
            conn.close()
        if r.status == 201:
            return harness.session_cookie(r)
        if r.status == 429:  # a join limit per address: wait and go on
            time.sleep(min(5.0, 0.5 * (attempt + 1)))
            continue
        raise AssertionError("join %s failed: %r" % (name, r))
    raise AssertionError("join %s still throttled" % name)


def ws_from(pl, cookie, src, timeout=30):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((src, 0))
    sock.settimeout(timeout)
    sock.connect((pl.host, pl.port))
    return websocket.create_connection(pl.ws_url(), timeout=timeout, socket=sock,
                                       subprotocols=["portlab.v1"],
                                       cookie=harness.cookie_header(cookie), origin=pl.origin)


class Session:
    def __init__(self, student, cookie, src, port):
        self.student = student
        self.cookie = cookie
        self.src = src
        self.port = port
        self.line = TYPING[port]
        self.ws = None
        self.sid = None
        self.sent = bytearray()
        self.sends = []  # (monotonic time the send returned, total sent then)
        self.received = bytearray()
        self.recvs = []  # (monotonic time, total received then)
        self.lines = 0
        self.dead = False
        self.error = None

    def open(self, pl):
        self.ws = ws_from(pl, self.cookie, self.src)
        send_json(self.ws, {"type": "open", "host": "lab", "port": self.port, "mode": "raw"})
        deadline = time.monotonic() + 30
        while True:
            kind, val = recv_msg(self.ws, max(0.1, deadline - time.monotonic()))
            if kind == TEXT and isinstance(val, dict) and val.get("type") == "opened":
                self.sid = val["session_id"]
                return
            if kind == BINARY:  # the greeting may come first
                self.got(val)
                continue
            raise AssertionError("open lab:%d for %s: %s %r" % (self.port, self.student, kind, val))

    def got(self, data):
        self.received += data
        self.recvs.append((time.monotonic(), len(self.received)))

    def type_one(self, timeout=15.0):
        """Sends one line and reads until a line end arrives after it.
        Returns False once the session is gone."""
        if self.dead:
            return False
        try:
            self.ws.send_binary(self.line)
        except Exception as e:  # killed server: broken pipe
            self.dead, self.error = True, e
            return False
        self.sent += self.line
        self.sends.append((time.monotonic(), len(self.sent)))
        mark = len(self.received)
        deadline = time.monotonic() + timeout
        while b"\n" not in self.received[mark:]:
            left = deadline - time.monotonic()
            if left <= 0:
                self.dead, self.error = True, "no reply within %.0f s" % timeout
                return False
            kind, val = recv_msg(self.ws, left)
            if kind == BINARY:
                self.got(val)
            elif kind in (EOF, CLOSE):
                self.dead = True
                return False
            elif kind == TEXT and isinstance(val, dict) and val.get("type") in ("closed", "error"):
                self.dead, self.error = True, val
                return False
        self.lines += 1
        return True

    def close(self, timeout=30.0):
        """Hangs up and reads the rest, up to "closed"."""
        send_json(self.ws, {"type": "close"})
        deadline = time.monotonic() + timeout
        while True:
            kind, val = recv_msg(self.ws, max(0.1, deadline - time.monotonic()))
            if kind == BINARY:
                self.got(val)
            elif kind == TEXT and isinstance(val, dict) and val.get("type") == "closed":
                break
            elif kind in (EOF, CLOSE, TIMEOUT):
                raise AssertionError("session %s: no closed (%s)" % (self.sid, kind))
        harness.close_quietly(self.ws)

    def upto(self, marks, t):
        """How many bytes had been sent/received by time t."""
        n = 0
        for when, total in marks:
            if when > t:
                break
            n = total
        return n


def run_parallel(items, fn, threads):
    """fn(item) for every item on `threads` threads; re-raises the first error."""
    errors = []
    lock = threading.Lock()
    todo = list(items)

    def worker():
        while True:
            with lock:
                if not todo or errors:
                    return
                item = todo.pop()
            try:
                fn(item)
            except BaseException as e:  # noqa: B902 -- reported below
                with lock:
                    errors.append(e)
                return

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def typists(sessions, stop, threads, pace, seed):
    """Threads that keep every session typing until stop is set: a line,
    its reply, then a pause of 0.5 to 1.5 times pace seconds."""
    groups = [sessions[i::threads] for i in range(threads)]

    def work(group, rng):
        due = {id(s): time.monotonic() + rng.uniform(0, pace) for s in group}
        while not stop.is_set():
            alive = [s for s in group if not s.dead]
            if not alive:
                return
            s = min(alive, key=lambda x: due[id(x)])
            wait = due[id(s)] - time.monotonic()
            if wait > 0 and stop.wait(wait):
                return
            s.type_one()
            due[id(s)] = time.monotonic() + pace * rng.uniform(0.5, 1.5)

    ts = [threading.Thread(target=work, args=(g, random.Random(seed + i)), daemon=True)
          for i, g in enumerate(groups) if g]
    for t in ts:
        t.start()
    return ts


def transcript(pl, teacher, sid):
    r = pl.transcript(sid, teacher)
    if r.status != 200 or not r.json:
        raise AssertionError("transcript %s: %r" % (sid, r))
    events = r.json["events"]
    return r.json["session"], harness.transcript_bytes(events, "c2s"), \
        harness.transcript_bytes(events, "s2c")


def integrity(db):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def help_text():
    out = subprocess.run([harness.BIN, "--help"], capture_output=True, text=True, timeout=10)
    return out.stdout


# --------------------------------------------------------------------------


def crash_cycles(args, failures):
    pl = harness.Portlab()
    try:
        pl.start()
        log("part 1: portlab on port %d, lab base %d, database %s" % (pl.port, pl.lab_base, pl.db))
        students = []
        for i in range(args.sessions):
            name = "soak%03d" % i
            students.append((name, join_from(pl, name, source(i)), source(i)))
        log("part 1: %d students joined" % len(students))
        totals = {"lines": 0, "c2s": 0, "s2c": 0, "sessions": 0, "worst_lag": 0.0}
        rng = random.Random(args.seed)
        for cycle in range(1, args.cycles + 1):
            check_deadline()
            sessions = [Session(n, c, src, 25) for n, c, src in students]
            run_parallel(sessions, lambda s: s.open(pl), 10)
            stop = threading.Event()
            typing_from = time.monotonic()
            ts = typists(sessions, stop, 10, args.pace, rng.randrange(1 << 30))
            time.sleep(rng.uniform(1.0, 4.0))
            kill_at = time.monotonic()
            os.kill(pl.proc.pid, signal.SIGKILL)
            pl.proc.wait()
            stop.set()
            for t in ts:
                t.join(30)
            for s in sessions:
                harness.close_quietly(s.ws)
            ok = integrity(pl.db)
            if ok != "ok":
                failures.append("cycle %d: integrity_check says %r" % (cycle, ok))
            pl.start()
            teacher = pl.teacher()
            bad = 0
            lines = sum(s.lines for s in sessions)
            for s in sessions:
                meta, c2s, s2c = transcript(pl, teacher, s.sid)
                problems = []
                if meta.get("close_reason") != "server_restart" or not meta.get("ended_at"):
                    problems.append("closed as %r, ended_at %r" % (meta.get("close_reason"),
                                                                    meta.get("ended_at")))
                old_sent = s.upto(s.sends, kill_at - args.grace)
                old_recv = s.upto(s.recvs, kill_at - args.grace)
                if bytes(s.sent[:len(c2s)]) != c2s:
                    problems.append("recorded client bytes are not what was sent")
                elif len(c2s) < old_sent:
                    problems.append("lost client bytes: %d recorded, %d sent %.2f s before the kill"
                                    % (len(c2s), old_sent, args.grace))
                n = min(len(s2c), len(s.received))
                if s2c[:n] != bytes(s.received[:n]):
                    problems.append("recorded server bytes differ from those received")
                elif len(s2c) < old_recv:
                    problems.append("lost server bytes: %d recorded, %d received %.2f s before"
                                    % (len(s2c), old_recv, args.grace))
                # How far behind the kill the recording was (for the figures).
                if len(c2s) < len(s.sent):
                    idx = next(i for i, (_, tot) in enumerate(s.sends) if tot > len(c2s))
                    totals["worst_lag"] = max(totals["worst_lag"], kill_at - s.sends[idx][0])
                totals["c2s"] += len(c2s)
                totals["s2c"] += len(s2c)
                if problems:
                    bad += 1
                    failures.append("cycle %d session %s (%s): %s"
                                    % (cycle, s.sid, s.student, "; ".join(problems)))
            totals["lines"] += lines
            totals["sessions"] += len(sessions)
            log("cycle %2d: %d sessions, %d lines typed, killed %.2f s in, integrity %s, "
                "%d sessions with problems" % (cycle, len(sessions), lines, kill_at - typing_from,
                                               ok, bad))
        log("part 1 done: %d cycles, %d sessions, %d lines, %d client and %d server bytes "
            "recorded; the newest unrecorded send was at most %.3f s old at a kill (allowed %.2f s)"
            % (args.cycles, totals["sessions"], totals["lines"], totals["c2s"], totals["s2c"],
               totals["worst_lag"], args.grace))
        rc = pl.stop()
        if rc != 0:
            failures.append("part 1: portlab did not exit 0 on SIGTERM (%s)" % rc)
    finally:
        if failures:
            sys.stdout.write(pl.logs(40) + "\n")
        pl.cleanup()


def wide(args, failures):
    extra = []
    n = args.wide
    text = help_text()
    if "--max-sessions" in text:
        extra += ["--max-sessions", str(n + 64)]
    elif n > 500:
        log("part 2: this portlab has no --max-sessions (512 WebSockets in all): running 500")
        n = 500
    if "--max-students" in text:
        extra += ["--max-students", str(n)]
    pl = harness.Portlab(extra)
    try:
        pl.start()
        ports = sorted(TYPING)
        per_student = 4
        n_students = (n + per_student - 1) // per_student
        students = []
        for i in range(n_students):
            name = "wide%04d" % i
            students.append((name, join_from(pl, name, source(i)), source(i)))
        log("part 2: %d students joined" % n_students)
        sessions = []
        for i in range(n):
            name, cookie, src = students[i // per_student]
            sessions.append(Session(name, cookie, src, ports[i % len(ports)]))
        run_parallel(sessions, lambda s: s.open(pl), 16)
        log("part 2: %d sessions open (%s)" % (len(sessions), ", ".join(
            "lab:%d x %d" % (p, sum(1 for s in sessions if s.port == p)) for p in ports)))
        stop = threading.Event()
        started = time.monotonic()
        ts = typists(sessions, stop, 20, args.wide_pace, args.seed)
        while time.monotonic() - started < args.seconds:
            time.sleep(1)
            check_deadline()
        stop.set()
        for t in ts:
            t.join(60)
        dead = [s for s in sessions if s.dead]
        for s in dead:
            failures.append("part 2: session %s (%s, lab:%d) ended early: %r"
                            % (s.sid, s.student, s.port, s.error))
        run_parallel([s for s in sessions if not s.dead], lambda s: s.close(), 16)
        elapsed = time.monotonic() - started
        teacher = pl.teacher()
        mismatched = 0
        for s in sessions:
            deadline = time.monotonic() + 30
            while True:
                meta, c2s, s2c = transcript(pl, teacher, s.sid)
                if meta.get("ended_at") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if c2s != bytes(s.sent) or s2c != bytes(s.received):
                mismatched += 1
                failures.append("part 2: session %s: recorded %d/%d bytes, sent %d, received %d"
                                % (s.sid, len(c2s), len(s2c), len(s.sent), len(s.received)))
            elif meta.get("bytes_up") != len(s.sent) or meta.get("bytes_down") != len(s.received):
                mismatched += 1
                failures.append("part 2: session %s: bytes_up/down %s/%s, sent %d, received %d"
                                % (s.sid, meta.get("bytes_up"), meta.get("bytes_down"),
                                   len(s.sent), len(s.received)))
        lines = sum(s.lines for s in sessions)
        log("part 2 done: %d sessions for %.0f s, %d lines (%.0f a second), %d client and %d "
            "server bytes, %d sessions whose transcript differs, %d ended early; portlab RSS %d kB"
            % (len(sessions), elapsed, lines, lines / elapsed, sum(len(s.sent) for s in sessions),
               sum(len(s.received) for s in sessions), mismatched, len(dead), pl.rss_kb()))
        rc = pl.stop()
        if rc != 0:
            failures.append("part 2: portlab did not exit 0 on SIGTERM (%s)" % rc)
    finally:
        if failures:
            sys.stdout.write(pl.logs(40) + "\n")
        pl.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--wide", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--pace", type=float, default=0.2,
                    help="part 1: mean seconds between one session's lines")
    ap.add_argument("--wide-pace", type=float, default=1.0,
                    help="part 2: mean seconds between one session's lines")
    ap.add_argument("--grace", type=float, default=FLUSH_S + 0.4,
                    help="bytes older than this at a kill must be recorded (s)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--skip-crashes", action="store_true")
    ap.add_argument("--skip-wide", action="store_true")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * args.wide + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # portlab inherits it
    log("soak: %s, seed %d, open files %d" % (harness.BIN, args.seed, want))
    failures = []
    if not args.skip_crashes:
        crash_cycles(args, failures)
    check_deadline()
    if not args.skip_wide:
        wide(args, failures)
    for f in failures[:50]:
        log("FAIL " + f)
    if len(failures) > 50:
        log("... and %d more" % (len(failures) - 50))
    log("soak: %s" % ("FAILED (%d problems)" % len(failures) if failures else "every check held"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
