// progress.js -- the teacher's class page: the gradebook (every student,
// points, stuck, one cell per task, actions), the usage table, the class
// settings with the audit log, beside the list of all sessions.

import { h } from './dom.js';
import { UsageView } from './usage.js';
import { GradebookView } from './gradebook.js';
import { ClassSettingsView } from './class-admin.js';

export class ProgressView {
  // opts: sessions (a SessionsList element to show beside the table).
  constructor(opts = {}) {
    this.usage = new UsageView();
    this.settings = new ClassSettingsView();
    this.gradebook = new GradebookView({ onChange: () => this.usage.load() });
    this.side = h('div', { class: 'teacher-sessions' });
    this.element = h(
      'div',
      { class: 'page teacher-page' },
      h('div', { class: 'teacher-main' }, this.gradebook.element, this.usage.element, this.settings.element),
      this.side,
    );
    if (opts.sessions) this.side.append(opts.sessions);
  }

  async load() {
    this.usage.load();
    this.settings.load();
    await this.gradebook.load();
  }
}
