import { expect, test } from '@playwright/test';
import { startFaultProxy } from './fault-proxy';
import { chatLine as line, chatSessionId, countOnServer, openChat, replyTo, typeMessage as type } from './helpers';
import { startExtraGateway, stackInfo } from './stack';

test.describe('chat', () => {
  test('a message sent in one tab shows, with the agent’s reply, in a second tab', async ({ context }) => {
    const first = await context.newPage();
    const second = await context.newPage();
    await openChat(first);
    await openChat(second);
    const text = `Hello from tab one ${Date.now()}`;
    await type(first, text);
    await expect(line(first, text)).toContainText('Sent');
    await expect(replyTo(first, text)).toHaveCount(1);
    await expect(line(second, text)).toHaveCount(1);
    await expect(replyTo(second, text)).toHaveCount(1);
    expect(await countOnServer(text)).toBe(1);
  });

  test('messages typed offline wait, then reach the server once each, in order', async ({ context, page }) => {
    await openChat(page);
    await context.setOffline(true);
    const texts = [1, 2, 3].map((n) => `Offline message ${n} ${Date.now()}`);
    for (const text of texts) await type(page, text);
    for (const text of texts) await expect(line(page, text)).toHaveAttribute('data-state', /queued|retrying|sending/);
    await page.waitForTimeout(1_500);
    for (const text of texts) expect(await countOnServer(text)).toBe(0);
    await context.setOffline(false);
    for (const text of texts) await expect(replyTo(page, text)).toHaveCount(1, { timeout: 30_000 });
    for (const text of texts) expect(await countOnServer(text)).toBe(1);
    const order = await page.locator('.chat-line[data-author="user"] .memory-text').allTextContents();
    expect(order.filter((text) => texts.includes(text))).toEqual(texts);
  });

  test('five messages typed in a burst reach the server in order, no closer together than the minimum interval', async ({ context, page }) => {
    // The worker's posts, as they leave the browser (the gateway sends them on over its socket, so ElizaOS sees no POST).
    const posts: { at: number; text: string }[] = [];
    context.on('request', (request) => {
      if (request.serviceWorker() && request.method() === 'POST' && /\/sessions\/[^/]+\/messages$/.test(new URL(request.url()).pathname))
        posts.push({ at: Date.now(), text: (request.postDataJSON() as { content: string }).content });
    });
    const proxy = await startFaultProxy(stackInfo().elizaUrl);
    const gateway = await startExtraGateway({ MESSAGE_MIN_INTERVAL: '1000' }, proxy.url);
    try {
      await openChat(page, gateway.url);
      const texts = [1, 2, 3, 4, 5].map((n) => `Burst ${n} ${Date.now()}`);
      for (const text of texts) await type(page, text);
      for (const text of texts) await expect(replyTo(page, text)).toHaveCount(1, { timeout: 30_000 });
      expect(posts.map((post) => post.text)).toEqual(texts);
      // Measured where the requests are seen, a few ms after the worker's pacing let them go.
      for (let i = 1; i < posts.length; i += 1) expect(posts[i]!.at - posts[i - 1]!.at).toBeGreaterThanOrEqual(950);
      for (const text of texts) expect(await countOnServer(text)).toBe(1);
    } finally {
      await gateway.close();
      await proxy.close();
    }
  });

  test('a session the server lost is replaced quietly, and the visible history stays', async ({ page }) => {
    await openChat(page);
    const before = `Before the session was lost ${Date.now()}`;
    await type(page, before);
    await expect(replyTo(page, before)).toHaveCount(1);
    // What a server restart does to sessions (they live only in its memory): gone.
    const sessionId = await chatSessionId(page);
    const deleted = await fetch(`${stackInfo().elizaUrl}/api/messaging/sessions/${sessionId}`, { method: 'DELETE' });
    expect(deleted.ok).toBe(true);
    const after = `After the session was lost ${Date.now()}`;
    await type(page, after);
    await expect(replyTo(page, after)).toHaveCount(1, { timeout: 30_000 });
    await expect(line(page, before)).toHaveCount(1);
    await expect(replyTo(page, before)).toHaveCount(1);
    expect(await countOnServer(after)).toBe(1);
  });

  test('a message queued just before the worker is stopped, with a reload meanwhile, is sent once', async ({ context, page }) => {
    await openChat(page);
    await context.setOffline(true);
    const text = `Survives a worker stop ${Date.now()}`;
    await type(page, text);
    await expect(line(page, text)).toHaveCount(1);
    const cdp = await context.newCDPSession(page);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await page.reload();
    await expect(line(page, text)).toHaveCount(1);
    await context.setOffline(false);
    await expect(replyTo(page, text)).toHaveCount(1, { timeout: 30_000 });
    expect(await countOnServer(text)).toBe(1);
  });
});
