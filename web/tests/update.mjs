// A signed update installed from the web app in a real browser (Debian's Chromium, phone size)
// against a recorder with a real RAUC: log in, open Settings, pick the bundle, press Install update,
// and follow the one progress bar through the upload and the install to "Reboot to use it". Started
// by the Rust test that runs the daemon with RAUC; it does not reboot. Every wait is bounded. The
// log goes to stderr; stdout gets one line of JSON, e.g. {"ok":true,"upload_ms":812,"install_ms":5403}
// or {"ok":false,"step":"...","error":"..."}, and the exit status is non-zero on any failure.
//
//   node web/tests/update.mjs --url URL --password PW --bundle PATH --artifacts DIR [--timeout-s 120]

import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PHONE, failureShot, launch, login, runJsonScenario, stepRunner } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    password: { type: 'string' },
    bundle: { type: 'string' },
    artifacts: { type: 'string', default: 'target/browser-artifacts' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
    'timeout-s': { type: 'string', default: '120' },
  },
});
if (!args.url || !args.password || !args.bundle) {
  console.error('usage: update.mjs --url URL --password PW --bundle PATH [--artifacts DIR] [--timeout-s 120]');
  process.exit(2);
}
mkdirSync(args.artifacts, { recursive: true });
const WAIT = 30000;
const INSTALL_WAIT = Number(args['timeout-s']) * 1000;
const bundleBytes = statSync(args.bundle).size;

const browser = await launch({ executablePath: args.chromium });
const context = await browser.newContext(PHONE);
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
const result = { ok: false, bundle_bytes: bundleBytes };

// The log goes to stderr (stdout is the JSON line); a failure is recorded in the result.
const step = stepRunner({
  log: console.error,
  screenshot: (slug) => failureShot(page, join(args.artifacts, `failed-update-${slug}.png`)),
  onFailure: (name, err) => {
    result.step = name;
    result.error = String(err && err.message ? err.message : err).split('\n')[0];
  },
});

// What the Firmware section shows now, for the error messages.
const firmware = () => page.evaluate(() => ({
  running: document.getElementById('firmware-running').textContent,
  unavailable: document.getElementById('firmware-unavailable').textContent,
  progress: document.getElementById('update-progress').getAttribute('value'),
  text: document.getElementById('update-progress-text').textContent,
  error: document.getElementById('update-error').textContent,
}));

async function waitFor(what, fn, arg, timeout) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}: ${JSON.stringify(await firmware())}`);
  }
}

await runJsonScenario({ browser, step, errors, result }, async () => {
  await step('log in', () => login(page, args.url, args.password, WAIT));

  await step('the Firmware section shows slot A running', async () => {
    await page.click('a[data-page=settings]');
    await page.waitForSelector('#page-settings:not([hidden])', { timeout: WAIT });
    await waitFor('the booted slot A', () => /^Slot A\b/.test(document.getElementById('firmware-running').textContent), null, WAIT);
    if (!(await page.isHidden('#firmware-unavailable'))) throw new Error(`unavailable: ${(await firmware()).unavailable}`);
    await page.locator('#firmware-card').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(args.artifacts, 'phone-firmware-before.png') });
  });

  await step('install the bundle: upload, then install to 100 %', async () => {
    await page.setInputFiles('#update-file', args.bundle);
    await page.waitForSelector('#update-install:not([disabled])', { timeout: WAIT });
    const started = Date.now();
    await page.click('#update-install');
    // The upload is over when the label moves on from "Uploading" (to "Installing", or straight to
    // the result for a small bundle) or an error shows.
    await waitFor('the end of the upload', () => {
      const text = document.getElementById('update-progress-text').textContent;
      return document.getElementById('update-error').textContent || (text && !text.startsWith('Uploading'));
    }, null, INSTALL_WAIT);
    result.upload_ms = Date.now() - started;
    const error = await page.textContent('#update-error');
    if (error) throw new Error(`the upload was refused: ${error}`);
    await waitFor('the installed message', () => {
      const bar = document.getElementById('update-progress');
      return document.getElementById('update-error').textContent
        || (bar.getAttribute('value') === '100'
          && /^Installed .* in slot [A-Z]\. Reboot to use it\.$/.test(document.getElementById('update-progress-text').textContent)
          && !document.getElementById('update-reboot').hidden);
    }, null, Math.max(1000, INSTALL_WAIT - result.upload_ms));
    result.install_ms = Date.now() - started - result.upload_ms;
    const failed = await page.textContent('#update-error');
    if (failed) throw new Error(`the install failed: ${failed}`);
    result.message = await page.textContent('#update-progress-text');
    await page.locator('#firmware-card').scrollIntoViewIfNeeded();
    await page.waitForTimeout(500); // the bar's width transition
    await page.screenshot({ path: join(args.artifacts, 'phone-firmware-installed.png') });
  });
});
