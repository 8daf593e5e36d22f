/* SPDX-License-Identifier: MIT */
// Operators (admins: add, role, disable/enable, reset password, last seen) and My profile
// (name and password).

import { el } from '../shared/dom.js';
import { apiFetch } from '../shared/api.js';
import { BASE, $, state, api, registerView, showError, flash, errorMessage } from './core.js';
import { timeAgo } from './logic.js';

// ---- operators ------------------------------------------------------------------------------

async function showOperators() {
  try {
    const r = await api('/api/operators');
    state.operators = (r && r.operators) || [];
    showError('op-error', '');
  } catch (e) {
    showError('op-error', errorMessage(e));
    return;
  }
  renderOperators();
}

function renderOperators() {
  const body = $('op-rows');
  body.textContent = '';
  for (const o of state.operators) body.appendChild(operatorRow(o));
}

function operatorRow(o) {
  const me = state.me && state.me.id === o.id;
  const role = el('select', {
    class: 'op-role', 'aria-label': `Role of ${o.name || o.email}`,
    on: { change: (e) => patch(o, { role: e.target.value }, 'Role changed.') },
  }, el('option', { value: 'operator', text: 'Operator' }), el('option', { value: 'admin', text: 'Admin' }));
  role.value = o.role;
  const pw = el('input', {
    type: 'password', class: 'op-pw', autocomplete: 'new-password', minlength: '10', hidden: true,
    'aria-label': `New password for ${o.name || o.email}`, placeholder: 'New password (10+)',
  });
  const pwBtn = el('button', {
    class: 'btn btn-small', type: 'button',
    on: {
      click: () => {
        if (pw.hidden) {
          pw.hidden = false;
          pwBtn.textContent = 'Set password';
          pw.focus();
          return;
        }
        if (pw.value.length < 10) {
          showError('op-error', 'A password has at least 10 characters.');
          pw.focus();
          return;
        }
        patch(o, { password: pw.value }, `Password of ${o.name || o.email} reset.`);
      },
    },
  }, 'Reset password');
  const toggle = el('button', {
    class: `btn btn-small${o.disabled ? '' : ' btn-danger-ghost'}`, type: 'button',
    on: { click: () => patch(o, { disabled: !o.disabled }, o.disabled ? 'Enabled.' : 'Disabled: every session ended.') },
  }, o.disabled ? 'Enable' : 'Disable');
  return el('tr', { 'data-operator-id': String(o.id), class: o.disabled ? 'disabled' : '' },
    el('th', { scope: 'row', text: `${o.name || '—'}${me ? ' (me)' : ''}` }),
    el('td', { 'data-label': 'Email', text: o.email }),
    el('td', { 'data-label': 'Role' }, role),
    el('td', { 'data-label': 'Status' }, el('span', { class: `pill ${o.disabled ? 'closed' : 'operator'}`, text: o.disabled ? 'Disabled' : 'Active' })),
    el('td', { class: 'op-seen', 'data-label': 'Last seen', text: timeAgo(o.last_seen_at), title: o.last_seen_at || '' }),
    el('td', { class: 'op-actions' }, toggle, pwBtn, pw));
}

async function patch(o, body, done) {
  try {
    const n = await api(`/api/operators/${o.id}`, { method: 'PATCH', body });
    const i = state.operators.findIndex((x) => x.id === o.id);
    if (i >= 0) state.operators[i] = n;
    showError('op-error', '');
    renderOperators();
    flash('op-status', done);
  } catch (e) {
    showError('op-error', e.status === 409 ? `${errorMessage(e)} (the last active admin stays)` : errorMessage(e));
    renderOperators();
  }
}

async function onAdd(e) {
  e.preventDefault();
  const body = {
    email: $('op-email').value.trim(), name: $('op-name').value.trim(),
    role: $('op-role').value, password: $('op-password').value,
  };
  if (!body.email || !body.name) {
    showError('op-form-error', 'Give an email and a name.');
    return;
  }
  if (body.password.length < 10) {
    showError('op-form-error', 'The password needs at least 10 characters.');
    $('op-password').focus();
    return;
  }
  try {
    const o = await api('/api/operators', { body });
    state.operators.push(o);
    renderOperators();
    showError('op-form-error', '');
    $('op-form').reset();
    flash('op-status', `${o.name} added.`);
  } catch (ex) {
    showError('op-form-error', ex.status === 409 ? 'An operator with this email exists already.' : errorMessage(ex));
  }
}

// ---- my profile ---------------------------------------------------------------------------

function showProfile() {
  const me = state.me || {};
  $('profile-email').textContent = me.email || '';
  $('profile-role').textContent = me.role || '';
  $('pf-name').value = me.name || '';
  $('pf-password').value = '';
  $('pf-current').value = '';
  showError('profile-error', '');
}

async function onProfile(e) {
  e.preventDefault();
  const name = $('pf-name').value.trim();
  const password = $('pf-password').value;
  const current = $('pf-current').value;
  if (!current) {
    showError('profile-error', 'Enter your current password to save.');
    $('pf-current').focus();
    return;
  }
  if (password && password.length < 10) {
    showError('profile-error', 'The new password needs at least 10 characters.');
    $('pf-password').focus();
    return;
  }
  const body = { current_password: current };
  if (name) body.name = name;
  if (password) body.password = password;
  try {
    // Not api(): a wrong current password may answer 401, which must not sign out.
    const me = await apiFetch(BASE, '/api/me', { method: 'PATCH', body, token: state.token });
    state.me = { ...state.me, ...(me || {}) };
    $('me').textContent = state.me.name || state.me.email || '';
    showProfile();
    flash('profile-status', 'Saved.');
  } catch (ex) {
    showError('profile-error', `Not saved: ${errorMessage(ex)}`);
  }
}

export function initPeople() {
  registerView('operators', showOperators);
  registerView('profile', showProfile);
  $('op-form').addEventListener('submit', onAdd);
  $('profile-form').addEventListener('submit', onProfile);
}
