"""test_smtp.py -- the built-in lab SMTP server against real clients.

Python's smtplib sends without AUTH, with AUTH PLAIN and with AUTH LOGIN,
to several recipients at once, with an 8-bit body, and the mail is read
back with poplib byte for byte; postmaster (RFC 5321 section 4.5.1) is
refused to a client nobody is known behind, and is the student's own
mailbox after AUTH or through their browser session, never another's;
the curl command line sends a file with and without a login. Raw sockets then try what a hostile or careless
client would: relaying to another domain (550 5.7.1), the SMTP smuggling
forms ("\\n.\\n", "\\r.\\r", "\\n.\\r\\n" ...) which must not inject a second
message, an over-long command (500 and the connection ends), NUL bytes,
commands out of order, one recipient over the cap, a message over SIZE,
and the error limit -- each answered correctly while a second connection
opened beforehand keeps being served.

Network rule: loopback only.
"""

import os
import poplib
import re
import smtplib
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import PortlabTestCase, collect, open_session, unique_name  # noqa: E402

LOOPBACK = "127.0.0.1"
SMTP_WELL_KNOWN = 25
POP3_WELL_KNOWN = 110
MESSAGE_BYTES = 1024 * 1024  # LIM_SMTP_MESSAGE_BYTES
RECIPIENTS = 20  # LIM_SMTP_RECIPIENTS
COMMAND_LINE = 512  # LIM_SMTP_COMMAND_LINE
ERRORS = 20  # LIM_SMTP_ERRORS


class Raw(harness.LineClient):
    """A raw SMTP connection that reads whole replies."""

    def reply(self):
        """One whole reply (multi-line included) as text."""
        text = b""
        while True:
            line = self.line()
            text += line
            if line[3:4] != b"-":
                return text.decode("latin-1")

    def cmd(self, line):
        self.send(line.encode("latin-1") + b"\r\n")
        return self.reply()


