// tabs.js -- a strip of closable tabs, each with its panel (WAI-ARIA tabs
// pattern: arrow keys, Home and End move between tabs; Delete closes one).
//
// The strip knows nothing about sessions: a tab is a label, a status class
// and a panel element, plus optional hooks:
//   onShow()        the panel became visible (e.g. scroll a log to its end)
//   beforeClose()   return false to keep the tab open
//   onClose()       the tab is gone; release what it holds

import { h, uid } from './dom.js';
import { t } from './strings.js';

export class TabStrip {
  // opts: label (accessible name of the strip), onNew (the "+" button).
  constructor(opts = {}) {
    this.tabs = [];
    this.active = null;
    this.list = h('div', {
      class: 'tablist',
      role: 'tablist',
      'aria-label': opts.label || null,
      onkeydown: (e) => this.onKey(e),
    });
    const newBtn = opts.onNew
      ? h('button', {
          type: 'button',
          class: 'tab-new',
          'aria-label': t('newTab'),
          title: t('newTab'),
          text: t('newTabShort'),
          onclick: () => opts.onNew(),
        })
      : null;
    this.panels = h('div', { class: 'tabpanels' });
    this.element = h(
      'div',
      { class: 'tabs' },
      h('div', { class: 'tabbar' }, this.list, newBtn),
      this.panels,
    );
  }

  // spec: {label, panel, kind, closable (default true), onShow, beforeClose,
  // onClose, after (a tab to place it behind), child (shown as belonging to
  // the tab before it)}. Returns the tab; it is not selected until select()
  // is called.
  add(spec) {
    const id = uid('tab');
    const tab = {
      id,
      kind: spec.kind || '',
      panel: spec.panel,
      onShow: spec.onShow || null,
      beforeClose: spec.beforeClose || null,
      onClose: spec.onClose || null,
      strip: this,
    };
    tab.button = h('button', {
      type: 'button',
      role: 'tab',
      id: id + '-tab',
      class: 'tab',
      'aria-selected': 'false',
      'aria-controls': id + '-panel',
      'aria-keyshortcuts': spec.closable === false ? null : 'Delete',
      tabindex: '-1',
      onclick: () => this.select(tab),
    });
    tab.labelEl = h('span', { class: 'tab-label' });
    tab.dot = h('span', { class: 'tab-dot', 'aria-hidden': 'true' });
    tab.button.append(tab.dot, tab.labelEl);
    tab.closeBtn =
      spec.closable === false
        ? null
        : h('button', {
            type: 'button',
            class: 'tab-close',
            tabindex: '-1',
            text: t('closeTabShort'),
            onclick: () => this.close(tab),
          });
    tab.item = h(
      'div',
      { class: 'tab-item' + (spec.child ? ' tab-child' : ''), role: 'presentation' },
      tab.button,
      tab.closeBtn,
    );
    tab.panelEl = h(
      'div',
      {
        class: 'tabpanel',
        role: 'tabpanel',
        id: id + '-panel',
        'aria-labelledby': id + '-tab',
        hidden: true,
      },
      spec.panel,
    );
    tab.setLabel = (text) => {
      tab.label = text;
      tab.labelEl.textContent = text;
      if (tab.closeBtn) {
        const l = t('closeTab', { label: text });
        tab.closeBtn.setAttribute('aria-label', l);
        tab.closeBtn.title = l;
      }
    };
    // A status word ('connecting', 'connected', 'closed', ...) for the dot.
    tab.setStatus = (status) => {
      tab.item.dataset.status = status || '';
    };
    tab.select = () => this.select(tab);
    tab.close = () => this.close(tab);
    tab.setLabel(spec.label || '');
    const at = spec.after ? this.tabs.indexOf(spec.after) : -1;
    if (at >= 0) {
      this.tabs.splice(at + 1, 0, tab);
      spec.after.item.after(tab.item);
    } else {
      this.tabs.push(tab);
      this.list.append(tab.item);
    }
    this.panels.append(tab.panelEl);
    return tab;
  }

  select(tab, focus = false) {
    if (!tab || !this.tabs.includes(tab)) return;
    for (const other of this.tabs) {
      const on = other === tab;
      other.button.setAttribute('aria-selected', on ? 'true' : 'false');
      other.button.tabIndex = on ? 0 : -1;
      other.item.classList.toggle('active', on);
      other.panelEl.hidden = !on;
    }
    this.active = tab;
    if (focus) tab.button.focus();
    if (tab.onShow) tab.onShow();
  }

  close(tab) {
    const i = this.tabs.indexOf(tab);
    if (i < 0) return false;
    if (tab.beforeClose && tab.beforeClose() === false) return false;
    const hadFocus = this.element.contains(document.activeElement);
    this.tabs.splice(i, 1);
    tab.item.remove();
    tab.panelEl.remove();
    if (tab.onClose) tab.onClose();
    if (this.active === tab) {
      this.active = null;
      const next = this.tabs[Math.min(i, this.tabs.length - 1)];
      if (next) this.select(next, hadFocus);
    }
    return true;
  }

  closeAll() {
    for (const tab of [...this.tabs]) {
      tab.beforeClose = null;
      this.close(tab);
    }
  }

  find(pred) {
    return this.tabs.find(pred) || null;
  }

  onKey(e) {
    const i = this.tabs.findIndex((tab) => tab.button === document.activeElement);
    if (i < 0) return;
    let next = null;
    if (e.key === 'ArrowRight') next = this.tabs[(i + 1) % this.tabs.length];
    else if (e.key === 'ArrowLeft') next = this.tabs[(i - 1 + this.tabs.length) % this.tabs.length];
    else if (e.key === 'Home') next = this.tabs[0];
    else if (e.key === 'End') next = this.tabs[this.tabs.length - 1];
    else if (e.key === 'Delete' && this.tabs[i].closeBtn) {
      e.preventDefault();
      this.close(this.tabs[i]);
      return;
    }
    if (next) {
      e.preventDefault();
      this.select(next, true);
    }
  }
}
