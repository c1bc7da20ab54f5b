"""harness.py -- start a real portlab on free loopback ports and talk to it.

Every integration test imports this module. It starts the binary named by
PORTLAB_BIN (default /work/main/build/portlab) on free ports of 127.0.0.1
with a throw-away database, and offers helpers for the REST API, the
WebSocket relay protocol (portlab.v1) and small TCP servers to relay to.

Network rule: everything here talks to 127.0.0.1 (or ::1) only. Tests of
denied targets rely on the policy refusing them; no --allow rule ever
names a non-loopback address.
"""

import base64
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from loopservers import (  # noqa: F401 (re-exported: tests use harness.EchoServer)
    LOOPBACK, EchoServer, ScriptedConn, ScriptedServer, first_difference, pattern,
    pattern_slice)

import websocket  # websocket-client (Debian python3-websocket)

BIN = os.environ.get("PORTLAB_BIN", "/work/main/build/portlab")
LAB_PORTS = (21, 22, 23, 25, 43, 53, 79, 80, 110, 143)
TLS_LAB_PORTS = (443, 465, 587, 990, 993, 995)  # with --lab-tls-ports on
# A live portlab that is not healthy yet is waited for (one that exits is
# reported at once): an ASan build starting on a 2-core machine that runs
# another copy of the suite has taken more than 10 s to print its first line.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------------
# Port blocks
#
# (The lab's TLS ports, 443 to 995 above the base, do not fit in a block:
# portlab runs with --lab-tls-ports off unless a test asks for them with
# Portlab(tls_ports=True), which reserves TLS_SPAN blocks in a row.)
#
# Tests run in parallel (ctest -j, two suites at once, the browser tests)
# next to unrelated programs that listen on random ports. Every portlab a
# test starts gets a block of BLOCK_SIZE ports of its own, below the
# kernel's ephemeral range (so no outgoing connection and no bind(port 0)
# ever takes one):
#
#   first + 21 ... first + 143   the lab servers (--lab-port-base first)
#   first + 150 ... first + 165  FTP passive ports (--ftp-pasv-ports)
#   first + 170                  the portal (--listen)
#   first + 171 ... first + 199  spare ports (free_port())
#
# A block is reserved across processes by binding the abstract Unix socket
# "portlab-test-ports-FIRST" (padded to 108 bytes, as Node names them, so
# tests/e2e/helpers.mjs takes part): the kernel lets one socket hold the
# name and frees it when the process dies, so two tests never share a
# block, whatever the language and however they end. Ports that some other
# program holds are skipped before the start; if one is taken in the
# moment between, portlab exits with status 3 (address in use) and
# Portlab.start() tries again with another block.

BLOCK_FIRST = 10000
BLOCK_SIZE = 200
BLOCK_PASV = 150
BLOCK_PASV_MAX = 16
BLOCK_PORTAL = 170
BLOCK_SPARE = 171
EXIT_ADDR_IN_USE = 3
START_ATTEMPTS = 8
TLS_SPAN = 5  # blocks a portlab with its TLS ports needs: base + 995 < 5 * 200


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = f.read().split()
            return int(lo), int(hi)
    except OSError:
        return 32768, 60999


def port_bindable(port, host=LOOPBACK):
    """True if a TCP listener could bind host:port right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def listens_on(pid, port):
    """True if process pid holds a listening TCP socket on port (Linux
    /proc). Until it does, whatever answers on that port is somebody else:
    a program that took the port between the block check and our bind."""
    inodes = set()
    try:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add("socket:[%s]" % fields[9])
        fd_dir = "/proc/%d/fd" % pid
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)) in inodes:
                    return True
            except OSError:
                pass
    except OSError:
        pass
    return False


def block_firsts():
    """Every block's first port, all of it below the ephemeral range."""
    eph_lo, _ = _ephemeral_range()
    top = min(eph_lo, 65536)
    return list(range(BLOCK_FIRST, top - BLOCK_SIZE + 1, BLOCK_SIZE))


def block_lock_name(first):
    return ("\0portlab-test-ports-%d" % first).encode().ljust(108, b"\0")


