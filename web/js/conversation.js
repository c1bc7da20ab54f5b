// conversation.js -- the "Follow TCP Stream" view: client bytes red, server
// bytes blue, notes grey.
//
// Consecutive bytes of one direction form one segment, drawn as an inline
// span per line (so a telnet server echoing characters reads as one line, as
// in Wireshark); each line is a block of its own. Incoming chunks are queued
// and drawn once per animation frame, as text nodes only, and the number of
// characters and the number of lines shown are capped (a script's million
// empty lines are as heavy as megabytes of text): a live view drops the
// oldest output ("keep: 'tail'"), a transcript stops drawing and points to
// the download ("keep: 'head'").
//
// Beside each completed line an Annotator (annotate.js) may add a short
// note (reply codes, hints). A hex view shows the same bytes as a dump;
// switching redraws from the chunks kept in this.history.

import { h } from './dom.js';
import { ByteRenderer, MARK, BREAK, CMD } from './bytes.js';
import { t } from './strings.js';
import { Annotator } from './annotate.js';

const DEFAULT_CAP = 2 * 1024 * 1024; // characters shown
const DEFAULT_LINE_CAP = 20000; // lines (and notes, hex rows) shown
const FLUSH_NOW_BYTES = 256 * 1024; // draw at once when this much is queued
const STICK_SLACK_PX = 24; // "at the bottom" within this distance
const HISTORY_BYTES = 4 * 1024 * 1024; // bytes kept for redrawing (hex toggle)
const HEX_ROW = 16;
const MARK_LABELS = { '\u240d': 'CR', '\u240a': 'LF', '\u2400': 'NUL' };

// "␍␊" -> "CR LF"; other characters stay as they are.
function markLabel(s) {
  return Array.from(s, (ch) => MARK_LABELS[ch] || ch).join(' ');
}

