// charterm.js -- character mode: every key goes to the server as it is
// typed, drawn by xterm.js (from npm, served by portlab as /vendor/). The
// library is loaded only when a student first chooses character mode.
//
// xterm.js puts its computed styles (cell size, colours) into <style>
// elements, which the page's Content-Security-Policy (style-src 'self')
// refuses. Their text is copied into a constructed style sheet instead,
// which the policy allows.

import { apiUrl } from './api.js';
import { encodeUtf8 } from './bytes.js';

let loading = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.async = true;
    s.onload = () => resolve();
    s.onerror = () => reject(new Error('could not load ' + src));
    document.head.append(s);
  });
}

function loadCss(href) {
  return new Promise((resolve, reject) => {
    const l = document.createElement('link');
    l.rel = 'stylesheet';
    l.href = href;
    l.onload = () => resolve();
    l.onerror = () => reject(new Error('could not load ' + href));
    document.head.append(l);
  });
}

// Resolves to the Terminal class.
export function loadXterm() {
  if (!loading) {
    loading = Promise.all([
      loadScript(apiUrl('vendor/xterm.js')),
      loadCss(apiUrl('vendor/xterm.css')),
    ]).then(() => {
      if (typeof globalThis.Terminal !== 'function') throw new Error('xterm.js did not load');
      return globalThis.Terminal;
    });
    loading.catch(() => {
      loading = null; // let a later click try again
    });
  }
  return loading;
}

// Copies the text of <style> elements under root into adopted sheets.
function mirrorStyles(root) {
  const sheet = new CSSStyleSheet();
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
  const sync = () => {
    const css = [...root.querySelectorAll('style')].map((s) => s.textContent).join('\n');
    try {
      sheet.replaceSync(css);
    } catch (e) {
      // A rule the browser does not take: keep the previous sheet.
    }
  };
  const mo = new MutationObserver(sync);
  mo.observe(root, { subtree: true, childList: true, characterData: true });
  sync();
  return () => {
    mo.disconnect();
    document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
  };
}

const KEYS = {
  esc: '\x1b',
  tab: '\t',
  up: ['\x1b[A', '\x1bOA'],
  down: ['\x1b[B', '\x1bOB'],
  right: ['\x1b[C', '\x1bOC'],
  left: ['\x1b[D', '\x1bOD'],
};

export class CharTerminal {
  // opts: container (element), onSend(bytes), label (accessible name).
  constructor(Terminal, opts) {
    this.opts = opts;
    this.ctrl = false;
    this.localEcho = false;
    this.term = new Terminal({
      convertEol: false,
      cursorBlink: true,
      scrollback: 5000,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      fontSize: opts.fontSize || 15,
      screenReaderMode: false,
      theme: { background: '#1b1f24', foreground: '#f5f7fa' },
    });
    this.unmirror = mirrorStyles(opts.container);
    this.term.open(opts.container);
    if (opts.label && this.term.textarea) this.term.textarea.setAttribute('aria-label', opts.label);
    this.term.onData((data) => this.input(data));
    this.fit();
    this.ro = new ResizeObserver(() => this.fit());
    this.ro.observe(opts.container);
  }

  // Sizes the grid to the container from the measured cell size.
  fit() {
    const el = this.opts.container;
    const core = this.term._core;
    const dims = core && core._renderService && core._renderService.dimensions;
    const cw = dims && dims.css && dims.css.cell ? dims.css.cell.width : 0;
    const ch = dims && dims.css && dims.css.cell ? dims.css.cell.height : 0;
    if (!cw || !ch || !el.clientWidth || !el.clientHeight) return;
    const cols = Math.max(20, Math.floor((el.clientWidth - 16) / cw));
    const rows = Math.max(5, Math.floor((el.clientHeight - 8) / ch));
    if (cols !== this.term.cols || rows !== this.term.rows) this.term.resize(cols, rows);
  }

  input(data) {
    let d = data;
    if (this.ctrl && d.length === 1) {
      const c = d.toUpperCase().charCodeAt(0);
      if (c >= 0x40 && c <= 0x5f) d = String.fromCharCode(c & 0x1f);
      this.setCtrl(false);
    }
    // Enter is CR LF on the wire: the line end every lab protocol expects,
    // and what a telnet server turns into the CR a shell wants.
    d = d.replace(/\r(?!\n)/g, '\r\n');
    if (this.localEcho) this.term.write(d);
    this.opts.onSend(encodeUtf8(d));
  }

  // A key from the on-screen key bar: 'esc', 'tab', 'up', ... or 'ctrl'.
  key(name) {
    if (name === 'ctrl') {
      this.setCtrl(!this.ctrl);
    } else {
      const k = KEYS[name];
      if (!k) return;
      const appMode = this.term.modes && this.term.modes.applicationCursorKeysMode;
      const seq = Array.isArray(k) ? k[appMode ? 1 : 0] : k;
      if (this.ctrl) this.setCtrl(false);
      this.opts.onSend(encodeUtf8(seq));
    }
    this.term.focus();
  }

  setCtrl(on) {
    this.ctrl = on;
    if (this.opts.onCtrl) this.opts.onCtrl(on);
  }

  write(bytes) {
    this.term.write(bytes);
  }

  writeText(text) {
    this.term.write(text.replace(/\n/g, '\r\n'));
  }

  focus() {
    this.term.focus();
  }

  dispose() {
    if (this.ro) this.ro.disconnect();
    this.term.dispose();
    this.unmirror();
  }
}
