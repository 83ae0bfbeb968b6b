// The timeline bar under the video: every stretch of recording the ring holds (hours of it), the
// saved memories, the marked range and the playhead. Dragging or tapping picks a moment; the
// arrow keys step through it. It knows nothing about players or the API: the live page feeds it
// and hears back through `onPick`.

import { clock, el } from './format.js';

// The narrowest the marked range is drawn, in CSS pixels: visible at every zoom.
const MIN_SELECTION_PX = 8;

export class Timeline {
  constructor(root, onPick) {
    this.root = root;
    this.track = root.querySelector('.tl-track');
    this.head = root.querySelector('.tl-head');
    this.hover = root.querySelector('.tl-hover');
    this.selection = root.querySelector('.tl-selection');
    this.onPick = onPick;
    this.spans = [];
    this.memories = [];
    this.zoom = 'all';
    this.playhead = null;
    this.marks = { in: null, out: null };
    this.dragging = false;
    root.addEventListener('pointerdown', (e) => this.down(e));
    root.addEventListener('pointermove', (e) => this.move(e));
    root.addEventListener('pointerup', (e) => this.up(e));
    root.addEventListener('pointercancel', () => this.cancel());
    root.addEventListener('pointerleave', () => { if (!this.dragging) this.hover.hidden = true; });
    root.addEventListener('keydown', (e) => this.key(e));
  }

  // The whole ring: [from, to] in ms, with spans [[from, to], ...].
  setData(fromMs, toMs, spans) {
    this.from = fromMs;
    this.to = toMs;
    this.spans = spans;
    this.render();
  }

  // The newest recorded moment moves on between timeline fetches.
  extendTo(toMs) {
    if (!this.spans.length || !(toMs > this.to)) return;
    const last = this.spans[this.spans.length - 1];
    if (toMs - last[1] < 15000) last[1] = toMs;
    this.to = toMs;
    this.render();
  }

  setMemories(list) {
    this.memories = list;
    this.render();
  }

  setZoom(zoom) {
    this.zoom = zoom;
    this.render();
  }

  setPlayhead(ms) {
    this.playhead = ms;
    this.placeHead();
  }

  setMarks(marks) {
    this.marks = marks;
    this.placeSelection();
  }

  // The window the bar shows: the whole ring, or the last hour / ten minutes around the playhead.
  view() {
    if (this.from === undefined || this.from === null) return null;
    if (this.zoom === 'all') return [this.from, Math.max(this.to, this.from + 1000)];
    const width = Number(this.zoom) * 1000;
    const centre = this.playhead ?? this.to;
    let end = Math.min(this.to, centre + width / 2);
    let start = Math.max(this.from, end - width);
    end = Math.min(this.to, Math.max(end, start + width));
    return [start, Math.max(end, start + 1000)];
  }

  x(ms, view) {
    return ((ms - view[0]) / (view[1] - view[0])) * 100;
  }

  timeAt(clientX) {
    const view = this.view();
    if (!view) return null;
    const rect = this.root.getBoundingClientRect();
    const f = Math.min(1, Math.max(0, (clientX - rect.left) / rect.width));
    return view[0] + f * (view[1] - view[0]);
  }

  render() {
    const view = this.view();
    const startLabel = document.getElementById('tl-start');
    const endLabel = document.getElementById('tl-end');
    if (!view) {
      this.track.replaceChildren();
      startLabel.textContent = 'nothing recorded yet';
      endLabel.textContent = '';
      return;
    }
    const nodes = [];
    for (const [a, b] of this.spans) {
      if (b < view[0] || a > view[1]) continue;
      const left = Math.max(0, this.x(a, view));
      const right = Math.min(100, this.x(b, view));
      const node = el('div', { class: 'tl-span' });
      node.style.left = `${left}%`;
      node.style.width = `${Math.max(0, right - left)}%`;
      nodes.push(node);
    }
    for (const m of this.memories) {
      if (!m.from || !m.to) continue;
      const a = Date.parse(m.from);
      const b = Date.parse(m.to);
      if (b < view[0] || a > view[1]) continue;
      const left = Math.max(0, this.x(a, view));
      const node = el('div', { class: 'tl-memory', title: m.name });
      node.style.left = `${left}%`;
      node.style.width = `${Math.max(0, Math.min(100, this.x(b, view)) - left)}%`;
      nodes.push(node);
    }
    this.track.replaceChildren(...nodes);
    startLabel.textContent = clock(view[0], false);
    endLabel.textContent = clock(view[1], false);
    this.placeHead();
    this.placeSelection();
  }

  placeHead() {
    const view = this.view();
    const visible = view && this.playhead !== null && this.playhead >= view[0] && this.playhead <= view[1];
    this.head.hidden = !visible;
    if (visible) this.head.style.left = `${this.x(this.playhead, view)}%`;
    if (view) this.root.setAttribute('aria-valuetext', this.playhead ? clock(this.playhead) : '');
  }

  // The marked range, never thinner than MIN_SELECTION_PX: a few seconds of a ring of hours would
  // be a fraction of a pixel at the "All" zoom. A thin one is widened around its middle and kept
  // inside the bar; at "All" a mark just past the newest recording is drawn at the end.
  placeSelection() {
    const view = this.view();
    const { in: a, out: b } = this.marks;
    if (!view || a === null) {
      this.selection.hidden = true;
      return;
    }
    const end = b ?? this.playhead ?? a;
    let lo = this.x(Math.min(a, end), view);
    let hi = this.x(Math.max(a, end), view);
    if (this.zoom !== 'all' && (hi < 0 || lo > 100)) {
      this.selection.hidden = true;
      return;
    }
    lo = Math.min(100, Math.max(0, lo));
    hi = Math.min(100, Math.max(0, hi));
    // A hidden bar has no width; the next render (every status tick) widens it then.
    const barPx = this.root.clientWidth;
    const minPct = barPx ? Math.min(100, (MIN_SELECTION_PX / barPx) * 100) : 0;
    if (hi - lo < minPct) {
      const mid = (lo + hi) / 2;
      lo = Math.min(100 - minPct, Math.max(0, mid - minPct / 2));
      hi = lo + minPct;
    }
    this.selection.hidden = false;
    this.selection.style.left = `${lo}%`;
    this.selection.style.width = `${hi - lo}%`;
  }

  showHover(clientX) {
    const t = this.timeAt(clientX);
    if (t === null) return;
    const rect = this.root.getBoundingClientRect();
    const x = Math.min(rect.width - 30, Math.max(30, clientX - rect.left));
    this.hover.hidden = false;
    this.hover.style.left = `${x}px`;
    this.hover.textContent = clock(t);
  }

  down(e) {
    if (e.button !== 0) return;
    this.dragging = true;
    this.root.setPointerCapture(e.pointerId);
    this.showHover(e.clientX);
  }

  move(e) {
    this.showHover(e.clientX);
  }

  up(e) {
    if (!this.dragging) return;
    this.dragging = false;
    this.hover.hidden = true;
    const t = this.timeAt(e.clientX);
    if (t !== null) this.onPick(t);
  }

  cancel() {
    this.dragging = false;
    this.hover.hidden = true;
  }

  key(e) {
    const step = { ArrowLeft: -10000, ArrowRight: 10000, PageUp: -60000, PageDown: 60000 }[e.key];
    if (step && this.playhead !== null) {
      e.preventDefault();
      this.onPick(this.playhead + step);
    }
  }
}
