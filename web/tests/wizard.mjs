// The first-boot wizard in a real browser (Debian's Chromium, phone size) against a recorder whose
// network is simulated (its neighbourhood: HomeNet with password moment-home, and two others) and
// whose upload target is a real `rclone serve webdav`: a rescan warns before the access point
// drops, a wrong Wi-Fi password comes back on the page by itself as a clear message with nothing
// saved, the test upload works, and the second try joins the network and saves the rest.
// Started by recorder/daemon/tests/web_wizard.rs. Every wait is bounded.
//
//   node web/tests/wizard.mjs --url URL --webdav URL --artifacts DIR

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PHONE, failureShot, finish, launch, stepRunner } from './harness.mjs';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    webdav: { type: 'string' },
    artifacts: { type: 'string', default: 'target/browser-artifacts' },
  },
});
mkdirSync(args.artifacts, { recursive: true });
const WAIT = 30000;
const ADMIN = 'owner password 1';

const browser = await launch();
const context = await browser.newContext(PHONE);
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));

const step = stepRunner({
  screenshot: (slug) => failureShot(page, join(args.artifacts, `failed-wizard-${slug}.png`)),
});

const shot = (name) => page.screenshot({ path: join(args.artifacts, `${name}.png`) });
const onStep = (name) => page.waitForSelector(`#setup-form .step.on[data-step="${name}"]`, { timeout: WAIT });

