// auth.js -- who is signed in: the join form, the teacher login, the header
// (name, lab credentials, log out) and the one-time rejoin code.
//
//   POST /api/join {"name","class_code"?,"rejoin_code"?}
//     -> 201 {"user","lab","rejoin_code"}; 400 invalid_name,
//        403 bad_class_code, 409 name_taken
//   POST /api/teacher/login {"password"} -> 200 {"user"}; 401 wrong
//   POST /api/logout -> 204
//   GET /api/me -> 200 {"user","lab"|null}; 401 unauthorized

import { t } from './strings.js';
import { api } from './api.js';
import { setFieldError } from './dom.js';

export const NAME_RE = /^[A-Za-z0-9_.-]{1,32}$/;

const $ = (id) => document.getElementById(id);

// Wires the join and teacher forms once. onSignedIn({user, lab}, rejoinCode)
// runs after a successful join or login (rejoinCode only after a join).
export function initJoinForms(onSignedIn) {
  const form = $('join-form');
  const name = $('join-name');
  const cls = $('join-class');
  const rejoin = $('join-rejoin');
  const nameErr = $('join-name-err');
  const clsErr = $('join-class-err');
  const rejoinErr = $('join-rejoin-err');
  const formErr = $('join-error');
  const submit = $('join-submit');

  const clearErrors = () => {
    setFieldError(name, nameErr, '');
    setFieldError(cls, clsErr, '');
    setFieldError(rejoin, rejoinErr, '');
    formErr.hidden = true;
  };

  name.addEventListener('input', () => {
    if (name.getAttribute('aria-invalid') && NAME_RE.test(name.value.trim())) {
      setFieldError(name, nameErr, '');
    }
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    const body = { name: name.value.trim() };
    if (!NAME_RE.test(body.name)) {
      setFieldError(name, nameErr, t('nameInvalid'));
      name.focus();
      return;
    }
    if (cls.value.trim()) body.class_code = cls.value.trim();
    if (rejoin.value.trim()) body.rejoin_code = rejoin.value.trim();

    submit.disabled = true;
    submit.textContent = t('joining');
    try {
      const res = await api.join(body);
      form.reset();
      onSignedIn({ user: res.user, lab: res.lab || null }, res.rejoin_code || null);
    } catch (err) {
      if (err.code === 'invalid_name') {
        setFieldError(name, nameErr, t('nameInvalid'));
        name.focus();
      } else if (err.code === 'bad_class_code') {
        setFieldError(cls, clsErr, t('classCodeWrong'));
        cls.focus();
      } else if (err.code === 'name_taken' || err.status === 409) {
        setFieldError(rejoin, rejoinErr, t('nameTaken'));
        rejoin.focus();
      } else {
        formErr.textContent = err.message;
        formErr.hidden = false;
      }
    } finally {
      submit.disabled = false;
      submit.textContent = t('joinButton');
    }
  });

  const tform = $('teacher-form');
  const pw = $('teacher-password');
  const pwErr = $('teacher-err');
  const tsubmit = $('teacher-submit');
  tform.addEventListener('submit', async (e) => {
    e.preventDefault();
    setFieldError(pw, pwErr, '');
    if (!pw.value) {
      setFieldError(pw, pwErr, t('passwordMissing'));
      pw.focus();
      return;
    }
    tsubmit.disabled = true;
    try {
      const res = await api.teacherLogin(pw.value);
      tform.reset();
      onSignedIn({ user: res.user, lab: res.lab || null }, null);
    } catch (err) {
      setFieldError(pw, pwErr, err.status === 401 ? t('teacherPasswordWrong') : err.message);
      pw.focus();
    } finally {
      tsubmit.disabled = false;
    }
  });
}

// Shows the join view; notice is an optional line above the form (e.g.
// "you are signed out").
export function showJoin(notice) {
  $('join-view').hidden = false;
  const n = $('join-notice');
  n.textContent = notice || '';
  n.hidden = !notice;
  $('join-name').focus();
}

export function hideJoin() {
  $('join-view').hidden = true;
}

let credsHidden = false;

function renderCreds() {
  const btn = $('creds-toggle');
  const pw = $('lab-password');
  pw.textContent = credsHidden ? t('hiddenValue') : pw.dataset.value || '';
  btn.textContent = credsHidden ? t('showCredentials') : t('hideCredentials');
  btn.setAttribute('aria-pressed', credsHidden ? 'true' : 'false');
}

// Fills the header for a signed-in user: {user:{name, role}, lab|null}.
// onLogout runs after the server has ended the login.
export function showHeader(me, onLogout) {
  const who = $('who');
  const role = me.user.role === 'teacher' ? t('roleTeacher') : t('roleStudent');
  who.textContent = t('signedInAs', { name: me.user.name }) + ' (' + role + ')';
  who.hidden = false;

  const creds = $('creds');
  if (me.lab && me.lab.user) {
    $('lab-user').textContent = me.lab.user;
    $('lab-password').dataset.value = me.lab.password || '';
    renderCreds();
    creds.hidden = false;
  } else {
    creds.hidden = true;
  }

  const logout = $('logout');
  logout.hidden = false;
  logout.onclick = async () => {
    logout.disabled = true;
    try {
      await api.logout();
      onLogout();
    } catch (err) {
      if (err.status === 401) onLogout();
      else showGlobalError(t('logoutFailed', { message: err.message }));
    } finally {
      logout.disabled = false;
    }
  };
}

export function hideHeader() {
  $('who').hidden = true;
  $('creds').hidden = true;
  $('logout').hidden = true;
  $('lab-password').dataset.value = '';
  $('lab-password').textContent = '';
  $('rejoin').hidden = true;
}

// The header's hide/show toggle for the lab password (for projectors).
export function initCredsToggle() {
  $('creds-toggle').addEventListener('click', () => {
    credsHidden = !credsHidden;
    renderCreds();
  });
}

// Shows the rejoin code once, prominently, until dismissed.
export function showRejoinCode(code) {
  const box = $('rejoin');
  $('rejoin-code').textContent = code;
  box.hidden = false;
  box.focus();
  $('rejoin-dismiss').onclick = () => {
    box.hidden = true;
    $('rejoin-code').textContent = '';
    $('main').focus();
  };
}

export function showGlobalError(text) {
  const el = $('global-error');
  el.textContent = text || '';
  el.hidden = !text;
}
