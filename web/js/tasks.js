// tasks.js -- one task widget in a lesson: the prompt, an answer field and
// Check (questions and flags) or "Check my work" (tasks checked from what
// happened on the lab servers), hints one at a time on request (with their
// cost said before, when the teacher made hints cost points), and the
// solved state.
//
//   POST /api/lessons/{id}/tasks/{task} {"answer"} or {}
//     -> {"correct","task":{…},"score","points"[,"feedback"]}; 429 too_many_attempts
//   POST /api/lessons/{id}/tasks/{task}/hint {"cost"}
//     -> {"hint","number","cost","task":{…}}; 409 cost_changed, no_more_hints

import { h, uid } from './dom.js';
import { t } from './strings.js';
import { api } from './api.js';

export class TaskWidget {
  // opts: lessonId, task (from the lesson), onScore(score, points).
  constructor(opts) {
    this.opts = opts;
    this.task = opts.task;
    const task = this.task;
    const promptId = uid('task-prompt');
    const msgId = uid('task-msg');
    this.state = h('span', { class: 'task-state' });
    this.msg = h('p', { id: msgId, class: 'task-msg', role: 'status', 'aria-live': 'polite' });

    let form;
    if (task.kind === 'check') {
      this.button = h('button', { type: 'submit', class: 'primary', text: t('taskCheckWork') });
      form = h(
        'form',
        { class: 'task-form', onsubmit: (e) => this.submit(e) },
        this.button,
        h('span', { class: 'hint', text: t('taskCheckHelp') }),
      );
    } else {
      const inputId = uid('task-answer');
      this.input = h('input', {
        id: inputId,
        type: 'text',
        autocomplete: 'off',
        autocapitalize: 'off',
        spellcheck: 'false',
        maxlength: '512',
        'aria-describedby': promptId + ' ' + msgId,
        placeholder: task.kind === 'flag' ? 'FLAG{…}' : null,
      });
      this.button = h('button', { type: 'submit', class: 'primary', text: t('taskCheck') });
      form = h(
        'form',
        { class: 'task-form', novalidate: true, onsubmit: (e) => this.submit(e) },
        h('label', {
          for: inputId,
          class: 'sr-only',
          text: task.kind === 'flag' ? t('taskFlagLabel') : t('taskAnswerLabel'),
        }),
        this.input,
        this.button,
      );
    }

    let hintBox = null;
    if (task.hints > 0) {
      const listId = uid('task-hints');
      this.hintList = h('ol', { id: listId, class: 'task-hints' });
      this.hintButton = h('button', {
        type: 'button',
        class: 'small link-like task-hint-take',
        'aria-controls': listId,
        onclick: () => this.takeHint(),
      });
      this.hintLost = h('p', { class: 'hint task-hint-lost' });
      hintBox = h('div', { class: 'task-hint-box' }, this.hintList, this.hintButton, this.hintLost);
    }

    this.element = h(
      'section',
      { class: 'task-card', dataset: { kind: task.kind, task: task.id }, 'aria-labelledby': promptId },
      h(
        'div',
        { class: 'task-head' },
        h('span', {
          class: 'task-kind',
          text: t('taskKind.' + task.kind) + ' · ' + t('points', { n: task.points }),
        }),
        this.state,
      ),
      h('p', { id: promptId, class: 'task-prompt', text: task.prompt }),
      form,
      hintBox,
      this.msg,
    );
    this.render();
  }

  renderHints() {
    const task = this.task;
    if (!this.hintList) return;
    const taken = task.hints_taken || [];
    this.hintList.replaceChildren(
      ...taken.map((text, i) =>
        h(
          'li',
          { class: 'task-hint' },
          h('strong', { text: t('taskHintLabel', { k: i + 1 }) + ': ' }),
          h('span', { text }),
        ),
      ),
    );
    const next = taken.length + 1;
    this.hintButton.hidden = taken.length >= task.hints;
    const cost = task.next_hint_cost || 0;
    this.hintButton.textContent =
      t('taskTakeHint', { k: next, of: task.hints }) +
      ' ' +
      (cost > 0 ? t('taskHintCost', { n: cost }) : t('taskHintFree'));
    this.hintButton.dataset.cost = String(cost);
    this.hintLost.hidden = !(task.hint_points > 0);
    this.hintLost.textContent = task.hint_points > 0 ? t('taskHintsLost', { n: task.hint_points }) : '';
  }

