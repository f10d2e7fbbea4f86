/**
 * The fault suite, network half (issue 5): a fault proxy between the gateway and the
 * real ElizaOS injects one fault at a time while a person has two tabs of Purl open and
 * types chat messages. Every row must pass the same checks (fault-kit.ts): the UI stays
 * usable and says in words what is happening, saved data stays readable, no typed
 * message is lost or stored twice, and Purl recovers by itself when the fault ends.
 * The browser-side faults (worker stopped, IndexedDB blocked, storage full) are in
 * faults-browser.spec.ts. e2e/FAULTS.md is this table in words.
 */
import { randomUUID } from 'node:crypto';
import { expect, test } from '@playwright/test';
import type { RequestInfo, UpstreamAnswer } from './fault-proxy';
import { proveFault, type FaultRow } from './fault-kit';
import { chatSessionId } from './helpers';
import { stackInfo } from './stack';

const json = (value: unknown) => JSON.stringify(value);
const injected = (code: string, message: string) => json({ success: false, error: { code, message } });
const html = (title: string) => `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1><hr><p>nginx</p></body></html>`;
const HTML = { 'Content-Type': 'text/html; charset=utf-8' };

const SLOW_DOWN = /asked Purl to slow down|asked Purl to wait/;
const SERVER_ERROR = /answered with an error|isn't answering/;
const TOO_SLOW = /taking too long|isn't answering/;
const UNREADABLE = /couldn't read/;

const isChatPoll = (request: RequestInfo) => request.method === 'GET' && /^\/api\/messaging\/sessions\/[^/]+\/messages/.test(request.path);
const isMemories = (request: RequestInfo) => request.method === 'GET' && /^\/api\/agents\/[^/]+\/memories/.test(request.path);

/**
 * Made-up memories of long ago, as JSON list items of about `bytes` in all, in 300
 * conversations (made once: each faulted answer splices them into the real one).
 */
function oldMemories(bytes: number): string {
  const { agentId } = stackInfo();
  const filler = 'An old memory, kept for a long time and sent again with every answer. '.repeat(12);
  const items: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i += 1) {
    const item = JSON.stringify({
      id: randomUUID(),
      agentId,
      entityId: i % 2 === 0 ? agentId : `00000000-0000-4000-8000-${String(i % 997).padStart(12, '0')}`,
      roomId: `00000000-0000-4000-9000-${String(i % 300).padStart(12, '0')}`,
      createdAt: Date.UTC(2020, 0, 1) + i * 60_000,
      content: { text: `Old memory ${i}. ${filler}` },
    });
    items.push(item);
    size += item.length + 1;
  }
  return items.join(',');
}

/** ElizaOS's real memories answer with `padding` (list items) appended to its memories. */
function padMemories(answer: UpstreamAnswer, padding: string): UpstreamAnswer {
  const body = JSON.parse(answer.body.toString('utf8')) as { data: { memories: unknown[] } };
  body.data.memories.push('PADDING');
  return { ...answer, body: Buffer.from(JSON.stringify(body).replace('"PADDING"', padding)) };
}

/**
 * A request that reaches the server this soon after a 429 was sent before anyone on the
 * way back (gateway, worker) could know of it: the chat poll and the memories poll run
 * beside a message, and one already on the wire cannot be called back. A loaded machine
 * has shown 3 ms; a worker that ignored the Retry-After would come back later than this
 * but well within it.
 */
const ON_THE_WIRE_MS = 30;

/** Nothing sent to the server after the first 429 could be known until its Retry-After (at least `ms`) ended. */
function waitsOut(ms: number): FaultRow['during'] {
  return async ({ stack }) => {
    const requests = () => stack.proxy.apiRequests();
    const limited = requests().find((entry) => entry.status === 429)!;
    const sentAfter = () => requests().filter((entry) => entry.startedAt > limited.endedAt! + ON_THE_WIRE_MS);
    await expect.poll(() => sentAfter().length, { timeout: 15_000 }).toBeGreaterThan(0);
    const onTheWire = requests().filter((entry) => entry.startedAt > limited.endedAt! && entry.startedAt <= limited.endedAt! + ON_THE_WIRE_MS);
    expect(onTheWire.length).toBeLessThanOrEqual(2);
    expect(sentAfter()[0]!.startedAt - limited.endedAt!).toBeGreaterThanOrEqual(ms - 50);
  };
}

const TWENTY_MB = 20 * 1024 * 1024;
let twentyMegabytes: string | undefined;

