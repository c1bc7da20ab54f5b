"""test_policy.py -- the relay target policy (docs/architecture.md, "Target policy").

Every denial here must come from the policy: no --allow rule in this file
opens a non-loopback address except this machine's own interface address
(ThisHost*), so nothing but this host is ever contacted.
"""

import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (EchoServer, PortlabTestCase, collect, open_session, send_json,  # noqa: E402
                     wait_closed,
                     wait_ws_end)


class PolicyBase(PortlabTestCase):
    def try_open(self, host, port, cookie=None, mode=None):
        """Opens on a fresh WebSocket; returns (first message, seconds)."""
        cookie = cookie or self.cookie
        ws = self.ws(self.pl.ws_connect(cookie))
        t0 = time.monotonic()
        msg = open_session(ws, host, port, mode)
        return msg, time.monotonic() - t0

    def assertDenied(self, host, port, mentions=None, cookie=None, quick=True):
        msg, secs = self.try_open(host, port, cookie)
        self.assertWsError(msg, "target_denied")
        if mentions is not None:
            options = mentions if isinstance(mentions, (list, tuple)) else [mentions]
            self.assertTrue(any(m.lower() in msg["message"].lower() for m in options),
                            "denial reason %r does not mention %r" % (msg["message"], options))
        if quick:
            self.assertLess(secs, 2.0, "denial took %.1fs (did it resolve or connect?)" % secs)
        return msg


class DefaultPolicy(PolicyBase):
    """No --allow at all."""

    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        return []

    def setUp(self):
        super().setUp()
        self.cookie = self.pl.join()

    def test_special_ranges_denied(self):
        e = self.echo.port
        cases = [
            ("0.0.0.1", 25, "0.0.0.1"),
            ("127.0.0.1", e, "127.0.0.1"),
            ("10.0.0.1", 25, "10.0.0.1"),
            ("172.16.0.1", 25, "172.16.0.1"),
            ("172.31.255.254", 25, "172.31.255.254"),
            ("192.168.1.1", 25, "192.168.1.1"),
            ("100.64.0.1", 25, "100.64.0.1"),
            ("169.254.169.254", 80, "169.254.169.254"),
            ("224.0.0.1", 25, "224.0.0.1"),
            ("240.0.0.1", 25, "240.0.0.1"),
            ("255.255.255.255", 25, "255.255.255.255"),
            ("::1", e, "::1"),
            ("[::1]", e, "::1"),
            ("::", 25, "::"),
            ("fe80::1", 25, "fe80::1"),
            ("fc00::1", 25, "fc00::1"),
            ("fd12:3456::1", 25, "fd12:3456::1"),
            ("::ffff:127.0.0.1", e, ("::ffff:127.0.0.1", "127.0.0.1")),
            ("::ffff:10.0.0.1", 25, ("::ffff:10.0.0.1", "10.0.0.1")),
            ("[::ffff:192.168.0.1]", 25, ("::ffff:192.168.0.1", "192.168.0.1")),
        ]
        for host, port, mention in cases:
            with self.subTest(host=host):
                self.assertDenied(host, port, mention)
        time.sleep(0.2)
        with self.echo.lock:
            self.assertEqual(len(self.echo.conns), 0, "a denied target was connected to")

    def test_public_addresses_need_an_allow_rule(self):
        for host in ("192.0.2.1", "203.0.113.5", "2001:db8::1", "198.51.100.7"):
            with self.subTest(host=host):
                self.assertDenied(host, 25, host)

    def test_hostname_not_on_allow_list(self):
        for host in ("example.invalid", "localhost", "lab.example.invalid", "LAB.invalid"):
            with self.subTest(host=host):
                self.assertDenied(host, 25)

    def test_lab_ports(self):
        self.assertDenied("lab", 9999)
        self.assertDenied("lab", 24)
        for port in (21, 22, 23, 25, 43, 53, 79, 80, 110, 143):
            with self.subTest(port=port):
                ws = self.ws(self.pl.ws_connect(self.cookie))
                self.assertOpened(open_session(ws, "lab", port))
                send_json(ws, {"type": "close"})
                _, closed = wait_closed(ws)
                self.assertIsNotNone(closed)

    def test_lab_pasv_port_is_not_denied(self):
        lo, _ = self.pl.pasv
        msg, _ = self.try_open("lab", lo)
        # Nothing listens there now: connect_failed (or opened), but the policy allows it.
        self.assertNotEqual(msg.get("code"), "target_denied", msg)

    def test_lab_real_port_by_address_is_denied(self):
        self.assertDenied("127.0.0.1", self.pl.lab_base + 25, "127.0.0.1")

    def test_portal_port_denied(self):
        self.assertDenied("127.0.0.1", self.pl.port)
        self.assertDenied("lab", self.pl.port)

    def test_denial_closes_websocket(self):
        ws = self.ws(self.pl.ws_connect(self.cookie))
        self.assertWsError(open_session(ws, "10.0.0.1", 25), "target_denied")
        end = wait_ws_end(ws, 3)
        self.assertTrue(end.close_code is not None or end.eof, end.messages)

    def test_denials_are_logged(self):
        self.assertDenied("10.9.8.7", 25)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if "10.9.8.7" in self.pl.logs(tail=10000):
                return
            time.sleep(0.1)
        self.fail("the denial of 10.9.8.7 was not logged")


