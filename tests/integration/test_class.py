#!/usr/bin/python3
"""The teacher's class against the real binary: gradebook, results export,
class settings, student management, the refusal log and the audit log.

Every teacher endpoint refuses a student (403, or 404 for the older
/api/progress) and nobody without a login (401). The gradebook lists every
student from the moment they join and never the teacher. The results CSV is
parsed back with Python's csv module. Run-time allow rules and class codes
survive a restart; flags win and are shown as fixed.
"""
import csv
import io
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (EchoServer, PortlabTestCase, collect, open_session,  # noqa: E402
                     send_json, unique_name, wait_closed, wait_ws_end)

# (method, path, body): every teacher endpoint; {sid} is a student's id,
# {tid} a quiz test's. test_table_covers_the_docs holds it to docs/api.md.
TEACHER_ENDPOINTS = [
    ("GET", "/api/class", None),
    ("PUT", "/api/class", {"allow": []}),
    ("GET", "/api/class/gradebook", None),
    ("GET", "/api/class/audit", None),
    ("GET", "/api/results?format=csv", None),
    ("GET", "/api/results?format=json", None),
    ("GET", "/api/usage", None),
    ("POST", "/api/class/students/{sid}/rejoin-code", {}),
    ("POST", "/api/class/students/{sid}/sign-out", {}),
    ("POST", "/api/class/students/{sid}/remove", {}),
    ("POST", "/api/class/students/{sid}/reset-lab", {}),
    ("GET", "/api/class/students/{sid}/refusals", None),
    ("POST", "/api/quiz/tests", {"title": "t", "questions": 1, "time_limit": 60}),
    ("POST", "/api/quiz/tests/{tid}", {"open": False}),
    ("GET", "/api/quiz/tests/{tid}/results", None),
    ("GET", "/api/quiz/tests/{tid}/results?format=csv", None),
]
API_MD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "api.md")


TITLE = 'title: Mail, by "hand" (SMTP) \u2709 \u00fc'


def user_id(pl, token):
    return pl.get("/api/me", cookie=token).json["user"]["id"]


class ClassBase(PortlabTestCase):
    def gradebook(self, teacher=None):
        r = self.pl.get("/api/class/gradebook", cookie=teacher or self.pl.teacher())
        self.assertEqual(r.status, 200, r)
        return r.json

    def student(self, book, name):
        found = [s for s in book["students"] if s["name"] == name]
        return found[0] if found else None

    def act(self, sid, what, body=None, pl=None):
        pl = pl or self.pl
        return pl.post("/api/class/students/%d/%s" % (sid, what), body or {},
                       cookie=pl.teacher())


