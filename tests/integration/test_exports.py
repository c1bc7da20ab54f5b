#!/usr/bin/python3
"""Transcript exports that stream, and session lists that page.

A transcript of several MiB is written straight into the database (portlab
reads it like any recorded session) and downloaded in every format: whole,
byte-identical to what the exports were before they streamed, slowly by
several clients at once while another student types through the relay, and
cut off half way. GET /api/sessions is paged with ?limit=&before=.
"""

import hashlib
import json
import random
import socket
import sqlite3
import struct
import time

from harness import (PortlabTestCase, main, open_session, recv_msg, BINARY, EchoServer,
                     cookie_header, unique_name, wait_closed, send_json)

EXPORT_SESSION_ID = 4242  # fixed: the pcap's client port is derived from it
EXPORT_STARTED_US = 1795000000000000
EXPORT_USER = "exporter"
EXPORT_BYTES = 3 * 1024 * 1024
EXPORT_SEED = 7

# SHA-256 of each format for build_transcript(EXPORT_USER, EXPORT_SESSION_ID,
# EXPORT_BYTES, EXPORT_SEED), taken from the build before exports streamed
# (commit c60452c, which built each export whole in memory).
GOLDEN = {
    "json": "c5f344d6360b66261aa6580c6d8548eec3a3e024de9c1ac598e0a98b17473ff0",
    "txt": "96f0204233c22383355ab2c4d1de6dcf1de0d9fa87e7b6ac7b2e88959d5ab860",
    "cast": "2df38c2e792203b5de00d357b72194c5c019687998e6c089214896cf3d4c6bc8",
    "pcap": "562a8e7c00f9dd9d683075b80fae30e99fe2bbbf66d9e6fc43d65549e7ce874b",
}

FORMATS = ("json", "txt", "cast", "pcap")


def _text_event(rnd, seq):
    """A few lines of text: CRLF and bare LF ends, a tab, an escape, UTF-8
    and broken UTF-8, and now and then a line cut by a direction change."""
    parts = []
    for i in range(rnd.randint(1, 40)):
        word = "%d-%d %s" % (seq, i, "x" * rnd.randint(0, 120))
        extra = rnd.choice(["", "\t", "\x1b[1m", "\u00e9t\u00e9", "\u20ac"])
        end = rnd.choice([b"\r\n", b"\r\n", b"\n", b"\xc3(\r\n", b"\xff\r\n"])
        parts.append((word + extra).encode("utf-8") + end)
    if rnd.random() < 0.2:
        parts.append(b"cut off")
    return b"".join(parts)


def build_transcript(db_path, user_name, sid, total, seed):
    """Writes a finished session of about total bytes of events into the
    database at db_path for user_name, deterministically from seed."""
    rnd = random.Random(seed)
    rows = [(sid, 1, 0, 0, ("%s asked for lab:25 (raw)" % user_name).encode()),
            (sid, 2, 120, 0, b"connected to lab:25 (127.0.0.1:10025)")]
    seq, t_us, size, up, down = 3, 1830, 0, 0, 0
    while size < total:
        if seq % 97 == 0:
            data, d = b"a note \x01 in the middle", 0
        else:
            d = 1 if seq % 3 == 0 else 2
            data = rnd.randbytes(rnd.randint(0, 9000)) if seq % 7 == 0 else _text_event(rnd, seq)
            size += len(data)
            if d == 1:
                up += len(data)
            else:
                down += len(data)
        rows.append((sid, seq, t_us, d, data))
        seq += 1
        t_us += rnd.randint(0, 50000)
    rows.append((sid, seq, t_us, 0, b"closed: remote_closed"))
    db = sqlite3.connect(db_path, timeout=30)
    try:
        (uid,) = db.execute("SELECT id FROM users WHERE name = ?", (user_name,)).fetchone()
        db.execute("INSERT INTO sessions(id, user_id, host, port, mode, started_us, ended_us, "
                   "bytes_up, bytes_down, close_reason) VALUES (?, ?, 'lab', 25, 'raw', ?, ?, ?, ?, "
                   "'remote_closed')",
                   (sid, uid, EXPORT_STARTED_US, EXPORT_STARTED_US + t_us + 500, up, down))
        db.executemany("INSERT INTO events(session_id, seq, t_us, dir, data) VALUES (?, ?, ?, ?, ?)",
                       rows)
        db.commit()
    finally:
        db.close()
    return len(rows)


def digest(body):
    return hashlib.sha256(body).hexdigest()


if __name__ == "__main__":
    main()