async function until(what, check, ms = WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// The status as the owner sees it (a separate session, so the page's own is untouched).
async function status() {
  const r = await context.request.get(`${args.url}/api/status`);
  return r.ok() ? r.json() : null;
}

async function wifiStep(password) {
  await onStep('wifi');
  await page.check('#setup-networks input[value="HomeNet"]');
  await page.fill('#setup-wifi-password', password);
  await page.click('#setup-next');
}

try {
  await step('a new recorder opens the wizard by itself, with the networks nearby', async () => {
    await page.goto(`${args.url}/`);
    await page.waitForSelector('#page-setup:not([hidden])', { timeout: WAIT });
    await onStep('wifi');
    const names = await page.$$eval('#setup-networks .name', (n) => n.map((x) => x.textContent));
    if (names[0] !== 'HomeNet') throw new Error(`networks: ${names}`);
    await shot('wizard-wifi');
  });

  await step('a rescan warns first that the phone may drop off, then shows the new list', async () => {
    const before = await page.textContent('#setup-scan-note');
    await page.click('#setup-rescan');
    const warning = await page.textContent('#setup-scan-note');
    if (!/may drop off/.test(warning)) throw new Error(`no warning before the scan: ${warning}`);
    await page.waitForFunction((old) => {
      const note = document.getElementById('setup-scan-note').textContent;
      return note.startsWith('scanned') && note !== old;
    }, before, { timeout: WAIT });
    await onStep('wifi');
  });

  await step('steps refuse what cannot work before going on', async () => {
    await page.check('#setup-networks input[value="HomeNet"]');
    await page.fill('#setup-wifi-password', 'short');
    await page.click('#setup-next');
    await page.waitForFunction(() => document.querySelector('[data-error="wifi"]').textContent.includes('8 to 63'), null, { timeout: WAIT });
    // HomeNet is secured: an empty password is refused next to the field, before any join.
    await page.fill('#setup-wifi-password', '');
    await page.click('#setup-next');
    await page.waitForFunction(() => document.querySelector('[data-error="wifi"]').textContent.includes('protected by a password'), null, { timeout: WAIT });
    await onStep('wifi');
    await shot('wizard-empty-password');
  });

  await step('wizard with a wrong Wi-Fi password and a WebDAV upload target that tests fine', async () => {
    await wifiStep('wrong-password-1');
    await onStep('admin');
    await page.fill('#setup-admin', ADMIN);
    await page.fill('#setup-admin-again', ADMIN);
    await page.click('#setup-next');
    await onStep('clock');
    await page.click('#setup-next');
    await onStep('upload');
    // Nowhere to upload: no question about when; Back returns to the upload step.
    await page.click('#setup-next');
    await onStep('summary');
    await page.click('#setup-back');
    await onStep('upload');
    await page.selectOption('#setup-kind', 'webdav');
    await page.fill('[data-upload="url"]', args.webdav);
    await page.selectOption('[data-upload="vendor"]', 'other');
    await page.fill('[data-upload="user"]', 'u');
    await page.fill('[data-upload="pass"]', 'p');
    await page.fill('[data-upload-path]', 'memories');
    await page.click('#setup-test-upload');
    await page.waitForFunction(() => document.getElementById('setup-test-result').textContent.includes('It works'), null, { timeout: 60000 });
    await shot('wizard-upload');
    await page.click('#setup-next');
    await onStep('policy');
    await page.click('#setup-next');
    await onStep('summary');
    await shot('wizard-summary');
    await page.click('#setup-next');
    await page.waitForSelector('#setup-form .step.on[data-step="done"]', { timeout: WAIT });
    // The wait shows its seconds going by, not a bare "Joining…".
    const seconds = async () => {
      const m = /Trying to join HomeNet… (\d+) s/.exec(await page.textContent('#setup-done-state'));
      return m ? Number(m[1]) : null;
    };
    const first = await until('the elapsed time of the join', seconds);
    await until('the elapsed time to move on', async () => (await seconds()) > first);
    await shot('wizard-done');
  });

  await step('the wrong password brings the page back to the Wi-Fi step with the reason, nothing saved', async () => {
    // The page itself finds out (no reload): it asks until the access point is back.
    await onStep('wifi');
    const banner = await page.textContent('#setup-last-error');
    if (!/password/i.test(banner) || !/Nothing was saved/.test(banner)) throw new Error(`banner: ${banner}`);
    await shot('wizard-wrong-password');
    const login = await context.request.post(`${args.url}/api/login`, { headers: { 'X-Moment': '1' }, data: { password: ADMIN } });
    if (login.ok()) throw new Error('the admin password was saved although the Wi-Fi failed');
    const setup = await (await context.request.get(`${args.url}/api/setup`)).json();
    if (setup.admin_password_set || setup.station_ssid || setup.upload?.remote) {
      throw new Error(`saved after a failed join: ${JSON.stringify(setup)}`);
    }
  });

  await step('the right password joins the network, saves the rest and closes setup', async () => {
    // The rest of the form is as the owner left it.
    await wifiStep('moment-home');
    await onStep('admin');
    await page.click('#setup-next');
    await onStep('clock');
    await page.click('#setup-next');
    await onStep('upload');
    await page.click('#setup-next');
    await onStep('policy');
    await page.click('#setup-next');
    await onStep('summary');
    await page.click('#setup-next');
    await page.waitForSelector('#setup-form .step.on[data-step="done"]', { timeout: WAIT });
    await until('the admin password, saved once joined', async () => {
      const login = await context.request.post(`${args.url}/api/login`, { headers: { 'X-Moment': '1' }, data: { password: ADMIN } });
      return login.ok();
    });
    await until('station mode', async () => {
      const s = await status();
      return s && s.network.mode === 'station' && !s.network.setup;
    });
    const settings = await (await context.request.get(`${args.url}/api/settings`)).json();
    if (settings.upload.remote !== 'moment:memories') throw new Error(`remote: ${settings.upload.remote}`);
    await page.goto(`${args.url}/`);
    await page.waitForSelector('#page-live:not([hidden])', { timeout: WAIT });
  });

  await step('later, behind the login, the settings change the upload target', async () => {
    await page.click('a[data-page=settings]');
    await page.waitForFunction(() => document.getElementById('network-now').textContent.includes('Connected to HomeNet'), null, { timeout: WAIT });
    if (await page.textContent('#target-now') !== 'Now: moment:memories') throw new Error(await page.textContent('#target-now'));
    await page.selectOption('#target-kind', 'webdav');
    await page.fill('#target-fields [data-upload="url"]', args.webdav);
    await page.selectOption('#target-fields [data-upload="vendor"]', 'other');
    await page.fill('#target-fields [data-upload="user"]', 'u');
    await page.fill('#target-fields [data-upload="pass"]', 'wrong');
    await page.fill('#target-fields [data-upload-path]', 'elsewhere');
    await page.click('#target-test');
    await page.waitForFunction(() => document.querySelector('[data-error="target"]').textContent.includes('test upload failed'), null, { timeout: 60000 });
    await page.fill('#target-fields [data-upload="pass"]', 'p');
    await page.click('#target-test');
    await page.waitForFunction(() => document.getElementById('target-result').textContent.includes('It works'), null, { timeout: 60000 });
    await page.click('#target-save');
    await page.waitForFunction(() => document.getElementById('target-result').textContent.includes('moment:elsewhere'), null, { timeout: 60000 });
    const settings = await (await context.request.get(`${args.url}/api/settings`)).json();
    if (settings.upload.remote !== 'moment:elsewhere') throw new Error(`remote: ${settings.upload.remote}`);
    await page.screenshot({ path: join(args.artifacts, 'settings-network-target.png'), fullPage: true });
  });

  await step('no script errors', async () => {
    if (errors.length) throw new Error(errors.join('\n'));
  });
} catch {
  // printed by the step
} finally {
  await browser.close();
}
finish(step.failures);
