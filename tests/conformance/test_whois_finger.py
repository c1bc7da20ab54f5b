"""test_whois_finger.py -- the lab WHOIS (43) and finger (79) servers over real sockets.

One query line, the answer, then the server closes (RFC 3912, RFC 1288):
known and unknown names, finger's user list and refused forwarding, and
the line cap at its edge (LIM_WHOIS_LINE, LIM_FINGER_LINE).

Network rule: loopback only.
"""

import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import PortlabTestCase  # noqa: E402

LOOPBACK = "127.0.0.1"
WHOIS, FINGER = 43, 79
LINE_MAX = 512  # LIM_WHOIS_LINE and LIM_FINGER_LINE


class WhoisFinger(PortlabTestCase):
    def ask(self, well_known, line):
        s = socket.create_connection((LOOPBACK, self.pl.lab_base + well_known), timeout=10)
        self.addCleanup(s.close)
        s.sendall(line)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data.decode()
            data += chunk

    def test_whois(self):
        out = self.ask(WHOIS, b"lab\r\n")
        self.assertIn("Domain Name: LAB\r\n", out)
        self.assertIn("Name Server: NS.LAB", out)
        self.assertIn("CIDR: 127.0.0.0/8", self.ask(WHOIS, b"127.0.0.1\r\n"))
        self.assertIn('No match for "example.com".', self.ask(WHOIS, b"example.com\r\n"))
        self.assertIn("No match", self.ask(WHOIS, b"w" * (LINE_MAX - 2) + b"\r\n"))
        self.assertIn("Query too long", self.ask(WHOIS, b"w" * (LINE_MAX - 1) + b"\r\n"))

    def test_finger(self):
        out = self.ask(FINGER, b"\r\n")
        self.assertIn("demo", out)
        self.assertIn("postmaster", out)
        out = self.ask(FINGER, b"demo\r\n")
        self.assertIn("Login: demo", out)
        self.assertIn("Shell: /bin/labsh", out)
        self.assertIn("Finger forwarding service denied.", self.ask(FINGER, b"demo@example.com\r\n"))
        self.assertIn("no such user", self.ask(FINGER, b"f" * (LINE_MAX - 2) + b"\r\n"))
        self.assertIn("Query too long", self.ask(FINGER, b"f" * (LINE_MAX - 1) + b"\r\n"))


if __name__ == "__main__":
    harness.main()
