#!/usr/bin/python3
"""test_own_client.py -- conversations of the student's own clients with the
lab servers are on the record (issue 12).

A student's poplib (not the relay) talks to lab POP3: the conversation is a
transcript of that student, marked "own client", with exactly the bytes that
crossed the socket, in the JSON, text and asciicast exports, under the
student's recording budget from the login on. A relay session
to the same server is recorded once, by the relay. A client that never logs
in belongs to the teacher's record, with its address; once it logs in, to
the student. The pop3-retr-2 task asks for the browser (via: browser), so
the student's own client does not solve it and the browser does. The small
servers (WHOIS, finger, DNS over TCP) are recorded the same way.
"""
import base64
import json
import poplib
import smtplib
import socket
import struct
import time

from harness import (LineClient, PortlabTestCase, collect, main, send_json,  # noqa: F401
                     session_list, transcript_bytes, unique_name, wait_closed)


class Tee:
    """A poplib file that keeps what was read."""

    def __init__(self, f):
        self.f = f
        self.data = bytearray()

    def readline(self, *a):
        line = self.f.readline(*a)
        self.data += line
        return line

    def close(self):
        self.f.close()


class RecordingPOP3(poplib.POP3):
    """poplib.POP3 that keeps every byte it sent and read."""

    def __init__(self, *a, **kw):
        self.sent = bytearray()
        self.tee = None
        super().__init__(*a, **kw)

    def _putline(self, line):
        self.sent += line + b"\r\n"  # what poplib's _putline sends
        return super()._putline(line)

    def _getline(self):
        if not isinstance(self.file, Tee):
            self.tee = self.file = Tee(self.file)
        return super()._getline()


def lab_lines(ws, lines, until=b"\n", timeout=5.0):
    for line in lines:
        ws.send_binary(line)
        collect(ws, until=lambda c: c.data.endswith(until), timeout=timeout)


