// tasks.js -- one task widget in a lesson: the prompt, an answer field and
// Check (questions and flags) or "Check my work" (tasks checked from what
// happened on the lab servers), a hint on request, and the solved state.
//
//   POST /api/lessons/{id}/tasks/{task} {"answer"} or {}
//     -> {"correct","task":{…},"score","points"[,"feedback"]}; 429 too_many_attempts

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
    if (task.hint) {
      const hintId = uid('task-hint');
      const hintText = h('p', { id: hintId, class: 'task-hint', hidden: true, text: task.hint });
      const toggle = h('button', {
        type: 'button',
        class: 'small link-like',
        'aria-expanded': 'false',
        'aria-controls': hintId,
        text: t('taskShowHint'),
        onclick: () => {
          const open = hintText.hidden;
          hintText.hidden = !open;
          toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
          toggle.textContent = open ? t('taskHideHint') : t('taskShowHint');
        },
      });
      hintBox = h('div', { class: 'task-hint-box' }, toggle, hintText);
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

  render() {
    const task = this.task;
    this.element.dataset.solved = task.solved ? 'true' : 'false';
    this.state.textContent = task.solved
      ? t('taskSolved', { n: task.points })
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
        this.setMessage(t('taskCorrect', { n: this.task.points }), 'ok');
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
