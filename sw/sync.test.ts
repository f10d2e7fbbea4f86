import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import { apiPaths, type ChatSession } from '../src/shared/api';
import { getMeta, listMemories, openPurlDB, type PurlDatabase } from '../src/shared/db';
import { PurlError } from '../src/shared/errors';
import type { PurlEvent } from '../src/shared/messages';
import type { ApiRead } from './api-reader';
import { createSync } from './sync';

const A = 'agent-a';
const B = 'agent-b';

const agentsBody = (...ids: string[]) => ({ success: true, data: { agents: ids.map((id) => ({ id, name: id.toUpperCase(), bio: '', status: 'active' })) } });
const memoriesBody = (agentId: string, ...ids: string[]) => ({
  success: true,
  data: { memories: ids.map((id, i) => ({ id, agentId, entityId: 'u', roomId: 'r', createdAt: 1000 + i, content: { text: id } })) },
});
/** A new answer with this body (the harness records its keep()). */
const answer = (body: unknown): ApiRead => ({ kind: 'new', body, keep: async () => undefined });
const UNCHANGED: ApiRead = { kind: 'unchanged' };

interface Harness {
  db: PurlDatabase;
  events: PurlEvent[];
  calls: string[];
  clock: { now: number };
  routes: Map<string, () => ApiRead | Promise<ApiRead>>;
  /** Paths whose answer was kept (stamped fresh), in order. */
  kept: string[];
  sync: ReturnType<typeof createSync>;
}

async function harness(offersSyncRoute = false): Promise<Harness> {
  const db = await openPurlDB();
  const events: PurlEvent[] = [];
  const calls: string[] = [];
  const clock = { now: 10_000 };
  const routes = new Map<string, () => ApiRead | Promise<ApiRead>>();
  const kept: string[] = [];
  const sync = createSync({
    getDb: async () => db,
    fetchApi: async (path, _priority, key) => {
      calls.push(key === undefined ? path : `${path} [${key}]`);
      const route = routes.get(path);
      if (!route) throw new PurlError('network-error');
      const read = await route();
      return read.kind === 'new' ? { ...read, keep: async () => void kept.push(path) } : read;
    },
    broadcast: (event) => events.push(event),
    now: () => clock.now,
    offersSyncRoute: () => offersSyncRoute,
  });
  return { db, events, calls, clock, routes, kept, sync };
}

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