class Roles(ClassBase):
    def test_every_teacher_endpoint_refuses_students_and_nobody(self):
        victim = self.pl.join()
        vid = user_id(self.pl, victim)
        student = self.pl.join()
        teacher = self.pl.teacher()
        r = self.pl.post("/api/quiz/tests", {"title": "roles", "questions": 1,
                                             "time_limit": 60}, cookie=teacher)
        self.assertEqual(r.status, 201, r)
        test = r.json["test"]
        before = self.pl.get("/api/class/audit", cookie=teacher).json
        for method, path, body in TEACHER_ENDPOINTS:
            path = path.format(sid=vid, tid=test["id"])
            r = self.pl.request(method, path, body=body)
            self.assertEqual(r.status, 401, (method, path, r))
            r = self.pl.request(method, path, body=body, cookie=student)
            self.assertEqual(r.status, 403, (method, path, r))
            self.assertEqual(r.error_code, "forbidden", (method, path, r))
        self.assertEqual(self.pl.get("/api/progress", cookie=student).status, 404)
        self.assertEqual(self.pl.get("/api/progress").status, 401)
        # The victim, the class and the test are untouched by all of that.
        self.assertEqual(self.pl.get("/api/me", cookie=victim).status, 200)
        self.assertEqual(self.pl.get("/api/class/audit", cookie=teacher).json, before)
        tests = self.pl.get("/api/quiz/tests", cookie=teacher).json["tests"]
        self.assertEqual([t for t in tests if t["id"] == test["id"]], [test])
        self.assertNotIn("t", [t["title"] for t in tests])  # the student's create

    def test_table_covers_the_docs(self):
        """Every route docs/api.md marks "teacher" is in TEACHER_ENDPOINTS
        (the older /api/progress, a 404 for a student, is checked apart)."""
        def shape(method, path):
            path = re.sub(r"\{\w+\}", "{}", path.split("?")[0])
            return (method, path)
        documented = set()
        with open(API_MD, encoding="utf-8") as f:
            for line in f:
                cells = [c.strip() for c in line.split("|")]
                if len(cells) > 3 and cells[2] == "teacher":
                    for method, path in re.findall(r"`(GET|POST|PUT|DELETE) (/api/[^`\s]*)",
                                                   cells[1]):
                        documented.add(shape(method, path))
        self.assertGreater(len(documented), 10)
        tested = {shape(m, p) for m, p, _ in TEACHER_ENDPOINTS} | {("GET", "/api/progress")}
        self.assertEqual(documented - tested, set())

    def test_put_is_checked_like_post(self):
        teacher = self.pl.teacher()
        r = self.pl.request("PUT", "/api/class", {"allow": []}, cookie=teacher,
                            headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.error_code, "bad_origin")
        r = self.pl.request("PUT", "/api/class", {"allow": []}, cookie=teacher,
                            content_type="text/plain")
        self.assertEqual(r.status, 415, r)
        r = self.pl.request("PUT", "/api/class", raw=b"[1]", cookie=teacher)
        self.assertEqual(r.status, 400, r)
        r = self.pl.request("PUT", "/api/class", {"allow": "10.0.0.1"}, cookie=teacher)
        self.assertEqual(r.status, 400, r)
        r = self.pl.request("PUT", "/api/class", {"class_code": "has space"}, cookie=teacher)
        self.assertEqual(r.status, 400, r)
        # A NUL is refused, not cut: neither "room-12" nor a shortened
        # allow rule is stored.
        before = self.pl.get("/api/class", cookie=teacher).json
        for body in ({"class_code": "room-12\x00ZZZ"}, {"allow": ["198.51.100.7:80\x00 x"]}):
            with self.subTest(body=body):
                r = self.pl.request("PUT", "/api/class", body, cookie=teacher)
                self.assertEqual((r.status, r.error_code), (400, "bad_request"), r)
        self.assertEqual(self.pl.get("/api/class", cookie=teacher).json, before)
        self.assertEqual(self.pl.request("PUT", "/api/me", {}, cookie=teacher).status, 405)

    def test_unknown_student_and_teacher_id_are_404(self):
        teacher = self.pl.teacher()
        tid = user_id(self.pl, teacher)
        for sid in (tid, 999999):
            r = self.pl.post("/api/class/students/%d/sign-out" % sid, {}, cookie=teacher)
            self.assertEqual(r.status, 404, r)


