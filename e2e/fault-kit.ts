/**
 * What every fault test does, in one place, so each spec reads as its table: a fault
 * proxy and a gateway with short settings, two tabs of Purl (one on the chat, one on the
 * memories), a user typing, and the checks every fault must pass — the UI stays usable
 * and says in words what is happening, the saved data stays readable, no typed message
 * is lost or stored twice, and Purl recovers by itself when the fault ends.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, expect, type Browser, type BrowserContext, type Locator, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, findChromium } from './browser';
import type { Fault, FaultProxy } from './fault-proxy';
import { chatLine, conversationRows, conversationStartingWith, countOnServer, openPurl, postToAgent, replyTo, typeMessage } from './helpers';
import { faultStack, type FaultStack } from './stack';

/**
 * Settings that make each fault take seconds: polls every second, answers fresh for a
 * second (the agent list for ten: the real freshness logic, so a bad answer taken for
 * fresh would show), the breaker open after 3 failures for 5 s, requests given up after 2 s.
 * Push off: these rows prove the polling path, which is what runs whenever push is down
 * (and with a gateway without push); the faults of push itself are in push.spec.ts.
 */
export const FAULT_ENV: Readonly<Record<string, string>> = {
  FRONTEND_POLL_INTERVAL: '1000',
  FRONTEND_SESSION_POLL_INTERVAL: '1000',
  FRONTEND_CACHE_TTL: '1000',
  MESSAGE_MIN_INTERVAL: '500',
  CIRCUIT_BREAKER_THRESHOLD: '3',
  CIRCUIT_BREAKER_TIMEOUT: '5000',
  FRONTEND_REQUEST_TIMEOUT: '2000',
  PURL_PUSH: 'off',
};

/** How long recovery may take after a fault ends: a breaker timeout, a message retry, a poll. */
export const RECOVERY_TIMEOUT_MS = 25_000;

/** A fault stack (see stack.ts) with the short settings above, and `env` over them. */
export function shortFaultStack(env: Record<string, string> = {}): Promise<FaultStack> {
  return faultStack({ ...FAULT_ENV, ...env });
}

/** The two tabs of one person: one on the chat, one on the memories. */
export interface Tabs {
  chat: Page;
  memories: Page;
  both: readonly Page[];
}

/** Opens the two tabs and waits until both show saved data and the chat has a session. */
export async function openTabs(context: BrowserContext, url: string): Promise<Tabs> {
  const [chat, memories] = await Promise.all([context.newPage(), context.newPage()]);
  await Promise.all([chat, memories].map((page) => openPurl(page!, url)));
  for (const page of [chat!, memories!]) await expect(conversationRows(page).first()).toBeVisible();
  await chat!.getByRole('link', { name: 'Chat' }).click();
  await expect(chat!.getByRole('heading', { name: /Chat with/ })).toBeVisible();
  return { chat: chat!, memories: memories!, both: [chat!, memories!] };
}

/** Every sentence Purl shows about trouble: the status banner's and the messages' own. */
export function sentences(page: Page): Locator {
  return page.locator('.status-line, .chat-error');
}

