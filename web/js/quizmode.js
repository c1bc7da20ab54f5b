// quizmode.js -- "a quiz is running": while a student has a quiz attempt
// open, nothing else on the page may hand out port numbers. The flag is
// data-quiz="open" on <html>, kept in sessionStorage so it survives moving
// between pages and a reload. CSS hides the marked bits (.port-hint, the
// lesson text); the terminal asks quizOpen() before it prints a port list.

const KEY = 'portlab.quizOpen';

export function quizOpen() {
  return document.documentElement.dataset.quiz === 'open';
}

// on: true while an attempt is running; false when it ends or is left.
export function setQuizOpen(on) {
  if (on) document.documentElement.dataset.quiz = 'open';
  else delete document.documentElement.dataset.quiz;
  try {
    if (on) sessionStorage.setItem(KEY, '1');
    else sessionStorage.removeItem(KEY);
  } catch (e) {
    // Storage off: the flag lasts for this page only.
  }
  window.dispatchEvent(new CustomEvent('portlab:quiz', { detail: { open: !!on } }));
}

export function restoreQuizOpen() {
  let on = false;
  try {
    on = sessionStorage.getItem(KEY) === '1';
  } catch (e) {
    on = false;
  }
  if (on) document.documentElement.dataset.quiz = 'open';
}
