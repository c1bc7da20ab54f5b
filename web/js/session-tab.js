// session-tab.js -- the panel of one live session: status bar, the
// conversation, and the line input with its history.
//
// The panel owns a RelaySession and draws its events; "Connect again"
// starts a new RelaySession to the same target in the same conversation,
// like running telnet again in one terminal.

import { h, uid } from './dom.js';
import { t, errorText, reasonText } from './strings.js';
import { targetName } from './format.js';
import { RelaySession } from './session.js';
import { ConversationView } from './conversation.js';

const HISTORY_MAX = 500;
const EOLS = { crlf: '\r\n', lf: '\n', none: '' };

export class SessionPanel {
  // opts: target {host, port, mode, name?}; onStatus(word) for the tab dot;
  // onOpened(session) and onClosed(session) (e.g. refresh the list);
  // onViewTranscript(id).
  constructor(opts) {
    this.opts = opts;
    this.target = opts.target;
    this.session = null;
    this.history = [];
    this.histPos = 0;
    this.draft = '';
    this.errorShown = null;

    this.conv = new ConversationView({ keep: 'tail', label: this.title() });

    this.statusText = h('span', { class: 'status-text' });
    this.echoText = h('span', { class: 'status-echo', hidden: true, text: t('remoteEcho') });
    this.pauseBtn = h('button', {
      type: 'button',
      'aria-pressed': 'false',
      text: t('pause'),
      onclick: () => this.togglePause(),
    });
    this.hangupBtn = h('button', {
      type: 'button',
      class: 'danger',
      text: t('hangUp'),
      onclick: () => this.hangup(),
    });
    this.againBtn = h('button', {
      type: 'button',
      class: 'primary',
      hidden: true,
      text: t('reconnect'),
      onclick: () => this.start(),
    });
    this.transcriptBtn = h('button', {
      type: 'button',
      hidden: true,
      text: t('viewTranscript'),
      onclick: () => {
        if (this.lastSessionId != null && this.opts.onViewTranscript) {
          this.opts.onViewTranscript(this.lastSessionId);
        }
      },
    });

    const inputId = uid('line');
    const eolId = uid('eol');
    const hintId = uid('line-hint');
    this.input = h('input', {
      id: inputId,
      class: 'line-input',
      type: 'text',
      autocomplete: 'off',
      autocapitalize: 'off',
      autocorrect: 'off',
      spellcheck: 'false',
      enterkeyhint: 'send',
      disabled: true,
      'aria-describedby': hintId,
      onkeydown: (e) => this.onKey(e),
    });
    this.eol = h(
      'select',
      { id: eolId, class: 'eol' },
      h('option', { value: 'crlf', text: t('eolCRLF') }),
      h('option', { value: 'lf', text: t('eolLF') }),
      h('option', { value: 'none', text: t('eolNone') }),
    );
    this.sendBtn = h('button', { type: 'submit', class: 'primary', disabled: true, text: t('send') });

    this.element = h(
      'section',
      { class: 'session' },
      h(
        'div',
        { class: 'session-bar' },
        h(
          'p',
          { class: 'status', role: 'status', 'aria-live': 'polite' },
          this.statusText,
          this.echoText,
        ),
        h(
          'div',
          { class: 'session-actions' },
          this.pauseBtn,
          this.hangupBtn,
          this.againBtn,
          this.transcriptBtn,
        ),
      ),
      this.conv.element,
      h(
        'form',
        { class: 'line-form', onsubmit: (e) => this.onSubmit(e) },
        h(
          'div',
          { class: 'line-row' },
          h('label', { for: inputId, class: 'line-label', text: t('lineLabel') }),
          this.input,
          h('label', { for: eolId, class: 'sr-only', text: t('lineEndingLabel') }),
          this.eol,
          this.sendBtn,
        ),
        h('p', { id: hintId, class: 'hint', text: t('lineHint') }),
      ),
    );
  }

  title() {
    const name = targetName(this.target.host, this.target.port);
    return this.target.name ? this.target.name + ' ' + name : name;
  }

  get isLive() {
    return !!this.session && this.session.state !== 'closed';
  }