class Gradebook(ClassBase):
    def test_roster_lists_students_before_they_score_and_never_the_teacher(self):
        names = [unique_name("gb") for _ in range(3)]
        for n in names:
            self.pl.join(n)
        teacher = self.pl.teacher()
        # The teacher tries a task: checked, not scored, not in the book.
        r = self.pl.post("/api/lessons/smtp/tasks/smtp-greeting", {"answer": "220"},
                         cookie=teacher)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["correct"])
        self.assertFalse(r.json["scored"])
        book = self.gradebook(teacher)
        listed = [s["name"] for s in book["students"]]
        for n in names:
            s = self.student(book, n)
            self.assertIsNotNone(s, listed)
            self.assertEqual(s["total"], 0)
            self.assertEqual(s["tasks"], {})
            self.assertIsNone(s["stuck"])
            self.assertTrue(s["online"])
            self.assertIsNotNone(s["joined_at"])
        self.assertNotIn("teacher", listed)
        self.assertNotIn("demo", listed)
        smtp = next(l for l in book["lessons"] if l["id"] == "smtp")
        greet = next(t for t in smtp["tasks"] if t["id"] == "smtp-greeting")
        self.assertEqual(greet["solved_by"], 0)
        # The old endpoint is the same book.
        r = self.pl.get("/api/progress", cookie=teacher)
        self.assertEqual(sorted(s["name"] for s in r.json["students"]), sorted(listed))

    def test_cells_attempts_stuck_and_solved_by(self):
        pl = self.portlab()  # its own class, so solved_by is exact
        name = unique_name("cell")
        token = pl.join(name)
        other = pl.join()
        for wrong in ("250", "221"):
            r = pl.post("/api/lessons/smtp/tasks/smtp-data-reply", {"answer": wrong}, cookie=token)
            self.assertFalse(r.json["correct"])
        pl.post("/api/lessons/smtp/tasks/smtp-greeting", {"answer": "nope"}, cookie=token)
        r = pl.post("/api/lessons/smtp/tasks/smtp-greeting", {"answer": "220"}, cookie=token)
        self.assertTrue(r.json["correct"])
        pl.post("/api/lessons/smtp/tasks/smtp-greeting", {"answer": "220"}, cookie=other)
        r = pl.get("/api/class/gradebook", cookie=pl.teacher())
        me = self.student(r.json, name)
        cell = me["tasks"]["smtp/smtp-greeting"]
        self.assertTrue(cell["solved"])
        self.assertEqual(cell["attempts"], 2)
        self.assertEqual(cell["points"], 1)
        self.assertIsNotNone(cell["first_attempt_at"])
        self.assertIsNotNone(cell["solved_at"])
        self.assertLessEqual(cell["first_attempt_at"], cell["solved_at"])
        stuck_cell = me["tasks"]["smtp/smtp-data-reply"]
        self.assertFalse(stuck_cell["solved"])
        self.assertEqual(stuck_cell["attempts"], 2)
        self.assertIsNone(stuck_cell["solved_at"])
        self.assertEqual(me["stuck"]["item"], "smtp/smtp-data-reply")
        self.assertEqual(me["stuck"]["attempts"], 2)
        self.assertEqual(me["lessons"]["smtp"], 1)
        self.assertEqual(me["total"], 1)
        smtp = next(l for l in r.json["lessons"] if l["id"] == "smtp")
        tasks = {t["id"]: t for t in smtp["tasks"]}
        self.assertEqual(tasks["smtp-greeting"]["solved_by"], 2)
        self.assertEqual(tasks["smtp-data-reply"]["solved_by"], 0)


