/**
 * Two gateway instances in front of one stand-in stock ElizaOS (one budget for every
 * request it gets, draft-6 headers, a 429 with Retry-After once it is spent; busy: each
 * request counted as it arrives and answered 300 ms later), with and without a real Redis
 * between them: what each instance learns of the budget from its own answers leaves out the
 * other's requests under way, and the pair sends past the budget; the estimate they keep
 * through Redis does not.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/shared/clock';
import { type RedisServer, startRedisServer } from '../../cluster/redis-server';
import type { Gateway } from '../app';
import { createRedisLink, sendQuietly } from './redis';
import { ask, gatewayFor, makeDist, MEMORIES, SESSION, type StandIn, type Stock, startStandIn, stockServer } from '../test-kit';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CHAT_POLL = `/api/messaging/sessions/${SESSION}/messages?limit=50`;
const MESSAGES = `/api/messaging/sessions/${SESSION}/messages`;
const USERS = Array.from({ length: 12 }, (_, index) => `127.0.0.${index + 2}`);

/**
 * The instances' clock: the system's time, and timers that run when the test says, not on
 * their own. `round()` runs every timer set before it, as if its time had come; the drive
 * calls it after each user's turn, so the instances exchange their news with Redis as often
 * as the traffic turns (every 30 ms or so) instead of every 250 ms (50 ms once the budget is
 * low): what one instance sent since its last report is what the other cannot know.
 */
function roundClock(): Clock & { round(): void } {
  let timers = new Map<number, () => void>();
  let sequence = 0;
  return {
    now: () => Date.now(),
    setTimer(callback) {
      const id = sequence++;
      timers.set(id, callback);
      return () => timers.delete(id);
    },
    round() {
      const due = timers;
      timers = new Map();
      for (const callback of due.values()) callback();
    },
  };
}

interface Run {
  /** What the stock server received (it refused `stock.refused` of them). */
  upstream: number;
  stock: Stock;
  /** Statuses the users got, by status. */
  statuses: Map<number, number>;
}

describe('a stock ElizaOS’s one budget, spent by two gateway instances', { timeout: 60_000 }, () => {
  let upstream: StandIn;
  let dist: string;
  let redis: RedisServer | undefined;
  const clock = roundClock();
  const gateways: Gateway[] = [];

  beforeEach(async () => {
    upstream = await startStandIn();
    dist = makeDist();
  });
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.close();
    await redis?.stop();
    redis = undefined;
    await upstream.close();
    fs.rmSync(dist, { recursive: true, force: true });
  });

  const open = async (redisUrl?: URL, more: Record<string, string> = {}) => {
    const env: Record<string, string> = { GATEWAY_CACHE_TTL: '1000', PURL_PUSH: 'off', ...more };
    if (redisUrl) env['REDIS_URL'] = redisUrl.href;
    const gateway = await gatewayFor(upstream, dist, env, { clock, log: () => undefined });
    gateways.push(gateway);
    return gateway;
  };

  const redisUp = async (gateway: Gateway) => {
    for (let tries = 0; tries < 200 && (await ask(gateway.url, '/health')).json().redis?.state !== 'up'; tries++) await sleep(25);
    expect((await ask(gateway.url, '/health')).json().redis.state).toBe('up');
  };
  const budgetKeys = async (url: URL) => {
    const link = createRedisLink({ url, log: () => undefined });
    for (let tries = 0; tries < 200 && link.state() !== 'up'; tries++) await sleep(10);
    const found = await sendQuietly(link, ['KEYS', 'purl:budget*']);
    await link.close();
    return found;
  };

  /**
   * Users each reading memories, polling the chat and sending a message through one instance,
   * then the same through the other, and so on, every user on their own (no two waiting for
   * each other, as in a real fleet), for `ms`.
   */
  async function drive(instances: Gateway[], ms: number): Promise<Run> {
    const stock = stockServer(120, 900, 300);
    upstream.answer = stock.answer;
    const before = upstream.apiSeen().length;
    const statuses = new Map<number, number>();
    const count = (reply: { status: number }) => statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
    const until = Date.now() + ms;
    await Promise.all(
      USERS.map(async (from, index) => {
        for (let turn = index; Date.now() < until; turn += 1) {
          const via = instances[turn % instances.length]!.url;
          const body = JSON.stringify({ content: `hello ${turn}` });
          const replies = await Promise.all([
            ask(via, MEMORIES, { from }),
            ask(via, CHAT_POLL, { from }),
            ask(via, MESSAGES, { method: 'POST', from, headers: { 'Content-Type': 'application/json' }, body }),
          ]);
          replies.forEach(count);
          clock.round();
          await sleep(20 + index * 5);
        }
      }),
    );
    return { upstream: upstream.apiSeen().length - before, stock, statuses };
  }

  it('each instance alone sends past the budget and meets 429s; sharing the estimate through Redis keeps the pair within it', async () => {
    // Baseline, in the same run: two instances with no Redis, each its own estimate.
    const alone = await drive([await open(), await open()], 4_000);
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));

    redis = await startRedisServer();
    const shared = [await open(redis.url), await open(redis.url)];
    for (const gateway of shared) await redisUp(gateway);
    const together = await drive(shared, 4_000);
    expect(((await budgetKeys(redis.url)) as string[]).sort()).toEqual(['purl:budget', 'purl:budget:in-flight']);
    console.log(
      `two instances, 12 users for 4 s, a stock budget of 120: without Redis ${alone.upstream} upstream, ${alone.stock.refused} refused by ElizaOS; ` +
        `through Redis ${together.upstream} upstream, ${together.stock.refused} refused, ${together.stock.remaining} left`,
    );
    // The budget spent to the last request or so by both instances. What one instance sent since its
    // last report (one exchange: one user's turn here, see roundClock) is unknown to the other, so a request or two may still
    // meet a spent budget when the machine is busy (0 alone on it): the 9–10 past it without Redis
    // came from the requests under way, which the exchange now carries (left out, 9 again).
    expect(alone.stock.refused).toBeGreaterThanOrEqual(5);
    expect(together.stock.remaining).toBeLessThanOrEqual(5);
    expect(together.stock.refused).toBeLessThanOrEqual(2);
    expect(together.upstream).toBeLessThanOrEqual(122);
    // The users were answered all along: by the edge's copies, or a 429 of the gateway's own saying when.
    expect([...together.statuses.keys()].every((status) => [200, 201, 429].includes(status))).toBe(true);
  });

  it('with PURL_SHARED_BUDGET=off, instances on Redis keep an estimate each (for gateways that reach ElizaOS from addresses of their own)', async () => {
    redis = await startRedisServer();
    const instances = [await open(redis.url, { PURL_SHARED_BUDGET: 'off' }), await open(redis.url, { PURL_SHARED_BUDGET: 'off' })];
    for (const gateway of instances) await redisUp(gateway);
    const run = await drive(instances, 4_000);
    expect(await budgetKeys(redis.url)).toEqual([]);
    // As without Redis: each instance's answers leave the other's requests under way out.
    expect(run.stock.refused).toBeGreaterThanOrEqual(5);
  });
});
