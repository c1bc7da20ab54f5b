#!/usr/bin/python3
"""Lessons, tasks and transcript exports against the real binary.

A student works through lesson tasks: questions answered right and wrong,
their own flag (and a classmate's, which must fail), and check tasks that
are solved only by really doing the thing on the lab servers through the
relay. The teacher sees the class's progress. Exports of a real SMTP
session are decoded by tshark (pcap) and parsed as asciicast v2.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (PortlabTestCase, collect, open_session, send_json,  # noqa: E402
                     transcript_bytes, wait_closed)


def lab_lines(ws, lines, until=b"\n", timeout=5.0):
    """Sends each line and waits for the server's reply to it."""
    for line in lines:
        ws.send_binary(line)
        collect(ws, until=lambda c: c.data.endswith(until), timeout=timeout)


class Lessons(PortlabTestCase):
    def lesson(self, token, lid):
        r = self.pl.get("/api/lessons/" + lid, cookie=token)
        self.assertEqual(r.status, 200, r)
        return r.json["lesson"]

    def answer(self, token, lid, tid, answer=None):
        body = {} if answer is None else {"answer": answer}
        return self.pl.post("/api/lessons/%s/tasks/%s" % (lid, tid), body, cookie=token)

    def task(self, lesson, tid):
        return next(t for t in lesson["tasks"] if t["id"] == tid)

    def test_list_and_lesson_hide_answers(self):
        token = self.pl.join()
        r = self.pl.get("/api/lessons", cookie=token)
        self.assertEqual(r.status, 200)
        ids = [l["id"] for l in r.json["lessons"]]
        self.assertEqual(ids[:2], ["ports", "telnet"])
        self.assertIn("smtp", ids)
        smtp = self.lesson(token, "smtp")
        self.assertIn('data-task="smtp-greeting"', smtp["html"])
        self.assertIn('href="session:lab:25"', smtp["html"])
        self.assertNotIn("answer", json.dumps(smtp["tasks"]))
        self.assertEqual(self.pl.get("/api/lessons/nope", cookie=token).status, 404)
        self.assertEqual(self.pl.get("/api/lessons").status, 401)

    def test_questions_score_and_attempt_cap(self):
        token = self.pl.join()
        r = self.answer(token, "smtp", "smtp-greeting", "250")
        self.assertEqual((r.status, r.json["correct"]), (200, False))
        r = self.answer(token, "smtp", "smtp-greeting", " 220 ")
        self.assertEqual((r.status, r.json["correct"], r.json["task"]["solved"]), (200, True, True))
        self.assertEqual(r.json["score"], r.json["task"]["points"])
        # A solved task stays solved whatever comes later.
        r = self.answer(token, "smtp", "smtp-greeting", "999")
        self.assertFalse(r.json["correct"])
        self.assertTrue(r.json["task"]["solved"])
        self.assertEqual(self.answer(token, "smtp", "nope", "x").status, 404)
        self.assertEqual(self.answer(token, "smtp", "smtp-greeting", "").status, 400)
        self.assertEqual(self.answer(token, "smtp", "smtp-greeting", "x" * 257).status, 400)
        # 50 wrong answers, then 429 even for the right one.
        other = self.pl.join()
        for _ in range(50):
            self.assertEqual(self.answer(other, "ports", "port-smtp", "1").status, 200)
        r = self.answer(other, "ports", "port-smtp", "25")
        self.assertEqual((r.status, r.error_code), (429, "too_many_attempts"))

    def test_flag_is_per_student(self):
        a_name, b_name = harness.unique_name("fa"), harness.unique_name("fb")
        ra, a = self.pl.join_full(a_name)
        rb, b = self.pl.join_full(b_name)
        flags = {}
        # Each reads their own flag file by hand through the lab telnet shell.
        for name, r, token in ((a_name, ra, a), (b_name, rb, b)):
            ws, opened = self.pl.session("lab", 23, cookie=token)
            self.ws(ws)
            collect(ws, until=lambda c: c.data.endswith(b"login: "))
            lab_lines(ws, [name.encode() + b"\r\n"], until=b"Password: ")
            lab_lines(ws, [r.json["lab"]["password"].encode() + b"\r\n"], until=b"$ ")
            ws.send_binary(b"cat /notes/ftp-flag.txt\r\n")
            got = collect(ws, until=lambda c: c.data.rstrip().endswith(b"$"), timeout=5)
            flag = got.data[got.data.index(b"FLAG{"):].split(b"}")[0] + b"}"
            flags[name] = flag.decode()
            send_json(ws, {"type": "close"})
            wait_closed(ws)
        self.assertNotEqual(flags[a_name], flags[b_name])
        r = self.answer(a, "ftp", "ftp-flag", flags[b_name])
        self.assertFalse(r.json["correct"])  # a classmate's flag is wrong
        r = self.answer(a, "ftp", "ftp-flag", flags[a_name])
        self.assertTrue(r.json["correct"])

    def test_check_tasks_need_the_real_thing(self):
        name = harness.unique_name("ck")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"].encode()
        lesson = self.lesson(token, "smtp")
        self.assertFalse(self.task(lesson, "smtp-deliver-demo")["solved"])
        self.assertFalse(self.answer(token, "smtp", "smtp-deliver-demo").json["correct"])
        # A mail with the wrong subject does not count ...
        ws, _ = self.pl.session("lab", 25, cookie=token)
        self.ws(ws)
        collect(ws, until=lambda c: c.data.endswith(b"\n"))
        lab_lines(ws, [b"EHLO me\r\n", b"MAIL FROM:<%s@lab>\r\n" % name.encode(),
                       b"RCPT TO:<demo@lab>\r\n", b"DATA\r\n",
                       b"Subject: something else\r\n\r\nhi\r\n.\r\n"])
        self.assertFalse(self.answer(token, "smtp", "smtp-deliver-demo").json["correct"])
        # ... the right one does, and opening the lesson shows it solved.
        lab_lines(ws, [b"MAIL FROM:<%s@lab>\r\n" % name.encode(), b"RCPT TO:<demo@lab>\r\n",
                       b"DATA\r\n", b"Subject: Hello from the lab\r\n\r\nhi\r\n.\r\n", b"QUIT\r\n"])
        wait_closed(ws)
        lesson = self.lesson(token, "smtp")
        self.assertTrue(self.task(lesson, "smtp-deliver-demo")["solved"])
        # Another student got no credit for it.
        other = self.pl.join()
        self.assertFalse(self.task(self.lesson(other, "smtp"), "smtp-deliver-demo")["solved"])

        # POP3 RETR of message 2, with the student's own lab login.
        ws, _ = self.pl.session("lab", 110, cookie=token)
        self.ws(ws)
        collect(ws, until=lambda c: c.data.endswith(b"\n"))
        lab_lines(ws, [b"USER %s\r\n" % name.encode(), b"PASS %s\r\n" % pw])
        lab_lines(ws, [b"RETR 2\r\n"], until=b"\r\n.\r\n")
        lab_lines(ws, [b"QUIT\r\n"])
        self.assertTrue(self.task(self.lesson(token, "pop3-imap"), "pop3-retr-2")["solved"])

        # HTTP robots.txt through the relay: credited by the relay's identity.
        ws, _ = self.pl.session("lab", 80, cookie=token)
        self.ws(ws)
        ws.send_binary(b"GET /robots.txt HTTP/1.1\r\nHost: lab\r\n\r\n")
        collect(ws, until=lambda c: b"Disallow" in c.data)
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        lesson = self.lesson(token, "http")
        self.assertTrue(self.task(lesson, "http-robots")["solved"])
        self.assertFalse(self.task(lesson, "http-flag-page")["solved"])

        # The HEAD check wants the method too: a GET / does not count, a
        # HEAD / does.
        self.assertFalse(self.task(lesson, "http-head")["solved"])
        ws, _ = self.pl.session("lab", 80, cookie=token)
        self.ws(ws)
        ws.send_binary(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
        collect(ws, until=lambda c: b"</html>" in c.data)
        self.assertFalse(self.answer(token, "http", "http-head").json["correct"])
        ws.send_binary(b"HEAD / HTTP/1.1\r\nHost: lab\r\n\r\n")
        head = collect(ws, until=lambda c: c.data.endswith(b"\r\n\r\n"))
        self.assertTrue(head.data.startswith(b"HTTP/1.1 200 OK"), head.data)
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        self.assertTrue(self.task(self.lesson(token, "http"), "http-head")["solved"])

        # The teacher sees the class.
        r = self.pl.get("/api/progress", cookie=self.pl.teacher())
        me = next(s for s in r.json["students"] if s["name"] == name)
        self.assertGreaterEqual(me["lessons"]["smtp"], 3)
        self.assertEqual(self.pl.get("/api/progress", cookie=token).status, 404)


class Exports(PortlabTestCase):
    def smtp_session(self):
        token = self.pl.join()
        ws, opened = self.pl.session("lab", 25, cookie=token)
        self.ws(ws)
        collect(ws, until=lambda c: c.data.endswith(b"\n"))
        lab_lines(ws, [b"EHLO exporter\r\n", b"MAIL FROM:<demo@lab>\r\n", b"RCPT TO:<demo@lab>\r\n",
                       b"DATA\r\n", b"Subject: export\r\n\r\nbody\r\n.\r\n", b"QUIT\r\n"])
        wait_closed(ws)
        r = self.pl.transcript_when_ended(opened["session_id"], token)
        return token, opened["session_id"], r.json

    def test_pcap_decodes_as_smtp_in_tshark(self):
        token, sid, transcript = self.smtp_session()
        r = self.pl.transcript(sid, token, "pcap")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["Content-Type"], "application/vnd.tcpdump.pcap")
        with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
            f.write(r.body)
            f.flush()
            out = subprocess.run(
                ["tshark", "-r", f.name, "-T", "fields", "-e", "smtp.req.command",
                 "-e", "smtp.response.code", "-e", "tcp.analysis.flags", "-Y", "smtp"],
                capture_output=True, text=True, timeout=60, check=True).stdout
            stream = subprocess.run(["tshark", "-r", f.name, "-q", "-z", "follow,tcp,raw,0"],
                                    capture_output=True, text=True, timeout=60,
                                    check=True).stdout
        commands = [line.split("\t")[0] for line in out.splitlines() if line.split("\t")[0]]
        self.assertEqual(commands[:4], ["EHLO", "MAIL", "RCPT", "DATA"])
        self.assertIn("QUIT", commands)
        codes = {line.split("\t")[1] for line in out.splitlines() if line.split("\t")[1]}
        self.assertTrue({"220", "250", "354", "221"} <= codes, codes)
        self.assertNotIn("1", [line.split("\t")[2] for line in out.splitlines()])
        # tshark's reassembled stream is exactly the recorded bytes.
        c2s = transcript_bytes(transcript["events"], "c2s")
        s2c = transcript_bytes(transcript["events"], "s2c")
        hexes = [line.strip() for line in stream.splitlines() if line.strip() and
                 all(ch in "0123456789abcdef" for ch in line.strip())]
        joined = bytes.fromhex("".join(hexes))
        self.assertEqual(len(joined), len(c2s) + len(s2c))

    def test_asciicast_is_valid_v2(self):
        token, sid, transcript = self.smtp_session()
        r = self.pl.transcript(sid, token, "cast")
        self.assertEqual(r.status, 200)
        lines = r.body.decode("utf-8").splitlines()
        header = json.loads(lines[0])
        self.assertEqual(header["version"], 2)
        events = [json.loads(line) for line in lines[1:]]
        self.assertTrue(all(e[1] == "o" for e in events))
        times = [e[0] for e in events]
        self.assertEqual(times, sorted(times))
        text = "".join(e[2] for e in events)
        self.assertIn("\x1b[31mEHLO exporter\r\n", text)  # client red
        self.assertIn("\x1b[34m220 ", text)  # server blue
        # asciinema itself reads it back (`cat` replays it without the
        # timing); it insists on a terminal, which script(1) provides.
        with tempfile.NamedTemporaryFile(suffix=".cast") as f:
            f.write(r.body)
            f.flush()
            shown = subprocess.run(["script", "-q", "-e", "-c", "asciinema cat " + f.name,
                                    "/dev/null"], stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=60, check=True).stdout
        self.assertIn(b"EHLO exporter", shown)
        self.assertIn(b"354 ", shown)

    def test_bad_format(self):
        token, sid, _ = self.smtp_session()
        self.assertEqual(self.pl.transcript(sid, token, "pdf").status, 400)
        self.assertEqual(self.pl.transcript(sid, self.pl.join(), "pcap").status, 404)


if __name__ == "__main__":
    unittest.main()
