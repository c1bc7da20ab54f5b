// transcript-tab.js -- a recorded session, read back from
// GET /api/sessions/ID/transcript and drawn in a conversation view from the
// exact bytes (data_b64), with a replay at the real timing (speed, pause,
// step), a marker for each client command, and the exports (text, JSON,
// asciicast, pcap).

import { h, uid } from './dom.js';
import { t, reasonText } from './strings.js';
import { api } from './api.js';
import { decodeBase64, encodeUtf8, showFormatChars, stripTelnet } from './bytes.js';
import { formatBytes, formatTime, targetName } from './format.js';
import { ConversationView } from './conversation.js';
import { protocolForPort } from './annotate.js';
import { hashFor } from './router.js';

const TRANSCRIPT_CAP = 4 * 1024 * 1024; // characters drawn; the rest: download
const MAX_GAP_MS = 5000; // a longer idle gap is cut to this (before speed)
const SPEEDS = [0.5, 1, 2, 5, 10];
const MARKER_TEXT_MAX = 60;
const MARKERS_MAX = 1000; // commands listed; a longer session's are in the text export

// "+1.234 s" from microseconds since the session start.
function offset(tUs) {
  const s = (Number(tUs) || 0) / 1e6;
  return '+' + s.toFixed(3) + ' s';
}

function eventBytes(ev) {
  return typeof ev.data_b64 === 'string' ? decodeBase64(ev.data_b64) : encodeUtf8(ev.text || '');
}

// Client commands: one marker per line the client completed, at the event
// that completed it (typed a key at a time, or pasted in one go). telnet:
// the bytes hold option negotiation, which is no command.
export function commandMarkers(events, telnet = false) {
  const markers = [];
  let line = '';
  let start = -1;
  const dec = new TextDecoder('utf-8', { fatal: false });
  events.forEach((ev, i) => {
    if (ev.dir !== 'c2s') return;
    let bytes = eventBytes(ev);
    if (telnet) bytes = stripTelnet(bytes);
    const text = dec.decode(bytes).replace(/\ufffd/g, '');
    for (const ch of text) {
      if (start < 0) start = i;
      if (ch === '\n') {
        const label = showFormatChars(line.replace(/\r$/, '').replace(/[\x00-\x1f\x7f]/g, ''));
        markers.push({ index: i, start, t_us: events[start].t_us, text: label });
        line = '';
        start = -1;
      } else {
        line += ch;
      }
    }
  });
  if (start >= 0 && line.replace(/[\x00-\x1f\x7f]/g, '')) {
    markers.push({ index: events.length - 1, start, t_us: events[start].t_us, text: showFormatChars(line) });
  }
  return markers;
}

// A recorded note as the page words it: the session's end ("closed: CODE")
// reads as it did live, and as the text export writes it.
export function noteText(text) {
  const m = /^closed: ([a-z_]+)$/.exec(text);
  return m ? t('noteClosed', { reason: reasonText(m[1]) }) : text;
}

// The events of one layer of a transcript. plain: what the student sent
// and read (every event but the TLS records). wire: what crossed the
// network: the plaintext until the first TLS record (a STARTTLS session's
// cleartext part), then only the records; notes in both.
export function layerEvents(events, layer) {
  if (layer !== 'wire') return events.filter((ev) => ev.layer !== 'wire');
  const first = events.findIndex((ev) => ev.layer === 'wire');
  if (first < 0) return events;
  return events.filter((ev, i) => ev.dir === 'note' || (i < first ? true : ev.layer === 'wire'));
}

