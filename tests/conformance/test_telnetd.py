"""test_telnetd.py -- the built-in lab Telnet server against real clients.

A raw-socket client that answers option negotiation the way a telnet
program does logs in with a student's lab credentials from POST /api/join
and runs the simulated shell; Python's telnetlib (which refuses every
option, so the server must not echo) and curl's telnet:// do the same.
Hostile input follows: wrong passwords, an over-long line, NUL and bare LF
line ends, a flood of 100000 random negotiation commands and a
subnegotiation that never ends (1 MB without SE) -- each handled while a
second connection keeps being served and the server's memory stays
bounded. Finally a browser session through the relay (telnet mode) logs
in, and the transcript holds the negotiation bytes exactly.

Network rule: loopback only.
"""

import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import (PortlabTestCase, collect, open_session, send_json,  # noqa: E402
                     transcript_bytes, unique_name, wait_closed)

LOOPBACK = "127.0.0.1"
TELNET_WELL_KNOWN = 23
LINE_MAX = 256 - 2  # LIM_TELNET_LINE without its CR LF
IAC, DONT, DO, WONT, WILL, SB, SE, NOP = 255, 254, 253, 252, 251, 250, 240, 241
ECHO, SGA, TTYPE = 1, 3, 24
NEGOTIATION = bytes([IAC, WILL, ECHO, IAC, WILL, SGA, IAC, DO, SGA])


def strip_iac(raw):
    """The data bytes of a telnet stream (commands removed, IAC IAC undoubled)."""
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b != IAC:
            out.append(b)
            i += 1
            continue
        if i + 1 >= len(raw):
            break
        c = raw[i + 1]
        if c == IAC:
            out.append(IAC)
            i += 2
        elif c in (WILL, WONT, DO, DONT):
            i += 3
        elif c == SB:
            end = raw.find(bytes([IAC, SE]), i + 2)
            i = len(raw) if end < 0 else end + 2
        else:
            i += 2
    return bytes(out)


