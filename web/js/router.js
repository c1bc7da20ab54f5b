// router.js -- the page's place, kept in the URL hash so links can point
// into the lab:
//
//   #/lessons                     the lesson list
//   #/lesson/smtp?open=lab:25     a lesson, opening a session to lab:25
//   #/lab                         the free lab (targets, sessions)
//   #/transcript/7                a recorded session
//   #/teacher                     class progress (teacher)
//   #/quiz                        the port quiz (tests and results for the teacher)

// location.hash -> {name, id, params (URLSearchParams)}.
export function parseHash(hash) {
  const raw = String(hash || '').replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch (e) {
      return p;
    }
  });
  const name = parts[0] || '';
  return { name, id: parts[1] || '', params };
}

export function hashFor(name, id, params) {
  let s = '#/' + name + (id ? '/' + encodeURIComponent(id) : '');
  const q = params ? new URLSearchParams(params).toString() : '';
  if (q) s += '?' + q;
  return s;
}

// Replaces the hash without a new history entry or a hashchange event.
export function replaceHash(hash) {
  history.replaceState(history.state, '', hash);
}
