"""test_dns.py -- the lab DNS server over TCP against dig and hand-built queries.

dig +tcp asks lab:53 for every record type of the zone "lab." and reads
the answers back: MX pointing at the lab mail host, NXDOMAIN with the SOA,
REFUSED outside the zone, AXFR of the whole zone, the question's case
kept. Hand-built queries check pipelining (three queries in one write,
three answers in order), name compression in the answer, a compression
loop and a forward pointer in the question (FORMERR, the connection stays
usable), a query past LIM_DNS_QUERY, and a zero-length message.

Network rule: loopback only.
"""

import os
import shutil
import socket
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import PortlabTestCase  # noqa: E402

LOOPBACK = "127.0.0.1"
DNS_WELL_KNOWN = 53
QUERY_MAX = 512  # LIM_DNS_QUERY


def query(name, qtype, qid=0x1234, flags=0x0100):
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".") if label)
    return struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0) + wire + b"\0" + struct.pack(">HH", qtype, 1)


def framed(msg):
    return struct.pack(">H", len(msg)) + msg


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def answer(s):
    (n,) = struct.unpack(">H", recv_exact(s, 2))
    return recv_exact(s, n)


def header(msg):
    qid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    return {"id": qid, "rcode": flags & 15, "aa": bool(flags & 0x400), "qr": bool(flags & 0x8000),
            "an": an, "ns": ns}


@unittest.skipUnless(shutil.which("dig"), "dnsutils is not installed")
class DigLab(PortlabTestCase):
    def dig(self, *args):
        port = self.pl.lab_base + DNS_WELL_KNOWN
        r = subprocess.run(["dig", "+tcp", "+tries=1", "+time=10", "@" + LOOPBACK, "-p", str(port)]
                           + list(args), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout

    def test_records(self):
        self.assertEqual(self.dig("+short", "lab", "MX").split(), ["10", "mail.lab."])
        self.assertEqual(self.dig("+short", "mail.lab", "A").split(), ["127.0.0.1"])
        self.assertEqual(self.dig("+short", "www.lab", "AAAA").split(), ["::1"])
        self.assertEqual(self.dig("+short", "lab", "NS").split(), ["ns.lab."])
        self.assertEqual(self.dig("+short", "lab", "TXT").strip(), '"v=spf1 mx -all"')
        soa = self.dig("+short", "lab", "SOA").split()
        self.assertEqual(soa[:2], ["ns.lab.", "hostmaster.lab."])
        out = self.dig("lab", "A")
        self.assertIn("status: NOERROR", out)
        self.assertIn("flags: qr aa rd;", out)
        self.assertNotIn("WARNING: Message has", out)

    def test_negative_and_refused(self):
        out = self.dig("nope.lab", "A")
        self.assertIn("status: NXDOMAIN", out)
        self.assertIn("AUTHORITY: 1", out)
        self.assertIn("IN\tSOA\tns.lab. hostmaster.lab.", out)
        out = self.dig("www.lab", "MX")
        self.assertIn("status: NOERROR", out)
        self.assertIn("ANSWER: 0, AUTHORITY: 1", out)
        out = self.dig("example.com", "A")
        self.assertIn("status: REFUSED", out)

    def test_case_and_axfr(self):
        out = self.dig("MaIl.LaB", "A")
        self.assertIn(";MaIl.LaB.\t", out)
        out = self.dig("lab", "AXFR")
        self.assertIn("XFR size: 14 records", out)
        self.assertIn('flag.lab.\t\t0\tIN\tTXT\t"Send this query from the lab page', out)


class RawDns(PortlabTestCase):
    def connect(self):
        s = socket.create_connection((LOOPBACK, self.pl.lab_base + DNS_WELL_KNOWN), timeout=10)
        self.addCleanup(s.close)
        return s

    def test_pipelined_and_compressed(self):
        s = self.connect()
        s.sendall(framed(query("lab", 15, 1)) + framed(query("nope.lab", 1, 2))
                  + framed(query("example.org", 1, 3)))
        a, b, c = answer(s), answer(s), answer(s)
        self.assertEqual([header(m)["id"] for m in (a, b, c)], [1, 2, 3])
        self.assertEqual([header(m)["rcode"] for m in (a, b, c)], [0, 3, 5])
        # The MX answer: owner a pointer to the question (0xc00c), and the
        # exchange "mail" then a pointer to "lab" at offset 12.
        q = len(query("lab", 15))
        self.assertEqual(a[q:q + 2], b"\xc0\x0c")
        self.assertEqual(a[q + 12:q + 12 + 2 + 5 + 2], b"\x00\x0a\x04mail\xc0\x0c")
        self.assertEqual(len(a), q + 12 + 9)

    def test_hostile_queries(self):
        s = self.connect()
        loop = struct.pack(">HHHHHH", 7, 0x100, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack(">HH", 1, 1)
        forward = struct.pack(">HHHHHH", 8, 0x100, 1, 0, 0, 0) + b"\xc0\x12" + struct.pack(">HH", 1, 1) \
            + b"\x03lab\x00"
        big = query("lab", 1, 9).ljust(QUERY_MAX + 1, b"\0")
        edge = query("lab", 1, 10).ljust(QUERY_MAX, b"\0")
        s.sendall(framed(loop) + framed(forward) + framed(big) + framed(edge))
        for qid, rcode in ((7, 1), (8, 1), (9, 1), (10, 0)):
            h = header(answer(s))
            self.assertEqual((h["id"], h["rcode"], h["qr"]), (qid, rcode, True))
        # Still usable, then a zero-length message ends it.
        s.sendall(framed(query("lab", 1, 11)))
        self.assertEqual(header(answer(s))["rcode"], 0)
        s.sendall(b"\0\0")
        self.assertEqual(s.recv(10), b"")


if __name__ == "__main__":
    harness.main()
