"""test_api.py -- the REST API, cookies, Origin/Host checks and the WS handshake
(docs/api.md and docs/protocol.md)."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import websocket  # noqa: E402

import harness  # noqa: E402
from harness import (EchoServer, PortlabTestCase, find_role, open_session, send_json,  # noqa: E402
                     session_cookie, session_list, session_user, set_cookie_header,
                     unique_name, wait_closed)

TOKEN_RE = re.compile(r"^[0-9a-f]{32}$")


class HealthAndStatic(PortlabTestCase):
    def test_health(self):
        r = self.pl.get("/api/health")
        self.assertEqual(r.status, 200, r)
        self.assertIn("application/json", r.headers.get("Content-Type", ""))
        self.assertEqual(r.json.get("status"), "ok", r)
        self.assertIsInstance(r.json.get("version"), str, r)
        self.assertTrue(r.json["version"], r)

    def test_unknown_api_path(self):
        r = self.pl.get("/api/no-such-thing")
        self.assertEqual(r.status, 404, r)
        self.assertIn("error", r.json or {}, r)

    def test_index_page_is_served(self):
        r = self.pl.get("/")
        self.assertEqual(r.status, 200, r)
        self.assertIn("text/html", r.headers.get("Content-Type", ""))


class Join(PortlabTestCase):
    def test_join_returns_user_lab_rejoin_and_cookie(self):
        name = unique_name()
        r, token = self.pl.join_full(name)
        self.assertEqual(r.status, 201, r)
        j = r.json
        self.assertEqual(j["user"]["name"], name)
        self.assertEqual(j["user"]["role"], "student")
        self.assertIsInstance(j["user"]["id"], int)
        self.assertIn("user", j["lab"])
        self.assertIsInstance(j["lab"]["password"], str)
        self.assertTrue(j["lab"]["password"])
        self.assertIsInstance(j["rejoin_code"], str)
        self.assertTrue(j["rejoin_code"])
        self.assertIsNotNone(token, "no portlab_session cookie: %r" % r.headers)
        self.assertRegex(token, TOKEN_RE)
        sc = set_cookie_header(r).lower()
        self.assertIn("httponly", sc)
        self.assertIn("samesite=strict", sc)

    def test_cookies_are_distinct(self):
        a = self.pl.join()
        b = self.pl.join()
        self.assertNotEqual(a, b)

    def test_name_taken_and_rejoin(self):
        name = unique_name()
        r1, _ = self.pl.join_full(name)
        self.assertEqual(r1.status, 201, r1)
        r2, tok2 = self.pl.join_full(name)
        self.assertError(r2, 409, "name_taken")
        self.assertIsNone(tok2)
        r3, tok3 = self.pl.join_full(name, rejoin_code="wrong-code")
        self.assertError(r3, 409, "name_taken")
        r4, tok4 = self.pl.join_full(name, rejoin_code=r1.json["rejoin_code"])
        self.assertEqual(r4.status, 201, r4)
        self.assertEqual(r4.json["user"]["id"], r1.json["user"]["id"])
        self.assertEqual(r4.json["user"]["name"], name)
        self.assertRegex(tok4 or "", TOKEN_RE)
        me = self.pl.get("/api/me", cookie=tok4)
        self.assertEqual(me.status, 200, me)
        self.assertIn(name, me.body.decode())

    def test_valid_names(self):
        tag = unique_name("")  # 12 hex chars
        for name in ("Z", "A" * 20 + tag, "x.y-z_9" + tag, "-._" + tag):
            with self.subTest(name=name):
                r, tok = self.pl.join_full(name)
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json["user"]["name"], name)

    def test_invalid_names(self):
        for name in ("a" * 33, "has space", "", "caf\u00e9", "\u540d\u524d", "a/b", "a;b",
                     "name\n", "<script>"):
            with self.subTest(name=name):
                r, tok = self.pl.join_full(name)
                self.assertError(r, 400, "invalid_name")
                self.assertIsNone(tok)

    def test_reserved_names(self):
        # The names the FTP and mail labs give a meaning of their own, in
        # any case: a student holding one could never log in to FTP as
        # themselves or get mail sent to their name.
        for name in ("anonymous", "Anonymous", "ftp", "FTP", "postmaster", "POSTMASTER"):
            with self.subTest(name=name):
                r, tok = self.pl.join_full(name)
                self.assertError(r, 400, "reserved_name")
                self.assertIn("choose another name", r.json["error"]["message"])
                self.assertIsNone(tok)
        # The lab's own accounts are taken, as before.
        for name in ("demo", "Teacher"):
            with self.subTest(name=name):
                self.assertError(self.pl.join_full(name)[0], 409, "name_taken")
        tag = unique_name("")
        for name in ("anonymous" + tag, "ftp." + tag):
            with self.subTest(name=name):
                self.assertEqual(self.pl.join_full(name)[0].status, 201)

    def test_name_not_a_string(self):
        for body in ({"name": 123}, {"name": None}, {"name": ["x"]}, {}):
            with self.subTest(body=body):
                r = self.pl.post("/api/join", body)
                self.assertIn(r.status, (400,), r)
                self.assertIn(r.error_code, ("invalid_name", "bad_request"), r)

    def test_body_not_json(self):
        for raw in (b"this is not json", b"{\"name\":", b"[]", b"\"alice\"", b"\x00\xff\xfe"):
            with self.subTest(raw=raw):
                r = self.pl.post("/api/join", raw=raw)
                self.assertEqual(r.status, 400, r)
                self.assertIn(r.error_code, ("bad_request", "invalid_name"), r)
                if raw in (b"this is not json", b"{\"name\":", b"\x00\xff\xfe"):
                    self.assertEqual(r.error_code, "bad_request", r)

    def test_content_type_must_be_json(self):
        raw = b'{"name":"%s"}' % unique_name().encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
            with self.subTest(content_type=ctype):
                r = self.pl.post("/api/join", raw=raw, content_type=ctype)
                self.assertTrue(400 <= r.status < 500, r)
                self.assertIsInstance(r.json, dict, r)
                self.assertIn("error", r.json, r)
                self.assertIsNone(session_cookie(r))
                # The exact code the server uses: 415 unsupported_media_type.
                self.assertEqual((r.status, r.error_code), (415, "unsupported_media_type"), r)

    def test_content_type_with_charset_is_fine(self):
        r = self.pl.post("/api/join", {"name": unique_name()},
                         content_type="application/json; charset=utf-8")
        self.assertEqual(r.status, 201, r)

    def test_body_too_large(self):
        body = {"name": unique_name(), "pad": "x" * 9000}
        r = self.pl.post("/api/join", body)
        self.assertError(r, 413, "payload_too_large")

    def test_body_just_under_limit_is_read(self):
        # A body of (almost) 8192 bytes is accepted by the size check.
        name = unique_name()
        body = {"name": name, "pad": ""}
        base = len(harness.json.dumps(body).encode())
        body["pad"] = "x" * (8192 - base)
        self.assertEqual(len(harness.json.dumps(body).encode()), 8192)
        r = self.pl.post("/api/join", body)
        self.assertEqual(r.status, 201, r)


class PublicOrigin(PortlabTestCase):
    """Behind a reverse proxy: --public-origin names the browser's origin."""
    ARGS = ("--public-origin", "https://lab.school.example")

    def test_proxy_origin_and_host_accepted(self):
        hdrs = {"Host": "lab.school.example", "Origin": "https://lab.school.example"}
        r = self.pl.post("/api/join", {"name": unique_name()}, headers=hdrs)
        self.assertEqual(r.status, 201, r)
        tok = session_cookie(r)
        ws = self.ws(self.pl.ws_connect(tok, origin="https://lab.school.example",
                                        host="lab.school.example"))
        self.assertEqual(ws.getsubprotocol(), "portlab.v1")
        # The socket is live and authenticated: the policy answers it.
        self.assertWsError(open_session(ws, "lab", 9999), "target_denied")

    def test_other_origins_still_refused(self):
        for origin in ("https://evil.example", "https://lab.school.example.evil.example",
                       "https://lab.school.example:8443", "null"):
            with self.subTest(origin=origin):
                r = self.pl.post("/api/join", {"name": unique_name()},
                                 headers={"Host": "lab.school.example", "Origin": origin})
                self.assertError(r, 403, "bad_origin")
        r = self.pl.get("/api/health", headers={"Host": "other.school.example"})
        self.assertError(r, 403, "bad_host")

    def test_own_origin_still_works(self):
        r = self.pl.post("/api/join", {"name": unique_name()}, headers={"Origin": self.pl.origin})
        self.assertEqual(r.status, 201, r)


