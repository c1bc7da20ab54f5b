"""test_mail_flow.py -- SMTP then POP3 by hand, through the relay.

The lesson as a student lives it: one browser session (a WebSocket
through the relay) to lab:25 where a mail to a classmate is typed line by
line -- EHLO, MAIL FROM, RCPT TO, DATA, the text, the lone dot, QUIT --
and then the classmate's session to lab:110 reads it with USER, PASS,
LIST, RETR and DELE/QUIT. Both transcripts (GET /api/sessions/ID/
transcript) must hold exactly the bytes each side sent and received, the
message read back must be the one typed, and a last poplib check shows
the DELE was applied at QUIT.

Network rule: loopback only.
"""

import os
import poplib
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import (PortlabTestCase, collect, open_session, transcript_bytes,  # noqa: E402
                     unique_name, wait_closed)

LOOPBACK = "127.0.0.1"
SMTP_WELL_KNOWN = 25
POP3_WELL_KNOWN = 110


class Typist:
    """One relayed session: sends lines and keeps every byte both ways."""

    def __init__(self, test, ws):
        self.test = test
        self.ws = ws
        self.sent = b""
        self.recv = b""

    def wait(self, pattern, timeout=10.0):
        """Reads until the bytes received so far match pattern (a regex on
        what arrived since the last wait); returns those new bytes."""
        start = len(self.recv)
        rx = re.compile(pattern, re.S)

        def done(c):
            return bool(rx.search(self.recv[start:] + bytes(c.data)))

        c = collect(self.ws, until=done, timeout=timeout)
        self.recv += bytes(c.data)
        new = self.recv[start:]
        self.test.assertRegex(new, rx, "waited for %r, got %r (messages %r)"
                              % (pattern, new, c.messages))
        return new

    def say(self, raw, pattern):
        self.ws.send_binary(raw)
        self.sent += raw
        return self.wait(pattern)


