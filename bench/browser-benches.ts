/**
 * The benchmarks that need a real browser: tabs, outage and first paint, with Purl in
 * Chromium and the naive baseline in Node, both behind the fault proxy that counts what
 * reaches the server.
 */
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../e2e/browser';
import { countApiRequests, type FaultProxy } from '../e2e/fault-proxy';
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
export async function benchTabs(browser: Browser, gatewayUrl: string, proxy: FaultProxy, tabCounts: readonly number[], windowMs: number, addressOffset: number): Promise<TabsRow[]> {
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

export interface OutageResult {
  tabs: number;
  outageS: number;
  purlRequestsDuringOutage: number;
  naiveRequestsDuringOutage: number;
  purlRecoveryS?: number;
  naiveRecoveryS?: number;
}

/** The time from `from` to the first successful API answer, if one came within `limitMs`. */
async function recovery(proxy: FaultProxy, from: number, limitMs: number): Promise<number | undefined> {
  const deadline = from + limitMs;
  while (Date.now() < deadline) {
    const ok = proxy.apiRequests().find((entry) => entry.startedAt >= from && entry.status !== undefined && entry.status >= 200 && entry.status < 300);
    if (ok) return (ok.endedAt ?? ok.startedAt) - from;
    await sleep(100);
  }
  return undefined;
}

/** Five tabs while the server is down for twice the breaker timeout; then the server returns. */
export async function benchOutage(browser: Browser, gatewayUrl: string, proxy: FaultProxy, tabs: number, breakerTimeoutMs: number, addressOffset: number): Promise<OutageResult> {
  const outageMs = 2 * breakerTimeoutMs;
  const measure = async (during: () => Promise<void>) => {
    await sleep(3_000);
    proxy.inject({ kind: 'reset' });
    const downAt = Date.now();
    await sleep(outageMs);
    proxy.inject({ kind: 'none' });
    const upAt = Date.now();
    const requests = countApiRequests(proxy, downAt, upAt);
    const recovered = await recovery(proxy, upAt, 3 * breakerTimeoutMs);
    await during();
    return { requests, recovered };
  };

  const context = await browser.newContext({ serviceWorkers: 'allow' });
  await openTabs(context, `${gatewayUrl}/#/chat`, tabs);
  const purl = await measure(() => context.close());

  const naive = new NaiveUser({ index: 0, origin: gatewayUrl, localAddress: loopbackAddress(addressOffset), tabs, messageEveryMs: 1e9, breakerTimeoutMs });
  await naive.start();
  const naiveResult = await measure(() => naive.stop());

  const result: OutageResult = {
    tabs,
    outageS: outageMs / 1000,
    purlRequestsDuringOutage: purl.requests,
    naiveRequestsDuringOutage: naiveResult.requests,
  };
  if (purl.recovered !== undefined) result.purlRecoveryS = purl.recovered / 1000;
  if (naiveResult.recovered !== undefined) result.naiveRecoveryS = naiveResult.recovered / 1000;
  return result;
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
