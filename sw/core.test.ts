import { IDBFactory } from 'fake-indexeddb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConfigOverrides } from '../src/shared/config';
import { getMeta, openPurlDB, type MetaValues, type PurlDatabase } from '../src/shared/db';
import { createCore, type Core, type CoreEnvironment } from './core';

const ORIGIN = 'http://purl.test';
const AGENT = '40608b6b-63b6-0e2c-b819-9d9850d060ec';
const SESSION = { sessionId: 's1', channelId: 'c1', agentId: AGENT, userId: 'u1' };

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

/**
 * The gateway's /health as the fake serves it: absent (an older gateway: 404), or up or
 * down since some time.
 */
interface FakeHealth {
  status: 'absent' | 'up' | 'down';
  since: number;
}

/**
 * ElizaOS behind the gateway, as far as the core reads it; `hang` makes the matching
 * requests wait until aborted. API requests are logged in `calls`, health checks in
 * `healthCalls` (they are not API requests).
 */
function fakeServer(hang: (request: Request) => boolean = () => false) {
  const calls: string[] = [];
  /** The query of each sync request. */
  const syncs: string[] = [];
  const healthCalls: number[] = [];
  const health: FakeHealth = { status: 'absent', since: 0 };
  let seq = 0;
  const fetch = async (request: Request, { signal }: { signal: AbortSignal }): Promise<Response> => {
    const { pathname } = new URL(request.url);
    if (pathname === '/health') {
      healthCalls.push(Date.now());
      if (health.status === 'absent') return new Response('Not found.', { status: 404 });
      return json({ status: health.status, since: health.since, checkedAt: Date.now() });
    }
    calls.push(`${request.method} ${pathname}`);
    if (hang(request)) {
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    }
    if (pathname === '/api/purl/sync') {
      const asked = new URL(request.url).searchParams;
      syncs.push(asked.toString());
      const chat = asked.has('session')
        ? { chat: { messages: [{ id: `r${++seq}`, authorId: AGENT, isAgent: true, content: 'Hello', createdAt: Date.now() }] } }
        : {};
      return json({ cursor: '0000000000aa.1', reset: !asked.has('since'), agents: [{ id: AGENT, name: 'Purl' }], memories: [], removed: [], ...chat });
    }
    if (pathname === '/api/agents') return json({ success: true, data: { agents: [{ id: AGENT, name: 'Purl' }] } });
    if (pathname.endsWith('/memories')) return json({ success: true, data: { memories: [] } });
    if (pathname.endsWith('/messages') && request.method === 'POST') {
      const body = (await request.json()) as { content: string; metadata: { clientMessageId: string } };
      const message = {
        id: `m${++seq}`,
        channel_id: 'c1',
        author_id: 'u1',
        content: body.content,
        created_at: Date.now(),
        metadata: { clientMessageId: body.metadata.clientMessageId },
      };
      return json({ success: true, userMessage: message }, 201);
    }
    if (pathname.endsWith('/messages')) return json({ messages: [] });
    return json({ error: 'not found' }, 404);
  };
  return { calls, syncs, healthCalls, health, fetch };
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
  environment: Partial<CoreEnvironment> = {},
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
    ...environment,
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

/** A poll's schedule, nothing unchanged in a row. */
const schedule = (nextDueAt: number, intervalMs: number, errorStreak = 0) => ({ nextDueAt, intervalMs, unchangedStreak: 0, errorStreak });
const message = (text: string) => ({ type: 'send-message', clientId: crypto.randomUUID(), agentId: AGENT, text, createdAt: Date.now() }) as const;
const heartbeat = { type: 'heartbeat', tabId: 'tab-1', visible: true, active: true } as const;
/**
 * The clock is fake (vitest's timers and Date); IndexedDB is not: fake-indexeddb runs each
 * request as a real setImmediate task. Those tasks are counted, and the clock moves on in
 * steps of STEP_MS only once they are all done, so the worker's timers fire in the order
 * and at the times they would for real, and a test that waits seconds takes milliseconds.
 */
const STEP_MS = 10;
type Immediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => unknown;
/** Node's setImmediate (this file compiles with the worker's lib, which has none). */
const scope = globalThis as unknown as { setImmediate: Immediate };
const realSetImmediate = scope.setImmediate;
let tasks = 0;
function countTasks(): void {
  scope.setImmediate = (callback, ...args) => {
    tasks += 1;
    return realSetImmediate(() => {
      tasks -= 1;
      callback(...args);
    });
  };
}
/** Lets everything that does not wait for the clock finish (IndexedDB, promises). */
async function settle(): Promise<void> {
  for (let quiet = 0; quiet < 3; ) {
    await new Promise<void>((resolve) => realSetImmediate(() => resolve()));
    quiet = tasks === 0 ? quiet + 1 : 0;
  }
}
/** `ms` of the worker's time go by. */
async function elapse(ms: number): Promise<void> {
  const until = Date.now() + ms;
  await settle();
  while (Date.now() < until) {
    await vi.advanceTimersByTimeAsync(Math.min(STEP_MS, until - Date.now()));
    await settle();
  }
}
/** Time goes by until `promise` settles; resolves or rejects with it. */
async function drive<T>(promise: Promise<T>): Promise<T> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await settle();
  while (!settled) await elapse(STEP_MS);
  return promise;
}
/** Checks every `everyMs` of the worker's time until `check` passes, for at most `withinMs`. */
async function eventually<T>(check: () => T | Promise<T>, { withinMs = 5_000, everyMs = 50 } = {}): Promise<T> {
  const until = Date.now() + withinMs;
  await settle();
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= until) throw error;
    }
    await elapse(everyMs);
  }
}

