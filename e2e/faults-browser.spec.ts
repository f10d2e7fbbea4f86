/**
 * The fault suite, browser half (issue 5): faults in the browser rather than on the
 * wire — the service worker stopped while a request is open, an old tab holding the
 * database at an older version, and no room left in storage — with the same two tabs,
 * the same typing and the same checks as faults.spec.ts (fault-kit.ts).
 */
import { expect, test, type CDPSession } from '@playwright/test';
import type { RequestInfo } from './fault-proxy';
import { expectRecovered, expectSays, freshContext, proveFault, shortFaultStack, stopWorker, type FaultRow, type FaultRun } from './fault-kit';
import { chatLine, conversationRows, openPurl, replyTo, typeMessage } from './helpers';

const isPoll = (request: RequestInfo) => request.method === 'GET';
const isMessagePost = (request: RequestInfo) => request.method === 'POST' && /^\/api\/messaging\/sessions\/[^/]+\/messages$/.test(request.path);

/** The DevTools session that holds the quota override: Chromium keeps an override only while its session lives. */
let quotaSession: CDPSession | undefined;

/** Writes one small value to a scratch database from `run`'s chat tab; resolves the error's name, or 'ok'. */
function probeWrite(run: FaultRun): Promise<string> {
  return run.tabs.chat.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const open = indexedDB.open('purl-quota-probe');
        open.onupgradeneeded = () => open.result.createObjectStore('probe');
        open.onerror = () => resolve(open.error?.name ?? 'error');
        open.onsuccess = () => {
          const tx = open.result.transaction('probe', 'readwrite');
          tx.objectStore('probe').put(Date.now(), 'written');
          const settle = (outcome: string) => {
            open.result.close();
            resolve(outcome);
          };
          tx.oncomplete = () => settle('ok');
          tx.onabort = () => settle(tx.error?.name ?? 'aborted');
        };
      }),
  );
}

/**
 * Leaves Purl no room: a quota of 1 KB for the origin (far below what it holds). Chromium
 * applies a new quota to IndexedDB when it next opens the origin's storage, so Purl is
 * closed everywhere (tabs and worker) and opened again, as after a browser restart on a
 * full disk.
 */
async function fillStorage(run: FaultRun): Promise<void> {
  const { context, stack, tabs } = run;
  quotaSession = await context.newCDPSession(tabs.chat);
  await quotaSession.send('Storage.overrideQuotaForOrigin', { origin: new URL(stack.url).origin, quotaSize: 1024 });
  // Chromium lets go of an origin's storage a moment after its last connection closes.
  let closedForMs = 2_000;
  await expect
    .poll(
      async () => {
        for (const page of tabs.both) await page.goto('about:blank');
        await stopWorker(context, tabs.chat);
        await tabs.chat.waitForTimeout(closedForMs);
        closedForMs *= 2;
        await openPurl(tabs.chat, stack.url);
        return probeWrite(run);
      },
      { message: 'IndexedDB refuses writes', timeout: 30_000, intervals: [0] },
    )
    .toBe('QuotaExceededError');
  await tabs.chat.getByRole('link', { name: 'Chat' }).click();
  await openPurl(tabs.memories, stack.url);
  await expect(conversationRows(tabs.memories).first()).toBeVisible();
}

async function makeRoom(run: FaultRun): Promise<void> {
  await quotaSession!.send('Storage.overrideQuotaForOrigin', { origin: new URL(run.stack.url).origin });
  await quotaSession!.detach();
  quotaSession = undefined;
}

