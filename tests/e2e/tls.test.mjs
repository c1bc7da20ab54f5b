// tls.test.mjs -- STARTTLS through the relay in the browser (issue 14): after
// STARTTLS and the lab's 220 the page offers Start TLS, typing "starttls"
// upgrades the same connection, and the transcript switches between what
// the student sent and read and what an eavesdropper saw.
// Screenshots: tests/artifacts/tls-*.png.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, shot, typeLine, expectConv, active, convText } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

test('STARTTLS in the browser and the eavesdropper view', { timeout: 90000 }, async () => {
  const context = await lab.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await newPage(context);
  await join(page, lab.base, 'tl' + Date.now().toString(36).slice(-5));
  await page.goto(lab.base + '#/lesson/smtp?open=lab:25');
  await expectConv(page, '220 lab ESMTP');
  const startBtn = active(page, '.session-actions button').filter({ hasText: 'Start TLS' });
  await typeLine(page, 'EHLO first');
  await expectConv(page, '250 HELP');
  assert.equal(await startBtn.isVisible(), false, 'no offer before the server agreed');
  await typeLine(page, 'STARTTLS');
  await expectConv(page, 'Ready to start TLS');
  await startBtn.waitFor({ state: 'visible' });
  await typeLine(page, 'starttls');
  await expectConv(page, 'TLS is up (certificate verified)');
  await expectConv(page, 'tls: verification: ok');
  assert.equal(await startBtn.isVisible(), false);
  await typeLine(page, 'EHLO second');
  await expectConv(page, /250-lab Hello second[\s\S]*250 HELP/);
  await typeLine(page, 'QUIT');
  await expectConv(page, '221 ');
  await shot(page, 'tls-session');

  await active(page, '.session-actions button').filter({ hasText: /transcript/i }).click();
  const panel = page.locator('.tabpanel:not([hidden]) .transcript');
  await panel.locator('.layer-switch').waitFor({ state: 'visible' });
  assert.equal(await panel.locator('a[data-format="keylog"]').isVisible(), true);
  const text = () => convText(page);
  await expectConv(page, 'EHLO second');
  await panel.locator('.layer-switch button[data-layer="wire"]').click();
  await page.waitForFunction(
    () => !document.querySelector('.tabpanel:not([hidden]) .conv').textContent.includes('EHLO second'),
  );
  const wire = await text();
  assert.match(wire, /EHLO first/, 'the cleartext part is on the wire');
  assert.match(wire, /STARTTLS/);
  assert.doesNotMatch(wire, /EHLO second|QUIT/, 'after the upgrade only records');
  await shot(page, 'tls-eavesdropper');
  await panel.locator('.layer-switch button[data-layer="plain"]').click();
  await expectConv(page, 'EHLO second');
  assert.deepEqual(page.errors, []);
  await context.close();
});
