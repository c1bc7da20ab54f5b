"""test_lab_peers.py -- whom a lab server believes it is talking to
(protocols/labchansock.c, protocols/ftp.c, protocols/httplab.c, protocols/labident.c):
a relayed request is credited to its student whatever loopback address the
lab binds, an FTP data port serves only the student who asked for it and
names the address the client dialled, and 127.0.0.2 is an outside peer
held to the per-address cap.

Each test starts its own portlab on loopback and checks what the client
sees, never how long anything took.
"""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (LOOPBACK, PortlabTestCase, collect, open_session, send_json,  # noqa: E402
                     unique_name, wait_closed)


class LabIdentity(PortlabTestCase):
    SHARED = False

    def lesson_task(self, pl, token, lid, tid):
        r = pl.get("/api/lessons/" + lid, cookie=token)
        self.assertEqual(r.status, 200, r)
        return next(t for t in r.json["lesson"]["tasks"] if t["id"] == tid)

    def test_http_request_through_the_relay_is_credited_when_lab_binds_ipv6_loopback(self):
        # The relay reaches the lab from the lab's own address, here ::1.
        # The HTTP lab must credit the relaying student exactly as the
        # line-protocol servers do; it used to look only at 127.0.0.1.
        pl = self.portlab(["--lab-bind", "::1"])
        token = pl.join()
        ws, _ = pl.session("lab", 80, cookie=token)
        self.ws(ws)
        ws.send_binary(b"GET /robots.txt HTTP/1.1\r\nHost: lab\r\n\r\n")
        collect(ws, until=lambda c: b"Disallow" in c.data)
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        self.assertTrue(self.lesson_task(pl, token, "http", "http-robots")["solved"])


LIM_LAB_CONNS_PER_ADDR = 16  # server/portlab_limits.h
FTP_GREETING = re.compile(rb"^220[ -]")


def ftp_reply(data):
    """The last complete FTP reply line in data, or None."""
    lines = [ln for ln in bytes(data).split(b"\r\n") if re.match(rb"^\d{3} ", ln)]
    return lines[-1] if lines else None


