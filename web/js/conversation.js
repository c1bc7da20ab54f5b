// conversation.js -- the "Follow TCP Stream" view: client bytes red, server
// bytes blue, notes grey.
//
// Consecutive bytes of one direction form one segment, drawn as an inline
// span per line (so a telnet server echoing characters reads as one line, as
// in Wireshark); each line is a block of its own. Incoming chunks are queued
// and drawn once per animation frame, as text nodes only, and the number of
// characters shown is capped: a live view
// drops the oldest output ("keep: 'tail'"), a transcript stops drawing and
// points to the download ("keep: 'head'").

import { h } from './dom.js';
import { ByteRenderer, MARK, BREAK } from './bytes.js';
import { t } from './strings.js';

const DEFAULT_CAP = 2 * 1024 * 1024; // characters shown
const FLUSH_NOW_BYTES = 256 * 1024; // draw at once when this much is queued
const STICK_SLACK_PX = 24; // "at the bottom" within this distance

export class ConversationView {
  // opts: cap (characters), keep ('tail' | 'head'), label (accessible name),
  // follow (default true: stay at the end as output arrives).
  constructor(opts = {}) {
    this.cap = opts.cap || DEFAULT_CAP;
    this.follow = opts.follow !== false;
    this.keep = opts.keep || 'tail';
    this.renderers = { c2s: new ByteRenderer(), s2c: new ByteRenderer() };
    this.queue = [];
    this.queuedBytes = 0;
    this.frame = 0;
    this.size = 0; // characters in the DOM
    this.sizes = new WeakMap(); // element -> characters in it
    this.curDir = null;
    this.curLine = null; // the line being written
    this.curSeg = null; // the segment being written, inside curLine
    this.curTitle = null;
    this.trimNote = null;
    this.full = false; // 'head' mode: the cap was reached
    this.stick = this.follow;

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
      ),
      this.log,
      this.jump,
    );
  }

  // Bytes in one direction ('c2s' or 's2c'). opts.mask shows characters as
  // bullets; opts.title labels a segment this chunk starts (e.g. a time).
  append(dir, bytes, opts = {}) {
    if (!bytes || bytes.length === 0) return;
    this.queue.push({ dir, bytes, mask: !!opts.mask, title: opts.title });
    this.queuedBytes += bytes.length;
    this.schedule();
  }

  // A grey informational line of its own.
  note(text) {
    this.queue.push({ dir: 'note', text: String(text) });
    this.schedule();
  }

  clear() {
    this.queue = [];
    this.queuedBytes = 0;
    this.renderers = { c2s: new ByteRenderer(), s2c: new ByteRenderer() };
    this.log.replaceChildren();
    this.size = 0;
    this.curDir = null;
    this.curLine = null;
    this.curSeg = null;
    this.trimNote = null;
    this.full = false;
    this.stick = this.follow;
    this.jump.hidden = true;
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
      if (it.dir === 'note') this.drawNote(it.text);
      else this.drawBytes(it);
    }
    if (this.keep === 'tail' && this.size > this.cap) this.trim(Math.floor(this.cap * 0.75));
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

  drawBytes(it) {
    if (this.full) return;
    if (this.curDir !== it.dir) this.endSegment();
    this.curDir = it.dir;
    this.curTitle = it.title || null;
    this.drawPieces(this.renderers[it.dir].feed(it.bytes, it.mask));
  }

  // Lines are blocks of their own: one paragraph of megabytes would make
  // the browser lay out all of it again on every append.
  line() {
    if (!this.curLine) {
      this.curLine = document.createElement('div');
      this.curLine.className = 'ln';
      this.sizes.set(this.curLine, 0);
      this.log.append(this.curLine);
    }
    return this.curLine;
  }

  drawPieces(pieces) {
    for (const [kind, s] of pieces) {
      if (this.full) return;
      if (kind === BREAK) {
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
      if (kind === MARK) {
        const mk = document.createElement('span');
        mk.className = 'mk';
        mk.textContent = s;
        this.curSeg.append(mk);
      } else {
        this.curSeg.append(document.createTextNode(s));
      }
      this.sizes.set(ln, this.sizes.get(ln) + s.length);
      this.size += s.length;
      if (this.keep === 'head' && this.size >= this.cap) {
        this.full = true;
        this.curLine = null;
        this.curSeg = null;
        this.log.append(h('div', { class: 'note', text: t('noteTooLong') }));
      }
    }
  }

  drawNote(text) {
    this.endSegment();
    this.curLine = null;
    if (this.full) return;
    const el = h('div', { class: 'note', text });
    this.sizes.set(el, text.length);
    this.size += text.length;
    this.log.append(el);
  }

  // Drops the oldest output until at most `target` characters remain: whole
  // lines first, then nodes from the front of a single overlong line.
  trim(target) {
    let excess = this.size - target;
    while (excess > 0) {
      let el = this.log.firstChild;
      if (el && el === this.trimNote) el = el.nextSibling;
      if (!el) break;
      const s = this.sizes.get(el) || 0;
      if (s > excess) {
        excess -= this.trimInside(el, excess);
        continue;
      }
      el.remove();
      excess -= s;
      this.size -= s;
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

  onScroll() {
    if (!this.follow) return;
    this.stick = this.atBottom();
    if (this.stick) this.jump.hidden = true;
  }

  scrollToEnd() {
    this.log.scrollTop = this.log.scrollHeight;
    this.jump.hidden = true;
  }
}
