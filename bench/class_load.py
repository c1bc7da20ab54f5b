#!/usr/bin/python3
"""class_load.py -- what one core carries: a class typing at once.

Starts portlab on free loopback ports, joins STUDENTS students, opens
SESSIONS sessions each to the built-in SMTP lab server (lab:25), and has
every session type one command (NOOP) every PERIOD seconds for SECONDS
seconds, waiting for each reply, all recorded. Then the same sessions type
as fast as they can for SECONDS. It reads portlab's CPU time and resident
memory from /proc and prints, per run, the lines relayed, the CPU used and
what that means per core: students at the typing rate, and lines per
second at saturation. Last, it sends SIGTERM with every session open and
times the stop (Docker kills after 10 s).

Usage: bench/class_load.py [--students 60] [--sessions 2] [--period 2]
                           [--seconds 20] [--bin build/portlab]
Loopback only. Prints figures; asserts nothing about time.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import websocket  # Debian: python3-websocket

from run import free_port, lab_port_base  # the relay bench's port choice

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def request(port, method, path, body=None, cookie=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"}
    if cookie:
        headers["Cookie"] = cookie
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = c.getresponse()
    r.read()
    return r


def reply(ws):
    """Reads binary frames until a whole line ending in CRLF has come."""
    got = b""
    while not got.endswith(b"\r\n"):
        op, data = ws.recv_data()
        if op == websocket.ABNF.OPCODE_BINARY:
            got += data
    return got


def session(port, cookie):
    ws = websocket.create_connection("ws://127.0.0.1:%d/ws" % port, subprotocols=["portlab.v1"],
                                     cookie=cookie, origin="http://127.0.0.1:%d" % port)
    ws.send(json.dumps({"type": "open", "host": "lab", "port": 25}))
    msg = json.loads(ws.recv())
    assert msg["type"] == "opened", msg
    reply(ws)  # the 220 greeting
    return ws


def type_lines(ws, period, until, counts, idx):
    n = 0
    next_at = time.monotonic()
    while time.monotonic() < until:
        if period:
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += period
        ws.send_binary(b"NOOP\r\n")
        reply(ws)
        n += 1
    counts[idx] = n


def run(pid, sockets, period, seconds):
    counts = [0] * len(sockets)
    until = time.monotonic() + seconds
    c0, t0 = cpu_seconds(pid), time.monotonic()
    threads = [threading.Thread(target=type_lines, args=(ws, period, until, counts, i))
               for i, ws in enumerate(sockets)]
    for i, t in enumerate(threads):
        t.start()
    for t in threads:
        t.join()
    return sum(counts), cpu_seconds(pid) - c0, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=60)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--period", type=float, default=2.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                  "portlab"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="portlab-load-")
    port = free_port()
    args = [a.bin, "--listen", "127.0.0.1:%d" % port, "--db", os.path.join(tmp, "l.db"),
            "--lab-port-base", str(lab_port_base()), "--log-level", "warn",
            "--ftp-pasv-ports", "%d-%d" % (44000 + port % 1000, 44000 + port % 1000 + 9),
            "--max-sessions", str(a.students * a.sessions + 8), "--opens-per-minute", "1000"]
    proc = subprocess.Popen(args, env=dict(os.environ, PORTLAB_TEACHER_PASSWORD="bench"),
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if request(port, "GET", "/api/health").status == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        idle_rss = rss_mb(proc.pid)
        sockets = []
        for i in range(a.students):
            r = request(port, "POST", "/api/join", {"name": "s%d-%d" % (i, port)})
            assert r.status == 201, r.status
            cookie = r.getheader("Set-Cookie").split(";")[0]
            for _ in range(a.sessions):
                sockets.append(session(port, cookie))
        open_rss = rss_mb(proc.pid)
        n = len(sockets)
        print("%d students x %d sessions = %d open sessions to lab:25, recording on"
              % (a.students, a.sessions, n))
        print("resident memory: %.1f MB idle, %.1f MB with the sessions open" % (idle_rss,
                                                                                 open_rss))
        lines, cpu, wall = run(proc.pid, sockets, a.period, a.seconds)
        share = cpu / wall
        print("typing, one line per session every %.1f s: %d lines in %.1f s, CPU %.1f %% of "
              "one core -> about %d sessions (%d students) per core at this rate"
              % (a.period, lines, wall, 100 * share, n / share if share else 0,
                 a.students / share if share else 0))
        lines, cpu, wall = run(proc.pid, sockets, 0, a.seconds)
        print("as fast as they can: %d lines in %.1f s = %.0f lines/s, CPU %.1f %% of one core "
              "-> about %.0f lines/s per core" % (lines, wall, lines / wall, 100 * cpu / wall,
                                                  lines / cpu if cpu else 0))
        # Docker sends SIGTERM and kills after 10 s: time the stop with every
        # session still open (each is closed as server_shutdown first).
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        print("SIGTERM with %d sessions open: exit %d after %.2f s (Docker allows 10 s)"
              % (n, rc, time.monotonic() - t0))
        for ws in sockets:
            ws.close()
    finally:
        proc.terminate()
        proc.wait(10)
        subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
