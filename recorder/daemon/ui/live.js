// The live page: the players, live and replay of any moment the ring holds, mark in/out and
// "save this range", and the big SAVE and UPLOAD buttons, which press the recorder's buttons for
// as long as they are held, like the physical ones.
//
// Live plays /live/stream.ts through mpegts.js (Media Source Extensions, ManagedMediaSource on
// iOS 17.1+): the camera's bytes as they arrive, under a second behind. Where that cannot run
// (no MSE, or mpegts.js not installed) live plays the HLS playlist, seconds behind. Replay is
// always HLS: Safari's native player, hls.js elsewhere. Both players load on demand, so the app
// works without them.

import { get, getText, post } from './api.js';
import { lastStatus, onStatus, showError, toast } from './app.js';
import { clock, duration, span } from './format.js';
import { Thumbs } from './thumbs.js';
import { Timeline } from './timeline.js';

const HLS_JS = '/vendor/hls.min.js';
const MPEGTS_JS = '/vendor/mpegts.js';
const LIVE_STREAM = '/live/stream.ts';
// The live stream's player keeps this close to the newest frame (seconds), by playing faster.
const LIVE_TARGET_LATENCY_S = 0.4;
const LIVE_MAX_LATENCY_S = 0.9;
// Live video that has not moved on for this long is started again (a frozen picture).
const LIVE_STALL_MS = 4000;
// A moment picked this close to the newest recording is watched live.
const LIVE_EDGE_MS = 20000;
// How much of the ring one replay playlist covers; playback continues with the next window.
const REPLAY_WINDOW_MS = 20 * 60 * 1000;
// Fatal player errors retried before giving up until LIVE is pressed (the camera may be starting).
const MAX_RETRIES = 30;
const MAX_HOLD_MS = 120000;

const $ = (id) => document.getElementById(id);
let video;
let timeline;
let thumbs;
let hls = null;
let tsPlayer = null;
const loading = {};
// The live stream's capture time of media time 0 (wall ms), from the server.
let liveStartMs = null;
let liveProgress = { t: -1, at: 0 };
let generation = 0;
let mode = 'live';
let replayMap = null; // [{start, dur, pdt}] of the replay playlist (media seconds, wall ms)
let lastWall = null;
let retries = 0;
let ticker = null;
let refresher = null;
let visible = false;
let marks = { in: null, out: null };
let saveStepS = 180;
let holdStepS = 3;
let savesCompleted = null;

export function init() {
  video = $('video');
  timeline = new Timeline($('timeline'), (t) => seekTo(t));
  thumbs = new Thumbs($('tl-thumbs'), (t) => seekTo(t));
  $('go-live').addEventListener('click', () => goLive(true));
  $('back-60').addEventListener('click', () => seekBy(-60000));
  $('back-10').addEventListener('click', () => seekBy(-10000));
  $('fwd-10').addEventListener('click', () => seekBy(10000));
  $('play-pause').addEventListener('click', togglePause);
  $('sound').addEventListener('click', () => {
    video.muted = !video.muted;
    $('sound').textContent = video.muted ? 'Sound on' : 'Sound off';
  });
  $('mark-in').addEventListener('click', () => mark('in'));
  $('mark-out').addEventListener('click', () => mark('out'));
  $('mark-clear').addEventListener('click', () => setMarks({ in: null, out: null }));
  $('save-range').addEventListener('click', saveRange);
  for (const button of document.querySelectorAll('.zoom button')) {
    button.addEventListener('click', () => {
      for (const b of document.querySelectorAll('.zoom button')) b.classList.toggle('on', b === button);
      timeline.setZoom(button.dataset.zoom);
      showThumbs();
    });
  }
  video.addEventListener('ended', onEnded);
  video.addEventListener('error', onNativeError);
  video.addEventListener('playing', () => { retries = 0; message(''); });
  document.addEventListener('visibilitychange', onVisibility);
  video.addEventListener('pause', () => { $('play-pause').textContent = '▶'; });
  video.addEventListener('play', () => { $('play-pause').textContent = '❚❚'; });
  holdable($('btn-save'), 'save');
  holdable($('btn-upload'), 'upload');
  onStatus(statusChanged);
}

export function show() {
  visible = true;
  loadSettings();
  refreshTimeline();
  refreshMemories();
  refresher = setInterval(refreshTimeline, 10000);
  ticker = setInterval(tick, 250);
  if (mode === 'replay' && lastWall !== null) seekTo(lastWall);
  else goLive();
}