describe('sync', () => {
  it('stores the agents and the first agent’s memories, then tells the tabs what changed', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A, B)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1', 'm2')));
    await h.sync.refresh('memories');
    expect(await getMeta(h.db, 'selectedAgentId')).toBe(A);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m2', 'm1']);
    expect(h.events).toEqual([{ type: 'data-changed', stores: ['meta', 'agents', 'memories'] }]);
    expect(await getMeta(h.db, 'sync')).toEqual({ attemptedAt: 10_000, succeededAt: 10_000 });
  });

  it('keeps the user’s chosen agent while the server still has it', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A, B)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A)));
    h.routes.set(apiPaths.memories(B), () => answer(memoriesBody(B, 'b1')));
    await h.sync.refresh('memories');
    await h.sync.selectAgent(B);
    expect(await getMeta(h.db, 'selectedAgentId')).toBe(B);
    expect((await listMemories(h.db, B)).map((m) => m.id)).toEqual(['b1']);
  });

  it('chooses a running agent by itself, not a stopped one listed first, and moves off one that stops', async () => {
    const h = await harness();
    const agents = (statusA: string, statusB: string) => ({
      success: true,
      data: {
        agents: [
          { id: A, name: 'A', bio: '', status: statusA },
          { id: B, name: 'B', bio: '', status: statusB },
        ],
      },
    });
    h.routes.set(apiPaths.agents, () => answer(agents('inactive', 'active')));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A)));
    h.routes.set(apiPaths.memories(B), () => answer(memoriesBody(B)));
    await h.sync.refresh('memories');
    expect(await getMeta(h.db, 'selectedAgentId')).toBe(B);
    h.routes.set(apiPaths.agents, () => answer(agents('active', 'inactive')));
    await h.sync.refresh('memories');
    expect(await getMeta(h.db, 'selectedAgentId')).toBe(A);
    // Picked by the user, a stopped agent stays (its memories can still be read).
    await h.sync.selectAgent(B);
    await h.sync.refresh('memories');
    expect(await getMeta(h.db, 'selectedAgentId')).toBe(B);
  });

  it('shows the new text of a memory edited on the server, and tells the tabs', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1')));
    await h.sync.refresh('memories');
    const edited = memoriesBody(A, 'm1');
    edited.data.memories[0]!.content.text = 'edited on the server';
    h.routes.set(apiPaths.memories(A), () => answer(edited));
    h.events.length = 0;
    expect(await h.sync.refresh('memories')).toBe('changed');
    expect((await listMemories(h.db, A)).map((m) => m.text)).toEqual(['edited on the server']);
    expect(h.events).toEqual([{ type: 'data-changed', stores: ['meta', 'memories'] }]);
  });

  it('keeps saved memories and records a sentence when the server cannot be reached', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1')));
    await h.sync.refresh('memories');
    h.routes.clear();
    h.clock.now = 20_000;
    await expect(h.sync.refresh('memories')).rejects.toThrow(PurlError);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m1']);
    expect(await getMeta(h.db, 'sync')).toEqual({
      attemptedAt: 20_000,
      succeededAt: 10_000,
      error: "Can't reach the agent's server. Showing saved memories; Purl will try again shortly.",
    });
  });

  it('rejects a body of the wrong shape without touching saved data', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1')));
    await h.sync.refresh('memories');
    h.routes.set(apiPaths.memories(A), () => answer({ success: true, data: { memories: [{ id: 'broken' }] } }));
    await expect(h.sync.refresh('memories')).rejects.toThrow(/could not read/);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m1']);
    expect((await getMeta(h.db, 'sync'))?.error).toMatch(/couldn't read/);
  });

  it('stamps an answer fresh only after its data is stored, and a refused one never', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1')));
    await h.sync.refresh('memories');
    expect(h.kept).toEqual([apiPaths.agents, apiPaths.memories(A)]);
    h.routes.set(apiPaths.agents, () => answer('<html>Welcome to nginx!</html>'));
    await expect(h.sync.refresh('memories')).rejects.toThrow(/could not read/);
    expect(h.kept).toHaveLength(2);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m1']);
  });

  it('uses the stored agents and memories when the server says they are unchanged', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A, B)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1')));
    await h.sync.refresh('memories');
    h.routes.set(apiPaths.agents, () => UNCHANGED);
    h.routes.set(apiPaths.memories(A), () => UNCHANGED);
    h.events.length = 0;
    expect(await h.sync.refresh('memories')).toBe('unchanged');
    expect(h.calls.slice(-2)).toEqual([apiPaths.agents, apiPaths.memories(A)]);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m1']);
    expect(h.events).toEqual([{ type: 'data-changed', stores: ['meta'] }]);
    expect((await getMeta(h.db, 'sync'))?.error).toBeUndefined();
  });

  it('says whether the memories changed, so the poller can stretch its interval', async () => {
    const h = await harness();
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1')));
    expect(await h.sync.refresh('memories')).toBe('changed');
    expect(await h.sync.refresh('memories')).toBe('unchanged');
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1', 'm2')));
    expect(await h.sync.refresh('memories')).toBe('changed');
  });

  it('shares one run between refreshes asked for while it runs', async () => {
    const h = await harness();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    h.routes.set(apiPaths.agents, async () => {
      await gate;
      return answer(agentsBody(A));
    });
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A)));
    const runs = [h.sync.refresh('memories'), h.sync.refresh('user'), h.sync.refresh('memories')];
    release();
    await Promise.all(runs);
    expect(h.calls.filter((path) => path === apiPaths.agents)).toHaveLength(1);
  });
});

