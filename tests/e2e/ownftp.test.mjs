// ownftp.test.mjs -- a student's own FTP client (here a few lines of
// node:net, as a student's script would be) downloads a file over a
// passive data connection; in "My sessions" the data connection is listed
// right under its control session as "ftp-data · RETR welcome.txt", and
// its transcript names the control session and links to it (issue 12).
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startLab, newPage, join, shot } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

// A line-at-a-time reader of FTP replies (final lines only: "NNN text").
function ftpControl(port) {
  const sock = connect(port, '127.0.0.1');
  let buf = '';
  const waiters = [];
  const lines = [];
  sock.setEncoding('latin1');
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (/^\d{3} /.test(line)) lines.push(line);
    }
    while (waiters.length && lines.length) waiters.shift()(lines.shift());
  });
  const reply = () =>
    new Promise((resolve) => {
      if (lines.length) resolve(lines.shift());
      else waiters.push(resolve);
    });
  const send = async (cmd) => {
    sock.write(cmd + '\r\n');
    return reply();
  };
  return { sock, reply, send };
}

test('an own client’s FTP data connection is listed under its control session', { timeout: 60000 }, async () => {
  const context = await lab.browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await newPage(context);
  const name = 'of' + Date.now().toString(36).slice(-6);
  const login = await join(page, lab.base, name);

  const ftp = ftpControl(lab.labBase + 21);
  assert.match(await ftp.reply(), /^220 /);
  assert.match(await ftp.send('USER ' + login.user), /^331 /);
  assert.match(await ftp.send('PASS ' + login.password), /^230 /);
  const pasv = await ftp.send('PASV');
  const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pasv);
  assert.ok(m, pasv);
  const dataPort = Number(m[5]) * 256 + Number(m[6]);
  const data = connect(dataPort, '127.0.0.1');
  const chunks = [];
  const dataDone = new Promise((resolve) => data.on('close', resolve));
  data.on('data', (d) => chunks.push(d));
  await new Promise((resolve) => data.on('connect', resolve));
  assert.match(await ftp.send('RETR welcome.txt'), /^150 /);
  assert.match(await ftp.reply(), /^226 /);
  await dataDone;
  assert.match(Buffer.concat(chunks).toString(), new RegExp(name));
  assert.match(await ftp.send('QUIT'), /^221 /);
  ftp.sock.end();

  // My sessions: the control session, then its data connection under it.
  await page.locator('#nav a[data-nav="lab"]').click();
  const items = page.locator('.session-list li');

  await page.waitForFunction(() => {
    const texts = Array.from(document.querySelectorAll('.session-list .session-item'), (b) => b.textContent);
    return texts.some((x) => x.includes('ftp-data · RETR welcome.txt')) && texts.some((x) => /lab:21(?!\d)/.test(x));
  });
  const texts = await items.allTextContents();
  const ctl = texts.findIndex((x) => /lab:21(?!\d)/.test(x) && !x.includes('ftp-data'));
  assert.ok(ctl >= 0, texts.join('\n'));
  assert.match(texts[ctl + 1], /ftp-data · RETR welcome\.txt/, 'the data connection right under it');
  const ctlId = Number(/#(\d+)/.exec(texts[ctl])[1]);
  const dataItem = items.nth(ctl + 1).locator('button.session-item');
  assert.equal(await dataItem.getAttribute('class').then((c) => c.includes('session-data')), true);
  await shot(page, 'ownftp-01-sessions');

  // Its transcript says what it is and links the control session.
  await dataItem.click();
  const link = page.locator(`a[href$="transcript/${ctlId}"]`).first();
  await link.waitFor();
  await page.waitForFunction(() => /ftp-data · RETR welcome\.txt/.test(document.body.textContent));
  await shot(page, 'ownftp-02-transcript');
  assert.deepEqual(page.errors, []);
  await context.close();
});
