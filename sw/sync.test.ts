import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import { apiPaths } from '../src/shared/api';
import { getMeta, listMemories, openPurlDB, type PurlDatabase } from '../src/shared/db';
import { PurlError } from '../src/shared/errors';
import type { PurlEvent } from '../src/shared/messages';
import { createSync, type ApiResult } from './sync';

const A = 'agent-a';
const B = 'agent-b';

const agentsBody = (...ids: string[]) => ({ success: true, data: { agents: ids.map((id) => ({ id, name: id.toUpperCase(), bio: '', status: 'active' })) } });
const memoriesBody = (agentId: string, ...ids: string[]) => ({
  success: true,
  data: { memories: ids.map((id, i) => ({ id, agentId, entityId: 'u', roomId: 'r', createdAt: 1000 + i, content: { text: id } })) },
});
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

interface Harness {
  db: PurlDatabase;
  events: PurlEvent[];
  calls: string[];
  clock: { now: number };
  routes: Map<string, () => ApiResult | Promise<ApiResult>>;
  sync: ReturnType<typeof createSync<null>>;
}

async function harness(): Promise<Harness> {
  const db = await openPurlDB();
  const events: PurlEvent[] = [];
  const calls: string[] = [];
  const clock = { now: 10_000 };
  const routes = new Map<string, () => ApiResult | Promise<ApiResult>>();
  const sync = createSync<null>({
    getDb: async () => db,
    fetchApi: async (path) => {
      calls.push(path);
      const route = routes.get(path);
      return route ? route() : { failure: new PurlError('network-error') };
    },
    broadcast: (event) => events.push(event),
    now: () => clock.now,
    intervalMs: async () => 60_000,
  });
  return { db, events, calls, clock, routes, sync };
}

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

describe('sync', () => {
  it('stores the agents and the first agent’s memories, then tells the tabs what changed', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => ({ response: json(agentsBody(A, B)) }));
    h.routes.set(apiPaths.memories(A), () => ({ response: json(memoriesBody(A, 'm1', 'm2')) }));
    await h.sync.refresh(null);
    expect(await getMeta(h.db, 'selectedAgentId')).toBe(A);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m2', 'm1']);
    expect(h.events).toEqual([{ type: 'data-changed', stores: ['meta', 'agents', 'memories'] }]);
    expect(await getMeta(h.db, 'sync')).toEqual({ attemptedAt: 10_000, succeededAt: 10_000 });
  });

  it('keeps the user’s chosen agent while the server still has it', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => ({ response: json(agentsBody(A, B)) }));
    h.routes.set(apiPaths.memories(A), () => ({ response: json(memoriesBody(A)) }));
    h.routes.set(apiPaths.memories(B), () => ({ response: json(memoriesBody(B, 'b1')) }));
    await h.sync.refresh(null);
    await h.sync.selectAgent(B, null);
    expect(await getMeta(h.db, 'selectedAgentId')).toBe(B);
    expect((await listMemories(h.db, B)).map((m) => m.id)).toEqual(['b1']);
  });

  it('keeps saved memories and records a sentence when the server cannot be reached', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => ({ response: json(agentsBody(A)) }));
    h.routes.set(apiPaths.memories(A), () => ({ response: json(memoriesBody(A, 'm1')) }));
    await h.sync.refresh(null);
    h.routes.clear();
    h.clock.now = 20_000;
    await h.sync.refresh(null);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m1']);
    expect(await getMeta(h.db, 'sync')).toEqual({
      attemptedAt: 20_000,
      succeededAt: 10_000,
      error: "Can't reach the agent's server. Showing saved memories; Purl will try again shortly.",
    });
  });

  it('rejects a body of the wrong shape without touching saved data', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => ({ response: json(agentsBody(A)) }));
    h.routes.set(apiPaths.memories(A), () => ({ response: json(memoriesBody(A, 'm1')) }));
    await h.sync.refresh(null);
    h.routes.set(apiPaths.memories(A), () => ({ response: json({ success: true, data: { memories: [{ id: 'broken' }] } }) }));
    await h.sync.refresh(null);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m1']);
    expect((await getMeta(h.db, 'sync'))?.error).toMatch(/couldn't read/);
  });

  it('uses a cached answer but reports the failure when only the network failed', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => ({ response: json(agentsBody(A)), failure: new PurlError('http-error', 'HTTP 429') }));
    h.routes.set(apiPaths.memories(A), () => ({ response: json(memoriesBody(A, 'cached')) }));
    await h.sync.refresh(null);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['cached']);
    expect((await getMeta(h.db, 'sync'))?.error).toMatch(/asked Purl to slow down/);
  });

  it('refreshes once for heartbeats from several tabs, and again only when the interval has passed', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => ({ response: json(agentsBody(A)) }));
    h.routes.set(apiPaths.memories(A), () => ({ response: json(memoriesBody(A)) }));
    await Promise.all([h.sync.onHeartbeat(null), h.sync.onHeartbeat(null), h.sync.onHeartbeat(null)]);
    expect(h.calls).toEqual([apiPaths.agents, apiPaths.memories(A)]);
    h.clock.now += 59_999;
    await h.sync.onHeartbeat(null);
    expect(h.calls).toHaveLength(2);
    h.clock.now += 1;
    await h.sync.onHeartbeat(null);
    expect(h.calls).toHaveLength(4);
  });

  it('merges refreshes asked for while one runs into a single re-run', async () => {
    const h = await harness();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    h.routes.set(apiPaths.agents, async () => {
      await gate;
      return { response: json(agentsBody(A)) };
    });
    h.routes.set(apiPaths.memories(A), () => ({ response: json(memoriesBody(A)) }));
    const runs = [h.sync.refresh(null), h.sync.refresh(null), h.sync.refresh(null)];
    release();
    await Promise.all(runs);
    expect(h.calls.filter((path) => path === apiPaths.agents)).toHaveLength(2);
  });
});