class PortBlock:
    """BLOCK_SIZE ports reserved for this process until release()."""

    def __init__(self, first, lock, more_locks=()):
        self.first = first
        self._lock = lock
        self._more_locks = list(more_locks)  # the other blocks of a TLS span
        self._spare = BLOCK_SPARE

    @property
    def lab_base(self):
        return self.first

    @property
    def portal(self):
        return self.first + BLOCK_PORTAL

    def pasv(self, n=8):
        assert 1 <= n <= BLOCK_PASV_MAX, "at most %d passive ports" % BLOCK_PASV_MAX
        lo = self.first + BLOCK_PASV
        return lo, lo + n - 1

    def spare(self):
        """The next spare port, or None when the block has none left."""
        while self._spare < BLOCK_SIZE:
            port = self.first + self._spare
            self._spare += 1
            if port_bindable(port):
                return port
        return None

    def ports(self):
        lo, hi = self.pasv(BLOCK_PASV_MAX)
        return [self.first + p for p in LAB_PORTS] + list(range(lo, hi + 1)) + [self.portal]

    def release(self):
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        for lock in self._more_locks:
            lock.close()
        self._more_locks = []


_block_lock = threading.Lock()


def reserve_block(host=LOOPBACK):
    """A PortBlock no other test holds, every port of it free right now."""
    firsts = block_firsts()
    start = random.randrange(len(firsts))
    with _block_lock:
        for i in range(len(firsts)):
            first = firsts[(start + i) % len(firsts)]
            lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                lock.bind(block_lock_name(first))
            except OSError:
                lock.close()
                continue
            block = PortBlock(first, lock)
            if all(port_bindable(p) for p in block.ports()) and port_bindable(block.portal, host):
                return block
            block.release()
    raise RuntimeError("no free port block (all %d held or in use)" % len(firsts))


def _lock_block(first):
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lock.bind(block_lock_name(first))
    except OSError:
        lock.close()
        return None
    return lock


def reserve_tls_span(host=LOOPBACK):
    """A PortBlock whose next TLS_SPAN - 1 blocks are held too, so the lab's
    TLS ports (base + 443 ... base + 995) are this process's alone."""
    firsts = block_firsts()
    starts = list(range(len(firsts) - TLS_SPAN + 1))
    random.shuffle(starts)
    with _block_lock:
        for start in starts:
            locks = []
            for first in firsts[start:start + TLS_SPAN]:
                lock = _lock_block(first)
                if lock is None:
                    break
                locks.append(lock)
            if len(locks) < TLS_SPAN:
                for lock in locks:
                    lock.close()
                continue
            block = PortBlock(firsts[start], locks[0], locks[1:])
            tls = [block.first + p for p in TLS_LAB_PORTS]
            if (all(port_bindable(p) for p in block.ports() + tls)
                    and port_bindable(block.portal, host)):
                return block
            block.release()
    raise RuntimeError("no free span of %d port blocks" % TLS_SPAN)


# Blocks for the free-standing helpers below, held until the process ends.
_loose_blocks = []


def sanitizer_slack_kb(bound_kb=0):
    """Memory a sanitizer holds on purpose, for a bound of bound_kb on the
    growth of portlab's RSS. ASan keeps freed blocks in a quarantine before
    reusing them (quarantine_size_mb, 256 MB unless ASAN_OPTIONS says), and
    adds shadow memory and redzones (8 MiB is plenty for these tests).
    ThreadSanitizer shadows every byte the program touches with about four
    more, so its slack is four bounds. 0 when the suite runs without a
    sanitizer (make test-asan sets ASAN_OPTIONS, make test-tsan
    TSAN_OPTIONS)."""
    if os.environ.get("TSAN_OPTIONS") is not None:
        return 4 * bound_kb
    opts = os.environ.get("ASAN_OPTIONS")
    if opts is None:
        return 0
    quarantine = 256
    for part in opts.split(":"):
        if part.startswith("quarantine_size_mb="):
            quarantine = int(part.split("=", 1)[1])
    return (quarantine + 8) * 1024


