// The first-boot wizard: one screen per step at phone size (Wi-Fi, admin password, clock, upload
// target, upload policy, summary), then the recorder leaves its access point for the chosen
// network. Errors from the recorder come back with the field they concern and send the person
// to that step.

import { get, post } from './api.js';
import { clock, dayAndClock, el } from './format.js';
import * as remoteForm from './remote-form.js';

const $ = (id) => document.getElementById(id);
const STEPS = ['wifi', 'admin', 'clock', 'upload', 'policy', 'summary'];
// Which step a field belongs to, for errors from the recorder.
const STEP_OF = { wifi: 'wifi', admin_password: 'admin', time_utc_ms: 'clock', upload: 'upload', policy: 'policy' };

let view = null;
let step = 0;
let clockTimer = null;
let bound = false;
// After the submit: how often and how long the page asks whether the join failed (the access
// point comes back with the reason; the phone rejoins it by itself). Longer than the recorder's
// join limit plus its scan and access point start.
const OUTCOME_POLL_MS = 2000;
const OUTCOME_POLLS = 60;

export function show(setupView) {
  view = setupView;
  bind();
  $('page-setup').hidden = false;
  $('setup-done-ap').textContent = view.ap_ssid || '';
  $('setup-admin-kept').hidden = !view.admin_password_set;
  const last = $('setup-last-error');
  last.hidden = !view.last_error;
  last.textContent = view.last_error ? `The last attempt to join failed: ${view.last_error}` : '';
  renderNetworks();
  clearInterval(clockTimer);
  clockTimer = setInterval(() => { $('setup-clock').textContent = dayAndClock(Date.now()); }, 500);
  $('setup-clock').textContent = dayAndClock(Date.now());
  goTo(0);
}

function bind() {
  if (bound) return;
  bound = true;
  $('setup-form').addEventListener('submit', (e) => { e.preventDefault(); next(); });
  $('setup-back').addEventListener('click', () => goTo(Math.max(0, neighbour(step, -1))));
  $('setup-skip').addEventListener('click', () => { $('setup-kind').value = ''; renderUploadFields(); goTo(neighbour(step, 1)); });
  $('setup-rescan').addEventListener('click', rescan);
  remoteForm.fillKinds($('setup-kind'));
  $('setup-kind').addEventListener('change', renderUploadFields);
  $('setup-test-upload').addEventListener('click', testUpload);
  for (const radio of document.querySelectorAll('#setup-form input[name=policy]')) {
    radio.addEventListener('change', () => { $('setup-window-label').hidden = policy() !== 'window'; });
  }
  $('setup-window-label').hidden = true;
}

// The step before or after `index`: "When to upload" is no question while uploads go nowhere.
function neighbour(index, by) {
  let to = index + by;
  if (STEPS[to] === 'policy' && !$('setup-kind').value) to += by;
  return to;
}

function goTo(index) {
  step = index;
  const name = STEPS[step] || 'done';
  for (const node of document.querySelectorAll('#setup-form .step')) {
    node.classList.toggle('on', node.dataset.step === name);
  }
  $('setup-step-count').textContent = step < STEPS.length ? `Step ${step + 1} of ${STEPS.length}` : '';
  $('setup-back').hidden = step === 0 || name === 'done';
  $('setup-skip').hidden = name !== 'upload';
  $('setup-next').hidden = name === 'done';
  $('setup-next').textContent = name === 'summary' ? 'Finish setup' : 'Next';
  if (name === 'summary') renderSummary();
  const first = document.querySelector(`#setup-form .step.on input:not([type=radio]), #setup-form .step.on select`);
  if (first && name !== 'wifi') first.focus();
}

function errorSlot(key) {
  return document.querySelector(`#setup-form [data-error="${key}"]`);
}

function clearErrors() {
  for (const p of document.querySelectorAll('#setup-form [data-error]')) p.textContent = '';
  $('setup-error').textContent = '';
}

function showFieldError(field, message) {
  const key = ['upload.policy', 'upload.window'].includes(field) ? 'policy' : (field || '').split('.')[0];
  const stepName = STEP_OF[key];
  if (stepName) goTo(STEPS.indexOf(stepName));
  const slot = errorSlot(key);
  if (slot) slot.textContent = message;
  else $('setup-error').textContent = message;
}

// ---- step checks (the recorder checks again; these only save a round trip) ----

