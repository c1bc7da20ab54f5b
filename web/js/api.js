// api.js -- the REST client: JSON in and out, same-origin cookie, errors.
//
// Every URL is resolved against the folder the page's assets are served
// from (one level above this module), so portlab also works behind a
// reverse proxy that mounts it under a path.

import { t, errorText } from './strings.js';

const base = new URL('../', import.meta.url);

// An absolute URL for a path relative to the portlab root ("api/me").
export function apiUrl(path, query) {
  const u = new URL(path.replace(/^\//, ''), base);
  if (query) {
    for (const [k, v] of Object.entries(query)) {
      if (v != null && v !== '') u.searchParams.set(k, v);
    }
  }
  return u.href;
}

// ws:// or wss:// URL for a path, on the page's own origin.
export function wsUrl(path) {
  const u = new URL(path.replace(/^\//, ''), base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

// The shape every failure takes: HTTP status (0 for a network failure),
// the server's error code, and a message fit to show.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

// Called with the ApiError whenever a request answers 401, so the page can
// go back to the join form when a login has expired. Set by main.js.
let unauthorizedHandler = null;
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

// request('GET', 'api/me') -> parsed JSON, or null for an empty body.
// Options: body (sent as JSON), query (object), quiet401 (do not call the
// unauthorized handler; for the first /api/me and for logins).
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(apiUrl(path, opts.query), init);
  } catch (e) {
    throw new ApiError(0, 'network', errorText('network'));
  }
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (res.ok) return data;

  const err = data && typeof data === 'object' && data.error ? data.error : {};
  const code = typeof err.code === 'string' ? err.code : 'http';
  const serverMsg = typeof err.message === 'string' ? err.message : '';
  const message =
    code === 'http' ? t('errors.http', { status: res.status }) : errorText(code, serverMsg);
  const e = new ApiError(res.status, code, message);
  e.serverMessage = serverMsg;
  if (res.status === 401 && !opts.quiet401 && unauthorizedHandler) unauthorizedHandler(e);
  throw e;
}

// The calls portlab makes, one function each.
export const api = {
  // {"user": null} when not signed in: no 401 in the console on first load.
  whoami: () => request('GET', 'api/whoami'),
  me: () => request('GET', 'api/me', { quiet401: true }),
  join: (body) => request('POST', 'api/join', { body, quiet401: true }),
  teacherLogin: (password) =>
    request('POST', 'api/teacher/login', { body: { password }, quiet401: true }),
  logout: () => request('POST', 'api/logout', { body: {} }),
  targets: () => request('GET', 'api/targets'),
  // One page, newest first; before: the previous page's next_before.
  sessions: (user, before) => request('GET', 'api/sessions', { query: { user, before } }),
  transcript: (id) => request('GET', 'api/sessions/' + encodeURIComponent(id) + '/transcript'),
  lessons: () => request('GET', 'api/lessons'),
  lesson: (id) => request('GET', 'api/lessons/' + encodeURIComponent(id)),
  // body: {answer} for question and flag tasks, {} for check tasks.
  answer: (lesson, task, body) =>
    request(
      'POST',
      'api/lessons/' + encodeURIComponent(lesson) + '/tasks/' + encodeURIComponent(task),
      { body },
    ),
  // Takes the task's next hint; cost: what the page showed it would cost.
  hint: (lesson, task, cost) =>
    request(
      'POST',
      'api/lessons/' + encodeURIComponent(lesson) + '/tasks/' + encodeURIComponent(task) + '/hint',
      { body: { cost } },
    ),
  progress: () => request('GET', 'api/progress'),
  gradebook: () => request('GET', 'api/class/gradebook'),
  classSettings: () => request('GET', 'api/class'),
  saveClassSettings: (body) => request('PUT', 'api/class', { body }),
  audit: () => request('GET', 'api/class/audit'),
  // what: rejoin-code, sign-out, remove ({purge}) or reset-lab.
  studentAction: (id, what, body) =>
    request('POST', 'api/class/students/' + encodeURIComponent(id) + '/' + what, { body: body || {} }),
  refusals: (id) => request('GET', 'api/class/students/' + encodeURIComponent(id) + '/refusals'),
  resultsUrl: (format) => apiUrl('api/results', { format }),
  usage: () => request('GET', 'api/usage'),
  quizStart: (mode, testId) =>
    request('POST', 'api/quiz/attempts', { body: testId ? { mode, test_id: testId } : { mode } }),
  quizAnswer: (attempt, questionId, answer) =>
    request('POST', 'api/quiz/attempts/' + encodeURIComponent(attempt) + '/answers', {
      body: { question_id: questionId, answer },
    }),
  quizAttempt: (attempt) => request('GET', 'api/quiz/attempts/' + encodeURIComponent(attempt)),
  quizHistory: () => request('GET', 'api/quiz/history'),
  quizTests: () => request('GET', 'api/quiz/tests'),
  quizCreateTest: (body) => request('POST', 'api/quiz/tests', { body }),
  quizUpdateTest: (id, body) => request('POST', 'api/quiz/tests/' + encodeURIComponent(id), { body }),
  quizResults: (id) => request('GET', 'api/quiz/tests/' + encodeURIComponent(id) + '/results'),
  quizResultsCsvUrl: (id) =>
    apiUrl('api/quiz/tests/' + encodeURIComponent(id) + '/results', { format: 'csv' }),
  quizLeaderboard: (id) => request('GET', 'api/quiz/tests/' + encodeURIComponent(id) + '/leaderboard'),
  transcriptUrl: (id, format) =>
    apiUrl('api/sessions/' + encodeURIComponent(id) + '/transcript', format ? { format } : null),
};