class SmtpLab(PortlabTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = cls.pl.lab_base + SMTP_WELL_KNOWN
        cls.pop_port = cls.pl.lab_base + POP3_WELL_KNOWN
        cls.students = []
        for _ in range(3):
            name = unique_name("m")
            r, tok = cls.pl.join_full(name)
            assert r.status == 201, r
            lab = r.json["lab"]
            cls.students.append({"name": name, "cookie": tok, "user": lab["user"],
                                 "password": lab["password"]})
        cls.alice, cls.bob, cls.carol = cls.students

    def setUp(self):
        super().setUp()
        # A bystander connection: every hostile test must leave it served.
        self.other = self.raw()
        self.assertTrue(self.other.cmd("EHLO bystander.example").startswith("250-"))

    def tearDown(self):
        try:
            if not self._failed():
                self.assertTrue(self.other.cmd("NOOP").startswith("250 2.0.0"),
                                "the bystander connection is no longer served")
        finally:
            super().tearDown()

    # -- helpers -------------------------------------------------------------

    def raw(self, greet=True):
        c = Raw(self.port)
        self.addCleanup(c.close)
        g = c.reply()
        self.assertTrue(g.startswith("220 lab ESMTP "), g)
        return c

    def smtp(self):
        s = smtplib.SMTP(LOOPBACK, self.port, timeout=10)
        self.addCleanup(self._quit, s)
        return s

    @staticmethod
    def _quit(s):
        try:
            s.quit()
        except Exception:
            s.close()

    def pop(self, who):
        p = poplib.POP3(LOOPBACK, self.pop_port, timeout=10)
        p.user(who["user"])
        p.pass_(who["password"])
        return p

    def mailbox(self, who):
        """Every message in who's INBOX, as bytes with CRLF line ends."""
        p = self.pop(who)
        try:
            n = p.stat()[0]
            return [b"\r\n".join(p.retr(i)[1]) + b"\r\n" for i in range(1, n + 1)]
        finally:
            p.quit()

    def find_mail(self, who, marker):
        hits = [m for m in self.mailbox(who) if marker in m]
        return hits

    # -- real clients --------------------------------------------------------

    def test_ehlo_features(self):
        s = self.smtp()
        code, _ = s.ehlo("client.example")
        self.assertEqual(code, 250)
        self.assertEqual(s.esmtp_features.get("size"), str(MESSAGE_BYTES))
        for ext in ("8bitmime", "pipelining", "enhancedstatuscodes", "help"):
            self.assertIn(ext, s.esmtp_features)
        self.assertEqual(s.esmtp_features.get("auth", "").split(), ["PLAIN", "LOGIN"])
        code, text = s.verify(self.alice["user"])
        self.assertEqual(code, 250)
        self.assertIn(("<%s@lab>" % self.alice["user"]).encode(), text)
        code, _ = s.verify("nobody-" + unique_name())
        self.assertEqual(code, 550)
        self.assertEqual(s.noop()[0], 250)
        self.assertEqual(s.help()[:9], b"2.0.0 por")

    def test_smtplib_send_several_recipients_8bit(self):
        marker = unique_name("mk").encode()
        body = (b"From: Eve <eve@example.com>\r\nTo: friends\r\nSubject: caf\xc3\xa9 " + marker +
                b"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Content-Transfer-Encoding: 8bit\r\n\r\n"
                b"Gr\xc3\xbc\xc3\x9fe aus dem Labor.\r\n.leading dot survives\r\n..two dots\r\n"
                b"last line\r\n")
        s = self.smtp()
        s.ehlo("client.example")
        refused = s.sendmail("eve@example.com",
                             ["%s@lab" % self.alice["user"], "%s@LAB" % self.bob["user"],
                              "nobody-%s@lab" % marker.decode()],
                             body, mail_options=["BODY=8BITMIME"])
        self.assertEqual(list(refused.values())[0][0], 550)
        self.assertEqual(len(refused), 1)
        for who in (self.alice, self.bob):
            hits = self.find_mail(who, marker)
            self.assertEqual(len(hits), 1, who)
            m = hits[0]
            self.assertTrue(m.startswith(b"Return-Path: <eve@example.com>\r\nReceived: from "
                                         b"client.example ([127.0.0.1])\r\n\tby lab (portlab) "
                                         b"with ESMTP id "), m[:200])
            self.assertTrue(m.endswith(body), m[-300:])
        self.assertEqual(self.find_mail(self.carol, marker), [])

    def test_smtplib_auth_plain_and_login(self):
        for mech in ("PLAIN", "LOGIN"):
            marker = unique_name("au").encode()
            s = self.smtp()
            s.ehlo("client.example")
            s.user, s.password = self.alice["user"], self.alice["password"]
            auth = s.auth_plain if mech == "PLAIN" else s.auth_login
            code, text = s.auth(mech, auth, initial_response_ok=(mech == "PLAIN"))
            self.assertEqual(code, 235, text)
            self.assertTrue(text.startswith(b"2.7.0 "), text)
            s.sendmail("%s@lab" % self.alice["user"], ["%s@lab" % self.carol["user"]],
                       b"Subject: " + marker + b"\r\n\r\nauthenticated by " + mech.encode() + b"\r\n")
            hits = self.find_mail(self.carol, marker)
            self.assertEqual(len(hits), 1)
            self.assertIn(b"\r\n\t(authenticated as %s)\r\n\tby lab (portlab) with ESMTPA id "
                          % self.alice["user"].encode(), hits[0])
            self.assertIn(b"\r\n\tfor <%s@lab>;\r\n" % self.carol["user"].encode(), hits[0])

    def test_smtplib_wrong_password_and_login(self):
        s = self.smtp()
        with self.assertRaises(smtplib.SMTPAuthenticationError) as cm:
            s.login(self.alice["user"], "not-" + self.alice["password"])
        self.assertEqual(cm.exception.smtp_code, 535)
        self.assertTrue(cm.exception.smtp_error.startswith(b"5.7.8 "))
        # smtplib.login picks PLAIN here; the right password works after a wrong one.
        code, _ = s.login(self.alice["user"], self.alice["password"])
        self.assertEqual(code, 235)

    def test_postmaster(self):
        """RFC 5321 4.5.1: postmaster is accepted, and is the student behind the connection."""
        # A direct client that has not logged in: nobody is known, 530 says how.
        s = self.smtp()
        s.ehlo("client.example")
        code, text = s.verify("postmaster")
        self.assertEqual(code, 530, text)
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            s.sendmail("x@example.com", ["postmaster@lab"], b"Subject: nobody\r\n\r\nx\r\n")
        code, text = cm.exception.recipients["postmaster@lab"]
        self.assertEqual(code, 530)
        self.assertTrue(text.startswith(b"5.7.0 <postmaster@lab>: every student is the "), text)
        # Logged in: alice's own mailbox, never bob's or carol's.
        marker = unique_name("pm").encode()
        s = self.smtp()
        s.login(self.alice["user"], self.alice["password"])
        code, text = s.verify("Postmaster")
        self.assertEqual((code, text), (250, b"2.1.5 postmaster <postmaster@lab> (that is you, %s)"
                                        % self.alice["user"].encode()))
        s.sendmail("x@example.com", ["Postmaster", "POSTMASTER@lab"],
                   b"Subject: " + marker + b"\r\n\r\nto my postmaster\r\n")
        hits = self.find_mail(self.alice, marker)
        self.assertEqual(len(hits), 1)
        self.assertIn(b"\r\n\tfor <postmaster@lab>;\r\n", hits[0])
        self.assertEqual(self.find_mail(self.bob, marker), [])
        self.assertEqual(self.find_mail(self.carol, marker), [])

    def test_postmaster_through_the_relay(self):
        """Typed in bob's browser session: bob's mailbox, never alice's."""
        ws = self.ws(self.pl.ws_connect(self.bob["cookie"]))
        self.assertOpened(open_session(ws, "lab", SMTP_WELL_KNOWN))
        marker = unique_name("pr").encode()
        recv = b""

        def say(raw, pattern):
            nonlocal recv
            if raw:
                ws.send_binary(raw)
            start = len(recv)
            rx = re.compile(pattern)
            c = collect(ws, until=lambda c: bool(rx.search(recv[start:] + bytes(c.data))),
                        timeout=10)
            recv += bytes(c.data)
            self.assertRegex(recv[start:], rx)

        say(b"", rb"^220 lab ESMTP [^\r\n]*\r\n$")
        say(b"HELO browser\r\nMAIL FROM:<bob@lab>\r\n", rb"250 2\.1\.0 [^\r\n]*\r\n$")
        say(b"RCPT TO:<Postmaster>\r\n", rb"^250 2\.1\.5 Recipient <postmaster@lab> OK "
            rb"\(that is you, " + self.bob["user"].encode() + rb"\)\r\n$")
        say(b"DATA\r\n", rb"^354 ")
        say(b"Subject: " + marker + b"\r\n\r\nrelayed\r\n.\r\nQUIT\r\n", rb"221 2\.0\.0 ")
        self.assertEqual(len(self.find_mail(self.bob, marker)), 1)
        self.assertEqual(self.find_mail(self.alice, marker), [])

    def test_relay_denied(self):
        s = self.smtp()
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as cm:
            s.sendmail("eve@example.com", ["someone@example.com"], b"Subject: relay\r\n\r\nx\r\n")
        code, text = cm.exception.recipients["someone@example.com"]
        self.assertEqual(code, 550)
        self.assertTrue(text.startswith(b"5.7.1 "), text)
        # Not even after AUTH.
        s2 = self.smtp()
        s2.login(self.alice["user"], self.alice["password"])
        with self.assertRaises(smtplib.SMTPRecipientsRefused):
            s2.sendmail("%s@lab" % self.alice["user"], ["someone@example.com"], b"x\r\n")

    def test_size_refused(self):
        s = self.smtp()
        s.ehlo("client.example")
        big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * (MESSAGE_BYTES // 1000 + 10)
        with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
            s.sendmail("eve@example.com", ["%s@lab" % self.alice["user"]], big)
        self.assertEqual(cm.exception.smtp_code, 552)
        self.assertTrue(cm.exception.smtp_error.startswith(b"5.3.4 "))
        # Without the SIZE parameter the text is read to its end, then refused.
        c = self.raw()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<eve@example.com>")
        self.assertTrue(c.cmd("RCPT TO:<%s@lab>" % self.alice["user"]).startswith("250 "))
        self.assertTrue(c.cmd("DATA").startswith("354 "))
        c.send(big + b".\r\n")
        self.assertTrue(c.reply().startswith("552 5.3.4 "))
        self.assertTrue(c.cmd("NOOP").startswith("250 "))

    def curl(self, *args):
        if not os.path.exists("/usr/bin/curl"):
            self.skipTest("curl not installed")
        p = subprocess.run(["/usr/bin/curl", "-sS", "--max-time", "20"] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return p

    def test_curl(self):
        for login in (False, True):
            marker = unique_name("cu")
            with tempfile.NamedTemporaryFile("wb", suffix=".eml", delete=False) as f:
                f.write(("From: curl <curl@example.com>\r\nSubject: %s\r\n\r\nsent by curl\r\n"
                         ".dot\r\n" % marker).encode())
                path = f.name
            self.addCleanup(os.unlink, path)
            args = ["smtp://%s:%d" % (LOOPBACK, self.port), "--mail-from", "curl@example.com",
                    "--mail-rcpt", "%s@lab" % self.bob["user"], "-T", path]
            if login:
                args += ["--user", "%s:%s" % (self.bob["user"], self.bob["password"])]
            p = self.curl(*args)
            self.assertEqual(p.returncode, 0, p.stderr)
            hits = self.find_mail(self.bob, marker.encode())
            self.assertEqual(len(hits), 1)
            self.assertTrue(hits[0].endswith(b"\r\n\r\nsent by curl\r\n.dot\r\n"), hits[0])
            self.assertEqual(b"ESMTPA" in hits[0], login)
        # curl's relay attempt fails with the server's refusal.
        p = self.curl("smtp://%s:%d" % (LOOPBACK, self.port), "--mail-from", "a@example.com",
                      "--mail-rcpt", "b@example.com", "-T", path)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"550", p.stderr)

    # -- raw negative tests ---------------------------------------------------

    def test_smuggling_forms(self):
        forms = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r"]
        for fake in forms:
            marker = unique_name("sm").encode()
            c = self.raw()
            c.cmd("EHLO attacker.example")
            c.cmd("MAIL FROM:<eve@example.com>")
            self.assertTrue(c.cmd("RCPT TO:<%s@lab>" % self.alice["user"]).startswith("250 "))
            self.assertTrue(c.cmd("DATA").startswith("354 "))
            c.send(b"Subject: outer " + marker + b"\r\n\r\nhello" + fake +
                   b"MAIL FROM:<admin@lab>\r\nRCPT TO:<" + self.bob["user"].encode() +
                   b"@lab>\r\nDATA\r\nSubject: smuggled " + marker + b"\r\n\r\nevil\r\n.\r\n")
            r = c.reply()
            self.assertTrue(r.startswith("554 5.6.11 "), (fake, r))
            # Exactly one reply: nothing after the fake end was a command.
            self.assertEqual(c.cmd("NOOP"), "250 2.0.0 OK\r\n", fake)
            self.assertEqual(c.buf, b"")
            self.assertEqual(self.find_mail(self.bob, marker), [], fake)
            self.assertEqual(self.find_mail(self.alice, marker), [], fake)

    def test_overlong_command(self):
        c = self.raw()
        c.cmd("EHLO x")
        ok = "NOOP " + "a" * (COMMAND_LINE - 7)
        self.assertTrue(c.cmd(ok).startswith("250 "))
        r = c.cmd(ok + "a")
        self.assertTrue(r.startswith("500 5.5.2 "), r)
        self.assertTrue(c.closed())
        # Longer than any line, with no newline at all.
        c = self.raw()
        c.send(b"X" * 4000)
        self.assertTrue(c.reply().startswith("500 5.5.2 "))
        self.assertTrue(c.closed())

    def test_nul_and_bare_lf(self):
        c = self.raw()
        c.send(b"EH\x00LO x\r\n")
        self.assertTrue(c.reply().startswith("500 5.5.2 "))
        c.send(b"EHLO nc.example\n")  # nc without -C sends bare LF
        self.assertTrue(c.reply().startswith("250-lab Hello nc.example"))
        self.assertTrue(c.cmd("NOOP").startswith("250 "))

    def test_out_of_sequence(self):
        c = self.raw()
        self.assertTrue(c.cmd("MAIL FROM:<a@example.com>").startswith("503 5.5.1 "))
        c.cmd("HELO x")
        self.assertTrue(c.cmd("RCPT TO:<%s@lab>" % self.alice["user"]).startswith("503 5.5.1 "))
        self.assertTrue(c.cmd("DATA").startswith("503 5.5.1 "))
        c.cmd("MAIL FROM:<a@example.com>")
        self.assertTrue(c.cmd("DATA").startswith("503 5.5.1 "))
        self.assertTrue(c.cmd("MAIL FROM:<a@example.com>").startswith("503 5.5.1 "))
        self.assertTrue(c.cmd("RCPT TO:<nobody-x@lab>").startswith("550 5.1.1 "))
        self.assertTrue(c.cmd("DATA").startswith("503 5.5.1 "))
        self.assertTrue(c.cmd("FOO").startswith("500 5.5.1 "))
        self.assertTrue(c.cmd("QUIT").startswith("221 2.0.0 "))
        self.assertTrue(c.closed())

    def test_recipient_cap(self):
        users = [s["user"] for s in self.students] + ["demo"]
        while len(users) <= RECIPIENTS:
            r, _ = self.pl.join_full(unique_name("rc"))
            self.assertEqual(r.status, 201)
            users.append(r.json["lab"]["user"])
        c = self.raw()
        c.cmd("EHLO x")
        c.cmd("MAIL FROM:<a@example.com>")
        # Pipelined: one packet, the replies in order.
        c.send(b"".join(b"RCPT TO:<%s@lab>\r\n" % u.encode() for u in users[:RECIPIENTS + 1]))
        replies = [c.reply() for _ in range(RECIPIENTS + 1)]
        for r in replies[:RECIPIENTS]:
            self.assertTrue(r.startswith("250 2.1.5 "), r)
        self.assertTrue(replies[RECIPIENTS].startswith("452 4.5.3 "), replies[RECIPIENTS])
        self.assertTrue(c.cmd("RSET").startswith("250 "))

    def test_error_limit(self):
        c = self.raw()
        for _ in range(ERRORS - 1):
            self.assertTrue(c.cmd("BOGUS").startswith("500 "))
        c.send(b"BOGUS\r\n")
        self.assertTrue(c.reply().startswith("500 "))
        self.assertTrue(c.reply().startswith("421 4.7.0 "))
        self.assertTrue(c.closed())


if __name__ == "__main__":
    harness.main()
