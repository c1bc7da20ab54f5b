#!/usr/bin/python3
"""run.py -- `make bench`: every relay figure, portlab beside websockify, in one table.

Starts the load client's TCP server (bench/wsload serve), then for each relay
-- portlab, websockify, a plain poll() relay (wsload pollrelay) -- pinned to
the same core, one after the other, ROUNDS rounds of: the 1-byte round trip,
64 MiB target -> browser, 64 MiB browser -> target (relay CPU from /proc,
children included), then 60 and 1,000 typing sessions and idle memory. The
load client's own ceiling is its round trip against the libwebsockets test
server (lws-mirror-protocol). Prints a Markdown table (median of the rounds,
min-max beside it) and, with --write, replaces the table in bench/RESULTS.md.

Loopback only. Asserts nothing: timing goals are read, not tested.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_port_base():
    """A --lab-port-base whose lab ports (base + 21 ... base + 995) fall
    within 1024-9998: below the test harness's port blocks (10000 up, so a
    bench run beside `make test` takes none of its ports), the FTP passive
    range (30000-30099) and the ephemeral range, where thousands of client
    ports may be in use (idlebench)."""
    return free_port() % 8000 + 1003


def tree(root):
    """root and every live descendant."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def cpu_s(root):
    """utime+stime of root's tree, and of root's reaped children."""
    total = 0
    for p in tree(root):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
        if p == root:
            total += int(fields[13]) + int(fields[14])
    return total / CLK


def rss_kb(root, children=True):
    total = 0
    for p in tree(root) if children else [root]:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Bench:
    def __init__(self, opts):
        self.o = opts
        self.wsload = os.path.join(opts.build, "wsload")
        self.portlab_bin = os.path.join(opts.build, "portlab")
        n = os.cpu_count() or 1
        self.client_cpu = "0"
        self.relay_cpu = str(n - 1)
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="portlab-bench-")

    def pin(self, cpu, cmd):
        return (["taskset", "-c", cpu] if shutil.which("taskset") else []) + cmd

    def start(self, cmd, cpu, env=None, wait_port=None):
        p = subprocess.Popen(self.pin(cpu, cmd), stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.tmp, "stderr.%d" % len(self.procs)), "wb"),
                             env=env, start_new_session=True)
        self.procs.append(p)
        if wait_port:
            deadline = time.time() + 15
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", wait_port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise RuntimeError("%s did not listen on %d" % (cmd[0], wait_port))
            time.sleep(0.2)
        return p

    def stop(self, p):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                self.stop(p)

    def client(self, relay_pid, args):
        """Runs wsload with --sync: CPU of the relay's tree across the measured part."""
        cmd = self.pin(self.client_cpu, [self.wsload] + args + ["--sync"])
        c = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = c.stdout.readline()
        if line.strip() != "ready":
            c.kill()
            raise RuntimeError("wsload %s: %r" % (" ".join(args), line))
        cpu0, rss = cpu_s(relay_pid), rss_kb(relay_pid)
        c.stdin.write("\n")
        c.stdin.flush()
        result = c.stdout.readline().strip()
        c.stdout.readline()  # "done"
        cpu1 = cpu_s(relay_pid)
        c.stdin.write("\n")
        c.stdin.flush()
        c.wait(timeout=60)
        fields = dict(kv.split("=", 1) for kv in result.split() if "=" in kv)
        fields["cpu_s"] = cpu1 - cpu0
        fields["rss_kb"] = rss
        return fields

    def idle(self, relay_pid, relay_args, n):
        # The process alone: children of earlier runs (websockify forks per
        # connection) may still be exiting; counting them after is on the
        # safe side.
        time.sleep(2)
        before = rss_kb(relay_pid, children=False)
        cmd = self.pin(self.client_cpu, [self.wsload, "idle"] + relay_args +
                       ["--sessions", str(n), "--sync"])
        c = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        c.stdout.readline()  # "... idle sessions=N"
        line = c.stdout.readline()
        if line.strip() != "ready":
            c.kill()
            raise RuntimeError("idle: %r" % line)
        time.sleep(1)
        after = rss_kb(relay_pid)
        c.stdin.write("\n")
        c.stdin.flush()
        c.wait(timeout=120)
        return (after - before) / n

    def portlab(self, target_port, extra=()):
        port = free_port()
        env = dict(os.environ, PORTLAB_TEACHER_PASSWORD="bench")
        env = {k: v for k, v in env.items() if not k.startswith("PORTLAB_") or
               k == "PORTLAB_TEACHER_PASSWORD"}
        args = [self.portlab_bin, "--listen", "127.0.0.1:%d" % port,
                "--db", os.path.join(self.tmp, "bench-%d.db" % port),
                "--lab-port-base", str(lab_port_base()),
                "--allow", "127.0.0.1:%d" % target_port, "--log-level", "warn",
                "--joins-per-minute", "100000", "--user-sessions", "64",
                "--ws-per-addr", "65536", "--opens-per-minute", "128",
                "--max-students", "100000"] + list(extra)
        return self.start(args, self.relay_cpu, env=env, wait_port=port), port


