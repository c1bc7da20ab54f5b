#!/usr/bin/python3
"""The browser lab in Firefox: join, a deep link to the SMTP lesson with a
session to lab:25, typing with real key events, and no script errors.

Debian's firefox-esr is driven over WebDriver BiDi (its built-in remote
agent) with the websocket-client package; Playwright can only drive its own
Firefox builds. The profile sends every non-loopback request to a dead
loopback proxy, so the browser's background services stay on this host.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import websocket

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
ARTIFACTS = os.path.join(HERE, "..", "artifacts")
PREFS = {
    # Everything that is not loopback goes to a closed loopback port.
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.no_proxies_on": "127.0.0.1,localhost",
    "network.proxy.allow_hijacking_localhost": False,
    "network.trr.mode": 5,
    "network.dns.disablePrefetch": True,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
    "app.normandy.enabled": False,
    "app.update.disabledForTesting": True,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
}
# The longest wait for one step: a hang guard sized for a loaded machine.
STEP = 60.0


class Bidi:
    """A minimal WebDriver BiDi client: commands and the events they cause."""

    def __init__(self, port):
        deadline = time.monotonic() + STEP
        while True:
            try:
                # The remote agent refuses requests that carry an Origin.
                self.ws = websocket.create_connection("ws://127.0.0.1:%d/session" % port,
                                                      timeout=STEP, suppress_origin=True)
                break
            except (OSError, websocket.WebSocketException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("type") == "event":
                self.events.append(msg)
            elif msg.get("id") == self.next_id:
                if msg.get("type") == "error":
                    raise AssertionError("%s: %s" % (method, msg.get("message")))
                return msg["result"]

    def close(self):
        self.ws.close()


class Firefox(harness.PortlabTestCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(FIREFOX, "firefox-esr is missing (scripts/bootstrap.sh --test installs it)")
        self.profile = tempfile.mkdtemp(prefix="portlab-firefox-")
        self.addCleanup(shutil.rmtree, self.profile, True)
        with open(os.path.join(self.profile, "user.js"), "w") as f:
            for key, value in PREFS.items():
                f.write("user_pref(%s, %s);\n" % (json.dumps(key), json.dumps(value)))
        # A spare port of a block this process holds (see harness.py, Port
        # blocks): no other test and no outgoing connection can take it.
        port = harness.free_port()
        self.browser = subprocess.Popen(
            [FIREFOX, "--headless", "--no-remote", "--profile", self.profile,
             "--remote-debugging-port", str(port), "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_browser)
        self.bidi = Bidi(port)
        self.bidi.call("session.new", capabilities={})
        self.bidi.call("session.subscribe", events=["log.entryAdded"])
        self.context = self.bidi.call("browsingContext.getTree")["contexts"][0]["context"]

    def stop_browser(self):
        try:
            self.bidi.call("session.end")
            self.bidi.close()
        except Exception:  # the browser may already be gone
            pass
        self.browser.terminate()
        try:
            self.browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.browser.kill()

    def js(self, expression):
        r = self.bidi.call("script.evaluate", expression=expression, awaitPromise=True,
                           target={"context": self.context})
        if r.get("type") == "exception":
            raise AssertionError("script failed: %s" % r["exceptionDetails"]["text"])
        return r["result"].get("value")

    def wait_for(self, expression, what):
        deadline = time.monotonic() + STEP
        while not self.js(expression):
            if time.monotonic() > deadline:
                self.screenshot("firefox-failed")
                raise AssertionError("Firefox never showed " + what)
            time.sleep(0.1)

    def type_keys(self, text):
        actions = []
        for ch in text:
            actions += [{"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch}]
        self.bidi.call("input.performActions", context=self.context,
                       actions=[{"type": "key", "id": "keyboard", "actions": actions}])

    def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = self.bidi.call("browsingContext.captureScreenshot", context=self.context)
        with open(os.path.join(ARTIFACTS, name + ".png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def conv(self):
        return ("(document.querySelector('.tabpanel:not([hidden]) .conv') || "
                "{textContent: ''}).textContent")

    def test_join_lesson_and_smtp_session(self):
        base = "http://127.0.0.1:%d/" % self.pl.port
        self.bidi.call("browsingContext.navigate", context=self.context, url=base, wait="complete")
        self.wait_for("!document.getElementById('join-view').hidden", "the join form")
        self.js("document.getElementById('join-name').focus()")
        self.type_keys(harness.unique_name("ff"))
        self.type_keys("\ue007")  # Enter submits the form
        self.wait_for("!document.getElementById('rejoin').hidden", "the rejoin code")
        self.assertRegex(self.js("document.getElementById('lab-password').textContent"), r"\w{10}")
        self.js("document.getElementById('rejoin-dismiss').click()")

        self.bidi.call("browsingContext.navigate", context=self.context,
                       url=base + "#/lesson/smtp?open=lab:25", wait="complete")
        self.wait_for(self.conv() + ".includes('220 ')", "the SMTP greeting")
        self.wait_for("(document.getElementById('lesson-title') || {textContent: ''}).textContent.includes('SMTP')",
                      "the lesson text")
        self.js("document.querySelector('.tabpanel:not([hidden]) .line-input').focus()")
        self.type_keys("EHLO firefox\ue007")
        self.wait_for(self.conv() + ".includes('250-')", "the EHLO reply")
        self.assertIn("EHLO firefox", self.js(self.conv()))
        self.screenshot("firefox-smtp")

        errors = [e["params"] for e in self.bidi.events
                  if e.get("method") == "log.entryAdded" and e["params"].get("level") == "error"
                  and "/api/me" not in e["params"].get("text", "")]
        self.assertEqual(errors, [], "script errors in Firefox")


if __name__ == "__main__":
    unittest.main()
