// console.js - open a noVNC console URL in headless Chromium and prove it shows the guest.
//
//   node console.js <url> <screenshot.png>
//
// The URL is what `nova get-vnc-console <server> novnc` prints
// (http://host:6080/vnc_auto.html?token=...).  The page must reach noVNC's
// "Connected" state, and its canvas must hold a picture that is not one flat
// colour; then a screenshot is written.  Prints one JSON line with what it
// saw; exit status 0 on success, 1 on failure (with the reason on stderr).
//
// Uses Debian's /usr/bin/chromium (CHROMIUM overrides) driven by
// playwright-core (npm install in this folder); a fresh profile each run.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const [url, shot] = process.argv.slice(2);
  if (!url || !shot) {
    console.error('usage: node console.js <url> <screenshot.png>');
    return 2;
  }
  const timeout = parseInt(process.env.CONSOLE_TIMEOUT_MS || '90000', 10);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kumo-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1024, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const log = [];
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    await page.goto(url, { waitUntil: 'load', timeout });
    // vnc_lite.html (what vnc_auto.html is) writes its state into #status
    await page.waitForFunction(() => {
      const s = document.getElementById('status');
      return s && /^Connected/.test(s.textContent);
    }, null, { timeout, polling: 200 });
    // the framebuffer: wait until the canvas shows more than one colour
    const seen = await page.waitForFunction(() => {
      const c = document.querySelector('#screen canvas');
      if (!c || c.width < 16 || c.height < 16)
        return false;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const colours = new Set();
      for (let i = 0; i < d.length && colours.size < 64; i += 4 * 7)
        colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      return colours.size > 1 ? { width: c.width, height: c.height, colours: colours.size }
                              : false;
    }, null, { timeout, polling: 500 });
    const info = await seen.jsonValue();
    await page.screenshot({ path: shot });
    const status = await page.textContent('#status');
    console.log(JSON.stringify({ ok: true, status, ...info, screenshot: shot }));
    return 0;
  } catch (e) {
    console.error(`console.js: ${e.message}\n${log.join('\n')}`);
    try {
      const page = ctx.pages()[0];
      if (page)
        await page.screenshot({ path: shot });
    } catch (_) { /* nothing more to show */ }
    return 1;
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().then((rc) => process.exit(rc), (e) => { console.error(e); process.exit(1); });
