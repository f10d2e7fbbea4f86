import { IDBFactory } from 'fake-indexeddb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConfigOverrides } from '../src/shared/config';
import { openPurlDB, type MetaValues, type PurlDatabase } from '../src/shared/db';
import { createCore, type Core } from './core';

const ORIGIN = 'http://purl.test';
const AGENT = '40608b6b-63b6-0e2c-b819-9d9850d060ec';
const SESSION = { sessionId: 's1', channelId: 'c1', agentId: AGENT, userId: 'u1' };

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

/** ElizaOS as far as the core reads it; `hang` makes the matching requests wait until aborted. */
function fakeServer(hang: (request: Request) => boolean = () => false) {
  const calls: string[] = [];
  let seq = 0;
  const fetch = async (request: Request, { signal }: { signal: AbortSignal }): Promise<Response> => {
    const { pathname } = new URL(request.url);
    calls.push(`${request.method} ${pathname}`);
    if (hang(request)) {
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    }
    if (pathname === '/api/agents') return json({ success: true, data: { agents: [{ id: AGENT, name: 'Purl' }] } });
    if (pathname.endsWith('/memories')) return json({ success: true, data: { memories: [] } });
    if (pathname.endsWith('/messages') && request.method === 'POST') {
      const body = (await request.json()) as { content: string; metadata: { clientMessageId: string } };
      const message = { id: `m${++seq}`, channel_id: 'c1', author_id: 'u1', content: body.content, created_at: Date.now(), metadata: { clientMessageId: body.metadata.clientMessageId } };
      return json({ success: true, userMessage: message }, 201);
    }
    if (pathname.endsWith('/messages')) return json({ messages: [] });
    return json({ error: 'not found' }, 404);
  };
  return { calls, fetch };
}

interface Harness {
  core: Core;
  calls: string[];
  db: PurlDatabase;
}

/** A core on a database that already holds `meta`: the state an earlier worker left. */
async function harness(
  server: ReturnType<typeof fakeServer>,
  meta: Partial<MetaValues>,
  overrides: ConfigOverrides = {},
  broadcast: (event: unknown) => void = () => undefined,
): Promise<Harness> {
  const db = await openPurlDB();
  for (const [key, value] of Object.entries(meta)) await db.put('meta', value as MetaValues[keyof MetaValues], key as keyof MetaValues);
  const core = createCore({
    origin: ORIGIN,
    fetch: server.fetch,
    getDb: async () => db,
    broadcast,
    now: Date.now,
    random: () => 0.5,
    randomUUID: () => crypto.randomUUID(),
    loadOverrides: async () => ({ memoriesPollMs: 60_000, chatPollMs: 1_000, messageMinIntervalMs: 0, ...overrides }),
  });
  return { core, calls: server.calls, db };
}

/** A worker that has been running: data synced, an agent chosen, a chat session open. */
function running(now: number): Partial<MetaValues> {
  return {
    sync: { attemptedAt: now - 1_000, succeededAt: now - 1_000 },
    selectedAgentId: AGENT,
    chatSession: SESSION,
    userId: 'u1',
    phase: 0,
  };
}

const message = (text: string) => ({ type: 'send-message', clientId: crypto.randomUUID(), agentId: AGENT, text, createdAt: Date.now() }) as const;
const heartbeat = { type: 'heartbeat', tabId: 'tab-1', visible: true, active: true } as const;
const flushSoon = () => new Promise((resolve) => setTimeout(resolve, 200));

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});
afterEach(() => vi.useRealTimers());

