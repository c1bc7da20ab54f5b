"""check_image.py -- runs the built image's binary the way the container would,
without a container engine: inside the mounted image (`podman image mount`)
with chroot --userspec as the image's user and only the image's environment,
the data folder bind-mounted at /data. Started by scripts/test-image.sh
(`make test-image`), which mounts and unmounts; it passes IMAGE_ROOT (the
mount), IMAGE_DATA (the host folder on /data), IMAGE_USER (uid:gid) and
IMAGE_ENV (the image's environment, one VAR=value a line).

Checks: the binary starts, `portlab health` (the HEALTHCHECK) answers, a
relayed SMTP session to its own lab server delivers a mail and is recorded,
SIGTERM with the session open stops it cleanly (server_shutdown) within
Docker's 10 s grace, and a restart on the same data folder keeps the
session, its transcript and the mail. Prints the time to healthy and the
stop time."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402
from harness import (LOOPBACK, Portlab, PortlabTestCase, collect, open_session,  # noqa: E402
                     send_json, transcript_bytes, unique_name, wait_closed)

ROOT = os.environ.get("IMAGE_ROOT", "")
DATA = os.environ.get("IMAGE_DATA", "")
USER = os.environ.get("IMAGE_USER", "10001:10001")
IMAGE_ENV = [line for line in os.environ.get("IMAGE_ENV", "").splitlines() if "=" in line]
CHROOT = "/usr/sbin/chroot"


class ImagePortlab(Portlab):
    """The image's /usr/local/bin/portlab in the mounted image, as its user."""

    def command(self):
        # The image listens on 0.0.0.0:8080 with the lab on 0.0.0.0; here it
        # shares the host's network, so loopback and free ports instead.
        return [CHROOT, "--userspec=" + USER, ROOT, "/usr/local/bin/portlab",
                "--listen", "%s:%d" % (LOOPBACK, self.port),
                "--lab-bind", LOOPBACK,
                "--lab-port-base", str(self.lab_base),
                "--ftp-pasv-ports", "%d-%d" % self.pasv,
                "--lab-tls-ports", "off"] + self.args  # TLS ports lie outside the block

    def environment(self):
        env = dict(line.split("=", 1) for line in IMAGE_ENV)
        env["PORTLAB_TEACHER_PASSWORD"] = self.teacher_password
        env.update(self.extra_env)
        return env

    def health_inside(self):
        """The image's HEALTHCHECK command, run in the image as its user."""
        env = self.environment()
        env["PORTLAB_LISTEN"] = "%s:%d" % (LOOPBACK, self.port)
        return subprocess.run([CHROOT, "--userspec=" + USER, ROOT, "/usr/local/bin/portlab",
                               "health"], env=env, capture_output=True, timeout=10).returncode


SMTP = [b"EHLO laptop\r\n", b"MAIL FROM:<student@lab>\r\n", b"RCPT TO:<demo@lab>\r\n",
        b"DATA\r\n", b"Subject: from the image\r\n\r\nhello from inside the image\r\n.\r\n"]


class Image(PortlabTestCase):
    SHARED = False

    def setUp(self):
        super().setUp()
        if not (ROOT and DATA):
            self.skipTest("run through scripts/test-image.sh (IMAGE_ROOT, IMAGE_DATA)")

    def until(self, ws, needle, timeout=10):
        c = collect(ws, until=lambda c: needle in bytes(c.data), timeout=timeout)
        self.assertIn(needle, bytes(c.data))
        return bytes(c.data)

    def test_health_session_shutdown_and_data_kept(self):
        pl = ImagePortlab(db="/data/portlab.db")
        self._instances.append(pl)
        t0 = time.monotonic()
        pl.start()
        healthy = time.monotonic() - t0
        self.assertEqual(pl.health_inside(), 0, "portlab health (the HEALTHCHECK) failed")
        self.assertTrue(os.path.exists(os.path.join(DATA, "portlab.db")), "no database on /data")

        tok = pl.join(unique_name())
        ws = self.ws(pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "lab", 25))
        self.until(ws, b"220 ")
        for line in SMTP:
            ws.send_binary(line)
        self.until(ws, b"250 2.0.0")
        # Left open on purpose: SIGTERM must close it as server_shutdown.
        t1 = time.monotonic()
        pl.proc.send_signal(signal.SIGTERM)
        c, closed = wait_closed(ws, timeout=10)
        self.assertEqual(closed.get("reason"), "server_shutdown", c.messages)
        rc = pl.proc.wait(harness.STOP_TIMEOUT)
        stopped = time.monotonic() - t1
        self.assertEqual(rc, 0)

        t2 = time.monotonic()
        pl.start()  # same data folder
        healthy_again = time.monotonic() - t2
        r = pl.transcript_when_ended(sid, pl.teacher())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["session"]["close_reason"], "server_shutdown")
        self.assertEqual(transcript_bytes(r.json["events"], "c2s"), b"".join(SMTP))
        # The mail is still in demo's mailbox, read through the lab POP3 server.
        ws2 = self.ws(pl.ws_connect(pl.join(unique_name())))
        self.assertOpened(open_session(ws2, "lab", 110))
        self.until(ws2, b"+OK")
        for cmd in (b"USER demo\r\n", b"PASS demo\r\n", b"STAT\r\n"):
            ws2.send_binary(cmd)
            c = collect(ws2, until=lambda c: bytes(c.data).endswith(b"\r\n"), timeout=10)
            self.assertTrue(bytes(c.data).startswith(b"+OK"), (cmd, bytes(c.data)))
        ws2.send_binary(b"RETR %d\r\n" % int(bytes(c.data).split()[1]))
        self.until(ws2, b"hello from inside the image")
        send_json(ws2, {"type": "close"})
        self.assertEqual(pl.stop(), 0)
        print("\nIMAGE: time to healthy %.2f s (restart %.2f s); SIGTERM with a session open: "
              "stopped in %.2f s" % (healthy, healthy_again, stopped))


if __name__ == "__main__":
    harness.main()
