// main.js -- wiring: sign in, then the pages (router.js) around one
// workspace of session tabs that lives as long as the login, so sessions
// survive moving between a lesson, the free lab and the lesson list.
//
// Modules:
//   strings.js        every user-visible text
//   dom.js, format.js helpers (building elements, sizes, times, names)
//   api.js            REST client
//   router.js         the URL hash: which page, which lesson
//   auth.js           join form, teacher login, header, rejoin code
//   lessons.js        the lesson list with progress
//   lesson-page.js    one lesson beside the session tabs
//   lesson-html.js    lesson HTML -> DOM (allow-list, session buttons)
//   tasks.js          one task widget
//   progress.js       the teacher's class progress table
//   quiz.js           the port quiz: practice, review, tests, results
//   quizmode.js       while a quiz runs, port hints elsewhere are hidden
//   live.js           the teacher's live class grid; students' broadcast banner
//   bytes.js          bytes -> visible text (marks for invisible bytes)
//   annotate.js       notes beside lines, from annotations.json
//   conversation.js   the red/blue "Follow TCP Stream" view
//   session.js        one relay session over the WebSocket (with resume)
//   session-tab.js    the terminal panel: local prompt, line mode
//   localcmd.js       the local prompt's commands; send-hex parsing
//   charterm.js       character mode (xterm.js, loaded on demand)
//   keybar.js         Ctrl, Esc, Tab and arrows for phones
//   transcript-tab.js a recorded session: replay, markers, exports
//   capture.js        the lessons' canned captures (DHCP, DNS, ARP, ICMP), decoded
//   targets.js        the target picker
//   sessions-list.js  the list of recorded sessions
//   tabs.js           the tab strip

import { strings, t } from './strings.js';
import { applyStrings, h } from './dom.js';
import { api, apiUrl, onUnauthorized } from './api.js';
import * as auth from './auth.js';
import { targetName } from './format.js';
import { TabStrip } from './tabs.js';
import { TargetPicker } from './targets.js';
import { SessionsList } from './sessions-list.js';
import { SessionPanel } from './session-tab.js';
import { TranscriptPanel } from './transcript-tab.js';
import { CAPTURES, CapturePage } from './capture.js';
import { LessonsView } from './lessons.js';
import { LessonPage, parseTarget } from './lesson-page.js';
import { ProgressView } from './progress.js';
import { QuizView } from './quiz.js';
import { restoreQuizOpen } from './quizmode.js';
import { LiveView, BroadcastBanner } from './live.js';
import { loadAnnotations } from './annotate.js';
import { parseHash, hashFor, replaceHash } from './router.js';

const $ = (id) => document.getElementById(id);
const LARGE_KEY = 'portlab.largeText';
const SAVED_KEY = 'portlab.liveSessions'; // sessionStorage: see saveSessions()

// The state of the signed-in app; null while signed out.
const LIVE_COUNTERS_MS = 1000; // how often the list shows the relay sockets' counters
let app = null;

function initPage() {
  document.documentElement.lang = strings.lang;
  restoreQuizOpen();
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
  // Only "#/…" hashes are pages; others (the skip link) are places on one.
  window.addEventListener('hashchange', () => {
    if (app && (location.hash === '' || location.hash.startsWith('#/'))) route();
  });
  document.querySelector('.skip-link').addEventListener('click', (e) => {
    e.preventDefault();
    const main = app ? $('main') : $('join-view');
    const target = main.querySelector('h1, [role="tab"][aria-selected="true"]') || main;
    if (!target.hasAttribute('tabindex') && !/^(A|BUTTON|INPUT)$/.test(target.tagName)) {
      target.setAttribute('tabindex', '-1');
    }
    target.focus();
  });
  loadAnnotations(apiUrl('annotations.json'));
  // The byte counts change all the time; note them as the page goes.
  window.addEventListener('pagehide', () => saveSessions());
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
    // Terminals that showed their newest line keep showing it: larger
    // text makes the log taller, not scrolled.
    const following = app
      ? app.tabs.tabs.filter((tab) => tab.sessionPanel && tab.sessionPanel.conv.stick)
      : [];
    set(on);
    for (const tab of following) {
      tab.sessionPanel.conv.stick = true;
      tab.sessionPanel.onShow();
    }
    try {
      localStorage.setItem(LARGE_KEY, on ? '1' : '0');
    } catch (e) {
      // Private mode: the choice lasts for this page only.
    }
  });
}

