/**
 * The gateway in front of a stand-in stock ElizaOS that keeps one budget for the whole
 * gateway (it trusts no X-Forwarded-For), as a stock server does: how the gateway spends
 * that budget by priority, tier by tier. The clock is fake (Date only), the sockets real.
 */
import fs from 'node:fs';
import http from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readRateLimitMember } from '../../../src/shared/rate-limit';
import type { Gateway } from '../app';
import { BUDGET_RESERVED, BUDGET_SPENT } from './budget-door';
import { AGENT, ask, gatewayFor, jsonAnswer, makeDist, MEMORIES, type Reply, SESSION, type Stock, startStandIn, type StandIn, stockServer } from '../test-kit';
import { readGatewayOptions } from '../options';
import { MESSAGES_FIRST_MS } from './upstream-budget';

const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);
const CHAT_POLL = `/api/messaging/sessions/${SESSION}/messages?limit=50`;
const MESSAGES = `/api/messaging/sessions/${SESSION}/messages`;

/** The draft-8 member `name` of an answer, as the worker reads it. */
const member = (reply: Reply, name: string) =>
  readRateLimitMember(
    new Headers({ RateLimit: String(reply.headers['ratelimit'] ?? ''), 'RateLimit-Policy': String(reply.headers['ratelimit-policy'] ?? '') }),
    name,
    Date.now(),
  );