/** Something a person could not read: an HTTP code, an error name, a stack frame, markup or JSON. */
export const NOT_WORDS = /\bHTTP\b|\b[1-5]\d\d\b|\b\w*Error\b|\bat \S+ \(|[{}<>]|\bundefined\b|\bnull\b|\bNaN\b/;

/** Waits until `page` says `words` (a sentence in the banner or on a message), and checks every such sentence is plain words. */
export async function expectSays(page: Page, words: RegExp, timeout = 20_000): Promise<void> {
  await expect(sentences(page).filter({ hasText: words }).first()).toBeVisible({ timeout });
  for (const text of await sentences(page).allTextContents()) {
    expect(text, 'a sentence for people, not a code or a stack').not.toMatch(NOT_WORDS);
    expect(text.trim(), 'a whole sentence').toMatch(/^[A-Z].*[.!?]$/s);
  }
}

/** Nothing is wrong to say: the banner is clear and says when the data was last updated. */
export async function expectAllWell(page: Page): Promise<void> {
  await expect(page.locator('.status')).toHaveAttribute('data-state', 'ok');
  await expect(page.locator('.status-updated')).toHaveText(/^Last updated .+\.$/);
}

/**
 * The UI is usable and the saved data readable: the memories tab switches to the chat
 * and back, its conversations still list, one opens as a transcript; the chat tab still
 * shows the conversation so far, and its composer takes text.
 */
export async function expectUsable(tabs: Tabs, history: readonly string[]): Promise<void> {
  const { chat, memories } = tabs;
  await memories.getByRole('link', { name: 'Chat' }).click();
  await expect(memories.getByRole('heading', { name: /Chat with/ })).toBeVisible();
  for (const text of history) await expect(chatLine(memories, text)).toHaveCount(1);
  await memories.getByRole('link', { name: 'Memories' }).click();
  await expect(conversationRows(memories).first()).toBeVisible();
  await conversationRows(memories).first().click();
  await expect(memories.locator('.transcript-rows .memory').first()).toBeVisible();
  await memories.getByRole('button', { name: /Back to conversations/ }).click();
  await expect(conversationRows(memories).first()).toBeVisible();
  for (const text of history) await expect(chatLine(chat, text)).toHaveCount(1);
  const composer = chat.getByLabel(/Message to/);
  await composer.fill('A draft that stays a draft');
  await expect(composer).toHaveValue('A draft that stays a draft');
  await composer.fill('');
}

/** Types a message in the memories tab: it switches to the chat, sends, and switches back. */
export async function typeInOtherTab(tabs: Tabs, text: string): Promise<void> {
  await tabs.memories.getByRole('link', { name: 'Chat' }).click();
  await typeMessage(tabs.memories, text);
  await expect(chatLine(tabs.memories, text)).toHaveCount(1);
  await tabs.memories.getByRole('link', { name: 'Memories' }).click();
}

/**
 * Purl recovered by itself: every typed message got its reply (so it was delivered and
 * new chat data arrived), news from elsewhere reaches the memories tab, both banners
 * are clear, and ElizaOS holds each typed message exactly once.
 */
export async function expectRecovered(tabs: Tabs, typed: readonly string[], label: string, timeout = RECOVERY_TIMEOUT_MS): Promise<void> {
  const news = `News after ${label} ${Date.now()}`;
  await postToAgent(news);
  await Promise.all([
    ...typed.map((text) => expect(replyTo(tabs.chat, text)).toHaveCount(1, { timeout })),
    expect(conversationStartingWith(tabs.memories, news)).toHaveCount(1, { timeout }),
    ...tabs.both.map((page) => expect(page.locator('.status')).toHaveAttribute('data-state', 'ok', { timeout })),
  ]);
  for (const page of tabs.both) await expect(page.locator('.status')).toHaveAttribute('data-state', 'ok');
  for (const text of typed) expect(await countOnServer(text), `"${text}" is on the server once`).toBe(1);
}

/** A fresh browser profile (its own worker, IndexedDB and caches) for one fault. */
export async function freshContext(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({ serviceWorkers: 'allow' });
}

/**
 * A fresh profile kept on disk, in a browser of its own. Chromium enforces an IndexedDB
 * quota only on disk: an in-memory (incognito-like) context, which `browser.newContext`
 * gives, never refuses an IndexedDB write.
 */
export async function onDiskContext(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-profile-'));
  const context = await chromium.launchPersistentContext(dir, { executablePath: findChromium(), args: CHROMIUM_ARGS, serviceWorkers: 'allow' });
  return {
    context,
    close: async () => {
      await context.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until the proxy has handed out `count` faulted answers. */
export async function faultsServed(proxy: FaultProxy, count = 1, timeout = 20_000): Promise<void> {
  await expect.poll(() => proxy.apiRequests().filter((entry) => entry.fault).length, { timeout }).toBeGreaterThanOrEqual(count);
}

/** Stops the service worker (as the browser does to an idle one) and waits until it has stopped. */
export async function stopWorker(context: BrowserContext, page: Page): Promise<void> {
  const cdp = await context.newCDPSession(page);
  const stopped = new Promise<void>((resolve) => {
    cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
      if (versions.some((version) => version.runningStatus === 'stopped')) resolve();
    });
  });
  await cdp.send('ServiceWorker.enable');
  await cdp.send('ServiceWorker.stopAllWorkers');
  await stopped;
  await cdp.detach();
}

/**
 * What a person must be told while a fault lasts: a sentence in the status banner or on
 * a message matching this, or 'all is well' when nothing is wrong to say (the banner
 * stays clear and says when the data was last updated).
 */
export type Says = RegExp | 'all is well';

/** Everything a fault test has in hand. */
export interface FaultRun {
  stack: FaultStack;
  context: BrowserContext;
  tabs: Tabs;
}

/** One row of a fault table: the fault, what Purl must say, and how it starts and ends. */
export interface FaultRow {
  name: string;
  /** What the proxy does to /api requests while the fault lasts (none for faults in the browser). */
  fault?: Fault;
  /** Starts a fault in the browser, before the user types. */
  begin?: (run: FaultRun) => Promise<void>;
  /** Runs after the first message (`typed`) was typed: e.g. stop the worker while the proxy holds a request. */
  meanwhile?: (run: FaultRun, typed: string) => Promise<void>;
  says: Says;
  /** Checks while the fault lasts, beyond the common ones. */
  during?: (run: FaultRun) => Promise<void>;
  /** Faulted answers before the fault may end: a storm, not a blip (default 3). */
  lasts?: number;
  /** Ends a fault in the browser, or does what the end of the fault brings (before the proxy passes requests again). */
  end?: (run: FaultRun) => Promise<void>;
  /** How long recovery may take once the fault ended, ms (default RECOVERY_TIMEOUT_MS). */
  recoveryMs?: number;
  /** Gateway settings beyond FAULT_ENV. */
  env?: Record<string, string>;
  /** The browser profile: in memory (default) or on disk (for storage quotas). */
  profile?: 'in-memory' | 'on-disk';
}

/**
 * Proves one fault: two tabs of Purl with saved data and a conversation; the fault
 * starts; the user types a message in each tab; both tabs say in words what is
 * happening, stay usable and keep showing saved data; the fault ends; Purl recovers by
 * itself, and ElizaOS holds every typed message exactly once.
 */
export async function proveFault(browser: Browser, row: FaultRow): Promise<void> {
  const stack = await shortFaultStack(row.env);
  const profile = row.profile === 'on-disk' ? await onDiskContext() : { context: await freshContext(browser), close: () => Promise.resolve() };
  const { context } = profile;
  try {
    const tabs = await openTabs(context, stack.url);
    const run: FaultRun = { stack, context, tabs };
    const stamp = Date.now();
    const before = `Before the ${row.name} ${stamp}`;
    await typeMessage(tabs.chat, before);
    // The conversation so far includes the agent's answer (a lost session would take it along).
    await expect(replyTo(tabs.chat, before)).toHaveCount(1);

    const faultAt = Date.now();
    if (row.fault) stack.proxy.inject(row.fault);
    await row.begin?.(run);
    // Typed as the fault starts, so that sending it meets the fault.
    const during = [`Typed in the chat tab during the ${row.name} ${stamp}`, `Typed in the other tab during the ${row.name} ${stamp}`];
    await typeMessage(tabs.chat, during[0]!);
    await row.meanwhile?.(run, during[0]!);
    if (row.fault) await faultsServed(stack.proxy);
    await typeInOtherTab(tabs, during[1]!);
    await Promise.all(tabs.both.map((page) => (row.says === 'all is well' ? expectAllWell(page) : expectSays(page, row.says))));
    await row.during?.(run);
    await expectUsable(tabs, [before, ...during]);
    if (row.fault) await faultsServed(stack.proxy, row.lasts ?? 3);
    if (row.fault && 'forward' in row.fault && row.fault.forward) {
      // ElizaOS stored a message whose answer was lost: the case that tempts a client to send it twice.
      expect(stack.proxy.apiRequests().some((entry) => entry.fault && entry.method === 'POST' && /\/messages$/.test(entry.path))).toBe(true);
    }

    await row.end?.(run);
    const endAt = Date.now();
    stack.proxy.inject({ kind: 'none' });
    await expectRecovered(tabs, [before, ...during], row.name, row.recoveryMs);
    if (process.env['FAULT_TRACE']) trace(row, stack.proxy, { faultAt, endAt });
  } finally {
    await profile.close();
    await stack.close();
  }
}

/** FAULT_TRACE=1: what each row did, on the console (the proxy's log from the fault on). */
function trace(row: FaultRow, proxy: FaultProxy, times: { faultAt: number; endAt: number }): void {
  const { faultAt, endAt } = times;
  console.log(`${row.name}: fault ${endAt - faultAt} ms, recovery ${Date.now() - endAt} ms`);
  for (const entry of proxy.apiRequests().filter((logged) => logged.startedAt >= faultAt)) {
    const path = entry.path.replace(/[0-9a-f-]{36}/g, ':id').replace(/\?.*/, '');
    console.log(`  +${entry.startedAt - faultAt} ms ${entry.method} ${path} → ${entry.status ?? 'open'} ${entry.fault ?? ''}`);
  }
}
