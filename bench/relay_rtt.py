#!/usr/bin/python3
"""relay_rtt.py -- keystroke round trip through the relay, recording on and off.

Starts a TCP echo server and portlab on free loopback ports, opens a session to
the echo server, and times N round trips of one short line (what Enter on a
typed command sends). It does this once with recording on and once with
--no-record, and prints the figures for both plus a direct TCP baseline. The
question it answers: does the recorder stall the relay?

Usage: bench/relay_rtt.py [--n 2000] [--bin build/portlab]
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
    us = [s * 1e6 for s in samples]
    print(f"{label:<28} n={len(us):<6} mean={statistics.mean(us):8.1f} us  "
          f"p50={percentile(us, 50):8.1f} us  p99={percentile(us, 99):8.1f} us  "
          f"max={max(us):8.1f} us")


def direct(port, n, line):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        s.sendall(line)
        got = b""
        while len(got) < len(line):
            got += s.recv(65536)
        samples.append(time.perf_counter() - t0)
    s.close()
    return samples


def through_portlab(binary, echo_port, n, line, record):
    tmp = tempfile.mkdtemp(prefix="portlab-bench-")
    port = free_port()
    args = [binary, "--listen", f"127.0.0.1:{port}", "--db", os.path.join(tmp, "b.db"),
            "--lab-port-base", str(lab_port_base()),
            "--allow", f"127.0.0.1:{echo_port}", "--log-level", "warn"]
    if not record:
        args.append("--no-record")
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
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("POST", "/api/join", body=json.dumps({"name": "bench"}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        cookie = r.getheader("Set-Cookie").split(";")[0]
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", subprotocols=["portlab.v1"],
                                         cookie=cookie, origin=f"http://127.0.0.1:{port}")
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ws.send(json.dumps({"type": "open", "host": "127.0.0.1", "port": echo_port}))
        opened = json.loads(ws.recv())
        assert opened["type"] == "opened", opened
        samples = []
        for _ in range(n):
            t0 = time.perf_counter()
            ws.send_binary(line)
            got = b""
            while len(got) < len(line):
                got += ws.recv()
            samples.append(time.perf_counter() - t0)
        ws.send(json.dumps({"type": "close"}))
        ws.close()
        return samples
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bin", default=os.path.join(here, "..", "build", "portlab"))
    opts = ap.parse_args()
    line = b"RETR 1\r\n"
    echo_port = echo_server()
    print(f"keystroke round trip, {len(line)}-byte line, {opts.n} rounds, loopback")
    report("direct TCP", direct(echo_port, opts.n, line))
    report("portlab, recording off", through_portlab(opts.bin, echo_port, opts.n, line, False))
    report("portlab, recording on", through_portlab(opts.bin, echo_port, opts.n, line, True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