class Results(ClassBase):
    def test_csv_parses_back_and_matches_json(self):
        # A lesson title with a comma, quotes and non-ASCII letters, to be
        # quoted by RFC 4180 and read back as UTF-8.
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lessons")
        lessons = tempfile.mkdtemp(prefix="portlab-lessons-")
        self.addCleanup(shutil.rmtree, lessons, True)
        for f in os.listdir(root):
            if f.endswith(".md") and f != "README.md":
                with open(os.path.join(root, f), encoding="utf-8") as fh:
                    text = fh.read()
                if f.startswith("50-"):
                    text = text.replace("title: Sending mail by hand (SMTP)", TITLE, 1)
                with open(os.path.join(lessons, f), "w", encoding="utf-8") as fh:
                    fh.write(text)
        pl = self.portlab(["--lessons", lessons])
        names = ["z_under", "q.dot", "-dash"]
        for n in names:
            pl.join(n)
        tok = pl.join("solver")
        pl.post("/api/lessons/smtp/tasks/smtp-greeting", {"answer": "x"}, cookie=tok)
        pl.post("/api/lessons/smtp/tasks/smtp-greeting", {"answer": "220"}, cookie=tok)
        teacher = pl.teacher()
        r = pl.get("/api/results?format=csv", cookie=teacher)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["Content-Type"].startswith("text/csv"))
        self.assertIn("attachment", r.headers["Content-Disposition"])
        text = r.body.decode("utf-8-sig")
        self.assertIn("\r\n", text)
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        columns = ["student", "kind", "item", "title", "points", "max_points", "attempts",
                   "first_attempt_at", "solved_at", "hints", "hint_points"]
        self.assertEqual(list(rows[0].keys()), columns)
        j = pl.get("/api/results?format=json", cookie=teacher).json["results"]
        self.assertEqual(len(rows), len(j))
        students = {row["student"] for row in rows}
        # A name is never read by a spreadsheet as a formula: a leading
        # '-' is quoted with an apostrophe; the others are plain.
        self.assertIn("solver", students)
        self.assertNotIn("teacher", students)
        self.assertEqual(len(students), 4)
        self.assertIn("'-dash", students)
        n_tasks = len({row["item"] for row in rows})
        self.assertEqual(len(rows), 4 * n_tasks)
        solved = next(row for row in rows
                      if row["student"] == "solver" and row["item"] == "smtp/smtp-greeting")
        self.assertEqual(solved["kind"], "task")
        self.assertEqual("title: " + solved["title"], TITLE)
        self.assertIn('"Mail, by ""hand"" (SMTP) \u2709 \u00fc"', text)
        self.assertEqual((solved["points"], solved["max_points"], solved["attempts"]),
                         ("1", "1", "2"))
        self.assertRegex(solved["solved_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertRegex(solved["first_attempt_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        untouched = next(row for row in rows
                         if row["student"] == "q.dot" and row["item"] == "smtp/smtp-greeting")
        self.assertEqual((untouched["points"], untouched["attempts"], untouched["solved_at"]),
                         ("0", "0", ""))
        jsolved = next(x for x in j
                       if x["student"] == "solver" and x["item"] == "smtp/smtp-greeting")
        self.assertEqual(jsolved["solved_at"], solved["solved_at"])
        self.assertEqual(pl.get("/api/results?format=xml", cookie=teacher).status, 400)


class Students(ClassBase):
    def test_rejoin_code_reissued(self):
        name = unique_name("rj")
        r, _ = self.pl.join_full(name)
        old = r.json["rejoin_code"]
        sid = r.json["user"]["id"]
        r = self.act(sid, "rejoin-code")
        self.assertEqual(r.status, 200, r)
        new = r.json["rejoin_code"]
        self.assertNotEqual(new, old)
        self.assertEqual(self.pl.join_full(name, rejoin_code=old)[0].status, 409)
        r, token = self.pl.join_full(name, rejoin_code=new)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["user"]["id"], sid)

    def test_sign_out_ends_sessions_with_teacher_ended(self):
        token = self.pl.join()
        sid = user_id(self.pl, token)
        ws, opened = self.pl.session("lab", 25, cookie=token)
        self.ws(ws)
        self.assertEqual(opened["type"], "opened", opened)
        collect(ws, until=lambda c: c.data.endswith(b"\n"))
        r = self.act(sid, "sign-out")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["ended"], 1)
        _, closed = wait_closed(ws)
        self.assertEqual(closed["reason"], "teacher_ended")
        self.assertEqual(self.pl.get("/api/me", cookie=token).status, 401)
        teacher = self.pl.teacher()
        r = self.pl.transcript_when_ended(opened["session_id"], teacher)
        self.assertEqual(r.json["session"]["close_reason"], "teacher_ended")
        listed = self.pl.get("/api/sessions", cookie=teacher).json["sessions"]
        self.assertEqual(next(s for s in listed if s["id"] == opened["session_id"])["state"],
                         "ended")

    def test_removed_student_cannot_log_in_and_purge_deletes_transcripts(self):
        teacher = self.pl.teacher()
        for purge in (False, True):
            name = unique_name("rm")
            r, token = self.pl.join_full(name)
            code, lab_pw = r.json["rejoin_code"], r.json["lab"]["password"]
            sid = r.json["user"]["id"]
            ws, opened = self.pl.session("lab", 25, cookie=token)
            self.ws(ws)
            collect(ws, until=lambda c: c.data.endswith(b"\n"))
            r = self.act(sid, "remove", {"purge": purge})
            self.assertEqual(r.status, 200, r)
            _, closed = wait_closed(ws)
            self.assertEqual(closed["reason"], "teacher_ended")
            self.assertEqual(self.pl.get("/api/me", cookie=token).status, 401)
            r = self.pl.post("/api/join", {"name": name, "rejoin_code": code})
            self.assertEqual(r.status, 403, r)
            self.assertEqual(r.error_code, "removed")
            self.assertIsNone(self.student(self.gradebook(teacher), name))
            # Checked before the lab login below: that conversation is an
            # own-client session, which may take the purged row's id.
            r = self.pl.transcript(opened["session_id"], teacher)
            if purge:
                self.assertEqual(r.status, 404, r)
            else:
                self.assertEqual(r.status, 200, r)
            # The lab servers refuse the old lab password too.
            pop = harness.LineClient(self.pl.lab_base + 110)
            try:
                self.assertTrue(pop.line().startswith(b"+OK"))
                pop.send(b"USER " + name.encode() + b"\r\n")
                pop.line()
                pop.send(b"PASS " + lab_pw.encode() + b"\r\n")
                self.assertTrue(pop.line().startswith(b"-ERR"))
            finally:
                pop.close()
            self.assertEqual(self.act(sid, "remove", {}).status, 404)

    def test_reset_lab_restores_the_mailbox(self):
        r, token = self.pl.join_full(unique_name("rs"))
        name, pw, sid = r.json["user"]["name"], r.json["lab"]["password"], r.json["user"]["id"]

        def pop3(*cmds):
            c = harness.LineClient(self.pl.lab_base + 110)
            try:
                c.line()
                out = []
                for cmd in (b"USER " + name.encode(), b"PASS " + pw.encode()) + cmds:
                    c.send(cmd + b"\r\n")
                    out.append(c.line())
                return out
            finally:
                c.close()

        start = pop3(b"STAT")[-1]
        self.assertTrue(start.startswith(b"+OK"), start)
        self.assertNotEqual(start.split()[1], b"0")
        out = pop3(b"DELE 1", b"QUIT")
        self.assertTrue(out[-2].startswith(b"+OK"), out)
        self.assertNotEqual(pop3(b"STAT")[-1], start)
        r = self.act(sid, "reset-lab")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(pop3(b"STAT")[-1], start)


