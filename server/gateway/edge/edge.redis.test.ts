/**
 * The edge shared by gateway instances on a real Redis (Debian's redis-server): the
 * memories are read upstream once per window for the whole cluster, as for one gateway,
 * whichever instance is asked; a lease left by a crashed instance blocks nobody for long;
 * Redis down, each instance reads for itself; nonsense in Redis is never served.
 */
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../cluster/redis-server';
import type { Gateway } from '../app';
import { AGENT, type Answer, ask, gatewayFor, jsonAnswer, makeDist, MEMORIES, startStandIn, type StandIn } from '../test-kit';

const WINDOW_MS = 400;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const memoriesAnswer = (texts: string[]): Answer =>
  jsonAnswer(200, {
    success: true,
    data: {
      memories: texts.map((text) => ({ id: `m-${text}`, agentId: AGENT, entityId: 'u-1', roomId: 'r-1', createdAt: 1_700_000_000_000, content: { text } })),
    },
  });

/** Answers after `ms`, so requests to other instances arrive while the read is under way. */
const slowly =
  (ms: number, answer: Answer): Answer =>
  (req, res) => {
    setTimeout(() => answer(req, res), ms);
  };

/** One raw command to Redis (RESP); its first reply line. */
function redisCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('data', (data) => {
      resolve(data.toString().split('\r\n')[0]!);
      socket.destroy();
    });
    socket.once('error', reject);
    socket.write(`*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`);
  });
}

