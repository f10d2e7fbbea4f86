/**
 * Push across the instances of a cluster, through a real Redis (Debian's redis-server on a
 * free loopback port) and two gateways, each with its own stand-in upstream socket (both
 * joined to a channel, ElizaOS broadcasts a message to each): one log, one id per message
 * whichever instance heard it, a message heard by one instance on the streams of the other,
 * a browser replayed after it moved to the other instance, and local ids while Redis is away.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ManualClock, manualClock } from '../../../src/shared/clock';
import { type RedisServer, startRedisServer } from '../../cluster/redis-server';
import type { Gateway } from '../app';
import { PUSH_PATH } from '../push/push';
import { createRedisLink } from './redis';
import { mintPushToken } from '../push/push-token';
import {
  AGENT as AGENT_ID,
  ask,
  CHANNEL,
  type EventStream,
  FakeSocket,
  gatewayWithFakeSocket,
  jsonAnswer,
  makeDist,
  OTHER_CHANNEL,
  OTHER_SESSION,
  openEventStream,
  SESSION,
  type StandIn,
  startStandIn,
  TEST_PUSH_KEY,
} from '../test-kit';

const param = (sessionId: string, channelId: string) => `session=${sessionId}.${channelId}.${mintPushToken(TEST_PUSH_KEY, sessionId, channelId)}`;
const ONE = `${PUSH_PATH}?${param(SESSION, CHANNEL)}`;
const BOTH = `${ONE}&${param(OTHER_SESSION, OTHER_CHANNEL)}`;

let counter = 0;
const reply = (channelId = CHANNEL) => {
  counter++;
  return {
    id: `dddddddd-0000-4000-8000-${String(counter).padStart(12, '0')}`,
    senderId: AGENT_ID,
    senderName: 'Purl',
    text: `reply ${counter}`,
    roomId: channelId,
    createdAt: 1_700_000_000_000 + counter,
    source: 'agent_response',
  };
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * How far `until` moves the instances' clock between two looks: the follower's shortest pause
 * (cluster-push-log.ts), so each look finds it a step on; the channels' announcements (every
 * 2 s) come every eighth.
 */
const STEP_MS = 250;