/** A message typed a minute ago, four attempts in, its backoff running for four more minutes. */
async function queueMessageTypedDuringOutage(now: number): Promise<void> {
  const db = await openPurlDB();
  await db.put('outbox', {
    clientId: 'c-1',
    agentId: AGENT,
    text: 'Typed during the outage',
    createdAt: now - 60_000,
    state: 'retrying',
    attempts: 4,
    nextAttemptAt: now + 240_000,
  });
  db.close();
}

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  countTasks();
});
afterEach(() => {
  vi.useRealTimers();
  scope.setImmediate = realSetImmediate;
});

describe('the core', () => {
  it('sends a message typed while a chat poll hangs at once, not when the poll gives up', async () => {
    const server = fakeServer((request) => request.method === 'GET' && request.url.endsWith('/messages?limit=50'));
    const now = Date.now();
    const { core, calls } = await harness(
      server,
      {
        ...running(now),
        // Due shortly after the heartbeat, so the worker's own loop starts the poll that hangs.
        schedules: {
          chat: { nextDueAt: now + 300, intervalMs: 1_000, unchangedStreak: 0, errorStreak: 0 },
          memories: { nextDueAt: now + 60_000, intervalMs: 60_000, unchangedStreak: 0, errorStreak: 0 },
        },
      },
      { requestTimeoutMs: 20_000 },
    );
    void core.handle(heartbeat);
    await eventually(() => expect(calls).toContain('GET /api/messaging/sessions/s1/messages'));

    void core.handle(message('Hello while the poll hangs'));
    await elapse(200);
    expect(calls).toContain('POST /api/messaging/sessions/s1/messages');
  });

  it('settles a typed message once it is in the outbox, while sending it still hangs', async () => {
    const server = fakeServer((request) => request.method === 'POST' && request.url.endsWith('/messages'));
    const { core, calls, db } = await harness(server, running(Date.now()), { requestTimeoutMs: 20_000 });
    const typed = message('Saved before it is sent');
    const started = Date.now();
    await drive(core.handle(typed));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await db.get('outbox', typed.clientId)).toMatchObject({ text: 'Saved before it is sent' });
    await eventually(() => expect(calls).toContain('POST /api/messaging/sessions/s1/messages'), { withinMs: 1_000 });
  });

  it('sends the probe when the breaker’s timeout passes, not when the polls’ backoff ends, and then polls the rest at once', async () => {
    const server = fakeServer();
    const now = Date.now();
    const { core, calls } = await harness(
      server,
      {
        ...running(now),
        // The breaker's probe is due in half a second; both polls backed off for minutes.
        breaker: { state: 'open', openedAt: now - 1_000 },
        schedules: { memories: schedule(now + 240_000, 240_000, 3), chat: schedule(now + 60_000, 60_000, 3) },
      },
      { breakerTimeoutMs: 1_500 },
    );
    void core.handle(heartbeat);
    await elapse(200);
    expect(calls).toEqual([]);
    // Within seconds of the probe time, not the minutes of their backoff: one poll probes, and the other follows once it got through.
    await eventually(() => expect(calls).toContain(`GET /api/agents/${AGENT}/memories`));
    await eventually(() => expect(calls).toContain('GET /api/messaging/sessions/s1/messages'));
    expect(calls[0]).toMatch(/^GET /);
  });

  it('sends a message waiting out its backoff as soon as a probe finds the server back', async () => {
    const server = fakeServer();
    const now = Date.now();
    await queueMessageTypedDuringOutage(now);
    const { core, calls } = await harness(
      server,
      {
        ...running(now),
        breaker: { state: 'open', openedAt: now - 10_000 },
        // The chat poll is due: it is the probe.
        schedules: {
          chat: { nextDueAt: now, intervalMs: 1_000, unchangedStreak: 0, errorStreak: 3 },
          memories: { nextDueAt: now + 240_000, intervalMs: 240_000, unchangedStreak: 0, errorStreak: 3 },
        },
      },
      { breakerTimeoutMs: 5_000 },
    );
    void core.handle(heartbeat);
    await eventually(() => expect(calls).toContain('POST /api/messaging/sessions/s1/messages'));
    // A poll was the probe (the chat's, due now, or the memories', made due by the breaker's timeout).
    expect(calls[0]).toMatch(/^GET /);
  });

  it('keeps a failing chat poll in IndexedDB for the banner while the memories are fine, and clears it when the poll works again', async () => {
    const server = fakeServer();
    let chatFails = true;
    const answer = server.fetch;
    server.fetch = async (request, init) =>
      chatFails && request.method === 'GET' && request.url.endsWith('/messages?limit=50') ? json({ error: 'boom' }, 500) : answer(request, init);
    const now = Date.now();
    const events: unknown[] = [];
    const { core, db } = await harness(
      server,
      {
        ...running(now),
        schedules: {
          chat: { nextDueAt: now, intervalMs: 1_000, unchangedStreak: 0, errorStreak: 0 },
          memories: { nextDueAt: now + 60_000, intervalMs: 60_000, unchangedStreak: 0, errorStreak: 0 },
        },
      },
      { breakerThreshold: 10 },
      (event) => events.push(event),
    );
    void core.handle(heartbeat);
    await eventually(async () =>
      expect(await db.get('meta', 'chatPoll')).toMatchObject({
        error: "Purl can't check the chat for new messages. The agent's server answered with an error. Showing saved messages; Purl will try again shortly.",
      }),
    );
    expect(events).toContainEqual({ type: 'data-changed', stores: ['meta'] });
    const failedAt = ((await db.get('meta', 'chatPoll')) as MetaValues['chatPoll']).attemptedAt;
    expect((await db.get('meta', 'sync')) as MetaValues['sync']).not.toHaveProperty('error');

    chatFails = false;
    await eventually(
      async () => {
        void core.handle(heartbeat);
        const status = (await db.get('meta', 'chatPoll')) as MetaValues['chatPoll'];
        expect(status.error).toBeUndefined();
        expect(status.succeededAt).toBeGreaterThan(failedAt);
      },
      { withinMs: 8_000, everyMs: 250 },
    );
  });

  it('with the sync route, the chat poll brings the memories in its request, and they wait their own interval', { timeout: 15_000 }, async () => {
    const server = fakeServer();
    const now = Date.now();
    const { core, db } = await harness(
      server,
      {
        ...running(now),
        schedules: { chat: schedule(now, 1_000), memories: schedule(now + 1_500, 2_000) },
      },
      { syncRoute: true, syncChat: true, memoriesPollMs: 2_000 },
    );
    void core.handle(heartbeat);
    await eventually(async () => expect(await db.count('chat')).toBe(1));
    expect(server.calls).toEqual(['GET /api/purl/sync']);
    const schedules = (await db.get('meta', 'schedules')) as MetaValues['schedules'];
    // The memories were brought by that request: their next poll is an interval from it, not at now + 1.5 s.
    expect(schedules.memories!.nextDueAt).toBeGreaterThanOrEqual(now + 2_000);
    // Past the memories' first deadline, only the chat poll has gone, each time with the memories' delta.
    await elapse(2_500);
    expect(server.calls.length).toBeGreaterThanOrEqual(2);
    expect(new Set(server.calls)).toEqual(new Set(['GET /api/purl/sync']));
    expect(server.syncs.every((query) => query.includes('session=s1'))).toBe(true);
  });

  it('after minutes offline, polls within a base interval of the network coming back, not after a backoff', { timeout: 15_000 }, async () => {
    const server = fakeServer();
    let online = false;
    const answer = server.fetch;
    server.fetch = async (request, init) => {
      if (!online) throw new TypeError('Failed to fetch');
      return answer(request, init);
    };
    const now = Date.now();
    const { core, db } = await harness(server, { ...running(now), schedules: { chat: schedule(now, 1_000) } }, {}, undefined, { isOnline: () => online });
    // Offline: every chat poll fails on the device. Each is retried a base interval on (1 s), as
    // many times as it fails, instead of 2, 4, 8 … s, which after ten minutes would be minutes.
    for (let i = 0; i < 4; i += 1) {
      void core.handle(heartbeat);
      await elapse(1_100);
    }
    const offline = ((await db.get('meta', 'schedules')) as MetaValues['schedules']).chat!;
    expect(offline).toMatchObject({ intervalMs: 1_000, errorStreak: 0 });
    expect(offline.nextDueAt - Date.now()).toBeLessThanOrEqual(1_000);
    expect(server.calls).toEqual([]);

    online = true;
    const backAt = Date.now();
    void core.handle(heartbeat);
    await eventually(() => expect(server.calls).toContain('GET /api/messaging/sessions/s1/messages'));
    expect(Date.now() - backAt).toBeLessThan(2_500);
  });

  it('with the sync route but no edge behind it (no syncChat), polls the chat on its own route', async () => {
    const server = fakeServer();
    const now = Date.now();
    const { core } = await harness(
      server,
      {
        ...running(now),
        schedules: { chat: schedule(now, 1_000), memories: schedule(now + 60_000, 60_000) },
      },
      { syncRoute: true },
    );
    void core.handle(heartbeat);
    await eventually(() => expect(server.calls).toContain('GET /api/messaging/sessions/s1/messages'));
    expect(server.syncs.filter((query) => query.includes('session='))).toEqual([]);
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
    await drive(core.handle({ type: 'tab-closed', tabId: 'warm-up' }));
    // Every write fails as a full disk makes it fail; reads still work.
    const transaction = db.transaction.bind(db);
    db.transaction = ((stores: never, mode?: IDBTransactionMode) => {
      if (mode === 'readwrite') throw full;
      return transaction(stores, mode);
    }) as typeof db.transaction;
    await expect(drive(core.handle(message('No room for me')))).rejects.toBe(full);
    expect(events).toContainEqual({ type: 'storage-full' });
    db.transaction = transaction;
  });

  it('reads the request timeout from the server settings', async () => {
    const server = fakeServer((request) => request.url.endsWith('/api/agents'));
    const { core, calls, db } = await harness(server, {}, { requestTimeoutMs: 1_000 });
    const started = Date.now();
    await drive(core.handle({ type: 'refresh' }));
    expect(calls).toEqual(['GET /api/agents']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await db.get('meta', 'sync')) as MetaValues['sync']).toMatchObject({ error: expect.stringMatching(/taking too long/) });
  });
});

