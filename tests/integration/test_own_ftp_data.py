#!/usr/bin/python3
"""test_own_ftp_data.py -- an own FTP client's data connections are on the
record (issue 12).

A student's ftplib or curl talks to the lab FTP server: the control
conversation is an "own client" transcript, and each PASV/EPSV data
connection (LIST, RETR, STOR) is a transcript of its own, of the same
student, linked to the control session (parent_id) and named for the command
that used it (label), with exactly the bytes that crossed the data socket.
A data connection that is opened and never used ends "transfer_aborted" with
no label and no bytes.
"""
import base64
import ftplib
import io
import json
import socket
import subprocess
import time

from harness import PortlabTestCase, main, session_list, transcript_bytes, unique_name


def notes(events):
    return [e.get("text") or base64.b64decode(e.get("data_b64") or "").decode()
            for e in events if e.get("dir") == "note"]


class OwnFtpData(PortlabTestCase):
    def sessions(self, token):
        r = self.pl.get("/api/sessions", cookie=token)
        self.assertEqual(r.status, 200, r)
        return session_list(r.json)

    def wait_family(self, token, n_data, timeout=15.0):
        """The student's own FTP control session, once it and n_data data
        sessions linked to it have ended: (control, [data, oldest first])."""
        deadline = time.monotonic() + timeout
        while True:
            ss = self.sessions(token)
            ctl = [s for s in ss if s.get("own_client") and s["port"] == 21]
            if ctl:
                c = ctl[0]
                kids = sorted((s for s in ss if s.get("parent_id") == c["id"]),
                              key=lambda s: s["id"])
                if (c.get("ended_at") and len(kids) == n_data
                        and all(k.get("ended_at") for k in kids)):
                    return c, kids
            self.assertLess(time.monotonic(), deadline, "sessions: %r" % ss)
            time.sleep(0.05)

    def wait_data_open(self, token, n, timeout=15.0):
        """Until the server has accepted n data connections (their
        transcripts exist)."""
        deadline = time.monotonic() + timeout
        while sum(1 for s in self.sessions(token) if s.get("parent_id")) < n:
            self.assertLess(time.monotonic(), deadline, "fewer than %d data sessions" % n)
            time.sleep(0.02)

    def student(self, prefix):
        name = unique_name(prefix)
        r, token = self.pl.join_full(name)
        return name, r.json["lab"]["password"], token

    def data_bytes(self, sid, token):
        tr = self.pl.transcript_when_ended(sid, token)
        self.assertEqual(tr.status, 200, tr)
        ev = tr.json["events"]
        return transcript_bytes(ev, "c2s"), transcript_bytes(ev, "s2c"), tr.json

    def test_ftplib_list_retr_stor_each_a_linked_transcript(self):
        name, pw, token = self.student("fd")
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.pl.lab_base + 21, timeout=10)
        ftp.login(name, pw)
        listing = bytearray()
        ftp.retrbinary("LIST", listing.extend)
        flag = bytearray()
        ftp.retrbinary("RETR notes/ftp-flag.txt", flag.extend)
        upload = b"hello from my own client\r\nline two\n\x00\xff binary\n"
        ftp.storbinary("STOR up.bin", io.BytesIO(upload))
        ftp.quit()
        self.assertIn(b"welcome.txt", bytes(listing))
        self.assertIn(b"FLAG", bytes(flag).upper())

        ctl, kids = self.wait_family(token, 3)
        self.assertEqual(ctl["user"], name)
        self.assertEqual([k["label"] for k in kids],
                         ["LIST", "RETR notes/ftp-flag.txt", "STOR up.bin"])
        for k in kids:
            self.assertEqual(k["user"], name)  # the student's, as the control session
            self.assertTrue(k["own_client"])
            self.assertEqual(k["client_addr"], "127.0.0.1")
            self.assertEqual(k["host"], "lab")
            self.assertTrue(self.pl.pasv[0] <= k["port"] <= self.pl.pasv[1], k)
        lst, retr, stor = kids
        # Exactly the bytes that crossed each data socket, and who closed it.
        self.assertEqual(self.data_bytes(lst["id"], token)[:2], (b"", bytes(listing)))
        self.assertEqual(self.data_bytes(retr["id"], token)[:2], (b"", bytes(flag)))
        up, down, tr = self.data_bytes(stor["id"], token)
        self.assertEqual((up, down), (upload, b""))
        self.assertEqual((lst["bytes_down"], retr["bytes_down"], stor["bytes_up"]),
                         (len(listing), len(flag), len(upload)))
        self.assertEqual([k["close_reason"] for k in kids],
                         ["remote_closed", "remote_closed", "client_closed"])
        self.assertEqual(tr["session"]["parent_id"], ctl["id"])
        # The control transcript names each data transcript.
        ctl_notes = notes(self.pl.transcript_when_ended(ctl["id"], token).json["events"])
        for k in kids:
            self.assertTrue(any("data connection on port %d: transcript %d" % (k["port"], k["id"])
                                in n for n in ctl_notes), ctl_notes)
        # The exports name it as the page does.
        txt = self.pl.transcript(retr["id"], token, "txt").body.decode()
        self.assertIn("ftp-data · RETR notes/ftp-flag.txt, data connection of session %d"
                      % ctl["id"], txt)
        cast = self.pl.transcript(stor["id"], token, "cast")
        self.assertIn("ftp-data · STOR up.bin", json.loads(cast.body.split(b"\n", 1)[0])["title"])
        # Another student sees none of it.
        other = self.pl.join()
        mine = {ctl["id"]} | {k["id"] for k in kids}
        self.assertFalse({s["id"] for s in self.sessions(other)} & mine)

    def test_curl_retr(self):
        name, pw, token = self.student("fc")
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "20",
             "ftp://%s:%s@127.0.0.1:%d/notes/ftp-flag.txt" % (name, pw, self.pl.lab_base + 21)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
        self.assertTrue(out.stdout)
        ctl, kids = self.wait_family(token, 1)
        self.assertEqual(len(kids), 1)
        self.assertEqual(kids[0]["label"], "RETR ftp-flag.txt")  # curl does CWD notes first
        self.assertEqual(self.data_bytes(kids[0]["id"], token)[:2], (b"", out.stdout))

    def test_active_mode_retr(self):
        """PORT: the server connects to the client; recorded the same way,
        with the client's port."""
        name, pw, token = self.student("fa")
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.pl.lab_base + 21, timeout=10)
        ftp.login(name, pw)
        ftp.set_pasv(False)
        got = bytearray()
        ftp.retrbinary("RETR welcome.txt", got.extend)
        ftp.quit()
        self.assertIn(name.encode(), bytes(got))
        ctl, kids = self.wait_family(token, 1)
        self.assertEqual(kids[0]["label"], "RETR welcome.txt")
        self.assertGreater(kids[0]["port"], 1023)
        self.assertEqual(self.data_bytes(kids[0]["id"], token)[:2], (b"", bytes(got)))
        self.assertEqual(kids[0]["close_reason"], "remote_closed")

    def test_a_data_connection_opened_and_never_used(self):
        name, pw, token = self.student("fu")
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", self.pl.lab_base + 21, timeout=10)
        ftp.login(name, pw)
        # Opened, never used, then replaced by a fresh PASV.
        host, port = ftp.makepasv()
        s1 = socket.create_connection((host, port), timeout=10)
        self.wait_data_open(token, 1)  # the server took it before the next PASV
        host, port2 = ftp.makepasv()
        # Opened, then aborted.
        s2 = socket.create_connection((host, port2), timeout=10)
        self.wait_data_open(token, 2)
        resp = ftp.sendcmd("ABOR")
        self.assertTrue(resp.startswith("2"), resp)
        # A transfer after that still gets its own transcript.
        names = []
        ftp.retrlines("NLST", names.append)
        ftp.quit()
        s1.close()
        s2.close()
        self.assertIn("welcome.txt", names)

        ctl, kids = self.wait_family(token, 3)
        self.assertEqual([k["label"] for k in kids], ["", "", "NLST"])
        self.assertEqual([k["close_reason"] for k in kids[:2]],
                         ["transfer_aborted", "transfer_aborted"])
        for k in kids[:2]:
            self.assertEqual((k["bytes_up"], k["bytes_down"]), (0, 0))
            up, down, _ = self.data_bytes(k["id"], token)
            self.assertEqual((up, down), (b"", b""))
        self.assertEqual(kids[0]["port"], port)
        self.assertEqual(kids[1]["port"], port2)
        txt = self.pl.transcript(kids[0]["id"], token, "txt").body.decode()
        self.assertIn("ftp-data · (no transfer)", txt)
        self.assertIn("the transfer was aborted", txt)


if __name__ == "__main__":
    main()
