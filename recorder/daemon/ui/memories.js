// The memories page: every saved memory with its time, length, size and upload state; play it in
// the page, download it, upload it now, or delete it after a confirmation that says whether it
// exists anywhere else.

import { del, get, post } from './api.js';
import { confirmDialog, onStatus, showError, toast } from './app.js';
import { bytes, dayAndClock, duration, el, percent } from './format.js';

const $ = (id) => document.getElementById(id);
let visible = false;
let list = [];
let uploading = null;
let seen = { saves: null, uploads: null, usb: null };
let poller = null;

export function init() {
  onStatus(statusChanged);
}

export function show() {
  visible = true;
  refresh();
  poller = setInterval(refresh, 15000);
}

export function hide() {
  visible = false;
  clearInterval(poller);
  for (const v of document.querySelectorAll('#memories-list video')) v.pause();
}

async function refresh() {
  try {
    list = await get('/api/memories');
    render();
  } catch (err) {
    if (err.status !== 401) showError(err);
  }
}

function statusChanged(s) {
  const current = s.uploads && s.uploads.current;
  const next = current ? { name: current.name, pct: percent(current.bytes_done, current.bytes_total) } : null;
  const changed = JSON.stringify(next) !== JSON.stringify(uploading);
  uploading = next;
  const onSticks = ((s.usb && s.usb.sticks) || []).reduce((n, k) => n + k.copied, 0);
  const counts = { saves: s.saves.completed, uploads: s.uploads ? s.uploads.done : 0, usb: onSticks };
  const newWork = seen.saves !== null
    && (counts.saves !== seen.saves || counts.uploads !== seen.uploads || counts.usb !== seen.usb);
  seen = counts;
  if (!visible) return;
  if (newWork) refresh();
  else if (changed) render();
}

// Updates the list in place: an item being watched keeps its player across refreshes.
function render() {
  const total = list.reduce((n, m) => n + m.size, 0);
  $('memories-summary').textContent = list.length ? `${list.length} · ${bytes(total)}` : '';
  $('memories-empty').hidden = list.length > 0;
  const container = $('memories-list');
  const existing = new Map([...container.children].map((node) => [node.dataset.name, node]));
  const ordered = [...list].reverse().map((m) => {
    const node = existing.get(m.name) || item(m);
    refreshItem(node, m);
    return node;
  });
  for (const [name, node] of existing) {
    if (!list.some((m) => m.name === name)) node.remove();
  }
  ordered.forEach((node, i) => {
    if (container.children[i] !== node) container.insertBefore(node, container.children[i] || null);
  });
}

// The parts of an item that change: upload state, size and whether it can be uploaded now.
function refreshItem(node, m) {
  node.memory = m;
  node.querySelector('.m-head').replaceChildren(el('span', { class: 'm-when', text: when(m) }), uploadTag(m));
  const meta = [duration(m.duration_s), bytes(m.size)];
  if (m.clipped) meta.push('shorter than asked: the ring held less');
  if (m.usb_exported) meta.push('on USB');
  node.querySelector('.m-meta').textContent = meta.join(' · ');
  // Without an upload target the button stays pressable: the recorder's answer says so and
  // links to the setting.
  const upload = node.querySelector('[data-action=upload]');
  upload.disabled = m.upload === 'done' || Boolean(uploading && uploading.name === m.name);
}

function uploadTag(m) {
  if (uploading && uploading.name === m.name) return el('span', { class: 'tag busy', text: `uploading ${uploading.pct}%` });
  if (m.upload === 'done') return el('span', { class: 'tag done', text: 'uploaded' });
  return el('span', { class: 'tag', text: 'not uploaded' });
}

function when(m) {
  const t = m.from ? Date.parse(m.from) : null;
  return t ? dayAndClock(t) : m.name.replace('-MEMORY.mp4', '');
}

function item(m) {
  const url = `/api/memories/${encodeURIComponent(m.name)}`;
  const node = el('li', { class: 'memory', 'data-name': m.name });
  const play = el('button', { type: 'button', text: 'Play', 'data-action': 'play' });
  const upload = el('button', { type: 'button', text: 'Upload', 'data-action': 'upload' });
  const remove = el('button', { type: 'button', text: 'Delete', 'data-action': 'delete' });
  // Its first picture, decoded by the recorder only when the item scrolls into view.
  const thumb = el('img', { class: 'm-thumb', src: `${url}/thumbnail`, alt: '', width: '96', height: '54', loading: 'lazy' });
  thumb.addEventListener('error', () => { thumb.hidden = true; }, { once: true });
  node.append(
    thumb,
    el('div', { class: 'm-head' }),
    el('div', { class: 'm-meta' }),
    el('div', { class: 'm-actions' },
      play,
      el('a', { href: url, download: m.name, text: 'Download', 'data-action': 'download' }),
      upload,
      remove),
  );
  play.addEventListener('click', () => {
    const existing = node.querySelector('video');
    if (existing) {
      existing.pause();
      existing.remove();
      play.textContent = 'Play';
    } else {
      node.append(player(m, url));
      play.textContent = 'Close';
    }
  });
  upload.addEventListener('click', async () => {
    upload.disabled = true;
    try {
      await post(`${url}/upload`);
      toast(`Uploading ${when(node.memory || m)} now.`);
    } catch (err) {
      showError(err);
      upload.disabled = false;
    }
  });
  remove.addEventListener('click', async () => {
    const current = node.memory || m;
    const elsewhere = current.upload === 'done' || current.usb_exported;
    const text = elsewhere
      ? `Delete ${when(current)} from the recorder? It is kept where it was uploaded or copied.`
      : `Delete ${when(current)}? It was never uploaded or copied: it will be gone for good.`;
    if (!(await confirmDialog(text))) return;
    try {
      await del(url);
      toast('Deleted.');
      await refresh();
    } catch (err) {
      showError(err);
    }
  });
  return node;
}

function player(m, url) {
  const video = el('video', { controls: true, playsinline: true, preload: 'metadata', src: url, 'data-name': m.name });
  video.play().catch(() => {});
  return video;
}