  start() {
    if (this.isLive) return;
    const s = new RelaySession(this.target);
    this.session = s;
    this.errorShown = null;
    this.againBtn.hidden = true;
    this.transcriptBtn.hidden = true;
    const target = targetName(s.host, s.port);
    const on = (type, fn) => s.addEventListener(type, (e) => this.session === s && fn(e.detail));

    on('state', ({ state }) => this.onState(state));
    on('opened', (m) => {
      this.lastSessionId = m.session_id;
      this.conv.note(t('noteConnected', { host: m.host || s.host }));
      this.conv.note(t('noteEscape'));
      this.setStatus('connected', t('statusConnected', { target, mode: s.mode }));
      if (this.opts.onOpened) this.opts.onOpened(s);
      if (this.element.isConnected && !this.element.closest('[hidden]')) this.input.focus();
    });
    on('data', ({ bytes }) => this.conv.append('s2c', bytes));
    on('sent', ({ bytes, masked }) => this.conv.append('c2s', bytes, { mask: masked }));
    on('note', ({ text }) => this.conv.note(text));
    on('echo', ({ local }) => this.setMasked(!local));
    on('paused', ({ paused }) => {
      this.pauseBtn.textContent = paused ? t('resume') : t('pause');
      this.pauseBtn.setAttribute('aria-pressed', paused ? 'true' : 'false');
      this.conv.note(paused ? t('notePaused') : t('noteResumed'));
      this.setStatus(
        paused ? 'paused' : 'connected',
        paused ? t('statusPaused', { target }) : t('statusConnected', { target, mode: s.mode }),
      );
    });
    on('error', ({ code, message }) => {
      const text = errorText(code, message);
      this.errorShown = code;
      this.conv.note(t('noteError', { message: text }));
      this.setStatus('error', t('statusError', { message: text }));
    });
    on('closed', ({ reason }) => {
      if (reason === 'remote_closed') this.conv.note(t('noteForeignClosed'));
      else if (reason !== this.errorShown && reason !== 'connect_failed') {
        this.conv.note(t('noteClosed', { reason: reasonText(reason) }));
      }
      if (!this.errorShown) {
        this.setStatus('closed', t('statusClosed', { reason: reasonText(reason) }));
      }
      this.setMasked(false);
      this.input.disabled = true;
      this.sendBtn.disabled = true;
      this.pauseBtn.disabled = true;
      this.hangupBtn.disabled = true;
      this.againBtn.hidden = false;
      this.transcriptBtn.hidden = s.sessionId == null;
      if (this.opts.onClosed) this.opts.onClosed(s);
    });

    this.conv.note(t('noteTrying', { target }));
    s.connect();
  }

  onState(state) {
    const s = this.session;
    if (state === 'connecting') {
      this.setStatus('connecting', t('statusConnecting', { target: targetName(s.host, s.port) }));
      this.pauseBtn.disabled = true;
      this.pauseBtn.textContent = t('pause');
      this.pauseBtn.setAttribute('aria-pressed', 'false');
      this.hangupBtn.disabled = false;
      this.input.disabled = true;
      this.sendBtn.disabled = true;
    } else if (state === 'connected') {
      this.pauseBtn.disabled = false;
      this.input.disabled = false;
      this.sendBtn.disabled = false;
    }
  }

  setStatus(word, text) {
    this.statusText.textContent = text;
    this.element.dataset.status = word;
    if (this.opts.onStatus) this.opts.onStatus(word);
  }

  // Remote echo: the server shows what is typed (or hides it, for a
  // password), so the input is masked and the sent bytes are shown as dots.
  setMasked(masked) {
    this.input.type = masked ? 'password' : 'text';
    this.echoText.hidden = !masked;
    if (this.session && this.session.state !== 'closed') {
      const was = this.element.dataset.masked === 'true';
      if (was !== masked) this.conv.note(masked ? t('noteEchoRemote') : t('noteEchoLocal'));
    }
    this.element.dataset.masked = masked ? 'true' : 'false';
  }

  togglePause() {
    if (!this.session) return;
    if (this.session.paused) this.session.resume();
    else this.session.pause();
  }

  hangup() {
    if (this.session) this.session.hangup();
  }

  onSubmit(e) {
    e.preventDefault();
    const s = this.session;
    if (!s || !s.canSend) return;
    const text = this.input.value;
    const eol = EOLS[this.eol.value] ?? '\r\n';
    if (text === '' && eol === '') return;
    const masked = !s.localEcho;
    if (!s.sendLine(text, eol)) return;
    if (!masked && text !== '' && this.history[this.history.length - 1] !== text) {
      this.history.push(text);
      if (this.history.length > HISTORY_MAX) this.history.shift();
    }
    this.histPos = this.history.length;
    this.draft = '';
    this.input.value = '';
  }

  onKey(e) {
    if (e.ctrlKey && !e.altKey && (e.key === ']' || e.code === 'BracketRight' || e.key === '\x1d')) {
      e.preventDefault();
      this.hangup();
      return;
    }
    if (e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === 'ArrowUp') {
      if (this.histPos === 0) return;
      e.preventDefault();
      if (this.histPos === this.history.length) this.draft = this.input.value;
      this.histPos -= 1;
      this.recall(this.history[this.histPos]);
    } else if (e.key === 'ArrowDown') {
      if (this.histPos >= this.history.length) return;
      e.preventDefault();
      this.histPos += 1;
      this.recall(this.histPos === this.history.length ? this.draft : this.history[this.histPos]);
    }
  }

  recall(text) {
    this.input.value = text;
    const end = text.length;
    // Put the caret at the end, as a shell does (not possible on password).
    if (this.input.type === 'text') this.input.setSelectionRange(end, end);
  }

  onShow() {
    // Keep the caret where it is (arrow keys may be moving along the tabs).
    if (this.conv.stick) this.conv.scrollToEnd();
  }

  dispose() {
    if (this.isLive) this.session.hangup();
  }
}
