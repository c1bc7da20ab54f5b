// gradebook.js -- the teacher's gradebook (GET /api/class/gradebook): every
// student from the moment they join, their points per lesson, who is online,
// who is stuck, one cell per task, and the class's actions on a student
// (new rejoin code, sign out, remove, reset lab data, why refused).
//
//   {"lessons":[{"id","title","points","tasks":[{"id","kind","points","solved_by"}]}],
//    "students":[{"id","name","joined_at","last_seen_at","online","sessions_open",
//                 "total","lessons":{"smtp":3},"quiz":{"quiz/3":{"points","attempts"}},
//                 "tasks":{"smtp/smtp-greeting":{"solved","points","attempts","hints",
//                          "hint_points","first_attempt_at","solved_at"}},
//                 "stuck":{"item","attempts","seconds"}|null}],
//    "quiz_tests":[{"id","item","title","questions"}]}

import { h } from './dom.js';
import { t } from './strings.js';
import { api } from './api.js';
import { formatTime } from './format.js';

function minutes(secs) {
  return Math.max(1, Math.round((secs || 0) / 60));
}

export class GradebookView {
  // opts: onChange() after an action that changes the roster.
  constructor(opts = {}) {
    this.opts = opts;
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.tableBox = h('div', { class: 'table-scroll', tabindex: '0', 'aria-labelledby': 'gradebook-title' });
    this.tasksBox = h('div', { class: 'table-scroll', tabindex: '0', 'aria-labelledby': 'gradebook-tasks-title' });
    this.detail = h('section', { class: 'gradebook-student', 'aria-live': 'polite', hidden: true });
    this.download = h('a', {
      class: 'button small',
      href: api.resultsUrl('csv'),
      download: 'portlab-results.csv',
      text: t('gradebookDownload'),
    });
    this.element = h(
      'section',
      { class: 'teacher-progress gradebook', 'aria-labelledby': 'gradebook-title' },
      h(
        'div',
        { class: 'section-head' },
        h('h1', { id: 'gradebook-title', text: t('progressTitle') }),
        h('button', { type: 'button', class: 'small', text: t('refresh'), onclick: () => this.load() }),
        this.download,
      ),
      h('p', { class: 'hint', text: t('progressIntro') }),
      this.status,
      this.tableBox,
      this.detail,
      h('h2', { id: 'gradebook-tasks-title', text: t('gradebookTasksTitle') }),
      this.tasksBox,
    );
  }

  async load() {
    this.status.textContent = t('loading');
    let data;
    try {
      data = await api.gradebook();
    } catch (e) {
      this.status.textContent = t('progressFailed', { message: e.message });
      return;
    }
    this.data = data;
    this.render();
  }

  render() {
    const lessons = (this.data && this.data.lessons) || [];
    const students = (this.data && this.data.students) || [];
    const tests = (this.data && this.data.quiz_tests) || [];
    this.status.textContent = students.length ? '' : t('progressEmpty');
    const maxTotal = lessons.reduce((a, l) => a + (l.points || 0), 0);
    const head = h(
      'tr',
      null,
      h('th', { scope: 'col', text: t('progressStudent') }),
      h('th', { scope: 'col', text: t('gradebookSeen') }),
      lessons.map((l) =>
        h(
          'th',
          { scope: 'col' },
          h('a', { href: '#/lesson/' + encodeURIComponent(l.id), text: l.title }),
          h('span', { class: 'th-points', text: t('progressOutOf', { points: l.points }) }),
        ),
      ),
      h('th', { scope: 'col', text: t('progressTotal', { points: maxTotal }) }),
      h('th', { scope: 'col', text: t('gradebookStuck') }),
      tests.map((q) => h('th', { scope: 'col', text: t('gradebookQuiz', { title: q.title, n: q.questions }) })),
    );
    const rows = students.map((s) =>
      h(
        'tr',
        { dataset: { student: s.name } },
        h(
          'th',
          { scope: 'row' },
          h('span', {
            class: 'online-dot' + (s.online ? ' on' : ''),
            title: s.online ? t('gradebookOnline') : t('gradebookOffline'),
            'aria-label': s.online ? t('gradebookOnline') : t('gradebookOffline'),
          }),
          h('button', {
            type: 'button',
            class: 'link student-name',
            text: s.name,
            onclick: () => this.showStudent(s),
          }),
          s.sessions_open ? h('span', { class: 'badge', text: t('gradebookOpen', { n: s.sessions_open }) }) : null,
        ),
        h('td', { class: 'seen', text: s.last_seen_at ? formatTime(s.last_seen_at) : formatTime(s.joined_at) }),
        lessons.map((l) => {
          const score = (s.lessons && s.lessons[l.id]) || 0;
          const cls = score === 0 ? 'none' : score >= l.points ? 'full' : 'part';
          return h('td', { class: 'score ' + cls, text: String(score) });
        }),
        h('td', { class: 'score total', text: String(s.total || 0) }),
        h('td', {
          class: 'stuck',
          text: s.stuck
            ? t('gradebookStuckCell', { item: s.stuck.item, attempts: s.stuck.attempts, min: minutes(s.stuck.seconds) })
            : '',
        }),
        tests.map((q) => {
          const c = (s.quiz && s.quiz[q.item]) || { points: 0, attempts: 0 };
          return h('td', { class: 'quiz-score', text: c.attempts ? String(c.points) : '–' });
        }),
      ),
    );
    this.tableBox.replaceChildren(
      h(
        'table',
        { class: 'progress-table gradebook-table' },
        h('caption', { class: 'sr-only', text: t('progressTitle') }),
        h('thead', null, head),
        h('tbody', null, rows),
      ),
    );
    this.renderTasks(lessons, students);
    if (this.current) {
      const again = students.find((s) => s.id === this.current.id);
      if (again) this.showStudent(again);
      else this.detail.hidden = true;
    }
  }

