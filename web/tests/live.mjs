// The live view's staying power, in a real browser (Debian's Chromium driven by playwright-core)
// against a running recorder with the `test` source and both players installed: live plays
// through the low-latency stream (mpegts.js), and keeps playing, or comes back by itself, across
// replay -> another page of the app -> back to live, the page frozen and hidden as a phone does
// with its screen off, the camera restarting (a video settings change), and the recorder itself
// restarting (the Rust test restarts it when this script asks on stdout and answers on stdin).
// Started by recorder/daemon/tests/web_live.rs. Every wait is bounded.
//
//   node web/tests/live.mjs --url http://127.0.0.1:PORT --password PW --artifacts DIR

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { AUTOPLAY, PHONE, failureShot, finish, launch, login as logIn, stepRunner } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    password: { type: 'string' },
    artifacts: { type: 'string', default: 'target/browser-artifacts' },
  },
});
if (!args.url || !args.password) {
  console.error('usage: live.mjs --url URL --password PASSWORD [--artifacts DIR]');
  process.exit(2);
}
mkdirSync(args.artifacts, { recursive: true });

const WAIT = 30000;
const browser = await launch({ extraArgs: [AUTOPLAY] });
const errors = [];
let page = null;
const step = stepRunner({
  screenshot: async (slug) => failureShot(page, join(args.artifacts, `failed-live-${slug}.png`)),
});
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));

// Resolves once the video has played `seconds` on from now, from the live stream's player.
async function playsLive(seconds, timeout = WAIT) {
  const start = await page.$eval('#video', (v) => v.currentTime);
  try {
    await page.waitForFunction(([from, by]) => {
      const v = document.getElementById('video');
      return v.dataset.player === 'mpegts' && !v.paused && v.readyState >= 2 && v.currentTime >= from + by
        && document.getElementById('mode-badge').textContent === 'LIVE';
    }, [start, seconds], { timeout, polling: 200 });
  } catch {
    const state = await page.evaluate(() => {
      const v = document.getElementById('video');
      return { player: v.dataset.player, t: v.currentTime, paused: v.paused, ready: v.readyState,
        badge: document.getElementById('mode-badge').textContent, message: document.getElementById('player-msg').textContent };
    }).catch(() => null);
    throw new Error(`live did not play ${seconds} s on: ${JSON.stringify(state)}`);
  }
}

// The page as a phone leaves it with the screen off: frozen (no timers, no tasks) and hidden.
async function screenOffAndOn(ms) {
  const cdp = await page.context().newCDPSession(page);
  const setHidden = (hidden) => page.evaluate((h) => {
    Object.defineProperty(document, 'hidden', { value: h, configurable: true });
    Object.defineProperty(document, 'visibilityState', { value: h ? 'hidden' : 'visible', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
  await setHidden(true);
  await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
  await new Promise((r) => setTimeout(r, ms));
  await cdp.send('Page.setWebLifecycleState', { state: 'active' });
  await setHidden(false);
  await cdp.detach();
}

try {
  const phone = await browser.newContext(PHONE);
  page = await phone.newPage();
  page.on('pageerror', (e) => errors.push(e.message));

  await step('live plays through the low-latency stream', async () => {
    await logIn(page, args.url, args.password, WAIT);
    await playsLive(2);
    await page.screenshot({ path: join(args.artifacts, 'phone-live-stream.png') });
  });

  await step('replay, another page, back: LIVE plays again', async () => {
    const deadline = Date.now() + 90000;
    let span = 0;
    while (span <= 30000) {
      if (Date.now() > deadline) throw new Error(`the ring holds ${span} ms after 90 s`);
      await page.waitForTimeout(1000);
      span = await page.evaluate(async () => {
        const t = await (await fetch('/api/timeline', { credentials: 'same-origin' })).json();
        return t.to_ms - t.from_ms;
      });
    }
    console.log(`  the ring holds ${(span / 1000).toFixed(1)} s`);
    await page.click('#back-60');
    await page.waitForFunction(() => document.getElementById('mode-badge').textContent.startsWith('REPLAY')
      && document.getElementById('video').currentTime > 0, null, { timeout: WAIT });
    await page.click('a[data-page=memories]');
    await page.waitForSelector('#page-memories:not([hidden])', { timeout: WAIT });
    await page.waitForTimeout(1500);
    await page.click('a[data-page=live]');
    await page.click('#go-live');
    await playsLive(2);
  });

  await step('the screen off for 8 s and on again: live comes back by itself', async () => {
    await screenOffAndOn(8000);
    await playsLive(2);
  });

  await step('the camera restarts (a video settings change): live comes back by itself', async () => {
    const answer = await page.evaluate(async () => {
      const r = await fetch('/api/settings', {
        method: 'PUT', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-Moment': '1' },
        body: JSON.stringify({ video: { fps: 25 } }),
      });
      return `${r.status} ${await r.text()}`;
    });
    if (!answer.startsWith('200')) throw new Error(`the settings change: ${answer}`);
    // The old stream ends with the old camera; the player connects to the new one.
    await page.waitForTimeout(3000);
    await playsLive(2, 60000);
  });

  await step('the recorder restarts: after logging in again, live plays', async () => {
    console.log('RESTART-RECORDER');
    const answer = await Promise.race([nextLine(), new Promise((r) => setTimeout(() => r('timeout'), 90000))]);
    if (answer !== 'restarted') throw new Error(`the recorder was not restarted: ${answer}`);
    // Sessions live in the recorder's memory: the app notices it was logged out and asks again.
    await page.waitForSelector('#page-login:not([hidden])', { timeout: 60000 });
    await page.fill('#login-password', args.password);
    await page.click('#login-submit');
    await playsLive(2, 60000);
  });

  await step('no script errors', async () => {
    if (errors.length) throw new Error(errors.join('\n'));
  });
} catch {
  // The failing step printed itself.
} finally {
  lines.close();
  await browser.close();
}
finish(step.failures);
