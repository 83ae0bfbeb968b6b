// Benchmark: how far the live view is behind the camera, glass to glass, in Debian's Chromium.
// The demo's test pattern carries its capture time burned into every frame (`--burn-clock`: a
// row of cells, the wall clock in ms modulo 2^24, recorder/media/src/source/ffmpeg.rs
// CaptureClock); for frames the page presents, this reads the cells back from the picture and
// takes the wall clock minus that time. It also times the first live frame from tapping Log in.
// Prints figures, asserts nothing.
//
//   node web/bench/latency.mjs --url http://127.0.0.1:8080 --password moment-demo [--seconds 60]

import { parseArgs } from 'node:util';
import { AUTOPLAY, PHONE as PHONE_2X, launch } from '../tests/harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    password: { type: 'string', default: 'moment-demo' },
    seconds: { type: 'string', default: '60' },
  },
});
const seconds = Math.max(5, Math.min(600, Number(args.seconds) || 60));
const { deviceScaleFactor: _, ...PHONE } = PHONE_2X;

// Must match CaptureClock: BITS cells of CELL pixels from (CELL, CELL / 2), bit 0 leftmost.
const CLOCK = { bits: 24, cell: 16 };

// In the page: times the login tap and the first presented frame, then reads the clock of
// every third presented frame into window.samples as [wall ms now, latency ms].
function probe({ bits, cell }) {
  window.samples = [];
  window.unreadable = 0;
  document.addEventListener('click', (e) => {
    if (e.target && e.target.id === 'login-submit') window.loginAt = performance.now();
  }, true);
  document.addEventListener('DOMContentLoaded', () => {
    const video = document.getElementById('video');
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    let frame = 0;
    const modulo = 2 ** bits;
    const onFrame = (now) => {
      if (window.loginAt !== undefined && window.firstFrameAt === undefined) window.firstFrameAt = now;
      frame += 1;
      if (frame % 3 === 0 && video.videoWidth >= cell * (bits + 2)) {
        const wall = Date.now();
        canvas.width = video.videoWidth;
        canvas.height = cell * 2;
        ctx.drawImage(video, 0, 0, video.videoWidth, cell * 2, 0, 0, video.videoWidth, cell * 2);
        const row = ctx.getImageData(0, cell, canvas.width, 1).data;
        const luma = (x) => (row[x * 4] + row[x * 4 + 1] + row[x * 4 + 2]) / 3;
        // The bar's ends are always black: a frame without them is not a clock frame.
        if (luma(cell / 2) < 64 && luma(cell * (bits + 1) + cell / 2) < 64) {
          let code = 0;
          for (let bit = 0; bit < bits; bit += 1) {
            if (luma(cell * (bit + 1) + cell / 2) > 128) code += 2 ** bit;
          }
          window.samples.push([wall, ((wall % modulo) - code + modulo) % modulo]);
        } else {
          window.unreadable += 1;
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  });
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const browser = await launch({ extraArgs: [AUTOPLAY] });
try {
  const context = await browser.newContext(PHONE);
  await context.addInitScript(probe, CLOCK);
  const page = await context.newPage();
  await page.goto(`${args.url}/`);
  await page.waitForSelector('#page-login:not([hidden])', { timeout: 30000 });
  await page.fill('#login-password', args.password);
  await page.click('#login-submit');
  await page.waitForFunction(() => window.firstFrameAt !== undefined, null, { timeout: 30000, polling: 50 });
  const first = await page.evaluate(() => window.firstFrameAt - window.loginAt);
  // Let the player settle on its latency, then measure.
  await page.waitForTimeout(5000);
  const startAt = await page.evaluate(() => Date.now());
  await page.waitForTimeout(seconds * 1000);
  const { samples, unreadable, player } = await page.evaluate(() => ({
    samples: window.samples, unreadable: window.unreadable, player: document.getElementById('video').dataset.player || 'hls',
  }));
  const latencies = samples.filter(([at, ms]) => at >= startAt && ms < 60000).map(([, ms]) => ms).sort((a, b) => a - b);
  console.log(`live latency, glass to glass (Chromium ${browser.version()}, ${args.url}, player ${player})`);
  console.log(`first live frame after tapping Log in   ${first.toFixed(0)} ms`);
  if (!latencies.length) {
    console.log(`no readable clock frames in ${seconds} s (${unreadable} unreadable): is the demo's --burn-clock on?`);
    process.exitCode = 1;
  } else {
    console.log(`latency over ${seconds} s                    n=${latencies.length}  median ${quantile(latencies, 0.5).toFixed(0)} ms  p95 ${quantile(latencies, 0.95).toFixed(0)} ms  min ${latencies[0].toFixed(0)} ms  max ${latencies[latencies.length - 1].toFixed(0)} ms  (${unreadable} frames unreadable)`);
  }
} finally {
  await browser.close();
}
