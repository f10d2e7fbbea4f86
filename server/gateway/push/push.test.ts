import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '../../../src/shared/clock';
import type { Gateway, GatewayParts } from '../app';
import { OptionsError, readGatewayOptions } from '../options';
import { KEEP_ALIVE_MS, MAX_SESSIONS_PER_STREAM, PUSH_PATH } from './push';
import { isPushToken, mintPushToken, PUSH_TOKEN_LENGTH, readPushKey, withPushToken } from './push-token';
import {
  ask,
  type EventStream,
  FakeSocket,
  gatewayWithFakeSocket,
  jsonAnswer,
  makeDist,
  NO_SENDS,
  openEventStream,
  routedQuery,
  SESSION,
  startStandIn,
  type StandIn,
  TEST_PUSH_KEY,
} from '../test-kit';

const CHANNEL = 'c0c0c0c0-0000-4000-8000-00000000000c';
const OTHER_SESSION = 'b3c2a1d0-0000-4000-8000-00000000000b';
const OTHER_CHANNEL = 'c0c0c0c0-0000-4000-8000-00000000000d';
const AGENT_ID = '2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11';
const USER_ID = 'aaaaaaaa-0000-4000-8000-00000000000a';

const token = (sessionId = SESSION, channelId = CHANNEL) => mintPushToken(TEST_PUSH_KEY, sessionId, channelId);
const sessionParam = (sessionId = SESSION, channelId = CHANNEL, pushToken = token(sessionId, channelId)) => `${sessionId}.${channelId}.${pushToken}`;
const pushUrl = (...sessions: string[]) => `${PUSH_PATH}?${sessions.map((session) => `session=${encodeURIComponent(session)}`).join('&')}`;