/** Counts the IndexedDB transactions opened on `db` from now on. */
function countTransactions(db: PurlDatabase): { count: number } {
  const counter = { count: 0 };
  const transaction = db.transaction.bind(db);
  db.transaction = ((...args: Parameters<typeof transaction>) => {
    counter.count += 1;
    return transaction(...args);
  }) as typeof db.transaction;
  return counter;
}

/** A timer source that records each wait the core asks for. */
function countingTimers(): { waits: number[]; setTimer: NonNullable<CoreEnvironment['setTimer']> } {
  const waits: number[] = [];
  return {
    waits,
    setTimer: (callback, ms) => {
      waits.push(ms);
      const id = setTimeout(callback, ms);
      return () => clearTimeout(id);
    },
  };
}

/** The tab goes away, so the worker's loop ends with the test. */
const closeTab = (core: Core) => core.handle({ type: 'tab-closed', tabId: 'tab-1' });

describe('the core while the server is down', { timeout: 15_000 }, () => {
  it('with the breaker open and a poll overdue, waits for the probe instead of spinning', async () => {
    const server = fakeServer();
    const now = Date.now();
    const timers = countingTimers();
    const { core, calls, db } = await harness(
      server,
      {
        ...running(now),
        // Opened 10 s ago: the probe is 4 min 50 s away. The chat poll has been due for a second.
        breaker: { state: 'open', openedAt: now - 10_000 },
        schedules: { chat: schedule(now - 1_000, 1_000), memories: schedule(now + 60_000, 60_000) },
      },
      { breakerTimeoutMs: 300_000 },
      undefined,
      { setTimer: timers.setTimer },
    );
    // The worker starts (reads its settings and saved state) before the window opens.
    await drive(core.handle({ type: 'tab-closed', tabId: 'warm-up' }));
    const transactions = countTransactions(db);
    await drive(core.handle(heartbeat));
    await elapse(2_000);
    expect(calls).toEqual([]);
    // Measured before this fix: 197 transactions in 2 s, a 50 ms timer each round.
    expect(transactions.count).toBeLessThanOrEqual(8);
    expect(timers.waits).toEqual([]);
    // This gateway has no /health (404): asked once, then left alone.
    expect(server.healthCalls).toHaveLength(1);
  });

  it('asks /health every second while it says down, sending nothing to the API, and lets everything go the moment it says up', async () => {
    const server = fakeServer();
    const now = Date.now();
    server.health.status = 'down';
    server.health.since = now - 20_000;
    await queueMessageTypedDuringOutage(now);
    const timers = countingTimers();
    const {
      core,
      calls,
      db: opened,
    } = await harness(
      server,
      {
        ...running(now),
        breaker: { state: 'open', openedAt: now - 10_000 },
        schedules: { chat: schedule(now + 60_000, 60_000, 3), memories: schedule(now + 240_000, 240_000, 3) },
      },
      { breakerTimeoutMs: 300_000 },
      undefined,
      { setTimer: timers.setTimer },
    );
    await drive(core.handle({ type: 'tab-closed', tabId: 'warm-up' }));
    const transactions = countTransactions(opened);
    void core.handle(heartbeat);
    await elapse(2_500);
    expect(calls).toEqual([]);
    expect(server.healthCalls.length).toBeGreaterThanOrEqual(2);
    expect(server.healthCalls.length).toBeLessThanOrEqual(4);
    // One wait per health check (each up to a second), never a spin.
    expect(timers.waits.length).toBeLessThanOrEqual(4);
    expect(transactions.count).toBeLessThanOrEqual(8);

    server.health.status = 'up';
    server.health.since = Date.now();
    const upAt = Date.now();
    await eventually(() => expect(calls).toContain('POST /api/messaging/sessions/s1/messages'));
    await eventually(() => expect(calls).toContain(`GET /api/agents/${AGENT}/memories`));
    expect(calls).toContain('GET /api/messaging/sessions/s1/messages');
    // The next health check (a second at most) brings everything forward: seconds, not the breaker's 5 minutes.
    expect(Date.now() - upAt).toBeLessThan(3_500);
    expect(await opened.get('meta', 'breaker')).toEqual({ state: 'closed', failures: 0 });
    await closeTab(core);
  });

  it('stops knocking on the API once a request failed and /health says the server is down', async () => {
    const server = fakeServer();
    const answer = server.fetch;
    let isDown = true;
    server.fetch = async (request, init) => {
      if (isDown && new URL(request.url).pathname.startsWith('/api/')) {
        server.calls.push(`${request.method} ${new URL(request.url).pathname}`);
        throw new TypeError('Failed to fetch');
      }
      return answer(request, init);
    };
    const now = Date.now();
    server.health.status = 'down';
    server.health.since = now - 1_000;
    const { core, calls, db } = await harness(server, {
      ...running(now),
      schedules: { chat: schedule(now, 1_000), memories: schedule(now + 60_000, 60_000) },
    });
    void core.handle(heartbeat);
    await elapse(3_500);
    // The chat poll's own backoff (1–2 s, then 2–4 s) would have tried again by now; the health check says why not.
    expect(calls).toEqual(['GET /api/messaging/sessions/s1/messages']);
    expect(await db.get('meta', 'breaker')).toMatchObject({ state: 'open' });
    expect(server.healthCalls.length).toBeGreaterThanOrEqual(2);
    isDown = false;
    server.health.status = 'up';
    server.health.since = Date.now();
    await eventually(() => expect(calls.filter((call) => call === 'GET /api/messaging/sessions/s1/messages')).toHaveLength(2), { withinMs: 4_000 });
    await closeTab(core);
  });

  it('with a gateway that has no /health, backs off as before and does not ask again soon', async () => {
    const server = fakeServer();
    const answer = server.fetch;
    server.fetch = async (request, init) => {
      if (request.method !== 'GET' || !request.url.endsWith('/messages?limit=50')) return answer(request, init);
      server.calls.push(`GET ${new URL(request.url).pathname}`);
      return json({ error: 'down' }, 503);
    };
    const now = Date.now();
    const { core, calls } = await harness(
      server,
      {
        ...running(now),
        schedules: { chat: schedule(now, 1_000), memories: schedule(now + 60_000, 60_000) },
      },
      { breakerThreshold: 10 },
    );
    void core.handle(heartbeat);
    // Backoff from the base interval: the first retry within 1–2 s.
    await eventually(() => expect(calls.filter((call) => call.startsWith('GET /api/messaging'))).toHaveLength(2), { withinMs: 4_000 });
    expect(server.healthCalls).toHaveLength(1);
    await closeTab(core);
  });

  it('does not count failed health checks against the breaker', async () => {
    const server = fakeServer();
    const answer = server.fetch;
    server.fetch = async (request, init) => {
      if (new URL(request.url).pathname === '/health') {
        server.healthCalls.push(Date.now());
        throw new TypeError('Failed to fetch');
      }
      return request.method === 'GET' && request.url.endsWith('/messages?limit=50') ? json({ error: 'down' }, 503) : answer(request, init);
    };
    const now = Date.now();
    const { core, db } = await harness(server, {
      ...running(now),
      schedules: { chat: schedule(now, 1_000), memories: schedule(now + 60_000, 60_000) },
    });
    void core.handle(heartbeat);
    await elapse(2_500);
    expect(server.healthCalls.length).toBeGreaterThanOrEqual(2);
    // Only the chat polls (one or two in 2.5 s) count: the breaker has not opened (threshold 5).
    const breaker = (await db.get('meta', 'breaker')) as MetaValues['breaker'];
    expect(breaker.state).toBe('closed');
    expect(breaker).toMatchObject({ failures: expect.any(Number) });
    expect((breaker as { failures: number }).failures).toBeLessThanOrEqual(2);
    await closeTab(core);
  });
});

