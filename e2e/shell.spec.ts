import { expect, test, type Page } from '@playwright/test';
import { conversationRows, conversationStartingWith, memoryTexts, openPurl, sendToAgent, showConversationStartingWith } from './helpers';
import { startExtraGateway } from './stack';

test.describe('the first data path', () => {
  test('the worker controls the page and the seeded conversations appear, newest first, with user and agent messages', async ({ page }) => {
    await openPurl(page);
    await expect(await showConversationStartingWith(page, 'Hi Purl, what happens when I open ten tabs?')).toHaveCount(1);
    await expect(page.locator('.agent-name')).toHaveText('Talking to Purl');
    const silent = await showConversationStartingWith(page, 'Why does the agent go silent after a while?');
    await expect(silent).toHaveCount(1);
    await silent.click();
    await expect(page.locator('.memory[data-author="user"]')).toHaveCount(3);
    await expect(page.locator('.memory[data-author="agent"]')).toHaveCount(3);
    // A transcript reads in order: oldest first.
    const times = await page.locator('.memory time').evaluateAll((nodes) => nodes.map((n) => Date.parse(n.getAttribute('datetime')!)));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  test('pages make no API request of their own: every /api request comes from the worker', async ({ page, context }) => {
    const fromPage: string[] = [];
    const fromWorker: string[] = [];
    context.on('request', (request) => {
      if (!new URL(request.url()).pathname.startsWith('/api/')) return;
      (request.serviceWorker() ? fromWorker : fromPage).push(request.url());
    });
    await openPurl(page);
    await expect(conversationRows(page).first()).toBeVisible();
    await page.reload();
    await expect(conversationRows(page).first()).toBeVisible();
    await expect.poll(() => fromWorker.length).toBeGreaterThan(0);
    expect(fromPage).toEqual([]);
  });

  test('a message posted to the agent after the page loaded shows up with its reply, without a reload', async ({ page }) => {
    await openPurl(page);
    await expect(conversationRows(page).first()).toBeVisible();
    const text = `Ping from the e2e suite ${Date.now()}`;
    const { reply } = await sendToAgent(text);
    expect(reply).toContain(text);
    await conversationStartingWith(page, text).click();
    await expect(memoryTexts(page).filter({ hasText: new RegExp(`^${text}$`) })).toHaveCount(1);
    await expect(page.locator('.memory[data-author="agent"] .memory-text').filter({ hasText: reply })).toHaveCount(1);
  });

  test('two tabs share one worker and both update from one broadcast', async ({ context }) => {
    // Each page records what it hears on Purl's BroadcastChannel.
    await context.addInitScript(() => {
      const heard: unknown[] = [];
      (window as unknown as { heard: unknown[] }).heard = heard;
      new BroadcastChannel('purl').onmessage = (event) => heard.push(event.data);
    });
    const first = await context.newPage();
    const second = await context.newPage();
    await openPurl(first);
    await openPurl(second);
    expect(context.serviceWorkers().map((worker) => worker.url())).toHaveLength(1);
    const heard = (page: Page) => page.evaluate(() => (window as unknown as { heard: { type: string; stores?: string[] }[] }).heard);
    const clear = (page: Page) => page.evaluate(() => ((window as unknown as { heard: unknown[] }).heard.length = 0));
    await Promise.all([clear(first), clear(second)]);

    const text = `Two tabs, one worker ${Date.now()}`;
    await sendToAgent(text);
    await expect(conversationStartingWith(first, text)).toHaveCount(1);
    await expect(conversationStartingWith(second, text)).toHaveCount(1);
    const [toFirst, toSecond] = await Promise.all([heard(first), heard(second)]);
    const memoryChanges = (events: { type: string; stores?: string[] }[]) =>
      events.filter((event) => event.type === 'data-changed' && event.stores?.includes('memories'));
    // The same worker broadcasts reached both tabs, in the same order: neither tab caused a fetch of its own.
    // (Read from the two tabs one after the other while the worker may broadcast again: compare what both had heard.)
    const [inFirst, inSecond] = [memoryChanges(toFirst), memoryChanges(toSecond)];
    const both = Math.min(inFirst.length, inSecond.length);
    expect(both).toBeGreaterThan(0);
    expect(inSecond.slice(0, both)).toEqual(inFirst.slice(0, both));
  });
});

test.describe('offline', () => {
  test('with the network off, a reload shows the shell, every cached memory and the offline state', async ({ page, context }) => {
    await openPurl(page);
    await expect(conversationRows(page).first()).toBeVisible();
    await expect(page.locator('.status-updated')).toBeVisible();
    const online = await conversationRows(page).allTextContents();
    await conversationRows(page).first().click();
    // The transcript is read from IndexedDB after the click: wait for it before taking it down.
    await expect(memoryTexts(page).first()).toBeVisible();
    const transcript = await memoryTexts(page).allTextContents();
    expect(transcript.length).toBeGreaterThan(0);
    await context.setOffline(true);
    await page.reload();
    await expect(page.getByText("You're offline.", { exact: false })).toBeVisible();
    // The open conversation (kept in the URL) and the list come back from IndexedDB.
    await expect(memoryTexts(page)).toHaveText(transcript);
    await expect(conversationRows(page)).toHaveText(online);
    await context.setOffline(false);
  });

  test('with the gateway stopped, a reload still shows the shell and the memories, and says the server is unreachable', async ({ page }) => {
    const gateway = await startExtraGateway();
    try {
      await openPurl(page, gateway.url);
      await expect(conversationRows(page).first()).toBeVisible();
      const before = await conversationRows(page).allTextContents();
      await gateway.close();
      await page.reload();
      await expect(conversationRows(page)).toHaveCount(before.length);
      await conversationRows(page).first().click();
      await expect(memoryTexts(page).first()).toBeVisible();
      await expect(page.getByText("Can't reach the agent's server", { exact: false })).toBeVisible();
    } finally {
      await gateway.close().catch(() => undefined);
    }
  });
});