async function boot() {
  try {
    const me = await api.whoami();
    $('loading').hidden = true;
    if (me && me.user) startApp({ user: me.user, lab: me.lab || null });
    else auth.showJoin();
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

  app = {
    me,
    teacher,
    targets: null,
    tabs: new TabStrip({ label: t('tabsLabel'), onNew: () => openTerminal(null) }),
    views: {},
    page: null, // the element shown in #main
    lesson: null, // the LessonPage shown last
    transcriptPage: null,
  };
  app.tabs.element.classList.add('workspace');
  app.sidePicker = new TargetPicker({ onPick: (target) => openSession(target) });
  app.sessions = new SessionsList({
    teacher,
    onOpen: (s) => openTranscript(s.id, s),
    live: (id) => liveCounters(id),
  });
  app.views.lab = h(
    'div',
    { class: 'lab-page' },
    h(
      'aside',
      { class: 'side', 'aria-label': t('labSideLabel') },
      h(
        'section',
        { class: 'targets', 'aria-labelledby': 'targets-title' },
        h('h2', { id: 'targets-title', text: t('targetsTitle') }),
        app.sidePicker.element,
      ),
      app.sessions.element,
    ),
    (app.labWork = h('section', { class: 'work', 'aria-label': t('tabsLabel') })),
  );
  app.views.lessons = new LessonsView({ teacher });
  app.views.quiz = new QuizView({ teacher });
  if (teacher) {
    app.teacherSessions = new SessionsList({
      teacher: true,
      onOpen: (s) => {
        location.hash = hashFor('transcript', String(s.id));
      },
    });
    app.views.progress = new ProgressView({ sessions: app.teacherSessions.element });
    app.live = new LiveView();
    app.views.teacher = h('div', { class: 'teacher-wrap' }, app.live.element, app.views.progress.element);
  } else {
    app.banner = new BroadcastBanner();
    $('main').before(app.banner.element);
    app.banner.start();
  }

  $('nav-teacher').hidden = !teacher;
  $('nav').hidden = false;
  $('app-view').hidden = false;
  loadTargets();
  restoreSessions();
  route();
  // The open sessions' counters in the list follow the relay sockets.
  app.liveTimer = setInterval(() => app && app.sessions.updateLive(), LIVE_COUNTERS_MS);
}

function stopApp() {
  if (!app) return;
  clearInterval(app.liveTimer);
  app.tabs.closeAll();
  writeSaved(null);
  if (app.live) app.live.stop();
  if (app.banner) {
    app.banner.stop();
    app.banner.element.remove();
  }
  if (app.transcriptPage) app.transcriptPage.dispose();
  $('main').replaceChildren();
  app = null;
  $('app-view').hidden = true;
  $('nav').hidden = true;
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
  for (const tab of app.tabs.tabs) if (tab.sessionPanel) tab.sessionPanel.setTargets(targets);
}

// ---- pages ------------------------------------------------------------------

function show(el, navName) {
  const main = $('main');
  if (main.firstChild !== el) main.replaceChildren(el);
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.nav === navName) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.dataset.page = navName;
}

// Moves the session tabs into a page; makes sure there is a tab to type in.
function placeWorkspace(slot) {
  if (app.tabs.element.parentNode !== slot) slot.append(app.tabs.element);
  if (app.tabs.tabs.length === 0) openTerminal(null, false);
  const active = app.tabs.active;
  if (active && active.onShow) active.onShow();
}

