// phone.test.mjs -- a lesson on a 375 px phone (issue 12): the lesson and
// the terminal take turns behind two tabs (opening a session shows the
// terminal), "Larger text" keeps the newest line in view, and the key bar
// and the line ending stay on screen and big enough to tap. Screenshots:
// tests/artifacts/phone-*.png.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, shot, typeLine, expectConv, active } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

const WIDTH = 375;

// The box of each element matching sel, in viewport pixels.
const boxes = (page, sel) =>
  page.evaluate(
    (s) =>
      Array.from(document.querySelectorAll(s), (el) => {
        const r = el.getBoundingClientRect();
        return { left: r.left, right: r.right, width: r.width, height: r.height };
      }),
    sel,
  );

// 1 if the visible conversation shows its last line.
const newestInView = (page) =>
  page.evaluate(() => {
    const log = document.querySelector('.tabpanel:not([hidden]) .conv');
    const last = log.lastElementChild;
    const a = log.getBoundingClientRect();
    const b = last.getBoundingClientRect();
    return b.bottom <= a.bottom + 2 && b.bottom > a.top;
  });

test('a lesson on a 375 px phone', { timeout: 90000 }, async () => {
  const context = await lab.browser.newContext({ viewport: { width: WIDTH, height: 740 } });
  const page = await newPage(context);
  const login = await join(page, lab.base, 'ph' + Date.now().toString(36).slice(-5));
  await page.goto(lab.base + '#/lesson/pop3-imap');
  await page.waitForSelector('.lesson-body .session-link');

  // The lesson first, the terminal one tap away.
  const lessonTab = page.locator('.part-tab[data-part="lesson"]');
  const termTab = page.locator('.part-tab[data-part="terminal"]');
  assert.equal(await lessonTab.isVisible(), true);
  assert.equal(await lessonTab.getAttribute('aria-selected'), 'true');
  assert.equal(await page.locator('.lesson-text').isVisible(), true);
  assert.equal(await page.locator('.lesson-work').isVisible(), false);
  await shot(page, 'phone-lesson');

  // Opening a session from the text shows the terminal.
  await page.locator('.lesson-body .session-link', { hasText: 'lab:110' }).first().click();
  await expectConv(page, '+OK');
  assert.equal(await termTab.getAttribute('aria-selected'), 'true');
  assert.equal(await page.locator('.lesson-text').isVisible(), false);
  await typeLine(page, 'USER ' + login.user);
  await expectConv(page, '+OK');
  for (let i = 0; i < 12; i++) await typeLine(page, 'NOOP');
  // Every NOOP answered (before a login, with -ERR): the log is long.
  await page.waitForFunction(() => {
    const log = document.querySelector('.tabpanel:not([hidden]) .conv');
    return log && log.textContent.split('-ERR Log in first').length > 12;
  });
  assert.equal(await newestInView(page), true, 'newest line in view');

  // Larger text: still the newest line.
  await page.click('#large-toggle');
  assert.equal(await page.getAttribute('#large-toggle', 'aria-pressed'), 'true');
  await page.waitForFunction(() => {
    const log = document.querySelector('.tabpanel:not([hidden]) .conv');
    const b = log.lastElementChild.getBoundingClientRect();
    const a = log.getBoundingClientRect();
    return b.bottom <= a.bottom + 2 && b.bottom > a.top;
  });
  await shot(page, 'phone-terminal-large', { fullPage: true });

  // The line ending and the key bar fit and can be tapped.
  const eol = await boxes(page, '.tabpanel:not([hidden]) select.eol');
  assert.ok(eol.length === 1 && eol[0].right <= WIDTH && eol[0].height >= 32, JSON.stringify(eol));
  await active(page, 'button[aria-pressed]', { hasText: 'Character mode' }).first().click();
  await page.waitForSelector('.tabpanel:not([hidden]) .keybar:not([hidden])');
  const keys = await boxes(page, '.tabpanel:not([hidden]) .keybar .key');
  assert.ok(keys.length >= 7, 'Ctrl, Esc, Tab and the arrows');
  for (const k of keys) {
    assert.ok(k.left >= 0 && k.right <= WIDTH, 'key on screen: ' + JSON.stringify(k));
    assert.ok(k.width >= 40 && k.height >= 40, 'key big enough to tap: ' + JSON.stringify(k));
  }
  const scroll = await page.evaluate(() => document.scrollingElement.scrollWidth);
  assert.ok(scroll <= WIDTH, 'no sideways scrolling: ' + scroll);
  await shot(page, 'phone-keybar', { fullPage: true });

  // And back to the lesson.
  await lessonTab.click();
  assert.equal(await page.locator('.lesson-text').isVisible(), true);
  assert.equal(await page.locator('.lesson-work').isVisible(), false);
  await page.click('#large-toggle');
  // xterm.js (character mode) sets inline styles, which the page's CSP
  // blocks and Chromium logs; that is known and not this test's subject.
  assert.deepEqual(
    page.errors.filter((e) => !/inline style.*\/vendor\/xterm\.js/.test(e)),
    [],
  );
  await context.close();
});
