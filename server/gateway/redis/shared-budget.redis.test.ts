/**
 * One estimate of a stock ElizaOS's budget for a cluster's gateways, through a real Redis
 * (Debian's redis-server on a free loopback port): what one instance's answer states, and
 * what another spends, reach every instance; a 429's hold too; while Redis is away each goes
 * on with its own, and what it spent meanwhile is counted once Redis is back.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../cluster/redis-server';
import { createRedisLink, type RedisLink } from './redis';
import { parseStanding, type SharedBudgetOptions, shareUpstreamBudget } from './shared-budget';
import { createUpstreamBudget, type UpstreamBudget } from '../budget/upstream-budget';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WINDOW = 15 * 60_000;

describe('the upstream budget shared by gateway instances on one Redis', { timeout: 30_000 }, () => {
  let redis: RedisServer;
  const links: RedisLink[] = [];
  const stops: (() => void)[] = [];

  beforeEach(async () => {
    redis = await startRedisServer();
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) stop();
    for (const link of links.splice(0)) await link.close();
    await redis.stop();
  });

  const instance = async (share: boolean | SharedBudgetOptions = true): Promise<UpstreamBudget> => {
    const budget = createUpstreamBudget();
    if (!share) return budget;
    const link = createRedisLink({ url: redis.url, log: () => undefined });
    links.push(link);
    for (let tries = 0; tries < 200 && link.state() !== 'up'; tries++) await sleep(10);
    stops.push(shareUpstreamBudget(link, budget, share === true ? { everyMs: 20 } : share));
    return budget;
  };
  const settle = () => sleep(120);

  it("gives every instance what one instance's answer stated and what the others spent, and a 429's hold", async () => {
    const now = Date.now();
    const [a, b] = [await instance(), await instance()];
    const alone = await instance(false);
    for (const budget of [a, alone]) budget.note({ limit: 1000, remaining: 100, resetAt: now + WINDOW, windowMs: WINDOW }, now, 200);
    await settle();
    expect(b.last(Date.now()).remaining).toBe(100);
    expect(b.last(Date.now()).resetAt).toBe(now + WINDOW);

    // B sends 30 requests: A counts them (one budget), though no answer of its own said so.
    for (let i = 0; i < 30; i++) b.spend(Date.now())();
    await settle();
    expect(a.last(Date.now()).remaining).toBe(70);
    expect(b.last(Date.now()).remaining).toBe(70);
    // Baseline, in the same run: an instance on its own still thinks 100 are left.
    expect(alone.last(Date.now()).remaining).toBe(100);

    // ElizaOS answers A with a 429 and a Retry-After: B holds back too.
    a.note({ retryAt: Date.now() + 5_000 }, Date.now(), 429);
    await settle();
    expect(b.tier(Date.now())).toBe('empty');
    expect(b.retryAfterSeconds('shared-read', Date.now())).toBeGreaterThanOrEqual(4);
  });

  it('exchanges news more often once the budget is low, where what the others sent since matters most', async () => {
    const cadence = { everyMs: 2_000, lowEveryMs: 20 };
    const [a, b] = [await instance(cadence), await instance(cadence)];
    const now = Date.now();
    a.note({ limit: 1000, remaining: 900, resetAt: now + WINDOW, windowMs: WINDOW }, now, 200);
    await sleep(2_100);
    expect(b.last(Date.now()).remaining).toBe(900);
    // Plenty left: B's spends wait for the next 2-s exchange.
    for (let i = 0; i < 10; i++) b.spend(Date.now())();
    await sleep(200);
    expect(a.last(Date.now()).remaining).toBe(900);
    for (let tries = 0; tries < 100 && a.last(Date.now()).remaining !== 890; tries++) await sleep(50);
    expect(a.last(Date.now()).remaining).toBe(890);
    // Low (under a tenth left): within 200 ms.
    a.note({ limit: 1000, remaining: 80, resetAt: now + WINDOW, windowMs: WINDOW }, Date.now(), 200);
    for (let tries = 0; tries < 100 && b.last(Date.now()).remaining !== 80; tries++) await sleep(50);
    expect(b.tier(Date.now())).toBe('low');
    for (let i = 0; i < 10; i++) b.spend(Date.now())();
    await sleep(200);
    expect(a.last(Date.now()).remaining).toBe(70);
  });

  it('goes on with its own estimate while Redis is away, and counts what it spent then once Redis is back', async () => {
    const now = Date.now();
    const [a, b] = [await instance(), await instance()];
    a.note({ limit: 1000, remaining: 500, resetAt: now + WINDOW, windowMs: WINDOW }, now, 200);
    await settle();
    expect(b.last(Date.now()).remaining).toBe(500);
    const port = redis.port;
    await redis.stop();
    for (let i = 0; i < 40; i++) b.spend(Date.now())();
    await settle();
    expect(b.last(Date.now()).remaining).toBe(460);
    expect(a.last(Date.now()).remaining).toBe(500);
    // Back empty (the runner's Redis keeps nothing): the next answer's statement and B's 40 meet there.
    redis = await startRedisServer({ port });
    a.note({ limit: 1000, remaining: 480, resetAt: now + WINDOW, windowMs: WINDOW }, Date.now(), 200);
    const both = () => [a.last(Date.now()).remaining, b.last(Date.now()).remaining];
    for (let tries = 0; tries < 100 && both().some((remaining) => remaining !== 440); tries++) await sleep(50);
    expect(both()).toEqual([440, 440]);
  });

  it('takes from Redis only a standing of numbers', () => {
    expect(parseStanding(['70', '1000', '900000', '1764500000000', '0', '12'])).toEqual({
      remaining: 70,
      limit: 1000,
      windowMs: 900000,
      resetAt: 1764500000000,
      blockedUntil: 0,
      othersInFlight: 12,
    });
    expect(parseStanding(['', '', '', '', '5', ''])).toEqual({ blockedUntil: 5, othersInFlight: 0 });
    for (const raw of [null, 'x', ['1', '2'], ['-1', '', '', '', '0', '0'], ['1.5', '', '', '', '0', '0'], [1, '', '', '', '0', '0'], ['', '', '', '', '0']])
      expect(parseStanding(raw)).toBeUndefined();
  });
});