  // One column per task: ✓ (solved) or the attempts so far; the header
  // says how many in the class solved it.
  renderTasks(lessons, students) {
    const tasks = [];
    for (const l of lessons) for (const task of l.tasks || []) tasks.push({ lesson: l, task, key: l.id + '/' + task.id });
    const head = h(
      'tr',
      null,
      h('th', { scope: 'col', text: t('progressStudent') }),
      tasks.map((x) =>
        h(
          'th',
          { scope: 'col', title: x.lesson.title },
          x.task.id,
          h('span', { class: 'th-points', text: t('gradebookSolvedBy', { n: x.task.solved_by, of: students.length }) }),
        ),
      ),
    );
    const rows = students.map((s) =>
      h(
        'tr',
        null,
        h('th', { scope: 'row', text: s.name }),
        tasks.map((x) => {
          const c = s.tasks && s.tasks[x.key];
          if (!c) return h('td', { class: 'score none', text: '' });
          return h('td', {
            class: 'score ' + (c.solved ? 'full' : 'part'),
            title: t('gradebookCellTitle', {
              attempts: c.attempts,
              first: c.first_attempt_at ? formatTime(c.first_attempt_at) : '-',
              solved: c.solved_at ? formatTime(c.solved_at) : '-',
            }),
            dataset: { hints: String(c.hints || 0), hintPoints: String(c.hint_points || 0) },
            text:
              (c.solved ? '✓' + (c.attempts > 1 ? ' ' + c.attempts : '') : '✗ ' + c.attempts) +
              (c.hints
                ? ' ' +
                  (c.hint_points
                    ? t('gradebookHintsCost', { n: c.hints, lost: c.hint_points })
                    : t('gradebookHints', { n: c.hints }))
                : ''),
          });
        }),
      ),
    );
    this.tasksBox.replaceChildren(
      h('table', { class: 'task-table' }, h('thead', null, head), h('tbody', null, rows)),
    );
  }

  // The chosen student's actions and refusal log.
  showStudent(s) {
    this.current = s;
    const out = h('p', { class: 'hint', role: 'status' });
    const refusals = h('ul', { class: 'refusal-log' });
    const purge = h('input', { type: 'checkbox', id: 'gradebook-purge' });
    const act = async (what, body, confirmText) => {
      if (confirmText && !window.confirm(confirmText)) return;
      out.textContent = t('loading');
      try {
        const r = await api.studentAction(s.id, what, body);
        if (what === 'rejoin-code') out.textContent = t('gradebookNewCode', { name: s.name, code: r.rejoin_code });
        else out.textContent = t('gradebookDone.' + what, { name: s.name });
        if (what === 'remove') {
          this.current = null;
          this.load();
          if (this.opts.onChange) this.opts.onChange();
        }
      } catch (e) {
        out.textContent = e.message;
      }
    };
    this.detail.replaceChildren(
      h('h2', { text: t('gradebookStudentTitle', { name: s.name }) }),
      h(
        'p',
        { class: 'hint' },
        t('gradebookJoined', { when: formatTime(s.joined_at) }),
        s.last_seen_at ? ' · ' + t('gradebookLastSeen', { when: formatTime(s.last_seen_at) }) : '',
      ),
      h(
        'div',
        { class: 'button-row' },
        h('button', { type: 'button', class: 'small', text: t('gradebookRejoin'), onclick: () => act('rejoin-code', {}) }),
        h('button', {
          type: 'button',
          class: 'small',
          text: t('gradebookSignOut'),
          onclick: () => act('sign-out', {}, t('gradebookConfirmSignOut', { name: s.name })),
        }),
        h('button', {
          type: 'button',
          class: 'small',
          text: t('gradebookResetLab'),
          onclick: () => act('reset-lab', {}, t('gradebookConfirmReset', { name: s.name })),
        }),
        h('button', {
          type: 'button',
          class: 'small danger',
          text: t('gradebookRemove'),
          onclick: () =>
            act('remove', { purge: purge.checked }, t(purge.checked ? 'gradebookConfirmPurge' : 'gradebookConfirmRemove', { name: s.name })),
        }),
        h('label', { for: 'gradebook-purge', class: 'inline' }, purge, ' ', t('gradebookPurge')),
      ),
      out,
      h('h3', { text: t('gradebookRefusals') }),
      refusals,
    );
    this.detail.hidden = false;
    api
      .refusals(s.id)
      .then((r) => {
        const list = (r && r.refusals) || [];
        if (!list.length) {
          refusals.replaceChildren(h('li', { class: 'hint', text: t('gradebookNoRefusals') }));
          return;
        }
        refusals.replaceChildren(
          ...list.map((x) =>
            h(
              'li',
              null,
              h('span', { class: 'when', text: formatTime(x.at) }),
              ' ',
              h('code', { text: x.code }),
              x.target ? ' ' + x.target : '',
              x.count > 1 ? ' ×' + x.count : '',
              ': ',
              x.message,
            ),
          ),
        );
      })
      .catch((e) => refusals.replaceChildren(h('li', { text: e.message })));
  }
}
