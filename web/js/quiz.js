// quiz.js -- the port quiz page (#/quiz).
//
// Students: practice (feedback after every answer), review (the facts that
// are due, spaced out by Leitner boxes; "due today" on the page), and the
// timed tests the teacher opened. Their history, best scores and weakest
// services are listed below. The teacher: create a test, open or close it,
// turn its leaderboard on, and read the results per student and per
// question. While an attempt runs, quizmode.js hides port hints elsewhere.
//
//   POST /api/quiz/attempts {"mode","test_id"?} -> {"attempt":{…,"question":Q}}
//   POST /api/quiz/attempts/{id}/answers {"question_id","answer"}
//     -> {"correct","points","explanation"?,"expected"?,"next":Q|null,"finished"}
//   GET /api/quiz/history, GET /api/quiz/tests, POST /api/quiz/tests,
//   POST /api/quiz/tests/{id}, GET /api/quiz/tests/{id}/results|leaderboard

import { h, uid } from './dom.js';
import { t } from './strings.js';
import { api } from './api.js';
import { setQuizOpen } from './quizmode.js';

const KINDS = [
  'port_service',
  'service_port',
  'transport',
  'secure_port',
  'clear_port',
  'range',
  'range_bounds',
  'cleartext',
];

function pointsText(p) {
  return String(Math.round(Number(p || 0) * 100) / 100);
}

// replaceChildren that skips null and flattens arrays, like h() does.
function fill(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
}

