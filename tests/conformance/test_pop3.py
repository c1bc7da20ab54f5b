"""test_pop3.py -- the built-in lab POP3 server against real clients.

Python's poplib logs in with a student's lab credentials from POST
/api/join and reads the welcome mail and a message just delivered over
SMTP: STAT, LIST, RETR (the exact stored bytes, stuffed dots undone),
UIDL (stable across sessions), TOP, CAPA, and DELE + QUIT removing the
message for good (while DELE + RSET or a dropped connection removes
nothing). The curl command line lists and retrieves over pop3://. Raw
sockets check the refusals: a wrong password, commands before login,
RETR out of range, RETR after DELE, an over-long line (the connection
ends), NUL bytes, and too many failed logins -- each answered correctly
while a second connection opened beforehand keeps being served.

Network rule: loopback only.
"""

import os
import poplib
import re
import smtplib
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import PortlabTestCase, unique_name  # noqa: E402

LOOPBACK = "127.0.0.1"
SMTP_WELL_KNOWN = 25
POP3_WELL_KNOWN = 110
POP3_LINE = 512  # LIM_POP3_LINE
AUTH_FAILURES = 3  # LIM_POP3_AUTH_FAILURES


class Raw(harness.LineClient):
    """A raw POP3 connection: status lines and multi-line responses."""

    def cmd(self, line):
        self.send(line.encode("latin-1") + b"\r\n")
        return self.line().decode("latin-1")

    def multi(self):
        """The body of a multi-line response, up to and with its ".\\r\\n"."""
        out = b""
        while True:
            line = self.line()
            out += line
            if line == b".\r\n":
                return out


