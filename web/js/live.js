// live.js -- the teacher's live class view, and the students' broadcast banner.
//
// LiveView: a grid of small read-only terminals, one per open session,
// fed by a teacher WebSocket on /ws that sent {"type":"watch","scope":"class"}
// (docs/protocol.md, "Watching"). The server pushes:
//   {"type":"session","session":{id,user,host,port,started_at,bytes_up,
//     bytes_down,state,last_activity_at,...}}      opens, counters, ends
//   {"type":"event","session_id","seq","t_us","dir","data_b64"}
//   {"type":"gap","session_id","from_seq","to_seq"} the watcher fell behind
// A gap is filled from the transcript API in its place, and a tile of a
// session already under way starts with what the transcript holds so far,
// but only for a session of at most FETCH_MAX_BYTES and one request per
// view at a time: the API sends a transcript whole, and a script's flood of
// megabytes would otherwise have the teacher's page fetch them again at
// every gap (the transcript link has the rest). Clicking a tile
// follows it full size on a second watcher ({"type":"watch","session_id"}),
// which first replays the session from its start; "Spotlight" shows the
// followed session alone, in large type, for a projector.
//
// The teacher also broadcasts from here ({"type":"broadcast","text"}).
//
// BroadcastBanner: on a student's page, one WebSocket that sent
// {"type":"listen"} shows each {"type":"broadcast"} at once in a banner.

import { h } from './dom.js';
import { t } from './strings.js';
import { api, wsUrl } from './api.js';
import { ByteRenderer, decodeBase64, MARK, BREAK, CMD } from './bytes.js';
import { formatBytes, targetName } from './format.js';
import { SUBPROTOCOL } from './session.js';

const TYPING_MS = 5000; // a byte from the student this recent: "typing now"
const ENDED_KEEP_MS = 8000; // an ended session's tile stays this long
const TILE_PIECES = 600; // pieces kept in a small tile (older ones go)
const FOLLOW_PIECES = 20000; // pieces kept in the followed view
const FETCH_MAX_BYTES = 256 * 1024; // a larger session is not fetched for a view
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 8000;

// A watcher WebSocket that reconnects with backoff until stopped.
class Watcher {
  constructor(first, onMessage, onState) {
    this.first = first;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.ws = null;
    this.stopped = false;
    this.delay = RECONNECT_MIN_MS;
    this.timer = 0;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    let ws;
    try {
      // A listener says so in its upgrade, so the server counts it in the
      // listeners' share of --ws-per-addr (docs/protocol.md): a class
      // behind one address whose sessions fill theirs still hears the teacher.
      ws = new WebSocket(wsUrl(this.first.type === 'listen' ? 'ws?listen=1' : 'ws'), SUBPROTOCOL);
    } catch (e) {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.delay = RECONNECT_MIN_MS;
      ws.send(JSON.stringify(this.first));
      this.onState('open');
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onState('closed');
      this.retry();
    };
  }

  retry() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000);
    }
  }
}

// A read-only red/blue terminal: events in, text spans out.
class MiniTerm {
  constructor(maxPieces, cls) {
    this.max = maxPieces;
    this.pre = h('pre', { class: 'live-term ' + (cls || ''), 'aria-live': 'off' });
    this.renderers = {};
    this.lastSeq = 0;
    this.fetching = false; // a transcript request for this view is under way
  }

  clear() {
    this.pre.replaceChildren();
    this.renderers = {};
    this.lastSeq = 0;
  }

  renderer(dir, telnet) {
    if (!this.renderers[dir]) this.renderers[dir] = new ByteRenderer({ telnet });
    return this.renderers[dir];
  }

  // Nodes for one event: {dir, bytes or text}.
  nodes(ev, telnet) {
    const out = [];
    if (ev.dir === 'note') {
      const text = ev.text != null ? ev.text : new TextDecoder().decode(ev.bytes);
      out.push(h('span', { class: 'seg note', text: '\u2014 ' + text + '\n' }));
      return out;
    }
    for (const [kind, s] of this.renderer(ev.dir, telnet).feed(ev.bytes)) {
      if (kind === BREAK) out.push(document.createTextNode('\n'));
      else if (kind === MARK || kind === CMD) out.push(h('span', { class: 'seg mk ' + ev.dir, text: s }));
      else out.push(h('span', { class: 'seg ' + ev.dir, text: s }));
    }
    return out;
  }

  append(ev, telnet, before) {
    const stick = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    const nodes = this.nodes(ev, telnet);
    if (before) before.before(...nodes);
    else this.pre.append(...nodes);
    while (this.pre.childNodes.length > this.max) this.pre.firstChild.remove();
    if (stick) this.pre.scrollTop = this.pre.scrollHeight;
  }

