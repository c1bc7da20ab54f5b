"""test_imap.py -- the built-in lab IMAP server against real clients.

Python's imaplib logs in with a student's lab credentials from POST
/api/join and does what a mail program does: LIST, SELECT, SEARCH (ALL,
UNSEEN, FROM), FETCH (RFC822, BODY.PEEK[HEADER], FLAGS, UID), STORE
+FLAGS \\Seen and \\Deleted, EXPUNGE, CREATE, COPY, APPEND with a literal,
the UID forms, and LOGOUT; then a hierarchy: CREATE of "p/q/r" makes
"p" and "p/q", LIST with "%", RENAME with its inferiors and of INBOX,
DELETE leaving a \\Noselect level. A mail sent with smtplib to the
student's lab address shows up at once (NOOP announces it). The curl command line
fetches a message by UID and runs a custom EXAMINE. Raw sockets then try
what a hostile or clumsy client would: a literal over the cap (no "+"
continuation is sent, and the server keeps serving), a non-synchronising
one (swallowed), garbage tags, unterminated quoted strings, NUL bytes,
commands before LOGIN, SELECT of a missing mailbox, an over-long line --
while a second, logged-in connection keeps being served. Last, a session
typed by hand through the relay to lab:143 whose transcript must hold the
exact bytes.

Network rule: loopback only.
"""

import imaplib
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import (PortlabTestCase, collect, open_session, transcript_bytes,  # noqa: E402
                     unique_name, wait_closed)

LOOPBACK = "127.0.0.1"
IMAP_WELL_KNOWN = 143
SMTP_WELL_KNOWN = 25
LINE_MAX = 8192            # LIM_IMAP_LINE
LITERAL_MAX = 1024 * 1024  # LIM_IMAP_LITERAL_BYTES