export function hide() {
  visible = false;
  clearInterval(refresher);
  clearInterval(ticker);
  stopPlayer();
}

function message(text) {
  $('player-msg').textContent = text;
  $('player-msg').hidden = !text;
}

// ---- the player ----

// A player's script, loaded once; resolves to its global (`name` on window) or null.
function loadScript(src, name) {
  if (window[name]) return Promise.resolve(window[name]);
  if (!loading[src]) {
    loading[src] = new Promise((resolve) => {
      const script = document.createElement('script');
      const timer = setTimeout(() => resolve(null), 15000);
      script.src = src;
      script.onload = () => { clearTimeout(timer); resolve(window[name] || null); };
      script.onerror = () => { clearTimeout(timer); resolve(null); };
      document.head.append(script);
    });
  }
  return loading[src];
}

const loadHlsJs = () => loadScript(HLS_JS, 'Hls');

function stopPlayer() {
  generation += 1;
  if (hls) {
    hls.destroy();
    hls = null;
  }
  if (tsPlayer) {
    const old = tsPlayer;
    tsPlayer = null;
    try {
      old.pause();
      old.unload();
      old.detachMediaElement();
      old.destroy();
    } catch {
      // A player torn down mid-start may refuse; it is dropped either way.
    }
  }
  liveStartMs = null;
  video.dataset.player = '';
  video.removeAttribute('src');
  video.load();
}

// The live stream through mpegts.js; false when this browser cannot (the caller plays HLS).
async function playLiveStream() {
  const mpegts = await loadScript(MPEGTS_JS, 'mpegts');
  if (!mpegts || !mpegts.getFeatureList().mseLivePlayback) return false;
  stopPlayer();
  const mine = generation;
  let startMs = null;
  try {
    // The stream's first frame's capture time, for the playhead; the player reads the stream.
    const head = await fetch(LIVE_STREAM, { method: 'HEAD', credentials: 'same-origin' });
    if (head.status === 401) {
      window.dispatchEvent(new Event('moment:logged-out'));
      return true;
    }
    if (!head.ok) throw new Error(`${head.status}`);
    startMs = Number(head.headers.get('x-moment-capture-start-ms'));
  } catch {
    // Not ready (no picture yet) or the recorder is restarting: try again shortly.
    if (mine === generation) retryLive('Waiting for the camera…');
    return true;
  }
  if (mine !== generation) return true;
  const player = mpegts.createPlayer({ type: 'mpegts', isLive: true, url: LIVE_STREAM }, {
    enableWorker: false,
    enableStashBuffer: false,
    liveSync: true,
    liveSyncTargetLatency: LIVE_TARGET_LATENCY_S,
    liveSyncMaxLatency: LIVE_MAX_LATENCY_S,
    liveSyncPlaybackRate: 1.2,
    autoCleanupSourceBuffer: true,
    autoCleanupMaxBackwardDuration: 30,
    autoCleanupMinBackwardDuration: 15,
  });
  tsPlayer = player;
  video.dataset.player = 'mpegts';
  const over = (why) => {
    if (player !== tsPlayer) return;
    retryLive(why);
  };
  player.on(mpegts.Events.ERROR, (type, detail, info) => {
    if (info && info.code === 401) {
      window.dispatchEvent(new Event('moment:logged-out'));
      return;
    }
    over(type === mpegts.ErrorTypes.NETWORK_ERROR
      ? 'The connection to the recorder dropped; retrying…'
      : 'The video stream broke off; retrying…');
  });
  // The server ends the stream when the camera starts over or stops: connect again.
  player.on(mpegts.Events.LOADING_COMPLETE, () => over(''));
  // The stream the player reads starts at the keyframe the HEAD request saw, unless a newer one
  // came in between (a second later at most): close enough for the playhead and the marks.
  liveStartMs = Number.isFinite(startMs) && startMs > 0 ? startMs : null;
  // The stream starts at the last keyframe, up to a GOP before the newest frame; the player's
  // rate-based catching up only starts above LIVE_MAX_LATENCY_S, so start at the edge instead.
  video.addEventListener('canplay', () => {
    if (player !== tsPlayer || !video.buffered.length) return;
    const edge = video.buffered.end(video.buffered.length - 1) - LIVE_TARGET_LATENCY_S;
    if (edge > video.currentTime) video.currentTime = edge;
  }, { once: true });
  player.attachMediaElement(video);
  player.load();
  liveProgress = { t: -1, at: performance.now() };
  video.play().catch(() => {});
  return true;
}

