"""test_tls_relay.py -- the relay as a TLS client: mode "tls", "starttls" on a
raw session, the two-layer transcript, the pcap with the key log (tshark), a
bad certificate refused, "+insecure" rules, and the key-log setting.

The TLS servers are Python's ssl module on 127.0.0.1 with certificates made
by the openssl command line at class set-up: a test CA (given to portlab with
--tls-ca) and a leaf for IP:127.0.0.1, and a self-signed certificate."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (EchoServer, Portlab, PortlabTestCase, Response, collect,  # noqa: E402
                     cookie_header, expect_text, open_session, open_with_data, send_json,
                     transcript_bytes, wait_closed)

SECRET = b"hunter2-the-password"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_certs(d):
    """ca.pem/ca.key, leaf.pem/leaf.key (signed by the CA, IP:127.0.0.1) and
    self.pem/self.key (self-signed, IP:127.0.0.1)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
            "-subj", "/CN=portlab test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1",
            cwd=d)
    with open(os.path.join(d, "leaf.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "30", "-extfile", "leaf.ext", cwd=d)
    openssl("req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "30",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)


class LineTLSServer:
    """A small line server on 127.0.0.1: greets "220 ready", answers each
    line with "250 got LINE". implicit: TLS from the first byte. Otherwise
    cleartext until "STARTTLS", answered "220 Go ahead", then TLS. Every
    plaintext line it received is kept in self.lines."""

    def __init__(self, cert, key, implicit):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.implicit = implicit
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.lines = []
        self.handshake_errors = []
        self.lock = threading.Lock()
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        s.settimeout(20)
        try:
            if self.implicit:
                s = self._wrap(s)
                if s is None:
                    return
            s.sendall(b"220 ready\r\n")
            buf = b""
            while True:
                data = s.recv(4096)
                if not data:
                    return
                buf += data
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    with self.lock:
                        self.lines.append(line)
                    if line.upper() == b"STARTTLS" and not isinstance(s, ssl.SSLSocket):
                        s.sendall(b"220 Go ahead\r\n")
                        buf = b""  # RFC 3207: nothing pipelined before TLS counts
                        s = self._wrap(s)
                        if s is None:
                            return
                    elif line.upper() == b"QUIT":
                        s.sendall(b"221 bye\r\n")
                        return
                    else:
                        s.sendall(b"250 got " + line + b"\r\n")
        except OSError:
            pass
        finally:
            try:
                if s is not None:
                    s.close()
            except OSError:
                pass

    def _wrap(self, s):
        try:
            return self.ctx.wrap_socket(s, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.lock:
                self.handshake_errors.append(str(e))
            s.close()
            return None

    def close(self):
        self.closing = True
        try:
            self.sock.close()
        except OSError:
            pass


class TLSRelay(PortlabTestCase):
    @classmethod
    def class_args(cls):
        cls.certdir = tempfile.mkdtemp(prefix="portlab-tls-")
        make_certs(cls.certdir)
        c = lambda n: os.path.join(cls.certdir, n)  # noqa: E731
        cls.good = cls.class_server(LineTLSServer(c("leaf.pem"), c("leaf.key"), True))
        cls.bad = cls.class_server(LineTLSServer(c("self.pem"), c("self.key"), True))
        cls.lax = cls.class_server(LineTLSServer(c("self.pem"), c("self.key"), True))
        cls.upgrade = cls.class_server(LineTLSServer(c("leaf.pem"), c("leaf.key"), False))
        return ["--tls-ca", c("ca.pem"),
                "--allow", "127.0.0.1:%d" % cls.good.port,
                "--allow", "127.0.0.1:%d" % cls.bad.port,
                "--allow", "127.0.0.1:%d+insecure" % cls.lax.port,
                "--allow", "127.0.0.1:%d" % cls.upgrade.port]

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)

    def open_tls(self, port, cookie=None):
        cookie = cookie or self.pl.join()
        ws = self.ws(self.pl.ws_connect(cookie))
        return cookie, ws, open_session(ws, "127.0.0.1", port, "tls")

    def read_until(self, ws, want):
        c = collect(ws, until=lambda c: want in bytes(c.data), timeout=10)
        self.assertIn(want, bytes(c.data), c.messages)
        return c

    def tls_session(self, cookie=None):
        """A whole TLS session with the good server; returns (cookie, sid)."""
        cookie, ws, opened = self.open_tls(self.good.port, cookie)
        self.assertEqual(opened.get("type"), "opened", opened)
        self.assertEqual(opened.get("mode"), "tls", opened)
        sid = opened["session_id"]
        c = self.read_until(ws, b"220 ready\r\n")
        tls = c.of_type("tls")
        self.assertEqual(len(tls), 1, c.messages)
        self.assertIs(tls[0]["verified"], True, tls)
        self.assertIn("verification: ok", tls[0]["summary"])
        ws.send_binary(b"LOGIN " + SECRET + b"\r\n")
        self.read_until(ws, b"250 got LOGIN " + SECRET + b"\r\n")
        ws.send_binary(b"QUIT\r\n")
        c, closed = wait_closed(ws, timeout=10)
        self.assertEqual(closed and closed.get("reason"), "remote_closed", c.messages)
        return cookie, sid

    # -- mode tls ---------------------------------------------------------

    def test_tls_mode_exact_plaintext_and_two_layers(self):
        cookie, sid = self.tls_session()
        r = self.pl.transcript_when_ended(sid, cookie)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["session"]["tls"], "tls")
        self.assertEqual(r.json["session"]["mode"], "raw")
        events = r.json["events"]
        plain = [e for e in events if e.get("layer") != "wire"]
        wire = [e for e in events if e.get("layer") == "wire"]
        self.assertEqual(transcript_bytes(plain, "c2s"), b"LOGIN " + SECRET + b"\r\nQUIT\r\n")
        self.assertEqual(transcript_bytes(plain, "s2c"),
                         b"220 ready\r\n250 got LOGIN " + SECRET + b"\r\n221 bye\r\n")
        wire_up = transcript_bytes(wire, "c2s")
        wire_down = transcript_bytes(wire, "s2c")
        # A ClientHello (handshake record, type 22) goes first; the wire
        # never carries the password.
        self.assertEqual(wire_up[0], 22, wire_up[:8])
        self.assertEqual(wire_down[0], 22, wire_down[:8])
        self.assertNotIn(SECRET, wire_up + wire_down)
        self.assertEqual(r.json["session"]["bytes_up"], len(wire_up))
        self.assertEqual(r.json["session"]["bytes_down"], len(wire_down))
        notes = [e["text"] for e in events if e["dir"] == "note"]
        self.assertTrue(any(n.startswith("tls: TLS version: TLSv1.") for n in notes), notes)
        self.assertIn("tls: verification: ok", notes)
        self.assertTrue(any("SANs" in n and "IP:127.0.0.1" in n for n in notes), notes)
        # The text export shows the plaintext only.
        txt = self.pl.transcript(sid, cookie, "txt")
        self.assertIn(b"C: LOGIN " + SECRET, txt.body)
        self.assertEqual(txt.body.count(b"C: "), 2, txt.body)

    def test_typed_while_connecting_goes_through_tls(self):
        # Sent in the same write as open, so it is read while the
        # connection is still being made: it must wait for the handshake
        # and the certificate, never go out ahead of the ClientHello.
        cookie = self.pl.join()
        ws = self.ws(self.pl.ws_connect(cookie))
        opened = open_with_data(ws, "127.0.0.1", self.good.port, "tls",
                                b"LOGIN " + SECRET + b"\r\n")
        self.assertEqual(opened.get("type"), "opened", opened)
        self.read_until(ws, b"250 got LOGIN " + SECRET + b"\r\n")
        ws.send_binary(b"QUIT\r\n")
        wait_closed(ws, timeout=10)
        r = self.pl.transcript_when_ended(opened["session_id"], cookie)
        wire_up = transcript_bytes([e for e in r.json["events"] if e.get("layer") == "wire"],
                                   "c2s")
        self.assertEqual(wire_up[0], 22, wire_up[:32])
        self.assertNotIn(SECRET, wire_up)

    def test_pcap_decrypts_with_the_key_log(self):
        if not shutil.which("tshark"):
            self.skipTest("tshark is not installed")
        cookie, sid = self.tls_session()
        self.pl.transcript_when_ended(sid, cookie)
        pcap = self.pl.transcript(sid, cookie, "pcap")
        keys = self.pl.transcript(sid, cookie, "keylog")
        self.assertEqual(pcap.status, 200, pcap)
        self.assertEqual(keys.status, 200, keys)
        self.assertIn(b"CLIENT_TRAFFIC_SECRET_0 ", keys.body)
        self.assertNotIn(SECRET, pcap.body)
        d = tempfile.mkdtemp(prefix="portlab-pcap-")
        try:
            p, k = os.path.join(d, "s.pcap"), os.path.join(d, "s.keys")
            with open(p, "wb") as f:
                f.write(pcap.body)
            with open(k, "wb") as f:
                f.write(keys.body)
            port = str(self.good.port)
            base = ["tshark", "-r", p, "-o", "tcp.desegment_tcp_streams:TRUE",
                    "-d", "tcp.port==%s,tls" % port]
            hs = subprocess.run(base + ["-Y", "tls.handshake.type == 1", "-T", "fields",
                                        "-e", "frame.number"],
                                capture_output=True, timeout=60)
            self.assertEqual(hs.returncode, 0, hs.stderr)
            self.assertTrue(hs.stdout.strip(), "tshark found no ClientHello")
            # Without the keys, no application data can be read.
            blind = subprocess.run(base + ["-x"], capture_output=True, timeout=60)
            self.assertNotIn(SECRET, blind.stdout)
            dec = subprocess.run(base + ["-o", "tls.keylog_file:" + k, "-x"],
                                 capture_output=True, timeout=60)
            self.assertEqual(dec.returncode, 0, dec.stderr)
            self.assertIn(b"hunter2", dec.stdout.replace(b"\n", b""),
                          "tshark did not decrypt the session with the key log")
            data = subprocess.run(base + ["-o", "tls.keylog_file:" + k, "-Y", "tls.app_data",
                                          "-T", "fields", "-e", "frame.number"],
                                  capture_output=True, timeout=60)
            self.assertTrue(data.stdout.strip(), data.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_bad_certificate_refused_with_reason(self):
        before = len(self.bad.lines)
        cookie, ws, opened = self.open_tls(self.bad.port)
        self.assertEqual(opened.get("type"), "opened", opened)
        ws.send_binary(b"LOGIN " + SECRET + b"\r\n")  # typed at once: must never be sent
        c = collect(ws, until=lambda c: bool(c.of_type("error")), timeout=10)
        err = c.of_type("error")
        self.assertEqual(len(err), 1, c.messages)
        self.assertEqual(err[0]["code"], "tls_failed")
        self.assertIn("did not verify", err[0]["message"])
        self.assertIn("self-signed", err[0]["message"])
        self.assertEqual(bytes(c.data), b"")
        self.assertEqual(len(self.bad.lines), before)
        r = self.pl.transcript_when_ended(opened["session_id"], cookie)
        self.assertEqual(r.json["session"]["close_reason"], "tls_failed")
        plain = [e for e in r.json["events"] if e.get("layer") != "wire"]
        self.assertEqual(transcript_bytes(plain, "c2s"), b"")

    def test_insecure_rule_goes_on_with_a_note(self):
        cookie, ws, opened = self.open_tls(self.lax.port)
        self.assertEqual(opened.get("type"), "opened", opened)
        c = self.read_until(ws, b"220 ready\r\n")
        tls = c.of_type("tls")
        self.assertEqual(len(tls), 1, c.messages)
        self.assertIs(tls[0]["verified"], False)
        notes = [m["text"] for m in c.of_type("note")]
        self.assertTrue(any("+insecure" in n and "self-signed" in n for n in notes), notes)
        ws.send_binary(b"NOOP\r\n")
        self.read_until(ws, b"250 got NOOP\r\n")
        send_json(ws, {"type": "close"})
        wait_closed(ws)

    # -- starttls ---------------------------------------------------------

    def test_starttls_upgrades_the_same_connection(self):
        cookie = self.pl.join()
        ws = self.ws(self.pl.ws_connect(cookie))
        opened = open_session(ws, "127.0.0.1", self.upgrade.port)
        self.assertEqual(opened.get("mode"), "raw", opened)
        sid = opened["session_id"]
        self.read_until(ws, b"220 ready\r\n")
        # Not asked yet: refused, the session goes on.
        send_json(ws, {"type": "starttls"})
        m = expect_text(ws)
        self.assertEqual((m["type"], m["code"]), ("error", "starttls_refused"), m)
        ws.send_binary(b"EHLO me\r\n")
        self.read_until(ws, b"250 got EHLO me\r\n")
        ws.send_binary(b"STARTTLS\r\n")
        self.read_until(ws, b"220 Go ahead\r\n")
        send_json(ws, {"type": "starttls"})
        c = collect(ws, until=lambda c: bool(c.of_type("tls")) or bool(c.of_type("error")),
                    timeout=10)
        tls = c.of_type("tls")
        self.assertEqual(len(tls), 1, c.messages)
        self.assertIs(tls[0]["verified"], True)
        ws.send_binary(b"AUTH " + SECRET + b"\r\n")
        self.read_until(ws, b"250 got AUTH " + SECRET + b"\r\n")
        send_json(ws, {"type": "starttls"})  # a second time: refused
        m = expect_text(ws)
        self.assertEqual(m.get("code"), "starttls_refused", m)
        send_json(ws, {"type": "close"})
        c, closed = wait_closed(ws, timeout=10)
        self.assertEqual(closed and closed.get("reason"), "client_closed", c.messages)
        r = self.pl.transcript_when_ended(sid, cookie)
        self.assertEqual(r.json["session"]["tls"], "starttls")
        events = r.json["events"]
        plain = [e for e in events if e.get("layer") != "wire"]
        self.assertEqual(transcript_bytes(plain, "c2s"),
                         b"EHLO me\r\nSTARTTLS\r\nAUTH " + SECRET + b"\r\n")
        self.assertEqual(transcript_bytes(plain, "s2c"),
                         b"220 ready\r\n250 got EHLO me\r\n220 Go ahead\r\n250 got AUTH "
                         + SECRET + b"\r\n")
        # The wire: the cleartext part, then TLS records only.
        first_wire = next(i for i, e in enumerate(events) if e.get("layer") == "wire")
        wire = [e for e in events[:first_wire] if e["dir"] != "note"] + \
            [e for e in events[first_wire:] if e.get("layer") == "wire"]
        up = transcript_bytes(wire, "c2s")
        self.assertTrue(up.startswith(b"EHLO me\r\nSTARTTLS\r\n\x16\x03"), up[:40])
        self.assertNotIn(SECRET, up)
        with self.upgrade.lock:
            self.assertIn(b"AUTH " + SECRET, self.upgrade.lines)

    # -- the key-log setting ----------------------------------------------

    def test_keylog_export_setting_is_the_teachers(self):
        cookie, sid = self.tls_session()
        self.pl.transcript_when_ended(sid, cookie)
        teacher = self.pl.teacher()
        r = self.pl.get("/api/class", cookie=teacher)
        self.assertIs(r.json["keylog_export"], True, r.json)
        # A student cannot change it.
        r = self.pl.request("PUT", "/api/class", {"keylog_export": False}, cookie=cookie)
        self.assertEqual(r.status, 403, r)
        r = self.pl.request("PUT", "/api/class", {"keylog_export": "no"}, cookie=teacher)
        self.assertEqual(r.status, 400, r)
        try:
            r = self.pl.request("PUT", "/api/class", {"keylog_export": False}, cookie=teacher)
            self.assertEqual(r.status, 200, r)
            self.assertIs(r.json["keylog_export"], False)
            r = self.pl.transcript(sid, cookie, "keylog")
            self.assertEqual((r.status, r.error_code), (403, "forbidden"), r)
            self.assertEqual(self.pl.transcript(sid, teacher, "keylog").status, 200)
            self.assertEqual(self.pl.transcript(sid, cookie, "pcap").status, 200)
        finally:
            r = self.pl.request("PUT", "/api/class", {"keylog_export": True}, cookie=teacher)
            self.assertEqual(r.status, 200, r)
        r = self.pl.transcript(sid, cookie, "keylog")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("content-type"), "text/plain; charset=utf-8")
        # Another student's session is not theirs to read.
        other = self.pl.join()
        self.assertEqual(self.pl.transcript(sid, other, "keylog").status, 404)

    def test_keylog_of_a_cleartext_session_is_404(self):
        cookie = self.pl.join()
        ws = self.ws(self.pl.ws_connect(cookie))
        opened = open_session(ws, "127.0.0.1", self.upgrade.port)
        self.read_until(ws, b"220 ready\r\n")
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        r = self.pl.transcript_when_ended(opened["session_id"], cookie)
        self.assertIsNone(r.json["session"]["tls"])
        self.assertTrue(all("layer" not in e for e in r.json["events"]))
        r = self.pl.transcript(opened["session_id"], cookie, "keylog")
        self.assertEqual((r.status, r.error_code), (404, "not_found"), r)


class TLSRelayLab(PortlabTestCase):
    """The relay against the lab's own TLS ports: verified with the lab CA."""
    TLS_PORTS = True

    def talk(self, ws, line, until):
        ws.send_binary(line)
        c = collect(ws, until=lambda c: until in bytes(c.data), timeout=10)
        self.assertIn(until, bytes(c.data), c.messages)
        return c

    def test_imaps_993_in_tls_mode(self):
        cookie = self.pl.join()
        ws = self.ws(self.pl.ws_connect(cookie))
        opened = open_session(ws, "lab", 993, "tls")
        self.assertEqual((opened.get("type"), opened.get("mode")), ("opened", "tls"), opened)
        got = bytearray()
        c = collect(ws, until=lambda c: b"\r\n" in bytes(c.data) and c.of_type("tls"), timeout=10)
        tls = c.of_type("tls")
        self.assertEqual(len(tls), 1, c.messages)
        self.assertIs(tls[0]["verified"], True, tls)
        self.assertIn("DNS:lab", tls[0]["summary"])
        got += c.data
        self.assertTrue(bytes(got).startswith(b"* OK"), got)
        got += self.talk(ws, b"a1 LOGIN demo demo\r\n", b"a1 OK").data
        got += self.talk(ws, b"a2 LOGOUT\r\n", b"a2 OK").data
        c, closed = wait_closed(ws, timeout=10)
        got += c.data
        r = self.pl.transcript_when_ended(opened["session_id"], cookie)
        self.assertEqual(r.json["session"]["tls"], "tls")
        plain = [e for e in r.json["events"] if e.get("layer") != "wire"]
        wire = [e for e in r.json["events"] if e.get("layer") == "wire"]
        self.assertEqual(transcript_bytes(plain, "c2s"), b"a1 LOGIN demo demo\r\na2 LOGOUT\r\n")
        self.assertEqual(transcript_bytes(plain, "s2c"), bytes(got))
        self.assertNotIn(b"LOGIN demo", transcript_bytes(wire, "c2s"))

    def test_smtp_starttls_on_25(self):
        cookie = self.pl.join()
        ws = self.ws(self.pl.ws_connect(cookie))
        opened = open_session(ws, "lab", 25)
        self.assertEqual(opened.get("mode"), "raw", opened)
        got = bytearray(collect(ws, until=lambda c: b"\r\n" in bytes(c.data), timeout=10).data)
        got += self.talk(ws, b"EHLO me\r\n", b"250 ").data
        self.assertIn(b"STARTTLS", bytes(got))
        got += self.talk(ws, b"STARTTLS\r\n", b"220 ").data
        send_json(ws, {"type": "starttls"})
        c = collect(ws, until=lambda c: c.of_type("tls") or c.of_type("error"), timeout=10)
        tls = c.of_type("tls")
        self.assertEqual(len(tls), 1, c.messages)
        self.assertIs(tls[0]["verified"], True, tls)
        got += c.data
        c = self.talk(ws, b"EHLO me\r\n", b"250 ")
        got += c.data
        got += self.talk(ws, b"QUIT\r\n", b"221").data
        c, closed = wait_closed(ws, timeout=10)
        got += c.data
        r = self.pl.transcript_when_ended(opened["session_id"], cookie)
        self.assertEqual(r.json["session"]["tls"], "starttls")
        plain = [e for e in r.json["events"] if e.get("layer") != "wire"]
        self.assertEqual(transcript_bytes(plain, "c2s"),
                         b"EHLO me\r\nSTARTTLS\r\nEHLO me\r\nQUIT\r\n")
        self.assertEqual(transcript_bytes(plain, "s2c"), bytes(got))
        # After the upgrade the server offers AUTH and no longer STARTTLS.
        after = bytes(got).split(b"220 ", 2)[-1]
        self.assertNotIn(b"STARTTLS", after.split(b"\r\n", 1)[1])


class HTTPSPortlab(Portlab):
    """A portlab started with --tls-cert/--tls-key, spoken to over HTTPS and
    WSS with the test CA."""

    def __init__(self, args, ca, **kw):
        super().__init__(args, **kw)
        self.ca = ca

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx

    @property
    def origin(self):
        return "https://%s:%d" % (self.url_host, self.port)

    def ws_url(self):
        return "wss://%s:%d/ws" % (self.url_host, self.port)

    def ws_connect(self, cookie, **kw):
        return super().ws_connect(cookie, sslopt={"ca_certs": self.ca}, **kw)

    def request(self, method, path, body=None, cookie=None, headers=None, timeout=10, **kw):
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        if cookie:
            hdrs["Cookie"] = cookie_header(cookie)
        hdrs.update(headers or {})
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                           context=self.ssl_context())
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body).encode(),
                         headers=hdrs)
            resp = conn.getresponse()
            return Response(resp.status, resp.msg, resp.read())
        finally:
            conn.close()

    def peer_serial(self):
        """The serial number of the certificate the portal presents now."""
        with socket.create_connection((self.host, self.port), timeout=10) as raw:
            with self.ssl_context().wrap_socket(raw, server_hostname=self.host) as s:
                return s.getpeercert()["serialNumber"]


