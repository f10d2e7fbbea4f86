import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parsePostedMessage } from '../../../src/shared/api';
import { manualClock } from '../../../src/shared/clock';
import type { Gateway, GatewayParts } from '../app';
import { PUSH_PATH } from '../push/push';
import { mintPushToken } from '../push/push-token';
import { createSessionBook } from './session-book';
import { ACK_TIMEOUT_MS, createSocketSender, type RenewOutcome } from './socket-send';
import {
  ask,
  FakeSocket,
  gatewayWithFakeSocket,
  jsonAnswer,
  makeDist,
  openEventStream,
  startStandIn,
  type EventStream,
  type StandIn,
  TEST_PUSH_KEY,
} from '../test-kit';
import { ISOLATION_RETRY_MS, SOCKET_SOURCE, type SendOutcome, type UpstreamSocket, type UpstreamState } from './upstream-socket';

const SESSION = 'b3c2a1d0-0000-4000-8000-00000000000a';
const CHANNEL = 'c0c0c0c0-0000-4000-8000-00000000000c';
const AGENT_ID = '2a6e1e0c-4b7f-4c55-9c1a-1f0e0a7b3c11';
const USER_ID = 'aaaaaaaa-0000-4000-8000-00000000000a';
const MALLORY = 'ffffffff-0000-4000-8000-00000000000f';
const CLIENT_ID = '11111111-0000-4000-8000-000000000001';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const json = { 'Content-Type': 'application/json' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves once `check` passes, looked at every 5 ms (the gateway's I/O after a move of its clock). */
const eventually = (check: () => unknown) => vi.waitFor(check, { timeout: 5_000, interval: 5 });

/** ElizaOS's 201 to a new session. */
const created = { sessionId: SESSION, channelId: CHANNEL, agentId: AGENT_ID, userId: USER_ID, createdAt: '2026-11-30T00:00:00.000Z', metadata: {} };
/** ElizaOS's 201 to a REST message. */
const restPosted = {
  success: true,
  userMessage: { id: '99999999-0000-4000-8000-000000000009', channel_id: CHANNEL, author_id: USER_ID, content: 'x', created_at: 1, metadata: {} },
};

describe('messages over the upstream socket, in front of a stand-in ElizaOS', () => {
  let upstream: StandIn;
  let dist: string;
  let socket: FakeSocket;
  const gateways: Gateway[] = [];
  const streams: EventStream[] = [];

  beforeEach(async () => {
    upstream = await startStandIn();
    dist = makeDist();
    socket = new FakeSocket();
    // The stand-in makes sessions and stores REST messages; the fake socket answers sends.
    upstream.answer = (req, res) => jsonAnswer(201, req.url === '/api/messaging/sessions' ? created : restPosted)(req, res);
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    for (const gateway of gateways.splice(0)) await gateway.close();
    await upstream.close();
  });

  const open = async (env: Record<string, string> = {}, parts: GatewayParts = {}) => {
    const gateway = await gatewayWithFakeSocket(upstream, dist, socket, env, parts);
    gateways.push(gateway);
    return gateway;
  };
  const health = async (gateway: Gateway) => (await ask(gateway.url, '/health')).json().push;
  /** Makes the session through the gateway (as the worker does) and listens to it, so the upstream socket is up. */
  const makeSession = async (gateway: Gateway, listen = true) => {
    const answer = await ask(gateway.url, '/api/messaging/sessions', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ agentId: AGENT_ID, userId: USER_ID }),
    });
    expect(answer.status).toBe(201);
    if (!listen) return;
    const stream = await openEventStream(gateway.url, `${PUSH_PATH}?session=${SESSION}.${CHANNEL}.${mintPushToken(TEST_PUSH_KEY, SESSION, CHANNEL)}`);
    streams.push(stream);
    // Up, or refused (ENABLE_DATA_ISOLATION): the socket's state is settled either way.
    for (let tries = 0; tries < 100 && !['up', 'refused'].includes((await health(gateway)).upstream.state); tries++) await sleep(5);
  };
  const post = (gateway: Gateway, body: unknown, sessionId = SESSION) =>
    ask(gateway.url, `/api/messaging/sessions/${sessionId}/messages`, { method: 'POST', headers: json, body: JSON.stringify(body) });
  const restPosts = () => upstream.apiSeen().filter((seen) => seen.method === 'POST' && seen.url.endsWith('/messages'));

  it("sends a known session's message over the socket as the session's user, with the gateway's source, and answers the REST route's 201", async () => {
    const gateway = await open();
    await makeSession(gateway);
    const answer = await post(gateway, { content: 'hello over the socket', metadata: { clientMessageId: CLIENT_ID } });

    expect(answer.status).toBe(201);
    expect(restPosts()).toEqual([]);
    const [sent, ...more] = socket.sent();
    expect(more).toEqual([]);
    expect(sent).toEqual({
      channelId: CHANNEL,
      messageServerId: '00000000-0000-0000-0000-000000000000',
      senderId: USER_ID,
      senderName: 'User-aaaaaaaa',
      message: 'hello over the socket',
      source: SOCKET_SOURCE,
      metadata: { clientMessageId: CLIENT_ID },
      messageId: expect.stringMatching(UUID),
      attachments: [],
    });
    // The worker reads it as a REST answer: the stored row's id (the ack's), the row's time (the echo's), its clientMessageId.
    const session = { sessionId: SESSION, channelId: CHANNEL, agentId: AGENT_ID, userId: USER_ID };
    expect(parsePostedMessage(answer.json(), session)).toEqual({
      id: socket.rows[0],
      agentId: AGENT_ID,
      channelId: CHANNEL,
      authorId: USER_ID,
      isAgent: false,
      text: 'hello over the socket',
      createdAt: 1_700_000_500_001,
      clientId: CLIENT_ID,
    });
    // Its echo reaches the session's listeners with the clientMessageId, as the sessions GET lists it.
    const pushed = await streams[0]!.next((event) => event.event === 'message');
    expect(pushed.json().message).toMatchObject({ id: socket.rows[0], authorId: USER_ID, isAgent: false, metadata: { clientMessageId: CLIENT_ID } });
    expect(await health(gateway)).toMatchObject({ sentOverSocket: 1, sentOverRest: 0, ackTimeouts: 0, sessions: 1 });
  });

  it('never takes the sender from the browser: a body naming one is refused, metadata beyond clientMessageId goes over REST', async () => {
    const gateway = await open();
    await makeSession(gateway);
    const forged = await post(gateway, { content: 'as mallory', senderId: MALLORY, metadata: { clientMessageId: CLIENT_ID } });
    expect(forged.status).toBe(400);
    expect(forged.json().error.code).toBe('INVALID_BODY');
    const extra = await post(gateway, { content: 'with more metadata', metadata: { clientMessageId: CLIENT_ID, senderId: MALLORY } });
    expect(extra.status).toBe(201);
    expect(restPosts()).toHaveLength(1);
    const plain = await post(gateway, { content: 'plain' });
    expect(plain.status).toBe(201);
    expect(socket.sent().map((sent) => [sent['senderId'], sent['metadata']])).toEqual([[USER_ID, {}]]);
    expect(JSON.stringify(socket.emitted)).not.toContain(MALLORY);
  });

  it('answers 504 without an acknowledgement in time and does not send again; a drop meanwhile is a 504 too, an ElizaOS error a 502', async () => {
    const clock = manualClock(Date.now());
    const gateway = await open({}, { clock });
    await makeSession(gateway);
    socket.sends = 'ignore';
    let answered = false;
    const answer = post(gateway, { content: 'lost', metadata: { clientMessageId: CLIENT_ID } }).finally(() => (answered = true));
    await eventually(() => expect(socket.sent()).toHaveLength(1));
    // Unanswered until the acknowledgement's time is up on the gateway's clock, and answered then.
    clock.advance(ACK_TIMEOUT_MS - 1);
    expect(await health(gateway)).toMatchObject({ ackTimeouts: 0 });
    expect(answered).toBe(false);
    clock.advance(1);
    const late = await answer;
    expect(late.status).toBe(504);
    expect(late.json().error).toEqual({ code: 'UPSTREAM_TIMEOUT', message: expect.stringMatching(/^[A-Z].*\.$/) });
    // A late ack changes nothing.
    const [sent] = socket.sent();
    socket.deliver('messageAck', { clientMessageId: sent!['messageId'], messageId: '12345678-0000-4000-8000-000000000000' });
    await sleep(200);
    expect(socket.sent()).toHaveLength(1);
    expect(restPosts()).toEqual([]);

    socket.sends = 'error';
    const refused = await post(gateway, { content: 'refused' });
    expect(refused.status).toBe(502);
    expect(refused.json().error.code).toBe('UPSTREAM_SEND_FAILED');
    expect(restPosts()).toEqual([]);
    socket.sends = 'ignore';
    const dropped = post(gateway, { content: 'dropped' });
    for (let tries = 0; tries < 100 && socket.sent().length < 3; tries++) await sleep(2);
    socket.deliver('disconnect', 'transport close');
    expect((await dropped).status).toBe(504);

    expect(await health(gateway)).toMatchObject({ sentOverSocket: 0, sentOverRest: 0, ackTimeouts: 1, socketFailures: 2 });
  });

  it('takes the REST path while the socket is not up, for a session it does not know, and with PURL_SOCKET_SEND=off', async () => {
    // Not up: nobody listened yet. The send makes the socket, for the next message.
    const gateway = await open();
    await makeSession(gateway, false);
    expect((await post(gateway, { content: 'first' })).status).toBe(201);
    expect(restPosts()).toHaveLength(1);
    expect(socket.connects).toBe(1);
    for (let tries = 0; tries < 100 && (await health(gateway)).upstream.state !== 'up'; tries++) await sleep(5);
    expect((await post(gateway, { content: 'second' })).status).toBe(201);
    expect(socket.sent()).toHaveLength(1);
    // Unknown: made before a restart, or elsewhere.
    expect((await post(gateway, { content: 'elsewhere' }, 'b3c2a1d0-0000-4000-8000-0000000000ff')).status).toBe(201);
    expect(restPosts()).toHaveLength(2);
    expect(await health(gateway)).toMatchObject({ sentOverSocket: 1, sentOverRest: 2 });

    const off = await open({ PURL_SOCKET_SEND: 'off' });
    await makeSession(off);
    expect((await post(off, { content: 'off' })).status).toBe(201);
    expect(socket.sent()).toHaveLength(1);
    expect(restPosts()).toHaveLength(3);
  });

  it('in front of an ElizaOS with ENABLE_DATA_ISOLATION, sends nothing over the socket and joins nothing: its message server is not the default one', async () => {
    // ElizaOS 1.7.2 stores and acknowledges a message sent with the default server id there, and its agent never answers it.
    const configAsked: string[] = [];
    upstream.config = (req, res) => {
      configAsked.push(req.method ?? '');
      jsonAnswer(200, { success: true, data: { requiresAuth: true } })(req, res);
    };
    const gateway = await open();
    await makeSession(gateway);
    for (let tries = 0; tries < 100 && (await health(gateway)).upstream.state !== 'refused'; tries++) await sleep(5);
    expect((await health(gateway)).upstream.state).toBe('refused');
    expect(socket.joinsOf(CHANNEL)).toBe(0);
    const answer = await post(gateway, { content: 'isolated', metadata: { clientMessageId: CLIENT_ID } });
    expect(answer.status).toBe(201);
    expect(socket.sent()).toEqual([]);
    expect(restPosts()).toHaveLength(1);
    expect(configAsked).toEqual(['GET']);
    // The browser's stream says so: its worker keeps polling.
    await streams[0]!.next(
      (event) => (event.event === 'hello' && event.json().upstream === 'refused') || (event.event === 'upstream' && event.json().state === 'refused'),
    );

    // A server that cannot say (a 500): nothing over the socket until it has; asked again, it says no isolation: up and used.
    socket = new FakeSocket();
    let config: 'broken' | 'page' | 'plain' = 'broken';
    let asked = 0;
    upstream.config = (req, res) => {
      asked++;
      if (config === 'broken') return jsonAnswer(500, { success: false })(req, res);
      // A 200 that is not ElizaOS's config (a captive portal, a proxy's page) says nothing either.
      if (config === 'page') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        return res.end('<h1>Sign in</h1>');
      }
      return jsonAnswer(200, { success: true, data: { requiresAuth: false } })(req, res);
    };
    const clock = manualClock(Date.now());
    const next = await open({}, { clock });
    /** The gateway's clock moved past the next ask: resolves once ElizaOS was asked again and its answer taken (the next ask set). */
    const askedAgain = async () => {
      const before = { asked, timers: clock.pending() };
      clock.advance(ISOLATION_RETRY_MS);
      await eventually(() => expect([asked, clock.pending()]).toEqual([before.asked + 1, before.timers]));
    };
    await makeSession(next, false);
    await post(next, { content: 'wakes the socket' });
    await eventually(() => expect(asked).toBe(1));
    await askedAgain();
    expect((await health(next)).upstream.state).toBe('down');
    expect((await post(next, { content: 'while it cannot say' })).status).toBe(201);
    expect(socket.sent()).toEqual([]);
    expect(socket.joinsOf(CHANNEL)).toBe(0);
    config = 'page';
    await askedAgain();
    await askedAgain();
    expect((await health(next)).upstream.state).toBe('down');
    expect(socket.sent()).toEqual([]);
    config = 'plain';
    clock.advance(ISOLATION_RETRY_MS);
    await eventually(async () => expect((await health(next)).upstream.state).toBe('up'));
    expect((await post(next, { content: 'not isolated' })).status).toBe(201);
    expect(socket.sent()).toEqual([expect.objectContaining({ message: 'not isolated' })]);
  });

  it('learns a session it did not make (a gateway restart) from ElizaOS’s 201 to its first message: the next goes over the socket', async () => {
    const gateway = await open();
    const stream = await openEventStream(gateway.url, `${PUSH_PATH}?session=${SESSION}.${CHANNEL}.${mintPushToken(TEST_PUSH_KEY, SESSION, CHANNEL)}`);
    streams.push(stream);
    for (let tries = 0; tries < 100 && (await health(gateway)).upstream.state !== 'up'; tries++) await sleep(5);
    expect((await post(gateway, { content: 'first after the restart' })).status).toBe(201);
    expect(restPosts()).toHaveLength(1);
    expect((await post(gateway, { content: 'second' })).status).toBe(201);
    expect(restPosts()).toHaveLength(1);
    expect(socket.sent()).toEqual([expect.objectContaining({ channelId: CHANNEL, senderId: USER_ID, message: 'second' })]);
  });

  it('after the socket dropped, sends a session over REST once (ElizaOS may have restarted and lost it), then over the socket again', async () => {
    const gateway = await open();
    await makeSession(gateway);
    socket.deliver('disconnect', 'transport close');
    socket.deliver('connect');
    expect((await post(gateway, { content: 'checks the session' })).status).toBe(201);
    expect((await post(gateway, { content: 'over the socket' })).status).toBe(201);
    expect(restPosts().map((seen) => JSON.parse(seen.body).content)).toEqual(['checks the session']);
    expect(socket.sent().map((sent) => sent['message'])).toEqual(['over the socket']);
  });
});