// The live stream ended or failed: start it again after a pause that grows with the failures,
// a bounded number of times.
function retryLive(why) {
  const mine = generation;
  if (retries >= MAX_RETRIES) {
    message('Playback stopped. Press LIVE to try again.');
    stopPlayer();
    return;
  }
  retries += 1;
  if (why) message(why);
  setTimeout(() => {
    if (mine === generation && mode === 'live' && visible) goLive(false);
  }, Math.min(3000, 300 * retries));
}

// A phone's screen off (or another app) stops the live stream; back on, live starts again at
// the newest frame instead of playing the minutes it missed.
function onVisibility() {
  if (!visible || mode !== 'live') return;
  if (document.hidden) stopPlayer();
  else goLive(true);
}

// Plays `url` from `startS` seconds (null: the live edge). Safari and iOS use their own HLS;
// everything else hls.js; a browser with neither gets a message, not a broken page.
async function play(url, startS) {
  stopPlayer();
  const mine = generation;
  const native = video.canPlayType('application/vnd.apple.mpegurl') !== '';
  const apple = /Apple/.test(navigator.vendor || '');
  const Hls = native && apple ? null : await loadHlsJs();
  if (mine !== generation) return;
  if (Hls && Hls.isSupported()) {
    startHlsJs(Hls, url, startS);
  } else if (native) {
    video.src = url;
    if (startS !== null) {
      video.addEventListener('loadedmetadata', () => { video.currentTime = startS; }, { once: true });
    }
  } else {
    message('This browser cannot play video from the recorder (hls.js is not installed and there '
      + 'is no native HLS). Memories still play and download.');
    return;
  }
  video.play().catch(() => {});
}

// The browser's own player failed (hls.js reports through its own events): start again where we
// were, a bounded number of times.
function onNativeError() {
  if (hls || tsPlayer || !video.getAttribute('src')) return;
  if (retries >= MAX_RETRIES) {
    message('Playback stopped. Press LIVE to try again.');
    return;
  }
  retries += 1;
  message('The video stream broke off; retrying…');
  const mine = generation;
  setTimeout(() => {
    if (mine !== generation) return;
    if (mode === 'replay' && lastWall !== null) {
      replayMap = null;
      seekTo(lastWall, false);
    } else {
      goLive(false);
    }
  }, 1500);
}

function startHlsJs(Hls, url, startS) {
  hls = new Hls({
    startPosition: startS ?? -1,
    liveSyncDurationCount: 2,
    liveMaxLatencyDurationCount: 5,
    maxBufferLength: 30,
    backBufferLength: 60,
  });
  const mine = hls;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal || mine !== hls) return;
    const code = data.response && data.response.code;
    if (code === 401) {
      window.dispatchEvent(new Event('moment:logged-out'));
      return;
    }
    if (retries >= MAX_RETRIES) {
      message('Playback stopped. Press LIVE to try again.');
      stopPlayer();
      return;
    }
    retries += 1;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      hls.recoverMediaError();
    } else if (code === 503) {
      message('Waiting for the camera…');
      setTimeout(() => { if (mine === hls) play(url, startS); }, 2000);
    } else if (code === 404 || code === 410) {
      // The ring moved on under a replay: start again where we are.
      if (mode === 'replay' && lastWall !== null) seekTo(lastWall + 1000, false);
      else setTimeout(() => { if (mine === hls) goLive(false); }, 1000);
    } else {
      message('The connection to the recorder dropped; retrying…');
      setTimeout(() => { if (mine === hls) hls.startLoad(); }, 2000);
    }
  });
  hls.loadSource(url);
  hls.attachMedia(video);
}

// The wall-clock time (ms) of the frame on screen.
function wallNow() {
  if (mode === 'replay' && replayMap && replayMap.length) {
    const t = video.currentTime;
    const seg = replayMap.find((s) => t < s.start + s.dur) || replayMap[replayMap.length - 1];
    return seg.pdt + (t - seg.start) * 1000;
  }
  if (tsPlayer && liveStartMs !== null) return liveStartMs + video.currentTime * 1000;
  if (hls && hls.playingDate) return hls.playingDate.getTime();
  if (typeof video.getStartDate === 'function') {
    const start = video.getStartDate().getTime();
    if (Number.isFinite(start) && start > 0) return start + video.currentTime * 1000;
  }
  return null;
}

