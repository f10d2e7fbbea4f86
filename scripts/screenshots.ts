/**
 * The README's pictures, taken from the real running app in Chromium: the embedded
 * ElizaOS (fresh, seeded), the gateway, and Purl in a browser window.
 * `npm run screenshots` writes docs/screenshots/*.png.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium, NO_BROWSER_MESSAGE } from '../e2e/browser';
import { startBenchStack } from '../bench/sim/stack';
import { build, needsBuild } from '../server/build';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'docs', 'screenshots');

async function shoot(page: Page, name: string): Promise<void> {
  await page.waitForTimeout(400); // let the last render settle
  await page.screenshot({ path: path.join(out, `${name}.png`) });
  console.log(`wrote docs/screenshots/${name}.png`);
}

async function main(): Promise<void> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error(NO_BROWSER_MESSAGE);
  if (needsBuild(root)) await build(root);
  fs.mkdirSync(out, { recursive: true });
  const stack = await startBenchStack({ FRONTEND_POLL_INTERVAL: '2000' });
  const gateway = { url: stack.gatewayUrl };
  const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, colorScheme: 'light' });
    const page = await context.newPage();
    await page.goto(`${gateway.url}/`);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    await page.locator('.conversation-list button').first().waitFor();
    await page.locator('.conversation-list button').first().click();
    await page.locator('.memory').first().waitFor();
    await shoot(page, 'memories');

    await page.getByRole('link', { name: 'Chat' }).click();
    for (const text of ['Hi Purl! How many requests do ten tabs cost?', 'And what if I lose my connection?']) {
      await page.getByLabel(/Message to/).fill(text);
      await page.getByLabel(/Message to/).press('Enter');
      await page.locator('.chat-line[data-author="agent"] .memory-text', { hasText: text }).waitFor();
    }
    await shoot(page, 'chat');

    await page.getByRole('link', { name: 'Memories' }).click();
    await page.locator('details.monitor summary').click();
    await page.locator('.monitor-rows').waitFor();
    await page.locator('details.monitor').scrollIntoViewIfNeeded();
    await shoot(page, 'monitor');

    // Same browser profile (the chat lives in its IndexedDB), phone-sized and dark.
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 760 });
    await phone.emulateMedia({ colorScheme: 'dark' });
    await phone.goto(`${gateway.url}/#/chat`);
    await phone.locator('.chat-line').first().waitFor();
    await shoot(phone, 'chat-phone-dark');
  } finally {
    await browser.close();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
