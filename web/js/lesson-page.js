// lesson-page.js -- one lesson: its text on one side, the session tabs on
// the other. Links to sessions in the text become buttons, and each task
// placeholder gets its widget.
//
//   GET /api/lessons/{id} -> {"lesson":{"id","title","summary","targets",
//     "html","tasks":[…],"points","score"}}

import { h } from './dom.js';
import { t } from './strings.js';
import { api } from './api.js';
import { importLessonHtml } from './lesson-html.js';
import { TaskWidget } from './tasks.js';
import { progressBar } from './lessons.js';

// "lab:25" -> {host, port}; null when malformed.
export function parseTarget(text) {
  const m = /^(\[[^\]]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(String(text || '').trim());
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

export class LessonPage {
  // opts: id; onOpen({host, port}) opens a session tab; workspace: the
  // element holding the session tabs (moved in by show()).
  constructor(opts) {
    this.opts = opts;
    this.id = opts.id;
    this.widgets = [];
    this.heading = h('h1', { id: 'lesson-title', tabindex: '-1' });
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.scoreText = h('span', { class: 'lesson-score' });
    this.barBox = h('div', { class: 'lesson-bar' });
    this.targets = h('div', { class: 'lesson-target-buttons' });
    this.body = h('div', { class: 'lesson-body' });
    this.workSlot = h('section', {
      class: 'lesson-work',
      id: 'lesson-sessions',
      'aria-label': t('tabsLabel'),
    });
    this.article = h(
      'article',
      { class: 'lesson-text', 'aria-labelledby': 'lesson-title' },
      h(
        'nav',
        { class: 'crumbs', 'aria-label': t('breadcrumbs') },
        h('a', { href: '#/lessons', text: t('backToLessons') }),
        h('a', { class: 'skip-sessions', href: '#lesson-sessions', text: t('skipToSessions') }),
      ),
      this.heading,
      h('div', { class: 'lesson-progress' }, this.barBox, this.scoreText),
      this.targets,
      this.status,
      // Shown instead of the text while a quiz runs (quizmode.js, CSS).
      h('p', { class: 'quiz-hidden-note notice', text: t('quiz.hiddenLesson') }),
      this.body,
    );
    // On a narrow screen (CSS) the lesson and the terminal take turns,
    // switched with these two tabs; wider, both show and these hide.
    this.partBtns = {};
    const partBtn = (part) =>
      (this.partBtns[part] = h('button', {
        type: 'button',
        role: 'tab',
        class: 'part-tab',
        dataset: { part },
        'aria-selected': 'false',
        text: t(part === 'lesson' ? 'partLesson' : 'partTerminal'),
        onclick: () => this.showPart(part),
      }));
    this.switcher = h(
      'div',
      { class: 'part-switch', role: 'tablist', 'aria-label': t('partSwitchLabel') },
      partBtn('lesson'),
      partBtn('terminal'),
    );
    this.element = h(
      'div',
      { class: 'lesson-page' },
      this.switcher,
      this.article,
      this.workSlot,
    );
    this.showPart('lesson');
    // The skip link scrolls within the page; keep the URL hash the route's.
    this.article.querySelector('.skip-sessions').addEventListener('click', (e) => {
      e.preventDefault();
      this.workSlot.scrollIntoView();
      const tab = this.workSlot.querySelector('[role="tab"][aria-selected="true"]');
      if (tab) tab.focus();
    });
  }

  // 'lesson' or 'terminal': which one a narrow screen shows.
  showPart(part) {
    this.element.dataset.show = part;
    for (const [p, b] of Object.entries(this.partBtns))
      b.setAttribute('aria-selected', p === part ? 'true' : 'false');
    if (part === 'terminal' && this.opts.onShowTerminal) this.opts.onShowTerminal();
  }

  async load() {
    this.status.textContent = t('loading');
    let data;
    try {
      data = await api.lesson(this.id);
    } catch (e) {
      this.heading.textContent = t('lessonNotFound');
      this.status.textContent = e.status === 404 ? '' : t('lessonFailed', { message: e.message });
      return false;
    }
    this.status.textContent = '';
    const lesson = data.lesson;
    this.lesson = lesson;
    this.heading.textContent = lesson.title;
    document.title = lesson.title + ' · ' + t('productName');
    this.setScore(lesson.score || 0, lesson.points || 0);

    this.targets.replaceChildren(
      ...(lesson.targets || [])
        .map((text) => parseTarget(text))
        .filter(Boolean)
        .map((tg) =>
          h('button', {
            type: 'button',
            class: 'session-link',
            dataset: { target: tg.host + ':' + tg.port },
            text: t('openTarget', { host: tg.host, port: tg.port }),
            onclick: () => this.opts.onOpen(tg),
          }),
        ),
    );

    const { fragment, slots } = importLessonHtml(lesson.html || '', (tg) => this.opts.onOpen(tg));
    this.widgets = [];
    const tasksById = new Map((lesson.tasks || []).map((task) => [task.id, task]));
    for (const [id, slot] of slots) {
      const task = tasksById.get(id);
      if (!task) continue;
      tasksById.delete(id);
      const w = this.widget(task);
      slot.append(w.element);
    }
    // Tasks without a placeholder in the text go at the end.
    if (tasksById.size) {
      fragment.append(h('h2', { text: t('moreTasks') }));
      for (const task of tasksById.values()) fragment.append(this.widget(task).element);
    }
    // The server's h1 repeats the title given above.
    const first = fragment.firstElementChild;
    if (first && first.localName === 'h1') first.remove();
    this.body.replaceChildren(fragment);
    return true;
  }

  widget(task) {
    const w = new TaskWidget({
      lessonId: this.id,
      task,
      onScore: (score, points) => this.setScore(score, points),
    });
    this.widgets.push(w);
    return w;
  }

  setScore(score, points) {
    this.scoreText.textContent = t('lessonScore', { score, points });
    this.barBox.replaceChildren(progressBar(score, points, t('lessonProgressLabel', { title: this.heading.textContent })));
  }

  // Puts the session tabs into this page.
  attachWorkspace(el) {
    this.workSlot.append(el);
  }
}
