// live.test.mjs -- the teacher's live class grid and the broadcast, with
// three students and a teacher in headless chromium: the teacher's page is
// open before anyone types, and shows each student's typed line in that
// student's tile without a reload; following a tile replays the session;
// a broadcast appears at once on every student's page, and on one that
// loads when its address's share of WebSockets is full (a class behind one
// NAT), since the banner's listener asks for the listeners' share.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, typeLine, expectConv, shot, signInTeacher } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

test('the teacher watches three students live and broadcasts', { timeout: 120000 }, async (t) => {
  const tctx = await lab.browser.newContext({ viewport: { width: 1366, height: 900 } });
  const tp = await newPage(tctx);
  await signInTeacher(tp, lab.base);
  await tp.waitForSelector('.live-view .live-empty');

  const suffix = Date.now().toString(36).slice(-5);
  const students = [];
  for (let i = 0; i < 3; i++) {
    const context = await lab.browser.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await newPage(context);
    const name = 'live' + i + suffix;
    await join(page, lab.base, name);
    students.push({ context, page, name });
  }

  await t.test("each student's typed line shows in their tile without a reload", async () => {
    for (const s of students) {
      await s.page.goto(lab.base + '#/lesson/smtp?open=lab:25');
      await s.page.waitForSelector('.tabpanel:not([hidden]) .session[data-status="connected"]');
      await expectConv(s.page, '220 ');
      await typeLine(s.page, 'EHLO ' + s.name);
      await expectConv(s.page, '250');
    }
    for (const s of students) {
      const tile = tp.locator('.live-tile', { hasText: s.name });
      await tile.waitFor();
      await tp.waitForFunction(
        (n) => [...document.querySelectorAll('.live-tile')].some((el) => el.querySelector('.live-term').textContent.includes('EHLO ' + n)),
        s.name,
      );
      assert.match(await tile.locator('.live-target').textContent(), /lab:25/);
    }
    assert.equal(await tp.locator('.live-tile').count(), 3);
    await shot(tp, 'live-01-grid');
  });

  await t.test('a new line streams in, and the badge says typing', async () => {
    const s = students[1];
    await typeLine(s.page, 'NOOP');
    await expectConv(s.page, /250[^\n]*\n?[^]*250/);
    // The badge turns "typing now" with the event that brings the line.
    await tp.waitForFunction(
      (n) =>
        [...document.querySelectorAll('.live-tile')].some(
          (el) => el.textContent.includes(n) && el.querySelector('.live-term').textContent.includes('NOOP') && el.querySelector('.badge.typing'),
        ),
      s.name,
    );
  });

  await t.test('following a tile replays the session full size; spotlight', async () => {
    const s = students[0];
    await tp.locator('.live-tile', { hasText: s.name }).locator('button', { hasText: 'Follow' }).click();
    await tp.waitForFunction((n) => {
      const box = document.querySelector('.live-follow:not([hidden]) .live-term');
      return box && box.textContent.includes('220 ') && box.textContent.includes('EHLO ' + n);
    }, s.name);
    await tp.locator('.live-follow button', { hasText: 'Spotlight' }).click();
    await tp.waitForSelector('.live-follow.spotlight');
    await shot(tp, 'live-02-spotlight');
    await tp.keyboard.press('Escape');
    await tp.waitForSelector('.live-follow:not(.spotlight)');
  });

  await t.test("a broadcast shows on every student's page", async () => {
    await tp.fill('#broadcast-text', 'Stop typing, look at the projector');
    await tp.locator('.broadcast-form button[type="submit"]').click();
    await tp.waitForFunction(() => /Shown on 3 student pages/.test(document.querySelector('.broadcast-form').textContent));
    for (const s of students) {
      await s.page.waitForSelector('.broadcast-banner:not([hidden])');
      assert.match(await s.page.textContent('.broadcast-banner'), /Stop typing, look at the projector/);
    }
    await shot(students[0].page, 'live-03-broadcast');
  });

  await t.test('an ended session leaves the grid', async () => {
    const s = students[2];
    await typeLine(s.page, 'QUIT');
    await tp.waitForSelector(`.live-tile.ended:has-text("${s.name}")`);
    await tp.waitForFunction((n) => ![...document.querySelectorAll('.live-tile')].some((el) => el.textContent.includes(n)), s.name, {
      timeout: 20000,
    });
  });

  for (const s of students) {
    assert.deepEqual(s.page.errors, [], 'no script or console errors on ' + s.name);
    await s.context.close();
  }
  assert.deepEqual(tp.errors, [], 'no script or console errors for the teacher');
  await tctx.close();
});

test("a page still hears the teacher when its address's WebSockets are full", { timeout: 120000 }, async () => {
  // Every browser here comes from 127.0.0.1, as a class behind one NAT does.
  const small = await startLab(['--ws-per-addr', '4']);
  try {
    const tctx = await small.browser.newContext();
    const tp = await newPage(tctx);
    await signInTeacher(tp, small.base);
    await tp.waitForSelector('.live-view .live-empty');

    // A classmate's tabs take every WebSocket of the address's other share:
    // opened one at a time until the server refuses one.
    const fctx = await small.browser.newContext();
    const filler = await fctx.newPage();
    await join(filler, small.base, 'fill' + Date.now().toString(36).slice(-5));
    const held = await filler.evaluate(async () => {
      window.held = [];
      for (let i = 0; i < 16; i++) {
        const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws', 'portlab.v1');
        const opened = await new Promise((resolve) => {
          ws.onopen = () => resolve(true);
          ws.onclose = () => resolve(false);
        });
        if (!opened) return window.held.length;
        window.held.push(ws);
      }
      return -1;
    });
    assert.ok(held >= 1, 'the share filled after ' + held + ' WebSockets');

    const sctx = await small.browser.newContext();
    const sp = await newPage(sctx);
    await join(sp, small.base, 'late' + Date.now().toString(36).slice(-5));
    await tp.fill('#broadcast-text', 'Everyone: eyes on the board');
    await tp.locator('.broadcast-form button[type="submit"]').click();
    await tp.waitForFunction(() => /Shown on 2 student pages/.test(document.querySelector('.broadcast-form').textContent));
    await sp.waitForSelector('.broadcast-banner:not([hidden])');
    assert.match(await sp.textContent('.broadcast-banner'), /Everyone: eyes on the board/);
    assert.deepEqual(sp.errors, [], 'no script or console errors on the late page');
    assert.deepEqual(tp.errors, [], 'no script or console errors for the teacher');
  } finally {
    await small.stop();
  }
});