class Telnet:
    """A raw telnet client: agrees to the server's ECHO and SGA like a
    terminal program (agree=True) or refuses everything (agree=False),
    keeps every raw byte and the data bytes apart."""

    def __init__(self, port, agree=True, timeout=10.0, source=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((LOOPBACK, port))
        self.agree = agree
        self.raw = bytearray()
        self.data = bytearray()
        self.pos = 0  # data already returned by read_until
        self.sent = bytearray()
        self._pending = b""
        self.closed = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, b):
        self.sock.sendall(b)
        self.sent += b

    def _answer(self, verb, opt):
        if verb == WILL:
            ok = self.agree and opt in (ECHO, SGA)
            return bytes([IAC, DO if ok else DONT, opt])
        if verb == DO:
            ok = self.agree and opt == SGA
            return bytes([IAC, WILL if ok else WONT, opt])
        return b""

    def _parse(self, chunk):
        buf = self._pending + chunk
        self._pending = b""
        i = 0
        replies = b""
        while i < len(buf):
            b = buf[i]
            if b != IAC:
                self.data.append(b)
                i += 1
                continue
            if i + 1 >= len(buf):
                self._pending = buf[i:]
                break
            c = buf[i + 1]
            if c == IAC:
                self.data.append(IAC)
                i += 2
            elif c in (WILL, WONT, DO, DONT):
                if i + 2 >= len(buf):
                    self._pending = buf[i:]
                    break
                replies += self._answer(c, buf[i + 2])
                i += 3
            else:
                i += 2
        if replies:
            self.send(replies)

    def pump(self, timeout=0.2):
        """Reads what arrives within timeout. False once the server closed."""
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return True
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.raw += chunk
        self._parse(chunk)
        return True

    def read_until(self, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            idx = self.data.find(needle, self.pos)
            if idx >= 0:
                out = bytes(self.data[self.pos:idx + len(needle)])
                self.pos = idx + len(needle)
                return out
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise AssertionError("%r not received; have %r" % (needle, bytes(self.data[self.pos:])))
            self.pump(min(left, 0.5))

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.pump(0.5)
        return self.closed

    def rest(self):
        out = bytes(self.data[self.pos:])
        self.pos = len(self.data)
        return out


class TelnetLab(PortlabTestCase):
    @property
    def port(self):
        return self.pl.lab_base + TELNET_WELL_KNOWN

    def student(self):
        name = unique_name("t")
        r, tok = self.pl.join_full(name)
        self.assertEqual(r.status, 201, r)
        lab = r.json["lab"]
        self.assertEqual(lab["user"], name)
        return name, lab["password"], tok

    def client(self, **kw):
        t = Telnet(self.port, **kw)
        self.addCleanup(t.close)
        return t

    def login(self, user, password, agree=True):
        t = self.client(agree=agree)
        t.read_until(b"lab login: ")
        t.send(user.encode() + b"\r\n")
        t.read_until(b"Password: ")
        t.send(password.encode() + b"\r\n")
        t.read_until(b"%s@lab:~$ " % user.encode(), timeout=10)
        return t

    def shell(self, t, user, cmd):
        t.send(cmd + b"\r\n")
        return t.read_until(b"%s@lab:~$ " % user.encode())

    def assert_serving(self):
        """A second connection logs in and answers a command."""
        t = self.login("demo", "demo")
        out = self.shell(t, "demo", b"whoami")
        self.assertIn(b"\r\ndemo\r\n", out)
        t.close()

    # -- a normal session -------------------------------------------------------

    def test_negotiation_login_and_shell(self):
        user, password, _ = self.student()
        t = self.client()
        banner = t.read_until(b"lab login: ")
        self.assertTrue(bytes(t.raw).startswith(NEGOTIATION), bytes(t.raw[:20]))
        self.assertIn(b"clear text", banner)
        # The client's answers settle the negotiation: nothing more comes.
        self.assertEqual(bytes(t.sent), bytes([IAC, DO, ECHO, IAC, DO, SGA, IAC, WILL, SGA]))
        t.send(user.encode() + b"\r\n")
        out = t.read_until(b"Password: ")
        self.assertEqual(out, user.encode() + b"\r\nPassword: ", "the name is echoed by the server")
        t.send(password.encode() + b"\r\n")
        out = t.read_until(b"%s@lab:~$ " % user.encode())
        self.assertNotIn(password.encode(), out, "the password must not be echoed")
        self.assertNotIn(password.encode(), bytes(t.raw))

        out = self.shell(t, user, b"pwd")
        self.assertEqual(out, b"pwd\r\n/\r\n%s@lab:~$ " % user.encode())
        out = self.shell(t, user, b"ls")
        self.assertIn(b"notes  welcome.txt\r\n", out)
        out = self.shell(t, user, b"ls -l notes")
        self.assertRegex(out, rb"-rw-r--r-- 1 \S+ lab +\d+ [A-Z][a-z]{2} [ \d]\d \d\d:\d\d ftp-flag.txt\r\n")
        out = self.shell(t, user, b"cat /notes/ftp-flag.txt")
        self.assertRegex(out, rb"FLAG\{[0-9a-f]{24}\}\r\n")
        flag = out[out.index(b"FLAG{"):out.index(b"}") + 1]
        out = self.shell(t, user, b"whoami")
        self.assertIn(b"\r\n%s\r\n" % user.encode(), out)
        out = self.shell(t, user, b"uname -a")
        self.assertIn(b"Linux lab ", out)
        t.send(b"cd notes\r\n")
        t.read_until(b"%s@lab:~/notes$ " % user.encode())
        t.send(b"cat ../../../etc/passwd\r\n")
        out = t.read_until(b"%s@lab:~/notes$ " % user.encode())
        self.assertIn(b"Permission denied", out)
        self.assertNotIn(b"root:", out)
        t.send(b"rm -rf /\r\n")
        out = t.read_until(b"$ ")
        self.assertIn(b"rm: command not found", out)
        t.send(b"exit\r\n")
        self.assertIn(b"logout\r\n", t.read_until(b"logout\r\n"))
        self.assertTrue(t.wait_closed(), "exit must end the connection")

        # Another student sees another flag in the same place.
        other, pw2, _ = self.student()
        t2 = self.login(other, pw2)
        out = self.shell(t2, other, b"cat notes/ftp-flag.txt")
        self.assertIn(b"FLAG{", out)
        self.assertNotIn(flag, out)

    def test_client_that_refuses_echo(self):
        # A client that says DONT ECHO (or nothing, like nc) echoes for
        # itself: the server must not echo the name back.
        user, password, _ = self.student()
        t = self.client(agree=False)
        t.read_until(b"lab login: ")
        t.send(user.encode() + b"\r\n")
        self.assertEqual(t.read_until(b"Password: "), b"Password: ")
        t.send(password.encode() + b"\r\n")
        out = t.read_until(b"$ ")
        self.assertNotIn(password.encode(), out)
        t.send(b"whoami\r\n")
        self.assertEqual(t.read_until(b"$ "), b"%s\r\n%s@lab:~$ " % (user.encode(), user.encode()))

    def test_telnetlib(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import telnetlib
        user, password, _ = self.student()
        tn = telnetlib.Telnet(LOOPBACK, self.port, timeout=10)
        self.addCleanup(tn.close)
        tn.read_until(b"login: ", 5)
        tn.write(user.encode() + b"\n")
        tn.read_until(b"Password: ", 5)
        tn.write(password.encode() + b"\n")
        out = tn.read_until(b"$ ", 5)
        self.assertTrue(out.endswith(b"%s@lab:~$ " % user.encode()), out)
        tn.write(b"cat notes/ports.txt\n")
        out = tn.read_until(b"$ ", 5)
        self.assertIn(b"SMTP", out)
        tn.write(b"logout\n")
        self.assertIn(b"logout", tn.read_all())

    def test_curl_telnet(self):
        user, password, _ = self.student()
        script = ("%s\r\n%s\r\nwhoami\r\nhostname\r\nexit\r\n" % (user, password)).encode()
        p = subprocess.run(["curl", "-s", "--max-time", "10", "telnet://%s:%d" % (LOOPBACK, self.port)],
                           input=script, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        out = p.stdout
        self.assertIn(b"lab login: ", out)
        # curl sends the script as soon as it can read it, maybe before its
        # answer to the server's WILL ECHO: lines the server read before
        # that DO ECHO are not echoed, so an answer may follow the prompt.
        self.assertRegex(out, rb"(\r\n|@lab:~\$ )%s\r\n" % re.escape(user.encode()))
        self.assertRegex(out, rb"(\r\n|@lab:~\$ )lab\r\n")
        self.assertIn(b"logout", out)
        self.assertNotIn(password.encode(), out)

    # -- login failures -------------------------------------------------------------

    def test_three_wrong_passwords_close(self):
        user, password, _ = self.student()
        t = self.client()
        for i in range(3):
            t.read_until(b"lab login: ")
            t.send(user.encode() + b"\r\n")
            t.read_until(b"Password: ")
            t.send(b"wrong%d\r\n" % i)
            t.read_until(b"Login incorrect")
        self.assertTrue(t.wait_closed(), "the third failure must end the connection")
        self.assert_serving()

    # -- hostile input ------------------------------------------------------------------

    def test_overlong_line(self):
        t = self.client()
        t.read_until(b"lab login: ")
        t.send(b"x" * (LINE_MAX + 1))
        t.read_until(b"Line too long")
        self.assertTrue(t.wait_closed())
        # The edge itself is fine.
        t2 = self.login("demo", "demo")
        out = self.shell(t2, "demo", b"echo " + b"y" * (LINE_MAX - 5))
        self.assertIn(b"\r\n" + b"y" * (LINE_MAX - 5) + b"\r\n", out)
        self.assert_serving()

    def test_line_ends_nul_and_bare_lf(self):
        t = self.client(agree=False)
        t.read_until(b"lab login: ")
        t.send(b"demo\r\0demo\n")
        t.read_until(b"demo@lab:~$ ")
        t.send(b"pwd\n")
        self.assertEqual(t.read_until(b"$ "), b"/\r\ndemo@lab:~$ ")
        t.send(b"pw\0d\r\n")  # a NUL inside a line is dropped like any control byte
        self.assertEqual(t.read_until(b"$ "), b"/\r\ndemo@lab:~$ ")
        t.send(b"echo a\xff\xffb\r\n")  # IAC IAC is a data byte 255
        self.assertEqual(t.read_until(b"$ "), b"a\xffb\r\ndemo@lab:~$ ")
        self.assertIn(b"a\xff\xffb\r\n", bytes(t.raw))

    def test_iac_flood(self):
        rss_before = self.pl.rss_kb()
        t = self.client()
        t.read_until(b"lab login: ")
        rnd = random.Random(854)
        flood = bytearray()
        for _ in range(100000):
            flood += bytes([IAC, rnd.choice((WILL, WONT, DO, DONT)), rnd.randrange(256)])
        got = bytearray()
        stop = threading.Event()

        def drain():
            s = t.sock
            s.settimeout(0.5)
            while not stop.is_set():
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                got.extend(chunk)

        th = threading.Thread(target=drain, daemon=True)
        th.start()
        t.sock.sendall(bytes(flood))
        # Served meanwhile: a second connection logs in.
        self.assert_serving()
        time.sleep(0.5)
        stop.set()
        th.join(2)
        self.assertLessEqual(len(got), len(flood), "answers must stay bounded")
        # The flooded connection still works.
        t.sock.settimeout(10)
        t.pos = len(t.data)
        t.send(b"\r\ndemo\r\ndemo\r\n")
        t.read_until(b"demo@lab:~$ ", timeout=10)
        self.assertLess(self.pl.rss_kb() - rss_before, 32 * 1024)

    def test_endless_subnegotiation(self):
        rss_before = self.pl.rss_kb()
        t = self.client()
        t.read_until(b"lab login: ")
        t.send(bytes([IAC, SB, TTYPE]))
        chunk = b"A" * 65536
        for _ in range(16):  # 1 MiB, no SE
            t.sock.sendall(chunk)
        self.assert_serving()
        self.assertLess(self.pl.rss_kb() - rss_before, 32 * 1024)
        # The SE ends it; nothing of it reached the line.
        t.send(bytes([IAC, SE]) + b"demo\r\ndemo\r\n")
        out = t.read_until(b"demo@lab:~$ ", timeout=10)
        self.assertNotIn(b"AAAA", out)
        out = self.shell(t, "demo", b"whoami")
        self.assertIn(b"\r\ndemo\r\n", out)
        self.assertIn("subnegotiation longer than", self.pl_log())

    def pl_log(self):
        with open(self.pl.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    # -- through the relay ------------------------------------------------------------------

    def test_relay_session_transcript(self):
        user, password, tok = self.student()
        ws = self.ws(self.pl.ws_connect(tok))
        opened = open_session(ws, "lab", TELNET_WELL_KNOWN)
        sid = self.assertOpened(opened)
        self.assertEqual(opened.get("mode"), "telnet", opened)
        c = collect(ws, until=lambda c: b"lab login: " in c.data and c.of_type("echo"), timeout=5)
        self.assertEqual(c.of_type("echo"), [{"type": "echo", "local": False}], c.messages)
        browser = bytes(c.data)
        self.assertNotIn(bytes([IAC]), browser, "negotiation must not reach the browser")

        typed = b""
        for line, until in ((user.encode() + b"\r\n", b"Password: "),
                            (password.encode() + b"\r\n", b"$ "),
                            (b"whoami\r\n", b"$ ")):
            ws.send_binary(line)
            typed += line
            c = collect(ws, until=lambda c: until in c.data, timeout=5)
            self.assertIn(until, bytes(c.data))
            browser += bytes(c.data)
        self.assertIn(user.encode() + b"\r\nPassword: ", browser)
        self.assertNotIn(password.encode(), browser)
        self.assertIn(b"whoami\r\n%s\r\n" % user.encode(), browser)
        ws.send_binary(b"exit\r\n")
        typed += b"exit\r\n"
        c, closed = wait_closed(ws)
        browser += bytes(c.data)
        self.assertEqual(closed and closed.get("reason"), "remote_closed", c.messages)

        r = self.pl.transcript_when_ended(sid, tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["session"]["mode"], "telnet")
        ev = r.json["events"]
        s2c = transcript_bytes(ev, "s2c")
        c2s = transcript_bytes(ev, "c2s")
        self.assertTrue(s2c.startswith(NEGOTIATION), s2c[:20])
        self.assertEqual(strip_iac(s2c), browser, "the browser saw the server's data bytes")
        # The relay answered DO ECHO, DO SGA, WILL SGA, then sent what was typed.
        self.assertEqual(c2s, bytes([IAC, DO, ECHO, IAC, DO, SGA, IAC, WILL, SGA]) + typed)
        self.assertEqual(r.json["session"]["bytes_down"], len(s2c))
        self.assertEqual(r.json["session"]["bytes_up"], len(c2s))


if __name__ == "__main__":
    harness.main()