function chosenSsid() {
  const picked = document.querySelector('#setup-networks input:checked');
  if (!picked) return '';
  return picked.value === '' ? $('setup-ssid').value.trim() : picked.value;
}

function check(name) {
  if (name === 'wifi') {
    const ssid = chosenSsid();
    if (!ssid) return ['wifi', 'Choose your network, or pick "Other network" and type its name.'];
    const pw = $('setup-wifi-password').value;
    const secured = (view.networks || []).some((n) => n.ssid === ssid && n.secured);
    if (!pw && secured) return ['wifi', `${ssid} is protected by a password: type its Wi-Fi password.`];
    if (pw && (pw.length < 8 || pw.length > 63)) return ['wifi', 'A Wi-Fi password has 8 to 63 characters.'];
  }
  if (name === 'admin') {
    const a = $('setup-admin').value;
    const b = $('setup-admin-again').value;
    if (!a && view.admin_password_set) return null;
    if (a.length < 8) return ['admin_password', 'Use at least 8 characters.'];
    if (a !== b) return ['admin_password', 'The two passwords differ.'];
  }
  if (name === 'policy' && policy() === 'window' && !/^\s*\d\d:\d\d\s*-\s*\d\d:\d\d\s*$/.test($('setup-window').value)) {
    return ['policy', 'Write the window as 01:00-05:00.'];
  }
  return null;
}

function next() {
  clearErrors();
  const name = STEPS[step];
  const problem = check(name);
  if (problem) {
    errorSlot(problem[0]).textContent = problem[1];
    return;
  }
  if (name === 'summary') submit();
  else goTo(neighbour(step, 1));
}

// ---- Wi-Fi ----

function bars(dbm) {
  if (dbm >= -55) return 'strong';
  if (dbm >= -70) return 'good';
  return 'weak';
}

function renderNetworks() {
  const items = (view.networks || []).map((n, i) => el('li', {},
    el('label', {},
      el('input', { type: 'radio', name: 'ssid', value: n.ssid, checked: i === 0 && !view.station_ssid ? true : n.ssid === view.station_ssid }),
      el('span', { class: 'name', text: n.ssid }),
      el('span', { class: 'signal', text: `${n.secured ? '🔒 ' : ''}${bars(n.signal_dbm)}` }))));
  const other = el('li', {}, el('label', {},
    el('input', { type: 'radio', name: 'ssid', value: '' }),
    el('span', { class: 'name', text: 'Other network (hidden)' })));
  items.push(other);
  $('setup-networks').replaceChildren(...items);
  for (const radio of document.querySelectorAll('#setup-networks input')) {
    radio.addEventListener('change', () => { $('setup-ssid-label').hidden = radio.value !== '' || !radio.checked; });
  }
  const hidden = !(view.networks || []).length;
  if (hidden) other.querySelector('input').checked = true;
  $('setup-ssid-label').hidden = !hidden;
  $('setup-scan-note').textContent = view.scanned_unix_ms ? `scanned ${clock(view.scanned_unix_ms)}` : '';
}

async function rescan() {
  $('setup-scan-note').textContent = 'Scanning… the phone may drop off the recorder\'s Wi-Fi for a moment.';
  try {
    await post('/api/setup/scan');
    // The scan takes a few seconds; the list is read again after it.
    for (let i = 0; i < 10; i += 1) {
      await new Promise((r) => setTimeout(r, 1500));
      try {
        const fresh = await get('/api/setup');
        if (fresh.scanned_unix_ms !== view.scanned_unix_ms) {
          view = fresh;
          renderNetworks();
          return;
        }
      } catch { /* the access point is coming back */ }
    }
    $('setup-scan-note').textContent = 'No new list yet; try again.';
  } catch (err) {
    $('setup-scan-note').textContent = err.message;
  }
}

// ---- upload ----

function renderUploadFields() {
  const kind = $('setup-kind').value;
  remoteForm.render($('setup-upload-fields'), $('setup-authorize'), kind, view.authorize);
  $('setup-test-upload').hidden = !kind;
  $('setup-test-result').textContent = '';
}

function uploadSpec() {
  return remoteForm.read($('setup-upload-fields'), $('setup-kind').value);
}