// [{start, dur, pdt}] from a playlist's EXTINF and PROGRAM-DATE-TIME lines.
function parsePlaylist(text) {
  const out = [];
  let pdt = null;
  let dur = null;
  let start = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) pdt = Date.parse(line.slice(25));
    else if (line.startsWith('#EXTINF:')) dur = parseFloat(line.slice(8));
    else if (line && !line.startsWith('#') && dur !== null) {
      const at = Number.isFinite(pdt) ? pdt : (out.length ? out[out.length - 1].pdt + out[out.length - 1].dur * 1000 : 0);
      out.push({ start, dur, pdt: at });
      start += dur;
      pdt = null;
      dur = null;
    }
  }
  return out;
}

function offsetFor(map, t) {
  const seg = map.find((s) => t < s.pdt + s.dur * 1000) || map[map.length - 1];
  return seg.start + Math.max(0, Math.min(seg.dur, (t - seg.pdt) / 1000));
}

// `fresh`: a person asked for it, so the retry budget starts over.
async function goLive(fresh = true) {
  mode = 'live';
  replayMap = null;
  if (fresh) retries = 0;
  if (fresh) message('');
  renderMode();
  const mine = ++generation;
  if (await playLiveStream()) return;
  if (mine === generation) play('/hls/live.m3u8', null);
}

// Watch the moment `t` (wall ms): within the loaded replay window by seeking, else a new window.
// `fresh` as for goLive.
async function seekTo(t, fresh = true) {
  const newest = timeline.to;
  if (newest === undefined || newest === null || t >= newest - LIVE_EDGE_MS) {
    goLive(fresh);
    return;
  }
  t = snapIntoRecording(Math.max(t, timeline.from));
  if (mode === 'replay' && replayMap && replayMap.length) {
    const first = replayMap[0];
    const last = replayMap[replayMap.length - 1];
    if (t >= first.pdt && t < last.pdt + last.dur * 1000 - 2000) {
      video.currentTime = offsetFor(replayMap, t);
      lastWall = t;
      return;
    }
  }
  const from = Math.floor(t);
  const to = Math.floor(Math.min(t + REPLAY_WINDOW_MS, newest));
  const url = `/hls/range.m3u8?from=${from}&to=${to}`;
  const mine = ++generation;
  let map;
  try {
    map = parsePlaylist(await getText(url));
  } catch (err) {
    if (mine === generation) showError(err);
    return;
  }
  if (mine !== generation || !map.length) return;
  mode = 'replay';
  replayMap = map;
  lastWall = t;
  if (fresh) retries = 0;
  renderMode();
  play(url, offsetFor(map, t));
}

// A moment in a gap of the recording moves to the next recorded one.
function snapIntoRecording(t) {
  for (const [a, b] of timeline.spans) {
    if (t < a) return a;
    if (t < b) return t;
  }
  return t;
}

function seekBy(delta) {
  const now = wallNow() ?? timeline.to;
  if (now === null || now === undefined) return;
  seekTo(now + delta);
}

function onEnded() {
  if (mode !== 'replay' || !replayMap || !replayMap.length) return;
  const last = replayMap[replayMap.length - 1];
  seekTo(last.pdt + last.dur * 1000 + 1);
}

function togglePause() {
  if (video.paused) {
    const now = wallNow();
    if (mode === 'live' && now !== null && timeline.to - now > 25000) seekTo(now);
    else video.play().catch(() => {});
  } else {
    video.pause();
  }
}

function renderMode() {
  const live = mode === 'live';
  $('mode-badge').classList.toggle('is-live', live);
  $('go-live').classList.toggle('on', live);
}

function tick() {
  watchLive();
  const now = wallNow();
  if (now !== null) {
    lastWall = now;
    timeline.setPlayhead(now);
    placeSelection();
  }
  const behind = now !== null && timeline.to ? (timeline.to - now) / 1000 : null;
  $('mode-badge').textContent = mode === 'live' ? 'LIVE' : `REPLAY −${span(Math.max(0, behind ?? 0))}`;
  $('play-time').textContent = now !== null ? clock(now) : '';
}

// A live stream whose picture stopped moving (a frozen or black video) is started again.
function watchLive() {
  if (!tsPlayer || mode !== 'live' || video.paused) return;
  const now = performance.now();
  if (video.currentTime !== liveProgress.t) {
    liveProgress = { t: video.currentTime, at: now };
  } else if (now - liveProgress.at > LIVE_STALL_MS) {
    liveProgress = { t: -1, at: now };
    retryLive('The picture stopped; reconnecting…');
  }
}

// ---- the ring's timeline and the memories on it ----

