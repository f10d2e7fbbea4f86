/**
 * The upstream budget spent by priority (issue 11, part 3), against a real stock ElizaOS:
 * the gateway is one client to it, so every user spends its one budget. The fault proxy
 * between them answers 429 as a spent stock server does. With the edge warm, users keep
 * reading; a message typed meanwhile waits and is the first request to reach the server
 * when its budget returns; nothing is lost. The monitor shows the server's budget and the
 * user's share as two figures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { startGateway, type Gateway } from '../server/gateway/app';
import { readGatewayOptions } from '../server/gateway/options';
import { startEmbeddedEliza, type EmbeddedEliza } from '../server/eliza-process';
import { ask } from '../server/gateway/test-kit';
import { FAULT_ENV, NOT_WORDS } from './fault-kit';
import { startFaultProxy, type FaultProxy, type LoggedRequest } from './fault-proxy';
import { chatLine, conversationRows, openPurl, replyTo, typeMessage } from './helpers';
import { root, TEST_CLIENT_ENV } from './stack';

/** How long the stock server says to wait: its budget comes back then. */
const RETRY_AFTER_S = 15;

let eliza: EmbeddedEliza;
let proxy: FaultProxy;
let gateway: Gateway;
let dataDir: string;

test.beforeAll(async () => {
  test.setTimeout(120_000);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-budget-'));
  eliza = await startEmbeddedEliza({ root, dataDir, stock: true });
  proxy = await startFaultProxy(eliza.url.href);
  // No PURL_GATEWAY_SECRET: the gateway is any proxy to a stock server, with its edge on (2 s).
  const env = { ...TEST_CLIENT_ENV, ...FAULT_ENV, GATEWAY_CACHE_TTL: '2000', PORT: '0', PURL_DIST_DIR: path.join(root, 'dist') };
  gateway = await startGateway(readGatewayOptions(env, new URL(proxy.url)).options);
});

