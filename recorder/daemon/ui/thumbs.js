// Thumbnails above the timeline: what the camera saw at a few moments of the visible range, so a
// person finds a moment by sight. Each is /api/thumbnail (the keyframe at or before the moment,
// decoded once on the recorder and cached there). The moments sit on a grid of round steps, so
// refreshing the timeline asks for the same URLs (the browser's cache answers) until the range
// moves by a whole step: a few new pictures a minute, not a decode per refresh.

const COUNT = 5;
// The newest moments are in the segment still being recorded, which the ring cannot show yet.
const NOT_YET_MS = 15000;
// Round steps between thumbnails, in ms; the smallest that spreads COUNT over the view.
const STEPS = [10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);

export class Thumbs {
  constructor(root, onPick) {
    this.root = root;
    this.onPick = onPick;
    this.shown = '';
  }

  // Shows the thumbnails for the view [from, to] (wall ms) of a recording that holds `spans`.
  show(view, spans) {
    if (!view) return;
    const [from, to] = view;
    const step = STEPS.find((s) => s * COUNT >= to - from) || STEPS[STEPS.length - 1];
    const inside = (t) => spans.some(([a, b]) => t >= a && t < b);
    const moments = [];
    for (let t = Math.ceil(from / step) * step; t < to - NOT_YET_MS && moments.length < COUNT; t += step) {
      if (inside(t)) moments.push(t);
    }
    const key = moments.join(',');
    if (key === this.shown) return;
    this.shown = key;
    this.root.replaceChildren(...moments.map((t) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'thumb';
      button.style.left = `${((t - from) / (to - from)) * 100}%`;
      button.title = new Date(t).toLocaleTimeString();
      button.setAttribute('aria-label', `Watch from ${button.title}`);
      const img = document.createElement('img');
      img.loading = 'lazy';
      img.alt = '';
      img.width = 80;
      img.height = 45;
      img.src = `/api/thumbnail?at=${t}`;
      // A moment the recorder cannot show (busy, or just overwritten) leaves an empty frame.
      img.addEventListener('error', () => { img.hidden = true; }, { once: true });
      button.append(img);
      button.addEventListener('click', () => this.onPick(t));
      return button;
    }));
  }
}
