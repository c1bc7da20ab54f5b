#!/usr/bin/python3
"""export_stall.py -- does a large transcript export stall other students?

Starts portlab and a TCP echo server on loopback, writes a transcript of
--mib MiB into the database (the same deterministic transcript the export
tests use), and times N keystroke round trips of a second student through the
relay: first with nothing else going on, then while --parallel clients
download that transcript over and over (--format, default json) as fast as
they can read.

Usage: bench/export_stall.py [--n 2000] [--mib 8] [--parallel 4] [--format json]
                             [--bin build/portlab]
Loopback only. Prints figures; asserts nothing about time.
"""
import argparse
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

from run import free_port, lab_port_base  # the relay bench's port choice

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from test_exports import build_transcript  # noqa: E402  (the tests' transcript)

SID = 4242


def echo_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def serve(conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
        conn.close()

    def accept_loop():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return srv.getsockname()[1]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def report(label, samples):
    ms = [s * 1e3 for s in samples]
    print(f"{label:<34} n={len(ms):<6} p50={percentile(ms, 50):8.2f} ms  "
          f"p99={percentile(ms, 99):8.2f} ms  max={max(ms):8.2f} ms", flush=True)


def join(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("POST", "/api/join", body=json.dumps({"name": name}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.getheader("Set-Cookie").split(";")[0]


def rtt(ws, n, line):
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        ws.send_binary(line)
        got = b""
        while len(got) < len(line):
            got += ws.recv()
        samples.append(time.perf_counter() - t0)
    return samples


def downloader(port, cookie, fmt, stop, counts, i):
    while not stop.is_set():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("GET", f"/api/sessions/{SID}/transcript?format={fmt}",
                  headers={"Cookie": cookie})
        r = c.getresponse()
        while not stop.is_set() and r.read(65536):
            pass
        c.close()
        counts[i] += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--mib", type=int, default=8)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--format", default="json")
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "portlab"))
    opts = ap.parse_args()
    line = b"RETR 1\r\n"
    echo_port = echo_server()
    tmp = tempfile.mkdtemp(prefix="portlab-bench-")
    port = free_port()
    db = os.path.join(tmp, "b.db")
    args = [opts.bin, "--listen", f"127.0.0.1:{port}", "--db", db,
            "--lab-port-base", str(lab_port_base()),
            "--allow", f"127.0.0.1:{echo_port}", "--log-level", "warn"]
    env = dict(os.environ, PORTLAB_TEACHER_PASSWORD="bench")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/api/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        exporter = join(port, "exporter")
        build_transcript(db, "exporter", SID, opts.mib * 1024 * 1024, 7)
        typist = join(port, "typist")
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", subprotocols=["portlab.v1"],
                                         cookie=typist, origin=f"http://127.0.0.1:{port}")
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ws.send(json.dumps({"type": "open", "host": "127.0.0.1", "port": echo_port}))
        opened = json.loads(ws.recv())
        assert opened["type"] == "opened", opened
        print(f"keystroke round trip, {len(line)}-byte line, {opts.n} rounds; "
              f"{opts.mib} MiB transcript, format {opts.format}", flush=True)
        report("no export running", rtt(ws, opts.n, line))
        stop = threading.Event()
        counts = [0] * opts.parallel
        threads = [threading.Thread(target=downloader, daemon=True,
                                    args=(port, exporter, opts.format, stop, counts, i))
                   for i in range(opts.parallel)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        report(f"{opts.parallel} exports downloading", rtt(ws, opts.n, line))
        stop.set()
        for t in threads:
            t.join(120)
        print(f"exports completed meanwhile: {sum(counts)}", flush=True)
        ws.send(json.dumps({"type": "close"}))
        ws.close()
        return 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