describe('the upstream budget, spent by priority, in front of a stock ElizaOS', () => {
  let upstream: StandIn;
  let dist: string;
  let stock: Stock;
  const gateways: Gateway[] = [];

  const open = async (env: Record<string, string> = {}) => {
    const gateway = await gatewayFor(upstream, dist, { GATEWAY_CACHE_TTL: '1000', ...env });
    gateways.push(gateway);
    return gateway;
  };
  const chatPoll = (gateway: Gateway, from = '127.0.0.2') => ask(gateway.url, CHAT_POLL, { from });
  const send = (gateway: Gateway, from = '127.0.0.2') =>
    ask(gateway.url, MESSAGES, { method: 'POST', from, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ content: 'hello' }) });
  const readMemories = (gateway: Gateway, from = '127.0.0.2') => ask(gateway.url, MEMORIES, { from });
  const upstreamSince = (count: number) => upstream.apiSeen().slice(count);
  const later = (ms: number) => vi.setSystemTime(Date.now() + ms);

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    upstream = await startStandIn();
    dist = makeDist();
  });

  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
    await upstream.close();
    fs.rmSync(dist, { recursive: true, force: true });
    vi.useRealTimers();
  });

  it('never causes an upstream 429: reads stop at the reserve, messages spend it, and users keep reading from the edge', async () => {
    stock = stockServer(100, 900);
    upstream.answer = stock.answer;
    const gateway = await open();
    const users = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
    const reads: number[] = [];
    let reserveFrom: number | undefined;
    for (let round = 0; round < 60; round += 1) {
      later(2_000);
      for (const user of users) {
        reads.push((await readMemories(gateway, user)).status);
        const poll = await chatPoll(gateway, user);
        if (poll.status === 429 && reserveFrom === undefined) reserveFrom = upstream.apiSeen().length;
      }
      if (round % 4 === 0) await send(gateway, users[round % 3]);
    }
    // The chat polls were kept back once only the reserve was left; then messages spent it.
    expect(reserveFrom).toBeDefined();
    expect(upstreamSince(reserveFrom!).every((seen) => seen.method === 'POST')).toBe(true);
    expect(upstreamSince(reserveFrom!).length).toBeGreaterThan(0);
    expect(stock.remaining).toBe(0);
    expect(stock.refused).toBe(0);
    // Everyone kept reading: every memories read was answered from the edge or upstream.
    expect(new Set(reads)).toEqual(new Set([200]));
    // With nothing left, a message is the gateway's own 429, saying when: the stock server's reset.
    const spent = await send(gateway);
    expect(spent.status).toBe(429);
    expect(spent.json().error.code).toBe(BUDGET_SPENT);
    expect(spent.headers['x-purl-budget']).toBe('empty');
    expect(Number(spent.headers['retry-after'])).toBeGreaterThan(700);
    expect(stock.refused).toBe(0);
  });

  it('in the reserve, answers a chat poll itself: a 429 with Retry-After until the reset, a sentence, the tier and the share, never sent upstream', async () => {
    stock = stockServer(1000, 900);
    stock.remaining = 51;
    upstream.answer = stock.answer;
    const gateway = await open();
    expect((await chatPoll(gateway)).status).toBe(200);
    const seen = upstream.apiSeen().length;
    const refused = await chatPoll(gateway);
    expect(refused.status).toBe(429);
    expect(refused.json().error).toEqual({
      code: BUDGET_RESERVED,
      message: expect.stringMatching(/^The agent's server .* messages, which still go\. This waits \d+ min\.$/),
    });
    expect(refused.headers['retry-after']).toBe('900');
    expect(refused.headers['x-purl-budget']).toBe('reserve');
    expect(member(refused, 'eliza')).toMatchObject({ remaining: 50, limit: 1000 });
    expect(member(refused, 'share')).toMatchObject({ remaining: 50, limit: 1000 });
    expect(upstream.apiSeen()).toHaveLength(seen);
    // A message still goes.
    expect((await send(gateway)).status).toBe(201);
    expect(upstream.apiSeen()).toHaveLength(seen + 1);
  });

  it('in the reserve, serves memories from the edge’s copy, and refuses a read it has no copy of without asking upstream', async () => {
    stock = stockServer(1000, 900);
    stock.remaining = 51;
    upstream.answer = stock.answer;
    const gateway = await open();
    // This read leaves 50: the reserve.
    expect((await readMemories(gateway)).headers['x-purl-edge']).toBe('miss');
    later(60_000);
    const stale = await readMemories(gateway);
    expect(stale.status).toBe(200);
    expect(stale.headers['x-purl-edge']).toBe('stale-budget');
    expect(stale.headers['x-purl-budget']).toBe('reserve');
    const cold = await ask(gateway.url, MEMORIES.replace(AGENT, '9f1c2b3a-0000-4000-8000-0000000000bb'));
    expect(cold.status).toBe(429);
    expect(cold.json().error.code).toBe(BUDGET_RESERVED);
    expect(cold.headers['x-purl-edge']).toBe('refused');
    expect(Number(cold.headers['retry-after'])).toBeGreaterThan(0);
    expect(upstream.apiSeen()).toHaveLength(1);
  });

  it('stretches the edge’s own reads while the budget is low, and serves its copy meanwhile', async () => {
    stock = stockServer(1000, 600);
    stock.remaining = 100;
    upstream.answer = stock.answer;
    const gateway = await open();
    await readMemories(gateway);
    // 99 left, 49 above the reserve, half of that for one kept answer over 10 minutes: one read per 24.5 s.
    later(20_000);
    expect((await readMemories(gateway)).headers['x-purl-edge']).toBe('stale-budget');
    later(5_000);
    expect((await readMemories(gateway)).headers['x-purl-edge']).toBe('miss');
    expect(upstream.apiSeen()).toHaveLength(2);
  });

  it('after an upstream 429, sends nothing upstream until its Retry-After, then messages first, then everything', async () => {
    const answered = stockServer(1000, 900);
    upstream.answer = answered.answer;
    const gateway = await open();
    expect((await readMemories(gateway)).status).toBe(200);
    upstream.answer = jsonAnswer(429, { success: false, error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Too many' } }, { 'Retry-After': '20' });
    const first = await chatPoll(gateway);
    expect(first.status).toBe(429);
    // The upstream's own 429, passed on with what the gateway knows now: nothing left for 20 s.
    expect(first.json().error.code).toBe('RATE_LIMIT_EXCEEDED');
    expect(first.headers['x-purl-budget']).toBe('empty');
    expect(member(first, 'share')).toMatchObject({ remaining: 0 });
    upstream.answer = answered.answer;
    const seen = upstream.apiSeen().length;
    later(19_000);
    // Each told when its kind may go: a message in a second, a poll once the messages went first.
    const messagesFirstS = MESSAGES_FIRST_MS / 1000;
    for (const [reply, retryAfter] of [
      [await chatPoll(gateway), 1 + messagesFirstS],
      [await send(gateway), 1],
      [await chatPoll(gateway, '127.0.0.3'), 1 + messagesFirstS],
    ] as const) {
      expect(reply.status).toBe(429);
      expect(reply.json().error.code).toBe(BUDGET_SPENT);
      expect(reply.headers['retry-after']).toBe(String(retryAfter));
    }
    // Users keep reading: the edge's copy, past its window.
    expect((await readMemories(gateway)).headers['x-purl-edge']).toBe('stale-budget');
    expect(upstream.apiSeen()).toHaveLength(seen);
    later(1_000);
    const poll = await chatPoll(gateway);
    expect(poll.status).toBe(429);
    expect(poll.headers['retry-after']).toBe(String(messagesFirstS));
    expect(poll.json().error.code).toBe(BUDGET_RESERVED);
    expect((await send(gateway)).status).toBe(201);
    expect(
      upstream
        .apiSeen()
        .slice(seen)
        .map((entry) => entry.method),
    ).toEqual(['POST']);
    later(MESSAGES_FIRST_MS);
    expect((await chatPoll(gateway)).status).toBe(200);
  });

  it('counts a request its browser gave up on as under way until it would have timed out: ElizaOS may count it still', async () => {
    stock = stockServer(1000, 900, 1_000);
    upstream.answer = stock.answer;
    const gateway = await open({ GATEWAY_UPSTREAM_TIMEOUT: '2500' });
    const inFlight = async () => (await ask(gateway.url, '/health')).json().budget.inFlight;
    const request = http.request(new URL(CHAT_POLL, gateway.url), { localAddress: '127.0.0.2', agent: false });
    request.on('error', () => undefined);
    request.end();
    for (let tries = 0; tries < 100 && upstream.apiSeen().length === 0; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
    request.destroy();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Its upstream request was ended with it, and ElizaOS's answer would have come by now: still counted.
    expect(await inFlight()).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await inFlight()).toBe(0);
  });

  it('passes an upstream 429 to every user who waited for the edge’s read, keeps none of it, and reads nothing more until its Retry-After', async () => {
    upstream.answer = (req, res) =>
      setTimeout(
        () => jsonAnswer(429, { success: false, error: { code: 'RATE_LIMIT_EXCEEDED', message: 'Too many' } }, { 'Retry-After': '30' })(req, res),
        100,
      );
    const gateway = await open();
    const replies = await Promise.all([readMemories(gateway), readMemories(gateway, '127.0.0.3')]);
    expect(replies.map((reply) => reply.status)).toEqual([429, 429]);
    expect(replies.map((reply) => reply.json().error.code)).toEqual(['RATE_LIMIT_EXCEEDED', 'RATE_LIMIT_EXCEEDED']);
    // With the tier it leads to, as the edge's answer (its members do not bind the users who waited).
    expect(replies.map((reply) => [reply.headers['x-purl-budget'], reply.headers['x-purl-edge']])).toEqual([
      ['empty', 'miss'],
      ['empty', 'miss'],
    ]);
    const again = await readMemories(gateway);
    expect(again.json().error.code).toBe(BUDGET_SPENT);
    expect(again.headers['retry-after']).toBe(String(30 + MESSAGES_FIRST_MS / 1000));
    expect(upstream.apiSeen()).toHaveLength(1);
    expect((await ask(gateway.url, '/health')).json()).toMatchObject({ edge: { entries: 0 }, budget: { tier: 'empty', remaining: 0 } });
  });

  it('states each user’s share on every answer: what is left, divided among the users spending it', async () => {
    stock = stockServer(1000, 900);
    upstream.answer = stock.answer;
    const gateway = await open();
    const alone = await chatPoll(gateway, '127.0.0.2');
    expect(member(alone, 'share')).toMatchObject({ remaining: 999, limit: 1000, windowMs: 900_000 });
    const second = await chatPoll(gateway, '127.0.0.3');
    expect(member(second, 'share')).toMatchObject({ remaining: 499, limit: 500 });
    // A reader of the edge alone is offered the share they would have: three users then.
    const reader = await readMemories(gateway, '127.0.0.4');
    expect(reader.headers['x-purl-edge']).toBe('miss');
    expect(member(reader, 'share')).toMatchObject({ remaining: 332, limit: 333 });
    expect(member(reader, 'eliza')).toMatchObject({ remaining: 997, limit: 1000 });
    // Two minutes without a request upstream, and the others are forgotten.
    later(121_000);
    expect(member(await chatPoll(gateway, '127.0.0.2'), 'share')).toMatchObject({ remaining: 996 });
  });

  it('has no priorities in front of the embedded server, where every user has a budget of their own', async () => {
    stock = stockServer(1000, 900);
    stock.remaining = 3;
    upstream.answer = stock.answer;
    const gateway = await open({ PURL_GATEWAY_SECRET: 'secret', GATEWAY_CACHE_TTL: '0' });
    for (let i = 0; i < 3; i += 1) {
      const reply = await chatPoll(gateway);
      expect(reply.status).toBe(200);
      expect(reply.headers['x-purl-budget']).toBeUndefined();
      expect(member(reply, 'share')).toBeUndefined();
    }
    expect(upstream.apiSeen()).toHaveLength(3);
    expect((await ask(gateway.url, '/health')).json().budget).toBeUndefined();
  });
});

describe('PURL_SHARED_BUDGET', () => {
  const read = (value?: string) =>
    readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:1', PURL_PUSH: 'off', ...(value === undefined ? {} : { PURL_SHARED_BUDGET: value }) }).options
      .sharedBudget;

  it('is on unless "off", and refuses anything else with a sentence naming it', () => {
    expect(read()).toBe(true);
    expect(read('off')).toBe(false);
    expect(read('ON')).toBe(true);
    for (const hostile of ['sometimes', 'off; rm -rf /', 'x'.repeat(10_000)])
      expect(() => read(hostile)).toThrowError(/^PURL_SHARED_BUDGET must be "on" or "off"/);
  });
});
