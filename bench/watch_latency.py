#!/usr/bin/python3
"""watch_latency.py -- how late a teacher's watcher sees a keystroke, and
whether watchers (reading or stalled) slow the student's round trip.

Starts a TCP echo server and portlab on free loopback ports. A student
session to the echo server times N round trips of one short line, three
times: with no watcher; with a class watcher that reads (timing, for each
line, from the student's send to the watcher's "event" carrying it); and
with four class watchers that never read (their queues overflow into gaps).

Usage: bench/watch_latency.py [--n 1000] [--bin build/portlab]
Loopback only. Prints figures; asserts nothing about time.
"""
import argparse
import base64
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import websocket  # Debian: python3-websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from relay_rtt import echo_server, percentile  # noqa: E402
from run import free_port, lab_port_base  # noqa: E402


def report(label, samples):
    ms = [s * 1e3 for s in samples]
    print(f"{label:<34} n={len(ms):<6} mean={statistics.mean(ms):7.2f} ms  "
          f"p50={percentile(ms, 50):7.2f} ms  p99={percentile(ms, 99):7.2f} ms  "
          f"max={max(ms):7.2f} ms")


class Portlab:
    def __init__(self, binary, echo_port):
        self.tmp = tempfile.mkdtemp(prefix="portlab-bench-")
        self.port = free_port()
        args = [binary, "--listen", f"127.0.0.1:{self.port}",
                "--db", os.path.join(self.tmp, "b.db"),
                "--lab-port-base", str(lab_port_base()),
                "--allow", f"127.0.0.1:{echo_port}", "--log-level", "warn",
                "--watch-queue", "64K"]
        env = dict(os.environ, PORTLAB_TEACHER_PASSWORD="bench")
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/api/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)

    def cookie(self, path, body):
        c = http.client.HTTPConnection("127.0.0.1", self.port)
        c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.getheader("Set-Cookie").split(";")[0]

    def ws(self, cookie, rcvbuf=None):
        s = socket.socket()
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.connect(("127.0.0.1", self.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws", socket=s,
                                           subprotocols=["portlab.v1"], cookie=cookie,
                                           origin=f"http://127.0.0.1:{self.port}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def round_trips(ws, n, watcher=None):
    """Round trips of numbered lines; with a watcher, also the time until
    the watcher got each line as a c2s event."""
    rtt, seen = [], []
    sent_at = {}
    done = threading.Event()

    def watch():
        while not done.is_set():
            try:
                m = json.loads(watcher.recv())
            except Exception:
                return
            if m.get("type") == "event" and m.get("dir") == "c2s":
                data = base64.b64decode(m["data_b64"])
                t = sent_at.get(data)
                if t is not None:
                    seen.append(time.perf_counter() - t)
                    if len(seen) == n:
                        return

    th = None
    if watcher:
        th = threading.Thread(target=watch, daemon=True)
        th.start()
    for i in range(n):
        line = b"NOOP %06d\r\n" % i
        t0 = time.perf_counter()
        sent_at[line] = t0
        ws.send_binary(line)
        got = b""
        while len(got) < len(line):
            got += ws.recv()
        rtt.append(time.perf_counter() - t0)
    if th:
        th.join(10)
    done.set()
    return rtt, seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bin", default=os.path.join(here, "..", "build", "portlab"))
    opts = ap.parse_args()
    echo_port = echo_server()
    pl = Portlab(opts.bin, echo_port)
    try:
        teacher = pl.cookie("/api/teacher/login", {"password": "bench"})
        student = pl.cookie("/api/join", {"name": "bench"})
        ws = pl.ws(student)
        ws.send(json.dumps({"type": "open", "host": "127.0.0.1", "port": echo_port}))
        assert json.loads(ws.recv())["type"] == "opened"
        print(f"keystroke round trip and watcher delay, 13-byte lines, {opts.n} rounds, loopback")
        report("round trip, no watcher", round_trips(ws, opts.n)[0])

        w = pl.ws(teacher)
        w.send(json.dumps({"type": "watch", "scope": "class"}))
        rtt, seen = round_trips(ws, opts.n, w)
        report("round trip, 1 watcher reading", rtt)
        if seen:
            report("send -> watcher's event", seen)
        w.close()

        stalled = []
        for _ in range(4):
            s = pl.ws(teacher, rcvbuf=4096)
            s.send(json.dumps({"type": "watch", "scope": "class"}))
            stalled.append(s)
        # Fill their queues first, then time.
        ws.send_binary(b"x" * 60000)
        got = 0
        while got < 60000:
            got += len(ws.recv())
        report("round trip, 4 watchers stalled", round_trips(ws, opts.n)[0])
        for s in stalled:
            s.close()
        ws.close()
    finally:
        pl.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
