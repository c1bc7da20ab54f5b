// targets.js -- the target picker: a button per lab service, and a free
// host + port + mode form for the FTP passive ports and allowed real hosts.
//
// GET /api/targets shape:
//   {"lab":{"host":"lab","services":[{"name","port","mode"?}],
//           "pasv":{"from","to"}},
//    "allowed":[{"rule":"192.0.2.0/24:21,25"}]}

import { h, uid, setFieldError } from './dom.js';
import { t } from './strings.js';
import { targetName } from './format.js';

const HOST_RE = /^[^\s/]{1,253}$/;

export class TargetPicker {
  // opts: onPick({host, port, mode}), heading (text; omitted = none).
  constructor(opts) {
    this.onPick = opts.onPick;
    this.services = h('ul', { class: 'services' });
    this.info = h('div', { class: 'target-info' });
    this.error = h('p', { class: 'error', role: 'alert', hidden: true });

    const hostId = uid('host');
    const portId = uid('port');
    const modeId = uid('mode');
    const hostErrId = uid('host-err');
    const portErrId = uid('port-err');
    const modeHelpId = uid('mode-help');
    this.host = h('input', {
      id: hostId,
      name: 'host',
      type: 'text',
      value: 'lab',
      autocomplete: 'off',
      autocapitalize: 'off',
      spellcheck: 'false',
      maxlength: '253',
      required: true,
      'aria-describedby': hostErrId,
    });
    this.port = h('input', {
      id: portId,
      name: 'port',
      type: 'number',
      min: '1',
      max: '65535',
      step: '1',
      inputmode: 'numeric',
      required: true,
      'aria-describedby': portErrId,
    });
    this.mode = h(
      'select',
      { id: modeId, name: 'mode', 'aria-describedby': modeHelpId },
      h('option', { value: 'auto', text: t('modeAuto') }),
      h('option', { value: 'raw', text: t('modeRaw') }),
      h('option', { value: 'telnet', text: t('modeTelnet') }),
    );
    this.hostErr = h('p', { id: hostErrId, class: 'field-error', hidden: true });
    this.portErr = h('p', { id: portErrId, class: 'field-error', hidden: true });

    const form = h(
      'form',
      { class: 'target-form', novalidate: true, onsubmit: (e) => this.onSubmit(e) },
      h(
        'fieldset',
        null,
        h('legend', { text: t('otherTarget') }),
        h(
          'div',
          { class: 'row' },
          h(
            'div',
            { class: 'field grow' },
            h('label', { for: hostId, text: t('hostLabel') }),
            this.host,
          ),
          h(
            'div',
            { class: 'field port' },
            h('label', { for: portId, text: t('portLabel') }),
            this.port,
          ),
        ),
        this.hostErr,
        this.portErr,
        h(
          'div',
          { class: 'row' },
          h(
            'div',
            { class: 'field' },
            h('label', { for: modeId, text: t('modeLabel') }),
            this.mode,
          ),
          h('button', { type: 'submit', class: 'primary', text: t('connectButton') }),
        ),
        h('p', { id: modeHelpId, class: 'hint', text: t('modeHelp') }),
      ),
    );

    this.element = h(
      'div',
      { class: 'picker' },
      opts.heading ? h('h2', { text: opts.heading }) : null,
      opts.intro ? h('p', { class: 'hint', text: opts.intro }) : null,
      this.error,
      h('h3', { text: t('labServices') }),
      this.services,
      form,
      this.info,
    );
  }

  // targets: the /api/targets answer, or an ApiError when it failed.
  setTargets(targets) {
    this.services.replaceChildren();
    this.info.replaceChildren();
    if (!targets || targets instanceof Error) {
      this.error.textContent = t('targetsFailed', { message: targets ? targets.message : '' });
      this.error.hidden = false;
      return;
    }
    this.error.hidden = true;
    const lab = targets.lab || {};
    const labHost = lab.host || 'lab';
    for (const svc of lab.services || []) {
      const target = { host: labHost, port: svc.port, mode: svc.mode || 'auto', name: svc.name };
      this.services.append(
        h(
          'li',
          null,
          h(
            'button',
            { type: 'button', class: 'service', onclick: () => this.onPick(target) },
            h('span', { class: 'service-name', text: t('serviceButton', { name: svc.name }) }),
            h('span', {
              class: 'service-detail port-hint',
              text: t('serviceDetail', { target: targetName(labHost, svc.port) }),
            }),
          ),
        ),
      );
    }
    if (lab.pasv && lab.pasv.from) {
      this.info.append(
        h('p', {
          class: 'hint',
          text: t('pasvRange', { host: labHost, from: lab.pasv.from, to: lab.pasv.to }),
        }),
      );
    }
    const rules = (targets.allowed || []).map((a) => a.rule).filter(Boolean);
    if (rules.length) {
      this.info.append(
        h(
          'div',
          { class: 'hint' },
          h('span', { text: t('allowedTitle') + ' ' }),
          rules.map((r, i) => [i ? ', ' : '', h('code', { text: r })]),
        ),
      );
    }
  }

  focus() {
    const first = this.services.querySelector('button');
    (first || this.host).focus();
  }

  onSubmit(e) {
    e.preventDefault();
    const host = this.host.value.trim().replace(/^\[(.*)\]$/, '$1');
    const portText = this.port.value.trim();
    const port = Number(portText);
    const hostOk = HOST_RE.test(host);
    const portOk = /^\d{1,5}$/.test(portText) && port >= 1 && port <= 65535;
    setFieldError(this.host, this.hostErr, hostOk ? '' : t('hostInvalid'));
    setFieldError(this.port, this.portErr, portOk ? '' : t('portInvalid'));
    if (!hostOk) {
      this.host.focus();
      return;
    }
    if (!portOk) {
      this.port.focus();
      return;
    }
    this.onPick({ host, port, mode: this.mode.value });
  }
}
