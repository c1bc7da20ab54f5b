// hints.test.mjs -- taking a hint in the page (issue 12). The teacher turns
// "Hints cost points" on in the class settings; a student sees what the
// next hint costs before asking, takes it, reads it, solves the task and
// earns the task's points less the hint; the teacher's gradebook shows the
// hint and the points it cost. With the setting off, the button says the
// hint is free.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, shot, answerTask, signInTeacher } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

async function openLesson(page, id, title) {
  await page.locator('#nav a[data-nav="lessons"]').click();
  await page.locator(`.lesson-card[data-lesson="${id}"] h2 a`).click();
  await page.waitForFunction((t) => document.querySelector('#lesson-title')?.textContent === t, title);
  await page.waitForSelector('.task-card');
}

test('a hint that costs a point, taken in the page', { timeout: 90000 }, async () => {
  const stamp = Date.now().toString(36).slice(-5);

  // The teacher turns the setting on in the class settings.
  const tctx = await lab.browser.newContext({ viewport: { width: 1366, height: 860 } });
  const tp = await newPage(tctx);
  await signInTeacher(tp, lab.base);
  const box = tp.locator('#class-hints-cost');
  await box.waitFor();
  await tp.waitForFunction(() => document.querySelector('#class-code') !== null);
  assert.equal(await box.isChecked(), false, 'hints are free until the teacher says otherwise');
  await box.check();
  await tp.locator('.teacher-class button[type="submit"]').click();
  await tp.waitForFunction(() => /saved/i.test(document.querySelector('.teacher-class [role="status"]')?.textContent || ''));

  // The student sees the cost before asking.
  const context = await lab.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await newPage(context);
  const name = 'hint' + stamp;
  await join(page, lab.base, name);
  await openLesson(page, 'ftp', 'FTP and its two channels');
  const card = page.locator('.task-card[data-task="ftp-pasv-port"]');
  await card.scrollIntoViewIfNeeded();
  const take = card.locator('button.task-hint-take');
  assert.equal(await take.textContent(), 'Show hint 1 of 2 (costs 1 point of this task)');
  assert.equal(await card.locator('.task-hint').count(), 0, 'no hint text before it is taken');
  await take.click();
  await card.locator('.task-hint').first().waitFor();
  assert.match(await card.locator('.task-hint').first().textContent(), /^Hint 1: .*high byte first/);
  assert.equal(await take.textContent(), 'Show hint 2 of 2 (costs 1 point of this task)');
  assert.equal(await card.locator('.task-hint-lost').textContent(), 'Hints cost you 1 point here.');
  await shot(page, 'hints-01-taken');

  // Solved: 2 points less the hint.
  await answerTask(page, 'ftp-pasv-port', '30035');
  assert.equal(await card.locator('.task-state').textContent(), '✓ solved, +1');
  assert.match(await card.locator('.task-msg').textContent(), /Correct! \+1 point\./);

  // The gradebook shows the hint and what it cost.
  await tp.locator('.gradebook .section-head button', { hasText: 'Refresh' }).click();
  const cell = tp
    .locator('.task-table tbody tr', { hasText: name })
    .locator('td[data-hints="1"]');
  await cell.waitFor();
  assert.equal(await cell.getAttribute('data-hint-points'), '1');
  assert.match(await cell.textContent(), /✓.*1 hint −1/);
  await shot(tp, 'hints-02-gradebook');

  // Off again: the next hint is free, and says so.
  await box.uncheck();
  await tp.locator('.teacher-class button[type="submit"]').click();
  await tp.waitForFunction(() => /saved/i.test(document.querySelector('.teacher-class [role="status"]')?.textContent || ''));
  await openLesson(page, 'ports', (await page.evaluate(async () => {
    const r = await fetch(new URL('api/lessons/ports', location.href));
    return (await r.json()).lesson.title;
  })));
  const free = page.locator('.task-card[data-task="port-mail-submit"] button.task-hint-take');
  await free.scrollIntoViewIfNeeded();
  assert.equal(await free.textContent(), 'Show hint 1 of 2 (free)');

  assert.deepEqual(page.errors, []);
  assert.deepEqual(tp.errors, []);
  await context.close();
  await tctx.close();
});
