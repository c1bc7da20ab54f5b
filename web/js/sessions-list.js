// sessions-list.js -- "My sessions" (a teacher: all sessions, filtered by
// student name): GET /api/sessions, newest first, one page at a time (a
// "Show older sessions" button asks for the next page with ?before=);
// choosing one opens its transcript.

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
    this.nextBefore = null; // where the next page starts, or null at the end
    this.shownUser = ''; // the filter the list on screen was loaded with
    this.more = h('button', {
      type: 'button',
      class: 'small more-sessions',
      text: t('moreSessions'),
      hidden: true,
      onclick: () => this.loadMore(),
    });

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
      this.more,
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
      this.shownUser = user;
      this.render((data && data.sessions) || [], false);
      this.setNext(data);
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

  setNext(data) {
    this.nextBefore = data && data.next_before != null ? data.next_before : null;
    this.more.hidden = this.nextBefore == null;
  }

  // The next page of the list on screen, appended to it.
  async loadMore() {
    if (this.loading || this.nextBefore == null) return;
    this.loading = true;
    this.more.disabled = true;
    try {
      const data = await api.sessions(this.shownUser || undefined, this.nextBefore);
      this.render((data && data.sessions) || [], true);
      this.setNext(data);
    } catch (e) {
      this.status.textContent = t('sessionsFailed', { message: e.message });
    } finally {
      this.loading = false;
      this.more.disabled = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  // append: add to the list on screen instead of replacing it.
  render(sessions, append) {
    if (!append) this.status.textContent = sessions.length ? '' : t('noSessions');
    const items = sessions.map((s) => {
      const open = !s.ended_at;
      const line2 = [
        formatTime(s.started_at),
        t('bytesUpDown', { up: formatBytes(s.bytes_up), down: formatBytes(s.bytes_down) }),
        s.state === 'refused'
          ? t('sessionRefused', { reason: reasonText(s.close_reason) })
          : open
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
    if (append) this.list.append(...items);
    else this.list.replaceChildren(...items);
  }
}
