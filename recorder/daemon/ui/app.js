// The app's frame: login, the page switcher, the live status stream every page reads, the
// activity bars (saves and uploads in progress), toasts and the one confirmation dialog. Pages
// live in their own modules and get the status through `onStatus`.

import { ApiError, get, post } from './api.js';
import { el, percent, bytes } from './format.js';
import * as live from './live.js';
import * as memories from './memories.js';
import * as statusPage from './status.js';
import * as settings from './settings.js';
import * as setup from './setup.js';

const pages = { live, memories, status: statusPage, settings };
const $ = (id) => document.getElementById(id);
const listeners = new Set();
let latest = null;
let events = null;
let current = null;
let started = false;

export function onStatus(fn) {
  listeners.add(fn);
  if (latest) fn(latest);
}

export function lastStatus() {
  return latest;
}

// `action`: an optional { text, run } shown as a button after the message (it stays longer).
export function toast(message, bad = false, action = null) {
  const node = el('div', { class: bad ? 'toast bad' : 'toast', role: bad ? 'alert' : 'status' },
    el('span', { text: message }));
  if (action) {
    node.append(' ', el('button', { type: 'button', class: 'link toast-action', text: action.text,
      onclick: () => { node.remove(); action.run(); } }));
  }
  $('toasts').append(node);
  while ($('toasts').children.length > 3) $('toasts').firstElementChild.remove();
  setTimeout(() => node.remove(), action ? 12000 : (bad ? 7000 : 4000));
}

// The settings card where each `setting` the recorder names in an error is fixed.
const SETTING_CARDS = { 'upload-target': 'target-card' };

// Opens the Settings page at the card for `setting` and puts the focus in it.
export function openSetting(setting) {
  location.hash = '#settings';
  route();
  const card = $(SETTING_CARDS[setting]);
  if (!card) return;
  card.scrollIntoView({ block: 'start' });
  card.querySelector('select, input, button')?.focus({ preventScroll: true });
}

export function confirmDialog(text, okLabel = 'Delete') {
  const dialog = $('confirm');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = 'cancel';
    dialog.showModal();
  });
}

// An error as a toast; one the recorder says is fixed in the settings links there.
export function showError(err) {
  if (err instanceof ApiError && err.setting && SETTING_CARDS[err.setting]) {
    toast(err.message, true, { text: 'Open Settings', run: () => openSetting(err.setting) });
    return;
  }
  toast(err instanceof ApiError ? err.message : String(err), true);
}

function publish(status) {
  latest = status;
  $('offline').hidden = true;
  renderHeader(status);
  for (const fn of listeners) {
    try { fn(status); } catch (e) { console.error(e); }
  }
}

function renderHeader(s) {
  const rec = $('rec');
  const state = s.recording.state;
  rec.dataset.state = state === 'recording' ? 'on' : 'off';
  $('rec-text').textContent = { recording: 'REC', 'waiting-for-camera': 'waiting for camera' }[state] || 'not recording';
  $('clock-banner').hidden = s.time.synced !== false || Math.abs(s.time.utc_us / 1000 - Date.now()) < 30000;
  const bars = [];
  const save = s.saves;
  if (save.in_progress) {
    const p = percent(save.bytes_done, save.bytes_total);
    bars.push(progress('save', `Saving a memory… ${p}%`, p));
  }
  const up = s.uploads && s.uploads.current;
  if (up) {
    const p = percent(up.bytes_done, up.bytes_total);
    const rate = up.rate_bps ? ` · ${bytes(up.rate_bps)}/s` : '';
    bars.push(progress('upload', `Uploading ${up.name} ${p}%${rate}`, p));
  }
  const sticks = (s.usb && s.usb.sticks) || [];
  for (const stick of sticks.filter((k) => k.state === 'copying')) {
    const p = percent(stick.bytes_done, stick.bytes_total);
    const done = stick.copied + stick.already_there;
    const what = stick.memories ? `${done} of ${stick.memories} memories · ${p}%` : 'looking at it';
    bars.push(progress('usb', `Copying to the USB stick: ${what}. Do not pull it out.`, p));
  }
  $('activity').replaceChildren(...bars);
  renderUsbBanner(sticks[sticks.length - 1]);
}

// The newest stick's outcome stays on show until it is pulled out: "can be pulled out", or why
// not everything was copied.
function renderUsbBanner(stick) {
  const banner = $('usb-banner');
  const shown = stick && (stick.state === 'ejected' || stick.state === 'failed');
  banner.hidden = !shown;
  if (!shown) return;
  banner.className = `banner ${stick.state === 'ejected' ? 'ok' : 'warn'}`;
  banner.dataset.state = stick.state;
  banner.textContent = `USB stick: ${stick.message}`;
}

