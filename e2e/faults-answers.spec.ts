/**
 * The fault suite, answers half (issue 10): answers the worker must not believe — an
 * HTML page with 200 (a captive portal, a misrouted proxy), JSON of the wrong shape, and
 * a body cut short — on each endpoint the worker reads, with the real freshness window
 * (fault-kit.ts's FAULT_ENV: the memories fresh for 1 s, the agent list for 10 s).
 * For each: one bad answer, then the fault ends. Purl must say it could not read the
 * answer, keep what it saved on screen, store nothing of the bad answer (no stamp that
 * would take it for fresh, nothing in Cache Storage), and recover by itself within one
 * interval: its next attempt, on the schedule it set when the bad answer came, succeeds.
 * e2e/FAULTS.md records them.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import type { AnswerStamp, OutboxItem } from '../src/shared/db';
import type { PollKind } from '../src/shared/network';
import { faultsServed, freshContext, NOT_WORDS, shortFaultStack } from './fault-kit';
import type { Fault, LoggedRequest, RequestInfo } from './fault-proxy';
import { chatLine, conversationRows, countOnServer, openChat, replyTo, typeMessage, workerMeta } from './helpers';
import { stackInfo, type FaultStack } from './stack';

/** How late the next attempt may start after the time the worker set for it (a tick, a busy machine). */
const SLACK_MS = 1_500;

const HTML = '<!doctype html><html><head><title>Sign in to the Wi-Fi</title></head><body><h1>Sign in to the Wi-Fi</h1></body></html>';

type Kind = 'an HTML page with 200' | 'JSON of the wrong shape' | 'a body cut short';
const KINDS: readonly Kind[] = ['an HTML page with 200', 'JSON of the wrong shape', 'a body cut short'];

/** The fault of `kind` for the requests `only` picks; a POST is forwarded first (ElizaOS acts on it, only its answer is bad). */
function faultOf(kind: Kind, only: (request: RequestInfo) => boolean, isPost: boolean): Fault {
  switch (kind) {
    case 'an HTML page with 200':
      return { kind: 'status', status: 200, only, forward: isPost, headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: HTML };
    case 'JSON of the wrong shape':
      return { kind: 'status', status: 200, only, forward: isPost, body: JSON.stringify({ success: true, data: { items: 'none' }, messages: {} }) };
    case 'a body cut short':
      // ElizaOS's real answer, half of it, with a length that fits the half: a proxy that cut it.
      return { kind: 'rewrite', only, rewrite: (answer) => ({ ...answer, body: answer.body.subarray(0, Math.floor(answer.body.length / 2)) }) };
  }
}

interface Endpoint {
  name: string;
  only: (request: RequestInfo) => boolean;
  isPost: boolean;
  /** The poll that makes this request, or 'outbox' for the requests a typed message makes. */
  by: PollKind | 'outbox';
}

const ENDPOINTS: readonly Endpoint[] = [
  { name: 'the agent list (GET /api/agents)', only: (r) => r.method === 'GET' && /^\/api\/agents(\?|$)/.test(r.path), isPost: false, by: 'memories' },
  {
    name: 'the memories (GET /api/agents/:id/memories)',
    only: (r) => r.method === 'GET' && /^\/api\/agents\/[^/]+\/memories/.test(r.path),
    isPost: false,
    by: 'memories',
  },
  {
    name: 'the chat poll (GET /api/messaging/sessions/:id/messages)',
    only: (r) => r.method === 'GET' && /^\/api\/messaging\/sessions\/[^/]+\/messages/.test(r.path),
    isPost: false,
    by: 'chat',
  },
  {
    name: 'sending a message (POST /api/messaging/sessions/:id/messages)',
    only: (r) => r.method === 'POST' && /^\/api\/messaging\/sessions\/[^/]+\/messages$/.test(r.path),
    isPost: true,
    by: 'outbox',
  },
  {
    name: 'making a chat session (POST /api/messaging/sessions)',
    only: (r) => r.method === 'POST' && r.path === '/api/messaging/sessions',
    isPost: true,
    by: 'outbox',
  },
];

/** Records every sentence the page shows about trouble, however briefly (a bad answer's sentence lasts until the next success). */
async function recordSentences(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const said = new Set<string>();
    (window as unknown as { purlSaid: Set<string> }).purlSaid = said;
    const look = () => {
      for (const node of document.querySelectorAll('.status-line, .chat-error')) said.add(node.textContent ?? '');
    };
    new MutationObserver(look).observe(document, { subtree: true, childList: true, characterData: true });
  });
}