/** An upstream socket that is up and stores every message. */
function storingUpstream(): UpstreamSocket & { sends: number } {
  const fake = {
    sends: 0,
    state: (): UpstreamState => 'up',
    onState: () => () => {},
    wake: () => {},
    send: async (): Promise<SendOutcome> => {
      fake.sends++;
      return { kind: 'stored', id: '12345678-0000-4000-8000-000000000000', createdAt: 1 };
    },
  };
  return fake as unknown as UpstreamSocket & { sends: number };
}

const fakeRes = () => ({ destroyed: false, headersSent: false, writeHead() {}, end() {} }) as unknown as ServerResponse;

describe('the renewal of sessions that talk over the socket', () => {
  it('renews a session at most once per window, only when it sent over the socket since ElizaOS last saw it, and forgets one that is gone', async () => {
    let clock = 1_000_000;
    const now = () => clock;
    const renewed: string[] = [];
    let outcome: RenewOutcome = 'renewed';
    const book = createSessionBook({ now });
    const sender = createSocketSender({
      upstream: storingUpstream(),
      enabled: true,
      book,
      now,
      renewEveryMs: 300_000,
      renew: async (sessionId, client) => {
        renewed.push(`${sessionId}@${client}`);
        return outcome;
      },
    });
    sender.learn({ agentId: AGENT_ID, userId: USER_ID }, 201, created, '198.51.100.7');
    const send = async () => expect(await sender.trySend(SESSION, { content: 'hi' }, fakeRes())).toBe(true);

    // Nothing sent over the socket: nothing to renew, however long.
    clock += 600_000;
    await sender.renewDue();
    expect(renewed).toEqual([]);
    // Made 10 min ago, then a send: renewed at once, on the maker's behalf.
    await send();
    await sender.renewDue();
    expect(renewed).toEqual([`${SESSION}@198.51.100.7`]);
    // Sends within the window wait for it to end, then one renewal for all of them.
    clock += 60_000;
    await send();
    await send();
    await sender.renewDue();
    expect(renewed).toHaveLength(1);
    clock += 240_000;
    await sender.renewDue();
    expect(renewed).toHaveLength(2);
    await sender.renewDue();
    expect(renewed).toHaveLength(2);
    // A REST message renews it in ElizaOS itself: the window starts again from it.
    clock += 300_000;
    sender.sentOverRest(SESSION);
    await send();
    await sender.renewDue();
    expect(renewed).toHaveLength(2);
    // Not now (the budget): asked again at the next sweep; gone: forgotten, its messages take the REST path.
    clock += 300_000;
    outcome = 'later';
    await send();
    await sender.renewDue();
    expect(renewed).toHaveLength(3);
    await sender.renewDue();
    expect(renewed).toHaveLength(4);
    outcome = 'gone';
    await sender.renewDue();
    expect(renewed).toHaveLength(5);
    expect(await sender.trySend(SESSION, { content: 'hi' }, fakeRes())).toBe(false);
    expect(sender.stats()).toMatchObject({ renewals: 5, sessions: 0 });
    sender.close();
  });
});