  // A placeholder where missed events go once fetched.
  gapMark(from, to) {
    const mark = h('span', { class: 'seg gap', text: t('liveGap', { from, to }) + '\n' });
    this.pre.append(mark);
    return mark;
  }
}

function eventOf(msg) {
  return { seq: msg.seq, dir: msg.dir, layer: msg.layer, bytes: decodeBase64(msg.data_b64 || '') };
}

// The transcript events of session s for term, or null when s is too large
// to fetch whole or term already waits for one (see the top of the file).
async function fetchEvents(term, s) {
  if (term.fetching || !s || (Number(s.bytes_up) || 0) + (Number(s.bytes_down) || 0) > FETCH_MAX_BYTES) return null;
  term.fetching = true;
  try {
    const data = await api.transcript(s.id);
    return data.events || [];
  } catch (e) {
    return null;
  } finally {
    term.fetching = false;
  }
}

// Fetches events from..to of session s and puts them where mark is.
async function fillGap(term, s, from, to, mark, telnet) {
  const events = await fetchEvents(term, s);
  if (!events) {
    mark.textContent = t('liveGapFailed', { from, to }) + '\n';
    return;
  }
  for (const e of events) {
    if (e.seq < from || e.seq > to || e.layer === 'wire') continue;
    const ev = e.dir === 'note' ? { dir: 'note', text: e.text } : { dir: e.dir, bytes: decodeBase64(e.data_b64 || '') };
    term.append(ev, telnet, mark);
  }
  mark.remove();
}

function idleMinutes(iso) {
  const then = Date.parse(iso || '');
  if (Number.isNaN(then)) return 0;
  return Math.max(0, Math.floor((Date.now() - then) / 60000));
}

function ageText(iso) {
  const then = Date.parse(iso || '');
  if (Number.isNaN(then)) return '';
  const mins = Math.max(0, Math.floor((Date.now() - then) / 60000));
  return mins < 1 ? t('liveAgeNew') : t('liveAgeMin', { n: mins });
}

class Tile {
  constructor(view, s) {
    this.view = view;
    this.id = s.id;
    this.lastTyped = 0;
    this.term = new MiniTerm(TILE_PIECES, 'small');
    this.title = h('span', { class: 'live-user' });
    this.target = h('span', { class: 'live-target' });
    this.badge = h('span', { class: 'badge' });
    this.meta = h('span', { class: 'live-meta' });
    this.followBtn = h('button', {
      type: 'button',
      class: 'small',
      text: t('liveFollow'),
      onclick: () => view.follow(this.id),
    });
    this.element = h(
      'article',
      { class: 'live-tile', dataset: { sessionId: String(s.id) }, 'aria-label': t('liveTileLabel', { user: s.user, id: s.id }) },
      h('header', { class: 'live-tile-head' }, this.title, this.target, this.badge),
      this.term.pre,
      h(
        'footer',
        { class: 'live-tile-foot' },
        this.meta,
        this.followBtn,
        h('button', {
          type: 'button',
          class: 'small',
          text: t('liveSpotlight'),
          onclick: () => {
            view.follow(this.id);
            view.spotlight(true);
          },
        }),
        h('a', { href: '#/transcript/' + encodeURIComponent(s.id), text: t('liveTranscript') }),
      ),
    );
    this.term.pre.addEventListener('click', () => view.follow(this.id));
    this.firstLive = 0;
    this.update(s);
    // A session that was already under way: what it said so far comes
    // from the transcript, up to the first event that arrived live.
    if (s.bytes_up + s.bytes_down > 0) {
      const mark = h('span', { class: 'seg gap', text: t('loading') + '\n' });
      this.term.pre.prepend(mark);
      this.prefill(mark);
    }
  }

  async prefill(mark) {
    // Without it the live part still shows; the transcript link has the rest.
    const events = await fetchEvents(this.term, this.s);
    if (!events) {
      mark.textContent = t('liveEarlier') + '\n';
      return;
    }
    for (const e of events) {
      if (this.firstLive && e.seq >= this.firstLive) break;
      if (e.layer === 'wire') continue; // the live view shows what the student typed and read
      const ev = e.dir === 'note' ? { dir: 'note', text: e.text } : { dir: e.dir, bytes: decodeBase64(e.data_b64 || '') };
      this.term.append(ev, this.telnet, mark);
      if (!this.firstLive) this.term.lastSeq = Math.max(this.term.lastSeq, e.seq);
    }
    mark.remove();
  }

