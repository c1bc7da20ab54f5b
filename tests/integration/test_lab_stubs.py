#!/usr/bin/python3
"""test_lab_stubs.py -- the SSH, DNS, WHOIS and finger lab servers in the lessons.

Through the relay, as the browser does it: a student sends an SSH
identification string on lab:22 and the check task ssh-ident is solved;
a DNS query for lab. MX, written in bytes as the page's DNS query builder
writes them, solves dns-mx-query; the TXT record of flag.lab. carries that
student's own flag, which solves dns-flag for them and is wrong for a
classmate; a WHOIS query for lab solves whois-lab. The student's own
client (a raw socket, which no relay session names) gets no flag and
credits nobody. The lab ports are listed in GET /api/targets.
"""
import os
import re
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortlabTestCase, collect, send_json, wait_closed  # noqa: E402

LESSON = "more-servers"


def dns_query(name, qtype, qid=0xABCD):
    """What web/js/dnsquery.js builds: TCP length, header with RD, the question."""
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label)
    msg = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + b"\0" + struct.pack(">HH", qtype, 1)
    return struct.pack(">H", len(msg)) + msg


def framed_done(c):
    return len(c.data) >= 2 and len(c.data) >= 2 + struct.unpack(">H", bytes(c.data[:2]))[0]


class LabStubs(PortlabTestCase):
    def answer(self, token, tid, answer=None):
        body = {} if answer is None else {"answer": answer}
        r = self.pl.post("/api/lessons/%s/tasks/%s" % (LESSON, tid), body, cookie=token)
        self.assertEqual(r.status, 200, r)
        return r.json["correct"]

    def relay(self, token, port):
        ws, opened = self.pl.session("lab", port, cookie=token)
        self.ws(ws)
        self.assertEqual(opened.get("type"), "opened", opened)
        return ws

    def dns_via_relay(self, token, name, qtype):
        ws = self.relay(token, 53)
        ws.send_binary(dns_query(name, qtype))
        got = collect(ws, until=framed_done, timeout=10)
        self.assertTrue(framed_done(got), got.data)
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        return bytes(got.data[2:])

    def test_targets_list_the_new_ports(self):
        token = self.pl.join()
        services = {s["name"]: s["port"] for s in self.pl.get("/api/targets", cookie=token).json["lab"]["services"]}
        self.assertEqual({k: services.get(k) for k in ("ssh", "whois", "dns", "finger")},
                         {"ssh": 22, "whois": 43, "dns": 53, "finger": 79})
        lesson = self.pl.get("/api/lessons/" + LESSON, cookie=token).json["lesson"]
        self.assertEqual(len(lesson["tasks"]), 10)

    def test_ssh_ident_check(self):
        token = self.pl.join()
        self.assertFalse(self.answer(token, "ssh-ident"))
        ws = self.relay(token, 22)
        got = collect(ws, until=lambda c: c.data.endswith(b"\r\n"), timeout=10)
        self.assertTrue(got.data.startswith(b"SSH-2.0-portlab_lab "), got.data)
        ws.send_binary(b"SSH-2.0-Typed_by_hand\r\n")
        got = collect(ws, until=lambda c: len(c.data) >= 6, timeout=10)
        self.assertEqual(got.data[5], 20, got.data[:16])  # SSH_MSG_KEXINIT
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        self.assertTrue(self.answer(token, "ssh-ident"))
        self.assertTrue(self.answer(token, "ssh-server-software", "portlab_lab"))
        self.assertTrue(self.answer(token, "ssh-kexinit-number", "20"))

        # An own client's identification credits nobody.
        other = self.pl.join()
        s = socket.create_connection(("127.0.0.1", self.pl.lab_base + 22), timeout=10)
        self.addCleanup(s.close)
        s.recv(512)
        s.sendall(b"SSH-2.0-Own_client\r\n")
        s.recv(4)
        self.assertFalse(self.answer(other, "ssh-ident"))

    def test_dns_checks_and_flag(self):
        a_name, b_name = harness.unique_name("da"), harness.unique_name("db")
        a, b = self.pl.join(a_name), self.pl.join(b_name)
        self.assertFalse(self.answer(a, "dns-mx-query"))
        mx = self.dns_via_relay(a, "lab", 15)
        self.assertIn(b"\x04mail\xc0\x0c", mx)
        self.assertTrue(self.answer(a, "dns-mx-query"))
        self.assertFalse(self.answer(b, "dns-mx-query"))
        self.assertTrue(self.answer(a, "dns-mx-host", "mail.lab."))

        flags = {}
        for name, token in ((a_name, a), (b_name, b)):
            txt = self.dns_via_relay(token, "flag.lab", 16)
            m = re.search(rb"FLAG\{[0-9a-f]{24}\}", txt)
            self.assertIsNotNone(m, txt)
            flags[name] = m.group().decode()
        self.assertNotEqual(flags[a_name], flags[b_name])
        self.assertFalse(self.answer(a, "dns-flag", flags[b_name]))
        self.assertTrue(self.answer(a, "dns-flag", flags[a_name]))

        # The same question from an own client: directions, no flag.
        s = socket.create_connection(("127.0.0.1", self.pl.lab_base + 53), timeout=10)
        self.addCleanup(s.close)
        s.sendall(dns_query("flag.lab", 16))
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = s.recv(4096)
            self.assertTrue(chunk)
            data += chunk
        self.assertNotIn(b"FLAG{", data)
        self.assertIn(b"lab page", data)

    def test_whois_check(self):
        token = self.pl.join()
        self.assertFalse(self.answer(token, "whois-lab"))
        ws = self.relay(token, 43)
        ws.send_binary(b"lab\r\n")
        got = collect(ws, until=lambda c: bool(c.of_type("closed")), timeout=10)
        self.assertIn(b"Domain Name: LAB", got.data)
        self.assertTrue(self.answer(token, "whois-lab"))
        self.assertTrue(self.answer(token, "finger-shell", "/bin/labsh"))


if __name__ == "__main__":
    harness.main()
