"""test_review_lab.py -- regressions found in review of the lab servers
(protocols/lab.c, protocols/httplab.c, protocols/labident.c, db/).

Each test starts its own portlab on loopback and checks one defect that
was fixed: what the client sees, never how long anything took.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PortlabTestCase, collect, send_json, wait_closed  # noqa: E402


class LabIdentity(PortlabTestCase):
    SHARED = False

    def lesson_task(self, pl, token, lid, tid):
        r = pl.get("/api/lessons/" + lid, cookie=token)
        self.assertEqual(r.status, 200, r)
        return next(t for t in r.json["lesson"]["tasks"] if t["id"] == tid)

    def test_http_request_through_the_relay_is_credited_when_lab_binds_ipv6_loopback(self):
        # The relay reaches the lab from the lab's own address, here ::1.
        # The HTTP lab must credit the relaying student exactly as the
        # line-protocol servers do; it used to look only at 127.0.0.1.
        pl = self.portlab(["--lab-bind", "::1"])
        token = pl.join()
        ws, _ = pl.session("lab", 80, cookie=token)
        self.ws(ws)
        ws.send_binary(b"GET /robots.txt HTTP/1.1\r\nHost: lab\r\n\r\n")
        collect(ws, until=lambda c: b"Disallow" in c.data)
        send_json(ws, {"type": "close"})
        wait_closed(ws)
        self.assertTrue(self.lesson_task(pl, token, "http", "http-robots")["solved"])


if __name__ == "__main__":
    harness.main()
