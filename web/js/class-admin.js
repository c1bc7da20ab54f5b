// class-admin.js -- the teacher's class settings (GET/PUT /api/class) and
// the audit log of class management (GET /api/class/audit).
//
//   {"class_code":{"value":"room-12"|null,"fixed":false},
//    "allow":[{"rule":"192.0.2.0/24:25","fixed":true}, ...],
//    "hints_cost_points":false}
//
// Rules and a class code given by flags are fixed for the run: shown, not
// editable. The others are saved in the database and apply to the next
// open at once.

import { h } from './dom.js';
import { t } from './strings.js';
import { api } from './api.js';
import { formatTime } from './format.js';

export class ClassSettingsView {
  constructor() {
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.code = h('input', { id: 'class-code', type: 'text', maxlength: '32', autocomplete: 'off' });
    this.fixedRules = h('ul', { class: 'fixed-rules' });
    this.rules = h('textarea', { id: 'class-rules', rows: '4', spellcheck: 'false' });
    this.hintsCost = h('input', { id: 'class-hints-cost', type: 'checkbox' });
    this.audit = h('ol', { class: 'audit-log' });
    this.element = h(
      'section',
      { class: 'teacher-class', 'aria-labelledby': 'class-title' },
      h('h2', { id: 'class-title', text: t('classTitle') }),
      h(
        'form',
        { onsubmit: (e) => (e.preventDefault(), this.save()) },
        h('label', { for: 'class-code', text: t('classCode') }),
        this.code,
        h('p', { class: 'hint', text: t('classCodeHint') }),
        this.fixedRules,
        h('label', { for: 'class-rules', text: t('classRules') }),
        this.rules,
        h('p', { class: 'hint', text: t('classRulesHint') }),
        h('label', { for: 'class-hints-cost', class: 'check-label' }, this.hintsCost, ' ', t('classHintsCost')),
        h('p', { class: 'hint', text: t('classHintsCostHint') }),
        h('button', { type: 'submit', class: 'small', text: t('classSave') }),
        this.status,
      ),
      h('h2', { text: t('auditTitle') }),
      this.audit,
    );
  }

  show(data) {
    const code = data.class_code || {};
    this.code.value = code.value || '';
    this.code.disabled = !!code.fixed;
    this.code.title = code.fixed ? t('classFixed') : '';
    const allow = data.allow || [];
    this.fixedRules.replaceChildren(
      ...allow.filter((r) => r.fixed).map((r) => h('li', null, h('code', { text: r.rule }), ' ', t('classFixed'))),
    );
    this.rules.value = allow
      .filter((r) => !r.fixed)
      .map((r) => r.rule)
      .join('\n');
    this.hintsCost.checked = !!data.hints_cost_points;
  }

  async load() {
    try {
      this.show(await api.classSettings());
      this.status.textContent = '';
    } catch (e) {
      this.status.textContent = e.message;
    }
    this.loadAudit();
  }

  async loadAudit() {
    try {
      const r = await api.audit();
      const entries = (r && r.entries) || [];
      this.audit.replaceChildren(
        ...(entries.length
          ? entries.map((e) =>
              h(
                'li',
                null,
                h('span', { class: 'when', text: formatTime(e.at) }),
                ' ',
                t('audit.' + e.action),
                e.student ? ' ' + e.student : '',
                e.detail ? ' (' + e.detail + ')' : '',
              ),
            )
          : [h('li', { class: 'hint', text: t('auditEmpty') })]),
      );
    } catch (e) {
      this.audit.replaceChildren(h('li', { text: e.message }));
    }
  }

  async save() {
    const body = {
      allow: this.rules.value
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean),
      hints_cost_points: this.hintsCost.checked,
    };
    if (!this.code.disabled) body.class_code = this.code.value.trim() || null;
    this.status.textContent = t('loading');
    try {
      this.show(await api.saveClassSettings(body));
      this.status.textContent = t('classSaved');
    } catch (e) {
      this.status.textContent = e.message;
    }
    this.loadAudit();
  }
}
