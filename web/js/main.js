// main.js -- wiring: sign in, then the side column (targets, sessions) and
// the tabbed work area (new-session pickers, live sessions, transcripts).
//
// Modules:
//   strings.js        every user-visible text
//   dom.js, format.js helpers (building elements, sizes, times, names)
//   api.js            REST client
//   auth.js           join form, teacher login, header, rejoin code
//   bytes.js          bytes -> visible text (marks for invisible bytes)
//   conversation.js   the red/blue "Follow TCP Stream" view
//   session.js        one relay session over the WebSocket
//   session-tab.js    the panel of a live session
//   transcript-tab.js the panel of a recorded session
//   targets.js        the target picker
//   sessions-list.js  the list of recorded sessions
//   tabs.js           the tab strip

import { strings, t } from './strings.js';
import { applyStrings } from './dom.js';
import { api, onUnauthorized } from './api.js';
import * as auth from './auth.js';
import { targetName } from './format.js';
import { TabStrip } from './tabs.js';
import { TargetPicker } from './targets.js';
import { SessionsList } from './sessions-list.js';
import { SessionPanel } from './session-tab.js';
import { TranscriptPanel } from './transcript-tab.js';

const $ = (id) => document.getElementById(id);
const LARGE_KEY = 'portlab.largeText';

// The state of the signed-in app; null while signed out.
let app = null;

function initPage() {
  document.documentElement.lang = strings.lang;
  document.title = strings.productName;
  applyStrings(document);
  initLargeText();
  auth.initCredsToggle();
  auth.initJoinForms((me, rejoinCode) => {
    startApp(me);
    if (rejoinCode) auth.showRejoinCode(rejoinCode);
  });
  onUnauthorized(() => {
    if (app) signOut(t('sessionExpired'));
  });
}

function initLargeText() {
  const btn = $('large-toggle');
  const root = document.documentElement;
  const set = (on) => {
    root.classList.toggle('large', on);
    btn.setAttribute('aria-pressed', on ? 'true' : 'false');
  };
  let saved = false;
  try {
    saved = localStorage.getItem(LARGE_KEY) === '1';
  } catch (e) {
    saved = false;
  }
  set(saved);
  btn.addEventListener('click', () => {
    const on = !root.classList.contains('large');
    set(on);
    try {
      localStorage.setItem(LARGE_KEY, on ? '1' : '0');
    } catch (e) {
      // Private mode: the choice lasts for this page only.
    }
  });
}

async function boot() {
  try {
    const me = await api.me();
    $('loading').hidden = true;
    startApp({ user: me.user, lab: me.lab || null });
  } catch (e) {
    $('loading').hidden = true;
    if (e.status !== 401) auth.showGlobalError(e.message);
    auth.showJoin();
  }
}

function startApp(me) {
  if (app) stopApp();
  auth.showGlobalError('');
  auth.hideJoin();
  auth.showHeader(me, () => signOut(''));
  const teacher = me.user.role === 'teacher';

  const side = $('side');
  const targetsBox = $('targets');
  const main = $('main');

  app = {
    me,
    targets: null,
    pickers: new Set(),
    tabs: new TabStrip({ label: t('tabsLabel'), onNew: () => openNewTab() }),
    sessions: new SessionsList({ teacher, onOpen: (s) => openTranscript(s.id, s) }),
    sidePicker: null,
  };
  app.sidePicker = new TargetPicker({ onPick: (target) => openSession(target) });
  targetsBox.append(app.sidePicker.element);
  side.append(app.sessions.element);
  main.append(app.tabs.element);
  $('app-view').hidden = false;

  openNewTab();
  loadTargets();
  app.sessions.refresh();
}

function stopApp() {
  if (!app) return;
  app.tabs.closeAll();
  app.sidePicker.element.remove();
  app.sessions.element.remove();
  app.tabs.element.remove();
  app = null;
  $('app-view').hidden = true;
}

function signOut(notice) {
  stopApp();
  auth.hideHeader();
  auth.showJoin(notice);
}

async function loadTargets() {
  const current = app;
  let targets;
  try {
    targets = await api.targets();
  } catch (e) {
    targets = e;
  }
  if (app !== current) return;
  app.targets = targets;
  app.sidePicker.setTargets(targets);
  for (const p of app.pickers) p.setTargets(targets);
}

// A "new session" tab with a target picker; choosing a target turns the
// tab into a live session.
function openNewTab() {
  const picker = new TargetPicker({
    heading: t('newSessionTitle'),
    intro: t('newSessionIntro'),
    onPick: (target) => openSession(target),
  });
  if (app.targets) picker.setTargets(app.targets);
  app.pickers.add(picker);
  const tab = app.tabs.add({
    kind: 'new',
    label: t('newSessionTitle'),
    panel: picker.element,
    onClose: () => app && app.pickers.delete(picker),
  });
  tab.picker = picker;
  app.tabs.select(tab);
  return tab;
}

function openSession(target) {
  const previous = app.tabs.active;
  let tab = null;
  const panel = new SessionPanel({
    target,
    onStatus: (word) => tab && tab.setStatus(word),
    onOpened: () => app && app.sessions.refresh(),
    onClosed: () => app && app.sessions.refresh(),
    onViewTranscript: (id) => openTranscript(id, target),
  });
  tab = app.tabs.add({
    kind: 'live',
    label: panel.title(),
    panel: panel.element,
    onShow: () => panel.onShow(),
    beforeClose: () => !panel.isLive || window.confirm(t('confirmCloseLive')),
    onClose: () => panel.dispose(),
  });
  tab.sessionPanel = panel;
  app.tabs.select(tab);
  // A picker tab that was used to choose this target has done its job.
  if (previous && previous.kind === 'new') previous.close();
  panel.start();
  panel.input.focus();
}

function openTranscript(id, summary) {
  const existing = app.tabs.find((tab) => tab.kind === 'transcript' && tab.transcriptId === id);
  if (existing) {
    app.tabs.select(existing, true);
    existing.transcriptPanel.load();
    return;
  }
  let tab = null;
  const label = (s) =>
    s && s.host ? t('transcriptTabLabel', { id, target: targetName(s.host, s.port) }) : '#' + id;
  const panel = new TranscriptPanel({ id, onLoaded: (s) => tab && tab.setLabel(label(s)) });
  tab = app.tabs.add({
    kind: 'transcript',
    label: label(summary),
    panel: panel.element,
    onShow: () => panel.onShow(),
    onClose: () => panel.dispose(),
  });
  tab.transcriptId = id;
  tab.transcriptPanel = panel;
  tab.setStatus('transcript');
  app.tabs.select(tab, true);
  panel.load();
}

initPage();
boot();
