import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../app';
import { MAX_TOMBSTONES, SYNC_PATH } from './sync';
import { AGENT, type Answer, ask, gatewayFor, jsonAnswer, makeDist, routedQuery, startStandIn, type StandIn } from '../test-kit';

const OTHER_AGENT = '9f1c2b3a-0000-4000-8000-0000000000bb';
const UNLISTED_AGENT = '0c0c0c0c-0000-4000-8000-0000000000cc';

interface Memory {
  id: string;
  agentId: string;
  entityId: string;
  roomId: string;
  createdAt: number;
  content: { text: string };
}

const memory = (text: string, agent = AGENT): Memory => ({
  id: `m-${text}`,
  agentId: agent,
  entityId: 'u-1',
  roomId: 'r-1',
  createdAt: 1_700_000_000_000,
  content: { text },
});

const SESSION = 'b3c2a1d0-0000-4000-8000-00000000000a';

interface ElizaState {
  memories: Memory[];
  agents?: string[];
  slowMs?: number;
  /** How the session's messages are answered (default: one message). */
  chat?: Answer;
}

const chatMessage = { id: 'c-1', authorId: 'u-1', isAgent: false, content: 'hello', createdAt: 1_700_000_000_000, metadata: { clientMessageId: 'k-1' } };

/** A stand-in ElizaOS with two agents and memories the test changes between reads. */
function elizaWith(state: ElizaState): Answer {
  return (req, res) => {
    const send = () => {
      if (req.url?.startsWith(`/api/messaging/sessions/${SESSION}/messages`)) {
        (state.chat ?? jsonAnswer(200, { success: true, messages: [chatMessage], secrets: { KEY: 'sk-planted' } }))(req, res);
        return;
      }
      if (req.url === '/api/agents') {
        const agents = (state.agents ?? [AGENT, OTHER_AGENT]).map((id, i) => ({ id, name: `Agent ${i}`, status: 'active' }));
        jsonAnswer(200, { success: true, data: { agents } })(req, res);
        return;
      }
      const agent = /^\/api\/agents\/([^/]+)\/memories/.exec(req.url ?? '')?.[1];
      if (agent) {
        jsonAnswer(200, { success: true, data: { memories: state.memories.filter((m) => m.agentId === agent) } })(req, res);
        return;
      }
      jsonAnswer(404, { success: false })(req, res);
    };
    if (state.slowMs) setTimeout(send, state.slowMs);
    else send();
  };
}

const syncOf = (agent?: string, since?: string) => {
  const query = new URLSearchParams();
  if (agent) query.set('agentId', agent);
  if (since) query.set('since', since);
  const text = query.toString();
  return text ? `${SYNC_PATH}?${text}` : SYNC_PATH;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the sync route’s query', () => {
  it('accepts no parameters, an agent, and a cursor', () => {
    expect(routedQuery('GET', SYNC_PATH)).toEqual({ route: 'sync', query: {} });
    expect(routedQuery('GET', `${SYNC_PATH}?agentId=${AGENT.toUpperCase()}&since=0123456789ab.42`)).toEqual({
      route: 'sync',
      query: { agentId: AGENT, since: '0123456789ab.42' },
    });
  });

  it('is not the sync route for another method or path', () => {
    expect(routedQuery('POST', SYNC_PATH).route).toBe('not-served');
    expect(routedQuery('GET', `${SYNC_PATH}/x`).route).toBe('not-served');
    expect(routedQuery('GET', '/api/purl/sync/').route).toBe('not-served');
  });

  it.each([
    ['an unknown parameter', `${SYNC_PATH}?limit=5`],
    ['a repeated agent', `${SYNC_PATH}?agentId=${AGENT}&agentId=${AGENT}`],
    ['an agent that is not a UUID', `${SYNC_PATH}?agentId=../../admin`],
    ['a cursor of the wrong form', `${SYNC_PATH}?since=1e9`],
    ['a cursor with a leading zero', `${SYNC_PATH}?since=0123456789ab.01`],
    ['a huge cursor', `${SYNC_PATH}?since=0123456789ab.${'9'.repeat(20)}`],
    ['a cursor with script', `${SYNC_PATH}?since=%3Cscript%3E`],
  ])('refuses %s with a sentence', (_name, url) => {
    const matched = routedQuery('GET', url);
    expect(matched.route).toBe('sync');
    expect(matched.problem).toMatch(/^[A-Z].*\.$/);
  });
});

