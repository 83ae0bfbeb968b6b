// The web app in a real browser (Debian's Chromium driven by playwright-core) against a running
// recorder with the `test` source: what a person does on a phone, step by step. Started by
// recorder/daemon/tests/web_browser.rs, which runs the daemon and passes its address; exits
// non-zero with the failing step, its error and a screenshot. Every wait is bounded.
//
//   node web/tests/browser.mjs --url http://127.0.0.1:PORT --password PW --artifacts DIR

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AUTOPLAY, LAPTOP, PHONE, failureShot, finish, launch, login as logIn, stepRunner, watchTraffic } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    password: { type: 'string' },
    artifacts: { type: 'string', default: 'target/browser-artifacts' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
if (!args.url || !args.password) {
  console.error('usage: browser.mjs --url URL --password PASSWORD [--artifacts DIR]');
  process.exit(2);
}
mkdirSync(args.artifacts, { recursive: true });

const WAIT = 30000;

const browser = await launch({ executablePath: args.chromium, extraArgs: [AUTOPLAY] });

let page = null;
const pageErrors = [];
// Console errors, failed requests and refusals the scenario did not ask for, in every page.
const trafficProblems = [];

// On a failure, a screenshot of every page still open.
const step = stepRunner({
  screenshot: async (slug) => {
    const pages = browser.contexts().flatMap((c) => c.pages());
    for (const [i, p] of pages.entries()) {
      const shot = join(args.artifacts, `failed-${slug}-${i}.png`);
      await failureShot(p, shot);
      console.log(`  screenshot: ${shot}`);
    }
  },
});

// Returns the page's traffic watcher, whose `expect` names the refusals a step provokes.
function watch(p) {
  p.on('pageerror', (e) => pageErrors.push(e.message));
  return watchTraffic(p, trafficProblems);
}

const login = (p) => logIn(p, args.url, args.password, WAIT);

// Resolves once the element's currentTime has moved on by `seconds` (the video really plays).
async function playsOn(p, selector, seconds) {
  const start = await p.$eval(selector, (v) => v.currentTime);
  try {
    await p.waitForFunction(([sel, from, by]) => {
      const v = document.querySelector(sel);
      return v && !v.paused && v.currentTime >= from + by && v.readyState >= 2;
    }, [selector, start, seconds], { timeout: WAIT, polling: 200 });
  } catch (err) {
    const state = await p.$eval(selector, (v) => ({
      currentTime: v.currentTime, paused: v.paused, readyState: v.readyState,
      error: v.error && v.error.message, src: v.currentSrc,
      message: document.getElementById('player-msg')?.textContent,
    })).catch(() => null);
    throw new Error(`${selector} did not play ${seconds} s on from ${start}: ${JSON.stringify(state)}`);
  }
}

const api = (p, path) => p.evaluate(async (url) => {
  const r = await fetch(url, { credentials: 'same-origin' });
  return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? await r.json() : null };
}, path);

async function memories(p) {
  const r = await api(p, '/api/memories');
  if (r.status !== 200) throw new Error(`GET /api/memories: ${r.status}`);
  return r.body;
}

