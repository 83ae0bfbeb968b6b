// The settings page: a form over GET/PUT /api/settings. Only what changed is sent; a value the
// recorder refuses is shown next to its field with the recorder's own explanation.

import { get, post, put } from './api.js';
import { lastStatus, logout, showError } from './app.js';
import { el } from './format.js';
import * as firmware from './firmware.js';
import * as remoteForm from './remote-form.js';

const $ = (id) => document.getElementById(id);
let loaded = null;

export function init() {
  $('settings-form').addEventListener('submit', save);
  $('logout').addEventListener('click', logout);
  $('network-ssid').addEventListener('change', () => { $('network-other-label').hidden = $('network-ssid').value !== ''; });
  $('network-join').addEventListener('click', join);
  remoteForm.fillKinds($('target-kind'));
  $('target-kind').addEventListener('change', () => {
    const kind = $('target-kind').value;
    remoteForm.render($('target-fields'), $('target-authorize'), kind);
    $('target-test').disabled = !kind;
    $('target-save').disabled = !kind;
    $('target-result').textContent = '';
  });
  $('target-test').addEventListener('click', () => target('test'));
  $('target-save').addEventListener('click', () => target('save'));
  firmware.init();
}

// ---- Wi-Fi (only when the recorder runs the network) ----

// The status says whether the recorder runs the network; when it does not, /api/network does not
// exist and is not asked.
async function showNetwork() {
  const mode = lastStatus()?.network?.mode;
  if (!mode || mode === 'unmanaged') {
    $('network-card').hidden = true;
    return;
  }
  let net;
  try {
    net = await get('/api/network');
  } catch {
    $('network-card').hidden = true;
    return;
  }
  $('network-card').hidden = false;
  $('network-ap').textContent = net.ap_ssid || '';
  const now = { station: `Connected to ${net.station_ssid} (${net.address || 'no address yet'})`, joining: `Joining ${net.station_ssid}…`, ap: `Access point ${net.ap_ssid} (setup)` }[net.mode] || net.mode;
  $('network-now').textContent = net.last_error ? `${now}. Last problem: ${net.last_error}` : now;
  const names = (net.networks || []).map((n) => n.ssid);
  if (net.station_ssid && !names.includes(net.station_ssid)) names.unshift(net.station_ssid);
  $('network-ssid').replaceChildren(
    ...names.map((n) => el('option', { value: n, text: n, selected: n === net.station_ssid })),
    el('option', { value: '', text: 'Other network…' }));
  $('network-other-label').hidden = names.length > 0;
}

async function join() {
  const ssid = $('network-ssid').value || $('network-other').value.trim();
  document.querySelector('[data-error="network"]').textContent = '';
  try {
    await post('/api/network/join', { ssid, password: $('network-password').value, hidden: $('network-ssid').value === '' });
    $('network-result').textContent = `Joining ${ssid}…`;
  } catch (err) {
    document.querySelector('[data-error="network"]').textContent = err.message;
  }
}

// ---- upload target ----

async function target(action) {
  const spec = remoteForm.read($('target-fields'), $('target-kind').value);
  const slot = document.querySelector('[data-error="target"]');
  slot.textContent = '';
  $('target-result').textContent = action === 'test' ? 'Testing…' : 'Saving…';
  try {
    if (action === 'test') {
      await post('/api/upload-target/test', spec);
      $('target-result').textContent = 'It works: a test file was written and deleted.';
    } else {
      const { remote } = await put('/api/upload-target', spec);
      $('target-result').textContent = `Saved: memories go to ${remote}.`;
      $('target-now').textContent = `Now: ${remote}`;
    }
  } catch (err) {
    $('target-result').textContent = '';
    slot.textContent = err.message;
  }
}

export async function show() {
  clearErrors();
  $('settings-saved').textContent = '';
  firmware.show();
  try {
    loaded = await get('/api/settings');
    fill(loaded);
    $('target-now').textContent = loaded.upload.remote ? `Now: ${loaded.upload.remote}` : 'Now: none (memories stay on the recorder)';
    showNetwork();
    $('settings-unavailable').hidden = true;
    $('settings-save').disabled = false;
  } catch (err) {
    if (err.status === 401) return;
    $('settings-unavailable').textContent = `Settings cannot be read: ${err.message}`;
    $('settings-unavailable').hidden = false;
    $('settings-save').disabled = true;
  }
}