describe('sync through the gateway’s sync route', () => {
  const agentList = (...ids: string[]) => agentsBody(...ids).data.agents;
  const memoryList = (agentId: string, ...ids: string[]) => memoriesBody(agentId, ...ids).data.memories;
  const C1 = '0123456789ab.1';
  const C2 = '0123456789ab.2';
  const C3 = '0123456789ab.3';
  const syncAnswer = (fields: { cursor: string; reset?: boolean; agents?: unknown; memories?: unknown; removed?: string[]; chat?: unknown }) =>
    answer({ reset: false, agents: null, memories: null, removed: [], ...fields });

  it('needs one request a poll: everything first, then only what changed', async () => {
    const h = await harness(true);
    h.routes.set(apiPaths.sync(), () => syncAnswer({ cursor: C1, reset: true, agents: agentList(A, B) }));
    h.routes.set(apiPaths.sync(A), () => syncAnswer({ cursor: C2, reset: true, agents: agentList(A, B), memories: memoryList(A, 'm1', 'm2') }));
    await h.sync.refresh('user');
    expect(h.calls).toEqual([`${apiPaths.sync()} [${apiPaths.sync()}]`, `${apiPaths.sync(A)} [${apiPaths.sync(A)}]`]);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m2', 'm1']);
    expect(await getMeta(h.db, 'syncCursor')).toEqual({ agentId: A, cursor: C2 });

    h.calls.length = 0;
    h.events.length = 0;
    h.routes.set(apiPaths.sync(A, C2), () => syncAnswer({ cursor: C3, memories: [{ ...memoryList(A, 'm3')[0], id: 'm3' }], removed: ['m1'] }));
    expect(await h.sync.refresh('memories')).toBe('changed');
    // The cursor is in the URL; the freshness stamp is kept under the agent's sync URL.
    expect(h.calls).toEqual([`${apiPaths.sync(A, C2)} [${apiPaths.sync(A)}]`]);
    expect((await listMemories(h.db, A)).map((m) => m.id).sort()).toEqual(['m2', 'm3']);
    expect(await getMeta(h.db, 'syncCursor')).toEqual({ agentId: A, cursor: C3 });
    expect(h.events).toEqual([{ type: 'data-changed', stores: ['meta', 'memories'] }]);
  });

  it('replaces everything stored on a reset (a gateway restarted, a cursor too old)', async () => {
    const h = await harness(true);
    await h.db.put('agents', { id: A, name: 'A', bio: '', status: 'active' });
    await h.db.put('meta', A, 'selectedAgentId');
    await h.db.put('meta', { agentId: A, cursor: C1 }, 'syncCursor');
    for (const memory of [{ id: 'old-1' }, { id: 'old-2' }]) {
      await h.db.put('memories', { ...memory, agentId: A, roomId: 'r', entityId: 'u', createdAt: 1, text: memory.id, isAgent: false });
    }
    h.routes.set(apiPaths.sync(A, C1), () => syncAnswer({ cursor: C2, reset: true, agents: agentList(A), memories: memoryList(A, 'new-1') }));
    await h.sync.refresh('memories');
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['new-1']);
  });

  it('deletes only the asked agent’s memories for its tombstones', async () => {
    const h = await harness(true);
    await h.db.put('agents', { id: A, name: 'A', bio: '', status: 'active' });
    await h.db.put('meta', A, 'selectedAgentId');
    await h.db.put('meta', { agentId: A, cursor: C1 }, 'syncCursor');
    await h.db.put('memories', { id: 'b-1', agentId: B, roomId: 'r', entityId: 'u', createdAt: 1, text: 'b', isAgent: false });
    h.routes.set(apiPaths.sync(A, C1), () => syncAnswer({ cursor: C2, memories: [], removed: ['b-1', 'never-stored'] }));
    expect(await h.sync.refresh('memories')).toBe('unchanged');
    expect((await listMemories(h.db, B)).map((m) => m.id)).toEqual(['b-1']);
  });

  it('stores nothing of a bad answer: no memories, no cursor, no stamp, and says so', async () => {
    const h = await harness(true);
    await h.db.put('agents', { id: A, name: 'A', bio: '', status: 'active' });
    await h.db.put('meta', A, 'selectedAgentId');
    await h.db.put('meta', { agentId: A, cursor: C1 }, 'syncCursor');
    h.routes.set(apiPaths.sync(A, C1), () => syncAnswer({ cursor: C2, memories: memoryList(B, 'b-1') }));
    await expect(h.sync.refresh('memories')).rejects.toMatchObject({ code: 'bad-response' });
    expect(await listMemories(h.db, A)).toEqual([]);
    expect(await listMemories(h.db, B)).toEqual([]);
    expect(await getMeta(h.db, 'syncCursor')).toEqual({ agentId: A, cursor: C1 });
    expect(h.kept).toEqual([]);
    expect((await getMeta(h.db, 'sync'))?.error).toMatch(/couldn't read/);
  });

  it('sends no cursor it did not get for this agent, nor a stored one of the wrong form', async () => {
    const h = await harness(true);
    await h.db.put('agents', { id: A, name: 'A', bio: '', status: 'active' });
    await h.db.put('meta', A, 'selectedAgentId');
    await h.db.put('meta', { agentId: A, cursor: '../../x' }, 'syncCursor');
    h.routes.set(apiPaths.sync(A), () => syncAnswer({ cursor: C1, reset: true, agents: agentList(A), memories: [] }));
    await h.sync.refresh('memories');
    await h.db.put('meta', { agentId: B, cursor: C1 }, 'syncCursor');
    await h.sync.refresh('memories');
    expect(h.calls.map((call) => call.split(' ')[0])).toEqual([apiPaths.sync(A), apiPaths.sync(A)]);
  });

  it('moves to another agent when the selected one left the server, with that agent’s own first sync', async () => {
    const h = await harness(true);
    await h.db.put('agents', { id: A, name: 'A', bio: '', status: 'active' });
    await h.db.put('meta', A, 'selectedAgentId');
    await h.db.put('meta', { agentId: A, cursor: C1 }, 'syncCursor');
    h.routes.set(apiPaths.sync(A, C1), () => syncAnswer({ cursor: C2, agents: agentList(B) }));
    h.routes.set(apiPaths.sync(B), () => syncAnswer({ cursor: C2, reset: true, agents: agentList(B), memories: memoryList(B, 'b-1') }));
    await h.sync.refresh('memories');
    expect(await getMeta(h.db, 'selectedAgentId')).toBe(B);
    expect((await listMemories(h.db, B)).map((m) => m.id)).toEqual(['b-1']);
    expect(await getMeta(h.db, 'syncCursor')).toEqual({ agentId: B, cursor: C2 });
  });

  it('reads the plain routes, and never the sync route, from a gateway that does not offer it', async () => {
    const h = await harness(false);
    h.routes.set(apiPaths.agents, () => answer(agentsBody(A)));
    h.routes.set(apiPaths.memories(A), () => answer(memoriesBody(A, 'm1')));
    await h.sync.refresh('memories');
    expect(h.calls).toEqual([apiPaths.agents, apiPaths.memories(A)]);
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m1']);
  });

  const session: ChatSession = { sessionId: 's-1', channelId: 'c-1', agentId: A, userId: 'u-1' };
  const withChat = (since?: string) => apiPaths.sync(A, since, { sessionId: 's-1', limit: 50 });

  async function selected(h: Harness, cursor?: string): Promise<void> {
    await h.db.put('agents', { id: A, name: 'A', bio: '', status: 'active' });
    await h.db.put('meta', A, 'selectedAgentId');
    if (cursor) await h.db.put('meta', { agentId: A, cursor }, 'syncCursor');
  }

  it('as the chat poll, brings the open chat’s messages in the same request as the memories’ delta', async () => {
    const h = await harness(true);
    await selected(h, C1);
    expect(withChat(C1)).toContain('session=s-1&limit=50');
    h.routes.set(withChat(C1), () => syncAnswer({ cursor: C2, memories: memoryList(A, 'm2'), chat: { messages: [] } }));
    expect(await h.sync.refreshWithChat(session, 'memories')).toEqual({ outcome: 'changed', chat: { body: { messages: [] } } });
    expect(h.calls).toEqual([`${withChat(C1)} [${apiPaths.sync(A)}]`]);
    expect((await getMeta(h.db, 'syncCursor'))?.cursor).toBe(C2);
    // Lost by the server: said so, for the chat to start a new one.
    h.routes.set(withChat(C2), () => syncAnswer({ cursor: C2, memories: [], chat: { gone: true } }));
    expect(await h.sync.refreshWithChat(session, 'memories')).toEqual({ outcome: 'unchanged', chat: { gone: true } });
    // A memories poll asks for no chat.
    h.routes.set(apiPaths.sync(A, C2), () => syncAnswer({ cursor: C2, memories: [] }));
    await h.sync.refresh('memories');
    expect(h.calls.at(-1)).toBe(`${apiPaths.sync(A, C2)} [${apiPaths.sync(A)}]`);
  });

  it('as the chat poll, sends nothing while a refresh is under way or without the sync route; a refresh asked for meanwhile shares its request', async () => {
    const plain = await harness(false);
    expect(await plain.sync.refreshWithChat(session, 'memories')).toBeUndefined();
    expect(plain.calls).toEqual([]);

    const h = await harness(true);
    await selected(h, C1);
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    h.routes.set(apiPaths.sync(A, C1), async () => {
      await held;
      return syncAnswer({ cursor: C2, memories: [] });
    });
    const memoriesPoll = h.sync.refresh('memories');
    expect(await h.sync.refreshWithChat(session, 'memories')).toBeUndefined();
    release();
    await memoriesPoll;
    expect(h.calls).toHaveLength(1);

    h.routes.set(withChat(C2), () => syncAnswer({ cursor: C2, memories: [], chat: { messages: [] } }));
    const chatPoll = h.sync.refreshWithChat(session, 'memories');
    const joined = h.sync.refresh('memories');
    expect(await joined).toBe('unchanged');
    expect((await chatPoll)?.chat).toEqual({ body: { messages: [] } });
    expect(h.calls).toHaveLength(2);
  });

  it('refuses a chat part of the wrong shape, storing nothing of the answer', async () => {
    const h = await harness(true);
    await selected(h);
    h.routes.set(withChat(), () => syncAnswer({ cursor: C1, reset: true, agents: agentList(A), memories: memoryList(A, 'm1'), chat: { messages: 'none' } }));
    await expect(h.sync.refreshWithChat(session, 'memories')).rejects.toMatchObject({ code: 'bad-response' });
    expect(await listMemories(h.db, A)).toEqual([]);
    expect((await getMeta(h.db, 'sync'))?.error).toMatch(/couldn't read/);
  });

  it('takes a failed chat read as the chat’s failure, and stores the memories all the same', async () => {
    const h = await harness(true);
    await selected(h);
    const failed = { error: { status: 502, code: 'UPSTREAM_BAD_ANSWER', message: "The agent's server sent something Purl couldn't read." } };
    h.routes.set(withChat(), () => syncAnswer({ cursor: C1, reset: true, agents: agentList(A), memories: memoryList(A, 'm1'), chat: failed }));
    expect(await h.sync.refreshWithChat(session, 'memories')).toEqual({ outcome: 'changed', chat: { failed: { status: 502, code: 'UPSTREAM_BAD_ANSWER' } } });
    expect((await listMemories(h.db, A)).map((m) => m.id)).toEqual(['m1']);
    expect((await getMeta(h.db, 'sync'))?.error).toBeUndefined();
  });
});