const table: FaultRow[] = [
  {
    name: 'worker stopped mid-poll',
    // Every poll hangs, so the worker is stopped with polls open, and the new one meets the same.
    fault: { kind: 'hang', only: isPoll },
    meanwhile: async ({ context, stack, tabs }) => {
      await expect.poll(() => stack.proxy.holding()).toBeGreaterThan(0);
      const stoppedAt = stack.proxy.apiRequests().length;
      await stopWorker(context, tabs.chat);
      // A new worker starts (on the next heartbeat or message) and polls again, into the same hang.
      await expect
        .poll(() =>
          stack.proxy
            .apiRequests()
            .slice(stoppedAt)
            .some((entry) => entry.fault === 'hang'),
        )
        .toBe(true);
    },
    says: /taking too long|isn't answering/,
    lasts: 1,
  },
  {
    name: 'worker stopped mid-send',
    // The first message reaches ElizaOS, its answer is held, and the worker is stopped meanwhile.
    fault: { kind: 'hang', forward: true, only: isMessagePost },
    meanwhile: async ({ context, stack, tabs }, typed) => {
      await expect.poll(() => stack.proxy.apiRequests().some((entry) => entry.fault === 'hang' && entry.upstreamAnsweredAt !== undefined)).toBe(true);
      await expect(chatLine(tabs.chat, typed).locator('.chat-state')).toHaveText('Sending…');
      stack.proxy.inject({ kind: 'none' });
      await stopWorker(context, tabs.chat);
    },
    // Nothing is wrong once the new worker has found the message on the server.
    says: 'all is well',
    lasts: 1,
  },
  {
    name: 'storage quota exceeded',
    profile: 'on-disk',
    begin: fillStorage,
    says: /no room left/,
    during: async ({ tabs }) => {
      // Nothing typed can be saved in IndexedDB: it waits, and says so on the message.
      await expect(tabs.chat.locator('.chat-line[data-state="saving"]')).toHaveCount(2);
      // The worker's answer to the tab that typed it gives the reason, on the message itself.
      await expect(tabs.chat.locator('.chat-line[data-state="saving"] .chat-error').filter({ hasText: 'no room left' })).toHaveCount(1);
    },
    end: makeRoom,
  },
];

test.describe('faults in the browser', () => {
  for (const row of table) test(row.name, ({ browser }) => proveFault(browser, row));

  test('an old tab blocking the database upgrade', async ({ browser }) => {
    // Not a row of the table: the fault has to be there before Purl first opens, so there
    // is no saved data or conversation yet, and nothing to type into until it ends.
    const stack = await shortFaultStack();
    const context = await freshContext(browser);
    try {
      // An old Purl tab: the database at version 2, held open, deaf to versionchange.
      const old = await context.newPage();
      await old.goto(`${stack.url}/robots.txt`);
      await old.evaluate(
        () =>
          new Promise<void>((resolve, reject) => {
            const open = indexedDB.open('purl', 2);
            open.onupgradeneeded = () => {
              const db = open.result;
              db.createObjectStore('agents', { keyPath: 'id' });
              const memories = db.createObjectStore('memories', { keyPath: 'id' });
              memories.createIndex('by-agent', ['agentId', 'createdAt']);
              memories.createIndex('by-room', ['agentId', 'roomId', 'createdAt']);
              db.createObjectStore('meta');
            };
            open.onerror = () => reject(open.error);
            open.onsuccess = () => {
              (window as unknown as { held: IDBDatabase }).held = open.result;
              resolve();
            };
          }),
      );
      const chat = await context.newPage();
      await openPurl(chat, stack.url);
      await chat.getByRole('link', { name: 'Chat' }).click();
      const memories = await context.newPage();
      await openPurl(memories, stack.url);
      const tabs = { chat, memories, both: [chat, memories] };

      for (const page of tabs.both) await expectSays(page, /waiting to open the data it saved/);
      // The page is alive: the views switch, and each still says why it waits.
      for (const page of tabs.both) {
        for (const view of ['Chat', 'Memories', 'Chat']) {
          await page.getByRole('link', { name: view }).click();
          await expect(page.getByRole('link', { name: view })).toHaveAttribute('aria-current', 'page');
        }
        await expectSays(page, /waiting to open the data it saved/);
      }

      // The old tab goes; both tabs carry on by themselves, without a reload.
      await old.close();
      await memories.getByRole('link', { name: 'Memories' }).click();
      await expect(conversationRows(memories).first()).toBeVisible();
      await expect(chat.getByRole('heading', { name: /Chat with/ })).toBeVisible();
      const after = `Typed once the old tab was closed ${Date.now()}`;
      await typeMessage(chat, after);
      await expect(replyTo(chat, after)).toHaveCount(1);
      await expectRecovered(tabs, [after], 'the old tab blocking the database upgrade');
    } finally {
      await context.close();
      await stack.close();
    }
  });
});