class Pop3Lab(PortlabTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = cls.pl.lab_base + POP3_WELL_KNOWN
        cls.smtp_port = cls.pl.lab_base + SMTP_WELL_KNOWN

    def setUp(self):
        super().setUp()
        self.who = self.student()
        self.other = self.raw()
        self.assertTrue(self.other.cmd("USER %s" % self.who["user"]).startswith("+OK"))
        self.assertTrue(self.other.cmd("PASS %s" % self.who["password"]).startswith("+OK"))

    def tearDown(self):
        try:
            if not self._failed():
                self.assertEqual(self.other.cmd("NOOP"), "+OK\r\n",
                                 "the bystander connection is no longer served")
        finally:
            super().tearDown()

    # -- helpers -------------------------------------------------------------

    def student(self):
        r, tok = self.pl.join_full(unique_name("p"))
        self.assertEqual(r.status, 201, r)
        lab = r.json["lab"]
        return {"cookie": tok, "user": lab["user"], "password": lab["password"]}

    def raw(self):
        c = Raw(self.port)
        self.addCleanup(c.close)
        g = c.line().decode()
        self.assertTrue(g.startswith("+OK ") and g.endswith("\r\n"), g)
        return c

    def pop(self, who=None):
        who = who or self.who
        p = poplib.POP3(LOOPBACK, self.port, timeout=10)
        self.addCleanup(self._quit, p)
        p.user(who["user"])
        p.pass_(who["password"])
        return p

    @staticmethod
    def _quit(p):
        try:
            p.close()
        except Exception:
            pass

    def deliver(self, who, body):
        s = smtplib.SMTP(LOOPBACK, self.smtp_port, timeout=10)
        try:
            self.assertEqual(s.sendmail("sender@example.com", ["%s@lab" % who["user"]], body), {})
        finally:
            s.quit()

    # -- real clients --------------------------------------------------------

    def test_poplib_read(self):
        body = (b"Subject: pop test\r\nX-Lab: 1\r\n\r\nfirst line\r\n.dot line\r\n"
                b"\xc3\xa9t\xc3\xa9\r\nlast\r\n")
        self.deliver(self.who, body)
        p = self.pop()
        caps = p.capa()
        for cap in ("USER", "UIDL", "TOP", "PIPELINING", "RESP-CODES"):
            self.assertIn(cap, caps)
        self.assertEqual(caps["IMPLEMENTATION"], ["portlab"])
        count, octets = p.stat()
        self.assertEqual(count, 3)  # two welcome mails and ours
        resp, listing, _ = p.list()
        sizes = {int(a): int(b) for a, b in (l.split() for l in listing)}
        self.assertEqual(sorted(sizes), [1, 2, 3])
        self.assertEqual(sum(sizes.values()), octets)
        self.assertEqual(p.list(3), b"+OK 3 %d" % sizes[3])
        resp, lines, n = p.retr(3)
        self.assertEqual(resp, b"+OK %d octets" % sizes[3])
        msg = b"\r\n".join(lines) + b"\r\n"
        self.assertEqual(len(msg), sizes[3])  # stored with CRLF: sizes are exact
        self.assertTrue(msg.startswith(b"Return-Path: <sender@example.com>\r\nReceived: "), msg)
        self.assertTrue(msg.endswith(b"\r\n" + body), msg)
        resp, lines, _ = p.retr(1)
        self.assertIn(b"Hello %s," % self.who["user"].encode(), lines)
        # TOP: the header, the blank line, then n lines of the body.
        resp, lines, _ = p.top(3, 2)
        hdr_end = lines.index(b"")
        self.assertEqual(lines[hdr_end + 1:], [b"first line", b".dot line"])
        self.assertIn(b"Subject: pop test", lines[:hdr_end])
        # UIDL: unique, and the same in the next session.
        resp, uids, _ = p.uidl()
        uid_map = dict(u.split() for u in uids)
        self.assertEqual(len(set(uid_map.values())), 3)
        for u in uid_map.values():
            self.assertRegex(u.decode(), r"^\d+\.\d+$")
        self.assertEqual(p.uidl(2), b"+OK 2 " + uid_map[b"2"])
        self.assertEqual(p.noop(), b"+OK")
        p.quit()
        p2 = self.pop()
        self.assertEqual(dict(u.split() for u in p2.uidl()[1]), uid_map)
        p2.quit()

    def test_dele_quit_removes(self):
        marker = unique_name("d").encode()
        self.deliver(self.who, b"Subject: " + marker + b"\r\n\r\nto be deleted\r\n")
        p = self.pop()
        self.assertEqual(p.stat()[0], 3)
        uids = dict(u.split() for u in p.uidl()[1])
        self.assertTrue(p.dele(3).startswith(b"+OK"))
        with self.assertRaises(poplib.error_proto) as cm:
            p.retr(3)
        self.assertTrue(str(cm.exception).startswith("b'-ERR"), cm.exception)
        self.assertEqual(p.stat()[0], 2)
        self.assertTrue(p.rset().startswith(b"+OK"))
        self.assertEqual(p.stat()[0], 3)
        p.dele(3)
        p.close()  # dropped without QUIT: nothing is removed
        p = self.pop()
        self.assertEqual(p.stat()[0], 3)
        p.dele(3)
        self.assertTrue(p.quit().startswith(b"+OK"))
        p = self.pop()
        self.assertEqual(p.stat()[0], 2)
        remaining = dict(u.split() for u in p.uidl()[1])
        self.assertEqual(remaining, {b"1": uids[b"1"], b"2": uids[b"2"]})
        for i in (1, 2):
            self.assertNotIn(marker, b"\r\n".join(p.retr(i)[1]))
        p.quit()

    def curl(self, *args):
        if not os.path.exists("/usr/bin/curl"):
            self.skipTest("curl not installed")
        return subprocess.run(["/usr/bin/curl", "-sS", "--max-time", "20"] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)

    def test_curl(self):
        base = "pop3://%s:%s@%s:%d" % (self.who["user"], self.who["password"], LOOPBACK,
                                        self.port)
        p = self.curl(base + "/1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"\r\nHello %s,\r\n" % self.who["user"].encode(), p.stdout)
        self.assertTrue(p.stdout.startswith(b"Date: "), p.stdout[:100])
        p = self.curl(base + "/")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r"^1 \d+\r\n2 \d+\r\n$")
        p = self.curl("pop3://%s:wrong@%s:%d/1" % (self.who["user"], LOOPBACK, self.port))
        self.assertNotEqual(p.returncode, 0)
        p = self.curl(base + "/9")
        self.assertNotEqual(p.returncode, 0)

    # -- raw negative tests ---------------------------------------------------

    def test_wrong_password_and_before_login(self):
        c = self.raw()
        self.assertEqual(c.cmd("STAT"), "-ERR Log in first (USER, then PASS)\r\n")
        self.assertEqual(c.cmd("RETR 1"), "-ERR Log in first (USER, then PASS)\r\n")
        self.assertEqual(c.cmd("PASS %s" % self.who["password"]), "-ERR Send USER first\r\n")
        self.assertTrue(c.cmd("USER %s" % self.who["user"]).startswith("+OK "))
        self.assertTrue(c.cmd("PASS wrong").startswith("-ERR [AUTH] "))
        with self.assertRaises(poplib.error_proto) as cm:
            p = poplib.POP3(LOOPBACK, self.port, timeout=10)
            self.addCleanup(self._quit, p)
            p.user(self.who["user"])
            p.pass_("not-" + self.who["password"])
        self.assertIn("[AUTH]", str(cm.exception))
        self.assertTrue(c.cmd("USER %s" % self.who["user"]).startswith("+OK "))
        self.assertTrue(c.cmd("PASS x").startswith("-ERR [AUTH] "))
        self.assertTrue(c.cmd("USER %s" % self.who["user"]).startswith("+OK "))
        c.send(b"PASS y\r\n")
        self.assertTrue(c.line().startswith(b"-ERR [AUTH] "))
        self.assertTrue(c.line().startswith(b"-ERR "))  # third failure: goodbye
        self.assertTrue(c.closed())

    def test_out_of_range_and_deleted(self):
        c = self.raw()
        c.cmd("USER %s" % self.who["user"])
        self.assertTrue(c.cmd("PASS %s" % self.who["password"]).startswith("+OK Logged in"))
        self.assertTrue(c.cmd("RETR 0").startswith("-ERR No such message"))
        self.assertTrue(c.cmd("RETR 3").startswith("-ERR No such message"))
        self.assertTrue(c.cmd("RETR 99999999999999999999").startswith("-ERR No such message"))
        self.assertTrue(c.cmd("RETR one").startswith("-ERR Syntax"))
        self.assertTrue(c.cmd("TOP 1").startswith("-ERR Syntax"))
        self.assertTrue(c.cmd("DELE 2").startswith("+OK"))
        self.assertEqual(c.cmd("RETR 2"), "-ERR Message 2 is already deleted\r\n")
        self.assertEqual(c.cmd("DELE 2"), "-ERR Message 2 is already deleted\r\n")
        self.assertEqual(c.cmd("USER x"), "-ERR Already logged in\r\n")
        # Pipelined: answers in order, dots stuffed.
        c.send(b"STAT\r\nLIST\r\nUIDL 1\r\nNOOP\r\n")
        self.assertTrue(c.line().startswith(b"+OK 1 "))
        self.assertTrue(c.line().startswith(b"+OK 1 messages"))
        self.assertRegex(c.multi().decode(), r"^1 \d+\r\n\.\r\n$")
        self.assertRegex(c.line().decode(), r"^\+OK 1 \d+\.\d+\r\n$")
        self.assertEqual(c.line(), b"+OK\r\n")
        self.assertEqual(c.cmd("QUIT"), "+OK Bye, 1 message removed\r\n")
        self.assertTrue(c.closed())

    def test_overlong_and_nul(self):
        c = self.raw()
        ok = "CAPA" + " " * (POP3_LINE - 6)
        self.assertTrue(c.cmd(ok).startswith("+OK"))
        c.multi()
        c.send(b"US\x00ER x\r\n")
        self.assertEqual(c.line(), b"-ERR NUL byte in command\r\n")
        c.send(b"CAPA\n")  # bare LF, as nc sends
        self.assertTrue(c.line().startswith(b"+OK"))
        c.multi()
        self.assertTrue(c.cmd("USER " + "u" * (POP3_LINE - 6)).startswith("-ERR Line too long"))
        self.assertTrue(c.closed())
        c = self.raw()
        c.send(b"A" * 5000)
        self.assertTrue(c.line().startswith(b"-ERR Line too long"))
        self.assertTrue(c.closed())


if __name__ == "__main__":
    harness.main()