class Settings(ClassBase):
    SHARED = False

    def test_allow_rule_and_class_code_apply_at_once_and_survive_restart(self):
        pl = self.portlab()
        echo = self.server(EchoServer())
        rule = "127.0.0.1:%d" % echo.port
        token = pl.join()
        ws = self.ws(pl.ws_connect(token))
        msg = open_session(ws, "127.0.0.1", echo.port)
        self.assertEqual(msg.get("code"), "target_denied", msg)
        teacher = pl.teacher()
        r = pl.request("PUT", "/api/class", {"allow": [rule], "class_code": "room-12"},
                       cookie=teacher)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["allow"], [{"rule": rule, "fixed": False}])
        self.assertEqual(r.json["class_code"], {"value": "room-12", "fixed": False})
        # The next open uses it, no restart.
        ws = self.ws(pl.ws_connect(token))
        self.assertEqual(open_session(ws, "127.0.0.1", echo.port)["type"], "opened")
        self.assertEqual(pl.post("/api/join", {"name": unique_name()}).error_code,
                         "bad_class_code")
        # A malformed rule changes nothing.
        r = pl.request("PUT", "/api/class", {"allow": ["300.1.1.1/8"]}, cookie=teacher)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.error_code, "bad_rule")
        ws.close()
        pl.stop()
        pl.start()
        teacher = pl.teacher()
        r = pl.get("/api/class", cookie=teacher)
        self.assertEqual(r.json["allow"], [{"rule": rule, "fixed": False}])
        self.assertEqual(r.json["class_code"]["value"], "room-12")
        self.assertEqual(pl.get("/api/targets", cookie=teacher).json["allowed"], [{"rule": rule}])
        ws = self.ws(pl.ws_connect(token))
        self.assertEqual(open_session(ws, "127.0.0.1", echo.port)["type"], "opened")
        r, _ = pl.join_full(unique_name(), class_code="room-12")
        self.assertEqual(r.status, 201, r)
        # Removing the code and the rules opens the class and closes the target.
        r = pl.request("PUT", "/api/class", {"allow": [], "class_code": None}, cookie=teacher)
        self.assertEqual(r.json, {"class_code": {"value": None, "fixed": False}, "allow": [],
                                  "hints_cost_points": False, "keylog_export": True})
        self.assertEqual(pl.post("/api/join", {"name": unique_name()}).status, 201)
        log = [e["action"] for e in pl.get("/api/class/audit", cookie=teacher).json["entries"]]
        self.assertEqual(log[:4], ["class_code", "allow_rules", "class_code", "allow_rules"])

    def test_rule_count_edge(self):
        pl = self.portlab()
        teacher = pl.teacher()
        rules = ["192.0.2.%d:25" % i for i in range(1, 66)]
        r = pl.request("PUT", "/api/class", {"allow": rules[:64]}, cookie=teacher)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json["allow"]), 64)
        r = pl.request("PUT", "/api/class", {"allow": rules}, cookie=teacher)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(len(pl.get("/api/class", cookie=teacher).json["allow"]), 64)

    def test_flags_win_and_are_shown_fixed(self):
        pl = self.portlab(["--allow", "192.0.2.0/24:25", "--class-code", "flagcode"])
        teacher = pl.teacher()
        r = pl.request("PUT", "/api/class", {"allow": ["198.51.100.7:80"]}, cookie=teacher)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["allow"], [{"rule": "192.0.2.0/24:25", "fixed": True},
                                           {"rule": "198.51.100.7:80", "fixed": False}])
        self.assertEqual(r.json["class_code"], {"value": "flagcode", "fixed": True})
        r = pl.request("PUT", "/api/class", {"class_code": "other"}, cookie=teacher)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.error_code, "fixed")
        # A stored code never overrides the flag after a restart either.
        pl.stop()
        pl.start()
        r = pl.get("/api/class", cookie=pl.teacher())
        self.assertEqual(r.json["class_code"], {"value": "flagcode", "fixed": True})
        self.assertEqual(len(r.json["allow"]), 2)


