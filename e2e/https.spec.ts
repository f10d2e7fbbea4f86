/**
 * Purl for other machines: a phone on the LAN reaches the gateway by a name that is not
 * this machine's loopback, so only https gives it a secure context and the service
 * worker. Chromium is told that `purl.test` is 127.0.0.1 and to trust the certificate
 * made here (by its key's hash), as a phone that trusts a mkcert root would.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, expect, test, type Browser } from '@playwright/test';
import { makeCertificate } from '../server/gateway/test-kit';
import { CHROMIUM_ARGS, findChromium } from './browser';
import { conversationRows } from './helpers';
import { startExtraGateway } from './stack';

const NAME = 'purl.test';
let folder: string;
let certFile: string;
let keyFile: string;
let browser: Browser;

test.beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-https-'));
  const certificate = makeCertificate(folder, NAME, `DNS:${NAME}`);
  ({ certFile, keyFile } = certificate);
  browser = await chromium.launch({
    executablePath: findChromium()!,
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${NAME} 127.0.0.1`, `--ignore-certificate-errors-spki-list=${certificate.spki}`],
  });
});

test.afterAll(async () => {
  await browser?.close();
  fs.rmSync(folder, { recursive: true, force: true });
});

test('over https by its LAN name, the app gets its service worker and works offline after a reload', async () => {
  const gateway = await startExtraGateway({ TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, PURL_ALLOWED_HOSTS: NAME });
  const context = await browser.newContext({ serviceWorkers: 'allow' });
  try {
    const page = await context.newPage();
    const url = `https://${NAME}:${new URL(gateway.url).port}/`;
    await page.goto(url);
    expect(await page.evaluate(() => isSecureContext)).toBe(true);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 20_000 });
    await expect(conversationRows(page).first()).toBeVisible({ timeout: 20_000 });
    const rows = await conversationRows(page).allTextContents();
    await context.setOffline(true);
    await page.reload();
    await expect(page.getByText("You're offline.", { exact: false })).toBeVisible();
    await expect(conversationRows(page)).toHaveText(rows);
  } finally {
    await context.close();
    await gateway.close();
  }
});

test('over plain http by its LAN name, the page says in one sentence why it cannot work and what to do', async () => {
  const gateway = await startExtraGateway({ PURL_ALLOWED_HOSTS: NAME });
  const context = await browser.newContext({ serviceWorkers: 'allow' });
  try {
    const page = await context.newPage();
    await page.goto(`http://${NAME}:${new URL(gateway.url).port}/`);
    expect(await page.evaluate(() => isSecureContext)).toBe(false);
    await expect(page.getByRole('alert')).toContainText('opened over plain http from another machine');
    await expect(page.getByRole('alert')).toContainText('TLS_CERT_FILE and TLS_KEY_FILE');
    await expect(page.getByText("Waiting for the agent's server")).toHaveCount(0);
  } finally {
    await context.close();
    await gateway.close();
  }
});
