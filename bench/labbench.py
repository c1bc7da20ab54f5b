#!/usr/bin/python3
"""labbench.py -- the lab's mail servers through the relay (issue 11, goal 5).

Starts a Release portlab pinned to the last core and runs `wsload mail` on
core 0: SESSIONS students join; SESSIONS WebSockets open lab:25 and, all at
once, each delivers one mail to the next student (EHLO, MAIL, RCPT, DATA, the
message, QUIT); then SESSIONS WebSockets open lab:143 and each student logs
in, selects INBOX and fetches it (LOGIN, SELECT, FETCH, LOGOUT). Every reply
is timed from its command to its last line. Prints p50 / p99 / max per
command (median over ROUNDS rounds, min-max beside it), portlab's CPU over
the rounds, and checks that nothing was lost:

- every mail is in its recipient's mailbox afterwards: the IMAP session of
  each student fetches the mail sent to it exactly once, found by the
  sender's token (in wsload), and the database's INBOX of each recipient
  holds that mail once and no other bench mail;
- bytes recorded = bytes sent, per session: the payload bytes the client
  sent and received on each session (its ledger) against the sum of that
  session's recorded events (c2s, s2c), read from portlab's database once
  every session has ended.

Loopback only. Asserts nothing about time; a lost mail or byte is printed
as a failure and makes the exit status 1.
"""
import argparse
import os
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as relaybench  # noqa: E402  (Bench, cpu_s, fmt: one way to start and pin)

SMTP_STEPS = ["EHLO", "MAIL", "RCPT", "DATA", "end of data", "QUIT"]
IMAP_STEPS = ["LOGIN", "SELECT", "FETCH", "LOGOUT"]


def parse(lines):
    """wsload mail's output -> {(proto, step): {p50, p99, max}}, {proto: summary}."""
    steps, summary = {}, {}
    for line in lines:
        w = line.split()
        if len(w) < 3 or w[0] != "lab":
            continue
        kv = dict(x.split("=", 1) for x in w[2:] if "=" in x)
        if line.startswith("lab %s step=" % w[1]):
            name = line.split("step=", 1)[1].split(" n=")[0]
            steps[(w[1], name)] = {k: float(kv[k + "_us"]) for k in ("p50", "p99", "max")}
        else:
            summary[w[1]] = kv
    return steps, summary


def check_db(db_path, ledger_path, deadline_s, no_record=False):
    """Waits until every session of the ledger has ended, then compares
    (with no_record: that nothing was recorded)."""
    rows = []
    with open(ledger_path) as f:
        for line in f:
            proto, sid, sent, received = line.split()
            rows.append((proto, int(sid), int(sent), int(received)))
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=30)
    ids = [r[1] for r in rows]
    deadline = time.time() + deadline_s
    while True:
        q = "SELECT count(*) FROM sessions WHERE id IN (%s) AND ended_us IS NULL" % \
            ",".join("?" * len(ids))
        open_left = con.execute(q, ids).fetchone()[0]
        if open_left == 0 or time.time() > deadline:
            break
        time.sleep(0.2)
    recorded = {}
    for sid, d, n in con.execute(
            "SELECT session_id, dir, sum(length(data)) FROM events WHERE layer = 0 "
            "AND dir IN (1, 2) GROUP BY session_id, dir"):
        recorded[(sid, d)] = n
    bad = []
    for proto, sid, sent, received in rows:
        up, down = recorded.get((sid, 1), 0), recorded.get((sid, 2), 0)
        if (up, down) != ((0, 0) if no_record else (sent, received)):
            bad.append("%s session %d: sent %d / received %d, recorded %d / %d"
                       % (proto, sid, sent, received, up, down))
    con.close()
    return len(rows), open_left, bad


def check_mailboxes(db_path, pid, n):
    """Student bench-PID-i's INBOX holds the mail of bench-PID-(i-1), once, and no other
    bench mail (its token is in the body: portlab-bench-token-PID-SENDER-end)."""
    con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=30)
    ok = 0
    for i in range(n):
        name = "bench-%d-%d" % (pid, i)
        bodies = [bytes(b) for (b,) in con.execute(
            "SELECT m.body FROM lab_messages m JOIN users u ON u.id = m.user_id "
            "WHERE u.name = ? AND m.mailbox = 'INBOX'", (name,))]
        mine = b"portlab-bench-token-%d-%d-end" % (pid, (i - 1) % n)
        tokens = sum(b.count(b"portlab-bench-token-") for b in bodies)
        if tokens == 1 and sum(b.count(mine) for b in bodies) == 1:
            ok += 1
    con.close()
    return ok, n