class Refusals(ClassBase):
    ARGS = ("--refusal-log", "3")

    def refusals(self, sid):
        r = self.pl.get("/api/class/students/%d/refusals" % sid, cookie=self.pl.teacher())
        self.assertEqual(r.status, 200, r)
        return r.json["refusals"]

    def test_log_keeps_the_newest_n_and_counts_repeats(self):
        token = self.pl.join()
        sid = user_id(self.pl, token)
        self.assertEqual(self.refusals(sid), [])
        for i in range(1, 4):  # n = 3 distinct refusals: all kept
            ws = self.ws(self.pl.ws_connect(token))
            msg = open_session(ws, "192.0.2.%d" % i, 25)
            self.assertEqual(msg.get("code"), "target_denied", msg)
            wait_ws_end(ws)
        log = self.refusals(sid)
        self.assertEqual([e["target"] for e in log], ["192.0.2.3:25", "192.0.2.2:25",
                                                      "192.0.2.1:25"])
        self.assertEqual(log[0]["code"], "target_denied")
        self.assertTrue(log[0]["message"])
        # n + 1: the oldest goes.
        ws = self.ws(self.pl.ws_connect(token))
        open_session(ws, "192.0.2.4", 25)
        wait_ws_end(ws)
        self.assertEqual([e["target"] for e in self.refusals(sid)],
                         ["192.0.2.4:25", "192.0.2.3:25", "192.0.2.2:25"])
        # The same refusal again counts up instead of pushing others out,
        # however fast it comes (repeats are batched in memory; reading the
        # log writes them).
        for _ in range(8):
            ws = self.ws(self.pl.ws_connect(token))
            open_session(ws, "192.0.2.4", 25)
            wait_ws_end(ws)
        log = self.refusals(sid)
        self.assertEqual(len(log), 3)
        self.assertEqual(log[0]["count"], 9)
        self.assertEqual(log[1]["target"], "192.0.2.3:25")
        # Issue 7's counter still counts every refused open.
        usage = self.pl.get("/api/usage", cookie=self.pl.teacher()).json["students"]
        me = next(u for u in usage if u["name"] == self.pl.get(
            "/api/me", cookie=token).json["user"]["name"])
        self.assertEqual(me["refused_opens"], 12)

    def test_protocol_error_is_logged(self):
        token = self.pl.join()
        sid = user_id(self.pl, token)
        ws = self.ws(self.pl.ws_connect(token))
        ws.send("not json")
        collect(ws, until=lambda c: bool(c.of_type("error")))
        wait_ws_end(ws)
        log = self.refusals(sid)
        self.assertEqual(len(log), 1, log)
        self.assertIsNone(log[0]["target"])


