// The Firmware part of the settings: which system runs in which slot, and a signed update (a RAUC
// bundle) uploaded from this browser and installed into the other slot, followed on one progress
// bar: the upload's own progress, then the install's from the live status (`update`). Also the
// notice at the top of the app when an update came up healthy or was rolled back.

import { get, post, upload } from './api.js';
import { confirmDialog, onStatus } from './app.js';
import { bytes, dayAndClock, percent } from './format.js';

const $ = (id) => document.getElementById(id);
const DISMISSED = 'moment.update-notice-dismissed';
let info = null; // GET /api/update; null while unread or when the recorder has no updates
let update = null; // the live status's `update`; null from a recorder without it
let sending = null; // { percent } while this page uploads a bundle
let watching = false; // this page started an install and waits for its end ...
let watchFrom = null; // ... the next `last` other than this one (by its time)
let rebooting = false;

const atOf = (last) => (last ? last.at_ms : null);

export function init() {
  $('firmware-card').addEventListener('submit', install);
  $('update-file').addEventListener('change', () => {
    $('update-error').textContent = '';
    render();
  });
  $('update-reboot').addEventListener('click', reboot);
  $('update-notice-dismiss').addEventListener('click', () => {
    try { localStorage.setItem(DISMISSED, String(atOf(update && update.last))); } catch { /* private mode */ }
    $('update-notice').hidden = true;
  });
  // Leaving the page would cut a long upload short.
  window.addEventListener('beforeunload', (e) => { if (sending) e.preventDefault(); });
  onStatus(statusChanged);
}

export async function show() {
  render();
  await load();
}

async function load() {
  $('firmware-unavailable').hidden = true;
  try {
    info = await get('/api/update');
    if (!info.available) unavailable(info.reason);
  } catch (err) {
    if (err.status === 401) return;
    info = null;
    // 404: a recorder whose software predates updates; 501: one without RAUC.
    if (err.status === 404) unavailable(null);
    else if (err.status === 501) unavailable(err.message);
    else {
      $('firmware-unavailable').textContent = `The firmware state cannot be read: ${err.message}`;
      $('firmware-unavailable').hidden = false;
    }
  }
  render();
}

function unavailable(reason) {
  const why = reason ? `: ${reason.replace(/\.$/, '')}` : '';
  $('firmware-unavailable').textContent = `Updates need RAUC, which this recorder does not run${why}.`;
  $('firmware-unavailable').hidden = false;
}

function statusChanged(s) {
  const before = update;
  update = s.update || null;
  if (!update) return;
  if (rebooting && !update.reboot_needed) rebooting = false;
  const ended = before && (atOf(before.last) !== atOf(update.last)
    || (before.operation !== 'idle' && update.operation === 'idle'));
  if (watching && update.operation === 'idle' && atOf(update.last) !== watchFrom) {
    watching = false;
    if (update.last && update.last.result === 'failed') {
      $('update-error').textContent = `The update was not installed: ${update.last.message}`;
    } else {
      $('update-file').value = '';
    }
  }
  // An install that ended (here or from another browser) changed the slots.
  if (ended) load();
  renderNotice();
  render();
}

// ---- what the slots hold ----

function slotText(slot) {
  const parts = [`Slot ${slot.bootname}`, slot.version || 'version unknown'];
  if (slot.state && slot.state !== 'booted') parts.push(slot.state);
  if (slot.boot_status === 'bad') parts.push('marked bad');
  if (info.primary_slot === slot.bootname && info.primary_slot !== info.booted_slot) parts.push('starts at the next boot');
  const at = slot.installed_at && Date.parse(slot.installed_at);
  if (at) parts.push(`installed ${dayAndClock(at)}`);
  return parts.join(' · ');
}

function renderSlots() {
  $('firmware-slots').hidden = !info;
  const slots = (info && info.slots || []).filter((s) => s.bootname);
  const booted = slots.find((s) => s.bootname === info.booted_slot) || slots.find((s) => s.state === 'booted');
  const others = slots.filter((s) => s !== booted);
  $('firmware-running').textContent = booted
    ? slotText(booted)
    : (info && info.booted_slot ? `Slot ${info.booted_slot}` : '–');
  $('firmware-other').textContent = others.length ? others.map(slotText).join('; ') : '–';
}

