// sessions-list.js -- "My sessions" (a teacher: all sessions, filtered by
// student name): GET /api/sessions, newest first; choosing one opens its
// transcript.

import { h, uid } from './dom.js';
import { t, reasonText } from './strings.js';
import { api } from './api.js';
import { formatBytes, formatTime, targetName } from './format.js';

export class SessionsList {
  // opts: teacher (bool), onOpen(sessionSummary).
  constructor(opts) {
    this.opts = opts;
    this.loading = false;
    this.again = false;
    this.list = h('ul', { class: 'session-list' });
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });

    let filter = null;
    if (opts.teacher) {
      const id = uid('user-filter');
      this.userInput = h('input', {
        id,
        type: 'search',
        autocomplete: 'off',
        autocapitalize: 'off',
        spellcheck: 'false',
        maxlength: '32',
      });
      filter = h(
        'form',
        {
          class: 'user-filter',
          onsubmit: (e) => {
            e.preventDefault();
            this.refresh();
          },
        },
        h('label', { for: id, text: t('userFilterLabel') }),
        h(
          'div',
          { class: 'row' },
          this.userInput,
          h('button', { type: 'submit', text: t('userFilterButton') }),
        ),
      );
    }

    this.element = h(
      'section',
      { class: 'sessions', 'aria-labelledby': (this.headingId = uid('sessions-h')) },
      h(
        'div',
        { class: 'section-head' },
        h('h2', {
          id: this.headingId,
          text: opts.teacher ? t('sessionsTitleTeacher') : t('sessionsTitle'),
        }),
        h('button', {
          type: 'button',
          class: 'small',
          text: t('refresh'),
          onclick: () => this.refresh(),
        }),
      ),
      filter,
      this.status,
      this.list,
    );
  }

  async refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      const user = this.userInput ? this.userInput.value.trim() : '';
      const data = await api.sessions(user || undefined);
      this.render((data && data.sessions) || []);
    } catch (e) {
      this.status.textContent = t('sessionsFailed', { message: e.message });
    } finally {
      this.loading = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  render(sessions) {
    this.status.textContent = sessions.length ? '' : t('noSessions');
    const items = sessions.map((s) => {
      const open = !s.ended_at;
      const line2 = [
        formatTime(s.started_at),
        t('bytesUpDown', { up: formatBytes(s.bytes_up), down: formatBytes(s.bytes_down) }),
        open
          ? t('sessionOpen')
          : this.opts.teacher && s.close_reason === 'client_closed'
            ? t('reasonClientClosedTeacher')
            : reasonText(s.close_reason),
      ].filter(Boolean);
      return h(
        'li',
        null,
        h(
          'button',
          {
            type: 'button',
            class: 'session-item' + (open ? ' open' : ''),
            onclick: () => this.opts.onOpen(s),
          },
          h(
            'span',
            { class: 'session-line1' },
            h('span', {
              class: 'session-target',
              text: t('sessionSummary', { id: s.id, target: targetName(s.host, s.port) }),
            }),
            h('span', { class: 'session-mode', text: s.mode }),
            this.opts.teacher && s.user ? h('span', { class: 'session-user', text: s.user }) : null,
          ),
          h('span', { class: 'session-line2', text: line2.join(' · ') }),
        ),
      );
    });
    this.list.replaceChildren(...items);
  }
}
