/**
 * The admin console in a real browser: Debian's Chromium, driven by playwright-core (no browser
 * download). A user logs in to the Express demo and opens a WebSocket; the console, opened with the
 * demo's manager token, shows the session and the connection; a click on "Kick user" makes the rows
 * vanish and closes the socket (4001). Without Chromium the test skips with a loud message, except
 * under CI=true, where it fails (`.ci/run` installs it).
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoNode, requireBuilt, startDemoNode } from './support/demo-process.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const CI = process.env.CI === 'true';
const MANAGER_TOKEN = 'console-manager-token-0123456789';

if (!hasChromium && !CI)
  console.warn(
    `\n*** test/console.test.ts SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH) ***\n`,
  );

describe.runIf(hasChromium || CI)('the admin console in Chromium', () => {
  let demo: DemoNode;
  let browser: Awaited<ReturnType<typeof chromium.launch>>;

  beforeAll(async () => {
    expect(hasChromium, `Chromium is required under CI=true (${CHROMIUM})`).toBe(true);
    requireBuilt('express');
    demo = await startDemoNode('express', 1, { EVICT_MANAGER_TOKEN: MANAGER_TOKEN, DEMO_SEED: '0' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  it('shows a logged-in user’s session and socket, and a kick from the page removes both and closes the socket', async () => {
    const token = await demo.login('carol01', 1);
    const socket = await demo.openSocket(token, 'install-7');
    const page = await browser.newPage();
    const offSite: string[] = [];
    // Works offline: nothing is fetched from anywhere but the demo.
    page.on('request', (request) => {
      if (!request.url().startsWith(demo.base)) offSite.push(request.url());
    });
    await page.goto(`${demo.base}/console`);

    // By keyboard: the token, the user id, Enter.
    await page.getByLabel('Manager token').fill(MANAGER_TOKEN);
    await page.getByLabel('User id').fill('carol01');
    await page.getByLabel('User id').press('Enter');
    const sessions = page.getByRole('table', { name: 'Sessions' });
    const connections = page.getByRole('table', { name: 'Live connections' });
    await expect.poll(() => sessions.locator('tbody tr').count()).toBe(1);
    await expect
      .poll(() => connections.locator('tbody tr td').nth(1).textContent())
      .toBe(String(socket.connId));
    expect(await connections.locator('tbody tr td').nth(3).textContent()).toBe('install-7');

    if (process.env.EVICT_CONSOLE_SCREENSHOT) {
      await page.setViewportSize({ width: 1100, height: 640 });
      await page.screenshot({ path: process.env.EVICT_CONSOLE_SCREENSHOT, fullPage: true });
    }

    await page.getByRole('button', { name: 'Kick user (every device)' }).click();
    expect((await socket.closed).code).toBe(4001);
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/Kick user: done, 1 connection/);
    await expect.poll(() => connections.locator('tbody td').first().textContent()).toBe('none');
    // The session is not deleted but dead: the guard rejects it, and the console's list of live ones drops it.
    expect((await demo.me(token)).status).toBe(401);
    await expect.poll(() => sessions.locator('tbody td').first().textContent()).toBe('none');
    expect(offSite).toEqual([]);
  });

  it('updates by itself when the user is kicked elsewhere, and refuses a wrong token', async () => {
    const token = await demo.login('dave01', 0);
    const page = await browser.newPage();
    await page.goto(`${demo.base}/console`);
    await page.getByLabel('Manager token').fill('wrong-token');
    await page.getByLabel('User id').fill('dave01');
    await page.getByRole('button', { name: 'Look up' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/manager token/);

    await page.getByLabel('Manager token').fill(MANAGER_TOKEN);
    await page.getByRole('button', { name: 'Look up' }).click();
    const sessions = page.getByRole('table', { name: 'Sessions' });
    await expect.poll(() => sessions.locator('tbody tr').count()).toBe(1);
    await expect.poll(() => sessions.locator('tbody td').first().textContent()).toBe('0');
    // A kick through Tencent's API, not the page: the page's event stream hears of it.
    expect((await demo.tencentKick('dave01')).json).toMatchObject({ ErrorCode: 0 });
    await expect
      .poll(() => sessions.locator('tbody td').first().textContent(), { timeout: 5_000 })
      .toBe('none');
    expect((await demo.me(token)).status).toBe(401);
  });
});