class Raw:
    """A raw IMAP connection that reads lines and literals."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line + b"\r\n"

    def until_tag(self, tag):
        """Everything up to and including the tagged reply."""
        out = b""
        while True:
            ln = self.line()
            out += ln
            if ln.startswith(tag + b" "):
                return out

    def send(self, raw):
        self.sock.sendall(raw)

    def cmd(self, tag, text):
        self.send(tag + b" " + text + b"\r\n")
        return self.until_tag(tag)

    def quiet(self, wait=0.5):
        """True if nothing more arrives within wait seconds."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(4096)
            self.buf += chunk
            return False
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(10.0)

    def closed(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ImapConformance(PortlabTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = cls.pl.lab_base + IMAP_WELL_KNOWN

    def setUp(self):
        super().setUp()
        self.who = self.student()
        # A bystander: it must still be served after every hostile test.
        self.other = Raw(self.port)
        self.other.line()
        tag = b"o1"
        reply = self.other.cmd(tag, b"LOGIN %s %s" % (self.who["user"].encode(),
                                                     self.who["password"].encode()))
        self.assertTrue(reply.startswith(b"o1 OK "), reply)

    def tearDown(self):
        try:
            if not self._failed():
                self.assertEqual(self.other.cmd(b"o2", b"NOOP"), b"o2 OK NOOP completed\r\n",
                                 "the bystander connection is no longer served")
        finally:
            self.other.close()
            super().tearDown()

    # -- helpers -------------------------------------------------------------

    def student(self):
        r, tok = self.pl.join_full(unique_name("i"))
        self.assertEqual(r.status, 201, r)
        lab = r.json["lab"]
        return {"cookie": tok, "user": lab["user"], "password": lab["password"]}

    def imap(self, who=None):
        who = who or self.who
        m = imaplib.IMAP4(LOOPBACK, self.port, timeout=10)
        self.addCleanup(self._logout, m)
        typ, data = m.login(who["user"], who["password"])
        self.assertEqual(typ, "OK", data)
        return m

    @staticmethod
    def _logout(m):
        try:
            m.logout()
        except Exception:
            pass

    def raw(self):
        c = Raw(self.port)
        self.addCleanup(c.close)
        g = c.line()
        self.assertRegex(g, rb"^\* OK \[CAPABILITY IMAP4rev1 [^\]]*AUTH=PLAIN\] [^\r\n]+\r\n$")
        return c

    def raw_login(self):
        c = self.raw()
        reply = c.cmd(b"L", b"LOGIN %s %s" % (self.who["user"].encode(),
                                              self.who["password"].encode()))
        self.assertTrue(reply.startswith(b"L OK [CAPABILITY IMAP4rev1 "), reply)
        return c

    # -- imaplib ---------------------------------------------------------------

    def test_imaplib_session(self):
        m = self.imap()
        self.assertIn("IMAP4REV1", m.capabilities)
        self.assertIn("UIDPLUS", m.capabilities)
        typ, boxes = m.list()
        self.assertEqual((typ, boxes), ("OK", [b'(\\HasNoChildren) "/" INBOX']))
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"2"]))  # the two welcome mails
        self.assertEqual(m.search(None, "ALL"), ("OK", [b"1 2"]))
        self.assertEqual(m.search(None, "UNSEEN"), ("OK", [b"1 2"]))
        self.assertEqual(m.search(None, "FROM", '"teacher"'), ("OK", [b"1 2"]))
        self.assertEqual(m.search(None, "FROM", "nobody"), ("OK", [b""]))
        typ, data = m.fetch("1", "(BODY.PEEK[HEADER])")
        self.assertEqual(typ, "OK")
        header = data[0][1]
        self.assertIn(b"From: Teacher <teacher@lab>\r\n", header)
        self.assertTrue(header.endswith(b"\r\n\r\n"), header[-20:])
        self.assertEqual(m.fetch("1", "(FLAGS)"), ("OK", [b"1 (FLAGS ())"]))
        typ, data = m.fetch("1", "(RFC822)")
        self.assertEqual(typ, "OK")
        msg = data[0][1]
        self.assertTrue(msg.startswith(b"Date: "), msg[:40])
        self.assertIn(b"Hello %s," % self.who["user"].encode(), msg)
        # RFC822 (not a peek) set \Seen, and said so.
        self.assertIn(b"FLAGS (\\Seen)", data[0][0] + (data[1] if len(data) > 1 else b""))
        self.assertEqual(m.search(None, "SEEN"), ("OK", [b"1"]))
        typ, data = m.fetch("1:2", "(UID RFC822.SIZE)")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0], rb"^1 \(UID 1 RFC822\.SIZE \d+\)$")
        self.assertEqual(len(data), 2)
        self.assertEqual(m.store("2", "+FLAGS", "\\Seen"), ("OK", [b"2 (FLAGS (\\Seen))"]))
        self.assertEqual(m.search(None, "UNSEEN"), ("OK", [b""]))

        # Folders, COPY, APPEND (a literal), and the UID forms.
        self.assertEqual(m.create("Archive")[0], "OK")
        self.assertEqual(m.create("Archive")[0], "NO")
        typ, data = m.copy("1:2", "Archive")
        self.assertEqual(typ, "OK")
        self.assertRegex(data[0], rb"^\[COPYUID \d+ 1:2 1:2\] COPY completed$")
        self.assertEqual(m.status("Archive", "(MESSAGES UNSEEN)"),
                         ("OK", [b"Archive (MESSAGES 2 UNSEEN 0)"]))
        note = b"From: me@lab\r\nSubject: appended by imaplib\r\n\r\nkeep this\r\n"
        typ, data = m.append("Archive", "(\\Flagged)", imaplib.Time2Internaldate(time.time()), note)
        self.assertEqual(typ, "OK", data)
        self.assertRegex(data[0], rb"^\[APPENDUID \d+ 3\] APPEND completed$")
        self.assertEqual(m.copy("1", "Nowhere")[0], "NO")
        typ, data = m.uid("SEARCH", None, "ALL")
        self.assertEqual((typ, data), ("OK", [b"1 2"]))
        typ, data = m.uid("FETCH", "2", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0][0], b"2 (UID 2 FLAGS (\\Seen) BODY[HEADER.FIELDS (SUBJECT)] {%d}"
                         % len(data[0][1]))
        self.assertTrue(data[0][1].startswith(b"Subject: How mail moves"), data[0][1])
        self.assertEqual(m.uid("STORE", "1", "+FLAGS", "(\\Deleted)"),
                         ("OK", [b"1 (UID 1 FLAGS (\\Seen \\Deleted))"]))
        typ, data = m.expunge()
        self.assertEqual((typ, data), ("OK", [b"1"]))
        self.assertEqual(m.search(None, "ALL"), ("OK", [b"1"]))
        typ, data = m.uid("MOVE", "2", "Archive")
        self.assertEqual(typ, "OK", data)
        self.assertEqual(m.search(None, "ALL"), ("OK", [b""]))
        self.assertEqual(m.close()[0], "OK")

        typ, data = m.select("Archive", readonly=True)
        self.assertEqual((typ, data), ("OK", [b"4"]))
        self.assertEqual(m.search(None, "FLAGGED"), ("OK", [b"3"]))
        typ, data = m.fetch("3", "(BODY[TEXT])")
        self.assertEqual(data[0][1], b"keep this\r\n")
        self.assertEqual(m.search(None, "SEEN"), ("OK", [b"1 2 4"]))  # EXAMINE: no \Seen set
        self.assertEqual(m.store("1", "+FLAGS", "\\Deleted")[0], "NO")
        typ, boxes = m.list()
        self.assertEqual(boxes, [b'(\\HasNoChildren) "/" INBOX', b'(\\HasNoChildren) "/" Archive'])
        self.assertEqual(m.select("Nowhere")[0], "NO")
        typ, data = m.logout()
        self.assertEqual(typ, "BYE")

    def test_imaplib_hierarchy_and_rename(self):
        """CREATE makes superiors, "%" walks the levels, RENAME (RFC 3501 6.3.5)."""
        m = self.imap()
        self.assertEqual(m.create("p/q/r"), ("OK", [b"CREATE completed"]))
        self.assertEqual(m.list('""', "%"), ("OK", [b'(\\HasNoChildren) "/" INBOX',
                                                   b'(\\HasChildren) "/" p']))
        self.assertEqual(m.list('""', "p/%"), ("OK", [b'(\\HasChildren) "/" p/q']))
        self.assertEqual(m.select("p"), ("OK", [b"0"]))
        typ, data = m.rename("p", "Work")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[INUSE]", data[0])
        self.assertEqual(m.close()[0], "OK")
        self.assertEqual(m.rename("p", "Work"), ("OK", [b"RENAME completed"]))
        self.assertEqual(m.list(), ("OK", [b'(\\HasNoChildren) "/" INBOX',
                                           b'(\\HasChildren) "/" Work',
                                           b'(\\HasChildren) "/" Work/q',
                                           b'(\\HasNoChildren) "/" Work/q/r']))
        typ, data = m.rename("Work/q", "Work/q/r/s")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[CANNOT]", data[0])
        typ, data = m.rename("Nowhere", "x")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[NONEXISTENT]", data[0])
        # DELETE of a mailbox with inferiors leaves a \Noselect level (6.3.4).
        self.assertEqual(m.delete("Work"), ("OK", [b"DELETE completed"]))
        self.assertEqual(m.list('""', "%"), ("OK", [b'(\\HasNoChildren) "/" INBOX',
                                                   b'(\\Noselect \\HasChildren) "/" Work']))
        typ, data = m.delete("Work")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[HASCHILDREN]", data[0])
        self.assertEqual(m.select("Work")[0], "NO")
        # RENAME INBOX moves its mail out and leaves it empty.
        typ, data = m.status("INBOX", "(MESSAGES UIDVALIDITY)")
        inbox = re.search(rb"MESSAGES (\d+) UIDVALIDITY (\d+)", data[0])
        self.assertEqual(inbox.group(1), b"2")
        self.assertEqual(m.rename("INBOX", "Saved"), ("OK", [b"RENAME completed"]))
        self.assertEqual(m.select("INBOX"), ("OK", [b"0"]))
        self.assertEqual(m.response("UIDVALIDITY"), ("UIDVALIDITY", [inbox.group(2)]))
        self.assertEqual(m.select("Saved"), ("OK", [b"2"]))
        self.assertNotEqual(m.response("UIDVALIDITY"), ("UIDVALIDITY", [inbox.group(2)]))
        self.assertEqual(m.close()[0], "OK")
        typ, data = m.rename("Saved", "Work/q")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[ALREADYEXISTS]", data[0])

    def test_imaplib_bad_password(self):
        m = imaplib.IMAP4(LOOPBACK, self.port, timeout=10)
        try:
            with self.assertRaises(imaplib.IMAP4.error) as cm:
                m.login(self.who["user"], "wrong-" + self.who["password"])
            self.assertIn("AUTHENTICATIONFAILED", str(cm.exception))
            # PLAIN through imaplib's AUTHENTICATE (a "+" challenge, base64 reply).
            m.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (self.who["user"],
                                                              self.who["password"])).encode())
            self.assertEqual(m.state, "AUTH")
        finally:
            self._logout(m)

    def test_smtp_mail_visible_at_once(self):
        m = self.imap()
        m.select("INBOX")
        marker = unique_name("smtp")
        sender = self.student()
        s = smtplib.SMTP(LOOPBACK, self.pl.lab_base + SMTP_WELL_KNOWN, timeout=10)
        try:
            s.sendmail("%s@lab" % sender["user"], ["%s@lab" % self.who["user"]],
                       "From: %s@lab\r\nTo: %s@lab\r\nSubject: %s\r\n\r\nover SMTP\r\n"
                       % (sender["user"], self.who["user"], marker))
        finally:
            s.quit()
        typ, data = m.noop()
        self.assertEqual(typ, "OK")
        self.assertIn(b"3", m.response("EXISTS")[1])
        self.assertEqual(m.search(None, "SUBJECT", marker), ("OK", [b"3"]))
        self.assertEqual(m.search(None, "NEW"), ("OK", [b"3"]))
        typ, data = m.fetch("3", "(ENVELOPE BODY.PEEK[TEXT])")
        self.assertIn(b'"%s" ((NIL NIL "%s" "lab"))' % (marker.encode(), sender["user"].encode()),
                      data[0][0])
        self.assertEqual(data[0][1], b"over SMTP\r\n")

    # -- curl ----------------------------------------------------------------------

    def curl(self, *args):
        if not shutil.which("curl"):
            raise unittest.SkipTest("curl is not installed")
        p = subprocess.run(["curl", "-sS", "--max-time", "10",
                            "--user", "%s:%s" % (self.who["user"], self.who["password"])]
                           + list(args), capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def test_curl(self):
        base = "imap://%s:%d" % (LOOPBACK, self.port)
        msg = self.curl(base + "/INBOX;UID=1")
        self.assertTrue(msg.startswith(b"Date: "), msg[:60])
        self.assertIn(b"Subject: Welcome to the portlab lab\r\n", msg)
        self.assertIn(b"Hello %s," % self.who["user"].encode(), msg)
        out = self.curl(base + "/INBOX", "-X", "EXAMINE INBOX")
        self.assertIn(b"* 2 EXISTS", out)
        self.assertIn(b"* OK [UIDVALIDITY ", out)
        out = self.curl(base + "/")
        self.assertIn(b'* LIST (\\HasNoChildren) "/" INBOX', out)
        out = self.curl(base + "/INBOX?SUBJECT%20Welcome")
        self.assertEqual(out, b"* SEARCH 1\r\n")

    # -- raw negative tests ---------------------------------------------------------

    def test_literal_over_the_cap(self):
        c = self.raw_login()
        # Synchronising: refused at once, no "+" -- the bytes never come.
        c.send(b"a1 APPEND INBOX {%d}\r\n" % (LITERAL_MAX + 1))
        self.assertEqual(c.line(), b"a1 NO [TOOBIG] A literal may hold at most 1048576 bytes\r\n")
        self.assertTrue(c.quiet())
        self.assertEqual(c.cmd(b"a2", b"NOOP"), b"a2 OK NOOP completed\r\n")
        # Non-synchronising: the bytes come anyway and are swallowed.
        c.send(b"a3 APPEND INBOX {%d+}\r\n" % (LITERAL_MAX + 1))
        c.send(b"a4 NOOP\r\n" + b"x" * (LITERAL_MAX + 1 - 9) + b"\r\n")
        self.assertEqual(c.line(), b"a3 NO [TOOBIG] A literal may hold at most 1048576 bytes\r\n")
        self.assertEqual(c.cmd(b"a5", b"NOOP"), b"a5 OK NOOP completed\r\n")
        # Before login a literal may only hold a name or a password.
        d = self.raw()
        d.send(b"b1 LOGIN {2000}\r\n")
        self.assertEqual(d.line(),
                         b"b1 NO [TOOBIG] A literal may hold at most 1024 bytes before login\r\n")
        d.send(b"b2 LOGIN {%d}\r\n" % len(self.who["user"]))
        self.assertEqual(d.line(), b"+ Ready for %d bytes\r\n" % len(self.who["user"]))
        d.send(self.who["user"].encode() + b" {%d+}\r\n%s\r\n" % (len(self.who["password"]),
                                                                  self.who["password"].encode()))
        self.assertTrue(d.line().startswith(b"b2 OK [CAPABILITY "))
        # And a good one at the cap's edge goes through.
        msg = b"Subject: big\r\n\r\n" + b"y" * (LITERAL_MAX - 16)
        c.send(b"a6 APPEND INBOX {%d}\r\n" % len(msg))
        self.assertEqual(c.line(), b"+ Ready for %d bytes\r\n" % LITERAL_MAX)
        c.send(msg + b"\r\n")
        self.assertRegex(c.until_tag(b"a6"), rb"^a6 OK \[APPENDUID \d+ 3\] APPEND completed\r\n$")

    def test_garbage(self):
        c = self.raw()
        self.assertEqual(c.cmd(b"*", b"LOGIN a b"),
                         b"* BAD Invalid tag (a tag is letters and digits, like a001)\r\n")
        c.send(b"+ NOOP\r\n")
        self.assertEqual(c.line(), b"* BAD Invalid tag (a tag is letters and digits, like a001)\r\n")
        self.assertEqual(c.cmd(b"t1", b"FROB"), b"t1 BAD Unknown command\r\n")
        self.assertEqual(c.cmd(b"t2", b'LOGIN "unterminated'),
                         b"t2 BAD Unterminated quoted string (LOGIN user password)\r\n")
        self.assertEqual(c.cmd(b"t3", b"SELECT INBOX"), b"t3 BAD Log in first (LOGIN user password)\r\n")
        self.assertEqual(c.cmd(b"t4", b"FETCH 1 FLAGS"), b"t4 BAD Log in first (LOGIN user password)\r\n")
        self.assertEqual(c.cmd(b"t5", b"NO\x00OP"), b"t5 BAD NUL bytes are not allowed in commands\r\n")
        c.send(b"t6 NOOP\n")  # a bare LF
        self.assertEqual(c.line(), b"t6 OK NOOP completed\r\n")
        c = self.raw_login()
        self.assertEqual(c.cmd(b"s1", b"SELECT Nowhere"),
                         b"s1 NO [NONEXISTENT] There is no mailbox by that name\r\n")
        self.assertEqual(c.cmd(b"s2", b"FETCH 1 FLAGS"),
                         b"s2 BAD No mailbox selected (SELECT or EXAMINE one first)\r\n")
        c.cmd(b"s3", b"SELECT INBOX")
        self.assertEqual(c.cmd(b"s4", b"FETCH 3 FLAGS"), b"s4 BAD No such message: the mailbox holds 2\r\n")
        self.assertEqual(c.cmd(b"s5", b"STORE 1 +FLAGS (\\Recent)"),
                         b"s5 BAD \\Recent is kept by the server (STORE set +FLAGS (\\Seen))\r\n")
        self.assertEqual(c.cmd(b"s6", b"LOGOUT"),
                         b"* BYE portlab IMAP closing the connection, goodbye\r\ns6 OK LOGOUT completed\r\n")
        self.assertTrue(c.closed())

    def test_overlong_line(self):
        c = self.raw_login()
        c.send(b"a1 NOOP " + b"x" * (LINE_MAX - 10) + b"\r\n")  # exactly LINE_MAX with CRLF
        self.assertEqual(c.line(), b"a1 BAD NOOP takes no arguments\r\n")
        c.send(b"a2 NOOP " + b"x" * LINE_MAX + b"\r\n")
        self.assertEqual(c.line(), b"* BAD Line too long (the limit is 8192 bytes)\r\n")
        self.assertEqual(c.line(), b"* BYE Closing the connection\r\n")
        self.assertTrue(c.closed())

    def test_login_failures_close(self):
        c = self.raw()
        for i in range(2):
            self.assertEqual(c.cmd(b"f%d" % i, b"LOGIN %s nope" % self.who["user"].encode()),
                             b"f%d NO [AUTHENTICATIONFAILED] Wrong user name or password\r\n" % i)
        c.send(b"f3 LOGIN x y\r\n")
        self.assertEqual(c.line(), b"f3 NO [AUTHENTICATIONFAILED] Wrong user name or password\r\n")
        self.assertEqual(c.line(), b"* BYE Too many failed logins, closing the connection\r\n")
        self.assertTrue(c.closed())

    # -- by hand, through the relay ----------------------------------------------------

    def test_relay_transcript(self):
        ws = self.ws(self.pl.ws_connect(self.who["cookie"]))
        sid = self.assertOpened(open_session(ws, "lab", IMAP_WELL_KNOWN))
        sent, recv = b"", b""

        def wait(pattern):
            nonlocal recv
            start = len(recv)
            rx = re.compile(pattern, re.S)
            c = collect(ws, until=lambda c: bool(rx.search(recv[start:] + bytes(c.data))),
                        timeout=10)
            recv += bytes(c.data)
            self.assertRegex(recv[start:], rx)
            return recv[start:]

        def say(raw, pattern):
            nonlocal sent
            ws.send_binary(raw)
            sent += raw
            return wait(pattern)

        wait(rb"^\* OK \[CAPABILITY [^\r\n]*\] portlab IMAP ready[^\r\n]*\r\n$")
        say(b"a1 LOGIN %s {%d}\r\n" % (self.who["user"].encode(), len(self.who["password"])),
            rb"^\+ Ready for \d+ bytes\r\n$")
        say(self.who["password"].encode() + b"\r\n",
            rb"^a1 OK \[CAPABILITY [^\r\n]*\] Logged in as [^\r\n]*\r\n$")
        got = say(b"a2 SELECT INBOX\r\n", rb"a2 OK \[READ-WRITE\] SELECT completed\r\n$")
        self.assertIn(b"* 2 EXISTS\r\n", got)
        got = say(b"a3 FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n",
                  rb"a3 OK FETCH completed\r\n$")
        self.assertEqual(got, b"* 1 FETCH (FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {39}\r\n"
                              b"Subject: Welcome to the portlab lab\r\n\r\n)\r\n"
                              b"a3 OK FETCH completed\r\n")
        say(b"a4 SEARCH UNSEEN\r\n", rb"^\* SEARCH 1 2\r\na4 OK SEARCH completed\r\n$")
        say(b"a5 LOGOUT\r\n",
            rb"^\* BYE portlab IMAP closing the connection, goodbye\r\na5 OK LOGOUT completed\r\n$")
        c, closed = wait_closed(ws)
        self.assertIsNotNone(closed, c.messages)
        recv += bytes(c.data)
        r = self.pl.transcript_when_ended(sid, self.who["cookie"])
        self.assertEqual(r.status, 200, r)
        tr = r.json
        self.assertEqual(tr["session"]["host"], "lab")
        self.assertEqual(tr["session"]["port"], IMAP_WELL_KNOWN)
        self.assertEqual(transcript_bytes(tr["events"], "c2s"), sent)
        self.assertEqual(transcript_bytes(tr["events"], "s2c"), recv)


if __name__ == "__main__":
    harness.main()
