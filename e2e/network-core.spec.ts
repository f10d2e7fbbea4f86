import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import { countApiRequests } from './fault-proxy';
import { conversationStartingWith, openPurl, postToAgent } from './helpers';
import { faultStack } from './stack';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens `count` tabs of Purl in `context` and waits until each shows memories. */
async function openTabs(context: BrowserContext, url: string, count: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i += 1) {
    const page = await context.newPage();
    await openPurl(page, url);
    await expect(page.locator('.conversation-row').first()).toBeVisible();
    pages.push(page);
  }
  return pages;
}

test.describe('the network core', () => {
  test('five tabs cost the server what one tab costs, and all five show each update', async ({ browser }) => {
    const stack = await faultStack();
    try {
      const windowMs = 8_000;
      const measure = async (tabs: number) => {
        const context = await browser.newContext({ serviceWorkers: 'allow' });
        const pages = await openTabs(context, stack.url, tabs);
        const from = Date.now();
        await sleep(windowMs);
        const count = countApiRequests(stack.proxy, from, Date.now());
        return { context, pages, count };
      };
      const one = await measure(1);
      await one.context.close();
      const five = await measure(5);
      expect(one.count).toBeGreaterThan(0);
      // A naive client would send about five times as many; one poller sends the same.
      expect(five.count).toBeLessThanOrEqual(one.count + 2);
      console.log(`requests in ${windowMs / 1000} s: 1 tab ${one.count}, 5 tabs ${five.count}`);

      const text = `Five tabs, one poller ${Date.now()}`;
      await postToAgent(text);
      for (const page of five.pages) await expect(conversationStartingWith(page, text)).toHaveCount(1);
      await five.context.close();
    } finally {
      await stack.close();
    }
  });

  test('after a 429 with Retry-After nothing reaches the server until it has passed, and every tab says so', async ({ context }) => {
    const stack = await faultStack();
    try {
      const pages = await openTabs(context, stack.url, 2);
      const retryAfterS = 4;
      stack.proxy.inject({ kind: 'status', status: 429, headers: { 'Retry-After': String(retryAfterS) } }, 1);
      await expect.poll(() => stack.proxy.apiRequests().some((entry) => entry.status === 429), { timeout: 15_000 }).toBe(true);
      const limited = stack.proxy.apiRequests().find((entry) => entry.status === 429)!;
      for (const page of pages) await expect(page.getByText("The agent's server asked Purl to slow down", { exact: false })).toBeVisible();
      await expect.poll(() => stack.proxy.apiRequests().filter((entry) => entry.startedAt > limited.startedAt).length, { timeout: 15_000 }).toBeGreaterThan(0);
      const next = stack.proxy.apiRequests().find((entry) => entry.startedAt > limited.startedAt)!;
      expect(next.startedAt - limited.endedAt!).toBeGreaterThanOrEqual(retryAfterS * 1000 - 50);
      for (const page of pages) await expect(page.getByText('asked Purl to slow down', { exact: false })).toBeHidden();
    } finally {
      await stack.close();
    }
  });

  test('5xx answers open the breaker; it stays open across a worker restart; one probe after the timeout; recovery closes it', async ({ context }) => {
    const timeoutMs = 8_000;
    const stack = await faultStack({ CIRCUIT_BREAKER_THRESHOLD: '3', CIRCUIT_BREAKER_TIMEOUT: String(timeoutMs) });
    try {
      const pages = await openTabs(context, stack.url, 2);
      stack.proxy.inject({ kind: 'status', status: 503 });
      // Three polls fail in a row: the worker backs off between them (from its poll interval,
      // stretched to the server's budget: here about 4 s, then twice that, each jittered
      // between half and all of it), so the third can come 26 s after the first.
      for (const page of pages) await expect(page.getByText("The agent's server isn't answering", { exact: false })).toBeVisible({ timeout: 35_000 });
      const openedAt = Date.now();
      const failures = stack.proxy.apiRequests().filter((entry) => entry.status === 503).length;
      expect(failures).toBe(3);

      // Stop the worker; the next heartbeat starts a new one, which must restore the open breaker.
      const cdp = await context.newCDPSession(pages[0]!);
      await cdp.send('ServiceWorker.enable');
      await cdp.send('ServiceWorker.stopAllWorkers');
      await sleep(timeoutMs - 3_000);
      expect(stack.proxy.apiRequests().filter((entry) => entry.startedAt > openedAt)).toEqual([]);
      for (const page of pages) await expect(page.getByText('trying again in', { exact: false })).toBeVisible();

      // The server recovers; after the timeout exactly one probe goes out, then traffic resumes.
      stack.proxy.inject({ kind: 'none' });
      await expect.poll(() => stack.proxy.apiRequests().filter((entry) => entry.startedAt > openedAt).length, { timeout: 20_000 }).toBeGreaterThan(1);
      const [probe, after] = stack.proxy.apiRequests().filter((entry) => entry.startedAt > openedAt);
      expect(after!.startedAt).toBeGreaterThanOrEqual(probe!.endedAt!);
      for (const page of pages) await expect(page.getByText("isn't answering", { exact: false })).toBeHidden();
    } finally {
      await stack.close();
    }
  });

  test('hidden tabs poll measurably slower; a closed browser polls not at all', async ({ browser }) => {
    const stack = await faultStack();
    try {
      const context = await browser.newContext({ serviceWorkers: 'allow' });
      // The page reports its visibility in each heartbeat; let the test decide what it is.
      await context.addInitScript(() => {
        let hidden = false;
        Object.defineProperty(document, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible') });
        (window as unknown as { setHidden: (value: boolean) => void }).setHidden = (value) => {
          hidden = value;
          document.dispatchEvent(new Event('visibilitychange'));
        };
      });
      const [page] = await openTabs(context, stack.url, 1);
      const windowMs = 12_000;
      let from = Date.now();
      await sleep(windowMs);
      const visible = countApiRequests(stack.proxy, from, Date.now());
      await page!.evaluate(() => (window as unknown as { setHidden: (value: boolean) => void }).setHidden(true));
      from = Date.now();
      await sleep(windowMs);
      const hidden = countApiRequests(stack.proxy, from, Date.now());
      console.log(`requests in ${windowMs / 1000} s: visible ${visible}, hidden ${hidden}`);
      expect(hidden).toBeLessThan(visible / 2);

      await context.close();
      const closedAt = Date.now();
      await sleep(6_000);
      expect(countApiRequests(stack.proxy, closedAt + 500, Date.now())).toBe(0);
    } finally {
      await stack.close();
    }
  });

  test('switching high-load mode in one tab changes the intervals of every tab', async ({ context }) => {
    const stack = await faultStack();
    try {
      const [first, second] = await openTabs(context, stack.url, 2);
      const baseInterval = (page: Page) =>
        page.evaluate(
          () =>
            new Promise<number | undefined>((resolve) => {
              const request = indexedDB.open('purl');
              request.onsuccess = () => {
                const get = request.result.transaction('meta').objectStore('meta').get('metrics');
                get.onsuccess = () => resolve((get.result as { baseIntervals?: { memories: number } } | undefined)?.baseIntervals?.memories);
              };
            }),
        );
      await expect.poll(() => baseInterval(second!)).toBe(1000);
      await first!.evaluate(() => (window as unknown as { enableHighLoadMode: () => Promise<void> }).enableHighLoadMode());
      await expect.poll(() => baseInterval(second!)).toBe(1500);
      await expect(second!.locator('.badge', { hasText: 'High-load mode' })).toBeVisible();
      await expect(first!.locator('.badge', { hasText: 'High-load mode' })).toBeVisible();
      await second!.evaluate(() => (window as unknown as { disableHighLoadMode: () => Promise<void> }).disableHighLoadMode());
      await expect.poll(() => baseInterval(first!)).toBe(1000);
      await expect(first!.locator('.badge', { hasText: 'High-load mode' })).toBeHidden();
    } finally {
      await stack.close();
    }
  });
});