class LiveCounters(ClassBase):
    def test_open_session_counts_live_and_refused_is_not_open(self):
        token = self.pl.join()
        ws, opened = self.pl.session("lab", 25, cookie=token)
        self.ws(ws)
        c = collect(ws, until=lambda c: c.data.endswith(b"\n"))
        ws.send_binary(b"NOOP\r\n")
        c2 = collect(ws, until=lambda c: c.data.endswith(b"\n"))
        r = self.pl.get("/api/sessions", cookie=token)
        s = next(x for x in r.json["sessions"] if x["id"] == opened["session_id"])
        self.assertEqual(s["state"], "open")
        self.assertIsNone(s["ended_at"])
        self.assertEqual(s["bytes_up"], 6)
        self.assertEqual(s["bytes_down"], len(c.data) + len(c2.data))
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        # A connect that fails is "refused": an allowed address, nothing listening.
        pl = self.portlab()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()  # nothing listens there now
        teacher = pl.teacher()
        pl.request("PUT", "/api/class", {"allow": ["127.0.0.1:%d" % port]}, cookie=teacher)
        token = pl.join()
        ws = self.ws(pl.ws_connect(token))
        msg = open_session(ws, "127.0.0.1", port)
        if msg.get("type") == "opened":
            msg = collect(ws, until=lambda c: bool(c.of_type("error"))).of_type("error")[0]
        self.assertEqual(msg["code"], "connect_failed", msg)
        deadline = time.monotonic() + 10
        while True:
            s = pl.get("/api/sessions", cookie=token).json["sessions"][0]
            if s["state"] != "open" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(s["state"], "refused", s)


class Audit(ClassBase):
    def test_every_action_is_audited(self):
        pl = self.portlab()
        r, token = pl.join_full("audited")
        sid = r.json["user"]["id"]
        for what, body in (("rejoin-code", {}), ("reset-lab", {}), ("sign-out", {}),
                           ("remove", {"purge": False})):
            self.assertEqual(self.act(sid, what, body, pl=pl).status, 200)
        entries = pl.get("/api/class/audit", cookie=pl.teacher()).json["entries"]
        self.assertEqual([e["action"] for e in entries],
                         ["remove", "sign_out", "reset_lab", "rejoin_code"])
        for e in entries:
            self.assertEqual(e["student"], "audited")
            self.assertEqual(e["actor"], "teacher")
            self.assertRegex(e["at"], r"Z$")


if __name__ == "__main__":
    unittest.main()
