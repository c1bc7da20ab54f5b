#!/usr/bin/python3
"""test_lab_tls.py -- every TLS port of the lab works with standard clients (issue 14).

The lab's CA certificate comes from GET /api/lab/ca.pem and is the only
trust anchor the clients get, so every handshake here also proves that the
lab certificate verifies against it (for 127.0.0.1 and for the name "lab").
Implicit TLS (SMTPS 465, POP3S 995, IMAPS 993, FTPS 990, HTTPS 443) and
the upgrades (SMTP STARTTLS on 25 and 587, POP3 STLS, IMAP STARTTLS, FTP
AUTH TLS with PROT P) are driven by Python's own clients, by curl and by
openssl s_client. Commands pipelined after an upgrade command are not
executed. Capabilities list the upgrade only before it. A client with the
wrong CA is refused. A TLS conversation of the student's own client is
recorded as plaintext, with the handshake as a note.
"""
import base64
import ftplib
import http.client
import imaplib
import io
import os
import poplib
import shutil
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from harness import PortlabTestCase, main, session_list, transcript_bytes, unique_name

CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl")
HOST = "127.0.0.1"


class LabTLS(PortlabTestCase):
    TLS_PORTS = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.pl.get("/api/lab/ca.pem")
        assert r.status == 200, r
        cls.ca_pem = r.body.decode()
        cls.tmp = tempfile.mkdtemp(prefix="portlab-tls-")
        cls.ca_file = os.path.join(cls.tmp, "lab-ca.pem")
        with open(cls.ca_file, "w") as f:
            f.write(cls.ca_pem)
        # Some other CA: the one Python would use by default.
        cls.wrong_ca = os.path.join(cls.tmp, "wrong-ca.pem")
        subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        os.path.join(cls.tmp, "wrong.key"), "-out", cls.wrong_ca, "-days", "2",
                        "-subj", "/CN=not the lab CA"], check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def port(self, wk):
        return self.pl.lab_base + wk

    def ctx(self, cafile=None):
        return ssl.create_default_context(cafile=cafile or self.ca_file)

    def curl(self, *args, cafile=None):
        cmd = [CURL, "-sS", "--max-time", "20", "--cacert", cafile or self.ca_file] + list(args)
        return subprocess.run(cmd, capture_output=True, timeout=30)

    # -- the CA ----------------------------------------------------------------

    def test_ca_download(self):
        r = self.pl.get("/api/lab/ca.pem")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("content-type"), "application/x-pem-file")
        self.assertTrue(self.ca_pem.startswith("-----BEGIN CERTIFICATE-----"))
        self.assertEqual(self.ca_pem.count("BEGIN"), 1)  # the certificate only, never a key
        self.assertNotIn("PRIVATE", self.ca_pem)
        out = subprocess.run([OPENSSL, "x509", "-noout", "-subject", "-ext", "basicConstraints"],
                             input=r.body, capture_output=True, check=True).stdout.decode()
        self.assertIn("portlab lab CA", out)
        self.assertIn("CA:TRUE", out)

    def test_certificate_names_lab_and_the_address(self):
        with socket.create_connection((HOST, self.port(993)), timeout=10) as raw:
            with self.ctx().wrap_socket(raw, server_hostname="lab") as tls:
                cert = tls.getpeercert()
        sans = cert["subjectAltName"]
        self.assertIn(("DNS", "lab"), sans)
        self.assertIn(("IP Address", HOST), sans)

    def test_wrong_ca_is_refused(self):
        with self.assertRaises(ssl.SSLCertVerificationError):
            smtplib.SMTP_SSL(HOST, self.port(465), timeout=10, context=self.ctx(self.wrong_ca))
        with self.assertRaises(ssl.SSLCertVerificationError):
            poplib.POP3_SSL(HOST, self.port(995), timeout=10, context=self.ctx(self.wrong_ca))
        with self.assertRaises(ssl.SSLCertVerificationError):
            http.client.HTTPSConnection(HOST, self.port(443), timeout=10,
                                        context=self.ctx(self.wrong_ca)).request("GET", "/")
        # A name the certificate does not hold.
        with socket.create_connection((HOST, self.port(993)), timeout=10) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError):
                self.ctx().wrap_socket(raw, server_hostname="mail.example.org")
        r = self.curl("pop3s://%s:%d/" % (HOST, self.port(995)), "-u", "demo:demo",
                      cafile=self.wrong_ca)
        self.assertEqual(r.returncode, 60, r.stderr)  # peer certificate cannot be authenticated

    # -- SMTP ------------------------------------------------------------------

    def test_smtps_465(self):
        s = smtplib.SMTP_SSL(HOST, self.port(465), timeout=10, context=self.ctx())
        code, text = s.ehlo("student")
        self.assertEqual(code, 250)
        self.assertNotIn(b"STARTTLS", text)
        self.assertIn(b"AUTH PLAIN LOGIN", text)
        s.login("demo", "demo")
        refused = s.sendmail("demo@lab", ["demo@lab"], b"Subject: over TLS\r\n\r\nhello\r\n")
        self.assertEqual(refused, {})
        s.quit()

    def test_smtp_starttls_25(self):
        s = smtplib.SMTP(HOST, self.port(25), timeout=10)
        code, text = s.ehlo("student")
        self.assertIn(b"STARTTLS", text)
        self.assertIn(b"AUTH PLAIN LOGIN", text)  # port 25 keeps cleartext AUTH: the lesson
        s.starttls(context=self.ctx())
        code, text = s.ehlo("student")
        self.assertEqual(code, 250)
        self.assertNotIn(b"STARTTLS", text)
        self.assertEqual(s.docmd("STARTTLS")[0], 503)  # already in TLS
        s.quit()

    def test_submission_587_auth_only_after_starttls(self):
        s = smtplib.SMTP(HOST, self.port(587), timeout=10)
        code, text = s.ehlo("student")
        self.assertIn(b"STARTTLS", text)
        self.assertNotIn(b"AUTH", text)
        code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0demo\0demo").decode())
        self.assertEqual(code, 530, text)
        s.starttls(context=self.ctx())
        code, text = s.ehlo("student")
        self.assertIn(b"AUTH PLAIN LOGIN", text)
        self.assertNotIn(b"STARTTLS", text)
        s.login("demo", "demo")
        self.assertEqual(s.sendmail("demo@lab", ["demo@lab"], b"Subject: 587\r\n\r\nx\r\n"), {})
        s.quit()

    # -- POP3 and IMAP ----------------------------------------------------------

    def test_pop3s_995(self):
        p = poplib.POP3_SSL(HOST, self.port(995), timeout=10, context=self.ctx())
        self.assertNotIn("STLS", p.capa())
        p.user("demo")
        p.pass_("demo")
        self.assertGreaterEqual(p.stat()[0], 1)
        p.quit()

    def test_pop3_stls_110(self):
        p = poplib.POP3(HOST, self.port(110), timeout=10)
        self.assertIn("STLS", p.capa())
        p.stls(context=self.ctx())
        self.assertNotIn("STLS", p.capa())
        p.user("demo")
        p.pass_("demo")
        self.assertGreaterEqual(p.stat()[0], 1)
        with self.assertRaises(poplib.error_proto):
            p._shortcmd("STLS")  # once is enough
        p.quit()

    def test_imaps_993(self):
        m = imaplib.IMAP4_SSL(HOST, self.port(993), timeout=10, ssl_context=self.ctx())
        self.assertNotIn("STARTTLS", m.capabilities)
        self.assertEqual(m.login("demo", "demo")[0], "OK")
        self.assertEqual(m.select("INBOX")[0], "OK")
        m.logout()

    def test_imap_starttls_143(self):
        m = imaplib.IMAP4(HOST, self.port(143), timeout=10)
        self.assertIn("STARTTLS", m.capabilities)
        self.assertEqual(m.starttls(ssl_context=self.ctx())[0], "OK")
        self.assertNotIn("STARTTLS", m.capabilities)  # asked again after the handshake
        self.assertEqual(m.login("demo", "demo")[0], "OK")
        self.assertEqual(m.select("INBOX")[0], "OK")
        m.logout()

    # -- FTP ---------------------------------------------------------------------

    def test_ftp_auth_tls_prot_p(self):
        f = ftplib.FTP_TLS(context=self.ctx(), timeout=10)
        f.connect(HOST, self.port(21))
        feat = f.sendcmd("FEAT")
        self.assertIn("AUTH TLS", feat)
        self.assertIn("PROT", feat)
        f.auth()
        self.assertNotIn("AUTH TLS", f.sendcmd("FEAT"))
        f.login("demo", "demo")
        f.prot_p()
        payload = os.urandom(3000) + b"\r\nend"
        f.storbinary("STOR tls-upload.bin", io.BytesIO(payload))
        got = io.BytesIO()
        f.retrbinary("RETR tls-upload.bin", got.write)
        self.assertEqual(got.getvalue(), payload)
        names = f.nlst()
        self.assertIn("tls-upload.bin", names)
        # PROT C: the data channel in the clear again, the control still in TLS.
        f.prot_c()
        self.assertIn("tls-upload.bin", f.nlst())
        f.delete("tls-upload.bin")
        f.quit()

    def test_ftp_prot_needs_pbsz_and_tls(self):
        f = ftplib.FTP(timeout=10)
        f.connect(HOST, self.port(21))
        with self.assertRaises(ftplib.error_perm) as e:
            f.sendcmd("PBSZ 0")
        self.assertTrue(str(e.exception).startswith("503"))
        with self.assertRaises(ftplib.error_perm) as e:
            f.sendcmd("PROT P")
        self.assertTrue(str(e.exception).startswith("503"))
        f.quit()

    # -- HTTPS -------------------------------------------------------------------

    def test_https_443(self):
        conn = http.client.HTTPSConnection(HOST, self.port(443), timeout=10, context=self.ctx())
        conn.request("GET", "/")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn(b"<", r.read())
        conn.close()
        # By the name "lab" too, as a browser with a hosts entry would.
        with socket.create_connection((HOST, self.port(443)), timeout=10) as raw:
            with self.ctx().wrap_socket(raw, server_hostname="lab") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n")
                self.assertTrue(tls.makefile("rb").readline().startswith(b"HTTP/1.1 200"))

    # -- curl ------------------------------------------------------------------

    @unittest.skipUnless(CURL, "curl missing")
    def test_curl_implicit_tls(self):
        mail = os.path.join(self.tmp, "mail.txt")
        with open(mail, "wb") as f:
            f.write(b"Subject: from curl\r\n\r\nsent with curl over SMTPS\r\n")
        r = self.curl("smtps://%s:%d/" % (HOST, self.port(465)), "-u", "demo:demo",
                      "--mail-from", "demo@lab", "--mail-rcpt", "demo@lab", "-T", mail)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.curl("pop3s://%s:%d/" % (HOST, self.port(995)), "-u", "demo:demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.decode(), r"(?m)^1 \d+")
        r = self.curl("imaps://%s:%d/" % (HOST, self.port(993)), "-u", "demo:demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("INBOX", r.stdout.decode())
        r = self.curl("ftps://%s:%d/" % (HOST, self.port(990)), "-u", "demo:demo", "-l")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.curl("https://%s:%d/" % (HOST, self.port(443)), "-o", "/dev/null", "-w",
                      "%{http_code}")
        self.assertEqual((r.returncode, r.stdout), (0, b"200"), r.stderr)
        r = self.curl("https://lab:%d/" % self.port(443), "--resolve",
                      "lab:%d:%s" % (self.port(443), HOST), "-o", "/dev/null", "-w",
                      "%{http_code}")
        self.assertEqual((r.returncode, r.stdout), (0, b"200"), r.stderr)

    @unittest.skipUnless(CURL, "curl missing")
    def test_curl_ssl_reqd_starttls(self):
        r = self.curl("--ssl-reqd", "pop3://%s:%d/" % (HOST, self.port(110)), "-u", "demo:demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.curl("--ssl-reqd", "imap://%s:%d/" % (HOST, self.port(143)), "-u", "demo:demo")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("INBOX", r.stdout.decode())
        r = self.curl("--ssl-reqd", "ftp://%s:%d/" % (HOST, self.port(21)), "-u", "demo:demo",
                      "-l")
        self.assertEqual(r.returncode, 0, r.stderr)
        for wk in (25, 587):
            mail = io.BytesIO(b"Subject: starttls\r\n\r\nx\r\n")
            r = subprocess.run([CURL, "-sS", "--max-time", "20", "--cacert", self.ca_file,
                                "--ssl-reqd", "smtp://%s:%d/" % (HOST, self.port(wk)), "-u",
                                "demo:demo", "--mail-from", "demo@lab", "--mail-rcpt",
                                "demo@lab", "-T", "-"], input=mail.getvalue(),
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, (wk, r.stderr))

    # -- openssl s_client --------------------------------------------------------

    @unittest.skipUnless(OPENSSL, "openssl missing")
    def test_openssl_s_client_starttls(self):
        for proto, wk in (("smtp", 25), ("smtp", 587), ("pop3", 110), ("imap", 143),
                          ("ftp", 21)):
            for ca, ok in ((self.ca_file, True), (self.wrong_ca, False)):
                r = subprocess.run([OPENSSL, "s_client", "-starttls", proto, "-connect",
                                    "%s:%d" % (HOST, self.port(wk)), "-CAfile", ca,
                                    "-verify_hostname", "lab", "-verify_return_error"],
                                   input=b"", capture_output=True, timeout=30)
                out = r.stdout.decode("utf-8", "replace")
                if ok:
                    self.assertIn("Verify return code: 0 (ok)", out, (proto, wk, r.stderr))
                    self.assertIn("BEGIN CERTIFICATE", out)
                else:
                    self.assertNotEqual(r.returncode, 0, (proto, wk))
                    self.assertNotIn("Verify return code: 0 (ok)", out, (proto, wk))

    # -- STARTTLS injection (CVE-2011-0411 class) ----------------------------------

    def upgrade(self, wk, before, command, injected, expect_go, after, read_greeting=True):
        """Sends before, then command with injected pipelined in the same
        write; reads the go-ahead, handshakes and sends after. Returns what
        the server said inside TLS."""
        raw = socket.create_connection((HOST, self.port(wk)), timeout=10)
        f = raw.makefile("rb")
        if read_greeting:
            f.readline()
        for line in before:
            raw.sendall(line)
            self.read_reply(f, line)
        raw.sendall(command + injected)
        go = f.readline()
        self.assertTrue(go.startswith(expect_go), go)
        tls = self.ctx().wrap_socket(raw, server_hostname=HOST)
        tls.settimeout(10)
        g = tls.makefile("rb")
        got = b""
        for line in after:
            tls.sendall(line)
            got += self.read_reply(g, line)
        tls.close()
        return got

    @staticmethod
    def read_reply(f, sent):
        """One whole reply: SMTP/FTP multi-line, IMAP up to the tagged line."""
        data = f.readline()
        if sent[:2] in (b"a1", b"a2", b"a3", b"a4"):
            while not data.splitlines()[-1].startswith(sent[:3]):
                data += f.readline()
        elif len(data) > 3 and data[3:4] == b"-":
            while True:
                line = f.readline()
                data += line
                if line[3:4] != b"-":
                    break
        return data

    def test_pipelined_commands_after_the_upgrade_are_not_executed(self):
        # SMTP: MAIL FROM pipelined after STARTTLS must not make RCPT legal.
        got = self.upgrade(25, [b"EHLO x\r\n"], b"STARTTLS\r\n", b"MAIL FROM:<evil@lab>\r\n",
                           b"220 ", [b"EHLO y\r\n", b"RCPT TO:<demo@lab>\r\n"])
        self.assertNotIn(b"2.1.0", got)
        self.assertIn(b"503 5.5.1", got)
        # POP3: USER pipelined after STLS must not make PASS work.
        got = self.upgrade(110, [], b"STLS\r\n", b"USER demo\r\n", b"+OK",
                           [b"PASS demo\r\n"])
        self.assertTrue(got.startswith(b"-ERR"), got)
        # IMAP: a LOGIN pipelined after STARTTLS must not log in.
        got = self.upgrade(143, [], b"a1 STARTTLS\r\n", b"a2 LOGIN demo demo\r\n", b"a1 OK",
                           [b"a3 SELECT INBOX\r\n"])
        self.assertIn(b"a3 BAD", got)
        self.assertNotIn(b"a2", got)
        # FTP: USER pipelined after AUTH TLS must not make PASS work.
        got = self.upgrade(21, [], b"AUTH TLS\r\n", b"USER demo\r\n", b"234",
                           [b"PASS demo\r\n"])
        self.assertTrue(got.startswith(b"503"), got)

    def test_cleartext_after_starttls_ends_the_connection(self):
        raw = socket.create_connection((HOST, self.port(25)), timeout=10)
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"STARTTLS\r\n")
        self.assertTrue(f.readline().startswith(b"220 2.0.0"))
        raw.sendall(b"EHLO not-a-client-hello\r\n")
        rest = f.read()  # an alert at most, then the server closes
        self.assertNotIn(b"250", rest)
        raw.close()

    # -- own-client recording --------------------------------------------------------

    def own_session(self, token, port):
        """The student's ended own-client session on lab port `port`, with
        its transcript's events."""
        deadline = time.monotonic() + 15
        while True:
            r = self.pl.get("/api/sessions", cookie=token)
            own = [s for s in session_list(r.json)
                   if s.get("own_client") and s["port"] == port and s.get("ended_at")]
            if own:
                break
            self.assertLess(time.monotonic(), deadline, r.json)
            time.sleep(0.05)
        tr = self.pl.transcript_when_ended(own[0]["id"], token)
        return tr.json["session"], tr.json["events"]

    def assert_keys(self, session):
        keys = self.pl.transcript(session["id"], self.pl.teacher(), "keylog")
        self.assertEqual(keys.status, 200, keys)
        self.assertIn(b"CLIENT_TRAFFIC_SECRET_0 ", keys.body)

    def test_own_client_tls_session_is_recorded_with_both_layers(self):
        name = unique_name("tls")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        p = poplib.POP3_SSL(HOST, self.port(995), timeout=10, context=self.ctx())
        p.user(name)
        p.pass_(pw)
        p.stat()
        p.quit()
        s, events = self.own_session(token, 995)
        self.assertEqual(s["tls"], "tls")
        up = transcript_bytes(events, "c2s", wire=False)
        self.assertTrue(up.startswith(b"USER %s\r\n" % name.encode()), up)
        self.assertIn(b"PASS %s\r\n" % pw.encode(), up)
        self.assertTrue(transcript_bytes(events, "s2c", wire=False).startswith(b"+OK"))
        notes = [e.get("text") or base64.b64decode(e.get("data_b64") or "").decode()
                 for e in events if e.get("dir") == "note"]
        self.assertTrue(any(n.startswith("TLS handshake done: TLSv1.3") for n in notes), notes)
        # The wire layer: TLS records from the first byte each way (a
        # handshake record), never the plaintext; the counters count them.
        wire_up = transcript_bytes(events, "c2s", wire=True)
        wire_down = transcript_bytes(events, "s2c", wire=True)
        self.assertEqual(wire_up[:1], b"\x16", wire_up[:16])
        self.assertEqual(wire_down[:1], b"\x16", wire_down[:16])
        self.assertNotIn(pw.encode(), wire_up)
        self.assertNotIn(b"+OK", wire_down)
        self.assertEqual(s["bytes_up"], len(wire_up))
        self.assertEqual(s["bytes_down"], len(wire_down))
        self.assert_keys(s)

    def test_own_client_starttls_session_is_cleartext_then_records(self):
        name = unique_name("stls")
        r, token = self.pl.join_full(name)
        pw = r.json["lab"]["password"]
        c = smtplib.SMTP(HOST, self.port(587), timeout=10)
        c.ehlo("student")
        c.starttls(context=self.ctx())
        c.ehlo("student")
        c.login(name, pw)
        c.quit()
        s, events = self.own_session(token, 587)
        self.assertEqual(s["tls"], "starttls")
        first = next(i for i, e in enumerate(events) if e.get("layer") == "wire")
        clear_up, clear_down = transcript_bytes(events[:first], "c2s", wire=False), transcript_bytes(
            events[:first], "s2c", wire=False)
        self.assertEqual(clear_up, b"ehlo student\r\nSTARTTLS\r\n")
        self.assertTrue(clear_down.startswith(b"220 ") and clear_down.endswith(b"\r\n"),
                        clear_down)
        # The plaintext goes on after the upgrade; the wire holds records.
        self.assertIn(b"AUTH PLAIN ", transcript_bytes(events[first:], "c2s", wire=False))
        wire_up = transcript_bytes(events, "c2s", wire=True)
        wire_down = transcript_bytes(events, "s2c", wire=True)
        self.assertEqual(wire_up[:1], b"\x16", wire_up[:16])
        self.assertEqual(wire_down[:1], b"\x16", wire_down[:16])
        self.assertNotIn(b"AUTH", wire_up)
        # What crossed the network: the cleartext part, then the records.
        self.assertEqual(s["bytes_up"], len(clear_up) + len(wire_up))
        self.assertEqual(s["bytes_down"], len(clear_down) + len(wire_down))
        self.assert_keys(s)


class LabTLSCertificate(PortlabTestCase):
    """The CA stays; the server certificate follows the configured names."""
    SHARED = False

    def names(self, pl):
        with socket.create_connection((HOST, pl.lab_base + 995), timeout=10) as raw:
            ctx = ssl.create_default_context(cadata=pl.get("/api/lab/ca.pem").body.decode())
            with ctx.wrap_socket(raw, server_hostname="lab") as tls:
                return tls.getpeercert()["subjectAltName"]

    def test_public_host_renews_the_certificate_not_the_ca(self):
        pl = self.portlab(tls_ports=True)
        ca = pl.get("/api/lab/ca.pem").body
        self.assertNotIn(("IP Address", "127.0.0.5"), self.names(pl))
        self.assertEqual(pl.stop(), 0)
        pl.args += ["--lab-public-host", "127.0.0.5"]
        pl.start()
        self.assertEqual(pl.get("/api/lab/ca.pem").body, ca)
        self.assertIn(("IP Address", "127.0.0.5"), self.names(pl))
        self.assertIn(("DNS", "lab"), self.names(pl))

    def test_tls_ports_off(self):
        pl = self.portlab()  # the harness default: --lab-tls-ports off
        self.assertNotIn("(TLS) listening", pl.logs())
        self.assertIn("lab server pop3 listening", pl.logs())
        # STARTTLS is still offered on the cleartext ports.
        p = poplib.POP3(HOST, pl.lab_base + 110, timeout=10)
        self.assertIn("STLS", p.capa())
        p.stls(context=ssl.create_default_context(cadata=pl.get("/api/lab/ca.pem").body.decode()))
        p.user("demo")
        p.pass_("demo")
        p.quit()


if __name__ == "__main__":
    main()
