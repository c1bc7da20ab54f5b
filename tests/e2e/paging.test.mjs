// paging.test.mjs -- the session list shows one page and fetches older
// sessions with its "Show older sessions" button (GET /api/sessions?before=).
//
// This file's portlab runs with PORTLAB_SESSIONS_PAGE_MAX=1, so a page holds
// one session and three sessions make three pages.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, shot } from './helpers.mjs';

let lab = null;

before(async () => {
  process.env.PORTLAB_SESSIONS_PAGE_MAX = '1'; // read by this file's portlab only
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

// Opens a relay session to lab:25 from the page and hangs up: one more row
// in the list. Resolves with the session id.
const recordSession = (page) =>
  page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(new URL('ws', location.href).href.replace(/^http/, 'ws'), 'portlab.v1');
        ws.onopen = () => ws.send(JSON.stringify({ type: 'open', host: 'lab', port: 25 }));
        ws.onmessage = (e) => {
          if (typeof e.data !== 'string') return;
          const m = JSON.parse(e.data);
          if (m.type === 'opened') ws.send(JSON.stringify({ type: 'close' }));
          if (m.type === 'closed') resolve(m);
          if (m.type === 'error') reject(new Error(m.message));
        };
        ws.onerror = () => reject(new Error('websocket failed'));
      }),
  );

test('older sessions come a page at a time', { timeout: 60000 }, async () => {
  const context = await lab.browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await newPage(context);
  await join(page, lab.base, 'pg' + Date.now().toString(36).slice(-6));
  for (let i = 0; i < 3; i++) await recordSession(page);

  await page.locator('#nav a[data-nav="lab"]').click();
  const items = page.locator('.session-list li');
  const more = page.locator('button.more-sessions');
  await items.first().waitFor();
  assert.equal(await items.count(), 1);
  await more.waitFor({ state: 'visible' });
  await more.click();
  await page.waitForFunction(() => document.querySelectorAll('.session-list li').length === 2);
  await more.click();
  await page.waitForFunction(() => document.querySelectorAll('.session-list li').length === 3);
  await more.waitFor({ state: 'hidden' });
  const ids = (await items.allTextContents()).map((s) => Number((s.match(/#(\d+)/) || [])[1]));
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first: ' + ids.join(', '));
  await shot(page, 'paging-01-three-pages');
  await context.close();
});
