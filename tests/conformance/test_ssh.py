"""test_ssh.py -- the lab SSH banner server against OpenSSH's client and raw sockets.

`ssh -vvv -o BatchMode=yes` connects to lab:22 and its debug output must
show the server's version line, the server's KEXINIT proposal with every
name-list, and the polite SSH_MSG_DISCONNECT (reason 11) that ends it.
Raw sockets check the version exchange at its 255-byte edge, a first line
that is not SSH-, a wrong protocol version, a packet past the RFC 4253
size, and that one hostile connection does not disturb another.

Network rule: loopback only.
"""

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import PortlabTestCase  # noqa: E402

LOOPBACK = "127.0.0.1"
SSH_WELL_KNOWN = 22
IDENT_MAX = 255  # LIM_SSH_IDENT
PACKET_MAX = 35000  # LIM_SSH_PACKET


def read_until_eof(s, limit=1 << 20):
    data = b""
    while len(data) < limit:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def packets(data):
    """Splits unencrypted binary packets: [(msg number, payload)]."""
    out = []
    while len(data) >= 5:
        (length,) = struct.unpack(">I", data[:4])
        pad = data[4]
        if (length + 4) % 8 or pad < 4 or len(data) < length + 4:
            raise AssertionError("bad framing: %r" % data[:16])
        payload = data[5:4 + length - pad]
        out.append((payload[0], payload))
        data = data[4 + length:]
    if data:
        raise AssertionError("trailing bytes: %r" % data)
    return out


class SshLab(PortlabTestCase):
    def port(self):
        return self.pl.lab_base + SSH_WELL_KNOWN

    def connect(self):
        s = socket.create_connection((LOOPBACK, self.port()), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        self.addCleanup(f.close)
        greeting = f.readline()
        return s, f, greeting

    @unittest.skipUnless(shutil.which("ssh"), "openssh-client is not installed")
    def test_openssh_client(self):
        home = tempfile.mkdtemp(prefix="portlab-ssh-")
        self.addCleanup(shutil.rmtree, home, True)
        env = dict(os.environ, HOME=home)
        r = subprocess.run(
            ["ssh", "-vvv", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10",
             "-p", str(self.port()), LOOPBACK, "true"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=env)
        out = r.stderr
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn("Remote protocol version 2.0, remote software version portlab_lab", out)
        self.assertIn("SSH2_MSG_KEXINIT received", out)
        self.assertIn("peer server KEXINIT proposal", out)
        self.assertIn("KEX algorithms: curve25519-sha256,", out)
        self.assertIn("host key algorithms: ssh-ed25519,", out)
        self.assertIn("ciphers stoc: chacha20-poly1305@openssh.com,", out)
        self.assertIn("compression ctos: none,zlib@openssh.com", out)
        self.assertIn("Received disconnect from 127.0.0.1 port %d:11: portlab lab:" % self.port(), out)
        self.assertNotIn("Bad packet length", out)
        self.assertNotIn("message authentication code incorrect", out)

    def test_exchange_by_hand(self):
        s, f, greeting = self.connect()
        self.assertTrue(greeting.startswith(b"SSH-2.0-portlab_lab "), greeting)
        self.assertTrue(greeting.endswith(b"\r\n"))
        self.assertLessEqual(len(greeting), IDENT_MAX)
        line = b"SSH-2.0-Edge " + b"x" * (IDENT_MAX - 15) + b"\r\n"
        self.assertEqual(len(line), IDENT_MAX)
        s.sendall(line)
        head = f.read(4)
        (length,) = struct.unpack(">I", head)
        body = f.read(length)
        [(msg, payload)] = packets(head + body)
        self.assertEqual(msg, 20)
        # The client's KEXINIT (any well-framed packet 20) brings the goodbye.
        kex = bytes([20]) + bytes(16) + struct.pack(">I", 0) * 10 + bytes(5)
        pad = 8 - (5 + len(kex)) % 8
        pad += 8 if pad < 4 else 0
        s.sendall(struct.pack(">IB", 1 + len(kex) + pad, pad) + kex + bytes(pad))
        rest = f.read()
        [(msg, payload)] = packets(rest)
        self.assertEqual(msg, 1)
        self.assertEqual(struct.unpack(">I", payload[1:5])[0], 11)

    def test_refusals(self):
        # Each input is consumed whole before the refusal, so the close is a
        # FIN and the reason is never lost to a reset.
        other, other_f, _ = self.connect()  # stays served throughout
        cases = [
            (b"SSH-2.0-Edge " + b"x" * (IDENT_MAX - 14) + b"\r\n", b"too long"),
            (b"GET / HTTP/1.1\r\n", b"Invalid SSH identification string"),
            (b"SSH-1.5-Old\r\n", b"Protocol major versions differ"),
            (b"SSH-2.0-Bad-Dash\r\n", b"software version"),
            (b"SSH-2.0-a\x00b\r\n", b"NUL"),
        ]
        for data, want in cases:
            with self.subTest(data=data[:20]):
                s, f, _ = self.connect()
                s.sendall(data)
                reply = read_until_eof(s)
                self.assertIn(want, reply)
                self.assertTrue(reply.endswith(b"\r\n"))
        # A packet one block past the RFC 4253 size: PROTOCOL_ERROR (2).
        s, f, _ = self.connect()
        s.sendall(b"SSH-2.0-x\r\n")
        f.read(struct.unpack(">I", f.read(4))[0])
        s.sendall(struct.pack(">IBB", PACKET_MAX + 4, 4, 2))
        [(msg, payload)] = packets(read_until_eof(s))
        self.assertEqual((msg, struct.unpack(">I", payload[1:5])[0]), (1, 2))
        # The first connection still talks.
        other.sendall(b"SSH-2.0-Still_here\r\n")
        head = other_f.read(4)
        self.assertEqual(other_f.read(struct.unpack(">I", head)[0])[1], 20)


if __name__ == "__main__":
    harness.main()