  async takeHint() {
    if (this.hintBusy) return;
    this.hintBusy = true;
    this.hintButton.disabled = true;
    try {
      const res = await api.hint(this.opts.lessonId, this.task.id, this.task.next_hint_cost || 0);
      if (res.task) this.task = { ...this.task, ...res.task };
      this.render();
      const items = this.hintList.querySelectorAll('li');
      if (items.length) items[items.length - 1].scrollIntoView({ block: 'nearest' });
    } catch (err) {
      if (err.code === 'cost_changed') {
        this.setMessage(t('taskHintChanged', { message: err.message }), 'error');
        try {
          const fresh = await api.lesson(this.opts.lessonId);
          const mine = fresh && fresh.lesson && fresh.lesson.tasks.find((x) => x.id === this.task.id);
          if (mine) this.task = { ...this.task, ...mine };
        } catch (_) {
          // The message above already says what happened.
        }
        this.render();
      } else {
        this.setMessage(t('taskHintFailed', { message: err.message }), 'error');
      }
    } finally {
      this.hintBusy = false;
      this.hintButton.disabled = false;
    }
  }

  render() {
    const task = this.task;
    this.renderHints();
    this.element.dataset.solved = task.solved ? 'true' : 'false';
    this.state.textContent = task.solved
      ? t('taskSolved', { n: task.earned != null ? task.earned : task.points })
      : task.attempts
        ? t('taskAttempts', { n: task.attempts })
        : '';
    if (task.solved) {
      this.button.disabled = true;
      if (this.input) this.input.disabled = true;
    }
  }

  setMessage(text, kind) {
    this.msg.textContent = text;
    this.msg.dataset.kind = kind || '';
  }

  async submit(e) {
    e.preventDefault();
    if (this.task.solved || this.busy) return;
    let body = {};
    if (this.input) {
      const answer = this.input.value.trim();
      if (!answer) {
        this.setMessage(t('taskEmpty'), 'error');
        this.input.focus();
        return;
      }
      body = { answer };
    }
    this.busy = true;
    this.button.disabled = true;
    this.setMessage(t('taskChecking'), '');
    try {
      const res = await api.answer(this.opts.lessonId, this.task.id, body);
      if (res.task) this.task = { ...this.task, ...res.task };
      if (this.input) this.input.removeAttribute('aria-invalid');
      if (res.correct) {
        this.task.solved = true;
        this.setMessage(
          t('taskCorrect', { n: this.task.earned != null ? this.task.earned : this.task.points }),
          'ok',
        );
      } else if (this.task.kind === 'check') {
        this.setMessage(res.feedback || t('taskNotYet'), 'error');
      } else {
        this.setMessage(
          res.feedback ? t('taskWrongFeedback', { feedback: res.feedback }) : t('taskWrong'),
          'error',
        );
        if (this.input) {
          this.input.setAttribute('aria-invalid', 'true');
          this.input.select();
        }
      }
      if (this.opts.onScore && typeof res.score === 'number') this.opts.onScore(res.score, res.points);
    } catch (err) {
      if (err.status === 429 || err.code === 'too_many_attempts') this.setMessage(t('taskTooMany'), 'error');
      else this.setMessage(t('taskFailed', { message: err.message }), 'error');
    } finally {
      this.busy = false;
      this.button.disabled = !!this.task.solved;
      if (this.task.solved && this.input) {
        this.input.removeAttribute('aria-invalid');
      }
      this.render();
    }
  }
}