export class TranscriptPanel {
  // opts: id; onLoaded(session) to name the tab once the data is in;
  // page (bool): shown as a page of its own (a link back instead of none).
  constructor(opts) {
    this.id = opts.id;
    this.opts = opts;
    this.events = [];
    this.pos = 0;
    this.playing = false;
    this.timer = 0;
    this.speed = 1;
    this.meta = h('div', { class: 'transcript-meta' });
    this.status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
    this.conv = new ConversationView({ keep: 'head', cap: TRANSCRIPT_CAP, follow: false });

    const fmt = (format, key, ext) =>
      h('a', {
        class: 'button small',
        href: api.transcriptUrl(this.id, format),
        download: 'portlab-session-' + this.id + '.' + ext,
        dataset: { format },
        text: t(key),
      });
    this.exports = h(
      'div',
      { class: 'exports', role: 'group', 'aria-label': t('exportsLabel') },
      h('span', { class: 'exports-title', text: t('exportsLabel') }),
      fmt('txt', 'downloadTxt', 'txt'),
      fmt('json', 'downloadJson', 'json'),
      fmt('cast', 'downloadCast', 'cast'),
      fmt('pcap', 'downloadPcap', 'pcap'),
    );
    // A TLS session: its keys for Wireshark (the teacher may turn this
    // off; the server then answers 403), and the two views of it.
    this.keylogLink = fmt('keylog', 'keylogDownload', 'keys');
    this.keylogLink.hidden = true;
    this.exports.append(this.keylogLink);
    this.layer = 'plain';
    const viewBtn = (layer, key) =>
      h('button', {
        type: 'button',
        'aria-pressed': layer === 'plain' ? 'true' : 'false',
        dataset: { layer },
        title: layer === 'wire' ? t('viewWireHelp') : '',
        text: t(key),
        onclick: () => this.setLayer(layer),
      });
    this.layerBtns = [viewBtn('plain', 'viewPlain'), viewBtn('wire', 'viewWire')];
    this.layerSwitch = h('div', { class: 'layer-switch', role: 'group', hidden: true }, ...this.layerBtns);

    const speedId = uid('speed');
    this.playBtn = h('button', {
      type: 'button',
      class: 'primary',
      text: t('replayPlay'),
      onclick: () => (this.playing ? this.pause() : this.play()),
    });
    this.stepBtn = h('button', { type: 'button', text: t('replayStep'), onclick: () => this.step() });
    this.allBtn = h('button', { type: 'button', text: t('replayAll'), onclick: () => this.showAll() });
    this.speedSel = h(
      'select',
      { id: speedId, onchange: () => this.setSpeed(Number(this.speedSel.value)) },
      SPEEDS.map((s) => h('option', { value: String(s), selected: s === 1, text: t('speedX', { n: s }) })),
    );
    this.clock = h('span', { class: 'replay-clock', 'aria-live': 'off' });
    this.replay = h(
      'div',
      { class: 'replay', role: 'group', 'aria-label': t('replayLabel') },
      this.playBtn,
      this.stepBtn,
      this.allBtn,
      h('label', { for: speedId, text: t('speedLabel') }),
      this.speedSel,
      this.clock,
    );
    this.markerList = h('ol', { class: 'markers' });
    this.markers = h(
      'nav',
      { class: 'markers-box', 'aria-label': t('markersLabel') },
      h('h3', { text: t('markersLabel') }),
      h('p', { class: 'hint', text: t('markersHint') }),
      this.markerList,
    );

    this.element = h(
      'section',
      { class: 'transcript' + (opts.page ? ' transcript-page' : '') },
      h(
        'div',
        { class: 'session-bar' },
        this.status,
        h(
          'div',
          { class: 'session-actions' },
          opts.page ? null : h('a', { class: 'button small', href: '#/transcript/' + this.id, text: t('transcriptPageLink') }),
          h('button', { type: 'button', class: 'small', text: t('reload'), onclick: () => this.load() }),
        ),
      ),
      this.meta,
      this.exports,
      this.layerSwitch,
      this.replay,
      (this.body = h('div', { class: 'transcript-body' }, this.conv.element, this.markers)),
    );
  }

