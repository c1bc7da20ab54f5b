// session-tab.js -- the panel of one terminal: status bar, the
// conversation, and the input.
//
// The terminal starts at a tiny local prompt ("portlab>") that knows
// telnet, nc, ports, help and clear (see localcmd.js). Connecting turns the
// input into line mode: local editing and history, Enter sends the line and
// its line ending, nothing half-typed reaches the server. Character mode
// (xterm.js, loaded on first use) sends every key as it is typed. When the
// session ends the prompt comes back, like telnet returning to a shell.
//
// The panel owns a RelaySession at a time and draws its events.

import { h, uid } from './dom.js';
import { t, errorText, reasonText } from './strings.js';
import { targetName } from './format.js';
import { RelaySession, REPLAY_BYTES } from './session.js';
import { ConversationView } from './conversation.js';
import { protocolForPort } from './annotate.js';
import { quizOpen } from './quizmode.js';
import { encodeUtf8 } from './bytes.js';
import { runLocalCommand, parseHex } from './localcmd.js';
import { hashFor } from './router.js';
import { KeyBar } from './keybar.js';
import { DnsQueryBuilder } from './dnsquery.js';

const HISTORY_MAX = 500;
// FTP commands whose reply travels over a data connection.
const FTP_DATA_VERBS = new Set(['RETR', 'STOR', 'APPE', 'STOU', 'LIST', 'NLST', 'MLSD']);
const EOLS = { crlf: '\r\n', lf: '\n', none: '' };

// Error codes of an open that portlab refused before any session began.
const REFUSED_CODES = new Set(['target_denied', 'too_many_opens', 'too_many_sessions']);