class Robustness(PortlabTestCase):
    """Hostile requests get an error and the portal keeps serving."""

    def assertAlive(self):
        self.assertEqual(self.pl.get("/api/health").status, 200)

    def test_deeply_nested_json(self):
        for raw in (b"[" * 4000 + b"]" * 4000, b'{"a":' * 1300 + b"1" + b"}" * 1300):
            with self.subTest(size=len(raw)):
                r = self.pl.post("/api/join", raw=raw)
                self.assertEqual(r.status, 400, r)
                self.assertAlive()

    def test_huge_header(self):
        r = None
        try:
            r = self.pl.get("/api/health", headers={"X-Filler": "a" * 40000})
        except (ConnectionError, harness.http.client.HTTPException):
            pass  # hanging up on it is fine too
        if r is not None:
            self.assertTrue(400 <= r.status < 500, r)
        self.assertAlive()

    def test_many_cookies_and_odd_cookie_syntax(self):
        tok = self.pl.join()
        for cookie in ("a=b; portlab_session=%s; c=d" % tok, "portlab_session=%s;" % tok,
                       "x=1;portlab_session=%s" % tok):
            with self.subTest(cookie=cookie):
                r = self.pl.get("/api/me", headers={"Cookie": cookie})
                self.assertEqual(r.status, 200, r)
        for cookie in ("portlab_session=", "portlab_session", ";;;;", "portlab_session=%s0" % tok,
                       "xportlab_session=%s" % tok):
            with self.subTest(cookie=cookie):
                r = self.pl.get("/api/me", headers={"Cookie": cookie})
                self.assertError(r, 401, "unauthorized")

    def test_keep_alive_connection(self):
        conn = harness.http.client.HTTPConnection(harness.LOOPBACK, self.pl.port, timeout=10)
        try:
            name = unique_name()
            body = harness.json.dumps({"name": name}).encode()
            conn.request("POST", "/api/join", body=body,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 201)
            tok = None
            for v in r.msg.get_all("Set-Cookie") or []:
                if v.startswith("portlab_session="):
                    tok = v.split(";")[0].split("=", 1)[1]
            for _ in range(3):
                conn.request("GET", "/api/me", headers={"Cookie": "portlab_session=" + tok})
                r = conn.getresponse()
                text = r.read().decode()
                self.assertEqual(r.status, 200, text)
                self.assertIn(name, text)
                conn.request("POST", "/api/join", body=b"not json",
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 400)
        finally:
            conn.close()

    def test_body_in_pieces(self):
        name = unique_name()
        body = harness.json.dumps({"name": name}).encode()
        head = ("POST /api/join HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n"
                "Connection: close\r\n\r\n" % (self.pl.port, len(body))).encode()
        c = harness.LineClient(self.pl.port, timeout=5)
        try:
            c.send(head + body[:5])
            harness.time.sleep(0.3)
            c.send(body[5:])
            resp = c.rest()
        finally:
            c.close()
        self.assertTrue(resp.startswith(b"HTTP/1.1 201"), resp[:200])
        self.assertIn(name.encode(), resp)

    def test_parallel_joins(self):
        import threading
        results = []

        def worker():
            for _ in range(5):
                r, tok = self.pl.join_full(unique_name())
                results.append((r.status, tok))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(len(results), 40)
        self.assertTrue(all(st == 201 for st, _ in results), results)
        self.assertEqual(len({tok for _, tok in results}), 40)

    def _raw(self, data):
        """Sends data on a fresh connection: what the server answered
        until it closed."""
        c = harness.LineClient(self.pl.port)
        try:
            c.send(data)
            return c.rest()
        finally:
            c.close()

    def test_content_length_must_be_one_number(self):
        # RFC 9110 section 8.6: a second or malformed Content-Length is a
        # framing error: 400, then the connection closes with the body
        # unread. Only the headers are sent, so no unread byte can turn
        # the close into a reset before the answer is read.
        head = ("POST /api/join HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                "Content-Type: application/json\r\n" % self.pl.port).encode()
        for lines in (b"Content-Length: 2\r\nContent-Length: 47\r\n",
                      b"Content-Length: 2\r\nContent-Length: 2\r\n",
                      b"Content-Length: 2, 47\r\n", b"Content-Length: -5\r\n",
                      b"Content-Length: abc\r\n", b"Content-Length: +2\r\n",
                      b"Content-Length: 99999999999999999999999999\r\n"):
            with self.subTest(lines=lines):
                resp = self._raw(head + lines + b"\r\n")
                self.assertTrue(resp.startswith(b"HTTP/1.1 400 "), resp[:200])
                self.assertIn(b'"bad_request"', resp)
                self.assertIn(b"Content-Length", resp)
                self.assertEqual(resp.count(b"HTTP/1.1 "), 1, resp)
        self.assertAlive()

    def test_empty_body_is_answered(self):
        # An empty body gets its answer, POST or PUT, and the connection
        # goes on to the next request.
        teacher = self.pl.teacher()
        for method, path, cookie, status in (("POST", "/api/join", "", 400),
                                             ("PUT", "/api/class", "", 401),
                                             ("PUT", "/api/class", teacher, 400)):
            with self.subTest(method=method, cookie=bool(cookie)):
                req = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "Content-Type: application/json\r\nContent-Length: 0\r\n"
                       "Cookie: portlab_session=%s\r\n\r\n"
                       "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       "Connection: close\r\n\r\n"
                       % (method, path, self.pl.port, cookie, self.pl.port)).encode()
                resp = self._raw(req)
                self.assertTrue(resp.startswith(b"HTTP/1.1 %d " % status), resp[:200])
                self.assertEqual(resp.count(b"HTTP/1.1 "), 2, resp)
                self.assertIn(b'"status":"ok"', resp)

    def test_nul_in_a_string_is_refused_not_cut(self):
        # cJSON would decode "\u0000" into the middle of a C string, and
        # "nul1\u0000<x>" would join as "nul1".
        name = unique_name()
        for body in ({"name": name + "\x00<script>"}, {"name": name, "rejoin_code": "a\x00b"},
                     {"name": name, "x": "\x00"}):
            with self.subTest(body=body):
                r = self.pl.post("/api/join", body)
                self.assertError(r, 400, "bad_request")
                self.assertIn("NUL", r.json["error"]["message"])
        r = self.pl.post("/api/join", raw=b'{"name":"%s","pad":"\x00"}' % name.encode())
        self.assertError(r, 400, "bad_request")
        # An escaped backslash before u0000 is no NUL: the name is checked.
        r = self.pl.post("/api/join", raw=b'{"name":"%s\\\\u0000"}' % name.encode())
        self.assertError(r, 400, "invalid_name")
        # None of that joined the name: it is still free.
        r, tok = self.pl.join_full(name)
        self.assertEqual(r.status, 201, r)

    def test_garbage_request(self):
        import socket
        s = socket.create_connection((harness.LOOPBACK, self.pl.port), timeout=5)
        try:
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 500 + b"\r\n\r\n")
            try:
                s.recv(4096)
            except OSError:
                pass
        finally:
            s.close()
        self.assertAlive()


