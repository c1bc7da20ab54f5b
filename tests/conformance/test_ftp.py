"""test_ftp.py -- the built-in lab FTP server against real clients.

Python's ftplib (passive and active mode) and the curl command line log in
with a student's lab credentials from POST /api/join, list, retrieve the
per-student flag, store and fetch back, and manage directories; the
anonymous login sees the public area read-only. Raw sockets then try what
a hostile client would: FTP bounce through PORT/EPRT, traversal, NUL bytes,
an over-long line, commands before login, and a passive data connection
from another address -- each refused while the server keeps serving a
second connection. Finally the two-channel lesson runs end to end through
the relay: one WebSocket session to lab:21, a second to lab:<PASV port>,
and both transcripts hold the exact bytes.

Network rule: loopback only. 127.0.0.2 is used as "another address": it is
loopback too, and the server must refuse it before connecting anyway.
"""

import ftplib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import (PortlabTestCase, collect, open_session, transcript_bytes,  # noqa: E402
                     unique_name, wait_closed)

LOOPBACK = "127.0.0.1"
FTP_WELL_KNOWN = 21
DATA_TIMEOUT = 30  # LIM_FTP_DATA_SECS
LIST_LINE = re.compile(r"^[d-]rw[-x]r-[-x]r-[-x] +\d+ ftp +ftp +\d+ [A-Z][a-z]{2} [ \d]\d "
                       r"(\d\d:\d\d| \d{4}) \S.*$")


class Ctl(harness.LineClient):
    """A raw FTP control connection that reads whole replies."""

    def reply(self):
        """One whole reply (multi-line included) as text."""
        first = self.line()
        text = first
        if first[3:4] == b"-":
            end = first[:3] + b" "
            while True:
                nxt = self.line()
                text += nxt
                if nxt.startswith(end):
                    break
        return text.decode("latin-1")

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode("latin-1")
        self.send(line + b"\r\n")
        return self.reply()


def pasv_port(reply):
    m = re.search(r"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", reply)
    assert m, reply
    h = ".".join(m.group(i) for i in range(1, 5))
    return h, int(m.group(5)) * 256 + int(m.group(6))


def recv_all(sock, timeout=10.0):
    sock.settimeout(timeout)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