export class SessionPanel {
  // opts: target {host, port, mode, name?} to connect to at once, or null
  // for a prompt; targets() -> the /api/targets answer (for "ports");
  // onStatus(word) for the tab dot; onTitle(text) to rename the tab;
  // onOpened(session), onClosed(session); onViewTranscript(id);
  // onOpenTarget(target) opens another terminal (FTP's data connection);
  // saved (see saved()) takes over a session of the page before a reload.
  constructor(opts) {
    this.opts = opts;
    this.target = opts.target || null;
    this.session = null;
    this.history = [];
    this.histPos = 0;
    this.draft = '';
    this.errorShown = null;
    this.charMode = false;
    this.charTerm = null;
    // FTP: the data tabs this control session opened, oldest first, each
    // {panel, close(), command}; and the text of a line not yet ended.
    this.dataChildren = [];
    this.ftpIn = '';
    this.ftpOut = '';

    this.conv = new ConversationView({
      keep: 'tail',
      label: this.title(),
      onOpenTarget: opts.onOpenTarget || null,
    });

    this.statusText = h('span', { class: 'status-text' });
    this.echoText = h('span', { class: 'status-echo', hidden: true, text: t('remoteEcho') });
    this.charBtn = h('button', {
      type: 'button',
      'aria-pressed': 'false',
      text: t('charMode'),
      title: t('charModeHelp'),
      onclick: () => this.setCharMode(!this.charMode),
    });
    this.pauseBtn = h('button', {
      type: 'button',
      'aria-pressed': 'false',
      disabled: true,
      text: t('pause'),
      onclick: () => this.togglePause(),
    });
    this.hangupBtn = h('button', {
      type: 'button',
      class: 'danger',
      disabled: true,
      text: t('hangUp'),
      onclick: () => this.hangup(),
    });
    // Shown once the server agreed to STARTTLS (raw sessions): the relay
    // then upgrades this same connection, as typing "starttls" does.
    this.startTlsBtn = h('button', {
      type: 'button',
      class: 'primary',
      hidden: true,
      text: t('startTls'),
      title: t('startTlsHelp'),
      onclick: () => this.startTls(),
    });
    this.againBtn = h('button', {
      type: 'button',
      class: 'primary',
      hidden: true,
      text: t('reconnect'),
      onclick: () => this.connect(this.target),
    });
    this.retryBtn = h('button', {
      type: 'button',
      hidden: true,
      text: t('reconnectNow'),
      onclick: () => this.session && this.session.reconnectNow(),
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
    this.promptLabel = h('label', { for: inputId, class: 'line-label' });
    this.input = h('input', {
      id: inputId,
      class: 'line-input',
      type: 'text',
      autocomplete: 'off',
      autocapitalize: 'off',
      autocorrect: 'off',
      spellcheck: 'false',
      enterkeyhint: 'send',
      'aria-describedby': hintId,
      onkeydown: (e) => this.onKey(e),
      onpaste: (e) => this.onPaste(e),
    });
    this.eol = h(
      'select',
      { id: eolId, class: 'eol' },
      h('option', { value: 'crlf', text: t('eolCRLF') }),
      h('option', { value: 'lf', text: t('eolLF') }),
      h('option', { value: 'none', text: t('eolNone') }),
    );
    this.eolLabel = h('label', { for: eolId, class: 'sr-only', text: t('lineEndingLabel') });
    this.sendBtn = h('button', { type: 'submit', class: 'primary', text: t('send') });
    this.hint = h('p', { id: hintId, class: 'hint' });
    // A quiz starting or ending elsewhere changes the prompt's hint.
    this.onQuiz = () => {
      if (this.element && this.element.dataset.local === 'true') {
        this.hint.textContent = t(quizOpen() ? 'localHintQuiz' : 'localHint');
      }
    };
    window.addEventListener('portlab:quiz', this.onQuiz);

    const hexId = uid('hex');
    const hexErrId = uid('hex-err');
    this.hexInput = h('input', {
      id: hexId,
      class: 'hex-input',
      type: 'text',
      autocomplete: 'off',
      autocapitalize: 'off',
      spellcheck: 'false',
      placeholder: '48 45 4c 4f 0d 0a',
      'aria-describedby': hexErrId,
    });
    this.hexErr = h('p', { id: hexErrId, class: 'field-error', hidden: true });
    this.hexForm = h(
      'details',
      { class: 'more-tools' },
      h('summary', { text: t('sendHexTitle') }),
      h(
        'form',
        { class: 'hex-form', onsubmit: (e) => this.onHexSubmit(e) },
        h('label', { for: hexId, text: t('sendHexLabel') }),
        h('div', { class: 'row' }, this.hexInput, h('button', { type: 'submit', text: t('sendHex') })),
        this.hexErr,
        h('p', { class: 'hint', text: t('sendHexHint') }),
      ),
    );
    // DNS over TCP cannot be typed: on port 53 a builder writes the query.
    this.dnsBuilder = new DnsQueryBuilder({
      onFill: (hex) => {
        this.hexInput.value = hex;
        this.hexInput.focus();
      },
    });
    this.dnsBuilder.element.hidden = true;
    this.hexForm.append(this.dnsBuilder.element);

    this.lineForm = h(
      'form',
      { class: 'line-form', onsubmit: (e) => this.onSubmit(e) },
      h(
        'div',
        { class: 'line-row' },
        this.promptLabel,
        this.input,
        this.eolLabel,
        this.eol,
        this.sendBtn,
      ),
      this.hint,
    );

    this.termBox = h('div', { class: 'charterm', hidden: true });
    this.keyBar = new KeyBar({ onKey: (name) => this.charTerm && this.charTerm.key(name) });
    this.keyBar.element.hidden = true;
    this.charStatus = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.quick = h('div', { class: 'quick', role: 'group', 'aria-label': t('quickConnect') });

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
          this.startTlsBtn,
          this.charBtn,
          this.pauseBtn,
          this.hangupBtn,
          this.retryBtn,
          this.againBtn,
          this.transcriptBtn,
        ),
      ),
      this.conv.element,
      this.termBox,
      this.keyBar.element,
      this.charStatus,
      this.quick,
      this.lineForm,
      this.hexForm,
    );
    this.showPrompt();
  }

  title() {
    if (!this.target) return t('terminalTitle');
    if (this.target.label) return this.target.label;
    const name = targetName(this.target.host, this.target.port);
    return this.target.name ? this.target.name + ' ' + name : name;
  }

  get isLive() {
    return !!this.session && this.session.state !== 'closed';
  }

  // Back at the local prompt (nothing connected).
  showPrompt() {
    this.promptLabel.textContent = t('localPrompt');
    this.promptLabel.classList.add('local');
    this.input.disabled = false;
    this.input.type = 'text';
    this.sendBtn.disabled = false;
    this.sendBtn.textContent = t('run');
    this.eol.hidden = true;
    this.hint.textContent = t(quizOpen() ? 'localHintQuiz' : 'localHint');
    this.lineForm.hidden = false;
    this.quick.hidden = false;
    this.element.dataset.local = 'true';
    if (!this.session) this.setStatus('local', t('statusLocal'));
  }

  // Starts the panel: connect at once when it was opened for a target, or
  // take over the saved session.
  start() {
    if (this.opts.saved) this.connect(this.opts.saved, this.opts.saved);
    else if (this.target) this.openTarget(this.target);
    else this.conv.note(t('localWelcome'), 'local');
  }

  // As if the command for target had been typed at the prompt.
  openTarget(target) {
    if (this.isLive) return;
    this.conv.note(t('localPrompt') + ' ' + this.commandFor(target), 'local');
    this.connect(target);
  }

  // Quick buttons for the lab services, shown at the prompt.
  setTargets(targets) {
    const lab = targets && !(targets instanceof Error) ? targets.lab : null;
    if (!lab) {
      this.quick.replaceChildren();
      return;
    }
    const host = lab.host || 'lab';
    this.quick.replaceChildren(
      h('span', { class: 'quick-title', text: t('quickConnect') }),
      ...(lab.services || []).map((svc) =>
        h(
          'button',
          {
            type: 'button',
            class: 'small',
            dataset: { target: host + ':' + svc.port },
            onclick: () => {
              this.openTarget({ host, port: svc.port, mode: svc.mode || 'auto', name: svc.name });
              this.focusInput();
            },
          },
          // The port is a hint that a running quiz hides (quizmode.js, CSS).
          t('quickService', { name: svc.name, port: '' }).trim(),
          h('span', { class: 'port-hint', text: ' ' + svc.port }),
        ),
      ),
    );
  }

  commandFor(target) {
    const mode = target.mode || 'auto';
    const verb = mode === 'raw' && Number(target.port) === 23 ? 'nc' : 'telnet';
    return verb + ' ' + target.host + ' ' + target.port;
  }

  // What a reload needs to take the live session over again, or null.
  saved() {
    const s = this.session;
    if (!this.isLive || s.sessionId == null || !s.resumeToken) return null;
    return {
      session_id: s.sessionId,
      resume_token: s.resumeToken,
      host: s.host,
      port: s.port,
      mode: s.mode,
      label: this.title(),
      received: s.received,
    };
  }

  // Connects to target; with saved (from saved()), resumes that session.
  connect(target, saved = null) {
    if (this.isLive || !target) return;
    this.target = saved
      ? { host: saved.host, port: saved.port, mode: saved.mode, label: saved.label }
      : target;
    target = this.target;
    if (this.opts.onTitle) this.opts.onTitle(this.title());
    this.conv.log.setAttribute('aria-label', this.title());
    const s = new RelaySession(target);
    this.session = s;
    this.errorShown = null;
    this.againBtn.hidden = true;
    this.transcriptBtn.hidden = true;
    // Raw bytes to a telnet port hold the option negotiation: decode it.
    // (In telnet mode portlab has already taken it out.)
    const telnetBytes = s.mode === 'raw' && s.port === 23;
    this.dnsBuilder.element.hidden = s.port !== 53;
    if (s.port === 53) this.hexForm.open = true;
    this.conv.configure({
      protocol: telnetBytes ? '' : protocolForPort(s.port),
      telnet: telnetBytes,
      host: s.host,
    });
    const target2 = targetName(s.host, s.port);
    const on = (type, fn) => s.addEventListener(type, (e) => this.session === s && fn(e.detail));

    on('state', ({ state }) => this.onState(state));
    on('opened', (m) => {
      this.lastSessionId = m.session_id;
      this.conv.note(t('noteConnected', { host: m.host || s.host }));
      this.conv.note(t('noteEscape'));
      this.setStatus('connected', t('statusConnected', { target: target2, mode: s.mode }));
      if (this.opts.onOpened) this.opts.onOpened(s);
      if (this.visible()) this.focusInput();
    });
    on('reconnecting', ({ attempt, delay }) => {
      if (attempt === 1) this.conv.note(t('noteReconnecting'), 'warn');
      this.setStatus(
        'reconnecting',
        t('statusReconnecting', { target: target2, seconds: (delay / 1000).toFixed(1) }),
      );
    });
    on('resumed', () => {
      this.conv.note(t('noteResumed', { n: s.received }));
      this.setStatus('connected', t('statusConnected', { target: target2, mode: s.mode }));
    });
    on('data', ({ bytes }) => {
      this.tlsWatch('s2c', bytes);
      this.conv.append('s2c', bytes);
      if (this.charTerm) this.charTerm.write(bytes);
      this.ftpWatch('s2c', bytes);
    });
    on('sent', ({ bytes, masked }) => {
      this.tlsWatch('c2s', bytes);
      this.conv.append('c2s', bytes, { mask: masked });
      this.ftpWatch('c2s', bytes);
    });
    on('note', ({ text }) => this.conv.note(text));
    on('notice', ({ code, message }) => this.conv.note(errorText(code, message), 'warn'));
    on('tls', ({ verified }) => {
      this.startTlsBtn.hidden = true;
      this.conv.note(t('noteTlsUp', { verified: t(verified ? 'tlsVerified' : 'tlsNotVerified') }));
    });
    on('echo', ({ local }) => this.setMasked(!local));
    on('paused', ({ paused }) => {
      this.pauseBtn.textContent = paused ? t('resume') : t('pause');
      this.pauseBtn.setAttribute('aria-pressed', paused ? 'true' : 'false');
      this.conv.note(paused ? t('notePaused') : t('noteResumedFlow'));
      this.setStatus(
        paused ? 'paused' : 'connected',
        paused
          ? t('statusPaused', { target: target2 })
          : t('statusConnected', { target: target2, mode: s.mode }),
      );
    });
    on('error', ({ code, message }) => {
      const text = errorText(code, message);
      this.errorShown = code;
      this.conv.note(t('noteError', { message: text }), 'warn');
      // Refused before a session began (policy, limits): portlab kept no
      // session, so none is open; say so rather than show a failed one.
      if (s.sessionId == null && REFUSED_CODES.has(code)) {
        this.refused = true;
        this.setStatus('refused', t('statusRefused', { message: text }));
      } else {
        this.setStatus('error', t('statusError', { message: text }));
      }
    });
    on('closed', ({ reason }) => {
      this.conv.end();
      if (reason === 'remote_closed') this.conv.note(t('noteForeignClosed'));
      else if (reason !== this.errorShown && reason !== 'connect_failed') {
        this.conv.note(t('noteClosed', { reason: reasonText(reason) }));
      }
      if (!this.errorShown) {
        this.setStatus('closed', t('statusClosed', { reason: reasonText(reason) }));
      }
      if (this.errorShown === 'resume_failed' && s.sessionId != null) {
        this.conv.note(t('noteSessionEnded'), '', this.transcriptLink(s.sessionId));
      }
      if (this.charTerm) this.charTerm.writeText('\n' + t('noteForeignClosed') + '\n');
      this.setMasked(false);
      this.pauseBtn.disabled = true;
      this.hangupBtn.disabled = true;
      this.startTlsBtn.hidden = true;
      this.retryBtn.hidden = true;
      this.againBtn.hidden = false;
      this.transcriptBtn.hidden = s.sessionId == null;
      if (this.charMode) this.setCharMode(false);
      this.showPrompt();
      if (this.opts.onClosed) this.opts.onClosed(s);
      if (this.onDataClosed) {
        const f = this.onDataClosed;
        this.onDataClosed = null;
        f();
      }
    });

    if (!saved) {
      this.conv.note(t('noteTrying', { target: target2 }));
      s.connect();
      return;
    }
    // The server keeps the newest REPLAY_BYTES it sent: within that, ask
    // for everything so the view is complete again.
    const id = saved.session_id;
    const whole = saved.received <= REPLAY_BYTES;
    this.lastSessionId = id;
    this.conv.note(t('noteReopening', { id, target: target2 }));
    if (!whole) this.conv.note(t('noteEarlierOutput'), '', this.transcriptLink(id));
    this.setStatus('reconnecting', t('statusReopening', { target: target2 }));
    s.reattach({ ...saved, received: whole ? 0 : saved.received });
  }

  // --- FTP data tabs --------------------------------------------------------

  // A data tab this (control) panel opened from a 227/229 reply.
  addDataChild(child) {
    this.dataChildren.push(child);
    child.panel.dataParent = this;
    child.panel.setDataLabel(null);
  }

  // The data tab's name: what it carries once the control session said.
  setDataLabel(command) {
    this.dataCommand = command;
    const what = command || targetName(this.target.host, this.target.port);
    this.target.label = t('ftpDataTab', { what });
    if (this.opts.onTitle) this.opts.onTitle(this.title());
  }

  // Lines of a control session: a data command names the newest data tab
  // that carries nothing yet; the transfer's end (226, or an error after
  // a data command) closes its tab and leaves its transcript linked here.
  ftpWatch(dir, bytes) {
    if (!this.dataChildren.length && dir === 's2c') return;
    if (!this.session || protocolForPort(this.session.port) !== 'ftp') return;
    const key = dir === 'c2s' ? 'ftpOut' : 'ftpIn';
    const text = this[key] + new TextDecoder().decode(bytes);
    const lines = text.split('\n');
    this[key] = lines.pop().slice(-512);
    for (const raw of lines) {
      const line = raw.replace(/\r$/, '');
      if (dir === 'c2s') {
        const verb = line.split(' ')[0].toUpperCase();
        if (!FTP_DATA_VERBS.has(verb)) continue;
        this.dataChildren = this.dataChildren.filter((c) => c.panel.dataCommand || !c.panel.dataGone);
        const child = this.dataChildren.find((c) => !c.panel.dataCommand);
        if (child) child.panel.setDataLabel(line.trim());
      } else {
        const m = /^(\d{3}) /.exec(line);
        if (!m) continue;
        const code = m[1];
        const child = this.dataChildren.find((c) => c.panel.dataCommand && !c.done);
        if (child && (code === '226' || code === '250' || /^[45]/.test(code)))
          this.dataDone(child, code);
      }
    }
  }

  // The transfer ended: its tab goes once its connection has closed too
  // (the server closes it before 226), and a note here links its transcript.
  dataDone(child, code) {
    child.done = true;
    const p = child.panel;
    const finish = () => {
      const id = p.lastSessionId;
      const label = p.title();
      this.dataChildren = this.dataChildren.filter((c) => c !== child);
      child.close();
      if (id != null)
        this.conv.note(
          t(code === '226' || code === '250' ? 'noteDataDone' : 'noteDataFailed', { label }),
          '',
          this.transcriptLink(id),
        );
    };
    if (!p.isLive) finish();
    else p.onDataClosed = finish;
  }

  transcriptLink(id) {
    return { href: hashFor('transcript', String(id)), text: t('transcriptLink', { id }) };
  }

  visible() {
    return this.element.isConnected && !this.element.closest('[hidden]');
  }

  onState(state) {
    const s = this.session;
    const target = targetName(s.host, s.port);
    this.retryBtn.hidden = state !== 'reconnecting';
    // Leaving the local prompt: a new session, or one taken over after a reload.
    if (state !== 'closed' && this.element.dataset.local === 'true') {
      this.pauseBtn.disabled = true;
      this.pauseBtn.textContent = t('pause');
      this.pauseBtn.setAttribute('aria-pressed', 'false');
      this.hangupBtn.disabled = false;
      this.promptLabel.textContent = t('lineLabel');
      this.promptLabel.classList.remove('local');
      this.element.dataset.local = 'false';
      this.quick.hidden = true;
      this.sendBtn.textContent = t('send');
      this.eol.hidden = false;
      this.hint.textContent = t('lineHint');
    }
    if (state === 'connecting') {
      this.setStatus('connecting', t('statusConnecting', { target }));
      this.input.disabled = true;
      this.sendBtn.disabled = true;
    } else if (state === 'connected') {
      this.pauseBtn.disabled = false;
      this.input.disabled = false;
      this.sendBtn.disabled = false;
    } else if (state === 'reconnecting') {
      // Typing stays in the input until the session is back.
      this.sendBtn.disabled = true;
      this.pauseBtn.disabled = true;
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
    if (this.charTerm) this.charTerm.localEcho = !masked && this.session && this.session.mode === 'raw';
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
    if (this.isLive) this.session.hangup();
  }

  // Runs a line at the local prompt.
  runLocal(text) {
    this.conv.note(t('localPrompt') + ' ' + text, 'local');
    runLocalCommand(text, {
      print: (line) => this.conv.note(line, 'local'),
      clear: () => this.conv.clear(),
      targets: () => (this.opts.targets ? this.opts.targets() : null),
      connect: (target) => this.connect(target),
    });
  }

  remember(text) {
    if (text !== '' && this.history[this.history.length - 1] !== text) {
      this.history.push(text);
      if (this.history.length > HISTORY_MAX) this.history.shift();
    }
    this.histPos = this.history.length;
    this.draft = '';
  }

  // STARTTLS: the newest line each way of a raw session, to see that the
  // student asked (STARTTLS, STLS, AUTH TLS) and the server agreed (220,
  // +OK, TAG OK, 234). portlab checks the same before it upgrades.
  tlsWatch(dir, bytes) {
    const s = this.session;
    if (!s || s.mode !== 'raw' || s.tls) return;
    if (!this.tlsTail) this.tlsTail = { c2s: '', s2c: '' };
    const text = (this.tlsTail[dir] + latin1Text(bytes)).slice(-512);
    this.tlsTail[dir] = text;
    const last = (x) => {
      const lines = x.split('\n');
      return lines.length > 1 ? lines[lines.length - 2].replace(/\r$/, '') : null;
    };
    const asked = last(this.tlsTail.c2s);
    const said = last(this.tlsTail.s2c);
    this.tlsOffer =
      asked !== null &&
      said !== null &&
      this.tlsTail.s2c.endsWith('\n') &&
      /(^|\s)(STARTTLS|STLS)(\s|$)|^AUTH (TLS|SSL)/i.test(asked) &&
      /^(220|234)( |$)|^\+OK|^[A-Za-z0-9.]+ OK( |$)/.test(said);
    this.startTlsBtn.hidden = !this.tlsOffer;
  }

  startTls() {
    if (!this.isLive || !this.session.canSend) return;
    this.conv.note(t('noteStartTls'));
    this.startTlsBtn.hidden = true;
    this.tlsOffer = false;
    this.session.startTls();
  }

  onSubmit(e) {
    e.preventDefault();
    const text = this.input.value;
    if (!this.isLive) {
      this.input.value = '';
      this.remember(text.trim());
      this.runLocal(text.trim());
      return;
    }
    // "starttls" once the server agreed is for portlab, not the server
    // (which has just been sent STARTTLS and waits for a TLS handshake).
    if (text.trim() === 'starttls' && this.tlsOffer) {
      this.input.value = '';
      this.remember('starttls');
      this.startTls();
      return;
    }
    const s = this.session;
    if (!s.canSend) return; // connecting or reconnecting: the line waits
    const eol = EOLS[this.eol.value] ?? '\r\n';
    if (text === '' && eol === '') return;
    const masked = !s.localEcho;
    if (!s.sendLine(text, eol)) return;
    if (!masked) this.remember(text);
    else this.histPos = this.history.length;
    this.input.value = '';
  }

  // A paste with line breaks, while connected: every complete line is sent
  // with the chosen line ending, as if typed; the rest stays in the input.
  onPaste(e) {
    if (!this.isLive || !this.session.canSend) return;
    const text = e.clipboardData ? e.clipboardData.getData('text/plain') : '';
    if (!/[\r\n]/.test(text)) return;
    e.preventDefault();
    const el = this.input;
    const full = el.value.slice(0, el.selectionStart) + text + el.value.slice(el.selectionEnd);
    const lines = full.split(/\r\n|\r|\n/);
    const rest = lines.pop();
    const eol = EOLS[this.eol.value] ?? '\r\n';
    const s = this.session;
    s.sendBytes(encodeUtf8(lines.map((l) => l + eol).join('')), !s.localEcho);
    el.value = rest;
  }

  onHexSubmit(e) {
    e.preventDefault();
    const bytes = parseHex(this.hexInput.value);
    let err = '';
    if (!bytes) err = t('sendHexInvalid');
    else if (!this.isLive || !this.session.canSend) err = t('sendHexNotConnected');
    this.hexErr.textContent = err;
    this.hexErr.hidden = !err;
    if (err) {
      this.hexInput.setAttribute('aria-invalid', 'true');
      return;
    }
    this.hexInput.removeAttribute('aria-invalid');
    this.session.sendBytes(bytes, false);
    this.hexInput.value = '';
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

  // Character mode: xterm.js instead of the conversation and line input.
  // The conversation still records everything and comes back on toggle.
  async setCharMode(on) {
    if (on === this.charMode) return;
    this.charMode = on;
    this.charBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    this.element.dataset.char = on ? 'true' : 'false';
    if (!on) {
      this.termBox.hidden = true;
      this.keyBar.element.hidden = true;
      this.conv.element.hidden = false;
      this.lineForm.hidden = false;
      this.charStatus.textContent = '';
      if (this.charTerm) {
        this.charTerm.dispose();
        this.charTerm = null;
      }
      this.termBox.replaceChildren();
      if (this.visible()) this.focusInput();
      return;
    }
    this.charStatus.textContent = t('charLoading');
    let Terminal;
    try {
      const { loadXterm } = await import('./charterm.js');
      Terminal = await loadXterm();
    } catch (err) {
      this.charStatus.textContent = t('charLoadFailed', { message: err.message });
      this.charMode = false;
      this.charBtn.setAttribute('aria-pressed', 'false');
      this.element.dataset.char = 'false';
      return;
    }
    if (!this.charMode || this.charTerm) return;
    const { CharTerminal } = await import('./charterm.js');
    this.conv.element.hidden = true;
    this.lineForm.hidden = true;
    this.termBox.hidden = false;
    this.keyBar.element.hidden = false;
    this.charStatus.textContent = t('charOn');
    const fontSize = document.documentElement.classList.contains('large') ? 21 : 15;
    this.charTerm = new CharTerminal(Terminal, {
      container: this.termBox,
      label: t('charTermLabel'),
      fontSize,
      onSend: (bytes) => {
        if (this.isLive && this.session.canSend) this.session.sendBytes(bytes, !this.session.localEcho);
      },
      onCtrl: (pressed) => this.keyBar.setCtrl(pressed),
    });
    const s = this.session;
    this.charTerm.localEcho = !!(s && s.localEcho && s.mode === 'raw');
    if (!this.isLive) this.charTerm.writeText(t('charNotConnected') + '\n');
    this.charTerm.focus();
  }

  focusInput() {
    if (this.charTerm) this.charTerm.focus();
    else this.input.focus();
  }

  onShow() {
    // Keep the caret where it is (arrow keys may be moving along the tabs).
    if (this.conv.stick) this.conv.scrollToEnd();
    if (this.charTerm) this.charTerm.fit();
  }

  dispose() {
    window.removeEventListener('portlab:quiz', this.onQuiz);
    // A data tab closed by hand (the end of an upload) still gets its
    // transcript linked when the control session says the transfer ended.
    this.dataGone = true;
    if (this.isLive) this.session.hangup();
    if (this.charTerm) this.charTerm.dispose();
  }
}

// Bytes as Latin-1 text (one character per byte), for line matching.
function latin1Text(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
  return out;
}