class AllowLoopbackAllPorts(PolicyBase):
    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        return ["--allow", "127.0.0.1"]

    def setUp(self):
        super().setUp()
        self.cookie = self.pl.join()

    def test_allowed_port_opens(self):
        msg, _ = self.try_open("127.0.0.1", self.echo.port)
        self.assertOpened(msg)

    def test_portal_own_port_denied(self):
        self.assertDenied("127.0.0.1", self.pl.port)
        self.assertDenied("::ffff:127.0.0.1", self.pl.port)

    def test_other_loopback_addresses_still_denied(self):
        self.assertDenied("::1", self.echo.port, "::1")
        self.assertDenied("10.0.0.1", 25, "10.0.0.1")


class AllowOnePort(PolicyBase):
    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        return ["--allow", "127.0.0.1:%d" % cls.echo.port]

    def setUp(self):
        super().setUp()
        self.cookie = self.pl.join()

    def test_rule_opens_only_its_port(self):
        msg, _ = self.try_open("127.0.0.1", self.echo.port)
        self.assertOpened(msg)
        self.assertDenied("127.0.0.1", self.echo.port + 1, "127.0.0.1")
        self.assertDenied("127.0.0.1", self.echo.port - 1, "127.0.0.1")
        self.assertDenied("127.0.0.2", self.echo.port, "127.0.0.2")


class AllowIpv6Loopback(PolicyBase):
    @classmethod
    def class_args(cls):
        cls.echo6 = cls.class_server(EchoServer(host="::1"))
        return ["--allow", "[::1]:%d" % cls.echo6.port]

    def setUp(self):
        super().setUp()
        self.cookie = self.pl.join()

    def test_bracketed_ipv6_rule(self):
        for host in ("::1", "[::1]"):
            with self.subTest(host=host):
                ws = self.ws(self.pl.ws_connect(self.cookie))
                self.assertOpened(open_session(ws, host, self.echo6.port))
                ws.send_binary(b"six")
                c = collect(ws, until=lambda c: c.data == b"six", timeout=5)
                self.assertEqual(bytes(c.data), b"six")
                send_json(ws, {"type": "close"})
                wait_closed(ws)
        self.assertDenied("::1", self.echo6.port + 1, "::1")
        self.assertDenied("127.0.0.1", self.echo6.port, "127.0.0.1")


class AllowIpv6LoopbackAllPorts(PolicyBase):
    @classmethod
    def class_args(cls):
        cls.echo6 = cls.class_server(EchoServer(host="::1"))
        return ["--allow", "::1"]

    def setUp(self):
        super().setUp()
        self.cookie = self.pl.join()

    def test_unbracketed_rule_opens_all_ports_but_the_portal(self):
        msg, _ = self.try_open("::1", self.echo6.port)
        self.assertOpened(msg)
        self.assertDenied("::1", self.pl.port)
        self.assertDenied("[::1]", self.pl.port)


class HostnameRuleNeverOpensLoopback(PolicyBase):
    @classmethod
    def class_args(cls):
        cls.echo = cls.class_server(EchoServer())
        return ["--allow", "localhost:%d" % cls.echo.port]

    def setUp(self):
        super().setUp()
        self.cookie = self.pl.join()

    def test_localhost_rule_denied(self):
        msg, secs = self.try_open("localhost", self.echo.port)
        self.assertWsError(msg, "target_denied")
        self.assertIn("loopback", msg["message"].lower(), msg)
        self.assertLess(secs, 5)
        time.sleep(0.2)
        with self.echo.lock:
            self.assertEqual(len(self.echo.conns), 0, "a hostname rule reached loopback")

    def test_other_hostname_denied(self):
        self.assertDenied("example.invalid", self.echo.port)