// Polls `check` (async, in this process) until it returns a truthy value, at most `ms`.
async function until(what, check, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function waitForMemoryCount(p, count) {
  await until(`${count} memories`, async () => (await memories(p)).length >= count, 60000);
}

async function shot(p, name) {
  await p.screenshot({ path: join(args.artifacts, `${name}.png`) });
}

try {
  const anonymous = await browser.newContext(PHONE);
  page = await anonymous.newPage();
  const anonymousTraffic = watch(page);

  await step('logged out: the app shows the login form and the API refuses', async () => {
    await page.goto(args.url + '/');
    await page.waitForSelector('#page-login:not([hidden])', { timeout: WAIT });
    if (trafficProblems.length) throw new Error(`loading the login page: ${trafficProblems.join('; ')}`);
    for (const path of ['/api/status', '/api/memories', '/hls/live.m3u8', '/api/timeline']) {
      anonymousTraffic.expect(path, 401);
      const r = await api(page, path);
      if (r.status !== 401) throw new Error(`${path} answered ${r.status} without a session`);
    }
    await shot(page, 'phone-login');
  });

  await step('a wrong password is refused with a message', async () => {
    anonymousTraffic.expect('/api/login', 401);
    await page.fill('#login-password', 'not the password');
    await page.click('#login-submit');
    await page.waitForFunction(() => document.getElementById('login-error').textContent.includes('Wrong'), null, { timeout: WAIT });
  });

  await step('without mpegts.js live falls back to the HLS playlist through hls.js', async () => {
    const context = await browser.newContext(PHONE);
    const p = await context.newPage();
    watch(p).expect('/vendor/mpegts.js', 'failed');
    await p.route('**/vendor/mpegts.js', (route) => route.abort());
    await login(p);
    await playsOn(p, '#video', 1);
    const player = await p.$eval('#video', (v) => v.dataset.player);
    if (player === 'mpegts') throw new Error('the live stream played without mpegts.js');
    await context.close();
  });

  await step('without either player the app still loads, shows the status and plays natively if it can', async () => {
    const bare = await browser.newContext(PHONE);
    const p = await bare.newPage();
    const traffic = watch(p);
    traffic.expect('/vendor/hls.min.js', 'failed');
    traffic.expect('/vendor/mpegts.js', 'failed');
    await p.route('**/vendor/hls.min.js', (route) => route.abort());
    await p.route('**/vendor/mpegts.js', (route) => route.abort());
    await login(p);
    await p.waitForFunction(() => document.getElementById('rec').dataset.state === 'on', null, { timeout: WAIT });
    await p.click('a[data-page=status]');
    await p.waitForSelector('[data-card=Recording]', { timeout: WAIT });
    const text = await p.textContent('[data-card=Recording]');
    if (!text.includes('recording')) throw new Error(`status card says: ${text}`);
    // The live view falls back to the browser's own HLS (Safari's path), or says why it cannot play.
    await p.click('a[data-page=live]');
    const native = await p.evaluate(() => document.createElement('video').canPlayType('application/vnd.apple.mpegurl'));
    if (native) {
      await playsOn(p, '#video', 1);
      console.log(`  played through the browser's native HLS (canPlayType: ${native})`);
    } else {
      await p.waitForSelector('#player-msg:not([hidden])', { timeout: WAIT });
    }
    await bare.close();
  });
  await anonymous.close();

  const phone = await browser.newContext(PHONE);
  page = await phone.newPage();
  const phoneTraffic = watch(page);
  const opened = Date.now();

  await step('log in and the live view plays, through the low-latency stream', async () => {
    await login(page);
    await playsOn(page, '#video', 0.5);
    const player = await page.$eval('#video', (v) => v.dataset.player);
    if (player !== 'mpegts') throw new Error(`live played through ${player || 'HLS'}, not the stream`);
    console.log(`  first frames after ${Date.now() - opened} ms from opening the page`);
    await playsOn(page, '#video', 2);
    const badge = await page.textContent('#mode-badge');
    if (badge !== 'LIVE') throw new Error(`badge says ${badge}`);
    await shot(page, 'phone-live');
  });

  await step('a normal visit: no console error, failed request or refusal on any page', async () => {
    for (const name of ['memories', 'status', 'settings', 'live']) {
      await page.click(`a[data-page=${name}]`);
      await page.waitForSelector(`#page-${name}:not([hidden])`, { timeout: WAIT });
      await page.waitForTimeout(1500);
    }
    await page.reload();
    await page.waitForSelector('#page-live:not([hidden])', { timeout: WAIT });
    await playsOn(page, '#video', 0.5);
    if (trafficProblems.length) throw new Error(trafficProblems.join('\n'));
  });

  let before = [];
  await step('SAVE in the app makes a memory that plays in the page', async () => {
    before = await memories(page);
    const save = await page.$('#btn-save');
    const box = await save.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.waitForTimeout(150);
    await page.mouse.up();
    await waitForMemoryCount(page, before.length + 1);
    await page.click('a[data-page=memories]');
    const now = await memories(page);
    const name = now.map((m) => m.name).find((n) => !before.some((m) => m.name === n));
    if (!name) throw new Error(`no new memory: before ${JSON.stringify(before)} now ${JSON.stringify(now)}`);
    const item = `li.memory[data-name="${name}"]`;
    await page.waitForSelector(item, { timeout: WAIT });
    // Its thumbnail is its first picture, 160 pixels wide from the recorder.
    await page.waitForFunction((sel) => {
      const img = document.querySelector(`${sel} img.m-thumb`);
      return img && img.complete && img.naturalWidth === 160;
    }, item, { timeout: WAIT });
    await page.click(`${item} [data-action=play]`);
    await playsOn(page, `${item} video`, 1);
    await shot(page, 'phone-memories');
  });

  await step('delete a memory after confirming', async () => {
    const list = await memories(page);
    const victim = list[list.length - 1].name;
    const item = `li.memory[data-name="${victim}"]`;
    await page.click(`${item} [data-action=delete]`);
    await page.waitForSelector('#confirm[open]', { timeout: WAIT });
    await shot(page, 'phone-delete-confirm');
    await page.click('#confirm-ok');
    await page.waitForSelector(item, { state: 'detached', timeout: WAIT });
    const after = await memories(page);
    if (after.some((m) => m.name === victim)) throw new Error(`${victim} is still listed`);
  });

  await step('scrub back a minute, mark a range and save it; the memory plays', async () => {
    await page.click('a[data-page=live]');
    // The ring must hold more than a minute before there is a minute to go back to.
    await until('75 s in the ring', async () => {
      const t = (await api(page, '/api/timeline')).body;
      return t && t.to_ms - t.from_ms > 75000;
    }, 120000);
    await playsOn(page, '#video', 0.5);
    // Thumbnails along the timeline: pictures from the recorder, each opening its moment.
    await page.waitForFunction(() => {
      const imgs = [...document.querySelectorAll('#tl-thumbs img')];
      return imgs.length >= 2 && imgs.every((img) => img.complete && img.naturalWidth === 160);
    }, null, { timeout: WAIT });
    const liveAt = await page.evaluate(() => Date.parse(new Date().toDateString()) && Date.now());
    await page.click('#back-60');
    await page.waitForFunction(() => document.getElementById('mode-badge').textContent.startsWith('REPLAY'), null, { timeout: WAIT });
    await playsOn(page, '#video', 1);
    await page.click('#mark-in');
    await playsOn(page, '#video', 4);
    await page.click('#mark-out');
    const range = await page.textContent('#mark-text');
    await shot(page, 'phone-replay-marked');
    const count = (await memories(page)).length;
    await page.click('#save-range');
    await waitForMemoryCount(page, count + 1);
    const list = await memories(page);
    const saved = list.reduce((a, b) => (Date.parse(a.saved) > Date.parse(b.saved) ? a : b));
    const from = Date.parse(saved.from);
    const behind = (liveAt - from) / 1000;
    if (!(behind > 30 && behind < 120)) throw new Error(`the saved range starts ${behind} s before the click (marked ${range})`);
    if (!(saved.duration_s >= 2 && saved.duration_s <= 20)) throw new Error(`the saved range lasts ${saved.duration_s} s (marked ${range})`);
    console.log(`  saved ${saved.name}: ${saved.duration_s} s starting ${behind.toFixed(1)} s before the jump (marked ${range})`);
    await page.click('a[data-page=memories]');
    const item = `li.memory[data-name="${saved.name}"]`;
    await page.waitForSelector(item, { timeout: WAIT });
    await page.click(`${item} [data-action=play]`);
    await playsOn(page, `${item} video`, 1);
  });

  await step('status and settings pages render at phone size', async () => {
    await page.click('a[data-page=status]');
    await page.waitForSelector('[data-card=Ring]', { timeout: WAIT });
    await shot(page, 'phone-status');
    await page.click('a[data-page=settings]');
    await page.waitForSelector('#page-settings:not([hidden])', { timeout: WAIT });
    const minutes = '[data-field="memories.save_minutes"]';
    await page.waitForFunction((sel) => document.querySelector(sel).value !== '', minutes, { timeout: WAIT });
    await shot(page, 'phone-settings');
  });

  await step('settings: a bad value is refused next to its field, a good one is saved', async () => {
    phoneTraffic.expect('/api/settings', 400);
    const minutes = '[data-field="memories.save_minutes"]';
    await page.fill(minutes, '99');
    await page.click('#settings-save');
    await page.waitForFunction(() => document.querySelector('[data-error="memories.save_minutes"]').textContent.includes('0.5'), null, { timeout: WAIT });
    await shot(page, 'phone-settings-error');
    await page.fill(minutes, '0.5');
    await page.click('#settings-save');
    await page.waitForFunction(() => document.getElementById('settings-saved').textContent === 'Saved.', null, { timeout: WAIT });
    const r = await api(page, '/api/settings');
    if (r.body.memories.save_minutes !== 0.5) throw new Error(`settings say ${JSON.stringify(r.body)}`);
  });

  await step('the laptop layout', async () => {
    const laptop = await browser.newContext(LAPTOP);
    const p = await laptop.newPage();
    watch(p);
    await login(p);
    await playsOn(p, '#video', 1);
    await p.screenshot({ path: join(args.artifacts, 'laptop-live.png') });
    await laptop.close();
  });

  await step('log out: the session is gone', async () => {
    phoneTraffic.expect('/api/status', 401);
    await page.click('#logout');
    await page.waitForSelector('#page-login:not([hidden])', { timeout: WAIT });
    const r = await api(page, '/api/status');
    if (r.status !== 401) throw new Error(`/api/status answered ${r.status} after logout`);
  });

  await step('no script errors, console errors, failed requests or unexpected refusals in any page', async () => {
    if (pageErrors.length) throw new Error(pageErrors.join('\n'));
    if (trafficProblems.length) throw new Error(trafficProblems.join('\n'));
  });
} catch {
  // The failing step printed itself.
} finally {
  await browser.close();
}
finish(step.failures);
