#!/usr/bin/python3
"""Ports: portlab's exit status 3 when a listener's port is taken, and the
harness's answer to it (another port block), so that parallel suites and
unrelated listeners never make a test fail.

Every listener here is on 127.0.0.1 or the wildcard address; nothing
leaves the host.
"""
import os
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import LOOPBACK, Portlab, PortlabTestCase, run_binary  # noqa: E402


def listener(port, host=LOOPBACK):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(4)
    return s


class ExitStatus(PortlabTestCase):
    SHARED = False

    def setUp(self):
        super().setUp()
        self.block = harness.reserve_block()
        self.addCleanup(self.block.release)
        self.dir = tempfile.mkdtemp(prefix="portlab-ports-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_on_block(self, *extra):
        lo, hi = self.block.pasv()
        args = ["--db", os.path.join(self.dir, "p.db"),
                "--listen", "%s:%d" % (LOOPBACK, self.block.portal),
                "--lab-port-base", str(self.block.lab_base),
                "--ftp-pasv-ports", "%d-%d" % (lo, hi),
                "--lab-tls-ports", "off"] + list(extra)
        return run_binary(args, env={"PORTLAB_TEACHER_PASSWORD": "pw-ports"}, timeout=20)

    def test_portal_port_in_use_exits_3(self):
        with listener(self.block.portal):
            rc, _, err = self.run_on_block()
        self.assertEqual(rc, harness.EXIT_ADDR_IN_USE, err)
        self.assertIn("--listen", err)

    def test_each_lab_port_in_use_exits_3(self):
        # The raw lab servers (lws) and the HTTP lab (libmicrohttpd) alike.
        for wk in harness.LAB_PORTS:
            with listener(self.block.lab_base + wk):
                rc, _, err = self.run_on_block()
            self.assertEqual(rc, harness.EXIT_ADDR_IN_USE, "lab:%d %s" % (wk, err))

    def test_wildcard_listener_counts_as_in_use(self):
        with listener(self.block.lab_base + 25, "0.0.0.0"):
            rc, _, err = self.run_on_block()
        self.assertEqual(rc, harness.EXIT_ADDR_IN_USE, err)

    def test_other_start_failures_are_not_3(self):
        rc, _, err = self.run_on_block("--db", "/nonexistent-dir/sub/x.db")
        self.assertEqual(rc, 1, err)
        rc, _, err = self.run_on_block("--lab-bind", "192.0.2.1")  # not an address here
        self.assertEqual(rc, 1, err)


class Harness(PortlabTestCase):
    SHARED = False

    def test_blocks_are_exclusive_across_sockets(self):
        a = harness.reserve_block()
        try:
            # The same name cannot be bound twice, by this process or another.
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            with self.assertRaises(OSError):
                s.bind(harness.block_lock_name(a.first))
            s.close()
            b = harness.reserve_block()
            self.assertNotEqual(a.first, b.first)
            b.release()
        finally:
            a.release()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(harness.block_lock_name(a.first))  # free again after release
        s.close()

    def test_blocks_stay_below_the_ephemeral_range(self):
        eph_lo, _ = harness._ephemeral_range()
        firsts = harness.block_firsts()
        self.assertGreater(len(firsts), 20)
        self.assertLessEqual(firsts[-1] + harness.BLOCK_SIZE, eph_lo)
        self.assertGreaterEqual(firsts[0] + min(harness.LAB_PORTS), 1024)

    def test_start_moves_to_another_block_when_a_port_is_taken(self):
        pl = Portlab()
        self._instances.append(pl)
        first, taken = pl.block.first, pl.port
        # Someone else takes the portal port between the check and the start.
        with listener(taken):
            pl.start()
            self.assertNotEqual(pl.block.first, first)
            self.assertNotEqual(pl.port, taken)
            self.assertEqual(pl.get("/api/health").status, 200)
        self.assertGreaterEqual(pl.runs, 2)

    def test_start_gives_up_after_bounded_attempts(self):
        pl = Portlab(args=["--listen", "%s:%d" % (LOOPBACK, harness.free_port())])
        self._instances.append(pl)
        taken = int(pl.args[1].rsplit(":", 1)[1])
        with listener(taken):
            with self.assertRaises(harness.AddressInUse):
                pl.start()
        self.assertEqual(pl.runs, harness.START_ATTEMPTS)
        pl.expect_dead = True


if __name__ == "__main__":
    harness.main()
