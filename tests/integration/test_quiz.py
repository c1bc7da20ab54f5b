#!/usr/bin/python3
"""The port quiz against the real binary: practice, review, timed tests.

Questions are answered by a small solver that reads quiz/ports.tsv itself,
so the server's idea of a right answer is checked against the bank. A test
never shows the right answers before the attempt is finished, its clock is
the server's (an answer after the deadline is 409 time_up), students cannot
create tests or read results, and someone else's attempt is 404.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortlabTestCase, unique_name  # noqa: E402

BANK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "quiz", "ports.tsv")


def load_bank(path=BANK):
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#") or line.startswith("type\t"):
                continue
            c = line.split("\t")
            ports = []
            for item in c[3].split(","):
                if "-" in item and c[0] == "service":
                    lo, hi = item.split("-")
                    ports += list(range(int(lo), int(hi) + 1))
                elif "-" in item:
                    ports += [int(x) for x in item.split("-")]
                else:
                    ports.append(int(item))
            rows[c[1]] = {"range": c[0] == "range", "names": c[2].split("|"), "ports": ports,
                          "transport": c[4], "security": c[5],
                          "counterpart": [] if c[6] == "-" else c[6].split()}
    return rows


ROWS = load_bank()


def by_name(name):
    return next(r for r in ROWS.values() if r["names"][0] == name)


def solve(q):
    """The right answer to a question, worked out from the bank."""
    p = q["prompt"]
    m = re.match(r"Which service uses port (\d+) by default\?", p)
    if m:
        port = int(m.group(1))
        return next(r["names"][0] for r in ROWS.values() if not r["range"] and port in r["ports"])
    m = re.match(r"Which ports? does (.+?) use(?: by default)?\?", p)
    if m and "version of" not in p:
        return ", ".join(str(x) for x in by_name(m.group(1))["ports"])
    m = re.match(r"Does (.+) run over TCP, UDP or both\?", p)
    if m:
        return by_name(m.group(1))["transport"]
    m = re.match(r"Which port does the (secure|cleartext) version of (.+) use\?", p)
    if m:
        want_clear = m.group(1) == "cleartext"
        for cid in by_name(m.group(2))["counterpart"]:
            c = ROWS[cid]
            if (c["security"] == "clear") == want_clear:
                return str(c["ports"][0])
    m = re.match(r"Which range is port (\d+) in\?", p)
    if m:
        port = int(m.group(1))
        return next(r["names"][0] for r in ROWS.values()
                    if r["range"] and r["ports"][0] <= port <= r["ports"][1])
    m = re.match(r"Which ports make up the (.+) range\?", p)
    if m:
        r = by_name(m.group(1))
        return "%d-%d" % (r["ports"][0], r["ports"][1])
    if p.startswith("Which of these send everything in cleartext"):
        return ", ".join(c for c in q["choices"] if by_name(c)["security"] == "clear")
    raise AssertionError("no solver for %r" % p)


def wrong(q):
    """An answer that is surely wrong for any kind."""
    return "nothing-at-all 1"


ANSWER_KEYS = ("expected", "explanation", "correct", "points")


class Quiz(PortlabTestCase):
    ARGS = ("--quiz-questions", "12")

    def start(self, token, mode, test_id=None, status=201):
        body = {"mode": mode}
        if test_id is not None:
            body["test_id"] = test_id
        r = self.pl.post("/api/quiz/attempts", body, cookie=token)
        self.assertEqual(r.status, status, r)
        return r.json["attempt"]

    def answer(self, token, aid, qid, text):
        return self.pl.post("/api/quiz/attempts/%d/answers" % aid,
                            {"question_id": qid, "answer": text}, cookie=token)

    def create_test(self, teacher, status=201, **fields):
        body = {"title": "Ports 1", "questions": 3, "time_limit": 600}
        body.update(fields)
        r = self.pl.post("/api/quiz/tests", body, cookie=teacher)
        self.assertEqual(r.status, status, r)
        return r.json.get("test") if status == 201 else r

    def assertNoAnswer(self, q):
        for key in ANSWER_KEYS:
            self.assertNotIn(key, q)

    def test_practice_right_and_wrong_with_feedback(self):
        token = self.pl.join()
        a = self.start(token, "practice")
        self.assertEqual(a["mode"], "practice")
        q = a["question"]
        self.assertEqual(set(q) - {"choices"}, {"id", "seq", "kind", "prompt", "multi"})
        self.assertNoAnswer(q)
        seen_kinds = set()
        for i in range(8):
            seen_kinds.add(q["kind"])
            right = i % 2 == 0
            r = self.answer(token, a["id"], q["id"], solve(q) if right else wrong(q))
            self.assertEqual(r.status, 200, r)
            self.assertIs(r.json["correct"], right, (q, r.json))
            self.assertEqual(r.json["points"], 1 if right else 0)
            self.assertTrue(r.json["explanation"])
            self.assertTrue(r.json["expected"])
            if not right:  # feedback names the right answer, not just "wrong"
                self.assertIn(r.json["expected"], r.json["explanation"])
            q = r.json["next"]
            self.assertNoAnswer(q)
        # answering an old question, or twice, is refused
        r = self.answer(token, a["id"], q["id"] - 1, "25")
        self.assertError(r, 409, "not_current")
        s = self.pl.get("/api/quiz/attempts/%d" % a["id"], cookie=token)
        self.assertEqual(s.status, 200)
        self.assertEqual(s.json["attempt"]["answered"], 8)
        self.assertEqual(s.json["attempt"]["right"], 4)
        done = s.json["attempt"]["questions_asked"]
        self.assertEqual(len(done), 8)
        self.assertTrue(all("expected" in d and "time_ms" in d for d in done))
        h = self.pl.get("/api/quiz/history", cookie=token)
        self.assertEqual(h.status, 200)
        self.assertEqual(h.json["attempts"][0]["id"], a["id"])
        self.assertTrue(h.json["weakest"])  # the four wrong ones
        # one box per fact seen (practice may draw a fact twice); the last
        # answer was wrong, so its fact sits in box 1
        self.assertTrue(1 <= sum(h.json["boxes"]) <= 8)
        self.assertGreaterEqual(h.json["boxes"][0], 1)

    def test_multi_answer_partial_credit(self):
        token = self.pl.join()
        a = self.start(token, "practice")
        q = a["question"]
        for _ in range(200):  # until a question with several ports comes up
            if q["multi"] and "ports does" in q["prompt"]:
                break
            r = self.answer(token, a["id"], q["id"], solve(q))
            q = r.json["next"]
            if q is None:
                a = self.start(token, "practice")
                q = a["question"]
        else:
            self.skipTest("no multi-port question drawn")
        parts = solve(q).split(", ")
        r = self.answer(token, a["id"], q["id"], " / ".join(reversed(parts[:-1])))
        self.assertFalse(r.json["correct"])
        self.assertAlmostEqual(r.json["points"], int((len(parts) - 1) * 100 / len(parts)) / 100)
        self.assertIn("Partly right", r.json["explanation"])

    def test_review_draws_new_facts_and_counts_boxes(self):
        token = self.pl.join()
        a = self.start(token, "review")
        q = a["question"]
        for i in range(6):
            r = self.answer(token, a["id"], q["id"], wrong(q) if i < 2 else solve(q))
            self.assertEqual(r.status, 200)
            q = r.json["next"]
        # a fresh student's review walks facts it has not seen yet: six
        # answers, six facts in the boxes
        h = self.pl.get("/api/quiz/history", cookie=token).json
        self.assertEqual(sum(h["boxes"]), 6)
        self.assertEqual(h["boxes"][0], 2)  # the two wrong
        self.assertEqual(h["boxes"][1], 4)  # right at first sight
        self.assertIn("due_today", h)

    def test_timed_test_hides_answers_until_finished(self):
        teacher = self.pl.teacher()
        t = self.create_test(teacher, title="Ports quiz", questions=3, attempts=2,
                             kinds=["port_service", "service_port", "transport"])
        self.assertEqual(t["kinds"], ["port_service", "service_port", "transport"])
        alice, bob = self.pl.join(), self.pl.join()
        listed = self.pl.get("/api/quiz/tests", cookie=alice).json["tests"]
        mine = next(x for x in listed if x["id"] == t["id"])
        self.assertEqual(mine["attempts_left"], 2)
        a = self.start(alice, "test", t["id"])
        self.assertEqual(a["mode"], "test")
        self.assertTrue(a["ends_at"])
        self.assertEqual(a["questions"], 3)
        q = a["question"]
        self.assertIn(q["kind"], ("port_service", "service_port", "transport"))
        # starting again resumes the running attempt
        again = self.pl.post("/api/quiz/attempts", {"mode": "test", "test_id": t["id"]},
                             cookie=alice)
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json["attempt"]["id"], a["id"])
        self.assertEqual(again.json["attempt"]["question"]["id"], q["id"])
        # someone else's attempt does not exist for them; the teacher may look
        self.assertError(self.pl.get("/api/quiz/attempts/%d" % a["id"], cookie=bob), 404)
        self.assertError(self.answer(bob, a["id"], q["id"], "25"), 404)
        self.assertEqual(self.pl.get("/api/quiz/attempts/%d" % a["id"], cookie=teacher).status,
                         200)
        r = self.answer(alice, a["id"], q["id"], solve(q))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.json["correct"])
        self.assertNotIn("expected", r.json)
        self.assertNotIn("explanation", r.json)
        self.assertFalse(r.json["finished"])
        q2 = r.json["next"]
        self.assertNoAnswer(q2)
        s = self.pl.get("/api/quiz/attempts/%d" % a["id"], cookie=alice).json["attempt"]
        self.assertEqual(len(s["questions_asked"]), 1)  # not the ones to come
        self.assertNotIn("expected", json.dumps(s))
        self.assertNotIn("explanation", json.dumps(s))
        r = self.answer(alice, a["id"], q2["id"], wrong(q2))
        self.assertNotIn("expected", r.json)
        q3 = r.json["next"]
        r = self.answer(alice, a["id"], q3["id"], solve(q3))
        self.assertTrue(r.json["finished"])
        self.assertIsNone(r.json["next"])
        self.assertIn("expected", r.json)  # the end: everything is shown
        done = r.json["attempt"]
        self.assertEqual(done["right"], 2)
        self.assertEqual(done["points"], 2)
        self.assertTrue(all("expected" in x and "explanation" in x
                            for x in done["questions_asked"]))
        self.assertError(self.answer(alice, a["id"], q3["id"], "25"), 409, "finished")
        # best of two: a second attempt, then no more
        a2 = self.start(alice, "test", t["id"])
        self.assertNotEqual(a2["id"], a["id"])
        q = a2["question"]
        for _ in range(3):
            q = self.answer(alice, a2["id"], q["id"], wrong(q)).json["next"]
        self.assertError(self.pl.post("/api/quiz/attempts", {"mode": "test", "test_id": t["id"]},
                                      cookie=alice), 409, "no_attempts_left")
        # results: the teacher only; the best attempt counts
        self.assertError(self.pl.get("/api/quiz/tests/%d/results" % t["id"], cookie=alice), 403,
                         "forbidden")
        res = self.pl.get("/api/quiz/tests/%d/results" % t["id"], cookie=teacher)
        self.assertEqual(res.status, 200)
        st = res.json["students"]
        self.assertEqual(len(st), 1)
        self.assertEqual(st[0]["attempts"], 2)
        self.assertEqual(st[0]["points"], 2)
        self.assertEqual(st[0]["best_attempt"], a["id"])
        items = res.json["questions"]
        self.assertTrue(items)
        self.assertEqual(sum(i["asked"] for i in items), 6)
        self.assertEqual(sum(i["wrong"] for i in items), 4)
        self.assertGreaterEqual(items[0]["wrong"] / items[0]["asked"],
                                items[-1]["wrong"] / items[-1]["asked"])  # most missed first
        csv = self.pl.get("/api/quiz/tests/%d/results?format=csv" % t["id"], cookie=teacher)
        self.assertEqual(csv.status, 200)
        self.assertTrue(csv.headers["Content-Type"].startswith("text/csv"))
        lines = csv.body.decode().splitlines()
        self.assertEqual(lines[0], "student,attempts,best_points,right,questions")
        self.assertEqual(lines[1].split(",")[1:], ["2", "2.00", "2", "3"])
        self.assertError(self.pl.get("/api/quiz/tests/%d/results?format=csv" % t["id"],
                                     cookie=alice), 403)
        # The class results export has one quiz_test row per student: alice's
        # best attempt, bob (who never started) with nothing.
        rows = self.pl.get("/api/results?format=json", cookie=teacher).json["results"]
        quiz = {r["student"]: r for r in rows
                if r["kind"] == "quiz_test" and r["item"] == "quiz/%d" % t["id"]}
        alice_name = self.pl.get("/api/me", cookie=alice).json["user"]["name"]
        bob_name = self.pl.get("/api/me", cookie=bob).json["user"]["name"]
        self.assertEqual(quiz[alice_name]["points"], 2)
        self.assertEqual(quiz[alice_name]["max_points"], 3)
        self.assertEqual(quiz[alice_name]["attempts"], 2)
        self.assertEqual(quiz[alice_name]["title"], "Ports quiz")
        first, solved = quiz[alice_name]["first_attempt_at"], quiz[alice_name]["solved_at"]
        self.assertRegex(first, r"^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(first <= solved, (first, solved))
        self.assertEqual(first[:10], time.strftime("%Y-%m-%d", time.gmtime()))
        self.assertEqual((quiz[bob_name]["points"], quiz[bob_name]["attempts"]), (0, 0))
        self.assertIsNone(quiz[bob_name]["solved_at"])
        self.assertError(self.pl.get("/api/results?format=json", cookie=alice), 403)
        # The gradebook lists the test and a cell per student.
        gb = self.pl.get("/api/class/gradebook", cookie=teacher).json
        item = "quiz/%d" % t["id"]
        self.assertIn(item, [x["item"] for x in gb["quiz_tests"]])
        cells = {st["name"]: st["quiz"][item] for st in gb["students"]}
        self.assertEqual(cells[alice_name], {"points": 2, "attempts": 2})
        self.assertEqual(cells[bob_name], {"points": 0, "attempts": 0})
        hist = self.pl.get("/api/quiz/history", cookie=alice).json
        best = next(b for b in hist["best"] if b["test_id"] == t["id"])
        self.assertEqual(best["points"], 2)

    def test_deadline_refuses_late_answers(self):
        teacher = self.pl.teacher()
        t = self.create_test(teacher, questions=2, time_limit=1)
        token = self.pl.join()
        a = self.start(token, "test", t["id"])
        q = a["question"]
        time.sleep(1.3)  # past the one-second limit; no timing is asserted
        r = self.answer(token, a["id"], q["id"], solve(q))
        self.assertError(r, 409, "time_up")
        s = self.pl.get("/api/quiz/attempts/%d" % a["id"], cookie=token).json["attempt"]
        self.assertTrue(s["finished"])
        self.assertEqual(s["answered"], 0)
        self.assertEqual(s["seconds_left"], 0)
        # finished by the clock: now the answers may be seen
        self.assertTrue(all("expected" in x for x in s["questions_asked"]))
        self.assertEqual(len(s["questions_asked"]), 2)
        # the test is over, so practice may start again
        self.assertEqual(self.start(token, "practice")["mode"], "practice")

    def test_roles_and_test_settings(self):
        teacher = self.pl.teacher()
        student = self.pl.join()
        self.assertError(self.pl.post("/api/quiz/tests", {"title": "x", "questions": 1,
                                                          "time_limit": 60}, cookie=student),
                         403, "forbidden")
        t = self.create_test(teacher, questions=1)
        self.assertError(self.pl.post("/api/quiz/tests/%d" % t["id"], {"open": False},
                                      cookie=student), 403)
        self.assertError(self.pl.get("/api/quiz/tests/%d/leaderboard" % t["id"], cookie=student),
                         404)
        r = self.pl.post("/api/quiz/tests/%d" % t["id"], {"leaderboard": True}, cookie=teacher)
        self.assertTrue(r.json["test"]["leaderboard"])
        a = self.start(student, "test", t["id"])
        self.answer(student, a["id"], a["question"]["id"], solve(a["question"]))
        lb = self.pl.get("/api/quiz/tests/%d/leaderboard" % t["id"], cookie=student)
        self.assertEqual(lb.status, 200)
        self.assertEqual(lb.json["leaderboard"][0]["points"], 1)
        self.pl.post("/api/quiz/tests/%d" % t["id"], {"open": False}, cookie=teacher)
        other = self.pl.join()
        self.assertError(self.pl.post("/api/quiz/attempts", {"mode": "test", "test_id": t["id"]},
                                      cookie=other), 403, "test_closed")
        self.assertNotIn(t["id"], [x["id"] for x in
                                   self.pl.get("/api/quiz/tests", cookie=other).json["tests"]])
        self.assertError(self.pl.post("/api/quiz/attempts", {"mode": "test", "test_id": 999999},
                                      cookie=other), 404)
        self.assertError(self.pl.post("/api/quiz/attempts", {"mode": "exam"}, cookie=other), 400)
        self.assertError(self.pl.post("/api/quiz/attempts", {"mode": "practice"}), 401)
        self.assertError(self.pl.get("/api/quiz/history"), 401)

    def take(self, token, test_id, right):
        """Takes a test to its end, every answer right or every one wrong."""
        a = self.start(token, "test", test_id)
        q = a["question"]
        while q is not None:
            r = self.answer(token, a["id"], q["id"], solve(q) if right else wrong(q))
            self.assertEqual(r.status, 200, r)
            q = r.json["next"]
        return a["id"]

    def test_removed_students_leave_the_leaderboard_and_results(self):
        # Names are free: a student makes two more, aces the test with them
        # and fills the leaderboard. Once the teacher removes them they are
        # gone from the leaderboard and the test's results, as from the
        # gradebook, and the real student's place and numbers are theirs.
        teacher = self.pl.teacher()
        t = self.create_test(teacher, questions=2, leaderboard=True)
        board = "/api/quiz/tests/%d/leaderboard" % t["id"]
        results = "/api/quiz/tests/%d/results" % t["id"]
        alice = unique_name("alice")
        token = self.pl.join(alice)
        self.take(token, t["id"], right=False)
        fakes = []
        for _ in range(2):
            r, fake = self.pl.join_full(unique_name("fake"))
            self.assertEqual(r.status, 201, r)
            fakes.append(r.json["user"]["id"])
            self.take(fake, t["id"], right=True)
        lb = self.pl.get(board, cookie=token).json["leaderboard"]
        self.assertEqual([x["points"] for x in lb], [2, 2, 0])
        self.assertEqual(len(self.pl.get(results, cookie=teacher).json["students"]), 3)
        for sid in fakes:
            r = self.pl.post("/api/class/students/%d/remove" % sid, {"purge": False},
                             cookie=teacher)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.pl.get(board, cookie=token).json["leaderboard"],
                         [{"name": alice, "points": 0}])
        res = self.pl.get(results, cookie=teacher).json
        self.assertEqual([(s["name"], s["attempts"], s["points"]) for s in res["students"]],
                         [(alice, 1, 0)])
        # per question: only alice's two wrong answers are left
        self.assertEqual(sum(i["asked"] for i in res["questions"]), 2)
        self.assertEqual(sum(i["right"] for i in res["questions"]), 0)
        csv = self.pl.get(results + "?format=csv", cookie=teacher).body.decode()
        self.assertEqual(csv.splitlines()[1:], ["%s,1,0.00,0,2" % alice])
        gb = self.pl.get("/api/class/gradebook", cookie=teacher).json
        cells = {s["name"]: s["quiz"]["quiz/%d" % t["id"]] for s in gb["students"]}
        self.assertEqual(cells, {**{n: {"points": 0, "attempts": 0} for n in cells},
                                 alice: {"points": 0, "attempts": 1}})

    def test_a_running_attempt_is_not_solved_yet(self):
        # The results export's solved_at is when the best attempt finished:
        # none while it still runs (not its deadline, a time to come).
        teacher = self.pl.teacher()
        t = self.create_test(teacher, questions=2, time_limit=3600)
        name = unique_name("running")
        token = self.pl.join(name)
        a = self.start(token, "test", t["id"])

        def row():
            rows = self.pl.get("/api/results?format=json", cookie=teacher).json["results"]
            return next(x for x in rows if x["student"] == name and x["kind"] == "quiz_test"
                        and x["item"] == "quiz/%d" % t["id"])
        running = row()
        self.assertEqual(running["attempts"], 1)
        self.assertIsNotNone(running["first_attempt_at"])
        self.assertIsNone(running["solved_at"])
        q = a["question"]
        while q is not None:
            r = self.answer(token, a["id"], q["id"], solve(q))
            q = r.json["next"]
        done = r.json["attempt"]
        self.assertEqual(row()["solved_at"], done["finished_at"])

    def test_practice_attempts_kept_are_bounded(self):
        # Every start stores an attempt and its first question: a script that
        # starts practice in a loop must not grow the database without end.
        # The newest LIM_QUIZ_PRACTICE_KEPT (100) practice and review attempts
        # stay; a test attempt never goes.
        teacher = self.pl.teacher()
        t = self.create_test(teacher, questions=2)
        token = self.pl.join()
        test_attempt = self.take(token, t["id"], right=True)
        first = self.start(token, "practice")
        r = self.answer(token, first["id"], first["question"]["id"], solve(first["question"]))
        self.assertEqual(r.status, 200, r)
        ids = [first["id"]] + [self.start(token, "review" if i % 2 else "practice")["id"]
                               for i in range(100)]
        self.assertError(self.pl.get("/api/quiz/attempts/%d" % ids[0], cookie=token), 404,
                         "not_found")
        for aid in (ids[1], ids[-1]):
            self.assertEqual(self.pl.get("/api/quiz/attempts/%d" % aid, cookie=token).status, 200)
        kept = self.pl.get("/api/quiz/attempts/%d" % test_attempt, cookie=token).json["attempt"]
        self.assertEqual((kept["finished"], kept["points"]), (True, 2))
        res = self.pl.get("/api/quiz/tests/%d/results" % t["id"], cookie=teacher).json
        self.assertEqual([(s["attempts"], s["points"]) for s in res["students"]], [(1, 2)])

    def test_no_practice_while_a_test_runs(self):
        # Practice and review show the right answer at once, from the same
        # bank as the test: while a test attempt runs, the server starts
        # neither and answers no practice question left open before it.
        teacher = self.pl.teacher()
        t = self.create_test(teacher, title="Midterm ports", questions=2, time_limit=3600)
        token = self.pl.join()
        p = self.start(token, "practice")  # open before the test begins
        a = self.start(token, "test", t["id"])
        for mode in ("practice", "review"):
            r = self.pl.post("/api/quiz/attempts", {"mode": mode}, cookie=token)
            self.assertError(r, 409, "test_running")
            self.assertIn("Midterm ports", r.json["error"]["message"])
        r = self.answer(token, p["id"], p["question"]["id"], solve(p["question"]))
        self.assertError(r, 409, "test_running")
        self.assertNoAnswer(r.json)
        # the test itself goes on, and another student is not held back
        self.assertEqual(self.start(self.pl.join(), "practice")["mode"], "practice")
        q = a["question"]
        while q is not None:
            r = self.answer(token, a["id"], q["id"], solve(q))
            self.assertEqual(r.status, 200, r)
            q = r.json["next"]
        # finished: practice is open again, the old run included
        self.assertEqual(self.start(token, "review")["mode"], "review")
        r = self.answer(token, p["id"], p["question"]["id"], solve(p["question"]))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["expected"])

    def test_closing_a_test_ends_running_attempts(self):
        # The teacher's close ends every running attempt at once, scored as
        # it stands: a later answer is 409 test_closed, the answers show,
        # and the attempt counts as used if the test is opened again.
        teacher = self.pl.teacher()
        t = self.create_test(teacher, questions=3, attempts=2, time_limit=3600)
        name = unique_name("closed")
        token = self.pl.join(name)
        a = self.start(token, "test", t["id"])
        r = self.answer(token, a["id"], a["question"]["id"], solve(a["question"]))
        self.assertEqual(r.status, 200, r)
        q2 = r.json["next"]
        self.assertEqual(self.pl.post("/api/quiz/tests/%d" % t["id"], {"open": False},
                                      cookie=teacher).status, 200)
        r = self.answer(token, a["id"], q2["id"], solve(q2))
        self.assertError(r, 409, "test_closed")
        self.assertNoAnswer(r.json)
        s = self.pl.get("/api/quiz/attempts/%d" % a["id"], cookie=token).json["attempt"]
        self.assertEqual((s["finished"], s["answered"], s["points"], s["seconds_left"]),
                         (True, 1, 1, 0))
        self.assertTrue(s["finished_at"] < s["ends_at"], s)
        self.assertEqual(len(s["questions_asked"]), 3)
        self.assertTrue(all("expected" in x for x in s["questions_asked"]))
        res = self.pl.get("/api/quiz/tests/%d/results" % t["id"], cookie=teacher).json
        self.assertEqual([(x["name"], x["attempts"], x["points"]) for x in res["students"]],
                         [(name, 1, 1)])
        self.assertError(self.pl.post("/api/quiz/attempts", {"mode": "test", "test_id": t["id"]},
                                      cookie=token), 403, "test_closed")
        self.assertEqual(self.start(token, "practice")["mode"], "practice")
        # opened again: the ended attempt stays ended and counts; one is left
        self.pl.post("/api/quiz/tests/%d" % t["id"], {"open": True}, cookie=teacher)
        self.assertError(self.answer(token, a["id"], q2["id"], solve(q2)), 409, "test_closed")
        listed = self.pl.get("/api/quiz/tests", cookie=token).json["tests"]
        self.assertEqual(next(x for x in listed if x["id"] == t["id"])["attempts_left"], 1)
        self.assertNotEqual(self.start(token, "test", t["id"])["id"], a["id"])

    def test_best_scores_outlast_many_practice_runs(self):
        # The history lists the newest 50 attempts, but the best score of
        # each test comes from all of them: 51 practice runs after two
        # tests hide neither, and the order (newest test first) stays.
        teacher = self.pl.teacher()
        ta = self.create_test(teacher, title="First", questions=2)
        tb = self.create_test(teacher, title="Second", questions=3)
        token = self.pl.join()
        self.take(token, ta["id"], right=True)
        self.take(token, tb["id"], right=False)
        for i in range(51):
            self.start(token, "review" if i % 2 else "practice")
        h = self.pl.get("/api/quiz/history", cookie=token).json
        self.assertEqual(len(h["attempts"]), 50)
        self.assertFalse(any("test_id" in x for x in h["attempts"]))
        self.assertEqual(h["best"], [
            {"test_id": tb["id"], "title": "Second", "points": 0, "max_points": 3},
            {"test_id": ta["id"], "title": "First", "points": 2, "max_points": 2}])

    def test_limits_at_their_edges(self):
        teacher = self.pl.teacher()
        # --quiz-questions 12: a test of 12 is allowed, 13 is not
        self.create_test(teacher, questions=12)
        self.create_test(teacher, status=400, questions=13)
        self.create_test(teacher, time_limit=4 * 3600)
        self.create_test(teacher, status=400, time_limit=4 * 3600 + 1)
        self.create_test(teacher, status=400, time_limit=0)
        self.create_test(teacher, attempts=10)
        self.create_test(teacher, status=400, attempts=11)
        self.create_test(teacher, title="t" * 100)
        self.create_test(teacher, status=400, title="t" * 101)
        # The limit counts characters, as the title field's maxlength does:
        # 100 two-byte and 100 four-byte characters fit, whole.
        for ch in ("\u00e9", "\U0001f600"):
            t = self.create_test(teacher, title=ch * 100)
            self.assertEqual(t["title"], ch * 100)
            self.create_test(teacher, status=400, title=ch * 101)
        self.create_test(teacher, status=400, kinds=["nope"])
        token = self.pl.join()
        a = self.start(token, "practice")
        q = a["question"]
        self.assertError(self.answer(token, a["id"], q["id"], "x" * 257), 400)
        r = self.answer(token, a["id"], q["id"], "1" * 256)
        self.assertEqual(r.status, 200)
        # a practice run ends after --quiz-questions questions
        answered = 1
        q = r.json["next"]
        while q is not None:
            r = self.answer(token, a["id"], q["id"], solve(q))
            answered += 1
            q = r.json["next"]
        self.assertEqual(answered, 12)
        self.assertTrue(r.json["finished"])
        self.assertError(self.answer(token, a["id"], 1, "25"), 409, "finished")


class QuizBankFlag(PortlabTestCase):
    SHARED = False

    def test_own_bank_and_a_broken_one(self):
        tmp = tempfile.mkdtemp(prefix="portlab-quiz-")
        good = os.path.join(tmp, "bank.tsv")
        with open(good, "w") as f:
            f.write("type\tid\tnames\tports\ttransport\tsecurity\tcounterpart\tconfused\tskip\t"
                    "topic\tseeds\tpurpose\n")
            for i, (name, port, sec) in enumerate([("Alpha", 7001, "clear"),
                                                   ("Beta", 7002, "secure"),
                                                   ("Gamma", 7003, "clear"),
                                                   ("Delta", 7004, "secure")]):
                f.write("service\t%s\t%s\t%d\ttcp\t%s\t-\t-\t-\tt\tiana\tp\n"
                        % (name.lower(), name, port, sec))
        pl = self.portlab(args=["--quiz-bank", good])
        token = pl.join()
        r = pl.post("/api/quiz/attempts", {"mode": "practice"}, cookie=token)
        self.assertEqual(r.status, 201)
        q = r.json["attempt"]["question"]
        self.assertRegex(q["prompt"] + " " + " ".join(q.get("choices", [])),
                         r"700[1-4]|Alpha|Beta|Gamma|Delta|[Ww]ell-known|[Rr]egistered")
        # only this bank's services come up
        self.assertNotRegex(q["prompt"] + " " + " ".join(q.get("choices", [])),
                            r"SMTP|POP3|IMAP|\b(25|110|143)\b")
        bad = os.path.join(tmp, "bad.tsv")
        with open(bad, "w") as f:
            f.write("service\tx\tX\t99999\ttcp\t-\t-\t-\t-\tt\tiana\tp\n")
        p = subprocess.run([harness.BIN, "--listen", "127.0.0.1:%d" % harness.free_port(),
                            "--db", os.path.join(tmp, "x.db"), "--quiz-bank", bad],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--quiz-bank", p.stderr)
        self.assertIn("line 1", p.stderr)


if __name__ == "__main__":
    unittest.main()