def med(values):
    return statistics.median(values) if values else float("nan")


def fmt(values, unit, digits=0):
    if not values:
        return "—"
    m = med(values)
    if len(values) == 1:
        return "%.*f %s" % (digits, m, unit)
    return "%.*f %s (%.*f–%.*f)" % (digits, m, unit, digits, min(values), digits, max(values))


def run(opts):
    b = Bench(opts)
    results = {}
    try:
        srv_port = free_port()
        b.start([b.wsload, "serve", str(srv_port)], b.client_cpu, wait_port=srv_port)
        direct = []
        for _ in range(opts.rounds):
            out = subprocess.run(b.pin(b.client_cpu, [b.wsload, "rtt", "--relay", "direct", "--port",
                                                      str(srv_port), "--n", str(opts.rtt_n)]),
                                 capture_output=True, text=True, check=True).stdout
            direct.append(float(re.search(r"p50_us=([\d.]+)", out).group(1)))
        results["direct_p50"] = direct

        mirror = []
        if shutil.which("libwebsockets-test-server"):
            lport = free_port()
            p = b.start(["libwebsockets-test-server", "--port=%d" % lport], b.relay_cpu,
                        wait_port=lport)
            for _ in range(opts.rounds):
                f = b.client(p.pid, ["rtt", "--relay", "mirror", "--port", str(lport), "--n",
                                     str(opts.rtt_n)])
                mirror.append(float(f["p50_us"]))
            b.stop(p)
        results["mirror_p50"] = mirror

        relays = []
        pl, pl_port = b.portlab(srv_port)
        relays.append(("portlab", pl, ["--relay", "portlab", "--port", str(pl_port),
                                       "--target-port", str(srv_port)]))
        if shutil.which("websockify"):
            wport = free_port()
            wp = b.start(["websockify", "127.0.0.1:%d" % wport, "127.0.0.1:%d" % srv_port],
                         b.relay_cpu, wait_port=wport)
            relays.append(("websockify", wp, ["--relay", "websockify", "--port", str(wport)]))
        pport = free_port()
        pp = b.start([b.wsload, "pollrelay", str(pport), str(srv_port)], b.relay_cpu,
                     wait_port=pport)
        relays.append(("poll relay", pp, ["--relay", "pollrelay", "--port", str(pport)]))

        for name, proc, rargs in relays:
            r = results.setdefault(name, {"rtt": [], "down": [], "up": [], "down_cpu": [],
                                          "up_cpu": []})
            for rnd in range(opts.rounds):
                f = b.client(proc.pid, ["rtt"] + rargs + ["--n", str(opts.rtt_n)])
                r["rtt"].append(float(f["p50_us"]) - direct[rnd])
                for way in ("down", "up"):
                    f = b.client(proc.pid, [way] + rargs + ["--bytes", str(opts.bytes)])
                    r[way].append(float(f["MBps"]))
                    r[way + "_cpu"].append(f["cpu_s"] / (opts.bytes / 1e9))
                sys.stderr.write("%s round %d: rtt +%.0f us, down %.0f MB/s, up %.0f MB/s\n"
                                 % (name, rnd + 1, r["rtt"][-1], r["down"][-1], r["up"][-1]))
            if name != "poll relay":
                for n in opts.typing:
                    if name == "websockify" and n > 100:
                        continue  # a process per session: 1,000 would be 4 GB
                    f = b.client(proc.pid, ["typing"] + rargs + ["--sessions", str(n), "--rate",
                                                               "10", "--seconds",
                                                               str(opts.typing_seconds)])
                    r["typing_%d" % n] = (float(f["p50_us"]), float(f["p99_us"]))
                    sys.stderr.write("%s typing %d: p50 %.0f us p99 %.0f us\n"
                                     % (name, n, r["typing_%d" % n][0], r["typing_%d" % n][1]))
                if name == "portlab":
                    continue  # measured below on a fresh process
                n = min(opts.idle, 50)
                r["idle_kb"] = b.idle(proc.pid, rargs, n)
                r["idle_n"] = n
                sys.stderr.write("%s idle: %.1f KiB per session at %d\n" % (name, r["idle_kb"], n))
        b.stop(pl)
        # Idle sessions on a fresh portlab: after the bulk rounds its heap
        # holds freed pages that are already resident, and new sessions
        # reuse them, which hides what a session costs.
        pl3, pl3_port = b.portlab(srv_port)
        r = results["portlab"]
        r["idle_kb"] = b.idle(pl3.pid, ["--relay", "portlab", "--port", str(pl3_port),
                                        "--target-port", str(srv_port)], opts.idle)
        r["idle_n"] = opts.idle
        sys.stderr.write("portlab idle: %.1f KiB per session at %d\n" % (r["idle_kb"], opts.idle))
        b.stop(pl3)
        # Recording off: what recording costs the round trip.
        pl2, pl2_port = b.portlab(srv_port, ["--no-record"])
        norec = []
        for rnd in range(opts.rounds):
            f = b.client(pl2.pid, ["rtt", "--relay", "portlab", "--port", str(pl2_port),
                                   "--target-port", str(srv_port), "--n", str(opts.rtt_n)])
            norec.append(float(f["p50_us"]) - direct[rnd])
        results["portlab_norec_rtt"] = norec
        b.stop(pl2)
    finally:
        b.close()
    return results


