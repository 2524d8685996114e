// Takes full-page screenshots of tokenwarden's HTML pages in Debian's headless Chromium (driven
// by the pinned playwright-core) and asserts they really rendered. Usage:
//   node .ci/lib/screenshots.mjs OUTDIR 'NAME|URL|EXPECT' ...
// For a page whose name starts with `docs`, Swagger UI must render the API title (EXPECT) in .information-container;
// for others, EXPECT must appear in the page text. Every request must stay on the loopback
// (no CDN). Writes OUTDIR/NAME.png; fails if a page does not answer 200, does not render, or its
// PNG is trivially small.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [outDir, ...specs] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'tw-chromium-'));
// A fresh, empty profile (Playwright's way of passing --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  viewport: { width: 1280, height: 900 },
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failures = 0;
const fail = (msg) => { failures += 1; console.error(`FAIL ${msg}`); };
try {
  for (const spec of specs) {
    const [name, url, expect = ''] = spec.split('|');
    const page = await browser.newPage();
    const offsite = [];
    page.on('request', (r) => {
      const host = new URL(r.url()).hostname;
      if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host) && !r.url().startsWith('data:')) offsite.push(r.url());
    });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const resp = await page.goto(url, { waitUntil: 'networkidle', timeout: 30000 });
    const status = resp ? resp.status() : 0;
    if (status !== 200) fail(`${name}: GET ${url} answered ${status}`);
    try {
      if (status !== 200) {
        // nothing to wait for; the screenshot shows what was answered instead
      } else if (name.startsWith('docs')) {
        await page.waitForSelector('.information-container .title', { timeout: 20000 });
        const title = (await page.textContent('.information-container .title')) || '';
        if (!title.includes(expect)) fail(`${name}: Swagger UI title is "${title.trim()}", expected "${expect}"`);
        const ops = await page.locator('.opblock').count();
        console.log(`${name}: Swagger UI rendered "${title.trim()}" with ${ops} operations`);
        if (ops < 1) fail(`${name}: Swagger UI shows no operation`);
      } else if (expect) {
        await page.getByText(expect, { exact: false }).first().waitFor({ timeout: 20000 });
        console.log(`${name}: found "${expect}"`);
      }
    } catch (e) {
      fail(`${name}: did not render: ${e.message.split('\n')[0]}`);
    }
    if (offsite.length) fail(`${name}: requests left the machine (CDN?): ${offsite.slice(0, 3).join(', ')}`);
    if (errors.length) fail(`${name}: page errors: ${errors.slice(0, 3).join(' | ')}`);
    const file = join(outDir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    const size = statSync(file).size;
    console.log(`${name}: ${file} (${size} bytes, HTTP ${status})`);
    if (size < 10000) fail(`${name}: screenshot is only ${size} bytes`);
    await page.close();
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`screenshots: ${specs.length} pages, ${failures} failures`);
process.exit(failures ? 1 : 0);
