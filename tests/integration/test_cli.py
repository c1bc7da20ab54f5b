"""test_cli.py -- the command line and its environment twins (README.md,
"Command line"): bad values exit 2 with one line naming the flag."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (LOOPBACK, Portlab, PortlabTestCase, collect, free_port,  # noqa: E402
                     open_session, pick_lab_base, pick_pasv_range, run_binary, send_json,
                     transcript_bytes, unique_name, wait_closed)


class BadValues(PortlabTestCase):
    SHARED = False

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="portlab-cli-")
        lo, hi = pick_pasv_range()
        # Valid values for everything, so a flag that is wrongly accepted
        # cannot make the binary bind default ports or write ./portlab.db.
        self.base = {
            "--listen": "%s:%d" % (LOOPBACK, free_port()),
            "--db": os.path.join(self.tmp, "cli.db"),
            "--lab-port-base": str(pick_lab_base()),
            "--ftp-pasv-ports": "%d-%d" % (lo, hi),
            "--lab-tls-ports": "off",  # base + 443 ... 995 lie outside the block
        }

    def tearDown(self):
        harness.shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def run_with(self, override=None, extra=(), env=None):
        opts = dict(self.base)
        opts.update(override or {})
        args = []
        for k, v in opts.items():
            args += [k, v]
        args += list(extra)
        e = {"PORTLAB_TEACHER_PASSWORD": "x" * 12}
        e.update(env or {})
        return run_binary(args, env=e, timeout=5, cwd=self.tmp)

    def assertBadFlag(self, result, names):
        rc, out, err = result
        self.assertIsNotNone(rc, "the binary kept running with a bad value (stderr %r)" % err)
        self.assertEqual(rc, 2, "exit %r, stderr %r" % (rc, err))
        lines = [line for line in err.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, "expected one line on stderr, got %r" % err)
        low = lines[0].lower()
        self.assertTrue(any(n in low for n in names), "%r does not name %r" % (lines[0], names))

    def test_bad_values(self):
        cases = [
            ({"--listen": "nonsense"}, (), ["listen"]),
            ({"--listen": "127.0.0.1:99999"}, (), ["listen"]),
            ({"--listen": "127.0.0.1"}, (), ["listen"]),
            ({"--lab-port-base": "-1"}, (), ["lab-port-base"]),
            ({"--lab-port-base": "abc"}, (), ["lab-port-base"]),
            ({"--lab-port-base": "65500"}, (), ["lab-port-base"]),
            ({"--ftp-pasv-ports": "200-100"}, (), ["ftp-pasv-ports"]),
            ({"--ftp-pasv-ports": "x"}, (), ["ftp-pasv-ports"]),
            ({"--lab-bind": "not-an-address"}, (), ["lab-bind"]),
            ({}, ("--allow", "10.0.0.0/33"), ["allow"]),
            ({}, ("--allow", "127.0.0.1:0"), ["allow"]),
            ({}, ("--allow", "127.0.0.1:70000"), ["allow"]),
            ({}, ("--allow", "127.0.0.1:25-21"), ["allow"]),
            ({}, ("--log-level", "loud"), ["log-level"]),
            ({}, ("--connect-timeout", "abc"), ["connect-timeout"]),
            ({}, ("--idle-timeout", "-5"), ["idle-timeout"]),
            ({}, ("--session-timeout", "1x"), ["session-timeout"]),
            ({}, ("--user-sessions", "many"), ["user-sessions"]),
            ({}, ("--bogus-flag",), ["bogus-flag"]),
            ({}, ("--bogus-flag", "1"), ["bogus-flag"]),
            ({}, ("stray-argument",), ["stray-argument"]),
            ({}, ("--log-level",), ["log-level"]),
            ({}, ("--lab-public-host", "lab.school.example"), ["lab-public-host"]),
            ({}, ("--lab-public-host", "2001:db8::1"), ["lab-public-host"]),
            ({}, ("--lab-public-host", "192.0.2.256"), ["lab-public-host"]),
        ]
        for override, extra, names in cases:
            with self.subTest(override=override, extra=extra):
                self.assertBadFlag(self.run_with(override, extra), names)

    def test_bad_env_values(self):
        cases = [
            ({"PORTLAB_LOG_LEVEL": "loud"}, ["log-level", "log_level"]),
            ({"PORTLAB_IDLE_TIMEOUT": "soon"}, ["idle-timeout", "idle_timeout"]),
            ({"PORTLAB_ALLOW": "10.0.0.0/33"}, ["allow"]),
            ({"PORTLAB_LAB_PUBLIC_HOST": "lab.example"}, ["lab-public-host", "lab_public_host"]),
            ({"PORTLAB_TEACHER_PASSWORD_FILE": "/nonexistent/secret"},
             ["teacher-password-file", "teacher_password_file"]),
        ]
        for env, names in cases:
            with self.subTest(env=env):
                self.assertBadFlag(self.run_with(env=env), names)

    def test_help(self):
        rc, out, err = run_binary(["--help"], timeout=5, cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertIn("--allow", out)
        self.assertIn("--listen", out)

    def test_version(self):
        rc, out, err = run_binary(["--version"], timeout=5, cwd=self.tmp)
        self.assertEqual(rc, 0, err)
        self.assertTrue(out.strip(), "no version printed")
        pl = self.portlab()
        v = pl.get("/api/health").json["version"]
        self.assertIn(v, out)

    def test_unusable_db_path_fails(self):
        rc, out, err = self.run_with({"--db": "/nonexistent-dir/sub/x.db"})
        self.assertIsNotNone(rc, "kept running with an unusable --db")
        self.assertNotEqual(rc, 0)
        self.assertTrue(err.strip())


class EnvironmentTwins(PortlabTestCase):
    SHARED = False

    def test_listen_from_environment(self):
        pl = Portlab(listen=False)
        pl.extra_env["PORTLAB_LISTEN"] = "%s:%d" % (LOOPBACK, pl.port)
        self._instances.append(pl)
        pl.start()
        self.assertEqual(pl.get("/api/health").status, 200)

    def test_flag_wins_over_environment(self):
        other = free_port()
        pl = self.portlab(env={"PORTLAB_LISTEN": "%s:%d" % (LOOPBACK, other)})
        self.assertEqual(pl.get("/api/health").status, 200)
        self.assertTrue(harness.port_bindable(other), "also listening on the environment's port")

    def test_class_code_from_environment(self):
        pl = self.portlab(env={"PORTLAB_CLASS_CODE": "envcode"})
        r, _ = pl.join_full(unique_name())
        self.assertError(r, 403, "bad_class_code")
        r, _ = pl.join_full(unique_name(), class_code="envcode")
        self.assertEqual(r.status, 201, r)

    def test_listen_on_ipv6_loopback(self):
        pl = self.portlab(host="::1")
        self.assertEqual(pl.get("/api/health").status, 200)
        tok = pl.join()
        ws = self.ws(pl.ws_connect(tok))
        self.assertWsError(open_session(ws, "lab", 9999), "target_denied")

    def test_teacher_password_file(self):
        tmp = tempfile.mkdtemp(prefix="portlab-pw-")
        path = os.path.join(tmp, "pw")
        with open(path, "w") as f:
            f.write("file-password-123")
        try:
            pl = self.portlab(["--teacher-password-file", path])
            r = pl.post("/api/teacher/login", {"password": "file-password-123"})
            self.assertEqual(r.status, 200, r)
            r = pl.post("/api/teacher/login", {"password": pl.teacher_password})
            self.assertEqual(r.status, 401, "the file must win over PORTLAB_TEACHER_PASSWORD")
        finally:
            harness.shutil.rmtree(tmp, ignore_errors=True)

    def test_generated_teacher_password_shown_once(self):
        pl = Portlab()
        self._instances.append(pl)
        base_env = pl.environment

        def no_password_env():
            env = base_env()
            env.pop("PORTLAB_TEACHER_PASSWORD", None)
            return env

        pl.environment = no_password_env
        pl.start()
        with open(pl.stdout_path) as f:
            out = f.read()
        with open(pl.stderr_path) as f:
            out += f.read()
        lines = [line for line in out.splitlines() if "password" in line.lower()]
        self.assertEqual(len(lines), 1, "the generated password must be printed once: %r" % out)
        password = lines[0].split()[-1]
        r = pl.post("/api/teacher/login", {"password": password})
        self.assertEqual(r.status, 200, (r, lines))
        self.assertEqual(pl.stop(), 0)
        pl.start()
        with open(pl.stdout_path) as f:
            out2 = f.read()
        with open(pl.stderr_path) as f:
            out2 += f.read()
        self.assertNotIn(password, out2, "the password was shown again")
        self.assertEqual(pl.post("/api/teacher/login", {"password": password}).status, 200)

    def test_teacher_password_from_environment_can_change(self):
        pl = self.portlab(teacher_password="first-password-1")
        self.assertEqual(pl.post("/api/teacher/login", {"password": "first-password-1"}).status,
                         200)
        self.assertEqual(pl.stop(), 0)
        pl.teacher_password = "second-password-2"
        pl.start()
        self.assertEqual(pl.post("/api/teacher/login", {"password": "second-password-2"}).status,
                         200)
        self.assertEqual(pl.post("/api/teacher/login", {"password": "first-password-1"}).status,
                         401)

    def test_allow_list_from_environment(self):
        e1, e2, e3 = self.echo_server(), self.echo_server(), self.echo_server()
        env = {"PORTLAB_ALLOW": "127.0.0.1:%d 127.0.0.1:%d" % (e1.port, e2.port)}
        pl = self.portlab(env=env)
        tok = pl.join()
        for port, want in ((e1.port, "opened"), (e2.port, "opened"), (e3.port, "error")):
            ws = self.ws(pl.ws_connect(tok))
            msg = open_session(ws, "127.0.0.1", port)
            self.assertEqual(msg.get("type"), want, msg)
            send_json(ws, {"type": "close"})
            wait_closed(ws)
        # A --allow flag replaces the environment's list.
        pl2 = self.portlab(["--allow", "127.0.0.1:%d" % e3.port], env=env)
        tok = pl2.join()
        expect = {e1.port: "error", e2.port: "error", e3.port: "opened"}
        for port, want in expect.items():
            ws = self.ws(pl2.ws_connect(tok))
            msg = open_session(ws, "127.0.0.1", port)
            self.assertEqual(msg.get("type"), want, msg)
            send_json(ws, {"type": "close"})
            wait_closed(ws)

    def test_no_record(self):
        echo = self.echo_server()
        pl = self.portlab(["--no-record", "--allow", "127.0.0.1:%d" % echo.port])
        tok = pl.join()
        ws = self.ws(pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", echo.port))
        ws.send_binary(b"secret stuff\r\n")
        c = collect(ws, until=lambda c: len(c.data) >= 14, timeout=5)
        self.assertEqual(bytes(c.data), b"secret stuff\r\n")
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        r = pl.transcript_when_ended(sid, tok, timeout=1)
        if r.status == 200:
            self.assertEqual(transcript_bytes(r.json["events"], "c2s"), b"")
            self.assertEqual(transcript_bytes(r.json["events"], "s2c"), b"")
        else:
            self.assertEqual(r.status, 404, r)


class Container(PortlabTestCase):
    """What the image and compose.yaml rely on: a secret file named in the
    environment, empty variables read as unset, --lab-public-host, the
    banner's last lines, `portlab health` and `portlab backup`."""

    SHARED = False

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="portlab-ctr-")

    def tearDown(self):
        harness.shutil.rmtree(self.tmp, ignore_errors=True)
        super().tearDown()

    def test_password_file_from_environment(self):
        path = os.path.join(self.tmp, "teacher_password")
        with open(path, "w") as f:
            f.write("docker-secret-pw\n")
        pl = self.portlab(env={"PORTLAB_TEACHER_PASSWORD_FILE": path})
        self.assertEqual(pl.post("/api/teacher/login", {"password": "docker-secret-pw"}).status,
                         200)
        self.assertEqual(pl.post("/api/teacher/login", {"password": pl.teacher_password}).status,
                         401, "the secret file must win over PORTLAB_TEACHER_PASSWORD")

    def test_empty_variables_are_unset(self):
        # compose.yaml passes ${CLASS_CODE:-} through: empty means no code.
        pl = self.portlab(env={"PORTLAB_CLASS_CODE": "", "PORTLAB_LAB_PUBLIC_HOST": "",
                               "PORTLAB_ALLOW": "", "PORTLAB_LISTEN": ""})
        r, _ = pl.join_full(unique_name())
        self.assertEqual(r.status, 201, r)

    def ftp_pasv_direct(self, pl):
        c = harness.LineClient(pl.lab_base + 21)
        try:
            self.assertTrue(c.line().startswith(b"220"))
            for cmd, want in ((b"USER anonymous", b"331"), (b"PASS x", b"230"), (b"PASV", b"227")):
                c.send(cmd + b"\r\n")
                line = c.line()
                self.assertTrue(line.startswith(want), (cmd, line))
            return line
        finally:
            c.close()

    def ftp_pasv_relayed(self, pl):
        ws = self.ws(pl.ws_connect(pl.join()))
        self.assertOpened(open_session(ws, "lab", 21))
        out = b""
        for cmd, want in ((None, b"220"), (b"USER anonymous", b"331"), (b"PASS x", b"230"),
                          (b"PASV", b"227")):
            if cmd:
                ws.send_binary(cmd + b"\r\n")
            c = collect(ws, until=lambda c: b"\n" + want in b"\n" + bytes(c.data), timeout=10)
            out = bytes(c.data)
            self.assertIn(want, out, cmd)
        return out

    def test_lab_public_host_named_to_direct_clients_only(self):
        pl = self.portlab(["--lab-public-host", "192.0.2.7"])
        self.assertIn(b"(192,0,2,7,", self.ftp_pasv_direct(pl))
        # Through the relay PASV still names the lab address: the student's
        # second session goes to lab:PORT from this host.
        self.assertIn(b"(127,0,0,1,", self.ftp_pasv_relayed(pl))
        self.assertEqual(pl.stop(), 0)
        pl2 = self.portlab(env={"PORTLAB_LAB_PUBLIC_HOST": "198.51.100.9"})
        self.assertIn(b"(198,51,100,9,", self.ftp_pasv_direct(pl2))
        self.assertEqual(pl2.stop(), 0)
        pl3 = self.portlab()
        self.assertIn(b"(127,0,0,1,", self.ftp_pasv_direct(pl3))

    def banner_lines(self, pl):
        with open(pl.stdout_path) as f:
            return [line for line in f.read().splitlines() if line.strip()]

    def test_banner_ends_with_url_then_generated_password(self):
        pl = Portlab()
        self._instances.append(pl)
        base_env = pl.environment
        pl.environment = lambda: {k: v for k, v in base_env().items()
                                  if k != "PORTLAB_TEACHER_PASSWORD"}
        pl.start()
        lines = self.banner_lines(pl)
        self.assertIn("open:", lines[-2])
        self.assertIn("http://%s:%d/" % (LOOPBACK, pl.port), lines[-2])
        self.assertIn("teacher password", lines[-1])
        password = lines[-1].split()[-1]
        self.assertEqual(pl.post("/api/teacher/login", {"password": password}).status, 200)
        self.assertEqual(pl.stop(), 0)
        pl.start()  # not generated again: the URL is the last line
        lines = self.banner_lines(pl)
        self.assertIn("open:", lines[-1])
        self.assertNotIn(password, "\n".join(lines))

    def test_health_subcommand(self):
        pl = self.portlab()
        rc, out, err = run_binary(["health", "--listen", "%s:%d" % (LOOPBACK, pl.port)])
        self.assertEqual(rc, 0, err)
        rc, out, err = run_binary(["health"],
                                  env={"PORTLAB_LISTEN": "%s:%d" % (LOOPBACK, pl.port)})
        self.assertEqual(rc, 0, err)
        rc, out, err = run_binary(["health", "--listen", "%s:%d" % (LOOPBACK, free_port())])
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("health", err)
        rc, out, err = run_binary(["health", "--listen", "nonsense"])
        self.assertEqual(rc, 2, err)

    def test_backup_while_running_and_restore(self):
        echo = self.echo_server()
        pl = self.portlab(["--allow", "127.0.0.1:%d" % echo.port])
        tok = pl.join()
        ws = self.ws(pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", echo.port))
        ws.send_binary(b"kept in the backup\r\n")
        collect(ws, until=lambda c: len(c.data) >= 20, timeout=5)
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        self.assertEqual(pl.transcript_when_ended(sid, tok).status, 200)
        out_path = os.path.join(self.tmp, "backup.db")
        with open(out_path, "w") as f:
            f.write("an older backup, replaced whole")
        # While the server runs and holds the database open (WAL).
        rc, out, err = run_binary(["backup", out_path, "--db", pl.db], timeout=20)
        self.assertEqual(rc, 0, err)
        self.assertTrue(pl.alive())
        self.assertFalse(os.path.exists(out_path + ".part"))
        self.assertFalse(os.path.exists(out_path + "-wal"), "the copy must be one file")
        # The environment twin names the database too.
        rc2, _, err2 = run_binary(["backup", out_path + "2"], env={"PORTLAB_DB": pl.db},
                                  timeout=20)
        self.assertEqual(rc2, 0, err2)
        # Restore: a server started on the copy has the session and transcript.
        restored = self.portlab(db=out_path)
        r = restored.transcript_when_ended(sid, restored.teacher())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(transcript_bytes(r.json["events"], "c2s"), b"kept in the backup\r\n")

    def test_backup_errors(self):
        rc, out, err = run_binary(["backup"])
        self.assertEqual(rc, 2, err)
        self.assertIn("usage", err)
        rc, out, err = run_binary(["backup", "--db", "x.db"])
        self.assertEqual(rc, 2, err)
        target = os.path.join(self.tmp, "b.db")
        rc, out, err = run_binary(["backup", target, "--db", os.path.join(self.tmp, "none.db")])
        self.assertEqual(rc, 1, err)
        self.assertFalse(os.path.exists(target))
        junk = os.path.join(self.tmp, "junk.db")
        with open(junk, "w") as f:
            f.write("not a database at all, but long enough to have a header" * 20)
        rc, out, err = run_binary(["backup", target, "--db", junk])
        self.assertEqual(rc, 1, err)
        self.assertFalse(os.path.exists(target))
        self.assertEqual(len([line for line in err.splitlines() if line.strip()]), 1, err)
        # Never over the database itself (a rename would replace it).
        pl = self.portlab()
        size = os.path.getsize(pl.db)
        rc, out, err = run_binary(["backup", pl.db, "--db", pl.db])
        self.assertEqual(rc, 1, err)
        self.assertIn("itself", err)
        self.assertEqual(os.path.getsize(pl.db), size)
        self.assertEqual(pl.get("/api/health").status, 200)


if __name__ == "__main__":
    harness.main()