let nextMessage = 0;
/** A broadcast as ElizaOS sends an agent's reply (its /submit route). */
const reply = (channelId = CHANNEL, text = `reply ${++nextMessage}`) => ({
  id: `dddddddd-0000-4000-8000-${String(++nextMessage).padStart(12, '0')}`,
  senderId: AGENT_ID,
  senderName: 'Purl',
  text,
  roomId: channelId,
  createdAt: 1_700_000_000_000 + nextMessage,
  source: 'agent_response',
  thought: 'a thought',
  actions: ['REPLY'],
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('push tokens', () => {
  it('are 43 characters, verify for their own session only, and refuse anything malformed', () => {
    const minted = token();
    expect(minted).toHaveLength(PUSH_TOKEN_LENGTH);
    expect(isPushToken(TEST_PUSH_KEY, SESSION, CHANNEL, minted)).toBe(true);
    expect(isPushToken(TEST_PUSH_KEY, SESSION.toUpperCase(), CHANNEL, minted)).toBe(true);
    expect(isPushToken(TEST_PUSH_KEY, OTHER_SESSION, CHANNEL, minted)).toBe(false);
    expect(isPushToken(TEST_PUSH_KEY, SESSION, OTHER_CHANNEL, minted)).toBe(false);
    expect(isPushToken(TEST_PUSH_KEY, SESSION, CHANNEL, token(OTHER_SESSION, OTHER_CHANNEL))).toBe(false);
    expect(isPushToken(Buffer.alloc(32, 8), SESSION, CHANNEL, minted)).toBe(false);
    expect(isPushToken(TEST_PUSH_KEY, SESSION, CHANNEL, minted.slice(1))).toBe(false);
    expect(isPushToken(TEST_PUSH_KEY, SESSION, CHANNEL, '')).toBe(false);
    expect(isPushToken(TEST_PUSH_KEY, SESSION, CHANNEL, `${minted}é`)).toBe(false);
  });

  it('go on a new session’s answer only', () => {
    const session = { sessionId: SESSION, channelId: CHANNEL, agentId: AGENT_ID };
    expect(withPushToken(TEST_PUSH_KEY, 201, session)).toEqual({ ...session, pushToken: token() });
    expect(withPushToken(TEST_PUSH_KEY, 400, session)).toBeUndefined();
    expect(withPushToken(TEST_PUSH_KEY, 201, { sessionId: SESSION })).toBeUndefined();
    expect(withPushToken(TEST_PUSH_KEY, 201, [session])).toBeUndefined();
  });
});

describe('the push key', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'purl-push-key-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is PURL_PUSH_SECRET when set, and refuses a short one with a sentence', () => {
    expect(readPushKey('s'.repeat(32), dir)).toEqual(Buffer.from('s'.repeat(32)));
    expect(() => readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:1', PURL_PUSH_SECRET: 'short', PURL_DATA_DIR: dir })).toThrowError(OptionsError);
    expect(() => readPushKey('short', dir)).toThrowError(/^PURL_PUSH_SECRET must be at least 32 characters long; it has 5\.$/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('is otherwise made once in PURL_DATA_DIR (mode 0600) and read back after a restart', () => {
    const { options } = readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:1', PURL_DATA_DIR: path.join(dir, 'data') });
    const file = path.join(dir, 'data', 'push-secret');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(options.pushKey).toHaveLength(32);
    expect(readPushKey(undefined, path.join(dir, 'data'))).toEqual(options.pushKey);
  });

  it('says what is wrong with a damaged key file', () => {
    fs.writeFileSync(path.join(dir, 'push-secret'), 'too short');
    expect(() => readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:1', PURL_DATA_DIR: dir })).toThrowError(
      /push key in .*push-secret should be 32 bytes and has 9: delete the file/,
    );
  });

  it('is not read or made when PURL_PUSH=off', () => {
    const { options } = readGatewayOptions({ ELIZA_SERVER_URL: 'http://127.0.0.1:1', PURL_DATA_DIR: dir, PURL_PUSH: 'off' });
    expect(options.push).toBe(false);
    expect(options.pushKey).toBeUndefined();
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('the push route’s query', () => {
  it('takes 1 to 8 sessions and a last event id; the Last-Event-ID header wins', () => {
    expect(routedQuery('GET', pushUrl(sessionParam()))).toEqual({
      route: 'push',
      query: { sessions: [{ sessionId: SESSION, channelId: CHANNEL, token: token() }] },
    });
    const both = routedQuery('GET', `${pushUrl(sessionParam())}&lastEventId=0123456789ab.4`, { 'last-event-id': '0123456789ab.7' });
    expect(both).toMatchObject({ route: 'push', query: { lastEventId: '0123456789ab.7' } });
    expect(routedQuery('POST', pushUrl(sessionParam())).route).toBe('not-served');
    expect(routedQuery('GET', `${PUSH_PATH}/x`).route).toBe('not-served');
  });

  it.each([
    ['no session', PUSH_PATH],
    ['too many sessions', pushUrl(...Array.from({ length: MAX_SESSIONS_PER_STREAM + 1 }, () => sessionParam()))],
    ['a session without a token', pushUrl(`${SESSION}.${CHANNEL}`)],
    ['a session id that is not a UUID', pushUrl(`../admin.${CHANNEL}.${token()}`)],
    ['a token of the wrong length', pushUrl(sessionParam(SESSION, CHANNEL, 'abc'))],
    ['an unknown parameter', `${pushUrl(sessionParam())}&agentId=${AGENT_ID}`],
    ['a malformed last event id', `${pushUrl(sessionParam())}&lastEventId=%3Cscript%3E`],
    ['two last event ids', `${pushUrl(sessionParam())}&lastEventId=0123456789ab.1&lastEventId=0123456789ab.2`],
  ])('refuses %s with a sentence', (_name, url) => {
    const matched = routedQuery('GET', url);
    expect(matched.route).toBe('push');
    expect(matched.problem).toMatch(/^[A-Z].*\.$/);
  });
});

describe('the push route in front of a stand-in ElizaOS', () => {
  let upstream: StandIn;
  let dist: string;
  let socket: FakeSocket;
  const gateways: Gateway[] = [];
  const streams: EventStream[] = [];

  const open = async (env: Record<string, string> = {}, parts: GatewayParts = {}) => {
    const gateway = await gatewayWithFakeSocket(upstream, dist, socket, env, parts);
    gateways.push(gateway);
    return gateway;
  };
  const subscribe = async (gateway: Gateway, url = pushUrl(sessionParam()), headers: Record<string, string> = {}, from?: string) => {
    const stream = await openEventStream(gateway.url, url, { headers, ...(from ? { from } : {}) });
    streams.push(stream);
    return stream;
  };
  /** A stream whose channel ElizaOS has confirmed. */
  const subscribed = async (gateway: Gateway, url?: string, headers?: Record<string, string>) => {
    const stream = await subscribe(gateway, url, headers);
    await stream.next((event) => event.event === 'hello');
    for (let tries = 0; tries < 100 && (await ask(gateway.url, '/health')).json().push.channels === 0; tries++) await sleep(5);
    return stream;
  };

  beforeEach(async () => {
    upstream = await startStandIn();
    dist = makeDist();
    socket = new FakeSocket();
  });

  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
    await upstream.close();
    fs.rmSync(dist, { recursive: true, force: true });
  });

  it('adds a verifiable pushToken to a new session’s answer, and only there', async () => {
    const gateway = await open();
    upstream.answer = jsonAnswer(201, { sessionId: SESSION, channelId: CHANNEL, agentId: AGENT_ID, userId: USER_ID });
    const created = await ask(gateway.url, '/api/messaging/sessions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ agentId: AGENT_ID, userId: USER_ID }),
    });
    expect(created.status).toBe(201);
    expect(created.json()).toMatchObject({ sessionId: SESSION, channelId: CHANNEL });
    expect(isPushToken(TEST_PUSH_KEY, SESSION, CHANNEL, created.json().pushToken)).toBe(true);
    upstream.answer = jsonAnswer(200, { messages: [], sessionId: SESSION, channelId: CHANNEL });
    const read = await ask(gateway.url, `/api/messaging/sessions/${SESSION}/messages?limit=20`);
    expect(read.json().pushToken).toBeUndefined();
  });

  it('is a 404 and not offered when PURL_PUSH=off, and no session answer carries a token', async () => {
    const gateway = await open({ PURL_PUSH: 'off' });
    expect((await ask(gateway.url, '/config.json')).json().push).toBeUndefined();
    const refused = await ask(gateway.url, pushUrl(sessionParam()));
    expect(refused.status).toBe(404);
    expect(refused.json().error.code).toBe('NOT_FOUND');
    upstream.answer = jsonAnswer(201, { sessionId: SESSION, channelId: CHANNEL });
    const created = await ask(gateway.url, '/api/messaging/sessions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ agentId: AGENT_ID, userId: USER_ID }),
    });
    expect(created.json().pushToken).toBeUndefined();
    expect((await ask(gateway.url, '/health')).json().push).toBeUndefined();
    expect(socket.connects).toBe(0);
  });

  it('refuses other origins, malformed queries and wrong tokens, and nothing reaches ElizaOS for them', async () => {
    const gateway = await open();
    expect((await ask(gateway.url, '/config.json')).json().push).toBe(true);
    const cases: [string, Record<string, string>, number, string][] = [
      [pushUrl(sessionParam()), { Origin: 'https://evil.example' }, 403, 'CROSS_ORIGIN'],
      [pushUrl(sessionParam()), { 'Sec-Fetch-Site': 'cross-site' }, 403, 'CROSS_ORIGIN'],
      [PUSH_PATH, {}, 400, 'INVALID_QUERY'],
      [pushUrl(...Array.from({ length: 9 }, () => sessionParam())), {}, 400, 'INVALID_QUERY'],
      [pushUrl(`${SESSION}.${CHANNEL}.not-a-token`), {}, 400, 'INVALID_QUERY'],
      [pushUrl(sessionParam(SESSION, CHANNEL, token(OTHER_SESSION, OTHER_CHANNEL))), {}, 403, 'PUSH_FORBIDDEN'],
      [pushUrl(sessionParam(), sessionParam(OTHER_SESSION, OTHER_CHANNEL, 'A'.repeat(43))), {}, 403, 'PUSH_FORBIDDEN'],
    ];
    for (const [url, headers, status, code] of cases) {
      const reply = await ask(gateway.url, url, { headers });
      expect([url, reply.status, reply.json().error.code]).toEqual([url, status, code]);
      expect(reply.json().error.message).toMatch(/^[A-Z].*\.$/);
    }
    expect(socket.connects).toBe(0);
    expect(socket.emitted).toEqual([]);
    expect(upstream.apiSeen()).toEqual([]);
  });

  it('starts with hello (its id the current position, retry 1000), uncompressed, then each message of the channel', async () => {
    const gateway = await open();
    const stream = await subscribed(gateway, pushUrl(sessionParam()), { 'Accept-Encoding': 'gzip, br' });
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers['cache-control']).toBe('no-store');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    expect(stream.headers['content-encoding']).toBeUndefined();
    const [hello] = stream.events;
    expect(hello).toMatchObject({ event: 'hello', retry: 1000, id: expect.stringMatching(/^[0-9a-f]{12}\.0$/) });
    const epoch = hello!.json().epoch as string;
    // The first subscriber opened the upstream socket: it was not connected yet when hello went out.
    expect(hello!.json()).toEqual({ epoch, upstream: 'down' });
    expect(stream.events[1]).toMatchObject({ event: 'upstream', data: '{"state":"up"}' });
    expect(stream.events[1]!.id).toBeUndefined();
    expect(socket.joinsOf(CHANNEL)).toBe(1);

    const broadcast = reply();
    socket.deliver('messageBroadcast', broadcast);
    socket.deliver('messageBroadcast', reply(OTHER_CHANNEL));
    socket.deliver('messageBroadcast', { ...reply(), id: 'not-a-uuid' });
    const message = await stream.next((event) => event.event === 'message');
    expect(message.id).toBe(`${epoch}.1`);
    expect(message.json()).toEqual({
      sessionId: SESSION,
      message: {
        id: broadcast.id,
        content: broadcast.text,
        authorId: AGENT_ID,
        isAgent: true,
        createdAt: broadcast.createdAt,
        metadata: { thought: 'a thought', actions: ['REPLY'] },
      },
    });
    await sleep(50);
    expect(stream.events.filter((event) => event.event === 'message')).toHaveLength(1);
    expect((await ask(gateway.url, '/health')).json().push).toEqual({
      upstream: { state: 'up', since: expect.any(Number) },
      channels: 1,
      streams: 1,
      eventsIn: 1,
      eventsOut: 1,
      memoriesOut: 0,
      dropped: 1,
      replayed: 0,
      resets: 0,
      ...NO_SENDS,
    });
  });

  it('hands a message to the streams of its channel only, each under its own session, and to none once closed', async () => {
    const gateway = await open();
    const both = await subscribed(gateway, pushUrl(sessionParam(), sessionParam(OTHER_SESSION, OTHER_CHANNEL)));
    const one = await subscribed(gateway);
    const other = await subscribed(gateway, pushUrl(sessionParam(OTHER_SESSION, OTHER_CHANNEL)));
    for (let tries = 0; tries < 100 && (await ask(gateway.url, '/health')).json().push.channels < 2; tries++) await sleep(5);
    const sessionsOf = (stream: EventStream) => stream.events.filter((event) => event.event === 'message').map((event) => event.json().sessionId);

    socket.deliver('messageBroadcast', reply(OTHER_CHANNEL));
    await both.next((event) => event.event === 'message');
    await other.next((event) => event.event === 'message');
    other.close();
    for (let tries = 0; tries < 100 && (await ask(gateway.url, '/health')).json().push.streams > 2; tries++) await sleep(5);
    socket.deliver('messageBroadcast', reply(OTHER_CHANNEL));
    socket.deliver('messageBroadcast', reply());
    await one.next((event) => event.event === 'message');
    await sleep(50);
    expect(sessionsOf(both)).toEqual([OTHER_SESSION, OTHER_SESSION, SESSION]);
    expect(sessionsOf(one)).toEqual([SESSION]);
    expect(sessionsOf(other)).toEqual([OTHER_SESSION]);
    expect((await ask(gateway.url, '/health')).json().push).toMatchObject({ streams: 2, eventsIn: 3, eventsOut: 5 });
  });

  it('replays what a returning browser missed, in order, and resets what it cannot replay', async () => {
    const gateway = await open();
    const both = pushUrl(sessionParam(), sessionParam(OTHER_SESSION, OTHER_CHANNEL));
    const first = await subscribed(gateway, both);
    for (let tries = 0; tries < 100 && (await ask(gateway.url, '/health')).json().push.channels < 2; tries++) await sleep(5);
    const epoch = first.events[0]!.json().epoch as string;
    const sent = [reply(), reply(OTHER_CHANNEL), reply(), reply(OTHER_CHANNEL)];
    for (const broadcast of sent) socket.deliver('messageBroadcast', broadcast);
    await first.next((event) => event.id === `${epoch}.4`);
    first.close();

    // From the first event's id (the Last-Event-ID header): the three after it, in order, before anything new.
    const back = await subscribe(gateway, both, { 'Last-Event-ID': `${epoch}.1` });
    await back.next((event) => event.id === `${epoch}.4`);
    socket.deliver('messageBroadcast', reply());
    await back.next((event) => event.id === `${epoch}.5`);
    expect(back.events.map((event) => [event.event, event.id])).toEqual([
      ['hello', `${epoch}.4`],
      ['message', `${epoch}.2`],
      ['message', `${epoch}.3`],
      ['message', `${epoch}.4`],
      ['message', `${epoch}.5`],
    ]);
    expect(back.events.slice(1, 4).map((event) => [event.json().sessionId, event.json().message.id])).toEqual([
      [OTHER_SESSION, sent[1]!.id],
      [SESSION, sent[2]!.id],
      [OTHER_SESSION, sent[3]!.id],
    ]);

    // Another gateway start's id: nothing to replay, both chats are read once.
    const foreign = await subscribe(gateway, `${both}&lastEventId=ffffffffffff.3`);
    const reset = await foreign.next((event) => event.event === 'reset');
    expect(reset.json()).toEqual({ sessionIds: [SESSION, OTHER_SESSION] });
    expect(foreign.events.map((event) => event.event)).toEqual(['hello', 'reset']);

    // Older than the last 100 events of the channel: reset for that one, the other is replayed.
    for (let i = 0; i < 101; i++) socket.deliver('messageBroadcast', reply());
    const old = await subscribe(gateway, both, { 'Last-Event-ID': `${epoch}.2` });
    await old.next((event) => event.event === 'message');
    expect(old.events.map((event) => event.event).slice(0, 3)).toEqual(['hello', 'reset', 'message']);
    expect(old.events[1]!.json()).toEqual({ sessionIds: [SESSION] });
    expect(old.events.filter((event) => event.event === 'message').map((event) => event.id)).toEqual([`${epoch}.4`]);
    // Counted in /health: two streams given what they missed (the first and the last), three sessions reset.
    const { replayed, resets } = (await ask(gateway.url, '/health')).json().push;
    expect([replayed, resets]).toEqual([2, 3]);
  });

  it('sends a keep-alive comment while nothing happens', async () => {
    const clock = manualClock(Date.now());
    const gateway = await open({}, { clock });
    const stream = await subscribed(gateway);
    clock.advance(KEEP_ALIVE_MS);
    const comment = await stream.next((event) => event.event === ':', 1_000);
    expect(comment.data).toBe('keep-alive');
  });

  it('caps open streams per client, keeps the earlier ones open, and frees a slot when one closes', async () => {
    const gateway = await open({ WS_MAX_CONNECTIONS_PER_IP: '2' });
    const one = await subscribed(gateway);
    const two = await subscribed(gateway);
    const refused = await ask(gateway.url, pushUrl(sessionParam()));
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('10');
    expect(refused.json().error.code).toBe('TOO_MANY_CONNECTIONS');
    // Another client has streams of its own.
    const elsewhere = await subscribe(gateway, pushUrl(sessionParam()), {}, '127.0.0.2');
    expect(elsewhere.status).toBe(200);
    socket.deliver('messageBroadcast', reply());
    await one.next((event) => event.event === 'message');
    await two.next((event) => event.event === 'message');
    expect(one.ended() || two.ended()).toBe(false);
    one.close();
    for (let tries = 0; tries < 100 && (await ask(gateway.url, '/health')).json().push.streams > 2; tries++) await sleep(5);
    const three = await subscribe(gateway);
    expect(three.status).toBe(200);
  });

  it('tells streams when the upstream socket drops and comes back, joins again, and resets the chats it may have missed', async () => {
    const gateway = await open();
    const stream = await subscribed(gateway);
    socket.deliver('disconnect', 'transport close');
    await stream.next((event) => event.event === 'upstream' && event.json().state === 'down');
    socket.deliver('connect');
    await stream.next((event) => event.event === 'upstream' && event.json().state === 'up');
    const reset = await stream.next((event) => event.event === 'reset');
    expect(reset.json()).toEqual({ sessionIds: [SESSION] });
    expect(socket.joinsOf(CHANNEL)).toBe(2);
    socket.deliver('messageBroadcast', reply());
    await stream.next((event) => event.event === 'message');
  });

  it('says refused when ElizaOS denies the join (ENABLE_DATA_ISOLATION), and asks no more until a reconnect', async () => {
    socket.joins = 'deny';
    const gateway = await open();
    const stream = await subscribe(gateway);
    await stream.next((event) => event.event === 'upstream' && event.json().state === 'refused');
    expect((await ask(gateway.url, '/health')).json().push.upstream.state).toBe('refused');
    const later = await subscribe(gateway, pushUrl(sessionParam(OTHER_SESSION, OTHER_CHANNEL)));
    expect((await later.next((event) => event.event === 'hello')).json().upstream).toBe('refused');
    expect(socket.joinsOf(OTHER_CHANNEL)).toBe(0);
    // Broadcasts of a channel never joined are not handed on.
    socket.deliver('messageBroadcast', reply());
    await sleep(30);
    expect(stream.events.some((event) => event.event === 'message')).toBe(false);
  });

  describe('memories', () => {
    /** The agent's memories the stand-in ElizaOS has now; a test changes them between reads. */
    let memories: string[];
    const memoryReads = () => upstream.apiSeen().filter((seen) => seen.url.includes('/memories')).length;
    const sync = async (gateway: Gateway) => {
      const reply = await ask(gateway.url, `/api/purl/sync?agentId=${AGENT_ID}`);
      expect(reply.status).toBe(200);
      return reply.json().cursor as string;
    };
    const memoryEvents = (stream: EventStream) => stream.events.filter((event) => event.event === 'memories');

    beforeEach(() => {
      memories = ['a'];
      upstream.answer = (req, res) => {
        if (req.url === '/api/agents')
          return jsonAnswer(200, { success: true, data: { agents: [{ id: AGENT_ID, name: 'Purl', status: 'active' }] } })(req, res);
        const data = {
          memories: memories.map((text) => ({ id: `m-${text}`, agentId: AGENT_ID, entityId: USER_ID, roomId: CHANNEL, createdAt: 1, content: { text } })),
        };
        jsonAnswer(200, { success: true, data })(req, res);
      };
    });

    afterEach(() => {
      vi.useRealTimers();
    });

    it('tells every open stream when a sync read finds them changed, with the new cursor and no id; nothing when unchanged', async () => {
      const gateway = await open({ GATEWAY_CACHE_TTL: '1' });
      const one = await subscribed(gateway);
      const other = await subscribed(gateway, pushUrl(sessionParam(OTHER_SESSION, OTHER_CHANNEL)));
      // The first read makes the agent's log: no news to anyone (every cursor resets against it).
      await sync(gateway);
      await sleep(5);
      expect(await sync(gateway)).toMatch(/^[0-9a-f]{12}\.\d+$/);
      memories = ['a', 'b'];
      await sleep(5);
      const cursor = await sync(gateway);
      for (const stream of [one, other]) {
        const event = await stream.next((candidate) => candidate.event === 'memories');
        expect(event.json()).toEqual({ agentId: AGENT_ID, cursor });
        expect(event.id).toBeUndefined();
      }
      await sleep(5);
      expect(await sync(gateway)).toBe(cursor);
      await sleep(50);
      expect(memoryEvents(one)).toHaveLength(1);
      expect(memoryEvents(other)).toHaveLength(1);
      expect((await ask(gateway.url, '/health')).json().push.memoriesOut).toBe(2);
    });

    it('tells changes that keep coming within the window once, at its end, with the newest cursor', async () => {
      const gateway = await open({ GATEWAY_CACHE_TTL: '1' });
      const stream = await subscribed(gateway);
      await sync(gateway);
      memories = ['a', 'b'];
      await sleep(5);
      await sync(gateway);
      const first = await stream.next((event) => event.event === 'memories');
      memories = ['a', 'b', 'c'];
      await sleep(5);
      await sync(gateway);
      memories = ['b', 'c'];
      await sleep(5);
      const newest = await sync(gateway);
      await sleep(100);
      expect(memoryEvents(stream)).toHaveLength(1);
      // The window: max(GATEWAY_CACHE_TTL, 2 s).
      const last = await stream.next((event) => event.event === 'memories', 3_000, stream.events.indexOf(first) + 1);
      expect(last.json()).toEqual({ agentId: AGENT_ID, cursor: newest });
      expect(last.at - first.at).toBeGreaterThanOrEqual(1_900);
      await sleep(50);
      expect(memoryEvents(stream)).toHaveLength(2);
    });

    it('reads them upstream again after a message heard on their channel, at most once per window', async () => {
      // Windows are slots of GATEWAY_CACHE_TTL (60 s here): the clock is set, the timers run.
      const slot = 30_000_000 * 60_000;
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(slot - 10_000);
      const gateway = await open({ GATEWAY_CACHE_TTL: '60000' });
      const stream = await subscribed(gateway);
      await sync(gateway);
      expect(memoryReads()).toBe(1);
      // Heard within the slot of the kept copy's read: that slot had its read.
      socket.deliver('messageBroadcast', reply());
      memories = ['a', 'b'];
      await sync(gateway);
      expect(memoryReads()).toBe(1);
      // The next slot, the kept copy 11 s old (its window runs 49 s more): the mark sends the read upstream.
      vi.setSystemTime(slot + 1_000);
      const cursor = await sync(gateway);
      expect(memoryReads()).toBe(2);
      expect((await stream.next((event) => event.event === 'memories')).json()).toEqual({ agentId: AGENT_ID, cursor });
      // More messages heard in this slot: no second read in it, however many.
      for (let i = 0; i < 5; i++) {
        socket.deliver('messageBroadcast', reply());
        vi.setSystemTime(slot + 2_000 + i * 1_000);
        await Promise.all([sync(gateway), sync(gateway)]);
      }
      expect(memoryReads()).toBe(2);
      // What was heard after that read is read in the next slot, once.
      vi.setSystemTime(slot + 60_000 + 500);
      await sync(gateway);
      expect(memoryReads()).toBe(3);
      // Nothing heard since: the kept copy serves its window.
      vi.setSystemTime(slot + 60_000 + 30_000);
      await sync(gateway);
      expect(memoryReads()).toBe(3);
    });

    it('is not marked due by a message of another agent’s channel', async () => {
      const slot = 30_000_000 * 60_000;
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(slot - 10_000);
      const gateway = await open({ GATEWAY_CACHE_TTL: '60000' });
      await subscribed(gateway);
      await sync(gateway);
      socket.deliver('messageBroadcast', { ...reply(), senderId: USER_ID, source: 'client_chat' });
      vi.setSystemTime(slot + 1_000);
      await sync(gateway);
      expect(memoryReads()).toBe(1);
    });
  });

  it('ends every stream and the upstream socket when the gateway closes', async () => {
    const gateway = await open();
    const stream = await subscribed(gateway);
    let disconnected = false;
    socket.disconnect = () => {
      disconnected = true;
      return socket;
    };
    await gateway.close();
    gateways.splice(gateways.indexOf(gateway), 1);
    for (let tries = 0; tries < 100 && !stream.ended(); tries++) await sleep(5);
    expect(stream.ended()).toBe(true);
    expect(disconnected).toBe(true);
  });
});
