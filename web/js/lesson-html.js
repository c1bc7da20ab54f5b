// lesson-html.js -- turns a lesson's HTML (rendered and sanitised by the
// server) into DOM, through an allow-list a second time: only the elements
// Markdown produces, no attributes but a few, and no script or style.
//
// Two things change on the way in:
//   <a href="session:lab:25">text</a>  -> a button that opens a session
//   <div class="task" data-task="ID"> -> an empty slot for the task widget

import { h } from './dom.js';
import { t } from './strings.js';

const ALLOWED = new Set([
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'ul', 'ol', 'li', 'strong', 'em', 'b', 'i', 'code',
  'pre', 'blockquote', 'hr', 'br', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'a', 'del', 'div',
  'span', 'img',
]);
const DROP_WITH_CONTENT = new Set(['script', 'style', 'template', 'iframe', 'object', 'svg', 'math']);

// "session:lab:25" -> {host: 'lab', port: 25}; null when malformed.
export function parseSessionHref(href) {
  const m = /^session:(\[[^\]]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(href || '');
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

// html: the lesson's html; onOpen({host, port}) for session buttons.
// Returns {fragment, slots: Map(taskId -> element)}.
export function importLessonHtml(html, onOpen) {
  const doc = new DOMParser().parseFromString(String(html), 'text/html');
  const slots = new Map();
  const fragment = document.createDocumentFragment();

  const walk = (src, dst) => {
    for (const node of src.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        dst.append(document.createTextNode(node.data));
        continue;
      }
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      const tag = node.localName;
      if (DROP_WITH_CONTENT.has(tag)) continue;
      if (!ALLOWED.has(tag)) {
        walk(node, dst); // keep the text of an unknown element
        continue;
      }
      if (tag === 'div' && node.classList.contains('task') && node.dataset.task) {
        const slot = h('div', { class: 'task-slot', dataset: { task: node.dataset.task } });
        slots.set(node.dataset.task, slot);
        dst.append(slot);
        continue;
      }
      if (tag === 'a') {
        dst.append(link(node, walk, onOpen));
        continue;
      }
      if (tag === 'img') {
        const src2 = node.getAttribute('src') || '';
        if (/^(https?:|\/|[a-z0-9_.-]+$)/i.test(src2) && !src2.startsWith('//')) {
          dst.append(h('img', { src: src2, alt: node.getAttribute('alt') || '' }));
        }
        continue;
      }
      const el = document.createElement(tag);
      if ((tag === 'th' || tag === 'td') && /^(left|right|center)$/.test(node.getAttribute('align') || '')) {
        el.className = 'align-' + node.getAttribute('align');
      }
      walk(node, el);
      dst.append(el);
    }
  };
  walk(doc.body, fragment);
  return { fragment, slots };
}

function link(node, walk, onOpen) {
  const href = node.getAttribute('href') || '';
  const target = parseSessionHref(href);
  if (target) {
    const label = node.textContent.trim() || t('openSession');
    return h(
      'button',
      {
        type: 'button',
        class: 'session-link',
        dataset: { target: target.host + ':' + target.port },
        onclick: () => onOpen(target),
      },
      h('span', { class: 'session-link-icon', 'aria-hidden': 'true', text: '▶' }),
      label,
      h('span', { class: 'session-link-target', text: t('sessionLinkTarget', { host: target.host, port: target.port }) }),
    );
  }
  const a = document.createElement('a');
  if (/^https?:\/\//i.test(href)) {
    a.href = href;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
  } else if (/^#[A-Za-z0-9_/?=:.-]*$/.test(href)) {
    a.href = href;
  }
  walk(node, a);
  return a;
}
