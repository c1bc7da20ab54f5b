// usage.js -- the teacher's usage table (GET /api/usage): recorded bytes
// against the budgets, open sessions and refused opens per student, the
// class totals, and warnings when the recording budget or the disk runs low.
//
//   {"students":[{"name","recorded_bytes","record_budget","sessions_open",
//                 "refused_opens","last_refused_reason","last_refused_at"}],
//    "totals":{"recorded_bytes","record_budget","sessions_open","max_sessions",
//              "disk_free","disk_floor"},
//    "throttled":[{"address","kind","failures","wait_secs"}],
//    "warnings":["record_total_near"|"record_total_reached"|"disk_low"]}

import { h } from './dom.js';
import { t } from './strings.js';
import { api } from './api.js';

function bytes(n) {
  if (typeof n !== 'number' || n < 0) return t('usageUnknown');
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}

export class UsageView {
  constructor() {
    this.status = h('p', { class: 'hint', role: 'status', 'aria-live': 'polite' });
    this.warnings = h('div', { class: 'usage-warnings', role: 'alert' });
    this.totals = h('p', { class: 'hint usage-totals' });
    this.tableBox = h('div', { class: 'table-scroll', tabindex: '0', 'aria-labelledby': 'usage-title' });
    this.throttled = h('div', { class: 'usage-throttled' });
    this.element = h(
      'section',
      { class: 'teacher-usage', 'aria-labelledby': 'usage-title' },
      h('h2', { id: 'usage-title', text: t('usageTitle') }),
      h('p', { class: 'hint', text: t('usageIntro') }),
      this.warnings,
      this.status,
      this.totals,
      this.tableBox,
      this.throttled,
    );
  }

  async load() {
    this.status.textContent = t('loading');
    let data;
    try {
      data = await api.usage();
    } catch (e) {
      this.status.textContent = t('usageFailed', { message: e.message });
      return;
    }
    this.status.textContent = '';
    const warnings = (data && data.warnings) || [];
    this.warnings.replaceChildren(
      ...warnings.map((w) => h('p', { class: 'usage-warning', text: t('usageWarn.' + w) })),
    );
    const tot = (data && data.totals) || {};
    this.totals.textContent = t('usageTotals', {
      recorded: bytes(tot.recorded_bytes),
      budget: bytes(tot.record_budget),
      free: bytes(tot.disk_free === null ? -1 : tot.disk_free),
      floor: bytes(tot.disk_floor),
      sessions: String(tot.sessions_open || 0),
      max: String(tot.max_sessions || 0),
    });
    const students = (data && data.students) || [];
    const head = h(
      'tr',
      null,
      [t('usageStudent'), t('usageRecorded'), t('usageSessions'), t('usageRefused'), t('usageLastReason')].map(
        (text) => h('th', { scope: 'col', text }),
      ),
    );
    const rows = students.map((s) =>
      h(
        'tr',
        { class: s.recorded_bytes >= s.record_budget ? 'over' : '' },
        h('th', { scope: 'row', text: s.name }),
        h('td', { text: t('usageOf', { used: bytes(s.recorded_bytes), budget: bytes(s.record_budget) }) }),
        h('td', { class: 'score', text: String(s.sessions_open || 0) }),
        h('td', { class: 'score', text: String(s.refused_opens || 0) }),
        h('td', { text: s.last_refused_reason ? s.last_refused_reason + ' (' + (s.last_refused_at || '') + ')' : '' }),
      ),
    );
    this.showThrottled((data && data.throttled) || []);
    this.tableBox.replaceChildren(
      h(
        'table',
        { class: 'progress-table usage-table' },
        h('caption', { class: 'sr-only', text: t('usageTitle') }),
        h('thead', null, head),
        h('tbody', null, rows),
      ),
    );
  }

  // Addresses that sent wrong teacher passwords, class codes or rejoin codes.
  showThrottled(list) {
    if (!list.length) {
      this.throttled.replaceChildren(h('p', { class: 'hint', text: t('usageNoThrottled') }));
      return;
    }
    const head = h(
      'tr',
      null,
      [t('usageAddress'), t('usageKindHead'), t('usageFailures'), t('usageWait')].map((text) =>
        h('th', { scope: 'col', text }),
      ),
    );
    const rows = list.map((r) =>
      h(
        'tr',
        null,
        h('th', { scope: 'row', text: r.address }),
        h('td', { text: t('usageKind.' + r.kind) }),
        h('td', { class: 'score', text: String(r.failures) }),
        h('td', { text: r.wait_secs > 0 ? t('usageWaitSecs', { n: r.wait_secs }) : t('usageMayTry') }),
      ),
    );
    this.throttled.replaceChildren(
      h('h3', { text: t('usageThrottledTitle') }),
      h(
        'table',
        { class: 'usage-table throttled-table' },
        h('thead', null, head),
        h('tbody', null, rows),
      ),
    );
  }
}
