// The rough edges a first-time owner meets in the web app (issue 23), each checked in Debian's
// Chromium against the real recorder: what a double tap on SAVE makes, what UPLOAD says without an
// upload target, the words and units on the status page, the marked range at every zoom, where
// settings errors appear, and the layout holding still while data arrives. Kept apart from
// browser.mjs, whose scenario waits for a minute of recording, so these run in a short time.
// Started by recorder/daemon/tests/web_browser.rs; exits non-zero with the failing step.
//
//   node web/tests/details.mjs --url http://127.0.0.1:PORT --password PW --artifacts DIR

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PHONE, failureShot, finish, launch, login as logIn, stepRunner, watchTraffic } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    password: { type: 'string' },
    artifacts: { type: 'string', default: 'target/browser-artifacts' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
if (!args.url || !args.password) {
  console.error('usage: details.mjs --url URL --password PASSWORD [--artifacts DIR]');
  process.exit(2);
}
mkdirSync(args.artifacts, { recursive: true });

const WAIT = 30000;
// The recorder's join window for SAVE requests (service/save_join.rs), and a margin.
const JOIN_WINDOW_MS = 10000;

const browser = await launch({ executablePath: args.chromium });
// The phone is in another time zone than the recorder (whose TZ here is the machine's, UTC when
// unset), so times shown in the phone's zone instead of the camera's are caught.
const PHONE_ZONE = 'Pacific/Chatham';
const context = await browser.newContext({ ...PHONE, timezoneId: PHONE_ZONE });
const page = await context.newPage();
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(e.message));
const traffic = watchTraffic(page);

const step = stepRunner({
  screenshot: async (slug) => {
    const shot = join(args.artifacts, `details-failed-${slug}.png`);
    await failureShot(page, shot);
    console.log(`  screenshot: ${shot}`);
  },
});

const api = (path) => page.evaluate(async (url) => {
  const r = await fetch(url, { credentials: 'same-origin' });
  return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? await r.json() : null };
}, path);

async function memories() {
  const r = await api('/api/memories');
  if (r.status !== 200) throw new Error(`GET /api/memories: ${r.status}`);
  return r.body;
}

async function until(what, check, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

// A finger on a big button for `ms`.
async function tap(selector, ms = 120) {
  const box = await (await page.$(selector)).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.waitForTimeout(ms);
  await page.mouse.up();
}

// The newest toast's text, once one containing `text` shows.
async function toastWith(text) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#toasts .toast')].some((n) => n.textContent.includes(t)),
    text, { timeout: WAIT });
  return page.$eval('#toasts', (n) => n.textContent);
}

// Follows the toast's "Open Settings" and checks the upload target's card is on screen.
async function followToSettings() {
  await page.click('#toasts .toast-action');
  await page.waitForSelector('#page-settings:not([hidden])', { timeout: WAIT });
  await page.waitForFunction(() => {
    const r = document.getElementById('target-card').getBoundingClientRect();
    return r.top >= 0 && r.top < window.innerHeight;
  }, null, { timeout: WAIT });
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  if (focused !== 'target-kind') throw new Error(`the focus is on ${focused}, not the upload target's kind`);
}

