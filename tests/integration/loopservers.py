"""loopservers.py -- small TCP servers on loopback for the relay to talk to.

Part of the integration harness (harness.py re-exports every name here, so
tests import them from harness): an echo server, a scripted server that
answers triggers, sends a greeting or megabytes of a counting pattern on
cue, and the pattern itself with a helper to find where two byte strings
first differ. They listen on 127.0.0.1 or ::1 only.
"""

import array
import socket
import sys
import threading
import time

LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------
# TCP servers to relay to (127.0.0.1 only)


class _Listener:
    def __init__(self, backlog=16, host=LOOPBACK):
        assert host in (LOOPBACK, "::1"), "test servers listen on loopback only"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.closing = False
        self.conns = []
        self.lock = threading.Lock()
        self.accepted = threading.Condition(self.lock)
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _accept_loop(self):
        while not self.closing:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            if self.closing:
                s.close()
                return
            conn = self._make_conn(s)
            with self.lock:
                self.conns.append(conn)
                self.accepted.notify_all()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def wait_conn(self, n=1, timeout=5.0):
        """The n-th accepted connection (1-based), waiting for it."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.conns) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no connection #%d within %.1fs" % (n, timeout))
                self.accepted.wait(left)
            return self.conns[n - 1]

    def close(self):
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class EchoServer(_Listener):
    """Echoes every byte back; counts connections."""

    class Conn:
        def __init__(self, s):
            self.sock = s
            self.received = 0

        def close(self):
            try:
                self.sock.close()
            except OSError:
                pass

    def _make_conn(self, s):
        return EchoServer.Conn(s)

    def _serve(self, conn):
        try:
            while True:
                data = conn.sock.recv(65536)
                if not data:
                    break
                conn.received += len(data)
                conn.sock.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()


class ScriptedConn:
    def __init__(self, server, s):
        self.server = server
        self.sock = s
        self.received = bytearray()
        self.sent = bytearray()  # everything sent except bulk data
        self.bulk_sent = 0
        self.cond = threading.Condition()
        self.peer_closed = threading.Event()
        self.go = threading.Event()  # test-controlled trigger
        self.done = threading.Event()  # handler finished
        self.send_lock = threading.Lock()
        self._closed = False

    def send(self, data):
        with self.send_lock:
            self.sock.sendall(data)
            self.sent += data

    def send_bulk(self, total, chunk=65536):
        """Sends total bytes of pattern_bytes (a counting pattern)."""
        pat = pattern(total)
        pos = 0
        while pos < total:
            n = min(chunk, total - pos)
            self.sock.sendall(pat[pos:pos + n])
            pos += n
            self.bulk_sent = pos

    def wait_for(self, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while needle not in self.received:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def wait_quiet(self, quiet=0.3, timeout=3.0):
        """Waits until nothing arrived for quiet seconds."""
        deadline = time.monotonic() + timeout
        last_len = -1
        last_change = time.monotonic()
        while time.monotonic() < deadline:
            with self.cond:
                n = len(self.received)
            if n != last_len:
                last_len = n
                last_change = time.monotonic()
            elif time.monotonic() - last_change >= quiet:
                return
            time.sleep(0.05)

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def _reader(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                with self.cond:
                    self.received += data
                    self.cond.notify_all()
                self.server._on_data(self)
        except OSError:
            pass
        finally:
            self.peer_closed.set()
            with self.cond:
                self.cond.notify_all()


class ScriptedServer(_Listener):
    """A TCP server that follows a small script per connection.

    greeting: bytes sent on accept. script: list of (trigger, reply): when
    the bytes received so far contain trigger (searched after the previous
    trigger), reply is sent. bulk: bytes of counting pattern to send after
    the greeting (if wait_go, only once conn.go is set). close_after: close
    the connection after the greeting/bulk. handler: a function(conn) run
    in the connection's thread instead of all that.
    """

    def __init__(self, greeting=b"", script=(), bulk=0, wait_go=False, close_after=False,
                 handler=None, backlog=16, host=LOOPBACK):
        self.greeting = greeting
        self.script = list(script)
        self.bulk = bulk
        self.wait_go = wait_go
        self.close_after = close_after
        self.handler = handler
        self._script_pos = {}
        super().__init__(backlog, host)

    def _make_conn(self, s):
        return ScriptedConn(self, s)

    def _on_data(self, conn):
        pos, step = self._script_pos.get(id(conn), (0, 0))
        while step < len(self.script):
            trigger, reply = self.script[step]
            with conn.cond:
                idx = conn.received.find(trigger, pos)
            if idx < 0:
                break
            pos = idx + len(trigger)
            step += 1
            try:
                conn.send(reply)
            except OSError:
                break
        self._script_pos[id(conn)] = (pos, step)

    def _serve(self, conn):
        threading.Thread(target=conn._reader, daemon=True).start()
        try:
            if self.handler is not None:
                self.handler(conn)
                return
            if self.greeting:
                conn.send(self.greeting)
            if self.bulk:
                if self.wait_go:
                    conn.go.wait(60)
                conn.send_bulk(self.bulk)
            if self.close_after:
                conn.close()
        except OSError:
            pass
        finally:
            conn.done.set()


# --------------------------------------------------------------------------
# The counting pattern used for bulk data: little-endian uint32 0, 1, 2, ...

_PATTERN = bytearray()
_PATTERN_LOCK = threading.Lock()


def pattern(total):
    """total bytes of the counting pattern (cached; total % 4 may be != 0)."""
    global _PATTERN
    with _PATTERN_LOCK:
        if len(_PATTERN) < total:
            words = (total + 3) // 4
            a = array.array("I", range(words))
            if sys.byteorder != "little":
                a.byteswap()
            _PATTERN = bytearray(a.tobytes())
        return memoryview(_PATTERN)[:total]


def pattern_slice(pos, n):
    return bytes(pattern(pos + n)[pos:pos + n])


def first_difference(a, b):
    n = min(len(a), len(b))
    step = 1 << 16
    for off in range(0, n, step):
        if a[off:off + step] != b[off:off + step]:
            for i in range(off, min(off + step, n)):
                if a[i] != b[i]:
                    return i
    return n if len(a) != len(b) else -1