class FtpLab(PortlabTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = cls.pl.lab_base + FTP_WELL_KNOWN
        cls.students = []
        for _ in range(2):
            name = unique_name("f")
            r, tok = cls.pl.join_full(name)
            assert r.status == 201, r
            lab = r.json["lab"]
            cls.students.append({"name": name, "cookie": tok, "user": lab["user"],
                                 "password": lab["password"]})
        cls.alice = cls.students[0]
        # The data connection timeout takes LIM_FTP_DATA_SECS: it runs in the
        # background from the start and test_zz_data_timeout collects it.
        cls.timeout_result = {}
        cls.timeout_thread = threading.Thread(target=cls._data_timeout_probe, daemon=True)
        cls.timeout_thread.start()

    @classmethod
    def _data_timeout_probe(cls):
        res = cls.timeout_result
        try:
            c = Ctl(cls.port, timeout=DATA_TIMEOUT + 15)
            res["greeting"] = c.reply()
            c.cmd("USER %s" % cls.alice["user"])
            res["login"] = c.cmd("PASS %s" % cls.alice["password"])
            res["pasv"] = c.cmd("PASV")
            start = time.monotonic()
            c.send(b"RETR notes/ftp-flag.txt\r\n")
            res["reply"] = c.reply()
            res["elapsed"] = time.monotonic() - start
            res["after"] = c.cmd("NOOP")
            c.close()
        except Exception as e:  # reported by the test
            res["error"] = repr(e)

    # -- helpers -----------------------------------------------------------

    def ftp(self, who=None, passive=True):
        who = who or self.alice
        f = ftplib.FTP()
        f.connect(LOOPBACK, self.port, timeout=10)
        f.login(who["user"], who["password"])
        f.set_pasv(passive)
        self.addCleanup(self._quit, f)
        return f

    @staticmethod
    def _quit(f):
        try:
            f.quit()
        except Exception:
            f.close()

    def ctl(self, login=True, who=None, **kw):
        c = Ctl(self.port, **kw)
        self.addCleanup(c.close)
        self.assertTrue(c.reply().startswith("220 "))
        if login:
            who = who or self.alice
            self.assertTrue(c.cmd("USER %s" % who["user"]).startswith("331 "))
            self.assertTrue(c.cmd("PASS %s" % who["password"]).startswith("230 "))
        return c

    def assertServing(self):
        """The server still answers a fresh connection."""
        c = self.ctl()
        self.assertTrue(c.cmd("NOOP").startswith("200 "))

    def fetch_flag(self, f):
        data = io.BytesIO()
        f.retrbinary("RETR /notes/ftp-flag.txt", data.write)
        return data.getvalue()

    @staticmethod
    def flag_of(data):
        m = re.search(rb"FLAG\{[0-9a-f]+\}", data)
        return m.group(0).decode() if m else None

    # -- real clients --------------------------------------------------------

    def test_ftplib_passive(self):
        f = self.ftp()
        self.assertTrue(f.getwelcome().startswith("220 (portlab FTP)"), f.getwelcome())
        self.assertEqual(f.sendcmd("SYST"), "215 UNIX Type: L8")
        self.assertEqual(f.pwd(), "/")
        f.cwd("notes")
        self.assertEqual(f.pwd(), "/notes")
        self.assertEqual(sorted(f.nlst()), ["ftp-flag.txt", "ports.txt"])
        lines = []
        f.dir(lines.append)
        self.assertEqual(len(lines), 2, lines)
        for line in lines:
            self.assertRegex(line, LIST_LINE)
        self.assertTrue(lines[0].endswith(" ftp-flag.txt"), lines)

        text = []
        f.retrlines("RETR ftp-flag.txt", text.append)
        flag_lines = [t for t in text if t.startswith("FLAG{")]
        self.assertEqual(len(flag_lines), 1, text)
        raw = self.fetch_flag(f)
        self.assertIn(flag_lines[0].encode(), raw)
        f.voidcmd("TYPE I")
        self.assertEqual(f.size("ftp-flag.txt"), len(raw))
        mdtm = f.sendcmd("MDTM ftp-flag.txt")
        self.assertRegex(mdtm, r"^213 20\d{12}$")

        # Upload, fetch back identical, then manage directories.
        payload = os.urandom(200 * 1024) + b"\r\n\n\r\x00\xff"
        f.cwd("/")
        self.assertEqual(f.mkd("up"), "/up")
        f.cwd("up")
        resp = f.storbinary("STOR blob.bin", io.BytesIO(payload))
        self.assertTrue(resp.startswith("226 "), resp)
        got = io.BytesIO()
        f.retrbinary("RETR blob.bin", got.write)
        self.assertEqual(got.getvalue(), payload)
        self.assertEqual(f.size("blob.bin"), len(payload))
        with self.assertRaises(ftplib.error_perm) as cm:
            f.rmd("/up")
        self.assertTrue(str(cm.exception).startswith("550"))
        f.rename("blob.bin", "renamed.bin")
        f.delete("renamed.bin")
        with self.assertRaises(ftplib.error_perm):
            f.delete("renamed.bin")
        f.cwd("..")
        f.rmd("up")
        self.assertNotIn("up", f.nlst())

        # A text upload in ASCII mode comes back with the same lines.
        f.storlines("STOR text.txt", io.BytesIO(b"one\ntwo\nthree\n"))
        lines = []
        f.retrlines("RETR text.txt", lines.append)
        self.assertEqual(lines, ["one", "two", "three"])
        got = io.BytesIO()
        f.retrbinary("RETR text.txt", got.write)
        self.assertEqual(got.getvalue(), b"one\ntwo\nthree\n")
        f.delete("text.txt")

    def test_flags_differ_between_students(self):
        a = self.flag_of(self.fetch_flag(self.ftp(self.students[0])))
        b = self.flag_of(self.fetch_flag(self.ftp(self.students[1])))
        self.assertTrue(a and a.startswith("FLAG{"), a)
        self.assertTrue(b and b.startswith("FLAG{"), b)
        self.assertNotEqual(a, b)

    def test_ftplib_active(self):
        f = self.ftp(passive=False)
        self.assertEqual(sorted(f.nlst("/notes")), ["ftp-flag.txt", "ports.txt"])
        lines = []
        f.dir("/", lines.append)
        self.assertTrue(any(line.endswith(" welcome.txt") for line in lines), lines)
        raw = self.fetch_flag(f)
        self.assertTrue(self.flag_of(raw), raw)
        payload = os.urandom(64 * 1024)
        f.storbinary("STOR active.bin", io.BytesIO(payload))
        got = io.BytesIO()
        f.retrbinary("RETR active.bin", got.write)
        self.assertEqual(got.getvalue(), payload)
        f.delete("active.bin")
        # EPRT as well (ftplib uses it for IPv6 only; sent by hand here).
        lst = socket.socket()
        lst.bind((LOOPBACK, 0))
        lst.listen(1)
        self.addCleanup(lst.close)
        resp = f.sendcmd("EPRT |1|%s|%d|" % (LOOPBACK, lst.getsockname()[1]))
        self.assertTrue(resp.startswith("200 "), resp)
        f.putcmd("NLST /notes")
        lst.settimeout(10)
        conn, peer = lst.accept()
        self.assertEqual(peer[0], LOOPBACK)
        self.assertTrue(f.getresp().startswith("150 "))
        self.assertEqual(recv_all(conn), b"ftp-flag.txt\r\nports.txt\r\n")
        conn.close()
        self.assertTrue(f.voidresp().startswith("226 "))

    def test_anonymous(self):
        f = ftplib.FTP()
        f.connect(LOOPBACK, self.port, timeout=10)
        self.addCleanup(self._quit, f)
        self.assertTrue(f.login().startswith("230 "))  # anonymous, anonymous@
        self.assertIn("pub", f.nlst())
        self.assertNotIn("notes", f.nlst())
        self.assertIn("readme.txt", f.nlst("/pub"))
        text = []
        f.retrlines("RETR /pub/readme.txt", text.append)
        self.assertTrue(text)
        with self.assertRaises(ftplib.error_perm) as cm:
            f.storbinary("STOR /pub/evil.txt", io.BytesIO(b"x"))
        self.assertTrue(str(cm.exception).startswith("550"), cm.exception)
        for call in (lambda: f.mkd("x"), lambda: f.delete("/pub/readme.txt"),
                     lambda: f.rmd("/pub")):
            with self.assertRaises(ftplib.error_perm):
                call()
        self.assertIn("readme.txt", f.nlst("/pub"))
        f2 = ftplib.FTP()
        f2.connect(LOOPBACK, self.port, timeout=10)
        self.addCleanup(self._quit, f2)
        self.assertTrue(f2.login("ftp", "guest@").startswith("230 "))

    def curl(self, *args, ok=True):
        if not shutil.which("curl"):
            self.skipTest("curl not installed")
        p = subprocess.run(["curl", "-sS", "--max-time", "20"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        if ok:
            self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace"))
        return p

    def test_curl(self):
        a = self.alice
        base = "ftp://%s:%s@%s:%d" % (a["user"], a["password"], LOOPBACK, self.port)
        out = self.curl(base + "/notes/ftp-flag.txt").stdout
        self.assertTrue(self.flag_of(out), out)
        # curl turns the ASCII listing's CR LF into LF on the way out.
        listing = self.curl(base + "/notes/").stdout.decode().splitlines()
        self.assertEqual(len(listing), 2, listing)
        for line in listing:
            self.assertRegex(line, LIST_LINE)
        self.assertTrue(listing[0].endswith(" ftp-flag.txt"), listing)
        names = self.curl("-l", base + "/notes/").stdout.splitlines()
        self.assertEqual(names, [b"ftp-flag.txt", b"ports.txt"])
        # Upload with -T, fetch it back, also in active mode.
        tmp = tempfile.NamedTemporaryFile(delete=False)
        self.addCleanup(os.unlink, tmp.name)
        payload = os.urandom(50000)
        tmp.write(payload)
        tmp.close()
        self.curl("-T", tmp.name, base + "/notes/curl.bin")
        self.assertEqual(self.curl(base + "/notes/curl.bin").stdout, payload)
        self.assertEqual(self.curl("--ftp-port", LOOPBACK, base + "/notes/curl.bin").stdout,
                         payload)
        self.curl("--ftp-port", LOOPBACK, "-T", tmp.name, base + "/notes/curl2.bin")
        self.assertEqual(self.curl(base + "/notes/curl2.bin").stdout, payload)
        self.curl("-Q", "DELE notes/curl.bin", "-Q", "DELE notes/curl2.bin", base + "/")
        p = self.curl(base + "/notes/curl.bin", ok=False)
        self.assertNotEqual(p.returncode, 0)
        # Wrong password.
        p = self.curl("ftp://%s:wrong@%s:%d/" % (a["user"], LOOPBACK, self.port), ok=False)
        self.assertEqual(p.returncode, 67, p.stderr)  # CURLE_LOGIN_DENIED

    # -- hostile input ---------------------------------------------------------

    def test_before_login(self):
        c = self.ctl(login=False)
        for cmd in ("PWD", "CWD notes", "LIST", "RETR welcome.txt", "PASV", "PORT 127,0,0,1,4,1",
                    "STOR x", "DELE welcome.txt", "MKD x", "SIZE welcome.txt"):
            self.assertTrue(c.cmd(cmd).startswith("530 "), cmd)
        self.assertTrue(c.cmd("PASS x").startswith("503 "))
        self.assertTrue(c.cmd("FEAT").startswith("211-"))
        self.assertTrue(c.cmd("USER %s" % self.alice["user"]).startswith("331 "))
        self.assertTrue(c.cmd("PASS wrong").startswith("530 "))
        self.assertTrue(c.cmd("PWD").startswith("530 "))

    def test_bounce_refused(self):
        # Listeners the server must never reach: another loopback address,
        # and a low port on our own.
        other = socket.socket()
        other.bind(("127.0.0.2", 0))
        other.listen(1)
        other.settimeout(1.0)
        self.addCleanup(other.close)
        oport = other.getsockname()[1]
        c = self.ctl()
        r = c.cmd("PORT 127,0,0,2,%d,%d" % (oport >> 8, oport & 255))
        self.assertTrue(r.startswith("500 "), r)
        self.assertTrue(c.cmd("RETR notes/ftp-flag.txt").startswith("425 "))
        self.assertTrue(c.cmd("PORT 127,0,0,1,0,21").startswith("500 "))
        self.assertTrue(c.cmd("PORT 127,0,0,1,3,255").startswith("500 "))  # 1023
        self.assertTrue(c.cmd("EPRT |1|127.0.0.2|%d|" % oport).startswith("500 "))
        self.assertTrue(c.cmd("EPRT |2|::1|%d|" % oport).startswith("500 "))
        self.assertTrue(c.cmd("EPRT |1|127.0.0.1|21|").startswith("500 "))
        self.assertTrue(c.cmd("PORT 1,2,3").startswith("501 "))
        self.assertTrue(c.cmd("LIST").startswith("425 "))
        with self.assertRaises(socket.timeout):
            other.accept()
        self.assertServing()

    def test_traversal_and_nul(self):
        c = self.ctl()
        self.assertTrue(c.cmd("CWD ../../etc").startswith("550 "))
        self.assertTrue(c.cmd("CWD /etc").startswith("550 "))
        self.assertTrue(c.cmd("PWD").startswith('257 "/" '))
        self.assertTrue(c.cmd("SIZE ../../../etc/passwd").startswith("550 "))
        h, p = pasv_port(c.cmd("PASV"))
        d = socket.create_connection((h, p), timeout=5)
        self.addCleanup(d.close)
        self.assertTrue(c.cmd("RETR ../../../etc/passwd").startswith("550 "))
        self.assertTrue(c.cmd(b"RETR notes/ftp-flag.txt\x00../../../etc/passwd")
                        .startswith("550 "))
        self.assertTrue(c.cmd(b"CWD notes\x00").startswith("550 "))
        self.assertTrue(c.cmd(b"MKD a\rb").startswith("550 "))
        self.assertTrue(c.cmd(b"TYPE I\x00").startswith("501 "))
        # Bare LF is a line end too.
        c.send(b"NOOP\n")
        self.assertTrue(c.reply().startswith("200 "))
        self.assertServing()

    def test_overlong_line(self):
        c = self.ctl(login=False)
        c.send(b"USER " + b"A" * 600 + b"\r\n")
        r = c.reply()
        self.assertTrue(r.startswith("500 Command line too long"), r)
        self.assertTrue(c.closed())
        # Exactly LIM_FTP_LINE (512) bytes with CR LF is still a command.
        c = self.ctl(login=False)
        self.assertTrue(c.cmd(b"NOOP " + b"x" * (512 - 7)).startswith("200 "))
        self.assertServing()

    def test_login_failures_close(self):
        c = self.ctl(login=False)
        for i in range(3):
            c.cmd("USER %s" % self.alice["user"])
            r = c.cmd("PASS nope%d" % i)
        self.assertTrue(r.startswith("421 "), r)
        self.assertTrue(c.closed())
        self.assertServing()

    def test_passive_from_other_address(self):
        c = self.ctl()
        h, p = pasv_port(c.cmd("PASV"))
        self.assertEqual(h, LOOPBACK)
        thief = socket.socket()
        thief.bind(("127.0.0.2", 0))
        thief.settimeout(5)
        self.addCleanup(thief.close)
        try:
            thief.connect((h, p))
        except OSError:
            pass  # refused outright is fine too
        time.sleep(0.3)
        # The file must not reach the other address; the real client still can.
        c.send(b"RETR notes/ftp-flag.txt\r\n")
        leaked = recv_all(thief, timeout=1.0)
        self.assertEqual(leaked, b"")
        d = socket.create_connection((h, p), timeout=5)
        self.addCleanup(d.close)
        self.assertTrue(c.reply().startswith("150 "))
        data = recv_all(d)
        self.assertTrue(self.flag_of(data), data)
        self.assertTrue(c.reply().startswith("226 "))
        self.assertEqual(recv_all(thief, timeout=0.5), b"")

    def test_zz_data_timeout(self):
        self.timeout_thread.join(DATA_TIMEOUT + 20)
        res = self.timeout_result
        self.assertNotIn("error", res, res)
        self.assertTrue(res.get("pasv", "").startswith("227 "), res)
        self.assertTrue(res.get("reply", "").startswith("425 "), res)
        self.assertGreater(res["elapsed"], DATA_TIMEOUT - 5, res)
        self.assertTrue(res.get("after", "").startswith("200 "), res)

    # -- the two-channel lesson through the relay ------------------------------

    def ws_bytes(self, ws, until, timeout=10.0):
        c = collect(ws, until=lambda c: until(bytes(c.data)), timeout=timeout)
        return bytes(c.data), c

    def test_relay_two_channels(self):
        a = self.alice
        ws1 = self.ws(self.pl.ws_connect(a["cookie"]))
        sid1 = self.assertOpened(open_session(ws1, "lab", FTP_WELL_KNOWN))
        recv1 = b""
        sent1 = b""

        def say(line, until):
            nonlocal recv1, sent1
            raw = line + b"\r\n"
            if line:
                ws1.send_binary(raw)
                sent1 += raw
            data, _ = self.ws_bytes(ws1, lambda d: until(recv1 + d))
            recv1 += data
            return data

        say(b"", lambda d: d.endswith(b"\r\n") and b"220 " in d)
        say(b"USER " + a["user"].encode(), lambda d: b"331 " in d)
        say(b"PASS " + a["password"].encode(), lambda d: b"230 " in d)
        reply = say(b"PASV", lambda d: b"227 " in d).decode()
        host, port = pasv_port(reply)
        self.assertEqual(host, LOOPBACK)

        ws2 = self.ws(self.pl.ws_connect(a["cookie"]))
        sid2 = self.assertOpened(open_session(ws2, "lab", port))
        # LIST may reach the server before or after it accepted the relay's
        # data connection: either way 150 waits for the connection.
        say(b"LIST", lambda d: b"226 " in d)
        self.assertIn(b"150 ", recv1)
        c2 = collect(ws2, until=lambda c: bool(c.of_type("closed")), timeout=10)
        listing = bytes(c2.data)
        self.assertTrue(c2.of_type("closed"), c2.messages)
        self.assertIn(b" notes\r\n", listing)
        self.assertIn(b" welcome.txt\r\n", listing)
        for line in listing.decode().split("\r\n")[:-1]:
            self.assertRegex(line, LIST_LINE)

        say(b"QUIT", lambda d: b"221 " in d)
        wait_closed(ws1)

        t1 = self.pl.transcript_when_ended(sid1, a["cookie"]).json
        t2 = self.pl.transcript_when_ended(sid2, a["cookie"]).json
        self.assertEqual(transcript_bytes(t1["events"], "c2s"), sent1)
        self.assertEqual(transcript_bytes(t1["events"], "s2c"), recv1)
        self.assertEqual(transcript_bytes(t2["events"], "s2c"), listing)
        self.assertEqual(transcript_bytes(t2["events"], "c2s"), b"")
        self.assertEqual(t2["session"]["port"], port)


class FtpPassiveCaps(PortlabTestCase):
    """Passive ports are shared by the class: per address and per student,
    at the edge, with real sockets; a port nobody connects to comes back
    after --ftp-data-timeout; a local client's data port is not given to
    a relay session."""

    @classmethod
    def class_args(cls):
        return ["--ftp-pasv-per-addr", "2", "--ftp-pasv-per-student", "1",
                "--ftp-data-timeout", "1"]

    def setUp(self):
        super().setUp()
        r, self.tok = self.pl.join_full(unique_name("p"))
        self.assertEqual(r.status, 201, r)
        self.lab = r.json["lab"]
        self.port = self.pl.lab_base + FTP_WELL_KNOWN

    def ctl(self, source):
        c = Ctl(self.port, source=source)
        self.addCleanup(c.close)
        self.assertTrue(c.reply().startswith("220 "))
        self.assertTrue(c.cmd("USER %s" % self.lab["user"]).startswith("331 "))
        self.assertTrue(c.cmd("PASS %s" % self.lab["password"]).startswith("230 "))
        return c

    def test_per_address_edge_and_release(self):
        a = [self.ctl("127.0.0.2") for _ in range(3)]
        self.assertTrue(a[0].cmd("PASV").startswith("227 "))
        self.assertTrue(a[1].cmd("EPSV").startswith("229 "))
        self.assertTrue(a[2].cmd("PASV").startswith("425 Your address"))
        # Another address is not held back.
        self.assertTrue(self.ctl("127.0.0.3").cmd("PASV").startswith("227 "))
        # Nobody connects: the ports come back once the data timeout passed.
        deadline = time.monotonic() + 20
        while True:
            reply = a[2].cmd("PASV")
            if reply.startswith("227 ") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertTrue(reply.startswith("227 "), reply)

    def test_per_student_edge_through_the_relay(self):
        def relay_pasv():
            ws = self.ws(self.pl.ws_connect(self.tok))
            self.assertOpened(open_session(ws, "lab", FTP_WELL_KNOWN))
            for line, want in ((b"", b"220 "), (b"USER " + self.lab["user"].encode(), b"331 "),
                               (b"PASS " + self.lab["password"].encode(), b"230 "),
                               (b"PASV", b"\r\n")):
                if line:
                    ws.send_binary(line + b"\r\n")
                c = collect(ws, until=lambda c: want in bytes(c.data), timeout=10)
            return bytes(c.data)
        self.assertIn(b"227 ", relay_pasv())
        self.assertIn(b"425 Your other sessions", relay_pasv())

    def test_local_client_data_port_not_given_to_relay(self):
        c = self.ctl("127.0.0.1")
        h, p = pasv_port(c.cmd("PASV"))
        ws = self.ws(self.pl.ws_connect(self.tok))
        self.assertOpened(open_session(ws, "lab", p))
        c.send(b"RETR notes/ftp-flag.txt\r\n")
        stolen = collect(ws, until=lambda c: bool(c.of_type("closed")), timeout=10)
        self.assertEqual(bytes(stolen.data), b"")
        self.assertTrue(stolen.of_type("closed"), stolen.messages)
        d = socket.create_connection((h, p), timeout=5)
        self.addCleanup(d.close)
        self.assertTrue(c.reply().startswith("150 "))
        self.assertTrue(FtpLab.flag_of(recv_all(d)))
        self.assertTrue(c.reply().startswith("226 "))


if __name__ == "__main__":
    harness.main()
