/**
 * Push (docs/push.md) with the real worker, the real gateway and the real ElizaOS, the
 * gateway in front of the fault proxy so every request that reaches ElizaOS is counted:
 * replies reach every tab without a chat poll, the leader tab or the worker going away
 * changes nothing, and a gateway restarted mid-conversation loses and doubles nothing.
 */
import { createServer } from 'node:net';
import { type BrowserContext, expect, type Page, test } from '@playwright/test';
import type { Gateway } from '../server/gateway/app';
import { stopWorker } from './fault-kit';
import { startFaultProxy, type FaultProxy } from './fault-proxy';
import { chatSessionId, countOnServer, openChat, pushUp, replyTo, typeMessage, workerMeta } from './helpers';
import { startExtraGateway, stackInfo } from './stack';

/** A free loopback port, so a restarted gateway comes back on the same origin. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The chat polls that reached ElizaOS: reads of the session's messages. */
const chatReads = (proxy: FaultProxy) => proxy.apiRequests().filter((entry) => entry.method === 'GET' && /\/sessions\/[^/]+\/messages/.test(entry.path)).length;

/**
 * Waits until push is up and the chat poll is the safety net: the chat read that was due
 * when push came up (it reads what was said before the stream began) has been made, and
 * the next one is a minute away (±10 % jitter).
 */
async function pushSettled(page: Page): Promise<void> {
  await pushUp(page);
  await expect.poll(async () => (await workerMeta(page, 'metrics'))?.pollIntervals.chat ?? 0, { timeout: 20_000 }).toBeGreaterThanOrEqual(54_000);
}

