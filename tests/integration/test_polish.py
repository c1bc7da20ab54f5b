#!/usr/bin/python3
"""test_polish.py -- what a student sees about their sessions reads like
the page: the text export of a telnet session in the page's notation (IAC
commands as marks, CR and LF as marks, the close in the page's words)."""

from harness import (PortlabTestCase, ScriptedServer, collect, main, open_session, send_json,
                     wait_closed)

IAC, WILL, DO, ECHO = 255, 251, 253, 1
LQ, RQ = "\u27e8", "\u27e9"
CR, LF = "\u240d", "\u240a"


class TxtExport(PortlabTestCase):
    @classmethod
    def class_args(cls):
        # A telnet server that says WILL ECHO and asks for a login, answers
        # the name with broken and proper UTF-8, and hangs up.
        cls.srv = cls.class_server(ScriptedServer(
            greeting=bytes([IAC, WILL, ECHO]) + b"login: ",
            script=[(b"bob\r\n", b"hi \xc3\xa9\xff\xff\x01\r\n")],
            close_after=False))
        return ["--allow", "127.0.0.1:%d" % cls.srv.port]

    def test_telnet_txt_reads_like_the_page(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        opened = open_session(ws, "127.0.0.1", self.srv.port, mode="telnet")
        sid = self.assertOpened(opened)
        c = collect(ws, until=lambda c: b"login: " in c.data, timeout=10)
        self.assertIn(b"login: ", bytes(c.data))
        ws.send_binary(b"bob\r\n")
        c = collect(ws, until=lambda c: b"hi" in c.data, timeout=10)
        self.assertIn(b"\r\n", bytes(c.data))
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        self.pl.transcript_when_ended(sid, tok)
        r = self.pl.transcript(sid, tok, "txt")
        self.assertEqual(r.status, 200, r)
        text = r.body.decode("utf-8")
        head, _, body = text.partition("\n\n")
        self.assertIn("(telnet)", head)
        self.assertIn("closed: you hung up", head)
        # Notes ("connected to ...", "remote echo on ...") may fall between
        # the bytes at points that depend on timing; the bytes do not.
        lines = [ln for ln in body.split("\n") if not ln.startswith("* ")]
        self.assertEqual(lines, [
            "S: %sIAC WILL ECHO%slogin: \\" % (LQ, RQ),
            "C: %sIAC DO ECHO%sbob%s%s" % (LQ, RQ, CR, LF),
            "S: hi \u00e9\\xff\\x01%s%s" % (CR, LF),
            "",
        ], body)
        self.assertTrue(body.endswith("* Connection closed: you hung up.\n"), body)
        self.assertNotIn("\ufffd", text)
        self.assertNotIn("client_closed", text)


class Feedback(PortlabTestCase):
    def test_known_wrong_answer_gets_feedback(self):
        tok = self.pl.join()
        path = "/api/lessons/smtp/tasks/smtp-greeting"
        r = self.pl.post(path, {"answer": " 250 "}, cookie=tok)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["correct"], False)
        self.assertIn("before you have sent any command", r.json["feedback"])
        r = self.pl.post(path, {"answer": "499"}, cookie=tok)
        self.assertIs(r.json["correct"], False)
        self.assertNotIn("feedback", r.json)
        self.assertEqual(r.json["task"]["attempts"], 2)
        r = self.pl.post(path, {"answer": "220"}, cookie=tok)
        self.assertIs(r.json["correct"], True)
        self.assertNotIn("feedback", r.json)

    def test_whoami_is_not_an_error(self):
        r = self.pl.get("/api/whoami")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"user": None, "lab": None})
        tok = self.pl.join()
        r = self.pl.get("/api/whoami", cookie=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, self.pl.get("/api/me", cookie=tok).json)
        self.assertEqual(r.json["user"]["role"], "student")
        self.assertEqual(self.pl.get("/api/me").status, 401)


if __name__ == "__main__":
    main()
