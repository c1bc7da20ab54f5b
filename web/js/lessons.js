// lessons.js -- the lesson list: every lesson with its summary and the
// student's progress (tasks solved, points scored, a bar).
//
//   GET /api/lessons -> {"lessons":[{"id","title","order","summary",
//     "targets","tasks","solved","points","score"}]}

import { h } from './dom.js';
import { t } from './strings.js';
import { api } from './api.js';

// A progress bar with its text; value/max are numbers.
export function progressBar(value, max, label) {
  return h(
    'div',
    { class: 'progress' },
    h('progress', { value: String(value), max: String(Math.max(max, 1)), 'aria-label': label }),
  );
}

export class LessonsView {
  // opts: teacher (bool).
  constructor(opts = {}) {
    this.opts = opts;
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.list = h('ol', { class: 'lesson-list' });
    this.total = h('p', { class: 'lesson-total' });
    this.element = h(
      'section',
      { class: 'page lessons-page', 'aria-labelledby': 'lessons-title' },
      h(
        'div',
        { class: 'section-head' },
        h('h1', { id: 'lessons-title', text: t('lessonsTitle') }),
        h('a', { class: 'button', href: '#/lab', text: t('freeLab') }),
      ),
      h('p', { class: 'hint', text: t('lessonsIntro') }),
      this.total,
      this.status,
      this.list,
    );
  }

  async load() {
    // A refresh keeps the list on screen until the new one is ready: a
    // "loading" line above it would push every card down and back up under
    // the pointer, and a click meant for one lesson could land beside it.
    if (!this.list.children.length) this.status.textContent = t('loading');
    let data;
    try {
      data = await api.lessons();
    } catch (e) {
      this.status.textContent = t('lessonsFailed', { message: e.message });
      return;
    }
    this.status.textContent = '';
    const lessons = (data && data.lessons) || [];
    let score = 0;
    let points = 0;
    this.list.replaceChildren(
      ...lessons.map((l) => {
        score += l.score || 0;
        points += l.points || 0;
        const done = l.tasks > 0 && l.solved >= l.tasks;
        const titleId = 'lesson-' + l.id + '-title';
        return h(
          'li',
          { class: 'lesson-card' + (done ? ' done' : ''), dataset: { lesson: l.id } },
          h(
            'h2',
            { id: titleId },
            h('a', { href: '#/lesson/' + encodeURIComponent(l.id), text: l.title }),
          ),
          l.summary ? h('p', { class: 'lesson-summary', text: l.summary }) : null,
          progressBar(l.score || 0, l.points || 0, t('lessonProgressLabel', { title: l.title })),
          h(
            'p',
            { class: 'lesson-stats' },
            h('span', { text: t('lessonTasks', { solved: l.solved || 0, tasks: l.tasks || 0 }) }),
            h('span', { text: t('lessonScore', { score: l.score || 0, points: l.points || 0 }) }),
            done ? h('span', { class: 'badge ok', text: t('lessonDone') }) : null,
          ),
          (l.targets || []).length
            ? h(
                'p',
                { class: 'lesson-targets' },
                (l.targets || []).map((tg) => h('code', { text: tg })),
              )
            : null,
        );
      }),
    );
    this.total.textContent = lessons.length ? t('lessonsTotal', { score, points }) : t('noLessons');
  }
}