describe('the session book', () => {
  it('learns a session only from a 201 that names the user and agent asked for', () => {
    const book = createSessionBook();
    const asked = { agentId: AGENT_ID, userId: USER_ID };
    book.learn(asked, 400, created, 'c');
    book.learn(asked, 201, { ...created, userId: MALLORY }, 'c');
    book.learn(asked, 201, { ...created, channelId: 'not-a-uuid' }, 'c');
    book.learn({ agentId: AGENT_ID, userId: MALLORY }, 201, created, 'c');
    expect(book.size()).toBe(0);
    book.learn(asked, 201, { ...created, sessionId: SESSION.toUpperCase() }, 'c');
    expect(book.get(SESSION)).toMatchObject({ channelId: CHANNEL, userId: USER_ID, agentId: AGENT_ID, client: 'c' });
  });

  it('learns a session from a REST message’s 201 only when ElizaOS names its channel and author, and never over one it made', () => {
    const book = createSessionBook();
    const posted = (message: Record<string, unknown>) => ({ success: true, userMessage: { ...restPosted.userMessage, ...message } });
    book.learnFromMessage(SESSION, 500, restPosted, 'c');
    book.learnFromMessage(SESSION, 201, { success: true }, 'c');
    book.learnFromMessage(SESSION, 201, posted({ author_id: 'someone' }), 'c');
    book.learnFromMessage(SESSION, 201, posted({ channel_id: undefined }), 'c');
    book.learnFromMessage('not-a-session', 201, restPosted, 'c');
    expect(book.size()).toBe(0);
    book.learnFromMessage(SESSION, 201, restPosted, 'c');
    expect(book.get(SESSION)).toMatchObject({ channelId: CHANNEL, userId: USER_ID, client: 'c' });
    // A session it made keeps what its creation said.
    const made = createSessionBook();
    made.learn({ agentId: AGENT_ID, userId: USER_ID }, 201, created, 'creator');
    made.learnFromMessage(SESSION, 201, posted({ author_id: MALLORY }), 'other');
    expect(made.get(SESSION)).toMatchObject({ userId: USER_ID, agentId: AGENT_ID, client: 'creator' });
  });

  it('keeps at most its bound, the least recently used going first, and forgets a session idle too long', () => {
    let clock = 0;
    const book = createSessionBook({ maxEntries: 2, idleMs: 1_000, now: () => clock });
    const session = (n: number) => `b3c2a1d0-0000-4000-8000-00000000000${n}`;
    for (const n of [1, 2]) book.learn({ agentId: AGENT_ID, userId: USER_ID }, 201, { ...created, sessionId: session(n) }, 'c');
    clock = 500;
    book.get(session(1));
    book.learn({ agentId: AGENT_ID, userId: USER_ID }, 201, { ...created, sessionId: session(3) }, 'c');
    expect([book.get(session(1)), book.get(session(2)), book.get(session(3))].map(Boolean)).toEqual([true, false, true]);
    clock = 1_600;
    expect(book.get(session(1))).toBeUndefined();
    expect(book.get(session(3))).toBeUndefined();
  });
});
