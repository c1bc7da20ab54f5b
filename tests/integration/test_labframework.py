"""test_labframework.py -- the lab servers' socket backend (protocols/labsock.c)
against the real binary, with raw sockets only.

Whatever line-protocol modules the binary was built with: each one's port
greets; 127.0.0.1 is not held to the per-address cap (a whole class
arrives from there through the relay); the per-server connection cap
refuses the next connection and frees its slot again; a client that
sends commands but never reads is paused instead of growing the server;
and the FTP data channel accepts only the control connection's address
and delivers every byte in passive and active mode. The module list is
read from the server's own start-up log, so the test follows modules.c.
"""

import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import LOOPBACK, PortlabTestCase  # noqa: E402

LIM_LAB_CONNS = 256  # server/portlab_limits.h
LIM_LAB_CONNS_PER_ADDR = 16

# The start of each module's greeting (RFC 959, 854, 5321, 1939, 9051).
GREETING = {
    "ftp": re.compile(rb"^220[ -]"),
    "telnet": re.compile(rb"^\xff[\xfb-\xfe]"),
    "smtp": re.compile(rb"^220[ -]"),
    "pop3": re.compile(rb"^\+OK"),
    "imap": re.compile(rb"^\* (OK|PREAUTH)"),
    "ssh": re.compile(rb"^SSH-2\.0-"),
}
# Servers where the client speaks first (RFC 7766, 3912, 1288): no greeting.
SILENT = {"dns", "whois", "finger"}


