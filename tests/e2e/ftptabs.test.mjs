// ftptabs.test.mjs -- FTP data tabs (issue 12): a data tab opened from a
// 227 reply sits right after its control session's tab, is named for what
// it carries ("ftp-data · RETR …"), and goes away when the transfer is done
// (226), leaving its transcript linked in the control conversation; three
// transfers leave no tabs behind. Screenshots: tests/artifacts/ftptabs-*.png.
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

const labels = (page) => page.locator('[role="tab"]').allTextContents();

async function pasvAndOpen(page) {
  const before = await page.locator('.tabpanel:not([hidden]) .conv .ann-open').count();
  await typeLine(page, 'PASV');
  await page.waitForFunction(
    (n) => document.querySelectorAll('.tabpanel:not([hidden]) .conv .ann-open').length > n,
    before,
  );
  await active(page, '.conv .ann-open').last().click();
  await page.waitForSelector('.tabpanel:not([hidden]) .session[data-status="connected"]');
}

async function control(page) {
  await page.locator('[role="tab"]', { hasText: /lab:21(?!\d)/ }).click();
}

test('FTP data tabs are named, grouped and closed', { timeout: 90000 }, async () => {
  const context = await lab.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await newPage(context);
  const login = await join(page, lab.base, 'ft' + Date.now().toString(36).slice(-5));
  await page.goto(lab.base + '#/lesson/ftp?open=lab:21');
  await expectConv(page, '220 (portlab FTP)');
  await typeLine(page, 'USER ' + login.user);
  await expectConv(page, '331 ');
  await typeLine(page, 'PASS ' + login.password);
  await expectConv(page, '230 Logged in');
  const tabsAtStart = (await labels(page)).length;

  // An upload waits for its data, so its tab can be looked at.
  await pasvAndOpen(page);
  await control(page);
  await typeLine(page, 'STOR tabs.txt');
  await expectConv(page, '150 ');
  const all = await labels(page);
  const ctl = all.findIndex((l) => /lab:21(?!\d)/.test(l));
  assert.match(all[ctl + 1], /ftp-data · STOR tabs\.txt/, 'named, right after its control tab');
  assert.equal(await page.locator('.tab-item.tab-child').count(), 1);
  await shot(page, 'ftptabs-upload-open');
  await page.locator('[role="tab"]', { hasText: 'ftp-data · STOR tabs.txt' }).click();
  await typeLine(page, 'one line');
  page.once('dialog', (d) => d.accept());
  await page.locator('.tab-item.active .tab-close').click();
  await control(page);
  await expectConv(page, /226 Transfer complete: \d+ bytes stored/);
  await expectConv(page, 'ftp-data · STOR tabs.txt: transfer done');

  // Three downloads: each data tab closes itself after 226.
  for (let i = 0; i < 3; i++) {
    await pasvAndOpen(page);
    await control(page);
    await typeLine(page, 'RETR /notes/ftp-flag.txt');
    await expectConv(page, '226 ');
    await page.waitForFunction(
      (n) => document.querySelectorAll('[role="tab"]').length === n,
      tabsAtStart,
    );
  }
  await expectConv(page, 'ftp-data · RETR /notes/ftp-flag.txt: transfer done');
  assert.equal((await labels(page)).length, tabsAtStart, 'no data tabs pile up');
  assert.equal(await page.locator('.tab-item.tab-child').count(), 0);
  // The transcript of a finished transfer is one click away.
  const links = active(page, '.conv a[href^="#/transcript/"]');
  assert.ok((await links.count()) >= 4, 'each transfer links its transcript');
  await shot(page, 'ftptabs-control-after');
  await links.last().click();
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll('.transcript')).some((el) => /FLAG\{/.test(el.textContent)),
  );
  assert.deepEqual(page.errors, []);
  await context.close();
});