function route() {
  const r = parseHash(location.hash);
  if (app.live && r.name !== 'teacher') app.live.stop();
  if (app.transcriptPage && r.name !== 'transcript') {
    app.transcriptPage.dispose();
    app.transcriptPage = null;
  }
  document.title = strings.productName;
  switch (r.name) {
    case 'lessons':
      show(app.views.lessons.element, 'lessons');
      app.views.lessons.load();
      return;
    case 'lesson':
      return showLesson(r.id, r.params);
    case 'lab':
      show(app.views.lab, 'lab');
      placeWorkspace(app.labWork);
      app.sessions.refresh();
      return;
    case 'transcript':
      return showTranscriptPage(r.id);
    case 'capture':
      return showCapturePage(r.id);
    case 'quiz':
      show(app.views.quiz.element, 'quiz');
      app.views.quiz.load();
      return;
    case 'teacher':
      if (app.teacher) {
        show(app.views.teacher, 'teacher');
        app.live.start();
        app.views.progress.load();
        app.teacherSessions.refresh();
        return;
      }
      break;
    default:
      break;
  }
  replaceHash(app.teacher ? '#/teacher' : '#/lessons');
  route();
}

async function showLesson(id, params) {
  let page = app.lesson;
  if (!page || page.id !== id) {
    page = new LessonPage({
      id,
      onOpen: (target) => openSession(target),
      // Shown again after display: none: the newest line back in view.
      onShowTerminal: () => app.tabs.active && app.tabs.active.onShow && app.tabs.active.onShow(),
    });
    app.lesson = page;
    show(page.element, 'lessons');
    placeWorkspace(page.workSlot);
    await page.load();
    if (app.lesson !== page) return;
  } else {
    show(page.element, 'lessons');
    placeWorkspace(page.workSlot);
    document.title = (page.lesson ? page.lesson.title + ' · ' : '') + strings.productName;
  }
  // A deep link opens its session once; the hash then forgets it, so going
  // back to the lesson does not open another.
  const open = parseTarget(params.get('open'));
  if (open) {
    replaceHash(hashFor('lesson', id));
    openSession(open);
  } else {
    page.heading.focus({ preventScroll: true });
  }
}

// A canned capture (DHCP, DNS, ARP, ICMP), decoded; lessons link to it.
function showCapturePage(name) {
  const view = new CapturePage(name);
  const info = CAPTURES[name];
  const title = info ? t(info.title) : t('captureUnknownTitle');
  document.title = title + ' · ' + strings.productName;
  const page = h(
    'div',
    { class: 'page capture-page' },
    h('nav', { class: 'crumbs', 'aria-label': t('breadcrumbs') }, h('a', { href: '#/lesson/under-the-hood', text: t('backToUnderTheHood') })),
    h('h1', { text: title }),
    view.element,
  );
  show(page, 'lessons');
  view.load();
}

function showTranscriptPage(id) {
  if (app.transcriptPage) app.transcriptPage.dispose();
  const panel = new TranscriptPanel({
    id,
    page: true,
    onLoaded: (s) => {
      document.title = t('transcriptTabLabel', { id, target: targetName(s.host, s.port) }) + ' · ' + strings.productName;
    },
  });
  app.transcriptPage = panel;
  const back = h('a', {
    href: app.teacher ? '#/teacher' : '#/lab',
    text: app.teacher ? t('backToProgress') : t('backToLab'),
  });
  const page = h(
    'div',
    { class: 'page transcript-page-wrap' },
    h('nav', { class: 'crumbs', 'aria-label': t('breadcrumbs') }, back),
    h('h1', { text: t('transcriptTitle', { id }) }),
    panel.element,
  );
  show(page, app.teacher ? 'teacher' : 'lab');
  panel.load();
}

// ---- sessions that outlive a reload ---------------------------------------
//
// portlab keeps a session whose WebSocket went away (a reload closes it with
// 1001) for 30 s. sessionStorage (one per browser tab) holds the open live
// sessions of this tab, {user, sessions: [SessionPanel.saved()...]}, so the
// next page of the same user takes them over again.

function writeSaved(value) {
  try {
    if (value) sessionStorage.setItem(SAVED_KEY, JSON.stringify(value));
    else sessionStorage.removeItem(SAVED_KEY);
  } catch (e) {
    // Storage off: sessions end with the page, as they used to.
  }
}