class OwnClient(PortlabTestCase):
    def wait_own(self, token, port, known=(), timeout=15.0):
        """The newest own-client session to lab:port not in known, once ended."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.pl.get("/api/sessions", cookie=token)
            self.assertEqual(r.status, 200, r)
            for s in session_list(r.json):
                if (s.get("own_client") and s["port"] == port and s["id"] not in known
                        and s.get("ended_at")):
                    return s
            self.assertLess(time.monotonic(), deadline, "no own-client session: %r" % r.json)
            time.sleep(0.05)

    def ids(self, token):
        return {s["id"] for s in session_list(self.pl.get("/api/sessions", cookie=token).json)}

    def task_solved(self, token):
        r = self.pl.get("/api/lessons/pop3-imap", cookie=token)
        return next(t for t in r.json["lesson"]["tasks"] if t["id"] == "pop3-retr-2")["solved"]

    def test_poplib_is_a_transcript_of_the_student_with_exact_bytes(self):
        name = unique_name("oc")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        teacher = self.pl.teacher()
        before = self.ids(teacher)

        p = RecordingPOP3("127.0.0.1", self.pl.lab_base + 110, timeout=10)
        p.user(name)
        p.pass_(pw)
        self.assertGreaterEqual(p.stat()[0], 2)
        p.retr(2)
        p.quit()
        sent, read = bytes(p.sent), bytes(p.tee.data)
        self.assertTrue(sent.startswith(b"USER %s\r\n" % name.encode()))

        s = self.wait_own(token, 110, before)
        self.assertEqual(s["user"], name)
        self.assertEqual(s["host"], "lab")
        self.assertEqual(s["client_addr"], "127.0.0.1")
        self.assertEqual(s["close_reason"], "remote_closed")  # the server ends it after QUIT
        self.assertEqual(s["bytes_up"], len(sent))
        self.assertEqual(s["bytes_down"], len(read))
        tr = self.pl.transcript_when_ended(s["id"], token)
        self.assertEqual(tr.status, 200, tr)
        self.assertTrue(tr.json["session"]["own_client"])
        events = tr.json["events"]
        self.assertEqual(transcript_bytes(events, "c2s"), sent)
        self.assertEqual(transcript_bytes(events, "s2c"), read)
        notes = [e.get("text") or base64.b64decode(e.get("data_b64") or "").decode()
                 for e in events if e.get("dir") == "note"]
        self.assertTrue(any("logged in as %s" % name in n for n in notes), notes)

        # Every export format says so.
        txt = self.pl.transcript(s["id"], token, "txt")
        self.assertIn("own client from 127.0.0.1", txt.body.decode())
        cast = self.pl.transcript(s["id"], token, "cast")
        self.assertIn("own client from 127.0.0.1",
                      json.loads(cast.body.split(b"\n", 1)[0])["title"])
        # The same student's other list shows nothing of another student.
        other = self.pl.join()
        self.assertNotIn(s["id"], self.ids(other))

        # The browser-only task: the own client's RETR 2 does not count,
        # and the answer says why ...
        self.assertFalse(self.task_solved(token))
        r = self.pl.post("/api/lessons/pop3-imap/tasks/pop3-retr-2", {}, cookie=token)
        self.assertEqual(r.status, 200, r)
        self.assertFalse(r.json["correct"])
        self.assertIn("browser's terminal", r.json["feedback"])
        # ... a RETR 2 typed through the relay does, and is recorded once.
        mine = self.ids(token)
        ws, opened = self.pl.session("lab", 110, cookie=token)
        self.ws(ws)
        collect(ws, until=lambda c: c.data.endswith(b"\n"))
        lab_lines(ws, [b"USER %s\r\n" % name.encode(), b"PASS %s\r\n" % pw.encode()])
        lab_lines(ws, [b"RETR 2\r\n"], until=b"\r\n.\r\n")
        lab_lines(ws, [b"QUIT\r\n"])
        wait_closed(ws)
        self.pl.transcript_when_ended(opened["session_id"], token)
        self.assertTrue(self.task_solved(token))
        time.sleep(LAB_SETTLE_MARGIN)
        added = self.ids(token) - mine
        self.assertEqual(added, {opened["session_id"]})
        tr = self.pl.transcript(opened["session_id"], token)
        self.assertFalse(tr.json["session"]["own_client"])

    def test_before_a_login_the_address_then_the_student(self):
        name = unique_name("os")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        teacher = self.pl.teacher()
        before = self.ids(teacher)

        # No login: the teacher's record, with the address it came from.
        with smtplib.SMTP("127.0.0.1", self.pl.lab_base + 25, timeout=10,
                          source_address=("127.0.0.2", 0)) as c:
            c.ehlo("anon")
            c.noop()
        s = self.wait_own(teacher, 25, before)
        self.assertEqual(s["client_addr"], "127.0.0.2")
        self.assertEqual(s["user"], "teacher")
        self.assertNotIn(s["id"], self.ids(token))
        tr = self.pl.transcript_when_ended(s["id"], teacher)
        self.assertIn(b"ehlo anon\r\n", transcript_bytes(tr.json["events"], "c2s"))
        self.assertTrue(transcript_bytes(tr.json["events"], "s2c").startswith(b"220 "))

        # With a login, the whole transcript moves to the student.
        with smtplib.SMTP("127.0.0.1", self.pl.lab_base + 25, timeout=10,
                          source_address=("127.0.0.3", 0)) as c:
            c.ehlo("me")
            c.login(name, pw)
        s2 = self.wait_own(token, 25)
        self.assertEqual(s2["user"], name)
        self.assertEqual(s2["client_addr"], "127.0.0.3")
        tr = self.pl.transcript_when_ended(s2["id"], token)
        self.assertTrue(transcript_bytes(tr.json["events"], "c2s").startswith(b"ehlo me\r\n"))

    def test_whois_finger_and_dns_are_recorded_with_exact_bytes(self):
        teacher = self.pl.teacher()
        # A DNS query over TCP (RFC 1035 4.2.2): id 0x0707, RD, one
        # question for lab. A IN, behind its two-byte length.
        query = struct.pack("!HHHHHH", 0x0707, 0x0100, 1, 0, 0, 0) + b"\x03lab\x00\x00\x01\x00\x01"
        talks = [(43, b"lab\r\n", "remote_closed"), (79, b"demo\r\n", "remote_closed"),
                 (53, struct.pack("!H", len(query)) + query, "client_closed")]
        for port, sent, reason in talks:
            before = self.ids(teacher)
            with socket.create_connection(("127.0.0.1", self.pl.lab_base + port), timeout=10) as c:
                c.sendall(sent)
                read = b""
                while True:
                    if port == 53 and len(read) >= 2 and len(read) == 2 + struct.unpack("!H", read[:2])[0]:
                        break  # one answer; DNS waits for more queries
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    read += chunk
            self.assertTrue(read, port)
            s = self.wait_own(teacher, port, before)
            self.assertEqual(s["user"], "teacher", port)  # nobody logged in
            self.assertEqual(s["close_reason"], reason, port)
            self.assertEqual((s["bytes_up"], s["bytes_down"]), (len(sent), len(read)), port)
            events = self.pl.transcript_when_ended(s["id"], teacher).json["events"]
            self.assertEqual(transcript_bytes(events, "c2s"), sent, port)
            self.assertEqual(transcript_bytes(events, "s2c"), read, port)


class OwnClientBudget(PortlabTestCase):
    """The student's recording budget holds for own-client sessions too,
    from the login on: exactly BUDGET bytes kept, one note, and the
    conversation goes on."""
    BUDGET = 3000
    ARGS = ("--record-bytes-per-student", str(BUDGET))

    def test_budget_edge(self):
        name = unique_name("ob")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        c = LineClient(self.pl.lab_base + 110)
        try:
            self.assertTrue(c.line().startswith(b"+OK"))
            c.send(b"USER %s\r\n" % name.encode())
            c.line()
            c.send(b"PASS %s\r\n" % pw.encode())
            self.assertTrue(c.line().startswith(b"+OK"))
            for _ in range(400):  # 11 bytes a round: 4400, past the budget
                c.send(b"NOOP\r\n")
                self.assertTrue(c.line().startswith(b"+OK"))
            c.send(b"QUIT\r\n")
            self.assertTrue(c.line().startswith(b"+OK"), "the server still answers")
        finally:
            c.close()
        s = next(x for x in session_list(self.pl.get("/api/sessions", cookie=token).json)
                 if x.get("own_client"))
        events = self.pl.transcript_when_ended(s["id"], token).json["events"]
        start = next(i for i, e in enumerate(events)
                     if e["dir"] == "note" and e.get("text", "").startswith("logged in as"))
        stops = [i for i, e in enumerate(events)
                 if e["dir"] == "note" and e.get("text", "").startswith("recording stopped")]
        self.assertEqual(len(stops), 1, events[-5:])
        kept = sum(event_len(e) for e in events[start:stops[0]])
        self.assertEqual(kept, self.BUDGET)  # the edge: BUDGET bytes, not one more
        self.assertTrue(all(e["dir"] == "note" for e in events[stops[0]:]), events[stops[0]:])


def event_len(e):
    if "data_b64" in e:
        return len(base64.b64decode(e["data_b64"]))
    return len(e.get("text", "").encode("utf-8"))


# The relay registers its sessions within a loop turn; an own-client
# decision waits LIM_LAB_REC_SETTLE_MS (100 ms). Only used to look for a
# session that must NOT appear, so waiting longer cannot hide a failure.
LAB_SETTLE_MARGIN = 0.5

if __name__ == "__main__":
    main()
