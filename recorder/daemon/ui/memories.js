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
let seen = { saves: null, uploads: null };
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
  const counts = { saves: s.saves.completed, uploads: s.uploads ? s.uploads.done : 0 };
  const newWork = seen.saves !== null && (counts.saves !== seen.saves || counts.uploads !== seen.uploads);
  seen = counts;
  if (!visible) return;
  if (newWork) refresh();
  else if (changed) render();
}

function render() {
  const total = list.reduce((n, m) => n + m.size, 0);
  $('memories-summary').textContent = list.length ? `${list.length} · ${bytes(total)}` : '';
  $('memories-empty').hidden = list.length > 0;
  const open = new Set([...document.querySelectorAll('#memories-list video')].map((v) => v.dataset.name));
  const items = [...list].reverse().map((m) => item(m, open.has(m.name)));
  $('memories-list').replaceChildren(...items);
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

function item(m, playing) {
  const url = `/api/memories/${encodeURIComponent(m.name)}`;
  const node = el('li', { class: 'memory', 'data-name': m.name });
  const meta = [duration(m.duration_s), bytes(m.size)];
  if (m.clipped) meta.push('shorter than asked: the ring held less');
  if (m.usb_exported) meta.push('on USB');
  const play = el('button', { type: 'button', text: playing ? 'Close' : 'Play', 'data-action': 'play' });
  const upload = el('button', { type: 'button', text: 'Upload', 'data-action': 'upload', disabled: m.upload === 'done' || (uploading && uploading.name === m.name) });
  const remove = el('button', { type: 'button', text: 'Delete', 'data-action': 'delete' });
  node.append(
    el('div', { class: 'm-head' }, el('span', { class: 'm-when', text: when(m) }), uploadTag(m)),
    el('div', { class: 'm-meta', text: meta.join(' · ') }),
    el('div', { class: 'm-actions' },
      play,
      el('a', { href: url, download: m.name, text: 'Download', 'data-action': 'download' }),
      upload,
      remove),
  );
  if (playing) node.append(player(m, url));
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
      toast(`${m.name} will upload now.`);
    } catch (err) {
      showError(err);
      upload.disabled = false;
    }
  });
  remove.addEventListener('click', async () => {
    const elsewhere = m.upload === 'done' || m.usb_exported;
    const text = elsewhere
      ? `Delete ${when(m)} from the recorder? It is kept where it was uploaded or copied.`
      : `Delete ${when(m)}? It was never uploaded or copied: it will be gone for good.`;
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
