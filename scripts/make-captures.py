#!/usr/bin/python3
"""make-captures.py -- writes the canned captures the "under the hood" lesson ships.

What cannot travel over the lab's TCP sessions (DHCP, DNS over UDP, ARP,
ICMP) is shown with small captures written here byte by byte: Ethernet
frames in classic pcap files (linktype 1), with correct IP, UDP and ICMP
checksums, so Wireshark and tcpdump read them as real traffic. The page
decodes them in its hex view (web/js/capture.js), at #/capture/NAME.

Addresses are from the documentation ranges (192.168.1.0/24 at home,
198.51.100.0/24 and 203.0.113.0/24 "on the Internet", 2001:db8::/32),
MAC addresses are made up, times are fixed: the output never changes, and
tests/integration/test_captures.py checks that the checked-in files are
exactly what this script writes.

    scripts/make-captures.py            rewrite web/captures/*.pcap
    scripts/make-captures.py --check    exit 1 if a file differs
"""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web", "captures")
T0 = 1767225600  # 2026-01-01 00:00:00 UTC

CLIENT_MAC = bytes.fromhex("3c22fb1a0007")
ROUTER_MAC = bytes.fromhex("001e58aabb01")
BROADCAST_MAC = b"\xff" * 6
CLIENT_IP = "192.168.1.100"
ROUTER_IP = "192.168.1.1"
ISP_ROUTER_IP = "198.51.100.1"
SERVER_IP = "203.0.113.10"


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ether(dst, src, etype, payload):
    frame = dst + src + struct.pack("!H", etype) + payload
    return frame + b"\0" * max(0, 60 - len(frame))  # the minimum frame, FCS left out


def ipv4(src, dst, proto, payload, ttl=64, ident=0, df=False):
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000 if df else 0,
                       ttl, proto, 0, ip4(src), ip4(dst))
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def udp(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 17, length)
    head = struct.pack("!HHHH", sport, dport, length, 0)
    csum = checksum(pseudo + head + payload) or 0xFFFF
    return struct.pack("!HHHH", sport, dport, length, csum) + payload


def icmp(icmp_type, code, rest, payload):
    body = struct.pack("!BBH", icmp_type, code, 0) + rest + payload
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


# --- DHCP (RFC 2131, options RFC 2132) -------------------------------------------------

XID = 0x3903F326


def dhcp(op, msg_type, yiaddr="0.0.0.0", siaddr="0.0.0.0", options=b"", flags=0x8000, secs=0):
    fixed = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", op, 1, 6, 0, XID, secs, flags,
                        ip4("0.0.0.0"), ip4(yiaddr), ip4(siaddr), ip4("0.0.0.0"),
                        CLIENT_MAC + b"\0" * 10, b"", b"")
    opts = bytes([53, 1, msg_type]) + options + b"\xff"
    return fixed + b"\x63\x82\x53\x63" + opts


def opt(code, value):
    return bytes([code, len(value)]) + value


def lease_options(msg_type):
    return (opt(54, ip4(ROUTER_IP)) + opt(51, struct.pack("!I", 86400)) +
            opt(58, struct.pack("!I", 43200)) + opt(59, struct.pack("!I", 75600)) +
            opt(1, ip4("255.255.255.0")) + opt(3, ip4(ROUTER_IP)) + opt(6, ip4(ROUTER_IP)) +
            opt(15, b"home.example"))


def dhcp_capture():
    discover = dhcp(1, 1, options=opt(61, b"\x01" + CLIENT_MAC) + opt(55, bytes([1, 3, 6, 15, 51, 58, 59])))
    offer = dhcp(2, 2, yiaddr=CLIENT_IP, siaddr=ROUTER_IP, options=lease_options(2))
    request = dhcp(1, 3, options=opt(61, b"\x01" + CLIENT_MAC) + opt(50, ip4(CLIENT_IP)) +
                   opt(54, ip4(ROUTER_IP)) + opt(55, bytes([1, 3, 6, 15, 51, 58, 59])), secs=1)
    ack = dhcp(2, 5, yiaddr=CLIENT_IP, siaddr=ROUTER_IP, options=lease_options(5))
    bc = "255.255.255.255"
    return [
        (0.000000, ether(BROADCAST_MAC, CLIENT_MAC, 0x0800,
                         ipv4("0.0.0.0", bc, 17, udp("0.0.0.0", bc, 68, 67, discover), ttl=128))),
        (0.004183, ether(BROADCAST_MAC, ROUTER_MAC, 0x0800,
                         ipv4(ROUTER_IP, bc, 17, udp(ROUTER_IP, bc, 67, 68, offer), ident=0x1c40))),
        (1.002511, ether(BROADCAST_MAC, CLIENT_MAC, 0x0800,
                         ipv4("0.0.0.0", bc, 17, udp("0.0.0.0", bc, 68, 67, request), ttl=128))),
        (1.006020, ether(BROADCAST_MAC, ROUTER_MAC, 0x0800,
                         ipv4(ROUTER_IP, bc, 17, udp(ROUTER_IP, bc, 67, 68, ack), ident=0x1c41))),
    ]


# --- DNS over UDP (RFC 1035) --------------------------------------------------------------


