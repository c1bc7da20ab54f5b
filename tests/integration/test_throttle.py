"""test_throttle.py -- fair logins and joins per source address, and the
HTTP hardening around them (issue 7): teacher password, class code and
rejoin code backoff per address, joins per address per minute and in total,
strict JSON Content-Type, chunked bodies, the Secure cookie, an over-long
?user= filter, and logout ending the login's WebSockets.

Other client addresses are 127.0.0.2, 127.0.0.3, ... (the client socket
binds its source address). The servers run with --local-net 127.0.0.1, so
only 127.0.0.1 counts as the machine itself; the default is all of
127.0.0.0/8 and ::1."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (EchoServer, LineClient, PortlabTestCase, main,  # noqa: E402
                     open_session, recv_msg, session_cookie, set_cookie_header, unique_name,
                     wait_closed, TEXT, BINARY)

FAILURES = 10  # LIM_LOGIN_FAILURES
BACKOFF = 30  # LIM_LOGIN_BACKOFF_SECS
CLASS_CODE = "Blue-Whale-42"
PUBLIC = "https://lab.school.example"


class Logins(PortlabTestCase):
    """Wrong teacher passwords, class codes and rejoin codes make only their
    own address wait; the machine itself never waits."""

    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        return ["--local-net", "127.0.0.1", "--class-code", CLASS_CODE,
                "--public-origin", PUBLIC, "--allow", "127.0.0.1:%d" % cls.echo.port]

    def login(self, password, source):
        return self.pl.post("/api/teacher/login", {"password": password}, source=source)

    def assertThrottled(self, r):
        self.assertError(r, 429, "too_many_attempts")
        retry = int(r.headers.get("Retry-After", "0"))
        self.assertTrue(1 <= retry <= BACKOFF, r.headers)
        self.assertIsNone(session_cookie(r))

    def test_teacher_password_per_address(self):
        for _ in range(FAILURES):  # n wrong answers are answered
            self.assertError(self.login("wrong", "127.0.0.2"), 401, "unauthorized")
        # n+1: even the right password waits, from that address only.
        self.assertThrottled(self.login(self.pl.teacher_password, "127.0.0.2"))
        self.assertThrottled(self.login("wrong", "127.0.0.2"))
        r = self.login(self.pl.teacher_password, "127.0.0.3")
        self.assertEqual(r.status, 200, r)
        # A success elsewhere does not forgive 127.0.0.2.
        self.assertThrottled(self.login(self.pl.teacher_password, "127.0.0.2"))

    def test_teacher_sees_throttled_addresses(self):
        """GET /api/usage lists an address with wrong answers, its kind,
        count and wait; a student may not read it."""
        for _ in range(FAILURES + 1):
            self.login("wrong", "127.0.0.9")
        teacher = self.pl.teacher()
        usage = self.pl.get("/api/usage", cookie=teacher).json
        rows = [r for r in usage["throttled"] if r["address"] == "127.0.0.9"]
        self.assertEqual(len(rows), 1, usage["throttled"])
        self.assertEqual(rows[0]["kind"], "teacher_password")
        self.assertEqual(rows[0]["failures"], FAILURES)  # the next one was refused, not counted
        self.assertTrue(1 <= rows[0]["wait_secs"] <= BACKOFF, rows[0])
        self.assertGreaterEqual(usage["totals"]["throttled_addresses"], 1)
        student = self.pl.join("peeker", class_code=CLASS_CODE)
        self.assertError(self.pl.get("/api/usage", cookie=student), 403, "forbidden")

    def test_teacher_on_this_machine_is_never_throttled(self):
        for _ in range(FAILURES + 3):
            self.assertError(self.login("wrong", "127.0.0.1"), 401, "unauthorized")
        r = self.login(self.pl.teacher_password, "127.0.0.1")
        self.assertEqual(r.status, 200, r)

    def test_teacher_success_resets_own_count(self):
        for _ in range(FAILURES - 1):
            self.assertError(self.login("wrong", "127.0.0.4"), 401)
        self.assertEqual(self.login(self.pl.teacher_password, "127.0.0.4").status, 200)
        for _ in range(FAILURES):
            self.assertError(self.login("wrong", "127.0.0.4"), 401)
        self.assertThrottled(self.login("wrong", "127.0.0.4"))

    def join(self, source, **fields):
        body = {"name": unique_name()}
        body.update(fields)
        return self.pl.post("/api/join", body, source=source)

    def test_class_code_per_address(self):
        for _ in range(FAILURES):
            self.assertError(self.join("127.0.0.5", class_code="wrong"), 403, "bad_class_code")
        self.assertThrottled(self.join("127.0.0.5", class_code=CLASS_CODE))
        self.assertEqual(self.join("127.0.0.6", class_code=CLASS_CODE).status, 201)
        self.assertEqual(self.join("127.0.0.1", class_code=CLASS_CODE).status, 201)

    def test_rejoin_code_per_address(self):
        name = unique_name()
        first = self.pl.post("/api/join", {"name": name, "class_code": CLASS_CODE},
                             source="127.0.0.7")
        self.assertEqual(first.status, 201, first)
        code = first.json["rejoin_code"]
        attempt = {"name": name, "class_code": CLASS_CODE}
        # Asking for a taken name without a code is not a guess.
        for _ in range(FAILURES + 2):
            r = self.pl.post("/api/join", attempt, source="127.0.0.8")
            self.assertError(r, 409, "name_taken")
        for _ in range(FAILURES):
            r = self.pl.post("/api/join", dict(attempt, rejoin_code="wrong"), source="127.0.0.8")
            self.assertError(r, 409, "name_taken")
        self.assertThrottled(self.pl.post("/api/join", dict(attempt, rejoin_code=code),
                                          source="127.0.0.8"))
        r = self.pl.post("/api/join", dict(attempt, rejoin_code=code), source="127.0.0.9")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["user"]["id"], first.json["user"]["id"])

    def test_content_type_must_be_json(self):
        body = b'{"name":"%s","class_code":"%s"}'
        for ctype, want in (("application/jsonx", 415), ("application/json-seq", 415),
                            ("text/plain", 415), ("application/json; charset=utf-8", 201),
                            ("APPLICATION/JSON", 201)):
            with self.subTest(ctype=ctype):
                raw = body % (unique_name().encode(), CLASS_CODE.encode())
                r = self.pl.post("/api/join", raw=raw, content_type=ctype)
                self.assertEqual(r.status, want, r)
                if want == 415:
                    self.assertError(r, 415, "unsupported_media_type")

    def test_cookie_secure_behind_https_public_origin(self):
        body = {"name": unique_name(), "class_code": CLASS_CODE}
        r = self.pl.post("/api/join", body, headers={"Origin": PUBLIC})
        self.assertEqual(r.status, 201, r)
        self.assertIn("secure", [p.strip().lower() for p in set_cookie_header(r).split(";")])
        body = {"name": unique_name(), "class_code": CLASS_CODE}
        r = self.pl.post("/api/join", body, headers={"Origin": self.pl.origin})
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("secure", [p.strip().lower() for p in set_cookie_header(r).split(";")])
        r = self.pl.post("/api/logout", {}, cookie=session_cookie(r), headers={"Origin": PUBLIC})
        self.assertEqual(r.status, 204, r)
        self.assertIn("secure", [p.strip().lower() for p in set_cookie_header(r).split(";")])

    def test_chunked_body_is_answered_at_once(self):
        c = LineClient(self.pl.port)
        try:
            # Headers and a first chunk, never the last one: the answer must
            # not wait for the rest (or for a timeout).
            c.send(b"POST /api/join HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\n{\"nam\r\n" % self.pl.port)
            data = c.rest()  # the answer, then the server closes (a timeout here fails)
        finally:
            c.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 411"), data)
        self.assertIn(b'"length_required"', data)

    def test_overlong_user_filter_is_refused(self):
        teacher = self.pl.teacher()
        r = self.pl.get("/api/sessions?user=" + "a" * 33, cookie=teacher)  # n+1
        self.assertError(r, 400, "bad_request")
        r = self.pl.get("/api/sessions?user=" + "a" * 500, cookie=teacher)
        self.assertError(r, 400, "bad_request")
        r = self.pl.get("/api/sessions?user=" + "a" * 32, cookie=teacher)  # n: no such name
        self.assertError(r, 404, "not_found")
        r = self.pl.get("/api/sessions?format=x&&user=" + "a" * 33, cookie=teacher)
        self.assertError(r, 400, "bad_request")

    def test_logout_closes_that_logins_websockets(self):
        name = unique_name()
        first = self.pl.post("/api/join", {"name": name, "class_code": CLASS_CODE})
        self.assertEqual(first.status, 201, first)
        cookie1 = session_cookie(first)
        again = self.pl.post("/api/join", {"name": name, "class_code": CLASS_CODE,
                                           "rejoin_code": first.json["rejoin_code"]})
        cookie2 = session_cookie(again)  # the same student in another browser
        ws1 = self.ws(self.pl.ws_connect(cookie1))
        self.assertEqual(open_session(ws1, "127.0.0.1", self.echo.port)["type"], "opened")
        ws2 = self.ws(self.pl.ws_connect(cookie2))
        self.assertEqual(open_session(ws2, "127.0.0.1", self.echo.port)["type"], "opened")
        idle = self.ws(self.pl.ws_connect(cookie1))  # no session opened yet
        r = self.pl.post("/api/logout", {}, cookie=cookie1)
        self.assertEqual(r.status, 204, r)
        _, closed = wait_closed(ws1)
        self.assertClosed(closed, "logged_out")
        _, closed = wait_closed(idle)
        self.assertClosed(closed, "logged_out")
        # The other login goes on relaying.
        ws2.send_binary(b"still here\r\n")
        got = b""
        while b"still here" not in got:
            kind, data = recv_msg(ws2)
            self.assertIn(kind, (TEXT, BINARY), data)
            if kind == BINARY:
                got += data
        self.assertEqual(self.pl.get("/api/me", cookie=cookie1).status, 401)
        self.assertEqual(self.pl.get("/api/me", cookie=cookie2).status, 200)


class Joins(PortlabTestCase):
    """New names per address per minute, and in all."""

    PER_MINUTE = 3
    STUDENTS = 6
    ARGS = ["--local-net", "127.0.0.1", "--joins-per-minute", str(PER_MINUTE),
            "--max-students", str(STUDENTS)]

    def test_joins_per_address_then_class_full(self):
        joined = []
        for _ in range(self.PER_MINUTE):  # n new names from one address
            r = self.pl.post("/api/join", {"name": unique_name()}, source="127.0.0.2")
            self.assertEqual(r.status, 201, r)
            joined.append(r.json)
        r = self.pl.post("/api/join", {"name": unique_name()}, source="127.0.0.2")  # n+1
        self.assertError(r, 429, "too_many_joins")
        self.assertTrue(1 <= int(r.headers.get("Retry-After", "0")) <= 60 // self.PER_MINUTE,
                        r.headers)
        # Rejoining is no new name; other addresses have their own budget.
        r = self.pl.post("/api/join", {"name": joined[0]["user"]["name"],
                                       "rejoin_code": joined[0]["rejoin_code"]},
                         source="127.0.0.2")
        self.assertEqual(r.status, 201, r)
        r = self.pl.post("/api/join", {"name": unique_name()}, source="127.0.0.3")
        self.assertEqual(r.status, 201, r)
        joined.append(r.json)
        # This machine has no rate; the class size holds for everyone.
        while len(joined) < self.STUDENTS:  # up to n students
            r = self.pl.post("/api/join", {"name": unique_name()}, source="127.0.0.1")
            self.assertEqual(r.status, 201, r)
            joined.append(r.json)
        r = self.pl.post("/api/join", {"name": unique_name()}, source="127.0.0.1")  # n+1
        self.assertError(r, 403, "class_full")
        r = self.pl.post("/api/join", {"name": unique_name()}, source="127.0.0.4")
        self.assertError(r, 403, "class_full")
        r = self.pl.post("/api/join", {"name": joined[-1]["user"]["name"],
                                       "rejoin_code": joined[-1]["rejoin_code"]},
                         source="127.0.0.4")
        self.assertEqual(r.status, 201, r)
        teacher = self.pl.teacher()  # the teacher is no student
        # Removing a student frees the seat: names a script filled the
        # class with must not keep it full. The removed name stays refused.
        gone = joined.pop()
        r = self.pl.post("/api/class/students/%d/remove" % gone["user"]["id"], {"purge": True},
                         cookie=teacher)
        self.assertEqual(r.status, 200, r)
        r = self.pl.post("/api/join", {"name": unique_name()}, source="127.0.0.1")
        self.assertEqual(r.status, 201, r)
        r = self.pl.post("/api/join", {"name": unique_name()}, source="127.0.0.1")
        self.assertError(r, 403, "class_full")
        r = self.pl.post("/api/join", {"name": gone["user"]["name"],
                                       "rejoin_code": gone["rejoin_code"]}, source="127.0.0.1")
        self.assertError(r, 403, "removed")


class DefaultLocalNet(PortlabTestCase):
    """Without --local-net every loopback address is this machine."""

    def test_loopback_teacher_never_waits(self):
        for _ in range(FAILURES + 2):
            r = self.pl.post("/api/teacher/login", {"password": "wrong"}, source="127.0.0.2")
            self.assertError(r, 401, "unauthorized")
        r = self.pl.post("/api/teacher/login", {"password": self.pl.teacher_password},
                         source="127.0.0.2")
        self.assertEqual(r.status, 200, r)


class Ipv6Peer(PortlabTestCase):
    """An IPv6 peer is counted (by its /64) like any other address."""

    SHARED = False

    def test_ipv6_client_is_throttled(self):
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("::1", 0))
            except OSError:
                self.skipTest("no IPv6 loopback here")
        pl = self.portlab(["--local-net", "127.0.0.1"], host="::1")
        for _ in range(FAILURES):
            r = pl.post("/api/teacher/login", {"password": "wrong"})
            self.assertError(r, 401)
        r = pl.post("/api/teacher/login", {"password": pl.teacher_password})
        self.assertError(r, 429, "too_many_attempts")


class TrustProxy(PortlabTestCase):
    """Behind a proxy on this machine the client is the last X-Forwarded-For
    entry, never the proxy itself (which would be exempt)."""

    ARGS = ["--trust-proxy"]

    def test_forwarded_client_is_throttled(self):
        xff = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        for _ in range(FAILURES):
            r = self.pl.post("/api/teacher/login", {"password": "wrong"}, headers=xff)
            self.assertError(r, 401)
        r = self.pl.post("/api/teacher/login", {"password": self.pl.teacher_password},
                         headers=xff)
        self.assertError(r, 429, "too_many_attempts")
        # Another forwarded client, and the machine itself (no header), are fine.
        r = self.pl.post("/api/teacher/login", {"password": self.pl.teacher_password},
                         headers={"X-Forwarded-For": "203.0.113.10"})
        self.assertEqual(r.status, 200, r)
        r = self.pl.post("/api/teacher/login", {"password": self.pl.teacher_password})
        self.assertEqual(r.status, 200, r)

    def test_unreadable_forwarded_address_is_not_this_machine(self):
        # An entry that is no bare address ("host:port") counts under the
        # proxy's address, which must then not be exempt.
        xff = {"X-Forwarded-For": "198.51.100.7:4711"}
        for _ in range(FAILURES):
            r = self.pl.post("/api/teacher/login", {"password": "wrong"}, headers=xff)
            self.assertError(r, 401)
        r = self.pl.post("/api/teacher/login", {"password": self.pl.teacher_password},
                         headers=xff)
        self.assertError(r, 429, "too_many_attempts")


if __name__ == "__main__":
    main()
