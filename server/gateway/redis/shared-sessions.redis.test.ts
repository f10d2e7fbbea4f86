/**
 * The sessions the gateways of a cluster know, shared through a real Redis (Debian's
 * redis-server on a free loopback port): a session made through one instance has its
 * messages sent over another instance's socket at once; a renewal made by one instance is
 * not made again by another; what Redis holds is checked on the way back.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RedisServer, startRedisServer } from '../../cluster/redis-server';
import type { Gateway } from '../app';
import { PUSH_PATH } from '../push/push';
import { mintPushToken } from '../push/push-token';
import { createRedisLink, type RedisLink } from './redis';
import { createSessionBook } from '../upstream/session-book';
import { createSharedSessions, parseStoredSession } from './shared-sessions';
import {
  AGENT as AGENT_ID,
  ask,
  CHANNEL,
  type EventStream,
  FakeSocket,
  gatewayWithFakeSocket,
  jsonAnswer,
  makeDist,
  openEventStream,
  SESSION,
  type StandIn,
  startStandIn,
  TEST_PUSH_KEY,
  USER_ID,
} from '../test-kit';

const json = { 'Content-Type': 'application/json' };
const created = { sessionId: SESSION, channelId: CHANNEL, agentId: AGENT_ID, userId: USER_ID, createdAt: '2026-11-30T00:00:00.000Z', metadata: {} };
const restPosted = {
  success: true,
  userMessage: { id: '99999999-0000-4000-8000-000000000009', channel_id: CHANNEL, author_id: USER_ID, content: 'x', created_at: 1, metadata: {} },
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('sessions shared by gateway instances on one Redis', { timeout: 30_000 }, () => {
  let upstream: StandIn;
  let dist: string;
  let redis: RedisServer;
  const gateways: Gateway[] = [];
  const streams: EventStream[] = [];
  const links: RedisLink[] = [];

  beforeEach(async () => {
    upstream = await startStandIn();
    upstream.answer = (req, res) => jsonAnswer(201, req.url === '/api/messaging/sessions' ? created : restPosted)(req, res);
    dist = makeDist();
    redis = await startRedisServer();
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    for (const gateway of gateways.splice(0)) await gateway.close();
    for (const link of links.splice(0)) await link.close();
    await redis.stop();
    await upstream.close();
  });

  const open = async (socket: FakeSocket, shared: boolean) => {
    const env: Record<string, string> = shared ? { REDIS_URL: redis.url.href } : {};
    const gateway = await gatewayWithFakeSocket(upstream, dist, socket, env, { log: () => undefined });
    gateways.push(gateway);
    return gateway;
  };
  // biome-ignore lint/suspicious/noExplicitAny: /health is read field by field.
  const health = async (gateway: Gateway): Promise<any> => (await ask(gateway.url, '/health')).json();
  /** The browser listens to its session through `gateway` (its socket is then up). */
  const listen = async (gateway: Gateway) => {
    const stream = await openEventStream(gateway.url, `${PUSH_PATH}?session=${SESSION}.${CHANNEL}.${mintPushToken(TEST_PUSH_KEY, SESSION, CHANNEL)}`);
    streams.push(stream);
    for (let tries = 0; tries < 200 && (await health(gateway)).push.upstream.state !== 'up'; tries++) await sleep(10);
  };
  const restMessages = () => upstream.seen.filter((request) => request.method === 'POST' && request.url.endsWith('/messages')).length;

  it.each([
    ['without Redis: the other instance learns it from a first message over HTTP', false, { sentOverRest: 1, sentOverSocket: 0 }],
    ['with Redis: the other instance sends over its socket at once', true, { sentOverRest: 0, sentOverSocket: 1 }],
  ])('a session made through one instance, its message through another, %s', async (_name, shared, counts) => {
    const sockets = [new FakeSocket(), new FakeSocket()];
    const [maker, other] = [await open(sockets[0]!, shared), await open(sockets[1]!, shared)];
    if (shared) {
      for (let tries = 0; tries < 200 && (await health(maker)).redis.state !== 'up'; tries++) await sleep(10);
      for (let tries = 0; tries < 200 && (await health(other)).redis.state !== 'up'; tries++) await sleep(10);
    }
    const made = await ask(maker.url, '/api/messaging/sessions', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ agentId: AGENT_ID, userId: USER_ID }),
    });
    expect(made.status).toBe(201);
    await listen(other);

    const posted = await ask(other.url, `/api/messaging/sessions/${SESSION}/messages`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ content: 'hello' }),
    });
    expect(posted.status).toBe(201);
    expect((await health(other)).push).toMatchObject(counts);
    expect(restMessages()).toBe(counts.sentOverRest);
    // Sent as the session's user on its channel, whichever instance sent it.
    expect(sockets[1]!.sent().map((sent) => [sent['channelId'], sent['senderId']])).toEqual(counts.sentOverSocket ? [[CHANNEL, USER_ID]] : []);
  });

  it('renews a session once for the cluster, and takes nothing from Redis that is not a session record', async () => {
    const link = createRedisLink({ url: redis.url, log: () => undefined });
    links.push(link);
    for (let tries = 0; tries < 200 && link.state() !== 'up'; tries++) await sleep(10);
    let clock = 1_000_000;
    const now = () => clock;
    const [a, b] = [createSessionBook({ now, shared: createSharedSessions(link) }), createSessionBook({ now, shared: createSharedSessions(link) })];
    a.learn({ agentId: AGENT_ID, userId: USER_ID }, 201, created, '198.51.100.7');
    await sleep(50);
    expect(b.get(SESSION)).toBeUndefined();
    expect(await b.load(SESSION)).toMatchObject({ channelId: CHANNEL, userId: USER_ID, agentId: AGENT_ID, client: '198.51.100.7', seenAt: 1_000_000 });

    // B sends over its socket; 10 minutes on it is due for renewal...
    b.sentOverSocket(SESSION);
    clock += 600_000;
    expect(b.dueForRenewal(300_000)).toEqual([SESSION]);
    // ...unless ElizaOS saw the session over HTTP through A since (a REST message or A's renewal).
    a.seen(SESSION);
    await sleep(50);
    await b.freshen(SESSION);
    expect(b.dueForRenewal(300_000)).toEqual([]);
    expect(b.get(SESSION)?.seenAt).toBe(1_600_000);

    // Forgotten by one (ElizaOS said it is gone): gone for all.
    a.forget(SESSION);
    await sleep(50);
    expect(await createSessionBook({ now, shared: createSharedSessions(link) }).load(SESSION)).toBeUndefined();

    // Whatever else is stored under a session's key is no record.
    for (const stored of [
      'not json',
      '[]',
      JSON.stringify({ ...created, client: '<script>' }),
      JSON.stringify({ channelId: CHANNEL, userId: 'me', client: '1.2.3.4', seenAt: 1 }),
    ]) {
      await link.send(['SET', `purl:session:${SESSION}`, stored]);
      expect(await createSessionBook({ now, shared: createSharedSessions(link) }).load(SESSION)).toBeUndefined();
    }
    expect(parseStoredSession(JSON.stringify({ channelId: CHANNEL, userId: USER_ID, client: '::1', seenAt: 5 }))).toEqual({
      channelId: CHANNEL,
      userId: USER_ID,
      client: '::1',
      seenAt: 5,
    });
  });
});