function progress(kind, text, pct) {
  const fill = el('i');
  fill.style.width = `${pct}%`;
  return el('div', { class: `progress ${kind}`, 'data-progress': kind, role: 'progressbar', 'aria-valuenow': pct, 'aria-valuemin': 0, 'aria-valuemax': 100 },
    el('span', { text }), el('div', { class: 'bar' }, fill));
}

// The live status: SSE when it works; when the stream drops, one status request tells a dead
// session (login again) from a dead network (banner, EventSource retries by itself).
function openEvents() {
  closeEvents();
  events = new EventSource('/api/events');
  events.onmessage = (e) => {
    try { publish(JSON.parse(e.data)); } catch (err) { console.error(err); }
  };
  events.onerror = async () => {
    try {
      publish(await get('/api/status'));
      if (events && events.readyState === EventSource.CLOSED) setTimeout(openEvents, 3000);
    } catch (err) {
      if (err.status === 401 || err.status === 403) return;
      $('offline').hidden = false;
      if (events && events.readyState === EventSource.CLOSED) setTimeout(openEvents, 5000);
    }
  };
}

function closeEvents() {
  if (events) events.close();
  events = null;
}

function route() {
  if (!started) return;
  const name = (location.hash || '#live').slice(1);
  const page = pages[name] ? name : 'live';
  for (const [key, module] of Object.entries(pages)) {
    const active = key === page;
    $(`page-${key}`).hidden = !active;
    if (!active && current === key) module.hide?.();
  }
  for (const link of document.querySelectorAll('#tabs a')) {
    link.classList.toggle('on', link.dataset.page === page);
  }
  if (current !== page) {
    current = page;
    pages[page].show?.();
  }
}

function showLogin(message = '') {
  started = false;
  closeEvents();
  for (const [key, module] of Object.entries(pages)) {
    $(`page-${key}`).hidden = true;
    if (current === key) module.hide?.();
  }
  current = null;
  $('tabs').hidden = true;
  $('page-setup').hidden = true;
  $('page-login').hidden = false;
  $('login-error').textContent = message;
  $('login-password').focus();
}

// Where a visit starts, from /api/session (which never fails for want of a session): the setup
// wizard while it is open (after the login once a password exists), the login form, or the app.
// Asking this instead of trying /api/setup and /api/status keeps the console free of refusals.
async function enter() {
  const session = await get('/api/session');
  if (session.setup && (session.logged_in || !session.password_set)) {
    showSetup(await get('/api/setup'));
  } else if (!session.logged_in) {
    showLogin();
  } else {
    await start(await get('/api/status'));
  }
}

function showSetup(view) {
  started = false;
  closeEvents();
  $('page-login').hidden = true;
  $('tabs').hidden = true;
  $('rec-text').textContent = 'setup';
  setup.show(view);
}

async function start(status) {
  $('page-setup').hidden = true;
  $('page-login').hidden = true;
  $('tabs').hidden = false;
  started = true;
  publish(status);
  openEvents();
  route();
}

async function login(event) {
  event.preventDefault();
  const button = $('login-submit');
  button.disabled = true;
  $('login-error').textContent = '';
  try {
    await post('/api/login', { password: $('login-password').value });
    $('login-password').value = '';
    await enter();
  } catch (err) {
    let message = err.message;
    if (err.status === 401) message = 'Wrong password.';
    if (err.status === 429) message = `Too many wrong passwords. Try again in ${err.retryAfter || 30} s.`;
    $('login-error').textContent = message;
  } finally {
    button.disabled = false;
  }
}

async function setClockFromPhone() {
  try {
    const { applied } = await post('/api/time', { utc_ms: Date.now() });
    toast(applied ? 'The recorder now uses this phone\'s time.' : 'The recorder\'s clock is already set.');
  } catch (err) {
    showError(err);
  }
}

export async function logout() {
  try { await post('/api/logout'); } catch (err) { console.error(err); }
  showLogin();
}

// The header's height, for what floats just under it (the activity bars).
function measureHeader() {
  const header = document.querySelector('header.top');
  if (header) document.documentElement.style.setProperty('--header-h', `${header.offsetHeight}px`);
}

async function boot() {
  measureHeader();
  window.addEventListener('resize', measureHeader);
  for (const [key, module] of Object.entries(pages)) module.init?.($(`page-${key}`));
  $('login-form').addEventListener('submit', login);
  $('clock-set').addEventListener('click', setClockFromPhone);
  window.addEventListener('hashchange', route);
  window.addEventListener('moment:logged-out', () => showLogin('Your session ended. Log in again.'));
  try {
    await enter();
  } catch (err) {
    showLogin(err.status === 401 ? '' : err.message);
  }
}

boot();