describe('the core behind a gateway that shares one upstream budget', () => {
  it('while the budget is spent, keeps reading memories from the edge, holds the chat and a typed message without trying them, then sends the message', async () => {
    const server = fakeServer();
    const now = Date.now();
    const spentUntil = now + 2_500;
    /** The gateway: requests that cost the upstream are its own 429 until `spentUntil`; the edge answers the shared reads. */
    const gateway = async (request: Request, init: { signal: AbortSignal }): Promise<Response> => {
      const { pathname } = new URL(request.url);
      const shared = request.method === 'GET' && (pathname === '/api/agents' || pathname.endsWith('/memories'));
      if (!shared && pathname.startsWith('/api/') && Date.now() < spentUntil) {
        server.calls.push(`${request.method} ${pathname} refused`);
        return new Response(JSON.stringify({ success: false, error: { code: 'UPSTREAM_BUDGET_SPENT', message: 'Later.' } }), {
          status: 429,
          headers: { 'Content-Type': 'application/json', 'Retry-After': String(Math.ceil((spentUntil - Date.now()) / 1000)), 'X-Purl-Budget': 'empty' },
        });
      }
      const answer = await server.fetch(request, init);
      if (shared) answer.headers.set('X-Purl-Edge', 'stale-budget');
      return answer;
    };
    const { core, calls } = await harness(
      { ...server, fetch: gateway },
      {
        ...running(now),
        schedules: {
          chat: { nextDueAt: now, intervalMs: 1_000, unchangedStreak: 0, errorStreak: 0 },
          memories: { nextDueAt: now + 200, intervalMs: 1_000, unchangedStreak: 0, errorStreak: 0 },
        },
      },
      { memoriesPollMs: 1_000, cacheTtlMs: 0 },
    );
    void core.handle(heartbeat);
    await eventually(() => expect(calls).toContain('GET /api/messaging/sessions/s1/messages refused'));
    void core.handle(message('Typed while the budget is spent'));
    // Memories keep coming from the edge meanwhile; nothing else is even tried.
    await eventually(() => expect(calls.filter((call) => call === `GET /api/agents/${AGENT}/memories`).length).toBeGreaterThanOrEqual(2));
    expect(calls.filter((call) => call.endsWith('refused'))).toEqual(['GET /api/messaging/sessions/s1/messages refused']);
    void core.handle(heartbeat);
    // Once the Retry-After is over, the message goes (which of it and the chat poll reaches the
    // gateway first is the gateway's to order: server/gateway/budget/upstream-budget.ts, MESSAGES_FIRST_MS).
    await eventually(() => expect(calls).toContain('POST /api/messaging/sessions/s1/messages'));
    expect(calls.filter((call) => call.endsWith('refused'))).toEqual(['GET /api/messaging/sessions/s1/messages refused']);
  });
});