test.afterAll(async () => {
  await gateway?.close();
  await proxy?.close();
  await eliza?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** The value of the monitor's row labelled `label`. */
const monitorRow = (page: Page, label: string) =>
  page
    .locator('.monitor-row')
    .filter({ has: page.locator('dt', { hasText: label }) })
    .locator('dd');

async function openMonitor(page: Page): Promise<void> {
  const monitor = page.locator('details.monitor');
  if ((await monitor.getAttribute('open')) === null) await monitor.locator('summary').click();
}

/** User messages with exactly this text that the stock server holds (asked directly, not through Purl). */
async function countOnServer(text: string): Promise<number> {
  const response = await fetch(`${eliza.url.href.replace(/\/$/, '')}/api/agents/${eliza.agentId}/memories?tableName=messages&includeEmbedding=false`);
  const { data } = (await response.json()) as { data: { memories: { entityId: string; content: { text?: string } }[] } };
  return data.memories.filter((memory) => memory.entityId !== eliza.agentId && memory.content.text === text).length;
}

const edgeStats = async () => (await ask(gateway.url, '/health')).json().edge as { staleForBudget: number };
const describeRequest = (entry: LoggedRequest) => `${entry.method} ${entry.path.replace(/[0-9a-f-]{36}/g, ':id').replace(/\?.*/, '')}`;

test('the monitor shows the server’s budget and this user’s share as two figures', async ({ page }) => {
  await openPurl(page, gateway.url);
  await expect(conversationRows(page).first()).toBeVisible();
  await page.getByRole('link', { name: 'Chat' }).click();
  await openMonitor(page);
  await expect(monitorRow(page, 'Server budget')).toHaveText(/^\d+ of 1000 left, resets at /);
  // Once the chat has spent from it, this user's share: what is left, divided among the users spending it.
  await expect(monitorRow(page, 'Your share')).toHaveText(/^\d+ of 1000 left, resets at /, { timeout: 20_000 });
  await expect(page.locator('details.monitor summary')).toHaveText(/server \d+ left · your share \d+/);
});

test('upstream 429 with the edge warm: users keep reading, a typed message waits and goes first when the budget returns, nothing lost', async ({ browser }) => {
  test.setTimeout(90_000);
  const first = await browser.newContext({ serviceWorkers: 'allow' });
  const second = await browser.newContext({ serviceWorkers: 'allow' });
  try {
    const page = await first.newPage();
    await openPurl(page, gateway.url);
    await expect(conversationRows(page).first()).toBeVisible();
    await page.getByRole('link', { name: 'Chat' }).click();
    const stamp = Date.now();
    const before = `Before the budget ran out ${stamp}`;
    await typeMessage(page, before);
    await expect(replyTo(page, before)).toHaveCount(1, { timeout: 20_000 });

    // The stock server's budget is spent: it answers 429 until its window resets.
    const spent = { 'RateLimit-Policy': '1000;w=900', 'RateLimit-Limit': '1000', 'RateLimit-Remaining': '0', 'RateLimit-Reset': String(RETRY_AFTER_S) };
    proxy.inject({ kind: 'status', status: 429, headers: { ...spent, 'Retry-After': String(RETRY_AFTER_S) } });
    await expect.poll(() => proxy.apiRequests().filter((entry) => entry.fault).length, { timeout: 15_000 }).toBeGreaterThan(0);
    // Nothing more reaches the server from here on unless the gateway sends it: the proxy passes everything again.
    proxy.inject({ kind: 'none' });
    const faulted = proxy.apiRequests().filter((entry) => entry.fault);
    const lastFaultAt = Math.max(...faulted.map((entry) => entry.endedAt ?? entry.startedAt));
    const backAt = faulted[0]!.startedAt + RETRY_AFTER_S * 1000;

    // The tab says what happens, in words.
    const banner = page.locator('.status-line').filter({ hasText: /spent its request budget/ });
    await expect(banner).toHaveText(/^The agent's server has spent its request budget for now\. Showing saved memories; messages wait and go at .+\.$/);
    await expect(banner).not.toHaveText(NOT_WORDS);
    await openMonitor(page);
    await expect(monitorRow(page, 'Server budget')).toHaveText(
      /^0 of 1000 left, .* — spent: nothing reaches the server until .+; messages wait and are not lost$/,
    );

    // A message typed now waits in the outbox; the memories stay readable.
    const during = `Typed while the budget was spent ${stamp}`;
    await typeMessage(page, during);
    await expect(chatLine(page, during)).toHaveCount(1);
    await page.getByRole('link', { name: 'Memories' }).click();
    await expect(conversationRows(page).first()).toBeVisible();
    await page.getByRole('link', { name: 'Chat' }).click();

    // Users keep reading: a new user's first visit gets the memories from the edge's copy.
    const stale = (await edgeStats()).staleForBudget;
    const other = await second.newPage();
    await openPurl(other, gateway.url);
    await expect(conversationRows(other).first()).toBeVisible();
    await expect(other.locator('.status')).toHaveAttribute('data-state', 'ok');
    // And the first user's memories keep coming from it too (polls every second).
    await expect.poll(async () => (await edgeStats()).staleForBudget, { timeout: 10_000 }).toBeGreaterThan(stale + 2);

    // The budget returns: the message is delivered and answered, and was the first request to reach the server.
    await expect(replyTo(page, during)).toHaveCount(1, { timeout: RETRY_AFTER_S * 1000 + 20_000 });
    const during429 = proxy.apiRequests().filter((entry) => entry.startedAt > lastFaultAt && entry.startedAt < backAt - 100);
    expect(during429.map(describeRequest), 'nothing reached the server while its budget was spent').toEqual([]);
    const after = proxy.apiRequests().filter((entry) => entry.startedAt >= backAt - 100);
    expect(describeRequest(after[0]!)).toBe('POST /api/messaging/sessions/:id/messages');
    expect(after[0]!.startedAt).toBeLessThan(backAt + 3_000);
    for (const text of [before, during]) expect(await countOnServer(text), `"${text}" is on the server once`).toBe(1);
    await expect(page.locator('.status')).toHaveAttribute('data-state', 'ok', { timeout: 15_000 });
    if (process.env['FAULT_TRACE']) {
      for (const entry of proxy.apiRequests().filter((logged) => logged.startedAt >= faulted[0]!.startedAt)) {
        console.log(`  +${entry.startedAt - faulted[0]!.startedAt} ms ${describeRequest(entry)} → ${entry.status ?? 'open'} ${entry.fault ?? ''}`);
      }
    }
    console.log(
      `[budget] 429 at +0 ms; nothing upstream for ${backAt - lastFaultAt} ms; first request after: ${describeRequest(after[0]!)} at +${after[0]!.startedAt - faulted[0]!.startedAt} ms; ` +
        `edge served ${(await edgeStats()).staleForBudget - stale} stale answers meanwhile`,
    );
  } finally {
    await first.close();
    await second.close();
  }
});
