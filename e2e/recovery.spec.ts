/**
 * Recovery after an outage with the real settings (polls every 60 s and 5 s, a 30 s
 * freshness window, a 5-minute breaker): while the server is dead the worker asks the
 * gateway's /health instead of the API, and the moment the server is back what waited
 * goes, within seconds rather than after a backoff or the breaker's timeout.
 */
import { expect, test } from '@playwright/test';
import { faultsServed } from './fault-kit';
import { countApiRequests } from './fault-proxy';
import { countOnServer, openChat, replyTo, typeMessage } from './helpers';
import { faultStack } from './stack';

/** The defaults of src/shared/config.ts, over the tests' one-second polls and TTL 0. */
const REAL_ENV = { FRONTEND_POLL_INTERVAL: '60000', FRONTEND_SESSION_POLL_INTERVAL: '5000', FRONTEND_CACHE_TTL: '30000' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a message typed while the server is dead reaches it within 3 s of its return, and nothing knocks on the dead API meanwhile', async ({ browser }) => {
  const stack = await faultStack(REAL_ENV);
  const context = await browser.newContext({ serviceWorkers: 'allow' });
  try {
    const page = await context.newPage();
    await openChat(page, stack.url);
    const stamp = Date.now();
    const before = `Before the outage ${stamp}`;
    await typeMessage(page, before);
    await expect(replyTo(page, before)).toHaveCount(1);

    // Dead on every path: the API, ElizaOS's /healthz, which the gateway's /health asks, and its socket
    // (which messages would otherwise go over).
    stack.proxy.cutSockets(true);
    stack.proxy.inject({ kind: 'reset' });
    const during = `Typed while the server is dead ${stamp}`;
    await typeMessage(page, during);
    await faultsServed(stack.proxy, 1);
    const quietFrom = Date.now();
    await sleep(8_000);
    // The health check says down: the outbox's retries (2 s, 4 s …) and the chat poll hold back.
    expect(countApiRequests(stack.proxy, quietFrom, Date.now())).toBeLessThanOrEqual(1);
    expect(stack.proxy.log.some((entry) => entry.path === '/healthz' && entry.startedAt >= quietFrom)).toBe(true);

    stack.proxy.inject({ kind: 'none' });
    stack.proxy.cutSockets(false);
    const backAt = Date.now();
    await expect.poll(() => countOnServer(during), { timeout: 3_000, intervals: [100] }).toBe(1);
    const deliveredS = (Date.now() - backAt) / 1000;
    await expect(replyTo(page, during)).toHaveCount(1, { timeout: 6_000 });
    console.log(`delivered ${deliveredS.toFixed(2)} s after the server came back; reply on screen after ${((Date.now() - backAt) / 1000).toFixed(2)} s`);
    await expect(page.locator('.status')).toHaveAttribute('data-state', 'ok', { timeout: 6_000 });
  } finally {
    await context.close();
    await stack.close();
  }
});
