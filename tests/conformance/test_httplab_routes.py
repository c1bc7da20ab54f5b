"""test_httplab_routes.py -- the lab web server's /chat, /form and OPTIONS.

/chat is a WebSocket handshake a student types by hand (RFC 6455): a client
written here over a plain socket checks the 101 and its Sec-WebSocket-Accept
(the RFC's own example key), the echo of masked text and binary frames,
fragments, ping/pong, the close handshake, and the refusals: no Upgrade or
a wrong version (426 with Upgrade and Sec-WebSocket-Version), a missing or
malformed key (400), an unmasked frame (close 1002). /form takes a POST
from http.client and curl, decodes the body and escapes it in the answer;
without Content-Length it is 411, another type 415, a broken escape 400,
and the body limit (--http-form-bytes) is tested at its edge. OPTIONS
names each route's methods, HEAD is GET without the body.
"""

import base64
import hashlib
import http.client
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Portlab, PortlabTestCase, main  # noqa: E402

LOOPBACK = "127.0.0.1"
HTTP_WELL_KNOWN = 80
FORM_BYTES = 4096  # LIM_HTTP_FORM_BYTES
TIMEOUT_SECS = 30  # LIM_HTTP_TIMEOUT_SECS
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def read_head(s):
    """Reads up to the end of an HTTP head; returns (status, headers, rest)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def read_all(s):
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        out += chunk
    return out


def frame(opcode, payload, fin=True, mask=b"\x11\x22\x33\x44", rsv=0):
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        head = bytes([b0, (0x80 if mask else 0) | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, (0x80 if mask else 0) | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def parse_frames(data):
    """Server frames (never masked) as (fin, opcode, payload)."""
    out = []
    while len(data) >= 2:
        b0, b1 = data[0], data[1]
        assert not b1 & 0x80, "a server frame must not be masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            n, at = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, at = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < at + n:
            break
        out.append((bool(b0 & 0x80), b0 & 0x0F, data[at:at + n]))
        data = data[at + n:]
    return out


class HttpLabRoutes(PortlabTestCase):
    def port(self):
        return self.pl.lab_base + HTTP_WELL_KNOWN

    def sock(self):
        s = socket.create_connection((LOOPBACK, self.port()), timeout=10)
        self.addCleanup(s.close)
        return s

    def handshake(self, key=RFC_KEY, extra=b""):
        s = self.sock()
        s.sendall(b"GET /chat HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\n"
                  b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + key.encode() +
                  b"\r\nSec-WebSocket-Version: 13\r\n\r\n" + extra)
        status, headers, rest = read_head(s)
        return s, status, headers, rest

    def read_frames(self, s, n, rest=b""):
        data = rest
        while len(parse_frames(data)) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return parse_frames(data)

    # --- /chat -------------------------------------------------------------------------

    def test_chat_accept_value_is_the_rfcs(self):
        s, status, headers, _ = self.handshake()
        self.assertEqual(status, 101)
        self.assertEqual(headers["sec-websocket-accept"], RFC_ACCEPT)
        self.assertEqual(headers["upgrade"].lower(), "websocket")
        self.assertIn("upgrade", headers["connection"].lower())
        # The same arithmetic for a random key, done here.
        key = base64.b64encode(os.urandom(16)).decode()
        s, status, headers, _ = self.handshake(key)
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.assertEqual(headers["sec-websocket-accept"], want)

    def test_chat_echoes_frames_and_answers_ping_and_close(self):
        big = os.urandom(70000)  # a 64-bit length
        mid = b"m" * 300  # a 16-bit length
        s, status, _, rest = self.handshake(extra=frame(1, b"hello"))  # with the handshake
        self.assertEqual(status, 101)
        s.sendall(frame(2, mid) + frame(2, big) + frame(9, b"are you there?") +
                  frame(1, b"frag", fin=False) + frame(9, b"") + frame(0, b"ment") +
                  frame(8, struct.pack("!H", 1000) + b"bye"))
        frames = self.read_frames(s, 8, rest)
        self.assertEqual(frames[0], (True, 1, b"hello"))
        self.assertEqual(frames[1], (True, 2, mid))
        self.assertEqual(frames[2], (True, 2, big))
        self.assertEqual(frames[3], (True, 10, b"are you there?"))
        self.assertEqual(frames[4], (False, 1, b"frag"))
        self.assertEqual(frames[5], (True, 10, b""))  # a control frame between fragments
        self.assertEqual(frames[6], (True, 0, b"ment"))
        self.assertEqual(frames[7][1], 8)
        self.assertEqual(frames[7][2][:2], struct.pack("!H", 1000))
        self.assertEqual(read_all(s), b"")  # and the server closes

    def assert_closed_with(self, s, code, rest=b""):
        frames = self.read_frames(s, 1, rest)
        self.assertTrue(frames, "no close frame")
        self.assertEqual(frames[-1][1], 8)
        self.assertEqual(struct.unpack("!H", frames[-1][2][:2])[0], code)
        self.assertEqual(read_all(s), b"")

    def test_chat_closes_on_an_unmasked_frame(self):
        s, status, _, rest = self.handshake()
        self.assertEqual(status, 101)
        s.sendall(frame(1, b"no mask", mask=None))
        self.assert_closed_with(s, 1002, rest)

    def test_chat_closes_on_reserved_bits_opcodes_and_bad_control_frames(self):
        for bad in (frame(1, b"x", rsv=0x40), frame(3, b"x"), frame(9, b"x" * 126),
                    frame(9, b"x", fin=False), frame(0, b"no message"),
                    frame(1, b"a", fin=False) + frame(1, b"b"), frame(8, b"\x03")):
            s, status, _, rest = self.handshake()
            self.assertEqual(status, 101)
            s.sendall(bad)
            self.assert_closed_with(s, 1002, rest)

    def test_chat_refusals(self):
        def ask(headers, version=b"HTTP/1.1"):
            s = self.sock()
            s.sendall(b"GET /chat " + version + b"\r\nHost: lab\r\n" + headers + b"\r\n")
            return read_head(s)

        up = b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        key = b"Sec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\n"
        status, headers, _ = ask(b"")  # a plain GET
        self.assertEqual(status, 426)
        self.assertEqual(headers["upgrade"], "websocket")
        status, headers, _ = ask(up + key + b"Sec-WebSocket-Version: 8\r\n")
        self.assertEqual(status, 426)
        self.assertEqual(headers["sec-websocket-version"], "13")
        status, _, _ = ask(up + b"Sec-WebSocket-Version: 13\r\n")  # no key
        self.assertEqual(status, 400)
        for bad in (b"c2hvcnQ=", b"dGhlIHNhbXBsZSBub25jZQ", b"dGhlIHNhbXBsZSBub25jZR==",
                    b"dGhlIHNhbXBsZSBub25j*Q=="):
            status, _, _ = ask(up + b"Sec-WebSocket-Key: " + bad + b"\r\n"
                               b"Sec-WebSocket-Version: 13\r\n")
            self.assertEqual(status, 400, bad)
        status, _, _ = ask(up + key)  # no version
        self.assertEqual(status, 400)
        status, _, _ = ask(up + key + b"Sec-WebSocket-Version: 13\r\n", version=b"HTTP/1.0")
        self.assertEqual(status, 400)

    def test_zz_a_silent_chat_is_closed_after_the_timeout(self):
        """MHD's idle timeout ends at the upgrade; the wire applies the same
        LIM_HTTP_TIMEOUT_SECS to a WebSocket that sends nothing. The bound
        is generous: only the close matters, not when exactly."""
        s, status, _, rest = self.handshake()
        self.assertEqual(status, 101)
        s.settimeout(TIMEOUT_SECS + 60)
        start = time.monotonic()
        self.assertEqual(rest, b"")
        self.assertEqual(s.recv(64), b"")  # EOF; still open at the bound raises socket.timeout
        self.assertGreaterEqual(time.monotonic() - start, TIMEOUT_SECS - 1)

    # --- /form ---------------------------------------------------------------------------

    def post(self, body, ctype="application/x-www-form-urlencoded", path="/form"):
        c = http.client.HTTPConnection(LOOPBACK, self.port(), timeout=10)
        self.addCleanup(c.close)
        c.request("POST", path, body=body, headers={"Content-Type": ctype})
        r = c.getresponse()
        return r, r.read()

    def test_form_post_decodes_and_escapes(self):
        sent = b"name=Ann+%3Cb%3E%26co&port=%32%35&empty=&flag"
        r, body = self.post(sent)
        self.assertEqual(r.status, 200, body)
        self.assertIn(b"<tr><th>name</th><td>Ann &lt;b&gt;&amp;co</td></tr>", body)
        self.assertIn(b"<tr><th>port</th><td>25</td></tr>", body)
        self.assertIn(b"<tr><th>empty</th><td></td></tr>", body)
        self.assertIn(b"<tr><th>flag</th><td></td></tr>", body)
        self.assertIn(b"4 fields in %d bytes" % len(sent), body)
        self.assertNotIn(b"<b>", body)
        # A charset parameter is fine; NUL and control bytes are shown, not sent.
        r, body = self.post(b"a=%00%07x", "application/x-www-form-urlencoded; charset=utf-8")
        self.assertEqual(r.status, 200, body)
        self.assertIn(b"<td>&#65533;&#65533;x</td>", body)
        # curl sends a browser's form.
        out = subprocess.run(["curl", "-s", "-i", "--data-urlencode", "name=Bo & <i>",
                              "http://%s:%d/form" % (LOOPBACK, self.port())],
                             capture_output=True, timeout=20, check=True).stdout
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"), out[:200])
        self.assertIn(b"<td>Bo &amp; &lt;i&gt;</td>", out)

    def test_an_early_answer_reaches_the_client_though_the_body_is_not_read(self):
        """The lab answers 415 from the head and closes without reading a
        large body; the answer must still arrive (the wire in front of
        libmicrohttpd once dropped it when the body could no longer be
        written)."""
        body = b"x" * (4 << 20)
        s = self.sock()
        s.settimeout(30)
        s.sendall(b"POST /form HTTP/1.1\r\nHost: lab\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        sent = 0
        try:  # the lab may stop reading at any point: that is the case under test
            while sent < len(body):
                sent += s.send(body[sent:sent + 65536])
        except OSError:
            pass
        status, _, _ = read_head(s)
        self.assertEqual(status, 415)

    def test_form_refusals(self):
        r, body = self.post(b"name=x", "text/plain")
        self.assertEqual(r.status, 415)
        r, body = self.post(b"name=x", "application/x-www-form-urlencodedx")
        self.assertEqual(r.status, 415)
        r, body = self.post(b"name=%zz")
        self.assertEqual(r.status, 400)
        r, body = self.post(b"name=%4")
        self.assertEqual(r.status, 400)
        s = self.sock()
        s.sendall(b"POST /form HTTP/1.1\r\nHost: lab\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n\r\n")
        status, _, _ = read_head(s)
        self.assertEqual(status, 411)
        s = self.sock()
        s.sendall(b"POST /form HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n\r\n3\r\na=b\r\n0\r\n\r\n")
        status, _, _ = read_head(s)
        self.assertEqual(status, 411)
        # POST elsewhere is still 405, and says what works there.
        r, _ = self.post(b"a=1", path="/about.html")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.getheader("Allow"), "GET, HEAD, OPTIONS")

    def test_form_body_limit_at_its_edge(self):
        body = b"a=" + b"x" * (FORM_BYTES - 2)
        r, page = self.post(body)
        self.assertEqual(r.status, 200)
        self.assertIn(b"in %d bytes" % FORM_BYTES, page)
        r, _ = self.post(body + b"x")
        self.assertEqual(r.status, 413)

    def test_form_body_limit_flag_and_env(self):
        for args, env in ((["--http-form-bytes", "10"], None),
                          ([], {"PORTLAB_HTTP_FORM_BYTES": "10"})):
            pl = self.portlab(args, env=env)
            port = pl.lab_base + HTTP_WELL_KNOWN
            for body, want in ((b"a=12345678", 200), (b"a=123456789", 413)):
                c = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
                c.request("POST", "/form", body=body,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
                r = c.getresponse()
                r.read()
                c.close()
                self.assertEqual(r.status, want, (args, env, body))

    # --- OPTIONS and HEAD --------------------------------------------------------------------

    def options(self, path):
        c = http.client.HTTPConnection(LOOPBACK, self.port(), timeout=10)
        self.addCleanup(c.close)
        c.request("OPTIONS", path)
        r = c.getresponse()
        return r, r.read()

    def test_options_on_every_route(self):
        for path in ("/", "/about.html", "/robots.txt", "/flag.html", "/private/", "/stream",
                     "/chat", "/old-page"):
            r, body = self.options(path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.getheader("Allow"), "GET, HEAD, OPTIONS", path)
            self.assertEqual(r.getheader("Content-Length"), "0", path)
            self.assertEqual(body, b"")
        r, _ = self.options("/form")
        self.assertEqual(r.getheader("Allow"), "GET, HEAD, POST, OPTIONS")
        r, _ = self.options("*")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Allow"), "GET, HEAD, POST, OPTIONS")
        r, _ = self.options("/no/such/page")
        self.assertEqual(r.status, 404)

    def test_head_of_the_form_is_get_without_body(self):
        c = http.client.HTTPConnection(LOOPBACK, self.port(), timeout=10)
        self.addCleanup(c.close)
        c.request("GET", "/form")
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200)
        self.assertIn(b'<form method="post" action="/form">', body)
        c.request("HEAD", "/form")
        r2 = c.getresponse()
        self.assertEqual(r2.read(), b"")
        self.assertEqual(r2.getheader("Content-Length"), str(len(body)))
        self.assertEqual(r2.getheader("ETag"), r.getheader("ETag"))


if __name__ == "__main__":
    main()