describe('the sync route in front of a stand-in ElizaOS', () => {
  let upstream: StandIn;
  let dist: string;
  let state: ElizaState;
  const gateways: Gateway[] = [];

  const open = async (env: Record<string, string> = {}) => {
    const gateway = await gatewayFor(upstream, dist, { GATEWAY_CACHE_TTL: '60000', ...env });
    gateways.push(gateway);
    return gateway;
  };
  const memoryReads = () => upstream.apiSeen().filter((seen) => seen.url.includes('/memories')).length;

  beforeEach(async () => {
    upstream = await startStandIn();
    state = { memories: [memory('a'), memory('b'), memory('x', OTHER_AGENT)] };
    upstream.answer = elizaWith(state);
    dist = makeDist();
  });

  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
    await upstream.close();
    fs.rmSync(dist, { recursive: true, force: true });
  });

  it('is offered in /config.json, and not when PURL_SYNC_ROUTE=off (then it is a 404 like any unknown route)', async () => {
    const on = await open();
    expect((await ask(on.url, '/config.json')).json()).toMatchObject({ syncRoute: true, syncChat: true });
    // Without the edge a sync reads ElizaOS each time: the chat poll is not told to bring it along.
    const edgeless = await open({ GATEWAY_CACHE_TTL: '0' });
    const config = (await ask(edgeless.url, '/config.json')).json();
    expect(config.syncRoute).toBe(true);
    expect(config.syncChat).toBeUndefined();
    const off = await open({ PURL_SYNC_ROUTE: 'off' });
    expect((await ask(off.url, '/config.json')).json().syncRoute).toBeUndefined();
    expect((await ask(off.url, '/config.json')).json().syncChat).toBeUndefined();
    const refused = await ask(off.url, syncOf(AGENT));
    expect(refused.status).toBe(404);
    expect(upstream.apiSeen()).toHaveLength(0);
  });

  it('answers a first sync with everything: the agents and the agent’s memories, nobody else’s', async () => {
    const gateway = await open();
    const reply = await ask(gateway.url, syncOf(AGENT));
    expect(reply.status).toBe(200);
    expect(reply.headers['x-purl-sync']).toBe('reset');
    const body = reply.json();
    expect(body.reset).toBe(true);
    expect(body.agents.map((agent: { id: string }) => agent.id)).toEqual([AGENT, OTHER_AGENT]);
    expect(body.memories.map((m: Memory) => m.content.text)).toEqual(['a', 'b']);
    expect(body.removed).toEqual([]);
    expect(body.cursor).toMatch(/^[0-9a-f]{12}\.\d+$/);
  });

  it('then answers only what changed: new and edited memories, deleted ones as tombstones, no agent list', async () => {
    const gateway = await open({ GATEWAY_CACHE_TTL: '1' });
    const first = (await ask(gateway.url, syncOf(AGENT))).json();
    state.memories = [memory('a'), { ...memory('c') }, memory('x', OTHER_AGENT)];
    state.memories[0]!.content.text = 'a, edited';
    await sleep(5);
    const reply = await ask(gateway.url, syncOf(AGENT, first.cursor));
    expect(reply.headers['x-purl-sync']).toBe('delta');
    const delta = reply.json();
    expect(delta.reset).toBe(false);
    expect(delta.agents).toBeNull();
    expect(delta.memories.map((m: Memory) => m.content.text).sort()).toEqual(['a, edited', 'c']);
    expect(delta.removed).toEqual(['m-b']);
    expect(delta.cursor).not.toBe(first.cursor);
    // The same cursor again, nothing new: an empty delta, and with its ETag a bodiless 304.
    await sleep(5);
    const quiet = await ask(gateway.url, syncOf(AGENT, delta.cursor));
    expect(quiet.json()).toMatchObject({ cursor: delta.cursor, reset: false, agents: null, memories: [], removed: [] });
    await sleep(5);
    const again = await ask(gateway.url, syncOf(AGENT, delta.cursor), { headers: { 'If-None-Match': quiet.headers['etag'] as string } });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('sends a memory deleted and then back as the memory, not as a tombstone', async () => {
    const gateway = await open({ GATEWAY_CACHE_TTL: '1' });
    const first = (await ask(gateway.url, syncOf(AGENT))).json();
    state.memories = state.memories.filter((m) => m.id !== 'm-b');
    await sleep(5);
    await ask(gateway.url, syncOf(AGENT, first.cursor));
    state.memories.push(memory('b'));
    await sleep(5);
    const delta = (await ask(gateway.url, syncOf(AGENT, first.cursor))).json();
    expect(delta.removed).toEqual([]);
    expect(delta.memories.map((m: Memory) => m.id)).toEqual(['m-b']);
  });

  it('sends the agent list again once it changed', async () => {
    const gateway = await open({ GATEWAY_CACHE_TTL: '1', FRONTEND_CACHE_TTL: '0' });
    const first = (await ask(gateway.url, syncOf(AGENT))).json();
    state.agents = [AGENT];
    await sleep(15);
    const delta = (await ask(gateway.url, syncOf(AGENT, first.cursor))).json();
    expect(delta.agents.map((agent: { id: string }) => agent.id)).toEqual([AGENT]);
    expect(delta.memories).toEqual([]);
  });

  it('resets a cursor from another gateway start, and one older than the tombstones it keeps', async () => {
    const gateway = await open({ GATEWAY_CACHE_TTL: '1' });
    const foreign = (await ask(gateway.url, syncOf(AGENT, 'ffffffffffff.3'))).json();
    expect(foreign.reset).toBe(true);
    expect(foreign.memories).toHaveLength(2);
    const early = foreign.cursor;
    // More deletions than the log keeps tombstones for.
    state.memories = Array.from({ length: MAX_TOMBSTONES + 5 }, (_, i) => memory(`n${i}`));
    await sleep(5);
    await ask(gateway.url, syncOf(AGENT, early));
    state.memories = [memory('last')];
    await sleep(5);
    const stale = (await ask(gateway.url, syncOf(AGENT, early))).json();
    expect(stale.reset).toBe(true);
    expect(stale.memories.map((m: Memory) => m.id)).toEqual(['m-last']);
    expect((await ask(gateway.url, '/health')).json().edge.sync.tombstones).toBe(MAX_TOMBSTONES);
  });

  it('refuses a hostile cursor with a 400 and a sentence, reading nothing upstream', async () => {
    const gateway = await open();
    const first = (await ask(gateway.url, syncOf(AGENT))).json();
    const reads = upstream.apiSeen().length;
    const ahead = `${first.cursor.split('.')[0]}.999999`;
    for (const url of [syncOf(AGENT, ahead), `${SYNC_PATH}?since=not-a-cursor`, `${SYNC_PATH}?agentId=${AGENT}&include=secrets`]) {
      const reply = await ask(gateway.url, url);
      expect(reply.status, url).toBe(400);
      expect(reply.json().error.message).toMatch(/^[A-Z][^{}]*\.$/);
    }
    expect(upstream.apiSeen().length).toBe(reads);
  });

  it('reads memories once per window for everyone, whatever cursors they send', async () => {
    state.slowMs = 100;
    const gateway = await open();
    const first = (await ask(gateway.url, syncOf(AGENT))).json();
    const cursors = [undefined, first.cursor, 'ffffffffffff.1', `${first.cursor.split('.')[0]}.0`];
    const replies = await Promise.all(
      Array.from({ length: 60 }, (_, i) => ask(gateway.url, syncOf(AGENT, cursors[i % cursors.length]), { from: `127.0.0.${2 + (i % 30)}` })),
    );
    expect(new Set(replies.map((reply) => reply.status))).toEqual(new Set([200]));
    expect(memoryReads()).toBe(1);
  });

  it('answers a hostile page, a foreign Host and an oversized query without reading upstream', async () => {
    const gateway = await open();
    const url = syncOf(AGENT);
    const refusals = [
      await ask(gateway.url, url, { headers: { Origin: 'https://evil.example' } }),
      await ask(gateway.url, url, { headers: { 'Sec-Fetch-Site': 'cross-site' } }),
      await ask(gateway.url, url, { headers: { Host: 'evil.example' } }),
    ];
    expect(refusals.map((reply) => reply.status)).toEqual([403, 403, 403]);
    expect(refusals.every((reply) => !reply.body.includes('"memories"'))).toBe(true);
    const long = await ask(gateway.url, `${url}&since=${'9'.repeat(10_000)}`);
    expect(long.status).toBe(400);
    expect(long.json().error.message).toMatch(/^The since parameter/);
    expect(upstream.apiSeen()).toHaveLength(0);
  });

  it('does not read the memories of an agent that is not on the server', async () => {
    const gateway = await open();
    const reply = (await ask(gateway.url, syncOf(UNLISTED_AGENT))).json();
    expect(reply.memories).toBeNull();
    expect(reply.agents).toHaveLength(2);
    expect(memoryReads()).toBe(0);
  });

  it('passes on no part of an answer that fails the boundary check: a 502 that says so', async () => {
    const gateway = await open();
    upstream.answer = (req, res) => {
      if (req.url === '/api/agents') return elizaWith(state)(req, res);
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<h1>Sign in to the Wi-Fi</h1>');
    };
    const reply = await ask(gateway.url, syncOf(AGENT));
    expect(reply.status).toBe(502);
    expect(reply.json().error).toMatchObject({ code: 'UPSTREAM_BAD_ANSWER' });
    expect(reply.body).not.toContain('Wi-Fi');
  });

  it('passes on the upstream’s 429 with its Retry-After', async () => {
    const gateway = await open();
    upstream.answer = jsonAnswer(429, { success: false, error: { message: 'Too many requests' } }, { 'Retry-After': '30' });
    const reply = await ask(gateway.url, syncOf(AGENT));
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('30');
  });

  it('revalidates upstream with the upstream’s ETag, and a 304 keeps the log as it was', async () => {
    let etagSeen: string | undefined;
    upstream.answer = (req, res) => {
      if (req.url?.includes('/memories') && req.headers['if-none-match'] === '"v1"') {
        etagSeen = req.headers['if-none-match'];
        res.writeHead(304, { ETag: '"v1"' });
        res.end();
        return;
      }
      if (req.url?.includes('/memories')) {
        jsonAnswer(200, { success: true, data: { memories: state.memories.filter((m) => m.agentId === AGENT) } }, { ETag: '"v1"' })(req, res);
        return;
      }
      elizaWith(state)(req, res);
    };
    const gateway = await open({ GATEWAY_CACHE_TTL: '1' });
    const first = (await ask(gateway.url, syncOf(AGENT))).json();
    await sleep(5);
    const second = (await ask(gateway.url, syncOf(AGENT, first.cursor))).json();
    expect(etagSeen).toBe('"v1"');
    expect(second).toMatchObject({ cursor: first.cursor, memories: [], removed: [] });
    expect((await ask(gateway.url, '/health')).json().edge.upstreamNotModified).toBe(1);
  });

  const withChat = (since?: string) => `${syncOf(AGENT, since)}&session=${SESSION}&limit=50`;
  const chatReads = () => upstream.apiSeen().filter((seen) => seen.url.startsWith('/api/messaging/'));

  it('brings the open chat’s messages in the same answer, read for this browser alone, cleaned, never a 304', async () => {
    const gateway = await open();
    const first = await ask(gateway.url, withChat(), { from: '127.0.0.7' });
    expect(first.status).toBe(200);
    expect(first.json().chat.messages).toEqual([chatMessage]);
    expect(first.body).not.toContain('sk-planted');
    expect(first.headers['etag']).toBeUndefined();
    expect(first.headers['cache-control']).toBe('no-store');
    const second = await ask(gateway.url, withChat(first.json().cursor), { from: '127.0.0.8', headers: { 'If-None-Match': `"${first.json().cursor}"` } });
    expect(second.status).toBe(200);
    expect(second.json()).toMatchObject({ reset: false, memories: [], chat: { messages: [chatMessage] } });
    // The chat twice (it is each user's own), the memories once (shared, in the window).
    expect(chatReads().map((seen) => [seen.url, seen.headers['x-forwarded-for']])).toEqual([
      [`/api/messaging/sessions/${SESSION}/messages?limit=50`, '127.0.0.7'],
      [`/api/messaging/sessions/${SESSION}/messages?limit=50`, '127.0.0.8'],
    ]);
    expect(memoryReads()).toBe(1);
  });

  it('says the chat session is gone when the server lost it, and still syncs the memories', async () => {
    state.chat = jsonAnswer(404, { success: false, error: { message: 'Session not found' } });
    const gateway = await open();
    const reply = await ask(gateway.url, withChat());
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ chat: { gone: true }, reset: true });
    expect(reply.json().memories).toHaveLength(2);
  });

  it('says what went wrong with the chat read in the chat part, and the memories part stands; a 429 is the whole answer', async () => {
    const gateway = await open();
    state.chat = jsonAnswer(500, { success: false, error: { message: 'boom', stack: 'at x' } });
    const failed = await ask(gateway.url, withChat());
    expect(failed.status).toBe(200);
    expect(failed.json().memories).toHaveLength(2);
    expect(failed.json().chat).toEqual({ error: { status: 500, code: 'UPSTREAM_ERROR', message: "The agent's server answered with an error." } });
    state.chat = jsonAnswer(200, { success: true, messages: 'none' });
    const garbled = await ask(gateway.url, withChat());
    expect(garbled.status).toBe(200);
    expect(garbled.json().chat.error).toMatchObject({ status: 502, code: 'UPSTREAM_BAD_ANSWER' });
    expect(garbled.body).not.toContain('none');
    // A 429 is the whole answer's, with its Retry-After and the tier it leads to: in front of a
    // shared budget nothing more goes upstream until it ends.
    state.chat = jsonAnswer(429, { success: false }, { 'Retry-After': '12' });
    const limited = await ask(gateway.url, withChat());
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('12');
    expect(limited.headers['x-purl-budget']).toBe('empty');
    // The next sync is answered from the edge's copies, without a chat part (not even tried).
    const held = await ask(gateway.url, withChat());
    expect(held.status).toBe(200);
    expect(held.json().memories).toHaveLength(2);
    expect(held.json()).not.toHaveProperty('chat');
    expect(held.headers['x-purl-edge']).toBe('sync');
    expect(chatReads()).toHaveLength(3);
  });

  it('in front of a server that gives each user a budget, a 429 on the chat is the whole answer, and the memories are not read after it', async () => {
    const gateway = await open({ PURL_GATEWAY_SECRET: 'per-user-buckets', GATEWAY_CACHE_TTL: '0' });
    state.chat = jsonAnswer(429, { success: false }, { 'Retry-After': '7' });
    const limited = await ask(gateway.url, withChat());
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    expect(memoryReads()).toBe(0);
  });

  it.each([
    ['a session without a limit', `${SYNC_PATH}?session=${SESSION}`],
    ['a limit without a session', `${SYNC_PATH}?limit=5`],
    ['a limit of 0', `${SYNC_PATH}?session=${SESSION}&limit=0`],
    ['a limit of 101', `${SYNC_PATH}?session=${SESSION}&limit=101`],
    ['a session that is not a UUID', `${SYNC_PATH}?session=..%2Fagents&limit=5`],
  ])('refuses %s with a 400, reading nothing', async (_name, url) => {
    const gateway = await open();
    const reply = await ask(gateway.url, url);
    expect(reply.status).toBe(400);
    expect(reply.json().error.message).toMatch(/^The .*\.$/);
    expect(upstream.apiSeen()).toHaveLength(0);
  });

  it('keeps its logs within GATEWAY_CACHE_MAX_BYTES, the least recently used agent out first', async () => {
    state.memories = [...Array.from({ length: 40 }, (_, i) => memory(`a${i}`)), ...Array.from({ length: 40 }, (_, i) => memory(`o${i}`, OTHER_AGENT))];
    const gateway = await open({ GATEWAY_CACHE_MAX_BYTES: '12000' });
    const other = (await ask(gateway.url, syncOf(OTHER_AGENT))).json();
    await ask(gateway.url, syncOf(AGENT));
    const sync = (await ask(gateway.url, '/health')).json().edge.sync;
    expect(sync.agents).toBe(1);
    expect(sync.bytes).toBeLessThanOrEqual(12_000);
    // The evicted agent's browsers get one reset, then deltas again.
    const back = (await ask(gateway.url, syncOf(OTHER_AGENT, other.cursor))).json();
    expect(back.reset).toBe(true);
    expect(back.memories).toHaveLength(40);
  });
});