async function refreshTimeline() {
  try {
    const t = await get('/api/timeline');
    timeline.setData(t.from_ms, t.to_ms, t.spans);
    showThumbs();
  } catch (err) {
    if (err.status !== 401) console.warn(err);
  }
}

function showThumbs() {
  thumbs.show(timeline.view(), timeline.spans);
}

async function refreshMemories() {
  try {
    timeline.setMemories(await get('/api/memories'));
  } catch (err) {
    if (err.status !== 401) console.warn(err);
  }
}

function statusChanged(s) {
  if (!visible) return;
  if (s.ring && s.ring.newest_utc_end_us) timeline.extendTo(s.ring.newest_utc_end_us / 1000);
  if (savesCompleted !== null && s.saves.completed > savesCompleted) {
    toast(s.saves.last_memory ? `Saved ${s.saves.last_memory}` : 'Saved a memory');
    refreshMemories();
  }
  savesCompleted = s.saves.completed;
}

// ---- marks and saving a range ----

function mark(which) {
  const now = wallNow();
  if (now === null) {
    toast('Nothing is playing yet.', true);
    return;
  }
  setMarks({ ...marks, [which]: Math.round(now) });
}

function setMarks(next) {
  marks = next;
  timeline.setMarks(marks);
  const { in: a, out: b } = marks;
  const text = $('mark-text');
  if (a === null && b === null) {
    text.textContent = 'Mark the start and end of a moment, then save it.';
  } else if (a === null || b === null) {
    text.textContent = a !== null ? `From ${clock(a)} — now mark the end.` : `Until ${clock(b)} — now mark the start.`;
  } else {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    text.textContent = `${clock(lo)} → ${clock(hi)} (${duration((hi - lo) / 1000)})`;
  }
  $('save-range').disabled = a === null || b === null || Math.abs(b - a) < 1000;
}

function placeSelection() {
  if (marks.in !== null && marks.out === null) timeline.setMarks(marks);
}

async function saveRange() {
  const lo = Math.min(marks.in, marks.out);
  const hi = Math.max(marks.in, marks.out);
  $('save-range').disabled = true;
  try {
    await post('/api/memories', { from: lo, to: hi });
    toast(`Saving ${duration((hi - lo) / 1000)} from ${clock(lo)}…`);
    setMarks({ in: null, out: null });
  } catch (err) {
    showError(err);
    setMarks(marks);
  }
}

// ---- SAVE and UPLOAD ----

async function loadSettings() {
  try {
    const s = await get('/api/settings');
    saveStepS = s.memories.save_minutes * 60;
    holdStepS = s.memories.hold_step_s;
  } catch {
    // Older recorders have no settings API; the hints then use the defaults.
  }
  resetSaveHint();
}

function resetSaveHint() {
  $('save-hint').textContent = `last ${span(saveStepS)} · hold for more`;
}

// A button the recorder sees pressed for as long as the finger stays on it.
function holdable(button, name) {
  let downAt = null;
  let timer = null;
  const press = (event) => {
    if (downAt !== null) return;
    event.preventDefault();
    downAt = performance.now();
    button.classList.add('held');
    if (event.pointerId !== undefined) button.setPointerCapture(event.pointerId);
    if (name === 'save') {
      timer = setInterval(() => {
        const steps = 1 + Math.floor((performance.now() - downAt) / 1000 / holdStepS);
        $('save-hint').textContent = `keeps the last ${span(steps * saveStepS)}`;
      }, 100);
    }
  };
  const release = async () => {
    if (downAt === null) return;
    const held = Math.min(MAX_HOLD_MS, Math.round(performance.now() - downAt));
    downAt = null;
    clearInterval(timer);
    button.classList.remove('held');
    const steps = 1 + Math.floor(held / 1000 / holdStepS);
    resetSaveHint();
    try {
      await post(`/api/buttons/${name}`, { hold_ms: held });
      if (name === 'save') toast(`Saving the last ${span(steps * saveStepS)}…`);
      else toast(lastStatus()?.uploads?.pending ? 'Uploading now…' : 'Nothing is waiting to upload.');
    } catch (err) {
      showError(err);
    }
  };
  button.addEventListener('pointerdown', press);
  button.addEventListener('pointerup', release);
  button.addEventListener('pointercancel', release);
  button.addEventListener('contextmenu', (e) => e.preventDefault());
  button.addEventListener('keydown', (e) => {
    if ((e.key === 'Enter' || e.key === ' ') && !e.repeat) press(e);
  });
  button.addEventListener('keyup', (e) => {
    if (e.key === 'Enter' || e.key === ' ') release();
  });
}