function fields() {
  return [...document.querySelectorAll('#settings-form [data-field]')];
}

function valueOf(settings, path) {
  const [section, key] = path.split('.');
  const s = settings[section];
  if (!s) return undefined;
  if (path === 'video.size') return `${s.width}x${s.height}`;
  return s[key];
}

function fill(settings) {
  $('video-settings').hidden = !settings.video;
  // A size from the configuration file that the list does not offer stays choosable.
  const size = settings.video && `${settings.video.width}x${settings.video.height}`;
  const select = document.querySelector('[data-field="video.size"]');
  if (size && ![...select.options].some((o) => o.value === size)) {
    select.append(new Option(`${size.replace('x', ' × ')} (current)`, size));
  }
  for (const input of fields()) {
    const value = valueOf(settings, input.dataset.field);
    input.value = value === undefined || value === null ? '' : String(value);
  }
}

// The changed fields as a partial settings object.
function patch() {
  const out = {};
  for (const input of fields()) {
    const path = input.dataset.field;
    const [section, key] = path.split('.');
    if (section === 'video' && !loaded.video) continue;
    const before = valueOf(loaded, path);
    const raw = input.value.trim();
    if (raw === String(before ?? '')) continue;
    out[section] = out[section] || {};
    if (path === 'video.size') {
      const [w, h] = raw.split('x').map(Number);
      out.video.width = w;
      out.video.height = h;
    } else if (input.type === 'number') {
      out[section][key] = raw === '' ? null : Number(raw);
    } else {
      out[section][key] = raw;
    }
  }
  return out;
}

function clearErrors() {
  for (const p of document.querySelectorAll('#settings-form [data-error]')) p.textContent = '';
  for (const input of fields()) input.removeAttribute('aria-invalid');
  $('settings-error').textContent = '';
}

// The field the recorder names, as the page shows it: its input (video.width and video.height
// are one "Picture size" choice) and the words of its label.
function fieldOf(name) {
  const path = name === 'video.width' || name === 'video.height' ? 'video.size' : name;
  const input = document.querySelector(`#settings-form [data-field="${CSS.escape(path)}"]`);
  const label = input && input.closest('label');
  const words = label ? label.firstChild.textContent.trim() : null;
  return { input, words };
}

// The recorder's message in the page's words: the API names fields by their keys
// ("memories.save_minutes must be ..."), which mean nothing to the person at the form.
function plain(message, field) {
  let text = message;
  if (field && text.startsWith(`${field} `)) text = `This ${text.slice(field.length + 1)}`;
  text = text.replace(/\b(?:memories|upload|video|web|network|buttons|source|usb|update)\.[a-z_]+\b/g, (key) => {
    const { words } = fieldOf(key);
    return words ? `"${words}"` : 'a setting';
  });
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// A refusal next to its field, on screen, with the focus in the field and the person's input
// left as it was; one without a field goes next to the Save button.
function showRefusal(err) {
  const slotName = err.field === 'video.height' ? 'video.width' : err.field;
  const slot = slotName && document.querySelector(`#settings-form [data-error="${CSS.escape(slotName)}"]`);
  const { input } = err.field ? fieldOf(err.field) : { input: null };
  const target = slot || $('settings-error');
  target.textContent = plain(err.message, err.field);
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus({ preventScroll: true });
  }
  (input || target).scrollIntoView({ block: 'center' });
  target.scrollIntoView({ block: 'nearest' });
}

async function save(event) {
  event.preventDefault();
  clearErrors();
  if (!loaded) return;
  const body = patch();
  if (!Object.keys(body).length) {
    $('settings-saved').textContent = 'Nothing changed.';
    return;
  }
  $('settings-save').disabled = true;
  try {
    loaded = await put('/api/settings', body);
    fill(loaded);
    $('settings-saved').textContent = 'Saved.';
  } catch (err) {
    if (err.field || err.status === 400) showRefusal(err);
    else showError(err);
  } finally {
    $('settings-save').disabled = false;
  }
}