def own_address():
    """A non-loopback IPv4 address of this machine, or None."""
    try:
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for addr in re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out):
        if not addr.startswith("127."):
            return addr
    return None


OWN = own_address()


def ftp_say(ws, line, until, timeout=10.0):
    if line:
        ws.send_binary(line + b"\r\n")
    c = collect(ws, until=lambda c: until(bytes(c.data)), timeout=timeout)
    return bytes(c.data)


def pasv_port(reply):
    m = re.search(rb"\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)", reply)
    assert m, reply
    return int(m.group(5)) * 256 + int(m.group(6))


@unittest.skipUnless(OWN, "this machine has no non-loopback IPv4 address")
class ThisHostBroadRule(PolicyBase):
    """The lab on every address and a broad rule: this host's own interface
    address is still this host, refused like loopback (issue 7, item 4)."""

    @classmethod
    def class_args(cls):
        return ["--lab-bind", "0.0.0.0", "--allow", "0.0.0.0/0:1-65535"]

    def setUp(self):
        super().setUp()
        self.cookie = self.pl.join()

    def test_own_address_is_refused(self):
        for port in (self.pl.lab_base + 21, self.pl.lab_base + 25, self.pl.pasv[0], 22):
            with self.subTest(port=port):
                self.assertDenied(OWN, port, "address of this host")
        self.assertDenied("::ffff:" + OWN, self.pl.lab_base + 21, "address of this host")
        self.assertDenied(OWN, self.pl.port, "portal")

    def test_lab_is_still_open(self):
        ws = self.ws(self.pl.ws_connect(self.cookie))
        self.assertOpened(open_session(ws, "lab", 21))


class NamedLabAddress:
    """The lab reached through an address of this host that a rule names
    (ADDR): its ports there are the lab, so an FTP data port reached
    through that address serves only the student who sent PASV."""

    ADDR = None

    def login(self):
        r, tok = self.pl.join_full(harness.unique_name("h"))
        self.assertEqual(r.status, 201, r)
        lab = r.json["lab"]
        ws = self.ws(self.pl.ws_connect(tok))
        self.assertOpened(open_session(ws, self.ADDR, self.pl.lab_base + 21))
        ftp_say(ws, b"", lambda d: b"220 " in d)
        ftp_say(ws, b"USER " + lab["user"].encode(), lambda d: b"331 " in d)
        ftp_say(ws, b"PASS " + lab["password"].encode(), lambda d: b"230 " in d)
        return tok, ws

    def test_data_port_serves_only_its_student(self):
        a_tok, a_ctl = self.login()
        b_tok, _ = self.login()
        port = pasv_port(ftp_say(a_ctl, b"PASV", lambda d: b"227 " in d))
        # Student B dials A's data port through that address first.
        b_data = self.ws(self.pl.ws_connect(b_tok))
        self.assertOpened(open_session(b_data, self.ADDR, port))
        a_data = self.ws(self.pl.ws_connect(a_tok))
        self.assertOpened(open_session(a_data, self.ADDR, port))
        ftp_say(a_ctl, b"LIST", lambda d: b"226 " in d)
        listing = collect(a_data, until=lambda c: bool(c.of_type("closed")), timeout=10)
        self.assertIn(b" welcome.txt\r\n", bytes(listing.data))
        stolen = collect(b_data, until=lambda c: bool(c.of_type("closed")), timeout=10)
        self.assertEqual(bytes(stolen.data), b"")

    def test_portal_port_still_refused(self):
        cookie = self.pl.join()
        self.assertDenied(self.ADDR, self.pl.port, "portal", cookie=cookie)


@unittest.skipUnless(OWN, "this machine has no non-loopback IPv4 address")
class ThisHostNamed(NamedLabAddress, PolicyBase):
    """A rule naming the interface address opens it (the lab on every
    address)."""

    ADDR = OWN

    @classmethod
    def class_args(cls):
        return ["--lab-bind", "0.0.0.0", "--allow", OWN]


class UnspecifiedNamed(NamedLabAddress, PolicyBase):
    """A rule naming 0.0.0.0 opens this host: a connect there reaches
    127.0.0.1, where the lab listens, so it is the lab and the lab servers
    know the student, as through lab:N."""

    ADDR = "0.0.0.0"

    @classmethod
    def class_args(cls):
        return ["--allow", "0.0.0.0"]


if __name__ == "__main__":
    harness.main()
