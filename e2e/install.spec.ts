import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, expect, test } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium } from './browser';
import { stackInfo } from './stack';

test('Chromium reports no installability errors, and the manifest says what Purl is', async () => {
  // Installability needs a persistent (non-incognito) profile.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-profile-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: findChromium(), args: CHROMIUM_ARGS, serviceWorkers: 'allow' });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(stackInfo().baseUrl);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as { installabilityErrors: unknown[] };
    expect(installabilityErrors).toEqual([]);
    const manifest = await page.evaluate(async () => (await fetch('/manifest.webmanifest')).json());
    expect(manifest).toMatchObject({ name: expect.stringContaining('Purl'), short_name: 'Purl', start_url: '/', scope: '/', display: 'standalone' });
    expect(manifest.description).toBeTruthy();
    expect(manifest.theme_color).toBeTruthy();
    expect(manifest.background_color).toBeTruthy();
    const icons = manifest.icons as { sizes: string; purpose: string }[];
    expect(icons.map((icon) => `${icon.sizes} ${icon.purpose}`).sort()).toEqual(['192x192 any', '512x512 any', '512x512 maskable']);
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
});

test('the Install button appears when the browser offers installation, and hands the choice to it', async ({ page }) => {
  await page.goto(stackInfo().baseUrl);
  await expect(page.getByRole('button', { name: 'Install Purl' })).toHaveCount(0);
  // Chromium fires beforeinstallprompt only after its engagement heuristics; stand in for it.
  await page.evaluate(() => {
    const offer = new Event('beforeinstallprompt', { cancelable: true }) as Event & { prompt: () => Promise<void>; userChoice: Promise<{ outcome: string }> };
    (window as unknown as { prompted: boolean }).prompted = false;
    offer.prompt = async () => {
      (window as unknown as { prompted: boolean }).prompted = true;
    };
    offer.userChoice = Promise.resolve({ outcome: 'accepted' });
    dispatchEvent(offer);
  });
  await page.getByRole('button', { name: 'Install Purl' }).click();
  expect(await page.evaluate(() => (window as unknown as { prompted: boolean }).prompted)).toBe(true);
  await expect(page.getByRole('button', { name: 'Install Purl' })).toHaveCount(0);
});