describe('the core', () => {
  it('sends a message typed while a chat poll hangs at once, not when the poll gives up', async () => {
    const server = fakeServer((request) => request.method === 'GET' && request.url.endsWith('/messages?limit=50'));
    const now = Date.now();
    const { core, calls } = await harness(server, {
      ...running(now),
      // Due shortly after the heartbeat, so the worker's own loop starts the poll that hangs.
      schedules: { chat: { nextDueAt: now + 300, intervalMs: 1_000, unchangedStreak: 0, errorStreak: 0 }, memories: { nextDueAt: now + 60_000, intervalMs: 60_000, unchangedStreak: 0, errorStreak: 0 } },
    }, { requestTimeoutMs: 20_000 });
    void core.handle(heartbeat);
    await vi.waitFor(() => expect(calls).toContain('GET /api/messaging/sessions/s1/messages'));

    void core.handle(message('Hello while the poll hangs'));
    await flushSoon();
    expect(calls).toContain('POST /api/messaging/sessions/s1/messages');
  });

  it('settles a typed message once it is in the outbox, while sending it still hangs', async () => {
    const server = fakeServer((request) => request.method === 'POST' && request.url.endsWith('/messages'));
    const { core, calls, db } = await harness(server, running(Date.now()), { requestTimeoutMs: 20_000 });
    const typed = message('Saved before it is sent');
    const started = Date.now();
    await core.handle(typed);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await db.get('outbox', typed.clientId)).toMatchObject({ text: 'Saved before it is sent' });
    await vi.waitFor(() => expect(calls).toContain('POST /api/messaging/sessions/s1/messages'));
  });

  it('polls the memories at once when a request gets through after an outage, not after their backoff', async () => {
    const server = fakeServer();
    const now = Date.now();
    const { core, calls } = await harness(server, {
      ...running(now),
      // The breaker opened long enough ago for a probe; the memories poll backed off for minutes.
      breaker: { state: 'open', openedAt: now - 10_000 },
      schedules: {
        memories: { nextDueAt: now + 240_000, intervalMs: 240_000, unchangedStreak: 0, errorStreak: 3 },
        chat: { nextDueAt: now + 60_000, intervalMs: 60_000, unchangedStreak: 0, errorStreak: 3 },
      },
    }, { breakerTimeoutMs: 5_000 });
    void core.handle(heartbeat);
    await flushSoon();
    expect(calls).toEqual([]);

    void core.handle(message('The server is back'));
    await vi.waitFor(() => expect(calls).toContain('GET /api/agents'));
    expect(calls[0]).toBe('POST /api/messaging/sessions/s1/messages');
    expect(calls).toContain(`GET /api/agents/${AGENT}/memories`);
  });

  it('sends a message waiting out its backoff as soon as a probe finds the server back', async () => {
    const server = fakeServer();
    const now = Date.now();
    const db = await openPurlDB();
    await db.put('outbox', { clientId: 'c-1', agentId: AGENT, text: 'Typed during the outage', createdAt: now - 60_000, state: 'retrying', attempts: 4, nextAttemptAt: now + 240_000 });
    db.close();
    const { core, calls } = await harness(server, {
      ...running(now),
      breaker: { state: 'open', openedAt: now - 10_000 },
      // The chat poll is due: it is the probe.
      schedules: {
        chat: { nextDueAt: now, intervalMs: 1_000, unchangedStreak: 0, errorStreak: 3 },
        memories: { nextDueAt: now + 240_000, intervalMs: 240_000, unchangedStreak: 0, errorStreak: 3 },
      },
    }, { breakerTimeoutMs: 5_000 });
    void core.handle(heartbeat);
    await vi.waitFor(() => expect(calls).toContain('POST /api/messaging/sessions/s1/messages'));
    expect(calls[0]).toBe('GET /api/messaging/sessions/s1/messages');
  });

  it('keeps a failing chat poll in IndexedDB for the banner while the memories are fine, and clears it when the poll works again', async () => {
    const server = fakeServer();
    let chatFails = true;
    const answer = server.fetch;
    server.fetch = async (request, init) =>
      chatFails && request.method === 'GET' && request.url.endsWith('/messages?limit=50') ? json({ error: 'boom' }, 500) : answer(request, init);
    const now = Date.now();
    const events: unknown[] = [];
    const { core, db } = await harness(server, {
      ...running(now),
      schedules: {
        chat: { nextDueAt: now, intervalMs: 1_000, unchangedStreak: 0, errorStreak: 0 },
        memories: { nextDueAt: now + 60_000, intervalMs: 60_000, unchangedStreak: 0, errorStreak: 0 },
      },
    }, { breakerThreshold: 10 }, (event) => events.push(event));
    void core.handle(heartbeat);
    await vi.waitFor(async () =>
      expect(await db.get('meta', 'chatPoll')).toMatchObject({ error: "Purl can't check the chat for new messages. The agent's server answered with an error. Showing saved messages; Purl will try again shortly." }),
    );
    expect(events).toContainEqual({ type: 'data-changed', stores: ['meta'] });
    const failedAt = ((await db.get('meta', 'chatPoll')) as MetaValues['chatPoll']).attemptedAt;
    expect((await db.get('meta', 'sync')) as MetaValues['sync']).not.toHaveProperty('error');

    chatFails = false;
    await vi.waitFor(
      async () => {
        void core.handle(heartbeat);
        const status = (await db.get('meta', 'chatPoll')) as MetaValues['chatPoll'];
        expect(status.error).toBeUndefined();
        expect(status.succeededAt).toBeGreaterThan(failedAt);
      },
      { timeout: 8_000, interval: 250 },
    );
  });

  it('tells every tab when a command failed because the browser has no room left', async () => {
    const events: unknown[] = [];
    const full = new DOMException('Quota exceeded.', 'QuotaExceededError');
    const db = await openPurlDB();
    const core = createCore({
      origin: ORIGIN,
      fetch: fakeServer().fetch,
      getDb: async () => db,
      broadcast: (event) => events.push(event),
      now: Date.now,
      random: () => 0.5,
      randomUUID: () => crypto.randomUUID(),
      loadOverrides: async () => ({}),
    });
    await core.handle({ type: 'tab-closed', tabId: 'warm-up' });
    // Every write fails as a full disk makes it fail; reads still work.
    const transaction = db.transaction.bind(db);
    db.transaction = ((stores: never, mode?: IDBTransactionMode) => {
      if (mode === 'readwrite') throw full;
      return transaction(stores, mode);
    }) as typeof db.transaction;
    await expect(core.handle(message('No room for me'))).rejects.toBe(full);
    expect(events).toContainEqual({ type: 'storage-full' });
    db.transaction = transaction;
  });

  it('reads the request timeout from the server settings', async () => {
    const server = fakeServer((request) => request.url.endsWith('/api/agents'));
    const { core, calls, db } = await harness(server, {}, { requestTimeoutMs: 1_000 });
    const started = Date.now();
    await core.handle({ type: 'refresh' });
    expect(calls).toEqual(['GET /api/agents']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await db.get('meta', 'sync')) as MetaValues['sync']).toMatchObject({ error: expect.stringMatching(/taking too long/) });
  });
});