class ClassCode(PortlabTestCase):
    ARGS = ("--class-code", "Blue-Whale-42")

    def test_class_code_required(self):
        r, tok = self.pl.join_full(unique_name())
        self.assertError(r, 403, "bad_class_code")
        self.assertIsNone(tok)

    def test_class_code_wrong(self):
        r, tok = self.pl.join_full(unique_name(), class_code="blue-whale-42")
        self.assertError(r, 403, "bad_class_code")
        r, tok = self.pl.join_full(unique_name(), class_code="Blue-Whale-42x")
        self.assertError(r, 403, "bad_class_code")

    def test_class_code_with_nul_is_refused(self):
        r, tok = self.pl.join_full(unique_name(), class_code="Blue-Whale-42\x00x")
        self.assertError(r, 400, "bad_request")
        self.assertIsNone(tok)

    def test_class_code_right(self):
        r, tok = self.pl.join_full(unique_name(), class_code="Blue-Whale-42")
        self.assertEqual(r.status, 201, r)
        self.assertRegex(tok or "", TOKEN_RE)


class TeacherAndMe(PortlabTestCase):
    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        return ["--allow", "127.0.0.1:%d" % cls.echo.port]

    def test_teacher_wrong_password(self):
        for pw in ("wrong", "", self.pl.teacher_password + "x", self.pl.teacher_password[:-1]):
            with self.subTest(pw=pw):
                r = self.pl.post("/api/teacher/login", {"password": pw})
                self.assertError(r, 401)
                self.assertIsNone(session_cookie(r))

    def test_teacher_password_with_nul_is_refused(self):
        r = self.pl.post("/api/teacher/login",
                         {"password": self.pl.teacher_password + "\x00anything"})
        self.assertError(r, 400, "bad_request")
        self.assertIsNone(session_cookie(r))

    def test_teacher_login(self):
        r = self.pl.post("/api/teacher/login", {"password": self.pl.teacher_password})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(find_role(r.json), "teacher", r)
        tok = session_cookie(r)
        self.assertRegex(tok or "", TOKEN_RE)
        me = self.pl.get("/api/me", cookie=tok)
        self.assertEqual(me.status, 200, me)
        self.assertEqual(find_role(me.json), "teacher", me)

    def test_me(self):
        name = unique_name()
        r, tok = self.pl.join_full(name)
        me = self.pl.get("/api/me", cookie=tok)
        self.assertEqual(me.status, 200, me)
        self.assertEqual(find_role(me.json), "student", me)
        text = me.body.decode()
        self.assertIn(name, text)
        self.assertIn(r.json["lab"]["password"], text)

    def test_me_unauthorized(self):
        r = self.pl.get("/api/me")
        self.assertError(r, 401, "unauthorized")
        for bogus in ("0" * 32, "f" * 32, "nothex", "a" * 31, "a" * 33 + "b"):
            with self.subTest(cookie=bogus):
                r = self.pl.get("/api/me", cookie=bogus)
                self.assertError(r, 401, "unauthorized")

    def test_targets(self):
        tok = self.pl.join()
        r = self.pl.get("/api/targets", cookie=tok)
        self.assertEqual(r.status, 200, r)
        self.assertIsNotNone(r.json, r)
        self.assertIn("127.0.0.1:%d" % self.echo.port, r.body.decode())
        self.assertError(self.pl.get("/api/targets"), 401, "unauthorized")

    def _session(self, cookie):
        ws = self.ws(self.pl.ws_connect(cookie))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        return sid

    def test_sessions_listing_and_teacher_filter(self):
        a_name, b_name = unique_name("a"), unique_name("b")
        _, a = self.pl.join_full(a_name)
        _, b = self.pl.join_full(b_name)
        sa = self._session(a)
        sb = self._session(b)

        ra = self.pl.get("/api/sessions", cookie=a)
        self.assertEqual(ra.status, 200, ra)
        for s in session_list(ra.json):
            for key in ("id", "user", "host", "port", "mode", "started_at", "ended_at",
                        "bytes_up", "bytes_down", "close_reason"):
                self.assertIn(key, s)
        ids_a = {s["id"] for s in session_list(ra.json)}
        self.assertIn(sa, ids_a)
        self.assertNotIn(sb, ids_a)

        t = self.pl.teacher()
        rt = self.pl.get("/api/sessions", cookie=t)
        self.assertEqual(rt.status, 200, rt)
        ids_t = {s["id"] for s in session_list(rt.json)}
        self.assertTrue({sa, sb} <= ids_t, (sa, sb, ids_t))

        rf = self.pl.get("/api/sessions?user=" + a_name, cookie=t)
        self.assertEqual(rf.status, 200, rf)
        items = session_list(rf.json)
        self.assertEqual({s["id"] for s in items}, {sa})
        for s in items:
            self.assertEqual(session_user(s), a_name, s)

        self.assertError(self.pl.get("/api/sessions"), 401, "unauthorized")

    def test_transcript_access(self):
        _, a = self.pl.join_full(unique_name("a"))
        _, b = self.pl.join_full(unique_name("b"))
        sid = self._session(a)
        self.assertEqual(self.pl.transcript_when_ended(sid, a).status, 200)
        r = self.pl.transcript(sid, b)
        self.assertError(r, 404, "not_found")
        r = self.pl.transcript(99999999, a)
        self.assertError(r, 404, "not_found")
        r = self.pl.transcript(sid, None)
        self.assertError(r, 401, "unauthorized")
        t = self.pl.teacher()
        r = self.pl.transcript(sid, t)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["session"]["id"], sid)


