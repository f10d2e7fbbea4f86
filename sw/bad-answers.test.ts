/**
 * The worker's core against answers it must not believe (issue 10, item 3), with the
 * real freshness window (30 s, the agent list 10 times that): nothing unvalidated is
 * stored or taken for fresh, a bad answer is a failure for the breaker and the monitor,
 * and the saved data stays.
 */
import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import { getMeta, listAgents, listMemories, openPurlDB, type PurlDatabase } from '../src/shared/db';
import { createCore, type Core } from './core';

const ORIGIN = 'http://purl.test';
const AGENT = '40608b6b-63b6-0e2c-b819-9d9850d060ec';
const HTML = '<!doctype html><html><body><h1>Welcome to the hotel Wi-Fi</h1></body></html>';
const ETAG = 'W/"memories-1"';

const json = (body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json', ...headers } });

/** ElizaOS as the sync reads it, with a portal that can answer in its place; the memories carry an ETag. */
function server() {
  const calls: string[] = [];
  const state = { portal: false };
  const fetch = async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    const conditional = request.headers.get('If-None-Match') === ETAG && request.headers.get('Cache-Control') !== 'no-cache';
    calls.push(`${pathname.endsWith('/memories') ? 'memories' : 'agents'}${conditional ? ' (conditional)' : ''}`);
    if (state.portal) return new Response(HTML, { status: 200, headers: { 'Content-Type': 'text/html' } });
    if (pathname === '/api/agents') return json({ success: true, data: { agents: [{ id: AGENT, name: 'Purl' }] } });
    if (conditional) return new Response(null, { status: 304, headers: { ETag: ETAG } });
    const memory = { id: 'm1', agentId: AGENT, entityId: 'u1', roomId: 'r1', createdAt: 1_000, content: { text: 'hello' } };
    return json({ success: true, data: { memories: [memory] } }, { ETag: ETAG });
  };
  return { calls, state, fetch };
}

async function harness(): Promise<{ core: Core; db: PurlDatabase; clock: { now: number }; site: ReturnType<typeof server> }> {
  const db = await openPurlDB();
  const site = server();
  const clock = { now: Date.now() };
  const core = createCore({
    origin: ORIGIN,
    fetch: site.fetch,
    getDb: async () => db,
    broadcast: () => undefined,
    now: () => clock.now,
    random: () => 0.5,
    randomUUID: () => crypto.randomUUID(),
    loadOverrides: async () => ({ breakerThreshold: 3 }),
  });
  return { core, db, clock, site };
}

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

describe('answers the worker must not believe', () => {
  it('asks again at the next refresh after an HTML page answered with 200, and keeps what was saved', async () => {
    const { core, db, clock, site } = await harness();
    await core.handle({ type: 'refresh' });
    expect(await listAgents(db)).toHaveLength(1);

    // Past the memories' window, well inside the agent list's (300 s).
    clock.now += 31_000;
    site.state.portal = true;
    await core.handle({ type: 'refresh' });
    expect((await getMeta(db, 'sync'))?.error).toMatch(/couldn't read/);
    expect(await listAgents(db)).toHaveLength(1);
    expect((await listMemories(db, AGENT)).map((memory) => memory.text)).toEqual(['hello']);
    expect(await getMeta(db, 'breaker')).toEqual({ state: 'closed', failures: 1 });

    site.state.portal = false;
    clock.now += 1_000;
    await core.handle({ type: 'refresh' });
    expect((await getMeta(db, 'sync'))?.error).toBeUndefined();
    expect(site.calls).toEqual(['agents', 'memories', 'memories (conditional)', 'memories (conditional)']);
    expect(await getMeta(db, 'breaker')).toEqual({ state: 'closed', failures: 0 });
  });

  it('never stamps a refused agent list fresh: with the portal on the agent list itself, every refresh asks again', async () => {
    const { core, db, clock, site } = await harness();
    site.state.portal = true;
    for (let i = 0; i < 3; i += 1) {
      await core.handle({ type: 'refresh' });
      clock.now += 1_000;
    }
    expect(site.calls).toEqual(['agents', 'agents', 'agents']);
    expect(await getMeta(db, 'answers')).toBeUndefined();
    // Three refused answers in a row open the breaker, as three 500s would.
    expect((await getMeta(db, 'breaker'))?.state).toBe('open');
  });

  it('counts as a cache hit only a read answered without a request, not a 304', async () => {
    const { core, db, clock, site } = await harness();
    await core.handle({ type: 'refresh' });
    clock.now += 10_000;
    await core.handle({ type: 'refresh' });
    clock.now += 31_000;
    await core.handle({ type: 'refresh' });
    expect(site.calls).toEqual(['agents', 'memories', 'memories (conditional)']);
    // Reads: agents miss, memories miss; agents hit, memories hit; agents hit, memories miss (a 304).
    await expect.poll(async () => (await getMeta(db, 'metrics'))?.cacheHits, { timeout: 3_000 }).toBe(3);
    expect((await getMeta(db, 'metrics'))?.cacheMisses).toBe(3);
  });
});