  update(s) {
    this.s = s;
    this.telnet = s.mode === 'telnet';
    this.title.textContent = s.user;
    this.target.textContent = targetName(s.host, s.port);
    this.element.classList.toggle('ended', s.state === 'ended');
    this.badges();
  }

  badges() {
    const s = this.s;
    let text;
    let cls;
    if (s.state === 'ended') {
      text = t('liveEnded');
      cls = 'ended';
    } else if (Date.now() - this.lastTyped < TYPING_MS) {
      text = t('liveTyping');
      cls = 'typing';
    } else {
      text = t('liveIdle', { n: idleMinutes(s.last_activity_at) });
      cls = 'idle';
    }
    this.badge.textContent = text;
    this.badge.className = 'badge ' + cls;
    this.meta.textContent = t('liveMeta', {
      age: ageText(s.started_at),
      up: formatBytes(s.bytes_up),
      down: formatBytes(s.bytes_down),
    });
  }

  event(msg) {
    if (msg.seq <= this.term.lastSeq) return;
    if (!this.firstLive) this.firstLive = msg.seq;
    this.term.lastSeq = msg.seq;
    if (msg.layer === 'wire') return; // TLS records: the plaintext events show the same talk
    if (msg.dir === 'c2s') {
      this.lastTyped = Date.now();
      this.badges();
    }
    this.term.append(eventOf(msg), this.telnet);
  }

  gap(msg) {
    if (!this.firstLive) this.firstLive = msg.from_seq;
    this.term.lastSeq = Math.max(this.term.lastSeq, msg.to_seq);
    const mark = this.term.gapMark(msg.from_seq, msg.to_seq);
    fillGap(this.term, this.s, msg.from_seq, msg.to_seq, mark, this.telnet);
  }
}

