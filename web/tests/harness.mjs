// What the Playwright scripts (tests/browser.mjs, tests/wizard.mjs, tests/update.mjs,
// tests/usb.mjs and bench/first-frame.mjs) share, so that the way they start Chromium, the screen
// sizes they use, the login, how a step reports itself and how a JSON-line scenario ends are
// written once. The scenarios, their assertions and each script's output contract (read by the
// Rust tests) stay in the scripts.

import { chromium } from 'playwright-core';

// Debian's headless Chromium, with nothing of its own going to the network.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
// For the scripts that need the live video to start without a tap.
export const AUTOPLAY = '--autoplay-policy=no-user-gesture-required';

export function launch({ executablePath = '/usr/bin/chromium', extraArgs = [] } = {}) {
  return chromium.launch({ executablePath, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

// Browser context options.
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };
export const LAPTOP = { viewport: { width: 1280, height: 800 } };

// A full-page screenshot taken after a failure: a screenshot that fails in turn is ignored.
export const failureShot = (page, path) => page.screenshot({ path, fullPage: true }).catch(() => {});

// Opens the app at `url` and logs in with `password`; resolves once the live page shows.
export async function login(page, url, password, timeout) {
  await page.goto(`${url}/`);
  await page.waitForSelector('#page-login:not([hidden])', { timeout });
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#page-live:not([hidden])', { timeout });
}

// Watches a page for what a normal visit must never show: a console error, a request that failed
// and a response of 400 or more. A scenario that provokes one (a wrong password, a request without
// a session) first says so with `expect(path, status)` (status `'failed'` for a request that fails
// without an answer); the console's "Failed to load resource" line for an expected answer is not
// counted either. Requests the page itself cancelled (net::ERR_ABORTED: hls.js dropping a load, a
// video seeking, a page closing) are not failures. `problems` lists the rest, in order.
export function watchTraffic(page, problems = []) {
  const expected = [];
  const matches = (url, status) => {
    let path;
    try { path = new URL(url).pathname; } catch { return false; }
    return expected.some((e) => path === e.path && (e.status === status || (status === undefined)));
  };
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location() && m.location().url;
    if (url && m.text().startsWith('Failed to load resource') && matches(url)) return;
    problems.push(`console error: ${m.text()}${url ? ` (${url})` : ''}`);
  });
  page.on('requestfailed', (r) => {
    const why = (r.failure() && r.failure().errorText) || 'failed';
    if (why.includes('ERR_ABORTED') || matches(r.url(), 'failed')) return;
    problems.push(`request failed: ${r.method()} ${r.url()}: ${why}`);
  });
  page.on('response', (r) => {
    if (r.status() < 400 || matches(r.url(), r.status())) return;
    problems.push(`${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  return {
    problems,
    expect(path, status) { expected.push({ path, status }); },
  };
}

// Returns `step(name, fn)`: runs `fn`, logs `ok - name (N ms)` or `not ok - name: error` with
// `log`, and on failure counts it in `step.failures`, awaits `screenshot(slug)` (slug: the name
// made safe for a file name), calls `onFailure(name, err)` and throws the error on, so that the
// scenario stops at the first failing step.
export function stepRunner({ log = console.log, screenshot = async () => {}, onFailure = () => {} } = {}) {
  async function step(name, fn) {
    const started = Date.now();
    try {
      await fn();
      log(`ok - ${name} (${Date.now() - started} ms)`);
    } catch (err) {
      step.failures += 1;
      log(`not ok - ${name}: ${err && err.stack ? err.stack : err}`);
      await screenshot(name.replace(/\W+/g, '-'));
      onFailure(name, err);
      throw err;
    }
  }
  step.failures = 0;
  return step;
}

// The last line of browser.mjs and wizard.mjs, which their Rust tests look for: `PASSED` or
// `FAILED (n)`, and the matching exit status.
export function finish(failures) {
  console.log(failures ? `FAILED (${failures})` : 'PASSED');
  process.exit(failures ? 1 : 0);
}

// A scenario whose contract is one line of JSON on stdout (update.mjs, usb.mjs): runs
// `scenario()` (its steps), records a page error as a failure, closes the browser, prints
// `result` with `ok` set, and exits non-zero unless every step passed.
export async function runJsonScenario({ browser, step, errors, result }, scenario) {
  try {
    await scenario();
    await step('no script errors', async () => {
      if (errors.length) throw new Error(errors.join('\n'));
    });
    result.ok = true;
  } catch {
    // logged by the step
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
