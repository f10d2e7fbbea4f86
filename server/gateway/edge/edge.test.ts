import fs from 'node:fs';
import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Gateway } from '../app';
import { matchesIfNoneMatch } from './edge';
import { OptionsError, readGatewayOptions } from '../options';
import { AGENT, type Answer, ask, gatewayFor, jsonAnswer, makeDist, MEMORIES, startStandIn, type StandIn, TEST_PUSH_KEY } from '../test-kit';

const OTHER_AGENT = '9f1c2b3a-0000-4000-8000-0000000000bb';
const memoriesOf = (agent: string) => `/api/agents/${agent}/memories?tableName=messages&includeEmbedding=false`;

function memory(agent: string, text: string) {
  return { id: `m-${text}`, agentId: agent, entityId: 'u-1', roomId: 'r-1', createdAt: 1_700_000_000_000, content: { text } };
}

const memoriesAnswer = (agent: string, texts: string[], headers: Record<string, string> = {}): Answer =>
  jsonAnswer(200, { success: true, data: { memories: texts.map((text) => memory(agent, text)) } }, headers);

/** Answers after `ms`, so concurrent requests arrive while the read is under way. */
const slowly =
  (ms: number, answer: Answer): Answer =>
  (req, res) => {
    setTimeout(() => answer(req, res), ms);
  };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the edge in front of a stand-in ElizaOS', () => {
  let upstream: StandIn;
  let dist: string;
  const gateways: Gateway[] = [];

  const open = async (env: Record<string, string> = {}) => {
    const gateway = await gatewayFor(upstream, dist, { GATEWAY_CACHE_TTL: '60000', ...env });
    gateways.push(gateway);
    return gateway;
  };
  const edgeStats = async (gateway: Gateway) => (await ask(gateway.url, '/health')).json().edge;

  beforeEach(async () => {
    upstream = await startStandIn();
    upstream.answer = memoriesAnswer(AGENT, ['hello']);
    dist = makeDist();
  });

  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
    await upstream.close();
    fs.rmSync(dist, { recursive: true, force: true });
  });

  it('answers 50 concurrent users from one upstream read', async () => {
    upstream.answer = slowly(150, memoriesAnswer(AGENT, ['hello']));
    const gateway = await open();
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => ask(gateway.url, MEMORIES, { from: `127.0.0.${2 + (i % 20)}` })));
    expect(upstream.apiSeen()).toHaveLength(1);
    expect(new Set(replies.map((reply) => reply.status))).toEqual(new Set([200]));
    expect(new Set(replies.map((reply) => reply.body)).size).toBe(1);
    expect(replies[0]!.json().data.memories[0].content.text).toBe('hello');
    expect(new Set(replies.map((reply) => reply.headers['etag'])).size).toBe(1);
    expect(await edgeStats(gateway)).toMatchObject({ entries: 1, upstreamReads: 1, misses: 50, coalesced: 49, hits: 0 });
  });

  it('reads upstream not at all within the window, and once after it', async () => {
    const gateway = await open({ GATEWAY_CACHE_TTL: '1000' });
    expect((await ask(gateway.url, MEMORIES)).headers['x-purl-edge']).toBe('miss');
    upstream.answer = memoriesAnswer(AGENT, ['hello', 'again']);
    const hit = await ask(gateway.url, MEMORIES);
    expect(hit.headers['x-purl-edge']).toBe('hit');
    expect(hit.json().data.memories).toHaveLength(1);
    expect(upstream.apiSeen()).toHaveLength(1);
    await sleep(1_050);
    const after = await Promise.all([ask(gateway.url, MEMORIES), ask(gateway.url, MEMORIES)]);
    expect(upstream.apiSeen()).toHaveLength(2);
    expect(after[0]!.json().data.memories).toHaveLength(2);
    expect(after[0]!.headers['age']).toBe('0');
  });

  it('answers If-None-Match with a bodiless 304 and no upstream read, whatever the request’s Cache-Control', async () => {
    const gateway = await open();
    const first = await ask(gateway.url, MEMORIES);
    const etag = String(first.headers['etag']);
    expect(etag).toMatch(/^"[\w-]{27}"$/);
    for (const cacheControl of ['max-age=0', 'no-cache']) {
      const again = await ask(gateway.url, MEMORIES, { headers: { 'If-None-Match': etag, 'Cache-Control': cacheControl } });
      expect(again.status).toBe(304);
      expect(again.body).toBe('');
      expect(again.headers['etag']).toBe(etag);
    }
    expect((await ask(gateway.url, MEMORIES, { headers: { 'If-None-Match': '"other"' } })).status).toBe(200);
    expect(upstream.apiSeen()).toHaveLength(1);
    expect(await edgeStats(gateway)).toMatchObject({ notModified: 2, hits: 3 });
  });

  it('answers 304 after a refresh that found the same body', async () => {
    const gateway = await open({ GATEWAY_CACHE_TTL: '100' });
    const etag = String((await ask(gateway.url, MEMORIES)).headers['etag']);
    await sleep(150);
    const again = await ask(gateway.url, MEMORIES, { headers: { 'If-None-Match': `W/${etag}` } });
    expect(again.status).toBe(304);
    expect(upstream.apiSeen()).toHaveLength(2);
  });

  it.each<[string, Answer, number]>([
    ['an error', jsonAnswer(500, { success: false, error: { code: 'X', message: 'broken' } }), 500],
    ['an HTML page', (_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<h1>proxy login</h1>'), 200],
    ['broken JSON', (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"success":tru'), 200],
    ['the wrong shape', jsonAnswer(200, { success: true, data: { memories: [{ id: 1 }] } }), 200],
    ['another agent’s memories', memoriesAnswer(OTHER_AGENT, ['not mine']), 200],
    // A 429 too, and then nothing more goes upstream until its Retry-After: budget.test.ts.
  ])('passes %s on to everyone who waited, and never keeps it', async (_what, answer, status) => {
    upstream.answer = slowly(100, answer);
    const gateway = await open();
    const replies = await Promise.all([ask(gateway.url, MEMORIES), ask(gateway.url, MEMORIES, { from: '127.0.0.2' })]);
    expect(replies.map((reply) => reply.status)).toEqual([status, status]);
    expect(replies[0]!.body).toBe(replies[1]!.body);
    expect(replies[0]!.headers['x-purl-edge']).toBeUndefined();
    expect(upstream.apiSeen()).toHaveLength(1);
    // Nothing was kept: the next request reads again.
    await ask(gateway.url, MEMORIES);
    expect(upstream.apiSeen()).toHaveLength(2);
    expect(await edgeStats(gateway)).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('drops secrets before it keeps an answer', async () => {
    upstream.answer = jsonAnswer(200, { success: true, data: { agents: [{ id: AGENT, name: 'Eliza', settings: { secrets: { TOKEN: 'hidden' } } }] } });
    const gateway = await open();
    for (let i = 0; i < 2; i += 1) expect((await ask(gateway.url, '/api/agents')).body).not.toMatch(/secrets|hidden/);
    expect(upstream.apiSeen()).toHaveLength(1);
  });

  it('keeps within its bound: an answer larger than it is passed on, and the least recently used goes first', async () => {
    const oneAnswer = JSON.stringify({ success: true, data: { memories: [memory(AGENT, 'hello')] } }).length;
    const gateway = await open({ GATEWAY_CACHE_MAX_BYTES: String(oneAnswer + 50) });
    await ask(gateway.url, MEMORIES);
    expect(await edgeStats(gateway)).toMatchObject({ entries: 1, bytes: oneAnswer });
    upstream.answer = (req, res) => memoriesAnswer(req.url!.includes(OTHER_AGENT) ? OTHER_AGENT : AGENT, ['hello'])(req, res);
    await ask(gateway.url, memoriesOf(OTHER_AGENT));
    // Both do not fit: the first agent's answer made room for the second's.
    expect(await edgeStats(gateway)).toMatchObject({ entries: 1, bytes: oneAnswer });
    await ask(gateway.url, memoriesOf(OTHER_AGENT));
    expect(upstream.apiSeen()).toHaveLength(2);
    upstream.answer = memoriesAnswer(AGENT, ['a much longer history than the bound allows']);
    const large = await ask(gateway.url, MEMORIES);
    expect(large.status).toBe(200);
    expect(large.headers['x-purl-edge']).toBeUndefined();
    await ask(gateway.url, MEMORIES);
    expect(upstream.apiSeen()).toHaveLength(4);
    expect((await edgeStats(gateway)).bytes).toBeLessThanOrEqual(oneAnswer + 50);
  });

  it('still counts every request against the per-client limits, kept answers included', async () => {
    const gateway = await open({ MEMORY_API_RATE_LIMIT_REQUESTS: '2' });
    const replies = [];
    for (let i = 0; i < 3; i += 1) replies.push(await ask(gateway.url, MEMORIES));
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 429]);
    expect(replies[1]!.headers['x-purl-edge']).toBe('hit');
    expect(replies[1]!.headers['ratelimit']).toMatch(/"purl-memories"; r=0/);
    expect(upstream.apiSeen()).toHaveLength(1);
  });

  it('states the server’s budget as last seen on a kept answer, its reset moved on, with Age', async () => {
    upstream.answer = memoriesAnswer(AGENT, ['hello'], {
      'RateLimit-Policy': '1000;w=900',
      'RateLimit-Limit': '1000',
      'RateLimit-Remaining': '990',
      'RateLimit-Reset': '800',
    });
    const gateway = await open();
    await ask(gateway.url, MEMORIES);
    await sleep(1_100);
    const hit = await ask(gateway.url, MEMORIES);
    expect(hit.headers['x-purl-edge']).toBe('hit');
    // Counted from when it was seen, not restated as seen (t=800); a loaded machine may take a second more.
    expect(Number(hit.headers['age'])).toBeGreaterThanOrEqual(1);
    expect(hit.headers['ratelimit']).toMatch(/"eliza"; r=990; t=79[89]$/);
    expect(hit.headers['ratelimit-policy']).toMatch(/"eliza"; q=1000; w=900$/);
  });

  it('serves a kept answer past its window rather than spend a low upstream budget', async () => {
    upstream.answer = memoriesAnswer(AGENT, ['hello'], { 'RateLimit-Limit': '1000', 'RateLimit-Remaining': '40', 'RateLimit-Reset': '600' });
    const gateway = await open({ GATEWAY_CACHE_TTL: '100' });
    await ask(gateway.url, MEMORIES);
    await sleep(150);
    const stale = await ask(gateway.url, MEMORIES);
    expect(stale.status).toBe(200);
    expect(stale.headers['x-purl-edge']).toBe('stale-budget');
    expect(stale.headers['warning']).toBeUndefined();
    expect(upstream.apiSeen()).toHaveLength(1);
    expect(await edgeStats(gateway)).toMatchObject({ staleForBudget: 1 });
  });

  it('refreshes past its window when the budget is ample', async () => {
    // 400 left for the next 10 s: one read per 100 ms window for the edge fits many times over.
    upstream.answer = memoriesAnswer(AGENT, ['hello'], { 'RateLimit-Limit': '1000', 'RateLimit-Remaining': '400', 'RateLimit-Reset': '10' });
    const gateway = await open({ GATEWAY_CACHE_TTL: '100' });
    await ask(gateway.url, MEMORIES);
    await sleep(150);
    expect((await ask(gateway.url, MEMORIES)).headers['x-purl-edge']).toBe('miss');
    expect(upstream.apiSeen()).toHaveLength(2);
  });

  it('gives every waiting user the same 502 when the server is down, and keeps nothing', async () => {
    const gateway = await open();
    await upstream.close();
    const replies = await Promise.all([ask(gateway.url, MEMORIES), ask(gateway.url, MEMORIES)]);
    expect(replies.map((reply) => reply.json().error.code)).toEqual(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_UNAVAILABLE']);
    expect(await edgeStats(gateway)).toMatchObject({ entries: 0, upstreamReads: 1, coalesced: 1 });
  });

  it('ends a hung upstream read once every browser waiting for it left, so the next browser does not join it', async () => {
    const hung: http.ServerResponse[] = [];
    let upstreamClosed = 0;
    upstream.answer = (req, res) => {
      hung.push(res);
      req.socket.on('close', () => (upstreamClosed += 1));
    };
    const gateway = await open();
    // Two browsers give up on the same read (their request timeout), one after the other.
    const giveUp = (ms: number) =>
      new Promise<void>((resolve) => {
        const request = http.get(new URL(MEMORIES, gateway.url), { agent: false });
        request.on('error', () => resolve());
        setTimeout(() => {
          request.destroy();
          resolve();
        }, ms);
      });
    await Promise.all([giveUp(100), giveUp(250)]);
    expect(upstream.apiSeen()).toHaveLength(1);
    await sleep(150);
    expect(upstreamClosed).toBe(1);
    // The server answers again: the next browser starts a new read and gets it.
    upstream.answer = memoriesAnswer(AGENT, ['back']);
    const reply = await ask(gateway.url, MEMORIES);
    expect(reply.status).toBe(200);
    expect(reply.json().data.memories[0].content.text).toBe('back');
    expect(upstream.apiSeen()).toHaveLength(2);
    for (const res of hung) res.destroy();
  });

  it('is off with GATEWAY_CACHE_TTL=0: every request goes upstream', async () => {
    const gateway = await open({ GATEWAY_CACHE_TTL: '0' });
    for (let i = 0; i < 3; i += 1) expect((await ask(gateway.url, MEMORIES)).headers['etag']).toBeUndefined();
    expect(upstream.apiSeen()).toHaveLength(3);
    expect(await edgeStats(gateway)).toMatchObject({ ttlMs: 0, entries: 0, hits: 0 });
  });
});

describe('edge options', () => {
  const read = (env: Record<string, string>) =>
    readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:3000', ...env }, undefined, { pushKey: TEST_PUSH_KEY }).options;

  it('defaults to a 10 s window and 64 MB', () => {
    expect(read({})).toMatchObject({ edgeTtlMs: 10_000, edgeMaxBytes: 64 * 1024 * 1024 });
    // In front of the embedded server every user has a budget of their own: no sharing by default.
    expect(read({ PURL_GATEWAY_SECRET: 'secret' })).toMatchObject({ edgeTtlMs: 0 });
    expect(read({ PURL_GATEWAY_SECRET: 'secret', GATEWAY_CACHE_TTL: '5000' })).toMatchObject({ edgeTtlMs: 5000 });
    expect(read({ GATEWAY_CACHE_TTL: '0', GATEWAY_CACHE_MAX_BYTES: '1024' })).toMatchObject({ edgeTtlMs: 0, edgeMaxBytes: 1024 });
  });

  it.each([
    ['GATEWAY_CACHE_TTL', '-1'],
    ['GATEWAY_CACHE_TTL', '1.5'],
    ['GATEWAY_CACHE_TTL', 'ten'],
    ['GATEWAY_CACHE_TTL', '3600001'],
    ['GATEWAY_CACHE_MAX_BYTES', '0'],
    ['GATEWAY_CACHE_MAX_BYTES', '64MB'],
  ])('refuses %s=%s with a sentence that names it', (name, value) => {
    expect(() => read({ [name]: value })).toThrowError(OptionsError);
    expect(() => read({ [name]: value })).toThrowError(new RegExp(`${name} must be`));
  });
});

describe('matchesIfNoneMatch', () => {
  it.each([
    ['"a"', true],
    ['W/"a"', true],
    ['"b", "a"', true],
    ['*', true],
    ['"b"', false],
    ['', false],
  ])('%s against "a" → %s', (header, expected) => {
    expect(matchesIfNoneMatch(header, '"a"')).toBe(expected);
  });
});
