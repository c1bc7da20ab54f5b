#!/usr/bin/python3
"""test_hints.py -- hints that cost points, the teacher's choice (issue 12).

A task's hints are sent one at a time and only once taken; the teacher sees
them all. With the class setting off (the default) hints are free. With it
on, each hint taken before the solve lowers what the task earns by the
task's hint-cost, which the task states before the hint is asked for (and
the request must carry the cost the page showed). Only the teacher may read
or change the setting. The gradebook and the results export show hints
taken and the points they cost, per student.

Tasks used (lessons/40-ftp.md): ftp-pasv-port, 2 points, 2 hints, cost 1
each (the default); ftp-flag, 3 points, 3 hints, hint-cost 1.
"""
import csv
import io

from harness import PortlabTestCase, main, unique_name

LESSON = "ftp"
TASK = "ftp-pasv-port"
ANSWER = "30035"
HINT_WORDS = ("high byte first", "Multiply the fifth number by 256")  # from each hint's text


class Hints(PortlabTestCase):
    def lesson(self, token):
        r = self.pl.get("/api/lessons/" + LESSON, cookie=token)
        self.assertEqual(r.status, 200, r)
        return r

    def task(self, token, task=TASK):
        return next(t for t in self.lesson(token).json["lesson"]["tasks"] if t["id"] == task)

    def hint(self, token, cost=None, task=TASK):
        body = {} if cost is None else {"cost": cost}
        return self.pl.post("/api/lessons/%s/tasks/%s/hint" % (LESSON, task), body, cookie=token)

    def answer(self, token, answer=ANSWER):
        r = self.pl.post("/api/lessons/%s/tasks/%s" % (LESSON, TASK), {"answer": answer},
                         cookie=token)
        self.assertEqual(r.status, 200, r)
        return r.json

    def set_cost(self, on):
        r = self.pl.request("PUT", "/api/class", {"hints_cost_points": on},
                            cookie=self.pl.teacher())
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["hints_cost_points"], on)

    def cell(self, name, task=TASK):
        gb = self.pl.get("/api/class/gradebook", cookie=self.pl.teacher())
        self.assertEqual(gb.status, 200, gb)
        st = next(s for s in gb.json["students"] if s["name"] == name)
        return st["tasks"].get("%s/%s" % (LESSON, task)), st

    def result_row(self, name, task=TASK):
        r = self.pl.get("/api/results?format=csv", cookie=self.pl.teacher())
        self.assertEqual(r.status, 200, r)
        rows = list(csv.DictReader(io.StringIO(r.body.decode("utf-8-sig"), newline="")))
        return next(x for x in rows if x["student"] == name and x["item"] == LESSON + "/" + task)

    def test_setting_is_the_teachers_alone(self):
        student = self.pl.join()
        for method, body in (("GET", None), ("PUT", {"hints_cost_points": True})):
            r = self.pl.request(method, "/api/class", body, cookie=student)
            self.assertEqual(r.status, 403, r)
        teacher = self.pl.teacher()
        r = self.pl.request("PUT", "/api/class", {"hints_cost_points": "yes"}, cookie=teacher)
        self.assertEqual(r.status, 400, r)
        self.set_cost(True)
        self.assertIs(self.pl.get("/api/class", cookie=teacher).json["hints_cost_points"], True)
        self.set_cost(False)
        self.assertIs(self.pl.get("/api/class", cookie=teacher).json["hints_cost_points"], False)
        audit = self.pl.get("/api/class/audit", cookie=teacher).json["entries"]
        self.assertEqual([e["detail"] for e in audit if e["action"] == "hints_cost"][:2],
                         ["off", "on"])

    def test_hint_text_is_never_sent_before_it_is_taken(self):
        student = self.pl.join()
        body = self.lesson(student).body.decode()
        for words in HINT_WORDS:
            self.assertNotIn(words, body)
        t = self.task(student)
        self.assertEqual((t["hints"], t["hints_taken"]), (2, []))
        r = self.hint(student)
        self.assertEqual(r.status, 200, r)
        self.assertIn(HINT_WORDS[0], r.json["hint"])
        body = self.lesson(student).body.decode()
        self.assertIn(HINT_WORDS[0], body)
        self.assertNotIn(HINT_WORDS[1], body)
        # The teacher sees every hint, and taking one leaves no record.
        teacher = self.pl.teacher()
        t = self.task(teacher)
        self.assertEqual(len(t["hints_taken"]), 2)
        self.assertEqual(self.hint(teacher).status, 200)
        self.assertEqual(self.task(teacher)["hint_points"], 0)
        # A task without hints, and an unknown task.
        self.assertEqual(self.hint(student, task="ftp-syst").status, 404)
        self.assertEqual(self.hint(student, task="nope").status, 404)
        self.assertEqual(self.pl.post("/api/lessons/nope/tasks/ftp-retr/hint", {},
                                      cookie=student).status, 404)

    def test_free_hints_cost_nothing(self):
        self.set_cost(False)
        name = unique_name("free")
        student = self.pl.join(name)
        self.assertEqual(self.task(student)["next_hint_cost"], 0)
        for k in (1, 2):
            r = self.hint(student, cost=0)
            self.assertEqual(r.status, 200, r)
            self.assertEqual((r.json["number"], r.json["cost"]), (k, 0))
        r = self.hint(student, cost=0)
        self.assertEqual((r.status, r.error_code), (409, "no_more_hints"))
        res = self.answer(student)
        self.assertTrue(res["correct"])
        self.assertEqual(res["task"]["earned"], 2)
        self.assertEqual(res["score"], 2)
        cell, _ = self.cell(name)
        self.assertEqual((cell["points"], cell["hints"], cell["hint_points"]), (2, 2, 0))

    def test_hints_that_cost_points(self):
        self.set_cost(True)
        try:
            name = unique_name("paid")
            student = self.pl.join(name)
            t = self.task(student)
            # The cost is stated before the student asks.
            self.assertEqual((t["next_hint_cost"], t["hint_points"], t["points"]), (1, 0, 2))
            # A request carrying another cost than the one in force takes nothing.
            r = self.hint(student, cost=0)
            self.assertEqual((r.status, r.error_code), (409, "cost_changed"))
            # So does a cost that is no whole number of points, or no int at
            # all: it is compared as sent, never rounded to the cost in force.
            for cost in (1.9, 1.5, 1e300):
                r = self.hint(student, cost=cost)
                self.assertEqual((r.status, r.error_code), (409, "cost_changed"), cost)
            self.assertEqual(self.task(student)["hints_taken"], [])
            r = self.hint(student, cost=1)
            self.assertEqual(r.status, 200, r)
            self.assertEqual((r.json["cost"], r.json["task"]["hint_points"]), (1, 1))
            self.assertEqual(r.json["task"]["next_hint_cost"], 1)
            wrong = self.answer(student, "11783")
            self.assertFalse(wrong["correct"])
            r = self.hint(student, cost=1)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["task"]["hint_points"], 2)
            self.assertEqual(r.json["task"]["next_hint_cost"], 0)  # none left
            res = self.answer(student)
            self.assertTrue(res["correct"])
            self.assertEqual(res["task"]["earned"], 0)  # 2 points less 2 hints
            lessons = self.pl.get("/api/lessons", cookie=student).json["lessons"]
            self.assertEqual(next(x for x in lessons if x["id"] == LESSON)["score"], 0)

            cell, st = self.cell(name)
            self.assertEqual((cell["solved"], cell["points"], cell["attempts"]), (True, 0, 2))
            self.assertEqual((cell["hints"], cell["hint_points"]), (2, 2))
            self.assertEqual(st["lessons"][LESSON], 0)
            row = self.result_row(name)
            self.assertEqual((row["points"], row["max_points"], row["hints"],
                              row["hint_points"]), ("0", "2", "2", "2"))
            j = self.pl.get("/api/results?format=json", cookie=self.pl.teacher()).json["results"]
            jrow = next(x for x in j if x["student"] == name and x["item"] == LESSON + "/" + TASK)
            self.assertEqual((jrow["hints"], jrow["hint_points"]), (2, 2))

            # One hint of three on a 3-point flag task costs 1: 2 are left
            # to earn. A hint taken after the solve is free.
            t = self.task(student, "ftp-flag")
            self.assertEqual((t["hints"], t["next_hint_cost"]), (3, 1))
            self.assertEqual(self.hint(student, cost=1, task="ftp-flag").status, 200)
            cell, _ = self.cell(name, "ftp-flag")
            self.assertEqual((cell["solved"], cell["attempts"], cell["hint_points"]),
                             (False, 0, 1))
        finally:
            self.set_cost(False)

    def test_a_hint_after_the_solve_is_free(self):
        self.set_cost(True)
        try:
            name = unique_name("late")
            student = self.pl.join(name)
            self.assertTrue(self.answer(student)["correct"])
            t = self.task(student)
            self.assertEqual((t["earned"], t["next_hint_cost"]), (2, 0))
            r = self.hint(student, cost=0)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json["task"]["hint_points"], 0)
            cell, _ = self.cell(name)
            self.assertEqual((cell["points"], cell["hints"], cell["hint_points"]), (2, 1, 0))
        finally:
            self.set_cost(False)


if __name__ == "__main__":
    main()