export class ConversationView {
  // opts: cap (characters), lineCap (lines), keep ('tail' | 'head'), label (accessible name),
  // follow (default true: stay at the end as output arrives), protocol
  // (annotate.js name, '' for none), telnet (decode IAC sequences), host,
  // onOpenTarget({host, port, mode}) for "open the data port" buttons.
  constructor(opts = {}) {
    this.cap = opts.cap || DEFAULT_CAP;
    this.lineCap = opts.lineCap || DEFAULT_LINE_CAP;
    this.follow = opts.follow !== false;
    this.keep = opts.keep || 'tail';
    this.opts = { ...opts };
    this.baseOpts = { ...opts };
    this.hex = false;
    this.history = [];
    this.historyBytes = 0;
    this.historyTrimmed = false;
    this.resetDrawing();
    this.queue = [];
    this.queuedBytes = 0;
    this.frame = 0;
    this.size = 0; // characters in the DOM
    this.lines = 0; // children of the log, the trim note aside
    this.sizes = new WeakMap(); // element -> characters in it
    this.curDir = null;
    this.curLine = null; // the line being written
    this.curSeg = null; // the segment being written, inside curLine
    this.curTitle = null;
    this.trimNote = null;
    this.full = false; // 'head' mode: the cap was reached
    this.stick = this.follow;
    this.autoTop = 0; // where scrollToEnd() last put the view
    this.endFrame = 0;

    this.hexBtn = h('button', {
      type: 'button',
      class: 'small',
      'aria-pressed': 'false',
      text: t('hexView'),
      onclick: () => this.setHex(!this.hex),
    });
    this.copyBtn = h('button', {
      type: 'button',
      class: 'small',
      text: t('copyConversation'),
      onclick: () => this.copy(),
    });
    this.copyStatus = h('span', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.log = h('div', {
      class: 'conv',
      role: 'log',
      'aria-live': this.follow ? 'polite' : 'off',
      'aria-label': opts.label || null,
      tabindex: '0',
      onscroll: () => this.onScroll(),
    });
    this.jump = h('button', {
      type: 'button',
      class: 'conv-jump',
      hidden: true,
      text: t('jumpToEnd'),
      onclick: () => {
        this.stick = true;
        this.scrollToEnd();
        this.log.focus();
      },
    });
    this.element = h(
      'div',
      { class: 'conv-box' },
      h(
        'div',
        { class: 'conv-legend' },
        h('span', { class: 'swatch c2s', text: t('legendClient') }),
        h('span', { class: 'swatch s2c', text: t('legendServer') }),
        h('span', { class: 'swatch note', text: t('legendNote') }),
        h('span', { class: 'swatch ann', text: t('legendAnnotation') }),
        h('span', { class: 'conv-tools' }, this.copyStatus, this.hexBtn, this.copyBtn),
      ),
      this.log,
      this.jump,
    );
  }

  // Bytes in one direction ('c2s' or 's2c'). opts.mask shows characters as
  // bullets; opts.title labels a segment this chunk starts (e.g. a time).
  append(dir, bytes, opts = {}) {
    if (!bytes || bytes.length === 0) return;
    this.push({ dir, bytes, mask: !!opts.mask, title: opts.title });
    this.queuedBytes += bytes.length;
    this.schedule();
  }

  // A grey informational line of its own. kind: '' | 'local' (the local
  // prompt's own output, never on the wire) | 'warn'. link {href, text}
  // ends the line with a link.
  note(text, kind = '', link = null) {
    this.push({ dir: 'note', text: String(text), kind, link });
    this.schedule();
  }

  // The session ended: notes still owed (e.g. a body shorter than its
  // Content-Length), then the next session starts a fresh annotator.
  end() {
    this.push({ dir: 'end' });
    this.schedule();
  }

  push(it) {
    this.queue.push(it);
    this.history.push(it);
    this.historyBytes += it.bytes ? it.bytes.length : 1;
    while (this.historyBytes > HISTORY_BYTES && this.history.length > 1) {
      const old = this.history.shift();
      this.historyBytes -= old.bytes ? old.bytes.length : 1;
      this.historyTrimmed = true;
    }
  }

  resetDrawing() {
    const telnet = !!this.opts.telnet;
    this.renderers = { c2s: new ByteRenderer({ telnet }), s2c: new ByteRenderer({ telnet }) };
    this.annotator = this.opts.protocol
      ? new Annotator(this.opts.protocol, { host: this.opts.host })
      : null;
    this.hexRow = null;
    this.hexOff = { c2s: 0, s2c: 0 };
  }

  // Changes what the coming bytes are (a new session in the same view).
  // Kept in the history, so a redraw annotates each session as it was.
  configure(opts) {
    this.push({ dir: 'config', opts: { ...opts } });
    this.schedule();
  }

  clear() {
    this.queue = [];
    this.queuedBytes = 0;
    this.history = [];
    this.historyBytes = 0;
    this.historyTrimmed = false;
    this.resetDrawing();
    this.clearDom();
  }

  clearDom() {
    this.log.replaceChildren();
    this.size = 0;
    this.lines = 0;
    this.curDir = null;
    this.curLine = null;
    this.curSeg = null;
    this.trimNote = null;
    this.full = false;
    this.stick = this.follow;
    this.autoTop = 0;
    this.jump.hidden = true;
  }

  // Text or hex dump; everything kept is drawn again.
  setHex(on) {
    this.flush();
    this.hex = !!on;
    this.hexBtn.setAttribute('aria-pressed', this.hex ? 'true' : 'false');
    this.log.classList.toggle('hex', this.hex);
    this.clearDom();
    this.opts = { ...this.baseOpts };
    this.resetDrawing();
    if (this.historyTrimmed) this.drawNote(t('noteTrimmed'), 'trimmed');
    this.queue = this.history.slice();
    this.flush();
  }

  // The text of every line, one per line. Not innerText: lines scrolled
  // out of view are not laid out (content-visibility) and would be missed.
  text() {
    return Array.from(this.log.children, (el) => el.textContent).join('\n');
  }

  async copy() {
    this.flush();
    let ok = true;
    try {
      await navigator.clipboard.writeText(this.text());
    } catch (e) {
      // No Clipboard API (plain http on a LAN): select the text and copy.
      const sel = window.getSelection();
      const range = document.createRange();
      range.selectNodeContents(this.log);
      sel.removeAllRanges();
      sel.addRange(range);
      ok = document.execCommand('copy');
    }
    this.copyStatus.textContent = ok ? t('copied') : t('copyFailed');
    clearTimeout(this.copyTimer);
    this.copyTimer = setTimeout(() => (this.copyStatus.textContent = ''), 3000);
  }

  // Draws whatever is queued now (also used before reading the view).
  flush() {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    const items = this.queue;
    if (items.length === 0) return;
    this.queue = [];
    this.queuedBytes = 0;
    for (const it of items) {
      if (it.dir === 'note') this.drawNote(it.text, it.kind, it.link);
      else if (it.dir === 'end') this.drawEnd();
      else if (it.dir === 'config') {
        this.endSegment();
        this.curLine = null;
        Object.assign(this.opts, it.opts);
        this.resetDrawing();
      }
      else if (this.hex) this.drawHex(it);
      else this.drawBytes(it);
    }
    if (this.keep === 'tail' && (this.size > this.cap || this.lines > this.lineCap)) {
      this.trim(Math.floor(this.cap * 0.75), Math.floor(this.lineCap * 0.75));
    }
    if (this.stick) this.scrollToEnd();
    else if (this.follow) this.jump.hidden = false;
  }

  schedule() {
    if (this.queuedBytes >= FLUSH_NOW_BYTES) {
      this.flush();
      return;
    }
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.flush();
      });
    }
  }

  // Ends the current segment; a partial UTF-8 sequence held back in it is
  // shown as bytes.
  endSegment() {
    if (this.curDir === 'c2s' || this.curDir === 's2c') {
      const rest = this.renderers[this.curDir].flush();
      if (rest.length) this.drawPieces(rest);
    }
    this.curDir = null;
    this.curSeg = null;
  }

  // Cut after each LF, so the annotator's note for a line lands on it.
  drawBytes(it) {
    if (this.full) return;
    if (this.curDir !== it.dir) this.endSegment();
    this.curDir = it.dir;
    this.curTitle = it.title || null;
    const bytes = it.bytes;
    let start = 0;
    while (start < bytes.length) {
      const lf = bytes.indexOf(0x0a, start);
      const end = lf < 0 ? bytes.length : lf + 1;
      const sub = bytes.subarray(start, end);
      const notes = this.annotator && !it.mask ? this.annotator.feed(it.dir, sub) : null;
      this.drawPieces(this.renderers[it.dir].feed(sub, it.mask), notes);
      start = end;
    }
  }

  drawEnd() {
    this.endSegment();
    this.curLine = null;
    if (this.annotator && !this.hex) {
      for (const n of this.annotator.end()) this.drawNote(n.text, 'ann ' + n.level);
    }
  }

  // An annotation at the end of a line (a span, so copying keeps it on
  // the line it explains).
  annotate(ln, notes) {
    for (const n of notes) {
      const el = h('span', { class: 'ann ' + (n.level || 'info'), text: n.text });
      ln.append(el);
      if (n.open && this.opts.onOpenTarget) {
        const target = n.open;
        ln.append(
          h('button', {
            type: 'button',
            class: 'small ann-open',
            dataset: { target: target.host + ':' + target.port },
            text: t('openDataPort', { host: target.host, port: target.port }),
            onclick: () => this.opts.onOpenTarget(target),
          }),
        );
      }
      this.sizes.set(ln, this.sizes.get(ln) + n.text.length);
      this.size += n.text.length;
    }
  }

  // Hex dump rows: offset per direction, 16 bytes, then the printable
  // characters; a row of one direction is filled until it holds 16 bytes.
  drawHex(it) {
    if (this.full) return;
    this.endSegment();
    let i = 0;
    while (i < it.bytes.length) {
      let row = this.hexRow;
      if (!row || row.dir !== it.dir || row.bytes.length >= HEX_ROW) {
        const seg = h('span', { class: 'seg ' + it.dir });
        if (it.title) seg.title = it.title;
        const el = h('div', { class: 'ln hexrow' }, seg);
        this.sizes.set(el, 0);
        this.log.append(el);
        this.lines += 1;
        row = { dir: it.dir, el, seg, bytes: [], masked: [], off: this.hexOff[it.dir] };
        this.hexRow = row;
      }
      while (i < it.bytes.length && row.bytes.length < HEX_ROW) {
        row.bytes.push(it.bytes[i]);
        row.masked.push(it.mask);
        i++;
        this.hexOff[it.dir]++;
      }
      const hexes = row.bytes.map((b, k) => (row.masked[k] ? '••' : (b < 16 ? '0' : '') + b.toString(16)));
      const chars = row.bytes
        .map((b, k) => (row.masked[k] ? '•' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'))
        .join('');
      const pad = '   '.repeat(HEX_ROW - row.bytes.length);
      const text =
        row.off.toString(16).padStart(8, '0') + '  ' + hexes.join(' ') + pad + '  ' + chars;
      const before = this.sizes.get(row.el);
      row.seg.textContent = text;
      this.sizes.set(row.el, text.length);
      this.size += text.length - before;
      if (this.capped()) break;
    }
    this.curLine = null;
  }

  // 'head' mode: once a cap is reached, nothing more is drawn but a pointer
  // to the download. True when full.
  capped() {
    if (this.keep !== 'head' || this.full) return this.full;
    if (this.size < this.cap && this.lines < this.lineCap) return false;
    this.full = true;
    this.curLine = null;
    this.curSeg = null;
    this.hexRow = null;
    this.log.append(h('div', { class: 'note', text: t('noteTooLong') }));
    return true;
  }

  // Lines are blocks of their own: one paragraph of megabytes would make
  // the browser lay out all of it again on every append.
  line() {
    if (!this.curLine) {
      this.curLine = document.createElement('div');
      this.curLine.className = 'ln';
      this.sizes.set(this.curLine, 0);
      this.log.append(this.curLine);
      this.lines += 1;
    }
    return this.curLine;
  }

  // notes: annotations for the line these pieces complete (or continue).
  drawPieces(pieces, notes) {
    for (const [kind, s] of pieces) {
      if (this.full) return;
      if (kind === BREAK) {
        if (notes && notes.length && this.curLine) {
          this.annotate(this.curLine, notes);
          notes = null;
        }
        this.curLine = null;
        this.curSeg = null;
        continue;
      }
      const ln = this.line();
      if (!this.curSeg || this.curSeg.parentNode !== ln) {
        this.curSeg = document.createElement('span');
        this.curSeg.className = 'seg ' + this.curDir;
        if (this.curTitle) this.curSeg.title = this.curTitle;
        ln.append(this.curSeg);
      }
      if (kind === MARK || kind === CMD) {
        const mk = document.createElement('span');
        mk.className = kind === CMD ? 'mk cmd' : 'mk';
        mk.textContent = s;
        // Many fonts (DejaVu on Debian) lack the Control Pictures ␍ ␊ ␀:
        // the stylesheet draws this ASCII label instead; copying still
        // gives the marks.
        if (kind === MARK && /[\u2400-\u2426]/.test(s)) mk.dataset.label = markLabel(s);
        this.curSeg.append(mk);
      } else {
        this.curSeg.append(document.createTextNode(s));
      }
      this.sizes.set(ln, this.sizes.get(ln) + s.length);
      this.size += s.length;
      this.capped();
    }
    if (notes && notes.length && !this.full) this.annotate(this.line(), notes);
  }

  drawNote(text, kind, link = null) {
    this.endSegment();
    this.curLine = null;
    this.hexRow = null;
    if (this.full) return;
    const el = h('div', { class: 'note' + (kind ? ' ' + kind : ''), text });
    if (link) el.append(' ', h('a', { href: link.href, text: link.text }));
    const size = el.textContent.length;
    this.sizes.set(el, size);
    this.size += size;
    this.log.append(el);
    this.lines += 1;
    this.capped();
  }

  // Drops the oldest output until at most `target` characters and
  // `targetLines` lines remain: whole lines first, then nodes from the front
  // of a single overlong line.
  trim(target, targetLines) {
    let excess = this.size - target;
    while (excess > 0 || this.lines > targetLines) {
      let el = this.log.firstChild;
      if (el && el === this.trimNote) el = el.nextSibling;
      if (!el) break;
      const s = this.sizes.get(el) || 0;
      if (s > excess && this.lines <= targetLines) {
        excess -= this.trimInside(el, excess);
        continue;
      }
      el.remove();
      excess -= s;
      this.size -= s;
      this.lines -= 1;
      if (el === this.curLine) {
        this.curLine = null;
        this.curSeg = null;
      }
    }
    if (!this.trimNote) {
      this.trimNote = h('div', { class: 'note trimmed', text: t('noteTrimmed') });
    }
    if (this.log.firstChild !== this.trimNote) this.log.prepend(this.trimNote);
  }

  // Removes leading nodes of one line's segments; returns characters removed.
  trimInside(ln, excess) {
    let removed = 0;
    while (removed < excess && ln.firstChild) {
      const seg = ln.firstChild;
      if (!seg.firstChild) {
        seg.remove();
        continue;
      }
      const node = seg.firstChild;
      const n = node.textContent.length;
      node.remove();
      removed += n;
    }
    this.sizes.set(ln, this.sizes.get(ln) - removed);
    this.size -= removed;
    if (!ln.firstChild && ln === this.curLine) this.curSeg = null;
    return removed || excess; // never loop forever on an empty line
  }

  atBottom() {
    const el = this.log;
    return el.scrollTop + el.clientHeight >= el.scrollHeight - STICK_SLACK_PX;
  }

  // Only the reader scrolling up stops the view following the output. A
  // scroll event arrives a frame late: by then more lines (or a late font)
  // may have made the log taller, and the position we scrolled to is no
  // longer the bottom, although nobody moved it.
  onScroll() {
    if (!this.follow) return;
    const el = this.log;
    if (this.stick && el.scrollTop >= this.autoTop - 1) return;
    this.stick = this.atBottom();
    if (this.stick) this.jump.hidden = true;
  }

  scrollToEnd() {
    const el = this.log;
    el.scrollTop = el.scrollHeight;
    this.autoTop = el.scrollTop;
    this.jump.hidden = true;
    // Once more after the next layout (late fonts, wrapping).
    if (!this.endFrame) {
      this.endFrame = requestAnimationFrame(() => {
        this.endFrame = 0;
        if (this.stick && !this.atBottom()) {
          el.scrollTop = el.scrollHeight;
          this.autoTop = el.scrollTop;
        }
      });
    }
  }
}