async function sentencesSaid(page: Page): Promise<string[]> {
  return page.evaluate(() => [...(window as unknown as { purlSaid: Set<string> }).purlSaid]);
}

async function forgetSentences(page: Page): Promise<void> {
  await page.evaluate(() => (window as unknown as { purlSaid: Set<string> }).purlSaid.clear());
}

function outbox(page: Page): Promise<OutboxItem[]> {
  return page.evaluate(
    () =>
      new Promise<OutboxItem[]>((resolve, reject) => {
        const open = indexedDB.open('purl');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const all = open.result.transaction('outbox').objectStore('outbox').getAll();
          all.onsuccess = () => {
            open.result.close();
            resolve(all.result as OutboxItem[]);
          };
        };
      }),
  );
}

/** The URLs of the API answers Cache Storage holds: none, since IndexedDB is the one store of data. */
function cachedApiAnswers(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const urls: string[] = [];
    for (const name of await caches.keys()) {
      for (const request of await (await caches.open(name)).keys()) if (new URL(request.url).pathname.startsWith('/api/')) urls.push(request.url);
    }
    return urls;
  });
}

/** When the worker will try again after the bad answer: the poll's next deadline, or the typed message's next attempt. */
async function nextAttemptAt(page: Page, endpoint: Endpoint, text: string | undefined): Promise<number> {
  let at: number | undefined;
  await expect
    .poll(
      async () => {
        if (endpoint.by === 'outbox') {
          const item = (await outbox(page)).find((entry) => entry.text === text);
          // Gone already: it was sent (the bad answer hit a request the message did not wait for).
          at = item === undefined ? Date.now() : item.state === 'retrying' ? item.nextAttemptAt : undefined;
        } else {
          const schedule = (await workerMeta(page, 'schedules'))?.[endpoint.by];
          at = schedule && schedule.errorStreak > 0 ? schedule.nextDueAt : undefined;
        }
        return at;
      },
      { message: 'the worker set its next attempt', timeout: 10_000, intervals: [100] },
    )
    .toBeDefined();
  return at!;
}

/** Makes ElizaOS forget the chat session (as its restart does), so the worker must make a new one. */
async function dropSession(page: Page): Promise<void> {
  const session = await workerMeta(page, 'chatSession');
  const deleted = await fetch(`${stackInfo().elizaUrl}/api/messaging/sessions/${session!.sessionId}`, { method: 'DELETE' });
  expect(deleted.ok).toBe(true);
}

const isGood = (entry: LoggedRequest) => entry.status !== undefined && entry.status >= 200 && entry.status < 400 && !entry.fault;

