// reload.test.mjs -- a page reload takes the open sessions over again:
// portlab keeps a session whose WebSocket went away for 30 s, and the page
// keeps what it needs to resume in sessionStorage.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, active, typeLine, expectConv, convText, shot } from './helpers.mjs';

const SAVED_KEY = 'portlab.liveSessions';
const CONNECTED = '.tabpanel:not([hidden]) .session[data-status="connected"]';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

const saved = (page) => page.evaluate((key) => JSON.parse(sessionStorage.getItem(key) || 'null'), SAVED_KEY);

test('a reload brings the open session back', { timeout: 60000 }, async (t) => {
  const context = await lab.browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await newPage(context);
  const name = 'rl' + Date.now().toString(36).slice(-6);
  await join(page, lab.base, name);
  let id = 0;

  await t.test('open SMTP and say EHLO', async () => {
    await page.goto(lab.base + '#/lesson/smtp?open=lab:25');
    await page.waitForSelector(CONNECTED);
    await expectConv(page, '220 ');
    await typeLine(page, 'EHLO before-reload');
    await expectConv(page, '250 HELP');
    const s = await saved(page);
    assert.equal(s.sessions.length, 1);
    id = s.sessions[0].session_id;
    assert.ok(Number.isInteger(id) && s.sessions[0].resume_token, 'id and token kept');
    assert.equal(s.sessions[0].port, 25);
  });

  await t.test('reload: the tab comes back with the earlier reply', async () => {
    await page.reload();
    await page.waitForSelector(CONNECTED);
    await expectConv(page, 'taking it over again');
    // The server replays the whole conversation: the greeting and EHLO reply.
    await expectConv(page, '220 ');
    await expectConv(page, '250 HELP');
    const tabs = await page.locator('.tab-item').count();
    assert.equal(tabs, 1, 'one tab, the session');
    assert.match(await page.locator('.tab-item.active .tab-label').textContent(), /lab:25/);
    await shot(page, '07-after-reload');
  });

  await t.test('the same session goes on', async () => {
    await typeLine(page, 'MAIL FROM:<' + name + '@lab>');
    await expectConv(page, 'Sender <' + name + '@lab> OK');
    assert.equal((await saved(page)).sessions[0].session_id, id);
    // The transcript of that one session holds both commands (it is
    // written a moment after the bytes go by).
    let sent = '';
    for (let i = 0; i < 50 && !sent.includes('MAIL FROM'); i++) {
      if (i) await new Promise((r) => setTimeout(r, 100));
      const r = await page.request.get(lab.base + 'api/sessions/' + id + '/transcript');
      assert.equal(r.status(), 200);
      sent = (await r.json()).events.filter((e) => e.dir === 'c2s').map((e) => e.text).join('');
    }
    assert.match(sent, /EHLO before-reload\r\n/);
    assert.match(sent, /MAIL FROM:<[^>]+>\r\n/);
  });

  await t.test('after hanging up a reload does not bring it back', async () => {
    await active(page, '.session-actions button.danger').click();
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-local="true"]');
    assert.equal(await saved(page), null, 'nothing kept');
    await page.reload();
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-local="true"]');
    assert.equal(await page.locator('.session[data-local="false"]').count(), 0, 'no session reopened');
    assert.ok(!(await convText(page)).includes('taking it over again'));
  });

  await t.test('a session that cannot be resumed shows as ended', async () => {
    // As if the page came back too late: the session is gone. (Written as
    // the page goes, after the page's own pagehide has saved its sessions.)
    const user = (await (await page.request.get(lab.base + 'api/me')).json()).user.id;
    await page.evaluate(
      ([key, value]) => window.addEventListener('pagehide', () => sessionStorage.setItem(key, value)),
      [
        SAVED_KEY,
        JSON.stringify({
          user,
          sessions: [
            { session_id: id, resume_token: 'stale', host: 'lab', port: 25, mode: 'raw', label: 'smtp lab:25', received: 300000 },
          ],
        }),
      ],
    );
    await page.reload();
    // More than the server keeps: the view points to the transcript.
    await expectConv(page, 'Earlier output of this session is not shown here');
    await expectConv(page, 'This session has ended');
    assert.equal(await active(page, `.conv a[href="#/transcript/${id}"]`).count(), 2);
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-local="true"]');
    assert.equal(await saved(page), null, 'forgotten');
    await shot(page, '08-resume-failed');
  });

  assert.deepEqual(page.errors, [], 'no script or console errors');
  await context.close();
});
