// The status page: what the recorder is doing, in words and numbers a person can check: is it
// recording, how far back the ring reaches, uploads, the USB stick, the clock, the network, the
// version, and the last things that happened.

import { onStatus } from './app.js';
import { bytes, cameraTime, el, span } from './format.js';

const $ = (id) => document.getElementById(id);
const ACTIVITY = {
  idle: 'nothing to upload',
  uploading: 'uploading',
  'waiting-for-window': 'waiting for the upload window',
  'waiting-to-retry': 'waiting to retry after a failure',
  'waiting-for-button': 'waiting for the UPLOAD button',
  disabled: 'off: no upload target is set up',
  stopped: 'stopped (see the log)',
};
// The status's stable words (docs/api.md) in plain language.
const RECORDING = { recording: 'recording', 'waiting-for-camera': 'waiting for the camera', stopped: 'stopped' };
const POLICY = { immediate: 'as soon as a memory is saved', window: 'in the nightly window', manual: 'only when UPLOAD is pressed' };
const LED = { off: 'off', recording: 'steady: recording', saving: 'saving', copying: 'quick blink: copying to USB',
  uploading: 'slow blink: uploading', setup: 'double blink: setup', error: 'fast blink: something failed' };
const BUTTONS = { gpio: 'the camera\'s buttons', simulated: 'simulated (no buttons on this machine)' };
const EVENT_KIND = { save: 'Save', source: 'Camera', upload: 'Upload', button: 'Button', web: 'Web app', settings: 'Settings',
  network: 'Wi-Fi', usb: 'USB stick', time: 'Clock', stop: 'Stop', preseed: 'Setup file', update: 'Update', video: 'Video' };
let visible = false;
let latest = null;

export function init() {
  onStatus((s) => {
    latest = s;
    if (visible) render(s);
  });
}

export function show() {
  visible = true;
  if (latest) render(latest);
}

export function hide() {
  visible = false;
}

function card(title, rows) {
  const dl = el('dl');
  for (const [key, value] of rows) {
    if (value === undefined) continue;
    dl.append(el('dt', { text: key }), el('dd', { text: value === null ? '–' : String(value) }));
  }
  return el('div', { class: 'card', 'data-card': title }, el('h2', { text: title }), dl);
}

function render(s) {
  const r = s.recording;
  const ring = s.ring;
  const offset = s.time.utc_offset_s;
  const when = (us) => cameraTime(us / 1000, offset);
  const reach = ring.oldest_utc_us && ring.newest_utc_end_us
    ? (ring.newest_utc_end_us - ring.oldest_utc_us) / 1e6 : null;
  const u = s.uploads || {};
  const cards = [
    card('Recording', [
      ['State', RECORDING[r.state] || r.state],
      ['Source', r.source],
      ['Last data', r.seconds_since_data === null ? 'never' : `${span(r.seconds_since_data)} ago`],
      ['Recorded since start', bytes(r.bytes)],
      ['Segments', `${r.segments_sent} recorded, ${r.segments_dropped} dropped`],
      ['Camera restarts', r.source_restarts],
    ]),
    card('Ring', [
      ['Holds', reach === null ? 'nothing yet' : span(reach)],
      ['From', ring.oldest_utc_us ? when(ring.oldest_utc_us) : null],
      ['To', ring.newest_utc_end_us ? when(ring.newest_utc_end_us) : null],
      ['Used', `${bytes(ring.used_bytes)} of ${bytes(ring.capacity_bytes)}`],
      ['Segments', ring.segment_count],
      ['Fault', ring.failed || 'none'],
    ]),
    card('Memories and uploads', [
      ['Memories', s.memories],
      ['Uploads', ACTIVITY[u.activity] || u.activity],
      ['Upload policy', POLICY[u.policy] || u.policy],
      ['Uploading now', u.current ? u.current.name : 'nothing'],
      ['Waiting', u.pending],
      ['Failed attempts', u.failed],
      ['Uploaded', u.done],
      ['Last error', u.last_error || 'none'],
      ['Saves', `${s.saves.completed} done, ${s.saves.failed} failed`],
      ['Last save error', s.saves.last_error || 'none'],
    ]),
    usbCard(s.usb),
    card('System', [
      ['Time', `${when(s.time.utc_us)}${s.time.synced ? '' : ' (not synchronised)'}`],
      ['LED', LED[s.led.pattern] || s.led.pattern],
      ['Buttons', BUTTONS[s.buttons.backend] || s.buttons.backend],
      ['Network', s.network ? networkText(s.network) : undefined],
      ['Booted slot', s.system ? (s.system.booted_slot ?? 'unknown') : undefined],
      ['Version', s.version],
    ]),
  ];
  $('status-grid').replaceChildren(...cards);
  const events = [...(s.events || [])].reverse().map((e) => el('li', {},
    el('time', { text: cameraTime(e.utc_us / 1000, offset, false) }),
    el('span', { text: `${EVENT_KIND[e.kind] || e.kind}: ${e.message}` })));
  $('events').replaceChildren(...(events.length ? events : [el('li', { class: 'muted', text: 'Nothing yet.' })]));
}

const STICK_STATE = {
  copying: 'copying: do not pull it out',
  ejected: 'done: can be pulled out',
  failed: 'not everything copied: can be pulled out',
  removed: 'pulled out',
};

// The newest stick plugged in: where it stands and the copy's numbers.
function usbCard(usb) {
  const stick = usb && usb.sticks.length ? usb.sticks[usb.sticks.length - 1] : null;
  if (!usb || !usb.enabled || !stick) {
    return card('USB stick', [['State', usb && usb.enabled ? 'none plugged in yet' : 'off']]);
  }
  return card('USB stick', [
    ['State', STICK_STATE[stick.state] || stick.state],
    ['Device', stick.partition ? `${stick.partition} (${stick.filesystem})` : stick.disk],
    ['Copied', `${stick.copied} new, ${stick.already_there} already there, of ${stick.memories}`],
    ['Bytes', `${bytes(stick.bytes_done)} of ${bytes(stick.bytes_total)}`],
    ['Did not fit', stick.did_not_fit ? `${stick.did_not_fit} (${bytes(stick.need_bytes)} more needed)` : undefined],
    ['Copying', stick.current || undefined],
    ['Message', stick.message],
  ]);
}

function networkText(n) {
  if (n.mode === 'station') return `${n.station_ssid} (${n.address || 'no address'})`;
  if (n.mode === 'joining') return `joining ${n.station_ssid}…`;
  if (n.mode === 'unmanaged') return 'set up by the system';
  if (n.mode === 'ap') return `access point ${n.ap_ssid}${n.setup ? ' (setup)' : ''}${n.last_error ? `: ${n.last_error}` : ''}`;
  return n.mode;
}