class MailFlow(PortlabTestCase):
    def student(self):
        name = unique_name("w")
        r, tok = self.pl.join_full(name)
        self.assertEqual(r.status, 201, r)
        lab = r.json["lab"]
        return {"cookie": tok, "user": lab["user"], "password": lab["password"]}

    def transcript(self, sid, cookie):
        r = self.pl.transcript_when_ended(sid, cookie)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["session"].get("ended_at"), r.json["session"])
        return r.json

    def test_smtp_then_pop3_through_the_relay(self):
        alice, bob = self.student(), self.student()
        marker = unique_name("flow")
        text = ("From: %s@lab\r\nTo: %s@lab\r\nSubject: %s\r\n\r\n"
                "Hi Bob, typed by hand through the relay.\r\n"
                "..a line that began with a dot\r\n"
                % (alice["user"], bob["user"], marker)).encode()

        # --- alice sends over SMTP -----------------------------------------
        ws1 = self.ws(self.pl.ws_connect(alice["cookie"]))
        opened = open_session(ws1, "lab", SMTP_WELL_KNOWN)
        sid1 = self.assertOpened(opened)
        t1 = Typist(self, ws1)
        t1.wait(rb"^220 lab ESMTP [^\r\n]*\r\n$")
        t1.say(b"EHLO student.example\r\n", rb"250 HELP\r\n$")
        t1.say(b"MAIL FROM:<%s@lab>\r\n" % alice["user"].encode(), rb"^250 2\.1\.0 [^\r\n]*\r\n$")
        t1.say(b"RCPT TO:<%s@lab>\r\n" % bob["user"].encode(), rb"^250 2\.1\.5 [^\r\n]*\r\n$")
        t1.say(b"RCPT TO:<someone@example.com>\r\n", rb"^550 5\.7\.1 [^\r\n]*\r\n$")
        t1.say(b"DATA\r\n", rb"^354 [^\r\n]*\r\n$")
        # The text as a student types it: line by line, nothing answered yet.
        for line in text.split(b"\r\n")[:-1]:
            ws1.send_binary(line + b"\r\n")
            t1.sent += line + b"\r\n"
        reply = t1.say(b".\r\n", rb"^250 2\.0\.0 [^\r\n]*\r\n$")
        self.assertIn(b"Message accepted for delivery, id ", reply)
        # Pipelined in one message: both answers, in order.
        t1.say(b"NOOP\r\nQUIT\r\n", rb"^250 2\.0\.0 OK\r\n221 2\.0\.0 [^\r\n]*\r\n$")
        c, closed = wait_closed(ws1)
        self.assertIsNotNone(closed, c.messages)
        t1.recv += bytes(c.data)

        # --- bob reads over POP3 ---------------------------------------------
        ws2 = self.ws(self.pl.ws_connect(bob["cookie"]))
        sid2 = self.assertOpened(open_session(ws2, "lab", POP3_WELL_KNOWN))
        t2 = Typist(self, ws2)
        t2.wait(rb"^\+OK [^\r\n]*\r\n$")
        t2.say(b"USER %s\r\n" % bob["user"].encode(), rb"^\+OK [^\r\n]*\r\n$")
        t2.say(b"PASS %s\r\n" % bob["password"].encode(),
               rb"^\+OK Logged in as [^\r\n]*: 3 messages, \d+ octets\r\n$")
        listing = t2.say(b"LIST\r\n", rb"\r\n\.\r\n$")
        self.assertRegex(listing, rb"^\+OK 3 messages \(\d+ octets\)\r\n1 \d+\r\n2 \d+\r\n3 \d+\r\n"
                                  rb"\.\r\n$")
        size3 = int(re.search(rb"\r\n3 (\d+)\r\n", listing).group(1))
        got = t2.say(b"RETR 3\r\n", rb"\r\n\.\r\n$")
        head = b"+OK %d octets\r\n" % size3
        self.assertTrue(got.startswith(head), got[:80])
        wire = got[len(head):-3]
        self.assertEqual(len(wire), size3 + 1)  # one stuffed dot on the wire
        self.assertTrue(wire.startswith(b"Return-Path: <%s@lab>\r\nReceived: from student.example "
                                        b"([127.0.0.1])\r\n" % alice["user"].encode()), wire)
        self.assertTrue(wire.endswith(b"\r\n" + text), wire)  # "..a line" stays stuffed
        t2.say(b"DELE 3\r\n", rb"^\+OK [^\r\n]*\r\n$")
        t2.say(b"QUIT\r\n", rb"^\+OK Bye, 1 message removed\r\n$")
        c, closed = wait_closed(ws2)
        self.assertIsNotNone(closed, c.messages)
        t2.recv += bytes(c.data)

        # --- both transcripts hold the exact bytes ----------------------------
        for sid, cookie, typist, port in ((sid1, alice["cookie"], t1, SMTP_WELL_KNOWN),
                                          (sid2, bob["cookie"], t2, POP3_WELL_KNOWN)):
            tr = self.transcript(sid, cookie)
            self.assertEqual(transcript_bytes(tr["events"], "c2s"), typist.sent)
            self.assertEqual(transcript_bytes(tr["events"], "s2c"), typist.recv)
            self.assertEqual(tr["session"]["host"], "lab")
            self.assertEqual(tr["session"]["port"], port)
        # The password typed into POP3 is in bob's transcript: the lesson.
        self.assertIn(b"PASS " + bob["password"].encode(), t2.sent)

        # --- and the DELE was applied at QUIT ---------------------------------
        p = poplib.POP3(LOOPBACK, self.pl.lab_base + POP3_WELL_KNOWN, timeout=10)
        try:
            p.user(bob["user"])
            p.pass_(bob["password"])
            self.assertEqual(p.stat()[0], 2)
            for i in (1, 2):
                self.assertNotIn(marker.encode(), b"\r\n".join(p.retr(i)[1]))
        finally:
            p.quit()


if __name__ == "__main__":
    harness.main()