describe('push across gateway instances on one Redis', { timeout: 30_000 }, () => {
  let upstream: StandIn;
  let dist: string;
  let redis: RedisServer | undefined;
  /** The instances' one clock (one cluster's time); `until` moves it on. */
  let clock: ManualClock;
  const gateways: Gateway[] = [];
  const streams: EventStream[] = [];

  beforeEach(async () => {
    upstream = await startStandIn();
    dist = makeDist();
    clock = manualClock(Date.now());
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    for (const gateway of gateways.splice(0)) await gateway.close();
    await redis?.stop();
    redis = undefined;
    await upstream.close();
  });

  const open = async (socket: FakeSocket, env: Record<string, string> = {}) => {
    const gateway = await gatewayWithFakeSocket(upstream, dist, socket, { REDIS_URL: redis!.url.href, ...env }, { clock, log: () => undefined });
    gateways.push(gateway);
    return gateway;
  };
  // biome-ignore lint/suspicious/noExplicitAny: /health is read field by field.
  const push = async (gateway: Gateway): Promise<any> => (await ask(gateway.url, '/health')).json().push;
  /** Looks every 20 ms until `check` passes, moving the instances' clock on by STEP_MS after each look that fails (then their I/O runs). */
  const until = async (check: () => Promise<boolean> | boolean, what: string) => {
    for (let tries = 0; tries < 300; tries++) {
      if (await check()) return;
      clock.advance(STEP_MS);
      await sleep(20);
    }
    throw new Error(`Not within 300 looks: ${what}`);
  };
  const subscribe = async (gateway: Gateway, url: string, lastEventId?: string) => {
    const stream = await openEventStream(gateway.url, url, lastEventId ? { headers: { 'Last-Event-ID': lastEventId } } : {});
    streams.push(stream);
    await stream.next((event) => event.event === 'hello');
    return stream;
  };
  const messages = (stream: EventStream) => stream.events.filter((event) => event.event === 'message').map((event) => [event.id, event.json().message.id]);

  /** Two instances on one Redis, both following its log, with a stream on the first whose channel both have joined. */
  const cluster = async (env: Record<string, string> = {}) => {
    redis = await startRedisServer();
    const sockets = [new FakeSocket(), new FakeSocket()] as const;
    const [a, b] = [await open(sockets[0], env), await open(sockets[1], env)];
    await until(async () => (await push(a)).log.mode === 'shared' && (await push(b)).log.mode === 'shared', 'both instances follow the log');
    const first = await subscribe(a, ONE);
    // The second instance joins the channel because the first announced it, though no browser of its own listens to it.
    await until(() => sockets[1].joinsOf(CHANNEL) > 0, 'the second instance joins the cluster channel');
    await until(async () => (await push(b)).channels === 1, 'the join is confirmed');
    await until(async () => (await push(b)).log.coveredChannels === 1, 'the second instance has heard the channel since a known point of the log');
    return { a, b, sockets, first, epoch: first.events.find((event) => event.event === 'hello')!.json().epoch as string };
  };

  it('gives a message heard by both instances one id, and one heard by one instance to the streams of the other', async () => {
    const { a, b, sockets, first, epoch } = await cluster();
    const onB = await subscribe(b, ONE);
    expect(onB.events[0]!.json().epoch).toBe(epoch);

    // ElizaOS broadcasts to both sockets: one event each, with the same id.
    const both = reply();
    for (const socket of sockets) socket.deliver('messageBroadcast', both);
    await first.next((event) => event.event === 'message');
    await onB.next((event) => event.event === 'message');
    // Heard by the second instance only (the first's socket is reconnecting): the first's stream gets it through Redis.
    const onlyB = reply();
    sockets[1].deliver('messageBroadcast', onlyB);
    await first.next((event) => event.event === 'message' && event.json().message.id === onlyB.id);
    await onB.next((event) => event.event === 'message' && event.json().message.id === onlyB.id);
    await sleep(100);
    expect(messages(first)).toEqual([
      [`${epoch}.1`, both.id],
      [`${epoch}.2`, onlyB.id],
    ]);
    expect(messages(onB)).toEqual(messages(first));
    expect((await push(a)).eventsIn).toBe(1);
    expect((await push(b)).eventsIn).toBe(2);
  });

  it('replays what a browser missed when it comes back through another instance, and resets only what that one did not hear', async () => {
    const { a, b, sockets, first, epoch } = await cluster();
    const seen = reply();
    for (const socket of sockets) socket.deliver('messageBroadcast', seen);
    const last = await first.next((event) => event.event === 'message');
    expect(last.id).toBe(`${epoch}.1`);

    // The first instance dies; ElizaOS goes on broadcasting to the second.
    first.close();
    await a.close();
    gateways.splice(gateways.indexOf(a), 1);
    const missed = [reply(), reply()];
    for (const message of missed) sockets[1].deliver('messageBroadcast', message);
    await until(async () => (await push(b)).log.n === 3, 'the second instance read its own messages back');

    // The browser comes back through the second instance with the last id it saw (EventSource's Last-Event-ID).
    const back = await subscribe(b, BOTH, last.id);
    await back.next((event) => event.event === 'message' && event.json().message.id === missed[1]!.id);
    expect(back.events.filter((event) => event.event === 'reset').map((event) => event.json())).toEqual([{ sessionIds: [OTHER_SESSION] }]);
    expect(messages(back)).toEqual([
      [`${epoch}.2`, missed[0]!.id],
      [`${epoch}.3`, missed[1]!.id],
    ]);
    // Then what comes next, once.
    const next = reply();
    sockets[1].deliver('messageBroadcast', next);
    await back.next((event) => event.event === 'message' && event.json().message.id === next.id);
    await sleep(100);
    expect(messages(back).map(([id]) => id)).toEqual([`${epoch}.2`, `${epoch}.3`, `${epoch}.4`]);
    const stats = await push(b);
    expect(stats.replayed).toBe(1);
    // OTHER_SESSION's channel was never listened to in the cluster: what was said there is unknown, so its chat is read once.
    expect(stats.resets).toBe(1);

    // An id of this epoch the log never gave (ahead of it, as a hostile page could send): nothing replayed, its chats read once.
    const ahead = await subscribe(b, ONE, `${epoch}.999999999999999`);
    expect((await ahead.next((event) => event.event === 'reset')).json()).toEqual({ sessionIds: [SESSION] });
    expect(ahead.events.filter((event) => event.event === 'message')).toEqual([]);
  });

  it('numbers events itself while Redis is away, losing none, and follows a fresh log once Redis is back', async () => {
    const { b, sockets, first, epoch } = await cluster();
    const onB = await subscribe(b, ONE);
    // Two events of this epoch first: the new epoch's first ones (numbered 1 and 2 again) must not be taken for them.
    const before = [reply(), reply()];
    for (const message of before) for (const socket of sockets) socket.deliver('messageBroadcast', message);
    await onB.next((event) => event.event === 'message' && event.id === `${epoch}.2`);
    const port = redis!.port;
    await redis!.stop();
    await until(async () => (await push(b)).log.mode === 'local', 'the second instance numbers its own events');

    const during = reply();
    sockets[1].deliver('messageBroadcast', during);
    const local = await onB.next((event) => event.event === 'message' && event.json().message.id === during.id);
    expect(local.id!.split('.')[0]).not.toBe(epoch);
    // A browser with a cluster id, here while Redis is away: its chat is read once.
    const away = await subscribe(b, ONE, `${epoch}.1`);
    expect((await away.next((event) => event.event === 'reset')).json()).toEqual({ sessionIds: [SESSION] });

    // Redis back, empty: a new epoch, followed by both.
    redis = await startRedisServer({ port });
    await until(async () => (await push(b)).log.mode === 'shared', 'the second instance follows the log again');
    const after = reply();
    for (const socket of sockets) socket.deliver('messageBroadcast', after);
    const shared = await onB.next((event) => event.event === 'message' && event.json().message.id === after.id);
    const newEpoch = shared.id!.split('.')[0];
    expect(newEpoch).not.toBe(epoch);
    expect(shared.id).toBe(`${newEpoch}.1`);
    await first.next((event) => event.event === 'message' && event.json().message.id === after.id);
    // An id of the old epoch: nothing can be vouched for.
    const stale = await subscribe(b, ONE, `${epoch}.1`);
    expect((await stale.next((event) => event.event === 'reset')).json()).toEqual({ sessionIds: [SESSION] });
  });

  it("tells every instance's streams when a sync read on one found an agent's memories changed, once, and replays no notice", async () => {
    let memories = ['a'];
    upstream.answer = (req, res) => {
      if (req.url === '/api/agents') return jsonAnswer(200, { success: true, data: { agents: [{ id: AGENT_ID, name: 'Purl', status: 'active' }] } })(req, res);
      const data = {
        memories: memories.map((text) => ({ id: `m-${text}`, agentId: AGENT_ID, entityId: AGENT_ID, roomId: CHANNEL, createdAt: 1, content: { text } })),
      };
      jsonAnswer(200, { success: true, data })(req, res);
    };
    const { a, b, first, epoch } = await cluster({ GATEWAY_CACHE_TTL: '1' });
    const onB = await subscribe(b, ONE);
    const sync = async () => (await ask(a.url, `/api/purl/sync?agentId=${AGENT_ID}`)).json().cursor as string;
    // The first read makes the agent's log: no news.
    await sync();
    clock.advance(5);
    memories = ['a', 'b'];
    const cursor = await sync();
    for (const stream of [first, onB]) {
      const event = await stream.next((candidate) => candidate.event === 'memories');
      expect(event.json()).toEqual({ agentId: AGENT_ID, cursor });
      expect(event.id).toBeUndefined();
    }
    await sleep(100);
    for (const stream of [first, onB]) expect(stream.events.filter((event) => event.event === 'memories')).toHaveLength(1);
    // It took a place in the log, but a browser that comes back is not told it again.
    const back = await subscribe(b, ONE, `${epoch}.0`);
    await sleep(100);
    expect(back.events.map((event) => event.event)).toEqual(['hello']);
  });

  it('writes to its streams only log entries that pass the check, rewritten from what was checked, and reads on past the others', async () => {
    const { first, sockets, epoch } = await cluster();
    const link = createRedisLink({ url: redis!.url, log: () => undefined });
    try {
      for (let tries = 0; tries < 200 && link.state() !== 'up'; tries++) await sleep(10);
      const add = async (fields: string[]) => {
        const n = Number(await link.send(['INCR', 'purl:push:seq']));
        await link.send(['XADD', 'purl:push:log', `${n}-0`, ...fields]);
      };
      const sneaky = { ...reply(), text: 'x' };
      const valid = {
        id: sneaky.id,
        content: 'line one\n\nevent: reset\ndata: {"sessionIds":[]}',
        authorId: AGENT_ID,
        isAgent: true,
        createdAt: 1,
        metadata: { thought: 'fine', extra: '<b>dropped</b>' },
        extra: 'dropped',
      };
      await add(['c', CHANNEL, 'i', valid.id, 'm', JSON.stringify(valid)]);
      await add(['c', CHANNEL, 'i', valid.id, 'm', '\n\nevent: reset\ndata: {"sessionIds":["x"]}\n\n']);
      await add(['c', CHANNEL, 'i', 'dddddddd-0000-4000-8000-999999999999', 'm', JSON.stringify(valid)]);
      await add(['c', '../admin', 'i', valid.id, 'm', JSON.stringify(valid)]);
      // Then a real message: the stream goes on past the nonsense.
      const real = reply();
      for (const socket of sockets) socket.deliver('messageBroadcast', real);
      await first.next((event) => event.event === 'message' && event.json().message.id === real.id);
      expect(first.events.filter((event) => event.event === 'reset')).toEqual([]);
      expect(messages(first)).toEqual([
        [`${epoch}.1`, valid.id],
        [`${epoch}.5`, real.id],
      ]);
      const written = first.events.find((event) => event.id === `${epoch}.1`)!.json().message;
      expect(written).toEqual({ id: valid.id, content: valid.content, authorId: AGENT_ID, isAgent: true, createdAt: 1, metadata: { thought: 'fine' } });
    } finally {
      await link.close();
    }
  });
});
