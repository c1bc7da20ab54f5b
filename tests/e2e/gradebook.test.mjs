// gradebook.test.mjs -- the teacher's gradebook in the browser: three
// students and a teacher. Every student shows as soon as they join, before
// any of them scores; a score appears after a refresh; the student actions
// answer; the CSV behind "Download CSV" parses.
//
// Run: node --test tests/e2e/   (after `npm ci` in tests/e2e)
// Env and shared code: see helpers.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, newPage, join, shot, signInTeacher } from './helpers.mjs';

let lab = null;

before(async () => {
  lab = await startLab();
});

after(async () => {
  if (lab) await lab.stop();
});

test('the gradebook shows every student before anyone scores', { timeout: 90000 }, async () => {
  const stamp = Date.now().toString(36).slice(-5);
  const names = ['ana' + stamp, 'ben' + stamp, 'cy' + stamp];
  const students = [];
  for (const name of names) {
    const context = await lab.browser.newContext({ viewport: { width: 1024, height: 700 } });
    const page = await newPage(context);
    await join(page, lab.base, name);
    students.push({ name, context, page });
  }

  const tctx = await lab.browser.newContext({ viewport: { width: 1366, height: 860 } });
  const tp = await newPage(tctx);
  await signInTeacher(tp, lab.base);
  const rows = tp.locator('.gradebook-table tbody tr');
  await tp.waitForFunction((n) => document.querySelectorAll('.gradebook-table tbody tr').length === n, names.length);
  for (const name of names) {
    const row = tp.locator('.gradebook-table tbody tr', { hasText: name });
    assert.equal(await row.locator('td.total').textContent(), '0');
  }
  assert.equal(await rows.filter({ hasText: 'teacher' }).count(), 0, 'the teacher is not a student');
  await shot(tp, 'gradebook-01-before-scores');

  // One student scores; the teacher's refresh shows it, with a task cell.
  const ana = students[0].page;
  const r = await ana.evaluate(async () => {
    const res = await fetch(new URL('api/lessons/smtp/tasks/smtp-greeting', location.href), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ answer: '220' }),
    });
    return res.json();
  });
  assert.equal(r.correct, true);
  await tp.locator('.gradebook .section-head button', { hasText: 'Refresh' }).click();
  const anaRow = tp.locator('.gradebook-table tbody tr', { hasText: names[0] });
  await tp.waitForFunction(
    (n) => [...document.querySelectorAll('.gradebook-table tbody tr')].some((tr) => tr.textContent.includes(n) && tr.querySelector('td.total').textContent === '1'),
    names[0],
  );
  assert.equal(await anaRow.locator('td.total').textContent(), '1');
  assert.equal(await tp.locator('.task-table tbody tr', { hasText: names[0] }).locator('td.full').count(), 1);

  // A student's actions: a new rejoin code is shown once.
  await anaRow.locator('button.student-name').click();
  await tp.locator('.gradebook-student button', { hasText: 'New rejoin code' }).click();
  await tp.locator('.gradebook-student', { hasText: 'New rejoin code for ' + names[0] + ':' }).waitFor();
  await shot(tp, 'gradebook-02-student');

  // The CSV behind the download link parses: a header and one row per student and task.
  const csv = await tp.evaluate(async () => {
    const a = document.querySelector('.gradebook a[download]');
    return (await fetch(a.href)).text();
  });
  const lines = csv.replace(/^\uFEFF/, '').trim().split('\r\n');
  assert.equal(lines[0], 'student,kind,item,title,points,max_points,attempts,first_attempt_at,solved_at,hints,hint_points');
  assert.ok(lines.some((l) => l.startsWith(names[0] + ',task,smtp/smtp-greeting,') && l.includes(',1,1,1,')), 'ana solved');
  assert.equal((lines.length - 1) % names.length, 0);

  assert.deepEqual(tp.errors, [], 'no script or console errors');
  for (const s of students) {
    assert.deepEqual(s.page.errors, [], 'no script or console errors for ' + s.name);
    await s.context.close();
  }
  await tctx.close();
});