class FtpRelay(PortlabTestCase):
    SHARED = False

    def relay_say(self, ws, line, want, timeout=10.0):
        """Sends one line through the relay and returns the bytes up to a
        reply line that starts with one of want (a tuple of codes)."""
        if line is not None:
            ws.send_binary(line + b"\r\n")
        c = collect(ws, until=lambda c: any(re.search(rb"(^|\r\n)" + w + rb" [^\r\n]*\r\n",
                                                      bytes(c.data)) for w in want),
                    timeout=timeout)
        return bytes(c.data)

    def test_active_mode_is_refused_through_the_relay(self):
        # A relayed control connection's peer is this host, so PORT to "the
        # control peer" would let the lab FTP server connect to any local
        # service above 1023 and push a file into it. It must say 500 and
        # connect to nothing; passive mode still works.
        pl = self.portlab()
        r, token = pl.join_full(unique_name("f"))
        self.assertEqual(r.status, 201, r)
        lab = r.json["lab"]
        victim = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(victim.close)
        victim.bind((LOOPBACK, 0))
        victim.listen(4)
        vport = victim.getsockname()[1]

        ws = self.ws(pl.ws_connect(token))
        self.assertOpened(open_session(ws, "lab", 21))
        self.assertIn(b"220 ", self.relay_say(ws, None, (b"220",)))
        self.assertIn(b"331 ", self.relay_say(ws, b"USER " + lab["user"].encode(), (b"331",)))
        self.assertIn(b"230 ", self.relay_say(ws, b"PASS " + lab["password"].encode(), (b"230",)))
        got = self.relay_say(ws, b"PORT 127,0,0,1,%d,%d" % (vport >> 8, vport & 0xFF),
                             (b"200", b"500", b"501"))
        self.assertRegex(got, rb"500 [^\r\n]*relay[^\r\n]*PASV")
        got = self.relay_say(ws, b"EPRT |1|127.0.0.1|%d|" % vport, (b"200", b"500", b"501"))
        self.assertIn(b"500 ", got)
        # With no data channel, a transfer cannot start, and nobody came.
        got = self.relay_say(ws, b"RETR notes/ftp-flag.txt", (b"425", b"150"))
        self.assertIn(b"425 ", got)
        victim.settimeout(1.0)
        with self.assertRaises(socket.timeout):
            conn, _ = victim.accept()
            conn.close()
        self.assertIn(b"227 ", self.relay_say(ws, b"PASV", (b"227", b"425")))
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        with open(pl.stderr_path, "rb") as f:
            self.assertIn(b"refused active mode", f.read())

    def test_passive_port_is_only_for_the_student_who_asked(self):
        # Every student can reach lab:PORT in the passive range, and every
        # relayed connection comes from this host: only the same student's
        # relay session may become the data connection.
        pl = self.portlab()
        ra, alice = pl.join_full(unique_name("a"))
        _, mallory = pl.join_full(unique_name("m"))
        lab = ra.json["lab"]
        ws = self.ws(pl.ws_connect(alice))
        self.assertOpened(open_session(ws, "lab", 21))
        self.relay_say(ws, None, (b"220",))
        self.relay_say(ws, b"USER " + lab["user"].encode(), (b"331",))
        self.relay_say(ws, b"PASS " + lab["password"].encode(), (b"230",))
        got = self.relay_say(ws, b"PASV", (b"227",))
        h = [int(x) for x in re.search(rb"\((\d+(?:,\d+){5})\)", got).group(1).split(b",")]
        port = h[4] * 256 + h[5]
        # Mallory gets there first: connected by TCP, then dropped unserved.
        thief = self.ws(pl.ws_connect(mallory))
        self.assertOpened(open_session(thief, "lab", port))
        taken = collect(thief, timeout=3)
        self.assertEqual(bytes(taken.data), b"")
        self.assertEqual(taken.of_type("closed")[0]["reason"], "remote_closed")
        # Alice's own data session still gets her listing.
        data = self.ws(pl.ws_connect(alice))
        self.assertOpened(open_session(data, "lab", port))
        self.relay_say(ws, b"NLST", (b"150", b"125"))
        listing = collect(data, until=lambda c: b"notes" in c.data and c.of_type("closed"),
                          timeout=5)
        self.assertIn(b"welcome.txt", bytes(listing.data))
        self.relay_say(ws, None, (b"226",))
        with open(pl.stderr_path, "rb") as f:
            self.assertIn(b"another student's session", f.read())

    def test_pasv_names_the_dialled_address_when_the_lab_binds_every_address(self):
        # --lab-bind 0.0.0.0: "227 ... (0,0,0,0,...)" names no host; the
        # address the client dialled does.
        pl = self.portlab(["--lab-bind", "0.0.0.0"])
        r, _ = pl.join_full(unique_name("f"))
        lab = r.json["lab"]
        ctl = harness.LineClient(pl.lab_base + 21, timeout=5)
        self.addCleanup(ctl.close)

        def cmd(line):
            """The last line of the next reply (b"" at EOF)."""
            if line is not None:
                ctl.send(line + b"\r\n")
            while True:
                try:
                    ln = ctl.line()
                except EOFError:
                    return b""
                if re.match(rb"^\d{3} ", ln):
                    return ln

        self.assertTrue(cmd(None).startswith(b"220 "))
        self.assertTrue(cmd(b"USER " + lab["user"].encode()).startswith(b"331 "))
        self.assertTrue(cmd(b"PASS " + lab["password"].encode()).startswith(b"230 "))
        reply = cmd(b"PASV")
        m = re.search(rb"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", reply)
        self.assertTrue(m, reply)
        self.assertEqual(b".".join(m.group(i) for i in range(1, 5)), b"127.0.0.1", reply)
        # The advertised port really is there, and the transfer works.
        port = int(m.group(5)) * 256 + int(m.group(6))
        d = socket.create_connection((LOOPBACK, port), timeout=5)
        self.addCleanup(d.close)
        self.assertTrue(cmd(b"RETR notes/ftp-flag.txt").startswith(b"150 "))
        data = b""
        d.settimeout(5)
        while True:
            chunk = d.recv(65536)
            if not chunk:
                break
            data += chunk
        self.assertRegex(data, rb"FLAG\{[0-9a-f]+\}")
        self.assertTrue(cmd(None).startswith(b"226 "))
        self.assertTrue(cmd(b"EPSV").startswith(b"229 "))


class LabPerAddressCap(PortlabTestCase):
    SHARED = False

    def connect(self, port, source):
        s = harness.connect_from(port, source)
        self.addCleanup(s.close)
        return s

    @staticmethod
    def greeting(s, timeout=3.0):
        return harness.read_greeting(s, FTP_GREETING, timeout)

    def test_127_0_0_2_is_an_outside_peer_held_to_the_cap(self):
        # Only 127.0.0.1, ::1 and the lab address are this host's own (the
        # relay's); 127.0.0.2 is one outside client and gets
        # LIM_LAB_CONNS_PER_ADDR connections, no more.
        pl = self.portlab()
        port = pl.lab_base + 21
        mine = [self.connect(port, "127.0.0.2") for _ in range(LIM_LAB_CONNS_PER_ADDR)]
        for s in mine:
            self.assertRegex(self.greeting(s), FTP_GREETING)
        extra = self.connect(port, "127.0.0.2")
        self.assertEqual(self.greeting(extra), b"", "connection %d from 127.0.0.2 was served"
                         % (LIM_LAB_CONNS_PER_ADDR + 1))
        # 127.0.0.1 (the relay's address) is not held to it.
        local = [self.connect(port, LOOPBACK) for _ in range(LIM_LAB_CONNS_PER_ADDR + 4)]
        for s in local:
            self.assertRegex(self.greeting(s), FTP_GREETING)
        # Closing one of 127.0.0.2's frees its place.
        mine[0].close()
        deadline = time.monotonic() + 5
        while True:
            again = self.connect(port, "127.0.0.2")
            got = self.greeting(again, timeout=1.0)
            if FTP_GREETING.match(got) or time.monotonic() > deadline:
                break
        self.assertRegex(got, FTP_GREETING)
        with open(pl.stderr_path, "rb") as f:
            self.assertIn(b"refused 127.0.0.2: %d connections from that address (cap %d)"
                          % (LIM_LAB_CONNS_PER_ADDR, LIM_LAB_CONNS_PER_ADDR), f.read())


if __name__ == "__main__":
    harness.main()