try {
  await step('log in', async () => {
    await logIn(page, args.url, args.password, WAIT);
    await page.waitForFunction(() => document.getElementById('rec').dataset.state === 'on', null, { timeout: WAIT });
  });

  let saved = null;
  await step('two quick taps on SAVE make one memory', async () => {
    const before = (await memories()).length;
    await tap('#btn-save');
    await page.waitForTimeout(400);
    await tap('#btn-save');
    await until('a memory', async () => (await memories()).length > before, 60000);
    // Past the join window of the second tap, and the save settled.
    await page.waitForTimeout(JOIN_WINDOW_MS + 1000);
    await until('the save to settle', async () => !(await api('/api/status')).body.saves.in_progress);
    const list = await memories();
    if (list.length !== before + 1) throw new Error(`${list.length - before} memories for a double tap: ${JSON.stringify(list)}`);
    saved = list[list.length - 1].name;
    await page.click('a[data-page=memories]');
    await page.waitForSelector(`li.memory[data-name="${saved}"]`, { timeout: WAIT });
    const shown = await page.$$eval('#memories-list li.memory', (items) => items.length);
    if (shown !== before + 1) throw new Error(`the list shows ${shown} memories`);
  });

  await step('UPLOAD without an upload target says so and opens the setting', async () => {
    traffic.expect('/api/buttons/upload', 409);
    await page.click('a[data-page=live]');
    await page.waitForSelector('#page-live:not([hidden])', { timeout: WAIT });
    await tap('#btn-upload');
    const text = await toastWith('No upload target');
    if (text.includes('Uploading now')) throw new Error(`the toast says: ${text}`);
    await page.screenshot({ path: join(args.artifacts, 'phone-upload-no-target.png') });
    await followToSettings();
  });

  await step("a memory's Upload without an upload target says so and opens the setting", async () => {
    traffic.expect(`/api/memories/${saved}/upload`, 409);
    await page.click('a[data-page=memories]');
    const button = `li.memory[data-name="${saved}"] [data-action=upload]`;
    await page.waitForSelector(`${button}:not([disabled])`, { timeout: WAIT });
    await page.click(button);
    const text = await toastWith('No upload target');
    if (/will upload|Uploading/.test(text)) throw new Error(`the toast says: ${text}`);
    await followToSettings();
  });

  await step("status speaks plainly: states in words, sizes in units, the camera's local time", async () => {
    await page.click('a[data-page=status]');
    await page.waitForSelector('[data-card=Recording]', { timeout: WAIT });
    await page.waitForFunction(() => document.getElementById('events').textContent.includes('saved'), null, { timeout: WAIT });
    const text = await page.textContent('#page-status');
    await page.screenshot({ path: join(args.artifacts, 'phone-status-words.png'), fullPage: true });
    if (/[{}]/.test(text)) throw new Error(`debug text on the status page: ${text}`);
    const bare = text.match(/\d{5,}/g);
    if (bare) throw new Error(`bare large numbers on the status page (${bare.join(', ')}): ${text}`);
    const state = await page.textContent('[data-card=Recording] dd');
    if (state !== 'recording') throw new Error(`the recording state reads "${state}"`);
    // The System card's time in the recorder's zone, to the minute (either side of a minute turning).
    const status = (await api('/api/status')).body;
    const hm = (ms) => new Date(ms + status.time.utc_offset_s * 1000).toISOString().slice(11, 16);
    const now = status.time.utc_us / 1000;
    const shown = await page.$eval('[data-card=System] dd', (n) => n.textContent);
    if (![hm(now), hm(now - 60000), hm(now + 60000)].some((t) => shown.includes(t))) {
      throw new Error(`the time reads "${shown}", not the recorder's local ${hm(now)} (the phone is in ${PHONE_ZONE})`);
    }
  });

  await step('the marked range shows at every zoom, also a few seconds of hours, also at the very end', async () => {
    await page.click('a[data-page=live]');
    await page.waitForSelector('#page-live:not([hidden])', { timeout: WAIT });
    // A second bar of the page's own markup driven by the app's Timeline over three hours of
    // recording: the real ring would need hours to get there.
    const cases = await page.evaluate(async () => {
      const { Timeline } = await import('/ui/timeline.js');
      const root = document.getElementById('timeline').cloneNode(true);
      root.id = 'timeline-check';
      document.querySelector('.timeline-box').append(root);
      const bar = new Timeline(root, () => {});
      const to = Date.now();
      const from = to - 3 * 3600 * 1000;
      bar.setData(from, to, [[from, to]]);
      bar.setPlayhead(to - 1000);
      const out = [];
      for (const zoom of ['all', '3600', '600']) {
        bar.setZoom(zoom);
        for (const [name, a, b] of [['middle', to - 600000, to - 595000], ['end', to - 5000, to]]) {
          bar.setMarks({ in: a, out: b });
          const r = root.querySelector('.tl-selection').getBoundingClientRect();
          const box = root.getBoundingClientRect();
          out.push({ zoom, name, hidden: root.querySelector('.tl-selection').hidden, width: r.width,
            inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5 });
        }
      }
      root.remove();
      return out;
    });
    const bad = cases.filter((c) => c.hidden || c.width < 7.5 || !c.inside);
    if (bad.length) throw new Error(`the selection is not visible: ${JSON.stringify(bad)}`);
  });

  await step('a refused setting shows next to its field, on screen, in plain words, with the input kept', async () => {
    traffic.expect('/api/settings', 400);
    await page.click('a[data-page=settings]');
    const minutes = '[data-field="memories.save_minutes"]';
    await page.waitForFunction((sel) => document.querySelector(sel).value !== '', minutes, { timeout: WAIT });
    await page.fill(minutes, '99');
    // Save sits at the end of a long form: on a phone the field is far above it.
    await page.click('#settings-save');
    const slot = '[data-error="memories.save_minutes"]';
    await page.waitForFunction((sel) => document.querySelector(sel).textContent !== '', slot, { timeout: WAIT });
    const seen = await page.evaluate(([sel, field]) => {
      const r = document.querySelector(sel).getBoundingClientRect();
      return { text: document.querySelector(sel).textContent, top: r.top, bottom: r.bottom, height: window.innerHeight,
        value: document.querySelector(field).value, focused: document.activeElement === document.querySelector(field) };
    }, [slot, minutes]);
    await page.screenshot({ path: join(args.artifacts, 'phone-settings-refused.png') });
    if (!(seen.top >= 0 && seen.bottom <= seen.height)) throw new Error(`the error is off-screen: ${JSON.stringify(seen)}`);
    if (/\b[a-z_]+\.[a-z_]+\b/.test(seen.text)) throw new Error(`the error names an internal field: ${seen.text}`);
    if (!seen.text.includes('0.5 to 30')) throw new Error(`the error does not say what is allowed: ${seen.text}`);
    if (seen.value !== '99') throw new Error(`the input was changed to ${seen.value}`);
    if (!seen.focused) throw new Error('the focus is not in the refused field');
  });

  await step('the live page holds still while its data arrives and while a save runs', async () => {
    const p = await context.newPage();
    p.on('pageerror', (e) => pageErrors.push(e.message));
    watchTraffic(p, traffic.problems);
    // The timeline answers late, as on a slow Wi-Fi, so the page is seen before its data.
    let release;
    const held = new Promise((r) => { release = r; });
    await p.route('**/api/timeline', async (route) => { await held; await route.continue(); });
    await p.goto(`${args.url}/#live`);
    await p.waitForSelector('#page-live:not([hidden])', { timeout: WAIT });
    const where = () => p.evaluate(() => Object.fromEntries(['timeline', 'btn-save', 'mark-in'].map((id) => [id, Math.round(document.getElementById(id).getBoundingClientRect().top)])));
    const before = await where();
    release();
    await p.waitForFunction(() => document.getElementById('tl-start').textContent !== '', null, { timeout: WAIT });
    const loaded = await where();
    const box = await (await p.$('#btn-save')).boundingBox();
    await p.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await p.mouse.down();
    await p.waitForTimeout(120);
    await p.mouse.up();
    await p.waitForSelector('[data-progress=save]', { timeout: WAIT });
    const saving = await where();
    await p.screenshot({ path: join(args.artifacts, 'phone-live-saving.png') });
    for (const [when, now] of [['after the timeline loaded', loaded], ['while saving', saving]]) {
      for (const id of Object.keys(before)) {
        if (Math.abs(now[id] - before[id]) > 1) throw new Error(`#${id} moved from ${before[id]} to ${now[id]} px ${when}`);
      }
    }
    await p.close();
  });

  await step('no script errors, console errors, failed requests or unexpected refusals', async () => {
    const all = [...pageErrors, ...traffic.problems];
    if (all.length) throw new Error(all.join('\n'));
  });
} catch {
  // The failing step printed itself.
} finally {
  await browser.close();
}
finish(step.failures);