test.describe('push', () => {
  let proxy: FaultProxy;
  let gateway: Gateway;
  let port: number;
  const startGateway = async () => {
    gateway = await startExtraGateway({ PORT: String(port) }, proxy.url);
  };
  test.beforeEach(async () => {
    proxy = await startFaultProxy(stackInfo().elizaUrl, { clientAddress: `198.19.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}` });
    port = await freePort();
    await startGateway();
  });
  test.afterEach(async () => {
    await gateway.close();
    await proxy.close();
  });

  /** Two tabs of one browser on the chat, the first of them the stream's holder. */
  async function twoTabs(context: BrowserContext, page: Page): Promise<Page> {
    await openChat(page, gateway.url);
    await pushSettled(page);
    const second = await context.newPage();
    await openChat(second, gateway.url);
    return second;
  }

  test('a reply reaches every open tab by push, with no chat poll, and the monitor says push is up', async ({ context, page }) => {
    const second = await twoTabs(context, page);
    const readsBefore = chatReads(proxy);
    const text = `Pushed to both tabs ${Date.now()}`;
    const sentAt = Date.now();
    await typeMessage(second, text);
    await expect(replyTo(page, text)).toHaveCount(1, { timeout: 5_000 });
    await expect(replyTo(second, text)).toHaveCount(1, { timeout: 5_000 });
    const visibleAfterMs = Date.now() - sentAt;
    // The chat poll runs every second in these tests (TEST_CLIENT_ENV) unless push is up.
    expect(chatReads(proxy)).toBe(readsBefore);
    expect(visibleAfterMs).toBeLessThan(5_000);
    console.log(`push: reply visible in both tabs ${visibleAfterMs} ms after Enter (local model; includes typing and the POST)`);
    const metrics = await workerMeta(page, 'metrics');
    expect(metrics?.baseIntervals.chat).toBe(60_000);
    expect(metrics?.push?.events).toBeGreaterThanOrEqual(2);
    await page.locator('details.monitor summary').click();
    await expect(
      page
        .locator('.monitor-row')
        .filter({ has: page.locator('dt', { hasText: 'Push' }) })
        .locator('dd'),
    ).toHaveText(/^Up since .* events$/);
    expect(await countOnServer(text)).toBe(1);
  });

  test('the leader tab closed: another tab holds the stream within a second, and replies keep coming by push', async ({ context, page }) => {
    const second = await twoTabs(context, page);
    const eventsBefore = (await workerMeta(second, 'metrics'))?.push?.events ?? 0;
    await page.close();
    // The second tab takes the lock and its stream says hello: one more event, push up.
    await expect.poll(async () => (await workerMeta(second, 'metrics'))?.push?.events ?? 0, { timeout: 1_500, intervals: [100] }).toBeGreaterThan(eventsBefore);
    await pushSettled(second);
    const readsBefore = chatReads(proxy);
    const text = `After the leader left ${Date.now()}`;
    await typeMessage(second, text);
    await expect(replyTo(second, text)).toHaveCount(1, { timeout: 5_000 });
    expect(chatReads(proxy)).toBe(readsBefore);
  });

  test('the worker stopped while a reply is on its way: the pushed event wakes it and the reply shows', async ({ context, page }) => {
    await openChat(page, gateway.url);
    await pushUp(page);
    const text = `Worker stopped mid-reply ${Date.now()}`;
    await typeMessage(page, text);
    await expect.poll(() => countOnServer(text), { timeout: 5_000, intervals: [20] }).toBe(1);
    await stopWorker(context, page);
    await expect(replyTo(page, text)).toHaveCount(1, { timeout: 5_000 });
  });

  test('the upstream socket cut and refused: replies come by the chat poll, then by push again once it is back', async ({ page }) => {
    await openChat(page, gateway.url);
    await pushUp(page);
    proxy.cutSockets(true);
    await expect.poll(async () => (await workerMeta(page, 'metrics'))?.push?.state, { timeout: 10_000 }).toBe('upstream-down');
    expect((await workerMeta(page, 'metrics'))?.baseIntervals.chat).toBe(1_000);
    const readsBefore = chatReads(proxy);
    const during = `While the upstream socket is refused ${Date.now()}`;
    await typeMessage(page, during);
    await expect(replyTo(page, during)).toHaveCount(1, { timeout: 10_000 });
    expect(chatReads(proxy)).toBeGreaterThan(readsBefore);

    proxy.cutSockets(false);
    await pushUp(page);
    const readsAfter = chatReads(proxy);
    const after = `Once the upstream socket is back ${Date.now()}`;
    await typeMessage(page, after);
    await expect(replyTo(page, after)).toHaveCount(1, { timeout: 5_000 });
    // The reset after the re-join reads the chat once; the reply itself came by push.
    expect(chatReads(proxy) - readsAfter).toBeLessThanOrEqual(1);
    for (const text of [during, after]) expect(await countOnServer(text)).toBe(1);
  });

  test('the gateway restarted mid-conversation: the stream comes back, what was said meanwhile arrives, nothing twice', async ({ page }) => {
    await openChat(page, gateway.url);
    await pushUp(page);
    const first = `Before the gateway restart ${Date.now()}`;
    await typeMessage(page, first);
    await expect(replyTo(page, first)).toHaveCount(1, { timeout: 5_000 });

    await gateway.close();
    await expect.poll(async () => (await workerMeta(page, 'metrics'))?.push?.state, { timeout: 10_000 }).not.toBe('up');
    // Said while the gateway is away (from another device of the agent's server): its reply is pushed to no one.
    const meanwhile = `While the gateway was away ${Date.now()}`;
    const { elizaUrl } = stackInfo();
    const posted = await fetch(`${elizaUrl}/api/messaging/sessions/${await chatSessionId(page)}/messages`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ content: meanwhile }),
    });
    expect(posted.status).toBe(201);
    // The agent stores its memory of the message after ElizaOS's 201, not before.
    await expect.poll(() => countOnServer(meanwhile)).toBe(1);

    await startGateway();
    await pushUp(page);
    // A new gateway cannot replay the old one's events: it says reset, and the worker reads the chat once.
    await expect(replyTo(page, meanwhile)).toHaveCount(1, { timeout: 10_000 });
    const second = `After the gateway restart ${Date.now()}`;
    await typeMessage(page, second);
    await expect(replyTo(page, second)).toHaveCount(1, { timeout: 5_000 });
    await page.waitForTimeout(1_000);
    for (const text of [first, meanwhile, second]) await expect(replyTo(page, text)).toHaveCount(1);
    expect(await countOnServer(second)).toBe(1);
  });
});