describe('the edge shared through Redis', { timeout: 30_000 }, () => {
  let upstream: StandIn;
  let dist: string;
  let redis: RedisServer;
  const gateways: Gateway[] = [];

  beforeEach(async () => {
    upstream = await startStandIn();
    upstream.answer = memoriesAnswer(['hello']);
    dist = makeDist();
    redis = await startRedisServer();
  });
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.close();
    await redis.stop();
    await upstream.close();
    fs.rmSync(dist, { recursive: true, force: true });
  });

  const open = async (shared: boolean) => {
    const env: Record<string, string> = { GATEWAY_CACHE_TTL: String(WINDOW_MS), PURL_PUSH: 'off' };
    if (shared) env['REDIS_URL'] = redis.url.href;
    const gateway = await gatewayFor(upstream, dist, env, { log: () => undefined });
    gateways.push(gateway);
    if (shared) {
      for (let tries = 0; tries < 200 && (await ask(gateway.url, '/health')).json().redis.state !== 'up'; tries++) await sleep(10);
    }
    return gateway;
  };
  const memoriesReads = () => upstream.apiSeen().filter((seen) => seen.url === MEMORIES).length;
  /** Users asking for the memories every 20 ms for `ms`, spread over `instances`: every answer's status. */
  const poll = async (instances: Gateway[], ms: number) => {
    const statuses: number[] = [];
    const end = Date.now() + ms;
    for (let i = 0; Date.now() < end; i++) {
      statuses.push((await ask(instances[i % instances.length]!.url, MEMORIES, { from: `127.0.0.${2 + (i % 50)}` })).status);
      await sleep(20);
    }
    return statuses;
  };

  it('reads the memories once per window for three instances, as one gateway does', async () => {
    const alone = [await open(false)];
    const single = await poll(alone, 2_000);
    const singleReads = memoriesReads();

    const before = memoriesReads();
    const cluster = [await open(true), await open(true), await open(true)];
    const statuses = await poll(cluster, 2_000);
    const clusterReads = memoriesReads() - before;

    expect(new Set([...single, ...statuses])).toEqual(new Set([200]));
    // About one read a window (2 s / 0.4 s), whichever instance was asked: not one per instance.
    expect(singleReads).toBeGreaterThanOrEqual(3);
    expect(clusterReads).toBeLessThanOrEqual(singleReads + 1);
    const stats = await Promise.all(cluster.map(async (gateway) => (await ask(gateway.url, '/health')).json().edge));
    // The instances not asked first after a window answered from the one that read.
    expect(stats.reduce((sum, edge) => sum + edge.sharedHits, 0)).toBeGreaterThanOrEqual(2 * (clusterReads - 1));
    console.log(`edge reads upstream in 2 s: one gateway ${singleReads}, three on Redis ${clusterReads}`);
  });

  it('while one instance reads, the others wait for its copy instead of reading too', async () => {
    upstream.answer = slowly(300, memoriesAnswer(['slow']));
    const cluster = [await open(true), await open(true), await open(true)];
    const answers = await Promise.all(cluster.map((gateway) => ask(gateway.url, MEMORIES)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(new Set(answers.map((answer) => answer.body)).size).toBe(1);
    expect(new Set(answers.map((answer) => answer.headers['etag'])).size).toBe(1);
    expect(memoriesReads()).toBe(1);
  });

  it('a lease left by an instance that crashed holds the others back for the lease time only', async () => {
    const [gateway] = [await open(true)];
    // A crashed holder's lease, as it would have taken it (it expires by itself).
    expect(await redisCommand(redis.port, ['SET', `purl:edge:lease:${MEMORIES}`, 'crashed', 'PX', '1000'])).toBe('+OK');
    const started = Date.now();
    const answer = await ask(gateway!.url, MEMORIES);
    const tookMs = Date.now() - started;
    expect(answer.status).toBe(200);
    expect(memoriesReads()).toBe(1);
    expect(tookMs).toBeGreaterThanOrEqual(800);
    expect(tookMs).toBeLessThan(4_000);
  });

  it('serves nothing from Redis that is not memories as an upstream answer would be, never its headers, and reads alone while Redis is down', async () => {
    const cluster = [await open(true), await open(true)];
    expect(await redisCommand(redis.port, ['SET', `purl:edge:answer:${MEMORIES}`, '{"body":"PGgxPm5vPC9oMT4=","etag":"x"}'])).toBe('+OK');
    const first = await ask(cluster[0]!.url, MEMORIES);
    expect(first.json().data.memories[0].content.text).toBe('hello');
    expect(memoriesReads()).toBe(1);
    // A copy of the right form whose body is a page, not memories, with headers of its own: not served either.
    const forged = (body: string) =>
      JSON.stringify({
        body: Buffer.from(body).toString('base64'),
        etag: '"forged"',
        headers: [
          ['content-type', 'text/html'],
          ['set-cookie', 'session=stolen'],
        ],
        storedAt: Date.now(),
      });
    await sleep(WINDOW_MS);
    expect(await redisCommand(redis.port, ['SET', `purl:edge:answer:${MEMORIES}`, forged('<script>alert(1)</script>'), 'PX', '60000'])).toBe('+OK');
    const second = await ask(cluster[1]!.url, MEMORIES);
    expect(second.json().data.memories[0].content.text).toBe('hello');
    expect(memoriesReads()).toBe(2);
    // Memories of the right shape are taken, but never its headers.
    await sleep(WINDOW_MS);
    const planted = JSON.stringify({ success: true, data: { memories: [] } });
    expect(await redisCommand(redis.port, ['SET', `purl:edge:answer:${MEMORIES}`, forged(planted), 'PX', '60000'])).toBe('+OK');
    const third = await ask(cluster[0]!.url, MEMORIES);
    expect(third.json().data.memories).toEqual([]);
    expect(third.headers['set-cookie']).toBeUndefined();
    expect(third.headers['content-type']).toMatch(/^application\/json/);
    expect(memoriesReads()).toBe(2);

    await redis.stop();
    for (const gateway of cluster) {
      for (let tries = 0; tries < 200 && (await ask(gateway.url, '/health')).json().redis.state !== 'down'; tries++) await sleep(10);
    }
    await sleep(WINDOW_MS);
    const answers = await Promise.all(cluster.map((gateway) => ask(gateway.url, MEMORIES)));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    // Each instance read for itself: no user waited on Redis.
    expect(memoriesReads()).toBe(4);
  });
});