// ---- the form and its one progress bar ----

function installedText(last) {
  const what = last.version ? `Installed ${last.version}` : 'Installed the update';
  const where = last.slot ? `in slot ${last.slot}` : 'in the other slot';
  return `${what} ${where}. Reboot to use it.`;
}

// The progress bar's value (null: indeterminate) and its label, from what happens now.
function progressOf(op) {
  if (op === 'installing') {
    const p = update.progress;
    return [p ? p.percent : null, `Installing ${p ? p.percent : 0} %${p && p.message ? ` — ${p.message}` : ''}`];
  }
  if (sending) return [sending.percent, `Uploading ${sending.percent} %`];
  // The bundle is in and the live status has not caught up yet.
  if (watching) return [null, 'Installing…'];
  if (op === 'receiving') return [null, 'Receiving an update from another browser…'];
  if (rebooting) return [null, 'The recorder is restarting. This page reconnects when it is back (log in again if it asks).'];
  if (update && update.reboot_needed && update.last && update.last.result === 'installed') {
    return [100, installedText(update.last)];
  }
  return [null, ''];
}

function render() {
  renderSlots();
  const op = update ? update.operation : 'idle';
  const busy = Boolean(sending) || op !== 'idle' || rebooting;
  const usable = Boolean(info && info.available);
  $('update-file').disabled = !usable || busy;
  $('update-install').disabled = !usable || busy || !$('update-file').files.length;
  $('update-reboot').hidden = busy || !(update && update.reboot_needed);
  const [value, text] = progressOf(op);
  $('update-progress-box').hidden = !text;
  $('update-progress-text').textContent = text;
  const bar = $('update-progress');
  if (value === null) bar.removeAttribute('value');
  else bar.value = value;
}

async function install(event) {
  event.preventDefault();
  const file = $('update-file').files[0];
  $('update-error').textContent = '';
  if (!file || !info || !info.available) return;
  if (!file.size) {
    $('update-error').textContent = `${file.name} is empty.`;
    return;
  }
  if (info.max_bundle_bytes && file.size > info.max_bundle_bytes) {
    $('update-error').textContent = `${file.name} is ${bytes(file.size)}; the recorder takes bundles up to ${bytes(info.max_bundle_bytes)}.`;
    return;
  }
  watching = true;
  watchFrom = atOf(update && update.last);
  sending = { percent: 0 };
  render();
  try {
    await upload('/api/update', file, (sent, total) => {
      sending = { percent: percent(sent, total) };
      render();
    });
  } catch (err) {
    watching = false;
    $('update-error').textContent = err.message;
  } finally {
    sending = null;
    render();
  }
}

async function reboot() {
  const ok = await confirmDialog('Reboot the recorder now? Recording stops until it is back up.', 'Reboot');
  if (!ok) return;
  $('update-error').textContent = '';
  try {
    await post('/api/update/reboot');
    rebooting = true;
  } catch (err) {
    $('update-error').textContent = err.message;
  }
  render();
}

// ---- the outcome of the last update, after its reboot ----

function noticeOf(last) {
  if (!last) return null;
  const version = last.version || 'the new version';
  if (last.result === 'rolled_back') return { kind: 'warn', text: `The update to ${version} was rolled back: ${last.message}` };
  if (last.result === 'updated') return { kind: 'ok', text: `Updated to ${version}.` };
  return null;
}

function renderNotice() {
  const notice = noticeOf(update.last);
  const result = $('update-result');
  result.hidden = !notice;
  let dismissed = null;
  try { dismissed = localStorage.getItem(DISMISSED); } catch { /* private mode */ }
  $('update-notice').hidden = !notice || dismissed === String(atOf(update.last));
  if (!notice) return;
  result.className = `banner ${notice.kind}`;
  result.textContent = notice.text;
  $('update-notice').className = `banner ${notice.kind}`;
  $('update-notice-text').textContent = notice.text;
}