def dns_name(name):
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_query(ident, name, qtype):
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", qtype, 1)


def dns_answer(ident, name, qtype, ttl, rdata):
    q = dns_name(name) + struct.pack("!HH", qtype, 1)
    a = b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, ttl, len(rdata)) + rdata
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + q + a


def dns_capture():
    name = "www.example.com"
    v6 = bytes.fromhex("20010db8000000000000000000000010")
    pkts = []
    for t, ident, qtype, rdata, sport in ((0.0, 0x1A2B, 1, ip4(SERVER_IP), 53124),
                                          (0.000412, 0x5C3D, 28, v6, 60211)):
        q = dns_query(ident, name, qtype)
        a = dns_answer(ident, name, qtype, 3600, rdata)
        pkts.append((t, ether(ROUTER_MAC, CLIENT_MAC, 0x0800,
                              ipv4(CLIENT_IP, ROUTER_IP, 17, udp(CLIENT_IP, ROUTER_IP, sport, 53, q),
                                   ident=0x4d00 + len(pkts)))))
        pkts.append((t + 0.011, ether(CLIENT_MAC, ROUTER_MAC, 0x0800,
                                      ipv4(ROUTER_IP, CLIENT_IP, 17,
                                           udp(ROUTER_IP, CLIENT_IP, 53, sport, a), ident=0x2200 + len(pkts)))))
    pkts.sort(key=lambda p: p[0])
    return pkts


# --- ARP (RFC 826) --------------------------------------------------------------------------


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, ip4(spa), tha, ip4(tpa))


def arp_capture():
    return [
        (0.0, ether(BROADCAST_MAC, CLIENT_MAC, 0x0806,
                    arp(1, CLIENT_MAC, CLIENT_IP, b"\0" * 6, ROUTER_IP))),
        (0.000731, ether(CLIENT_MAC, ROUTER_MAC, 0x0806,
                         arp(2, ROUTER_MAC, ROUTER_IP, CLIENT_MAC, CLIENT_IP))),
    ]


# --- ICMP (RFC 792): ping, then the first two hops of a traceroute -------------------------


def icmp_capture():
    payload = b"abcdefghijklmnopqrstuvwabcdefghi"  # what Windows ping sends
    pkts = []

    def echo(t, seq, ttl_out, ident_ip):
        req = icmp(8, 0, struct.pack("!HH", 0x0B1D, seq), payload)
        return (t, ipv4(CLIENT_IP, SERVER_IP, 1, req, ttl=ttl_out, ident=ident_ip))

    t, req = echo(0.0, 1, 64, 0x6a01)
    pkts.append((t, ether(ROUTER_MAC, CLIENT_MAC, 0x0800, req)))
    reply = icmp(0, 0, struct.pack("!HH", 0x0B1D, 1), payload)
    pkts.append((0.018342, ether(CLIENT_MAC, ROUTER_MAC, 0x0800,
                                 ipv4(SERVER_IP, CLIENT_IP, 1, reply, ttl=52, ident=0x9e10))))
    # traceroute: TTL 1 dies at the home router, TTL 2 at the provider's.
    for i, (router, ttl, when) in enumerate(((ROUTER_IP, 1, 1.0), (ISP_ROUTER_IP, 2, 1.5))):
        t, req = echo(when, 2 + i, ttl, 0x6a02 + i)
        pkts.append((t, ether(ROUTER_MAC, CLIENT_MAC, 0x0800, req)))
        # Time exceeded quotes the dropped packet's IP header and 8 bytes (RFC 792),
        # with the TTL as it arrived at that router: 1.
        dropped = bytearray(req[:28])
        dropped[8] = 1
        dropped[10:12] = b"\0\0"
        dropped[10:12] = struct.pack("!H", checksum(bytes(dropped[:20])))
        te = icmp(11, 0, b"\0\0\0\0", bytes(dropped))
        pkts.append((when + 0.002 + 0.008 * i,
                     ether(CLIENT_MAC, ROUTER_MAC, 0x0800,
                           ipv4(router, CLIENT_IP, 1, te, ttl=64 - i * 9, ident=0x3300 + i))))
    return pkts


# --- pcap -------------------------------------------------------------------------------------


def pcap(packets):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for t, frame in packets:
        sec = int(t)
        usec = int(round((t - sec) * 1e6))
        out += struct.pack("<IIII", T0 + sec, usec, len(frame), len(frame)) + frame
    return out


CAPTURES = {
    "dhcp.pcap": dhcp_capture,
    "dns.pcap": dns_capture,
    "arp.pcap": arp_capture,
    "icmp.pcap": icmp_capture,
}


def main():
    check = "--check" in sys.argv[1:]
    os.makedirs(OUT, exist_ok=True)
    differ = []
    for name, make in CAPTURES.items():
        data = pcap(make())
        path = os.path.join(OUT, name)
        if check:
            try:
                with open(path, "rb") as f:
                    if f.read() != data:
                        differ.append(name)
            except FileNotFoundError:
                differ.append(name)
        else:
            with open(path, "wb") as f:
                f.write(data)
    if differ:
        print("differ from scripts/make-captures.py: " + ", ".join(differ))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
