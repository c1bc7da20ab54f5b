// sessions-list.js -- "My sessions" (a teacher: all sessions, filtered by
// student name): GET /api/sessions, newest first, one page at a time (a
// "Show older sessions" button asks for the next page with ?before=);
// choosing one opens its transcript.

import { h, uid } from './dom.js';
import { t, reasonText } from './strings.js';
import { api } from './api.js';
import { formatBytes, formatTime, targetName } from './format.js';

export class SessionsList {
  // opts: teacher (bool), onOpen(sessionSummary), live(id): the counters
  // of a session this page holds open ({up, down}), or null.
  constructor(opts) {
    this.opts = opts;
    this.rows = new Map(); // session id -> {s, line2 element} for open sessions
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
      // One clear error state: the old list belonged to another filter.
      this.list.replaceChildren();
      this.rows.clear();
      this.setNext(null);
      this.element.dataset.state = 'error';
      this.status.textContent = t('sessionsFailed', { message: e.message });
    } finally {
      this.loading = false;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    }
  }

  // Open sessions' counters as this page sees them on its own relay
  // sockets (the list's own numbers are those of the last refresh).
  updateLive() {
    for (const row of this.rows.values()) row.line2.textContent = this.line2(row.s);
  }

  line2(s) {
    const state = s.state || (s.ended_at ? 'ended' : 'open');
    const live = state === 'open' && this.opts.live ? this.opts.live(s.id) : null;
    const up = live ? Math.max(live.up, s.bytes_up || 0) : s.bytes_up;
    const down = live ? Math.max(live.down, s.bytes_down || 0) : s.bytes_down;
    return [
      formatTime(s.started_at),
      t('bytesUpDown', { up: formatBytes(up), down: formatBytes(down) }),
      state === 'refused'
        ? t('sessionRefused', { reason: reasonText(s.close_reason) })
        : state === 'open'
          ? t('sessionOpen')
          : this.opts.teacher && s.close_reason === 'client_closed'
            ? t('reasonClientClosedTeacher')
            : reasonText(s.close_reason),
    ]
      .filter(Boolean)
      .join(' · ');
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
    if (!append) {
      this.status.textContent = sessions.length ? '' : t('noSessions');
      this.element.dataset.state = sessions.length ? '' : 'empty';
      this.rows.clear();
    }
    const items = groupData(sessions).map((s) => {
      const state = s.state || (s.ended_at ? 'ended' : 'open');
      const open = state === 'open';
      const line2 = h('span', { class: 'session-line2', text: this.line2(s) });
      if (open) this.rows.set(s.id, { s, line2 });
      return h(
        'li',
        null,
        h(
          'button',
          {
            type: 'button',
            class:
              'session-item' +
              (open ? ' open' : '') +
              (state === 'refused' ? ' refused' : '') +
              (s.parent_id ? ' session-data' : ''),
            dataset: { state },
            onclick: () => this.opts.onOpen(s),
          },
          h(
            'span',
            { class: 'session-line1' },
            h('span', {
              class: 'session-target',
              text: t('sessionSummary', {
                id: s.id,
                target: s.parent_id
                  ? t('ftpDataTab', { what: s.label || targetName(s.host, s.port) })
                  : targetName(s.host, s.port),
              }),
            }),
            h('span', { class: 'session-mode', text: s.mode }),
            s.own_client
              ? h('span', {
                  class: 'session-own',
                  title: t('ownClientTitle'),
                  text:
                    this.opts.teacher && s.client_addr
                      ? t('ownClientFrom', { addr: s.client_addr })
                      : t('ownClient'),
                })
              : null,
            this.opts.teacher && s.user ? h('span', { class: 'session-user', text: s.user }) : null,
          ),
          line2,
        ),
      );
    });
    if (append) this.list.append(...items);
    else this.list.replaceChildren(...items);
  }
}

// An own client's FTP data connections (parent_id set) go right under
// their control session when it is in the same list, oldest first, as the
// page groups its own data tabs; others stay where they are.
function groupData(sessions) {
  const ids = new Set(sessions.map((s) => s.id));
  const children = new Map();
  for (const s of sessions) {
    if (!s.parent_id || !ids.has(s.parent_id)) continue;
    if (!children.has(s.parent_id)) children.set(s.parent_id, []);
    children.get(s.parent_id).unshift(s);
  }
  const out = [];
  for (const s of sessions) {
    if (s.parent_id && ids.has(s.parent_id)) continue;
    out.push(s, ...(children.get(s.id) || []));
  }
  return out;
}
