import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { openPurl } from './helpers';
import { root, startExtraGateway } from './stack';

test('a tab left open finds a new version by itself within the hour', async ({ page }) => {
  const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-dist-'));
  fs.cpSync(path.join(root, 'dist'), dist, { recursive: true });
  const gateway = await startExtraGateway({ PURL_DIST_DIR: dist });
  try {
    // The page's clock (not the worker's) is Playwright's, so an hour can pass at once.
    await page.clock.install();
    await openPurl(page, gateway.url);
    await expect(page.locator('.conversation-row').first()).toBeVisible();
    // Ship "version 2" of the worker. Nobody reloads or asks the browser to look.
    fs.appendFileSync(path.join(dist, 'sw.js'), '\n// version 2\n');
    const prompt = page.getByRole('alert').filter({ hasText: 'A new version is ready.' });
    await page.clock.runFor(5_000);
    await expect(prompt).toBeHidden();
    await page.clock.fastForward('01:00:00');
    await expect(prompt).toBeVisible();
  } finally {
    await gateway.close();
    fs.rmSync(dist, { recursive: true, force: true });
  }
});
