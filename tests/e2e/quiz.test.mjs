// quiz.test.mjs -- the port quiz in headless chromium: the teacher creates a
// timed test, a student takes a practice round (feedback after every
// answer, port hints hidden on the lab page while the quiz runs) and then
// the test (no answers shown until the end), and the teacher reads the
// results per student and per question.
//
// Run: node --test tests/e2e/quiz.test.mjs   (after `npm ci` in tests/e2e)
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

// Answers the question on screen: the first choice, or "25" typed.
async function answerShown(page) {
  await page.waitForSelector('#quiz-prompt:not(:empty)');
  const choice = page.locator('.quiz-choice input').first();
  if ((await page.locator('.quiz-choice input').count()) > 0) await choice.check();
  else await page.fill('.quiz-answer-input', '25');
  await page.click('#quiz-submit');
}

test('practice, a timed test and the results', { timeout: 120000 }, async (t) => {
  const tctx = await lab.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const tp = await newPage(tctx);
  const sctx = await lab.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await newPage(sctx);
  const name = 'quiz' + Date.now().toString(36).slice(-5);

  await t.test('the teacher creates a test', async () => {
    await signInTeacher(tp, lab.base);
    await tp.locator('#nav a[data-nav="quiz"]').click();
    await tp.waitForSelector('#quiz-create');
    await tp.fill('#quiz-new-title', 'E2E ports');
    await tp.fill('#quiz-new-questions', '3');
    await tp.fill('#quiz-new-time', '600');
    await tp.click('#quiz-create-submit');
    await tp.locator('.quiz-teacher-tests .quiz-test', { hasText: 'E2E ports' }).waitFor();
  });

  await t.test('a practice round with feedback', async () => {
    await join(page, lab.base, name);
    await page.locator('#nav a[data-nav="lab"]').click();
    await page.waitForSelector('.quick button .port-hint');
    assert.equal(await page.locator('.quick button .port-hint').first().isVisible(), true);
    await page.locator('#nav a[data-nav="quiz"]').click();
    await page.click('#quiz-practice');
    for (let i = 0; i < 3; i++) {
      await answerShown(page);
      await page.waitForSelector('#quiz-feedback .quiz-verdict');
      const explanation = await page.textContent('#quiz-feedback .quiz-explanation');
      assert.ok(explanation.length > 10, 'feedback explains: ' + explanation);
      await page.click('#quiz-next');
    }
    assert.equal(await page.getAttribute('html', 'data-quiz'), 'open');
    await shot(page, 'quiz-01-practice');
    // While the quiz runs, the lab page gives no ports away.
    await page.locator('#nav a[data-nav="lab"]').click();
    await page.waitForSelector('.quick button');
    assert.equal(await page.locator('.quick button .port-hint').first().isVisible(), false);
    await typeLine(page, 'ports');
    await expectConv(page, 'hidden while your quiz runs');
    await page.locator('#nav a[data-nav="quiz"]').click();
    await page.click('#quiz-stop');
    await page.waitForSelector('#quiz-summary .quiz-score');
    assert.equal(await page.getAttribute('html', 'data-quiz'), null);
    await page.click('#quiz-back');
    await page.waitForSelector('.quiz-recent li');
  });

  await t.test('the timed test shows answers only at the end', async () => {
    await page.locator('.quiz-test', { hasText: 'E2E ports' }).locator('.quiz-test-start').click();
    await page.waitForSelector('#quiz-clock:not(:empty)');
    for (let i = 0; i < 3; i++) {
      await answerShown(page);
      if (i < 2) {
        await page.waitForFunction((n) => /Question (\d+) of 3/.exec(document.querySelector('.quiz-counter').textContent)?.[1] === String(n), i + 2);
        assert.equal(await page.locator('#quiz-feedback .quiz-explanation').count(), 0);
        assert.match(await page.textContent('#quiz-feedback'), /saved/);
      }
    }
    await page.waitForSelector('#quiz-summary .quiz-score');
    assert.match(await page.textContent('#quiz-summary'), /Right answer: \S/);
    assert.equal(await page.locator('#quiz-summary .quiz-review-list li').count(), 3);
    await shot(page, 'quiz-02-test-done');
  });

  await t.test("the teacher sees the student's result", async () => {
    await tp.locator('.quiz-teacher-tests .quiz-test', { hasText: 'E2E ports' }).locator('.quiz-results-btn').click();
    await tp.locator('.quiz-students tbody tr', { hasText: name }).waitFor();
    assert.ok((await tp.locator('.quiz-questions tbody tr').count()) >= 1);
    const csv = await tp.locator('#quiz-results a[download]').getAttribute('href');
    const r = await tp.request.get(csv);
    assert.equal(r.status(), 200);
    assert.match(await r.text(), new RegExp('^student,attempts.*\\r\\n' + name + ',1,'));
    await tp.locator('#quiz-results').scrollIntoViewIfNeeded();
    await shot(tp, 'quiz-03-results');
  });

  assert.deepEqual(page.errors, [], 'no script or console errors (student)');
  assert.deepEqual(tp.errors, [], 'no script or console errors (teacher)');
  await sctx.close();
  await tctx.close();
});
