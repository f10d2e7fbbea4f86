import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { openPurl } from './helpers';
import { root, startExtraGateway, stackInfo } from './stack';

test('a new version waits for the user: "A new version is ready", and Reload switches to it', async ({ page }) => {
  const dist = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-dist-'));
  fs.cpSync(path.join(root, 'dist'), dist, { recursive: true });
  const gateway = await startExtraGateway({ PURL_DIST_DIR: dist });
  try {
    await openPurl(page, gateway.url);
    const firstWorker = await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.active!.scriptURL);
    // Ship "version 2" of the worker, and let the browser find it.
    fs.appendFileSync(path.join(dist, 'sw.js'), '\n// version 2\n');
    await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.update());
    const prompt = page.getByRole('alert').filter({ hasText: 'A new version is ready.' });
    await expect(prompt).toBeVisible();
    // The old worker still controls the page until the user says so.
    expect(await page.evaluate(async () => (await navigator.serviceWorker.getRegistration())!.waiting !== null)).toBe(true);
    await page.evaluate(() => ((window as unknown as { beforeReload: boolean }).beforeReload = true));
    await Promise.all([page.waitForEvent('load'), prompt.getByRole('button', { name: 'Reload' }).click()]);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    expect(await page.evaluate(() => (window as unknown as { beforeReload?: boolean }).beforeReload)).toBeUndefined();
    const after = await page.evaluate(async () => {
      const registration = (await navigator.serviceWorker.getRegistration())!;
      return { waiting: registration.waiting, url: registration.active!.scriptURL };
    });
    expect(after).toEqual({ waiting: null, url: firstWorker });
    await expect(page.locator('.conversation-row').first()).toBeVisible();
  } finally {
    await gateway.close();
    fs.rmSync(dist, { recursive: true, force: true });
  }
});

test('no WebSocket reaches ElizaOS through the gateway: Socket.IO is not on the allowlist', async ({ page }) => {
  await openPurl(page);
  const outcome = await page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const socket = new WebSocket(`ws://${location.host}/socket.io/?EIO=4&transport=websocket`);
        socket.onopen = () => resolve('open');
        socket.onerror = () => resolve('refused');
      }),
  );
  expect(outcome).toBe('refused');
  // ElizaOS itself would have opened it: the refusal is the gateway's.
  const direct = await fetch(`${stackInfo().elizaUrl}/socket.io/?EIO=4&transport=polling`);
  expect(direct.status).toBe(200);
});
