/**
 * The benchmarks that need a real browser: tabs, outage and first paint, with Purl in
 * Chromium and the naive baseline in Node, both behind the fault proxy that counts what
 * reaches the server.
 */
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../e2e/browser';
import { countApiRequests, countHealthChecks, type FaultProxy } from '../e2e/fault-proxy';
import { NaiveUser } from './sim/naive-user';
import { loopbackAddress } from './sim/source-fetch';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function launch(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

async function openTabs(context: BrowserContext, url: string, count: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i += 1) {
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 30_000 });
    pages.push(page);
  }
  return pages;
}

export interface TabsRow {
  tabs: number;
  purl: number;
  naive: number;
}

/** One browser with k tabs on the chat view for the same window: requests that reached the server. */
export async function benchTabs(
  browser: Browser,
  gatewayUrl: string,
  proxy: FaultProxy,
  tabCounts: readonly number[],
  windowMs: number,
  addressOffset: number,
): Promise<TabsRow[]> {
  const rows: TabsRow[] = [];
  for (const [i, tabs] of tabCounts.entries()) {
    const context = await browser.newContext({ serviceWorkers: 'allow' });
    await openTabs(context, `${gatewayUrl}/#/chat`, tabs);
    await sleep(3_000); // let the first visit's reads settle: measure the steady state
    let from = Date.now();
    await sleep(windowMs);
    const purl = countApiRequests(proxy, from, Date.now());
    await context.close();

    const naive = new NaiveUser({ index: i, origin: gatewayUrl, localAddress: loopbackAddress(addressOffset + i), tabs, messageEveryMs: 1e9 });
    await naive.start();
    await sleep(3_000);
    from = Date.now();
    await sleep(windowMs);
    const naiveCount = countApiRequests(proxy, from, Date.now());
    await naive.stop();
    rows.push({ tabs, purl, naive: naiveCount });
  }
  return rows;
}

/** One outage as one client lived it. */
export interface OutageRun {
  /** API requests that reached the dead server. */
  requests: number;
  /** ElizaOS health checks (`/healthz`, the gateway's, shared by every user) that reached it meanwhile. */
  healthChecks: number;
  /** From the server being back to the first good API answer leaving it, ms (undefined: none within the limit). */
  answeredMs?: number;
  /** From the server being back to fresh data in the browser's IndexedDB, ms (Purl only). */
  storedMs?: number;
}

export interface OutageResult {
  tabs: number;
  outageS: number;
  purl: OutageRun[];
  naive: OutageRun[];
}

export interface OutageOptions {
  tabs: number;
  outageMs: number;
  /** Outages in a row, for each client. */
  outages: number;
  breakerTimeoutMs: number;
  addressOffset: number;
  /** How long to wait for a recovery before calling it missing, ms. */
  limitMs?: number;
}

/**
 * Whether an answer shows the server back: any 2xx, or a 304 (the worker revalidates what
 * it holds with conditional requests, and "not modified" is the server answering).
 */
const isGoodAnswer = (status: number | undefined): boolean => status !== undefined && ((status >= 200 && status < 300) || status === 304);

/** The time from `from` to the end of the first successful API answer, if one came within `limitMs`. */
async function firstAnswer(proxy: FaultProxy, from: number, limitMs: number): Promise<number | undefined> {
  const deadline = from + limitMs;
  while (Date.now() < deadline) {
    const ok = proxy.apiRequests().find((entry) => entry.startedAt >= from && entry.endedAt !== undefined && isGoodAnswer(entry.status));
    if (ok) return ok.endedAt! - from;
    await sleep(50);
  }
  return undefined;
}

/**
 * What runs in the page for {@link storedAfter}, as source text: the bench runs under tsx,
 * whose transform would wrap named functions in a helper the page does not have.
 */
const STORED_AFTER_SOURCE = `async ({ since, limitMs }) => {
  const db = await new Promise((resolve, reject) => {
    const open = indexedDB.open('purl');
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
  const read = (key) => new Promise((resolve, reject) => {
    const request = db.transaction('meta').objectStore('meta').get(key);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  try {
    const deadline = Date.now() + limitMs;
    while (Date.now() < deadline) {
      const [sync, chat] = await Promise.all([read('sync'), read('chatPoll')]);
      if ((sync?.succeededAt ?? 0) >= since || (chat?.succeededAt ?? 0) >= since) return Date.now();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return undefined;
  } finally {
    db.close();
  }
}`;

/**
 * In the page: resolves with the epoch ms at which IndexedDB first holds a sync or chat
 * poll that succeeded at or after `since` (checked every 50 ms), or undefined after
 * `limitMs` or when the page could not be read.
 */