def table(opts, res):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    pl, ws, pr = res.get("portlab", {}), res.get("websockify", {}), res.get("poll relay", {})
    out = []
    out.append("Machine: %s, %d cores, %s; load average at the end %.1f"
               % (model, os.cpu_count(), platform.release(), os.getloadavg()[0]))
    out.append("Date: %s; commit %s%s; %d rounds, median (min–max)"
               % (datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  commit, " (with local changes)" if dirty else "", opts.rounds))
    out.append("")
    out.append("| measure | portlab | websockify | plain poll() relay | goal |")
    out.append("|---|---|---|---|---|")
    out.append("| 1-byte round trip added over direct TCP, p50 (direct: %s) | %s | %s | %s | ≤ half of websockify's |"
               % (fmt(res["direct_p50"], "µs"), fmt(pl.get("rtt"), "µs"), fmt(ws.get("rtt"), "µs"),
                  fmt(pr.get("rtt"), "µs")))
    out.append("| … portlab with --no-record | %s | | | recording ≤ 10%% of it |"
               % fmt(res.get("portlab_norec_rtt"), "µs"))
    for way, label in (("down", "target → browser"), ("up", "browser → target")):
        out.append("| %s MiB %s, MB/s | %s | %s | %s | ≥ 3× websockify, ≥ ½ poll relay |"
                   % (opts.bytes >> 20, label, fmt(pl.get(way), ""), fmt(ws.get(way), ""),
                      fmt(pr.get(way), "")))
        out.append("| relay CPU per GB, %s | %s | %s | %s | ≤ ⅓ of websockify |"
                   % (label, fmt(pl.get(way + "_cpu"), "s", 2), fmt(ws.get(way + "_cpu"), "s", 2),
                      fmt(pr.get(way + "_cpu"), "s", 2)))
    for n in opts.typing:
        def t(r):
            v = r.get("typing_%d" % n)
            return "p50 %.0f µs, p99 %.0f µs" % v if v else "—"
        out.append("| %d sessions typing 10 keys/s, round trip | %s | %s | — | p99 < %s |"
                   % (n, t(pl), t(ws), "1 ms" if n <= 60 else "5 ms"))
    out.append("| memory per idle session | %s | %s | — | < 16 KiB at 10,000 |"
               % ("%.1f KiB at %d" % (pl["idle_kb"], pl["idle_n"]) if "idle_kb" in pl else "—",
                  "%.0f KiB at %d" % (ws["idle_kb"], ws["idle_n"]) if "idle_kb" in ws else "—"))
    out.append("| load client's own floor: round trip through the lws test server, p50 | %s | | | |"
               % fmt(res.get("mirror_p50"), "µs"))
    return "\n".join(out) + "\n"


def write_results(marker, text):
    """Replaces the text between <!-- marker:begin --> and <!-- marker:end -->
    in bench/RESULTS.md (each bench owns one such table)."""
    path = os.path.join(HERE, "RESULTS.md")
    with open(path) as f:
        doc = f.read()
    begin, end = "<!-- %s:begin -->\n" % marker, "<!-- %s:end -->" % marker
    i, j = doc.index(begin) + len(begin), doc.index(end)
    with open(path, "w") as f:
        f.write(doc[:i] + text + doc[j:])
    print("bench/RESULTS.md updated")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-release"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--bytes", type=int, default=64 << 20)
    ap.add_argument("--rtt-n", type=int, default=2000)
    ap.add_argument("--typing", default="60,1000")
    ap.add_argument("--typing-seconds", type=float, default=10)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--write", action="store_true", help="replace the table in bench/RESULTS.md")
    opts = ap.parse_args()
    opts.typing = [int(x) for x in opts.typing.split(",") if x]
    res = run(opts)
    text = table(opts, res)
    print(text)
    with open(os.path.join(opts.build, "bench-results.json"), "w") as f:
        json.dump(res, f, indent=1)
    if opts.write:
        write_results("bench", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
