/**
 * The per-client limits shared through a real Redis (Debian's redis-server, started here
 * on a free loopback port): two gateway instances count one client once; Redis stopped,
 * they go on with their own counts and say so; Redis back, they share again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../cluster/redis-server';
import { freePort } from '../../eliza-process';
import type { Gateway } from '../app';
import { ask, gatewayFor, jsonAnswer, makeDist, type StandIn, startStandIn } from '../test-kit';

const LIMIT = 6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('limits shared by gateway instances on one Redis', { timeout: 30_000 }, () => {
  let upstream: StandIn;
  let dist: string;
  let redis: RedisServer | undefined;
  const gateways: Gateway[] = [];
  const logs: string[] = [];

  beforeEach(async () => {
    upstream = await startStandIn();
    upstream.answer = jsonAnswer(200, { success: true, data: { agents: [] } });
    dist = makeDist();
    logs.length = 0;
  });
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.close();
    await redis?.stop();
    redis = undefined;
    await upstream.close();
  });

  const open = async (redisUrl?: URL) => {
    const env: Record<string, string> = { API_RATE_LIMIT_REQUESTS: String(LIMIT), PURL_PUSH: 'off' };
    if (redisUrl) env['REDIS_URL'] = redisUrl.href;
    const gateway = await gatewayFor(upstream, dist, env, { log: (line) => logs.push(line) });
    gateways.push(gateway);
    return gateway;
  };
  const health = async (gateway: Gateway) => (await ask(gateway.url, '/health')).json().redis;
  const until = async (gateway: Gateway, state: 'up' | 'down') => {
    for (let tries = 0; tries < 200 && (await health(gateway))?.state !== state; tries++) await sleep(25);
    expect((await health(gateway)).state).toBe(state);
  };
  /** `count` API requests from one client, alternating between the instances: the statuses, in order. */
  const alternate = async (instances: Gateway[], count: number) => {
    const statuses: number[] = [];
    for (let i = 0; i < count; i++) statuses.push((await ask(instances[i % instances.length]!.url, '/api/agents')).status);
    return statuses;
  };
  const allowed = (statuses: number[]) => statuses.filter((status) => status === 200).length;

  it('counts a client once across instances: its limit in all, not its limit on each', async () => {
    // Baseline, in the same run: without Redis each instance counts on its own.
    const alone = [await open(), await open()];
    const unshared = await alternate(alone, 2 * LIMIT + 2);
    expect(allowed(unshared)).toBe(2 * LIMIT);

    redis = await startRedisServer();
    const shared = [await open(redis.url), await open(redis.url)];
    for (const gateway of shared) await until(gateway, 'up');
    const statuses = await alternate(shared, 2 * LIMIT + 2);
    expect(statuses.slice(0, LIMIT)).toEqual(Array(LIMIT).fill(200));
    expect(statuses.slice(LIMIT)).toEqual(Array(LIMIT + 2).fill(429));
    // The refusal is the same sentence and headers whichever instance gives it.
    const refused = await ask(shared[0]!.url, '/api/agents');
    expect(refused.json().error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(await health(shared[1]!)).toMatchObject({ state: 'up', failures: 0 });
  });

  it('Redis stopped: every instance serves on with its own counts and says so once; Redis back: they share again', async () => {
    redis = await startRedisServer();
    const port = redis.port;
    const instances = [await open(redis.url), await open(redis.url)];
    for (const gateway of instances) await until(gateway, 'up');
    expect(allowed(await alternate(instances, 2))).toBe(2);

    await redis.stop();
    for (const gateway of instances) await until(gateway, 'down');
    // No user-visible failure: requests are answered, each instance counting alone.
    const during = await alternate(instances, 2 * LIMIT + 2);
    expect(during.every((status) => status === 200 || status === 429)).toBe(true);
    expect(allowed(during)).toBe(2 * LIMIT);
    const downLines = logs.filter((line) => /unreachable/.test(line));
    // Said once per instance for the outage, however many reconnection attempts it took.
    expect(downLines).toHaveLength(2);
    expect(downLines[0]).toMatch(
      /^Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable \(.+\): this gateway counts its limits and keeps its state on its own until it is back\.$/,
    );

    redis = await startRedisServer({ port });
    for (const gateway of instances) await until(gateway, 'up');
    expect(logs.filter((line) => /is reachable/.test(line))).toHaveLength(4);
    // A fresh Redis: the shared count starts again, once for both.
    const after = await alternate(instances, LIMIT + 2);
    expect(allowed(after)).toBe(LIMIT);
  });

  it('Redis not there when the gateway starts: it serves alone, and shares once Redis comes', async () => {
    const port = await freePort();
    const url = new URL(`redis://127.0.0.1:${port}`);
    const instances = [await open(url), await open(url)];
    expect((await health(instances[0]!)).state).toBe('down');
    expect(allowed(await alternate(instances, 4))).toBe(4);

    redis = await startRedisServer({ port });
    for (const gateway of instances) await until(gateway, 'up');
    // rate-limit-redis's scripts, which could not be loaded at the start, are loaded now.
    const statuses = await alternate(instances, LIMIT + 2);
    expect(allowed(statuses)).toBe(LIMIT);
    expect(statuses.slice(LIMIT)).toEqual([429, 429]);
  });
});
