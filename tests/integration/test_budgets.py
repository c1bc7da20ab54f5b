"""test_budgets.py -- recording budgets, the disk floor, the open rate and
refused opens (docs/architecture.md, Recording; docs/protocol.md).

Each budget is tested at its edge with a small flag value: exactly the
budget's bytes are recorded, the next one is not, one note says why, and
the session goes on relaying.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (EchoServer, PortlabTestCase, collect, expect_text, open_session,  # noqa: E402
                     send_json, session_list, wait_closed)

STOP = "recording stopped"


def event_len(e):
    if "data_b64" in e:
        import base64
        return len(base64.b64decode(e["data_b64"]))
    return len(e.get("text", "").encode("utf-8"))


def recorded_before_stop(events):
    """Bytes of the events before the first note that says recording stopped,
    and that note (or None)."""
    total = 0
    for e in events:
        if e["dir"] == "note" and e.get("text", "").startswith(STOP):
            return total, e
        total += event_len(e)
    return total, None


class BudgetBase(PortlabTestCase):
    SHARED = False

    def start(self, *args):
        self.echo = self.server(EchoServer())
        return self.portlab(["--allow", "127.0.0.1:%d" % self.echo.port] + list(args))

    def echo_session(self, pl, tok):
        ws = self.ws(pl.ws_connect(tok))
        sid = self.assertOpened(open_session(ws, "127.0.0.1", self.echo.port))
        return ws, sid

    def pump(self, ws, chunk, times):
        """Sends chunk `times` times and reads every echo back; returns the
        notes seen on the way."""
        notes = []
        for _ in range(times):
            ws.send_binary(chunk)
            c = collect(ws, until=lambda c: len(c.data) >= len(chunk), timeout=5)
            self.assertEqual(bytes(c.data), chunk, "the relay must go on after a budget")
            notes += [m for m in c.of_type("note")]
        return notes

    def hang_up(self, ws):
        send_json(ws, {"type": "close"})
        _, closed = wait_closed(ws)
        self.assertClosed(closed, "client_closed")

    def usage(self, pl, teacher, name=None):
        r = pl.get("/api/usage", cookie=teacher)
        self.assertEqual(r.status, 200, r)
        if name is None:
            return r.json
        for s in r.json["students"]:
            if s["name"] == name:
                return s
        self.fail("%s not in /api/usage: %r" % (name, r.json))


class PerStudentBudget(BudgetBase):
    BUDGET = 3000

    def test_budget_edge_note_and_restart(self):
        pl = self.start("--record-bytes-per-student", str(self.BUDGET))
        name = harness.unique_name()
        r, tok = pl.join_full(name)
        self.assertEqual(r.status, 201, r)
        rejoin = r.json["rejoin_code"]
        ws, sid = self.echo_session(pl, tok)
        notes = self.pump(ws, b"x" * 500, 5)  # 5000 bytes echoed: 10000 would be recorded
        self.assertEqual(len([n for n in notes if n.get("text", "").startswith(STOP)]), 1, notes)
        self.hang_up(ws)
        events = pl.transcript_when_ended(sid, tok).json["events"]
        before, stop = recorded_before_stop(events)
        self.assertIsNotNone(stop, events)
        # The edge: exactly BUDGET bytes are kept, not one more.
        self.assertEqual(before, self.BUDGET)
        self.assertIn(str(self.BUDGET), stop["text"])
        after = events[events.index(stop) + 1:]
        self.assertEqual([e["text"] for e in after], ["closed: client_closed"], after)

        # Another student still records.
        other = pl.join()
        ws2, sid2 = self.echo_session(pl, other)
        self.pump(ws2, b"y" * 100, 1)
        self.hang_up(ws2)
        ev2 = pl.transcript_when_ended(sid2, other).json["events"]
        self.assertIsNone(recorded_before_stop(ev2)[1], ev2)

        # The budget is kept across a restart: the next session records
        # only the note, and still relays.
        self.assertEqual(pl.stop(), 0)
        pl.start()
        r, tok = pl.join_full(name, rejoin_code=rejoin)
        self.assertEqual(r.status, 201, r)
        ws, sid = self.echo_session(pl, tok)
        self.pump(ws, b"z" * 10, 1)
        self.hang_up(ws)
        events = pl.transcript_when_ended(sid, tok).json["events"]
        before, stop = recorded_before_stop(events)
        self.assertEqual(before, 0, events)
        self.assertIsNotNone(stop, events)
        u = self.usage(pl, pl.teacher(), name)
        self.assertGreaterEqual(u["recorded_bytes"], self.BUDGET)
        self.assertEqual(u["record_budget"], self.BUDGET)


class TotalBudget(BudgetBase):
    TOTAL = 10000

    def test_total_budget_warns_then_stops(self):
        pl = self.start("--record-bytes-total", str(self.TOTAL))
        teacher = pl.teacher()
        self.assertEqual(self.usage(pl, teacher)["warnings"], [])
        a = pl.join()
        ws, sid_a = self.echo_session(pl, a)
        # Up to the warning (80 %) but short of the budget.
        while self.usage(pl, teacher)["totals"]["recorded_bytes"] < 0.8 * self.TOTAL:
            self.pump(ws, b"a" * 200, 1)
        self.hang_up(ws)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            u = self.usage(pl, teacher)
            if u["warnings"]:
                break
            time.sleep(0.1)
        self.assertEqual(u["warnings"], ["record_total_near"], u)
        self.assertLess(u["totals"]["recorded_bytes"], self.TOTAL)
        self.assertEqual(u["totals"]["record_budget"], self.TOTAL)

        b = pl.join()
        ws, sid_b = self.echo_session(pl, b)
        notes = self.pump(ws, b"b" * 500, 6)
        self.assertTrue(any("class" in n.get("text", "") for n in notes), notes)
        self.hang_up(ws)
        ev_a = pl.transcript_when_ended(sid_a, a).json["events"]
        ev_b = pl.transcript_when_ended(sid_b, b).json["events"]
        kept_a = sum(event_len(e) for e in ev_a)
        before_b, stop = recorded_before_stop(ev_b)
        self.assertIsNotNone(stop, ev_b)
        self.assertEqual(kept_a + before_b, self.TOTAL, "the class budget to the byte")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            u = self.usage(pl, teacher)
            if "record_total_reached" in u["warnings"]:
                break
            time.sleep(0.1)
        self.assertEqual(u["warnings"], ["record_total_reached"], u)
        self.assertIn("--record-bytes-total", pl.logs())


class DiskFloor(BudgetBase):
    def _free(self, pl):
        st = os.statvfs(pl.tmpdir)
        return st.f_bavail * st.f_frsize

    def test_below_floor_nothing_is_recorded(self):
        probe = self.portlab(start=False)
        floor = self._free(probe) + (1 << 30)  # a GiB more than there is
        pl = self.start("--disk-floor", str(floor))
        tok = pl.join()
        ws, sid = self.echo_session(pl, tok)
        notes = self.pump(ws, b"d" * 100, 2)
        self.assertTrue(any("disk" in n.get("text", "") for n in notes), notes)
        self.hang_up(ws)
        events = pl.transcript_when_ended(sid, tok).json["events"]
        before, stop = recorded_before_stop(events)
        self.assertEqual(before, 0, events)
        self.assertIn("disk", stop["text"])
        u = self.usage(pl, pl.teacher())
        self.assertIn("disk_low", u["warnings"])
        self.assertEqual(u["totals"]["disk_floor"], floor)

    def test_above_floor_records(self):
        probe = self.portlab(start=False)
        free = self._free(probe)
        if free < (2 << 30):
            self.skipTest("less than 2 GiB free on the temp disk")
        pl = self.start("--disk-floor", str(free - (1 << 30)))
        tok = pl.join()
        ws, sid = self.echo_session(pl, tok)
        self.pump(ws, b"d" * 100, 2)
        self.hang_up(ws)
        events = pl.transcript_when_ended(sid, tok).json["events"]
        self.assertIsNone(recorded_before_stop(events)[1], events)
        self.assertNotIn("disk_low", self.usage(pl, pl.teacher())["warnings"])


class OpensAndRefusals(BudgetBase):
    def test_opens_per_minute_edge(self):
        pl = self.start("--opens-per-minute", "3")
        tok = pl.join()
        for _ in range(3):
            ws, _ = self.echo_session(pl, tok)
            self.hang_up(ws)
        ws = self.ws(pl.ws_connect(tok))
        msg = self.assertWsError(open_session(ws, "127.0.0.1", self.echo.port), "too_many_opens")
        self.assertIn("3", msg["message"])
        # Another student is not affected.
        ws, _ = self.echo_session(pl, pl.join())
        self.hang_up(ws)

    def test_refused_opens_are_counted_not_stored(self):
        pl = self.start()
        name = harness.unique_name()
        r, tok = pl.join_full(name)
        for _ in range(5):
            ws = self.ws(pl.ws_connect(tok))
            self.assertWsError(open_session(ws, "lab", 9999), "target_denied")
        ws = self.ws(pl.ws_connect(tok))
        self.assertWsError(open_session(ws, "lab\x00evil", 25), "bad_request")
        r = pl.get("/api/sessions", cookie=tok)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(session_list(r.json), [], "a refused open must not leave a session row")
        teacher = pl.teacher()
        u = self.usage(pl, teacher, name)
        self.assertEqual(u["refused_opens"], 6, u)
        self.assertEqual(u["last_refused_reason"], "bad_request", u)
        self.assertIsInstance(u["last_refused_at"], str, u)
        self.assertEqual(u["sessions_open"], 0, u)
        # The count survives a restart.
        self.assertEqual(pl.stop(), 0)
        pl.start()
        u = self.usage(pl, pl.teacher(), name)
        self.assertEqual(u["refused_opens"], 6, u)

    def test_nul_in_host_is_refused_not_cut(self):
        pl = self.start()
        ws = self.ws(pl.ws_connect(pl.join()))
        ws.send('{"type":"open","host":"lab\\u0000evil","port":25}')
        msg = self.assertWsError(expect_text(ws, 5), "bad_request")
        self.assertIn("NUL", msg["message"])

    def test_usage_is_for_the_teacher_only(self):
        pl = self.start()
        tok = pl.join()
        self.assertError(pl.get("/api/usage", cookie=tok), 403, "forbidden")
        self.assertError(pl.get("/api/usage"), 401, "unauthorized")
        u = self.usage(pl, pl.teacher())
        for key in ("students", "totals", "warnings"):
            self.assertIn(key, u)
        for key in ("recorded_bytes", "record_budget", "disk_free", "disk_floor",
                    "sessions_open", "max_sessions"):
            self.assertIn(key, u["totals"])


if __name__ == "__main__":
    harness.main()