async function testUpload() {
  const button = $('setup-test-upload');
  button.disabled = true;
  $('setup-test-result').textContent = 'Testing…';
  errorSlot('upload').textContent = '';
  try {
    await post('/api/setup/test-upload', { upload: uploadSpec() });
    $('setup-test-result').textContent = 'It works: a test file was written and deleted.';
  } catch (err) {
    $('setup-test-result').textContent = '';
    errorSlot('upload').textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

// ---- policy, summary, submit ----

function policy() {
  const picked = document.querySelector('#setup-form input[name=policy]:checked');
  return picked ? picked.value : 'immediate';
}

function renderSummary() {
  const spec = uploadSpec();
  const rows = [
    ['Wi-Fi', chosenSsid()],
    ['Admin password', $('setup-admin').value ? 'new' : 'unchanged'],
    ['Clock', dayAndClock(Date.now())],
    ['Upload to', spec ? `${$('setup-kind').selectedOptions[0].textContent}${spec.path ? ` / ${spec.path}` : ''}` : 'nowhere'],
    ['When', spec ? { immediate: 'as soon as saved', window: `at night ${$('setup-window').value}`, manual: 'when I press UPLOAD' }[policy()] : '–'],
  ];
  $('setup-summary').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

async function submit() {
  const button = $('setup-next');
  button.disabled = true;
  const body = {
    wifi: { ssid: chosenSsid(), password: $('setup-wifi-password').value, hidden: document.querySelector('#setup-networks input:checked')?.value === '' },
    admin_password: $('setup-admin').value || null,
    time_utc_ms: Date.now(),
    upload: uploadSpec(),
    policy: policy(),
    window: policy() === 'window' ? $('setup-window').value.trim() : null,
  };
  try {
    const { joining } = await post('/api/setup', body);
    $('setup-done-ssid').textContent = joining;
    $('setup-done-state').textContent = 'The recorder is leaving its own Wi-Fi to try it…';
    clearInterval(clockTimer);
    goTo(STEPS.length);
    awaitOutcome(joining);
  } catch (err) {
    if (err.field) showFieldError(err.field, err.message);
    else $('setup-error').textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

// The recorder tries the network and saves the wizard only once it has joined. If it cannot, its
// access point comes back with the reason: the phone rejoins it, this page finds the wizard again
// and sends the owner back to the Wi-Fi step with the reason. While the recorder is away the
// requests fail; that is the normal case. Meanwhile the page counts the seconds, and when the
// recorder has not answered within the limit it says what that means.
async function awaitOutcome(ssid) {
  const started = Date.now();
  const state = $('setup-done-state');
  const limitS = Math.round((OUTCOME_POLL_MS * OUTCOME_POLLS) / 1000);
  const tick = () => {
    const s = Math.round((Date.now() - started) / 1000);
    state.textContent = `Trying to join ${ssid}… ${s} s (a join takes up to a minute; this page waits ${limitS} s).`;
    $('setup-join-progress').value = Math.min(1, s / limitS);
  };
  $('setup-join-progress').hidden = false;
  tick();
  const timer = setInterval(tick, 1000);
  try {
    for (let i = 0; i < OUTCOME_POLLS; i += 1) {
      await new Promise((r) => setTimeout(r, OUTCOME_POLL_MS));
      let fresh;
      try {
        // /api/session answers even once setup is closed, so joining makes no failed request.
        const session = await get('/api/session');
        if (!session.setup) {
          state.textContent = `The recorder joined ${ssid} and setup is finished. Connect this phone to ${ssid} and open http://moment.local.`;
          return;
        }
        fresh = await get('/api/setup');
      } catch {
        continue;
      }
      if (fresh.mode === 'ap' && fresh.last_error) {
        view = fresh;
        renderNetworks();
        const last = $('setup-last-error');
        last.hidden = false;
        last.textContent = `The recorder could not join ${ssid}: ${fresh.last_error}. Nothing was saved; check the network and its password and try again.`;
        goTo(0);
        return;
      }
    }
    state.textContent = `No word from the recorder for ${limitS} s. Most likely it joined ${ssid} and this phone is still on the recorder's own Wi-Fi, `
      + `which is gone: connect this phone to ${ssid} and open http://moment.local. If the recorder could not join, its own Wi-Fi `
      + `${view.ap_ssid || ''} comes back; join it and reload this page to see why.`;
  } finally {
    clearInterval(timer);
    $('setup-join-progress').hidden = true;
  }
}
