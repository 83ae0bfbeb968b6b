// Benchmark: how long a logged-in person waits from opening the app to the first frame of live
// video, in Debian's Chromium over 127.0.0.1. Cold = a fresh browser profile each time (hls.js and
// the app downloaded again); warm = a reload with the HTTP cache. Prints figures, asserts nothing.
//
//   node web/bench/first-frame.mjs --url http://127.0.0.1:8080 --password moment-demo [--runs 10]

import { parseArgs } from 'node:util';
import { AUTOPLAY, PHONE as PHONE_2X, launch } from '../tests/harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    password: { type: 'string', default: 'moment-demo' },
    runs: { type: 'string', default: '10' },
  },
});
const runs = Math.max(1, Math.min(100, Number(args.runs) || 10));
// The tests' phone at the default device scale factor (1), as this benchmark has always measured.
const { deviceScaleFactor: _, ...PHONE } = PHONE_2X;

// The first presented video frame, in ms since the navigation started.
const FIRST_FRAME = () => {
  document.addEventListener('DOMContentLoaded', () => {
    const video = document.getElementById('video');
    if (video && video.requestVideoFrameCallback) {
      video.requestVideoFrameCallback((now) => { window.firstFrameMs = now; });
    }
  });
};

const browser = await launch({ extraArgs: [AUTOPLAY] });

async function session() {
  const context = await browser.newContext(PHONE);
  const response = await context.request.post(`${args.url}/api/login`, {
    headers: { 'X-Moment': '1' },
    data: { password: args.password },
  });
  if (!response.ok()) throw new Error(`login: ${response.status()}`);
  const state = await context.storageState();
  await context.close();
  return state;
}

async function firstFrame(page, navigate) {
  await navigate();
  await page.waitForFunction(() => window.firstFrameMs !== undefined, null, { timeout: 30000, polling: 50 });
  return page.evaluate(() => window.firstFrameMs);
}

function summary(name, values) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  console.log(`${name.padEnd(34)} n=${sorted.length}  median ${at(0.5).toFixed(0)} ms  p90 ${at(0.9).toFixed(0)} ms  min ${sorted[0].toFixed(0)} ms  max ${sorted[sorted.length - 1].toFixed(0)} ms`);
}

try {
  const storageState = await session();
  const cold = [];
  const warm = [];
  for (let i = 0; i < runs; i += 1) {
    const context = await browser.newContext({ ...PHONE, storageState });
    await context.addInitScript(FIRST_FRAME);
    const page = await context.newPage();
    cold.push(await firstFrame(page, () => page.goto(`${args.url}/`)));
    warm.push(await firstFrame(page, () => page.reload()));
    await context.close();
  }
  console.log(`page open -> first live video frame (Chromium ${browser.version()}, ${args.url})`);
  summary('cold (new profile, no cache)', cold);
  summary('warm (reload, HTTP cache)', warm);
} finally {
  await browser.close();
}
