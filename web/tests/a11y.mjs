// Accessibility of the web app in a real browser: axe-core (the rules browsers' own audits use)
// runs in Debian's Chromium on every page a person sees (login, live, memories, status,
// settings) at phone size, and every page is walked by keyboard alone. Fails on any finding of
// serious or critical impact, listing each with the elements it names. Started by
// recorder/daemon/tests/web_a11y.rs.
//
//   node web/tests/a11y.mjs --url http://127.0.0.1:PORT --password PW

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { PHONE, finish, launch, login as logIn, stepRunner } from './harness.mjs';

const { values: args } = parseArgs({ options: { url: { type: 'string' }, password: { type: 'string' } } });
if (!args.url || !args.password) {
  console.error('usage: a11y.mjs --url URL --password PASSWORD');
  process.exit(2);
}
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WAIT = 30000;

const browser = await launch();
const step = stepRunner();

// axe on the page as it is; the serious and critical findings, one line each.
async function audit(page) {
  // Through the debugger, not a <script>: the page's CSP allows only its own scripts.
  await page.evaluate(AXE);
  const results = await page.evaluate(async () => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
  }));
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(', ')})`);
}

// Every page is audited before the verdict, so one run lists everything to fix.
const found = [];
async function clean(page, where) {
  for (const finding of await audit(page)) found.push(`${where}: ${finding}`);
}

try {
  const context = await browser.newContext(PHONE);
  const page = await context.newPage();

  await step('login page', async () => {
    await page.goto(`${args.url}/`);
    await page.waitForSelector('#page-login:not([hidden])', { timeout: WAIT });
    await clean(page, 'login');
  });

  await step('log in by keyboard alone', async () => {
    await page.focus('#login-password');
    await page.keyboard.type(args.password);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#page-live:not([hidden])', { timeout: WAIT });
  });

  for (const name of ['live', 'memories', 'status', 'settings']) {
    await step(`${name} page`, async () => {
      await page.click(`a[data-page=${name}]`);
      await page.waitForSelector(`#page-${name}:not([hidden])`, { timeout: WAIT });
      await page.waitForTimeout(1500);
      await clean(page, name);
    });
  }

  await step('every page reachable by keyboard', async () => {
    // Tab through the whole app from the top: each navigation link takes focus and opens its
    // page with Enter.
    for (const name of ['memories', 'status', 'settings', 'live']) {
      await page.evaluate(() => document.activeElement && document.activeElement.blur());
      let found = false;
      for (let i = 0; i < 40 && !found; i += 1) {
        await page.keyboard.press('Tab');
        found = await page.evaluate((n) => document.activeElement?.matches?.(`a[data-page=${n}]`) ?? false, name);
      }
      if (!found) throw new Error(`the ${name} link never took focus by Tab`);
      await page.keyboard.press('Enter');
      await page.waitForSelector(`#page-${name}:not([hidden])`, { timeout: WAIT });
    }
  });
  await step('no serious or critical findings', async () => {
    if (found.length) throw new Error(`\n  ${found.join('\n  ')}`);
  });
} catch {
  // The failing step printed itself.
} finally {
  await browser.close();
}
finish(step.failures);
