// hostile.test.mjs -- what a student with a script can send, seen from the
// teacher's screens in headless chromium: markup and invisible Unicode in
// the bytes of a session, a transcript of a hundred thousand empty lines,
// and a session of megabytes already under way when the live view opens.
//
// The student's script is the page's own WebSocket (portlab.v1), as anyone
// can open it from the browser's console.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, shot, STEP_MS, signInTeacher } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

// Opens lab:25 from the student's page, starts a mail (so the server takes
// every line), sends chunks copies of payload (a string, sent as UTF-8) and,
// unless keepOpen, ends the mail and the session and waits for "closed".
// Returns the session id.
async function scriptedSession(page, payload, chunks, keepOpen = false) {
  return page.evaluate(
    ({ payload, chunks, keepOpen }) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(new URL('ws', location.href).href.replace(/^http/, 'ws'), 'portlab.v1');
        ws.binaryType = 'arraybuffer';
        const enc = new TextEncoder();
        let id = 0;
        ws.onopen = () => ws.send(JSON.stringify({ type: 'open', host: 'lab', port: 25 }));
        ws.onmessage = (e) => {
          if (typeof e.data !== 'string') return;
          const m = JSON.parse(e.data);
          if (m.type === 'opened') {
            id = m.session_id;
            ws.send(enc.encode('HELO script\r\nMAIL FROM:<a@lab>\r\nRCPT TO:<demo@lab>\r\nDATA\r\n'));
            const data = enc.encode(payload);
            for (let i = 0; i < chunks; i++) ws.send(data);
            if (keepOpen) {
              window.keptOpen = ws; // stays open while the test runs
              resolve(id);
            } else {
              ws.send(enc.encode('\r\n.\r\nQUIT\r\n'));
            }
          } else if (m.type === 'closed') {
            resolve(id);
          } else if (m.type === 'error') {
            reject(new Error(m.code + ': ' + m.message));
          }
        };
      }),
    { payload, chunks, keepOpen },
  );
}

// The teacher's page, signed in, on the live view.
async function teacherPage() {
  const ctx = await lab.browser.newContext({ viewport: { width: 1366, height: 900 } });
  const tp = await newPage(ctx);
  await signInTeacher(tp, lab.base);
  await tp.waitForSelector('.live-view');
  return { ctx, tp };
}

// Waits until the recorder has written the session's end (its row has
// ended_at), so its transcript is complete: the session's one row is
// asked for again until it has (cheap), the step timeout a hang guard.
async function waitEnded(tp, id) {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const ended = await tp.evaluate(async (sid) => {
      const d = await (await fetch('api/sessions?limit=500')).json();
      return (d.sessions || []).some((s) => s.id === sid && s.ended_at);
    }, id);
    if (ended) return;
    assert.ok(Date.now() < deadline, 'session ' + id + ' never ended');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a student's bytes cannot script, hide or flood the teacher's screens", { timeout: 300000 }, async (t) => {
  const sctx = await lab.browser.newContext({ viewport: { width: 1200, height: 800 } });
  const sp = await newPage(sctx);
  const name = 'mal' + Date.now().toString(36).slice(-5);
  await join(sp, lab.base, name);
  const { ctx, tp } = await teacherPage();

  await t.test('markup stays text; bidi overrides and zero-width characters show as marks', async () => {
    const line = 'ab\u202ecd\u200bef <img src=x onerror=alert(1)></script><b>x</b>\r\n';
    const id = await scriptedSession(sp, line, 1);
    await waitEnded(tp, id);
    await tp.goto(lab.base + '#/transcript/' + id);
    await tp.waitForSelector('.transcript .marker');
    const conv = tp.locator('.transcript .conv');
    await tp.waitForFunction(() => document.querySelector('.transcript .conv').textContent.includes('</script>'));
    const text = await conv.textContent();
    assert.ok(text.includes('<img src=x onerror=alert(1)></script><b>x</b>'), 'the markup as text: ' + text);
    assert.equal(await conv.locator('img, b').count(), 0, 'no element from the bytes');
    // The exact bytes, readable: nothing invisible, nothing turned around.
    assert.ok(text.includes('ab\u27e8U+202E\u27e9cd\u27e8U+200B\u27e9ef'), 'marks for U+202E and U+200B: ' + text);
    assert.ok(!/[\u202e\u200b]/.test(text), 'no raw format character in the view');
    const markers = await tp.locator('.marker-text').allTextContents();
    assert.ok(
      markers.some((m) => m.includes('ab\u27e8U+202E\u27e9cd\u27e8U+200B\u27e9ef')),
      'the command marker shows them too: ' + markers.join(' | '),
    );
    await shot(tp, 'hostile-01-marks');
  });

  await t.test('a transcript of 200,000 empty lines opens with capped lines and commands', async () => {
    const id = await scriptedSession(sp, '\r\n'.repeat(10000), 20);
    await waitEnded(tp, id);
    await tp.goto(lab.base + '#/transcript/' + id);
    // The list stops and says how many more there are; the view stops and
    // points to the download.
    await tp.waitForSelector('.transcript .markers-more');
    assert.match(await tp.textContent('.transcript .markers-more'), /and \d+ more/);
    assert.ok((await tp.locator('.transcript .marker').count()) <= 1000);
    await tp.waitForFunction(() => /too long to show here/.test(document.querySelector('.transcript .conv').textContent));
    const lines = await tp.evaluate(() => document.querySelector('.transcript .conv').children.length);
    assert.ok(lines <= 20002, 'lines drawn: ' + lines);
    await shot(tp, 'hostile-02-long');
  });

  await t.test('a tile of a session of megabytes under way fetches no transcript', async () => {
    await tp.goto(lab.base + '#/teacher');
    await tp.waitForSelector('.live-view');
    // 80 * 8000 empty lines, 1.2 MB: past what the live view fetches for a tile.
    const id = await scriptedSession(sp, '\r\n'.repeat(8000), 80, true);
    await tp.waitForFunction(
      (sid) => / MB sent/.test(document.querySelector(`.live-tile[data-session-id="${sid}"] .live-meta`)?.textContent || ''),
      id,
    );
    // The teacher arrives while it is under way.
    const fetched = [];
    tp.on('request', (r) => {
      if (r.url().includes('/api/sessions/' + id + '/transcript')) fetched.push(r.url());
    });
    await tp.reload();
    await tp.waitForSelector(`.live-tile[data-session-id="${id}"]`);
    await tp.waitForFunction(
      (sid) => document.querySelector(`.live-tile[data-session-id="${sid}"] .live-term`).textContent.includes('what came before is in the transcript'),
      id,
    );
    assert.deepEqual(fetched, [], 'no transcript request for a large session');
    await sp.evaluate(() => window.keptOpen.close());
  });

  assert.deepEqual(sp.errors, [], 'no script or console errors for the student');
  assert.deepEqual(tp.errors, [], 'no script or console errors for the teacher');
  await sctx.close();
  await ctx.close();
});