def lab_servers(pl, timeout=5.0):
    """{name: port} from 'lab server NAME listening on ADDR:PORT' log lines."""
    deadline = time.monotonic() + timeout
    while True:
        with open(pl.stderr_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        found = {m.group(1): int(m.group(2))
                 for m in re.finditer(r"lab server (\w+) listening on \S+:(\d+)", text)}
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


connect = harness.connect_from
read_greeting = harness.read_greeting


def read_line(s, timeout=5.0):
    data = b""
    s.settimeout(timeout)
    while not data.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data


def ftp_reply(s, timeout=5.0):
    """One FTP reply, multi-line replies included (RFC 959 section 4.2)."""
    line = read_line(s, timeout)
    if len(line) >= 4 and line[3:4] == b"-":
        code = line[:3]
        while True:
            nxt = read_line(s, timeout)
            line += nxt
            if not nxt or (nxt[:3] == code and nxt[3:4] == b" "):
                break
    return line


def is_closed(s, timeout=3.0):
    """True if the peer closes s (EOF or reset) within timeout, reading
    and discarding anything sent first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not s.recv(4096):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


class LabFramework(PortlabTestCase):
    def setUp(self):
        super().setUp()
        self.servers = lab_servers(self.pl)
        if not self.servers:
            self.skipTest("this portlab starts no line-protocol lab servers")
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        super().tearDown()

    def open(self, port, **kw):
        s = connect(port, **kw)
        self.socks.append(s)
        return s

    def pick(self, *preferred):
        for name in preferred + tuple(sorted(self.servers)):
            if name in self.servers:
                return name, self.servers[name]
        raise unittest.SkipTest("no lab server")

    def test_every_module_listens_on_base_plus_well_known_port_and_greets(self):
        wk = {"ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "whois": 43, "dns": 53, "finger": 79,
              "pop3": 110, "imap": 143}
        for name, port in sorted(self.servers.items()):
            with self.subTest(module=name):
                if name in wk:
                    self.assertEqual(port, self.pl.lab_base + wk[name])
                s = self.open(port)
                if name in SILENT:
                    continue  # connected; it waits for the client's query
                data = read_greeting(s, GREETING.get(name, re.compile(rb".")))
                self.assertRegex(data, GREETING.get(name, re.compile(rb".")), data)
        self.assertEqual(len(set(self.servers.values())), len(self.servers))

    def test_loopback_is_exempt_from_the_per_address_cap(self):
        name, port = self.pick("smtp", "pop3", "ftp", "imap", "telnet")
        pattern = GREETING.get(name, re.compile(rb"."))
        n = LIM_LAB_CONNS_PER_ADDR * 2 + 8  # 40
        socks = [self.open(port) for _ in range(n)]
        greeted = sum(1 for s in socks if pattern.match(read_greeting(s, pattern)))
        self.assertEqual(greeted, n)

    def test_connection_cap_refuses_then_frees_the_slot(self):
        name, port = self.pick("pop3", "smtp", "ftp", "imap", "telnet")
        pattern = GREETING.get(name, re.compile(rb"."))
        socks = []
        for _ in range(LIM_LAB_CONNS):
            socks.append(self.open(port))
        # Every one of them is served before the next is tried, so the
        # server's count is exact when the extra one arrives.
        for s in socks:
            self.assertRegex(read_greeting(s, pattern), pattern)
        extra = self.open(port)
        self.assertTrue(is_closed(extra), "connection %d was not refused" % (LIM_LAB_CONNS + 1))
        # Closing one frees its slot.
        socks[0].close()
        deadline = time.monotonic() + 5
        while True:
            again = self.open(port)
            got = read_greeting(again, pattern, timeout=1.0)
            if pattern.match(got) or time.monotonic() > deadline:
                break
        self.assertRegex(got, pattern)
        with open(self.pl.stderr_path, "rb") as f:
            self.assertIn(b"connections open (cap %d)" % LIM_LAB_CONNS, f.read())

    def test_a_client_that_never_reads_is_paused_not_buffered(self):
        name, port = self.pick("smtp", "pop3")
        if name not in ("pop3", "smtp"):
            self.skipTest("needs SMTP or POP3 for a command with a one-line reply")
        s = self.open(port)
        read_greeting(s, GREETING[name])
        rss_before = self.pl.rss_kb()
        # 8 MiB of NOOPs, answered with more than the 4 MiB output cap if
        # the server kept reading while nobody read its replies.
        block = b"NOOP\r\n" * 10000
        rounds = 140
        sent = [0]

        def pump():
            try:
                for _ in range(rounds):
                    s.sendall(block)
                    sent[0] += len(block)
            except OSError:
                pass

        t = threading.Thread(target=pump, daemon=True)
        t.start()
        t.join(3.0)
        self.assertTrue(t.is_alive(), "the server stopped the client instead of pausing it "
                        "(sent %d bytes)" % sent[0])
        # Under ASan, each recorded read (the conversation is an own-client
        # transcript) leaves freed blocks in its quarantine: allowed for.
        bound = 16 * 1024
        self.assertLess(self.pl.rss_kb() - rss_before, bound + harness.sanitizer_slack_kb(bound))
        # Others are still served while this one is stalled.
        other = self.open(port)
        self.assertRegex(read_greeting(other, GREETING[name]), GREETING[name])
        # Reading resumes the server, and no reply was lost on the way.
        want = rounds * 10000
        lines = 0
        tail = b""
        s.settimeout(30)
        deadline = time.monotonic() + 60
        while lines < want and time.monotonic() < deadline:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            lines += chunk.count(b"\n")
            tail = chunk[-200:]
        t.join(5.0)
        self.assertEqual(lines, want, tail)
        with open(self.pl.stderr_path, "rb") as f:
            self.assertNotIn(b"of output queued; closing", f.read())

    def test_idle_timeout(self):
        # --lab-idle-timeout 2: a silent client gets the protocol's goodbye
        # and is closed after about 2 s; one that keeps talking is not.
        pl = self.portlab(["--lab-idle-timeout", "2"])
        servers = lab_servers(pl)
        silent = connect(servers["smtp"])
        self.socks.append(silent)
        busy = connect(servers["smtp"])
        self.socks.append(busy)
        self.assertTrue(read_line(silent).startswith(b"220 "))
        self.assertTrue(read_line(busy).startswith(b"220 "))
        start = time.monotonic()
        for _ in range(6):  # 3 s of NOOPs, one every half second
            busy.sendall(b"NOOP\r\n")
            self.assertTrue(read_line(busy).startswith(b"250"))
            time.sleep(0.5)
        goodbye = read_line(silent, timeout=5)
        self.assertTrue(goodbye.startswith(b"421"), goodbye)
        self.assertTrue(is_closed(silent, timeout=3))
        self.assertLess(time.monotonic() - start, 6)
        busy.sendall(b"NOOP\r\n")
        self.assertTrue(read_line(busy).startswith(b"250"))

    # -- the FTP data channel ------------------------------------------------

    def ftp_login(self):
        if "ftp" not in self.servers:
            self.skipTest("no FTP module in this build")
        c = self.open(self.servers["ftp"])
        self.assertTrue(ftp_reply(c).startswith(b"220"))
        c.sendall(b"USER demo\r\n")
        self.assertTrue(ftp_reply(c).startswith(b"331"))
        c.sendall(b"PASS demo\r\n")
        self.assertTrue(ftp_reply(c).startswith(b"230"))
        c.sendall(b"TYPE I\r\n")
        self.assertTrue(ftp_reply(c).startswith(b"200"))
        return c

    def pasv(self, c):
        c.sendall(b"PASV\r\n")
        r = ftp_reply(c)
        self.assertTrue(r.startswith(b"227"), r)
        nums = [int(x) for x in re.search(rb"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", r).groups()]
        self.assertEqual(".".join(map(str, nums[:4])), LOOPBACK)
        port = nums[4] * 256 + nums[5]
        self.assertTrue(self.pl.pasv[0] <= port <= self.pl.pasv[1], port)
        return port

    def test_passive_data_only_from_the_control_peer(self):
        c = self.ftp_login()
        port = self.pasv(c)
        # 127.0.0.2 is loopback too, but not the control connection's
        # address: it must be turned away, and the listener kept for the
        # real client.
        thief = self.open(port, source="127.0.0.2")
        self.assertTrue(is_closed(thief), "a foreign peer got the data connection")
        d = self.open(port)
        c.sendall(b"NLST\r\n")
        self.assertTrue(ftp_reply(c).startswith(b"150"))
        listing = b""
        while True:
            chunk = d.recv(4096)
            if not chunk:
                break
            listing += chunk
        self.assertIn(b"welcome.txt", listing)
        self.assertTrue(ftp_reply(c).startswith(b"226"))
        with open(self.pl.stderr_path, "rb") as f:
            self.assertIn(b"data connection from 127.0.0.2 refused", f.read())

    def transfer_roundtrip(self, c, active):
        payload = os.urandom(700 * 1024)

        def data_conn():
            if not active:
                return self.open(self.pasv(c)), None
            lst = socket.socket()
            lst.bind((LOOPBACK, 0))
            lst.listen(1)
            lst.settimeout(5)
            p = lst.getsockname()[1]
            c.sendall(b"PORT 127,0,0,1,%d,%d\r\n" % (p // 256, p % 256))
            r = ftp_reply(c)
            self.assertTrue(r.startswith(b"200"), r)
            return None, lst

        d, lst = data_conn()
        c.sendall(b"STOR framework.bin\r\n")
        if lst:
            d, _ = lst.accept()
            lst.close()
            self.socks.append(d)
        self.assertTrue(ftp_reply(c).startswith(b"150"))
        d.sendall(payload)
        d.close()
        self.assertTrue(ftp_reply(c, timeout=10).startswith(b"226"))

        d, lst = data_conn()
        c.sendall(b"RETR framework.bin\r\n")
        if lst:
            d, _ = lst.accept()
            lst.close()
            self.socks.append(d)
        self.assertTrue(ftp_reply(c).startswith(b"150"))
        got = b""
        d.settimeout(10)
        while True:
            chunk = d.recv(65536)
            if not chunk:
                break
            got += chunk
        self.assertEqual(len(got), len(payload))
        self.assertTrue(got == payload)
        self.assertTrue(ftp_reply(c, timeout=10).startswith(b"226"))

    def test_passive_transfer_delivers_every_byte(self):
        self.transfer_roundtrip(self.ftp_login(), active=False)

    def test_active_transfer_delivers_every_byte(self):
        self.transfer_roundtrip(self.ftp_login(), active=True)

    def test_data_channel_listeners_do_not_leak(self):
        c = self.ftp_login()
        fds = len(os.listdir("/proc/%d/fd" % self.pl.proc.pid))
        for _ in range(20):
            self.pasv(c)  # each replaces the one before
        c.sendall(b"QUIT\r\n")
        ftp_reply(c)
        time.sleep(0.5)
        self.assertLessEqual(len(os.listdir("/proc/%d/fd" % self.pl.proc.pid)), fds)


if __name__ == "__main__":
    harness.main()