def one_round(b, pl, pl_port, db_path, opts, k):
    ledger = os.path.join(b.tmp, "ledger-%d" % k)
    cmd = b.pin(b.client_cpu, [b.wsload, "mail", "--relay", "portlab", "--port", str(pl_port),
                               "--sessions", str(opts.sessions), "--size", str(opts.body),
                               "--seconds", str(opts.hang_guard), "--ledger", ledger, "--sync"])
    c = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = c.stdout.readline()
    if line.strip() != "ready":
        c.kill()
        raise RuntimeError("wsload mail: %r" % line)
    cpu0 = relaybench.cpu_s(pl.pid)
    t0 = time.time()
    c.stdin.write("\n")
    c.stdin.flush()
    out = []
    for line in c.stdout:
        if line.strip() == "done":
            break
        out.append(line.rstrip("\n"))
    wall = time.time() - t0
    cpu1 = relaybench.cpu_s(pl.pid)
    c.stdin.write("\n")
    c.stdin.flush()
    rc = c.wait(timeout=60)
    steps, summary = parse(out)
    nsess, open_left, bad = check_db(db_path, ledger, opts.hang_guard, opts.no_record)
    # The client's pid names its students: bench-PID-i.
    mails_ok, recipients = check_mailboxes(db_path, c.pid, opts.sessions)
    return {"steps": steps, "summary": summary, "rc": rc, "cpu_s": cpu1 - cpu0, "wall_s": wall,
            "sessions_checked": nsess, "sessions_open": open_left, "bytes_bad": bad,
            "mails_ok": mails_ok, "recipients": recipients}


def table(opts, rounds, load):
    def col(proto, step, what):
        return relaybench.fmt([r["steps"][(proto, step)][what] / 1000 for r in rounds
                               if (proto, step) in r["steps"]], "ms", 2)
    out = ["Lab servers through the relay%s: %d SMTP then %d IMAP sessions at once, %d rounds, "
           "median (min–max); load average %s"
           % (" (portlab --no-record)" if opts.no_record else "", opts.sessions, opts.sessions,
              len(rounds), load),
           "", "| command | p50 | p99 | max |", "|---|---|---|---|"]
    for proto, names in (("smtp", SMTP_STEPS), ("imap", IMAP_STEPS)):
        for s in names + ["open"]:
            label = "%s %s" % (proto.upper(), s if s != "open" else
                               "open (WebSocket + session, one at a time)")
            out.append("| %s | %s | %s | %s |" % (label, col(proto, s, "p50"), col(proto, s, "p99"),
                                                  col(proto, s, "max")))
    for proto in ("smtp", "imap"):
        secs = [float(r["summary"][proto]["seconds"]) for r in rounds if proto in r["summary"]]
        out.append("| %s: all %d sessions, first command to last reply | %s | | |"
                   % (proto.upper(), opts.sessions, relaybench.fmt(secs, "s", 2)))
    cpu = [r["cpu_s"] for r in rounds]
    out.append("| portlab CPU per round (both phases) | %s | | |" % relaybench.fmt(cpu, "s", 2))
    out.append("")
    for i, r in enumerate(rounds):
        s, m = r["summary"], r
        out.append("Round %d: SMTP failed %s, unfinished %s; IMAP failed %s, unfinished %s, "
                   "mails found by IMAP %s/%d; mailboxes holding the mail sent to them, once: %d/%d; "
                   "sessions whose recorded bytes = bytes sent and received%s %d/%d%s"
                   % (i + 1, s.get("smtp", {}).get("failed", "?"),
                      s.get("smtp", {}).get("unfinished", "?"), s.get("imap", {}).get("failed", "?"),
                      s.get("imap", {}).get("unfinished", "?"),
                      s.get("imap", {}).get("mails_found", "?"), opts.sessions, m["mails_ok"],
                      m["recipients"], " (--no-record: none recorded)" if opts.no_record else "",
                      m["sessions_checked"] - len(m["bytes_bad"]),
                      m["sessions_checked"],
                      "" if not m["sessions_open"] else " (%d never ended)" % m["sessions_open"]))
        for line in m["bytes_bad"][:5]:
            out.append("  %s" % line)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(relaybench.ROOT, "build-release"))
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--body", type=int, default=1024, help="bytes of each mail's body")
    ap.add_argument("--hang-guard", type=float, default=300)
    ap.add_argument("--no-record", action="store_true",
                    help="run portlab with --no-record (then no recorded bytes to compare)")
    ap.add_argument("--write", action="store_true", help="replace the table in bench/RESULTS.md")
    opts = ap.parse_args()
    b = relaybench.Bench(opts)
    rounds = []
    try:
        pl, pl_port = b.portlab(relaybench.free_port(), ["--no-record"] if opts.no_record else [])
        db_path = os.path.join(b.tmp, "bench-%d.db" % pl_port)
        for k in range(opts.rounds):
            rounds.append(one_round(b, pl, pl_port, db_path, opts, k))
        load = "%.1f / %.1f / %.1f" % os.getloadavg()
    finally:
        b.close()
    text = table(opts, rounds, load)
    print(text)
    if opts.write:
        relaybench.write_results("labbench", text)
    lost = any(r["rc"] or r["bytes_bad"] or r["sessions_open"] or r["mails_ok"] != opts.sessions
               for r in rounds)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
