// The USB export as a person sees it in the web app (Debian's Chromium, phone size), against a
// recorder that has just copied its memories to a stick: the banner says the stick can be pulled
// out, the Status page's USB card has the numbers, and the memories carry "on USB". Started by
// the Rust test (recorder/daemon/tests/web_usb.rs) after the copy finished. Every wait is
// bounded. The log goes to stderr; stdout gets one line of JSON ({"ok":true,...} or
// {"ok":false,"step":"...","error":"..."}), and the exit status is non-zero on any failure.
//
//   node web/tests/usb.mjs --url URL --password PW --memories N --artifacts DIR

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PHONE, failureShot, launch, login, runJsonScenario, stepRunner } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    password: { type: 'string' },
    memories: { type: 'string' },
    artifacts: { type: 'string', default: 'target/browser-artifacts' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
if (!args.url || !args.password || !args.memories) {
  console.error('usage: usb.mjs --url URL --password PW --memories N [--artifacts DIR]');
  process.exit(2);
}
mkdirSync(args.artifacts, { recursive: true });
const WAIT = 30000;
const memories = Number(args.memories);

const browser = await launch({ executablePath: args.chromium });
const context = await browser.newContext(PHONE);
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
const result = { ok: false };
const step = stepRunner({
  log: console.error,
  screenshot: (slug) => failureShot(page, join(args.artifacts, `failed-usb-${slug}.png`)),
  onFailure: (name, err) => {
    result.step = name;
    result.error = String(err && err.message ? err.message : err).split('\n')[0];
  },
});

const text = (selector) => page.evaluate((s) => {
  const node = document.querySelector(s);
  return node ? node.textContent : null;
}, selector);

await runJsonScenario({ browser, step, errors, result }, async () => {
  await step('log in', () => login(page, args.url, args.password, WAIT));

  await step('the banner says the stick can be pulled out', async () => {
    await page.waitForSelector('#usb-banner:not([hidden])[data-state=ejected]', { timeout: WAIT });
    result.banner = await text('#usb-banner');
    if (!/^USB stick: Copied 1 new memory \(.*\); all 1 are on the stick now\. The stick can be pulled out\.$/.test(result.banner)) throw new Error(`banner: ${result.banner}`);
    await page.screenshot({ path: join(args.artifacts, 'phone-usb-banner.png') });
  });

  await step('the Status page has the stick and its numbers', async () => {
    await page.click('a[data-page=status]');
    await page.waitForSelector('[data-card="USB stick"]', { timeout: WAIT });
    const card = await text('[data-card="USB stick"]');
    result.card = card;
    const expected = ['done: can be pulled out', `(ext4)`, `${memories} new, 0 already there, of ${memories}`];
    for (const want of expected) {
      if (!card.includes(want)) throw new Error(`"${want}" is not in the card: ${card}`);
    }
    await page.locator('[data-card="USB stick"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(args.artifacts, 'phone-usb-status.png') });
  });

  await step('every memory is marked as on USB', async () => {
    await page.click('a[data-page=memories]');
    await page.waitForFunction((n) => document.querySelectorAll('#memories-list > *').length === n,
      memories, { timeout: WAIT, polling: 100 });
    const list = await text('#memories-list');
    const marked = (list.match(/on USB/g) || []).length;
    if (marked !== memories) throw new Error(`${marked} of ${memories} memories say "on USB": ${list}`);
  });
});
