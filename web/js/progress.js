// progress.js -- the teacher's class view: a table of every student's
// score per lesson (GET /api/progress), beside the list of all sessions.
//
//   {"lessons":[{"id","title","points"}],
//    "students":[{"name","total","lessons":{"smtp":3}}]}

import { h } from './dom.js';
import { t } from './strings.js';
import { api } from './api.js';
import { UsageView } from './usage.js';

export class ProgressView {
  // opts: sessions (a SessionsList element to show beside the table).
  constructor(opts = {}) {
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.tableBox = h('div', { class: 'table-scroll', tabindex: '0', 'aria-labelledby': 'progress-title' });
    this.side = h('div', { class: 'teacher-sessions' });
    this.usage = new UsageView();
    this.element = h(
      'div',
      { class: 'page teacher-page' },
      h(
        'section',
        { class: 'teacher-progress', 'aria-labelledby': 'progress-title' },
        h(
          'div',
          { class: 'section-head' },
          h('h1', { id: 'progress-title', text: t('progressTitle') }),
          h('button', { type: 'button', class: 'small', text: t('refresh'), onclick: () => this.load() }),
        ),
        h('p', { class: 'hint', text: t('progressIntro') }),
        this.status,
        this.tableBox,
        this.usage.element,
      ),
      this.side,
    );
    if (opts.sessions) this.side.append(opts.sessions);
  }

  async load() {
    this.usage.load();
    this.status.textContent = t('loading');
    let data;
    try {
      data = await api.progress();
    } catch (e) {
      this.status.textContent = t('progressFailed', { message: e.message });
      return;
    }
    const lessons = (data && data.lessons) || [];
    const students = (data && data.students) || [];
    const maxTotal = lessons.reduce((a, l) => a + (l.points || 0), 0);
    this.status.textContent = students.length ? '' : t('progressEmpty');
    const head = h(
      'tr',
      null,
      h('th', { scope: 'col', text: t('progressStudent') }),
      lessons.map((l) =>
        h('th', { scope: 'col' }, h('a', { href: '#/lesson/' + encodeURIComponent(l.id), text: l.title }), h('span', { class: 'th-points', text: t('progressOutOf', { points: l.points }) })),
      ),
      h('th', { scope: 'col', text: t('progressTotal', { points: maxTotal }) }),
    );
    const rows = students.map((s) =>
      h(
        'tr',
        null,
        h('th', { scope: 'row', text: s.name }),
        lessons.map((l) => {
          const score = (s.lessons && s.lessons[l.id]) || 0;
          const cls = score === 0 ? 'none' : score >= l.points ? 'full' : 'part';
          return h('td', { class: 'score ' + cls, text: String(score) });
        }),
        h('td', { class: 'score total', text: String(s.total || 0) }),
      ),
    );
    this.tableBox.replaceChildren(
      h(
        'table',
        { class: 'progress-table' },
        h('caption', { class: 'sr-only', text: t('progressTitle') }),
        h('thead', null, head),
        h('tbody', null, rows),
      ),
    );
  }
}
