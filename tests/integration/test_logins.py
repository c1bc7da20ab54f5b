#!/usr/bin/python3
"""test_logins.py -- what ends a login, and what a page of another origin
cannot do with one.

A logged-out cookie replayed is refused. A restart with a new teacher
password ends the teacher logins made with the old one (a restart with the
same password keeps them). A user keeps at most LIM_LOGINS_PER_USER logins,
the newest, so a student who rejoins in a loop cannot grow the logins table. Every
POST and PUT must be JSON, also the ones whose handler reads no body
(logout, sign-out, rejoin-code, reset-lab): a form that another page of the
same site posts (text/plain, form-urlencoded, multipart) changes nothing.
Two session cookies in one request (a sibling site's, planted with its own
Domain or Path, is sent first) log nobody in, over REST or WebSocket.
"""
import os
import sys

import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import PortlabTestCase, main, session_cookie, unique_name  # noqa: E402

LOGINS_PER_USER = 64  # LIM_LOGINS_PER_USER

# The content types a browser sends cross-origin without a CORS preflight.
FORM_TYPES = ("text/plain", "application/x-www-form-urlencoded",
              "multipart/form-data; boundary=x", None)


def user_id(pl, token):
    return pl.get("/api/me", cookie=token).json["user"]["id"]


class Logout(PortlabTestCase):
    def test_replayed_cookie_is_refused(self):
        token = self.pl.join()
        other = self.pl.teacher()
        r = self.pl.post("/api/logout", {}, cookie=token)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.headers.get("Set-Cookie"),
                         "portlab_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
        self.assertError(self.pl.get("/api/me", cookie=token), 401, "unauthorized")
        self.assertIsNone(self.pl.get("/api/whoami", cookie=token).json["user"])
        # Logging out again with the dead cookie is harmless; others go on.
        self.assertEqual(self.pl.post("/api/logout", {}, cookie=token).status, 204)
        self.assertEqual(self.pl.get("/api/me", cookie=other).status, 200)


class PlantedCookie(PortlabTestCase):
    def test_a_second_session_cookie_logs_nobody_in(self):
        victim, planter = self.pl.join(), self.pl.join()
        self.assertNotEqual(user_id(self.pl, victim), user_id(self.pl, planter))
        # The browser sends the longer Path first: the planter's token.
        both = "portlab_session=%s; portlab_session=%s" % (planter, victim)
        self.assertError(self.pl.get("/api/me", cookie=both), 401, "unauthorized")
        self.assertError(self.pl.get("/api/lessons", cookie=both), 401, "unauthorized")
        with self.assertRaises(websocket.WebSocketException):
            self.pl.ws_connect(both)
        self.assertIn("two portlab_session cookies in one request", self.pl.logs())
        # A stray value that is no token hides nothing; each alone still works.
        self.assertEqual(self.pl.get("/api/me", cookie="portlab_session=x; " +
                                     "portlab_session=" + victim).status, 200)
        for token in (victim, planter):
            self.assertEqual(self.pl.get("/api/me", cookie=token).status, 200)


class FormPosts(PortlabTestCase):
    def test_no_state_changing_route_takes_a_form(self):
        name = unique_name()
        r = self.pl.post("/api/join", {"name": name})
        student, rejoin = session_cookie(r), r.json["rejoin_code"]
        sid = user_id(self.pl, student)
        teacher = self.pl.teacher()
        routes = [
            ("POST", "/api/logout", student),
            ("POST", "/api/logout", teacher),
            ("POST", "/api/class/students/%d/sign-out" % sid, teacher),
            ("POST", "/api/class/students/%d/rejoin-code" % sid, teacher),
            ("POST", "/api/class/students/%d/reset-lab" % sid, teacher),
            ("POST", "/api/class/students/%d/remove" % sid, teacher),
            ("PUT", "/api/class", teacher),
            ("POST", "/api/join", None),
            ("POST", "/api/teacher/login", None),
            ("POST", "/api/quiz/tests", teacher),
        ]
        for method, path, cookie in routes:
            for ctype in FORM_TYPES:
                with self.subTest(method=method, path=path, ctype=ctype):
                    r = self.pl.request(method, path, raw=b"{}", content_type=ctype,
                                        cookie=cookie)
                    self.assertError(r, 415, "unsupported_media_type")
                    self.assertIsNone(r.headers.get("Set-Cookie"))
        # Nothing happened: both logins live, the rejoin code still works,
        # the student was neither signed out nor removed.
        self.assertEqual(self.pl.get("/api/me", cookie=student).status, 200)
        self.assertEqual(self.pl.get("/api/me", cookie=teacher).status, 200)
        r = self.pl.post("/api/join", {"name": name, "rejoin_code": rejoin})
        self.assertEqual(r.status, 201, r)
        audit = self.pl.get("/api/class/audit", cookie=teacher).json["entries"]
        self.assertEqual([e for e in audit if e["student"] == name], [])
        # A CORS preflight gets no permission to send JSON from elsewhere.
        r = self.pl.request("OPTIONS", "/api/logout", headers={
            "Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        self.assertNotEqual(r.status // 100, 2, r)
        self.assertIsNone(r.headers.get("Access-Control-Allow-Origin"))


class LoginCap(PortlabTestCase):
    def test_rejoining_in_a_loop_keeps_only_the_newest_logins(self):
        name = unique_name()
        r = self.pl.post("/api/join", {"name": name})
        rejoin = r.json["rejoin_code"]
        tokens = [session_cookie(r)]
        for _ in range(LOGINS_PER_USER):
            r = self.pl.post("/api/join", {"name": name, "rejoin_code": rejoin})
            self.assertEqual(r.status, 201, r)
            tokens.append(session_cookie(r))
        # One login ended (an oldest one: all were made within the same
        # seconds here); the newest always works.
        live = [t for t in tokens if self.pl.get("/api/me", cookie=t).status == 200]
        self.assertEqual(len(live), LOGINS_PER_USER)
        self.assertIn(tokens[-1], live)
        # Another user's logins are not touched.
        other = self.pl.join()
        r = self.pl.post("/api/join", {"name": name, "rejoin_code": rejoin})
        self.assertEqual(self.pl.get("/api/me", cookie=session_cookie(r)).status, 200)
        self.assertEqual(self.pl.get("/api/me", cookie=other).status, 200)


class TeacherPasswordChange(PortlabTestCase):
    SHARED = False

    def test_new_password_ends_old_teacher_logins(self):
        pl = self.portlab(teacher_password="first-password")
        teacher = pl.teacher()
        student = pl.join()
        # The same password again: the teacher stays logged in.
        pl.stop()
        pl.restart()
        self.assertEqual(pl.get("/api/me", cookie=teacher).status, 200)
        # A new one: the old teacher cookie is dead, the students' are not.
        pl.stop()
        pl.teacher_password = "second-password"
        pl.restart()
        self.assertError(pl.get("/api/me", cookie=teacher), 401, "unauthorized")
        self.assertEqual(pl.get("/api/me", cookie=student).status, 200)
        r = pl.post("/api/teacher/login", {"password": "first-password"})
        self.assertError(r, 401, "unauthorized")
        self.assertEqual(pl.get("/api/me", cookie=pl.teacher()).status, 200)
        self.assertIn("the teacher password changed: 1 teacher login(s) ended", pl.logs())


if __name__ == "__main__":
    main()
