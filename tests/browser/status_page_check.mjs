// Drives headless Debian chromium (through npm playwright-core) against edge-api's /status page,
// step by step with the C++ test that owns the node (status_page_browser_test.cc):
//   1. the page loads, its event stream is live, it names the event hub leader, and the chain
//      height it shows advances (and the last-blocks table grows live);
//   2. writes <control>/kill-leader and waits for the page to show the new leader (and a `leader`
//      event in the live list) after the test kills the leading edge-api;
//   3. writes <control>/enqueue-bad and waits for a type_not_allowed dead letter (count and event);
//   4. takes a full-page screenshot; fails if the page logged any console error or threw.
// usage: node status_page_check.mjs <page url> <leader> <next leader> <control dir> <png> [ms]
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [pageUrl, leader, nextLeader, controlDir, screenshot, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 20000);
const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const errors = [];

const userDataDir = fs.mkdtempSync(path.join(controlDir, 'chromium-profile-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1400, height: 1000 },
});
let failed = false;
try {
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // The event stream is cut when the browser closes at the end; anything else is a failure.
    if (!r.url().endsWith('/v1/node/events')) errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  const text = async (sel) => (await page.textContent(sel))?.trim();
  const waitText = (sel, want, what) => page.waitForFunction(
    ([s, w]) => document.querySelector(s)?.textContent.trim() === w, [sel, want], { timeout })
    .catch(() => { throw new Error(`${what}: ${sel} never showed "${want}"`); });

  const response = await page.goto(pageUrl, { waitUntil: 'load', timeout });
  if (!response || response.status() !== 200) throw new Error(`GET ${pageUrl}: ${response?.status()}`);
  await waitText('#conn', 'live', 'event stream');
  log('page loaded, event stream live');
  await waitText('#hub-leader', leader, 'event hub leader');
  log(`event hub leader shown: ${leader}`);
  const h1 = Number(await text('#chain-height'));
  await page.waitForFunction((h) => Number(document.querySelector('#chain-height').textContent) > h,
    h1, { timeout }).catch(() => { throw new Error(`chain height stayed at ${h1}`); });
  const h2 = Number(await text('#chain-height'));
  log(`chain height advances: ${h1} -> ${h2}`);
  await page.waitForFunction(() => document.querySelectorAll('#blocks tr').length >= 2, null, { timeout })
    .catch(() => { throw new Error('no blocks arrived live'); });
  const b1 = Number(await page.getAttribute('#blocks tr', 'data-height'));
  await page.waitForFunction((b) => Number(document.querySelector('#blocks tr')?.dataset.height) > b,
    b1, { timeout }).catch(() => { throw new Error(`last block stayed at ${b1}`); });
  log(`last blocks arrive live: ${b1} -> ${await page.getAttribute('#blocks tr', 'data-height')}`);
  const phase = await text('#phase');
  const nm = await text('#nm-leader');
  const ml = await page.$$eval('#ml-nodes tr', (rows) => rows.map((r) => r.textContent));
  log(`epoch ${await text('#epoch')} phase ${phase}; node-manager leader ${nm}; ML nodes ${JSON.stringify(ml)}`);
  if (!phase || phase === '—') throw new Error('no phase shown');
  if (!nm || nm === 'no leader') throw new Error('no node-manager leader shown');
  if (ml.length === 0) throw new Error('no ML node shown');

  fs.writeFileSync(path.join(controlDir, 'kill-leader'), '');
  log(`asked the test to kill ${leader}`);
  await waitText('#hub-leader', nextLeader, 'leader change');
  await page.waitForSelector('#events li[data-type="leader"]', { timeout })
    .catch(() => { throw new Error('no leader event in the live list'); });
  log(`leader change shown: ${leader} -> ${nextLeader}: ${await text('#events li[data-type="leader"]')}`);

  fs.writeFileSync(path.join(controlDir, 'enqueue-bad'), '');
  log('asked the test to enqueue a message signerd must not sign');
  await page.waitForSelector('#dead-letters li[data-reason="type_not_allowed"]', { timeout })
    .catch(() => { throw new Error('no type_not_allowed dead letter shown'); });
  await page.waitForSelector('#events li[data-type="dead_letter"]', { timeout })
    .catch(() => { throw new Error('no dead_letter event in the live list'); });
  log(`dead letter shown: ${await text('#dead-letters li[data-reason="type_not_allowed"]')}`);

  await page.screenshot({ path: screenshot, fullPage: true });
  log(`screenshot ${screenshot}`);
} catch (e) {
  failed = true;
  console.log(`FAIL: ${e.message}`);
} finally {
  await context.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
if (errors.length) {
  failed = true;
  console.log(`FAIL: ${errors.length} browser error(s):\n  ${errors.join('\n  ')}`);
}
log(failed ? 'FAILED' : 'OK: no console errors');
process.exit(failed ? 1 : 0);