function saveSessions() {
  if (!app) return;
  const sessions = app.tabs.tabs.map((tab) => tab.sessionPanel && tab.sessionPanel.saved()).filter(Boolean);
  writeSaved(sessions.length ? { user: app.me.user.id, sessions } : null);
}

function restoreSessions() {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(SAVED_KEY) || 'null');
  } catch (e) {
    saved = null;
  }
  if (!saved || saved.user !== app.me.user.id || !Array.isArray(saved.sessions)) {
    writeSaved(null);
    return;
  }
  for (const s of saved.sessions) {
    const ok =
      s &&
      Number.isInteger(s.session_id) &&
      typeof s.resume_token === 'string' &&
      typeof s.host === 'string' &&
      Number.isInteger(s.port) &&
      Number.isInteger(s.received) &&
      s.received >= 0;
    if (ok) openTerminal(null, false, s);
  }
  saveSessions();
}

// ---- tabs -------------------------------------------------------------------

// The counters of a session one of this page's tabs holds open, from its own
// relay socket: {up, down} payload bytes, or null.
function liveCounters(id) {
  if (!app) return null;
  for (const tab of app.tabs.tabs) {
    const s = tab.sessionPanel && tab.sessionPanel.session;
    if (s && s.sessionId === id && s.state !== 'closed') return { up: s.sent, down: s.received };
  }
  return null;
}

// A terminal tab; connects at once when target is given, or takes over the
// session saved before a reload.
// dataOf: the tab of the FTP control session whose data connection this is.
function openTerminal(target, focus = true, saved = null, dataOf = null) {
  let tab = null;
  const panel = new SessionPanel({
    target,
    saved,
    targets: () => app && app.targets,
    onStatus: (word) => tab && tab.setStatus(word),
    onTitle: (text) => tab && tab.setLabel(text),
    onOpened: () => {
      saveSessions();
      if (app) app.sessions.refresh();
    },
    onClosed: () => {
      saveSessions();
      if (app) app.sessions.refresh();
    },
    onViewTranscript: (id) => openTranscript(id, panel.target),
    onOpenTarget: (t2) => openTerminal(t2, true, null, tab),
  });
  if (app.targets) panel.setTargets(app.targets);
  // An FTP data connection sits right after its control session's tab
  // (and its earlier data tabs), marked as its child.
  const parent = dataOf && app.tabs.tabs.includes(dataOf) ? dataOf : null;
  let after = parent;
  if (parent) for (const c of parent.sessionPanel.dataChildren) if (c.tab) after = c.tab;
  tab = app.tabs.add({
    kind: 'live',
    after,
    child: !!parent,
    label: panel.title(),
    panel: panel.element,
    onShow: () => panel.onShow(),
    beforeClose: () => !panel.isLive || window.confirm(t('confirmCloseLive')),
    onClose: () => {
      panel.dispose();
      saveSessions();
    },
  });
  tab.sessionPanel = panel;
  // A phone showing the lesson switches to the terminal it just opened.
  if (target || saved) showTerminalPart();
  if (parent) {
    parent.sessionPanel.addDataChild({ panel, tab, close: () => app.tabs.close(tab) });
  }
  app.tabs.select(tab);
  panel.start();
  if (focus) panel.focusInput();
  return tab;
}

// A session to target: in the active terminal if nothing ever ran in it,
// else in a new tab (so FTP's data connection opens beside the control one).
// A phone showing the lesson switches to the terminal a session opens in.
function showTerminalPart() {
  if (app.lesson && app.lesson.element.isConnected) app.lesson.showPart('terminal');
}

function openSession(target) {
  const lab = app.targets && !(app.targets instanceof Error) ? app.targets.lab : null;
  if (!target.name && lab && target.host === (lab.host || 'lab')) {
    const svc = (lab.services || []).find((s) => Number(s.port) === Number(target.port));
    if (svc) target = { ...target, name: svc.name, mode: target.mode || svc.mode };
  }
  const active = app.tabs.active;
  const panel = active && active.sessionPanel;
  if (panel && !panel.session) {
    showTerminalPart();
    panel.openTarget(target);
    panel.focusInput();
    return active;
  }
  return openTerminal(target);
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