  async load() {
    this.pause();
    this.status.textContent = t('transcriptLoading');
    let data;
    try {
      data = await api.transcript(this.id);
    } catch (e) {
      // One clear error state: no replay, exports or empty pane for a
      // transcript that is not there.
      this.status.textContent =
        e.status === 404
          ? t('transcriptNotFound', { id: this.id })
          : t('transcriptFailed', { message: e.message });
      this.element.dataset.status = 'error';
      this.element.dataset.state = e.status === 404 ? 'not-found' : 'error';
      this.setLoadedParts(false);
      return;
    }
    this.element.dataset.status = '';
    this.element.dataset.state = '';
    this.setLoadedParts(true);
    this.status.textContent = '';
    const s = (data && data.session) || {};
    this.session = s;
    this.allEvents = ((data && data.events) || []).filter((ev) => ev && ev.dir);
    this.events = layerEvents(this.allEvents, this.layer);
    this.showMeta(s);
    this.keylogLink.hidden = !s.tls;
    this.layerSwitch.hidden = !s.tls;
    const telnet = s.mode === 'telnet' || Number(s.port) === 23;
    this.plainOpts = { protocol: telnet ? '' : protocolForPort(s.port), telnet, host: s.host };
    this.convOpts = this.layer === 'wire' ? { protocol: '', telnet: false, host: s.host } : this.plainOpts;
    this.renderMarkers(telnet);
    this.showAll();
    this.conv.log.scrollTop = 0;
    if (this.opts.onLoaded) this.opts.onLoaded(s);
  }

  // "What you sent and read" (plain) or "what an eavesdropper saw" (wire).
  setLayer(layer) {
    if (layer === this.layer || !this.allEvents) return;
    this.layer = layer;
    for (const b of this.layerBtns) b.setAttribute('aria-pressed', b.dataset.layer === layer ? 'true' : 'false');
    this.events = layerEvents(this.allEvents, layer);
    this.convOpts = layer === 'wire' ? { protocol: '', telnet: false, host: this.session.host } : this.plainOpts;
    this.renderMarkers(this.convOpts.telnet);
    // Records are no commands: the markers belong to the plaintext view.
    if (layer === 'wire') this.markers.hidden = true;
    this.showAll();
  }

  // The parts that only make sense for a transcript that loaded.
  setLoadedParts(on) {
    for (const el of [this.meta, this.exports, this.replay, this.body]) el.hidden = !on;
    if (!on) this.layerSwitch.hidden = true;
  }

  renderMarkers(telnet) {
    this.markerData = commandMarkers(this.events, telnet);
    // A script can send a million short lines: the list stops at
    // MARKERS_MAX (one node each, not one argument each: no spread).
    const more = this.markerData.length - MARKERS_MAX;
    this.markerList.replaceChildren();
    this.markerList.append(
      ...this.markerData.slice(0, MARKERS_MAX).map((m, k) => {
        const text = m.text.length > MARKER_TEXT_MAX ? m.text.slice(0, MARKER_TEXT_MAX) + '…' : m.text;
        return h(
          'li',
          null,
          h(
            'button',
            {
              type: 'button',
              class: 'marker',
              dataset: { index: String(m.index), n: String(k) },
              onclick: () => this.jumpTo(m.index),
            },
            h('span', { class: 'marker-time', text: offset(m.t_us) }),
            h('code', { class: 'marker-text', text: text || t('markerEmptyLine') }),
          ),
        );
      }),
    );
    if (more > 0) this.markerList.append(h('li', { class: 'markers-more hint', text: t('markersMore', { n: more }) }));
    this.markers.hidden = this.markerData.length === 0;
  }

  reset() {
    this.conv.clear();
    this.conv.configure(this.convOpts || {});
    this.pos = 0;
  }

  drawEvent(ev) {
    if (ev.dir === 'note') this.conv.note(noteText(ev.text || ''));
    else if (ev.dir === 'c2s' || ev.dir === 's2c') {
      this.conv.append(ev.dir, eventBytes(ev), { title: offset(ev.t_us) });
    }
  }

  // Draws events up to (not including) index `end`.
  drawUntil(end) {
    while (this.pos < end && this.pos < this.events.length) {
      this.drawEvent(this.events[this.pos]);
      this.pos += 1;
    }
    if (this.pos >= this.events.length && this.events.length) this.conv.end();
    this.conv.flush();
    this.updateClock();
  }

  showAll() {
    this.pause();
    this.reset();
    this.drawUntil(this.events.length);
  }

  jumpTo(index) {
    this.pause();
    this.reset();
    this.drawUntil(index + 1);
    this.conv.scrollToEnd();
    this.highlightMarker();
  }

