// keybar.js -- the on-screen keys a phone keyboard lacks, for character
// mode: Ctrl (held for the next key), Esc, Tab and the arrows.
//
// The buttons do not take the focus from the terminal (pointerdown is
// cancelled), so the phone keyboard stays up.

import { h } from './dom.js';
import { t } from './strings.js';

const KEYS = ['ctrl', 'esc', 'tab', 'left', 'up', 'down', 'right'];

export class KeyBar {
  // opts: onKey(name).
  constructor(opts) {
    this.buttons = {};
    const items = KEYS.map((name) => {
      const b = h('button', {
        type: 'button',
        class: 'key',
        'aria-label': t('keys.' + name + 'Label'),
        'aria-pressed': name === 'ctrl' ? 'false' : null,
        text: t('keys.' + name),
        onpointerdown: (e) => e.preventDefault(),
        onclick: () => opts.onKey(name),
      });
      this.buttons[name] = b;
      return b;
    });
    this.element = h('div', { class: 'keybar', role: 'toolbar', 'aria-label': t('keys.bar') }, items);
  }

  setCtrl(on) {
    this.buttons.ctrl.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
}
