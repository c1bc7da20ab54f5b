// lab.test.mjs -- the browser lab end to end, in headless Debian chromium
// driven by playwright-core: join, open the SMTP lesson, send a mail by
// typing, answer a question, pass the check task, read and export the
// transcript, and resume a session after its WebSocket dropped.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startLab, newPage, active, typeLine, expectConv, shot } from './helpers.mjs';

let lab = null;
let browser = null;
let base = '';

before(async () => {
  lab = await startLab();
  browser = lab.browser;
  base = lab.base;
});

after(async () => {
  if (lab) await lab.stop();
});

test('a student does the SMTP lesson in the browser', { timeout: 90000 }, async (t) => {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 }, acceptDownloads: true });
  // Keep a handle on every WebSocket so a test can drop one.
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
      }
    };
  });
  const page = await newPage(context);
  const name = 'e2e' + Date.now().toString(36).slice(-6);

  await t.test('join', async () => {
    await page.goto(base);
    await page.fill('#join-name', name);
    await page.click('#join-submit');
    await page.waitForSelector('#rejoin:not([hidden])');
    await page.click('#rejoin-dismiss');
    await page.waitForSelector('.lesson-card[data-lesson="smtp"]');
    assert.match(await page.textContent('#who'), new RegExp(name));
    await shot(page, '01-lessons');
  });

  await t.test('open the SMTP lesson through a deep link', async () => {
    await page.goto(base + '#/lesson/smtp?open=lab:25');
    await page.waitForSelector('.task-card[data-task="smtp-greeting"]');
    assert.equal(await page.textContent('#lesson-title'), 'Sending mail by hand (SMTP)');
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-status="connected"]');
    await expectConv(page, '220 ');
    // The hash forgets the "open" once done.
    assert.equal(new URL(page.url()).hash, '#/lesson/smtp');
  });

  await t.test('send a mail by typing', async () => {
    await typeLine(page, 'EHLO workstation');
    await expectConv(page, '250 HELP');
    await typeLine(page, 'MAIL FROM:<' + name + '@lab>');
    await expectConv(page, 'Sender <' + name + '@lab> OK');
    await typeLine(page, 'RCPT TO:<demo@lab>');
    await expectConv(page, 'Recipient <demo@lab> OK');
    await typeLine(page, 'DATA');
    await expectConv(page, '354 ');
    await typeLine(page, 'Subject: Hello from the lab');
    await typeLine(page, '');
    await typeLine(page, 'Typed in the browser.');
    await typeLine(page, '.');
    await expectConv(page, 'Message accepted');
    // The annotation explains the reply codes.
    const notes = await active(page, '.conv .ann').allTextContents();
    assert.ok(notes.some((n) => n.includes('354')), 'an annotation for 354');
    await shot(page, '02-smtp-session');
    await typeLine(page, 'QUIT');
    await expectConv(page, 'Connection closed by foreign host.');
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-local="true"]');
    // Back at the local prompt.
    await typeLine(page, 'help');
    await expectConv(page, 'telnet HOST [PORT]');
  });

  await t.test('answer a question task', async () => {
    const card = page.locator('.task-card[data-task="smtp-greeting"]');
    await card.locator('input').fill('250');
    await card.locator('button[type="submit"]').click();
    await card.locator('.task-msg[data-kind="error"]').waitFor();
    await card.locator('input').fill('220');
    await card.locator('button[type="submit"]').click();
    await page.waitForSelector('.task-card[data-task="smtp-greeting"][data-solved="true"]');
    assert.match(await card.locator('.task-state').textContent(), /solved/);
  });

  await t.test('complete the deliver-demo check task', async () => {
    const card = page.locator('.task-card[data-task="smtp-deliver-demo"]');
    await card.scrollIntoViewIfNeeded();
    await card.locator('button', { hasText: 'Check my work' }).click();
    await page.waitForSelector('.task-card[data-task="smtp-deliver-demo"][data-solved="true"]');
    assert.match(await page.textContent('.lesson-score'), /^4 \/ 13/);
    await shot(page, '03-tasks-solved');
  });

  await t.test('view the transcript and export it as text', async () => {
    await page.locator('.tabpanel:not([hidden]) button:has-text("Recorded transcript")').click();
    await page.waitForSelector('.tabpanel:not([hidden]) .transcript .marker');
    const markers = await active(page, '.marker-text').allTextContents();
    assert.ok(markers.includes('EHLO workstation'), 'a marker for EHLO: ' + markers.join(' | '));
    assert.ok(markers.includes('QUIT'));
    // Jump to the DATA command: the view shows the replay up to there.
    await page.locator('.tabpanel:not([hidden]) .marker', { hasText: /^.*DATA$/ }).click();
    const text = await active(page, '.conv').textContent();
    assert.ok(text.includes('DATA') && !text.includes('221 '), 'replayed up to DATA');
    await page.locator('.tabpanel:not([hidden]) button:has-text("Show all")').click();
    await expectConv(page, '221 ');
    await shot(page, '04-transcript');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.locator('.tabpanel:not([hidden]) a[data-format="txt"]').click(),
    ]);
    const file = await download.path();
    const txt = readFileSync(file, 'utf8');
    assert.match(txt, /^C: EHLO workstation␍␊$/m);
    assert.match(txt, /^S: 220 /m);
    assert.match(txt, /^C: Subject: Hello from the lab␍␊$/m);
  });

  await t.test('a dropped WebSocket reconnects and resumes the session', async () => {
    await page.locator('.tab-new').click();
    await typeLine(page, 'telnet lab 25');
    await expectConv(page, '220 ');
    await typeLine(page, 'EHLO before-drop');
    await expectConv(page, '250 HELP');
    const id1 = await page.evaluate(() => window.__sockets.length);
    // Drop every open socket, as a flaky network would.
    await page.evaluate(() => {
      for (const ws of window.__sockets) if (ws.readyState === 1) ws.close(4000, 'test drop');
    });
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-status="reconnecting"]', { timeout: 3000 }).catch(() => {});
    await expectConv(page, 'Reconnected');
    await page.waitForSelector('.tabpanel:not([hidden]) .session[data-status="connected"]');
    assert.ok((await page.evaluate(() => window.__sockets.length)) > id1, 'a new socket');
    await typeLine(page, 'NOOP');
    await expectConv(page, '250 2.0.0');
    await shot(page, '05-resumed');
    // A paste of several lines sends each with CR LF; the rest stays typed.
    await active(page, '.line-input').evaluate((el) => {
      const dt = new DataTransfer();
      dt.setData('text/plain', 'RSET\nVRFY demo\nHELP');
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await expectConv(page, 'VRFY demo');
    assert.equal(await active(page, '.line-input').inputValue(), 'HELP');
    await active(page, '.line-input').fill('');
    // Send-hex: "NOOP" CR LF as bytes.
    await active(page, '.more-tools summary').click();
    await active(page, '.hex-input').fill('4e 4f 4f 50 0d 0a');
    await active(page, '.hex-form button').click();
    await page.waitForFunction(() => {
      const log = document.querySelector('.tabpanel:not([hidden]) .conv');
      return log && log.textContent.split('NOOP').length > 2;
    });
    await typeLine(page, 'QUIT');
    await expectConv(page, 'Connection closed by foreign host.');
  });

  await t.test('the layout stacks on a phone', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(base + '#/lessons');
    await page.waitForSelector('.lesson-card');
    await shot(page, '06-phone-lessons');
  });

  assert.deepEqual(page.errors, [], 'no script or console errors');
  await context.close();
});