  step() {
    this.pause();
    if (this.pos >= this.events.length) this.reset();
    this.drawUntil(this.pos + 1);
    this.conv.scrollToEnd();
    this.highlightMarker();
  }

  play() {
    if (!this.events.length) return;
    if (this.pos >= this.events.length) this.reset();
    this.playing = true;
    this.playBtn.textContent = t('replayPause');
    this.playBtn.setAttribute('aria-pressed', 'true');
    this.element.dataset.playing = 'true';
    this.scheduleNext();
  }

  pause() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (!this.playing) return;
    this.playing = false;
    this.playBtn.textContent = t('replayPlay');
    this.playBtn.setAttribute('aria-pressed', 'false');
    this.element.dataset.playing = 'false';
  }

  setSpeed(s) {
    this.speed = SPEEDS.includes(s) ? s : 1;
    if (this.playing) {
      clearTimeout(this.timer);
      this.scheduleNext();
    }
  }

  scheduleNext() {
    if (!this.playing) return;
    if (this.pos >= this.events.length) {
      this.pause();
      return;
    }
    const prev = this.pos > 0 ? this.events[this.pos - 1].t_us : 0;
    const gapMs = Math.min(Math.max(0, (this.events[this.pos].t_us - prev) / 1000), MAX_GAP_MS);
    this.timer = setTimeout(() => {
      this.drawUntil(this.pos + 1);
      this.conv.scrollToEnd();
      this.highlightMarker();
      this.scheduleNext();
    }, gapMs / this.speed);
  }

  updateClock() {
    const last = this.events.length ? this.events[this.events.length - 1].t_us : 0;
    const now = this.pos > 0 ? this.events[this.pos - 1].t_us : 0;
    this.clock.textContent = t('replayClock', {
      now: ((now || 0) / 1e6).toFixed(1),
      total: ((last || 0) / 1e6).toFixed(1),
      n: this.pos,
      count: this.events.length,
    });
  }

  highlightMarker() {
    for (const b of this.markerList.querySelectorAll('.marker')) {
      const idx = Number(b.dataset.index);
      b.classList.toggle('done', idx < this.pos);
      if (idx === this.pos - 1) b.setAttribute('aria-current', 'step');
      else b.removeAttribute('aria-current');
    }
  }

  showMeta(s) {
    const parts = [
      h('strong', { text: '#' + s.id + ' ' + targetName(s.host, s.port) + ' (' + s.mode + ')' }),
    ];
    // An own FTP client's data connection: what it carried, and its
    // control session.
    if (s.parent_id) {
      parts.push(t('ftpDataTab', { what: s.label || targetName(s.host, s.port) }));
      parts.push(
        h(
          'span',
          null,
          t('transcriptDataOf'),
          ' ',
          h('a', {
            href: hashFor('transcript', String(s.parent_id)),
            text: t('transcriptLink', { id: s.parent_id }),
          }),
        ),
      );
    }
    if (s.user) parts.push(t('transcriptUser', { user: s.user }));
    parts.push(t('transcriptStarted', { time: formatTime(s.started_at) }));
    parts.push(
      s.ended_at ? t('transcriptEnded', { time: formatTime(s.ended_at) }) : t('transcriptStillOpen'),
    );
    // A session still open has its counters written at its end: count
    // what is recorded so far instead of showing 0 B.
    let up = s.bytes_up;
    let down = s.bytes_down;
    if (!s.ended_at) {
      up = down = 0;
      for (const ev of this.events) {
        const n = ev.data_b64 ? decodeBase64(ev.data_b64).length : 0;
        if (ev.dir === 'c2s') up += n;
        else if (ev.dir === 's2c') down += n;
      }
    }
    parts.push(t('transcriptBytes', { up: formatBytes(up), down: formatBytes(down) }));
    if (s.close_reason) parts.push(t('transcriptReason', { reason: reasonText(s.close_reason) }));
    this.meta.replaceChildren(...parts.flatMap((p, i) => (i ? [' · ', p] : [p])));
  }

  onShow() {}

  dispose() {
    this.pause();
  }
}