function clockText(secs) {
  const s = Math.max(0, Math.floor(secs));
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

export class QuizView {
  // opts: teacher (bool).
  constructor(opts = {}) {
    this.teacher = !!opts.teacher;
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.attempt = null;
    this.question = null;
    this.timer = null;
    this.element = this.teacher ? this.buildTeacher() : this.buildStudent();
  }

  // ---- student ---------------------------------------------------------------

  buildStudent() {
    this.dueText = h('span', { class: 'quiz-due', id: 'quiz-due' });
    this.practiceBtn = h('button', {
      type: 'button',
      class: 'primary',
      id: 'quiz-practice',
      text: t('quiz.practice'),
      onclick: () => this.start('practice'),
    });
    this.reviewBtn = h('button', {
      type: 'button',
      id: 'quiz-review',
      text: t('quiz.review'),
      onclick: () => this.start('review'),
    });
    this.testsBox = h('div', { class: 'quiz-tests' });
    this.startBox = h(
      'section',
      { class: 'quiz-start card', 'aria-labelledby': 'quiz-title' },
      h('h1', { id: 'quiz-title', tabindex: '-1', text: t('quiz.title') }),
      h('p', { class: 'hint', text: t('quiz.intro') }),
      h('div', { class: 'quiz-modes' }, this.practiceBtn, this.reviewBtn, this.dueText),
      h('h2', { text: t('quiz.testsTitle') }),
      this.testsBox,
    );

    // The running attempt.
    this.runTitle = h('h2', { class: 'quiz-run-title' });
    this.counter = h('span', { class: 'quiz-counter' });
    this.clock = h('span', { class: 'quiz-clock', id: 'quiz-clock', role: 'timer' });
    this.prompt = h('p', { class: 'quiz-prompt', id: 'quiz-prompt', tabindex: '-1' });
    this.fields = h('div', { class: 'quiz-fields' });
    this.submitBtn = h('button', { type: 'submit', class: 'primary', id: 'quiz-submit', text: t('quiz.answer') });
    this.form = h(
      'form',
      { class: 'quiz-form', novalidate: true, onsubmit: (e) => this.onSubmit(e) },
      this.fields,
      this.submitBtn,
    );
    this.feedback = h('div', { class: 'quiz-feedback', id: 'quiz-feedback', role: 'status', 'aria-live': 'polite' });
    this.nextBtn = h('button', {
      type: 'button',
      class: 'primary',
      id: 'quiz-next',
      hidden: true,
      text: t('quiz.next'),
      onclick: () => this.showQuestion(this.pendingNext),
    });
    this.stopBtn = h('button', {
      type: 'button',
      id: 'quiz-stop',
      text: t('quiz.stop'),
      onclick: () => this.stop(),
    });
    this.summary = h('div', { class: 'quiz-summary', id: 'quiz-summary' });
    this.runBox = h(
      'section',
      { class: 'quiz-run card', hidden: true, 'aria-labelledby': 'quiz-prompt' },
      h('div', { class: 'quiz-run-head' }, this.runTitle, this.counter, this.clock),
      this.prompt,
      this.form,
      this.feedback,
      h('div', { class: 'quiz-run-actions' }, this.nextBtn, this.stopBtn),
      this.summary,
    );

    this.historyBox = h('section', { class: 'quiz-history card', 'aria-labelledby': 'quiz-history-title' });
    return h('div', { class: 'page quiz-page' }, this.status, this.startBox, this.runBox, this.historyBox);
  }

  async load() {
    this.status.textContent = '';
    if (this.teacher) return this.loadTeacher();
    if (this.attempt && !this.attempt.finished) return;
    await Promise.all([this.loadTests(), this.loadHistory()]);
  }

  async loadTests() {
    let data;
    try {
      data = await api.quizTests();
    } catch (e) {
      this.testsBox.replaceChildren(h('p', { class: 'error', text: e.message }));
      return;
    }
    const tests = (data && data.tests) || [];
    if (!tests.length) {
      this.testsBox.replaceChildren(h('p', { class: 'hint', text: t('quiz.noTests') }));
      return;
    }
    this.testsBox.replaceChildren(
      h(
        'ul',
        { class: 'quiz-test-list' },
        tests.map((x) =>
          h(
            'li',
            { class: 'quiz-test' },
            h('strong', { text: x.title }),
            h('span', {
              class: 'hint',
              text: t('quiz.testInfo', {
                n: x.questions,
                time: clockText(x.time_limit),
                left: x.attempts_left,
                attempts: x.attempts,
              }),
            }),
            h('button', {
              type: 'button',
              class: 'quiz-test-start',
              dataset: { test: String(x.id) },
              disabled: !x.attempts_left && !x.running_attempt,
              text: x.running_attempt ? t('quiz.resumeTest') : t('quiz.startTest'),
              onclick: () => this.start('test', x.id),
            }),
            x.leaderboard
              ? h('button', {
                  type: 'button',
                  class: 'small',
                  text: t('quiz.leaderboard'),
                  onclick: (e) => this.showLeaderboard(x.id, e.target.parentNode),
                })
              : null,
          ),
        ),
      ),
    );
  }

  async showLeaderboard(id, where) {
    let data;
    try {
      data = await api.quizLeaderboard(id);
    } catch (e) {
      where.append(h('p', { class: 'error', text: e.message }));
      return;
    }
    const old = where.querySelector('.quiz-board');
    if (old) old.remove();
    where.append(
      h(
        'ol',
        { class: 'quiz-board' },
        (data.leaderboard || []).map((r) => h('li', { text: t('quiz.boardLine', { name: r.name, points: pointsText(r.points) }) })),
      ),
    );
  }

  async loadHistory() {
    let data;
    try {
      data = await api.quizHistory();
    } catch (e) {
      this.historyBox.replaceChildren(h('p', { class: 'error', text: e.message }));
      return;
    }
    this.dueText.textContent = t('quiz.dueToday', { n: data.due_today || 0 });
    this.reviewBtn.textContent = data.due_today ? t('quiz.reviewDue', { n: data.due_today }) : t('quiz.review');
    const attempts = data.attempts || [];
    const best = data.best || [];
    const weakest = data.weakest || [];
    fill(
      this.historyBox,
      h('h2', { id: 'quiz-history-title', text: t('quiz.historyTitle') }),
      h(
        'p',
        { class: 'hint' },
        t('quiz.boxes', { boxes: (data.boxes || []).join(' · ') }),
      ),
      weakest.length
        ? [
            h('h3', { text: t('quiz.weakestTitle') }),
            h(
              'ul',
              { class: 'quiz-weakest' },
              weakest.map((w) =>
                h('li', {
                  text: t('quiz.weakLine', {
                    service: w.service,
                    kind: t('quiz.kinds.' + w.kind),
                    wrong: w.wrong,
                    asked: w.asked,
                  }),
                }),
              ),
            ),
          ]
        : null,
      best.length
        ? [
            h('h3', { text: t('quiz.bestTitle') }),
            h(
              'ul',
              null,
              best.map((b) =>
                h('li', { text: t('quiz.bestLine', { title: b.title, points: pointsText(b.points), max: b.max_points }) }),
              ),
            ),
          ]
        : null,
      attempts.length
        ? [
            h('h3', { text: t('quiz.recentTitle') }),
            h(
              'ul',
              { class: 'quiz-recent' },
              attempts.slice(0, 10).map((a) =>
                h('li', {
                  text: t('quiz.recentLine', {
                    mode: a.title || t('quiz.modes.' + a.mode),
                    right: a.right,
                    answered: a.answered,
                    points: pointsText(a.points),
                  }),
                }),
              ),
            ),
          ]
        : h('p', { class: 'hint', text: t('quiz.noHistory') }),
    );
  }

  async start(mode, testId) {
    this.status.textContent = '';
    let data;
    try {
      data = await api.quizStart(mode, testId);
    } catch (e) {
      this.status.textContent = e.message;
      return;
    }
    this.attempt = data.attempt;
    this.startBox.hidden = true;
    this.historyBox.hidden = true;
    this.runBox.hidden = false;
    this.summary.replaceChildren();
    this.runTitle.textContent = this.attempt.title || t('quiz.modes.' + this.attempt.mode);
    this.stopBtn.hidden = this.attempt.mode === 'test';
    setQuizOpen(true);
    this.startClock();
    this.showQuestion(this.attempt.question);
  }

  startClock() {
    clearInterval(this.timer);
    this.timer = null;
    this.clock.textContent = '';
    if (this.attempt.seconds_left == null) return;
    const end = Date.now() + this.attempt.seconds_left * 1000;
    const tick = () => {
      const left = (end - Date.now()) / 1000;
      this.clock.textContent = t('quiz.timeLeft', { time: clockText(left) });
      if (left <= 0) {
        clearInterval(this.timer);
        this.timer = null;
        this.timeUp();
      }
    };
    tick();
    this.timer = setInterval(tick, 1000);
  }

  // The server's clock decides; this only fetches the result when ours says so.
  async timeUp() {
    if (!this.attempt) return;
    try {
      const data = await api.quizAttempt(this.attempt.id);
      if (data.attempt.finished) this.finish(data.attempt, t('quiz.timeUp'));
    } catch (e) {
      this.status.textContent = e.message;
    }
  }

  showQuestion(q) {
    this.question = q;
    if (this.attempt && this.attempt.mode !== 'test') this.feedback.replaceChildren();
    this.nextBtn.hidden = true;
    this.pendingNext = null;
    if (!q) return;
    const a = this.attempt;
    this.counter.textContent = a.mode === 'test'
      ? t('quiz.counterOf', { n: q.seq, total: a.questions })
      : t('quiz.counter', { n: q.seq });
    this.prompt.textContent = q.prompt;
    this.form.hidden = false;
    this.submitBtn.disabled = false;
    this.fields.replaceChildren();
    if (q.choices && q.choices.length) {
      const name = uid('choice');
      const box = h('fieldset', { class: 'quiz-choices' }, h('legend', { class: 'sr-only', text: q.prompt }));
      if (q.multi) box.append(h('p', { class: 'hint', text: t('quiz.pickAll') }));
      for (const c of q.choices) {
        const id = uid('c');
        box.append(
          h(
            'div',
            { class: 'quiz-choice' },
            h('input', { type: q.multi ? 'checkbox' : 'radio', name, id, value: c }),
            h('label', { for: id, text: c }),
          ),
        );
      }
      this.fields.append(box);
      const first = box.querySelector('input');
      if (first) first.focus();
    } else {
      const id = uid('answer');
      const input = h('input', {
        id,
        class: 'quiz-answer-input',
        type: 'text',
        maxlength: '256',
        autocomplete: 'off',
        autocapitalize: 'off',
        spellcheck: 'false',
      });
      this.fields.append(
        h('label', { for: id, text: q.multi ? t('quiz.answerMulti') : t('quiz.answerLabel') }),
        input,
      );
      input.focus();
    }
  }

  currentAnswer() {
    const inputs = [...this.fields.querySelectorAll('input')];
    if (inputs.length === 1 && inputs[0].type === 'text') return inputs[0].value.trim();
    return inputs.filter((i) => i.checked).map((i) => i.value).join(', ');
  }

  async onSubmit(e) {
    e.preventDefault();
    if (!this.question || !this.attempt) return;
    const answer = this.currentAnswer();
    if (!answer) {
      this.feedback.replaceChildren(h('p', { class: 'error', text: t('quiz.empty') }));
      return;
    }
    this.submitBtn.disabled = true;
    let r;
    try {
      r = await api.quizAnswer(this.attempt.id, this.question.id, answer);
    } catch (err) {
      this.submitBtn.disabled = false;
      if (err.code === 'time_up') return this.timeUp();
      this.feedback.replaceChildren(h('p', { class: 'error', text: err.message }));
      return;
    }
    const test = this.attempt.mode === 'test';
    if (test) {
      this.feedback.replaceChildren(h('p', { class: 'hint', text: t('quiz.saved') }));
    } else {
      this.feedback.replaceChildren(
        h('p', { class: r.correct ? 'quiz-verdict ok' : 'quiz-verdict wrong', text: r.correct ? t('quiz.right') : r.points > 0 ? t('quiz.partly', { points: pointsText(r.points) }) : t('quiz.wrong') }),
        h('p', { class: 'quiz-explanation', text: r.explanation || '' }),
      );
    }
    if (r.finished) {
      this.finish(r.attempt, t('quiz.done'));
      return;
    }
    if (test) {
      this.showQuestion(r.next);
    } else {
      this.form.hidden = true;
      this.pendingNext = r.next;
      this.nextBtn.hidden = false;
      this.nextBtn.focus();
    }
  }

  // The end: the score and every question with the right answer.
  finish(attempt, title) {
    clearInterval(this.timer);
    this.timer = null;
    setQuizOpen(false);
    this.question = null;
    this.form.hidden = true;
    this.prompt.textContent = '';
    this.counter.textContent = '';
    this.feedback.replaceChildren();
    this.nextBtn.hidden = true;
    this.stopBtn.hidden = true;
    this.clock.textContent = '';
    this.attempt = attempt;
    const rows = (attempt.questions_asked || []).map((q) =>
      h(
        'li',
        { class: q.correct ? 'ok' : 'wrong' },
        h('p', { class: 'quiz-q', text: q.prompt }),
        h('p', null, t('quiz.yourAnswer', { answer: q.answer != null ? q.answer : t('quiz.noAnswer') })),
        h('p', null, t('quiz.rightAnswer', { answer: q.expected || '' })),
        q.explanation ? h('p', { class: 'hint', text: q.explanation }) : null,
      ),
    );
    this.summary.replaceChildren(
      h('h3', { text: title }),
      h('p', { class: 'quiz-score', text: t('quiz.score', { points: pointsText(attempt.points), max: attempt.max_points, right: attempt.right }) }),
      h('ol', { class: 'quiz-review-list' }, rows),
      h('button', { type: 'button', class: 'primary', id: 'quiz-back', text: t('quiz.back'), onclick: () => this.leave() }),
    );
    this.summary.querySelector('h3').setAttribute('tabindex', '-1');
    this.summary.querySelector('h3').focus();
  }

  async stop() {
    if (!this.attempt) return this.leave();
    try {
      const data = await api.quizAttempt(this.attempt.id);
      this.finish(data.attempt, t('quiz.stopped'));
    } catch (e) {
      this.leave();
    }
  }

  leave() {
    clearInterval(this.timer);
    this.timer = null;
    setQuizOpen(false);
    this.attempt = null;
    this.question = null;
    this.runBox.hidden = true;
    this.startBox.hidden = false;
    this.historyBox.hidden = false;
    this.feedback.replaceChildren();
    this.load();
  }

  // ---- teacher ---------------------------------------------------------------

  buildTeacher() {
    const id = (name) => 'quiz-new-' + name;
    this.newTitle = h('input', { id: id('title'), type: 'text', maxlength: '100', required: true, value: t('quiz.defaultTitle') });
    this.newCount = h('input', { id: id('questions'), type: 'number', min: '1', max: '100', value: '10' });
    this.newTime = h('input', { id: id('time'), type: 'number', min: '1', max: '14400', value: '300' });
    this.newAttempts = h('input', { id: id('attempts'), type: 'number', min: '1', max: '10', value: '1' });
    this.newOpen = h('input', { id: id('open'), type: 'checkbox', checked: true });
    this.newBoard = h('input', { id: id('board'), type: 'checkbox' });
    this.kindBoxes = KINDS.map((k) => h('input', { type: 'checkbox', id: id('kind-' + k), value: k, checked: true }));
    const field = (input, label) => h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input);
    const check = (input, label) => h('div', { class: 'quiz-check' }, input, h('label', { for: input.id, text: label }));
    this.createStatus = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    const form = h(
      'form',
      { class: 'quiz-create', id: 'quiz-create', novalidate: true, onsubmit: (e) => this.onCreate(e) },
      h('h2', { text: t('quiz.createTitle') }),
      field(this.newTitle, t('quiz.testTitle')),
      h(
        'div',
        { class: 'row' },
        field(this.newCount, t('quiz.testQuestions')),
        field(this.newTime, t('quiz.testTime')),
        field(this.newAttempts, t('quiz.testAttempts')),
      ),
      h(
        'fieldset',
        { class: 'quiz-kinds' },
        h('legend', { text: t('quiz.testKinds') }),
        this.kindBoxes.map((b) => check(b, t('quiz.kinds.' + b.value))),
      ),
      check(this.newOpen, t('quiz.testOpen')),
      check(this.newBoard, t('quiz.testBoard')),
      h('button', { type: 'submit', class: 'primary', id: 'quiz-create-submit', text: t('quiz.create') }),
      this.createStatus,
    );
    this.teacherTests = h('div', { class: 'quiz-teacher-tests' });
    this.results = h('section', { class: 'quiz-results', id: 'quiz-results', 'aria-live': 'polite' });
    return h(
      'div',
      { class: 'page quiz-page teacher' },
      h('h1', { id: 'quiz-title', tabindex: '-1', text: t('quiz.teacherTitle') }),
      h('p', { class: 'hint', text: t('quiz.teacherIntro') }),
      this.status,
      h('div', { class: 'quiz-teacher-grid' }, h('section', { class: 'card' }, form), h('section', { class: 'card' }, h('h2', { text: t('quiz.testsTitle') }), this.teacherTests)),
      this.results,
    );
  }

  async onCreate(e) {
    e.preventDefault();
    const kinds = this.kindBoxes.filter((b) => b.checked).map((b) => b.value);
    const body = {
      title: this.newTitle.value.trim(),
      questions: Number(this.newCount.value),
      time_limit: Number(this.newTime.value),
      attempts: Number(this.newAttempts.value),
      open: this.newOpen.checked,
      leaderboard: this.newBoard.checked,
      kinds,
    };
    try {
      const data = await api.quizCreateTest(body);
      this.createStatus.textContent = t('quiz.created', { title: data.test.title });
    } catch (err) {
      this.createStatus.textContent = err.serverMessage || err.message;
      return;
    }
    this.loadTeacher();
  }

  async loadTeacher() {
    let data;
    try {
      data = await api.quizTests();
    } catch (e) {
      this.status.textContent = e.message;
      return;
    }
    const tests = data.tests || [];
    if (!tests.length) {
      this.teacherTests.replaceChildren(h('p', { class: 'hint', text: t('quiz.noTestsTeacher') }));
      return;
    }
    this.teacherTests.replaceChildren(
      h(
        'ul',
        { class: 'quiz-test-list' },
        tests.map((x) =>
          h(
            'li',
            { class: 'quiz-test', dataset: { test: String(x.id) } },
            h('strong', { text: x.title }),
            h('span', {
              class: 'hint',
              text: t('quiz.teacherTestInfo', {
                n: x.questions,
                time: clockText(x.time_limit),
                attempts: x.attempts,
                state: x.open ? t('quiz.isOpen') : t('quiz.isClosed'),
              }),
            }),
            h('button', { type: 'button', class: 'small quiz-results-btn', text: t('quiz.results'), onclick: () => this.showResults(x.id) }),
            h('button', { type: 'button', class: 'small', text: x.open ? t('quiz.close') : t('quiz.open'), onclick: () => this.update(x.id, { open: !x.open }) }),
            h('button', {
              type: 'button',
              class: 'small',
              'aria-pressed': x.leaderboard ? 'true' : 'false',
              text: t('quiz.boardToggle'),
              onclick: () => this.update(x.id, { leaderboard: !x.leaderboard }),
            }),
          ),
        ),
      ),
    );
  }

  async update(id, body) {
    try {
      await api.quizUpdateTest(id, body);
    } catch (e) {
      this.status.textContent = e.message;
    }
    this.loadTeacher();
  }

  async showResults(id) {
    let data;
    try {
      data = await api.quizResults(id);
    } catch (e) {
      this.results.replaceChildren(h('p', { class: 'error', text: e.message }));
      return;
    }
    const max = data.test.questions;
    const students = data.students || [];
    const questions = data.questions || [];
    fill(
      this.results,
      h('h2', { text: t('quiz.resultsTitle', { title: data.test.title }) }),
      h('p', null, h('a', { href: api.quizResultsCsvUrl(id), download: '', text: t('quiz.downloadCsv') })),
      students.length
        ? h(
            'div',
            { class: 'table-scroll' },
            h(
              'table',
              { class: 'quiz-students' },
              h('caption', { text: t('quiz.perStudent') }),
              h('thead', null, h('tr', null, ['student', 'points', 'right', 'attempts'].map((c) => h('th', { scope: 'col', text: t('quiz.col.' + c) })))),
              h(
                'tbody',
                null,
                students.map((s) =>
                  h(
                    'tr',
                    null,
                    h('th', { scope: 'row', text: s.name }),
                    h('td', { text: t('quiz.outOf', { points: pointsText(s.points), max }) }),
                    h('td', { text: String(s.right) }),
                    h('td', { text: String(s.attempts) }),
                  ),
                ),
              ),
            ),
          )
        : h('p', { class: 'hint', text: t('quiz.noResults') }),
      questions.length
        ? h(
            'div',
            { class: 'table-scroll' },
            h(
              'table',
              { class: 'quiz-questions' },
              h('caption', { text: t('quiz.perQuestion') }),
              h('thead', null, h('tr', null, ['question', 'kind', 'asked', 'wrong'].map((c) => h('th', { scope: 'col', text: t('quiz.col.' + c) })))),
              h(
                'tbody',
                null,
                questions.map((q) =>
                  h(
                    'tr',
                    null,
                    h('th', { scope: 'row', text: q.label }),
                    h('td', { text: t('quiz.kinds.' + q.kind) }),
                    h('td', { text: String(q.asked) }),
                    h('td', { text: t('quiz.wrongShare', { wrong: q.wrong, pct: Math.round((100 * q.wrong) / Math.max(1, q.asked)) }) }),
                  ),
                ),
              ),
            ),
          )
        : null,
    );
  }
}