def free_port():
    """A free port of 127.0.0.1 that no other test will be handed (from
    this process's spare ports; nothing listens on it)."""
    with _block_lock:
        for b in _loose_blocks:
            port = b.spare()
            if port is not None:
                return port
    b = reserve_block()
    with _block_lock:
        _loose_blocks.append(b)
    return b.spare()


def pick_lab_base():
    """A lab port base of a block reserved for this process."""
    b = reserve_block()
    with _block_lock:
        _loose_blocks.append(b)
    return b.lab_base


def pick_pasv_range(n=8):
    b = reserve_block()
    with _block_lock:
        _loose_blocks.append(b)
    return b.pasv(n)


class AddressInUse(AssertionError):
    """portlab exited with status 3: one of its ports was taken."""


# --------------------------------------------------------------------------
# The portlab process


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (ValueError, UnicodeDecodeError):
            self.json = None

    @property
    def error_code(self):
        try:
            return self.json["error"]["code"]
        except (TypeError, KeyError):
            return None

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


class Portlab:
    """One portlab process on free loopback ports.

    args: extra command-line arguments. env: extra environment. db: path of
    the database (default: a fresh file in the temp dir).
    """

    def __init__(self, args=(), env=None, db=None, tmpdir=None, teacher_password=None,
                 listen=True, host=LOOPBACK, tls_ports=False):
        assert host in (LOOPBACK, "::1"), "the portal listens on loopback only"
        self.host = host
        self.tls_ports = tls_ports
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="portlab-it-")
        self.db = db or os.path.join(self.tmpdir, "portlab.db")
        self.block = None
        self._take_block()
        self.teacher_password = teacher_password or secrets.token_hex(12)
        self.args = list(args)
        self.extra_env = dict(env or {})
        self.listen = listen
        self.proc = None
        self.runs = 0
        self.stdout_path = None
        self.stderr_path = None

    # -- life cycle --------------------------------------------------------

    def _take_block(self):
        """Ports from a fresh block (see Port blocks above)."""
        old = self.block
        self.block = reserve_tls_span(self.host) if self.tls_ports else reserve_block(self.host)
        if old is not None:
            old.release()
        self.port = self.block.portal
        self.lab_base = self.block.lab_base
        self.pasv = self.block.pasv()

    @property
    def origin(self):
        return "http://%s:%d" % (self.url_host, self.port)

    @property
    def url_host(self):
        return "[%s]" % self.host if ":" in self.host else self.host

    def command(self):
        cmd = [BIN]
        if self.listen:
            cmd += ["--listen", "%s:%d" % (self.url_host, self.port)]
        cmd += ["--db", self.db,
                "--lab-bind", LOOPBACK,
                "--lab-port-base", str(self.lab_base),
                "--ftp-pasv-ports", "%d-%d" % self.pasv,
                "--lab-tls-ports", "on" if self.tls_ports else "off"]
        return cmd + self.args

    def environment(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTLAB_")}
        env["PORTLAB_TEACHER_PASSWORD"] = self.teacher_password
        env.update(self.extra_env)
        return env

    def start(self, wait=True):
        """Starts portlab (and waits until it is healthy). When it exits
        with status 3 because one of its ports was taken in the meantime,
        starts it again on another block, START_ATTEMPTS times at most."""
        for attempt in range(START_ATTEMPTS):
            self._launch()
            if not wait:
                return self
            try:
                self.wait_healthy()
                return self
            except AddressInUse:
                if attempt + 1 == START_ATTEMPTS:
                    raise
                sys.stderr.write("harness: a port of block %d was taken; trying another\n"
                                 % self.block.first)
                self._take_block()
        return self

    def _launch(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if not os.path.exists(BIN):
            raise AssertionError("portlab binary not found at %s (build it first)" % BIN)
        self.runs += 1
        self.stdout_path = os.path.join(self.tmpdir, "stdout.%d.log" % self.runs)
        self.stderr_path = os.path.join(self.tmpdir, "stderr.%d.log" % self.runs)
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=err, env=self.environment(), cwd=self.tmpdir)
        out.close()
        err.close()

    def wait_healthy(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                cls = AddressInUse if rc == EXIT_ADDR_IN_USE else AssertionError
                raise cls("portlab exited with %s during start-up\n%s" % (rc, self.logs()))
            if not listens_on(self.proc.pid, self.port):
                last = "not listening on port %d yet" % self.port
                time.sleep(0.05)
                continue
            try:
                r = self.request("GET", "/api/health", timeout=2)
                if r.status == 200:
                    return r
                last = r
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.05)
        self.kill()
        raise AssertionError("portlab not healthy within %.0fs (last: %r)\n%s"
                             % (timeout, last, self.logs()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends sig and waits; returns the exit status (None if it had to be
        killed because it did not exit in time)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        return self.start()

    def logs(self, tail=120):
        text = []
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            if not path or not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            if len(lines) > tail:
                lines = ["... (%d lines omitted)" % (len(lines) - tail)] + lines[-tail:]
            text.append("---- portlab %s (%s) ----\n%s" % (label, path, "\n".join(lines)))
        return "\n".join(text)

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self.block is not None:
            self.block.release()
            self.block = None

    def rss_kb(self):
        return rss_kb(self.proc.pid)

    # -- HTTP --------------------------------------------------------------

    def request(self, method, path, body=None, cookie=None, headers=None, raw=None,
                content_type="application/json", timeout=10, source=None):
        """body: a JSON value; raw: bytes sent as they are; source: the client
        address to connect from (e.g. "127.0.0.2", to be another address).
        Returns Response."""
        hdrs = {}
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
        if data is not None and content_type is not None:
            hdrs["Content-Type"] = content_type
        if cookie:
            hdrs["Cookie"] = cookie_header(cookie)
        if headers:
            hdrs.update(headers)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                          source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            return Response(resp.status, resp.msg, payload)
        finally:
            conn.close()

    def get(self, path, cookie=None, **kw):
        return self.request("GET", path, cookie=cookie, **kw)

    def post(self, path, body=None, cookie=None, **kw):
        return self.request("POST", path, body=body, cookie=cookie, **kw)

    def join_full(self, name, **fields):
        body = {"name": name}
        body.update(fields)
        r = self.post("/api/join", body)
        return r, session_cookie(r)

    def join(self, name=None, **fields):
        """Joins as a new student; returns the cookie token (32 hex)."""
        name = name or unique_name()
        r, token = self.join_full(name, **fields)
        if r.status != 201 or not token:
            raise AssertionError("join %r failed: %r" % (name, r))
        return token

    def teacher(self):
        r = self.post("/api/teacher/login", {"password": self.teacher_password})
        token = session_cookie(r)
        if r.status != 200 or not token:
            raise AssertionError("teacher login failed: %r" % r)
        return token

    def transcript(self, sid, cookie, fmt=None):
        path = "/api/sessions/%s/transcript" % sid
        if fmt:
            path += "?format=" + fmt
        return self.get(path, cookie=cookie)

    def session_row(self, sid, cookie):
        """Session sid's row of the cookie's session list (newest first, one
        page at a time), or None when the list does not hold it."""
        before = None
        while True:
            path = "/api/sessions" + ("?before=%d" % before if before else "")
            r = self.get(path, cookie=cookie)
            if r.status != 200 or not r.json:
                return None
            for row in r.json["sessions"]:
                if row["id"] == int(sid):
                    return row
            before = r.json.get("next_before")
            if not before:
                return None

    def transcript_when_ended(self, sid, cookie, timeout=120.0):
        """The transcript once its session has ended_at. The recorder writes
        on its own thread in batches, so the end lands after 'closed': a few
        hundred ms, or seconds after a bulk transfer on a busy machine under
        a sanitizer. Waits on the session's one row of the session list
        (cheap), not by fetching the whole transcript again and again (each
        fetch of megabytes of events costs seconds there); the timeout is a
        hang guard only."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.session_row(sid, cookie)
            if row is None or row.get("ended_at"):
                break  # ended, or not this cookie's to list: the transcript answers
            time.sleep(0.05)
        return self.transcript(sid, cookie)

    # -- WebSocket ---------------------------------------------------------

    def ws_url(self):
        return "ws://%s:%d/ws" % (self.url_host, self.port)

    def ws_connect(self, cookie, origin=None, subprotocol="portlab.v1", timeout=10, **kw):
        opts = dict(kw)
        if subprotocol:
            opts["subprotocols"] = [subprotocol]
        if cookie:
            opts["cookie"] = cookie_header(cookie)
        opts["origin"] = origin if origin is not None else self.origin
        ws = websocket.create_connection(self.ws_url(), timeout=timeout, **opts)
        return ws

    def ws_from(self, cookie, src, rcvbuf=None, query=""):
        """A portlab.v1 WebSocket whose TCP peer address is src (127.0.0.2,
        ...), with a small receive buffer when given (a reader that stalls),
        on /ws plus query ("?listen=1": a broadcast listener's upgrade)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(10)
        s.bind((src, 0))
        s.connect((self.host, self.port))
        return websocket.create_connection(self.ws_url() + query, socket=s, timeout=10,
                                           subprotocols=["portlab.v1"],
                                           cookie=cookie_header(cookie), origin=self.origin)

    def session(self, host, port, mode=None, cookie=None):
        """Join (if no cookie), connect and open; returns (ws, opened msg)."""
        cookie = cookie or self.join()
        ws = self.ws_connect(cookie)
        msg = open_session(ws, host, port, mode)
        return ws, msg


class LineClient:
    """A raw TCP client for line protocols: whole lines, raw sends, and
    whether the server closed. Protocol tests add their reply rules
    (subclasses: conformance/test_smtp.py Raw, test_ftp.py Ctl). source
    binds the client's address, to appear as 127.0.0.2 and so on."""

    def __init__(self, port, timeout=10.0, host=LOOPBACK, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line + b"\n"

    def send(self, raw):
        self.sock.sendall(raw)

    def rest(self):
        """Everything the server sends until it closes: the unread replies
        and what follows (the socket's timeout fails a server that never
        closes)."""
        data, self.buf = self.buf, b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return data
            data += chunk

    def closed(self, timeout=5.0):
        """True once the server has closed (after any unread replies), by
        EOF or a reset; False if it is still open after timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def connect_from(port, source=LOOPBACK, timeout=5.0, host=LOOPBACK):
    """A TCP connection to host:port from source (127.0.0.2, ...: another
    client address on loopback)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect((host, port))
    return s


def read_greeting(s, expect, timeout=5.0):
    """Reads until the regex expect matches the start of what arrived; returns the
    bytes, or whatever came before EOF, a reset or the timeout (b"" from a
    server that never answered)."""
    data = b""
    deadline = time.monotonic() + timeout
    while not expect.match(data) and time.monotonic() < deadline:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(4096)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def unique_name(prefix="u"):
    return "%s%s" % (prefix, secrets.token_hex(6))


def cookie_header(token):
    if "=" in token:
        return token
    return "portlab_session=" + token


def session_cookie(resp):
    """The portlab_session value from Set-Cookie, or None."""
    for v in resp.headers.get_all("Set-Cookie") or []:
        first = v.split(";", 1)[0].strip()
        if first.startswith("portlab_session="):
            return first.split("=", 1)[1]
    return None


def set_cookie_header(resp):
    for v in resp.headers.get_all("Set-Cookie") or []:
        if v.strip().startswith("portlab_session="):
            return v
    return None


def session_list(resp_json):
    """GET /api/sessions may answer a list or {"sessions": [...]}."""
    if isinstance(resp_json, list):
        return resp_json
    if isinstance(resp_json, dict):
        for key in ("sessions", "items", "data"):
            if isinstance(resp_json.get(key), list):
                return resp_json[key]
    raise AssertionError("unexpected /api/sessions body: %r" % (resp_json,))


def session_user(item):
    u = item.get("user")
    if isinstance(u, dict):
        return u.get("name")
    return u if u is not None else item.get("user_name")


def find_role(obj):
    if isinstance(obj, dict):
        if isinstance(obj.get("user"), dict) and "role" in obj["user"]:
            return obj["user"]["role"]
        return obj.get("role")
    return None


# --------------------------------------------------------------------------
# WebSocket protocol helpers

CLOSE = "close"
TEXT = "text"
BINARY = "binary"
TIMEOUT = "timeout"
EOF = "eof"


def recv_msg(ws, timeout=5.0):
    """One message: (TEXT, dict-or-str), (BINARY, bytes), (CLOSE, code or
    None), (TIMEOUT, None) or (EOF, None) when the TCP connection ended.

    Reads frames itself (not recv_data) so that a close frame is reported
    even when answering it fails because the server already hung up."""
    ABNF = websocket.ABNF
    deadline = time.monotonic() + timeout
    parts = getattr(ws, "_pl_parts", None)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return TIMEOUT, None
        ws.settimeout(left)
        try:
            frame = ws.recv_frame()
        except websocket.WebSocketTimeoutException:
            return TIMEOUT, None
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError):
            return EOF, None
        except websocket.WebSocketException as e:
            raise AssertionError("bad WebSocket frame from the server: %r" % e)
        if frame is None:
            return EOF, None
        op = frame.opcode
        if op in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY):
            if parts is not None:
                raise AssertionError("new data frame inside a fragmented message")
            if not frame.fin:
                parts = ws._pl_parts = [op, bytearray(frame.data)]
                continue
            opcode, data = op, bytes(frame.data)
        elif op == ABNF.OPCODE_CONT:
            if parts is None:
                raise AssertionError("continuation frame without a start")
            parts[1] += frame.data
            if not frame.fin:
                continue
            opcode, data = parts[0], bytes(parts[1])
            parts = ws._pl_parts = None
        elif op == ABNF.OPCODE_PING:
            try:
                ws.pong(frame.data)
            except Exception:
                pass
            continue
        elif op == ABNF.OPCODE_PONG:
            continue
        elif op == ABNF.OPCODE_CLOSE:
            data = bytes(frame.data)
            code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            try:
                ws.send_close()
            except Exception:
                pass
            return CLOSE, code
        else:
            return "other", (op, frame.data)
        if opcode == ABNF.OPCODE_TEXT:
            text = data.decode("utf-8")
            try:
                return TEXT, json.loads(text)
            except ValueError:
                return TEXT, text
        return BINARY, data


def send_json(ws, obj):
    ws.send(json.dumps(obj))


def open_session(ws, host, port, mode=None, timeout=10.0):
    """Sends open; returns the first text message (opened or error)."""
    msg = {"type": "open", "host": host, "port": port}
    if mode:
        msg["mode"] = mode
    send_json(ws, msg)
    return expect_text(ws, timeout)


def open_with_data(ws, host, port, mode, data, timeout=10.0):
    """Sends open and then data in one TCP write, so portlab reads the data
    while the connection is still being made; returns the first text
    message (opened or error)."""
    msg = json.dumps({"type": "open", "host": host, "port": port, "mode": mode})
    ws.sock.sendall(websocket.ABNF.create_frame(msg, websocket.ABNF.OPCODE_TEXT).format() +
                    websocket.ABNF.create_frame(data, websocket.ABNF.OPCODE_BINARY).format())
    return expect_text(ws, timeout)


def expect_text(ws, timeout=5.0):
    """The next message, which must be a JSON text message."""
    kind, val = recv_msg(ws, timeout)
    if kind != TEXT or not isinstance(val, dict):
        raise AssertionError("expected a JSON text message, got %s %r" % (kind, val))
    return val


class Collected:
    def __init__(self):
        self.data = bytearray()
        self.messages = []  # JSON control messages, in order
        self.close_code = None
        self.eof = False
        self.timed_out = False

    def of_type(self, t):
        return [m for m in self.messages if isinstance(m, dict) and m.get("type") == t]


def collect(ws, until=None, timeout=5.0, max_bytes=None, stop_on_close=True):
    """Reads messages until until(c) is true, a close, or the deadline.
    Binary payload is appended to c.data; control messages to c.messages."""
    c = Collected()
    deadline = time.monotonic() + timeout
    while True:
        if until is not None and until(c):
            return c
        left = deadline - time.monotonic()
        if left <= 0:
            c.timed_out = True
            return c
        kind, val = recv_msg(ws, min(left, 1.0))
        if kind == BINARY:
            c.data += val
            if max_bytes is not None and len(c.data) >= max_bytes:
                return c
        elif kind == TEXT:
            c.messages.append(val)
        elif kind == CLOSE:
            c.close_code = val
            if stop_on_close:
                return c
        elif kind == EOF:
            c.eof = True
            return c


def wait_closed(ws, timeout=5.0):
    """Reads until {"type":"closed"}; returns (Collected, closed message)."""
    c = collect(ws, until=lambda c: bool(c.of_type("closed")), timeout=timeout)
    closed = c.of_type("closed")
    return c, (closed[0] if closed else None)


def wait_ws_end(ws, timeout=3.0):
    """Reads until a close frame or EOF; returns Collected."""
    return collect(ws, until=lambda c: c.close_code is not None or c.eof, timeout=timeout)


def close_quietly(ws):
    try:
        ws.close(timeout=1)
    except Exception:
        pass


# --------------------------------------------------------------------------
# Transcripts


def transcript_bytes(events, direction, wire=None):
    """The bytes of one direction, in event order. A TLS session has two
    layers: wire=False keeps the plaintext the client and server exchanged,
    wire=True the TLS records (its events marked "layer": "wire"), None
    both as they come (a STARTTLS session's wire is its cleartext part and
    then its records)."""
    out = bytearray()
    for e in events:
        if e.get("dir") == direction and (wire is None or (e.get("layer") == "wire") == wire):
            out += base64.b64decode(e.get("data_b64") or "")
    return bytes(out)


# --------------------------------------------------------------------------
# Processes


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def run_binary(args, env=None, timeout=5.0, cwd=None):
    """Runs the binary to completion (for CLI tests). Returns
    (returncode, stdout, stderr); a run that outlives timeout is killed and
    reported as returncode None."""
    if not os.path.exists(BIN):
        raise AssertionError("portlab binary not found at %s (build it first)" % BIN)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PORTLAB_")}
    full_env.update(env or {})
    p = subprocess.Popen([BIN] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=full_env, cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


# --------------------------------------------------------------------------
# Test case base


class PortlabTestCase(unittest.TestCase):
    """Starts one shared portlab per class (ARGS, ENV); each test can start
    more with self.portlab(). Logs are printed when a test fails, a shared
    server that died is reported, and every server must exit 0 on SIGTERM."""

    ARGS = ()
    ENV = None
    SHARED = True
    TLS_PORTS = False  # the shared server also opens the lab's TLS ports (a span of blocks)

    @classmethod
    def class_args(cls):
        """Arguments of the shared server; may start class-level servers
        with cls.class_server()."""
        return list(cls.ARGS)

    @classmethod
    def class_server(cls, srv):
        cls._class_servers.append(srv)
        return srv

    @classmethod
    def scripted_pool(cls, n):
        """Starts n scripted servers with the class (their ports must be
        allowed before the shared portlab starts, before any test knows
        what it wants them to do) and returns the --allow arguments that
        open them. A test gives one its behaviour with scripted_with()."""
        cls.scripted = [cls.class_server(ScriptedServer(handler=cls._scripted_dispatch))
                        for _ in range(n)]
        cls.handlers = {}
        args = []
        for s in cls.scripted:
            args += ["--allow", "%s:%d" % (LOOPBACK, s.port)]
        return args

    @classmethod
    def _scripted_dispatch(cls, conn):
        handler = cls.handlers.get(conn.server.port)
        if handler is not None:
            handler(conn)

    def scripted_with(self, index, handler):
        """Pool server index runs handler(conn) for each new connection;
        returns the server and the number its next connection will have
        (for srv.wait_conn)."""
        srv = self.scripted[index]
        self.handlers[srv.port] = handler
        with srv.lock:
            before = len(srv.conns)
        return srv, before + 1

    @classmethod
    def setUpClass(cls):
        cls.pl = None
        cls._class_servers = []
        if cls.SHARED:
            try:
                cls.pl = Portlab(cls.class_args(), env=cls.ENV, tls_ports=cls.TLS_PORTS)
                cls.pl.start()
            except BaseException:
                if cls.pl is not None:
                    cls.pl.cleanup()
                for srv in cls._class_servers:
                    srv.close()
                raise

    @classmethod
    def tearDownClass(cls):
        for srv in cls._class_servers:
            srv.close()
        pl = cls.pl
        if pl is None:
            return
        try:
            was_alive = pl.alive()
            rc = pl.stop()
            if not was_alive:
                raise AssertionError("shared portlab had died (status %s)\n%s"
                                     % (pl.proc.returncode, pl.logs()))
            if rc != 0:
                raise AssertionError("portlab did not exit 0 on SIGTERM within %ds (status %s)\n%s"
                                     % (STOP_TIMEOUT, rc, pl.logs()))
        finally:
            pl.cleanup()

    def setUp(self):
        self._instances = []
        self._servers = []
        self._sockets = []

    def portlab(self, args=(), env=None, start=True, **kw):
        pl = Portlab(args, env=env, **kw)
        self._instances.append(pl)
        if start:
            pl.start()
        return pl

    def server(self, srv):
        self._servers.append(srv)
        return srv

    def ws(self, ws):
        self._sockets.append(ws)
        return ws

    def echo_server(self):
        return self.server(EchoServer())

    def scripted_server(self, **kw):
        return self.server(ScriptedServer(**kw))

    def _failed(self):
        """True if this test has already failed (Python 3.11 records a
        failure in the result as soon as the test method raised)."""
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return not getattr(outcome, "success", True)
        for test, _ in list(getattr(result, "errors", [])) + list(getattr(result, "failures", [])):
            if test is self or getattr(test, "test_case", None) is self:
                return True
        return False

    def tearDown(self):
        failed = self._failed()
        for ws in self._sockets:
            close_quietly(ws)
        for srv in self._servers:
            srv.close()
        problems = []
        shared = type(self).pl
        if shared is not None and not shared.alive():
            problems.append("shared portlab died during %s (status %s)"
                            % (self.id(), shared.proc.returncode))
        for pl in self._instances:
            if pl.proc is None:
                continue
            was_alive = pl.alive()
            died_rc = pl.proc.returncode if not was_alive else None
            rc = pl.stop()
            if failed or (was_alive and rc != 0):
                sys.stderr.write("\n" + pl.logs() + "\n")
            if was_alive and rc != 0:
                problems.append("portlab did not exit 0 on SIGTERM (status %s)" % rc)
            if not was_alive and died_rc not in (0, -signal.SIGKILL) and not getattr(pl, "expect_dead", False):
                problems.append("portlab died unexpectedly (status %s)" % died_rc)
            pl.cleanup()
        if (failed or problems) and shared is not None:
            sys.stderr.write("\n" + shared.logs() + "\n")
        if problems:
            raise AssertionError("; ".join(problems))

    # -- assertions ----------------------------------------------------------

    def assertError(self, resp, status, code=None):
        self.assertEqual(resp.status, status, resp)
        self.assertIsInstance(resp.json, dict, resp)
        self.assertIn("error", resp.json, resp)
        err = resp.json["error"]
        self.assertIsInstance(err.get("message"), str, resp)
        if code is not None:
            self.assertEqual(err.get("code"), code, resp)

    def assertWsError(self, msg, code):
        self.assertEqual(msg.get("type"), "error", msg)
        self.assertEqual(msg.get("code"), code, msg)
        self.assertIsInstance(msg.get("message"), str, msg)
        return msg

    def assertClosed(self, msg, reason, info=None):
        """msg is {"type":"closed","reason":reason} (extra fields allowed:
        the protocol lets messages gain fields)."""
        self.assertIsNotNone(msg, "no closed message; got %r" % (info,))
        self.assertEqual(msg.get("type"), "closed", msg)
        self.assertEqual(msg.get("reason"), reason, "%r %r" % (msg, info))

    def assertOpened(self, msg):
        self.assertEqual(msg.get("type"), "opened", msg)
        self.assertIsInstance(msg.get("session_id"), int, msg)
        return msg["session_id"]


def main():
    unittest.main(verbosity=2)
