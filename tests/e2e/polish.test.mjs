// polish.test.mjs -- what a student sees about their sessions is true, at a
// desktop width (1280 px) and a phone width (375 px): a refused connection
// is shown as refused (not open), an unknown transcript is one clear
// "not found" state, and the first load logs no 401. Screenshots go to
// tests/artifacts/polish-*.png.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, shot } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

for (const [width, height] of [
  [1280, 800],
  [375, 740],
]) {
  test('session states at ' + width + ' px', { timeout: 60000 }, async (t) => {
    const context = await lab.browser.newContext({ viewport: { width, height } });
    const page = await newPage(context);
    const unauthorized = [];
    page.on('response', (r) => {
      if (r.status() === 401) unauthorized.push(r.url());
    });
    const name = 'po' + width + Date.now().toString(36).slice(-5);

    await t.test('the first load asks without a 401', async () => {
      await join(page, lab.base, name);
      assert.deepEqual(unauthorized, []);
    });

    await t.test('a refused target is shown as refused, not open', async () => {
      await page.goto(lab.base + '#/lesson/smtp?open=192.0.2.1:25');
      const panel = page.locator('.tabpanel:not([hidden]) .session[data-status="refused"]');
      await panel.waitFor();
      assert.match(await panel.locator('.status-text').textContent(), /refused/);
      assert.equal(await page.locator('.tab-item[data-status="refused"]').count(), 1);
      assert.equal(await page.locator('.tab-item[data-status="connected"]').count(), 0);
      assert.equal(await page.locator('.session-item.open').count(), 0, 'nothing open in My sessions');
      await shot(page, 'polish-refused-' + width);
    });

    await t.test('an unknown transcript is one clear not-found state', async () => {
      await page.goto(lab.base + '#/transcript/987654321');
      const tr = page.locator('.transcript[data-state="not-found"]');
      await tr.waitFor();
      assert.match(await tr.locator('.status').textContent(), /no session #987654321/);
      assert.equal(await tr.locator('.replay').isVisible(), false, 'no replay controls');
      assert.equal(await tr.locator('.exports').isVisible(), false, 'no downloads');
      assert.equal(await tr.locator('.transcript-body').isVisible(), false, 'no empty pane');
      await shot(page, 'polish-not-found-' + width);
    });

    // The unknown transcript's 404 is the answer the page shows; nothing else.
    assert.deepEqual(page.errors.filter((e) => !/status of 404 .*\/987654321\/transcript/.test(e)), []);
    await context.close();
  });
}