/** One bad answer of `kind` on `endpoint`, and what Purl must do about it. */
async function proveBadAnswer(stack: FaultStack, page: Page, endpoint: Endpoint, kind: Kind): Promise<void> {
  const { proxy } = stack;
  const faultedBefore = proxy.apiRequests().filter((entry) => entry.fault).length;
  const stampsBefore = (await workerMeta(page, 'answers')) ?? {};
  await forgetSentences(page);
  const injectedAt = Date.now();
  proxy.inject(faultOf(kind, endpoint.only, endpoint.isPost), 1);
  const text = endpoint.by === 'outbox' ? `Typed into ${kind} on ${endpoint.name} ${Date.now()}` : undefined;
  if (endpoint.name.startsWith('making a chat session')) await dropSession(page);
  if (text) await typeMessage(page, text);
  await faultsServed(proxy, faultedBefore + 1, 30_000);
  const faulted = proxy
    .apiRequests()
    .filter((entry) => entry.fault)
    .at(-1)!;

  // The worker's own plan for its next try, set when the bad answer came.
  const retryAt = await nextAttemptAt(page, endpoint, text);

  // Saved data stays on screen: the conversations, or the typed message in the chat.
  await expect(text ? chatLine(page, text) : conversationRows(page).first()).toBeVisible();
  // Nothing of the bad answer is kept: no stamp newer than it (which would take it for fresh), nothing in Cache Storage.
  const stamps: Record<string, AnswerStamp> = (await workerMeta(page, 'answers')) ?? {};
  for (const [url, stamp] of Object.entries(stamps)) {
    if (endpoint.only({ method: 'GET', path: new URL(url).pathname + new URL(url).search })) {
      expect(stamp.fetchedAt, `no stamp for ${url} from the bad answer`).toBeLessThan(faulted.startedAt);
      expect(stamp).toEqual(stampsBefore[url]);
    }
  }
  expect(await cachedApiAnswers(page)).toEqual([]);

  // Recovery within one interval: the worker's next try, on the schedule it set, succeeds.
  if (text) {
    await expect
      .poll(async () => (await outbox(page)).some((item) => item.text === text), {
        message: 'the message left the outbox',
        timeout: Math.max(0, retryAt - Date.now()) + 15_000,
        intervals: [100],
      })
      .toBe(false);
    expect(Date.now(), 'the message went at its next attempt').toBeLessThanOrEqual(retryAt + SLACK_MS);
    await expect(replyTo(page, text)).toHaveCount(1, { timeout: 15_000 });
    await expect(chatLine(page, text)).toHaveCount(1);
    expect(await countOnServer(text), 'the message is stored once').toBe(1);
  } else {
    const next = () => proxy.apiRequests().find((entry) => entry.startedAt > faulted.startedAt && endpoint.only(entry) && entry.status !== undefined);
    await expect.poll(next, { message: 'the next attempt', timeout: Math.max(0, retryAt - Date.now()) + 15_000 }).toBeDefined();
    expect(isGood(next()!), 'the first attempt after the fault succeeded').toBe(true);
    expect(next()!.startedAt, 'the next attempt came on schedule, not after a freshness window').toBeLessThanOrEqual(retryAt + SLACK_MS);
  }
  await expect(page.locator('.status')).toHaveAttribute('data-state', 'ok', { timeout: 15_000 });

  if (process.env['FAULT_TRACE']) {
    const t0 = faulted.startedAt;
    console.log(
      `${endpoint.name}, ${kind}: injected ${t0 - injectedAt} ms before the bad answer; retry planned at +${Math.round(retryAt - t0)} ms; recovered at +${Date.now() - t0} ms`,
    );
    for (const entry of proxy.apiRequests().filter((logged) => logged.startedAt >= injectedAt)) {
      console.log(
        `  +${entry.startedAt - t0} ms ${entry.method} ${entry.path.replace(/[0-9a-f-]{36}/g, ':id').replace(/\?.*/, '')} → ${entry.status ?? 'open'} ${entry.fault ?? ''}`,
      );
    }
  }

  // Purl said so, in words.
  const said = await sentencesSaid(page);
  // A POST's bad answer can be set right within a second (the chat poll finds the message
  // delivered) before its line ever paints the retry sentence; the worker's own record of
  // the failure is then the evidence that it did not believe the answer.
  const recorded = endpoint.isPost && (await workerMeta(page, 'metrics'))?.lastFailure === 'bad-answer';
  expect(said.some((sentence) => /couldn't read/.test(sentence)) || recorded, `said it couldn't read: ${JSON.stringify(said)}`).toBe(true);
  for (const sentence of said) expect(sentence, 'a sentence for people, not a code or a stack').not.toMatch(NOT_WORDS);
}

test.describe('answers the worker must not believe, with the real freshness window', () => {
  for (const endpoint of ENDPOINTS) {
    test(`on ${endpoint.name}`, async ({ browser }) => {
      test.setTimeout(180_000);
      const stack = await shortFaultStack();
      const context = await freshContext(browser);
      try {
        await recordSentences(context);
        const page = await context.newPage();
        await openChat(page, stack.url);
        await expect.poll(() => workerMeta(page, 'chatSession'), { message: 'the chat has a session' }).toBeDefined();
        // The polls' bad answers are watched from the memories; a typed message's from the chat.
        if (endpoint.by !== 'outbox') await page.getByRole('link', { name: 'Memories' }).click();
        if (endpoint.name.startsWith('the memories')) {
          // Revalidation reaches ElizaOS through the gateway as a conditional request that Express answers with 304.
          await expect.poll(() => stack.proxy.apiRequests().some((entry) => endpoint.only(entry) && entry.status === 304), { timeout: 20_000 }).toBe(true);
        }
        for (const kind of KINDS) await test.step(kind, () => proveBadAnswer(stack, page, endpoint, kind));
      } finally {
        await context.close();
        await stack.close();
      }
    });
  }
});