export class LiveView {
  constructor() {
    this.tiles = new Map();
    this.watcher = null;
    this.followed = null;
    this.clock = 0;
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.empty = h('p', { class: 'hint live-empty', text: t('liveEmpty') });
    this.grid = h('div', { class: 'live-grid' });
    this.broadcastInput = h('input', {
      type: 'text',
      id: 'broadcast-text',
      maxlength: '280',
      autocomplete: 'off',
      placeholder: t('broadcastPlaceholder'),
    });
    this.broadcastStatus = h('span', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    const form = h(
      'form',
      { class: 'broadcast-form', onsubmit: (e) => this.broadcast(e) },
      h('label', { for: 'broadcast-text', text: t('broadcastLabel') }),
      this.broadcastInput,
      h('button', { type: 'submit', class: 'small', text: t('broadcastSend') }),
      this.broadcastStatus,
    );
    // The followed session, full size.
    this.followTerm = new MiniTerm(FOLLOW_PIECES, 'large');
    this.followTitle = h('h2', { id: 'live-follow-title' });
    this.spotBtn = h('button', { type: 'button', class: 'small', 'aria-pressed': 'false', text: t('liveSpotlight'), onclick: () => this.spotlight() });
    this.followLink = h('a', { text: t('liveTranscript') });
    this.followBox = h(
      'section',
      { class: 'live-follow', hidden: true, 'aria-labelledby': 'live-follow-title' },
      h(
        'div',
        { class: 'section-head' },
        this.followTitle,
        this.spotBtn,
        this.followLink,
        h('button', { type: 'button', class: 'small', text: t('liveUnfollow'), onclick: () => this.unfollow() }),
      ),
      this.followTerm.pre,
    );
    this.onKey = (e) => {
      if (e.key === 'Escape' && this.followBox.classList.contains('spotlight')) this.spotlight(false);
    };
    this.element = h(
      'section',
      { class: 'live-view', 'aria-labelledby': 'live-title' },
      h('div', { class: 'section-head' }, h('h1', { id: 'live-title', text: t('liveTitle') })),
      form,
      this.status,
      this.followBox,
      this.empty,
      this.grid,
    );
  }

  start() {
    if (this.watcher) return;
    this.watcher = new Watcher(
      { type: 'watch', scope: 'class' },
      (m) => this.message(m),
      (state) => {
        this.status.textContent = state === 'open' ? '' : t('liveReconnecting');
        if (state === 'closed') this.clearTiles();
      },
    );
    this.watcher.start();
    this.clock = setInterval(() => {
      for (const tile of this.tiles.values()) tile.badges();
    }, 5000);
    document.addEventListener('keydown', this.onKey);
  }

  stop() {
    if (this.watcher) this.watcher.stop();
    this.watcher = null;
    clearInterval(this.clock);
    document.removeEventListener('keydown', this.onKey);
    this.unfollow();
  }

  message(m) {
    if (m.type === 'session' && m.session) {
      const s = m.session;
      let tile = this.tiles.get(s.id);
      if (!tile) {
        if (s.state === 'ended') return;
        tile = new Tile(this, s);
        this.tiles.set(s.id, tile);
        this.grid.prepend(tile.element);
      } else {
        tile.update(s);
      }
      if (s.state === 'ended') setTimeout(() => this.removeTile(s.id), ENDED_KEEP_MS);
      this.empty.hidden = this.tiles.size > 0;
    } else if (m.type === 'event') {
      const tile = this.tiles.get(m.session_id);
      if (tile) tile.event(m);
    } else if (m.type === 'gap') {
      const tile = this.tiles.get(m.session_id);
      if (tile) tile.gap(m);
    } else if (m.type === 'broadcast_sent') {
      this.broadcastStatus.textContent = t('broadcastSent', { n: m.listeners });
    } else if (m.type === 'error') {
      this.broadcastStatus.textContent = t('broadcastFailed', { message: m.message || m.code });
    }
  }

  removeTile(id) {
    const tile = this.tiles.get(id);
    if (!tile || tile.s.state !== 'ended') return;
    tile.element.remove();
    this.tiles.delete(id);
    this.empty.hidden = this.tiles.size > 0;
  }

  // After a reconnect the server sends every open session again; tiles of
  // sessions it no longer has would linger, so they all go now.
  clearTiles() {
    for (const tile of [...this.tiles.values()]) {
      tile.element.remove();
      this.tiles.delete(tile.id);
    }
    this.empty.hidden = false;
  }

  broadcast(e) {
    e.preventDefault();
    const text = this.broadcastInput.value.trim();
    if (!text) return;
    if (this.watcher && this.watcher.send({ type: 'broadcast', text })) {
      this.broadcastInput.value = '';
      this.broadcastStatus.textContent = t('broadcastSending');
    } else {
      this.broadcastStatus.textContent = t('liveReconnecting');
    }
  }

  follow(id) {
    this.unfollow();
    const tile = this.tiles.get(id);
    const telnet = tile ? tile.telnet : false;
    this.followTerm.clear();
    this.followTitle.textContent = tile ? t('liveFollowing', { user: tile.s.user, target: targetName(tile.s.host, tile.s.port) }) : String(id);
    this.followLink.setAttribute('href', '#/transcript/' + encodeURIComponent(id));
    this.followBox.hidden = false;
    this.followed = new Watcher({ type: 'watch', session_id: id }, (m) => {
      if (m.type === 'event' && m.session_id === id && m.seq > this.followTerm.lastSeq) {
        this.followTerm.lastSeq = m.seq;
        this.followTerm.append(eventOf(m), telnet);
      } else if (m.type === 'gap' && m.session_id === id) {
        this.followTerm.lastSeq = Math.max(this.followTerm.lastSeq, m.to_seq);
        const mark = this.followTerm.gapMark(m.from_seq, m.to_seq);
        fillGap(this.followTerm, tile && tile.s, m.from_seq, m.to_seq, mark, telnet);
      } else if (m.type === 'watching') {
        // A reconnect replays from the start again.
        this.followTerm.clear();
      }
    });
    this.followed.start();
    this.followBox.scrollIntoView({ block: 'nearest' });
  }

  unfollow() {
    if (this.followed) this.followed.stop();
    this.followed = null;
    this.spotlight(false);
    this.followBox.hidden = true;
  }

  spotlight(on) {
    const want = on === undefined ? !this.followBox.classList.contains('spotlight') : on;
    this.followBox.classList.toggle('spotlight', want);
    this.spotBtn.setAttribute('aria-pressed', want ? 'true' : 'false');
  }
}

// The students' side: a banner that shows the teacher's broadcasts.
export class BroadcastBanner {
  constructor() {
    this.text = h('p', { class: 'broadcast-text' });
    this.from = h('span', { class: 'broadcast-from' });
    this.element = h(
      'div',
      { class: 'broadcast-banner', role: 'alert', hidden: true },
      h('strong', { text: t('broadcastTitle') }),
      this.from,
      this.text,
      h('button', { type: 'button', class: 'small', text: t('broadcastDismiss'), onclick: () => (this.element.hidden = true) }),
    );
    this.watcher = new Watcher({ type: 'listen' }, (m) => {
      if (m.type !== 'broadcast') return;
      this.from.textContent = t('broadcastFrom', { name: m.from || '' });
      this.text.textContent = m.text || '';
      this.element.hidden = false;
    });
  }

  start() {
    this.watcher.start();
  }

  stop() {
    this.watcher.stop();
    this.element.hidden = true;
  }
}
