// dom.js -- small helpers for building DOM without innerHTML.
//
// Everything is built with createElement and text nodes, so no server or
// user text is ever parsed as markup, and nothing needs inline styles or
// inline handlers (the page runs under a strict Content-Security-Policy).

import { t } from './strings.js';

// h('button', {class: 'x', type: 'button', onclick: fn}, 'text', child...)
// Attributes: class, dataset (object), on<event> (listener), hidden/disabled
// (booleans), text (textContent); anything else is setAttribute.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// Fills static markup from strings.js:
//   data-i18n="key"              -> textContent
//   data-i18n-placeholder="key"  -> placeholder
//   data-i18n-aria-label="key"   -> aria-label
//   data-i18n-title="key"        -> title
export function applyStrings(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const [attr, data] of [
    ['placeholder', 'i18nPlaceholder'],
    ['aria-label', 'i18nAriaLabel'],
    ['title', 'i18nTitle'],
  ]) {
    const sel = '[data-' + data.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()) + ']';
    for (const el of root.querySelectorAll(sel)) el.setAttribute(attr, t(el.dataset[data]));
  }
}

// A unique id for label/for and aria-describedby pairs.
let idCounter = 0;
export function uid(prefix) {
  idCounter += 1;
  return (prefix || 'id') + '-' + idCounter;
}

// Shows an error text under a field and marks the field invalid; an empty
// text clears it.
export function setFieldError(input, errorEl, text) {
  errorEl.textContent = text || '';
  errorEl.hidden = !text;
  if (text) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}
