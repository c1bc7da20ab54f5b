// transcript-tab.js -- a recorded session, read back from
// GET /api/sessions/ID/transcript and drawn in a conversation view from the
// exact bytes (data_b64), with links to download it as text and JSON.

import { h } from './dom.js';
import { t, reasonText } from './strings.js';
import { api } from './api.js';
import { decodeBase64, encodeUtf8 } from './bytes.js';
import { formatBytes, formatTime, targetName } from './format.js';
import { ConversationView } from './conversation.js';

const TRANSCRIPT_CAP = 4 * 1024 * 1024; // characters drawn; the rest: download

// "+1.234 s" from microseconds since the session start.
function offset(tUs) {
  const s = (Number(tUs) || 0) / 1e6;
  return '+' + s.toFixed(3) + ' s';
}

export class TranscriptPanel {
  // opts: id; onLoaded(session) to name the tab once the data is in.
  constructor(opts) {
    this.id = opts.id;
    this.opts = opts;
    this.meta = h('div', { class: 'transcript-meta' });
    this.status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
    this.conv = new ConversationView({ keep: 'head', cap: TRANSCRIPT_CAP, follow: false });
    this.element = h(
      'section',
      { class: 'transcript' },
      h(
        'div',
        { class: 'session-bar' },
        this.status,
        h(
          'div',
          { class: 'session-actions' },
          h('a', {
            class: 'button',
            href: api.transcriptUrl(this.id, 'txt'),
            download: 'portlab-session-' + this.id + '.txt',
            text: t('downloadTxt'),
          }),
          h('a', {
            class: 'button',
            href: api.transcriptUrl(this.id),
            download: 'portlab-session-' + this.id + '.json',
            text: t('downloadJson'),
          }),
          h('button', { type: 'button', text: t('reload'), onclick: () => this.load() }),
        ),
      ),
      this.meta,
      this.conv.element,
    );
  }

  async load() {
    this.status.textContent = t('transcriptLoading');
    let data;
    try {
      data = await api.transcript(this.id);
    } catch (e) {
      this.status.textContent = t('transcriptFailed', { message: e.message });
      this.element.dataset.status = 'error';
      return;
    }
    this.element.dataset.status = '';
    this.status.textContent = '';
    const s = (data && data.session) || {};
    this.showMeta(s);
    this.conv.clear();
    for (const ev of (data && data.events) || []) {
      if (ev.dir === 'note') {
        this.conv.note(ev.text || '');
      } else if (ev.dir === 'c2s' || ev.dir === 's2c') {
        const bytes =
          typeof ev.data_b64 === 'string' ? decodeBase64(ev.data_b64) : encodeUtf8(ev.text || '');
        this.conv.append(ev.dir, bytes, { title: offset(ev.t_us) });
      }
    }
    this.conv.flush();
    this.conv.log.scrollTop = 0;
    if (this.opts.onLoaded) this.opts.onLoaded(s);
  }

  showMeta(s) {
    const parts = [
      h('strong', { text: '#' + s.id + ' ' + targetName(s.host, s.port) + ' (' + s.mode + ')' }),
    ];
    if (s.user) parts.push(t('transcriptUser', { user: s.user }));
    parts.push(t('transcriptStarted', { time: formatTime(s.started_at) }));
    parts.push(s.ended_at ? t('transcriptEnded', { time: formatTime(s.ended_at) }) : t('transcriptStillOpen'));
    parts.push(t('transcriptBytes', { up: formatBytes(s.bytes_up), down: formatBytes(s.bytes_down) }));
    if (s.close_reason) parts.push(t('transcriptReason', { reason: reasonText(s.close_reason) }));
    this.meta.replaceChildren(...parts.flatMap((p, i) => (i ? [' · ', p] : [p])));
  }

  onShow() {}

  dispose() {}
}