describe('the core with push (docs/push.md)', { timeout: 15_000 }, () => {
  const hello = (upstream: string, id = 'ep1.4') => ({ type: 'push', event: 'hello', id, data: JSON.stringify({ epoch: 'ep1', upstream }) }) as const;
  const pushed = (id: string, sessionId = 's1') =>
    ({
      type: 'push',
      event: 'message',
      id: `ep1.${id.length}`,
      data: JSON.stringify({ sessionId, message: { id, content: `Reply ${id}`, authorId: AGENT, isAgent: true, createdAt: Date.now(), metadata: {} } }),
    }) as const;

  /** A running worker with a tab open (its polls not due for a while) that has just heard push is up. */
  async function openTabWithPush(server = fakeServer(), meta: Partial<MetaValues> = {}, overrides: ConfigOverrides = {}) {
    const now = Date.now();
    const opened = await harness(
      server,
      {
        ...running(now),
        schedules: { chat: schedule(now + 30_000, 30_000), memories: schedule(now + 60_000, 60_000) },
        ...meta,
      },
      overrides,
    );
    void opened.core.handle(heartbeat);
    await elapse(200);
    await drive(opened.core.handle(hello('up')));
    return opened;
  }

  it('with push up, stores a pushed reply as a polled one, sends no chat poll after a message, and keeps the event id for replay', async () => {
    const { core, calls, db } = await openTabWithPush();
    await drive(core.handle(message('Hello over push')));
    await eventually(() => expect(calls).toContain('POST /api/messaging/sessions/s1/messages'));
    // Without push the reply watch polls the chat a second after the message (sw/reply-watch.ts).
    await elapse(1_800);
    expect(calls, calls.join(' / ')).not.toContain('GET /api/messaging/sessions/s1/messages');

    await drive(core.handle(pushed('r-pushed')));
    expect(await db.get('chat', 'r-pushed')).toMatchObject({ text: 'Reply r-pushed', isAgent: true, channelId: 'c1', agentId: AGENT });
    expect(await db.get('meta', 'pushLastEventId')).toBe('ep1.8');
    // Pushed twice (a replay), kept once.
    await drive(core.handle(pushed('r-pushed')));
    expect((await db.getAll('chat')).filter((kept) => kept.id === 'r-pushed')).toHaveLength(1);
    await eventually(async () => expect((await getMeta(db, 'metrics'))?.push).toMatchObject({ state: 'up', events: 3 }));
  });

  it('without push, the same message brings a chat poll within about a second (the contrast to the test above)', async () => {
    const server = fakeServer();
    const now = Date.now();
    const { core, calls } = await harness(server, {
      ...running(now),
      schedules: { chat: schedule(now + 30_000, 30_000), memories: schedule(now + 60_000, 60_000) },
    });
    void core.handle(heartbeat);
    await elapse(200);
    await drive(core.handle(message('Hello without push')));
    await eventually(() => expect(calls).toContain('GET /api/messaging/sessions/s1/messages'));
  });

  it('makes the chat poll a 60-s safety net while push is up, and brings its own cadence back the moment push goes down', async () => {
    const server = fakeServer();
    const now = Date.now();
    const { core, calls, db } = await harness(server, {
      ...running(now),
      schedules: { chat: schedule(now + 200, 1_000), memories: schedule(now + 60_000, 60_000) },
    });
    void core.handle(heartbeat);
    await drive(core.handle(hello('up')));
    await eventually(() => expect(calls).toContain('GET /api/messaging/sessions/s1/messages'));
    await eventually(async () => expect((await getMeta(db, 'schedules'))?.chat?.nextDueAt).toBeGreaterThan(Date.now() + 50_000));
    // A minute with its jitter, not stretched because the poll found nothing new.
    expect((await getMeta(db, 'schedules'))?.chat?.nextDueAt).toBeLessThan(Date.now() + 67_000);
    const polls = () => calls.filter((call) => call === 'GET /api/messaging/sessions/s1/messages').length;
    const before = polls();

    void core.handle({ type: 'push', event: 'down' });
    // The chat poll's own interval here is a second: due again well before the safety net's minute.
    await eventually(() => expect(polls()).toBeGreaterThan(before));
    expect((await getMeta(db, 'metrics'))?.push?.state).toBe('down');
  });

  it('brings polls backing off, the breaker’s probe and a message waiting out its backoff forward when push comes up', async () => {
    const server = fakeServer();
    const now = Date.now();
    await queueMessageTypedDuringOutage(now);
    const { core, calls } = await harness(server, {
      ...running(now),
      breaker: { state: 'open', openedAt: now - 1_000 },
      schedules: { memories: schedule(now + 240_000, 240_000, 3), chat: schedule(now + 60_000, 60_000, 3) },
    });
    void core.handle(heartbeat);
    await elapse(200);
    expect(calls).toEqual([]);
    await drive(core.handle(hello('up')));
    await eventually(() => expect(calls).toContain('POST /api/messaging/sessions/s1/messages'));
    expect(calls.some((call) => call.startsWith('GET '))).toBe(true);
  });

  it('ignores a pushed message of another session, reads the chat after a reset, and refuses an event that is not the gateway’s', async () => {
    const { core, calls, db } = await openTabWithPush();
    await drive(core.handle(pushed('r-other', 'another-session')));
    expect(await db.get('chat', 'r-other')).toBeUndefined();

    await expect(drive(core.handle({ type: 'push', event: 'message', id: 'ep1.9', data: '{"sessionId":"s1","message":{"id":42}}' }))).rejects.toThrow(/id/);
    await expect(drive(core.handle({ type: 'push', event: 'message', data: '<html>' }))).rejects.toThrow(/not JSON/);
    // The other session's message moved the stream on (ep1.7); the refused ones did not.
    expect(await db.get('meta', 'pushLastEventId')).toBe('ep1.7');

    await drive(core.handle({ type: 'push', event: 'reset', data: JSON.stringify({ sessionIds: ['s1'] }) }));
    await eventually(() => expect(calls).toContain('GET /api/messaging/sessions/s1/messages'));
  });

  it('takes back what the banner said of a failed chat poll once a reply arrives by push', async () => {
    const server = fakeServer();
    const now = Date.now();
    const { core, db } = await harness(server, {
      ...running(now),
      chatPoll: { attemptedAt: now - 5_000, error: 'The server is limiting requests (HTTP 429).' },
      schedules: { chat: schedule(now + 60_000, 60_000, 1), memories: schedule(now + 60_000, 60_000) },
    });
    await drive(core.handle(hello('up')));
    expect((await getMeta(db, 'chatPoll'))?.error).toMatch(/429/);
    await drive(core.handle(pushed('r-after-429')));
    expect(await getMeta(db, 'chatPoll')).toMatchObject({ succeededAt: expect.any(Number) });
    expect((await getMeta(db, 'chatPoll'))?.error).toBeUndefined();
  });

  it('applies push events in the order they came: a hello saying down, then the upstream coming up at once, leaves push up', async () => {
    const server = fakeServer();
    const { core, db } = await harness(server, running(Date.now()));
    await drive(Promise.all([core.handle(hello('down')), core.handle({ type: 'push', event: 'upstream', data: JSON.stringify({ state: 'up' }) })]));
    // The monitor's figures are published at most once a second: the last state is the one that stays.
    await elapse(1_500);
    expect((await getMeta(db, 'metrics'))?.push).toMatchObject({ state: 'up', events: 2 });
    expect((await getMeta(db, 'metrics'))?.baseIntervals.chat).toBe(60_000);
  });

  describe('memories', () => {
    const STORED = '0000000000aa.5';
    const memoriesEvent = (cursor: string, agentId = AGENT) => ({ type: 'push', event: 'memories', data: JSON.stringify({ agentId, cursor }) }) as const;
    /** Behind the sync route, the memories synced up to STORED, neither poll due for half a minute or more. */
    const openSynced = (server: ReturnType<typeof fakeServer>) =>
      openTabWithPush(server, { syncCursor: { agentId: AGENT, cursor: STORED } }, { syncRoute: true, syncChat: true });

    it('syncs the selected agent’s memories at once, as a delta, when push says the gateway stands past the stored cursor', async () => {
      const server = fakeServer();
      const { core, db } = await openSynced(server);
      expect(server.syncs).toEqual([]);
      await drive(core.handle(memoriesEvent('0000000000aa.7')));
      // The memories poll was due in a minute: the event makes it due now.
      await eventually(() => expect(server.syncs).toHaveLength(1), { withinMs: 1_000, everyMs: 20 });
      expect(new URLSearchParams(server.syncs[0]).get('since')).toBe(STORED);
      expect(new URLSearchParams(server.syncs[0]).get('agentId')).toBe(AGENT);
      // A new gateway start (another epoch) is news too.
      await drive(core.handle(memoriesEvent('0000000000bb.1')));
      await eventually(() => expect(server.syncs).toHaveLength(2), { withinMs: 1_000, everyMs: 20 });
      await eventually(async () => expect((await getMeta(db, 'metrics'))?.push).toMatchObject({ state: 'up', events: 3 }));
    });

    it('sends nothing for the cursor it holds or an older one, nor for another agent', async () => {
      const server = fakeServer();
      const { core, db } = await openSynced(server);
      await drive(core.handle(memoriesEvent(STORED)));
      await drive(core.handle(memoriesEvent('0000000000aa.3')));
      await drive(core.handle(memoriesEvent('0000000000aa.9', '11111111-1111-4111-8111-111111111111')));
      await elapse(1_200);
      expect(server.calls).toEqual([]);
      // Counted all the same.
      await eventually(async () => expect((await getMeta(db, 'metrics'))?.push).toMatchObject({ events: 4 }));
    });

    it('refuses a malformed one with a sentence, and changes nothing', async () => {
      const server = fakeServer();
      const { core, db } = await openSynced(server);
      await expect(drive(core.handle({ type: 'push', event: 'memories', data: JSON.stringify({ agentId: AGENT, cursor: '../7' }) }))).rejects.toThrow(
        /memories\.cursor is not a sync cursor/,
      );
      await expect(drive(core.handle({ type: 'push', event: 'memories', data: JSON.stringify({ cursor: '0000000000aa.9' }) }))).rejects.toThrow(
        /memories\.agentId is not a non-empty string/,
      );
      await elapse(1_200);
      expect(server.calls).toEqual([]);
      expect(await getMeta(db, 'syncCursor')).toEqual({ agentId: AGENT, cursor: STORED });
      expect((await getMeta(db, 'metrics'))?.push).toMatchObject({ events: 1 });
    });
  });

  it('says the gateway is reached but not ElizaOS, and keeps the chat poll’s own cadence then', async () => {
    const server = fakeServer();
    const { core, db } = await harness(server, running(Date.now()));
    await drive(core.handle(hello('down')));
    await eventually(async () => expect((await getMeta(db, 'metrics'))?.push?.state).toBe('upstream-down'));
    expect((await getMeta(db, 'metrics'))?.baseIntervals.chat).toBe(1_000);
    await drive(core.handle({ type: 'push', event: 'upstream', data: JSON.stringify({ state: 'up' }) }));
    await eventually(async () => expect((await getMeta(db, 'metrics'))?.baseIntervals.chat).toBe(60_000));
  });
});