class OriginAndHost(PortlabTestCase):
    EVIL = "http://evil.example"

    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        return ["--allow", "127.0.0.1:%d" % cls.echo.port]

    def test_join_foreign_origin(self):
        r = self.pl.post("/api/join", {"name": unique_name()}, headers={"Origin": self.EVIL})
        self.assertError(r, 403, "bad_origin")
        self.assertIsNone(session_cookie(r))
        r = self.pl.post("/api/join", {"name": unique_name()},
                         headers={"Origin": "http://127.0.0.1:%d.evil.example" % self.pl.port})
        self.assertError(r, 403, "bad_origin")
        r = self.pl.post("/api/join", {"name": unique_name()}, headers={"Origin": "null"})
        self.assertError(r, 403, "bad_origin")

    def test_teacher_login_foreign_origin(self):
        r = self.pl.post("/api/teacher/login", {"password": self.pl.teacher_password},
                         headers={"Origin": self.EVIL})
        self.assertError(r, 403, "bad_origin")
        self.assertIsNone(session_cookie(r))

    def test_join_same_origin(self):
        r = self.pl.post("/api/join", {"name": unique_name()}, headers={"Origin": self.pl.origin})
        self.assertEqual(r.status, 201, r)

    def test_localhost_host_and_origin(self):
        host = "localhost:%d" % self.pl.port
        r = self.pl.post("/api/join", {"name": unique_name()},
                         headers={"Host": host, "Origin": "http://" + host})
        self.assertEqual(r.status, 201, r)

    def test_foreign_host_header(self):
        host = {"Host": "evil.example:%d" % self.pl.port}
        tok = self.pl.join()
        for method, path, body in (("GET", "/api/health", None), ("GET", "/api/me", None),
                                   ("GET", "/", None), ("GET", "/api/sessions", None),
                                   ("POST", "/api/join", {"name": unique_name()})):
            with self.subTest(path=path):
                r = self.pl.request(method, path, body=body, cookie=tok, headers=host)
                self.assertEqual(r.status, 403, r)
                if path.startswith("/api/"):
                    self.assertEqual(r.error_code, "bad_host", r)

    def test_lookalike_host_headers(self):
        p = self.pl.port
        for host in ("127.0.0.1.evil.example:%d" % p, "localhost.evil.example:%d" % p,
                     "evil.example", "127.0.0.1@evil.example:%d" % p):
            with self.subTest(host=host):
                r = self.pl.get("/api/health", headers={"Host": host})
                self.assertError(r, 403, "bad_host")
        for host in ("127.0.0.1:%d" % p, "localhost:%d" % p, "[::1]:%d" % p, "LOCALHOST:%d" % p):
            with self.subTest(host=host):
                r = self.pl.get("/api/health", headers={"Host": host})
                self.assertEqual(r.status, 200, r)

    def _ws_refused(self, **kw):
        try:
            ws = self.pl.ws_connect(**kw)
        except (websocket.WebSocketBadStatusException, websocket.WebSocketException,
                ConnectionError) as e:
            return e
        # The handshake completed: make sure it is at least unusable.
        self.ws(ws)
        self.fail("WebSocket upgrade was accepted with %r" % (kw,))

    def test_ws_foreign_origin_refused(self):
        tok = self.pl.join()
        self._ws_refused(cookie=tok, origin=self.EVIL)
        self._ws_refused(cookie=tok, origin="http://127.0.0.1:%d" % (self.pl.port + 1))

    def test_ws_without_cookie_refused(self):
        self._ws_refused(cookie=None)
        self._ws_refused(cookie="0123456789abcdef0123456789abcdef")

    def test_ws_foreign_host_refused(self):
        tok = self.pl.join()
        self._ws_refused(cookie=tok, host="evil.example:%d" % self.pl.port,
                         origin="http://evil.example:%d" % self.pl.port)

    def test_ws_same_origin_works(self):
        tok = self.pl.join()
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertEqual(ws.getsubprotocol(), "portlab.v1")
        self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        ws.send_binary(b"ping")
        c = harness.collect(ws, until=lambda c: c.data == b"ping", timeout=5)
        self.assertEqual(bytes(c.data), b"ping")


if __name__ == "__main__":
    harness.main()