const table: FaultRow[] = [
  {
    name: '429 storm with Retry-After in seconds',
    fault: { kind: 'status', status: 429, headers: { 'Retry-After': '2' }, body: injected('RATE_LIMITED', 'Too many requests') },
    says: SLOW_DOWN,
    during: waitsOut(2_000),
  },
  {
    name: '429 storm with Retry-After as an HTTP date',
    // An HTTP date has whole seconds: 3 s ahead, cut to the second, is 2 s at least.
    fault: {
      kind: 'status',
      status: 429,
      headers: () => ({ 'Retry-After': new Date(Date.now() + 3_000).toUTCString() }),
      body: injected('RATE_LIMITED', 'Too many requests'),
    },
    says: SLOW_DOWN,
    during: waitsOut(2_000),
  },
  { name: '429 storm without Retry-After', fault: { kind: 'status', status: 429, body: injected('RATE_LIMITED', 'Too many requests') }, says: SLOW_DOWN },
  { name: '500 answers', fault: { kind: 'status', status: 500, body: injected('INTERNAL', 'Internal server error') }, says: SERVER_ERROR },
  {
    name: '502 answers after the server got the request',
    fault: { kind: 'status', status: 502, forward: true, body: injected('BAD_GATEWAY', 'Bad gateway') },
    says: SERVER_ERROR,
  },
  {
    name: '503 answers',
    fault: { kind: 'status', status: 503, headers: { 'Retry-After': '1' }, body: injected('UNAVAILABLE', 'Service unavailable') },
    says: SERVER_ERROR,
  },
  { name: 'connection resets after the server got the request', fault: { kind: 'reset', forward: true }, says: SERVER_ERROR },
  { name: 'hangs past the request timeout, the server having got the request', fault: { kind: 'hang', forward: true }, says: TOO_SLOW },
  { name: 'a slow trickle of 100 bytes every 100 ms', fault: { kind: 'trickle', bytes: 100, everyMs: 100 }, says: TOO_SLOW },
  {
    name: 'malformed JSON after the server got the request',
    fault: { kind: 'status', status: 200, forward: true, body: '{"success":true,"data":{"memories":[{"id":"' },
    says: UNREADABLE,
  },
  {
    name: 'valid JSON of the wrong shape',
    fault: { kind: 'status', status: 200, body: json({ success: true, data: { items: 'none' }, messages: {} }) },
    says: UNREADABLE,
  },
  { name: 'an HTML page with 200', fault: { kind: 'status', status: 200, headers: HTML, body: html('Welcome to nginx!') }, says: UNREADABLE },
  { name: 'an HTML error page with 502', fault: { kind: 'status', status: 502, headers: HTML, body: html('502 Bad Gateway') }, says: SERVER_ERROR },
  {
    name: '500 answers to the chat poll only, the memories fine',
    fault: { kind: 'status', status: 500, only: isChatPoll, body: injected('INTERNAL', 'Internal server error') },
    says: /can't check the chat for new messages/,
    // Only the chat poll fails, so only it backs off: from its base interval (1 s here),
    // doubling with each failure. The breaker stays closed (the other requests succeed)
    // and the gateway's /health says the server is up, so nothing cuts the wait short.
    recoveryMs: 45_000,
  },
  {
    name: 'a 20 MB memories answer',
    fault: {
      kind: 'rewrite',
      only: isMemories,
      rewrite: (answer) => {
        twentyMegabytes ??= oldMemories(TWENTY_MB);
        return padMemories(answer, twentyMegabytes);
      },
    },
    says: 'all is well',
    lasts: 1,
    // The suite's 2-s request timeout is for the hang rows. 20 MB read by the gateway,
    // checked, logged and gzipped, then parsed by the worker, took up to about 3 s on this
    // shared 2-core machine, and at 2 s the row sometimes timed out ("taking too long") in
    // a full CI run. 10 s is still a third of the default (FRONTEND_REQUEST_TIMEOUT, 30 s).
    env: { FRONTEND_REQUEST_TIMEOUT: '10000' },
    during: async ({ tabs }) => {
      // The 20 MB arrived and were saved: hundreds of old conversations more, the newest still first.
      await expect(tabs.memories.locator('.memories-index-title .count')).toHaveText(/^\d{3,}$/, { timeout: 30_000 });
    },
  },
  {
    name: 'a server restart that loses the chat session',
    fault: { kind: 'reset' },
    says: SERVER_ERROR,
    // What ElizaOS does to sessions when it restarts (they live in its memory only).
    end: async ({ tabs }) => {
      const deleted = await fetch(`${stackInfo().elizaUrl}/api/messaging/sessions/${await chatSessionId(tabs.chat)}`, { method: 'DELETE' });
      expect(deleted.ok).toBe(true);
    },
  },
];

test.describe('faults between the gateway and ElizaOS', () => {
  for (const row of table) test(row.name, ({ browser }) => proveFault(browser, row));
});