function storedAfter(page: Page, since: number, limitMs: number): Promise<number | undefined> {
  return page
    .evaluate(`(${STORED_AFTER_SOURCE})(${JSON.stringify({ since, limitMs })})`)
    .then((at) => (typeof at === 'number' ? at : undefined))
    .catch(() => undefined);
}

/**
 * `outages` outages in a row for one client: each after a settling pause of random
 * length (so outages start at any point of the client's poll cycle), the server dead
 * (connections reset, /healthz included, WebSockets cut and refused) for `outageMs`, then back.
 */
async function outagesOf(proxy: FaultProxy, options: OutageOptions, page?: Page): Promise<OutageRun[]> {
  const runs: OutageRun[] = [];
  const limitMs = options.limitMs ?? 60_000;
  for (let i = 0; i < options.outages; i += 1) {
    // The user is at the screen: a key press keeps the tab "active" (the page reports no
    // input for 5 minutes as idle, and idle tabs poll five times slower).
    await page?.keyboard.press('Shift');
    await sleep(5_000 + Math.random() * 10_000);
    // A dead server is dead on every path: its WebSockets (the gateway's upstream socket, which push rides on) go too.
    proxy.cutSockets(true);
    proxy.inject({ kind: 'reset' });
    const downAt = Date.now();
    await sleep(options.outageMs);
    proxy.inject({ kind: 'none' });
    proxy.cutSockets(false);
    const upAt = Date.now();
    const stored = page ? storedAfter(page, upAt, limitMs) : Promise.resolve(undefined);
    const answeredMs = await firstAnswer(proxy, upAt, limitMs);
    const storedAt = await stored;
    const run: OutageRun = { requests: countApiRequests(proxy, downAt, upAt), healthChecks: countHealthChecks(proxy, downAt, upAt) };
    if (answeredMs !== undefined) run.answeredMs = answeredMs;
    if (storedAt !== undefined) run.storedMs = storedAt - upAt;
    runs.push(run);
    console.log(`bench: outage ${i + 1}/${options.outages}: ${JSON.stringify(run)}`);
  }
  return runs;
}

/** Tabs of one browser through `outages` outages of the server; then the naive client's tabs through as many. */
export async function benchOutage(browser: Browser, gatewayUrl: string, proxy: FaultProxy, options: OutageOptions): Promise<OutageResult> {
  const context = await browser.newContext({ serviceWorkers: 'allow' });
  const pages = await openTabs(context, `${gatewayUrl}/#/chat`, options.tabs);
  const purl = await outagesOf(proxy, options, pages[0]);
  await context.close();

  const naive = new NaiveUser({
    index: 0,
    origin: gatewayUrl,
    localAddress: loopbackAddress(options.addressOffset),
    tabs: options.tabs,
    messageEveryMs: 1e9,
    breakerTimeoutMs: options.breakerTimeoutMs,
  });
  await naive.start();
  const naiveRuns = await outagesOf(proxy, options);
  await naive.stop();
  return { tabs: options.tabs, outageS: options.outageMs / 1000, purl, naive: naiveRuns };
}

export interface FirstPaint {
  condition: string;
  purlMs?: number;
  naive: string;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** From navigation to the first conversation on screen: first visit, repeat visit, offline, server down. */
export async function benchFirstPaint(browser: Browser, gatewayUrl: string, proxy: FaultProxy, samples: number): Promise<FirstPaint[]> {
  const timeTo = async (page: Page, reload: boolean) => {
    const started = performance.now();
    if (reload) await page.reload();
    else await page.goto(gatewayUrl);
    await page.locator('.conversation-row').first().waitFor({ timeout: 30_000 });
    return performance.now() - started;
  };
  const firstVisit: number[] = [];
  const repeat: number[] = [];
  const offline: number[] = [];
  const serverDown: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    const context = await browser.newContext({ serviceWorkers: 'allow' });
    const page = await context.newPage();
    firstVisit.push(await timeTo(page, false));
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    repeat.push(await timeTo(page, true));
    await context.setOffline(true);
    offline.push(await timeTo(page, true));
    await context.setOffline(false);
    proxy.inject({ kind: 'reset' });
    serverDown.push(await timeTo(page, true));
    proxy.inject({ kind: 'none' });
    await context.close();
  }
  return [
    { condition: 'first visit, online', purlMs: median(firstVisit), naive: 'one API round trip, then render (no figure: the baseline has no UI here)' },
    { condition: 'repeat visit, online', purlMs: median(repeat), naive: 'the same round trip again' },
    { condition: 'offline', purlMs: median(offline), naive: 'nothing: no page, no data' },
    { condition: 'server down', purlMs: median(serverDown), naive: 'an empty page or an error' },
  ];
}