class PortalHTTPS(PortlabTestCase):
    SHARED = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.certdir = tempfile.mkdtemp(prefix="portlab-https-")
        make_certs(cls.certdir)

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            shutil.rmtree(cls.certdir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.certdir, name)

    def start_https(self, extra=()):
        cert, key = self.path("portal.pem"), self.path("portal.key")
        shutil.copy(self.path("leaf.pem"), cert)
        shutil.copy(self.path("leaf.key"), key)
        pl = HTTPSPortlab(["--tls-cert", cert, "--tls-key", key] + list(extra), self.path("ca.pem"))
        self._instances.append(pl)
        pl.start()
        return pl, cert, key

    def test_portal_over_https_and_wss_with_secure_cookies(self):
        echo = self.echo_server()
        pl, cert, key = self.start_https(["--allow", "127.0.0.1:%d" % echo.port])
        self.assertEqual(pl.get("/api/health").status, 200)
        r, token = pl.join_full(harness.unique_name())
        self.assertEqual(r.status, 201, r)
        self.assertIn("Secure", r.headers.get("Set-Cookie"), r.headers)
        ws = self.ws(pl.ws_connect(token))
        opened = open_session(ws, "127.0.0.1", echo.port)
        self.assertEqual(opened.get("type"), "opened", opened)
        ws.send_binary(b"over wss\r\n")
        c = collect(ws, until=lambda c: len(c.data) >= 10, timeout=10)
        self.assertEqual(bytes(c.data), b"over wss\r\n")
        # Plain HTTP on that port is no longer the portal.
        with self.assertRaises((http.client.HTTPException, OSError)):
            conn = http.client.HTTPConnection(pl.host, pl.port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                raise AssertionError("plain HTTP answered 200")
        # The health subcommand speaks HTTPS too.
        h = subprocess.run([harness.BIN, "health", "--listen", "127.0.0.1:%d" % pl.port,
                            "--tls-cert", cert, "--tls-key", key], capture_output=True, timeout=30)
        self.assertEqual(h.returncode, 0, h.stderr)

    def test_sighup_reloads_the_certificate(self):
        pl, cert, key = self.start_https()
        first = pl.peer_serial()
        # A broken pair is refused and the old one kept.
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        pl.proc.send_signal(signal.SIGHUP)
        self.wait_log(pl, "certificate not reloaded")
        self.assertEqual(pl.peer_serial(), first)
        # A new certificate for the same key: new connections get it.
        openssl("req", "-new", "-key", "leaf.key", "-out", "renew.csr", "-subj", "/CN=127.0.0.1",
                cwd=self.certdir)
        openssl("x509", "-req", "-in", "renew.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "renew.pem", "-days", "30", "-extfile", "leaf.ext",
                cwd=self.certdir)
        shutil.copy(self.path("renew.pem"), cert)
        pl.proc.send_signal(signal.SIGHUP)
        self.wait_log(pl, "certificate %s reloaded" % cert)
        second = pl.peer_serial()
        self.assertNotEqual(second, first)
        self.assertEqual(pl.get("/api/health").status, 200)

    def wait_log(self, pl, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(pl.stderr_path, "rb") as f:
                err = f.read().decode("utf-8", "replace")
            with open(pl.stdout_path, "rb") as f:
                err += f.read().decode("utf-8", "replace")
            if text in err:
                return
            time.sleep(0.05)
        raise AssertionError("no %r in the log\n%s" % (text, pl.logs()))

    def test_cert_without_key_is_refused_at_start(self):
        r = subprocess.run([harness.BIN, "--tls-cert", self.path("leaf.pem"), "--db", ":memory:"],
                           capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"--tls-cert and --tls-key go together", r.stderr)
        r = subprocess.run([harness.BIN, "--tls-cert", self.path("leaf.pem"), "--tls-key",
                            self.path("self.key"), "--db", ":memory:", "--listen",
                            "127.0.0.1:%d" % harness.free_port()],
                           capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"is not the key of the certificate", r.stderr)


if __name__ == "__main__":
    unittest.main()
