#!/usr/bin/python3
"""test_captures.py -- the canned captures the "under the hood" lesson ships.

The checked-in web/captures/*.pcap are exactly what scripts/make-captures.py
writes; portlab serves each as it is (type application/vnd.tcpdump.pcap);
and the bytes say what the lesson's tasks ask about: read here with struct,
not with the page's decoder, with every IPv4, UDP and ICMP checksum checked.
"""
import os
import struct
import subprocess
import sys

from harness import PortlabTestCase, main

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
NAMES = ("dhcp", "dns", "arp", "icmp")


def packets(data):
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", data[:24])
    assert magic == 0xA1B2C3D4 and linktype == 1
    out, p = [], 24
    while p < len(data):
        _, _, caplen, origlen = struct.unpack("<IIII", data[p:p + 16])
        assert caplen == origlen
        out.append(data[p + 16:p + 16 + caplen])
        p += 16 + caplen
    assert p == len(data)
    return out


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s  # 0xffff when the checksum inside is right


def ipv4(frame):
    """(header fields, payload) of an Ethernet frame's IPv4 packet; checks its checksum."""
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    assert csum(ip[:ihl]) == 0xFFFF, "IPv4 header checksum"
    return {"ttl": ip[8], "proto": ip[9], "src": ".".join(map(str, ip[12:16])),
            "dst": ".".join(map(str, ip[16:20])), "raw": ip[:ihl]}, ip[ihl:total]


def udp(hdr, seg):
    pseudo = hdr["raw"][12:20] + struct.pack("!BBH", 0, 17, len(seg))
    assert csum(pseudo + seg) == 0xFFFF, "UDP checksum"
    sport, dport, length = struct.unpack("!HHH", seg[:6])
    assert length == len(seg)
    return sport, dport, seg[8:]


def dhcp_options(msg):
    assert msg[236:240] == b"\x63\x82\x53\x63"
    opts, p = {}, 240
    while msg[p] != 255:
        opts[msg[p]] = msg[p + 2:p + 2 + msg[p + 1]]
        p += 2 + msg[p + 1]
    return opts


class Captures(PortlabTestCase):
    def read(self, name):
        with open(os.path.join(ROOT, "web", "captures", name + ".pcap"), "rb") as f:
            return f.read()

    def test_files_are_what_the_script_writes(self):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make-captures.py"),
                            "--check"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_portlab_serves_them_as_they_are(self):
        for name in NAMES:
            r = self.pl.get("/captures/%s.pcap" % name)
            self.assertEqual(r.status, 200, name)
            self.assertEqual(r.headers["Content-Type"], "application/vnd.tcpdump.pcap")
            self.assertEqual(r.body, self.read(name))

    def test_dhcp_dora(self):
        types, offered = [], None
        for frame in packets(self.read("dhcp")):
            hdr, seg = ipv4(frame)
            sport, dport, msg = udp(hdr, seg)
            opts = dhcp_options(msg)
            types.append(opts[53][0])
            if msg[0] == 1:  # from the client: no address yet, to everyone
                self.assertEqual((hdr["src"], hdr["dst"], sport, dport),
                                 ("0.0.0.0", "255.255.255.255", 68, 67))
            else:
                self.assertEqual((sport, dport), (67, 68))
                offered = ".".join(map(str, msg[16:20]))  # yiaddr
                self.assertEqual(struct.unpack("!I", opts[51])[0], 86400)  # lease
                self.assertEqual(struct.unpack("!I", opts[58])[0], 43200)  # T1: half of it
                self.assertEqual(struct.unpack("!I", opts[59])[0], 75600)  # T2: 87.5 %
        self.assertEqual(types, [1, 2, 3, 5])  # Discover, Offer, Request, ACK
        self.assertEqual(offered, "192.168.1.100")  # hood-cap-dhcp-offer

    def test_dns_over_udp(self):
        frames = packets(self.read("dns"))
        self.assertEqual(len(frames), 4)
        hdr, seg = ipv4(frames[2])
        sport, dport, msg = udp(hdr, seg)
        self.assertEqual(sport, 53)
        ident, flags, qd, an = struct.unpack("!HHHH", msg[:8])
        self.assertEqual((ident, flags & 0x8000, qd, an), (0x1A2B, 0x8000, 1, 1))
        # The answer: a pointer to the question's name, A, IN, TTL, 4 bytes.
        self.assertEqual(msg[-16:-14], b"\xc0\x0c")
        rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[-14:-4])
        self.assertEqual((rtype, rclass, ttl, rdlen), (1, 1, 3600, 4))  # hood-cap-dns-answer
        self.assertEqual(msg[-4:], bytes([203, 0, 113, 10]))

    def test_arp(self):
        req, rep = packets(self.read("arp"))
        self.assertEqual(req[:6], b"\xff" * 6)
        self.assertEqual(req[12:14], b"\x08\x06")
        self.assertEqual(struct.unpack("!H", req[20:22])[0], 1)
        self.assertEqual(struct.unpack("!H", rep[20:22])[0], 2)
        self.assertEqual(rep[22:28].hex(":"), "00:1e:58:aa:bb:01")  # hood-cap-arp-mac
        self.assertEqual(bytes(rep[28:32]), bytes([192, 168, 1, 1]))

    def test_icmp_ping_and_traceroute(self):
        seen = []
        for frame in packets(self.read("icmp")):
            hdr, msg = ipv4(frame)
            self.assertEqual(hdr["proto"], 1)
            self.assertEqual(csum(msg), 0xFFFF, "ICMP checksum")
            seen.append((msg[0], hdr["src"], hdr["ttl"]))
        self.assertEqual(seen[0], (8, "192.168.1.100", 64))
        self.assertEqual(seen[1], (0, "203.0.113.10", 52))  # hood-cap-echo-ttl
        self.assertEqual(seen[2][0::2], (8, 1))
        self.assertEqual(seen[3][:2], (11, "192.168.1.1"))
        self.assertEqual(seen[4][0::2], (8, 2))
        self.assertEqual(seen[5][:2], (11, "198.51.100.1"))  # hood-cap-hop2


if __name__ == "__main__":
    main()
